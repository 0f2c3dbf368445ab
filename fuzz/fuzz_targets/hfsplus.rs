//! HFS+ volumes (the engine's own reader: catalog, extents overflow and
//! attributes B-trees, decmpfs), through the whole scan. ClamAV reads
//! HFS+ only as a partition, so the target puts the input in an Apple
//! partition map: the driver descriptor, the map's own entry, one
//! `Apple_HFS` entry from block 3 on. The seeds are volumes written by
//! the test's writer (tests/src/hfsplus.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fn entry(count: u32, start: u32, blocks: u32, name: &[u8], kind: &[u8]) -> Vec<u8> {
    let mut e = vec![0u8; 512];
    e[..2].copy_from_slice(b"PM");
    e[4..8].copy_from_slice(&count.to_be_bytes());
    e[8..12].copy_from_slice(&start.to_be_bytes());
    e[12..16].copy_from_slice(&blocks.to_be_bytes());
    e[16..16 + name.len()].copy_from_slice(name);
    e[48..48 + kind.len()].copy_from_slice(kind);
    e
}

fuzz_target!(|data: &[u8]| {
    let blocks = data.len().div_ceil(512) as u32;
    let mut disk = vec![0u8; 512];
    disk[..2].copy_from_slice(b"ER");
    disk[2..4].copy_from_slice(&512u16.to_be_bytes());
    disk[4..8].copy_from_slice(&(blocks + 3).to_be_bytes());
    disk.extend(entry(2, 1, 2, b"Apple", b"Apple_partition_map"));
    disk.extend(entry(2, 3, blocks, b"disk image", b"Apple_HFS"));
    disk.extend_from_slice(data);
    disk.resize((blocks as usize + 3) * 512, 0);
    nod32_engine_fuzz::scan(&disk);
});
