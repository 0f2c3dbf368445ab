//! Milter packets: `u32 length` (big-endian, counting the command byte),
//! one command byte, then data. Parsing borrows from the packet buffer;
//! nothing is allocated from a length before it is checked.

use std::io::{self, Read, Write};

/// The largest packet accepted. Postfix sends body chunks of at most
/// 65,535 bytes and never asks for bigger (MDS_256K/1M are not offered);
/// 1 MiB plus a margin leaves room for any MTA that does.
pub const MAX_PACKET: usize = (1 << 20) + 4096;

/// The largest body chunk we send (`b` packets).
pub const CHUNK: usize = 65_535;

/// A protocol violation: the connection it came on is closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// The length field is 0 (no command byte) or too large.
    #[error("packet length {0} out of range")]
    Length(u32),
    /// The command's data does not have the layout its command needs.
    #[error("malformed {0:?} packet")]
    Layout(char),
    /// An unknown command byte.
    #[error("unknown command {0:#04x}")]
    Unknown(u8),
}

/// A command from the MTA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// `O`: version, allowed actions, offered protocol bits.
    OptNeg {
        /// The MTA's protocol version.
        version: u32,
        /// SMFIF_* the MTA lets us use.
        actions: u32,
        /// SMFIP_* the MTA understands.
        protocol: u32,
    },
    /// `D`: macros for the stage named by the command byte.
    Macro {
        /// The command the macros belong to.
        stage: u8,
        /// Name and value pairs.
        pairs: Vec<(&'a [u8], &'a [u8])>,
    },
    /// `C`: the SMTP client.
    Connect {
        /// Its host name (`[ip]` when unknown).
        host: &'a [u8],
        /// `U` unknown, `L` unix, `4`, `6`.
        family: u8,
        /// TCP port (0 when none).
        port: u16,
        /// Its address (empty when none).
        addr: &'a [u8],
    },
    /// `H`: HELO/EHLO argument.
    Helo(&'a [u8]),
    /// `M`: `<sender>` and ESMTP parameters.
    Mail(Vec<&'a [u8]>),
    /// `R`: `<recipient>` and ESMTP parameters.
    Rcpt(Vec<&'a [u8]>),
    /// `T`: DATA.
    Data,
    /// `L`: one header field.
    Header {
        /// Field name.
        name: &'a [u8],
        /// Field value; folded lines joined by LF.
        value: &'a [u8],
    },
    /// `N`: end of headers.
    Eoh,
    /// `B`: a body chunk (CRLF lines, no dot-stuffing).
    Body(&'a [u8]),
    /// `E`: end of message.
    Eom,
    /// `A`: abort the message.
    Abort,
    /// `Q`: quit.
    Quit,
    /// `K`: quit, a new connection follows on this socket.
    QuitNc,
    /// `U`: an unknown SMTP command.
    Unknown(&'a [u8]),
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Splits NUL-terminated strings; a missing final NUL ends the last one
/// at the end of the packet (libmilter is as lenient).
fn argv(d: &[u8]) -> Vec<&[u8]> {
    let d = d.strip_suffix(b"\0").unwrap_or(d);
    if d.is_empty() {
        return Vec::new();
    }
    d.split(|&b| b == 0).collect()
}

/// One NUL-terminated string at the start of `d`, and the rest.
fn cstr(d: &[u8]) -> Option<(&[u8], &[u8])> {
    let n = memchr_nul(d)?;
    Some((&d[..n], &d[n + 1..]))
}

fn memchr_nul(d: &[u8]) -> Option<usize> {
    d.iter().position(|&b| b == 0)
}

/// Parses one packet's command byte and data.
///
/// # Errors
/// A layout the command cannot have, or an unknown command.
pub fn parse(code: u8, d: &[u8]) -> Result<Command<'_>, Malformed> {
    let bad = || Malformed::Layout(code as char);
    Ok(match code {
        b'O' => Command::OptNeg {
            version: u32_at(d, 0).ok_or_else(bad)?,
            actions: u32_at(d, 4).ok_or_else(bad)?,
            protocol: u32_at(d, 8).ok_or_else(bad)?,
        },
        b'D' => {
            let (&stage, rest) = d.split_first().ok_or_else(bad)?;
            let v = argv(rest);
            let pairs = v
                .chunks(2)
                .map(|c| (c[0], *c.get(1).unwrap_or(&&b""[..])))
                .collect();
            Command::Macro { stage, pairs }
        }
        b'C' => {
            let (host, rest) = cstr(d).ok_or_else(bad)?;
            let (&family, rest) = rest.split_first().ok_or_else(bad)?;
            if family == b'U' {
                Command::Connect { host, family, port: 0, addr: b"" }
            } else {
                let p = rest.get(..2).ok_or_else(bad)?;
                let port = u16::from_be_bytes([p[0], p[1]]);
                let addr = &rest[2..];
                let addr = addr.strip_suffix(b"\0").unwrap_or(addr);
                Command::Connect { host, family, port, addr }
            }
        }
        b'H' => Command::Helo(cstr(d).map_or(d, |(s, _)| s)),
        b'M' => Command::Mail(argv(d)),
        b'R' => Command::Rcpt(argv(d)),
        b'T' => Command::Data,
        b'L' => {
            let (name, rest) = cstr(d).ok_or_else(bad)?;
            let value = rest.strip_suffix(b"\0").unwrap_or(rest);
            Command::Header { name, value }
        }
        b'N' => Command::Eoh,
        b'B' => Command::Body(d),
        b'E' => Command::Eom,
        b'A' => Command::Abort,
        b'Q' => Command::Quit,
        b'K' => Command::QuitNc,
        b'U' => Command::Unknown(cstr(d).map_or(d, |(s, _)| s)),
        c => return Err(Malformed::Unknown(c)),
    })
}

/// Reads one packet into `buf` (replacing its contents with the data)
/// and returns its command byte; `None` at a clean end of stream.
///
/// # Errors
/// I/O errors, and [`Malformed::Length`] as `InvalidData`.
pub fn read_packet(
    r: &mut impl Read,
    buf: &mut Vec<u8>,
) -> io::Result<Option<u8>> {
    let mut len = [0u8; 4];
    let mut got = 0;
    while got < 4 {
        match r.read(&mut len[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let n = u32::from_be_bytes(len);
    if n == 0 || n as usize > MAX_PACKET {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            Malformed::Length(n),
        ));
    }
    let mut code = [0u8; 1];
    r.read_exact(&mut code)?;
    buf.clear();
    let data = n as usize - 1;
    buf.reserve(data);
    r.take(data as u64).read_to_end(buf)?;
    if buf.len() != data {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(Some(code[0]))
}

/// A response to the MTA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `O`: our version, actions, protocol bits and macro lists.
    OptNeg {
        /// Protocol version.
        version: u32,
        /// SMFIF_* we use.
        actions: u32,
        /// SMFIP_* we want.
        protocol: u32,
        /// (stage index, space-separated macro names).
        macros: Vec<(u32, String)>,
    },
    /// `c`
    Continue,
    /// `a`
    Accept,
    /// `r`
    Reject,
    /// `t`
    Tempfail,
    /// `d`
    Discard,
    /// `p`
    Progress,
    /// `y` "NNN x.y.z text"
    ReplyCode(String),
    /// `h` append a header.
    AddHeader(String, String),
    /// `i` insert a header at an index (0 = first).
    InsHeader(u32, String, String),
    /// `m` change the index-th (1-based) occurrence; empty value deletes.
    ChgHeader(u32, String, String),
    /// `b` one chunk of the new body.
    ReplBody(Vec<u8>),
    /// `q` put the message on hold.
    Quarantine(String),
}

impl Response {
    /// The response's command byte.
    pub fn code(&self) -> u8 {
        match self {
            Response::OptNeg { .. } => b'O',
            Response::Continue => b'c',
            Response::Accept => b'a',
            Response::Reject => b'r',
            Response::Tempfail => b't',
            Response::Discard => b'd',
            Response::Progress => b'p',
            Response::ReplyCode(_) => b'y',
            Response::AddHeader(..) => b'h',
            Response::InsHeader(..) => b'i',
            Response::ChgHeader(..) => b'm',
            Response::ReplBody(_) => b'b',
            Response::Quarantine(_) => b'q',
        }
    }

    /// Appends the packet to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0, 0, 0, 0, self.code()]);
        let cstr = |out: &mut Vec<u8>, s: &str| {
            // A NUL inside would end the string early on the other side.
            out.extend(s.bytes().filter(|&b| b != 0));
            out.push(0);
        };
        match self {
            Response::OptNeg { version, actions, protocol, macros } => {
                for v in [version, actions, protocol] {
                    out.extend_from_slice(&v.to_be_bytes());
                }
                for (stage, names) in macros {
                    out.extend_from_slice(&stage.to_be_bytes());
                    cstr(out, names);
                }
            }
            Response::ReplyCode(s) | Response::Quarantine(s) => cstr(out, s),
            Response::AddHeader(n, v) => {
                cstr(out, n);
                cstr(out, v);
            }
            Response::InsHeader(i, n, v) | Response::ChgHeader(i, n, v) => {
                out.extend_from_slice(&i.to_be_bytes());
                cstr(out, n);
                cstr(out, v);
            }
            Response::ReplBody(b) => out.extend_from_slice(b),
            _ => {}
        }
        let len = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    }
}

/// Writes responses as one write (Postfix wants REPLBODY packets back to
/// back, and one write is one segment on TCP).
///
/// # Errors
/// I/O errors.
pub fn write_all(w: &mut impl Write, rs: &[Response]) -> io::Result<()> {
    let mut out = Vec::new();
    for r in rs {
        r.encode(&mut out);
    }
    w.write_all(&out)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(code: u8, data: &[u8]) -> Vec<u8> {
        let mut v = ((data.len() + 1) as u32).to_be_bytes().to_vec();
        v.push(code);
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn commands_parse_as_postfix_sends_them() {
        let mut d = 6u32.to_be_bytes().to_vec();
        d.extend_from_slice(&0x1ffu32.to_be_bytes());
        d.extend_from_slice(&0x1fffffu32.to_be_bytes());
        assert_eq!(
            parse(b'O', &d).unwrap(),
            Command::OptNeg { version: 6, actions: 0x1ff, protocol: 0x1fffff }
        );
        assert_eq!(
            parse(b'D', b"Mi\0ABC123\0{auth_authen}\0bob\0").unwrap(),
            Command::Macro {
                stage: b'M',
                pairs: vec![
                    (&b"i"[..], &b"ABC123"[..]),
                    (b"{auth_authen}", b"bob")
                ]
            }
        );
        assert_eq!(
            parse(b'C', b"[127.0.0.1]\x004\x30\x39127.0.0.1\0").unwrap(),
            Command::Connect {
                host: b"[127.0.0.1]",
                family: b'4',
                port: 12345,
                addr: b"127.0.0.1"
            }
        );
        assert_eq!(
            parse(b'C', b"localhost\0U").unwrap(),
            Command::Connect {
                host: b"localhost",
                family: b'U',
                port: 0,
                addr: b""
            }
        );
        assert_eq!(
            parse(b'M', b"<a@b>\0SIZE=10\0BODY=8BITMIME\0").unwrap(),
            Command::Mail(vec![&b"<a@b>"[..], b"SIZE=10", b"BODY=8BITMIME"])
        );
        assert_eq!(
            parse(b'L', b"Subject\0 hi\n there\0").unwrap(),
            Command::Header { name: b"Subject", value: b" hi\n there" }
        );
        assert_eq!(parse(b'B', b"a\r\nb").unwrap(), Command::Body(b"a\r\nb"));
        assert_eq!(parse(b'E', b"").unwrap(), Command::Eom);
        assert_eq!(parse(b'K', b"").unwrap(), Command::QuitNc);
    }

    #[test]
    fn malformed_packets_are_errors_not_panics() {
        assert_eq!(parse(b'O', b"\0\0\0\x06"), Err(Malformed::Layout('O')));
        assert_eq!(parse(b'C', b"nohost"), Err(Malformed::Layout('C')));
        assert_eq!(parse(b'C', b"h\x004\x01"), Err(Malformed::Layout('C')));
        assert_eq!(parse(b'D', b""), Err(Malformed::Layout('D')));
        assert_eq!(parse(b'L', b"no-nul"), Err(Malformed::Layout('L')));
        assert_eq!(parse(b'z', b""), Err(Malformed::Unknown(b'z')));
        // An odd macro list: the last name has no value.
        assert_eq!(
            parse(b'D', b"Ci").unwrap(),
            Command::Macro { stage: b'C', pairs: vec![(&b"i"[..], &b""[..])] }
        );
    }

    #[test]
    fn packets_are_read_whole_and_lengths_checked() {
        let mut stream = packet(b'B', b"hello");
        stream.extend(packet(b'E', b""));
        let mut r = &stream[..];
        let mut buf = Vec::new();
        assert_eq!(read_packet(&mut r, &mut buf).unwrap(), Some(b'B'));
        assert_eq!(buf, b"hello");
        assert_eq!(read_packet(&mut r, &mut buf).unwrap(), Some(b'E'));
        assert!(buf.is_empty());
        assert_eq!(read_packet(&mut r, &mut buf).unwrap(), None);
        // Zero length, too long, truncated.
        for bad in [
            vec![0, 0, 0, 0],
            ((MAX_PACKET + 1) as u32).to_be_bytes().to_vec(),
            vec![0, 0, 0, 9, b'B', 1],
            vec![0, 0],
        ] {
            assert!(read_packet(&mut &bad[..], &mut buf).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn responses_encode_with_their_lengths() {
        let mut out = Vec::new();
        Response::Continue.encode(&mut out);
        assert_eq!(out, [0, 0, 0, 1, b'c']);
        out.clear();
        Response::ReplyCode("550 5.7.1 Virus found: X".into())
            .encode(&mut out);
        assert_eq!(out[..5], [0, 0, 0, 26, b'y']);
        assert_eq!(&out[5..], b"550 5.7.1 Virus found: X\0");
        out.clear();
        Response::ChgHeader(1, "Subject".into(), "[virus] hi".into())
            .encode(&mut out);
        assert_eq!(&out[4..], b"m\0\0\0\x01Subject\0[virus] hi\0");
        out.clear();
        Response::OptNeg {
            version: 6,
            actions: 0x33,
            protocol: 0x42,
            macros: vec![(2, "i {auth_authen}".into())],
        }
        .encode(&mut out);
        assert_eq!(
            &out[4..],
            b"O\0\0\0\x06\0\0\0\x33\0\0\0\x42\0\0\0\x02i {auth_authen}\0"
        );
        assert_eq!(
            u32::from_be_bytes([out[0], out[1], out[2], out[3]]) as usize,
            out.len() - 4
        );
    }
}
