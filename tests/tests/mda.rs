//! nod32mda behind a real Postfix (set up by `cargo xtask test`): each
//! test owns a local user whose mailbox_command is
//! `/var/lib/nod32-test/USER.sh`, a script the test writes to exec
//! nod32mda its way. Mail goes in over SMTP on 127.0.0.1:2525 (swaks, or
//! our own client for bulk), and the Postfix log and the Maildir say what
//! became of each message.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nod32_tests::mutants::examples;
use nod32_tests::{
    Rng, base64_lines, bin, eicar, in_queue, mda_recipe, peer, postfix,
    postfix_last_statuses, postfix_statuses, run, smtp_send, status_of, token,
    wait_for_mail,
};

const SENDER: &str = "nod32admin@localhost";

/// One test's user, module and configuration.
struct Setup {
    user: &'static str,
    dir: tempfile::TempDir,
    module: PathBuf,
    cfg: PathBuf,
}

impl Setup {
    fn new(user: &'static str) -> Setup {
        postfix();
        // nod32mda runs as the recipient: it must read what is in here.
        let (dir, module) = nod32_tests::module_dir();
        // A fresh Maildir, so what is in it is this run's mail.
        let md = format!("/home/{user}/Maildir");
        let _ = std::fs::remove_dir_all(&md);
        let u =
            nix::unistd::User::from_name(user).unwrap().unwrap_or_else(|| {
                panic!("user {user} is missing: cargo xtask install-peers")
            });
        for d in ["", "/new", "/cur", "/tmp"] {
            let p = format!("{md}{d}");
            std::fs::create_dir(&p).unwrap();
            std::os::unix::fs::chown(
                &p,
                Some(u.uid.as_raw()),
                Some(u.gid.as_raw()),
            )
            .unwrap();
            std::fs::set_permissions(
                &p,
                std::fs::Permissions::from_mode(0o700),
            )
            .unwrap();
        }
        let cfg = dir.path().join("nod32.toml");
        Setup { user, dir, module, cfg }
    }

    /// Writes a file the user owns in its home (rc files must be).
    fn own_file(&self, name: &str, text: &str) {
        let path = format!("/home/{}/{name}", self.user);
        std::fs::write(&path, text).unwrap();
        let u = nix::unistd::User::from_name(self.user).unwrap().unwrap();
        std::os::unix::fs::chown(
            &path,
            Some(u.uid.as_raw()),
            Some(u.gid.as_raw()),
        )
        .unwrap();
        std::fs::set_permissions(
            &path,
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }

    fn rcpt(&self) -> String {
        format!("{}@localhost", self.user)
    }

    fn config(&self, mda_path: &str, extra: &str) {
        std::fs::write(
            &self.cfg,
            format!(
                "[global]\nmodule = \"{}\"\ntemplate_dir = \"{}\"\n\
                 [mda]\nmda_path = \"{mda_path}\"\n{extra}",
                self.module.display(),
                self.dir.path().display()
            ),
        )
        .unwrap();
    }

    /// Replaces the user's mailbox_command script.
    fn script(&self, body: &str) {
        let path = format!("/var/lib/nod32-test/{}.sh", self.user);
        let tmp = format!("{path}.{}", std::process::id());
        std::fs::write(&tmp, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::rename(&tmp, &path).unwrap();
    }

    /// Waits for the first delivery status of `queue_id`.
    fn first_status(&self, queue_id: &str) -> String {
        let t0 = Instant::now();
        loop {
            if let Some(l) =
                postfix_statuses(queue_id, &self.rcpt()).into_iter().next()
            {
                return l;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "no delivery status for {queue_id} in {}",
                nod32_tests::postfix_log().display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Flushes the queue until every message has a final status (sent or
    /// bounced) and returns the last status line of each.
    fn final_statuses(&self, ids: &[String]) -> Vec<String> {
        let t0 = Instant::now();
        let mut last_flush = Instant::now();
        loop {
            let last = postfix_last_statuses(ids, &self.rcpt());
            let done = last.iter().all(|l| {
                l.as_deref().is_some_and(|l| {
                    matches!(status_of(l), "sent" | "bounced")
                })
            });
            if done {
                return last.into_iter().map(Option::unwrap).collect();
            }
            assert!(
                t0.elapsed() < Duration::from_secs(240),
                "not every message reached a final status: {:?}",
                ids.iter()
                    .zip(&last)
                    .filter(|(_, l)| l.is_none()
                        || !matches!(
                            status_of(l.as_deref().unwrap()),
                            "sent" | "bounced"
                        ))
                    .collect::<Vec<_>>()
            );
            if last_flush.elapsed() > Duration::from_secs(5) {
                run(nod32_tests::postfix_cmd("postqueue").arg("-f"));
                last_flush = Instant::now();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Every message in the user's Maildir.
    fn mailbox(&self) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        for d in ["new", "cur"] {
            let dir = format!("/home/{}/Maildir/{d}", self.user);
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                v.push(std::fs::read(e.path()).unwrap());
            }
        }
        v
    }

    /// How many messages in the Maildir carry `token`.
    fn copies(&self, token: &str) -> usize {
        self.mailbox().iter().filter(|m| contains(m, token)).count()
    }
}

/// Whether Postfix took nod32mda's first output line as the status: the
/// enhanced code becomes `dsn=`, the text starts the parenthesis.
fn said(line: &str, dsn: &str, text: &str) -> bool {
    line.contains(&format!("dsn={dsn}, "))
        && line.contains(&format!("({text}"))
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn module_bytes() -> Vec<u8> {
    nod32_engine::compile(&nod32_engine::builtin_signatures()).0
}

/// Sends `msg` with swaks and returns Postfix's queue id.
fn swaks(to: &str, msg: &[u8]) -> String {
    let out = nod32_tests::swaks("127.0.0.1:2525", SENDER, to, msg, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "swaks: {text}");
    let l = text.lines().find(|l| l.contains(" queued as ")).unwrap();
    l.rsplit(' ').next().unwrap().to_string()
}

fn message(tag: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {SENDER}\r\nTo: someone@localhost\r\n\
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

fn zip_of(dir: &Path, name: &str, data: &[u8]) -> Vec<u8> {
    std::fs::write(dir.join(name), data).unwrap();
    let _ = std::fs::remove_file(dir.join("eicar.zip"));
    let out = run(Command::new(peer("zip", "zip")).current_dir(dir).args([
        "-q",
        "eicar.zip",
        name,
    ]));
    assert!(out.status.success());
    std::fs::read(dir.join("eicar.zip")).unwrap()
}

/// Clean mail arrives byte for byte after Postfix's trace fields, EICAR
/// in a base64 attachment bounces with its name, EICAR in a zip is
/// deferred (action_on_infected = defer) and stays queued.
fn clean_bounce_defer(s: &Setup, reconfigure: impl Fn(&str)) {
    reconfigure("reject");
    let rcpt = s.rcpt();
    let tag = token("clean");
    let clean = with_attachment(&tag, "notes.txt", b"nothing to see here\n");
    let q = swaks(&rcpt, &clean);
    let line = s.first_status(&q);
    assert!(line.contains("status=sent (delivered to command: "), "{line}");
    let got = wait_for_mail(s.user, &format!("<{tag}@example.org>"));
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
    assert!(!contains(&got, "X-NOD32Result"));

    let tag = token("eicar");
    let q = swaks(&rcpt, &with_attachment(&tag, "eicar.com", &eicar()));
    let line = s.first_status(&q);
    assert!(
        line.contains("status=bounced")
            && said(&line, "5.7.1", "Virus found: Eicar-Test-Signature"),
        "{line}"
    );
    assert_eq!(s.copies(&tag), 0);

    reconfigure("defer");
    let tag = token("zip");
    let zip = zip_of(s.dir.path(), "eicar.com", &eicar());
    let q = swaks(&rcpt, &with_attachment(&tag, "eicar.zip", &zip));
    let line = s.first_status(&q);
    assert!(
        line.contains("status=deferred")
            && said(&line, "4.7.1", "Virus found: Eicar-Test-Signature"),
        "{line}"
    );
    assert!(in_queue(&q), "{q} left the queue");
    run(nod32_tests::postfix_cmd("postsuper").args(["-d", &q]));
    assert_eq!(s.copies(&tag), 0);
}

#[test]
fn postfix_mailbox_command_through_nod32mda_to_procmail() {
    peer("procmail", "procmail");
    let s = Setup::new("nod32mda");
    // docs/GUIDE.md's mailbox_command, with this build's nod32mda and the
    // test's configuration; procmail's own rc file picks the Maildir.
    let line = mda_recipe("postfix");
    let line = line.trim().strip_prefix("mailbox_command = ").unwrap();
    s.own_file(".procmailrc", "DEFAULT=$HOME/Maildir/\n");
    s.script(&format!(
        "exec {} -- -c {}",
        line.replace(
            "/usr/bin/nod32mda",
            &bin("nod32mda").display().to_string()
        ),
        s.cfg.display()
    ));
    clean_bounce_defer(&s, |infected| {
        s.config(
            "/usr/bin/procmail",
            &format!("action_on_infected = \"{infected}\"\n"),
        )
    });
    // The evasion issue's examples: each bounces with the virus's name
    // (nod32mda's exit code for a refused message) instead of being
    // delivered as "not scanned".
    s.config("/usr/bin/procmail", "action_on_infected = \"reject\"\n");
    let tag = token("malformed");
    for (trick, msg) in examples(&tag, &eicar()) {
        let q = swaks(&s.rcpt(), &msg);
        let line = s.first_status(&q);
        assert!(
            line.contains("status=bounced")
                && said(&line, "5.7.1", "Virus found: Eicar-Test-Signature"),
            "{trick}: {line}"
        );
    }
    assert_eq!(s.copies(&tag), 0);
}

#[test]
fn postfix_mailbox_command_through_nod32mda_to_maildrop() {
    peer("maildrop", "maildrop");
    let s = Setup::new("nod32drop");
    // maildrop delivers to the Maildir its filter names.
    s.own_file(".mailfilter", "to \"$HOME/Maildir/\"\n");
    s.script(&format!(
        "exec {} -f \"$SENDER\" -- -c {} --recipient \"$RECIPIENT\"",
        bin("nod32mda").display(),
        s.cfg.display()
    ));
    clean_bounce_defer(&s, |infected| {
        s.config(
            "/usr/bin/maildrop",
            &format!("action_on_infected = \"{infected}\"\n"),
        )
    });
}

/// The manual's install: procmail renamed procmail.nod32 and nod32mda
/// linked in its place, the MTA unchanged (it still runs "procmail" with
/// procmail's arguments). mda_path points at something that would bounce
/// everything, to show the renamed agent is the one used.
#[test]
fn installed_in_procmails_place() {
    peer("procmail", "procmail");
    let s = Setup::new("nod32ren");
    let bindir = s.dir.path().join("bin");
    std::fs::create_dir(&bindir).unwrap();
    std::fs::set_permissions(&bindir, std::fs::Permissions::from_mode(0o755))
        .unwrap();
    std::fs::copy("/usr/bin/procmail", bindir.join("procmail.nod32")).unwrap();
    std::os::unix::fs::symlink(bin("nod32mda"), bindir.join("procmail"))
        .unwrap();
    s.script(&format!(
        "NOD32_CONFIG={} exec {} -f \"$SENDER\" DEFAULT=$HOME/Maildir/",
        s.cfg.display(),
        bindir.join("procmail").display()
    ));
    clean_bounce_defer(&s, |infected| {
        s.config(
            "/bin/false",
            &format!("action_on_infected = \"{infected}\"\n"),
        )
    });
}

/// Sends `n` messages, every `eicar_every`-th one infected, with random
/// attachments of up to `max_kb` KB; returns (queue id, token, infected).
fn send_batch(
    s: &Setup,
    rng: &mut Rng,
    n: usize,
    eicar_every: usize,
    max_kb: u64,
    subject: impl Fn(usize) -> String,
) -> Vec<(String, String, bool)> {
    let mut msgs = Vec::new();
    let mut meta = Vec::new();
    for i in 0..n {
        let tag = token(&format!("b{i}x"));
        let infected = eicar_every > 0 && i % eicar_every == eicar_every - 1;
        let data = if infected {
            eicar()
        } else {
            let len = rng.range(0, max_kb * 1024) as usize;
            rng.bytes(len)
        };
        let mut m = with_attachment(&tag, "data.bin", &data);
        // The subject line is the first one message() writes after To.
        let subj = format!("Subject: mda {tag}\r\n");
        let pos = m.windows(subj.len()).position(|w| w == subj.as_bytes());
        let pos = pos.unwrap();
        m.splice(
            pos..pos + subj.len(),
            format!("Subject: {}\r\n", subject(i)).into_bytes(),
        );
        msgs.push(m);
        meta.push((tag, infected));
    }
    let ids = smtp_send(SENDER, &s.rcpt(), &msgs);
    ids.into_iter().zip(meta).map(|(q, (t, i))| (q, t, i)).collect()
}

/// Checks every message of a batch ended as configured: clean ones in
/// the Maildir, infected ones bounced back to the sender and never in
/// the Maildir. Prints the count and returns every status line logged.
fn account(s: &Setup, batch: &[(String, String, bool)]) -> Vec<String> {
    let ids: Vec<String> = batch.iter().map(|b| b.0.clone()).collect();
    let last = s.final_statuses(&ids);
    let (mut delivered, mut bounced) = (0, 0);
    for ((q, tag, infected), line) in batch.iter().zip(&last) {
        if *infected {
            assert_eq!(status_of(line), "bounced", "{q}: {line}");
            assert!(
                said(line, "5.7.1", "Virus found: Eicar-Test-Signature"),
                "{line}"
            );
            assert_eq!(s.copies(tag), 0, "infected {q} was delivered");
            wait_for_mail("nod32admin", tag);
            bounced += 1;
        } else {
            assert_eq!(status_of(line), "sent", "{q}: {line}");
            // A kill after the real agent stored it would mean a second
            // copy; never none.
            assert!(
                s.copies(tag) >= 1,
                "{q} was sent but is not in the Maildir"
            );
            delivered += 1;
        }
    }
    assert!(!ids.iter().any(|q| in_queue(q)));
    let all: Vec<String> =
        ids.iter().flat_map(|q| postfix_statuses(q, &s.rcpt())).collect();
    let deferred = all.iter().filter(|l| status_of(l) == "deferred").count();
    eprintln!(
        "{}: {} messages: {delivered} delivered, {bounced} bounced to the sender, \
         0 lost; {deferred} deferred attempts on the way",
        s.user,
        batch.len()
    );
    all
}

/// The real agent fails with every exit code: nod32mda hands it the
/// message by exec, so Postfix sees the agent's own code and bounces or
/// keeps the message (71 and 75) exactly as without nod32mda.
#[test]
fn the_real_agents_exit_code_reaches_postfix() {
    let s = Setup::new("nod32fail");
    let agent = s.dir.path().join("failing-mda");
    std::fs::write(
        &agent,
        "#!/bin/sh\n\
         # A delivery agent that fails with the code named in the subject\n\
         # (and delivers with procmail for 0).\n\
         t=$(mktemp) || exit 75\n\
         cat > \"$t\"\n\
         code=$(sed -n 's/^Subject: exit \\([0-9]*\\)$/\\1/p' \"$t\" | head -n 1)\n\
         if [ \"$code\" = 0 ]; then\n\
           /usr/bin/procmail DEFAULT=$HOME/Maildir/ < \"$t\"; code=$?\n\
         fi\n\
         rm -f \"$t\"\n\
         exit \"${code:-70}\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&agent, std::fs::Permissions::from_mode(0o755))
        .unwrap();
    s.config(agent.to_str().unwrap(), "");
    s.script(&format!(
        "exec {} -- -c {}",
        bin("nod32mda").display(),
        s.cfg.display()
    ));
    let codes: Vec<i32> = [0, 1, 2]
        .into_iter()
        .chain(64..=78)
        .chain([99, 100, 111, 126, 127, 255])
        .collect();
    let mut rng = Rng::new(7);
    let batch = send_batch(&s, &mut rng, codes.len(), 0, 4, |i| {
        format!("exit {}", codes[i])
    });
    for ((q, tag, _), code) in batch.iter().zip(&codes) {
        let line = s.first_status(q);
        match code {
            0 => {
                assert_eq!(status_of(&line), "sent", "{line}");
                assert_eq!(s.copies(tag), 1);
            }
            71 | 75 => {
                assert_eq!(
                    status_of(&line),
                    "deferred",
                    "exit {code}: {line}"
                );
                assert!(in_queue(q), "exit {code}: {q} left the queue");
                run(nod32_tests::postfix_cmd("postsuper").args(["-d", q]));
            }
            _ => {
                assert_eq!(status_of(&line), "bounced", "exit {code}: {line}");
                wait_for_mail("nod32admin", tag);
                assert_eq!(s.copies(tag), 0);
            }
        }
    }

    // No agent at all: nod32mda defers with a reason, nothing bounces.
    s.config("/nonexistent/mda", "");
    let batch = send_batch(&s, &mut rng, 2, 2, 4, |_| "no agent".into());
    for (q, _, _) in &batch {
        let line = s.first_status(q);
        assert!(
            status_of(&line) == "deferred"
                && said(&line, "4.3.0", "nod32mda: no real delivery agent"),
            "{line}"
        );
    }
    // Then a working agent: the deferred pair is delivered / bounced.
    s.config("/usr/bin/procmail", "");
    s.script(&format!(
        "exec {} DEFAULT=$HOME/Maildir/ -- -c {}",
        bin("nod32mda").display(),
        s.cfg.display()
    ));
    account(&s, &batch);
}

/// The module removed, damaged and replaced while mail flows: every
/// message is deferred until a good module is back, then delivered or
/// bounced; an infected message is never delivered.
#[test]
fn module_removed_corrupted_or_replaced_loses_nothing() {
    let s = Setup::new("nod32mod");
    s.config("/usr/bin/procmail", "");
    s.script(&format!(
        "exec {} -f \"$SENDER\" DEFAULT=$HOME/Maildir/ -- -c {}",
        bin("nod32mda").display(),
        s.cfg.display()
    ));
    let good = module_bytes();
    let mut rng = Rng::new(11);
    let mut all = Vec::new();

    let mut damaged = good.clone();
    let mid = damaged.len() / 2;
    damaged[mid..].fill(0xA5);
    let damages: [(&str, Option<Vec<u8>>); 5] = [
        ("removed", None),
        ("empty", Some(Vec::new())),
        ("truncated", Some(good[..good.len() / 2].to_vec())),
        ("garbage", Some(rng.bytes(good.len()))),
        ("overwritten half", Some(damaged)),
    ];
    for (what, bytes) in damages {
        match &bytes {
            None => std::fs::remove_file(&s.module).unwrap(),
            Some(b) => std::fs::write(&s.module, b).unwrap(),
        }
        let batch = send_batch(&s, &mut rng, 4, 2, 8, |_| what.into());
        for (q, _, infected) in &batch {
            let line = s.first_status(q);
            // A module whose damage only the scan meets may still find
            // EICAR; what must never happen is delivery or a bounce
            // of clean mail on a broken module.
            let ok = status_of(&line) == "deferred"
                || (*infected
                    && status_of(&line) == "bounced"
                    && line.contains("Eicar-Test-Signature"));
            assert!(ok, "module {what}: {line}");
            if status_of(&line) == "deferred" {
                assert!(said(&line, "4.3.0", "nod32mda: "), "{line}");
            }
        }
        all.extend(batch);
    }

    // Replaced over and over while mail flows: renamed over (how nod32upd
    // and `nod32cli compile` do it), rewritten in place (cp), removed
    // and written back.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        let module = s.module.clone();
        let good = good.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let tmp = module.with_extension("new");
                match n % 3 {
                    0 => {
                        std::fs::write(&tmp, &good).unwrap();
                        std::fs::rename(&tmp, &module).unwrap();
                    }
                    1 => std::fs::write(&module, &good).unwrap(),
                    _ => {
                        let _ = std::fs::remove_file(&module);
                        std::thread::sleep(Duration::from_millis(3));
                        std::fs::write(&tmp, &good).unwrap();
                        std::fs::rename(&tmp, &module).unwrap();
                    }
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(n % 7));
            }
            n
        })
    };
    let mut batch = Vec::new();
    for _ in 0..4 {
        batch.extend(send_batch(&s, &mut rng, 15, 3, 64, |_| "churn".into()));
    }
    for (q, _, _) in &batch {
        s.first_status(q);
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let replacements = churn.join().unwrap();
    std::fs::write(&s.module, &good).unwrap();
    all.extend(batch);
    let lines = account(&s, &all);
    eprintln!("module replaced {replacements} times while mail flowed");
    assert!(replacements > 20);
    // Every deferral said why (a killed process has Postfix's own text).
    for l in lines.iter().filter(|l| status_of(l) == "deferred") {
        assert!(
            said(l, "4.3.0", "nod32mda: ") || l.contains("died with signal"),
            "{l}"
        );
    }
}

/// nod32mda SIGKILLed at random points of its run (reading, mapping,
/// scanning, handing over) over 200 deliveries: Postfix keeps each
/// killed message and delivers it on a later attempt.
#[test]
fn killed_at_random_points_loses_nothing() {
    let s = Setup::new("nod32kill");
    s.config("/usr/bin/procmail", "");
    let plain = format!(
        "exec {} -f \"$SENDER\" DEFAULT=$HOME/Maildir/ -- -c {}",
        bin("nod32mda").display(),
        s.cfg.display()
    );
    // The killer runs beside the wrapper (same pid once it execs
    // nod32mda), detached from the output Postfix reads.
    s.script(&format!(
        "{} $$ 20000 60 </dev/null >/dev/null 2>&1 &\n{plain}",
        bin("nod32-test-kill").display()
    ));
    let mut rng = Rng::new(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    );
    eprintln!("seed: {rng:?}");
    let mut batch = Vec::new();
    for _ in 0..10 {
        batch.extend(send_batch(&s, &mut rng, 20, 5, 400, |_| "kill".into()));
    }
    for (q, _, _) in &batch {
        s.first_status(q);
    }
    let first: Vec<String> =
        batch.iter().map(|(q, _, _)| s.first_status(q)).collect();
    let killed = first
        .iter()
        .filter(|l| status_of(l) == "deferred" && l.contains("signal 9"))
        .count();
    let straight = first
        .iter()
        .filter(|l| matches!(status_of(l), "sent" | "bounced"))
        .count();
    eprintln!(
        "first attempts: {killed} killed, {straight} delivered or bounced"
    );
    assert!(killed >= 20, "only {killed} of 200 first attempts were killed");
    assert!(straight >= 20, "only {straight} of 200 got through at once");
    // Without the killer, the retries go through.
    s.script(&plain);
    account(&s, &batch);
}

/// The day-two issue's first finding: a message released from
/// quarantine goes back through the MTA, whose nod32mda would refuse it
/// again and bounce the virus to its sender. The release is signed for
/// its recipients: delivered once, never bounced; nod32cli says so.
#[test]
fn a_released_message_reaches_its_recipient_once_and_never_bounces() {
    peer("procmail", "procmail");
    let s = Setup::new("nod32rel");
    // nod32mda runs as the recipient and stores the copy: the quarantine
    // is that user's, as it is [global] user's in a package.
    let qdir = s.dir.path().join("quarantine");
    std::fs::create_dir(&qdir).unwrap();
    std::fs::set_permissions(&qdir, std::fs::Permissions::from_mode(0o700))
        .unwrap();
    let u = nix::unistd::User::from_name(s.user).unwrap().unwrap();
    std::os::unix::fs::chown(&qdir, Some(u.uid.as_raw()), None).unwrap();
    std::fs::write(
        &s.cfg,
        format!(
            "[global]\nmodule = \"{}\"\ntemplate_dir = \"{}\"\nuser = \"{}\"\n\
             quarantine_dir = \"{}\"\naction_on_infected = \"reject+quarantine\"\n\
             sendmail_path = \"{}\"\n\
             [mda]\nmda_path = \"/usr/bin/procmail\"\n",
            s.module.display(),
            s.dir.path().display(),
            s.user,
            qdir.display(),
            postfix().display()
        ),
    )
    .unwrap();
    s.own_file(".procmailrc", "DEFAULT=$HOME/Maildir/\n");
    s.script(&format!(
        "exec {} -f \"$SENDER\" -- -c {}",
        bin("nod32mda").display(),
        s.cfg.display()
    ));
    let tag = token("released");
    let q = swaks(&s.rcpt(), &with_attachment(&tag, "eicar.com", &eicar()));
    let line = s.first_status(&q);
    assert!(line.contains("status=bounced"), "{line}");
    let cli = |args: &[&str]| {
        run(Command::new(bin("nod32cli"))
            .args(["quarantine", "-c"])
            .arg(&s.cfg)
            .args(args))
    };
    let list = cli(&["list"]);
    let listed = String::from_utf8_lossy(&list.stdout).to_string();
    assert_eq!(listed.lines().count(), 1, "{listed}");
    let id = listed.split_whitespace().next().unwrap().to_string();

    let log_start = std::fs::metadata(nod32_tests::postfix_log())
        .map_or(0, |m| m.len() as usize);
    let out = cli(&["release", &id]);
    let said_out = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success() && said_out.contains(&format!("released {id}")),
        "{said_out}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for_mail(s.user, &format!("<{tag}@example.org>"));
    // Every delivery attempt of the release is over: one copy, no
    // bounce for it (Postfix logs each, with the release's queue id).
    std::thread::sleep(Duration::from_secs(2));
    let log = std::fs::read(nod32_tests::postfix_log()).unwrap_or_default();
    let log = String::from_utf8_lossy(&log[log_start.min(log.len())..]);
    let to_rcpt: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("to=<{}>", s.rcpt())))
        .collect();
    assert!(
        to_rcpt.iter().all(|l| !l.contains("status=bounced")),
        "{to_rcpt:#?}"
    );
    assert_eq!(s.copies(&tag), 1);
    assert!(cli(&["list"]).stdout.is_empty());
}
