//! The shape ClamAV's loader demands of a body signature: where gaps
//! may go, two fixed bytes in a row in each part, and what its prefilter
//! can index.

use super::Elem;

/// `jumps_at`: where `[n-m]` jumps are, to hold each part to ClamAV's
/// two fixed bytes in a row (`None`: not checked).
pub(super) fn check_shape(
    elems: &[Elem],
    fixed_at: &[usize],
    jumps_at: Option<&[usize]>,
    wide: bool,
) -> Result<(), String> {
    // A gap is a run of arbitrary bytes between two parts; an expanded
    // `{n}` is n wildcard bytes, which may also begin or end it.
    let is_gap = |i: usize| {
        matches!(elems[i], Elem::Gap { .. }) && !fixed_at.contains(&i)
    };
    if elems.is_empty() {
        return Err("empty body signature".into());
    }
    if is_gap(0) || is_gap(elems.len() - 1) {
        return Err("a signature may not start or end with a gap".into());
    }
    if elems.iter().all(|e| matches!(e, Elem::Gap { .. })) {
        return Err("a signature of wildcards only".into());
    }
    for i in 1..elems.len() {
        if is_gap(i) && is_gap(i - 1) {
            return Err("two gaps in a row".into());
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
            return Err("each part of a signature needs two fixed bytes in a row (clamscan refuses it)".into());
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
) -> Result<(), String> {
    let jump = |k: usize| jumps_at.contains(&(start + k));
    let (mut from, mut to) = (0, part.len());
    if to >= 2 && jump(1) {
        from = 2;
    }
    if to >= from + 2 && jump(to - 2) {
        to -= 2;
    }
    let units = &part[from..to];
    let last = units.len().saturating_sub(1);
    // The bytes it reads, each `true` for any byte (`??`).
    let mut read: Vec<bool> = Vec::new();
    let mut leading = true;
    for (k, e) in units.iter().enumerate() {
        let stop = match e {
            // A marker at either end is a flag of the part.
            Elem::Mark { .. } if k == 0 || k == last => continue,
            Elem::Alt { .. } | Elem::Mark { .. } => true,
            _ => false,
        };
        if stop && leading {
            continue;
        }
        leading = false;
        if stop {
            break;
        }
        match e {
            Elem::Gap { min, .. }
                if fixed_at.contains(&(start + from + k)) =>
            {
                read.extend((0..(*min).min(255)).map(|_| true));
            }
            _ => read.push(matches!(e, Elem::Any)),
        }
    }
    // It indexes a pair of neighbouring bytes, and refuses a pair of
    // two `??` (so a run of them alone).
    if !read.windows(2).any(|w| !(w[0] && w[1])) {
        return Err("clamscan's prefilter needs two neighbouring bytes, not both ??, before the first multi-byte alternative or inner marker of a part (clamscan refuses it)".into());
    }
    Ok(())
}
