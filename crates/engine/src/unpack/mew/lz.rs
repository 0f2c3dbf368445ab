//! MEW's LZ77 coder (FSG's too): tag bits read a byte at a time, most
//! significant first, literals and matches with Elias-gamma lengths and
//! a remembered last distance. Source and destination are two ranges of
//! the same buffer, which may overlap: bytes written may be read later
//! as input, as they are in ClamAV.

use super::{Mem, Work};

/// The tag-bit reader: `tag` keeps the unread bits of the current byte
/// with a 1 below them, so it runs empty when only that 1 is left.
struct Bits {
    tag: u8,
    at: u64,
    start: u64,
    len: u64,
}

impl Bits {
    fn bit(&mut self, mem: &Mem) -> Option<u32> {
        let old = self.tag;
        if old & 0x7f != 0 {
            self.tag = old << 1;
            return Some(u32::from(old >> 7));
        }
        // ClamAV refuses the last byte of the source for tag bits.
        if self.at < self.start || self.at >= self.start + self.len - 1 {
            return None;
        }
        let b = mem.get(self.at)?;
        self.at += 1;
        self.tag = b.wrapping_mul(2).wrapping_add(1);
        Some(u32::from(b >> 7))
    }

    /// An Elias-gamma number: at least 2.
    fn gamma(&mut self, mem: &Mem) -> Option<u32> {
        let mut n: u32 = 1;
        loop {
            n = n.wrapping_mul(2).wrapping_add(self.bit(mem)?);
            if self.bit(mem)? == 0 {
                return Some(n);
            }
        }
    }

    /// A whole byte of the source.
    fn byte(&mut self, mem: &Mem) -> Option<u32> {
        if self.at >= self.start + self.len {
            return None;
        }
        let b = mem.get(self.at)?;
        self.at += 1;
        Some(u32::from(b))
    }
}

/// Decodes from `src` (`slen` bytes) to `dst` (`dlen` bytes), both
/// already known to lie in the buffer; returns where the source and the
/// output ended.
pub(super) fn unmew(
    mem: &mut Mem,
    src: u64,
    dst: u64,
    slen: u32,
    dlen: u32,
    work: &mut Work,
) -> Option<(u64, u64)> {
    let (slen, dlen) = (u64::from(slen), u64::from(dlen));
    let mut bits = Bits { tag: 0x80, at: src, start: src, len: slen };
    let mut out = dst;
    work.take(1)?;
    let first = mem.get(bits.at)?;
    bits.at += 1;
    mem.set(out, first)?;
    out += 1;
    let mut last_dist: u32 = 0;
    let mut after_literal = true;
    loop {
        if bits.bit(mem)? == 0 {
            if out >= dst + dlen || bits.at >= src + slen {
                return None;
            }
            work.take(1)?;
            let b = mem.get(bits.at)?;
            bits.at += 1;
            mem.set(out, b)?;
            out += 1;
            after_literal = true;
            continue;
        }
        let (dist, len);
        if bits.bit(mem)? == 0 {
            // A gamma-coded length, with a new distance or the last one.
            let g = bits
                .gamma(mem)?
                .wrapping_sub(1)
                .wrapping_sub(u32::from(after_literal));
            if g == 0 {
                len = bits.gamma(mem)?;
                dist = last_dist;
            } else {
                let d = bits.byte(mem)?.wrapping_add((g - 1) << 8);
                let mut l = bits.gamma(mem)?;
                if d >= 0x7d00 {
                    l = l.wrapping_add(1);
                }
                if d >= 0x500 {
                    l = l.wrapping_add(1);
                }
                if d <= 0x7f {
                    l = l.wrapping_add(2);
                }
                last_dist = d;
                dist = d;
                len = l;
            }
            after_literal = false;
        } else if bits.bit(mem)? == 0 {
            // A short match: distance and length in one byte; distance 0
            // ends the stream.
            let b = bits.byte(mem)?;
            let d = b >> 1;
            if d == 0 {
                break;
            }
            len = (b & 1) + 2;
            dist = d;
            last_dist = d;
            after_literal = false;
        } else {
            // A byte from up to 15 back, or a zero.
            after_literal = true;
            let mut d: u32 = 0x10;
            while d < 0x100 {
                d = d * 2 + bits.bit(mem)?;
            }
            d &= 0xff;
            if d == 0 {
                if out >= dst + dlen {
                    return None;
                }
                work.take(1)?;
                mem.set(out, 0)?;
                out += 1;
                continue;
            }
            dist = d;
            len = 1;
        }
        let from = out.wrapping_sub(u64::from(dist));
        let inside = |at: u64| {
            len > 0
                && u64::from(len) <= dlen
                && at >= dst
                && at < dst + dlen
                && at
                    .checked_add(u64::from(len))
                    .is_some_and(|e| e <= dst + dlen)
        };
        if !inside(out) || !inside(from) {
            return None;
        }
        work.take(len.into())?;
        mem.copy_forward(from, out, len.into())?;
        out += u64::from(len);
    }
    Some((bits.at, out))
}
