//! Hancom Office (HWP) documents, read as ClamAV 1.4 reads them:
//!
//! - HWP 5 is an OLE2 compound file whose `FileHeader` stream starts
//!   `HWP Document File`; when its flags say compressed, the streams that
//!   HWP deflates (`BodyText/Section*`, `BinData/BIN*`, `DocInfo`, the
//!   scripts, `ViewText`) are inflated (raw deflate) and only the
//!   inflated bytes are scanned. The OLE2 walk in `office` asks here.
//! - An OLE object HWP 5 embeds is an OLE2 file behind a 4-byte size
//!   (ClamAV's `CL_TYPE_HWPOLE2`): the file after the size is a child.
//! - HWP 3.x has a format of its own (`hwp/hwp3.rs`).
//! - HWPML is one XML file (`CL_TYPE_XML_HWP`): the text of each
//!   `BINDATA` element (base64, deflated when `Compress` says so) and of
//!   the script elements is a child.
//!
//! Every inflated stream is counted against the budget as it grows: a
//! stream that claims or inflates to gigabytes ends at the limits.

use super::xml::{self, Event};
use super::{Sink, Unpacked};
use crate::verdict::Reason;

mod hwp3;
pub(crate) use hwp3::hwp3;

/// `FileHeader` flag: the streams are deflated.
const COMPRESSED: u32 = 0x1;
/// `FileHeader` flag: the streams are encrypted.
const PASSWORD: u32 = 0x2;

/// The streams HWP 5 compresses (or encrypts), by the start of their
/// lower-case names.
const PACKED: &[&str] = &[
    "bin",
    "jscriptversion",
    "defaultjscript",
    "section",
    "viewtext",
    "docinfo",
];

/// ClamAV's inflate buffer: output is counted against the limits in
/// steps of this size.
const STEP: usize = 8192;

/// How an inflated stream ended.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Inflated {
    /// At its end, or where its input ran out.
    Whole,
    /// Damaged data stopped it.
    Damaged,
    /// The next step would have passed a limit: the output stops before.
    Limit(Reason),
}

/// Inflates raw deflate data as ClamAV does for HWP: in steps of
/// [`STEP`] bytes, stopping before the step that would take the output
/// past `cap` (the smaller of MaxFileSize and what MaxScanSize leaves).
pub(super) fn inflate_raw(
    input: &[u8],
    max_file: u64,
    bytes_left: u64,
) -> (Vec<u8>, Inflated) {
    use flate2::{Decompress, FlushDecompress, Status};
    let mut d = Decompress::new(false);
    let mut out = Vec::new();
    let mut buf = vec![0u8; STEP];
    loop {
        let (seen, made) = (d.total_in(), d.total_out());
        let rest = input.get(seen as usize..).unwrap_or_default();
        let res = d.decompress(rest, &mut buf, FlushDecompress::Sync);
        let n = (d.total_out() - made) as usize;
        if n > 0 {
            let total = out.len() as u64 + n as u64;
            if total > bytes_left || total > max_file {
                // ClamAV checks what MaxScanSize leaves first.
                let r = if total > bytes_left {
                    Reason::ScanSizeLimit
                } else {
                    Reason::FileSizeLimit
                };
                return (out, Inflated::Limit(r));
            }
            out.extend_from_slice(&buf[..n]);
        }
        match res {
            Err(_) => return (out, Inflated::Damaged),
            Ok(Status::StreamEnd) => return (out, Inflated::Whole),
            // No progress: the input ran out before the stream's end,
            // which ClamAV takes as the end.
            Ok(_) if n == 0 && d.total_in() == seen => {
                return (out, Inflated::Whole);
            }
            Ok(_) => {}
        }
    }
}

/// Inflates `input` through the budget and hands the result on: what
/// was inflated is a child whatever stopped it, except when damage
/// stopped it before any byte (ClamAV scans nothing then). Returns false
/// in that case.
fn push_inflated(out: &mut Unpacked<'_>, name: String, input: &[u8]) -> bool {
    let b = out.sink.budget();
    let (data, end) = inflate_raw(input, b.max_file, b.bytes_left);
    match end {
        Inflated::Whole => {}
        Inflated::Damaged if data.is_empty() => {
            out.skip(Reason::Malformed { format: "HWP" });
            return false;
        }
        Inflated::Damaged => out.skip(Reason::Malformed { format: "HWP" }),
        Inflated::Limit(r) => out.skip(r),
    }
    out.push(name, data);
    true
}

/// What ClamAV reads of an HWP 5 `FileHeader`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Hwp5 {
    flags: u32,
}

impl Hwp5 {
    /// The header, if `stream` (a `FileHeader` stream) is one.
    pub(super) fn header(stream: &[u8]) -> Option<Hwp5> {
        if !stream.starts_with(b"HWP Document File") {
            return None;
        }
        let flags = stream
            .get(36..40)
            .map_or(0, |f| u32::from_le_bytes([f[0], f[1], f[2], f[3]]));
        Some(Hwp5 { flags })
    }

    /// Scans one stream of the document (`leaf` its lower-case name):
    /// a compressed one inflated instead of as it is. False when the
    /// stream is none of those and is to be scanned as usual.
    pub(super) fn stream(
        self,
        out: &mut Unpacked<'_>,
        path: &str,
        leaf: &str,
        stream: &[u8],
    ) -> bool {
        if !PACKED.iter().any(|p| leaf.starts_with(p)) {
            return false;
        }
        // Encrypted: scanned as it is (as ClamAV does), but not read.
        if self.flags & PASSWORD != 0 {
            out.skip(Reason::Encrypted);
            return false;
        }
        if self.flags & COMPRESSED == 0 {
            return false;
        }
        push_inflated(out, path.trim_start_matches('/').to_string(), stream);
        true
    }
}

/// An OLE2 file behind a 4-byte size (HWP's embedded OLE object): the
/// file after the size is the child, whatever the size says.
pub(crate) fn hwp_ole2<'s>(
    data: &[u8],
    sink: &'s mut dyn Sink,
) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    if let Some(ole) = data.get(4..) {
        out.push_slice("embedded OLE2".to_string(), ole.to_vec());
    }
    out
}

/// Elements ClamAV passes over with all they hold.
const IGNORED: &[&[u8]] = &[
    b"facenamelist",
    b"borderfilllist",
    b"charshapelist",
    b"tabdeflist",
    b"numberinglist",
    b"parashapelist",
    b"stylelist",
    b"compatibledocument",
    b"body",
];

/// Elements whose text ClamAV scans.
const SCANNED: &[&[u8]] = &[b"bindata", b"scriptheader", b"scriptsource"];

/// ClamAV's XML reader goes no deeper than this many elements.
const MAX_DEPTH: usize = 20;

/// An HWPML document: the text of each `BINDATA` element (and of the
/// script elements) is a child, decoded as its attributes say.
pub(crate) fn hwpml<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let mut r = xml::Reader::new(data);
    // The open elements: whether their text is scanned, their attributes.
    let mut open: Vec<(bool, &[u8])> = Vec::new();
    let mut n = 0u32;
    while let Some(ev) = r.next() {
        if out.done() {
            break;
        }
        match ev {
            Event::Start { name, attrs } => {
                let lower = name.to_ascii_lowercase();
                if open.len() >= MAX_DEPTH || IGNORED.contains(&&lower[..]) {
                    r.inner(name);
                    continue;
                }
                open.push((SCANNED.contains(&&lower[..]), attrs));
            }
            Event::End { .. } => {
                open.pop();
            }
            Event::Text(t) => {
                let Some(&(true, attrs)) = open.last() else { continue };
                // The reader reports blank text as whitespace, unscanned.
                if t.iter().all(|b| b" \t\r\n".contains(b)) {
                    continue;
                }
                n += 1;
                if !binary(&mut out, n, attrs, &text(t)) {
                    break;
                }
            }
        }
    }
    out
}

/// One element's text, decoded and inflated as its `Encoding` and
/// `Compress` attributes say. False when the document's walk ends here
/// (data that should inflate and does not ends ClamAV's).
fn binary(out: &mut Unpacked<'_>, n: u32, attrs: &[u8], text: &[u8]) -> bool {
    let id = xml::attr(attrs, b"Id").map_or_else(
        || n.to_string(),
        |i| String::from_utf8_lossy(i).into_owned(),
    );
    let name = format!("BINDATA {id}");
    // Anything but "false" compresses, as in ClamAV.
    let compress =
        xml::attr(attrs, b"Compress").is_some_and(|c| c != b"false");
    let data = match xml::attr(attrs, b"Encoding") {
        None => text.to_vec(),
        Some(b"Base64") => base64(text),
        // An encoding ClamAV does not know: the text as it is, and no
        // inflating.
        Some(_) => {
            out.push(name, text.to_vec());
            return true;
        }
    };
    if compress {
        // Nothing to inflate fails ClamAV's mapping, which ends its walk.
        if data.is_empty() {
            out.skip(Reason::Malformed { format: "HWP" });
            return false;
        }
        return push_inflated(out, name, &data);
    }
    out.push(name, data);
    true
}

/// Base64 as OpenSSL's line-mode decoder reads it for ClamAV: text with
/// no line break at all decodes to nothing (clamscan 1.4.6 tells so);
/// white space is passed over.
fn base64(text: &[u8]) -> Vec<u8> {
    if !text.contains(&b'\n') {
        return Vec::new();
    }
    crate::mime::base64_decode(text)
}

/// Character data as an XML parser gives it: references decoded, line
/// ends made `\n`.
fn text(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'\r' => {
                out.push(b'\n');
                i += if raw.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
            }
            b'&' => {
                let end = raw[i..].iter().take(12).position(|&b| b == b';');
                match end.and_then(|e| reference(&raw[i + 1..i + e])) {
                    Some(c) => {
                        let mut buf = [0u8; 4];
                        out.extend(c.encode_utf8(&mut buf).as_bytes());
                        i += end.unwrap_or(0) + 1;
                    }
                    None => {
                        out.push(b'&');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn reference(name: &[u8]) -> Option<char> {
    match name {
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"amp" => Some('&'),
        b"quot" => Some('"'),
        b"apos" => Some('\''),
        [b'#', b'x' | b'X', hex @ ..] => char::from_u32(
            u32::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?,
        ),
        [b'#', dec @ ..] => {
            char::from_u32(std::str::from_utf8(dec).ok()?.parse().ok()?)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests;
