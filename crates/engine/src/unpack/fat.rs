//! FAT12, FAT16 and FAT32 volumes: the raw `.img` disk images mail
//! carries (a floppy or USB stick image made by `mkfs.fat` and `mcopy`,
//! or a partition of a bigger disk). ClamAV has no FAT reader and scans
//! such an image raw, which finds a file only while it lies in one piece
//! and only by body signatures; here each file is followed through the
//! allocation table and scanned whole, under its long name.
//!
//! Written from Microsoft's FAT specification (the BIOS parameter block,
//! the cluster-count rule for the FAT width, long-name entries and their
//! checksum). Deleted entries are left alone, as a file manager would.

use std::collections::HashSet;

use super::Unpacked;
use crate::verdict::Reason;

const DAMAGED: Reason = Reason::Malformed { format: "FAT" };

/// Directory entries read at most: far more than any mailed image holds,
/// few enough that a crafted one costs little.
const MAX_ENTRIES: usize = 100_000;

/// Directory depth at most (a loop is also stopped by the clusters seen).
const MAX_DEPTH: u32 = 64;

fn u16_at(d: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([d[at], d[at + 1]])
}

fn u32_at(d: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

/// Reads every file of the volume whose boot sector starts `data` into
/// `out`; an image that cut short or damaged is read as far as it goes.
pub(super) fn fat_volume(data: &[u8], out: &mut Unpacked<'_>) {
    // A boot sector whose volume is not there (a dump of the first
    // sectors, a geometry that leaves no data) holds no file: it is
    // binary data, scanned as such, as ClamAV scans every FAT image.
    if let Some(v) = Volume::open(data) {
        v.walk(out);
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Width {
    Fat12,
    Fat16,
    Fat32,
}

/// Where a directory's entries are.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Place {
    /// The fixed root directory of FAT12 and FAT16: offset, length.
    Fixed(usize, usize),
    /// A cluster chain.
    Chain(u32),
}

struct Volume<'a> {
    data: &'a [u8],
    /// The first allocation table (as far as the image holds it).
    table: &'a [u8],
    width: Width,
    cluster: usize,
    /// Offset of cluster 2, the first data cluster.
    data_start: usize,
    /// Data clusters: valid numbers are 2 to `clusters + 1`.
    clusters: u32,
    root: Place,
}

/// A file or directory's bytes as its chain gives them, `cut` when the
/// chain broke (a free, bad or out-of-range cluster, or the image's end)
/// before the length it claims.
struct Content {
    bytes: Vec<u8>,
    cut: bool,
}

impl<'a> Volume<'a> {
    fn open(data: &'a [u8]) -> Option<Volume<'a>> {
        let b = data.get(..512)?;
        let bps = usize::from(u16_at(b, 11));
        let spc = usize::from(b[13]);
        let reserved = usize::from(u16_at(b, 14));
        let fats = usize::from(b[16]);
        let root_entries = usize::from(u16_at(b, 17));
        let total = match u16_at(b, 19) {
            0 => u32_at(b, 32) as usize,
            n => usize::from(n),
        };
        let (fat_sectors, fat32) = match u16_at(b, 22) {
            0 => (u32_at(b, 36) as usize, true),
            n => (usize::from(n), false),
        };
        if bps == 0 || spc == 0 || fat_sectors == 0 {
            return None;
        }
        let root_sectors = (root_entries * 32).div_ceil(bps);
        let first_data = reserved + fats * fat_sectors + root_sectors;
        let clusters = (total.checked_sub(first_data)? / spc) as u32;
        let width = if fat32 {
            Width::Fat32
        } else if clusters < 4085 {
            Width::Fat12
        } else {
            Width::Fat16
        };
        let table_at = reserved * bps;
        let table_end = (table_at + fat_sectors * bps).min(data.len());
        let table = data.get(table_at..table_end).unwrap_or_default();
        if first_data.checked_mul(bps)? >= data.len() {
            return None;
        }
        let root = if width == Width::Fat32 {
            Place::Chain(u32_at(b, 44))
        } else {
            Place::Fixed(
                (reserved + fats * fat_sectors) * bps,
                root_entries * 32,
            )
        };
        Some(Volume {
            data,
            table,
            width,
            cluster: bps * spc,
            data_start: first_data * bps,
            clusters,
            root,
        })
    }

    /// The table's entry for cluster `c`.
    fn entry(&self, c: u32) -> Option<u32> {
        let c = c as usize;
        match self.width {
            Width::Fat12 => {
                let at = c + c / 2;
                let v = u32::from(u16_at(self.table.get(at..at + 2)?, 0));
                Some(if c % 2 == 1 { v >> 4 } else { v & 0xfff })
            }
            Width::Fat16 => {
                Some(u32::from(u16_at(self.table.get(2 * c..2 * c + 2)?, 0)))
            }
            Width::Fat32 => Some(
                u32_at(self.table.get(4 * c..4 * c + 4)?, 0) & 0x0fff_ffff,
            ),
        }
    }

    fn is_end(&self, v: u32) -> bool {
        v >= match self.width {
            Width::Fat12 => 0xff8,
            Width::Fat16 => 0xfff8,
            Width::Fat32 => 0x0fff_fff8,
        }
    }

    fn valid(&self, c: u32) -> bool {
        c >= 2 && c - 2 < self.clusters
    }

    /// Up to `max` bytes of the chain from `first`, to its end mark.
    fn chain(&self, first: u32, max: u64) -> Content {
        let mut c = Content { bytes: Vec::new(), cut: false };
        let mut at = first;
        // A chain longer than the volume has clusters loops.
        let mut steps = self.clusters;
        while (c.bytes.len() as u64) < max {
            if !self.valid(at) || steps == 0 {
                c.cut = true;
                break;
            }
            steps -= 1;
            let next = self.entry(at);
            if next == Some(0) {
                // A free cluster in a chain: what follows is not the file's.
                c.cut = true;
                break;
            }
            let off = self.data_start + (at as usize - 2) * self.cluster;
            let want =
                (max - c.bytes.len() as u64).min(self.cluster as u64) as usize;
            match self.data.get(off..) {
                Some(d) if d.len() >= want => {
                    c.bytes.extend_from_slice(&d[..want])
                }
                rest => {
                    c.bytes.extend_from_slice(rest.unwrap_or_default());
                    c.cut = true;
                    break;
                }
            }
            match next {
                Some(next) if self.is_end(next) => break,
                Some(next) => at = next,
                None => {
                    c.cut = true;
                    break;
                }
            }
        }
        c
    }

    fn walk(&self, out: &mut Unpacked<'_>) {
        // Directories may share clusters: all listings together read at
        // most a few times the image, however many a crafted one has.
        let mut listing_budget = 4 * self.data.len() as u64 + (1 << 20);
        let mut seen = HashSet::new();
        let mut entries = 0usize;
        let mut dirs = vec![(self.root, String::new(), 0u32)];
        while let Some((place, path, depth)) = dirs.pop() {
            if out.done() {
                return;
            }
            if depth > MAX_DEPTH || !seen.insert(place) {
                continue;
            }
            let listing = match place {
                Place::Fixed(at, len) => {
                    let end = at.saturating_add(len).min(self.data.len());
                    let bytes = self.data.get(at..end).unwrap_or_default();
                    if bytes.len() < len {
                        out.skip(DAMAGED);
                    }
                    Content { bytes: bytes.to_vec(), cut: false }
                }
                Place::Chain(c) => self.chain(c, listing_budget),
            };
            listing_budget =
                listing_budget.saturating_sub(listing.bytes.len() as u64);
            if listing.cut {
                out.skip(DAMAGED);
            }
            for e in Listing::new(&listing.bytes) {
                entries += 1;
                if entries > MAX_ENTRIES || out.done() {
                    return;
                }
                let path = format!("{path}/{}", e.name);
                if e.dir {
                    if self.valid(e.first) {
                        dirs.push((Place::Chain(e.first), path, depth + 1));
                    }
                    continue;
                }
                if e.size == 0 {
                    continue;
                }
                self.file(&e, path, out);
            }
        }
    }

    fn file(&self, e: &Entry, path: String, out: &mut Unpacked<'_>) {
        // Checked before the copy, as in `iso.rs`: files sharing clusters
        // must not cost a copy each once the scan's budget is spent.
        let b = out.sink.budget();
        let (max_file, left) = (b.max_file, b.bytes_left);
        let size = u64::from(e.size);
        if size > max_file {
            out.skip(Reason::FileSizeLimit);
            return;
        }
        if size > left {
            out.skip(Reason::ScanSizeLimit);
            return;
        }
        let content = self.chain(e.first, size);
        // A chain that ends before the size the entry claims is damage too.
        if content.cut || (content.bytes.len() as u64) < size {
            out.skip(DAMAGED);
        }
        if !content.bytes.is_empty() {
            out.push(path.trim_start_matches('/').to_string(), content.bytes);
        }
    }
}

/// A directory entry that names a file or a directory.
struct Entry {
    name: String,
    dir: bool,
    first: u32,
    size: u32,
}

/// The entries of a directory's bytes, long names joined to their short
/// entry when their checksum says they belong to it.
struct Listing<'d> {
    rest: std::slice::ChunksExact<'d, u8>,
    /// Long-name pieces so far, by their sequence number, and the short
    /// name checksum they carry.
    long: Vec<Option<[u16; 13]>>,
    sum: u8,
}

impl<'d> Listing<'d> {
    fn new(bytes: &'d [u8]) -> Listing<'d> {
        Listing { rest: bytes.chunks_exact(32), long: Vec::new(), sum: 0 }
    }

    fn long_name(&mut self, short: &[u8]) -> Option<String> {
        let sum = short[..11]
            .iter()
            .fold(0u8, |s, &b| s.rotate_right(1).wrapping_add(b));
        let pieces = std::mem::take(&mut self.long);
        if pieces.is_empty() || sum != self.sum {
            return None;
        }
        let mut units = Vec::with_capacity(13 * pieces.len());
        for p in pieces {
            units.extend_from_slice(&p?);
        }
        let end = units.iter().position(|&u| u == 0).unwrap_or(units.len());
        let name = String::from_utf16_lossy(&units[..end]);
        (!name.is_empty()).then_some(name)
    }
}

/// The 8.3 name, with the lower-case flags Windows NT sets.
fn short_name(e: &[u8]) -> String {
    let mut base: Vec<u8> = e[..8].to_vec();
    if base[0] == 0x05 {
        base[0] = 0xe5;
    }
    let mut ext: Vec<u8> = e[8..11].to_vec();
    if e[12] & 0x08 != 0 {
        base.make_ascii_lowercase();
    }
    if e[12] & 0x10 != 0 {
        ext.make_ascii_lowercase();
    }
    let trim = |v: &[u8]| {
        String::from_utf8_lossy(v).trim_end_matches(' ').to_string()
    };
    let (base, ext) = (trim(&base), trim(&ext));
    if ext.is_empty() { base } else { format!("{base}.{ext}") }
}

impl Iterator for Listing<'_> {
    type Item = Entry;

    fn next(&mut self) -> Option<Entry> {
        loop {
            let e = self.rest.next()?;
            match e[0] {
                0 => return None,
                0xe5 => {
                    self.long.clear();
                    continue;
                }
                _ => {}
            }
            let attr = e[11];
            if attr & 0x3f == 0x0f {
                let seq = e[0];
                let slot = usize::from(seq & 0x1f);
                if seq & 0x40 != 0 {
                    self.long = vec![None; slot];
                    self.sum = e[13];
                }
                if slot == 0 || slot > self.long.len() || e[13] != self.sum {
                    self.long.clear();
                    continue;
                }
                let mut units = [0u16; 13];
                let at = (1..11).step_by(2).chain((14..26).step_by(2));
                for (u, i) in
                    units.iter_mut().zip(at.chain((28..32).step_by(2)))
                {
                    *u = u16_at(e, i);
                }
                self.long[slot - 1] = Some(units);
                continue;
            }
            if attr & 0x08 != 0 {
                self.long.clear();
                continue;
            }
            let name = self.long_name(e).unwrap_or_else(|| short_name(e));
            if name == "." || name == ".." {
                continue;
            }
            let first =
                (u32::from(u16_at(e, 20)) << 16) | u32::from(u16_at(e, 26));
            return Some(Entry {
                name,
                dir: attr & 0x10 != 0,
                first,
                size: u32_at(e, 28),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short(name: &[u8; 11], attr: u8, first: u16, size: u32) -> [u8; 32] {
        let mut e = [0u8; 32];
        e[..11].copy_from_slice(name);
        e[11] = attr;
        e[26..28].copy_from_slice(&first.to_le_bytes());
        e[28..32].copy_from_slice(&size.to_le_bytes());
        e
    }

    fn long_piece(seq: u8, sum: u8, text: &str) -> [u8; 32] {
        let mut units: Vec<u16> = text.encode_utf16().collect();
        if units.len() < 13 {
            units.push(0);
        }
        units.resize(13, 0xffff);
        let mut e = [0u8; 32];
        e[0] = seq;
        e[11] = 0x0f;
        e[13] = sum;
        let at = (1..11).step_by(2).chain((14..26).step_by(2));
        for (u, i) in units.iter().zip(at.chain((28..32).step_by(2))) {
            e[i..i + 2].copy_from_slice(&u.to_le_bytes());
        }
        e
    }

    fn checksum(name: &[u8; 11]) -> u8 {
        name.iter().fold(0u8, |s, &b| s.rotate_right(1).wrapping_add(b))
    }

    #[test]
    fn long_names_join_their_short_entry_only_when_the_checksum_holds() {
        let sname = b"RECHNU~1EXE";
        let mut dir = Vec::new();
        dir.extend_from_slice(&long_piece(0x42, checksum(sname), ".pdf.exe"));
        dir.extend_from_slice(&long_piece(
            0x01,
            checksum(sname),
            "Rechnung.2026",
        ));
        dir.extend_from_slice(&short(sname, 0x20, 3, 10));
        dir.extend_from_slice(&long_piece(0x41, 0x11, "wrong.txt"));
        dir.extend_from_slice(&short(b"PLAIN   TXT", 0x20, 4, 5));
        dir.extend_from_slice(&short(b"SUB        ", 0x10, 5, 0));
        dir.extend_from_slice(&[0u8; 32]);
        dir.extend_from_slice(&short(b"AFTEREND   ", 0x20, 6, 1));
        let got: Vec<(String, bool, u32)> =
            Listing::new(&dir).map(|e| (e.name, e.dir, e.first)).collect();
        assert_eq!(
            got,
            [
                ("Rechnung.2026.pdf.exe".to_string(), false, 3),
                ("PLAIN.TXT".to_string(), false, 4),
                ("SUB".to_string(), true, 5),
            ]
        );
    }

    /// A FAT12 volume of 64 sectors: boot sector, one table sector, one
    /// root directory sector, clusters of one sector from sector 3.
    fn tiny(root: &[[u8; 32]], table: &[(u32, u32)]) -> Vec<u8> {
        let mut v = vec![0u8; 64 * 512];
        v[..3].copy_from_slice(&[0xeb, 0x3c, 0x90]);
        v[11..13].copy_from_slice(&512u16.to_le_bytes());
        v[13] = 1;
        v[14] = 1;
        v[16] = 1;
        v[17] = 16;
        v[19] = 64;
        v[21] = 0xf8;
        v[22] = 1;
        v[510] = 0x55;
        v[511] = 0xaa;
        for &(c, next) in table {
            let at = 512 + (c + c / 2) as usize;
            let old = u16::from_le_bytes([v[at], v[at + 1]]);
            let new = if c % 2 == 1 {
                (old & 0x000f) | ((next as u16) << 4)
            } else {
                (old & 0xf000) | next as u16
            };
            v[at..at + 2].copy_from_slice(&new.to_le_bytes());
        }
        for (i, e) in root.iter().enumerate() {
            v[1024 + 32 * i..1024 + 32 * i + 32].copy_from_slice(e);
        }
        v
    }

    fn walk(
        img: &[u8],
        max_file: u64,
    ) -> (Vec<(String, Vec<u8>)>, Option<Reason>) {
        let mut sink = crate::unpack::tests::collect(crate::unpack::Budget {
            max_file,
            bytes_left: 1 << 30,
            files_left: 1000,
        });
        let skipped = {
            let mut out = Unpacked::new(&mut sink);
            fat_volume(img, &mut out);
            out.skipped
        };
        (sink.children, skipped)
    }

    #[test]
    fn files_follow_their_chain_across_clusters_out_of_order() {
        let mut img = tiny(
            &[short(b"TWO     BIN", 0x20, 5, 700)],
            &[(5, 3), (3, 0xfff)],
        );
        img[(3 + 3) * 512..(3 + 3) * 512 + 512].fill(b'a');
        img[(3 + 1) * 512..(3 + 1) * 512 + 512].fill(b'b');
        let (children, skipped) = walk(&img, 1 << 20);
        assert_eq!(skipped, None);
        assert_eq!(children.len(), 1);
        assert_eq!(children[0].0, "TWO.BIN");
        assert_eq!(children[0].1, [vec![b'a'; 512], vec![b'b'; 188]].concat());
    }

    #[test]
    fn loops_huge_claims_and_broken_chains_end_within_limits() {
        // A directory whose chain loops on itself and lists itself, a
        // file claiming 4 GB, a file whose chain runs into a free cluster.
        let img = {
            let mut img = tiny(
                &[
                    short(b"LOOP       ", 0x10, 2, 0),
                    short(b"HUGE    EXE", 0x20, 3, u32::MAX),
                    short(b"CUT     EXE", 0x20, 4, 2000),
                ],
                &[(2, 2), (3, 3), (4, 6)],
            );
            let at = 3 * 512;
            img[at..at + 32].copy_from_slice(&short(
                b"SELF       ",
                0x10,
                2,
                0,
            ));
            img[at + 32..at + 64].copy_from_slice(&short(
                b"INNER   TXT",
                0x20,
                4,
                2000,
            ));
            img
        };
        let (children, skipped) = walk(&img, 25 << 20);
        assert_eq!(skipped, Some(Reason::FileSizeLimit));
        let names: Vec<&str> = children.iter().map(|c| c.0.as_str()).collect();
        assert_eq!(names, ["CUT.EXE", "LOOP/INNER.TXT"]);
        assert_eq!(children[0].1.len(), 512, "read as far as the chain goes");
        // Allowed any file size, the 4 GB claim still meets the scan's
        // budget before a byte is copied.
        let (_, skipped) = walk(&img, u64::from(u32::MAX) + 1);
        assert_eq!(skipped, Some(Reason::ScanSizeLimit));
    }

    #[test]
    fn twelve_bit_entries_interleave() {
        let table = [0xf0, 0xff, 0xff, 0x03, 0x40, 0x00, 0xff, 0x0f];
        let v = Volume {
            data: &[],
            table: &table,
            width: Width::Fat12,
            cluster: 512,
            data_start: 0,
            clusters: 10,
            root: Place::Chain(2),
        };
        assert_eq!(v.entry(2), Some(0x003));
        assert_eq!(v.entry(3), Some(0x004));
        assert_eq!(v.entry(4), Some(0xfff));
        assert!(v.is_end(0xfff));
    }
}
