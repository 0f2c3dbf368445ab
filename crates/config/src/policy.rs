//! The policy keys: what an agent does with a message, set in `[global]`
//! and overridden per agent.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::de;

/// What to do with a message before or after scanning it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Pass it on.
    Accept,
    /// Refuse it for now; the sender's MTA retries.
    Defer,
    /// Accept it and drop it.
    Discard,
    /// Refuse it permanently.
    Reject,
}

/// A verdict's action, optionally keeping the original in quarantine
/// (`"discard+quarantine"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OnVerdict {
    /// What happens to the message.
    pub action: Action,
    /// Whether the original is kept in `quarantine_dir` first.
    pub quarantine: bool,
}

impl OnVerdict {
    /// `action` without quarantine.
    pub const fn plain(action: Action) -> OnVerdict {
        OnVerdict { action, quarantine: false }
    }
}

impl Action {
    /// The word the configuration and the logs use.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Defer => "defer",
            Action::Discard => "discard",
            Action::Reject => "reject",
        }
    }
}

/// The first-stage action, `action_on_processed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Processed {
    /// Scan, then decide by the verdict.
    Scan,
    /// Act at once without scanning.
    Act(Action),
}

/// The MTA an MDA runs under, which decides its exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mta {
    /// Postfix (sysexits).
    Postfix,
    /// Sendmail (sysexits).
    Sendmail,
    /// Exim (sysexits).
    Exim,
    /// qmail (100 permanent, 111 temporary).
    Qmail,
}

/// The scanning and policy keys, as an agent sees them after its own
/// section has overridden `[global]`.
///
/// Read from a section, a key the section does not set keeps the value
/// of the policy read before (`[global]`'s for an agent), not
/// [`Policy::default`]'s.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default = "crate::keys::inherited_policy")]
pub struct Policy {
    /// `action_on_processed` (default `scan`).
    #[serde(deserialize_with = "de::processed")]
    pub action_on_processed: Processed,
    /// `av_enabled` (default true): scan for viruses at all.
    #[serde(deserialize_with = "de::boolean")]
    pub av_enabled: bool,
    /// `action_on_infected` (default `reject`): infected mail that was
    /// not cleaned.
    #[serde(deserialize_with = "de::verdict")]
    pub action_on_infected: OnVerdict,
    /// `action_on_uncleanable` (default `accept`): mail whose infected
    /// parts `clean_mode` removed (status `deleted`).
    #[serde(deserialize_with = "de::verdict")]
    pub action_on_uncleanable: OnVerdict,
    /// `action_on_notscanned` (default `accept`): limits, encryption,
    /// damaged content.
    #[serde(deserialize_with = "de::verdict")]
    pub action_on_notscanned: OnVerdict,
    /// `clean_mode` (default false): remove infected attachments.
    #[serde(deserialize_with = "de::boolean")]
    pub clean_mode: bool,
    /// `write_to_header` (default false): add the result header to
    /// non-clean mail.
    #[serde(deserialize_with = "de::boolean")]
    pub write_to_header: bool,
    /// `header_on_clean` (default false): with `write_to_header`, mark
    /// clean mail too.
    #[serde(deserialize_with = "de::boolean")]
    pub header_on_clean: bool,
    /// `header_name` (default `X-NOD32Result`).
    #[serde(deserialize_with = "de::header_name")]
    pub header_name: String,
    /// `header_versions` (default false): with the result header, an
    /// `X-Virus-Scanned` field naming the agent and the versions of the
    /// module's databases, as clamav-milter's names ClamAV's.
    #[serde(deserialize_with = "de::boolean")]
    pub header_versions: bool,
    /// `subject_tag` (default empty: none), e.g. `[virus %virus%]`.
    #[serde(deserialize_with = "de::string")]
    pub subject_tag: String,
    /// `write_to_emails` (default false): append the footer.
    #[serde(deserialize_with = "de::boolean")]
    pub write_to_emails: bool,
    /// `modify_signed` (default false): tag the subject and add footers
    /// to DKIM-signed mail too, which breaks its signature.
    #[serde(deserialize_with = "de::boolean")]
    pub modify_signed: bool,
    /// `template_dir` (default `/etc/nod32/templates`): footer, notice and
    /// notification templates; built-in text for any file not there.
    #[serde(deserialize_with = "de::path")]
    pub template_dir: PathBuf,
    /// `notify_admin` (default empty: none): address told of every
    /// infected message.
    #[serde(deserialize_with = "de::notify_admin")]
    pub notify_admin: String,
    /// `notify_sender` (default false): tell the sender.
    #[serde(deserialize_with = "de::boolean")]
    pub notify_sender: bool,
    /// `notify_recipients` (default false): tell the recipients.
    #[serde(deserialize_with = "de::boolean")]
    pub notify_recipients: bool,
    /// `notify_from` (default `postmaster`): envelope and From: address
    /// of notifications.
    #[serde(deserialize_with = "de::notify_from")]
    pub notify_from: String,
    /// `notify_sender_check` (default: a plain `user@domain.tld`): a
    /// regular expression the sender must match to be told; the null
    /// sender and MAILER-DAEMON never are.
    #[serde(deserialize_with = "de::pattern")]
    pub notify_sender_check: Pattern,
    /// `sendmail_path` (default `/usr/sbin/sendmail`): a `sendmail -i`
    /// compatible program that sends notifications and releases.
    #[serde(deserialize_with = "de::path")]
    pub sendmail_path: PathBuf,
    /// `user_config` (default none): per-recipient/sender settings.
    #[serde(deserialize_with = "de::user_config")]
    pub user_config: Option<PathBuf>,
    /// `max_scan_size` (default `100M`).
    #[serde(deserialize_with = "de::size")]
    pub max_scan_size: u64,
    /// `max_file_size` (default `25M`).
    #[serde(deserialize_with = "de::size")]
    pub max_file_size: u64,
    /// `max_recursion` (default 17).
    #[serde(deserialize_with = "de::ranged::<_, _, 1, 100>")]
    pub max_recursion: u32,
    /// `max_files` (default 10000).
    #[serde(deserialize_with = "de::ranged::<_, _, 1, 1_000_000>")]
    pub max_files: u32,
    /// `max_scan_time` (default `120s`).
    #[serde(deserialize_with = "de::duration")]
    pub max_scan_time: Duration,
    /// `scan_archives` (default true).
    #[serde(deserialize_with = "de::boolean")]
    pub scan_archives: bool,
    /// `scan_mail` (default true).
    #[serde(deserialize_with = "de::boolean")]
    pub scan_mail: bool,
    /// `heuristic_alerts`, `alert_encrypted_archive`,
    /// `alert_encrypted_doc`, `alert_exceeds_max`,
    /// `alert_broken_executables`, `alert_ole2_macros`,
    /// `alert_mail_executables`, `alert_mail_name_tricks`,
    /// `alert_mail_type_mismatch`, `alert_mail_malformed`,
    /// `phishing_scan_urls`, `alert_phishing_ssl`, `alert_phishing_cloak`:
    /// which heuristic alerts are raised.
    #[serde(skip)]
    pub heuristics: nod32_engine::Heuristics,
    /// `log_level` (default 4): 1 errors, 2 warnings, 3 summary, 4 one
    /// line per message, 5 partial detail, 6 full debug.
    #[serde(deserialize_with = "de::ranged::<_, _, 1, 6>")]
    pub log_level: u8,
    /// `syslog_facility` (default `mail`).
    #[serde(deserialize_with = "de::facility")]
    pub syslog_facility: String,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            action_on_processed: Processed::Scan,
            av_enabled: true,
            action_on_infected: OnVerdict::plain(Action::Reject),
            action_on_uncleanable: OnVerdict::plain(Action::Accept),
            action_on_notscanned: OnVerdict::plain(Action::Accept),
            clean_mode: false,
            write_to_header: false,
            header_on_clean: false,
            header_name: "X-NOD32Result".into(),
            header_versions: false,
            subject_tag: String::new(),
            write_to_emails: false,
            modify_signed: false,
            template_dir: "/etc/nod32/templates".into(),
            notify_admin: String::new(),
            notify_sender: false,
            notify_recipients: false,
            notify_from: "postmaster".into(),
            notify_sender_check: Pattern::unchecked(DEFAULT_SENDER_CHECK),
            sendmail_path: "/usr/sbin/sendmail".into(),
            user_config: None,
            // Debian's clamd.conf values rather than libclamav's 400M and
            // 100M: a scan holds a member in memory, so these bound what
            // one message can make a scanner allocate.
            max_scan_size: 100 << 20,
            max_file_size: 25 << 20,
            max_recursion: 17,
            max_files: 10_000,
            max_scan_time: Duration::from_secs(120),
            scan_archives: true,
            scan_mail: true,
            heuristics: nod32_engine::Heuristics::default(),
            log_level: 4,
            syslog_facility: "mail".into(),
        }
    }
}

/// The heuristic alerts' keys, read into the engine's
/// [`nod32_engine::Heuristics`] (serde's "remote" derive: the engine's
/// struct, with the configuration's names).
#[derive(Deserialize)]
#[serde(
    remote = "nod32_engine::Heuristics",
    deny_unknown_fields,
    default = "crate::keys::inherited_heuristics"
)]
pub(crate) struct HeuristicKeys {
    #[serde(rename = "heuristic_alerts", deserialize_with = "de::boolean")]
    enabled: bool,
    #[serde(
        rename = "alert_encrypted_archive",
        deserialize_with = "de::boolean"
    )]
    encrypted_archive: bool,
    #[serde(rename = "alert_encrypted_doc", deserialize_with = "de::boolean")]
    encrypted_doc: bool,
    #[serde(rename = "alert_exceeds_max", deserialize_with = "de::boolean")]
    exceeds_max: bool,
    #[serde(
        rename = "alert_broken_executables",
        deserialize_with = "de::boolean"
    )]
    broken: bool,
    #[serde(rename = "alert_ole2_macros", deserialize_with = "de::boolean")]
    macros: bool,
    #[serde(
        rename = "alert_mail_executables",
        deserialize_with = "de::boolean"
    )]
    mail_executables: bool,
    #[serde(
        rename = "alert_mail_name_tricks",
        deserialize_with = "de::boolean"
    )]
    mail_name_tricks: bool,
    #[serde(
        rename = "alert_mail_type_mismatch",
        deserialize_with = "de::boolean"
    )]
    mail_type_mismatch: bool,
    #[serde(
        rename = "alert_mail_malformed",
        deserialize_with = "de::boolean"
    )]
    mail_malformed: bool,
    #[serde(deserialize_with = "de::boolean")]
    phishing_scan_urls: bool,
    #[serde(rename = "alert_phishing_ssl", deserialize_with = "de::boolean")]
    phishing_ssl: bool,
    #[serde(
        rename = "alert_phishing_cloak",
        deserialize_with = "de::boolean"
    )]
    phishing_cloak: bool,
}

/// The default `notify_sender_check`: one `@`, a dot in the domain, no
/// spaces or brackets.
pub const DEFAULT_SENDER_CHECK: &str = r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>.]+$";

/// A regular expression from the configuration, compiled once and
/// shared by every copy of the policy that holds it.
///
/// Compiled when first used, not at load: nod32mda starts once per
/// delivery and would pay a third of a millisecond per section for a
/// check it rarely makes. A pattern set in a file is checked at load
/// ([`Pattern::checked`]), so its compiled form is there already.
#[derive(Clone, Debug)]
pub struct Pattern {
    source: std::sync::Arc<str>,
    compiled: std::sync::Arc<std::sync::OnceLock<Option<regex::Regex>>>,
}

impl Pattern {
    /// A pattern compiled when first used; [`Pattern::regex`] is `None`
    /// if it does not compile.
    pub fn unchecked(source: &str) -> Pattern {
        Pattern { source: source.into(), compiled: Default::default() }
    }

    /// A pattern compiled now.
    ///
    /// # Errors
    /// The regex crate's, when `source` is not a regular expression.
    pub fn checked(source: &str) -> Result<Pattern, regex::Error> {
        let re = regex::Regex::new(source)?;
        Ok(Pattern {
            source: source.into(),
            compiled: std::sync::Arc::new(std::sync::OnceLock::from(Some(re))),
        })
    }

    /// The compiled expression.
    pub fn regex(&self) -> Option<&regex::Regex> {
        self.compiled
            .get_or_init(|| regex::Regex::new(&self.source).ok())
            .as_ref()
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl PartialEq for Pattern {
    fn eq(&self, o: &Pattern) -> bool {
        self.source == o.source
    }
}

impl Eq for Pattern {}
