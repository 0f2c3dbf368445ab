//! PESpin-protected executables: ClamAV's own `clam-pespin.exe`, and
//! files in PESpin 1.1's layout written by `tests/src/pespin.rs` (every
//! layer, compressed sections and resources). clamscan unpacking our
//! files is the check that they are PESpin's layout; nod32cli must find
//! what clamscan finds in the unpacked sections (a marker) and the
//! rebuilt file itself by its MD5, taken from the file clamscan leaves
//! with `--leave-temps` (so the rebuild is byte for byte ClamAV's).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nod32_tests::pespin::{Part, Spin, Stream, compress, pack};
use nod32_tests::{bin, hex, parse_clamscan, peer, run};

const MARKER: &str = "NOD32-PESPIN-MARKER-2b7e15c4-9a0d-4f3e-b8c1-spun-data";
const SAMPLE: &str = "/usr/share/clamav-testfiles/clam-pespin.exe";

fn md5(d: &[u8]) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(d))
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

/// Both find `name` in `f` with `db`, by the same name.
fn both_find(db: &Path, f: &Path, name: &str) {
    let (t, o, text) = scan(db, f);
    assert_eq!(t[0].1.as_deref(), Some(name), "clamscan on {f:?}");
    assert_eq!(t, o, "{f:?}: {text}");
}

/// The rebuilt file clamscan leaves, as an MD5 signature both find in
/// the packed file.
fn rebuilt_alike(dir: &Path, f: &Path) {
    let nothing =
        db(dir, "nothing.hdb", &format!("{}:1:Local.None\n", md5(b"x")));
    let rebuilt = clamav_rebuilt(f, &nothing);
    let hdb = db(
        dir,
        "rebuilt.hdb",
        &format!("{}:{}:Local.Spin.Rebuilt\n", md5(&rebuilt), rebuilt.len()),
    );
    both_find(&hdb, f, "Local.Spin.Rebuilt");
}

fn marker_db(dir: &Path) -> PathBuf {
    db(
        dir,
        "marker.ndb",
        &format!("Local.Spin.Marker:0:*:{}\n", hex(MARKER.as_bytes())),
    )
}

/// ClamAV's sample: clam.exe inside the rebuilt file by its MD5 alone,
/// and the rebuilt file itself (6656 bytes).
#[test]
fn clamav_pespin_sample() {
    let f = Path::new(SAMPLE);
    assert!(f.exists(), "apt-get install clamav-testfiles");
    let dir = tempfile::tempdir().unwrap();
    let clam = db(
        dir.path(),
        "clam.hdb",
        "aa15bcf478d165efd2065190eb473bcb:544:Local.ClamTest.HDB\n",
    );
    both_find(&clam, f, "Local.ClamTest.HDB");
    rebuilt_alike(dir.path(), f);
    let known = db(
        dir.path(),
        "known.hdb",
        "ea58113cd88ec4715020f5189529d35b:6656:Local.Spin.Known\n",
    );
    both_find(&known, f, "Local.Spin.Known");
}

/// A program section: code-like bytes, the marker, more bytes.
fn program() -> Vec<u8> {
    let mut d: Vec<u8> = (0..0x300u32).map(|i| (i * 7 + 3) as u8).collect();
    d.extend_from_slice(MARKER.as_bytes());
    d.extend((0..0x200u32).map(|i| (i * 13) as u8));
    d
}

/// Our files, one per way PESpin stores a section: plain, compressed,
/// each with and without the XOR and polymorphic layers, and
/// compressed resources.
#[test]
fn written_layouts_found_as_clamscan_finds_them() {
    let dir = tempfile::tempdir().unwrap();
    let marker = marker_db(dir.path());
    let mut cases = Vec::new();
    for (xor, poly) in
        [(false, false), (true, false), (false, true), (true, true)]
    {
        // Plain: the marker must not be in the file as it is.
        cases.push((
            format!("plain-{xor}-{poly}"),
            Spin {
                parts: vec![
                    Part { bytes: program(), vsz: 0x1000, compressed: false },
                    Part {
                        bytes: vec![0xcc; 0x200],
                        vsz: 0x1000,
                        compressed: false,
                    },
                ],
                xor,
                poly,
                resource: None,
            },
            xor || poly,
        ));
        cases.push((
            format!("packed-{xor}-{poly}"),
            Spin {
                parts: vec![
                    Part {
                        bytes: vec![0xcc; 0x200],
                        vsz: 0x1000,
                        compressed: false,
                    },
                    Part {
                        bytes: compress(&program()),
                        vsz: 0x2000,
                        compressed: true,
                    },
                ],
                xor,
                poly,
                resource: None,
            },
            true,
        ));
    }
    // Resources: 0x100 plain bytes, then a stream.
    let mut res = vec![0x11u8; 0x100];
    res.extend(compress(&program()));
    cases.push((
        "resource".into(),
        Spin {
            parts: vec![
                Part {
                    bytes: vec![0xcc; 0x200],
                    vsz: 0x1000,
                    compressed: false,
                },
                Part { bytes: res, vsz: 0x2000, compressed: false },
            ],
            xor: true,
            poly: true,
            resource: Some((1, 0x100)),
        },
        true,
    ));
    for (name, spin, hidden) in cases {
        let packed = pack(&spin);
        if hidden {
            assert!(
                memchr::memmem::find(&packed, MARKER.as_bytes()).is_none(),
                "{name}: the marker is hidden"
            );
        }
        let f = dir.path().join(format!("{name}.exe"));
        std::fs::write(&f, &packed).unwrap();
        both_find(&marker, &f, "Local.Spin.Marker");
        rebuilt_alike(dir.path(), &f);
    }
}

/// A damaged file: the same verdict as clamscan, quickly.
fn alike_quickly(db: &Path, f: &Path) -> String {
    let start = Instant::now();
    let (t, o, text) = scan(db, f);
    assert!(start.elapsed() < Duration::from_secs(60), "{f:?}");
    assert_eq!(t, o, "{f:?}: {text}");
    text
}

/// Sizes of gigabytes, streams that run past their end or refer before
/// their start, and truncated files, made from the sample and from our
/// own files.
#[test]
fn pespin_bombs_end_within_limits() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let marker = marker_db(dir);
    let clam = db(
        dir,
        "clam.hdb",
        "aa15bcf478d165efd2065190eb473bcb:544:Local.ClamTest.HDB\n",
    );
    let sample =
        std::fs::read(SAMPLE).expect("apt-get install clamav-testfiles");
    let write = |name: &str, d: &[u8]| {
        let f = dir.join(name);
        std::fs::write(&f, d).unwrap();
        f
    };

    // The sample's compressed section (the fourth) claims 1.75 GiB:
    // ClamAV gives up on the size, which nod32cli reports as a limit.
    let mut huge = sample.clone();
    let h = 0xc8 + 24 + 0xe0 + 3 * 40;
    huge[h + 8..h + 12].copy_from_slice(&0x7000_0000u32.to_le_bytes());
    let f = write("huge.exe", &huge);
    let start = Instant::now();
    let (t, o, text) = scan(&clam, &f);
    assert!(start.elapsed() < Duration::from_secs(60));
    assert_eq!(t[0].1, None);
    // Reported as not scanned, where clamscan says OK.
    assert!(o.iter().all(|v| v.1.is_none()), "{text}");
    assert!(text.contains(": Not scanned ("), "{text}");

    // Truncated samples, and one with its compressed bytes scrambled.
    for cut in [0x3000, 0x3c00, 0x3fff] {
        let f = write(&format!("cut{cut:x}.exe"), &sample[..cut]);
        alike_quickly(&clam, &f);
    }
    let mut scrambled = sample.clone();
    for b in &mut scrambled[0xa10..0xb00] {
        *b ^= 0x5a;
    }
    alike_quickly(&clam, &write("scrambled.exe", &scrambled));

    let one = |stream: Vec<u8>, vsz: u32| Spin {
        parts: vec![
            Part { bytes: vec![0xcc; 0x200], vsz: 0x1000, compressed: false },
            Part { bytes: stream, vsz, compressed: true },
        ],
        xor: true,
        poly: true,
        resource: None,
    };
    // 15 MiB of runs of one byte, 1 MiB a match, then the marker: found
    // by both after the whole run.
    let mut s = Stream::new(b'A');
    s.short(1, 2);
    for _ in 0..15 {
        s.literal(b'A');
        s.repeat(1 << 20);
    }
    s.literals(MARKER.as_bytes());
    let f = write("runs.exe", &pack(&one(s.end(), 16 << 20)));
    let start = Instant::now();
    both_find(&marker, &f, "Local.Spin.Marker");
    assert!(start.elapsed() < Duration::from_secs(60));

    // The same runs past the section's memory: nothing decoded.
    let mut s = Stream::new(b'A');
    s.short(1, 2);
    for _ in 0..40 {
        s.literal(b'A');
        s.repeat(1 << 20);
    }
    s.literals(MARKER.as_bytes());
    let text = alike_quickly(
        &marker,
        &write("overrun.exe", &pack(&one(s.end(), 16 << 20))),
    );
    assert!(!text.contains("FOUND"), "{text}");

    // A match before the start of the output, and a stream with no end.
    let mut s = Stream::new(b'A');
    s.literals(MARKER.as_bytes());
    s.short(100, 3);
    let f = write("before.exe", &pack(&one(s.end(), 0x2000)));
    let text = alike_quickly(&marker, &f);
    assert!(!text.contains("FOUND"), "{text}");
    let mut s = Stream::new(b'A');
    s.literals(MARKER.as_bytes());
    let f = write("unended.exe", &pack(&one(s.unended(), 0x2000)));
    let text = alike_quickly(&marker, &f);
    assert!(!text.contains("FOUND"), "{text}");
}
