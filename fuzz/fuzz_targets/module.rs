//! The module loader and the scan over a damaged module: the input flips
//! bytes of a valid module (offset, mask pairs). Whatever opens must scan
//! without panicking.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use nod32_engine::{Database, Scanner, SignatureSet};

fn valid() -> &'static [u8] {
    static M: OnceLock<Vec<u8>> = OnceLock::new();
    M.get_or_init(|| {
        // The scan of `data` reaches the unpackers, whose third-party
        // parsers' panics the engine contains.
        nod32_engine_fuzz::contain_panics();
        let mut s = SignatureSet::new();
        s.load_bytes("a.ndb", b"A:0:*:41424344??46{2-4}4748\nB:0:EOF-4:5a5a5a5a\nC:7:*:68656c6c6f\nD:0:*:414243\n").unwrap();
        s.load_bytes("a.ldb", b"L;Target:0;0&1>1;41414141;4242::iw\n").unwrap();
        s.load_bytes("a.hdb", b"44d88612fea8a8f36de82e1278abb02f:68:E\n").unwrap();
        nod32_engine::compile(&s).0
    })
}

fuzz_target!(|data: &[u8]| {
    let mut m = valid().to_vec();
    for c in data.chunks(5) {
        if c.len() < 5 {
            break;
        }
        let off = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize % m.len();
        m[off] ^= c[4];
    }
    if let Ok(db) = Database::from_bytes(m) {
        let s = Scanner::new(&db);
        let _ = s.scan_bytes(b"xxABCDzFzz12GHAAAABB\x00BB\x00ZZZZ");
        let _ = s.scan_bytes(b"Say Hello there");
        let _ = s.scan_bytes(data);
    }
});
