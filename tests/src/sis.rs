//! A small Symbian installer writer for the tests (Debian packages no SIS
//! builder): the EPOC layout of Symbian 6 to 8 (the ER6 header of 100
//! bytes, the language table, file, option and condition records, UTF-16
//! names, files stored or compressed with zlib), and a minimal SIS 9.x
//! file (the typed-field layout of Symbian 9) holding one stored file.
//!
//! A file record carries one copy per declared language, as ClamAV reads
//! every file record. A few switches write what a crafted installer
//! would (a claimed original length, a pointer of one's choosing).
//!
//! The engine's unit tests include this file too: it needs std and
//! flate2 alone.

use std::io::Write;

/// The UIDs of an EPOC installer made for Symbian 6 (ER6).
pub const UID2_ER6: u32 = 0x1000_3A12;
pub const UID3_EPOC: u32 = 0x1000_0419;
/// The first UID of a SIS 9.x file.
pub const UID1_SIS9: u32 = 0x1020_1A7A;

/// Header bytes before the language table (16 of UIDs, 84 of fields).
const HEADER: usize = 100;

#[derive(Clone, Debug)]
pub struct File {
    /// Where the file was on the maker's machine (UTF-16 in the file).
    pub source: String,
    /// Where it is installed.
    pub dest: String,
    /// 0 a plain file, 1 text shown at install, 3 run, 4 none (no data).
    pub kind: u32,
    /// One content per language, in the order of `Sis::langs`.
    pub copies: Vec<Vec<u8>>,
    /// An original length to write instead of each copy's own.
    pub claimed: Option<u32>,
    /// A data pointer to write instead of each copy's own.
    pub pointer: Option<u32>,
}

impl File {
    pub fn new(source: &str, copies: Vec<Vec<u8>>) -> File {
        File {
            source: source.to_string(),
            dest: format!("!:\\system\\apps\\t\\{}", leaf(source)),
            kind: 0,
            copies,
            claimed: None,
            pointer: None,
        }
    }
}

fn leaf(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

#[derive(Clone, Debug)]
pub enum Record {
    File(File),
    /// Options the user may pick: one name per option and language.
    Options(Vec<String>),
    /// `#if` and `#elsif` with their condition's bytes.
    If(Vec<u8>),
    ElseIf(Vec<u8>),
    Else,
    EndIf,
}

#[derive(Clone, Debug)]
pub struct Sis {
    /// The application's UID.
    pub app: u32,
    /// Language codes (1 UK English, 2 French, 3 German...).
    pub langs: Vec<u16>,
    /// Files stored as they are (flag bit 3), else zlib-compressed.
    pub stored: bool,
    /// The application's name (one for every language).
    pub name: String,
    pub records: Vec<Record>,
    /// A record count to write instead of the true one.
    pub claimed_records: Option<u16>,
}

impl Sis {
    pub fn new(records: Vec<Record>) -> Sis {
        Sis {
            app: 0x1020_3040,
            langs: vec![1],
            stored: false,
            name: "Test".into(),
            records,
            claimed_records: None,
        }
    }
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

fn zlib(d: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(
        Vec::new(),
        flate2::Compression::best(),
    );
    e.write_all(d).unwrap();
    e.finish().unwrap()
}

/// Blobs placed after the records, each given its offset once known.
struct Blobs {
    at: usize,
    bytes: Vec<u8>,
}

impl Blobs {
    fn add(&mut self, b: &[u8]) -> u32 {
        let p = self.at + self.bytes.len();
        self.bytes.extend_from_slice(b);
        // Keep every blob word-aligned, as SIS makers do.
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
        p as u32
    }
}

fn words(out: &mut Vec<u8>, ws: &[u32]) {
    for w in ws {
        out.extend_from_slice(&w.to_le_bytes());
    }
}

/// The size of a record in the record stream.
fn record_len(r: &Record, langs: usize) -> usize {
    match r {
        Record::File(_) => 4 * (7 + 3 * langs + 2),
        Record::Options(o) => 4 * (2 + 2 * o.len() * langs),
        Record::If(e) | Record::ElseIf(e) => 8 + e.len(),
        Record::Else | Record::EndIf => 4,
    }
}

/// An EPOC installer.
pub fn write(s: &Sis) -> Vec<u8> {
    let n = s.langs.len();
    let plangs = HEADER;
    let pfiles = plangs + (2 * n).next_multiple_of(4);
    let records: usize = s.records.iter().map(|r| record_len(r, n)).sum();
    let mut blobs = Blobs { at: pfiles + records, bytes: Vec::new() };
    let mut stream = Vec::new();
    for r in &s.records {
        match r {
            Record::File(f) => {
                assert_eq!(f.copies.len(), n, "one copy per language");
                let src = utf16(&f.source);
                let dst = utf16(&f.dest);
                let (psrc, pdst) = (blobs.add(&src), blobs.add(&dst));
                let mut lens = Vec::new();
                let mut ptrs = Vec::new();
                let mut fulls = Vec::new();
                // Copies equal to the one before share its bytes.
                let mut last: Option<(&Vec<u8>, u32, u32)> = None;
                for c in &f.copies {
                    let (len, ptr) = match last {
                        Some((prev, len, ptr)) if prev == c => (len, ptr),
                        _ => {
                            let body =
                                if s.stored { c.clone() } else { zlib(c) };
                            (body.len() as u32, blobs.add(&body))
                        }
                    };
                    last = Some((c, len, ptr));
                    lens.push(len);
                    ptrs.push(f.pointer.unwrap_or(ptr));
                    fulls.push(f.claimed.unwrap_or(c.len() as u32));
                }
                words(&mut stream, &[0, f.kind, 0]);
                words(&mut stream, &[src.len() as u32, psrc]);
                words(&mut stream, &[dst.len() as u32, pdst]);
                words(&mut stream, &lens);
                words(&mut stream, &ptrs);
                words(&mut stream, &fulls);
                // No MIME type.
                words(&mut stream, &[0, 0]);
            }
            Record::Options(o) => {
                words(&mut stream, &[2, o.len() as u32]);
                for name in o {
                    let u = utf16(name);
                    let p = blobs.add(&u);
                    for _ in 0..n {
                        words(&mut stream, &[u.len() as u32, p]);
                    }
                }
            }
            Record::If(e) | Record::ElseIf(e) => {
                let t = if matches!(r, Record::If(_)) { 3 } else { 4 };
                words(&mut stream, &[t, e.len() as u32]);
                stream.extend_from_slice(e);
            }
            Record::Else => words(&mut stream, &[5]),
            Record::EndIf => words(&mut stream, &[6]),
        }
    }
    assert_eq!(stream.len(), records);
    // The name table: one length per language, then one pointer each.
    let name = utf16(&s.name);
    let pstr = blobs.add(&name);
    let mut table = Vec::new();
    words(&mut table, &vec![name.len() as u32; n]);
    words(&mut table, &vec![pstr; n]);
    let pname = blobs.add(&table);
    let files = s.records.iter().filter(|r| matches!(r, Record::File(_)));
    let mut out = Vec::new();
    words(&mut out, &[s.app, UID2_ER6, UID3_EPOC, 0]);
    let count = s.claimed_records.unwrap_or(s.records.len() as u16);
    for h in [0, n as u16, count, 0, 0, files.count() as u16, 0, 0] {
        out.extend_from_slice(&h.to_le_bytes());
    }
    // Version 200 (ER6), flags: Unicode names, bit 3 when stored.
    words(&mut out, &[200]);
    let flags: u16 = 1 | if s.stored { 8 } else { 0 };
    for h in [flags, 0, 1, 0] {
        out.extend_from_slice(&h.to_le_bytes());
    }
    words(&mut out, &[0, plangs as u32, pfiles as u32, 0, 0, pname, 0, 0]);
    // Installed space, needed space, the ER6 maximum and reserved words.
    words(&mut out, &[0; 6]);
    assert_eq!(out.len(), HEADER);
    for l in &s.langs {
        out.extend_from_slice(&l.to_le_bytes());
    }
    out.resize(pfiles, 0);
    out.extend_from_slice(&stream);
    out.extend_from_slice(&blobs.bytes);
    out
}

/// A SIS 9.x field: type, length, the data padded to four bytes.
fn field(kind: u32, data: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    words(&mut f, &[kind, data.len() as u32]);
    f.extend_from_slice(data);
    while !f.len().is_multiple_of(4) {
        f.push(0);
    }
    f
}

/// A `SISCompressed` field holding `data` stored.
fn stored(data: &[u8]) -> Vec<u8> {
    let mut c = Vec::new();
    words(&mut c, &[0]);
    c.extend_from_slice(&(data.len() as u64).to_le_bytes());
    c.extend_from_slice(data);
    field(3, &c)
}

/// An array of `kind` elements: each element without its type word.
fn array(kind: u32, elements: &[Vec<u8>]) -> Vec<u8> {
    let mut a = Vec::new();
    words(&mut a, &[kind]);
    for e in elements {
        // Drop the element's own type word.
        a.extend_from_slice(&e[4..]);
    }
    field(2, &a)
}

/// A SIS 9.x installer holding `file` stored in its one data unit. Its
/// fourth UID (the UID checksum) is set to the EPOC installer UID, so
/// that ClamAV's type pattern (that UID within bytes 8 to 23) sees it.
pub fn write9(file: &[u8]) -> Vec<u8> {
    // An empty controller: no reader here looks into it.
    let controller = stored(&field(13, &[]));
    let filedata = field(32, &stored(file));
    let unit = field(31, &array(32, &[filedata]));
    let data = field(30, &array(31, &[unit]));
    let mut contents = controller;
    contents.extend_from_slice(&data);
    let mut out = Vec::new();
    words(&mut out, &[UID1_SIS9, 0, 0x1020_3040, UID3_EPOC]);
    out.extend_from_slice(&field(12, &contents));
    out
}
