//! MEW- and Upack-packed executables: ClamAV's own samples
//! (`clam-mew.exe`, `clam-upack.exe`, clam.exe packed by the real
//! packers), the files clamscan rebuilds from them found by their MD5
//! (so the rebuild is byte for byte ClamAV's, tables the decoders leave
//! in the image included), and damaged copies on which nod32cli must
//! rebuild exactly where clamscan rebuilds: a signature on the text of
//! ClamAV's DOS stub, which only a rebuilt file holds, tells.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nod32_tests::{bin, hex, parse_clamscan, peer, run};

const DIR: &str = "/usr/share/clamav-testfiles";
const CLAM_EXE: &str =
    "aa15bcf478d165efd2065190eb473bcb:544:Local.ClamTest.HDB\n";

fn md5(d: &[u8]) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(d))
}

type Verdicts = Vec<(String, Option<String>)>;

/// clamscan's and nod32cli's verdicts on `files` with database `db`,
/// and nod32cli's output.
fn scan(db: &Path, files: &[PathBuf]) -> (Verdicts, Verdicts, String) {
    let theirs = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "-d"])
        .arg(db)
        .args(files));
    let ours = run(Command::new(bin("nod32cli"))
        .args(["--format", "clamscan", "--no-summary", "-d"])
        .arg(db)
        .args(files));
    let ours = String::from_utf8_lossy(&ours.stdout).into_owned();
    (
        parse_clamscan(&String::from_utf8_lossy(&theirs.stdout)),
        parse_clamscan(&ours),
        ours,
    )
}

fn db(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn sample(name: &str) -> PathBuf {
    let f = Path::new(DIR).join(name);
    assert!(f.exists(), "apt-get install clamav-testfiles");
    f
}

/// The file ClamAV rebuilt from `f`, as `--leave-temps` keeps it.
fn clamav_rebuilt(f: &Path, db: &Path) -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "--leave-temps", "--tempdir"])
        .arg(tmp.path())
        .arg("-d")
        .arg(db)
        .arg(f));
    assert!(out.status.code().is_some(), "{out:?}");
    let mut found = Vec::new();
    let mut dirs = vec![tmp.path().to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                let b = std::fs::read(&p).unwrap();
                if b.starts_with(b"MZ")
                    && memchr::memmem::find(&b, b"created by ClamAV").is_some()
                {
                    found.push(b);
                }
            }
        }
    }
    assert_eq!(found.len(), 1, "clamscan left one rebuilt file");
    found.remove(0)
}

/// Both samples: clam.exe found inside with clamscan's name, and the
/// file clamscan rebuilt found by its MD5 and size.
#[test]
fn clamav_samples_unpacked_and_rebuilt_as_clamscan_does() {
    let dir = tempfile::tempdir().unwrap();
    let clam = db(dir.path(), "clam.hdb", CLAM_EXE);
    for name in ["clam-mew.exe", "clam-upack.exe"] {
        let f = sample(name);
        let (t, o, text) = scan(&clam, std::slice::from_ref(&f));
        assert_eq!(t[0].1.as_deref(), Some("Local.ClamTest.HDB"), "{name}");
        assert_eq!(t, o, "{name}: {text}");
        let rebuilt = clamav_rebuilt(&f, &clam);
        assert_eq!(&rebuilt[0xd0 + 0xf8..][..7], b".clam01", "{name}");
        let hdb = db(
            dir.path(),
            "rebuilt.hdb",
            &format!("{}:{}:Local.Rebuilt\n", md5(&rebuilt), rebuilt.len()),
        );
        let (t, o, text) = scan(&hdb, std::slice::from_ref(&f));
        assert_eq!(t[0].1.as_deref(), Some("Local.Rebuilt"), "{name}");
        assert_eq!(t, o, "{name}: {text}");
    }
}

fn put32(d: &mut [u8], at: usize, v: u32) {
    d[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Damaged copies of both samples, each scanned by both: a signature
/// on the text of ClamAV's DOS stub finds exactly the files either
/// rebuilt, so the two must agree file by file. Bytes of the packed
/// data and of the stubs changed one at a time (streams that end early,
/// run past their buffers, point back before their start), and the
/// files cut short.
#[test]
fn damaged_samples_rebuilt_exactly_where_clamscan_rebuilds() {
    let dir = tempfile::tempdir().unwrap();
    let stub = db(
        dir.path(),
        "stub.ndb",
        &format!(
            "Local.Rebuilt.Stub:0:*:{}\n",
            hex(b"This file was created by ClamAV")
        ),
    );
    let mut files = Vec::new();
    for (name, from, to) in [
        ("clam-mew.exe", 0x154usize, 0x618usize),
        ("clam-upack.exe", 0x10, 0x73c),
    ] {
        let orig = std::fs::read(sample(name)).unwrap();
        let to = to.min(orig.len());
        let mut k = 0;
        // Every 7th byte of the stub and the packed data, three ways.
        for at in (from..to).step_by(7) {
            for x in [0x01u8, 0x80, 0xff] {
                let mut d = orig.clone();
                d[at] ^= x;
                let f = dir.path().join(format!("{name}.{k}"));
                std::fs::write(&f, d).unwrap();
                files.push(f);
                k += 1;
            }
        }
        for len in (0x200..orig.len()).step_by(61) {
            let f = dir.path().join(format!("{name}.cut{len}"));
            std::fs::write(&f, &orig[..len]).unwrap();
            files.push(f);
        }
    }
    let start = Instant::now();
    let (t, o, text) = scan(&stub, &files);
    assert!(start.elapsed() < Duration::from_secs(300));
    assert_eq!(t.len(), files.len());
    let rebuilt = t.iter().filter(|v| v.1.is_some()).count();
    println!("{} damaged files, {rebuilt} rebuilt by clamscan", files.len());
    assert!(rebuilt > 20 && rebuilt < files.len(), "both outcomes are tried");
    for (a, b) in t.iter().zip(&o) {
        assert_eq!(a, b, "{text}");
    }
}

/// Sizes of gigabytes claimed by the section headers: refused by the
/// limits before anything is allocated, quickly; clamscan says OK, and
/// nod32cli says what was not scanned.
#[test]
fn claimed_gigabytes_end_within_limits() {
    let dir = tempfile::tempdir().unwrap();
    let clam = db(dir.path(), "clam.hdb", CLAM_EXE);
    let mew = std::fs::read(sample("clam-mew.exe")).unwrap();
    let upack = std::fs::read(sample("clam-upack.exe")).unwrap();
    let mut bombs = Vec::new();
    // MEW's image section: 2 GiB of memory.
    let mut d = mew.clone();
    put32(&mut d, 0x104 + 8, 0x7fff_0000);
    bombs.push(("mew-image.exe", d));
    // Its packed section's memory.
    let mut d = mew.clone();
    put32(&mut d, 0x12c + 8, 0x7fff_0000);
    bombs.push(("mew-packed.exe", d));
    // Upack's first and third sections.
    let mut d = upack.clone();
    put32(&mut d, 0x170 + 8, 0x7fff_0000);
    bombs.push(("upack-first.exe", d));
    let mut d = upack.clone();
    put32(&mut d, 0x1c0 + 8, 0x7fff_0000);
    bombs.push(("upack-third.exe", d));
    for (name, bytes) in bombs {
        let f = dir.path().join(name);
        std::fs::write(&f, bytes).unwrap();
        let start = Instant::now();
        let (t, _, text) = scan(&clam, std::slice::from_ref(&f));
        assert!(start.elapsed() < Duration::from_secs(60), "{name}");
        assert_eq!(t[0].1, None, "{name}");
        assert!(!text.contains("FOUND"), "{name}: {text}");
        assert!(text.contains(": Not scanned ("), "{name}: {text}");
    }
}
