//! Each stage of a scan on its own, on the inputs of `engine`: the
//! matcher's pass (over binary, and over base64 text, where only text
//! anchors are looked for), base64 decoding, MD5 hashing and the MIME walk, so
//! that a regression is seen in the stage where it happens. Run with
//! `cargo bench -p nod32-engine --bench stages`.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nod32_engine::stages;

mod common;
use common::{Rng, b64, binary, database, mail};

fn benches(c: &mut Criterion) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let db = database(&mut rng);
    let binary = binary(&mut rng);
    let mail = mail(&binary);
    let encoded = b64(&binary);
    let mut g = c.benchmark_group("stages");
    g.throughput(Throughput::Bytes(binary.len() as u64));
    g.bench_function("matcher 1 MiB binary", |b| {
        b.iter(|| stages::matcher(&db, &binary))
    });
    g.bench_function("md5 1 MiB", |b| b.iter(|| stages::md5(&binary)));
    g.throughput(Throughput::Bytes(encoded.len() as u64));
    // The raw pass over a mail's base64 body: text anchors only.
    g.bench_function("matcher 1.4 MB base64 text", |b| {
        b.iter(|| stages::matcher(&db, encoded.as_bytes()))
    });
    g.bench_function("base64 1.4 MB", |b| {
        b.iter(|| stages::base64(encoded.as_bytes()))
    });
    g.throughput(Throughput::Bytes(mail.len() as u64));
    g.bench_function("mime walk 137 KB mail", |b| {
        b.iter(|| stages::mime_walk(mail.as_bytes()))
    });
    g.finish();
}

criterion_group!(stages_group, benches);
criterion_main!(stages_group);
