//! Upack's LZMA variant: 32-bit counters, a range decoder that keeps
//! `low` and reads four big-endian bytes for each bit, and the
//! decoder's state and counters where the stub put them in the image.
//! Some failed bit reads go on with an all-ones bit, as ClamAV's do.

use super::{Mem, add};

/// Offset `a` less offset `b` as signed addresses.
fn lt(a: u64, b: u64) -> bool {
    (a as i64) < (b as i64)
}

/// Upack's range decoder: `at` the input, `range`, and `low`, which is
/// taken off the next four input bytes (big-endian) to give the code.
struct Rc {
    at: u64,
    range: u32,
    low: u32,
}

/// What a failed bit decodes to: ClamAV goes on with it in places.
const FAIL: u32 = u32::MAX;

impl Rc {
    /// One bit with the 32-bit counter at `p`; [`FAIL`] when either is
    /// outside the buffer.
    fn bit(&mut self, mem: &mut Mem, p: u64) -> u32 {
        let bound0 = self.range >> 11;
        if !mem.has(p, 4) || !mem.has(self.at, 4) {
            return FAIL;
        }
        let (Some(prob), Some(word)) = (mem.rd(p), mem.rd(self.at)) else {
            return FAIL;
        };
        let bound = bound0.wrapping_mul(prob);
        let code = word.swap_bytes().wrapping_sub(self.low);
        let bit = if code < bound {
            self.range = bound;
            let _ =
                mem.wr(p, prob.wrapping_add(0x800u32.wrapping_sub(prob) >> 5));
            0
        } else {
            self.low = self.low.wrapping_add(bound);
            self.range = self.range.wrapping_sub(bound);
            let _ = mem.wr(p, prob.wrapping_sub(prob >> 5));
            1
        };
        if self.range & 0xff00_0000 == 0 {
            self.low <<= 8;
            self.range <<= 8;
            self.at += 1;
        }
        bit
    }

    /// A tree of counters at `base` from `m` until `m` reaches `top`:
    /// what is above `top`.
    fn tree(
        &mut self,
        mem: &mut Mem,
        mut m: u32,
        top: u32,
        base: u64,
    ) -> Option<u32> {
        loop {
            let b = self.bit(mem, add(base, m.wrapping_shl(2)));
            if b == FAIL {
                return None;
            }
            m = m.wrapping_add(m).wrapping_add(b);
            if m >= top {
                return Some(m - top);
            }
        }
    }

    /// A length: two choice bits (whose failures ClamAV does not
    /// notice), then a tree of 3, 3 or 8 bits. `aux` carries the tree's
    /// top from one step of the decoder to the next.
    fn len(
        &mut self,
        mem: &mut Mem,
        acc: u32,
        aux: &mut u32,
        at: u64,
    ) -> Option<u32> {
        *aux = (*aux & !0xff) | 8;
        let mut at = at;
        let first = self.bit(mem, at);
        at += 4;
        let mut acc = (acc & !0xff) | 1;
        if first != 0 {
            let second = self.bit(mem, at);
            acc |= 8;
            if second != 0 {
                *aux <<= 5;
                acc = 0x11;
            }
        }
        let t = self.tree(mem, 1, *aux, add(at, acc.wrapping_shl(2)))?;
        Some(acc.wrapping_add(t))
    }
}

/// Upack's LZMA variant into `start..end`, with counters and state at
/// `state`.
pub(super) fn decode(
    mem: &mut Mem,
    state: u64,
    start: u64,
    end: u64,
    shift: u32,
    stream: u64,
) -> Option<()> {
    let mut rc =
        Rc { at: stream, range: mem.rd(state)?, low: mem.rd(state + 4)? };
    let mut reps = [0u32; 6];
    for (i, v) in reps.iter_mut().enumerate() {
        *v = mem.rd(state + 4 * i as u64)?;
    }
    // `kept`: the LZMA state (low byte) carried between steps; `acc`:
    // that state while a step works, its low byte then holding the
    // symbol being built; `aux`: a match's length, then the mask of the
    // byte a literal is matched against (0 when none is). `reps[2..6]`
    // are the four last distances.
    let (mut kept, mut aux, mut out) = (0u32, 0u32, start);
    let len = mem.b.len() as u64;
    loop {
        let mut acc = kept;
        let mut prob_at = add(state, acc.wrapping_shl(2)).wrapping_add(0x58);
        let b = rc.bit(mem, prob_at);
        if b == FAIL {
            return None;
        }
        if b != 0 {
            let low_acc = if acc & 0xff >= 7 { 11 } else { 8 };
            acc = (acc & !0xff) | low_acc;
            let mut dist = reps[2];
            aux = (aux & !0xff) | 0x30;
            prob_at = add(prob_at, aux);
            let b = rc.bit(mem, prob_at);
            if b == FAIL {
                return None;
            }
            if b == 0 {
                // A new distance.
                acc = acc.wrapping_sub(1);
                let t = dist;
                dist = reps[4];
                reps[4] = reps[3];
                reps[3] = t;
                kept = acc;
                reps[5] = dist;
                let n = rc.len(mem, acc, &mut aux, state + 0xbc0)?;
                let slot_set = n.wrapping_sub(1).min(3) << 6;
                let slot = rc.tree(
                    mem,
                    1,
                    0x40,
                    add(state, slot_set.wrapping_shl(2)).wrapping_add(0x378),
                )?;
                dist = slot;
                if slot & 0xff >= 4 {
                    let mut bits = (slot >> 1).wrapping_sub(1);
                    dist = (2 + (slot & 1)).wrapping_shl(bits & 0xff);
                    let mut tree =
                        add(state, dist.wrapping_shl(2)).wrapping_add(0x178);
                    if bits & 0xff > 5 {
                        let mut k = (bits & !0xff) | ((bits & 0xff) - 4);
                        let mut v: u32 = 0;
                        while k != 0 {
                            if !mem.has(rc.at, 4) {
                                return None;
                            }
                            let code = mem
                                .rd(rc.at)?
                                .swap_bytes()
                                .wrapping_sub(rc.low);
                            rc.range >>= 1;
                            v <<= 1;
                            if code >= rc.range {
                                v += 1;
                                rc.low = rc.low.wrapping_add(rc.range);
                            }
                            if rc.range & 0xff00_0000 == 0 {
                                rc.low <<= 8;
                                rc.range <<= 8;
                                rc.at += 1;
                            }
                            k -= 1;
                        }
                        bits = 4;
                        dist = dist.wrapping_add(v << 4);
                        tree = state + 0x18;
                    }
                    let top = 1u32.wrapping_shl(bits & 0xff);
                    let mut r = rc.tree(mem, 1, top, tree)?;
                    let mut rev = ((r as i32) >> 31) as u32;
                    // A count of 0 would take ClamAV 2^32 rounds; it
                    // cannot come out of the slot.
                    for _ in 0..bits.min(32) {
                        rev = rev.wrapping_add(rev).wrapping_add(r & 1);
                        r >>= 1;
                    }
                    dist = dist.wrapping_add(rev);
                }
                dist = dist.wrapping_add(1);
                aux = n;
            } else {
                prob_at = add(prob_at, aux);
                let b = rc.bit(mem, prob_at);
                if b == FAIL {
                    return None;
                }
                if b != 0 {
                    prob_at = prob_at.wrapping_add(0x60);
                    let b = rc.bit(mem, prob_at);
                    if b == FAIL {
                        return None;
                    }
                    if b != 0 {
                        prob_at = add(prob_at, aux);
                        let b = rc.bit(mem, prob_at);
                        if b == FAIL {
                            return None;
                        }
                        let t = dist;
                        dist = reps[4];
                        reps[4] = reps[3];
                        reps[3] = t;
                        if b != 0 {
                            std::mem::swap(&mut dist, &mut reps[5]);
                        }
                    } else {
                        std::mem::swap(&mut dist, &mut reps[3]);
                    }
                } else {
                    prob_at = add(prob_at, aux);
                    let b = rc.bit(mem, prob_at);
                    if b == FAIL {
                        return None;
                    }
                    if b == 0 {
                        // One byte from the last distance.
                        acc |= 1;
                        kept = acc;
                        let from = out.wrapping_sub(u64::from(reps[2]));
                        aux = (aux & !0xff) | 0x80;
                        if !mem.has(from, 1) || !mem.has(out, 1) {
                            return None;
                        }
                        let v = mem.get(from)?;
                        mem.set(out, v)?;
                        out += 1;
                        if lt(out, end) {
                            continue;
                        }
                        return Some(());
                    }
                }
                kept = acc;
                let n = rc.len(mem, acc, &mut aux, state + 0x778)?;
                acc = aux;
                aux = n;
            }
            let from = out.wrapping_sub(u64::from(dist));
            if !mem.has(out, u64::from(aux))
                || !mem.has(from, u64::from(aux) + 1)
            {
                return None;
            }
            reps[2] = dist;
            for k in 0..u64::from(aux) {
                let v = mem.get(from + k)?;
                mem.set(out + k, v)?;
            }
            out += u64::from(aux);
            acc = (acc & !0xff) | u32::from(mem.get(from + u64::from(aux))?);
            aux = 0x80;
        } else {
            // A literal, matched against the byte at the last distance
            // after a match.
            let mut low_acc = acc & 0xff;
            loop {
                low_acc = low_acc.saturating_sub(3);
                if low_acc < 7 {
                    break;
                }
            }
            acc = (acc & !0xff) | low_acc;
            kept = acc;
            let ctx = if lt(start, out) && lt(out, len) {
                u32::from(mem.get(out - 1)?) >> shift
            } else {
                0
            };
            let coder = add(state, ctx.wrapping_mul(0x300).wrapping_shl(2))
                .wrapping_add(0x1008);
            acc = (acc & !0xff) | 1;
            if aux != 0 {
                let mut mask = aux as u8;
                let m = out.wrapping_sub(u64::from(reps[2]));
                if !mem.has(m, 1) {
                    return None;
                }
                loop {
                    let mb = mem.get(m)?;
                    acc = (acc & 0xffff_00ff)
                        | if mb & mask != 0 { 0x200 } else { 0x100 };
                    let r = rc.bit(mem, add(coder, acc.wrapping_shl(2)));
                    let a = (acc as u8)
                        .wrapping_add(acc as u8)
                        .wrapping_add(r as u8);
                    acc = (acc & !0xff) | u32::from(a);
                    mask >>= 1;
                    if mask == 0 {
                        break;
                    }
                    let high_acc = ((acc >> 8) as u8).wrapping_sub(a) & 1;
                    if high_acc == 0 {
                        acc = (acc & 0xffff_0000) | u32::from(a);
                        acc = rc.tree(mem, acc, 0x100, coder)?;
                        break;
                    }
                }
            } else {
                aux = (aux & 0xffff_00ff) | 0x100;
                acc = rc.tree(mem, acc, aux, coder)?;
            }
            aux = 0;
        }
        if !mem.has(out, 1) {
            return None;
        }
        mem.set(out, acc as u8)?;
        out += 1;
        if !lt(out, end) {
            return Some(());
        }
    }
}
