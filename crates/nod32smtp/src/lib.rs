//! nod32smtp: a scanning SMTP proxy. An SMTP client (Postfix's
//! content_filter smtp client, an smtpd_proxy_filter smtpd, or a user's
//! mail program) talks to it as to an MTA; every command but DATA and
//! BDAT goes to the next hop, pipelined when both sides pipeline, and
//! its reply comes back, so each recipient gets the next hop's own
//! answer. The message itself is read whole (spooled to a temp file
//! when big), scanned, and only then sent on: the client's 250 is the
//! next hop's 250 for the message, or nod32smtp's refusal (550 5.7.1
//! with the virus's name), or, when anything goes wrong, 4xx so the
//! client keeps the message and tries again.
//!
//! This file holds the SMTP wire format as nod32smtp reads it from both
//! sides (bounded command lines, (multi-line) replies, and the message
//! after DATA with its dot-stuffing undone), kept apart so that it can be
//! fuzzed; `session` is one client's session (the sans-I/O
//! `Conversation` and the driver that serves it), `service` what runs
//! the sessions.
#![forbid(unsafe_code)]

mod cli;
pub mod net;
mod service;
pub mod session;

pub use nod32_spool::Spool;
pub use service::run;

use std::io::{self, BufRead};

/// A reply: code and its lines' texts.
#[derive(Clone, Debug, PartialEq, Eq)]
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

/// Reads the message after 354 into `spool`: up to the lone dot,
/// unstuffed, lines kept as they came. `Ok(Err(()))` when it is larger
/// than `max` (the rest is read and dropped, so the session can go on).
///
/// # Errors
/// The stream ended or failed, or the spool could not be written.
pub fn read_message(
    r: &mut impl BufRead,
    max: u64,
    spool: &mut Spool,
) -> io::Result<Result<(), ()>> {
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
        let (take, complete) = match memchr_nl(buf) {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let mut piece = std::mem::take(&mut pending);
        piece.extend_from_slice(&buf[..take]);
        r.consume(take);
        let mut from = 0;
        if line_start {
            if complete && matches!(&piece[..], b".\r\n" | b".\n") {
                return Ok(if too_big { Err(()) } else { Ok(()) });
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
            if spool.len() + (piece.len() - from) as u64 > max {
                too_big = true;
                spool.clear();
            } else {
                spool.push(&piece[from..])?;
            }
        }
        line_start = complete;
    }
}

fn memchr_nl(b: &[u8]) -> Option<usize> {
    b.iter().position(|&c| c == b'\n')
}

/// Reads one BDAT chunk of `size` bytes into `spool`, or reads and drops
/// it when `keep` is false (RFC 3030: a refused chunk is still read).
///
/// # Errors
/// The stream ended before the chunk did, or the spool failed.
pub fn read_chunk(
    r: &mut impl BufRead,
    mut size: u64,
    spool: &mut Spool,
    keep: bool,
) -> io::Result<()> {
    while size > 0 {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let n = buf.len().min(usize::try_from(size).unwrap_or(usize::MAX));
        if keep {
            spool.push(&buf[..n])?;
        }
        r.consume(n);
        size -= n as u64;
    }
    Ok(())
}

/// Puts a message in SMTP form for DATA, piece by piece: every line
/// ends in CRLF (a bare LF, and a bare CR, end a line), a line starting
/// with a dot gets another. So no next hop can read a line end, or an
/// end of data, where nod32smtp read none. The caller appends the end
/// marker after [`Stuffer::finish`].
#[derive(Debug, Default)]
pub struct Stuffer {
    /// Inside a line (the last byte handed in was not a line end).
    mid: bool,
    /// The last byte handed in was a CR: a line end, with or without
    /// the LF that may follow.
    cr: bool,
    /// Add dots (DATA) or not (BDAT).
    dots: bool,
}

impl Stuffer {
    /// A stuffer for DATA (`dots`) or BDAT.
    pub fn new(dots: bool) -> Stuffer {
        Stuffer { dots, ..Stuffer::default() }
    }

    fn text(&mut self, t: &[u8], out: &mut Vec<u8>) {
        if t.is_empty() {
            return;
        }
        if !self.mid && self.dots && t[0] == b'.' {
            out.push(b'.');
        }
        out.extend_from_slice(t);
        self.mid = true;
    }

    /// Appends `piece`, in wire form, to `out`.
    pub fn push(&mut self, piece: &[u8], out: &mut Vec<u8>) {
        let mut from = 0;
        for i in memchr::memchr2_iter(b'\r', b'\n', piece) {
            if i > from {
                self.cr = false;
                self.text(&piece[from..i], out);
            }
            from = i + 1;
            if piece[i] == b'\n' && self.cr {
                // The LF of a CR LF, written with its CR.
                self.cr = false;
                continue;
            }
            out.extend_from_slice(b"\r\n");
            self.mid = false;
            self.cr = piece[i] == b'\r';
        }
        if from < piece.len() {
            self.cr = false;
            self.text(&piece[from..], out);
        }
    }

    /// Ends the last line when the message did not.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.mid {
            out.extend_from_slice(b"\r\n");
        }
        self.mid = false;
        self.cr = false;
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
        // A tiny memory limit, so that the temp file is used too.
        let mut spool = Spool::new(n as u64);
        read_message(&mut r, max, &mut spool)
            .unwrap()
            .map(|()| spool.read_all().unwrap())
    }

    fn stuffed(msg: &[u8], n: usize, dots: bool) -> Vec<u8> {
        let mut s = Stuffer::new(dots);
        let mut out = Vec::new();
        for p in msg.chunks(n) {
            s.push(p, &mut out);
        }
        s.finish(&mut out);
        out
    }

    #[test]
    fn messages_leave_in_crlf_lines_with_dots_doubled() {
        for n in [1, 2, 3, 5, 64] {
            assert_eq!(
                stuffed(b"a\n.b\r\nc\rd\r\n..e", n, true),
                b"a\r\n..b\r\nc\r\nd\r\n...e\r\n",
                "pieces of {n}"
            );
            assert_eq!(
                stuffed(b".x\r\ny\r", n, false),
                b".x\r\ny\r\n",
                "pieces of {n}"
            );
            // What read_message gives back, stuffed again, is the wire.
            let wire = b"Subject: x\r\n\r\n..lead\r\n.\r\n";
            let m = read_all(wire, n, 1000).unwrap();
            let mut back = stuffed(&m, n, true);
            back.extend_from_slice(b".\r\n");
            assert_eq!(back, wire);
        }
        assert_eq!(stuffed(b"", 1, true), b"");
    }

    #[test]
    fn bare_line_ends_are_seen_and_never_sent() {
        for (msg, bare) in [
            (&b"a\r\nb\r\n"[..], false),
            (b"a\r\n\r\n", false),
            (b"a\rb\r\n", true),
            (b"a\nb", true),
            (b"\n", true),
            (b"a\r", true),
            (b"a\r\r\n", true),
            (b"first\r.\r\nMAIL FROM:<x@y>\r\n", true),
        ] {
            for n in [1, 2, 3, 64] {
                let mut sp = Spool::new(2).watching_line_ends();
                for p in msg.chunks(n) {
                    sp.push(p).unwrap();
                }
                assert_eq!(sp.has_bare_line_ends(), bare, "{msg:?} in {n}");
                sp.clear();
                assert!(!sp.has_bare_line_ends());
                // Stuffed, whatever it held, every CR and LF is a CR LF
                // and a dot after any line end is doubled.
                let wire = stuffed(msg, n, true);
                let mut w = Spool::new(1 << 20).watching_line_ends();
                w.push(&wire).unwrap();
                assert!(!w.has_bare_line_ends(), "{wire:?}");
                assert!(!wire.windows(3).any(|x| x == b"\n.\r"), "{wire:?}");
            }
        }
        assert_eq!(
            stuffed(b"first\r.\r\nx", 1, true),
            b"first\r\n..\r\nx\r\n"
        );
    }

    #[test]
    fn chunks_are_read_exactly_or_dropped() {
        let mut r = BufReader::with_capacity(3, &b"0123456789RSET\r\n"[..]);
        let mut spool = Spool::new(4);
        read_chunk(&mut r, 6, &mut spool, true).unwrap();
        read_chunk(&mut r, 4, &mut spool, false).unwrap();
        assert_eq!(spool.read_all().unwrap(), b"012345");
        let mut back = Vec::new();
        spool.reader().unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, b"012345");
        assert_eq!(
            read_line(&mut r, 100).unwrap(),
            Some(Ok(b"RSET".to_vec()))
        );
        assert!(read_chunk(&mut r, 1, &mut spool, true).is_err());
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
        let mut spool = Spool::new(100);
        assert_eq!(read_message(&mut r, 5, &mut spool).unwrap(), Err(()));
        assert!(spool.is_empty());
        assert_eq!(
            read_line(&mut r, 100).unwrap(),
            Some(Ok(b"NEXT".to_vec()))
        );
        // The client goes away mid-message.
        let mut r = BufReader::new(&b"half a message\r\n"[..]);
        assert!(read_message(&mut r, 100, &mut Spool::new(100)).is_err());
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
