//! Compiled HTML Help files made by Free Pascal's `chmcmd` (stored
//! system files, LZX-compressed content in 64 KiB reset intervals)
//! holding EICAR, clam.exe and a 300 KB marker that spans several LZX
//! frames and resets: nod32cli finds each where clamscan does, with the
//! same name, and names the member found.
//!
//! `chmcmd` repeats the first ITSF GUID where the second belongs;
//! libmspack, and so clamscan, refuses such a file, and so do we (the
//! file is reported not scanned, where clamscan says OK). With the one
//! byte of the second GUID set right, the file is what clamscan reads.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nod32_tests::{bin, eicar, hex, parse_clamscan, peer, run};

/// Offset of the byte that tells the two ITSF GUIDs apart.
const GUID2: usize = 0x28;

/// A marker of 300,000 bytes of pseudo-random text: about ten frames.
fn marker() -> Vec<u8> {
    let mut x: u32 = 12345;
    (0..300_000)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            b"abcdefghij klmnop\n"[(x >> 16) as usize % 18]
        })
        .collect()
}

fn md5(d: &[u8]) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(d))
}

/// chmcmd's file and the same with the second GUID set right.
fn made_by_chmcmd(dir: &Path) -> (PathBuf, PathBuf) {
    let src = dir.join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("index.html"), "<html><body>help</body></html>")
        .unwrap();
    std::fs::write(src.join("big.txt"), marker()).unwrap();
    std::fs::write(src.join("eicar.com"), eicar()).unwrap();
    peer("clamscan", "clamav");
    std::fs::copy(
        "/usr/share/clamav-testfiles/clam.exe",
        src.join("clam.exe"),
    )
    .expect("apt-get install clamav-testfiles");
    std::fs::write(
        src.join("p.hhp"),
        "[OPTIONS]\nCompiled file=raw.chm\nDefault topic=index.html\n\
         Title=t\n\n[FILES]\nindex.html\nbig.txt\neicar.com\nclam.exe\n",
    )
    .unwrap();
    let out = run(Command::new(peer("chmcmd", "fp-utils"))
        .arg("p.hhp")
        .current_dir(&src));
    assert!(out.status.success(), "chmcmd: {out:?}");
    let raw = dir.join("raw.chm");
    std::fs::rename(src.join("raw.chm"), &raw).unwrap();
    let mut bytes = std::fs::read(&raw).unwrap();
    assert_eq!(bytes[GUID2], 0x10, "chmcmd repeats the first GUID");
    assert_eq!(bytes[0x18..GUID2], bytes[GUID2..GUID2 + 16]);
    bytes[GUID2] = 0x11;
    let fixed = dir.join("fixed.chm");
    std::fs::write(&fixed, bytes).unwrap();
    (raw, fixed)
}

/// `7z l`'s member names.
fn listed(f: &Path) -> Vec<String> {
    let out = run(Command::new(peer("7z", "p7zip-full")).arg("l").arg(f));
    assert!(out.status.success(), "7z l {f:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut names: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("                    ....."))
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .collect();
    names.sort();
    names
}

/// clamscan's and nod32cli's output lines on `f` with database `db`.
fn scan(db: &Path, f: &Path, opts: &[&str]) -> (String, String) {
    let theirs = run(Command::new(peer("clamscan", "clamav"))
        .args(opts)
        .args(["--no-summary", "-d"])
        .arg(db)
        .arg(f));
    let ours = run(Command::new(bin("nod32cli"))
        .args(opts)
        .args(["--format", "clamscan", "--no-summary", "-d"])
        .arg(db)
        .arg(f));
    (
        String::from_utf8_lossy(&theirs.stdout).into_owned(),
        String::from_utf8_lossy(&ours.stdout).into_owned(),
    )
}

/// The member nod32cli names for what it found in `f`.
fn member_found(db: &Path, f: &Path) -> String {
    let out = run(Command::new(bin("nod32cli")).arg("-d").arg(db).arg(f));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let info = text.split("info=\"").nth(1).unwrap_or_default();
    info.split('"').next().unwrap_or_default().to_string()
}

#[test]
fn chmcmd_help_files_found_as_clamscan_finds_them() {
    let dir = tempfile::tempdir().unwrap();
    let (raw, fixed) = made_by_chmcmd(dir.path());
    // The GUID is the only difference 7z could see.
    assert_eq!(listed(&raw), listed(&fixed));
    assert!(listed(&fixed).contains(&"big.txt".to_string()));
    let big = marker();
    let cases = [
        (
            "e.ndb",
            format!("Local.Eicar.Test:0:*:{}\n", hex(&eicar()[..40])),
            "Local.Eicar.Test",
            "/eicar.com",
        ),
        (
            "c.hdb",
            "aa15bcf478d165efd2065190eb473bcb:544:Local.ClamTest.HDB\n"
                .to_string(),
            "Local.ClamTest.HDB",
            "/clam.exe",
        ),
        (
            "m.hdb",
            format!("{}:{}:Local.Chm.Marker\n", md5(&big), big.len()),
            "Local.Chm.Marker",
            "/big.txt",
        ),
        // Bytes deep in the marker, past several resets.
        (
            "b.ndb",
            format!("Local.Chm.Body:0:*:{}\n", hex(&big[250_000..250_032])),
            "Local.Chm.Body",
            "/big.txt",
        ),
    ];
    for (file, sig, name, member) in cases {
        let db = tempfile::tempdir().unwrap();
        std::fs::write(db.path().join(file), sig).unwrap();
        let (theirs, ours) = scan(db.path(), &fixed, &[]);
        let (t, o) = (parse_clamscan(&theirs), parse_clamscan(&ours));
        assert_eq!(t.first().and_then(|x| x.1.as_deref()), Some(name));
        assert_eq!(t, o, "{name}");
        assert_eq!(member_found(db.path(), &fixed), member, "{name}");
        // chmcmd's own file: refused by both, reported by us.
        let (theirs, ours) = scan(db.path(), &raw, &[]);
        assert!(theirs.trim_end().ends_with(": OK"), "{theirs}");
        assert!(
            ours.trim_end().ends_with(": Not scanned (malformed CHM) ERROR"),
            "{ours}"
        );
    }
}

/// Finds `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).unwrap()
}

/// Claims of gigabytes and a directory pointing at itself end fast and
/// within the limits.
#[test]
fn chm_bombs_end_within_limits() {
    let dir = tempfile::tempdir().unwrap();
    let (_, fixed) = made_by_chmcmd(dir.path());
    let good = std::fs::read(&fixed).unwrap();
    let db = tempfile::tempdir().unwrap();
    let big = marker();
    std::fs::write(
        db.path().join("m.hdb"),
        format!("{}:{}:Local.Chm.Marker\n", md5(&big), big.len()),
    )
    .unwrap();
    // The reset table: entry size 8, table at 0x28, frames of 32 KiB.
    let rt = find(&good, &[8, 0, 0, 0, 0x28, 0, 0, 0]) - 8;
    assert_eq!(good[rt + 0x20..rt + 0x24], [0, 0x80, 0, 0]);
    let mut bombs = Vec::new();
    // The section claims a terabyte.
    let mut b = good.clone();
    b[rt + 0x10..rt + 0x18].copy_from_slice(&(1u64 << 40).to_le_bytes());
    bombs.push(("huge-section.chm", b));
    // Every frame's offset is the first frame's.
    let mut b = good.clone();
    let n = u32::from_le_bytes(good[rt + 4..rt + 8].try_into().unwrap());
    for i in 0..n as usize {
        b[rt + 0x28 + 8 * i..rt + 0x30 + 8 * i].fill(0);
    }
    bombs.push(("same-frame.chm", b));
    // The directory chunk's next pointer is itself, and the header
    // claims 100,000 chunks.
    let mut b = good.clone();
    let pmgl = find(&good, b"PMGL");
    b[pmgl + 0x10..pmgl + 0x14].copy_from_slice(&0u32.to_le_bytes());
    let itsp = find(&good, b"ITSP");
    b[itsp + 0x2C..itsp + 0x30].copy_from_slice(&100_000u32.to_le_bytes());
    b[itsp + 0x24..itsp + 0x28].copy_from_slice(&99_999u32.to_le_bytes());
    bombs.push(("chunk-loop.chm", b));
    for (name, bytes) in bombs {
        let f = dir.path().join(name);
        std::fs::write(&f, bytes).unwrap();
        let start = Instant::now();
        let (theirs, ours) = scan(db.path(), &f, &["--max-filesize=1M"]);
        assert!(start.elapsed() < Duration::from_secs(30), "{name}");
        let (t, o) = (parse_clamscan(&theirs), parse_clamscan(&ours));
        if name == "same-frame.chm" {
            // A known difference: libmspack takes only the first frame's
            // offset from the table and reads on as one bitstream; lzxd
            // is given each frame from the table's own offset, so a table
            // that lies about later frames yields other bytes here.
            assert_eq!(t[0].1.as_deref(), Some("Local.Chm.Marker"));
            assert_eq!(o[0].1, None, "{ours}");
        } else if o.is_empty() {
            // What could not be read is reported, where clamscan says OK.
            assert!(theirs.trim_end().ends_with(": OK"), "{name}: {theirs}");
            assert!(ours.contains(": Not scanned ("), "{name}: {ours}");
        } else {
            assert_eq!(t, o, "{name}");
        }
    }
}
