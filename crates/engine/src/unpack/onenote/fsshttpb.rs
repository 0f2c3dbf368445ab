//! OneNote sections exported by OneNote for the web and SharePoint: the
//! revision store's alternative packaging (MS-ONESTORE 2.8), a header
//! and then one data element package of MS-FSSHTTPB stream objects.
//!
//! The package is read in one pass, front to back, without following
//! the revision graph (whose references could loop): object groups say
//! which object each declaration is, partition 4 of an object holds its
//! JCID and partition 2 refers to an object data BLOB, a data element of
//! its own elsewhere in the package. The embedded files are the BLOBs of
//! the objects typed jcidEmbeddedFileContainer, as ClamAV takes a
//! section's embedded files and leaves its pictures.

use std::collections::{HashMap, HashSet};

/// guidFileFormat of a package store file, `{638DE92F-A6D4-4BC1-9A36-
/// B3FC2511A5B7}` as stored, at offset 48.
const PACKAGE: [u8; 16] = [
    0x2f, 0xe9, 0x8d, 0x63, 0xd4, 0xa6, 0xc1, 0x4b, 0x9a, 0x36, 0xb3, 0xfc,
    0x25, 0x11, 0xa5, 0xb7,
];

/// Four GUIDs and four reserved bytes before the first stream object.
const HEADER: usize = 68;

/// MS-ONE's jcidEmbeddedFileContainer: a file data object holding an
/// attachment (a picture is jcidPictureContainer14, 0x00080039).
const EMBEDDED_FILE: u32 = 0x0008_0036;

/// Stream object types (MS-FSSHTTPB 2.2.1.5).
const PACKAGING: u16 = 0x7a;
const DATA_ELEMENT_PACKAGE: u16 = 0x15;
const DATA_ELEMENT: u16 = 0x01;
const OBJECT_DATA_BLOB: u16 = 0x02;
const EXCLUDED_DATA: u16 = 0x03;
const BLOB_DECLARATION: u16 = 0x05;
const OBJECT_DATA: u16 = 0x16;
const OBJECT_DECLARATION: u16 = 0x18;
const BLOB_REFERENCE: u16 = 0x1c;

/// Data element types (MS-FSSHTTPB 2.2.1.12).
const OBJECT_GROUP: u64 = 0x05;
const BLOB: u64 = 0x0a;

/// Compound objects open at once; the format nests five deep.
const MAX_DEPTH: usize = 16;

/// Partition 4 of an object: its JCID; partition 2: its file data.
const JCID_PARTITION: u64 = 4;
const FILE_PARTITION: u64 = 2;

pub(super) fn is_package(data: &[u8]) -> bool {
    data.get(48..64) == Some(&PACKAGE[..])
}

/// An extended GUID: a GUID and a number, the identity of data
/// elements and objects.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct ExGuid([u8; 16], u32);

/// What a walk found: the embedded files' bytes in the order their
/// objects are met, and whether the package ended where it should.
pub(super) struct Files<'a> {
    pub(super) files: Vec<&'a [u8]>,
    pub(super) damaged: bool,
}

struct Cursor<'a> {
    d: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.d.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    fn byte(&mut self) -> Option<u8> {
        self.bytes(1).map(|b| b[0])
    }

    fn uint(&mut self, n: usize) -> Option<u64> {
        let b = self.bytes(n)?;
        Some(b.iter().rev().fold(0u64, |v, &x| (v << 8) | u64::from(x)))
    }

    /// A compact unsigned 64-bit integer (2.2.1.1): the count of low
    /// zero bits before the first set bit says how many bytes follow.
    fn compact(&mut self) -> Option<u64> {
        let first = *self.d.get(self.at)?;
        if first == 0 {
            self.at += 1;
            return Some(0);
        }
        let width = first.trailing_zeros() as usize + 1;
        if width == 8 {
            self.at += 1;
            return self.uint(8);
        }
        self.uint(width).map(|v| v >> width)
    }

    /// An extended GUID (2.2.1.7), one of four sizes or the null one.
    fn exguid(&mut self) -> Option<ExGuid> {
        let first = *self.d.get(self.at)?;
        let (head, shift) = match first {
            0 => {
                self.at += 1;
                return Some(ExGuid([0; 16], 0));
            }
            b if b & 0x07 == 0x04 => (1, 3),
            b if b & 0x3f == 0x20 => (2, 6),
            b if b & 0x7f == 0x40 => (3, 7),
            0x80 => (5, 8),
            _ => return None,
        };
        let n = self.uint(head)? >> shift;
        let guid = self.bytes(16)?.try_into().ok()?;
        Some(ExGuid(guid, n as u32))
    }

    /// An array of extended GUIDs (2.2.1.8).
    fn exguids(&mut self) -> Option<()> {
        let n = self.compact()?;
        for _ in 0..n {
            self.exguid()?;
        }
        Some(())
    }

    /// An array of cell IDs (2.2.1.11), two extended GUIDs each.
    fn cell_ids(&mut self) -> Option<()> {
        let n = self.compact()?;
        for _ in 0..n {
            self.exguid()?;
            self.exguid()?;
        }
        Some(())
    }

    /// A serial number (2.2.1.9): null, or a GUID and a 64-bit value.
    fn serial(&mut self) -> Option<()> {
        match self.byte()? {
            0 => Some(()),
            0x80 => self.bytes(24).map(drop),
            _ => None,
        }
    }

    /// A binary item (2.2.1.3): a compact length and as many bytes.
    fn binary(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.compact()?).ok()?;
        self.bytes(n)
    }
}

enum Token<'a> {
    Start { kind: u16, compound: bool, body: &'a [u8] },
    End { kind: u16 },
}

/// The next stream object header (2.2.1.5) and, for a start, the bytes
/// its length covers.
fn token<'a>(c: &mut Cursor<'a>) -> Option<Token<'a>> {
    let first = *c.d.get(c.at)?;
    let (kind, compound, len) = match first & 3 {
        0 => {
            let v = c.uint(2)?;
            ((v >> 3) & 0x3f, v & 4 != 0, v >> 9)
        }
        2 => {
            let v = c.uint(4)?;
            let len = v >> 17;
            let len = if len == 0x7fff { c.compact()? } else { len };
            ((v >> 3) & 0x3fff, v & 4 != 0, len)
        }
        1 => {
            c.at += 1;
            return Some(Token::End { kind: u16::from(first >> 2) });
        }
        _ => return Some(Token::End { kind: (c.uint(2)? >> 2) as u16 }),
    };
    let body = c.bytes(usize::try_from(len).ok()?)?;
    Some(Token::Start { kind: kind as u16, compound, body })
}

/// The object group being read: its declarations in order, the data
/// items matched to them one by one.
#[derive(Default)]
struct Group {
    declared: Vec<(ExGuid, u64)>,
    next: usize,
    jcids: HashMap<ExGuid, u32>,
    blobs: Vec<(ExGuid, ExGuid)>,
}

#[derive(Default)]
struct Walk<'a> {
    blobs: HashMap<ExGuid, &'a [u8]>,
    jcids: HashMap<ExGuid, u32>,
    /// (object, BLOB) in the order met, the object's JCID still to look
    /// up where its group did not say it.
    wanted: Vec<(ExGuid, ExGuid, Option<u32>)>,
}

impl<'a> Walk<'a> {
    fn close_group(&mut self, g: Group) {
        for (object, blob) in g.blobs {
            let jcid = g.jcids.get(&object).copied();
            self.wanted.push((object, blob, jcid));
        }
        self.jcids.extend(g.jcids);
    }

    fn data_item(&mut self, g: &mut Group, kind: u16, body: &'a [u8]) {
        let Some(&(object, partition)) = g.declared.get(g.next) else {
            return;
        };
        g.next += 1;
        let mut c = Cursor { d: body, at: 0 };
        if c.exguids().and_then(|_| c.cell_ids()).is_none() {
            return;
        }
        match kind {
            OBJECT_DATA if partition == JCID_PARTITION => {
                if let Some(v) = c.binary().filter(|b| b.len() == 4) {
                    let jcid = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
                    g.jcids.insert(object, jcid);
                }
            }
            BLOB_REFERENCE if partition == FILE_PARTITION => {
                if let Some(blob) = c.exguid() {
                    g.blobs.push((object, blob));
                }
            }
            _ => {}
        }
    }
}

/// Walks the package: the files found before any damage.
pub(super) fn files(data: &[u8]) -> Files<'_> {
    let mut walk = Walk::default();
    let damaged = read(data, &mut walk).is_none();
    let mut files = Vec::new();
    let mut seen = HashSet::new();
    let mut missing = false;
    for (object, blob, jcid) in walk.wanted {
        let jcid = jcid.or_else(|| walk.jcids.get(&object).copied());
        if jcid != Some(EMBEDDED_FILE) || !seen.insert(blob) {
            continue;
        }
        match walk.blobs.get(&blob) {
            Some(b) => files.push(*b),
            // Kept in data element fragments, which are not joined.
            None => missing = true,
        }
    }
    Files { files, damaged: damaged || missing }
}

fn read<'a>(data: &'a [u8], walk: &mut Walk<'a>) -> Option<()> {
    let mut c = Cursor { d: data, at: HEADER };
    match token(&mut c)? {
        Token::Start { kind: PACKAGING, compound: true, .. } => {}
        _ => return None,
    }
    match token(&mut c)? {
        Token::Start {
            kind: DATA_ELEMENT_PACKAGE, compound: true, ..
        } => {}
        _ => return None,
    }
    // Open compound objects, innermost last; the data element each
    // belongs to and the object group being read.
    let mut open: Vec<u16> = vec![DATA_ELEMENT_PACKAGE];
    let mut element: Option<(ExGuid, u64)> = None;
    let mut group: Option<Group> = None;
    while !open.is_empty() {
        match token(&mut c)? {
            Token::End { kind } => {
                if open.pop() != Some(kind) {
                    return None;
                }
                if kind == DATA_ELEMENT {
                    element = None;
                    if let Some(g) = group.take() {
                        walk.close_group(g);
                    }
                }
            }
            Token::Start { kind, compound, body } => {
                if compound {
                    if open.len() >= MAX_DEPTH {
                        return None;
                    }
                    open.push(kind);
                }
                if kind == DATA_ELEMENT {
                    if element.is_some() {
                        return None;
                    }
                    let mut b = Cursor { d: body, at: 0 };
                    let id = b.exguid()?;
                    b.serial()?;
                    let ty = b.compact()?;
                    element = Some((id, ty));
                    if ty == OBJECT_GROUP {
                        group = Some(Group::default());
                    }
                    continue;
                }
                match (element, kind) {
                    (Some((id, BLOB)), OBJECT_DATA_BLOB) => {
                        let blob = Cursor { d: body, at: 0 }.binary()?;
                        walk.blobs.entry(id).or_insert(blob);
                    }
                    (Some(_), OBJECT_DECLARATION | BLOB_DECLARATION) => {
                        let g = group.as_mut()?;
                        let mut b = Cursor { d: body, at: 0 };
                        let object = b.exguid()?;
                        if kind == BLOB_DECLARATION {
                            b.exguid()?;
                        }
                        let partition = b.compact()?;
                        g.declared.push((object, partition));
                    }
                    (
                        Some(_),
                        OBJECT_DATA | BLOB_REFERENCE | EXCLUDED_DATA,
                    ) => {
                        let mut g = group.take()?;
                        walk.data_item(&mut g, kind, body);
                        group = Some(g);
                    }
                    _ => {}
                }
            }
        }
    }
    // The packaging's own end follows the package's.
    match token(&mut c)? {
        Token::End { kind: PACKAGING } => Some(()),
        _ => None,
    }
}

#[cfg(test)]
#[path = "fsshttpb_tests.rs"]
mod tests;
