//! EGG archives (the engine's own reader), through the whole scan: the
//! input after the archive header's magic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_after(b"EGGA", data));
