//! The order in which clamscan finds `.ndb` matches, written for the
//! engine to sort its own by (`module/pass.rs`, `Database::ndb_key`).
//!
//! clamscan reports the first `.ndb` signature its matchers find, and
//! its matchers run in a fixed order: over chunks of 128 KiB, in each
//! the signatures of the object's target before the generic ones, and
//! for each of those plain byte strings (its Boyer-Moore matcher) before
//! patterns with wildcards (its Aho-Corasick trie). Each matcher reports
//! in the order of where it looks up a signature, which is not always
//! where the signature starts; ties there are broken by load order
//! ([`TIE_LOAD_BITS`]). All of it was checked with clamscan 1.4.6
//! (`module/tests.rs`, `tests/tests/match_order.rs`).
//!
//! The engine finds its matches in the order of its own anchors, which
//! the compiler is free to choose for speed; the record written here
//! puts them back in clamscan's order.

use crate::module::{ORDER_FROM_END, ORDER_HEAD};
use crate::sigs::Offset;
use crate::sigs::body::Elem;

/// The trie depths of ClamAV's wildcard matcher: a signature is looked
/// up by two or three fixed bytes.
const AC_MIN_DEPTH: usize = 2;
const AC_MAX_DEPTH: usize = 3;
/// Ties at one place: the low bits hold the load order, reversed for
/// plain strings (a bucket's list puts the newest first) and as it is
/// for wildcard patterns (a trie node's list is sorted by the address
/// of each pattern's record, which grows with load order while ClamAV's
/// memory pool has no freed block of that size to reuse; when it has,
/// clamscan's order is not followed here).
const TIE_LOAD_BITS: u32 = 28;
/// A record's group bit for the wildcard matcher.
pub(super) const GROUP_WILDCARD: u32 = 1 << 30;

/// One unit of a ClamAV pattern part: a fixed byte, or anything else
/// (a nibble, `??`, a set, alternatives) with its shortest and longest
/// lengths in bytes.
#[derive(Clone, Copy)]
enum Unit {
    Fixed(u8),
    Wild { min: u32, max: u32 },
}

impl Unit {
    fn min(self) -> u32 {
        match self {
            Unit::Fixed(_) => 1,
            Unit::Wild { min, .. } => min,
        }
    }
    fn max(self) -> u32 {
        match self {
            Unit::Fixed(_) => 1,
            Unit::Wild { max, .. } => max,
        }
    }
    /// ClamAV's test of a pattern word against zero: only a fixed zero
    /// byte is zero (a wildcard's word carries its flags).
    fn nonzero(self) -> bool {
        !matches!(self, Unit::Fixed(0))
    }
}

fn lengths(elems: &[Elem]) -> (u32, u32) {
    elems.iter().fold((0u32, 0u32), |(lo, hi), e| {
        let (a, b) = elem_lengths(e);
        (lo.saturating_add(a), hi.saturating_add(b))
    })
}

fn elem_lengths(e: &Elem) -> (u32, u32) {
    match e {
        Elem::Mark { .. } => (0, 0),
        Elem::Gap { min, max } => (*min, *max),
        Elem::Alt { alts, .. } => {
            let l: Vec<(u32, u32)> = alts.iter().map(|a| lengths(a)).collect();
            (
                l.iter().map(|x| x.0).min().unwrap_or(0),
                l.iter().map(|x| x.1).max().unwrap_or(0),
            )
        }
        _ => (1, 1),
    }
}

/// The parts ClamAV splits a pattern into at its gaps (`*`, `{n-m}`),
/// as units; the zero-width markers are flags there, not units.
fn parts(elems: &[Elem]) -> Vec<Vec<Unit>> {
    let mut out = vec![Vec::new()];
    for e in elems {
        match e {
            Elem::Gap { .. } => out.push(Vec::new()),
            Elem::Mark { .. } => {}
            Elem::Byte(b) => out.last_mut().unwrap().push(Unit::Fixed(*b)),
            e => {
                let (min, max) = elem_lengths(e);
                out.last_mut().unwrap().push(Unit::Wild { min, max });
            }
        }
    }
    out.retain(|p| !p.is_empty());
    out
}

/// Where ClamAV's trie looks a wildcard part up: (index of the first
/// unit it uses, how many fixed units, 2 or 3). A part that starts with
/// a wildcard or with zeros is looked up by a later run of fixed bytes,
/// preferring one of the trie's full depth and one not starting with
/// two zeros; among equal runs the last one found is kept.
fn trie_place(u: &[Unit]) -> (usize, usize) {
    let head = &u[..u.len().min(AC_MAX_DEPTH)];
    let wild_start = head.iter().any(|x| matches!(x, Unit::Wild { .. }));
    let zero_start = head.iter().all(|x| !x.nonzero());
    let fixed_from = |i: usize| {
        u[i..]
            .iter()
            .take(AC_MAX_DEPTH)
            .take_while(|x| matches!(x, Unit::Fixed(_)))
            .count()
    };
    if !(wild_start || zero_start) {
        return (0, fixed_from(0));
    }
    let two_zeros = |p: usize| {
        !u[p].nonzero() && u.get(p + 1).is_some_and(|x| !x.nonzero())
    };
    let (mut len, mut pos) = (0usize, 0usize);
    let (mut nz_len, mut nz_pos) = (0usize, 0usize);
    let end = (u.len() + 1).saturating_sub(AC_MIN_DEPTH);
    for i in 0..end {
        for j in i..i + fixed_from(i) {
            if j - i + 1 >= len {
                len = j - i + 1;
                pos = i;
            }
            if !two_zeros(pos) {
                if len >= AC_MAX_DEPTH {
                    break;
                }
                if len >= AC_MIN_DEPTH && len > nz_len {
                    nz_len = len;
                    nz_pos = pos;
                }
            }
        }
        if len >= AC_MAX_DEPTH && !two_zeros(pos) {
            break;
        }
    }
    if nz_len != 0 && two_zeros(pos) {
        pos = nz_pos;
    }
    (pos, fixed_from(pos))
}

/// The order records of a module's `.ndb` patterns and the longest
/// pattern of each target (clamscan's chunks overlap by it).
pub(super) struct Order {
    /// Buckets of ClamAV's plain-string matcher taken so far, for the
    /// generic and the executable target (the only two that use it).
    buckets: [Vec<bool>; 2],
    pub(super) longest: [u32; 16],
    /// One record per kept `.ndb` pattern, in pattern order.
    pub(super) recs: Vec<[u32; 2]>,
}

impl Default for Order {
    fn default() -> Order {
        Order {
            buckets: [vec![false; 1 << 16], vec![false; 1 << 16]],
            longest: [0; 16],
            recs: Vec::new(),
        }
    }
}

/// The bucket of three bytes in ClamAV's plain-string matcher.
fn bucket(b: &[u8]) -> usize {
    211 * b[0] as usize + 37 * b[1] as usize + b[2] as usize
}

impl Order {
    /// Notes the pattern of a logical signature: only its length counts.
    pub(super) fn note_length(&mut self, target: u8, elems: &[Elem]) {
        if let Some(l) = self.longest.get_mut(target as usize) {
            for p in parts(elems) {
                let len =
                    p.iter().fold(0u32, |s, u| s.saturating_add(u.max()));
                *l = (*l).max(len);
            }
        }
    }

    /// Notes an `.ndb` signature, every one in load order (those left
    /// out of the module too: they took their places in clamscan's
    /// matchers), and returns its record: `[place, head]`, where the
    /// place is how far past the match's start (or with
    /// [`ORDER_FROM_END`], before its end) clamscan finds it, and the
    /// head holds the matcher group and the tie rank.
    pub(super) fn note(
        &mut self,
        load: usize,
        target: u8,
        offset: Offset,
        elems: &[Elem],
    ) -> [u32; 2] {
        self.note_length(target, elems);
        let ps = parts(elems);
        let load = (load as u32).min((1 << TIE_LOAD_BITS) - 1);
        let newest = (1u32 << TIE_LOAD_BITS) - 1 - load;
        let root = u32::from(target == 0) << 1;
        let offset_ok = match target {
            0 => offset != Offset::VersionInfo,
            1 => match offset {
                Offset::Any | Offset::VersionInfo => false,
                Offset::WithinSection { .. } => true,
                o => super::offset_fields(o).2 == 0,
            },
            _ => false,
        };
        let marks = elems.iter().any(|e| matches!(e, Elem::Mark { .. }));
        let plain: Option<Vec<u8>> = (ps.len() == 1 && offset_ok && !marks)
            .then(|| {
                ps[0]
                    .iter()
                    .map(|u| match u {
                        Unit::Fixed(b) => Some(*b),
                        Unit::Wild { .. } => None,
                    })
                    .collect::<Option<Vec<u8>>>()
            })
            .flatten()
            .filter(|b| b.len() >= 3);
        if let Some(bytes) = plain {
            // A new string takes the first free bucket along it, so that
            // buckets stay short; it is then found there.
            let taken = &mut self.buckets[usize::from(target)];
            let at = (0..=bytes.len() - 3)
                .find(|&i| !taken[bucket(&bytes[i..])])
                .unwrap_or(0);
            taken[bucket(&bytes[at..])] = true;
            return [at as u32, (root << 30) | newest];
        }
        let group = (root << 30) | GROUP_WILDCARD;
        let Some(last) = ps.last() else {
            return [0, group | load];
        };
        let (pos, depth) = trie_place(last);
        let before: u32 = last[..pos].iter().map(|u| u.min()).sum();
        let place = before + depth.max(1) as u32 - 1;
        // A deeper trie node's signatures come before those of the
        // shorter node its last bytes end in.
        let deep = u32::from(depth < AC_MAX_DEPTH) << TIE_LOAD_BITS;
        if ps.len() == 1 {
            [place, group | deep | load]
        } else {
            // Several parts: found where the last one is, counted back
            // from the match's end.
            let len: u32 = last.iter().map(|u| u.min()).sum();
            [ORDER_FROM_END | len.saturating_sub(place), group | deep | load]
        }
    }

    /// The section: the longest pattern of each target, then the records.
    pub(super) fn write(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ORDER_HEAD + self.recs.len() * 8);
        for l in &self.longest {
            out.extend(l.to_le_bytes());
        }
        for r in &self.recs {
            out.extend(r[0].to_le_bytes());
            out.extend(r[1].to_le_bytes());
        }
        out
    }
}
