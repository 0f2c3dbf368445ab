//! InstallShield setups (the overlay form with its `ISc(` cabinet, and
//! the MSI-based form), through the whole scan: the input is the overlay
//! of a small PE.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_overlay(data));
