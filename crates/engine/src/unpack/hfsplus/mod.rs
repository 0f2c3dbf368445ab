//! HFS+ and HFSX volumes (Mac OS Extended), read file by file as ClamAV
//! reads them: the volume header at 1024, the catalog B-tree's leaf
//! nodes along their links, and for each file record its data fork and
//! its resource fork, and the file's content when it is compressed
//! (`com.apple.decmpfs`, zlib inline or in the resource fork). ClamAV
//! types such a volume only where a partition is typed (a partition of
//! an MBR, GPT or Apple partition map disk, or of a DMG), so a volume
//! mailed on its own is data to it and to us.
//!
//! Written from Apple's TN1150. Where ClamAV stops short, this reader
//! goes on: a fork in more than eight extents is followed into the
//! extents overflow tree (ClamAV ends the volume there), a fork that
//! leaves the volume or the image is scanned as far as it goes, a file
//! over the size limit is passed over and the walk goes on, files are
//! read whatever their mode says, and the catalog is read to its last
//! leaf rather than to ClamAV's 1000th (every node at most once, so a
//! chain that loops ends).

use std::collections::HashMap;

use super::Unpacked;
use crate::filetype::is_hfsplus;
use crate::verdict::Reason;

mod btree;
mod decmpfs;
#[cfg(test)]
mod tests;

use btree::{Kind, Tree};

const DAMAGED: Reason = Reason::Malformed { format: "HFS+" };

/// The volume header's place, and where its forks are in it.
const HEADER_AT: usize = 1024;
const EXTENTS_FORK: usize = 0xc0;
const CATALOG_FORK: usize = 0x110;
const ATTRIBUTES_FORK: usize = 0x160;

/// Catalog record types and node IDs.
const FOLDER: u16 = 1;
const FILE: u16 = 2;
const ROOT_FOLDER: u32 = 2;
const EXTENTS_FILE: u32 = 3;
const CATALOG_FILE: u32 = 4;
const ATTRIBUTES_FILE: u32 = 8;

/// The fork types of the extents overflow keys.
const DATA: u8 = 0;
const RESOURCE: u8 = 0xff;

/// A file record: 248 bytes, its forks at 88 and 168.
const FILE_RECORD: usize = 248;

/// Folder names kept for the paths (beyond, files are named from the
/// last folder known); overflow extent records kept.
const MAX_FOLDERS: usize = 100_000;
const MAX_OVERFLOW: usize = 100_000;

/// Folders up from a file at most.
const MAX_DEPTH: usize = 128;

fn be16(d: &[u8], at: usize) -> u16 {
    at.checked_add(2)
        .and_then(|e| d.get(at..e))
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]))
}

fn be32(d: &[u8], at: usize) -> u32 {
    at.checked_add(4)
        .and_then(|e| d.get(at..e))
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn be64(d: &[u8], at: usize) -> u64 {
    (u64::from(be32(d, at)) << 32) | u64::from(be32(d, at + 4))
}

pub(crate) fn hfsplus<'s>(
    data: &[u8],
    sink: &'s mut dyn super::Sink,
) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    match Volume::open(data) {
        Some(v) => v.walk(&mut out),
        None => out.skip(DAMAGED),
    }
    out
}

/// A fork as a catalog record or the volume header gives it: its length
/// and its first eight extents (first block, block count).
#[derive(Clone, Copy)]
struct Fork {
    size: u64,
    extents: [(u32, u32); 8],
}

impl Fork {
    fn parse(d: &[u8]) -> Fork {
        let mut extents = [(0, 0); 8];
        for (i, e) in extents.iter_mut().enumerate() {
            *e = (be32(d, 16 + 8 * i), be32(d, 20 + 8 * i));
        }
        Fork { size: be64(d, 0), extents }
    }
}

struct Volume<'a> {
    data: &'a [u8],
    block: u64,
    /// Allocation blocks the volume has: an extent past them is damage.
    blocks: u32,
    /// The extents overflow records: (file, fork type, first file
    /// block) to the eight extents that go on from there.
    overflow: HashMap<(u32, u8, u32), [(u32, u32); 8]>,
    catalog: Option<Tree>,
    attributes: Option<Tree>,
}

impl<'a> Volume<'a> {
    fn open(data: &'a [u8]) -> Option<Volume<'a>> {
        if data.len() < HEADER_AT + 512 || !is_hfsplus(data) {
            return None;
        }
        let h = &data[HEADER_AT..HEADER_AT + 512];
        let block = be32(h, 40);
        if !block.is_power_of_two() || !(512..=1 << 20).contains(&block) {
            return None;
        }
        let mut v = Volume {
            data,
            block: u64::from(block),
            blocks: be32(h, 44),
            overflow: HashMap::new(),
            catalog: None,
            attributes: None,
        };
        // The trees' own files: the extents file's eight extents are all
        // it has; the others may go on in the overflow tree.
        let ext = Fork::parse(&h[EXTENTS_FORK..]);
        let runs = v.tree_runs(&ext, EXTENTS_FILE);
        let extents = Tree::open(&v, runs, ext.size, Kind::Extents)?;
        v.load_overflow(&extents);
        let cat = Fork::parse(&h[CATALOG_FORK..]);
        let runs = v.tree_runs(&cat, CATALOG_FILE);
        let catalog = Tree::open(&v, runs, cat.size, Kind::Catalog)?;
        // ClamAV's check that the catalog file is as long as its nodes.
        let nodes_len = u64::from(catalog.total_nodes())
            .saturating_mul(catalog.node_size() as u64);
        if cat.size < nodes_len {
            return None;
        }
        v.catalog = Some(catalog);
        let attr = Fork::parse(&h[ATTRIBUTES_FORK..]);
        let runs = v.tree_runs(&attr, ATTRIBUTES_FILE);
        v.attributes = Tree::open(&v, runs, attr.size, Kind::Attributes);
        Some(v)
    }

    /// Keeps the overflow tree's records (key: length 10, fork type,
    /// pad, file, first block; then eight extents).
    fn load_overflow(&mut self, tree: &Tree) {
        let mut found = Vec::new();
        let intact = tree.leaves(self, |r| {
            if be16(r, 0) == 10 && r.len() >= 12 + 64 {
                let mut ext = [(0, 0); 8];
                for (i, e) in ext.iter_mut().enumerate() {
                    *e = (be32(r, 12 + 8 * i), be32(r, 16 + 8 * i));
                }
                found.push(((be32(r, 4), r[2], be32(r, 8)), ext));
            }
            found.len() < MAX_OVERFLOW
        });
        // An empty overflow tree (no leaf at all) is the usual case.
        let _ = intact;
        self.overflow.extend(found);
    }

    /// Hands the extents that hold `fork` of file `id` to `each` (first
    /// block, block count), the record's eight, then the overflow tree's
    /// records while blocks are missing, until `each` returns false;
    /// returns whether they covered the fork's length. An extent is
    /// looked up only when the one before it was used, so a crafted list
    /// costs no more than the bytes it gives.
    fn extents(
        &self,
        fork: &Fork,
        id: u32,
        kind: u8,
        mut each: impl FnMut(u32, u32) -> bool,
    ) -> bool {
        let need = fork.size.div_ceil(self.block);
        let mut have = 0u64;
        let mut record = fork.extents;
        loop {
            let before = have;
            for &(start, count) in &record {
                if have >= need {
                    return true;
                }
                // An empty extent ends the list, as in ClamAV (block 0
                // holds the volume header, never a file).
                if start == 0 || count == 0 || !each(start, count) {
                    return false;
                }
                have += u64::from(count);
            }
            if have >= need {
                return true;
            }
            // Each record adds blocks, so the lookups end.
            let Ok(next) = u32::try_from(have) else { return false };
            match self.overflow.get(&(id, kind, next)) {
                Some(r) if have > before => record = *r,
                _ => return false,
            }
        }
    }

    /// A tree file's extents, each with the file offset it starts at.
    fn tree_runs(&self, fork: &Fork, id: u32) -> Vec<(u64, u32, u32)> {
        let mut runs = Vec::new();
        let mut at = 0u64;
        self.extents(fork, id, DATA, |start, count| {
            runs.push((at, start, count));
            at = at.saturating_add(u64::from(count) * self.block);
            true
        });
        runs
    }

    /// Whether the volume has the extent's blocks.
    fn inside(&self, start: u32, count: u32) -> bool {
        u64::from(start) + u64::from(count) <= u64::from(self.blocks)
    }

    /// `len` bytes at `at` of a tree file of `size` bytes placed at
    /// `runs`, if the volume and the image hold them all.
    fn fork_bytes(
        &self,
        runs: &[(u64, u32, u32)],
        size: u64,
        at: u64,
        len: usize,
    ) -> Option<Vec<u8>> {
        if at.checked_add(len as u64)? > size {
            return None;
        }
        let mut out = Vec::with_capacity(len);
        // The run holding `at`, then the ones after it.
        let first = runs.partition_point(|r| r.0 <= at).checked_sub(1)?;
        for &(run_at, start, count) in &runs[first..] {
            let want = at + out.len() as u64;
            let run_end = run_at
                .checked_add(u64::from(count).checked_mul(self.block)?)?;
            if !self.inside(start, count) || want < run_at {
                return None;
            }
            // An empty run, or one that ends before `at` (the runs'
            // positions saturate on a damaged tree): nothing from it.
            if want >= run_end {
                continue;
            }
            let from = u64::from(start)
                .checked_mul(self.block)?
                .checked_add(want - run_at)?;
            let take = (run_end - want).min((len - out.len()) as u64);
            let from = usize::try_from(from).ok()?;
            let end = from.checked_add(take as usize)?;
            out.extend_from_slice(self.data.get(from..end)?);
            if out.len() == len {
                return Some(out);
            }
        }
        None
    }

    /// A whole fork of file `id`, as far as its extents, the volume and
    /// the image go (damage noted when that is short of its length).
    /// Checked against the budget before anything is copied.
    fn fork(
        &self,
        fork: &Fork,
        id: u32,
        kind: u8,
        out: &mut Unpacked<'_>,
    ) -> Option<Vec<u8>> {
        let b = out.sink.budget();
        if fork.size > b.max_file {
            out.skip(Reason::FileSizeLimit);
            return None;
        }
        if fork.size > b.bytes_left {
            out.skip(Reason::ScanSizeLimit);
            return None;
        }
        let size = fork.size as usize;
        let mut bytes = Vec::with_capacity(size.min(1 << 20));
        self.extents(fork, id, kind, |start, count| {
            if !self.inside(start, count) {
                return false;
            }
            let from = u64::from(start) * self.block;
            let want = (u64::from(count) * self.block)
                .min((size - bytes.len()) as u64);
            let have = usize::try_from(from)
                .ok()
                .and_then(|f| self.data.get(f..))
                .unwrap_or_default();
            let take = have.len().min(want as usize);
            bytes.extend_from_slice(&have[..take]);
            take as u64 == want
        });
        if bytes.len() < size {
            out.skip(DAMAGED);
        }
        Some(bytes)
    }

    fn walk(&self, out: &mut Unpacked<'_>) {
        let Some(catalog) = &self.catalog else { return };
        // Folder names first, for the paths: a folder may come after
        // its files in the catalog when it was moved.
        let mut folders: HashMap<u32, (u32, String)> = HashMap::new();
        catalog.leaves(self, |r| {
            if let Some((parent, name, rec)) = catalog_record(r)
                && be16(rec, 0) == FOLDER
                && rec.len() >= 12
            {
                folders.insert(be32(rec, 8), (parent, name));
            }
            folders.len() < MAX_FOLDERS
        });
        let compressed = match &self.attributes {
            Some(t) => decmpfs::attributes(self, t),
            None => HashMap::new(),
        };
        let intact = catalog.leaves(self, |r| {
            if let Some((parent, name, rec)) = catalog_record(r)
                && be16(rec, 0) == FILE
            {
                if rec.len() < FILE_RECORD {
                    out.skip(DAMAGED);
                } else {
                    let path = path(&folders, parent, &name);
                    self.file(rec, path, compressed.get(&be32(rec, 8)), out);
                }
            }
            !out.done()
        });
        if !intact {
            out.skip(DAMAGED);
        }
    }

    /// A file record's content: the decompressed file, its data fork,
    /// its resource fork, in ClamAV's order.
    fn file(
        &self,
        rec: &[u8],
        path: String,
        decmpfs: Option<&Vec<u8>>,
        out: &mut Unpacked<'_>,
    ) {
        let id = be32(rec, 8);
        let data = Fork::parse(&rec[88..168]);
        let rsrc = Fork::parse(&rec[168..248]);
        if let Some(attr) = decmpfs
            && let Some(bytes) = decmpfs::content(self, attr, id, &rsrc, out)
            && !bytes.is_empty()
        {
            out.push(path.clone(), bytes);
        }
        for (fork, kind, name) in [
            (data, DATA, path.clone()),
            (rsrc, RESOURCE, format!("{path}/..namedfork/rsrc")),
        ] {
            if fork.size == 0 || out.done() {
                continue;
            }
            if let Some(bytes) = self.fork(&fork, id, kind, out)
                && !bytes.is_empty()
            {
                out.push(name, bytes);
            }
        }
    }
}

/// A catalog record's key (parent folder, name) and its data.
fn catalog_record(r: &[u8]) -> Option<(u32, String, &[u8])> {
    let key_len = usize::from(be16(r, 0));
    // Keys are padded to an even length.
    let data_at = 2 + key_len + key_len % 2;
    if key_len < 6 || data_at > r.len() {
        return None;
    }
    let units = usize::from(be16(r, 6));
    let name: Vec<u16> = r
        .get(8..8 + 2 * units.min((key_len - 6) / 2))?
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    Some((be32(r, 2), name_of(&name), &r[data_at..]))
}

/// A name as the Finder shows it: `/` is stored as `:` on HFS+, whose
/// POSIX view shows it the other way round; the NULs of the hard-link
/// folder's name dropped.
fn name_of(units: &[u16]) -> String {
    String::from_utf16_lossy(units)
        .chars()
        .filter(|&c| c != '\0')
        .map(|c| if c == '/' { ':' } else { c })
        .collect()
}

/// A file's path from the root folder (whose name is the volume's).
fn path(
    folders: &HashMap<u32, (u32, String)>,
    parent: u32,
    name: &str,
) -> String {
    let mut parts = vec![name];
    let mut at = parent;
    while at != ROOT_FOLDER && parts.len() <= MAX_DEPTH {
        let Some((up, folder)) = folders.get(&at) else { break };
        parts.push(folder);
        at = *up;
    }
    parts.reverse();
    parts.join("/")
}
