//! ASPack-packed PE32 executables (versions 2.12 to 2.42), unpacked as
//! ClamAV's `cli_scanpe` unpacks them, and the PE rebuilt from the
//! image scanned as a new file (one child).
//!
//! The packer is told by the code at the entry point: `pusha; call +3`
//! then a jump, and a `push 0; ret` (where the unpacker later stores
//! the original entry point) at one of three places, one per stub
//! version. The stub's data sits at fixed offsets from the entry point
//! less one (the section holding the stub, in ASPack's layout): the
//! block list (RVA and size of each compressed block; 8 bytes an entry
//! in 2.12, 12 later), the decoder's parameters, the byte that marks
//! the first block's call and jump targets, and the original entry
//! point. The sections are laid out in memory as the loader would, each
//! block is decoded in place ([`decode`]), the first block's `call` and
//! `jmp` targets are made relative again, and the image is rebuilt
//! into a PE (`pe32::rebuild`) whose sections are the original ones
//! (less the stub's two when they are last), each taken whole from
//! memory.
//!
//! A stream that does not decode, or a block list that leaves the
//! image, leaves the file to be scanned as it is, as in ClamAV. Where
//! ClamAV would read past its buffers (stub data beyond the image) the
//! file is not unpacked here.

use super::pe32::{self, Exe, MAX_ALLOCATION, Piece, Section, u32_at};
use super::{Sink, Unpacked};
use crate::verdict::Reason;

mod decode;

use decode::Decoder;

/// What the code at the entry point begins with.
const ENTRY: &[u8] = b"\x60\xe8\x03\x00\x00\x00\xe9\xeb";
/// `push 0; ret`: the jump to the original entry point, before the
/// unpacker writes it.
const RETURN: &[u8] = b"\x68\x00\x00\x00\x00\xc3";
/// The smallest of the three versions' "entry point + stub data" ends
/// that must lie in the file.
const STUB_END: u64 = 58 + 0x70e;

/// Where a stub version keeps things, from the entry point less one.
struct Stub {
    /// `push 0; ret`, from the entry point itself.
    ret: usize,
    blocks: u32,
    /// Block list entry size.
    entry: u32,
    /// The 58 distance slots' extra bit counts.
    widths: u32,
    /// The decoder's parameter table.
    params: u32,
    /// The byte that marks a call or jump target to convert.
    mark: u32,
    oep: u32,
}

const STUBS: [Stub; 3] = [
    // 2.12
    Stub {
        ret: 0x3b9,
        blocks: 0x57c,
        entry: 8,
        widths: 0x70e,
        params: 0x6d6,
        mark: 0x148,
        oep: 0x39b,
    },
    // after 2.12, before 2.42
    Stub {
        ret: 0x41f,
        blocks: 0x5d8,
        entry: 12,
        widths: 0x76a,
        params: 0x732,
        mark: 0x13a,
        oep: 0x401,
    },
    // 2.42
    Stub {
        ret: 0x42b,
        blocks: 0x5e4,
        entry: 12,
        widths: 0x776,
        params: 0x73e,
        mark: 0x148,
        oep: 0x40d,
    },
];

/// The decoder's parameter table's length.
const PARAMS: usize = 0x72;

/// A later block list entry with this size is passed over (its size
/// plus the decoder's padding is zero in 32 bits).
const SKIPPED_SIZE: u32 = 0u32.wrapping_sub(0x10e);

pub(crate) fn aspack<'s>(pe: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let Some(exe) = Exe::read(pe) else { return out };
    let Some(stub) = version(pe, &exe) else { return out };
    // The image: as far as the furthest section's memory reaches.
    let size = exe
        .sections
        .iter()
        .map(|s| s.rva.wrapping_add(s.vsz))
        .max()
        .unwrap_or(0);
    if size == 0 || !out.room(u64::from(size)) {
        return out;
    }
    if u64::from(size) > MAX_ALLOCATION {
        return out;
    }
    // ClamAV takes a section that does not fit for a damaged file and
    // scans it as it is.
    let Some(mut image) = load(pe, &exe.sections, size) else { return out };
    let ep = exe.vep.wrapping_sub(1);
    // Blocks decoded, all told: a real file decodes each section once;
    // a crafted list may name the whole image again and again.
    let mut work = 4 * u64::from(size);
    match unpack(&mut image, stub, ep, &mut work) {
        Ok(()) => {}
        Err(Some(r)) => {
            out.skip(r);
            return out;
        }
        Err(None) => return out,
    }
    let Some(file) = rebuilt(image, &exe.sections, stub, ep, exe.image_base)
    else {
        return out;
    };
    out.push("ASPack-unpacked".into(), file);
    out
}

/// The sections' data laid out in memory; `None` when one does not fit.
fn load(pe: &[u8], sections: &[Section], size: u32) -> Option<Vec<u8>> {
    let mut image = vec![0u8; size as usize];
    for s in sections.iter().filter(|s| s.rsz != 0) {
        let (from, len) = (s.raw as usize, s.rsz as usize);
        let data = pe.get(from..from.checked_add(len)?)?;
        if !within(size, s.rva, s.rsz) {
            return None;
        }
        image[s.rva as usize..][..len].copy_from_slice(data);
    }
    Some(image)
}

/// The stub version, from the code at the entry point; `None` when the
/// file is not ASPack's.
fn version(pe: &[u8], exe: &Exe) -> Option<&'static Stub> {
    let ep = exe.ep as usize;
    if u64::from(exe.ep) + STUB_END >= pe.len() as u64 {
        return None;
    }
    let code = pe.get(ep..)?;
    if !code.starts_with(ENTRY) {
        return None;
    }
    STUBS
        .iter()
        .find(|s| code.get(s.ret..s.ret + RETURN.len()) == Some(RETURN))
}

/// Whether `len` bytes at `at` lie in an image of `size` (ClamAV's
/// test: nothing empty).
fn within(size: u32, at: u32, len: u32) -> bool {
    len != 0 && u64::from(at) + u64::from(len) <= u64::from(size)
}

fn at(ep: u32, offset: u32) -> usize {
    (u64::from(ep) + u64::from(offset)) as usize
}

/// Decodes the blocks in place. `Err(None)`: the stream or the list is
/// damaged; `Err(Some(reason))`: the work allowed ran out.
fn unpack(
    image: &mut [u8],
    stub: &Stub,
    ep: u32,
    work: &mut u64,
) -> Result<(), Option<Reason>> {
    let size = image.len() as u32;
    let widths = at(ep, stub.widths);
    let mut decoder = Decoder::new(|i| image.get(widths + i).copied());
    let params = at(ep, stub.params);
    let mut entry = u64::from(ep) + u64::from(stub.blocks);
    // Where the first block's call/jump conversion stopped: it runs
    // once, on the first block longer than 7 bytes.
    let mut converted = 0u32;
    loop {
        let Some(e) =
            u32::try_from(entry).ok().filter(|&e| within(size, e, 8))
        else {
            return Err(None);
        };
        let e = e as usize;
        let rva = u32_at(image, e).ok_or(None)?;
        if rva == 0 {
            return Ok(());
        }
        let len = u32_at(image, e + 4).ok_or(None)?;
        if !within(size, rva, len) {
            return Err(None);
        }
        *work = match work.checked_sub(u64::from(len)) {
            Some(w) => w,
            None => return Err(Some(Reason::Timeout)),
        };
        // The stub's data as it is now: a block may have overwritten it.
        let table = image
            .get(params..params.saturating_add(PARAMS).min(image.len()))
            .unwrap_or_default()
            .to_vec();
        let mark = image.get(at(ep, stub.mark)).copied();
        let block = &mut image[rva as usize..][..len as usize];
        decoder.block(block, &table).ok_or(None)?;
        if converted == 0 && len > 7 {
            converted = relative_calls(block, mark);
        }
        entry += u64::from(stub.entry);
        if stub.entry == 12 {
            while entry + 8 <= u64::from(size)
                && u32_at(image, entry as usize + 4) == Some(SKIPPED_SIZE)
            {
                entry += 12;
            }
        }
    }
}

/// The packer makes `call` and `jmp` targets in the first block
/// absolute (rotated, the top byte a marker); makes them relative
/// again. Returns where it stopped.
fn relative_calls(block: &mut [u8], mark: Option<u8>) -> u32 {
    let stop = block.len() - 6;
    let mut i = 0;
    while i < stop {
        if matches!(block[i], 0xe8 | 0xe9)
            && mark.is_some_and(|m| block[i + 1] == m)
        {
            let v = u32_at(block, i + 1).unwrap_or(0) & 0xffff_ff00;
            let v = v.rotate_left(24).wrapping_sub(i as u32);
            block[i + 1..i + 5].copy_from_slice(&v.to_le_bytes());
            i += 4;
        }
        i += 1;
    }
    i as u32
}

/// The PE ClamAV writes for the unpacked image: the file's sections
/// (without the stub's two when they end the table), each whole from
/// memory. Where ClamAV cannot rebuild, it hands on the bare image.
fn rebuilt(
    image: Vec<u8>,
    sections: &[Section],
    stub: &Stub,
    ep: u32,
    base: u32,
) -> Option<Vec<u8>> {
    let mut n = sections.len();
    if n > 2 && ep == sections[n - 2].rva && sections[n - 1].rsz == 0 {
        n -= 2;
    }
    let pieces: Vec<Piece> = sections[..n]
        .iter()
        .map(|s| Piece { rva: s.rva, vsz: s.vsz, raw: s.rva, rsz: s.vsz })
        .collect();
    let oep = u32_at(&image, at(ep, stub.oep))?;
    Some(pe32::rebuild(&image, &pieces, base, oep, (0, 0), 0).unwrap_or(image))
}

#[cfg(test)]
mod tests;
