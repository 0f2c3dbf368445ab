use super::*;
use crate::log::Logger;
use crate::runtime::Which;
use crate::template::Templates;
use nod32_config::{Config, OnVerdict, Processed};

/// Assembled at run time, so that no source file carries it.
pub(crate) fn eicar() -> String {
    [
        "X5O!P%@AP[4\\PZX54(P^)7CC)7}$",
        "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*",
    ]
    .concat()
}

pub(crate) fn state(which: Which) -> State {
    State {
        which,
        config: Config::default(),
        db: nod32_engine::Database::builtin(),
        templates: Templates::default().into(),
        users: None,
        log: Logger::stderr(which.name(), 1),
        host: "mx.example.net".into(),
        release_pub: None,
    }
}

pub(crate) fn env() -> Envelope {
    Envelope {
        sender: "bob@example.org".into(),
        recipients: vec!["alice@example.net".into()],
        queue_id: "4ABC".into(),
        ..Envelope::default()
    }
}

pub(crate) fn mixed(attachment: &str) -> Vec<u8> {
    format!(
        "From: bob@example.org\nTo: alice@example.net\nSubject: invoice\n\
         Message-ID: <1@example.org>\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\n\
         Content-Type: text/plain; charset=iso-8859-1\n\
         Content-Transfer-Encoding: 8bit\n\nSee attached.\n--b1\n\
         Content-Type: application/octet-stream; name=\"inv.com\"\n\
         Content-Disposition: attachment; filename=\"inv.com\"\n\n\
         {attachment}\n--b1--\n"
    )
    .into_bytes()
}

#[test]
fn infected_mail_is_rejected_by_default() {
    let st = state(Which::Smtp);
    let o = handle(&st, st.policy(), &mixed(&eicar()), &env());
    assert_eq!(o.decision.status, Some(Status::Infected));
    assert_eq!(o.decision.action, Action::Reject);
    assert_eq!(o.virus.as_deref(), Some("Eicar-Test-Signature"));
    assert!(o.edits.is_empty());
    assert_eq!(o.why, "Virus found: Eicar-Test-Signature");
}

#[test]
fn clean_mode_removes_the_part_and_marks_deleted() {
    let st = state(Which::Smtp);
    let p = Policy {
        clean_mode: true,
        write_to_header: true,
        subject_tag: "[virus %virus%]".into(),
        ..st.policy().clone()
    };
    let raw = mixed(&eicar());
    let o = handle(&st, &p, &raw, &env());
    assert_eq!(o.decision.status, Some(Status::Deleted));
    assert_eq!(o.decision.action, Action::Accept);
    assert_eq!(o.removed, vec!["inv.com".to_string()]);
    let m = o.changed(&raw).unwrap();
    let parsed = mailparse::parse_mail(&m).unwrap();
    let h = |n: &str| {
        parsed.headers.iter().find(|h| h.get_key() == n).map(|h| h.get_value())
    };
    assert_eq!(h("X-NOD32Result").as_deref(), Some("deleted"));
    assert_eq!(
        h("Subject").as_deref(),
        Some("[virus Eicar-Test-Signature] invoice")
    );
    assert_eq!(parsed.subparts.len(), 2);
    assert_eq!(parsed.subparts[0].get_body().unwrap(), "See attached.");
    let notice = parsed.subparts[1].get_body().unwrap();
    assert!(notice.contains("\"inv.com\""), "{notice}");
    assert!(notice.contains("Eicar-Test-Signature"), "{notice}");
    // And the engine finds nothing left.
    assert!(!scanner(&st.db, &p).scan_bytes(&m).verdict.is_infected());
}

/// Cleaned and given a footer: the edits hold one body, the cleaned
/// one with the footer (a milter's body packets add up to one body).
#[test]
fn a_cleaned_message_with_a_footer_is_one_body() {
    let st = state(Which::Smfi);
    let p = Policy {
        clean_mode: true,
        write_to_emails: true,
        ..st.policy().clone()
    };
    let raw = mixed(&eicar());
    let o = handle(&st, &p, &raw, &env());
    assert_eq!(o.decision.status, Some(Status::Deleted));
    let bodies = o
        .edits
        .iter()
        .filter(|e| matches!(e, crate::Edit::ReplaceBody(_)))
        .count();
    assert_eq!(bodies, 1, "{:?}", o.edits);
    let m = String::from_utf8(o.changed(&raw).unwrap()).unwrap();
    assert_eq!(m.matches("See attached.").count(), 1, "{m}");
    assert!(m.contains("Information from NOD32"), "{m}");
    assert!(!m.contains(&eicar()), "{m}");
}

/// Three infected parts among clean ones (one inside a forwarded
/// message): each is cut where the engine found it, the clean parts
/// stay byte for byte.
#[test]
fn clean_mode_cuts_every_infected_part() {
    let st = state(Which::Smtp);
    let p = Policy { clean_mode: true, ..st.policy().clone() };
    let part = |name: &str, body: &str| {
        format!(
            "--b1\nContent-Type: application/octet-stream; name=\"{name}\"\n\
             Content-Disposition: attachment; filename=\"{name}\"\n\n{body}\n"
        )
    };
    let forwarded = format!(
        "--b1\nContent-Type: message/rfc822\n\nFrom: c@example.org\n\
         Subject: fw\n\n{}\n",
        eicar()
    );
    let raw = format!(
        "From: bob@example.org\nSubject: three\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\n\n{}{}{}{}{}--b1--\n",
        part("a.com", &eicar()),
        part("keep.txt", "kept as it was"),
        part("b.com", &eicar()),
        forwarded,
        part("also-kept.txt", "also kept"),
    )
    .into_bytes();
    let o = handle(&st, &p, &raw, &env());
    assert_eq!(o.decision.status, Some(Status::Deleted));
    assert_eq!(o.removed, ["a.com", "b.com", "part 4"]);
    let m = String::from_utf8(o.changed(&raw).unwrap()).unwrap();
    assert!(!m.contains(&eicar()), "{m}");
    assert!(m.contains(&part("keep.txt", "kept as it was")), "{m}");
    assert!(m.contains(&part("also-kept.txt", "also kept")), "{m}");
    assert!(
        !scanner(&st.db, &p).scan_bytes(m.as_bytes()).verdict.is_infected()
    );
}

#[test]
fn an_infection_that_cannot_be_cut_out_stays_infected() {
    let st = state(Which::Smtp);
    let p = Policy { clean_mode: true, ..st.policy().clone() };
    let single = format!("Subject: x\n\n{}\n", eicar());
    let o = handle(&st, &p, single.as_bytes(), &env());
    assert_eq!(o.decision.status, Some(Status::Infected));
    assert_eq!(o.decision.action, Action::Reject);
    // nod32cli never changes what it is given.
    let cli = state(Which::Cli);
    let o = handle(&cli, &p, &mixed(&eicar()), &env());
    assert_eq!(o.decision.status, Some(Status::Infected));
}

#[test]
fn clean_mail_gets_the_footer_and_no_header_unless_asked() {
    let st = state(Which::Mda);
    let p = Policy {
        write_to_header: true,
        write_to_emails: true,
        subject_tag: "[virus]".into(),
        ..st.policy().clone()
    };
    let raw = mixed("harmless");
    let o = handle(&st, &p, &raw, &env());
    assert_eq!(o.decision.status, Some(Status::Clean));
    let m = o.changed(&raw).unwrap();
    let text = String::from_utf8_lossy(&m);
    assert!(!text.contains("X-NOD32Result"));
    assert!(text.contains("Subject: invoice\n"));
    assert!(text.contains(
        "See attached.\n\n-- \n__________ Information from NOD32 on mx.example.net"
    ));
    let p = Policy { header_on_clean: true, ..p };
    let m = handle(&st, &p, &raw, &env()).changed(&raw).unwrap();
    assert!(m.starts_with(b"X-NOD32Result: clean\n"));
}

/// `header_versions`: the result header is followed by
/// `X-Virus-Scanned` naming the agent and the versions of the
/// module's databases, as clamav-milter's header names ClamAV's; a
/// file without a version is counted, not named.
#[test]
fn the_result_header_can_name_the_database_versions() {
    let mut sigs = nod32_engine::builtin_signatures();
    let cvd = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/bytecode-268.cvd"
    ))
    .unwrap();
    sigs.load_bytes("/var/lib/nod32/clamav/bytecode.cvd", &cvd).unwrap();
    let st = State {
        db: nod32_engine::Database::from_signatures(&sigs).unwrap(),
        ..state(Which::Smtp)
    };
    let p = Policy {
        write_to_header: true,
        header_versions: true,
        ..st.policy().clone()
    };
    let scanned = format!(
        "X-Virus-Scanned: nod32smtp {}; bytecode 268 (2015-08-20), 2 other files\n",
        env!("CARGO_PKG_VERSION")
    );
    // An earlier hop's own field stays.
    let mut raw = b"X-Virus-Scanned: clamav-milter 1.4.6 at mx\n".to_vec();
    raw.extend_from_slice(&mixed(&eicar()));
    let p =
        Policy { action_on_infected: OnVerdict::plain(Action::Accept), ..p };
    let m = handle(&st, &p, &raw, &env()).changed(&raw).unwrap();
    let mut expect = b"X-NOD32Result: infected\n".to_vec();
    expect.extend_from_slice(scanned.as_bytes());
    expect.extend_from_slice(&raw);
    assert_eq!(String::from_utf8_lossy(&m), String::from_utf8_lossy(&expect));
    // Clean mail only with header_on_clean, as the result header.
    let clean = mixed("harmless");
    assert!(handle(&st, &p, &clean, &env()).edits.is_empty());
    let p = Policy { header_on_clean: true, ..p };
    let m = handle(&st, &p, &clean, &env()).changed(&clean).unwrap();
    let mut expect = b"X-NOD32Result: clean\n".to_vec();
    expect.extend_from_slice(scanned.as_bytes());
    expect.extend_from_slice(&clean);
    assert_eq!(m, expect);
    // Off by default.
    let p = Policy { header_versions: false, ..p };
    let m = handle(&st, &p, &clean, &env()).changed(&clean).unwrap();
    assert!(m.starts_with(b"X-NOD32Result: clean\nFrom: "));
    assert!(!Policy::default().header_versions);
}

#[test]
fn dkim_signed_mail_keeps_subject_and_body() {
    let st = state(Which::Smfi);
    let p = Policy {
        clean_mode: false,
        write_to_header: true,
        write_to_emails: true,
        subject_tag: "[virus]".into(),
        action_on_infected: OnVerdict::plain(Action::Accept),
        ..st.policy().clone()
    };
    let mut raw =
        b"DKIM-Signature: v=1; d=example.org; h=from:subject; bh=x; b=y\n"
            .to_vec();
    raw.extend_from_slice(&mixed(&eicar()));
    let m = handle(&st, &p, &raw, &env()).changed(&raw).unwrap();
    let mut expect = b"X-NOD32Result: infected\n".to_vec();
    expect.extend_from_slice(&raw);
    assert_eq!(m, expect);
    let p = Policy { modify_signed: true, ..p };
    let m = handle(&st, &p, &raw, &env()).changed(&raw).unwrap();
    assert!(String::from_utf8_lossy(&m).contains("Subject: [virus] invoice"));
}

#[test]
fn policy_first_stage_skips_the_scan() {
    let st = state(Which::Smtp);
    let p = Policy {
        action_on_processed: Processed::Act(Action::Discard),
        ..st.policy().clone()
    };
    let o = handle(&st, &p, &mixed(&eicar()), &env());
    assert_eq!(o.decision.status, None);
    assert_eq!(o.decision.action, Action::Discard);
    assert_eq!(o.virus, None);
}

#[test]
fn quarantine_keeps_the_original_or_defers() {
    let d = tempfile::tempdir().unwrap();
    let mut st = state(Which::Smtp);
    st.config.global.quarantine_dir = d.path().join("q");
    let p = Policy {
        action_on_infected: OnVerdict {
            action: Action::Discard,
            quarantine: true,
        },
        ..st.policy().clone()
    };
    let raw = mixed(&eicar());
    let o = handle(&st, &p, &raw, &env());
    assert_eq!(o.decision.action, Action::Discard);
    let id = o.quarantine_id.unwrap();
    let q = Quarantine::new(d.path().join("q"));
    let meta = q.meta(&id).unwrap();
    assert_eq!(meta.virus, "Eicar-Test-Signature");
    assert_eq!(meta.recipients, env().recipients);
    assert_eq!(meta.queue_id, "4ABC");
    assert_eq!(meta.action, "discard");
    assert_eq!(q.message(&id).unwrap().1, raw);

    // No quarantine, no discard: the message stays with the MTA.
    std::fs::write(d.path().join("file"), "").unwrap();
    st.config.global.quarantine_dir = d.path().join("file").join("q");
    let o = handle(&st, &p, &raw, &env());
    assert_eq!(o.decision.action, Action::Defer);
    assert_eq!(o.quarantine_id, None);
}

#[test]
fn the_milters_hold_mode_holds_only_what_the_mta_keeps() {
    let d = tempfile::tempdir().unwrap();
    let mut st = state(Which::Smfi);
    st.config.global.quarantine_dir = d.path().join("q");
    st.config.smfi.quarantine_hold = true;
    let base = st.policy().clone();
    let with = |action| Policy {
        action_on_infected: OnVerdict { action, quarantine: true },
        ..base.clone()
    };
    let raw = mixed(&eicar());
    for a in [Action::Accept, Action::Discard] {
        let o = handle(&st, &with(a), &raw, &env());
        assert!(o.held, "{a:?}");
        assert_eq!(o.decision.action, Action::Accept);
        assert_eq!(o.quarantine_id, None);
        assert_eq!(action_word(&o), "hold");
    }
    // A reject stays a reject, its original stored.
    let o = handle(&st, &with(Action::Reject), &raw, &env());
    assert!(!o.held);
    assert_eq!(o.decision.action, Action::Reject);
    assert!(o.quarantine_id.is_some());
    // Over max_file_size (no bytes to store), the MTA still holds it.
    let p = Policy {
        action_on_notscanned: OnVerdict {
            action: Action::Accept,
            quarantine: true,
        },
        ..base.clone()
    };
    let o = handle_oversize(&st, &p, 1 << 30, &env());
    assert_eq!(o.decision.status, Some(Status::NotScanned));
    assert!(o.held && o.decision.action == Action::Accept);
    // Only the milter holds.
    st.which = Which::Smtp;
    let o = handle(&st, &with(Action::Accept), &raw, &env());
    assert!(!o.held && o.quarantine_id.is_some());
}

#[test]
fn not_scanned_follows_its_own_action() {
    let st = state(Which::Smtp);
    let p = Policy {
        max_file_size: 10,
        action_on_notscanned: OnVerdict::plain(Action::Defer),
        ..st.policy().clone()
    };
    let o = handle(&st, &p, &mixed("some harmless text"), &env());
    assert_eq!(o.decision.status, Some(Status::NotScanned));
    assert_eq!(o.decision.action, Action::Defer);
    assert!(o.not_scanned.is_some());
}

#[test]
fn one_log_line_per_message() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("log");
    let sock = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut st = state(Which::Smtp);
    st.log = Logger::syslog_at(&path, "nod32smtp", "mail", 4).unwrap();
    let raw = mixed(&eicar());
    handle(&st, st.policy(), &raw, &env());
    let mut buf = [0u8; 1024];
    let n = sock.recv(&mut buf).unwrap();
    let line = String::from_utf8_lossy(&buf[..n]).to_string();
    // mail = 2, info = 6.
    assert!(line.starts_with("<22>"), "{line}");
    let want = format!(
        "queue_id=4ABC message_id=<1@example.org> from=<bob@example.org> \
         to=<alice@example.net> size={} status=infected action=reject \
         virus=\"Eicar-Test-Signature\" time=",
        raw.len()
    );
    assert!(line.contains(&want), "{line}");
    assert!(line.ends_with("ms"), "{line}");
    // Nothing else at this level for one message.
    sock.set_nonblocking(true).unwrap();
    assert!(sock.recv(&mut buf).is_err());
}

#[test]
fn oversize_mail_is_not_scanned_and_never_dropped_unkept() {
    let st = state(Which::Mda);
    let p = Policy {
        action_on_notscanned: OnVerdict::plain(Action::Defer),
        ..st.policy().clone()
    };
    let o = handle_oversize(&st, &p, 1 << 30, &env());
    assert_eq!(o.decision.status, Some(Status::NotScanned));
    assert_eq!(o.decision.action, Action::Defer);
    assert_eq!(o.why, "Message could not be scanned");
    // Quarantine needs the bytes: a discard that asks for it defers.
    let p = Policy {
        action_on_notscanned: OnVerdict {
            action: Action::Discard,
            quarantine: true,
        },
        ..p
    };
    let o = handle_oversize(&st, &p, 1 << 30, &env());
    assert_eq!(o.decision.action, Action::Defer);
}

/// A heuristic alert raised in an attachment (a PDF naming its action
/// `/J#61vaScript`) names that part too: it is cut.
#[test]
fn a_part_that_alerts_is_cut() {
    let st = state(Which::Smtp);
    let p = Policy { clean_mode: true, ..st.policy().clone() };
    let pdf = "%PDF-1.4\n1 0 obj\n<< /Type /Catalog /OpenAction 2 0 R >>\n\
               endobj\n2 0 obj\n<< /S /J#61vaScript /JS (app.alert(1)) >>\n\
               endobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF";
    let raw = String::from_utf8(mixed(pdf))
        .unwrap()
        .replace("inv.com", "inv.pdf")
        .into_bytes();
    let o = handle(&st, &p, &raw, &env());
    assert_eq!(
        o.virus.as_deref(),
        Some("Heuristics.PDF.ObfuscatedNameObject")
    );
    assert_eq!(o.decision.status, Some(Status::Deleted));
    assert_eq!(o.removed, ["inv.pdf"]);
}

/// As an MDA is handed it: a `From ` line first, and a body line that
/// starts `From ` unescaped (which splits the message as an mbox to the
/// engine, so the part it names cannot be placed): cleaned all the same.
#[test]
fn a_from_line_in_the_body_does_not_stop_cleaning() {
    let st = state(Which::Mda);
    let p = Policy { clean_mode: true, ..st.policy().clone() };
    let raw = format!(
        "From bob@example.org Mon Dec  7 00:00:00 2026\n\
         From: bob@example.org\nTo: alice@example.net\nSubject: invoice\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\n\
         Content-Type: text/plain\n\nHello,\nFrom the team: see attached.\n\
         --b1\nContent-Type: application/octet-stream; name=\"inv.com\"\n\
         Content-Disposition: attachment; filename=\"inv.com\"\n\n{}\n--b1--\n",
        eicar()
    )
    .into_bytes();
    let o = handle(&st, &p, &raw, &env());
    assert_eq!(o.decision.status, Some(Status::Deleted));
    assert_eq!(o.removed, ["inv.com"]);
}

/// Many infected parts: a few whole-message scans, then each remaining
/// part once, not one whole scan per part (which grew as the square of
/// their number).
#[test]
fn many_infected_parts_are_cut_in_few_scans() {
    let st = state(Which::Smtp);
    let p = Policy { clean_mode: true, ..st.policy().clone() };
    let mut raw = String::from(
        "From: a@b\nSubject: many\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\n\n",
    );
    for i in 0..300 {
        raw += &format!(
            "--b1\nContent-Type: application/octet-stream; name=\"f{i}.com\"\n\
             Content-Disposition: attachment; filename=\"f{i}.com\"\n\n{}\n",
            eicar()
        );
    }
    raw += "--b1--\n";
    let o = handle(&st, &p, raw.as_bytes(), &env());
    assert_eq!(o.decision.status, Some(Status::Deleted));
    assert_eq!(o.removed.len(), 300);
}

/// Templates read at their first use and unreadable defer an infected
/// message before its quarantine copy is stored: the MTA's retries leave
/// nothing behind (the reviewer of stop 43 saw one copy per retry).
#[test]
fn an_unreadable_template_defers_before_the_quarantine_copy() {
    let d = tempfile::tempdir().unwrap();
    let tdir = d.path().join("t");
    std::fs::create_dir(&tdir).unwrap();
    std::fs::write(tdir.join("notify_admin.txt"), b"\xff").unwrap();
    let mut st = state(Which::Mda);
    st.templates = crate::template::TemplateSet::lazy(&tdir);
    st.config.global.quarantine_dir = d.path().join("q");
    let p = Policy {
        action_on_infected: OnVerdict {
            action: Action::Reject,
            quarantine: true,
        },
        notify_admin: "admin@example.net".into(),
        ..st.policy().clone()
    };
    let raw = mixed(&eicar());
    for _ in 0..2 {
        let r = crate::deliver(&st, &p, &env(), crate::Body::Whole(&raw));
        assert!(r.is_err(), "deferred for the template");
    }
    let q = Quarantine::new(d.path().join("q"));
    assert_eq!(q.list().map(|l| l.len()).unwrap_or(0), 0);
    // The same with readable templates: one copy, the notice sent.
    let good = d.path().join("good");
    std::fs::create_dir(&good).unwrap();
    st.templates = crate::template::TemplateSet::lazy(&good);
    let r = crate::deliver(&st, &p, &env(), crate::Body::Whole(&raw));
    assert!(r.is_ok());
    assert_eq!(q.list().unwrap().len(), 1);
}
