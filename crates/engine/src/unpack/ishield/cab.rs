//! The InstallShield cabinet: `data1.hdr` lists the files, which lie in
//! the `dataN.cab` volumes. Only what ClamAV reads of the header is read:
//!
//! - at 0 the magic `ISc(`, at 12 where the object table starts;
//! - in the object table (74 bytes), at 12 where the directories start
//!   and at 40 and 44 the file count and the directory table's size: the
//!   file table follows the directory table, 87 bytes a file;
//! - in a file: at 0 its flags (4: in a volume; others are passed over),
//!   at 2 and 10 its size and stored size, at 18 its offset in the
//!   volume, at 58 its name's offset (from the directory table), at 84 a
//!   byte whose bit 0 marks a duplicate (passed over), at 85 its volume.
//!
//! A file's stored bytes are chunks, each a 16-bit length and raw deflate
//! data inflated on its own, the outputs joined. As ClamAV: offsets past
//! the header's end are read from whatever follows it; a file whose bytes
//! are not all inside its volume, a volume that is not there or a file
//! that does not inflate (a bad chunk, a chunk running past the stored
//! size, a stray byte at its end) is not scanned, and the header and the
//! volumes are then scanned as they are, as they are when the header
//! cannot be read; a file that inflates to another size than the header
//! says is scanned all the same.

use flate2::Decompress;

use super::{Fed, cap, inflate, le16, le32, le64};
use crate::unpack::Unpacked;
use crate::verdict::Reason;

const MAGIC: u32 = 0x2863_5349;
const OBJECTS_LEN: usize = 74;
const FILE_LEN: usize = 87;
/// The flags of a file kept in a volume.
const INTERNAL: u16 = 4;

/// The header and volumes found among the overlay's files: where their
/// bytes are in the overlay.
#[derive(Default)]
pub(super) struct Cabinet {
    pub(super) header: Option<(usize, usize)>,
    pub(super) volumes: Vec<Volume>,
}

pub(super) struct Volume {
    pub(super) number: u16,
    pub(super) at: usize,
    pub(super) size: usize,
}

/// What reading the header came to.
enum Listed {
    /// Every listed file was extracted or passed over.
    Read,
    /// The header or some file could not be read: the parts are scanned
    /// as they are.
    AsParts,
    /// A limit (or a finding) ended the walk.
    Stopped,
}

pub(super) fn extract(data: &[u8], c: &Cabinet, out: &mut Unpacked<'_>) {
    match files(data, c, out) {
        Listed::Read | Listed::Stopped => {}
        Listed::AsParts => {
            let header =
                c.header.map(|(at, size)| ("data1.hdr".to_string(), at, size));
            let volumes = c
                .volumes
                .iter()
                .map(|v| (format!("data{}.cab", v.number), v.at, v.size));
            for (name, at, size) in header.into_iter().chain(volumes) {
                if out.done() {
                    return;
                }
                if size > 0 {
                    out.push(name, data[at..at + size].to_vec());
                }
            }
        }
    }
}

fn files(data: &[u8], c: &Cabinet, out: &mut Unpacked<'_>) -> Listed {
    let Some((hdr, hdr_size)) = c.header else { return Listed::AsParts };
    if hdr_size == 0 || c.volumes.is_empty() {
        return Listed::AsParts;
    }
    let Some(objects_rel) = le32(data, hdr + 12) else {
        return Listed::AsParts;
    };
    let objects = hdr + objects_rel as usize;
    if data.get(objects..objects.saturating_add(OBJECTS_LEN)).is_none()
        || le32(data, hdr) != Some(MAGIC)
    {
        out.skip(DAMAGED);
        return Listed::AsParts;
    }
    let field = |at: usize| le32(data, objects + at).unwrap_or(0);
    let dirs = objects_rel.wrapping_add(field(12));
    let count = field(40);
    let mut rel = dirs.wrapping_add(field(44));
    let mut listed = Listed::Read;
    let mut i = 0u64;
    while i < u64::from(count) {
        let at = hdr + rel as usize;
        let Some(f) = data.get(at..at.saturating_add(FILE_LEN)) else {
            // ClamAV goes on through the count; the offset (32 bits)
            // comes back inside the data only once it wraps around.
            out.skip(DAMAGED);
            listed = Listed::AsParts;
            let steps =
                ((1u64 << 32) - u64::from(rel)).div_ceil(FILE_LEN as u64);
            i += steps;
            rel = rel.wrapping_add((steps * FILE_LEN as u64) as u32);
            continue;
        };
        i += 1;
        rel = rel.wrapping_add(FILE_LEN as u32);
        let flags = le16(f, 0).unwrap_or(0);
        let size = le64(f, 2).unwrap_or(0);
        if flags != INTERNAL || f[84] & 1 != 0 || size == 0 {
            continue;
        }
        if out.done() {
            return Listed::Stopped;
        }
        let stored = le64(f, 10).unwrap_or(0);
        let offset = le64(f, 18).unwrap_or(0);
        let number = le16(f, 85).unwrap_or(0);
        let Some(v) = c.volumes.iter().find(|v| v.number == number) else {
            out.skip(DAMAGED);
            listed = Listed::AsParts;
            continue;
        };
        let Some(bytes) = inside(data, v, offset, stored) else {
            out.skip(DAMAGED);
            listed = Listed::AsParts;
            continue;
        };
        match chunks(bytes, out) {
            Some(file) => {
                let name_rel = dirs.wrapping_add(le32(f, 58).unwrap_or(0));
                let name = name_at(data, hdr + name_rel as usize);
                if !file.is_empty() {
                    out.push(name, file);
                }
            }
            None => {
                out.skip(DAMAGED);
                listed = Listed::AsParts;
            }
        }
        if out.stopped {
            return Listed::Stopped;
        }
    }
    listed
}

const DAMAGED: Reason = Reason::Malformed { format: "InstallShield cabinet" };

/// A file's stored bytes, if they lie wholly inside its volume (and are
/// not empty).
fn inside<'a>(
    data: &'a [u8],
    v: &Volume,
    offset: u64,
    len: u64,
) -> Option<&'a [u8]> {
    let offset = usize::try_from(offset).ok()?;
    let len = usize::try_from(len).ok()?;
    if len == 0 || offset.checked_add(len)? > v.size {
        return None;
    }
    let at = v.at + offset;
    data.get(at..at + len)
}

/// The file's name for reports: the header's string, if any.
fn name_at(data: &[u8], at: usize) -> String {
    let s = data.get(at..).unwrap_or(&[]);
    let s = &s[..s.len().min(260)];
    let s = &s[..memchr::memchr(0, s).unwrap_or(0)];
    if s.is_empty() {
        "InstallShield file".into()
    } else {
        String::from_utf8_lossy(s).into_owned()
    }
}

/// Inflates a file's chunks; `None` when ClamAV would scan nothing of it.
fn chunks(mut bytes: &[u8], out: &mut Unpacked<'_>) -> Option<Vec<u8>> {
    let (cap, limit) = cap(out);
    let mut file = Vec::new();
    let mut whole = false;
    while !bytes.is_empty() {
        whole = false;
        let (len, rest) = match bytes {
            [a, b, rest @ ..] => {
                (usize::from(u16::from_le_bytes([*a, *b])), rest)
            }
            _ => break,
        };
        bytes = rest;
        if len == 0 {
            continue;
        }
        let chunk = bytes.get(..len)?;
        bytes = &bytes[len..];
        let mut z = Decompress::new(false);
        match inflate(&mut z, chunk, &mut file, cap) {
            Fed::Bad => return None,
            // ClamAV would inflate (and drop) the remaining chunks: a
            // damaged one would then cost it the whole file, which is not
            // worth decoding a bomb's worth of chunks to learn.
            Fed::Full => {
                out.skip(limit);
                return Some(file);
            }
            Fed::End | Fed::More => whole = true,
        }
    }
    whole.then_some(file)
}
