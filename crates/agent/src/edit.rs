//! The changes the policy makes to a message, typed: each protocol maps
//! them to its own form. nod32smfi sends them as milter modifications
//! (change, insert and add header, replace body), so the MTA edits its
//! own copy; nod32smtp and nod32mda apply them to the bytes they pass
//! on ([`apply`]).
//!
//! Edits are applied in order, each to the message the ones before it
//! left, as an MTA applies a milter's modifications; a header index
//! counts the fields of that name at that point.

use crate::mime::{detect_eol, fields, splice};

/// One change to a message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Edit {
    /// A field put at the top of the header.
    InsertHeader {
        /// The field name.
        name: String,
        /// What follows the colon, with its leading space.
        value: Vec<u8>,
    },
    /// A field put at the end of the header.
    AppendHeader {
        /// The field name.
        name: String,
        /// What follows the colon, with its leading space.
        value: Vec<u8>,
    },
    /// A new value for a field.
    ChangeHeader {
        /// The field name (any case).
        name: String,
        /// Which of the fields of that name, from 1.
        index: u32,
        /// What follows the colon, with its leading space; folded lines
        /// end with the message's own line ending.
        value: Vec<u8>,
    },
    /// A field removed.
    DeleteHeader {
        /// The field name (any case).
        name: String,
        /// Which of the fields of that name, from 1.
        index: u32,
    },
    /// Everything after the header's blank line replaced.
    ReplaceBody(Vec<u8>),
}

/// Where the body starts: after the blank line that ends the header, or
/// where a line that is no field ends it without one (`None` then, and
/// at the end of a message without a body).
pub(crate) fn body_start(raw: &[u8]) -> Option<usize> {
    let (_, _, end) = fields(raw);
    let rest = &raw[end..];
    if rest.starts_with(b"\r\n") {
        Some(end + 2)
    } else if rest.starts_with(b"\n") {
        Some(end + 1)
    } else {
        None
    }
}

/// Whether a line starts at `at` (a header field put there is a field
/// of its own, not the end of the line before).
fn ends_a_line(raw: &[u8], at: usize) -> bool {
    at == 0 || raw[at - 1] == b'\n'
}

/// `raw` with `edits` applied in order. An edit naming a field that is
/// not there changes nothing.
pub fn apply(raw: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut cur = raw.to_vec();
    for e in edits {
        cur = apply_one(&cur, e);
    }
    cur
}

fn apply_one(raw: &[u8], e: &Edit) -> Vec<u8> {
    let eol = detect_eol(raw);
    let (hs, fs, block_end) = fields(raw);
    let field = |name: &str, value: &[u8]| {
        let mut f = name.as_bytes().to_vec();
        f.push(b':');
        f.extend_from_slice(value);
        f.extend_from_slice(eol.as_bytes());
        f
    };
    let nth = |name: &str, index: u32| {
        let lname = name.to_ascii_lowercase();
        fs.iter()
            .filter(|f| f.name == lname)
            .nth((index as usize).checked_sub(1)?)
    };
    let change = match e {
        Edit::InsertHeader { name, value } => (hs..hs, field(name, value)),
        Edit::AppendHeader { name, value } => {
            let mut f = field(name, value);
            if !ends_a_line(raw, block_end) {
                f.splice(0..0, eol.bytes());
            }
            (block_end..block_end, f)
        }
        Edit::ChangeHeader { name, index, value } => {
            let Some(f) = nth(name, *index) else { return raw.to_vec() };
            let line = &raw[f.range.clone()];
            let end = f.range.end
                - if line.ends_with(b"\r\n") {
                    2
                } else {
                    usize::from(line.ends_with(b"\n"))
                };
            // A last field without a line break gets none.
            (f.value_start..end, value.clone())
        }
        Edit::DeleteHeader { name, index } => {
            let Some(f) = nth(name, *index) else { return raw.to_vec() };
            (f.range.clone(), Vec::new())
        }
        Edit::ReplaceBody(body) => match body_start(raw) {
            Some(at) => (at..raw.len(), body.clone()),
            None => {
                let lines = if ends_a_line(raw, block_end) { 1 } else { 2 };
                let mut b = eol.repeat(lines).into_bytes();
                b.extend_from_slice(body);
                (block_end..raw.len(), b)
            }
        },
    };
    splice(raw, vec![change])
}

/// The one [`Edit::ReplaceBody`] that turns `raw` into `new`, when the
/// two differ only after the header; `None` when a change reaches into
/// the header (a part the engine read where the header parser sees
/// fields), which no body replacement can carry.
pub(crate) fn body_replacement(raw: &[u8], new: &[u8]) -> Option<Edit> {
    let at = body_start(raw).unwrap_or(raw.len());
    if new.len() < at || new[..at] != raw[..at] {
        return None;
    }
    let body = new[at..].to_vec();
    // Applied, it must give `new` back exactly.
    let e = Edit::ReplaceBody(body);
    (apply(raw, std::slice::from_ref(&e)) == new).then_some(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ins(name: &str, v: &str) -> Edit {
        Edit::InsertHeader { name: name.into(), value: v.into() }
    }

    #[test]
    fn header_edits_apply_in_order() {
        let raw = b"From: a\r\nX-R: old\r\nSubject: hi\r\n\tthere\r\nX-R: two\r\n\r\nbody\r\n";
        let e = [
            Edit::DeleteHeader { name: "x-r".into(), index: 2 },
            Edit::DeleteHeader { name: "X-R".into(), index: 1 },
            ins("X-R", " infected"),
            Edit::ChangeHeader {
                name: "Subject".into(),
                index: 1,
                value: b" [virus] hi\r\n\tthere".to_vec(),
            },
            Edit::AppendHeader {
                name: "X-Last".into(),
                value: b" 1".to_vec(),
            },
        ];
        assert_eq!(
            apply(raw, &e),
            b"X-R: infected\r\nFrom: a\r\nSubject: [virus] hi\r\n\tthere\r\nX-Last: 1\r\n\r\nbody\r\n"
        );
        // Fields that are not there: nothing happens.
        let none = [
            Edit::DeleteHeader { name: "X-R".into(), index: 3 },
            Edit::ChangeHeader { name: "Y".into(), index: 0, value: vec![] },
        ];
        assert_eq!(apply(raw, &none), raw);
    }

    #[test]
    fn body_replaced_after_the_blank_line_or_given_one() {
        let raw = b"Subject: x\n\nold\n";
        let e = [Edit::ReplaceBody(b"new\n".to_vec())];
        assert_eq!(apply(raw, &e), b"Subject: x\n\nnew\n");
        // A header that no blank line ends, or no line break.
        assert_eq!(apply(b"Subject: x\n", &e), b"Subject: x\n\nnew\n");
        assert_eq!(apply(b"Subject: x", &e), b"Subject: x\n\nnew\n");
        let to =
            Edit::AppendHeader { name: "To".into(), value: b" y".to_vec() };
        assert_eq!(apply(b"Subject: x", &[to]), b"Subject: x\nTo: y\n");
        // The mbox From line stays above an inserted field.
        assert_eq!(
            apply(b"From a@b Mon\nTo: c\n\nb\n", &[ins("X", " 1")]),
            b"From a@b Mon\nX: 1\nTo: c\n\nb\n"
        );
    }

    #[test]
    fn a_body_replacement_is_found_only_below_the_header() {
        let raw = b"Subject: x\r\n\r\nold\r\n";
        assert_eq!(
            body_replacement(raw, b"Subject: x\r\n\r\nnew body\r\n"),
            Some(Edit::ReplaceBody(b"new body\r\n".to_vec()))
        );
        assert_eq!(body_replacement(raw, b"Subject: y\r\n\r\nold\r\n"), None);
    }
}
