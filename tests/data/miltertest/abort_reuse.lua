-- One connection, several transactions: a message aborted half-way
-- (SMFIC_ABORT), then an infected one, then a clean one, each judged on
-- its own; then a client that drops the connection mid-body, after
-- which the milter still serves a new connection.
-- Globals from -D: sock, eicar64.
local function envelope(conn, subject)
  assert(mt.mailfrom(conn, "<sender@example.org>") == nil)
  assert(mt.rcptto(conn, "<rcpt@example.net>") == nil)
  assert(mt.header(conn, "From", "sender@example.org") == nil)
  assert(mt.header(conn, "Subject", subject) == nil)
  assert(mt.header(conn, "MIME-Version", "1.0") == nil)
  assert(mt.header(conn, "Content-Type", "multipart/mixed; boundary=\"b\"") == nil)
  if not mt.test_option(conn, SMFIP_NOEOH) then
    assert(mt.eoh(conn) == nil)
  end
end
local infected = "--b\r\nContent-Type: application/octet-stream; name=\"e.com\"\r\n" ..
  "Content-Transfer-Encoding: base64\r\n\r\n" .. eicar64 .. "\r\n--b--\r\n"
local clean = "--b\r\nContent-Type: text/plain\r\n\r\nnothing here\r\n--b--\r\n"

local conn = mt.connect(sock, 50, 0.1)
assert(conn, "cannot connect to " .. sock)
assert(mt.conninfo(conn, "client.example", "192.0.2.1") == nil)

-- Aborted half-way: the infected half must not leak into the next one.
envelope(conn, "aborted")
assert(mt.bodystring(conn, string.sub(infected, 1, 80)) == nil)
assert(mt.abort(conn) == nil)

envelope(conn, "infected")
assert(mt.bodystring(conn, infected) == nil)
assert(mt.eom(conn) == nil)
assert(mt.getreply(conn) == SMFIR_REPLYCODE, "infected: no reply code")
-- (this miltertest matches a reply only with all three of code,
-- enhanced code and text given)
assert(mt.eom_check(conn, MT_SMTPREPLY, "550", "5.7.1", "Virus found: Eicar-Test-Signature"),
  "infected: not rejected")
mt.echo("infected after abort: rejected")

envelope(conn, "clean")
assert(mt.bodystring(conn, clean) == nil)
assert(mt.eom(conn) == nil)
assert(mt.getreply(conn) == SMFIR_CONTINUE, "clean: not accepted")
assert(mt.eom_check(conn, MT_HDRINSERT, "X-NOD32Result"), "clean: not marked")
mt.echo("clean on the same connection: accepted, marked")
mt.disconnect(conn)

-- A client that vanishes mid-body.
local gone = mt.connect(sock, 50, 0.1)
assert(mt.conninfo(gone, "client.example", "192.0.2.1") == nil)
envelope(gone, "dropped")
assert(mt.bodystring(gone, string.sub(clean, 1, 20)) == nil)
mt.disconnect(gone, false)

local again = mt.connect(sock, 50, 0.1)
assert(again, "the milter is gone after a dropped client")
assert(mt.conninfo(again, "client.example", "192.0.2.1") == nil)
envelope(again, "after drop")
assert(mt.bodystring(again, clean) == nil)
assert(mt.eom(again) == nil)
assert(mt.getreply(again) == SMFIR_CONTINUE, "after drop: not accepted")
mt.echo("new connection after a dropped one: accepted")
mt.disconnect(again)
