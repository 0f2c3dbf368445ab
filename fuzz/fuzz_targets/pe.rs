//! The PE header reader (entry point, sections, icons) and what uses it:
//! PE-relative offsets, section hashes, icon rules, the broken-executable
//! heuristic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_pe(data));
