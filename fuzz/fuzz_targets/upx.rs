//! UPX-packed PE32 files (the section test, the NRV2B/2D/2E and LZMA
//! decoders with their fallbacks, the PE rebuild) through the whole
//! scan: the input after the "MZ" magic, with the PE database so the
//! rebuilt file's headers are read too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_pe(data));
