//! How the two halves of a run talk over pipes. nod32upd starts as
//! root, but what a network peer sends is fetched, verified and
//! compiled by a child running as `[global] user`; the child hands the
//! verified databases and the new module to the root parent, which only
//! writes them into place. Each message is a line `KIND LENGTH NAME`
//! and then LENGTH bytes. The parent reads what the child sends as it
//! would read any input: a kind, a name or a length it does not expect
//! ends the run with nothing installed.

use std::io::{BufRead, Read, Write};

/// The longest header line read.
const MAX_LINE: u64 = 256;

/// A message's header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// What it is (`db`, `module`, `part`, …).
    pub kind: String,
    /// How many bytes follow.
    pub len: u64,
    /// A file name, or `-`.
    pub name: String,
}

/// Why what came down the pipe is not a message: the parent then
/// installs nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandoverError {
    /// The pipe could not be read.
    #[error("reading: {cause}")]
    Read {
        /// What the system said (in the message, so not a `source()`
        /// that a chain printer would repeat).
        cause: std::io::Error,
    },
    /// A line that is not `KIND LENGTH NAME`, or names a path.
    #[error("not a header: {line:?}")]
    NotAHeader {
        /// The line as read (lossily decoded).
        line: String,
    },
    /// A body longer than the caller takes.
    #[error("{kind} {name}: {len} bytes, more than {max}")]
    TooLong {
        /// The message's kind.
        kind: String,
        /// The message's name.
        name: String,
        /// The length its header gives.
        len: u64,
        /// The most taken.
        max: u64,
    },
    /// The body could not be read.
    #[error("{kind} {name}: {cause}")]
    Body {
        /// The message's kind.
        kind: String,
        /// The message's name.
        name: String,
        /// What the system said.
        cause: std::io::Error,
    },
    /// The stream ended before the body did.
    #[error("{kind} {name}: cut short")]
    CutShort {
        /// The message's kind.
        kind: String,
        /// The message's name.
        name: String,
    },
}

/// Whether `s` can be a kind or a name: no spaces, no slashes, nothing
/// outside printable ASCII.
fn token_ok(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// Writes one message.
///
/// # Errors
/// The pipe is closed, or `kind` or `name` could not be read back.
pub fn write(
    w: &mut impl Write,
    kind: &str,
    name: &str,
    data: &[u8],
) -> std::io::Result<()> {
    if !token_ok(kind) || !token_ok(name) {
        return Err(std::io::Error::other(format!(
            "cannot hand over {kind:?} {name:?}"
        )));
    }
    writeln!(w, "{kind} {} {name}", data.len())?;
    w.write_all(data)
}

/// Reads the next message's header: `None` at the end of the stream.
/// The caller then reads exactly `len` bytes.
///
/// # Errors
/// A line that is not a header.
pub fn read_header(
    r: &mut impl BufRead,
) -> Result<Option<Header>, HandoverError> {
    let mut line = Vec::new();
    r.take(MAX_LINE)
        .read_until(b'\n', &mut line)
        .map_err(|cause| HandoverError::Read { cause })?;
    if line.is_empty() {
        return Ok(None);
    }
    let bad = || HandoverError::NotAHeader {
        line: String::from_utf8_lossy(&line).into_owned(),
    };
    let text = line
        .strip_suffix(b"\n")
        .and_then(|l| std::str::from_utf8(l).ok())
        .ok_or_else(bad)?;
    let f: Vec<&str> = text.split(' ').collect();
    let [kind, len, name] = f[..] else { return Err(bad()) };
    let len = len
        .parse::<u64>()
        .ok()
        .filter(|_| len.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(bad)?;
    if !token_ok(kind) || !token_ok(name) {
        return Err(bad());
    }
    Ok(Some(Header { kind: kind.into(), len, name: name.into() }))
}

/// Reads a message's body of at most `max` bytes into memory.
///
/// # Errors
/// It is longer than `max`, or the stream ends first.
pub fn read_body(
    r: &mut impl Read,
    h: &Header,
    max: u64,
) -> Result<Vec<u8>, HandoverError> {
    if h.len > max {
        return Err(HandoverError::TooLong {
            kind: h.kind.clone(),
            name: h.name.clone(),
            len: h.len,
            max,
        });
    }
    let mut data = Vec::new();
    r.take(h.len).read_to_end(&mut data).map_err(|cause| {
        HandoverError::Body {
            kind: h.kind.clone(),
            name: h.name.clone(),
            cause,
        }
    })?;
    if data.len() as u64 != h.len {
        return Err(HandoverError::CutShort {
            kind: h.kind.clone(),
            name: h.name.clone(),
        });
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_nothing_else_is_read() {
        let mut out = Vec::new();
        write(&mut out, "db", "daily.cvd", b"abc\n").unwrap();
        write(&mut out, "part", "-", b"daily 5 new").unwrap();
        let mut r = &out[..];
        let h = read_header(&mut r).unwrap().unwrap();
        assert_eq!(
            (h.kind.as_str(), h.len, h.name.as_str()),
            ("db", 4, "daily.cvd")
        );
        assert_eq!(read_body(&mut r, &h, 10).unwrap(), b"abc\n");
        let h = read_header(&mut r).unwrap().unwrap();
        let mut peek = r;
        assert_eq!(
            read_body(&mut peek, &h, 3).unwrap_err().to_string(),
            "part -: 11 bytes, more than 3"
        );
        assert_eq!(read_body(&mut r, &h, 100).unwrap(), b"daily 5 new");
        assert_eq!(read_header(&mut r).unwrap(), None);

        assert!(write(&mut Vec::new(), "db", "../x", b"").is_err());
        assert!(write(&mut Vec::new(), "db", "a b", b"").is_err());
        for bad in [
            &b"db 4 ../etc/passwd\n"[..],
            b"db 4 /etc/passwd\n",
            b"db -4 x\n",
            b"db +4 x\n",
            b"db 4\n",
            b"db 4 x y\n",
            b"db 4 x",
            b"db 99999999999999999999999 x\n",
        ] {
            assert!(read_header(&mut &bad[..]).is_err(), "{bad:?}");
        }
        assert_eq!(
            read_header(&mut &b"db 4\n"[..]).unwrap_err().to_string(),
            r#"not a header: "db 4\n""#
        );
        // Cut short.
        let mut r = &b"db 10 x\nabc"[..];
        let h = read_header(&mut r).unwrap().unwrap();
        assert_eq!(
            read_body(&mut r, &h, 100).unwrap_err().to_string(),
            "db x: cut short"
        );
        // A line longer than any header.
        let long = vec![b'a'; 1000];
        assert!(read_header(&mut &long[..]).is_err());
    }
}
