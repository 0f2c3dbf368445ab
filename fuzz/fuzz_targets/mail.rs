//! mail (MIME walk, base64, quoted-printable, uuencoded parts): the input after a minimal header, through the whole scan.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_after(b"From: a@b\nSubject: x\n", data));
