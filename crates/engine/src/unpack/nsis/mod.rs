//! Nullsoft (NSIS) installers, read as ClamAV reads them (its
//! `CL_TYPE_NULSFT`): the data from NSIS's first header on, which the
//! embedded-type pass finds inside an executable. The header says how
//! long the archive is; what follows is either a run of blocks, each a
//! 32-bit length (high bit: compressed) and its bytes, or one solid
//! stream holding the same lengths and bytes compressed together. The
//! first block or member is the installer's script header, scanned as
//! raw bytes; every other one is a file, scanned as any child.
//!
//! ClamAV guesses solidity by walking the data as blocks: a length that
//! runs past the archive means solid (unless the file is truncated and
//! two blocks were walked). The compressor of a solid stream is guessed
//! from its first bytes; of blocks, by a vote over every compressed
//! block's first bytes.
//!
//! Its limits are kept: a block whose compressed size is over the limits
//! is passed over; in a solid stream, a member whose stated size is over
//! them ends the walk. Its deflate decoder runs 32 KiB ahead of what is
//! read, and a solid stream is left as soon as the decoder has taken all
//! but the last four bytes of input: the members in the last 32 KiB of a
//! solid deflate stream are not scanned, by ClamAV or here (the bzip2
//! decoder takes a block at a time, so there the last block is left
//! only when the archive has no CRC).

use std::io::Read;

use super::{Sink, Unpacked};
use crate::verdict::Reason;

mod bzip2;
mod streams;

use streams::{Decoder, Method, ZLIB_AHEAD};

const DAMAGED: Reason = Reason::Malformed { format: "NSIS" };

/// The first header: flags, signature, `NullsoftInst`, the length of
/// the script header, the length of the archive from this header on.
const FIRST_HEADER: usize = 0x1c;
const MAGIC: &[u8; 16] = b"\xef\xbe\xad\xdeNullsoftInst";

fn le32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// What the first header and ClamAV's walk say of the archive.
#[derive(Debug, PartialEq, Eq)]
struct Layout {
    /// Bytes of the archive after the first header (the stated length,
    /// or what the input holds when that is less).
    len: usize,
    solid: bool,
    method: Method,
}

impl Layout {
    /// `None` where ClamAV's reader fails before extracting anything.
    fn read(data: &[u8]) -> Option<Layout> {
        if data.get(4..20)? != MAGIC {
            return None;
        }
        let stated = le32(data, 0x18)? as usize;
        let truncated = data.len() < stated;
        // Past this point ClamAV's lengths would wrap around.
        let len = stated.min(data.len()).checked_sub(FIRST_HEADER)?;
        let bound = u32::try_from(len).ok()?.checked_sub(4)?;
        let word = |pos: u64| {
            let at = usize::try_from(pos).ok()?.checked_add(FIRST_HEADER)?;
            data.get(at..at.checked_add(4)?)?.try_into().ok()
        };
        // Walked as blocks, with ClamAV's 32-bit arithmetic.
        let mut votes = [0u32; 3];
        let mut first = None;
        let (mut pos, mut walked, mut solid) = (0u32, 0u32, false);
        while pos < bound {
            let w: [u8; 4] = word(u64::from(pos))?;
            first.get_or_insert(Method::guess(w));
            let mut next = u32::from_le_bytes(w);
            if next & 0x8000_0000 != 0 {
                let m = Method::guess(word(u64::from(pos) + 4)?);
                votes[m as usize] += 1;
                next = (next & 0x7fff_ffff).wrapping_sub(4);
                pos = pos.wrapping_add(4);
            }
            pos = pos.wrapping_add(4).wrapping_add(next);
            if pos > len as u32 {
                solid = true;
                break;
            }
            walked += 1;
        }
        if truncated && walked >= 2 {
            solid = false;
        }
        let [b, l, z] = votes;
        let method = if solid {
            first.unwrap_or(Method::Zlib)
        } else if b < l {
            if l < z { Method::Zlib } else { Method::Lzma }
        } else if b < z {
            Method::Zlib
        } else {
            Method::Bzip2
        };
        Some(Layout { len, solid, method })
    }
}

pub(crate) fn nsis<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let Some(layout) = Layout::read(data) else {
        out.skip(DAMAGED);
        return out;
    };
    if layout.solid {
        solid(data, &layout, &mut out);
    } else {
        blocks(data, &layout, &mut out);
    }
    out
}

/// ClamAV's names: the script header, then each file by its number.
fn name(index: u32) -> String {
    if index == 0 { "headers".into() } else { format!("content.{index:03}") }
}

/// The script header is scanned as ClamAV scans it: its raw bytes,
/// untyped.
fn give(out: &mut Unpacked<'_>, index: u32, data: Vec<u8>) {
    if index == 0 {
        out.push_script(name(index), data);
    } else {
        out.push(name(index), data);
    }
}

/// Reads `r` to its end, as far as the budget goes: the bytes, and
/// whether the stream broke.
fn read_capped(out: &mut Unpacked<'_>, mut r: impl Read) -> (Vec<u8>, bool) {
    let b = out.sink.budget();
    let (cap, max_file) = (b.max_file.min(b.bytes_left), b.max_file);
    let mut data = Vec::new();
    let broke = r.by_ref().take(cap).read_to_end(&mut data).is_err();
    let more = !broke
        && data.len() as u64 == cap
        && r.read(&mut [0u8]).is_ok_and(|n| n > 0);
    if more {
        out.skip(if cap == max_file {
            Reason::FileSizeLimit
        } else {
            Reason::ScanSizeLimit
        });
    }
    (data, broke)
}

/// A non-solid archive: one block after another.
fn blocks(data: &[u8], layout: &Layout, out: &mut Unpacked<'_>) {
    let mut at = FIRST_HEADER;
    // ClamAV's count of archive bytes left, which it does not lower for
    // an empty block.
    let mut left = layout.len as u64;
    let mut index = 0u32;
    while !out.done() {
        let this = index;
        index += 1;
        let Some(word) = le32(data, at) else { break };
        at += 4;
        if left == 4 {
            // The CRC.
            break;
        }
        let size = word & 0x7fff_ffff;
        if size == 0 {
            continue;
        }
        if left < 4 || u64::from(size) > left - 4 {
            out.skip(DAMAGED);
            break;
        }
        left -= u64::from(size) + 4;
        let size = size as usize;
        if !out.room(size as u64) {
            at += size;
            continue;
        }
        let Some(block) =
            at.checked_add(size).and_then(|end| data.get(at..end))
        else {
            out.skip(DAMAGED);
            break;
        };
        at += size;
        if word == size as u32 {
            give(out, this, block.to_vec());
            continue;
        }
        let (bytes, broke) =
            read_capped(out, Decoder::new(layout.method, block, 0));
        if broke {
            out.skip(DAMAGED);
        }
        // A block that gave nothing is passed over.
        if !bytes.is_empty() {
            give(out, this, bytes);
        }
    }
}

/// Reads up to `buf.len()` bytes: how many, and whether the stream
/// broke.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> (usize, bool) {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return (n, true),
        }
    }
    (n, false)
}

/// A solid archive: members, each a 32-bit length and its bytes, in one
/// compressed stream.
fn solid(data: &[u8], layout: &Layout, out: &mut Unpacked<'_>) {
    let Some(input) = data.get(FIRST_HEADER..FIRST_HEADER + layout.len) else {
        out.skip(DAMAGED);
        return;
    };
    let mut stream = Decoder::new(layout.method, input, ZLIB_AHEAD);
    // Empty members cost ClamAV nothing; here the stream read for them
    // and for every member is bounded by what may still be scanned, so
    // a stream of zeros cannot keep the walk going.
    let mut allowance = out.sink.budget().bytes_left.saturating_add(1 << 20);
    for index in 0u32.. {
        if out.done() || stream.exhausted() {
            break;
        }
        let mut word = [0u8; 4];
        let (n, broke) = read_full(&mut stream, &mut word);
        if n < 4 {
            if n > 0 || broke {
                out.skip(DAMAGED);
            }
            break;
        }
        let size = u32::from_le_bytes(word);
        if !out.room(u64::from(size)) {
            break;
        }
        let Some(rest) = allowance.checked_sub(4 + u64::from(size)) else {
            out.skip(Reason::ScanSizeLimit);
            break;
        };
        allowance = rest;
        if size == 0 {
            continue;
        }
        let mut bytes = Vec::new();
        let broke = (&mut stream)
            .take(u64::from(size))
            .read_to_end(&mut bytes)
            .is_err();
        let whole = bytes.len() as u64 == u64::from(size);
        if bytes.is_empty() {
            out.skip(DAMAGED);
            break;
        }
        give(out, index, bytes);
        if !whole || broke {
            out.skip(DAMAGED);
            break;
        }
    }
}

#[cfg(test)]
mod tests;
