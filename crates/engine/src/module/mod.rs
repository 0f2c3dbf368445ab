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
//!                   verification bytecode, logical signatures, and (from
//!                   format 3) the database files it was built from
//! ```
//!
//! Opening costs the same whatever the signature count: the header and
//! table of contents are checked, every section's bounds and record sizes
//! validated, and nothing is built. The payload CRC covers every byte after
//! the header; [`Database::verify_checksum`] reads the whole file, so the
//! compiler and the updater run it once before a module is installed, not
//! each process that maps it. Every read inside the scan is bounds-checked
//! as well, so even a damaged module cannot make a scan panic.

mod certs;
mod filter;
pub(crate) mod icons;
mod magic;
pub(crate) mod meta;
mod pass;
pub(crate) mod phish;

use std::collections::HashMap;
use std::path::Path;

use crate::ModuleError;
use crate::sigs::{HashKind, Source};

pub(crate) use pass::{
    Eof, ObjectInfo, T_ANY, T_ELF, T_EMBEDDED, T_EMBEDDED_EXE, T_GRAPHICS,
    T_HTML, T_JAVA, T_MACHO, T_MAIL, T_OLE2, T_PDF, T_PE, T_SWF, T_TEXT,
};

pub(crate) const MAGIC: &[u8; 8] = b"NOD32MOD";
/// The module format version this engine writes. Format 3 added the
/// list of database files ([`Database::sources`]), format 4 container
/// metadata rules (`.cdb`), which an engine that does not know them must
/// not silently drop, and which names are of unofficial databases;
/// format 5 the phishing URL lists (`.pdb`, `.gdb`, `.wdb`), format 6
/// the database's file-type magic (`.ftm`), format 7 the icon
/// signatures (`.idb`) and logical signatures' icon groups, format 8
/// the certificate rules (`.crb`) and what `.cat` catalogs trusted,
/// format 9 the built-in patterns of embedded types (an older module
/// still scans, without looking for files inside files), format 10 the
/// order clamscan finds `.ndb` matches in ([`sec::ORDER`]; an older
/// module reports the first match in the order of its anchors).
pub const FORMAT_VERSION: u32 = 10;
/// The oldest format this engine still reads: a format 2 module differs
/// only in having no list of sources, and refusing it would stop every
/// agent after a package upgrade until nod32upd next rebuilt the module
/// (the package keeps an existing module).
const OLDEST_FORMAT: u32 = 2;
pub(crate) const HEADER_LEN: usize = 64;

/// Anchor hash: multiplication by an odd constant is a bijection on u32,
/// so distinct 4-byte anchors never collide in the full hash.
pub(crate) const MUL: u32 = 0x9E37_79B1;
/// An independent odd multiplier for the bits inside a filter word.
pub(crate) const MUL2: u32 = 0xC2B2_AE35;
/// The filter word of an anchor and the three bits it sets there: the top
/// bits of one hash pick a 64-bit word, a second hash three bits in it (a
/// blocked Bloom filter: one memory access per position; with 100,000
/// anchors in 512 KB about 0.05% of positions pass).
#[inline(always)]
pub(crate) fn filter_probe(w: u32, word_bits: u32) -> (usize, u64) {
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
pub(crate) fn slot_of(w: u32, bits: u32) -> usize {
    (w.wrapping_mul(0x85EB_CA6B) >> (32 - bits)) as usize
}

/// `PARAMS` flags: the module says whether some anchor is made only of
/// text bytes (`sigs::body::text_byte`), and if so the second flag is
/// set. Modules written before say nothing and are probed in full.
/// (Flags 8 and 16 were a text-anchor filter in builds of one day that
/// never shipped; they are left unused.)
pub(crate) const PARAM_TEXT_KNOWN: u32 = 32;
pub(crate) const PARAM_TEXT_ANCHORED: u32 = 64;

pub(crate) mod sec {
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
    pub const MDB: [u32; 3] = [24, 25, 26];
    pub const LDB_PE: u32 = 27;
    pub const SOURCES: u32 = 28;
    pub const CDB: u32 = 29;
    pub const CDB_DATA: u32 = 30;
    /// One bit per name: set for signatures of unofficial databases.
    pub const UNOFFICIAL: u32 = 31;
    pub const LDB_INTER: u32 = 32;
    pub const PHISH: u32 = 33;
    pub const PHISH_DATA: u32 = 34;
    pub const FTM: u32 = 35;
    pub const FTM_DATA: u32 = 36;
    pub const IDB: u32 = 37;
    pub const LDB_ICON: u32 = 38;
    /// `.crb` rules and certificates `.cat` catalogs made trusted.
    pub const CERTS: u32 = 39;
    /// The longest pattern of each target, then one record of four u32
    /// per `.ndb` pattern (`compile/order.rs`).
    pub const ORDER: u32 = 40;
    pub const COUNT: usize = 41;
}

/// The `ORDER` section's head: 16 u32 lengths.
pub(crate) const ORDER_HEAD: usize = 64;
/// An `ORDER` record: place, head, trie bytes, spread (`compile/order.rs`).
pub(crate) const ORDER_REC: usize = 16;
/// In an `ORDER` record's place: counted back from the match's end.
pub(crate) const ORDER_FROM_END: u32 = 1 << 31;
/// clamscan's scan buffer: it matches an object in chunks of this size,
/// each overlapping the one before by the longest pattern.
pub(crate) const SCAN_CHUNK: u64 = 131_072;

pub(crate) const PATTERN_REC: usize = 28;
/// A source's fixed part: signatures u64, build time u64 (0: none),
/// version u32, flags u8 (1: has a version), reserved u8, name length
/// u16; the UTF-8 name follows.
pub(crate) const SOURCE_REC: usize = 24;
pub(crate) const PCRE_REC: usize = 32;
pub(crate) const PCRE_GLOBAL: u8 = 1;
pub(crate) const PCRE_ROLLING: u8 = 2;
pub(crate) const PCRE_ENCOMPASS: u8 = 4;
pub(crate) const PCRE_ANCHORED: u8 = 8;
pub(crate) const LDB_REC: usize = 40;
/// A container metadata rule: name id u32, container type u16 (an index
/// into `CLAMAV_TYPES`, `u16::MAX` for any), encrypted u8 (2: either),
/// flags u8 (1: has a name regex), four ranges of two u32 (container
/// size, size in container, real size, position; `u32::MAX` twice for
/// `*`), the regex's offset and length in `CDB_DATA`.
pub(crate) const CDB_REC: usize = 48;
/// A phishing list line: list u8 (1: allow), kind u8 (regex, literal,
/// hash), hash category u8, flags u8 (1: a prefix hash), its bytes'
/// offset and length in `PHISH_DATA`, reserved u32.
pub(crate) const PHISH_REC: usize = 16;
/// A file-type magic line: offset u32, its bytes' offset and length in
/// `FTM_DATA`, the type (an index into `CLAMAV_TYPES`) u32.
pub(crate) const FTM_REC: usize = 16;
/// A logical signature's `Intermediates`: its index u32, the count u32,
/// then 16 name ids u32 (the types, outermost first).
pub(crate) const LDB_INTER_REC: usize = 72;
/// An `.idb` entry (see `icons.rs`).
pub(crate) const IDB_REC: usize = 80;
/// A logical signature's icon groups (see `icons.rs`).
pub(crate) const LDB_ICON_REC: usize = 12;
/// EntryPoint and NumberOfSections ranges of one logical signature.
pub(crate) const LDB_PE_REC: usize = 32;
pub(crate) const KIND_NDB: u8 = 0;
pub(crate) const KIND_LDB: u8 = 1;
/// A built-in embedded-type pattern (format 9): its owner field is a
/// [`crate::filetype::embedded::Embedded`] code, not a name.
pub(crate) const KIND_TYPE: u8 = 2;
/// The target numbers of embedded-type patterns: executables found only
/// inside executables and OLE2 files, the other types in most objects.
/// ClamAV's targets stop at 14, and 13 and 14 are refused at load, so no
/// signature shares these.
pub(crate) const TARGET_EMBEDDED_EXE: u8 = 14;
pub(crate) const TARGET_EMBEDDED: u8 = 15;
pub(crate) const OFF_ANY: u8 = 0;
pub(crate) const OFF_ABS: u8 = 1;
pub(crate) const OFF_EOF: u8 = 2;
pub(crate) const OFF_EP_PLUS: u8 = 3;
pub(crate) const OFF_EP_MINUS: u8 = 4;
pub(crate) const OFF_SL: u8 = 5;
/// Where a string of a PE's version information starts.
pub(crate) const OFF_VI: u8 = 6;
/// With the section index in the low six bits.
pub(crate) const OFF_SEC: u8 = 0x40;
pub(crate) const OFF_SE: u8 = 0x80;

pub(crate) fn hash_rec(kind_idx: usize) -> usize {
    8 + [16, 20, 32][kind_idx]
}

pub(crate) fn kind_idx(k: HashKind) -> usize {
    match k {
        HashKind::Md5 => 0,
        HashKind::Sha1 => 1,
        HashKind::Sha256 => 2,
    }
}

// Loading: mapping a module and checking its structure.

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
    format: u32,
    pub(crate) k: u32,
    pub(crate) b: u32,
    /// Whether any pattern could match normalised text.
    pub(crate) text_pass: bool,
    /// Whether any signature targets mail (type 4).
    pub(crate) mail_target: bool,
    /// Whether any signature needs a PE's headers (target 1, a
    /// PE-relative offset, a section hash).
    pub(crate) pe_needed: bool,
    /// Whether the module says that no anchor is made only of text
    /// bytes: base64 text is then stepped over.
    pub(crate) step_text: bool,
    /// PCRE subsignatures compiled on first use (by record index), so
    /// that opening a module stays free whatever their number.
    pub(crate) regexes: std::sync::Mutex<
        HashMap<u32, Option<std::sync::Arc<regex::bytes::Regex>>>,
    >,
    /// Container metadata name rules, built on first use.
    pub(crate) cdb_names: std::sync::OnceLock<meta::NameRules>,
    /// Phishing lists, built on first use.
    pub(crate) phish: std::sync::OnceLock<phish::PhishLists>,
    /// The certificate store, read on first use.
    pub(crate) certs:
        std::sync::OnceLock<(crate::auth::Store, crate::auth::Store)>,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("bytes", &self.backing.bytes().len())
            .field("patterns", &self.pattern_count())
            .finish()
    }
}

pub(crate) fn rd32(b: &[u8], at: usize) -> u32 {
    b.get(at..at.wrapping_add(4))
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

pub(crate) fn rd64(b: &[u8], at: usize) -> u64 {
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
        let io = |source| ModuleError::Io {
            path: path.to_path_buf(),
            cause: source,
        };
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
        if !(OLDEST_FORMAT..=FORMAT_VERSION).contains(&version) {
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
            format: version,
            k: 0,
            b: 0,
            text_pass: true,
            mail_target: true,
            pe_needed: true,
            step_text: false,
            regexes: Default::default(),
            cdb_names: std::sync::OnceLock::new(),
            phish: std::sync::OnceLock::new(),
            certs: std::sync::OnceLock::new(),
        };
        db.k = rd32(db.sec(sec::PARAMS), 0);
        db.b = rd32(db.sec(sec::PARAMS), 4);
        let flags = rd32(db.sec(sec::PARAMS), 8);
        db.text_pass = flags & 1 != 0;
        db.mail_target = flags & 2 != 0;
        db.pe_needed = flags & 4 != 0;
        db.step_text =
            flags & PARAM_TEXT_KNOWN != 0 && flags & PARAM_TEXT_ANCHORED == 0;
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
        let order = self.sec(sec::ORDER).len();
        if order != 0
            && (order < ORDER_HEAD
                || !(order - ORDER_HEAD).is_multiple_of(ORDER_REC)
                || (order - ORDER_HEAD) / ORDER_REC
                    > self.sec(sec::PATTERNS).len() / PATTERN_REC)
        {
            return bad("match order table has the wrong size");
        }
        if !self.sec(sec::PCRE).len().is_multiple_of(PCRE_REC) {
            return bad("PCRE table misaligned");
        }
        if !self.sec(sec::LDB_INTER).len().is_multiple_of(LDB_INTER_REC) {
            return bad("Intermediates table misaligned");
        }
        if !self.sec(sec::CDB).len().is_multiple_of(CDB_REC) {
            return bad("container metadata table misaligned");
        }
        if !self.sec(sec::FTM).len().is_multiple_of(FTM_REC) {
            return bad("file-type magic table misaligned");
        }
        if !self.sec(sec::IDB).len().is_multiple_of(IDB_REC)
            || !self.sec(sec::LDB_ICON).len().is_multiple_of(LDB_ICON_REC)
        {
            return bad("icon table misaligned");
        }
        if !self.sec(sec::PHISH).len().is_multiple_of(PHISH_REC) {
            return bad("phishing list table misaligned");
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

    pub(crate) fn sec(&self, id: u32) -> &[u8] {
        let (off, len) = self.ranges[id as usize];
        &self.backing.bytes()[off..off + len]
    }

    /// The module's size in bytes.
    pub fn size(&self) -> usize {
        self.backing.bytes().len()
    }

    /// Whether the module holds the built-in patterns of embedded types
    /// (written last): none before format 9, nor beside a `.ftm`.
    pub(crate) fn has_embedded(&self) -> bool {
        let recs = self.sec(sec::PATTERNS);
        recs.len() >= PATTERN_REC
            && recs[recs.len() - PATTERN_REC + 26] == KIND_TYPE
    }

    /// Number of body patterns (ndb signatures and ldb subsignatures).
    pub fn pattern_count(&self) -> usize {
        // The built-in embedded-type patterns, written last, are no
        // signatures.
        let recs = self.sec(sec::PATTERNS);
        let n = recs.len() / PATTERN_REC;
        let builtin = (0..n)
            .rev()
            .take_while(|i| recs[i * PATTERN_REC + 26] == KIND_TYPE)
            .count();
        n - builtin
    }

    /// Number of hash signatures.
    pub fn hash_count(&self) -> usize {
        (0..3)
            .map(|i| {
                (self.sec(sec::HASH[i]).len() + self.sec(sec::MDB[i]).len())
                    / hash_rec(i)
            })
            .sum()
    }

    /// Number of logical signatures.
    pub fn logical_count(&self) -> usize {
        self.sec(sec::LDB).len() / LDB_REC
    }

    /// Number of container metadata signatures (`.cdb`).
    pub fn container_rule_count(&self) -> usize {
        self.sec(sec::CDB).len() / CDB_REC
    }

    /// Number of icon signatures (`.idb`).
    pub fn icon_count(&self) -> usize {
        self.sec(sec::IDB).len() / IDB_REC
    }

    /// The format version of the module file ([`FORMAT_VERSION`] for one
    /// this engine wrote; an older one has no [`Database::sources`]).
    pub fn format_version(&self) -> u32 {
        self.format
    }

    /// The database files the module was built from, in the order they
    /// were read ([`SignatureSet::sources`]); empty for a format 2
    /// module. Read from the mapped bytes at each call (a few records),
    /// bounds-checked: a damaged list ends early, it never panics.
    pub fn sources(&self) -> Vec<Source> {
        let b = self.sec(sec::SOURCES);
        let mut out = Vec::new();
        let mut at = 0usize;
        while let Some(rec) = b.get(at..at + SOURCE_REC) {
            let len = usize::from(u16::from_le_bytes([rec[22], rec[23]]));
            let Some(name) = b
                .get(at + SOURCE_REC..at + SOURCE_REC + len)
                .and_then(|n| std::str::from_utf8(n).ok())
            else {
                break;
            };
            let version = rd32(rec, 16);
            let build_time = rd64(rec, 8);
            out.push(Source {
                name: name.to_string(),
                version: (rec[20] & 1 != 0).then_some(version),
                build_time: (build_time != 0).then_some(build_time),
                signatures: rd64(rec, 0),
            });
            at += SOURCE_REC + len;
        }
        out
    }

    /// Whether name `id` is that of a signature from a database other
    /// than an official container (`.cvd`, `.cld`).
    pub(crate) fn unofficial(&self, id: u32) -> bool {
        self.sec(sec::UNOFFICIAL)
            .get(id as usize / 8)
            .is_some_and(|b| b & (1 << (id % 8)) != 0)
    }

    /// Whether name `id` is one ClamAV reports only when nothing else is
    /// found (a "potentially unwanted" indicator).
    pub(crate) fn potentially_unwanted(&self, id: u32) -> bool {
        let n = self.name(id);
        n.starts_with("PUA.")
            || n.starts_with("Heuristics.")
            || n.starts_with("BC.Heuristics.")
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
        self.table_wanted(if fp { sec::FP } else { sec::HASH }, kind, size)
    }

    /// The same for PE section hashes (`.mdb`).
    pub(crate) fn section_hash_wanted(&self, kind: usize, size: u64) -> bool {
        self.table_wanted(sec::MDB, kind, size)
    }

    /// A section hash's signature name id.
    pub(crate) fn section_hash_lookup(
        &self,
        kind: usize,
        size: u64,
        digest: &[u8],
    ) -> Option<u32> {
        self.table_lookup(sec::MDB, kind, size, digest)
    }

    fn table_wanted(&self, tables: [u32; 3], kind: usize, size: u64) -> bool {
        let (tab, rec) = (self.sec(tables[kind]), hash_rec(kind));
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
        self.table_lookup(
            if fp { sec::FP } else { sec::HASH },
            kind,
            size,
            digest,
        )
    }

    fn table_lookup(
        &self,
        tables: [u32; 3],
        kind: usize,
        size: u64,
        digest: &[u8],
    ) -> Option<u32> {
        let (tab, rec) = (self.sec(tables[kind]), hash_rec(kind));
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

pub(crate) fn lower_bound(n: usize, less: impl Fn(usize) -> bool) -> usize {
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

#[cfg(test)]
mod tests;
