//! Hancom Office HWP documents, written here from the format (Debian
//! has no HWP writer): HWP 5 (an OLE2 file with a `FileHeader` and
//! raw-deflated streams), the OLE objects it embeds (CL_TYPE_HWPOLE2),
//! HWP 3.x and HWPML. clamscan (whose `--debug` shows it reading them as
//! HWP) is the oracle: the same verdicts, names and places; a marker's
//! MD5 found only once its stream was inflated; bombs and lying lengths
//! end within the limits.
#![forbid(unsafe_code)]

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nod32_tests::{base64_lines, bin, eicar, hex, peer, run};

/// What clamscan and nod32cli say of each of `files` (`OK`, `NAME FOUND`,
/// nod32cli's `Not scanned (...) ERROR`), in the order of `files`.
fn verdicts(
    db: &Path,
    files: &[PathBuf],
    opts: &[&str],
) -> Vec<(String, String)> {
    let lines = |out: std::process::Output| {
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let v: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.rsplit_once(": "))
            .map(|(f, v)| (f.to_string(), v.replace(".UNOFFICIAL", "")))
            .collect();
        assert_eq!(v.len(), files.len(), "{text}");
        files
            .iter()
            .map(|f| {
                let f = f.display().to_string();
                v.iter()
                    .find(|x| x.0 == f)
                    .map(|x| x.1.clone())
                    .unwrap_or_default()
            })
            .collect::<Vec<String>>()
    };
    let theirs = lines(run(Command::new(peer("clamscan", "clamav"))
        .args(opts)
        .args(["--no-summary", "-d"])
        .arg(db)
        .args(files)));
    let ours = lines(run(Command::new(bin("nod32cli"))
        .args(opts)
        .args(["--format", "clamscan", "--no-summary", "-d"])
        .arg(db)
        .args(files)));
    theirs.into_iter().zip(ours).collect()
}

/// Asserts that clamscan says `theirs` of each file and nod32cli the
/// same, or `ours` where given: where the walk stopped at a limit or at
/// damage, nod32cli says the file was not wholly scanned, clamscan `OK`.
fn agree(db: &Path, files: &[(PathBuf, &str, Option<&str>)], opts: &[&str]) {
    let paths: Vec<PathBuf> = files.iter().map(|f| f.0.clone()).collect();
    if let Ok(keep) = std::env::var("NOD32_HWP_KEEP") {
        for p in &paths {
            std::fs::copy(p, Path::new(&keep).join(p.file_name().unwrap()))
                .unwrap();
        }
    }
    for ((t, o), (f, theirs, ours)) in
        verdicts(db, &paths, opts).into_iter().zip(files)
    {
        let f = f.display();
        assert_eq!(t, *theirs, "clamscan on {f}");
        assert_eq!(o, ours.unwrap_or(theirs), "nod32cli on {f}");
    }
}

/// nod32cli's word on a file whose walk stopped at MaxFileSize.
const LIMIT: &str = "Not scanned (limit MaxFileSize exceeded) ERROR";

/// nod32cli's word on a document whose content is encrypted (clamscan
/// scans it as it is and says `OK`).
const ENCRYPTED: &str = "Not scanned (encrypted) ERROR";

fn md5_line(data: &[u8], name: &str) -> String {
    use md5::Digest;
    format!("{}:{}:{name}\n", hex(&md5::Md5::digest(data)), data.len())
}

fn eicar_db(dir: &Path) {
    std::fs::write(
        dir.join("e.ndb"),
        format!("Local.Eicar.Test:0:*:{}\n", hex(&eicar()[..40])),
    )
    .unwrap();
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    );
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// An OLE2 compound file holding `streams` (path, bytes).
fn compound(streams: &[(&str, &[u8])]) -> Vec<u8> {
    let mut f = cfb::CompoundFile::create_with_version(
        cfb::Version::V3,
        Cursor::new(Vec::new()),
    )
    .unwrap();
    for (path, data) in streams {
        let parent = &path[..path.rfind('/').unwrap()];
        if !parent.is_empty() {
            f.create_storage_all(parent).unwrap();
        }
        f.create_stream(path).unwrap().write_all(data).unwrap();
    }
    f.flush().unwrap();
    f.into_inner().into_inner()
}

/// HWP 5's `FileHeader`: the signature padded to 32 bytes, the version
/// (5.0.3.0), the flags (bit 0: compressed, bit 1: password), reserved.
fn file_header(flags: u32) -> Vec<u8> {
    let mut h = b"HWP Document File".to_vec();
    h.resize(32, 0);
    h.extend(0x0500_0300u32.to_le_bytes());
    h.extend(flags.to_le_bytes());
    h.resize(256, 0);
    h
}

/// An HWP 5 document: a header with `flags`, a `DocInfo`, one body
/// section and the binary items, each deflated when `flags` says so.
fn hwp5(flags: u32, section: &[u8], bins: &[(&str, &[u8])]) -> Vec<u8> {
    let pack = |d: &[u8]| if flags & 1 != 0 { deflate(d) } else { d.to_vec() };
    let header = file_header(flags);
    let docinfo = pack(&[0x10, 0, 0, 0, 0x1a, 0, 0, 0].repeat(8));
    let section = pack(section);
    let mut streams: Vec<(String, Vec<u8>)> = vec![
        ("/FileHeader".into(), header),
        ("/DocInfo".into(), docinfo),
        ("/BodyText/Section0".into(), section),
        (
            "/PrvText".into(),
            "미리보기".encode_utf16().flat_map(u16::to_le_bytes).collect(),
        ),
    ];
    for (name, data) in bins {
        streams.push((format!("/BinData/{name}"), pack(data)));
    }
    let refs: Vec<(&str, &[u8])> =
        streams.iter().map(|(p, d)| (p.as_str(), &d[..])).collect();
    compound(&refs)
}

/// A paragraph text record of HWP 5 (tag 67) holding `text` in UTF-16.
fn para_text(text: &str) -> Vec<u8> {
    let body: Vec<u8> =
        text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let header = 67u32 | (body.len() as u32) << 20;
    [header.to_le_bytes().to_vec(), body].concat()
}

#[test]
fn hwp5_streams_inflated_as_clamscan_inflates_them() {
    let dir = tempfile::tempdir().unwrap();
    let put = |name: &str, data: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        p
    };
    let section = para_text("nod32 hwp5 section marker 20240601");
    let picture = b"\x89PNG\r\n\x1a\n not really a picture, a marker".to_vec();
    // The OLE object HWP embeds: its size, then a compound file.
    let inner = compound(&[("/Contents", &eicar())]);
    let mut object = (inner.len() as u32).to_le_bytes().to_vec();
    object.extend(&inner);
    let files = [
        (
            put(
                "eicar-bin.hwp",
                &hwp5(1, &section, &[("BIN0001.com", &eicar())]),
            ),
            "Local.Eicar.Test FOUND",
            None,
        ),
        (
            put(
                "eicar-ole.hwp",
                &hwp5(1, &section, &[("BIN0002.OLE", &object)]),
            ),
            "Local.Eicar.Test FOUND",
            None,
        ),
        // Stored (no compressed flag): EICAR as it is.
        (
            put(
                "stored.hwp",
                &hwp5(0, &section, &[("BIN0001.com", &eicar())]),
            ),
            "Local.Eicar.Test FOUND",
            None,
        ),
        // The password flag: the streams are scanned as they are, and
        // EICAR deflated is not EICAR; nod32cli says it read none of them.
        (
            put(
                "password.hwp",
                &hwp5(3, &section, &[("BIN0001.com", &eicar())]),
            ),
            "OK",
            Some(ENCRYPTED),
        ),
        (
            put(
                "marker.hwp",
                &hwp5(1, &section, &[("BIN0003.png", &picture)]),
            ),
            "OK",
            None,
        ),
    ];
    let db = tempfile::tempdir().unwrap();
    eicar_db(db.path());
    agree(db.path(), &files, &[]);
    // The markers are found by their MD5 only once inflated.
    let db = tempfile::tempdir().unwrap();
    std::fs::write(
        db.path().join("m.hdb"),
        md5_line(&section, "Local.Hwp5.Section")
            + &md5_line(&picture, "Local.Hwp5.Picture"),
    )
    .unwrap();
    let stored = put(
        "marker-stored.hwp",
        &hwp5(0, b"nothing", &[("BIN0003.png", &picture)]),
    );
    agree(
        db.path(),
        &[
            // One marker a file: the tools walk the directory in orders
            // of their own.
            (
                put("section.hwp", &hwp5(1, &section, &[])),
                "Local.Hwp5.Section FOUND",
                None,
            ),
            (
                put(
                    "picture.hwp",
                    &hwp5(1, b"x", &[("BIN0003.png", &picture)]),
                ),
                "Local.Hwp5.Picture FOUND",
                None,
            ),
            // Stored, the picture is found as it is.
            (stored, "Local.Hwp5.Picture FOUND", None),
            // Deflated under a password flag: neither.
            (
                put(
                    "marker-password.hwp",
                    &hwp5(3, &section, &[("BIN0003.png", &picture)]),
                ),
                "OK",
                Some(ENCRYPTED),
            ),
        ],
        &[],
    );
    // Container rules: the inflated section's parent is the compound
    // file (CL_TYPE_MSOLE2); the embedded object's (the prefixed OLE2)
    // is CL_TYPE_HWPOLE2.
    let db = tempfile::tempdir().unwrap();
    std::fs::write(
        db.path().join("c.ldb"),
        format!(
            "Local.Hwp5.InOle2;Engine:81-255,Container:CL_TYPE_MSOLE2,Target:0;0;{}\n\
             Local.Hwp5.InHwpOle2;Engine:81-255,Container:CL_TYPE_HWPOLE2,Target:0;0;d0cf11e0a1b11ae1\n",
            hex("section marker".encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>().as_slice()),
        ),
    )
    .unwrap();
    agree(
        db.path(),
        &[
            (files[4].0.clone(), "Local.Hwp5.InOle2 FOUND", None),
            (
                put(
                    "object-only.hwp",
                    &hwp5(1, b"", &[("BIN0002.OLE", &object)]),
                ),
                "Local.Hwp5.InHwpOle2 FOUND",
                None,
            ),
        ],
        &[],
    );
}

#[test]
fn hwp5_bombs_end_at_the_limits() {
    let dir = tempfile::tempdir().unwrap();
    // 64 MiB of zeros, deflated to about 64 KiB, then EICAR: past
    // MaxFileSize (and MaxScanSize) it is never reached; before, found.
    let mut late = vec![0u8; 64 << 20];
    late.extend(eicar());
    let mut early = eicar();
    early.extend(vec![0u8; 64 << 20]);
    let (late_f, early_f) =
        (dir.path().join("late.hwp"), dir.path().join("early.hwp"));
    std::fs::write(&late_f, hwp5(1, b"x", &[("BIN0001.bin", &late)])).unwrap();
    std::fs::write(&early_f, hwp5(1, b"x", &[("BIN0001.bin", &early)]))
        .unwrap();
    let db = tempfile::tempdir().unwrap();
    eicar_db(db.path());
    let started = Instant::now();
    for (opts, limit) in [
        (["--max-filesize=2M", "--max-scansize=4M"], LIMIT),
        (
            ["--max-filesize=200M", "--max-scansize=3M"],
            "Not scanned (limit MaxScanSize exceeded) ERROR",
        ),
    ] {
        let files = [
            (late_f.clone(), "OK", Some(limit)),
            (early_f.clone(), "Local.Eicar.Test FOUND", None),
        ];
        agree(db.path(), &files, &opts);
    }
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// An HWP 3 document body: no fonts or styles, one paragraph of `text`
/// (a long header, then the text in 16-bit characters and the end
/// mark), the list's empty paragraph, the information blocks (id,
/// bytes) and their terminator.
fn hwp3_body(text: &str, blocks: &[(u32, &[u8])]) -> Vec<u8> {
    let mut b = vec![0u8; 16];
    let chars: Vec<u16> = text.encode_utf16().collect();
    let mut p = vec![0u8; 230];
    p[1..3].copy_from_slice(&(chars.len() as u16 + 1).to_le_bytes());
    b.extend(p);
    for c in chars {
        b.extend(c.to_le_bytes());
    }
    b.extend(13u16.to_le_bytes());
    b.extend([0u8; 43]);
    for (id, data) in blocks {
        b.extend(id.to_le_bytes());
        b.extend((data.len() as u32).to_le_bytes());
        b.extend(*data);
    }
    b.extend([0u8; 8]);
    b
}

/// An HWP 3 document: the identity, the document information (byte
/// 124: compressed), the summary, then the body (deflated if so).
fn hwp3(compressed: bool, body: &[u8]) -> Vec<u8> {
    let mut d = b"HWP Document File V3.00 \x1a\x01\x02\x03\x04\x05".to_vec();
    let mut info = [0u8; 128];
    info[124] = compressed.into();
    d.extend(info);
    let mut summary = [0u8; 1008];
    for (i, c) in "nod32 test".encode_utf16().enumerate() {
        summary[2 * i..2 * i + 2].copy_from_slice(&c.to_le_bytes());
    }
    d.extend(summary);
    d.extend(if compressed { deflate(body) } else { body.to_vec() });
    d
}

#[test]
fn hwp3_documents_read_as_clamscan_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let put = |name: &str, data: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        p
    };
    let mut image = vec![b'n'; 32];
    image.extend(eicar());
    let clean =
        hwp3_body("nod32 hwp3 body marker", &[(2, b"a harmless OLE object")]);
    // A block claiming 4 GiB before the one with EICAR.
    let mut lying = hwp3_body("lies", &[]);
    lying.truncate(lying.len() - 8);
    lying.extend(2u32.to_le_bytes());
    lying.extend(u32::MAX.to_le_bytes());
    lying.extend(eicar());
    let db = tempfile::tempdir().unwrap();
    eicar_db(db.path());
    let mut files = Vec::new();
    for compressed in [false, true] {
        let z = if compressed { "z" } else { "s" };
        files.extend([
            (
                put(
                    &format!("ole-{z}.hwp"),
                    &hwp3(compressed, &hwp3_body("x", &[(2, &eicar())])),
                ),
                "Local.Eicar.Test FOUND",
                None,
            ),
            (
                put(
                    &format!("image-{z}.hwp"),
                    &hwp3(compressed, &hwp3_body("x", &[(1, &image)])),
                ),
                "Local.Eicar.Test FOUND",
                None,
            ),
            (
                put(
                    &format!("unknown-{z}.hwp"),
                    &hwp3(compressed, &hwp3_body("x", &[(0x77, &eicar())])),
                ),
                "Local.Eicar.Test FOUND",
                None,
            ),
            (
                put(&format!("clean-{z}.hwp"), &hwp3(compressed, &clean)),
                "OK",
                None,
            ),
        ]);
    }
    // A password: ClamAV reads no further than the document
    // information; EICAR deflated behind it is hidden from both.
    let mut locked = hwp3(true, &hwp3_body("x", &[(2, &eicar())]));
    locked[30 + 96] = 1;
    files.push((put("password-z.hwp", &locked), "OK", Some(ENCRYPTED)));
    // Deflated, a lie about a block's length hides EICAR from both.
    files.push((
        put("lying-z.hwp", &hwp3(true, &lying)),
        "OK",
        Some("Not scanned (malformed HWP3) ERROR"),
    ));
    agree(db.path(), &files, &[]);
    // The body, inflated, by its MD5; a container rule on the type.
    let db = tempfile::tempdir().unwrap();
    std::fs::write(
        db.path().join("m.hdb"),
        md5_line(&clean, "Local.Hwp3.Body"),
    )
    .unwrap();
    agree(
        db.path(),
        &[
            (files[7].0.clone(), "Local.Hwp3.Body FOUND", None),
            (files[3].0.clone(), "Local.Hwp3.Body FOUND", None),
        ],
        &[],
    );
    let db = tempfile::tempdir().unwrap();
    std::fs::write(
        db.path().join("c.ldb"),
        format!(
            "Local.Hwp3.Object;Engine:81-255,Container:CL_TYPE_HWP3,Target:0;0;{}\n",
            hex(b"a harmless OLE object")
        ),
    )
    .unwrap();
    agree(
        db.path(),
        &[(files[7].0.clone(), "Local.Hwp3.Object FOUND", None)],
        &[],
    );
}

#[test]
fn hwp3_bomb_ends_at_the_limits() {
    let dir = tempfile::tempdir().unwrap();
    // 64 MiB of zeros, then EICAR, in one information block.
    let mut block = vec![0u8; 64 << 20];
    block.extend(eicar());
    let body = hwp3_body("x", &[(0x77, &block)]);
    let f = dir.path().join("bomb.hwp");
    std::fs::write(&f, hwp3(true, &body)).unwrap();
    let db = tempfile::tempdir().unwrap();
    eicar_db(db.path());
    let started = Instant::now();
    agree(
        db.path(),
        &[(f.clone(), "OK", Some(LIMIT))],
        &["--max-filesize=2M"],
    );
    agree(
        db.path(),
        &[(f, "Local.Eicar.Test FOUND", None)],
        &["--max-filesize=100M", "--max-scansize=100M"],
    );
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// An HWPML document with `bindata` (attributes, text) in its tail.
fn hwpml(bindata: &[(&str, String)]) -> Vec<u8> {
    let mut d = String::from(
        "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\" ?>\
         <HWPML Version=\"2.8\" SubVersion=\"8.0.0.0\" Style2=\"embed\">\
         <HEAD SecCnt=\"1\"><DOCSUMMARY><TITLE>nod32 test</TITLE></DOCSUMMARY></HEAD>\
         <BODY><SECTION Id=\"0\"><P><TEXT><CHAR>hello</CHAR></TEXT></P></SECTION></BODY>\
         <TAIL><BINDATASTORAGE>\n",
    );
    for (i, (attrs, text)) in bindata.iter().enumerate() {
        d += &format!("<BINDATA Id=\"{}\" {attrs}>{text}</BINDATA>\n", i + 1);
    }
    d += "</BINDATASTORAGE></TAIL></HWPML>\n";
    d.into_bytes()
}

#[test]
fn hwpml_bindata_as_clamscan_decodes_it() {
    let dir = tempfile::tempdir().unwrap();
    let put = |name: &str, data: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        p
    };
    // In lines, each ended, as HWP writes it.
    let b64 = |d: &[u8]| base64_lines(d, "\n") + "\n";
    let one_line = |d: &[u8]| base64_lines(d, "");
    let marker = b"nod32 hwpml embedded marker 0123456789".repeat(4);
    let db = tempfile::tempdir().unwrap();
    eicar_db(db.path());
    std::fs::write(
        db.path().join("m.hdb"),
        md5_line(&marker, "Local.Hwpml.Marker"),
    )
    .unwrap();
    // EICAR as base64 only: the raw scan cannot see it.
    let files = [
        (
            put("b64.hml", &hwpml(&[("Encoding=\"Base64\"", b64(&eicar()))])),
            "Local.Eicar.Test FOUND",
            None,
        ),
        (
            put(
                "deflated.hml",
                &hwpml(&[(
                    "Size=\"68\" Encoding=\"Base64\" Compress=\"true\"",
                    b64(&deflate(&eicar())),
                )]),
            ),
            "Local.Eicar.Test FOUND",
            None,
        ),
        (
            put(
                "marker.hml",
                &hwpml(&[(
                    "Encoding=\"Base64\" Compress=\"true\"",
                    b64(&deflate(&marker)),
                )]),
            ),
            "Local.Hwpml.Marker FOUND",
            None,
        ),
        // Said compressed but not: ClamAV's walk ends there, the EICAR
        // after it unread.
        (
            put(
                "broken.hml",
                &hwpml(&[
                    (
                        "Encoding=\"Base64\" Compress=\"true\"",
                        b64(b"\xff\xffnot deflate"),
                    ),
                    ("Encoding=\"Base64\"", b64(&eicar())),
                ]),
            ),
            "OK",
            Some("Not scanned (malformed HWP) ERROR"),
        ),
        // The root element past the first KiB: text, not HWPML (the raw
        // scan's match of the pattern is at offset 0, which clamscan
        // does not act on), and the base64 is not decoded.
        (
            put("late-root.hml", &{
                let d = hwpml(&[("Encoding=\"Base64\"", b64(&eicar()))]);
                let at = memchr::memmem::find(&d, b"<HWPML").unwrap();
                let pad = format!("<!-- {} -->\n", "padding ".repeat(200));
                [&d[..at], pad.as_bytes(), &d[at..]].concat()
            }),
            "OK",
            None,
        ),
        // Base64 on one line without a break decodes to nothing in
        // ClamAV (OpenSSL's line mode): plain, the walk goes on...
        (
            put(
                "one-line.hml",
                &hwpml(&[
                    ("Encoding=\"Base64\"", one_line(&marker)),
                    ("Encoding=\"Base64\"", b64(&eicar())),
                ]),
            ),
            "Local.Eicar.Test FOUND",
            None,
        ),
        // ...said compressed, nothing to inflate ends it.
        (
            put(
                "one-line-deflated.hml",
                &hwpml(&[
                    (
                        "Encoding=\"Base64\" Compress=\"true\"",
                        one_line(&deflate(&marker)),
                    ),
                    ("Encoding=\"Base64\"", b64(&eicar())),
                ]),
            ),
            "OK",
            Some("Not scanned (malformed HWP) ERROR"),
        ),
    ];
    agree(db.path(), &files, &[]);
    let db = tempfile::tempdir().unwrap();
    std::fs::write(
        db.path().join("c.ldb"),
        format!(
            "Local.Hwpml.Inside;Engine:81-255,Container:CL_TYPE_XML_HWP,Target:0;0;{}\n",
            hex(b"hwpml embedded marker")
        ),
    )
    .unwrap();
    agree(
        db.path(),
        &[(files[2].0.clone(), "Local.Hwpml.Inside FOUND", None)],
        &[],
    );
}
