//! The NRV2B, NRV2D and NRV2E bit streams of the UCL library, which UPX
//! compresses x86 executables with.
//!
//! Control bits come in little-endian 32-bit words, most significant
//! bit first, each word fetched from the byte stream when the previous
//! one is used up; literals and offset bytes sit between the words.
//! A match is an offset (a variable-length prefix plus one byte, or
//! "the last offset again") and a length, both coded a little
//! differently in each of the three formats; an offset of all ones ends
//! the stream.
//!
//! Bounds are ClamAV's: the output may not grow past the size the
//! sections claim, a match may not reach before the output's start, and
//! the prefixes may not grow past 2^30, so a crafted stream fails where
//! ClamAV's fails and costs at most one pass over its input.

/// Which of the three NRV2 formats a stream is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Nrv {
    B,
    D,
    E,
}

impl Nrv {
    /// Where the `lea edi, [esi + imports]` of UPX's stub for this
    /// format may end, counted from the entry point: where the rebuild
    /// looks for the offset of the import table.
    pub(super) fn stub_offsets(self) -> &'static [u32] {
        match self {
            Nrv::B => &[0x108, 0x110, 0xd5],
            Nrv::D => &[0x11c, 0x124],
            Nrv::E => &[0x128, 0x130],
        }
    }

    /// Distances past this cost a longer minimum match.
    fn far(self) -> u32 {
        match self {
            Nrv::B => 0xd00,
            Nrv::D | Nrv::E => 0x500,
        }
    }
}

/// The control-bit reader shared by literals and matches.
struct Bits<'a> {
    src: &'a [u8],
    pos: usize,
    /// The bits of the current word not yet used, shifted to the top,
    /// with a 1 below them marking where they end.
    word: u32,
}

impl Bits<'_> {
    fn bit(&mut self) -> Option<u32> {
        let old = self.word;
        self.word = old.wrapping_shl(1);
        if old & 0x7fff_ffff != 0 {
            return Some(old >> 31);
        }
        let at = self.pos;
        let w = u32::from_le_bytes(self.src.get(at..at + 4)?.try_into().ok()?);
        self.pos = at + 4;
        self.word = w.wrapping_shl(1) | 1;
        Some(w >> 31)
    }

    fn byte(&mut self) -> Option<u8> {
        let b = *self.src.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    /// `v * 2 + bit`, refused past 2^30 as ClamAV refuses it.
    fn grow(&mut self, v: u32) -> Option<u32> {
        let b = self.bit()?;
        (u64::from(v) + u64::from(b) <= (i32::MAX / 2) as u64)
            .then_some(v * 2 + b)
    }

    /// The prefix of NRV2B (offsets, lengths): data bit, then a stop bit.
    fn gamma(&mut self, mut v: u32) -> Option<u32> {
        loop {
            v = self.grow(v)?;
            if self.bit()? == 1 {
                return Some(v);
            }
        }
    }

    /// The offset prefix of NRV2D and NRV2E: after each 0 stop bit, one
    /// more data bit with the value taken down by one first.
    fn gamma_de(&mut self) -> Option<u32> {
        let mut v = 1;
        loop {
            v = self.grow(v)?;
            if self.bit()? == 1 {
                return Some(v);
            }
            v = self.grow(v - 1)?;
        }
    }
}

/// Decodes `src` into `dst[..limit]`; the number of bytes written, or
/// `None` for a stream ClamAV refuses. `dst` keeps whatever a refused
/// stream wrote, as ClamAV's buffer does.
pub(crate) fn decode(
    kind: Nrv,
    src: &[u8],
    dst: &mut [u8],
    limit: u32,
) -> Option<u32> {
    let limit = (limit as usize).min(dst.len());
    let mut r = Bits { src, pos: 0, word: 0 };
    let mut out = 0usize;
    let mut last: i64 = -1;
    loop {
        while r.bit()? == 1 {
            if r.pos >= src.len() || out >= limit {
                return None;
            }
            dst[out] = r.byte()?;
            out += 1;
        }
        let prefix = match kind {
            Nrv::B => r.gamma(1)?,
            Nrv::D | Nrv::E => r.gamma_de()?,
        };
        // The first length bit: the offset's low bit, or read here when
        // the last offset is used again (NRV2D and NRV2E).
        let mut first = 0u32;
        if prefix >= 3 {
            let high = prefix - 3;
            if high & 0xff00_0000 != 0 {
                return None;
            }
            let low = r.byte()?;
            let coded = !((high << 8) | u32::from(low)) as i32;
            if coded == 0 {
                break;
            }
            last = match kind {
                Nrv::B => i64::from(coded),
                Nrv::D | Nrv::E => {
                    first = (coded & 1) as u32;
                    i64::from(coded >> 1)
                }
            };
        } else if kind != Nrv::B {
            first = r.bit()?;
        }
        let mut len = match kind {
            Nrv::B => {
                let l = r.bit()? * 2 + r.bit()?;
                if l == 0 { r.gamma(1)? + 2 } else { l }
            }
            Nrv::D => {
                let l = first * 2 + r.bit()?;
                if l == 0 { r.gamma(1)? + 2 } else { l }
            }
            Nrv::E => {
                if first == 1 {
                    r.bit()?
                } else if r.bit()? == 1 {
                    2 + r.bit()?
                } else {
                    r.gamma(1)? + 2
                }
            }
        };
        let distance = last.unsigned_abs();
        if last >= 0 {
            return None;
        }
        if distance > u64::from(kind.far()) {
            len += 1;
        }
        len += if kind == Nrv::E { 2 } else { 1 };
        let len = len as usize;
        let from: usize = (out as i64 + last).try_into().ok()?;
        if out + len > limit {
            return None;
        }
        // Byte by byte: a match may overlap what it writes.
        for k in 0..len {
            dst[out + k] = dst[from + k];
        }
        out += len;
    }
    u32::try_from(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Control bits and bytes in stream order, laid out as the decoder
    /// reads them: a 32-bit word is placed where its first bit is needed.
    enum Ev {
        Bit(u32),
        Byte(u8),
    }

    fn lay(evs: &[Ev]) -> Vec<u8> {
        let (mut out, mut slot, mut used) = (Vec::new(), 0usize, 32);
        for e in evs {
            match *e {
                Ev::Byte(b) => out.push(b),
                Ev::Bit(b) => {
                    if used == 32 {
                        slot = out.len();
                        out.extend([0; 4]);
                        used = 0;
                    }
                    let w = u32::from_le_bytes(
                        out[slot..slot + 4].try_into().unwrap(),
                    ) | (b << (31 - used));
                    out[slot..slot + 4].copy_from_slice(&w.to_le_bytes());
                    used += 1;
                }
            }
        }
        out
    }

    fn gamma(v: u32, evs: &mut Vec<Ev>) {
        let n = 31 - v.leading_zeros();
        for i in (0..n).rev() {
            evs.push(Ev::Bit((v >> i) & 1));
            evs.push(Ev::Bit(u32::from(i == 0)));
        }
    }

    /// A hand-made NRV2B stream: literals "ab", a match of 4 at
    /// distance 2, then the end.
    #[test]
    fn nrv2b_literals_match_and_end() {
        use Ev::*;
        let mut e = vec![Bit(1), Byte(b'a'), Bit(1), Byte(b'b'), Bit(0)];
        gamma(3, &mut e); // offset prefix: high part 0
        e.push(Byte(1)); // !(0 << 8 | 1) = -2
        e.extend([Bit(1), Bit(1)]); // length code 3, plus 1
        e.push(Bit(0));
        gamma(0x100_0002, &mut e); // the end
        e.push(Byte(0xff));
        let src = lay(&e);
        let mut dst = vec![0; 16];
        let n = decode(Nrv::B, &src, &mut dst, 16).unwrap();
        assert_eq!(&dst[..n as usize], b"ababab");
        // One byte short of the end marker's byte.
        assert_eq!(decode(Nrv::B, &src[..src.len() - 1], &mut dst, 16), None);
    }

    #[test]
    fn a_match_before_the_start_or_past_the_limit_fails() {
        // 0 (match), prefix 2 (last offset, still -1 at the start), which
        // reaches before the start.
        let word: u32 = 0b0_01_11 << 27;
        let src = word.to_le_bytes();
        assert_eq!(decode(Nrv::B, &src, &mut [0; 8], 8), None);
        // Endless literals stop at the limit.
        let src = [0xff; 64];
        assert_eq!(decode(Nrv::E, &src, &mut [0; 8], 8), None);
        // An empty stream ends at once.
        assert_eq!(decode(Nrv::D, &[], &mut [0; 8], 8), None);
    }
}
