//! The compiled loading module: one file holding every signature in a
//! layout that is used in place, straight from a memory map.
//!
//! Layout (all integers little-endian, sections 8-byte aligned):
//!
//! ```text
//! header  64 bytes  magic "NOD32MOD", version, header CRC, file length,
//!                   payload CRC-32, section count, TOC offset
//! TOC     16 bytes per section: id u32, reserved u32, offset u64... (see
//!                   `Toc`), all bounds checked when the module is opened
//! sections          names, hash tables sorted by (size, digest), the
//!                   anchor filter and its open-addressing table, pattern records,
//!                   verification bytecode, logical signatures
//! ```
//!
//! Opening costs the same whatever the signature count: the header and
//! table of contents are checked, every section's bounds and record sizes
//! validated, and nothing is built. The payload CRC covers every byte after
//! the header; [`Database::verify_checksum`] reads the whole file, so the
//! compiler and the updater run it once before a module is installed, not
//! each process that maps it. Every read inside the scan is bounds-checked
//! as well, so even a damaged module cannot make a scan panic.

use std::collections::HashMap;
use std::path::Path;

use crate::ModuleError;
use crate::matcher;
use crate::sigs::body::{self, Elem};
use crate::sigs::{HashKind, Offset, SignatureSet, SubSig, expr};

const MAGIC: &[u8; 8] = b"NOD32MOD";
/// The module format version this engine writes and reads.
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 64;

/// Anchor hash: multiplication by an odd constant is a bijection on u32,
/// so distinct 4-byte anchors never collide in the full hash.
const MUL: u32 = 0x9E37_79B1;
/// An independent odd multiplier for the bits inside a filter word.
const MUL2: u32 = 0xC2B2_AE35;
/// The filter word of an anchor and the three bits it sets there: the top
/// bits of one hash pick a 64-bit word, a second hash three bits in it (a
/// blocked Bloom filter: one memory access per position; with 100,000
/// anchors in 512 KB about 0.05% of positions pass).
#[inline(always)]
fn filter_probe(w: u32, word_bits: u32) -> (usize, u64) {
    let word = (w.wrapping_mul(MUL) >> (32 - word_bits)) as usize;
    let h = w.wrapping_mul(MUL2);
    (
        word,
        1u64 << (h >> 26)
            | 1u64 << ((h >> 20) & 63)
            | 1u64 << ((h >> 14) & 63),
    )
}

/// The first slot of an anchor in the table of 2^`bits` slots.
#[inline(always)]
fn slot_of(w: u32, bits: u32) -> usize {
    (w.wrapping_mul(0x85EB_CA6B) >> (32 - bits)) as usize
}

mod sec {
    pub const NAMES_IDX: u32 = 1;
    pub const NAMES: u32 = 2;
    pub const HASH: [u32; 3] = [3, 4, 5];
    pub const FP: [u32; 3] = [6, 7, 8];
    pub const BITMAP4: u32 = 9;
    pub const ENTRIES4: u32 = 11;
    pub const BITMAP2: u32 = 12;
    pub const INDEX2: u32 = 13;
    pub const ENTRIES2: u32 = 14;
    pub const PATTERNS: u32 = 15;
    pub const CODE: u32 = 16;
    pub const LDB: u32 = 17;
    pub const EXPR: u32 = 18;
    pub const UNANCHORED: u32 = 19;
    pub const PARAMS: u32 = 20;
    pub const LDB_ALWAYS: u32 = 21;
    pub const PCRE: u32 = 22;
    pub const PCRE_DATA: u32 = 23;
    pub const COUNT: usize = 24;
}

const PATTERN_REC: usize = 28;
const PCRE_REC: usize = 32;
const PCRE_GLOBAL: u8 = 1;
const PCRE_ROLLING: u8 = 2;
const PCRE_ENCOMPASS: u8 = 4;
const PCRE_ANCHORED: u8 = 8;
const LDB_REC: usize = 40;
const KIND_NDB: u8 = 0;
const KIND_LDB: u8 = 1;
const OFF_ANY: u8 = 0;
const OFF_ABS: u8 = 1;
const OFF_EOF: u8 = 2;

fn hash_rec(kind_idx: usize) -> usize {
    8 + [16, 20, 32][kind_idx]
}

fn kind_idx(k: HashKind) -> usize {
    match k {
        HashKind::Md5 => 0,
        HashKind::Sha1 => 1,
        HashKind::Sha256 => 2,
    }
}

// ---------------------------------------------------------------------
// Compiling
// ---------------------------------------------------------------------

/// Summary of a compilation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompileStats {
    /// Patterns the anchor filter indexes.
    pub anchored: usize,
    /// Patterns with no two literal bytes at a fixed offset; they are
    /// checked at every position and slow scanning down.
    pub unanchored: usize,
    /// Signatures dropped by `.ign`/`.ign2`.
    pub ignored: usize,
}

struct Names {
    map: HashMap<String, u32>,
    list: Vec<String>,
}

impl Names {
    fn id(&mut self, n: &str) -> u32 {
        if let Some(&i) = self.map.get(n) {
            return i;
        }
        let i = self.list.len() as u32;
        self.map.insert(n.to_string(), i);
        self.list.push(n.to_string());
        i
    }
}

struct PatRec {
    code_off: u32,
    code_len: u32,
    anchor_off: u32,
    owner: u32,
    off: Offset,
    target: u8,
    kind: u8,
    sub: u8,
}

/// Compiles a signature set into module bytes.
pub fn compile(set: &SignatureSet) -> (Vec<u8>, CompileStats) {
    let mut stats = CompileStats::default();
    let mut names = Names { map: HashMap::new(), list: Vec::new() };

    // Hash tables, sorted by (size, digest); `*` sorts last as u32::MAX.
    let mut hash_tabs: [Vec<(u32, Vec<u8>, u32)>; 3] = Default::default();
    let mut fp_tabs: [Vec<(u32, Vec<u8>, u32)>; 3] = Default::default();
    for h in &set.hashes {
        if set.is_ignored(&h.name, &h.line_md5) {
            stats.ignored += 1;
            continue;
        }
        let id = names.id(&h.name);
        hash_tabs[kind_idx(h.kind)].push((
            h.size.unwrap_or(u32::MAX),
            h.digest.clone(),
            id,
        ));
    }
    for h in &set.fps {
        let id = names.id(&h.name);
        fp_tabs[kind_idx(h.kind)].push((
            h.size.unwrap_or(u32::MAX),
            h.digest.clone(),
            id,
        ));
    }
    for t in hash_tabs.iter_mut().chain(fp_tabs.iter_mut()) {
        // The first signature loaded wins a tie, as in ClamAV.
        t.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        t.dedup_by(|b, a| a.0 == b.0 && a.1 == b.1);
    }

    // Patterns.
    let mut code = Vec::new();
    let mut pats: Vec<PatRec> = Vec::new();
    let mut anchors4: Vec<(u32, u32)> = Vec::new();
    let mut anchors2: Vec<(u16, u32)> = Vec::new();
    let mut unanchored: Vec<u32> = Vec::new();
    // What the scanner may skip: the normalised-text pass when nothing
    // could match there, the extra mail pass when no signature targets
    // mail.
    let mut text_pass = false;
    let mut mail_target = false;
    let mut add_pattern =
        |elems: &[Elem],
         nocase: bool,
         rec: PatRec,
         pats: &mut Vec<PatRec>,
         stats: &mut CompileStats| {
            let pid = pats.len() as u32;
            let prog = body::compile(elems, nocase);
            let mut rec = rec;
            rec.code_off = code.len() as u32;
            rec.code_len = prog.len() as u32;
            code.extend(prog);
            match body::choose_anchor(elems, nocase) {
                Some(a) => {
                    rec.anchor_off = a.offset;
                    for v in &a.variants {
                        if a.width == 4 {
                            anchors4.push((u32::from_le_bytes(*v), pid));
                        } else {
                            anchors2
                                .push((u16::from_le_bytes([v[0], v[1]]), pid));
                        }
                    }
                    stats.anchored += 1;
                }
                None => {
                    unanchored.push(pid);
                    stats.unanchored += 1;
                }
            }
            pats.push(rec);
        };
    for n in &set.ndbs {
        if set.is_ignored(&n.name, &n.line_md5) {
            stats.ignored += 1;
            continue;
        }
        let rec = PatRec {
            code_off: 0,
            code_len: 0,
            anchor_off: 0,
            owner: names.id(&n.name),
            off: n.offset,
            target: n.target,
            kind: KIND_NDB,
            sub: 0,
        };
        text_pass |= matches!(n.target, 0 | 7)
            && body::can_match_normalized(&n.elems, false);
        mail_target |= n.target == 4;
        add_pattern(&n.elems, false, rec, &mut pats, &mut stats);
    }
    let mut ldb_recs = Vec::new();
    let mut exprs = Vec::new();
    let (mut pcre_recs, mut pcre_data) = (Vec::new(), Vec::new());
    let mut always = Vec::new();
    for l in &set.ldbs {
        if set.is_ignored(&l.name, &l.line_md5) {
            stats.ignored += 1;
            continue;
        }
        let lid = ldb_recs.len() as u32;
        // A logical signature's expression can hold with no subsignature
        // matched (`0=0`), so its target alone keeps a pass.
        text_pass |= l.target == 7;
        mail_target |= l.target == 4;
        let mut has_pcre = false;
        let zero = vec![0u32; l.subs.len()];
        let mut triggered_at_zero = false;
        for (si, sub) in l.subs.iter().enumerate() {
            match sub {
                SubSig::Body { offset, elems, mods } => {
                    for variant in body::apply_modifiers(elems, *mods) {
                        text_pass |= l.target == 0
                            && body::can_match_normalized(
                                &variant,
                                mods.nocase,
                            );
                        let rec = PatRec {
                            code_off: 0,
                            code_len: 0,
                            anchor_off: 0,
                            owner: lid,
                            off: *offset,
                            target: l.target,
                            kind: KIND_LDB,
                            sub: si as u8,
                        };
                        add_pattern(
                            &variant,
                            mods.nocase,
                            rec,
                            &mut pats,
                            &mut stats,
                        );
                    }
                }
                SubSig::Pcre(p) => {
                    has_pcre = true;
                    text_pass |= matches!(l.target, 0 | 7);
                    mail_target |= l.target == 4;
                    let mut trig = Vec::new();
                    p.trigger.encode(&mut trig);
                    triggered_at_zero |= expr::eval(&trig, &zero);
                    let (kind, n, shift) = offset_fields(p.offset);
                    let mut flags = 0;
                    for (on, bit) in [
                        (p.global, PCRE_GLOBAL),
                        (p.rolling, PCRE_ROLLING),
                        (p.encompass, PCRE_ENCOMPASS),
                        (p.anchored, PCRE_ANCHORED),
                    ] {
                        if on {
                            flags |= bit;
                        }
                    }
                    pcre_recs.extend(lid.to_le_bytes());
                    pcre_recs.extend([si as u8, flags, kind, 0]);
                    pcre_recs.extend(n.to_le_bytes());
                    pcre_recs.extend(shift.to_le_bytes());
                    pcre_recs.extend((pcre_data.len() as u32).to_le_bytes());
                    pcre_recs.extend((trig.len() as u32).to_le_bytes());
                    pcre_data.extend(trig);
                    pcre_recs.extend((pcre_data.len() as u32).to_le_bytes());
                    pcre_recs.extend((p.source.len() as u32).to_le_bytes());
                    pcre_data.extend(p.source.as_bytes());
                }
            }
        }
        let mut e = Vec::new();
        l.expr.encode(&mut e);
        if expr::eval(&e, &zero) || triggered_at_zero {
            always.push(lid);
        }
        let mut r = Vec::with_capacity(LDB_REC);
        r.extend(names.id(&l.name).to_le_bytes());
        r.push(l.target);
        r.push(l.subs.len() as u8);
        r.extend([l.filesize.is_some() as u8, has_pcre as u8]);
        r.extend((exprs.len() as u32).to_le_bytes());
        r.extend((e.len() as u32).to_le_bytes());
        let (lo, hi) = l.filesize.unwrap_or((0, u64::MAX));
        r.extend(lo.to_le_bytes());
        r.extend(hi.to_le_bytes());
        let container =
            l.container.as_deref().map_or(u32::MAX, |c| names.id(c));
        r.extend(container.to_le_bytes());
        r.extend(0u32.to_le_bytes());
        debug_assert_eq!(r.len(), LDB_REC);
        exprs.extend(e);
        ldb_recs.push(r);
    }

    // The anchor filter: 32 to 64 bits per anchor (512 KB for 100k
    // anchors stays in L2; measured faster than a sparser 2 MB one).
    anchors4.sort_unstable();
    anchors4.dedup();
    let n4 = anchors4.len().max(1);
    let k = (n4 * 32).next_power_of_two().trailing_zeros().clamp(16, 24);
    // (anchor, pattern) pairs in an open-addressing table at most half
    // full: a filter hit costs one cache miss, not an index and a list.
    let b = (n4 * 2).next_power_of_two().trailing_zeros().clamp(8, 24);
    let mut bitmap4 = vec![0u8; 1 << (k - 3)];
    let slots = 1usize << b;
    let mut table = vec![(0u32, u32::MAX); slots];
    for &(w, p) in &anchors4 {
        let (word, bits) = filter_probe(w, k - 6);
        for (i, x) in bits.to_le_bytes().iter().enumerate() {
            bitmap4[word * 8 + i] |= x;
        }
        let mut at = slot_of(w, b);
        while table[at].1 != u32::MAX {
            at = (at + 1) & (slots - 1);
        }
        table[at] = (w, p);
    }
    let entries4: Vec<u8> = table
        .iter()
        .flat_map(|(w, p)| w.to_le_bytes().into_iter().chain(p.to_le_bytes()))
        .collect();

    anchors2.sort_unstable();
    anchors2.dedup();
    let (mut bitmap2, mut index2, mut entries2) =
        (Vec::new(), Vec::new(), Vec::new());
    if !anchors2.is_empty() {
        bitmap2 = vec![0u8; 8192];
        let mut idx = vec![0u32; 65537];
        for &(v, p) in &anchors2 {
            bitmap2[v as usize >> 3] |= 1 << (v & 7);
            idx[v as usize + 1] += 1;
            entries2.extend(p.to_le_bytes());
        }
        for i in 1..idx.len() {
            idx[i] += idx[i - 1];
        }
        index2 = idx.iter().flat_map(|v| v.to_le_bytes()).collect();
    }

    let mut pat_bytes = Vec::with_capacity(pats.len() * PATTERN_REC);
    for p in &pats {
        let (kind, n, shift) = offset_fields(p.off);
        for v in [p.code_off, p.code_len, p.anchor_off, p.owner, n, shift] {
            pat_bytes.extend(v.to_le_bytes());
        }
        pat_bytes.extend([kind, p.target, p.kind, p.sub]);
    }

    let mut names_idx = Vec::with_capacity((names.list.len() + 1) * 4);
    let mut names_data = Vec::new();
    for n in &names.list {
        names_idx.extend((names_data.len() as u32).to_le_bytes());
        names_data.extend(n.as_bytes());
    }
    names_idx.extend((names_data.len() as u32).to_le_bytes());

    let table = |t: &Vec<(u32, Vec<u8>, u32)>| -> Vec<u8> {
        let mut out = Vec::new();
        for (size, digest, name) in t {
            out.extend(size.to_le_bytes());
            out.extend(name.to_le_bytes());
            out.extend(digest);
        }
        out
    };
    let u32s = |v: &[u32]| -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    };

    let mut sections: Vec<(u32, Vec<u8>)> = vec![
        (sec::NAMES_IDX, names_idx),
        (sec::NAMES, names_data),
        (sec::BITMAP4, bitmap4),
        (sec::ENTRIES4, entries4),
        (sec::BITMAP2, bitmap2),
        (sec::INDEX2, index2),
        (sec::ENTRIES2, entries2),
        (sec::PATTERNS, pat_bytes),
        (sec::CODE, code),
        (sec::LDB, ldb_recs.concat()),
        (sec::EXPR, exprs),
        (sec::UNANCHORED, u32s(&unanchored)),
        (
            sec::PARAMS,
            u32s(&[k, b, u32::from(text_pass) | u32::from(mail_target) << 1]),
        ),
        (sec::LDB_ALWAYS, u32s(&always)),
        (sec::PCRE, pcre_recs),
        (sec::PCRE_DATA, pcre_data),
    ];
    for i in 0..3 {
        sections.push((sec::HASH[i], table(&hash_tabs[i])));
        sections.push((sec::FP[i], table(&fp_tabs[i])));
    }
    (write(&sections), stats)
}

fn offset_fields(o: Offset) -> (u8, u32, u32) {
    match o {
        Offset::Any => (OFF_ANY, 0, 0),
        Offset::Abs { n, shift } => (OFF_ABS, n, shift),
        Offset::EofMinus { n, shift } => (OFF_EOF, n, shift),
    }
}

fn align8(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(8) {
        v.push(0);
    }
}

fn write(sections: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_LEN];
    let toc_off = out.len();
    out.resize(toc_off + sections.len() * 24, 0);
    align8(&mut out);
    let mut toc = Vec::new();
    for (id, data) in sections {
        let off = out.len() as u64;
        out.extend(data);
        toc.extend(id.to_le_bytes());
        toc.extend(0u32.to_le_bytes());
        toc.extend(off.to_le_bytes());
        toc.extend((data.len() as u64).to_le_bytes());
        align8(&mut out);
    }
    out[toc_off..toc_off + toc.len()].copy_from_slice(&toc);
    let file_len = out.len() as u64;
    let mut crc = flate2::Crc::new();
    crc.update(&out[HEADER_LEN..]);
    let payload_crc = crc.sum();
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.extend(MAGIC);
    h.extend(FORMAT_VERSION.to_le_bytes());
    h.extend(0u32.to_le_bytes()); // header CRC, filled below
    h.extend(file_len.to_le_bytes());
    h.extend(payload_crc.to_le_bytes());
    h.extend((sections.len() as u32).to_le_bytes());
    h.extend((toc_off as u64).to_le_bytes());
    h.resize(HEADER_LEN, 0);
    let mut c = flate2::Crc::new();
    c.update(&h);
    h[12..16].copy_from_slice(&c.sum().to_le_bytes());
    out[..HEADER_LEN].copy_from_slice(&h);
    out
}

// ---------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------

enum Backing {
    Mmap(memmap2::Mmap),
    /// Module bytes in memory, in u64 words so that the filter can be
    /// read as words whatever the allocator returned; the second field is
    /// the length in bytes.
    Owned(Vec<u64>, usize),
}

impl Backing {
    fn owned(bytes: &[u8]) -> Backing {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        for (w, c) in words.iter_mut().zip(bytes.chunks(8)) {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            *w = u64::from_ne_bytes(b);
        }
        Backing::Owned(words, bytes.len())
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Backing::Mmap(m) => m,
            Backing::Owned(w, len) => {
                // SAFETY: u8 has no alignment or validity requirements, so
                // viewing u64 words as bytes is always sound.
                #[allow(unsafe_code)]
                let (_, bytes, _) = unsafe { w.align_to::<u8>() };
                &bytes[..*len]
            }
        }
    }
}

/// A loaded signature module, shared by every scanner thread.
///
/// Opening maps the file and checks its structure in constant time; see
/// the module documentation for what is validated when.
pub struct Database {
    backing: Backing,
    ranges: [(usize, usize); sec::COUNT],
    k: u32,
    b: u32,
    /// Whether any pattern could match normalised text.
    pub(crate) text_pass: bool,
    /// Whether any signature targets mail (type 4).
    pub(crate) mail_target: bool,
    /// PCRE subsignatures compiled on first use (by record index), so
    /// that opening a module stays free whatever their number.
    regexes: std::sync::Mutex<
        HashMap<u32, Option<std::sync::Arc<regex::bytes::Regex>>>,
    >,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("bytes", &self.backing.bytes().len())
            .field("patterns", &self.pattern_count())
            .finish()
    }
}

fn rd32(b: &[u8], at: usize) -> u32 {
    b.get(at..at.wrapping_add(4))
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn rd64(b: &[u8], at: usize) -> u64 {
    b.get(at..at.wrapping_add(8))
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

impl Database {
    /// Maps a module file.
    ///
    /// # Errors
    /// I/O errors and structurally invalid modules.
    pub fn open(path: &Path) -> Result<Database, ModuleError> {
        let io = |source| ModuleError::Io { path: path.to_path_buf(), source };
        let file = std::fs::File::open(path).map_err(io)?;
        // SAFETY: the module is mapped read-only. Modules are replaced by
        // writing a new file and renaming it over the old one (the
        // updater and `compile` both do this), never changed in place, so
        // the mapped bytes stay as validated for the life of the map.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Database::with_backing(Backing::Mmap(map))
    }

    /// Uses module bytes held in memory.
    ///
    /// # Errors
    /// Structurally invalid modules.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Database, ModuleError> {
        Database::with_backing(Backing::owned(&bytes))
    }

    /// Compiles a signature set in memory.
    pub fn from_signatures(
        set: &SignatureSet,
    ) -> Result<Database, ModuleError> {
        Database::from_bytes(compile(set).0)
    }

    fn with_backing(backing: Backing) -> Result<Database, ModuleError> {
        let bytes = backing.bytes();
        let head = bytes.get(..HEADER_LEN).ok_or_else(|| {
            ModuleError::invalid("file shorter than the header")
        })?;
        if &head[..8] != MAGIC {
            return Err(ModuleError::invalid(
                "not a nod32 loading module (bad magic)",
            ));
        }
        let version = rd32(head, 8);
        if version != FORMAT_VERSION {
            return Err(ModuleError::Version {
                found: version,
                expected: FORMAT_VERSION,
            });
        }
        let mut h = head.to_vec();
        h[12..16].fill(0);
        let mut c = flate2::Crc::new();
        c.update(&h);
        if c.sum() != rd32(head, 12) {
            return Err(ModuleError::invalid("header checksum mismatch"));
        }
        if rd64(head, 16) != bytes.len() as u64 {
            return Err(ModuleError::invalid(format!(
                "file is {} bytes, header says {} (truncated?)",
                bytes.len(),
                rd64(head, 16)
            )));
        }
        let count = rd32(head, 28) as usize;
        let toc_off = rd64(head, 32) as usize;
        if count > 64 {
            return Err(ModuleError::invalid("too many sections"));
        }
        let toc = bytes
            .get(toc_off..toc_off.saturating_add(count * 24))
            .ok_or_else(|| {
                ModuleError::invalid("table of contents out of bounds")
            })?;
        let mut ranges = [(0usize, 0usize); sec::COUNT];
        for i in 0..count {
            let id = rd32(toc, i * 24) as usize;
            let off = rd64(toc, i * 24 + 8);
            let len = rd64(toc, i * 24 + 16);
            let end =
                off.checked_add(len).filter(|e| *e <= bytes.len() as u64);
            if id == 0
                || id >= sec::COUNT
                || end.is_none()
                || !off.is_multiple_of(8)
            {
                return Err(ModuleError::invalid(format!(
                    "section {id} out of bounds"
                )));
            }
            ranges[id] = (off as usize, len as usize);
        }
        let mut db = Database {
            backing,
            ranges,
            k: 0,
            b: 0,
            text_pass: true,
            mail_target: true,
            regexes: Default::default(),
        };
        db.k = rd32(db.sec(sec::PARAMS), 0);
        db.b = rd32(db.sec(sec::PARAMS), 4);
        let flags = rd32(db.sec(sec::PARAMS), 8);
        db.text_pass = flags & 1 != 0;
        db.mail_target = flags & 2 != 0;
        db.validate()?;
        Ok(db)
    }

    /// Checks every fixed relation between sections, in constant time.
    fn validate(&self) -> Result<(), ModuleError> {
        let bad = |what: &str| Err(ModuleError::invalid(what.to_string()));
        if !(16..=24).contains(&self.k) || !(8..=24).contains(&self.b) {
            return bad("bad filter parameters");
        }
        if self.sec(sec::BITMAP4).len() != 1 << (self.k - 3) {
            return bad("anchor bitmap has the wrong size");
        }
        if self.sec(sec::ENTRIES4).len() != (1 << self.b) * 8 {
            return bad("anchor table has the wrong size");
        }
        if self.filter_words().len() != 1 << (self.k - 6) {
            return bad("anchor filter is not 8-byte aligned in memory");
        }
        let b2 = self.sec(sec::BITMAP2).len();
        if b2 != 0 && (b2 != 8192 || self.sec(sec::INDEX2).len() != 65537 * 4)
        {
            return bad("short-anchor index has the wrong size");
        }
        if !self.sec(sec::PATTERNS).len().is_multiple_of(PATTERN_REC)
            || !self.sec(sec::LDB).len().is_multiple_of(LDB_REC)
        {
            return bad("record table misaligned");
        }
        for i in 0..3 {
            if !self.sec(sec::HASH[i]).len().is_multiple_of(hash_rec(i))
                || !self.sec(sec::FP[i]).len().is_multiple_of(hash_rec(i))
            {
                return bad("hash table misaligned");
            }
        }
        if !self.sec(sec::PCRE).len().is_multiple_of(PCRE_REC) {
            return bad("PCRE table misaligned");
        }
        if self.sec(sec::NAMES_IDX).len() < 4 {
            return bad("name table missing");
        }
        Ok(())
    }

    /// Reads the whole file and checks the payload CRC-32.
    ///
    /// # Errors
    /// [`ModuleError::Checksum`] when any byte differs from what was
    /// written.
    pub fn verify_checksum(&self) -> Result<(), ModuleError> {
        let bytes = self.backing.bytes();
        let mut c = flate2::Crc::new();
        c.update(&bytes[HEADER_LEN..]);
        if c.sum() == rd32(bytes, 24) {
            Ok(())
        } else {
            Err(ModuleError::Checksum)
        }
    }

    fn sec(&self, id: u32) -> &[u8] {
        let (off, len) = self.ranges[id as usize];
        &self.backing.bytes()[off..off + len]
    }

    /// The module's size in bytes.
    pub fn size(&self) -> usize {
        self.backing.bytes().len()
    }

    /// Number of body patterns (ndb signatures and ldb subsignatures).
    pub fn pattern_count(&self) -> usize {
        self.sec(sec::PATTERNS).len() / PATTERN_REC
    }

    /// Number of hash signatures.
    pub fn hash_count(&self) -> usize {
        (0..3).map(|i| self.sec(sec::HASH[i]).len() / hash_rec(i)).sum()
    }

    /// Number of logical signatures.
    pub fn logical_count(&self) -> usize {
        self.sec(sec::LDB).len() / LDB_REC
    }

    pub(crate) fn name(&self, id: u32) -> &str {
        let idx = self.sec(sec::NAMES_IDX);
        let (a, b) = (
            rd32(idx, id as usize * 4) as usize,
            rd32(idx, id as usize * 4 + 4) as usize,
        );
        self.sec(sec::NAMES)
            .get(a..b)
            .and_then(|s| std::str::from_utf8(s).ok())
            .unwrap_or("Unknown.Damaged.Module")
    }

    /// Whether any hash signature (or allow-list entry, with `fp`) of this
    /// kind exists for objects of `size` bytes or for any size.
    pub(crate) fn hash_wanted(
        &self,
        kind: usize,
        size: u64,
        fp: bool,
    ) -> bool {
        let (tab, rec) = (
            self.sec(if fp { sec::FP[kind] } else { sec::HASH[kind] }),
            hash_rec(kind),
        );
        if tab.is_empty() {
            return false;
        }
        let n = tab.len() / rec;
        let last_size = rd32(tab, (n - 1) * rec);
        if last_size == u32::MAX {
            return true;
        }
        let Ok(size) = u32::try_from(size) else { return false };
        let i = lower_bound(n, |i| rd32(tab, i * rec) < size);
        i < n && rd32(tab, i * rec) == size
    }

    /// Looks a digest up, sized entries first, then `*` entries.
    pub(crate) fn hash_lookup(
        &self,
        kind: usize,
        size: u64,
        digest: &[u8],
        fp: bool,
    ) -> Option<u32> {
        let (tab, rec) = (
            self.sec(if fp { sec::FP[kind] } else { sec::HASH[kind] }),
            hash_rec(kind),
        );
        let n = tab.len() / rec;
        let find = |size: u32| -> Option<u32> {
            let key = |i: usize| {
                (
                    rd32(tab, i * rec),
                    tab.get(i * rec + 8..(i + 1) * rec).unwrap_or_default(),
                )
            };
            let i = lower_bound(n, |i| key(i) < (size, digest));
            (i < n && key(i) == (size, digest)).then(|| rd32(tab, i * rec + 4))
        };
        u32::try_from(size)
            .ok()
            .filter(|s| *s != u32::MAX)
            .and_then(find)
            .or_else(|| find(u32::MAX))
    }
}

fn lower_bound(n: usize, less: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if less(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

// ---------------------------------------------------------------------
// Matching one buffer
// ---------------------------------------------------------------------

/// Target types as a bit mask for one pass over a buffer.
pub(crate) const T_ANY: u16 = 1 << 0;
pub(crate) const T_MAIL: u16 = 1 << 4;
pub(crate) const T_TEXT: u16 = 1 << 7;

/// What `EOF-n` offsets count from in a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Eof {
    /// The scanned buffer itself.
    Data,
    /// A normalised copy of an object of this length: as in ClamAV, the
    /// text-target patterns count from the original's end and generic
    /// patterns with an `EOF-n` offset cannot match.
    Normalized(u64),
}

/// What one pass found.
#[derive(Debug)]
pub(crate) struct PassHits {
    /// Verification steps this pass may still spend; zero means the
    /// pass stopped early and the object was not fully checked.
    pub(crate) steps_left: u64,
    /// The first `.ndb` signature matched (name id), if any.
    pub(crate) ndb: Option<u32>,
    /// `(ldb, subsignature, start)` of every logical subsignature match.
    pub(crate) lsub: Vec<(u32, u8, u32)>,
}

/// The object-level facts a logical signature's conditions test.
pub(crate) struct ObjectInfo<'a> {
    pub(crate) size: u64,
    /// The parent's ClamAV type name (`CL_TYPE_ANY` for a top object).
    pub(crate) container: &'a str,
}

impl Database {
    fn pattern(&self, pid: u32) -> Option<&[u8]> {
        let p = self.sec(sec::PATTERNS);
        let at = (pid as usize).checked_mul(PATTERN_REC)?;
        p.get(at..at + PATTERN_REC)
    }

    /// Runs every pattern of the targets in `mask` over `data`; stops at
    /// the first `.ndb` hit, as ClamAV does. `eof` says what `EOF-n`
    /// offsets count from.
    pub(crate) fn pass(&self, data: &[u8], mask: u16, eof: Eof) -> PassHits {
        // Generous for any real signature set (a few verification steps
        // per byte are typical), bounded for crafted input.
        let mut hits = PassHits {
            steps_left: (data.len() as u64).saturating_mul(32) + (1 << 22),
            ndb: None,
            lsub: Vec::new(),
        };
        let words = self.filter_words();
        let entries = self.sec(sec::ENTRIES4);
        let has2 = !self.sec(sec::BITMAP2).is_empty();
        // The filter has 2^(k-6) words of 64 bits.
        let word_bits = self.k - 6;
        let len = data.len();
        let mut stop = false;
        if len >= 4 && !entries.is_empty() && !words.is_empty() {
            // The hot loop: one multiply and one word test per byte; the
            // rare candidates are handled out of line so that the loop
            // keeps its registers.
            for (i, w) in data.windows(4).enumerate() {
                let w = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
                let (word, bits) = filter_probe(w, word_bits);
                if words[word] & bits == bits {
                    stop = self.hit4(w, data, i, mask, eof, &mut hits);
                }
                if has2 && !stop {
                    stop = self.check2(data, i, mask, eof, &mut hits);
                }
                if stop {
                    return hits;
                }
            }
        }
        if has2 {
            // Positions too close to the end for a four-byte anchor.
            let from =
                if len >= 4 && !entries.is_empty() { len - 3 } else { 0 };
            for i in from..len.saturating_sub(1) {
                if self.check2(data, i, mask, eof, &mut hits) {
                    return hits;
                }
            }
        }
        let un = self.sec(sec::UNANCHORED);
        for u in 0..un.len() / 4 {
            let pid = rd32(un, u * 4);
            for start in 0..len {
                if self.candidate_at(pid, data, start, mask, eof, &mut hits) {
                    return hits;
                }
            }
        }
        hits
    }

    #[cold]
    #[inline(never)]
    fn hit4(
        &self,
        w: u32,
        data: &[u8],
        i: usize,
        mask: u16,
        eof: Eof,
        hits: &mut PassHits,
    ) -> bool {
        let entries = self.sec(sec::ENTRIES4);
        let slots = entries.len() / 8;
        let mut at = slot_of(w, self.b);
        // The table is at most half full, so an empty slot ends the probe;
        // the bound only matters for a damaged module.
        for _ in 0..slots {
            let p = rd32(entries, at * 8 + 4);
            if p == u32::MAX {
                break;
            }
            if rd32(entries, at * 8) == w
                && self.candidate(p, data, i, mask, eof, hits)
            {
                return true;
            }
            at = (at + 1) & (slots - 1);
        }
        false
    }

    /// The anchor filter as 64-bit words, without a copy: sections are
    /// 8-byte aligned in the file, maps are page-aligned and in-memory
    /// modules are kept in u64 words.
    fn filter_words(&self) -> &[u64] {
        let b = self.sec(sec::BITMAP4);
        // SAFETY: every bit pattern is a valid u64, and `align_to` only
        // returns the aligned middle part of the slice.
        #[allow(unsafe_code)]
        let (pre, words, post) = unsafe { b.align_to::<u64>() };
        if pre.is_empty() && post.is_empty() { words } else { &[] }
    }

    #[inline]
    fn check2(
        &self,
        data: &[u8],
        i: usize,
        mask: u16,
        eof: Eof,
        hits: &mut PassHits,
    ) -> bool {
        let v = u16::from_le_bytes([data[i], data[i + 1]]) as usize;
        if self.sec(sec::BITMAP2)[v >> 3] & (1 << (v & 7)) == 0 {
            return false;
        }
        let idx = self.sec(sec::INDEX2);
        let e2 = self.sec(sec::ENTRIES2);
        let (lo, hi) =
            (rd32(idx, v * 4) as usize, rd32(idx, v * 4 + 4) as usize);
        for e in lo..hi {
            if self.candidate(rd32(e2, e * 4), data, i, mask, eof, hits) {
                return true;
            }
        }
        false
    }

    /// A candidate from the anchor filter at `anchor_pos`; true = stop.
    fn candidate(
        &self,
        pid: u32,
        data: &[u8],
        anchor_pos: usize,
        mask: u16,
        eof: Eof,
        hits: &mut PassHits,
    ) -> bool {
        let Some(rec) = self.pattern(pid) else { return false };
        let Some(start) = anchor_pos.checked_sub(rd32(rec, 8) as usize) else {
            return false;
        };
        self.candidate_at(pid, data, start, mask, eof, hits)
    }

    fn candidate_at(
        &self,
        pid: u32,
        data: &[u8],
        start: usize,
        mask: u16,
        eof: Eof,
        hits: &mut PassHits,
    ) -> bool {
        if hits.steps_left == 0 {
            // Out of verification budget: end the pass.
            return true;
        }
        let Some(rec) = self.pattern(pid) else { return false };
        let target = rec[25];
        if target >= 16 || mask & (1 << target) == 0 {
            return false;
        }
        let (n, shift) = (rd32(rec, 16) as u64, rd32(rec, 20) as u64);
        let s = start as u64;
        let ok = match rec[24] {
            OFF_ANY => true,
            OFF_ABS => s >= n && s <= n + shift,
            OFF_EOF => {
                let end = match eof {
                    Eof::Data => Some(data.len() as u64),
                    Eof::Normalized(len) if target != 0 => Some(len),
                    Eof::Normalized(_) => None,
                };
                end.and_then(|e| e.checked_sub(n))
                    .is_some_and(|lo| s >= lo && s <= lo + shift)
            }
            _ => false,
        };
        if !ok {
            return false;
        }
        let (off, clen) = (rd32(rec, 0) as usize, rd32(rec, 4) as usize);
        let Some(prog) =
            self.sec(sec::CODE).get(off..off.saturating_add(clen))
        else {
            return false;
        };
        if matcher::verify_within(prog, data, start, &mut hits.steps_left)
            .is_none()
        {
            return false;
        }
        match rec[26] {
            KIND_NDB => {
                hits.ndb = Some(rd32(rec, 12));
                true
            }
            _ => {
                hits.lsub.push((rd32(rec, 12), rec[27], start as u32));
                false
            }
        }
    }

    /// Evaluates the logical signatures of `mask` after a pass: those with
    /// a target first, then the generic ones, each in load order.
    pub(crate) fn eval_logical(
        &self,
        hits: &mut PassHits,
        mask: u16,
        obj: &ObjectInfo<'_>,
        data: &[u8],
    ) -> Option<u32> {
        let always = self.sec(sec::LDB_ALWAYS);
        if hits.lsub.is_empty() && always.is_empty() {
            return None;
        }
        hits.lsub.sort_unstable();
        hits.lsub.dedup();
        let ldb = self.sec(sec::LDB);
        let mut ids: Vec<u32> = hits.lsub.iter().map(|h| h.0).collect();
        ids.extend((0..always.len() / 4).map(|i| rd32(always, i * 4)));
        ids.sort_unstable();
        ids.dedup();
        let mut order: Vec<(bool, u32)> = ids
            .into_iter()
            .filter_map(|id| {
                let r = ldb
                    .get(id as usize * LDB_REC..(id as usize + 1) * LDB_REC)?;
                let t = r[4];
                (t < 16 && mask & (1 << t) != 0).then_some((t == 0, id))
            })
            .collect();
        order.sort_unstable();
        for (_, id) in order {
            let r = &ldb[id as usize * LDB_REC..(id as usize + 1) * LDB_REC];
            if r[6] != 0 && (obj.size < rd64(r, 16) || obj.size > rd64(r, 24))
            {
                continue;
            }
            let container = rd32(r, 32);
            if container != u32::MAX && self.name(container) != obj.container {
                continue;
            }
            let nsubs = r[5] as usize;
            let mut counts = vec![0u32; nsubs];
            let first = hits.lsub.partition_point(|h| h.0 < id);
            for h in &hits.lsub[first..] {
                if h.0 != id {
                    break;
                }
                if let Some(c) = counts.get_mut(h.1 as usize) {
                    *c += 1;
                }
            }
            if r[7] != 0 {
                self.run_pcres(id, data, &mut counts);
            }
            let (eo, el) = (rd32(r, 8) as usize, rd32(r, 12) as usize);
            let Some(code) =
                self.sec(sec::EXPR).get(eo..eo.saturating_add(el))
            else {
                continue;
            };
            if expr::eval(code, &counts) {
                return Some(rd32(r, 0));
            }
        }
        None
    }
}

impl Database {
    fn regex(
        &self,
        rec: u32,
        src: &[u8],
    ) -> Option<std::sync::Arc<regex::bytes::Regex>> {
        let mut cache = self.regexes.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(rec)
            .or_insert_with(|| {
                let src = std::str::from_utf8(src).ok()?;
                regex::bytes::RegexBuilder::new(src)
                    .size_limit(crate::sigs::PCRE_SIZE_LIMIT)
                    .build()
                    .ok()
                    .map(std::sync::Arc::new)
            })
            .clone()
    }

    /// Runs the PCRE subsignatures of logical signature `id` whose
    /// triggers hold, in order, adding their matches to `counts`; as in
    /// ClamAV, a later trigger sees the counts of earlier PCREs.
    fn run_pcres(&self, id: u32, data: &[u8], counts: &mut [u32]) {
        let recs = self.sec(sec::PCRE);
        let pdata = self.sec(sec::PCRE_DATA);
        let n = recs.len() / PCRE_REC;
        let mut i = lower_bound(n, |i| rd32(recs, i * PCRE_REC) < id);
        while i < n && rd32(recs, i * PCRE_REC) == id {
            let r = &recs[i * PCRE_REC..(i + 1) * PCRE_REC];
            let at = i as u32;
            i += 1;
            let (sub, flags, kind) = (r[4] as usize, r[5], r[6]);
            let (off_n, shift) = (rd32(r, 8) as usize, rd32(r, 12) as usize);
            let slice = |o: usize, l: usize| pdata.get(o..o.saturating_add(l));
            let Some(trig) = slice(rd32(r, 16) as usize, rd32(r, 20) as usize)
            else {
                continue;
            };
            let Some(src) = slice(rd32(r, 24) as usize, rd32(r, 28) as usize)
            else {
                continue;
            };
            if !expr::eval(trig, counts) {
                continue;
            }
            let Some(re) = self.regex(at, src) else { continue };
            // Where the search starts: the buffer's start for `*`, else
            // the offset; anchored there unless rolling or floating.
            let (start, any) = match kind {
                OFF_ABS => (Some(off_n), false),
                OFF_EOF => (data.len().checked_sub(off_n), false),
                _ => (Some(0), true),
            };
            let Some(start) = start.filter(|s| *s < data.len()) else {
                continue;
            };
            let anchored = flags & PCRE_ANCHORED != 0
                || (flags & PCRE_ROLLING == 0 && shift == 0 && !any);
            let window = if flags & PCRE_ENCOMPASS != 0 && shift > 0 {
                &data[start..data.len().min(start + shift)]
            } else {
                &data[start..]
            };
            let mut from = 0;
            let mut found = 0u32;
            while let Some(m) = re.find_at(window, from) {
                if anchored && m.start() != from {
                    break;
                }
                if flags & PCRE_ENCOMPASS == 0
                    && shift > 0
                    && m.start() > shift
                {
                    break;
                }
                found += 1;
                // An empty match would repeat forever (ClamAV loops on it).
                if flags & PCRE_GLOBAL == 0
                    || m.end() == m.start()
                    || m.end() >= window.len()
                {
                    break;
                }
                from = m.end();
            }
            if let Some(c) = counts.get_mut(sub) {
                *c += found;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcre_subsignatures() {
        let d = db(&[(
            "p.ldb",
            "P1;Target:0;0&1;41424344;0/x[0-9]+y/\n\
             P2;Target:0;0&1>1;45464748;0/z\\d/g\n\
             P3;Target:0;0&1;494a4b4c;0:0/IJKL..!/\n\
             P4;Target:0;0&1;4d4e4f50;2,3:0/q/e\n",
        )]);
        let name = |data: &[u8]| {
            let obj = ObjectInfo {
                size: data.len() as u64,
                container: "CL_TYPE_ANY",
            };
            let mut h = d.pass(data, T_ANY, Eof::Data);
            d.eval_logical(&mut h, T_ANY, &obj, data)
                .map(|n| d.name(n).to_string())
        };
        assert_eq!(name(b"ABCD x123y").as_deref(), Some("P1"));
        assert_eq!(name(b"ABCD xy"), None);
        assert_eq!(name(b"x1y only"), None);
        assert_eq!(name(b"EFGH z1 z2").as_deref(), Some("P2"));
        assert_eq!(name(b"EFGH z1").as_deref(), None);
        // Anchored at offset 0.
        assert_eq!(name(b"IJKL..!").as_deref(), Some("P3"));
        assert_eq!(name(b" IJKL..!"), None);
        // Encompassed to bytes 2..5.
        assert_eq!(name(b"xxqxMNOP").as_deref(), Some("P4"));
        assert_eq!(name(b"xxxxqMNOP").as_deref(), Some("P4"));
        assert_eq!(name(b"xxxxxqMNOP"), None);
    }

    fn db(files: &[(&str, &str)]) -> Database {
        let mut s = SignatureSet::new();
        for (n, t) in files {
            s.load_bytes(n, t.as_bytes()).unwrap();
        }
        Database::from_signatures(&s).unwrap()
    }

    #[test]
    fn assert_send_sync() {
        fn ok<T: Send + Sync>() {}
        ok::<Database>();
    }

    #[test]
    fn finds_ndb_with_offsets() {
        let d = db(&[(
            "t.ndb",
            "Any:0:*:41424344\nAbs:0:2,1:45464748\nEof:0:EOF-4:494a4b4c\nShort:0:*:5a5a??5a\n",
        )]);
        let name = |data: &[u8]| {
            d.pass(data, T_ANY, Eof::Data).ndb.map(|n| d.name(n).to_string())
        };
        assert_eq!(name(b"xxABCDxx").as_deref(), Some("Any"));
        assert_eq!(name(b"xxxEFGH").as_deref(), Some("Abs"));
        assert_eq!(name(b"xxxxEFGH"), None);
        assert_eq!(name(b"EFGH"), None);
        assert_eq!(name(b"zzIJKL").as_deref(), Some("Eof"));
        assert_eq!(name(b"IJKLz"), None);
        assert_eq!(name(b"ZZ.Z").as_deref(), Some("Short"));
        assert_eq!(name(b"ZZ.Y"), None);
    }

    #[test]
    fn passes_the_module_can_skip() {
        let bin = db(&[("b.ndb", "B:0:*:00ff00ff41\n")]);
        assert!(!bin.text_pass && !bin.mail_target);
        let text = db(&[("t.ndb", "T:0:*:68656c6c6f\nM:4:*:00ff00ff41\n")]);
        assert!(text.text_pass && text.mail_target);
        let ldb = db(&[("l.ldb", "L;Target:7;0=0;00ff00ff41\n")]);
        assert!(ldb.text_pass);
    }

    #[test]
    fn targets_are_respected() {
        let d = db(&[("t.ndb", "Mail:4:*:41424344\n")]);
        assert!(d.pass(b"ABCD", T_ANY, Eof::Data).ndb.is_none());
        assert!(d.pass(b"ABCD", T_ANY | T_MAIL, Eof::Data).ndb.is_some());
    }

    #[test]
    fn hashes_by_size_then_wildcard() {
        let d = db(&[
            ("t.hdb", "44d88612fea8a8f36de82e1278abb02f:68:E68\n"),
            ("w.hsb", "0000000000000000000000000000000000000000:*:W:73\n"),
        ]);
        let md5 = hex("44d88612fea8a8f36de82e1278abb02f");
        assert!(d.hash_wanted(0, 68, false));
        assert!(!d.hash_wanted(0, 69, false));
        assert!(d.hash_wanted(1, 12345, false));
        assert_eq!(
            d.hash_lookup(0, 68, &md5, false).map(|n| d.name(n)),
            Some("E68")
        );
        assert_eq!(d.hash_lookup(0, 67, &md5, false), None);
        assert_eq!(
            d.hash_lookup(1, 5, &[0; 20], false).map(|n| d.name(n)),
            Some("W")
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn logical_counts() {
        let d = db(&[("t.ldb", "L;Target:0;0>1&1;41424344;45464748::i\n")]);
        let obj = ObjectInfo { size: 0, container: "CL_TYPE_ANY" };
        let mut h = d.pass(b"ABCD efgh ABCD", T_ANY, Eof::Data);
        assert!(d.eval_logical(&mut h, T_ANY, &obj, b"").is_some());
        let mut h = d.pass(b"ABCD efgh", T_ANY, Eof::Data);
        assert!(d.eval_logical(&mut h, T_ANY, &obj, b"").is_none());
    }

    #[test]
    fn rejects_damage() {
        let (bytes, _) = compile(&SignatureSet::new());
        assert!(Database::from_bytes(bytes.clone()).is_ok());
        assert!(
            Database::from_bytes(bytes[..bytes.len() - 1].to_vec()).is_err()
        );
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert!(Database::from_bytes(bad).is_err());
        let mut v = bytes.clone();
        v[8] = 9;
        assert!(matches!(
            Database::from_bytes(v),
            Err(ModuleError::Version { .. })
        ));
        // The middle of the file is the (empty) anchor bitmap.
        let mut body = bytes.clone();
        let mid = body.len() / 2;
        body[mid] ^= 0xff;
        let d = Database::from_bytes(body).unwrap();
        assert!(matches!(d.verify_checksum(), Err(ModuleError::Checksum)));
    }
}
