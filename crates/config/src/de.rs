//! One function per kind of value, named in the sections' `#[serde(
//! deserialize_with = ...)]` attributes: each turns a key's TOML value
//! into its typed form or says why it cannot, in the words an
//! administrator reads after `FILE: section.key: `.
//!
//! They read the value as a [`Raw`] rather than asking serde for a
//! `bool` or a `u32`: serde's own type errors ("invalid type: string
//! \"x\", expected a boolean") are not ours, and a datetime must not pass
//! for a string.

use std::fmt::Display;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{Deserialize, Deserializer, Error, SeqAccess, Visitor};

use crate::*;

/// A value as the checks see it: datetimes and tables are no key's.
pub(super) enum Raw {
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<Raw>),
    Other,
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a TOML value")
    }
    fn visit_bool<E: Error>(self, b: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(b))
    }
    fn visit_i64<E: Error>(self, i: i64) -> Result<Raw, E> {
        Ok(Raw::Int(i))
    }
    fn visit_u64<E: Error>(self, u: u64) -> Result<Raw, E> {
        Ok(i64::try_from(u).map_or(Raw::Other, Raw::Int))
    }
    fn visit_f64<E: Error>(self, _: f64) -> Result<Raw, E> {
        Ok(Raw::Other)
    }
    fn visit_str<E: Error>(self, s: &str) -> Result<Raw, E> {
        Ok(Raw::Str(s.to_string()))
    }
    fn visit_unit<E: Error>(self) -> Result<Raw, E> {
        Ok(Raw::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
        let mut list = Vec::new();
        while let Some(v) = a.next_element()? {
            list.push(v);
        }
        Ok(Raw::List(list))
    }
}

fn fail<E: Error>(why: impl Display) -> E {
    E::custom(why)
}

/// `true` or `false`.
pub(super) fn boolean<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<bool, D::Error> {
    match Raw::deserialize(d)? {
        Raw::Bool(b) => Ok(b),
        _ => Err(fail("expected true or false")),
    }
}

pub(super) fn string<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<String, D::Error> {
    match Raw::deserialize(d)? {
        Raw::Str(s) => Ok(s),
        _ => Err(fail("expected a string")),
    }
}

pub(super) fn opt_string<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    string(d).map(Some)
}

pub(super) fn path<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<PathBuf, D::Error> {
    let s = string(d)?;
    if s.is_empty() {
        return Err(fail("expected a path, not an empty string"));
    }
    Ok(s.into())
}

pub(super) fn opt_path<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<PathBuf>, D::Error> {
    path(d).map(Some)
}

/// A whole number in `LO..=HI`.
pub(super) fn ranged<'de, D, T, const LO: i64, const HI: i64>(
    d: D,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    match Raw::deserialize(d)? {
        Raw::Int(i) if (LO..=HI).contains(&i) => {
            T::try_from(i).map_err(|_| fail("out of range"))
        }
        Raw::Int(i) => Err(fail(format!("{i} is out of range ({LO}..={HI})"))),
        _ => Err(fail("expected a whole number")),
    }
}

/// Bytes, or a string such as `"100M"`.
pub(super) fn size<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match Raw::deserialize(d)? {
        Raw::Int(i) if i >= 0 => Ok(i as u64),
        Raw::Str(s) => parse_size(&s).ok_or_else(|| {
            fail(format!(
                "'{s}' is not a size (bytes, or a number with K, M or G)"
            ))
        }),
        _ => Err(fail("expected a size such as \"100M\"")),
    }
}

/// Seconds, or a string such as `"120s"`.
pub(super) fn duration<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Duration, D::Error> {
    match Raw::deserialize(d)? {
        Raw::Int(i) if i >= 0 => Ok(Duration::from_secs(i as u64)),
        Raw::Str(s) => parse_duration(&s).ok_or_else(|| {
            fail(format!(
                "'{s}' is not a duration (seconds, or a number with s, m or h)"
            ))
        }),
        _ => Err(fail("expected a duration such as \"120s\"")),
    }
}

/// A file mode written as an octal string (`"0660"`); empty is the
/// default, which both socket modes share.
pub(super) fn mode<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let mode = string(d)?;
    if mode.is_empty() {
        return Ok(SOCK_MODE);
    }
    u32::from_str_radix(&mode, 8).ok().filter(|m| *m <= 0o777).ok_or_else(
        || fail(format!("'{mode}' is not an octal mode such as \"0660\"")),
    )
}

/// One of `choices`' words; an empty string is the first.
fn word<'de, D: Deserializer<'de>, T: Copy>(
    d: D,
    choices: &[(&str, T)],
    why: &str,
) -> Result<T, D::Error> {
    let s = string(d)?;
    let s = if s.is_empty() { choices[0].0 } else { s.as_str() };
    choices
        .iter()
        .find(|(w, _)| *w == s)
        .map(|(_, v)| *v)
        .ok_or_else(|| fail(format!("'{s}' is not {why}")))
}

pub(super) fn verdict<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<OnVerdict, D::Error> {
    let s = string(d)?;
    let (word, quarantine) = match s.strip_suffix("+quarantine") {
        Some(w) => (w, true),
        None => (s.as_str(), false),
    };
    let action = parse_action(word).ok_or_else(|| {
        fail(format!(
            "'{s}' is not an action (accept, defer, discard, reject, \
             each optionally followed by +quarantine)"
        ))
    })?;
    Ok(OnVerdict { action, quarantine })
}

pub(super) fn processed<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Processed, D::Error> {
    let s = string(d)?;
    if s == "scan" {
        return Ok(Processed::Scan);
    }
    parse_action(&s).map(Processed::Act).ok_or_else(|| {
        fail(format!(
            "'{s}' is not an action (accept, scan, defer, discard, reject)"
        ))
    })
}

pub(super) fn header_name<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<String, D::Error> {
    let s = string(d)?;
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
        return Err(fail(
            "a header name is printable ASCII without ':' or spaces",
        ));
    }
    Ok(s)
}

/// Empty (no notice) or `user@domain`.
pub(super) fn notify_admin<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<String, D::Error> {
    let s = string(d)?;
    if !s.is_empty() && !plausible_address(&s) {
        return Err(fail("expected user@domain"));
    }
    Ok(s)
}

pub(super) fn notify_from<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<String, D::Error> {
    let s = string(d)?;
    if s.is_empty() || s.bytes().any(|b| b <= b' ' || b"<>\"".contains(&b)) {
        return Err(fail("expected an address without spaces or brackets"));
    }
    Ok(s)
}

/// Compiled here, as it is only when a section sets it: an inherited
/// pattern is shared, not compiled again.
pub(super) fn pattern<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Pattern, D::Error> {
    let s = string(d)?;
    Pattern::checked(&s)
        .map_err(|e| fail(format!("not a regular expression: {e}")))
}

/// The path as written; [`crate::keys::Section::policy`] makes it
/// relative to the file and reads the file.
pub(super) fn user_config<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<PathBuf>, D::Error> {
    string(d).map(|s| Some(s.into()))
}

pub(super) fn facility<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<String, D::Error> {
    const FACILITIES: &[&str] = &[
        "mail", "daemon", "user", "local0", "local1", "local2", "local3",
        "local4", "local5", "local6", "local7",
    ];
    let s = string(d)?;
    if !FACILITIES.contains(&s.as_str()) {
        return Err(fail(format!(
            "'{s}' is not one of {}",
            FACILITIES.join(", ")
        )));
    }
    Ok(s)
}

pub(super) fn mta<'de, D: Deserializer<'de>>(d: D) -> Result<Mta, D::Error> {
    match Raw::deserialize(d)? {
        Raw::Str(s) => match s.as_str() {
            "postfix" => Some(Mta::Postfix),
            "sendmail" => Some(Mta::Sendmail),
            "exim" => Some(Mta::Exim),
            "qmail" => Some(Mta::Qmail),
            _ => None,
        },
        _ => None,
    }
    .ok_or_else(|| fail("expected postfix, sendmail, exim or qmail"))
}

pub(super) fn server_tls<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<ServerTls, D::Error> {
    use ServerTls::*;
    let choices = [
        ("may", May),
        ("none", None),
        ("encrypt", Encrypt),
        ("verify", Verify),
    ];
    word(d, &choices, "none, may, encrypt or verify")
}

pub(super) fn bare_newline<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BareNewline, D::Error> {
    let choices = [
        ("reject", BareNewline::Reject),
        ("normalize", BareNewline::Normalize),
    ];
    word(d, &choices, "reject or normalize")
}

pub(super) fn on_error<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<OnError, D::Error> {
    use OnError::*;
    let choices =
        [("tempfail", Tempfail), ("accept", Accept), ("reject", Reject)];
    word(d, &choices, "tempfail, accept or reject")
}

/// `quarantine_mode`: `hold` or `store`, as a bool.
pub(super) fn hold<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    word(d, &[("store", false), ("hold", true)], "hold or store")
}

/// Empty is the default socket.
pub(super) fn endpoint<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Endpoint, D::Error> {
    let s = string(d)?;
    if s.is_empty() {
        return Ok(Smfi::default().smfi_sock_path);
    }
    Endpoint::parse(&s).ok_or_else(|| {
        fail(format!(
            "'{s}' is not /path, unix:/path, inet:PORT@HOST or inet:HOST:PORT"
        ))
    })
}

/// A list whose every item `item` accepts; `not_list` when the value is
/// not a list, `bad_item` when an item is refused.
fn list<'de, D: Deserializer<'de>, T>(
    d: D,
    item: impl Fn(&str) -> Option<T>,
    not_list: &str,
    bad_item: &str,
) -> Result<Vec<T>, D::Error> {
    let Raw::List(items) = Raw::deserialize(d)? else {
        return Err(fail(not_list));
    };
    items
        .iter()
        .map(|r| match r {
            Raw::Str(s) => item(s),
            _ => None,
        })
        .collect::<Option<_>>()
        .ok_or_else(|| fail(bad_item))
}

pub(super) fn networks<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<Network>, D::Error> {
    let why = "expected a list of addresses or networks (\"10.0.0.0/8\")";
    list(d, Network::parse, why, why)
}

pub(super) fn servers<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<String>, D::Error> {
    let url = |s: &str| {
        (s.starts_with("http://") || s.starts_with("https://"))
            .then(|| s.to_string())
    };
    list(
        d,
        url,
        "expected a list of URLs",
        "every server is an http:// or https:// URL",
    )
}

pub(super) fn databases<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<String>, D::Error> {
    let name = |s: &str| {
        (!s.is_empty()
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        .then(|| s.to_string())
    };
    list(
        d,
        name,
        "expected a list of names",
        "every name is a word such as \"daily\"",
    )
}

pub(super) fn categories<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<String>, D::Error> {
    let category = |s: &str| {
        (!s.is_empty() && !s.contains(char::is_whitespace))
            .then(|| s.to_string())
    };
    let why = "expected a list of categories such as [\"Win.Tool\"]";
    list(d, category, why, why)
}

pub(super) fn proxy<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    let p = string(d)?;
    if !p.starts_with("http://")
        && !p.starts_with("https://")
        && !p.starts_with("socks")
    {
        return Err(fail(format!("'{p}' is not http://host:port")));
    }
    Ok(Some(p))
}

/// `MODULUS:EXPONENT`, both decimal.
pub(super) fn rsa_key<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    let k = string(d)?;
    let ok = k.split_once(':').is_some_and(|(n, e)| {
        !n.is_empty()
            && !e.is_empty()
            && n.bytes().chain(e.bytes()).all(|b| b.is_ascii_digit())
    });
    if !ok {
        return Err(fail("expected MODULUS:EXPONENT, both decimal"));
    }
    Ok(Some(k))
}

pub(super) fn public_key<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    let k = string(d)?;
    if k.len() != 64 || !k.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(fail(
            "expected 64 hex digits (nod32upd keygen prints them)",
        ));
    }
    Ok(Some(k))
}
