//! How a section's TOML table reaches the derived `Deserialize` of its
//! structs, and how their errors come back naming `section.key`.
//!
//! A section holds the keys of two or three structs (its own, the
//! [`Policy`] and the heuristic alerts); serde's `flatten` would merge
//! them but cannot refuse unknown keys. So the table is given to each
//! struct in turn, each seeing only the keys it declares ([`Entries`]),
//! and the keys no struct declares are refused beforehand, by the field
//! lists the derives carry ([`fields_of`]).

use std::cell::RefCell;
use std::path::Path;

use serde::Deserialize as _;
use serde::de::value::{SeqDeserializer, StrDeserializer};
use serde::de::{
    DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor,
};
use serde::forward_to_deserialize_any;

use crate::*;

/// A value refused: why, and which key of the section held it.
#[derive(Debug)]
pub(super) struct KeyError {
    key: String,
    reason: String,
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for KeyError {}

impl serde::de::Error for KeyError {
    fn custom<T: std::fmt::Display>(why: T) -> KeyError {
        KeyError { key: String::new(), reason: why.to_string() }
    }
}

/// The keys of a section that a struct declares, in the order it
/// declares them, which is the order their errors are found in.
pub(super) struct Entries<'a>(Option<&'a toml::Table>);

impl<'de> Deserializer<'de> for Entries<'_> {
    type Error = KeyError;

    fn deserialize_any<V: Visitor<'de>>(
        self,
        _: V,
    ) -> Result<V::Value, KeyError> {
        Err(serde::de::Error::custom("a section is read as a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, KeyError> {
        let table = self.0;
        let entries = fields
            .iter()
            .filter_map(move |f| table.and_then(|t| t.get_key_value(*f)));
        visitor.visit_map(EntryMap { entries, current: None })
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

struct EntryMap<'a, I> {
    entries: I,
    current: Option<(&'a String, &'a toml::Value)>,
}

impl<'de, 'a, I> MapAccess<'de> for EntryMap<'a, I>
where
    I: Iterator<Item = (&'a String, &'a toml::Value)>,
{
    type Error = KeyError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, KeyError> {
        let Some((key, value)) = self.entries.next() else { return Ok(None) };
        self.current = Some((key, value));
        seed.deserialize(StrDeserializer::<KeyError>::new(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, KeyError> {
        let (key, value) =
            self.current.take().expect("serde asks a key before its value");
        seed.deserialize(ValueDe(value)).map_err(|mut e| {
            e.key.clone_from(key);
            e
        })
    }
}

/// One TOML value, given to the functions of `crate::de` as it is.
struct ValueDe<'a>(&'a toml::Value);

impl<'de> Deserializer<'de> for ValueDe<'_> {
    type Error = KeyError;

    fn deserialize_any<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, KeyError> {
        match self.0 {
            toml::Value::Boolean(b) => visitor.visit_bool(*b),
            toml::Value::Integer(i) => visitor.visit_i64(*i),
            toml::Value::Float(f) => visitor.visit_f64(*f),
            toml::Value::String(s) => visitor.visit_str(s),
            toml::Value::Array(a) => {
                visitor.visit_seq(SeqDeserializer::new(a.iter().map(ValueDe)))
            }
            toml::Value::Datetime(_) | toml::Value::Table(_) => {
                visitor.visit_unit()
            }
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

impl<'de, 'a> IntoDeserializer<'de, KeyError> for ValueDe<'a> {
    type Deserializer = ValueDe<'a>;

    fn into_deserializer(self) -> ValueDe<'a> {
        self
    }
}

/// A deserializer whose one answer is the field list of the struct that
/// asks, returned as its error: the keys a derived struct accepts,
/// without writing them a second time.
#[derive(Debug)]
pub(super) struct FieldNames(&'static [&'static str]);

impl std::fmt::Display for FieldNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl std::error::Error for FieldNames {}

impl serde::de::Error for FieldNames {
    fn custom<T: std::fmt::Display>(_: T) -> FieldNames {
        FieldNames(&[])
    }
}

impl<'de> Deserializer<'de> for FieldNames {
    type Error = FieldNames;

    fn deserialize_any<V: Visitor<'de>>(
        self,
        _: V,
    ) -> Result<V::Value, FieldNames> {
        Err(FieldNames(&[]))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, FieldNames> {
        Err(FieldNames(fields))
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// The keys `deserialize` (a derived struct's) accepts.
pub(super) fn fields_of<T>(
    deserialize: impl FnOnce(FieldNames) -> Result<T, FieldNames>,
) -> &'static [&'static str] {
    match deserialize(FieldNames(&[])) {
        Err(FieldNames(fields)) => fields,
        Ok(_) => &[],
    }
}

/// Whether `key` is a policy key (valid in every section).
pub(super) fn is_policy_key(key: &str) -> bool {
    fields_of(Policy::deserialize).contains(&key)
        || fields_of(HeuristicKeys::deserialize).contains(&key)
}

thread_local! {
    /// The policy a section is read on top of. serde's container default
    /// is a function without arguments, and a section's policy starts
    /// from `[global]`'s (or the agent's, for a user's section), so the
    /// base is put here for the time of the reading ([`over`]).
    static BASE: RefCell<Option<Policy>> = const { RefCell::new(None) };
}

/// The default of the policy being read: its base's values.
pub(super) fn inherited_policy() -> Policy {
    BASE.with_borrow(Clone::clone).unwrap_or_default()
}

/// The default of the heuristic alerts being read: its base's.
pub(super) fn inherited_heuristics() -> nod32_engine::Heuristics {
    BASE.with_borrow(|b| b.as_ref().map(|p| p.heuristics.clone()))
        .unwrap_or_default()
}

fn over<T>(base: &Policy, read: impl FnOnce() -> T) -> T {
    /// Puts the outer base back however the read ends (a panic too).
    struct Restore(Option<Policy>);
    impl Drop for Restore {
        fn drop(&mut self) {
            BASE.set(self.0.take());
        }
    }
    let _restore = Restore(BASE.replace(Some(base.clone())));
    read()
}

/// One section of a file.
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

    /// Whether the section sets `key` itself.
    pub(super) fn has(&self, key: &str) -> bool {
        self.table.is_some_and(|t| t.contains_key(key))
    }

    /// The keys `deserialize` (a derived struct's) declares, read.
    pub(super) fn read<'a, T>(
        &'a self,
        deserialize: impl FnOnce(Entries<'a>) -> Result<T, KeyError>,
    ) -> Result<T, ConfigError> {
        deserialize(Entries(self.table))
            .map_err(|e| self.err(&e.key, e.reason))
    }

    /// This section's policy keys on top of `base`.
    pub(super) fn policy(&self, base: &Policy) -> Result<Policy, ConfigError> {
        let (p, heuristics) = over(base, || {
            Ok::<_, ConfigError>((
                self.read(Policy::deserialize)?,
                self.read(HeuristicKeys::deserialize)?,
            ))
        })?;
        let mut p = Policy { heuristics, ..p };
        if self.has("user_config")
            && let Some(relative) = &p.user_config
        {
            let path = self.base.join(relative);
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
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the sections' `Default` impls say of themselves.
    #[test]
    fn a_missing_section_is_its_default() {
        let c = Config::default();
        assert_eq!(c.global, Global::default());
        assert_eq!(c.mda, Mda::default());
        assert_eq!(c.smtp, Smtp::default());
        assert_eq!(c.smfi, Smfi::default());
        assert_eq!(c.cli, Cli::default());
        assert_eq!(c.upd, Upd::default());
    }

    #[test]
    fn keys_are_the_derived_fields() {
        assert!(is_policy_key("user_config"));
        assert!(is_policy_key("alert_ole2_macros"));
        assert!(!is_policy_key("heuristics") && !is_policy_key("macros"));
        let smfi = fields_of(Smfi::deserialize);
        assert!(smfi.contains(&"quarantine_mode"));
        assert!(!smfi.contains(&"quarantine_hold"));
        assert!(!smfi.contains(&"policy"));
        assert!(fields_of(Cli::deserialize).is_empty());
    }

    #[test]
    fn a_datetime_is_not_a_string() {
        let e = Config::from_str_named("[global]\nuser = 1979-05-27\n", "t")
            .unwrap_err();
        assert_eq!(e.to_string(), "t: global.user: expected a string");
    }
}
