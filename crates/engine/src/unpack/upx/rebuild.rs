//! Turning UPX's unpacked image back into a PE file, as ClamAV does, so
//! that the file scanned (and hashed) is the one clamscan scans.
//!
//! UPX keeps the original PE header after the image and its import
//! list. The header is found through the stub (`lea edi, [esi + N]`,
//! N the import list's offset, at one of a few places past the entry
//! point, or searched for), then by walking the import list to its end,
//! or failing both by looking back from the end of the data for a
//! plausible header. Each section is then laid out at file offsets
//! aligned to the section alignment, behind ClamAV's DOS header. With
//! no header at all, the data is wrapped in a one-section PE instead.
//!
//! The rebuild works in the decoder's buffer and leaves its changes
//! there even when it gives up half-way, because ClamAV scans that
//! buffer either way.

use crate::unpack::pe32::dos_header;
pub(super) use crate::unpack::pe32::{align_down, align_up};

/// The PE header (one section, `.clam01`) ClamAV puts in front of data
/// it found no header for; sizes filled in by the caller.
fn one_section_header() -> [u8; 0x120] {
    let mut h = [0u8; 0x120];
    let mut put = |at: usize, v: &[u8]| h[at..at + v.len()].copy_from_slice(v);
    put(0, b"PE\0\0");
    put(4, &0x14cu16.to_le_bytes()); // i386
    put(6, &1u16.to_le_bytes());
    put(8, b"CLAM"); // TimeDateStamp
    put(0x14, &0xe0u16.to_le_bytes());
    put(0x16, &0x8f83u16.to_le_bytes());
    put(0x18, &0x10bu16.to_le_bytes());
    // SizeOfCode, SizeOfInitializedData, (uninitialised 0), entry
    // point, BaseOfCode, BaseOfData.
    for at in [0x1c, 0x20, 0x28, 0x2c, 0x30] {
        put(at, &0x1000u32.to_le_bytes());
    }
    put(0x34, &0x40_0000u32.to_le_bytes()); // ImageBase
    put(0x38, &0x1000u32.to_le_bytes()); // SectionAlignment
    put(0x3c, &0x200u32.to_le_bytes()); // FileAlignment
    put(0x40, &1u16.to_le_bytes()); // OS 1.0
    put(0x48, &3u16.to_le_bytes()); // subsystem 3.10
    put(0x4a, &10u16.to_le_bytes());
    put(0x50, &u32::MAX.to_le_bytes()); // SizeOfImage
    put(0x54, &0x200u32.to_le_bytes()); // SizeOfHeaders
    put(0x5c, &2u16.to_le_bytes()); // GUI
    for (at, v) in [(0x60, 0x10_0000u32), (0x64, 0x1000), (0x68, 0x10_0000)] {
        put(at, &v.to_le_bytes());
    }
    put(0x6c, &0x1000u32.to_le_bytes());
    put(0x74, &16u32.to_le_bytes()); // NumberOfRvaAndSizes
    put(0xf8, b".clam01\0");
    put(0x100, &u32::MAX.to_le_bytes()); // VirtualSize
    put(0x104, &0x1000u32.to_le_bytes());
    put(0x108, &u32::MAX.to_le_bytes()); // SizeOfRawData
    put(0x10c, &0x200u32.to_le_bytes());
    put(0x11c, &u32::MAX.to_le_bytes()); // Characteristics
    h
}

/// ClamAV's test for `len` bytes at `at` inside `size` bytes.
fn inside(size: u64, at: u64, len: u64) -> bool {
    size > 0 && len > 0 && len <= size && at.saturating_add(len) <= size
}

fn u32_at(d: &[u8], at: u64) -> Option<u32> {
    let at = usize::try_from(at).ok()?;
    Some(u32::from_le_bytes(d.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn put32(d: &mut [u8], at: u64, v: u32) {
    if let Ok(at) = usize::try_from(at)
        && let Some(s) = d.get_mut(at..at.saturating_add(4))
    {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

/// A PE header at `at` in the first `size` bytes of `dst`, as the
/// rebuild wants one: its section alignment and section count.
fn header_at(dst: &[u8], size: u64, at: u64) -> Option<(u32, u32)> {
    if !inside(size, at, 0xf8) || u32_at(dst, at)? != 0x4550 {
        return None;
    }
    let align = u32_at(dst, at + 0x38).filter(|&a| a != 0)?;
    let count = u32_at(dst, at + 4)? >> 16;
    (count != 0 && inside(size, at + 0xf8, u64::from(count) * 0x28))
        .then_some((align, count))
}

/// What the stub and the unpacked data say, for [`rebuild`].
pub(super) struct Image<'a> {
    /// The packed data from where decoding started, as long as ClamAV
    /// takes it.
    pub(super) src: &'a [u8],
    /// The entry point's RVA, less the skew decoding started at.
    pub(super) ep: u32,
    /// The RVAs of the two sections (UPX0 and UPX1).
    pub(super) upx0: u32,
    pub(super) upx1: u32,
    /// Where in the stub the import list's offset may be.
    pub(super) stub_offsets: &'static [u32],
    /// Bytes the decoder wrote.
    pub(super) end: u32,
}

/// ClamAV's rebuild of `dst` (its first `size` bytes the image, the
/// rest spare room ClamAV allocates too); `size` becomes the rebuilt
/// file's length when there is one.
pub(super) fn rebuild(img: &Image<'_>, dst: &mut [u8], size: &mut u32) {
    let src = img.src;
    let ssize = src.len() as u64;
    let ep_at = img.ep.wrapping_sub(img.upx1);
    let mut lea = img.stub_offsets.iter().copied().find(|&off| {
        let at = u64::from(ep_at.wrapping_add(off).wrapping_sub(2));
        inside(ssize.wrapping_sub(5) & 0xffff_ffff, at, 2)
            && src.get(at as usize..at as usize + 2) == Some(&[0x8d, 0xbe])
    });
    if lea.is_none() {
        // No stub where expected: the first `lea edi, [esi + N]` followed
        // by `mov eax, [edi]` from 0x80 bytes past the entry point on.
        let from = u64::from(ep_at.wrapping_add(0x80));
        if inside(ssize.wrapping_sub(8) & 0xffff_ffff, from, 8) {
            // The pair may start up to ten bytes before the end.
            let from = from as usize;
            let end = src.len().saturating_sub(2);
            lea = src
                .get(from..end)
                .and_then(|s| {
                    s.windows(8).position(|w| {
                        w[..2] == [0x8d, 0xbe] && w[6..8] == [0x8b, 0x07]
                    })
                })
                .map(|p| ((from + p + 2) as u32).wrapping_sub(ep_at));
        }
    }
    let dsize = u64::from(*size);
    let mut found = None;
    let mut stuff = 0u32;
    if let Some(off) = lea.filter(|&o| o != 0) {
        let at = u64::from(ep_at.wrapping_add(off));
        if inside(ssize, at, 4)
            && let Some(imports) = u32_at(src, at)
        {
            stuff = imports;
            if u64::from(imports) < dsize {
                let mut p = u64::from(imports);
                // Each DLL: two words, then its names up to an empty one;
                // a zero word ends the list, the header follows.
                while inside(dsize, p, 8) && u32_at(dst, p) != Some(0) {
                    p += 8;
                    while inside(dsize, p, 2) && dst[p as usize] != 0 {
                        p += 1;
                        while inside(dsize, p, 2) && dst[p as usize] != 0 {
                            p += 1;
                        }
                        p += 1;
                    }
                    p += 1;
                }
                p += 4;
                found = header_at(dst, dsize, p).map(|h| (p, h));
            }
        }
    }
    let end = u64::from(img.end);
    if found.is_none() && end > 0xf8 + 0x28 {
        // Backwards from the end of the data, the first offset that
        // holds a header.
        let mut upto = (end - 0x120) as usize;
        while upto > 0 {
            let hay = &dst[..(upto + 4).min(dst.len())];
            let Some(p) = memchr::memmem::rfind(hay, b"PE\0\0") else {
                break;
            };
            if p == 0 {
                break;
            }
            if let Some(h) = header_at(dst, dsize, p as u64) {
                found = Some((p as u64, h));
                stuff = p as u32;
                break;
            }
            upto = p - 1;
        }
    }
    let Some((pe, (align, count))) = found else {
        wrap(dst, img.end, size);
        return;
    };
    lay_out(dst, size, pe, align, count, img.upx0, stuff);
}

/// No header: the data behind ClamAV's one-section PE.
fn wrap(dst: &mut [u8], end: u32, size: &mut u32) {
    let image = align_up(end, 0x1000);
    let (end, total) = (end as usize, image as usize + 0x200);
    if dst.len() < total.max(end + 0x200) {
        return;
    }
    dst.copy_within(..end, 0x200);
    dst[..0xd0].copy_from_slice(&dos_header());
    dst[0xd0..0x1f0].copy_from_slice(&one_section_header());
    dst[0x1f0..0x200].fill(0);
    put32(dst, 0xd0 + 0x50, image.wrapping_add(0x1000));
    put32(dst, 0xd0 + 0x100, image);
    put32(dst, 0xd0 + 0x108, image);
    *size = image + 0x200;
}

/// The sections of the header at `pe` laid out one after the other at
/// `align`, behind the header, in a new file that replaces `dst`'s start.
fn lay_out(
    dst: &mut [u8],
    size: &mut u32,
    pe: u64,
    align: u32,
    count: u32,
    upx0: u32,
    stuff: u32,
) {
    let table = pe + 0xf8;
    let headers = 0xd0 + 0xf8 + 0x28 * count;
    let mut offset = align_up(headers, align);
    for k in 0..u64::from(count) {
        let s = table + 0x28 * k;
        let (Some(vsize), Some(rva)) =
            (u32_at(dst, s + 8), u32_at(dst, s + 12))
        else {
            return;
        };
        let (vsize, rva) = (align_up(vsize, align), align_down(rva, align));
        let (lo, len) = (u64::from(upx0), u64::from(vsize));
        if !(u64::from(stuff) > 0
            && len > 0
            && len <= u64::from(stuff)
            && u64::from(rva) >= lo
            && u64::from(rva) + len <= lo + u64::from(stuff))
        {
            // ClamAV gives up here with the sections before rewritten.
            return;
        }
        for (at, v) in [(8, vsize), (12, rva), (16, vsize), (20, offset)] {
            put32(dst, s + at, v);
        }
        let Some(next) = offset.checked_add(vsize) else { return };
        offset = next;
    }
    put32(dst, pe + 8, u32::from_le_bytes(*b"CLAM"));
    put32(dst, pe + 0x3c, align);
    // A rebuilt file larger than the room ClamAV allocated is given up
    // (so is one that could not hold its own headers: rounding wrapped).
    let total = offset as usize;
    if u64::from(offset) > u64::from(*size) + 8192
        || offset > 1 << 30
        || offset < headers
        || total > dst.len()
    {
        return;
    }
    let mut file = vec![0u8; total];
    file[..0xd0].copy_from_slice(&dos_header());
    let hlen = 0xf8 + 0x28 * count as usize;
    let pe = pe as usize;
    file[0xd0..0xd0 + hlen].copy_from_slice(&dst[pe..pe + hlen]);
    for k in 0..count as usize {
        let s = (table as usize) + 0x28 * k;
        let field = |at: usize| u32_at(dst, (s + at) as u64).unwrap_or(0);
        let (raw, len, rva) = (field(20), field(16), field(12));
        let from = rva.wrapping_sub(upx0) as usize;
        let (Some(to), Some(data)) = (
            file.get_mut(raw as usize..raw as usize + len as usize),
            dst.get(from..from + len as usize),
        ) else {
            return;
        };
        to.copy_from_slice(data);
    }
    dst[..total].copy_from_slice(&file);
    *size = offset;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clamav_headers_are_their_size() {
        let h = dos_header();
        assert_eq!(&h[..2], b"MZ");
        // The text ends in '$' with the header's last three bytes zero.
        assert_eq!(&h[0xcc..], &[b'$', 0, 0, 0]);
        assert_eq!(&one_section_header()[0xf8..0x100], b".clam01\0");
    }

    #[test]
    fn data_without_a_header_is_wrapped() {
        let mut dst = vec![7u8; 0x300 + 8192];
        let mut size = 0x300;
        let img = Image {
            src: &[0; 0x40],
            ep: 0x2000,
            upx0: 0x1000,
            upx1: 0x2000,
            stub_offsets: &[0x108],
            end: 0x100,
        };
        rebuild(&img, &mut dst, &mut size);
        assert_eq!(size, 0x1200);
        assert_eq!(&dst[0xd0..0xd4], b"PE\0\0");
        assert_eq!(u32_at(&dst, 0xd0 + 0x50), Some(0x2000));
        assert_eq!(&dst[0x200..0x300], &[7; 0x100][..]);
    }
}
