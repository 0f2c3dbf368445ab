//! Scripts in pages as ClamAV's JavaScript normaliser writes them: the
//! `javascript` file clamscan leaves with `--leave-temps` must be what
//! `nod32cli html-normalise` writes, byte for byte, for obfuscated
//! scripts made here and for the scripts of the SpamAssassin corpus's
//! HTML parts; and signatures cut from that file (target type 3) must
//! give the same verdicts, on the page and on the page mailed.

use std::path::{Path, PathBuf};
use std::process::Command;

use nod32_tests::{bin, files_under, hex, parse_clamscan, peer, run};

const CORPORA: &str = "/var/lib/nod32-test/corpora";

/// Pages whose scripts are obfuscated the ways ClamAV's normaliser
/// undoes, and the ways it trips.
fn obfuscated_pages() -> Vec<(String, Vec<u8>)> {
    let packed = r#"eval(function(p,a,c,k,e,d){e=function(c){return c.toString(36)};if(!''.replace(/^/,String)){while(c--){d[c.toString(a)]=k[c]||c.toString(a)}k=[function(e){return d[e]}];e=function(){return'\\w+'};c=1};while(c--){if(k[c]){p=p.replace(new RegExp('\\b'+e(c)+'\\b','g'),k[c])}}return p}('0 1=\'2\';3.4(1);',5,5,'var|nod32packed|hello|document|write'.split('|'),0,{}))"#;
    let packed62 = r#"eval(function(p,a,c,k,e,r){e=function(c){return(c<a?'':e(parseInt(c/a)))+((c=c%a)>35?String.fromCharCode(c+29):c.toString(36))};if(!''.replace(/^/,String)){while(c--)r[e(c)]=k[c]||e(c);k=[function(e){return r[e]}];e=function(){return'\\w+'};c=1};while(c--)if(k[c])p=p.replace(new RegExp('\\b'+e(c)+'\\b','g'),k[c]);return p}('a b=\'c\';d.e(b);f(g){h(\'i\')}',62,19,'||||||||||var|msg|hi|document|write|function|foo|alert|x'.split('|'),0,{}))"#;
    let named = r#"function unpk(p,a,c,k,e,d){while(c--){if(k[c]){p=p.replace(new RegExp('\\b'+c.toString(a)+'\\b','g'),k[c])}}return p} document.write(unpk('0 1',10,2,'hello|world'.split('|'),0,{}));"#;
    let scripts: Vec<(&str, String)> = vec![
        ("concat", "var s = 'ab' + \"CD\" + 'e\\'f' + x + 'g' + 'h';".into()),
        (
            "unescape",
            "document.write(unescape('%u0041%u00e9%u4e2d%3C%3e%zz%4'));\nvar y=unescape(\"%00%u0000\"); unescape('%41' + x);".into(),
        ),
        (
            "eval",
            "eval(\"var a=1;function f(b){return b+a}\");eval('eval(\\\"x=1\\\")');eval(\"a=1\");b=2".into(),
        ),
        (
            "escapes",
            "s=\"\\x41\\x4G\\xZZ\\u00411\\u12G4\\u\\x\\101\\0\\b\\t\\n\\v\\f\\r\\q\\\\\";".into(),
        ),
        (
            "nested",
            "function outer(a, b) { var c = a; function inner(d) { var e = d + c + b; return e; } var f = 1, g = 2; return inner(c); } outer(1,2); var h; h = outer;".into(),
        ),
        (
            "scopes",
            "var x = 1; function f() { x = 2; var x; y = x; } function g(x) { return function(y) { return x + y + z; }; } var z = g(1)(2); var $ = jQuery; a.$b._c".into(),
        ),
        ("regex", "var r = /ab+c\\/d[\"']/gi; x = 'q'.replace(/\\s+/g, '');".into()),
        (
            "comments",
            "/* block\n comment */ a = 1; // line comment here\nb = 2; //nospace\nc=3; <!-- x --> /* unterminated".into(),
        ),
        ("unterminated", "var s = 'abc\\'def".into()),
        ("unterminated2", "x = \"abc + (1".into()),
        (
            "numbers",
            "a = [0, 7, 1.0, .5, 1e10, 1.5e10, 1.5E-7, 99999999999999999999, 12345678901, 1.23456789, 1000000.0, 0.00001, 0x1F, 3.e2, 1.2.3];".into(),
        ),
        (
            "keywords",
            "if (a instanceof B) { return null } else while (true) do { typeof x; delete y; void 0; new Z(this) } switch(v){case 1: break; default: continue} try{throw e}catch(e){}finally{} class Function VAR".into(),
        ),
        ("identifiers", "var a\\u0062c = 1; x\\y = 2; var \\u0041 = 3; q = a\\".into()),
        ("packer", packed.into()),
        ("packer62", packed62.into()),
        ("named_packer", named.into()),
        (
            "df",
            "dF('%264Dtdsjqu%2631bmfsu%2639%2633ij%2633%263%3A%264D0tdsjqu%264F1')".into(),
        ),
        (
            "packer_after_function",
            r#"eval(function(p,a,c,k,e,d){}('0 5 2 3 7 8 \' 4',10,9,'function(){}|x|eval("z=2")|m|q|a|b|Z|y'.split('|'),0,{}))"#.into(),
        ),
    ];
    let mut pages: Vec<(String, Vec<u8>)> = scripts
        .into_iter()
        .map(|(name, js)| {
            let page = format!(
                "<html><head><title>t</title></head><body>\n<script type=\"text/javascript\">\n{js}\n</script>\n<p>after</p></body></html>\n"
            );
            (name.to_string(), page.into_bytes())
        })
        .collect();
    let mut add = |name: &str, page: String| {
        pages.push((name.to_string(), page.into_bytes()));
    };
    add(
        "open_at_end",
        "<html><body><script>var a = 1; document.write(a)".into(),
    );
    add(
        "three",
        "<html><script>var a=1;</script><p>x</p><SCRIPT language='vbscript'>Dim x\nx = 1</SCRIPT><script src='x.js'></script   ><style>p{}</style><script>c=3</style>d=4;</script></html>".into(),
    );
    add(
        "entities",
        "<html><script>if (a &amp;&amp; b &lt; c) x='&#65;';\r\n// c\r\n</script></html>".into(),
    );
    // Tokens cut by ClamAV's 8 KiB reads: a read without white space is
    // cut where it ends.
    for (k, cut) in
        ["s=\"ab\\x41cd\\u0042ef\\\"gh\"", "/*ab*/", "z=1.5e3;", "t='\\x4"]
            .iter()
            .enumerate()
    {
        for shift in [0, 3, 7, 11, 17] {
            let fill = "x=1;".repeat((8191 - 26) / 4) + &"y".repeat(shift);
            add(
                &format!("cut{k}_{shift}"),
                format!("<html><script>{fill}{cut}end=2;</script></html>"),
            );
        }
    }
    // A script that fills ClamAV's 64 KiB output buffer to its closing
    // tag: it then writes the tag again.
    for k in [2, 9] {
        let body = "b".repeat(65536 - 28 + k);
        add(
            &format!("window{k}"),
            format!("<html><script>a='{body}';</script></html>"),
        );
    }
    pages
}

/// The text/html parts of the corpus's mail that hold a script, each
/// once, up to `max`.
fn corpus_scripts(max: usize) -> Vec<(String, Vec<u8>)> {
    let data = Path::new(CORPORA).join("spam-assassin/package/data");
    let mut names: Vec<PathBuf> = files_under(&data)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    names.sort();
    assert!(
        !names.is_empty(),
        "{} missing: cargo xtask install-peers",
        data.display()
    );
    let mut pages: Vec<(String, Vec<u8>)> = Vec::new();
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
            let has_script =
                body.windows(7).any(|w| w.eq_ignore_ascii_case(b"<script"));
            if has_script && !pages.iter().any(|(_, b)| *b == body) {
                pages.push((format!("corpus{:03}", pages.len()), body));
            }
        }
        if pages.len() >= max {
            break;
        }
    }
    pages
}

/// Writes the pages and returns, for each, clamscan's `javascript` file
/// (empty when it wrote none) and ours.
fn both_forms(
    pages: &[(String, Vec<u8>)],
    dir: &Path,
) -> (Vec<PathBuf>, Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let files_dir = dir.join("pages");
    std::fs::create_dir_all(&files_dir).unwrap();
    let files: Vec<PathBuf> = pages
        .iter()
        .map(|(name, body)| {
            let f = files_dir.join(format!("{name}.html"));
            std::fs::write(&f, body).unwrap();
            f
        })
        .collect();
    let db = dir.join("db");
    std::fs::create_dir_all(&db).unwrap();
    std::fs::write(
        db.join("x.ndb"),
        "Nothing.Here:0:*:00112233445566778899\n",
    )
    .unwrap();
    let temps = dir.join("temps");
    std::fs::create_dir_all(&temps).unwrap();
    let o = run(Command::new(peer("clamscan", "clamav"))
        .args([
            "--no-summary",
            "--disable-cache",
            "--leave-temps",
            "--tempdir",
        ])
        .arg(&temps)
        .arg("-d")
        .arg(&db)
        .args(&files));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let tops: Vec<PathBuf> = std::fs::read_dir(&temps)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let mut theirs = Vec::new();
    let mut ours = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        // <temps>/<date>-<name>.<id>/.../javascript
        let top = tops
            .iter()
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .contains(&format!("-{name}."))
            })
            .unwrap_or_else(|| panic!("no clamscan temp dir for {name}"));
        let js = files_under(top)
            .into_iter()
            .find(|p| p.file_name().unwrap() == "javascript")
            .map(|p| std::fs::read(p).unwrap())
            .unwrap_or_default();
        theirs.push(js);
        let out = dir.join("ours").join(&name);
        let o = run(Command::new(bin("nod32cli"))
            .arg("html-normalise")
            .arg(f)
            .arg(&out));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        ours.push(std::fs::read(out.join("javascript")).unwrap_or_default());
    }
    (files, theirs, ours)
}

fn compare(
    pages: &[(String, Vec<u8>)],
    theirs: &[Vec<u8>],
    ours: &[Vec<u8>],
) -> Vec<String> {
    let mut differ = Vec::new();
    for (((name, _), t), o) in pages.iter().zip(theirs).zip(ours) {
        if t != o {
            differ.push(format!(
                "{name}:\n  clamscan {:?}\n  nod32cli {:?}",
                String::from_utf8_lossy(&t[..t.len().min(400)]),
                String::from_utf8_lossy(&o[..o.len().min(400)])
            ));
        }
    }
    differ
}

#[test]
fn obfuscated_scripts_normalise_as_clamscan_normalises_them() {
    let dir = tempfile::tempdir().unwrap();
    let pages = obfuscated_pages();
    let (_, theirs, ours) = both_forms(&pages, dir.path());
    let written = theirs.iter().filter(|t| !t.is_empty()).count();
    assert_eq!(
        written,
        pages.len(),
        "clamscan wrote a javascript file for each page"
    );
    let differ = compare(&pages, &theirs, &ours);
    println!(
        "{} pages: {} javascript files agree",
        pages.len(),
        pages.len() - differ.len()
    );
    assert!(differ.is_empty(), "{}", differ.join("\n"));
    // What the decoders made is there.
    let all = String::from_utf8_lossy(&ours.concat()).to_string();
    for made in [
        "(var n008=\"hello\";document.write(n008);)",
        "\"abcde'f\"+x+\"gh\"",
        "\"a\u{e9}",
    ] {
        assert!(all.contains(made), "{made:?} missing");
    }
}

#[test]
fn corpus_scripts_normalise_as_clamscan_normalises_them() {
    let dir = tempfile::tempdir().unwrap();
    let pages = corpus_scripts(150);
    assert!(pages.len() >= 50, "only {} pages with scripts", pages.len());
    let (_, theirs, ours) = both_forms(&pages, dir.path());
    let differ = compare(&pages, &theirs, &ours);
    println!(
        "{} corpus pages with scripts: {} javascript files agree",
        pages.len(),
        pages.len() - differ.len()
    );
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

/// A page attached to a mail, base64.
fn mailed(page: &[u8]) -> Vec<u8> {
    format!(
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: page\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nsee the page\r\n\
         --b\r\nContent-Type: text/html; name=\"page.html\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        nod32_tests::base64_lines(page, "\r\n")
    )
    .into_bytes()
}

#[test]
fn signatures_on_the_normalised_script_agree_with_clamscan() {
    let dir = tempfile::tempdir().unwrap();
    let mut pages = obfuscated_pages();
    pages.extend(corpus_scripts(60));
    pages.push((
        "marker".into(),
        b"<html><body><script>var nod32jsmarker = 'nod32' + 'fol' + \"ded\"; function run(cmd) { var sh = new ActiveXObject('WScript.Shell'); sh.Run(cmd); } run(unescape('%63%61%6c%63'));</script></body></html>".to_vec(),
    ));
    pages.push((
        "clean".into(),
        b"<html><body><p>nothing</p></body></html>".to_vec(),
    ));
    let (files, theirs, _) = both_forms(&pages, dir.path());
    // Each page's pieces that only its javascript form holds: not its
    // other forms (ours, checked equal to clamscan's by tests/html.rs),
    // nor any other page's script.
    let forms: Vec<_> = files
        .iter()
        .map(|f| nod32_engine::html_forms(&std::fs::read(f).unwrap()))
        .collect();
    // One question per run: two databases of pieces (a third and two
    // thirds into each file), then one per marker piece.
    let mut dbs = vec![String::new(); 2];
    let mut asked = 0;
    for (i, js) in theirs.iter().enumerate() {
        if js.len() < 60 || pages[i].0 == "marker" {
            continue;
        }
        for at in [1, 2] {
            let start = js.len() * at / 3 - 10;
            let piece = &js[start..start + 20];
            let elsewhere = forms.iter().enumerate().any(|(k, f)| {
                memchr::memmem::find(&f.nocomment, piece).is_some()
                    || memchr::memmem::find(&f.notags, piece).is_some()
                    || (k != i
                        && memchr::memmem::find(&theirs[k], piece).is_some())
            });
            if !elsewhere {
                dbs[at - 1] +=
                    &format!("Test.Js.{i}.{at}:3:*:{}\n", hex(piece));
                asked += 1;
            }
        }
    }
    // The marker page's renamed function, its folded string, the
    // unescaped argument.
    for piece in [
        "function n001(n002){var n003=new",
        "\"nod32folded\";",
        "}run(\"calc\")",
    ] {
        dbs.push(format!("Test.Js.Marker:3:*:{}\n", hex(piece.as_bytes())));
        asked += 1;
    }
    let mails = dir.path().join("mails");
    std::fs::create_dir(&mails).unwrap();
    let mut all = files.clone();
    for (i, (name, body)) in pages.iter().enumerate() {
        if i % 3 == 0 || name == "marker" || name == "clean" {
            let m = mails.join(format!("{name}.eml"));
            std::fs::write(&m, mailed(body)).unwrap();
            all.push(m);
        }
    }
    let mut found = 0;
    let mut differ = Vec::new();
    for (k, db) in dbs.iter().enumerate() {
        let d = dir.path().join(format!("sigs{k}"));
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("js.ndb"), db).unwrap();
        let t = run(Command::new(peer("clamscan", "clamav"))
            .args(["--no-summary", "--disable-cache", "-d"])
            .arg(&d)
            .args(&all));
        let o = run(Command::new(bin("nod32cli"))
            .args(["--format", "clamscan", "--no-summary", "-d"])
            .arg(&d)
            .args(&all));
        let t = parse_clamscan(&String::from_utf8_lossy(&t.stdout));
        let o = parse_clamscan(&String::from_utf8_lossy(&o.stdout));
        assert_eq!(t.len(), all.len(), "{t:?}");
        found += t.iter().filter(|(_, v)| v.is_some()).count();
        if k >= 2 {
            // Each marker piece: the page and its mail, nothing else.
            let hits: Vec<&String> = t
                .iter()
                .filter(|(_, v)| v.is_some())
                .map(|(f, _)| f)
                .collect();
            assert_eq!(hits.len(), 2, "marker piece {k}: {hits:?}");
            assert!(hits.iter().all(|f| f.contains("marker")), "{hits:?}");
        }
        differ.extend(t.iter().zip(&o).filter(|(a, b)| a != b).map(
            |((f, a), (_, b))| format!("{f}: clamscan {a:?}, nod32cli {b:?}"),
        ));
    }
    println!(
        "{} files ({} pages, {} mailed), {asked} signatures from clamscan's javascript files in {} runs: clamscan finds {found} times, {} verdicts differ",
        all.len(),
        files.len(),
        all.len() - files.len(),
        dbs.len(),
        differ.len()
    );
    assert!(found * 10 >= asked * 9, "clamscan finds only {found} of {asked}");
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}
