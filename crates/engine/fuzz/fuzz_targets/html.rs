//! HTML with data: URIs: the input after the format's magic, through the whole scan,
//! so the unpacker's children are typed and scanned too. Every input
//! gets a verdict within the limits, never a panic.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use nod32_engine::{Database, Limits, Scanner};

fn db() -> &'static Database {
    static D: OnceLock<Database> = OnceLock::new();
    D.get_or_init(|| {
        // The engine contains the panics of some third-party parsers (it
        // reports them as damaged input); libfuzzer-sys's hook would abort
        // on those before they are caught. A panic that escapes the engine
        // still aborts: libfuzzer-sys catches it at the target's edge.
        std::panic::set_hook(Box::new(|info| eprintln!("panic (contained or not): {info}")));
        Database::builtin()
    })
}

fuzz_target!(|data: &[u8]| {
    let mut input = b"<html><a href=\"data:application/octet-stream;base64,".to_vec();
    input.extend_from_slice(data);
    let limits = Limits { max_file_size: 1 << 20, max_scan_size: 4 << 20, max_files: 64, ..Limits::default() };
    let _ = Scanner::new(db()).limits(limits).scan_bytes(&input);
});
