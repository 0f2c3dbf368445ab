//! ClamAV signature parsers and the compiler: any bytes, as any format,
//! either load or fail with an error; what loads compiles, opens and scans.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nod32_engine::{Database, Scanner, SignatureSet};

const KINDS: &[&str] = &["f.ndb", "f.ldb", "f.hdb", "f.hsb", "f.fp", "f.sfp", "f.ign2", "f.cdb", "f.cvd", "f.ftm", "f.idb", "f.pdb", "f.wdb", "f.gdb", "f.crb"];

fuzz_target!(|data: &[u8]| {
    let Some((&k, rest)) = data.split_first() else { return };
    let mut set = SignatureSet::new();
    if set.load_bytes(KINDS[k as usize % KINDS.len()], rest).is_err() {
        return;
    }
    let (bytes, _) = nod32_engine::compile(&set);
    let db = Database::from_bytes(bytes).expect("a compiled module opens");
    db.verify_checksum().expect("a compiled module verifies");
    let s = Scanner::new(&db);
    let _ = s.scan_bytes(rest);
    let _ = s.scan_bytes(b"From: a\nContent-Type: text/plain\n\nHello WORLD 1234 \x00\x01\xff");
});
