//! The kinds of database file by extension, and which the engine reads,
//! counts or skips; the PUA categories chosen.

use super::*;

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
    pub(super) fn keeps(&self, name: &str) -> bool {
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

/// How the signatures in a file of a kind the engine does not use are
/// counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Unit {
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
pub(super) enum Kind {
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
    Idb,
    /// `.crb`: certificate trust and block rules.
    Crb,
    /// `.cat`: a signed catalog of executable hashes.
    Cat,
}

/// What a PUA file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PuaKind {
    Hdb,
    Hsb,
    Ndb,
    Ldb,
    Mdb,
}

pub(super) fn kind_of(name: &str) -> Option<Kind> {
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
        "idb" => Kind::Idb,
        "db" | "sdb" | "zmd" | "rmd" => Kind::Unsupported("legacy format"),
        "cbc" => Kind::NotUsed("bytecode (.cbc)", Unit::File),
        "yar" | "yara" => Kind::NotUsed("YARA rules (.yar)", Unit::YaraRule),
        "ftm" => Kind::Ftm,
        "cfg" => Kind::NotUsed("engine configuration (.cfg)", Unit::Nothing),
        "cat" => Kind::Cat,
        "crb" => Kind::Crb,
        "pwdb" => Kind::NotUsed("archive passwords (.pwdb)", Unit::Line),
        "ioc" => Kind::NotUsed("OpenIOC (.ioc)", Unit::File),
        "info" | "sign" => Kind::Meta,
        _ => return None,
    })
}

/// The extensions libclamav loads from a database directory (readdb.h's
/// `CLI_DBEXT`, which matches name endings: every one is a whole
/// extension). `.info` and `.sign` are not among them.
pub(super) const DIRECTORY_EXTENSIONS: &[&str] = &[
    "db", "hdb", "hdu", "fp", "mdb", "mdu", "hsb", "hsu", "sfp", "msb", "msu",
    "ndb", "ndu", "ldb", "ldu", "sdb", "zmd", "rmd", "pdb", "gdb", "wdb",
    "cbc", "ftm", "cfg", "cvd", "cld", "cud", "cdb", "cat", "crb", "idb",
    "ioc", "yar", "yara", "pwdb", "ign", "ign2", "imp",
];
