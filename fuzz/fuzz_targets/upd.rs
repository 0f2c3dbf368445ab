//! What nod32upd reads from a server or a file before trusting it: a
//! CVD (header, MD5, signature) and its tar, a .cdiff (signature, gzip)
//! and its script, signature strings, the auth file and .netrc. Never a panic; a verdict on every input; and nothing that
//! does not verify is taken.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nod32upd::cdiff::{apply, clamav_key, unpack, verify_cdiff};
use nod32upd::fetch::{auth_file, netrc};
use nod32upd::manifest::{Manifest, verify};
use nod32upd::{
    InfoHead, RsaKey, clamav_info_key, decode_sig, encode_sig, handover,
    info_of, verify_cld, verify_cvd,
};

fuzz_target!(|data: &[u8]| {
    // With ClamAV's key nothing made up verifies.
    assert!(verify_cvd(data, &RsaKey::clamav()).is_err());
    assert!(verify_cld(data, &clamav_info_key()).is_err());
    let text = String::from_utf8_lossy(data);
    if let Some(v) = decode_sig(&text) {
        // Digits round-trip (up to leading 'a's, which are zeros).
        assert_eq!(decode_sig(&encode_sig(&v)).unwrap_or_default(), v);
    }
    assert!(verify_cdiff(data, &clamav_key()).is_err());
    // The bytes as a script, run on a small database; then as a
    // database container.
    let mut files = std::collections::BTreeMap::new();
    files.insert("daily.ndb".to_string(), b"A:0:*:41\nB:0:*:42\n".to_vec());
    files.insert("daily.hdb".to_string(), b"x\n".to_vec());
    if apply(data, &mut files).is_ok() {
        assert!(files.keys().all(|k| !k.contains('/')));
    }
    let _ = unpack(data);
    let m = Manifest::parse(&text);
    assert!(!m.lists("daily.cvd", data) || m.files.contains_key("daily.cvd"));
    // No signature by a made-up key verifies.
    assert!(!verify(&"11".repeat(32), data, &text));
    let _ = auth_file(&text);
    let _ = netrc(&text, "mirror.example");
    // A .info's first line, and the .info in a database body.
    if let Ok(i) = InfoHead::parse("daily.info", data) {
        assert_eq!(i.db(), "daily");
    }
    let _ = info_of(data);
    // What the root parent reads from its unprivileged child: no header
    // names a path, and no body is read past its length or the bound.
    let mut r = data;
    while let Ok(Some(h)) = handover::read_header(&mut r) {
        assert!(!h.name.contains('/') && !h.kind.contains('/'));
        match handover::read_body(&mut r, &h, 1 << 16) {
            Ok(b) => assert_eq!(b.len() as u64, h.len),
            Err(_) => break,
        }
    }
});
