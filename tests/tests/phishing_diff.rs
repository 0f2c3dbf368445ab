//! Differential test of the phishing check against the real `clamscan`:
//! per seed, a random domain list (`.pdb` `H:` and `R:` lines), a random
//! allow list (`.wdb` `M:` and `X:` lines) and mails each holding one
//! link built from the forms phishing mail uses (spoofed, look-alike,
//! same-domain, cloaked, `https` over `http`, user names, titles, forms,
//! images, text around the shown URL, tags inside it) in the part
//! structures ClamAV treats differently (HTML, text with markup, parts
//! inline and attached, alternative, related, encoded). Every mail must
//! get the same verdict and name from both, with the same switches.
//!
//! `NOD32_DIFF_SEED=N` runs one seed; by default eight run.

use std::fmt::Write as _;
use std::process::Command;

use nod32_tests::{Rng, base64, bin, parse_clamscan_exact, peer, run};

const LISTED: &[&str] = &["paypal.com", "bank.co.uk", "amazon.de", "ebay.com"];

fn real_url(rng: &mut Rng) -> String {
    let scheme = *rng.pick(&[
        "http://", "http://", "https://", "HTTP://", "ftp://", "", "mailto:",
    ]);
    let user = if rng.chance(1, 6) { "www.paypal.com@" } else { "" };
    let host = *rng.pick(&[
        "evil.example",
        "login.paypal.com",
        "1.2.3.4",
        "phish.ru",
        "secure-paypal.com.evil.net",
        "paypal.com",
        "www.ebay.com",
        "signin.ebay.com.ua",
        "www.bank.co.uk",
        "mybank.co.uk",
        "amazon.de",
        "evil.example.com",
    ]);
    let cloak = if rng.chance(1, 10) { "%00" } else { "" };
    let path = *rng.pick(&["", "/", "/login?x=1", "/a/b", "/%41x"]);
    format!("{scheme}{user}{host}{cloak}{path}")
}

fn shown(rng: &mut Rng) -> String {
    if rng.chance(1, 10) {
        return (*rng.pick(&[
            "Click here",
            "Log in to PayPal",
            "your account",
        ]))
        .to_string();
    }
    let scheme = *rng.pick(&["http://", "https://", "", "", "HTTP://"]);
    let host = *rng.pick(&[
        "www.paypal.com",
        "PAYPAL.COM",
        "paypal.com",
        "signin.ebay.com",
        "www.bank.co.uk",
        "amazon.de",
        "www.amazon.de",
        "www.mypaypal.com",
        "www.paypal.online",
        "www.paypal.com.evil.zz",
        "evil.example",
    ]);
    let host = if rng.chance(1, 8) {
        // A tag or an entity inside the shown host.
        match rng.range(0, 2) {
            0 => host.replacen('.', ".<b>", 1) + "</b>",
            1 => host.replacen('.', "&#46;", 1),
            _ => host.replacen('.', ". ", 1),
        }
    } else {
        host.to_string()
    };
    let tail = *rng.pick(&["", "", "/", ":443", "?x=1", "/login"]);
    let (pre, post) = *rng.pick(&[
        ("", ""),
        ("", ""),
        ("(", ")"),
        ("Log in at ", ""),
        ("visit ", " now"),
    ]);
    format!("{pre}{scheme}{host}{tail}{post}")
}

fn link(rng: &mut Rng) -> String {
    let (r, d) = (real_url(rng), shown(rng));
    // Tags go inside shown text, not inside an attribute value.
    let a = d.replace("<b>", "").replace("</b>", "");
    match rng.range(0, 5) {
        0 | 1 => format!("<a href=\"{r}\">{d}</a>"),
        2 => format!("<a href='{r}' title=\"{a}\">here</a>"),
        3 => format!("<form action=\"{r}\"><a href=\"{a}\">x</a></form>"),
        4 => format!("<a href=\"{r}\"><img src=\"{a}\"></a>"),
        _ => format!("<map><area href=\"{a}\"></map><a href=\"{r}\">{d}</a>"),
    }
}

fn qp(s: &str) -> String {
    let mut o = String::new();
    for (i, b) in s.bytes().enumerate() {
        if b == b'=' || (i % 7 == 3 && b.is_ascii_alphabetic()) {
            let _ = write!(o, "={b:02X}");
        } else {
            o.push(b as char);
        }
    }
    o
}

/// A mail around one link, and what its structure is.
fn mail(rng: &mut Rng, link: &str) -> (String, &'static str) {
    let page = format!(
        "<html><body><p>Dear customer,</p>\n<p>{link}</p>\n</body></html>\n"
    );
    let head = "From: a@example.com\nTo: b@example.com\nSubject: account\n\
                MIME-Version: 1.0\n";
    let b = "BOUNDARYX";
    match rng.range(0, 12) {
        0 => (format!("{head}Content-Type: text/html\n\n{page}"), "html"),
        8 => {
            // A type with no subtype: no type to ClamAV's mail reader.
            let t = *rng.pick(&["text", "html", "TEXT"]);
            (
                format!("{head}Content-Type: {t}\n\n{page}"),
                "type without subtype",
            )
        }
        9 => (
            format!("{head}Content-Type: message/rfc822-headers\n\n{page}"),
            "a report's headers as the message type",
        ),
        10 => {
            // A misspelt encoding ClamAV takes for the one it resembles.
            let (cte, body) = if rng.chance(1, 2) {
                (
                    *rng.pick(&["bas64", "base46", "x-base64"]),
                    base64(page.as_bytes()),
                )
            } else {
                (*rng.pick(&["7bi", "7-bit", "us-ascii"]), page.clone())
            };
            (
                format!(
                    "{head}Content-Type: text/html\nContent-Transfer-Encoding: {cte}\n\n{body}\n"
                ),
                "html, misspelt encoding",
            )
        }
        11 => (
            format!(
                "{head}Content-Type: multipart/mixed; boundary=\"{b}\"\n\n--{b}\n\
                 Content-Type: text/html\nContent-Transfer-Encoding: quoted-printabel\n\n\
                 {}\n--{b}--\n",
                qp(&page)
            ),
            "mixed, html in misspelt quoted-printable",
        ),
        1 => (format!("{head}Content-Type: text/plain\n\n{page}"), "plain"),
        2 => (
            format!(
                "{head}Content-Type: multipart/alternative; boundary=\"{b}\"\n\n--{b}\n\
                 Content-Type: text/plain\n\nDear customer\n--{b}\n\
                 Content-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n\
                 {}\n--{b}--\n",
                qp(&page)
            ),
            "alternative, html in quoted-printable",
        ),
        3 => (
            format!(
                "{head}Content-Type: multipart/mixed; boundary=\"{b}\"\n\n--{b}\n\
                 Content-Type: text/plain\n\n{page}--{b}--\n"
            ),
            "mixed, 7bit text part",
        ),
        4 => (
            format!(
                "{head}Content-Type: multipart/mixed; boundary=\"{b}\"\n\n--{b}\n\
                 Content-Type: text/plain\n\nhello\n--{b}\n\
                 Content-Type: text/html\nContent-Disposition: attachment; filename=a.html\n\n\
                 {page}--{b}--\n"
            ),
            "mixed, attached html",
        ),
        5 => (
            format!(
                "{head}Content-Type: multipart/related; boundary=\"{b}\"\n\n--{b}\n\
                 Content-Type: text/html\nContent-Transfer-Encoding: base64\n\n{}\n--{b}\n\
                 Content-Type: image/gif\n\nGIF89a\n--{b}--\n",
                base64(page.as_bytes())
            ),
            "related, html in base64",
        ),
        6 => (
            format!(
                "{head}Content-Type: multipart/mixed; boundary=\"{b}\"\n\n--{b}\n\
                 Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n\
                 {}\n--{b}--\n",
                qp(&page)
            ),
            "mixed, text part in quoted-printable",
        ),
        _ => (
            format!(
                "{head}Content-Type: multipart/mixed; boundary=\"{b}\"\n\n--{b}\n\
                 Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n\
                 {page}--{b}--\n"
            ),
            "mixed, 8bit text part",
        ),
    }
}

fn diff_one(seed: u64) -> (Vec<String>, usize) {
    let mut rng = Rng::new(seed * 7919 + 11);
    let root = tempfile::tempdir().unwrap();
    let dir = root.path();
    let mut pdb = String::new();
    for d in LISTED {
        if rng.chance(2, 3) {
            let _ = writeln!(pdb, "H:{d}");
        }
    }
    if rng.chance(1, 2) {
        pdb.push_str("R:(.+\\.)?ebay\\.com([/?].*)?\n");
    }
    if pdb.is_empty() {
        pdb.push_str("H:paypal.com\n");
    }
    let mut wdb = String::new();
    if rng.chance(1, 2) {
        wdb.push_str("M:evil.example:www.paypal.com\n");
    }
    if rng.chance(1, 2) {
        wdb.push_str(
            "X:(.+\\.)?phish\\.ru([/?].*)?:(.+\\.)?amazon\\.de([/?].*)?:17-\n",
        );
    }
    std::fs::write(dir.join("t.pdb"), &pdb).unwrap();
    let mut dbs = vec![dir.join("t.pdb")];
    if !wdb.is_empty() {
        std::fs::write(dir.join("t.wdb"), &wdb).unwrap();
        dbs.push(dir.join("t.wdb"));
    }
    let switches: &[&str] = match rng.range(0, 3) {
        0 => &["--alert-phishing-ssl"],
        1 => &["--alert-phishing-cloak"],
        _ => &[],
    };
    let files = dir.join("mail");
    std::fs::create_dir(&files).unwrap();
    let mut what = Vec::new();
    for i in 0..60 {
        let l = link(&mut rng);
        let (m, shape) = mail(&mut rng, &l);
        let f = files.join(format!("m{i:02}.eml"));
        std::fs::write(&f, m).unwrap();
        what.push((f.to_string_lossy().into_owned(), format!("{shape}: {l}")));
    }
    let with_dbs = |c: &mut Command| {
        for d in &dbs {
            c.arg("-d").arg(d);
        }
    };
    let mut c = Command::new(peer("clamscan", "clamav"));
    c.args(["--no-summary", "--disable-cache"]).args(switches);
    with_dbs(&mut c);
    let clam = run(c.arg(&files));
    assert!(
        matches!(clam.status.code(), Some(0 | 1)),
        "clamscan failed (seed {seed}): {}",
        String::from_utf8_lossy(&clam.stderr)
    );
    let mut c = Command::new(bin("nod32cli"));
    c.args(["--format", "clamscan", "--no-summary"]).args(switches);
    with_dbs(&mut c);
    let ours = run(c.arg(&files));
    assert!(
        matches!(ours.status.code(), Some(0 | 1)),
        "nod32cli failed: {}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let mut theirs =
        parse_clamscan_exact(&String::from_utf8_lossy(&clam.stdout));
    let mut mine =
        parse_clamscan_exact(&String::from_utf8_lossy(&ours.stdout));
    theirs.sort();
    mine.sort();
    assert_eq!(theirs.len(), 60, "seed {seed}: clamscan reports every mail");
    assert_eq!(mine.len(), 60, "seed {seed}: nod32cli reports every mail");
    let found = theirs.iter().filter(|t| t.1.is_some()).count();
    println!(
        "seed {seed}: 60 mails, {found} phishing for clamscan, switches {switches:?}\n{pdb}{wdb}"
    );
    let mut bad = Vec::new();
    for (t, o) in theirs.iter().zip(&mine) {
        assert_eq!(t.0, o.0);
        if t.1 != o.1 {
            let w =
                what.iter().find(|w| w.0 == t.0).map_or("?", |w| w.1.as_str());
            bad.push(format!(
                "seed {seed}: {} ({w}): clamscan {:?}, nod32cli {:?}",
                t.0, t.1, o.1
            ));
        }
    }
    (bad, found)
}

#[test]
fn phishing_verdicts_as_clamscan() {
    let seeds: Vec<u64> = match std::env::var("NOD32_DIFF_SEED") {
        Ok(s) => vec![s.parse().expect("NOD32_DIFF_SEED is a number")],
        Err(_) => (1..=8).collect(),
    };
    let mut all = Vec::new();
    let mut found = 0;
    let n = seeds.len();
    for s in seeds {
        let (bad, f) = diff_one(s);
        all.extend(bad);
        found += f;
    }
    // The generator must make phishing, not only clean mail.
    assert!(found >= n, "only {found} phishing mails in {n} seed(s)");
    assert!(
        all.is_empty(),
        "{} disagreement(s):\n{}",
        all.len(),
        all.join("\n")
    );
}
