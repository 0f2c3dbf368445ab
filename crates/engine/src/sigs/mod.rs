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
mod crb;
pub(crate) mod cvd;
pub(crate) mod error;
pub(crate) mod expr;
pub(crate) mod ftm;
pub(crate) mod idb;
mod kinds;
mod parse;
pub(crate) mod phish;
mod stats;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use md5::{Digest, Md5};

pub use error::LoadError;
use error::SigError;
pub use kinds::PuaCategories;
use kinds::*;
pub(crate) use parse::PCRE_SIZE_LIMIT;
use parse::*;
pub use stats::{KindRow, LoadStats, Source};

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
    /// `SEx[,n]`: anywhere within section x's data, or up to n bytes
    /// past it (ClamAV's end is the section's end plus n).
    WithinSection {
        x: u8,
        shift: u32,
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
    /// Whether clamscan puts it in its plain-string (Boyer-Moore)
    /// matcher rather than its trie (`compile/order.rs`).
    pub(crate) plain: bool,
    /// [`body::gap_splits`] of its pattern.
    pub(crate) gap_splits: Vec<bool>,
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
    /// `IconGroup1` and `IconGroup2` (`*` where one is not given): the
    /// object must be an executable with an icon matching an `.idb`
    /// entry of both groups.
    pub(crate) icon: Option<[String; 2]>,
    pub(crate) expr: expr::Node,
    pub(crate) subs: Vec<SubSig>,
    pub(crate) line_md5: [u8; 16],
    pub(crate) official: bool,
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
    /// Whether a `.ftm` file was loaded: clamscan then drops its own
    /// table of types, the patterns of embedded types included.
    pub(crate) has_ftm: bool,
    /// The types `.ftm` mode-1 lines name (`CL_TYPE_ZIPSFX`…): beside a
    /// `.ftm`, only their embedded-type patterns are compiled.
    pub(crate) ftm_types: Vec<String>,
    /// `.idb` icon signatures, in load order.
    pub(crate) icons: Vec<idb::IdbSig>,
    /// The names `.idb` lines give their first and second icon groups.
    pub(crate) icon_groups: [Vec<String>; 2],
    /// `.crb` rules and the certificates `.cat` catalogs made trusted.
    pub(crate) certs: crate::auth::Store,
    /// `.crb` and `.cat` files are passed over (clamscan's `--nocerts`).
    no_certs: bool,
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
    // from_str_radix alone would take a sign ("+f").
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Outcome of parsing one line.
enum Line<T> {
    Sig(T),
    Skip,
    /// A line `.ign`/`.ign2` disables that could not have been read.
    Ignored,
    Unsupported(Unsupported),
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
            + s.icons
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
        let io =
            |source| LoadError::Io { path: path.to_path_buf(), cause: source };
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
        let io =
            |source| LoadError::Io { path: dir.to_path_buf(), cause: source };
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
        // In libclamav's order: ignore lists first, so they apply
        // whatever the name order, certificate rules before catalogs.
        files.sort_by_key(|f| {
            (crb::priority(f.path()), f.path().to_path_buf())
        });
        for f in files {
            match f {
                DirFile::Disk(p) => {
                    let bytes = std::fs::read(&p).map_err(|source| {
                        LoadError::Io { path: p.clone(), cause: source }
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
                | Kind::Idb
                | Kind::Crb
                | Kind::Cat
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
            Kind::Idb => return idb::load(self, name, bytes),
            Kind::Crb | Kind::Cat if self.no_certs => return Ok(()),
            Kind::Crb => return crb::load(self, name, bytes),
            Kind::Cat => return crb::load_catalog(self, name, bytes),
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
                    self.unsupported_in(name, None, what);
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
            let err = |reason: SigError| LoadError::Malformed {
                path: name.to_string(),
                line: i + 1,
                reason,
            };
            match kind {
                Kind::Hdb | Kind::Hsb | Kind::Fp | Kind::Sfp => {
                    let fp = matches!(kind, Kind::Fp | Kind::Sfp);
                    match parse_hash(line).map_err(|e| err(e.into()))? {
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
                        Line::Ignored => self.stats.ignored += 1,
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
                    match parse_hash(&swapped).map_err(|e| err(e.into()))? {
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
                        Line::Ignored => self.stats.ignored += 1,
                        Line::Unsupported(r) => {
                            self.unsupported_in(name, None, r)
                        }
                    }
                }
                Kind::Ndb => {
                    let t = ndb_target(line);
                    match self
                        .unless_ignored(line, ':', parse_ndb(line))
                        .map_err(|e| err(e.into()))?
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
                        Line::Ignored => self.stats.ignored += 1,
                        Line::Unsupported(r) => {
                            self.unsupported_in(name, t, r)
                        }
                    }
                }
                Kind::Ldb => {
                    let t = ldb_target(line);
                    match self
                        .unless_ignored(line, ';', parse_ldb(line))
                        .map_err(|e| err(e.into()))?
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
                        Line::Ignored => self.stats.ignored += 1,
                        Line::Unsupported(r) => {
                            self.unsupported_in(name, t, r)
                        }
                    }
                }
                Kind::Cdb => match cdb::parse_cdb(line)
                    .map_err(|e| err(e.into()))?
                {
                    Line::Sig(mut s) => {
                        s.official = self.official;
                        self.stats.container += 1;
                        self.row(name, None).loaded += 1;
                        self.cdbs.push(s);
                    }
                    Line::Skip => self.skipped(name, None),
                    Line::Ignored => self.stats.ignored += 1,
                    Line::Unsupported(r) => self.unsupported_in(name, None, r),
                },
                Kind::Phish(list) => match phish::parse(line, list)
                    .map_err(|e| err(e.into()))?
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
                    Line::Ignored => self.stats.ignored += 1,
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
                    self.unsupported_in(name, None, what);
                }
                Kind::Container
                | Kind::Ftm
                | Kind::Idb
                | Kind::Crb
                | Kind::Cat
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
        reason: impl std::fmt::Display,
    ) {
        let reason = reason.to_string();
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

    /// A line `.ign`/`.ign2` disables is passed over once its fields are
    /// counted (`.ndb` 4 to 6, `.ldb` 4 or more), as clamscan does.
    fn unless_ignored<T, E>(
        &self,
        line: &str,
        sep: char,
        parsed: Result<Line<T>, E>,
    ) -> Result<Line<T>, E> {
        let n = line.split(sep).count();
        let counted = n >= 4 && (sep != ':' || n <= 6);
        // Before its functionality level or what it holds are looked at.
        match parsed {
            Err(_) | Ok(Line::Skip | Line::Unsupported(_))
                if counted
                    && self.is_ignored(
                        line.split(sep).next().unwrap_or_default(),
                        &md5_of(line),
                    ) =>
            {
                Ok(Line::Ignored)
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

#[cfg(test)]
mod tests;
