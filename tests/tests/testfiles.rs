//! Debian's `clamav-testfiles`: clam.exe in every wrapping ClamAV knows.
//! With a three-signature database (one hdb, one ndb, one ldb) nod32cli
//! must detect every file whose container v1 opens, and the test prints
//! the count next to clamscan's.

use std::process::Command;

use nod32_tests::{bin, parse_clamscan, peer, run};

const DIR: &str = "/usr/share/clamav-testfiles";

/// Files of the formats the engine opens (zip incl. bzip2/deflate64/implode,
/// gzip, bzip2, tar, mail and mbox with base64 or uuencode, cpio in its
/// four layouts, SZDD, BinHex, 7z, cab, TNEF, HTML data: URIs, OLE2 with
/// Ole10Native packages and PowerPoint's compressed embedded objects, RTF
/// with OLE1 objects, PDF streams, ARJ, executables inside executables,
/// the PE packers UPX, MEW, Upack, Petite, PESpin, yC, WWPack and ASPack,
/// and NSIS, AutoIt, InstallShield and SIS installers).
const MUST_DETECT: &[&str] = &[
    "clam.exe",
    "clam.zip",
    "clam.bz2.zip",
    "clam.d64.zip",
    "clam.impl.zip",
    "clam.tar.gz",
    "clam_cache_emax.tgz",
    "clam.mail",
    "clam.exe.mbox.base64",
    "clam.exe.mbox.uu",
    "clam.exe.bz2",
    "clam.odc.cpio",
    "clam.newc.cpio",
    "clam.bin-le.cpio",
    "clam.bin-be.cpio",
    "clam.exe.szdd",
    "clam.exe.binhex",
    "clam.7z",
    "clam.cab",
    "clam.chm",
    "clam.sis",
    "clam.tnef",
    "clam.exe.html",
    "clam.ole.doc",
    "clam.ppt",
    "clam.exe.rtf",
    "clam.pdf",
    "clam.arj",
    // Its stub carries the original executable whole, found by the
    // embedded-type pass (an executable inside an executable).
    "clam-fsg.exe",
    // Unpacked by the UPX reader; the rebuilt file holds clam.exe, which
    // the embedded-type pass finds.
    "clam-upx.exe",
    // Unpacked by the ASPack reader (stub 2.12); clam.exe is in the
    // rebuilt file.
    "clam-aspack.exe",
    // Unpacked by the Petite reader; the rebuilt file holds clam.exe.
    "clam-petite.exe",
    // Unpacked by the WWPack reader; the patched image holds clam.exe.
    "clam-wwpack.exe",
    // Unpacked by the PESpin reader; clam.exe is embedded in the rebuilt
    // file.
    "clam-pespin.exe",
    // Unpacked by the MEW and Upack readers; the rebuilt files hold
    // clam.exe, which the embedded-type pass finds.
    "clam-mew.exe",
    "clam-upack.exe",
    // Decrypted by the yC reader; the decrypted file is UPX-packed, and
    // the PE rebuilt from that holds clam.exe.
    "clam-yc.exe",
    // Installers inside executables, found by the embedded-type pass
    // (NSIS, AutoIt, the MSI-based InstallShield setup) or read from the
    // overlay (InstallShield's cabinets).
    "clam-nsis.exe",
    "clam.ea05.exe",
    "clam.ea06.exe",
    "clam_IScab_ext.exe",
    "clam_IScab_int.exe",
    "clam_ISmsi_ext.exe",
    "clam_ISmsi_int.exe",
];

#[test]
fn three_signatures_find_clam_exe_in_supported_containers() {
    let clamscan = peer("clamscan", "clamav");
    assert!(
        std::path::Path::new(DIR).join("clam.exe").exists(),
        "{DIR} missing: apt-get install clamav-testfiles"
    );
    let db = tempfile::tempdir().unwrap();
    std::fs::write(
        db.path().join("c.hdb"),
        "aa15bcf478d165efd2065190eb473bcb:544:Local.ClamTest.HDB\n",
    )
    .unwrap();
    std::fs::write(
        db.path().join("c.ndb"),
        "Local.ClamTest.NDB:0:*:bb7110400033c050508bf3535350b02940300466ac79f9ba3100780dad50ff66700e1fbe3100e9e5ffb409cd21b44ccd\n",
    )
    .unwrap();
    std::fs::write(
        db.path().join("c.ldb"),
        "Local.ClamTest.LDB;Engine:51-255,Target:0;0&1;bb71104000;33c050508bf35353::i\n",
    )
    .unwrap();
    let theirs = run(Command::new(clamscan)
        .args(["--no-summary", "-d"])
        .arg(db.path())
        .arg(DIR));
    let ours = run(Command::new(bin("nod32cli"))
        .args(["--format", "clamscan", "--no-summary", "-d"])
        .arg(db.path())
        .arg(DIR));
    let theirs = parse_clamscan(&String::from_utf8_lossy(&theirs.stdout));
    let ours = parse_clamscan(&String::from_utf8_lossy(&ours.stdout));
    assert_eq!(theirs.len(), ours.len(), "both scan every file");
    let count = |v: &[(String, Option<String>)]| {
        v.iter().filter(|x| x.1.is_some()).count()
    };
    println!(
        "clam.exe found in {} of {} files by nod32cli, {} by clamscan",
        count(&ours),
        ours.len(),
        count(&theirs)
    );
    println!("{:<28} {:<22} nod32cli", "file", "clamscan");
    for (t, o) in theirs.iter().zip(&ours) {
        let f = t.0.rsplit('/').next().unwrap();
        println!(
            "{:<28} {:<22} {}",
            f,
            t.1.as_deref().unwrap_or("OK"),
            o.1.as_deref().unwrap_or("not yet")
        );
    }
    for f in MUST_DETECT {
        let o = ours.iter().find(|x| x.0.ends_with(&format!("/{f}"))).unwrap();
        assert!(o.1.is_some(), "{f} must be detected");
        let t = theirs.iter().find(|x| x.0 == o.0).unwrap();
        assert_eq!(t.1, o.1, "{f}: same signature name as clamscan");
    }
    // Whatever nod32cli detects, clamscan detects with the same name.
    for (t, o) in theirs.iter().zip(&ours) {
        if o.1.is_some() {
            assert_eq!(t.1, o.1, "{}", o.0);
        }
    }
}

/// The containers the engine opens, with clam.exe's MD5 alone: a hash
/// signature matches only the extracted member, never the container, so
/// each detection here is an extraction, compared with clamscan's.
#[test]
fn member_hashes_prove_extraction() {
    let db = tempfile::tempdir().unwrap();
    std::fs::write(
        db.path().join("c.hdb"),
        "aa15bcf478d165efd2065190eb473bcb:544:Local.ClamTest.HDB\n",
    )
    .unwrap();
    let files: Vec<String> = MUST_DETECT
        .iter()
        .filter(|f| **f != "clam.exe")
        .map(|f| format!("{DIR}/{f}"))
        .collect();
    let theirs = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "-d"])
        .arg(db.path())
        .args(&files));
    let ours = run(Command::new(bin("nod32cli"))
        .args(["--format", "clamscan", "--no-summary", "-d"])
        .arg(db.path())
        .args(&files));
    let theirs = parse_clamscan(&String::from_utf8_lossy(&theirs.stdout));
    let ours = parse_clamscan(&String::from_utf8_lossy(&ours.stdout));
    assert_eq!(theirs.len(), files.len());
    for (t, o) in theirs.iter().zip(&ours) {
        assert_eq!(t.0, o.0);
        println!(
            "{:<28} clamscan {:<22} nod32cli {}",
            t.0.rsplit('/').next().unwrap(),
            t.1.as_deref().unwrap_or("OK"),
            o.1.as_deref().unwrap_or("OK")
        );
        assert!(o.1.is_some(), "{}: the member was not extracted", o.0);
        assert_eq!(t.1, o.1, "{}", o.0);
    }
}
