//! CHM help files (the engine's own directory reader and the LZX frames
//! it hands to lzxd), through the whole scan: the input after the ITSF
//! magic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_after(b"ITSF", data));
