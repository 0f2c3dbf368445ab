//! nod32smfi against milter clients other than Postfix: the real
//! `miltertest` (scripts in tests/data/miltertest) for older protocol
//! versions and for aborted, reused and dropped connections, and a raw
//! client of our own for what miltertest cannot send (SMFIC_QUIT_NC,
//! malformed packets).

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nod32_tests::{base64_lines, bin, doc_recipe, eicar, peer, run, token};

struct Milter {
    child: Child,
    dir: tempfile::TempDir,
    sock: PathBuf,
}

impl Drop for Milter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Milter {
    fn start() -> Milter {
        Milter::start_with(None, "")
    }

    /// With the socket at `sock` instead of in the milter's own
    /// directory.
    fn start_at(sock: &Path) -> Milter {
        Milter::start_with(Some(sock), "")
    }

    /// Rewrites the policy lines of [global] and reloads (SIGHUP).
    fn reconfigure(&self, policy: &str) {
        let cfg = self.dir.path().join("nod32.toml");
        let text = std::fs::read_to_string(&cfg).unwrap();
        let (head, smfi) = text.split_once("[smfi]").unwrap();
        let head = head.split("# policy\n").next().unwrap();
        std::fs::write(&cfg, format!("{head}# policy\n{policy}[smfi]{smfi}"))
            .unwrap();
        signal(self.child.id(), "HUP");
    }

    /// Waits (at most 20 s) for the process to exit; its status.
    fn wait_exit(&mut self) -> std::process::ExitStatus {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "nod32smfi did not stop: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn start_with(sock: Option<&Path>, smfi_extra: &str) -> Milter {
        let (dir, module) = nod32_tests::module_dir();
        let sock = sock
            .map_or_else(|| dir.path().join("smfi.sock"), Path::to_path_buf);
        let cfg = dir.path().join("nod32.toml");
        std::fs::write(
            &cfg,
            format!(
                "[global]\nmodule = \"{}\"\nuser = \"nobody\"\ngroup = \"nogroup\"\n\
                 write_to_header = true\nheader_on_clean = true\n# policy\n\
                 [smfi]\nsmfi_sock_path = \"{}\"\nsmfi_sock_mode = \"0666\"\n{smfi_extra}",
                module.display(),
                sock.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(bin("nod32smfi"))
            .args(["-f", "-c"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let m = Milter { child, dir, sock };
        let t0 = Instant::now();
        while UnixStream::connect(&m.sock).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "nod32smfi did not start: {}",
                m.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        m
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log"))
            .unwrap_or_default()
    }
}

fn signal(pid: u32, sig: &str) {
    let st =
        run(Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()));
    assert!(st.status.success());
}

fn miltertest(m: &Milter, script: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/miltertest")
        .join(script);
    let out = run(Command::new(peer("miltertest", "miltertest"))
        .arg("-D")
        .arg(format!("sock=unix:{}", m.sock.display()))
        .arg("-D")
        .arg(format!("eicar64={}", base64_lines(&eicar(), "\r\n")))
        .arg("-s")
        .arg(&path));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "miltertest {script} failed ({}):\n{stdout}{}\nnod32smfi:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        m.log()
    );
    stdout
}

#[test]
fn miltertest_older_protocol_versions() {
    let m = Milter::start();
    let out = miltertest(&m, "old_versions.lua");
    for v in [2, 3, 4, 6] {
        assert!(
            out.contains(&format!(
                "version {v}: 550 5.7.1 Virus found: Eicar-Test-Signature"
            )),
            "{out}"
        );
    }
}

#[test]
fn miltertest_abort_reuse_and_dropped_client() {
    let m = Milter::start();
    let out = miltertest(&m, "abort_reuse.lua");
    for l in [
        "infected after abort: rejected",
        "clean on the same connection: accepted, marked",
        "new connection after a dropped one: accepted",
    ] {
        assert!(out.contains(l), "{out}");
    }
}

/// With a `user_config`, a message keeps to one policy (see
/// policies.lua): the first recipient's policy no longer decides for
/// the recipients after it.
#[test]
fn miltertest_recipients_of_another_policy() {
    let users = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        users.path(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let file = users.path().join("users.toml");
    std::fs::write(
        &file,
        "[white]\nav_enabled = false\n[\"vip@example.net\"]\nparent_id = \"white\"\n",
    )
    .unwrap();
    let m = Milter::start_with(
        None,
        &format!("user_config = \"{}\"\n", file.display()),
    );
    let out = miltertest(&m, "policies.lua");
    for l in [
        "other policy: refused for now",
        "same policy: taken",
        "white-listed: accepted",
        "protected alone: rejected",
    ] {
        assert!(out.contains(l), "{out}");
    }
}

fn packet(code: u8, data: &[u8]) -> Vec<u8> {
    let mut v = ((data.len() + 1) as u32).to_be_bytes().to_vec();
    v.push(code);
    v.extend_from_slice(data);
    v
}

/// Reads packets until a final one (anything but progress and
/// modifications); returns (code, data) of each.
fn read_until_final(s: &mut UnixStream) -> Vec<(u8, Vec<u8>)> {
    let mut got = Vec::new();
    loop {
        let mut len = [0u8; 4];
        s.read_exact(&mut len).unwrap();
        let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
        s.read_exact(&mut body).unwrap();
        let code = body[0];
        got.push((code, body[1..].to_vec()));
        if !b"phimbq+-e2".contains(&code) {
            return got;
        }
    }
}

/// One message's commands, as Postfix sends them after negotiation with
/// every NR_* bit (so only EOM is answered).
fn message(subject: &str, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(packet(b'C', b"client.example\x004\x30\x39192.0.2.1\0"));
    v.extend(packet(b'M', b"<sender@example.org>\0"));
    v.extend(packet(b'R', b"<rcpt@example.net>\0"));
    v.extend(packet(b'L', format!("Subject\0 {subject}\0").as_bytes()));
    v.extend(packet(
        b'L',
        b"Content-Type\0 multipart/mixed; boundary=\"b\"\0",
    ));
    v.extend(packet(b'N', b""));
    v.extend(packet(b'B', body));
    v.extend(packet(b'E', b""));
    v
}

#[test]
fn quit_nc_reuses_the_connection_and_bad_packets_close_only_theirs() {
    let m = Milter::start();
    let infected = format!(
        "--b\r\nContent-Type: application/octet-stream; name=\"e.com\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        base64_lines(&eicar(), "\r\n")
    );
    let clean = "--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n";

    let mut s = UnixStream::connect(&m.sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut neg = 6u32.to_be_bytes().to_vec();
    neg.extend(0x1ffu32.to_be_bytes());
    neg.extend(0x1f_ffffu32.to_be_bytes());
    s.write_all(&packet(b'O', &neg)).unwrap();
    let r = read_until_final(&mut s);
    assert_eq!(r[0].0, b'O');
    let protocol = u32::from_be_bytes(r[0].1[8..12].try_into().unwrap());
    // Every NR bit we offered for steps it has no use for is taken.
    assert_eq!(protocol & 0x000f_d000, 0x000c_d000, "{protocol:#x}");

    s.write_all(&message("first", infected.as_bytes())).unwrap();
    let r = read_until_final(&mut s);
    let (code, text) = r.last().unwrap();
    assert_eq!(*code, b'y');
    assert_eq!(
        String::from_utf8_lossy(text),
        "550 5.7.1 Virus found: Eicar-Test-Signature\0"
    );
    // QUIT_NC: a new SMTP session on the same milter connection.
    s.write_all(&packet(b'K', b"")).unwrap();
    s.write_all(&message("second", clean.as_bytes())).unwrap();
    let r = read_until_final(&mut s);
    assert_eq!(r.last().unwrap().0, b'c');
    assert!(
        r.iter().any(|(c, d)| *c == b'i'
            && d.windows(13).any(|w| w == b"X-NOD32Result")),
        "{r:?}"
    );

    // A packet longer than any MTA sends, and a zero-length one: each
    // closes its own connection; the one above still works.
    for bad in [vec![0xff, 0xff, 0xff, 0xff, b'B'], vec![0, 0, 0, 0]] {
        let mut b = UnixStream::connect(&m.sock).unwrap();
        b.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        b.write_all(&packet(b'O', &neg)).unwrap();
        read_until_final(&mut b);
        b.write_all(&bad).unwrap();
        let mut rest = Vec::new();
        assert_eq!(b.read_to_end(&mut rest).unwrap(), 0, "not closed");
    }
    s.write_all(&packet(b'A', b"")).unwrap();
    s.write_all(&message("third", infected.as_bytes())).unwrap();
    assert_eq!(read_until_final(&mut s).last().unwrap().0, b'y');
    s.write_all(&packet(b'Q', b"")).unwrap();
    assert!(
        m.log().contains("packet length 4294967295 out of range"),
        "{}",
        m.log()
    );
}

/// docs/GUIDE.md's Sendmail milter line, built into a sendmail.cf by Debian's
/// sendmail-cf macros.
#[test]
fn sendmail_milter_line_builds() {
    let cf_m4 = Path::new("/usr/share/sendmail/cf/m4/cf.m4");
    assert!(
        cf_m4.exists(),
        "apt-get install sendmail-cf (cargo xtask test does)"
    );
    let d = tempfile::tempdir().unwrap();
    let mc = d.path().join("t.mc");
    std::fs::write(
        &mc,
        format!(
            "divert(-1)\ninclude(`{}')\ndivert(0)dnl\nOSTYPE(`debian')dnl\n{}\
             MAILER(`local')dnl\nMAILER(`smtp')dnl\n",
            cf_m4.display(),
            doc_recipe("GUIDE.md", "sendmail-milter")
        ),
    )
    .unwrap();
    let out = run(Command::new(peer("m4", "m4")).arg(&mc));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cf = String::from_utf8_lossy(&out.stdout);
    assert!(
        cf.lines().any(|l| l
            == "Xnod32smfi, S=local:/run/nod32smfi/nod32smfi.sock, F=T, T=S:2m;R:2m;E:5m"),
        "{cf}"
    );
    assert!(cf.lines().any(|l| l == "O InputMailFilters=nod32smfi"), "{cf}");
}

/// docs/GUIDE.md's Sendmail milter line in a real Sendmail (Debian's 8.17,
/// unpacked by `cargo xtask test` since it conflicts with Postfix), in
/// network, host-name, mount and PID namespaces of the test's own: only
/// loopback exists there (Sendmail's start-up host name lookup fails at
/// once instead of going out), and everything started inside ends with
/// it. swaks sends a clean and an infected message through it.
#[test]
fn real_sendmail_with_nod32smfi() {
    let sendmail = Path::new(
        "/var/lib/nod32-test/sendmail/usr/libexec/sendmail/sendmail",
    );
    assert!(
        sendmail.exists(),
        "{} is missing: cargo xtask install-peers unpacks it",
        sendmail.display()
    );
    let cf_m4 = Path::new("/usr/share/sendmail/cf/m4/cf.m4");
    // Sendmail refuses a milter socket below a world-writable directory
    // (as /tmp is), so this one lives under /var/lib.
    let sockdir = PathBuf::from(format!(
        "/var/lib/nod32-test/sm-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&sockdir);
    std::fs::create_dir(&sockdir).unwrap();
    std::fs::set_permissions(&sockdir, std::fs::Permissions::from_mode(0o755))
        .unwrap();
    struct Rm(PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _rm = Rm(sockdir.clone());
    let sock = sockdir.join("nod32smfi.sock");
    let m = Milter::start_at(&sock);

    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .unwrap();
    let mqueue = dir.join("mqueue");
    std::fs::create_dir(&mqueue).unwrap();
    std::fs::set_permissions(&mqueue, std::fs::Permissions::from_mode(0o700))
        .unwrap();
    std::fs::write(
        dir.join("hosts"),
        "127.0.0.1 localhost.localdomain localhost\n",
    )
    .unwrap();
    let line = doc_recipe("GUIDE.md", "sendmail-milter")
        .replace("/run/nod32smfi/nod32smfi.sock", sock.to_str().unwrap());
    let q = |s: &Path| s.display().to_string();
    std::fs::write(
        dir.join("t.mc"),
        format!(
            "divert(-1)\ninclude(`{cf}')\ndivert(0)dnl\nOSTYPE(`debian')dnl\n\
             define(`confDOMAIN_NAME', `localhost.localdomain')dnl\n\
             define(`confDONT_PROBE_INTERFACES', `True')dnl\n\
             define(`QUEUE_DIR', `{mq}')dnl\n\
             define(`confPID_FILE', `{d}/sendmail.pid')dnl\n\
             define(`confHOST_STATUS_DIRECTORY', `')dnl\n\
             define(`confSTATUS_FILE', `{d}/statistics')dnl\n\
             DAEMON_OPTIONS(`Port=2540, Addr=127.0.0.1, Name=MTA')dnl\n\
             FEATURE(`nocanonify')dnl\nFEATURE(`no_default_msa')dnl\n\
             {line}MAILER(`local')dnl\nMAILER(`smtp')dnl\n",
            cf = q(cf_m4),
            mq = q(&mqueue),
            d = q(dir),
        ),
    )
    .unwrap();
    let cf = run(Command::new(peer("m4", "m4")).arg(dir.join("t.mc")));
    assert!(cf.status.success());
    std::fs::write(dir.join("sendmail.cf"), &cf.stdout).unwrap();

    let tag = token("smclean");
    let eml = |tag: &str, attachment: &[u8]| {
        format!(
            "From: a@localhost\r\nTo: root@localhost\r\nSubject: {tag}\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: application/octet-stream; name=\"f.bin\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
            base64_lines(attachment, "\r\n")
        )
    };
    std::fs::write(dir.join("clean.eml"), eml(&tag, b"harmless")).unwrap();
    std::fs::write(dir.join("eicar.eml"), eml("sminfected", &eicar()))
        .unwrap();
    let swaks = peer("swaks", "swaks");
    let script = format!(
        "set -e\nip link set lo up\nmount --bind {d}/hosts /etc/hosts\n\
         hostname localhost.localdomain\n\
         {sm} -C {d}/sendmail.cf -bD > {d}/sendmail.out 2>&1 &\n\
         up=0\nfor i in $(seq 100); do\n  \
         if {swaks} --server 127.0.0.1:2540 --quit-after EHLO >/dev/null 2>&1; then up=1; break; fi\n  \
         sleep 0.1\ndone\n\
         [ $up = 1 ] || {{ echo sendmail did not start; cat {d}/sendmail.out; exit 1; }}\n\
         for m in clean eicar; do\n  \
         echo \"== $m\"\n  \
         {swaks} --server 127.0.0.1:2540 --from a@localhost --to root@localhost \
         --data {d}/$m.eml --suppress-data 2>&1 | grep '^<' || true\n\
         done\n",
        d = q(dir),
        sm = sendmail.display(),
        swaks = swaks.display()
    );
    std::fs::write(dir.join("run.sh"), script).unwrap();
    let out = run(Command::new("timeout")
        .args(["120", "unshare", "-n", "-u", "-m", "-p", "-f", "sh"])
        .arg(dir.join("run.sh")));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}\nnod32smfi:\n{}",
        String::from_utf8_lossy(&out.stderr),
        m.log()
    );
    let (clean, infected) = text.split_once("== eicar").unwrap();
    assert!(clean.contains("<-  250 2.0.0 "), "{text}");
    assert!(
        infected.contains("<** 550 5.7.1 Virus found: Eicar-Test-Signature"),
        "{text}"
    );
    // Sendmail's queue id reached the milter (macro i).
    let log = m.log();
    let l = log
        .lines()
        .find(|l| l.contains("status=infected"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(!l.contains("queue_id=- "), "{l}");
}

/// A connection negotiated as Postfix does (version 6, everything
/// offered).
fn negotiated(sock: &Path) -> UnixStream {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut neg = 6u32.to_be_bytes().to_vec();
    neg.extend(0x1ffu32.to_be_bytes());
    neg.extend(0x1f_ffffu32.to_be_bytes());
    s.write_all(&packet(b'O', &neg)).unwrap();
    assert_eq!(read_until_final(&mut s)[0].0, b'O');
    s
}

fn bodies() -> (String, String) {
    (
        format!(
            "--b\r\nContent-Type: application/octet-stream; name=\"e.com\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
            base64_lines(&eicar(), "\r\n")
        ),
        "--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n"
            .to_string(),
    )
}

fn verdict(s: &mut UnixStream) -> (u8, String) {
    let (c, d) = read_until_final(s).pop().unwrap();
    (c, String::from_utf8_lossy(&d).trim_end_matches('\0').to_string())
}

/// 1,500 connections open at once (Postfix opens one per SMTP session),
/// each with a message: every one answered, correctly.
#[test]
fn fifteen_hundred_connections_at_once() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    assert!(
        hard >= 4000,
        "the test needs 4,000 open files (hard limit {hard})"
    );
    let m = Milter::start_with(None, "max_connections = 2000\n");
    let (infected, clean) = bodies();
    let mut conns: Vec<UnixStream> =
        (0..1500).map(|_| negotiated(&m.sock)).collect();
    for (i, c) in conns.iter_mut().enumerate() {
        let body = if i % 3 == 0 { &infected } else { &clean };
        c.write_all(&message(&format!("n{i}"), body.as_bytes())).unwrap();
    }
    for (i, c) in conns.iter_mut().enumerate() {
        let (code, text) = verdict(c);
        if i % 3 == 0 {
            assert_eq!(
                (code, text.as_str()),
                (b'y', "550 5.7.1 Virus found: Eicar-Test-Signature"),
                "{i}"
            );
        } else {
            assert_eq!(code, b'c', "{i}: {text}");
        }
    }
    assert!(!m.log().contains("cannot start"), "{}", m.log());
}

/// SIGHUP: the next message, on a connection opened before, is judged
/// by the new configuration; the connection stays.
#[test]
fn sighup_reloads_between_messages_without_dropping_connections() {
    let m = Milter::start();
    let (infected, _) = bodies();
    let mut s = negotiated(&m.sock);
    s.write_all(&message("before", infected.as_bytes())).unwrap();
    assert!(verdict(&mut s).1.starts_with("550 5.7.1 "));
    m.reconfigure("action_on_infected = \"defer\"\n");
    // The signal is taken before the next message.
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(&message("after", infected.as_bytes())).unwrap();
    let (code, text) = verdict(&mut s);
    assert_eq!(code, b'y');
    assert!(
        text.starts_with("451 4.7.1 Virus found: Eicar-Test-Signature"),
        "{text}"
    );
    assert!(m.log().contains("reloaded"), "{}", m.log());
    // A broken configuration is refused; the running one stays.
    m.reconfigure("action_on_infected = \"maybe\"\n");
    std::thread::sleep(Duration::from_millis(200));
    s.write_all(&message("broken", infected.as_bytes())).unwrap();
    assert!(verdict(&mut s).1.starts_with("451 4.7.1 "));
    assert!(
        m.log().contains("reload failed, keeping the running configuration"),
        "{}",
        m.log()
    );
}

/// SIGTERM: no new connections, but the message in flight is finished
/// and answered; then a clean exit.
#[test]
fn sigterm_finishes_the_message_in_flight() {
    let mut m = Milter::start();
    let (infected, _) = bodies();
    let mut s = negotiated(&m.sock);
    let msg = message("inflight", infected.as_bytes());
    // Everything up to the middle of the body.
    let cut = msg.len() - 40;
    s.write_all(&msg[..cut]).unwrap();
    signal(m.child.id(), "TERM");
    let t0 = Instant::now();
    while UnixStream::connect(&m.sock).is_ok() {
        assert!(t0.elapsed() < Duration::from_secs(10), "still accepting");
        std::thread::sleep(Duration::from_millis(20));
    }
    s.write_all(&msg[cut..]).unwrap();
    assert_eq!(
        verdict(&mut s),
        (b'y', "550 5.7.1 Virus found: Eicar-Test-Signature".to_string())
    );
    s.write_all(&packet(b'Q', b"")).unwrap();
    drop(s);
    let st = m.wait_exit();
    assert!(st.success(), "{st}: {}", m.log());
    assert!(m.log().contains("stopped after 1 messages"), "{}", m.log());
}

fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Header fields count against `body_in_memory` as the body does: 130 MB
/// of them are spooled, not held (the message is then over
/// max_file_size and judged as such), and a message whose headers were
/// spooled is still scanned whole.
#[test]
fn headers_are_spooled_like_the_body() {
    let m = Milter::start();
    let (infected, _) = bodies();
    let field = format!("X-Filler\0 {}\0", "h".repeat(100_000));
    for (fields, want) in [(1300, b'c'), (30, b'y')] {
        let mut s = negotiated(&m.sock);
        let mut v = Vec::new();
        v.extend(packet(b'C', b"client.example\x004\x30\x39192.0.2.1\0"));
        v.extend(packet(b'M', b"<sender@example.org>\0"));
        v.extend(packet(b'R', b"<rcpt@example.net>\0"));
        v.extend(packet(b'L', b"Subject\0 headers\0"));
        s.write_all(&v).unwrap();
        for _ in 0..fields {
            s.write_all(&packet(b'L', field.as_bytes())).unwrap();
        }
        let mut v =
            packet(b'L', b"Content-Type\0 multipart/mixed; boundary=\"b\"\0");
        v.extend(packet(b'N', b""));
        v.extend(packet(b'B', infected.as_bytes()));
        v.extend(packet(b'E', b""));
        s.write_all(&v).unwrap();
        let (code, text) = verdict(&mut s);
        assert_eq!(code, want, "{fields} fields: {text}");
    }
    let rss = peak_rss_kb(m.child.id());
    assert!(rss < 64 * 1024, "peak RSS {rss} kB for 130 MB of headers");
}

/// A socket that cannot be taken is status 10, as the man page says.
#[test]
fn a_socket_that_cannot_be_taken_is_status_10() {
    let (dir, module) = nod32_tests::module_dir();
    let cfg = dir.path().join("nod32.toml");
    std::fs::write(
        &cfg,
        format!(
            "[global]\nmodule = \"{}\"\n[smfi]\nsmfi_sock_path = \"{}\"\n",
            module.display(),
            dir.path().join("no/such/dir/smfi.sock").display()
        ),
    )
    .unwrap();
    let out = run(Command::new(bin("nod32smfi")).args(["-f", "-c"]).arg(&cfg));
    assert_eq!(
        out.status.code(),
        Some(10),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `[smfi] agent_enabled = false`: every message continues unscanned,
/// which the start line and the message's line say.
#[test]
fn a_disabled_milter_passes_mail_unscanned_and_says_so() {
    let m = Milter::start_with(None, "agent_enabled = false\n");
    let t0 = Instant::now();
    while !m.log().contains(
        "[smfi] agent_enabled = false: mail passes through unscanned",
    ) {
        assert!(t0.elapsed() < Duration::from_secs(10), "{}", m.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let (infected, _) = bodies();
    let mut s = negotiated(&m.sock);
    s.write_all(&message("off", infected.as_bytes())).unwrap();
    let (code, _) = verdict(&mut s);
    assert_eq!(code, b'c');
    assert!(m.log().contains("status=unscanned action=accept"), "{}", m.log());
}
