//! The Script Encoder's substitution (`#@~^` blocks: `.jse`, `.vbe`, and
//! `<script language="JScript.Encode">` in pages), undone as ClamAV undoes
//! it: three tables in a fixed order of 64, `@` escapes for `<`, `>`, `@`,
//! CR and LF, the length from the block's base64 header. The tables come
//! from Didier Stevens' public-domain decoder. Both the page normaliser
//! (a block inside a script) and the unpacker of encoded files
//! (`unpack/screnc.rs`) decode with it.

use super::{Norm, St};

/// Where an encoded block starts.
const MARK: &[u8] = b"#@~^";

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
pub(crate) fn length(t: &[u8; 6]) -> u32 {
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

/// Decoding state, kept from one chunk of the page to the next:
/// characters left, the table position.
pub(crate) struct Decoder {
    pub(crate) left: u32,
    pub(crate) pos: usize,
}

impl Decoder {
    /// Decodes from the start of `chunk` while characters are left;
    /// returns the decoded bytes and how much of `chunk` was used.
    pub(crate) fn decode(&mut self, chunk: &[u8]) -> (Vec<u8>, usize) {
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
                    // ClamAV's counter wraps when the escape is the last
                    // character counted: it then decodes whatever follows.
                    self.left = self.left.wrapping_sub(1);
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
            self.left = self.left.wrapping_sub(1);
        }
        (out, i.min(chunk.len()))
    }
}

/// What follows a block that ended inside a chunk: its checksum and end
/// marker are passed over when there is room for them.
pub(crate) fn after_block(tail: &[u8]) -> &[u8] {
    if tail.len() >= 12 { &tail[12..] } else { tail }
}

/// The normaliser's states for a block in a page, after
/// `<script language="jscript.encode">` (or VBScript's).
impl Norm {
    /// The tag of a script the Script Encoder made: written once more,
    /// as ClamAV writes it for the decoded script, with the language it
    /// decodes to. False for any other script.
    pub(super) fn encoded_script_tag(
        &mut self,
        args: &[(Vec<u8>, Option<Vec<u8>>)],
    ) -> bool {
        let Some((at, lang)) = encoded_language(args) else {
            return false;
        };
        self.o2.extend_from_slice(b"<script");
        for (k, (name, value)) in args.iter().enumerate() {
            self.o2.push(b' ');
            self.o2.extend_from_slice(name);
            if let Some(v) = value {
                let v: &[u8] = if k == at { lang } else { unquoted(v) };
                self.o2.extend_from_slice(b"=\"");
                self.o2.extend(v.iter().map(u8::to_ascii_lowercase));
                self.o2.push(b'"');
            }
        }
        self.o2.push(b'>');
        true
    }

    /// Looking for `#@~^`: until the block starts, the page goes out as
    /// it is, lowered. Returns where the page goes on.
    pub(super) fn js_decode(
        &mut self,
        chunk: &[u8],
        i: usize,
        c: u8,
    ) -> usize {
        if chunk[i..].starts_with(MARK) {
            self.state = St::JsLength;
            i + 4
        } else {
            self.o2.push(c.to_ascii_lowercase());
            i + 1
        }
    }

    /// The length field, when the chunk holds it whole.
    pub(super) fn js_length(&mut self, chunk: &[u8], i: usize) -> usize {
        if chunk.len() - i < 8 {
            self.state = St::Norm;
            return i;
        }
        let mut field = [0u8; 6];
        field.copy_from_slice(&chunk[i..i + 6]);
        self.screnc = Some(Decoder { left: length(&field), pos: 0 });
        self.state = St::JsDecrypt;
        i + 8
    }

    /// The block decoded from `i` to its end or the chunk's: the script,
    /// then the rest of the chunk, to be read on in its place.
    pub(super) fn js_decrypt(
        &mut self,
        chunk: &[u8],
        i: usize,
        c: u8,
    ) -> Option<Vec<u8>> {
        self.state = St::Norm;
        let mut decoder = self.screnc.take()?;
        let mut rest = chunk[i..].to_vec();
        // The line feed under the cursor is already a space.
        rest[0] = c;
        let (mut decoded, used) = decoder.decode(&rest);
        if decoder.left == 0 {
            decoded.extend_from_slice(after_block(&rest[used..]));
        } else {
            self.screnc = Some(decoder);
        }
        if let Some(l) = &mut self.links {
            l.run_to(chunk, i);
            if l.begin.is_some() {
                l.begin = Some(0);
            }
        }
        Some(decoded)
    }
}

/// The blocks of ASP pages: after `<%@ language="VBScript.Encode" %>`
/// (or JScript's), ClamAV searches each read for `#@~^`, from the tag on
/// in the read that holds it, from the start in later ones; a block found
/// has its marker overwritten with `//` and the read goes on as page
/// text; at the read's end ClamAV goes back to the block and decodes it
/// in place, and the decoded script and the rest of the read are read
/// once more as the page. So the block's text shows twice, encoded and
/// lowered, then decoded: signatures are written against that.
impl Norm {
    pub(super) fn asp_tag(&mut self, args: &[(Vec<u8>, Option<Vec<u8>>)]) {
        if encoded_language(args).is_some() {
            self.asp = true;
            self.asp_search = true;
        }
    }

    /// The read with its first block's marker overwritten, when it holds
    /// one from `from` on.
    pub(super) fn asp_mark(
        &mut self,
        chunk: &[u8],
        from: usize,
    ) -> Option<Vec<u8>> {
        let at = memchr::memmem::find(chunk.get(from..)?, MARK)? + from;
        let mut marked = chunk.to_vec();
        marked[at..at + 2].copy_from_slice(b"//");
        self.asp_jump = Some(at + MARK.len());
        Some(marked)
    }

    /// At the end of a read that holds a block: the read once more from
    /// the block's length field. ClamAV's pass over the read turned its
    /// line feeds into spaces, which the decoder then takes as text.
    pub(super) fn asp_resume(
        &mut self,
        chunk: &[u8],
    ) -> Option<(Vec<u8>, usize)> {
        let at = self.asp_jump.take()?.min(chunk.len());
        let read: Vec<u8> =
            chunk.iter().map(|&b| if b == b'\n' { b' ' } else { b }).collect();
        // Going back is a new read to ClamAV: white space skipped, an
        // open link's text taken from here.
        let at = at
            + read[at..].iter().take_while(|&&b| super::is_space(b)).count();
        if let Some(l) = &mut self.links
            && l.begin.is_some()
        {
            l.begin = Some(at);
        }
        self.goto(St::JsLength, St::Norm);
        Some((read, at))
    }
}

/// A value as ClamAV keeps it: a quoted one loses its first and last
/// bytes.
fn unquoted(v: &[u8]) -> &[u8] {
    match v.strip_prefix(b"\"") {
        Some(inner) => &inner[..inner.len().saturating_sub(1)],
        None => v,
    }
}

/// The language a `<script>` decodes to when its (first) `language`
/// says the Script Encoder made it, and that argument's index.
fn encoded_language(
    args: &[(Vec<u8>, Option<Vec<u8>>)],
) -> Option<(usize, &'static [u8])> {
    let at = args.iter().position(|(k, _)| k == b"language")?;
    let v = unquoted(args[at].1.as_deref()?);
    if v.eq_ignore_ascii_case(b"jscript.encode") {
        Some((at, b"javascript"))
    } else if v.eq_ignore_ascii_case(b"vbscript.encode") {
        Some((at, b"vbscript"))
    } else {
        None
    }
}

#[cfg(test)]
/// Encodes `script` as the Script Encoder does (the tables inverted),
/// with a length field and a checksum.
pub(crate) fn encode(script: &[u8]) -> Vec<u8> {
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
        let mut s: Vec<u8> = v.iter().map(|&x| A[usize::from(x)]).collect();
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
