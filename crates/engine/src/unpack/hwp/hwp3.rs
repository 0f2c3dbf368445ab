//! HWP 3.x documents, walked as ClamAV walks them: an identity block,
//! the document information (password, compression, the size of the
//! optional information blocks), a summary, then the document body,
//! raw-deflated when the information says so. The body is fonts,
//! styles, the paragraph list (paragraphs hold special characters, some
//! of which hold paragraph lists of their own), then the information
//! blocks, whose images, OLE objects and unknown data are children. The
//! body itself is a child once all of it was read.
//!
//! ClamAV gives up at the first thing it cannot read (what was scanned
//! so far stays scanned); so does this walk, with the same bounds, so
//! that the same children are scanned.

use super::super::Unpacked;
use super::{Inflated, inflate_raw};
use crate::unpack::Sink;
use crate::verdict::Reason;

const DAMAGED: Reason = Reason::Malformed { format: "HWP3" };

const IDENTITY: usize = 30;
const DOCINFO: usize = 128;
const SUMMARY: usize = 1008;
/// A paragraph's header, short (it follows its predecessor's format)
/// or long.
const PARA_SHORT: usize = 43;
const PARA_LONG: usize = 230;
const LINE_INFO: usize = 14;
const CHAR_SHAPE: usize = 31;
/// ClamAV's default limit on nested paragraph lists.
const MAX_LEVEL: u32 = 16;

pub(crate) fn hwp3<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    if walk(data, &mut out).is_none() {
        out.skip(DAMAGED);
    }
    out
}

fn u16_at(d: &[u8], at: usize) -> Option<usize> {
    let b = d.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]).into())
}

fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    let b = d.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// `None` where ClamAV's parse fails.
fn walk(data: &[u8], out: &mut Unpacked<'_>) -> Option<()> {
    let info = data.get(IDENTITY..IDENTITY + DOCINFO)?;
    let password = u16_at(info, 96)?;
    let compressed = info[124];
    let blocks = u16_at(info, 126)?;
    let mut at = IDENTITY + DOCINFO + SUMMARY;
    if password != 0 {
        out.skip(Reason::Encrypted);
        return Some(());
    }
    if blocks != 0 {
        at += blocks;
        if at >= data.len() {
            return None;
        }
    }
    if compressed == 0 {
        return body(data, at, out);
    }
    let b = out.sink.budget();
    let input = data.get(at..).unwrap_or_default();
    let (inflated, end) = inflate_raw(input, b.max_file, b.bytes_left);
    match end {
        Inflated::Whole if inflated.is_empty() => None,
        Inflated::Whole => body(&inflated, 0, out),
        Inflated::Damaged if inflated.is_empty() => None,
        // What was inflated is scanned, not parsed.
        Inflated::Damaged => {
            out.skip(DAMAGED);
            out.push_slice("document body".into(), inflated);
            Some(())
        }
        Inflated::Limit(r) => {
            out.skip(r);
            out.push_slice("document body".into(), inflated);
            Some(())
        }
    }
}

/// The document body in `map` from `start`: walked, then, if all of it
/// was read, scanned whole.
fn body(map: &[u8], start: usize, out: &mut Unpacked<'_>) -> Option<()> {
    let mut at = start;
    // Seven font lists, each a count and 40 bytes a font; the styles.
    for size in [40usize; 7].into_iter().chain([238]) {
        let n = u16_at(map, at)?;
        at = at.checked_add(2 + n * size)?;
        if at >= map.len() {
            return None;
        }
    }
    let mut walk = Paragraphs { map, out };
    walk.list(0, &mut at)?;
    let mut n = 0u32;
    while !walk.out.done() {
        n += 1;
        if walk.info_block(&mut at, n)? {
            break;
        }
    }
    if walk.out.stopped {
        return Some(());
    }
    let body = map.get(start..at)?;
    out.push_slice("document body".into(), body.to_vec());
    Some(())
}

struct Paragraphs<'m, 'o, 's> {
    map: &'m [u8],
    out: &'o mut Unpacked<'s>,
}

impl Paragraphs<'_, '_, '_> {
    /// A list of paragraphs, ended by an empty one.
    fn list(&mut self, level: u32, at: &mut usize) -> Option<()> {
        while !self.paragraph(level, at)? {}
        Some(())
    }

    /// One paragraph; true when it is the empty one ending its list.
    fn paragraph(&mut self, level: u32, at: &mut usize) -> Option<bool> {
        if level >= MAX_LEVEL {
            return None;
        }
        let map = self.map;
        let mut off = *at;
        let short = *map.get(off)? != 0;
        let chars = u16_at(map, off + 1)?;
        let lines = u16_at(map, off + 3)?;
        let shapes = *map.get(off + 5)? != 0;
        if chars == 0 {
            *at = off + PARA_SHORT;
            return Some(true);
        }
        off += if short { PARA_SHORT } else { PARA_LONG };
        off = off.checked_add(lines * LINE_INFO)?;
        if off >= map.len() {
            return None;
        }
        if shapes {
            for _ in 0..chars {
                let kind = *map.get(off)?;
                off += 1;
                match kind {
                    0 => off += CHAR_SHAPE,
                    1 => {}
                    _ => return None,
                }
            }
        }
        // Characters up to the paragraph's end mark (13), whatever the
        // count said.
        while off < map.len() {
            let c = u16_at(map, off)?;
            if c >= 32 {
                off += 2;
                continue;
            }
            if c == 13 {
                off += 2;
                break;
            }
            off = self.special(c, off, level)?;
        }
        *at = off;
        Some(false)
    }

    /// A special character at `off`: where the text goes on after it.
    fn special(&mut self, c: usize, off: usize, level: u32) -> Option<usize> {
        let map = self.map;
        // ClamAV adds the header to the length in 32 bits: a length
        // near 4 GiB wraps to a short step, which it takes.
        let sized = |off: usize| -> Option<usize> {
            let step = 8u32.wrapping_add(u32_at(map, off + 2)?) as usize;
            let next = off.checked_add(step)?;
            (next > off && next <= map.len()).then_some(next)
        };
        let fixed = match c {
            // Reserved codes, field codes and cross-references carry
            // their length.
            0..=5 | 12 | 27 | 29 => return sized(off),
            6 => 42,
            7 => 84,
            8 => 96,
            9 | 18..=21 => 8,
            // Tables, text boxes, equations, buttons: cells, each with
            // a paragraph list, then the caption's list.
            10 => {
                let mut at = off + 8;
                let cells = u16_at(map, at + 80)?;
                at += 84;
                at = at.checked_add(27 * cells)?;
                if at >= map.len() {
                    return None;
                }
                for _ in 0..cells {
                    self.list(level + 1, &mut at)?;
                }
                self.list(level + 1, &mut at)?;
                return Some(at);
            }
            // A drawing: its size, then the caption's list.
            11 => {
                let step = 348u32.wrapping_add(u32_at(map, off + 8)?);
                let mut at = (off + 8).checked_add(step as usize)?;
                if at <= off + 8 || at >= map.len() {
                    return None;
                }
                self.list(level + 1, &mut at)?;
                return Some(at);
            }
            14 => 92,
            // Hidden text, headers and footers, notes: a paragraph list.
            15..=17 => {
                let mut at = off + [16, 18, 22][c - 15];
                self.list(level + 1, &mut at)?;
                return Some(at);
            }
            22 => 24,
            23 => 10,
            24 | 25 => 6,
            26 => 246,
            28 => 64,
            30 | 31 => 4,
            _ => return None,
        };
        Some(off + fixed)
    }

    /// One information block at `at`; true for the terminating one.
    fn info_block(&mut self, at: &mut usize, n: u32) -> Option<bool> {
        let map = self.map;
        let id = u32_at(map, *at)?;
        *at += 4;
        // Booking information has no length and no content.
        if id == 5 {
            return Some(false);
        }
        let len = u32_at(map, *at)?;
        *at += 4;
        let off = *at;
        if off.checked_add(len as usize)? > map.len() {
            return None;
        }
        let has = len > 0;
        match id {
            0 if len == 0 => return Some(true),
            0 => return None,
            // Image data after 32 bytes of names (ClamAV's length wraps
            // below 32: the rest of the body is scanned then).
            1 if has => self.scan(off + 32, len.wrapping_sub(32), "image", n),
            2 if has => self.scan(off, len, "OLE object", n),
            3 => {
                if len % 617 != 0 {
                    return None;
                }
                for i in 0..(len / 617) as usize {
                    let at = off + 617 * i + 288;
                    self.scan(at, 325, "hyperlink", n);
                }
            }
            4 | 0x100 | 0x101 => {}
            6 if has => {
                self.scan(off + 324, len.wrapping_sub(324), "background", n)
            }
            1 | 2 | 6 => {}
            _ if has => self.scan(off, len, "information block", n),
            _ => {}
        }
        *at = off + len as usize;
        Some(false)
    }

    /// `len` bytes of the body from `at` as a child, as ClamAV cuts a
    /// nested object: no length is the rest, and too long is cut.
    fn scan(&mut self, at: usize, len: u32, what: &str, n: u32) {
        let Some(rest) = self.map.get(at..).filter(|r| !r.is_empty()) else {
            return;
        };
        let len = match len as usize {
            0 => rest.len(),
            l => l.min(rest.len()),
        };
        if self.out.done() || !self.out.room(len as u64) {
            return;
        }
        self.out.push(format!("{what} {n}"), rest[..len].to_vec());
    }
}
