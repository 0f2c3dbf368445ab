//! SZDD (LZSS) files: the input after the format's magic, through the whole scan.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_after(b"SZDD\x88\xf0\x27\x33A\0", data));
