//! Files inside files: the input's first byte picks an embedded type's
//! header, which is put after a short text so that the embedded-type
//! pass (not the typing) finds it; the rest is the embedded object.
//! Zip entries read from their local header, 7z, cab and RAR archives
//! from an offset, and the pass's own bookkeeping.
#![no_main]

use libfuzzer_sys::fuzz_target;

const HEADERS: &[&[u8]] = &[
    b"PK\x03\x04",
    b"Rar!\x1a\x07\x00",
    b"7z\xbc\xaf\x27\x1c",
    b"MSCF\0\0\0\0",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let mut input = b"text before an embedded file\n".to_vec();
    input.extend_from_slice(HEADERS[usize::from(pick) % HEADERS.len()]);
    input.extend_from_slice(rest);
    nod32_engine_fuzz::scan(&input);
});
