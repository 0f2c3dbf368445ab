//! PE (Windows executable) headers, for what signatures refer to: the
//! entry point's file offset (`EP+n`), where each section's data lies
//! (`Sx+n`, `SL+n`, `SEx`, `.mdb` section hashes) and whether the headers
//! hold together at all (`Heuristics.Broken.Executable`).
//!
//! Only the headers are read (goblin's DOS, COFF and optional header and
//! section table parsers), and of the resources only the version
//! information (`vinfo.rs`, for `VI` offsets), not imports: a file whose
//! directories are damaged still has an entry point and sections, as it
//! does for ClamAV and for the Windows loader.

pub mod icon;
mod vinfo;

/// One section's data in the file, aligned as ClamAV aligns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Section {
    pub(crate) raw: u64,
    pub(crate) size: u64,
}

/// What the offsets of a PE file resolve against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PeInfo {
    /// The entry point as a file offset.
    pub(crate) ep: u64,
    pub(crate) sections: Vec<Section>,
    /// Where the strings of its version information start (`VI`
    /// offsets), sorted; empty for ELF and Mach-O files.
    pub(crate) vinfo: Vec<u64>,
}

/// The outcome of reading a file's PE headers.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pe {
    /// Not a PE: no PE signature where the DOS header points.
    Absent,
    /// A PE signature, but headers no loader would accept.
    Broken,
    Valid(PeInfo),
}

/// ClamAV's limit on the section count of a PE it accepts.
const MAX_SECTIONS: usize = 96;

pub(crate) fn parse(data: &[u8]) -> Pe {
    if !data.starts_with(b"MZ") || pe_offset(data).is_none() {
        return Pe::Absent;
    }
    // goblin is fuzzed upstream; a panic would still only mean "broken".
    std::panic::catch_unwind(|| headers(data)).unwrap_or(Pe::Broken)
}

fn headers(data: &[u8]) -> Pe {
    use goblin::pe::header::{Header, SIZEOF_COFF_HEADER, SIZEOF_PE_MAGIC};
    let Some(pe_at) = pe_offset(data) else { return Pe::Absent };
    // From the PE signature on: the loader (and ClamAV) accept a PE
    // header that overlaps the DOS header (MEW, Upack), goblin's DOS
    // header check does not.
    let from_pe = &data[pe_at..];
    let Ok(h) = Header::parse_without_dos(from_pe) else { return Pe::Broken };
    let Some(opt) = h.optional_header else { return Pe::Broken };
    let count = h.coff_header.number_of_sections as usize;
    if count == 0 || count > MAX_SECTIONS {
        return Pe::Broken;
    }
    let mut at = SIZEOF_PE_MAGIC
        + SIZEOF_COFF_HEADER
        + h.coff_header.size_of_optional_header as usize;
    let Ok(table) = h.coff_header.sections(from_pe, &mut at) else {
        return Pe::Broken;
    };
    let falign = opt.windows_fields.file_alignment as u64;
    // ClamAV rounds raw offsets down and sizes up to FileAlignment when it
    // is a sane power of two, as the loader does.
    let align = falign.is_power_of_two() && falign >= 0x200;
    let len = data.len() as u64;
    let mut sections = Vec::with_capacity(table.len());
    let mut rvas = Vec::with_capacity(table.len());
    for s in &table {
        let mut raw = s.pointer_to_raw_data as u64;
        let mut size = s.size_of_raw_data as u64;
        if align {
            raw &= !(falign - 1);
            size = size.div_ceil(falign) * falign;
        }
        if size > 0 && raw >= len {
            // Data that starts past the end of the file.
            return Pe::Broken;
        }
        size = size.min(len.saturating_sub(raw));
        sections.push(Section { raw, size });
        let vsize = (s.virtual_size as u64).max(s.size_of_raw_data as u64);
        rvas.push((s.virtual_address as u64, vsize));
    }
    let ep_rva = opt.standard_fields.address_of_entry_point as u64;
    let in_section =
        rvas.iter().zip(&sections).find_map(|(&(va, vs), sec)| {
            (ep_rva >= va && ep_rva < va + vs).then(|| sec.raw + (ep_rva - va))
        });
    let ep = match in_section {
        Some(ep) => ep,
        // An entry point in the headers is its own file offset.
        None if ep_rva < opt.windows_fields.size_of_headers as u64 => ep_rva,
        None => return Pe::Broken,
    };
    if ep >= len {
        return Pe::Broken;
    }
    let vinfo = vinfo::offsets(data, &table, &opt);
    Pe::Valid(PeInfo { ep, sections, vinfo })
}

/// The offset of a PE header a DOS stub points at, if there is one.
pub(crate) fn pe_offset(data: &[u8]) -> Option<usize> {
    let at = u32::from_le_bytes(data.get(0x3c..0x40)?.try_into().ok()?);
    let at = at as usize;
    (data.get(at..at.checked_add(4)?)? == b"PE\0\0").then_some(at)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small PE32 with two sections: .text (EP at its start + 0x10)
    /// and .data.
    pub(crate) fn tiny_pe() -> Vec<u8> {
        let mut f = vec![0u8; 0x600];
        f[..2].copy_from_slice(b"MZ");
        f[0x3c] = 0x80;
        f[0x80..0x84].copy_from_slice(b"PE\0\0");
        let coff = 0x84;
        f[coff..coff + 2].copy_from_slice(&0x14cu16.to_le_bytes());
        f[coff + 2..coff + 4].copy_from_slice(&2u16.to_le_bytes());
        f[coff + 16..coff + 18].copy_from_slice(&0xe0u16.to_le_bytes());
        f[coff + 18..coff + 20].copy_from_slice(&0x0102u16.to_le_bytes());
        let opt = coff + 20;
        f[opt..opt + 2].copy_from_slice(&0x10bu16.to_le_bytes());
        let le32 = |f: &mut Vec<u8>, at: usize, v: u32| {
            f[at..at + 4].copy_from_slice(&v.to_le_bytes())
        };
        le32(&mut f, opt + 16, 0x1010); // AddressOfEntryPoint
        le32(&mut f, opt + 28, 0x400000); // ImageBase
        le32(&mut f, opt + 32, 0x1000); // SectionAlignment
        le32(&mut f, opt + 36, 0x200); // FileAlignment
        f[opt + 40..opt + 42].copy_from_slice(&4u16.to_le_bytes());
        f[opt + 48..opt + 50].copy_from_slice(&4u16.to_le_bytes());
        le32(&mut f, opt + 56, 0x3000); // SizeOfImage
        le32(&mut f, opt + 60, 0x200); // SizeOfHeaders
        f[opt + 68..opt + 70].copy_from_slice(&2u16.to_le_bytes());
        le32(&mut f, opt + 92, 16); // NumberOfRvaAndSizes
        let sec = opt + 0xe0;
        for (i, (name, va, raw)) in [
            (b".text\0\0\0", 0x1000u32, 0x200u32),
            (b".data\0\0\0", 0x2000, 0x400),
        ]
        .iter()
        .enumerate()
        {
            let s = sec + i * 40;
            f[s..s + 8].copy_from_slice(*name);
            le32(&mut f, s + 8, 0x200);
            le32(&mut f, s + 12, *va);
            le32(&mut f, s + 16, 0x200);
            le32(&mut f, s + 20, *raw);
        }
        f
    }

    #[test]
    fn entry_point_and_sections() {
        let pe = tiny_pe();
        assert_eq!(
            parse(&pe),
            Pe::Valid(PeInfo {
                ep: 0x210,
                sections: vec![
                    Section { raw: 0x200, size: 0x200 },
                    Section { raw: 0x400, size: 0x200 }
                ],
                vinfo: Vec::new(),
            })
        );
        assert_eq!(parse(b"MZ but nothing more"), Pe::Absent);
        let mut broken = pe.clone();
        // .data's raw data pointer far past the end of the file.
        broken[0x178 + 40 + 20..0x178 + 40 + 24]
            .copy_from_slice(&0x10_0000u32.to_le_bytes());
        assert_eq!(parse(&broken), Pe::Broken);
        let mut none = pe.clone();
        none[0x86..0x88].copy_from_slice(&0u16.to_le_bytes());
        assert_eq!(parse(&none), Pe::Broken);
    }
}
