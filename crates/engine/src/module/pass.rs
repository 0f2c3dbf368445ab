//! One matcher pass over a buffer, and what follows it: logical
//! signatures and their PCRE subsignatures.

use super::*;
use crate::matcher;
use crate::pe::PeInfo;
use crate::sigs::expr;

/// Target types as a bit mask for one pass over a buffer.
pub(crate) const T_ANY: u16 = 1 << 0;
pub(crate) const T_PE: u16 = 1 << 1;
/// OLE2 containers and the VBA modules in them.
pub(crate) const T_OLE2: u16 = 1 << 2;
pub(crate) const T_HTML: u16 = 1 << 3;
pub(crate) const T_MAIL: u16 = 1 << 4;
/// Images: ClamAV's graphics, GIF, PNG, JPEG and TIFF types.
pub(crate) const T_GRAPHICS: u16 = 1 << 5;
pub(crate) const T_ELF: u16 = 1 << 6;
pub(crate) const T_TEXT: u16 = 1 << 7;
/// Mach-O files and universal (fat) binaries.
pub(crate) const T_MACHO: u16 = 1 << 9;
pub(crate) const T_PDF: u16 = 1 << 10;
pub(crate) const T_SWF: u16 = 1 << 11;
pub(crate) const T_JAVA: u16 = 1 << 12;
/// Embedded executables (in executables and OLE2 files only).
pub(crate) const T_EMBEDDED_EXE: u16 = 1 << TARGET_EMBEDDED_EXE;
/// The other embedded types: self-extracting archives and installers.
pub(crate) const T_EMBEDDED: u16 = 1 << TARGET_EMBEDDED;
/// Embedded-type matches a pass keeps at most (ClamAV keeps ten, zip
/// entries apart, which the scanner applies).
const MAX_TYPE_HITS: usize = 1 << 16;

/// What `EOF-n` offsets count from in a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Eof {
    /// The scanned buffer itself.
    Data,
    /// A normalised copy of an object of this length: as in ClamAV, the
    /// text-target patterns count from the original's end and generic
    /// patterns with an `EOF-n` offset cannot match.
    Normalized(u64),
    /// An executable whose headers could not be read: as in ClamAV, no
    /// `EOF-n` offset resolves in it.
    Unresolved,
}

/// What one pass found.
#[derive(Debug)]
pub(crate) struct PassHits {
    /// Verification steps this pass may still spend; zero means the
    /// pass stopped early and the object was not fully checked.
    pub(crate) steps_left: u64,
    /// The first `.ndb` signature matched (name id), if any: first in
    /// clamscan's order where the module records it ([`NdbKey`]).
    pub(crate) ndb: Option<u32>,
    /// Where that match stands in clamscan's order.
    ndb_key: Option<NdbKey>,
    /// No match whose anchor is this far in can come before it.
    limit: usize,
    /// How far apart clamscan's chunks start in this pass.
    chunk_step: u64,
    /// The first logical signature found whose name marks it potentially
    /// unwanted: the evaluation goes on past it, as ClamAV's does.
    pub(crate) unwanted: Option<u32>,
    /// `(ldb, subsignature, start)` of every logical subsignature match.
    pub(crate) lsub: Vec<(u32, u8, u32)>,
    /// The PE headers PE-relative offsets resolve against, if the object
    /// is a PE.
    pub(crate) pe: Option<PeInfo>,
    /// Whether `EOF-n` offsets resolve (not in an executable whose
    /// headers could not be read).
    pub(crate) eof_resolves: bool,
    /// The executable's icons, read the first time a logical signature
    /// with icon groups asks.
    pub(crate) icons: Option<Vec<crate::pe::icon::Metrics>>,
    /// Embedded-type patterns matched, in the order found: (type code,
    /// where the pattern starts: an executable's PE signature).
    pub(crate) types: Vec<(u32, usize)>,
}

/// Where an `.ndb` match stands in clamscan's order (`compile/order.rs`):
/// its chunk, its matcher group (the object's target first, then plain
/// strings first), where in the chunk that matcher finds it, then the
/// tie rank. Smaller comes first.
type NdbKey = (u64, u32, u64, u32);

/// The first of clamscan's chunks that holds the whole of a match ending
/// at `end`, chunks starting `step` apart.
fn chunk_of(end: u64, step: u64) -> u64 {
    end.saturating_sub(SCAN_CHUNK).div_ceil(step)
}

/// Where a match may start for an offset record: `[lo, hi]`, or `None`
/// when the offset does not exist in this object. `end` is what `EOF-n`
/// counts from (none for generic patterns on normalised copies).
pub(crate) fn offset_window(
    kind: u8,
    n: u64,
    shift: u64,
    end: Option<u64>,
    pe: Option<&PeInfo>,
) -> Option<(u64, u64)> {
    // Offsets relative to an executable's headers are 32-bit sums in
    // ClamAV: one that wraps lands where the wrapped value points, and
    // a window whose end wraps below its start holds nothing.
    let wrap = |lo: u64, hi: u64| {
        let (lo, hi) = (lo as u32, hi as u32);
        (lo <= hi).then_some((u64::from(lo), u64::from(hi)))
    };
    let lo = match kind {
        OFF_ANY => return Some((0, u64::MAX)),
        OFF_ABS => n,
        OFF_EOF => end?.checked_sub(n)?,
        OFF_EP_PLUS => pe?.ep.wrapping_add(n),
        OFF_EP_MINUS => pe?.ep.checked_sub(n)?,
        OFF_SL => pe?.sections.last()?.raw.wrapping_add(n),
        k if k & 0xc0 == OFF_SEC => {
            pe?.sections.get((k & 0x3f) as usize)?.raw.wrapping_add(n)
        }
        k if k & 0xc0 == OFF_SE => {
            let s = pe?.sections.get((k & 0x3f) as usize)?;
            return wrap(
                s.raw,
                s.raw.wrapping_add(s.size).wrapping_add(shift),
            );
        }
        // Anywhere in an executable whose headers were read; a body
        // pattern must also start at a version string ([`at_version`]).
        OFF_VI => {
            pe?;
            return Some((0, u64::MAX));
        }
        _ => return None,
    };
    if matches!(kind, OFF_ABS | OFF_EOF) {
        return Some((lo, lo.saturating_add(shift)));
    }
    wrap(lo, lo.wrapping_add(shift))
}

/// Whether a body pattern of offset `kind` may start at `start`: for
/// `VI`, only where a string of the version information starts.
fn at_version(kind: u8, start: u64, pe: Option<&PeInfo>) -> bool {
    kind != OFF_VI || pe.is_some_and(|p| p.vinfo.binary_search(&start).is_ok())
}

/// The object-level facts a logical signature's conditions test.
pub(crate) struct ObjectInfo<'a> {
    pub(crate) size: u64,
    /// The parent's ClamAV type name (`CL_TYPE_ANY` for a top object).
    pub(crate) container: &'a str,
    /// The ClamAV type names of the layers above the object, the parent
    /// first.
    pub(crate) ancestors: &'a [&'static str],
}

impl Database {
    fn pattern(&self, pid: u32) -> Option<&[u8]> {
        let p = self.sec(sec::PATTERNS);
        let at = (pid as usize).checked_mul(PATTERN_REC)?;
        p.get(at..at + PATTERN_REC)
    }

    /// Runs every pattern of the targets in `mask` over `data`; the
    /// `.ndb` hit kept is the one clamscan finds first, and the pass ends
    /// where no other can come before it. `eof` says what `EOF-n`
    /// offsets count from.
    #[cfg(test)]
    pub(crate) fn pass(&self, data: &[u8], mask: u16, eof: Eof) -> PassHits {
        self.pass_pe(data, mask, eof, None)
    }

    /// [`Database::pass`] over a PE, whose headers resolve `EP`/`Sx`/`SL`
    /// offsets.
    pub(crate) fn pass_pe(
        &self,
        data: &[u8],
        mask: u16,
        eof: Eof,
        pe: Option<PeInfo>,
    ) -> PassHits {
        // Generous for any real signature set (a few verification steps
        // per byte are typical), bounded for crafted input.
        let mut hits = PassHits {
            steps_left: (data.len() as u64).saturating_mul(32) + (1 << 22),
            ndb: None,
            ndb_key: None,
            limit: usize::MAX,
            chunk_step: self.chunk_step(mask),
            unwanted: None,
            lsub: Vec::new(),
            pe,
            eof_resolves: eof != Eof::Unresolved,
            icons: None,
            types: Vec::new(),
        };
        let words = self.filter_words();
        let entries = self.sec(sec::ENTRIES4);
        let has2 = !self.sec(sec::BITMAP2).is_empty();
        // The filter has 2^(k-6) words of 64 bits.
        let word_bits = self.k - 6;
        let len = data.len();
        let mut stop = false;
        if len >= 4 && !entries.is_empty() && !words.is_empty() {
            // Blocks of eight positions first (`filter.rs`), their
            // candidates looked up in order; then the rest one by one.
            let probe = self.probe();
            let mut from = 0;
            loop {
                if from >= hits.limit {
                    return hits;
                }
                let (at, four, two) = match probe.next(data, from) {
                    filter::Next::Hits { at, four, two } => (at, four, two),
                    filter::Next::End(at) => {
                        from = at;
                        break;
                    }
                };
                from = at + 8;
                for j in 0..8 {
                    let i = at + j;
                    if four & (1 << j) != 0 {
                        let w = u32::from_le_bytes([
                            data[i],
                            data[i + 1],
                            data[i + 2],
                            data[i + 3],
                        ]);
                        if self.hit4(w, data, i, mask, eof, &mut hits) {
                            return hits;
                        }
                    }
                    if two & (1 << j) != 0
                        && self.check2(data, i, mask, eof, &mut hits)
                    {
                        return hits;
                    }
                }
            }
            // The hot loop: one multiply and one word test per byte; the
            // rare candidates are handled out of line so that the loop
            // keeps its registers.
            for (i, w) in data[from..].windows(4).enumerate() {
                let i = from + i;
                let w = u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
                let (word, bits) = filter_probe(w, word_bits);
                if words[word] & bits == bits {
                    stop = i >= hits.limit
                        || self.hit4(w, data, i, mask, eof, &mut hits);
                }
                if has2 && !stop {
                    stop = i >= hits.limit
                        || self.check2(data, i, mask, eof, &mut hits);
                }
                if stop {
                    return hits;
                }
            }
        }
        if has2 {
            // Positions too close to the end for a four-byte anchor.
            let from =
                if len >= 4 && !entries.is_empty() { len - 3 } else { 0 };
            for i in from..len.saturating_sub(1) {
                if i >= hits.limit
                    || self.check2(data, i, mask, eof, &mut hits)
                {
                    return hits;
                }
            }
        }
        let un = self.sec(sec::UNANCHORED);
        for u in 0..un.len() / 4 {
            let pid = rd32(un, u * 4);
            for start in 0..len {
                if start >= hits.limit {
                    break;
                }
                if self.candidate_at(pid, data, start, mask, eof, &mut hits) {
                    return hits;
                }
            }
        }
        hits
    }

    /// How far apart clamscan's chunks start for a pass over `mask`:
    /// they overlap by the longest pattern of the targets matched.
    fn chunk_step(&self, mask: u16) -> u64 {
        let o = self.sec(sec::ORDER);
        let longest = (0..16)
            .filter(|t| mask & (1 << t) != 0 || *t == 0)
            .filter_map(|t| o.get(t * 4..t * 4 + 4))
            .map(|b| u64::from(rd32(b, 0)))
            .max()
            .unwrap_or(0);
        SCAN_CHUNK - longest.min(SCAN_CHUNK - 1)
    }

    /// Where a match of `.ndb` pattern `pid` over `start..end` stands in
    /// clamscan's order, if the module records it.
    fn ndb_key(
        &self,
        pid: u32,
        data: &[u8],
        start: usize,
        end: usize,
        step: u64,
    ) -> Option<NdbKey> {
        let at = ORDER_HEAD + pid as usize * ORDER_REC;
        let r = self.sec(sec::ORDER).get(at..at + ORDER_REC)?;
        let (place, head) = (rd32(r, 0), rd32(r, 4));
        let (trie, spread) = (rd32(r, 8), rd32(r, 12) as usize);
        let from_end = place & ORDER_FROM_END != 0;
        let place = (place & !ORDER_FROM_END) as usize;
        // Where the trie bytes end, the first of the places alternatives
        // of different lengths allow at which they stand.
        let depth = (trie >> 24).clamp(1, 3) as usize;
        let bytes = trie.to_le_bytes();
        let at_trie = |last: usize| {
            last.checked_sub(depth - 1)
                .and_then(|from| data.get(from..=last))
                .is_some_and(|w| w == &bytes[..depth])
        };
        let candidates = (0..=spread.min(end.saturating_sub(start)).min(255))
            .map(|k| {
                if from_end {
                    end.saturating_sub(place + k + 1)
                } else {
                    start + place + k
                }
            });
        let mut found = None;
        for last in candidates {
            found.get_or_insert(last);
            if spread == 0 || at_trie(last) {
                found = Some(last);
                break;
            }
        }
        let found = found.unwrap_or(start) as u64;
        let chunk = chunk_of(end as u64, step);
        Some((chunk, head >> 30, found, head & ((1 << 30) - 1)))
    }

    #[cold]
    #[inline(never)]
    fn hit4(
        &self,
        w: u32,
        data: &[u8],
        i: usize,
        mask: u16,
        eof: Eof,
        hits: &mut PassHits,
    ) -> bool {
        let entries = self.sec(sec::ENTRIES4);
        let slots = entries.len() / 8;
        let mut at = slot_of(w, self.b);
        // The table is at most half full, so an empty slot ends the probe;
        // the bound only matters for a damaged module.
        for _ in 0..slots {
            let p = rd32(entries, at * 8 + 4);
            if p == u32::MAX {
                break;
            }
            if rd32(entries, at * 8) == w
                && self.candidate(p, data, i, mask, eof, hits)
            {
                return true;
            }
            at = (at + 1) & (slots - 1);
        }
        false
    }

    /// The anchor filter as 64-bit words, without a copy: sections are
    /// 8-byte aligned in the file, maps are page-aligned and in-memory
    /// modules are kept in u64 words.
    pub(crate) fn filter_words(&self) -> &[u64] {
        let b = self.sec(sec::BITMAP4);
        // SAFETY: every bit pattern is a valid u64, and `align_to` only
        // returns the aligned middle part of the slice.
        #[allow(unsafe_code)]
        let (pre, words, post) = unsafe { b.align_to::<u64>() };
        if pre.is_empty() && post.is_empty() { words } else { &[] }
    }

    /// The anchor filter, ready for blocks of positions.
    pub(crate) fn probe(&self) -> filter::Probe<'_> {
        let two = (!self.sec(sec::BITMAP2).is_empty())
            .then(|| self.sec(sec::BITMAP2));
        filter::Probe::new(
            self.filter_words(),
            self.k - 6,
            two,
            self.step_text,
        )
    }

    #[inline]
    fn check2(
        &self,
        data: &[u8],
        i: usize,
        mask: u16,
        eof: Eof,
        hits: &mut PassHits,
    ) -> bool {
        let v = u16::from_le_bytes([data[i], data[i + 1]]) as usize;
        if self.sec(sec::BITMAP2)[v >> 3] & (1 << (v & 7)) == 0 {
            return false;
        }
        let idx = self.sec(sec::INDEX2);
        let e2 = self.sec(sec::ENTRIES2);
        let (lo, hi) =
            (rd32(idx, v * 4) as usize, rd32(idx, v * 4 + 4) as usize);
        for e in lo..hi {
            if self.candidate(rd32(e2, e * 4), data, i, mask, eof, hits) {
                return true;
            }
        }
        false
    }

    /// A candidate from the anchor filter at `anchor_pos`; true = stop.
    fn candidate(
        &self,
        pid: u32,
        data: &[u8],
        anchor_pos: usize,
        mask: u16,
        eof: Eof,
        hits: &mut PassHits,
    ) -> bool {
        let Some(rec) = self.pattern(pid) else { return false };
        let Some(start) = anchor_pos.checked_sub(rd32(rec, 8) as usize) else {
            return false;
        };
        self.candidate_at(pid, data, start, mask, eof, hits)
    }

    fn candidate_at(
        &self,
        pid: u32,
        data: &[u8],
        start: usize,
        mask: u16,
        eof: Eof,
        hits: &mut PassHits,
    ) -> bool {
        if hits.steps_left == 0 {
            // Out of verification budget: end the pass.
            return true;
        }
        let Some(rec) = self.pattern(pid) else { return false };
        let target = rec[25];
        if target >= 16 || mask & (1 << target) == 0 {
            return false;
        }
        let (n, shift) = (rd32(rec, 16) as u64, rd32(rec, 20) as u64);
        let s = start as u64;
        let end = match eof {
            Eof::Data => Some(data.len() as u64),
            Eof::Normalized(len) if target != 0 => Some(len),
            Eof::Normalized(_) | Eof::Unresolved => None,
        };
        let ok = offset_window(rec[24], n, shift, end, hits.pe.as_ref())
            .is_some_and(|(lo, hi)| s >= lo && s <= hi)
            && at_version(rec[24], s, hits.pe.as_ref());
        if !ok {
            return false;
        }
        let (off, clen) = (rd32(rec, 0) as usize, rd32(rec, 4) as usize);
        let Some(prog) =
            self.sec(sec::CODE).get(off..off.saturating_add(clen))
        else {
            return false;
        };
        let Some(end) =
            matcher::verify_within(prog, data, start, &mut hits.steps_left)
        else {
            return false;
        };
        match rec[26] {
            KIND_NDB => {
                let Some(key) =
                    self.ndb_key(pid, data, start, end, hits.chunk_step)
                else {
                    // A module without the order: the first found.
                    hits.ndb = Some(rd32(rec, 12));
                    return true;
                };
                if hits.ndb_key.is_none_or(|k| key < k) {
                    hits.ndb = Some(rd32(rec, 12));
                    hits.ndb_key = Some(key);
                    // A match that comes first must lie in this chunk or
                    // one before, so its anchor does too.
                    let end = key
                        .0
                        .saturating_mul(hits.chunk_step)
                        .saturating_add(SCAN_CHUNK);
                    hits.limit = usize::try_from(end).unwrap_or(usize::MAX);
                }
                false
            }
            KIND_TYPE => {
                // All of them, in the order found: the scanner counts
                // them as ClamAV's matcher does.
                if hits.types.len() < MAX_TYPE_HITS {
                    hits.types.push((rd32(rec, 12), start));
                }
                false
            }
            _ => {
                hits.lsub.push((rd32(rec, 12), rec[27], start as u32));
                false
            }
        }
    }

    /// Evaluates the logical signatures of `mask` after a pass: those with
    /// a target first, then the generic ones, each in load order.
    pub(crate) fn eval_logical(
        &self,
        hits: &mut PassHits,
        mask: u16,
        obj: &ObjectInfo<'_>,
        data: &[u8],
    ) -> Option<u32> {
        let always = self.sec(sec::LDB_ALWAYS);
        if hits.lsub.is_empty() && always.is_empty() {
            return None;
        }
        hits.lsub.sort_unstable();
        hits.lsub.dedup();
        let ldb = self.sec(sec::LDB);
        let mut ids: Vec<u32> = hits.lsub.iter().map(|h| h.0).collect();
        ids.extend((0..always.len() / 4).map(|i| rd32(always, i * 4)));
        ids.sort_unstable();
        ids.dedup();
        let mut order: Vec<(bool, u32)> = ids
            .into_iter()
            .filter_map(|id| {
                let r = ldb
                    .get(id as usize * LDB_REC..(id as usize + 1) * LDB_REC)?;
                let t = r[4];
                (t < 16 && mask & (1 << t) != 0).then_some((t == 0, id))
            })
            .collect();
        order.sort_unstable();
        for (_, id) in order {
            let r = &ldb[id as usize * LDB_REC..(id as usize + 1) * LDB_REC];
            if r[6] & 1 != 0
                && (obj.size < rd64(r, 16) || obj.size > rd64(r, 24))
            {
                continue;
            }
            if r[6] & 2 != 0 && !self.intermediates_hold(id, obj.ancestors) {
                continue;
            }
            let container = rd32(r, 32);
            if container != u32::MAX && self.name(container) != obj.container {
                continue;
            }
            if let Some(at) = (rd32(r, 36) as usize).checked_sub(1) {
                let Some(c) = self
                    .sec(sec::LDB_PE)
                    .get(at * LDB_PE_REC..(at + 1) * LDB_PE_REC)
                else {
                    continue;
                };
                let within =
                    |v: u64, o: usize| v >= rd64(c, o) && v <= rd64(c, o + 8);
                // Only a PE has an entry point and sections.
                let Some(pe) = hits.pe.as_ref() else { continue };
                if !within(pe.ep, 0) || !within(pe.sections.len() as u64, 16) {
                    continue;
                }
            }
            let nsubs = r[5] as usize;
            let mut counts = vec![0u32; nsubs];
            let first = hits.lsub.partition_point(|h| h.0 < id);
            for h in &hits.lsub[first..] {
                if h.0 != id {
                    break;
                }
                if let Some(c) = counts.get_mut(h.1 as usize) {
                    *c += 1;
                }
            }
            if r[7] != 0 {
                let end = hits.eof_resolves.then_some(data.len() as u64);
                self.run_pcres(id, data, &mut counts, hits.pe.as_ref(), end);
            }
            let (eo, el) = (rd32(r, 8) as usize, rd32(r, 12) as usize);
            let Some(code) =
                self.sec(sec::EXPR).get(eo..eo.saturating_add(el))
            else {
                continue;
            };
            if expr::eval(code, &counts) {
                // Icon groups: an executable whose headers were read, with
                // an icon matching an `.idb` entry of both.
                if r[6] & 4 != 0 {
                    if hits.pe.is_none() {
                        continue;
                    }
                    let icons = hits
                        .icons
                        .get_or_insert_with(|| crate::pe::icon::icons(data));
                    if !self.icon_matches(id, icons) {
                        continue;
                    }
                }
                let id = rd32(r, 0);
                if self.potentially_unwanted(id) {
                    hits.unwanted.get_or_insert(id);
                    continue;
                }
                return Some(id);
            }
        }
        None
    }
}

impl Database {
    /// Whether the layers above an object are the types logical
    /// signature `id`'s `Intermediates` names, its last one the parent's;
    /// there must be at least as many layers. As in ClamAV, a
    /// `CL_TYPE_ANY` there is passed over without using up a layer.
    fn intermediates_hold(&self, id: u32, ancestors: &[&str]) -> bool {
        let t = self.sec(sec::LDB_INTER);
        let n = t.len() / LDB_INTER_REC;
        let i = lower_bound(n, |i| rd32(t, i * LDB_INTER_REC) < id);
        if i >= n || rd32(t, i * LDB_INTER_REC) != id {
            return false;
        }
        let r = &t[i * LDB_INTER_REC..(i + 1) * LDB_INTER_REC];
        let count = (rd32(r, 4) as usize).min(16);
        if ancestors.len() < count {
            return false;
        }
        let mut above = ancestors.iter();
        (0..count).rev().all(|k| {
            let want = self.name(rd32(r, 8 + k * 4));
            want == "CL_TYPE_ANY" || above.next() == Some(&want)
        })
    }

    fn regex(
        &self,
        rec: u32,
        src: &[u8],
    ) -> Option<std::sync::Arc<regex::bytes::Regex>> {
        let mut cache = self.regexes.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(rec)
            .or_insert_with(|| {
                let src = std::str::from_utf8(src).ok()?;
                regex::bytes::RegexBuilder::new(src)
                    .size_limit(crate::sigs::PCRE_SIZE_LIMIT)
                    .build()
                    .ok()
                    .map(std::sync::Arc::new)
            })
            .clone()
    }

    /// Runs the PCRE subsignatures of logical signature `id` whose
    /// triggers hold, in order, adding their matches to `counts`; as in
    /// ClamAV, a later trigger sees the counts of earlier PCREs.
    fn run_pcres(
        &self,
        id: u32,
        data: &[u8],
        counts: &mut [u32],
        pe: Option<&PeInfo>,
        end: Option<u64>,
    ) {
        let recs = self.sec(sec::PCRE);
        let pdata = self.sec(sec::PCRE_DATA);
        let n = recs.len() / PCRE_REC;
        let mut i = lower_bound(n, |i| rd32(recs, i * PCRE_REC) < id);
        while i < n && rd32(recs, i * PCRE_REC) == id {
            let r = &recs[i * PCRE_REC..(i + 1) * PCRE_REC];
            let at = i as u32;
            i += 1;
            let (sub, flags, kind) = (r[4] as usize, r[5], r[6]);
            let (off_n, shift) = (rd32(r, 8) as usize, rd32(r, 12) as usize);
            let slice = |o: usize, l: usize| pdata.get(o..o.saturating_add(l));
            let Some(trig) = slice(rd32(r, 16) as usize, rd32(r, 20) as usize)
            else {
                continue;
            };
            let Some(src) = slice(rd32(r, 24) as usize, rd32(r, 28) as usize)
            else {
                continue;
            };
            if !expr::eval(trig, counts) {
                continue;
            }
            let Some(re) = self.regex(at, src) else { continue };
            // Where the search starts: the buffer's start for `*`, else
            // the offset; anchored there unless rolling or floating.
            // ClamAV reads a `VI` offset as `*` for a regex (none when
            // the executable's headers could not be read).
            let (start, any) = match kind {
                OFF_ANY => (Some(0), true),
                OFF_VI => (pe.map(|_| 0), true),
                k => (
                    offset_window(k, off_n as u64, 0, end, pe)
                        .and_then(|(lo, _)| usize::try_from(lo).ok()),
                    false,
                ),
            };
            let Some(start) = start.filter(|s| *s < data.len()) else {
                continue;
            };
            let anchored = flags & PCRE_ANCHORED != 0
                || (flags & PCRE_ROLLING == 0 && shift == 0 && !any);
            let window = if flags & PCRE_ENCOMPASS != 0 && shift > 0 {
                &data[start..data.len().min(start + shift)]
            } else {
                &data[start..]
            };
            let mut from = 0;
            let mut found = 0u32;
            while let Some(m) = re.find_at(window, from) {
                if anchored && m.start() != from {
                    break;
                }
                if flags & PCRE_ENCOMPASS == 0
                    && shift > 0
                    && m.start() > shift
                {
                    break;
                }
                found += 1;
                // An empty match would repeat forever (ClamAV loops on it).
                if flags & PCRE_GLOBAL == 0
                    || m.end() == m.start()
                    || m.end() >= window.len()
                {
                    break;
                }
                from = m.end();
            }
            if let Some(c) = counts.get_mut(sub) {
                *c += found;
            }
        }
    }
}
