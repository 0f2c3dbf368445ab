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

/// The Message-ID of the message `raw` starts with, as `<id>`, to name
/// the message in a report: a scan result is printed to terminals and
/// parsed by scripts, so every byte that is not printable ASCII, and
/// `"` and `\`, shows as `?`, and at most [`MAX_MESSAGE_ID`] bytes are
/// kept. `None` when the header is missing or empty.
pub(crate) fn message_id(raw: &[u8]) -> Option<String> {
    let mut at = skip_orphan_lines(raw, 0);
    let mut value: Option<Vec<u8>> = None;
    while at < raw.len() {
        let (cend, next, _) = line_at(raw, at, raw.len());
        let line = &raw[at..cend];
        if line.is_empty() {
            break;
        }
        if matches!(line[0], b' ' | b'\t') {
            if let Some(v) = value.as_mut() {
                v.push(b' ');
                v.extend_from_slice(trim_start(line));
            }
        } else if value.is_some() {
            break;
        } else if let Some(colon) = memchr::memchr(b':', line)
            && trim_end(&line[..colon]).eq_ignore_ascii_case(b"message-id")
        {
            value = Some(line[colon + 1..].to_vec());
        }
        if value.as_ref().is_some_and(|v| v.len() > 4 * MAX_MESSAGE_ID) {
            break;
        }
        at = next;
    }
    let value = value?;
    let v = trim_end(trim_start(&value));
    // The msg-id itself, without comments or text around it.
    let v = match memchr::memchr(b'<', v) {
        Some(lt) => {
            let v = &v[lt..];
            memchr::memchr(b'>', v).map_or(v, |gt| &v[..=gt])
        }
        None => v,
    };
    if v.is_empty() {
        return None;
    }
    Some(
        v.iter()
            .take(MAX_MESSAGE_ID)
            .map(|&b| match b {
                b'"' | b'\\' => '?',
                b if b.is_ascii_graphic() => b as char,
                _ => '?',
            })
            .collect(),
    )
}

/// The longest Message-ID [`message_id`] gives, in bytes (RFC 5322
/// lines are 998 at most; real ones are well under 100).
pub(crate) const MAX_MESSAGE_ID: usize = 250;

/// A header line's text, without the NUL bytes that mail readers (and
/// ClamAV) drop.
fn header_text(b: &[u8]) -> String {
    if memchr::memchr(0, b).is_none() {
        return String::from_utf8_lossy(b).into_owned();
    }
    let v: Vec<u8> = b.iter().copied().filter(|&c| c != 0).collect();
    String::from_utf8_lossy(&v).into_owned()
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

/// What a Content-Transfer-Encoding value asks for, read as ClamAV's
/// mail reader reads it: every token separated by white space, a name
/// it does not know taken for the known one it most resembles (at least
/// half alike: `7bi` is 7bit, `bas64` base64), and one resembling none
/// decoded both as base64 and as quoted-printable.
struct TransferEncoding {
    /// The readings to decode the body with, each once.
    readings: Vec<Encoding>,
    /// One of the tokens means no encoding (`7bit`, `us-ascii`,
    /// `text/plain`, or none at all).
    unencoded: bool,
    /// One bare token ClamAV knows exactly.
    clean: bool,
}

/// The names ClamAV's mail reader knows, in its order (the first of
/// equally close guesses wins), with the reading each gives and whether
/// it means no encoding.
const KNOWN_ENCODINGS: &[(&str, Encoding, bool)] = &[
    ("7bit", Encoding::Plain, true),
    ("text/plain", Encoding::Plain, true),
    ("quoted-printable", Encoding::QuotedPrintable, false),
    ("base64", Encoding::Base64, false),
    ("8bit", Encoding::Plain, false),
    ("binary", Encoding::Plain, false),
    ("x-uuencode", Encoding::Plain, false),
    ("x-yencode", Encoding::Plain, false),
    ("x-binhex", Encoding::Plain, false),
    ("us-ascii", Encoding::Plain, true),
    ("x-uue", Encoding::Plain, false),
];

fn encoding_of(value: &str) -> TransferEncoding {
    let v = value.trim().to_ascii_lowercase();
    // The value ends at a NUL, as for a C reader.
    let v = v.split('\0').next().unwrap_or_default();
    let v = if v == "8 bit" { "8bit" } else { v };
    let mut out = TransferEncoding {
        readings: Vec::new(),
        unencoded: false,
        clean: false,
    };
    let mut read = |name: &str| match known_encoding(name) {
        Some((e, none)) => {
            if !out.readings.contains(&e) {
                out.readings.push(e);
            }
            out.unencoded |= none;
        }
        None => {
            for e in [Encoding::Base64, Encoding::QuotedPrintable] {
                if !out.readings.contains(&e) {
                    out.readings.push(e);
                }
            }
        }
    };
    let tokens: Vec<&str> =
        v.split([' ', '\t']).filter(|t| !t.is_empty()).collect();
    // Guessing costs a few thousand steps a token: past a few tokens (no
    // mail has them) every reading is taken instead, which holds
    // whatever a guess would have given.
    const MAX_TOKENS: usize = 16;
    if tokens.len() > MAX_TOKENS {
        read("8bit");
        read("base64");
        read("quoted-printable");
    }
    for t in tokens.iter().take(MAX_TOKENS) {
        // ClamAV's reading of the token as it is, and the repaired one
        // (quotes, parameters and comments are not part of a name): a
        // body is decoded both ways when they differ.
        read(t);
        let name = t
            .trim_matches(|c: char| c == '"' || c == '\'')
            .split([';', '(', '"', '\''])
            .next()
            .unwrap_or_default();
        if !name.is_empty() && name != *t {
            read(name);
        }
    }
    if tokens.is_empty() {
        out.unencoded = true;
        out.readings.push(Encoding::Plain);
    }
    out.clean = tokens.len() == 1
        && KNOWN_ENCODINGS.iter().any(|(n, ..)| *n == tokens[0])
        && tokens[0] == value.trim().to_ascii_lowercase();
    out
}

/// The reading a transfer encoding name gives, and whether it means no
/// encoding: a name ClamAV knows, or the one it most resembles (names
/// starting with the same letter, all for an `x` name; the first of equal
/// guesses) if at least half alike; `None` for one resembling none.
fn known_encoding(name: &str) -> Option<(Encoding, bool)> {
    if let Some(&(_, e, none)) =
        KNOWN_ENCODINGS.iter().find(|(n, ..)| *n == name)
    {
        return Some((e, none));
    }
    let mut best: Option<(&(&str, Encoding, bool), u32)> = None;
    for k in KNOWN_ENCODINGS {
        if !name.starts_with(&k.0[..1]) && !name.starts_with('x') {
            continue;
        }
        let sim = similarity(name, k.0);
        if best.is_none_or(|(_, b)| sim > b) {
            best = Some((k, sim));
        }
    }
    best.filter(|(_, sim)| *sim >= 50).map(|(&(_, e, none), _)| (e, none))
}

/// How alike two short names are, in percent: twice the characters they
/// share over their total length, the shared ones found as the longest
/// common run and then, on each side of it, the same again (runs of a
/// single character left on both sides are not counted). Names over 49
/// characters are not compared.
fn similarity(a: &str, b: &str) -> u32 {
    fn common(a: &[u8], b: &[u8]) -> usize {
        let mut best = (0, 0, 0);
        for i in 0..a.len() {
            for j in 0..b.len() {
                let n = a[i..]
                    .iter()
                    .zip(&b[j..])
                    .take_while(|(x, y)| x.eq_ignore_ascii_case(y))
                    .count();
                if n > best.2 {
                    best = (i, j, n);
                }
            }
        }
        let (i, j, n) = best;
        if n == 0 {
            return 0;
        }
        let worth = |x: &[u8], y: &[u8]| {
            (x.len() > 1 && !y.is_empty()) || (y.len() > 1 && !x.is_empty())
        };
        let (la, lb) = (&a[..i], &b[..j]);
        let (ra, rb) = (&a[i + n..], &b[j + n..]);
        n + if worth(la, lb) { common(la, lb) } else { 0 }
            + if worth(ra, rb) { common(ra, rb) } else { 0 }
    }
    if a.eq_ignore_ascii_case(b) {
        return 100;
    }
    if a.len() > 49 || b.len() > 49 {
        return 0;
    }
    let total = a.len() + b.len();
    if total == 0 {
        return 0;
    }
    (common(a.as_bytes(), b.as_bytes()) * 200 / total) as u32
}

/// A parsed Content-Type (or Content-Disposition) value.
/// A parameter as ClamAV's mail reader takes an RFC 2231 one: `name*`
/// without its charset and language and with `%XX` decoded, `name*0` (a
/// first section alone) decoded the same, `name*0*` (sections to join)
/// given up as `rfc2231failure`; any other as it is.
fn clamav_arg((k, v): &(String, String)) -> (String, String) {
    let decode = |v: &str| {
        let b = v.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            let hex =
                |at: usize| b.get(at).and_then(|&c| (c as char).to_digit(16));
            match (b[i], hex(i + 1), hex(i + 2)) {
                (b'%', Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                }
                (c, ..) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    if let Some(base) = k.strip_suffix("*0*") {
        (base.to_string(), "rfc2231failure".to_string())
    } else if let Some(base) = k.strip_suffix("*0") {
        (base.to_string(), decode(v))
    } else if let Some(base) = k.strip_suffix('*') {
        // charset'language'value
        let value = v.splitn(3, '\'').nth(2).unwrap_or(v);
        (base.to_string(), decode(value))
    } else {
        (k.clone(), v.clone())
    }
}

#[derive(Debug)]
struct ContentType {
    mimetype: String,
    params: Vec<(String, String)>,
}

impl ContentType {
    fn parse(value: &str) -> ContentType {
        // Unfold: line breaks of continuation lines go, their white
        // space stays.
        let value: Cow<'_, str> = if value.contains(['\r', '\n']) {
            Cow::Owned(value.replace(['\r', '\n'], ""))
        } else {
            Cow::Borrowed(value)
        };
        let value = strip_comments(&value);
        let mut pieces = split_unquoted(&value).into_iter();
        let first = pieces.next().unwrap_or("");
        // `multipart/mixed, boundary=...`: a comma for the first
        // semicolon, as Thunderbird reads it.
        let (first, more) = match first.split_once(',') {
            Some((t, p)) if p.contains('=') => (t, Some(p)),
            _ => (first, None),
        };
        let mimetype = first
            .trim_matches(|c: char| c.is_whitespace() || c == '\0' || c == '"')
            .to_ascii_lowercase();
        let mut params = Vec::new();
        // As many as ClamAV keeps: a field of a million empty parameters
        // must not cost a million allocations.
        for p in more.into_iter().chain(pieces).take(MAX_PARAMS) {
            if let Some((k, v)) = p.split_once('=') {
                let k = k.trim().to_ascii_lowercase();
                params.push((k, unquote(v.trim())));
            }
        }
        ContentType { mimetype, params }
    }

    /// A parameter's value: plain, or put together from RFC 2231
    /// sections (`name*0`, `name*1*`, ...) and extended values
    /// (`name*=charset'lang'%XX`).
    fn param(&self, name: &str) -> Option<String> {
        self.param_all(name).into_iter().next()
    }

    /// Every value a parameter is given: each plain one, the extended
    /// one, the one put together from sections, in that order.
    fn param_all(&self, name: &str) -> Vec<String> {
        let mut all: Vec<String> = self
            .params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect();
        let ext = format!("{name}*");
        if let Some((_, v)) = self.params.iter().find(|(k, _)| *k == ext) {
            all.push(rfc2231_value(v, true));
        }
        let mut out = Vec::new();
        for i in 0..64 {
            let plain = format!("{name}*{i}");
            let enc = format!("{name}*{i}*");
            if let Some((_, v)) = self.params.iter().find(|(k, _)| *k == plain)
            {
                out.extend_from_slice(v.as_bytes());
            } else if let Some((_, v)) =
                self.params.iter().find(|(k, _)| *k == enc)
            {
                out.extend_from_slice(rfc2231_value(v, i == 0).as_bytes());
            } else {
                break;
            }
        }
        if !out.is_empty() {
            all.push(String::from_utf8_lossy(&out).into_owned());
        }
        all
    }
}

/// An RFC 2231 extended value: `charset'language'` (in the first
/// section) and percent escapes.
fn rfc2231_value(v: &str, first: bool) -> String {
    let v = if first {
        let mut it = v.splitn(3, '\'');
        match (it.next(), it.next(), it.next()) {
            (Some(_), Some(_), Some(rest)) => rest,
            _ => v,
        }
    } else {
        v
    };
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(h) = b.get(i + 1..i + 3)
            && let Ok(s) = std::str::from_utf8(h)
            && let Ok(x) = u8::from_str_radix(s, 16)
        {
            out.push(x);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn split_unquoted(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, b) in s.bytes().enumerate() {
        if escaped {
            escaped = false;
        } else if quoted && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            quoted = !quoted;
        } else if b == b';' && !quoted {
            out.push(&s[start..i]);
            start = i + 1;
        }
    }
    out.push(&s[start..]);
    out
}

/// A parameter value: a quoted string ends at its closing quote (what
/// follows is dropped, as Thunderbird does; an unterminated one runs to
/// the end), anything else is taken as it is.
fn unquote(v: &str) -> String {
    let Some(inner) = v.strip_prefix('"') else {
        return v.to_string();
    };
    let mut out = String::with_capacity(inner.len());
    let mut esc = false;
    for c in inner.chars() {
        if esc {
            esc = false;
        } else if c == '\\' {
            esc = true;
            continue;
        } else if c == '"' {
            break;
        }
        out.push(c);
    }
    out
}

/// RFC 822 comments (`(...)`, nested) outside quoted strings removed.
fn strip_comments(v: &str) -> Cow<'_, str> {
    if !v.contains('(') {
        return Cow::Borrowed(v);
    }
    let mut out = String::with_capacity(v.len());
    let (mut depth, mut quoted, mut esc) = (0u32, false, false);
    for c in v.chars() {
        if esc {
            esc = false;
        } else if c == '\\' && (quoted || depth > 0) {
            esc = true;
        } else if depth == 0 && c == '"' {
            quoted = !quoted;
        } else if !quoted && c == '(' {
            depth += 1;
            continue;
        } else if depth > 0 && c == ')' {
            depth -= 1;
            continue;
        }
        if depth == 0 {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// RFC 2047 encoded words (`=?utf-8?B?...?=`) in a parameter value, as
/// mail clients show file names.
fn decode_words(s: &str) -> String {
    if !s.contains("=?") {
        return s.to_string();
    }
    let field = format!("X: {s}");
    match mailparse::parse_header(field.as_bytes()) {
        Ok((h, _)) => h.get_value(),
        Err(_) => s.to_string(),
    }
}

/// The body of `e` in `raw`, decoded with `enc` (one of
/// `e.encodings`), as ClamAV writes a decoded part out: a part of a
/// multipart loses the empty lines its body starts with. `whole`: `e`
/// is the message's top-level entity.
pub fn decode_body(
    raw: &[u8],
    e: &Entity,
    enc: Encoding,
    whole: bool,
) -> Vec<u8> {
    let mut body = &raw[e.body_start..e.end];
    if !whole {
        loop {
            let (cend, next, _) = line_at(body, 0, body.len());
            if cend != 0 || next == 0 {
                break;
            }
            body = &body[next..];
        }
    }
    decode(body, enc, whole)
}

/// Decodes a body with one encoding, the way ClamAV writes decoded parts
/// out: base64 leniently, anything else line by line, CRs dropped and
/// every line ending in LF. `whole`: the body runs to the end of its
/// message.
pub fn decode(body: &[u8], e: Encoding, whole: bool) -> Vec<u8> {
    match e {
        Encoding::Base64 => base64_decode(body),
        Encoding::QuotedPrintable => line_decode(body, true, whole),
        Encoding::Plain => line_decode(body, false, whole),
    }
}

/// Decodes a line-oriented body the way ClamAV's mail parser writes it
/// out: every line (CR stripped) ends in LF, including a last line that
/// had none; a quoted-printable line ending in `=` continues the next.
/// Matching ClamAV byte for byte here is what keeps hash signatures and
/// `EOF-n` offsets on text parts giving the same verdicts.
///
/// `whole` is a body that runs to the end of its message; a multipart
/// part's body has already lost the line break before its delimiter.
pub(crate) fn line_decode(raw: &[u8], qp: bool, whole: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 1);
    let raw = if whole { raw.strip_suffix(b"\n").unwrap_or(raw) } else { raw };
    if raw.is_empty() {
        return out;
    }
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !qp {
            out.extend_from_slice(line);
            out.push(b'\n');
            continue;
        }
        let mut i = 0;
        let mut soft = false;
        while i < line.len() {
            let c = line[i];
            if c == b'=' {
                if i + 1 == line.len() {
                    soft = true;
                    break;
                }
                let hexv = |b: u8| (b as char).to_digit(16);
                if let (Some(h), Some(l)) = (
                    line.get(i + 1).and_then(|b| hexv(*b)),
                    line.get(i + 2).and_then(|b| hexv(*b)),
                ) {
                    out.push((h * 16 + l) as u8);
                    i += 3;
                    continue;
                }
            }
            out.push(c);
            i += 1;
        }
        if !soft {
            out.push(b'\n');
        }
    }
    out
}

/// Decodes base64 leniently, as mail readers and ClamAV do: bytes outside
/// the alphabet (line breaks, stray spaces, `=`) are skipped, and a final
/// partial group yields the bytes it holds.
pub(crate) fn base64_decode(input: &[u8]) -> Vec<u8> {
    base64_decode_plain(input).0
}

/// [`base64_decode`], and whether the input held nothing but the
/// alphabet, line ends and `=` (then it holds no text line such as a
/// header or a uuencoded block: those need a space or a dash). Told
/// by the decoder's slow path, so it costs nothing more.
pub(crate) fn base64_decode_plain(input: &[u8]) -> (Vec<u8>, bool) {
    const INVALID: u8 = 0xff;
    let mut plain = true;
    static LUT: [u8; 256] = {
        let mut t = [INVALID; 256];
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut i = 0;
        while i < 64 {
            t[alphabet[i] as usize] = i as u8;
            i += 1;
        }
        t
    };
    let mut out = Vec::with_capacity(input.len() / 4 * 3 + 3);
    let mut acc = 0u32;
    let mut n = 0;
    let mut i = 0;
    while i < input.len() {
        // The common case: four alphabet bytes in a row, group aligned.
        if n == 0
            && let Some(q) = input.get(i..i + 4)
        {
            let v = [
                LUT[q[0] as usize],
                LUT[q[1] as usize],
                LUT[q[2] as usize],
                LUT[q[3] as usize],
            ];
            if v.iter().all(|&x| x != INVALID) {
                let w = (v[0] as u32) << 18
                    | (v[1] as u32) << 12
                    | (v[2] as u32) << 6
                    | v[3] as u32;
                out.extend_from_slice(&[
                    (w >> 16) as u8,
                    (w >> 8) as u8,
                    w as u8,
                ]);
                i += 4;
                continue;
            }
        }
        let v = LUT[input[i] as usize];
        i += 1;
        if v == INVALID {
            plain &= matches!(input[i - 1], b'\r' | b'\n' | b'=');
            continue;
        }
        acc = acc << 6 | v as u32;
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[
                (acc >> 16) as u8,
                (acc >> 8) as u8,
                acc as u8,
            ]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    }
    (out, plain)
}

/// Whether base64 holds what a strict decoder stops at: characters
/// outside the alphabet other than white space and `=`, or an empty line
/// with data after it. A pass of its own, run only when the repair alert
/// is wanted, so that decoding keeps its speed.
pub(crate) fn base64_junk(input: &[u8]) -> bool {
    let alphabet = |c: u8| c.is_ascii_alphanumeric() || c == b'+' || c == b'/';
    if input.iter().any(|&c| {
        !alphabet(c) && !matches!(c, b'\r' | b'\n' | b' ' | b'\t' | b'=')
    }) {
        return true;
    }
    // Trailing empty lines (before a delimiter) are not inside.
    let data_end = input.iter().rposition(|&c| alphabet(c)).unwrap_or(0);
    let inner = &input[..data_end];
    memchr::memchr_iter(b'\n', inner).any(|i| {
        let rest = &inner[i + 1..];
        rest.starts_with(b"\n") || rest.starts_with(b"\r\n")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_is_read_from_the_header_and_shown_safely() {
        let id = |m: &[u8]| message_id(m);
        assert_eq!(
            id(b"From: a\nMessage-ID: <m1@example.org>\n\nbody"),
            Some("<m1@example.org>".into())
        );
        // Any case, white space before the colon, folded, a comment.
        assert_eq!(
            id(b"message-id :\r\n\t(x) <m2@example.org> (y)\r\n\r\n"),
            Some("<m2@example.org>".into())
        );
        // The first of two; none in the body.
        assert_eq!(
            id(b"Message-Id: <a@b>\nMessage-Id: <c@d>\n\n"),
            Some("<a@b>".into())
        );
        assert_eq!(id(b"From: a\n\nMessage-ID: <body@x>\n"), None);
        assert_eq!(id(b"Message-ID:   \nSubject: x\n\n"), None);
        assert_eq!(
            id(b"Message-ID: no-brackets@x\n\n"),
            Some("no-brackets@x".into())
        );
        // Nothing a terminal or a parser of `"...\"` fields would act on.
        assert_eq!(
            id(b"Message-ID: <a\"b\x1b[2J \\c\xc3\xa9@x>\n\n"),
            Some("<a?b?[2J??c??@x>".into())
        );
        let long = format!("Message-ID: <{}@x>\n\n", "a".repeat(10_000));
        assert_eq!(id(long.as_bytes()).map(|s| s.len()), Some(MAX_MESSAGE_ID));
        let folded = format!("Message-ID: <a\n{}\n\n", " b\n".repeat(100_000));
        assert_eq!(
            id(folded.as_bytes()).map(|s| s.len()),
            Some(MAX_MESSAGE_ID)
        );
    }

    /// Vectors observed from clamscan 1.4.6 with `--leave-temps`.
    #[test]
    fn line_decoding_matches_clamav() {
        assert_eq!(
            line_decode(b"hello\nworld\n", false, true),
            b"hello\nworld\n"
        );
        assert_eq!(
            line_decode(b"hello\nworld", false, true),
            b"hello\nworld\n"
        );
        assert_eq!(line_decode(b"hel=3Dlo\n\n", true, true), b"hel=lo\n\n");
        assert_eq!(line_decode(b"abc=", true, true), b"abc");
        assert_eq!(
            line_decode(b"x=0D=0A\r\ny=20\r\n", true, true),
            b"x\r\n\ny \n"
        );
        assert_eq!(
            line_decode(b"abc=00def=0A=\nghi=3D\nline2\n", true, true),
            b"abc\0def\nghi=\nline2\n"
        );
    }

    #[test]
    fn base64_lenient() {
        assert_eq!(base64_decode(b"QUJD\r\nREVG"), b"ABCDEF");
        assert_eq!(base64_decode(b"QU JD R A=="), b"ABCD");
        assert_eq!(base64_decode(b"QUJDRA="), b"ABCD");
        assert_eq!(base64_decode(b"QUI="), b"AB");
        assert_eq!(base64_decode(b""), b"");
        assert_eq!(base64_decode(b"!!!!"), b"");
        // Whether only the alphabet, line ends and padding were seen.
        assert!(base64_decode_plain(b"QUJD\r\nREVG\nQQ==").1);
        assert!(!base64_decode_plain(b"QU JD").1);
        assert!(!base64_decode_plain(b"QUJD\n--b--").1);
        assert!(!base64_junk(b"QUJD\r\nREVG\r\n\r\n"));
        assert!(!base64_junk(b"QU JD R A=="));
        assert!(base64_junk(b"QU!JD\r\nREVG"));
        assert!(base64_junk(b"QUJD\r\n\r\nREVG"));
    }

    fn leaf_bodies(raw: &[u8]) -> (Vec<Vec<u8>>, Repairs) {
        let m = parse(raw);
        let mut out = Vec::new();
        for l in m.root.leaves() {
            let whole = std::ptr::eq(l, &m.root);
            for &e in &l.encodings {
                out.push(decode_body(raw, l, e, whole));
            }
        }
        (out, m.repairs)
    }

    const HEAD: &str =
        "From: a\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n";

    #[test]
    fn well_formed_needs_no_repair() {
        let m = format!(
            "{HEAD}pre\r\n--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n--B\r\n\
             Content-Transfer-Encoding: base64\r\n\r\nQUJD\r\n--B--\r\n"
        );
        let (b, r) = leaf_bodies(m.as_bytes());
        assert_eq!(b, vec![b"hi\n".to_vec(), b"ABC".to_vec()]);
        assert!(r.is_empty());
        // Offsets locate each part for the agents' splices.
        let p = parse(m.as_bytes());
        let att = &p.root.children[1];
        assert_eq!(&m.as_bytes()[att.body_start..att.end], b"QUJD");
    }

    #[test]
    fn transfer_encodings_as_clamav_guesses_them() {
        use Encoding::*;
        assert_eq!(similarity("7bi", "7bit"), 85);
        assert_eq!(similarity("bas64", "base64"), 90);
        assert_eq!(similarity("BASE64", "base64"), 100);
        assert_eq!(similarity("b", "binary"), 28);
        let read = |v: &str| {
            let t = encoding_of(v);
            (t.readings, t.unencoded, t.clean)
        };
        assert_eq!(read("base64"), (vec![Base64], false, true));
        assert_eq!(read(""), (vec![Plain], true, false));
        assert_eq!(read("7bi"), (vec![Plain], true, false));
        assert_eq!(read("bas64"), (vec![Base64], false, false));
        assert_eq!(read("8bi"), (vec![Plain], false, false));
        assert_eq!(read("x-base64"), (vec![Base64], false, false));
        assert_eq!(
            read("quoted-printabel"),
            (vec![QuotedPrintable], false, false)
        );
        // Every token counts.
        assert_eq!(read("7bit base64"), (vec![Plain, Base64], true, false));
        // A name like none is decoded both ways.
        assert_eq!(
            read("gzip"),
            (vec![Base64, QuotedPrintable], false, false)
        );
        // ClamAV's reading of a quoted name or one with parameters, and
        // the repaired one.
        assert_eq!(
            read("\"base64\""),
            (vec![Base64, QuotedPrintable], false, false)
        );
        assert_eq!(
            read("base64; x=y"),
            (vec![Base64, QuotedPrintable], false, false)
        );
        assert_eq!(read("bas\0e64"), (vec![Base64], false, false));
        // A field of very many names is read every way (each is not
        // guessed at).
        let many = "xquoted-printablex ".repeat(100_000);
        assert_eq!(read(&many).0, vec![Plain, Base64, QuotedPrintable]);
    }

    #[test]
    fn broken_part_headers_are_still_read() {
        for (headers, repair) in [
            (
                " Content-Transfer-Encoding: base64\r\n\r\n",
                Repairs::HEADER_SYNTAX,
            ),
            (
                "Content-Type: x/y\rContent-Transfer-Encoding: base64\r\n\r\n",
                Repairs::LINE_END,
            ),
            ("Content-Transfer-Encoding: base64\r\n\r\r\n", Repairs::LINE_END),
            (
                "Content-Transfer-Encoding : base64\r\n\r\n",
                Repairs::HEADER_SYNTAX,
            ),
            (
                "Content-Transfer-Encoding: \"BASE64\"\r\n\r\n",
                Repairs::ENCODING,
            ),
            (
                "Content-Transfer-Encoding: 7bit\r\nContent-Transfer-Encoding: base64\r\n\r\n",
                Repairs::REPEATED_HEADER,
            ),
            (
                "Content-Transfer-Encoding: bas\0e64\r\n\r\n",
                Repairs::HEADER_SYNTAX,
            ),
            (
                "Content-Transfer-Encoding: base64\r\n \r\n",
                Repairs::HEADER_SYNTAX,
            ),
        ] {
            let m = format!("{HEAD}--B\r\n{headers}QUJD\r\n--B--\r\n");
            let (b, r) = leaf_bodies(m.as_bytes());
            assert!(b.iter().any(|x| x == b"ABC"), "{headers:?}: {b:?}");
            assert!(r.contains(repair), "{headers:?}: {r:?}");
        }
    }

    #[test]
    fn boundaries_read_leniently() {
        // The inner boundary is the outer one and a suffix; a part hides
        // after the closing delimiter; the last one has none.
        let m = "From: a\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\
                 Content-Type: multipart/mixed; boundary=b-1\n\n--b-1\n\
                 Content-Transfer-Encoding: base64\n\nQUJD\n--b-1--\n--b--\n\
                 --b\nContent-Transfer-Encoding: base64\n\nREVG\n";
        let (b, r) = leaf_bodies(m.as_bytes());
        assert!(b.iter().any(|x| x == b"ABC"), "{b:?}");
        assert!(b.iter().any(|x| x == b"DEF"), "{b:?}");
        assert!(r.contains(Repairs::BOUNDARY));
        // RFC 2231 sections and a fold inside the parameter.
        let m = "From: a\nContent-Type: multipart/mixed;\n boundary*0=\"x\";\n\tboundary*1=\"y\"\n\n\
                 --xy\nContent-Transfer-Encoding: base64\n\nQUJD\n--xy--\n";
        assert!(leaf_bodies(m.as_bytes()).0.iter().any(|x| x == b"ABC"));
        // Parameters as Thunderbird reads them, and a boundary given
        // twice.
        for ct in [
            "multipart/mixed; boundary=\"xy\" (comment)",
            "multipart/mixed, boundary=\"xy\"",
            "(c) multipart/mixed; boundary=xy",
            "multipart/mixed; boundary=\"zz\"; boundary*=''xy",
        ] {
            let m = format!(
                "From: a\nContent-Type: {ct}\n\n--xy\n\
                 Content-Transfer-Encoding: base64\n\nQUJD\n--xy--\n"
            );
            let b = leaf_bodies(m.as_bytes()).0;
            assert!(b.iter().any(|x| x == b"ABC"), "{ct}: {b:?}");
        }
        // A line that only starts like a delimiter is no delimiter.
        let m = format!("{HEAD}--B\r\n\r\nQUJD\r\n--B!\r\nREVG\r\n--B--\r\n");
        assert_eq!(parse(m.as_bytes()).root.children.len(), 1);
        // A mailing list's footer after the close is no part.
        let m = format!(
            "{HEAD}--B\r\n\r\nhi\r\n--B--\r\n\r\n___\r\nList footer\r\n"
        );
        assert_eq!(parse(m.as_bytes()).root.children.len(), 1);
    }

    #[test]
    fn hostile_shapes_stay_linear_and_bounded() {
        // No delimiter among two million dashes (none at a line start).
        let mut m = b"From: a\nContent-Type: multipart/mixed; boundary=-\n\nx"
            .to_vec();
        m.resize(m.len() + 2_000_000, b'-');
        let t = std::time::Instant::now();
        let p = parse(&m);
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        let mut n = 0;
        fn count(e: &Entity, n: &mut usize) {
            *n += 1;
            e.children.iter().for_each(|c| count(c, n));
        }
        count(&p.root, &mut n);
        assert!(n <= MAX_ENTITIES);
        let m = "--b\n".repeat(50_000);
        let m = format!(
            "From: a\nContent-Type: multipart/mixed; boundary=b\n\n{m}"
        );
        let p = parse(m.as_bytes());
        assert!(p.too_many);
    }

    /// From the SpamAssassin corpus: a message quoted in a text part,
    /// after blank lines, and a body that starts with continuation lines.
    #[test]
    fn messages_with_ragged_starts() {
        fn at(m: &[u8]) -> &[u8] {
            &m[skip_orphan_lines(m, 0)..]
        }
        assert_eq!(at(b"\n\r\nSubject: x\n\nhi"), b"Subject: x\n\nhi");
        assert_eq!(at(b" =?GB2312?B?xx?=\n\n\tmore\nTo: a\n"), b"To: a\n");
    }
}
