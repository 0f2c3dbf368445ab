//! The structure of a mail message, read leniently: every part a mail
//! client or ClamAV would find is found, however the message is broken.
//!
//! Well-formed MIME is read as RFC 2045/2046 say. Where a message breaks
//! the rules, the reading that shows *more* wins, and what had to be
//! repaired is recorded ([`Repairs`]), for an administrator who refuses
//! mail that clients may read differently. The parser never fails: a
//! message that is not MIME at all is one text part.
//!
//! Offsets in the result point into the bytes given, so that the agents
//! can splice changes into the message at the parts they locate.
//!
//! Bounded: the tree is at most [`MAX_DEPTH`] levels deep and holds at
//! most [`MAX_ENTITIES`] entities; beyond either, parsing stops and says
//! so. Time is linear in the message's size per nesting level.

use std::borrow::Cow;

mod base64x;
mod decode;
mod headers;

pub(crate) use decode::{base64_decode, base64_decode_plain, base64_junk};
pub use decode::{base64_encode, decode, decode_body};
pub(crate) use headers::message_id;
use headers::*;

/// How deep multiparts may nest before the walk stops.
pub const MAX_DEPTH: usize = 32;

/// How many parameters of a Content-Type (or Content-Disposition) field
/// are kept, as ClamAV keeps no more.
const MAX_PARAMS: usize = 256;

/// How many Content-Type and Content-Transfer-Encoding fields of one
/// entity are read.
const MAX_FIELDS: usize = 16;

/// How many entities one message may hold (ClamAV caps MIME parts per
/// message too); a crafted message of millions of empty parts would
/// otherwise cost memory per part.
pub const MAX_ENTITIES: usize = 10_000;

/// What had to be repaired to read a message, as bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Repairs(u16);

impl Repairs {
    /// A line ended by a bare CR, or by more than one CR before its LF.
    pub const LINE_END: Repairs = Repairs(1);
    /// A header block whose first line starts with white space, white
    /// space before a header's colon, NUL bytes in headers.
    pub const HEADER_SYNTAX: Repairs = Repairs(1 << 1);
    /// Content-Type or Content-Transfer-Encoding given more than once
    /// with different values.
    pub const REPEATED_HEADER: Repairs = Repairs(1 << 2);
    /// A transfer encoding that is not a plain token (quoted, with
    /// parameters or comments, misspelt), or base64 with characters
    /// outside its alphabet or blank lines inside.
    pub const ENCODING: Repairs = Repairs(1 << 3);
    /// Parts after a multipart's closing delimiter, or a boundary that
    /// only a lenient match finds.
    pub const BOUNDARY: Repairs = Repairs(1 << 4);

    const NAMES: [(Repairs, &'static str); 5] = [
        (Repairs::LINE_END, "LineEnd"),
        (Repairs::HEADER_SYNTAX, "HeaderSyntax"),
        (Repairs::REPEATED_HEADER, "RepeatedHeader"),
        (Repairs::ENCODING, "Encoding"),
        (Repairs::BOUNDARY, "Boundary"),
    ];

    /// No repair was needed.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every repair in `other` is in `self`.
    pub fn contains(self, other: Repairs) -> bool {
        self.0 & other.0 == other.0
    }

    fn add(&mut self, r: Repairs) {
        self.0 |= r.0;
    }

    /// The name of the first repair, for `Heuristics.Mail.Malformed.*`.
    pub fn first_name(self) -> Option<&'static str> {
        Repairs::NAMES.iter().find(|(r, _)| self.contains(*r)).map(|(_, n)| *n)
    }
}

/// A transfer encoding, as far as decoding is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// 7bit, 8bit, binary, none given or unknown: lines as they are.
    Plain,
    /// base64.
    Base64,
    /// quoted-printable.
    QuotedPrintable,
}

/// One MIME entity and where it lies in the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entity {
    /// Offset of the first header line.
    pub start: usize,
    /// Offset of the body (after the blank line).
    pub body_start: usize,
    /// End of the body: the end of the enclosing range, or the line
    /// break before the next delimiter.
    pub end: usize,
    /// `type/subtype`, lower case (`text/plain` when not given).
    pub mimetype: String,
    /// The charset parameter, lower case (`us-ascii` when not given).
    pub charset: String,
    /// The encodings to decode the body with: one, or several when the
    /// headers disagree (each reading is scanned).
    pub encodings: Vec<Encoding>,
    /// No transfer encoding as ClamAV's mail reader counts it (none,
    /// `7bit`, `us-ascii` or `text/plain`): `8bit`, `binary` and names it
    /// does not know are encodings to it, and it checks the links of text
    /// parts so encoded.
    pub unencoded: bool,
    /// The disposition is none or `inline`.
    pub inline: bool,
    /// A Content-Type with a type was given (not defaulted).
    pub typed: bool,
    /// The file name from Content-Disposition or Content-Type.
    pub filename: Option<String>,
    /// `Content-Disposition: attachment`.
    pub attachment: bool,
    /// The name ClamAV's mail reader gives the part's file, before it
    /// makes it safe: the Content-Type parameters and the first
    /// Content-Disposition one are its arguments (`filename=unknown` when a
    /// disposition names none); the first `filename`, else `name`, else
    /// `attachment`.
    pub clamav_name: String,
    /// The parts of a multipart.
    pub children: Vec<Entity>,
    /// Found after its multipart's closing delimiter: the epilogue, or
    /// a part hidden there. Scanned, but no part a reader is shown.
    pub after_close: bool,
}

impl Entity {
    /// A `multipart/*` entity that was split into parts.
    pub fn is_multipart(&self) -> bool {
        self.mimetype.starts_with("multipart/")
    }

    /// Whether this is a `message/rfc822` entity (its body a message).
    pub fn is_message(&self) -> bool {
        self.mimetype == "message/rfc822"
    }

    /// Every entity that is not a multipart, depth first.
    pub fn leaves(&self) -> Vec<&Entity> {
        let mut out = Vec::new();
        fn walk<'p>(p: &'p Entity, out: &mut Vec<&'p Entity>) {
            if p.is_multipart() {
                for c in &p.children {
                    walk(c, out);
                }
            } else {
                out.push(p);
            }
        }
        walk(self, &mut out);
        out
    }
}

/// A parsed message.
#[derive(Clone, Debug)]
pub struct Mail {
    /// The message's top-level entity.
    pub root: Entity,
    /// What had to be repaired.
    pub repairs: Repairs,
    /// The tree was cut at [`MAX_DEPTH`].
    pub too_deep: bool,
    /// The tree was cut at [`MAX_ENTITIES`].
    pub too_many: bool,
}

/// Reads the structure of one message (no mbox `From ` line).
pub fn parse(raw: &[u8]) -> Mail {
    parse_nested(raw, 0)
}

/// [`parse`] for a message found `depth` levels down (a message/rfc822
/// part), which counts against [`MAX_DEPTH`].
pub fn parse_nested(raw: &[u8], depth: usize) -> Mail {
    let mut p = Parser {
        raw,
        repairs: Repairs::default(),
        entities: 0,
        too_deep: false,
        too_many: false,
    };
    let start = skip_orphan_lines(raw, 0);
    let mut root = p.entity(start, raw.len(), depth, false);
    if root.mimetype == "message/rfc822-headers" {
        // A delivery report's headers sent as a whole message's type
        // (instead of text/rfc822-headers): read as the message text.
        root.mimetype = "text/plain".to_string();
    }
    Mail {
        root,
        repairs: p.repairs,
        too_deep: p.too_deep,
        too_many: p.too_many,
    }
}

/// Where a line's content ends and the next line starts. LF, CR LF, a
/// run of CRs before an LF, and a bare CR (or run of them) each end a
/// line: a mail client may take any of them for one.
fn line_at(raw: &[u8], at: usize, end: usize) -> (usize, usize, bool) {
    match memchr::memchr2(b'\n', b'\r', &raw[at..end]) {
        None => (end, end, false),
        Some(i) => {
            let e = at + i;
            if raw[e] == b'\n' {
                return (e, e + 1, false);
            }
            let mut j = e;
            while j < end && raw[j] == b'\r' {
                j += 1;
            }
            if j < end && raw[j] == b'\n' {
                (e, j + 1, j - e > 1)
            } else {
                (e, j, true)
            }
        }
    }
}

/// Skips blank lines and continuation lines that have no header before
/// them, where a message (often one quoted in a text part) begins: they
/// are not an empty header block.
fn skip_orphan_lines(raw: &[u8], mut at: usize) -> usize {
    while at < raw.len() {
        let c = raw[at];
        if !matches!(c, b'\n' | b'\r' | b' ' | b'\t') {
            break;
        }
        // A header written after leading white space still counts.
        if matches!(c, b' ' | b'\t') && looks_like_header(&raw[at..]) {
            break;
        }
        match memchr::memchr(b'\n', &raw[at..]) {
            Some(nl) => at += nl + 1,
            None => return raw.len(),
        }
    }
    at
}

/// `  Name: value` with a field name of printable characters.
fn looks_like_header(line: &[u8]) -> bool {
    let line = trim_start(line);
    let Some(colon) = line.iter().take(80).position(|&b| b == b':') else {
        return false;
    };
    let name = trim_end(&line[..colon]);
    !name.is_empty() && name.iter().all(|&b| b.is_ascii_graphic())
}

fn trim_start(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    s
}

fn trim_end(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t' | b'\r' | b'\n' | b'\0'] = s {
        s = rest;
    }
    s
}

/// The headers of one entity that matter to its structure.
#[derive(Default)]
struct Fields {
    content_type: Vec<String>,
    encoding: Vec<String>,
    disposition: Option<String>,
}

struct Parser<'a> {
    raw: &'a [u8],
    repairs: Repairs,
    entities: usize,
    too_deep: bool,
    too_many: bool,
}

impl Parser<'_> {
    /// Reads the header block at `at`; returns the fields and where the
    /// body starts.
    fn headers(&mut self, mut at: usize, end: usize) -> (Fields, usize) {
        let raw = self.raw;
        let mut f = Fields::default();
        // Which field the current line continues.
        let mut current: Option<&mut String> = None;
        let mut first = true;
        while at < end {
            let (cend, next, odd) = line_at(raw, at, end);
            if odd {
                self.repairs.add(Repairs::LINE_END);
            }
            let line = &raw[at..cend];
            if line.is_empty() {
                return (f, next);
            }
            let ws = matches!(line[0], b' ' | b'\t');
            if ws && !first && trim_start(line).is_empty() {
                // White space alone: a fold (obsolete syntax) when a
                // header follows, else the end of the header block, as
                // ClamAV reads it (a body must not vanish into a field).
                let (c2, _, _) = line_at(raw, next, end);
                let following = &raw[next..c2];
                if !(looks_like_header(following)
                    || following
                        .first()
                        .is_some_and(|&b| b == b' ' || b == b'\t'))
                {
                    self.repairs.add(Repairs::HEADER_SYNTAX);
                    return (f, next);
                }
            }
            if ws && !first {
                if let Some(v) = current.as_deref_mut() {
                    v.push_str(&header_text(line));
                }
                at = next;
                continue;
            }
            if ws {
                if trim_start(line).is_empty() {
                    // White space alone where headers should start: the
                    // header block is empty.
                    self.repairs.add(Repairs::HEADER_SYNTAX);
                    return (f, next);
                }
                self.repairs.add(Repairs::HEADER_SYNTAX);
            }
            first = false;
            if memchr::memchr(0, line).is_some() {
                self.repairs.add(Repairs::HEADER_SYNTAX);
            }
            let body = trim_start(line);
            // Parameters on a line of their own, not indented, after a
            // field that ends in `;`: its continuation, as ClamAV reads it.
            if memchr::memchr(b':', body).is_none()
                && let Some(v) = current.as_deref_mut()
                && v.trim_end().ends_with(';')
            {
                self.repairs.add(Repairs::HEADER_SYNTAX);
                v.push(' ');
                v.push_str(&header_text(line));
                at = next;
                continue;
            }
            current = None;
            // A line without a colon is not a header, but stays in the
            // header block, as mail readers keep it (read alike by all).
            if let Some(colon) = memchr::memchr(b':', body) {
                let name = &body[..colon];
                let tname = trim_end(name);
                if tname.len() != name.len() {
                    self.repairs.add(Repairs::HEADER_SYNTAX);
                }
                // Only the fields that shape the structure are kept
                // (a 100 MB Subject is never copied).
                let value = || header_text(&body[colon + 1..]);
                let slot = if tname.eq_ignore_ascii_case(b"content-type") {
                    if f.content_type.len() == MAX_FIELDS {
                        // More would cost a parse each and change nothing.
                        at = next;
                        continue;
                    }
                    f.content_type.push(value());
                    f.content_type.last_mut()
                } else if tname
                    .eq_ignore_ascii_case(b"content-transfer-encoding")
                {
                    if f.encoding.len() == MAX_FIELDS {
                        // More would cost a parse each and change nothing.
                        at = next;
                        continue;
                    }
                    f.encoding.push(value());
                    f.encoding.last_mut()
                } else if tname.eq_ignore_ascii_case(b"content-disposition")
                    && f.disposition.is_none()
                {
                    f.disposition = Some(value());
                    f.disposition.as_mut()
                } else {
                    None
                };
                current = slot;
            }
            at = next;
        }
        (f, end)
    }

    /// The entity from `start` to `end`. `digest`: a part of a
    /// multipart/digest, whose default type is message/rfc822.
    fn entity(
        &mut self,
        start: usize,
        end: usize,
        depth: usize,
        digest: bool,
    ) -> Entity {
        self.entities += 1;
        let (fields, body_start) = self.headers(start, end);
        let cts: Vec<ContentType> = fields
            .content_type
            .iter()
            .map(|v| ContentType::parse(v))
            .collect();
        if cts.len() > 1 && cts.iter().any(|c| c.mimetype != cts[0].mimetype) {
            self.repairs.add(Repairs::REPEATED_HEADER);
        }
        // A type without a subtype (`text`, `html`) is no type at all to
        // ClamAV's mail reader: the field is passed over.
        let primary = cts.iter().find(|c| c.mimetype.contains('/'));
        let mut mimetype = match primary {
            Some(c) => c.mimetype.clone(),
            _ if digest => "message/rfc822".to_string(),
            _ => "text/plain".to_string(),
        };
        let charset = primary
            .and_then(|c| c.param("charset"))
            .map(|s| s.to_ascii_lowercase())
            .unwrap_or_else(|| "us-ascii".to_string());
        let mut encodings = self.encodings(&fields.encoding);
        // With several fields, one that says none is enough (as seen
        // from clamscan).
        let unencoded = fields.encoding.is_empty()
            || fields.encoding.iter().any(|v| encoding_of(v).unencoded);
        let typed = primary.is_some_and(|c| !c.mimetype.is_empty());
        let disposition =
            fields.disposition.as_deref().map(ContentType::parse);
        let filename = disposition
            .as_ref()
            .and_then(|d| d.param("filename"))
            .or_else(|| cts.iter().find_map(|c| c.param("name")))
            .map(|s| decode_words(&s));
        let attachment =
            disposition.as_ref().is_some_and(|d| d.mimetype == "attachment");
        let inline = disposition
            .as_ref()
            .is_none_or(|d| d.mimetype.is_empty() || d.mimetype == "inline");
        let clamav_name = {
            let mut args: Vec<(String, String)> = primary
                .map(|c| c.params.iter().map(clamav_arg).collect())
                .unwrap_or_default();
            if let Some(d) = &disposition {
                args.extend(d.params.first().map(clamav_arg));
                if !args.iter().any(|(k, _)| k == "filename") {
                    args.push(("filename".into(), "unknown".into()));
                }
            }
            let arg = |name: &str| args.iter().find(|(k, _)| k == name);
            arg("filename").or_else(|| arg("name")).map_or_else(
                || "attachment".to_string(),
                |(_, v)| decode_words(v),
            )
        };

        let mut children = Vec::new();
        if body_start < end {
            // The first boundary declared by a multipart Content-Type
            // that the body holds: several fields, a parameter given
            // twice or in RFC 2231 form too, each a reading a client may
            // take. A few are tried, each costing a pass over the body.
            // `multipart` without a subtype too: ClamAV finds the parts
            // of such a body by their headers; it is read as mixed here.
            let candidates = cts
                .iter()
                .filter(|c| {
                    c.mimetype.starts_with("multipart/")
                        || c.mimetype == "multipart"
                })
                .flat_map(|c| {
                    c.param_all("boundary").into_iter().map(move |b| (c, b))
                })
                .filter(|(_, b)| !b.is_empty());
            let mut tried: Vec<String> = Vec::new();
            for (ct, b) in candidates {
                if tried.len() == 4 {
                    break;
                }
                if tried.contains(&b) {
                    continue;
                }
                tried.push(b.clone());
                if depth >= MAX_DEPTH {
                    self.too_deep = true;
                    break;
                }
                let parts = self.split(body_start, end, b.as_bytes());
                if parts.is_empty() {
                    continue;
                }
                if tried.len() > 1 {
                    self.repairs.add(Repairs::REPEATED_HEADER);
                }
                mimetype = if ct.mimetype == "multipart" {
                    self.repairs.add(Repairs::HEADER_SYNTAX);
                    "multipart/mixed".to_string()
                } else {
                    ct.mimetype.clone()
                };
                let digest = mimetype == "multipart/digest";
                for (s, e, after_close) in parts {
                    if self.entities >= MAX_ENTITIES {
                        self.too_many = true;
                        break;
                    }
                    // An epilogue is text by definition: how it breaks
                    // header syntax repairs nothing a reader is shown.
                    let before = self.repairs;
                    let mut c = self.entity(s, e, depth + 1, digest);
                    if after_close {
                        self.repairs = before;
                    }
                    // An epilogue that was all header block (a list's
                    // footer paragraph) holds nothing.
                    if after_close
                        && c.body_start >= c.end
                        && c.children.is_empty()
                    {
                        continue;
                    }
                    c.after_close = after_close;
                    children.push(c);
                }
                break;
            }
        }
        if children.is_empty() && mimetype.starts_with("multipart/") {
            // A multipart with no parts found is read as text.
            mimetype = "text/plain".to_string();
        }
        if children.is_empty()
            && encodings.contains(&Encoding::Plain)
            && !encodings.contains(&Encoding::Base64)
            && mimetype != "message/rfc822"
            && (!mimetype.starts_with("text/") || filename.is_some())
            && looks_base64(&self.raw[body_start.min(end)..end])
        {
            // Base64 with its Content-Transfer-Encoding lost (an MTA turns
            // a bare CR into a space and the field into part of the one
            // before it; ClamAV decodes a named part as base64 too when
            // one of its encodings is none): read both ways.
            self.repairs.add(Repairs::ENCODING);
            encodings.push(Encoding::Base64);
        }
        Entity {
            start,
            body_start: body_start.min(end),
            end,
            mimetype,
            charset,
            encodings,
            unencoded,
            inline,
            typed,
            filename,
            attachment,
            clamav_name,
            children,
            after_close: false,
        }
    }

    /// The encodings the Content-Transfer-Encoding fields ask for, each
    /// once.
    fn encodings(&mut self, fields: &[String]) -> Vec<Encoding> {
        let mut out = Vec::new();
        for v in fields {
            let te = encoding_of(v);
            if !te.clean {
                self.repairs.add(Repairs::ENCODING);
            }
            for e in te.readings {
                if !out.contains(&e) {
                    out.push(e);
                }
            }
        }
        if out.len() > 1 {
            self.repairs.add(Repairs::REPEATED_HEADER);
        }
        if out.is_empty() {
            out.push(Encoding::Plain);
        }
        out
    }

    /// The parts of a multipart body in `start..end` delimited by
    /// `boundary`: each part's range, without the line break before the
    /// next delimiter, and whether it comes after a closing delimiter.
    /// Empty when no delimiter is found.
    ///
    /// Delimiter lines are read as [`Parser::delimiters`] says, in
    /// another case when the exact boundary is nowhere. A closing
    /// delimiter does not end the walk: what follows it is read as a part
    /// too, as ClamAV does (so an inner boundary that is the outer one
    /// and `--` loses nothing).
    fn split(
        &mut self,
        start: usize,
        end: usize,
        boundary: &[u8],
    ) -> Vec<(usize, usize, bool)> {
        let raw = self.raw;
        let mut delims = self.delimiters(&raw[start..end], start, boundary);
        if delims.is_empty() && boundary.iter().any(u8::is_ascii_alphabetic) {
            let folded = raw[start..end].to_ascii_lowercase();
            delims = self.delimiters(
                &folded,
                start,
                &boundary.to_ascii_lowercase(),
            );
            if !delims.is_empty() {
                self.repairs.add(Repairs::BOUNDARY);
            }
        }
        let mut parts = Vec::new();
        let mut closed = false;
        for (k, &(_, body, close)) in delims.iter().enumerate() {
            let part_end = match delims.get(k + 1) {
                Some(&(ls, _, _)) => strip_line_break(raw, body, ls),
                None => end,
            };
            let mut body = body.min(part_end);
            if closed {
                self.repairs.add(Repairs::BOUNDARY);
            }
            if close {
                closed = true;
                // The epilogue, read as a part whose blank lines before
                // its header block are skipped (as ClamAV reads it): a
                // mailing list's footer paragraph is a header block with
                // no body, a part hidden there is found.
                loop {
                    let (cend, next, _) = line_at(raw, body, part_end);
                    if cend != body || next == body {
                        break;
                    }
                    body = next;
                }
                if raw[body..part_end].iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
            }
            parts.push((body, part_end, closed));
        }
        parts
    }

    /// The delimiter lines of `boundary` in `hay` (which starts at
    /// `base` in the message): where each line starts, where the line
    /// after it starts, and whether it closes.
    ///
    /// A delimiter line is `--`, the boundary, and then only white space
    /// or `--` (closing; anything may follow then), as RFC 2046, mail
    /// clients and ClamAV read it; ClamAV also takes more dashes, or `-`
    /// and any one character, before the boundary. Only lines starting
    /// with `-` are looked at: they are rare in encoded data, so the walk
    /// is one fast byte search, and each line is looked at once.
    fn delimiters(
        &mut self,
        hay: &[u8],
        base: usize,
        boundary: &[u8],
    ) -> Vec<(usize, usize, bool)> {
        let lead = boundary.iter().take_while(|&&b| b == b'-').count();
        let mut out = Vec::new();
        let mut from = 0;
        while let Some(p) =
            memchr::memchr(b'-', &hay[from..]).map(|i| from + i)
        {
            from = p + 1;
            if p > 0 && !matches!(hay[p - 1], b'\n' | b'\r') {
                continue;
            }
            // `-`, one character (a dash or not), then a run of dashes.
            let Some(&x) = hay.get(p + 1) else { break };
            if x == b'\n' || x == b'\r' {
                continue;
            }
            let run_start = p + 2;
            let run = hay[run_start.min(hay.len())..]
                .iter()
                .take_while(|&&b| b == b'-')
                .count();
            from = from.max(run_start + run);
            // The boundary's own leading dashes end the run.
            if run < lead {
                continue;
            }
            let at = run_start + run - lead;
            if !hay[at..].starts_with(boundary) {
                continue;
            }
            let after = at + boundary.len();
            let (cend, next, _) = line_at(hay, after, hay.len());
            let rest = &hay[after..cend];
            let close = rest.starts_with(b"--");
            if !close && !rest.iter().all(|&b| b == b' ' || b == b'\t') {
                continue;
            }
            if x != b'-' || at != p + 2 {
                self.repairs.add(Repairs::BOUNDARY);
            }
            if p > 0 && hay[p - 1] == b'\r' {
                // A line started after a bare CR.
                self.repairs.add(Repairs::LINE_END);
            }
            out.push((base + p, base + next, close));
            from = from.max(next);
        }
        out
    }
}

/// Whether a body starts like base64: its first line (after empty ones)
/// is at least 20 characters of the alphabet, padded to a multiple of 4.
fn looks_base64(body: &[u8]) -> bool {
    let mut at = 0;
    for _ in 0..4 {
        let (cend, next, _) = line_at(body, at, body.len());
        let line = &body[at..cend];
        if line.is_empty() {
            if next == at {
                return false;
            }
            at = next;
            continue;
        }
        let data = line
            .strip_suffix(b"==")
            .or_else(|| line.strip_suffix(b"="))
            .unwrap_or(line);
        return line.len() >= 20
            && line.len().is_multiple_of(4)
            && data.iter().all(|&b| {
                b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
            });
    }
    false
}

/// `at` moved back over one line break that ends at it (LF, CR LF, CRs).
fn strip_line_break(raw: &[u8], from: usize, mut at: usize) -> usize {
    if at > from && raw[at - 1] == b'\n' {
        at -= 1;
    }
    while at > from && raw[at - 1] == b'\r' {
        at -= 1;
    }
    at
}

#[cfg(test)]
mod tests;
