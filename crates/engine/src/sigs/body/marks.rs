//! Where `(B)`, `(L)` and `(W)` stand decides what they test.

use super::{ByteSet, Elem, MarkKind};

/// `(B)`, `(L)` and `(W)` as ClamAV reads them where they stand: one
/// that opens a part (the signature, or what follows a `*`, `{n-m}` or
/// `[n-m]`;
/// not negated, since ClamAV looks for its parenthesis first in the part)
/// tests the byte before it, one that closes a part the byte after it,
/// and one anywhere else is a byte of its class (`4142(B)4344` matches
/// `AB CD`, not `ABCD`; `(B)(L)4142` wants a line end before `AB`).
pub(super) fn place_marks(elems: &mut [Elem], fixed_at: &[usize]) {
    // A `[n-m]` jump ends the part for its markers: ClamAV takes the
    // jump and its single byte off before it reads them.
    let splits = |i: usize, e: &[Elem]| {
        matches!(e[i], Elem::Gap { .. }) && !fixed_at.contains(&i)
    };
    let mut start = 0;
    for i in 0..=elems.len() {
        if i < elems.len() && !splits(i, elems) {
            continue;
        }
        let part = &mut elems[start..i];
        let n = part.len();
        for (j, e) in part.iter_mut().enumerate() {
            let Elem::Mark { kind, negate, before } = e else { continue };
            if j == 0 && !*negate {
                *before = true;
            } else if j + 1 < n {
                let mut set = ByteSet::default();
                for b in 0..=255u8 {
                    let class = match kind {
                        MarkKind::Boundary => crate::matcher::is_boundary(b),
                        MarkKind::Line => b == b'\n',
                        MarkKind::Word => !b.is_ascii_alphanumeric(),
                    };
                    if class {
                        set.insert(b);
                    }
                }
                *e = Elem::Set { set, negate: *negate };
            }
        }
        start = i + 1;
    }
}
