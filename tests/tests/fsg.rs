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

use nod32_tests::fsg::{pack, pack_131, pack_133, pack_stream, stream};
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

/// What a bomb must end as.
enum Ends {
    /// nod32cli reports what the limits left unscanned.
    AtLimit,
    /// Both scanners give the same verdict, and it is clean: nothing,
    /// not even part of the image, was handed on.
    Clean,
    /// Both give the same verdict.
    AsClamscan,
}

#[test]
fn fsg_bombs_end_within_limits() {
    let dir = tempfile::tempdir().unwrap();
    // The marker: found if a scanner handed on a (partial) image.
    let marker = db(
        dir.path(),
        "marker.ndb",
        &format!("Local.Fsg.Marker:0:*:{}\n", hex(MARKER)),
    );
    let payload = payload();
    let marked = [MARKER, &payload[..]].concat();
    let mut cases: Vec<(&str, Vec<u8>, Ends)> = Vec::new();
    // The empty section claiming 2 GiB: refused by the limits before
    // anything is allocated (nod32cli says what it left unscanned).
    let (mut f, l) = pack(&payload, 0x1000);
    f[l.empty_header + 8..l.empty_header + 12]
        .copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    cases.push(("huge.exe", f, Ends::AtLimit));
    // A stream cut in half: the decoder reads on into the stub's data
    // after it, as ClamAV's does, until that happens to end it, and
    // ClamAV scans what came out (the marker included).
    let s = stream(&marked);
    let (f, _) = pack_stream(&s[..s.len() / 2], payload.len(), 0x1000);
    cases.push(("cut.exe", f, Ends::AsClamscan));
    // A back-reference before the start of the output.
    let mut s = vec![b'M', 0b1101_1000, 0xfe];
    s.extend_from_slice(&[0; 64]);
    let (f, _) = pack_stream(&s, payload.len(), 0x1000);
    cases.push(("backref.exe", f, Ends::Clean));
    // The marker and 4 MiB of zeros as runs, into an image of 2 MiB:
    // more output than room, so nothing is scanned.
    let mut big = MARKER.to_vec();
    big.resize(4 << 20, 0);
    let (f, _) = pack_stream(&stream(&big), 1 << 20, 0x1000);
    cases.push(("runs.exe", f, Ends::Clean));
    for (name, bytes, ends) in cases {
        let f = dir.path().join(name);
        std::fs::write(&f, bytes).unwrap();
        let start = Instant::now();
        let (t, o, text) = scan(&marker, &f);
        assert!(start.elapsed() < Duration::from_secs(60), "{name}");
        match ends {
            Ends::AtLimit => {
                assert_eq!(t[0].1, None, "{name}");
                assert!(text.contains(": Not scanned ("), "{name}: {text}");
            }
            Ends::Clean => {
                assert_eq!(t[0].1, None, "{name}");
                assert_eq!(t, o, "{name}: {text}");
            }
            Ends::AsClamscan => assert_eq!(t, o, "{name}: {text}"),
        }
    }
}

/// The marker found by both scanners, and the file clamscan rebuilt
/// (from `--leave-temps`) found by its MD5 by nod32cli in the packed
/// file: the rebuilt PE is byte for byte ClamAV's. Returns it.
fn same_rebuild(name: &str, packed: &[u8]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    assert!(memchr::memmem::find(packed, MARKER).is_none(), "{name} packed");
    let f = dir.path().join(name);
    std::fs::write(&f, packed).unwrap();
    let ndb = db(
        dir.path(),
        "marker.ndb",
        &format!("Local.Fsg.Marker:0:*:{}\n", hex(MARKER)),
    );
    let (t, o, text) = scan(&ndb, &f);
    assert_eq!(t[0].1.as_deref(), Some("Local.Fsg.Marker"), "{name}");
    assert_eq!(t, o, "{name}: {text}");
    let none = db(
        dir.path(),
        "none.hdb",
        "00000000000000000000000000000000:1:Local.None\n",
    );
    let mut rebuilt = clamav_rebuilt(&f, &none);
    assert_eq!(rebuilt.len(), 1, "{name}: clamscan rebuilt one file");
    let rebuilt = rebuilt.remove(0);
    let hdb = db(
        dir.path(),
        "rebuilt.hdb",
        &format!("{}:{}:Local.Fsg.Rebuilt\n", md5(&rebuilt), rebuilt.len()),
    );
    let (t, o, text) = scan(&hdb, &f);
    assert_eq!(t[0].1.as_deref(), Some("Local.Fsg.Rebuilt"), "{name}");
    assert_eq!(t, o, "{name}: {text}");
    rebuilt
}

/// The number of sections in a PE ClamAV rebuilt.
fn sections(rebuilt: &[u8]) -> u16 {
    u16::from_le_bytes([rebuilt[0xd6], rebuilt[0xd7]])
}

/// FSG 1.33: three sections, each its own stream, listed out of address
/// order, so that the rebuild sorts them as ClamAV does.
#[test]
fn fsg_133_sections_rebuilt_as_clamscan_rebuilds_them() {
    let payload = payload();
    let third = b"the third section, at 0x3000\n".repeat(40);
    let second = b"the second section, at 0x2000\n".repeat(40);
    let packed = pack_133(
        &[(0x1000, &payload), (0x3000, &third), (0x2000, &second)],
        0x1000,
    );
    assert_eq!(sections(&same_rebuild("packed133.exe", &packed)), 3);
}

/// FSG 1.31: sections out of order, with and without the call that
/// moves the original entry point's jump.
#[test]
fn fsg_131_rebuilt_as_clamscan_rebuilds_it() {
    let payload = payload();
    let third = b"the third section, at 0x5000\n".repeat(40);
    let second = b"the second section, at 0x3000\n".repeat(40);
    let secs: [(u32, &[u8]); 3] =
        [(0x1000, &payload), (0x5000, &third), (0x3000, &second)];
    for (name, oep, call) in
        [("fsg131.exe", 0x1000, false), ("fsg131call.exe", 0x1234, true)]
    {
        let rebuilt = same_rebuild(name, &pack_131(&secs, oep, call, None));
        assert_eq!(sections(&rebuilt), 3, "{name}");
    }
}

/// A 1.31 page word whose low byte is 0x80 or more: ClamAV reads the
/// table as signed bytes, so the section's address becomes 0xffb7e000,
/// out of bounds, which ends the table.
#[test]
fn fsg_131_table_read_as_signed_bytes() {
    let payload = payload();
    let second = b"the second section\n".repeat(40);
    let secs: [(u32, &[u8]); 2] = [(0x1000, &payload), (0x7e000, &second)];
    let mut f = pack_131(&secs, 0x1000, false, Some(&[0x0480]));
    f[0x1d0 + 6..0x1d0 + 10].copy_from_slice(&2u32.to_le_bytes());
    same_rebuild("fsg131signed.exe", &f);
}

/// A 1.31 file ending 200 bytes after its entry point: the jump to the
/// original entry point lies past the end, which ClamAV reads as zeros
/// and still unpacks.
#[test]
fn fsg_131_entry_jump_past_the_end() {
    let payload = payload();
    let secs: [(u32, &[u8]); 1] = [(0x1000, &payload)];
    let mut f = pack_131(&secs, 0x1000, false, None);
    f.truncate(0x200 + 0x1f40 + 200);
    same_rebuild("fsg131short.exe", &f);
}

/// Where ClamAV's FSG reader ends the PE scan, no other unpacker runs:
/// Debian's UPX sample with FSG 2.0's `xchg` at its entry point and
/// sizes FSG refuses (the empty section no larger than the packed one's
/// data) is unpacked by neither scanner, though UPX alone would unpack
/// it (the same file without the `xchg` is found by both). And a 1.33
/// table starting right at the packed data, which ClamAV cannot read.
#[test]
fn where_clamav_gives_up_no_other_unpacker_tries() {
    let dir = tempfile::tempdir().unwrap();
    let clam = db(dir.path(), "clam.hdb", CLAM_HDB);
    let upx = std::fs::read("/usr/share/clamav-testfiles/clam-upx.exe")
        .expect("apt-get install clamav-testfiles");
    let u32_at = |d: &[u8], at: usize| {
        u32::from_le_bytes(d[at..at + 4].try_into().unwrap())
    };
    let pe = u32_at(&upx, 0x3c) as usize;
    let opt = pe + 24;
    let table =
        opt + usize::from(u16::from_le_bytes([upx[pe + 20], upx[pe + 21]]));
    let (s0, s1) = (table, table + 40);
    let mut f = upx.clone();
    f[s0 + 8..s0 + 12].copy_from_slice(&0x1000u32.to_le_bytes());
    f[s1 + 8..s1 + 12].copy_from_slice(&0x5000u32.to_le_bytes());
    f[s1 + 16..s1 + 20].copy_from_slice(&0x1000u32.to_le_bytes());
    let raw1 = u32_at(&f, s1 + 20) as usize;
    f.resize(f.len().max(raw1 + 0x1000), 0);
    let ep = u32_at(&f, opt + 16);
    let ep_at = (ep - u32_at(&f, s1 + 12)) as usize + raw1;
    let control = dir.path().join("upx-sizes.exe");
    std::fs::write(&control, &f).unwrap();
    f[ep_at..ep_at + 2].copy_from_slice(&[0x87, 0x25]);
    let fsg = dir.path().join("upx-fsg-sizes.exe");
    std::fs::write(&fsg, &f).unwrap();
    let (t, o, text) = scan(&clam, &control);
    assert_eq!(t[0].1.as_deref(), Some("ClamTest.HDB"));
    assert_eq!(t, o, "{text}");
    let (t, o, text) = scan(&clam, &fsg);
    assert_eq!(t[0].1, None);
    assert_eq!(t, o, "{text}");

    // 1.33 with its table moved to end where the packed data starts.
    let payload = payload();
    let mut f = pack_133(&[(0x1000, &payload)], 0x1000);
    let ep = u32_at(&f, 0x98 + 16) as usize;
    let s1_rva = u32_at(&f, 0x98 + 0xe0 + 40 + 12) as usize;
    let ep_at = 0x200 + ep - s1_rva;
    f[ep_at + 1..ep_at + 5].copy_from_slice(&0x40_0200u32.to_le_bytes());
    let ndb = db(
        dir.path(),
        "marker.ndb",
        &format!("Local.Fsg.Marker:0:*:{}\n", hex(MARKER)),
    );
    let gp0 = dir.path().join("fsg133-gp0.exe");
    std::fs::write(&gp0, &f).unwrap();
    let (t, o, text) = scan(&ndb, &gp0);
    assert_eq!(t[0].1, None);
    assert_eq!(t, o, "{text}");
}
