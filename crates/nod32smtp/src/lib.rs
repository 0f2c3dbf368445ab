//! The SMTP wire format as nod32smtp reads it from both sides: bounded
//! command lines, (multi-line) replies, and the message after DATA with
//! its dot-stuffing undone. Kept apart from the proxy so that it can be
//! fuzzed.
#![forbid(unsafe_code)]

use std::io::{self, BufRead};

/// A reply: code and its lines' texts.
#[derive(Debug)]
pub struct Reply {
    /// The three-digit code.
    pub code: u16,
    /// The text of each line after the code.
    pub lines: Vec<String>,
}

impl Reply {
    /// A 2xx reply.
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// The reply in SMTP form.
    pub fn wire(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let n = self.lines.len().max(1);
        for i in 0..n {
            let text = self.lines.get(i).map_or("", String::as_str);
            let sep = if i + 1 < n { '-' } else { ' ' };
            out.extend_from_slice(
                format!("{}{sep}{text}\r\n", self.code).as_bytes(),
            );
        }
        out
    }
}

/// A one-line reply.
pub fn one(code: u16, text: &str) -> Reply {
    Reply { code, lines: vec![text.to_string()] }
}

/// Reads one line up to `max` bytes (CRLF or bare LF), without it; `None`
/// at end of stream; `Some(Err)` when it was longer (the rest of it is
/// read and dropped).
pub fn read_line(
    r: &mut impl BufRead,
    max: usize,
) -> io::Result<Option<Result<Vec<u8>, ()>>> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(if line.is_empty() && !too_long {
                None
            } else {
                Some(Ok(line))
            });
        }
        let (take, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if !too_long {
            line.extend_from_slice(&buf[..take]);
            if line.len() > max {
                too_long = true;
                line.clear();
            }
        }
        r.consume(take);
        if done {
            if too_long {
                return Ok(Some(Err(())));
            }
            if line.ends_with(b"\n") {
                line.pop();
            }
            if line.ends_with(b"\r") {
                line.pop();
            }
            return Ok(Some(Ok(line)));
        }
    }
}

/// Reads a (multi-line) reply.
pub fn read_reply(r: &mut impl BufRead) -> io::Result<Reply> {
    let mut lines = Vec::new();
    loop {
        let line = match read_line(r, 64 * 1024)? {
            Some(Ok(l)) => l,
            Some(Err(())) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "overlong reply",
                ));
            }
            None => return Err(io::ErrorKind::UnexpectedEof.into()),
        };
        let s = String::from_utf8_lossy(&line).into_owned();
        let code: u16 =
            s.get(..3).and_then(|c| c.parse().ok()).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad reply line: {s}"),
                )
            })?;
        let more = s.as_bytes().get(3) == Some(&b'-');
        lines.push(s.get(4..).unwrap_or("").to_string());
        if !more {
            return Ok(Reply { code, lines });
        }
    }
}

/// Reads the message after 354: up to the lone dot, unstuffed, lines
/// kept as they came. `Err(())` when it is larger than `max` (the rest
/// is read and dropped, so the session can go on).
pub fn read_message(
    r: &mut impl BufRead,
    max: u64,
) -> io::Result<Result<Vec<u8>, ()>> {
    let mut msg = Vec::new();
    let mut too_big = false;
    // Whether the next byte read begins a line.
    let mut line_start = true;
    // A line's first bytes when they could be the end marker but came
    // without their line end (a segment boundary): decided next read.
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let (take, complete) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let mut piece = std::mem::take(&mut pending);
        piece.extend_from_slice(&buf[..take]);
        r.consume(take);
        let mut from = 0;
        if line_start {
            if complete && matches!(&piece[..], b".\r\n" | b".\n") {
                return Ok(if too_big { Err(()) } else { Ok(msg) });
            }
            if !complete && matches!(&piece[..], b"." | b".\r") {
                pending = piece;
                continue;
            }
            if piece.first() == Some(&b'.') {
                from = 1;
            }
        }
        if !too_big {
            msg.extend_from_slice(&piece[from..]);
            if msg.len() as u64 > max {
                too_big = true;
                msg = Vec::new();
            }
        }
        line_start = complete;
    }
}

/// `FROM:<a@b> SIZE=1` → `a@b`.
pub fn angle(rest: &str) -> String {
    let rest = rest.trim_start();
    let rest = rest.split_once(':').map_or(rest, |(_, r)| r).trim_start();
    match rest.strip_prefix('<').and_then(|r| r.split_once('>')) {
        Some((a, _)) => a.to_string(),
        None => rest.split_whitespace().next().unwrap_or("").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufReader;

    /// Feeds `data` in pieces of `n` bytes, as TCP segments may.
    struct Pieces<'a> {
        data: &'a [u8],
        n: usize,
    }

    impl io::Read for Pieces<'_> {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            let k = self.n.min(b.len()).min(self.data.len());
            b[..k].copy_from_slice(&self.data[..k]);
            self.data = &self.data[k..];
            Ok(k)
        }
    }

    fn read_all(data: &[u8], n: usize, max: u64) -> Result<Vec<u8>, ()> {
        let mut r = BufReader::with_capacity(n.max(1), Pieces { data, n });
        read_message(&mut r, max).unwrap()
    }

    #[test]
    fn messages_are_unstuffed_whatever_the_segments() {
        let wire = b"Subject: x\r\n\r\n..leading dot\r\n.\r\nnot the end\r\nlast\r\n.\r\nQUIT\r\n";
        for n in [1, 2, 3, 5, 7, 64, 4096] {
            assert_eq!(
                read_all(wire, n, 1000).unwrap(),
                b"Subject: x\r\n\r\n.leading dot\r\n",
                "pieces of {n}"
            );
        }
        // Bare LF lines are taken as they are.
        assert_eq!(read_all(b"a\n..b\n.\n", 2, 100).unwrap(), b"a\n.b\n");
        // Too big: refused, and the stream is read to the end marker.
        let mut r = BufReader::with_capacity(
            4,
            Pieces { data: b"0123456789\r\n.\r\nNEXT\r\n", n: 3 },
        );
        assert_eq!(read_message(&mut r, 5).unwrap(), Err(()));
        assert_eq!(
            read_line(&mut r, 100).unwrap(),
            Some(Ok(b"NEXT".to_vec()))
        );
        // The client goes away mid-message.
        let mut r = BufReader::new(&b"half a message\r\n"[..]);
        assert!(read_message(&mut r, 100).is_err());
    }

    #[test]
    fn command_lines_are_bounded() {
        let mut r = BufReader::new(
            &b"MAIL FROM:<a@b>\r\nxxxxxxxxxxxxxxxx\r\nRSET\n"[..],
        );
        assert_eq!(
            read_line(&mut r, 100).unwrap(),
            Some(Ok(b"MAIL FROM:<a@b>".to_vec()))
        );
        assert_eq!(read_line(&mut r, 10).unwrap(), Some(Err(())));
        assert_eq!(read_line(&mut r, 10).unwrap(), Some(Ok(b"RSET".to_vec())));
        assert_eq!(read_line(&mut r, 10).unwrap(), None);
    }

    #[test]
    fn addresses_and_replies() {
        assert_eq!(angle(" FROM:<a@b> SIZE=10 BODY=8BITMIME"), "a@b");
        assert_eq!(angle(" TO:<> NOTIFY=NEVER"), "");
        assert_eq!(angle(" FROM: bare@x"), "bare@x");
        let r = read_reply(&mut BufReader::new(
            &b"250-one\r\n250-PIPELINING\r\n250 SIZE 10\r\n"[..],
        ))
        .unwrap();
        assert_eq!(r.code, 250);
        assert_eq!(r.lines, ["one", "PIPELINING", "SIZE 10"]);
        assert_eq!(r.wire(), b"250-one\r\n250-PIPELINING\r\n250 SIZE 10\r\n");
        assert!(read_reply(&mut BufReader::new(&b"hello\r\n"[..])).is_err());
    }
}
