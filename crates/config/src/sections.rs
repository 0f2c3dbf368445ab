//! The sections of `nod32.toml` as typed values.

use std::path::PathBuf;
use std::time::Duration;

use crate::*;

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
