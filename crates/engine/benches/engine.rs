//! In-process engine speed: the matcher pass over random data and a whole
//! mail scan, with 100,000 random body signatures (10% with wildcards)
//! and 100,000 hashes. `cargo xtask bench` compares whole processes with
//! clamscan; this isolates the engine for profiling, and `stages` each
//! of its stages.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nod32_engine::Scanner;

mod common;
use common::{Rng, binary, database, mail};

fn benches(c: &mut Criterion) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let db = database(&mut rng);
    let scanner = Scanner::new(&db);
    let binary = binary(&mut rng);
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Bytes(binary.len() as u64));
    g.bench_function("scan 1 MiB binary", |b| {
        b.iter(|| scanner.scan_bytes(&binary))
    });
    let mail = mail(&binary);
    g.throughput(Throughput::Bytes(mail.len() as u64));
    g.bench_function("scan 137 KB mail", |b| {
        b.iter(|| scanner.scan_bytes(mail.as_bytes()))
    });
    g.finish();
}

criterion_group!(engine, benches);
criterion_main!(engine);
