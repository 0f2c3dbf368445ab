//! FSG-packed executables. Debian's `clam-fsg.exe` is no FSG file
//! (clamscan finds clam.exe in it as an embedded executable, unpacking
//! nothing), so the unpacker is shown on files packed at test time by
//! `tests/src/fsg.rs` (FSG 2.0's layout): clamscan unpacking them is the
//! check that they are FSG's layout; nod32cli must find clam.exe inside
//! and the file ClamAV rebuilt, by its MD5 from `--leave-temps`.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nod32_tests::fsg::{pack, pack_133, pack_stream, stream};
use nod32_tests::{bin, hex, parse_clamscan, peer, run};

const CLAM_HDB: &str = "aa15bcf478d165efd2065190eb473bcb:544:ClamTest.HDB\n";

fn md5(d: &[u8]) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(d))
}

/// Verdicts as `parse_clamscan` reads them.
type Verdicts = Vec<(String, Option<String>)>;

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

/// clam.exe, and clam.exe followed by runs and text: what is packed.
fn payload() -> Vec<u8> {
    let clam = std::fs::read("/usr/share/clamav-testfiles/clam.exe")
        .expect("apt-get install clamav-testfiles");
    let mut p = clam.clone();
    p.extend_from_slice(&[0u8; 300]);
    p.extend_from_slice(MARKER);
    p
}

/// The files clamscan rebuilt (its DOS stub's text) while scanning `f`.
fn clamav_rebuilt(f: &Path, db: &Path) -> Vec<Vec<u8>> {
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
    found
}

/// The text planted after clam.exe in the payload.
const MARKER: &[u8] = b"NOD32 FSG test payload, packed at test time.";

#[test]
fn fsg_packed_payload_found_as_clamscan_finds_it() {
    let dir = tempfile::tempdir().unwrap();
    let payload = payload();
    let (packed, _) = pack(&payload, 0x1000);
    for part in [&payload[..64], MARKER] {
        assert!(memchr::memmem::find(&packed, part).is_none(), "packed");
    }
    let f = dir.path().join("packed.exe");
    std::fs::write(&f, &packed).unwrap();
    // The marker, found only in the unpacked image. clam.exe's hash is
    // not found by either: the rebuilt image holds clam.exe followed by
    // the rest of the payload, so the executable embedded in it at 0x200
    // is not clam.exe's 544 bytes.
    let clam = db(dir.path(), "clam.hdb", CLAM_HDB);
    let ndb = db(
        dir.path(),
        "marker.ndb",
        &format!("Local.Fsg.Marker:0:*:{}\n", hex(MARKER)),
    );
    for d in [&clam, &ndb] {
        let (t, o, text) = scan(d, &f);
        assert_eq!(t, o, "{text}");
    }
    let (t, _, _) = scan(&ndb, &f);
    assert_eq!(t[0].1.as_deref(), Some("Local.Fsg.Marker"));

    // A signature that matches nothing, so that clamscan goes on to
    // write the rebuilt file.
    let none = db(
        dir.path(),
        "none.hdb",
        "00000000000000000000000000000000:1:Local.None\n",
    );
    let rebuilt = clamav_rebuilt(&f, &none);
    assert_eq!(rebuilt.len(), 1, "clamscan rebuilt one file");
    let hdb = db(
        dir.path(),
        "rebuilt.hdb",
        &format!(
            "{}:{}:Local.Fsg.Rebuilt\n",
            md5(&rebuilt[0]),
            rebuilt[0].len()
        ),
    );
    let (t, o, text) = scan(&hdb, &f);
    assert_eq!(t[0].1.as_deref(), Some("Local.Fsg.Rebuilt"));
    assert_eq!(t, o, "{text}");
}

/// Debian's sample, found through the embedded-type pass by both.
#[test]
fn clamav_fsg_sample() {
    let dir = tempfile::tempdir().unwrap();
    let clam = db(dir.path(), "clam.hdb", CLAM_HDB);
    let f = Path::new("/usr/share/clamav-testfiles/clam-fsg.exe");
    let (t, o, text) = scan(&clam, f);
    assert_eq!(t[0].1.as_deref(), Some("ClamTest.HDB"));
    assert_eq!(t, o, "{text}");
}

#[test]
fn fsg_bombs_end_within_limits() {
    let dir = tempfile::tempdir().unwrap();
    let clam = db(dir.path(), "clam.hdb", CLAM_HDB);
    let payload = payload();
    let mut cases: Vec<(&str, Vec<u8>, bool)> = Vec::new();
    // The empty section claiming 2 GiB: refused by the limits before
    // anything is allocated (nod32cli says what it left unscanned).
    let (mut f, l) = pack(&payload, 0x1000);
    f[l.empty_header + 8..l.empty_header + 12]
        .copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    cases.push(("huge.exe", f, false));
    // A stream cut before its end mark.
    let s = stream(&payload);
    let (f, _) = pack_stream(&s[..s.len() / 2], payload.len(), 0x1000);
    cases.push(("cut.exe", f, true));
    // A back-reference before the start of the output.
    let mut s = vec![b'M', 0b1101_1000, 0xfe];
    s.extend_from_slice(&[0; 64]);
    let (f, _) = pack_stream(&s, payload.len(), 0x1000);
    cases.push(("backref.exe", f, true));
    // 4 MiB of zeros as runs, into an image of 2 MiB: more output than
    // room.
    let s = stream(&vec![0u8; 4 << 20]);
    let (f, _) = pack_stream(&s, 1 << 20, 0x1000);
    cases.push(("runs.exe", f, true));
    for (name, bytes, within) in cases {
        let f = dir.path().join(name);
        std::fs::write(&f, bytes).unwrap();
        let start = Instant::now();
        let (t, o, text) = scan(&clam, &f);
        assert!(start.elapsed() < Duration::from_secs(60), "{name}");
        assert_eq!(t[0].1, None, "{name}");
        if within {
            assert_eq!(t, o, "{name}: {text}");
        } else {
            assert!(text.contains(": Not scanned ("), "{name}: {text}");
        }
    }
}

/// FSG 1.33: three sections, each its own stream, listed out of address
/// order, so that the rebuild sorts them as ClamAV does.
#[test]
fn fsg_133_sections_rebuilt_as_clamscan_rebuilds_them() {
    let dir = tempfile::tempdir().unwrap();
    let payload = payload();
    let third = b"the third section, at 0x3000\n".repeat(40);
    let second = b"the second section, at 0x2000\n".repeat(40);
    let packed = pack_133(
        &[(0x1000, &payload), (0x3000, &third), (0x2000, &second)],
        0x1000,
    );
    assert!(memchr::memmem::find(&packed, MARKER).is_none(), "packed");
    let f = dir.path().join("packed133.exe");
    std::fs::write(&f, &packed).unwrap();
    let ndb = db(
        dir.path(),
        "marker.ndb",
        &format!("Local.Fsg.Marker:0:*:{}\n", hex(MARKER)),
    );
    let (t, o, text) = scan(&ndb, &f);
    assert_eq!(t[0].1.as_deref(), Some("Local.Fsg.Marker"));
    assert_eq!(t, o, "{text}");
    let none = db(
        dir.path(),
        "none.hdb",
        "00000000000000000000000000000000:1:Local.None\n",
    );
    let rebuilt = clamav_rebuilt(&f, &none);
    assert_eq!(rebuilt.len(), 1, "clamscan rebuilt one file");
    // Three sections after the headers, in address order.
    assert_eq!(rebuilt[0][0xd6], 3);
    let hdb = db(
        dir.path(),
        "rebuilt.hdb",
        &format!(
            "{}:{}:Local.Fsg.Rebuilt\n",
            md5(&rebuilt[0]),
            rebuilt[0].len()
        ),
    );
    let (t, o, text) = scan(&hdb, &f);
    assert_eq!(t[0].1.as_deref(), Some("Local.Fsg.Rebuilt"));
    assert_eq!(t, o, "{text}");
}
