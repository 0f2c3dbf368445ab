//! Compiled AutoIt scripts (EA05 and EA06 resources: the ciphers, the
//! LZ77 decoder, EA06's token writer), through the whole scan: the input
//! is what follows `AU3!EA0` (the version digit on), put behind an MZ
//! header and AutoIt's subtype marker, where the embedded-type pass of
//! an executable finds it.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// `MZ`, the rest of a DOS header left zero, the marker, `AU3!EA0`.
const PREFIX: [u8; 87] = {
    let mut p = [0u8; 87];
    p[0] = b'M';
    p[1] = b'Z';
    let tail: [u8; 23] = *b"\xa3\x48\x4b\xbe\x98\x6c\x4a\xa9\x99\x4c\x53\x0a\x86\xd6\x48\x7dAU3!EA0";
    let mut i = 0;
    while i < 23 {
        p[64 + i] = tail[i];
        i += 1;
    }
    p
};

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_after(&PREFIX, data));
