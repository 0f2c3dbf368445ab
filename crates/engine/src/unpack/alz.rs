//! ALZ archives (ESTsoft's ALZip, common in Korean mail): a file header,
//! then local file headers each followed by its data, stored, deflated
//! or bzip2'd. Read as ClamAV reads them: the sizes' width is in the
//! header's descriptor byte, an encrypted member (or one with a data
//! descriptor) is passed over, the walk ends at the end-of-directory
//! record, and a record it does not know (or data running past the end)
//! ends it as damaged.

use super::{Member, Sink, Unpacked};
use crate::verdict::Reason;

const LOCAL: u32 = 0x015a_4c42;
const CENTRAL: u32 = 0x015a_4c43;
const END: u32 = 0x025a_4c43;

const DAMAGED: Reason = Reason::Malformed { format: "ALZ" };

pub(crate) fn alz<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    if walk(data, &mut out).is_none() {
        out.skip(DAMAGED);
    }
    out
}

/// Reads little-endian fields from a position that moves on.
struct Cursor<'a> {
    d: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.d.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    fn uint(&mut self, n: usize) -> Option<u64> {
        let s = self.take(n)?;
        Some(s.iter().rev().fold(0u64, |v, &b| v << 8 | u64::from(b)))
    }
}

/// `None` when the archive is damaged where it was read.
fn walk(data: &[u8], out: &mut Unpacked<'_>) -> Option<()> {
    let mut c = Cursor { d: data, at: 8 };
    // ClamAV numbers the entries from 1, directories included.
    let mut position = 1u32;
    while !out.done() {
        let Some(sig) = c.uint(4) else { return Some(()) };
        match sig as u32 {
            LOCAL => {
                member(&mut c, position, out)?;
                position = position.saturating_add(1);
            }
            // Twelve bytes in the format, eight read by ClamAV (and by
            // unalz before it): the end record follows in practice.
            CENTRAL => {
                if c.take(8).is_none() {
                    return Some(());
                }
            }
            END => return Some(()),
            _ => return None,
        }
    }
    Some(())
}

fn member(
    c: &mut Cursor<'_>,
    position: u32,
    out: &mut Unpacked<'_>,
) -> Option<()> {
    let name_len = c.uint(2)? as usize;
    let attribute = c.uint(1)? as u8;
    let _time = c.uint(4)?;
    let descriptor = c.uint(1)? as u8;
    let _unknown = c.uint(1)?;
    if name_len == 0 {
        return None;
    }
    let width = usize::from(descriptor / 0x10);
    let (mut method, mut packed, mut size) = (0, 0, 0);
    if width > 0 {
        if !matches!(width, 1 | 2 | 4 | 8) {
            return None;
        }
        method = c.uint(1)? as u8;
        let _unknown = c.uint(1)?;
        let _crc = c.uint(4)?;
        packed = c.uint(width)?;
        size = c.uint(width)?;
    }
    let name = c.take(name_len)?;
    let encrypted = descriptor & 1 != 0;
    if encrypted {
        c.take(12)?;
    }
    let directory = attribute & 0x10 != 0;
    if !directory
        && out.wants_members()
        && out.member(Member {
            name: Some(name),
            size_in_container: packed,
            size_real: size,
            encrypted,
            position,
        })
    {
        return Some(());
    }
    let body = usize::try_from(packed).ok().and_then(|n| c.take(n));
    if directory || packed == 0 {
        return body.map(|_| ());
    }
    // Passed over, as ClamAV passes them: encrypted, a data descriptor,
    // a method it does not have.
    if encrypted {
        out.skip(Reason::Encrypted);
        return body.map(|_| ());
    }
    if descriptor & 8 != 0 || method > 2 {
        out.skip(DAMAGED);
        return body.map(|_| ());
    }
    // Data running past the end: damaged, not extracted (as in ClamAV),
    // and the walk ends.
    let data = body?;
    let name = String::from_utf8_lossy(name).into_owned();
    match method {
        0 => out.push_reader_slice(name, data),
        1 => out.push_reader_slice(name, bzip2::read::BzDecoder::new(data)),
        _ => out
            .push_reader_slice(name, flate2::read::DeflateDecoder::new(data)),
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unpack::tests::{budget, collect};
    use std::io::Write;

    /// A local header and its data, sizes `width` bytes wide.
    fn entry(
        name: &str,
        attribute: u8,
        descriptor: u8,
        method: u8,
        packed: &[u8],
        size: u64,
    ) -> Vec<u8> {
        let width = usize::from(descriptor / 0x10);
        let mut e = LOCAL.to_le_bytes().to_vec();
        e.extend((name.len() as u16).to_le_bytes());
        e.push(attribute);
        e.extend([0; 4]);
        e.push(descriptor);
        e.push(0);
        if width > 0 {
            e.extend([method, 0]);
            e.extend([0; 4]);
            e.extend(&(packed.len() as u64).to_le_bytes()[..width]);
            e.extend(&size.to_le_bytes()[..width]);
        }
        e.extend(name.as_bytes());
        if descriptor & 1 != 0 {
            e.extend([0; 12]);
        }
        e.extend(packed);
        e
    }

    fn archive(entries: &[Vec<u8>]) -> Vec<u8> {
        let mut a = b"ALZ\x01\x0a\0\0\0".to_vec();
        for e in entries {
            a.extend(e);
        }
        a.extend(CENTRAL.to_le_bytes());
        a.extend([0; 8]);
        a.extend(END.to_le_bytes());
        a
    }

    fn deflate(d: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        );
        e.write_all(d).unwrap();
        e.finish().unwrap()
    }

    fn bzip2(d: &[u8]) -> Vec<u8> {
        let mut e = bzip2::write::BzEncoder::new(
            Vec::new(),
            bzip2::Compression::default(),
        );
        e.write_all(d).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn every_method_and_width() {
        let text = b"an ALZ member, long enough to be scanned".to_vec();
        let a = archive(&[
            entry("dir/", 0x10, 0x00, 0, &[], 0),
            entry("stored.txt", 0x20, 0x10, 0, &text, text.len() as u64),
            entry(
                "deflated.txt",
                0x20,
                0x20,
                2,
                &deflate(&text),
                text.len() as u64,
            ),
            entry(
                "bzip2.txt",
                0x20,
                0x40,
                1,
                &bzip2(&text),
                text.len() as u64,
            ),
            entry("wide.txt", 0x20, 0x80, 0, &text, text.len() as u64),
            entry("secret.txt", 0x20, 0x11, 0, &text, text.len() as u64),
        ]);
        let mut c = collect(budget());
        let skipped = alz(&a, &mut c).skipped;
        let names: Vec<_> = c.children.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(
            names,
            ["stored.txt", "deflated.txt", "bzip2.txt", "wide.txt"]
        );
        assert!(c.children.iter().all(|x| x.1 == text));
        assert_eq!(skipped, Some(Reason::Encrypted));
    }

    #[test]
    fn damage_ends_the_walk_with_what_was_read() {
        let text = b"the first member, scanned before the damage".to_vec();
        let first = entry("a.txt", 0x20, 0x10, 0, &text, text.len() as u64);
        let mut a = b"ALZ\x01\0\0\0\0".to_vec();
        a.extend(&first);
        a.extend(b"JUNK");
        let mut c = collect(budget());
        assert_eq!(alz(&a, &mut c).skipped, Some(DAMAGED));
        assert_eq!(c.children.len(), 1);
        // A member cut short is damage, not extracted, as in ClamAV.
        let mut cut = b"ALZ\x01\0\0\0\0".to_vec();
        cut.extend(&first);
        cut.extend(&first[..first.len() - 10]);
        let mut c = collect(budget());
        assert_eq!(alz(&cut, &mut c).skipped, Some(DAMAGED));
        assert_eq!(c.children.len(), 1);
        // A width of 3, a nameless entry.
        for bad in [
            entry("x", 0x20, 0x30, 0, b"abc", 3),
            entry("", 0x20, 0x10, 0, b"abc", 3),
        ] {
            let mut c = collect(budget());
            assert_eq!(alz(&archive(&[bad]), &mut c).skipped, Some(DAMAGED));
        }
    }

    #[test]
    fn a_bomb_stops_at_the_file_limit() {
        let zeros = vec![0u8; 4 << 20];
        let a = archive(&[entry(
            "zeros",
            0x20,
            0x40,
            2,
            &deflate(&zeros),
            zeros.len() as u64,
        )]);
        let mut b = budget();
        b.max_file = 1 << 20;
        let mut c = collect(b);
        assert_eq!(alz(&a, &mut c).skipped, Some(Reason::FileSizeLimit));
        assert_eq!(c.children[0].1.len(), 1 << 20);
    }
}
