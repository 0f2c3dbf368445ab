//! Authenticode signatures and `.cat` catalogs: the DER reader, X.509,
//! SignedData and countersignatures, chain building and RSA.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::authenticode(data));
