//! Reading a configuration: the file, the TOML, every section in turn,
//! and the checks across sections.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

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
        // Every section and key is known before any value is checked.
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
                if !own.contains(&key.as_str()) && !is_policy_key(key) {
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
        let policy = g.policy(&Policy::default())?;
        let global =
            Global { policy: policy.clone(), ..g.read(Global::deserialize)? };

        // Each agent's policy starts from [global]'s.
        let m = section("mda");
        let mut mda =
            Mda { policy: m.policy(&policy)?, ..m.read(Mda::deserialize)? };
        if mda.mta == Mta::Qmail {
            if !m.has("infected_return_code") {
                mda.infected_return_code = 100;
            }
            if !m.has("tmpfail_return_code") {
                mda.tmpfail_return_code = 111;
            }
        }

        let s = section("smtp");
        let mut smtp =
            Smtp { policy: s.policy(&policy)?, ..s.read(Smtp::deserialize)? };
        if smtp.tls_cert_file.is_some() != smtp.tls_key_file.is_some() {
            return Err(s.err(
                "tls_cert_file",
                "tls_cert_file and tls_key_file go together",
            ));
        }
        if smtp.server_tls_name.is_empty() || !s.has("server_tls_name") {
            smtp.server_tls_name.clone_from(&smtp.server_addr);
        }

        let f = section("smfi");
        let smfi =
            Smfi { policy: f.policy(&policy)?, ..f.read(Smfi::deserialize)? };

        let c = section("cli");
        // [cli] has no keys of its own.
        let cli = Cli { policy: c.policy(&policy)? };

        let u = section("upd");
        let upd =
            Upd { policy: u.policy(&policy)?, ..u.read(Upd::deserialize)? };
        if upd.username.is_some() != upd.password.is_some() {
            return Err(u.err("username", "username and password go together"));
        }
        if !upd.include_pua.is_empty() && !upd.exclude_pua.is_empty() {
            return Err(u.err(
                "include_pua",
                "include_pua and exclude_pua cannot be used together (as in ClamAV)",
            ));
        }

        Ok(Config { global, mda, smtp, smfi, cli, upd })
    }
}

/// The keys a section holds besides the policy keys; `None` for a
/// section that does not exist.
fn section_keys(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "global" => fields_of(Global::deserialize),
        "mda" => fields_of(Mda::deserialize),
        "smtp" => fields_of(Smtp::deserialize),
        "smfi" => fields_of(Smfi::deserialize),
        "cli" => fields_of(Cli::deserialize),
        "upd" => fields_of(Upd::deserialize),
        _ => return None,
    })
}
