//! amavisd-new with nothing but the stock `nod32cli` entry of its
//! `@av_scanners` (`packaging/amavis/15-av_scanners-nod32`): an infected
//! mail is rejected with its virus name, a clean one passes.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nod32_tests::{base64 as b64, bin, eicar, peer, run};

const ENTRY: &str =
    include_str!("../../packaging/amavis/15-av_scanners-nod32");

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        // SIGTERM lets amavisd stop its children too.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One SMTP transaction; returns the reply to the end of DATA.
fn submit(port: u16, msg: &str) -> String {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let mut reply = || -> String {
        let mut all = String::new();
        loop {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            all.push_str(&l);
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return all;
            }
        }
    };
    assert!(reply().starts_with("220"));
    for cmd in [
        "EHLO test.example.org",
        "MAIL FROM:<sender@example.org>",
        "RCPT TO:<rcpt@example.org>",
        "DATA",
    ] {
        write!(w, "{cmd}\r\n").unwrap();
        let rep = reply();
        assert!(rep.starts_with('2') || rep.starts_with('3'), "{cmd}: {rep}");
    }
    let body = msg.replace('\n', "\r\n");
    write!(w, "{body}\r\n.\r\n").unwrap();
    let rep = reply();
    write!(w, "QUIT\r\n").unwrap();
    rep
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn amavisd_uses_the_stock_nod32cli_entry() {
    let amavisd = peer("amavisd", "amavisd-new");
    let uid = run(Command::new("id").arg("-u"));
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "amavisd is started as root and drops to user amavis"
    );
    let home = tempfile::Builder::new()
        .prefix("nod32-amavis")
        .tempdir_in("/tmp")
        .unwrap();
    let h = home.path();
    for d in ["tmp", "db", "out", "bin"] {
        std::fs::create_dir_all(h.join(d)).unwrap();
    }
    // amavisd finds `nod32cli` through $path, as on an installed system.
    std::fs::copy(bin("nod32cli"), h.join("bin/nod32cli")).unwrap();
    let port = free_port();
    let conf = format!(
        r#"use strict;
$MYHOME = '{home}';
$TEMPBASE = "$MYHOME/tmp";
$db_home = "$MYHOME/db";
$pid_file = "$MYHOME/amavisd.pid";
$lock_file = "$MYHOME/amavisd.lock";
$daemon_user = 'amavis'; $daemon_group = 'amavis';
$mydomain = 'example.org'; $myhostname = 'mx.example.org';
$inet_socket_port = {port}; $inet_socket_bind = '127.0.0.1';
@inet_acl = qw(127.0.0.1);
$unix_socketname = undef;
$max_servers = 1;
$DO_SYSLOG = 0; $LOGFILE = "$MYHOME/amavis.log"; $log_level = 2;
@bypass_spam_checks_maps = (1); @bypass_banned_checks_maps = (1); @bypass_header_checks_maps = (1);
$enable_dkim_verification = 0; $enable_dkim_signing = 0;
$forward_method = "bsmtp:$MYHOME/out/out-%i-%n.bsmtp";
$notify_method = $forward_method;
$final_virus_destiny = D_REJECT;
$virus_admin = undef;
$path = "$MYHOME/bin:/usr/sbin:/usr/bin:/sbin:/bin";
$enable_db = 0; $enable_global_cache = 0;
@av_scanners_backup = ();
{ENTRY}
"#,
        home = h.display()
    );
    assert!(
        run(Command::new("chown").arg("-R").arg("amavis:amavis").arg(h))
            .status
            .success()
    );
    // amavisd insists that its configuration, and the directory holding
    // it, are out of its own user's reach.
    let etc = tempfile::tempdir().unwrap();
    let conf_file = etc.path().join("amavisd.conf");
    std::fs::write(&conf_file, conf).unwrap();
    // A daemon's environment, not the test runner's: amavisd runs under
    // Perl's taint checks.
    let child = Command::new(amavisd)
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .current_dir(h)
        .arg("-c")
        .arg(&conf_file)
        .arg("foreground")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(h.join("run.log")).unwrap())
        .spawn()
        .unwrap();
    let _daemon = Daemon(child);
    let t = Instant::now();
    // Ready when a connection gets the greeting (the listener exists
    // before the worker that answers it).
    let greets = || -> bool {
        let Ok(s) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let mut l = String::new();
        let ok = BufReader::new(&s).read_line(&mut l).is_ok()
            && l.starts_with("220");
        let _ = (&s).write_all(b"QUIT\r\n");
        ok
    };
    while !greets() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "amavisd did not start: {}",
            log(h)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let infected = format!(
        "From: sender@example.org\nTo: rcpt@example.org\nSubject: invoice\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=Q\n\n--Q\nContent-Type: text/plain\n\nPlease see the attachment.\n\
         --Q\nContent-Type: application/octet-stream; name=invoice.com\nContent-Transfer-Encoding: base64\n\n{}\n--Q--\n",
        b64(&eicar())
    );
    let rep = submit(port, &infected);
    assert!(
        rep.starts_with("554")
            && rep.contains("INFECTED: Eicar-Test-Signature"),
        "reply: {rep}\n{}",
        log(h)
    );
    assert!(
        log(h).contains("Blocked INFECTED (Eicar-Test-Signature)"),
        "{}",
        log(h)
    );

    let rep = submit(
        port,
        "From: sender@example.org\nTo: rcpt@example.org\nSubject: lunch\n\nNoon at the usual place?\n",
    );
    assert!(rep.starts_with("250"), "reply: {rep}\n{}", log(h));
    assert!(log(h).contains("Passed CLEAN"), "{}", log(h));
    let out: Vec<_> = std::fs::read_dir(h.join("out"))
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    assert_eq!(out.len(), 1, "exactly the clean mail was forwarded");
    let fwd = std::fs::read_to_string(out[0].path()).unwrap();
    assert!(
        fwd.contains("Subject: lunch")
            && fwd.contains("Noon at the usual place?")
    );
}

fn log(h: &Path) -> String {
    let read =
        |f: &str| std::fs::read_to_string(h.join(f)).unwrap_or_default();
    format!("{}{}", read("amavis.log"), read("run.log"))
}
