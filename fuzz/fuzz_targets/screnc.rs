//! Scripts made by the Script Encoder (`.jse`, `.vbe`), through the
//! whole scan: the input after the block's `#@~^`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_after(b"#@~^", data));
