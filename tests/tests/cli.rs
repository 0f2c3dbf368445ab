//! `nod32cli` as administrators and amavisd-new call it: exit codes,
//! output formats, compiling a module and scanning with it.

use std::io::Write;
use std::process::{Command, Stdio};

use nod32_tests::mutants::{examples, near_miss};
use nod32_tests::{bin, eicar, peer, run};

fn cli() -> Command {
    Command::new(bin("nod32cli"))
}

fn parts_dir(infected: bool) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("parts")).unwrap();
    std::fs::write(
        d.path().join("parts/p001"),
        "Hello, this is the text part.\n",
    )
    .unwrap();
    if infected {
        std::fs::write(d.path().join("parts/p002"), eicar()).unwrap();
    }
    d
}

/// The argument list of amavisd-new's v2.52 `nod32cli` entry, unmodified.
const V252: &[&str] = &[
    "--subdir",
    "--files",
    "-z",
    "--sfx",
    "--rtp",
    "--adware",
    "--unsafe",
    "--pattern",
    "--heur",
    "-w",
    "-a",
    "--action-on-infected=accept",
    "--action-on-uncleanable=accept",
    "--action-on-notscanned=accept",
];

#[test]
fn amavis_argument_lists_and_exit_codes() {
    let virus_re = |out: &str| -> Vec<String> {
        out.lines()
            .filter_map(|l| l.split("virus=\"").nth(1))
            .filter_map(|r| r.split('"').next())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    };
    for long in [false, true] {
        for infected in [false, true] {
            let d = parts_dir(infected);
            let mut c = cli();
            if long {
                c.args(V252);
            } else {
                c.arg("--subdir");
            }
            let o = run(c.arg(d.path().join("parts")));
            let stdout = String::from_utf8_lossy(&o.stdout);
            if infected {
                assert_eq!(o.status.code(), Some(1), "{stdout}");
                assert_eq!(virus_re(&stdout), vec!["Eicar-Test-Signature"]);
            } else {
                assert_eq!(o.status.code(), Some(0), "{stdout}");
                assert!(virus_re(&stdout).is_empty());
            }
        }
    }
}

#[test]
fn not_scanned_is_exit_3_and_errors_are_10() {
    let d = parts_dir(false);
    let big = d.path().join("parts/big");
    std::fs::write(&big, vec![b'a'; 5000]).unwrap();
    let o = run(cli().args(["--max-filesize", "1000"]).arg(&big));
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("not scanned: limit MaxFileSize exceeded")
    );
    let o = run(cli().args(["--db", "/nonexistent.ndb"]).arg(&big));
    assert_eq!(o.status.code(), Some(10));
    assert!(String::from_utf8_lossy(&o.stderr).contains("/nonexistent.ndb"));
    let o = run(cli()
        .args(["--format", "clamscan", "--db", "/nonexistent.ndb"])
        .arg(&big));
    assert_eq!(o.status.code(), Some(2));
    // clamscan says OK for what a limit kept it from reading; in its
    // format nod32cli says it did not look, as an error line.
    let o = run(cli()
        .args([
            "--format",
            "clamscan",
            "--no-summary",
            "--max-filesize",
            "1000",
        ])
        .arg(&big));
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!(
            "{}: Not scanned (limit MaxFileSize exceeded) ERROR",
            big.display()
        )
    );
}

/// The evasion issue's examples: a malformed MIME part is decoded and
/// scanned, not a reason to wave the message through. clamscan finds
/// each; so must nod32cli, with exit 1. The same messages with a
/// harmless attachment are clean, unless the repair alert is asked for.
#[test]
fn malformed_mail_is_decoded_not_waved_through() {
    let d = tempfile::tempdir().unwrap();
    let db = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/engine/builtin/default.ndb");
    for (trick, m) in examples("cli", &eicar()) {
        let f = d.path().join(format!("{trick}.eml"));
        std::fs::write(&f, &m).unwrap();
        let t = run(Command::new(peer("clamscan", "clamav"))
            .args(["--no-summary", "-d"])
            .arg(&db)
            .arg(&f));
        assert_eq!(t.status.code(), Some(1), "clamscan on {trick}");
        let o = run(cli().arg(&f));
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{trick}: {out}");
        assert!(
            out.contains("virus=\"Eicar-Test-Signature\""),
            "{trick}: {out}"
        );
    }
    let mut alerted = Vec::new();
    for (trick, m) in examples("cli", &near_miss(&eicar())) {
        let f = d.path().join(format!("{trick}.clean.eml"));
        std::fs::write(&f, &m).unwrap();
        let o = run(cli().arg(&f));
        assert_eq!(o.status.code(), Some(0), "{trick}");
        let o = run(cli().arg("--alert-mail-malformed").arg(&f));
        let out = String::from_utf8_lossy(&o.stdout);
        if trick == "lf-cr-lf-blank-line" {
            // An LF line end in CRLF mail, then an empty line: every
            // reader ends the headers there; nothing was repaired.
            assert_eq!(o.status.code(), Some(0), "{trick}: {out}");
            continue;
        }
        assert_eq!(o.status.code(), Some(1), "{trick}: {out}");
        let name =
            out.split("virus=\"").nth(1).unwrap().split('"').next().unwrap();
        assert!(
            name.starts_with("Heuristics.Mail.Malformed."),
            "{trick}: {out}"
        );
        alerted.push(format!("{trick}: {name}"));
    }
    println!("{}", alerted.join("\n"));
}

/// `--version` says which signatures are loaded, as clamscan's
/// `ClamAV 1.4.5/27000/...` line does: the module named by the
/// configuration and each database it was built from (a CVD with its
/// version and build date, a plain file by name), in every binary.
#[test]
fn version_names_the_module_and_its_databases() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("db");
    std::fs::create_dir(&db).unwrap();
    // ClamAV's real, signed bytecode database, version 268.
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/bytecode-268.cvd"
        ),
        db.join("bytecode.cvd"),
    )
    .unwrap();
    std::fs::write(db.join("local.ndb"), "Local.Test:0:*:6d61726b6572??31\n")
        .unwrap();
    let module = d.path().join("nod32.000");
    let o = run(cli().arg("compile").arg(&db).arg("-o").arg(&module));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let cfg = d.path().join("nod32.toml");
    std::fs::write(
        &cfg,
        format!("[global]\nmodule = \"{}\"\n", module.display()),
    )
    .unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let expect = format!(
        "module {}: bytecode 268 (2015-08-20), local.ndb; 3 signatures",
        module.display()
    );
    for flag in ["--version", "-V"] {
        let o = run(cli().arg("-c").arg(&cfg).arg(flag));
        assert!(o.status.success());
        let out = String::from_utf8_lossy(&o.stdout);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines, [format!("nod32cli {version}"), expect.clone()]);
    }
    for name in ["nod32smtp", "nod32smfi", "nod32upd"] {
        let o = run(Command::new(nod32_tests::bin(name))
            .arg(format!("--config={}", cfg.display()))
            .arg("--version"));
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            [format!("{name} {version}"), expect.clone()],
            "{name}"
        );
    }
    let o = run(Command::new(nod32_tests::bin("nod32mda"))
        .args(["--", "-c"])
        .arg(&cfg)
        .arg("--version"));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [format!("nod32mda {version}"), expect.clone()]
    );
    // Without a module nod32cli scans with its built-in one, and says so.
    std::fs::write(
        &cfg,
        format!(
            "[global]\nmodule = \"{}\"\n",
            d.path().join("none").display()
        ),
    )
    .unwrap();
    let o = run(cli().arg("-c").arg(&cfg).arg("--version"));
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[1].starts_with("module built-in: default.ndb, default.hdb; "),
        "{out}"
    );
    // A service has no module then: its version alone.
    let o = run(Command::new(nod32_tests::bin("nod32smtp"))
        .arg("-c")
        .arg(&cfg)
        .arg("--version"));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!("nod32smtp {version}")
    );
}

/// `nod32cli compile` of a directory as ClamAV loads it: lines clamscan
/// loads load (fixed gaps at either end of a subsignature, OLE2 targets),
/// and what the engine cannot honour is counted in signatures per kind
/// and target in the table it prints, a bytecode file as one.
#[test]
fn compile_counts_every_kind_and_target_in_a_table() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("db");
    std::fs::create_dir(&db).unwrap();
    let put =
        |name: &str, text: &str| std::fs::write(db.join(name), text).unwrap();
    put(
        "a.ndb",
        "Gap.Trail:0:*:414243445068{4}\nGap.Lead:0:*:{3}5a5a5a5a\n\
         Ole.Body:2:*:4d6163726f\nGif.Body:5:*:47494638\n",
    );
    put(
        "b.ldb",
        "Ole.Lsig;Engine:51-255,Target:2;0;4175746f4f70656e\n\
         Elf.Lsig;Engine:51-255,Target:6;0;7f454c46\n\
         Trail.Lsig;Engine:51-255,Target:0;0;6d6d6d6d6e{4}\n",
    );
    put(
        "c.cbc",
        "ClamBCafhm`hgefl\nTeddaaahdabahdacahdadahdaeahdafahdagahebea\n",
    );
    put(
        "d.ftm",
        "0:0:504b0304:ZIP:CL_TYPE_ANY:CL_TYPE_ZIP\n# a comment\n1:*:3c68746d6c:HTML:CL_TYPE_ANY:CL_TYPE_HTML\n",
    );
    put("e.cfg", "DOCUMENT:0x0:1:1\n");
    let module = d.path().join("nod32.000");
    let o = run(cli().arg("compile").arg(&db).arg("-o").arg(&module));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    // Two unsupported: the bytecode and the file-type pattern (mode 1);
    // the file-type magic line, graphics and ELF targets are loaded.
    assert!(err.contains("2 signature(s) not supported"), "{err}");
    assert!(err.contains("1 bytecode (.cbc)"), "{err}");
    assert!(err.contains("1 file-type pattern (.ftm mode 1)"), "{err}");
    let row = |kind: &str, target: &str| -> Vec<String> {
        err.lines()
            .map(|l| {
                l.split_whitespace().map(str::to_string).collect::<Vec<_>>()
            })
            .find(|f| f.len() >= 5 && f[0] == kind && f[1] == target)
            .unwrap_or_else(|| panic!("no row {kind} {target} in:\n{err}"))
    };
    assert_eq!(row(".ndb", "0")[2..5], ["2", "0", "0"]);
    assert_eq!(row(".ndb", "2")[2..5], ["1", "0", "0"]);
    assert_eq!(row(".ndb", "5")[2..5], ["1", "0", "0"]);
    assert_eq!(row(".ldb", "2")[2..5], ["1", "0", "0"]);
    assert_eq!(row(".ldb", "6")[2..5], ["1", "0", "0"]);
    assert_eq!(row(".cbc", "-")[2..5], ["0", "0", "1"]);
    assert_eq!(row(".ftm", "-")[2..5], ["1", "0", "1"]);
    // Settings, not signatures: named, not counted.
    assert!(err.contains("engine configuration (.cfg)"), "{err}");
    let all = err.lines().find(|l| l.starts_with("all ")).unwrap();
    assert_eq!(
        all.split_whitespace().collect::<Vec<_>>(),
        ["all", "8", "0", "2"]
    );
    let sample = d.path().join("s.bin");
    std::fs::write(&sample, "..ABCDPhQRST").unwrap();
    let o = run(cli()
        .args(["--format", "clamscan", "--no-summary", "--db"])
        .arg(&module)
        .arg(&sample));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("Gap.Trail.UNOFFICIAL FOUND")
    );
    // The four bytes after it are part of the signature.
    std::fs::write(&sample, "..ABCDPhQRS").unwrap();
    let o =
        run(cli().args(["--no-summary", "--db"]).arg(&module).arg(&sample));
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn compile_then_scan_with_the_module() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path().join("local.ndb");
    std::fs::write(
        &src,
        "Local.Test:0:*:6d61726b6572??31\nLocal.Macro:0:$1$:7f454c46\n",
    )
    .unwrap();
    let module = d.path().join("nod32.000");
    let o = run(cli().arg("compile").arg(&src).arg("-o").arg(&module));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    // The macro-group signature is named in one warning, not dropped
    // silently.
    assert!(
        err.contains("1 signature(s) not supported")
            && err.contains("macro offset ($n$)"),
        "{err}"
    );
    let sample = d.path().join("sample.txt");
    std::fs::write(&sample, "a marker-1 here").unwrap();
    let o = run(cli()
        .args(["--format", "clamscan", "--no-summary", "--db"])
        .arg(&module)
        .arg(&sample));
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        format!("{}: Local.Test.UNOFFICIAL FOUND", sample.display())
    );
    // A damaged module is refused with a clear error.
    let mut bytes = std::fs::read(&module).unwrap();
    bytes.truncate(bytes.len() - 8);
    std::fs::write(&module, bytes).unwrap();
    let o = run(cli().arg("--db").arg(&module).arg(&sample));
    assert_eq!(o.status.code(), Some(10));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("truncated"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn stdin_json_and_builtin_default() {
    let mut c = cli()
        .args(["--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(&eicar()).unwrap();
    let o = c.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let v: String = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(v.contains("\"path\":\"stdin\",\"verdict\":\"infected\",\"virus\":\"Eicar-Test-Signature\""), "{v}");
    assert!(
        v.contains("\"summary\":{") && v.contains("\"infected\":1"),
        "{v}"
    );
    if !std::path::Path::new("/var/lib/nod32/nod32.000").exists() {
        assert!(
            String::from_utf8_lossy(&o.stderr)
                .contains("built-in default module")
        );
    }
}

#[test]
fn action_delete_removes_the_file_and_exits_2() {
    let d = parts_dir(true);
    let victim = d.path().join("parts/p002");
    let o = run(cli().arg("--action-on-infected=delete").arg(&victim));
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(!victim.exists());
    assert!(String::from_utf8_lossy(&o.stdout).contains("action=\"deleted\""));
}

/// The README's first command: the built-in module on the sample mails.
#[test]
fn readme_sample_scan() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/samples");
    let o = run(cli().arg(&dir));
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("marked.eml\", virus=\"Nod32.Test.Marker\""),
        "{out}"
    );
    assert!(out.contains("info=\"part 2 \\\"report.bin\\\"\""), "{out}");
    assert!(!out.contains("clean.eml"), "{out}");
}

/// `nod32cli --check-config` on the shipped configuration and on broken
/// ones: each error names the file, the key and why.
#[test]
fn check_config() {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config/nod32.toml");
    let o = run(cli().arg("--check-config").arg("-c").arg(&shipped));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("configuration OK"));

    let d = tempfile::tempdir().unwrap();
    let cases = [
        ("[smtp]\nfrobnicate = 1\n", "smtp.frobnicate: unknown key"),
        (
            "[global]\naction_on_infected = \"bounce\"\n",
            "global.action_on_infected: 'bounce' is not an action (accept, defer, discard, reject, each optionally followed by +quarantine)",
        ),
        (
            "[cli]\nmax_file_size = \"ten megs\"\n",
            "cli.max_file_size: 'ten megs' is not a size (bytes, or a number with K, M or G)",
        ),
        (
            "[mda]\nuser_config = \"missing.toml\"\n",
            "mda.user_config: cannot read ",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let f = d.path().join(format!("bad{i}.toml"));
        std::fs::write(&f, text).unwrap();
        let o = run(cli().arg("--check-config").arg("-c").arg(&f));
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(10), "{err}");
        assert!(
            err.starts_with(&format!("nod32cli: {}: {want}", f.display())),
            "{err}"
        );
    }
    // A template that cannot be read is named.
    std::fs::create_dir(d.path().join("t")).unwrap();
    std::fs::write(d.path().join("t/notice.txt"), b"\xff").unwrap();
    let f = d.path().join("tmpl.toml");
    std::fs::write(
        &f,
        format!(
            "[smtp]\ntemplate_dir = \"{}\"\n",
            d.path().join("t").display()
        ),
    )
    .unwrap();
    let o = run(cli().arg("--check-config").arg("-c").arg(&f));
    assert_eq!(o.status.code(), Some(10));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "nod32cli: {}: stream did not contain valid UTF-8\n",
            d.path().join("t/notice.txt").display()
        )
    );
    // A named file that does not exist is an error too.
    let o = run(cli()
        .arg("--check-config")
        .arg("-c")
        .arg(d.path().join("none.toml")));
    assert_eq!(o.status.code(), Some(10));
}

/// One mbox message from `sender`, with a text part and, if given, an
/// attachment in base64; without `id`, no Message-ID header.
fn mbox_message(
    id: Option<&str>,
    subject: &str,
    text: &str,
    attachment: Option<(&str, &[u8])>,
) -> String {
    let mut m = format!(
        "From sender@example.org Thu Jan  1 00:00:00 2026\n\
         From: sender@example.org\nTo: alice@example.org\nSubject: {subject}\n"
    );
    if let Some(id) = id {
        m.push_str(&format!("Message-ID: {id}\n"));
    }
    m.push_str(
        "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n\
         --b\nContent-Type: text/plain\n\n",
    );
    m.push_str(text);
    if let Some((name, data)) = attachment {
        m.push_str(&format!(
            "\n--b\nContent-Type: application/octet-stream; name=\"{name}\"\n\
             Content-Transfer-Encoding: base64\n\n{}",
            nod32_tests::base64(data)
        ));
    }
    m.push_str("\n--b--\n\n");
    m
}

/// A mailbox of six messages, three of them infected: nod32cli names each
/// infected message by its number in the mailbox and its Message-ID, with
/// parts counted within the message; the mailbox is one infected file.
/// Before, only the first was reported, as `part 3 "e.com"` (parts
/// counted across the whole mailbox).
#[test]
fn an_mbox_reports_each_infected_message() {
    let d = tempfile::tempdir().unwrap();
    let builtin = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../crates/engine/builtin");
    let mut zipped = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zipped
        .start_file("eicar.com", zip::write::SimpleFileOptions::default())
        .unwrap();
    zipped.write_all(&eicar()).unwrap();
    let zipped = zipped.finish().unwrap().into_inner();
    // A Message-ID written to forge a second virus="..." field for
    // amavisd-new's pattern, and to move the cursor on a terminal.
    let forged = "<a\"b\x1b[2J, virus=\"Forged\"@example.org>";
    let mut mbox = String::new();
    mbox.push_str(&mbox_message(
        Some("<m1@example.org>"),
        "hello",
        "Nothing attached.",
        None,
    ));
    mbox.push_str(&mbox_message(
        Some("<m2@example.org>"),
        "invoice",
        "See attached.",
        Some(("e.com", &eicar())),
    ));
    mbox.push_str(&mbox_message(
        Some("<m3@example.org>"),
        "quoted",
        ">From the desk of Bob: nothing here.",
        Some(("notes.txt", b"just some notes, nothing to run\n")),
    ));
    mbox.push_str(&mbox_message(
        Some("<m4@example.org>"),
        "documents",
        "Zipped.",
        Some(("docs.zip", &zipped)),
    ));
    mbox.push_str(&mbox_message(
        None,
        "no id",
        "No Message-ID.",
        Some(("x.com", &eicar())),
    ));
    mbox.push_str(&mbox_message(
        Some(forged),
        "forged",
        "Odd id.",
        Some(("y.com", &eicar())),
    ));
    let f = d.path().join("alice");
    std::fs::write(&f, &mbox).unwrap();
    let scan = |format: &str| {
        let o = run(cli()
            .args(["--format", format, "--db"])
            .arg(builtin.join("default.hdb"))
            .arg("--db")
            .arg(builtin.join("default.ndb"))
            .arg(&f));
        (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned())
    };

    let (code, out) = scan("nod32");
    assert_eq!(code, Some(1), "{out}");
    let name = format!("name=\"{}\"", f.display());
    let infos: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("virus=\""))
        .inspect(|l| {
            assert!(l.starts_with(&name), "{l}");
            assert!(
                l.contains(
                    "virus=\"Eicar-Test-Signature\", action=\"retained\""
                ),
                "{l}"
            );
        })
        .filter_map(|l| l.split(", info=").nth(1))
        .collect();
    assert_eq!(
        infos,
        [
            r#""message 2 <m2@example.org>, part 2 \"e.com\"""#,
            r#""message 4 <m4@example.org>, part 2 \"docs.zip\"/eicar.com""#,
            r#""message 5, part 2 \"x.com\"""#,
            r#""message 6 <a?b?[2J,?virus=?Forged?@example.org>, part 2 \"y.com\"""#,
        ],
        "{out}"
    );
    // amavisd-new's pattern, qr/virus="([^"]+)"/m, over the whole output.
    let amavis: Vec<&str> = out
        .split("virus=\"")
        .skip(1)
        .filter(|s| !s.starts_with('"'))
        .filter_map(|s| s.split('"').next())
        .collect();
    assert_eq!(amavis, ["Eicar-Test-Signature"; 4], "{out}");
    assert!(!out.contains('\x1b'), "{out}");
    for line in
        ["Scanned files: 1", "Infected files: 1", "Infected messages: 4"]
    {
        assert!(out.lines().any(|l| l == line), "{line}: {out}");
    }

    let (code, out) = scan("json");
    assert_eq!(code, Some(1), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let r = &v["results"][0];
    assert_eq!(v["results"].as_array().map(Vec::len), Some(1), "{out}");
    assert_eq!(r["verdict"], "infected", "{out}");
    assert_eq!(r["virus"], "Eicar-Test-Signature", "{out}");
    assert_eq!(
        r["location"], "message 2 <m2@example.org>, part 2 \"e.com\"",
        "{out}"
    );
    let messages: Vec<(u64, Option<&str>, &str)> = r["infections"]
        .as_array()
        .unwrap_or_else(|| panic!("no infections: {out}"))
        .iter()
        .map(|i| {
            assert_eq!(i["virus"], "Eicar-Test-Signature", "{out}");
            (
                i["message"].as_u64().unwrap(),
                i["message_id"].as_str(),
                i["location"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        messages,
        [
            (
                2,
                Some("<m2@example.org>"),
                "message 2 <m2@example.org>, part 2 \"e.com\""
            ),
            (
                4,
                Some("<m4@example.org>"),
                "message 4 <m4@example.org>, part 2 \"docs.zip\"/eicar.com"
            ),
            (5, None, "message 5, part 2 \"x.com\""),
            (
                6,
                Some("<a?b?[2J,?virus=?Forged?@example.org>"),
                "message 6 <a?b?[2J,?virus=?Forged?@example.org>, part 2 \"y.com\""
            ),
        ],
        "{out}"
    );
    assert_eq!(v["summary"]["infected"], 1, "{out}");
    assert_eq!(v["summary"]["infected_messages"], 4, "{out}");

    // clamscan's format keeps clamscan's one line per file, whose verdict
    // clamscan itself gives.
    let (code, out) = scan("clamscan");
    assert_eq!(code, Some(1), "{out}");
    let t = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "-d"])
        .arg(builtin.join("default.hdb"))
        .arg("-d")
        .arg(builtin.join("default.ndb"))
        .arg(&f));
    assert_eq!(t.status.code(), Some(1));
    let theirs = String::from_utf8_lossy(&t.stdout).to_string();
    let found = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.ends_with(" FOUND"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(found(&out), found(&theirs), "{out}");
    assert_eq!(found(&out).len(), 1, "{out}");
}

/// A configuration file that is not there is said once, with its path.
#[test]
fn a_missing_configuration_is_said_once() {
    let out =
        run(cli().args(["-c", "/nonexistent/nod32.toml", "--check-config"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
    assert!(err.contains("/nonexistent/nod32.toml"), "{err}");
}

/// The guide's first check, run as written (its nod32cli this build's):
/// the EICAR line writes the test file and the scan names it, status 1.
#[test]
fn the_guides_first_check_finds_eicar() {
    let recipe = nod32_tests::doc_recipe("GUIDE.md", "first-check");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("eicar.com");
    let path = format!(
        "{}:{}",
        bin("nod32cli").parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut last = None;
    for line in recipe.lines().filter(|l| !l.trim().is_empty()) {
        let line = line.replace("/tmp/eicar.com", &file.display().to_string());
        last = Some(run(Command::new("sh")
            .arg("-c")
            .arg(&line)
            .env("PATH", &path)));
    }
    assert_eq!(std::fs::read(&file).unwrap(), eicar());
    let out = last.unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Eicar-Test-Signature"),
        "{out:?}"
    );
}

/// PUA detection as clamscan chooses it: the PUA files are read only
/// with --detect-pua, by category with --include-pua/--exclude-pua (one
/// category, or several joined as clamscan joins them); a PUA signature
/// found first in an object ends that object's matching but not the scan,
/// so a virus in a later member of an archive is what is reported. The
/// same options to `nod32cli compile` put the same signatures in a
/// module. Every verdict and name is clamscan's.
#[test]
fn pua_detection_as_clamscan_chooses_it() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("db");
    std::fs::create_dir(&db).unwrap();
    let hexs = |s: &str| nod32_tests::hex(s.as_bytes());
    std::fs::write(
        db.join("a.ndb"),
        format!(
            "PUA.Win.Tool.Thing-1:0:*:{}\nStrong.Virus:0:*:{}\n",
            hexs("pua-marker-here"),
            hexs("strong-marker")
        ),
    )
    .unwrap();
    std::fs::write(
        db.join("b.ndu"),
        format!(
            "PUA.Win.Packer.Upx-2:0:*:{}\nPUA.Doc.Tool.Macro-3:0:*:{}\nNotPua.Name:0:*:{}\n",
            hexs("packed-thing"),
            hexs("macro-thing"),
            hexs("nopua-thing")
        ),
    )
    .unwrap();
    let files = d.path().join("files");
    std::fs::create_dir(&files).unwrap();
    for (name, text) in [
        ("f1", "x pua-marker-here y\n"),
        ("f2", "x pua-marker-here strong-marker\n"),
        ("f3", "strong-marker then pua-marker-here\n"),
        ("f4", "packed-thing\n"),
        ("f5", "macro-thing\n"),
        ("f6", "nopua-thing\n"),
        ("f7", "x pua-marker-here, and a hash names the file\n"),
        ("f8", "pua-logic-part and strong-logic-part\n"),
    ] {
        std::fs::write(files.join(name), text).unwrap();
    }
    // A potentially unwanted find ends the body matching, not the
    // object's other checks: a hash or a logical signature after it
    // still names the file.
    let f7 = std::fs::read(files.join("f7")).unwrap();
    std::fs::write(
        db.join("c.hdb"),
        format!(
            "{}:{}:Strong.Hash\n",
            nod32_tests::hex(&<md5::Md5 as md5::Digest>::digest(&f7)),
            f7.len()
        ),
    )
    .unwrap();
    std::fs::write(
        db.join("d.ldb"),
        format!(
            "PUA.Win.Tool.Logic-1;Engine:51-255,Target:0;0;{}\nStrong.Logic;Engine:51-255,Target:0;0;{}\n",
            hexs("pua-logic-part"),
            hexs("strong-logic-part")
        ),
    )
    .unwrap();
    let zip = |out: &str, members: &[&str]| {
        let o = run(Command::new("zip")
            .arg("-q")
            .arg(out)
            .args(members)
            .current_dir(&files));
        assert!(o.status.success());
    };
    zip("z1.zip", &["f1", "f3"]);
    zip("z2.zip", &["f3", "f1"]);
    zip("z3.zip", &["f4", "f6"]);
    let module = d.path().join("pua.mod");
    for opts in [
        &[][..],
        &["--detect-pua"],
        &["--detect-pua", "--include-pua=Tool"],
        &["--include-pua=Packer"],
        &["--detect-pua", "--exclude-pua=Tool"],
        &["--detect-pua", "--include-pua=Win", "--include-pua=Packer"],
        &["--detect-pua", "--include-pua=Win", "--include-pua=Tool"],
    ] {
        // clamscan reads the categories only with --detect-pua.
        let mut theirs_opts: Vec<&str> = opts.to_vec();
        if !opts.is_empty() && !opts.contains(&"--detect-pua") {
            theirs_opts.push("--detect-pua");
        }
        let t = run(Command::new(peer("clamscan", "clamav"))
            .arg("--no-summary")
            .args(&theirs_opts)
            .arg("-d")
            .arg(&db)
            .arg(&files));
        assert!(t.status.code().is_some_and(|c| c < 2), "{t:?}");
        let o = run(cli()
            .args(["--format", "clamscan", "--no-summary"])
            .args(opts)
            .arg("-d")
            .arg(&db)
            .arg(&files));
        let exact = |out: &[u8]| {
            nod32_tests::parse_clamscan_exact(&String::from_utf8_lossy(out))
        };
        let want = exact(&t.stdout);
        assert_eq!(exact(&o.stdout), want, "{opts:?}");
        assert_eq!(want.len(), 11);
        // Compiled once, the module scans the same.
        let c = run(cli()
            .arg("compile")
            .arg(&db)
            .arg("-o")
            .arg(&module)
            .args(opts));
        assert!(c.status.success(), "{c:?}");
        let m = run(cli()
            .args(["--format", "clamscan", "--no-summary", "-d"])
            .arg(&module)
            .arg(&files));
        assert_eq!(exact(&m.stdout), want, "{opts:?}, compiled");
    }
}

/// Container metadata rules on what attackers send instead of a clean
/// archive, each as clamscan reads it: a zip whose end record counts
/// wrong, whose local header is broken or whose names repeat (the raw
/// central directory is read, not a library's view of it); a
/// password-protected 7z (its names are still there); a mail naming its
/// attachment in RFC 2231 form, whole or in one section.
/// Office Open XML (and HWP) documents are zips that ClamAV types by the
/// names of their first entries, or of their central directory once
/// those make Office likely; container rules and `Container:` see that
/// type, not `CL_TYPE_ZIP`.
#[test]
fn office_documents_have_clamav_type_names() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("types.cdb");
    std::fs::write(
        &db,
        "T.Zip:CL_TYPE_ZIP:*:.*:*:*:*:*:*:*\n\
         T.Word:CL_TYPE_OOXML_WORD:*:.*:*:*:*:*:*:*\n\
         T.Xl:CL_TYPE_OOXML_XL:*:.*:*:*:*:*:*:*\n\
         T.Ppt:CL_TYPE_OOXML_PPT:*:.*:*:*:*:*:*:*\n\
         T.Hwp:CL_TYPE_OOXML_HWP:*:.*:*:*:*:*:*:*\n",
    )
    .unwrap();
    let files = d.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let pad: Vec<String> = (0..3).map(|i| format!("pad{i}.bin")).collect();
    let long = "x".repeat(40) + ".txt";
    let cases: Vec<(&str, Vec<&str>, bool)> = vec![
        (
            "word.docx",
            vec!["[Content_Types].xml", "_rels/.rels", "word/document.xml"],
            false,
        ),
        (
            "late.xlsx",
            vec![
                "[Content_Types].xml",
                "_rels/.rels",
                "docProps/app.xml",
                "docProps/core.xml",
                "xl/workbook.xml",
            ],
            false,
        ),
        (
            "deep.pptx",
            vec![
                "_rels/.rels",
                "docProps/app.xml",
                "customXml/item1.xml",
                "zzz/a.xml",
                "ppt/p.xml",
                "word/x.xml",
            ],
            false,
        ),
        ("plain.zip", vec!["a.txt", "b.txt", "c.txt", "word/doc.xml"], false),
        (
            "first.docx",
            vec!["mimetype", "a", "b", "c", "xl/x.xml", "word/y.xml"],
            true,
        ),
        (
            "padded.pptx",
            vec![
                "[Content_Types].xml",
                &pad[0],
                &pad[1],
                &pad[2],
                "ppt/slide.xml",
            ],
            false,
        ),
        (
            "long.zip",
            vec![&long, "docProps/app.xml", "y.txt", "word/a.xml"],
            false,
        ),
        ("hwp.zip", vec!["Contents/content.hpf", "a", "b"], false),
    ];
    for (name, entries, stored) in &cases {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default().compression_method(
            if *stored {
                zip::CompressionMethod::Stored
            } else {
                zip::CompressionMethod::Deflated
            },
        );
        for e in entries {
            z.start_file(*e, o).unwrap();
            std::io::Write::write_all(
                &mut z,
                format!("<x>{e}</x>").repeat(5).as_bytes(),
            )
            .unwrap();
        }
        std::fs::write(files.join(name), z.finish().unwrap().into_inner())
            .unwrap();
    }
    let scan = |c: &mut Command| {
        let o = run(c.arg("-d").arg(&db).arg(&files));
        let mut v = nod32_tests::parse_clamscan_exact(
            &String::from_utf8_lossy(&o.stdout),
        );
        v.sort();
        v
    };
    let theirs = scan(
        Command::new(peer("clamscan", "clamav"))
            .args(["--no-summary", "--disable-cache"]),
    );
    let ours = scan(cli().args(["--format", "clamscan", "--no-summary"]));
    assert_eq!(ours, theirs);
    let names: Vec<&str> =
        theirs.iter().filter_map(|(_, n)| n.as_deref()).collect();
    for t in ["T.Zip", "T.Word", "T.Xl", "T.Ppt", "T.Hwp"] {
        assert!(names.iter().any(|n| n.starts_with(t)), "{t}: {theirs:?}");
    }
}

#[test]
fn container_rules_see_what_evasive_archives_say() {
    let d = tempfile::tempdir().unwrap();
    let db = d.path().join("rules.cdb");
    std::fs::write(
        &db,
        "T.Zip.Exe:CL_TYPE_ZIP:*:(?i)\\.exe$:*:*:*:*:*:*\n\
         T.Zip.Third:CL_TYPE_ZIP:*:*:*:*:*:3:*:*\n\
         T.7z.Encrypted:CL_TYPE_7Z:*:(?i)\\.exe$:*:*:1:*:*:*\n\
         T.Mail.Exe:CL_TYPE_MAIL:*:(?i)^fak.*\\.exe$:*:*:*:*:*:*\n",
    )
    .unwrap();
    let files = d.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let put = |name: &str, data: &[u8]| {
        std::fs::write(files.join(name), data).unwrap()
    };
    let zip_of = |names: &[&str]| {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for n in names {
            z.start_file(*n, zip::write::SimpleFileOptions::default())
                .unwrap();
            std::io::Write::write_all(&mut z, b"some content here").unwrap();
        }
        z.finish().unwrap().into_inner()
    };
    let patch = |v: &mut Vec<u8>, from: &[u8], to: &[u8]| {
        let at = v.windows(from.len()).position(|w| w == from).unwrap();
        v[at..at + from.len()].copy_from_slice(to);
    };
    // The end record says 9 entries: a reader that trusts it gives up.
    let mut z = zip_of(&["a.txt", "run.exe"]);
    let end = z.len() - 22;
    z[end + 8..end + 12].copy_from_slice(&[9, 0, 9, 0]);
    put("badcount.zip", &z);
    // The second local header's magic is broken.
    let mut z = zip_of(&["a.txt", "b.txt", "c.txt"]);
    let second = z
        .windows(4)
        .enumerate()
        .filter(|(_, w)| *w == b"PK\x03\x04")
        .nth(1)
        .unwrap()
        .0;
    z[second] = b'X';
    put("badlocal.zip", &z);
    // Names repeat: the third entry is still the third.
    let mut z = zip_of(&["a.txt", "b.txt", "c.txt"]);
    for from in [&b"b.txt"[..], b"b.txt"] {
        patch(&mut z, from, b"a.txt");
    }
    put("dup.zip", &z);
    // A password-protected 7z.
    std::fs::write(d.path().join("invoice.exe"), b"MZ not really").unwrap();
    let o = run(Command::new(peer("7z", "p7zip-full"))
        .args(["a", "-bd", "-y", "-pSECRET"])
        .arg(files.join("enc.7z"))
        .arg("invoice.exe")
        .current_dir(d.path()));
    assert!(o.status.success(), "{o:?}");
    for (name, disposition) in [
        ("whole.eml", "attachment; filename*=UTF-8''faktura%2Eexe"),
        ("section.eml", "attachment; filename*0=\"faktura.exe\""),
    ] {
        put(
            name,
            format!(
                "From: a@example.com\nTo: b@example.com\nSubject: x\nMIME-Version: 1.0\n\
                 Content-Type: multipart/mixed; boundary=\"BB\"\n\n--BB\nContent-Type: text/plain\n\nhi\n\
                 --BB\nContent-Type: application/octet-stream; name=\"x.bin\"\n\
                 Content-Disposition: {disposition}\nContent-Transfer-Encoding: base64\n\n\
                 TVogZmFrZQo=\n--BB--\n"
            )
            .as_bytes(),
        );
    }
    let theirs = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "--disable-cache", "-d"])
        .arg(&db)
        .arg(&files));
    let ours = run(cli()
        .args(["--format", "clamscan", "--no-summary", "-d"])
        .arg(&db)
        .arg(&files));
    let found = |out: &[u8]| -> Vec<(String, Option<String>)> {
        nod32_tests::parse_clamscan_exact(&String::from_utf8_lossy(out))
            .into_iter()
            .filter(|(_, n)| n.is_some())
            .collect()
    };
    let want = found(&theirs.stdout);
    assert_eq!(found(&ours.stdout), want);
    // Every one of them is found by its rule.
    assert_eq!(want.len(), 6, "{want:?}");
}
