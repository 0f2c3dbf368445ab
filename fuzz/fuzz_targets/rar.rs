//! RAR (1.3 to 7, through rars): the input after the format's magic,
//! through the whole scan.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_after(b"Rar!\x1a\x07", data));
