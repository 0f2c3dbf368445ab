//! The shape ClamAV's loader demands of a body signature: where gaps
//! may go, two fixed bytes in a row in each part, and what its prefilter
//! can index.

use super::Elem;

/// A pattern the hex grammar reads but ClamAV's loader refuses, and with
/// it the whole database: clamscan fails where such a line stands.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShapeError {
    /// Nothing to match.
    #[error("empty body signature")]
    Empty,
    /// A gap needs a part on either side.
    #[error("a signature may not start or end with a gap")]
    GapAtEnd,
    /// Nothing but gaps and wildcards: it would match anywhere.
    #[error("a signature of wildcards only")]
    WildcardsOnly,
    /// Two gaps with no part between them.
    #[error("two gaps in a row")]
    TwoGaps,
    /// A part too short for ClamAV's Aho-Corasick trie.
    #[error(
        "each part of a signature needs two fixed bytes in a row (clamscan refuses it)"
    )]
    NoFixedPair,
    /// A part ClamAV's prefilter cannot index.
    #[error(
        "clamscan's prefilter needs two neighbouring bytes, not both ??, before the first multi-byte alternative or inner marker of a part (clamscan refuses it)"
    )]
    Prefilter,
    /// A `[n-m]` jump that is not beside a single byte at either end of
    /// its part.
    #[error(
        "'{part}': a [n-m] jump needs a single byte at the start or the end of the signature beside it (clamscan refuses it)"
    )]
    JumpNotAnchored {
        /// The part, with the `{n}` ClamAV expands written as `??`.
        part: String,
    },
}

/// `jumps_at`: where `[n-m]` jumps are, to hold each part to ClamAV's
/// two fixed bytes in a row (`None`: not checked).
pub(super) fn check_shape(
    elems: &[Elem],
    fixed_at: &[usize],
    jumps_at: Option<&[usize]>,
    wide: bool,
) -> Result<(), ShapeError> {
    // A gap is a run of arbitrary bytes between two parts; an expanded
    // `{n}` is n wildcard bytes, which may also begin or end it.
    let is_gap = |i: usize| {
        matches!(elems[i], Elem::Gap { .. }) && !fixed_at.contains(&i)
    };
    if elems.is_empty() {
        return Err(ShapeError::Empty);
    }
    if is_gap(0) || is_gap(elems.len() - 1) {
        return Err(ShapeError::GapAtEnd);
    }
    if elems.iter().all(|e| matches!(e, Elem::Gap { .. })) {
        return Err(ShapeError::WildcardsOnly);
    }
    for i in 1..elems.len() {
        if is_gap(i) && is_gap(i - 1) {
            return Err(ShapeError::TwoGaps);
        }
    }
    // ClamAV's Aho-Corasick trie needs two fixed bytes in a row in each
    // part (what `*` and `{n-m}` separate) and refuses the database
    // otherwise ("too short"): `4142*43`, `41??42`, `(41|42)(43|44)`.
    let Some(jumps_at) = jumps_at else { return Ok(()) };
    let mut start = 0;
    for i in 0..=elems.len() {
        let splits = i == elems.len() || (is_gap(i) && !jumps_at.contains(&i));
        if !splits {
            continue;
        }
        let part = &elems[start..i];
        let fixed = |w: &[Elem]| matches!(w, [Elem::Byte(_), Elem::Byte(_)]);
        // Widened, a literal byte and its 00 are two fixed bytes.
        let holds = if wide {
            part.iter().any(|e| matches!(e, Elem::Byte(_)))
        } else {
            part.windows(2).any(fixed)
        };
        if !holds {
            return Err(ShapeError::NoFixedPair);
        }
        if !wide {
            prefilter_fits(part, jumps_at, start, fixed_at)?;
        }
        start = i + 1;
    }
    Ok(())
}

/// ClamAV's prefilter reads a part from its start (past leading
/// multi-byte alternatives) up to the first multi-byte alternative or
/// inner marker, and refuses the whole database when no two neighbouring
/// bytes there are other than `????`: `41(4243|4445)4647`, `41(B)4243`
/// and `{4}(4243|44)4546` load nowhere. A marker at either end of a part is a flag, not in the way;
/// an anchored `X[n-m]` jump at either end is taken off first.
fn prefilter_fits(
    part: &[Elem],
    jumps_at: &[usize],
    start: usize,
    fixed_at: &[usize],
) -> Result<(), ShapeError> {
    let jump = |k: usize| jumps_at.contains(&(start + k));
    let (mut from, mut to) = (0, part.len());
    if to >= 2 && jump(1) {
        from = 2;
    }
    if to >= from + 2 && jump(to - 2) {
        to -= 2;
    }
    let elems = &part[from..to];
    let last = elems.len().saturating_sub(1);
    // What it reads, unit by unit: `None` for a multi-byte alternative or
    // an inner marker, else how many byte values the unit takes.
    let mut units: Vec<Option<u32>> = Vec::new();
    for (k, e) in elems.iter().enumerate() {
        match e {
            // A marker at either end is a flag of the part.
            Elem::Mark { .. } if k == 0 || k == last => {}
            Elem::Alt { .. } | Elem::Mark { .. } => units.push(None),
            Elem::Gap { min, .. }
                if fixed_at.contains(&(start + from + k)) =>
            {
                units.extend((0..(*min).min(256)).map(|_| Some(256)));
            }
            Elem::Any | Elem::Gap { .. } => units.push(Some(256)),
            Elem::Nibble { .. } => units.push(Some(16)),
            Elem::Set { set, .. } => units.push(Some(set.len())),
            Elem::Byte(_) => units.push(Some(1)),
        }
    }
    // It looks at no more than 255 units (its MAXPATLEN), from the first
    // after any leading alternatives or markers to the next.
    units.truncate(255);
    let read: Vec<u32> =
        units.iter().skip_while(|u| u.is_none()).map_while(|u| *u).collect();
    // It indexes a pair of neighbouring units, and refuses a pair that
    // takes every pair of byte values (two `??`).
    if !read.windows(2).any(|w| w[0] * w[1] != 65_536) {
        return Err(ShapeError::Prefilter);
    }
    Ok(())
}
