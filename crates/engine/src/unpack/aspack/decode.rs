//! ASPack's block decoder: an LZ77 stream whose literals, match codes
//! and distance low bits are Huffman-like codes read MSB first. Four
//! code tables: the literal/match table (721 symbols), match lengths
//! (28), distance low bits (8), and the table (19 symbols) that codes
//! the other three's code lengths. A table is a canonical code given by
//! its lengths, looked up through 24-bit thresholds: codes up to 8 bits
//! long through a 256-entry index by the window's top byte, longer ones
//! by comparing the window against each length's threshold.
//!
//! Some of the state outlives a block or a table: the 256-entry indexes
//! and the symbol lists are only overwritten where a new table puts
//! something, so a damaged table may still find entries of an older
//! one. ClamAV's decoder keeps them the same way, and what it decodes
//! from such a stream is what is decoded here.

/// Symbols of each table.
const SIZES: [usize; 4] = [721, 28, 8, 19];
/// Code lengths stored per block for the three data tables.
const LENGTHS: usize = 757;
/// The table whose codes give the lengths of the others.
const PRE: usize = 3;
/// The sum of a complete code's thresholds: 2^24.
const FULL: u32 = 0x100_0000;
/// Zero bytes the stream may read past its block.
const PADDING: usize = 0x10e;

/// One code table.
struct Table {
    /// Symbols in code order.
    symbols: Vec<u32>,
    /// Code length (1..=8) of the codes beginning with each top byte.
    short: [u8; 256],
    /// `limit[l]`: the window values below it have codes of length `l`
    /// or shorter (the cumulative 24-bit thresholds).
    limit: [u32; 24],
    /// `first[l]`: where the codes of length `l` begin in `symbols`.
    first: [u32; 24],
}

impl Table {
    fn new(size: usize) -> Table {
        Table {
            symbols: vec![0; size],
            short: [0; 256],
            limit: [0; 24],
            first: [0; 24],
        }
    }

    /// Makes the table for these code lengths (one per symbol, at most
    /// 17); `false` when they are no complete code.
    fn build(&mut self, lengths: &[u8]) -> bool {
        let mut count = [0u32; 18];
        for &l in lengths {
            let Some(c) = count.get_mut(usize::from(l)) else { return false };
            *c += 1;
        }
        let mut next = [0u32; 18];
        let mut sum = 0u32;
        let mut index_end = 0usize;
        self.limit[0] = 0;
        self.first[0] = 0;
        for len in 1..16 {
            let shift = 24 - len as u32;
            // Thresholds are 32-bit: a count that overflows them wraps,
            // as the packer's own unpacker does.
            sum = sum.wrapping_add(count[len] << shift);
            if sum > FULL {
                return false;
            }
            self.limit[len] = sum;
            self.first[len] = count[len - 1].wrapping_add(self.first[len - 1]);
            next[len] = self.first[len];
            if len <= 8 {
                let from = index_end;
                index_end = (sum >> 16) as usize;
                if index_end != from {
                    let Some(run) = self.short.get_mut(from..index_end) else {
                        return false;
                    };
                    run.fill(len as u8);
                }
            }
        }
        if sum != FULL {
            return false;
        }
        for (symbol, &l) in lengths.iter().enumerate() {
            if l == 0 {
                continue;
            }
            let slot = &mut next[usize::from(l)];
            let Some(s) = self.symbols.get_mut(*slot as usize) else {
                return false;
            };
            *s = symbol as u32;
            *slot += 1;
        }
        true
    }
}

/// The decoder of one unpacking: its tables and bit reader. Tables
/// carry over from block to block; see the module's notes.
pub(super) struct Decoder {
    tables: [Table; 4],
    /// The data tables' code lengths of the previous table set: new
    /// lengths are coded as differences from them.
    previous: [u8; LENGTHS],
    /// The lengths being read; entry 0 stays zero (a repeat at the
    /// very start repeats it).
    lengths: [u8; LENGTHS + 1],
    pre: [u8; 19],
    /// Whether distances take their low three bits from the third
    /// table (not when all its codes are three bits long).
    coded_low_bits: bool,
    /// Each distance slot's base.
    bases: [u32; 58],
    bits: u32,
    /// Bits of `bits` already used, counted from its top byte.
    used: u32,
    pos: usize,
}

/// A block's compressed bytes (zeros past them, as far as the stream
/// may read).
struct Input<'a> {
    data: &'a [u8],
    end: usize,
}

impl Decoder {
    /// `widths`: the 58 distance slots' extra bit counts, from the
    /// unpacker's code; bytes missing there count as none.
    pub(super) fn new(widths: impl Fn(usize) -> Option<u8>) -> Decoder {
        let mut bases = [0u32; 58];
        let mut base = 0u32;
        for (i, b) in bases.iter_mut().enumerate() {
            *b = base;
            if let Some(w) = widths(i) {
                base = base.wrapping_add(1u32.wrapping_shl(u32::from(w)));
            }
        }
        Decoder {
            tables: SIZES.map(Table::new),
            previous: [0; LENGTHS],
            lengths: [0; LENGTHS + 1],
            pre: [0; 19],
            coded_low_bits: false,
            bases,
            bits: 0x10000,
            used: 0,
            pos: 0,
        }
    }

    /// Decodes one block in place: `out` holds its compressed bytes and
    /// gets as many decoded ones. `params` is the unpacker's table of
    /// match length bases (0x00), their extra bits (0x1c) and the
    /// distance slots' extra bits (0x38). `None` when the stream is
    /// damaged.
    pub(super) fn block(
        &mut self,
        out: &mut [u8],
        params: &[u8],
    ) -> Option<()> {
        let src = out.to_vec();
        let input = Input { end: src.len() + PADDING, data: &src };
        for t in &mut self.tables {
            t.limit = [0; 24];
            t.first = [0; 24];
        }
        self.previous = [0; LENGTHS];
        self.used = 32;
        self.pos = 0;
        self.read_tables(&input)?;
        self.lz(&input, out, params)
    }

    /// Takes whole bytes in until fewer than 8 bits are used.
    fn refill(&mut self, input: &Input<'_>) -> Option<()> {
        while self.used >= 8 {
            if self.pos >= input.end {
                return None;
            }
            let b = input.data.get(self.pos).copied().unwrap_or(0);
            self.bits = (self.bits << 8) | u32::from(b);
            self.pos += 1;
            self.used -= 8;
        }
        Some(())
    }

    /// The next 24 bits, unconsumed.
    fn window(&self) -> u32 {
        (self.bits >> (8 - self.used)) & 0xff_ffff
    }

    /// `n` bits read as a number (above 24 the packer's shift wraps, as
    /// its i386 code does).
    fn take(&mut self, input: &Input<'_>, n: u32) -> Option<u32> {
        self.refill(input)?;
        let v = self.window().wrapping_shr(24u32.wrapping_sub(n));
        self.used = self.used.wrapping_add(n);
        Some(v)
    }

    fn bits8(&mut self, input: &Input<'_>, n: u32) -> Option<u8> {
        self.take(input, n).map(|v| v as u8)
    }

    /// One symbol of table `t`.
    fn symbol(&mut self, input: &Input<'_>, t: usize) -> Option<u32> {
        self.refill(input)?;
        let w = self.window() & 0xff_fe00;
        let table = &self.tables[t];
        let lim = &table.limit;
        let len = if w < lim[8] {
            let l = usize::from(table.short[(w >> 16) as usize]);
            if l == 0 || l >= 24 {
                return None;
            }
            l
        } else if w < lim[10] {
            if w < lim[9] { 9 } else { 10 }
        } else {
            (11..15).find(|&l| w < lim[l]).unwrap_or(15)
        };
        self.used = self.used.wrapping_add(len as u32);
        let index = (w.wrapping_sub(lim[len - 1]) >> (24 - len))
            .wrapping_add(table.first[len]);
        table.symbols.get(index as usize).copied()
    }

    /// A new table set: the pre-table, the code lengths it codes, and
    /// the three data tables made from them.
    fn read_tables(&mut self, input: &Input<'_>) -> Option<()> {
        if self.bits8(input, 1)? == 0 {
            self.previous = [0; LENGTHS];
        }
        for i in 0..19 {
            self.pre[i] = self.bits8(input, 4)?;
        }
        if !self.tables[PRE].build(&self.pre) {
            return None;
        }
        let mut n = 0;
        while n < LENGTHS {
            let s = self.symbol(input, PRE)?;
            let (value, run) = match s {
                0..=15 => {
                    let v = (u32::from(self.previous[n]) + s) & 15;
                    (Some(v as u8), 1)
                }
                // The previous length again, 3 to 6 times.
                16 => (None, 3 + u32::from(self.bits8(input, 2)?)),
                17 => (Some(0), 3 + u32::from(self.bits8(input, 3)?)),
                _ => (Some(0), 11 + u32::from(self.bits8(input, 7)?)),
            };
            for _ in 0..run {
                if n >= LENGTHS {
                    break;
                }
                self.lengths[n + 1] = value.unwrap_or(self.lengths[n]);
                n += 1;
            }
        }
        let l = &self.lengths;
        let [t0, t1, t2, _] = &mut self.tables;
        if !t0.build(&l[1..722])
            || !t1.build(&l[722..750])
            || !t2.build(&l[750..])
        {
            return None;
        }
        self.coded_low_bits = l[750..].iter().any(|&x| x != 3);
        self.previous.copy_from_slice(&l[1..]);
        Some(())
    }

    /// The LZ77 stream proper, until `out` is full.
    fn lz(
        &mut self,
        input: &Input<'_>,
        out: &mut [u8],
        params: &[u8],
    ) -> Option<()> {
        let param = |i: usize| params.get(i).copied().map(u32::from);
        let size = out.len();
        let mut n = 0usize;
        // The last three distances, most recent first.
        let mut recent = [0u32; 3];
        while n < size {
            let s = self.symbol(input, 0)?;
            if s < 256 {
                out[n] = s as u8;
                n += 1;
                continue;
            }
            if s >= 720 {
                self.read_tables(input)?;
                continue;
            }
            let slot = ((s - 256) >> 3) as usize;
            let mut len = ((s - 256) & 7) + 2;
            if len == 9 {
                let l = self.symbol(input, 1)? as usize;
                if l >= 0x56 {
                    return None;
                }
                let extra = param(l + 0x1c)?;
                let v = self.take(input, extra)?;
                len = len.wrapping_add(param(l)?).wrapping_add(v);
            }
            let mut dist = self.bases.get(slot).copied()?;
            let width = param(slot + 0x38)?;
            if !self.coded_low_bits || width < 3 {
                dist = dist.wrapping_add(self.take(input, width)?);
            } else {
                let high = self.take(input, width - 3)?;
                dist = dist.wrapping_add(high.wrapping_mul(8));
                dist = dist.wrapping_add(self.symbol(input, 2)?);
            }
            let back = match dist {
                0 => recent[0],
                1 | 2 => {
                    recent.swap(dist as usize, 0);
                    recent[0]
                }
                _ => {
                    recent = [dist - 3, recent[0], recent[1]];
                    dist - 3
                }
            };
            let back = back.wrapping_add(1) as usize;
            if back == 0 || back > n || len as usize > size - n {
                return None;
            }
            for _ in 0..len {
                out[n] = out[n - back];
                n += 1;
            }
        }
        Some(())
    }
}

#[cfg(test)]
pub(super) mod tests {
    /// Whether these lengths make a table.
    pub(in crate::unpack::aspack) fn build(lengths: &[u8]) -> bool {
        super::Table::new(lengths.len()).build(lengths)
    }
}
