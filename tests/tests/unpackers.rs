//! Containers made by the real tools at run time, each holding EICAR
//! (built at run time) next to a clean file: nod32cli finds it where
//! clamscan does, with the same name, and a hash signature of the clean
//! member proves that the member itself was extracted.
#![forbid(unsafe_code)]

use std::path::Path;
use std::process::{Command, Stdio};

use nod32_tests::{bin, eicar, parse_clamscan, peer, run};

/// The verdicts of nod32cli and clamscan on `files` with the database
/// directory `db`.
fn both(
    db: &Path,
    files: &[std::path::PathBuf],
) -> Vec<(String, Option<String>, Option<String>)> {
    let theirs = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "-d"])
        .arg(db)
        .args(files));
    let ours = run(Command::new(bin("nod32cli"))
        .args(["--format", "clamscan", "--no-summary", "-d"])
        .arg(db)
        .args(files));
    let theirs = parse_clamscan(&String::from_utf8_lossy(&theirs.stdout));
    let ours = parse_clamscan(&String::from_utf8_lossy(&ours.stdout));
    assert_eq!(theirs.len(), files.len(), "clamscan: {theirs:?}");
    assert_eq!(ours.len(), files.len(), "nod32cli: {ours:?}");
    theirs
        .into_iter()
        .map(|(f, t)| {
            let o = ours.iter().find(|x| x.0 == f).and_then(|x| x.1.clone());
            (f, t, o)
        })
        .collect()
}

#[test]
fn cpio_in_every_layout_made_by_cpio() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("readme.txt"), b"a clean member\n").unwrap();
    std::fs::write(src.join("eicar.com"), eicar()).unwrap();
    let marker = b"nod32 cpio member marker 1234567890\n";
    std::fs::write(src.join("marker.bin"), marker).unwrap();
    let mut archives = Vec::new();
    for format in ["odc", "newc", "crc", "bin"] {
        let out = dir.path().join(format!("t.{format}.cpio"));
        let mut c = Command::new(peer("cpio", "cpio"))
            .args(["-o", "--quiet", "-H", format])
            .current_dir(&src)
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&out).unwrap())
            .spawn()
            .unwrap();
        use std::io::Write;
        c.stdin
            .take()
            .unwrap()
            .write_all(b"readme.txt\nmarker.bin\neicar.com\n")
            .unwrap();
        assert!(c.wait().unwrap().success(), "cpio -H {format}");
        archives.push(out);
    }
    // EICAR by the built-in-like body signature...
    let db = tempfile::tempdir().unwrap();
    std::fs::write(
        db.path().join("e.ndb"),
        format!("Local.Eicar.Test:0:*:{}\n", nod32_tests::hex(&eicar()[..40])),
    )
    .unwrap();
    for (f, t, o) in both(db.path(), &archives) {
        assert!(t.is_some(), "clamscan misses {f}");
        assert_eq!(t, o, "{f}");
    }
    // ...and the marker member by its MD5, which only the extracted
    // member has.
    let db = tempfile::tempdir().unwrap();
    let md5 = {
        use md5::Digest;
        nod32_tests::hex(&md5::Md5::digest(marker))
    };
    std::fs::write(
        db.path().join("m.hdb"),
        format!("{md5}:{}:Local.Cpio.Member\n", marker.len()),
    )
    .unwrap();
    for (f, t, o) in both(db.path(), &archives) {
        assert_eq!(t.as_deref(), Some("Local.Cpio.Member"), "clamscan on {f}");
        assert_eq!(t, o, "{f}");
    }
}
