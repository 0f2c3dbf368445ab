//! BinHex 4.0 text: the input after the format's magic, through the whole scan.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_after(b"(This file must be converted with BinHex 4.0)\n:", data));
