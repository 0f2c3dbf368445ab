//! Container metadata signatures (`.cdb`): a rule on what a container
//! says of one of its members (name, sizes, encryption, position), checked
//! before the member is extracted, the way mail filters block "a `.js`
//! inside a zip" with third-party sets such as Sanesecurity's Foxhole.
//!
//! `Name:ContainerType:ContainerSize:FileNameREGEX:FileSizeInContainer:
//! FileSizeReal:IsEncrypted:FilePos:Res1:Res2[:MinFL[:MaxFL]]`
//!
//! As in ClamAV 1.4: a size or position is `*`, `n` or `n-m` (where 0
//! leaves that end open); the regex is a POSIX extended one, searched
//! anywhere in the name, case-insensitive after a leading `(?i)`; `Res1`
//! (documented as a CRC) and `Res2` are read but never compared.

use super::error::LevelError;
use super::{Line, flevel_ok, md5_of};
use crate::filetype::CLAMAV_TYPES;

/// A `.cdb` line that ClamAV refuses.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CdbError {
    /// A line of fewer than 10 fields or more than 12.
    #[error("a container metadata signature has 10 to 12 fields, not {0}")]
    Fields(usize),
    /// A functionality level that is not a number.
    #[error(transparent)]
    Level(#[from] LevelError),
    /// Nothing in the name field.
    #[error("empty signature name")]
    EmptyName,
    /// A container type ClamAV does not know.
    #[error("unknown container type '{0}'")]
    ContainerType(String),
    /// A name rule POSIX refuses.
    #[error(transparent)]
    Regex(#[from] EreError),
    /// A name rule that translates but does not compile (too big).
    #[error("bad file name regex '{re}': {cause}")]
    NameRegex {
        /// The rule as the line writes it.
        re: String,
        /// Why it does not compile (in the message, so not a
        /// `source()` that a chain printer would repeat).
        cause: regex::Error,
    },
    /// An `IsEncrypted` field other than `0`, `1` or `*`.
    #[error("IsEncrypted must be 0, 1 or *, not '{0}'")]
    Encrypted(String),
    /// A size or position that is neither `*`, `n` nor `n-m`.
    #[error("invalid size or position '{0}'")]
    Range(String),
}

/// A POSIX extended regular expression (a `.cdb` name rule, a phishing
/// list's `R`, `X` or `Y` line) that ClamAV's matcher refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EreError {
    /// A `\` that ends the expression.
    #[error("'{0}' ends with a backslash")]
    TrailingBackslash(String),
    /// A `{n` that nothing closes.
    #[error("unclosed bound in '{0}'")]
    UnclosedBound(String),
    /// `(?`: a repetition of nothing, in POSIX.
    #[error("'(?' in '{0}'")]
    FlagGroup(String),
    /// A `[` that nothing closes.
    #[error("unclosed bracket expression")]
    UnclosedBracket,
    /// A `[:`, `[.` or `[=` that nothing closes.
    #[error("unclosed class in a bracket expression")]
    UnclosedClass,
    /// `[:name:]` of no class POSIX knows.
    #[error("unknown character class '{0}'")]
    UnknownClass(String),
    /// `[.name.]` of no collating element POSIX knows.
    #[error("unknown collating element '{0}'")]
    UnknownCollating(String),
    /// `[=name=]` of more than one character.
    #[error("unknown equivalence class '{0}'")]
    UnknownEquivalence(String),
    /// `[a-[:digit:]]`.
    #[error("a class cannot end a range")]
    ClassEndsRange,
    /// `[z-a]`.
    #[error("a range that ends before it starts")]
    ReversedRange {
        /// The first byte.
        lo: u8,
        /// The last byte.
        hi: u8,
    },
}

/// An inclusive range; `lo == 0` or `hi == 0` leaves that end open
/// unless both ends are equal (then it is an exact value, 0 included).
pub(crate) type Range = (u32, u32);

/// One `.cdb` line.
#[derive(Clone, Debug)]
pub(crate) struct CdbSig {
    pub(crate) name: String,
    /// Index into [`CLAMAV_TYPES`]; `None` for `*`.
    pub(crate) container: Option<u16>,
    pub(crate) container_size: Option<Range>,
    /// The member's name rule, already in the `regex` crate's syntax.
    pub(crate) name_regex: Option<String>,
    pub(crate) size_in_container: Option<Range>,
    pub(crate) size_real: Option<Range>,
    pub(crate) encrypted: Option<bool>,
    pub(crate) position: Option<Range>,
    pub(crate) line_md5: [u8; 16],
    pub(crate) official: bool,
}

/// What a container says of one member, before it is extracted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Member<'a> {
    /// The name as the container stores it (a path, raw bytes); `None`
    /// when it has none.
    pub(crate) name: Option<&'a [u8]>,
    /// Compressed size (0 where the format does not say).
    pub(crate) size_in_container: u64,
    /// Size once extracted.
    pub(crate) size_real: u64,
    pub(crate) encrypted: bool,
    /// Position in the container, as each format counts it.
    pub(crate) position: u32,
}

/// Whether `v` is inside `r` as ClamAV compares them.
pub(crate) fn in_range(r: Range, v: u64) -> bool {
    let (lo, hi) = (u64::from(r.0), u64::from(r.1));
    if lo == hi { v == lo } else { !(lo != 0 && lo > v || hi != 0 && hi < v) }
}

pub(super) fn parse_cdb(line: &str) -> Result<Line<CdbSig>, CdbError> {
    let f: Vec<&str> = line.split(':').collect();
    if !(10..=12).contains(&f.len()) {
        return Err(CdbError::Fields(f.len()));
    }
    if !flevel_ok(f.get(10).copied(), f.get(11).copied())? {
        return Ok(Line::Skip);
    }
    let name = f[0];
    if name.is_empty() {
        return Err(CdbError::EmptyName);
    }
    let container = match f[1] {
        "*" | "CL_TYPE_ANY" => None,
        t => Some(
            CLAMAV_TYPES
                .iter()
                .position(|n| *n == t)
                .ok_or_else(|| CdbError::ContainerType(t.to_string()))?
                as u16,
        ),
    };
    let name_regex = match f[3] {
        "*" => None,
        re => {
            let src = ere_to_regex(re)?;
            build(&src).map_err(|cause| CdbError::NameRegex {
                re: re.to_string(),
                cause,
            })?;
            Some(src)
        }
    };
    let encrypted = match f[6] {
        "*" => None,
        "0" => Some(false),
        "1" => Some(true),
        e => return Err(CdbError::Encrypted(e.to_string())),
    };
    Ok(Line::Sig(CdbSig {
        name: name.to_string(),
        container,
        container_size: range(f[2])?,
        name_regex,
        size_in_container: range(f[4])?,
        size_real: range(f[5])?,
        encrypted,
        position: range(f[7])?,
        // ClamAV checks `.ign2` against the name alone for these lines
        // (the line is already split when it looks).
        line_md5: md5_of(name),
        official: false,
    }))
}

fn range(s: &str) -> Result<Option<Range>, CdbError> {
    if s == "*" {
        return Ok(None);
    }
    let bad = || CdbError::Range(s.to_string());
    Ok(Some(match s.split_once('-') {
        // As C's `sscanf("%u-%u")`: each number may have blanks and a sign
        // before it, and whatever follows the second is ignored.
        Some(_) => {
            let (a, rest) = c_unsigned(s).ok_or_else(bad)?;
            let rest = rest.strip_prefix('-').ok_or_else(bad)?;
            let (b, _) = c_unsigned(rest).ok_or_else(bad)?;
            (a, b)
        }
        // Digits only (none is 0), as ClamAV checks a single value.
        None if s.bytes().all(|c| c.is_ascii_digit()) => {
            let n = c_unsigned(s).map_or(0, |(n, _)| n);
            (n, n)
        }
        None => return Err(bad()),
    }))
}

/// C's `%u`: blanks, a sign, then digits (at least one), read as an
/// unsigned long that saturates, negated for `-` and cut to 32 bits.
fn c_unsigned(s: &str) -> Option<(u32, &str)> {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let v = t[..digits].bytes().fold(0u64, |v, d| {
        v.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    let v = if neg { v.wrapping_neg() } else { v };
    Some((v as u32, &t[digits..]))
}

/// The matcher for a translated name rule: bytes, ASCII-only case
/// folding, `.` matching any byte but a newline-free name's end, as the
/// C-locale POSIX matcher ClamAV uses.
pub(crate) fn build(src: &str) -> Result<regex::bytes::Regex, regex::Error> {
    regex::bytes::RegexBuilder::new(src)
        .unicode(false)
        .dot_matches_new_line(true)
        .size_limit(super::PCRE_SIZE_LIMIT)
        .build()
}

/// A POSIX extended regular expression in the `regex` crate's syntax.
/// POSIX reads a backslash before an ordinary character as that character
/// and a backslash inside brackets as itself, has no `\d`-style classes,
/// and takes `{` not followed by a digit literally; the `regex` crate
/// differs on each, so every such byte is written out escaped.
pub(crate) fn ere_to_regex(re: &str) -> Result<String, EreError> {
    let (icase, re) = match re.strip_prefix("(?i)") {
        Some(rest) => (true, rest),
        None => (false, re),
    };
    let b = re.as_bytes();
    let mut out = String::with_capacity(re.len() + 8);
    if icase {
        out.push_str("(?i)");
    }
    let lit = |out: &mut String, c: u8| {
        if c.is_ascii_alphanumeric() || c == b'_' {
            out.push(c as char);
        } else {
            out.push_str(&format!("\\x{c:02X}"));
        }
    };
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\\' => {
                let Some(&n) = b.get(i + 1) else {
                    return Err(EreError::TrailingBackslash(re.to_string()));
                };
                // ClamAV's matcher reads these two as word boundaries.
                match n {
                    b'<' => out.push_str("\\b{start}"),
                    b'>' => out.push_str("\\b{end}"),
                    _ => lit(&mut out, n),
                }
                i += 2;
            }
            b'[' => {
                i = bracket(b, i, &mut out)?;
            }
            // A `{` not followed by a digit is taken literally below.
            b'{' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let end = b[i..]
                    .iter()
                    .position(|&x| x == b'}')
                    .map(|p| i + p)
                    .ok_or_else(|| EreError::UnclosedBound(re.to_string()))?;
                // Cut at ASCII bytes of a `&str`: still UTF-8, as is.
                out.push_str(&String::from_utf8_lossy(&b[i..=end]));
                i = end + 1;
            }
            b'(' => {
                // `(?` is a repetition with nothing to repeat in POSIX.
                if b.get(i + 1) == Some(&b'?') {
                    return Err(EreError::FlagGroup(re.to_string()));
                }
                depth += 1;
                out.push('(');
                i += 1;
            }
            // A `)` that closes nothing is a plain character.
            b')' if depth == 0 => {
                lit(&mut out, c);
                i += 1;
            }
            b')' => {
                depth -= 1;
                out.push(')');
                i += 1;
            }
            b'.' | b'^' | b'$' | b'|' | b'*' | b'+' | b'?' => {
                out.push(c as char);
                i += 1;
            }
            _ => {
                lit(&mut out, c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// The character classes POSIX (and ClamAV's matcher) knows, which the
/// `regex` crate spells the same way.
const CLASSES: &[&str] = &[
    "alnum", "alpha", "blank", "cntrl", "digit", "graph", "lower", "print",
    "punct", "space", "upper", "xdigit",
];

/// POSIX's names for collating elements (`[[.hyphen.]]`) of the
/// printable ASCII characters and the common controls.
const COLLATING: &[(&str, u8)] = &[
    ("NUL", 0),
    ("tab", 9),
    ("newline", 10),
    ("vertical-tab", 11),
    ("form-feed", 12),
    ("carriage-return", 13),
    ("space", b' '),
    ("exclamation-mark", b'!'),
    ("quotation-mark", b'"'),
    ("number-sign", b'#'),
    ("dollar-sign", b'$'),
    ("percent-sign", b'%'),
    ("ampersand", b'&'),
    ("apostrophe", b'\''),
    ("left-parenthesis", b'('),
    ("right-parenthesis", b')'),
    ("asterisk", b'*'),
    ("plus-sign", b'+'),
    ("comma", b','),
    ("hyphen", b'-'),
    ("hyphen-minus", b'-'),
    ("period", b'.'),
    ("full-stop", b'.'),
    ("slash", b'/'),
    ("solidus", b'/'),
    ("zero", b'0'),
    ("one", b'1'),
    ("two", b'2'),
    ("three", b'3'),
    ("four", b'4'),
    ("five", b'5'),
    ("six", b'6'),
    ("seven", b'7'),
    ("eight", b'8'),
    ("nine", b'9'),
    ("colon", b':'),
    ("semicolon", b';'),
    ("less-than-sign", b'<'),
    ("equals-sign", b'='),
    ("greater-than-sign", b'>'),
    ("question-mark", b'?'),
    ("commercial-at", b'@'),
    ("left-square-bracket", b'['),
    ("backslash", b'\\'),
    ("reverse-solidus", b'\\'),
    ("right-square-bracket", b']'),
    ("circumflex", b'^'),
    ("circumflex-accent", b'^'),
    ("underscore", b'_'),
    ("low-line", b'_'),
    ("grave-accent", b'`'),
    ("left-brace", b'{'),
    ("left-curly-bracket", b'{'),
    ("vertical-line", b'|'),
    ("right-brace", b'}'),
    ("right-curly-bracket", b'}'),
    ("tilde", b'~'),
    ("DEL", 127),
];

/// One member of a bracket expression at `b[i]`: a class (written out)
/// or a byte, and where the next starts.
enum Item {
    Class(String),
    Byte(u8),
}

fn item(b: &[u8], i: usize) -> Result<(Item, usize), EreError> {
    let c = *b.get(i).ok_or(EreError::UnclosedBracket)?;
    let Some(&k) =
        b.get(i + 1).filter(|k| c == b'[' && matches!(k, b':' | b'=' | b'.'))
    else {
        return Ok((Item::Byte(c), i + 1));
    };
    let close = [k, b']'];
    let end = b[i + 2..]
        .windows(2)
        .position(|w| w == close)
        .map(|p| i + 2 + p)
        .ok_or(EreError::UnclosedClass)?;
    // Cut at ASCII bytes of a `&str`: still UTF-8, as is.
    let inner = String::from_utf8_lossy(&b[i + 2..end]);
    let inner = &*inner;
    let item = match (k, inner.as_bytes()) {
        (b':', _) if CLASSES.contains(&inner) => {
            Item::Class(format!("[:{inner}:]"))
        }
        (b':', _) => return Err(EreError::UnknownClass(inner.to_string())),
        (_, [one]) => Item::Byte(*one),
        (b'.', _) => Item::Byte(
            COLLATING
                .iter()
                .find(|(n, _)| *n == inner)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    EreError::UnknownCollating(inner.to_string())
                })?,
        ),
        _ => return Err(EreError::UnknownEquivalence(inner.to_string())),
    };
    Ok((item, end + 2))
}

/// A bracket expression starting at `b[at] == b'['`: written to `out`,
/// returning the index after its closing `]`. Every byte is written
/// escaped, so the regex crate's `&&`, `--`, `~~` and escapes mean
/// nothing there.
fn bracket(b: &[u8], at: usize, out: &mut String) -> Result<usize, EreError> {
    // ClamAV's matcher reads these two whole expressions as the start and
    // the end of a word.
    for (whole, boundary) in
        [(&b"[[:<:]]"[..], "\\b{start}"), (b"[[:>:]]", "\\b{end}")]
    {
        if b[at..].starts_with(whole) {
            out.push_str(boundary);
            return Ok(at + whole.len());
        }
    }
    let mut i = at + 1;
    out.push('[');
    if b.get(i) == Some(&b'^') {
        out.push('^');
        i += 1;
    }
    // A `]` first is a member, not the end.
    let mut first = true;
    loop {
        let Some(&c) = b.get(i) else {
            return Err(EreError::UnclosedBracket);
        };
        if c == b']' && !first {
            out.push(']');
            return Ok(i + 1);
        }
        first = false;
        let (lo, next) = item(b, i)?;
        match lo {
            Item::Class(class) => {
                out.push_str(&class);
                i = next;
            }
            // A range: `-` and an end that is not the closing `]`.
            Item::Byte(lo)
                if b.get(next) == Some(&b'-')
                    && b.get(next + 1).is_some_and(|&n| n != b']') =>
            {
                let (hi, after) = item(b, next + 1)?;
                let Item::Byte(hi) = hi else {
                    return Err(EreError::ClassEndsRange);
                };
                if hi < lo {
                    return Err(EreError::ReversedRange { lo, hi });
                }
                out.push_str(&format!("\\x{lo:02X}-\\x{hi:02X}"));
                i = after;
            }
            Item::Byte(lo) => {
                out.push_str(&format!("\\x{lo:02X}"));
                i = next;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(re: &str, name: &[u8]) -> bool {
        build(&ere_to_regex(re).unwrap()).unwrap().is_match(name)
    }

    #[test]
    fn posix_regexes_read_as_clamav_reads_them() {
        assert!(matches(r"\.exe$", b"a.exe"));
        assert!(!matches(r"\.exe$", b"a.exe.txt"));
        assert!(!matches(r"\.exe$", b"a_exe"));
        assert!(matches(r"(?i)\.(js|jse)$", b"INVOICE.JS"));
        assert!(!matches(r"\.(js|jse)$", b"INVOICE.JS"));
        // `\d` is a plain `d` in POSIX.
        assert!(matches(r"\d", b"d"));
        assert!(!matches(r"\d", b"1"));
        assert!(matches(r"[[:digit:]]{3}\.scr", b"x123.scr"));
        assert!(matches(r"[]a]", b"]"));
        assert!(matches(r"[a\]", b"\\"));
        assert!(matches(r"[a-c]z", b"bz"));
        assert!(matches(r"[a-]", b"-"));
        assert!(matches(r"[^-a]", b"b") && !matches(r"[^-a]", b"-"));
        assert!(matches(r"x{", b"x{"));
        assert!(matches(r"^[^/]*$", b"top.exe"));
        assert!(!matches(r"^[^/]*$", b"dir/top.exe"));
        // Non-ASCII bytes in a name are matched as bytes.
        assert!(matches(".", b"\xff"));
        assert!(matches("(?i)\u{e9}", "\u{e9}".as_bytes()));
        assert!(ere_to_regex(r"a\").is_err());
        assert!(ere_to_regex("[ab").is_err());
        // Word boundaries, both spellings ClamAV's matcher knows.
        assert!(matches(r"\<invoice", b"my invoice.js"));
        assert!(!matches(r"\<invoice", b"myinvoice.js"));
        assert!(matches(r"doc\>", b"a.doc"));
        assert!(!matches(r"doc\>", b"a.docx"));
        assert!(matches("[[:<:]]invoice", b"my invoice.js"));
        assert!(!matches("[[:<:]]invoice", b"myinvoice.js"));
        assert!(!matches("invoice[[:>:]]", b"invoices"));
        // A `)` closing nothing is a character.
        assert!(matches("exe)", b"a.exe)"));
        assert!(matches("(a)b)", b"ab)"));
        // Two dashes: a range ending at `-`, then another range.
        assert!(matches("^[!--0-9]+$", b"!,-5"));
        assert!(!matches("^[!--0-9]+$", b"x"));
        assert!(matches("[%--x]", b"x") && matches("[%--x]", b"-"));
        assert!(
            matches("[[.hyphen.][.space.]]", b"-")
                && matches("[[.space.]]", b" ")
        );
        // What clamscan also refuses.
        for bad in ["a(?i)b", "[[:word:]]", "[z-a]", "[[.nothing.]]"] {
            assert!(ere_to_regex(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ranges_leave_a_zero_end_open() {
        assert!(in_range((10, 10), 10) && !in_range((10, 10), 11));
        assert!(in_range((0, 0), 0) && !in_range((0, 0), 1));
        assert!(in_range((0, 100), 0) && in_range((0, 100), 100));
        assert!(!in_range((0, 100), 101));
        assert!(in_range((100, 0), u64::MAX) && !in_range((100, 0), 99));
        assert!(in_range((5, 9), 7) && !in_range((5, 9), 4));
    }

    #[test]
    fn lines_clamscan_loads_and_refuses() {
        let ok = |l: &str| match parse_cdb(l) {
            Ok(Line::Sig(s)) => s,
            _ => panic!("{l}"),
        };
        let s =
            ok(r"Foxhole.Zip_js:CL_TYPE_ZIP:20-2000:(?i)\.js$:*:*:0:*:*:*");
        assert_eq!(s.container_size, Some((20, 2000)));
        assert_eq!(s.encrypted, Some(false));
        assert_eq!(CLAMAV_TYPES[s.container.unwrap() as usize], "CL_TYPE_ZIP");
        let s = ok("Any:*:*:*:*:*:*:1:*:*:90:255");
        assert_eq!(s.position, Some((1, 1)));
        assert!(s.name_regex.is_none() && s.container.is_none());
        assert!(matches!(
            parse_cdb("Future:*:*:*:*:*:*:*:*:*:999"),
            Ok(Line::Skip)
        ));
        // ClamAV reads a size as C does: an empty one is 0, a range's
        // numbers may be signed or followed by anything.
        assert_eq!(ok("E:*::*:*:*:*:*:*:*").container_size, Some((0, 0)));
        assert_eq!(
            ok("R:*:1-100x:*:*:*:*:*:*:*").container_size,
            Some((1, 100))
        );
        assert_eq!(ok("R:*: 5-+7:*:*:*:*:*:*:*").container_size, Some((5, 7)));
        for bad in [
            "Short:*:*:*:*:*:*:*:*",
            "Type:CL_TYPE_NOPE:*:*:*:*:*:*:*:*",
            "Enc:*:*:*:*:*:2:*:*:*",
            "Size:*:big:*:*:*:*:*:*:*",
            "Size:*:5x:*:*:*:*:*:*:*",
            "Size:*:-5:*:*:*:*:*:*:*",
            "Re:*:*:[a:*:*:*:*:*:*",
            "Fl:*:*:*:*:*:*:*:*:*:x",
        ] {
            assert!(parse_cdb(bad).is_err(), "{bad}");
        }
    }

    /// What a refused line says after the file and line.
    #[test]
    fn refusals_keep_their_texts() {
        let why = |l: &str| match parse_cdb(l) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{l} accepted"),
        };
        let compiled = |re: &str| build(re).unwrap_err().to_string();
        let huge = "(a{1000}){1000}";
        for (line, text) in [
            (
                "A:*:*".to_string(),
                "a container metadata signature has 10 to 12 fields, not 3"
                    .to_string(),
            ),
            (
                "A:*:*:*:*:*:*:*:*:*:x".into(),
                "invalid functionality level 'x'".into(),
            ),
            (":*:*:*:*:*:*:*:*:*".into(), "empty signature name".into()),
            (
                "A:CL_TYPE_NO:*:*:*:*:*:*:*:*".into(),
                "unknown container type 'CL_TYPE_NO'".into(),
            ),
            (
                format!("A:*:*:{huge}:*:*:*:*:*:*"),
                format!("bad file name regex '{huge}': {}", compiled(huge)),
            ),
            (
                "A:*:*:*:*:*:2:*:*:*".into(),
                "IsEncrypted must be 0, 1 or *, not '2'".into(),
            ),
            (
                "A:*:big:*:*:*:*:*:*:*".into(),
                "invalid size or position 'big'".into(),
            ),
            (
                r"A:*:*:a\:*:*:*:*:*:*".into(),
                r"'a\' ends with a backslash".into(),
            ),
        ] {
            assert_eq!(why(&line), text, "{line}");
        }
    }

    /// What a POSIX name rule ClamAV refuses says, in `.cdb` and
    /// phishing lines alike.
    #[test]
    fn regex_refusals_keep_their_texts() {
        for (re, text) in [
            (r"(?i)a\", r"'a\' ends with a backslash"),
            ("a{1", "unclosed bound in 'a{1'"),
            ("a(?i)b", "'(?' in 'a(?i)b'"),
            ("[ab", "unclosed bracket expression"),
            ("[[:alpha", "unclosed class in a bracket expression"),
            ("[[:word:]]", "unknown character class 'word'"),
            ("[[.nothing.]]", "unknown collating element 'nothing'"),
            ("[[=ab=]]", "unknown equivalence class 'ab'"),
            ("[a-[:digit:]]", "a class cannot end a range"),
            ("[z-a]", "a range that ends before it starts"),
        ] {
            assert_eq!(
                ere_to_regex(re).unwrap_err().to_string(),
                text,
                "{re}"
            );
        }
    }
}
