//! OneNote sections as OneNote for the web and SharePoint export them:
//! MS-ONESTORE 2.8's alternative packaging, a header and one MS-FSSHTTPB
//! data element package. No Debian tool writes OneNote, so the sections
//! are written by `nod32_tests::onenote` from the specifications.
//!
//! clamscan reads these packages through a parser of the whole notebook
//! (section, page series, pages, outlines: MS-ONE's property sets).
//! The whole sections `onenote::notebook` writes are read by it to
//! their embedded files, which checks the writer and compares the two
//! tools' verdicts. The bare packages of the first tests (file data
//! objects without a page tree) are not: clamscan finds nothing in
//! them, and the tests say where the verdicts must differ.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nod32_tests::onenote as w;
use nod32_tests::{bin, eicar, hex, peer, run};

const EMBEDDED_FILE: u32 = 0x0008_0036;
const PICTURE: u32 = 0x0008_0039;

fn md5(d: &[u8]) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(d))
}

/// Each tool's verdict line on each file under the signature database
/// `db`: "OK", "NAME FOUND" or why it was not scanned.
fn verdicts(db: &Path, files: &[PathBuf]) -> Vec<(String, String)> {
    let go = |cmd: &mut Command| {
        let out = run(cmd.args(["--no-summary", "-d"]).arg(db).args(files));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let lines: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.rsplit_once(": "))
            .map(|(f, v)| (f.to_string(), v.replace(".UNOFFICIAL", "")))
            .collect();
        files
            .iter()
            .map(|f| {
                let f = f.display().to_string();
                let x = lines.iter().find(|x| x.0 == f);
                x.unwrap_or_else(|| panic!("no verdict on {f}: {text}"))
                    .1
                    .clone()
            })
            .collect::<Vec<_>>()
    };
    let theirs = go(&mut Command::new(peer("clamscan", "clamav")));
    let ours =
        go(Command::new(bin("nod32cli")).args(["--format", "clamscan"]));
    theirs.into_iter().zip(ours).collect()
}

fn hdb(sigs: &[(&[u8], &str)]) -> tempfile::TempDir {
    let db = tempfile::tempdir().unwrap();
    let text: String = sigs
        .iter()
        .map(|(d, n)| format!("{}:{}:{n}\n", md5(d), d.len()))
        .collect();
    std::fs::write(db.path().join("w.hdb"), text).unwrap();
    db
}

/// EICAR and a marker as embedded files, a picture beside them: the
/// files are found by their MD5 (only extraction gives that), the
/// picture is not taken, as ClamAV leaves pictures; a blob cut short
/// leaves the file before it.
#[test]
fn web_exports_carry_their_embedded_files() {
    let dir = tempfile::tempdir().unwrap();
    let marker = b"nod32 onenote web member marker 86420\n".repeat(20);
    let picture =
        b"\x89PNG\r\n\x1a\n nod32 onenote web picture marker\n".repeat(9);
    // Two revisions' object groups, each after the BLOBs it refers to,
    // as OneNote writes them.
    let whole = w::web_export(
        vec![
            w::blob(0x40, &marker),
            w::blob(0x41, &picture),
            w::group(0x30, &[(1, PICTURE, 0x41), (2, EMBEDDED_FILE, 0x40)]),
            w::blob(0x42, &eicar()),
            w::group(0x31, &[(3, EMBEDDED_FILE, 0x42)]),
        ],
        &[0x30, 0x31],
    );
    let one = dir.path().join("web.one");
    std::fs::write(&one, &whole).unwrap();
    // The EICAR blob's end cut away, with all that follows.
    let at = whole.windows(8).rposition(|x| x == &eicar()[..8]).unwrap() + 20;
    let cut = dir.path().join("cut.one");
    std::fs::write(&cut, &whole[..at]).unwrap();

    let pair = |t: &str, o: &str| (t.to_string(), o.to_string());
    // clamscan's parser needs the notebook's page tree (see above): it
    // says OK to all of these.
    let db = hdb(&[(&marker, "Local.OneNote.Web")]);
    let found = pair("OK", "Local.OneNote.Web FOUND");
    assert_eq!(
        verdicts(db.path(), &[one.clone(), cut.clone()]),
        [found.clone(), found]
    );
    let db = hdb(&[(&eicar(), "Eicar-Test-Signature")]);
    assert_eq!(
        verdicts(db.path(), &[one.clone(), cut]),
        [
            pair("OK", "Eicar-Test-Signature FOUND"),
            // A cut blob is not taken, and the section is said to be damaged.
            pair("OK", "Not scanned (malformed OneNote) ERROR"),
        ]
    );
    let db = hdb(&[(&picture, "Local.OneNote.Picture")]);
    assert_eq!(verdicts(db.path(), &[one]), [pair("OK", "OK")]);
}

/// Crafted packages end fast and within the limits: a BLOB and a stream
/// object claiming exabytes, revision manifests naming each other as
/// their base and an object group listed by itself (the walk follows no
/// reference), one BLOB referred to by 50,000 objects, and 10,000
/// embedded files against MaxFiles.
#[test]
fn web_export_bombs_end_within_limits() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut put = |name: &str, d: Vec<u8>| {
        let p = dir.path().join(name);
        std::fs::write(&p, d).unwrap();
        files.push(p);
    };
    let huge = w::cat(&[w::compact(1 << 60), eicar()]);
    put(
        "huge-blob.one",
        w::web_export(
            vec![
                w::element(0x40, 0x0a, &w::start(2, false, &huge)),
                w::group(0x30, &[(1, EMBEDDED_FILE, 0x40)]),
            ],
            &[0x30],
        ),
    );
    let mut claim = w::section(&[]);
    claim.truncate(claim.len() - 3);
    claim.extend((0x7fffu32 << 17 | 0x01 << 3 | 4 | 2).to_le_bytes());
    claim.extend(w::compact(u64::MAX >> 8));
    put("huge-element.one", claim);
    put(
        "loop.one",
        w::section(&[
            w::revision(0x63, 0x64, 1, &[0x30, 0x30]),
            w::revision(0x64, 0x63, 1, &[0x30]),
            w::group(0x30, &[(1, EMBEDDED_FILE, 0x30)]),
        ]),
    );
    let many: Vec<(u32, u32, u8)> =
        (0..50_000).map(|n| (n, EMBEDDED_FILE, 0x40)).collect();
    put(
        "one-blob-many-objects.one",
        w::web_export(
            vec![w::blob(0x40, &[b'x'; 4096]), w::group(0x30, &many)],
            &[0x30],
        ),
    );
    let mut elements = Vec::new();
    for g in 0..100u8 {
        let objects: Vec<_> = (0..100)
            .map(|n| (u32::from(g) * 100 + n, EMBEDDED_FILE, 100 + g))
            .collect();
        elements.push(w::blob(100 + g, &[g; 64]));
        elements.push(w::group(g, &objects));
    }
    put("many-files.one", w::web_export(elements, &[1]));
    let want = [
        "Not scanned (malformed OneNote) ERROR",
        "Not scanned (malformed OneNote) ERROR",
        // The group refers to a data element that is no BLOB.
        "Not scanned (malformed OneNote) ERROR",
        "OK",
        "Not scanned (limit MaxFiles exceeded) ERROR",
    ];
    for (f, want) in files.iter().zip(want) {
        let t = Instant::now();
        let out = run(Command::new(bin("nod32cli"))
            .args([
                "--format",
                "clamscan",
                "--no-summary",
                "--max-files",
                "50",
            ])
            .arg(f));
        let took = t.elapsed();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(took < Duration::from_secs(10), "{}: {took:?}", f.display());
        assert_eq!(text.trim(), format!("{}: {want}", f.display()));
    }
}

/// A whole section, page tree and all: clamscan's OneNote parser walks
/// it to its embedded files, and both tools must find the same files in
/// it by their MD5, and neither its picture. An embedded file container
/// no page reaches is found by us only: we take every one (DESIGN.md).
#[test]
fn whole_sections_agree_with_clamscan() {
    let dir = tempfile::tempdir().unwrap();
    let marker = b"nod32 onenote notebook member marker 97531\n".repeat(20);
    let picture =
        b"\x89PNG\r\n\x1a\n nod32 onenote notebook picture marker\n".repeat(9);
    let orphan = b"nod32 onenote orphan container marker 1357\n".repeat(5);
    let mut pic = w::Object::new(90, w::one::PICTURE, vec![]);
    pic.blob = Some(0x5e);
    let mut unreached = w::Object::new(91, w::one::EMBEDDED_FILE, vec![]);
    unreached.blob = Some(0x5f);
    let section = w::notebook(
        &[
            w::Attachment { name: "invoice.exe", data: &eicar() },
            w::Attachment { name: "notes.txt", data: &marker },
        ],
        vec![pic, unreached],
        &[(0x5e, &picture), (0x5f, &orphan)],
    );
    let one = dir.path().join("notebook.one");
    std::fs::write(&one, &section).unwrap();
    let pair = |t: &str, o: &str| (t.to_string(), o.to_string());
    let db = hdb(&[(&eicar(), "Eicar-Test-Signature")]);
    assert_eq!(
        verdicts(db.path(), std::slice::from_ref(&one)),
        [pair("Eicar-Test-Signature FOUND", "Eicar-Test-Signature FOUND")]
    );
    let db = hdb(&[(&marker, "Local.OneNote.Notebook")]);
    assert_eq!(
        verdicts(db.path(), std::slice::from_ref(&one)),
        [pair("Local.OneNote.Notebook FOUND", "Local.OneNote.Notebook FOUND")]
    );
    let db = hdb(&[(&picture, "Local.OneNote.Picture")]);
    assert_eq!(
        verdicts(db.path(), std::slice::from_ref(&one)),
        [pair("OK", "OK")]
    );
    let db = hdb(&[(&orphan, "Local.OneNote.Orphan")]);
    assert_eq!(
        verdicts(db.path(), &[one]),
        [pair("OK", "Local.OneNote.Orphan FOUND")]
    );
}
