//! Disk images (the engine's own readers): master boot records with
//! their extended chains, GUID partition tables, FAT12/16/32 volumes,
//! through the whole scan. The seeds are small images made by sfdisk,
//! mkfs.fat and mcopy.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    nod32_engine_fuzz::scan(data);
});
