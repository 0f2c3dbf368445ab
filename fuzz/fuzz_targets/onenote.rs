//! OneNote sections (FileDataStoreObjects found by their GUID), through
//! the whole scan: the input after the section's magic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_after(
    b"\xe4\x52\x5c\x7b\x8c\xd8\xa7\x4d\xae\xb1\x53\x78\xd0\x29\x96\xd3",
    data
));
