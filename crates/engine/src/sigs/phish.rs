//! Phishing URL lists: `.pdb` and `.gdb` (the domain list: which shown
//! links are worth checking, and URL hashes), `.wdb` (the allow list), as
//! ClamAV 1.4 reads them.
//!
//! A line is `T[flags]:PATTERN[:MinFL-[MaxFL]]`. `R` (and in `.wdb` `X`
//! and `Y`) is a POSIX extended regex matched anywhere in a lookup
//! string, `H` (`.wdb`: `M`) a host matched at the end of one, `S` a
//! SHA-256 of a canonical URL. The flags between the letter and the
//! first `:` are read by ClamAV for `S` lines only.

use super::cdb::EreError;
use super::{FLEVEL, Line, Unsupported};

/// A phishing list line (`.pdb`, `.gdb`, `.wdb`) that ClamAV refuses.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PhishError {
    /// Longer than ClamAV's line buffer.
    #[error("line longer than ClamAV reads (8 KiB)")]
    TooLong,
    /// No `:` after the line's type.
    #[error("a phishing list line needs a ':'")]
    NoColon,
    /// Nothing before the `:` (clamscan calls the database malformed).
    #[error("a phishing list line needs its type before the ':'")]
    NoType,
    /// Nothing after the type.
    #[error("an empty pattern (clamscan refuses it too)")]
    EmptyPattern,
    /// `()` or `(|a)`, which POSIX refuses and the `regex` crate takes.
    #[error("an empty subexpression (clamscan refuses it too)")]
    EmptySubexpression,
    /// `a||b` or a `|` at either end.
    #[error("an empty alternative (clamscan refuses it too)")]
    EmptyAlternative,
    /// `*a`, `a+?`: nothing to repeat.
    #[error("a repetition of nothing (clamscan refuses it too)")]
    RepeatsNothing,
    /// `a{256}`: past POSIX's count limit.
    #[error("a repetition count over 255 (clamscan refuses it too)")]
    CountOver255,
    /// A regex POSIX refuses, found while it is translated.
    #[error(transparent)]
    Regex(#[from] EreError),
    /// A translated regex that does not compile.
    #[error("regex does not compile: {0}")]
    Compile(regex::Error),
    /// An `S` line of no URL hash kind the list takes.
    #[error("unknown URL hash line '{0}'")]
    UrlHash(String),
    /// A line type that belongs to the other list.
    #[error("'{kind}' lines are not read from a {file} file")]
    WrongList {
        /// The line's type letter.
        kind: char,
        /// The list's file extensions.
        file: &'static str,
    },
}

/// Which list a line belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum List {
    /// `.pdb`/`.gdb`: the links to check, and blocked URLs.
    Domain,
    /// `.wdb`: links never reported.
    Allow,
}

/// What a line matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// A regex, with the `/` ClamAV appends to every pattern.
    Regex(String),
    /// A host (or `realhost:shownhost`), with its appended `/`.
    Literal(Vec<u8>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PhishSig {
    pub(crate) list: List,
    pub(crate) pattern: Pattern,
}

/// A trailing `:MinFL-[MaxFL]`: `None` when the line is for another
/// functionality level, else the line without it. A last field that is
/// not such a range stays part of the pattern, as ClamAV leaves it.
fn functionality_level(line: &str) -> Option<&str> {
    let Some((head, last)) = line.rsplit_once(':') else {
        return Some(line);
    };
    let Some((min, max)) = last.split_once('-') else {
        return Some(line);
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(min) || !digits(max) {
        return Some(line);
    }
    // atoi: an empty minimum is 0; huge numbers only need to compare.
    let num = |s: &str| {
        s.parse::<u64>().unwrap_or(if s.is_empty() { 0 } else { u64::MAX })
    };
    if num(min) > u64::from(FLEVEL) {
        return None;
    }
    if !max.is_empty() && num(max) < u64::from(FLEVEL) {
        return None;
    }
    Some(head)
}

/// The two trailing forms ClamAV removes from a regex before it appends
/// `/`: the path and query part, which a host lookup never holds.
fn host_only(mut re: String) -> String {
    for tail in ["([/?].*)?/", "([/?].*)/"] {
        // ClamAV strips a tail only from a longer pattern.
        if re.len() > tail.len() + 1 && re.ends_with(tail) {
            re.truncate(re.len() - tail.len());
            re.push('/');
        }
    }
    re
}

/// One line of a `.pdb`/`.gdb` (`list` [`List::Domain`]) or `.wdb`.
pub(super) fn parse(
    line: &str,
    list: List,
) -> Result<Line<PhishSig>, PhishError> {
    // ClamAV reads a line into 8 KiB and refuses a longer one.
    if line.len() >= 8189 {
        return Err(PhishError::TooLong);
    }
    let Some(line) = functionality_level(line) else {
        return Ok(Line::Skip);
    };
    let Some((head, pattern)) = line.split_once(':') else {
        return Err(PhishError::NoColon);
    };
    let Some(&kind) = head.as_bytes().first() else {
        return Err(PhishError::NoType);
    };
    let allow = list == List::Allow;
    let pattern = match (kind, allow) {
        _ if pattern.is_empty() && kind != b'S' => {
            return Err(PhishError::EmptyPattern);
        }
        (b'R', false) | (b'X' | b'Y', true) => {
            // ClamAV takes a leading `(?i)` as a flag, not as syntax.
            let body = pattern.strip_prefix("(?i)").unwrap_or(pattern);
            if let Some(why) = posix_refuses(body) {
                return Err(why);
            }
            let re = host_only(format!("{pattern}/"));
            // POSIX extended syntax, as ClamAV compiles it.
            let re = super::cdb::ere_to_regex(&re)?;
            check_regex(&re)?;
            Pattern::Regex(re)
        }
        (b'H', false) | (b'M', true) => {
            Pattern::Literal(format!("{pattern}/").into_bytes())
        }
        (b'S', _) => {
            // URL hashes in Safe Browsing's canonical form (a format
            // ClamAV no longer distributes): read for their syntax,
            // counted, not matched.
            let k = pattern.split_once(':').map(|(k, _)| k);
            return match k {
                Some("F" | "P" | "W") if !allow || k == Some("W") => {
                    Ok(Line::Unsupported(Unsupported::UrlHash))
                }
                _ => Err(PhishError::UrlHash(line.to_string())),
            };
        }
        _ => {
            return Err(PhishError::WrongList {
                kind: kind as char,
                file: if allow { ".wdb" } else { ".pdb/.gdb" },
            });
        }
    };
    Ok(Line::Sig(PhishSig { list, pattern }))
}

/// What ClamAV's POSIX regex compiler refuses and the `regex` crate
/// would take: an empty subexpression or alternative, a repetition with
/// nothing to repeat (at the start, after `(` or `|`, or after another
/// repetition, as in `a+?`), a count over 255.
fn posix_refuses(re: &str) -> Option<PhishError> {
    let b = re.as_bytes();
    let mut i = 0;
    // Whether the last item can be repeated.
    let mut operand = false;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\\' => {
                i += 2;
                operand = true;
                continue;
            }
            b'[' => {
                // A bracket expression: `]` first is a member.
                let mut j = i + 1;
                if b.get(j) == Some(&b'^') {
                    j += 1;
                }
                if b.get(j) == Some(&b']') {
                    j += 1;
                }
                while j < b.len() && b[j] != b']' {
                    if b[j] == b'['
                        && matches!(b.get(j + 1), Some(b':' | b'.' | b'='))
                    {
                        let close = b[j + 1];
                        j += 2;
                        while j + 1 < b.len()
                            && !(b[j] == close && b[j + 1] == b']')
                        {
                            j += 1;
                        }
                        j += 2;
                        continue;
                    }
                    j += 1;
                }
                i = j + 1;
                operand = true;
                continue;
            }
            b'(' => {
                if matches!(b.get(i + 1), Some(b')' | b'|')) {
                    return Some(PhishError::EmptySubexpression);
                }
                operand = false;
            }
            b'|' => {
                if i == 0 || matches!(b.get(i + 1), None | Some(b')' | b'|')) {
                    return Some(PhishError::EmptyAlternative);
                }
                operand = false;
            }
            b'*' | b'+' | b'?' => {
                if !operand {
                    return Some(PhishError::RepeatsNothing);
                }
                operand = false;
            }
            b'{' if b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                if !operand {
                    return Some(PhishError::RepeatsNothing);
                }
                let end = re[i..].find('}').map_or(b.len(), |e| i + e);
                let counts = &re[i + 1..end];
                if counts
                    .split(',')
                    .any(|n| n.parse::<u32>().is_ok_and(|n| n > 255))
                {
                    return Some(PhishError::CountOver255);
                }
                i = end + 1;
                operand = false;
                continue;
            }
            _ => operand = true,
        }
        i += 1;
    }
    None
}

/// A regex must compile here as it does in ClamAV: a line that cannot be
/// honoured fails the load there too.
fn check_regex(re: &str) -> Result<(), PhishError> {
    super::cdb::build(re).map(|_| ()).map_err(PhishError::Compile)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(line: &str, list: List) -> PhishSig {
        match parse(line, list) {
            Ok(Line::Sig(s)) => s,
            other => panic!("{line}: {:?}", other.map(|_| ())),
        }
    }

    /// A POSIX pattern as stored: in the `regex` crate's syntax.
    fn ere(posix: &str) -> Pattern {
        Pattern::Regex(crate::sigs::cdb::ere_to_regex(posix).unwrap())
    }

    #[test]
    fn lines_as_clamav_reads_them() {
        assert_eq!(
            sig("H:paypal.com", List::Domain).pattern,
            Pattern::Literal(b"paypal.com/".to_vec())
        );
        // The flags before the colon are ignored; the level comes off.
        assert_eq!(
            sig("R1:.+\\.evil\\.com([/?].*)?:17-", List::Domain).pattern,
            ere(".+\\.evil\\.com/")
        );
        assert_eq!(
            sig("X:a\\.com([/?].*)?:b\\.com([/?].*)?:17-", List::Allow)
                .pattern,
            ere("a\\.com([/?].*)?:b\\.com/")
        );
        assert_eq!(
            sig("M:evil.example:www.paypal.com", List::Allow).pattern,
            Pattern::Literal(b"evil.example:www.paypal.com/".to_vec())
        );
        assert!(matches!(parse("H:b.com:999-", List::Domain), Ok(Line::Skip)));
        assert!(matches!(parse("H:b.com:1-2", List::Domain), Ok(Line::Skip)));
        // Not a level: part of the pattern.
        assert_eq!(
            sig("H:b.com:x-y", List::Domain).pattern,
            Pattern::Literal(b"b.com:x-y/".to_vec())
        );
        let h = "0".repeat(64);
        for l in [format!("S1:F:{h}"), "S:P:abcd".into(), "S:F:ab".into()] {
            assert!(
                matches!(parse(&l, List::Domain), Ok(Line::Unsupported(_))),
                "{l}"
            );
        }
        assert!(matches!(
            parse(&format!("S:W:{h}"), List::Allow),
            Ok(Line::Unsupported(_))
        ));
        // POSIX: a backslash before a letter is the letter.
        assert_eq!(
            sig("R:\\w+\\.com", List::Domain).pattern,
            Pattern::Regex(
                super::super::cdb::ere_to_regex("\\w+\\.com/").unwrap()
            )
        );
        for bad in [
            "H",
            "H:",
            "R:",
            "X:a",
            "Q:a",
            "S:Z:00",
            "R:a(b",
            "R:*a",
            "R:a+?",
            "R:(|a)",
            "R:()",
            "R:a{1000}",
            "R:a||b",
        ] {
            assert!(parse(bad, List::Domain).is_err(), "{bad}");
        }
        for good in [
            "R:(?i)paypal\\.com",
            "R:a{2,255}",
            "R:[]|*]+x",
            "R:[[:alpha:]]+",
            "R:(a|b)*",
        ] {
            assert!(
                matches!(parse(good, List::Domain), Ok(Line::Sig(_))),
                "{good}"
            );
        }
        assert!(parse("R:(?i)*", List::Domain).is_err());
        assert!(parse("H:a.com", List::Allow).is_err());
        assert!(parse(&format!("S:F:{h}"), List::Allow).is_err());
        assert!(
            parse(&format!("H:{}", "a".repeat(9000)), List::Domain).is_err()
        );
    }

    /// What a refused line says after the file and line.
    #[test]
    fn refusals_keep_their_texts() {
        let why = |l: &str, list| match parse(l, list) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{l} accepted"),
        };
        let compiled = |re: &str| {
            let re = super::super::cdb::ere_to_regex(re).unwrap();
            super::super::cdb::build(&re).unwrap_err().to_string()
        };
        let long = format!("H:{}", "a".repeat(9000));
        for (line, list, text) in [
            (
                long,
                List::Domain,
                "line longer than ClamAV reads (8 KiB)".into(),
            ),
            (
                "H".into(),
                List::Domain,
                "a phishing list line needs a ':'".into(),
            ),
            (
                "H:".into(),
                List::Domain,
                "an empty pattern (clamscan refuses it too)".into(),
            ),
            (
                ":x".into(),
                List::Domain,
                "a phishing list line needs its type before the ':'".into(),
            ),
            (
                ":x".into(),
                List::Allow,
                "a phishing list line needs its type before the ':'".into(),
            ),
            (
                "R:()".into(),
                List::Domain,
                "an empty subexpression (clamscan refuses it too)".into(),
            ),
            (
                "R:a||b".into(),
                List::Domain,
                "an empty alternative (clamscan refuses it too)".into(),
            ),
            (
                "R:*a".into(),
                List::Domain,
                "a repetition of nothing (clamscan refuses it too)".into(),
            ),
            (
                "R:a{1000}".into(),
                List::Domain,
                "a repetition count over 255 (clamscan refuses it too)".into(),
            ),
            (
                "R:[[:word:]]".into(),
                List::Domain,
                "unknown character class 'word'".into(),
            ),
            (
                "R:a(b".into(),
                List::Domain,
                format!("regex does not compile: {}", compiled("a(b/")),
            ),
            (
                "S:Z:00".into(),
                List::Domain,
                "unknown URL hash line 'S:Z:00'".into(),
            ),
            (
                "Q:a".into(),
                List::Domain,
                "'Q' lines are not read from a .pdb/.gdb file".into(),
            ),
            (
                "H:a.com".into(),
                List::Allow,
                "'H' lines are not read from a .wdb file".into(),
            ),
        ] {
            assert_eq!(why(&line, list), text, "{line}");
        }
        match parse("S:F:ab", List::Domain) {
            Ok(Line::Unsupported(r)) => {
                assert_eq!(r.to_string(), "URL hash (.gdb S: line)");
            }
            _ => panic!("S:F:ab not counted"),
        }
    }
}
