//! What the engine benchmarks share: the database and the inputs, the
//! same in each so that their figures compare.
#![allow(dead_code)]

use nod32_engine::{Database, SignatureSet};

pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

pub fn database(rng: &mut Rng) -> Database {
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

pub fn b64(d: &[u8]) -> String {
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

/// 1 MiB of random bytes with a zero byte every 512 so that ClamAV's
/// typing reads them as binary, not as UTF-16 text.
pub fn binary(rng: &mut Rng) -> Vec<u8> {
    let mut binary = rng.bytes(1 << 20);
    for i in (0..binary.len()).step_by(512) {
        binary[i] = 0;
        binary[i + 2] = 0;
        binary[i + 3] = 1;
    }
    binary
}

/// A 137 KB mail: a text part and 100,000 bytes of `binary` attached
/// in base64.
pub fn mail(binary: &[u8]) -> String {
    format!(
        "Received: from a by b\r\nFrom: a@example.org\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"Q\"\r\n\r\n--Q\r\nContent-Type: text/plain\r\n\r\nHello\r\n--Q\r\n\
         Content-Type: application/octet-stream; name=\"a.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--Q--\r\n",
        b64(&binary[..100_000])
    )
}
