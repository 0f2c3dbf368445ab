//! Mail: RFC 5322/MIME messages and mbox files walked part by part (each
//! reading of a part whose headers disagree), bounces, uuencoded blocks
//! in text, and the alerts a broken structure raises.

use super::*;

/// A uuencoded file (it starts `begin `): the blocks it holds.
pub(crate) fn uuencoded<'s>(
    data: &[u8],
    sink: &'s mut dyn Sink,
) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    for (name, d) in uudecode_all(data) {
        if out.done() {
            break;
        }
        out.push(name, d);
    }
    out
}

pub(crate) fn mail<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    mail_walk(data, sink, true, true)
}

/// A message found inside another object (a quoted or forwarded message
/// in a text part, which ClamAV types as mail; an .eml in an archive):
/// walked like mail, but how its structure breaks is not what a reader
/// of the outer message is shown, so no repair alert.
pub(crate) fn mail_within<'s>(
    data: &[u8],
    sink: &'s mut dyn Sink,
) -> Unpacked<'s> {
    mail_walk(data, sink, false, false)
}

/// With `parts`, the leaves of each message are announced to the sink
/// (`Sink::part`) with their place in `data`.
pub(super) fn mail_walk<'s>(
    data: &[u8],
    sink: &'s mut dyn Sink,
    repair_alerts: bool,
    parts: bool,
) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let messages = split_mbox(data);
    // A lone message (with or without a `From ` line, as an MTA hands it
    // to a delivery agent) is not announced: its parts are just parts.
    let several = messages.len() > 1;
    for (i, msg) in messages.into_iter().enumerate() {
        if out.done() {
            break;
        }
        if several {
            out.sink.message_start(i + 1);
        }
        // Where the message lies in `data` (after its `From ` line).
        let base =
            parts.then(|| msg.as_ptr() as usize - data.as_ptr() as usize);
        walk_top(msg, &mut out, repair_alerts, base);
        if several {
            // A sink that goes on after a finding clears `stopped`; one
            // that ran out of MaxFiles is stopped again by `done`.
            out.stopped = out.sink.message_end(msg, out.stopped);
        }
    }
    out
}

/// Splits an mbox at its `From ` separator lines; a single message is
/// returned whole.
pub(super) fn split_mbox(data: &[u8]) -> Vec<&[u8]> {
    if !data.starts_with(b"From ") {
        return vec![data];
    }
    let mut starts = vec![0];
    let mut i = 0;
    while let Some(p) = data[i..].windows(6).position(|w| w == b"\nFrom ") {
        starts.push(i + p + 1);
        i += p + 1;
    }
    starts.push(data.len());
    starts
        .windows(2)
        .map(|w| {
            let m = &data[w[0]..w[1]];
            // Drop the separator line itself.
            match m.iter().position(|&b| b == b'\n') {
                Some(nl) => &m[nl + 1..],
                None => &m[m.len()..],
            }
        })
        .collect()
}

/// One message, `depth` message/rfc822 and multipart levels down.
pub(super) fn walk_message(
    msg: &[u8],
    out: &mut Unpacked<'_>,
    depth: usize,
    repair_alerts: bool,
) {
    walk_parsed(msg, out, depth, repair_alerts, None);
}

/// [`walk_message`] for a message of the input, its leaves announced at
/// `base` + their offsets when `base` is given.
fn walk_top(
    msg: &[u8],
    out: &mut Unpacked<'_>,
    repair_alerts: bool,
    base: Option<usize>,
) {
    walk_parsed(msg, out, 0, repair_alerts, base);
}

fn walk_parsed(
    msg: &[u8],
    out: &mut Unpacked<'_>,
    depth: usize,
    repair_alerts: bool,
    base: Option<usize>,
) {
    let mail = mime::parse_nested(msg, depth);
    if mail.too_deep {
        out.skip(Reason::DepthLimit);
    }
    if mail.too_many {
        out.skip(Reason::FilesLimit);
    }
    if let Some(what) = mail.repairs.first_name().filter(|_| repair_alerts) {
        out.alert(Heur::MailMalformed(what));
    }
    walk_entity(
        msg,
        &mail.root,
        out,
        depth,
        true,
        repair_alerts,
        Links::Body,
        base,
    );
}

/// Walks a message found inside another (a forwarded one, or one of the
/// readings below), decoded in memory and walked in place, not handed on
/// as a child: its bytes and the number of such walks are counted here,
/// so that nested readings cannot multiply past the limits.
///
/// A `guess` (a reading of what a broken message may mean) that meets the
/// depth or message-count limit is passed over without marking the
/// message not scanned: a mailing-list digest quoting headers in each of
/// its messages is ham. Its bytes still count.
pub(super) fn walk_nested(
    msg: &[u8],
    out: &mut Unpacked<'_>,
    depth: usize,
    repair_alerts: bool,
    guess: bool,
) {
    let budget = out.sink.budget();
    if depth + 1 >= mime::MAX_DEPTH {
        if !guess {
            out.skip(Reason::DepthLimit);
        }
    } else if msg.len() as u64 > budget.bytes_left {
        out.skip(Reason::ScanSizeLimit);
    } else if out.messages_left == 0 {
        if !guess {
            out.skip(Reason::FilesLimit);
        }
    } else {
        budget.bytes_left -= msg.len() as u64;
        out.messages_left -= 1;
        walk_message(msg, out, depth + 1, repair_alerts);
    }
}

/// A bounce: text holding a `Content-Transfer-Encoding` line (but not
/// 7bit) is also read, from that line on, as a message whose headers
/// start there, as ClamAV's mail reader reads a message's text (a
/// returned mail quoted without its headers; or a part whose structure
/// did not hold, so that only its text remained).
pub(super) fn bounce(text: &[u8]) -> Option<&[u8]> {
    const NAME: &[u8] = b"content-transfer-encoding";
    // Found by its dash, which base64 never holds: the look at a large
    // encoded attachment is one fast byte search. A line starts after
    // an LF or a bare CR.
    for dash in memchr::memchr_iter(b'-', text) {
        let Some(at) = dash.checked_sub(7) else { continue };
        let line_start = at == 0 || matches!(text[at - 1], b'\n' | b'\r');
        if !line_start
            || !text[at..]
                .get(..NAME.len())
                .is_some_and(|n| n.eq_ignore_ascii_case(NAME))
        {
            continue;
        }
        let end = memchr::memchr2(b'\n', b'\r', &text[at..])
            .map_or(text.len(), |i| at + i);
        if memchr::memmem::find(&text[at..end], b"7bit").is_none() {
            return Some(&text[at..]);
        }
    }
    None
}

/// A part whose header block seems to end early: the line after the
/// blank one starts `Content` or `filename=`. ClamAV's mail reader goes
/// on reading headers there (broken encoders write such parts); the part
/// is also read so, as a message of its headers and what follows.
pub(super) fn fake_end_of_headers(
    msg: &[u8],
    e: &mime::Entity,
) -> Option<Vec<u8>> {
    let body = &msg[e.body_start..e.end];
    if !(body.starts_with(b"Content") || body.starts_with(b"filename=")) {
        return None;
    }
    // The header block without the blank line that ends it.
    let mut head = &msg[e.start..e.body_start];
    for _ in 0..2 {
        head = head.strip_suffix(b"\n").unwrap_or(head);
        head = head.strip_suffix(b"\r").unwrap_or(head);
    }
    let mut m = Vec::with_capacity(head.len() + 1 + body.len());
    m.extend_from_slice(head);
    m.push(b'\n');
    m.extend_from_slice(body);
    Some(m)
}

/// Which text parts ClamAV's mail reader checks for phishing links.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Links {
    /// A message body: any text part.
    Body,
    /// A part of a mixed-like multipart: text parts shown inline, except
    /// a plain-text one with no transfer encoding.
    Part,
    /// A part not checked (the other parts of a signed multipart).
    Not,
}

/// The part a multipart/related or signed message shows as its body:
/// the first HTML part, else the last text part (a part without a
/// Content-Type is none).
pub(super) fn text_part(e: &mime::Entity) -> Option<usize> {
    let mut text = None;
    for (i, c) in e.children.iter().enumerate().filter(|(_, c)| c.typed) {
        if c.mimetype == "text/html" {
            return Some(i);
        }
        if c.mimetype.starts_with("text/") {
            text = Some(i);
        }
    }
    text
}

/// ClamAV reads the links of text parts up to this size.
pub(super) const MAX_LINKS_PART: usize = 100 << 10;

/// The longest line ClamAV's mail reader keeps whole.
pub(super) const MAIL_LINE: usize = 999;

/// A body as ClamAV's mail reader holds it: a line longer than 999 bytes
/// is read as several (one that fills its last piece exactly is followed
/// by an empty one), which shows in the links it collects (a break is a
/// space in a link's text).
pub(super) fn cut_long_lines(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !body.split(|&b| b == b'\n').any(|l| l.len() >= MAIL_LINE) {
        return std::borrow::Cow::Borrowed(body);
    }
    let mut out = Vec::with_capacity(body.len() + body.len() / MAIL_LINE + 1);
    let mut lines = body.split(|&b| b == b'\n').peekable();
    while let Some(line) = lines.next() {
        let mut rest = line;
        while rest.len() >= MAIL_LINE {
            out.extend_from_slice(&rest[..MAIL_LINE]);
            out.push(b'\n');
            rest = &rest[MAIL_LINE..];
        }
        out.extend_from_slice(rest);
        if lines.peek().is_some() {
            out.push(b'\n');
        }
    }
    std::borrow::Cow::Owned(out)
}

/// With `base`, each leaf is announced to the sink as the input's bytes
/// `base + e.start .. base + e.end` before its children are handed over.
#[allow(clippy::too_many_arguments)]
pub(super) fn walk_entity(
    msg: &[u8],
    e: &mime::Entity,
    out: &mut Unpacked<'_>,
    depth: usize,
    whole: bool,
    repair_alerts: bool,
    links: Links,
    base: Option<usize>,
) {
    if e.is_multipart() {
        let sub = &e.mimetype["multipart/".len()..];
        let shown = text_part(e);
        for (i, c) in e.children.iter().enumerate() {
            let rule = match sub {
                "related" if shown == Some(i) => Links::Body,
                "signed" | "parallel" if shown.unwrap_or(0) == i => {
                    Links::Body
                }
                "signed" | "parallel" => Links::Not,
                _ => Links::Part,
            };
            walk_entity(
                msg,
                c,
                out,
                depth + 1,
                false,
                repair_alerts,
                rule,
                base,
            );
            if out.done() {
                return;
            }
        }
        return;
    }
    if let Some(b) = base {
        out.sink.part(b + e.start..b + e.end);
    }
    let check_links = out.sink.wants_links()
        && e.mimetype.starts_with("text/")
        && match links {
            Links::Body => true,
            Links::Part => {
                // A plain-text part with no transfer encoding (or with no
                // Content-Type) is read as the message text, not checked;
                // a disposition but `inline` is not read at all.
                let plain_text = e.mimetype == "text/plain" && e.unencoded;
                e.typed && e.inline && !plain_text
            }
            Links::Not => false,
        };
    // Headers that disagree on the encoding: every reading is scanned.
    let several = e.encodings.len() > 1;
    let mut seen: Vec<Vec<u8>> = Vec::new();
    // The body decoded as base64 held only its alphabet: no text line
    // (a header, a uuencoded block) to look for in it.
    let mut plain_base64 = false;
    for &enc in &e.encodings {
        let decoded = if enc == mime::Encoding::Base64 {
            let body = &msg[e.body_start..e.end];
            let junk = Heur::MailMalformed("Encoding");
            if repair_alerts && out.sink.wants(junk) && mime::base64_junk(body)
            {
                out.alert(junk);
            }
            let (d, plain) = mime::base64_decode_plain(body);
            plain_base64 |= plain;
            d
        } else {
            mime::decode_body(msg, e, enc, whole)
        };
        if several {
            if seen.contains(&decoded) {
                continue;
            }
            seen.push(decoded.clone());
        }
        if e.is_message() {
            walk_nested(&decoded, out, depth, repair_alerts, false);
        } else if !decoded.is_empty() {
            if check_links && decoded.len() <= MAX_LINKS_PART {
                if enc == mime::Encoding::Plain {
                    out.sink.links(&cut_long_lines(&decoded));
                } else {
                    out.sink.links(&decoded);
                }
            }
            let name =
                e.filename.clone().unwrap_or_else(|| e.mimetype.clone());
            mail_part_alerts(out, &e.mimetype, &name, &decoded);
            // ClamAV describes each part of a multipart, and a lone body
            // it had to decode, by the name of the file it saves it to:
            // made safe (only letters, digits, `.` and `_` kept, each byte
            // read as seven bits), with no packed size or position.
            if out.wants_members() && (!whole || enc != mime::Encoding::Plain)
            {
                let safe: Vec<u8> = e
                    .clamav_name
                    .bytes()
                    .map(|b| match b & 0x7f {
                        c if c.is_ascii_alphanumeric() || c == b'.' => c,
                        _ => b'_',
                    })
                    .collect();
                let m = Member {
                    name: Some(&safe),
                    size_in_container: decoded.len() as u64,
                    size_real: decoded.len() as u64,
                    encrypted: false,
                    position: 0,
                };
                if out.member(m) {
                    return;
                }
            }
            // uuencoded blocks hide in text bodies and in parts labelled
            // `x-uuencode`.
            if decoded.starts_with(b"begin ")
                || memchr::memmem::find(&decoded, b"\nbegin ").is_some()
            {
                for (n, d) in uudecode_all(&decoded) {
                    out.push(n, d);
                }
            }
            out.push(name, decoded);
        }
        if out.done() {
            return;
        }
    }
    if !e.is_message()
        && !out.done()
        && let Some(m) = fake_end_of_headers(msg, e)
    {
        // A guess at what the sender meant: how it reads is no mark of
        // a malformed mail (quoted headers in a reply are read so too).
        walk_nested(&m, out, depth, false, true);
    }
    // ClamAV reads this in a message's text; here in any part, since
    // which part is the text depends on which of several Content-Type
    // fields a reader takes.
    if !e.is_message()
        && !plain_base64
        && !out.done()
        && let Some(b) = bounce(&msg[e.body_start..e.end])
    {
        walk_nested(b, out, depth, false, true);
    }
    if out.done() {
        return;
    }
    // ClamAV finds uuencoded blocks in a part's lines whatever its
    // transfer encoding says: a misnamed encoding must not hide them.
    let raw = &msg[e.body_start..e.end];
    if !e.encodings.contains(&mime::Encoding::Plain)
        && !plain_base64
        && !e.is_message()
        && (raw.starts_with(b"begin ")
            || memchr::memmem::find(raw, b"\nbegin ").is_some())
    {
        let text = mime::decode_body(msg, e, mime::Encoding::Plain, whole);
        for (n, d) in uudecode_all(&text) {
            out.push(n, d);
        }
    }
}

/// The mail heuristics of one decoded part: its name, and what it is
/// against what it claims to be.
pub(super) fn mail_part_alerts(
    out: &mut Unpacked<'_>,
    mimetype: &str,
    name: &str,
    body: &[u8],
) {
    if let Some(h) = heur::name_tricks(name) {
        out.alert(h);
    }
    if let Some(kind) = heur::program_kind(body) {
        out.alert(Heur::MailExecutable(kind));
        // A script pasted into a text part is text to its reader; only
        // machine code dressed as a document is a trick.
        if kind != "Script" && heur::declared_harmless(mimetype, name) {
            out.alert(Heur::TypeMismatch);
        }
    }
}

/// Finds `begin <mode> <name>` blocks in a text body and decodes them.
pub(super) fn uudecode_all(text: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let mut lines = text
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    while let Some(l) = lines.next() {
        let Some(rest) = l.strip_prefix(b"begin ") else { continue };
        let mut f = rest.splitn(2, |&b| b == b' ');
        let mode = f.next().unwrap_or_default();
        if mode.is_empty() || !mode.iter().all(|c| (b'0'..=b'7').contains(c)) {
            continue;
        }
        let name = String::from_utf8_lossy(f.next().unwrap_or(b"uuencoded"))
            .into_owned();
        let mut data = Vec::new();
        for l in lines.by_ref() {
            if l == b"end" || l.is_empty() {
                break;
            }
            let n = (l[0].wrapping_sub(b' ') & 63) as usize;
            if n == 0 {
                break;
            }
            let vals: Vec<u8> =
                l[1..].iter().map(|c| c.wrapping_sub(b' ') & 63).collect();
            let mut line = Vec::with_capacity(n);
            for q in vals.chunks(4) {
                let g = |i: usize| q.get(i).copied().unwrap_or(0);
                line.push(g(0) << 2 | g(1) >> 4);
                line.push(g(1) << 4 | g(2) >> 2);
                line.push(g(2) << 6 | g(3));
            }
            line.truncate(n);
            data.extend(line);
        }
        found.push((name, data));
    }
    found
}
