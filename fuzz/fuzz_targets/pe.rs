//! The PE header reader (entry point, sections) and what uses it:
//! PE-relative offsets, section hashes, the broken-executable heuristic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_pe(data));
