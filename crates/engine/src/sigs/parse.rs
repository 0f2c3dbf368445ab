//! The line grammars of `.hdb`/`.hsb`/`.mdb`, `.ndb` and `.ldb` (with
//! their offsets, target types, subsignatures and PCRE), as ClamAV 1.4
//! reads them.

use super::body::BodyError;
use super::error::LevelError;
use super::expr::ExprError;
use super::*;

/// A number field of a line (an offset, a target type, a range) that is
/// not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumberError {
    /// Not decimal digits.
    #[error("invalid number '{0}'")]
    Invalid(String),
    /// Digits, but past 32 bits.
    #[error("number out of range '{0}'")]
    OutOfRange(String),
}

/// A body pattern's offset (`.ndb`, `.ldb` subsignatures) that ClamAV
/// refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OffsetError {
    /// `EP` or `S` followed by none of the forms ClamAV knows.
    #[error("invalid PE-relative offset '{0}'")]
    PeRelative(String),
    /// A number of the offset that is not one.
    #[error(transparent)]
    Number(#[from] NumberError),
    /// An offset from an entry point or section, where the signature
    /// targets no executable.
    #[error(
        "an offset from the entry point or a section needs target type 1, 6 or 9, not {target}"
    )]
    NeedsExecutable {
        /// The target type the line declares.
        target: u8,
    },
}

/// The functionality level a `*` size needs: ClamAV's first to read it.
const ANY_SIZE_FLEVEL: u32 = 73;

/// A hash line (`.hdb`, `.hsb`, `.mdb`, `.fp`, `.sfp`) that ClamAV
/// refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HashError {
    /// Fewer than three fields or more than five.
    #[error("expected HASH:SIZE:NAME[:MINFL[:MAXFL]]")]
    Fields,
    /// A digest of neither MD5's, SHA-1's nor SHA-256's length.
    #[error("hash of {0} hex digits")]
    DigestLength(usize),
    /// A digest of the right length that is not hex.
    #[error("invalid hex in hash")]
    DigestHex,
    /// `*` for the size, on a line older engines could read.
    #[error(
        "size '*' needs a functionality level of at least {}",
        ANY_SIZE_FLEVEL
    )]
    AnySizeLevel,
    /// A size that is neither `*` nor a number.
    #[error("invalid size '{0}'")]
    Size(String),
    /// Nothing in the name field.
    #[error("empty signature name")]
    EmptyName,
    /// A functionality level that is not a number.
    #[error(transparent)]
    Level(#[from] LevelError),
}

/// An `.ndb` line that ClamAV refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NdbError {
    /// Fewer than four fields or more than six.
    #[error("expected NAME:TARGET:OFFSET:HEXSIG[:MINFL[:MAXFL]]")]
    Fields,
    /// Nothing in the name field.
    #[error("empty signature name")]
    EmptyName,
    /// A target type that is neither `*` nor a number.
    #[error("invalid target type '{0}'")]
    Target(String),
    /// A functionality level that is not a number.
    #[error(transparent)]
    Level(#[from] LevelError),
    /// The offset field.
    #[error(transparent)]
    Offset(#[from] OffsetError),
    /// The pattern.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// A pattern too short for ClamAV's Boyer-Moore matcher.
    #[error(
        "a signature of fewer than three bytes and no wildcard (clamscan refuses it)"
    )]
    TooShort,
}

/// The most subsignatures an `.ldb` line may have.
const MAX_SUBSIGS: usize = 64;

/// An `.ldb` line that ClamAV refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LdbError {
    /// Fewer than four fields.
    #[error("expected NAME;TDB;EXPRESSION;SUBSIG0[;SUBSIG1...]")]
    Fields,
    /// More subsignatures than ClamAV takes.
    #[error("more than {} subsignatures", MAX_SUBSIGS)]
    TooManySubsigs,
    /// Nothing in the name field.
    #[error("empty signature name")]
    EmptyName,
    /// An item of the target description without a `:`.
    #[error("target description '{0}' is not KEY:VALUE")]
    NotKeyValue(String),
    /// A number of the target description that is not one.
    #[error(transparent)]
    Number(#[from] NumberError),
    /// The logical expression, or a PCRE subsignature's trigger.
    #[error(transparent)]
    Expr(#[from] ExprError),
    /// An expression that does not name the line's last subsignature.
    #[error(
        "the expression names subsignatures up to {max}, but there are {count} (clamscan refuses it)"
    )]
    LastSubsigUnused {
        /// The highest subsignature the expression names.
        max: u8,
        /// How many subsignatures the line has.
        count: usize,
    },
    /// A subsignature's pattern or modifiers.
    #[error(transparent)]
    Body(#[from] BodyError),
    /// A subsignature's offset.
    #[error(transparent)]
    Offset(#[from] OffsetError),
    /// A PCRE flag ClamAV does not know.
    #[error("unknown PCRE flag '{0}'")]
    PcreFlag(char),
    /// `::w` on a PCRE subsignature.
    #[error("the wide modifier does not apply to PCRE subsignatures")]
    WidePcre,
    /// Icons are only compared on executables (target type 1).
    #[error(
        "IconGroup1 and IconGroup2 need target type 1 (clamscan refuses them elsewhere)"
    )]
    IconNeedsPe,
    /// `EntryPoint` or `NumberOfSections` where the signature targets no
    /// executable.
    #[error(
        "EntryPoint and NumberOfSections need target type 1, 6 or 9, not {target}"
    )]
    PeFieldsNeedExecutable {
        /// The target type the line declares.
        target: u8,
    },
}

/// Why a line is counted rather than loaded: one the engine reads but
/// cannot honour (yet). Its text names it in the load's table and
/// warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Unsupported {
    /// A target type the engine does not scan for.
    Target(u32),
    /// `Sx+n` or `SEx` (`within`) past the module's section index.
    SectionIndex {
        within: bool,
        x: u32,
    },
    MacroOffset,
    FuzzyImage,
    MacroSubsig,
    ByteCompare,
    /// A PCRE the `regex` crate cannot run.
    Pcre,
    /// A type name ClamAV does not know, in the target description
    /// field `key`.
    UnknownType {
        name: String,
        key: &'static str,
    },
    UnknownKey(String),
    HashOver4GiB,
    UrlHash,
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unsupported::Target(8) => f.write_str("target type 8 (unused)"),
            Unsupported::Target(t @ (13 | 14)) => {
                write!(f, "target type {t} (internal)")
            }
            Unsupported::Target(t) => write!(f, "target type {t} (unknown)"),
            Unsupported::SectionIndex { within, x } => {
                let s = if *within { "SE" } else { "S" };
                write!(f, "section offset {s}{x} (index over {MAX_SECTION_INDEX})")
            }
            Unsupported::MacroOffset => f.write_str("macro offset ($n$)"),
            Unsupported::FuzzyImage => {
                f.write_str("image fuzzy hash subsignature")
            }
            Unsupported::MacroSubsig => f.write_str("macro subsignature"),
            Unsupported::ByteCompare => {
                f.write_str("byte-compare subsignature")
            }
            Unsupported::Pcre => f.write_str(
                "PCRE subsignature the regex crate cannot run (backreferences, look-around...)",
            ),
            Unsupported::UnknownType { name, key } => {
                write!(f, "unknown type {name} in {key}")
            }
            Unsupported::UnknownKey(k) => {
                write!(f, "unknown target description key {k}")
            }
            Unsupported::HashOver4GiB => {
                f.write_str("hash of an object over 4 GiB")
            }
            Unsupported::UrlHash => f.write_str("URL hash (.gdb S: line)"),
        }
    }
}

/// The inner `Err`: an offset the engine reads but cannot place.
pub(super) fn parse_offset(
    s: &str,
) -> Result<Result<Offset, Unsupported>, OffsetError> {
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
            return Ok(Err(Unsupported::SectionIndex { within: true, x }));
        }
        return Ok(Ok(Offset::WithinSection { x: x as u8, shift }));
    }
    if let Some((x, n)) =
        base.strip_prefix('S').and_then(|r| r.split_once('+'))
    {
        let x = parse_u32(x)?;
        if x > MAX_SECTION_INDEX {
            return Ok(Err(Unsupported::SectionIndex { within: false, x }));
        }
        return Ok(Ok(Offset::Section {
            x: x as u8,
            n: parse_u32(n)?,
            shift,
        }));
    }
    if base.starts_with("EP") || base.starts_with('S') {
        return Err(OffsetError::PeRelative(s.to_string()));
    }
    // ClamAV reads anything starting `VI` so (and ignores a shift).
    if base.starts_with("VI") {
        return Ok(Ok(Offset::VersionInfo));
    }
    if base.contains('$') {
        return Ok(Err(Unsupported::MacroOffset));
    }
    Ok(Ok(Offset::Abs { n: parse_u32(base)?, shift }))
}

/// Checks an optional `MinFL[:MaxFL]` pair: `Ok(false)` means skip.
pub(super) fn flevel_ok(
    min: Option<&str>,
    max: Option<&str>,
) -> Result<bool, LevelError> {
    let parse =
        |s: &str| s.parse::<u32>().map_err(|_| LevelError(s.to_string()));
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

pub(super) fn parse_u32(s: &str) -> Result<u32, NumberError> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(NumberError::Invalid(s.to_string()));
    }
    s.parse().map_err(|_| NumberError::OutOfRange(s.to_string()))
}

pub(super) fn target_supported(t: u32) -> Result<u8, Unsupported> {
    match t {
        0..=7 | 9..=12 => Ok(t as u8),
        _ => Err(Unsupported::Target(t)),
    }
}

/// ClamAV refuses a file whose signature places a pattern relative to an
/// executable's entry point or sections without targeting executables
/// (PE, ELF or Mach-O).
pub(super) fn offset_fits_target(
    offset: &Offset,
    target: u8,
) -> Result<(), OffsetError> {
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
        return Err(OffsetError::NeedsExecutable { target });
    }
    Ok(())
}

pub(super) fn parse_hash(line: &str) -> Result<Line<HashSig>, HashError> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 3 || f.len() > 5 {
        return Err(HashError::Fields);
    }
    let kind = HashKind::from_hex_len(f[0].len())
        .ok_or(HashError::DigestLength(f[0].len()))?;
    let digest =
        decode_hex(&f[0].to_ascii_lowercase()).ok_or(HashError::DigestHex)?;
    let size = if f[1] == "*" {
        let min = f.get(3).and_then(|m| m.parse::<u32>().ok()).unwrap_or(0);
        if min < ANY_SIZE_FLEVEL {
            return Err(HashError::AnySizeLevel);
        }
        None
    } else {
        let s: u64 =
            f[1].parse().map_err(|_| HashError::Size(f[1].to_string()))?;
        match u32::try_from(s) {
            Ok(s) => Some(s),
            Err(_) => return Ok(Line::Unsupported(Unsupported::HashOver4GiB)),
        }
    };
    if f[2].is_empty() {
        return Err(HashError::EmptyName);
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
pub(super) fn ndb_target(line: &str) -> Option<u8> {
    line.split(':').nth(1)?.parse().ok()
}

/// The target type an `.ldb` line's description declares (0 when it
/// names none), if it is readable.
pub(super) fn ldb_target(line: &str) -> Option<u8> {
    let desc = line.split(';').nth(1)?;
    match desc.split(',').find_map(|kv| kv.strip_prefix("Target:")) {
        Some(t) => t.parse().ok(),
        None => Some(0),
    }
}

pub(super) fn parse_ndb(line: &str) -> Result<Line<NdbSig>, NdbError> {
    let f: Vec<&str> = line.split(':').collect();
    if f.len() < 4 || f.len() > 6 {
        return Err(NdbError::Fields);
    }
    if f[0].is_empty() {
        return Err(NdbError::EmptyName);
    }
    // `*` is any type, as ClamAV reads it.
    let target: u32 = match f[1] {
        "*" => 0,
        t => t.parse().map_err(|_| NdbError::Target(t.to_string()))?,
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
    let elems = body::parse_signature(f[3], false)?;
    // clamscan puts a plain byte string for any file or a PE (at a fixed
    // offset, for a PE) in its Boyer-Moore matcher, which refuses fewer
    // than three bytes, and with them the whole database.
    let plain = !f[3].contains(['?', '(', '[', '{', '*']);
    let aho_corasick = (target == 1 && (f[2] == "*" || f[2].contains(',')))
        || f[2].contains("VI")
        || f[2].contains('$');
    if target <= 1 && plain && !aho_corasick && f[3].len() < 6 {
        return Err(NdbError::TooShort);
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
        plain: target <= 1 && plain && !aho_corasick,
        gap_splits: body::gap_splits(f[3]),
    }))
}

pub(super) fn parse_range64(s: &str) -> Result<(u64, u64), NumberError> {
    let p = |v: &str| {
        v.parse::<u64>().map_err(|_| NumberError::Invalid(v.to_string()))
    };
    match s.split_once('-') {
        Some((a, b)) => Ok((p(a)?, p(b)?)),
        None => {
            let v = p(s)?;
            Ok((v, v))
        }
    }
}

pub(super) fn parse_ldb(line: &str) -> Result<Line<LdbSig>, LdbError> {
    let f: Vec<&str> = line.split(';').collect();
    if f.len() < 4 {
        return Err(LdbError::Fields);
    }
    if f.len() - 3 > MAX_SUBSIGS {
        return Err(LdbError::TooManySubsigs);
    }
    let name = f[0];
    if name.is_empty() {
        return Err(LdbError::EmptyName);
    }
    let mut target = None;
    let mut filesize = None;
    let mut entry_point = None;
    let mut sections = None;
    let mut container = None;
    let mut intermediates = Vec::new();
    let mut icon_groups: [Option<String>; 2] = [None, None];
    let mut unsupported: Option<Unsupported> = None;
    let unknown = |name: &str, key| Unsupported::UnknownType {
        name: name.to_string(),
        key,
    };
    for kv in f[1].split(',') {
        let (k, v) = kv
            .split_once(':')
            .ok_or_else(|| LdbError::NotKeyValue(kv.to_string()))?;
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
                    unsupported.get_or_insert_with(|| unknown(v, "Container"));
                }
                container = Some(v.to_string());
            }
            "EntryPoint" => entry_point = Some(parse_range64(v)?),
            "NumberOfSections" => sections = Some(parse_range64(v)?),
            // The value is all that follows the first colon.
            "IconGroup1" => icon_groups[0] = Some(v.to_string()),
            "IconGroup2" => icon_groups[1] = Some(v.to_string()),
            "Intermediates" => {
                // ClamAV keeps the first 16.
                intermediates =
                    v.split('>').take(16).map(str::to_string).collect();
                // ClamAV skips a signature naming a type it does not know.
                if let Some(t) = intermediates.iter().find(|t| {
                    !crate::filetype::CLAMAV_TYPES.contains(&t.as_str())
                }) {
                    unsupported
                        .get_or_insert_with(|| unknown(t, "Intermediates"));
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
                    unsupported
                        .get_or_insert_with(|| unknown(v, "HandlerType"));
                }
            }
            // ClamAV passes over a signature with a key it does not know.
            _ => {
                unsupported.get_or_insert_with(|| {
                    Unsupported::UnknownKey(k.to_string())
                });
            }
        }
    }
    let nsubs = f.len() - 3;
    let expr = expr::parse(f[2], nsubs)?;
    // clamscan refuses a signature whose expression does not name its
    // last subsignature.
    if usize::from(expr.max_id()) + 1 != nsubs {
        return Err(LdbError::LastSubsigUnused {
            max: expr.max_id(),
            count: nsubs,
        });
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
    if icon_groups.iter().any(Option::is_some) && target != Some(1) {
        return Err(LdbError::IconNeedsPe);
    }
    // A group not named is any group (`*`).
    let icon = icon_groups
        .iter()
        .any(Option::is_some)
        .then(|| icon_groups.map(|g| g.unwrap_or_else(|| "*".to_string())));
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
        return Err(LdbError::PeFieldsNeedExecutable { target });
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
        icon,
        expr,
        subs,
        line_md5: md5_of(line),
        official: false,
    }))
}

/// Parses a subsignature; the inner `Err` names an unsupported kind.
pub(super) fn parse_subsig(
    s: &str,
    nsubs: usize,
) -> Result<Result<SubSig, Unsupported>, LdbError> {
    if let (Some(a), Some(b)) = (s.find('/'), s.rfind('/'))
        && a != b
    {
        return parse_pcre(s, a, b, nsubs);
    }
    if s.starts_with("fuzzy_img#") {
        return Ok(Err(Unsupported::FuzzyImage));
    }
    if s.contains('$') {
        return Ok(Err(Unsupported::MacroSubsig));
    }
    if s.contains('#') {
        return Ok(Err(Unsupported::ByteCompare));
    }
    let (sig, mods) = match s.split_once("::") {
        Some((sig, m)) => (sig, body::Modifiers::parse(m)?),
        None => (s, body::Modifiers::default()),
    };
    let (offset, hex) = match sig.rsplit_once(':') {
        Some((o, h)) => (parse_offset(o)?, h),
        None => (Ok(Offset::Any), sig),
    };
    let elems = body::parse_signature(hex, mods.wide && !mods.ascii)?;
    Ok(offset.map(|offset| SubSig::Body { offset, elems, mods }))
}

/// `[Offset:]Trigger/Regex/[Flags][::Modifiers]`, the regex between the
/// first and the last `/`.
pub(super) fn parse_pcre(
    s: &str,
    first: usize,
    last: usize,
    nsubs: usize,
) -> Result<Result<SubSig, Unsupported>, LdbError> {
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
            _ => return Err(LdbError::PcreFlag(c)),
        }
    }
    if mods.wide {
        return Err(LdbError::WidePcre);
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
        return Ok(Err(Unsupported::Pcre));
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
