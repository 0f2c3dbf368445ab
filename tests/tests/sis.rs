//! Symbian installers made by our own writer (`nod32_tests::sis`: Debian
//! packages no SIS builder) and ClamAV's own `clam.sis`: files stored and
//! zlib-compressed, one copy per language, behind option and condition
//! records. clamscan is the independent reader: on the same file and
//! database nod32cli gives its verdict and name. The member hashes
//! (clam.exe, a marker) match only what was extracted.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nod32_tests::sis::{File, Record, Sis, write, write9};
use nod32_tests::{bin, eicar, hex, parse_clamscan, peer, run};

/// 100,000 bytes of pseudo-random text.
fn marker() -> Vec<u8> {
    let mut x: u32 = 4242;
    (0..100_000)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            b"symbian marker qrstuvw\n"[(x >> 16) as usize % 23]
        })
        .collect()
}

fn md5(d: &[u8]) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(d))
}

fn clam_exe() -> Vec<u8> {
    peer("clamscan", "clamav");
    std::fs::read("/usr/share/clamav-testfiles/clam.exe")
        .expect("apt-get install clamav-testfiles")
}

/// Parsed clamscan-format lines: path and what was found.
type Lines = Vec<(String, Option<String>)>;

/// clamscan's and nod32cli's parsed lines on `f` with database `db`.
fn scan(
    db: &Path,
    f: &Path,
    theirs_opts: &[&str],
    ours_opts: &[&str],
) -> (Lines, Lines, String) {
    let theirs = run(Command::new(peer("clamscan", "clamav"))
        .args(theirs_opts)
        .args(["--no-summary", "-d"])
        .arg(db)
        .arg(f));
    let ours = run(Command::new(bin("nod32cli"))
        .args(ours_opts)
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

/// The member nod32cli names for what it found in `f`.
fn member_found(db: &Path, f: &Path) -> String {
    let out = run(Command::new(bin("nod32cli")).arg("-d").arg(db).arg(f));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let info = text.split("info=\"").nth(1).unwrap_or_default();
    info.split('"').next().unwrap_or_default().replace("\\\\", "\\")
}

/// A database directory holding one file.
fn db(file: &str, line: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join(file), line).unwrap();
    d
}

/// The installers of the test, written under `dir`.
fn installers(dir: &Path) -> Vec<(&'static str, PathBuf)> {
    let (exe, big) = (clam_exe(), marker());
    // One language, stored: EICAR then the marker.
    let mut stored = Sis::new(vec![
        Record::File(File::new("C:\\src\\eicar.com", vec![eicar()])),
        Record::File(File::new("C:\\src\\marker.txt", vec![big.clone()])),
    ]);
    stored.stored = true;
    // Three languages, compressed, behind options and conditions: the
    // English copy is harmless, the French one clam.exe, the German one
    // the marker; then EICAR in the `#else` branch.
    let mut langs = Sis::new(vec![
        Record::Options(vec!["Install help".into(), "Install docs".into()]),
        Record::If(b"(LANGUAGE)=(2)".to_vec()),
        Record::File(File::new(
            "C:\\src\\app.exe",
            vec![b"harmless english build".to_vec(), exe.clone(), big.clone()],
        )),
        Record::ElseIf(b"(LANGUAGE)=(3)".to_vec()),
        Record::Else,
        Record::File(File::new("C:\\src\\eicar.com", vec![eicar(); 3])),
        Record::EndIf,
    ]);
    langs.langs = vec![1, 2, 3];
    let mut out = vec![
        ("stored.sis", write(&stored)),
        ("langs.sis", write(&langs)),
        ("sis9.sis", write9(&big)),
    ];
    out.push((
        "clam.sis",
        std::fs::read("/usr/share/clamav-testfiles/clam.sis").unwrap(),
    ));
    out.into_iter()
        .map(|(n, b)| {
            let p = dir.join(n);
            std::fs::write(&p, b).unwrap();
            (n, p)
        })
        .collect()
}

#[test]
fn installers_found_as_clamscan_finds_them() {
    let dir = tempfile::tempdir().unwrap();
    let files = installers(dir.path());
    let (exe, big) = (clam_exe(), marker());
    let sigs = [
        ("e.ndb", format!("Local.Eicar.Test:0:*:{}\n", hex(&eicar()[..40]))),
        ("c.hdb", format!("{}:{}:Local.ClamTest.HDB\n", md5(&exe), exe.len())),
        ("m.hdb", format!("{}:{}:Local.Sis.Marker\n", md5(&big), big.len())),
        // Bytes deep in the marker: a compressed copy hides them from the
        // installer's own bytes.
        (
            "b.ndb",
            format!("Local.Sis.Body:0:*:{}\n", hex(&big[90_000..90_032])),
        ),
    ];
    // What each database finds in each installer, and in which member.
    let want = |file: &str, sig: &str| -> Option<(&str, &str)> {
        match (file, sig) {
            ("stored.sis", "e.ndb") => {
                Some(("Local.Eicar.Test", "C:\\src\\eicar.com"))
            }
            ("stored.sis", "m.hdb") => {
                Some(("Local.Sis.Marker", "C:\\src\\marker.txt"))
            }
            ("stored.sis", "b.ndb") => Some(("Local.Sis.Body", "")),
            ("langs.sis", "e.ndb") => {
                Some(("Local.Eicar.Test", "C:\\src\\eicar.com"))
            }
            ("langs.sis", "c.hdb") => {
                Some(("Local.ClamTest.HDB", "C:\\src\\app.exe"))
            }
            ("langs.sis", "m.hdb") => {
                Some(("Local.Sis.Marker", "C:\\src\\app.exe"))
            }
            ("langs.sis", "b.ndb") => {
                Some(("Local.Sis.Body", "C:\\src\\app.exe"))
            }
            // SIS 9.x: ClamAV extracts nothing, the stored marker is seen
            // in the installer's own bytes only.
            ("sis9.sis", "b.ndb") => Some(("Local.Sis.Body", "")),
            ("clam.sis", "c.hdb") => Some((
                "Local.ClamTest.HDB",
                "C:\\Users\\zolw\\AppData\\Local\\Temp\\MKS0\\clam.exe",
            )),
            _ => None,
        }
    };
    for (sigfile, line) in &sigs {
        let d = db(sigfile, line);
        for (name, path) in &files {
            let (t, o, raw) = scan(d.path(), path, &[], &[]);
            let expected = want(name, sigfile);
            assert_eq!(
                t[0].1.as_deref(),
                expected.map(|e| e.0),
                "clamscan: {name} {sigfile}"
            );
            assert_eq!(t, o, "{name} {sigfile}: {raw}");
            if let Some((_, member)) = expected
                && !member.is_empty()
            {
                assert_eq!(
                    member_found(d.path(), path),
                    member,
                    "{name} {sigfile}"
                );
            }
        }
    }
}

/// With archives off neither opens an installer: the member hashes find
/// nothing, the raw bytes still do.
#[test]
fn archives_off_leaves_installers_closed() {
    let dir = tempfile::tempdir().unwrap();
    let files = installers(dir.path());
    let exe = clam_exe();
    let d = db(
        "c.hdb",
        &format!("{}:{}:Local.ClamTest.HDB\n", md5(&exe), exe.len()),
    );
    for (name, path) in &files {
        let (t, o, raw) =
            scan(d.path(), path, &["--scan-archive=no"], &["--no-archives"]);
        assert_eq!(t[0].1, None, "{name}");
        assert_eq!(t, o, "{name}: {raw}");
    }
}

/// A file claiming gigabytes, a zlib bomb, and one bomb shared by 99
/// languages' copies: each ends fast, within the limits, with clamscan's
/// verdict (the payload after the bombs is still found).
#[test]
fn sis_bombs_end_within_limits() {
    let dir = tempfile::tempdir().unwrap();
    let d = db(
        "e.ndb",
        &format!("Local.Eicar.Test:0:*:{}\n", hex(&eicar()[..40])),
    );
    let eicar_last = |first: File, langs: usize| {
        let mut s = Sis::new(vec![
            Record::File(first),
            Record::File(File::new("C:\\e.com", vec![eicar(); langs])),
        ]);
        s.langs = vec![1; langs];
        write(&s)
    };
    // 40 MB of zeros: zlib makes about 40 KB of them.
    let zeros = vec![0u8; 40 << 20];
    let mut bombs = Vec::new();
    // Claims 4 GB.
    let mut f = File::new("C:\\claim", vec![b"small".repeat(100)]);
    f.claimed = Some(u32::MAX);
    bombs.push(("claim.sis", eicar_last(f, 1)));
    // Claims what it holds, past MaxFileSize.
    let mut f = File::new("C:\\zeros", vec![zeros.clone()]);
    f.claimed = Some(zeros.len() as u32);
    bombs.push(("zeros.sis", eicar_last(f, 1)));
    // Claims 5 MB, within the limits, and holds more.
    let mut f = File::new("C:\\zeros", vec![zeros.clone()]);
    f.claimed = Some(5 << 20);
    bombs.push(("overflow.sis", eicar_last(f, 1)));
    // 99 copies of the same bomb.
    let mut f = File::new("C:\\zeros", vec![zeros; 99]);
    f.claimed = Some(5 << 20);
    bombs.push(("shared.sis", eicar_last(f, 99)));
    for (name, bytes) in bombs {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let start = Instant::now();
        let limits = ["--max-filesize=10M", "--max-scansize=100M"];
        let (t, o, raw) = scan(d.path(), &p, &limits, &limits);
        assert!(start.elapsed() < Duration::from_secs(60), "{name}");
        // The 99 copies of one bomb are inflated once here, 99 times
        // by ClamAV; the verdict is the same.
        assert_eq!(t[0].1.as_deref(), Some("Local.Eicar.Test"), "{name}");
        assert_eq!(t, o, "{name}: {raw}");
    }
}
