//! nod32smtp as Postfix's after-queue content filter, set up by `cargo
//! xtask test` the manual's way: mail to 127.0.0.1:2541 goes through the
//! `nod32scan` smtp client to nod32smtp on 2542, which hands it back to
//! the re-injection smtpd on 2543, which delivers to the Maildirs.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nod32_tests::mutants::examples;
use nod32_tests::{
    base64_lines, bin, eicar, in_queue, peer, postfix, postfix_last_statuses,
    postfix_statuses, run, status_of, token, wait_for_all_mail, wait_for_mail,
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
        Proxy::with(policy, "listen_port = 2542\nserver_port = 2543\n")
    }

    /// With its own `[smtp]` section.
    fn with(policy: &str, smtp: &str) -> Proxy {
        Proxy::spawn(policy, smtp, &[])
    }

    /// Started through `launcher` (a command that ends by running
    /// nod32smtp with the arguments after it).
    fn spawn(policy: &str, smtp: &str, launcher: &[&str]) -> Proxy {
        postfix();
        let (dir, module) = nod32_tests::module_dir();
        let cfg = dir.path().join("nod32.toml");
        std::fs::write(
            &cfg,
            format!(
                "[global]\nmodule = \"{}\"\nuser = \"nobody\"\ngroup = \"nogroup\"\n\
                 template_dir = \"{}\"\n{policy}\
                 [smtp]\n{smtp}",
                module.display(),
                dir.path().display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let mut cmd = match launcher.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(bin("nod32smtp"));
                c
            }
            None => Command::new(bin("nod32smtp")),
        };
        let child = cmd
            // Not the journal's: lines carry their own time.
            .env_remove("JOURNAL_STREAM")
            .args(["-f", "-c"])
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let p = Proxy { child, dir };
        let t0 = Instant::now();
        // systemd-socket-activate says "Listening on" and starts
        // nod32smtp at the first connection.
        let up = |log: String| {
            log.contains("listening on")
                || (!launcher.is_empty() && log.contains("Listening on"))
        };
        while !up(p.log()) {
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

    /// SIGKILL, then the same proxy again at once.
    fn kill_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let before = self.log().matches("listening on").count();
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("log"))
            .unwrap();
        self.child = Command::new(bin("nod32smtp"))
            .args(["-f", "-c"])
            .arg(self.dir.path().join("nod32.toml"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while self.log().matches("listening on").count() == before {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "nod32smtp did not restart: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
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
    let out = nod32_tests::swaks(
        server,
        "nod32admin@localhost",
        &to.join(","),
        msg,
        extra,
    );
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

/// The evasion issue's examples through the content filter: each part
/// is malformed in a way a mail client still reads, so the filter hop
/// refuses the message with the virus's name (it used to relay them as
/// "not scanned").
#[test]
fn content_filter_refuses_viruses_in_malformed_mime() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let _p = Proxy::start("");
    let tag = token("smtpmalformed");
    for (trick, msg) in examples(&tag, &eicar()) {
        let q = swaks(&["nod32user@localhost"], &msg, &[]);
        let line = filter_status(&q, "nod32user@localhost");
        assert!(
            status_of(&line) == "bounced"
                && line.contains(
                    "said: 550 5.7.1 Virus found: Eicar-Test-Signature"
                ),
            "{trick}: {line}"
        );
        // The bounce reaches the sender; nothing reaches the recipient.
        wait_for_mail("nod32admin", &format!("{tag} {trick}"));
    }
    assert!(!has_mail("nod32user", &format!("Message-ID: <{tag}-")));
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
        run(nod32_tests::postfix_cmd("postsuper").args(["-d", &q]));
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
    run(nod32_tests::postfix_cmd("postqueue").args(["-i", &q]));
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
    assert!(
        t.lines().any(|l| l.starts_with("<-  250 2.0.0 Ok: ")
            && l.contains(" queued as ")),
        "{t}"
    );
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
        let log = std::fs::read_to_string(nod32_tests::postfix_log())
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

/// A raw SMTP session with nod32smtp (next hop: the re-injection smtpd).
struct Raw {
    r: std::io::BufReader<std::net::TcpStream>,
    w: std::net::TcpStream,
}

impl Raw {
    fn open() -> Raw {
        Raw::open_at("127.0.0.1:2542")
    }

    fn open_at(addr: &str) -> Raw {
        let s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let mut raw =
            Raw { r: std::io::BufReader::new(s.try_clone().unwrap()), w: s };
        assert!(raw.reply().starts_with("220 "));
        raw
    }

    /// One reply, all its lines.
    fn reply(&mut self) -> String {
        use std::io::BufRead;
        let mut all = String::new();
        loop {
            let mut l = String::new();
            self.r.read_line(&mut l).unwrap();
            assert!(!l.is_empty(), "connection closed");
            all.push_str(&l);
            if l.as_bytes().get(3) != Some(&b'-') {
                return all;
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).unwrap();
    }

    fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }
}

fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// What a broken or hostile client sends gets the RFC's reply, the
/// session goes on, and memory stays bounded.
#[test]
fn malformed_input_gets_rfc_replies_in_bounded_memory() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let p = Proxy::start("");
    let mut s = Raw::open();
    assert!(s.cmd("EHLO client.example").starts_with("250-"));
    // An overlong command line.
    let long = format!("MAIL FROM:<{}@example.org>", "a".repeat(10_000));
    assert!(s.cmd(&long).starts_with("500 5.5.2 "), "overlong");
    // Bare LF, NUL bytes, commands out of order.
    s.send(b"NOOP\n");
    assert!(s.reply().starts_with("250 "));
    assert!(s.cmd("DATA").starts_with("503 5.5.1 "));
    assert!(s.cmd("RCPT TO:<nod32user@localhost>").starts_with("503"));
    s.send(b"MAIL FROM:<a\0b@example.org>\r\n");
    let r = s.reply();
    assert!(r.starts_with('5') || r.starts_with("250"), "{r}");
    assert!(s.cmd("RSET").starts_with("250"));
    assert!(s.cmd("FROBNICATE").starts_with("500 5.5.2 "));

    // 10,000 recipients, pipelined: every one answered (the next hop
    // takes its smtpd_recipient_limit, 1000, and refuses the rest).
    assert!(s.cmd("MAIL FROM:<nod32admin@localhost>").starts_with("250"));
    let mut batch = Vec::new();
    for _ in 0..10_000 {
        batch.extend_from_slice(b"RCPT TO:<nod32user@localhost>\r\n");
    }
    s.send(&batch);
    let (mut ok, mut refused) = (0, 0);
    for _ in 0..10_000 {
        let r = s.reply();
        if r.starts_with("250") {
            ok += 1;
        } else {
            assert!(r.starts_with("452"), "{r}");
            refused += 1;
        }
    }
    assert_eq!((ok, refused), (1000, 9000));

    // A never-ending DATA: refused as too big once it passes the next
    // hop's SIZE (50 MB here), and not held in memory.
    assert!(s.cmd("DATA").starts_with("354"));
    let line = vec![b'x'; 998];
    let mut chunk = Vec::new();
    for _ in 0..1024 {
        chunk.extend_from_slice(&line);
        chunk.extend_from_slice(b"\r\n");
    }
    for _ in 0..60 {
        s.send(&chunk);
    }
    s.send(b".\r\n");
    assert!(s.reply().starts_with("552 5.3.4 "));
    assert!(s.cmd("NOOP").starts_with("250"));
    assert!(s.cmd("QUIT").starts_with("221"));
    let rss = peak_rss_kb(p.child.id());
    assert!(rss < 120 * 1024, "peak RSS {rss} kB");
}

/// A 30 MB message through the content filter arrives whole.
#[test]
fn thirty_megabytes_through_the_content_filter() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let _p = Proxy::start("");
    let tag = token("smtpbig");
    let mut rng = nod32_tests::Rng::new(30);
    let big = rng.bytes(22 << 20);
    let msg = with_attachment(&tag, "big.bin", &big);
    assert!(msg.len() > 30_000_000);
    let q = swaks(&["nod32user@localhost"], &msg, &[]);
    let line = filter_status(&q, "nod32user@localhost");
    assert_eq!(status_of(&line), "sent", "{line}");
    let got = wait_for_mail("nod32user", &format!("<{tag}@example.org>"));
    assert!(lf(&got).ends_with(&lf(&msg)));
}

/// nod32smtp killed with SIGKILL at random moments (often during DATA)
/// and started again, while Postfix feeds it 200 messages through the
/// content filter: every message ends delivered (clean) or bounced to
/// its sender (infected); Postfix retries whatever a kill cut short.
#[test]
fn killed_under_load_loses_nothing() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let kills = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let killer = {
        let stop = stop.clone();
        let kills = kills.clone();
        std::thread::spawn(move || {
            let mut rng = nod32_tests::Rng::new(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64,
            );
            let mut p = Proxy::start("");
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(rng.range(50, 400)));
                p.kill_and_restart();
                kills.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            p
        })
    };
    let mut rng = nod32_tests::Rng::new(5);
    let mut batch = Vec::new();
    let mut msgs = Vec::new();
    for i in 0..200 {
        let tag = token(&format!("k{i}x"));
        let infected = i % 5 == 4;
        let data = if infected {
            eicar()
        } else {
            {
                let n = rng.range(1, 200_000) as usize;
                rng.bytes(n)
            }
        };
        msgs.push(with_attachment(&tag, "d.bin", &data));
        batch.push((tag, infected));
    }
    let mut ids = Vec::new();
    for chunk in msgs.chunks(20) {
        ids.extend(nod32_tests::smtp_send_to(
            "127.0.0.1:2541",
            "nod32admin@localhost",
            "nod32user@localhost",
            chunk,
        ));
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let some kills land on traffic, then keep one proxy up.
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _p = killer.join().unwrap();
    let kills = kills.load(std::sync::atomic::Ordering::SeqCst);
    // Every message's filter hop must end sent or bounced.
    let t0 = Instant::now();
    let mut last_flush = Instant::now() - Duration::from_secs(10);
    let finals = loop {
        let last = postfix_last_statuses(&ids, "nod32user@localhost");
        if last.iter().all(|l| {
            l.as_deref()
                .is_some_and(|l| matches!(status_of(l), "sent" | "bounced"))
        }) {
            break last.into_iter().map(Option::unwrap).collect::<Vec<_>>();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "not all messages got through the filter"
        );
        if last_flush.elapsed() > Duration::from_secs(2) {
            run(nod32_tests::postfix_cmd("postqueue").arg("-f"));
            last_flush = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let (mut delivered, mut bounced) = (Vec::new(), Vec::new());
    for ((tag, infected), line) in batch.iter().zip(&finals) {
        if *infected {
            assert_eq!(status_of(line), "bounced", "{line}");
            bounced.push(tag.clone());
        } else {
            assert_eq!(status_of(line), "sent", "{line}");
            delivered.push(format!("<{tag}@example.org>"));
        }
    }
    wait_for_all_mail("nod32admin", &bounced);
    wait_for_all_mail("nod32user", &delivered);
    let (delivered, bounced) = (delivered.len(), bounced.len());
    let retried = ids
        .iter()
        .flat_map(|q| postfix_statuses(q, "nod32user@localhost"))
        .filter(|l| status_of(l) == "deferred")
        .count();
    eprintln!(
        "200 messages, nod32smtp killed {kills} times: {delivered} delivered, {bounced} bounced, 0 lost; {retried} deferred attempts"
    );
    assert!(kills >= 5, "only {kills} kills");
    assert!(retried >= 1, "no attempt was cut short");
}

/// smtp-sink (Postfix's test server) as the next hop, misbehaving in one
/// way at a time; swaks talks to nod32smtp directly (relay mode).
struct Sink(Child);

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sink(args: &[&str]) -> Sink {
    let s = Sink(
        Command::new(peer("smtp-sink", "postfix"))
            .args(["-u", "nobody"])
            .args(args)
            .args(["127.0.0.1:2597", "16"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t0 = Instant::now();
    while std::net::TcpStream::connect("127.0.0.1:2597").is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "smtp-sink did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    s
}

#[test]
fn next_hop_down_slow_or_refusing() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    // Stopped when the test ends, however it ends.
    let _proxy = Proxy::with("", "listen_port = 2542\nserver_port = 2597\n");
    let msg = with_attachment(&token("hop"), "n.txt", b"harmless");
    let send =
        || swaks_to("127.0.0.1:2542", &["someone@example.net"], &msg, &[]);

    // Down: the client is told to come back.
    let t = send();
    assert!(
        t.contains("<** 421 4.3.0 nod32smtp: next hop unavailable"),
        "{t}"
    );

    // 4xx to RCPT, passed on per recipient.
    {
        let _s = sink(&["-r", "RCPT"]);
        let t = send();
        let reply = t
            .lines()
            .skip_while(|l| !l.contains("-> RCPT TO:"))
            .nth(1)
            .unwrap_or_default();
        assert!(reply.starts_with("<** 4"), "{t}");
        assert!(!t.contains("queued"), "{t}");
    }
    // 5xx to the final dot: the client gets the next hop's refusal.
    {
        let _s = sink(&["-f", "."]);
        let t = send();
        let after = t.split(" 354 ").nth(1).unwrap_or_default();
        assert!(after.lines().any(|l| l.starts_with("<** 5")), "{t}");
    }
    // The next hop hangs up after the dot without a reply: never a 250.
    {
        let _s = sink(&["-q", "."]);
        let t = send();
        let after = t.split(" 354 ").nth(1).unwrap_or_default();
        assert!(
            after.contains("<** 421 4.4.2 nod32smtp: lost the next hop"),
            "{t}"
        );
        assert!(!after.contains("<-  250"), "{t}");
    }
    // Slow (3 s before the reply to DATA): it just takes longer.
    {
        let _s = sink(&["-w", "3"]);
        let t0 = Instant::now();
        let t = send();
        assert!(t0.elapsed() >= Duration::from_secs(3));
        let after = t.split(" 354 ").nth(1).unwrap_or_default();
        assert!(after.lines().any(|l| l.starts_with("<-  250")), "{t}");
    }
}

/// Relay mode, with Postfix's own load tools on both sides: smtp-source
/// (20 sessions) → nod32smtp → smtp-sink, which keeps every message it
/// gets: all 300 arrive, byte counts as sent.
#[test]
fn relay_smtp_source_to_smtp_sink() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let dump = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dump.path(),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    let _sink = sink(&["-d", &format!("{}/%M.", dump.path().display())]);
    // Stopped when the test ends, however it ends.
    let _proxy = Proxy::with("", "listen_port = 2542\nserver_port = 2597\n");
    let out = run(Command::new(peer("smtp-source", "postfix"))
        .args(["-s", "20", "-m", "300", "-l", "4096"])
        .args([
            "-f",
            "a@example.org",
            "-t",
            "b@example.net",
            "127.0.0.1:2542",
        ]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let files = || walk(dump.path());
    // smtp-sink writes each file as its transaction ends.
    let t0 = Instant::now();
    while files().len() < 300 && t0.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = files();
    assert_eq!(got.len(), 300);
    for f in got {
        let m = std::fs::read(&f).unwrap();
        // The dump starts with smtp-sink's envelope records; the message
        // smtp-source made is its 4 KB of body lines after them.
        assert!(m.len() >= 4096, "{}: {} bytes", f.display(), m.len());
    }
}

/// The tests' CA and Postfix's certificate (made by `cargo xtask
/// install-peers`).
const TLS_DIR: &str = "/var/lib/nod32-test/tls";

/// Whether any message in `user`'s Maildir holds `token`.
fn has_mail(user: &str, token: &str) -> bool {
    ["new", "cur"].iter().any(|d| {
        std::fs::read_dir(format!("/home/{user}/Maildir/{d}"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|e| {
                std::fs::read(e.path()).is_ok_and(|m| {
                    m.windows(token.len()).any(|w| w == token.as_bytes())
                })
            })
    })
}

/// The Received field the next hop (the smtpd on 2525) added.
fn received_from_proxy(got: &[u8]) -> String {
    let text = String::from_utf8_lossy(got).replace("\n\t", " ");
    text.lines()
        .find(|l| l.starts_with("Received: from ") && l.contains("127.0.0.1"))
        .unwrap_or_default()
        .to_string()
}

/// STARTTLS on both sides: swaks talks TLS to nod32smtp, which talks TLS
/// (certificate verified against the tests' CA) to a Postfix smtpd that
/// offers it; the message arrives and that smtpd's Received field says
/// TLS was used. A certificate that does not name the configured host,
/// or a next hop without TLS where TLS is required, is a temporary
/// failure, never a message sent in clear.
#[test]
fn starttls_on_both_sides() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let smtp = |name: &str, level: &str, port: u16| {
        format!(
            "listen_port = 2542\nserver_port = {port}\n\
             tls_cert_file = \"{TLS_DIR}/cert.pem\"\ntls_key_file = \"{TLS_DIR}/key.pem\"\n\
             server_tls = \"{level}\"\nserver_tls_ca_file = \"{TLS_DIR}/ca.pem\"\n\
             server_tls_name = \"{name}\"\n"
        )
    };
    {
        let _p = Proxy::with("", &smtp("localhost", "verify", 2525));
        let tag = token("smtptls");
        let clean = with_attachment(&tag, "n.txt", b"harmless");
        let t = swaks_to(
            "127.0.0.1:2542",
            &["nod32user@localhost"],
            &clean,
            &["--tls"],
        );
        assert!(
            t.lines()
                .any(|l| l.starts_with("<-  250") && l.ends_with("STARTTLS")),
            "{t}"
        );
        assert!(t.contains("=== TLS started with cipher "), "{t}");
        // After the handshake, swaks's lines go in TLS (~> and <~).
        assert!(
            t.lines().any(|l| l.starts_with("<~  250 2.0.0 Ok")
                && l.contains(" queued as ")),
            "{t}"
        );
        let got = wait_for_mail("nod32user", &format!("<{tag}@example.org>"));
        assert!(lf(&got).ends_with(&lf(&clean)));
        let recv = received_from_proxy(&got);
        assert!(recv.contains("(using TLSv1."), "{recv}");

        // The EHLO before STARTTLS offers it; EICAR inside TLS is
        // refused as in clear.
        let t = swaks_to(
            "127.0.0.1:2542",
            &["nod32user@localhost"],
            &with_attachment(&token("smtptlsv"), "e.com", &eicar()),
            &["--tls"],
        );
        assert!(
            t.contains("<~* 550 5.7.1 Virus found: Eicar-Test-Signature"),
            "{t}"
        );
    }
    {
        // The next hop's certificate names localhost, not this.
        let p = Proxy::with("", &smtp("mx.example.org", "verify", 2525));
        let t = swaks_to(
            "127.0.0.1:2542",
            &["nod32user@localhost"],
            &message(&token("smtptlsbad"), "\r\nx\r\n"),
            &[],
        );
        assert!(t.contains("<** 421 4.7.5 "), "{t}");
        assert!(p.log().contains("TLS to the next hop failed"), "{}", p.log());
    }
    {
        // The re-injection smtpd offers no TLS (the guide's loopback hop).
        let _p = Proxy::with("", &smtp("localhost", "encrypt", 2543));
        let t = swaks_to(
            "127.0.0.1:2542",
            &["nod32user@localhost"],
            &message(&token("smtptlsnone"), "\r\nx\r\n"),
            &[],
        );
        assert!(t.contains("<** 421 4.7.4 "), "{t}");
    }
}

/// A raw client sends with BDAT (RFC 3030) through nod32smtp to the
/// re-injection smtpd, which offers CHUNKING: chunks split mid-line
/// arrive as one message, byte for byte; EICAR is refused at the last
/// chunk; a chunk out of order is read and refused, and the session
/// goes on.
#[test]
fn chunking_passes_bdat_through() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let _p = Proxy::start("");
    let mut s = Raw::open();
    let ehlo = s.cmd("EHLO client.example");
    assert!(ehlo.contains("250-CHUNKING") || ehlo.contains("250 CHUNKING"));
    assert!(!ehlo.contains("STARTTLS"), "{ehlo}");

    // BDAT before MAIL: the chunk is still read (else its bytes would be
    // taken for commands).
    s.send(b"BDAT 12\r\nRSET\r\nRSET\r\n");
    assert!(s.reply().starts_with("503 5.5.1 "));
    assert!(s.cmd("NOOP").starts_with("250"));

    let tag = token("smtpbdat");
    let msg = with_attachment(&tag, "n.txt", b"harmless");
    let (a, b) = msg.split_at(msg.len() / 2 + 3);
    assert!(s.cmd("MAIL FROM:<nod32admin@localhost>").starts_with("250"));
    assert!(s.cmd("RCPT TO:<nod32user@localhost>").starts_with("250"));
    s.send(format!("BDAT {}\r\n", a.len()).as_bytes());
    s.send(a);
    assert!(s.reply().starts_with("250 "));
    s.send(format!("BDAT {} LAST\r\n", b.len()).as_bytes());
    s.send(b);
    let r = s.reply();
    assert!(r.starts_with("250 2.0.0 Ok") && r.contains("queued as"), "{r}");
    let got = wait_for_mail("nod32user", &format!("<{tag}@example.org>"));
    assert!(lf(&got).ends_with(&lf(&msg)));

    // EICAR in one last chunk.
    let bad = with_attachment(&token("smtpbdatv"), "e.com", &eicar());
    assert!(s.cmd("MAIL FROM:<nod32admin@localhost>").starts_with("250"));
    assert!(s.cmd("RCPT TO:<nod32user@localhost>").starts_with("250"));
    s.send(format!("BDAT {} LAST\r\n", bad.len()).as_bytes());
    s.send(&bad);
    let r = s.reply();
    assert!(
        r.starts_with("550 5.7.1 Virus found: Eicar-Test-Signature"),
        "{r}"
    );
    // DATA in the middle of a BDAT transaction.
    assert!(s.cmd("MAIL FROM:<nod32admin@localhost>").starts_with("250"));
    assert!(s.cmd("RCPT TO:<nod32user@localhost>").starts_with("250"));
    s.send(b"BDAT 3\r\nabc");
    assert!(s.reply().starts_with("250 "));
    assert!(s.cmd("DATA").starts_with("503 5.5.1 "));
    assert!(s.cmd("RSET").starts_with("250"));
    assert!(s.cmd("QUIT").starts_with("221"));
}

/// The manual's tip 7.1: with clean_mode and write_to_header, a message
/// whose infected part nod32smtp cut out carries "X-NOD32Result:
/// deleted", and the re-injection smtpd's header_checks line
/// `/^X-NOD32Result: deleted/ DISCARD` drops it; clean mail is delivered.
#[test]
fn tip_7_1_header_checks_discard_deleted_mail() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let _p = Proxy::start("clean_mode = true\nwrite_to_header = true\n");
    let discards = || {
        std::fs::read_to_string(nod32_tests::postfix_log())
            .unwrap_or_default()
            .matches("discard: header X-NOD32Result: deleted")
            .count()
    };
    let before = discards();
    let bad = token("smtp71v");
    let q = swaks(
        &["nod32user@localhost"],
        &with_attachment(&bad, "e.com", &eicar()),
        &[],
    );
    let line = filter_status(&q, "nod32user@localhost");
    assert_eq!(status_of(&line), "sent", "{line}");
    let good = token("smtp71c");
    swaks(&["nod32user@localhost"], &message(&good, "\r\nclean\r\n"), &[]);
    wait_for_mail("nod32user", &format!("<{good}@example.org>"));
    let t0 = Instant::now();
    while discards() == before {
        assert!(t0.elapsed() < Duration::from_secs(30), "no discard logged");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!has_mail("nod32user", &bad));
}

/// The manual's tip 7.2: Postfix offers and uses TLS towards the
/// Internet while the content filter's loopback hops go in clear (the
/// guide's master.cf lines): a client in TLS gets its clean mail
/// delivered and its EICAR bounced through nod32smtp.
#[test]
fn tip_7_2_content_filter_under_tls() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let _p = Proxy::start("");
    let tag = token("smtp72");
    let clean = with_attachment(&tag, "n.txt", b"harmless");
    let t = swaks_to(
        "127.0.0.1:2541",
        &["nod32user@localhost"],
        &clean,
        &["--tls"],
    );
    assert!(t.contains("=== TLS started with cipher "), "{t}");
    let got = wait_for_mail("nod32user", &format!("<{tag}@example.org>"));
    assert!(lf(&got).ends_with(&lf(&clean)));
    // The public hop was TLS; the re-injection (from nod32smtp) was not.
    let text = String::from_utf8_lossy(&got).replace("\n\t", " ");
    let recv: Vec<&str> =
        text.lines().filter(|l| l.starts_with("Received: ")).collect();
    assert!(recv.iter().any(|l| l.contains("(using TLSv1.")), "{recv:?}");
    assert!(
        recv.first().is_some_and(|l| !l.contains("using TLS")),
        "{recv:?}"
    );

    let tag = token("smtp72v");
    let t = swaks_to(
        "127.0.0.1:2541",
        &["nod32user@localhost"],
        &with_attachment(&tag, "e.com", &eicar()),
        &["--tls"],
    );
    let q = t
        .lines()
        .find(|l| l.contains(" queued as "))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .to_string();
    let line = filter_status(&q, "nod32user@localhost");
    assert!(
        status_of(&line) == "bounced"
            && line.contains("550 5.7.1 Virus found"),
        "{line}"
    );
}

/// nod32smtp on a unix socket, as Postfix's smtpd_proxy_filter
/// (unix:/path): clean mail queued, EICAR refused in the session.
#[test]
fn proxy_filter_on_a_unix_socket() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let sock = "/var/lib/nod32-test/smtp.sock";
    let _p = Proxy::with(
        "",
        &format!(
            "listen_addr = \"unix:{sock}\"\nlisten_sock_mode = \"0666\"\nserver_port = 2543\n"
        ),
    );
    let meta = std::fs::metadata(sock).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o666);
    let tag = token("smtpunix");
    let clean = with_attachment(&tag, "n.txt", b"harmless");
    let t = swaks_to("127.0.0.1:2546", &["nod32user@localhost"], &clean, &[]);
    assert!(t.contains(" queued as "), "{t}");
    wait_for_mail("nod32user", &format!("<{tag}@example.org>"));
    let t = swaks_to(
        "127.0.0.1:2546",
        &["nod32user@localhost"],
        &with_attachment(&token("smtpunixv"), "e.com", &eicar()),
        &[],
    );
    assert!(
        t.contains("<** 550 5.7.1 Virus found: Eicar-Test-Signature"),
        "{t}"
    );
}

/// SIGHUP reloads the configuration between sessions: a session open
/// across the signal goes on with the policy it started with, the next
/// one gets the new policy; a broken file is refused and the running
/// configuration kept.
#[test]
fn sighup_reloads_without_dropping_sessions() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let p = Proxy::start("");
    let cfg = p.dir.path().join("nod32.toml");
    let bad = |s: &mut Raw| {
        assert!(s.cmd("MAIL FROM:<nod32admin@localhost>").starts_with("250"));
        assert!(s.cmd("RCPT TO:<nod32user@localhost>").starts_with("250"));
        assert!(s.cmd("DATA").starts_with("354"));
        let m = with_attachment(&token("smtphup"), "e.com", &eicar());
        // Dot-stuffed, as a client sends it.
        let mut m = String::from_utf8(m).unwrap().replace("\r\n.", "\r\n..");
        m.push_str(".\r\n");
        let m = m.into_bytes();
        s.send(&m);
        s.reply()
    };
    let mut old = Raw::open();
    assert!(old.cmd("EHLO a.example").starts_with("250"));
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("[smtp]\n", "action_on_infected = \"defer\"\n[smtp]\n"),
    )
    .unwrap();
    let hup = |p: &Proxy| {
        let n = p.log().matches("reload").count();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(p.child.id() as i32),
            nix::sys::signal::Signal::SIGHUP,
        )
        .unwrap();
        // The reload happens when the next session starts.
        let s = Raw::open();
        let t0 = Instant::now();
        while p.log().matches("reload").count() == n {
            assert!(t0.elapsed() < Duration::from_secs(10), "{}", p.log());
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    };
    let mut new = hup(&p);
    assert!(new.cmd("EHLO b.example").starts_with("250"));
    let r = bad(&mut new);
    assert!(r.starts_with("451 4.7.1 Virus found"), "{r}");
    let r = bad(&mut old);
    assert!(r.starts_with("550 5.7.1 Virus found"), "{r}");
    assert!(old.cmd("QUIT").starts_with("221"));

    std::fs::write(&cfg, "[smtp\nbroken").unwrap();
    let mut s = hup(&p);
    assert!(
        p.log().contains("reload failed, keeping the running configuration")
    );
    assert!(s.cmd("EHLO c.example").starts_with("250"));
    assert!(bad(&mut s).starts_with("451 4.7.1 Virus found"));
}

/// The systemd units (the services, their sockets, nod32upd's timer)
/// pass `systemd-analyze verify` (with the built
/// binaries in place of /usr/sbin), and socket activation works: under
/// `systemd-socket-activate` nod32smtp serves the socket it was given,
/// not the one its configuration names.
#[test]
fn systemd_units_and_socket_activation() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let units = tempfile::tempdir().unwrap();
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/../packaging/systemd");
    let built = bin("nod32smtp");
    let built = built.parent().unwrap().display().to_string();
    let mut names = Vec::new();
    for e in std::fs::read_dir(src).unwrap().flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        std::fs::write(
            units.path().join(&name),
            text.replace("/usr/sbin/", &format!("{built}/")),
        )
        .unwrap();
        names.push(name);
    }
    names.sort();
    assert_eq!(
        names,
        [
            "nod32smfi.service",
            "nod32smfi.socket",
            "nod32smtp.service",
            "nod32smtp.socket",
            "nod32upd.service",
            "nod32upd.timer"
        ]
    );
    let out = run(Command::new(peer("systemd-analyze", "systemd"))
        .current_dir(units.path())
        .args(["verify", "--man=no"])
        .args(names.iter().map(|n| format!("./{n}"))));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
    // The milter's default socket is in its unit's RuntimeDirectory,
    // which systemd removes at stop (the service, no longer root then,
    // could not remove a socket in /run).
    let unit =
        std::fs::read_to_string(format!("{src}/nod32smfi.service")).unwrap();
    let rundir = unit
        .lines()
        .find_map(|l| l.strip_prefix("RuntimeDirectory="))
        .expect("nod32smfi.service has a RuntimeDirectory");
    let sock = match nod32_config::Config::default().smfi.smfi_sock_path {
        nod32_config::Endpoint::Unix(p) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        sock.parent().unwrap(),
        std::path::Path::new("/run").join(rundir)
    );

    let p = Proxy::spawn(
        "",
        "listen_port = 2598\nserver_port = 2543\n",
        &[
            &peer("systemd-socket-activate", "systemd").display().to_string(),
            "-l",
            "127.0.0.1:2542",
        ],
    );
    let tag = token("smtpsock");
    let t = swaks_to(
        "127.0.0.1:2542",
        &["nod32user@localhost"],
        &with_attachment(&tag, "n.txt", b"harmless"),
        &[],
    );
    assert!(t.contains(" queued as "), "{t}");
    wait_for_mail("nod32user", &format!("<{tag}@example.org>"));
    assert!(p.log().contains("listening on 127.0.0.1:2542,"), "{}", p.log());
}

/// The guide's Postfix lines are the ones the tests run: every `-o` of
/// the content-filter and proxy-filter recipes in docs/GUIDE.md is set on
/// the matching service of the test Postfix (ports 2526/2525 of the
/// guide are 2542/2543 there), and main.cf's content_filter points the
/// same way.
#[test]
fn guide_recipes_are_the_tested_configuration() {
    postfix();
    let tested = |service: &str| -> Option<&'static str> {
        Some(match service {
            "nod32scan" => "nod32scan/unix",
            "127.0.0.1:2525" => "127.0.0.1:2543/inet",
            "nod32cleanup" => "nod32cleanup/unix",
            "smtp" => "127.0.0.1:2544/inet",
            _ => return None,
        })
    };
    let mut checked = 0;
    for name in ["postfix-content-filter", "postfix-proxy-filter"] {
        let recipe = nod32_tests::doc_recipe("GUIDE.md", name);
        let mut service = None;
        for line in recipe.lines() {
            let t = line.trim();
            if let Some(opt) = t.strip_prefix("-o ") {
                let (k, v) = opt.split_once('=').unwrap();
                // The guide's paths are the system's; the tests' Postfix
                // keeps its files in its own configuration directory.
                let v = v.replace("127.0.0.1:2526", "127.0.0.1:2542").replace(
                    "/etc/postfix/",
                    &format!("{}/", nod32_tests::postfix_config().display()),
                );
                let svc = service.expect("an -o line under a service");
                let key = format!("{svc}/{k}");
                let out =
                    run(nod32_tests::postfix_cmd("postconf")
                        .args(["-P", &key]));
                let got = String::from_utf8_lossy(&out.stdout);
                assert_eq!(
                    got.trim(),
                    format!("{key} = {v}").trim_end(),
                    "recipe {name}, service {svc}"
                );
                checked += 1;
            } else if let Some(main) = t.strip_prefix("content_filter = ") {
                let out = run(nod32_tests::postfix_cmd("postconf")
                    .args(["-P", "127.0.0.1:2541/inet/content_filter"]));
                let want = main.replace(":2526", ":2542");
                assert!(
                    String::from_utf8_lossy(&out.stdout).contains(&want),
                    "{want}"
                );
                checked += 1;
            } else if !t.starts_with('#') && !line.starts_with(' ') {
                service = t.split_whitespace().next().and_then(tested);
            }
        }
    }
    assert!(checked >= 12, "{checked}");
}

/// SMTPUTF8 (RFC 6531) passes through: the next hop's offer reaches the
/// client, a UTF-8 sender with the SMTPUTF8 parameter and a raw UTF-8
/// header are taken, and the message arrives byte for byte.
#[test]
fn smtputf8_mail_passes() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let _p = Proxy::start("");
    let mut s = Raw::open();
    let ehlo = s.cmd("EHLO client.example");
    assert!(ehlo.contains("SMTPUTF8") && ehlo.contains("8BITMIME"), "{ehlo}");
    let tag = token("smtputf8");
    let msg = format!(
        "From: J\u{fc}rgen <j\u{fc}rgen@b\u{fc}cher.example>\r\nTo: nod32user@localhost\r\n\
         Subject: Gr\u{fc}\u{df}e {tag} \u{2603}\r\nMessage-ID: <{tag}@example.org>\r\n\
         Date: Sat, 28 Nov 2026 21:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n\u{e7}a va? \u{65e5}\u{672c}\r\n"
    );
    let r =
        s.cmd("MAIL FROM:<j\u{fc}rgen@example.org> SMTPUTF8 BODY=8BITMIME");
    assert!(r.starts_with("250"), "{r}");
    assert!(s.cmd("RCPT TO:<nod32user@localhost>").starts_with("250"));
    assert!(s.cmd("DATA").starts_with("354"));
    s.send(msg.as_bytes());
    let r = s.cmd(".");
    assert!(r.starts_with("250"), "{r}");
    let got = wait_for_mail("nod32user", &format!("<{tag}@example.org>"));
    assert!(lf(&got).ends_with(&lf(msg.as_bytes())));
    // The next hop took it as SMTPUTF8 mail.
    assert!(String::from_utf8_lossy(&got).contains(" with UTF8SMTP id "));
}

/// Per policy, infected mail is discarded (250, nothing forwarded) and
/// kept in the quarantine, or marked and forwarded.
#[test]
fn discard_quarantine_or_mark_and_forward() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let send = |s: &mut Raw, tag: &str| {
        assert!(s.cmd("MAIL FROM:<nod32admin@localhost>").starts_with("250"));
        assert!(s.cmd("RCPT TO:<nod32user@localhost>").starts_with("250"));
        assert!(s.cmd("DATA").starts_with("354"));
        let m = String::from_utf8(with_attachment(tag, "e.com", &eicar()))
            .unwrap()
            .replace("\r\n.", "\r\n..");
        s.send(m.as_bytes());
        s.cmd(".")
    };
    {
        // The quarantine belongs to the user nod32smtp runs as.
        let qdir = tempfile::tempdir().unwrap();
        let q = qdir.path().join("q");
        std::fs::create_dir(&q).unwrap();
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
        nix::unistd::chown(&q, Some(nobody.uid), None).unwrap();
        std::fs::set_permissions(
            qdir.path(),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let _p = Proxy::start(&format!(
            "action_on_infected = \"discard+quarantine\"\nquarantine_dir = \"{}\"\n",
            q.display()
        ));
        let mut s = Raw::open();
        assert!(s.cmd("EHLO a.example").starts_with("250"));
        let tag = token("smtpdq");
        let r = send(&mut s, &tag);
        assert!(r.starts_with("250 2.0.0 Ok, discarded"), "{r}");
        // The message and its metadata sidecar.
        let held: Vec<_> = walk(&q)
            .into_iter()
            .filter(|e| e.extension().is_none_or(|x| x != "json"))
            .filter(|e| {
                std::fs::read(e).is_ok_and(|m| {
                    m.windows(tag.len()).any(|w| w == tag.as_bytes())
                })
            })
            .collect();
        assert_eq!(held.len(), 1, "{}", q.display());
        assert!(s.cmd("QUIT").starts_with("221"));
        assert!(!has_mail("nod32user", &tag));
    }
    {
        let _p = Proxy::start(
            "action_on_infected = \"accept\"\nwrite_to_header = true\n\
             subject_tag = \"[virus %virus%]\"\n",
        );
        let mut s = Raw::open();
        assert!(s.cmd("EHLO a.example").starts_with("250"));
        let tag = token("smtpmark");
        let r = send(&mut s, &tag);
        assert!(r.starts_with("250 2.0.0 Ok"), "{r}");
        let got = wait_for_mail("nod32user", &format!("<{tag}@example.org>"));
        let text = String::from_utf8_lossy(&got);
        assert!(text.contains("\nX-NOD32Result: infected\n"), "{text}");
        assert!(
            text.contains("Subject: [virus Eicar-Test-Signature] smtp"),
            "{text}"
        );
    }
}

/// Every file under `d`.
fn walk(d: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// On IPv6: a whole transaction through nod32smtp listening on ::1.
#[test]
fn listens_on_ipv6() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let _p = Proxy::with(
        "",
        "listen_addr = \"::1\"\nlisten_port = 2542\nserver_port = 2543\n",
    );
    let mut s = Raw::open_at("[::1]:2542");
    assert!(s.cmd("EHLO v6.example").starts_with("250"));
    assert!(s.cmd("MAIL FROM:<nod32admin@localhost>").starts_with("250"));
    assert!(s.cmd("RCPT TO:<nod32user@localhost>").starts_with("250"));
    assert!(s.cmd("DATA").starts_with("354"));
    let tag = token("smtpv6");
    s.send(&message(&tag, "\r\nover IPv6\r\n"));
    let r = s.cmd(".");
    assert!(r.starts_with("250 2.0.0 Ok"), "{r}");
    wait_for_mail("nod32user", &format!("<{tag}@example.org>"));
}

/// A next hop (a Postfix smtpd with smtpd_data_restrictions = reject)
/// refuses the message: the client gets that refusal, and its next
/// transaction on the same session is taken (nod32smtp closed the
/// refused one at the next hop, else Postfix would answer "503 nested
/// MAIL command").
#[test]
fn a_refused_message_leaves_the_session_usable() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let _p = Proxy::with("", "listen_port = 2542\nserver_port = 2547\n");
    let mut s = Raw::open();
    assert!(s.cmd("EHLO client.example").starts_with("250"));
    for round in 0..2 {
        let r = s.cmd("MAIL FROM:<nod32admin@localhost>");
        assert!(r.starts_with("250"), "round {round}: {r}");
        assert!(s.cmd("RCPT TO:<nod32user@localhost>").starts_with("250"));
        assert!(s.cmd("DATA").starts_with("354"));
        s.send(&message(&token("smtprefused"), "\r\nrefused\r\n"));
        let r = s.cmd(".");
        assert!(r.starts_with("554 "), "round {round}: {r}");
    }
    assert!(s.cmd("QUIT").starts_with("221"));
}

// The security review's findings (issue 19), each with the test that
// showed it.

/// A next hop of the test's own, on a free loopback port: it offers
/// `ehlo`'s extensions, answers 250 to everything else (354 to DATA,
/// reading to the end marker), and keeps every byte it was sent.
struct Scripted {
    port: u16,
    got: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    sessions: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Scripted {
    fn start(ehlo: &'static [&'static str]) -> Scripted {
        use std::io::BufRead;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sessions =
            std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (g, n) = (got.clone(), sessions.clone());
        std::thread::spawn(move || {
            for c in l.incoming() {
                let Ok(mut w) = c else { return };
                n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let g = g.clone();
                std::thread::spawn(move || {
                    let mut r =
                        std::io::BufReader::new(w.try_clone().unwrap());
                    let _ = w.write_all(b"220 hop ESMTP\r\n");
                    let mut data = false;
                    loop {
                        let mut line = Vec::new();
                        if r.read_until(b'\n', &mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        g.lock().unwrap().extend_from_slice(&line);
                        let reply: Vec<u8> = if data {
                            if line != b".\r\n" {
                                continue;
                            }
                            data = false;
                            b"250 2.0.0 queued\r\n".to_vec()
                        } else {
                            let verb = line
                                .split(|b| b.is_ascii_whitespace())
                                .next()
                                .unwrap_or_default()
                                .to_ascii_uppercase();
                            match &verb[..] {
                                b"EHLO" => {
                                    let mut t = b"250-hop".to_vec();
                                    for e in ehlo {
                                        t.extend_from_slice(b"\r\n250-");
                                        t.extend_from_slice(e.as_bytes());
                                    }
                                    t.extend_from_slice(
                                        b"\r\n250 8BITMIME\r\n",
                                    );
                                    t
                                }
                                b"DATA" => {
                                    data = true;
                                    b"354 go ahead\r\n".to_vec()
                                }
                                b"QUIT" => {
                                    let _ = w.write_all(b"221 bye\r\n");
                                    return;
                                }
                                _ => b"250 2.0.0 ok\r\n".to_vec(),
                            }
                        };
                        if w.write_all(&reply).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Scripted { port, got, sessions }
    }

    fn got(&self) -> Vec<u8> {
        self.got.lock().unwrap().clone()
    }
}

/// A BDAT size near 2^64 is refused at once, as any chunk larger than
/// the message limit; it never wraps the size check.
#[test]
fn bdat_sizes_do_not_wrap() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let _p = Proxy::start("");
    let mut s = Raw::open();
    assert!(s.cmd("EHLO client.example").contains("CHUNKING"));
    assert!(s.cmd("MAIL FROM:<nod32admin@localhost>").starts_with("250"));
    assert!(s.cmd("RCPT TO:<nod32user@localhost>").starts_with("250"));
    s.send(b"BDAT 1\r\nx");
    assert!(s.reply().starts_with("250"));
    let r = s.cmd("BDAT 18446744073709551615 LAST");
    assert!(r.starts_with("552 5.3.4 "), "{r}");
}

/// A command line that starts with Unicode white space is no command;
/// the session goes on, and a stop afterwards is prompt (no session is
/// left counted).
#[test]
fn unicode_white_space_before_a_command() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let hop = Scripted::start(&[]);
    let mut p = Proxy::with(
        "",
        &format!("listen_port = 2542\nserver_port = {}\n", hop.port),
    );
    let mut s = Raw::open();
    assert!(s.cmd("EHLO client.example").starts_with("250"));
    for l in ["\u{3000}\u{3000}MAIL FROM:<a@b>", "\u{a0}\u{3000}RCPT TO:<c@d>"]
    {
        let r = s.cmd(l);
        assert!(r.starts_with("500 5.5.2 "), "{l:?}: {r}");
    }
    assert!(s.cmd("QUIT").starts_with("221"));
    drop(s);
    let pid = nix::unistd::Pid::from_raw(p.child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let t0 = Instant::now();
    while p.child.try_wait().unwrap().is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "nod32smtp still waits for sessions after SIGTERM: {}",
            p.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Where a CR or LF stands alone in the message.
fn bare_line_ends(b: &[u8]) -> Vec<usize> {
    (0..b.len())
        .filter(|&i| {
            (b[i] == b'\r' && b.get(i + 1) != Some(&b'\n'))
                || (b[i] == b'\n' && (i == 0 || b[i - 1] != b'\r'))
        })
        .collect()
}

/// "\r.\r\n" inside a message: a next hop that takes a bare CR for a
/// line end would read a second, smuggled message there. Refused by
/// default; with `bare_newline = "normalize"`, passed with every line
/// end made CRLF. Either way, no bare CR or LF leaves nod32smtp.
#[test]
fn bare_cr_and_lf_never_reach_the_next_hop() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let smuggle: &[u8] = b"Subject: one\r\n\r\nfirst\r.\r\nMAIL FROM:<evil@x>\r\n\
        RCPT TO:<victim@y>\r\nDATA\r\nSubject: two\r\n\r\nsecond\nlone LF\r\n.\r\n";
    for (setting, want) in
        [("", "550 5.5.2 "), ("bare_newline = \"normalize\"\n", "250 ")]
    {
        let hop = Scripted::start(&[]);
        let _p = Proxy::with(
            "",
            &format!(
                "listen_port = 2542\nserver_port = {}\n{setting}",
                hop.port
            ),
        );
        let mut s = Raw::open();
        assert!(s.cmd("EHLO client.example").starts_with("250"));
        assert!(s.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
        assert!(s.cmd("RCPT TO:<b@example.org>").starts_with("250"));
        assert!(s.cmd("DATA").starts_with("354"));
        s.send(smuggle);
        let r = s.reply();
        assert!(r.starts_with(want), "{setting}: {r}");
        // Bare CR or LF in a command line is no command either.
        let r = s.cmd("NOOP\rMAIL FROM:<c@example.org>");
        assert!(r.starts_with("500 5.5.2 "), "{r}");
        assert!(s.cmd("QUIT").starts_with("221"));
        drop(s);
        std::thread::sleep(Duration::from_millis(200));
        let got = hop.got();
        assert_eq!(
            bare_line_ends(&got),
            Vec::<usize>::new(),
            "{setting}: {}",
            String::from_utf8_lossy(&got).escape_debug()
        );
        if want == "250 " {
            let text = String::from_utf8_lossy(&got);
            assert!(
                text.contains("first\r\n..\r\nMAIL FROM:<evil@x>\r\n"),
                "{text}"
            );
            assert!(text.contains("second\r\nlone LF\r\n.\r\n"), "{text}");
        } else {
            assert!(!String::from_utf8_lossy(&got).contains("DATA"));
        }
    }
}

/// Idle clients cost the next hop nothing (a next-hop session is opened
/// when a transaction needs one), at most `max_connections` are served
/// (more get 421 4.3.2 at once), and a client that sends a byte at a
/// time is cut off after `timeout` (a command) or below
/// `min_data_rate` (DATA).
#[test]
fn idle_slow_and_too_many_clients() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let hop = Scripted::start(&["PIPELINING", "SIZE 1000000"]);
    let _p = Proxy::with(
        "",
        &format!(
            "listen_port = 2542\nserver_port = {}\nmax_connections = 40\n\
             timeout = \"3s\"\nmin_data_rate = 500\n",
            hop.port
        ),
    );
    let mut idle: Vec<Raw> = (0..40).map(|_| Raw::open()).collect();
    for s in &mut idle {
        assert!(s.cmd("EHLO idle.example").contains("SIZE 1000000"));
    }
    let opened = hop.sessions.load(std::sync::atomic::Ordering::SeqCst);
    assert!(opened <= 1, "{opened} next-hop sessions for 40 idle clients");
    // The 41st.
    let mut s = std::net::TcpStream::connect("127.0.0.1:2542").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut greeting = String::new();
    std::io::Read::read_to_string(&mut s, &mut greeting).unwrap();
    assert!(greeting.starts_with("421 4.3.2 "), "{greeting:?}");
    // A transaction opens a next-hop session.
    assert!(idle[0].cmd("MAIL FROM:<a@example.org>").starts_with("250"));
    assert!(idle[0].cmd("RCPT TO:<b@example.org>").starts_with("250"));
    assert!(idle[0].cmd("DATA").starts_with("354"));
    assert!(idle[0].cmd("Subject: x\r\n\r\nhello\r\n.").starts_with("250"));
    assert!(String::from_utf8_lossy(&hop.got()).contains("hello\r\n"));
    drop(idle);

    // One byte every 300 ms: a command is cut off after 3 s, DATA once
    // it is below 500 bytes/s (after 3 s); never after the 20 s the
    // client would go on for.
    for data in [false, true] {
        let mut s = Raw::open();
        assert!(s.cmd("EHLO slow.example").starts_with("250"));
        if data {
            assert!(s.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
            assert!(s.cmd("RCPT TO:<b@example.org>").starts_with("250"));
            assert!(s.cmd("DATA").starts_with("354"));
        }
        let t0 = Instant::now();
        let mut cut = false;
        while t0.elapsed() < Duration::from_secs(20) {
            if s.w.write_all(b"x").is_err() {
                cut = true;
                break;
            }
            s.w.set_nonblocking(true).unwrap();
            let mut b = [0u8; 256];
            let r = std::io::Read::read(&mut s.w, &mut b);
            s.w.set_nonblocking(false).unwrap();
            match r {
                Ok(0) => {
                    cut = true;
                    break;
                }
                Ok(n) => {
                    let t = String::from_utf8_lossy(&b[..n]).to_string();
                    assert!(t.starts_with("421 4.4.2 "), "{t}");
                    cut = true;
                    break;
                }
                Err(_) => {}
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        assert!(
            cut,
            "a client trickling bytes was served for 20 s (data: {data})"
        );
        assert!(t0.elapsed() >= Duration::from_secs(2), "cut off too early");
    }
}

/// XFORWARD only from `xforward_hosts`, and passed on only to a next hop
/// that offers it.
#[test]
fn xforward_only_from_authorized_hosts_to_a_next_hop_that_offers_it() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let line = "XFORWARD NAME=spoofed.example ADDR=192.0.2.66";
    for (hosts, offered, taken, passed) in [
        ("", false, true, false),
        ("xforward_hosts = [\"192.0.2.0/24\"]\n", true, false, false),
        ("", true, true, true),
    ] {
        let hop = Scripted::start(if offered {
            &["XFORWARD NAME ADDR"]
        } else {
            &[]
        });
        let _p = Proxy::with(
            "",
            &format!(
                "listen_port = 2542\nserver_port = {}\n{hosts}",
                hop.port
            ),
        );
        let mut s = Raw::open();
        let ehlo = s.cmd("EHLO client.example");
        assert_eq!(
            ehlo.contains("XFORWARD"),
            taken && offered,
            "{hosts}: {ehlo}"
        );
        let r = s.cmd(line);
        if taken {
            assert!(r.starts_with("250"), "{hosts}: {r}");
        } else {
            assert!(r.starts_with("550 5.7.0 "), "{hosts}: {r}");
        }
        assert!(s.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
        assert!(s.cmd("QUIT").starts_with("221"));
        drop(s);
        std::thread::sleep(Duration::from_millis(200));
        let got = String::from_utf8_lossy(&hop.got()).to_string();
        assert_eq!(
            got.contains("XFORWARD"),
            passed,
            "{hosts}, offered {offered}: {got}"
        );
    }
}

/// A service in the foreground, its output to a file, writes each line
/// after its time (RFC 3339, UTC), as a log file needs.
#[test]
fn foreground_log_lines_carry_their_time() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let p = Proxy::start("");
    let log = p.log();
    let line = log.lines().find(|l| l.contains("listening on")).unwrap();
    let (stamp, rest) = line.split_once(' ').unwrap();
    assert!(rest.starts_with("nod32smtp: info: listening on"), "{line}");
    let b = stamp.as_bytes();
    let shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    assert_eq!(b.len(), shape.len(), "{line}");
    for (c, s) in b.iter().zip(shape.bytes()) {
        assert!(
            if s == b'd' { c.is_ascii_digit() } else { *c == s },
            "{line}"
        );
    }
    let year: u32 = stamp[..4].parse().unwrap();
    assert!(year >= 2026, "{line}");
}

/// The review of the lazily opened next hop: a HELO client's message
/// never goes in clear when TLS to the next hop is required; a next
/// hop that refuses a new session or is down gets the client 421, never
/// its 5xx (which would bounce the message), and is seen at the next
/// EHLO; a client's leading white space cannot make a HELO reply the
/// EHLO that later clients are offered.
#[test]
fn helo_clients_and_refusing_or_vanishing_next_hops() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    // HELO with server_tls = "encrypt" and a next hop without STARTTLS.
    let hop = Scripted::start(&["SIZE 1000000"]);
    {
        let _p = Proxy::with(
            "",
            &format!(
                "listen_port = 2542\nserver_port = {}\nserver_tls = \"encrypt\"\n",
                hop.port
            ),
        );
        let mut s = Raw::open();
        assert!(s.cmd("HELO client.example").starts_with("250"));
        let r = s.cmd("MAIL FROM:<a@example.org>");
        assert!(r.starts_with("421 4.7.4 "), "{r}");
        assert!(!String::from_utf8_lossy(&hop.got()).contains("MAIL FROM"));
    }
    // " HELO x" and the offer to the next client.
    {
        let _p = Proxy::with(
            "",
            &format!("listen_port = 2542\nserver_port = {}\n", hop.port),
        );
        let mut s = Raw::open();
        assert!(s.cmd(" HELO spaced.example").starts_with("250"));
        assert!(s.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
        assert!(s.cmd("QUIT").starts_with("221"));
        let mut t = Raw::open();
        let ehlo = t.cmd("EHLO next.example");
        assert!(ehlo.contains("SIZE 1000000"), "{ehlo}");
    }
    // smtp-sink refusing EHLO (5xx), before and after its offer is known.
    let _p = Proxy::with("", "listen_port = 2542\nserver_port = 2597\n");
    {
        let _s = sink(&["-f", "EHLO"]);
        let mut s = Raw::open();
        let r = s.cmd("EHLO client.example");
        assert!(r.starts_with("421 4.3.0 "), "{r}");
    }
    {
        let _s = sink(&[]);
        let mut s = Raw::open();
        assert!(s.cmd("EHLO client.example").starts_with("250"));
        assert!(s.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
        assert!(s.cmd("QUIT").starts_with("221"));
    }
    {
        let _s = sink(&["-f", "EHLO"]);
        let mut s = Raw::open();
        assert!(s.cmd("EHLO client.example").starts_with("250"));
        let r = s.cmd("MAIL FROM:<a@example.org>");
        assert!(r.starts_with("421 4.3.0 "), "{r}");
    }
    // Down: the client that finds it so gets 421 at MAIL, the next one
    // at EHLO (as a health check does).
    {
        let _s = sink(&[]);
        let mut s = Raw::open();
        assert!(s.cmd("EHLO client.example").starts_with("250"));
    }
    let mut s = Raw::open();
    assert!(s.cmd("EHLO client.example").starts_with("250"));
    let r = s.cmd("MAIL FROM:<a@example.org>");
    assert!(r.starts_with("421 4.3.0 "), "{r}");
    let mut s = Raw::open();
    let r = s.cmd("EHLO client.example");
    assert!(r.starts_with("421 4.3.0 "), "{r}");
}

/// A SIGHUP, or a module replaced by nod32upd, is taken and logged at
/// once, with the module it now scans with, not at the next connection.
#[test]
fn reloads_are_logged_at_once() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let p = Proxy::start("");
    let wait = |what: &str, n: usize| {
        let t0 = Instant::now();
        while p.log().matches(what).count() < n {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "no {what:?} logged: {}",
                p.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    run(Command::new("kill").args(["-HUP", &p.child.id().to_string()]));
    wait("reloaded ", 1);
    // nod32upd's way: a new file renamed over the module.
    let cfg =
        std::fs::read_to_string(p.dir.path().join("nod32.toml")).unwrap();
    let module = cfg
        .lines()
        .find_map(|l| l.strip_prefix("module = \""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap()
        .to_string();
    let tmp = format!("{module}.new");
    std::fs::copy(&module, &tmp).unwrap();
    std::fs::rename(&tmp, &module).unwrap();
    wait("the loading module was replaced", 1);
    wait("reloaded ", 2);
    // Each line says what it scans with now.
    assert!(p.log().contains("logical signatures)"), "{}", p.log());
}

/// Without systemd: packaging/sysvinit's script starts nod32smtp in the
/// background with its pid file (start-stop-daemon, --daemon), says it
/// runs, reloads it and stops it; the pid file goes with it.
#[test]
fn sysvinit_script_starts_reloads_and_stops() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    postfix();
    let (dir, module) = nod32_tests::module_dir();
    let cfg = dir.path().join("nod32.toml");
    std::fs::write(
        &cfg,
        format!(
            "[global]\nmodule = \"{}\"\nuser = \"nobody\"\ngroup = \"nogroup\"\n\
             [smtp]\nlisten_port = 2542\nserver_port = 2543\n",
            module.display()
        ),
    )
    .unwrap();
    let rundir = dir.path().join("run");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../packaging/sysvinit/nod32smtp");
    let init = |verb: &str| {
        run(Command::new(&script)
            .arg(verb)
            .env("DAEMON", bin("nod32smtp"))
            .env("CONFIG", &cfg)
            .env("RUNDIR", &rundir))
    };
    let pid_file = rundir.join("nod32smtp.pid");
    let out = init("start");
    assert!(out.status.success(), "{out:?}");
    let pid: i32 =
        std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    // Running, not a zombie waiting for an init that may not reap it.
    let alive = |pid: i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| !r.trim_start().starts_with('Z'))
        })
    };
    assert!(alive(pid));
    // Detached: its own session, not the test's.
    let sid =
        nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(pid))).unwrap();
    assert_eq!(sid.as_raw(), pid);
    assert!(Raw::open().cmd("QUIT").starts_with("221"));
    let status = init("status");
    assert!(
        status.status.success()
            && String::from_utf8_lossy(&status.stdout).contains("is running"),
        "{status:?}"
    );
    // Started again: one is enough.
    assert!(init("start").status.success());
    assert_eq!(
        std::fs::read_to_string(&pid_file).unwrap().trim(),
        pid.to_string()
    );
    assert!(init("reload").status.success());
    std::thread::sleep(Duration::from_millis(700));
    assert!(alive(pid));
    assert!(Raw::open().cmd("QUIT").starts_with("221"));
    let out = init("stop");
    assert!(out.status.success(), "{out:?}");
    assert!(!alive(pid));
    assert!(!pid_file.exists());
    assert!(!init("status").status.success());
}

/// `[smtp] agent_enabled = false`: mail passes through unscanned, as
/// NOD32 did, which the start and each message's line say.
#[test]
fn a_disabled_proxy_passes_mail_unscanned_and_says_so() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let hop = Scripted::start(&[]);
    let p = Proxy::with(
        "",
        &format!(
            "listen_port = 2542\nserver_port = {}\nagent_enabled = false\n",
            hop.port
        ),
    );
    assert!(
        p.log().contains(
            "[smtp] agent_enabled = false: mail passes through unscanned"
        ),
        "{}",
        p.log()
    );
    let mut s = Raw::open();
    assert!(s.cmd("EHLO client.example").starts_with("250"));
    assert!(s.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
    assert!(s.cmd("RCPT TO:<b@example.org>").starts_with("250"));
    assert!(s.cmd("DATA").starts_with("354"));
    s.send(&message(
        &token("off"),
        &format!(
            "Content-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\n\
             Content-Type: application/octet-stream; name=\"e.com\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--zz--\r\n",
            base64_lines(&eicar(), "\r\n")
        ),
    ));
    let r = s.cmd(".");
    assert!(r.starts_with("250"), "{r}");
    assert!(s.cmd("QUIT").starts_with("221"));
    assert!(
        p.log().contains("status=unscanned action=accept")
            && p.log().contains("reason=\"[smtp] agent_enabled = false\""),
        "{}",
        p.log()
    );
}

/// With a `user_config`, a transaction keeps to one policy: a recipient
/// whose policy differs from the first one's is told to come back (452
/// 4.5.3, "too many recipients") and is sent in a transaction of its
/// own. A virus addressed first to a white-listed recipient (scanning
/// off) and then to a protected one never reaches the protected one:
/// the first recipient's policy no longer decides for everyone.
#[test]
fn recipients_of_another_policy_come_in_their_own_transaction() {
    let _one = PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users.toml");
    std::fs::write(
        &users,
        "[white]\nav_enabled = false\n[\"vip@example.net\"]\nparent_id = \"white\"\n",
    )
    .unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    // The next hop pipelines, so that the proxy must take the replies
    // to MAIL and RCPT in before it can tell who is in.
    let hop = Scripted::start(&["PIPELINING"]);
    let _p = Proxy::with(
        "",
        &format!(
            "listen_port = 2542\nserver_port = {}\nuser_config = \"{}\"\n",
            hop.port,
            users.display()
        ),
    );
    // Sent as is: no line starts with a dot.
    let virus = message(
        &token("policies"),
        &format!(
            "Content-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\n\
             Content-Type: application/octet-stream; name=\"e.com\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--zz--\r\n",
            base64_lines(&eicar(), "\r\n")
        ),
    );
    let mut s = Raw::open();
    assert!(s.cmd("EHLO client.example").starts_with("250"));
    assert!(s.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
    assert!(s.cmd("RCPT TO:<vip@example.net>").starts_with("250"));
    let r = s.cmd("RCPT TO:<user@example.net>");
    assert!(r.starts_with("452 4.5.3 "), "{r}");
    // The same policy joins.
    assert!(s.cmd("RCPT TO:<VIP@example.net>").starts_with("250"));
    assert!(s.cmd("DATA").starts_with("354"));
    s.send(&virus);
    let r = s.cmd(".");
    assert!(r.starts_with("250"), "the white-listed take it unscanned: {r}");
    // The other recipient, alone: its own policy refuses the virus.
    assert!(s.cmd("MAIL FROM:<a@example.org>").starts_with("250"));
    assert!(s.cmd("RCPT TO:<user@example.net>").starts_with("250"));
    assert!(s.cmd("DATA").starts_with("354"));
    s.send(&virus);
    let r = s.cmd(".");
    assert!(r.starts_with("550 5.7.1 Virus found"), "{r}");
    assert!(s.cmd("QUIT").starts_with("221"));
    let got = String::from_utf8_lossy(&hop.got()).into_owned();
    // The next hop had the message once, for the white-listed only.
    assert_eq!(
        got.matches("Content-Type: multipart/mixed").count(),
        1,
        "{got}"
    );
    let first = got.split("DATA").next().unwrap_or_default();
    assert!(!first.contains("user@example.net"), "{got}");
}
