//! Header values as the parser reads them: the Message-ID, the transfer
//! encoding (guessed from a misspelt name as ClamAV guesses it),
//! Content-Type with its parameters (RFC 2231 continuations, quoting,
//! comments) and encoded words.

use super::*;

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
pub(super) fn header_text(b: &[u8]) -> String {
    if memchr::memchr(0, b).is_none() {
        return String::from_utf8_lossy(b).into_owned();
    }
    let v: Vec<u8> = b.iter().copied().filter(|&c| c != 0).collect();
    String::from_utf8_lossy(&v).into_owned()
}

/// What a Content-Transfer-Encoding value asks for, read as ClamAV's
/// mail reader reads it: every token separated by white space, a name
/// it does not know taken for the known one it most resembles (at least
/// half alike: `7bi` is 7bit, `bas64` base64), and one resembling none
/// decoded both as base64 and as quoted-printable.
pub(super) struct TransferEncoding {
    /// The readings to decode the body with, each once.
    pub(super) readings: Vec<Encoding>,
    /// One of the tokens means no encoding (`7bit`, `us-ascii`,
    /// `text/plain`, or none at all).
    pub(super) unencoded: bool,
    /// One bare token ClamAV knows exactly.
    pub(super) clean: bool,
}

/// The names ClamAV's mail reader knows, in its order (the first of
/// equally close guesses wins), with the reading each gives and whether
/// it means no encoding.
pub(super) const KNOWN_ENCODINGS: &[(&str, Encoding, bool)] = &[
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

pub(super) fn encoding_of(value: &str) -> TransferEncoding {
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
pub(super) fn known_encoding(name: &str) -> Option<(Encoding, bool)> {
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
pub(super) fn similarity(a: &str, b: &str) -> u32 {
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
pub(super) fn clamav_arg((k, v): &(String, String)) -> (String, String) {
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
pub(super) struct ContentType {
    pub(super) mimetype: String,
    pub(super) params: Vec<(String, String)>,
}

impl ContentType {
    pub(super) fn parse(value: &str) -> ContentType {
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
    pub(super) fn param(&self, name: &str) -> Option<String> {
        self.param_all(name).into_iter().next()
    }

    /// Every value a parameter is given: each plain one, the extended
    /// one, the one put together from sections, in that order.
    pub(super) fn param_all(&self, name: &str) -> Vec<String> {
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
pub(super) fn rfc2231_value(v: &str, first: bool) -> String {
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

pub(super) fn split_unquoted(s: &str) -> Vec<&str> {
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
pub(super) fn unquote(v: &str) -> String {
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
pub(super) fn strip_comments(v: &str) -> Cow<'_, str> {
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
pub(super) fn decode_words(s: &str) -> String {
    if !s.contains("=?") {
        return s.to_string();
    }
    let field = format!("X: {s}");
    match mailparse::parse_header(field.as_bytes()) {
        Ok((h, _)) => h.get_value(),
        Err(_) => s.to_string(),
    }
}
