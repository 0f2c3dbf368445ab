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
use std::process::{Command, Output};
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

/// The init script the guide installs for a host without systemd,
/// stopped (and its pid file gone) whatever happens in the test.
struct InitScript(PathBuf);

impl Drop for InitScript {
    fn drop(&mut self) {
        if self.0.exists() {
            let _ = Command::new(&self.0).arg("stop").output();
        }
    }
}

/// The lines of a guide block that are commands.
fn guide_lines(name: &str) -> Vec<String> {
    doc_recipe("GUIDE.md", name)
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// One line of a guide block run as the administrator would: as root,
/// with `sh -c`, in `cwd`, the tests' Postfix being the Postfix it
/// configures (MAIL_CONFIG). A trailing comment may say the status it
/// ends with ("status N"), 0 otherwise. Returns what it printed.
fn guide_line(line: &str, cwd: &Path) -> String {
    let (cmd, comment) =
        line.find("  #").map_or((line, ""), |i| line.split_at(i));
    let want = comment
        .split("status ")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<i32>().ok())
        .unwrap_or(0);
    let out = run(Command::new("sh")
        .args(["-c", cmd])
        .current_dir(cwd)
        .env("MAIL_CONFIG", postfix_config()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(want),
        "the guide's line {cmd:?} ended with {}:\n{text}",
        out.status
    );
    text
}

/// The guide's swaks lines, pointed at the tests' Postfix: the guide's
/// `you@your.domain` is a local user there, and each message carries a
/// subject to find it by.
fn swaks_line(line: &str, subject: &str) -> String {
    line.replace(
        "--to you@your.domain",
        &format!(
            "--server 127.0.0.1:2525 --from nod32admin@localhost \
             --to nod32user@localhost --header 'Subject: {subject}'"
        ),
    )
}

/// Messages holding `token` in a test user's Maildir.
fn copies(user: &str, token: &str) -> usize {
    ["new", "cur"]
        .iter()
        .flat_map(|d| std::fs::read_dir(format!("/home/{user}/Maildir/{d}")))
        .flatten()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path()).is_ok_and(|m| {
                memchr::memmem::find(&m, token.as_bytes()).is_some()
            })
        })
        .count()
}

/// docs/GUIDE.md walked from installing to removing, its blocks run as
/// written on the package `cargo xtask dist` built, through the tests'
/// own Postfix, on a host without systemd as PID 1 (the guide's
/// sysvinit lines start the milter): install, first check, the milter
/// configured and checked, the quarantine turned on by a reload and
/// used (a release reaches its recipient once and bounces nothing),
/// then removal, after which mail flows as before.
#[test]
fn the_guide_walked_from_install_to_removal() {
    let _one = ONE.lock().unwrap_or_else(|p| p.into_inner());
    postfix();
    let work = tempfile::tempdir().unwrap();
    let here = work.path();
    let _eicar = scopeguard("/tmp/eicar.com");

    // 1. Installing, in the directory that holds the package.
    if !status().is_empty() {
        dpkg(&["--purge", "nod32"]);
    }
    assert!(!Path::new("/etc/nod32").exists());
    let pkg = Installed;
    for l in guide_lines("install-deb") {
        guide_line(&l, deb().parent().unwrap());
    }
    assert_eq!(status(), "install ok installed");

    // 2. First checks: the configuration is fine, EICAR is found.
    let said: Vec<String> = guide_lines("first-check")
        .iter()
        .map(|l| guide_line(l, here))
        .collect();
    assert!(said[0].contains("configuration OK"), "{}", said[0]);
    assert!(said.last().unwrap().contains("Eicar-Test-Signature"), "{said:?}");

    // 4.1 The milter's keys, set in the installed file; the unit's own
    // check of them (ExecStartPre) agrees.
    let keys = |block: &str| -> (String, Vec<(String, String)>) {
        let text = doc_recipe("GUIDE.md", block);
        let mut lines = text.lines();
        let section =
            lines.next().unwrap().trim_matches(['[', ']']).to_string();
        let keys = lines
            .filter_map(|l| l.split_once(" = "))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        (section, keys)
    };
    let set = |block: &str| {
        let (section, keys) = keys(block);
        let conf = std::fs::read_to_string("/etc/nod32/nod32.toml").unwrap();
        std::fs::write(
            "/etc/nod32/nod32.toml",
            set_keys(&conf, &section, &keys),
        )
        .unwrap();
    };
    set("postfix-milter-config");
    let unit =
        std::fs::read_to_string("/lib/systemd/system/nod32smfi.service")
            .unwrap();
    let pre = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStartPre="))
        .expect("nod32smfi.service has an ExecStartPre");
    let said = guide_line(pre, here);
    assert!(
        said.contains("configuration OK") && said.contains("8890"),
        "{said}"
    );

    // 4.2 Started the way chapter 1 gives for a host without systemd,
    // its init script kept under the test's directory rather than
    // /etc/init.d, and no boot links made.
    let init_d = here.join("init.d");
    std::fs::create_dir(&init_d).unwrap();
    let init = InitScript(init_d.join("nod32smfi"));
    for l in guide_lines("sysvinit") {
        if l.starts_with("update-rc.d") {
            continue;
        }
        guide_line(
            &l.replace("/etc/init.d/", &format!("{}/", init_d.display())),
            here,
        );
    }
    assert!(Path::new("/run/nod32/nod32smfi.pid").exists());
    assert!(std::net::TcpStream::connect("127.0.0.1:8890").is_ok());

    // 4.3 Postfix pointed at it.
    let _restore = MainCf(
        std::fs::read_to_string(postfix_config().join("main.cf")).unwrap(),
    );
    for l in guide_lines("postfix-milter") {
        guide_line(&l, here);
    }

    // 4.4 The check: EICAR refused in the session, clean mail delivered.
    // The reload reaches new smtpd processes; an old one may take one
    // more session.
    let check = guide_lines("milter-check");
    let tag = token("guide");
    let t0 = Instant::now();
    loop {
        let l = swaks_line(&check[0], &format!("{tag} eicar"));
        let out =
            run(Command::new("sh")
                .args(["-c", l.split("  #").next().unwrap()]));
        if out.status.code() == Some(26)
            || t0.elapsed() > Duration::from_secs(20)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let said =
        guide_line(&swaks_line(&check[0], &format!("{tag} eicar")), here);
    assert!(
        said.contains("550 5.7.1 Virus found: Eicar-Test-Signature"),
        "{said}"
    );
    let said =
        guide_line(&swaks_line(&check[1], &format!("{tag} clean")), here);
    assert!(said.contains("250 2.0.0 Ok: queued"), "{said}");
    wait_for_mail("nod32user", &format!("{tag} clean"));
    assert_eq!(copies("nod32user", &format!("{tag} eicar")), 0);

    // 10. The quarantine: turned on, taken at the reload at once.
    set("quarantine-config");
    guide_line(&format!("{} reload", init.0.display()), here);
    let (kept, dropped) = (format!("{tag} kept"), format!("{tag} dropped"));
    for subject in [&kept, &dropped] {
        let said = guide_line(&swaks_line(&check[0], subject), here);
        assert!(said.contains("550 5.7.1 Virus found"), "{said}");
    }
    let cmds = guide_lines("quarantine");
    let list = guide_line(&cmds[0], here);
    // One line per message; the count comes last, on stderr.
    let listed = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.starts_with("nod32cli:"))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect()
    };
    let ids = listed(&list);
    assert_eq!(ids.len(), 2, "{list}");
    let show = |id: &str| {
        guide_line(&cmds[1].replace(" ID", &format!(" {id}")), here)
    };
    let (kept_id, dropped_id) = if show(&ids[0]).contains(&kept) {
        (&ids[0], &ids[1])
    } else {
        (&ids[1], &ids[0])
    };
    let shown = show(kept_id);
    assert!(
        shown.contains(&kept) && shown.contains("Eicar-Test-Signature"),
        "{shown}"
    );
    guide_line(&cmds[2].replace(" ID", &format!(" {kept_id}")), here);
    let raw = std::fs::read(here.join("m.eml")).unwrap();
    assert!(memchr::memmem::find(&raw, kept.as_bytes()).is_some());
    // The original as sent: EICAR in swaks' base64 attachment.
    let encoded = nod32_tests::base64(&eicar());
    assert!(memchr::memmem::find(&raw, &encoded.as_bytes()[..40]).is_some());
    // Released past the milter (non_smtpd_milters scans what sendmail
    // submits): delivered once, and the sender gets no bounce.
    let release = cmds[3]
        .replace(" [--to ADDRESS]", "")
        .replace(" ID", &format!(" {kept_id}"));
    let said = guide_line(&release, here);
    assert!(said.contains(&format!("released {kept_id}")), "{said}");
    wait_for_mail("nod32user", &kept);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(copies("nod32user", &kept), 1);
    assert_eq!(copies("nod32admin", &kept), 0, "the release bounced");
    guide_line(&cmds[4].replace(" ID", &format!(" {dropped_id}")), here);
    let list = guide_line(&cmds[0], here);
    assert!(listed(&list).is_empty(), "{list}");

    // 11. Removing: the service stopped (its init script gone), the
    // Postfix lines taken out, the package purged; mail flows again as
    // before, unscanned and undelayed.
    for l in guide_lines("removing") {
        if l.starts_with("systemctl disable --now nod32smfi") {
            guide_line(&format!("{} stop", init.0.display()), here);
            std::fs::remove_file(&init.0).unwrap();
            continue;
        }
        guide_line(&l, here);
    }
    assert_eq!(status(), "");
    assert!(!Path::new("/etc/nod32").exists());
    assert!(!Path::new("/run/nod32/nod32smfi.pid").exists());
    assert!(std::net::TcpStream::connect("127.0.0.1:8890").is_err());
    let t0 = Instant::now();
    let after = loop {
        let said = swaks(
            format!("Subject: {tag} after\r\n\r\nafter removal\r\n")
                .as_bytes(),
        );
        if said.contains("250 2.0.0 Ok: queued")
            || t0.elapsed() > Duration::from_secs(20)
        {
            break said;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(after.contains("250 2.0.0 Ok: queued"), "{after}");
    wait_for_mail("nod32user", &format!("{tag} after"));
    drop(pkg);
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

/// A file the guide writes, removed when the test ends.
fn scopeguard(path: &'static str) -> impl Drop {
    struct Remove(&'static str);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0);
        }
    }
    Remove(path)
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
