//! Disk images by their sectors: ISO 9660 and UDF volume descriptors, a
//! GUID partition table, a master boot record (ClamAV's checks, so that
//! the same images are opened), an Apple partition map, a FAT volume's
//! boot sector, a UDIF trailer.

use super::FileType;

/// The sector sizes a GPT header is looked for at, in ClamAV's order.
const GPT_SECTORS: [usize; 4] = [512, 1024, 2048, 4096];

/// Where the four primary partition entries of a boot record start.
const MBR_ENTRIES: usize = 446;

/// The type of a disk image, for an object otherwise binary data.
pub(crate) fn disk_image(data: &[u8]) -> Option<FileType> {
    if mbr_ok(data) {
        return Some(FileType::Mbr);
    }
    fat_boot(data).then_some(FileType::Fat)
}

/// The sector size of a GPT disk: its header's `EFI PART` one sector in.
pub(crate) fn gpt_sector(data: &[u8]) -> Option<usize> {
    GPT_SECTORS.into_iter().find(|&s| data.get(s..s + 8) == Some(b"EFI PART"))
}

/// Where the primary volume descriptor may be: (its offset, the sector
/// size): 16 sectors of system area first, in plain 2048-byte sectors or
/// raw ones with their 16-byte (mode 1) or 24-byte (mode 2) headers.
const ISO_LAYOUTS: &[(usize, usize)] =
    &[(16 * 2048, 2048), (16 * 2352 + 16, 2352), (16 * 2352 + 24, 2352)];

/// A volume descriptor at `off`: its type byte, then `CD001`.
pub(crate) fn iso_descriptor(data: &[u8], off: usize) -> Option<u8> {
    let d = data.get(off..off + 6)?;
    (&d[1..6] == b"CD001").then_some(d[0])
}

/// Whether the volume recognition sequence says UDF: `BEA01`, then
/// `NSR02` or `NSR03`, in the 2 KiB descriptors from 32 KiB on.
pub(crate) fn is_udf(data: &[u8]) -> bool {
    let id = |s: usize| data.get(s * 2048 + 1..s * 2048 + 6);
    (16..32).any(|s| id(s) == Some(b"BEA01"))
        && (16..40).any(|s| matches!(id(s), Some(b"NSR02" | b"NSR03")))
}

/// The primary volume descriptor's offset and the sector size.
pub(crate) fn iso_primary(data: &[u8]) -> Option<(usize, usize)> {
    ISO_LAYOUTS.iter().copied().find(|&(off, sect)| {
        iso_descriptor(data, off) == Some(1)
            && iso_descriptor(data, off + sect).is_some()
    })
}

/// Whether `data` ends with a UDIF (`.dmg`) trailer.
pub(crate) fn is_dmg(data: &[u8]) -> bool {
    data.len() > 512 && data[data.len() - 512..].starts_with(b"koly")
}

/// ClamAV's partition magic for an HFS+ (`H+`, version 4) or HFSX
/// (`HX`, version 5) volume: its header's first bytes at 1024.
pub(crate) fn is_hfsplus(data: &[u8]) -> bool {
    matches!(data.get(1024..1028), Some(b"H+\0\x04" | b"HX\0\x05"))
}

/// ClamAV's magic for an Apple partition map: the driver descriptor's
/// `ER` at 0, a map entry's `PM` and two zero bytes at 512.
pub(crate) fn is_apm(data: &[u8]) -> bool {
    data.starts_with(b"ER") && data.get(512..516) == Some(b"PM\0\0")
}

fn u16_at(d: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([d[at], d[at + 1]])
}

fn u32_at(d: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

/// One of the four entries of a boot record `sector`: (status, type,
/// first sector, sector count).
pub(crate) fn mbr_entry(sector: &[u8], i: usize) -> (u8, u8, u64, u64) {
    let e = &sector[MBR_ENTRIES + 16 * i..MBR_ENTRIES + 16 * i + 16];
    (e[0], e[4], u64::from(u32_at(e, 8)), u64::from(u32_at(e, 12)))
}

/// ClamAV's test of a master boot record: a whole number of 512-byte
/// sectors (two at least), the `55 AA` mark, and four entries each
/// active or not and inside the image. A protective entry first makes it
/// a GPT disk's (typed by [`gpt_sector`]), not an MBR.
pub(crate) fn mbr_ok(data: &[u8]) -> bool {
    if !data.len().is_multiple_of(512)
        || data.len() < 1024
        || data[510..512] != [0x55, 0xaa]
    {
        return false;
    }
    let first = mbr_entry(data, 0).1;
    if first == 0xee || first == 0xed {
        return false;
    }
    (0..4).all(|i| {
        let (status, _, start, count) = mbr_entry(data, i);
        matches!(status, 0 | 0x80)
            && (start + count).saturating_mul(512) <= data.len() as u64
    })
}

/// Whether `data` starts with a FAT (12, 16 or 32) boot sector: a jump,
/// a BIOS parameter block whose fields are ones a formatter writes, and
/// the `55 AA` mark.
pub(crate) fn fat_boot(data: &[u8]) -> bool {
    // A boot sector alone (the one cut out of a disk) holds no files.
    if data.len() <= 512 {
        return false;
    }
    let b = &data[..512];
    let jump = (b[0] == 0xeb && b[2] == 0x90) || b[0] == 0xe9;
    let bps = u16_at(b, 11);
    let spc = b[13];
    let total = if u16_at(b, 19) != 0 {
        u32::from(u16_at(b, 19))
    } else {
        u32_at(b, 32)
    };
    let fat_size = if u16_at(b, 22) != 0 {
        u32::from(u16_at(b, 22))
    } else {
        u32_at(b, 36)
    };
    jump && b[510..512] == [0x55, 0xaa]
        && matches!(bps, 512 | 1024 | 2048 | 4096)
        && spc.is_power_of_two()
        && u16_at(b, 14) != 0
        && (1..=4).contains(&b[16])
        && (b[21] >= 0xf8 || b[21] == 0xf0)
        && total != 0
        && fat_size != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boot() -> Vec<u8> {
        let mut b = vec![0u8; 1024];
        b[..3].copy_from_slice(&[0xeb, 0x3c, 0x90]);
        b[11..13].copy_from_slice(&512u16.to_le_bytes());
        b[13] = 1;
        b[14] = 1;
        b[16] = 2;
        b[17] = 224;
        b[19..21].copy_from_slice(&2u16.to_le_bytes());
        b[21] = 0xf0;
        b[22] = 1;
        b[510] = 0x55;
        b[511] = 0xaa;
        b
    }

    #[test]
    fn a_formatted_floppy_is_an_mbr_to_clamav_and_fat_to_us() {
        let b = boot();
        assert!(fat_boot(&b));
        assert!(mbr_ok(&b));
        assert_eq!(disk_image(&b), Some(FileType::Mbr));
    }

    #[test]
    fn boot_code_over_the_table_leaves_a_fat_volume() {
        let mut b = boot();
        b[MBR_ENTRIES] = 0x33;
        assert!(!mbr_ok(&b));
        assert_eq!(disk_image(&b), Some(FileType::Fat));
        assert_eq!(disk_image(&b[..512]), None, "the boot sector alone");
        b[13] = 3;
        assert_eq!(disk_image(&b), None);
    }

    #[test]
    fn hfs_plus_and_hfsx_headers_at_1024() {
        let mut v = vec![0u8; 1536];
        assert!(!is_hfsplus(&v));
        v[1024..1028].copy_from_slice(b"H+\0\x04");
        assert!(is_hfsplus(&v) && !is_hfsplus(&v[..1027]));
        v[1024..1028].copy_from_slice(b"HX\0\x05");
        assert!(is_hfsplus(&v));
        v[1027] = 4;
        assert!(!is_hfsplus(&v), "HFSX is version 5");
    }

    #[test]
    fn partitions_past_the_end_or_a_protective_entry_are_no_mbr() {
        let mut b = boot();
        b[MBR_ENTRIES + 4] = 0x0c;
        b[MBR_ENTRIES + 8] = 1;
        b[MBR_ENTRIES + 12] = 1;
        assert!(mbr_ok(&b));
        b[MBR_ENTRIES + 12] = 2;
        assert!(!mbr_ok(&b));
        b[MBR_ENTRIES + 12] = 1;
        b[MBR_ENTRIES + 4] = 0xee;
        assert!(!mbr_ok(&b));
        b.push(0);
        assert!(!mbr_ok(&b[..1023]));
    }
}
