//! Compiled AutoIt scripts (ClamAV's `CL_TYPE_AUTOIT`), read as ClamAV
//! reads them: the resources an AutoIt executable carries after its
//! `AU3!EA05` or `AU3!EA06` marker, each decrypted, decompressed and
//! scanned as a child (the script, and every file `FileInstall` put
//! in). EA05 scripts are stored as text; EA06 scripts as tokens, which
//! are written back out as text in ClamAV's spelling (see `script`).
//!
//! A resource: the encrypted tag `FILE`; two strings, each behind its
//! XOR-masked length (a type such as `>>>AUTOIT SCRIPT<<<`, or the
//! source path of an installed file; then the path it was compiled
//! from); a compression flag; the masked stored and original sizes and
//! a checksum; two file times; the encrypted data. Compressed data
//! begins `EA05`/`EA06` and a big-endian size, then an LZ77 bit stream.
//! The two versions differ in cipher (see `cipher`), masks and seeds,
//! in how wide their strings are, and in which flag bit means a copy.
//!
//! The walk ends where no tag follows, as ClamAV's does. A resource cut
//! short or whose stream breaks is scanned as far as it decoded, and the
//! file is reported damaged.

use super::{Sink, Unpacked};
use crate::verdict::Reason;

mod cipher;
mod script;
#[cfg(test)]
mod tests;

const DAMAGED: Reason = Reason::Malformed { format: "AutoIt" };

/// From the type pattern's match (the 16-byte subtype marker, then
/// `AU3!EA0`) to the version digit, where ClamAV begins reading.
const VERSION_AT: usize = 23;

/// The first string of the script's resource in EA06 files.
const EA06_SCRIPT: &[u8] = b">>>AUTOIT SCRIPT<<<";

/// What tells the two versions apart.
struct Version {
    /// What compressed data begins with.
    stream_tag: &'static [u8; 4],
    /// `FILE`, encrypted.
    file_tag: u32,
    /// The masks of the two strings' lengths and of the sizes.
    type_len_mask: u32,
    name_len_mask: u32,
    size_mask: u32,
    /// Added to a string's length to key its cipher.
    type_seed: u32,
    name_seed: u32,
    /// Strings are UTF-16 (their lengths count units) rather than bytes.
    wide: bool,
    /// The flag bit that starts a copy, rather than a literal byte.
    copy_bit: u32,
    decrypt: fn(&mut [u8], u32),
}

const EA05: Version = Version {
    stream_tag: b"EA05",
    file_tag: 0xceb0_6dff,
    type_len_mask: 0x29bc,
    name_len_mask: 0x29ac,
    size_mask: 0x45aa,
    type_seed: 0xa25e,
    name_seed: 0xf25e,
    wide: false,
    copy_bit: 1,
    decrypt: cipher::ea05,
};

const EA06: Version = Version {
    stream_tag: b"EA06",
    file_tag: 0x52ca_436b,
    type_len_mask: 0xadbc,
    name_len_mask: 0xf820,
    size_mask: 0x87bc,
    type_seed: 0xb33f,
    name_seed: 0xf479,
    wide: true,
    copy_bit: 0,
    decrypt: cipher::ea06,
};

/// Strings longer than this are not decoded (ClamAV reads a type
/// only below 300 units too).
const STRING_MAX: u32 = 300;

fn le32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// The resources of an AutoIt executable; `data` begins at the match of
/// the `AU3!EA05`/`AU3!EA06` type pattern.
pub(crate) fn autoit<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let (v, data_seed) = match data.get(VERSION_AT) {
        // EA05 keys its data with the sum of the 16 bytes after the
        // marker; EA06 with a constant (and skips those bytes).
        Some(b'5') => {
            let Some(key) = data.get(VERSION_AT + 1..VERSION_AT + 17) else {
                return out;
            };
            let sum: u32 = key.iter().map(|&b| u32::from(b)).sum();
            (&EA05, 0x22af + sum)
        }
        Some(b'6') => (&EA06, 0x2477),
        _ => return out,
    };
    let mut at = VERSION_AT + 17;
    let mut number = 0u32;
    while !out.done() {
        // No tag: the resources have ended.
        if le32(data, at) != Some(v.file_tag) {
            break;
        }
        let Some(s) = Walk { data, v }.resource(at + 4) else {
            out.skip(DAMAGED);
            break;
        };
        at = s.next;
        let Some(stored) = s.stored else { continue };
        // ClamAV weighs the stored size against the limits before it
        // reads anything, and goes on past what it may not extract.
        if !out.room(u64::from(stored)) {
            at = at.saturating_add(stored as usize);
            continue;
        }
        // Too short to hold a stream's header: ClamAV goes on reading
        // at the data itself, which ends the walk unless a tag is there.
        if s.compressed && stored < 4 {
            continue;
        }
        number += 1;
        let Some(raw) =
            at.checked_add(stored as usize).and_then(|e| data.get(at..e))
        else {
            out.skip(DAMAGED);
            break;
        };
        at += raw.len();
        let mut body = raw.to_vec();
        (v.decrypt)(&mut body, data_seed);
        if s.compressed {
            match inflate(&mut out, v, &body) {
                Some(b) => body = b,
                None => continue,
            }
        }
        if body.len() < 4 {
            continue;
        }
        let name = s.name.unwrap_or_else(|| format!("autoit.{number:03}"));
        if s.script {
            let limit = out.sink.budget().max_file;
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            let (text, end) = script::decompile(&body, limit);
            drop(body);
            match end {
                script::End::Whole => {}
                script::End::Damaged => out.skip(DAMAGED),
                script::End::TooLarge => {
                    out.skip(Reason::FileSizeLimit);
                    continue;
                }
            }
            out.push(name, text);
        } else {
            out.push(name, body);
        }
    }
    out
}

/// One resource's header, read.
struct Header {
    /// Where its data begins (or, with no data, the next resource).
    next: usize,
    /// The size stored, `None` for an empty resource.
    stored: Option<u32>,
    compressed: bool,
    /// EA06's tokenised script.
    script: bool,
    /// The path it was compiled from, when it reads as one.
    name: Option<String>,
}

struct Walk<'a> {
    data: &'a [u8],
    v: &'static Version,
}

impl Walk<'_> {
    /// The header after the tag, at `at`; `None` when it is cut short
    /// or its lengths are out of range (ClamAV stops there too).
    fn resource(&self, at: usize) -> Option<Header> {
        let (v, data) = (self.v, self.data);
        let (kind_len, at) = self.length(at, v.type_len_mask)?;
        let mut script = false;
        // ClamAV decrypts the type only when it is short, and stops if
        // such a one is cut short.
        if v.wide && kind_len < STRING_MAX {
            let mut kind = data.get(at..at + kind_len as usize * 2)?.to_vec();
            (v.decrypt)(&mut kind, kind_len + v.type_seed);
            script::narrow(&mut kind);
            script = kind.get(..EA06_SCRIPT.len()) == Some(EA06_SCRIPT)
                && kind_len as usize == EA06_SCRIPT.len();
        }
        let at = at.checked_add(self.span(kind_len))?;
        let (name_len, at) = self.length(at, v.name_len_mask)?;
        let name = self.name(at, name_len);
        let at = at.checked_add(self.span(name_len))?;
        // Flag, stored and original sizes, checksum: then two file times.
        let head = data.get(at..at + 13)?;
        let stored = le32(head, 1)? ^ v.size_mask;
        if (stored as i32) < 0 {
            return None;
        }
        Some(Header {
            next: at + 29,
            stored: (stored > 0).then_some(stored),
            compressed: head[0] == 1,
            script,
            name,
        })
    }

    /// A string's length at `at`, unmasked, and where the string begins;
    /// a length whose byte count is negative as a 32-bit integer ends the
    /// walk, as in ClamAV.
    fn length(&self, at: usize, mask: u32) -> Option<(u32, usize)> {
        let len = le32(self.data, at)? ^ mask;
        ((self.span(len) as u32 as i32) >= 0).then_some((len, at + 4))
    }

    /// A string's size in bytes, wrapped to 32 bits as ClamAV adds it.
    fn span(&self, len: u32) -> usize {
        (if self.v.wide { len.wrapping_mul(2) } else { len }) as usize
    }

    fn name(&self, at: usize, len: u32) -> Option<String> {
        if len == 0 || len >= STRING_MAX {
            return None;
        }
        let mut b = self.data.get(at..at + self.span(len))?.to_vec();
        (self.v.decrypt)(&mut b, len + self.v.name_seed);
        let name = if self.v.wide {
            let units: Vec<u16> = b
                .chunks_exact(2)
                .map(|u| u16::from_le_bytes([u[0], u[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        } else {
            b.iter().map(|&c| char::from(c)).collect()
        };
        let name = name.trim_end_matches('\0');
        (!name.is_empty() && !name.chars().any(char::is_control))
            .then(|| name.to_string())
    }
}

/// A compressed resource `body` (decrypted) decompressed; `None` when it
/// is not a stream of this version or is over the limits.
fn inflate(
    out: &mut Unpacked<'_>,
    v: &Version,
    body: &[u8],
) -> Option<Vec<u8>> {
    if body.get(..4) != Some(&v.stream_tag[..]) {
        out.skip(DAMAGED);
        return None;
    }
    let Some(size) = body.get(4..8) else {
        out.skip(DAMAGED);
        return None;
    };
    // A size of zero is taken as the stored size, as ClamAV takes it.
    let size = match u32::from_be_bytes([size[0], size[1], size[2], size[3]]) {
        0 => body.len() as u32,
        n => n,
    };
    if !out.room(u64::from(size)) {
        return None;
    }
    let (data, whole) = lz(&body[8..], size as usize, v.copy_bit);
    if !whole {
        out.skip(DAMAGED);
    }
    Some(data)
}

/// Bits read most significant first from 16-bit big-endian words.
struct Bits<'a> {
    input: &'a [u8],
    at: usize,
    word: u16,
    left: u32,
    /// A read ran past the input; it and every later one gave 0.
    failed: bool,
}

impl Bits<'_> {
    /// `n` bits (at most 16); 0, and nothing consumed, when the input
    /// has not enough.
    fn take(&mut self, n: u32) -> u32 {
        if n > self.left {
            let words = ((n - self.left - 1) / 16 + 1) as usize;
            if words * 2 > self.input.len() - self.at {
                self.failed = true;
                return 0;
            }
        }
        let mut v = 0;
        for _ in 0..n {
            if self.left == 0 {
                let Some(w) = self.input.get(self.at..self.at + 2) else {
                    self.failed = true;
                    return 0;
                };
                self.word = u16::from_be_bytes([w[0], w[1]]);
                self.at += 2;
                self.left = 16;
            }
            v = v << 1 | u32::from(self.word >> 15);
            self.word <<= 1;
            self.left -= 1;
        }
        v
    }
}

/// AutoIt's LZ77: after a flag bit, either a literal byte or a copy of
/// a 15-bit distance and a length coded in growing fields (2, 3, 5, 8
/// bits, then bytes of 255 added up). `size` bytes at most; whether the
/// stream gave them without running out or pointing outside.
fn lz(stream: &[u8], size: usize, copy_bit: u32) -> (Vec<u8>, bool) {
    let mut out = Vec::with_capacity(size.min(stream.len().saturating_mul(8)));
    let mut bits =
        Bits { input: stream, at: 0, word: 0, left: 0, failed: false };
    while !bits.failed && out.len() < size {
        if bits.take(1) != copy_bit {
            // Written even when the bits ran out (as a 0), as ClamAV
            // writes it.
            out.push(bits.take(8) as u8);
            continue;
        }
        let distance = bits.take(15) as usize;
        let mut extra = 0u32;
        let mut len = bits.take(2);
        if len == 3 {
            extra = 3;
            len = bits.take(3);
            if len == 7 {
                extra = 10;
                len = bits.take(5);
                if len == 31 {
                    extra = 41;
                    len = bits.take(8);
                    if len == 255 {
                        extra = 296;
                        loop {
                            len = bits.take(8);
                            if len != 255 {
                                break;
                            }
                            // 32 bits, wrapping, as ClamAV counts.
                            extra = extra.wrapping_add(255);
                        }
                    }
                }
            }
        }
        if bits.failed {
            break;
        }
        let len = len.wrapping_add(3).wrapping_add(extra) as usize;
        let here = out.len();
        if len == 0 || len > size - here || distance > here {
            bits.failed = true;
            break;
        }
        if distance >= len {
            out.extend_from_within(here - distance..here - distance + len);
        } else {
            // Overlapping: byte by byte, each copy reading the last.
            // A distance of 0 reads what ClamAV has not written yet.
            for i in here..here + len {
                let b = if distance == 0 { 0 } else { out[i - distance] };
                out.push(b);
            }
        }
    }
    (out, !bits.failed)
}
