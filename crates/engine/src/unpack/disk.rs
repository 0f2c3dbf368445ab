//! Partitioned disk images, walked as ClamAV walks them: a master boot
//! record gives its boot sector and each partition (logical ones through
//! the chain of extended boot records) as children, a GUID partition
//! table the partitions of whichever header holds, an Apple partition
//! map those its entries place. Each partition is then typed as ClamAV
//! types a partition (an HFS+ volume is read by `hfsplus`), or else by
//! its content, so a FAT volume in one is read by `fat.rs`.
//!
//! A FAT volume's own boot sector usually passes the boot record test
//! (its entries are zeros): ClamAV then finds no partition and reads the
//! volume raw; here the volume's files are read too.

use super::fat::fat_volume;
use super::{Sink, Unpacked};
use crate::filetype::{fat_boot, gpt_sector, mbr_entry, mbr_ok};

/// ClamAV's MaxPartitions default: partitions a disk may yield.
const MAX_PARTITIONS: usize = 50;

const SECTOR: u64 = 512;

pub(crate) fn mbr<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    // A `55 AA` at 510 is the database's magic for this type: what fails
    // the test is plain data, as it is to ClamAV.
    if mbr_ok(data) {
        out.push("boot sector".into(), data[..512].to_vec());
        partitions(data, &mut out);
    }
    if fat_boot(data) {
        fat_volume(data, &mut out);
    }
    out
}

pub(crate) fn fat<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    fat_volume(data, &mut out);
    out
}

/// The bytes of `count` sectors from `start`, if the image holds them.
fn extent(data: &[u8], start: u64, count: u64, sector: u64) -> Option<&[u8]> {
    let from = usize::try_from(start.checked_mul(sector)?).ok()?;
    let len = usize::try_from(count.checked_mul(sector)?).ok()?;
    data.get(from..from.checked_add(len)?)
}

fn partitions(data: &[u8], out: &mut Unpacked<'_>) {
    let mut n = 0;
    let mut seen = Vec::new();
    for i in 0..4 {
        if n >= MAX_PARTITIONS || out.done() {
            return;
        }
        let (_, kind, start, count) = mbr_entry(data, i);
        match kind {
            0 => n += 1,
            5 => logical(data, start, count, &mut n, out),
            _ => {
                n += 1;
                // A partition over the table's own sector would hold the
                // disk again, and one listed twice is read once: ClamAV's
                // cache of scanned objects spares it those, and without
                // one a crafted table multiplies itself at every level.
                if start == 0 || seen.contains(&(start, count)) {
                    continue;
                }
                seen.push((start, count));
                if let Some(p) = extent(data, start, count, SECTOR)
                    && out.room(p.len() as u64)
                {
                    out.push_partition(
                        format!("partition {}", i + 1),
                        p.to_vec(),
                    );
                }
            }
        }
    }
}

/// The logical partitions of the extended partition at `ext`: each
/// extended boot record holds one (its place relative to the record)
/// and the next record's place (relative to the extended partition).
fn logical(
    data: &[u8],
    ext: u64,
    ext_len: u64,
    n: &mut usize,
    out: &mut Unpacked<'_>,
) {
    let mut next = 0u64;
    // Logical partitions are numbered from 5, as Linux names them.
    let mut number = 5;
    loop {
        if *n >= MAX_PARTITIONS || out.done() {
            return;
        }
        let Some(at) = ext.checked_add(next) else { return };
        let Some(ebr) = extent(data, at, 1, SECTOR) else { return };
        if ebr[510..512] != [0x55, 0xaa]
            || (2..4).any(|i| mbr_entry(ebr, i).1 != 0)
        {
            return;
        }
        *n += 1;
        let (_, kind, start, count) = mbr_entry(ebr, 0);
        if kind != 0
            && start != 0
            && let Some(p) = at
                .checked_add(start)
                .and_then(|s| extent(data, s, count, SECTOR))
            && out.room(p.len() as u64)
        {
            out.push_partition(format!("partition {number}"), p.to_vec());
            number += 1;
        }
        let (_, kind, rel, _) = mbr_entry(ebr, 1);
        // Each record must lie further in than the one before it, inside
        // the extended partition: a chain that points back ends.
        if kind == 0 || rel <= next || rel >= ext_len {
            return;
        }
        next = rel;
    }
}

pub(crate) fn gpt<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let Some(sector) = gpt_sector(data) else { return out };
    if !data.len().is_multiple_of(sector) || data.len() < 3 * sector {
        return out;
    }
    let last = (data.len() / sector - 1) as u64;
    let primary = header(data, 1, last, sector as u64);
    let backup = header(data, last, last, sector as u64);
    let tables = match (primary, backup) {
        // Two good headers whose tables differ: both are read.
        (Some(p), Some(b)) if p.table_crc != b.table_crc => vec![p, b],
        (Some(h), _) | (None, Some(h)) => vec![h],
        (None, None) => Vec::new(),
    };
    for h in tables {
        gpt_partitions(data, &h, sector as u64, &mut out);
    }
    out
}

/// A GPT header that holds: the fields ClamAV checks.
struct Header {
    first_usable: u64,
    last_usable: u64,
    table: u64,
    entries: u32,
    table_crc: u32,
}

fn le32(d: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(d[at..at + 4].try_into().unwrap_or_default())
}

fn le64(d: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(d[at..at + 8].try_into().unwrap_or_default())
}

/// The header in sector `lba`, if its checksums, its own place and the
/// layout it describes are consistent with an image of `last + 1`
/// sectors.
fn header(data: &[u8], lba: u64, last: u64, sector: u64) -> Option<Header> {
    let h = extent(data, lba, 1, sector)?.get(..92)?;
    let mut zeroed = h.to_vec();
    zeroed[16..20].fill(0);
    if &h[..8] != b"EFI PART"
        || le32(h, 12) != 92
        || le32(h, 20) != 0
        || crc32fast::hash(&zeroed) != le32(h, 16)
    {
        return None;
    }
    let (current, backup) = (le64(h, 24), le64(h, 32));
    let (first_usable, last_usable) = (le64(h, 40), le64(h, 48));
    let (table, entries, entry_size) = (le64(h, 72), le32(h, 80), le32(h, 84));
    let table_len = u64::from(entries) * u64::from(entry_size);
    let table_last = table.checked_add(table_len / sector)?.checked_sub(1)?;
    let placed =
        (current == 1 && backup == last) || (current == last && backup == 1);
    let overlaps = (table <= first_usable && table_last >= first_usable)
        || (table >= first_usable && table <= last_usable);
    if !placed
        || first_usable > last_usable
        || first_usable <= 1
        || last_usable >= last
        || overlaps
        || table <= 1
        || table_last >= last
        || entry_size != 128
    {
        return None;
    }
    let bytes =
        data.get(usize::try_from(table.checked_mul(sector)?).ok()?..)?;
    let bytes = bytes.get(..usize::try_from(table_len).ok()?)?;
    (crc32fast::hash(bytes) == le32(h, 88)).then_some(Header {
        first_usable,
        last_usable,
        table,
        entries,
        table_crc: le32(h, 88),
    })
}

fn gpt_partitions(
    data: &[u8],
    h: &Header,
    sector: u64,
    out: &mut Unpacked<'_>,
) {
    let count = (h.entries as usize).min(MAX_PARTITIONS);
    for i in 0..count {
        if out.done() {
            return;
        }
        let Some(e) = usize::try_from(h.table * sector)
            .ok()
            .and_then(|t| data.get(t + 128 * i..t + 128 * i + 128))
        else {
            return;
        };
        let (first, last) = (le64(e, 32), le64(e, 40));
        if first == 0
            || first > last
            || first < h.first_usable
            || last > h.last_usable
        {
            continue;
        }
        if let Some(p) = extent(data, first, last - first + 1, sector)
            && out.room(p.len() as u64)
        {
            out.push_partition(format!("partition {}", i + 1), p.to_vec());
        }
    }
}

fn be16(d: &[u8], at: usize) -> u64 {
    u64::from(u16::from_be_bytes([d[at], d[at + 1]]))
}

fn be32(d: &[u8], at: usize) -> u64 {
    u64::from(u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]]))
}

/// The names ClamAV takes for the map's own entry (a misspelling too).
fn is_map(kind: &[u8]) -> bool {
    let kind = kind.split(|&b| b == 0).next().unwrap_or_default();
    [
        &b"Apple_Partition_Map"[..],
        b"Apple_partition_map",
        b"Apple_patition_map",
    ]
    .contains(&kind)
}

pub(crate) fn apm<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    // The driver descriptor: its block size times count must be the
    // image's size, as ClamAV checks.
    if data.len() < 1024 || &data[..2] != b"ER" {
        return out;
    }
    let mut sector = be16(data, 2);
    if sector == 0
        || sector.checked_mul(be32(data, 4)) != Some(data.len() as u64)
    {
        return out;
    }
    // A CD's map may be in 512-byte entries though its blocks are 2 KiB.
    let old_school = sector == 2048 && data.get(512..514) == Some(b"PM");
    if old_school {
        sector = 512;
    }
    let entry = |i: u64| {
        let at = usize::try_from(i * sector).ok()?;
        data.get(at..at + 136)
    };
    let Some(map) = entry(1) else { return out };
    if &map[..2] != b"PM" || !is_map(&map[48..80]) {
        return out;
    }
    let count = be32(map, 4).min(MAX_PARTITIONS as u64);
    for i in 2..=count {
        if out.done() {
            return out;
        }
        let Some(e) = entry(i) else { return out };
        if is_map(&e[48..80]) {
            continue;
        }
        let (start, mut len) = (be32(e, 8) * sector, be32(e, 12) * sector);
        // Drivers of an old-school map count in 2 KiB blocks.
        let kind = e[48..80].split(|&b| b == 0).next().unwrap_or_default();
        if old_school
            && i % 4 == 0
            && [
                &b"Apple_Driver"[..],
                b"Apple_Driver43",
                b"Apple_Driver43_CD",
                b"Apple_Driver_ATA",
                b"Apple_Driver_ATAPI",
                b"Apple_Patches",
            ]
            .contains(&kind)
        {
            len = be32(e, 12) * 2048;
        }
        if start == 0 || start + len > data.len() as u64 {
            continue;
        }
        let p = &data[start as usize..(start + len) as usize];
        if !out.room(len) {
            continue;
        }
        let name = String::from_utf8_lossy(
            e[16..48].split(|&b| b == 0).next().unwrap_or_default(),
        )
        .into_owned();
        out.push_partition(
            format!("partition {i} {name}").trim_end().to_string(),
            p.to_vec(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unpack::tests::{budget, collect};

    fn entry(rec: &mut [u8], i: usize, kind: u8, start: u32, count: u32) {
        let e = &mut rec[446 + 16 * i..446 + 16 * i + 16];
        e[4] = kind;
        e[8..12].copy_from_slice(&start.to_le_bytes());
        e[12..16].copy_from_slice(&count.to_le_bytes());
    }

    fn names(
        img: &[u8],
        walk: for<'s> fn(&[u8], &'s mut dyn Sink) -> Unpacked<'s>,
    ) -> Vec<String> {
        let mut sink = collect(budget());
        let _ = walk(img, &mut sink);
        sink.children.into_iter().map(|c| c.0).collect()
    }

    #[test]
    fn an_extended_chain_that_points_back_ends() {
        let mut img = vec![0u8; 64 * 512];
        img[510..512].copy_from_slice(&[0x55, 0xaa]);
        entry(&mut img, 0, 0x0c, 1, 3);
        entry(&mut img, 1, 5, 8, 56);
        // Two records, the second pointing back at the first.
        for (at, next) in [(8usize, 20u32), (28, 0)] {
            let rec = &mut img[at * 512..at * 512 + 512];
            rec[510..512].copy_from_slice(&[0x55, 0xaa]);
            entry(rec, 0, 0x06, 1, 2);
            entry(rec, 1, 5, next, 4);
        }
        assert_eq!(
            names(&img, mbr),
            ["boot sector", "partition 1", "partition 5", "partition 6"]
        );
    }

    #[test]
    fn a_table_that_holds_itself_is_not_read_again() {
        let mut img = vec![0u8; 64 * 512];
        img[510..512].copy_from_slice(&[0x55, 0xaa]);
        entry(&mut img, 0, 0x0c, 0, 64);
        entry(&mut img, 1, 0x0c, 1, 63);
        entry(&mut img, 2, 0x0c, 1, 63);
        assert_eq!(names(&img, mbr), ["boot sector", "partition 2"]);
    }

    #[test]
    fn a_gpt_header_whose_checksum_fails_yields_nothing() {
        let mut img = vec![0u8; 64 * 512];
        img[510..512].copy_from_slice(&[0x55, 0xaa]);
        entry(&mut img, 0, 0xee, 1, 63);
        let h = &mut img[512..512 + 92];
        h[..8].copy_from_slice(b"EFI PART");
        h[12] = 92;
        assert!(names(&img, gpt).is_empty());
    }
}
