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
    /// notice), then a tree of 3, 3 or 8 bits. `ecx` is the register
    /// ClamAV threads through.
    fn len(
        &mut self,
        mem: &mut Mem,
        eax: u32,
        ecx: &mut u32,
        at: u64,
    ) -> Option<u32> {
        *ecx = (*ecx & !0xff) | 8;
        let mut at = at;
        let first = self.bit(mem, at);
        at += 4;
        let mut eax = (eax & !0xff) | 1;
        if first != 0 {
            let second = self.bit(mem, at);
            eax |= 8;
            if second != 0 {
                *ecx <<= 5;
                eax = 0x11;
            }
        }
        let t = self.tree(mem, 1, *ecx, add(at, eax.wrapping_shl(2)))?;
        Some(eax.wrapping_add(t))
    }
}

/// Upack's LZMA variant into `edi..end`, with counters and state at
/// `ebx`.
pub(super) fn decode(
    mem: &mut Mem,
    ebx: u64,
    start: u64,
    end: u64,
    shift: u32,
    stream: u64,
) -> Option<()> {
    let mut rc = Rc { at: stream, range: mem.rd(ebx)?, low: mem.rd(ebx + 4)? };
    let mut st = [0u32; 6];
    for (i, v) in st.iter_mut().enumerate() {
        *v = mem.rd(ebx + 4 * i as u64)?;
    }
    let (mut eax_copy, mut ecx, mut edi) = (0u32, 0u32, start);
    let len = mem.b.len() as u64;
    loop {
        let mut eax = eax_copy;
        let mut edx = add(ebx, eax.wrapping_shl(2)).wrapping_add(0x58);
        let b = rc.bit(mem, edx);
        if b == FAIL {
            return None;
        }
        if b != 0 {
            let al = if eax & 0xff >= 7 { 11 } else { 8 };
            eax = (eax & !0xff) | al;
            let mut ebp = st[2];
            ecx = (ecx & !0xff) | 0x30;
            edx = add(edx, ecx);
            let b = rc.bit(mem, edx);
            if b == FAIL {
                return None;
            }
            if b == 0 {
                // A new distance.
                eax = eax.wrapping_sub(1);
                let t = ebp;
                ebp = st[4];
                st[4] = st[3];
                st[3] = t;
                eax_copy = eax;
                st[5] = ebp;
                let n = rc.len(mem, eax, &mut ecx, ebx + 0xbc0)?;
                let slot_set = n.wrapping_sub(1).min(3) << 6;
                let slot = rc.tree(
                    mem,
                    1,
                    0x40,
                    add(ebx, slot_set.wrapping_shl(2)).wrapping_add(0x378),
                )?;
                ebp = slot;
                if slot & 0xff >= 4 {
                    let mut bits = (slot >> 1).wrapping_sub(1);
                    ebp = (2 + (slot & 1)).wrapping_shl(bits & 0xff);
                    let mut tree =
                        add(ebx, ebp.wrapping_shl(2)).wrapping_add(0x178);
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
                        ebp = ebp.wrapping_add(v << 4);
                        tree = ebx + 0x18;
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
                    ebp = ebp.wrapping_add(rev);
                }
                ebp = ebp.wrapping_add(1);
                ecx = n;
            } else {
                edx = add(edx, ecx);
                let b = rc.bit(mem, edx);
                if b == FAIL {
                    return None;
                }
                if b != 0 {
                    edx = edx.wrapping_add(0x60);
                    let b = rc.bit(mem, edx);
                    if b == FAIL {
                        return None;
                    }
                    if b != 0 {
                        edx = add(edx, ecx);
                        let b = rc.bit(mem, edx);
                        if b == FAIL {
                            return None;
                        }
                        let t = ebp;
                        ebp = st[4];
                        st[4] = st[3];
                        st[3] = t;
                        if b != 0 {
                            std::mem::swap(&mut ebp, &mut st[5]);
                        }
                    } else {
                        std::mem::swap(&mut ebp, &mut st[3]);
                    }
                } else {
                    edx = add(edx, ecx);
                    let b = rc.bit(mem, edx);
                    if b == FAIL {
                        return None;
                    }
                    if b == 0 {
                        // One byte from the last distance.
                        eax |= 1;
                        eax_copy = eax;
                        let from = edi.wrapping_sub(u64::from(st[2]));
                        ecx = (ecx & !0xff) | 0x80;
                        if !mem.has(from, 1) || !mem.has(edi, 1) {
                            return None;
                        }
                        let v = mem.get(from)?;
                        mem.set(edi, v)?;
                        edi += 1;
                        if lt(edi, end) {
                            continue;
                        }
                        return Some(());
                    }
                }
                eax_copy = eax;
                let n = rc.len(mem, eax, &mut ecx, ebx + 0x778)?;
                eax = ecx;
                ecx = n;
            }
            let from = edi.wrapping_sub(u64::from(ebp));
            if !mem.has(edi, u64::from(ecx))
                || !mem.has(from, u64::from(ecx) + 1)
            {
                return None;
            }
            st[2] = ebp;
            for k in 0..u64::from(ecx) {
                let v = mem.get(from + k)?;
                mem.set(edi + k, v)?;
            }
            edi += u64::from(ecx);
            eax = (eax & !0xff) | u32::from(mem.get(from + u64::from(ecx))?);
            ecx = 0x80;
        } else {
            // A literal, matched against the byte at the last distance
            // after a match.
            let mut al = eax & 0xff;
            loop {
                al = al.saturating_sub(3);
                if al < 7 {
                    break;
                }
            }
            eax = (eax & !0xff) | al;
            eax_copy = eax;
            let ctx = if lt(start, edi) && lt(edi, len) {
                u32::from(mem.get(edi - 1)?) >> shift
            } else {
                0
            };
            let coder = add(ebx, ctx.wrapping_mul(0x300).wrapping_shl(2))
                .wrapping_add(0x1008);
            eax = (eax & !0xff) | 1;
            if ecx != 0 {
                let mut cl = ecx as u8;
                let m = edi.wrapping_sub(u64::from(st[2]));
                if !mem.has(m, 1) {
                    return None;
                }
                loop {
                    let mb = mem.get(m)?;
                    eax = (eax & 0xffff_00ff)
                        | if mb & cl != 0 { 0x200 } else { 0x100 };
                    let r = rc.bit(mem, add(coder, eax.wrapping_shl(2)));
                    let a = (eax as u8)
                        .wrapping_add(eax as u8)
                        .wrapping_add(r as u8);
                    eax = (eax & !0xff) | u32::from(a);
                    cl >>= 1;
                    if cl == 0 {
                        break;
                    }
                    let ah = ((eax >> 8) as u8).wrapping_sub(a) & 1;
                    if ah == 0 {
                        eax = (eax & 0xffff_0000) | u32::from(a);
                        eax = rc.tree(mem, eax, 0x100, coder)?;
                        break;
                    }
                }
            } else {
                ecx = (ecx & 0xffff_00ff) | 0x100;
                eax = rc.tree(mem, eax, ecx, coder)?;
            }
            ecx = 0;
        }
        if !mem.has(edi, 1) {
            return None;
        }
        mem.set(edi, eax as u8)?;
        edi += 1;
        if !lt(edi, end) {
            return Some(());
        }
    }
}
