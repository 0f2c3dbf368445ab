//! LHA/LZH archives through `delharc`, the crate (and the version, 0.6)
//! ClamAV itself reads them with: every method it decodes by default
//! (`-lh0-`, `-lh1-`, `-lh4-` to `-lh7-`, `-lz4-`, `-lzs-`, `-lz5-`),
//! header levels 0 to 3. LHA has no encryption; a member in a method
//! not decoded (`-lhx-`, PMarc's `-pm?-`, as in ClamAV) is not scanned,
//! and the rest of the archive is.

use std::io::Read;

use super::{Member, Sink, Unpacked};
use crate::verdict::Reason;

pub(crate) fn lha<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    // A crafted header could still trip an assertion inside the crate:
    // that is a damaged archive, not a failed scan.
    let walk = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut rd = delharc::LhaDecodeReader::new(data).ok()?;
        let mut position = 0u32;
        loop {
            if out.done() {
                return Some(());
            }
            let h = rd.header();
            let (packed, size) = (h.compressed_size, h.original_size);
            let (name, directory) =
                (h.parse_pathname_to_str(), h.is_directory());
            if !directory {
                if out.wants_members()
                    && out.member(Member {
                        name: Some(name.as_bytes()),
                        size_in_container: packed,
                        size_real: size,
                        encrypted: false,
                        position,
                    })
                {
                    return Some(());
                }
                // ClamAV counts the files (not directories) from 0.
                position = position.saturating_add(1);
                if packed > data.len() as u64 {
                    out.skip(Reason::Malformed { format: "LHA" });
                    return Some(());
                }
                // Checked before decoding, as ClamAV does: a small
                // member may claim and make megabytes, hundreds of times.
                let b = out.sink.budget();
                let (max_file, left) = (b.max_file, b.bytes_left);
                if size > max_file {
                    out.skip(Reason::FileSizeLimit);
                } else if size > left {
                    out.skip(Reason::ScanSizeLimit);
                    if left == 0 {
                        return Some(());
                    }
                } else if !rd.is_decoder_supported() {
                    out.skip(Reason::Malformed { format: "LHA" });
                } else {
                    let mut member = Vec::new();
                    // The header's size bounds the output; a decoder that
                    // would run past it is stopped there.
                    let read = (&mut rd)
                        .take(size.min(max_file))
                        .read_to_end(&mut member);
                    if read.is_err() && member.is_empty() {
                        out.skip(Reason::Malformed { format: "LHA" });
                    } else {
                        // What decoded is scanned, whole or cut short, as
                        // the other archives' damaged members are.
                        out.push_slice(name, member);
                    }
                }
            }
            match rd.next_file() {
                Ok(true) => {}
                Ok(false) => return Some(()),
                Err(_) => {
                    out.skip(Reason::Malformed { format: "LHA" });
                    return Some(());
                }
            }
        }
    }));
    if !matches!(walk, Ok(Some(()))) {
        out.skip(Reason::Malformed { format: "LHA" });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A level-0 header for one stored (`-lh0-`) member.
    fn stored(name: &[u8], data: &[u8]) -> Vec<u8> {
        stored_claiming(name, data, data.len() as u32)
    }

    /// The same, its header claiming `size` bytes once extracted.
    fn stored_claiming(name: &[u8], data: &[u8], size: u32) -> Vec<u8> {
        let mut h = vec![0u8, 0];
        h.extend(b"-lh0-");
        h.extend((data.len() as u32).to_le_bytes());
        h.extend(size.to_le_bytes());
        h.extend([0, 0, 0, 0]); // DOS time
        h.extend([0x20, 0]); // attribute, level 0
        h.push(name.len() as u8);
        h.extend(name);
        h.extend(crc16(data).to_le_bytes());
        h[0] = (h.len() - 2) as u8;
        h[1] = h[2..].iter().fold(0u8, |s, b| s.wrapping_add(*b));
        h.extend(data);
        h
    }

    /// CRC-16/ARC, as LHA stores it.
    fn crc16(d: &[u8]) -> u16 {
        let mut c = 0u16;
        for &b in d {
            c ^= u16::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 { (c >> 1) ^ 0xa001 } else { c >> 1 };
            }
        }
        c
    }

    #[test]
    fn stored_members_are_children_and_damage_is_reported() {
        let mut a = stored(b"a.txt", b"first member");
        a.extend(stored(b"b.txt", b"second"));
        a.push(0);
        assert!(crate::filetype::is_lha(&a));
        let mut c =
            crate::unpack::tests::collect(crate::unpack::tests::budget());
        let skipped = lha(&a, &mut c).skipped;
        let kids: Vec<_> = c.children.iter().map(|x| x.1.clone()).collect();
        assert_eq!(kids, vec![b"first member".to_vec(), b"second".to_vec()]);
        assert_eq!(skipped, None);

        // Cut inside the second member: the first is still scanned.
        let cut = &a[..a.len() - 4];
        let mut c =
            crate::unpack::tests::collect(crate::unpack::tests::budget());
        let skipped = lha(cut, &mut c).skipped;
        assert_eq!(c.children[0].1, b"first member");
        assert_eq!(skipped, Some(Reason::Malformed { format: "LHA" }));
    }

    #[test]
    fn a_member_claiming_4_gb_is_not_read() {
        let mut a = stored_claiming(b"big.bin", b"tiny", u32::MAX);
        a.extend(stored(b"next.txt", b"still scanned"));
        a.push(0);
        let mut c =
            crate::unpack::tests::collect(crate::unpack::tests::budget());
        let skipped = lha(&a, &mut c).skipped;
        let kids: Vec<_> = c.children.iter().map(|x| x.1.clone()).collect();
        assert_eq!(kids, vec![b"still scanned".to_vec()]);
        assert_eq!(skipped, Some(Reason::FileSizeLimit));
    }
}
