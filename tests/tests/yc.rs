//! Executables encrypted by yoda's Crypter: ClamAV's own `clam-yc.exe`
//! (clam.exe packed by UPX, then encrypted by yC 1.3), and damaged
//! copies of it. nod32cli must find what clamscan finds: clam.exe (by
//! its MD5) inside, and the very file ClamAV's decryptor writes, by its
//! MD5, taken from the file clamscan leaves with `--leave-temps` (so the
//! decryption and the header patches are ClamAV's byte for byte).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nod32_tests::{bin, hex, parse_clamscan, peer, run};

const SAMPLE: &str = "/usr/share/clamav-testfiles/clam-yc.exe";
const CLAM_HDB: &str = "aa15bcf478d165efd2065190eb473bcb:544:ClamTest.HDB\n";

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

fn u16_at(d: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([d[at], d[at + 1]]))
}

fn u32_at(d: &[u8], at: usize) -> usize {
    u32::from_le_bytes(d[at..at + 4].try_into().unwrap()) as usize
}

/// The section table's bytes and its number of sections.
fn sections(d: &[u8]) -> Option<(&[u8], usize)> {
    let pe = u32_at(d, 0x3c);
    let n = u16_at(d, pe + 6);
    let table = pe + 24 + u16_at(d, pe + 20);
    Some((d.get(table..table + 40 * n)?, n))
}

/// Every file clamscan left with `--leave-temps` while scanning `f`.
fn clamav_temps(f: &Path, db: &Path) -> Vec<Vec<u8>> {
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
                found.push(std::fs::read(&p).unwrap());
            }
        }
    }
    found
}

/// The file ClamAV's yC decryptor wrote for `packed`: a PE whose section
/// table is the packed one's less the last entry.
fn clamav_decrypted(packed: &[u8], temps: &[Vec<u8>]) -> Vec<u8> {
    let (table, n) = sections(packed).unwrap();
    let found: Vec<&Vec<u8>> = temps
        .iter()
        .filter(|t| t.starts_with(b"MZ") && t.len() > 0x40)
        .filter(|t| {
            sections(t).is_some_and(|(s, m)| {
                m == n - 1 && s == &table[..40 * m] && t.len() < packed.len()
            })
        })
        .collect();
    assert_eq!(found.len(), 1, "clamscan left one decrypted file");
    found[0].clone()
}

/// clam.exe's MD5 alone finds it, through the decrypted file and the
/// UPX-packed program in it; so do the MD5s of what ClamAV wrote on the
/// way: the decrypted file, and the PE rebuilt from its UPX data.
#[test]
fn clamav_yc_sample() {
    let packed = sample();
    let dir = tempfile::tempdir().unwrap();
    let f = Path::new(SAMPLE);
    let clam = db(dir.path(), "clam.hdb", CLAM_HDB);
    let (t, o, text) = scan(&clam, f);
    assert_eq!(t[0].1.as_deref(), Some("ClamTest.HDB"));
    assert_eq!(t, o, "{text}");

    let temps = clamav_temps(f, &clam);
    let decrypted = clamav_decrypted(&packed, &temps);
    // The file minus yC's section data, as ClamAV cuts it.
    assert_eq!(decrypted.len(), 3072);
    let rebuilt: Vec<&Vec<u8>> = temps
        .iter()
        .filter(|t| {
            t.starts_with(b"MZ")
                && memchr::memmem::find(t, b"created by ClamAV").is_some()
        })
        .collect();
    assert_eq!(rebuilt.len(), 1, "clamscan rebuilt the UPX layer");
    for (name, file) in [("decrypted", &decrypted), ("rebuilt", rebuilt[0])] {
        let hdb = db(
            dir.path(),
            &format!("{name}.hdb"),
            &format!("{}:{}:Local.Yc.{name}\n", md5(file), file.len()),
        );
        let (t, o, text) = scan(&hdb, f);
        assert_eq!(t[0].1, Some(format!("Local.Yc.{name}")));
        assert_eq!(t, o, "{name}: {text}");
    }
}

/// Damaged copies of the sample: each scan ends quickly, and what is
/// found agrees with clamscan.
#[test]
fn yc_damaged_and_bombs_end_within_limits() {
    let packed = sample();
    let dir = tempfile::tempdir().unwrap();
    let clam = db(dir.path(), "clam.hdb", CLAM_HDB);
    let (table, n) = sections(&packed).unwrap();
    let pe = u32_at(&packed, 0x3c);
    let table_at = pe + 24 + u16_at(&packed, pe + 20);
    assert_eq!(&table[40 * (n - 1)..40 * (n - 1) + 2], b"yC");
    let yc = u32_at(&packed, table_at + 40 * (n - 1) + 20);
    let mut cases: Vec<(&str, Vec<u8>, Option<&str>)> = Vec::new();
    // The first stage's decryptor a jump to itself: ClamAV gives up
    // after 100 million jumps, and so do we.
    let mut d = packed.clone();
    d[yc + 0x93..yc + 0x95].copy_from_slice(&[0xeb, 0xfe]);
    cases.push(("loop.exe", d, None));
    // An instruction outside the decryptor's set.
    let mut d = packed.clone();
    d[yc + 0x93] = 0xcc;
    cases.push(("unknown.exe", d, None));
    // The first stage no longer in the file: not taken for yC.
    cases.push(("short.exe", packed[..yc + 0x900].to_vec(), None));
    // Cut inside yC's section past the first stage: still decrypted,
    // the section's size cut to the file.
    cases.push((
        "cut.exe",
        packed[..packed.len() - 0x10].to_vec(),
        Some("ClamTest.HDB"),
    ));
    // UPX1 claiming 4 GiB of data: cut to the file, so its decryption
    // runs over yC's own section too, the second stage's decryptor
    // behind it.
    let mut d = packed.clone();
    d[table_at + 40 + 16..table_at + 40 + 20]
        .copy_from_slice(&0xffff_f000u32.to_le_bytes());
    cases.push(("huge-raw.exe", d, Some("ClamTest.HDB")));
    // The stored entry point changed (it is in the first stage's
    // data): the decrypted file's UPX stub is no longer where its
    // header says, and UPX's unpacker does not take it.
    let mut d = packed.clone();
    d[yc + 0xa0f..yc + 0xa13].copy_from_slice(&0xfff0_0000u32.to_le_bytes());
    cases.push(("far-oep.exe", d, None));
    for (name, bytes, expect) in cases {
        let f = dir.path().join(name);
        std::fs::write(&f, bytes).unwrap();
        let start = Instant::now();
        let (t, o, text) = scan(&clam, &f);
        assert!(start.elapsed() < Duration::from_secs(60), "{name}");
        assert_eq!(t[0].1.as_deref(), expect, "{name}");
        assert_eq!(t, o, "{name}: {text}");
    }
}
