//! Phishing URL lists: `.pdb` and `.gdb` (the domain list: which shown
//! links are worth checking, and URL hashes), `.wdb` (the allow list), as
//! ClamAV 1.4 reads them.
//!
//! A line is `T[flags]:PATTERN[:MinFL-[MaxFL]]`. `R` (and in `.wdb` `X`
//! and `Y`) is a POSIX extended regex matched anywhere in a lookup
//! string, `H` (`.wdb`: `M`) a host matched at the end of one, `S` a
//! SHA-256 of a canonical URL. The flags between the letter and the
//! first `:` are read by ClamAV for `S` lines only.

use super::{FLEVEL, Line};

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
    /// A URL hash: `category` 0, 1 or 2 (`S:`, `S1:`, `S2:`), or
    /// [`ALLOWED`] (`S:W:`). `prefix` hashes are loaded and counted but
    /// never matched, as in ClamAV.
    Hash { category: u8, digest: [u8; 32], prefix: bool },
}

/// The category of an allowed URL hash.
pub(crate) const ALLOWED: u8 = 3;

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
pub(super) fn parse(line: &str, list: List) -> Result<Line<PhishSig>, String> {
    let Some(line) = functionality_level(line) else {
        return Ok(Line::Skip);
    };
    let Some((head, pattern)) = line.split_once(':') else {
        return Err("a phishing list line needs a ':'".into());
    };
    let kind = head.as_bytes()[0];
    let allow = list == List::Allow;
    let pattern = match (kind, allow) {
        (b'R', false) | (b'X' | b'Y', true) => {
            let re = host_only(format!("{pattern}/"));
            check_regex(&re)?;
            Pattern::Regex(re)
        }
        (b'H', false) | (b'M', true) => {
            Pattern::Literal(format!("{pattern}/").into_bytes())
        }
        (b'S', _) => {
            let (k, hex) = pattern
                .split_once(':')
                .filter(|(k, _)| matches!(*k, "W" | "F" | "P"))
                .ok_or_else(|| format!("unknown hash kind in '{line}'"))?;
            if allow && k != "W" {
                return Err("a .wdb hash line must be S:W".into());
            }
            let digest = super::decode_hex(hex)
                .and_then(|d| {
                    <[u8; 32]>::try_from(if k == "P" {
                        // A prefix: four bytes, kept zero-padded.
                        let mut v = d;
                        if v.len() != 4 {
                            return None;
                        }
                        v.resize(32, 0);
                        v
                    } else {
                        d
                    })
                    .ok()
                })
                .ok_or_else(|| format!("bad SHA-256 hash in '{line}'"))?;
            let category = match (k, head.as_bytes().get(1)) {
                ("W", _) => ALLOWED,
                (_, Some(b'1')) => 1,
                (_, Some(b'2')) => 2,
                _ => 0,
            };
            Pattern::Hash { category, digest, prefix: k == "P" }
        }
        _ => {
            return Err(format!(
                "'{}' lines are not read from a {} file",
                kind as char,
                if allow { ".wdb" } else { ".pdb/.gdb" }
            ));
        }
    };
    Ok(Line::Sig(PhishSig { list, pattern }))
}

/// A regex must compile here as it does in ClamAV: a line that cannot be
/// honoured fails the load there too.
fn check_regex(re: &str) -> Result<(), String> {
    regex::bytes::RegexBuilder::new(re)
        .size_limit(1 << 20)
        .build()
        .map(|_| ())
        .map_err(|e| format!("regex does not compile: {e}"))
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

    #[test]
    fn lines_as_clamav_reads_them() {
        assert_eq!(
            sig("H:paypal.com", List::Domain).pattern,
            Pattern::Literal(b"paypal.com/".to_vec())
        );
        // The flags before the colon are ignored; the level comes off.
        assert_eq!(
            sig("R1:.+\\.evil\\.com([/?].*)?:17-", List::Domain).pattern,
            Pattern::Regex(".+\\.evil\\.com/".into())
        );
        assert_eq!(
            sig("X:a\\.com([/?].*)?:b\\.com([/?].*)?:17-", List::Allow)
                .pattern,
            Pattern::Regex("a\\.com([/?].*)?:b\\.com/".into())
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
        assert!(matches!(
            sig(&format!("S1:F:{h}"), List::Domain).pattern,
            Pattern::Hash { category: 1, prefix: false, .. }
        ));
        assert!(matches!(
            sig(&format!("S:W:{h}"), List::Allow).pattern,
            Pattern::Hash { category: ALLOWED, .. }
        ));
        for bad in ["H", "X:a", "Q:a", "S:Z:00", "R:a(b"] {
            assert!(parse(bad, List::Domain).is_err(), "{bad}");
        }
        assert!(parse("H:a.com", List::Allow).is_err());
        assert!(parse(&format!("S:F:{h}"), List::Allow).is_err());
    }
}
