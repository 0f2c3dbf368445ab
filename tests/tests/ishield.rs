//! InstallShield installers: ClamAV's four samples (clam.exe in a
//! cabinet or an MSI, kept inside the setup or beside it) and installers
//! of our own writer (`nod32_tests::ishield`, no InstallShield builder
//! being packaged in Debian) in the MSI-based form and the overlay form,
//! stored and in an `ISc(` cabinet, each holding a marker whose MD5 must
//! be found inside: nod32cli gives clamscan's verdict on each, clamscan
//! reading our writer's files independently. Bombs (gigabytes in a few
//! hundred kilobytes, a cabinet claiming billions of files) end within
//! the limits and the marker after them is still found.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nod32_tests::ishield::{cabinet, msi_form, overlay, pe_with_overlay};
use nod32_tests::{hex, parse_clamscan, peer, run};

const DIR: &str = "/usr/share/clamav-testfiles";

/// 20,000 bytes of pseudo-random text.
fn marker() -> Vec<u8> {
    let mut x: u32 = 4242;
    (0..20_000)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            b"installshield marker \n"[(x >> 16) as usize % 22]
        })
        .collect()
}

fn md5(d: &[u8]) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(d))
}

/// A database directory whose `.hdb` holds clam.exe and the marker.
fn database() -> tempfile::TempDir {
    let db = tempfile::tempdir().unwrap();
    let m = marker();
    std::fs::write(
        db.path().join("m.hdb"),
        format!(
            "aa15bcf478d165efd2065190eb473bcb:544:Local.ClamTest.HDB\n\
             {}:{}:Local.IShield.Marker\n",
            md5(&m),
            m.len()
        ),
    )
    .unwrap();
    db
}

/// clamscan's and nod32cli's output on `f`.
fn scan(db: &Path, f: &Path, opts: &[&str]) -> (String, String) {
    let theirs = run(Command::new(peer("clamscan", "clamav"))
        .args(opts)
        .args(["--no-summary", "-d"])
        .arg(db)
        .arg(f));
    let ours = run(Command::new(nod32_tests::bin("nod32cli"))
        .args(opts)
        .args(["--format", "clamscan", "--no-summary", "-d"])
        .arg(db)
        .arg(f));
    (
        String::from_utf8_lossy(&theirs.stdout).into_owned(),
        String::from_utf8_lossy(&ours.stdout).into_owned(),
    )
}

/// Asserts both find `name` in `f`.
fn both_find(db: &Path, f: &Path, opts: &[&str], name: &str) {
    let (theirs, ours) = scan(db, f, opts);
    let (t, o) = (parse_clamscan(&theirs), parse_clamscan(&ours));
    assert_eq!(
        t.first().and_then(|x| x.1.as_deref()),
        Some(name),
        "clamscan on {}: {theirs}",
        f.display()
    );
    assert_eq!(t, o, "{}: clamscan {theirs} nod32cli {ours}", f.display());
}

#[test]
fn clamav_installshield_samples_found_as_clamscan_finds_them() {
    let db = database();
    for name in [
        "clam_IScab_ext.exe",
        "clam_IScab_int.exe",
        "clam_ISmsi_ext.exe",
        "clam_ISmsi_int.exe",
    ] {
        let f = PathBuf::from(DIR).join(name);
        assert!(
            f.exists(),
            "{} missing: apt-get install clamav-testfiles",
            f.display()
        );
        both_find(db.path(), &f, &[], "Local.ClamTest.HDB");
    }
}

/// Our writer's installers, each with the marker only where the reader
/// must decode it.
fn installers(dir: &Path) -> Vec<PathBuf> {
    let m = marker();
    let filler = b"[Startup]\nProduct=nod32 test\n".repeat(20);
    let (hdr, cab) =
        cabinet(&[("readme.txt", &filler), ("marker.bin", &m)], 8192);
    let mut msi = b"\0padding before the MSI form\0".to_vec();
    msi.extend(msi_form(&[("0x0409.ini", &filler), ("marker.bin", &m)]));
    let files = [
        // The overlay form, the marker stored as it is.
        ("stored.exe", overlay(&[("setup.ini", &filler), ("marker.bin", &m)])),
        // The overlay form with a cabinet: the marker deflated in chunks.
        (
            "cabinet.exe",
            overlay(&[
                ("data1.cab", &cab),
                ("data1.hdr", &hdr),
                ("setup.ini", &filler),
            ]),
        ),
        // The MSI-based form: found by its type pattern inside the PE.
        ("msi.exe", msi),
    ];
    files
        .into_iter()
        .map(|(name, o)| {
            let f = dir.join(name);
            std::fs::write(&f, pe_with_overlay(&o)).unwrap();
            f
        })
        .collect()
}

#[test]
fn our_installers_found_as_clamscan_finds_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = database();
    for f in installers(dir.path()) {
        both_find(db.path(), &f, &[], "Local.IShield.Marker");
    }
}

/// Gigabytes of zeros before the marker, and a cabinet listing billions
/// of files: each ends fast and within the limits. In a cabinet the
/// file cut at MaxFileSize is scanned and the marker after it found; in
/// the MSI form ClamAV refuses the file it cut, and that ends its walk:
/// it says OK, and nod32cli says what it could not scan.
#[test]
fn installshield_bombs_end_within_limits() {
    let dir = tempfile::tempdir().unwrap();
    let db = database();
    let m = marker();
    let zeros = vec![0u8; 256 << 20];
    let mut bombs = Vec::new();
    let msi = msi_form(&[("zeros.bin", &zeros), ("marker.bin", &m)]);
    bombs.push(("msi-bomb.exe", msi, false));
    let (hdr, cab) =
        cabinet(&[("zeros.bin", &zeros), ("marker.bin", &m)], 32768);
    bombs.push((
        "cab-bomb.exe",
        overlay(&[("data1.hdr", &hdr), ("data1.cab", &cab)]),
        true,
    ));
    // The file count at the object table (0x200) + 40.
    let (mut hdr, cab) = cabinet(&[("marker.bin", &m)], 4096);
    hdr[0x228..0x22c].copy_from_slice(&u32::MAX.to_le_bytes());
    bombs.push((
        "cab-count.exe",
        overlay(&[("data1.hdr", &hdr), ("data1.cab", &cab)]),
        true,
    ));
    let opts = ["--max-filesize=10M"];
    for (name, o, found) in bombs {
        let f = dir.path().join(name);
        std::fs::write(&f, pe_with_overlay(&o)).unwrap();
        let start = Instant::now();
        if found {
            both_find(db.path(), &f, &opts, "Local.IShield.Marker");
        } else {
            let (theirs, ours) = scan(db.path(), &f, &opts);
            assert!(theirs.trim_end().ends_with(": OK"), "{name}: {theirs}");
            assert!(
                ours.trim_end().ends_with(": OK")
                    || ours.contains(
                        ": Not scanned (limit MaxFileSize exceeded)"
                    ),
                "{name}: {ours}"
            );
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{name}");
    }
}
