//! MEW- and Upack-packed PE32 executables, unpacked as ClamAV's
//! `cli_scanpe` unpacks them, and the PE rebuilt from the image scanned
//! as a new file (one child).
//!
//! MEW 11 leaves an empty section (the image) in front of one holding
//! the packed data and jumps from the entry point to a stub at 0x154 or
//! 0x158 in the header. Its sections are packed with an LZ77 coder whose
//! tag bits are read a byte at a time (see [`lz`]); a stub that calls a
//! second routine instead unpacks the image with MEW's LZMA variant
//! ([`lzma`]), whose probability tables live in the image itself.
//! Upack ([`upack`]) uses its own LZMA variant with 32-bit counters.
//!
//! ClamAV works in one buffer holding both the packed data and the
//! image, and so does this reader: the stubs' pointers may point
//! anywhere in it, the decoders may overwrite their own input, and the
//! tables they leave behind are part of the rebuilt file, whose bytes
//! (and so hashes) are the ones clamscan scans. Every pointer is an
//! offset into the buffer that wraps as the C code's does, and is
//! checked before use the way ClamAV checks it; where it refuses a
//! stream, nothing is handed on and the packed file alone is scanned.

use super::pe32::{self, Exe, Piece};
use super::{Sink, Unpacked};

mod lz;
mod lzma;
mod upack;
mod upack_lzma;

pub(crate) use upack::upack;

/// The unpacking buffer: an offset into it is a C pointer less the
/// buffer's start, wrapping at 2^64 as pointer arithmetic does.
pub(super) struct Mem {
    pub(super) b: Vec<u8>,
}

impl Mem {
    /// ClamAV's `CLI_ISCONTAINED` for `n` bytes at `at`.
    pub(super) fn has(&self, at: u64, n: u64) -> bool {
        let len = self.b.len() as u64;
        n > 0
            && n <= len
            && at < len
            && at.checked_add(n).is_some_and(|e| e <= len)
    }

    pub(super) fn get(&self, at: u64) -> Option<u8> {
        self.b.get(usize::try_from(at).ok()?).copied()
    }

    pub(super) fn set(&mut self, at: u64, v: u8) -> Option<()> {
        *self.b.get_mut(usize::try_from(at).ok()?)? = v;
        Some(())
    }

    pub(super) fn rd(&self, at: u64) -> Option<u32> {
        let at = usize::try_from(at).ok()?;
        pe32::u32_at(&self.b, at)
    }

    pub(super) fn wr(&mut self, at: u64, v: u32) -> Option<()> {
        let at = usize::try_from(at).ok()?;
        self.b
            .get_mut(at..at.checked_add(4)?)?
            .copy_from_slice(&v.to_le_bytes());
        Some(())
    }
}

/// A pointer plus an unsigned 32-bit value (zero-extended, as C adds a
/// `uint32_t` to a pointer).
pub(super) fn add(p: u64, v: u32) -> u64 {
    p.wrapping_add(u64::from(v))
}

/// A pointer plus a signed 32-bit value (sign-extended).
pub(super) fn adds(p: u64, v: i32) -> u64 {
    p.wrapping_add(v as i64 as u64)
}

/// ClamAV's `CLI_ISCONTAINED` on plain numbers.
pub(super) fn contains(big: u64, big_size: u64, at: u64, n: u64) -> bool {
    big_size > 0
        && n > 0
        && n <= big_size
        && at >= big
        && at + n <= big + big_size
        && at < big + big_size
}

/// The first section with memory and no data followed by one with both
/// (`cli_scanpe`'s test for UPX, FSG and MEW).
pub(super) fn empty_section(exe: &Exe) -> Option<usize> {
    exe.sections.windows(2).position(|w| {
        w[0].rsz == 0 && w[0].vsz != 0 && w[1].rsz != 0 && w[1].vsz != 0
    })
}

/// Up to 4 KiB at the entry point, as `cli_scanpe` reads them.
pub(super) fn ep_bytes<'a>(pe: &'a [u8], exe: &Exe) -> &'a [u8] {
    let at = (exe.ep as usize).min(pe.len());
    let rest = &pe[at..];
    &rest[..rest.len().min(4096)]
}

pub(crate) fn mew<'s>(pe: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let Some(exe) = Exe::read(pe) else { return out };
    let Some(i) = empty_section(&exe) else { return out };
    let ep = ep_bytes(pe, &exe);
    if ep.len() < 16 || ep[0] != 0xe9 {
        return out;
    }
    let rel = pe32::u32_at(ep, 1).unwrap_or(0);
    // The jump's target as ClamAV computes it: the entry point's RVA
    // taken for a file offset.
    let stub_at = exe.vep.wrapping_add(rel).wrapping_add(5);
    if stub_at != 0x154 && stub_at != 0x158 {
        return out;
    }
    let Some(stub) = pe.get(stub_at as usize..stub_at as usize + 0xb0) else {
        return out;
    };
    let (image, packed) = (exe.sections[i], exe.sections[i + 1]);
    // `mov esi, packed data` in the stub.
    let mut off =
        pe32::u32_at(stub, 1).unwrap_or(0).wrapping_sub(exe.image_base);
    if off <= packed.rva
        || off >= packed.rva.wrapping_add(packed.raw).wrapping_sub(4)
    {
        return out;
    }
    off -= packed.rva;
    if packed.rsz == 0 {
        return out;
    }
    let (ssize, dsize) = (packed.vsz, image.vsz);
    let Some(sum) = ssize.checked_add(dsize) else { return out };
    if off >= sum {
        return out;
    }
    if !out.room(u64::from(ssize.max(dsize)))
        || !out.room(u64::from(sum.max(packed.rsz)))
    {
        return out;
    }
    if packed.rsz < off + 12 || packed.rsz > ssize {
        return out;
    }
    if u64::from(sum) > pe32::MAX_ALLOCATION {
        return out;
    }
    // A call to the LZMA routine at 0x7b of the stub, which must land in
    // the second section.
    let mut uselzma = 0u32;
    if stub[0x7b] == 0xe8 {
        let call = pe32::u32_at(stub, 0x7c).unwrap_or(0);
        let s1 = exe.sections.get(1).copied().unwrap_or_default();
        let target = call.wrapping_add(stub_at).wrapping_add(0x80);
        if !contains(s1.rva.into(), s1.vsz.into(), target.into(), 4) {
            return out;
        }
        let s0 = exe.sections[0];
        uselzma =
            call.wrapping_sub(s0.rva.wrapping_sub(stub_at).wrapping_sub(0x80));
    }
    let mut mem = Mem { b: vec![0u8; sum as usize] };
    let from = packed.raw as usize;
    let Some(data) = pe.get(from..from + packed.rsz as usize) else {
        return out;
    };
    mem.b[dsize as usize..dsize as usize + data.len()].copy_from_slice(data);
    let p = Params {
        off,
        ssize,
        dsize,
        base: exe.image_base,
        vadd: exe.sections[0].rva,
        uselzma,
    };
    if let Some(file) = unmew11(&mut mem, &p) {
        out.push("MEW-unpacked".into(), file);
    }
    out
}

/// What `cli_scanpe` hands MEW's unpacker.
struct Params {
    /// The packed data's offset in its section.
    off: u32,
    ssize: u32,
    dsize: u32,
    base: u32,
    /// The image's RVA (the first section's).
    vadd: u32,
    /// The LZMA routine's offset in the image, or 0.
    uselzma: u32,
}

/// Unpacks MEW's sections into the buffer and rebuilds the PE.
fn unmew11(mem: &mut Mem, p: &Params) -> Option<Vec<u8>> {
    let vma = p.base.checked_add(p.vadd)?;
    let sum = p.ssize.checked_add(p.dsize)?;
    if !mem.has(p.off.into(), 12) {
        return None;
    }
    let source = u64::from(p.dsize) + u64::from(p.off);
    let entry = mem.rd(source + 4)?;
    let newedi = mem.rd(source + 8)?;
    let mut lesi = source + 12;
    let mut ledi = u64::from(newedi.wrapping_sub(vma));
    let mut lds = sum.wrapping_sub(newedi.wrapping_sub(vma));
    let mut lss = p.ssize.wrapping_sub(12).wrapping_sub(p.off);
    // Each piece's start in the image (0x1000-aligned end of the last).
    let mut pieces: Vec<Piece> = Vec::new();
    let mut f1;
    loop {
        if !mem.has(lesi, lss.into()) || !mem.has(ledi, lds.into()) {
            return None;
        }
        let (end_src, end_dst) = lz::unmew(mem, lesi, ledi, lss, lds)?;
        f1 = end_src;
        if !mem.has(f1, 4) {
            return None;
        }
        lss = lss.wrapping_sub((f1 + 4 - lesi) as u32);
        lesi = f1 + 4;
        let next = mem.rd(f1)?;
        ledi = u64::from(next.wrapping_sub(vma));
        lds = sum.wrapping_sub(next.wrapping_sub(vma));
        if p.uselzma == 0 {
            let val = pe32::align_up(end_dst as u32, 0x1000);
            let n = pieces.len();
            if n == 0 {
                pieces.push(Piece { rva: p.vadd, vsz: val, raw: 0, rsz: val });
            } else {
                let last = pieces.last_mut()?;
                if val < last.raw {
                    return None;
                }
                last.rsz = val - last.raw;
                last.vsz = last.rsz;
            }
            let last = *pieces.last()?;
            if u64::from(last.raw) + u64::from(last.rsz) > u64::from(p.dsize) {
                return None;
            }
            pieces.push(Piece {
                rva: val.wrapping_add(p.vadd),
                vsz: 0,
                raw: val,
                rsz: 0,
            });
        }
        if next == 0 {
            break;
        }
    }
    if p.uselzma != 0 {
        let tag = adds(p.uselzma as i32 as i64 as u64, 8);
        if !mem.has(tag, 1) || !mem.has(f1 + 4, 29) {
            return None;
        }
        let special = mem.get(tag)? == 0x50;
        lzma::mew_lzma(mem, f1 + 4, vma, special)?;
        pieces =
            vec![Piece { rva: p.vadd, vsz: p.dsize, raw: 0, rsz: p.dsize }];
    } else {
        // The last entry only marks where the next would start.
        pieces.pop();
    }
    pe32::rebuild(
        &mem.b,
        &pieces,
        p.base,
        entry.wrapping_sub(p.base),
        (0, 0),
        0x1000,
    )
}

#[cfg(test)]
mod tests;
