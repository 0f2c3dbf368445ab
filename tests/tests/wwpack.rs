//! WWPack32-packed executables: ClamAV's own `clam-wwpack.exe` (clam.exe
//! packed by WWPack32). nod32cli must find what clamscan finds in it:
//! clam.exe inside the unpacked image, and the image itself by its MD5,
//! taken from the file clamscan leaves with `--leave-temps` (so the
//! unpacking and the header patches are byte for byte ClamAV's).
//! Damaged copies of the sample (claimed sizes of gigabytes, broken
//! tables and streams) end quickly with clamscan's verdict.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nod32_tests::{bin, hex, parse_clamscan, peer, run};

const SAMPLE: &str = "/usr/share/clamav-testfiles/clam-wwpack.exe";
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

/// The image ClamAV unpacked from `f`, as `--leave-temps` keeps it:
/// the one PE it left that is not clam.exe (WWPack's image keeps the
/// original headers, no ClamAV stub).
fn clamav_unpacked(f: &Path, db: &Path) -> Vec<u8> {
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
        .filter(|b| b.starts_with(b"MZ") && b.len() != 544)
        .collect();
    assert_eq!(found.len(), 1, "clamscan left one unpacked file");
    found.into_iter().next().unwrap()
}

#[test]
fn clamav_wwpack_sample_found_as_clamscan_finds_it() {
    let _ = sample();
    let dir = tempfile::tempdir().unwrap();
    let d = db(dir.path(), "clam.hdb", CLAM_EXE);
    let (t, o, text) = scan(&d, Path::new(SAMPLE));
    assert_eq!(t[0].1.as_deref(), Some("Local.ClamTest.HDB"));
    assert_eq!(t, o, "{text}");
}

/// The unpacked image's MD5 and size as a hash signature: found in the
/// packed sample only if our image is ClamAV's, byte for byte.
#[test]
fn unpacked_image_is_clamavs() {
    let pe = sample();
    let dir = tempfile::tempdir().unwrap();
    let d = db(dir.path(), "clam.hdb", CLAM_EXE);
    let image = clamav_unpacked(Path::new(SAMPLE), &d);
    // One section fewer than the packed file.
    let at = u32::from_le_bytes(pe[0x3c..0x40].try_into().unwrap()) as usize;
    assert_eq!(image[at + 6], pe[at + 6] - 1);
    let hdb = db(
        dir.path(),
        "image.hdb",
        &format!("{}:{}:Local.WWPack.Image\n", md5(&image), image.len()),
    );
    let (t, o, text) = scan(&hdb, Path::new(SAMPLE));
    assert_eq!(t[0].1.as_deref(), Some("Local.WWPack.Image"));
    assert_eq!(t, o, "{text}");
}

fn put(d: &mut [u8], at: usize, v: u32) {
    d[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn damaged_wwpack_files_end_within_limits() {
    let pe = sample();
    let dir = tempfile::tempdir().unwrap();
    let d = db(dir.path(), "clam.hdb", CLAM_EXE);
    // The packer's section is at file offset 0xc00, its block table
    // 0x2a1 bytes in; the one block is 0x63 dwords at RVA 0x4000 (the
    // fourth section, file offset 0xa00).
    let table = 0xc00 + 0x2a1;
    let mut bombs: Vec<(&str, Vec<u8>, bool)> = Vec::new();
    // A block of 0x3fffffff dwords: outside the image, the table ends
    // (both scan the patched image with nothing decompressed).
    let mut b = pe.clone();
    put(&mut b, table + 8, 0x3fff_ffff);
    bombs.push(("huge-block.exe", b, true));
    // Records that never end: each says another follows.
    let mut b = pe.clone();
    b[table + 16] = 1;
    bombs.push(("more.exe", b, true));
    // Noise for a stream: copies from before the image or past its
    // end, or running out of bits.
    let mut b = pe.clone();
    let mut x = 0x2545_f491u32;
    let start = 0xa00;
    for byte in &mut b[start..start + 0x63 * 4] {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *byte = (x >> 24) as u8;
    }
    bombs.push(("noise.exe", b, true));
    // No bits at all: every byte a literal, until the input runs out.
    let mut b = pe.clone();
    b[start..start + 0x63 * 4].fill(0);
    bombs.push(("zeros.exe", b, true));
    // The file cut inside the packer's section.
    bombs.push(("cut.exe", pe[..0xe00].to_vec(), true));
    // An image of 2 GiB (the fourth section's memory): refused by the
    // limits before anything is allocated.
    let mut b = pe.clone();
    let section = 0xc8 + 24 + 0xe0 + 3 * 40;
    put(&mut b, section + 8, 0x7fff_0000);
    bombs.push(("huge-image.exe", b, false));
    for (name, bytes, within) in bombs {
        let f = dir.path().join(name);
        std::fs::write(&f, bytes).unwrap();
        let start = Instant::now();
        let (t, o, text) = scan(&d, &f);
        assert!(start.elapsed() < Duration::from_secs(60), "{name}");
        if within {
            assert_eq!(t, o, "{name}: {text}");
        } else {
            assert_eq!(t[0].1, None, "{name}");
            // What the limits kept from being unpacked is reported,
            // where clamscan says OK.
            assert!(text.contains(": Not scanned ("), "{name}: {text}");
        }
    }
}
