//! Old formats still met in mail: MS-DOS `COMPRESS.EXE` files (SZDD),
//! cpio archives in all four layouts, and BinHex 4.0. Each is a page of
//! arithmetic with no kept crate for it (the `cpio` crate reads newc
//! only; `binhex4` is unmaintained and pulls a parser framework), so they
//! are written here, every read bounds-checked and every output counted
//! against the budget.

use std::io::Cursor;

use super::{Sink, Unpacked};
use crate::sigs::cdb::Member;
use crate::verdict::Reason;

impl Unpacked<'_> {
    /// The most a single child may hold now (MaxFileSize or what is left
    /// of MaxScanSize); decoders stop one byte past it, so the limit is
    /// reported rather than a cut-off child scanned as whole.
    fn cap(&mut self) -> u64 {
        let b = self.sink.budget();
        b.max_file.min(b.bytes_left)
    }

    /// A child decoded into memory, with at most `cap() + 1` bytes.
    fn push_decoded(&mut self, name: String, data: Vec<u8>) {
        self.push_reader(name, Cursor::new(data));
    }
}

/// SZDD: a 14-byte header, then LZSS with a 4 KiB window of spaces
/// whose write position starts 16 bytes from its end.
pub(crate) fn szdd<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    if data.len() < 14
        || &data[..8] != b"SZDD\x88\xf0\x27\x33"
        || data[8] != b'A'
    {
        out.skip(Reason::Malformed { format: "SZDD" });
        return out;
    }
    let limit = out.cap() + 1;
    let mut window = [b' '; 4096];
    let mut pos = 4096 - 16;
    let mut dec = Vec::new();
    let mut i = 14;
    'outer: while i < data.len() {
        let control = data[i];
        i += 1;
        for bit in 0..8 {
            if dec.len() as u64 >= limit {
                break 'outer;
            }
            if control & (1 << bit) != 0 {
                let Some(&b) = data.get(i) else { break 'outer };
                i += 1;
                dec.push(b);
                window[pos] = b;
                pos = (pos + 1) & 0xfff;
            } else {
                let (Some(&lo), Some(&hi)) = (data.get(i), data.get(i + 1))
                else {
                    break 'outer;
                };
                i += 2;
                let from = usize::from(lo) | (usize::from(hi & 0xf0) << 4);
                let len = usize::from(hi & 0x0f) + 3;
                for k in 0..len {
                    let b = window[(from + k) & 0xfff];
                    dec.push(b);
                    window[pos] = b;
                    pos = (pos + 1) & 0xfff;
                }
            }
        }
    }
    out.push_decoded("unszdd".into(), dec);
    out
}

/// One cpio member's header, whatever the layout.
struct CpioEntry {
    name: String,
    /// The name's bytes as stored, up to a NUL and at most 512 (what
    /// ClamAV describes the member by).
    raw_name: Vec<u8>,
    size: u64,
    regular: bool,
    /// Where the member's data starts.
    data_at: usize,
    /// Alignment of the data's end (4 for newc/crc, 2 for binary, 1 for odc).
    align: usize,
}

fn parse_num(field: &[u8], radix: u32) -> Option<u64> {
    u64::from_str_radix(std::str::from_utf8(field).ok()?, radix).ok()
}

fn align_up(n: usize, a: usize) -> usize {
    n.div_ceil(a) * a
}

fn cpio_entry(data: &[u8], at: usize) -> Option<CpioEntry> {
    let h = data.get(at..)?;
    let (mode, namesize, size, name_at, name_align, align) =
        if h.starts_with(b"070701") || h.starts_with(b"070702") {
            let f = |i: usize| parse_num(h.get(6 + 8 * i..14 + 8 * i)?, 16);
            (f(1)?, f(11)?, f(6)?, 110usize, 4, 4)
        } else if h.starts_with(b"070707") {
            let f = |a: usize, b: usize| parse_num(h.get(a..b)?, 8);
            (f(18, 24)?, f(59, 65)?, f(65, 76)?, 76, 1, 1)
        } else if h.len() >= 26
            && (h[..2] == [0xc7, 0x71] || h[..2] == [0x71, 0xc7])
        {
            let le = h[0] == 0xc7;
            let w = |i: usize| {
                let b = [h[2 * i], h[2 * i + 1]];
                u64::from(if le {
                    u16::from_le_bytes(b)
                } else {
                    u16::from_be_bytes(b)
                })
            };
            (w(3), w(10), (w(11) << 16) | w(12), 26, 2, 2)
        } else {
            return None;
        };
    let namesize = usize::try_from(namesize).ok()?;
    let name_bytes = h.get(name_at..name_at.checked_add(namesize)?)?;
    let name = String::from_utf8_lossy(
        name_bytes.strip_suffix(b"\0").unwrap_or(name_bytes),
    )
    .into_owned();
    let raw_name = name_bytes
        .split(|&b| b == 0)
        .next()
        .map_or(&[][..], |n| &n[..n.len().min(512)])
        .to_vec();
    let data_at = at + align_up(name_at + namesize, name_align);
    Some(CpioEntry {
        name,
        raw_name,
        size,
        regular: mode & 0o170000 == 0o100000,
        data_at,
        align,
    })
}

/// cpio: odc (`070707`), newc (`070701`), crc (`070702`) and the old
/// binary layout in either byte order.
pub(crate) fn cpio<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let mut at = 0;
    let mut position = 0u32;
    while !out.done() {
        let Some(e) = cpio_entry(data, at) else {
            out.skip(Reason::Malformed { format: "cpio" });
            break;
        };
        if e.name == "TRAILER!!!" {
            break;
        }
        position = position.saturating_add(1);
        // ClamAV describes every member with data, its name cut to 512
        // bytes and made safe: bytes past ASCII, `%`, backslash, tab, CR
        // and LF become `_`.
        if e.size > 0 && out.wants_members() {
            let name: Vec<u8> = e
                .raw_name
                .iter()
                .map(|&b| {
                    if b >= 0x80 || b"%\\\t\n\r".contains(&b) {
                        b'_'
                    } else {
                        b
                    }
                })
                .collect();
            if out.member(Member {
                name: Some(&name),
                size_in_container: e.size,
                size_real: e.size,
                encrypted: false,
                position,
            }) {
                break;
            }
        }
        let end = usize::try_from(e.size)
            .ok()
            .and_then(|s| e.data_at.checked_add(s));
        let Some(member) = end.and_then(|end| data.get(e.data_at..end)) else {
            // A truncated member: what there is, and the reason.
            if e.regular {
                let part = data.get(e.data_at..).unwrap_or_default();
                out.push_reader_slice(e.name, part);
            }
            out.skip(Reason::Malformed { format: "cpio" });
            break;
        };
        if e.regular && !member.is_empty() {
            out.push_reader_slice(e.name, member);
        }
        at = align_up(e.data_at + member.len(), e.align);
    }
    out
}

/// TNEF (winmail.dat): a signature and key, then attributes of a level
/// byte, a 32-bit id, a 32-bit length, the data and a checksum; each
/// attachment's data (attAttachData, 0x800F) is a child, named by the
/// attAttachTitle (0x8010) before it, as ClamAV extracts them.
pub(crate) fn tnef<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let u32_at = |at: usize| {
        Some(u32::from_le_bytes(
            data.get(at..at.checked_add(4)?)?.try_into().ok()?,
        ))
    };
    let mut at = 6;
    let mut title = String::new();
    while at < data.len() && !out.done() {
        let (Some(id), Some(len)) = (u32_at(at + 1), u32_at(at + 5)) else {
            out.skip(Reason::Malformed { format: "TNEF" });
            break;
        };
        let start = at + 9;
        let Some(body) = start
            .checked_add(len as usize)
            .and_then(|end| data.get(start..end))
        else {
            out.skip(Reason::Malformed { format: "TNEF" });
            break;
        };
        match id & 0xffff {
            0x8010 => {
                let t = body.strip_suffix(b"\0").unwrap_or(body);
                title = String::from_utf8_lossy(t).into_owned();
            }
            0x800f if !body.is_empty() => {
                let name = if title.is_empty() {
                    "tnef attachment".into()
                } else {
                    std::mem::take(&mut title)
                };
                out.push_reader(name, body);
            }
            _ => {}
        }
        at = start + body.len() + 2;
    }
    out
}

/// BinHex 4.0's 64 characters, in value order.
const BINHEX: &[u8; 64] =
    b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";

/// BinHex 4.0: the text between the first two colons after the banner,
/// six bits a character, then run-length coding (0x90), then a header
/// and the data and resource forks, each of which is scanned.
pub(crate) fn binhex<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let mut value = [0xffu8; 256];
    for (v, &c) in BINHEX.iter().enumerate() {
        value[usize::from(c)] = v as u8;
    }
    let Some(start) = memchr::memchr(b':', data) else {
        out.skip(Reason::Malformed { format: "BinHex" });
        return out;
    };
    // Six-bit groups to bytes, then run lengths undone, both bounded: the
    // decoded stream never exceeds the two forks' cap plus the header.
    let limit = out.cap().saturating_mul(2).saturating_add(4096);
    let (mut acc, mut bits) = (0u32, 0u32);
    let mut packed = Vec::new();
    let mut closed = false;
    for &c in &data[start + 1..] {
        if c == b':' {
            closed = true;
            break;
        }
        if c.is_ascii_whitespace() {
            continue;
        }
        let v = value[usize::from(c)];
        if v == 0xff {
            out.skip(Reason::Malformed { format: "BinHex" });
            break;
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            packed.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
        if packed.len() as u64 > limit {
            break;
        }
    }
    if !closed {
        out.skip(Reason::Malformed { format: "BinHex" });
    }
    let mut plain: Vec<u8> = Vec::with_capacity(packed.len());
    let mut i = 0;
    while i < packed.len() && (plain.len() as u64) < limit {
        let b = packed[i];
        if b == 0x90 {
            match packed.get(i + 1) {
                Some(0) => plain.push(0x90),
                Some(&n) => {
                    let last = plain.last().copied().unwrap_or(0);
                    let n = usize::from(n - 1)
                        .min((limit - plain.len() as u64) as usize);
                    plain.extend(std::iter::repeat_n(last, n));
                }
                None => {}
            }
            i += 2;
        } else {
            plain.push(b);
            i += 1;
        }
    }
    // Header: name length, name, a zero, type, creator, flags, data and
    // resource lengths (big-endian), CRC.
    let Some(&nlen) = plain.first() else {
        out.skip(Reason::Malformed { format: "BinHex" });
        return out;
    };
    let nlen = usize::from(nlen);
    let name =
        String::from_utf8_lossy(plain.get(1..1 + nlen).unwrap_or_default())
            .into_owned();
    let h = 1 + nlen + 1 + 4 + 4 + 2;
    let len = |at: usize| -> Option<usize> {
        Some(u32::from_be_bytes(plain.get(at..at + 4)?.try_into().ok()?)
            as usize)
    };
    let (Some(dlen), Some(rlen)) = (len(h), len(h + 4)) else {
        out.skip(Reason::Malformed { format: "BinHex" });
        return out;
    };
    let data_at = h + 8 + 2;
    let rsrc_at = data_at.saturating_add(dlen).saturating_add(2);
    for (fork, at, n) in [("data", data_at, dlen), ("resource", rsrc_at, rlen)]
    {
        if n == 0 || out.done() {
            continue;
        }
        let end = at.saturating_add(n).min(plain.len());
        let part = plain.get(at.min(end)..end).unwrap_or_default();
        if part.len() < n {
            out.skip(Reason::Malformed { format: "BinHex" });
        }
        if !part.is_empty() {
            out.push_reader(format!("{name} ({fork} fork)"), part);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{budget, collect};
    use super::*;

    #[test]
    fn szdd_literals_and_back_references() {
        // "abcabcabc!": three literals, a copy of 6 from the window, one literal.
        let mut f = b"SZDD\x88\xf0\x27\x33A\0\x0a\0\0\0".to_vec();
        f.push(0b0000_1111 & !0b1000 | 0b1_0000); // bits: l l l copy l
        f.extend_from_slice(b"abc");
        // The window position of 'a' is 4080 = 0xff0: lo 0xf0, hi 0xf0 | (6-3).
        f.extend_from_slice(&[0xf0, 0xf3]);
        f.push(b'!');
        let mut c = collect(budget());
        szdd(&f, &mut c);
        assert_eq!(
            c.children,
            vec![("unszdd".to_string(), b"abcabcabc!".to_vec())]
        );
    }

    #[test]
    fn szdd_output_is_bounded() {
        // Endless back-references: 18 bytes out per 2 in.
        let mut f = b"SZDD\x88\xf0\x27\x33A\0\0\0\0\0".to_vec();
        for _ in 0..100_000 {
            f.extend_from_slice(&[
                0, 0, 0x0f, 0, 0x0f, 0, 0x0f, 0, 0x0f, 0, 0x0f, 0, 0x0f, 0,
                0x0f, 0, 0x0f,
            ]);
        }
        let mut b = budget();
        b.max_file = 1000;
        let mut c = collect(b);
        let u = szdd(&f, &mut c);
        // The first MaxFileSize bytes are scanned, and the limit reported.
        assert_eq!(u.skipped, Some(Reason::FileSizeLimit));
        assert_eq!(c.children.len(), 1);
        assert_eq!(c.children[0].1.len(), 1000);
    }

    #[test]
    fn cpio_truncated_and_garbage() {
        let mut c = collect(budget());
        let u = cpio(b"070701zzzz", &mut c);
        assert_eq!(u.skipped, Some(Reason::Malformed { format: "cpio" }));
        let mut c = collect(budget());
        // A binary header claiming a 2^32-1 byte member.
        let mut h = vec![0xc7, 0x71];
        h.extend_from_slice(&[0; 4]);
        h.extend_from_slice(&0o100644u16.to_le_bytes());
        h.extend_from_slice(&[0; 12]);
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&[0xff; 4]);
        h.extend_from_slice(b"a\0xyz");
        let u = cpio(&h, &mut c);
        assert_eq!(u.skipped, Some(Reason::Malformed { format: "cpio" }));
        assert_eq!(c.children, vec![("a".to_string(), b"xyz".to_vec())]);
    }

    #[test]
    fn tnef_attachment_and_truncation() {
        let mut f = b"\x78\x9f\x3e\x22\x01\x00".to_vec();
        let attr = |f: &mut Vec<u8>, id: u32, body: &[u8]| {
            f.push(2);
            f.extend_from_slice(&id.to_le_bytes());
            f.extend_from_slice(&(body.len() as u32).to_le_bytes());
            f.extend_from_slice(body);
            f.extend_from_slice(&[0, 0]);
        };
        attr(&mut f, 0x0001_8010, b"x.exe\0");
        attr(&mut f, 0x0006_800f, b"MZ payload");
        let mut c = collect(budget());
        assert!(tnef(&f, &mut c).skipped.is_none());
        assert_eq!(
            c.children,
            vec![("x.exe".to_string(), b"MZ payload".to_vec())]
        );
        // A length past the end: what came before, and the reason.
        f.extend_from_slice(&[
            2, 0x0f, 0x80, 6, 0, 0xff, 0xff, 0xff, 0x7f, b'a',
        ]);
        let mut c = collect(budget());
        assert_eq!(
            tnef(&f, &mut c).skipped,
            Some(Reason::Malformed { format: "TNEF" })
        );
        assert_eq!(c.children.len(), 1);
    }

    #[test]
    fn binhex_run_lengths_are_bounded() {
        // A run of 255 repeated again and again.
        let mut bits = Vec::new();
        bits.push(1u8);
        bits.extend_from_slice(b"x\0TEXTMACS\0\0");
        bits.extend_from_slice(&0x7fff_ffffu32.to_be_bytes());
        bits.extend_from_slice(&[0; 6]);
        for _ in 0..10_000 {
            bits.extend_from_slice(&[b'A', 0x90, 0xff]);
        }
        let mut text =
            b"(This file must be converted with BinHex 4.0)\n:".to_vec();
        let (mut acc, mut n) = (0u32, 0);
        for b in bits {
            acc = (acc << 8) | u32::from(b);
            n += 8;
            while n >= 6 {
                n -= 6;
                text.push(BINHEX[((acc >> n) & 63) as usize]);
            }
        }
        text.push(b':');
        let mut b = budget();
        b.max_file = 100_000;
        let mut c = collect(b);
        let u = binhex(&text, &mut c);
        assert!(u.skipped.is_some());
        assert!(c.children.iter().all(|(_, d)| d.len() <= 100_000));
    }
}
