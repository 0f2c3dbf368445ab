//! The MTA recipes of docs/GUIDE.md (chapter 3), taken from the document itself and
//! run with the real programs Debian has: Exim 4 (unpacked by `cargo
//! xtask test`, since it conflicts with Postfix), Sendmail's m4 macros,
//! and qmail's delivery line run the way qmail-local runs it. The Postfix
//! recipe is run through Postfix in mda.rs.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nod32_tests::{
    base64_lines, bin, eicar, mda_recipe as recipe, peer, run, token,
};

fn message(tag: &str, attachment: &[u8]) -> Vec<u8> {
    format!(
        "From: alice@localhost\nTo: nod32user@localhost\nSubject: {tag}\n\
         Message-ID: <{tag}@example.org>\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"zz\"\n\n--zz\n\
         Content-Type: text/plain\n\nHello.\n--zz\n\
         Content-Type: application/octet-stream; name=\"a.bin\"\n\
         Content-Transfer-Encoding: base64\n\n{}\n--zz--\n",
        base64_lines(attachment, "\n")
    )
    .into_bytes()
}

/// A directory every user can read, with a module and a config.
struct Dir {
    d: tempfile::TempDir,
    cfg: PathBuf,
}

impl Dir {
    fn new() -> Dir {
        let (d, _) = nod32_tests::module_dir();
        let cfg = d.path().join("nod32.toml");
        Dir { d, cfg }
    }

    fn path(&self) -> &Path {
        self.d.path()
    }

    fn config(&self, mda: &str) {
        std::fs::write(
            &self.cfg,
            format!(
                "[global]\nmodule = \"{}\"\n[mda]\n{mda}\n",
                self.path().join("nod32.000").display()
            ),
        )
        .unwrap();
    }

    /// A stand-in real agent that records its arguments and its stdin.
    fn recorder(&self) -> PathBuf {
        let p = self.path().join("recorder");
        std::fs::write(
            &p,
            format!(
                "#!/bin/sh\nprintf '%s\\n' \"$@\" > {0}/args\ncat > {0}/stdin\n",
                self.path().display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
            .unwrap();
        p
    }

    fn recorded(&self) -> Option<(String, Vec<u8>)> {
        let args = std::fs::read_to_string(self.path().join("args")).ok()?;
        let stdin = std::fs::read(self.path().join("stdin")).ok()?;
        let _ = std::fs::remove_file(self.path().join("args"));
        let _ = std::fs::remove_file(self.path().join("stdin"));
        Some((args, stdin))
    }
}

fn exim_log(spool: &Path) -> String {
    std::fs::read_to_string(spool.join("mainlog")).unwrap_or_default()
}

/// Waits (at most 30 s: the re-injected copy is delivered in the
/// background) for a log line with every one of `words`.
fn wait_exim_log(spool: &Path, words: &[&str]) -> String {
    let t0 = std::time::Instant::now();
    loop {
        let log = exim_log(spool);
        if let Some(l) =
            log.lines().find(|l| words.iter().all(|w| l.contains(w)))
        {
            return l.to_string();
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "no line with {words:?} in Exim's log:\n{log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The Exim 4 recipe in a real Exim 4: the documented router and
/// transport plus the documented re-injection script, around a minimal
/// local set-up (spool, a local domain, a Maildir delivery for what
/// comes back scanned).
#[test]
fn exim4_recipe_scans_reinjects_and_refuses() {
    let exim = Path::new("/usr/sbin/exim4");
    assert!(
        exim.exists(),
        "/usr/sbin/exim4 (unpacked Debian Exim) is missing: cargo xtask install-peers sets it up"
    );
    let d = Dir::new();
    let spool = d.path().join("spool");
    let maildir = d.path().join("Maildir");
    let ex = nix::unistd::User::from_name("Debian-exim").unwrap().unwrap();
    for dir in [&spool, &maildir] {
        std::fs::create_dir(dir).unwrap();
        std::os::unix::fs::chown(
            dir,
            Some(ex.uid.as_raw()),
            Some(ex.gid.as_raw()),
        )
        .unwrap();
    }
    let conf = d.path().join("exim.conf");
    let reinject = d.path().join("exim-reinject");
    std::fs::write(&reinject, recipe("exim-reinject")).unwrap();
    std::fs::set_permissions(
        &reinject,
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();

    let doc = recipe("exim4");
    // Installed paths become this build's; the test's Exim runs on its
    // own configuration file (-C), which the re-injection must use too.
    let doc = doc.replace(
        "command = /usr/bin/nod32mda",
        &format!(
            "command = {} -C {} -- -c {}",
            bin("nod32mda").display(),
            conf.display(),
            d.cfg.display()
        ),
    );
    let (routers, transports) = doc.split_once("begin transports").unwrap();
    std::fs::write(
        &conf,
        format!(
            "primary_hostname = localhost\nqualify_domain = localhost\n\
             domainlist local_domains = localhost\n\
             spool_directory = {spool}\nlog_file_path = {spool}/%slog\n\
             keep_environment =\n\n\
             {routers}\n\
             local_user:\n  driver = accept\n  domains = +local_domains\n  \
             transport = local_delivery\n\n\
             begin transports\n{transports}\n\
             local_delivery:\n  driver = appendfile\n  directory = {maildir}\n  \
             maildir_format\n  create_directory\n  user = Debian-exim\n\n\
             begin retry\n* * F,2h,15m; G,16h,1h,1.5; F,4d,6h\n",
            spool = spool.display(),
            maildir = maildir.display()
        ),
    )
    .unwrap();
    let exim_cmd = || {
        let mut c = Command::new(exim);
        c.arg("-C").arg(&conf);
        c
    };
    let v = run(exim_cmd().arg("-bV"));
    assert!(
        v.status.success(),
        "exim -bV: {}{}",
        String::from_utf8_lossy(&v.stdout),
        String::from_utf8_lossy(&v.stderr)
    );
    let t = run(exim_cmd().args(["-bt", "nod32user@localhost"]));
    assert!(
        String::from_utf8_lossy(&t.stdout)
            .contains("router = nod32_scan, transport = nod32_scan"),
        "{}",
        String::from_utf8_lossy(&t.stdout)
    );

    let deliver = |msg: &[u8]| {
        nod32_tests::run_with_input(
            exim_cmd().args([
                "-odf",
                "-oi",
                "-f",
                "alice@localhost",
                "nod32user@localhost",
            ]),
            msg,
        );
    };

    // Clean: scanned, handed back with protocol virus-scanned, delivered
    // with the body unchanged.
    d.config(&format!(
        "mda_path = \"{}\"\nmta = \"exim\"\n",
        reinject.display()
    ));
    let tag = token("exim");
    let clean = message(&tag, b"harmless bytes");
    deliver(&clean);
    wait_exim_log(&spool, &[" <= alice@localhost ", " P=virus-scanned "]);
    wait_exim_log(&spool, &[" => ", "R=local_user T=local_delivery"]);
    let log = exim_log(&spool);
    let got: Vec<Vec<u8>> = std::fs::read_dir(maildir.join("new"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    assert_eq!(got.len(), 1, "{log}");
    let body = |m: &[u8]| {
        let i = m.windows(2).position(|w| w == b"\n\n").unwrap();
        m[i..].to_vec()
    };
    assert_eq!(body(&got[0]), body(&clean));

    // EICAR: the delivery fails with nod32mda's text in the bounce.
    let tag = token("eximv");
    deliver(&message(&tag, &eicar()));
    let fail = wait_exim_log(
        &spool,
        &[" ** nod32user@localhost R=nod32_scan T=nod32_scan"],
    );
    let log = exim_log(&spool);
    assert!(fail.contains("returned 69"), "{fail}");
    // The bounce (sender <>, to alice) carries nod32mda's output.
    let bounce = log
        .lines()
        .find(|l| l.contains(" <= <> "))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or_else(|| panic!("no bounce: {log}"))
        .to_string();
    let b = run(exim_cmd().args(["-Mvb", &bounce]));
    assert!(
        String::from_utf8_lossy(&b.stdout)
            .contains("5.7.1 Virus found: Eicar-Test-Signature"),
        "{}",
        String::from_utf8_lossy(&b.stdout)
    );
    assert_eq!(std::fs::read_dir(maildir.join("new")).unwrap().count(), 1);

    // Deferred: Exim keeps the message on its queue.
    d.config(&format!(
        "mda_path = \"{}\"\nmta = \"exim\"\naction_on_infected = \"defer\"\n",
        reinject.display()
    ));
    let tag = token("eximd");
    deliver(&message(&tag, &eicar()));
    let defer = wait_exim_log(
        &spool,
        &[
            " == nod32user@localhost R=nod32_scan T=nod32_scan defer (0)",
            "returned 75",
        ],
    );
    let id = defer.split_whitespace().nth(2).unwrap();
    let q = run(exim_cmd().arg("-bp"));
    assert!(String::from_utf8_lossy(&q.stdout).contains(id));
    assert!(!exim_log(&spool).contains("retry timeout exceeded"));
}

/// The Sendmail line built into a sendmail.cf by the real m4 macros, and
/// nod32mda run with the Mlocal arguments Sendmail would give it.
#[test]
fn sendmail_recipe_builds_and_passes_procmails_arguments() {
    let m4 = peer("m4", "m4");
    let cf_m4 = Path::new("/usr/share/sendmail/cf/m4/cf.m4");
    assert!(
        cf_m4.exists(),
        "apt-get install sendmail-cf (cargo xtask test does)"
    );
    let d = Dir::new();
    let mc = d.path().join("test.mc");
    std::fs::write(
        &mc,
        format!(
            "divert(-1)\ninclude(`{}')\ndivert(0)dnl\nOSTYPE(`debian')dnl\n{}\
             MAILER(`local')dnl\nMAILER(`smtp')dnl\n",
            cf_m4.display(),
            recipe("sendmail")
        ),
    )
    .unwrap();
    let out = run(Command::new(m4).arg(&mc));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cf = String::from_utf8_lossy(&out.stdout).into_owned();
    let mlocal: String = cf
        .split("\nMlocal,")
        .nth(1)
        .expect("an Mlocal line")
        .lines()
        .take_while(|l| !l.is_empty() && !l.starts_with('M'))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(mlocal.contains("P=/usr/bin/nod32mda,"), "{mlocal}");
    let a = mlocal.split("A=").nth(1).unwrap().trim();
    assert_eq!(a, "nod32mda -Y -a $h -d $u -- --sender $g --recipient $u");

    // Sendmail execs P= with A= as argv, macros expanded.
    let argv: Vec<String> = a
        .split_whitespace()
        .map(|w| match w {
            "$h" => String::new(),
            "$u" => "nod32user".into(),
            "$g" => "alice@localhost".into(),
            w => w.into(),
        })
        .collect();
    let recorder = d.recorder();
    let tag = token("sm");
    for (attachment, code) in [(b"harmless".to_vec(), 0), (eicar(), 69)] {
        d.config(&format!(
            "mda_path = \"{}\"\nmta = \"sendmail\"\n",
            recorder.display()
        ));
        let msg = message(&tag, &attachment);
        let mut args = argv[1..].to_vec();
        args.extend(["-c".into(), d.cfg.display().to_string()]);
        let out = pipe_to(
            Command::new(bin("nod32mda")).arg0(&argv[0]).args(&args),
            &msg,
        );
        assert_eq!(out.status.code(), Some(code), "{out:?}");
        match d.recorded() {
            Some((got_args, stdin)) => {
                assert_eq!(code, 0);
                assert_eq!(got_args, "-Y\n-a\n\n-d\nnod32user\n");
                assert_eq!(stdin, msg);
            }
            None => {
                assert_eq!(code, 69);
                assert!(
                    String::from_utf8_lossy(&out.stdout).starts_with(
                        "5.7.1 Virus found: Eicar-Test-Signature"
                    )
                );
            }
        }
    }
}

fn pipe_to(cmd: &mut Command, input: &[u8]) -> std::process::Output {
    use std::io::Write;
    let mut c = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(input).unwrap();
    c.wait_with_output().unwrap()
}

use std::os::unix::process::CommandExt;

/// qmail's delivery line, run as qmail-local runs a `|command`: through
/// `sh -c` in the user's home, the envelope in the environment, the
/// message on a seekable file descriptor; qmail's codes for each action.
#[test]
fn qmail_recipe_runs_as_qmail_local_would() {
    let rc = recipe("qmail");
    let line = rc
        .split("qmail-start \"|")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a qmail-start \"|command\" line");
    let d = Dir::new();
    let recorder = d.recorder();
    let command = line
        .replace("/usr/bin/nod32mda", &bin("nod32mda").display().to_string())
        + &format!(" -- -c {}", d.cfg.display());
    let tag = token("qm");
    for (action, attachment, code) in [
        ("reject", b"harmless".to_vec(), 0),
        ("reject", eicar(), 100),
        ("defer", eicar(), 111),
        ("discard", eicar(), 99),
    ] {
        d.config(&format!(
            "mda_path = \"{}\"\nmta = \"qmail\"\naction_on_infected = \"{action}\"\n",
            recorder.display()
        ));
        let msg = message(&tag, &attachment);
        let file = d.path().join("msg");
        std::fs::write(&file, &msg).unwrap();
        let out = run(Command::new("/bin/sh")
            .args(["-c", &command])
            .current_dir(d.path())
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("SENDER", "alice@localhost")
            .env("RECIPIENT", "nod32user@localhost")
            .env("USER", "nod32user")
            .env("HOME", d.path())
            .env("DTLINE", "Delivered-To: nod32user@localhost\n")
            .env("RPLINE", "Return-Path: <alice@localhost>\n")
            .stdin(std::fs::File::open(&file).unwrap()));
        assert_eq!(out.status.code(), Some(code), "{action}: {out:?}");
        match d.recorded() {
            Some((args, stdin)) => {
                assert_eq!(code, 0);
                assert_eq!(args, "/usr/bin/procmail\nDEFAULT=./Maildir/\n");
                assert_eq!(stdin, msg);
            }
            None => assert_ne!(code, 0),
        }
    }
}
