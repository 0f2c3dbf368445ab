//! cpio archives (a newc magic; the other layouts are reached through the scan target): the input after the format's magic, through the whole scan.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_after(b"070701", data));
