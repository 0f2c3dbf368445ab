//! ISO 9660 disk images (`.iso`, and `.img` files that are CD images),
//! the way mail has carried malware since 2022: every file of the
//! primary directory tree and of the Joliet tree (UTF-16 names), each
//! file's extent scanned once however many trees name it. Rock Ridge
//! images are ISO 9660 underneath and read the same way; a UDF bridge
//! image has an ISO 9660 tree beside its UDF one.
//!
//! As ClamAV: 2048-byte sectors or raw 2352-byte ones, logical blocks
//! of 512, 1024 or 2048 bytes, interleaved files skipped, at most 1024
//! directories. A file cut short by the end of the image is scanned as
//! far as it goes.

use std::collections::HashSet;

use super::{Member, Sink, Unpacked};
use crate::filetype::{iso_descriptor as descriptor, iso_primary as primary};
use crate::verdict::Reason;

/// Directory blocks read at most, over all directories (a crafted image
/// could name thousands, or give one a length of gigabytes), as ClamAV.
const MAX_DIR_BLOCKS: usize = 1024;

fn le32(d: &[u8], at: usize) -> u32 {
    d.get(at..at + 4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

struct Image<'a> {
    data: &'a [u8],
    /// Where sector 0 starts.
    base: usize,
    sect: usize,
    block: usize,
}

impl Image<'_> {
    /// The bytes of logical block `b` (short at the end of the image).
    fn block(&self, b: u32) -> Option<&[u8]> {
        let per_sector = 2048 / self.block;
        let b = b as usize;
        let off = self.base.checked_add(
            (b / per_sector)
                .checked_mul(self.sect)?
                .checked_add((b % per_sector) * self.block)?,
        )?;
        let d = self.data.get(off..)?;
        Some(&d[..d.len().min(self.block)])
    }

    /// `len` bytes from block `b` on, as far as the image goes.
    fn extent(&self, b: u32, len: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let mut b = b;
        while (out.len() as u64) < len {
            let Some(blk) = self.block(b) else { break };
            if blk.is_empty() {
                break;
            }
            let want = (len - out.len() as u64).min(blk.len() as u64);
            out.extend_from_slice(&blk[..want as usize]);
            b = b.saturating_add(1);
        }
        out
    }
}

/// One directory record's fields that matter here.
struct Record {
    name: String,
    extent: u32,
    size: u32,
    directory: bool,
    interleaved: bool,
}

/// The records of the directory at block `b`, `len` bytes, without `.`
/// and `..`. Records do not cross a block: a zero length byte ends the
/// block's records, a record longer than what is left the directory's.
/// Each block is counted in `seen`: one read before (a loop, or two
/// directories sharing blocks) ends the directory, and so does the
/// budget of [`MAX_DIR_BLOCKS`] (then the flag is set: no directory is
/// read after this one).
fn records(
    img: &Image<'_>,
    b: u32,
    len: u32,
    joliet: bool,
    seen: &mut HashSet<u32>,
) -> (Vec<Record>, bool) {
    let mut out = Vec::new();
    let blocks = (len as usize).div_ceil(img.block);
    for i in 0..blocks {
        let n = b.saturating_add(i as u32);
        if !seen.insert(n) {
            break;
        }
        if seen.len() > MAX_DIR_BLOCKS {
            return (out, true);
        }
        let Some(blk) = img.block(n) else { break };
        let mut at = 0;
        while at < blk.len() {
            let rec_len = blk[at] as usize;
            if rec_len == 0 {
                break;
            }
            if at + rec_len > blk.len() {
                return (out, false);
            }
            let r = &blk[at..at + rec_len];
            at += rec_len;
            if r.len() < 34 {
                continue;
            }
            let name_len = (r[32] as usize).min(r.len() - 33);
            let raw = &r[33..33 + name_len];
            if name_len == 1 && raw[0] <= 1 {
                continue;
            }
            let mut name = if joliet {
                let units: Vec<u16> = raw
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16_lossy(&units)
            } else {
                String::from_utf8_lossy(raw).into_owned()
            };
            if let Some(v) = name.find(';') {
                name.truncate(v);
            }
            out.push(Record {
                name,
                extent: le32(r, 2).saturating_add(u32::from(r[1])),
                size: le32(r, 10),
                directory: r[25] & 2 != 0,
                interleaved: r[26] != 0 || r[27] != 0,
            });
        }
    }
    (out, false)
}

pub(crate) fn iso9660<'s>(
    data: &[u8],
    sink: &'s mut dyn Sink,
) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let Some((pvd, sect)) = primary(data) else {
        out.skip(Reason::Malformed { format: "ISO9660" });
        return out;
    };
    let block = (le32(data, pvd + 128) & 0xffff) as usize;
    if ![512, 1024, 2048].contains(&block) {
        out.skip(Reason::Malformed { format: "ISO9660" });
        return out;
    }
    let img = Image { data, base: pvd - 16 * sect, sect, block };
    // The trees to walk: the primary one, then a Joliet one.
    let mut roots = vec![(pvd, false)];
    for i in 17..32 {
        let off = img.base + i * sect;
        match descriptor(data, off) {
            Some(2) => {
                let d = &data[off..];
                let escape = d.get(88..91);
                if matches!(escape, Some([0x25, 0x2f, 0x40 | 0x43 | 0x45])) {
                    roots.push((off, true));
                    break;
                }
            }
            Some(0xff) | None => break,
            Some(_) => {}
        }
    }
    let mut seen_dirs: HashSet<u32> = HashSet::new();
    let mut seen_files: HashSet<(u32, u32)> = HashSet::new();
    for (vd, joliet) in roots {
        // A descriptor at the very end of a cut image has no root.
        let Some(root) = data.get(vd + 156..) else { continue };
        if root.len() < 34 || root[26] != 0 || root[27] != 0 {
            continue;
        }
        let start = le32(root, 2).saturating_add(u32::from(root[1]));
        let mut dirs = vec![(start, le32(root, 10), String::new())];
        while let Some((b, len, path)) = dirs.pop() {
            if out.done() {
                return out;
            }
            let (records, exhausted) =
                records(&img, b, len, joliet, &mut seen_dirs);
            if exhausted {
                out.skip(Reason::FilesLimit);
                dirs.clear();
            }
            for r in records {
                let name = format!("{path}/{}", r.name);
                // Directories are described too, and interleaved files,
                // as ClamAV describes every record; neither is opened.
                if out.wants_members()
                    && out.member(Member {
                        name: Some(r.name.as_bytes()),
                        size_in_container: u64::from(r.size),
                        size_real: u64::from(r.size),
                        encrypted: false,
                        // ClamAV gives no position to an image's files.
                        position: 0,
                    })
                {
                    return out;
                }
                if r.interleaved {
                    continue;
                }
                if r.directory {
                    if !exhausted && !seen_dirs.contains(&r.extent) {
                        dirs.push((r.extent, r.size, name));
                    }
                    continue;
                }
                if !seen_files.insert((r.extent, r.size)) {
                    continue;
                }
                // Checked before the copy: files overlapping one region
                // under many sizes must not cost a copy each once the
                // scan's budget is spent.
                let b = out.sink.budget();
                let (max_file, left) = (b.max_file, b.bytes_left);
                if u64::from(r.size) > max_file {
                    out.skip(Reason::FileSizeLimit);
                    continue;
                }
                if u64::from(r.size) > left {
                    out.skip(Reason::ScanSizeLimit);
                    if left == 0 {
                        return out;
                    }
                    continue;
                }
                let file = img.extent(r.extent, u64::from(r.size));
                if (file.len() as u64) < u64::from(r.size) {
                    out.skip(Reason::Malformed { format: "ISO9660" });
                }
                out.push(name, file);
                if out.done() {
                    return out;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory record.
    fn record(name: &[u8], extent: u32, size: u32, dir: bool) -> Vec<u8> {
        let mut r = vec![0u8; 33];
        r[0] = (33 + name.len() + (name.len() + 1) % 2) as u8;
        r[2..6].copy_from_slice(&extent.to_le_bytes());
        r[10..14].copy_from_slice(&size.to_le_bytes());
        r[25] = if dir { 2 } else { 0 };
        r[32] = name.len() as u8;
        r.extend(name);
        r.resize(r[0] as usize, 0);
        r
    }

    /// An image whose root (block 18) holds a file at block 19 and a
    /// directory that is the root again.
    fn looped_image(file: &[u8]) -> Vec<u8> {
        let mut img = vec![0u8; 20 * 2048];
        let pvd = 16 * 2048;
        img[pvd] = 1;
        img[pvd + 1..pvd + 6].copy_from_slice(b"CD001");
        img[pvd + 128..pvd + 130].copy_from_slice(&2048u16.to_le_bytes());
        let root = record(b"\0", 18, 2048, true);
        img[pvd + 156..pvd + 156 + root.len()].copy_from_slice(&root);
        img[17 * 2048] = 0xff;
        img[17 * 2048 + 1..17 * 2048 + 6].copy_from_slice(b"CD001");
        let mut dir = record(b"\0", 18, 2048, true);
        dir.extend(record(b"\x01", 18, 2048, true));
        dir.extend(record(b"LOOP", 18, 2048, true));
        dir.extend(record(b"A.TXT;1", 19, file.len() as u32, false));
        img[18 * 2048..18 * 2048 + dir.len()].copy_from_slice(&dir);
        img.truncate(19 * 2048);
        img.extend(file);
        img
    }

    #[test]
    fn a_directory_of_4_gb_reads_at_most_its_block_budget() {
        let mut img = looped_image(b"x");
        let root = 16 * 2048 + 156;
        img[root + 10..root + 14].copy_from_slice(&u32::MAX.to_le_bytes());
        img.resize(img.len() + 1100 * 2048, 0);
        let mut c =
            crate::unpack::tests::collect(crate::unpack::tests::budget());
        let skipped = iso9660(&img, &mut c).skipped;
        // The file is found; what the blocks after it hold is read as
        // records too, up to the budget.
        assert_eq!(c.children[0].1, b"x");
        assert_eq!(skipped, Some(Reason::FilesLimit));
    }

    #[test]
    fn an_image_cut_inside_its_joliet_descriptor_is_read() {
        let mut img = looped_image(b"x");
        img.truncate(17 * 2048);
        // A Joliet descriptor whose root record the image does not hold.
        img[16 * 2048 + 2048..].fill(0);
        img.extend_from_slice(&[2, b'C', b'D', b'0', b'0', b'1']);
        img.resize(17 * 2048 + 91, 0);
        img[17 * 2048 + 88..17 * 2048 + 91]
            .copy_from_slice(&[0x25, 0x2f, 0x45]);
        let mut c =
            crate::unpack::tests::collect(crate::unpack::tests::budget());
        let _ = iso9660(&img, &mut c);
    }

    #[test]
    fn a_directory_loop_is_walked_once_and_a_cut_file_scanned() {
        let img = looped_image(b"the file's bytes");
        assert!(primary(&img).is_some());
        let mut c =
            crate::unpack::tests::collect(crate::unpack::tests::budget());
        let skipped = iso9660(&img, &mut c).skipped;
        let kids: Vec<_> = c.children.iter().map(|x| x.1.clone()).collect();
        assert_eq!(kids, vec![b"the file's bytes".to_vec()]);
        assert_eq!(skipped, None);
        // The image ends inside the file: what is there is scanned.
        let cut = &img[..img.len() - 6];
        let mut c =
            crate::unpack::tests::collect(crate::unpack::tests::budget());
        let skipped = iso9660(cut, &mut c).skipped;
        assert_eq!(c.children[0].1, b"the file's");
        assert_eq!(skipped, Some(Reason::Malformed { format: "ISO9660" }));
    }
}
