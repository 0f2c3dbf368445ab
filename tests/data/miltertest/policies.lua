-- With a user_config, a message keeps to one policy: a recipient under
-- another policy than the message's first is answered 452 4.5.3 at RCPT
-- (the MTA refuses it for now; its client sends it in a transaction of
-- its own), one under the same policy is taken. The white-listed
-- recipient (scanning off) takes the virus; the protected one, in its
-- own transaction, has it rejected.
-- Globals from -D: sock, eicar64.
local infected = "--b\r\nContent-Type: application/octet-stream; name=\"e.com\"\r\n" ..
  "Content-Transfer-Encoding: base64\r\n\r\n" .. eicar64 .. "\r\n--b--\r\n"
local function message(conn, subject)
  assert(mt.header(conn, "From", "sender@example.org") == nil)
  assert(mt.header(conn, "Subject", subject) == nil)
  assert(mt.header(conn, "MIME-Version", "1.0") == nil)
  assert(mt.header(conn, "Content-Type", "multipart/mixed; boundary=\"b\"") == nil)
  if not mt.test_option(conn, SMFIP_NOEOH) then
    assert(mt.eoh(conn) == nil)
  end
  assert(mt.bodystring(conn, infected) == nil)
  assert(mt.eom(conn) == nil)
end

local conn = mt.connect(sock, 50, 0.1)
assert(conn, "cannot connect to " .. sock)
assert(mt.conninfo(conn, "client.example", "192.0.2.1") == nil)
assert(mt.mailfrom(conn, "<sender@example.org>") == nil)
assert(mt.rcptto(conn, "<vip@example.net>") == nil)
assert(mt.getreply(conn) == SMFIR_CONTINUE, "first recipient not taken")
assert(mt.rcptto(conn, "<user@example.net>") == nil)
assert(mt.getreply(conn) == SMFIR_REPLYCODE, "other policy: taken")
mt.echo("other policy: refused for now")
assert(mt.rcptto(conn, "<VIP@example.net>") == nil)
assert(mt.getreply(conn) == SMFIR_CONTINUE, "same policy: refused")
mt.echo("same policy: taken")
message(conn, "white-listed")
local r = mt.getreply(conn)
assert(r == SMFIR_CONTINUE or r == SMFIR_ACCEPT, "white-listed: not accepted")
mt.echo("white-listed: accepted")

assert(mt.mailfrom(conn, "<sender@example.org>") == nil)
assert(mt.rcptto(conn, "<user@example.net>") == nil)
assert(mt.getreply(conn) == SMFIR_CONTINUE, "alone: not taken")
message(conn, "protected")
assert(mt.getreply(conn) == SMFIR_REPLYCODE, "protected: no reply code")
assert(mt.eom_check(conn, MT_SMTPREPLY, "550", "5.7.1", "Virus found: Eicar-Test-Signature"),
  "protected: not rejected")
mt.echo("protected alone: rejected")
mt.disconnect(conn)
