//! The keys each section may hold, and one section's keys read into
//! typed values with errors naming the key.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::*;

pub(super) const POLICY_KEYS: &[&str] = &[
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

pub(super) fn section_keys(section: &str) -> Option<&'static [&'static str]> {
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
pub(super) struct Section<'a> {
    pub(super) file: &'a str,
    pub(super) name: &'a str,
    pub(super) table: Option<&'a toml::Table>,
    /// Directory of the file, for relative `user_config` paths.
    pub(super) base: &'a Path,
}

impl Section<'_> {
    pub(super) fn err(
        &self,
        key: &str,
        reason: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Key {
            file: self.file.to_string(),
            key: format!("{}.{key}", self.name),
            reason: reason.into(),
        }
    }

    pub(super) fn get(&self, key: &str) -> Option<&toml::Value> {
        self.table.and_then(|t| t.get(key))
    }

    pub(super) fn bool(
        &self,
        key: &str,
        into: &mut bool,
    ) -> Result<(), ConfigError> {
        match self.get(key) {
            None => Ok(()),
            Some(toml::Value::Boolean(b)) => {
                *into = *b;
                Ok(())
            }
            Some(_) => Err(self.err(key, "expected true or false")),
        }
    }

    pub(super) fn string(
        &self,
        key: &str,
        into: &mut String,
    ) -> Result<(), ConfigError> {
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
    pub(super) fn mode(
        &self,
        key: &str,
        default: u32,
    ) -> Result<u32, ConfigError> {
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

    pub(super) fn path(
        &self,
        key: &str,
        into: &mut PathBuf,
    ) -> Result<(), ConfigError> {
        let mut s = into.to_string_lossy().into_owned();
        self.string(key, &mut s)?;
        if s.is_empty() {
            return Err(self.err(key, "expected a path, not an empty string"));
        }
        *into = PathBuf::from(s);
        Ok(())
    }

    pub(super) fn int<T: TryFrom<i64>>(
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

    pub(super) fn size(
        &self,
        key: &str,
        into: &mut u64,
    ) -> Result<(), ConfigError> {
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

    pub(super) fn duration(
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

    pub(super) fn action(
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
    pub(super) fn policy(&self, p: &mut Policy) -> Result<(), ConfigError> {
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
        if self.get("notify_sender_check").is_some() {
            let mut src = String::new();
            self.string("notify_sender_check", &mut src)?;
            p.notify_sender_check = Pattern::checked(&src).map_err(|e| {
                self.err(
                    "notify_sender_check",
                    format!("not a regular expression: {e}"),
                )
            })?;
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
