//! The LZ77 bit-stream PESpin compresses sections with, the aPLib
//! variant FSG uses too (ClamAV decodes both with one routine). Tag
//! bits come MSB first from bytes taken out of the stream when the
//! current one runs dry; between them, literal bytes and match offsets
//! are read straight from the stream. A tag of 0 is a literal; 10 an
//! Elias-gamma coded length and offset (or a repeat of the last
//! offset); 110 a one-byte short match, whose zero offset ends the
//! stream; 111 four bits of a distance for one byte (distance 0 is a
//! zero byte).
//!
//! ClamAV's edges are kept: a tag byte is never taken from the stream's
//! last byte, a match must lie wholly inside the output written so far
//! and the buffer (a distance of 0 copies bytes onto themselves), and
//! anything that would run past either end fails the whole section.

/// The tag-bit reader over the stream.
struct Bits<'a> {
    src: &'a [u8],
    at: usize,
    tag: u8,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        let mut old = self.tag;
        self.tag = self.tag.wrapping_mul(2);
        if old & 0x7f == 0 {
            // The marker bit has left: a new tag byte, never the last
            // byte of the stream.
            if self.at + 1 >= self.src.len() {
                return None;
            }
            old = self.src[self.at];
            self.tag = old.wrapping_mul(2).wrapping_add(1);
            self.at += 1;
        }
        Some(u32::from(old >> 7))
    }

    /// An Elias-gamma number, at least 2 (wrapping as 32-bit).
    fn gamma(&mut self) -> Option<u32> {
        let mut v = 1u32;
        loop {
            v = v.wrapping_mul(2).wrapping_add(self.bit()?);
            if self.bit()? == 0 {
                return Some(v);
            }
        }
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.src.get(self.at)?;
        self.at += 1;
        Some(b)
    }
}

/// Decodes `src` into `dst` (whose length is the section's memory size
/// and whose bytes past the end of the output stay as they were);
/// `None` where ClamAV's routine fails.
pub(super) fn decode(src: &[u8], dst: &mut [u8]) -> Option<()> {
    let (&first, first_out) = (src.first()?, dst.first_mut()?);
    *first_out = first;
    let mut bits = Bits { src, at: 1, tag: 0x80 };
    let mut at = 1usize;
    let mut last = 0u32;
    // Whether the previous item was a literal or a one-byte match: the
    // gamma-coded offsets are one higher then.
    let mut after_literal = true;
    loop {
        if bits.bit()? == 0 {
            let b = bits.byte()?;
            *dst.get_mut(at)? = b;
            at += 1;
            after_literal = true;
            continue;
        }
        let (len, dist) = if bits.bit()? == 1 {
            if bits.bit()? == 1 {
                let mut d = 0x10u32;
                while d < 0x100 {
                    d = d * 2 + bits.bit()?;
                }
                let d = d & 0xff;
                after_literal = true;
                if d == 0 {
                    *dst.get_mut(at)? = 0;
                    at += 1;
                    continue;
                }
                (1, d)
            } else {
                let b = bits.byte()?;
                let d = u32::from(b >> 1);
                if d == 0 {
                    return Some(());
                }
                last = d;
                after_literal = false;
                (u32::from(b & 1) + 2, d)
            }
        } else {
            let high = bits
                .gamma()?
                .wrapping_sub(1)
                .wrapping_sub(u32::from(after_literal));
            after_literal = false;
            if high == 0 {
                (bits.gamma()?, last)
            } else {
                let d = u32::from(bits.byte()?)
                    .wrapping_add(high.wrapping_sub(1) << 8);
                let mut len = bits.gamma()?;
                if d >= 0x7d00 {
                    len = len.wrapping_add(1);
                }
                if d >= 0x500 {
                    len = len.wrapping_add(1);
                }
                if d <= 0x7f {
                    len = len.wrapping_add(2);
                }
                last = d;
                (len, d)
            }
        };
        let (len, dist) = (len as usize, dist as usize);
        let end = at.checked_add(len).filter(|&e| e <= dst.len())?;
        if len == 0 || dist > at {
            return None;
        }
        // Byte by byte: a match may overlap what it writes.
        for i in at..end {
            dst[i] = dst[i - dist];
        }
        at = end;
    }
}
