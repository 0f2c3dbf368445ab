//! Compiled AutoIt scripts: EA05 and EA06 payloads made by the test's
//! own writer (`nod32_tests::autoit`; no AutoIt compiler is packaged in
//! Debian), appended to clam.exe as AutoIt appends them to its
//! interpreter, and ClamAV's own samples (`clam.ea05.exe`,
//! `clam.ea06.exe`). clamscan reading what the writer wrote is what
//! checks the writer; nod32cli must then find the same with the same
//! database: a script's text (EA06's written back from its tokens, in
//! ClamAV's spelling), an installed file by its MD5, EICAR.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nod32_tests::autoit::{
    Op, Packing, Resource, Token, Version, executable, payload, tokens,
};
use nod32_tests::{bin, eicar, hex, parse_clamscan, peer, run};

fn md5(b: &[u8]) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(b))
}

fn hdb(name: &str, b: &[u8]) -> String {
    format!("{}:{}:{name}", md5(b), b.len())
}

fn ndb(name: &str, b: &[u8]) -> String {
    format!("{name}:0:*:{}", hex(b))
}

/// Bytes no compressor shrinks, distinct per `seed`.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn host() -> Vec<u8> {
    peer("clamscan", "clamav");
    std::fs::read("/usr/share/clamav-testfiles/clam.exe")
        .expect("apt-get install clamav-testfiles")
}

/// clamscan's and nod32cli's verdicts on `files` with `db_lines` in a
/// database file named `db_file`, each sorted by path.
#[allow(clippy::type_complexity)]
fn verdicts(
    db_file: &str,
    db_lines: &str,
    files: &[PathBuf],
    opts: &[&str],
) -> (Vec<(String, Option<String>)>, Vec<(String, Option<String>)>, String) {
    let db = tempfile::tempdir().unwrap();
    std::fs::write(db.path().join(db_file), format!("{db_lines}\n")).unwrap();
    let theirs = run(Command::new(peer("clamscan", "clamav"))
        .args(opts)
        .args(["--no-summary", "-d"])
        .arg(db.path())
        .args(files));
    let ours = run(Command::new(bin("nod32cli"))
        .args(opts)
        .args(["--format", "clamscan", "--no-summary", "-d"])
        .arg(db.path())
        .args(files));
    let ours = String::from_utf8_lossy(&ours.stdout).into_owned();
    (
        parse_clamscan(&String::from_utf8_lossy(&theirs.stdout)),
        parse_clamscan(&ours),
        ours,
    )
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

const LOCAL: u32 = 28;
const MSGBOX: u32 = 249;
const FILEINSTALL: u32 = 108;

/// An EA06 script and the text ClamAV writes for it.
fn ea06_script() -> (Vec<u8>, String) {
    use Token::*;
    let t = [
        Keyword(LOCAL),
        Text(0x33, "MSG".into()),
        Op(0x41),
        Text(0x36, "nod32 autoit ea06 script marker".into()),
        EndOfLine,
        Function(MSGBOX),
        Op(0x47),
        Int(0),
        Op(0x40),
        Text(0x36, "t".into()),
        Op(0x40),
        Text(0x33, "MSG".into()),
        Op(0x48),
        EndOfLine,
        Function(FILEINSTALL),
        Op(0x47),
        Text(0x36, "C:\\src\\m.bin".into()),
        Op(0x40),
        Text(0x32, "TEMPDIR".into()),
        Op(0x4d),
        Text(0x36, "\\m.bin".into()),
        Op(0x48),
        EndOfLine,
        Keyword(LOCAL),
        Text(0x33, "Y".into()),
        Op(0x41),
        Double(1e-5),
        Op(0x49),
        Double(1234567.0),
        Op(0x4c),
        Int64(1 << 40),
        EndOfLine,
    ];
    let text = "LOCAL $MSG = \"nod32 autoit ea06 script marker\" \n\
                MSGBOX ( 0x00000000 , \"t\" , $MSG ) \n\
                FILEINSTALL ( \"C:\\src\\m.bin\" , @TEMPDIR & \"\\m.bin\" ) \n\
                LOCAL $Y = 1e-05 + 1.23457e+06 * 0x0000010000000000 \n";
    (tokens(&t), text.to_string())
}

fn ea05_script() -> Vec<u8> {
    b"; made by the nod32 tests\r\n\
      MsgBox(0, \"t\", \"nod32 autoit ea05 script marker\")\r\n\
      FileInstall(\"C:\\src\\m.bin\", @TempDir & \"\\m.bin\")\r\n"
        .repeat(10)
}

/// Payloads of both versions: the script, EICAR and a marker file
/// (compressed, and stored).
fn made(dir: &Path) -> Vec<PathBuf> {
    let exe = host();
    let mut files = Vec::new();
    for v in [Version::Ea05, Version::Ea06] {
        let script = match v {
            Version::Ea05 => ea05_script(),
            Version::Ea06 => ea06_script().0,
        };
        for packing in [Packing::Compressed, Packing::Stored] {
            let res: Vec<Resource> = [
                Resource::script(v, script.clone()),
                Resource::file("C:\\src\\eicar.com", eicar()),
                Resource::file("C:\\src\\m.bin", noise(20_000, 7)),
            ]
            .into_iter()
            .map(|mut r| {
                r.packing = packing.clone();
                r
            })
            .collect();
            let name = format!(
                "{v:?}-{}.exe",
                if matches!(packing, Packing::Stored) {
                    "stored"
                } else {
                    "lz"
                }
            );
            files.push(write(
                dir,
                &name,
                &executable(&exe, &payload(v, &res)),
            ));
        }
    }
    files
}

#[test]
fn written_payloads_found_as_clamscan_finds_them() {
    let dir = tempfile::tempdir().unwrap();
    let files = made(dir.path());
    let (text06, text06_s) = (ea06_script().1.into_bytes(), ea06_script().1);
    let cases = [
        (
            "e.ndb",
            ndb("Local.Eicar.Test", &eicar()[..40]),
            "Local.Eicar.Test",
            4,
        ),
        (
            "m.hdb",
            hdb("Local.Au3.File", &noise(20_000, 7)),
            "Local.Au3.File",
            4,
        ),
        (
            "s5.ndb",
            ndb("Local.Au3.Ea05", b"nod32 autoit ea05 script marker"),
            "Local.Au3.Ea05",
            2,
        ),
        // Only the text ClamAV writes matches these: the tokens hold the
        // words in UTF-16, masked, and the numbers in binary.
        (
            "s6.ndb",
            ndb("Local.Au3.Ea06", b"MSGBOX ( 0x00000000 , \"t\" , $MSG ) \n"),
            "Local.Au3.Ea06",
            2,
        ),
        (
            "t6.hdb",
            hdb("Local.Au3.Ea06Text", &text06),
            "Local.Au3.Ea06Text",
            2,
        ),
        (
            "n6.ndb",
            ndb(
                "Local.Au3.Ea06Numbers",
                b"1e-05 + 1.23457e+06 * 0x0000010000000000",
            ),
            "Local.Au3.Ea06Numbers",
            2,
        ),
    ];
    for (file, sig, name, count) in cases {
        let (theirs, ours, raw) = verdicts(file, &sig, &files, &[]);
        let found =
            theirs.iter().filter(|t| t.1.as_deref() == Some(name)).count();
        assert_eq!(found, count, "{name}: clamscan {theirs:?}\n{text06_s}");
        assert_eq!(theirs, ours, "{name}: {raw}");
    }
}

/// ClamAV's own samples: clam.exe inside each, and each script as
/// ClamAV writes it out (its hash taken from `clamscan --leave-temps`).
#[test]
fn clamav_samples_found_as_clamscan_finds_them() {
    peer("clamscan", "clamav");
    let files: Vec<PathBuf> = ["clam.ea05.exe", "clam.ea06.exe"]
        .iter()
        .map(|f| Path::new("/usr/share/clamav-testfiles").join(f))
        .collect();
    for f in &files {
        assert!(f.exists(), "{f:?}: apt-get install clamav-testfiles");
    }
    let cases = [
        (
            "c.hdb",
            "aa15bcf478d165efd2065190eb473bcb:544:Local.ClamTest.HDB",
            ["Local.ClamTest.HDB", "Local.ClamTest.HDB"],
        ),
        (
            "s.hdb",
            "144d97bc59d6944c6cf31e3fca78f432:22502:Local.Au3.Ea05Script\n\
             8903cae272bf36a778c2f361ba282d42:11960:Local.Au3.Ea06Script",
            ["Local.Au3.Ea05Script", "Local.Au3.Ea06Script"],
        ),
    ];
    for (file, sig, names) in cases {
        let (theirs, ours, raw) = verdicts(file, sig, &files, &[]);
        let got: Vec<Option<&str>> =
            theirs.iter().map(|t| t.1.as_deref()).collect();
        assert_eq!(got, names.map(Some), "{file}");
        assert_eq!(theirs, ours, "{file}: {raw}");
    }
}

/// Claims of gigabytes, copies repeating one byte, thousands of
/// resources: each ends fast, within the limits, and the walk goes on
/// to EICAR behind them as ClamAV's does.
#[test]
fn autoit_bombs_end_within_limits() {
    let dir = tempfile::tempdir().unwrap();
    let exe = host();
    let mut files = Vec::new();
    for v in [Version::Ea05, Version::Ea06] {
        let rle = |claimed: u32, copies: usize| {
            let mut r = Resource::file("C:\\bomb", Vec::new());
            let mut ops = vec![Op::Literal(b'z')];
            ops.extend(vec![Op::Copy { distance: 1, len: 65535 }; copies]);
            r.packing = Packing::Ops { claimed, ops };
            r
        };
        // 4 GiB claimed; 5 MB claimed past --max-filesize; 900 KB made of
        // copies, decoded; then EICAR.
        let res = [
            rle(u32::MAX, 4),
            rle(5_000_000, 80),
            rle(900_000, 14),
            Resource::file("C:\\eicar.com", eicar()),
        ];
        files.push(write(
            dir.path(),
            &format!("{v:?}-claims.exe"),
            &executable(&exe, &payload(v, &res)),
        ));
        // 3,000 resources, then EICAR (MaxFiles is 10,000).
        let mut many: Vec<Resource> = (0..3000)
            .map(|i| {
                Resource::file("C:\\m", format!("file number {i}").into())
            })
            .collect();
        many.push(Resource::file("C:\\eicar.com", eicar()));
        files.push(write(
            dir.path(),
            &format!("{v:?}-many.exe"),
            &executable(&exe, &payload(v, &many)),
        ));
    }
    let start = Instant::now();
    let (theirs, ours, raw) = verdicts(
        "e.ndb",
        &ndb("Local.Eicar.Test", &eicar()[..40]),
        &files,
        &["--max-filesize=1M"],
    );
    assert!(start.elapsed() < Duration::from_secs(60));
    assert!(
        theirs.iter().all(|t| t.1.as_deref() == Some("Local.Eicar.Test")),
        "{theirs:?}"
    );
    assert_eq!(theirs, ours, "{raw}");
}

/// A file that is the resources alone, from the marker on: ClamAV types
/// it `CL_TYPE_AUTOIT` and opens it; shifted by a byte, it is read from
/// the wrong place and nothing comes out, in both.
#[test]
fn bare_payloads_opened_as_clamscan_opens_them() {
    peer("clamscan", "clamav");
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for v in [Version::Ea05, Version::Ea06] {
        let p = payload(v, &[Resource::file("C:\\eicar.com", eicar())]);
        files.push(write(dir.path(), &format!("{v:?}.bin"), &p));
        let shifted = [&b"x"[..], &p].concat();
        files.push(write(dir.path(), &format!("{v:?}-shifted.bin"), &shifted));
    }
    let (theirs, ours, raw) = verdicts(
        "e.ndb",
        &ndb("Local.Eicar.Test", &eicar()[..40]),
        &files,
        &[],
    );
    let found: Vec<bool> = theirs.iter().map(|t| t.1.is_some()).collect();
    // Sorted by path: Ea05-shifted, Ea05, Ea06-shifted, Ea06.
    assert_eq!(found, [false, true, false, true], "{theirs:?}");
    assert_eq!(theirs, ours, "{raw}");
}
