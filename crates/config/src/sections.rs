//! The sections of `nod32.toml` as typed values.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::*;

/// The permissions of the agents' unix sockets unless set.
pub(super) const SOCK_MODE: u32 = 0o660;

/// `[global]` keys that only exist there.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Global {
    /// `module` (default `/var/lib/nod32/nod32.000`): the loading module.
    #[serde(deserialize_with = "de::path")]
    pub module: PathBuf,
    /// `quarantine_dir` (default `/var/spool/nod32/quarantine`).
    #[serde(deserialize_with = "de::path")]
    pub quarantine_dir: PathBuf,
    /// `user` (default `nod32`): services drop to this user.
    #[serde(deserialize_with = "de::string")]
    pub user: String,
    /// `group` (default `nod32`).
    #[serde(deserialize_with = "de::string")]
    pub group: String,
    /// The policy keys of `[global]`.
    #[serde(skip)]
    pub policy: Policy,
}

/// `[mda]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mda {
    /// `agent_enabled` (default true): scan; false passes mail through.
    #[serde(deserialize_with = "de::boolean")]
    pub agent_enabled: bool,
    /// `mda_path` (default `/usr/bin/procmail`): the real delivery agent.
    #[serde(deserialize_with = "de::path")]
    pub mda_path: PathBuf,
    /// `mta` (default `postfix`): presets the exit codes.
    #[serde(deserialize_with = "de::mta")]
    pub mta: Mta,
    /// `infected_return_code` (default by `mta`: 69, qmail 100).
    #[serde(deserialize_with = "de::ranged::<_, _, 1, 255>")]
    pub infected_return_code: i32,
    /// `tmpfail_return_code` (default by `mta`: 75, qmail 111).
    #[serde(deserialize_with = "de::ranged::<_, _, 1, 255>")]
    pub tmpfail_return_code: i32,
    /// The policy as this agent sees it.
    #[serde(skip)]
    pub policy: Policy,
}

/// `[smtp]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Smtp {
    /// `agent_enabled` (default true): false passes mail on unscanned
    /// (logged at start and on each message's line).
    #[serde(deserialize_with = "de::boolean")]
    pub agent_enabled: bool,
    /// `listen_addr` (default `127.0.0.1`).
    #[serde(deserialize_with = "de::string")]
    pub listen_addr: String,
    /// `listen_port` (default 2526).
    #[serde(deserialize_with = "de::ranged::<_, _, 1, 65535>")]
    pub listen_port: u16,
    /// `server_addr` (default `127.0.0.1`): the next hop.
    #[serde(deserialize_with = "de::string")]
    pub server_addr: String,
    /// `server_port` (default 2525).
    #[serde(deserialize_with = "de::ranged::<_, _, 1, 65535>")]
    pub server_port: u16,
    /// `listen_sock_mode` (default 0660): the unix socket's permissions
    /// when `listen_addr` is a path.
    #[serde(deserialize_with = "de::mode")]
    pub listen_sock_mode: u32,
    /// `tls_cert_file` / `tls_key_file` (PEM): when both are set,
    /// STARTTLS is offered to clients.
    #[serde(deserialize_with = "de::opt_path")]
    pub tls_cert_file: Option<PathBuf>,
    /// See `tls_cert_file`.
    #[serde(deserialize_with = "de::opt_path")]
    pub tls_key_file: Option<PathBuf>,
    /// `server_tls` (default may): STARTTLS towards the next hop.
    #[serde(deserialize_with = "de::server_tls")]
    pub server_tls: ServerTls,
    /// `server_tls_ca_file`: the CAs trusted with `server_tls = "verify"`.
    #[serde(deserialize_with = "de::path")]
    pub server_tls_ca_file: PathBuf,
    /// `server_tls_name`: the name the next hop's certificate must carry
    /// with `server_tls = "verify"` (default `server_addr`).
    #[serde(deserialize_with = "de::string")]
    pub server_tls_name: String,
    /// `body_in_memory` (default 1M): message bytes kept in memory
    /// before the rest is spooled to a temp file.
    #[serde(deserialize_with = "de::size")]
    pub body_in_memory: u64,
    /// `timeout` (default 10m): a client or next hop silent this long is
    /// given up (RFC 5321 4.5.3.2); a command line must also arrive
    /// whole within it.
    #[serde(deserialize_with = "de::duration")]
    pub timeout: Duration,
    /// `min_data_rate` (default 500 bytes/s, 0: none): DATA and BDAT
    /// must arrive at least this fast on average after `timeout`, as
    /// Postfix's `smtpd_min_data_rate`.
    #[serde(deserialize_with = "de::size")]
    pub min_data_rate: u64,
    /// `max_connections` (default 1000): clients served at once; more
    /// get 421 4.3.2 at once.
    #[serde(deserialize_with = "de::ranged::<_, _, 1, 100_000>")]
    pub max_connections: u32,
    /// `bare_newline` (default reject): a message with a CR or LF that
    /// is not part of CR LF is refused (550 5.5.2), or, with
    /// `normalize`, sent on with such line ends made CR LF.
    #[serde(deserialize_with = "de::bare_newline")]
    pub bare_newline: BareNewline,
    /// `xforward_hosts` (default loopback): clients whose XFORWARD is
    /// taken, as Postfix's `smtpd_authorized_xforward_hosts`; addresses
    /// or networks (`10.0.0.0/8`). A unix socket's clients always are.
    #[serde(deserialize_with = "de::networks")]
    pub xforward_hosts: Vec<Network>,
    /// The policy as this agent sees it.
    #[serde(skip)]
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
    pub(super) addr: std::net::IpAddr,
    pub(super) prefix: u8,
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
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Smfi {
    /// `agent_enabled` (default true): false passes mail on unscanned
    /// (logged at start and on each message's line).
    #[serde(deserialize_with = "de::boolean")]
    pub agent_enabled: bool,
    /// `smfi_sock_path` (default `/run/nod32smfi/nod32smfi.sock`, in the
    /// unit's RuntimeDirectory, so that it goes at stop): a unix
    /// socket path or `inet:PORT@HOST` / `inet:HOST:PORT`.
    #[serde(deserialize_with = "de::endpoint")]
    pub smfi_sock_path: Endpoint,
    /// `smfi_sock_mode` (default `0660`): the unix socket's permissions;
    /// its group is `[global].group`.
    #[serde(deserialize_with = "de::mode")]
    pub smfi_sock_mode: u32,
    /// `on_error` (default tempfail): an internal fault's answer.
    #[serde(deserialize_with = "de::on_error")]
    pub on_error: OnError,
    /// `dry_run` (default false): log what would be done, then accept
    /// every message unchanged.
    #[serde(deserialize_with = "de::boolean")]
    pub dry_run: bool,
    /// `quarantine_mode` (default `store`): where a "+quarantine" action
    /// keeps the message: `store` keeps it in `quarantine_dir` as the
    /// other agents do; `hold` asks the MTA to put an accepted or
    /// discarded one on hold instead (SMFIR_QUARANTINE, Postfix's hold
    /// queue; logged as `action=hold`). A reject or defer stays one,
    /// its original stored.
    #[serde(rename = "quarantine_mode", deserialize_with = "de::hold")]
    pub quarantine_hold: bool,
    /// `body_in_memory` (default 1M): body bytes held in memory per
    /// message before it is spooled to a private temp file.
    #[serde(deserialize_with = "de::size")]
    pub body_in_memory: u64,
    /// `timeout` (default 1h): a connection silent this long is closed.
    #[serde(deserialize_with = "de::duration")]
    pub timeout: Duration,
    /// `max_connections` (default 1000): beyond this, new connections
    /// wait to be accepted.
    #[serde(deserialize_with = "de::ranged::<_, _, 1, 100_000>")]
    pub max_connections: u32,
    /// The policy as this agent sees it.
    #[serde(skip)]
    pub policy: Policy,
}

/// `[cli]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cli {
    /// The policy as this agent sees it.
    #[serde(skip)]
    pub policy: Policy,
}

/// `[upd]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Upd {
    /// `agent_enabled` (default true): false makes a run say so and do
    /// nothing.
    #[serde(deserialize_with = "de::boolean")]
    pub agent_enabled: bool,
    /// `servers` (default none): update servers, tried in order.
    #[serde(deserialize_with = "de::servers")]
    pub servers: Vec<String>,
    /// `mirror_enabled` (default false).
    #[serde(deserialize_with = "de::boolean")]
    pub mirror_enabled: bool,
    /// `mirror_dir` (default `/var/lib/nod32/mirror`).
    #[serde(deserialize_with = "de::path")]
    pub mirror_dir: PathBuf,
    /// `username` / `password`: HTTP basic auth for the servers (else
    /// `auth_file`, else `~/.netrc`).
    #[serde(deserialize_with = "de::opt_string")]
    pub username: Option<String>,
    /// See `username`.
    #[serde(deserialize_with = "de::opt_string")]
    pub password: Option<String>,
    /// `auth_file` (default `/etc/nod32/nod32.auth`): `username = ...`
    /// and `password = ...` lines.
    #[serde(deserialize_with = "de::path")]
    pub auth_file: PathBuf,
    /// `proxy`: `http://[user:pass@]host:port`.
    #[serde(deserialize_with = "de::proxy")]
    pub proxy: Option<String>,
    /// `databases` (default main, daily): the ClamAV databases fetched.
    /// Not bytecode by default: the engine does not run bytecode
    /// signatures yet, and bytecode alone builds a module with none
    /// that it can use but two hashes.
    #[serde(deserialize_with = "de::databases")]
    pub databases: Vec<String>,
    /// `db_dir` (default `/var/lib/nod32/clamav`): where the verified
    /// databases are kept; the module is built from every file there
    /// that ClamAV would load from it as its `DatabaseDirectory`
    /// (local and third-party signature files too).
    #[serde(deserialize_with = "de::path")]
    pub db_dir: PathBuf,
    /// `local_dir` (default none): another database directory, read the
    /// same way after `db_dir`, for signatures nod32upd never writes.
    #[serde(deserialize_with = "de::opt_path")]
    pub local_dir: Option<PathBuf>,
    /// `timeout` (default 5m) for each download.
    #[serde(deserialize_with = "de::duration")]
    pub timeout: Duration,
    /// `max_download` (default 1G): a larger file is refused.
    #[serde(deserialize_with = "de::size")]
    pub max_download: u64,
    /// `cvd_key` (default ClamAV's): `MODULUS:EXPONENT` in decimal, for a
    /// private feed that signs its own CVDs.
    #[serde(deserialize_with = "de::rsa_key")]
    pub cvd_key: Option<String>,
    /// `cdiff_key` (default ClamAV's): the same for `.cdiff` files (a
    /// 2048-bit key).
    #[serde(deserialize_with = "de::rsa_key")]
    pub cdiff_key: Option<String>,
    /// `info_key` (default ClamAV's): the key of the DSIG line in a
    /// `.cld`'s `.info` member, for servers that serve `.cld` files.
    #[serde(deserialize_with = "de::opt_string")]
    pub info_key: Option<String>,
    /// `mirror_signing_key`: the secret-key file (`nod32upd keygen`) this
    /// mirror signs its `update.ver` with.
    #[serde(deserialize_with = "de::opt_path")]
    pub mirror_signing_key: Option<PathBuf>,
    /// `mirror_public_key`: the public key (hex) every server's signed
    /// `update.ver` must verify with; unset, `update.ver` is advisory.
    #[serde(deserialize_with = "de::public_key")]
    pub mirror_public_key: Option<String>,
    /// `detect_pua` (default false): the module holds the signatures of
    /// ClamAV's PUA files too, as clamd's `DetectPUA yes`.
    #[serde(deserialize_with = "de::boolean")]
    pub detect_pua: bool,
    /// `include_pua` (default none): only these PUA categories
    /// (`IncludePUA`); implies `detect_pua`.
    #[serde(deserialize_with = "de::categories")]
    pub include_pua: Vec<String>,
    /// `exclude_pua` (default none): every PUA category but these
    /// (`ExcludePUA`); implies `detect_pua`.
    #[serde(deserialize_with = "de::categories")]
    pub exclude_pua: Vec<String>,
    /// The policy as this agent sees it.
    #[serde(skip)]
    pub policy: Policy,
}

/// A section's defaults: what a file without it gives, and what its
/// derived `Deserialize` starts from. A section's `policy` is
/// [`Policy::default`] here; reading puts the inherited one in its place.
impl Default for Global {
    fn default() -> Global {
        Global {
            module: "/var/lib/nod32/nod32.000".into(),
            quarantine_dir: "/var/spool/nod32/quarantine".into(),
            user: "nod32".into(),
            group: "nod32".into(),
            policy: Policy::default(),
        }
    }
}

/// The return codes are `mta = "postfix"`'s; reading gives qmail's to
/// a section that names qmail and not the codes.
impl Default for Mda {
    fn default() -> Mda {
        Mda {
            agent_enabled: true,
            mda_path: "/usr/bin/procmail".into(),
            mta: Mta::Postfix,
            infected_return_code: 69,
            tmpfail_return_code: 75,
            policy: Policy::default(),
        }
    }
}

/// `server_tls_name` is the default `server_addr`'s; reading makes it
/// the `server_addr` read when the section does not set it.
impl Default for Smtp {
    fn default() -> Smtp {
        Smtp {
            agent_enabled: true,
            listen_addr: "127.0.0.1".into(),
            listen_port: 2526,
            server_addr: "127.0.0.1".into(),
            server_port: 2525,
            listen_sock_mode: SOCK_MODE,
            tls_cert_file: None,
            tls_key_file: None,
            server_tls: ServerTls::May,
            server_tls_ca_file: "/etc/ssl/certs/ca-certificates.crt".into(),
            server_tls_name: "127.0.0.1".into(),
            body_in_memory: 1 << 20,
            timeout: Duration::from_secs(600),
            min_data_rate: 500,
            max_connections: 1000,
            bare_newline: BareNewline::Reject,
            xforward_hosts: ["127.0.0.0/8", "::1"]
                .iter()
                .filter_map(|n| Network::parse(n))
                .collect(),
            policy: Policy::default(),
        }
    }
}

impl Default for Smfi {
    fn default() -> Smfi {
        Smfi {
            agent_enabled: true,
            smfi_sock_path: Endpoint::Unix(
                "/run/nod32smfi/nod32smfi.sock".into(),
            ),
            smfi_sock_mode: SOCK_MODE,
            on_error: OnError::Tempfail,
            dry_run: false,
            quarantine_hold: false,
            body_in_memory: 1 << 20,
            timeout: Duration::from_secs(3600),
            max_connections: 1000,
            policy: Policy::default(),
        }
    }
}

impl Default for Upd {
    fn default() -> Upd {
        Upd {
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
            policy: Policy::default(),
        }
    }
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
