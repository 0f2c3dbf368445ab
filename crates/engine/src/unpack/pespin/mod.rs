//! PESpin 1.1-protected PE32 executables, unpacked as ClamAV's
//! `cli_scanpe` unpacks them, and the PE rebuilt from the sections
//! scanned as a new file (one child).
//!
//! PESpin appends its loader as the last section, with the entry point
//! in it (`call $+5; mov ebx, [esp]; add ebx, ...` four bytes in). The
//! loader decrypts itself in layers before it restores the program's
//! sections, and ClamAV peels the same layers at fixed offsets from the
//! entry point, each checked by a constant PESpin 1.1 writes there:
//!
//! 1. a byte key counting down over 0x11fe bytes of the loader;
//! 2. a 32-bit shift-register key over 0x5a0 bytes;
//! 3. the sections named in a bitmap, XORed with a shift-register key
//!    made from a checksum of the file's start (so any byte changed
//!    there leaves them scrambled);
//! 4. a third shift-register key over 0x180 bytes;
//! 5. a polymorphic byte decryptor ([`poly`]), emulated over 0x1a1
//!    loader bytes and then over the sections another bitmap names;
//! 6. the sections a third bitmap names, compressed with FSG's aPLib
//!    variant ([`aplib`]), grown to their memory size; the resource
//!    section may be compressed from an offset on.
//!
//! The sections are then rebuilt one after another into ClamAV's PE
//! (`.clamNN` sections, image base 0x400000, entry point 0x1000, the
//! loader left out). Any check that fails leaves the file to be scanned
//! as it is. Compressed sections whose memory sizes add up past
//! MaxFileSize stop the unpacking too, recorded as the limit (ClamAV
//! just gives up there).

use super::pe32::{Exe, MAX_ALLOCATION, Piece, Section, rebuild, u32_at};
use super::{Sink, Unpacked};
use crate::verdict::Reason;

mod aplib;
mod poly;

/// The code four bytes past the entry point.
const STUB: &[u8] = b"\xe8\x00\x00\x00\x00\x8b\x1c\x24\x83\xc3";

/// Why unpacking stopped.
#[derive(Debug, PartialEq, Eq)]
enum Fail {
    /// Not PESpin 1.1's layout, or data that does not decode.
    Bad,
    /// The grown sections would pass MaxFileSize.
    TooLarge,
}

use Fail::Bad;

pub(crate) fn pespin<'s>(pe: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let Some(exe) = Exe::read(pe) else { return out };
    if !is_pespin(&exe, pe) {
        return out;
    }
    // ClamAV copies the whole file before it starts.
    if !out.room(pe.len() as u64) {
        return out;
    }
    let max_file = out.sink.budget().max_file;
    let last = exe.sections.len() - 1;
    match unspin(
        pe.to_vec(),
        &exe.sections[..last],
        exe.sections[last],
        exe.vep,
        max_file,
    ) {
        Ok(rebuilt) => out.push("PESpin-unpacked".into(), rebuilt),
        Err(Fail::TooLarge) => out.skip(Reason::FileSizeLimit),
        Err(Bad) => {}
    }
    out
}

/// `cli_scanpe`'s test: two sections or more, the entry point in the
/// last one with room for the loader behind it, and PESpin's code
/// there.
fn is_pespin(exe: &Exe, pe: &[u8]) -> bool {
    let [.., last] = exe.sections[..] else { return false };
    let end = last.rva.wrapping_add(last.rsz);
    let ep = exe.ep as usize;
    exe.sections.len() > 1
        && exe.vep >= last.rva
        && end >= 0x3217 - 4
        && exe.vep < end.wrapping_sub(0x3217 + 4)
        && pe.get(ep + 4..ep + 4 + STUB.len()) == Some(STUB)
}

fn byte(d: &[u8], at: usize) -> Result<u8, Fail> {
    d.get(at).copied().ok_or(Bad)
}

fn word(d: &[u8], at: usize) -> Result<u32, Fail> {
    u32_at(d, at).ok_or(Bad)
}

/// `d[at..at + len]`, which must exist and not be empty (ClamAV's
/// containment test refuses empty ranges).
fn range(d: &mut [u8], at: usize, len: usize) -> Result<&mut [u8], Fail> {
    if len == 0 {
        return Err(Bad);
    }
    d.get_mut(at..at.checked_add(len).ok_or(Bad)?).ok_or(Bad)
}

/// XORs `d` with the low byte of a 32-bit shift register stepped before
/// each byte: `taps` are XORed in when the bit shifted out is `on_one`.
fn shift_xor(d: &mut [u8], mut key: u32, taps: u32, on_one: bool) {
    for b in d {
        let out = key & 1 == 1;
        key >>= 1;
        if out == on_one {
            key ^= taps;
        }
        *b ^= key as u8;
    }
}

/// PESpin's checksum of the file's first bytes, which keys the
/// sections' XOR layer.
fn checksum(d: &[u8]) -> u32 {
    let (mut a, mut b) = (u32::MAX, u32::MAX);
    for &x in d {
        a ^= u32::from(x) << 8;
        a = (a >> 3) & 0x1fff_ffff;
        for _ in 0..4 {
            a ^= (b >> 8) & 0xff;
            a = a.wrapping_add(0x7801_a108);
            a ^= b;
            a = a.rotate_right(b & 31);
            std::mem::swap(&mut a, &mut b);
        }
    }
    b
}

/// A section's bytes for the rebuild: still in the file, or grown.
enum Data {
    File(usize, usize),
    Grown(Vec<u8>),
}

/// Whether bit `j` of a 32-bit section bitmap is set (sections past the
/// 32nd have none).
fn bit(map: u32, j: usize) -> bool {
    j < 32 && map >> j & 1 == 1
}

/// The layers, in ClamAV's order, over the file `src`; `sections` are
/// those before the loader's, `spin` the loader's, `vep` the entry
/// point. The rebuilt PE.
fn unspin(
    mut src: Vec<u8>,
    sections: &[Section],
    spin: Section,
    vep: u32,
    max_file: u64,
) -> Result<Vec<u8>, Fail> {
    let ssize = src.len();
    let (raw, rsz) = (spin.raw as usize, spin.rsz as usize);
    let mut loader = range(&mut src, raw, rsz)?.to_vec();
    let e = (vep - spin.rva) as usize;

    // Layer 1: `mov ebx, key8` and `mov ecx, 0x11fe` give the key and
    // length of the bytes it counts down over.
    if byte(&loader, e + 0xdb)? != 0xbb
        || byte(&loader, e + 0xe0)? != 0xb9
        || word(&loader, e + 0xe1)? != 0x11fe
    {
        return Err(Bad);
    }
    let mut key8 = byte(&loader, e + 0xdc)?;
    if e + 0x31e2 > rsz {
        return Err(Bad);
    }
    for b in range(&mut loader, e + 0x1fe5, 0x11fe)?.iter_mut().rev() {
        *b ^= key8;
        key8 = key8.wrapping_sub(1);
    }
    if e + 0x3217 + 4 > rsz {
        return Err(Bad);
    }

    // Layer 2.
    let key = word(&loader, e + 0x26eb)?;
    if word(&loader, e + 0x26f0)? != 0x5a0 {
        return Err(Bad);
    }
    shift_xor(range(&mut loader, e + 0x2d5, 0x5a0)?, key, 0x8c32_8834, true);

    // The checksum covers the file as it came, up to what the loader
    // says is its length less a value.
    let len = (ssize as u32).wrapping_sub(word(&loader, e + 0x429)?);
    if len as usize >= ssize {
        return Err(Bad);
    }
    let key = word(&loader, e + 0x3217)?
        .wrapping_sub(checksum(&src[..len as usize]));
    range(&mut src, raw, rsz)?.copy_from_slice(&loader);
    drop(loader);
    let ep = raw + e;

    // Layer 3: the sections' XOR.
    let map = word(&src, ep + 0x3207)?;
    for (j, s) in sections.iter().enumerate() {
        if bit(map, j) {
            let d = range(&mut src, s.raw as usize, s.rsz as usize)?;
            shift_xor(d, key, 0xed43_af31, false);
        }
    }

    // Layer 4.
    if word(&src, ep + 0x644)? != 0x180 {
        return Err(Bad);
    }
    let key = word(&src, ep + 0x650)?;
    shift_xor(range(&mut src, ep + 0x28d3, 0x180)?, key, 0xed43_af32, true);

    // Layer 5: the polymorphic code over the loader, then the sections.
    if word(&src, ep + 0x28dd)? != 0x1a1 {
        return Err(Bad);
    }
    range(&mut src, ep + 0x6d4, 0x1a1)?;
    poly::decrypt(&mut src, ep + 0x6d4, 0x1a1, ep + 0x28ec).ok_or(Bad)?;
    let map = word(&src, ep + 0x6f1)?;
    for (j, s) in sections.iter().enumerate() {
        if bit(map, j) {
            range(&mut src, ep + 0x755, poly::CODE_LEN)?;
            poly::decrypt(&mut src, s.raw as usize, s.rsz, ep + 0x755)
                .ok_or(Bad)?;
        }
    }

    // Layer 6: the compressed sections, their memory sizes first
    // against MaxFileSize.
    let grown_map = word(&src, ep + 0x3061)?;
    let mut total = 0u64;
    for (j, s) in sections.iter().enumerate() {
        if bit(grown_map, j) {
            if total > max_file || u64::from(s.vsz) > max_file - total {
                return Err(Fail::TooLarge);
            }
            total += u64::from(s.vsz);
        }
    }
    // ClamAV's rebuild holds every section at once, in no more than its
    // largest allocation.
    if total > MAX_ALLOCATION {
        return Err(Bad);
    }
    let mut blob = 0u64;
    let mut data = Vec::with_capacity(sections.len());
    let mut failed = false;
    for (j, s) in sections.iter().enumerate() {
        let (sraw, srsz) = (s.raw as usize, s.rsz as usize);
        if bit(grown_map, j) {
            if s.vsz == 0 {
                return Err(Bad);
            }
            let mut grown = vec![0u8; s.vsz as usize];
            blob += u64::from(s.vsz);
            let stream = src.get(sraw..sraw + srsz).ok_or(Bad)?;
            failed |= aplib::decode(stream, &mut grown).is_none();
            data.push(Data::Grown(grown));
        } else {
            blob += u64::from(s.rsz);
            data.push(Data::File(sraw, srsz));
        }
    }
    if failed {
        return Err(Bad);
    }

    // The resources may be compressed from an offset on: the section
    // holding that address, when not grown already, grows from there.
    let res = word(&src, ep + 0x2fee)?;
    let holder = sections.iter().position(|s| {
        s.rva <= res
            && res - s.rva < s.vsz
            && res - s.rva != 0
            && res - s.rva <= s.rsz
    });
    // Past the 32nd section ClamAV's bitmap aliases another section;
    // such a resource is left as it is here.
    if let Some(j) = holder.filter(|&j| j < 32 && !bit(grown_map, j)) {
        let s = sections[j];
        let (sraw, off) = (s.raw as usize, (res - s.rva) as usize);
        let stream = src.get(sraw + off..sraw + s.rsz as usize).ok_or(Bad)?;
        // Grown past MaxFileSize, the rebuilt file would not be scanned;
        // not knowing whether ClamAV's growing would fail is the price of
        // not allocating that much.
        if u64::from(s.vsz) > max_file {
            return Err(Fail::TooLarge);
        }
        let mut grown = Vec::new();
        if u64::from(s.vsz) <= MAX_ALLOCATION {
            grown = vec![0u8; s.vsz as usize];
            grown[..off]
                .copy_from_slice(src.get(sraw..sraw + off).ok_or(Bad)?);
        }
        if !grown.is_empty()
            && aplib::decode(stream, &mut grown[off..]).is_some()
        {
            data[j] = Data::Grown(grown);
            blob += u64::from(s.vsz);
        } else {
            blob += u64::from(s.rsz);
        }
    }
    if blob == 0 || blob > MAX_ALLOCATION {
        return Err(Bad);
    }
    // A rebuilt file past MaxFileSize would not be scanned.
    let size: u64 = data
        .iter()
        .map(|d| match d {
            Data::File(_, len) => *len as u64,
            Data::Grown(g) => g.len() as u64,
        })
        .sum();
    if size > max_file {
        return Err(Fail::TooLarge);
    }

    let mut image = Vec::with_capacity(blob as usize);
    let mut pieces = Vec::with_capacity(sections.len());
    for (s, d) in sections.iter().zip(&data) {
        let bytes = match d {
            Data::File(at, len) => src.get(*at..at + len).ok_or(Bad)?,
            Data::Grown(g) => &g[..],
        };
        pieces.push(Piece {
            rva: s.rva,
            vsz: s.vsz,
            raw: image.len() as u32,
            rsz: bytes.len() as u32,
        });
        image.extend_from_slice(bytes);
    }
    rebuild(&image, &pieces, 0x40_0000, 0x1000, (0, 0), 0).ok_or(Bad)
}

#[cfg(test)]
mod tests;
