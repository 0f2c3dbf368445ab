//! The tests' own Postfix: a private instance under a temporary
//! directory (`postfix -c DIR`), made afresh for each run with every
//! parameter the tests rely on written out. The machine's `/etc/postfix`
//! and its Postfix, running or not, are never touched: the instance has
//! its own configuration, queue, data directory, log file and ports.
//!
//! The tests find it through [`dir`] (the same rule in `tests/src`):
//! `$NOD32_TEST_POSTFIX`, or `nod32-test-postfix` in the temporary
//! directory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{MAIL_USERS, MDA_USERS, is_root, run_quiet, status};

/// Where the instance lives.
pub(crate) fn dir() -> PathBuf {
    std::env::var_os("NOD32_TEST_POSTFIX")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("nod32-test-postfix"))
}

/// Scripts and sockets the tests share with the instance's services.
pub(crate) const STATE: &str = "/var/lib/nod32-test";

/// smtpd listeners in front of nod32smfi: on a unix socket and on TCP.
/// The tests start nod32smfi there; while none runs, Postfix answers
/// 451 (milter_default_action = tempfail), so no test mail is lost.
const MILTER_LISTENERS: &[(&str, &str)] = &[
    ("127.0.0.1:2527", "unix:/var/lib/nod32-test/smfi.sock"),
    ("127.0.0.1:2528", "inet:127.0.0.1:2529"),
];

/// Its configuration directory (apart from the queue and data
/// directories, which Postfix wants owned differently).
fn etc(d: &Path) -> PathBuf {
    d.join("etc")
}

fn postfix(d: &Path) -> Command {
    let mut c = Command::new("postfix");
    c.arg("-c").arg(etc(d));
    c
}

fn running(d: &Path) -> bool {
    etc(d).join("main.cf").exists()
        && postfix(d).arg("status").output().is_ok_and(|o| o.status.success())
}

/// Stops the instance if it runs.
pub(crate) fn stop() -> Result<()> {
    let d = dir();
    if running(&d) {
        status(postfix(&d).arg("stop"))?;
    }
    Ok(())
}

/// The running instance, stopped when dropped (its directory stays for
/// a look at its log).
pub(crate) struct Instance;

impl Drop for Instance {
    fn drop(&mut self) {
        if let Err(e) = stop() {
            eprintln!("xtask: stopping the tests' Postfix: {e:#}");
        }
    }
}

/// Makes the instance afresh and starts it: the test users, the TLS
/// certificate, main.cf and master.cf written out in full, the queue
/// created by Postfix itself. Needs root.
pub(crate) fn start() -> Result<Instance> {
    if !is_root() {
        bail!(
            "the tests' Postfix instance needs root (users, local delivery)"
        );
    }
    let d = dir();
    stop()?;
    // Every port of the instance must be free: a Postfix set up by an
    // older version of the tests in /etc/postfix may still hold them.
    for port in ports() {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            bail!(
                "127.0.0.1:{port} is taken: the tests' Postfix instance needs it \
                 (`ss -ltnp 'sport = :{port}'` names the process)"
            );
        }
    }
    if d.exists() {
        std::fs::remove_dir_all(&d)
            .with_context(|| format!("removing the old {}", d.display()))?;
    }
    let bench_users = crate::BENCH_MDA_USERS.iter().map(|(u, _)| u);
    for u in MAIL_USERS.iter().chain(MDA_USERS).chain(bench_users) {
        let exists = run_quiet(Command::new("id").arg(u))?.status.success();
        if !exists {
            status(Command::new("useradd").args(["-m", "-s", "/bin/sh", u]))?;
        }
    }
    crate::make_test_certificates()?;
    let e = etc(&d);
    std::fs::create_dir_all(&e)?;
    std::fs::create_dir_all(d.join("spool"))?;
    std::fs::create_dir_all(d.join("lib"))?;
    std::fs::create_dir_all(STATE)?;
    status(Command::new("chown").arg("postfix").arg(d.join("lib")))?;
    // The users local(8) runs mailbox commands as read the sendmail
    // wrapper; Postfix wants its directories root-owned, not writable by
    // others.
    status(Command::new("chmod").arg("755").arg(&d))?;

    let p = |f: &str| e.join(f).display().to_string();
    std::fs::write(e.join("main.cf"), main_cf(&d))?;
    std::fs::write(e.join("master.cf"), master_cf(&d))?;
    // The manual's tip 7.1: a message whose infected part nod32smtp cut
    // out is dropped at re-injection.
    std::fs::write(
        e.join("nod32_header_checks"),
        "/^X-NOD32Result: deleted/ DISCARD\n",
    )?;
    std::fs::write(e.join("aliases"), "postmaster: root\n")?;
    status(Command::new("postalias").arg(format!("hash:{}", p("aliases"))))?;
    let mut map = String::new();
    for u in MDA_USERS {
        let script = format!("{STATE}/{u}.sh");
        if !Path::new(&script).exists() {
            std::fs::write(
                &script,
                "#!/bin/sh\necho 4.3.0 no test has set this up\nexit 75\n",
            )?;
            status(Command::new("chmod").args(["755", &script]))?;
        }
        writeln!(map, "{u} {script}")?;
    }
    let mda = crate::root().join("target/release/nod32mda");
    for (u, cmd) in crate::BENCH_MDA_USERS {
        let cmd = cmd.replace("NOD32MDA", &mda.display().to_string());
        writeln!(map, "{u} {cmd}")?;
    }
    std::fs::write(e.join("mbcmd"), map)?;
    status(Command::new("postmap").arg(format!("hash:{}", p("mbcmd"))))?;
    // What a program given this instance's sendmail runs: Postfix's
    // own, pointed at the instance.
    std::fs::write(
        d.join("sendmail"),
        format!(
            "#!/bin/sh\nMAIL_CONFIG={}\nexport MAIL_CONFIG\nexec /usr/sbin/sendmail \"$@\"\n",
            e.display()
        ),
    )?;
    status(Command::new("chmod").arg("755").arg(d.join("sendmail")))?;

    // Postfix says why it refuses only to syslog or a terminal.
    let why = || {
        format!("`postfix -c {} check` in a terminal says why", e.display())
    };
    status(postfix(&d).arg("check")).with_context(why)?;
    status(postfix(&d).arg("start")).with_context(why)?;
    let t0 = Instant::now();
    while std::net::TcpStream::connect("127.0.0.1:2525").is_err() {
        if t0.elapsed() > Duration::from_secs(20) {
            bail!(
                "the tests' Postfix did not listen on 127.0.0.1:2525; its log:\n{}",
                std::fs::read_to_string(d.join("maillog")).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("xtask: the tests' Postfix runs in {}", d.display());
    Ok(Instance)
}

/// Every TCP port the instance listens on.
fn ports() -> Vec<u16> {
    services()
        .iter()
        .filter_map(|s| s.name.strip_prefix("127.0.0.1:"))
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn main_cf(d: &Path) -> String {
    let d = d.display();
    let tls = crate::TLS_DIR;
    format!(
        "# The nod32 tests' own Postfix (xtask/src/postfix.rs), made afresh\n\
         # for each run: every parameter the tests rely on is here.\n\
         compatibility_level = 3.6\n\
         queue_directory = {d}/spool\n\
         data_directory = {d}/lib\n\
         command_directory = /usr/sbin\n\
         daemon_directory = /usr/lib/postfix/sbin\n\
         shlib_directory = /usr/lib/postfix\n\
         meta_directory = /etc/postfix\n\
         mail_owner = postfix\n\
         setgid_group = postdrop\n\
         syslog_name = postfix\n\
         maillog_file = {d}/maillog\n\
         maillog_file_prefixes = {d}\n\
         myhostname = localhost\n\
         mydomain = localdomain\n\
         myorigin = $myhostname\n\
         mydestination = localhost, localhost.localdomain\n\
         mynetworks = 127.0.0.0/8\n\
         relayhost =\n\
         inet_interfaces = 127.0.0.1\n\
         inet_protocols = ipv4\n\
         smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n\
         alias_maps = hash:{d}/etc/aliases\n\
         alias_database = hash:{d}/etc/aliases\n\
         home_mailbox = Maildir/\n\
         mailbox_command =\n\
         mailbox_command_maps = hash:{d}/etc/mbcmd\n\
         mailbox_transport =\n\
         fallback_transport =\n\
         luser_relay =\n\
         recipient_delimiter =\n\
         append_dot_mydomain = no\n\
         biff = no\n\
         smtputf8_enable = no\n\
         # The proxy tests send a 30 MB message.\n\
         message_size_limit = 52428800\n\
         mailbox_size_limit = 0\n\
         content_filter =\n\
         smtpd_milters =\n\
         non_smtpd_milters =\n\
         header_checks =\n\
         # TLS towards the Internet, as the guide's tip 7.2 has it: the\n\
         # public listeners offer STARTTLS, the smtp client uses it when\n\
         # offered; only the loopback hops of the content filter go\n\
         # without. The Received header says when TLS was used.\n\
         smtpd_tls_cert_file = {tls}/cert.pem\n\
         smtpd_tls_key_file = {tls}/key.pem\n\
         smtpd_tls_security_level = may\n\
         smtp_tls_security_level = may\n\
         smtpd_tls_received_header = yes\n\
         smtpd_tls_loglevel = 1\n"
    )
}

/// One master.cf service: its name and type, the remaining fields from
/// `private` to `command`, and its `-o` overrides.
struct Service {
    name: String,
    kind: &'static str,
    fields: &'static str,
    opts: Vec<String>,
}

fn svc(name: &str, kind: &'static str, fields: &'static str) -> Service {
    Service { name: name.to_string(), kind, fields, opts: Vec::new() }
}

fn smtpd(listen: &str, opts: &[&str]) -> Service {
    Service {
        opts: opts.iter().map(|o| o.to_string()).collect(),
        ..svc(listen, "inet", "n - n - - smtpd")
    }
}

fn services() -> Vec<Service> {
    // Postfix's own services, none chrooted (the tests' sockets and
    // scripts live outside the queue directory).
    let mut v = vec![
        svc("pickup", "unix", "n - n 60 1 pickup"),
        svc("cleanup", "unix", "n - n - 0 cleanup"),
        svc("qmgr", "unix", "n - n 300 1 qmgr"),
        svc("tlsmgr", "unix", "- - n 1000? 1 tlsmgr"),
        svc("rewrite", "unix", "- - n - - trivial-rewrite"),
        svc("bounce", "unix", "- - n - 0 bounce"),
        svc("defer", "unix", "- - n - 0 bounce"),
        svc("trace", "unix", "- - n - 0 bounce"),
        svc("verify", "unix", "- - n - 1 verify"),
        svc("flush", "unix", "n - n 1000? 0 flush"),
        svc("proxymap", "unix", "- - n - - proxymap"),
        svc("proxywrite", "unix", "- - n - 1 proxymap"),
        svc("smtp", "unix", "- - n - - smtp"),
        svc("relay", "unix", "- - n - - smtp"),
        svc("showq", "unix", "n - n - - showq"),
        svc("error", "unix", "- - n - - error"),
        svc("retry", "unix", "- - n - - error"),
        svc("discard", "unix", "- - n - - discard"),
        svc("local", "unix", "- n n - - local"),
        svc("virtual", "unix", "- n n - - virtual"),
        svc("lmtp", "unix", "- - n - - lmtp"),
        svc("anvil", "unix", "- - n - 1 anvil"),
        svc("scache", "unix", "- - n - 1 scache"),
        svc("postlog", "unix-dgram", "n - n - 1 postlogd"),
        // The tests' plain listener (no port 25).
        smtpd("127.0.0.1:2525", &[]),
    ];
    for (listen, milter) in MILTER_LISTENERS {
        v.push(smtpd(
            listen,
            &[
                &format!("smtpd_milters={milter}"),
                "milter_default_action=tempfail",
            ],
        ));
    }
    // nod32smtp as an after-queue content filter, the manual's way:
    // mail to 2541 goes through the nod32scan smtp client to nod32smtp
    // on 2542 (started by the tests), which hands it back to the
    // re-injection smtpd on 2543. While nod32smtp is down, Postfix
    // defers: nothing is lost.
    v.push(smtpd(
        "127.0.0.1:2541",
        &["content_filter=nod32scan:[127.0.0.1]:2542"],
    ));
    v.push(Service {
        opts: vec![
            "smtp_send_xforward_command=yes".into(),
            "disable_mime_output_conversion=yes".into(),
            "smtp_tls_security_level=none".into(),
        ],
        ..svc("nod32scan", "unix", "- - n - 10 smtp")
    });
    // The guide's scale-out: the content filter through HAProxy on
    // 2600 to a pool of nod32smtp instances (tests/scaleout.rs).
    v.push(smtpd(
        "127.0.0.1:2548",
        &["content_filter=nod32scan:[127.0.0.1]:2600"],
    ));
    // Before-queue: smtpd hands each session to nod32smtp, whose refusal
    // the client sees.
    v.push(smtpd("127.0.0.1:2544", &["smtpd_proxy_filter=127.0.0.1:2542"]));
    let checks = format!(
        "header_checks=regexp:{}/etc/nod32_header_checks",
        dir().display()
    );
    v.push(Service {
        opts: vec![checks, "smtputf8_enable=yes".into()],
        ..svc("nod32cleanup", "unix", "n - n - 0 cleanup")
    });
    // A next hop that refuses every message (DATA and BDAT), for the
    // proxy's behaviour after a refusal.
    v.push(smtpd(
        "127.0.0.1:2547",
        &[
            "content_filter=",
            "receive_override_options=no_milters",
            "mynetworks=127.0.0.0/8",
            "smtpd_recipient_restrictions=permit_mynetworks,reject",
            "smtpd_data_restrictions=reject",
            "smtpd_error_sleep_time=0",
            // DATA, not BDAT (after a refused BDAT Postfix closes the
            // transaction itself).
            "smtpd_discard_ehlo_keywords=chunking",
        ],
    ));
    // The same to nod32smtp on a unix socket.
    v.push(smtpd(
        "127.0.0.1:2546",
        &["smtpd_proxy_filter=unix:/var/lib/nod32-test/smtp.sock"],
    ));
    v.push(smtpd(
        "127.0.0.1:2543",
        &[
            "content_filter=",
            "receive_override_options=no_unknown_recipient_checks,no_milters",
            // header_checks belong to cleanup(8): tip 7.1's check runs
            // in a cleanup service of this listener's own.
            "cleanup_service_name=nod32cleanup",
            "smtpd_tls_security_level=none",
            // For the proxy's SMTPUTF8 test (main.cf has it off).
            "smtputf8_enable=yes",
            "smtpd_authorized_xforward_hosts=127.0.0.0/8",
            "mynetworks=127.0.0.0/8",
            "smtpd_recipient_restrictions=permit_mynetworks,reject",
            // Trusted re-injection: errors are the client's, passed on
            // by the proxy; no penalty sleeps or disconnects.
            "smtpd_error_sleep_time=0",
            "smtpd_soft_error_limit=100000",
            "smtpd_hard_error_limit=100000",
        ],
    ));
    // The content-filter benchmark: listeners whose filters differ, and
    // a re-injection smtpd that discards what it takes.
    for (listen, filter) in crate::bench::filter::LISTENERS {
        v.push(smtpd(listen, &[&format!("content_filter={filter}")]));
    }
    let (listen, opts) = crate::bench::filter::reinjection();
    v.push(smtpd(listen, &opts));
    // The benchmark's listeners: same smtpd, different milters, and
    // everything accepted goes to discard(8).
    for (listen, milter) in crate::bench::smfi::LISTENERS {
        v.push(smtpd(
            listen,
            &[
                &format!("smtpd_milters={milter}"),
                "content_filter=discard:bench",
                "milter_default_action=tempfail",
            ],
        ));
    }
    v
}

fn master_cf(d: &Path) -> String {
    let mut s = format!(
        "# The nod32 tests' own Postfix ({}), written by xtask/src/postfix.rs.\n",
        d.display()
    );
    for svc in services() {
        let _ = writeln!(s, "{} {} {}", svc.name, svc.kind, svc.fields);
        for o in &svc.opts {
            let _ = writeln!(s, "  -o {o}");
        }
    }
    s
}

/// The machine's own Postfix configuration: every file under
/// /etc/postfix with its contents, to show that a run left it as it was.
pub(crate) fn system_config() -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(d: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(d) else { return };
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => walk(&p, out),
                Ok(t) if t.is_file() => {
                    let data = std::fs::read(&p).unwrap_or_default();
                    out.push((p, data));
                }
                _ => {}
            }
        }
    }
    let mut v = Vec::new();
    walk(Path::new("/etc/postfix"), &mut v);
    v.sort();
    v
}

/// What differs between two [`system_config`] snapshots.
pub(crate) fn changed(
    before: &[(PathBuf, Vec<u8>)],
    after: &[(PathBuf, Vec<u8>)],
) -> Vec<String> {
    let mut v = Vec::new();
    for (p, d) in before {
        match after.iter().find(|(q, _)| q == p) {
            None => v.push(format!("{} removed", p.display())),
            Some((_, e)) if e != d => {
                v.push(format!("{} changed", p.display()))
            }
            Some(_) => {}
        }
    }
    for (p, _) in after {
        if !before.iter().any(|(q, _)| q == p) {
            v.push(format!("{} added", p.display()));
        }
    }
    v
}
