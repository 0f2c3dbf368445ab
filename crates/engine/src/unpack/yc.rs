//! Executables encrypted by yoda's Crypter (yC 1.3 and two variants),
//! decrypted as ClamAV's `cli_scanpe` decrypts them, and the result
//! scanned as a new file (one child).
//!
//! yC appends a section holding its loader and points the entry point
//! 0x60 bytes into it. The loader's code is recognised at the entry
//! point, which also gives the length of the second stage. Both stages
//! are the same kind of polymorphic byte decryptor: a 0x30-byte run of
//! `add/sub/xor al` with a constant or `cl`, `rol/ror al`, `dec al`,
//! no-ops and short jumps, run once for each byte with `cl` counting
//! down from the length. The first (0x93 into the section) decrypts the
//! second (from 0xc6); the second (0x457, or 0x3ea in the modified
//! variant) decrypts every section but the resources, relocations,
//! exports, imports, TLS and yC's own. The decryptors are interpreted,
//! not run: an instruction outside that set ends the attempt.
//!
//! As in ClamAV nothing is rebuilt: the file is cut before yC's section
//! data, its header told one section fewer, no import directory, the
//! original entry point (stored 0xa0f into the section) and the image
//! smaller by yC's section.

use super::pe32::{Exe, u16_at, u32_at};
use super::{Sink, Unpacked};

/// ClamAV reads 4 KiB at the entry point and goes no further than its
/// unpackers with fewer than this many.
const MIN_EP: usize = 168;

/// Jumps one decryptor run may take (ClamAV's limit, which ends a
/// decryptor that loops).
const MAX_JUMPS: u32 = 100_000_000;

/// Jumps all runs for one file may take together: ClamAV counts each
/// run on its own, so sections that share their data could each spend
/// the limit; a real decryptor takes a few per byte.
const MAX_JUMPS_FILE: u64 = 2 * MAX_JUMPS as u64;

/// Section names (their first four bytes, little-endian) the second
/// stage leaves alone: `rsrc`, `.rsr`, `relo`, `.rel`, `.eda`, `.rda`,
/// `.ida`, `.tls`.
const KEPT: [u32; 8] = [
    0x6372_7372,
    0x7273_722e,
    0x6f6c_6572,
    0x6c65_722e,
    0x6164_652e,
    0x6164_722e,
    0x6164_692e,
    0x736c_742e,
];

/// Why a decryption stopped.
#[derive(Debug, PartialEq, Eq)]
enum Fail {
    /// A read past the end of the file: ClamAV's bounds check, which
    /// raises `Heuristics.BoundsCheck`. The loader test keeps both
    /// stages' decryptors and the first stage inside the file, and the
    /// sections' reads are cut at it, so no file under 4 GiB gets here;
    /// the check stays as a guard.
    Bounds,
    /// Anything else: an unknown instruction, too many jumps, a field
    /// that points nowhere. The file is scanned as it is.
    Other,
}

/// What the loader at the entry point says.
#[derive(Debug, PartialEq, Eq)]
struct Loader {
    /// Bytes the first stage decrypts.
    ecx: u32,
    /// Where the variant's loader sits against yC 1.3's.
    offset: i16,
}

pub(crate) fn yc<'s>(pe: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let Some(exe) = Exe::read(pe) else { return out };
    let Some(loader) = detect(pe, &exe) else { return out };
    // The child is the file less yC's section: never larger than it.
    if !out.room(pe.len() as u64) {
        return out;
    }
    let mut buf = pe.to_vec();
    let mut jumps = MAX_JUMPS_FILE;
    match decrypt(&mut buf, &exe, &loader, &mut jumps) {
        Ok(len) => {
            buf.truncate(len);
            out.push("yc-unpacked".into(), buf);
        }
        Err(Fail::Bounds | Fail::Other) => {}
    }
    out
}

/// ClamAV's test for yC: the entry point 0x60 into the last section,
/// one of three loaders there, a first stage of 0x800 to 0x2000 bytes
/// ending in `stosb; loop` and inside the file.
fn detect(pe: &[u8], exe: &Exe) -> Option<Loader> {
    let last = exe.sections.last()?;
    if exe.sections.len() < 2 || exe.vep != last.rva.wrapping_add(0x60) {
        return None;
    }
    let ep = pe.get(exe.ep as usize..).filter(|d| d.len() >= MIN_EP)?;
    let at = |o: usize| u32_at(ep, o).unwrap_or(0);
    let is = |o: usize, b: &[u8]| ep.get(o..o + b.len()) == Some(b);
    let mut loader = Loader { ecx: 0, offset: 0 };
    // yC 1.3: `push ebp; mov ebp, esp; push ebx; push esi; push edi;
    // pusha; call $+5; pop ebp; sub ebp, ...`, the length as the
    // difference of two constants.
    if is(0, b"\x55\x8b\xec\x53\x56\x57\x60\xe8\x00\x00\x00\x00\x5d\x81\xed")
        && is(0x26, b"\x8d\x3a\x8b\xf7\x33\xc0\xeb\x04\x90\xeb\x01\xc2\xac")
        && ep[0x13] == 0xb9
        && u16_at(ep, 0x18) == Some(0xe981)
        && is(0x1e, b"\x8b\xd5\x81\xc2")
    {
        loader.offset = 0;
        if 0x6cu32.wrapping_sub(at(0xf)).wrapping_add(at(0x22)) == 0xc6 {
            loader.ecx = at(0x14).wrapping_sub(at(0x1a));
        }
    }
    // The variant with a stack frame of 0x40 bytes first.
    if loader.ecx == 0
        && is(0, b"\x55\x8b\xec\x83\xec\x40\x53\x56\x57")
        && is(0x17, b"\xe8\x00\x00\x00\x00\x5d\x81\xed")
        && ep[0x23] == 0xb9
    {
        loader.offset = 0x10;
        if 0x6cu32.wrapping_sub(at(0x1f)).wrapping_add(at(0x32)) == 0xc6 {
            loader.ecx = at(0x24).wrapping_sub(at(0x2a));
        }
    }
    // yC 1.x modified: no frame, the length a constant.
    if loader.ecx == 0
        && is(0, b"\x60\xe8\x00\x00\x00\x00\x5d\x81\xed")
        && ep[0xd] == 0xb9
        && u16_at(ep, 0x12) == Some(0xbd8d)
        && is(0x18, b"\x8b\xf7\xac")
    {
        loader.offset = -0x18;
        if 0x66u32.wrapping_sub(at(0x9)).wrapping_add(at(0x14)) == 0xae {
            loader.ecx = at(0xe);
        }
    }
    let tail = (0x63 + isize::from(loader.offset)) as usize;
    // ClamAV's sum is 32-bit and may wrap; the file size is not.
    let end = last
        .raw
        .wrapping_add(0xc6)
        .wrapping_add(loader.ecx)
        .wrapping_add(loader.offset as u32);
    (loader.ecx > 0x800
        && loader.ecx < 0x2000
        && is(tail, b"\xaa\xe2\xcc")
        && pe.len() as u64 >= u64::from(end))
    .then_some(loader)
}

/// Decrypts `buf` (the whole file) in place and patches its header;
/// returns the length of the decrypted file.
fn decrypt(
    buf: &mut [u8],
    exe: &Exe,
    loader: &Loader,
    jumps: &mut u64,
) -> Result<usize, Fail> {
    let count = exe.sections.len() - 1;
    let last = exe.sections[count];
    // Where yC 1.3's section would start: the variants' loaders sit
    // elsewhere in theirs. Before the file's start there is nothing to
    // read (ClamAV would read outside its buffer).
    let yc = i64::from(last.raw) + i64::from(loader.offset);
    let yc = u64::try_from(yc).map_err(|_| Fail::Other)?;
    let pe = exe.e_lfanew as usize;
    let opt = pe + 24;
    // The section table as the header placed it before decryption.
    let table = opt + usize::from(u16_at(buf, pe + 20).ok_or(Fail::Other)?);
    let ecx = loader.ecx;
    emulate(buf, yc + 0x93, yc + 0xc6, ecx, ecx, jumps)?;
    // yC's section is taken to end the file; where its size says more
    // than the file holds, ClamAV would write from outside its buffer.
    let size = buf.len().checked_sub(last.ursz as usize).ok_or(Fail::Other)?;

    let second = yc + if loader.offset == -0x18 { 0x3ea } else { 0x457 };
    for (i, s) in exe.sections[..count].iter().enumerate() {
        // The name from the file's table at the same index, even when
        // a section before was dropped (ClamAV's mismatch), and as
        // decrypted so far.
        let name = u32_at(buf, table + 40 * i).ok_or(Fail::Other)?;
        if s.raw == 0
            || s.rsz == 0
            || KEPT.contains(&name)
            || name & 0xffff == 0x4379
        {
            continue;
        }
        let Some(max) = (size as u32).checked_sub(s.raw) else {
            return Err(Fail::Other);
        };
        emulate(buf, second, u64::from(s.raw), s.ursz, max, jumps)?;
    }

    // In ClamAV's order: a crafted header may overlap what is read.
    put(buf, pe + 6, &(count as u16).to_le_bytes())?;
    put(buf, opt + 0x68, &[0; 8])?;
    let at = usize::try_from(yc + 0xa0f).map_err(|_| Fail::Other)?;
    // Unchecked in ClamAV, which reads outside its buffer there.
    let oep = u32_at(buf, at).ok_or(Fail::Other)?;
    put(buf, opt + 16, &oep.to_le_bytes())?;
    let image = u32_at(buf, opt + 0x38).ok_or(Fail::Other)?;
    put(buf, opt + 0x38, &image.wrapping_sub(last.vsz).to_le_bytes())?;
    Ok(size)
}

fn put(buf: &mut [u8], at: usize, v: &[u8]) -> Result<(), Fail> {
    let d = buf.get_mut(at..at + v.len()).ok_or(Fail::Other)?;
    d.copy_from_slice(v);
    Ok(())
}

/// The byte at `pos`: past the end is ClamAV's bounds check; the end
/// itself passes that check and ClamAV reads one byte outside its
/// buffer, which is no file's data.
fn byte(buf: &[u8], pos: u64) -> Result<u8, Fail> {
    if pos > buf.len() as u64 {
        return Err(Fail::Bounds);
    }
    buf.get(pos as usize).copied().ok_or(Fail::Other)
}

/// Runs the polymorphic decryptor at `dec` over `len` bytes at `code`
/// (at most `max`), writing each byte back before the next is read.
fn emulate(
    buf: &mut [u8],
    dec: u64,
    code: u64,
    len: u32,
    max: u32,
    file_jumps: &mut u64,
) -> Result<(), Fail> {
    let mut cl = len as u8;
    let mut jumps = MAX_JUMPS;
    for i in 0..len.min(max) {
        let at = code + u64::from(i);
        let mut al = byte(buf, at)?;
        let mut j: u32 = 0;
        while j < 0x30 {
            let op = byte(buf, dec + u64::from(j))?;
            // The operand of an instruction, one byte on.
            let next = |j: &mut u32| {
                *j += 1;
                byte(buf, dec + u64::from(*j))
            };
            match op {
                0xeb => {
                    let rel = next(&mut j)? as i8;
                    if jumps == 0 || *file_jumps == 0 {
                        return Err(Fail::Other);
                    }
                    jumps -= 1;
                    *file_jumps -= 1;
                    // A jump before the start wraps j far past the end.
                    j = j.wrapping_add(rel as u32);
                }
                // dec al; sub, add, xor al, cl: the second byte is not
                // looked at.
                0xfe => {
                    al = al.wrapping_sub(1);
                    j += 1;
                }
                0x2a => {
                    al = al.wrapping_sub(cl);
                    j += 1;
                }
                0x02 => {
                    al = al.wrapping_add(cl);
                    j += 1;
                }
                0x32 => {
                    al ^= cl;
                    j += 1;
                }
                0x04 => al = al.wrapping_add(next(&mut j)?),
                0x34 => al ^= next(&mut j)?,
                0x2c => al = al.wrapping_sub(next(&mut j)?),
                0xc0 => {
                    let left = next(&mut j)? == 0xc0;
                    let n = u32::from(next(&mut j)? & 7);
                    al = if left {
                        al.rotate_left(n)
                    } else {
                        al.rotate_right(n)
                    };
                }
                0xd2 => {
                    // ClamAV steps over one byte more here than the
                    // instruction takes.
                    let right = next(&mut j)? == 0xc8;
                    j += 1;
                    let n = u32::from(cl & 7);
                    al = if right {
                        al.rotate_right(n)
                    } else {
                        al.rotate_left(n)
                    };
                }
                0x90 | 0xf8 | 0xf9 => {}
                _ => return Err(Fail::Other),
            }
            j = j.wrapping_add(1);
        }
        cl = cl.wrapping_sub(1);
        if let Some(b) = buf.get_mut(at as usize) {
            *b = al;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
