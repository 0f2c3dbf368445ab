//! ELF and Mach-O headers, for what target 6 and 9 signatures refer to:
//! the entry point's file offset (`EP+n`, `EntryPoint`) and where each
//! section's data lies (`Sx+n`, `SL+n`, `SEx`, `NumberOfSections`).
//!
//! The rules are ClamAV's, so that offsets agree with clamscan's: an ELF
//! entry point is found through the first program header (of any type)
//! whose memory holds it; a Mach-O file has one only on PowerPC (the
//! thread state's `srr0`, through the first section that holds it), and
//! 0 (the file's start) as ClamAV makes it for every other CPU. Values
//! are kept to 32 bits as ClamAV keeps them. `None` means the headers do
//! not hold together, and then no executable-relative offset matches.

use crate::pe::{PeInfo, Section};

/// Reads fixed-size fields of a header, little- or big-endian.
struct Fields<'a> {
    data: &'a [u8],
    big: bool,
}

impl Fields<'_> {
    fn bytes<const N: usize>(&self, at: u64) -> Option<[u8; N]> {
        let at = usize::try_from(at).ok()?;
        self.data.get(at..at.checked_add(N)?)?.try_into().ok()
    }
    fn u16(&self, at: u64) -> Option<u16> {
        let b = self.bytes::<2>(at)?;
        Some(if self.big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }
    fn u32(&self, at: u64) -> Option<u32> {
        let b = self.bytes::<4>(at)?;
        Some(if self.big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }
    fn u64(&self, at: u64) -> Option<u64> {
        let b = self.bytes::<8>(at)?;
        Some(if self.big {
            u64::from_be_bytes(b)
        } else {
            u64::from_le_bytes(b)
        })
    }
}

/// An ELF file's entry point and sections, as ClamAV's `cli_elfheader`
/// reads them.
pub(crate) fn elf(data: &[u8]) -> Option<PeInfo> {
    if !data.starts_with(b"\x7fELF") || data.len() < 52 {
        return None;
    }
    let wide = match data[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    // ClamAV takes anything but 1 (little) for big-endian.
    let f = Fields { data, big: data[5] != 1 };
    let (entry, phoff, shoff) = if wide {
        (f.u64(24)?, f.u64(32)?, f.u64(40)?)
    } else {
        (u64::from(f.u32(24)?), u64::from(f.u32(28)?), u64::from(f.u32(32)?))
    };
    let fixed = if wide { 54 } else { 42 };
    let (phentsize, phnum) = (f.u16(fixed)?, f.u16(fixed + 2)?);
    let (shentsize, shnum) = (f.u16(fixed + 4)?, f.u16(fixed + 6)?);

    if phnum > 128 {
        return None;
    }
    let mut ep = 0u64;
    if phnum != 0 && entry != 0 {
        let size: u16 = if wide { 56 } else { 32 };
        if phentsize != size {
            return None;
        }
        let mut found = None;
        for i in 0..u64::from(phnum) {
            let at = phoff.checked_add(i * u64::from(size))?;
            let (offset, vaddr, memsz) = if wide {
                (
                    f.u64(at.checked_add(8)?)?,
                    f.u64(at.checked_add(16)?)?,
                    f.u64(at.checked_add(40)?)?,
                )
            } else {
                (
                    u64::from(f.u32(at.checked_add(4)?)?),
                    u64::from(f.u32(at.checked_add(8)?)?),
                    u64::from(f.u32(at.checked_add(20)?)?),
                )
            };
            // Every header is read before the search, as ClamAV does.
            let holds = if wide {
                vaddr <= entry && vaddr.wrapping_add(memsz) > entry
            } else {
                let (v, m, e) = (vaddr as u32, memsz as u32, entry as u32);
                v <= e && v.wrapping_add(m) > e
            };
            if holds && found.is_none() {
                found = Some(entry.wrapping_sub(vaddr).wrapping_add(offset));
            }
        }
        ep = found?;
    }

    if shnum > 256 || shentsize != if wide { 64 } else { 40 } {
        return None;
    }
    let mut sections = Vec::with_capacity(usize::from(shnum));
    for i in 0..u64::from(shnum) {
        let at = shoff.checked_add(i * u64::from(shentsize))?;
        let (offset, size) = if wide {
            (f.u64(at.checked_add(24)?)?, f.u64(at.checked_add(32)?)?)
        } else {
            (
                u64::from(f.u32(at.checked_add(16)?)?),
                u64::from(f.u32(at.checked_add(20)?)?),
            )
        };
        sections.push(Section {
            raw: u64::from(offset as u32),
            size: u64::from(size as u32),
        });
    }
    Some(PeInfo { ep: u64::from(ep as u32), sections, vinfo: Vec::new() })
}

/// A Mach-O file's entry point and sections, as ClamAV's
/// `cli_machoheader` reads them; a universal (fat) file has neither.
///
/// The load commands are walked as ClamAV walks them, which is not by
/// each command's own size: a segment advances past the sections it
/// declares and a thread command past the thread state of the header's
/// CPU, whatever `cmdsize` says; any other command advances by `cmdsize`
/// (or not at all when it is 8 or less). Only a PowerPC thread state
/// gives an entry point (its `srr0`); every other CPU's file starts at 0.
pub(crate) fn macho(data: &[u8]) -> Option<PeInfo> {
    let magic: [u8; 4] = data.get(..4)?.try_into().ok()?;
    let (big, wide) = match magic {
        [0xce, 0xfa, 0xed, 0xfe] => (false, false),
        [0xcf, 0xfa, 0xed, 0xfe] => (false, true),
        [0xfe, 0xed, 0xfa, 0xce] => (true, false),
        [0xfe, 0xed, 0xfa, 0xcf] => (true, true),
        _ => return None,
    };
    let f = Fields { data, big };
    // ClamAV reads each structure whole or calls the file damaged.
    let whole = |at: u64, n: u64| {
        at.checked_add(n).is_some_and(|end| end <= data.len() as u64)
    };
    if !whole(0, 28) {
        return None;
    }
    // How much thread state follows a thread command's flavour and count,
    // and whether it holds the entry point: x86 (16 registers), PowerPC
    // (40 words), PowerPC 64 (naturally aligned: 312 bytes).
    let thread = match f.u32(4)? {
        7 => Some((64, false)),
        18 => Some((160, true)),
        0x0100_0012 => Some((312, true)),
        _ => None,
    };
    let ncmds = f.u32(16)?;
    if ncmds == 0 || ncmds > 1024 {
        return None;
    }
    let mut at: u64 = if wide { 32 } else { 28 };
    // (virtual address, virtual size, file offset, size in the file),
    // 32 bits each as ClamAV keeps them.
    let mut sections: Vec<(u32, u32, u32, u32)> = Vec::new();
    let mut ep: u32 = 0;
    for _ in 0..ncmds {
        let (cmd, size) = (f.u32(at)?, f.u32(at + 4)?);
        at += 8;
        if (wide && cmd == 0x19) || (!wide && cmd == 0x1) {
            // The segment's own header: name, addresses and sizes, then
            // the protections, the section count and flags.
            let (header, nsects_at) = if wide { (64, 56) } else { (48, 40) };
            if !whole(at, header) {
                return None;
            }
            let nsects = f.u32(at + nsects_at)?;
            at += header;
            if nsects > 255 {
                return None;
            }
            for _ in 0..nsects {
                // An alignment of 32 or more, a size past 32 bits or one
                // that its padding carries past them is a damaged file
                // (clamscan 1.4.6, which found the shift and the sum
                // undefined).
                let (addr, vsz, raw, align) = if wide {
                    if !whole(at, 80) {
                        return None;
                    }
                    (
                        f.u64(at + 32)? as u32,
                        u32::try_from(f.u64(at + 40)?).ok()?,
                        f.u32(at + 48)?,
                        f.u32(at + 52)?,
                    )
                } else {
                    if !whole(at, 68) {
                        return None;
                    }
                    (
                        f.u32(at + 32)?,
                        f.u32(at + 36)?,
                        f.u32(at + 40)?,
                        f.u32(at + 44)?,
                    )
                };
                if align >= 32 {
                    return None;
                }
                at += if wide { 80 } else { 68 };
                let align = 1u32 << align;
                let rsz = vsz.checked_add((align - vsz % align) % align)?;
                sections.push((addr, vsz, raw, rsz));
            }
        } else if let Some((state, has_ep)) =
            thread.filter(|_| cmd == 0x4 || cmd == 0x5)
        {
            // Flavour and count, then the registers.
            at += 8;
            if !whole(at, state) {
                return None;
            }
            if has_ep {
                ep = if state == 312 { f.u64(at)? as u32 } else { f.u32(at)? };
            }
            at += state;
        } else if size > 8 {
            at += u64::from(size) - 8;
        }
    }
    // ClamAV counts sections in 16 bits: past 65,535 it sees the rest.
    sections.truncate(sections.len() % 65_536);
    if ep != 0 && !sections.is_empty() {
        // The first section whose memory holds it, in 32-bit arithmetic;
        // none is a damaged file. Without sections, the address stays.
        let &(rva, _, raw, _) =
            sections.iter().find(|&&(rva, vsz, _, _)| {
                rva <= ep && rva.wrapping_add(vsz) > ep
            })?;
        ep = ep.wrapping_sub(rva).wrapping_add(raw);
    }
    Some(PeInfo {
        ep: u64::from(ep),
        sections: sections
            .into_iter()
            .map(|(_, _, raw, rsz)| Section {
                raw: u64::from(raw),
                size: u64::from(rsz),
            })
            .collect(),
        vinfo: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 64-bit little-endian ELF: two program headers, the entry in the
    /// second, and two sections.
    fn elf64(entry: u64, phentsize: u16, shentsize: u16) -> Vec<u8> {
        let mut d = vec![0u8; 0x200];
        d[..4].copy_from_slice(b"\x7fELF");
        d[4] = 2;
        d[5] = 1;
        d[24..32].copy_from_slice(&entry.to_le_bytes());
        d[32..40].copy_from_slice(&64u64.to_le_bytes()); // phoff
        d[40..48].copy_from_slice(&0x100u64.to_le_bytes()); // shoff
        d[54..56].copy_from_slice(&phentsize.to_le_bytes());
        d[56..58].copy_from_slice(&2u16.to_le_bytes());
        d[58..60].copy_from_slice(&shentsize.to_le_bytes());
        d[60..62].copy_from_slice(&2u16.to_le_bytes());
        for (i, (off, vaddr, memsz)) in
            [(0u64, 0x400000u64, 0x80u64), (0x80, 0x401000, 0x100)]
                .into_iter()
                .enumerate()
        {
            let p = 64 + i * 56;
            d[p + 8..p + 16].copy_from_slice(&off.to_le_bytes());
            d[p + 16..p + 24].copy_from_slice(&vaddr.to_le_bytes());
            d[p + 40..p + 48].copy_from_slice(&memsz.to_le_bytes());
        }
        for (i, (off, size)) in
            [(0x40u64, 0x10u64), (0x80, 0x20)].into_iter().enumerate()
        {
            let s = 0x100 + i * 64;
            d[s + 24..s + 32].copy_from_slice(&off.to_le_bytes());
            d[s + 32..s + 40].copy_from_slice(&size.to_le_bytes());
        }
        d
    }

    #[test]
    fn elf_entry_point_through_the_program_headers() {
        let info = elf(&elf64(0x401010, 56, 64)).unwrap();
        assert_eq!(info.ep, 0x90);
        assert_eq!(
            info.sections,
            [
                Section { raw: 0x40, size: 0x10 },
                Section { raw: 0x80, size: 0x20 }
            ]
        );
        // No entry point: offset 0, and the headers are still fine.
        assert_eq!(elf(&elf64(0, 56, 64)).unwrap().ep, 0);
        // An entry no segment holds, or sizes ClamAV does not accept.
        assert!(elf(&elf64(0x500000, 56, 64)).is_none());
        assert!(elf(&elf64(0x401010, 55, 64)).is_none());
        assert!(elf(&elf64(0x401010, 56, 40)).is_none());
        // Truncated: the section table is cut off.
        assert!(elf(&elf64(0x401010, 56, 64)[..0x120]).is_none());
        assert!(elf(b"\x7fELF\x03").is_none());
    }

    #[test]
    fn macho_sections_and_no_entry_point() {
        // 64-bit little-endian, one LC_SEGMENT_64 with one section.
        let mut d = vec![0u8; 0x200];
        d[..4].copy_from_slice(&[0xcf, 0xfa, 0xed, 0xfe]);
        d[16..20].copy_from_slice(&1u32.to_le_bytes());
        let c = 32;
        d[c..c + 4].copy_from_slice(&0x19u32.to_le_bytes());
        d[c + 4..c + 8].copy_from_slice(&(72u32 + 80).to_le_bytes());
        d[c + 64..c + 68].copy_from_slice(&1u32.to_le_bytes());
        let s = c + 72;
        d[s + 40..s + 48].copy_from_slice(&0x30u64.to_le_bytes());
        d[s + 48..s + 52].copy_from_slice(&0x100u32.to_le_bytes());
        let info = macho(&d).unwrap();
        assert_eq!(info.ep, 0);
        assert_eq!(info.sections, [Section { raw: 0x100, size: 0x30 }]);
        d[16..20].copy_from_slice(&0u32.to_le_bytes());
        assert!(macho(&d).is_none());
        assert!(macho(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2]).is_none());
    }

    /// A big-endian 32-bit PowerPC file: a segment whose `cmdsize`
    /// lies, one section aligned to 16, then LC_UNIXTHREAD.
    fn ppc(pc: u32, align: u32) -> Vec<u8> {
        let mut d = vec![0u8; 0x400];
        let put = |d: &mut Vec<u8>, at: usize, v: u32| {
            d[at..at + 4].copy_from_slice(&v.to_be_bytes())
        };
        put(&mut d, 0, 0xfeed_face);
        put(&mut d, 4, 18);
        put(&mut d, 16, 2);
        let c = 28;
        put(&mut d, c, 0x1);
        put(&mut d, c + 4, 8); // read past: the sections follow anyway
        put(&mut d, c + 48, 1);
        let s = c + 56;
        put(&mut d, s + 32, 0x1000); // address
        put(&mut d, s + 36, 0x21); // size
        put(&mut d, s + 40, 0x200); // offset
        put(&mut d, s + 44, align);
        let t = s + 68;
        put(&mut d, t, 0x5);
        put(&mut d, t + 4, 16 + 160);
        put(&mut d, t + 16, pc); // srr0
        d
    }

    #[test]
    fn macho_powerpc_entry_point_through_its_section() {
        let info = macho(&ppc(0x1010, 4)).unwrap();
        assert_eq!(info.ep, 0x210);
        // The size padded to the alignment, as `SEx` sees it.
        assert_eq!(info.sections, [Section { raw: 0x200, size: 0x30 }]);
        // Outside every section: damaged. No thread state: 0.
        assert!(macho(&ppc(0x2000, 4)).is_none());
        assert_eq!(macho(&ppc(0, 4)).unwrap().ep, 0);
        // An alignment of 32 or more, or a size its padding carries past
        // 32 bits, is damaged (clamscan 1.4.6).
        assert!(macho(&ppc(0x1010, 32)).is_none());
        let mut d = ppc(0x1010, 4);
        d[28 + 56 + 36..28 + 56 + 40].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(macho(&d).is_none());
        // The thread state cut off by the end of the file.
        assert!(macho(&ppc(0x1010, 4)[..28 + 56 + 68 + 100]).is_none());
    }
}
