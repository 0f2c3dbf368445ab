//! PDFs that hide their content from a byte search: filter names written
//! with `#xx` escapes, JavaScript in `/JS` hex and literal strings, and
//! scripts inside compressed object streams. clamscan and nod32cli scan
//! the same files with the same database: every file clamscan finds,
//! nod32cli finds under the same name; the escaped name raises
//! `Heuristics.PDF.ObfuscatedNameObject` in both, on a clean document
//! too; the forms clamscan does not read (a literal string with escapes,
//! an object stream) nod32cli finds all the same; the clean twins stay
//! clean in both. Documents encrypted by qpdf with an empty user
//! password, in each revision of the standard security handler (RC4 40
//! and 128 bits, AES-128, AES-256 in revisions 5 and 6), are decrypted
//! and found as clamscan finds them, as is one whose owner password is
//! empty; one with a real password is not scanned.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Command;

use nod32_tests::{bin, hex, parse_clamscan, peer, run};

const MARKER: &[u8] = b"app.alert(\"nod32-pdf-marker\");";

fn pdf(objects: &[Vec<u8>]) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    for (i, o) in objects.iter().enumerate() {
        out.extend(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend(o);
        out.extend(b"\nendobj\n");
    }
    out.extend(b"trailer\n<< /Root 1 0 R >>\n%%EOF\n");
    out
}

fn zlib(d: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    );
    e.write_all(d).unwrap();
    e.finish().unwrap()
}

fn stream(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut o =
        format!("<< {dict} /Length {} >>\nstream\n", data.len()).into_bytes();
    o.extend(data);
    o.extend(b"\nendstream");
    o
}

fn js(value: &[u8]) -> Vec<u8> {
    let mut o = b"<< /S /JavaScript /JS ".to_vec();
    o.extend(value);
    o.extend(b" >>");
    o
}

/// (file name, bytes) for `payload`.
fn documents(payload: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let catalog = b"<< /Type /Catalog /OpenAction 2 0 R >>".to_vec();
    let hexed = format!("<{}>", hex(payload)).into_bytes();
    let mut plain = b"(".to_vec();
    plain.extend(payload);
    plain.push(b')');
    let mut escaped = b"(".to_vec();
    for &b in payload {
        match b {
            b'(' | b')' | b'\\' => escaped.extend([b'\\', b]),
            b'a'..=b'z' if b % 3 == 0 => {
                escaped.extend(format!("\\{b:03o}").as_bytes())
            }
            _ => escaped.push(b),
        }
    }
    escaped.push(b')');
    let inner = js(&hexed);
    let objstm = [b"3 0 ".as_slice(), &inner].concat();
    vec![
        (
            "escaped-filter.pdf",
            pdf(&[
                catalog.clone(),
                stream("/Filter /Fl#61teDecode", &zlib(payload)),
            ]),
        ),
        ("js-hex.pdf", pdf(&[catalog.clone(), js(&hexed)])),
        ("js-literal.pdf", pdf(&[catalog.clone(), js(&plain)])),
        ("js-literal-escaped.pdf", pdf(&[catalog.clone(), js(&escaped)])),
        (
            "js-in-object-stream.pdf",
            pdf(&[
                b"<< /Type /Catalog /OpenAction 3 0 R >>".to_vec(),
                stream(
                    "/Type /ObjStm /N 1 /First 4 /Filter /FlateDecode",
                    &zlib(&objstm),
                ),
            ]),
        ),
    ]
}

fn verdicts(out: &[u8]) -> BTreeMap<String, Option<String>> {
    parse_clamscan(&String::from_utf8_lossy(out))
        .into_iter()
        .map(|(p, v)| (p.rsplit('/').next().unwrap().to_string(), v))
        .collect()
}

#[test]
fn hidden_pdf_content_is_found_as_clamscan_finds_it() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    // Anchored at 0: only an object decoded from its first byte matches,
    // never the PDF's own bytes.
    let db = dir.path().join("pdf.ndb");
    std::fs::write(&db, format!("Pdf-Marker:0:0:{}\n", hex(MARKER))).unwrap();
    for (name, bytes) in documents(MARKER) {
        std::fs::write(files.join(name), bytes).unwrap();
    }
    for (name, bytes) in documents(b"app.alert(\"hello\");") {
        std::fs::write(files.join(format!("clean-{name}")), bytes).unwrap();
    }

    let clam = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "--disable-cache", "-d"])
        .arg(&db)
        .arg(&files));
    assert!(matches!(clam.status.code(), Some(0 | 1)), "{clam:?}");
    let ours = run(Command::new(bin("nod32cli"))
        .args(["--format", "clamscan", "--no-summary", "--db"])
        .arg(&db)
        .arg(&files));
    assert!(matches!(ours.status.code(), Some(0 | 1)), "{ours:?}");
    let (theirs, mine) = (verdicts(&clam.stdout), verdicts(&ours.stdout));
    assert_eq!(theirs.len(), 10, "{theirs:?}");
    assert_eq!(mine.len(), 10, "{mine:?}");

    let marker = Some("Pdf-Marker".to_string());
    let obfuscated = Some("Heuristics.PDF.ObfuscatedNameObject".to_string());
    for (file, v) in &theirs {
        if v.is_some() {
            assert_eq!(&mine[file], v, "{file}: clamscan finds {v:?}");
        }
    }
    // What clamscan finds, as the oracle says today.
    assert_eq!(theirs["escaped-filter.pdf"], marker);
    assert_eq!(theirs["js-hex.pdf"], marker);
    assert_eq!(theirs["js-literal.pdf"], marker);
    assert_eq!(theirs["clean-escaped-filter.pdf"], obfuscated);
    // Read where clamscan does not.
    assert_eq!(mine["js-literal-escaped.pdf"], marker);
    assert_eq!(mine["js-in-object-stream.pdf"], marker);
    // The twins: clean, but for the escaped filter name.
    for (file, v) in mine.iter().filter(|(f, _)| f.starts_with("clean-")) {
        let want =
            if file.contains("escaped-filter") { &obfuscated } else { &None };
        assert_eq!(v, want, "{file}");
        assert_eq!(&theirs[file], want, "{file} (clamscan)");
    }

    // The alert is a heuristic: off with the master switch, as
    // clamscan's --heuristic-alerts=no.
    let off = run(Command::new(bin("nod32cli"))
        .args(["--format", "clamscan", "--no-summary", "--db"])
        .arg(&db)
        .arg("--no-heuristic-alerts")
        .arg(files.join("clean-escaped-filter.pdf")));
    let clam_off = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "--disable-cache", "--heuristic-alerts=no"])
        .arg("-d")
        .arg(&db)
        .arg(files.join("clean-escaped-filter.pdf")));
    assert_eq!(verdicts(&off.stdout), verdicts(&clam_off.stdout));
    assert_eq!(
        verdicts(&off.stdout).into_values().collect::<Vec<_>>(),
        vec![None]
    );
}

/// A one-page document whose page shows `marker` and whose OpenAction
/// runs `js`, with a cross-reference table qpdf accepts as it is.
fn page_document(marker: &[u8], js: &[u8]) -> Vec<u8> {
    let mut content = b"BT /F1 12 Tf 72 712 Td (".to_vec();
    content.extend(marker);
    content.extend(b") Tj ET");
    let mut js_object = b"<< /S /JavaScript /JS (".to_vec();
    js_object.extend(js);
    js_object.extend(b") >>");
    let objects = [
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction 4 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R >>"
            .to_vec(),
        js_object,
        stream("", &content),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend(o);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1)
            .as_bytes(),
    );
    for o in offsets {
        out.extend(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

#[test]
fn encrypted_pdfs_with_an_empty_user_password_are_read_as_clamscan_reads_them()
{
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let page_marker = b"nod32-pdf-encrypted-page-marker";
    let db = dir.path().join("pdf.ndb");
    std::fs::write(&db, format!("Pdf-Page-Marker:0:*:{}\n", hex(page_marker)))
        .unwrap();
    let plain = dir.path().join("plain.pdf");
    std::fs::write(&plain, page_document(page_marker, MARKER)).unwrap();
    let clean = dir.path().join("clean.pdf");
    std::fs::write(&clean, page_document(b"hello", b"app.alert(1);")).unwrap();

    // Each revision of the standard security handler, as qpdf writes it.
    let qpdf = peer("qpdf", "qpdf");
    let forms: &[(&str, &[&str], &[&str])] = &[
        (
            "r2-rc4-40",
            &["--allow-weak-crypto", "--encrypt", "", "owner", "40", "--"],
            &[],
        ),
        (
            "r3-rc4-128",
            &[
                "--allow-weak-crypto",
                "--encrypt",
                "",
                "owner",
                "128",
                "--use-aes=n",
                "--",
            ],
            &[],
        ),
        (
            "r4-rc4-128",
            &[
                "--allow-weak-crypto",
                "--encrypt",
                "",
                "owner",
                "128",
                "--use-aes=n",
                "--force-V4",
                "--",
            ],
            &[],
        ),
        (
            "r4-aes-128",
            &["--encrypt", "", "owner", "128", "--use-aes=y", "--"],
            &[],
        ),
        (
            "r4-aes-128-clear-metadata",
            &[
                "--encrypt",
                "",
                "owner",
                "128",
                "--use-aes=y",
                "--cleartext-metadata",
                "--",
            ],
            &[],
        ),
        (
            "r5-aes-256",
            &["--encrypt", "", "owner", "256", "--force-R5", "--"],
            &[],
        ),
        ("r6-aes-256", &["--encrypt", "", "owner", "256", "--"], &[]),
        (
            "r6-aes-256-object-streams",
            &["--encrypt", "", "owner", "256", "--"],
            &["--object-streams=generate"],
        ),
        (
            "r6-empty-owner-password",
            &["--encrypt", "secret", "", "256", "--allow-insecure", "--"],
            &[],
        ),
        (
            "r6-user-password",
            &["--encrypt", "secret", "owner", "256", "--"],
            &[],
        ),
    ];
    for (name, args, more) in forms {
        for (source, prefix) in [(&plain, ""), (&clean, "clean-")] {
            let out = files.join(format!("{prefix}{name}.pdf"));
            let r = run(Command::new(&qpdf)
                .args(*args)
                .args(*more)
                .arg(source)
                .arg(&out));
            assert!(r.status.success(), "qpdf {name}: {r:?}");
            // The marker is out of a byte search's sight.
            let bytes = std::fs::read(&out).unwrap();
            assert!(
                !bytes.windows(page_marker.len()).any(|w| w == page_marker),
                "{name}: not encrypted"
            );
        }
    }

    let clam = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "--disable-cache", "-d"])
        .arg(&db)
        .arg(&files));
    assert!(matches!(clam.status.code(), Some(0 | 1)), "{clam:?}");
    let ours = run(Command::new(bin("nod32cli"))
        .args(["--format", "clamscan", "--no-summary", "--db"])
        .arg(&db)
        .arg(&files));
    let (theirs, mine) = (verdicts(&clam.stdout), verdicts(&ours.stdout));
    assert_eq!(theirs.len(), 2 * forms.len(), "{theirs:?}");
    // All but the two that are not scanned.
    assert_eq!(mine.len(), 2 * forms.len() - 2, "{mine:?}");
    let marker = Some("Pdf-Page-Marker".to_string());
    for (name, ..) in forms {
        let file = format!("{name}.pdf");
        let clean = format!("clean-{name}.pdf");
        if *name == "r6-user-password" {
            // Nobody reads it without the password: clamscan calls it
            // clean, nod32cli not scanned (encrypted).
            assert_eq!(theirs[&file], None);
            assert_eq!(theirs[&clean], None);
            assert!(!mine.contains_key(&file) && !mine.contains_key(&clean));
            continue;
        }
        assert_eq!(theirs[&file], marker, "{file} (clamscan)");
        assert_eq!(mine[&file], marker, "{file}");
        assert_eq!(theirs[&clean], None, "{clean} (clamscan)");
        assert_eq!(mine[&clean], None, "{clean}");
    }
    let text = String::from_utf8_lossy(&ours.stdout);
    assert!(
        text.contains("r6-user-password.pdf: Not scanned (encrypted)"),
        "{text}"
    );

    // The /JS strings are encrypted too: decrypted, the script is found
    // (clamscan does not decrypt strings, so it has no word here).
    let js_db = dir.path().join("js.ndb");
    std::fs::write(&js_db, format!("Pdf-Marker:0:0:{}\n", hex(MARKER)))
        .unwrap();
    let ours = run(Command::new(bin("nod32cli"))
        .args(["--format", "clamscan", "--no-summary", "--db"])
        .arg(&js_db)
        .arg(files.join("r2-rc4-40.pdf"))
        .arg(files.join("r4-aes-128.pdf"))
        .arg(files.join("r6-aes-256.pdf")));
    let found = verdicts(&ours.stdout);
    assert_eq!(found.len(), 3, "{found:?}");
    for (file, v) in found {
        assert_eq!(v, Some("Pdf-Marker".to_string()), "{file}");
    }
}
