//! The bzip2 variant NSIS writes: the blocks of bzip2 (Huffman-coded
//! MTF/RLE2 symbols of a Burrows–Wheeler transformed, run-length coded
//! block) without the stream's `BZh9` header, each block opened by the
//! one byte `0x31` instead of the 48-bit block magic and carrying no
//! CRC or randomisation bit, the stream closed by the byte `0x17`
//! without a combined CRC. Blocks are at most 900,000 bytes (level 9).
//! The stock `bzip2` crate wants the full headers and CRCs, so NSIS's
//! streams are decoded here.
//!
//! As ClamAV's decoder does, a block is decoded whole when its first
//! byte is wanted, and the next block as soon as the last byte of the
//! one before has been read out: how much input is left at a given
//! point then matches ClamAV's, which decides where it stops reading a
//! solid archive.

use std::io::{self, Read};

/// The largest block: level 9, which NSIS always uses.
const BLOCK_MAX: usize = 900_000;
/// Symbols coded by one Huffman table before the next selector.
const GROUP: usize = 50;
/// The longest Huffman code.
const CODE_MAX: usize = 20;
/// Selectors a block may declare.
const SELECTORS_MAX: usize = 18_002;

/// Bits read most significant first, a byte taken from the input only
/// when the bits held run short (as libbz2 does: the input left is then
/// what ClamAV's decoder has left too).
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    held: u64,
    live: u32,
}

impl Bits<'_> {
    fn get(&mut self, n: u32) -> Option<u32> {
        while self.live < n {
            let b = *self.data.get(self.pos)?;
            self.pos += 1;
            self.held = (self.held << 8) | u64::from(b);
            self.live += 8;
        }
        self.live -= n;
        let v = (self.held >> self.live) & ((1u64 << n) - 1);
        Some(v as u32)
    }

    fn bit(&mut self) -> Option<bool> {
        self.get(1).map(|b| b == 1)
    }
}

/// One canonical Huffman table: codes are handed out in order of
/// length, then symbol.
struct Table {
    min: usize,
    max: usize,
    /// Per length: the first code of that length, and the index in
    /// `symbols` of its symbol.
    first: [(i64, i64); CODE_MAX + 2],
    /// Per length: the count of codes of that length.
    count: [i64; CODE_MAX + 2],
    symbols: Vec<u16>,
}

impl Table {
    fn new(lengths: &[u8]) -> Option<Table> {
        let min = usize::from(*lengths.iter().min()?);
        let max = usize::from(*lengths.iter().max()?);
        let mut count = [0i64; CODE_MAX + 2];
        for &l in lengths {
            count[usize::from(l)] += 1;
        }
        let mut symbols = Vec::with_capacity(lengths.len());
        for l in min..=max {
            for (s, &len) in lengths.iter().enumerate() {
                if usize::from(len) == l {
                    symbols.push(s as u16);
                }
            }
        }
        let mut first = [(0i64, 0i64); CODE_MAX + 2];
        let (mut code, mut index) = (0i64, 0i64);
        for l in min..=max {
            first[l] = (code, index);
            code = (code + count[l]) << 1;
            index += count[l];
        }
        Some(Table { min, max, first, count, symbols })
    }

    fn decode(&self, bits: &mut Bits<'_>) -> Option<usize> {
        let mut len = self.min;
        let mut v = i64::from(bits.get(len as u32)?);
        loop {
            let (code, index) = self.first[len];
            if v >= code && v < code + self.count[len] {
                let s = self
                    .symbols
                    .get(usize::try_from(index + v - code).ok()?)?;
                return Some(usize::from(*s));
            }
            len += 1;
            if len > self.max {
                return None;
            }
            v = (v << 1) | i64::from(bits.get(1)?);
        }
    }
}

/// Where the stream is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    /// A block is being read out (or none was read yet).
    Running,
    /// The end byte was read.
    Ended,
    /// The data is damaged, or the input ran out inside a block.
    Failed,
}

/// A reader of one NSIS bzip2 stream.
pub(super) struct Bunzip<'a> {
    bits: Bits<'a>,
    state: State,
    /// The block: each entry's low byte is a byte of the transformed
    /// block, its upper bits (once inverted) the index of the next.
    tt: Vec<u32>,
    /// Bytes of the block read out so far.
    used: usize,
    next: u32,
    /// The byte repeated by the run-length step, its run so far, and
    /// copies of it still to write.
    last: Option<u8>,
    run: u8,
    repeat: u32,
    started: bool,
}

impl<'a> Bunzip<'a> {
    pub(super) fn new(data: &'a [u8]) -> Bunzip<'a> {
        Bunzip {
            bits: Bits { data, pos: 0, held: 0, live: 0 },
            state: State::Running,
            tt: Vec::new(),
            used: 0,
            next: 0,
            last: None,
            run: 0,
            repeat: 0,
            started: false,
        }
    }

    /// Input bytes not yet taken by the decoder.
    pub(super) fn input_left(&self) -> usize {
        self.bits.data.len().saturating_sub(self.bits.pos)
    }

    /// Whether the stream's end byte has been read.
    #[cfg(test)]
    pub(super) fn ended(&self) -> bool {
        self.state == State::Ended
    }

    /// Reads the next block header and, for a block, the whole block.
    fn next_block(&mut self) {
        self.tt.clear();
        self.used = 0;
        self.last = None;
        self.run = 0;
        self.repeat = 0;
        self.state = match self.bits.get(8) {
            Some(0x17) => State::Ended,
            Some(0x31) => match self.block() {
                Some(()) => State::Running,
                None => State::Failed,
            },
            _ => State::Failed,
        };
        if self.state != State::Running {
            self.tt.clear();
        }
    }

    /// The block after its magic byte: the transformed bytes into `tt`,
    /// then the inverse transform's links.
    fn block(&mut self) -> Option<()> {
        let b = &mut self.bits;
        let orig = b.get(24)? as usize;
        if orig > BLOCK_MAX + 10 {
            return None;
        }
        // The bytes in use, by sixteens.
        let groups = b.get(16)?;
        let mut used_bytes = Vec::with_capacity(256);
        for g in 0..16u32 {
            if groups & (0x8000 >> g) != 0 {
                let set = b.get(16)?;
                for i in 0..16u32 {
                    if set & (0x8000 >> i) != 0 {
                        used_bytes.push((g * 16 + i) as u8);
                    }
                }
            }
        }
        if used_bytes.is_empty() {
            return None;
        }
        let alpha = used_bytes.len() + 2;
        let tables = b.get(3)? as usize;
        if !(2..=6).contains(&tables) {
            return None;
        }
        let count = b.get(15)? as usize;
        if count == 0 || count > SELECTORS_MAX {
            return None;
        }
        // Selectors, each the unary-coded position of its table in a
        // move-to-front list.
        let mut order: Vec<u8> = (0..tables as u8).collect();
        let mut selectors = Vec::with_capacity(count);
        for _ in 0..count {
            let mut j = 0usize;
            while b.bit()? {
                j += 1;
                if j >= tables {
                    return None;
                }
            }
            let t = order.remove(j);
            order.insert(0, t);
            selectors.push(t);
        }
        // Code lengths, delta-coded from a 5-bit start.
        let mut codes = Vec::with_capacity(tables);
        for _ in 0..tables {
            let mut len = b.get(5)? as i32;
            let mut lengths = Vec::with_capacity(alpha);
            for _ in 0..alpha {
                loop {
                    if !(1..=CODE_MAX as i32).contains(&len) {
                        return None;
                    }
                    if !b.bit()? {
                        break;
                    }
                    len += if b.bit()? { -1 } else { 1 };
                }
                lengths.push(len as u8);
            }
            codes.push(Table::new(&lengths)?);
        }
        // The symbols: runs of the front byte (RUNA, RUNB as bijective
        // base-2 digits), move-to-front positions, then end of block.
        let end = alpha - 1;
        let mut mtf: Vec<u8> = (0..=255).collect();
        let mut counts = [0u32; 256];
        let tt = &mut self.tt;
        let (mut group, mut left) = (0usize, 0usize);
        let mut table = codes.first()?;
        let (mut run, mut weight) = (0usize, 1usize);
        loop {
            if left == 0 {
                table = codes.get(usize::from(*selectors.get(group)?))?;
                group += 1;
                left = GROUP;
            }
            left -= 1;
            let sym = table.decode(b)?;
            if sym <= 1 {
                if weight >= 2 * 1024 * 1024 {
                    return None;
                }
                run += weight << sym;
                weight <<= 1;
                continue;
            }
            if run > 0 {
                let byte = *used_bytes.get(usize::from(mtf[0]))?;
                if tt.len() + run > BLOCK_MAX {
                    return None;
                }
                counts[usize::from(byte)] += run as u32;
                tt.extend(std::iter::repeat_n(u32::from(byte), run));
                (run, weight) = (0, 1);
            }
            if sym == end {
                break;
            }
            if tt.len() >= BLOCK_MAX {
                return None;
            }
            let j = sym - 1;
            let front = *mtf.get(j)?;
            mtf.copy_within(0..j, 1);
            mtf[0] = front;
            let byte = *used_bytes.get(usize::from(front))?;
            counts[usize::from(byte)] += 1;
            tt.push(u32::from(byte));
        }
        if orig >= tt.len() {
            return None;
        }
        // Where each byte value's entries start in sorted order.
        let mut start = [0u32; 256];
        let mut sum = 0u32;
        for (s, c) in start.iter_mut().zip(counts) {
            *s = sum;
            sum += c;
        }
        for i in 0..tt.len() {
            let byte = (tt[i] & 0xff) as usize;
            let at = start[byte] as usize;
            start[byte] += 1;
            *tt.get_mut(at)? |= (i as u32) << 8;
        }
        self.next = tt[orig] >> 8;
        Some(())
    }

    /// The next byte of the transformed block, in original order.
    fn take(&mut self) -> Option<u8> {
        if self.used >= self.tt.len() {
            return None;
        }
        let e = *self.tt.get(self.next as usize)?;
        self.used += 1;
        self.next = e >> 8;
        Some((e & 0xff) as u8)
    }

    fn block_done(&self) -> bool {
        self.used >= self.tt.len() && self.repeat == 0
    }
}

impl Read for Bunzip<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if !self.started {
            self.started = true;
            self.next_block();
        }
        let mut n = 0;
        while n < out.len() && self.state == State::Running {
            if self.repeat > 0 {
                let k = (self.repeat as usize).min(out.len() - n);
                out[n..n + k].fill(self.last.unwrap_or(0));
                n += k;
                self.repeat -= k as u32;
                continue;
            }
            let Some(b) = self.take() else {
                self.next_block();
                continue;
            };
            // Four equal bytes are followed by a count of more.
            if self.run == 4 {
                self.repeat = u32::from(b);
                self.run = 0;
                continue;
            }
            out[n] = b;
            n += 1;
            if self.last == Some(b) {
                self.run += 1;
            } else {
                self.last = Some(b);
                self.run = 1;
            }
        }
        // ClamAV's decoder moves on to the next block in the call that
        // empties one.
        if self.state == State::Running && self.block_done() {
            self.next_block();
        }
        if n == 0 && self.state == State::Failed {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "damaged NSIS bzip2 stream",
            ));
        }
        Ok(n)
    }
}
