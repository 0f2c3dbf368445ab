//! The shared agent layer against real peers: notifications and
//! quarantine releases delivered by the local Postfix, the quarantine
//! commands of nod32cli. What a hostile quarantine entry or envelope
//! could make nod32cli and nod32mda print or hand to sendmail is seen
//! through a sendmail that records its arguments and input.

use std::path::Path;
use std::process::Command;

use nod32_agent::{Envelope, State, Which, handle};
use nod32_tests::{bin, eicar, postfix, run, token, wait_for_mail};

fn infected_mail(tag: &str) -> Vec<u8> {
    let mut m = format!(
        "From: bob@example.org\r\nTo: nod32user@localhost\r\n\
         Subject: invoice {tag}\r\nMessage-ID: <{tag}@example.org>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain\r\n\r\nSee attached.\r\n--b\r\n\
         Content-Type: application/octet-stream; name=\"inv.com\"\r\n\
         Content-Disposition: attachment; filename=\"inv.com\"\r\n\r\n"
    )
    .into_bytes();
    m.extend_from_slice(&eicar());
    m.extend_from_slice(b"\r\n--b--\r\n");
    m
}

fn config(dir: &Path, sendmail: &Path, extra: &str) -> std::path::PathBuf {
    let p = dir.join("nod32.toml");
    let sigs = nod32_engine::builtin_signatures();
    std::fs::write(dir.join("nod32.000"), nod32_engine::compile(&sigs).0)
        .unwrap();
    std::fs::write(
        &p,
        format!(
            "[global]\nmodule = \"{}\"\nquarantine_dir = \"{}\"\n\
             template_dir = \"{}\"\nsendmail_path = \"{}\"\n{extra}",
            dir.join("nod32.000").display(),
            dir.join("quarantine").display(),
            dir.join("templates").display(),
            sendmail.display()
        ),
    )
    .unwrap();
    p
}

#[test]
fn notifications_are_delivered_by_postfix() {
    let sendmail = postfix();
    let d = tempfile::tempdir().unwrap();
    let cfg = config(
        d.path(),
        &sendmail,
        "notify_admin = \"nod32admin@localhost\"\nnotify_recipients = true\n\
         notify_sender = true\nnotify_from = \"nod32-notices\"\n",
    );
    let st = State::load(&cfg, Which::Smtp, true).unwrap();
    let tag = token("N");
    let env = Envelope {
        // Fails the default sender check: no notice may go to it.
        sender: "bob@localhost".into(),
        recipients: vec!["nod32user@localhost".into()],
        queue_id: tag.clone(),
        ..Envelope::default()
    };
    let out = handle(&st, st.policy(), &infected_mail(&tag), &env);
    assert_eq!(out.decision.action, nod32_config::Action::Reject);

    let admin = wait_for_mail("nod32admin", &tag);
    let m = mailparse::parse_mail(&admin).unwrap();
    let h = |n: &str| {
        m.headers
            .iter()
            .find(|h| h.get_key().eq_ignore_ascii_case(n))
            .map(|h| h.get_value())
    };
    assert_eq!(
        h("Subject").as_deref(),
        Some("[NOD32] Eicar-Test-Signature found in mail from bob@localhost")
    );
    assert_eq!(h("Auto-Submitted").as_deref(), Some("auto-generated"));
    let from = format!("nod32-notices@{}", st.host);
    assert_eq!(
        h("Return-Path").as_deref(),
        Some(format!("<{from}>").as_str())
    );
    let body = m.get_body().unwrap();
    for line in [
        "  Virus:       Eicar-Test-Signature".to_string(),
        "  Action:      reject".into(),
        "  Status:      infected".into(),
        "  Recipients:  nod32user@localhost".into(),
        format!("  Subject:     invoice {tag}"),
        format!("  Queue ID:    {tag}"),
        "  Attachment:  part 2 \"inv.com\"".into(),
    ] {
        assert!(body.contains(&line), "{line:?} not in:\n{body}");
    }

    let rcpt = wait_for_mail("nod32user", &format!("invoice {tag}"));
    let m = mailparse::parse_mail(&rcpt).unwrap();
    assert!(
        m.get_body().unwrap().contains("A message to you contained a virus.")
    );
}

#[test]
fn quarantine_list_show_release_delete() {
    let sendmail = postfix();
    let d = tempfile::tempdir().unwrap();
    let cfg = config(
        d.path(),
        &sendmail,
        "action_on_infected = \"discard+quarantine\"\n",
    );
    let st = State::load(&cfg, Which::Smtp, true).unwrap();
    let tag = token("Q");
    let env = Envelope {
        sender: "bob@example.org".into(),
        recipients: vec!["nod32user@localhost".into()],
        queue_id: String::new(),
        ..Envelope::default()
    };
    let raw = infected_mail(&tag);
    let first = handle(&st, st.policy(), &raw, &env).quarantine_id.unwrap();
    let second = handle(&st, st.policy(), &raw, &env).quarantine_id.unwrap();

    let cli = |args: &[&str]| {
        run(Command::new(bin("nod32cli"))
            .arg("quarantine")
            .arg("-c")
            .arg(&cfg)
            .args(args))
    };
    let list = cli(&["list"]);
    assert!(list.status.success());
    let text = String::from_utf8_lossy(&list.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for (line, id) in lines.iter().zip([&first, &second]) {
        assert!(line.starts_with(id.as_str()), "{line}");
        assert!(
            line.ends_with("infected  Eicar-Test-Signature  <bob@example.org>  nod32user@localhost"),
            "{line}"
        );
    }
    let json = cli(&["list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v[0]["message_id"], format!("<{tag}@example.org>"));
    assert_eq!(v[0]["action"], "discard");

    let show = cli(&["show", &first]);
    assert!(show.status.success());
    let shown = show.stdout;
    let sep = shown.windows(2).position(|w| w == b"\n\n").unwrap();
    let head = String::from_utf8_lossy(&shown[..sep]);
    assert!(head.contains("Virus: Eicar-Test-Signature"), "{head}");
    assert!(head.contains(&format!("Subject: invoice {tag}")), "{head}");
    assert_eq!(&shown[sep + 2..], &raw[..]);

    let rel = cli(&["release", &first]);
    assert!(rel.status.success(), "{}", String::from_utf8_lossy(&rel.stderr));
    let delivered =
        wait_for_mail("nod32user", &format!("<{tag}@example.org>"));
    // The original, as it was, with the virus: that is what release
    // means. (Postfix adds its trace fields and a Date, and stores LF.)
    let lf = |b: &[u8]| -> String {
        String::from_utf8_lossy(b).replace("\r\n", "\n")
    };
    let (raw_head, raw_body) = lf(&raw)
        .split_once("\n\n")
        .map(|(h, b)| (h.to_string(), b.to_string()))
        .unwrap();
    let got = lf(&delivered);
    let (got_head, got_body) = got.split_once("\n\n").unwrap();
    assert_eq!(got_body, raw_body);
    for line in raw_head.lines() {
        assert!(
            got_head.lines().any(|l| l == line),
            "{line} missing in\n{got_head}"
        );
    }
    assert_eq!(
        cli(&["list"]).stdout.iter().filter(|&&b| b == b'\n').count(),
        1
    );

    let del = cli(&["delete", &second]);
    assert!(del.status.success());
    let after = cli(&["list"]);
    assert!(
        after.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&after.stdout)
    );

    let bad = cli(&["show", "../../etc/passwd"]);
    assert_eq!(bad.status.code(), Some(10));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr).trim(),
        "nod32cli: no message '../../etc/passwd' in quarantine"
    );
}

#[test]
fn services_drop_to_the_configured_user() {
    assert!(
        run(Command::new("id").arg("-u")).stdout.starts_with(b"0\n"),
        "this test checks the drop from root: run it as root (CI does)"
    );
    let out =
        run(Command::new(bin("nod32-test-drop")).args(["nobody", "nogroup"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = |name: &str| {
        String::from_utf8_lossy(
            &run(Command::new("getent").args([
                name,
                if name == "passwd" { "nobody" } else { "nogroup" },
            ]))
            .stdout,
        )
        .split(':')
        .nth(2)
        .unwrap()
        .to_string()
    };
    let (uid, gid) = (id("passwd"), id("group"));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "Uid: {uid} {uid} {uid} {uid}\nGid: {gid} {gid} {gid} {gid}\nGroups: {gid}\nshadow: permission denied\n"
        )
    );
    let bad = run(Command::new(bin("nod32-test-drop"))
        .args(["nod32-no-such-user", "nogroup"]));
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr),
        "nod32-test-drop: user nod32-no-such-user does not exist (set [global].user)\n"
    );
}

/// A sendmail that keeps what it was given: each call's arguments
/// (NUL-separated) and standard input, so a test can see exactly what
/// would have been mailed and to whom, without an MTA.
struct Recorder {
    dir: std::path::PathBuf,
    program: std::path::PathBuf,
}

impl Recorder {
    fn new(parent: &Path) -> Recorder {
        use std::os::unix::fs::PermissionsExt;
        let dir = parent.join("sent");
        std::fs::create_dir(&dir).unwrap();
        let program = parent.join("sendmail");
        std::fs::write(
            &program,
            format!(
                "#!/bin/sh\nf=$(mktemp {0}/call.XXXXXX)\n\
                 printf '%s\\0' \"$@\" > \"$f.args\"\ncat > \"$f.msg\"\n",
                dir.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(
            &program,
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        Recorder { dir, program }
    }

    /// Each call: its arguments and the message it read.
    fn calls(&self) -> Vec<(Vec<Vec<u8>>, Vec<u8>)> {
        let mut names: Vec<_> = std::fs::read_dir(&self.dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "args"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|a| {
                let args = std::fs::read(&a).unwrap();
                let args = args
                    .split(|&b| b == 0)
                    .filter(|s| !s.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect();
                (args, std::fs::read(a.with_extension("msg")).unwrap())
            })
            .collect()
    }
}

/// Runs `cmd`, killing it after `secs`; `None` when it had to be killed.
fn run_for(cmd: &mut Command, secs: u64) -> Option<std::process::Output> {
    use std::process::Stdio;
    let mut c = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let t0 = std::time::Instant::now();
    while c.try_wait().unwrap().is_none() {
        if t0.elapsed() > std::time::Duration::from_secs(secs) {
            let _ = c.kill();
            let _ = c.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Some(c.wait_with_output().unwrap())
}

/// `nod32cli quarantine` runs as root over a directory the service
/// account writes: an entry that account planted (a link to a file it
/// cannot read, a FIFO, a file of some other user) is refused by show,
/// release and delete, and nothing of the target is printed, mailed or
/// removed.
#[test]
fn quarantine_commands_refuse_planted_entries() {
    use nod32_agent::quarantine::{Meta, Quarantine};
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let rec = Recorder::new(d.path());
    let cfg = config(d.path(), &rec.program, "user = \"nobody\"\n");
    let secret = d.path().join("shadow");
    let words = "root:$y$j9T$not-for-the-service-account:19000:0:99999:7:::\n";
    std::fs::write(&secret, words).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600))
        .unwrap();
    let qdir = d.path().join("quarantine");
    let q = Quarantine::new(&qdir);
    let meta = Meta {
        sender: "bob@example.org".into(),
        recipients: vec!["alice@example.net".into()],
        status: "infected".into(),
        virus: "Eicar-Test-Signature".into(),
        ..Meta::default()
    };
    let raw = b"From: bob@example.org\nSubject: held\n\nheld message\n";
    let cli = |args: &[&str]| {
        run_for(
            Command::new(bin("nod32cli"))
                .arg("quarantine")
                .arg("-c")
                .arg(&cfg)
                .args(args),
            20,
        )
    };
    let cases: [(&str, &str, &str); 5] = [
        ("eml", "a symbolic link", "symbolic link"),
        ("eml", "a hard link", "2 links"),
        ("eml", "a FIFO", "not a regular file"),
        ("eml", "a file of another user", "owned by uid 4242"),
        ("json", "a symbolic link", "symbolic link"),
    ];
    for (which, plant, says) in cases {
        let id = q.store(raw, &meta).unwrap();
        let entry = qdir.join(format!("{id}.{which}"));
        std::fs::remove_file(&entry).unwrap();
        match plant {
            "a symbolic link" => {
                std::os::unix::fs::symlink(&secret, &entry).unwrap()
            }
            "a hard link" => std::fs::hard_link(&secret, &entry).unwrap(),
            "a FIFO" => nix::unistd::mkfifo(
                &entry,
                nix::sys::stat::Mode::from_bits_truncate(0o600),
            )
            .unwrap(),
            _ => {
                std::fs::write(&entry, words).unwrap();
                nix::unistd::chown(
                    &entry,
                    Some(nix::unistd::Uid::from_raw(4242)),
                    None,
                )
                .unwrap();
            }
        }
        for op in ["show", "release", "delete"] {
            let what = format!("quarantine {op} of {id}.{which} as {plant}");
            let out = cli(&[op, &id])
                .unwrap_or_else(|| panic!("{what}: hung (killed after 20 s)"));
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                !stdout.contains("not-for-the-service-account"),
                "{what}: printed the target:\n{stdout}"
            );
            assert!(
                rec.calls().is_empty(),
                "{what}: mailed {:?}",
                rec.calls()
            );
            assert_eq!(
                out.status.code(),
                Some(10),
                "{what}: not refused:\n{stdout}{stderr}"
            );
            assert!(
                stderr.starts_with("nod32cli: ")
                    && stderr.contains(&format!("{id}.{which}"))
                    && stderr.contains(says),
                "{what}: the error does not say why ({says}):\n{stderr}"
            );
            assert_eq!(std::fs::read_to_string(&secret).unwrap(), words);
            assert!(
                std::fs::symlink_metadata(&entry).is_ok(),
                "{what}: the planted entry was removed"
            );
        }
        for x in ["eml", "json"] {
            std::fs::remove_file(qdir.join(format!("{id}.{x}"))).unwrap();
        }
    }

    // The service account's own files are its messages: shown,
    // released (the exact bytes, behind the release header), deleted.
    let id = q.store(raw, &meta).unwrap();
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    for x in ["eml", "json"] {
        nix::unistd::chown(
            &qdir.join(format!("{id}.{x}")),
            Some(nobody.uid),
            None,
        )
        .unwrap();
    }
    let show = cli(&["show", &id]).unwrap();
    assert!(
        show.status.success(),
        "{}",
        String::from_utf8_lossy(&show.stderr)
    );
    assert!(show.stdout.ends_with(raw));
    let rel = cli(&["release", &id]).unwrap();
    assert!(rel.status.success(), "{}", String::from_utf8_lossy(&rel.stderr));
    let calls = rec.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].0,
        ["-i", "-f", "bob@example.org", "--", "alice@example.net"]
            .map(|a| a.as_bytes().to_vec())
    );
    // The stored bytes, behind the release's signed header.
    let sent = &calls[0].1;
    assert!(
        sent.starts_with(b"X-NOD32-Released: id=") && sent.ends_with(raw),
        "{}",
        String::from_utf8_lossy(sent)
    );
    assert!(std::fs::read_dir(&qdir).unwrap().next().is_none());
}

/// Bytes a terminal acts on: C0 controls but tab and line ends (LF, CR
/// LF), DEL, and C1 controls as UTF-8 (a CSI among them).
fn terminal_controls(out: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    for (i, &b) in out.iter().enumerate() {
        let c1 = b == 0xc2
            && out.get(i + 1).is_some_and(|n| (0x80..0xa0).contains(n));
        let crlf = b == b'\r' && out.get(i + 1) == Some(&b'\n');
        if (b < 0x20 && b != b'\n' && b != b'\t' && !crlf) || b == 0x7f || c1 {
            let from = i.saturating_sub(20);
            found
                .push(String::from_utf8_lossy(&out[from..i + 1]).into_owned());
        }
    }
    found
}

/// A Subject in RFC 2047 words, the envelope and the body can all carry
/// terminal escapes; what list and show print is visible text.
#[test]
fn quarantine_list_and_show_escape_control_characters() {
    let d = tempfile::tempdir().unwrap();
    let rec = Recorder::new(d.path());
    let cfg = config(
        d.path(),
        &rec.program,
        "action_on_infected = \"discard+quarantine\"\n",
    );
    let st = State::load(&cfg, Which::Smtp, true).unwrap();
    // ESC ] 0 ; title BEL sets the window title, ESC [ 2 J clears the
    // screen, U+009B is CSI to a terminal that reads C1.
    let mut raw = b"From: bob@example.org\r\nTo: alice@example.net\r\n\
        Subject: =?utf-8?q?invoice=1B]0;pwned=07=1B[2J=C2=9B31m?=\r\n\
        MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
        --b\r\nContent-Type: text/plain\r\n\r\n\x1b[8mhidden\x1b[0m over\rwritten \x9b\r\n\
        --b\r\nContent-Type: application/octet-stream\r\n\r\n"
        .to_vec();
    raw.extend_from_slice(&eicar());
    raw.extend_from_slice(b"\r\n--b--\r\n");
    let env = Envelope {
        sender: "bob\x1b[8m@example.org".into(),
        recipients: vec!["alice@example.net\x1b]0;x\x07".into()],
        ..Envelope::default()
    };
    let id = handle(&st, st.policy(), &raw, &env).quarantine_id.unwrap();
    let cli = |args: &[&str]| {
        let o = run(Command::new(bin("nod32cli"))
            .arg("quarantine")
            .arg("-c")
            .arg(&cfg)
            .args(args));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        o.stdout
    };

    let list = cli(&["list"]);
    assert_eq!(terminal_controls(&list), Vec::<String>::new(), "list");
    let text = String::from_utf8(list).unwrap();
    assert!(
        text.ends_with(
            "  <bob\\x1b[8m@example.org>  alice@example.net\\x1b]0;x\\x07\n"
        ),
        "{text}"
    );

    let json = cli(&["list", "--json"]);
    assert_eq!(terminal_controls(&json), Vec::<String>::new(), "list --json");
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v[0]["subject"], "invoice\x1b]0;pwned\x07\x1b[2J\u{9b}31m");

    let show = cli(&["show", &id]);
    assert_eq!(terminal_controls(&show), Vec::<String>::new(), "show");
    let text = String::from_utf8(show).unwrap();
    for line in [
        "Subject: invoice\\x1b]0;pwned\\x07\\x1b[2J\\u{9b}31m\n",
        "Sender: <bob\\x1b[8m@example.org>\n",
        "\\x1b[8mhidden\\x1b[0m over\\rwritten \\x9b\r\n",
        "Subject: =?utf-8?q?invoice=1B]0;pwned=07=1B[2J=C2=9B31m?=\r\n",
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }
    // The exact bytes, for a file or a pipe.
    assert_eq!(cli(&["show", "--raw", &id]), raw);
}

/// The envelope comes from the SMTP client: a MAIL FROM or RCPT TO
/// with CR, LF, ESC or a leading '-' reaches no notification header and
/// no sendmail command line. The notice to such an address is not sent
/// and a warning says why; the others go, and the message itself is
/// refused or delivered as the policy says. Through the real nod32mda,
/// whose warnings follow its status line when there is no syslog.
#[test]
fn hostile_envelope_addresses_reach_no_header_or_command_line() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let rec = Recorder::new(d.path());
    let deliver = d.path().join("deliver");
    std::fs::write(
        &deliver,
        format!("#!/bin/sh\ncat > {}/delivered\n", d.path().display()),
    )
    .unwrap();
    std::fs::set_permissions(&deliver, std::fs::Permissions::from_mode(0o755))
        .unwrap();
    let sender = "bob\x1b]0;pwned\x07@example.org";
    let injected = "alice@example.net\r\nBcc: victim@example.com";
    let option = "-oQ/tmp/evil@example.net";
    let tag = token("E");
    let mut raw = format!(
        "From: bob@example.org\nTo: alice@example.net\nSubject: {tag}\n\n"
    )
    .into_bytes();
    raw.extend_from_slice(&eicar());
    raw.push(b'\n');

    for action in ["reject", "accept"] {
        let cfg = config(
            d.path(),
            &rec.program,
            &format!(
                "notify_admin = \"nod32admin@localhost\"\nnotify_sender = true\n\
                 notify_recipients = true\naction_on_infected = \"{action}\"\n\
                 [mda]\nmda_path = \"{}\"\n",
                deliver.display()
            ),
        );
        for f in std::fs::read_dir(&rec.dir).unwrap() {
            std::fs::remove_file(f.unwrap().path()).unwrap();
        }
        let out = nod32_tests::run_with_input(
            Command::new(bin("nod32mda"))
                .env_remove("SENDER")
                .env_remove("RECIPIENT")
                .arg("--")
                .arg("-c")
                .arg(&cfg)
                .arg(format!("--sender={sender}"))
                .arg(format!("--recipient={injected}"))
                .arg(format!("--recipient={option}"))
                .arg("--recipient=carol@example.net"),
            &raw,
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let calls = rec.calls();
        for (args, msg) in &calls {
            let shown: Vec<String> = args
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            assert!(
                args.iter().all(|a| a.iter().all(|&b| b >= 0x20 && b != 0x7f)),
                "{action}: sendmail was given a control character: {shown:?}"
            );
            let after = args.iter().skip_while(|a| a.as_slice() != b"--");
            assert!(
                after.skip(1).all(|a| !a.starts_with(b"-")),
                "{action}: a recipient sendmail could read as an option: {shown:?}"
            );
            let end = memchr::memmem::find(msg, b"\n\n").unwrap();
            let head = &msg[..end];
            assert_eq!(
                terminal_controls(head),
                Vec::<String>::new(),
                "{action}: notification header:\n{}",
                String::from_utf8_lossy(head)
            );
            assert!(
                !head.windows(5).any(|w| w == b"\nBcc:"),
                "{action}: a header was injected:\n{}",
                String::from_utf8_lossy(head)
            );
        }
        let mut to: Vec<String> = calls
            .iter()
            .map(|(a, _)| String::from_utf8_lossy(a.last().unwrap()).into())
            .collect();
        to.sort();
        assert_eq!(
            to,
            ["carol@example.net", "nod32admin@localhost"],
            "{action}: notified"
        );
        if action == "reject" {
            assert_eq!(out.status.code(), Some(69), "{stdout}");
            for line in [
                "nod32mda: warning: not notifying sender <bob\\x1b]0;pwned\\x07@example.org>: a control character in the address",
                "nod32mda: warning: not notifying recipient <alice@example.net\\r\\nBcc: victim@example.com>: a control character in the address",
                "nod32mda: warning: not notifying recipient <-oQ/tmp/evil@example.net>: begins with '-', which sendmail would read as an option",
            ] {
                assert!(stdout.contains(line), "{line:?} not in:\n{stdout}");
            }
        } else {
            assert!(out.status.success(), "{stdout}");
            let got = std::fs::read(d.path().join("delivered")).unwrap();
            assert_eq!(got, raw, "the message was not delivered as it came");
        }
    }

    // A release passes the stored envelope to sendmail: refused, and the
    // message stays; --to with an option-like address likewise.
    let cfg = config(d.path(), &rec.program, "");
    let q =
        nod32_agent::quarantine::Quarantine::new(d.path().join("quarantine"));
    let store = |sender: &str| {
        let meta = nod32_agent::quarantine::Meta {
            sender: sender.into(),
            recipients: vec![injected.into()],
            ..Default::default()
        };
        q.store(&raw, &meta).unwrap()
    };
    let (bad_sender, good_sender) = (store(sender), store("bob@example.org"));
    for f in std::fs::read_dir(&rec.dir).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    for (id, extra, says) in [
        (
            &bad_sender,
            &[][..],
            "refusing sender <bob\\x1b]0;pwned\\x07@example.org>: a control character",
        ),
        (
            &good_sender,
            &[][..],
            "refusing recipient <alice@example.net\\r\\nBcc: victim@example.com>: a control character",
        ),
        (
            &good_sender,
            &["--to", "root@localhost", "--to=-oQ/tmp/q@localhost"][..],
            "refusing recipient <-oQ/tmp/q@localhost>: begins with '-'",
        ),
    ] {
        let out = run(Command::new(bin("nod32cli"))
            .args(["quarantine", "-c"])
            .arg(&cfg)
            .args(["release", id])
            .args(extra));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let calls: Vec<Vec<String>> = rec
            .calls()
            .iter()
            .map(|(a, _)| {
                a.iter().map(|a| String::from_utf8_lossy(a).into()).collect()
            })
            .collect();
        assert!(
            calls.is_empty(),
            "release {id} {extra:?} ran sendmail {calls:?}"
        );
        assert_eq!(out.status.code(), Some(10), "{stderr}");
        assert!(
            stderr.contains(says)
                && stderr.contains(&format!("{id} stays in quarantine")),
            "{stderr}"
        );
        assert_eq!(q.message(id).unwrap().1, raw);
    }
}
