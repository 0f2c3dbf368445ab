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
use super::{Reason, Sink, Unpacked};

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

    /// Copies `n` bytes from `from` to `to` as a byte-by-byte forward
    /// copy would: where the source runs into the destination, the
    /// bytes already copied repeat, so it goes in chunks whose source
    /// is final.
    pub(super) fn copy_forward(
        &mut self,
        from: u64,
        to: u64,
        n: u64,
    ) -> Option<()> {
        let f = usize::try_from(from).ok()?;
        let t = usize::try_from(to).ok()?;
        let n = usize::try_from(n).ok()?;
        let len = self.b.len();
        if f.checked_add(n)? > len || t.checked_add(n)? > len {
            return None;
        }
        if f >= t || f + n <= t {
            self.b.copy_within(f..f + n, t);
            return Some(());
        }
        // `done` stays a multiple of the period `t - f`, so the source
        // from `f` on holds what is due at `t + done`.
        let period = t - f;
        let mut done = 0;
        while done < n {
            let c = (done + period).min(n - done);
            self.b.copy_within(f..f + c, t + done);
            done += c;
        }
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
    // The stub's first instruction, `mov esi, header`, names MEW's
    // header (a VA), which must lie in the packed section.
    let mut header_at =
        pe32::u32_at(stub, 1).unwrap_or(0).wrapping_sub(exe.image_base);
    if header_at <= packed.rva
        || header_at >= packed.rva.wrapping_add(packed.raw).wrapping_sub(4)
    {
        return out;
    }
    header_at -= packed.rva;
    if packed.rsz == 0 {
        return out;
    }
    let (packed_len, image_len) = (packed.vsz, image.vsz);
    let Some(buf_len) = packed_len.checked_add(image_len) else { return out };
    if header_at >= buf_len {
        return out;
    }
    if !out.room(u64::from(packed_len.max(image_len)))
        || !out.room(u64::from(buf_len.max(packed.rsz)))
    {
        return out;
    }
    if packed.rsz < header_at.wrapping_add(12) || packed.rsz > packed_len {
        return out;
    }
    if u64::from(buf_len) > pe32::MAX_ALLOCATION {
        return out;
    }
    // A stub that decodes with LZMA calls its routine from 0x7b; the
    // call must land in the second section. The routine's offset in the
    // image tells where its first instruction (the "special" tag) is.
    let mut lzma_routine = 0u32;
    if stub[0x7b] == 0xe8 {
        let rel = pe32::u32_at(stub, 0x7c).unwrap_or(0);
        let s1 = exe.sections.get(1).copied().unwrap_or_default();
        let target = rel.wrapping_add(stub_at).wrapping_add(0x80);
        if !contains(s1.rva.into(), s1.vsz.into(), target.into(), 4) {
            return out;
        }
        let s0 = exe.sections[0];
        lzma_routine =
            rel.wrapping_sub(s0.rva.wrapping_sub(stub_at).wrapping_sub(0x80));
    }
    let mut mem = Mem { b: vec![0u8; buf_len as usize] };
    let from = packed.raw as usize;
    let Some(data) = pe.get(from..from + packed.rsz as usize) else {
        return out;
    };
    mem.b[image_len as usize..image_len as usize + data.len()]
        .copy_from_slice(data);
    let layout = Layout {
        header_at,
        packed_len,
        image_len,
        image_base: exe.image_base,
        image_rva: exe.sections[0].rva,
        lzma_routine,
    };
    let mut work = Work::new(WORK_BASE + WORK_PER_BYTE * u64::from(buf_len));
    match unpack_records(&mut mem, &layout, &mut work) {
        Some(file) => out.push("MEW-unpacked".into(), file),
        None if work.spent => {
            out.skip(Reason::Malformed { format: "MEW" });
        }
        None => {}
    }
    out
}

/// Bytes the decoders may write per byte of the buffer, and a floor
/// for small files: a real stub writes each byte of the image once, a
/// crafted chain of records can ask for the whole image again and again.
const WORK_PER_BYTE: u64 = 8;
const WORK_BASE: u64 = 1 << 20;

/// How many more bytes the decoders may write; `spent` tells a stream
/// cut short by it from one that is broken.
pub(super) struct Work {
    left: u64,
    pub(super) spent: bool,
}

impl Work {
    pub(super) fn new(left: u64) -> Self {
        Work { left, spent: false }
    }

    pub(super) fn take(&mut self, n: u64) -> Option<()> {
        match self.left.checked_sub(n) {
            Some(rest) => {
                self.left = rest;
                Some(())
            }
            None => {
                self.spent = true;
                None
            }
        }
    }
}

/// Where the packed data sits in the buffer (the image's `image_len`
/// bytes first, then the packed section's `packed_len`).
struct Layout {
    /// Where MEW's header starts in the packed section.
    header_at: u32,
    packed_len: u32,
    image_len: u32,
    image_base: u32,
    image_rva: u32,
    /// The LZMA routine's offset in the image; 0 for the LZ77 stub.
    lzma_routine: u32,
}

/// MEW's header in the packed section: a word the unpacker ignores, the
/// program's entry point (a VA), and the VA the first record decodes to.
const HEADER_LEN: u64 = 12;
const HEADER_ENTRY: u64 = 4;
const HEADER_FIRST_TARGET: u64 = 8;

/// Decodes MEW's chain of records and rebuilds the PE.
///
/// After the header come records, each an LZ77 stream followed by the
/// VA the next record decodes to, 0 after the last. Every stream may
/// write from its target to the end of the buffer and reads until its
/// end mark; the next record starts just past that. With the LZ77 stub
/// each record is one section of the rebuilt file, from where the last
/// one ended to the page its output ended in. The LZMA stub runs the
/// chain too (it unpacks its own decoder) and then decodes the image
/// from the blocks that follow it, which make one section.
fn unpack_records(
    mem: &mut Mem,
    at: &Layout,
    work: &mut Work,
) -> Option<Vec<u8>> {
    let image_va = at.image_base.checked_add(at.image_rva)?;
    let len = u64::from(at.packed_len.checked_add(at.image_len)?);
    // ClamAV checks the header's offset against the buffer's start.
    if !mem.has(at.header_at.into(), HEADER_LEN) {
        return None;
    }
    let header = u64::from(at.image_len) + u64::from(at.header_at);
    let entry_va = mem.rd(header + HEADER_ENTRY)?;
    let mut target = mem.rd(header + HEADER_FIRST_TARGET)?;
    let mut record = header + HEADER_LEN;
    // Where each record's output ends, rounded up to a page.
    let mut ends: Vec<u32> = Vec::new();
    loop {
        // Offsets into the buffer, as a 32-bit VA less the image's.
        let dst = u64::from(target.wrapping_sub(image_va));
        if record >= len || dst >= len {
            return None;
        }
        let (stream_end, written_to) = lz::unmew(
            mem,
            record,
            dst,
            (len - record) as u32,
            (len - dst) as u32,
            work,
        )?;
        if !mem.has(stream_end, 4) {
            return None;
        }
        target = mem.rd(stream_end)?;
        record = stream_end + 4;
        if at.lzma_routine == 0 {
            let end = pe32::align_up(written_to as u32, 0x1000);
            // Sections follow each other and stay inside the image.
            if ends.last().is_some_and(|&last| end < last)
                || end > at.image_len
            {
                return None;
            }
            ends.push(end);
        }
        if target == 0 {
            break;
        }
    }
    let pieces = if at.lzma_routine == 0 {
        let mut from = 0u32;
        let mut pieces = Vec::with_capacity(ends.len());
        for end in ends {
            let size = end - from;
            pieces.push(Piece {
                rva: at.image_rva.wrapping_add(from),
                vsz: size,
                raw: from,
                rsz: size,
            });
            from = end;
        }
        pieces
    } else {
        // The routine's first byte is `push eax` (0x50) in the stub that
        // also turns calls back to relative addresses.
        let tag = adds(at.lzma_routine as i32 as i64 as u64, 8);
        // The blocks start past the last record's next-VA word; their
        // description takes at least 29 bytes.
        if !mem.has(tag, 1) || !mem.has(record, 29) {
            return None;
        }
        let special = mem.get(tag)? == 0x50;
        lzma::mew_lzma(mem, record, image_va, special, work)?;
        let size = at.image_len;
        vec![Piece { rva: at.image_rva, vsz: size, raw: 0, rsz: size }]
    };
    pe32::rebuild(
        &mem.b,
        &pieces,
        at.image_base,
        entry_va.wrapping_sub(at.image_base),
        (0, 0),
        0x1000,
    )
}

#[cfg(test)]
mod tests;
