//! XAR archives (macOS installer packages, `bsdtar --format xar`), read
//! as ClamAV reads them: the zlib-compressed table of contents is itself
//! scanned, then any `<subdoc>` before the `<toc>`, then every `<data>`
//! and `<ea>` extent of the heap in document order. zlib (`x-gzip`) and
//! LZMA extents are decoded here; the others (stored, bzip2, xz) are
//! handed on as they lie, to be typed and opened like any object. An
//! extent that does not decode is not scanned, as in ClamAV; one that
//! lies past the end ends the walk.

use std::io::Read;

use super::xml::{Event, Reader, attr};
use super::{Sink, Unpacked};
use crate::verdict::Reason;

const DAMAGED: Reason = Reason::Malformed { format: "XAR" };

/// Header: magic, its own size, version, the table's two lengths.
const HEADER: usize = 28;

/// Extents read at most, whatever the table lists.
const MAX_EXTENTS: usize = 100_000;

fn be16(d: &[u8], at: usize) -> u64 {
    u64::from(u16::from_be_bytes([d[at], d[at + 1]]))
}

fn be64(d: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(d[at..at + 8].try_into().unwrap_or_default())
}

pub(crate) fn xar<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    if data.len() < HEADER || &data[..4] != b"xar!" {
        out.skip(DAMAGED);
        return out;
    }
    let header = be16(data, 4);
    let (packed, unpacked) = (be64(data, 8), be64(data, 16));
    let Some(toc) = usize::try_from(header)
        .ok()
        .zip(usize::try_from(packed).ok())
        .and_then(|(h, p)| data.get(h..h.checked_add(p)?))
    else {
        out.skip(DAMAGED);
        return out;
    };
    let max = out.sink.budget().max_file;
    if unpacked > max {
        // ClamAV cannot allocate what the header claims beyond its limit.
        out.skip(Reason::FileSizeLimit);
        return out;
    }
    let mut doc = Vec::new();
    if flate2::read::ZlibDecoder::new(toc)
        .take(unpacked)
        .read_to_end(&mut doc)
        .is_err()
    {
        out.skip(DAMAGED);
        return out;
    }
    let heap = header + packed;
    out.push_slice("toc.xml".into(), doc.clone());
    let mut r = Reader::new(&doc);
    subdocuments(&mut r, &mut out);
    extents(&mut r, data, heap, &mut out);
    out
}

/// Each `<subdoc>` before the `<toc>`, its inner XML scanned.
fn subdocuments(r: &mut Reader<'_>, out: &mut Unpacked<'_>) {
    let mut n = 0;
    while let Some(ev) = r.next() {
        match ev {
            Event::Start { name: b"toc", .. } => return,
            Event::Start { name: b"subdoc", .. } => {
                let inner = r.inner(b"subdoc");
                n += 1;
                out.push_slice(format!("subdoc {n}"), inner.to_vec());
                if out.done() {
                    return;
                }
            }
            _ => {}
        }
    }
}

/// How an extent is stored.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Zlib,
    Lzma,
    /// Stored, bzip2, xz or unknown: handed on as it lies.
    AsIs,
}

/// What one `<data>` or `<ea>` element says.
#[derive(Default)]
struct Extent {
    offset: Option<u64>,
    length: Option<u64>,
    size: Option<u64>,
    zlib: bool,
    lzma: bool,
}

/// A number as C's `strtol` reads one: leading blanks, a sign, digits.
fn number(text: &[u8]) -> Option<u64> {
    let t = text.trim_ascii_start();
    let (neg, t) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits = t.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let n = std::str::from_utf8(&t[..digits]).ok()?.parse::<u64>().ok()?;
    (!neg || n == 0).then_some(n)
}

fn extents(
    r: &mut Reader<'_>,
    data: &[u8],
    heap: u64,
    out: &mut Unpacked<'_>,
) {
    // The path of the `<file>` elements around an extent, for its name.
    let mut names: Vec<String> = Vec::new();
    let mut current: Option<(Extent, &'static str)> = None;
    let mut want_text: Option<&[u8]> = None;
    let mut count = 0;
    for ev in r.by_ref() {
        match ev {
            Event::Start { name, attrs } => {
                want_text = None;
                match (name, current.as_mut()) {
                    (b"file", _) => names.push(String::new()),
                    (b"data", None) => {
                        current = Some((Extent::default(), "data"))
                    }
                    (b"ea", None) => current = Some((Extent::default(), "ea")),
                    (b"offset" | b"length" | b"size", Some(_)) => {
                        want_text = Some(name)
                    }
                    (b"encoding", Some((e, _))) => {
                        let style = attr(attrs, b"style").unwrap_or_default();
                        e.zlib = style == b"application/x-gzip";
                        e.lzma = style == b"application/x-lzma";
                    }
                    (b"name", None) => want_text = Some(name),
                    _ => {}
                }
            }
            Event::Text(t) => match (want_text.take(), current.as_mut()) {
                (Some(b"name"), None) => {
                    if let Some(n) = names.last_mut() {
                        *n = String::from_utf8_lossy(t).into_owned();
                    }
                }
                (Some(field), Some((e, _))) => {
                    let v = number(t);
                    match field {
                        b"offset" => e.offset = v.or(e.offset),
                        b"length" => e.length = v.or(e.length),
                        _ => e.size = v.or(e.size),
                    }
                }
                _ => {}
            },
            Event::End { name } => {
                want_text = None;
                if name == b"file" {
                    names.pop();
                }
                let ends =
                    matches!(&current, Some((_, n)) if n.as_bytes() == name);
                if !ends {
                    continue;
                }
                let Some((e, _)) = current.take() else { continue };
                let (Some(offset), Some(length), Some(_)) =
                    (e.offset, e.length, e.size)
                else {
                    // ClamAV stops at an extent it cannot place.
                    if e.offset.is_some()
                        || e.length.is_some()
                        || e.size.is_some()
                    {
                        out.skip(DAMAGED);
                    }
                    return;
                };
                count += 1;
                if count > MAX_EXTENTS || out.done() {
                    return;
                }
                let encoding = if e.zlib {
                    Encoding::Zlib
                } else if e.lzma {
                    Encoding::Lzma
                } else {
                    Encoding::AsIs
                };
                let name = names.join("/");
                if !extract(data, heap, offset, length, encoding, name, out) {
                    return;
                }
            }
        }
    }
}

/// Decodes one extent into a child; false when it lies past the end
/// (which ends the walk).
fn extract(
    data: &[u8],
    heap: u64,
    offset: u64,
    length: u64,
    encoding: Encoding,
    name: String,
    out: &mut Unpacked<'_>,
) -> bool {
    let Some(at) = heap
        .checked_add(offset)
        .and_then(|a| usize::try_from(a).ok())
        .filter(|&a| a < data.len())
    else {
        out.skip(DAMAGED);
        return false;
    };
    let len = usize::try_from(length).unwrap_or(usize::MAX);
    let raw = &data[at..at.saturating_add(len).min(data.len())];
    let name = if name.is_empty() { "extent".to_string() } else { name };
    let budget = out.sink.budget();
    let (max_file, bytes_left) = (budget.max_file, budget.bytes_left);
    let cap = max_file.min(bytes_left);
    // Cut at the scan's budget: which of the two limits it was.
    let cut = if bytes_left < max_file {
        Reason::ScanSizeLimit
    } else {
        Reason::FileSizeLimit
    };
    match encoding {
        Encoding::AsIs => {
            // As ClamAV: a stored extent over the limit is scanned as far
            // as the limit. Checked before the copy: a crafted table may
            // point any number of extents at one large one.
            let n = (raw.len() as u64).min(max_file);
            if !out.room(n) {
                return true;
            }
            if n < raw.len() as u64 {
                out.skip(Reason::FileSizeLimit);
            }
            out.push(name, raw[..n as usize].to_vec());
        }
        Encoding::Zlib => {
            let mut bytes = Vec::new();
            let mut z = flate2::read::ZlibDecoder::new(raw).take(cap);
            match z.read_to_end(&mut bytes) {
                Ok(_) => {
                    if bytes.len() as u64 == cap {
                        out.skip(cut);
                    }
                    out.push(name, bytes);
                }
                Err(_) => out.skip(DAMAGED),
            }
        }
        Encoding::Lzma => {
            let Some(head) = raw.get(..13) else {
                out.skip(DAMAGED);
                return true;
            };
            let dict =
                u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
            let size =
                u64::from_le_bytes(head[5..13].try_into().unwrap_or_default());
            // A dictionary larger than the output is never used: bounded
            // by both, a crafted size cannot make a large allocation.
            let dict = u64::from(dict).min(size).min(cap).clamp(4096, 64 << 20)
                as u32;
            let reader = lzma_rust2::LzmaReader::new_with_props(
                &raw[13..],
                size,
                head[0],
                dict,
                None,
            );
            let mut bytes = Vec::new();
            match reader.map(|r| r.take(cap).read_to_end(&mut bytes)) {
                Ok(Ok(_)) => {
                    if bytes.len() as u64 == cap {
                        out.skip(cut);
                    }
                    out.push(name, bytes);
                }
                _ => out.skip(DAMAGED),
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unpack::tests::{budget, collect};
    use std::io::Write;

    fn zlib(b: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::ZlibEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        );
        z.write_all(b).unwrap();
        z.finish().unwrap()
    }

    /// A XAR of the table `toc` and the heap `heap`.
    fn build(toc: &str, heap: &[u8]) -> Vec<u8> {
        let packed = zlib(toc.as_bytes());
        let mut x = b"xar!\x00\x1c\x00\x01".to_vec();
        x.extend_from_slice(&(packed.len() as u64).to_be_bytes());
        x.extend_from_slice(&(toc.len() as u64).to_be_bytes());
        x.extend_from_slice(&1u32.to_be_bytes());
        x.extend_from_slice(&packed);
        x.extend_from_slice(heap);
        x
    }

    fn extent(
        name: &str,
        offset: usize,
        length: usize,
        style: &str,
    ) -> String {
        format!(
            "<file><name>{name}</name><data><offset>{offset}</offset>\
<length>{length}</length><size>1</size><encoding style=\"{style}\"/>\
</data></file>"
        )
    }

    #[test]
    fn extents_in_order_until_one_lies_past_the_end() {
        let packed = zlib(b"inflated member");
        let mut heap = packed.clone();
        heap.extend_from_slice(b"stored member");
        let toc = format!(
            "<xar><subdoc>sub</subdoc><toc><file><name>dir</name>{}{}</file>{}{}</toc></xar>",
            extent("a", 0, packed.len(), "application/x-gzip"),
            extent("b", packed.len(), 13, "application/octet-stream"),
            extent("far", 1 << 40, 4, "application/octet-stream"),
            extent("never", 0, 4, "application/octet-stream"),
        );
        let x = build(&toc, &heap);
        let mut sink = collect(budget());
        let skipped = xar(&x, &mut sink).skipped;
        assert_eq!(skipped, Some(DAMAGED));
        let got: Vec<(&str, &[u8])> = sink
            .children
            .iter()
            .map(|(n, d)| (n.as_str(), d.as_slice()))
            .collect();
        assert_eq!(got[0], ("toc.xml", toc.as_bytes()));
        assert_eq!(got[1], ("subdoc 1", &b"sub"[..]));
        assert_eq!(got[2], ("dir/a", &b"inflated member"[..]));
        assert_eq!(got[3], ("dir/b", &b"stored member"[..]));
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn huge_claims_meet_the_limits() {
        // A table claiming 4 GB inflated, and a zlib bomb extent.
        let mut x = build("<xar/>", b"");
        x[16..24].copy_from_slice(&(4u64 << 30).to_be_bytes());
        let mut sink = collect(budget());
        assert_eq!(xar(&x, &mut sink).skipped, Some(Reason::FileSizeLimit));
        let bomb = zlib(&vec![0u8; 8 << 20]);
        let toc = format!(
            "<xar><toc>{}</toc></xar>",
            extent("bomb", 0, bomb.len(), "application/x-gzip")
        );
        let x = build(&toc, &bomb);
        let mut sink = collect(budget());
        assert_eq!(xar(&x, &mut sink).skipped, Some(Reason::FileSizeLimit));
        assert_eq!(sink.children[1].1.len(), 1 << 20);
    }

    #[test]
    fn numbers_read_as_strtol_reads_them() {
        assert_eq!(number(b" 42x"), Some(42));
        assert_eq!(number(b"+7"), Some(7));
        assert_eq!(number(b"-3"), None);
        assert_eq!(number(b"x"), None);
    }
}
