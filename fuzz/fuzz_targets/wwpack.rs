//! WWPack32-packed PE32 files (the block table, the bit-stream decoder,
//! the header patches) through the whole scan: the input after the "MZ"
//! magic, with the PE database so the unpacked image is read too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_pe(data));
