//! NSIS installers made by Debian's `makensis` with each compressor
//! (zlib, bzip2, LZMA), solid and not, carrying EICAR, clam.exe and a
//! 100 KB marker: nod32cli finds each where clamscan does, with the
//! same name. ClamAV's own `clam-nsis.exe` too.
//!
//! ClamAV's deflate decoder runs 32 KiB ahead of what it has read, and
//! it leaves a solid archive once its decoder has taken all the input:
//! the files in the last 32 KiB of a solid zlib installer are not
//! scanned. Each installer here ends with a 40 KB file of noise so that
//! the files before it are; a small one without it is left unscanned
//! by both.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nod32_tests::{bin, eicar, hex, parse_clamscan, peer, run};

const CLAM_EXE: &str = "/usr/share/clamav-testfiles/clam.exe";
const CLAM_HDB: &str =
    "aa15bcf478d165efd2065190eb473bcb:544:Local.ClamTest.HDB\n";
const MAGIC: &[u8] = b"\xef\xbe\xad\xdeNullsoftInst";

/// Pseudo-random bytes, as text (`text`) or not.
fn noise(len: usize, seed: u32, text: bool) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let r = (x >> 16) as usize;
            if text { b"abcdefghij klmnop\n"[r % 18] } else { r as u8 }
        })
        .collect()
}

fn marker() -> Vec<u8> {
    noise(100_000, 777, true)
}

fn md5(d: &[u8]) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(d))
}

/// The payload files, written into `dir`.
fn payload(dir: &Path) -> Vec<PathBuf> {
    let files = [
        ("eicar.com", eicar()),
        ("clam.exe", std::fs::read(CLAM_EXE).expect("clamav-testfiles")),
        ("marker.txt", marker()),
        ("filler.bin", noise(40_000, 5, false)),
    ];
    files
        .into_iter()
        .map(|(name, bytes)| {
            let p = dir.join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        })
        .collect()
}

/// An installer made by makensis with `compressor`, installing `files`.
fn installer(
    dir: &Path,
    compressor: &str,
    solid: bool,
    files: &[PathBuf],
) -> PathBuf {
    let name = format!("{compressor}{}", if solid { "-solid" } else { "" });
    let mut nsi = format!(
        "SetCompressor {}{compressor}\nOutFile \"{name}.exe\"\n\
         RequestExecutionLevel user\nInstallDir \"$TEMP\\t\"\n\
         Section\nSetOutPath \"$INSTDIR\"\n",
        if solid { "/SOLID " } else { "" }
    );
    for f in files {
        nsi.push_str(&format!("File \"{}\"\n", f.display()));
    }
    nsi.push_str("SectionEnd\n");
    let script = dir.join(format!("{name}.nsi"));
    std::fs::write(&script, nsi).unwrap();
    let out = run(Command::new(peer("makensis", "nsis"))
        .arg("-V1")
        .arg(&script)
        .current_dir(dir));
    assert!(out.status.success(), "makensis: {out:?}");
    dir.join(format!("{name}.exe"))
}

/// clamscan's and nod32cli's output lines on `f` with database `db`.
fn scan(db: &Path, f: &Path) -> (String, String) {
    let theirs = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "-d"])
        .arg(db)
        .arg(f));
    let ours = run(Command::new(bin("nod32cli"))
        .args(["--format", "clamscan", "--no-summary", "-d"])
        .arg(db)
        .arg(f));
    (
        String::from_utf8_lossy(&theirs.stdout).into_owned(),
        String::from_utf8_lossy(&ours.stdout).into_owned(),
    )
}

fn database(file: &str, sig: &str) -> tempfile::TempDir {
    let db = tempfile::tempdir().unwrap();
    std::fs::write(db.path().join(file), sig).unwrap();
    db
}

/// Each signature's database: EICAR's, clam.exe's and the marker's
/// MD5, so that each is found only once extracted.
fn databases() -> Vec<(tempfile::TempDir, &'static str)> {
    let e = eicar();
    let m = marker();
    vec![
        (
            database(
                "e.hdb",
                &format!("{}:{}:Local.Eicar.HDB\n", md5(&e), e.len()),
            ),
            "Local.Eicar.HDB",
        ),
        (database("c.hdb", CLAM_HDB), "Local.ClamTest.HDB"),
        (
            database(
                "m.hdb",
                &format!("{}:{}:Local.Nsis.Marker\n", md5(&m), m.len()),
            ),
            "Local.Nsis.Marker",
        ),
    ]
}

#[test]
fn makensis_installers_found_as_clamscan_finds_them() {
    let dir = tempfile::tempdir().unwrap();
    let files = payload(dir.path());
    let dbs = databases();
    for compressor in ["zlib", "bzip2", "lzma"] {
        for solid in [false, true] {
            let exe = installer(dir.path(), compressor, solid, &files);
            for (db, name) in &dbs {
                let (theirs, ours) = scan(db.path(), &exe);
                let (t, o) = (parse_clamscan(&theirs), parse_clamscan(&ours));
                let what = format!("{compressor} solid={solid} {name}");
                assert_eq!(t.len(), 1, "{what}: {theirs}");
                assert_eq!(t[0].1.as_deref(), Some(*name), "{what}");
                assert_eq!(t, o, "{what}: {ours}");
            }
        }
    }
}

#[test]
fn small_solid_zlib_installer_left_as_clamscan_leaves_it() {
    let dir = tempfile::tempdir().unwrap();
    let files = payload(dir.path());
    let small = &files[..2];
    let db = database("c.hdb", CLAM_HDB);
    // Not solid: found by both.
    let exe = installer(dir.path(), "zlib", false, small);
    let (theirs, ours) = scan(db.path(), &exe);
    assert!(theirs.contains("Local.ClamTest.HDB"), "{theirs}");
    assert_eq!(parse_clamscan(&theirs), parse_clamscan(&ours));
    // Solid: the whole stream is decoded with the script header, and
    // neither looks further.
    let exe = installer(dir.path(), "zlib", true, small);
    let (theirs, ours) = scan(db.path(), &exe);
    assert!(theirs.trim_end().ends_with(": OK"), "{theirs}");
    assert_eq!(parse_clamscan(&theirs), parse_clamscan(&ours));
}

#[test]
fn clamav_own_nsis_sample() {
    let sample = Path::new("/usr/share/clamav-testfiles/clam-nsis.exe");
    assert!(sample.exists(), "apt-get install clamav-testfiles");
    let db = database("c.hdb", CLAM_HDB);
    let (theirs, ours) = scan(db.path(), sample);
    assert!(theirs.contains("Local.ClamTest.HDB"), "{theirs}");
    assert_eq!(parse_clamscan(&theirs), parse_clamscan(&ours));
}

/// makensis's stub (everything before its first header) with our own
/// solid deflate archive after it.
fn with_archive(stub: &[u8], members: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::DeflateEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    );
    z.write_all(members).unwrap();
    let body = z.finish().unwrap();
    let mut v = stub.to_vec();
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(MAGIC);
    v.extend_from_slice(&100u32.to_le_bytes());
    v.extend_from_slice(&(0x1c + body.len() as u32 + 4).to_le_bytes());
    v.extend_from_slice(&body);
    v.extend_from_slice(&0u32.to_le_bytes());
    v
}

fn member(v: &mut Vec<u8>, d: &[u8]) {
    v.extend_from_slice(&(d.len() as u32).to_le_bytes());
    v.extend_from_slice(d);
}

/// A member claiming 4 GiB, and 64 MiB of zeros read as empty members,
/// end fast; EICAR before the one and after the other is found by both.
#[test]
fn nsis_bombs_end_within_limits() {
    let dir = tempfile::tempdir().unwrap();
    let files = payload(dir.path());
    let exe = std::fs::read(installer(dir.path(), "zlib", true, &files[..1]))
        .unwrap();
    let at = exe.windows(16).position(|w| w == MAGIC).unwrap() - 4;
    let stub = &exe[..at];
    let e = eicar();
    let tail = noise(40_000, 9, false);
    let mut claim = Vec::new();
    member(&mut claim, b"the script header");
    member(&mut claim, &e);
    claim.extend_from_slice(&u32::MAX.to_le_bytes());
    claim.extend_from_slice(&tail);
    let mut zeros = Vec::new();
    member(&mut zeros, b"the script header");
    zeros.extend_from_slice(&vec![0; 64 << 20]);
    member(&mut zeros, &e);
    zeros.extend_from_slice(&tail);
    let db = database(
        "e.hdb",
        &format!("{}:{}:Local.Eicar.HDB\n", md5(&e), e.len()),
    );
    for (name, members) in [("claim.exe", claim), ("zeros.exe", zeros)] {
        let f = dir.path().join(name);
        std::fs::write(&f, with_archive(stub, &members)).unwrap();
        let start = Instant::now();
        let (theirs, ours) = scan(db.path(), &f);
        assert!(start.elapsed() < Duration::from_secs(60), "{name}");
        assert!(theirs.contains("Local.Eicar.HDB"), "{name}: {theirs}");
        assert_eq!(parse_clamscan(&theirs), parse_clamscan(&ours), "{name}");
    }
}
