//! bzip2 streams: the input after a minimal header, through the whole scan.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_after(b"BZh9", data));
