//! Every line form found in ClamAV's published signature sets (main,
//! daily and third-party ones: body signatures with each offset,
//! wildcard and anchor form, logical signatures with each condition,
//! modifier and PCRE, hashes of each kind, section hashes, container
//! metadata), in `tests/data/published-forms`: the set compiles without
//! an error or an unsupported signature, and each line alone gives
//! clamscan's verdict and name on every file of clamav-testfiles that
//! the engine opens (the packed executables, installers, CHM and SIS are
//! issue 27's).

use std::path::Path;
use std::process::Command;

use nod32_tests::{bin, parse_clamscan_exact, peer, run};

const FORMS: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/data/published-forms");
const TESTFILES: &str = "/usr/share/clamav-testfiles";

#[test]
fn published_line_forms_load_and_agree_with_clamscan() {
    assert!(
        Path::new(TESTFILES).is_dir(),
        "{TESTFILES} is missing: apt-get install clamav-testfiles (cargo xtask install-peers)"
    );
    let d = tempfile::tempdir().unwrap();
    // The whole set compiles, every signature loaded or outside the
    // functionality level, none unsupported.
    let module = d.path().join("forms.mod");
    let c = run(Command::new(bin("nod32cli"))
        .arg("compile")
        .arg(FORMS)
        .arg("-o")
        .arg(&module));
    let err = String::from_utf8_lossy(&c.stderr);
    assert!(c.status.success(), "{err}");
    assert!(err.contains(" 0 unsupported;"), "{err}");
    let mut lines = 0;
    let mut found = 0;
    let mut silent = Vec::new();
    for entry in std::fs::read_dir(FORMS).unwrap() {
        let path = entry.unwrap().path();
        let ext = path.extension().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        for line in
            text.lines().filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            lines += 1;
            let db = d.path().join(format!("one.{ext}"));
            std::fs::write(&db, format!("{line}\n")).unwrap();
            let theirs = run(Command::new(peer("clamscan", "clamav"))
                .args(["--no-summary", "--disable-cache", "-d"])
                .arg(&db)
                .arg(TESTFILES));
            assert!(
                theirs.status.code().is_some_and(|c| c < 2),
                "clamscan refuses {line}: {}",
                String::from_utf8_lossy(&theirs.stderr)
            );
            let ours = run(Command::new(bin("nod32cli"))
                .args(["--format", "clamscan", "--no-summary", "-d"])
                .arg(&db)
                .arg(TESTFILES));
            let hits = |out: &[u8]| -> Vec<(String, String)> {
                parse_clamscan_exact(&String::from_utf8_lossy(out))
                    .into_iter()
                    .filter(|(p, _)| !not_opened_yet(p))
                    .filter_map(|(p, n)| Some((p, n?)))
                    .collect()
            };
            let want = hits(&theirs.stdout);
            assert_eq!(hits(&ours.stdout), want, "{line}");
            if want.is_empty() {
                silent.push(line.to_string());
            } else {
                found += 1;
            }
        }
    }
    println!(
        "{lines} line forms, {found} of them finding something in clamav-testfiles"
    );
    // Only the signature for a later functionality level finds nothing.
    assert_eq!(
        found,
        lines - 1,
        "a form that finds nothing proves little: {silent:?}"
    );
}

/// The files of clamav-testfiles whose content the engine cannot reach
/// yet: executable packers, AutoIt, CHM and SIS.
fn not_opened_yet(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with("clam-")
        || name.starts_with("clam.ea0")
        || matches!(name, "clam.chm" | "clam.sis")
}
