//! Changing a message where it must change and nowhere else: removing
//! infected parts, the result header, the subject tag and footers.
//!
//! Every change is a splice into the original bytes, so the rest of the
//! message — 8-bit text in any charset, line endings, header folding,
//! boundaries — stays byte for byte as it came. mailparse finds the MIME
//! structure; the offsets of its slices locate each part.

use std::collections::BTreeSet;
use std::ops::Range;

use crate::edit::{Edit, body_replacement};

/// One MIME entity and where it lies in the message: the engine's own
/// reading of the structure, so that the parts the agents edit are the
/// parts the engine scanned, however malformed the message.
pub use nod32_engine::mime::Entity as Part;
use nod32_engine::mime::{self as engine_mime, Encoding};

/// A message's structure.
#[derive(Clone, Debug)]
pub struct Message<'a> {
    raw: &'a [u8],
    /// The whole message (after any mbox `From ` line).
    pub root: Part,
    /// The message's own line ending, used for every added line.
    pub eol: &'static str,
    /// Its structure had to be repaired to be read: clients may see
    /// other parts than we do, so nothing is added to its text.
    pub repaired: bool,
}

/// Where the message's headers start: after an mbox `From ` line, which
/// an MDA is handed.
pub(crate) fn headers_start(raw: &[u8]) -> usize {
    if raw.starts_with(b"From ") {
        memchr_nl(raw, 0).map_or(raw.len(), |i| i + 1)
    } else {
        0
    }
}

fn memchr_nl(raw: &[u8], from: usize) -> Option<usize> {
    raw[from..].iter().position(|&b| b == b'\n').map(|i| i + from)
}

pub(crate) fn detect_eol(raw: &[u8]) -> &'static str {
    match memchr_nl(raw, 0) {
        Some(i) if i > 0 && raw[i - 1] == b'\r' => "\r\n",
        _ => "\n",
    }
}

impl<'a> Message<'a> {
    /// Finds the structure of `raw`. Never fails: a message the engine
    /// had to repair is read as the engine read it.
    pub fn parse(raw: &'a [u8]) -> Message<'a> {
        let hs = headers_start(raw);
        let mail = engine_mime::parse(&raw[hs..]);
        let mut root = mail.root;
        shift(&mut root, hs);
        Message {
            raw,
            root,
            eol: detect_eol(raw),
            repaired: !mail.repairs.is_empty(),
        }
    }

    /// The decoded body of a part (its transfer encoding undone); for a
    /// part whose headers name several encodings, each reading.
    pub fn decoded(&self, part: &Part) -> Vec<Vec<u8>> {
        let whole = std::ptr::eq(part, &self.root);
        part.encodings
            .iter()
            .map(|&e| engine_mime::decode_body(self.raw, part, e, whole))
            .collect()
    }

    /// The body that replaces each listed part by a short text part
    /// saying `notice`; `None` when a part reaches into the top-level
    /// header (a structure only the engine's repairs could read).
    pub fn replace_parts(&self, parts: &[(&Part, String)]) -> Option<Edit> {
        let eol = self.eol;
        let edits = parts
            .iter()
            .map(|(p, notice)| {
                let text = to_eol(notice.trim_end(), eol);
                let (cs, cte) = if text.is_ascii() {
                    ("us-ascii", "7bit")
                } else {
                    ("utf-8", "8bit")
                };
                let new = format!(
                    "Content-Type: text/plain; charset={cs}{eol}\
                     Content-Transfer-Encoding: {cte}{eol}\
                     Content-Disposition: inline{eol}{eol}{text}"
                );
                // A part that runs to the end of the message keeps its
                // final line break.
                let tail =
                    if p.end == self.raw.len() && self.raw.ends_with(b"\n") {
                        eol
                    } else {
                        ""
                    };
                (p.start..p.end, format!("{new}{tail}").into_bytes())
            })
            .collect();
        body_replacement(self.raw, &splice(self.raw, edits))
    }
}

/// Moves a parsed tree's offsets by `by` (the mbox `From ` line).
fn shift(p: &mut Part, by: usize) {
    p.start += by;
    p.body_start += by;
    p.end += by;
    for c in &mut p.children {
        shift(c, by);
    }
}

/// Applies non-overlapping replacements to `raw`.
pub(crate) fn splice(
    raw: &[u8],
    mut edits: Vec<(Range<usize>, Vec<u8>)>,
) -> Vec<u8> {
    edits.sort_by_key(|(r, _)| (r.start, r.end));
    let extra: usize = edits.iter().map(|(_, b)| b.len()).sum();
    let mut out = Vec::with_capacity(raw.len() + extra);
    let mut at = 0;
    for (r, bytes) in edits {
        // Overlaps cannot come from one parse; an inner part inside a
        // removed one is dropped with it.
        if r.start < at {
            continue;
        }
        out.extend_from_slice(&raw[at..r.start]);
        out.extend_from_slice(&bytes);
        at = r.end;
    }
    out.extend_from_slice(&raw[at..]);
    out
}

fn to_eol(s: &str, eol: &str) -> String {
    s.replace("\r\n", "\n").replace('\n', eol)
}

/// One header field of the top-level header block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Field {
    /// From the name to the end of the last continuation line's break.
    pub(crate) range: Range<usize>,
    /// Lower case.
    pub(crate) name: String,
    /// Where the value starts (after the colon).
    pub(crate) value_start: usize,
}

/// The top-level header fields and where the header block ends (the
/// offset of the blank line, or the end of the message).
pub(crate) fn fields(raw: &[u8]) -> (usize, Vec<Field>, usize) {
    let hs = headers_start(raw);
    let mut out: Vec<Field> = Vec::new();
    let mut at = hs;
    while at < raw.len() {
        let line_end = memchr_nl(raw, at).map_or(raw.len(), |i| i + 1);
        let line = &raw[at..line_end];
        if line == b"\n" || line == b"\r\n" {
            return (hs, out, at);
        }
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some(f) = out.last_mut() {
                f.range.end = line_end;
            }
        } else if let Some(colon) = line.iter().position(|&b| b == b':') {
            out.push(Field {
                range: at..line_end,
                name: String::from_utf8_lossy(&line[..colon])
                    .trim()
                    .to_ascii_lowercase(),
                value_start: at + colon + 1,
            });
        } else {
            // Not a header line: the body starts here (no blank line).
            return (hs, out, at);
        }
        at = line_end;
    }
    (hs, out, raw.len())
}

/// The header names a DKIM signature covers, lower case; `None` when the
/// message carries no DKIM-Signature.
pub fn dkim_signed_headers(raw: &[u8]) -> Option<BTreeSet<String>> {
    let (_, fields, _) = fields(raw);
    let mut out: Option<BTreeSet<String>> = None;
    for f in fields.iter().filter(|f| f.name == "dkim-signature") {
        let set = out.get_or_insert_with(BTreeSet::new);
        let value = String::from_utf8_lossy(&raw[f.value_start..f.range.end]);
        for tag in value.split(';') {
            let tag: String =
                tag.chars().filter(|c| !c.is_whitespace()).collect();
            if let Some(h) = tag.strip_prefix("h=") {
                set.extend(h.split(':').map(|n| n.to_ascii_lowercase()));
            }
        }
    }
    out
}

/// Sets the top-level header `name` to `value`: any existing field of
/// that name is removed (a sender cannot pre-mark its own mail), and the
/// field is added at the top, where trace fields go.
pub fn set_header(raw: &[u8], name: &str, value: &str) -> Vec<Edit> {
    let (_, fields, _) = fields(raw);
    let lname = name.to_ascii_lowercase();
    let n = fields.iter().filter(|f| f.name == lname).count() as u32;
    // Last first, so that each index still names the field it meant
    // however the MTA counts the ones already gone.
    let mut edits: Vec<Edit> = (1..=n)
        .rev()
        .map(|index| Edit::DeleteHeader { name: name.into(), index })
        .collect();
    edits.push(Edit::InsertHeader {
        name: name.into(),
        value: format!(" {}", crate::template::sanitize(value)).into_bytes(),
    });
    edits
}

/// Adds the top-level header `name: value` at the top, keeping any
/// field of that name already there (another hop's).
pub fn add_header(name: &str, value: &str) -> Edit {
    Edit::InsertHeader {
        name: name.into(),
        value: format!(" {}", crate::template::sanitize(value)).into_bytes(),
    }
}

/// Puts `tag` and a space before the Subject (adding a Subject when
/// there is none); nothing when the subject already starts with it.
pub fn tag_subject(raw: &[u8], tag: &str) -> Option<Edit> {
    let tag = crate::template::sanitize(tag);
    let (_, fields, _) = fields(raw);
    let Some(f) = fields.iter().find(|f| f.name == "subject") else {
        return Some(Edit::AppendHeader {
            name: "Subject".into(),
            value: format!(" {tag}").into_bytes(),
        });
    };
    let mut at = f.value_start;
    while at < f.range.end && (raw[at] == b' ' || raw[at] == b'\t') {
        at += 1;
    }
    if raw[at..f.range.end].starts_with(tag.as_bytes()) {
        return None;
    }
    let mut end = f.range.end;
    for b in [b'\n', b'\r'] {
        if end > at && raw[end - 1] == b {
            end -= 1;
        }
    }
    let mut value = raw[f.value_start..at].to_vec();
    value.extend_from_slice(format!("{tag} ").as_bytes());
    value.extend_from_slice(&raw[at..end]);
    Some(Edit::ChangeHeader { name: "Subject".into(), index: 1, value })
}

/// The decoded Subject, for templates and logs.
pub fn subject(raw: &[u8]) -> String {
    subject_and_message_id(raw).0
}

/// The Message-ID, for the log when there is no queue id.
pub fn message_id(raw: &[u8]) -> Option<String> {
    subject_and_message_id(raw).1
}

/// [`subject`] and [`message_id`] from one reading of the header (each
/// message needs both, and the reading is most of their cost).
pub fn subject_and_message_id(raw: &[u8]) -> (String, Option<String>) {
    let hs = headers_start(raw);
    let Ok((h, _)) = mailparse::parse_headers(&raw[hs..]) else {
        return (String::new(), None);
    };
    let value = |name: &str| {
        h.iter().find(|h| h.get_key_ref().eq_ignore_ascii_case(name))
    };
    (
        value("subject").map(|h| h.get_value()).unwrap_or_default(),
        value("message-id").map(|h| h.get_value().trim().to_string()),
    )
}

/// The text parts a footer goes into: a lone text part; every text
/// alternative of a multipart/alternative; otherwise the first part of a
/// multipart. Signed and encrypted multiparts are left alone unless
/// `signed_too` (encrypted ones always).
fn footer_targets(p: &Part, signed_too: bool) -> Vec<&Part> {
    let text = |p: &Part| {
        (p.mimetype == "text/plain" || p.mimetype == "text/html")
            && !p.attachment
            && !p.after_close
    };
    match p.mimetype.as_str() {
        "multipart/encrypted" => Vec::new(),
        "multipart/signed" if !signed_too => Vec::new(),
        "multipart/alternative" => p
            .children
            .iter()
            .flat_map(|c| {
                if c.is_multipart() {
                    footer_targets(c, signed_too)
                } else if text(c) {
                    vec![c]
                } else {
                    Vec::new()
                }
            })
            .collect(),
        m if m.starts_with("multipart/") => p
            .children
            .first()
            .map(|c| footer_targets(c, signed_too))
            .unwrap_or_default(),
        _ if text(p) => vec![p],
        _ => Vec::new(),
    }
}

/// The body with the footer added to its text; `None` when it has no
/// text part to take one, or its structure had to be repaired. `text` and
/// `html` are the expanded templates.
pub fn add_footer(
    msg: &Message<'_>,
    text: &str,
    html: &str,
    signed_too: bool,
) -> Option<Edit> {
    if msg.repaired {
        return None;
    }
    let targets = footer_targets(&msg.root, signed_too);
    if targets.is_empty() {
        return None;
    }
    let eol = msg.eol;
    let raw = msg.raw;
    let mut edits = Vec::new();
    for p in targets {
        let is_html = p.mimetype == "text/html";
        let mut footer =
            if is_html { html.to_string() } else { text.to_string() };
        if !(footer.is_ascii() || p.charset == "utf-8" || p.charset == "utf8")
        {
            footer = footer
                .chars()
                .map(|c| if c.is_ascii() { c } else { '?' })
                .collect();
        }
        let footer = to_eol(footer.trim_end(), eol);
        let body = &raw[p.body_start..p.end];
        let ends_with_eol = body.ends_with(b"\n");
        let qp = match p.encodings.as_slice() {
            [Encoding::Base64] => None,
            [Encoding::QuotedPrintable] => Some(true),
            [Encoding::Plain] => Some(false),
            // Headers that disagree on the encoding: no reading of the
            // part is sure to stay intact.
            _ => continue,
        };
        match qp {
            None => {
                let mut decoded = msg.decoded(p).pop().unwrap_or_default();
                let at = if is_html {
                    find_body_close(&decoded).unwrap_or(decoded.len())
                } else {
                    decoded.len()
                };
                let mut add = String::new();
                if !is_html {
                    if !decoded.ends_with(b"\n") && !decoded.is_empty() {
                        add.push_str(eol);
                    }
                    add.push_str(eol);
                }
                add.push_str(&footer);
                add.push_str(eol);
                decoded.splice(at..at, add.into_bytes());
                let mut enc = base64_lines(&decoded, eol);
                if ends_with_eol {
                    enc.push_str(eol);
                }
                edits.push((p.body_start..p.end, enc.into_bytes()));
            }
            Some(qp) => {
                let encoded = if qp {
                    qp_encode(footer.as_bytes(), eol)
                } else {
                    footer.into_bytes()
                };
                let close = if is_html { find_body_close(body) } else { None };
                let (at, bytes) = match close {
                    Some(i) => {
                        let mut b = Vec::new();
                        if qp {
                            b.extend_from_slice(format!("={eol}").as_bytes());
                        }
                        b.extend_from_slice(&encoded);
                        b.extend_from_slice(
                            if qp {
                                format!("={eol}").into_bytes()
                            } else {
                                eol.as_bytes().to_vec()
                            }
                            .as_slice(),
                        );
                        (p.body_start + i, b)
                    }
                    None => {
                        let mut b = Vec::new();
                        if ends_with_eol {
                            if !is_html {
                                b.extend_from_slice(eol.as_bytes());
                            }
                            b.extend_from_slice(&encoded);
                            b.extend_from_slice(eol.as_bytes());
                        } else {
                            b.extend_from_slice(eol.as_bytes());
                            if !is_html {
                                b.extend_from_slice(eol.as_bytes());
                            }
                            b.extend_from_slice(&encoded);
                        }
                        (p.end, b)
                    }
                };
                edits.push((at..at, bytes));
            }
        }
    }
    if edits.is_empty() {
        return None;
    }
    body_replacement(raw, &splice(raw, edits))
}

/// The offset of the last `</body` (any case).
fn find_body_close(b: &[u8]) -> Option<usize> {
    b.windows(6).rposition(|w| w.eq_ignore_ascii_case(b"</body"))
}

/// Base64 in 76-character lines, without a final line break.
fn base64_lines(data: &[u8], eol: &str) -> String {
    nod32_engine::mime::base64_encode(data, Some(eol))
}

/// Quoted-printable, lines of at most 76 characters, soft breaks where
/// needed; the input's line breaks are kept as hard breaks.
fn qp_encode(data: &[u8], eol: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 16);
    let text = String::from_utf8_lossy(data).replace("\r\n", "\n");
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.extend_from_slice(eol.as_bytes());
        }
        let bytes = line.as_bytes();
        let mut col = 0;
        for (j, &b) in bytes.iter().enumerate() {
            let last = j + 1 == bytes.len();
            let plain = (b'!'..=b'~').contains(&b) && b != b'='
                || ((b == b' ' || b == b'\t') && !last);
            let piece =
                if plain { vec![b] } else { format!("={b:02X}").into_bytes() };
            if col + piece.len() > 75 {
                out.push(b'=');
                out.extend_from_slice(eol.as_bytes());
                col = 0;
            }
            col += piece.len();
            out.extend_from_slice(&piece);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edit::apply;

    fn structure(raw: &[u8]) -> Vec<(String, Option<String>)> {
        let m = mailparse::parse_mail(raw).unwrap();
        let mut out = Vec::new();
        fn walk(
            p: &mailparse::ParsedMail<'_>,
            out: &mut Vec<(String, Option<String>)>,
        ) {
            out.push((
                p.ctype.mimetype.clone(),
                p.get_content_disposition().params.get("filename").cloned(),
            ));
            for c in &p.subparts {
                walk(c, out);
            }
        }
        walk(&m, &mut out);
        out
    }

    const MIXED: &str = "From: a@example.org\r\nTo: b@example.net\r\nSubject: report\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\npreamble\r\n--XX\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\u{fc}\u{df}e aus K\u{f6}ln\r\n--XX\r\nContent-Type: application/octet-stream; name=\"a.exe\"\r\nContent-Disposition: attachment; filename=\"a.exe\"\r\nContent-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAA=\r\n--XX\r\nContent-Type: image/png; name=\"b.png\"\r\nContent-Disposition: attachment; filename=\"b.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--XX--\r\nepilogue\r\n";

    fn latin1(s: &str) -> Vec<u8> {
        // The constants above write Latin-1 bytes as \xNN chars.
        s.chars().map(|c| c as u32 as u8).collect()
    }

    #[test]
    fn removing_a_part_keeps_the_rest_byte_for_byte() {
        let raw = latin1(MIXED);
        let m = Message::parse(&raw);
        assert_eq!(m.eol, "\r\n");
        let leaves = m.root.leaves();
        assert_eq!(leaves.len(), 3);
        assert_eq!(leaves[1].filename.as_deref(), Some("a.exe"));
        assert!(m.decoded(leaves[1])[0].starts_with(b"MZ\x90\0"));
        let e = m.replace_parts(&[(leaves[1], "removed: a.exe\n".into())]);
        let out = apply(&raw, &[e.unwrap()]);

        let before = structure(&raw);
        let after = structure(&out);
        assert_eq!(after.len(), before.len());
        assert_eq!(after[2], ("text/plain".to_string(), None));
        let mut expect = before.clone();
        expect[2] = after[2].clone();
        assert_eq!(after, expect);

        // Everything but the replaced part is unchanged, 8-bit text too.
        let (s, e) = (leaves[1].start, leaves[1].end);
        assert_eq!(&out[..s], &raw[..s]);
        assert_eq!(&out[out.len() - (raw.len() - e)..], &raw[e..]);
        assert!(
            String::from_utf8_lossy(&out[s..out.len() - (raw.len() - e)])
                .ends_with("\r\n\r\nremoved: a.exe")
        );
    }

    #[test]
    fn header_is_set_once_at_the_top() {
        let raw = b"From sender@example.org  Sat Nov 28 20:00:00 2026\nReturn-Path: <s@x>\nX-NOD32Result: clean\nSubject: hi\nX-Nod32result: clean\n  folded\n\nbody\nX-NOD32Result: in body\n";
        let out = apply(raw, &set_header(raw, "X-NOD32Result", "deleted"));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "From sender@example.org  Sat Nov 28 20:00:00 2026\nX-NOD32Result: deleted\nReturn-Path: <s@x>\nSubject: hi\n\nbody\nX-NOD32Result: in body\n"
        );
    }

    #[test]
    fn subject_tag() {
        let raw = b"Subject:  Hello\r\n =?utf-8?q?w=C3=B6rld?=\r\nTo: x\r\n\r\nb\r\n";
        let out = apply(raw, &[tag_subject(raw, "[virus Eicar]").unwrap()]);
        assert_eq!(
            &out[..],
            b"Subject:  [virus Eicar] Hello\r\n =?utf-8?q?w=C3=B6rld?=\r\nTo: x\r\n\r\nb\r\n"
        );
        assert_eq!(subject(&out), "[virus Eicar] Hello w\u{f6}rld");
        assert_eq!(tag_subject(&out, "[virus Eicar]"), None);
        let raw = b"To: x\n\nbody\n";
        let none = apply(raw, &[tag_subject(raw, "[virus]").unwrap()]);
        assert_eq!(&none[..], b"To: x\nSubject: [virus]\n\nbody\n");
    }

    #[test]
    fn dkim_coverage() {
        let raw = b"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=s1;\r\n\th=From:To:Subject:Date; bh=abc=; b=xyz\r\nSubject: s\r\n\r\nbody\r\n";
        let h = dkim_signed_headers(raw).unwrap();
        assert!(h.contains("subject") && h.contains("from"));
        assert!(!h.contains("x-nod32result"));
        assert_eq!(dkim_signed_headers(b"Subject: s\n\nb\n"), None);
    }

    fn footer_of(raw: &[u8]) -> Vec<u8> {
        let m = Message::parse(raw);
        let e = add_footer(&m, "-- \nchecked ok", "<p>checked ok</p>", false);
        apply(raw, &[e.unwrap()])
    }

    #[test]
    fn footer_on_plain_text() {
        let out = footer_of(b"Subject: s\n\nHello\n");
        assert_eq!(&out[..], b"Subject: s\n\nHello\n\n-- \nchecked ok\n");
        let crlf = footer_of(b"Subject: s\r\n\r\nHello");
        assert_eq!(
            &crlf[..],
            b"Subject: s\r\n\r\nHello\r\n\r\n-- \r\nchecked ok"
        );
    }

    #[test]
    fn footer_on_alternative_goes_into_both() {
        let raw = b"Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\nHi\n--b\nContent-Type: text/html\nContent-Transfer-Encoding: quoted-printable\n\n<html><body>Hi=20there</body></html>\n--b--\n";
        let out = footer_of(raw);
        let m = mailparse::parse_mail(&out).unwrap();
        assert_eq!(m.subparts.len(), 2);
        assert_eq!(m.subparts[0].get_body().unwrap(), "Hi\n\n-- \nchecked ok");
        assert_eq!(
            m.subparts[1].get_body().unwrap(),
            "<html><body>Hi there<p>checked ok</p></body></html>"
        );
    }

    #[test]
    fn footer_on_mixed_goes_into_the_first_text_only() {
        let raw = latin1(MIXED);
        let out = footer_of(&raw);
        let m = mailparse::parse_mail(&out).unwrap();
        assert_eq!(m.subparts.len(), 3);
        assert_eq!(
            m.subparts[0].get_body_raw().unwrap(),
            b"Gr\xfc\xdfe aus K\xf6ln\r\n\r\n-- \r\nchecked ok"
        );
        // The attachments are untouched, byte for byte.
        let tail = |b: &[u8]| {
            let i = b.windows(7).position(|w| w == b"--XX\r\nC").unwrap();
            let j =
                b[i + 1..].windows(7).position(|w| w == b"--XX\r\nC").unwrap();
            b[i + 1 + j..].to_vec()
        };
        assert_eq!(tail(&out), tail(&raw));
        assert_eq!(structure(&out), structure(&raw));
    }

    #[test]
    fn footer_in_base64_text_is_reencoded() {
        let raw = b"Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\nPGh0bWw+PGJvZHk+SMOpPC9ib2R5PjwvaHRtbD4=\n";
        let out = footer_of(raw);
        let m = mailparse::parse_mail(&out).unwrap();
        assert_eq!(
            m.get_body().unwrap(),
            "<html><body>H\u{e9}<p>checked ok</p>\n</body></html>"
        );
    }

    #[test]
    fn no_footer_where_it_would_break_a_signature() {
        let raw = b"Content-Type: multipart/signed; boundary=s; protocol=\"application/pgp-signature\"\n\n--s\nContent-Type: text/plain\n\nsigned\n--s\nContent-Type: application/pgp-signature\n\nsig\n--s--\n";
        let m = Message::parse(raw);
        assert_eq!(add_footer(&m, "f", "f", false), None);
        assert!(add_footer(&m, "f", "f", true).is_some());
        let att = b"Content-Type: application/pdf\n\n%PDF\n";
        assert_eq!(add_footer(&Message::parse(att), "f", "f", true), None);
    }

    #[test]
    fn no_footer_in_repaired_mail() {
        let raw = b"From: a\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n Content-Type: text/plain\r\n\r\nhi\r\n--B--\r\n";
        let m = Message::parse(raw);
        assert!(m.repaired);
        assert_eq!(add_footer(&m, "f", "f", true), None);
    }

    #[test]
    fn encoders() {
        assert_eq!(base64_lines(b"Man", "\n"), "TWFu");
        assert_eq!(base64_lines(b"Ma", "\n"), "TWE=");
        assert_eq!(base64_lines(b"M", "\n"), "TQ==");
        assert_eq!(base64_lines(&[0u8; 60], "\n").lines().count(), 2);
        assert_eq!(
            qp_encode("caf\u{e9} = ok \nx".as_bytes(), "\n"),
            b"caf=C3=A9 =3D ok=20\nx"
        );
        let long = qp_encode(&[b'a'; 100], "\r\n");
        assert!(long.split(|&b| b == b'\n').all(|l| l.len() <= 77));
    }
}
