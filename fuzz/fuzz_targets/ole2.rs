//! OLE2 compound files (Office documents, VBA projects, PowerPoint's
//! embedded objects, Ole10Native packages): the input after the format's
//! magic, through the whole scan.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_after(
    b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
    data
));
