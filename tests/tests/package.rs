//! The Debian package that `cargo xtask dist` builds, installed on this
//! machine with dpkg as an administrator would: it runs, its units and
//! man pages check out, lintian finds no error, a reinstall keeps a
//! changed configuration and the modules, removal keeps what it should,
//! purge leaves nothing; and the guide's Postfix milter recipe, followed
//! literally on the installed package, stops EICAR.
//!
//! Both tests install and purge the package, one at a time.
#![forbid(unsafe_code)]

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nod32_tests::{
    doc_recipe, eicar, peer, postfix, postfix_cmd, postfix_config, run, token,
    wait_for_mail,
};

static ONE: Mutex<()> = Mutex::new(());

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn deb() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../target/dist/nod32_{VERSION}-1_amd64.deb"));
    assert!(
        p.exists(),
        "{} is missing: `cargo xtask dist` builds it (`cargo xtask test` does)",
        p.display()
    );
    p
}

fn ok(out: Output, what: &str) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed ({}):\n{text}", out.status);
    text
}

fn dpkg(args: &[&str]) -> String {
    ok(
        run(Command::new(peer("dpkg", "dpkg"))
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")),
        &format!("dpkg {}", args.join(" ")),
    )
}

fn status() -> String {
    let out =
        run(Command::new("dpkg-query").args(["-W", "-f=${Status}", "nod32"]));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The package installed fresh; purged again when dropped, so that a
/// failing test leaves the machine as it found it.
struct Installed;

impl Installed {
    fn fresh() -> Installed {
        if !status().is_empty() {
            dpkg(&["--purge", "nod32"]);
        }
        assert!(
            !Path::new("/etc/nod32").exists(),
            "/etc/nod32 exists without the package: not ours to overwrite"
        );
        dpkg(&["-i", deb().to_str().unwrap()]);
        assert_eq!(status(), "install ok installed");
        Installed
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        if !status().is_empty() {
            let _ = Command::new("dpkg").args(["--purge", "nod32"]).output();
        }
    }
}

fn installed_bin(name: &str) -> PathBuf {
    let p = ["/usr/bin", "/usr/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists());
    p.unwrap_or_else(|| panic!("{name} is not installed"))
}

/// Every non-directory path the package ships.
fn package_files() -> Vec<String> {
    let out =
        ok(run(Command::new("dpkg-deb").arg("-c").arg(deb())), "dpkg-deb -c");
    out.lines()
        .filter(|l| !l.starts_with('d'))
        .filter_map(|l| l.split_whitespace().nth(5))
        .map(|p| p.trim_start_matches('.').to_string())
        .collect()
}

/// What the man page says, as a person reads it.
fn man_text(page: &Path) -> String {
    let out = run(Command::new(peer("man", "man-db"))
        .arg("-l")
        .arg(page)
        .env("MANWIDTH", "200")
        .env("LC_ALL", "C")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat"));
    ok(out, &format!("man -l {}", page.display()))
}

#[test]
fn package_installs_runs_keeps_config_and_purges_cleanly() {
    let _one = ONE.lock().unwrap_or_else(|p| p.into_inner());
    let files = package_files();
    let pkg = Installed::fresh();

    // What apt and dpkg -l show names the suite's parts.
    let desc = ok(
        run(Command::new("dpkg-query").args([
            "-W",
            "-f=${Description}",
            "nod32",
        ])),
        "dpkg-query",
    );
    let synopsis = desc.lines().next().unwrap_or_default();
    for part in
        ["mail antivirus", "milter", "SMTP proxy", "MDA", "scanner", "updater"]
    {
        assert!(
            synopsis.contains(part),
            "{part} not in the synopsis {synopsis:?}"
        );
    }
    assert!(synopsis.len() <= 80, "{synopsis:?}");

    // lintian: no errors (warnings are printed).
    let out = run(Command::new(peer("lintian", "lintian"))
        .args(["--fail-on", "error", "--allow-root"])
        .arg(deb()));
    let said = ok(out, "lintian");
    eprintln!("lintian:\n{said}");

    // Each of the five names answers, and names the module postinst
    // built and what it was built from.
    for name in ["nod32cli", "nod32mda", "nod32smfi", "nod32smtp", "nod32upd"]
    {
        let v =
            ok(run(Command::new(installed_bin(name)).arg("--version")), name);
        let lines: Vec<&str> = v.lines().collect();
        assert_eq!(lines[0], format!("{name} {VERSION}"));
        assert!(
            lines[1].starts_with(
                "module /var/lib/nod32/nod32.000: default.ndb, default.hdb; "
            ),
            "{v}"
        );
    }

    // What postinst made.
    assert!(run(Command::new("id").arg("nod32")).status.success());
    let q = std::fs::metadata("/var/spool/nod32/quarantine").unwrap();
    assert_eq!(q.permissions().mode() & 0o777, 0o700);
    let nod32_uid = String::from_utf8_lossy(
        &run(Command::new("id").args(["-u", "nod32"])).stdout,
    )
    .trim()
    .parse::<u32>()
    .unwrap();
    assert_eq!(q.uid(), nod32_uid);
    assert!(Path::new("/var/lib/nod32/nod32.000").is_file());

    // A scan with the installed default module (no warning that the
    // built-in one stands in).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("eicar.com"), eicar()).unwrap();
    std::fs::write(dir.path().join("clean.txt"), b"nothing here\n").unwrap();
    let out = run(Command::new("/usr/bin/nod32cli").arg(dir.path()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stdout.contains("virus=\"Eicar-Test-Signature\""), "{stdout}");
    assert!(!stderr.contains("built-in"), "{stderr}");

    // The units, with their Documentation= man pages.
    let units: Vec<String> = files
        .iter()
        .filter(|f| f.starts_with("/lib/systemd/system/"))
        .cloned()
        .collect();
    assert_eq!(units.len(), 6, "{units:?}");
    let out = run(Command::new(peer("systemd-analyze", "systemd"))
        .args(["verify", "--man=yes"])
        .args(&units));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");

    // Every man page renders without a warning, and says what --help
    // says: each long option of --help is in it.
    let pages: Vec<&String> =
        files.iter().filter(|f| f.starts_with("/usr/share/man/")).collect();
    assert_eq!(pages.len(), 6, "{pages:?}");
    for page in &pages {
        let out = run(Command::new("man")
            .args(["--warnings", "-l"])
            .arg(page)
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat"));
        let warned = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && warned.is_empty(), "{page}: {warned}");
    }
    for (name, section) in [
        ("nod32cli", 1),
        ("nod32mda", 1),
        ("nod32smfi", 8),
        ("nod32smtp", 8),
        ("nod32upd", 8),
    ] {
        let page = format!("/usr/share/man/man{section}/{name}.{section}.gz");
        let text = man_text(Path::new(&page));
        let help_flag = if name == "nod32mda" { "-h" } else { "--help" };
        let mut cmd = Command::new(installed_bin(name));
        if name == "nod32mda" {
            cmd.arg("--");
        }
        let help = ok(run(cmd.arg(help_flag)), &format!("{name} --help"));
        let mut options = 0;
        for word in help.split(|c: char| c.is_whitespace() || c == ',') {
            let flag = word.trim_end_matches(['.', ')', ':']);
            if let Some(long) = flag.strip_prefix("--")
                && !long.is_empty()
                && long.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
            {
                assert!(
                    text.contains(&format!("--{long}")),
                    "{name}: --{long} is in --help but not in {page}"
                );
                options += 1;
            }
        }
        assert!(options >= 2, "{name}: {help}");
        // --help's closing headings are sections of the page (the
        // services' exit statuses and signals among them).
        let headings: &[&str] = if section == 8 && name != "nod32upd" {
            &["SIGNALS", "EXIT STATUS", "SEE ALSO"]
        } else {
            &["SEE ALSO"]
        };
        for heading in headings {
            assert!(
                text.lines().any(|l| l.trim_end() == *heading),
                "{name}: no {heading} section in {page}"
            );
        }
        assert!(!text.contains("EXTRA"), "{name}: an EXTRA heading");
        let about = help.lines().next().unwrap();
        let first_words: String =
            about.split_whitespace().take(6).collect::<Vec<_>>().join(" ");
        assert!(
            text.split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .contains(&first_words),
            "{name}: the man page does not open as --help does ({first_words})"
        );
    }
    let toml = man_text(Path::new("/usr/share/man/man5/nod32.toml.5.gz"));
    for key in
        ["action_on_infected", "smfi_sock_path", "server_tls", "mirror_dir"]
    {
        assert!(toml.contains(key), "nod32.toml(5) lacks {key}");
    }

    // Shell completions are where the shells look.
    assert!(
        Path::new("/usr/share/bash-completion/completions/nod32cli").exists()
    );

    // Reinstall over itself: a changed conffile and the modules stay.
    let mark = token("conffile");
    let mut conf = std::fs::OpenOptions::new()
        .append(true)
        .open("/etc/nod32/nod32.toml")
        .unwrap();
    writeln!(conf, "# changed by the administrator: {mark}").unwrap();
    drop(conf);
    let sigs = dir.path().join("local.ndb");
    let marker = token("LOCALMARK");
    std::fs::write(
        &sigs,
        format!(
            "Local.Test.Marker:0:*:{}\n",
            nod32_tests::hex(marker.as_bytes())
        ),
    )
    .unwrap();
    ok(
        run(Command::new("/usr/bin/nod32cli")
            .arg("compile")
            .arg(&sigs)
            .args(["-o", "/var/lib/nod32/nod32.000"])),
        "nod32cli compile",
    );
    let sample = dir.path().join("marked.txt");
    std::fs::write(&sample, format!("x {marker} y\n")).unwrap();
    let detects_local = || {
        let out = run(Command::new("/usr/bin/nod32cli").arg(&sample));
        String::from_utf8_lossy(&out.stdout).contains("Local.Test.Marker")
    };
    assert!(detects_local());
    std::fs::write("/var/spool/nod32/quarantine/kept", b"a held message")
        .unwrap();
    dpkg(&["-i", deb().to_str().unwrap()]);
    let conf = std::fs::read_to_string("/etc/nod32/nod32.toml").unwrap();
    assert!(conf.contains(&mark), "the changed nod32.toml was replaced");
    assert!(!Path::new("/etc/nod32/nod32.toml.dpkg-new").exists());
    assert!(detects_local(), "the reinstall replaced the module");

    // Remove: programs gone; configuration, modules, quarantine kept.
    dpkg(&["-r", "nod32"]);
    assert_eq!(status(), "deinstall ok config-files");
    assert!(!Path::new("/usr/bin/nod32cli").exists());
    assert!(!Path::new("/usr/lib/nod32/nod32").exists());
    assert!(
        std::fs::read_to_string("/etc/nod32/nod32.toml")
            .unwrap()
            .contains(&mark)
    );
    assert!(Path::new("/var/spool/nod32/quarantine/kept").exists());
    assert!(Path::new("/var/lib/nod32/nod32.000").exists());

    // Purge: nothing of the package is left.
    dpkg(&["--purge", "nod32"]);
    assert_eq!(status(), "");
    for f in &files {
        assert!(!Path::new(f).exists(), "{f} is left after purge");
    }
    for d in
        ["/etc/nod32", "/var/lib/nod32", "/var/spool/nod32", "/usr/lib/nod32"]
    {
        assert!(!Path::new(d).exists(), "{d} is left after purge");
    }
    drop(pkg);
}

/// `key = value` lines set in `[section]` of a TOML text, as an
/// administrator edits them: the line of that key replaced, or added at
/// the section's end.
fn set_keys(text: &str, section: &str, keys: &[(String, String)]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut done: Vec<&str> = Vec::new();
    let finish =
        |out: &mut Vec<String>, current: &str, done: &mut Vec<&str>| {
            if current == section {
                for (k, v) in keys {
                    if !done.contains(&k.as_str()) {
                        out.push(format!("{k} = {v}"));
                    }
                }
            }
        };
    for line in text.lines() {
        if let Some(s) =
            line.trim().strip_prefix('[').and_then(|s| s.strip_suffix(']'))
        {
            finish(&mut out, &current, &mut done);
            current = s.to_string();
        } else if current == section
            && let Some((k, v)) =
                keys.iter().find(|(k, _)| line.starts_with(&format!("{k} =")))
        {
            out.push(format!("{k} = {v}"));
            done.push(k);
            continue;
        }
        out.push(line.to_string());
    }
    finish(&mut out, &current, &mut done);
    out.join("\n") + "\n"
}

/// The guide's main.cf lines undone in the tests' Postfix and that
/// reloaded, whatever happens in the test.
struct MainCf(String);

impl Drop for MainCf {
    fn drop(&mut self) {
        let _ = std::fs::write(postfix_config().join("main.cf"), &self.0);
        let _ = postfix_cmd("postfix").arg("reload").output();
    }
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.0.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.0.wait();
    }
}

fn swaks(msg: &[u8]) -> String {
    let out = nod32_tests::swaks(
        "127.0.0.1:2525",
        "nod32admin@localhost",
        "nod32user@localhost",
        msg,
        &[],
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn guide_postfix_milter_recipe_on_the_installed_package_stops_eicar() {
    let _one = ONE.lock().unwrap_or_else(|p| p.into_inner());
    postfix();
    let _pkg = Installed::fresh();

    // Step 1: the [smfi] keys of the guide, set in the installed file.
    let block = doc_recipe("GUIDE.md", "postfix-milter-config");
    let mut lines = block.lines();
    assert_eq!(lines.next(), Some("[smfi]"));
    let keys: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert!(keys.iter().any(|(k, _)| k == "smfi_sock_path"));
    let conf = std::fs::read_to_string("/etc/nod32/nod32.toml").unwrap();
    std::fs::write("/etc/nod32/nod32.toml", set_keys(&conf, "smfi", &keys))
        .unwrap();

    // Step 2: what `systemctl enable --now nod32smfi.service` runs: the
    // unit's ExecStartPre, then its ExecStart (no systemd here as PID 1).
    let unit =
        std::fs::read_to_string("/lib/systemd/system/nod32smfi.service")
            .unwrap();
    let exec = |key: &str| -> Vec<String> {
        let line = unit
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("nod32smfi.service has no {key}"));
        line.split_whitespace().map(str::to_string).collect()
    };
    let pre = exec("ExecStartPre");
    let said = ok(run(Command::new(&pre[0]).args(&pre[1..])), "ExecStartPre");
    assert!(
        said.contains("configuration OK") && said.contains("8890"),
        "{said}"
    );
    let start = exec("ExecStart");
    let log_path = tempfile::NamedTempFile::new().unwrap();
    let daemon = Daemon(
        Command::new(&start[0])
            .args(&start[1..])
            .stderr(log_path.reopen().unwrap())
            .spawn()
            .unwrap(),
    );
    let t0 = Instant::now();
    while std::net::TcpStream::connect("127.0.0.1:8890").is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "nod32smfi did not listen: {}",
            std::fs::read_to_string(log_path.path()).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Step 3: the guide's postconf lines, run as written.
    let _restore = MainCf(
        std::fs::read_to_string(postfix_config().join("main.cf")).unwrap(),
    );
    let recipe = doc_recipe("GUIDE.md", "postfix-milter");
    ok(
        run(Command::new("sh")
            .args(["-e", "-c", &recipe])
            .env("MAIL_CONFIG", postfix_config())),
        "the guide's postconf lines",
    );

    // Step 4: EICAR refused in the SMTP session, clean mail delivered.
    let tag = token("guidemilter");
    let attach = |data: &[u8]| {
        format!(
            "From: nod32admin@localhost\r\nTo: nod32user@localhost\r\n\
             Subject: {tag}\r\nMessage-ID: <{tag}-{}@example.org>\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\n\
             Content-Type: application/octet-stream; name=\"eicar.com\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
            data.len(),
            nod32_tests::base64(data)
        )
        .into_bytes()
    };
    // The reload reaches new smtpd processes; an old one may take one
    // more session.
    let t0 = Instant::now();
    let refused = loop {
        let t = swaks(&attach(&eicar()));
        if t.contains("550 5.7.1") || t0.elapsed() > Duration::from_secs(20) {
            break t;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(
        refused.contains("550 5.7.1 Virus found: Eicar-Test-Signature"),
        "{refused}\nnod32smfi: {}",
        std::fs::read_to_string(log_path.path()).unwrap_or_default()
    );
    let t = swaks(&attach(b"harmless"));
    assert!(t.contains("250 2.0.0 Ok: queued"), "{t}");
    let m = wait_for_mail("nod32user", &format!("{tag}-8@example.org"));
    assert!(String::from_utf8_lossy(&m).contains("hello"));
    drop(daemon);
}

/// The tarball for systems without dpkg: its install.sh lays out the same
/// tree as the package (here under DESTDIR), the links run, the first
/// module is made, and a second run keeps a changed configuration.
#[test]
fn tarball_install_script_lays_out_the_package_tree() {
    let tgz =
        deb().with_file_name(format!("nod32-{VERSION}-x86_64-linux.tar.gz"));
    assert!(tgz.exists(), "{} is missing: cargo xtask dist", tgz.display());
    let work = tempfile::tempdir().unwrap();
    ok(
        run(Command::new("tar")
            .arg("-C")
            .arg(work.path())
            .arg("-xzf")
            .arg(&tgz)),
        "tar",
    );
    let script =
        work.path().join(format!("nod32-{VERSION}-x86_64-linux/install.sh"));
    let dest = work.path().join("root");
    let install = || {
        ok(
            run(Command::new("sh").arg(&script).env("DESTDIR", &dest)),
            "install.sh",
        )
    };
    install();
    for f in package_files() {
        assert!(
            dest.join(f.trim_start_matches('/')).symlink_metadata().is_ok(),
            "{f} is not installed by install.sh"
        );
    }
    let cli = dest.join("usr/bin/nod32cli");
    let v = ok(run(Command::new(&cli).arg("--version")), "nod32cli --version");
    // Then the module of this machine's configuration, if any.
    assert_eq!(v.lines().next(), Some(format!("nod32cli {VERSION}").as_str()));
    let module = dest.join("var/lib/nod32/nod32.000");
    let sample = work.path().join("eicar.com");
    std::fs::write(&sample, eicar()).unwrap();
    let out = run(Command::new(&cli).arg("--db").arg(&module).arg(&sample));
    assert_eq!(out.status.code(), Some(1));
    let conf = dest.join("etc/nod32/nod32.toml");
    std::fs::write(&conf, "# mine\n").unwrap();
    let said = install();
    assert!(said.contains("kept /etc/nod32/nod32.toml"), "{said}");
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), "# mine\n");
    assert!(dest.join("etc/nod32/nod32.toml.new").exists());
}
