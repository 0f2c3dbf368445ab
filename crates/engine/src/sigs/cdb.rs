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

use super::{Line, flevel_ok, md5_of};
use crate::filetype::CLAMAV_TYPES;

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

pub(super) fn parse_cdb(line: &str) -> Result<Line<CdbSig>, String> {
    let f: Vec<&str> = line.split(':').collect();
    if !(10..=12).contains(&f.len()) {
        return Err(format!(
            "a container metadata signature has 10 to 12 fields, not {}",
            f.len()
        ));
    }
    if !flevel_ok(f.get(10).copied(), f.get(11).copied())? {
        return Ok(Line::Skip);
    }
    let name = f[0];
    if name.is_empty() {
        return Err("empty signature name".into());
    }
    let container = match f[1] {
        "*" | "CL_TYPE_ANY" => None,
        t => Some(
            CLAMAV_TYPES
                .iter()
                .position(|n| *n == t)
                .ok_or_else(|| format!("unknown container type '{t}'"))?
                as u16,
        ),
    };
    let name_regex = match f[3] {
        "*" => None,
        re => {
            let src = ere_to_regex(re)?;
            build(&src)
                .map_err(|e| format!("bad file name regex '{re}': {e}"))?;
            Some(src)
        }
    };
    let encrypted = match f[6] {
        "*" => None,
        "0" => Some(false),
        "1" => Some(true),
        e => return Err(format!("IsEncrypted must be 0, 1 or *, not '{e}'")),
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

fn range(s: &str) -> Result<Option<Range>, String> {
    let num = |n: &str| -> Result<u32, String> {
        if n.is_empty() || !n.bytes().all(|c| c.is_ascii_digit()) {
            return Err(format!("invalid size or position '{s}'"));
        }
        n.parse().map_err(|_| format!("number out of range '{s}'"))
    };
    if s == "*" {
        return Ok(None);
    }
    Ok(Some(match s.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let n = num(s)?;
            (n, n)
        }
    }))
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
pub(crate) fn ere_to_regex(re: &str) -> Result<String, String> {
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
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\\' => {
                let Some(&n) = b.get(i + 1) else {
                    return Err(format!("'{re}' ends with a backslash"));
                };
                lit(&mut out, n);
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
                    .ok_or_else(|| format!("unclosed bound in '{re}'"))?;
                out.push_str(
                    std::str::from_utf8(&b[i..=end])
                        .map_err(|_| format!("bad bound in '{re}'"))?,
                );
                i = end + 1;
            }
            b'.' | b'^' | b'$' | b'|' | b'(' | b')' | b'*' | b'+' | b'?' => {
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

/// A bracket expression starting at `b[at] == b'['`: written to `out`,
/// returning the index after its closing `]`.
fn bracket(b: &[u8], at: usize, out: &mut String) -> Result<usize, String> {
    let mut i = at + 1;
    out.push('[');
    if b.get(i) == Some(&b'^') {
        out.push('^');
        i += 1;
    }
    let start = i;
    // A `]` first is a member, not the end.
    let mut first = true;
    loop {
        let Some(&c) = b.get(i) else {
            return Err("unclosed bracket expression".into());
        };
        if c == b']' && !first {
            out.push(']');
            return Ok(i + 1);
        }
        first = false;
        // `[:alpha:]`, `[=a=]` and `[.a.]`: the classes the regex crate
        // shares are copied, a single collating element is its byte.
        if c == b'['
            && let Some(&k) = b.get(i + 1)
            && matches!(k, b':' | b'=' | b'.')
        {
            let close = [k, b']'];
            let end = b[i + 2..]
                .windows(2)
                .position(|w| w == close)
                .map(|p| i + 2 + p)
                .ok_or("unclosed class in a bracket expression")?;
            let inner = &b[i + 2..end];
            if k == b':' {
                out.push_str("[:");
                out.push_str(
                    std::str::from_utf8(inner)
                        .map_err(|_| "bad class name")?,
                );
                out.push_str(":]");
            } else if let [one] = inner {
                out.push_str(&format!("\\x{one:02X}"));
            } else {
                return Err("multi-character collating element".into());
            }
            i = end + 2;
            continue;
        }
        // A range keeps its dash; every other byte is written escaped so
        // the regex crate's `&&`, `--`, `~~` and escapes mean nothing.
        if c == b'-' && i > start && b.get(i + 1).is_some_and(|&n| n != b']') {
            out.push('-');
        } else {
            out.push_str(&format!("\\x{c:02X}"));
        }
        i += 1;
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
        for bad in [
            "Short:*:*:*:*:*:*:*:*",
            "Type:CL_TYPE_NOPE:*:*:*:*:*:*:*:*",
            "Enc:*:*:*:*:*:2:*:*:*",
            "Size:*:big:*:*:*:*:*:*:*",
            "Re:*:*:[a:*:*:*:*:*:*",
            "Fl:*:*:*:*:*:*:*:*:*:x",
        ] {
            assert!(parse_cdb(bad).is_err(), "{bad}");
        }
    }
}
