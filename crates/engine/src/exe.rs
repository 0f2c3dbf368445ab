//! ELF and Mach-O headers, for what target 6 and 9 signatures refer to:
//! the entry point's file offset (`EP+n`, `EntryPoint`) and where each
//! section's data lies (`Sx+n`, `SL+n`, `SEx`, `NumberOfSections`).
//!
//! The rules are ClamAV's, so that offsets agree with clamscan's: an ELF
//! entry point is found through the first program header (of any type)
//! whose memory holds it; a Mach-O file has one only on PowerPC, which
//! this reader does not compute, so it is 0 (the file's start) as ClamAV
//! makes it for every other CPU. Values are kept to 32 bits as ClamAV
//! keeps them. `None` means the headers do not hold together, and then no
//! executable-relative offset matches.

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

/// A Mach-O file's entry point (0) and sections, as ClamAV's
/// `cli_machoheader` reads them; a universal (fat) file has neither.
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
    let ncmds = f.u32(16)?;
    if ncmds == 0 || ncmds > 1024 {
        return None;
    }
    let mut at: u64 = if wide { 32 } else { 28 };
    let mut sections = Vec::new();
    for _ in 0..ncmds {
        let (cmd, size) = (f.u32(at)?, u64::from(f.u32(at.checked_add(4)?)?));
        if size < 8 {
            return None;
        }
        // ClamAV reads the segments of the header's own width only.
        let segment = match cmd {
            0x1 if !wide => Some(false),
            0x19 if wide => Some(true),
            _ => None,
        };
        if let Some(wide) = segment {
            let (nsects_at, first, each) =
                if wide { (64, 72, 80) } else { (48, 56, 68) };
            let nsects = f.u32(at + nsects_at)?;
            if nsects > 255 {
                return None;
            }
            for s in 0..u64::from(nsects) {
                let sec = at + first + s * each;
                let (size, offset) = if wide {
                    (
                        f.u64(sec.checked_add(40)?)?,
                        f.u32(sec.checked_add(48)?)?,
                    )
                } else {
                    (
                        u64::from(f.u32(sec.checked_add(36)?)?),
                        f.u32(sec.checked_add(40)?)?,
                    )
                };
                sections.push(Section {
                    raw: u64::from(offset),
                    size: u64::from(size as u32),
                });
            }
        }
        at = at.checked_add(size)?;
    }
    Some(PeInfo { ep: 0, sections, vinfo: Vec::new() })
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
}
