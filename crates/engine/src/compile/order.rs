//! The order in which clamscan finds `.ndb` matches, written for the
//! engine to sort its own by (`module/pass.rs`, `Database::ndb_key`).
//!
//! clamscan reports the first `.ndb` signature its matchers find, and
//! its matchers run in a fixed order: over chunks of 128 KiB, in each
//! the signatures of the object's target before the generic ones, and
//! for each of those plain byte strings (its Boyer-Moore matcher) before
//! patterns with wildcards (its Aho-Corasick trie). Each matcher reports
//! in the order of where it looks up a signature, which is not always
//! where the signature starts; ties there go by trie depth, part
//! number and load order ([`TIE_LOAD_BITS`]). Each rule was checked
//! with clamscan 1.4.6 (`module/tests.rs`, `tests/tests/match_order.rs`)
//! but one: clamscan's ties in one trie node end in its memory pool.
//!
//! The engine finds its matches in the order of its own anchors, which
//! the compiler is free to choose for speed; the record written here
//! puts them back in clamscan's order.

use crate::module::{ORDER_FROM_END, ORDER_HEAD, ORDER_REC};
use crate::sigs::NdbSig;
use crate::sigs::body::Elem;

/// The longest of clamscan's built-in file-type patterns, which share
/// the generic root's chunk overlap.
const BUILT_IN_LONGEST: u32 = 32;

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
const TIE_LOAD_BITS: u32 = 23;
/// Above the load order in a trie tie: the part number, then the depth.
const TIE_PART_SHIFT: u32 = TIE_LOAD_BITS;
const TIE_DEEP_SHIFT: u32 = 29;
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

/// The parts ClamAV splits a pattern into at its gaps (`splits`, one
/// per gap: `sigs::body::gap_splits`; a gap with none given splits),
/// as units: a gap it does not split at is that many wildcard bytes,
/// and the zero-width markers are flags there, not units.
fn parts(elems: &[Elem], splits: &[bool]) -> Vec<Vec<Unit>> {
    let mut out = vec![Vec::new()];
    let mut gaps = 0;
    for e in elems {
        match e {
            Elem::Gap { min, max } => {
                let split = splits.get(gaps).copied().unwrap_or(true);
                gaps += 1;
                if split {
                    out.push(Vec::new());
                } else if min == max && *min < 128 {
                    for _ in 0..*min {
                        out.last_mut()
                            .unwrap()
                            .push(Unit::Wild { min: 1, max: 1 });
                    }
                } else {
                    out.last_mut()
                        .unwrap()
                        .push(Unit::Wild { min: *min, max: *max });
                }
            }
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
    pub(super) recs: Vec<[u32; 4]>,
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
    pub(super) fn note_length(
        &mut self,
        target: u8,
        elems: &[Elem],
        splits: &[bool],
    ) {
        if let Some(l) = self.longest.get_mut(target as usize) {
            for p in parts(elems, splits) {
                let len =
                    p.iter().fold(0u32, |s, u| s.saturating_add(u.max()));
                *l = (*l).max(len);
            }
        }
    }

    /// Notes an `.ndb` signature, every one in load order (those left
    /// out of the module too: they took their places in clamscan's
    /// matchers), and returns its record ([`ORDER_REC`]): the place,
    /// how far past the match's start (or with [`ORDER_FROM_END`],
    /// before its end) clamscan finds it; the head, the matcher group
    /// and the tie rank; the trie bytes (three, then how many count);
    /// and how many places further they may be, when alternatives of
    /// different lengths stand between them and that end.
    pub(super) fn note(&mut self, load: usize, n: &NdbSig) -> [u32; 4] {
        self.note_length(n.target, &n.elems, &n.gap_splits);
        let load = (load as u32).min((1 << TIE_LOAD_BITS) - 1);
        let root = u32::from(n.target == 0) << 1;
        let ps = parts(&n.elems, &n.gap_splits);
        let bytes: Option<Vec<u8>> = (n.plain && ps.len() == 1)
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
        if let Some(bytes) = bytes {
            // A new string takes the first free bucket along it, so that
            // buckets stay short; it is then found there, and a bucket's
            // list puts the newest first.
            let taken = &mut self.buckets[usize::from(n.target.min(1))];
            let at = (0..=bytes.len() - 3)
                .find(|&i| !taken[bucket(&bytes[i..])])
                .unwrap_or(0);
            taken[bucket(&bytes[at..])] = true;
            let newest = (1u32 << TIE_DEEP_SHIFT) - 1 - load;
            return [at as u32, (root << 30) | newest, 0, 0];
        }
        let group = (root << 30) | GROUP_WILDCARD;
        let Some(last) = ps.last() else {
            return [0, group | load, 0, 0];
        };
        let (pos, depth) = trie_place(last);
        let depth = depth.max(1);
        let mut trie = (depth as u32) << 24;
        for (i, u) in
            last[pos..pos + depth.min(last.len() - pos)].iter().enumerate()
        {
            if let Unit::Fixed(b) = u {
                trie |= u32::from(*b) << (8 * i);
            }
        }
        // In a trie node's list: the deeper node's patterns first (a
        // shorter node's list is appended to a leaf's), then by part
        // number (a single part is 0, a last part the number of parts).
        let deep = u32::from(depth < AC_MAX_DEPTH) << TIE_DEEP_SHIFT;
        let partno = if ps.len() == 1 { 0 } else { ps.len().min(63) as u32 };
        let head = group | deep | partno << TIE_PART_SHIFT | load;
        let sum = |us: &[Unit]| {
            us.iter().fold((0u32, 0u32), |(lo, hi), u| {
                (lo.saturating_add(u.min()), hi.saturating_add(u.max()))
            })
        };
        if ps.len() == 1 {
            let (lo, hi) = sum(&last[..pos]);
            let place = lo.saturating_add(depth as u32 - 1);
            [place.min(ORDER_FROM_END - 1), head, trie, hi.saturating_sub(lo)]
        } else {
            // Several parts: found where the last one is, counted back
            // from the match's end.
            let (lo, hi) = sum(&last[pos + depth.min(last.len() - pos)..]);
            let place = lo.min(ORDER_FROM_END - 1);
            [ORDER_FROM_END | place, head, trie, hi.saturating_sub(lo)]
        }
    }

    /// The section: the longest pattern of each target, then the records.
    pub(super) fn write(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(ORDER_HEAD + self.recs.len() * ORDER_REC);
        for (t, l) in self.longest.iter().enumerate() {
            // The generic root also holds clamscan's built-in file-type
            // patterns, the longest of them 32 bytes (its `--debug` says
            // maxpatlen 32 for a database of 3-byte strings).
            let l = if t == 0 { (*l).max(BUILT_IN_LONGEST) } else { *l };
            out.extend(l.to_le_bytes());
        }
        for r in &self.recs {
            for v in r {
                out.extend(v.to_le_bytes());
            }
        }
        out
    }
}
