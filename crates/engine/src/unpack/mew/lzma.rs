//! MEW's LZMA variant (lc=4, lp=0, pb=2), decoded the way ClamAV's
//! model of MEW's own decoder does it: the 16-bit probabilities sit in
//! the image at an address the stream names, so the rebuilt file keeps
//! them; a block header names its output address and length, and an
//! "already matched" flag rather than the state decides between plain
//! and matched literals. A "special" stream is one block whose calls and
//! jumps are then turned back from absolute to relative addresses.

use super::{Mem, Work, add};

/// Bytes of probabilities the stream's tables take.
const TABLES: u32 = 0x6e6c;

/// More blocks than this are not decoded: each one costs a fill of its
/// tables, and MEW writes one per packed section.
const MAX_BLOCKS: u32 = 4096;

/// The range decoder: `at` is the next input byte, `range` and `code`
/// as in LZMA.
struct Rc {
    at: u64,
    range: u32,
    code: u32,
}

impl Rc {
    /// One bit with the probability at `p` (a 16-bit counter in a 32-bit
    /// slot ClamAV reads whole).
    fn bit(&mut self, mem: &mut Mem, p: u64) -> Option<u32> {
        if !mem.has(p, 4) || !mem.has(self.at, 1) {
            return None;
        }
        let prob = mem.rd(p)? & 0xffff;
        let bound = (self.range >> 11).wrapping_mul(prob);
        let (bit, new) = if self.code < bound {
            self.range = bound;
            let step = (0x800i32.wrapping_sub(prob as i32)) >> 5;
            (0, prob.wrapping_add(step as u32))
        } else {
            self.range = self.range.wrapping_sub(bound);
            self.code = self.code.wrapping_sub(bound);
            (1, prob.wrapping_sub(prob >> 5))
        };
        let lo = (new as u16).to_le_bytes();
        mem.set(p, lo[0])?;
        mem.set(p + 1, lo[1])?;
        if self.range < 0x100_0000 {
            let b = mem.get(self.at)?;
            self.code = (self.code << 8) | u32::from(b);
            self.at += 1;
            self.range <<= 8;
        }
        Some(bit)
    }

    /// `n` bits through the tree of probabilities at `base`, most
    /// significant first.
    fn tree(&mut self, mem: &mut Mem, base: u64, n: u32) -> Option<u32> {
        let mut m: u32 = 1;
        for _ in 0..n {
            let i = m.wrapping_add(m);
            m = self.bit(mem, add(base, i))?.wrapping_add(i);
        }
        Some(m.wrapping_sub(1 << n))
    }

    /// `n` bits through a tree, least significant first.
    fn reverse(&mut self, mem: &mut Mem, base: u64, n: u32) -> Option<u32> {
        let (mut m, mut v) = (1u32, 0u32);
        for i in 0..n {
            let j = m.wrapping_add(m);
            let b = self.bit(mem, add(base, j))?;
            m = j.wrapping_add(b);
            v |= b.wrapping_shl(i);
        }
        Some(v)
    }

    /// `n` bits without probabilities.
    fn direct(&mut self, mem: &Mem, n: u32) -> Option<u32> {
        let mut v: u32 = 0;
        for _ in 0..n {
            self.range >>= 1;
            v <<= 1;
            if self.code >= self.range {
                self.code -= self.range;
                v |= 1;
            }
            if self.range < 0x100_0000 {
                if !mem.has(self.at, 1) {
                    return None;
                }
                self.code = (self.code << 8) | u32::from(mem.get(self.at)?);
                self.range <<= 8;
                self.at += 1;
            }
        }
        Some(v)
    }

    /// A match length less 2 from the coder at `base`.
    fn len(&mut self, mem: &mut Mem, base: u64, pos: u32) -> Option<u32> {
        let ps = pos.wrapping_shl(4);
        if self.bit(mem, base)? == 0 {
            return self.tree(mem, add(base + 4, ps), 3);
        }
        if self.bit(mem, base + 2)? == 0 {
            return Some(
                self.tree(mem, add(base + 0x104, ps), 3)?.wrapping_add(8),
            );
        }
        Some(self.tree(mem, base + 0x204, 8)?.wrapping_add(0x10))
    }

    /// A literal matched against `byte`, with the coder at `base`.
    fn matched(&mut self, mem: &mut Mem, base: u64, byte: u8) -> Option<u8> {
        let mut z = byte;
        let mut mbit = u32::from(z >> 7);
        z <<= 1;
        let mut b = self.bit(mem, add(base, (mbit << 9) + 0x202))?;
        let mut sym = b | 2;
        while mbit == b {
            if sym >= 0x100 {
                return Some(sym as u8);
            }
            mbit = u32::from(z >> 7);
            z <<= 1;
            let i = ((mbit + 1) << 8).wrapping_add(sym);
            b = self.bit(mem, add(base, i.wrapping_mul(2)))?;
            sym = sym.wrapping_add(sym) | b;
        }
        while sym < 0x100 {
            sym += sym;
            sym |= self.bit(mem, add(base, sym))?;
        }
        Some(sym as u8)
    }
}

/// Decodes MEW's LZMA blocks described from `at` on. `None` where
/// ClamAV's decoder fails.
pub(super) fn mew_lzma(
    mem: &mut Mem,
    at: u64,
    vma: u32,
    special: bool,
    work: &mut Work,
) -> Option<()> {
    let mut src = at;
    let mut fix_len = 0;
    if special {
        fix_len = mem.rd(src)?;
        src += 4;
    }
    let tables = u64::from(mem.rd(src)?.wrapping_sub(vma));
    src += 4;
    let mut next_block = src;
    let mut blocks = 0u32;
    loop {
        // A block header: output length and address, the stream's
        // length, four bytes unused, the stream.
        let (total, out, mut rc);
        let mut filled = false;
        loop {
            if !special {
                src = next_block;
                if !mem.has(src, 16) {
                    return None;
                }
                if mem.rd(src)? == 0 {
                    return Some(());
                }
            } else if !mem.has(src, 12) {
                return None;
            }
            let n = mem.rd(src)?;
            let o = u64::from(mem.rd(src + 4)?.wrapping_sub(vma));
            let slen = mem.rd(src + 8)?;
            let stream = src + 13;
            src = add(stream, slen);
            next_block = src;
            if !mem.has(tables, TABLES.into()) {
                return None;
            }
            // A block of no length leaves the tables as filled; filling
            // them again would change nothing.
            if !filled {
                blocks += 1;
                if blocks > MAX_BLOCKS {
                    return None;
                }
                work.take(TABLES.into())?;
                for k in 0..u64::from(TABLES / 4) {
                    mem.wr(tables + 4 * k, 0x0400_0400)?;
                }
                filled = true;
            }
            if !mem.has(stream, 5) {
                return None;
            }
            let code = u32::from_be_bytes(
                mem.b
                    .get(stream as usize + 1..stream as usize + 5)?
                    .try_into()
                    .ok()?,
            );
            if n != 0 {
                total = n;
                out = o;
                rc = Rc { at: stream + 5, range: u32::MAX, code };
                break;
            }
        }
        let fix_at = out;
        decode_block(mem, &mut rc, tables, out, total, work)?;
        if special {
            if fix_len < 5 || !mem.has(fix_at, fix_len.into()) {
                return Some(());
            }
            let mut i: u32 = 0;
            while i < fix_len - 5 {
                let p = fix_at + u64::from(i);
                if matches!(mem.get(p)?, 0xe8 | 0xe9) {
                    let v = mem.rd(p + 1)?.swap_bytes();
                    mem.wr(p + 1, v.wrapping_sub(i).wrapping_sub(1))?;
                    i += 4;
                }
                i += 1;
            }
            return Some(());
        }
    }
}

/// One block: `total` bytes to `out`.
fn decode_block(
    mem: &mut Mem,
    rc: &mut Rc,
    t: u64,
    out: u64,
    total: u32,
    work: &mut Work,
) -> Option<()> {
    let mut state: u32 = 0;
    let mut pos: u32 = 0;
    let (mut rep0, mut rep1, mut rep2, mut rep3) = (1u32, 1u32, 1u32, 1u32);
    let mut matched = false;
    let mut prev: u8 = 0;
    loop {
        let ps = pos & 3;
        let len;
        if rc.bit(mem, add(t, ((state << 4) + ps) * 2))? == 0 {
            let coder = add(t + 0xe6c, (u32::from(prev >> 4) * 3) << 9);
            state = match state {
                0..4 => 0,
                4..10 => state - 3,
                _ => state - 6,
            };
            prev = if matched {
                let at = add(out, pos.wrapping_sub(rep0));
                if !mem.has(at, 1) {
                    return None;
                }
                let m = mem.get(at)?;
                matched = false;
                rc.matched(mem, coder, m)?
            } else {
                let mut sym: u32 = 1;
                while sym < 0x100 {
                    let i = sym + sym;
                    sym = rc.bit(mem, add(coder, i))? | i;
                }
                sym as u8
            };
            let at = add(out, pos);
            pos = pos.wrapping_add(1);
            if !mem.has(at, 1) {
                return None;
            }
            work.take(1)?;
            mem.set(at, prev)?;
        } else {
            matched = true;
            if rc.bit(mem, add(t, state * 2 + 0x180))? != 1 {
                rep3 = rep2;
                rep2 = rep1;
                state = if state >= 7 { 10 } else { 7 };
                rep1 = rep0;
                len = rc.len(mem, t + 0x664, ps)?;
                let slot = rc.tree(mem, add(t + 0x360, len.min(3) << 7), 6)?;
                if slot < 4 {
                    rep0 = slot;
                } else {
                    let bits = ((slot as i32 >> 1) - 1) as u32;
                    rep0 = ((slot & 1) | 2).wrapping_shl(bits);
                    let (base, n) = if slot >= 0xe {
                        let d = rc.direct(mem, bits.wrapping_sub(4))?;
                        rep0 = rep0.wrapping_add(d << 4);
                        (t + 0x644, 4)
                    } else {
                        let i = rep0.wrapping_sub(slot).wrapping_mul(2);
                        (add(t, i).wrapping_add(0x55e), bits)
                    };
                    rep0 = rep0.wrapping_add(rc.reverse(mem, base, n)?);
                }
                rep0 = rep0.wrapping_add(1);
            } else {
                if rc.bit(mem, add(t, state * 2 + 0x198))? != 0 {
                    let d;
                    if rc.bit(mem, add(t, state * 2 + 0x1b0))? != 0 {
                        if rc.bit(mem, add(t, state * 2 + 0x1c8))? != 0 {
                            d = rep3;
                            rep3 = rep2;
                        } else {
                            d = rep2;
                        }
                        rep2 = rep1;
                    } else {
                        d = rep1;
                    }
                    rep1 = rep0;
                    rep0 = d;
                } else {
                    let i = ((state + 0xf) << 4).wrapping_add(ps);
                    if rc.bit(mem, add(t, i.wrapping_mul(2)))? == 0 {
                        // One byte from the last distance.
                        state = if state >= 7 { 11 } else { 9 };
                        let from = add(out, pos.wrapping_sub(rep0));
                        if !mem.has(from, 1) {
                            return None;
                        }
                        prev = mem.get(from)?;
                        let at = add(out, pos);
                        pos = pos.wrapping_add(1);
                        if !mem.has(at, 1) {
                            return None;
                        }
                        work.take(1)?;
                        mem.set(at, prev)?;
                        if pos < total {
                            continue;
                        }
                        return Some(());
                    }
                }
                len = rc.len(mem, t + 0xa68, ps)?;
                state = if state >= 7 { 11 } else { 8 };
            }
            if rep0 == 0 {
                return Some(());
            }
            let n = len.wrapping_add(2);
            let from = pos.wrapping_sub(rep0);
            let left = total.wrapping_sub(pos);
            let (f, o) = (add(out, from), add(out, pos));
            if (n < left && (!mem.has(f, n.into()) || !mem.has(o, n.into())))
                || !mem.has(f, left.into())
                || !mem.has(o, left.into())
            {
                return None;
            }
            work.take(n.min(left).max(1).into())?;
            let mut k: u32 = 0;
            loop {
                prev = mem.get(add(f, k))?;
                mem.set(add(o, k), prev)?;
                k += 1;
                if k >= n || pos.wrapping_add(k) >= total {
                    break;
                }
            }
            pos = pos.wrapping_add(k);
        }
        if pos >= total {
            return Some(());
        }
    }
}
