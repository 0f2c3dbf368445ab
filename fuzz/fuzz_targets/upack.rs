//! Upack-packed PE32 files (the stub walk from the entry point, Upack's
//! LZMA variant, the call fix-ups, the PE rebuild) through the whole
//! scan: the input after the "MZ" magic, with the PE database so the
//! rebuilt file's headers are read too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_pe(data));
