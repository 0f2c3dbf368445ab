//! OneNote sections through the whole scan, the input after the
//! section's magic: desktop ones (FileDataStoreObjects found by their
//! GUID) and, where the package store GUID follows at 32, web exports
//! (MS-FSSHTTPB stream objects; seeded with one).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_after(
    b"\xe4\x52\x5c\x7b\x8c\xd8\xa7\x4d\xae\xb1\x53\x78\xd0\x29\x96\xd3",
    data
));
