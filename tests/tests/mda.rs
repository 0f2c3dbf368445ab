//! nod32mda as Postfix's mailbox_command for the user `nod32mda`, in
//! front of the real procmail: mail sent by swaks to the local Postfix
//! on 127.0.0.1:2525 (set up by `cargo xtask test`), the Postfix log
//! read for each message's status.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nod32_tests::{
    base64_lines, bin, eicar, peer, postfix, run, token, wait_for_mail,
};

const SCRIPT: &str = "/var/lib/nod32-test/nod32mda.sh";

/// Sends `msg` with swaks and returns Postfix's queue id.
fn send(msg: &[u8]) -> String {
    let mut c = Command::new(peer("swaks", "swaks"))
        .args(["--server", "127.0.0.1:2525", "--from", "nod32admin@localhost"])
        .args(["--to", "nod32mda@localhost", "--data", "-", "--hide-all"])
        .arg("--suppress-data")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(msg).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "swaks: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // --hide-all keeps nothing; ask the log instead by Message-ID.
    let id = msg_id(msg);
    let t0 = Instant::now();
    loop {
        let log = std::fs::read_to_string("/var/log/postfix.log")
            .unwrap_or_default();
        if let Some(l) =
            log.lines().find(|l| l.contains(&format!("message-id=<{id}>")))
        {
            // "... postfix/cleanup[N]: QUEUEID: message-id=<...>"
            let q = l.split(": ").nth(1).unwrap();
            return q.to_string();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "Postfix never took <{id}>"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn msg_id(msg: &[u8]) -> String {
    let s = String::from_utf8_lossy(msg);
    let l = s.lines().find(|l| l.starts_with("Message-ID: <")).unwrap();
    l["Message-ID: <".len()..l.len() - 1].to_string()
}

/// Waits for the delivery status of `queue_id` to `nod32mda` and returns
/// the log line.
fn status_line(queue_id: &str) -> String {
    let t0 = Instant::now();
    loop {
        let log = std::fs::read_to_string("/var/log/postfix.log")
            .unwrap_or_default();
        if let Some(l) = log.lines().find(|l| {
            l.contains(&format!("{queue_id}: to=<nod32mda@localhost>"))
                && l.contains(" status=")
        }) {
            return l.to_string();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no delivery status for {queue_id} in /var/log/postfix.log"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn message(tag: &str, body: &str) -> Vec<u8> {
    format!(
        "From: nod32admin@localhost\r\nTo: nod32mda@localhost\r\n\
         Subject: mda {tag}\r\nMessage-ID: <{tag}@example.org>\r\n\
         Date: Sat, 28 Nov 2026 20:00:00 +0000\r\nMIME-Version: 1.0\r\n{body}"
    )
    .into_bytes()
}

fn with_attachment(tag: &str, name: &str, data: &[u8]) -> Vec<u8> {
    message(
        tag,
        &format!(
            "Content-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\n\
             Content-Type: text/plain\r\n\r\nHello.\r\n--zz\r\n\
             Content-Type: application/octet-stream; name=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--zz--\r\n",
            base64_lines(data, "\r\n")
        ),
    )
}

fn write_script(nod32mda: &Path, cfg: &Path) {
    let tmp = format!("{SCRIPT}.{}", std::process::id());
    std::fs::write(
        &tmp,
        format!(
            "#!/bin/sh\nexec {} -f \"$SENDER\" DEFAULT=$HOME/Maildir/ -- -c {}\n",
            nod32mda.display(),
            cfg.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
        .unwrap();
    std::fs::rename(&tmp, SCRIPT).unwrap();
}

fn zip_of(dir: &Path, name: &str, data: &[u8]) -> Vec<u8> {
    std::fs::write(dir.join(name), data).unwrap();
    let out = run(Command::new(peer("zip", "zip")).current_dir(dir).args([
        "-q",
        "eicar.zip",
        name,
    ]));
    assert!(out.status.success());
    std::fs::read(dir.join("eicar.zip")).unwrap()
}

#[test]
fn postfix_mailbox_command_through_nod32mda_to_procmail() {
    postfix();
    peer("procmail", "procmail");
    let d = tempfile::tempdir().unwrap();
    // nod32mda runs as the recipient: it must read these.
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755))
        .unwrap();
    let module = d.path().join("nod32.000");
    let sigs = nod32_engine::builtin_signatures();
    std::fs::write(&module, nod32_engine::compile(&sigs).0).unwrap();
    let cfg = d.path().join("nod32.toml");
    let write_cfg = |infected: &str| {
        std::fs::write(
            &cfg,
            format!(
                "[global]\nmodule = \"{}\"\nwrite_to_header = true\n\
                 template_dir = \"{}\"\n\
                 [mda]\nmda_path = \"/usr/bin/procmail\"\naction_on_infected = \"{infected}\"\n",
                module.display(),
                d.path().display()
            ),
        )
        .unwrap();
    };
    write_cfg("reject");
    write_script(&bin("nod32mda"), &cfg);

    // Clean mail: delivered, byte for byte after Postfix's trace fields.
    let tag = token("clean");
    let clean = with_attachment(&tag, "notes.txt", b"nothing to see here\n");
    let q = send(&clean);
    let line = status_line(&q);
    assert!(line.contains("status=sent (delivered to command: "), "{line}");
    let got = wait_for_mail("nod32mda", &format!("<{tag}@example.org>"));
    let lf: Vec<u8> = clean.iter().copied().filter(|&b| b != b'\r').collect();
    // procmail ends a message with a blank line, as in an mbox.
    let trim = |b: &[u8]| {
        let n = b.iter().rposition(|&c| c != b'\n').map_or(0, |i| i + 1);
        b[..n].to_vec()
    };
    assert!(
        trim(&got).ends_with(&trim(&lf)),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert!(!String::from_utf8_lossy(&got).contains("X-NOD32Result"));

    // EICAR in a base64 attachment: bounced with the virus's name.
    let tag = token("eicar");
    let q = send(&with_attachment(&tag, "eicar.com", &eicar()));
    let line = status_line(&q);
    assert!(
        line.contains("status=bounced")
            && line.contains("5.7.1 Virus found: Eicar-Test-Signature"),
        "{line}"
    );

    // EICAR inside a zip made by zip(1), with action_on_infected = defer:
    // deferred, still in the queue.
    write_cfg("defer");
    let tag = token("zip");
    let q = send(&with_attachment(
        &tag,
        "eicar.zip",
        &zip_of(d.path(), "eicar.com", &eicar()),
    ));
    let line = status_line(&q);
    assert!(
        line.contains("status=deferred")
            && line.contains("4.7.1 Virus found: Eicar-Test-Signature"),
        "{line}"
    );
    let queue = run(Command::new("postqueue").arg("-j"));
    assert!(
        String::from_utf8_lossy(&queue.stdout)
            .contains(&format!("\"queue_id\": \"{q}\""))
    );
    run(Command::new("postsuper").args(["-d", &q]));

    // Neither infected message reached the mailbox.
    for dir in ["new", "cur"] {
        for e in std::fs::read_dir(format!("/home/nod32mda/Maildir/{dir}"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let m = std::fs::read(e.path()).unwrap();
            let s = String::from_utf8_lossy(&m);
            assert!(
                !s.contains("name=\"eicar."),
                "infected mail delivered: {}",
                e.path().display()
            );
        }
    }
}
