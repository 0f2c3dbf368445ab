//! HTML normalisation against clamscan's own: the HTML parts of the
//! SpamAssassin corpus (real mail HTML, much of it hostile) are scanned by
//! clamscan with `--leave-temps`, which keeps the `nocomment.html` and
//! `notags.html` it made of each page; pieces of those files become
//! target-type-3 signatures, and nod32cli must find each page clamscan
//! finds, with the same name.

use std::path::{Path, PathBuf};
use std::process::Command;

use nod32_tests::{bin, files_under, hex, parse_clamscan, peer, run};

const CORPORA: &str = "/var/lib/nod32-test/corpora";

/// The decoded text/html parts of the corpus's spam, up to `max`.
fn html_parts(max: usize, out: &Path) -> Vec<PathBuf> {
    let dir = Path::new(CORPORA).join("spam-assassin/package/data/spam-2");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|_| {
            panic!("{} missing: cargo xtask install-peers", dir.display())
        })
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    names.sort();
    let mut files = Vec::new();
    for p in names {
        let raw = std::fs::read(&p).unwrap();
        let Ok(m) = mailparse::parse_mail(&raw) else { continue };
        let mut stack = vec![&m];
        while let Some(part) = stack.pop() {
            stack.extend(part.subparts.iter());
            if part.ctype.mimetype != "text/html" {
                continue;
            }
            let Ok(body) = part.get_body_raw() else { continue };
            // Pages that start like HTML, so that both type them as HTML.
            if body.len() < 200 || !body.trim_ascii_start().starts_with(b"<") {
                continue;
            }
            let f = out.join(format!("p{:04}.html", files.len()));
            std::fs::write(&f, body).unwrap();
            files.push(f);
        }
        if files.len() >= max {
            break;
        }
    }
    files
}

/// clamscan's normalised forms of each page, from `--leave-temps`.
fn clamav_forms(files: &[PathBuf], tmp: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let db = tmp.join("db");
    std::fs::create_dir_all(&db).unwrap();
    std::fs::write(
        db.join("x.ndb"),
        "Nothing.Here:0:*:00112233445566778899\n",
    )
    .unwrap();
    let temps = tmp.join("temps");
    std::fs::create_dir_all(&temps).unwrap();
    let o = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "--leave-temps", "--tempdir"])
        .arg(&temps)
        .arg("-d")
        .arg(&db)
        .args(files));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut forms = Vec::new();
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        // <temps>/<date>-<name>.<id>/.../nocomment.html
        let top = std::fs::read_dir(&temps)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .contains(&format!("-{name}."))
            })
            .unwrap_or_else(|| panic!("no clamscan temp dir for {name}"));
        let under = files_under(&top);
        let find = |file: &str| -> Vec<u8> {
            under
                .iter()
                .find(|p| p.file_name().unwrap() == file)
                .map(|p| std::fs::read(p).unwrap())
                .unwrap_or_default()
        };
        forms.push((find("nocomment.html"), find("notags.html")));
    }
    forms
}

#[test]
fn target_3_signatures_see_what_clamscan_normalises() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("pages");
    std::fs::create_dir(&pages).unwrap();
    let files = html_parts(600, &pages);
    assert!(files.len() >= 500, "only {} HTML parts found", files.len());
    let forms = clamav_forms(&files, dir.path());
    // Four signatures per page, each in its own database so that every
    // run asks one question: two pieces of nocomment.html, two of
    // notags.html, each 20 bytes, unique among the pages.
    let mut dbs = vec![String::new(); 4];
    let mut asked = 0;
    for (i, (nc, nt)) in forms.iter().enumerate() {
        for (k, (form, at)) in
            [(nc, 1), (nc, 2), (nt, 1), (nt, 2)].into_iter().enumerate()
        {
            if form.len() < 60 {
                continue;
            }
            let start = form.len() * at / 3 - 10;
            let piece = &form[start..start + 20];
            let unique = forms
                .iter()
                .filter(|(a, b)| {
                    memchr::memmem::find(a, piece).is_some()
                        || memchr::memmem::find(b, piece).is_some()
                })
                .count()
                == 1;
            if unique {
                dbs[k] += &format!("Test.Html.{k}.{i}:3:*:{}\n", hex(piece));
                asked += 1;
            }
        }
    }
    let (mut agree, mut found) = (0, 0);
    let mut differ = Vec::new();
    for (k, db) in dbs.iter().enumerate() {
        let d = dir.path().join(format!("db{k}"));
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("h.ndb"), db).unwrap();
        let t = run(Command::new(peer("clamscan", "clamav"))
            .args(["--no-summary", "-d"])
            .arg(&d)
            .args(&files));
        let o = run(Command::new(bin("nod32cli"))
            .args(["--format", "clamscan", "--no-summary", "-d"])
            .arg(&d)
            .args(&files));
        let t = parse_clamscan(&String::from_utf8_lossy(&t.stdout));
        let o = parse_clamscan(&String::from_utf8_lossy(&o.stdout));
        assert_eq!(t.len(), files.len());
        for ((f, theirs), (_, ours)) in t.iter().zip(&o) {
            found += usize::from(theirs.is_some());
            if theirs == ours {
                agree += 1;
            } else {
                differ.push(format!(
                    "{f}: clamscan {theirs:?}, nod32cli {ours:?}"
                ));
            }
        }
    }
    println!(
        "{} pages, {asked} signatures from clamscan's normalised forms: clamscan finds {found}, nod32cli agrees on {agree} of {} verdicts",
        files.len(),
        files.len() * 4
    );
    for d in &differ {
        println!("  differs: {d}");
    }
    assert!(
        found * 10 >= asked * 9,
        "clamscan itself finds only {found} of {asked}"
    );
    assert!(differ.is_empty(), "{} verdicts differ", differ.len());
}

/// Pages in UTF-16 and UCS-4, as Windows tools save them and as mail
/// carries them to hide a page from byte signatures: ClamAV reads a
/// little-endian page (its byte pairs folded) and one whose byte order
/// mark names its encoding as HTML; nod32cli must agree with it file by
/// file, for an HTML (target 3) signature and for generic ones on the
/// text and on the script.
#[test]
fn wide_encoded_pages_are_read_as_clamscan_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let page = "<html><body><script>var nod32widemarker = 1;</script>\
                <p>Hello wide page marker</p></body></html>\n";
    let le: Vec<u8> = page.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let be: Vec<u8> = page.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let ucs4: Vec<u8> =
        page.chars().flat_map(|c| (c as u32).to_be_bytes()).collect();
    let forms: Vec<(&str, Vec<u8>)> = vec![
        ("plain.html", page.as_bytes().to_vec()),
        ("utf16le.html", le.clone()),
        ("utf16le-bom.html", [&[0xff, 0xfe][..], &le].concat()),
        ("utf16be.html", be.clone()),
        ("utf16be-bom.html", [&[0xfe, 0xff][..], &be].concat()),
        ("ucs4be-bom.html", [&[0, 0, 0xfe, 0xff][..], &ucs4].concat()),
    ];
    for (name, bytes) in &forms {
        std::fs::write(files.join(name), bytes).unwrap();
    }
    // The little-endian page as a mail attachment.
    let mail = format!(
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: page\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nsee the page\r\n\
         --b\r\nContent-Type: text/html; charset=utf-16le\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        nod32_tests::base64(&le)
    );
    std::fs::write(files.join("utf16le.eml"), mail).unwrap();

    let mut found_html = 0;
    for (sig, target) in [
        ("hello wide page marker", 3),
        ("Hello wide page marker", 0),
        ("var nod32widemarker", 0),
    ] {
        let db = dir.path().join(format!("w{target}-{}.ndb", sig.len()));
        std::fs::write(
            &db,
            format!("Wide-Marker:{target}:*:{}\n", hex(sig.as_bytes())),
        )
        .unwrap();
        let clam = run(Command::new(peer("clamscan", "clamav"))
            .args(["--no-summary", "--disable-cache", "-d"])
            .arg(&db)
            .arg(&files));
        let ours = run(Command::new(bin("nod32cli"))
            .args(["--format", "clamscan", "--no-summary", "-d"])
            .arg(&db)
            .arg(&files));
        let theirs = parse_clamscan(&String::from_utf8_lossy(&clam.stdout));
        let mine = parse_clamscan(&String::from_utf8_lossy(&ours.stdout));
        assert_eq!(theirs.len(), forms.len() + 1, "{theirs:?}");
        assert_eq!(mine, theirs, "signature {sig:?} (target {target})");
        if target == 3 {
            found_html = theirs.iter().filter(|(_, v)| v.is_some()).count();
        }
    }
    // The oracle reads every page but the big-endian one without a mark
    // as HTML: the test covers both of ClamAV's ways.
    assert_eq!(found_html, forms.len(), "plain, 4 wide pages and the mail");
}

/// Scripts made by Microsoft's Script Encoder (`.jse`, `.vbe`; written
/// here by `tests/data/screnc/encode.py`, as no Debian package has the
/// encoder): decoded and scanned as the page ClamAV makes of them, so a
/// signature on the normalised script finds the same files as clamscan,
/// attached to mail too; the encoded bytes alone hold no marker.
#[test]
fn encoded_scripts_are_decoded_as_clamscan_decodes_them() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let script = dir.path().join("dropper.js");
    std::fs::write(
        &script,
        "var nod32encodedmarker = new ActiveXObject(\"WScript.Shell\");\r\n\
         nod32encodedmarker.Run(\"cmd /c echo <b>@</b>\");\n",
    )
    .unwrap();
    let clean = dir.path().join("hello.vbs");
    std::fs::write(&clean, "MsgBox \"hello\"\r\n").unwrap();
    let encode =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/screnc/encode.py");
    for (src, out) in [(&script, "dropper.jse"), (&clean, "hello.vbe")] {
        let made = run(Command::new("/usr/bin/python3")
            .arg(&encode)
            .arg(src)
            .arg(files.join(out)));
        assert!(made.status.success(), "{made:?}");
    }
    let jse = std::fs::read(files.join("dropper.jse")).unwrap();
    assert!(jse.starts_with(b"#@~^"));
    assert!(!jse.windows(7).any(|w| w == b"Activex" || w == b"ActiveX"));
    let mail = format!(
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: invoice\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
         --b\r\nContent-Type: application/octet-stream; name=\"invoice.jse\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        nod32_tests::base64_lines(&jse, "\r\n")
    );
    std::fs::write(files.join("invoice.eml"), mail).unwrap();

    for (sig, want) in [
        // The script as ClamAV's normaliser writes it: lowered, its
        // white space gone.
        ("varnod32encodedmarker=newactivexobject(\"wscript.shell\");", 2),
        ("msgbox\"hello\"", 1),
    ] {
        let db = dir.path().join(format!("s{}.ndb", sig.len()));
        std::fs::write(
            &db,
            format!("Encoded-Marker:0:*:{}\n", hex(sig.as_bytes())),
        )
        .unwrap();
        let clam = run(Command::new(peer("clamscan", "clamav"))
            .args(["--no-summary", "--disable-cache", "-d"])
            .arg(&db)
            .arg(&files));
        let ours = run(Command::new(bin("nod32cli"))
            .args(["--format", "clamscan", "--no-summary", "-d"])
            .arg(&db)
            .arg(&files));
        let theirs = parse_clamscan(&String::from_utf8_lossy(&clam.stdout));
        let mine = parse_clamscan(&String::from_utf8_lossy(&ours.stdout));
        assert_eq!(theirs.len(), 3, "{theirs:?}");
        assert_eq!(mine, theirs, "signature {sig:?}");
        let found = theirs.iter().filter(|(_, v)| v.is_some()).count();
        assert_eq!(found, want, "{sig:?}: {theirs:?}");
    }
}

/// Pages with script-encoded blocks (`<script language="JScript.Encode">`
/// and VBScript's): clamscan decodes each where it stands and normalises
/// the script as the page's own; pieces of its `nocomment.html` become
/// target-3 signatures that nod32cli must find in the same pages, a
/// block cut by ClamAV's 8 KiB reads, two blocks, a script tag with no
/// block and a clean page included.
#[test]
fn encoded_blocks_in_pages_read_as_clamscan_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("pages");
    std::fs::create_dir(&pages).unwrap();
    let encode_py =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/screnc/encode.py");
    let encode = |script: &str| -> String {
        let src = dir.path().join("script.txt");
        let out = dir.path().join("script.enc");
        std::fs::write(&src, script).unwrap();
        let made = run(Command::new("/usr/bin/python3")
            .arg(&encode_py)
            .arg(&src)
            .arg(&out));
        assert!(made.status.success(), "{made:?}");
        String::from_utf8(std::fs::read(&out).unwrap()).unwrap()
    };
    let js = "var nod32pageblock = new ActiveXObject('WScript.Shell');\r\n\
              nod32pageblock.Run(\"cmd /c <b>@echo</b> off\"); // <!-- no comment -->\n";
    let vbs = "Set nod32Shell = CreateObject(\"WScript.Shell\")\r\nnod32Shell.Run \"calc\"\r\n";
    let block = encode(js);
    let vblock = encode(vbs);
    let filler =
        "<p>Lorem ipsum dolor sit amet, consectetur adipiscing.</p>\n"
            .repeat(140);
    let page = |body: &str| {
        format!(
            "<html><head><title>Invoice</title></head><body>\n{body}\n</body></html>\n"
        )
    };
    let forms: Vec<(&str, String)> = vec![
        (
            "jscript.html",
            page(&format!(
                "<script language=\"JScript.Encode\">{block}</script>"
            )),
        ),
        (
            "vbscript.html",
            page(&format!(
                "<SCRIPT LANGUAGE=VBScript.Encode type=\"text/vbscript\">\n{vblock}\n</SCRIPT>"
            )),
        ),
        (
            "split.html",
            page(&format!(
                "{filler}<script language=\"jscript.encode\">{block}</script><p>after</p>"
            )),
        ),
        (
            "two.html",
            page(&format!(
                "<script language=\"JScript.Encode\">{block}</script><p>between</p><script language=\"VBScript.Encode\">{vblock}</script>"
            )),
        ),
        (
            "noblock.html",
            page(
                "<script language=\"JScript.Encode\">var Plain = 1;</script><p>Text After</p>",
            ),
        ),
        (
            "plain.html",
            page("<script language=\"javascript\">var plain = 2;</script>"),
        ),
    ];
    let mut files = Vec::new();
    for (name, body) in &forms {
        let f = pages.join(name);
        std::fs::write(&f, body).unwrap();
        files.push(f);
    }
    let ours = clamav_forms(&files, dir.path());
    // Five 24-byte pieces of each page's nocomment.html, one database
    // per position.
    let mut dbs = vec![String::new(); 5];
    for (i, (nc, _)) in ours.iter().enumerate() {
        assert!(
            nc.len() >= 100,
            "{}: {}",
            forms[i].0,
            String::from_utf8_lossy(nc)
        );
        for (k, db) in dbs.iter_mut().enumerate() {
            let start = (nc.len() - 24) * k / 4;
            *db +=
                &format!("Page.{i}.{k}:3:*:{}\n", hex(&nc[start..start + 24]));
        }
    }
    let decoded = String::from_utf8_lossy(&ours[0].0).to_string();
    assert!(
        decoded.contains(
            "varnod32pageblock=newactivexobject(\"wscript.shell\");"
        ),
        "clamscan decodes the block: {decoded}"
    );
    for (k, db) in dbs.iter().enumerate() {
        let d = dir.path().join(format!("blocks{k}"));
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("b.ndb"), db).unwrap();
        let t = run(Command::new(peer("clamscan", "clamav"))
            .args(["--no-summary", "--disable-cache", "-d"])
            .arg(&d)
            .args(&files));
        let o = run(Command::new(bin("nod32cli"))
            .args(["--format", "clamscan", "--no-summary", "-d"])
            .arg(&d)
            .args(&files));
        let t = parse_clamscan(&String::from_utf8_lossy(&t.stdout));
        let o = parse_clamscan(&String::from_utf8_lossy(&o.stdout));
        assert_eq!(t.len(), files.len());
        assert_eq!(o, t, "piece {k}");
        assert!(
            t.iter().all(|(_, v)| v.is_some()),
            "clamscan finds its own pieces: {t:?}"
        );
    }
}

/// ASP pages whose server script the Script Encoder made (`<%@
/// language="VBScript.Encode" %>`, then `<%#@~^…%>` blocks): clamscan
/// finds a block in each of its reads after the tag, overwrites its
/// marker, normalises the read, then decodes the block in place and
/// reads it and the rest of the read once more. `nod32cli
/// html-normalise` must write the same `nocomment.html` and
/// `notags.html`, byte for byte, for a block in the tag's read, in a
/// later read, cut by a read, two in one read (one decoded), a block
/// with a line break in it, a tag with no block, a page not encoded;
/// and a target-3 signature on the decoded script gives clamscan's
/// verdicts, on the pages and on a page mailed.
#[test]
fn asp_pages_with_encoded_blocks_normalised_as_clamscan_does() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("pages");
    std::fs::create_dir(&pages).unwrap();
    let encode_py =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/screnc/encode.py");
    let encode = |script: &str| -> String {
        let src = dir.path().join("script.txt");
        let out = dir.path().join("script.enc");
        std::fs::write(&src, script).unwrap();
        let made = run(Command::new("/usr/bin/python3")
            .arg(&encode_py)
            .arg(&src)
            .arg(&out));
        assert!(made.status.success(), "{made:?}");
        String::from_utf8(std::fs::read(&out).unwrap()).unwrap()
    };
    let vbs = "Set nod32AspShell = CreateObject(\"WScript.Shell\")\r\n\
               nod32AspShell.Run \"cmd /c del <x>\"\r\n";
    let js = "var nod32AspObj = Server.CreateObject('ADODB.Stream');\r\n";
    let vblock = encode(vbs);
    let jblock = encode(js);
    let filler = "<p>Lorem ipsum dolor sit amet, consectetur.</p>\n";
    let page = |head: &str, body: &str| {
        format!(
            "{head}\n<html><head><title>Orders</title></head><body>\n{body}\n</body></html>\n"
        )
    };
    let vb_tag = "<%@ LANGUAGE=\"VBScript.Encode\" %>";
    // The block whose marker starts 60 bytes before the first read ends.
    let cut_at = 8191 - 60 - page(vb_tag, "").len() + 30;
    let cut_fill = filler.repeat(cut_at / filler.len());
    let pad = " ".repeat(cut_at - cut_fill.len());
    let (left, right) = vblock.split_at(vblock.len() / 2);
    let forms: Vec<(&str, String)> = vec![
        (
            "vbs.html",
            page(
                vb_tag,
                &format!("<p>Before</p>\n<%{vblock}%>\n<p>After</p>"),
            ),
        ),
        (
            "jscript.html",
            page(
                "<%@ Language=JScript.Encode %>",
                &format!("<%{jblock}%><b>Done</b>"),
            ),
        ),
        (
            "later.html",
            page(
                vb_tag,
                &format!("{}<%{vblock}%><p>Tail</p>", filler.repeat(200)),
            ),
        ),
        ("cut.html", page(vb_tag, &format!("{cut_fill}{pad}<%{vblock}%>"))),
        (
            "two.html",
            page(vb_tag, &format!("<%{vblock}%><p>Mid</p><%{jblock}%>")),
        ),
        ("broken.html", page(vb_tag, &format!("<%{left}\n{right}%>"))),
        ("noblock.html", page(vb_tag, "<p>Nothing Encoded Here</p>")),
        (
            "plain.html",
            page("<%@ Language=\"VBScript\" %>", &format!("<%{vblock}%>")),
        ),
    ];
    let mut files = Vec::new();
    for (name, body) in &forms {
        let f = pages.join(name);
        std::fs::write(&f, body).unwrap();
        files.push(f);
    }
    let theirs = clamav_forms(&files, dir.path());
    for (k, f) in files.iter().enumerate() {
        let out = dir.path().join("ours").join(forms[k].0);
        let o = run(Command::new(bin("nod32cli"))
            .arg("html-normalise")
            .arg(f)
            .arg(&out));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let nocomment = std::fs::read(out.join("nocomment.html")).unwrap();
        let notags = std::fs::read(out.join("notags.html")).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&nocomment),
            String::from_utf8_lossy(&theirs[k].0),
            "{}: nocomment.html",
            forms[k].0
        );
        assert_eq!(
            String::from_utf8_lossy(&notags),
            String::from_utf8_lossy(&theirs[k].1),
            "{}: notags.html",
            forms[k].0
        );
    }
    let decoded = String::from_utf8_lossy(&theirs[0].0).to_string();
    assert!(
        decoded
            .contains("set nod32aspshell = createobject(\"wscript.shell\")"),
        "clamscan decodes the block: {decoded}"
    );
    // A signature on the decoded script, on the pages and in a mail.
    let mail = dir.path().join("page.eml");
    std::fs::write(
        &mail,
        format!(
            "From: a@example.com\r\nTo: b@example.com\r\nSubject: page\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n{}",
            forms[0].1
        ),
    )
    .unwrap();
    files.push(mail);
    let db = dir.path().join("sig");
    std::fs::create_dir(&db).unwrap();
    std::fs::write(
        db.join("asp.ndb"),
        format!(
            "Asp.Decoded:3:*:{}\n",
            hex(b"nod32aspshell.run \"cmd /c del ")
        ),
    )
    .unwrap();
    let t = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "--disable-cache", "-d"])
        .arg(&db)
        .args(&files));
    let o = run(Command::new(bin("nod32cli"))
        .args(["--format", "clamscan", "--no-summary", "-d"])
        .arg(&db)
        .args(&files));
    let t = parse_clamscan(&String::from_utf8_lossy(&t.stdout));
    let o = parse_clamscan(&String::from_utf8_lossy(&o.stdout));
    assert_eq!(o, t);
    let found: Vec<_> =
        t.iter().filter(|(_, v)| v.is_some()).map(|(f, _)| f).collect();
    assert!(found.len() >= 4, "clamscan finds the decoded script: {t:?}");
    assert!(t.iter().any(|(f, v)| f.ends_with("plain.html") && v.is_none()));
}
