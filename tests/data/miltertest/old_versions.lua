-- An MTA of each older milter protocol version (2, 3, 4, with only the
-- actions and protocol steps that version had) and version 6: the
-- milter must answer each in its own terms and still reject EICAR.
-- Globals from -D: sock, eicar64 (a base64 attachment body).
for _, v in ipairs({ {2, 0x0f, 0x7f}, {3, 0x1f, 0x17f}, {4, 0x3f, 0x3ff}, {6, 0x1ff, 0x1fffff} }) do
  local conn = mt.connect(sock, 50, 0.1)
  assert(conn, "cannot connect to " .. sock)
  assert(mt.negotiate(conn, v[1], v[2], v[3]) == nil, "negotiation, version " .. v[1])
  assert(mt.conninfo(conn, "client.example", "192.0.2.1") == nil)
  if not mt.test_option(conn, SMFIP_NOHELO) then
    assert(mt.helo(conn, "client.example") == nil)
  end
  assert(mt.mailfrom(conn, "<sender@example.org>") == nil)
  assert(mt.rcptto(conn, "<rcpt@example.net>") == nil)
  assert(mt.header(conn, "From", "sender@example.org") == nil)
  assert(mt.header(conn, "Subject", "version " .. v[1]) == nil)
  assert(mt.header(conn, "MIME-Version", "1.0") == nil)
  assert(mt.header(conn, "Content-Type", "multipart/mixed; boundary=\"b\"") == nil)
  if not mt.test_option(conn, SMFIP_NOEOH) then
    assert(mt.eoh(conn) == nil)
  end
  assert(mt.bodystring(conn, "--b\r\nContent-Type: application/octet-stream; name=\"e.com\"\r\n" ..
    "Content-Transfer-Encoding: base64\r\n\r\n" .. eicar64 .. "\r\n--b--\r\n") == nil)
  assert(mt.eom(conn) == nil)
  assert(mt.getreply(conn) == SMFIR_REPLYCODE, "version " .. v[1] .. ": no reply code")
  assert(mt.eom_check(conn, MT_SMTPREPLY, "550", "5.7.1", "Virus found: Eicar-Test-Signature"),
    "version " .. v[1] .. ": wrong reply")
  mt.echo("version " .. v[1] .. ": 550 5.7.1 Virus found: Eicar-Test-Signature")
  mt.disconnect(conn)
end
