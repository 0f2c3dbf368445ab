//! What the engine-scan fuzz targets share: the built-in database, small
//! limits, and a panic hook that lets the engine contain the panics of
//! third-party parsers (it reports them as damaged input).

use std::sync::OnceLock;

use nod32_engine::{Database, Limits, Scanner};

fn db() -> &'static Database {
    static D: OnceLock<Database> = OnceLock::new();
    D.get_or_init(|| {
        // libfuzzer-sys's hook would abort on a contained panic before it
        // is caught. A panic that escapes the engine still aborts:
        // libfuzzer-sys catches it at the target's edge.
        std::panic::set_hook(Box::new(|info| {
            eprintln!("panic (contained or not): {info}")
        }));
        Database::builtin()
    })
}

/// Scans `data` whole. Every input gets a verdict, never a panic.
pub fn scan(data: &[u8]) {
    let limits = Limits {
        max_file_size: 1 << 20,
        max_scan_size: 4 << 20,
        max_files: 64,
        ..Limits::default()
    };
    let _ = Scanner::new(db()).limits(limits).scan_bytes(data);
}

/// Scans `data` behind a format's `magic`, so the fuzzer spends its
/// time inside that format's unpacker (whose children are typed and
/// scanned too).
pub fn scan_after(magic: &[u8], data: &[u8]) {
    let mut input = magic.to_vec();
    input.extend_from_slice(data);
    scan(&input);
}
