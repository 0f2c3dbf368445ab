//! Verification of one candidate: runs a pattern's bytecode at a start
//! position.
//!
//! The bytecode comes from a mapped module file, so it is untrusted here:
//! every read is bounds-checked, recursion is capped and each run has a step
//! budget. A malformed program simply fails to match; it never panics.

/// Bytecode operations. Integers are little-endian.
pub(crate) mod code {
    /// End of the program: the match ends here.
    pub(crate) const END: u8 = 0;
    /// `n:u8` then `n` bytes that must match exactly.
    pub(crate) const LIT: u8 = 1;
    /// `n:u8` then `n` lowercase bytes matched ASCII-case-insensitively.
    pub(crate) const LIT_NOCASE: u8 = 2;
    /// `value:u8 mask:u8`: `data & mask == value`.
    pub(crate) const MASK: u8 = 3;
    /// `n:u32`: skip `n` arbitrary bytes.
    pub(crate) const SKIP: u8 = 4;
    /// `negate:u8` then a 256-bit set (4 × u64).
    pub(crate) const SET: u8 = 5;
    /// `negate:u8 count:u8 fixed_len:u32`, then `count` × (`len:u32` and a
    /// sub-program of `len` bytes ending in `END`).
    pub(crate) const ALT: u8 = 6;
    /// `min:u32 max:u32`: a gap; `max == u32::MAX` is unbounded.
    pub(crate) const GAP: u8 = 7;
    /// `kind:u8 negate:u8 side:u8`: a zero-width (B)/(L)/(W) test.
    pub(crate) const MARK: u8 = 8;
}

/// How far one verification may go before it gives up: enough for any
/// real signature, small enough that a crafted file cannot stall a scan.
const STEP_BUDGET: u32 = 1 << 20;
const MAX_DEPTH: u32 = 64;

/// ClamAV's boundary classes for `(B)`: 1 = may precede a word, 2 = may
/// follow one, 3 = both.
static BOUNDARY: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'\n' as usize] = 2;
    t[b'\r' as usize] = 2;
    t[b' ' as usize] = 3;
    t[b'"' as usize] = 2;
    t[b'\'' as usize] = 2;
    t[b'-' as usize] = 3;
    t[b'.' as usize] = 1;
    t[b'/' as usize] = 3;
    t[b'<' as usize] = 1;
    t[b'=' as usize] = 2;
    t[b'>' as usize] = 2;
    t[b'@' as usize] = 1;
    t[b'_' as usize] = 3;
    t
};

/// Whether `b` is one of ClamAV's `(B)` boundary bytes (on either side).
pub(crate) fn is_boundary(b: u8) -> bool {
    BOUNDARY[b as usize] != 0
}

struct Run<'a> {
    data: &'a [u8],
    steps: u32,
}

/// Returns where the match ends if the program matches at `start`.
#[cfg(test)]
pub(crate) fn verify(prog: &[u8], data: &[u8], start: usize) -> Option<usize> {
    let mut pool = u64::MAX;
    verify_within(prog, data, start, &mut pool)
}

/// Like `verify`, drawing its steps from `pool` too, the budget of a whole
/// pass: many candidates of a gapped pattern over a crafted buffer would
/// otherwise cost time quadratic in its length. An empty pool fails every
/// check; the caller sees the pool at zero and reports the object as not
/// fully scanned.
pub(crate) fn verify_within(
    prog: &[u8],
    data: &[u8],
    start: usize,
    pool: &mut u64,
) -> Option<usize> {
    let steps = STEP_BUDGET.min(u32::try_from(*pool).unwrap_or(u32::MAX));
    let mut run = Run { data, steps };
    let r = run.at(prog, 0, start, 0);
    *pool -= u64::from(steps - run.steps).min(*pool);
    r
}

fn u32_at(p: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_le_bytes(p.get(i..i.checked_add(4)?)?.try_into().ok()?))
}

impl Run<'_> {
    fn tick(&mut self, n: u32) -> Option<()> {
        self.steps = self.steps.checked_sub(n.max(1))?;
        Some(())
    }

    fn at(
        &mut self,
        prog: &[u8],
        mut pc: usize,
        mut pos: usize,
        depth: u32,
    ) -> Option<usize> {
        if depth > MAX_DEPTH {
            return None;
        }
        let data = self.data;
        loop {
            self.tick(1)?;
            match *prog.get(pc)? {
                code::END => return Some(pos),
                op @ (code::LIT | code::LIT_NOCASE) => {
                    let n = *prog.get(pc + 1)? as usize;
                    let want = prog.get(pc + 2..pc + 2 + n)?;
                    let have = data.get(pos..pos.checked_add(n)?)?;
                    let ok = if op == code::LIT {
                        want == have
                    } else {
                        want.iter()
                            .zip(have)
                            .all(|(w, h)| *w == h.to_ascii_lowercase())
                    };
                    if !ok {
                        return None;
                    }
                    pos += n;
                    pc += 2 + n;
                }
                code::MASK => {
                    let value = *prog.get(pc + 1)?;
                    let mask = *prog.get(pc + 2)?;
                    if *data.get(pos)? & mask != value {
                        return None;
                    }
                    pos += 1;
                    pc += 3;
                }
                code::SKIP => {
                    let n = u32_at(prog, pc + 1)? as usize;
                    pos = pos.checked_add(n)?;
                    if pos > data.len() {
                        return None;
                    }
                    pc += 5;
                }
                code::SET => {
                    let negate = *prog.get(pc + 1)? != 0;
                    let b = *data.get(pos)?;
                    let word = pc + 2 + (b as usize >> 6) * 8;
                    let w = u64::from_le_bytes(
                        prog.get(word..word + 8)?.try_into().ok()?,
                    );
                    if (w >> (b & 63) & 1 == 1) == negate {
                        return None;
                    }
                    pos += 1;
                    pc += 34;
                }
                code::ALT => {
                    let negate = *prog.get(pc + 1)? != 0;
                    let count = *prog.get(pc + 2)? as usize;
                    let fixed = u32_at(prog, pc + 3)? as usize;
                    let mut p = pc + 7;
                    let mut subs = Vec::with_capacity(count);
                    for _ in 0..count {
                        let len = u32_at(prog, p)? as usize;
                        let sub =
                            prog.get(p + 4..(p + 4).checked_add(len)?)?;
                        subs.push(sub);
                        p += 4 + len;
                    }
                    if negate {
                        for sub in &subs {
                            if self.at(sub, 0, pos, depth + 1).is_some() {
                                return None;
                            }
                        }
                        pos = pos.checked_add(fixed)?;
                        if pos > data.len() {
                            return None;
                        }
                        pc = p;
                    } else {
                        // Alternates may differ in length: try each with
                        // the rest of the program.
                        for sub in &subs {
                            if let Some(end) = self.at(sub, 0, pos, depth + 1)
                                && let Some(m) =
                                    self.at(prog, p, end, depth + 1)
                            {
                                return Some(m);
                            }
                        }
                        return None;
                    }
                }
                code::GAP => {
                    let min = u32_at(prog, pc + 1)? as usize;
                    let max = u32_at(prog, pc + 5)?;
                    let next = pc + 9;
                    let lo = pos.checked_add(min)?;
                    let hi = if max == u32::MAX {
                        data.len()
                    } else {
                        pos.saturating_add(max as usize).min(data.len())
                    };
                    return self.gap(prog, next, lo, hi, depth);
                }
                code::MARK => {
                    let kind = *prog.get(pc + 1)?;
                    let negate = *prog.get(pc + 2)? != 0;
                    let side = *prog.get(pc + 3)?;
                    if mark_holds(data, pos, kind, side) == negate {
                        return None;
                    }
                    pc += 4;
                }
                _ => return None,
            }
        }
    }

    /// Tries every start of the rest of the program in `lo..=hi`; when the
    /// rest begins with a literal, only positions of its first byte.
    fn gap(
        &mut self,
        prog: &[u8],
        next: usize,
        lo: usize,
        hi: usize,
        depth: u32,
    ) -> Option<usize> {
        if lo > hi {
            return None;
        }
        let data = self.data;
        let first = match prog.get(next) {
            Some(&code::LIT) if prog.get(next + 1).is_some_and(|n| *n > 0) => {
                prog.get(next + 2).copied()
            }
            _ => None,
        };
        let mut p = lo;
        while p <= hi {
            if let Some(b) = first {
                let w =
                    data.get(p..hi.min(data.len().saturating_sub(1)) + 1)?;
                // Searching costs steps too, found or not.
                let off = memchr::memchr(b, w);
                self.tick((off.unwrap_or(w.len()) / 64) as u32)?;
                p += off?;
            }
            if let Some(m) = self.at(prog, next, p, depth + 1) {
                return Some(m);
            }
            p += 1;
        }
        None
    }
}

fn mark_holds(data: &[u8], pos: usize, kind: u8, side: u8) -> bool {
    if side == 0 {
        let Some(prev) = pos.checked_sub(1).and_then(|i| data.get(i)) else {
            return true;
        };
        match kind {
            0 => matches!(BOUNDARY[*prev as usize], 1 | 3),
            1 => *prev == b'\n',
            _ => !prev.is_ascii_alphanumeric(),
        }
    } else {
        let Some(&next) = data.get(pos) else { return true };
        match kind {
            0 => BOUNDARY[next as usize] >= 2,
            1 => {
                next == b'\n'
                    || (next == b'\r' && data.get(pos + 1) == Some(&b'\n'))
            }
            _ => !next.is_ascii_alphanumeric(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigs::body::{compile, parse};

    fn m(sig: &str, data: &[u8], start: usize) -> Option<usize> {
        verify(&compile(&parse(sig).unwrap(), false), data, start)
    }

    #[test]
    fn literals_wildcards_nibbles() {
        assert_eq!(m("41424344", b"xABCDx", 1), Some(5));
        assert_eq!(m("41??43", b"AzC", 0), Some(3));
        assert_eq!(m("4?42", b"OB", 0), Some(2));
        assert_eq!(m("?f42", b"OB", 0), Some(2));
        assert_eq!(m("?f42", b"AB", 0), None);
        assert_eq!(m("41424344", b"ABC", 0), None);
    }

    #[test]
    fn gaps() {
        assert_eq!(m("4142{2-4}4344", b"AB12CD", 0), Some(6));
        assert_eq!(m("4142{2-4}4344", b"AB1234CD", 0), Some(8));
        assert_eq!(m("4142{2-4}4344", b"AB12345CD", 0), None);
        assert_eq!(m("4142{2-4}4344", b"ABCD", 0), None);
        assert_eq!(m("4142*4344", b"AB...........CD", 0), Some(15));
        assert_eq!(m("4142{-2}4344", b"ABCD", 0), Some(4));
        assert_eq!(m("4142{3-}4344", b"AB12CD", 0), None);
        assert_eq!(m("4142{3-}4344", b"AB123CD", 0), Some(7));
        // The first "CD" is too close; a later one satisfies the minimum.
        assert_eq!(m("4142{3-}4344", b"ABCD..CD", 0), Some(8));
    }

    #[test]
    fn sets_and_alternates() {
        assert_eq!(m("41(42|43)44", b"ACD", 0), Some(3));
        assert_eq!(m("41!(42|43)44", b"ACD", 0), None);
        assert_eq!(m("41!(42|43)44", b"AED", 0), Some(3));
        assert_eq!(m("41(4243|4445)46", b"ADEF", 0), Some(4));
        assert_eq!(m("41!(4243|4445)46", b"ADEF", 0), None);
        assert_eq!(m("41(42|4343)44", b"ACCD", 0), Some(4));
        assert_eq!(m("41(42|4343)44", b"ABD", 0), Some(3));
    }

    #[test]
    fn nocase() {
        let p = compile(&parse("41626364").unwrap(), true);
        assert_eq!(verify(&p, b"aBcD", 0), Some(4));
    }

    #[test]
    fn markers() {
        assert_eq!(m("(W)41424344(W)", b"x ABCD.", 2), Some(6));
        assert_eq!(m("(W)41424344(W)", b"xABCD.", 1), None);
        assert_eq!(m("(L)41424344", b"z\nABCD", 2), Some(6));
        assert_eq!(m("41424344(L)", b"ABCD\r\n", 0), Some(4));
        assert_eq!(m("41424344(L)", b"ABCDx", 0), None);
        assert_eq!(m("(B)41424344", b"ABCD", 0), Some(4));
    }

    #[test]
    fn malformed_code_never_panics() {
        for prog in
            [&[7u8, 1][..], &[1, 200, 1], &[6, 0, 3, 0, 0, 0, 0, 9], &[5]]
        {
            assert_eq!(verify(prog, b"abcdef", 0), None);
        }
    }
}
