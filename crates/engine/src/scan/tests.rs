use super::*;
use crate::SignatureSet;
use md5::{Digest, Md5};

const EICAR: &[u8] =
    b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

fn db(files: &[(&str, &str)]) -> Database {
    let mut s = SignatureSet::new();
    for (n, t) in files {
        s.load_bytes(n, t.as_bytes()).unwrap();
    }
    Database::from_signatures(&s).unwrap()
}

fn verdict(d: &Database, data: &[u8]) -> Verdict {
    Scanner::new(d).scan_bytes(data).verdict
}

/// `Intermediates`: the layers above, the parent last; `CL_TYPE_ANY`
/// takes none of them (ClamAV passes over it).
#[test]
fn intermediates_name_the_layers_above() {
    let mut tar = tar::Builder::new(Vec::new());
    let text = b"inter-marker-xyz here\n";
    let mut h = tar::Header::new_ustar();
    h.set_size(text.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    tar.append_data(&mut h, "m.txt", &text[..]).unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    );
    std::io::Write::write_all(&mut gz, &tar.into_inner().unwrap()).unwrap();
    let tgz = gz.finish().unwrap();
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file("a.tgz", zip::write::SimpleFileOptions::default()).unwrap();
    std::io::Write::write_all(&mut z, &tgz).unwrap();
    let zipped = z.finish().unwrap().into_inner();
    let hit = |inter: &str, data: &[u8]| {
        let line = format!(
            "I;Engine:81-255,Target:0,Intermediates:{inter};0;696e7465722d6d61726b65722d78797a\n"
        );
        verdict(&db(&[("i.ldb", line.as_str())]), data).is_infected()
    };
    assert!(hit("CL_TYPE_GZ>CL_TYPE_POSIX_TAR", &tgz));
    assert!(hit("CL_TYPE_ZIP>CL_TYPE_GZ>CL_TYPE_POSIX_TAR", &zipped));
    // The tar's own bytes hold the text too, one layer up.
    assert!(hit("CL_TYPE_ZIP>CL_TYPE_GZ", &zipped));
    assert!(!hit("CL_TYPE_ZIP>CL_TYPE_GZ", &tgz));
    assert!(!hit("CL_TYPE_ZIP>CL_TYPE_ANY>CL_TYPE_POSIX_TAR", &zipped));
    // Three layers are needed, even if one is any.
    assert!(!hit("CL_TYPE_ANY>CL_TYPE_GZ>CL_TYPE_POSIX_TAR", &tgz));
    // Any is passed over: the zip would have to be a parent.
    assert!(!hit("CL_TYPE_ZIP>CL_TYPE_ANY", &zipped));
    // The tar is two layers down: three are asked for.
    assert!(!hit("CL_TYPE_ANY>CL_TYPE_ZIP>CL_TYPE_GZ", &zipped));
    assert!(!hit("CL_TYPE_RAR", &zipped));
}

/// Signatures of an official container keep their names; those of a
/// plain file (or a `.cud`) are `NAME.UNOFFICIAL` when asked, as
/// clamscan names them, the same name in both kept apart.
#[test]
fn unofficial_signatures_are_named_as_clamscan_names_them() {
    use crate::sigs::cvd::tests::build_version;
    let mut s = SignatureSet::new();
    for (file, official) in [("daily.cvd", true), ("x.cud", false)] {
        let text: &[u8] = if official {
            b"Both:0:*:4f4646494349414c\n"
        } else {
            b"Cud:0:*:43554443554443\n"
        };
        s.load_bytes(file, &build_version(&[("d.ndb", text)], true, 5))
            .unwrap();
    }
    s.load_bytes("local.ndb", b"Both:0:*:4c4f43414c4c4f43\n").unwrap();
    let d = Database::from_signatures(&s).unwrap();
    let named = |data: &[u8], suffix: bool| match Scanner::new(&d)
        .unofficial_suffix(suffix)
        .scan_bytes(data)
        .verdict
    {
        Verdict::Infected { name, .. } => name,
        v => panic!("{v:?}"),
    };
    assert_eq!(named(b"..OFFICIAL..", true), "Both");
    assert_eq!(named(b"..LOCALLOC..", true), "Both.UNOFFICIAL");
    assert_eq!(named(b"..CUDCUDC..", true), "Cud.UNOFFICIAL");
    assert_eq!(named(b"..LOCALLOC..", false), "Both");
}

/// A container metadata rule names the member it matched, before any
/// member is scanned; an allow-listed container or an ignored rule
/// clears it.
#[test]
fn container_rules_name_the_member_before_its_content_is_scanned() {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in
        [("eicar.com", EICAR), ("dir/Invoice.JS", b"var x = 1;\n")]
    {
        z.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        std::io::Write::write_all(&mut z, data).unwrap();
    }
    let zipped = z.finish().unwrap().into_inner();
    let eicar = ("e.hdb", "44d88612fea8a8f36de82e1278abb02f:68:Eicar\n");
    let rule = ("r.cdb", "Zip.Js:CL_TYPE_ZIP:*:(?i)\\.js$:*:11:0:2:*:*\n");
    match verdict(&db(&[eicar, rule]), &zipped) {
        Verdict::Infected { name, location } => {
            assert_eq!(
                (name.as_str(), location.as_str()),
                ("Zip.Js", "dir/Invoice.JS")
            );
        }
        v => panic!("{v:?}"),
    }
    // The rule's other columns must hold too: the member is 11 bytes
    // long and second, not third.
    let third = ("r.cdb", "Zip.Js:CL_TYPE_ZIP:*:(?i)\\.js$:*:11:0:3:*:*\n");
    assert!(matches!(
        verdict(&db(&[eicar, third]), &zipped),
        Verdict::Infected { name, .. } if name == "Eicar"
    ));
    let tar = ("r.cdb", "Zip.Js:CL_TYPE_POSIX_TAR:*:\\.JS$:*:*:*:*:*:*\n");
    assert!(matches!(
        verdict(&db(&[eicar, tar]), &zipped),
        Verdict::Infected { name, .. } if name == "Eicar"
    ));
    let ignored = ("i.ign2", "Zip.Js\n");
    assert!(matches!(
        verdict(&db(&[eicar, rule, ignored]), &zipped),
        Verdict::Infected { name, .. } if name == "Eicar"
    ));
    let fp = format!("{:x}:{}:Allowed\n", HexMd5(&zipped), zipped.len());
    assert_eq!(
        verdict(&db(&[rule, ("a.fp", fp.as_str())]), &zipped),
        Verdict::Clean
    );
}

/// The description of a zip's entries stops at MaxFiles, as ClamAV's
/// index of the central directory does: a crafted archive of a million
/// entries costs no more than MaxFiles checks.
#[test]
fn container_rules_read_at_most_max_files_entries() {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for name in ["a.txt", "b.txt", "c.txt"] {
        z.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        std::io::Write::write_all(&mut z, b"content\n").unwrap();
    }
    let zipped = z.finish().unwrap().into_inner();
    let d = db(&[("r.cdb", "Third:CL_TYPE_ZIP:*:*:*:*:*:3:*:*\n")]);
    let scan = |max_files| {
        Scanner::new(&d)
            .limits(Limits { max_files, ..Limits::default() })
            .scan_bytes(&zipped)
            .verdict
    };
    assert!(scan(3).is_infected());
    assert!(!scan(2).is_infected());
}

#[test]
fn eicar_hash_in_zip_and_mail() {
    let d = db(&[(
        "e.hdb",
        "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n",
    )]);
    assert!(verdict(&d, EICAR).is_infected());
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file("eicar.com", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut z, EICAR).unwrap();
    let zipped = z.finish().unwrap().into_inner();
    match verdict(&d, &zipped) {
        Verdict::Infected { name, location } => {
            assert_eq!(name, "Eicar-Test-Signature");
            assert_eq!(location, "eicar.com");
        }
        v => panic!("{v:?}"),
    }
    let b64 = "WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo=";
    let mail = format!(
        "From: a@b\nSubject: t\nContent-Type: multipart/mixed; boundary=Q\n\n--Q\nContent-Type: text/plain\n\nhi\n--Q\nContent-Type: application/octet-stream; name=e.com\nContent-Transfer-Encoding: base64\n\n{b64}\n--Q--\n"
    );
    match verdict(&d, mail.as_bytes()) {
        Verdict::Infected { location, .. } => {
            assert_eq!(location, "part 2 \"e.com\"")
        }
        v => panic!("{v:?}"),
    }
    assert_eq!(verdict(&d, b"clean text"), Verdict::Clean);
}

fn mail_with(name: &str, ctype: &str, body: &[u8]) -> Vec<u8> {
    const A: &[u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for c in body.chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            b64.push(if i <= c.len() {
                A[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    format!(
        "From: a@b\nSubject: t\nContent-Type: multipart/mixed; boundary=Q\n\n--Q\nContent-Type: text/plain\n\nsee attached\n--Q\nContent-Type: {ctype}; name=\"{name}\"\nContent-Transfer-Encoding: base64\n\n{b64}\n--Q--\n"
    )
    .into_bytes()
}

/// An mbox of `mails`, each given a `From ` line.
fn mbox(mails: &[Vec<u8>]) -> Vec<u8> {
    let mut b = Vec::new();
    for m in mails {
        b.extend_from_slice(b"From a@b Sat Jan  1 00:00:00 2000\n");
        b.extend_from_slice(m);
        b.extend_from_slice(b"\n");
    }
    b
}

/// `mail_with` under a Message-ID.
fn mail_id(id: &str, name: &str, body: &[u8]) -> Vec<u8> {
    let mut m = format!("Message-ID: {id}\n").into_bytes();
    m.extend(mail_with(name, "application/octet-stream", body));
    m
}

fn located(r: &Report) -> Vec<(String, String, Option<usize>)> {
    r.infections
        .iter()
        .map(|i| {
            (
                i.name.clone(),
                i.location.clone(),
                i.message.as_ref().map(|m| m.number),
            )
        })
        .collect()
}

#[test]
fn mailbox_messages_are_numbered_and_each_infected_one_listed() {
    let d = db(&[("e.ndb", "E:0:*:4549434152\n")]);
    let clean = b"nothing to see here";
    let bad = b"xx EICAR xx";
    let mut zipped = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zipped
        .start_file("in.bin", zip::write::SimpleFileOptions::default())
        .unwrap();
    std::io::Write::write_all(&mut zipped, bad).unwrap();
    let zipped = zipped.finish().unwrap().into_inner();
    let mut no_id = mail_with("c.bin", "application/octet-stream", bad);
    no_id.splice(0..0, b"Subject: none\n".iter().copied());
    let boxed = mbox(&[
        mail_id("<m1@x>", "a.txt", clean),
        mail_id("<m2@x>", "b.bin", bad),
        mail_id("<m3@x>", "z.zip", &zipped),
        mail_id("<m4@x>", "d.txt", clean),
        no_id,
    ]);
    let s = Scanner::new(&d).each_message(true);
    let r = s.scan_bytes(&boxed);
    let e = |loc: &str, n| ("E".to_string(), loc.to_string(), Some(n));
    // Parts count within each message (the text part is part 1).
    assert_eq!(
        located(&r),
        [
            e("message 2 <m2@x>, part 2 \"b.bin\"", 2),
            e("message 3 <m3@x>, part 2 \"z.zip\"/in.bin", 3),
            e("message 5, part 2 \"c.bin\"", 5),
        ]
    );
    let first = Verdict::Infected {
        name: "E".into(),
        location: "message 2 <m2@x>, part 2 \"b.bin\"".into(),
    };
    assert_eq!(r.verdict, first);
    assert_eq!(
        r.infections[0].message.as_ref().unwrap().id.as_deref(),
        Some("<m2@x>")
    );
    // Without each_message: the same verdict, the first alone.
    let r = Scanner::new(&d).scan_bytes(&boxed);
    assert_eq!(r.verdict, first);
    assert_eq!(
        located(&r),
        [("E".into(), r.infections[0].location.clone(), None)]
    );
    // MaxFiles still bounds the walk: one message is found, then
    // the limit ends it.
    let r = Scanner::new(&d)
        .each_message(true)
        .limits(Limits { max_files: 4, ..Limits::default() })
        .scan_bytes(&boxed);
    assert_eq!(located(&r).len(), 1, "{:?}", r.infections);
    assert_eq!(r.verdict, first);
    // A lone message with an mbox `From ` line is not numbered.
    let one = mbox(&[mail_id("<m2@x>", "b.bin", bad)]);
    assert_eq!(
        Scanner::new(&d).each_message(true).scan_bytes(&one).verdict,
        Verdict::Infected {
            name: "E".into(),
            location: "part 2 \"b.bin\"".into()
        }
    );
    // Nor is a clean mailbox listed.
    let r = s.scan_bytes(&mbox(&[
        mail_id("<m1@x>", "a.txt", clean),
        mail_id("<m2@x>", "d.txt", clean),
    ]));
    assert_eq!((r.verdict, r.infections), (Verdict::Clean, Vec::new()));
}

#[test]
fn a_mailbox_inside_a_container_is_one_object_with_numbered_messages() {
    let d = db(&[("e.ndb", "E:0:*:4549434152\n")]);
    let boxed = mbox(&[
        mail_id("<m1@x>", "a.bin", b"xx EICAR xx"),
        mail_id("<m2@x>", "b.bin", b"xx EICAR xx"),
    ]);
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file("box", zip::write::SimpleFileOptions::default()).unwrap();
    std::io::Write::write_all(&mut z, &boxed).unwrap();
    let zipped = z.finish().unwrap().into_inner();
    let r = Scanner::new(&d).each_message(true).scan_bytes(&zipped);
    assert_eq!(
        located(&r),
        [("E".into(), "box/message 1 <m1@x>, part 2 \"a.bin\"".into(), None)]
    );
}

#[test]
fn a_message_with_only_a_heuristic_alert_is_listed_with_it() {
    let d = db(&[("e.ndb", "E:0:*:4549434152\n")]);
    let plain = b"just some text, nothing to run\n";
    let boxed = mbox(&[
        mail_id("<m1@x>", "a.txt", plain),
        mail_id("<m2@x>", "invoice.pdf.exe", plain),
        mail_id("<m3@x>", "b.bin", b"xx EICAR xx"),
        mail_id("<m4@x>", "report.doc.scr", plain),
    ]);
    let r = Scanner::new(&d).each_message(true).scan_bytes(&boxed);
    let h = "Heuristics.Mail.DoubleExtension";
    assert_eq!(
        located(&r),
        [
            (h.into(), "message 2 <m2@x>".into(), Some(2)),
            ("E".into(), "message 3 <m3@x>, part 2 \"b.bin\"".into(), Some(3)),
            (h.into(), "message 4 <m4@x>".into(), Some(4)),
        ]
    );
    // A signature outranks any alert, as in one message.
    assert!(
        matches!(&r.verdict, Verdict::Infected { name, .. } if name == "E")
    );
    // Alerts alone: the first stands for the mailbox, named.
    let boxed = mbox(&[
        mail_id("<m1@x>", "a.txt", plain),
        mail_id("<m2@x>", "invoice.pdf.exe", plain),
        mail_id("<m3@x>", "report.doc.scr", plain),
    ]);
    let r = Scanner::new(&d).each_message(true).scan_bytes(&boxed);
    assert_eq!(
        r.verdict,
        Verdict::Infected {
            name: h.into(),
            location: "message 2 <m2@x>".into()
        }
    );
    assert_eq!(r.infections.len(), 2);
}

#[test]
fn mail_heuristics_name_their_trick() {
    let d = db(&[("t.ndb", "T:0:*:0102030405060708\n")]);
    let mut pe = vec![0u8; 512];
    pe[..2].copy_from_slice(b"MZ");
    pe[0x3c] = 0x80;
    pe[0x80..0x84].copy_from_slice(b"PE\0\0");
    let name = |v: Verdict| match v {
        Verdict::Infected { name, .. } => name,
        v => format!("{v:?}"),
    };
    let plain = b"just some text, nothing to run\n";
    assert_eq!(
        name(verdict(
            &d,
            &mail_with("invoice.pdf.exe", "application/octet-stream", plain)
        )),
        "Heuristics.Mail.DoubleExtension"
    );
    assert_eq!(
        name(verdict(
            &d,
            &mail_with(
                "photo\u{202e}gpj.exe",
                "application/octet-stream",
                plain
            )
        )),
        "Heuristics.Mail.RightToLeftOverride"
    );
    assert_eq!(
        name(verdict(&d, &mail_with("holiday.jpg", "image/jpeg", &pe))),
        "Heuristics.Mail.TypeMismatch"
    );
    // A program sent as what it is alerts only when asked to.
    let setup = mail_with("setup.exe", "application/octet-stream", &pe);
    assert_eq!(verdict(&d, &setup), Verdict::Clean);
    let mut o = Options::default();
    o.heuristics.mail_executables = true;
    assert_eq!(
        name(Scanner::new(&d).options(o.clone()).scan_bytes(&setup).verdict),
        "Heuristics.Mail.Executable.PE"
    );
    // A signature outranks any heuristic in the same message.
    let mut sig = pe.clone();
    sig.extend([1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(
        name(verdict(&d, &mail_with("holiday.jpg", "image/jpeg", &sig))),
        "T"
    );
    o.heuristics.enabled = false;
    let tricky = mail_with("invoice.pdf.exe", "image/jpeg", &pe);
    assert_eq!(
        Scanner::new(&d).options(o).scan_bytes(&tricky).verdict,
        Verdict::Clean
    );
}

#[test]
fn allow_list_clears_container() {
    let d = db(&[
        ("e.ndb", "E:0:*:4549434152\n"),
        (
            "a.fp",
            &format!("{:x}:{}:Allowed\n", HexMd5(b"outer EICAR outer"), 17),
        ),
    ]);
    assert!(verdict(&d, b"xx EICAR").is_infected());
    assert_eq!(verdict(&d, b"outer EICAR outer"), Verdict::Clean);
}

struct HexMd5<'a>(&'a [u8]);
impl std::fmt::LowerHex for HexMd5<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in Md5::digest(self.0) {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// HTML hidden in a GIF is scanned as HTML, as ClamAV scans it.
#[test]
fn html_in_a_gif_is_scanned_as_html() {
    let d = db(&[("h.ndb", "H:3:*:6576696c6d61726b6572\n")]);
    let mut gif = b"GIF89a\x01\0\x01\0\0\0\0".to_vec();
    gif.extend([0u8; 40]);
    gif.extend(b"<html><script>var evilmarker = 1;</script></html>");
    assert!(verdict(&d, &gif).is_infected());
    let mut plain = b"GIF89a\x01\0\x01\0\0\0\0".to_vec();
    plain.extend(b"no markup, evilmarker");
    assert!(!verdict(&d, &plain).is_infected());
}

#[test]
fn text_target_sees_normalised_text() {
    let d = db(&[("t.ndb", "T:7:*:68656c6c6f20776f726c64\n")]);
    assert!(verdict(&d, b"Say HELLO\r\n   World now").is_infected());
    assert_eq!(verdict(&d, b"ab\x00\x01HELLO World"), Verdict::Clean);
}

#[test]
fn crafted_input_cannot_make_a_gapped_pattern_quadratic() {
    // "AB" everywhere, "CD" nowhere: every "AB" is a candidate whose
    // gap search would scan to the end.
    let d = db(&[("t.ndb", "T:0:*:4142*4344\n")]);
    let data = b"AB".repeat(2 << 20);
    let t = std::time::Instant::now();
    let v = verdict(&d, &data);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        t.elapsed()
    );
    assert!(
        matches!(
            v,
            Verdict::Clean | Verdict::Uncheckable { reason: Reason::Timeout }
        ),
        "{v:?}"
    );
    let mut hit = data.clone();
    hit.extend(b"CD");
    assert!(verdict(&d, &hit[hit.len() - 64..]).is_infected());
}

#[test]
fn a_uuencoded_file_is_decoded() {
    let d = db(&[("t.ndb", "T:0:*:41424344454647\n")]);
    // "xABCDEFGx" uuencoded.
    let uu = b"begin 644 t.bin\n)>$%\"0T1%1D=X\n`\nend\n";
    match verdict(&d, uu) {
        Verdict::Infected { location, .. } => {
            assert_eq!(location, "t.bin")
        }
        v => panic!("{v:?}"),
    }
}

#[test]
fn objects_of_five_bytes_or_less_are_ignored_as_in_clamav() {
    let d = db(&[("t.ndb", "T:0:*:6162636465\n")]);
    assert_eq!(verdict(&d, b"abcde"), Verdict::Clean);
    assert!(verdict(&d, b"abcdex").is_infected());
}

#[test]
fn limits_make_uncheckable() {
    let d = db(&[("t.ndb", "T:0:*:41424344\n")]);
    let mut e =
        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut e, &vec![b'x'; 10_000]).unwrap();
    let gz = e.finish().unwrap();
    let s = Scanner::new(&d)
        .limits(Limits { max_file_size: 1000, ..Limits::default() });
    assert_eq!(
        s.scan_bytes(&gz).verdict,
        Verdict::Uncheckable { reason: Reason::FileSizeLimit }
    );
}

/// A reversed `{n-m}` range (n > m) loads, as in clamscan, and never
/// matches: the `.ndb` signature finds nothing, the logical signature's
/// subsignature counts 0; at an end of the signature it is refused.
#[test]
fn reversed_ranges_load_and_never_match() {
    let d = db(&[
        ("r.ndb", "Rev.Ndb:0:*:4142{5-3}4344\n"),
        ("r.ldb", "Rev.Ldb;Engine:51-255,Target:0;0|1;4142{5-3}4344;7a7a7a\n"),
    ]);
    let name = |data: &[u8]| match verdict(&d, data) {
        Verdict::Infected { name, .. } => Some(name),
        _ => None,
    };
    for gap in 0..12 {
        let mut f = b"..AB".to_vec();
        f.extend(std::iter::repeat_n(b'x', gap));
        f.extend(b"CD..");
        assert_eq!(name(&f), None, "gap {gap}");
    }
    assert_eq!(name(b"..zzz..").as_deref(), Some("Rev.Ldb"));
    let mut s = SignatureSet::new();
    assert!(s.load_bytes("e.ndb", b"Rev.End:0:*:41424344{5-3}\n").is_err());
}

/// `(B)`, `(L)`, `(W)` where they stand, as clamscan 1.4.6 reads them
/// (each case checked against it): opening or closing a part they test
/// the byte beside it; anywhere else they are one byte of their class.
#[test]
fn markers_inside_a_signature_are_a_byte_of_their_class() {
    let found = |sig: &str, data: &[u8]| {
        let d = db(&[("m.ndb", &format!("Mark.Test:0:*:{sig}\n"))]);
        matches!(verdict(&d, data), Verdict::Infected { .. })
    };
    for (sig, data, hit) in [
        ("4142(B)4344", &b"zzAB CDzz"[..], true),
        ("4142(B)4344", b"zzABCDzz", false),
        ("4142(B)4344", b"zzAB\"CDzz", true),
        ("4142!(B)4344", b"zzABxCDzz", true),
        ("4142!(B)4344", b"zzABCDzz", false),
        ("4142(L)4344", b"zzAB\nCDzz", true),
        ("4142(L)4344", b"zzAB\rCDzz", false),
        ("4142(W)4344", b"zzAB\tCDzz", true),
        ("4142(L)0a4344", b"zzAB\nCDzz", false),
        ("4142{2}(B)4344", b"zzABxx CDzz", true),
        ("4142(B){2}4344", b"zzAB\" CDzz", false),
        // Opening a part after `*`: the byte before it.
        ("4142*(B)4344", b"zzABxx CDzz", true),
        ("4142*(B)4344", b"zzAB\"CDzz", false),
        // Closing a part: the byte after it.
        ("4142(B)*4344", b"zzAB\"CDzz", true),
    ] {
        assert_eq!(
            found(sig, data),
            hit,
            "{sig} on {:?}",
            data.escape_ascii().to_string()
        );
    }
}

/// An infection in a part of the input message is reported with that
/// leaf's bytes, as the MIME reader places them, behind a `From ` line
/// too; one in a forwarded message with the part that carries it; none
/// in an archive's member or in the message as a whole.
#[test]
fn infections_name_the_message_part_that_holds_them() {
    let d = db(&[
        (
            "e.hdb",
            "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n",
        ),
        ("m.ndb", "Whole.Message:4:*:5375626a6563743a2077686f6c65\n"),
    ]);
    let mut b64 = crate::mime::base64_encode(EICAR, Some("\n"));
    if !b64.ends_with('\n') {
        b64.push('\n');
    }
    let inner = format!(
        "From: c@d\nContent-Type: multipart/mixed; boundary=I\n\n--I\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n{b64}--I--\n"
    );
    for (prefix, leaf) in [
        (
            "",
            format!(
                "Content-Type: application/octet-stream; name=e.com\nContent-Transfer-Encoding: base64\n\n{b64}"
            ),
        ),
        (
            "From a@b Mon Dec  7 00:00:00 2026\n",
            format!(
                "Content-Type: application/octet-stream; name=e.com\nContent-Transfer-Encoding: base64\n\n{b64}"
            ),
        ),
        ("", format!("Content-Type: message/rfc822\n\n{inner}")),
    ] {
        let mail = format!(
            "{prefix}From: a@b\nSubject: t\nContent-Type: multipart/mixed; boundary=Q\n\n--Q\nContent-Type: text/plain\n\nhi\n--Q\n{leaf}\n--Q--\n"
        );
        let report = Scanner::new(&d).scan_bytes(mail.as_bytes());
        assert!(report.verdict.is_infected(), "{mail} {:?}", report.verdict);
        let part = report.infections[0].part.clone().expect("a part");
        let parsed = crate::mime::parse(&mail.as_bytes()[prefix.len()..]);
        let second = parsed.root.leaves()[1];
        assert_eq!(
            part,
            prefix.len() + second.start..prefix.len() + second.end,
            "{mail}"
        );
        assert!(mail[part].contains("Content-Type: "));
    }
    // Found in the message as a whole (a mail signature on its header).
    let whole = "From: a@b\nSubject: whole\nContent-Type: multipart/mixed; boundary=Q\n\n--Q\nContent-Type: text/plain\n\nhi\n--Q--\n";
    let report = Scanner::new(&d).scan_bytes(whole.as_bytes());
    assert!(report.verdict.is_infected());
    assert_eq!(report.infections[0].part, None);
}
