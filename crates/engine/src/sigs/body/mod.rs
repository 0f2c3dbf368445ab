//! The ClamAV body-signature hex grammar (`.ndb` bodies and `.ldb`
//! subsignatures), parsed into a small element list and then compiled into
//! the verification bytecode that the loading module stores.
//!
//! The grammar follows ClamAV's `BodySignatureFormat`: hex pairs, `??`,
//! nibble wildcards `a?`/`?a`, `*`, `{n}`, `{-n}`, `{n-}`, `{n-m}`, `[n-m]`,
//! `(aa|bb)` byte sets, `!(aa|bb)` negated sets, multi-byte and generic
//! alternates, and the zero-width markers `(B)`, `(L)` and `(W)`.

use crate::matcher::code;

pub use error::BodyError;
use error::MAX_JUMP;
pub use shape::ShapeError;
use shape::check_shape;

/// "No upper bound" for a gap.
pub(crate) const UNBOUNDED: u32 = u32::MAX;

/// One element of a body signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Elem {
    /// An exact byte.
    Byte(u8),
    /// A byte of which only the bits in `mask` are fixed.
    Nibble { value: u8, mask: u8 },
    /// `??`: any one byte.
    Any,
    /// `(aa|bb)` or `!(aa|bb)`: one byte in (or not in) a set.
    Set { set: ByteSet, negate: bool },
    /// Multi-byte or generic alternates; `negate` only for fixed lengths.
    Alt { alts: Vec<Vec<Elem>>, negate: bool },
    /// A run of `min..=max` arbitrary bytes (`*`, `{n-m}`, `[n-m]`).
    Gap { min: u32, max: u32 },
    /// `(B)`, `(L)` or `(W)`: a zero-width test of the neighbouring byte.
    /// `before`: it tests the byte before the position (a marker that
    /// opens a part), else the byte after it.
    Mark { kind: MarkKind, negate: bool, before: bool },
}

/// The zero-width markers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MarkKind {
    /// `(B)`: word boundary, file start and end included.
    Boundary,
    /// `(L)`: line boundary.
    Line,
    /// `(W)`: a non-alphanumeric neighbour (also what `::f` adds).
    Word,
}

/// A set of byte values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct ByteSet(pub(crate) [u64; 4]);

impl ByteSet {
    pub(crate) fn insert(&mut self, b: u8) {
        self.0[(b >> 6) as usize] |= 1 << (b & 63);
    }
    pub(crate) fn contains(&self, b: u8) -> bool {
        self.0[(b >> 6) as usize] & (1 << (b & 63)) != 0
    }
    pub(crate) fn len(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }
    pub(crate) fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=255u8).filter(|b| self.contains(*b))
    }
}

impl Elem {
    /// The number of bytes the element consumes, if it is fixed.
    pub(crate) fn fixed_len(&self) -> Option<u32> {
        match self {
            Elem::Byte(_) | Elem::Nibble { .. } | Elem::Any => Some(1),
            Elem::Set { .. } => Some(1),
            Elem::Mark { .. } => Some(0),
            Elem::Gap { min, max } if min == max => Some(*min),
            Elem::Gap { .. } => None,
            Elem::Alt { alts, .. } => {
                let first = seq_fixed_len(alts.first()?)?;
                alts.iter()
                    .all(|a| seq_fixed_len(a) == Some(first))
                    .then_some(first)
            }
        }
    }
}

fn seq_fixed_len(seq: &[Elem]) -> Option<u32> {
    seq.iter().try_fold(0u32, |acc, e| acc.checked_add(e.fixed_len()?))
}

/// Parses a body signature into elements.
///
/// The error is a short lowercase reason; the caller adds file and line.
#[cfg(test)]
pub(crate) fn parse(hex: &str) -> Result<Vec<Elem>, BodyError> {
    parse_checked(hex, false, false)
}

/// [`parse`] for a database line: also refused where ClamAV's matcher
/// refuses the pattern as too short. `wide`: the pattern is only matched
/// widened (`::w` without `a`), where each literal byte is followed by a
/// fixed 00, as ClamAV checks it.
pub(crate) fn parse_signature(
    hex: &str,
    wide: bool,
) -> Result<Vec<Elem>, BodyError> {
    parse_checked(hex, true, wide)
}

fn parse_checked(
    hex: &str,
    as_clamav: bool,
    wide: bool,
) -> Result<Vec<Elem>, BodyError> {
    let b = hex.as_bytes();
    if b.is_empty() {
        return Err(BodyError::Empty);
    }
    anchored_jumps_fit(hex)?;
    let mut out = Vec::new();
    let expandable = expanded_braces(hex);
    let mut braces = 0;
    // Where each expanded `{n}` went: those may end the signature.
    let mut fixed_at = Vec::new();
    // Where each `[n-m]` jump went: a jump does not split a part.
    let mut jumps_at = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'*' => {
                out.push(Elem::Gap { min: 0, max: UNBOUNDED });
                i += 1;
            }
            b'{' | b'[' => {
                let close = if b[i] == b'{' { b'}' } else { b']' };
                let end = find(b, i + 1, close)
                    .ok_or(BodyError::Unterminated(b[i] as char))?;
                let range = &hex[i + 1..end];
                // In a `{}` range ClamAV reads an upper bound of 0 as
                // none: `{0}` and `{n-0}` are `*` and `{n-}`.
                let (min, max) = match range.rsplit_once('-') {
                    _ if b[i] == b'[' => parse_range(range)?,
                    Some((n, "0")) => (
                        if n.is_empty() { 0 } else { parse_num(n)? },
                        UNBOUNDED,
                    ),
                    None if range == "0" => (0, UNBOUNDED),
                    // ClamAV loads a reversed `{n-m}` (n > m), which then
                    // never matches ([`never_matches`]).
                    Some((n, m)) if !n.is_empty() && !m.is_empty() => {
                        (parse_num(n)?, parse_num(m)?)
                    }
                    _ => parse_range(range)?,
                };
                if b[i] == b'[' && max > MAX_JUMP {
                    return Err(BodyError::JumpTooWide { max });
                }
                if b[i] == b'{' {
                    if braces < expandable {
                        fixed_at.push(out.len());
                    }
                    braces += 1;
                } else {
                    jumps_at.push(out.len());
                }
                out.push(Elem::Gap { min, max });
                i = end + 1;
            }
            b'!' | b'(' => {
                let negate = b[i] == b'!';
                let open = if negate { i + 1 } else { i };
                if b.get(open) != Some(&b'(') {
                    return Err(BodyError::BangWithoutGroup);
                }
                let end = find(b, open + 1, b')')
                    .ok_or(BodyError::Unterminated('('))?;
                out.push(parse_group(&hex[open + 1..end], negate)?);
                i = end + 1;
            }
            _ => {
                let pair = b.get(i..i + 2).ok_or(BodyError::OddDigits)?;
                out.push(parse_pair(pair[0], pair[1])?);
                i += 2;
            }
        }
    }
    check_shape(&out, &fixed_at, as_clamav.then_some(&jumps_at[..]), wide)?;
    if as_clamav {
        place_marks(&mut out, &fixed_at);
    }
    Ok(out)
}

/// How many of the signature's `{...}` ranges, from the first on, ClamAV
/// reads as n `??` rather than as a gap: it does so while the first `{`
/// left is one number from 1 to 127. Such a fixed gap may start or end a
/// subsignature (`5068{4}`: four bytes, whatever they are, must follow);
/// any other range stays a gap, which may not stand at either end.
fn expanded_braces(hex: &str) -> usize {
    let mut n = 0;
    for part in hex.split('{').skip(1) {
        let inner = part.split('}').next().unwrap_or("");
        let fixed = !inner.is_empty()
            && inner.bytes().all(|c| c.is_ascii_digit())
            && inner.parse::<u32>().is_ok_and(|v| (1..128).contains(&v));
        if !fixed {
            break;
        }
        n += 1;
    }
    n
}

/// For each gap of a parsed signature, in order, whether ClamAV splits
/// the pattern into parts there: at a `*` and at a `{...}` it does not
/// expand ([`expanded_braces`]); not at a `[n-m]` jump, which stays
/// inside its part.
pub(crate) fn gap_splits(hex: &str) -> Vec<bool> {
    let expandable = expanded_braces(hex);
    let (mut out, mut braces) = (Vec::new(), 0);
    let b = hex.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'*' => out.push(true),
            b'{' => {
                out.push(braces >= expandable);
                braces += 1;
                i = find(b, i, b'}').unwrap_or(b.len());
            }
            b'[' => {
                out.push(false);
                i = find(b, i, b']').unwrap_or(b.len());
            }
            _ => {}
        }
        i += 1;
    }
    out
}

fn find(b: &[u8], from: usize, c: u8) -> Option<usize> {
    b.get(from..)?.iter().position(|&x| x == c).map(|p| p + from)
}

fn hexval(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn parse_pair(hi: u8, lo: u8) -> Result<Elem, BodyError> {
    // As bytes, not characters: a pair may split a UTF-8 sequence.
    let bad = || BodyError::HexPair { hi: hi as char, lo: lo as char };
    match (hi, lo) {
        (b'?', b'?') => Ok(Elem::Any),
        (b'?', l) => {
            Ok(Elem::Nibble { value: hexval(l).ok_or_else(bad)?, mask: 0x0f })
        }
        (h, b'?') => Ok(Elem::Nibble {
            value: hexval(h).ok_or_else(bad)? << 4,
            mask: 0xf0,
        }),
        (h, l) => Ok(Elem::Byte(
            (hexval(h).ok_or_else(bad)? << 4) | hexval(l).ok_or_else(bad)?,
        )),
    }
}

/// Whether a pattern can never match: a `{n-m}` gap with n > m, which
/// ClamAV loads and never matches.
pub(crate) fn never_matches(elems: &[Elem]) -> bool {
    elems.iter().any(|e| matches!(e, Elem::Gap { min, max } if min > max))
}

fn parse_num(s: &str) -> Result<u32, BodyError> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(BodyError::Number(s.to_string()));
    }
    s.parse().map_err(|_| BodyError::NumberTooLarge(s.to_string()))
}

fn parse_range(s: &str) -> Result<(u32, u32), BodyError> {
    match s.split_once('-') {
        None => {
            let n = parse_num(s)?;
            Ok((n, n))
        }
        Some(("", m)) => Ok((0, parse_num(m)?)),
        Some((n, "")) => Ok((parse_num(n)?, UNBOUNDED)),
        Some((n, m)) => {
            let (n, m) = (parse_num(n)?, parse_num(m)?);
            if n > m {
                return Err(BodyError::ReversedRange { min: n, max: m });
            }
            Ok((n, m))
        }
    }
}

fn parse_group(inner: &str, negate: bool) -> Result<Elem, BodyError> {
    let kind = match inner {
        "B" => Some(MarkKind::Boundary),
        "L" => Some(MarkKind::Line),
        "W" => Some(MarkKind::Word),
        _ => None,
    };
    if let Some(kind) = kind {
        return Ok(Elem::Mark { kind, negate, before: false });
    }
    let mut alts = Vec::new();
    for part in inner.split('|') {
        let mut elems = Vec::new();
        let b = part.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'{' {
                let end = find(b, i + 1, b'}')
                    .ok_or(BodyError::GroupUnterminated)?;
                let (min, max) = parse_range(&part[i + 1..end])?;
                if min != max || min >= 128 {
                    return Err(BodyError::GroupGap { min, max });
                }
                elems.extend(std::iter::repeat_n(Elem::Any, min as usize));
                i = end + 1;
                continue;
            }
            let pair = b.get(i..i + 2).ok_or(BodyError::GroupOddDigits)?;
            elems.push(parse_pair(pair[0], pair[1])?);
            i += 2;
        }
        if elems.is_empty() {
            return Err(BodyError::EmptyAlternative);
        }
        alts.push(elems);
    }
    if alts.len() < 2 && !negate {
        return Err(BodyError::OneAlternative);
    }
    if alts.iter().all(|a| matches!(a.as_slice(), [Elem::Byte(_)])) {
        let mut set = ByteSet::default();
        for a in &alts {
            if let [Elem::Byte(b)] = a.as_slice() {
                set.insert(*b);
            }
        }
        return Ok(Elem::Set { set, negate });
    }
    let alt = Elem::Alt { alts, negate };
    if negate && alt.fixed_len().is_none() {
        return Err(BodyError::NegatedLengths);
    }
    Ok(alt)
}

/// Subsignature modifiers (`::i`, `::w`, `::f`, `::a`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Modifiers {
    pub(crate) nocase: bool,
    pub(crate) wide: bool,
    pub(crate) fullword: bool,
    pub(crate) ascii: bool,
}

impl Modifiers {
    pub(crate) fn parse(s: &str) -> Result<Modifiers, BodyError> {
        let mut m = Modifiers::default();
        for c in s.chars() {
            match c {
                'i' => m.nocase = true,
                'w' => m.wide = true,
                'f' => m.fullword = true,
                'a' => m.ascii = true,
                _ => return Err(BodyError::UnknownModifier(c)),
            }
        }
        Ok(m)
    }
}

/// clamscan takes a `[n-m]` jump only next to a single byte at the start
/// or end of the part of the signature it is in (the parts `*` and `{}`
/// gaps separate): `AA[n-m]...`, `...[n-m]BB`, or both, and refuses the
/// database otherwise.
fn anchored_jumps_fit(hex: &str) -> Result<(), ShapeError> {
    // The `{n}` ClamAV expands are n wildcard bytes there, not a split.
    let mut expanded = String::with_capacity(hex.len());
    let mut left = hex;
    for _ in 0..expanded_braces(hex) {
        let Some(open) = left.find('{') else { break };
        let Some(close) = left[open..].find('}').map(|c| open + c) else {
            break;
        };
        // As `expanded_braces` counts them: 1 to 127 wildcard bytes.
        let Some(n) = left[open + 1..close]
            .parse::<usize>()
            .ok()
            .filter(|n| (1..128).contains(n))
        else {
            break;
        };
        expanded.push_str(&left[..open]);
        expanded.push_str(&"??".repeat(n));
        left = &left[close + 1..];
    }
    expanded.push_str(left);
    let mut rest = expanded.as_str();
    while !rest.is_empty() {
        let cut = rest.find(['*', '{']).unwrap_or(rest.len());
        jumps_fit_part(&rest[..cut])?;
        rest = &rest[cut..];
        rest = match rest.strip_prefix('*') {
            Some(r) => r,
            None => rest.find('}').map_or("", |c| &rest[c + 1..]),
        };
    }
    Ok(())
}

fn jumps_fit_part(hex: &str) -> Result<(), ShapeError> {
    let bad = || Err(ShapeError::JumpNotAnchored { part: hex.to_string() });
    let mut rest = hex;
    for i in 0..2 {
        let Some(open) = rest.find('[') else { return Ok(()) };
        let Some(close) = rest[open..].find(']').map(|c| open + c) else {
            return bad();
        };
        let (before, after) = (&rest[..open], &rest[close + 1..]);
        if before.len() == 2 {
            if i == 1 {
                return bad();
            }
            rest = after;
        } else if after.len() == 2 {
            return Ok(());
        } else {
            return bad();
        }
    }
    if rest.contains('[') { bad() } else { Ok(()) }
}

/// The variants a subsignature stands for after its modifiers: `::w`
/// widens it, `::wa` matches either form.
pub(crate) fn apply_modifiers(elems: &[Elem], m: Modifiers) -> Vec<Vec<Elem>> {
    let mut base = elems.to_vec();
    if m.fullword {
        let word =
            Elem::Mark { kind: MarkKind::Word, negate: false, before: false };
        base.insert(0, word.clone());
        base.push(word);
    }
    let mut out = Vec::new();
    if m.wide {
        out.push(widen(&base));
        if m.ascii {
            out.push(base);
        }
    } else {
        out.push(base);
    }
    out
}

fn widen(elems: &[Elem]) -> Vec<Elem> {
    let mut out = Vec::with_capacity(elems.len() * 2);
    for e in elems {
        match e {
            Elem::Byte(_) | Elem::Nibble { .. } | Elem::Any => {
                out.push(e.clone());
                out.push(Elem::Byte(0));
            }
            Elem::Set { set, negate } => {
                // ClamAV rewrites `(aa|bb)` as `(aa00|bb00)`.
                let alts = set
                    .iter()
                    .map(|b| vec![Elem::Byte(b), Elem::Byte(0)])
                    .collect();
                out.push(Elem::Alt { alts, negate: *negate });
            }
            Elem::Alt { alts, negate } => out.push(Elem::Alt {
                alts: alts.iter().map(|a| widen(a)).collect(),
                negate: *negate,
            }),
            Elem::Gap { .. } | Elem::Mark { .. } => out.push(e.clone()),
        }
    }
    out
}

/// Where the matcher anchors a pattern: the byte strings that stand at
/// `offset` bytes from the pattern's start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Anchor {
    pub(crate) offset: u32,
    pub(crate) width: u8,
    pub(crate) variants: Vec<[u8; 4]>,
}

const MAX_VARIANTS: usize = 16;

/// Picks the anchor: four literal bytes if the leading fixed-width run has
/// them, else two; `None` if it has neither (such patterns are checked at
/// every position, slowly, and counted at load time).
pub(crate) fn choose_anchor(elems: &[Elem], nocase: bool) -> Option<Anchor> {
    // Only the leading run whose offsets are fixed can anchor: the
    // verifier starts at the pattern's first byte.
    let mut fixed = Vec::new();
    let mut off = 0u32;
    for e in elems {
        let Some(len) = e.fixed_len() else { break };
        if !matches!(e, Elem::Mark { .. }) {
            fixed.push((off, e));
        }
        off = off.checked_add(len)?;
    }
    let options = |e: &Elem| -> Option<Vec<u8>> {
        match e {
            Elem::Byte(b) if nocase && b.is_ascii_alphabetic() => {
                Some(vec![b.to_ascii_lowercase(), b.to_ascii_uppercase()])
            }
            Elem::Byte(b) => Some(vec![*b]),
            Elem::Set { set, negate: false } if set.len() <= 4 => {
                let mut v: Vec<u8> = Vec::new();
                for b in set.iter() {
                    if nocase && b.is_ascii_alphabetic() {
                        v.push(b.to_ascii_lowercase());
                        v.push(b.to_ascii_uppercase());
                    } else {
                        v.push(b);
                    }
                }
                v.sort_unstable();
                v.dedup();
                Some(v)
            }
            _ => None,
        }
    };
    let mut best: Option<(i64, Anchor)> = None;
    for width in [4usize, 2] {
        for w in fixed.windows(width) {
            // The window must be contiguous in the data.
            if w.windows(2).any(|p| p[1].0 != p[0].0 + 1) {
                continue;
            }
            let Some(opts) =
                w.iter().map(|(_, e)| options(e)).collect::<Option<Vec<_>>>()
            else {
                continue;
            };
            let count: usize = opts.iter().map(Vec::len).product();
            if count > MAX_VARIANTS {
                continue;
            }
            let mut variants = vec![[0u8; 4]];
            for (i, o) in opts.iter().enumerate() {
                let mut next = Vec::with_capacity(variants.len() * o.len());
                for v in &variants {
                    for &b in o {
                        let mut v = *v;
                        v[i] = b;
                        next.push(v);
                    }
                }
                variants = next;
            }
            let score = anchor_score(&variants, width);
            if best.as_ref().is_none_or(|(s, _)| score > *s) {
                best = Some((
                    score,
                    Anchor { offset: w[0].0, width: width as u8, variants },
                ));
            }
        }
        if best.is_some() {
            break;
        }
    }
    best.map(|(_, a)| a)
}

/// Whether `b` is a byte of base64 text or of its line ends. When no
/// anchor is made only of such bytes, the base64 bodies that make up
/// most of a mail are stepped over (`module/filter.rs`).
pub(crate) const fn text_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(b, b'+' | b'/' | b'=' | b'\r' | b'\n')
}

/// Prefers anchors made of rare bytes and few variants: zero, 0xff, space
/// and line ends fill most files, so anchoring on them would verify often.
/// An anchor made only of text bytes costs about one common byte: base64
/// text is stepped over when no anchor is all text (`module/filter.rs`).
/// Anchors may move freely: which `.ndb` match is reported does not
/// depend on them (`compile/order.rs`).
fn anchor_score(variants: &[[u8; 4]], width: usize) -> i64 {
    let common = |b: u8| matches!(b, 0 | 0xff | b' ' | b'\n' | b'\r' | b'\t');
    let v = &variants[0];
    let mut score = 0i64;
    for &b in &v[..width] {
        score += if common(b) { 1 } else { 4 };
    }
    if v[..width].windows(2).all(|p| p[0] == p[1]) {
        score -= 6;
    }
    let text =
        variants.iter().any(|v| v[..width].iter().all(|&b| text_byte(b)));
    score * 4 - variants.len() as i64 - if text { 14 } else { 0 }
}

/// Whether some byte of ClamAV's normalised text (space, and 0x21..=0x7f
/// without capitals) is `b`, or with `nocase` a case variant of it.
fn normal_byte(b: u8, nocase: bool) -> bool {
    let b = if nocase { b.to_ascii_lowercase() } else { b };
    b == b' ' || ((0x21..=0x7f).contains(&b) && !b.is_ascii_uppercase())
}

/// Whether the pattern could match inside normalised text at all. A
/// module whose patterns never can skips the normalised pass: its result
/// is known to be empty.
pub(crate) fn can_match_normalized(elems: &[Elem], nocase: bool) -> bool {
    elems.iter().all(|e| match e {
        Elem::Byte(b) => normal_byte(*b, nocase),
        Elem::Nibble { value, mask } => {
            (0..=255u8).any(|b| b & mask == *value && normal_byte(b, nocase))
        }
        Elem::Set { set, negate: false } => {
            set.iter().any(|b| normal_byte(b, nocase))
        }
        Elem::Alt { alts, negate: false } => {
            alts.iter().any(|a| can_match_normalized(a, nocase))
        }
        Elem::Set { negate: true, .. }
        | Elem::Alt { negate: true, .. }
        | Elem::Any
        | Elem::Gap { .. }
        | Elem::Mark { .. } => true,
    })
}

/// Compiles elements into verification bytecode (see `matcher::code`).
pub(crate) fn compile(elems: &[Elem], nocase: bool) -> Vec<u8> {
    let mut out = Vec::new();
    emit(elems, nocase, elems.len(), &mut out);
    out.push(code::END);
    out
}

fn emit(elems: &[Elem], nocase: bool, total: usize, out: &mut Vec<u8>) {
    let mut i = 0;
    while i < elems.len() {
        match &elems[i] {
            Elem::Byte(_) => {
                let start = i;
                while i < elems.len()
                    && matches!(elems[i], Elem::Byte(_))
                    && i - start < 255
                {
                    i += 1;
                }
                let op = if nocase { code::LIT_NOCASE } else { code::LIT };
                out.push(op);
                out.push((i - start) as u8);
                for e in &elems[start..i] {
                    if let Elem::Byte(b) = e {
                        out.push(if nocase {
                            b.to_ascii_lowercase()
                        } else {
                            *b
                        });
                    }
                }
                continue;
            }
            Elem::Nibble { value, mask } => {
                out.extend([code::MASK, *value, *mask]);
            }
            Elem::Any => {
                let start = i;
                while i < elems.len() && elems[i] == Elem::Any {
                    i += 1;
                }
                out.push(code::SKIP);
                out.extend(((i - start) as u32).to_le_bytes());
                continue;
            }
            Elem::Set { set, negate } => {
                let mut set = *set;
                if nocase {
                    for b in set.iter().collect::<Vec<_>>() {
                        set.insert(b.to_ascii_lowercase());
                        set.insert(b.to_ascii_uppercase());
                    }
                }
                out.push(code::SET);
                out.push(*negate as u8);
                for w in set.0 {
                    out.extend(w.to_le_bytes());
                }
            }
            Elem::Alt { alts, negate } => {
                out.push(code::ALT);
                out.push(*negate as u8);
                out.push(alts.len().min(255) as u8);
                let fixed = elems[i].fixed_len().unwrap_or(0);
                out.extend(fixed.to_le_bytes());
                for a in alts.iter().take(255) {
                    let mut sub = Vec::new();
                    emit(a, nocase, a.len(), &mut sub);
                    sub.push(code::END);
                    out.extend((sub.len() as u32).to_le_bytes());
                    out.extend(sub);
                }
            }
            // A fixed gap is a skip; ClamAV keeps `{n}` at n bytes even
            // in `::w` signatures, so it stays a gap until here.
            Elem::Gap { min, max } if min == max => {
                out.push(code::SKIP);
                out.extend(min.to_le_bytes());
            }
            Elem::Gap { min, max } => {
                out.push(code::GAP);
                out.extend(min.to_le_bytes());
                out.extend(max.to_le_bytes());
            }
            Elem::Mark { kind, negate, before } => {
                // A marker at the start (of the signature or of a part)
                // looks at the byte before the position, anywhere else at
                // the byte after it.
                let side =
                    if *before || (i == 0 && total > 1) { 0 } else { 1 };
                let k = match kind {
                    MarkKind::Boundary => 0,
                    MarkKind::Line => 1,
                    MarkKind::Word => 2,
                };
                out.extend([code::MARK, k, *negate as u8, side]);
            }
        }
        i += 1;
    }
}

mod error;
mod marks;
mod shape;
use marks::place_marks;

#[cfg(test)]
mod tests;
