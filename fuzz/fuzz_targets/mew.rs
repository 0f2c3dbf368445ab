//! MEW-packed PE32 files (the stub test, the LZ77 sections, the LZMA
//! variant whose tables live in the image, the PE rebuild) through the
//! whole scan: the input after the "MZ" magic, with the PE database so
//! the rebuilt file's headers are read too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_pe(data));
