//! One message through the policy: scan, decide, clean, mark,
//! quarantine, notify, log.

use std::time::{Duration, Instant};

use nod32_config::{Action, Policy};
use nod32_engine::{Limits, Options, Scanner, Verdict};

use crate::log::Level;
use crate::mime::{self, Message};
use crate::notify;
use crate::policy::{Decision, Status, after_scan, before_scan};
use crate::quarantine::{Meta, Quarantine};
use crate::runtime::State;
use crate::template::{self, Vars};

/// Who sent a message to whom, as the MTA said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Envelope {
    /// MAIL FROM (empty: the null sender).
    pub sender: String,
    /// RCPT TO, in order.
    pub recipients: Vec<String>,
    /// The MTA's queue id, when it gave one.
    pub queue_id: String,
    /// The SMTP client, `name[address]`, when the agent knows it.
    pub client: String,
    /// The authenticated (SASL) user, when there was one.
    pub auth_user: String,
}

/// What became of a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The status and the action.
    pub decision: Decision,
    /// The first virus found.
    pub virus: Option<String>,
    /// Why it was not scanned, when it was not.
    pub not_scanned: Option<String>,
    /// The message to pass on when it was changed (cleaned or marked);
    /// `None`: pass the original on unchanged.
    pub message: Option<Vec<u8>>,
    /// The names of the removed parts.
    pub removed: Vec<String>,
    /// The quarantine ID of the original, when kept.
    pub quarantine_id: Option<String>,
    /// The quarantine ID when the message is a signed release from
    /// quarantine (passed on unscanned).
    pub released: Option<String>,
    /// The MTA is asked to put the message on hold instead (nod32smfi's
    /// `quarantine_mode = "hold"`): the action is then accept, and the
    /// log line says `action=hold`.
    pub held: bool,
    /// The reason to give the MTA with a refusal.
    pub why: String,
    /// How long the scan took.
    pub elapsed: Duration,
}

/// The engine's limits and switches from a policy.
pub fn scanner<'a>(db: &'a nod32_engine::Database, p: &Policy) -> Scanner<'a> {
    Scanner::new(db)
        .limits(Limits {
            max_scan_size: p.max_scan_size,
            max_file_size: p.max_file_size,
            max_recursion: p.max_recursion,
            max_files: p.max_files,
            max_scan_time: p.max_scan_time,
        })
        .options(Options {
            archives: p.scan_archives,
            mail: p.scan_mail,
            heuristics: p.heuristics.clone(),
        })
}

/// What clean_mode achieved.
struct Cleaned {
    message: Vec<u8>,
    removed: Vec<String>,
}

/// Removes the parts that are infected on their own; `None` when that
/// does not leave a clean message (the infection is in the only part,
/// or only shows in the whole).
fn clean(
    st: &State,
    scan: &Scanner<'_>,
    raw: &[u8],
    vars: &Vars,
) -> Option<Cleaned> {
    let msg = Message::parse(raw);
    if !msg.root.is_multipart() {
        return None;
    }
    let mut cut = Vec::new();
    let mut removed = Vec::new();
    for (i, leaf) in msg.root.leaves().into_iter().enumerate() {
        // Every reading of the part, when its headers disagree.
        let infected = msg.decoded(leaf).iter().find_map(|d| {
            match scan.scan_bytes(d).verdict {
                Verdict::Infected { name, .. } => Some(name),
                _ => None,
            }
        });
        if let Some(name) = infected {
            let label = leaf
                .filename
                .clone()
                .unwrap_or_else(|| format!("part {}", i + 1));
            let v = Vars {
                virus: name,
                attachment: label.clone(),
                ..vars.clone()
            };
            cut.push((leaf, template::expand(&st.templates.notice, &v)));
            removed.push(label);
        }
    }
    if cut.is_empty() {
        return None;
    }
    let out = msg.replace_parts(&cut);
    // The whole must now be clean, as the engine sees it.
    if scan.scan_bytes(&out).verdict.is_infected() {
        return None;
    }
    Some(Cleaned { message: out, removed })
}

/// Handles one message for the agent `st.which` under `policy` (from
/// [`State::policy_for`]): scans it, decides, and for mail that passes
/// on, cleans and marks it as the policy says. Keeps the original in
/// quarantine, notifies and logs one line.
pub fn handle(
    st: &State,
    policy: &Policy,
    raw: &[u8],
    env: &Envelope,
) -> Outcome {
    let t0 = Instant::now();
    let mut out = Outcome {
        decision: Decision {
            status: None,
            action: Action::Accept,
            quarantine: false,
        },
        virus: None,
        not_scanned: None,
        message: None,
        removed: Vec::new(),
        quarantine_id: None,
        released: None,
        held: false,
        why: String::new(),
        elapsed: Duration::ZERO,
    };
    let mut vars = Vars {
        sender: env.sender.clone(),
        recipients: env.recipients.clone(),
        subject: mime::subject(raw),
        queue_id: if env.queue_id.is_empty() {
            mime::message_id(raw).unwrap_or_default()
        } else {
            env.queue_id.clone()
        },
        host: st.host.clone(),
        date: notify::rfc5322_date(std::time::SystemTime::now()),
        ..Vars::default()
    };

    if let Some(id) = released(st, raw, env) {
        // Released by root from quarantine to these recipients: scanned
        // again, it would be refused and bounced to its sender.
        out.released = Some(id);
    } else if !enabled(st) {
        // As NOD32 did: a disabled agent passes mail on unscanned.
        out.not_scanned =
            Some(format!("[{}] agent_enabled = false", section(st)));
    } else if let Some(d) = before_scan(policy) {
        out.decision = d;
    } else {
        let scan = scanner(&st.db, policy);
        let status = match scan.scan_bytes(raw).verdict {
            Verdict::Clean => Status::Clean,
            Verdict::Uncheckable { reason } => {
                out.not_scanned = Some(reason.to_string());
                Status::NotScanned
            }
            Verdict::Infected { name, location } => {
                vars.virus = name.clone();
                vars.attachment = location;
                out.virus = Some(name);
                Status::Infected
            }
        };
        let mut status = status;
        if status == Status::Infected
            && policy.clean_mode
            && st.which.may_modify()
            && let Some(c) = clean(st, &scan, raw, &vars)
        {
            status = Status::Deleted;
            out.message = Some(c.message);
            out.removed = c.removed;
        }
        out.decision = after_scan(policy, status);
    }
    out.elapsed = t0.elapsed();
    vars.status = out.decision.status.map_or("", |s| s.as_str()).into();
    if !out.removed.is_empty() {
        vars.attachment = out.removed.join(", ");
    }

    out.held = hold_in_the_mta(st, &mut out.decision);
    if out.decision.quarantine {
        let meta = Meta {
            agent: st.which.name().into(),
            sender: env.sender.clone(),
            recipients: env.recipients.clone(),
            queue_id: env.queue_id.clone(),
            message_id: mime::message_id(raw).unwrap_or_default(),
            subject: vars.subject.clone(),
            status: vars.status.clone(),
            virus: vars.virus.clone(),
            action: out.decision.action.as_str().into(),
            ..Meta::default()
        };
        match Quarantine::new(&st.config.global.quarantine_dir)
            .store(raw, &meta)
        {
            Ok(id) => out.quarantine_id = Some(id),
            Err(e) => {
                st.log.log(
                    Level::Error,
                    &format!(
                        "quarantine {}: {e}",
                        st.config.global.quarantine_dir.display()
                    ),
                );
                // The copy the administrator asked for is not there:
                // keep the message with the sender's MTA instead.
                if matches!(
                    out.decision.action,
                    Action::Accept | Action::Discard
                ) {
                    out.decision.action = Action::Defer;
                }
            }
        }
    }

    if out.decision.action == Action::Accept
        && st.which.may_modify()
        && let Some(status) = out.decision.status
    {
        let marked = mark(
            st,
            policy,
            status,
            out.message.as_deref().unwrap_or(raw),
            &vars,
        );
        if let Some(m) = marked {
            out.message = Some(m);
        }
    }
    vars.action = action_word(&out).into();
    out.why = crate::protocol::why(out.decision.status, out.virus.as_deref());

    if matches!(out.decision.status, Some(Status::Infected | Status::Deleted))
    {
        notify_all(st, policy, env, &vars);
    }
    log_line(st, raw, raw.len() as u64, env, &out);
    out
}

/// Whether "+quarantine" on `d` means the MTA's hold queue: nod32smfi
/// with `quarantine_mode = "hold"`, for a message the MTA would keep
/// (accept, discard). Then `d` becomes an accept without a copy of ours.
/// A reject or defer stays one (the MTA keeps nothing to hold), its
/// original kept in `quarantine_dir` as by the other agents.
fn hold_in_the_mta(st: &State, d: &mut Decision) -> bool {
    let hold = d.quarantine
        && st.which == crate::Which::Smfi
        && st.config.smfi.quarantine_hold
        && matches!(d.action, Action::Accept | Action::Discard);
    if hold {
        d.quarantine = false;
        d.action = Action::Accept;
    }
    hold
}

/// The quarantine ID of a release `st`'s key verifies in `raw` for the
/// envelope's recipients.
fn released(st: &State, raw: &[u8], env: &Envelope) -> Option<String> {
    if !crate::release::carries_header(raw) {
        return None;
    }
    let key = crate::release::read_public(st.release_pub.as_deref()?)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    crate::release::verify(&key, raw, &env.recipients, now)
}

/// Whether the agent's `agent_enabled` is on.
pub fn enabled(st: &State) -> bool {
    match st.which {
        crate::Which::Mda => st.config.mda.agent_enabled,
        crate::Which::Smtp => st.config.smtp.agent_enabled,
        crate::Which::Smfi => st.config.smfi.agent_enabled,
        _ => true,
    }
}

fn section(st: &State) -> &'static str {
    match st.which {
        crate::Which::Mda => "mda",
        crate::Which::Smtp => "smtp",
        crate::Which::Smfi => "smfi",
        _ => "global",
    }
}

/// The action as logs and templates name it.
fn action_word(out: &Outcome) -> &'static str {
    if out.held { "hold" } else { out.decision.action.as_str() }
}

/// A message too big to read into memory (over `max_file_size`): it is
/// not scanned, and `action_on_notscanned` decides. Quarantine needs the
/// bytes, so a "+quarantine" here defers an accept or discard (unless
/// the MTA holds it).
pub fn handle_oversize(
    st: &State,
    policy: &Policy,
    size: u64,
    env: &Envelope,
) -> Outcome {
    let mut d = match before_scan(policy) {
        Some(d) => d,
        None => after_scan(policy, Status::NotScanned),
    };
    let held = hold_in_the_mta(st, &mut d);
    if d.quarantine && matches!(d.action, Action::Accept | Action::Discard) {
        d.action = Action::Defer;
    }
    let out = Outcome {
        decision: d,
        virus: None,
        not_scanned: d
            .status
            .map(|_| format!("message of {size} bytes is over max_file_size")),
        message: None,
        removed: Vec::new(),
        quarantine_id: None,
        released: None,
        held,
        why: crate::protocol::why(d.status, None),
        elapsed: Duration::ZERO,
    };
    log_line(st, b"", size, env, &out);
    out
}

/// Footer, subject tag and header, in that order, each on the result of
/// the one before; `None` when nothing changed.
fn mark(
    st: &State,
    p: &Policy,
    status: Status,
    body: &[u8],
    vars: &Vars,
) -> Option<Vec<u8>> {
    let signed = mime::dkim_signed_headers(body);
    let mut cur: Option<Vec<u8>> = None;
    if p.write_to_emails && (signed.is_none() || p.modify_signed) {
        let b = cur.as_deref().unwrap_or(body);
        let m = Message::parse(b);
        let txt = template::expand(&st.templates.footer_txt, vars);
        let html = template::expand_html(&st.templates.footer_html, vars);
        cur = mime::add_footer(&m, &txt, &html, p.modify_signed).or(cur);
    }
    if status != Status::Clean && !p.subject_tag.is_empty() {
        let covers_subject =
            signed.as_ref().is_some_and(|h| h.contains("subject"));
        if !covers_subject || p.modify_signed {
            let tag = template::expand(&p.subject_tag, vars);
            cur =
                Some(mime::tag_subject(cur.as_deref().unwrap_or(body), &tag));
        }
    }
    if p.write_to_header && (status != Status::Clean || p.header_on_clean) {
        // Added first, so that the result header goes above it: a milter
        // can insert only at the top, and adds any later field at the
        // end of the header.
        if p.header_versions {
            cur = Some(mime::add_header(
                cur.as_deref().unwrap_or(body),
                "X-Virus-Scanned",
                &crate::runtime::scanned_by(st),
            ));
        }
        cur = Some(mime::set_header(
            cur.as_deref().unwrap_or(body),
            &p.header_name,
            status.as_str(),
        ));
    }
    cur
}

fn notify_all(st: &State, p: &Policy, env: &Envelope, vars: &Vars) {
    let from = notify::qualify(&p.notify_from, &st.host);
    // The envelope is the SMTP client's: an address that could inject a
    // header or an option gets no notice, and the log says so (escaped).
    let refused = |who: &str, addr: &str, why: &str| {
        st.log.log(
            Level::Warning,
            &format!(
                "not notifying {who} <{}>: {why}",
                crate::escape::field(addr)
            ),
        );
    };
    let mut sends: Vec<(&str, Vec<String>, &str)> = Vec::new();
    if !p.notify_admin.is_empty() {
        sends.push((
            "administrator",
            vec![p.notify_admin.clone()],
            &st.templates.notify_admin,
        ));
    }
    if p.notify_sender {
        let sender = env.sender.trim_matches(|c| c == '<' || c == '>');
        let passes_check = || {
            regex::Regex::new(&p.notify_sender_check)
                .is_ok_and(|re| notify::sender_may_be_told(sender, &re))
        };
        match notify::address_problem(sender) {
            // The null sender is never told; that is no news.
            Some(why) if !sender.is_empty() => refused("sender", sender, why),
            None if passes_check() => sends.push((
                "sender",
                vec![sender.to_string()],
                &st.templates.notify_sender,
            )),
            _ => st.log.log(
                Level::Detail,
                &format!(
                    "not notifying sender <{}>: fails notify_sender_check",
                    crate::escape::field(sender)
                ),
            ),
        }
    }
    if p.notify_recipients {
        let mut to = Vec::new();
        for r in &env.recipients {
            match notify::address_problem(r) {
                Some(why) => refused("recipient", r, why),
                None => to.push(r.clone()),
            }
        }
        if !to.is_empty() {
            sends.push(("recipients", to, &st.templates.notify_recipients));
        }
    }
    for (who, to, tmpl) in sends {
        let sent = notify::compose(
            &template::expand(tmpl, vars),
            &from,
            &to,
            &st.host,
        )
        .and_then(|msg| notify::sendmail(&p.sendmail_path, &from, &to, &msg));
        match sent {
            Ok(()) => st.log.log(
                Level::Detail,
                &format!("notified {who} {}", to.join(",")),
            ),
            Err(e) => st.log.log(
                Level::Error,
                &format!("notifying {who} {}: {e}", to.join(",")),
            ),
        }
    }
}

/// `raw` may hold only the headers (or nothing) of a message of `size`.
fn log_line(st: &State, raw: &[u8], size: u64, env: &Envelope, out: &Outcome) {
    let mut line = format!(
        "queue_id={} message_id={} from=<{}> to=<{}> size={} status={} action={}",
        if env.queue_id.is_empty() { "-" } else { &env.queue_id },
        mime::message_id(raw).map_or("-".into(), |m| template::sanitize(&m)),
        template::sanitize(&env.sender),
        template::sanitize(&env.recipients.join(",")),
        size,
        out.decision
            .status
            .map_or("unscanned", |s| s.as_str())
            .replace(' ', "-"),
        action_word(out),
    );
    if !env.client.is_empty() {
        line.push_str(&format!(" client={}", template::sanitize(&env.client)));
    }
    if !env.auth_user.is_empty() {
        line.push_str(&format!(
            " user={}",
            template::sanitize(&env.auth_user)
        ));
    }
    if let Some(v) = &out.virus {
        line.push_str(&format!(" virus=\"{}\"", template::sanitize(v)));
    }
    if let Some(r) = &out.not_scanned {
        line.push_str(&format!(" reason=\"{r}\""));
    }
    if !out.removed.is_empty() {
        line.push_str(&format!(
            " removed=\"{}\"",
            template::sanitize(&out.removed.join(", "))
        ));
    }
    if let Some(q) = &out.quarantine_id {
        line.push_str(&format!(" quarantine={q}"));
    }
    if let Some(q) = &out.released {
        line.push_str(&format!(" released={q}"));
    }
    line.push_str(&format!(" time={}ms", out.elapsed.as_millis()));
    st.log.log(Level::Message, &line);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::Logger;
    use crate::runtime::Which;
    use crate::template::Templates;
    use nod32_config::{Config, OnVerdict, Processed};

    /// Assembled at run time, so that no source file carries it.
    fn eicar() -> String {
        [
            "X5O!P%@AP[4\\PZX54(P^)7CC)7}$",
            "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*",
        ]
        .concat()
    }

    fn state(which: Which) -> State {
        State {
            which,
            config: Config::default(),
            db: nod32_engine::Database::builtin(),
            templates: Templates::default(),
            users: None,
            log: Logger::stderr(which.name(), 1),
            host: "mx.example.net".into(),
            release_pub: None,
        }
    }

    fn env() -> Envelope {
        Envelope {
            sender: "bob@example.org".into(),
            recipients: vec!["alice@example.net".into()],
            queue_id: "4ABC".into(),
            ..Envelope::default()
        }
    }

    fn mixed(attachment: &str) -> Vec<u8> {
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
        assert_eq!(o.message, None);
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
        let m = o.message.unwrap();
        let parsed = mailparse::parse_mail(&m).unwrap();
        let h = |n: &str| {
            parsed
                .headers
                .iter()
                .find(|h| h.get_key() == n)
                .map(|h| h.get_value())
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
        let m = o.message.unwrap();
        let text = String::from_utf8_lossy(&m);
        assert!(!text.contains("X-NOD32Result"));
        assert!(text.contains("Subject: invoice\n"));
        assert!(text.contains(
            "See attached.\n\n-- \n__________ Information from NOD32 on mx.example.net"
        ));
        let p = Policy { header_on_clean: true, ..p };
        let m = handle(&st, &p, &raw, &env()).message.unwrap();
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
        let p = Policy {
            action_on_infected: OnVerdict::plain(Action::Accept),
            ..p
        };
        let m = handle(&st, &p, &raw, &env()).message.unwrap();
        let mut expect = b"X-NOD32Result: infected\n".to_vec();
        expect.extend_from_slice(scanned.as_bytes());
        expect.extend_from_slice(&raw);
        assert_eq!(
            String::from_utf8_lossy(&m),
            String::from_utf8_lossy(&expect)
        );
        // Clean mail only with header_on_clean, as the result header.
        let clean = mixed("harmless");
        assert_eq!(handle(&st, &p, &clean, &env()).message, None);
        let p = Policy { header_on_clean: true, ..p };
        let m = handle(&st, &p, &clean, &env()).message.unwrap();
        let mut expect = b"X-NOD32Result: clean\n".to_vec();
        expect.extend_from_slice(scanned.as_bytes());
        expect.extend_from_slice(&clean);
        assert_eq!(m, expect);
        // Off by default.
        let p = Policy { header_versions: false, ..p };
        let m = handle(&st, &p, &clean, &env()).message.unwrap();
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
        let m = handle(&st, &p, &raw, &env()).message.unwrap();
        let mut expect = b"X-NOD32Result: infected\n".to_vec();
        expect.extend_from_slice(&raw);
        assert_eq!(m, expect);
        let p = Policy { modify_signed: true, ..p };
        let m = handle(&st, &p, &raw, &env()).message.unwrap();
        assert!(
            String::from_utf8_lossy(&m).contains("Subject: [virus] invoice")
        );
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
}
