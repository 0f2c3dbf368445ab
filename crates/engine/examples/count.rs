//! The engine benchmark's two scans, run a given number of times with
//! nothing else timed: `cargo xtask bench count` runs this under
//! valgrind's cachegrind and takes instruction counts, which do not
//! move with the machine's load as criterion's times do on a shared
//! 2-core machine.
//!
//! `count INPUT N`: INPUT is `binary` or `mail`; N scans after building
//! the database and the inputs (N = 0 measures the building alone).

#[path = "../benches/common/mod.rs"]
mod common;

use common::{Rng, binary, database, mail};
use std::hint::black_box;

fn main() {
    let mut args = std::env::args().skip(1);
    let input = args.next().unwrap_or_default();
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    // The same seed and order as benches/engine.rs, so the inputs are
    // the ones criterion times.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let db = database(&mut rng);
    let scanner = nod32_engine::Scanner::new(&db);
    let binary = binary(&mut rng);
    let mail = mail(&binary);
    let data = match input.as_str() {
        "binary" => &binary[..],
        "mail" => mail.as_bytes(),
        _ => {
            eprintln!("usage: count binary|mail N");
            std::process::exit(2);
        }
    };
    for _ in 0..n {
        black_box(scanner.scan_bytes(black_box(data)));
    }
}
