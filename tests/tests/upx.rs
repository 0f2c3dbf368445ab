//! UPX-packed executables: a real program built by MinGW at test time,
//! packed by the packer of `tests/src/upx.rs` with each method (NRV2B,
//! NRV2D, NRV2E, two LZMA stubs), and ClamAV's own `clam-upx.exe`.
//! clamscan unpacking our files is the check that they are UPX's layout;
//! nod32cli must find what clamscan finds in the unpacked program: its
//! data (a marker), its entry point's code through the rebuilt PE
//! header, and the rebuilt file itself by its MD5, taken from the file
//! clamscan leaves with `--leave-temps` (so the rebuild is byte for
//! byte ClamAV's).
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nod32_tests::upx::{Method, nrv2b_runs, pack, restream};
use nod32_tests::{bin, hex, parse_clamscan, peer, run};

const MARKER: &str = "NOD32-UPX-MARKER-5c1e0b7d-a3f2-4e61-9d08-packed-data";

fn md5(d: &[u8]) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(d))
}

/// A console program whose data holds the marker, built by `gcc`.
fn build(dir: &Path, gcc: &str) -> Vec<u8> {
    let c = dir.join("hello.c");
    std::fs::write(
        &c,
        format!(
            "#include <stdio.h>\nconst char marker[] = \"{MARKER}\";\n\
             int main(void) {{ puts(marker); return 0; }}\n"
        ),
    )
    .unwrap();
    let exe = dir.join(format!("{gcc}.exe"));
    let out = run(Command::new(peer(gcc, "mingw-w64"))
        .args(["-O1", "-s", "-o"])
        .arg(&exe)
        .arg(&c));
    assert!(out.status.success(), "{gcc}: {out:?}");
    std::fs::read(exe).unwrap()
}

/// Verdicts as `parse_clamscan` reads them.
type Verdicts = Vec<(String, Option<String>)>;

/// clamscan's and nod32cli's verdicts on `f` with database `db`, and
/// nod32cli's output.
fn scan(db: &Path, f: &Path, opts: &[&str]) -> (Verdicts, Verdicts, String) {
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
fn clamav_rebuilt(f: &Path, marker_db: &Path) -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "--leave-temps", "--tempdir"])
        .arg(tmp.path())
        .arg("-d")
        .arg(marker_db)
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

#[test]
fn packed_programs_found_as_clamscan_finds_them() {
    let dir = tempfile::tempdir().unwrap();
    let exe = build(dir.path(), "i686-w64-mingw32-gcc");
    let marker_db = db(
        dir.path(),
        "marker.ndb",
        &format!("Local.Upx.Marker:0:*:{}\n", hex(MARKER.as_bytes())),
    );
    // The program's first code bytes at its entry point: found only
    // through the rebuilt header's entry point.
    let pe = u32::from_le_bytes(exe[0x3c..0x40].try_into().unwrap()) as usize;
    let ep_rva = u32::from_le_bytes(exe[pe + 40..pe + 44].try_into().unwrap());
    let table = pe
        + 24
        + usize::from(u16::from_le_bytes([exe[pe + 20], exe[pe + 21]]));
    let ep_off = (0..usize::from(exe[pe + 6]))
        .map(|i| table + 40 * i)
        .find_map(|s| {
            let u = |at: usize| {
                u32::from_le_bytes(exe[s + at..s + at + 4].try_into().unwrap())
            };
            (u(12) <= ep_rva && ep_rva < u(12) + u(8))
                .then(|| (ep_rva - u(12) + u(20)) as usize)
        })
        .unwrap();
    let ep_db = db(
        dir.path(),
        "ep.ndb",
        &format!(
            "Local.Upx.Entry:1:EP+0:{}\n",
            hex(&exe[ep_off..ep_off + 12])
        ),
    );
    for method in [
        Method::Nrv2b,
        Method::Nrv2d,
        Method::Nrv2e,
        Method::Lzma,
        Method::LzmaProps,
    ] {
        let packed = pack(&exe, method);
        assert!(
            memchr::memmem::find(&packed, MARKER.as_bytes()).is_none(),
            "{method:?}: the marker is compressed"
        );
        let f = dir.path().join(format!("{method:?}.exe"));
        std::fs::write(&f, &packed).unwrap();
        let (t, o, text) = scan(&marker_db, &f, &[]);
        assert_eq!(t[0].1.as_deref(), Some("Local.Upx.Marker"), "{method:?}");
        assert_eq!(t, o, "{method:?}: {text}");
        let (t, o, text) = scan(&ep_db, &f, &[]);
        assert_eq!(t[0].1.as_deref(), Some("Local.Upx.Entry"), "{method:?}");
        assert_eq!(t, o, "{method:?}: {text}");
        let rebuilt = clamav_rebuilt(&f, &marker_db);
        let hdb = db(
            dir.path(),
            "rebuilt.hdb",
            &format!(
                "{}:{}:Local.Upx.Rebuilt\n",
                md5(&rebuilt),
                rebuilt.len()
            ),
        );
        let (t, o, text) = scan(&hdb, &f, &[]);
        assert_eq!(t[0].1.as_deref(), Some("Local.Upx.Rebuilt"), "{method:?}");
        assert_eq!(t, o, "{method:?}: {text}");
    }
}

/// ClamAV unpacks no PE32+ (it stops before its unpackers): neither
/// finds the marker in a packed 64-bit program.
#[test]
fn packed_64_bit_programs_are_not_unpacked() {
    let dir = tempfile::tempdir().unwrap();
    let exe = build(dir.path(), "x86_64-w64-mingw32-gcc");
    let marker_db = db(
        dir.path(),
        "marker.ndb",
        &format!("Local.Upx.Marker:0:*:{}\n", hex(MARKER.as_bytes())),
    );
    let f = dir.path().join("packed64.exe");
    std::fs::write(&f, pack(&exe, Method::Nrv2e)).unwrap();
    let (t, o, text) = scan(&marker_db, &f, &[]);
    assert_eq!(t[0].1, None);
    assert_eq!(t, o, "{text}");
}

/// ClamAV's sample: clam.exe packed by the real UPX. The rebuilt file's
/// MD5 (clamscan's, from its debug output) and clam.exe's, which
/// clamscan finds as a PE embedded in the rebuilt file.
#[test]
fn clamav_upx_sample() {
    peer("clamscan", "clamav");
    let f = Path::new("/usr/share/clamav-testfiles/clam-upx.exe");
    assert!(f.exists(), "apt-get install clamav-testfiles");
    let dir = tempfile::tempdir().unwrap();
    for (name, sig) in [
        (
            "rebuilt.hdb",
            "3b03bc19b1f39587a0650c7b6fe35d38:20480:Local.ClamTest.Rebuilt\n",
        ),
        (
            "clam.hdb",
            "aa15bcf478d165efd2065190eb473bcb:544:Local.ClamTest.HDB\n",
        ),
    ] {
        let d = db(dir.path(), name, sig);
        let (t, o, text) = scan(&d, f, &[]);
        assert!(t[0].1.is_some(), "{name}");
        assert_eq!(t, o, "{name}: {text}");
    }
}

#[test]
fn upx_bombs_end_within_limits() {
    let dir = tempfile::tempdir().unwrap();
    let exe = build(dir.path(), "i686-w64-mingw32-gcc");
    let marker_db = db(
        dir.path(),
        "marker.ndb",
        &format!("Local.Upx.Marker:0:*:{}\n", hex(MARKER.as_bytes())),
    );
    let packed = pack(&exe, Method::Nrv2b);
    let mut bombs = Vec::new();
    // UPX0 claims 2 GiB: refused by the limits before anything is
    // allocated.
    bombs.push(("huge.exe", restream(&packed, &[], 0x7fff_0000), false));
    // Back-references at distance 1, 64 KiB at a time, that never end:
    // they fill the 16 MiB image and fail, in every format tried.
    let stream = nrv2b_runs(300, 0xffff);
    bombs.push(("runs.exe", restream(&packed, &stream, 16 << 20), true));
    for (name, bytes, within) in bombs {
        let f = dir.path().join(name);
        std::fs::write(&f, bytes).unwrap();
        let start = Instant::now();
        let (t, o, text) = scan(&marker_db, &f, &[]);
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
