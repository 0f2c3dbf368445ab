//! nod32smtp as Postfix's after-queue content filter, set up by `cargo
//! xtask test` the manual's way: mail to 127.0.0.1:2541 goes through the
//! `nod32scan` smtp client to nod32smtp on 2542, which hands it back to
//! the re-injection smtpd on 2543, which delivers to the Maildirs.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nod32_tests::{
    base64_lines, bin, eicar, in_queue, peer, postfix, postfix_statuses, run,
    status_of, token, wait_for_mail,
};

/// Both tests use the same Postfix listeners and port: one at a time.
static PORTS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A running nod32smtp, stopped when dropped.
struct Proxy {
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    fn start(policy: &str) -> Proxy {
        postfix();
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let module = dir.path().join("nod32.000");
        let sigs = nod32_engine::builtin_signatures();
        std::fs::write(&module, nod32_engine::compile(&sigs).0).unwrap();
        let cfg = dir.path().join("nod32.toml");
        std::fs::write(
            &cfg,
            format!(
                "[global]\nmodule = \"{}\"\nuser = \"nobody\"\ngroup = \"nogroup\"\n\
                 template_dir = \"{}\"\n{policy}\
                 [smtp]\nlisten_port = 2542\nserver_port = 2543\n",
                module.display(),
                dir.path().display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new(bin("nod32smtp"))
            .args(["-f", "-c"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let p = Proxy { child, dir };
        let t0 = Instant::now();
        while !p.log().contains("listening on") {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "nod32smtp did not start: {}",
                p.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        p
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log"))
            .unwrap_or_default()
    }
}

/// Sends with swaks to the filtered listener; Postfix's queue id.
fn swaks(to: &[&str], msg: &[u8], extra: &[&str]) -> String {
    let text = swaks_to("127.0.0.1:2541", to, msg, extra);
    let l = text.lines().find(|l| l.contains(" queued as ")).unwrap();
    l.rsplit(' ').next().unwrap().to_string()
}

/// swaks's transcript.
fn swaks_to(server: &str, to: &[&str], msg: &[u8], extra: &[&str]) -> String {
    let mut c = Command::new(peer("swaks", "swaks"))
        .args(["--server", server, "--from", "nod32admin@localhost"])
        .args(["--to", &to.join(",")])
        .args(["--data", "-", "--suppress-data"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(msg).unwrap();
    let out = c.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The status of the filter hop (the nod32scan smtp client) for `rcpt`.
fn filter_status(q: &str, rcpt: &str) -> String {
    let t0 = Instant::now();
    loop {
        if let Some(l) = postfix_statuses(q, rcpt).into_iter().next() {
            return l;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "no status for {q}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn message(tag: &str, body: &str) -> Vec<u8> {
    format!(
        "From: nod32admin@localhost\r\nTo: nod32user@localhost\r\nSubject: smtp {tag}\r\n\
         Message-ID: <{tag}@example.org>\r\nDate: Sat, 28 Nov 2026 21:00:00 +0000\r\n\
         MIME-Version: 1.0\r\n{body}"
    )
    .into_bytes()
}

fn with_attachment(tag: &str, name: &str, data: &[u8]) -> Vec<u8> {
    message(
        tag,
        &format!(
            "Content-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
             Gr\u{fc}\u{df}e, caf\u{e9}.\r\n.a line that starts with a dot\r\n..and two\r\n.\r\n\
             --zz\r\nContent-Type: application/octet-stream; name=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--zz--\r\n",
            base64_lines(data, "\r\n")
        ),
    )
}

fn lf(b: &[u8]) -> Vec<u8> {
    let v: Vec<u8> = b.iter().copied().filter(|&c| c != b'\r').collect();
    let n = v.iter().rposition(|&c| c != b'\n').map_or(0, |i| i + 1);
    v[..n].to_vec()
}

#[test]
fn content_filter_passes_clean_mail_and_refuses_viruses() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let p = Proxy::start("write_to_header = true\nheader_on_clean = true\n");

    // Clean, 8-bit, dot-stuffed lines, two recipients in one pipelined
    // transaction: both delivered, identical after the trace fields
    // apart from the result header.
    let tag = token("smtpclean");
    let clean = with_attachment(&tag, "notes.txt", b"harmless");
    let q = swaks(
        &["nod32user@localhost", "nod32admin@localhost"],
        &clean,
        &["--pipeline"],
    );
    for (user, rcpt) in [
        ("nod32user", "nod32user@localhost"),
        ("nod32admin", "nod32admin@localhost"),
    ] {
        let line = filter_status(&q, rcpt);
        assert!(
            line.contains("relay=127.0.0.1[127.0.0.1]:2542")
                && status_of(&line) == "sent",
            "{line}"
        );
        let got = wait_for_mail(user, &format!("<{tag}@example.org>"));
        let text = String::from_utf8_lossy(&got);
        assert!(text.contains("\nX-NOD32Result: clean\n"), "{text}");
        assert!(lf(&got).ends_with(&lf(&clean)), "{text}");
    }
    // The original queue id and client came through XFORWARD.
    let log = p.log();
    assert!(log.contains(&format!("queue_id={q} ")), "{log}");
    assert!(log.contains("client=localhost[127.0.0.1]"), "{log}");

    // EICAR in a base64 attachment: the filter hop bounces it with the
    // virus's name; the sender gets the bounce.
    let tag = token("smtpvirus");
    let q = swaks(
        &["nod32user@localhost"],
        &with_attachment(&tag, "e.com", &eicar()),
        &[],
    );
    let line = filter_status(&q, "nod32user@localhost");
    assert!(
        status_of(&line) == "bounced"
            && line.contains("said: 550 5.7.1 Virus found: Eicar-Test-Signature (in reply to end of DATA command)"),
        "{line}"
    );
    wait_for_mail("nod32admin", &tag);
}

#[test]
fn content_filter_defers_on_policy_and_when_down() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    // EICAR in a zip with action_on_infected = defer: Postfix keeps it.
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("e.com"), eicar()).unwrap();
    let out = run(Command::new(peer("zip", "zip"))
        .current_dir(d.path())
        .args(["-q", "e.zip", "e.com"]));
    assert!(out.status.success());
    let zip = std::fs::read(d.path().join("e.zip")).unwrap();
    {
        let _p = Proxy::start("action_on_infected = \"defer\"\n");
        let tag = token("smtpdefer");
        let q = swaks(
            &["nod32user@localhost"],
            &with_attachment(&tag, "e.zip", &zip),
            &[],
        );
        let line = filter_status(&q, "nod32user@localhost");
        assert!(
            status_of(&line) == "deferred"
                && line.contains("451 4.7.1 Virus found: Eicar-Test-Signature, try again later"),
            "{line}"
        );
        assert!(in_queue(&q));
        run(Command::new("postsuper").args(["-d", &q]));
    }

    // nod32smtp down: Postfix keeps the mail; once it is back, a queue
    // run delivers it.
    let tag = token("smtpdown");
    let clean = with_attachment(&tag, "n.txt", b"harmless");
    let q = swaks(&["nod32user@localhost"], &clean, &[]);
    let line = filter_status(&q, "nod32user@localhost");
    assert!(
        status_of(&line) == "deferred" && line.contains("Connection refused"),
        "{line}"
    );
    let _p = Proxy::start("");
    run(Command::new("postqueue").args(["-i", &q]));
    let got = wait_for_mail("nod32user", &format!("<{tag}@example.org>"));
    assert!(lf(&got).ends_with(&lf(&clean)));
}

/// Before-queue (smtpd_proxy_filter): the client itself gets the
/// refusal during its session; nothing is queued, nothing bounces.
#[test]
fn proxy_filter_refuses_during_the_session() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let _p = Proxy::start("");
    let tag = token("bqclean");
    let clean = with_attachment(&tag, "n.txt", b"harmless");
    let t = swaks_to("127.0.0.1:2544", &["nod32user@localhost"], &clean, &[]);
    assert!(t.contains("<-  250 2.0.0 Ok: queued as "), "{t}");
    let got = wait_for_mail("nod32user", &format!("<{tag}@example.org>"));
    assert!(lf(&got).ends_with(&lf(&clean)));

    let tag = token("bqvirus");
    let t = swaks_to(
        "127.0.0.1:2544",
        &["nod32user@localhost"],
        &with_attachment(&tag, "e.com", &eicar()),
        &[],
    );
    assert!(
        t.contains("<** 550 5.7.1 Virus found: Eicar-Test-Signature"),
        "{t}"
    );
    assert!(!t.contains("queued as"), "{t}");
    let t0 = Instant::now();
    loop {
        let log = std::fs::read_to_string("/var/log/postfix.log")
            .unwrap_or_default();
        if log.lines().any(|l| {
            l.contains("proxy-reject: END-OF-MESSAGE: 550 5.7.1 Virus found: Eicar-Test-Signature")
        }) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "no proxy-reject in the Postfix log"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
