//! `nod32.toml`: the one configuration every nod32 binary reads.
//!
//! NOD32LMS's model and key names, in TOML: a `[global]` section and one
//! section per agent (`[mda]`, `[smtp]`, `[smfi]`, `[cli]`, `[upd]`). The
//! scanning and policy keys may be set in `[global]` and overridden in an
//! agent's section. Reading is two-staged, as ripgrep does it: the TOML is
//! parsed, then every key is checked and turned into a typed value, and an
//! error names the file, the key and why.
//!
//! ```
//! let cfg = nod32_config::Config::from_str_named(
//!     "[global]\naction_on_infected = \"reject\"\n[smtp]\naction_on_infected = \"defer\"\n",
//!     "nod32.toml",
//! ).unwrap();
//! // [smtp] overrides [global]; the other agents keep the global value.
//! assert_eq!(cfg.smtp.policy.action_on_infected.action, nod32_config::Action::Defer);
//! assert_eq!(cfg.mda.policy.action_on_infected.action, nod32_config::Action::Reject);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

mod user;

pub use user::UserConfig;

/// Where the binaries look for the configuration unless `-c` says.
pub const DEFAULT_PATH: &str = "/etc/nod32/nod32.toml";

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause, in the message already (not a `source`, so that
        /// a chain of causes does not print it twice).
        cause: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{file}: {reason}")]
    Syntax {
        /// The file.
        file: String,
        /// The parser's message, with line and column.
        reason: String,
    },
    /// A key is unknown or its value is wrong.
    #[error("{file}: {key}: {reason}")]
    Key {
        /// The file.
        file: String,
        /// `section.key`.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// `action_on_processed` (default `scan`).
    pub action_on_processed: Processed,
    /// `av_enabled` (default true): scan for viruses at all.
    pub av_enabled: bool,
    /// `action_on_infected` (default `reject`): infected mail that was
    /// not cleaned.
    pub action_on_infected: OnVerdict,
    /// `action_on_uncleanable` (default `accept`): mail whose infected
    /// parts `clean_mode` removed (status `deleted`).
    pub action_on_uncleanable: OnVerdict,
    /// `action_on_notscanned` (default `accept`): limits, encryption,
    /// damaged content.
    pub action_on_notscanned: OnVerdict,
    /// `clean_mode` (default false): remove infected attachments.
    pub clean_mode: bool,
    /// `write_to_header` (default false): add the result header to
    /// non-clean mail.
    pub write_to_header: bool,
    /// `header_on_clean` (default false): with `write_to_header`, mark
    /// clean mail too.
    pub header_on_clean: bool,
    /// `header_name` (default `X-NOD32Result`).
    pub header_name: String,
    /// `header_versions` (default false): with the result header, an
    /// `X-Virus-Scanned` field naming the agent and the versions of the
    /// module's databases, as clamav-milter's names ClamAV's.
    pub header_versions: bool,
    /// `subject_tag` (default empty: none), e.g. `[virus %virus%]`.
    pub subject_tag: String,
    /// `write_to_emails` (default false): append the footer.
    pub write_to_emails: bool,
    /// `modify_signed` (default false): tag the subject and add footers
    /// to DKIM-signed mail too, which breaks its signature.
    pub modify_signed: bool,
    /// `template_dir` (default `/etc/nod32/templates`): footer, notice and
    /// notification templates; built-in text for any file not there.
    pub template_dir: PathBuf,
    /// `notify_admin` (default empty: none): address told of every
    /// infected message.
    pub notify_admin: String,
    /// `notify_sender` (default false): tell the sender.
    pub notify_sender: bool,
    /// `notify_recipients` (default false): tell the recipients.
    pub notify_recipients: bool,
    /// `notify_from` (default `postmaster`): envelope and From: address
    /// of notifications.
    pub notify_from: String,
    /// `notify_sender_check` (default: a plain `user@domain.tld`): a
    /// regular expression the sender must match to be told; the null
    /// sender and MAILER-DAEMON never are.
    pub notify_sender_check: String,
    /// `sendmail_path` (default `/usr/sbin/sendmail`): a `sendmail -i`
    /// compatible program that sends notifications and releases.
    pub sendmail_path: PathBuf,
    /// `user_config` (default none): per-recipient/sender settings.
    pub user_config: Option<PathBuf>,
    /// `max_scan_size` (default `100M`).
    pub max_scan_size: u64,
    /// `max_file_size` (default `25M`).
    pub max_file_size: u64,
    /// `max_recursion` (default 17).
    pub max_recursion: u32,
    /// `max_files` (default 10000).
    pub max_files: u32,
    /// `max_scan_time` (default `120s`).
    pub max_scan_time: Duration,
    /// `scan_archives` (default true).
    pub scan_archives: bool,
    /// `scan_mail` (default true).
    pub scan_mail: bool,
    /// `heuristic_alerts`, `alert_encrypted_archive`,
    /// `alert_encrypted_doc`, `alert_exceeds_max`,
    /// `alert_broken_executables`, `alert_ole2_macros`,
    /// `alert_mail_executables`, `alert_mail_name_tricks`,
    /// `alert_mail_type_mismatch`, `alert_mail_malformed`,
    /// `phishing_scan_urls`, `alert_phishing_ssl`, `alert_phishing_cloak`:
    /// which heuristic alerts are raised.
    pub heuristics: nod32_engine::Heuristics,
    /// `log_level` (default 4): 1 errors, 2 warnings, 3 summary, 4 one
    /// line per message, 5 partial detail, 6 full debug.
    pub log_level: u8,
    /// `syslog_facility` (default `mail`).
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
            notify_sender_check: DEFAULT_SENDER_CHECK.into(),
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

/// The default `notify_sender_check`: one `@`, a dot in the domain, no
/// spaces or brackets.
pub const DEFAULT_SENDER_CHECK: &str = r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>.]+$";

/// `[global]` keys that only exist there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Global {
    /// `module` (default `/var/lib/nod32/nod32.000`): the loading module.
    pub module: PathBuf,
    /// `quarantine_dir` (default `/var/spool/nod32/quarantine`).
    pub quarantine_dir: PathBuf,
    /// `user` (default `nod32`): services drop to this user.
    pub user: String,
    /// `group` (default `nod32`).
    pub group: String,
    /// The policy keys of `[global]`.
    pub policy: Policy,
}

/// `[mda]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mda {
    /// `agent_enabled` (default true): scan; false passes mail through.
    pub agent_enabled: bool,
    /// `mda_path` (default `/usr/bin/procmail`): the real delivery agent.
    pub mda_path: PathBuf,
    /// `mta` (default `postfix`): presets the exit codes.
    pub mta: Mta,
    /// `infected_return_code` (default by `mta`: 69, qmail 100).
    pub infected_return_code: i32,
    /// `tmpfail_return_code` (default by `mta`: 75, qmail 111).
    pub tmpfail_return_code: i32,
    /// The policy as this agent sees it.
    pub policy: Policy,
}

/// `[smtp]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Smtp {
    /// `agent_enabled` (default true): false passes mail on unscanned
    /// (logged at start and on each message's line).
    pub agent_enabled: bool,
    /// `listen_addr` (default `127.0.0.1`).
    pub listen_addr: String,
    /// `listen_port` (default 2526).
    pub listen_port: u16,
    /// `server_addr` (default `127.0.0.1`): the next hop.
    pub server_addr: String,
    /// `server_port` (default 2525).
    pub server_port: u16,
    /// `listen_sock_mode` (default 0660): the unix socket's permissions
    /// when `listen_addr` is a path.
    pub listen_sock_mode: u32,
    /// `tls_cert_file` / `tls_key_file` (PEM): when both are set,
    /// STARTTLS is offered to clients.
    pub tls_cert_file: Option<PathBuf>,
    /// See `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// `server_tls` (default may): STARTTLS towards the next hop.
    pub server_tls: ServerTls,
    /// `server_tls_ca_file`: the CAs trusted with `server_tls = "verify"`.
    pub server_tls_ca_file: PathBuf,
    /// `server_tls_name`: the name the next hop's certificate must carry
    /// with `server_tls = "verify"` (default `server_addr`).
    pub server_tls_name: String,
    /// `body_in_memory` (default 1M): message bytes kept in memory
    /// before the rest is spooled to a temp file.
    pub body_in_memory: u64,
    /// `timeout` (default 10m): a client or next hop silent this long is
    /// given up (RFC 5321 4.5.3.2); a command line must also arrive
    /// whole within it.
    pub timeout: Duration,
    /// `min_data_rate` (default 500 bytes/s, 0: none): DATA and BDAT
    /// must arrive at least this fast on average after `timeout`, as
    /// Postfix's `smtpd_min_data_rate`.
    pub min_data_rate: u64,
    /// `max_connections` (default 1000): clients served at once; more
    /// get 421 4.3.2 at once.
    pub max_connections: u32,
    /// `bare_newline` (default reject): a message with a CR or LF that
    /// is not part of CR LF is refused (550 5.5.2), or, with
    /// `normalize`, sent on with such line ends made CR LF.
    pub bare_newline: BareNewline,
    /// `xforward_hosts` (default loopback): clients whose XFORWARD is
    /// taken, as Postfix's `smtpd_authorized_xforward_hosts`; addresses
    /// or networks (`10.0.0.0/8`). A unix socket's clients always are.
    pub xforward_hosts: Vec<Network>,
    /// The policy as this agent sees it.
    pub policy: Policy,
}

/// What nod32smtp does with a bare CR or LF in a message (`bare_newline`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BareNewline {
    /// 550 5.5.2: no next hop can be led to read a line end, or an end
    /// of data, that nod32smtp did not see.
    Reject,
    /// Made CR LF before the message goes on.
    Normalize,
}

/// An address or network, `192.0.2.1`, `10.0.0.0/8`, `::1`, `fd00::/8`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    addr: std::net::IpAddr,
    prefix: u8,
}

impl Network {
    /// Reads `addr` or `addr/prefix`.
    pub fn parse(s: &str) -> Option<Network> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: std::net::IpAddr =
            a.trim_start_matches('[').trim_end_matches(']').parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse().ok().filter(|&p| p <= max)?,
            None => max,
        };
        Some(Network { addr, prefix })
    }

    /// Whether `ip` is in it (an IPv4-mapped IPv6 address counts as its
    /// IPv4 address).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let p = u32::from(self.prefix);
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let m = u32::MAX.checked_shl(32 - p).unwrap_or(0);
                u32::from(n) & m == u32::from(a) & m
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let m = u128::MAX.checked_shl(128 - p).unwrap_or(0);
                u128::from(n) & m == u128::from(a) & m
            }
            _ => false,
        }
    }
}

impl Smtp {
    /// Where nod32smtp listens: `listen_addr` as a path (`/path` or
    /// `unix:/path`) is a unix socket, else TCP on `listen_port`.
    pub fn listen(&self) -> Endpoint {
        match Endpoint::parse(&self.listen_addr) {
            Some(Endpoint::Unix(p)) => Endpoint::Unix(p),
            _ => Endpoint::Tcp(self.listen_addr.clone(), self.listen_port),
        }
    }
}

/// STARTTLS towards the next hop (`server_tls`), named as Postfix's
/// `smtp_tls_security_level`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerTls {
    /// Never.
    None,
    /// When the next hop offers it, without checking its certificate.
    May,
    /// Always; a next hop without STARTTLS is a temporary failure.
    Encrypt,
    /// Always, and the certificate must chain to `server_tls_ca_file`
    /// and name `server_tls_name`.
    Verify,
}

/// Where a service listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A unix socket: `/path`, `unix:/path` or `local:/path`.
    Unix(PathBuf),
    /// TCP: `inet:PORT@HOST` (Sendmail's form), `inet:HOST:PORT`
    /// (Postfix's), `inet6:PORT@HOST`, `inet6:[HOST]:PORT`.
    Tcp(String, u16),
}

impl Endpoint {
    /// Parses the forms above.
    pub fn parse(s: &str) -> Option<Endpoint> {
        if s.starts_with('/') {
            return Some(Endpoint::Unix(s.into()));
        }
        if let Some(p) =
            s.strip_prefix("unix:").or_else(|| s.strip_prefix("local:"))
        {
            return p.starts_with('/').then(|| Endpoint::Unix(p.into()));
        }
        let rest =
            s.strip_prefix("inet:").or_else(|| s.strip_prefix("inet6:"))?;
        let (host, port) = match rest.split_once('@') {
            Some((port, host)) => (host, port),
            None => {
                let (h, p) = rest.rsplit_once(':')?;
                (h.trim_start_matches('[').trim_end_matches(']'), p)
            }
        };
        let port: u16 = port.parse().ok().filter(|p| *p > 0)?;
        if host.is_empty() {
            return None;
        }
        Some(Endpoint::Tcp(host.to_string(), port))
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
            Endpoint::Tcp(h, p) if h.contains(':') => {
                write!(f, "inet:[{h}]:{p}")
            }
            Endpoint::Tcp(h, p) => write!(f, "inet:{h}:{p}"),
        }
    }
}

/// What a milter does when it cannot decide (`on_error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    /// 4xx: the client retries (the default).
    Tempfail,
    /// Let the message through unscanned.
    Accept,
    /// 5xx.
    Reject,
}

/// `[smfi]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Smfi {
    /// `agent_enabled` (default true): false passes mail on unscanned
    /// (logged at start and on each message's line).
    pub agent_enabled: bool,
    /// `smfi_sock_path` (default `/run/nod32smfi/nod32smfi.sock`, in the
    /// unit's RuntimeDirectory, so that it goes at stop): a unix
    /// socket path or `inet:PORT@HOST` / `inet:HOST:PORT`.
    pub smfi_sock_path: Endpoint,
    /// `smfi_sock_mode` (default `0660`): the unix socket's permissions;
    /// its group is `[global].group`.
    pub smfi_sock_mode: u32,
    /// `on_error` (default tempfail): an internal fault's answer.
    pub on_error: OnError,
    /// `dry_run` (default false): log what would be done, then accept
    /// every message unchanged.
    pub dry_run: bool,
    /// `quarantine_mode` (default `store`): where a "+quarantine" action
    /// keeps the message: `store` keeps it in `quarantine_dir` as the
    /// other agents do; `hold` asks the MTA to put an accepted or
    /// discarded one on hold instead (SMFIR_QUARANTINE, Postfix's hold
    /// queue; logged as `action=hold`). A reject or defer stays one,
    /// its original stored.
    pub quarantine_hold: bool,
    /// `body_in_memory` (default 1M): body bytes held in memory per
    /// message before it is spooled to a private temp file.
    pub body_in_memory: u64,
    /// `timeout` (default 1h): a connection silent this long is closed.
    pub timeout: Duration,
    /// `max_connections` (default 1000): beyond this, new connections
    /// wait to be accepted.
    pub max_connections: u32,
    /// The policy as this agent sees it.
    pub policy: Policy,
}

/// `[cli]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cli {
    /// The policy as this agent sees it.
    pub policy: Policy,
}

/// `[upd]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upd {
    /// `agent_enabled` (default true): false makes a run say so and do
    /// nothing.
    pub agent_enabled: bool,
    /// `servers` (default none): update servers, tried in order.
    pub servers: Vec<String>,
    /// `mirror_enabled` (default false).
    pub mirror_enabled: bool,
    /// `mirror_dir` (default `/var/lib/nod32/mirror`).
    pub mirror_dir: PathBuf,
    /// `username` / `password`: HTTP basic auth for the servers (else
    /// `auth_file`, else `~/.netrc`).
    pub username: Option<String>,
    /// See `username`.
    pub password: Option<String>,
    /// `auth_file` (default `/etc/nod32/nod32.auth`): `username = ...`
    /// and `password = ...` lines.
    pub auth_file: PathBuf,
    /// `proxy`: `http://[user:pass@]host:port`.
    pub proxy: Option<String>,
    /// `databases` (default main, daily): the ClamAV databases fetched.
    /// Not bytecode by default: the engine does not run bytecode
    /// signatures yet, and bytecode alone builds a module with none
    /// that it can use but two hashes.
    pub databases: Vec<String>,
    /// `db_dir` (default `/var/lib/nod32/clamav`): where the verified
    /// databases are kept; the module is built from every file there
    /// that ClamAV would load from it as its `DatabaseDirectory`
    /// (local and third-party signature files too).
    pub db_dir: PathBuf,
    /// `local_dir` (default none): another database directory, read the
    /// same way after `db_dir`, for signatures nod32upd never writes.
    pub local_dir: Option<PathBuf>,
    /// `timeout` (default 5m) for each download.
    pub timeout: Duration,
    /// `max_download` (default 1G): a larger file is refused.
    pub max_download: u64,
    /// `cvd_key` (default ClamAV's): `MODULUS:EXPONENT` in decimal, for a
    /// private feed that signs its own CVDs.
    pub cvd_key: Option<String>,
    /// `cdiff_key` (default ClamAV's): the same for `.cdiff` files (a
    /// 2048-bit key).
    pub cdiff_key: Option<String>,
    /// `info_key` (default ClamAV's): the key of the DSIG line in a
    /// `.cld`'s `.info` member, for servers that serve `.cld` files.
    pub info_key: Option<String>,
    /// `mirror_signing_key`: the secret-key file (`nod32upd keygen`) this
    /// mirror signs its `update.ver` with.
    pub mirror_signing_key: Option<PathBuf>,
    /// `mirror_public_key`: the public key (hex) every server's signed
    /// `update.ver` must verify with; unset, `update.ver` is advisory.
    pub mirror_public_key: Option<String>,
    /// `detect_pua` (default false): the module holds the signatures of
    /// ClamAV's PUA files too, as clamd's `DetectPUA yes`.
    pub detect_pua: bool,
    /// `include_pua` (default none): only these PUA categories
    /// (`IncludePUA`); implies `detect_pua`.
    pub include_pua: Vec<String>,
    /// `exclude_pua` (default none): every PUA category but these
    /// (`ExcludePUA`); implies `detect_pua`.
    pub exclude_pua: Vec<String>,
    /// The policy as this agent sees it.
    pub policy: Policy,
}

/// The whole configuration, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// `[global]`.
    pub global: Global,
    /// `[mda]`.
    pub mda: Mda,
    /// `[smtp]`.
    pub smtp: Smtp,
    /// `[smfi]`.
    pub smfi: Smfi,
    /// `[cli]`.
    pub cli: Cli,
    /// `[upd]`.
    pub upd: Upd,
}

impl Default for Config {
    fn default() -> Config {
        Config::from_str_named("", "defaults").expect("the defaults are valid")
    }
}

const POLICY_KEYS: &[&str] = &[
    "action_on_processed",
    "av_enabled",
    "action_on_infected",
    "action_on_uncleanable",
    "action_on_notscanned",
    "clean_mode",
    "write_to_header",
    "header_name",
    "subject_tag",
    "header_on_clean",
    "header_versions",
    "write_to_emails",
    "modify_signed",
    "template_dir",
    "notify_admin",
    "notify_sender",
    "notify_recipients",
    "notify_from",
    "notify_sender_check",
    "sendmail_path",
    "user_config",
    "max_scan_size",
    "max_file_size",
    "max_recursion",
    "max_files",
    "max_scan_time",
    "scan_archives",
    "scan_mail",
    "heuristic_alerts",
    "alert_encrypted_archive",
    "alert_encrypted_doc",
    "alert_exceeds_max",
    "alert_broken_executables",
    "alert_ole2_macros",
    "alert_mail_executables",
    "alert_mail_name_tricks",
    "alert_mail_type_mismatch",
    "alert_mail_malformed",
    "phishing_scan_urls",
    "alert_phishing_ssl",
    "alert_phishing_cloak",
    "log_level",
    "syslog_facility",
];

fn section_keys(section: &str) -> Option<&'static [&'static str]> {
    Some(match section {
        "global" => &["module", "quarantine_dir", "user", "group"],
        "mda" => &[
            "agent_enabled",
            "mda_path",
            "mta",
            "infected_return_code",
            "tmpfail_return_code",
        ],
        "smtp" => &[
            "agent_enabled",
            "listen_addr",
            "listen_port",
            "server_addr",
            "server_port",
            "listen_sock_mode",
            "tls_cert_file",
            "tls_key_file",
            "server_tls",
            "server_tls_ca_file",
            "server_tls_name",
            "body_in_memory",
            "timeout",
            "min_data_rate",
            "max_connections",
            "bare_newline",
            "xforward_hosts",
        ],
        "smfi" => &[
            "agent_enabled",
            "smfi_sock_path",
            "smfi_sock_mode",
            "on_error",
            "dry_run",
            "quarantine_mode",
            "body_in_memory",
            "timeout",
            "max_connections",
        ],
        "cli" => &[],
        "upd" => &[
            "agent_enabled",
            "servers",
            "mirror_enabled",
            "mirror_dir",
            "username",
            "password",
            "auth_file",
            "proxy",
            "databases",
            "db_dir",
            "local_dir",
            "timeout",
            "max_download",
            "cvd_key",
            "cdiff_key",
            "info_key",
            "mirror_signing_key",
            "mirror_public_key",
            "detect_pua",
            "include_pua",
            "exclude_pua",
        ],
        _ => return None,
    })
}

/// Reads values out of one section, naming the key in every error.
struct Section<'a> {
    file: &'a str,
    name: &'a str,
    table: Option<&'a toml::Table>,
    /// Directory of the file, for relative `user_config` paths.
    base: &'a Path,
}

impl Section<'_> {
    fn err(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Key {
            file: self.file.to_string(),
            key: format!("{}.{key}", self.name),
            reason: reason.into(),
        }
    }

    fn get(&self, key: &str) -> Option<&toml::Value> {
        self.table.and_then(|t| t.get(key))
    }

    fn bool(&self, key: &str, into: &mut bool) -> Result<(), ConfigError> {
        match self.get(key) {
            None => Ok(()),
            Some(toml::Value::Boolean(b)) => {
                *into = *b;
                Ok(())
            }
            Some(_) => Err(self.err(key, "expected true or false")),
        }
    }

    fn string(&self, key: &str, into: &mut String) -> Result<(), ConfigError> {
        match self.get(key) {
            None => Ok(()),
            Some(toml::Value::String(s)) => {
                *into = s.clone();
                Ok(())
            }
            Some(_) => Err(self.err(key, "expected a string")),
        }
    }

    /// A file mode written as an octal string ("0660").
    fn mode(&self, key: &str, default: u32) -> Result<u32, ConfigError> {
        let mut mode = String::new();
        self.string(key, &mut mode)?;
        if mode.is_empty() {
            return Ok(default);
        }
        u32::from_str_radix(&mode, 8).ok().filter(|m| *m <= 0o777).ok_or_else(
            || {
                self.err(
                    key,
                    format!("'{mode}' is not an octal mode such as \"0660\""),
                )
            },
        )
    }

    fn path(&self, key: &str, into: &mut PathBuf) -> Result<(), ConfigError> {
        let mut s = into.to_string_lossy().into_owned();
        self.string(key, &mut s)?;
        if s.is_empty() {
            return Err(self.err(key, "expected a path, not an empty string"));
        }
        *into = PathBuf::from(s);
        Ok(())
    }

    fn int<T: TryFrom<i64>>(
        &self,
        key: &str,
        into: &mut T,
        range: (i64, i64),
    ) -> Result<(), ConfigError> {
        match self.get(key) {
            None => Ok(()),
            Some(toml::Value::Integer(i))
                if (range.0..=range.1).contains(i) =>
            {
                *into = T::try_from(*i)
                    .map_err(|_| self.err(key, "out of range"))?;
                Ok(())
            }
            Some(toml::Value::Integer(i)) => Err(self.err(
                key,
                format!("{i} is out of range ({}..={})", range.0, range.1),
            )),
            Some(_) => Err(self.err(key, "expected a whole number")),
        }
    }

    fn size(&self, key: &str, into: &mut u64) -> Result<(), ConfigError> {
        match self.get(key) {
            None => Ok(()),
            Some(toml::Value::Integer(i)) if *i >= 0 => {
                *into = *i as u64;
                Ok(())
            }
            Some(toml::Value::String(s)) => {
                *into = parse_size(s).ok_or_else(|| {
                    self.err(key, format!("'{s}' is not a size (bytes, or a number with K, M or G)"))
                })?;
                Ok(())
            }
            Some(_) => Err(self.err(key, "expected a size such as \"100M\"")),
        }
    }

    fn duration(
        &self,
        key: &str,
        into: &mut Duration,
    ) -> Result<(), ConfigError> {
        match self.get(key) {
            None => Ok(()),
            Some(toml::Value::Integer(i)) if *i >= 0 => {
                *into = Duration::from_secs(*i as u64);
                Ok(())
            }
            Some(toml::Value::String(s)) => {
                *into = parse_duration(s).ok_or_else(|| {
                    self.err(key, format!("'{s}' is not a duration (seconds, or a number with s, m or h)"))
                })?;
                Ok(())
            }
            Some(_) => {
                Err(self.err(key, "expected a duration such as \"120s\""))
            }
        }
    }

    fn action(
        &self,
        key: &str,
        into: &mut OnVerdict,
    ) -> Result<(), ConfigError> {
        let Some(v) = self.get(key) else { return Ok(()) };
        let s =
            v.as_str().ok_or_else(|| self.err(key, "expected a string"))?;
        let (word, quarantine) = match s.strip_suffix("+quarantine") {
            Some(w) => (w, true),
            None => (s, false),
        };
        let action = parse_action(word).ok_or_else(|| {
            self.err(
                key,
                format!(
                    "'{s}' is not an action (accept, defer, discard, reject, \
                     each optionally followed by +quarantine)"
                ),
            )
        })?;
        *into = OnVerdict { action, quarantine };
        Ok(())
    }

    /// Applies this section's policy keys on top of `p`.
    fn policy(&self, p: &mut Policy) -> Result<(), ConfigError> {
        if let Some(v) = self.get("action_on_processed") {
            let s = v.as_str().ok_or_else(|| {
                self.err("action_on_processed", "expected a string")
            })?;
            p.action_on_processed = match s {
                "scan" => Processed::Scan,
                other => Processed::Act(parse_action(other).ok_or_else(|| {
                    self.err(
                        "action_on_processed",
                        format!("'{s}' is not an action (accept, scan, defer, discard, reject)"),
                    )
                })?),
            };
        }
        self.bool("av_enabled", &mut p.av_enabled)?;
        self.action("action_on_infected", &mut p.action_on_infected)?;
        self.action("action_on_uncleanable", &mut p.action_on_uncleanable)?;
        self.action("action_on_notscanned", &mut p.action_on_notscanned)?;
        self.bool("clean_mode", &mut p.clean_mode)?;
        self.bool("write_to_header", &mut p.write_to_header)?;
        self.bool("header_on_clean", &mut p.header_on_clean)?;
        self.bool("header_versions", &mut p.header_versions)?;
        self.string("header_name", &mut p.header_name)?;
        if !p.header_name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
            || p.header_name.is_empty()
        {
            return Err(self.err(
                "header_name",
                "a header name is printable ASCII without ':' or spaces",
            ));
        }
        self.string("subject_tag", &mut p.subject_tag)?;
        self.bool("write_to_emails", &mut p.write_to_emails)?;
        self.bool("modify_signed", &mut p.modify_signed)?;
        self.path("template_dir", &mut p.template_dir)?;
        self.string("notify_admin", &mut p.notify_admin)?;
        if !p.notify_admin.is_empty() && !plausible_address(&p.notify_admin) {
            return Err(self.err("notify_admin", "expected user@domain"));
        }
        self.bool("notify_sender", &mut p.notify_sender)?;
        self.bool("notify_recipients", &mut p.notify_recipients)?;
        self.string("notify_from", &mut p.notify_from)?;
        if p.notify_from.is_empty()
            || p.notify_from.bytes().any(|b| b <= b' ' || b"<>\"".contains(&b))
        {
            return Err(self.err(
                "notify_from",
                "expected an address without spaces or brackets",
            ));
        }
        // Compiled only when set here: compiling costs nod32mda, which
        // starts once per delivery, a third of a millisecond per section.
        let own_check = self.get("notify_sender_check").is_some();
        self.string("notify_sender_check", &mut p.notify_sender_check)?;
        if own_check && let Err(e) = regex::Regex::new(&p.notify_sender_check)
        {
            return Err(self.err(
                "notify_sender_check",
                format!("not a regular expression: {e}"),
            ));
        }
        self.path("sendmail_path", &mut p.sendmail_path)?;
        if self.get("user_config").is_some() {
            let mut s = String::new();
            self.string("user_config", &mut s)?;
            let path = self.base.join(&s);
            if let Err(e) = std::fs::File::open(&path) {
                return Err(self.err(
                    "user_config",
                    format!("cannot read {}: {e}", path.display()),
                ));
            }
            // Its own errors name its own file and section.
            UserConfig::load(&path)?;
            p.user_config = Some(path);
        }
        self.size("max_scan_size", &mut p.max_scan_size)?;
        self.size("max_file_size", &mut p.max_file_size)?;
        self.int("max_recursion", &mut p.max_recursion, (1, 100))?;
        self.int("max_files", &mut p.max_files, (1, 1_000_000))?;
        self.duration("max_scan_time", &mut p.max_scan_time)?;
        self.bool("scan_archives", &mut p.scan_archives)?;
        self.bool("scan_mail", &mut p.scan_mail)?;
        let h = &mut p.heuristics;
        self.bool("heuristic_alerts", &mut h.enabled)?;
        self.bool("alert_encrypted_archive", &mut h.encrypted_archive)?;
        self.bool("alert_encrypted_doc", &mut h.encrypted_doc)?;
        self.bool("alert_exceeds_max", &mut h.exceeds_max)?;
        self.bool("alert_broken_executables", &mut h.broken)?;
        self.bool("alert_ole2_macros", &mut h.macros)?;
        self.bool("alert_mail_executables", &mut h.mail_executables)?;
        self.bool("alert_mail_name_tricks", &mut h.mail_name_tricks)?;
        self.bool("alert_mail_type_mismatch", &mut h.mail_type_mismatch)?;
        self.bool("alert_mail_malformed", &mut h.mail_malformed)?;
        self.bool("phishing_scan_urls", &mut h.phishing_scan_urls)?;
        self.bool("alert_phishing_ssl", &mut h.phishing_ssl)?;
        self.bool("alert_phishing_cloak", &mut h.phishing_cloak)?;
        self.int("log_level", &mut p.log_level, (1, 6))?;
        self.string("syslog_facility", &mut p.syslog_facility)?;
        const FACILITIES: &[&str] = &[
            "mail", "daemon", "user", "local0", "local1", "local2", "local3",
            "local4", "local5", "local6", "local7",
        ];
        if !FACILITIES.contains(&p.syslog_facility.as_str()) {
            return Err(self.err(
                "syslog_facility",
                format!(
                    "'{}' is not one of {}",
                    p.syslog_facility,
                    FACILITIES.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

/// An address `notify_admin` may name: `user@domain`, nothing that a
/// command line or a header could misread.
fn plausible_address(s: &str) -> bool {
    let mut it = s.splitn(2, '@');
    let (Some(user), Some(domain)) = (it.next(), it.next()) else {
        return false;
    };
    !user.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !s.starts_with('-')
        && s.bytes().all(|b| b.is_ascii_graphic() && !b"<>\"(),;".contains(&b))
}

/// Parses TOML, naming the file in the error.
fn parse_toml(text: &str, file: &str) -> Result<toml::Table, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Syntax {
        file: file.to_string(),
        reason: e.to_string().trim_end().to_string(),
    })
}

fn parse_action(s: &str) -> Option<Action> {
    Some(match s {
        "accept" => Action::Accept,
        "defer" => Action::Defer,
        "discard" => Action::Discard,
        "reject" => Action::Reject,
        _ => return None,
    })
}

/// `123`, `100K`, `100M`, `2G` (powers of 1024, as ClamAV's limits).
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mul) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&s[..i], 1 << 20),
        (i, 'g' | 'G') => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mul)
}

/// `120`, `120s`, `2m`, `1h`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, mul) = match s.char_indices().last()? {
        (i, 's') => (&s[..i], 1u64),
        (i, 'm') => (&s[..i], 60),
        (i, 'h') => (&s[..i], 3600),
        _ => (s, 1),
    };
    Some(Duration::from_secs(num.parse::<u64>().ok()?.checked_mul(mul)?))
}

impl Config {
    /// Reads a configuration file.
    ///
    /// # Errors
    /// An unreadable file, bad TOML, or any key that is unknown or wrong.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            ConfigError::Io { path: path.to_path_buf(), cause: source }
        })?;
        Config::parse(
            &text,
            &path.to_string_lossy(),
            path.parent().unwrap_or(Path::new(".")),
        )
    }

    /// Reads the configuration at `path`, or the built-in defaults when
    /// `path` is the default location and nothing is installed there.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn load_or_default(path: &Path) -> Result<Config, ConfigError> {
        if path == Path::new(DEFAULT_PATH) && !path.exists() {
            return Ok(Config::default());
        }
        Config::load(path)
    }

    /// Parses configuration text; `name` names it in errors.
    ///
    /// # Errors
    /// Bad TOML, or any key that is unknown or wrong.
    pub fn from_str_named(
        text: &str,
        name: &str,
    ) -> Result<Config, ConfigError> {
        Config::parse(text, name, Path::new("."))
    }

    fn parse(
        text: &str,
        file: &str,
        base: &Path,
    ) -> Result<Config, ConfigError> {
        let doc: toml::Table = parse_toml(text, file)?;
        for (name, value) in &doc {
            let Some(own) = section_keys(name) else {
                return Err(ConfigError::Key {
                    file: file.to_string(),
                    key: name.clone(),
                    reason: "unknown section (expected global, mda, smtp, smfi, cli or upd)".into(),
                });
            };
            let table = value.as_table().ok_or_else(|| ConfigError::Key {
                file: file.to_string(),
                key: name.clone(),
                reason: "expected a [section]".into(),
            })?;
            for key in table.keys() {
                if !own.contains(&key.as_str())
                    && !POLICY_KEYS.contains(&key.as_str())
                {
                    return Err(ConfigError::Key {
                        file: file.to_string(),
                        key: format!("{name}.{key}"),
                        reason: "unknown key".into(),
                    });
                }
            }
        }
        let section = |name: &'static str| Section {
            file,
            name,
            table: doc.get(name).and_then(|v| v.as_table()),
            base,
        };

        let g = section("global");
        let mut policy = Policy::default();
        g.policy(&mut policy)?;
        let mut global = Global {
            module: "/var/lib/nod32/nod32.000".into(),
            quarantine_dir: "/var/spool/nod32/quarantine".into(),
            user: "nod32".into(),
            group: "nod32".into(),
            policy: policy.clone(),
        };
        g.path("module", &mut global.module)?;
        g.path("quarantine_dir", &mut global.quarantine_dir)?;
        g.string("user", &mut global.user)?;
        g.string("group", &mut global.group)?;

        // Each agent starts from [global] and applies its own section.
        let agent_policy = |s: &Section<'_>| -> Result<Policy, ConfigError> {
            let mut p = policy.clone();
            s.policy(&mut p)?;
            Ok(p)
        };

        let m = section("mda");
        let mut mta = Mta::Postfix;
        if let Some(v) = m.get("mta") {
            mta = match v.as_str() {
                Some("postfix") => Mta::Postfix,
                Some("sendmail") => Mta::Sendmail,
                Some("exim") => Mta::Exim,
                Some("qmail") => Mta::Qmail,
                _ => {
                    return Err(m.err(
                        "mta",
                        "expected postfix, sendmail, exim or qmail",
                    ));
                }
            };
        }
        let (inf, tmp) = if mta == Mta::Qmail { (100, 111) } else { (69, 75) };
        let mut mda = Mda {
            agent_enabled: true,
            mda_path: "/usr/bin/procmail".into(),
            mta,
            infected_return_code: inf,
            tmpfail_return_code: tmp,
            policy: agent_policy(&m)?,
        };
        m.bool("agent_enabled", &mut mda.agent_enabled)?;
        m.path("mda_path", &mut mda.mda_path)?;
        m.int(
            "infected_return_code",
            &mut mda.infected_return_code,
            (1, 255),
        )?;
        m.int("tmpfail_return_code", &mut mda.tmpfail_return_code, (1, 255))?;

        let s = section("smtp");
        let mut smtp = Smtp {
            agent_enabled: true,
            listen_addr: "127.0.0.1".into(),
            listen_port: 2526,
            server_addr: "127.0.0.1".into(),
            server_port: 2525,
            listen_sock_mode: 0o660,
            tls_cert_file: None,
            tls_key_file: None,
            server_tls: ServerTls::May,
            server_tls_ca_file: "/etc/ssl/certs/ca-certificates.crt".into(),
            server_tls_name: String::new(),
            body_in_memory: 1 << 20,
            timeout: Duration::from_secs(600),
            min_data_rate: 500,
            max_connections: 1000,
            bare_newline: BareNewline::Reject,
            xforward_hosts: ["127.0.0.0/8", "::1"]
                .iter()
                .filter_map(|n| Network::parse(n))
                .collect(),
            policy: agent_policy(&s)?,
        };
        s.bool("agent_enabled", &mut smtp.agent_enabled)?;
        s.string("listen_addr", &mut smtp.listen_addr)?;
        s.int("listen_port", &mut smtp.listen_port, (1, 65535))?;
        s.string("server_addr", &mut smtp.server_addr)?;
        s.int("server_port", &mut smtp.server_port, (1, 65535))?;
        smtp.listen_sock_mode = s.mode("listen_sock_mode", 0o660)?;
        for (key, into) in [
            ("tls_cert_file", &mut smtp.tls_cert_file),
            ("tls_key_file", &mut smtp.tls_key_file),
        ] {
            if s.get(key).is_some() {
                let mut p = PathBuf::new();
                s.path(key, &mut p)?;
                *into = Some(p);
            }
        }
        if smtp.tls_cert_file.is_some() != smtp.tls_key_file.is_some() {
            return Err(s.err(
                "tls_cert_file",
                "tls_cert_file and tls_key_file go together",
            ));
        }
        let mut tls = String::new();
        s.string("server_tls", &mut tls)?;
        smtp.server_tls = match tls.as_str() {
            "" | "may" => ServerTls::May,
            "none" => ServerTls::None,
            "encrypt" => ServerTls::Encrypt,
            "verify" => ServerTls::Verify,
            o => {
                return Err(s.err(
                    "server_tls",
                    format!("'{o}' is not none, may, encrypt or verify"),
                ));
            }
        };
        s.path("server_tls_ca_file", &mut smtp.server_tls_ca_file)?;
        s.string("server_tls_name", &mut smtp.server_tls_name)?;
        if smtp.server_tls_name.is_empty() {
            smtp.server_tls_name = smtp.server_addr.clone();
        }
        s.size("body_in_memory", &mut smtp.body_in_memory)?;
        s.duration("timeout", &mut smtp.timeout)?;
        s.size("min_data_rate", &mut smtp.min_data_rate)?;
        s.int("max_connections", &mut smtp.max_connections, (1, 100_000))?;
        let mut bare = String::new();
        s.string("bare_newline", &mut bare)?;
        smtp.bare_newline = match bare.as_str() {
            "" | "reject" => BareNewline::Reject,
            "normalize" => BareNewline::Normalize,
            o => {
                return Err(s.err(
                    "bare_newline",
                    format!("'{o}' is not reject or normalize"),
                ));
            }
        };
        if let Some(v) = s.get("xforward_hosts") {
            let bad = || {
                s.err(
                    "xforward_hosts",
                    "expected a list of addresses or networks (\"10.0.0.0/8\")",
                )
            };
            smtp.xforward_hosts = v
                .as_array()
                .ok_or_else(bad)?
                .iter()
                .map(|n| n.as_str().and_then(Network::parse).ok_or_else(bad))
                .collect::<Result<_, _>>()?;
        }

        let f = section("smfi");
        let mut smfi = Smfi {
            agent_enabled: true,
            smfi_sock_path: Endpoint::Unix(
                "/run/nod32smfi/nod32smfi.sock".into(),
            ),
            smfi_sock_mode: 0o660,
            on_error: OnError::Tempfail,
            dry_run: false,
            quarantine_hold: false,
            body_in_memory: 1 << 20,
            timeout: Duration::from_secs(3600),
            max_connections: 1000,
            policy: agent_policy(&f)?,
        };
        f.bool("agent_enabled", &mut smfi.agent_enabled)?;
        let mut sock = String::new();
        f.string("smfi_sock_path", &mut sock)?;
        if !sock.is_empty() {
            smfi.smfi_sock_path = Endpoint::parse(&sock).ok_or_else(|| {
                f.err(
                    "smfi_sock_path",
                    format!("'{sock}' is not /path, unix:/path, inet:PORT@HOST or inet:HOST:PORT"),
                )
            })?;
        }
        smfi.smfi_sock_mode = f.mode("smfi_sock_mode", 0o660)?;
        let mut on_error = String::new();
        f.string("on_error", &mut on_error)?;
        smfi.on_error = match on_error.as_str() {
            "" | "tempfail" => OnError::Tempfail,
            "accept" => OnError::Accept,
            "reject" => OnError::Reject,
            o => {
                return Err(f.err(
                    "on_error",
                    format!("'{o}' is not tempfail, accept or reject"),
                ));
            }
        };
        f.bool("dry_run", &mut smfi.dry_run)?;
        let mut qm = String::new();
        f.string("quarantine_mode", &mut qm)?;
        smfi.quarantine_hold = match qm.as_str() {
            "hold" => true,
            "" | "store" => false,
            o => {
                return Err(f.err(
                    "quarantine_mode",
                    format!("'{o}' is not hold or store"),
                ));
            }
        };
        f.size("body_in_memory", &mut smfi.body_in_memory)?;
        f.duration("timeout", &mut smfi.timeout)?;
        f.int("max_connections", &mut smfi.max_connections, (1, 100_000))?;

        let c = section("cli");
        let cli = Cli { policy: agent_policy(&c)? };

        let u = section("upd");
        let mut upd = Upd {
            agent_enabled: true,
            servers: Vec::new(),
            mirror_enabled: false,
            mirror_dir: "/var/lib/nod32/mirror".into(),
            username: None,
            password: None,
            auth_file: "/etc/nod32/nod32.auth".into(),
            proxy: None,
            databases: ["main", "daily"].map(String::from).to_vec(),
            db_dir: "/var/lib/nod32/clamav".into(),
            local_dir: None,
            timeout: Duration::from_secs(300),
            max_download: 1 << 30,
            cvd_key: None,
            cdiff_key: None,
            info_key: None,
            mirror_signing_key: None,
            mirror_public_key: None,
            detect_pua: false,
            include_pua: Vec::new(),
            exclude_pua: Vec::new(),
            policy: agent_policy(&u)?,
        };
        u.bool("agent_enabled", &mut upd.agent_enabled)?;
        if let Some(v) = u.get("servers") {
            let list = v
                .as_array()
                .ok_or_else(|| u.err("servers", "expected a list of URLs"))?;
            upd.servers = list
                .iter()
                .map(|s| {
                    s.as_str()
                        .filter(|s| {
                            s.starts_with("http://")
                                || s.starts_with("https://")
                        })
                        .map(str::to_string)
                        .ok_or_else(|| {
                            u.err(
                                "servers",
                                "every server is an http:// or https:// URL",
                            )
                        })
                })
                .collect::<Result<_, _>>()?;
        }
        u.bool("mirror_enabled", &mut upd.mirror_enabled)?;
        u.path("mirror_dir", &mut upd.mirror_dir)?;
        for (key, into) in [
            ("username", &mut upd.username),
            ("password", &mut upd.password),
            ("proxy", &mut upd.proxy),
            ("cvd_key", &mut upd.cvd_key),
            ("cdiff_key", &mut upd.cdiff_key),
            ("info_key", &mut upd.info_key),
            ("mirror_public_key", &mut upd.mirror_public_key),
        ] {
            if u.get(key).is_some() {
                let mut v = String::new();
                u.string(key, &mut v)?;
                *into = Some(v);
            }
        }
        if upd.username.is_some() != upd.password.is_some() {
            return Err(u.err("username", "username and password go together"));
        }
        if let Some(p) = &upd.proxy
            && !p.starts_with("http://")
            && !p.starts_with("https://")
            && !p.starts_with("socks")
        {
            return Err(
                u.err("proxy", format!("'{p}' is not http://host:port"))
            );
        }
        for (key, v) in
            [("cvd_key", &upd.cvd_key), ("cdiff_key", &upd.cdiff_key)]
        {
            let Some(k) = v else { continue };
            let ok = k.split_once(':').is_some_and(|(n, e)| {
                !n.is_empty()
                    && !e.is_empty()
                    && n.bytes().chain(e.bytes()).all(|b| b.is_ascii_digit())
            });
            if !ok {
                return Err(
                    u.err(key, "expected MODULUS:EXPONENT, both decimal")
                );
            }
        }
        if u.get("mirror_signing_key").is_some() {
            let mut p = PathBuf::new();
            u.path("mirror_signing_key", &mut p)?;
            upd.mirror_signing_key = Some(p);
        }
        if let Some(k) = &upd.mirror_public_key
            && (k.len() != 64 || !k.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Err(u.err(
                "mirror_public_key",
                "expected 64 hex digits (nod32upd keygen prints them)",
            ));
        }
        u.path("auth_file", &mut upd.auth_file)?;
        u.path("db_dir", &mut upd.db_dir)?;
        if u.get("local_dir").is_some() {
            let mut p = PathBuf::new();
            u.path("local_dir", &mut p)?;
            upd.local_dir = Some(p);
        }
        u.duration("timeout", &mut upd.timeout)?;
        u.size("max_download", &mut upd.max_download)?;
        u.bool("detect_pua", &mut upd.detect_pua)?;
        for (key, into) in [
            ("include_pua", &mut upd.include_pua),
            ("exclude_pua", &mut upd.exclude_pua),
        ] {
            let Some(v) = u.get(key) else { continue };
            *into = v
                .as_array()
                .and_then(|a| {
                    a.iter()
                        .map(|c| {
                            c.as_str()
                                .filter(|c| {
                                    !c.is_empty()
                                        && !c.contains(char::is_whitespace)
                                })
                                .map(str::to_string)
                        })
                        .collect()
                })
                .ok_or_else(|| {
                    u.err(
                        key,
                        "expected a list of categories such as [\"Win.Tool\"]",
                    )
                })?;
        }
        if !upd.include_pua.is_empty() && !upd.exclude_pua.is_empty() {
            return Err(u.err(
                "include_pua",
                "include_pua and exclude_pua cannot be used together (as in ClamAV)",
            ));
        }
        if let Some(v) = u.get("databases") {
            let list = v.as_array().ok_or_else(|| {
                u.err("databases", "expected a list of names")
            })?;
            upd.databases = list
                .iter()
                .map(|s| {
                    s.as_str()
                        .filter(|s| {
                            !s.is_empty()
                                && s.bytes().all(|b| {
                                    b.is_ascii_alphanumeric() || b == b'_'
                                })
                        })
                        .map(str::to_string)
                        .ok_or_else(|| {
                            u.err(
                                "databases",
                                "every name is a word such as \"daily\"",
                            )
                        })
                })
                .collect::<Result<_, _>>()?;
        }

        Ok(Config { global, mda, smtp, smfi, cli, upd })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Config::from_str_named(text, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn pua_keys() {
        let parse = |t: &str| Config::from_str_named(t, "t.toml");
        let c = parse("[upd]\ninclude_pua = [\"Win.Tool\", \"Packed\"]\n")
            .unwrap();
        assert_eq!(c.upd.include_pua, ["Win.Tool", "Packed"]);
        assert!(!c.upd.detect_pua && c.upd.exclude_pua.is_empty());
        let both = "[upd]\ninclude_pua = [\"A\"]\nexclude_pua = [\"B\"]\n";
        assert!(err(both).contains("cannot be used together"));
        assert!(parse("[upd]\nexclude_pua = [\"\"]\n").is_err());
        assert!(parse("[upd]\ndetect_pua = \"yes\"\n").is_err());
    }

    #[test]
    fn the_shipped_file_is_the_defaults() {
        let shipped = include_str!("../../../config/nod32.toml");
        let parsed =
            Config::from_str_named(shipped, "config/nod32.toml").unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn agents_override_global() {
        let c = Config::from_str_named(
            "[global]\naction_on_infected = \"discard\"\nmax_file_size = \"10M\"\n\
             [smtp]\naction_on_infected = \"defer\"\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.smtp.policy.action_on_infected.action, Action::Defer);
        assert_eq!(
            c.smfi.policy.action_on_infected,
            OnVerdict::plain(Action::Discard)
        );
        assert_eq!(c.mda.policy.max_file_size, 10 << 20);
    }

    #[test]
    fn quarantine_rides_on_an_action() {
        let c = Config::from_str_named(
            "[global]\naction_on_infected = \"discard+quarantine\"\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(
            c.smtp.policy.action_on_infected,
            OnVerdict { action: Action::Discard, quarantine: true }
        );
        assert!(!c.smtp.policy.action_on_notscanned.quarantine);
    }

    #[test]
    fn mta_presets() {
        let q =
            Config::from_str_named("[mda]\nmta = \"qmail\"\n", "t").unwrap();
        assert_eq!(
            (q.mda.infected_return_code, q.mda.tmpfail_return_code),
            (100, 111)
        );
        let p = Config::default();
        assert_eq!(
            (p.mda.infected_return_code, p.mda.tmpfail_return_code),
            (69, 75)
        );
        let o = Config::from_str_named(
            "[mda]\nmta = \"qmail\"\ntmpfail_return_code = 75\n",
            "t",
        )
        .unwrap();
        assert_eq!(o.mda.tmpfail_return_code, 75);
    }

    #[test]
    fn errors_name_file_key_and_why() {
        assert_eq!(
            err("[smtp]\nfrobnicate = 1\n"),
            "t.toml: smtp.frobnicate: unknown key"
        );
        assert_eq!(
            err("[global]\naction_on_infected = \"explode\"\n"),
            "t.toml: global.action_on_infected: 'explode' is not an action (accept, defer, discard, reject, each optionally followed by +quarantine)"
        );
        assert_eq!(
            err("[mda]\nnotify_sender_check = \"(\"\n")
                .lines()
                .next()
                .unwrap(),
            "t.toml: mda.notify_sender_check: not a regular expression: regex parse error:"
        );
        assert_eq!(
            err("[smtp]\nnotify_admin = \"-oQ/tmp\"\n"),
            "t.toml: smtp.notify_admin: expected user@domain"
        );
        assert_eq!(
            err("[cli]\nmax_file_size = \"12Q\"\n"),
            "t.toml: cli.max_file_size: '12Q' is not a size (bytes, or a number with K, M or G)"
        );
        assert!(err("[global]\nuser_config = \"/nonexistent/users.toml\"\n")
            .starts_with("t.toml: global.user_config: cannot read /nonexistent/users.toml:"));
        assert_eq!(
            err("[nope]\n"),
            "t.toml: nope: unknown section (expected global, mda, smtp, smfi, cli or upd)"
        );
        assert!(
            err("[global\n").starts_with("t.toml: TOML parse error"),
            "{}",
            err("[global\n")
        );
        assert_eq!(
            err("[smtp]\nlisten_port = 70000\n"),
            "t.toml: smtp.listen_port: 70000 is out of range (1..=65535)"
        );
    }

    #[test]
    fn milter_endpoints_and_keys() {
        let t = |s: &str| Endpoint::parse(s);
        assert_eq!(
            t("/run/m.sock"),
            Some(Endpoint::Unix("/run/m.sock".into()))
        );
        assert_eq!(
            t("local:/run/m.sock"),
            Some(Endpoint::Unix("/run/m.sock".into()))
        );
        assert_eq!(
            t("inet:8890@127.0.0.1"),
            Some(Endpoint::Tcp("127.0.0.1".into(), 8890))
        );
        assert_eq!(
            t("inet:localhost:8890"),
            Some(Endpoint::Tcp("localhost".into(), 8890))
        );
        assert_eq!(
            t("inet6:[::1]:8890"),
            Some(Endpoint::Tcp("::1".into(), 8890))
        );
        assert_eq!(
            t("inet6:8890@::1"),
            Some(Endpoint::Tcp("::1".into(), 8890))
        );
        for bad in [
            "unix:rel", "inet:0@h", "inet:h", "inet:x@", "tcp:1@h", "rel/path",
        ] {
            assert_eq!(t(bad), None, "{bad}");
        }
        assert_eq!(Endpoint::Tcp("::1".into(), 5).to_string(), "inet:[::1]:5");
        let c = Config::from_str_named(
            "[smfi]\nsmfi_sock_path = \"inet:8890@127.0.0.1\"\nsmfi_sock_mode = \"0666\"\n\
             on_error = \"accept\"\nquarantine_mode = \"hold\"\ndry_run = true\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.smfi.smfi_sock_mode, 0o666);
        assert_eq!(c.smfi.on_error, OnError::Accept);
        assert!(c.smfi.quarantine_hold && c.smfi.dry_run);
        assert!(!Config::default().smfi.quarantine_hold);
        let err = |t: &str| {
            Config::from_str_named(t, "t.toml").unwrap_err().to_string()
        };
        assert_eq!(
            err("[smfi]\non_error = \"maybe\"\n"),
            "t.toml: smfi.on_error: 'maybe' is not tempfail, accept or reject"
        );
        assert!(
            err("[smfi]\nsmfi_sock_path = \"inet:x\"\n")
                .starts_with("t.toml: smfi.smfi_sock_path: 'inet:x' is not")
        );
        assert!(
            err("[smfi]\nsmfi_sock_mode = \"999\"\n")
                .contains("not an octal mode")
        );
    }

    #[test]
    fn smtp_listens_on_tcp_or_a_unix_socket_with_tls_keys() {
        let c = Config::from_str_named("", "t.toml").unwrap();
        assert_eq!(c.smtp.listen(), Endpoint::Tcp("127.0.0.1".into(), 2526));
        assert_eq!(c.smtp.server_tls, ServerTls::May);
        assert_eq!(c.smtp.server_tls_name, "127.0.0.1");
        assert!(c.smtp.tls_cert_file.is_none());
        let c = Config::from_str_named(
            "[smtp]\nlisten_addr = \"unix:/run/nod32smtp.sock\"\n\
             listen_sock_mode = \"0666\"\ntls_cert_file = \"/c.pem\"\n\
             tls_key_file = \"/k.pem\"\nserver_tls = \"verify\"\n\
             server_addr = \"mx.example\"\ntimeout = \"5m\"\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(
            c.smtp.listen(),
            Endpoint::Unix("/run/nod32smtp.sock".into())
        );
        assert_eq!(c.smtp.listen_sock_mode, 0o666);
        assert_eq!(c.smtp.tls_key_file, Some("/k.pem".into()));
        assert_eq!(c.smtp.server_tls, ServerTls::Verify);
        assert_eq!(c.smtp.server_tls_name, "mx.example");
        assert_eq!(c.smtp.timeout, Duration::from_secs(300));
        let err = |t: &str| {
            Config::from_str_named(t, "t.toml").unwrap_err().to_string()
        };
        assert_eq!(
            err("[smtp]\ntls_cert_file = \"/c.pem\"\n"),
            "t.toml: smtp.tls_cert_file: tls_cert_file and tls_key_file go together"
        );
        assert_eq!(
            err("[smtp]\nserver_tls = \"yes\"\n"),
            "t.toml: smtp.server_tls: 'yes' is not none, may, encrypt or verify"
        );
    }

    #[test]
    fn upd_keys() {
        let c = Config::from_str_named("", "t.toml").unwrap();
        // Only what the engine runs: bytecode would add nothing but two
        // hashes.
        assert_eq!(c.upd.databases, ["main", "daily"]);
        assert_eq!(c.upd.db_dir, PathBuf::from("/var/lib/nod32/clamav"));
        assert_eq!(c.upd.local_dir, None);
        assert!(c.upd.username.is_none() && c.upd.cvd_key.is_none());
        let c = Config::from_str_named(
            "[upd]\ndatabases = [\"daily\"]\nusername = \"u\"\npassword = \"p\"\n\
             proxy = \"http://proxy:3128\"\ncvd_key = \"12345:3\"\ntimeout = \"30s\"\n\
             max_download = \"10M\"\nlocal_dir = \"/etc/nod32/local.d\"\n",
            "t.toml",
        )
        .unwrap();
        assert_eq!(c.upd.databases, ["daily"]);
        assert_eq!(c.upd.local_dir, Some(PathBuf::from("/etc/nod32/local.d")));
        assert_eq!(c.upd.password.as_deref(), Some("p"));
        assert_eq!(c.upd.timeout, Duration::from_secs(30));
        assert_eq!(c.upd.max_download, 10 << 20);
        let err = |t: &str| {
            Config::from_str_named(t, "t.toml").unwrap_err().to_string()
        };
        assert!(err("[upd]\nusername = \"u\"\n").contains("go together"));
        assert!(
            err("[upd]\ncvd_key = \"abc\"\n").contains("MODULUS:EXPONENT")
        );
        assert!(
            err("[upd]\ndatabases = [\"../x\"]\n").contains("upd.databases")
        );
        assert!(err("[upd]\nproxy = \"proxy:3128\"\n").contains("upd.proxy"));
    }

    #[test]
    fn user_config_is_checked_with_the_main_file() {
        let d = std::env::temp_dir()
            .join(format!("nod32-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("users.toml"), "[a]\nparent_id = \"b\"\n")
            .unwrap();
        std::fs::write(
            d.join("main.toml"),
            "[smtp]\nuser_config = \"users.toml\"\n",
        )
        .unwrap();
        let e = Config::load(&d.join("main.toml")).unwrap_err().to_string();
        assert!(e.ends_with("users.toml: a.parent_id: no section [b]"), "{e}");
        std::fs::write(d.join("users.toml"), "[b]\n[a]\nparent_id = \"b\"\n")
            .unwrap();
        let c = Config::load(&d.join("main.toml")).unwrap();
        assert_eq!(c.smtp.policy.user_config, Some(d.join("users.toml")));
        assert_eq!(c.smfi.policy.user_config, None);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn networks() {
        let n = |s: &str| Network::parse(s).unwrap();
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert!(n("127.0.0.0/8").contains(ip("127.1.2.3")));
        assert!(!n("127.0.0.0/8").contains(ip("128.0.0.1")));
        assert!(n("127.0.0.0/8").contains(ip("::ffff:127.0.0.1")));
        assert!(n("::1").contains(ip("::1")));
        assert!(!n("::1").contains(ip("::2")));
        assert!(n("0.0.0.0/0").contains(ip("192.0.2.1")));
        assert!(!n("0.0.0.0/0").contains(ip("2001:db8::1")));
        assert!(n("fd00::/8").contains(ip("fd12::1")));
        assert!(n("[::1]").contains(ip("::1")));
        for bad in ["10.0.0.0/33", "x", "::/129", "1.2.3.4/"] {
            assert!(Network::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_size("400M"), Some(400 << 20));
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("2g"), Some(2 << 30));
        assert_eq!(parse_size("M"), None);
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("x"), None);
    }
}
