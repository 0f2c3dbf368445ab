//! Files that carry others: a Mach-O universal binary holds one Mach-O
//! file per architecture, and a compressed Flash file (CWS, ZWS) its
//! uncompressed form, which ClamAV scans as a child of it. A damaged one
//! gives what can be read, as in ClamAV (which at most calls it a broken
//! executable), not a reason to call the file unscanned.

use std::io::Read;

use super::{Sink, Unpacked};
use crate::verdict::Reason;

/// A universal (fat) binary: each architecture's file, at the offset and
/// of the size its big-endian entry gives, as ClamAV reads them (at most
/// 32 of them, none starting inside the header).
pub(crate) fn macho_fat<'s>(
    data: &[u8],
    sink: &'s mut dyn Sink,
) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let be32 = |at: usize| {
        Some(u32::from_be_bytes(
            data.get(at..at.checked_add(4)?)?.try_into().ok()?,
        ))
    };
    let Some(count) = be32(4) else { return out };
    // ClamAV's reading: a count this high is a Java class, over 32 an error.
    if count & 0xffff >= 39 {
        return out;
    }
    if count > 32 {
        return out;
    }
    let mut at = 8usize;
    for _ in 0..count {
        if out.done() {
            break;
        }
        let (Some(offset), Some(size)) = (be32(at + 8), be32(at + 12)) else {
            break;
        };
        at += 20;
        let offset = offset as usize;
        if offset < at {
            break;
        }
        let end = offset.saturating_add(size as usize).min(data.len());
        // What lies in the file of it, as ClamAV maps it; none, nothing.
        let Some(member) = data.get(offset..end).filter(|m| !m.is_empty())
        else {
            continue;
        };
        out.push_slice(format!("architecture at {offset}"), member.to_vec());
    }
    out
}

/// A compressed Flash file: its uncompressed form (the header with `FWS`
/// and the body inflated, or LZMA-decoded for `ZWS`) as one child, as
/// ClamAV writes it out; as much as decodes.
pub(crate) fn swf<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let (Some(kind), Some(header)) = (data.first(), data.get(..8)) else {
        return out;
    };
    let mut head = header.to_vec();
    head[0] = b'F';
    let length =
        u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]));
    let body: Box<dyn Read + '_> = match kind {
        b'C' => Box::new(flate2::read::ZlibDecoder::new(&data[8..])),
        b'Z' => {
            // The compressed size (unused), then LZMA's properties byte
            // and dictionary size, then the stream.
            let Some(props) = data.get(12..17) else { return out };
            let dict =
                u32::from_le_bytes([props[1], props[2], props[3], props[4]]);
            // A dictionary larger than the output is never used: bounded
            // by both, a crafted size cannot make a large allocation.
            let want = length.saturating_sub(8);
            let max = out.sink.budget().max_file;
            let dict = u64::from(dict).min(want).min(max).clamp(4096, 64 << 20)
                as u32;
            match lzma_rust2::LzmaReader::new_with_props(
                &data[17..],
                want,
                props[0],
                dict,
                None,
            ) {
                Ok(mut r) => {
                    r.set_relaxed_end_condition(true);
                    Box::new(r)
                }
                Err(_) => return out,
            }
        }
        _ => return out,
    };
    // As ClamAV: what decodes is scanned, a stream that breaks off or
    // never starts is no reason to call the file unscanned.
    let budget = out.sink.budget();
    let cap = budget.max_file.min(budget.bytes_left);
    let mut copy = head;
    let _ = body.take(cap.saturating_sub(8)).read_to_end(&mut copy);
    if copy.len() as u64 >= cap {
        // Cut at the limit: what lies beyond is not scanned.
        out.skip(Reason::FileSizeLimit);
    }
    if copy.len() > 8 {
        out.push("uncompressed Flash".into(), copy);
    }
    out
}
