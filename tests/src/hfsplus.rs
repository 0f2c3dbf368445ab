//! A small HFS+ writer for the tests (Debian packages no tool that makes
//! one), from Apple's TN1150: the volume header and its copy, the
//! allocation bitmap, and the three B-trees (extents overflow, catalog,
//! attributes) with their header, leaf and index nodes. Files may be in
//! folders, cut into many extents (past eight, the rest go to the
//! overflow tree), carry a resource fork, or be compressed as the file
//! system compresses them (`com.apple.decmpfs`, zlib in the attribute or
//! in the resource fork). A few switches write what a crafted volume
//! would (a claimed length, extents of one's choosing, leaves that
//! loop).
//!
//! The engine's unit tests include this file too: it needs std and
//! flate2 alone.

use std::collections::BTreeMap;
use std::io::Write;

/// How a file's content is stored.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Compress {
    /// In its data fork.
    No,
    /// zlib inside the decmpfs attribute (method 3).
    Inline,
    /// Stored inside the decmpfs attribute, behind its 0xff mark
    /// (method 3, for content zlib would not shrink).
    Stored,
    /// zlib blocks in a `cmpf` resource of the resource fork (method 4).
    Resource,
}

#[derive(Clone, Debug)]
pub struct File {
    /// `Folder/Sub/name`: folders are made as needed.
    pub path: String,
    pub data: Vec<u8>,
    /// The resource fork (unless `compress` is `Resource`).
    pub rsrc: Vec<u8>,
    /// Extents the data fork is cut into, a free block between two.
    pub pieces: usize,
    pub compress: Compress,
    /// The BSD file mode.
    pub mode: u16,
    /// A data fork length written in place of the real one.
    pub claim: Option<u64>,
    /// Data fork extents written in place of the real ones (the data is
    /// then not written).
    pub extents: Option<Vec<(u32, u32)>>,
}

impl File {
    pub fn new(path: &str, data: &[u8]) -> File {
        File {
            path: path.to_string(),
            data: data.to_vec(),
            rsrc: Vec::new(),
            pieces: 1,
            compress: Compress::No,
            mode: 0o100644,
            claim: None,
            extents: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Options {
    pub block: u32,
    /// HFSX (`HX`, version 5, names compared as binary).
    pub hfsx: bool,
    pub name: String,
    /// Records per catalog leaf node at most (0: as many as fit).
    pub per_leaf: usize,
    /// The last catalog leaf links back to the first.
    pub loop_leaves: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            block: 4096,
            hfsx: false,
            name: "Untitled".into(),
            per_leaf: 0,
            loop_leaves: false,
        }
    }
}

const NODE: usize = 4096;

/// A file's content as stored: data fork, resource fork, attribute.
type Stored = (Vec<u8>, Vec<u8>, Option<Vec<u8>>);
/// A catalog record: parent, name as compared, key, data.
type Record = (u32, Vec<u16>, Vec<u8>, Vec<u8>);
/// Bytes to write at these extents.
type Placed = (Vec<(u32, u32)>, Vec<u8>);
const DATE: u32 = 0xe000_0000;
const DECMPFS: &str = "com.apple.decmpfs";

fn utf16(s: &str) -> Vec<u16> {
    s.encode_utf16().collect()
}

fn catalog_key(parent: u32, name: &[u16]) -> Vec<u8> {
    let mut k = ((6 + 2 * name.len()) as u16).to_be_bytes().to_vec();
    k.extend(parent.to_be_bytes());
    k.extend((name.len() as u16).to_be_bytes());
    k.extend(name.iter().flat_map(|u| u.to_be_bytes()));
    k
}

fn fork_data(size: u64, extents: &[(u32, u32)]) -> Vec<u8> {
    let blocks: u32 = extents.iter().take(8).map(|e| e.1).sum();
    let mut f = size.to_be_bytes().to_vec();
    f.extend(0u32.to_be_bytes());
    f.extend(blocks.to_be_bytes());
    for i in 0..8 {
        let (s, c) = extents.get(i).copied().unwrap_or((0, 0));
        f.extend(s.to_be_bytes());
        f.extend(c.to_be_bytes());
    }
    f
}

fn permissions(mode: u16, owner_flags: u8) -> Vec<u8> {
    let mut p = vec![0u8; 16];
    p[9] = owner_flags;
    p[10..12].copy_from_slice(&mode.to_be_bytes());
    p
}

fn thread(kind: u16, parent: u32, name: &[u16]) -> Vec<u8> {
    let mut t = kind.to_be_bytes().to_vec();
    t.extend([0, 0]);
    t.extend(parent.to_be_bytes());
    t.extend((name.len() as u16).to_be_bytes());
    t.extend(name.iter().flat_map(|u| u.to_be_bytes()));
    t
}

fn folder(id: u32, valence: u32) -> Vec<u8> {
    let mut f = 1u16.to_be_bytes().to_vec();
    f.extend([0, 0]);
    f.extend(valence.to_be_bytes());
    f.extend(id.to_be_bytes());
    f.extend(DATE.to_be_bytes().repeat(5));
    f.extend(permissions(0o40755, 0));
    f.extend([0u8; 40]);
    f
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    );
    z.write_all(data).unwrap();
    z.finish().unwrap()
}

/// The decmpfs header: `cmpf` little-endian, the method, the length.
fn decmpfs_header(method: u32, len: usize) -> Vec<u8> {
    let mut h = b"fpmc".to_vec();
    h.extend(method.to_le_bytes());
    h.extend((len as u64).to_le_bytes());
    h
}

/// A resource fork holding one `cmpf` resource: a table of 64 KiB
/// blocks, each zlib.
fn cmpf_fork(data: &[u8]) -> Vec<u8> {
    let blocks: Vec<Vec<u8>> = data.chunks(64 * 1024).map(zlib).collect();
    let mut res = (blocks.len() as u32).to_le_bytes().to_vec();
    let mut at = 4 + 8 * blocks.len();
    for b in &blocks {
        res.extend((at as u32).to_le_bytes());
        res.extend((b.len() as u32).to_le_bytes());
        at += b.len();
    }
    for b in &blocks {
        res.extend(b);
    }
    let data_len = 4 + res.len();
    let mut head = 0x100u32.to_be_bytes().to_vec();
    head.extend(((0x100 + data_len) as u32).to_be_bytes());
    head.extend((data_len as u32).to_be_bytes());
    head.extend(50u32.to_be_bytes());
    let mut f = head.clone();
    f.resize(0x100, 0);
    f.extend((res.len() as u32).to_be_bytes());
    f.extend(res);
    // The map: the header again, a handle, a file number, attributes,
    // the type list at 28 and the names at 50 (none); one type, `cmpf`,
    // with one reference: ID 1, no name, its data at 0.
    f.extend(&head);
    f.extend([0u8; 8]);
    f.extend(28u16.to_be_bytes());
    f.extend(50u16.to_be_bytes());
    f.extend(0u16.to_be_bytes());
    f.extend(b"cmpf");
    f.extend(0u16.to_be_bytes());
    f.extend(10u16.to_be_bytes());
    f.extend(1u16.to_be_bytes());
    f.extend(0xffffu16.to_be_bytes());
    f.extend([0u8; 8]);
    f
}

/// A B-tree file: a header node, the leaves, the index levels above.
struct Tree {
    bytes: Vec<u8>,
}

struct TreeKind {
    max_key: u16,
    attributes: u32,
    compare: u8,
}

fn node(
    flink: u32,
    blink: u32,
    kind: u8,
    height: u8,
    recs: &[Vec<u8>],
) -> Vec<u8> {
    let mut n = vec![0u8; NODE];
    n[..4].copy_from_slice(&flink.to_be_bytes());
    n[4..8].copy_from_slice(&blink.to_be_bytes());
    n[8] = kind;
    n[9] = height;
    n[10..12].copy_from_slice(&(recs.len() as u16).to_be_bytes());
    let mut at = 14;
    for (i, r) in recs.iter().enumerate() {
        n[at..at + r.len()].copy_from_slice(r);
        n[NODE - 2 * (i + 1)..NODE - 2 * i]
            .copy_from_slice(&(at as u16).to_be_bytes());
        at += r.len();
    }
    let i = recs.len();
    n[NODE - 2 * (i + 1)..NODE - 2 * i]
        .copy_from_slice(&(at as u16).to_be_bytes());
    n
}

/// Records into nodes: as many as fit (with a byte to spare, which
/// ClamAV wants), at most `per` (0: no limit).
fn pack(recs: Vec<Vec<u8>>, per: usize) -> Vec<Vec<Vec<u8>>> {
    let mut nodes: Vec<Vec<Vec<u8>>> = Vec::new();
    let mut used = 0;
    for r in recs {
        let fits = nodes.last().is_some_and(|n| {
            14 + used + r.len() + 2 * (n.len() + 2) < NODE
                && (per == 0 || n.len() < per)
        });
        if !fits {
            nodes.push(Vec::new());
            used = 0;
        }
        used += r.len();
        nodes.last_mut().unwrap().push(r);
    }
    nodes
}

/// A tree of `records` (key with its length, then data), sorted.
fn tree(
    records: Vec<(Vec<u8>, Vec<u8>)>,
    kind: TreeKind,
    per: usize,
    looped: bool,
) -> Tree {
    let leaf_records = records.len() as u32;
    let leaves =
        pack(records.into_iter().map(|(k, d)| [k, d].concat()).collect(), per);
    let mut nodes: Vec<Vec<u8>> = Vec::new();
    let l = leaves.len() as u32;
    // Leaves are nodes 1..=l.
    for (i, recs) in leaves.iter().enumerate() {
        let i = i as u32 + 1;
        let flink = if i < l {
            i + 1
        } else if looped {
            1
        } else {
            0
        };
        nodes.push(node(flink, i - 1, 0xff, 1, recs));
    }
    let first_keys: Vec<Vec<u8>> = leaves
        .iter()
        .map(|recs| {
            let r = &recs[0];
            let len = usize::from(u16::from_be_bytes([r[0], r[1]]));
            r[..2 + len].to_vec()
        })
        .collect();
    // Index levels: each record the first key of a child and its number.
    let mut level: Vec<(Vec<u8>, u32)> =
        first_keys.into_iter().zip(1..).collect();
    let mut height = 1u8;
    let mut root = if l == 0 { 0 } else { 1 };
    while level.len() > 1 {
        height += 1;
        let recs: Vec<Vec<u8>> = level
            .iter()
            .map(|(k, n)| [k.clone(), n.to_be_bytes().to_vec()].concat())
            .collect();
        let keys: Vec<Vec<u8>> =
            level.iter().map(|(k, _)| k.clone()).collect();
        let packed = pack(recs, 0);
        let first = nodes.len() as u32 + 1;
        let count = packed.len() as u32;
        let mut next = Vec::new();
        let mut k = 0;
        for (i, recs) in packed.iter().enumerate() {
            let n = first + i as u32;
            let flink = if i as u32 + 1 < count { n + 1 } else { 0 };
            let blink = if i == 0 { 0 } else { n - 1 };
            nodes.push(node(flink, blink, 0, height, recs));
            next.push((keys[k].clone(), n));
            k += recs.len();
        }
        root = first;
        level = next;
    }
    let total = nodes.len() as u32 + 1;
    let mut head = Vec::new();
    head.extend(u16::from(if l == 0 { 0 } else { height }).to_be_bytes());
    head.extend(root.to_be_bytes());
    head.extend(leaf_records.to_be_bytes());
    head.extend((if l == 0 { 0u32 } else { 1 }).to_be_bytes());
    head.extend(l.to_be_bytes());
    head.extend((NODE as u16).to_be_bytes());
    head.extend(kind.max_key.to_be_bytes());
    head.extend(total.to_be_bytes());
    head.extend(0u32.to_be_bytes());
    head.extend([0, 0]);
    head.extend((NODE as u32).to_be_bytes());
    head.push(0);
    head.push(kind.compare);
    head.extend(kind.attributes.to_be_bytes());
    head.extend([0u8; 64]);
    let mut map = vec![0u8; NODE - 256];
    for n in 0..total as usize {
        map[n / 8] |= 0x80 >> (n % 8);
    }
    let mut bytes = node(0, 0, 1, 0, &[head, vec![0u8; 128], map]);
    for n in nodes {
        bytes.extend(n);
    }
    Tree { bytes }
}

/// Where the blocks go: one after the other, from `next`.
struct Alloc {
    next: u32,
    used: Vec<(u32, u32)>,
}

impl Alloc {
    fn take(&mut self, count: u32) -> (u32, u32) {
        let e = (self.next, count);
        self.next += count;
        self.used.push(e);
        e
    }

    /// `count` blocks in `pieces` extents, a free block after each.
    fn pieces(&mut self, count: u32, pieces: usize) -> Vec<(u32, u32)> {
        let pieces = (pieces as u32).clamp(1, count.max(1));
        let mut out = Vec::new();
        let mut left = count;
        for i in 0..pieces {
            let n = left / (pieces - i);
            out.push(self.take(n));
            left -= n;
            if i + 1 < pieces {
                self.next += 1;
            }
        }
        out
    }
}

/// The volume, as bytes.
pub fn image(files: &[File], o: &Options) -> Vec<u8> {
    let b = o.block as usize;
    let blocks_of = |len: usize| len.div_ceil(b) as u32;
    let fold = |u: &[u16]| -> Vec<u16> {
        if o.hfsx {
            u.to_vec()
        } else {
            String::from_utf16_lossy(u).to_lowercase().encode_utf16().collect()
        }
    };
    // Folders and files get their IDs in the order they first appear.
    let mut folders: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    let mut valence: BTreeMap<u32, u32> = BTreeMap::new();
    let mut next_id = 16u32;
    let mut placed = Vec::new();
    for f in files {
        let parts: Vec<&str> = f.path.split('/').collect();
        let mut parent = 2u32;
        for i in 0..parts.len() - 1 {
            let dir = parts[..=i].join("/");
            parent = match folders.get(&dir) {
                Some(&(id, _)) => id,
                None => {
                    folders.insert(dir, (next_id, parent));
                    *valence.entry(parent).or_default() += 1;
                    next_id += 1;
                    next_id - 1
                }
            };
        }
        *valence.entry(parent).or_default() += 1;
        placed.push((next_id, parent, utf16(parts[parts.len() - 1])));
        next_id += 1;
    }
    // Content as stored: the data fork, the resource fork, the attribute.
    let stored: Vec<Stored> = files
        .iter()
        .map(|f| match f.compress {
            Compress::No => (f.data.clone(), f.rsrc.clone(), None),
            Compress::Inline => {
                let mut a = decmpfs_header(3, f.data.len());
                a.extend(zlib(&f.data));
                (Vec::new(), Vec::new(), Some(a))
            }
            Compress::Stored => {
                let mut a = decmpfs_header(3, f.data.len());
                a.push(0xff);
                a.extend(&f.data);
                (Vec::new(), Vec::new(), Some(a))
            }
            Compress::Resource => (
                Vec::new(),
                cmpf_fork(&f.data),
                Some(decmpfs_header(4, f.data.len())),
            ),
        })
        .collect();
    // Attributes.
    let name16 = utf16(DECMPFS);
    let mut attrs = Vec::new();
    for ((id, _, _), (_, _, a)) in placed.iter().zip(&stored) {
        if let Some(a) = a {
            let mut k =
                ((12 + 2 * name16.len()) as u16).to_be_bytes().to_vec();
            k.extend([0, 0]);
            k.extend(id.to_be_bytes());
            k.extend(0u32.to_be_bytes());
            k.extend((name16.len() as u16).to_be_bytes());
            k.extend(name16.iter().flat_map(|u| u.to_be_bytes()));
            let mut d = 0x10u32.to_be_bytes().to_vec();
            d.extend([0u8; 8]);
            d.extend((a.len() as u32).to_be_bytes());
            d.extend(a);
            if d.len() % 2 == 1 {
                d.push(0);
            }
            attrs.push((k, d));
        }
    }
    let attr_tree = tree(
        attrs,
        TreeKind { max_key: 266, attributes: 6, compare: 0 },
        0,
        false,
    );

    // The catalog's size does not depend on where the data goes: it is
    // laid out once with empty forks to count its nodes.
    let catalog_with = |forks: &[(Vec<u8>, Vec<u8>)]| {
        let mut recs: Vec<Record> = Vec::new();
        let vol = utf16(&o.name);
        let mut add = |parent: u32, name: Vec<u16>, data: Vec<u8>| {
            let key = catalog_key(parent, &name);
            recs.push((parent, fold(&name), key, data));
        };
        add(1, vol.clone(), folder(2, valence.get(&2).copied().unwrap_or(0)));
        add(2, Vec::new(), thread(3, 1, &vol));
        for (path, &(id, parent)) in &folders {
            let name = utf16(path.rsplit('/').next().unwrap());
            add(
                parent,
                name.clone(),
                folder(id, valence.get(&id).copied().unwrap_or(0)),
            );
            add(id, Vec::new(), thread(3, parent, &name));
        }
        for (i, (id, parent, name)) in placed.iter().enumerate() {
            let f = &files[i];
            let mut r = 2u16.to_be_bytes().to_vec();
            r.extend(2u16.to_be_bytes());
            r.extend(0u32.to_be_bytes());
            r.extend(id.to_be_bytes());
            r.extend(DATE.to_be_bytes().repeat(5));
            let flags = if f.compress == Compress::No { 0 } else { 0x20 };
            r.extend(permissions(f.mode, flags));
            r.extend(b"TEXTttxt");
            r.extend([0u8; 32]);
            r.extend(&forks[i].0);
            r.extend(&forks[i].1);
            add(*parent, name.clone(), r);
            add(*id, Vec::new(), thread(4, *parent, name));
        }
        recs.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        tree(
            recs.into_iter().map(|(_, _, k, d)| (k, d)).collect(),
            TreeKind {
                max_key: 516,
                attributes: 6,
                compare: if o.hfsx { 0xbc } else { 0xcf },
            },
            o.per_leaf,
            o.loop_leaves,
        )
    };
    let empty = fork_data(0, &[]);
    let blank: Vec<(Vec<u8>, Vec<u8>)> =
        files.iter().map(|_| (empty.clone(), empty.clone())).collect();
    let cat_len = catalog_with(&blank).bytes.len();

    // The overflow records: the data forks cut into more than eight.
    let data_blocks: Vec<u32> =
        stored.iter().map(|s| blocks_of(s.0.len())).collect();
    let overflow_count: usize = files
        .iter()
        .zip(&data_blocks)
        .map(|(f, &n)| match &f.extents {
            Some(e) => e.len().saturating_sub(1) / 8,
            None => f.pieces.min(n.max(1) as usize).saturating_sub(1) / 8,
        })
        .sum();
    let dummy = (0..overflow_count as u32)
        .map(|i| {
            (
                [&[0, 10, 0, 0][..], &i.to_be_bytes(), &[0; 4]].concat(),
                vec![0; 64],
            )
        })
        .collect();
    let ext_len = tree(
        dummy,
        TreeKind { max_key: 10, attributes: 2, compare: 0 },
        0,
        false,
    )
    .bytes
    .len();

    // Blocks: the first 1536 bytes, the bitmap, the trees, the data.
    let reserved = blocks_of(1536);
    let data_total: u32 = stored
        .iter()
        .zip(files)
        .map(|(s, f)| {
            blocks_of(s.0.len()) + f.pieces as u32 + blocks_of(s.1.len())
        })
        .sum();
    let estimate = reserved
        + blocks_of(ext_len)
        + blocks_of(cat_len)
        + blocks_of(attr_tree.bytes.len())
        + data_total
        + 16;
    let bitmap_blocks = blocks_of((estimate as usize).div_ceil(8) + b);
    let mut alloc = Alloc { next: 0, used: Vec::new() };
    alloc.take(reserved);
    let bitmap = alloc.take(bitmap_blocks);
    let ext_at = alloc.take(blocks_of(ext_len));
    let cat_at = alloc.take(blocks_of(cat_len));
    let attr_at = alloc.take(blocks_of(attr_tree.bytes.len()));
    let mut forks = Vec::new();
    let mut writes: Vec<Placed> = Vec::new();
    let mut overflow: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let (data, rsrc, _) = &stored[i];
        let id = placed[i].0;
        let (size, ext) = match &f.extents {
            Some(e) => (data.len() as u64, e.clone()),
            None => {
                let e = if data.is_empty() {
                    Vec::new()
                } else {
                    alloc.pieces(blocks_of(data.len()), f.pieces)
                };
                writes.push((e.clone(), data.clone()));
                (data.len() as u64, e)
            }
        };
        // Past the eighth extent, records of eight keyed by the first
        // file block they hold.
        let mut start: u32 = ext.iter().take(8).map(|e| e.1).sum();
        for chunk in ext.get(8..).unwrap_or_default().chunks(8) {
            let mut k = 10u16.to_be_bytes().to_vec();
            k.extend([0, 0]);
            k.extend(id.to_be_bytes());
            k.extend(start.to_be_bytes());
            let mut d = Vec::new();
            for j in 0..8 {
                let (s, c) = chunk.get(j).copied().unwrap_or((0, 0));
                d.extend(s.to_be_bytes());
                d.extend(c.to_be_bytes());
            }
            start += chunk.iter().map(|e| e.1).sum::<u32>();
            overflow.push((k, d));
        }
        let mut dfork = fork_data(f.claim.unwrap_or(size), &ext);
        if f.extents.is_none() && ext.len() > 8 {
            // The total counts every block, not just the first eight's.
            let all: u32 = ext.iter().map(|e| e.1).sum();
            dfork[12..16].copy_from_slice(&all.to_be_bytes());
        }
        let r = if rsrc.is_empty() {
            Vec::new()
        } else {
            vec![alloc.take(blocks_of(rsrc.len()))]
        };
        writes.push((r.clone(), rsrc.clone()));
        forks.push((dfork, fork_data(rsrc.len() as u64, &r)));
    }
    overflow.sort_by(|a, b| {
        (&a.0[4..8], &a.0[8..12]).cmp(&(&b.0[4..8], &b.0[8..12]))
    });
    let ext_tree = tree(
        overflow,
        TreeKind { max_key: 10, attributes: 2, compare: 0 },
        0,
        false,
    );
    assert_eq!(ext_tree.bytes.len(), ext_len);
    let cat_tree = catalog_with(&forks);
    assert_eq!(cat_tree.bytes.len(), cat_len);

    // The volume ends with a free block and the alternate header.
    let total = (alloc.next + 1 + blocks_of(1024)).max(estimate);
    let size = total as usize * b;
    let mut img = vec![0u8; size];
    let put = |img: &mut Vec<u8>, runs: &[(u32, u32)], bytes: &[u8]| {
        let mut at = 0;
        for &(s, c) in runs {
            let n = (c as usize * b).min(bytes.len() - at);
            img[s as usize * b..s as usize * b + n]
                .copy_from_slice(&bytes[at..at + n]);
            at += n;
        }
    };
    put(&mut img, &[ext_at], &ext_tree.bytes);
    put(&mut img, &[cat_at], &cat_tree.bytes);
    put(&mut img, &[attr_at], &attr_tree.bytes);
    for (runs, bytes) in &writes {
        put(&mut img, runs, bytes);
    }
    let tail = blocks_of(1024);
    alloc.used.push((total - tail, tail));
    let mut map = vec![0u8; bitmap.1 as usize * b];
    for &(s, c) in &alloc.used {
        for blk in s..s + c {
            map[blk as usize / 8] |= 0x80 >> (blk % 8);
        }
    }
    let used_blocks: u32 = alloc.used.iter().map(|e| e.1).sum();
    put(&mut img, &[bitmap], &map);

    let mut h = Vec::new();
    h.extend(if o.hfsx { b"HX" } else { b"H+" });
    h.extend((if o.hfsx { 5u16 } else { 4 }).to_be_bytes());
    h.extend(0x100u32.to_be_bytes());
    h.extend(b"10.0");
    h.extend(0u32.to_be_bytes());
    h.extend(DATE.to_be_bytes().repeat(4));
    h.extend((files.len() as u32).to_be_bytes());
    h.extend((folders.len() as u32).to_be_bytes());
    h.extend(o.block.to_be_bytes());
    h.extend(total.to_be_bytes());
    h.extend((total - used_blocks).to_be_bytes());
    h.extend(alloc.next.to_be_bytes());
    h.extend(o.block.to_be_bytes());
    h.extend(o.block.to_be_bytes());
    h.extend(next_id.to_be_bytes());
    h.extend(1u32.to_be_bytes());
    h.extend(1u64.to_be_bytes());
    h.extend([0u8; 32]);
    for (len, at) in [
        (map.len(), bitmap),
        (ext_tree.bytes.len(), ext_at),
        (cat_tree.bytes.len(), cat_at),
        (attr_tree.bytes.len(), attr_at),
    ] {
        h.extend(fork_data(len as u64, &[at]));
    }
    h.extend(fork_data(0, &[]));
    assert_eq!(h.len(), 512);
    img[1024..1536].copy_from_slice(&h);
    img[size - 1024..size - 512].copy_from_slice(&h);
    img
}
