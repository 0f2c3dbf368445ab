//! PE32 files encrypted by yoda's Crypter (the loader test, the
//! polymorphic decryptor interpreter over both stages, the header
//! patches) through the whole scan: the input after the "MZ" magic,
//! with the PE database so the decrypted file is scanned too.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_pe(data));
