//! FSG-packed PE32 files (the 2.0 fake stack, the 1.33 and 1.31 tables
//! in the headers' padding, the bit-coded LZ77 streams, the section sort
//! and the rebuild) through the whole scan: the input after the "MZ"
//! magic, with the PE database so the rebuilt file is scanned too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_pe(data));
