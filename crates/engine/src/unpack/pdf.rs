//! PDF: every stream object, decoded through its filters (FlateDecode
//! with PNG and TIFF predictors, ASCIIHexDecode, ASCII85Decode,
//! LZWDecode, RunLengthDecode), is a child, and so is every JavaScript
//! string (`/JS`, in the file or in an object stream). Names written
//! with `#xx` escapes are read as a PDF reader reads them, and a common
//! one so written raises `Heuristics.PDF.ObfuscatedNameObject`, as in
//! ClamAV. A document encrypted with an empty user password (anyone may
//! open it) is decrypted first (`pdf/crypt.rs`); one with a real
//! password is not scanned.
//!
//! Streams are carved from the bytes, not reached through the cross
//! reference table, as ClamAV's PDF scanner does: malicious PDFs are
//! routinely damaged on purpose (broken xref, wrong /Length), and a
//! reader that needs a coherent document (lopdf, pdf-rs) refuses exactly
//! those. The filter decoders besides Flate (flate2) are a few lines each.

use std::io::Read;

use super::{Sink, Unpacked};

mod crypt;
mod text;
use crate::heur::Heur;
use crate::verdict::Reason;

/// How far back from `stream` the object's dictionary may start.
const MAX_DICT: usize = 64 << 10;

pub(crate) fn pdf<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let crypt = if is_encrypted(data) {
        match crypt::Decryptor::open(data) {
            Some(c) => Some(c),
            None => {
                // A password is needed to read the strings and streams.
                out.skip(Reason::Encrypted);
                out.alert(Heur::EncryptedDoc("PDF"));
                return out;
            }
        }
    } else {
        None
    };
    if text::obfuscated_common_name(data) {
        out.alert(Heur::PdfObfuscatedName);
    }
    // Scripts and streams go to the scan in file order: neither can
    // use up MaxFiles ahead of the other.
    let mut scripts = text::scripts(data).into_iter().peekable();
    // A script of the file is decrypted as it goes to the scan, not
    // before: MaxFiles then bounds the work, however many a file holds.
    let mut script_ids = Objects::new(data);
    let mut reveal = |at: usize, code: Vec<u8>| match &crypt {
        Some(c) => match script_ids.at(at) {
            Some(id) => c.string(id, &code),
            None => code,
        },
        None => code,
    };
    let mut stream_ids = Objects::new(data);
    let mut n_js = 0;
    let mut js = |out: &mut Unpacked<'_>, code: Vec<u8>| {
        n_js += 1;
        out.push(format!("js {n_js}"), code);
    };
    let finder = memchr::memmem::Finder::new(b"stream");
    let (mut from, mut last_end) = (0, 0);
    let mut n = 0;
    while let Some(i) = finder.find(&data[from..]).map(|i| from + i) {
        if out.done() {
            break;
        }
        from = i + 6;
        // `endstream`, or a word that merely ends in "stream".
        if i > 0 && data[i - 1].is_ascii_alphabetic() {
            continue;
        }
        while let Some((at, code)) = scripts.next_if(|(at, _)| *at < i) {
            js(&mut out, reveal(at, code));
            if out.done() {
                return out;
            }
        }
        let start = match data.get(i + 6..i + 8) {
            Some([b'\r', b'\n']) => i + 8,
            Some([b'\n', _]) | Some([b'\r', _]) => i + 7,
            _ => continue,
        };
        // Never further back than the previous stream's end: each byte is
        // searched once, however many streams a crafted file declares.
        let dict = text::unescape_names(dictionary(
            &data[i.saturating_sub(MAX_DICT).max(last_end)..i],
        ));
        let dict = &dict[..];
        let end = stream_end(data, start, dict);
        from = end.max(from);
        last_end = from;
        n += 1;
        let filters = filters(dict);
        if filters.iter().any(|f| is_image_codec(f)) {
            // Pictures: their codecs are not where code hides.
            continue;
        }
        let decrypted;
        let mut raw = &data[start..end];
        if let Some(c) = &crypt
            && let Some(id) = stream_ids.at(i)
        {
            decrypted = c.stream(id, dict, raw);
            raw = &decrypted;
        }
        let cap = out.sink.budget().max_file;
        match decode(raw, &filters, dict, cap) {
            Ok(d) => {
                if d.len() as u64 >= cap {
                    out.skip(Reason::FileSizeLimit);
                }
                // The objects an object stream holds: their names and
                // scripts are read as the file's own are.
                if memchr::memmem::find(dict, b"/ObjStm").is_some() {
                    if text::obfuscated_common_name(&d) {
                        out.alert(Heur::PdfObfuscatedName);
                    }
                    for (_, code) in text::scripts(&d) {
                        js(&mut out, code);
                    }
                }
                out.push(format!("stream {n}"), d);
            }
            // A filter we cannot undo (an unknown name, a stream broken
            // before any output) leaves its bytes as they are: scanned so,
            // as ClamAV goes on with the rest of the document rather than
            // call the whole of it unscanned.
            Err(partial) => out.push(format!("stream {n}"), partial),
        }
    }
    for (at, code) in scripts {
        if out.done() {
            break;
        }
        js(&mut out, reveal(at, code));
    }
    out
}

/// Which object a position is in: the last `N G obj` header before it,
/// found moving forward only, so that a walk in file order costs one
/// pass.
struct Objects<'a> {
    data: &'a [u8],
    next: usize,
    last: Option<(u32, u16)>,
}

impl<'a> Objects<'a> {
    fn new(data: &'a [u8]) -> Objects<'a> {
        Objects { data, next: 0, last: None }
    }

    fn at(&mut self, pos: usize) -> Option<(u32, u16)> {
        let end = pos.min(self.data.len());
        if self.next < end {
            let finder = memchr::memmem::Finder::new(b"obj");
            for p in finder.find_iter(&self.data[self.next..end]) {
                if let Some(id) = object_header(&self.data[..self.next + p]) {
                    self.last = Some(id);
                }
            }
            self.next = end;
        }
        self.last
    }
}

/// The object number and generation just before an `obj` keyword.
fn object_header(before: &[u8]) -> Option<(u32, u16)> {
    // Each number follows white space, so `endobj` and `12obj` are none.
    fn number<T: std::str::FromStr>(d: &[u8]) -> Option<(T, &[u8])> {
        if !d.last()?.is_ascii_whitespace() {
            return None;
        }
        let d = d.trim_ascii_end();
        let n = d.iter().rev().take_while(|b| b.is_ascii_digit()).count();
        let v = std::str::from_utf8(&d[d.len() - n..]).ok()?.parse().ok()?;
        Some((v, &d[..d.len() - n]))
    }
    let (gen_, d) = number(before)?;
    let (num, _) = number(d)?;
    Some((num, gen_))
}

/// A trailer (or cross-reference stream) naming an /Encrypt dictionary.
fn is_encrypted(data: &[u8]) -> bool {
    memchr::memmem::find_iter(data, b"/Encrypt").any(|i| {
        // Not /EncryptMetadata and friends.
        data.get(i + 8).is_none_or(|c| !c.is_ascii_alphanumeric())
    })
}

/// The dictionary just before `stream`: from the last `obj` keyword.
fn dictionary(before: &[u8]) -> &[u8] {
    match memchr::memmem::rfind(before, b"obj") {
        Some(p) => &before[p + 3..],
        None => before,
    }
}

fn stream_end(data: &[u8], start: usize, dict: &[u8]) -> usize {
    // A direct /Length that lands on `endstream` is trusted; anything else
    // (indirect, wrong, missing) falls back to searching.
    if let Some(len) = direct_length(dict)
        && let Some(end) = start.checked_add(len)
        && end <= data.len()
    {
        let rest = &data[end..data.len().min(end + 12)];
        let rest = rest.trim_ascii_start();
        if rest.starts_with(b"endstream") {
            return end;
        }
    }
    match memchr::memmem::find(&data[start..], b"endstream") {
        Some(p) => {
            let mut end = start + p;
            // The end-of-line before `endstream` is not data.
            if end > start && data[end - 1] == b'\n' {
                end -= 1;
            }
            if end > start && data[end - 1] == b'\r' {
                end -= 1;
            }
            end
        }
        None => data.len(),
    }
}

fn direct_length(dict: &[u8]) -> Option<usize> {
    let p = memchr::memmem::find(dict, b"/Length")?;
    let rest = dict[p + 7..].trim_ascii_start();
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let after = rest[digits..].trim_ascii_start();
    // `12 0 R` is a reference, not a length.
    let number = after.iter().take_while(|b| b.is_ascii_digit()).count();
    if number > 0 && after[number..].trim_ascii_start().starts_with(b"R") {
        return None;
    }
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// The /Filter names in order (a name or an array of names).
fn filters(dict: &[u8]) -> Vec<String> {
    let Some(p) = memchr::memmem::find(dict, b"/Filter") else {
        return Vec::new();
    };
    let rest = dict[p + 7..].trim_ascii_start();
    let list = if rest.starts_with(b"[") {
        let close = rest.iter().position(|&b| b == b']').unwrap_or(rest.len());
        &rest[1..close]
    } else {
        // One name: up to the next delimiter after it.
        let end = rest
            .iter()
            .skip(1)
            .position(|b| b"/<>[] \r\n\t".contains(b))
            .map_or(rest.len(), |e| e + 1);
        &rest[..end]
    };
    list.split(|&b| b == b'/')
        .map(|n| String::from_utf8_lossy(n.trim_ascii()).into_owned())
        .filter(|n| !n.is_empty())
        .collect()
}

fn is_image_codec(f: &str) -> bool {
    matches!(
        f,
        "DCTDecode"
            | "DCT"
            | "JPXDecode"
            | "JBIG2Decode"
            | "CCITTFaxDecode"
            | "CCF"
    )
}

/// Runs the filters in order; `Err` carries what was decoded before a
/// filter failed.
fn decode(
    raw: &[u8],
    filters: &[String],
    dict: &[u8],
    cap: u64,
) -> Result<Vec<u8>, Vec<u8>> {
    let mut d = raw.to_vec();
    for f in filters {
        d = match f.as_str() {
            "FlateDecode" | "Fl" => {
                let mut o = Vec::new();
                let r = flate2::read::ZlibDecoder::new(&d[..])
                    .take(cap)
                    .read_to_end(&mut o);
                if r.is_err() && o.is_empty() {
                    // Raw deflate without the zlib header happens too.
                    let _ = flate2::read::DeflateDecoder::new(&d[..])
                        .take(cap)
                        .read_to_end(&mut o);
                }
                if o.is_empty() && !d.is_empty() {
                    return Err(d);
                }
                predict(o, dict)
            }
            "ASCIIHexDecode" | "AHx" => hex(&d),
            "ASCII85Decode" | "A85" => ascii85(&d),
            "LZWDecode" | "LZW" => predict(lzw(&d, cap), dict),
            "RunLengthDecode" | "RL" => run_length(&d, cap),
            // Crypt with Identity, or a filter we do not know: as is.
            _ => return Err(d),
        };
    }
    Ok(d)
}

fn param(dict: &[u8], key: &[u8]) -> Option<usize> {
    let p = memchr::memmem::find(dict, key)?;
    let rest = dict[p + key.len()..].trim_ascii_start();
    let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..n]).ok()?.parse().ok()
}

/// PNG (10-15) and TIFF (2) predictors from /DecodeParms.
fn predict(d: Vec<u8>, dict: &[u8]) -> Vec<u8> {
    let predictor = param(dict, b"/Predictor").unwrap_or(1);
    if predictor < 2 {
        return d;
    }
    let colors = param(dict, b"/Colors").unwrap_or(1).clamp(1, 32);
    let bpc = param(dict, b"/BitsPerComponent").unwrap_or(8).clamp(1, 16);
    let columns = param(dict, b"/Columns").unwrap_or(1).clamp(1, 1 << 20);
    let bpp = (colors * bpc).div_ceil(8);
    let row = (colors * bpc * columns).div_ceil(8);
    if predictor == 2 {
        let mut d = d;
        if bpc == 8 {
            for line in d.chunks_mut(row) {
                for i in bpp..line.len() {
                    line[i] = line[i].wrapping_add(line[i - bpp]);
                }
            }
        }
        return d;
    }
    let mut out = Vec::with_capacity(d.len());
    let mut prev = vec![0u8; row];
    for line in d.chunks(row + 1) {
        let (kind, src) = (line[0], &line[1..]);
        let mut cur = vec![0u8; row];
        for i in 0..src.len() {
            let a = if i >= bpp { cur[i - bpp] } else { 0 };
            let b = prev[i];
            let c = if i >= bpp { prev[i - bpp] } else { 0 };
            cur[i] = src[i].wrapping_add(match kind {
                1 => a,
                2 => b,
                3 => ((a as u16 + b as u16) / 2) as u8,
                4 => {
                    let p = a as i16 + b as i16 - c as i16;
                    let (pa, pb, pc) = (
                        (p - a as i16).abs(),
                        (p - b as i16).abs(),
                        (p - c as i16).abs(),
                    );
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                _ => 0,
            });
        }
        out.extend_from_slice(&cur[..src.len()]);
        prev = cur;
    }
    out
}

fn hex(d: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(d.len() / 2);
    let mut half = None;
    for &c in d {
        if c == b'>' {
            break;
        }
        let Some(v) = (c as char).to_digit(16) else { continue };
        match half.take() {
            Some(h) => out.push((h << 4 | v) as u8),
            None => half = Some(v),
        }
    }
    if let Some(h) = half {
        out.push((h << 4) as u8);
    }
    out
}

fn ascii85(d: &[u8]) -> Vec<u8> {
    let d = d.strip_prefix(b"<~").unwrap_or(d);
    let mut out = Vec::with_capacity(d.len() * 4 / 5);
    let mut group = [0u8; 5];
    let mut n = 0;
    for &c in d {
        match c {
            b'~' => break,
            b'z' if n == 0 => out.extend([0; 4]),
            b'!'..=b'u' => {
                group[n] = c - b'!';
                n += 1;
                if n == 5 {
                    let v = group.iter().fold(0u32, |v, &g| {
                        v.wrapping_mul(85).wrapping_add(g as u32)
                    });
                    out.extend(v.to_be_bytes());
                    n = 0;
                }
            }
            _ => {}
        }
    }
    if n > 1 {
        for g in group.iter_mut().skip(n) {
            *g = 84;
        }
        let v = group
            .iter()
            .fold(0u32, |v, &g| v.wrapping_mul(85).wrapping_add(g as u32));
        out.extend(&v.to_be_bytes()[..n - 1]);
    }
    out
}

fn run_length(d: &[u8], cap: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < d.len() && (out.len() as u64) < cap {
        let l = d[i] as usize;
        i += 1;
        match l {
            0..=127 => {
                let end = (i + l + 1).min(d.len());
                out.extend_from_slice(&d[i..end]);
                i = end;
            }
            128 => break,
            _ => {
                if let Some(&b) = d.get(i) {
                    out.resize(out.len() + 257 - l, b);
                }
                i += 1;
            }
        }
    }
    out
}

/// LZW as PDF uses it (MSB first, early change, 9-12 bit codes).
fn lzw(d: &[u8], cap: u64) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    // Each table entry: (prefix code, last byte, length).
    let mut table: Vec<(u16, u8, u32)> =
        (0..=255u16).map(|b| (u16::MAX, b as u8, 1)).collect();
    table.push((u16::MAX, 0, 0)); // 256: clear
    table.push((u16::MAX, 0, 0)); // 257: end
    let (mut bits, mut acc, mut nacc) = (9u32, 0u32, 0u32);
    let mut prev: Option<u16> = None;
    let emit =
        |code: u16, table: &[(u16, u8, u32)], out: &mut Vec<u8>| -> u8 {
            let len = table[code as usize].2 as usize;
            let at = out.len();
            out.resize(at + len, 0);
            let mut c = code;
            for k in (0..len).rev() {
                out[at + k] = table[c as usize].1;
                c = table[c as usize].0;
            }
            out[at]
        };
    for &byte in d {
        acc = acc << 8 | byte as u32;
        nacc += 8;
        while nacc >= bits {
            let code = ((acc >> (nacc - bits)) & ((1 << bits) - 1)) as u16;
            nacc -= bits;
            if code == 256 {
                table.truncate(258);
                bits = 9;
                prev = None;
                continue;
            }
            if code == 257 || out.len() as u64 >= cap {
                return out;
            }
            match prev {
                None => {
                    if code > 255 {
                        return out;
                    }
                    emit(code, &table, &mut out);
                }
                Some(p) => {
                    let first = if (code as usize) < table.len() {
                        emit(code, &table, &mut out)
                    } else if code as usize == table.len() {
                        // KwKwK: the previous string and its own first byte.
                        let f = emit(p, &table, &mut out);
                        out.push(f);
                        f
                    } else {
                        return out;
                    };
                    if table.len() < 4096 {
                        let len = table[p as usize].2 + 1;
                        table.push((p, first, len));
                    }
                }
            }
            prev = Some(code);
            // Early change: widen one code before the table fills.
            if table.len() + 1 >= (1 << bits) && bits < 12 {
                bits += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zlib(d: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        );
        std::io::Write::write_all(&mut e, d).unwrap();
        e.finish().unwrap()
    }

    fn children(
        pdf_bytes: &[u8],
    ) -> (Vec<Vec<u8>>, Vec<Heur>, Option<Reason>) {
        let mut c =
            crate::unpack::tests::collect(crate::unpack::tests::budget());
        let skipped = pdf(pdf_bytes, &mut c).skipped;
        (c.children.into_iter().map(|x| x.1).collect(), c.alerts, skipped)
    }

    #[test]
    fn streams_are_decoded_through_their_filters() {
        let payload = b"hidden payload, twice: hidden payload".to_vec();
        let z = zlib(&payload);
        let mut doc = b"%PDF-1.4\n1 0 obj\n<< /Length 999 /Filter /FlateDecode >>\nstream\n".to_vec();
        doc.extend(&z);
        doc.extend(b"\nendstream\nendobj\n2 0 obj\n<< /Filter [/ASCIIHexDecode /FlateDecode] /Length 3 0 R >>\nstream\r\n");
        let hexed: String = z.iter().map(|b| format!("{b:02X}")).collect();
        doc.extend(hexed.as_bytes());
        doc.extend(b">\r\nendstream\nendobj\n3 0 obj\n<</Filter/ASCII85Decode>>\nstream\n");
        doc.extend(b"<~87cURD]i,\"Ebo80~>\nendstream\n");
        doc.extend(b"4 0 obj <</Filter /DCTDecode /Length 4>> stream\n\xff\xd8\xff\xe0\nendstream\n%%EOF\n");
        let (kids, alerts, skipped) = children(&doc);
        assert_eq!(kids.len(), 3, "the JPEG is not a child");
        assert_eq!(kids[0], payload);
        assert_eq!(kids[1], payload);
        assert_eq!(kids[2], b"Hello World!");
        assert!(alerts.is_empty());
        assert_eq!(skipped, None);
    }

    #[test]
    fn an_unknown_filter_leaves_the_stream_as_it_is() {
        let doc = b"%PDF-1.4\n1 0 obj <</Filter /FooDecode /Length 6>> stream\nraw!!!\nendstream\n";
        let (kids, _, skipped) = children(doc);
        assert_eq!(kids, vec![b"raw!!!".to_vec()]);
        assert_eq!(skipped, None, "the document is not called unscanned");
    }

    #[test]
    fn encrypted_documents_are_not_scanned() {
        let doc = b"%PDF-1.6\n1 0 obj <</Length 4>> stream\nabcd\nendstream\ntrailer <</Root 1 0 R /Encrypt 5 0 R>>\n";
        let (kids, alerts, skipped) = children(doc);
        assert!(kids.is_empty());
        assert_eq!(alerts, vec![Heur::EncryptedDoc("PDF")]);
        assert_eq!(skipped, Some(Reason::Encrypted));
    }

    #[test]
    fn a_million_streams_take_linear_time() {
        // Picture streams are not children, so MaxFiles does not end this
        // walk: only the bounded dictionary search keeps it fast.
        let mut doc = b"%PDF-1.4\n".to_vec();
        doc.extend(
            b"<</Filter/DCTDecode>> stream\nX\nendstream\n".repeat(500_000),
        );
        let t = std::time::Instant::now();
        let (kids, _, _) = children(&doc);
        assert!(kids.is_empty());
        assert!(
            t.elapsed() < std::time::Duration::from_secs(10),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn object_headers() {
        assert_eq!(object_header(b"x\n12 0 "), Some((12, 0)));
        assert_eq!(object_header(b"endobj\r\n7\r\n65535\n"), Some((7, 65535)));
        for no in [&b"end"[..], b"1 0", b"0 ", b"x 0 ", b"1 99999 ", b""] {
            assert_eq!(object_header(no), None, "{no:?}");
        }
        let d = b"1 0 obj << >> endobj\n2 0 obj (a) endobj 3 0 obj";
        let mut ids = Objects::new(d);
        assert_eq!(ids.at(0), None);
        assert_eq!(ids.at(10), Some((1, 0)));
        assert_eq!(ids.at(35), Some((2, 0)));
        assert_eq!(ids.at(d.len()), Some((3, 0)));
    }

    #[test]
    fn filter_decoders() {
        // PDF reference's LZW example: 2D 2D 2D 2D 2D 41 2D 2D 2D 42.
        let lz = [0x80, 0x0B, 0x60, 0x50, 0x22, 0x0C, 0x0C, 0x85, 0x01];
        assert_eq!(
            lzw(&lz, 1 << 20),
            b"\x2d\x2d\x2d\x2d\x2d\x41\x2d\x2d\x2d\x42"
        );
        assert_eq!(run_length(b"\x02abc\xfdz\x80", 100), b"abczzzz");
        assert_eq!(hex(b"41 42 4>"), b"AB@");
        // PNG Up predictor over two rows of 3 columns.
        let rows = [2u8, 1, 2, 3, 2, 1, 1, 1];
        let dict = b"/DecodeParms <</Predictor 12 /Columns 3>>";
        assert_eq!(predict(rows.to_vec(), dict), vec![1, 2, 3, 2, 3, 4]);
    }
}
