//! WWPack32-packed PE32 executables, unpacked as ClamAV's `cli_scanpe`
//! unpacks them: the file is laid out as in memory without the packer's
//! own (last) section, each compressed block is decompressed in place,
//! and the headers are patched to describe what is left (one section
//! fewer, the original entry point, each section's data at its memory
//! address). That image is scanned as a new file (one child).
//!
//! ClamAV's test for WWPack is the entry point at the start of the last
//! section with the stub's code there (two fixed runs of bytes). The
//! packer's table, 0x2a1 bytes into its section, has one 17-byte record
//! per block: where its compressed dwords end and how many there are,
//! and whether another record follows. The blocks are an LZ77 variant
//! read 32 bits at a time, with one-bit literals flags, two-byte copies
//! at short distances and longer copies with coded lengths; a two-byte
//! copy at distance 0x1ff ends a block.
//!
//! As in ClamAV, a table that cannot be read ends the unpacking early
//! and what was unpacked so far is patched and scanned; a stream that
//! runs out or points outside the image leaves the file to be scanned
//! as it is. ClamAV's work is not bounded on crafted tables (each record
//! may decode the whole image again); here it is bounded by a multiple
//! of the image size, past which the file is left as it is.

use super::pe32::{Exe, MAX_ALLOCATION, u16_at, u32_at};
use super::{Sink, Unpacked};
use crate::verdict::Reason;

/// The stub's code at the entry point (`push ebx; push ebp; mov ebp,
/// eax; xor ebx, ebx; jmp ...`) and 0x68 bytes further (`call $+5;
/// pop eax; sub eax, 0x6d; ...`).
const STUB_START: &[u8] = b"\x53\x55\x8b\xe8\x33\xdb\xeb";
const STUB_CALL: &[u8] =
    b"\xe8\x00\x00\x00\x00\x58\x2d\x6d\x00\x00\x00\x50\x60\x33\xc9\x50\x58\x50\x50";

/// The block table's place in the packer's section, and one record's
/// size.
const TABLE: usize = 0x2a1;
const RECORD: usize = 17;

/// Where the packer keeps the original entry point (relative to its
/// section, plus 0x299).
const OLD_EP: usize = 0x295;

/// Units of work (bytes written or copied) allowed per byte of the
/// image, beyond a fixed allowance.
const WORK_PER_BYTE: u64 = 8;
const WORK_BASE: u64 = 1 << 20;

pub(crate) fn wwpack<'s>(pe: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let Some(exe) = Exe::read(pe) else { return out };
    // ClamAV stops before here when fewer than 200 bytes follow the
    // entry point.
    let code = pe.get(exe.ep as usize..).unwrap_or_default();
    let n = exe.sections.len();
    let last = exe.sections[n - 1];
    if n < 2
        || code.len() < 200
        || exe.vep != last.rva
        || !code.starts_with(STUB_START)
        || !code[0x68..].starts_with(STUB_CALL)
    {
        return out;
    }
    let head = exe.sections.iter().map(|s| s.raw).min().unwrap_or(0);
    let size = exe.sections[..n - 1]
        .iter()
        .map(|s| s.rva.wrapping_add(s.vsz))
        .max()
        .unwrap_or(0);
    if head == 0 || size == 0 || head > size {
        return out;
    }
    if !out.room(u64::from(size)) {
        return out;
    }
    // Larger images and an empty packer section are errors to ClamAV,
    // which then scans nothing more of the file.
    if u64::from(size) > MAX_ALLOCATION || last.rsz == 0 {
        return out;
    }
    let mut image = vec![0u8; size as usize];
    let (Some(h), Some(dst)) =
        (pe.get(..head as usize), image.get_mut(..head as usize))
    else {
        return out;
    };
    dst.copy_from_slice(h);
    for s in &exe.sections[..n - 1] {
        if s.rsz == 0 {
            continue;
        }
        let (at, from, len) = (s.rva as usize, s.raw as usize, s.rsz as usize);
        let (Some(dst), Some(src)) =
            (image.get_mut(at..at + len), pe.get(from..from + len))
        else {
            // A damaged file to ClamAV: not unpacked.
            return out;
        };
        dst.copy_from_slice(src);
    }
    let from = last.raw as usize;
    let Some(packer) = pe.get(from..from + last.rsz as usize) else {
        return out;
    };
    let mut work = WORK_BASE + WORK_PER_BYTE * u64::from(size);
    match unpack(&mut image, packer, last.rva, &mut work) {
        Ok(()) => {}
        Err(Stop::Failed) => return out,
        Err(Stop::Work) => {
            out.skip(Reason::Malformed { format: "WWPack" });
            return out;
        }
    }
    if patch(&mut image, packer, &exe).is_some() {
        out.push("WWPack-unpacked".into(), image);
    }
    out
}

/// Why unpacking ended without a file.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    /// A stream ran out or pointed outside the image.
    Failed,
    /// Our bound on the work was reached.
    Work,
}

/// Decompresses each block the packer's table lists, in place. A
/// record outside the packer's section, or a block outside the image,
/// ends the table without failing (as in ClamAV).
fn unpack(
    image: &mut [u8],
    packer: &[u8],
    packer_rva: u32,
    work: &mut u64,
) -> Result<(), Stop> {
    let mut at = TABLE;
    loop {
        let Some(record) = packer.get(at..at + RECORD) else {
            return Ok(());
        };
        let word = |i: usize| u32_at(record, i).unwrap_or(0);
        // The block is `dwords` dwords ending 4 bytes past `end`, from
        // an address counted back from the packer's section.
        let base = packer_rva.wrapping_sub(word(0));
        let len = word(8).wrapping_mul(4);
        let start = i64::from(base) + i64::from(word(12)) + 4 - i64::from(len);
        let more = record[16] != 0;
        at += RECORD;
        if len == 0 || start < 0 || start + i64::from(len) > image.len() as i64
        {
            return Ok(());
        }
        let (start, len) = (start as usize, len as usize);
        *work = work.checked_sub(2 * len as u64).ok_or(Stop::Work)?;
        // The compressed bytes are read from a copy; the block is
        // overwritten from its start.
        let packed = image[start..start + len].to_vec();
        image[start..start + len].fill(0xff);
        decode(image, start, &packed, work)?;
        if !more {
            return Ok(());
        }
    }
}

/// The bit stream: 32-bit little-endian words read from the top bit,
/// the literal bytes taken between them from the same input.
struct Bits<'a> {
    input: &'a [u8],
    at: usize,
    word: u32,
    left: u32,
}

impl Bits<'_> {
    /// The next word, with 32 bits in it.
    fn refill(&mut self) -> Result<u32, Stop> {
        let w = u32_at(self.input, self.at).ok_or(Stop::Failed)?;
        self.at += 4;
        Ok(w)
    }

    fn bit(&mut self) -> Result<u32, Stop> {
        self.take(1)
    }

    /// The next `n` bits (1 to 15), high bit first.
    fn take(&mut self, n: u32) -> Result<u32, Stop> {
        let mut v = self.word >> (32 - n);
        if self.left >= n {
            self.left -= n;
            self.word <<= n;
            if self.left == 0 {
                self.word = self.refill()?;
                self.left = 32;
            }
        } else {
            // The rest of this word, then the first bits of the next.
            let w = self.refill()?;
            self.left += 32 - n;
            v |= w >> self.left;
            self.word = w << (32 - self.left);
        }
        Ok(v)
    }

    fn byte(&mut self) -> Result<u8, Stop> {
        let b = *self.input.get(self.at).ok_or(Stop::Failed)?;
        self.at += 1;
        Ok(b)
    }
}

/// Copies `len` bytes from `distance` back, byte by byte (a copy may
/// overlap what it writes).
fn copy_back(
    image: &mut [u8],
    to: &mut usize,
    distance: u32,
    len: u32,
) -> Result<(), Stop> {
    let (distance, len) = (distance as usize, len as usize);
    if len == 0
        || distance > *to
        || to.checked_add(len).is_none_or(|end| end > image.len())
    {
        return Err(Stop::Failed);
    }
    for i in *to..*to + len {
        image[i] = image[i - distance];
    }
    *to += len;
    Ok(())
}

/// Decodes one block into `image` from `to` until its end mark.
fn decode(
    image: &mut [u8],
    mut to: usize,
    packed: &[u8],
    work: &mut u64,
) -> Result<(), Stop> {
    let mut bits = Bits { input: packed, at: 0, word: 0, left: 32 };
    bits.word = bits.refill()?;
    loop {
        if bits.bit()? == 0 {
            let b = bits.byte()?;
            *image.get_mut(to).ok_or(Stop::Failed)? = b;
            to += 1;
            continue;
        }
        let kind = bits.take(2)?;
        if kind == 3 {
            // Two bytes from 1 to 0x35f back.
            let sel = bits.take(2)?;
            let (width, base) = match sel {
                0 => (5, 0x1),
                1 => (6, 0x21),
                2 => (8, 0x61),
                _ => (9, 0x161),
            };
            let v = bits.take(width)?;
            if v == 0x1ff {
                return Ok(());
            }
            copy_back(image, &mut to, base + v, 2)?;
            continue;
        }
        let distance = match bits.take(3)? {
            6 => bits.take(14)? + 0x1fe1,
            7 => bits.take(15)? + 0x5fe1,
            sel => {
                let width = match sel {
                    0..=2 => sel + 5,
                    3 => 8 + bits.bit()?,
                    4 => 10 + bits.bit()?,
                    _ => 12,
                };
                bits.take(width)? + (1 << width) - 31
            }
        };
        let len = if kind != 0 {
            kind + 2
        } else if bits.bit()? == 0 {
            bits.bit()? + 5
        } else {
            match bits.take(3)? {
                0 => match bits.take(4)? {
                    0 => {
                        // One more width bit per zero flag, up to three.
                        let (mut width, mut add) = (4, 0x0d);
                        loop {
                            if width == 7 {
                                width = 14;
                                add = 0;
                                break;
                            }
                            add = ((add + 2) << 1) - 1;
                            width += 1;
                            if bits.bit()? != 0 {
                                break;
                            }
                        }
                        bits.take(width)? + add
                    }
                    v => v + 13,
                },
                v => v + 6,
            }
        };
        *work = work.checked_sub(u64::from(len)).ok_or(Stop::Work)?;
        copy_back(image, &mut to, distance, len)?;
    }
}

/// The header changes ClamAV makes to the unpacked image: one section
/// fewer, the original entry point, the image size without the packer's
/// section, and each section's data at its memory address; `None` where
/// it gives up.
fn patch(image: &mut [u8], packer: &[u8], exe: &Exe) -> Option<()> {
    let n = exe.sections.len() - 1;
    let packer_section = exe.sections[n];
    let pe = exe.e_lfanew as usize;
    let put = |image: &mut [u8], at: usize, v: u32| -> Option<()> {
        image.get_mut(at..at + 4)?.copy_from_slice(&v.to_le_bytes());
        Some(())
    };
    let image_size = u32_at(image, pe + 0x50)?;
    let old_ep = u32_at(packer, OLD_EP)?;
    image[pe + 6..pe + 8].copy_from_slice(&(n as u16).to_le_bytes());
    put(
        image,
        pe + 0x28,
        old_ep.wrapping_add(packer_section.rva).wrapping_add(0x299),
    )?;
    put(image, pe + 0x50, image_size.wrapping_sub(packer_section.vsz))?;
    let mut table = usize::from(u16_at(image, pe + 0x14)?) + pe + 0x18;
    for s in &exe.sections[..n] {
        image.get(table..table + 0x28)?;
        put(image, table + 8, s.vsz)?;
        put(image, table + 12, s.rva)?;
        put(image, table + 16, s.vsz)?;
        put(image, table + 20, s.rva)?;
        table += 0x28;
    }
    image.get_mut(table..table + 0x28)?.fill(0);
    Some(())
}

#[cfg(test)]
mod tests;
