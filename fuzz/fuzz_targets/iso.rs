//! ISO 9660 images (the engine's own reader), through the whole scan:
//! the input is what follows the 32 KiB system area, where the volume
//! descriptors start.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut image = vec![0u8; 32768];
    image.extend_from_slice(data);
    nod32_engine_fuzz::scan(&image);
});
