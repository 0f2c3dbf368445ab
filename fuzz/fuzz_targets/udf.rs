//! UDF images (the engine's own reader), through the whole scan: the
//! volume recognition sequence is given, and the input is the image
//! from the anchor on, in 512-byte sectors (sector 256), so that a
//! small input holds the anchor, the volume descriptors, the file set
//! and the tree.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut image = vec![0u8; 256 * 512];
    for (sector, id) in [(16, b"BEA01"), (17, b"NSR02"), (18, b"TEA01")] {
        image[sector * 2048 + 1..sector * 2048 + 6].copy_from_slice(id);
    }
    image.extend_from_slice(data);
    nod32_engine_fuzz::scan(&image);
});
