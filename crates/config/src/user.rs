//! The per-user configuration named by `user_config`: sections per
//! recipient, per sender and per pair, with `parent_id` inheritance from
//! group sections — which is how NOD32LMS expressed black- and
//! white-lists.
//!
//! ```toml
//! [black-list]
//! action_on_processed = "reject"
//!
//! ["|spammer@example.com"]          # a sender
//! parent_id = "black-list"
//!
//! [white-list]
//! action_on_processed = "accept"
//!
//! ["postmaster@example.net"]        # a recipient
//! parent_id = "white-list"
//!
//! ["alice@example.net|bob@example.org"]   # a recipient and sender pair
//! action_on_infected = "discard"
//! ```
//!
//! For a message the first section that exists wins, in this order:
//! `[rcpt|sender]`, `[rcpt]`, `[|sender]`. Addresses compare without
//! regard to case. The section's parents apply first (the root of the
//! chain first), then the section itself, on top of the agent's policy.

use std::collections::HashMap;
use std::path::Path;

use crate::{ConfigError, Policy, Section, is_policy_key, parse_toml};

/// Parent chains longer than this are refused as a loop or a mistake.
const MAX_CHAIN: usize = 16;

/// A loaded and validated per-user configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct UserConfig {
    file: String,
    sections: HashMap<String, toml::Table>,
}

impl UserConfig {
    /// Reads and checks a per-user configuration file.
    ///
    /// # Errors
    /// An unreadable file, bad TOML, unknown keys, bad values, a
    /// `parent_id` naming no section, or a parent loop.
    pub fn load(path: &Path) -> Result<UserConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| {
            ConfigError::Io { path: path.to_path_buf(), cause: source }
        })?;
        UserConfig::from_str_named(&text, &path.to_string_lossy())
    }

    /// Parses per-user configuration text; `name` names it in errors.
    ///
    /// # Errors
    /// As [`UserConfig::load`].
    pub fn from_str_named(
        text: &str,
        name: &str,
    ) -> Result<UserConfig, ConfigError> {
        let doc: toml::Table = parse_toml(text, name)?;
        let key_err = |key: String, reason: &str| ConfigError::Key {
            file: name.to_string(),
            key,
            reason: reason.to_string(),
        };
        let mut sections = HashMap::new();
        for (id, value) in doc {
            let table = value.as_table().cloned().ok_or_else(|| {
                key_err(
                    id.clone(),
                    "expected a [section] per user, sender or group",
                )
            })?;
            for key in table.keys() {
                if key != "parent_id"
                    && (key == "user_config" || !is_policy_key(key))
                {
                    return Err(key_err(format!("{id}.{key}"), "unknown key"));
                }
            }
            if let Some(p) = table.get("parent_id")
                && !p.is_str()
            {
                return Err(key_err(
                    format!("{id}.parent_id"),
                    "expected the name of a section",
                ));
            }
            // Every value must be valid on its own.
            let s = Section {
                file: name,
                name: &id,
                table: Some(&table),
                base: Path::new("."),
            };
            s.policy(&Policy::default())?;
            sections.insert(id.to_ascii_lowercase(), table);
        }
        let uc = UserConfig { file: name.to_string(), sections };
        // In name order, so that the error a file gets does not vary.
        let mut ids: Vec<&String> = uc.sections.keys().collect();
        ids.sort();
        for id in ids {
            uc.chain(id)?;
        }
        Ok(uc)
    }

    /// The section and its ancestors, root first.
    fn chain(
        &self,
        id: &str,
    ) -> Result<Vec<(&str, &toml::Table)>, ConfigError> {
        let mut out = Vec::new();
        let mut cur = id.to_ascii_lowercase();
        loop {
            let Some((key, table)) = self.sections.get_key_value(&cur) else {
                return Err(ConfigError::Key {
                    file: self.file.clone(),
                    key: format!("{id}.parent_id"),
                    reason: format!("no section [{cur}]"),
                });
            };
            if out.len() >= MAX_CHAIN
                || out.iter().any(|(k, _)| *k == key.as_str())
            {
                return Err(ConfigError::Key {
                    file: self.file.clone(),
                    key: format!("{id}.parent_id"),
                    reason: "parent chain loops or is deeper than 16".into(),
                });
            }
            out.push((key.as_str(), table));
            match table.get("parent_id").and_then(|v| v.as_str()) {
                Some(p) => cur = p.to_ascii_lowercase(),
                None => break,
            }
        }
        out.reverse();
        Ok(out)
    }

    /// Which section applies to a message, if any.
    pub fn section_for(
        &self,
        rcpt: Option<&str>,
        sender: Option<&str>,
    ) -> Option<&str> {
        let rcpt = rcpt.map(str::to_ascii_lowercase);
        let sender = sender.map(str::to_ascii_lowercase);
        let mut candidates = Vec::new();
        if let (Some(r), Some(s)) = (&rcpt, &sender) {
            candidates.push(format!("{r}|{s}"));
        }
        if let Some(r) = &rcpt {
            candidates.push(r.clone());
        }
        if let Some(s) = &sender {
            candidates.push(format!("|{s}"));
        }
        candidates.into_iter().find_map(|c| {
            self.sections.get_key_value(&c).map(|(k, _)| k.as_str())
        })
    }

    /// The policy for a message: the agent's `base`, then the matching
    /// section's parents and the section itself.
    pub fn policy_for(
        &self,
        base: &Policy,
        rcpt: Option<&str>,
        sender: Option<&str>,
    ) -> Policy {
        let mut p = base.clone();
        if let Some(id) = self.section_for(rcpt, sender)
            && let Ok(chain) = self.chain(id)
        {
            for (name, table) in chain {
                let s = Section {
                    file: &self.file,
                    name,
                    table: Some(table),
                    base: Path::new("."),
                };
                // Validated at load time; a failure here cannot happen.
                if let Ok(over) = s.policy(&p) {
                    p = over;
                }
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Action, Processed};

    const LISTS: &str = r#"
[black-list]
action_on_processed = "reject"

["|Spammer@Example.com"]
parent_id = "black-list"

[white-list]
action_on_processed = "accept"
av_enabled = false

["postmaster@example.net"]
parent_id = "white-list"

[strict]
parent_id = "white-list"
action_on_processed = "scan"
action_on_infected = "discard"

["alice@example.net|bob@example.org"]
parent_id = "strict"

["alice@example.net"]
action_on_infected = "defer"
"#;

    fn uc() -> UserConfig {
        UserConfig::from_str_named(LISTS, "users.toml").unwrap()
    }

    #[test]
    fn order_pair_then_recipient_then_sender() {
        let u = uc();
        assert_eq!(
            u.section_for(Some("alice@example.net"), Some("bob@example.org")),
            Some("alice@example.net|bob@example.org")
        );
        assert_eq!(
            u.section_for(
                Some("alice@example.net"),
                Some("carol@example.org")
            ),
            Some("alice@example.net")
        );
        assert_eq!(
            u.section_for(
                Some("dave@example.net"),
                Some("spammer@example.com")
            ),
            Some("|spammer@example.com")
        );
        assert_eq!(
            u.section_for(Some("dave@example.net"), Some("carol@example.org")),
            None
        );
        // A recipient section beats a black-listed sender.
        assert_eq!(
            u.section_for(
                Some("postmaster@example.net"),
                Some("spammer@example.com")
            ),
            Some("postmaster@example.net")
        );
    }

    #[test]
    fn black_and_white_lists() {
        let u = uc();
        let base = Policy::default();
        let black = u.policy_for(
            &base,
            Some("dave@example.net"),
            Some("SPAMMER@example.com"),
        );
        assert_eq!(black.action_on_processed, Processed::Act(Action::Reject));
        let white = u.policy_for(&base, Some("postmaster@example.net"), None);
        assert_eq!(white.action_on_processed, Processed::Act(Action::Accept));
        assert!(!white.av_enabled);
        assert_eq!(u.policy_for(&base, Some("dave@example.net"), None), base);
    }

    #[test]
    fn parent_chain_applies_root_first() {
        let p = uc().policy_for(
            &Policy::default(),
            Some("alice@example.net"),
            Some("bob@example.org"),
        );
        // white-list, then strict, then the pair section (which sets nothing).
        assert_eq!(p.action_on_processed, Processed::Scan);
        assert!(!p.av_enabled);
        assert_eq!(p.action_on_infected.action, Action::Discard);
    }

    #[test]
    fn errors() {
        let e = |t: &str| {
            UserConfig::from_str_named(t, "u.toml").unwrap_err().to_string()
        };
        assert_eq!(
            e("[a]\nparent_id = \"nope\"\n"),
            "u.toml: a.parent_id: no section [nope]"
        );
        assert_eq!(
            e("[a]\nparent_id = \"b\"\n[b]\nparent_id = \"a\"\n"),
            "u.toml: a.parent_id: parent chain loops or is deeper than 16"
        );
        assert_eq!(
            e("[a]\ncolour = \"red\"\n"),
            "u.toml: a.colour: unknown key"
        );
        assert_eq!(
            e("[a]\nuser_config = \"x\"\n"),
            "u.toml: a.user_config: unknown key"
        );
        assert!(
            e("[a]\naction_on_infected = \"maybe\"\n")
                .starts_with("u.toml: a.action_on_infected: 'maybe'")
        );
    }
}
