//! ASPack-packed executables: ClamAV's own `clam-aspack.exe` (clam.exe
//! packed by ASPack 2.12). nod32cli must find clam.exe by its MD5 in
//! the unpacked program, and the rebuilt file itself by its MD5, taken
//! from the file clamscan leaves with `--leave-temps` (so the rebuild is
//! byte for byte ClamAV's). Damaged copies of the sample (a claimed
//! 2 GiB image, a block list leaving the image, a corrupted stream,
//! truncated files, a block list naming one block again and again) end
//! quickly with clamscan's verdict.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nod32_tests::{bin, hex, parse_clamscan, peer, run};

const SAMPLE: &str = "/usr/share/clamav-testfiles/clam-aspack.exe";
const CLAM_HDB: &str =
    "aa15bcf478d165efd2065190eb473bcb:544:Local.ClamTest.HDB\n";

/// The sample's layout (ASPack 2.12): its entry point is 0x5001, its
/// stub section's data at 0xc00; the block list is 0x57c into it.
const BLOCK_LIST: usize = 0xc00 + 0x57c;
/// The second section's data: the first block's compressed bytes.
const FIRST_BLOCK: usize = 0x600;
/// The last section header (`.adata`, memory only).
const LAST_SECTION: usize = 0x288;

fn sample() -> Vec<u8> {
    std::fs::read(SAMPLE).expect("apt-get install clamav-testfiles")
}

fn md5(d: &[u8]) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(d))
}

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

/// clam.exe inside the unpacked sample, and the file ClamAV rebuilt,
/// both by their MD5: found by both scanners with the same name.
#[test]
fn clamav_aspack_sample() {
    let f = Path::new(SAMPLE);
    assert!(f.exists(), "apt-get install clamav-testfiles");
    let dir = tempfile::tempdir().unwrap();
    let clam = db(dir.path(), "clam.hdb", CLAM_HDB);
    let (t, o, text) = scan(&clam, f);
    assert_eq!(t[0].1.as_deref(), Some("Local.ClamTest.HDB"));
    assert_eq!(t, o, "{text}");

    let rebuilt = clamav_rebuilt(f, &clam);
    let hdb = db(
        dir.path(),
        "rebuilt.hdb",
        &format!("{}:{}:Local.Aspack.Rebuilt\n", md5(&rebuilt), rebuilt.len()),
    );
    let (t, o, text) = scan(&hdb, f);
    assert_eq!(t[0].1.as_deref(), Some("Local.Aspack.Rebuilt"));
    assert_eq!(t, o, "{text}");
}

fn put32(d: &mut [u8], at: usize, v: u32) {
    d[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn aspack_bombs_end_within_limits() {
    let dir = tempfile::tempdir().unwrap();
    let clam = db(dir.path(), "clam.hdb", CLAM_HDB);
    let good = sample();
    let mut bombs: Vec<(&str, Vec<u8>, bool)> = Vec::new();

    // The last section claims 2 GiB of memory: the image is refused by
    // the limits before anything is allocated.
    let mut huge = good.clone();
    put32(&mut huge, LAST_SECTION + 8, 0x7fff_0000);
    bombs.push(("huge.exe", huge, false));

    // The first block claims more than the image.
    let mut past = good.clone();
    put32(&mut past, BLOCK_LIST + 4, 0x7fff_ffff);
    bombs.push(("past.exe", past, true));

    // The first block's stream overwritten: codes that name symbols,
    // lengths and distances the stream cannot have.
    for (name, fill) in
        [("ones.exe", 0xffu8), ("zeros.exe", 0), ("aa.exe", 0xaa)]
    {
        let mut bad = good.clone();
        bad[FIRST_BLOCK + 0x10..FIRST_BLOCK + 0x80].fill(fill);
        bombs.push((name, bad, true));
    }

    // The same block listed again and again (decoded in place, it is no
    // stream the second time).
    let mut again = good.clone();
    for i in 0..40 {
        put32(&mut again, BLOCK_LIST + 8 * i, 0x4000);
        put32(&mut again, BLOCK_LIST + 8 * i + 4, 0x1000);
    }
    bombs.push(("again.exe", again, true));

    // Cut inside the stub's section, and before the stub's data.
    bombs.push(("cut1.exe", good[..0x1a00].to_vec(), true));
    bombs.push(("cut2.exe", good[..0x1300].to_vec(), true));
    bombs.push(("cut3.exe", good[..0xa80].to_vec(), true));

    for (name, bytes, within) in bombs {
        let f = dir.path().join(name);
        std::fs::write(&f, bytes).unwrap();
        let start = Instant::now();
        let (t, o, text) = scan(&clam, &f);
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
