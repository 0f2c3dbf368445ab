//! The phishing URL lists in the module: one record per line, in load
//! order, the pattern bytes in a data section; made into matchers the
//! first time a mail's links are checked.

use super::{Database, PHISH_REC, rd32, sec};

pub(crate) const REGEX: u8 = 0;
pub(crate) const LITERAL: u8 = 1;

/// One list's patterns, ready to match.
#[derive(Default)]
pub(crate) struct Patterns {
    pub(crate) regexes: Option<regex::bytes::RegexSet>,
    /// Regexes one by one, when the set is too large to build.
    pub(crate) each: Vec<regex::bytes::Regex>,
    /// Literal hosts (with their `/`), looked up by the lookup string's
    /// suffix of each length there is: a lookup costs one probe per
    /// distinct length, whatever the list's size.
    pub(crate) literals: std::collections::HashSet<Vec<u8>>,
    pub(crate) lengths: Vec<usize>,
}

impl Patterns {
    pub(crate) fn is_empty(&self) -> bool {
        self.regexes.as_ref().is_none_or(|s| s.is_empty())
            && self.each.is_empty()
            && self.literals.is_empty()
    }

    pub(crate) fn regex_match(&self, buf: &[u8]) -> bool {
        match &self.regexes {
            Some(set) => set.is_match(buf),
            None => self.each.iter().any(|r| r.is_match(buf)),
        }
    }

    pub(crate) fn add_literal(&mut self, l: Vec<u8>) {
        if !self.lengths.contains(&l.len()) {
            self.lengths.push(l.len());
            self.lengths.sort_unstable();
        }
        self.literals.insert(l);
    }

    /// The lengths of the literals that end `buf`, shortest first.
    pub(crate) fn literal_suffixes<'a>(
        &'a self,
        buf: &'a [u8],
    ) -> impl Iterator<Item = usize> + 'a {
        self.lengths.iter().copied().filter(move |&n| {
            n <= buf.len() && self.literals.contains(&buf[buf.len() - n..])
        })
    }
}

/// The phishing lists of a module.
#[derive(Default)]
pub(crate) struct PhishLists {
    pub(crate) domain: Patterns,
    pub(crate) allow: Patterns,
}

impl PhishLists {
    fn build(db: &Database) -> PhishLists {
        let (recs, data) = (db.sec(sec::PHISH), db.sec(sec::PHISH_DATA));
        let mut out = PhishLists::default();
        let mut sources: [Vec<&str>; 2] = [Vec::new(), Vec::new()];
        for r in recs.chunks_exact(PHISH_REC) {
            let (off, len) = (rd32(r, 4) as usize, rd32(r, 8) as usize);
            let Some(bytes) = data.get(off..off.saturating_add(len)) else {
                continue;
            };
            let allow = r[0] == 1;
            match r[1] {
                REGEX => {
                    // clamscan 1.4.6 loads a case-blind pattern but never
                    // matches it (seen with every case form); nor is it
                    // matched here.
                    if let Ok(s) = std::str::from_utf8(bytes)
                        && !s.starts_with("(?i)")
                    {
                        sources[usize::from(allow)].push(s);
                    }
                }
                LITERAL => {
                    let l =
                        if allow { &mut out.allow } else { &mut out.domain };
                    l.add_literal(bytes.to_vec());
                }
                _ => {}
            }
        }
        for (list, src) in
            [&mut out.domain, &mut out.allow].into_iter().zip(&sources)
        {
            let set = regex::bytes::RegexSetBuilder::new(src)
                .unicode(false)
                .size_limit(256 << 20)
                .build();
            match set {
                Ok(s) => list.regexes = Some(s),
                Err(_) => {
                    list.each = src
                        .iter()
                        .filter_map(|s| crate::sigs::cdb::build(s).ok())
                        .collect();
                }
            }
        }
        out
    }
}

impl Database {
    /// Whether a mail's links can raise a phishing alert at all with this
    /// module: only a domain list can make one (an allow list only
    /// clears), unless an always-on check is asked for.
    pub(crate) fn has_phishing_lists(&self) -> bool {
        self.sec(sec::PHISH).chunks_exact(PHISH_REC).any(|r| r[0] == 0)
    }

    pub(crate) fn phish_lists(&self) -> &PhishLists {
        self.phish.get_or_init(|| PhishLists::build(self))
    }
}
