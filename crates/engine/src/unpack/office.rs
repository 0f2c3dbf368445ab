//! Microsoft Office's OLE2 compound files (cfb): every stream is a child,
//! as ClamAV scans them; VBA project modules are decompressed (MS-OVBA)
//! into their source text; PowerPoint's embedded objects (zlib inside
//! `ExOleObjStg` records) are inflated; an OOXML package encrypted with
//! Excel's default password is decrypted (`office/velvet.rs`); an HWP 5
//! document's compressed streams are inflated (`hwp`).
//!
//! The VBA decompressor and the `dir` stream walk are our own: the `ovba`
//! crate would bring a second, old copy of cfb, and the format is a page
//! of the specification.

use std::io::{Cursor, Read};

use super::hwp::Hwp5;
use super::{Sink, Unpacked};
use crate::heur::Heur;

mod velvet;
mod xlm;
use crate::verdict::Reason;

type Cfb<'a> = cfb::CompoundFile<Cursor<&'a [u8]>>;

pub(crate) fn ole2<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    // The crate reads untrusted tables (directory, FAT, mini-FAT) all the
    // way through the walk: a panic anywhere there is a damaged file.
    let walked =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            ole2_walk(data, &mut out)
        }));
    if walked.is_err() {
        out.skip(Reason::Malformed { format: "OLE2" });
    }
    out
}

fn ole2_walk(data: &[u8], out: &mut Unpacked<'_>) {
    let Ok(mut f) = cfb::CompoundFile::open(Cursor::new(data)) else {
        out.skip(Reason::Malformed { format: "OLE2" });
        return;
    };
    let entries: Vec<(String, u64)> = f
        .walk()
        .filter(|e| e.is_stream())
        .map(|e| (e.path().to_string_lossy().into_owned(), e.len()))
        .collect();
    if entries.iter().any(|(p, _)| {
        p == "/EncryptedPackage" || p.ends_with("/EncryptionInfo")
    }) && !default_password(&mut f, &entries, out)
    {
        out.skip(Reason::Encrypted);
        out.alert(Heur::EncryptedDoc("OLE2"));
    }
    let hwp = hwp5(&mut f);
    let mut vba_dirs = Vec::new();
    let mut workbooks = xlm::Workbooks::default();
    for (path, len) in &entries {
        if out.done() {
            return;
        }
        if *len > out.sink.budget().max_file {
            out.skip(Reason::FileSizeLimit);
            continue;
        }
        let Some(stream) = read_stream(&mut f, path) else {
            out.skip(Reason::Malformed { format: "OLE2" });
            continue;
        };
        let lower = path.to_ascii_lowercase();
        if lower.ends_with("/vba/dir") {
            vba_dirs.push(path[..path.len() - 3].to_string());
        }
        workbooks.stream(path, &lower, &stream);
        if lower.ends_with("/powerpoint document") {
            ppt_objects(&stream, out);
        }
        if lower.ends_with("\u{1}ole10native") {
            // A size field, then the package.
            let (name, native) = package(stream.get(4..).unwrap_or_default());
            out.push(name, native.to_vec());
        }
        let leaf = lower.rsplit('/').next().unwrap_or_default();
        if let Some(h) = hwp
            && h.stream(out, path, leaf, &stream)
        {
            continue;
        }
        out.push(path.trim_start_matches('/').to_string(), stream);
    }
    for storage in vba_dirs {
        if out.done() {
            break;
        }
        vba_modules(&mut f, &storage, out);
    }
    // ClamAV's order: VBA, then Excel 4.0 macros.
    workbooks.scan(&mut f, out);
}

/// ClamAV's HWP 5 test: a non-empty `FileHeader` stream that says so,
/// in a file with none of the names that send ClamAV's OLE2 walk the
/// VBA way (where every stream is scanned as it is).
fn hwp5(f: &mut Cfb<'_>) -> Option<Hwp5> {
    const VBA_WAY: &[&str] = &[
        "_vba_project",
        "powerpoint document",
        "worddocument",
        "\u{1}ole10native",
    ];
    let entries: Vec<(String, String, bool)> = f
        .walk()
        .map(|e| {
            let path = e.path().to_string_lossy().into_owned();
            (e.name().to_lowercase(), path, e.is_stream() && !e.is_empty())
        })
        .collect();
    if entries.iter().any(|(n, ..)| VBA_WAY.contains(&n.as_str())) {
        return None;
    }
    entries.iter().filter(|(n, _, s)| *s && n == "fileheader").find_map(
        |(_, path, _)| {
            let mut head = Vec::new();
            f.open_stream(path).ok()?.take(40).read_to_end(&mut head).ok()?;
            Hwp5::header(&head)
        },
    )
}

/// An encrypted OOXML package that opens with Excel's default password:
/// the package, decrypted, is a child (and the encrypted streams are
/// scanned as they are, as every stream is).
fn default_password(
    f: &mut Cfb<'_>,
    entries: &[(String, u64)],
    out: &mut Unpacked<'_>,
) -> bool {
    let size =
        |name: &str| entries.iter().find(|(p, _)| p == name).map(|e| e.1);
    let (Some(info_len), Some(_)) =
        (size("/EncryptionInfo"), size("/EncryptedPackage"))
    else {
        return false;
    };
    if info_len > 64 << 10 {
        return false;
    }
    let Some(key) =
        read_stream(f, "/EncryptionInfo").and_then(|i| velvet::key(&i))
    else {
        return false;
    };
    let cap = out.sink.budget().max_file;
    let Some(package) = read_stream(f, "/EncryptedPackage")
        .and_then(|p| velvet::package(&key, &p, cap))
    else {
        return false;
    };
    if package.len() as u64 >= cap {
        out.skip(Reason::FileSizeLimit);
    }
    out.push("EncryptedPackage (VelvetSweatshop)".to_string(), package);
    true
}

fn read_stream(f: &mut Cfb<'_>, path: &str) -> Option<Vec<u8>> {
    let mut s = f.open_stream(path).ok()?;
    let mut v = Vec::new();
    s.read_to_end(&mut v).ok()?;
    Some(v)
}

/// The file a Packager object holds (the body of an `\x01Ole10Native`
/// stream after its size field, or an OLE1 "Package" object's native
/// data): its name and bytes. When the layout does not hold, all of it,
/// as ClamAV falls back to.
fn package(s: &[u8]) -> (String, &[u8]) {
    fn cstr(s: &[u8], at: usize) -> Option<(&[u8], usize)> {
        let n = s.get(at..)?.iter().position(|&b| b == 0)?;
        Some((&s[at..at + n], at + n + 1))
    }
    let u32_at = |at: usize| -> Option<usize> {
        Some(u32::from_le_bytes(s.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    let parsed = (|| {
        // A flags word, label, original path, two words, the temporary
        // path with its length, then the file with its length.
        let (label, at) = cstr(s, 2)?;
        let (_path, at) = cstr(s, at)?;
        let at = at + 4;
        let at = at.checked_add(4 + u32_at(at)?)?;
        let len = u32_at(at)?;
        let data = s.get(at + 4..(at + 4).checked_add(len)?)?;
        Some((String::from_utf8_lossy(label).into_owned(), data))
    })();
    parsed.unwrap_or_else(|| ("package".into(), s))
}

/// RTF documents: each `\objdata` group's hex (and `\bin`) data decoded
/// is a child; an OLE1 object in it gives its native data too (a
/// Packager file, or an OLE2 document, which is then opened in turn).
pub(crate) fn rtf<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let finder = memchr::memmem::Finder::new(b"\\objdata");
    let mut from = 0;
    let mut n = 0;
    while let Some(i) = finder.find(&data[from..]).map(|i| from + i) {
        if out.done() {
            break;
        }
        let cap = out.sink.budget().max_file as usize;
        let (obj, end) = objdata(data, i + 8, cap);
        from = end.max(i + 8).min(data.len());
        if obj.is_empty() {
            continue;
        }
        n += 1;
        if let Some((class, native)) = ole1_native(&obj) {
            if class == "Package" {
                let (name, file) = package(native);
                out.push(name, file.to_vec());
            } else {
                out.push(format!("object {n} ({class})"), native.to_vec());
            }
        }
        out.push(format!("objdata {n}"), obj);
    }
    out
}

/// Decodes an `\objdata` group from `at` (just after the control word)
/// to its closing brace: hex digit pairs, with `\binN` raw bytes, other
/// control words and nested groups skipped. Returns the bytes and where
/// the group ended.
fn objdata(d: &[u8], mut at: usize, cap: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut half: Option<u8> = None;
    let mut depth = 0usize;
    while at < d.len() && out.len() < cap {
        let c = d[at];
        match c {
            b'{' => depth += 1,
            b'}' if depth == 0 => return (out, at + 1),
            b'}' => depth -= 1,
            b'\\' => {
                let word_end = d[at + 1..]
                    .iter()
                    .position(|b| !b.is_ascii_alphabetic())
                    .map_or(d.len(), |p| at + 1 + p);
                let word = &d[at + 1..word_end];
                let num_end = d[word_end..]
                    .iter()
                    .position(|b| !(b.is_ascii_digit() || *b == b'-'))
                    .map_or(d.len(), |p| word_end + p);
                let mut next = num_end;
                if d.get(next) == Some(&b' ') {
                    next += 1;
                }
                if word == b"bin" {
                    let len: usize =
                        std::str::from_utf8(&d[word_end..num_end])
                            .ok()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0);
                    let end = next.saturating_add(len).min(d.len());
                    out.extend_from_slice(&d[next..end]);
                    next = end;
                } else if word.is_empty() {
                    // A control symbol such as \* or \'.
                    next = (at + 2).min(d.len());
                }
                at = next;
                continue;
            }
            _ if depth == 0 && c.is_ascii_hexdigit() => {
                let v = (c as char).to_digit(16).unwrap() as u8;
                match half.take() {
                    Some(h) => out.push(h << 4 | v),
                    None => half = Some(v),
                }
            }
            _ => {}
        }
        at += 1;
    }
    (out, at)
}

/// An OLE1 embedded object (OLEVersion, FormatID 2, class name, topic,
/// item, native data): its class and native data.
fn ole1_native(o: &[u8]) -> Option<(String, &[u8])> {
    let u32_at = |at: usize| -> Option<usize> {
        Some(u32::from_le_bytes(o.get(at..at + 4)?.try_into().ok()?) as usize)
    };
    if u32_at(4)? != 2 {
        return None;
    }
    let class_len = u32_at(8)?;
    let class = o.get(12..12usize.checked_add(class_len)?)?;
    let class =
        String::from_utf8_lossy(class).trim_end_matches('\0').to_string();
    let mut at = 12 + class_len;
    // Topic and item names.
    for _ in 0..2 {
        at = at.checked_add(4 + u32_at(at)?)?;
    }
    let len = u32_at(at)?;
    let native = o.get(at + 4..(at + 4).checked_add(len)?)?;
    Some((class, native))
}

/// The VBA project in `storage` (the path of its `VBA` storage, with a
/// trailing slash): each module's source text is a child.
fn vba_modules(f: &mut Cfb<'_>, storage: &str, out: &mut Unpacked<'_>) {
    let Some(dir) = read_stream(f, &format!("{storage}dir")) else {
        return;
    };
    let cap = out.sink.budget().max_file as usize;
    let Some(dir) = decompress(&dir, cap) else {
        out.skip(Reason::Malformed { format: "VBA" });
        return;
    };
    // A VBA project is macros, whatever the modules hold.
    out.alert(Heur::Macros);
    for (name, offset) in dir_modules(&dir) {
        if out.done() {
            return;
        }
        let Some(stream) = read_stream(f, &format!("{storage}{name}")) else {
            out.skip(Reason::Malformed { format: "VBA" });
            continue;
        };
        match stream.get(offset as usize..).and_then(|s| decompress(s, cap)) {
            Some(src) => out.push(format!("VBA module {name}"), src),
            None => out.skip(Reason::Malformed { format: "VBA" }),
        }
    }
}

/// (stream name, source offset) of each module in a decompressed `dir`
/// stream (MS-OVBA 2.3.4.2).
fn dir_modules(dir: &[u8]) -> Vec<(String, u32)> {
    let mut mods = Vec::new();
    let (mut name, mut offset) = (None::<String>, None::<u32>);
    let mut at = 0;
    while at + 6 <= dir.len() {
        let id = u16::from_le_bytes([dir[at], dir[at + 1]]);
        let mut size =
            u32::from_le_bytes(dir[at + 2..at + 6].try_into().unwrap())
                as usize;
        // PROJECTVERSION says 4 but holds 6 bytes.
        if id == 0x0009 {
            size = 6;
        }
        let body = &dir[(at + 6).min(dir.len())
            ..(at + 6).saturating_add(size).min(dir.len())];
        match id {
            0x001a => name = Some(String::from_utf8_lossy(body).into_owned()),
            0x0031 if body.len() >= 4 => {
                offset =
                    Some(u32::from_le_bytes(body[..4].try_into().unwrap()))
            }
            // The module's terminator.
            0x002b => {
                if let (Some(n), Some(o)) = (name.take(), offset.take()) {
                    mods.push((n, o));
                }
            }
            _ => {}
        }
        at = at + 6 + size;
    }
    mods
}

/// MS-OVBA 2.4.1 decompression, at most `cap` bytes out; `None` when the
/// container does not start as one.
pub(crate) fn decompress(src: &[u8], cap: usize) -> Option<Vec<u8>> {
    if src.first() != Some(&1) {
        return None;
    }
    let mut out = Vec::new();
    let mut pos = 1;
    while pos + 2 <= src.len() && out.len() < cap {
        let header = u16::from_le_bytes([src[pos], src[pos + 1]]);
        let end = (pos + 2 + (header & 0x0fff) as usize + 1).min(src.len());
        pos += 2;
        let chunk_start = out.len();
        if header & 0x8000 == 0 {
            // A raw chunk: 4096 bytes as they are.
            let end = (pos + 4096).min(src.len());
            out.extend_from_slice(&src[pos..end]);
            pos = end;
            continue;
        }
        while pos < end {
            let flags = src[pos];
            pos += 1;
            for bit in 0..8 {
                if pos >= end {
                    break;
                }
                if flags & (1 << bit) == 0 {
                    out.push(src[pos]);
                    pos += 1;
                    continue;
                }
                if pos + 2 > end {
                    return Some(out);
                }
                let token = u16::from_le_bytes([src[pos], src[pos + 1]]);
                pos += 2;
                let done = out.len() - chunk_start;
                let bits = (usize::BITS
                    - done.saturating_sub(1).leading_zeros())
                .max(4);
                let len_mask = 0xffffu16 >> bits;
                let length = (token & len_mask) as usize + 3;
                let offset = (token >> (16 - bits)) as usize + 1;
                if offset > done || done + length > 4096 {
                    // Corrupt: what was decoded so far is the result.
                    return Some(out);
                }
                for _ in 0..length {
                    let b = out[out.len() - offset];
                    out.push(b);
                }
            }
        }
        pos = end;
    }
    out.truncate(cap);
    Some(out)
}

/// PowerPoint's embedded OLE objects: `ExOleObjStg` records (type
/// 0x1011) whose instance says compressed hold a 4-byte size and a zlib
/// stream; each inflated object is a child (ClamAV's ppt handling).
fn ppt_objects(stream: &[u8], out: &mut Unpacked<'_>) {
    let mut at = 0;
    let mut n = 0;
    while at + 8 <= stream.len() {
        if out.done() {
            return;
        }
        let ver_inst = u16::from_le_bytes([stream[at], stream[at + 1]]);
        let kind = u16::from_le_bytes([stream[at + 2], stream[at + 3]]);
        let len =
            u32::from_le_bytes(stream[at + 4..at + 8].try_into().unwrap())
                as usize;
        let body_at = at + 8;
        // Containers (version 0xF) hold records: step into them.
        if ver_inst & 0x000f == 0x000f {
            at = body_at;
            continue;
        }
        let body = &stream[body_at.min(stream.len())
            ..body_at.saturating_add(len).min(stream.len())];
        if kind == 0x1011 && ver_inst >> 4 == 1 && body.len() > 4 {
            n += 1;
            out.push_reader(
                format!("embedded object {n}"),
                flate2::read::ZlibDecoder::new(&body[4..]),
            );
        }
        at = body_at.saturating_add(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ovba_decompresses_the_specification_examples() {
        // MS-OVBA 3.2.1: no compression (literals only).
        let c = [
            0x01, 0x19, 0xb0, 0x00, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
            0x68, 0x00, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x00,
            0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x2e,
        ];
        assert_eq!(
            decompress(&c, 1 << 20).unwrap(),
            b"abcdefghijklmnopqrstuv."
        );
        // One literal and a copy token (offset 1, length 8).
        let c = [0x01, 0x03, 0xb0, 0x02, 0x61, 0x05, 0x00];
        assert_eq!(decompress(&c, 1 << 20).unwrap(), vec![b'a'; 9]);
        // A copy reaching before the chunk is corrupt: decoding stops.
        let c = [0x01, 0x03, 0xb0, 0x02, 0x61, 0x05, 0x10];
        assert_eq!(decompress(&c, 1 << 20).unwrap(), b"a");
        assert_eq!(
            decompress(&[0x01, 0x03, 0xb0, 0x02, 0x61, 0x05, 0x00], 4)
                .unwrap(),
            b"aaaa"
        );
        assert_eq!(decompress(b"\x02junk", 100), None);
    }

    /// MS-OVBA "compression" with raw chunks only: valid, and enough to
    /// build a VBA project here.
    fn raw_container(text: &[u8]) -> Vec<u8> {
        let mut v = vec![1u8];
        for c in text.chunks(4096) {
            v.extend([0xff, 0x3f]);
            v.extend(c);
            v.resize(v.len() + 4096 - c.len(), b' ');
        }
        v
    }

    /// MS-OVBA compression with literal tokens only: the text no longer
    /// appears verbatim in the stream (a flag byte every eight bytes).
    fn literal_container(text: &[u8]) -> Vec<u8> {
        let mut v = vec![1u8];
        for c in text.chunks(4096) {
            let mut chunk = Vec::new();
            for group in c.chunks(8) {
                chunk.push(0);
                chunk.extend(group);
            }
            v.extend((0xb000 | (chunk.len() as u16 + 2 - 3)).to_le_bytes());
            v.extend(chunk);
        }
        v
    }

    fn record(v: &mut Vec<u8>, id: u16, body: &[u8]) {
        v.extend(id.to_le_bytes());
        v.extend((body.len() as u32).to_le_bytes());
        v.extend(body);
    }

    /// A Word-like compound file whose VBA project has one module.
    pub(crate) fn doc_with_macro(source: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut f =
            cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        f.create_stream("/WordDocument")
            .unwrap()
            .write_all(&[0u8; 600])
            .unwrap();
        f.create_storage_all("/Macros/VBA").unwrap();
        let mut dir = Vec::new();
        record(&mut dir, 0x0019, b"Module1");
        record(&mut dir, 0x001a, b"Module1");
        record(&mut dir, 0x0032, b"M\0o\0d\0u\0l\0e\x001\0");
        record(&mut dir, 0x0031, &0u32.to_le_bytes());
        record(&mut dir, 0x002b, b"");
        f.create_stream("/Macros/VBA/dir")
            .unwrap()
            .write_all(&raw_container(&dir))
            .unwrap();
        f.create_stream("/Macros/VBA/Module1")
            .unwrap()
            .write_all(&literal_container(source))
            .unwrap();
        f.flush().unwrap();
        f.into_inner().into_inner()
    }

    #[test]
    fn vba_modules_are_children_and_macros_alert() {
        let doc = doc_with_macro(
            b"Sub AutoOpen()\r\n  Shell \"calc.exe\"\r\nEnd Sub\r\n",
        );
        let mut c =
            crate::unpack::tests::collect(crate::unpack::tests::budget());
        ole2(&doc, &mut c);
        let module = c
            .children
            .iter()
            .find(|(n, _)| n == "VBA module Module1")
            .unwrap_or_else(|| {
                panic!(
                    "{:?}",
                    c.children.iter().map(|x| &x.0).collect::<Vec<_>>()
                )
            });
        assert!(module.1.starts_with(b"Sub AutoOpen()"));
        assert_eq!(c.alerts, vec![Heur::Macros]);
    }

    #[test]
    fn windows_installer_packages_are_known_by_clsid() {
        let mut f =
            cfb::CompoundFile::create(Cursor::new(Vec::new())).unwrap();
        f.set_storage_clsid(
            "/",
            uuid::Uuid::parse_str(crate::heur::MSI_CLSID).unwrap(),
        )
        .unwrap();
        f.create_stream("/x").unwrap();
        f.flush().unwrap();
        let msi = f.into_inner().into_inner();
        assert!(crate::heur::is_msi(&msi));
        assert_eq!(crate::heur::program_kind(&msi), Some("MSI"));
        assert!(!crate::heur::is_msi(&doc_with_macro(b"x")));
    }

    #[test]
    fn macros_alert_only_when_asked_and_in_ooxml_too() {
        use crate::{Database, Options, Scanner, SignatureSet, Verdict};
        let mut sigs = SignatureSet::new();
        sigs.load_bytes(
            "t.ndb",
            b"Shell.Calc:0:*:5368656c6c202263616c632e65786522\n",
        )
        .unwrap();
        let db = Database::from_signatures(&sigs).unwrap();
        let benign =
            doc_with_macro(b"Sub Hello()\r\n  MsgBox \"hi\"\r\nEnd Sub\r\n");
        assert_eq!(
            Scanner::new(&db).scan_bytes(&benign).verdict,
            Verdict::Clean
        );
        let mut o = Options::default();
        o.heuristics.macros = true;
        let s = Scanner::new(&db).options(o);
        let name = |v: Verdict| match v {
            Verdict::Infected { name, location } => {
                format!("{name} @ {location}")
            }
            v => format!("{v:?}"),
        };
        assert_eq!(
            name(s.scan_bytes(&benign).verdict),
            "Heuristics.OLE2.ContainsMacros.VBA @ "
        );
        // The module's source is scanned: a signature in it wins.
        let bad = doc_with_macro(
            b"Sub AutoOpen()\r\n  Shell \"calc.exe\"\r\nEnd Sub\r\n",
        );
        assert_eq!(
            name(s.scan_bytes(&bad).verdict),
            "Shell.Calc @ VBA module Module1"
        );
        // A .docm is a zip holding word/vbaProject.bin.
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        z.start_file("[Content_Types].xml", opts).unwrap();
        std::io::Write::write_all(&mut z, b"<Types/>").unwrap();
        z.start_file("word/vbaProject.bin", opts).unwrap();
        std::io::Write::write_all(&mut z, &benign).unwrap();
        let docm = z.finish().unwrap().into_inner();
        assert_eq!(
            name(s.scan_bytes(&docm).verdict),
            "Heuristics.OLE2.ContainsMacros.VBA @ "
        );
    }

    /// Target 2 (OLE2) signatures run in each VBA module and over the
    /// compound file, as ClamAV runs them; never over other files.
    #[test]
    fn ole2_target_signatures_run_in_vba_modules_and_the_file() {
        use crate::{Database, Scanner, SignatureSet, Verdict};
        let mut sigs = SignatureSet::new();
        sigs.load_bytes(
            "t.ndb",
            b"Macro.Shell:2:*:5368656c6c202263616c632e65786522\n",
        )
        .unwrap();
        sigs.load_bytes(
            "t.ldb",
            b"Macro.Both;Engine:51-255,Target:2;0&1;4175746f4f70656e;5768656e2d6f70656e6564\n",
        )
        .unwrap();
        let db = Database::from_signatures(&sigs).unwrap();
        let found =
            |data: &[u8]| match Scanner::new(&db).scan_bytes(data).verdict {
                Verdict::Infected { name, location } => {
                    format!("{name} @ {location}")
                }
                v => format!("{v:?}"),
            };
        let source = b"Sub AutoOpen()\r\n  Shell \"calc.exe\"\r\nEnd Sub\r\n";
        assert_eq!(
            found(&doc_with_macro(source)),
            "Macro.Shell @ VBA module Module1"
        );
        // The same text outside an OLE2 file is nothing to target 2.
        assert_eq!(found(source), "Clean");
        // A logical signature's subsignatures in one module.
        let both = b"Sub AutoOpen() ' When-opened\r\nEnd Sub\r\n";
        assert_eq!(
            found(&doc_with_macro(both)),
            "Macro.Both @ VBA module Module1"
        );
        assert_eq!(found(both), "Clean");
    }

    fn ole1_package(name: &str, file: &[u8]) -> Vec<u8> {
        let mut native = vec![2, 0];
        native.extend(name.as_bytes());
        native.push(0);
        native.extend(b"C:\\x\0");
        native.extend([0, 0, 3, 0]);
        native.extend(5u32.to_le_bytes());
        native.extend(b"C:\\x\0");
        native.extend((file.len() as u32).to_le_bytes());
        native.extend(file);
        let mut o = Vec::new();
        o.extend(0x0501u32.to_le_bytes());
        o.extend(2u32.to_le_bytes());
        o.extend(8u32.to_le_bytes());
        o.extend(b"Package\0");
        o.extend([0u8; 8]);
        o.extend((native.len() as u32).to_le_bytes());
        o.extend(native);
        o
    }

    #[test]
    fn rtf_objects_give_the_packaged_file() {
        let obj = ole1_package("run.exe", b"PAYLOAD-BYTES");
        let hex: String = obj.iter().map(|b| format!("{b:02x}")).collect();
        // Line breaks inside the hex, as word processors write it.
        let (a, b) = hex.split_at(40);
        let doc = format!(
            "{{\\rtf1{{\\object\\objemb{{\\*\\objclass Package}}{{\\*\\objdata {a}\r\n{b}}}}}}}"
        );
        let mut c =
            crate::unpack::tests::collect(crate::unpack::tests::budget());
        rtf(doc.as_bytes(), &mut c);
        assert_eq!(
            c.children[0],
            ("run.exe".to_string(), b"PAYLOAD-BYTES".to_vec())
        );
        assert_eq!(c.children[1].1, obj);
        // A control symbol cut by the end of the input (found by fuzzing).
        let mut c =
            crate::unpack::tests::collect(crate::unpack::tests::budget());
        rtf(b"{\\rtf1{\\*\\objdata 41\\", &mut c);
        assert_eq!(c.children[0].1, b"A");
        // \bin carries raw bytes in the same group.
        let mut raw = b"{\\rtf1{\\*\\objdata 4142\\bin3 \x00\xff}".to_vec();
        raw.extend(b"43}}");
        let mut c =
            crate::unpack::tests::collect(crate::unpack::tests::budget());
        rtf(&raw, &mut c);
        assert_eq!(c.children[0].1, b"AB\x00\xff}C");
    }
}
