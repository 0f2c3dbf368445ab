//! UDF images (ECMA-167 as OSTA's UDF profiles it): the file system of
//! DVDs and of the disk images mail carries to slip past ISO 9660
//! readers (an image whose ISO descriptors are gone or never were). Read
//! from the anchor at sector 256: the volume descriptors give the
//! partition and the logical volume, its file set gives the root, and
//! every file entry's extents are read from memory, as far as a damaged
//! or cut image goes. An image that also has ISO 9660 descriptors (a
//! bridge) is read by `iso.rs`.
//!
//! ClamAV's reader walks the descriptors in the order one writer lays
//! them out and finds nothing in others' images (genisoimage's, for
//! one); this one follows the pointers.

use std::collections::HashSet;

use super::{Sink, Unpacked};
use crate::verdict::Reason;

const DAMAGED: Reason = Reason::Malformed { format: "UDF" };

/// Directories and files visited at most: far more than any real image,
/// few enough that a crafted one costs little.
const MAX_ENTRIES: usize = 100_000;

/// Directory depth at most (a loop in the tree is also stopped by the
/// set of entries seen).
const MAX_DEPTH: u32 = 64;

pub(crate) fn udf<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    match Volume::open(data) {
        Some(v) => v.walk(&mut out),
        None => out.skip(DAMAGED),
    }
    out
}

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(at..at + 8)?.try_into().ok()?))
}

/// A descriptor's tag identifier, when its tag checksum holds.
fn tag(d: &[u8]) -> Option<u16> {
    let t = d.get(..16)?;
    let sum = t
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != 4)
        .fold(0u8, |s, (_, &b)| s.wrapping_add(b));
    (sum == t[4]).then(|| u16::from_le_bytes([t[0], t[1]]))
}

/// The mounted view: block size, where the (type 1) partition starts.
struct Volume<'a> {
    data: &'a [u8],
    block: usize,
    partition_start: u64,
    root: u64,
}

impl<'a> Volume<'a> {
    fn open(data: &'a [u8]) -> Option<Volume<'a>> {
        // The anchor is at sector 256; the logical sector size is 2048 on
        // optical media and may be 512 (or 4096) in an image of a disk.
        let (block, avdp) =
            [2048usize, 512, 4096].into_iter().find_map(|b| {
                let d = data.get(256 * b..256 * b + b)?;
                (tag(d) == Some(2)).then_some((b, d))
            })?;
        let (vds_len, vds_at) = (u32_at(avdp, 16)?, u32_at(avdp, 20)?);
        let mut partition_start = None;
        let mut fsd_lbn = None;
        let sectors = (vds_len as usize / block).clamp(1, 64);
        for n in 0..sectors {
            let at = (vds_at as usize + n).checked_mul(block)?;
            let Some(d) = data.get(at..at + block) else { break };
            match tag(d) {
                Some(5) => partition_start = Some(u32_at(d, 188)?),
                Some(6) => fsd_lbn = Some(u32_at(d, 252)?),
                Some(8) => break,
                _ => {}
            }
        }
        let partition_start = u64::from(partition_start?);
        let fsd_at = (partition_start + u64::from(fsd_lbn?)) * block as u64;
        let fsd = data.get(usize::try_from(fsd_at).ok()?..)?;
        if tag(fsd) != Some(256) {
            return None;
        }
        let root = u64::from(u32_at(fsd, 404)?);
        Some(Volume { data, block, partition_start, root })
    }

    /// The bytes of partition block `lbn` on.
    fn at(&self, lbn: u64) -> Option<&'a [u8]> {
        let off =
            (self.partition_start + lbn).checked_mul(self.block as u64)?;
        self.data.get(usize::try_from(off).ok()?..)
    }

    fn walk(&self, out: &mut Unpacked<'_>) {
        // Directories may share their extents: all listings together read
        // at most a few times the image, however many a crafted one has.
        let mut listing_budget = 4 * self.data.len() as u64 + (1 << 20);
        let mut seen = HashSet::new();
        let mut dirs = vec![(self.root, String::new(), 0u32)];
        while let Some((icb, path, depth)) = dirs.pop() {
            if out.done() || seen.len() >= MAX_ENTRIES {
                return;
            }
            if depth > MAX_DEPTH || !seen.insert(icb) {
                continue;
            }
            let Some(entry) = self.entry(icb) else {
                out.skip(DAMAGED);
                continue;
            };
            let listing = self.content(&entry, listing_budget);
            listing_budget -= listing.bytes.len() as u64;
            if listing.cut || entry.size > listing.bytes.len() as u64 {
                out.skip(DAMAGED);
            }
            for (name, child, is_dir) in identifiers(&listing.bytes) {
                let path = format!("{path}/{name}");
                if is_dir {
                    dirs.push((child, path, depth + 1));
                    continue;
                }
                if out.done() || seen.len() >= MAX_ENTRIES {
                    return;
                }
                if !seen.insert(child) {
                    continue;
                }
                let Some(file) = self.entry(child) else {
                    out.skip(DAMAGED);
                    continue;
                };
                // Checked before the copy, as in `iso.rs`: files sharing
                // one region must not cost a copy each once the scan's
                // budget is spent.
                let b = out.sink.budget();
                let (max_file, left) = (b.max_file, b.bytes_left);
                if file.size > max_file {
                    out.skip(Reason::FileSizeLimit);
                    continue;
                }
                if file.size > left {
                    out.skip(Reason::ScanSizeLimit);
                    if left == 0 {
                        return;
                    }
                    continue;
                }
                let content = self.content(&file, file.size);
                if content.cut {
                    out.skip(DAMAGED);
                }
                out.push(
                    path.trim_start_matches('/').to_string(),
                    content.bytes,
                );
            }
        }
    }

    fn entry(&self, lbn: u64) -> Option<Entry<'a>> {
        let d = self.at(lbn)?;
        // File entry, extended file entry: where their lengths and
        // allocation descriptors sit.
        let (l_ea, l_ad, base) = match tag(d)? {
            261 => (u32_at(d, 168)?, u32_at(d, 172)?, 176usize),
            266 => (u32_at(d, 208)?, u32_at(d, 212)?, 216usize),
            _ => return None,
        };
        let start = base.checked_add(l_ea as usize)?;
        let ads = d.get(start..start.checked_add(l_ad as usize)?)?;
        Some(Entry { kind: u16_at(d, 34)? & 7, size: u64_at(d, 56)?, ads })
    }

    /// An entry's data, at most `max` bytes of it (and never more than it
    /// says it holds); `cut` when an extent lies past the image's end.
    fn content(&self, e: &Entry<'a>, max: u64) -> Content {
        let want = e.size.min(max);
        let mut c = Content { bytes: Vec::new(), cut: false };
        if e.kind == 3 {
            // The data is in the entry itself.
            let n =
                e.ads.len().min(usize::try_from(want).unwrap_or(usize::MAX));
            c.bytes.extend_from_slice(&e.ads[..n]);
            return c;
        }
        let step = match e.kind {
            0 => 8,
            1 => 16,
            _ => {
                c.cut = true;
                return c;
            }
        };
        for ad in e.ads.chunks_exact(step) {
            let left = want - c.bytes.len() as u64;
            if left == 0 {
                break;
            }
            let (Some(raw), Some(lbn)) = (u32_at(ad, 0), u32_at(ad, 4)) else {
                break;
            };
            let (kind, len) = (raw >> 30, u64::from(raw & 0x3fff_ffff));
            let n = len.min(left) as usize;
            match kind {
                // Recorded.
                0 => match self.at(u64::from(lbn)) {
                    Some(d) if d.len() >= n => {
                        c.bytes.extend_from_slice(&d[..n])
                    }
                    Some(d) => {
                        c.bytes.extend_from_slice(d);
                        c.cut = true;
                        break;
                    }
                    None => {
                        c.cut = true;
                        break;
                    }
                },
                // Allocated or not, never written: zeros to a reader.
                1 | 2 => c.bytes.resize(c.bytes.len() + n, 0),
                // A continuation of the descriptors elsewhere: not
                // followed (no writer of mail-sized images uses it).
                _ => {
                    c.cut = true;
                    break;
                }
            }
        }
        c
    }
}

struct Entry<'a> {
    /// How the allocation descriptors are written (ICB flags & 7).
    kind: u16,
    /// Information length.
    size: u64,
    ads: &'a [u8],
}

struct Content {
    bytes: Vec<u8>,
    cut: bool,
}

/// A directory's file identifier descriptors: (name, ICB block, whether
/// a directory), parents and deleted entries left out.
fn identifiers(d: &[u8]) -> Vec<(String, u64, bool)> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(fid) = d.get(at..) {
        if fid.len() < 38 || tag(fid) != Some(257) {
            break;
        }
        let (flags, l_fi) = (fid[18], usize::from(fid[19]));
        let (Some(icb), Some(l_iu)) = (u32_at(fid, 24), u16_at(fid, 36))
        else {
            break;
        };
        let name_at = 38 + usize::from(l_iu);
        let Some(name) = fid.get(name_at..name_at + l_fi) else { break };
        if flags & 0x0c == 0 {
            out.push((cs0(name), u64::from(icb), flags & 0x02 != 0));
        }
        at += (name_at + l_fi).next_multiple_of(4);
    }
    out
}

/// OSTA compressed Unicode: a byte saying 8 or 16 bits per character.
fn cs0(n: &[u8]) -> String {
    match n.split_first() {
        Some((16, rest)) => char::decode_utf16(
            rest.chunks_exact(2).map(|p| u16::from_be_bytes([p[0], p[1]])),
        )
        .map(|c| c.unwrap_or('\u{fffd}'))
        .collect(),
        Some((_, rest)) => rest.iter().map(|&b| char::from(b)).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unpack::tests::{budget, collect};

    const B: usize = 2048;

    /// A descriptor tag with its checksum.
    fn tagged(id: u16, body: &mut [u8]) {
        body[..2].copy_from_slice(&id.to_le_bytes());
        body[2] = 2;
        let sum = body[..16]
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != 4)
            .fold(0u8, |s, (_, &b)| s.wrapping_add(b));
        body[4] = sum;
    }

    fn put32(d: &mut [u8], at: usize, v: u32) {
        d[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    /// A file entry with short allocation descriptors, or embedded data
    /// when `embedded` is given.
    fn file_entry(
        size: u64,
        extents: &[(u32, u32)],
        embedded: Option<&[u8]>,
    ) -> Vec<u8> {
        let mut e = vec![0u8; B];
        let ads: Vec<u8> = match embedded {
            Some(d) => d.to_vec(),
            None => extents
                .iter()
                .flat_map(|&(len, lbn)| {
                    [len.to_le_bytes(), lbn.to_le_bytes()].concat()
                })
                .collect(),
        };
        e[34] = if embedded.is_some() { 3 } else { 0 };
        e[56..64].copy_from_slice(&size.to_le_bytes());
        put32(&mut e, 172, ads.len() as u32);
        e[176..176 + ads.len()].copy_from_slice(&ads);
        tagged(261, &mut e);
        e
    }

    fn fid(name: &str, icb: u32, flags: u8) -> Vec<u8> {
        let mut n = vec![8u8];
        n.extend(name.as_bytes());
        let l_fi = if name.is_empty() { 0 } else { n.len() };
        let mut f = vec![0u8; (38 + l_fi).next_multiple_of(4)];
        f[18] = flags;
        f[19] = l_fi as u8;
        put32(&mut f, 24, icb);
        f[38..38 + l_fi].copy_from_slice(&n[..l_fi]);
        tagged(257, &mut f);
        f
    }

    /// An image: partition at sector 300; block 0 the file set, block 1
    /// the root, block 2 its listing, then `blocks` as given.
    fn image(listing: &[u8], blocks: &[Vec<u8>]) -> Vec<u8> {
        let mut img = vec![0u8; (300 + 3 + blocks.len()) * B];
        for (s, id) in [(16, b"BEA01"), (17, b"NSR02"), (18, b"TEA01")] {
            img[s * B + 1..s * B + 6].copy_from_slice(id);
        }
        let sector = |img: &mut Vec<u8>, s: usize, d: &[u8]| {
            img[s * B..s * B + d.len()].copy_from_slice(d);
        };
        let mut avdp = vec![0u8; B];
        put32(&mut avdp, 16, (3 * B) as u32);
        put32(&mut avdp, 20, 32);
        tagged(2, &mut avdp);
        sector(&mut img, 256, &avdp);
        let mut pd = vec![0u8; B];
        put32(&mut pd, 188, 300);
        tagged(5, &mut pd);
        sector(&mut img, 32, &pd);
        let mut lvd = vec![0u8; B];
        put32(&mut lvd, 252, 0);
        tagged(6, &mut lvd);
        sector(&mut img, 33, &lvd);
        let mut td = vec![0u8; B];
        tagged(8, &mut td);
        sector(&mut img, 34, &td);
        let mut fsd = vec![0u8; B];
        put32(&mut fsd, 404, 1);
        tagged(256, &mut fsd);
        sector(&mut img, 300, &fsd);
        sector(
            &mut img,
            301,
            &file_entry(
                listing.len() as u64,
                &[(listing.len() as u32, 2)],
                None,
            ),
        );
        sector(&mut img, 302, listing);
        for (i, b) in blocks.iter().enumerate() {
            sector(&mut img, 303 + i, b);
        }
        img
    }

    fn children(img: &[u8]) -> (Vec<(String, Vec<u8>)>, Option<Reason>) {
        let mut c = collect(budget());
        let skipped = udf(img, &mut c).skipped;
        (c.children, skipped)
    }

    #[test]
    fn files_in_directories_and_embedded_data() {
        let text = b"a file recorded in its own block".to_vec();
        let listing = [
            fid("", 1, 0x08),
            fid("a.txt", 3, 0),
            fid("sub", 4, 0x02),
            fid("gone.txt", 3, 0x04),
        ]
        .concat();
        let sub = [fid("", 1, 0x08), fid("inside.txt", 6, 0)].concat();
        let mut data_block = text.clone();
        data_block.resize(B, 0);
        let img = image(
            &listing,
            &[
                file_entry(text.len() as u64, &[(text.len() as u32, 5)], None),
                file_entry(sub.len() as u64, &[(sub.len() as u32, 7)], None),
                data_block,
                file_entry(8, &[], Some(b"embedded")),
                sub,
            ],
        );
        assert!(crate::filetype::is_udf(&img));
        let (kids, skipped) = children(&img);
        let names: Vec<_> = kids.iter().map(|k| k.0.as_str()).collect();
        assert_eq!(names, ["a.txt", "sub/inside.txt"]);
        assert_eq!(kids[0].1, text);
        assert_eq!(kids[1].1, b"embedded");
        assert_eq!(skipped, None);
    }

    #[test]
    fn loops_cut_images_and_huge_claims_end() {
        // The root lists itself as a subdirectory, and a file whose
        // extents claim a gigabyte of unrecorded zeros many times over.
        let listing =
            [fid("", 1, 0x08), fid("loop", 1, 0x02), fid("big", 3, 0)]
                .concat();
        let extents = vec![(0x8000_0000 | 0x3fff_ffff, 0); 100];
        let img = image(&listing, &[file_entry(100 << 30, &extents, None)]);
        let t = std::time::Instant::now();
        let (kids, skipped) = children(&img);
        assert!(kids.is_empty());
        assert_eq!(skipped, Some(Reason::FileSizeLimit));
        assert!(t.elapsed() < std::time::Duration::from_secs(2));
        // Cut in the middle of the partition: no panic, damage said.
        let text = vec![b'x'; 3 * B];
        let listing = [fid("", 1, 0x08), fid("a.txt", 3, 0)].concat();
        let img = image(
            &listing,
            &[
                file_entry(text.len() as u64, &[(text.len() as u32, 4)], None),
                text[..B].to_vec(),
                text[B..2 * B].to_vec(),
                text[2 * B..].to_vec(),
            ],
        );
        let cut = &img[..img.len() - 2 * B];
        let (kids, skipped) = children(cut);
        assert_eq!(kids[0].1.len(), B);
        assert_eq!(skipped, Some(DAMAGED));
        // No anchor at all.
        assert_eq!(children(&img[..200 * B]).1, Some(DAMAGED));
    }
}
