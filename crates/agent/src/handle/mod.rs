//! One message through the policy: scan, decide, clean, mark,
//! quarantine, notify, log.

use std::ops::Range;
use std::time::{Duration, Instant};

use nod32_config::{Action, Policy};
use nod32_engine::{Infection, Limits, Options, Scanner, Verdict};

use crate::edit::Edit;
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
    /// How the message passed on differs from the one received (parts
    /// cleaned, marks added), in order; empty: pass it on unchanged.
    pub edits: Vec<Edit>,
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

impl Outcome {
    /// The message to pass on, when [`Outcome::edits`] change `raw`.
    pub fn changed(&self, raw: &[u8]) -> Option<Vec<u8>> {
        (!self.edits.is_empty()).then(|| crate::edit::apply(raw, &self.edits))
    }
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
            certs: true,
        })
}

/// What clean_mode achieved.
struct Cleaned {
    /// The new body.
    edit: Edit,
    /// The message with it.
    message: Vec<u8>,
    removed: Vec<String>,
}

/// Engine-named cuts tried before each remaining part is scanned alone:
/// a message with a few infected parts costs a few whole scans, one with
/// thousands no more than one scan of each part.
const NAMED_CUTS: usize = 4;

/// Removes the parts the engine found infections in, each named by the
/// bytes of its MIME leaf (`Infection::part`), so that no part need be
/// scanned alone: the message without them is scanned whole, and a part
/// found in that scan is cut too. After [`NAMED_CUTS`] of those, or when
/// the engine names no part it can place (an mbox `From ` line in the
/// body splits the message for it), each remaining part is scanned on its
/// own and the infected ones are cut together. `None` when that does not
/// leave a clean message (the infection is in the only part, or only
/// shows in the whole).
fn clean(
    st: &State,
    scan: &Scanner<'_>,
    raw: &[u8],
    first: &Infection,
    vars: &Vars,
) -> Option<Cleaned> {
    let msg = Message::parse(raw);
    if !msg.root.is_multipart() {
        return None;
    }
    let leaves = msg.root.leaves();
    // The leaf of `m` the engine named. A cut leaf becomes one text leaf,
    // so a leaf's index holds from one cut message to the next.
    let index_in = |m: &Message<'_>, part: &Option<Range<usize>>| {
        let r = part.as_ref()?;
        let found = m.root.leaves();
        if found.len() != leaves.len() {
            return None;
        }
        found.iter().position(|l| (l.start..l.end) == *r)
    };
    // The message with the leaves `cut` (index, name found) replaced.
    let cut_out = |cut: &[(usize, String)]| {
        let mut parts = Vec::new();
        let mut removed = Vec::new();
        for (j, name) in cut {
            let leaf = leaves[*j];
            let label = leaf
                .filename
                .clone()
                .unwrap_or_else(|| format!("part {}", j + 1));
            let v = Vars {
                virus: name.clone(),
                attachment: label.clone(),
                ..vars.clone()
            };
            parts.push((
                leaf,
                template::expand(&st.templates.get().notice, &v),
            ));
            removed.push(label);
        }
        let edit = msg.replace_parts(&parts)?;
        let out = crate::edit::apply(raw, std::slice::from_ref(&edit));
        Some(Cleaned { edit, message: out, removed })
    };
    let mut cut: Vec<(usize, String)> = Vec::new();
    let mut next =
        index_in(&msg, &first.part).map(|i| (i, first.name.clone()));
    while let Some(n) = next.take() {
        if cut.len() >= NAMED_CUTS || cut.iter().any(|(j, _)| *j == n.0) {
            break;
        }
        cut.push(n);
        let c = cut_out(&cut)?;
        // The whole must now be clean, as the engine sees it.
        let report = scan.scan_bytes(&c.message);
        if !report.verdict.is_infected() {
            return Some(c);
        }
        next = report.infections.first().and_then(|f| {
            Some((
                index_in(&Message::parse(&c.message), &f.part)?,
                f.name.clone(),
            ))
        });
    }
    // Each part not cut yet, on its own (every reading of it, when its
    // headers disagree).
    for (i, leaf) in leaves.iter().enumerate() {
        if cut.iter().any(|(j, _)| *j == i) {
            continue;
        }
        let infected = msg.decoded(leaf).iter().find_map(|d| {
            match scan.scan_bytes(d).verdict {
                Verdict::Infected { name, .. } => Some(name),
                _ => None,
            }
        });
        if let Some(name) = infected {
            cut.push((i, name));
        }
    }
    if cut.is_empty() {
        return None;
    }
    let c = cut_out(&cut)?;
    (!scan.scan_bytes(&c.message).verdict.is_infected()).then_some(c)
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
        edits: Vec::new(),
        removed: Vec::new(),
        quarantine_id: None,
        released: None,
        held: false,
        why: String::new(),
        elapsed: Duration::ZERO,
    };
    let (subject, message_id) = mime::subject_and_message_id(raw);
    let mut vars = Vars {
        sender: env.sender.clone(),
        recipients: env.recipients.clone(),
        subject,
        queue_id: if env.queue_id.is_empty() {
            message_id.clone().unwrap_or_default()
        } else {
            env.queue_id.clone()
        },
        host: st.host.clone(),
        date: notify::rfc5322_date(std::time::SystemTime::now()),
        ..Vars::default()
    };
    // The message as cleaning left it, for the marks to go on.
    let mut cleaned: Option<Vec<u8>> = None;

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
        let report = scan.scan_bytes(raw);
        let status = match report.verdict {
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
            && let Some(first) = report.infections.first()
            && let Some(c) = clean(st, &scan, raw, first, &vars)
        {
            status = Status::Deleted;
            out.edits.push(c.edit);
            cleaned = Some(c.message);
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
    if out.decision.quarantine && templates_later(st, policy, &out) {
        // Templates read at their first use (nod32mda) and unreadable
        // must defer the message before the copy is stored, or each of
        // the MTA's retries would leave one more behind.
        st.templates.get();
    }
    if out.decision.quarantine {
        let meta = Meta {
            agent: st.which.name().into(),
            sender: env.sender.clone(),
            recipients: env.recipients.clone(),
            queue_id: env.queue_id.clone(),
            message_id: message_id.clone().unwrap_or_default(),
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
        let body = cleaned.as_deref().unwrap_or(raw);
        let marks = mark(st, policy, status, body, &vars);
        // A footer's body holds the cleaning already: one replacement,
        // for a milter's body packets add up to one body.
        if marks.iter().any(|e| matches!(e, Edit::ReplaceBody(_))) {
            out.edits.retain(|e| !matches!(e, Edit::ReplaceBody(_)));
        }
        out.edits.extend(marks);
    }
    vars.action = action_word(&out).into();
    out.why = crate::protocol::why(out.decision.status, out.virus.as_deref());

    if matches!(out.decision.status, Some(Status::Infected | Status::Deleted))
    {
        notify_all(st, policy, env, &vars);
    }
    log_line(st, message_id.as_deref(), raw.len() as u64, env, &out);
    out
}

/// Whether a step after the quarantine copy may read the templates: a
/// footer on a message passed on, or a notice of an infection.
fn templates_later(st: &State, p: &Policy, out: &Outcome) -> bool {
    let d = &out.decision;
    let footer = p.write_to_emails
        && d.action == Action::Accept
        && d.status.is_some()
        && st.which.may_modify();
    let notice = matches!(d.status, Some(Status::Infected | Status::Deleted))
        && (!p.notify_admin.is_empty()
            || p.notify_sender
            || p.notify_recipients);
    footer || notice
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
        edits: Vec::new(),
        removed: Vec::new(),
        quarantine_id: None,
        released: None,
        held,
        why: crate::protocol::why(d.status, None),
        elapsed: Duration::ZERO,
    };
    log_line(st, None, size, env, &out);
    out
}

/// Footer, subject tag and header, in that order, each on the message
/// the one before left.
fn mark(
    st: &State,
    p: &Policy,
    status: Status,
    body: &[u8],
    vars: &Vars,
) -> Vec<Edit> {
    let signed = mime::dkim_signed_headers(body);
    let mut m = Marks { cur: None, edits: Vec::new() };
    if p.write_to_emails && (signed.is_none() || p.modify_signed) {
        let txt = template::expand(&st.templates.get().footer_txt, vars);
        let html =
            template::expand_html(&st.templates.get().footer_html, vars);
        let e = mime::add_footer(
            &Message::parse(body),
            &txt,
            &html,
            p.modify_signed,
        );
        m.add(body, e);
    }
    if status != Status::Clean && !p.subject_tag.is_empty() {
        let covers_subject =
            signed.as_ref().is_some_and(|h| h.contains("subject"));
        if !covers_subject || p.modify_signed {
            let tag = template::expand(&p.subject_tag, vars);
            let e = mime::tag_subject(m.now(body), &tag);
            m.add(body, e);
        }
    }
    if p.write_to_header && (status != Status::Clean || p.header_on_clean) {
        // Added first, so that the result header goes above it: a milter
        // can insert only at the top, and adds any later field at the
        // end of the header.
        if p.header_versions {
            let e = mime::add_header(
                "X-Virus-Scanned",
                &crate::runtime::scanned_by(st),
            );
            m.add(body, Some(e));
        }
        let e = mime::set_header(m.now(body), &p.header_name, status.as_str());
        // The last: nothing needs the message it leaves.
        m.edits.extend(e);
    }
    m.edits
}

/// The marks made so far, and the message they leave for the next.
struct Marks {
    cur: Option<Vec<u8>>,
    edits: Vec<Edit>,
}

impl Marks {
    fn now<'a>(&'a self, body: &'a [u8]) -> &'a [u8] {
        self.cur.as_deref().unwrap_or(body)
    }

    fn add(&mut self, body: &[u8], e: impl IntoIterator<Item = Edit>) {
        let e: Vec<Edit> = e.into_iter().collect();
        if !e.is_empty() {
            self.cur = Some(crate::edit::apply(self.now(body), &e));
            self.edits.extend(e);
        }
    }
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
            &st.templates.get().notify_admin,
        ));
    }
    if p.notify_sender {
        let sender = env.sender.trim_matches(|c| c == '<' || c == '>');
        let passes_check = || {
            p.notify_sender_check
                .regex()
                .is_some_and(|re| notify::sender_may_be_told(sender, re))
        };
        match notify::address_problem(sender) {
            // The null sender is never told; that is no news.
            Some(why) if !sender.is_empty() => refused("sender", sender, why),
            None if passes_check() => sends.push((
                "sender",
                vec![sender.to_string()],
                &st.templates.get().notify_sender,
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
            sends.push((
                "recipients",
                to,
                &st.templates.get().notify_recipients,
            ));
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

/// The one line logged per message of `size` bytes (`message_id` is
/// `None` also when the message was not read).
fn log_line(
    st: &State,
    message_id: Option<&str>,
    size: u64,
    env: &Envelope,
    out: &Outcome,
) {
    if !st.log.enabled(Level::Message) {
        return;
    }
    let mut line = format!(
        "queue_id={} message_id={} from=<{}> to=<{}> size={} status={} action={}",
        if env.queue_id.is_empty() { "-" } else { &env.queue_id },
        message_id.map_or("-".into(), template::sanitize),
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
pub(crate) mod tests;
