//! UPX-packed PE32 executables, unpacked as ClamAV's `cli_scanpe`
//! unpacks them, and the PE rebuilt from the image scanned as a new
//! file (one child).
//!
//! ClamAV's test for packing is a section with no data in the file but
//! memory to fill (UPX0) followed by one with both (UPX1); the packed
//! data is UPX1's, and the image takes both sections' memory. The
//! format is picked from the code at the entry point (the decompressor
//! of UPX's stub): NRV2B, NRV2D or NRV2E; when that one fails, or none
//! is recognised, each of the others is tried from the start of UPX1 and
//! 0x15 bytes in. An LZMA stub is recognised separately, and decides
//! the outcome when present. The result is rebuilt into a PE
//! ([`rebuild`]); a stream that fails in every format leaves the file
//! to be scanned as it is, and the verdict is not affected.
//!
//! PE32+ files are not unpacked (ClamAV stops before its unpackers), and
//! neither are files no format decodes. The other packers ClamAV tries
//! before UPX on the same section layout (FSG, MEW, Upack) are not
//! done here.

use super::{Sink, Unpacked};
use crate::pe;
use crate::verdict::Reason;

mod lzma;
mod nrv;
mod rebuild;

use nrv::Nrv;
use rebuild::{Image, align_down, align_up, rebuild};

/// The code of each NRV decompressor in UPX's stub: 13 bytes from 0x69
/// (or 0x71) past the entry point must appear in it.
const STUB_NRV2B: &[u8] = b"\x11\xdb\x11\xc9\x01\xdb\x75\x07\x8b\x1e\x83\xee\xfc\x11\xdb\x11\xc9\x11\xc9\x75\x20\x41\x01\xdb";
const STUB_NRV2D: &[u8] = b"\x83\xf0\xff\x74\x78\xd1\xf8\x89\xc5\xeb\x0b\x01\xdb\x75\x07\x8b\x1e\x83\xee\xfc\x11\xdb\x11\xc9";
const STUB_NRV2E: &[u8] = b"\xeb\x52\x31\xc9\x83\xe8\x03\x72\x11\xc1\xe0\x08\x8a\x06\x46\x83\xf0\xff\x74\x75\xd1\xf8\x89\xc5";
/// The LZMA stubs: one with lc=3, lp=0, pb=2 written into it at 0x2f,
/// one storing its properties at 0x41 between two fixed runs.
const STUB_LZMA2: &[u8] = b"\x56\x83\xc3\x04\x53\x50\xc7\x03\x03\x00\x02\x00\x90\x90\x90\x90\x90\x55\x57\x56";
const STUB_LZMA1_FIRST: &[u8] = b"\x56\x83\xc3\x04\x53\x50\xc7\x03";
const STUB_LZMA1_SECOND: &[u8] = b"\x90\x90\x90\x55\x57\x56\x53\x83";

/// Section tables longer than this are not read (as in `pe`).
const MAX_SECTIONS: usize = 96;

/// ClamAV allocates no image larger than this.
const MAX_IMAGE: u32 = 1 << 30;

/// One section as ClamAV aligns it.
#[derive(Clone, Copy, Debug)]
struct Section {
    rva: u32,
    vsz: u32,
    raw: u32,
    rsz: u32,
}

/// The PE32 header fields the unpacker reads.
struct Headers {
    image_base: u32,
    /// The entry point's RVA and file offset.
    vep: u32,
    ep: u32,
    sections: Vec<Section>,
}

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

impl Headers {
    /// A PE32's headers as ClamAV's `cli_peheader` makes them out;
    /// `None` for anything else, PE32+ included.
    fn read(data: &[u8]) -> Option<Headers> {
        // Not `pe::parse`'s test of the whole file: ClamAV maps the entry
        // point through sections with data only, so a UPX0 that claims
        // memory over it is no reason to stop here.
        if !data.starts_with(b"MZ") {
            return None;
        }
        let at = pe::pe_offset(data)?;
        let count = usize::from(u16_at(data, at + 6)?);
        let opt = at + 24;
        let opt_size = usize::from(u16_at(data, at + 20)?);
        if count == 0
            || count > MAX_SECTIONS
            || opt_size < 0xe0
            || u16_at(data, opt)? != 0x10b
        {
            return None;
        }
        let table = opt + opt_size;
        let vep = u32_at(data, opt + 16)?;
        let image_base = u32_at(data, opt + 28)?;
        let salign = u32_at(data, opt + 32)?;
        let mut falign = u32_at(data, opt + 36)?;
        let hdr_size = u32_at(data, opt + 60)?;
        let raw: Vec<[u32; 4]> = (0..count)
            .map(|i| {
                let s = table + 40 * i;
                Some([
                    u32_at(data, s + 8)?,
                    u32_at(data, s + 12)?,
                    u32_at(data, s + 16)?,
                    u32_at(data, s + 20)?,
                ])
            })
            .collect::<Option<_>>()?;
        // An address or memory size with the sign bit set makes ClamAV
        // give up on the file (its raw sizes are cut to the file first).
        if raw.iter().any(|&[vs, va, _, _]| (va | vs) >> 31 != 0) {
            return None;
        }
        // Raw offsets aligned to 0x200 but not to the file alignment
        // make ClamAV fall back to 0x200.
        if falign != 0x200
            && falign != 0
            && raw.iter().any(|&[_, _, size, ptr]| {
                size != 0 && ptr % falign != 0 && ptr % 0x200 == 0
            })
        {
            falign = 0x200;
        }
        let len = data.len() as u64;
        let sections = raw
            .iter()
            .map(|&[vs, va, size, ptr]| {
                let mut s = Section {
                    rva: align_down(va, salign),
                    vsz: align_up(vs, salign),
                    raw: align_down(ptr, falign),
                    rsz: align_up(size, falign),
                };
                if s.rsz != 0 {
                    if u64::from(s.raw) >= len || u64::from(ptr) >= len {
                        s.rsz = 0;
                    } else if u64::from(s.raw) + u64::from(s.rsz) > len {
                        s.rsz = (len - u64::from(s.raw)) as u32;
                    }
                }
                if s.vsz == 0 && s.rsz != 0 {
                    let unaligned = (u64::from(size))
                        .min(len.saturating_sub(u64::from(ptr)))
                        as u32;
                    s.vsz = align_up(unaligned, salign);
                }
                s
            })
            .collect::<Vec<_>>();
        // The entry point's file offset: in the headers it is its own,
        // else through the last section whose data holds it.
        let ep = if vep < hdr_size {
            (u64::from(vep) < len).then_some(vep)?
        } else {
            let s = sections
                .iter()
                .rev()
                .find(|s| s.rsz != 0 && s.rva <= vep && s.rsz > vep - s.rva)?;
            vep - s.rva + s.raw
        };
        Some(Headers { image_base, vep, ep, sections })
    }
}

/// Whether the 13 bytes at `code` appear in a stub's decompressor.
fn looks_like(stub: &[u8], code: &[u8]) -> bool {
    memchr::memmem::find(stub, code).is_some()
}

pub(crate) fn upx<'s>(pe: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let Some(h) = Headers::read(pe) else { return out };
    // A section with memory and no data, followed by one with both.
    let Some(i) = h.sections.windows(2).position(|w| {
        w[0].rsz == 0 && w[0].vsz != 0 && w[1].rsz != 0 && w[1].vsz != 0
    }) else {
        return out;
    };
    let (upx0, upx1) = (h.sections[i], h.sections[i + 1]);
    // ClamAV reads up to 4 KiB at the entry point and wants 168 bytes.
    let ep = h.ep as usize;
    let Some(at_ep) = pe.get(ep..).filter(|d| d.len() >= 168) else {
        return out;
    };
    let mut code = [0u8; 4096];
    let n = at_ep.len().min(4096);
    code[..n].copy_from_slice(&at_ep[..n]);
    let code = &code[..];

    let ssize = upx1.rsz;
    let mut dsize = upx0.vsz.wrapping_add(upx1.vsz);
    // Both sizes, the larger, against the limits before anything is
    // allocated.
    if !out.room(u64::from(dsize.max(ssize))) {
        return out;
    }
    if ssize <= 0x19 || dsize <= ssize || dsize > MAX_IMAGE {
        return out;
    }
    let from = upx1.raw as usize;
    let Some(src) = pe.get(from..from + ssize as usize) else {
        out.skip(Reason::Malformed { format: "UPX" });
        return out;
    };
    let mut dest = vec![0u8; dsize as usize + 8192];

    let preferred =
        [(Nrv::B, STUB_NRV2B), (Nrv::D, STUB_NRV2D), (Nrv::E, STUB_NRV2E)]
            .into_iter()
            .find(|(_, stub)| {
                looks_like(stub, &code[0x69..0x69 + 13])
                    || looks_like(stub, &code[0x71..0x71 + 13])
            })
            .map(|(k, _)| k);

    // One NRV attempt from `skew` bytes into UPX1.
    let attempt =
        |kind: Nrv, skew: u32, dest: &mut [u8], dsize: &mut u32| -> bool {
            let Some(src) = src.get(skew as usize..) else { return false };
            let Some(end) = nrv::decode(kind, src, dest, *dsize) else {
                return false;
            };
            let img = Image {
                src,
                ep: h.vep.wrapping_sub(skew),
                upx0: upx0.rva,
                upx1: upx1.rva,
                stub_offsets: kind.stub_offsets(),
                end,
            };
            rebuild(&img, dest, dsize);
            true
        };

    let mut unpacked = false;
    if let Some(kind) = preferred {
        // `mov esi, UPX1 + skew` right after the `pusha`.
        let skew = u32_at(code, 2)
            .unwrap_or(0)
            .wrapping_sub(h.image_base)
            .wrapping_sub(upx1.rva) as i32;
        // A skew past the section's data is ignored too.
        let skew = if code[1] != 0xbe
            || skew <= 0
            || skew > 0xfff
            || skew as u32 > ssize
        {
            0
        } else {
            skew as u32
        };
        unpacked = attempt(kind, skew, &mut dest, &mut dsize)
            || (skew != 0 && attempt(kind, 0, &mut dest, &mut dsize));
    }
    for kind in [Nrv::B, Nrv::D, Nrv::E] {
        if unpacked || preferred == Some(kind) {
            continue;
        }
        unpacked = attempt(kind, 0, &mut dest, &mut dsize)
            || attempt(kind, 0x15, &mut dest, &mut dsize);
    }

    let lzma = if code[0x2f..0x2f + 20] == *STUB_LZMA2 {
        Some((u32_at(code, 0x21).unwrap_or(0), 0x20003))
    } else if code[0x39..0x41] == *STUB_LZMA1_FIRST
        && code[0x45..0x4d] == *STUB_LZMA1_SECOND
    {
        Some((
            u32_at(code, 0x2b).unwrap_or(0),
            u32_at(code, 0x41).unwrap_or(0),
        ))
    } else {
        None
    };
    if let Some((mut strict, props)) = lzma {
        // Only the skew UPX's LZMA stubs use.
        let mut skew = 0;
        if ssize > 0x15 && code[0] == 0x60 && code[1] == 0xbe {
            skew = u32_at(code, 2)
                .unwrap_or(0)
                .wrapping_sub(upx1.rva)
                .wrapping_sub(h.image_base);
            if skew != 0x15 {
                skew = 0;
            }
        }
        if strict <= dsize {
            // The stream (after UPX's own two bytes) is read to two
            // bytes past UPX1, as ClamAV reads it.
            let start = from + skew as usize + 2;
            let stop = (from + ssize as usize + 2).min(pe.len());
            let input = pe.get(start..stop).unwrap_or_default();
            let src = &src[skew as usize..];
            unpacked = match lzma::decode(input, &mut dest, strict, props) {
                Some(()) => {
                    let img = Image {
                        src,
                        ep: h.vep,
                        upx0: upx0.rva,
                        upx1: upx1.rva,
                        stub_offsets: &[0xb16, 0xb1e],
                        end: strict,
                    };
                    // What this rebuild makes of the length is not what
                    // ClamAV scans: it scans the image's length.
                    rebuild(&img, &mut dest, &mut strict);
                    true
                }
                None => false,
            };
        }
    }
    if unpacked {
        dest.truncate(dsize as usize);
        out.push("UPX-unpacked".into(), dest);
    }
    out
}

#[cfg(test)]
mod tests;
