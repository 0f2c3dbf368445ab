//! NSIS installers (the engine's reader of the first header, its guess
//! of solidity and compressor, NSIS's bzip2 variant, deflate and LZMA),
//! through the whole scan: the input after a minimal executable and
//! NSIS's first-header signature, as the installer's stub leaves it.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// `MZ`, padding to the end of the DOS header, the flags word and the
/// signature the embedded-type pass looks for.
const PREFIX: &[u8] = b"MZ\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\
\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\
\0\0\0\0\xef\xbe\xad\xdeNullsoftInst";

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_after(PREFIX, data));
