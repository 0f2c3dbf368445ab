//! Petite-packed executables: ClamAV's own `clam-petite.exe` (clam.exe
//! packed by Petite 2.2). nod32cli must find what clamscan finds in it:
//! clam.exe inside the rebuilt file, and the rebuilt file itself by its
//! MD5, taken from the file clamscan leaves with `--leave-temps` (so
//! the rebuild is byte for byte ClamAV's). Damaged copies of the
//! sample (claimed sizes of gigabytes, broken tables and streams) end
//! quickly with clamscan's verdict.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nod32_tests::{bin, hex, parse_clamscan, peer, run};

const SAMPLE: &str = "/usr/share/clamav-testfiles/clam-petite.exe";
const CLAM_EXE: &str =
    "aa15bcf478d165efd2065190eb473bcb:544:Local.ClamTest.HDB\n";

fn md5(d: &[u8]) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(d))
}

fn sample() -> Vec<u8> {
    peer("clamscan", "clamav");
    std::fs::read(SAMPLE).expect("apt-get install clamav-testfiles")
}

/// Verdicts as `parse_clamscan` reads them.
type Verdicts = Vec<(String, Option<String>)>;

/// clamscan's and nod32cli's verdicts on `f` with database `db`, and
/// nod32cli's output.
fn scan(db: &Path, f: &Path) -> (Verdicts, Verdicts, String) {
    let theirs = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "-d"])
        .arg(db)
        .arg(f));
    let ours = run(Command::new(bin("nod32cli"))
        .args(["--format", "clamscan", "--no-summary", "-d"])
        .arg(db)
        .arg(f));
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
    let found: Vec<Vec<u8>> = nod32_tests::files_under(tmp.path())
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .filter(|b| {
            b.starts_with(b"MZ")
                && memchr::memmem::find(b, b"created by ClamAV").is_some()
        })
        .collect();
    assert_eq!(found.len(), 1, "clamscan left one rebuilt file");
    found.into_iter().next().unwrap()
}

#[test]
fn clamav_petite_sample_found_as_clamscan_finds_it() {
    let _ = sample();
    let dir = tempfile::tempdir().unwrap();
    let d = db(dir.path(), "clam.hdb", CLAM_EXE);
    let (t, o, text) = scan(&d, Path::new(SAMPLE));
    assert_eq!(t[0].1.as_deref(), Some("Local.ClamTest.HDB"));
    assert_eq!(t, o, "{text}");
}

/// The rebuilt file's MD5 and size as a hash signature: found in the
/// packed sample only if our rebuild is ClamAV's, byte for byte.
#[test]
fn rebuilt_file_is_clamavs() {
    let _ = sample();
    let dir = tempfile::tempdir().unwrap();
    let d = db(dir.path(), "clam.hdb", CLAM_EXE);
    let rebuilt = clamav_rebuilt(Path::new(SAMPLE), &d);
    assert_eq!(&rebuilt[0xd0 + 0x80 + 0x78..][..7], b".clam01");
    let hdb = db(
        dir.path(),
        "rebuilt.hdb",
        &format!("{}:{}:Local.Petite.Rebuilt\n", md5(&rebuilt), rebuilt.len()),
    );
    let (t, o, text) = scan(&hdb, Path::new(SAMPLE));
    assert_eq!(t[0].1.as_deref(), Some("Local.Petite.Rebuilt"));
    assert_eq!(t, o, "{text}");
}

fn put(d: &mut [u8], at: usize, v: u32) {
    d[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn damaged_petite_files_end_within_limits() {
    let pe = sample();
    let dir = tempfile::tempdir().unwrap();
    let d = db(dir.path(), "clam.hdb", CLAM_EXE);
    // The stub's table: 0x1b8 bytes into the last section (file offset
    // 0x400); its first record unpacks 0xffc bytes from RVA 0x1455
    // (file offset 0x855) to 0x4000.
    let table = 0x400 + 0x1b8;
    let mut bombs: Vec<(&str, Vec<u8>, bool)> = Vec::new();
    // A section of 2 GiB to unpack.
    let mut b = pe.clone();
    put(&mut b, table + 4, 0x7fff_ffff);
    bombs.push(("huge-section.exe", b, true));
    // A move of 0x7fffffff dwords.
    let mut b = pe.clone();
    put(&mut b, table + 16, 0xffff_ffff);
    bombs.push(("huge-move.exe", b, true));
    // Every bit set: length codes that never end.
    let mut b = pe.clone();
    b[0x855..0x855 + 0x300].fill(0xff);
    bombs.push(("ones.exe", b, true));
    // Noise for a stream: matches reaching outside the image, or
    // lengths past the section's end.
    let mut b = pe.clone();
    let mut x = 0x2545_f491u32;
    for byte in &mut b[0x856..0x856 + 0x300] {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *byte = (x >> 24) as u8;
    }
    bombs.push(("noise.exe", b, true));
    // The file cut inside the packed data.
    bombs.push(("cut.exe", pe[..0x900].to_vec(), true));
    // An image of 2 GiB (the third section moved up): refused by the
    // limits before anything is allocated.
    let mut b = pe.clone();
    let section = 0xf0 + 24 + 0xe0 + 2 * 40;
    put(&mut b, section + 12, 0x7fff_0000);
    bombs.push(("huge-image.exe", b, false));
    for (name, bytes, within) in bombs {
        let f = dir.path().join(name);
        std::fs::write(&f, bytes).unwrap();
        let start = Instant::now();
        let (t, o, text) = scan(&d, &f);
        assert!(start.elapsed() < Duration::from_secs(60), "{name}");
        assert_eq!(t[0].1, None, "{name}");
        if within {
            assert_eq!(t, o, "{name}: {text}");
        } else {
            // What the limits kept from being unpacked is reported,
            // where clamscan says OK.
            assert!(text.contains(": Not scanned ("), "{name}: {text}");
        }
    }
}
