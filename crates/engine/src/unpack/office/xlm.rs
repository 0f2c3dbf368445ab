//! Excel 4.0 (XLM) macro sheets in a BIFF workbook stream, found and
//! written out as text the way ClamAV 1.4 does, since signatures for
//! such macros are written against ClamAV's text.
//!
//! ClamAV first walks the records of each `Workbook` or `Book` stream
//! for a BOUNDSHEET whose sheet type is 1 (a macro sheet) and for an
//! MSODRAWINGGROUP (pictures): [`survey`]. When either is there, each
//! `Workbook` stream (not `Book`) is disassembled, every record one
//! line, formulas decoded token by token ([`disassemble`]), and the
//! text scanned as a script of its own; the pictures of the drawing
//! group are children too ([`pictures`]).
//!
//! The text keeps ClamAV's reading, quirks included, because a
//! signature cut from clamscan's text must match ours: bytes are read
//! as signed `char`s where ClamAV reads them so (a function number whose
//! low byte is 0x80 or more reads as 0xffXX), a formula is read one
//! byte past its record, out of the buffer the records are read into,
//! and a compressed string token is written from its token byte on.
//! The record names are data ([`xlm_names.txt`]).
//!
//! Where ClamAV gives up, this reading goes on: a record longer than a
//! BIFF8 record can be (8,228 bytes) makes ClamAV scan no text at all,
//! and so does a stream cut inside a record; here the first is passed
//! over and the second ends the text, which is scanned as far as it
//! was read.

use std::fmt::Write as _;
use std::sync::OnceLock;

use super::{Cfb, read_stream};
use crate::heur::Heur;
use crate::unpack::Unpacked;
use crate::verdict::Reason;

/// The longest record ClamAV reads; the buffer they are read into.
const MAX_RECORD: usize = 8228;

const FORMULA: u16 = 0x0006;
const NAME: u16 = 0x0018;
const CONTINUE: u16 = 0x003c;
const BOUNDSHEET: u16 = 0x0085;
const DRAWING_GROUP: u16 = 0x00eb;
const STRING: u16 = 0x0207;

/// The first line of ClamAV's text.
const HEADER: &[u8] = b"-- BIFF content extracted and disassembled from \
CL_TYPE_MSXL .xls file because a XLM macro was found in the document\n";

/// What a workbook stream holds, for ClamAV's decision to look closer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Survey {
    /// A BOUNDSHEET record names a macro sheet.
    pub(super) macros: bool,
    /// An MSODRAWINGGROUP record holds at least a byte.
    pub(super) drawings: bool,
}

/// The workbook streams of a compound file, as its walk meets them.
#[derive(Default)]
pub(super) struct Workbooks {
    survey: Survey,
    /// The paths of the streams named `Workbook`, in any case: the only
    /// ones ClamAV disassembles.
    workbooks: Vec<String>,
}

impl Workbooks {
    /// Looks at one stream of the walk (`lower`, its path in lower
    /// case): only `Workbook` and `Book` streams cost anything.
    pub(super) fn stream(&mut self, path: &str, lower: &str, data: &[u8]) {
        let leaf = lower.rsplit('/').next().unwrap_or_default();
        if leaf != "workbook" && leaf != "book" {
            return;
        }
        if leaf == "workbook" {
            self.workbooks.push(path.to_string());
        }
        if !(self.survey.macros && self.survey.drawings) {
            let s = survey(data);
            self.survey.macros |= s.macros;
            self.survey.drawings |= s.drawings;
        }
    }

    /// After the VBA projects: the macro alert, then, when a macro sheet
    /// or a drawing group was seen in any of them, each `Workbook`
    /// stream's text (scanned as ClamAV scans a script it wrote) and
    /// the pictures of its drawing group.
    pub(super) fn scan(self, f: &mut Cfb<'_>, out: &mut Unpacked<'_>) {
        if self.survey.macros {
            out.alert(Heur::XlmMacros);
        }
        if !(self.survey.macros || self.survey.drawings) {
            return;
        }
        for path in &self.workbooks {
            if out.done() {
                return;
            }
            let Some(stream) = read_stream(f, path) else {
                continue;
            };
            let cap = out.sink.budget().max_file as usize;
            let d = disassemble(&stream, cap);
            if d.truncated {
                out.skip(Reason::FileSizeLimit);
            }
            let name = path.trim_start_matches('/');
            out.push_script(format!("{name} (XLM disassembled)"), d.text);
            let Some(group) = d.drawing_group else { continue };
            for (i, p) in pictures(&group).into_iter().enumerate() {
                if out.done() {
                    return;
                }
                out.push(format!("{name} picture {}", i + 1), p.to_vec());
            }
        }
    }
}

/// The records of `stream`, as `(type, body)`; the last one may be cut
/// short by the end of the stream.
fn records(stream: &[u8]) -> impl Iterator<Item = (u16, u16, &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let head = stream.get(at..at + 4)?;
        let kind = u16::from_le_bytes([head[0], head[1]]);
        let len = u16::from_le_bytes([head[2], head[3]]);
        let body = at + 4;
        let end = (body + len as usize).min(stream.len());
        at = body + len as usize;
        Some((kind, len, &stream[body..end]))
    })
}

/// Macro sheets and pictures in a `Workbook` or `Book` stream: every
/// record is read, whatever the EOF records say, as ClamAV reads them.
pub(super) fn survey(stream: &[u8]) -> Survey {
    let mut s = Survey::default();
    for (kind, _, body) in records(stream) {
        match kind {
            BOUNDSHEET if body.get(5) == Some(&1) => s.macros = true,
            DRAWING_GROUP if !body.is_empty() => s.drawings = true,
            _ => {}
        }
        if s.macros && s.drawings {
            break;
        }
    }
    s
}

/// ClamAV's text of a workbook stream, and its drawing group (the
/// MSODRAWINGGROUP records and their CONTINUE records joined).
pub(super) struct Disassembly {
    pub(super) text: Vec<u8>,
    /// The text was cut at `cap` bytes.
    pub(super) truncated: bool,
    pub(super) drawing_group: Option<Vec<u8>>,
}

/// Writes the records of `stream` as ClamAV writes them, at most `cap`
/// bytes of text.
pub(super) fn disassemble(stream: &[u8], cap: usize) -> Disassembly {
    let mut out = Disassembly {
        text: HEADER.to_vec(),
        truncated: false,
        drawing_group: None,
    };
    // The buffer ClamAV reads each record into and reads past the end
    // of: what an earlier, longer record left there shows through.
    let mut buf = vec![0u8; MAX_RECORD + 16];
    let mut previous = 0u16;
    let names = names();
    for (kind, len, body) in records(stream) {
        if out.text.len() >= cap {
            out.truncated = true;
            break;
        }
        let name = names.record(kind).unwrap_or("<unknown>");
        let _ = write!(Text(&mut out.text), "{kind:04x} {len:6}   {name}");
        let len = len as usize;
        if body.len() < len {
            // Cut by the end of the stream.
            out.text.push(b'\n');
            break;
        }
        if len > MAX_RECORD {
            out.text.push(b'\n');
            continue;
        }
        buf[..len].copy_from_slice(body);
        let t = &mut out.text;
        match kind {
            FORMULA if len >= 21 => {
                let row = word(buf[0], buf[1]) as u32 + 1;
                let col = word(buf[2], buf[3]) as u32 + 1;
                let cce = word(buf[20], buf[21]);
                let _ = write!(Text(t), " - R{row}C{col} len={cce} ");
                formula(t, &buf[22..], len - 21, names);
            }
            NAME if len >= 16 => name_record(t, &buf, len),
            DRAWING_GROUP => out
                .drawing_group
                .get_or_insert_with(Vec::new)
                .extend_from_slice(body),
            CONTINUE if previous == DRAWING_GROUP => {
                if let Some(g) = out.drawing_group.as_mut() {
                    g.extend_from_slice(body);
                }
            }
            BOUNDSHEET if len >= 6 => {
                let state = match buf[4] {
                    0 => "visible",
                    1 => "hidden",
                    2 => "very hidden",
                    _ => "unknown visibility",
                };
                let sheet = match buf[5] {
                    0 => "worksheet or dialog sheet",
                    1 => "Excel 4.0 macro sheet",
                    2 => "chart",
                    6 => "Visual Basic module",
                    _ => "unknown type",
                };
                let _ = write!(Text(t), " - {sheet}, {state}");
            }
            STRING if len >= 4 => {
                if buf[2] & 1 == 0 {
                    // Eight-bit characters, read from the sixth byte
                    // (three past where they start) as a C string.
                    t.extend_from_slice(b" - \"");
                    t.extend_from_slice(c_str(&buf[6..6 + len - 3]));
                    t.push(b'"');
                } else {
                    // UTF-16, of which the character count is taken as
                    // a byte count.
                    t.extend_from_slice(b" - ");
                    let n = (word(buf[0], buf[1]) as usize).min(len - 3);
                    utf16(t, &buf[3..3 + n]);
                }
            }
            _ => {}
        }
        out.text.push(b'\n');
        if kind != CONTINUE {
            previous = kind;
        }
    }
    if out.text.len() > cap {
        out.text.truncate(cap);
        out.truncated = true;
    }
    out
}

/// A NAME record: a built-in name (Auto_Open is 1, Auto_Close 2) or
/// the name's characters.
fn name_record(t: &mut Vec<u8>, buf: &[u8], len: usize) {
    let at = if buf[14] != 0 { 14 } else { 15 };
    if buf[0] & 0x20 != 0 {
        let code = buf[at] as i8;
        let what = match code {
            1 => "auto_open",
            2 => "auto_close",
            _ => "?",
        };
        let _ = write!(Text(t), " - built-in-name {} {what}", code as u32);
        return;
    }
    let n = (buf[3] as i8 as i32) | ((buf[4] as i8 as i32) << 8);
    let n = n.min((len - at) as i32);
    t.extend_from_slice(b" - ");
    // A negative length is no limit at all to ClamAV's printf: the
    // characters run to a NUL.
    let rest = &buf[at..];
    let s = c_str(if n < 0 { rest } else { &rest[..n as usize] });
    t.extend_from_slice(s);
}

/// A 16-bit field as ClamAV reads it, from two signed `char`s: a low
/// byte of 0x80 or more fills the high byte.
fn word(lo: u8, hi: u8) -> u16 {
    ((lo as i8 as i32) | ((hi as i8 as i32) << 8)) as u16
}

/// Up to the first NUL.
fn c_str(b: &[u8]) -> &[u8] {
    &b[..memchr::memchr(0, b).unwrap_or(b.len())]
}

/// UTF-16LE as UTF-8, or ClamAV's note when iconv refuses it (an odd
/// byte, a lone surrogate) or there is nothing to convert.
fn utf16(t: &mut Vec<u8>, b: &[u8]) {
    let units = b.chunks(2).map(|c| match c {
        [lo, hi] => Some(u16::from_le_bytes([*lo, *hi])),
        _ => None,
    });
    let mut s = String::new();
    let mut ok = !b.is_empty();
    for c in char::decode_utf16(units.map_while(|u| {
        if u.is_none() {
            ok = false;
        }
        u
    })) {
        match c {
            Ok(c) => s.push(c),
            Err(_) => {
                ok = false;
                break;
            }
        }
    }
    if ok {
        t.extend_from_slice(s.as_bytes());
    } else {
        t.extend_from_slice(b"<Failed to decode UTF16LE string>");
    }
}

/// A cell reference: `~` marks a relative row or column, whose number
/// is then an offset rather than from 1. Both flags are taken from the
/// row, as ClamAV takes them.
fn cell(t: &mut Vec<u8>, row: u16, col: u16) {
    let (rel_row, rel_col) = (row & 0x4000 != 0, row & 0x8000 != 0);
    let r = (row & 0x3fff) as u32 + u32::from(!rel_row);
    let c = col as u32 + u32::from(!rel_col);
    let tilde = |b| if b { "~" } else { "" };
    let _ = write!(Text(t), "R{}{r}C{}{c}", tilde(rel_row), tilde(rel_col));
}

/// The tokens of a formula, `size` bytes of `d` (which holds a few
/// bytes more), as ClamAV writes them; a token it does not decode ends
/// the formula.
fn formula(t: &mut Vec<u8>, d: &[u8], size: usize, names: &Names) {
    let mut pos = 0usize;
    // ClamAV's checks are `pos + n >= size`: the token's last byte
    // must be inside.
    let short = |pos: usize, n: usize| pos + n >= size;
    while pos < size {
        let b = d[pos];
        let ptg = b & 0x7f;
        if (b as usize) < names.tokens.len() {
            t.push(b' ');
            t.extend_from_slice(
                names.tokens[b as usize].unwrap_or("(null)").as_bytes(),
            );
        }
        match ptg {
            // Operators and the missing argument: one byte.
            0x03..=0x06 | 0x08..=0x0e | 0x11 | 0x16 => pos += 1,
            // ptgStr
            0x17 => {
                if short(pos, 2) {
                    return;
                }
                let n = d[pos + 1] as i8 as i32;
                // ClamAV's unsigned sum, which wraps for a length of 128
                // or more.
                let fits = |n: i32| {
                    (pos as u32).wrapping_add(2).wrapping_add(n as u32)
                        <= size as u32
                };
                let room = size - pos;
                if d[pos + 2] == 1 && fits(2 * n) {
                    let len = ((2 * n) as i64 as u64).min(room as u64);
                    let len = len as usize;
                    utf16(t, &d[pos + 3..pos + 3 + len]);
                    pos += 3 + len;
                } else if d[pos + 2] == 0 && fits(n) {
                    let len = (n as u32 as usize).min(room);
                    // From the token byte on, as ClamAV writes it.
                    t.extend_from_slice(&d[pos..pos + len]);
                    pos += 3 + len;
                } else {
                    return;
                }
            }
            // ptgAttr
            0x19 => {
                if short(pos, 1) {
                    return;
                }
                if d[pos + 1] & 0x40 != 0 {
                    if short(pos, 3) {
                        return;
                    }
                    let n = word(d[pos + 2], d[pos + 3]) as usize + 1;
                    let _ = write!(Text(t), " CHOOSE ({n})");
                    pos += 4 + 2 * n;
                } else {
                    pos += 4;
                }
            }
            // ptgBool
            0x1d => {
                if short(pos, 1) {
                    return;
                }
                let v = if d[pos + 1] != 0 { " TRUE" } else { " FALSE" };
                t.extend_from_slice(v.as_bytes());
                pos += 2;
            }
            // ptgInt
            0x1e => {
                if short(pos, 2) {
                    return;
                }
                // Each byte sign-extended before they are combined.
                let v = (d[pos + 1] as i8 as i32)
                    | ((d[pos + 2] as i8 as i32) << 8);
                let _ = write!(Text(t), " {v}");
                pos += 3;
            }
            // ptgFunc, in each class
            0x21 | 0x41 | 0x61 => {
                if short(pos, 2) {
                    return;
                }
                let id = word(d[pos + 1], d[pos + 2]);
                let f = names.function(id).unwrap_or("<unknown function>");
                let _ = write!(Text(t), " {f} (0x{id:04x})");
                pos += 3;
            }
            // ptgFuncVar, in each class
            0x22 | 0x42 | 0x62 => {
                if short(pos, 3) {
                    return;
                }
                let args = d[pos + 1] as i8 as i32 as u32;
                let id = word(d[pos + 2], d[pos + 3]);
                let f = names.function(id).unwrap_or("<unknown function>");
                let _ = write!(Text(t), " args {args} func {f} (0x{id:04x})");
                pos += 4;
                if id == 0x806d {
                    pos += 9;
                }
            }
            // ptgName
            0x23 => {
                if short(pos, 4) {
                    return;
                }
                let v = (1..5).fold(0i32, |v, i| {
                    v | ((d[pos + i] as i8 as i32) << (8 * (i - 1)))
                });
                let _ = write!(Text(t), " 0x{:08x}", v as u32);
                pos += 5;
            }
            // ptgNum
            0x1f => {
                if short(pos, 8) {
                    return;
                }
                let v = f64::from_le_bytes(
                    d[pos + 1..pos + 9].try_into().unwrap(),
                );
                t.push(b' ');
                c_fixed(t, v);
                pos += 9;
            }
            // ptgMemArea: its subexpression follows as tokens.
            0x26 => {
                if short(pos, 6) {
                    return;
                }
                t.extend_from_slice(b" REFERENCE-EXPRESSION");
                pos += 7;
            }
            // ptgExp: the cell of a shared formula or array.
            0x01 => {
                if short(pos, 4) {
                    return;
                }
                let row = word(d[pos + 1], d[pos + 2]) as u32 + 1;
                let col = word(d[pos + 3], d[pos + 4]) as u32 + 1;
                let _ = write!(Text(t), " R{row}C{col}");
                pos += 5;
            }
            // ptgRef, ptgRefV
            0x24 | 0x44 => {
                if short(pos, 4) {
                    return;
                }
                t.push(b' ');
                cell(
                    t,
                    word(d[pos + 1], d[pos + 2]),
                    word(d[pos + 3], d[pos + 4]),
                );
                pos += 5;
            }
            // ptgArea
            0x25 => {
                if short(pos, 8) {
                    return;
                }
                t.push(b' ');
                cell(
                    t,
                    word(d[pos + 1], d[pos + 2]),
                    word(d[pos + 3], d[pos + 4]),
                );
                t.push(b':');
                cell(
                    t,
                    word(d[pos + 5], d[pos + 6]),
                    word(d[pos + 7], d[pos + 8]),
                );
                pos += 9;
            }
            // ptgRef3d, ptgRef3dV: the sheet, then the cell.
            0x3a | 0x5a => {
                if short(pos, 6) {
                    return;
                }
                t.push(b' ');
                cell(
                    t,
                    word(d[pos + 3], d[pos + 4]),
                    word(d[pos + 5], d[pos + 6]),
                );
                pos += 7;
            }
            // ptgNameX
            0x39 => {
                if short(pos, 6) {
                    return;
                }
                let _ = write!(
                    Text(t),
                    " NAMEIDX {}",
                    word(d[pos + 3], d[pos + 4])
                );
                pos += 7;
            }
            _ => return,
        }
    }
}

/// `v` as C's `%f` writes it: six decimals, `inf`, `nan`.
fn c_fixed(t: &mut Vec<u8>, v: f64) {
    let sign = if v.is_sign_negative() { "-" } else { "" };
    let _ = if v.is_nan() {
        write!(Text(t), "{sign}nan")
    } else if v.is_infinite() {
        write!(Text(t), "{sign}inf")
    } else {
        write!(Text(t), "{v:.6}")
    };
}

/// `fmt::Write` into bytes.
struct Text<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Text<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// The pictures of a drawing group (MS-ODRAW OfficeArtDggContainer):
/// each BLIP of its store, from where the picture's own bytes start,
/// as ClamAV takes them out.
pub(super) fn pictures(group: &[u8]) -> Vec<&[u8]> {
    let mut found = Vec::new();
    let Some((ver, inst, kind, _)) = art_header(group) else {
        return found;
    };
    if (ver, inst, kind) != (0xf, 0, 0xf000) {
        return found;
    }
    let mut rest = &group[8..];
    while let Some((ver, _, kind, len)) = art_header(rest) {
        if ver == 0xf && kind == 0xf001 {
            let store = &rest[8..];
            blip_store(&store[..store.len().min(len)], &mut found);
        }
        rest = rest.get(8usize.saturating_add(len)..).unwrap_or_default();
    }
    found
}

/// An OfficeArt record header: version, instance, type, length.
fn art_header(b: &[u8]) -> Option<(u16, u16, u16, usize)> {
    let h = b.get(..8)?;
    let vi = u16::from_le_bytes([h[0], h[1]]);
    let kind = u16::from_le_bytes([h[2], h[3]]);
    let len = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
    Some((vi & 0xf, vi >> 4, kind, len))
}

/// The records of a BLIP store: file blocks (FBSE, whose BLIP follows
/// its name) and BLIPs.
fn blip_store<'a>(mut rest: &'a [u8], found: &mut Vec<&'a [u8]>) {
    /// An FBSE's fixed part.
    const FBSE: usize = 36;
    while let Some(h @ (_, _, kind, len)) = art_header(rest) {
        if kind == 0xf007 && rest.len() - 8 >= FBSE {
            let fbse = &rest[8..];
            let name = fbse[33] as usize;
            if name <= fbse.len() - FBSE {
                let blip = &fbse[FBSE + name..];
                let size =
                    u32::from_le_bytes(fbse[20..24].try_into().unwrap());
                let blip = &blip[..blip.len().min(size as usize)];
                match art_header(blip) {
                    Some(h) => picture(blip, h, found),
                    None => return,
                }
            }
        } else if (0xf018..=0xf117).contains(&kind) {
            picture(rest, h, found);
        }
        rest = rest.get(8usize.saturating_add(len)..).unwrap_or_default();
    }
}

/// One BLIP record: its picture starts after one or two 16-byte ids and
/// a metafile header or a tag byte, which its type and instance say.
fn picture<'a>(
    b: &'a [u8],
    (_, inst, kind, len): (u16, u16, u16, usize),
    found: &mut Vec<&'a [u8]>,
) {
    let (one, two, extra) = match kind {
        0xf01a => (0x3d4, 0x3d5, 34),
        0xf01b => (0x216, 0x217, 34),
        0xf01c => (0x542, 0x543, 34),
        0xf01d | 0xf02a if inst == 0x6e2 || inst == 0x6e3 => (0x6e2, 0x6e3, 1),
        0xf01d | 0xf02a => (0x46a, 0x46b, 1),
        0xf01e => (0x6e0, 0x6e1, 1),
        0xf01f => (0x7a8, 0x7a9, 1),
        0xf029 => (0x6e4, 0x6e5, 1),
        _ => return,
    };
    let skip = if inst == one {
        16 + extra
    } else if inst == two {
        32 + extra
    } else {
        return;
    };
    let Some(image) = b.get(8 + skip..) else { return };
    found.push(&image[..image.len().min(len)]);
}

/// The names of `xlm_names.txt`, read once.
struct Names {
    records: Vec<(u16, &'static str)>,
    functions: Vec<Option<&'static str>>,
    commands: Vec<Option<&'static str>>,
    tokens: Vec<Option<&'static str>>,
}

impl Names {
    fn record(&self, kind: u16) -> Option<&'static str> {
        let i = self.records.binary_search_by_key(&kind, |r| r.0).ok()?;
        Some(self.records[i].1)
    }

    fn function(&self, id: u16) -> Option<&'static str> {
        let (table, i) = match id.checked_sub(0x8000) {
            Some(i) => (&self.commands, i),
            None => (&self.functions, id),
        };
        table.get(i as usize).copied().flatten()
    }
}

fn names() -> &'static Names {
    static NAMES: OnceLock<Names> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut n = Names {
            records: Vec::new(),
            functions: Vec::new(),
            commands: Vec::new(),
            tokens: Vec::new(),
        };
        let text = include_str!("xlm_names.txt");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let mut f = line.splitn(3, ' ');
            let (Some(kind), Some(i), Some(name)) =
                (f.next(), f.next(), f.next())
            else {
                continue;
            };
            let Ok(i) = i.parse::<u16>() else { continue };
            let put = |table: &mut Vec<Option<&'static str>>, i: usize| {
                if table.len() <= i {
                    table.resize(i + 1, None);
                }
                table[i] = Some(name);
            };
            match kind {
                "R" => n.records.push((i, name)),
                "F" => put(&mut n.functions, i as usize),
                "C" => put(&mut n.commands, i as usize - 0x8000),
                "T" => put(&mut n.tokens, i as usize),
                _ => {}
            }
        }
        n.records.sort_unstable();
        n
    })
}

#[cfg(test)]
mod tests;
