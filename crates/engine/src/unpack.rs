//! Containers: RFC 5322/MIME mail (and mbox files), zip, gzip, bzip2,
//! tar and uuencoded files here; 7z, xz and cab in `archives`; SZDD,
//! cpio and BinHex in `legacy`. Each takes bytes and hands every child to a [`Sink`] as
//! soon as it is decoded, so a container costs the memory of one member at
//! a time, never of all of them; nothing is written to disk.
//!
//! A damaged container yields what could be read plus a reason, so the
//! scan goes on with what is there and the verdict can say "not scanned".

use std::io::Read;

use crate::heur::{self, Heur};
use crate::mime::{self, base64_decode};
use crate::sigs::cdb::Member;
use crate::verdict::Reason;

mod archives;
mod legacy;
mod media;
mod office;
mod pdf;
pub(crate) use archives::{arj, cab, rar, sevenz, xz};
pub(crate) use legacy::{binhex, cpio, szdd, tnef};
pub(crate) use media::{macho_fat, swf};
pub(crate) use office::{ole2, rtf};
pub(crate) use pdf::pdf;

/// Where children go: the scanner, which scans each one before the next
/// is decoded.
pub(crate) trait Sink {
    /// The limits children are counted against.
    fn budget(&mut self) -> &mut Budget;
    /// Scans one child; `true` stops the walk (something was found).
    fn child(&mut self, name: String, data: Vec<u8>) -> bool;
    /// A heuristic finding; the scanner's switches decide if it alerts.
    fn alert(&mut self, h: Heur);
    /// Whether `h` would alert: a finding that costs work to make is
    /// looked for only then.
    fn wants(&self, h: Heur) -> bool;
    /// Whether [`Sink::member`] looks at anything: when not, a walk need
    /// not describe its members.
    fn wants_members(&self) -> bool {
        false
    }
    /// What the container says of a member before it is extracted, for
    /// container metadata rules; `true` stops the walk (one matched).
    fn member(&mut self, _m: &Member<'_>) -> bool {
        false
    }
    /// Whether [`Sink::links`] looks at anything: the text parts of mail
    /// are parsed for their links only then.
    fn wants_links(&self) -> bool {
        false
    }
    /// A mail text part whose links ClamAV checks for phishing.
    fn links(&mut self, _text: &[u8]) {}
    /// Message `number` (from 1) of an mbox holding several begins: the
    /// children up to [`Sink::message_end`] are its parts.
    fn message_start(&mut self, _number: usize) {}
    /// The message begun last, `message` (its bytes, for its headers),
    /// has been walked; `stopped` says whether the sink asked to stop in
    /// it. Returns whether the walk of the mailbox stops: a sink that
    /// reports each infected message goes on to the next.
    fn message_end(&mut self, _message: &[u8], stopped: bool) -> bool {
        stopped
    }
}

/// What a container may still produce.
pub(crate) struct Budget {
    /// Largest child, in bytes (MaxFileSize).
    pub(crate) max_file: u64,
    /// Bytes all children of this scan may still add up to (MaxScanSize).
    pub(crate) bytes_left: u64,
    /// Children this scan may still produce (MaxFiles).
    pub(crate) files_left: u32,
}

/// One container's walk: the sink, the first reason something was left
/// out, and whether the sink asked to stop.
pub(crate) struct Unpacked<'s> {
    sink: &'s mut dyn Sink,
    pub(crate) skipped: Option<Reason>,
    pub(crate) stopped: bool,
    /// Messages a mail walk may still open inside this one (forwarded
    /// ones, each of which may be read several ways).
    messages_left: u32,
}

impl<'s> Unpacked<'s> {
    fn new(sink: &'s mut dyn Sink) -> Unpacked<'s> {
        Unpacked { sink, skipped: None, stopped: false, messages_left: 1000 }
    }

    /// True once the walk should end: something was found, or no more
    /// members may be extracted (which is recorded as the reason).
    fn done(&mut self) -> bool {
        if !self.stopped && self.sink.budget().files_left == 0 {
            self.skip(Reason::FilesLimit);
            self.stopped = true;
        }
        self.stopped
    }

    fn skip(&mut self, r: Reason) {
        self.skipped.get_or_insert(r);
    }

    fn alert(&mut self, h: Heur) {
        self.sink.alert(h);
    }

    fn wants_members(&self) -> bool {
        self.sink.wants_members()
    }

    /// Describes a member to the sink; true once the walk should end.
    fn member(&mut self, m: Member<'_>) -> bool {
        if !self.stopped {
            self.stopped = self.sink.member(&m);
        }
        self.stopped
    }

    /// Encrypted content of an archive format: not scanned, and
    /// `Heuristics.Encrypted.<format>` when that alert is on.
    fn encrypted(&mut self, format: &'static str) {
        self.skip(Reason::Encrypted);
        self.alert(Heur::EncryptedArchive(format));
    }

    /// Reads one child through the budget.
    fn push_reader(&mut self, name: String, mut r: impl Read) {
        let budget = self.sink.budget();
        if budget.files_left == 0 {
            self.skip(Reason::FilesLimit);
            return;
        }
        let (cap, max_file) =
            (budget.max_file.min(budget.bytes_left), budget.max_file);
        let mut data = Vec::new();
        let res = r.by_ref().take(cap).read_to_end(&mut data);
        if let Err(_e) = res {
            self.skip(Reason::Malformed { format: "compressed data" });
        }
        // One more byte tells a child that is exactly `cap` from a longer one.
        if data.len() as u64 == cap && r.read(&mut [0u8]).is_ok_and(|n| n > 0)
        {
            self.skip(if cap == max_file {
                Reason::FileSizeLimit
            } else {
                Reason::ScanSizeLimit
            });
        }
        self.push(name, data);
    }

    fn push(&mut self, name: String, data: Vec<u8>) {
        if self.stopped {
            return;
        }
        let budget = self.sink.budget();
        if budget.files_left == 0 {
            self.skip(Reason::FilesLimit);
            return;
        }
        if data.len() as u64 > budget.max_file {
            self.skip(Reason::FileSizeLimit);
            return;
        }
        if data.len() as u64 > budget.bytes_left {
            self.skip(Reason::ScanSizeLimit);
            return;
        }
        budget.files_left -= 1;
        budget.bytes_left -= data.len() as u64;
        self.stopped = self.sink.child(name, data);
    }
}

pub(crate) fn zip<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    // ClamAV reads every entry's description, in the central directory
    // and in its local header, before it extracts any, and from the raw
    // bytes: a damaged archive is still described.
    if out.wants_members() && zip_members(data, &mut out) {
        return out;
    }
    let mut z = match zip::ZipArchive::new(std::io::Cursor::new(data)) {
        Ok(z) => z,
        Err(_) => {
            out.skip(Reason::Malformed { format: "zip" });
            return out;
        }
    };
    if overlapping_entries(&mut z) > MAX_OVERLAPPING_ENTRIES {
        // A few shared ranges occur in real archives made by odd tools;
        // many are the non-recursive zip bomb (every entry inflating the
        // same data). Nothing is extracted from it.
        out.alert(Heur::ZipOverlapping);
        out.skip(Reason::Malformed { format: "zip" });
        return out;
    }
    for i in 0..z.len() {
        if out.done() {
            break;
        }
        match z.by_index(i) {
            Ok(f) if f.is_dir() => {}
            Ok(f) if f.size() > out.sink.budget().max_file => {
                // Skipped on its declared size, as ClamAV does, so that a
                // 4 GB member of a 42.zip is never inflated at all.
                out.skip(Reason::FileSizeLimit);
            }
            Ok(f) => {
                let name = f
                    .name()
                    .map(|n| n.into_owned())
                    .unwrap_or_else(|_| format!("member {}", i + 1));
                out.push_reader(name, f);
            }
            Err(zip::result::ZipError::UnsupportedArchive(m))
                if m.contains("ncrypt") || m.contains("assword") =>
            {
                out.encrypted("Zip")
            }
            Err(zip::result::ZipError::InvalidPassword) => {
                out.encrypted("Zip")
            }
            Err(_) => out.skip(Reason::Malformed { format: "zip" }),
        }
    }
    out
}

/// Each entry as the central directory describes it, then as its local
/// header does (the two may disagree in a crafted archive, and either
/// may meet a rule), numbered from 1 in directory order, directories
/// included, read from the raw bytes as ClamAV reads them (names cut at
/// 255 bytes, sizes as stored), at most MaxFiles of them; without a
/// central directory, the local headers one after another. True once a
/// rule matched.
fn zip_members(data: &[u8], out: &mut Unpacked<'_>) -> bool {
    const LOCAL: usize = 30;
    const CENTRAL: usize = 46;
    let max = out.sink.budget().files_left;
    let len = data.len();
    let u16_at = |at: usize| {
        data.get(at..at + 2).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        data.get(at..at + 4)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let cut = |n: &[u8]| n[..n.len().min(255)].to_vec();
    // A local header at `at`: its description, and where the next one
    // would start; `None` where ClamAV reads none.
    let local = |at: usize, position: u32, out: &mut Unpacked<'_>| {
        let h = data.get(at..at.checked_add(LOCAL)?)?;
        if &h[..4] != b"PK\x03\x04" {
            return None;
        }
        let name_len = usize::from(u16_at(at + 26));
        if len - at - LOCAL <= name_len {
            return None;
        }
        let name = cut(&data[at + LOCAL..at + LOCAL + name_len]);
        let found = out.member(Member {
            name: Some(&name),
            size_in_container: u64::from(u32_at(at + 18)),
            size_real: u64::from(u32_at(at + 22)),
            encrypted: u16_at(at + 6) & 1 != 0,
            position,
        });
        let next = (at + LOCAL + name_len)
            .saturating_add(usize::from(u16_at(at + 28)))
            .saturating_add(u32_at(at + 18) as usize);
        Some((found, next))
    };
    // The end of central directory record, searched backwards; ClamAV
    // takes the first whose directory offset lies inside the file.
    let eocd = len.checked_sub(22).and_then(|last| {
        memchr::memmem::rfind_iter(&data[..last + 4], b"PK\x05\x06")
            .filter(|&at| at > 0 && at + 20 <= len)
            .map(|at| u32_at(at + 16) as usize)
            .find(|&cd| cd.checked_add(CENTRAL).is_some_and(|e| e <= len))
    });
    let mut position = 0u32;
    match eocd.filter(|&cd| cd != 0) {
        Some(mut at) => loop {
            if position >= max {
                break;
            }
            let Some(h) = data.get(at..at + CENTRAL) else { break };
            if &h[..4] != b"PK\x01\x02" {
                break;
            }
            let (name_len, extra, comment) = (
                usize::from(u16_at(at + 28)),
                usize::from(u16_at(at + 30)),
                usize::from(u16_at(at + 32)),
            );
            let offset = u32_at(at + 42) as usize;
            at += CENTRAL;
            if len - at <= name_len {
                break;
            }
            position += 1;
            let name = cut(&data[at..at + name_len]);
            at += name_len;
            if out.member(Member {
                name: Some(&name),
                size_in_container: u64::from(u32_at(at - name_len - 26)),
                size_real: u64::from(u32_at(at - name_len - 22)),
                encrypted: u16_at(at - name_len - 38) & 1 != 0,
                position,
            }) {
                return true;
            }
            let last = len - at <= extra || len - at - extra < comment;
            at = at.saturating_add(extra).saturating_add(comment);
            if offset < len.saturating_sub(LOCAL)
                && let Some((true, _)) = local(offset, position, out)
            {
                return true;
            }
            if last {
                break;
            }
        },
        None => {
            let mut at = 0;
            while position < max {
                let Some((found, next)) = local(at, position + 1, out) else {
                    break;
                };
                if found {
                    return true;
                }
                position += 1;
                if next <= at {
                    break;
                }
                at = next;
            }
        }
    }
    false
}

/// ClamAV's tolerance for entries whose data overlaps another's.
const MAX_OVERLAPPING_ENTRIES: usize = 5;

/// How many entries start inside the data of the entry before them
/// (ordered by where their local headers are).
fn overlapping_entries(
    z: &mut zip::ZipArchive<std::io::Cursor<&[u8]>>,
) -> usize {
    let mut spans: Vec<(u64, u64)> = (0..z.len())
        .filter_map(|i| {
            let f = z.by_index_raw(i).ok()?;
            let start = f.header_start();
            let data = f.data_start().unwrap_or(start + 30);
            Some((start, data.saturating_add(f.compressed_size())))
        })
        .collect();
    spans.sort_unstable();
    spans.windows(2).filter(|w| w[1].0 < w[0].1).count()
}

pub(crate) fn gzip<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let d = flate2::read::MultiGzDecoder::new(data);
    let name = d
        .header()
        .and_then(|h| h.filename())
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_else(|| "gunzipped".into());
    out.push_reader(name, d);
    out
}

pub(crate) fn bzip2<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    out.push_reader(
        "bunzipped".into(),
        bzip2::read::MultiBzDecoder::new(data),
    );
    out
}

pub(crate) fn tar<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let mut a = tar::Archive::new(data);
    let entries = match a.entries() {
        Ok(e) => e,
        Err(_) => {
            out.skip(Reason::Malformed { format: "tar" });
            return out;
        }
    };
    let mut tar_position = 0u32;
    for e in entries {
        if out.done() {
            break;
        }
        let e = match e {
            Ok(e) => e,
            Err(_) => {
                out.skip(Reason::Malformed { format: "tar" });
                break;
            }
        };
        // ClamAV numbers from 1 and describes only what it would extract:
        // regular files, contiguous files and GNU multivolume parts, and
        // types it does not know; the name is the header's first 100
        // bytes, without the ustar prefix.
        let t = e.header().as_bytes()[156];
        if !b"123456VKLNAEIgxX".contains(&t) {
            tar_position = tar_position.saturating_add(1);
            if out.wants_members() {
                let h = e.header().as_bytes();
                let name = &h[..100];
                let name = &name[..memchr::memchr(0, name).unwrap_or(100)];
                let size = e.header().size().unwrap_or(0);
                if out.member(Member {
                    name: Some(name),
                    size_in_container: size,
                    size_real: size,
                    encrypted: false,
                    position: tar_position,
                }) {
                    break;
                }
            }
        }
        if !e.header().entry_type().is_file() {
            continue;
        }
        let name = e
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push_reader(name, e);
    }
    out
}

/// The objects an HTML page carries in RFC 2397 `data:` URIs with base64
/// (`<a href="data:application/octet-stream;base64,TVq...">`): each is
/// a child, as ClamAV's HTML normaliser decodes them.
pub(crate) fn html_data_uris<'s>(
    data: &[u8],
    sink: &'s mut dyn Sink,
) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let finder = memchr::memmem::Finder::new(b"data:");
    let lower = data.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = finder.find(&lower[from..]).map(|i| from + i) {
        if out.done() {
            break;
        }
        from = i + 5;
        // The media type and parameters: up to the comma, on one line.
        let Some(comma) = lower[from..]
            .iter()
            .take(256)
            .position(|&b| b == b',' || b == b'"' || b == b'\'' || b == b'>')
            .filter(|&p| lower[from + p] == b',')
        else {
            continue;
        };
        let header = &lower[from..from + comma];
        if !header.ends_with(b";base64") {
            continue;
        }
        let body_at = from + comma + 1;
        let end = data[body_at..]
            .iter()
            .position(|&b| matches!(b, b'"' | b'\'' | b'>' | b'<' | b')'))
            .map_or(data.len(), |p| body_at + p);
        let decoded = base64_decode(&data[body_at..end]);
        if !decoded.is_empty() {
            out.push(
                format!(
                    "data URI {}",
                    String::from_utf8_lossy(&header[..header.len() - 7])
                ),
                decoded,
            );
        }
        from = end;
    }
    out
}

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
    mail_walk(data, sink, true)
}

/// A message found inside another object (a quoted or forwarded message
/// in a text part, which ClamAV types as mail; an .eml in an archive):
/// walked like mail, but how its structure breaks is not what a reader
/// of the outer message is shown, so no repair alert.
pub(crate) fn mail_within<'s>(
    data: &[u8],
    sink: &'s mut dyn Sink,
) -> Unpacked<'s> {
    mail_walk(data, sink, false)
}

fn mail_walk<'s>(
    data: &[u8],
    sink: &'s mut dyn Sink,
    repair_alerts: bool,
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
        walk_message(msg, &mut out, 0, repair_alerts);
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
fn split_mbox(data: &[u8]) -> Vec<&[u8]> {
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
fn walk_message(
    msg: &[u8],
    out: &mut Unpacked<'_>,
    depth: usize,
    repair_alerts: bool,
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
    walk_entity(msg, &mail.root, out, depth, true, repair_alerts, Links::Body);
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
fn walk_nested(
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
fn bounce(text: &[u8]) -> Option<&[u8]> {
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
fn fake_end_of_headers(msg: &[u8], e: &mime::Entity) -> Option<Vec<u8>> {
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
enum Links {
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
fn text_part(e: &mime::Entity) -> Option<usize> {
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
const MAX_LINKS_PART: usize = 100 << 10;

/// The longest line ClamAV's mail reader keeps whole.
const MAIL_LINE: usize = 999;

/// A body as ClamAV's mail reader holds it: a line longer than 999 bytes
/// is read as several (one that fills its last piece exactly is followed
/// by an empty one), which shows in the links it collects (a break is a
/// space in a link's text).
fn cut_long_lines(body: &[u8]) -> std::borrow::Cow<'_, [u8]> {
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

fn walk_entity(
    msg: &[u8],
    e: &mime::Entity,
    out: &mut Unpacked<'_>,
    depth: usize,
    whole: bool,
    repair_alerts: bool,
    links: Links,
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
            walk_entity(msg, c, out, depth + 1, false, repair_alerts, rule);
            if out.done() {
                return;
            }
        }
        return;
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
fn mail_part_alerts(
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
fn uudecode_all(text: &[u8]) -> Vec<(String, Vec<u8>)> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_mail_lines_are_cut_as_clamav_reads_them() {
        let line = vec![b'x'; 2 * MAIL_LINE + 5];
        let body = [&b"a\n"[..], &line, b"\nb"].concat();
        let cut = cut_long_lines(&body);
        let lines: Vec<usize> =
            cut.split(|&b| b == b'\n').map(<[u8]>::len).collect();
        assert_eq!(lines, [1, MAIL_LINE, MAIL_LINE, 5, 1]);
        // A line that fills its last piece exactly leaves an empty one.
        let exact = [&vec![b'y'; MAIL_LINE][..], b"\nz"].concat();
        let lines: Vec<usize> = cut_long_lines(&exact)
            .split(|&b| b == b'\n')
            .map(<[u8]>::len)
            .collect();
        assert_eq!(lines, [MAIL_LINE, 0, 1]);
        assert!(matches!(
            cut_long_lines(b"short\n"),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    /// Collects children, as a scanner that finds nothing would see them.
    pub(super) struct Collect {
        budget: Budget,
        pub(super) children: Vec<(String, Vec<u8>)>,
        pub(super) alerts: Vec<Heur>,
        /// Each mailbox message announced: its number, the index of its
        /// first child, and its first line when it ended.
        messages: Vec<(usize, usize, String)>,
    }

    impl Sink for Collect {
        fn budget(&mut self) -> &mut Budget {
            &mut self.budget
        }
        fn child(&mut self, name: String, data: Vec<u8>) -> bool {
            self.children.push((name, data));
            false
        }
        fn alert(&mut self, h: Heur) {
            self.alerts.push(h);
        }
        fn wants(&self, _h: Heur) -> bool {
            true
        }
        fn message_start(&mut self, number: usize) {
            self.messages.push((number, self.children.len(), String::new()));
        }
        fn message_end(&mut self, message: &[u8], stopped: bool) -> bool {
            let first = message.split(|&b| b == b'\n').next().unwrap();
            self.messages.last_mut().unwrap().2 =
                String::from_utf8_lossy(first).into_owned();
            stopped
        }
    }

    pub(super) fn collect(b: Budget) -> Collect {
        Collect {
            budget: b,
            children: Vec::new(),
            alerts: Vec::new(),
            messages: Vec::new(),
        }
    }

    pub(super) fn budget() -> Budget {
        Budget { max_file: 1 << 20, bytes_left: 1 << 22, files_left: 100 }
    }

    #[test]
    fn html_data_uris_base64_only() {
        let page = b"<p>x</p><A HREF=\"DATA:application/octet-stream;BASE64,QUJD\nREVG\">a</A>\
                     <img src='data:image/png;base64,R0lG'><a href=\"data:text/plain,plain\">";
        let mut c = collect(budget());
        html_data_uris(page, &mut c);
        let got: Vec<&[u8]> =
            c.children.iter().map(|(_, d)| d.as_slice()).collect();
        assert_eq!(got, vec![&b"ABCDEF"[..], &b"GIF"[..]]);
    }

    #[test]
    fn mime_parts_and_mbox() {
        let mail = b"From a@b Sat Jan  1 00:00:00 2000\nFrom: a\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/plain\n\nhello\n--XX\nContent-Type: application/octet-stream; name=x.bin\nContent-Transfer-Encoding: base64\n\nQUJDRA==\n--XX--\n\nFrom b@c Sat Jan  1 00:00:00 2000\nFrom: b\n\nsecond\n";
        let u = mail_parts(mail);
        let names: Vec<_> = u.iter().map(|c| c.0.as_str()).collect();
        assert!(names.contains(&"x.bin"), "{names:?}");
        assert!(u.iter().any(|c| c.1 == b"ABCD"));
        assert!(u.iter().any(|c| c.1.starts_with(b"second")));
    }

    #[test]
    fn parts_a_strict_reader_loses_are_read_as_clamav_reads_them() {
        // QUJDRA== is "ABCD".
        for mail in [
            // A multipart without a boundary, or with one nowhere: text,
            // in which an attachment is found by its headers (a bounce).
            &b"From: a\nContent-Type: multipart/mixed\n\n--x\n\
               Content-Type: application/octet-stream\n\
               Content-Transfer-Encoding: base64\n\nQUJDRA==\n--x--\n"[..],
            b"From: a\nContent-Type: multipart/mixed; boundary=y\n\n--x\r\n\
               Content-Type: x/y; name=a\rContent-Transfer-Encoding: BASE64\r\n\r\n\
               QUJDRA==\r\n--x--\r\n",
            // The parameters on a line of their own, not indented.
            b"From: a\nContent-Type: multipart/mixed;\nboundary=x\n\n--x\n\
               Content-Transfer-Encoding: base64\n\nQUJDRA==\n--x--\n",
            // A blank line inside a part's headers.
            b"From: a\nContent-Type: multipart/mixed; boundary=x\n\n--x\n\
               Content-Type: application/octet-stream\n\n\
               Content-Transfer-Encoding: base64\n\nQUJDRA==\n--x--\n",
            b"From: a\nContent-Type: multipart/mixed; boundary=x\n\n--x\n\
               Content-Type: application/octet-stream;\n\n\
               filename=a\nContent-Transfer-Encoding: base64\n\nQUJDRA==\n--x--\n",
        ] {
            let got = mail_parts(mail);
            // (What follows the data in a bounce is decoded with it.)
            assert!(
                got.iter().any(|c| c.1.starts_with(b"ABCD")),
                "{}: {got:?}",
                String::from_utf8_lossy(mail)
            );
        }
        // A line saying 7bit is no encoding to find.
        assert!(
            bounce(b"text\nContent-Transfer-Encoding: 7bit\n\nx").is_none()
        );
        assert!(bounce(b"x-Content-Transfer-Encoding: base64\n").is_none());
        assert_eq!(
            bounce(b"a\rcontent-transfer-encoding: base64\n\nQUJD"),
            Some(&b"content-transfer-encoding: base64\n\nQUJD"[..])
        );
    }

    /// Three messages, the second with two parts.
    const MBOX: &[u8] = b"From a@b Sat Jan  1 00:00:00 2000\nFrom: a\n\nfirst STOP\n\n\
        From b@c Sat Jan  1 00:00:00 2000\nFrom: b\nContent-Type: multipart/mixed; boundary=B\n\n\
        --B\n\nsecond STOP\n--B\n\nsecond, part 2\n--B--\n\n\
        From c@d Sat Jan  1 00:00:00 2000\nFrom: c\n\nthird\n";

    #[test]
    fn mbox_messages_are_announced_with_their_parts() {
        let mut c = collect(budget());
        mail(MBOX, &mut c);
        let starts: Vec<(usize, usize, &str)> =
            c.messages.iter().map(|(n, i, l)| (*n, *i, l.as_str())).collect();
        assert_eq!(
            starts,
            [(1, 0, "From: a"), (2, 1, "From: b"), (3, 3, "From: c")]
        );
        assert_eq!(c.children.len(), 4);
        // A lone message, mbox `From ` line or not, is not announced.
        let mut c = collect(budget());
        mail(b"From a@b Sat Jan  1 00:00:00 2000\nFrom: a\n\nhello\n", &mut c);
        assert!(c.messages.is_empty());
        assert_eq!(c.children.len(), 1);
    }

    /// Stops at a child holding `STOP`; goes on to the next message
    /// after one when `each`.
    struct Stopper {
        budget: Budget,
        seen: Vec<String>,
        each: bool,
    }

    impl Sink for Stopper {
        fn budget(&mut self) -> &mut Budget {
            &mut self.budget
        }
        fn child(&mut self, _name: String, data: Vec<u8>) -> bool {
            self.seen.push(String::from_utf8_lossy(&data).trim().to_string());
            memchr::memmem::find(&data, b"STOP").is_some()
        }
        fn alert(&mut self, _h: Heur) {}
        fn wants(&self, _h: Heur) -> bool {
            false
        }
        fn message_end(&mut self, _message: &[u8], stopped: bool) -> bool {
            stopped && !self.each
        }
    }

    #[test]
    fn a_finding_ends_its_message_and_the_sink_says_if_the_mbox_goes_on() {
        let walk = |each: bool, files: u32| {
            let b = Budget { files_left: files, ..budget() };
            let mut s = Stopper { budget: b, seen: Vec::new(), each };
            let u = mail(MBOX, &mut s);
            let skipped = u.skipped;
            (s.seen, skipped)
        };
        assert_eq!(walk(false, 100), (vec!["first STOP".to_string()], None));
        // The rest of the second message is left, not the third message.
        assert_eq!(
            walk(true, 100),
            (
                vec![
                    "first STOP".to_string(),
                    "second STOP".into(),
                    "third".into()
                ],
                None
            )
        );
        // MaxFiles still ends the whole walk.
        let (seen, skipped) = walk(true, 2);
        assert_eq!(seen, ["first STOP", "second STOP"]);
        assert_eq!(skipped, Some(Reason::FilesLimit));
    }

    fn mail_parts(m: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut c = collect(budget());
        mail(m, &mut c);
        c.children
    }

    #[test]
    fn multipart_bodies_like_clamav() {
        let m = b"From: a\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: 7bit\n\nseven\r\nbit  \n\n--B\nContent-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\nx=0D=0A\r\ny=20\r\n--B--\n";
        let parts = mail_parts(m);
        let bodies: Vec<&[u8]> =
            parts.iter().map(|c| c.1.as_slice()).collect();
        assert_eq!(
            bodies,
            vec![&b"seven\nbit  \n\n"[..], &b"x\r\n\ny \n"[..]]
        );
    }

    /// From the SpamAssassin corpus: a message quoted in a text part,
    /// after blank lines, and a body that starts with continuation lines.
    #[test]
    fn messages_with_ragged_starts() {
        let m = b" =?GB2312?B?yNW12g==?=\nTo: a@b\nContent-Type: multipart/mixed; boundary=Q\n\n--Q\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nQUJDREVG\n--Q--\n";
        let parts = mail_parts(m);
        assert!(parts.iter().any(|c| c.1 == b"ABCDEF"), "{:?}", parts);
    }

    #[test]
    fn uuencode() {
        let t = b"text\nbegin 644 e.txt\n$04)#1```\n`\nend\n";
        let d = uudecode_all(t);
        assert_eq!(d, vec![("e.txt".to_string(), b"ABCD".to_vec())]);
    }

    #[test]
    fn gzip_limit() {
        let mut e = flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        );
        std::io::Write::write_all(&mut e, &vec![0u8; 5000]).unwrap();
        let gz = e.finish().unwrap();
        let b = Budget { max_file: 1000, bytes_left: 1 << 20, files_left: 10 };
        let mut c = collect(b);
        let skipped = gzip(&gz, &mut c).skipped;
        assert_eq!(c.children[0].1.len(), 1000);
        assert!(matches!(skipped, Some(Reason::FileSizeLimit)));
    }

    #[test]
    fn forwarded_readings_are_counted_not_multiplied() {
        // Forwarded messages read two ways at every level: the walks
        // are counted, not multiplied.
        let mut inner = String::from("Subject: x\n\nhello =3D3D3D3D\n");
        for _ in 0..25 {
            inner = format!(
                "Content-Type: message/rfc822\nContent-Transfer-Encoding: 7bit\n\
                 Content-Transfer-Encoding: quoted-printable\n\n{inner}"
            );
        }
        let mut c = collect(budget());
        let t = std::time::Instant::now();
        let skipped = mail(inner.as_bytes(), &mut c).skipped;
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        assert!(matches!(skipped, Some(Reason::FilesLimit)));
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let mut m = String::from("From: a\n");
        for i in 0..200 {
            m.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=b{i}\n\n--b{i}\n"
            ));
        }
        let mut c = collect(budget());
        assert!(matches!(
            mail(m.as_bytes(), &mut c).skipped,
            Some(Reason::DepthLimit)
        ));
    }
}
