//! Reading ClamAV's open signature formats into a [`SignatureSet`].
//!
//! Formats read: `.hdb .hsb` (hashes), `.ndb` (body signatures), `.ldb`
//! (logical signatures), `.fp .sfp` (allow-lists), `.ign .ign2` (ignore by
//! name) and `.cvd .cld .cud` containers of those. A signature the engine
//! cannot honour yet is counted under a reason in [`LoadStats`], and a
//! file of a kind it does not use is named there, never dropped
//! silently; a malformed line is an error naming file and line. A
//! directory is read as libclamav reads a database directory
//! ([`SignatureSet::load_dir`]).

pub(crate) mod body;
pub(crate) mod cdb;
pub(crate) mod cvd;
pub(crate) mod expr;
pub(crate) mod ftm;
pub(crate) mod phish;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use md5::{Digest, Md5};

use crate::LoadError;

/// The functionality level this engine implements, as ClamAV 1.4.6 (the
/// release Debian ships, and the tests' oracle) reports it: 1.4.5 says
/// 215, 1.4.6 216. Signatures whose `MinFL`/`MaxFL` range excludes it
/// are skipped.
pub const FLEVEL: u32 = 216;

/// Which digest a hash signature uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum HashKind {
    Md5,
    Sha1,
    Sha256,
}

impl HashKind {
    fn from_hex_len(n: usize) -> Option<HashKind> {
        match n {
            32 => Some(HashKind::Md5),
            40 => Some(HashKind::Sha1),
            64 => Some(HashKind::Sha256),
            _ => None,
        }
    }
}

/// A whole-object hash signature (or allow-list entry).
#[derive(Clone, Debug)]
pub(crate) struct HashSig {
    pub(crate) kind: HashKind,
    pub(crate) digest: Vec<u8>,
    /// `None` for `*` (any size).
    pub(crate) size: Option<u32>,
    pub(crate) name: String,
    pub(crate) line_md5: [u8; 16],
    /// Read from a ClamAV container (`.cvd`, `.cld`): clamscan names
    /// every other signature `NAME.UNOFFICIAL`.
    pub(crate) official: bool,
}

/// Where a body pattern must start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Offset {
    Any,
    Abs {
        n: u32,
        shift: u32,
    },
    EofMinus {
        n: u32,
        shift: u32,
    },
    /// `EP+n` / `EP-n`: from a PE's entry point.
    EpPlus {
        n: u32,
        shift: u32,
    },
    EpMinus {
        n: u32,
        shift: u32,
    },
    /// `Sx+n`: from the start of section x's data.
    Section {
        x: u8,
        n: u32,
        shift: u32,
    },
    /// `SL+n`: from the start of the last section's data.
    LastSection {
        n: u32,
        shift: u32,
    },
    /// `SEx`: anywhere within section x's data.
    WithinSection {
        x: u8,
    },
    /// `VI`: where a string of a PE's version information starts.
    VersionInfo,
}

/// The highest section index an `Sx`/`SEx` offset may name (the module
/// stores it in six bits; real PE files rarely have more than 16).
pub(crate) const MAX_SECTION_INDEX: u32 = 63;

/// An `.ndb` signature.
#[derive(Clone, Debug)]
pub(crate) struct NdbSig {
    pub(crate) name: String,
    pub(crate) target: u8,
    pub(crate) offset: Offset,
    pub(crate) elems: Vec<body::Elem>,
    pub(crate) line_md5: [u8; 16],
    pub(crate) official: bool,
}

/// One subsignature of an `.ldb` signature.
#[derive(Clone, Debug)]
pub(crate) enum SubSig {
    /// A body pattern.
    Body { offset: Offset, elems: Vec<body::Elem>, mods: body::Modifiers },
    /// A PCRE subsignature, run with the `regex` crate.
    Pcre(Pcre),
}

/// A PCRE subsignature: `[Offset:]Trigger/Regex/[Flags]`.
#[derive(Clone, Debug)]
pub(crate) struct Pcre {
    pub(crate) offset: Offset,
    /// Runs only when this expression over the other subsignatures holds.
    pub(crate) trigger: expr::Node,
    /// The pattern for the `regex` crate, byte-oriented, flags inline.
    pub(crate) source: String,
    /// `g`: count every match, not just the first.
    pub(crate) global: bool,
    /// `r`: search from the offset instead of anchoring there.
    pub(crate) rolling: bool,
    /// `e`: confine the search to offset..offset+shift.
    pub(crate) encompass: bool,
    /// `A`: always anchored at the search start.
    pub(crate) anchored: bool,
}

/// An `.ldb` signature.
#[derive(Clone, Debug)]
pub(crate) struct LdbSig {
    pub(crate) name: String,
    pub(crate) target: u8,
    pub(crate) filesize: Option<(u64, u64)>,
    /// `EntryPoint`: the PE entry point's file offset.
    pub(crate) entry_point: Option<(u64, u64)>,
    /// `NumberOfSections` of a PE.
    pub(crate) sections: Option<(u64, u64)>,
    pub(crate) container: Option<String>,
    /// `Intermediates`: the types of the layers above the object, the
    /// last its parent's (`CL_TYPE_ANY` for any), at most 16.
    pub(crate) intermediates: Vec<String>,
    pub(crate) expr: expr::Node,
    pub(crate) subs: Vec<SubSig>,
    pub(crate) line_md5: [u8; 16],
    pub(crate) official: bool,
}

/// What a load read, for the one load-time summary line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadStats {
    /// Hash signatures (`.hdb`, `.hsb`).
    pub hash: usize,
    /// Body signatures (`.ndb`).
    pub body: usize,
    /// Logical signatures (`.ldb`).
    pub logical: usize,
    /// Container metadata signatures (`.cdb`).
    pub container: usize,
    /// File-type magic lines (`.ftm` mode 0).
    pub file_types: usize,
    /// Phishing domain-list entries and URL hashes (`.pdb`, `.gdb`).
    pub phishing: usize,
    /// Allow-list entries (`.fp`, `.sfp`).
    pub allow: usize,
    /// Signatures disabled by `.ign`/`.ign2` (counted at compile time).
    pub ignored: usize,
    /// Signatures outside this engine's functionality level.
    pub skipped_flevel: usize,
    /// Signatures the engine cannot honour yet, by reason.
    pub unsupported: BTreeMap<String, usize>,
    /// PUA files (`.hdu .hsu .ndu .ldu .mdu .msu`) not read because PUA
    /// detection is off, as in ClamAV by default.
    pub pua_files_skipped: usize,
    /// Signatures of PUA files outside the categories chosen.
    pub pua_excluded: usize,
    /// Files (container members as `daily.cvd/daily.ftm`) of kinds the
    /// engine does not use yet, by kind.
    pub files_not_used: BTreeMap<String, Vec<String>>,
    /// Signatures per file kind (extension) and target type (for `.ndb`
    /// and `.ldb`), as `nod32cli compile` prints them.
    pub table: BTreeMap<(String, Option<u8>), KindRow>,
}

/// One row of [`LoadStats::table`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KindRow {
    /// Signatures loaded.
    pub loaded: usize,
    /// Signatures for other functionality levels, skipped as ClamAV
    /// skips them.
    pub outside_flevel: usize,
    /// Signatures the engine cannot honour, by reason.
    pub unsupported: BTreeMap<String, usize>,
}

impl LoadStats {
    /// Total number of unsupported signatures.
    pub fn unsupported_total(&self) -> usize {
        self.unsupported.values().sum()
    }

    /// One line naming every unsupported kind with its count, and the
    /// files of kinds not used (at most three of each kind by name), or
    /// `None`.
    pub fn unsupported_warning(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.unsupported.is_empty() {
            let kinds: Vec<String> = self
                .unsupported
                .iter()
                .map(|(k, n)| format!("{n} {k}"))
                .collect();
            parts.push(format!(
                "{} signature(s) not supported by this engine and not loaded: {}",
                self.unsupported_total(),
                kinds.join(", ")
            ));
        }
        if !self.files_not_used.is_empty() {
            let kinds: Vec<String> = self
                .files_not_used
                .iter()
                .map(|(k, files)| {
                    // An official bytecode.cvd alone holds some fifty.
                    let shown = files.iter().take(3).cloned();
                    let mut named: Vec<String> = shown.collect();
                    if files.len() > 3 {
                        named.push(format!("and {} more", files.len() - 3));
                    }
                    format!("{k}: {}", named.join(", "))
                })
                .collect();
            parts.push(format!(
                "files this engine does not use yet: {}",
                kinds.join("; ")
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// One database file a set (and the module compiled from it) was read
/// from, so that an administrator can tell which signatures are loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    /// The file's name without its directory: `daily.cld`, `local.ndb`.
    pub name: String,
    /// A CVD/CLD/CUD's version, from its header.
    pub version: Option<u32>,
    /// A CVD/CLD/CUD's build time in Unix seconds, from its header.
    pub build_time: Option<u64>,
    /// The signatures read from it (hash, body, logical, allow-list),
    /// before `.ign`/`.ign2` and without those the engine cannot honour.
    pub signatures: u64,
}

impl Source {
    /// The database's name without the extension: `daily` for
    /// `daily.cld`, as ClamAV names its databases.
    pub fn database(&self) -> &str {
        self.name.rsplit_once('.').map_or(&self.name, |(stem, _)| stem)
    }
}

/// A name as shown: control characters and the bidirectional overrides
/// escaped (`\n`, `\u{202e}`), since a name comes from a directory
/// listing and ends up in logs, terminals and mail headers.
fn shown(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if c.is_control()
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `daily 27000 (2026-12-05)` for a container, the file name otherwise.
impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.version {
            None => f.write_str(&shown(&self.name)),
            Some(v) => {
                write!(f, "{} {v}", shown(self.database()))?;
                if let Some(t) = self.build_time {
                    let (y, m, d) = civil_from_days(t / 86_400);
                    write!(f, " ({y:04}-{m:02}-{d:02})")?;
                }
                Ok(())
            }
        }
    }
}

/// Year, month and day of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + u64::from(m <= 2), m, d)
}

/// Which potentially unwanted applications are detected, as clamscan's
/// `--detect-pua` with `--include-pua`/`--exclude-pua` chooses: the
/// signatures of the PUA files (`.hdu .hsu .ndu .ldu .mdu .msu`), all or
/// by category (`PUA.Win.Tool.X`'s category is `Win.Tool`, and a category
/// given matches any part of it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PuaCategories {
    /// Every PUA signature.
    All,
    /// Only these categories.
    Include(Vec<String>),
    /// All but these.
    Exclude(Vec<String>),
}

impl PuaCategories {
    /// Whether signature `name` of a PUA file is loaded. As in ClamAV, the
    /// categories given are joined as `.A.B.` and that string must occur
    /// in the signature's `.Platform.Category.` part; a name without the
    /// `PUA.` prefix is not loaded when categories are given.
    fn keeps(&self, name: &str) -> bool {
        let (cats, include) = match self {
            PuaCategories::All => return true,
            PuaCategories::Include(c) => (c, true),
            PuaCategories::Exclude(c) => (c, false),
        };
        let Some(rest) = name.strip_prefix("PUA") else { return false };
        // `.Win.Tool.Name`: the part up to and with the last dot.
        let Some(last) = rest.rfind('.').filter(|&i| i > 0) else {
            return false;
        };
        if !rest.starts_with('.') || rest[1..].find('.').is_none() {
            return false;
        }
        // ClamAV keeps the category in 32 bytes and skips a longer one.
        if last + 2 > 32 {
            return false;
        }
        let part = &rest[..=last];
        let wanted = format!(".{}.", cats.join("."));
        part.contains(&wanted) == include
    }
}

/// Signatures read from ClamAV sources, ready to be compiled.
#[derive(Clone, Debug, Default)]
pub struct SignatureSet {
    pub(crate) hashes: Vec<HashSig>,
    pub(crate) fps: Vec<HashSig>,
    /// `.mdb`/`.msb`: hashes of one PE section's data.
    pub(crate) section_hashes: Vec<HashSig>,
    pub(crate) ndbs: Vec<NdbSig>,
    pub(crate) ldbs: Vec<LdbSig>,
    /// `.cdb`: rules on the members a container lists.
    pub(crate) cdbs: Vec<cdb::CdbSig>,
    /// `.ftm` mode 0: file types by magic, in load order.
    pub(crate) magics: Vec<ftm::FtmSig>,
    /// `.pdb`/`.gdb`/`.wdb`: the phishing URL lists.
    pub(crate) phish: Vec<phish::PhishSig>,
    /// Ignored names, each with the MD5s of the lines it disables (an
    /// empty list disables every signature of that name).
    pub(crate) ignores: HashMap<String, Vec<[u8; 16]>>,
    pub(crate) stats: LoadStats,
    pub(crate) sources: Vec<Source>,
    /// Loading the members of an official container.
    official: bool,
    /// Potentially unwanted applications detected (`None`: PUA files are
    /// not read, ClamAV's default).
    pua: Option<PuaCategories>,
}

/// How the signatures in a file of a kind the engine does not use are
/// counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Unit {
    /// One per file (a bytecode, an OpenIOC document).
    File,
    /// One per line that is not a comment.
    Line,
    /// One per YARA `rule`.
    YaraRule,
    /// None: the file holds settings, not signatures.
    Nothing,
}

/// The file kinds, by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Hdb,
    Hsb,
    Ndb,
    Ldb,
    Fp,
    Sfp,
    /// `.mdb`/`.msb`: PE section hashes, size first.
    Mdb,
    /// `.cdb`: container metadata.
    Cdb,
    /// `.ftm`: file-type magic.
    Ftm,
    /// `.pdb`/`.gdb`/`.wdb`: phishing URL lists.
    Phish(phish::List),
    Ign,
    Container,
    /// A line-based signature format read by ClamAV but not yet by this
    /// engine: each line is counted as unsupported.
    Unsupported(&'static str),
    /// A file ClamAV uses (bytecode, YARA rules, file typing,
    /// configuration, certificates) and this engine does not yet; its
    /// signatures, counted as `unit` says, are unsupported.
    NotUsed(&'static str, Unit),
    /// A container's index (`.info`) or signature (`.sign`): what the
    /// updater verifies, not signatures.
    Meta,
    /// PUA-only files, which ClamAV skips unless PUA detection is on:
    /// read as the kind named then.
    Pua(PuaKind),
}

/// What a PUA file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PuaKind {
    Hdb,
    Hsb,
    Ndb,
    Ldb,
    Mdb,
}

fn kind_of(name: &str) -> Option<Kind> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "hdb" => Kind::Hdb,
        "hsb" => Kind::Hsb,
        "ndb" => Kind::Ndb,
        "ldb" => Kind::Ldb,
        "fp" => Kind::Fp,
        "sfp" => Kind::Sfp,
        "ign" | "ign2" => Kind::Ign,
        "cvd" | "cld" | "cud" => Kind::Container,
        "hdu" => Kind::Pua(PuaKind::Hdb),
        "hsu" => Kind::Pua(PuaKind::Hsb),
        "ndu" => Kind::Pua(PuaKind::Ndb),
        "ldu" => Kind::Pua(PuaKind::Ldb),
        "mdu" | "msu" => Kind::Pua(PuaKind::Mdb),
        "mdb" | "msb" => Kind::Mdb,
        "imp" => Kind::Unsupported("import table hash (.imp)"),
        "cdb" => Kind::Cdb,
        "pdb" | "gdb" => Kind::Phish(phish::List::Domain),
        "wdb" => Kind::Phish(phish::List::Allow),
        "idb" => Kind::Unsupported("icon hash (.idb)"),
        "db" | "sdb" | "zmd" | "rmd" => Kind::Unsupported("legacy format"),
        "cbc" => Kind::NotUsed("bytecode (.cbc)", Unit::File),
        "yar" | "yara" => Kind::NotUsed("YARA rules (.yar)", Unit::YaraRule),
        "ftm" => Kind::Ftm,
        "cfg" => Kind::NotUsed("engine configuration (.cfg)", Unit::Nothing),
        "cat" => Kind::NotUsed("Authenticode catalog (.cat)", Unit::File),
        "crb" => Kind::NotUsed("certificate trust rules (.crb)", Unit::Line),
        "pwdb" => Kind::NotUsed("archive passwords (.pwdb)", Unit::Line),
        "ioc" => Kind::NotUsed("OpenIOC (.ioc)", Unit::File),
        "info" | "sign" => Kind::Meta,
        _ => return None,
    })
}

/// The extensions libclamav loads from a database directory (readdb.h's
/// `CLI_DBEXT`, which matches name endings: every one is a whole
/// extension). `.info` and `.sign` are not among them.
const DIRECTORY_EXTENSIONS: &[&str] = &[
    "db", "hdb", "hdu", "fp", "mdb", "mdu", "hsb", "hsu", "sfp", "msb", "msu",
    "ndb", "ndu", "ldb", "ldu", "sdb", "zmd", "rmd", "pdb", "gdb", "wdb",
    "cbc", "ftm", "cfg", "cvd", "cld", "cud", "cdb", "cat", "crb", "idb",
    "ioc", "yar", "yara", "pwdb", "ign", "ign2", "imp",
];

/// The version in a container's header, if it has one.
fn container_version(path: &Path) -> Option<u32> {
    let mut head = [0u8; 512];
    std::io::Read::read_exact(&mut std::fs::File::open(path).ok()?, &mut head)
        .ok()?;
    cvd::parse_header(&head).ok().map(|h| h.version)
}

/// A file of a database directory: on disk, or given in memory instead.
enum DirFile<'a> {
    Disk(std::path::PathBuf),
    Memory(std::path::PathBuf, &'a [u8]),
}

impl DirFile<'_> {
    fn path(&self) -> &Path {
        match self {
            DirFile::Disk(p) | DirFile::Memory(p, _) => p,
        }
    }
}

fn md5_of(line: &str) -> [u8; 16] {
    Md5::digest(line.as_bytes()).into()
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks an optional `MinFL[:MaxFL]` pair: `Ok(false)` means skip.
fn flevel_ok(min: Option<&str>, max: Option<&str>) -> Result<bool, String> {
    let parse = |s: &str| -> Result<u32, String> {
        s.parse().map_err(|_| format!("invalid functionality level '{s}'"))
    };
    if let Some(m) = min.filter(|s| !s.is_empty())
        && parse(m)? > FLEVEL
    {
        return Ok(false);
    }
    if let Some(m) = max.filter(|s| !s.is_empty())
        && parse(m)? < FLEVEL
    {
        return Ok(false);
    }
    Ok(true)
}

fn parse_offset(s: &str) -> Result<Result<Offset, String>, String> {
    if s == "*" {
        return Ok(Ok(Offset::Any));
    }
    let (base, shift) = match s.split_once(',') {
        Some((b, sh)) => (b, parse_u32(sh)?),
        None => (s, 0),
    };
    if let Some(n) = base.strip_prefix("EOF-") {
        return Ok(Ok(Offset::EofMinus { n: parse_u32(n)?, shift }));
    }
    if let Some(n) = base.strip_prefix("EP+") {
        return Ok(Ok(Offset::EpPlus { n: parse_u32(n)?, shift }));
    }
    if let Some(n) = base.strip_prefix("EP-") {
        return Ok(Ok(Offset::EpMinus { n: parse_u32(n)?, shift }));
    }
    if let Some(n) = base.strip_prefix("SL+") {
        return Ok(Ok(Offset::LastSection { n: parse_u32(n)?, shift }));
    }
    if let Some(x) = base.strip_prefix("SE") {
        let x = parse_u32(x)?;
        if x > MAX_SECTION_INDEX {
            return Ok(Err(format!("section offset SE{x} (index over 63)")));
        }
        return Ok(Ok(Offset::WithinSection { x: x as u8 }));
    }
    if let Some((x, n)) =
        base.strip_prefix('S').and_then(|r| r.split_once('+'))
    {
        let x = parse_u32(x)?;
        if x > MAX_SECTION_INDEX {
            return Ok(Err(format!("section offset S{x} (index over 63)")));
        }
        return Ok(Ok(Offset::Section {
            x: x as u8,
            n: parse_u32(n)?,
            shift,
        }));
    }
    if base.starts_with("EP") || base.starts_with('S') {
        return Err(format!("invalid PE-relative offset '{s}'"));
    }
    // ClamAV reads anything starting `VI` so (and ignores a shift).
    if base.starts_with("VI") {
        return Ok(Ok(Offset::VersionInfo));
    }
    if base.contains('$') {
        return Ok(Err("macro offset ($n$)".into()));
    }
    Ok(Ok(Offset::Abs { n: parse_u32(base)?, shift }))
}

fn parse_u32(s: &str) -> Result<u32, String> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!("invalid number '{s}'"));
    }
    s.parse().map_err(|_| format!("number out of range '{s}'"))
}

fn target_supported(t: u32) -> Result<u8, String> {
    match t {
        0..=7 | 9..=12 => Ok(t as u8),
        8 => Err("target type 8 (unused)".into()),
        13 | 14 => Err(format!("target type {t} (internal)")),
        _ => Err(format!("target type {t} (unknown)")),
    }
}

/// ClamAV refuses a file whose signature places a pattern relative to an
/// executable's entry point or sections without targeting executables
/// (PE, ELF or Mach-O).
fn offset_fits_target(offset: &Offset, target: u8) -> Result<(), String> {
    let relative = matches!(
        offset,
        Offset::EpPlus { .. }
            | Offset::EpMinus { .. }
            | Offset::Section { .. }
            | Offset::LastSection { .. }
            | Offset::WithinSection { .. }
            | Offset::VersionInfo
    );
    if relative && !matches!(target, 1 | 6 | 9) {
        return Err(format!(
            "an offset from the entry point or a section needs target type 1, 6 or 9, not {target}"
        ));
    }
    Ok(())
}

/// Outcome of parsing one line.
enum Line<T> {
    Sig(T),
    Skip,
    Unsupported(String),
}

impl SignatureSet {
    /// An empty set.
    pub fn new() -> SignatureSet {
        SignatureSet::default()
    }

    /// Reads the PUA files too (off by default, as in ClamAV), of the
    /// categories given; call before loading.
    pub fn detect_pua(&mut self, categories: PuaCategories) {
        self.pua = Some(categories);
    }

    /// What has been read so far.
    pub fn stats(&self) -> &LoadStats {
        &self.stats
    }

    /// The files read so far, in the order read: every container, and
    /// every file of a kind whose signatures the engine reads (`.ign2`
    /// included); not the kinds it only names in
    /// [`LoadStats::files_not_used`] or counts as unsupported.
    pub fn sources(&self) -> &[Source] {
        &self.sources
    }

    fn signatures_read(&self) -> u64 {
        let s = &self.stats;
        (s.hash
            + s.body
            + s.logical
            + s.container
            + s.file_types
            + s.phishing
            + s.allow) as u64
    }

    /// Reads a signature file, a CVD/CLD container, or a database
    /// directory as [`SignatureSet::load_dir`] does.
    ///
    /// # Errors
    /// I/O errors, malformed lines, and files of unknown kind named
    /// directly.
    pub fn load_path(&mut self, path: &Path) -> Result<(), LoadError> {
        let io = |source| LoadError::Io { path: path.to_path_buf(), source };
        let meta = std::fs::metadata(path).map_err(io)?;
        if meta.is_dir() {
            return self.load_dir(path, &[]);
        }
        let bytes = std::fs::read(path).map_err(io)?;
        self.load_bytes(&path.to_string_lossy(), &bytes)
    }

    /// Whether libclamav loads a file of this name from a database
    /// directory (its `DatabaseDirectory`, `clamscan -d DIR`).
    pub fn is_database_file(name: &str) -> bool {
        name.rsplit_once('.').is_some_and(|(_, ext)| {
            DIRECTORY_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str())
        })
    }

    /// Reads a database directory as libclamav does: every regular file
    /// whose name ends in one of its database extensions (local and
    /// third-party signature files beside the official containers;
    /// subdirectories are not entered), `.ign`/`.ign2` first, then by
    /// name. Of a database there both as `NAME.cvd` and `NAME.cld`,
    /// only the newer is read (the `.cld` at the same version), as
    /// libclamav does for daily (and its own comment wishes for every
    /// database): reading both would count every signature twice.
    ///
    /// `instead` holds containers (`NAME.cvd` or `NAME.cld` and their
    /// bytes) that take the place of the directory's own `NAME.cvd` and
    /// `NAME.cld`: an updater's new versions, read as if already in
    /// place, so that the result is what this directory gives once
    /// they are.
    ///
    /// # Errors
    /// The directory or a file in it cannot be read (a file is never
    /// passed over for that: libclamav fails too), or a file is
    /// malformed.
    pub fn load_dir(
        &mut self,
        dir: &Path,
        instead: &[(String, &[u8])],
    ) -> Result<(), LoadError> {
        let io = |source| LoadError::Io { path: dir.to_path_buf(), source };
        let container = |name: &str| -> Option<String> {
            let (stem, ext) = name.rsplit_once('.')?;
            matches!(ext.to_ascii_lowercase().as_str(), "cvd" | "cld")
                .then(|| stem.to_string())
        };
        let replaced: Vec<String> =
            instead.iter().filter_map(|(n, _)| container(n)).collect();
        let mut files: Vec<DirFile<'_>> = Vec::new();
        for e in std::fs::read_dir(dir).map_err(io)? {
            let e = e.map_err(io)?;
            let name = e.file_name().to_string_lossy().into_owned();
            let p = e.path();
            // A link is followed, as libclamav opens it.
            if !SignatureSet::is_database_file(&name) || !p.is_file() {
                continue;
            }
            if container(&name).is_some_and(|s| replaced.contains(&s)) {
                continue;
            }
            files.push(DirFile::Disk(p));
        }
        // Of NAME.cvd and NAME.cld on disk, the older goes.
        let mut older = Vec::new();
        for f in &files {
            let p = f.path();
            if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("cvd")) {
                let cld = p.with_extension("cld");
                if let (Some(a), Some(b)) =
                    (container_version(p), container_version(&cld))
                {
                    older.push(if a > b { cld } else { p.to_path_buf() });
                }
            }
        }
        files.retain(|f| !older.iter().any(|o| o == f.path()));
        for (name, bytes) in instead {
            files.push(DirFile::Memory(dir.join(name), bytes));
        }
        // Ignore lists first, so they apply whatever the name order.
        files.sort_by_key(|f| {
            let p = f.path();
            let ign = p.extension().is_some_and(|e| {
                e.eq_ignore_ascii_case("ign") || e.eq_ignore_ascii_case("ign2")
            });
            (!ign, p.to_path_buf())
        });
        for f in files {
            match f {
                DirFile::Disk(p) => {
                    let bytes = std::fs::read(&p).map_err(|source| {
                        LoadError::Io { path: p.clone(), source }
                    })?;
                    self.load_bytes(&p.to_string_lossy(), &bytes)?;
                }
                DirFile::Memory(p, bytes) => {
                    self.load_bytes(&p.to_string_lossy(), bytes)?;
                }
            }
        }
        Ok(())
    }

    /// Reads one signature file from memory; `name` decides its format by
    /// its extension and names it in errors. The file is one of the
    /// [`sources`](SignatureSet::sources), by the last component of
    /// `name`.
    ///
    /// # Errors
    /// Malformed lines and unknown kinds.
    pub fn load_bytes(
        &mut self,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), LoadError> {
        let before = self.signatures_read();
        self.load_file(name, bytes)?;
        let file = name.rsplit('/').next().unwrap_or(name).to_string();
        let signatures = self.signatures_read() - before;
        let source = match kind_of(name) {
            Some(Kind::Container) => {
                // load_file has checked the header.
                let h = cvd::parse_header(bytes).ok();
                Source {
                    name: file,
                    version: h.as_ref().map(|h| h.version),
                    build_time: h.map(|h| h.build_time).filter(|t| *t != 0),
                    signatures,
                }
            }
            Some(
                Kind::Hdb
                | Kind::Hsb
                | Kind::Ndb
                | Kind::Ldb
                | Kind::Fp
                | Kind::Sfp
                | Kind::Mdb
                | Kind::Cdb
                | Kind::Ftm
                | Kind::Phish(_)
                | Kind::Ign,
            ) => Source {
                name: file,
                version: None,
                build_time: None,
                signatures,
            },
            _ => return Ok(()),
        };
        self.sources.push(source);
        Ok(())
    }

    /// [`SignatureSet::load_bytes`] without naming the file a source:
    /// for the members of a container, which is the source.
    pub(crate) fn load_file(
        &mut self,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), LoadError> {
        let kind = kind_of(name).ok_or_else(|| LoadError::UnknownFormat {
            path: name.to_string(),
        })?;
        match kind {
            Kind::Container => {
                // A .cud is ClamAV's unsigned container: not official.
                let was = self.official;
                self.official = !name.to_ascii_lowercase().ends_with(".cud");
                let r = cvd::load(self, name, bytes);
                self.official = was;
                return r;
            }
            Kind::Meta => return Ok(()),
            Kind::Ftm => return ftm::load(self, name, bytes),
            Kind::Pua(_) if self.pua.is_none() => {
                self.stats.pua_files_skipped += 1;
                return Ok(());
            }
            Kind::NotUsed(what, unit) => {
                self.not_used(what, name);
                let text = String::from_utf8_lossy(bytes);
                let lines = || {
                    text.lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty() && !l.starts_with('#'))
                };
                let n = match unit {
                    Unit::File => 1,
                    Unit::Line => lines().count(),
                    Unit::YaraRule => lines()
                        .filter(|l| {
                            let l = l.strip_prefix("private ").unwrap_or(l);
                            let l = l.strip_prefix("global ").unwrap_or(l);
                            l.starts_with("rule ")
                        })
                        .count(),
                    Unit::Nothing => 0,
                };
                for _ in 0..n {
                    self.unsupported_in(name, None, what.to_string());
                }
                return Ok(());
            }
            Kind::Unsupported(what) => self.not_used(what, name),
            _ => {}
        }
        let (kind, pua) = match kind {
            Kind::Pua(k) => (
                match k {
                    PuaKind::Hdb => Kind::Hdb,
                    PuaKind::Hsb => Kind::Hsb,
                    PuaKind::Ndb => Kind::Ndb,
                    PuaKind::Ldb => Kind::Ldb,
                    PuaKind::Mdb => Kind::Mdb,
                },
                true,
            ),
            k => (k, false),
        };
        // A signature of a PUA file outside the categories chosen.
        let excluded = |s: &SignatureSet, sig: &str| {
            pua && s.pua.as_ref().is_some_and(|c| !c.keeps(sig))
        };
        let text = String::from_utf8_lossy(bytes);
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_end_matches('\r');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |reason: String| LoadError::Malformed {
                path: name.to_string(),
                line: i + 1,
                reason,
            };
            match kind {
                Kind::Hdb | Kind::Hsb | Kind::Fp | Kind::Sfp => {
                    let fp = matches!(kind, Kind::Fp | Kind::Sfp);
                    match parse_hash(line).map_err(err)? {
                        Line::Sig(h) if excluded(self, &h.name) => {
                            self.stats.pua_excluded += 1;
                        }
                        Line::Sig(mut h) if fp => {
                            h.official = self.official;
                            self.stats.allow += 1;
                            self.row(name, None).loaded += 1;
                            self.fps.push(h);
                        }
                        Line::Sig(mut h) => {
                            h.official = self.official;
                            self.stats.hash += 1;
                            self.row(name, None).loaded += 1;
                            self.hashes.push(h);
                        }
                        Line::Skip => self.skipped(name, None),
                        Line::Unsupported(r) => {
                            self.unsupported_in(name, None, r)
                        }
                    }
                }
                Kind::Mdb => {
                    // PESectionSize:Hash:Name: the .hdb fields, swapped.
                    let swapped = match line.split_once(':') {
                        Some((size, rest)) => match rest.split_once(':') {
                            Some((hash, tail)) => {
                                format!("{hash}:{size}:{tail}")
                            }
                            None => line.to_string(),
                        },
                        None => line.to_string(),
                    };
                    match parse_hash(&swapped).map_err(err)? {
                        Line::Sig(h) if excluded(self, &h.name) => {
                            self.stats.pua_excluded += 1;
                        }
                        Line::Sig(mut h) => {
                            h.official = self.official;
                            self.stats.hash += 1;
                            self.row(name, None).loaded += 1;
                            self.section_hashes.push(h);
                        }
                        Line::Skip => self.skipped(name, None),
                        Line::Unsupported(r) => {
                            self.unsupported_in(name, None, r)
                        }
                    }
                }
                Kind::Ndb => {
                    let t = ndb_target(line);
                    match self
                        .unless_ignored(line, ':', parse_ndb(line))
                        .map_err(err)?
                    {
                        Line::Sig(s) if excluded(self, &s.name) => {
                            self.stats.pua_excluded += 1;
                        }
                        Line::Sig(mut s) => {
                            s.official = self.official;
                            self.stats.body += 1;
                            self.row(name, t).loaded += 1;
                            self.ndbs.push(s);
                        }
                        Line::Skip => self.skipped(name, t),
                        Line::Unsupported(r) => {
                            self.unsupported_in(name, t, r)
                        }
                    }
                }
                Kind::Ldb => {
                    let t = ldb_target(line);
                    match self
                        .unless_ignored(line, ';', parse_ldb(line))
                        .map_err(err)?
                    {
                        Line::Sig(s) if excluded(self, &s.name) => {
                            self.stats.pua_excluded += 1;
                        }
                        Line::Sig(mut s) => {
                            s.official = self.official;
                            self.stats.logical += 1;
                            self.row(name, t).loaded += 1;
                            self.ldbs.push(s);
                        }
                        Line::Skip => self.skipped(name, t),
                        Line::Unsupported(r) => {
                            self.unsupported_in(name, t, r)
                        }
                    }
                }
                Kind::Cdb => match cdb::parse_cdb(line).map_err(err)? {
                    Line::Sig(mut s) => {
                        s.official = self.official;
                        self.stats.container += 1;
                        self.row(name, None).loaded += 1;
                        self.cdbs.push(s);
                    }
                    Line::Skip => self.skipped(name, None),
                    Line::Unsupported(r) => self.unsupported_in(name, None, r),
                },
                Kind::Phish(list) => match phish::parse(line, list)
                    .map_err(err)?
                {
                    Line::Sig(s) => {
                        if list == phish::List::Allow {
                            self.stats.allow += 1;
                        } else {
                            self.stats.phishing += 1;
                        }
                        self.row(name, None).loaded += 1;
                        self.phish.push(s);
                    }
                    Line::Skip => self.skipped(name, None),
                    Line::Unsupported(r) => self.unsupported_in(name, None, r),
                },
                Kind::Ign => {
                    let mut f = line.split(':');
                    let n = f.next().unwrap_or_default();
                    // .ign2: `Name[:md5]`; legacy .ign: `db:line:Name`.
                    let (sig, md5) = match (f.next(), f.next()) {
                        (Some(_), Some(legacy)) => (legacy, None),
                        (Some(h), None) => {
                            (n, decode_hex(h).and_then(|v| v.try_into().ok()))
                        }
                        _ => (n, None),
                    };
                    let e = self.ignores.entry(sig.to_string()).or_default();
                    if let Some(m) = md5 {
                        e.push(m);
                    }
                }
                Kind::Unsupported(what) => {
                    self.unsupported_in(name, None, what.to_string());
                }
                Kind::Container
                | Kind::Ftm
                | Kind::Pua(_)
                | Kind::Meta
                | Kind::NotUsed(..) => {
                    unreachable!("handled above")
                }
            }
        }
        Ok(())
    }

    /// The compile table's row for signatures of file `name`'s kind and
    /// `target`.
    fn row(&mut self, name: &str, target: Option<u8>) -> &mut KindRow {
        let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
        let kind = ext.to_ascii_lowercase();
        self.stats.table.entry((kind, target)).or_default()
    }

    fn skipped(&mut self, name: &str, target: Option<u8>) {
        self.stats.skipped_flevel += 1;
        self.row(name, target).outside_flevel += 1;
    }

    fn unsupported_in(
        &mut self,
        name: &str,
        target: Option<u8>,
        reason: String,
    ) {
        *self
            .row(name, target)
            .unsupported
            .entry(reason.clone())
            .or_default() += 1;
        *self.stats.unsupported.entry(reason).or_default() += 1;
    }

    fn not_used(&mut self, what: &str, file: &str) {
        self.stats
            .files_not_used
            .entry(what.to_string())
            .or_default()
            .push(file.to_string());
    }

    /// A line `.ign`/`.ign2` disables is passed over before it is read,
    /// as clamscan passes it over: a form it would refuse does not make
    /// the whole file fail.
    fn unless_ignored<T>(
        &self,
        line: &str,
        sep: char,
        parsed: Result<Line<T>, String>,
    ) -> Result<Line<T>, String> {
        match parsed {
            Err(_)
                if self.is_ignored(
                    line.split(sep).next().unwrap_or_default(),
                    &md5_of(line),
                ) =>
            {
                Ok(Line::Skip)
            }
            other => other,
        }
    }

    pub(crate) fn is_ignored(&self, name: &str, line_md5: &[u8; 16]) -> bool {
        match self.ignores.get(name) {
            None => false,
            Some(md5s) => md5s.is_empty() || md5s.contains(line_md5),
        }
    }
}

fn parse_hash(line: &str) -> Result<Line<HashSig>, String> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 3 || f.len() > 5 {
        return Err("expected HASH:SIZE:NAME[:MINFL[:MAXFL]]".into());
    }
    let kind = HashKind::from_hex_len(f[0].len())
        .ok_or_else(|| format!("hash of {} hex digits", f[0].len()))?;
    let digest =
        decode_hex(&f[0].to_ascii_lowercase()).ok_or("invalid hex in hash")?;
    let size = if f[1] == "*" {
        let min = f.get(3).and_then(|m| m.parse::<u32>().ok()).unwrap_or(0);
        if min < 73 {
            return Err(
                "size '*' needs a functionality level of at least 73".into()
            );
        }
        None
    } else {
        let s: u64 =
            f[1].parse().map_err(|_| format!("invalid size '{}'", f[1]))?;
        match u32::try_from(s) {
            Ok(s) => Some(s),
            Err(_) => {
                return Ok(Line::Unsupported(
                    "hash of an object over 4 GiB".into(),
                ));
            }
        }
    };
    if f[2].is_empty() {
        return Err("empty signature name".into());
    }
    if !flevel_ok(f.get(3).copied(), f.get(4).copied())? {
        return Ok(Line::Skip);
    }
    Ok(Line::Sig(HashSig {
        kind,
        digest,
        size,
        name: f[2].to_string(),
        line_md5: md5_of(line),
        official: false,
    }))
}

/// The target type an `.ndb` line declares, if it is readable.
fn ndb_target(line: &str) -> Option<u8> {
    line.split(':').nth(1)?.parse().ok()
}

/// The target type an `.ldb` line's description declares (0 when it
/// names none), if it is readable.
fn ldb_target(line: &str) -> Option<u8> {
    let desc = line.split(';').nth(1)?;
    match desc.split(',').find_map(|kv| kv.strip_prefix("Target:")) {
        Some(t) => t.parse().ok(),
        None => Some(0),
    }
}

fn parse_ndb(line: &str) -> Result<Line<NdbSig>, String> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 4 || f.len() > 6 {
        return Err(
            "expected NAME:TARGET:OFFSET:HEXSIG[:MINFL[:MAXFL]]".into()
        );
    }
    if f[0].is_empty() {
        return Err("empty signature name".into());
    }
    // `*` is any type, as ClamAV reads it.
    let target: u32 = match f[1] {
        "*" => 0,
        t => t.parse().map_err(|_| format!("invalid target type '{t}'"))?,
    };
    // As clamscan, a line for another functionality level or a target it
    // does not know is passed over before its body is read.
    if !flevel_ok(f.get(4).copied(), f.get(5).copied())? {
        return Ok(Line::Skip);
    }
    let target = match target_supported(target) {
        Ok(t) => t,
        Err(r) => return Ok(Line::Unsupported(r)),
    };
    let offset = parse_offset(f[2])?;
    let elems = body::parse(f[3])?;
    // clamscan puts a plain byte string for any file or a PE (at a fixed
    // offset, for a PE) in its Boyer-Moore matcher, which refuses fewer
    // than three bytes, and with them the whole database.
    let plain = !f[3].contains(['?', '(', '[', '{', '*']);
    let aho_corasick = (target == 1 && (f[2] == "*" || f[2].contains(',')))
        || f[2].contains("VI")
        || f[2].contains('$');
    if target <= 1 && plain && !aho_corasick && f[3].len() < 6 {
        return Err("a signature of fewer than three bytes and no wildcard (clamscan refuses it)".into());
    }
    let offset = match offset {
        Ok(o) => o,
        Err(r) => return Ok(Line::Unsupported(r)),
    };
    offset_fits_target(&offset, target)?;
    Ok(Line::Sig(NdbSig {
        name: f[0].to_string(),
        target,
        offset,
        elems,
        line_md5: md5_of(line),
        official: false,
    }))
}

fn parse_range64(s: &str) -> Result<(u64, u64), String> {
    let p = |v: &str| {
        v.parse::<u64>().map_err(|_| format!("invalid number '{v}'"))
    };
    match s.split_once('-') {
        Some((a, b)) => Ok((p(a)?, p(b)?)),
        None => {
            let v = p(s)?;
            Ok((v, v))
        }
    }
}

fn parse_ldb(line: &str) -> Result<Line<LdbSig>, String> {
    let f: Vec<&str> = line.split(';').collect();
    if f.len() < 4 {
        return Err("expected NAME;TDB;EXPRESSION;SUBSIG0[;SUBSIG1...]".into());
    }
    if f.len() - 3 > 64 {
        return Err("more than 64 subsignatures".into());
    }
    let name = f[0];
    if name.is_empty() {
        return Err("empty signature name".into());
    }
    let mut target = None;
    let mut filesize = None;
    let mut entry_point = None;
    let mut sections = None;
    let mut container = None;
    let mut intermediates = Vec::new();
    let mut unsupported: Option<String> = None;
    for kv in f[1].split(',') {
        let (k, v) = kv.split_once(':').ok_or_else(|| {
            format!("target description '{kv}' is not KEY:VALUE")
        })?;
        match k {
            "Engine" => {
                let (lo, hi) = parse_range64(v)?;
                if lo > FLEVEL as u64 || hi < FLEVEL as u64 {
                    return Ok(Line::Skip);
                }
            }
            "Target" => target = Some(parse_u32(v)?),
            "FileSize" => filesize = Some(parse_range64(v)?),
            "Container" => {
                if !crate::filetype::CLAMAV_TYPES.contains(&v) {
                    unsupported.get_or_insert_with(|| {
                        format!("unknown type {v} in Container")
                    });
                }
                container = Some(v.to_string());
            }
            "EntryPoint" => entry_point = Some(parse_range64(v)?),
            "NumberOfSections" => sections = Some(parse_range64(v)?),
            "IconGroup1" | "IconGroup2" => {
                unsupported
                    .get_or_insert_with(|| "icon group condition".into());
            }
            "Intermediates" => {
                // ClamAV keeps the first 16.
                intermediates =
                    v.split('>').take(16).map(str::to_string).collect();
                // ClamAV skips a signature naming a type it does not know.
                if let Some(t) = intermediates.iter().find(|t| {
                    !crate::filetype::CLAMAV_TYPES.contains(&t.as_str())
                }) {
                    unsupported.get_or_insert_with(|| {
                        format!("unknown type {t} in Intermediates")
                    });
                }
            }
            // With its cache on, ClamAV rescans the object as this type,
            // where the signature matches again and is reported unless
            // the retyped scan names something first; without the cache
            // (no hash to guard the rescan) it reports the name at once.
            // Here it stands as a plain logical signature: clamscan's
            // verdict and name without the cache.
            "HandlerType" => {
                if !crate::filetype::CLAMAV_TYPES.contains(&v) {
                    unsupported.get_or_insert_with(|| {
                        format!("unknown type {v} in HandlerType")
                    });
                }
            }
            // ClamAV passes over a signature with a key it does not know.
            _ => {
                unsupported.get_or_insert_with(|| {
                    format!("unknown target description key {k}")
                });
            }
        }
    }
    let nsubs = f.len() - 3;
    let expr = expr::parse(f[2], nsubs)?;
    // clamscan refuses a signature whose expression does not name its
    // last subsignature.
    if usize::from(expr.max_id()) + 1 != nsubs {
        return Err(format!(
            "the expression names subsignatures up to {}, but there are {nsubs} (clamscan refuses it)",
            expr.max_id()
        ));
    }
    let mut subs = Vec::with_capacity(nsubs);
    for s in &f[3..] {
        match parse_subsig(s, nsubs)? {
            Ok(sub) => subs.push(sub),
            Err(r) => {
                unsupported.get_or_insert(r);
            }
        }
    }
    let target = match target_supported(target.unwrap_or(0)) {
        Ok(t) => t,
        Err(r) => return Ok(Line::Unsupported(r)),
    };
    for sub in &subs {
        let (SubSig::Body { offset, .. } | SubSig::Pcre(Pcre { offset, .. })) =
            sub;
        offset_fits_target(offset, target)?;
    }
    if (entry_point.is_some() || sections.is_some())
        && !matches!(target, 1 | 6 | 9)
    {
        return Err(format!(
            "EntryPoint and NumberOfSections need target type 1, 6 or 9, not {target}"
        ));
    }
    if let Some(r) = unsupported {
        return Ok(Line::Unsupported(r));
    }
    Ok(Line::Sig(LdbSig {
        name: name.to_string(),
        target,
        filesize,
        entry_point,
        sections,
        container,
        intermediates,
        expr,
        subs,
        line_md5: md5_of(line),
        official: false,
    }))
}

/// Parses a subsignature; the inner `Err` names an unsupported kind.
fn parse_subsig(
    s: &str,
    nsubs: usize,
) -> Result<Result<SubSig, String>, String> {
    if let (Some(a), Some(b)) = (s.find('/'), s.rfind('/'))
        && a != b
    {
        return parse_pcre(s, a, b, nsubs);
    }
    if s.starts_with("fuzzy_img#") {
        return Ok(Err("image fuzzy hash subsignature".into()));
    }
    if s.contains('$') {
        return Ok(Err("macro subsignature".into()));
    }
    if s.contains('#') {
        return Ok(Err("byte-compare subsignature".into()));
    }
    let (sig, mods) = match s.split_once("::") {
        Some((sig, m)) => (sig, body::Modifiers::parse(m)?),
        None => (s, body::Modifiers::default()),
    };
    let (offset, hex) = match sig.rsplit_once(':') {
        Some((o, h)) => (parse_offset(o)?, h),
        None => (Ok(Offset::Any), sig),
    };
    let elems = body::parse(hex)?;
    Ok(offset.map(|offset| SubSig::Body { offset, elems, mods }))
}

/// `[Offset:]Trigger/Regex/[Flags][::Modifiers]`, the regex between the
/// first and the last `/`.
fn parse_pcre(
    s: &str,
    first: usize,
    last: usize,
    nsubs: usize,
) -> Result<Result<SubSig, String>, String> {
    let head = &s[..first];
    let regex = &s[first + 1..last];
    let (flags, mods) = match s[last + 1..].split_once("::") {
        Some((f, m)) => (f, body::Modifiers::parse(m)?),
        None => (&s[last + 1..], body::Modifiers::default()),
    };
    let (offset, trigger) = match head.rsplit_once(':') {
        Some((o, t)) => (parse_offset(o)?, t),
        None => (Ok(Offset::Any), head),
    };
    let trigger = expr::parse(trigger, nsubs)?;
    let (mut global, mut rolling, mut encompass, mut anchored) =
        (false, false, false, false);
    let mut inline = String::new();
    for c in flags.chars() {
        match c {
            'g' => global = true,
            'r' => rolling = true,
            'e' => encompass = true,
            'A' => anchored = true,
            // `$` in the regex crate already matches only at the very end.
            'E' => {}
            'i' | 's' | 'm' | 'x' | 'U' => inline.push(c),
            _ => return Err(format!("unknown PCRE flag '{c}'")),
        }
    }
    if mods.wide {
        return Err(
            "the wide modifier does not apply to PCRE subsignatures".into()
        );
    }
    if mods.nocase && !inline.contains('i') {
        inline.push('i');
    }
    let mut body = regex.to_string();
    if mods.fullword {
        body = format!(r"(?:[\W_]|\A)(?:{body})(?:[\W_]|\z)");
    }
    // ClamAV's PCRE runs on bytes, without UTF-8 semantics.
    let source = if inline.is_empty() {
        format!("(?-u){body}")
    } else {
        format!("(?-u)(?{inline}){body}")
    };
    if regex::bytes::RegexBuilder::new(&source)
        .size_limit(PCRE_SIZE_LIMIT)
        .build()
        .is_err()
    {
        return Ok(Err("PCRE subsignature the regex crate cannot run (backreferences, look-around...)".into()));
    }
    Ok(offset.map(|offset| {
        SubSig::Pcre(Pcre {
            offset,
            trigger,
            source,
            global,
            rolling,
            encompass,
            anchored,
        })
    }))
}

/// Compiled-size cap for one PCRE subsignature.
pub(crate) const PCRE_SIZE_LIMIT: usize = 4 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str, text: &str) -> Result<SignatureSet, LoadError> {
        let mut s = SignatureSet::new();
        s.load_bytes(name, text.as_bytes())?;
        Ok(s)
    }

    #[test]
    fn hash_lines() {
        let s = load(
            "t.hdb",
            "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Hash\n\
             # comment\n\
             44d88612fea8a8f36de82e1278abb02f:*:Any-Size:73\n\
             44d88612fea8a8f36de82e1278abb02f:68:Future:999\n",
        )
        .unwrap();
        assert_eq!(s.hashes.len(), 2);
        assert_eq!(s.hashes[1].size, None);
        assert_eq!(s.stats.skipped_flevel, 1);
        let e = load("t.hdb", "abcd:1:X\n").unwrap_err();
        assert!(e.to_string().contains("t.hdb:1"), "{e}");
        assert!(
            load("t.hdb", "44d88612fea8a8f36de82e1278abb02f:*:X\n").is_err()
        );
    }

    #[test]
    fn ndb_lines() {
        let s = load(
            "t.ndb",
            "A:0:*:41424344\nB:4:10,5:41424344\nC:7:EOF-10:41424344\n\
             D:1:EP+0:41424344\nE:0:*:41424344:1:20\n\
             F:1:EP-4,8:41424344\nG:1:S2+16:41424344\nH:1:SL+0:41424344\n\
             I:1:SE1:41424344\nJ:6:*:41424344\nK:1:S64+0:41424344\n",
        )
        .unwrap();
        assert_eq!(s.ndbs.len(), 9);
        assert_eq!(s.ndbs[8].target, 6);
        assert_eq!(s.ndbs[1].offset, Offset::Abs { n: 10, shift: 5 });
        assert_eq!(s.ndbs[2].offset, Offset::EofMinus { n: 10, shift: 0 });
        assert_eq!(s.ndbs[3].offset, Offset::EpPlus { n: 0, shift: 0 });
        assert_eq!(s.ndbs[4].offset, Offset::EpMinus { n: 4, shift: 8 });
        assert_eq!(
            s.ndbs[5].offset,
            Offset::Section { x: 2, n: 16, shift: 0 }
        );
        assert_eq!(s.ndbs[6].offset, Offset::LastSection { n: 0, shift: 0 });
        assert_eq!(s.ndbs[7].offset, Offset::WithinSection { x: 1 });
        // A section index beyond what the module stores.
        assert_eq!(s.stats.unsupported_total(), 1);
        assert!(load("t.ndb", "X:1:EPX:41424344\n").is_err());
        // As clamscan, a file whose pattern sits at an entry point or a
        // section of something not an executable is refused.
        for bad in [
            "X:0:EP+0:41424344",
            "X:3:SE1:41424344",
            "X:10:S1+2:4142",
            "X:0:VI:41424344",
        ] {
            let e = load("t.ndb", &format!("{bad}\n")).unwrap_err();
            assert!(e.to_string().contains("target type 1, 6 or 9"), "{e}");
        }
        assert!(load("t.ndb", "X:9:EP+0:41424344\n").is_ok());
        // Anything starting `VI` is a version-information offset for
        // clamscan, a shift ignored.
        let v =
            load("t.ndb", "V:1:VI:41424344\nW:1:VIx,3:41424344\n").unwrap();
        assert!(v.ndbs.iter().all(|n| n.offset == Offset::VersionInfo));
        assert!(load("t.ndb", "X:8:*:41424344\n").unwrap().ndbs.is_empty());
        assert_eq!(s.stats.skipped_flevel, 1);
        let e = load("x.ndb", "A:0:*:414243\nB:0:*:zz\n").unwrap_err();
        assert!(
            e.to_string().starts_with("invalid signature at x.ndb:2"),
            "{e}"
        );
    }

    #[test]
    fn ldb_lines() {
        let s = load(
            "t.ldb",
            "L1;Engine:51-255,Target:0;0&1;41424344;10:45464748::iw\n\
             L2;Target:0,FileSize:10-20;0>2;41424344\n\
             L3;Target:1,EntryPoint:1-2;0;41424344\n\
             L4;Target:0;0&1;41424344;0/abc(?=d)/\n\
             L5;Target:0;0&1;41424344;10,5:0/ab+c/gri::f\n",
        )
        .unwrap();
        assert_eq!(s.ldbs.len(), 4);
        assert!(
            matches!(&s.ldbs[3].subs[1], SubSig::Pcre(p) if p.global && p.rolling && p.source.starts_with("(?-u)(?i)"))
        );
        assert!(
            matches!(&s.ldbs[0].subs[1], SubSig::Body { mods, .. } if mods.wide)
        );
        assert_eq!(s.ldbs[1].filesize, Some((10, 20)));
        assert_eq!(s.ldbs[2].entry_point, Some((1, 2)));
        assert_eq!(s.stats.unsupported_total(), 1);
        assert!(load("t.ldb", "L;Target:0;0&3;41424344\n").is_err());
        // A type ClamAV does not know passes the signature over.
        let s = load(
            "t.ldb",
            "H1;Engine:81-255,Target:0,HandlerType:CL_TYPE_ZIP;0;41424344\n\
             H2;Engine:81-255,Target:0,HandlerType:CL_TYPE_NO;0;41424344\n\
             C1;Engine:81-255,Target:0,Container:CL_TYPE_NO;0;41424344\n",
        )
        .unwrap();
        assert_eq!(s.ldbs.len(), 1);
        assert_eq!(s.ldbs[0].name, "H1");
        assert_eq!(s.stats.unsupported_total(), 2);
    }

    #[test]
    fn directories_are_read_as_libclamav_reads_them() {
        use super::cvd::tests::build_version;
        let d = tempfile::tempdir().unwrap();
        let put = |n: &str, b: &[u8]| std::fs::write(d.path().join(n), b);
        put(
            "daily.cvd",
            &build_version(&[("d.ndb", b"Old:0:*:41424344\n")], true, 5),
        )
        .unwrap();
        put(
            "daily.cld",
            &build_version(&[("d.ndb", b"New:0:*:41424344\n")], false, 6),
        )
        .unwrap();
        put("local.ndb", b"Local:0:*:45464748\nGone:0:*:45464749\n").unwrap();
        put("z.ign2", b"Gone\n").unwrap();
        put("third.cdb", b"Zip:CL_TYPE_ZIP:*:evil\\.exe:*:*:*:*:*:*\n")
            .unwrap();
        put("x.ftm", b"0:0:4c000000:LNK:CL_TYPE_ANY:CL_TYPE_LNK\n").unwrap();
        put("daily.info", b"not read\n").unwrap();
        put("notes.txt", b"not read\n").unwrap();
        std::fs::create_dir(d.path().join("sub.ndb")).unwrap();
        let names = |s: &SignatureSet| -> Vec<String> {
            s.ndbs
                .iter()
                .filter(|n| !s.is_ignored(&n.name, &n.line_md5))
                .map(|n| n.name.clone())
                .collect()
        };
        let mut s = SignatureSet::new();
        s.load_path(d.path()).unwrap();
        // The newer daily only; the ignore list applies to local.ndb read
        // before it by name.
        assert_eq!(names(&s), ["New", "Local"]);
        assert_eq!(s.cdbs.len(), 1);
        let w = s.stats.unsupported_warning().unwrap();
        assert!(!w.contains("third.cdb") && w.contains("(.ftm)"), "{w}");
        assert!(!w.contains("daily.info") && !w.contains("notes"), "{w}");

        // In memory instead of both forms on disk.
        let v7 = build_version(&[("d.ndb", b"Seven:0:*:41424344\n")], true, 7);
        let mut s = SignatureSet::new();
        s.load_dir(d.path(), &[("daily.cvd".into(), &v7[..])]).unwrap();
        assert_eq!(names(&s), ["Seven", "Local"]);

        // Same version: the .cld.
        put(
            "daily.cvd",
            &build_version(&[("d.ndb", b"Cvd:0:*:41424344\n")], true, 6),
        )
        .unwrap();
        let mut s = SignatureSet::new();
        s.load_path(d.path()).unwrap();
        assert_eq!(names(&s), ["New", "Local"]);
        assert!(SignatureSet::is_database_file("a.YARA"));
        assert!(!SignatureSet::is_database_file("a.info"));
        assert!(!SignatureSet::is_database_file("ndb"));
    }

    /// Each file a set was read from is named once, a container with its
    /// header's version and build time, with the signatures read from it;
    /// files of kinds the engine does not read are not.
    #[test]
    fn sources_name_each_file_read() {
        use super::cvd::tests::build_version;
        let d = tempfile::tempdir().unwrap();
        let put = |n: &str, b: &[u8]| std::fs::write(d.path().join(n), b);
        put(
            "daily.cvd",
            &build_version(&[("d.ndb", b"Old:0:*:41424344\n")], true, 5),
        )
        .unwrap();
        put(
            "daily.cld",
            &build_version(
                &[
                    ("d.ndb", b"New:0:*:41424344\n"),
                    ("d.ldb", b"L;Target:0;0;41424344\n"),
                    ("d.ftm", b"0:0:4d5a:PE:CL_TYPE_ANY:CL_TYPE_MSEXE\n"),
                ],
                false,
                6,
            ),
        )
        .unwrap();
        put("local.ndb", b"Local:0:*:45464748\nGone:0:*:45464749\n").unwrap();
        put("z.ign2", b"Gone\n").unwrap();
        put("third.cdb", b"Zip:CL_TYPE_ZIP:*:evil\\.exe:*:*:*:*:*:*\n")
            .unwrap();
        put("x.ftm", b"0:0:4d5a:PE:CL_TYPE_ANY:CL_TYPE_MSEXE\n").unwrap();
        let brief = |s: &SignatureSet| -> Vec<(String, Option<u32>, u64)> {
            s.sources()
                .iter()
                .map(|x| (x.name.clone(), x.version, x.signatures))
                .collect()
        };
        let mut s = SignatureSet::new();
        s.load_path(d.path()).unwrap();
        assert_eq!(
            brief(&s),
            [
                ("z.ign2".to_string(), None, 0),
                ("daily.cld".to_string(), Some(6), 3),
                ("local.ndb".to_string(), None, 2),
                ("third.cdb".to_string(), None, 1),
                ("x.ftm".to_string(), None, 1),
            ]
        );
        assert_eq!(s.sources()[1].build_time, Some(1_795_000_000));
        // An updater's new version in memory is named as the file it
        // becomes.
        let v7 = build_version(&[("d.ndb", b"Seven:0:*:41424344\n")], true, 7);
        let mut s = SignatureSet::new();
        s.load_dir(d.path(), &[("daily.cvd".into(), &v7[..])]).unwrap();
        assert_eq!(brief(&s)[1], ("daily.cvd".to_string(), Some(7), 1));
        // A file named by its path is named by its file name.
        let mut s = SignatureSet::new();
        s.load_path(&d.path().join("local.ndb")).unwrap();
        assert_eq!(brief(&s), [("local.ndb".to_string(), None, 2)]);
    }

    /// ClamAV's category rule: the categories joined `.A.B.` must occur
    /// in the name's `.Platform.Category.` part; without the `PUA.`
    /// prefix or a category part, nothing is kept once categories are
    /// given.
    #[test]
    fn pua_categories_as_clamav_reads_them() {
        let inc = |c: &[&str]| {
            PuaCategories::Include(c.iter().map(|s| s.to_string()).collect())
        };
        let exc = |c: &[&str]| {
            PuaCategories::Exclude(c.iter().map(|s| s.to_string()).collect())
        };
        assert!(inc(&["Tool"]).keeps("PUA.Win.Tool.Thing-1"));
        assert!(inc(&["Win"]).keeps("PUA.Win.Tool.Thing-1"));
        assert!(inc(&["Win.Tool"]).keeps("PUA.Win.Tool.Thing-1"));
        assert!(inc(&["Win", "Tool"]).keeps("PUA.Win.Tool.Thing-1"));
        assert!(!inc(&["Tool", "Win"]).keeps("PUA.Win.Tool.Thing-1"));
        assert!(!inc(&["Thing-1"]).keeps("PUA.Win.Tool.Thing-1"));
        assert!(!inc(&["Too"]).keeps("PUA.Win.Tool.Thing-1"));
        assert!(!exc(&["Tool"]).keeps("PUA.Win.Tool.Thing-1"));
        assert!(exc(&["Packed"]).keeps("PUA.Win.Tool.Thing-1"));
        let long = format!("PUA.Win.{}.X", "T".repeat(30));
        assert!(!inc(&["Win"]).keeps(&long) && !exc(&["Tool"]).keeps(&long));
        for odd in ["NotPua.Win.Tool.X", "PUA.Thing", "PUAX.Win.Tool.X"] {
            assert!(!inc(&["Win"]).keeps(odd), "{odd}");
            assert!(!exc(&["Win"]).keeps(odd), "{odd}");
            assert!(PuaCategories::All.keeps(odd), "{odd}");
        }
        // PUA files are read only when asked.
        let mut s = SignatureSet::new();
        s.load_bytes("p.ndu", b"PUA.Win.Tool.X:0:*:41424344\n").unwrap();
        assert!(s.ndbs.is_empty());
        assert_eq!(s.stats.pua_files_skipped, 1);
        let mut s = SignatureSet::new();
        s.detect_pua(exc(&["Tool"]));
        s.load_bytes(
            "p.ndu",
            b"PUA.Win.Tool.X:0:*:41424344\nPUA.Win.Packed.Y:0:*:45464748\n",
        )
        .unwrap();
        let names: Vec<&str> =
            s.ndbs.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["PUA.Win.Packed.Y"]);
        assert_eq!(s.stats.pua_excluded, 1);
    }

    #[test]
    fn ignores() {
        let mut s = SignatureSet::new();
        s.load_bytes("x.ign2", b"Bad.Sig\n").unwrap();
        assert!(s.is_ignored("Bad.Sig", &[0; 16]));
        assert!(!s.is_ignored("Good.Sig", &[0; 16]));
    }
}
