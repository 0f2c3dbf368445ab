//! zip archives (zip crate: stored, deflate, deflate64, bzip2, implode): the input after a minimal header, through the whole scan.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_after(b"PK\x03\x04", data));
