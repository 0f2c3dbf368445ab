//! PDFs that hide their content from a byte search: filter names written
//! with `#xx` escapes, JavaScript in `/JS` hex and literal strings, and
//! scripts inside compressed object streams. clamscan and nod32cli scan
//! the same files with the same database: every file clamscan finds,
//! nod32cli finds under the same name; the escaped name raises
//! `Heuristics.PDF.ObfuscatedNameObject` in both, on a clean document
//! too; the forms clamscan does not read (a literal string with escapes,
//! an object stream) nod32cli finds all the same; the clean twins stay
//! clean in both.

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
