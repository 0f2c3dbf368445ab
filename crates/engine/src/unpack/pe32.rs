//! What ClamAV's executable unpackers share: the PE32 header as
//! `cli_scanpe` makes it out (sections aligned its way, missing ones
//! dropped), the entry point's file offset, and the PE it rebuilds
//! from an unpacked image (`.clamNN` sections behind its own DOS
//! header). An unpacker that rebuilds the same way gives the child
//! clamscan scans, byte for byte, so hash signatures of unpacked files
//! agree.

use crate::pe;

/// Section tables longer than this are not read, ClamAV's limit for a
/// rebuilt PE. ClamAV reads longer tables of packed files; here they
/// would let a crafted table of overlapping sections multiply the
/// unpackers' per-section work, so a packed file of more than 96
/// sections is scanned as it is.
pub(crate) const MAX_SECTIONS: usize = 96;

/// ClamAV allocates no buffer larger than this.
pub(crate) const MAX_ALLOCATION: u64 = 1 << 30;

pub(crate) fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

pub(crate) fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// `v` rounded down to a multiple of `a` (unchanged when `a` is 0).
pub(crate) fn align_down(v: u32, a: u32) -> u32 {
    v.checked_div(a).map_or(v, |q| q * a)
}

/// `v` rounded up to a multiple of `a` (unchanged when `a` is 0),
/// wrapping at 2^32 as ClamAV's 32-bit arithmetic does.
pub(crate) fn align_up(v: u32, a: u32) -> u32 {
    v.checked_div(a)
        .map_or(v, |q| (q + u32::from(!v.is_multiple_of(a))).wrapping_mul(a))
}

/// One section: the aligned values ClamAV works with and the header's
/// own (`u*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Section {
    pub rva: u32,
    pub vsz: u32,
    pub raw: u32,
    pub rsz: u32,
    pub chr: u32,
    pub urva: u32,
    pub uvsz: u32,
    pub uraw: u32,
    pub ursz: u32,
}

/// A PE32 file's headers as `cli_peheader` reads them for `cli_scanpe`.
#[derive(Clone, Debug)]
pub(crate) struct Exe {
    pub e_lfanew: u32,
    pub image_base: u32,
    /// The entry point's RVA and file offset.
    pub vep: u32,
    pub ep: u32,
    /// SizeOfHeaders rounded up to the section alignment.
    pub hdr_size: u32,
    /// Sections whose data starts inside the file (those starting past
    /// its end are dropped, as `cli_scanpe` asks).
    pub sections: Vec<Section>,
    /// The lowest section RVA and the highest RVA + raw size.
    pub min: u32,
    pub max: u32,
    /// The data directories (address, size); missing ones zero.
    pub dirs: [(u32, u32); 16],
}

impl Exe {
    /// A PE32's headers; `None` for anything else (PE32+ included:
    /// `cli_scanpe` runs no unpacker on those) or what `cli_peheader`
    /// rejects.
    pub(crate) fn read(data: &[u8]) -> Option<Exe> {
        if !data.starts_with(b"MZ") {
            return None;
        }
        let at = pe::pe_offset(data)?;
        let e_lfanew = at as u32;
        let count = usize::from(u16_at(data, at + 6)?);
        let opt_size = usize::from(u16_at(data, at + 20)?);
        let opt = at + 24;
        // Any optional header magic but PE32+'s is read as PE32's, as
        // ClamAV reads it.
        if count == 0
            || count > MAX_SECTIONS
            || opt_size < 0x60
            || u16_at(data, opt)? == 0x20b
        {
            return None;
        }
        let vep = u32_at(data, opt + 16)?;
        let image_base = u32_at(data, opt + 28)?;
        let salign = u32_at(data, opt + 32)?;
        let mut falign = u32_at(data, opt + 36)?;
        let ndirs = (u32_at(data, opt + 92)? as usize).min(16);
        if opt_size < 0x60 + 8 * ndirs {
            return None;
        }
        let mut dirs = [(0, 0); 16];
        for (i, d) in dirs.iter_mut().enumerate().take(ndirs) {
            *d = (
                u32_at(data, opt + 96 + 8 * i)?,
                u32_at(data, opt + 100 + 8 * i)?,
            );
        }
        let hdr_size = align_up(u32_at(data, opt + 60)?, salign);
        let table = opt + opt_size;
        let hdrs: Vec<[u32; 5]> = (0..count)
            .map(|i| {
                let s = table + 40 * i;
                Some([
                    u32_at(data, s + 8)?,
                    u32_at(data, s + 12)?,
                    u32_at(data, s + 16)?,
                    u32_at(data, s + 20)?,
                    u32_at(data, s + 36)?,
                ])
            })
            .collect::<Option<_>>()?;
        // Raw offsets aligned to 0x200 but not to the file alignment
        // make ClamAV fall back to 0x200.
        if falign != 0x200
            && falign != 0
            && hdrs.iter().any(|&[_, _, size, ptr, _]| {
                size != 0 && ptr % falign != 0 && ptr % 0x200 == 0
            })
        {
            falign = 0x200;
        }
        let len = data.len() as u64;
        let mut sections: Vec<Section> = Vec::with_capacity(count);
        let (mut min, mut max) = (0u32, 0u32);
        let mut removed = 0;
        for &[vs, va, size, ptr, chr] in &hdrs {
            let mut s = Section {
                rva: align_down(va, salign),
                vsz: align_up(vs, salign),
                raw: align_down(ptr, falign),
                rsz: align_up(size, falign),
                chr,
                urva: va,
                uvsz: vs,
                uraw: ptr,
                ursz: size,
            };
            if s.rsz != 0 {
                if u64::from(s.raw) >= len || u64::from(s.uraw) >= len {
                    // Dropped; the last one left is no PE to ClamAV.
                    if count - removed == 1 {
                        return None;
                    }
                    removed += 1;
                    continue;
                }
                if u64::from(s.raw) + u64::from(s.rsz) > len {
                    s.rsz = (len - u64::from(s.raw)) as u32;
                }
                if u64::from(s.uraw) + u64::from(s.ursz) > len {
                    s.ursz = (len - u64::from(s.uraw)) as u32;
                }
            }
            if s.vsz == 0 && s.rsz != 0 {
                s.vsz = align_up(s.ursz, salign);
            }
            if (s.urva | s.uvsz | s.ursz) >> 31 != 0
                || (s.rsz != 0 && s.uraw >> 31 != 0)
            {
                return None;
            }
            if sections.is_empty() {
                min = s.rva;
                max = s.rva.wrapping_add(s.rsz);
            } else {
                min = min.min(s.rva);
                max = max.max(s.rva.wrapping_add(s.rsz));
            }
            sections.push(s);
        }
        if sections.is_empty() {
            return None;
        }
        let mut exe = Exe {
            e_lfanew,
            image_base,
            vep,
            ep: 0,
            hdr_size,
            sections,
            min,
            max,
            dirs,
        };
        exe.ep = exe.raw_addr(vep, len)?;
        Some(exe)
    }

    /// The file offset of an RVA (`cli_rawaddr`): inside the headers
    /// it is its own, else through the last section whose data holds
    /// it.
    pub(crate) fn raw_addr(&self, rva: u32, len: u64) -> Option<u32> {
        if rva < self.hdr_size {
            return (u64::from(rva) < len).then_some(rva);
        }
        let s = self
            .sections
            .iter()
            .rev()
            .find(|s| s.rsz != 0 && s.rva <= rva && s.rsz > rva - s.rva)?;
        Some(rva - s.rva + s.raw)
    }
}

/// ClamAV's DOS header and stub, in front of every PE it rebuilds: a
/// hash of the rebuilt file depends on these bytes.
pub(crate) fn dos_header() -> [u8; 0xd0] {
    let mut h = [0u8; 0xd0];
    // e_magic, e_cblp, e_cp, e_crlc, e_cparhdr, e_minalloc, e_maxalloc,
    // e_ss, e_sp, e_csum, e_ip, e_cs, e_lfarlc, e_ovno.
    let words: [u16; 14] =
        [0x5a4d, 0x90, 2, 0, 4, 0xf, 0xffff, 0, 0xb0, 0, 0, 0, 0x40, 0x1a];
    for (i, w) in words.iter().enumerate() {
        h[2 * i..2 * i + 2].copy_from_slice(&w.to_le_bytes());
    }
    h[0x3c..0x40].copy_from_slice(&0xd0u32.to_le_bytes());
    // push cs; pop ds; mov ah, 9; mov dx, 0x0d; int 21h; mov ah, 4ch;
    // int 21h: print the text and leave.
    let code = [0x0e, 0x1f, 0xb4, 0x09, 0xba, 0x0d, 0x00, 0xcd, 0x21, 0xb4];
    h[0x40..0x4a].copy_from_slice(&code);
    h[0x4a..0x4d].copy_from_slice(&[0x4c, 0xcd, 0x21]);
    let text: &[u8] = b"This file was created by ClamAV for internal use \
        and should not be run.\r\nClamAV - A GPL virus scanner - \
        http://www.clamav.net\r\n$";
    h[0x4d..0x4d + text.len()].copy_from_slice(text);
    h
}

/// The file and optional header ClamAV writes at 0xd0 of a rebuilt PE
/// (0x78 bytes; section count, entry point, image base, header and
/// image sizes filled in by [`rebuild`]).
fn nt_header() -> [u8; 0x78] {
    let mut h = [0u8; 0x78];
    let mut put = |at: usize, v: &[u8]| h[at..at + v.len()].copy_from_slice(v);
    put(0, b"PE\0\0");
    put(4, &0x14cu16.to_le_bytes()); // i386
    put(8, b"CLAM"); // TimeDateStamp
    put(0x14, &0xe0u16.to_le_bytes());
    put(0x16, &0x8f83u16.to_le_bytes());
    put(0x18, &0x10bu16.to_le_bytes());
    // SizeOfCode, SizeOfInitializedData, BaseOfCode, BaseOfData.
    for at in [0x1c, 0x20, 0x2c, 0x30] {
        put(at, &0x1000u32.to_le_bytes());
    }
    put(0x38, &0x1000u32.to_le_bytes()); // SectionAlignment
    put(0x3c, &0x200u32.to_le_bytes()); // FileAlignment
    put(0x40, &1u16.to_le_bytes()); // OS 1.0
    put(0x48, &3u16.to_le_bytes()); // subsystem 3.10
    put(0x4a, &10u16.to_le_bytes());
    put(0x5c, &2u16.to_le_bytes()); // GUI
    for (at, v) in [(0x60, 0x10_0000u32), (0x64, 0x1000), (0x68, 0x10_0000)] {
        put(at, &v.to_le_bytes());
    }
    put(0x6c, &0x1000u32.to_le_bytes());
    put(0x74, &16u32.to_le_bytes()); // NumberOfRvaAndSizes
    h
}

/// One section of an unpacked image for [`rebuild`]: where it goes in
/// memory and where its bytes are in the image buffer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Piece {
    pub rva: u32,
    pub vsz: u32,
    pub raw: u32,
    pub rsz: u32,
}

/// The PE ClamAV's `cli_rebuildpe_align` writes for an unpacked image:
/// its headers, one `.clamNN` section per piece (plus an `empty` one
/// when the first piece starts past the headers' page), each piece's
/// bytes from `image` at 0x200-aligned file offsets. With `align` not 0
/// the sizes and addresses are rounded up to it. `None` where ClamAV
/// gives up: too many sections, too large a file, or a piece's bytes
/// outside `image` (ClamAV would read past its buffer there).
pub(crate) fn rebuild(
    image: &[u8],
    pieces: &[Piece],
    base: u32,
    ep: u32,
    resources: (u32, u32),
    align: u32,
) -> Option<Vec<u8>> {
    let n = pieces.len() as u32;
    let first = pieces.first()?;
    let mut rawbase = align_up(0x148 + 0x80 + 0x28 * n, 0x200);
    let ghost = first.rva > align_up(rawbase, 0x1000);
    if ghost {
        rawbase = align_up(0x148 + 0x80 + 0x28 * (n + 1), 0x200);
    }
    if pieces.len() + usize::from(ghost) > MAX_SECTIONS {
        return None;
    }
    let up = |v: u32| if align == 0 { v } else { align_up(v, align) };
    let up64 = |v: u64, a: u64| v.div_ceil(a) * a;
    let data: u64 = pieces
        .iter()
        .map(|p| {
            up64(
                if align == 0 {
                    u64::from(p.rsz)
                } else {
                    up64(u64::from(p.rsz), u64::from(align))
                },
                0x200,
            )
        })
        .sum();
    if data > MAX_ALLOCATION || u64::from(rawbase) + data > MAX_ALLOCATION {
        return None;
    }
    let mut out = vec![0u8; (u64::from(rawbase) + data) as usize];
    out[..0xd0].copy_from_slice(&dos_header());
    out[0xd0..0x148].copy_from_slice(&nt_header());
    let put = |out: &mut [u8], at: usize, v: u32| {
        out[at..at + 4].copy_from_slice(&v.to_le_bytes());
    };
    out[0xd6..0xd8]
        .copy_from_slice(&((n + u32::from(ghost)) as u16).to_le_bytes());
    put(&mut out, 0xd0 + 0x28, ep);
    put(&mut out, 0xd0 + 0x34, base);
    put(&mut out, 0xd0 + 0x54, rawbase);
    put(&mut out, 0x148 + 0x10, resources.0);
    put(&mut out, 0x148 + 0x14, resources.1);
    let mut image_size = align_up(rawbase, 0x1000);
    let mut hdr = 0x148 + 0x80;
    let mut file_at = rawbase;
    if ghost {
        out[hdr..hdr + 5].copy_from_slice(b"empty");
        put(&mut out, hdr + 8, first.rva.wrapping_sub(image_size));
        put(&mut out, hdr + 12, image_size);
        put(&mut out, hdr + 0x24, u32::MAX);
        hdr += 40;
        image_size = image_size.wrapping_add(align_up(
            first.rva.wrapping_sub(image_size),
            0x1000,
        ));
    }
    for (i, p) in pieces.iter().enumerate() {
        // ".clam%.2d", cut to seven characters like ClamAV's snprintf.
        let name = format!(".clam{:02}", i + 1);
        let name = &name.as_bytes()[..name.len().min(7)];
        out[hdr..hdr + name.len()].copy_from_slice(name);
        put(&mut out, hdr + 8, up(p.vsz));
        put(&mut out, hdr + 12, up(p.rva));
        put(&mut out, hdr + 16, up(p.rsz));
        put(&mut out, hdr + 20, file_at);
        put(&mut out, hdr + 0x24, u32::MAX);
        let from = p.raw as usize;
        let bytes = image.get(from..from.checked_add(p.rsz as usize)?)?;
        let at = file_at as usize;
        out[at..at + bytes.len()].copy_from_slice(bytes);
        hdr += 40;
        file_at = file_at.wrapping_add(align_up(up(p.rsz), 0x200));
        image_size = image_size.wrapping_add(align_up(up(p.vsz), 0x1000));
    }
    put(&mut out, 0xd0 + 0x50, image_size);
    out.truncate(file_at as usize);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebuilt_pe_reads_back() {
        let image: Vec<u8> = (0..0x3000u32).map(|i| i as u8).collect();
        let pieces = [
            Piece { rva: 0x1000, vsz: 0x1000, raw: 0, rsz: 0x1000 },
            Piece { rva: 0x2000, vsz: 0x2000, raw: 0x1000, rsz: 0x1800 },
        ];
        let pe =
            rebuild(&image, &pieces, 0x40_0000, 0x1010, (0, 0), 0).unwrap();
        let exe = Exe::read(&pe).unwrap();
        assert_eq!(exe.image_base, 0x40_0000);
        assert_eq!(exe.vep, 0x1010);
        assert_eq!(exe.sections.len(), 2);
        assert_eq!(
            &pe[exe.ep as usize..exe.ep as usize + 4],
            &image[0x10..0x14]
        );
        let s = exe.sections[1];
        assert_eq!((s.rva, s.ursz), (0x2000, 0x1800));
        assert_eq!(&pe[s.raw as usize..][..0x1800], &image[0x1000..0x2800]);
        assert_eq!(&pe[0xd0 + 0x80 + 0x78..][..7], b".clam01");
    }

    #[test]
    fn first_section_past_the_headers_gets_an_empty_one() {
        let image = vec![0x90u8; 0x200];
        let pieces = [Piece { rva: 0x5000, vsz: 0x1000, raw: 0, rsz: 0x200 }];
        let pe =
            rebuild(&image, &pieces, 0x40_0000, 0x5000, (0, 0), 0).unwrap();
        let exe = Exe::read(&pe).unwrap();
        assert_eq!(exe.sections.len(), 2);
        assert_eq!(exe.sections[0].rva, 0x1000);
        assert_eq!(exe.ep as usize, exe.sections[1].raw as usize);
    }

    /// Only PE32+'s magic makes a file no PE32, as in ClamAV.
    #[test]
    fn any_magic_but_pe32_plus_reads_as_pe32() {
        let image = vec![0x90u8; 0x1000];
        let pieces = [Piece { rva: 0x1000, vsz: 0x1000, raw: 0, rsz: 0x1000 }];
        let mut pe =
            rebuild(&image, &pieces, 0x40_0000, 0x1000, (0, 0), 0).unwrap();
        for (magic, read) in [(0x107u16, true), (0x20b, false)] {
            pe[0xd0 + 0x18..][..2].copy_from_slice(&magic.to_le_bytes());
            assert_eq!(Exe::read(&pe).is_some(), read, "{magic:#x}");
        }
    }

    #[test]
    fn pieces_outside_the_image_are_refused() {
        let pieces =
            [Piece { rva: 0x1000, vsz: 0x1000, raw: 0x100, rsz: 0x1000 }];
        assert!(rebuild(&[0; 0x200], &pieces, 0, 0, (0, 0), 0).is_none());
    }
}
