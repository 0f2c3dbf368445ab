//! The object walk: type detection, MIME/mbox, uuencode and every
//! container on hostile bytes. Every input gets a verdict, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan(data));
