//! Petite 2.x-packed PE32 executables (compression levels 1 to 9),
//! unpacked as ClamAV's `cli_scanpe` unpacks them and rebuilt into the
//! PE it scans as a new file (one child).
//!
//! ClamAV's test for Petite is the stub's first instruction: `mov eax,`
//! the address of the last section (Petite 2.2) or of the one before it
//! (2.1). The sections are laid out as in memory; the stub's table,
//! 0x1b8 (2.1: 0x178) bytes into the section named by the `mov`, lists
//! what to do in order: move a block of packed data (the record's
//! first word has its high bit set), or decompress a section (an LZ77
//! variant with gamma-coded lengths and distances, literals masked by
//! the bytes left to write). A zero word ends the table. Petite's own
//! code left at the end of a section is cut off, and the original entry
//! point, which Petite keeps encrypted, is recovered from the key and
//! the import table when the stub's code is found there. The sections
//! are then packed together and rebuilt with ClamAV's `.clamNN`
//! headers ([`pe32::rebuild`]).
//!
//! Level 0 (stored) files are not unpacked, as in ClamAV. A table or
//! stream that fails leaves the file to be scanned as it is. ClamAV's
//! loops may move the same bytes again and again on crafted tables;
//! here all work is bounded by a multiple of the image size, past which
//! the file is left as it is (ClamAV would carry on).

use super::pe32::{self, Exe, MAX_ALLOCATION, Piece, Section, u32_at};
use super::{Sink, Unpacked};
use crate::verdict::Reason;

/// ClamAV's cap on the sections Petite may produce.
const MAX_SECTIONS: usize = 96;

/// The instruction at the entry point of a level 0 (stored) file.
const LEVEL_ZERO: u32 = 0x163c_988d;

/// Two words of the code Petite leaves at the end of the section it
/// unpacks last (`xor eax, eax; pop esi; mov ebx, fs:[eax]; ...`).
const STUB_CODE: [u32; 2] = [0x645e_c033, 0x1b8b_188b];

/// Units of work (bytes moved or written, words read) allowed per byte
/// of the image, beyond a fixed allowance.
const WORK_PER_BYTE: u64 = 8;
const WORK_BASE: u64 = 1 << 20;

pub(crate) fn petite<'s>(pe: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let Some(exe) = Exe::read(pe) else { return out };
    // ClamAV reads up to 4 KiB at the entry point and wants 200 bytes.
    let code = pe.get(exe.ep as usize..).unwrap_or_default();
    let code = &code[..code.len().min(4096)];
    if code.len() < 200 {
        return out;
    }
    let n = exe.sections.len();
    let loads = |s: &Section| {
        code[0] == 0xb8
            && u32_at(code, 1) == Some(s.rva.wrapping_add(exe.image_base))
    };
    let version = if loads(&exe.sections[n - 1]) {
        Version::V22
    } else if n >= 2 && loads(&exe.sections[n - 2]) {
        Version::V21
    } else {
        return out;
    };
    if u32_at(code, 0x80) == Some(LEVEL_ZERO) {
        return out;
    }
    let size = exe.max.wrapping_sub(exe.min);
    if !out.room(u64::from(size)) {
        return out;
    }
    if size == 0 || u64::from(size) > MAX_ALLOCATION {
        return out;
    }
    let mut image = vec![0u8; size as usize];
    for s in &exe.sections {
        // Sections at file offset 0 are left out of the image.
        if s.raw == 0 {
            continue;
        }
        if s.rsz == 0 || s.ursz == 0 {
            return out;
        }
        let at = (s.rva - exe.min) as usize;
        let (from, len) = (s.raw as usize, s.ursz as usize);
        let (Some(dst), Some(src)) =
            (image.get_mut(at..at + len), pe.get(from..from + len))
        else {
            return out;
        };
        dst.copy_from_slice(src);
    }
    let count = n - usize::from(version == Version::V21);
    let mut p = Petite {
        image,
        min: exe.min,
        sections: &exe.sections[..count],
        version,
        work: WORK_BASE + WORK_PER_BYTE * u64::from(size),
    };
    let res = exe.dirs[2];
    let rebuilt = match p.inflate(exe.image_base, exe.vep) {
        Ok((pieces, ep)) => {
            pe32::rebuild(&p.image, &pieces, exe.image_base, ep, res, 0)
        }
        Err(Stop::Failed) => None,
        Err(Stop::Work) => {
            out.skip(Reason::Malformed { format: "Petite" });
            None
        }
    };
    if let Some(file) = rebuilt {
        out.push("Petite-unpacked".into(), file);
    }
    out
}

/// Which stub: the table's place, the size of Petite's code at the end
/// of the last unpacked section and how far a `.reloc` moves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V21,
    V22,
}

impl Version {
    fn table(self) -> u32 {
        match self {
            Version::V21 => 0x178,
            Version::V22 => 0x1b8,
        }
    }
    fn stub_len(self) -> i64 {
        match self {
            Version::V21 => 0x323,
            Version::V22 => 0x355,
        }
    }
    fn stub_shift(self) -> i64 {
        match self {
            Version::V21 => 0x34,
            Version::V22 => 0x35,
        }
    }
}

/// Why unpacking ended without a file.
#[derive(Debug)]
enum Stop {
    /// Not Petite, or damaged: ClamAV gives up too.
    Failed,
    /// Our bound on the work was reached.
    Work,
}

type Step<T> = Result<T, Stop>;

/// What the entry point's decryption needs, taken from the stub's code.
#[derive(Default)]
struct Key {
    hidden_entry: u32,
    imports: u32,
    imports_scrambled: bool,
}

struct Petite<'a> {
    /// The sections as laid out in memory, from the lowest address.
    image: Vec<u8>,
    min: u32,
    sections: &'a [Section],
    version: Version,
    work: u64,
}

impl Petite<'_> {
    fn spend(&mut self, units: u64) -> Step<()> {
        self.work = self.work.checked_sub(units).ok_or(Stop::Work)?;
        Ok(())
    }

    /// The image offset of an address (may be outside the image).
    fn at(&self, rva: u32) -> i64 {
        i64::from(rva) - i64::from(self.min)
    }

    /// Whether `len` bytes at `at` are inside the image (ClamAV's test:
    /// an empty range is not).
    fn holds(&self, at: i64, len: u64) -> bool {
        len > 0
            && at >= 0
            && (at as u64)
                .checked_add(len)
                .is_some_and(|end| end <= self.image.len() as u64)
    }

    fn word(&self, at: i64) -> Option<u32> {
        usize::try_from(at).ok().and_then(|at| u32_at(&self.image, at))
    }

    fn need(&self, at: i64) -> Step<u32> {
        self.word(at).ok_or(Stop::Failed)
    }

    /// Runs the stub's table, then decrypts the entry point and packs
    /// the sections together: the pieces to rebuild and the entry point.
    fn inflate(&mut self, base: u32, vep: u32) -> Step<(Vec<Piece>, u32)> {
        let last = self.sections.last().ok_or(Stop::Failed)?.rva;
        let mut table = self.at(last) + i64::from(self.version.table());
        let mut out: Vec<Piece> = Vec::new();
        let mut next_floor = 0u32;
        let mut key = Key::default();
        // Whether the last record was a decompressed section: the first
        // one after a move takes the start of the section it lies in.
        let mut after_section = false;
        loop {
            let record_word = self.need(table)?;
            if record_word == 0 {
                break;
            }
            let size = record_word & 0x7fff_ffff;
            if record_word != size {
                after_section = false;
                let end = self.need(table + 8)?;
                let from = self.need(table + 4)?;
                next_floor = end.checked_add(4).ok_or(Stop::Failed)?;
                // Both words name the last dword of a block; ClamAV reads
                // them signed.
                let back = i64::from(size.wrapping_sub(1).wrapping_mul(4));
                let src = self.at(0) + i64::from(from as i32) - back;
                let dst = self.at(0) + i64::from(end as i32) - back;
                let len = u64::from(size.wrapping_mul(4));
                if !self.holds(src, len) || !self.holds(dst, len) {
                    return Err(Stop::Failed);
                }
                self.spend(len)?;
                let src = src as usize;
                self.image.copy_within(src..src + len as usize, dst as usize);
                table += 12;
                continue;
            }
            let size = self.need(table + 4)?;
            let rva = self.need(table + 8)?;
            table += 16;
            if out.len() >= MAX_SECTIONS {
                return Err(Stop::Failed);
            }
            let vsz = if next_floor.wrapping_sub(rva) as i32 > 0 {
                next_floor.wrapping_sub(rva)
            } else {
                size
            };
            let mut piece = Piece { rva, vsz, raw: 0, rsz: size };
            if size == 0 {
                out.push(piece);
                continue;
            }
            // The section of the file the unpacked one lies in.
            let inside = |s: &&Section| {
                let (b, bs) = (u64::from(s.rva), u64::from(s.vsz));
                let (i, is) = (u64::from(piece.rva), u64::from(piece.vsz));
                bs > 0 && is > 0 && is <= bs && i >= b && i + is <= b + bs
            };
            let home =
                *self.sections.iter().find(inside).ok_or(Stop::Failed)?;
            if !after_section {
                // It may hold data Petite left unpacked before it.
                piece.rva = home.rva;
                piece.rsz = rva.wrapping_sub(home.rva).wrapping_add(size);
            }
            out.push(piece);
            // A section larger than the image cannot be written.
            if u64::from(size) > self.image.len() as u64 {
                return Err(Stop::Failed);
            }
            self.spend(u64::from(size))?;
            let end =
                self.decompress(self.at(record_word), self.at(rva), size)?;
            if let Some(piece) = out.last_mut() {
                self.strip(piece, end, &mut key);
            }
            after_section = true;
        }
        if out.is_empty() {
            return Err(Stop::Failed);
        }
        out.sort_by_key(|p| p.rva);
        for i in 1..out.len() {
            out[i - 1].vsz = out[i].rva.wrapping_sub(out[i - 1].rva);
        }
        let ep = if key.hidden_entry != 0 {
            let last = last.wrapping_add(base);
            match self.decrypt_ep(&key, vep, base, last)? {
                Some(ep) => ep,
                None => out[0].rva,
            }
        } else {
            0
        };
        // The sections' data one after the other from the start.
        for i in 0..out.len() {
            let prev = i.checked_sub(1).map(|i| out[i]);
            let raw = prev.map_or(0, |p| p.raw.wrapping_add(p.rsz));
            out[i].raw = raw;
            let len = out[i].rsz;
            if len == 0 {
                continue;
            }
            if self.holds(i64::from(raw), u64::from(len)) {
                let src = self.at(out[i].rva);
                if !self.holds(src, u64::from(len)) {
                    return Err(Stop::Failed);
                }
                let (src, len) = (src as usize, len as usize);
                self.image.copy_within(src..src + len, raw as usize);
            } else {
                out[i].raw = prev.map_or(0, |p| p.raw);
                out[i].rsz = 0;
            }
        }
        Ok((out, ep))
    }

    /// Decompresses `size` bytes from `src` to `dst`; where it ended.
    fn decompress(&mut self, src: i64, mut dst: i64, size: u32) -> Step<i64> {
        // Longer sections use more distance bits, and longer matches
        // for far distances.
        let (far, near, low_bits) = match size {
            0..0x10000 => (0xffff_c060u32 as i32, 0xffff_fc60u32 as i32, 5),
            0x10000..0x40000 => {
                (0xffff_8180u32 as i32, 0xffff_f980u32 as i32, 7)
            }
            _ => (0xffff_8300u32 as i32, 0xffff_fb00u32 as i32, 8),
        };
        if !self.holds(src, 1) || !self.holds(dst, 1) {
            return Err(Stop::Failed);
        }
        self.image[dst as usize] = self.image[src as usize];
        dst += 1;
        let mut left = size - 1;
        let mut bits = Bits { at: src + 1, held: 0 };
        let mut last_distance = 0i32;
        while left > 0 {
            if bits.next(&self.image)? == 0 {
                if !self.holds(bits.at, 1) || !self.holds(dst, 1) {
                    return Err(Stop::Failed);
                }
                self.image[dst as usize] =
                    self.image[bits.at as usize] ^ left as u8;
                bits.at += 1;
                dst += 1;
                left -= 1;
                continue;
            }
            let mut extra = 0u32;
            let mut high = 1i32;
            loop {
                let b = bits.next(&self.image)?;
                if high >= i32::MAX / 2 {
                    return Err(Stop::Failed);
                }
                high = high * 2 + b as i32;
                if bits.next(&self.image)? == 0 {
                    break;
                }
            }
            high -= 3;
            let mut len: u32;
            let distance;
            if high >= 0 {
                let mut d = high;
                for _ in 0..low_bits {
                    let b = bits.next(&self.image)?;
                    if d >= i32::MAX / 2 {
                        return Err(Stop::Failed);
                    }
                    d = d * 2 + b as i32;
                }
                distance = !d;
                extra +=
                    1 + u32::from(distance < near) + u32::from(distance < far);
                last_distance = distance;
                len = 0;
            } else {
                // Code 2: the last distance again.
                len = 0;
                distance = last_distance;
            }
            len = len * 2 + bits.next(&self.image)?;
            len = len * 2 + bits.next(&self.image)?;
            if len == 0 {
                len = 1;
                loop {
                    len = len
                        .wrapping_mul(2)
                        .wrapping_add(bits.next(&self.image)?);
                    if bits.next(&self.image)? == 0 {
                        break;
                    }
                }
                len = len.wrapping_add(2);
            }
            len = len.wrapping_add(extra);
            left = left.wrapping_sub(len);
            let from = dst + i64::from(distance);
            if !self.holds(dst, u64::from(len))
                || !self.holds(from, u64::from(len))
            {
                return Err(Stop::Failed);
            }
            let (from, to) = (from as usize, dst as usize);
            // Byte by byte: a match may overlap what it writes.
            for i in 0..len as usize {
                self.image[to + i] = self.image[from + i];
            }
            dst += i64::from(len);
        }
        Ok(dst)
    }

    /// Cuts Petite's code off the end of the section just unpacked
    /// (ending at `end`), reading the entry point's key from it.
    fn strip(&self, piece: &mut Piece, end: i64, key: &mut Key) {
        let (stub_len, stub_shift) =
            (self.version.stub_len(), self.version.stub_shift());
        let code = end - stub_len + 5 + 0x4f;
        let is_stub = |at: i64| {
            self.holds(at, 8)
                && self.word(at) == Some(STUB_CODE[0])
                && self.word(at + 4) == Some(STUB_CODE[1])
        };
        let rsz = i64::from(piece.rsz);
        let reloc = if rsz > stub_len && is_stub(code) {
            0
        } else if rsz > stub_len + stub_shift && is_stub(code - stub_shift) {
            stub_shift
        } else {
            return;
        };
        let start = end - stub_len + 0x0f - reloc;
        let (Some(a), Some(b)) = (self.word(start - 8), self.word(start - 4))
        else {
            return;
        };
        let (t1, t2) = (a ^ 0x9d66_61aa, b ^ 0xe908_c483);
        if t1 == t2 && self.holds(start, 0x1c0 - 0x0f + 4) {
            let word = |off: i64| self.word(end - stub_len + off - reloc);
            key.imports = word(0x121).unwrap_or(0);
            key.hidden_entry = word(0x0f).unwrap_or(0) ^ t1;
            key.imports_scrambled = word(0x1c0) != Some(0x9090_9090);
        }
        piece.rsz -= (stub_len + reloc) as u32;
    }

    /// The original entry point from the key and the imports Petite
    /// left: `None` when the import table's end was not found.
    fn decrypt_ep(
        &mut self,
        key: &Key,
        vep: u32,
        base: u32,
        last: u32,
    ) -> Step<Option<u32>> {
        let mut enc = key.hidden_entry;
        let mut worked = self.version == Version::V21;
        if !worked {
            let mut addr = vep.wrapping_add(5).wrapping_add(base);
            let mut skip = 0i32;
            let mut thunk = self.at(key.imports);
            let mut ended = true;
            while ended && self.holds(thunk, 4) {
                let first = self.need(thunk)?;
                if first == 0 {
                    worked = true;
                    break;
                }
                let mut at = self.at(0) + i64::from(first as i32);
                thunk += 4;
                ended = false;
                while self.holds(at, 4) {
                    self.spend(4)?;
                    at += 4;
                    let mut api = self.need(at - 4)?;
                    if api == 0 {
                        ended = true;
                        break;
                    }
                    // Mangled imports are replaced by jumps, one every
                    // few entries.
                    if api & 0x8000_0000 == 0 && key.imports_scrambled && {
                        skip -= 1;
                        skip < 0
                    } {
                        api = addr;
                        addr = addr.wrapping_add(5);
                        skip = (addr & 7) as i32;
                    } else {
                        api = 0xbff0_1337;
                    }
                    if last < api {
                        enc = enc.wrapping_sub(1);
                    }
                    if api < addr {
                        enc = enc.wrapping_sub(1);
                    }
                    enc = enc.rotate_right(3);
                }
            }
        }
        Ok(worked.then(|| vep.wrapping_add(5).wrapping_add(enc)))
    }
}

/// The bit stream: bits come from the top of a byte, refilled when the
/// marker bit shifted in with it is all that is left.
struct Bits {
    at: i64,
    held: u8,
}

impl Bits {
    fn next(&mut self, image: &[u8]) -> Step<u32> {
        let mut top = self.held;
        let mut held = self.held.wrapping_mul(2);
        if self.held & 0x7f == 0 {
            // ClamAV never reads the image's last byte here.
            if self.at < 0 || self.at >= image.len() as i64 - 1 {
                return Err(Stop::Failed);
            }
            top = image[self.at as usize];
            held = top.wrapping_mul(2).wrapping_add(1);
            self.at += 1;
        }
        self.held = held;
        Ok(u32::from(top >> 7))
    }
}

#[cfg(test)]
mod tests;
