//! Reading a configuration: the file, the TOML, every section in turn,
//! and the checks across sections.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::*;

/// An address `notify_admin` may name: `user@domain`, nothing that a
/// command line or a header could misread.
pub(super) fn plausible_address(s: &str) -> bool {
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
pub(super) fn parse_toml(
    text: &str,
    file: &str,
) -> Result<toml::Table, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Syntax {
        file: file.to_string(),
        reason: e.to_string().trim_end().to_string(),
    })
}

pub(super) fn parse_action(s: &str) -> Option<Action> {
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

    pub(super) fn parse(
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
