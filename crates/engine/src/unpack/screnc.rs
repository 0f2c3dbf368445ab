//! Scripts encoded by Microsoft's Script Encoder (`.jse`, `.vbe`, and
//! `#@~^` blocks in pages): a substitution that cycles through three
//! tables, undone here so that the script is scanned as the interpreter
//! runs it, as ClamAV does (CL_TYPE_SCRENC: the decoded script, wrapped
//! in `<script>`, is scanned as a page).
//!
//! The block is `#@~^`, six base64 characters giving the encoded length
//! and two more, the encoded characters (`@` escapes `<`, `>`, `@`, CR and
//! LF), a checksum and `^#~@`. The tables come from Didier Stevens'
//! public-domain decoder; how far a damaged block is read, and what of
//! the input follows the decoded script, are ClamAV's: the input is read
//! in the chunks its HTML reader takes (NUL bytes dropped), and the rest
//! of the chunk the block ends in follows it.

use super::{Sink, Unpacked};

/// For each encoded byte from 0x20 to 0x7f, what it stands for under each
/// of the three tables (`<`, `>` and `@` are never encoded).
const TABLES: [&[u8; 96]; 3] = [
    b".GzVBj/&IA42[vrC89pEhqO\tbD#u<~>^@wJa]\"KoN;LPg*}tT+-,0nkf5%!dMRc?{x)(sY3\x7fmUS|:_eFX1ilZH'\\=$y7`Q 6",
    b"-uR`q^I\\b})6 |z\x7fkc3+hQfv1dTC<:>~@E,*t'7DyY/o&rj9{?8wgSG4x]0#Z[lHUpi.L!$NP\tVs5aKX;W\"mM%(FJ2A=_OBe",
    b"20!)[83=X:5e9\\VsfNEkbYx^}Jmq<`>S@B'Hru17MR\"TjGd- \x7f.L]~loytC&v%$+(#A4\t*D?w;UiacPgQIOFh|6pnz/_KZ,W",
];

/// What a tab stands for under each table.
const TAB: [u8; 3] = [0x57, 0x6e, 0x7b];

/// Which table decodes the n-th character (mod 64).
const ORDER: [u8; 64] = [
    0, 1, 2, 0, 1, 2, 1, 2, 2, 1, 2, 1, 0, 2, 1, 2, 0, 2, 1, 2, 0, 0, 1, 2, 2,
    1, 0, 2, 1, 2, 2, 1, 0, 0, 2, 1, 2, 1, 2, 0, 2, 0, 0, 1, 2, 0, 2, 1, 0, 2,
    1, 2, 0, 0, 1, 2, 2, 0, 0, 1, 2, 0, 2, 1,
];

/// The most ClamAV's HTML reader takes at once (one byte short of its
/// 8 KiB buffer).
const CHUNK: usize = 8191;

pub(crate) fn screnc<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    if let Some(script) = decode_file(data) {
        out.push("screnc.html".to_string(), script);
    }
    out
}

/// The input in the reader's chunks: NUL bytes dropped, each chunk at
/// most [`CHUNK`] bytes, cut back to just after its last white space
/// when it would end inside a word.
fn chunks(data: &[u8]) -> Vec<Vec<u8>> {
    let clean: Vec<u8> = data.iter().copied().filter(|&b| b != 0).collect();
    let mut out = Vec::new();
    let mut off = 0;
    while off < clean.len() {
        let mut len = (clean.len() - off).min(CHUNK);
        if off + len < clean.len() && !clean[off + len].is_ascii_whitespace() {
            let back = clean[off..off + len]
                .iter()
                .rposition(|b| b.is_ascii_whitespace())
                .map_or(0, |p| p + 1);
            if back > 1 {
                len = back;
            }
        }
        out.push(clean[off..off + len].to_vec());
        off += len;
    }
    out
}

fn base64_value(c: u8) -> i64 {
    match c {
        b'A'..=b'Z' => i64::from(c - b'A'),
        b'a'..=b'z' => i64::from(c - b'a') + 26,
        b'0'..=b'9' => i64::from(c - b'0') + 52,
        b'+' => 62,
        b'/' => 63,
        _ => -1,
    }
}

/// The length field: six base64 characters holding a little-endian
/// 32-bit number, read as ClamAV reads them (an invalid character counts
/// as -1 where its bits are shifted, as 0 where they stand alone).
fn length(t: &[u8; 6]) -> u32 {
    let v = t.map(base64_value);
    let nonneg = |x: i64| x.max(0);
    let n = (nonneg(v[0]) << 2)
        + (v[1] >> 4)
        + ((v[1] & 0x0f) << 12)
        + (nonneg(v[2] >> 2) << 8)
        + ((v[2] & 3) << 22)
        + (nonneg(v[3]) << 16)
        + ((nonneg(v[4]) << 2) << 24)
        + (nonneg(v[5] >> 4) << 24);
    n as u32
}

/// Decoding state: characters left, the table position.
struct State {
    left: u32,
    pos: usize,
}

impl State {
    /// Decodes from the start of `chunk` while characters are left;
    /// returns the decoded bytes and how much of `chunk` was used.
    fn decode(&mut self, chunk: &[u8]) -> (Vec<u8>, usize) {
        let mut out = Vec::with_capacity(chunk.len());
        let mut i = 0;
        while self.left > 0 && i < chunk.len() {
            let c = chunk[i];
            if c == b'\n' || c == b'\r' {
                i += 1;
                continue;
            }
            if c < 0x80 {
                let table = usize::from(ORDER[self.pos]);
                let mut v = match c {
                    b'@' => None,
                    b'\t' => Some(TAB[table]),
                    0x20.. => Some(TABLES[table][usize::from(c - 0x20)]),
                    _ => Some(c),
                };
                if v.is_none() {
                    // An escape: the byte after `@` says what it stands
                    // for, and costs a character of its own.
                    i += 1;
                    self.left = self.left.saturating_sub(1);
                    v = Some(match chunk.get(i) {
                        Some(b'!') => b'<',
                        Some(b'#') => b'\r',
                        Some(b'$') => b'@',
                        Some(b'&') => b'\n',
                        Some(b'*') => b'>',
                        // Cut at the chunk's end: ClamAV keeps its marker
                        // byte.
                        None => {
                            i -= 1;
                            0xff
                        }
                        // Unknown: the marker byte, as ClamAV leaves it.
                        Some(_) => 0xff,
                    });
                }
                out.extend(v);
                self.pos = (self.pos + 1) % 64;
            } else {
                // A double-byte character is copied whole.
                out.push(c);
                match chunk.get(i + 1) {
                    Some(&d) => {
                        out.push(d);
                        i += 1;
                    }
                    None => {
                        i += 1;
                        break;
                    }
                }
            }
            i += 1;
            self.left = self.left.saturating_sub(1);
        }
        (out, i.min(chunk.len()))
    }
}

/// ClamAV's decoding of a file holding an encoded script: the chunk with
/// the first `#@~^` and those after it, decoded, between `<script>` and
/// `</script>`; `None` when there is no block.
fn decode_file(data: &[u8]) -> Option<Vec<u8>> {
    let chunks = chunks(data);
    let (first, at) = chunks.iter().enumerate().find_map(|(n, c)| {
        memchr::memmem::find(c, b"#@~^").map(|p| (n, p + 4))
    })?;
    let mut rest = chunks[first..].iter();
    let mut chunk: &[u8] = rest.next()?;
    let mut pos = at;
    // The eight characters of the length field, across chunks.
    let mut field = [0u8; 6];
    let mut count = 0;
    while count < 8 {
        if pos >= chunk.len() {
            chunk = rest.next()?;
            pos = 0;
        }
        if count < 6 {
            field[count] = chunk[pos];
        }
        count += 1;
        pos += 1;
    }
    let mut state = State { left: length(&field), pos: 0 };
    let mut out = b"<script>".to_vec();
    let mut piece = &chunk[pos..];
    while state.left > 0 {
        let (decoded, used) = state.decode(piece);
        out.extend_from_slice(&decoded);
        if state.left == 0 {
            // The checksum and the end marker are passed over when
            // there is room for them; the rest of the chunk follows.
            let tail = &piece[used..];
            out.extend_from_slice(if tail.len() >= 12 {
                &tail[12..]
            } else {
                tail
            });
            break;
        }
        match rest.next() {
            Some(c) => piece = c,
            None => break,
        }
    }
    out.extend_from_slice(b"</script>");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes `script` as the Script Encoder does (the tables inverted),
    /// with a length field and a checksum.
    fn encode(script: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        let mut pos = 0;
        let mut sum = 0u32;
        for &c in script {
            sum = sum.wrapping_add(u32::from(c));
            let escape = match c {
                b'<' => Some(b'!'),
                b'>' => Some(b'*'),
                b'@' => Some(b'$'),
                b'\n' => Some(b'&'),
                b'\r' => Some(b'#'),
                _ => None,
            };
            if let Some(e) = escape {
                body.extend([b'@', e]);
            } else {
                let t = usize::from(ORDER[pos]);
                let e = if TAB[t] == c {
                    b'\t'
                } else {
                    let i = TABLES[t].iter().position(|&d| d == c).unwrap();
                    0x20 + i as u8
                };
                body.push(e);
            }
            pos = (pos + 1) % 64;
        }
        let b64 = |n: u32| {
            const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            let b = n.to_le_bytes();
            let v = [
                b[0] >> 2,
                (b[0] & 3) << 4 | b[1] >> 4,
                (b[1] & 15) << 2 | b[2] >> 6,
                b[2] & 63,
                b[3] >> 2,
                (b[3] & 3) << 4,
            ];
            let mut s: Vec<u8> =
                v.iter().map(|&x| A[usize::from(x)]).collect();
            s.extend(b"==");
            s
        };
        let mut out = b"#@~^".to_vec();
        out.extend(b64(body.len() as u32));
        out.extend(&body);
        out.extend(b64(sum));
        out.extend(b"^#~@");
        out
    }

    #[test]
    fn a_known_block_decodes() {
        // The Script Encoder's output for `MsgBox "Hello"` (VBScript), as
        // published with Didier Stevens' decoder.
        let vbe = b"#@~^DgAAAA==\\ko$K6,JC\x7fV^GJqAQAAA==^#~@";
        assert_eq!(
            decode_file(vbe).unwrap(),
            b"<script>MsgBox \"Hello\"</script>"
        );
    }

    #[test]
    fn every_character_and_escape_round_trips() {
        let script: Vec<u8> =
            (b' '..=b'~').chain(*b"\t<>@\r\n").cycle().take(500).collect();
        let mut file = b"junk before\n".to_vec();
        file.extend(encode(&script));
        file.extend(b" and after");
        let mut want = b"<script>".to_vec();
        want.extend(&script);
        want.extend(b" and after</script>");
        assert_eq!(decode_file(&file).unwrap(), want);
    }

    #[test]
    fn damaged_blocks_end_with_the_input() {
        assert_eq!(decode_file(b"no block here"), None);
        assert_eq!(decode_file(b"#@~^DgA"), None);
        // A length far beyond the input: what there is, then the end.
        let mut file = b"#@~^////////".to_vec();
        file.extend(&encode(b"var x = 1;")[12..]);
        let d = decode_file(&file).unwrap();
        assert!(d.starts_with(b"<script>var x = 1;"), "{d:?}");
        assert!(d.ends_with(b"</script>"));
        // Blocks split across the reader's chunks, NULs dropped.
        let script = b"WScript.Echo(1); ".repeat(1000);
        let mut file = encode(&script);
        file.insert(100, 0);
        let d = decode_file(&file).unwrap();
        assert_eq!(&d[8..8 + script.len()], &script[..]);
    }
}
