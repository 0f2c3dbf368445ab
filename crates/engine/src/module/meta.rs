//! Container metadata rules (`.cdb`) in the module: written in the order
//! ClamAV tries them (the last one loaded first, so that the same rule
//! names a hit), read record by record when a container lists a member.

use super::{CDB_REC, Database, rd32, sec};
use crate::filetype::CLAMAV_TYPES;
use crate::sigs::cdb::{self, Member, Range};

pub(crate) const ANY: u32 = u32::MAX;

/// The name rules of a module's container metadata rules, built the
/// first time a member is checked: one set matched once per member name
/// (or, should the set be too large to build, one regex per rule), shared
/// by every thread without a lock.
pub(crate) struct NameRules {
    /// Per record: its pattern's index, if it has a name rule that
    /// compiles.
    index: Vec<Option<usize>>,
    matcher: Matcher,
}

enum Matcher {
    Set(regex::bytes::RegexSet),
    Each(Vec<Option<regex::bytes::Regex>>),
}

impl NameRules {
    fn build(db: &Database) -> NameRules {
        let (recs, data) = (db.sec(sec::CDB), db.sec(sec::CDB_DATA));
        let mut index = Vec::new();
        let mut sources: Vec<&str> = Vec::new();
        for r in recs.chunks_exact(CDB_REC) {
            let (off, len) = (rd32(r, 40) as usize, rd32(r, 44) as usize);
            let src = (r[7] & 1 != 0)
                .then(|| data.get(off..off.checked_add(len)?))
                .flatten()
                .and_then(|s| std::str::from_utf8(s).ok());
            index.push(src.map(|s| {
                sources.push(s);
                sources.len() - 1
            }));
        }
        let set = regex::bytes::RegexSetBuilder::new(&sources)
            .unicode(false)
            .dot_matches_new_line(true)
            .size_limit(256 << 20)
            .build();
        // Each pattern compiled at load; only a damaged module or a set
        // too large for one automaton falls back to one regex each.
        let matcher = match set {
            Ok(set) => Matcher::Set(set),
            Err(_) => Matcher::Each(
                sources.iter().map(|s| cdb::build(s).ok()).collect(),
            ),
        };
        NameRules { index, matcher }
    }
}

impl Database {
    /// Whether the module holds any container metadata rule: when not, a
    /// container's walk need not describe its members.
    pub(crate) fn has_container_rules(&self) -> bool {
        !self.sec(sec::CDB).is_empty()
    }

    /// The name id of the first rule that `member` of a container of
    /// ClamAV type `container`, `container_size` bytes long, meets; a
    /// potentially unwanted one (`PUA.`, `Heuristics.`) goes to
    /// `unwanted` instead, and the rules after it are tried, as ClamAV
    /// tries them.
    pub(crate) fn container_rule(
        &self,
        container: &str,
        container_size: u64,
        member: &Member<'_>,
        unwanted: &mut Option<u32>,
    ) -> Option<u32> {
        let recs = self.sec(sec::CDB);
        let ctype_of = CLAMAV_TYPES
            .iter()
            .position(|t| *t == container)
            .map_or(u16::MAX - 1, |i| i as u16);
        // The name as C code sees it: up to its first NUL.
        let name = member
            .name
            .map(|n| n.split(|&b| b == 0).next().unwrap_or_default());
        let mut matched: Option<regex::bytes::SetMatches> = None;
        for (i, r) in recs.chunks_exact(CDB_REC).enumerate() {
            let ctype = u16::from_le_bytes([r[4], r[5]]);
            if ctype != u16::MAX && ctype != ctype_of {
                continue;
            }
            if r[6] != 2 && (r[6] == 1) != member.encrypted {
                continue;
            }
            let range = |k: usize| -> Option<Range> {
                let (lo, hi) = (rd32(r, 8 + k * 8), rd32(r, 12 + k * 8));
                (lo != ANY || hi != ANY).then_some((lo, hi))
            };
            let values = [
                container_size,
                member.size_in_container,
                member.size_real,
                u64::from(member.position),
            ];
            if (0..4).any(|k| {
                range(k).is_some_and(|rg| !cdb::in_range(rg, values[k]))
            }) {
                continue;
            }
            if r[7] & 1 != 0 {
                // A member without a name never meets a name rule.
                let Some(name) = name else { continue };
                let rules =
                    self.cdb_names.get_or_init(|| NameRules::build(self));
                let Some(&Some(at)) = rules.index.get(i) else { continue };
                let hit = match &rules.matcher {
                    Matcher::Set(set) => matched
                        .get_or_insert_with(|| set.matches(name))
                        .matched(at),
                    Matcher::Each(each) => each
                        .get(at)
                        .and_then(Option::as_ref)
                        .is_some_and(|re| re.is_match(name)),
                };
                if !hit {
                    continue;
                }
            }
            let id = rd32(r, 0);
            if self.potentially_unwanted(id) {
                unwanted.get_or_insert(id);
                continue;
            }
            return Some(id);
        }
        None
    }
}
