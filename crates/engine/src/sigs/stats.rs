//! What a load read: counts per kind and target for the one summary line
//! and `nod32cli compile`'s table, and the database files read.

use super::*;

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
    /// Icon signatures (`.idb`).
    pub icons: usize,
    /// Phishing domain-list entries and URL hashes (`.pdb`, `.gdb`).
    pub phishing: usize,
    /// Allow-list entries (`.fp`, `.sfp`).
    pub allow: usize,
    /// Certificate rules (`.crb`) and catalog hashes (`.cat`).
    pub certificates: usize,
    /// `.cat` catalogs whose signature no rule loaded before them
    /// trusts: ignored, as clamscan ignores them.
    pub untrusted_catalogs: Vec<String>,
    /// Lines disabled by `.ign`/`.ign2` that could not have been read
    /// (the readable ones are dropped, and counted, at compile time).
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
        if !self.untrusted_catalogs.is_empty() {
            parts.push(format!(
                "catalogs not trusted by the .crb rules loaded before them, ignored: {}",
                self.untrusted_catalogs.join(", ")
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
pub(super) fn shown(name: &str) -> String {
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
pub(super) fn civil_from_days(days: u64) -> (u64, u64, u64) {
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
