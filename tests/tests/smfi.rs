//! nod32smfi behind a real Postfix: `cargo xtask test` sets up smtpd
//! listeners on 127.0.0.1:2527 (smtpd_milters on the unix socket
//! /var/lib/nod32-test/smfi.sock) and 127.0.0.1:2528 (milter on
//! inet:127.0.0.1:2529). Each test starts nod32smfi there, sends mail
//! with swaks, and checks the SMTP replies, the Postfix log, the queue and
//! the mailbox of `nod32milter`.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nod32_tests::mutants::examples;
use nod32_tests::{
    base64_lines, bin, eicar, in_queue, peer, postfix, run, token,
    wait_for_mail,
};

const RCPT: &str = "nod32milter@localhost";

/// A running nod32smfi, stopped when dropped.
struct Milter {
    child: Child,
    dir: tempfile::TempDir,
    cfg: PathBuf,
}

impl Milter {
    fn start(sock: &str, extra: &str) -> Milter {
        postfix();
        // The milter drops to nobody, which must read these.
        let (dir, module) = nod32_tests::module_dir();
        let cfg = dir.path().join("nod32.toml");
        let write = |extra: &str| {
            std::fs::write(
                &cfg,
                format!(
                    "[global]\nmodule = \"{}\"\nuser = \"nobody\"\ngroup = \"nogroup\"\n\
                     template_dir = \"{}\"\n\
                     [smfi]\nsmfi_sock_path = \"{sock}\"\nsmfi_sock_mode = \"0666\"\n{extra}",
                    module.display(),
                    dir.path().display()
                ),
            )
            .unwrap();
        };
        write(extra);
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(bin("nod32smfi"))
            .arg("-f")
            .arg("-c")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let m = Milter { child, dir, cfg };
        // Ready when the socket answers.
        let t0 = Instant::now();
        loop {
            let up = match sock.strip_prefix("inet:") {
                Some(a) => std::net::TcpStream::connect(a).is_ok(),
                None => std::os::unix::net::UnixStream::connect(sock).is_ok(),
            };
            if up && m.log().contains("listening on") {
                return m;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "nod32smfi did not start: {}",
                m.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log"))
            .unwrap_or_default()
    }

    /// Rewrites the [smfi] extras and reloads (SIGHUP).
    fn reconfigure(&self, sock: &str, extra: &str) {
        let text = std::fs::read_to_string(&self.cfg).unwrap();
        let head = text.split("[smfi]").next().unwrap();
        std::fs::write(
            &self.cfg,
            format!(
                "{head}[smfi]\nsmfi_sock_path = \"{sock}\"\nsmfi_sock_mode = \"0666\"\n{extra}"
            ),
        )
        .unwrap();
        // Taken before the next message.
        run(Command::new("kill").args(["-HUP", &self.child.id().to_string()]));
    }
}

impl Drop for Milter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What swaks saw: its transcript, and the queue id if Postfix took the
/// message.
fn swaks(port: u16, msg: &[u8]) -> (String, Option<String>) {
    let out = nod32_tests::swaks(
        &format!("127.0.0.1:{port}"),
        "nod32admin@localhost",
        RCPT,
        msg,
        &[],
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let id = text
        .lines()
        .find(|l| l.contains(" queued as "))
        .map(|l| l.rsplit(' ').next().unwrap().to_string());
    (text, id)
}

/// The reply swaks got to the end of data: the first server line after
/// the 354.
fn data_reply(transcript: &str) -> String {
    transcript
        .lines()
        .skip_while(|l| !l.contains(" 354 "))
        .skip(1)
        .find(|l| l.starts_with('<'))
        .unwrap_or_default()
        .to_string()
}

/// Waits for a Postfix log line containing every one of `words`.
fn postfix_log(words: &[&str]) -> String {
    let t0 = Instant::now();
    loop {
        let log = std::fs::read_to_string(nod32_tests::postfix_log())
            .unwrap_or_default();
        if let Some(l) =
            log.lines().find(|l| words.iter().all(|w| l.contains(w)))
        {
            return l.to_string();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no Postfix log line with {words:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn message(tag: &str, body: &str) -> Vec<u8> {
    format!(
        "From: nod32admin@localhost\r\nTo: {RCPT}\r\nSubject: smfi {tag}\r\n\
         Message-ID: <{tag}@example.org>\r\nDate: Sat, 28 Nov 2026 21:00:00 +0000\r\n\
         MIME-Version: 1.0\r\n{body}"
    )
    .into_bytes()
}

fn with_attachment(
    tag: &str,
    ctype: &str,
    name: &str,
    data: &[u8],
) -> Vec<u8> {
    message(
        tag,
        &format!(
            "Content-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\n\
             Content-Type: text/plain\r\n\r\nHello, caf\u{e9}.\r\n--zz\r\n\
             Content-Type: {ctype}; name=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--zz--\r\n",
            base64_lines(data, "\r\n")
        ),
    )
}

fn zip_of(name: &str, data: &[u8]) -> Vec<u8> {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join(name), data).unwrap();
    let out = run(Command::new(peer("zip", "zip"))
        .current_dir(d.path())
        .args(["-q", "a.zip", name]));
    assert!(out.status.success());
    std::fs::read(d.path().join("a.zip")).unwrap()
}

/// A message carrying a whole other message (message/rfc822) whose
/// attachment is EICAR.
fn nested(tag: &str) -> Vec<u8> {
    let inner = with_attachment(
        "inner",
        "application/octet-stream",
        "e.com",
        &eicar(),
    );
    message(
        tag,
        &format!(
            "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\n\
             Content-Type: text/plain\r\n\r\nForwarded.\r\n--outer\r\n\
             Content-Type: message/rfc822\r\n\r\n{}\r\n--outer--\r\n",
            String::from_utf8(inner).unwrap()
        ),
    )
}

fn lf(b: &[u8]) -> Vec<u8> {
    let v: Vec<u8> = b.iter().copied().filter(|&c| c != b'\r').collect();
    let n = v.iter().rposition(|&c| c != b'\n').map_or(0, |i| i + 1);
    v[..n].to_vec()
}

fn not_delivered(tag: &str) {
    for d in ["new", "cur"] {
        for e in std::fs::read_dir(format!("/home/nod32milter/Maildir/{d}"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let m = std::fs::read(e.path()).unwrap();
            assert!(
                !m.windows(tag.len()).any(|w| w == tag.as_bytes()),
                "{tag} was delivered"
            );
        }
    }
}

#[test]
fn unix_socket_marks_clean_mail_and_rejects_viruses() {
    let sock = "/var/lib/nod32-test/smfi.sock";
    let m = Milter::start(
        sock,
        "write_to_header = true\nheader_on_clean = true\n",
    );

    // Clean: delivered with the result header, otherwise as sent.
    let tag = token("smficlean");
    let clean = with_attachment(
        &tag,
        "application/octet-stream",
        "n.txt",
        b"harmless",
    );
    let (t, id) = swaks(2527, &clean);
    assert!(data_reply(&t).contains("250 2.0.0 Ok: queued as"), "{t}");
    let got = wait_for_mail("nod32milter", &tag);
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("\nX-NOD32Result: clean\n"), "{text}");
    assert!(lf(&got).ends_with(&lf(&clean)), "{text}");
    let log = m.log();
    let line = log
        .lines()
        .find(|l| l.contains(&format!("queue_id={} ", id.as_deref().unwrap())))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(line.contains(" client=localhost[127.0.0.1] "), "{line}");

    // EICAR: base64 attachment, in a zip, in a forwarded message.
    for (what, msg) in [
        (
            "base64",
            with_attachment(
                &token("smfib64"),
                "application/octet-stream",
                "e.com",
                &eicar(),
            ),
        ),
        (
            "zip",
            with_attachment(
                &token("smfizip"),
                "application/zip",
                "e.zip",
                &zip_of("e.com", &eicar()),
            ),
        ),
        ("rfc822", nested(&token("smfinest"))),
    ] {
        let tag = String::from_utf8_lossy(&msg)
            .lines()
            .find_map(|l| l.strip_prefix("Subject: smfi "))
            .unwrap()
            .to_string();
        let (t, id) = swaks(2527, &msg);
        let reply = data_reply(&t);
        assert!(
            reply.contains("550 5.7.1 Virus found: Eicar-Test-Signature"),
            "{what}: {t}"
        );
        assert!(id.is_none());
        postfix_log(&[
            "milter-reject: END-OF-MESSAGE",
            "5.7.1 Virus found: Eicar-Test-Signature",
            &format!("to=<{RCPT}>"),
        ]);
        not_delivered(&tag);
    }

    // The evasion issue's examples, each part malformed in a way a mail
    // client still reads: rejected in the session with the virus's name
    // (they used to pass as "not scanned").
    let tag = token("smfimalformed");
    for (trick, msg) in examples(&tag, &eicar()) {
        let (t, id) = swaks(2527, &msg);
        assert!(
            data_reply(&t)
                .contains("550 5.7.1 Virus found: Eicar-Test-Signature"),
            "{trick}: {t}"
        );
        assert!(id.is_none(), "{trick}: queued");
    }
    not_delivered(&tag);
}

#[test]
fn tcp_defers_discards_holds_cleans_and_dry_runs() {
    let sock = "inet:127.0.0.1:2529";
    let m = Milter::start(sock, "action_on_infected = \"defer\"\n");
    let infected = |tag: &str| {
        with_attachment(tag, "application/octet-stream", "e.com", &eicar())
    };

    // defer: 451 to the client, nothing queued.
    let tag = token("smfidefer");
    let (t, id) = swaks(2528, &infected(&tag));
    assert!(
        data_reply(&t).contains(
            "451 4.7.1 Virus found: Eicar-Test-Signature, try again later"
        ),
        "{t}"
    );
    assert!(id.is_none());

    // discard: the client is told 250, Postfix drops it.
    m.reconfigure(sock, "action_on_infected = \"discard\"\n");
    let tag = token("smfidisc");
    let (t, id) = swaks(2528, &infected(&tag));
    let id = id.unwrap_or_else(|| panic!("{t}"));
    postfix_log(&[&format!("{id}: milter-discard: END-OF-MESSAGE")]);
    not_delivered(&tag);

    // reject+quarantine: a reject stays a reject (550), and the original
    // is in quarantine_dir, listed by nod32cli, the log line naming it.
    let qdir = m.dir.path().join("quarantine");
    std::fs::create_dir(&qdir).unwrap();
    std::fs::set_permissions(&qdir, std::fs::Permissions::from_mode(0o700))
        .unwrap();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    nix::unistd::chown(&qdir, Some(nobody.uid), None).unwrap();
    let text = std::fs::read_to_string(&m.cfg).unwrap();
    std::fs::write(
        &m.cfg,
        text.replacen(
            "[smfi]",
            &format!("quarantine_dir = \"{}\"\n[smfi]", qdir.display()),
            1,
        ),
    )
    .unwrap();
    m.reconfigure(sock, "action_on_infected = \"reject+quarantine\"\n");
    let tag = token("smfiquar");
    let (t, id) = swaks(2528, &infected(&tag));
    assert!(
        data_reply(&t).contains("550 5.7.1 Virus found: Eicar-Test-Signature"),
        "{t}"
    );
    assert!(id.is_none(), "{t}");
    let list = run(Command::new(bin("nod32cli"))
        .args(["quarantine", "-c"])
        .arg(&m.cfg)
        .arg("list"));
    let listed = String::from_utf8_lossy(&list.stdout).to_string();
    assert!(list.status.success(), "{listed}");
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.contains("Eicar-Test-Signature"), "{listed}");
    let qid = listed.split_whitespace().next().unwrap().to_string();
    let log = m.log();
    assert!(
        log.lines().any(|l| l.contains("action=reject")
            && l.contains(&format!("quarantine={qid}"))),
        "{log}"
    );

    // The MTA's hold queue, chosen by name (quarantine_mode = "hold"):
    // accept+quarantine is held, the log line says action=hold; a
    // reject+quarantine is still refused.
    m.reconfigure(
        sock,
        "quarantine_mode = \"hold\"\naction_on_infected = \"accept+quarantine\"\n",
    );
    let tag = token("smfihold");
    let (t, id) = swaks(2528, &infected(&tag));
    let id = id.unwrap_or_else(|| panic!("{t}"));
    postfix_log(&[&format!("{id}: milter-hold: END-OF-MESSAGE")]);
    let log = m.log();
    assert!(
        log.contains(&format!(
            "queue_id={id} held in the MTA's hold queue: Virus found: Eicar-Test-Signature"
        )) && log.lines().any(|l| l.contains(&format!("queue_id={id} "))
            && l.contains("action=hold")),
        "{log}"
    );
    let q = run(nod32_tests::postfix_cmd("postqueue").arg("-j"));
    let q = String::from_utf8_lossy(&q.stdout);
    let entry = q
        .lines()
        .find(|l| l.contains(&format!("\"queue_id\": \"{id}\"")))
        .unwrap();
    assert!(entry.contains("\"queue_name\": \"hold\""), "{entry}");
    run(nod32_tests::postfix_cmd("postsuper").args(["-d", &id]));
    assert!(!in_queue(&id));
    m.reconfigure(
        sock,
        "quarantine_mode = \"hold\"\naction_on_infected = \"reject+quarantine\"\n",
    );
    let (t, id) = swaks(2528, &infected(&token("smfiholdrej")));
    assert!(
        data_reply(&t).contains("550 5.7.1 Virus found: Eicar-Test-Signature")
            && id.is_none(),
        "{t}"
    );

    // clean_mode: the infected part replaced by a notice, the rest
    // delivered byte for byte (a body replacement).
    m.reconfigure(sock, "clean_mode = true\nwrite_to_header = true\n");
    let tag = token("smficlean");
    let msg = infected(&tag);
    let (t, id) = swaks(2528, &msg);
    assert!(id.is_some(), "{t}");
    let got = wait_for_mail("nod32milter", &tag);
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("X-NOD32Result: deleted"), "{text}");
    assert!(!text.contains(&base64_lines(&eicar(), "\n")), "{text}");
    assert!(text.contains("Hello, caf\u{e9}."), "{text}");
    let parsed = mailparse::parse_mail(&got).unwrap();
    assert_eq!(parsed.subparts.len(), 2, "{text}");

    // dry run: everything passes unchanged; the log says what would
    // have happened.
    m.reconfigure(sock, "dry_run = true\n");
    let tag = token("smfidry");
    let msg = infected(&tag);
    let (t, id) = swaks(2528, &msg);
    assert!(id.is_some(), "{t}");
    let got = wait_for_mail("nod32milter", &tag);
    assert!(lf(&got).ends_with(&lf(&msg)));
    let log = m.log();
    assert!(
        log.contains(&format!(
            "dry run: queue_id={} would answer \"550 5.7.1 Virus found: Eicar-Test-Signature\"",
            id.unwrap()
        )),
        "{log}"
    );
}
