//! In-process engine speed: the matcher pass over random data and a whole
//! mail scan, with 100,000 random body signatures (10% with wildcards)
//! and 100,000 hashes. `cargo xtask bench` compares whole processes with
//! clamscan; this isolates the engine for profiling.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nod32_engine::{Database, Scanner, SignatureSet};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn database(rng: &mut Rng) -> Database {
    let mut ndb = String::new();
    for i in 0..100_000 {
        let p = rng.bytes(16);
        if i % 10 == 0 {
            ndb.push_str(&format!(
                "B.{i}:0:*:{}??{}\n",
                hex(&p[..8]),
                hex(&p[9..])
            ));
        } else {
            ndb.push_str(&format!("B.{i}:0:*:{}\n", hex(&p)));
        }
    }
    let mut hdb = String::new();
    for i in 0..100_000 {
        hdb.push_str(&format!(
            "{}:{}:H.{i}\n",
            hex(&rng.bytes(16)),
            100 + rng.next() % 10_000_000
        ));
    }
    let mut s = SignatureSet::new();
    s.load_bytes("b.ndb", ndb.as_bytes()).unwrap();
    s.load_bytes("b.hdb", hdb.as_bytes()).unwrap();
    Database::from_signatures(&s).unwrap()
}

fn b64(d: &[u8]) -> String {
    const T: &[u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::new();
    for (i, c) in d.chunks(3).enumerate() {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for k in 0..4 {
            s.push(if k <= c.len() {
                T[(n >> (18 - 6 * k) & 63) as usize] as char
            } else {
                '='
            });
        }
        if i % 19 == 18 {
            s.push_str("\r\n");
        }
    }
    s
}

fn benches(c: &mut Criterion) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let db = database(&mut rng);
    let scanner = Scanner::new(&db);
    // Random bytes with a zero byte every 512 so that ClamAV's typing
    // reads them as binary, not as UTF-16 text.
    let mut binary = rng.bytes(1 << 20);
    for i in (0..binary.len()).step_by(512) {
        binary[i] = 0;
        binary[i + 2] = 0;
        binary[i + 3] = 1;
    }
    let mut g = c.benchmark_group("engine");
    g.throughput(Throughput::Bytes(binary.len() as u64));
    g.bench_function("scan 1 MiB binary", |b| {
        b.iter(|| scanner.scan_bytes(&binary))
    });
    let mail = format!(
        "Received: from a by b\r\nFrom: a@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"Q\"\r\n\r\n--Q\r\nContent-Type: text/plain\r\n\r\nHello\r\n--Q\r\n\
         Content-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--Q--\r\n",
        b64(&binary[..100_000])
    );
    g.throughput(Throughput::Bytes(mail.len() as u64));
    g.bench_function("scan 137 KB mail", |b| {
        b.iter(|| scanner.scan_bytes(mail.as_bytes()))
    });
    g.finish();
}

criterion_group!(engine, benches);
criterion_main!(engine);
