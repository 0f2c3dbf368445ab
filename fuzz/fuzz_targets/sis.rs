//! Symbian installers (the engine's own EPOC record walk and zlib copies),
//! through the whole scan: the input after the three UIDs, the third
//! being the EPOC installer's that types the file. The seeds are
//! installers written by the test's writer (tests/src/sis.rs) and
//! ClamAV's clam.sis (seeded by `cargo xtask fuzz`), from their fourth
//! UID on.
#![no_main]

use libfuzzer_sys::fuzz_target;

const UIDS: [u8; 12] = [
    0x40, 0x30, 0x20, 0x10, 0x12, 0x3a, 0x00, 0x10, 0x19, 0x04, 0x00, 0x10,
];

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_after(&UIDS, data));
