//! Writing a loading module from a signature set: the compiler side of
//! `module/`, which reads what is written here in place.

use std::collections::HashMap;
use std::path::Path;

use crate::error::{InstallError, ModuleError};
use crate::module::*;
use crate::sigs::body::{self, Elem};
use crate::sigs::{Offset, SignatureSet, Source};
use crate::sigs::{SubSig, expr};
use anchors::{anchor_filter, anchor_index2, text_anchored};

mod anchors;
mod icons;
mod magic;
mod meta;
mod order;
mod phish;

/// Summary of a compilation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompileStats {
    /// Patterns the anchor filter indexes.
    pub anchored: usize,
    /// Patterns with no two literal bytes at a fixed offset; they are
    /// checked at every position and slow scanning down.
    pub unanchored: usize,
    /// Signatures dropped by `.ign`/`.ign2`.
    pub ignored: usize,
}

/// The name table: each name once, and once more for signatures of
/// unofficial databases (which clamscan names `NAME.UNOFFICIAL`).
pub(super) struct Names {
    map: HashMap<(String, bool), u32>,
    list: Vec<(String, bool)>,
}

impl Names {
    /// A name that is not a signature's (a container type).
    pub(super) fn id(&mut self, n: &str) -> u32 {
        self.sig_id(n, true)
    }

    pub(super) fn sig_id(&mut self, n: &str, official: bool) -> u32 {
        let key = (n.to_string(), official);
        if let Some(&i) = self.map.get(&key) {
            return i;
        }
        let i = self.list.len() as u32;
        self.map.insert(key.clone(), i);
        self.list.push(key);
        i
    }
}

struct PatRec {
    code_off: u32,
    code_len: u32,
    anchor_off: u32,
    owner: u32,
    off: Offset,
    target: u8,
    kind: u8,
    sub: u8,
}

/// Compiles a signature set into module bytes, section by section: the
/// hash tables, the body patterns of `.ndb` and `.ldb` lines (with the
/// logical signatures' records), the anchor filter over them, then the
/// names and the other lists. Names get their ids in that order.
pub fn compile(set: &SignatureSet) -> (Vec<u8>, CompileStats) {
    let mut stats = CompileStats::default();
    let mut names = Names { map: HashMap::new(), list: Vec::new() };

    let (hash_tabs, fp_tabs, mdb_tabs) =
        hash_tables(set, &mut names, &mut stats);
    let mut pats = Patterns::default();
    let mut order = order::Order::default();
    body_signatures(set, &mut names, &mut stats, &mut pats, &mut order);
    let lsigs =
        logical_signatures(set, &mut names, &mut stats, &mut pats, &mut order);
    embedded_types(set, &mut pats);
    let Patterns {
        code,
        recs: pats,
        anchors4,
        anchors2,
        unanchored,
        text_pass,
        mail_target,
    } = pats;
    let Logical {
        recs: ldb_recs,
        exprs,
        pcre_recs,
        pcre_data,
        pe: ldb_pe,
        inter: ldb_inter,
        icon: ldb_icon,
        always,
    } = lsigs;
    let text = text_anchored(&anchors4, &anchors2);
    let (k, b, bitmap4, entries4) = anchor_filter(anchors4);
    let (bitmap2, index2, entries2) = anchor_index2(anchors2);
    let pe_needed = pe_needed(set);

    let mut pat_bytes = Vec::with_capacity(pats.len() * PATTERN_REC);
    for p in &pats {
        let (kind, n, shift) = offset_fields(p.off);
        for v in [p.code_off, p.code_len, p.anchor_off, p.owner, n, shift] {
            pat_bytes.extend(v.to_le_bytes());
        }
        pat_bytes.extend([kind, p.target, p.kind, p.sub]);
    }

    let (cdb, cdb_data) = meta::write(set, &mut names, &mut stats);

    let mut names_idx = Vec::with_capacity((names.list.len() + 1) * 4);
    let mut names_data = Vec::new();
    let mut unofficial = vec![0u8; names.list.len().div_ceil(8)];
    for (i, (n, official)) in names.list.iter().enumerate() {
        names_idx.extend((names_data.len() as u32).to_le_bytes());
        names_data.extend(n.as_bytes());
        if !official {
            unofficial[i / 8] |= 1 << (i % 8);
        }
    }
    names_idx.extend((names_data.len() as u32).to_le_bytes());

    let table = |t: &Vec<(u32, Vec<u8>, u32)>| -> Vec<u8> {
        let mut out = Vec::new();
        for (size, digest, name) in t {
            out.extend(size.to_le_bytes());
            out.extend(name.to_le_bytes());
            out.extend(digest);
        }
        out
    };
    let u32s = |v: &[u32]| -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    };

    let mut sections: Vec<(u32, Vec<u8>)> = vec![
        (sec::NAMES_IDX, names_idx),
        (sec::NAMES, names_data),
        (sec::BITMAP4, bitmap4),
        (sec::ENTRIES4, entries4),
        (sec::BITMAP2, bitmap2),
        (sec::INDEX2, index2),
        (sec::ENTRIES2, entries2),
        (sec::PATTERNS, pat_bytes),
        (sec::CODE, code),
        (sec::LDB, ldb_recs.concat()),
        (sec::EXPR, exprs),
        (sec::UNANCHORED, u32s(&unanchored)),
        (
            sec::PARAMS,
            u32s(&[
                k,
                b,
                u32::from(text_pass)
                    | u32::from(mail_target) << 1
                    | u32::from(pe_needed) << 2
                    | PARAM_TEXT_KNOWN
                    | if text { PARAM_TEXT_ANCHORED } else { 0 },
            ]),
        ),
        (sec::LDB_ALWAYS, u32s(&always)),
        (sec::LDB_PE, ldb_pe),
        (sec::PCRE, pcre_recs),
        (sec::PCRE_DATA, pcre_data),
    ];
    for i in 0..3 {
        sections.push((sec::HASH[i], table(&hash_tabs[i])));
        sections.push((sec::FP[i], table(&fp_tabs[i])));
        sections.push((sec::MDB[i], table(&mdb_tabs[i])));
    }
    sections.push((sec::SOURCES, sources(set.sources())));
    sections.push((sec::CDB, cdb));
    sections.push((sec::UNOFFICIAL, unofficial));
    sections.push((sec::LDB_INTER, ldb_inter));
    sections.push((sec::CDB_DATA, cdb_data));
    let (phish, phish_data) = phish::write(set);
    sections.push((sec::PHISH, phish));
    sections.push((sec::PHISH_DATA, phish_data));
    let (ftm, ftm_data) = magic::write(set);
    sections.push((sec::FTM, ftm));
    sections.push((sec::FTM_DATA, ftm_data));
    sections.push((sec::IDB, icons::write(set)));
    sections.push((sec::LDB_ICON, ldb_icon));
    sections.push((sec::CERTS, crate::auth::write_store(&set.certs)));
    sections.push((sec::ORDER, order.write()));
    (write(&sections, FORMAT_VERSION), stats)
}

/// A hash table's rows: size (`u32::MAX` for `*`), digest, name id.
type HashTable = Vec<(u32, Vec<u8>, u32)>;

/// The hash tables per digest kind, sorted by (size, digest); `*` sorts
/// last as `u32::MAX`: signatures, allow-list entries, PE sections.
fn hash_tables(
    set: &SignatureSet,
    names: &mut Names,
    stats: &mut CompileStats,
) -> ([HashTable; 3], [HashTable; 3], [HashTable; 3]) {
    let mut hash_tabs: [HashTable; 3] = Default::default();
    let mut fp_tabs: [HashTable; 3] = Default::default();
    let mut mdb_tabs: [HashTable; 3] = Default::default();
    for (sigs, tabs) in
        [(&set.hashes, &mut hash_tabs), (&set.section_hashes, &mut mdb_tabs)]
    {
        for h in sigs {
            if set.is_ignored(&h.name, &h.line_md5) {
                stats.ignored += 1;
                continue;
            }
            let id = names.sig_id(&h.name, h.official);
            tabs[kind_idx(h.kind)].push((
                h.size.unwrap_or(u32::MAX),
                h.digest.clone(),
                id,
            ));
        }
    }
    for h in &set.fps {
        let id = names.id(&h.name);
        fp_tabs[kind_idx(h.kind)].push((
            h.size.unwrap_or(u32::MAX),
            h.digest.clone(),
            id,
        ));
    }
    for t in hash_tabs
        .iter_mut()
        .chain(fp_tabs.iter_mut())
        .chain(mdb_tabs.iter_mut())
    {
        // The last signature loaded wins a tie, as in ClamAV (checked
        // with clamscan 1.4.6): reverse, stable sort, keep the first.
        t.reverse();
        t.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        t.dedup_by(|b, a| a.0 == b.0 && a.1 == b.1);
    }
    (hash_tabs, fp_tabs, mdb_tabs)
}

/// The body patterns, their verification code and anchors, and what the
/// scanner may skip: the normalised-text pass when nothing could match
/// there, the extra mail pass when no signature targets mail.
#[derive(Default)]
struct Patterns {
    code: Vec<u8>,
    recs: Vec<PatRec>,
    anchors4: Vec<(u32, u32)>,
    anchors2: Vec<(u16, u32)>,
    unanchored: Vec<u32>,
    text_pass: bool,
    mail_target: bool,
}

impl Patterns {
    fn add(
        &mut self,
        elems: &[Elem],
        nocase: bool,
        mut rec: PatRec,
        stats: &mut CompileStats,
    ) {
        let pid = self.recs.len() as u32;
        let prog = body::compile(elems, nocase);
        rec.code_off = self.code.len() as u32;
        rec.code_len = prog.len() as u32;
        self.code.extend(prog);
        match body::choose_anchor(elems, nocase) {
            Some(a) => {
                rec.anchor_off = a.offset;
                for v in &a.variants {
                    if a.width == 4 {
                        self.anchors4.push((u32::from_le_bytes(*v), pid));
                    } else {
                        self.anchors2
                            .push((u16::from_le_bytes([v[0], v[1]]), pid));
                    }
                }
                stats.anchored += 1;
            }
            None => {
                self.unanchored.push(pid);
                stats.unanchored += 1;
            }
        }
        self.recs.push(rec);
    }
}

/// ClamAV's built-in patterns of embedded types, in every module: not
/// signatures, so not counted in the statistics.
fn embedded_types(set: &SignatureSet, pats: &mut Patterns) {
    use crate::filetype::embedded::{Embedded, PATTERNS};
    // clamscan drops its built-in types beside a database's `.ftm`, and
    // looks only for the embedded types that file's patterns name (the
    // official daily.ftm names them all, with ClamAV's own patterns);
    // those types get the built-in patterns here.
    let named = |e: &Embedded| {
        !set.has_ftm || set.ftm_types.iter().any(|t| t == e.clamav_name())
    };
    for (e, hex) in PATTERNS.iter().filter(|(e, _)| named(e)) {
        let Ok(elems) = body::parse_signature(hex, false) else { continue };
        let target = if *e == Embedded::Exe {
            TARGET_EMBEDDED_EXE
        } else {
            TARGET_EMBEDDED
        };
        let rec = PatRec {
            code_off: 0,
            code_len: 0,
            anchor_off: 0,
            owner: *e as u32,
            off: Offset::Any,
            target,
            kind: KIND_TYPE,
            sub: 0,
        };
        pats.add(&elems, false, rec, &mut CompileStats::default());
    }
}

/// The `.ndb` signatures' patterns.
fn body_signatures(
    set: &SignatureSet,
    names: &mut Names,
    stats: &mut CompileStats,
    pats: &mut Patterns,
    order: &mut order::Order,
) {
    // Each signature's place in clamscan's matchers, every one loaded
    // taking its place (`order.rs`).
    let places: Vec<Option<[u32; 4]>> = set
        .ndbs
        .iter()
        .enumerate()
        .map(|(i, n)| {
            (!set.is_ignored(&n.name, &n.line_md5)).then(|| order.note(i, n))
        })
        .collect();
    // Identical wildcard patterns under different names: ClamAV chains
    // them in one trie node and reports whichever its memory pool put
    // first: with clamscan 1.4.6 the last loaded of two lines alone,
    // the first in a database of a few more. Only the first is kept,
    // as the trie's other ties follow load order (`order.rs`).
    // Identical plain strings are all kept: the order records say which
    // one clamscan finds first.
    let mut winner: HashMap<(u8, Offset, Vec<u8>), usize> = HashMap::new();
    let mut plain = Vec::new();
    for (i, n) in set.ndbs.iter().enumerate() {
        let Some(place) = places[i] else { continue };
        if body::never_matches(&n.elems) {
            continue;
        }
        if place[1] & order::GROUP_WILDCARD == 0 {
            plain.push(i);
            continue;
        }
        winner
            .entry((n.target, n.offset, body::compile(&n.elems, false)))
            .or_insert(i);
    }
    let kept: std::collections::HashSet<usize> =
        winner.into_values().chain(plain).collect();
    // The order records are indexed by pattern: these come first.
    debug_assert!(pats.recs.is_empty());
    for (i, n) in set.ndbs.iter().enumerate() {
        if set.is_ignored(&n.name, &n.line_md5) {
            stats.ignored += 1;
            continue;
        }
        let Some(place) = places[i].filter(|_| kept.contains(&i)) else {
            continue;
        };
        order.recs.push(place);
        let rec = PatRec {
            code_off: 0,
            code_len: 0,
            anchor_off: 0,
            owner: names.sig_id(&n.name, n.official),
            off: n.offset,
            target: n.target,
            kind: KIND_NDB,
            sub: 0,
        };
        pats.text_pass |= matches!(n.target, 0 | 7)
            && body::can_match_normalized(&n.elems, false);
        pats.mail_target |= n.target == 4;
        pats.add(&n.elems, false, rec, stats);
    }
}

/// The logical signatures' records, expressions, PCRE, PE conditions
/// and `Intermediates`, and those that hold with nothing matched.
#[derive(Default)]
struct Logical {
    recs: Vec<Vec<u8>>,
    exprs: Vec<u8>,
    pcre_recs: Vec<u8>,
    pcre_data: Vec<u8>,
    pe: Vec<u8>,
    inter: Vec<u8>,
    icon: Vec<u8>,
    always: Vec<u32>,
}

/// The `.ldb` signatures: their body subsignatures go to `pats`.
fn logical_signatures(
    set: &SignatureSet,
    names: &mut Names,
    stats: &mut CompileStats,
    pats: &mut Patterns,
    order: &mut order::Order,
) -> Logical {
    let Logical {
        recs: mut ldb_recs,
        mut exprs,
        mut pcre_recs,
        mut pcre_data,
        pe: mut ldb_pe,
        inter: mut ldb_inter,
        icon: mut ldb_icon,
        mut always,
    } = Logical::default();
    for l in &set.ldbs {
        if set.is_ignored(&l.name, &l.line_md5) {
            stats.ignored += 1;
            continue;
        }
        let lid = ldb_recs.len() as u32;
        // A logical signature's expression can hold with no subsignature
        // matched (`0=0`), so its target alone keeps a pass.
        pats.text_pass |= l.target == 7;
        pats.mail_target |= l.target == 4;
        let mut has_pcre = false;
        let zero = vec![0u32; l.subs.len()];
        let mut triggered_at_zero = false;
        for (si, sub) in l.subs.iter().enumerate() {
            match sub {
                // Its count stays 0, as ClamAV's never rises.
                SubSig::Body { elems, .. } if body::never_matches(elems) => {}
                SubSig::Body { offset, elems, mods } => {
                    order.note_length(l.target, elems, &[]);
                    for variant in body::apply_modifiers(elems, *mods) {
                        pats.text_pass |= l.target == 0
                            && body::can_match_normalized(
                                &variant,
                                mods.nocase,
                            );
                        let rec = PatRec {
                            code_off: 0,
                            code_len: 0,
                            anchor_off: 0,
                            owner: lid,
                            off: *offset,
                            target: l.target,
                            kind: KIND_LDB,
                            sub: si as u8,
                        };
                        pats.add(&variant, mods.nocase, rec, stats);
                    }
                }
                SubSig::Pcre(p) => {
                    has_pcre = true;
                    pats.text_pass |= matches!(l.target, 0 | 7);
                    pats.mail_target |= l.target == 4;
                    let mut trig = Vec::new();
                    p.trigger.encode(&mut trig);
                    triggered_at_zero |= expr::eval(&trig, &zero);
                    let (kind, n, shift) = offset_fields(p.offset);
                    let mut flags = 0;
                    for (on, bit) in [
                        (p.global, PCRE_GLOBAL),
                        (p.rolling, PCRE_ROLLING),
                        (p.encompass, PCRE_ENCOMPASS),
                        (p.anchored, PCRE_ANCHORED),
                    ] {
                        if on {
                            flags |= bit;
                        }
                    }
                    pcre_recs.extend(lid.to_le_bytes());
                    pcre_recs.extend([si as u8, flags, kind, 0]);
                    pcre_recs.extend(n.to_le_bytes());
                    pcre_recs.extend(shift.to_le_bytes());
                    pcre_recs.extend((pcre_data.len() as u32).to_le_bytes());
                    pcre_recs.extend((trig.len() as u32).to_le_bytes());
                    pcre_data.extend(trig);
                    pcre_recs.extend((pcre_data.len() as u32).to_le_bytes());
                    pcre_recs.extend((p.source.len() as u32).to_le_bytes());
                    pcre_data.extend(p.source.as_bytes());
                }
            }
        }
        let mut e = Vec::new();
        l.expr.encode(&mut e);
        if expr::eval(&e, &zero) || triggered_at_zero {
            always.push(lid);
        }
        let mut r = Vec::with_capacity(LDB_REC);
        r.extend(names.sig_id(&l.name, l.official).to_le_bytes());
        r.push(l.target);
        r.push(l.subs.len() as u8);
        // Flags: 1 a FileSize range, 2 Intermediates, 4 icon groups.
        let flags = u8::from(l.filesize.is_some())
            | u8::from(!l.intermediates.is_empty()) << 1
            | u8::from(l.icon.is_some()) << 2;
        ldb_icon.extend(icons::ldb_record(set, l, lid).unwrap_or_default());
        r.extend([flags, has_pcre as u8]);
        if !l.intermediates.is_empty() {
            ldb_inter.extend(lid.to_le_bytes());
            ldb_inter.extend((l.intermediates.len() as u32).to_le_bytes());
            for i in 0..16 {
                let id = l.intermediates.get(i).map_or(0, |t| names.id(t));
                ldb_inter.extend(id.to_le_bytes());
            }
        }
        r.extend((exprs.len() as u32).to_le_bytes());
        r.extend((e.len() as u32).to_le_bytes());
        let (lo, hi) = l.filesize.unwrap_or((0, u64::MAX));
        r.extend(lo.to_le_bytes());
        r.extend(hi.to_le_bytes());
        let container =
            l.container.as_deref().map_or(u32::MAX, |c| names.id(c));
        r.extend(container.to_le_bytes());
        // PE conditions live in their own table: index + 1, or 0.
        if l.entry_point.is_some() || l.sections.is_some() {
            let (el, eh) = l.entry_point.unwrap_or((0, u64::MAX));
            let (nl, nh) = l.sections.unwrap_or((0, u64::MAX));
            let at = ldb_pe.len() / LDB_PE_REC;
            for v in [el, eh, nl, nh] {
                ldb_pe.extend(v.to_le_bytes());
            }
            r.extend((at as u32 + 1).to_le_bytes());
        } else {
            r.extend(0u32.to_le_bytes());
        }
        debug_assert_eq!(r.len(), LDB_REC);
        exprs.extend(e);
        ldb_recs.push(r);
    }
    Logical {
        recs: ldb_recs,
        exprs,
        pcre_recs,
        pcre_data,
        pe: ldb_pe,
        inter: ldb_inter,
        icon: ldb_icon,
        always,
    }
}

/// Whether scanning must read PE headers at all.
fn pe_needed(set: &SignatureSet) -> bool {
    !set.section_hashes.is_empty()
        || set.ndbs.iter().any(|n| n.target == 1 || pe_offset(n.offset))
        || set.ldbs.iter().any(|l| {
            l.target == 1
                || l.entry_point.is_some()
                || l.sections.is_some()
                || l.subs.iter().any(|s| match s {
                    SubSig::Body { offset, .. } => pe_offset(*offset),
                    SubSig::Pcre(p) => pe_offset(p.offset),
                })
        })
}

/// The list of database files, as [`Database::sources`] reads it.
fn sources(list: &[Source]) -> Vec<u8> {
    let mut out = Vec::new();
    for s in list {
        // A file name is at most 255 bytes on Linux; a longer one (from
        // `load_bytes`) is cut at a character boundary.
        let mut end = s.name.len().min(1024);
        while !s.name.is_char_boundary(end) {
            end -= 1;
        }
        let name = &s.name.as_bytes()[..end];
        out.extend(s.signatures.to_le_bytes());
        out.extend(s.build_time.unwrap_or(0).to_le_bytes());
        out.extend(s.version.unwrap_or(0).to_le_bytes());
        out.extend([u8::from(s.version.is_some()), 0]);
        out.extend((name.len() as u16).to_le_bytes());
        out.extend(name);
    }
    out
}

fn offset_fields(o: Offset) -> (u8, u32, u32) {
    match o {
        Offset::Any => (OFF_ANY, 0, 0),
        Offset::Abs { n, shift } => (OFF_ABS, n, shift),
        Offset::EofMinus { n, shift } => (OFF_EOF, n, shift),
        Offset::EpPlus { n, shift } => (OFF_EP_PLUS, n, shift),
        Offset::EpMinus { n, shift } => (OFF_EP_MINUS, n, shift),
        Offset::LastSection { n, shift } => (OFF_SL, n, shift),
        Offset::Section { x, n, shift } => (OFF_SEC | x, n, shift),
        Offset::WithinSection { x, shift } => (OFF_SE | x, 0, shift),
        Offset::VersionInfo => (OFF_VI, 0, 0),
    }
}

/// Offsets that need a PE's headers.
fn pe_offset(o: Offset) -> bool {
    !matches!(o, Offset::Any | Offset::Abs { .. } | Offset::EofMinus { .. })
}

fn align8(v: &mut Vec<u8>) {
    while !v.len().is_multiple_of(8) {
        v.push(0);
    }
}

/// Lays out a module of `version` (a test writes an older one).
pub(crate) fn write(sections: &[(u32, Vec<u8>)], version: u32) -> Vec<u8> {
    let mut out = vec![0u8; HEADER_LEN];
    let toc_off = out.len();
    out.resize(toc_off + sections.len() * 24, 0);
    align8(&mut out);
    let mut toc = Vec::new();
    for (id, data) in sections {
        let off = out.len() as u64;
        out.extend(data);
        toc.extend(id.to_le_bytes());
        toc.extend(0u32.to_le_bytes());
        toc.extend(off.to_le_bytes());
        toc.extend((data.len() as u64).to_le_bytes());
        align8(&mut out);
    }
    out[toc_off..toc_off + toc.len()].copy_from_slice(&toc);
    let file_len = out.len() as u64;
    let mut crc = flate2::Crc::new();
    crc.update(&out[HEADER_LEN..]);
    let payload_crc = crc.sum();
    let mut h = Vec::with_capacity(HEADER_LEN);
    h.extend(MAGIC);
    h.extend(version.to_le_bytes());
    h.extend(0u32.to_le_bytes()); // header CRC, filled below
    h.extend(file_len.to_le_bytes());
    h.extend(payload_crc.to_le_bytes());
    h.extend((sections.len() as u32).to_le_bytes());
    h.extend((toc_off as u64).to_le_bytes());
    h.resize(HEADER_LEN, 0);
    let mut c = flate2::Crc::new();
    c.update(&h);
    h[12..16].copy_from_slice(&c.sum().to_le_bytes());
    out[..HEADER_LEN].copy_from_slice(&h);
    out
}

/// Compiles `set` and puts the module at `output` the way a running
/// agent can never see half of it: written to a temp file in the same
/// directory, synced, opened and checksummed, then renamed over the old
/// one (and the directory synced). Agents that have the old module
/// mapped keep scanning with it; the next open gets the new one. On any
/// failure the old module stays as it was.
///
/// # Errors
/// [`InstallError`]: the file cannot be written, does not verify, or
/// cannot be renamed; the message names the file and the reason.
pub fn install(
    set: &SignatureSet,
    output: &Path,
) -> Result<(usize, CompileStats), InstallError> {
    use std::io::Write;
    let (bytes, stats) = compile(set);
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = output.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        name.unwrap_or_default(),
        std::process::id()
    ));
    let result = (|| {
        let write = |cause| InstallError::Write { path: tmp.clone(), cause };
        let mut f = std::fs::File::create(&tmp).map_err(write)?;
        f.write_all(&bytes).and_then(|()| f.sync_all()).map_err(write)?;
        // Read back what was written before anything can map it.
        Database::open(&tmp).and_then(|d| d.verify_checksum()).map_err(
            |cause| InstallError::Verify { path: tmp.clone(), cause },
        )?;
        std::fs::rename(&tmp, output).map_err(|cause| {
            InstallError::Rename {
                from: tmp.clone(),
                to: output.to_path_buf(),
                cause,
            }
        })?;
        // The rename itself survives a crash only once the directory is
        // on disk.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok((bytes.len(), stats))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

impl Database {
    /// Compiles a signature set in memory.
    pub fn from_signatures(
        set: &SignatureSet,
    ) -> Result<Database, ModuleError> {
        Database::from_bytes(compile(set).0)
    }
}
