//! OneNote sections as OneNote for the web and SharePoint export them:
//! MS-ONESTORE 2.8's alternative packaging, a header and one MS-FSSHTTPB
//! data element package. No Debian tool writes OneNote, so the sections
//! are written here from the specifications: storage index, storage
//! manifest, cell manifest, revision manifest, an object group declaring
//! file data objects (their JCID in partition 4, their bytes in partition
//! 2 by reference) and the object data BLOBs holding those bytes.
//!
//! clamscan reads these packages through a parser of the whole notebook
//! (section, page series, pages, outlines: MS-ONE's property sets), which
//! this writer does not write, so it finds nothing inside them and falls
//! back to its desktop search, which finds nothing either: where it must
//! differ, the tests below say so. Checked by hand: both find the
//! embedded program of ClamAV's own web export test file
//! (`clam.exe.webapp-export.one`) and neither its pictures.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nod32_tests::{bin, eicar, hex, peer, run};

const EMBEDDED_FILE: u32 = 0x0008_0036;
const PICTURE: u32 = 0x0008_0039;

/// The stream objects of MS-FSSHTTPB 2.2.1.
mod w {
    pub fn compact(v: u64) -> Vec<u8> {
        if v == 0 {
            return vec![0];
        }
        for width in 1..8u32 {
            if v < 1 << (7 * width) {
                let x = (v << width) | 1 << (width - 1);
                return x.to_le_bytes()[..width as usize].to_vec();
            }
        }
        let mut o = vec![0x80];
        o.extend(v.to_le_bytes());
        o
    }

    pub fn exguid(g: u8, n: u32) -> Vec<u8> {
        let mut o = match n {
            0..32 => vec![(n << 3 | 4) as u8],
            32..1024 => ((n << 6 | 0x20) as u16).to_le_bytes().to_vec(),
            _ => {
                let mut o = vec![0x80];
                o.extend(n.to_le_bytes());
                o
            }
        };
        o.extend([g; 16]);
        o
    }

    pub fn serial(g: u8) -> Vec<u8> {
        let mut o = vec![0x80];
        o.extend([g; 16]);
        o.extend(1u64.to_le_bytes());
        o
    }

    pub fn start(kind: u16, compound: bool, body: &[u8]) -> Vec<u8> {
        let c = u64::from(compound) << 2;
        let len = body.len() as u64;
        let mut o = if kind < 64 && len < 128 {
            ((len << 9 | u64::from(kind) << 3 | c) as u16)
                .to_le_bytes()
                .to_vec()
        } else {
            let v = len.min(0x7fff) << 17 | u64::from(kind) << 3 | c | 2;
            let mut o = (v as u32).to_le_bytes().to_vec();
            if len >= 0x7fff {
                o.extend(compact(len));
            }
            o
        };
        o.extend(body);
        o
    }

    pub fn end8(kind: u16) -> Vec<u8> {
        vec![(kind << 2 | 1) as u8]
    }

    pub fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.concat()
    }

    pub fn element(id: u8, ty: u64, inner: &[u8]) -> Vec<u8> {
        let head = cat(&[exguid(id, 1), serial(id), compact(ty)]);
        cat(&[start(1, true, &head), inner.to_vec(), end8(1)])
    }

    pub fn cell(a: u8, b: u8) -> Vec<u8> {
        cat(&[exguid(a, 1), exguid(b, 1)])
    }

    /// Storage index (2.2.1.12.2): the manifest, the one cell, its
    /// revision.
    pub fn storage_index(
        id: u8,
        manifest: u8,
        cell_map: u8,
        rev: u8,
    ) -> Vec<u8> {
        element(
            id,
            0x01,
            &cat(&[
                start(
                    0x11,
                    false,
                    &cat(&[exguid(manifest, 1), serial(manifest)]),
                ),
                start(
                    0x0e,
                    false,
                    &cat(&[
                        cell(0x70, 0x71),
                        exguid(cell_map, 1),
                        serial(cell_map),
                    ]),
                ),
                start(
                    0x0d,
                    false,
                    &cat(&[exguid(rev, 1), exguid(rev, 1), serial(rev)]),
                ),
            ]),
        )
    }

    /// Storage manifest (2.2.1.12.3): the section's schema and its root.
    pub fn storage_manifest(id: u8) -> Vec<u8> {
        let schema = [
            0xb4, 0x7c, 0x93, 0x1f, 0x6f, 0xb2, 0x5f, 0x44, 0xb9, 0xf8, 0x17,
            0xe2, 0x01, 0x60, 0xe4, 0x61,
        ];
        element(
            id,
            0x02,
            &cat(&[
                start(0x0c, false, &schema),
                start(0x07, false, &cat(&[exguid(0x72, 2), cell(0x70, 0x71)])),
            ]),
        )
    }

    pub fn cell_manifest(id: u8, rev: u8) -> Vec<u8> {
        element(id, 0x03, &start(0x0b, false, &exguid(rev, 1)))
    }

    /// Revision manifest (2.2.1.12.5): its ID, its base, its root object,
    /// the object groups it holds.
    pub fn revision(id: u8, base: u8, root: u32, groups: &[u8]) -> Vec<u8> {
        let base = if base == 0 { vec![0] } else { exguid(base, 1) };
        let mut inner = start(0x1a, false, &cat(&[exguid(id, 1), base]));
        inner.extend(start(
            0x0a,
            false,
            &cat(&[exguid(0x73, 1), exguid(0x42, root)]),
        ));
        for &g in groups {
            inner.extend(start(0x19, false, &exguid(g, 1)));
        }
        element(id, 0x04, &inner)
    }

    pub fn blob(id: u8, data: &[u8]) -> Vec<u8> {
        element(
            id,
            0x0a,
            &start(
                2,
                false,
                &cat(&[compact(data.len() as u64), data.to_vec()]),
            ),
        )
    }

    /// An object group (2.2.1.12.6) of file data objects: (object number,
    /// JCID, BLOB data element).
    pub fn group(id: u8, objects: &[(u32, u32, u8)]) -> Vec<u8> {
        let mut decl = start(0x1d, true, &[]);
        let mut data = start(0x1e, true, &[]);
        for &(n, jcid, blob) in objects {
            let counts = cat(&[compact(0), compact(0)]);
            decl.extend(start(
                0x18,
                false,
                &cat(&[
                    exguid(0x42, n),
                    compact(4),
                    compact(4),
                    counts.clone(),
                ]),
            ));
            decl.extend(start(
                0x05,
                false,
                &cat(&[exguid(0x42, n), exguid(blob, 1), compact(2), counts]),
            ));
            let jcid =
                cat(&[vec![0, 0], compact(4), jcid.to_le_bytes().to_vec()]);
            data.extend(start(0x16, false, &jcid));
            data.extend(start(
                0x1c,
                false,
                &cat(&[vec![0, 0], exguid(blob, 1)]),
            ));
        }
        decl.extend(end8(0x1d));
        data.extend(end8(0x1e));
        element(id, 0x05, &cat(&[decl, data]))
    }

    /// The file: header (2.8.1), packaging start, the package, ends.
    pub fn section(elements: &[Vec<u8>]) -> Vec<u8> {
        let mut o = vec![
            0xe4, 0x52, 0x5c, 0x7b, 0x8c, 0xd8, 0xa7, 0x4d, 0xae, 0xb1, 0x53,
            0x78, 0xd0, 0x29, 0x96, 0xd3,
        ];
        o.extend([0x5a; 16]);
        o.extend([0x5b; 16]);
        o.extend([
            0x2f, 0xe9, 0x8d, 0x63, 0xd4, 0xa6, 0xc1, 0x4b, 0x9a, 0x36, 0xb3,
            0xfc, 0x25, 0x11, 0xa5, 0xb7,
        ]);
        o.extend([0; 4]);
        let index = cat(&[exguid(0x60, 1), vec![0x5c; 16]]);
        let v = (index.len() as u32) << 17 | 0x7a << 3 | 4 | 2;
        o.extend(v.to_le_bytes());
        o.extend(index);
        o.extend(start(0x15, true, &[0]));
        for e in elements {
            o.extend(e);
        }
        o.extend(end8(0x15));
        o.extend(((0x7a << 2 | 3) as u16).to_le_bytes());
        o
    }

    /// A whole section: the manifests, then `elements`.
    pub fn web_export(elements: Vec<Vec<u8>>, group_ids: &[u8]) -> Vec<u8> {
        let mut e = vec![
            storage_index(0x60, 0x61, 0x62, 0x63),
            storage_manifest(0x61),
            cell_manifest(0x62, 0x63),
            revision(0x63, 0, 1, group_ids),
        ];
        e.extend(elements);
        section(&e)
    }
}

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
