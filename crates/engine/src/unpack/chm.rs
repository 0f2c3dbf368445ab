//! Microsoft Compiled HTML Help (`.chm`, ITSF), read as ClamAV reads it
//! with libmspack: the headers are checked as strictly as libmspack
//! checks them (a file it refuses is not opened: ClamAV then scans only
//! its bytes), every directory chunk is read in order, and each listed
//! file that is not a `::` system file is extracted and scanned in
//! directory order. Section 0 files are stored; section 1 files are cut
//! from the LZX stream of `::DataSpace/Storage/MSCompressed/Content`,
//! decoded 32 KiB frame by frame from the reset table's offsets, with a
//! fresh decoder at each reset interval, and only as far as the files
//! need. A file that cannot be fully extracted is scanned as far as it
//! came out.

use lzxd::{Lzxd, WindowSize};

use super::{Sink, Unpacked};
use crate::sigs::cdb::Member;
use crate::verdict::Reason;

const DAMAGED: Reason = Reason::Malformed { format: "CHM" };

/// Uncompressed bytes of one LZX frame.
const FRAME: u64 = 32 * 1024;

/// The two GUIDs of the ITSF header. libmspack wants both exactly; some
/// writers (Free Pascal's `chmcmd`) repeat the first, and such files are
/// refused by ClamAV, so here too.
const GUIDS: [u8; 32] = [
    0x10, 0xFD, 0x01, 0x7C, 0xAA, 0x7B, 0xD0, 0x11, 0x9E, 0x0C, 0x00, 0xA0,
    0xC9, 0x22, 0xE6, 0xEC, 0x11, 0xFD, 0x01, 0x7C, 0xAA, 0x7B, 0xD0, 0x11,
    0x9E, 0x0C, 0x00, 0xA0, 0xC9, 0x22, 0xE6, 0xEC,
];

const CONTENT: &[u8] = b"::DataSpace/Storage/MSCompressed/Content";
const CONTROL: &[u8] = b"::DataSpace/Storage/MSCompressed/ControlData";
const SPANINFO: &[u8] = b"::DataSpace/Storage/MSCompressed/SpanInfo";
const RESET_TABLE: &[u8] = b"::DataSpace/Storage/MSCompressed/Transform/\
{7FC28940-9D31-11D0-9B27-00A0C91E9C7C}/InstanceData/ResetTable";

fn le32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// libmspack keeps 64-bit fields in a signed `off_t`.
fn le64(d: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_le_bytes(d.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

/// One directory entry.
#[derive(Clone)]
struct Entry {
    name: Vec<u8>,
    section: u32,
    offset: u64,
    length: u64,
}

/// What the headers and the directory say.
#[derive(Default)]
struct Directory {
    /// Where section 0 starts in the file.
    sec0: u64,
    files: Vec<Entry>,
    content: Option<Entry>,
    control: Option<Entry>,
    spaninfo: Option<Entry>,
    reset_table: Option<Entry>,
    /// Some `::` file was listed.
    system_files: bool,
    /// Some directory chunk held a badly encoded entry.
    damaged: bool,
}

/// A variable-length number: 7 bits a byte, high bit set on all but
/// the last, at most 63 bits.
fn encint(d: &[u8], p: &mut usize, end: usize) -> Option<u64> {
    let mut v: u64 = 0;
    for _ in 0..9 {
        if *p >= end {
            return None;
        }
        let c = *d.get(*p)?;
        *p += 1;
        v = (v << 7) | u64::from(c & 0x7F);
        if c & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The headers, checked as libmspack checks them, and every directory
/// chunk. `None` when libmspack would not open the file.
fn directory(data: &[u8]) -> Option<Directory> {
    let head = data.get(..0x38)?;
    if &head[..4] != b"ITSF" || head[0x18..0x38] != GUIDS {
        return None;
    }
    let version = le32(head, 4)?;
    let table = data.get(0x38..0x60)?;
    let hs0 = le64(table, 0)?;
    let hs1 = le64(table, 0x10)?;
    let mut sec0 = le64(table, 0x20)?;
    let seek = |at: i64| usize::try_from(at).ok().filter(|&a| a <= data.len());
    let at = seek(hs0)?;
    let length = le64(data.get(at..at.checked_add(0x18)?)?, 8)?;
    let at = seek(hs1)?;
    let h1 = data.get(at..at.checked_add(0x54)?)?;
    let dir = at + 0x54;
    let chunk_size = le32(h1, 0x10)?;
    let index_root = le32(h1, 0x1C)?;
    let first = le32(h1, 0x20)?;
    let last = le32(h1, 0x24)?;
    let num_chunks = le32(h1, 0x2C)?;
    if version < 3 {
        // libmspack's product is of two 32-bit numbers, wrapping.
        let span = chunk_size.wrapping_mul(num_chunks);
        sec0 = i64::try_from(dir).ok()?.checked_add(i64::from(span))?;
    }
    if sec0 > length
        || chunk_size < 0x16
        || num_chunks == 0
        || num_chunks > 100_000
        || chunk_size > 8192
        || i64::from(chunk_size) * i64::from(num_chunks) > length
        || first > last
        || (index_root != u32::MAX && index_root >= num_chunks)
    {
        return None;
    }
    let mut d =
        Directory { sec0: u64::try_from(sec0).ok()?, ..Default::default() };
    let size = chunk_size as usize;
    let mut at = dir.checked_add(first as usize * size)?;
    if at > data.len() {
        return None;
    }
    // libmspack's count is 32-bit and wraps; every chunk must be there
    // whole, or nothing is listed.
    let count = last.wrapping_sub(first).wrapping_add(1);
    for _ in 0..count {
        let chunk = data.get(at..at + size)?;
        at += size;
        if &chunk[..4] == b"PMGL" && !entries(chunk, &mut d) {
            d.damaged = true;
        }
    }
    // A damaged directory still opens with whatever it listed, system
    // files included; only an empty one is refused.
    (!d.damaged || !d.files.is_empty() || d.system_files).then_some(d)
}

/// The entries of one PMGL chunk; false when one is badly encoded.
fn entries(chunk: &[u8], d: &mut Directory) -> bool {
    let end = chunk.len() - 2;
    let count = u16::from_le_bytes([chunk[end], chunk[end + 1]]);
    let mut p = 0x14;
    for _ in 0..count {
        let Some(len) = encint(chunk, &mut p, end) else { return false };
        // libmspack keeps the name length in 32 bits.
        let len = len as u32 as usize;
        if len > end - p {
            return false;
        }
        let name = &chunk[p..p + len];
        p += len;
        let fields = (
            encint(chunk, &mut p, end),
            encint(chunk, &mut p, end),
            encint(chunk, &mut p, end),
        );
        let (Some(section), Some(offset), Some(length)) = fields else {
            return false;
        };
        if len < 2 || name[0] == 0 || name[1] == 0 {
            continue;
        }
        if offset == 0 && length == 0 && name.ends_with(b"/") {
            continue;
        }
        let section = section as u32;
        if section > 1 {
            continue;
        }
        let e = Entry { name: name.to_vec(), section, offset, length };
        if name.starts_with(b"::") {
            d.system_files = true;
            let slot = match name {
                CONTENT => &mut d.content,
                CONTROL => &mut d.control,
                SPANINFO => &mut d.spaninfo,
                RESET_TABLE => &mut d.reset_table,
                _ => continue,
            };
            // The last of the same name counts, as in libmspack.
            *slot = Some(e);
        } else {
            d.files.push(e);
        }
    }
    true
}

pub(crate) fn chm<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let Some(dir) = directory(data) else {
        out.skip(DAMAGED);
        return out;
    };
    if dir.damaged {
        out.skip(DAMAGED);
    }
    let work = out.sink.budget().bytes_left.saturating_mul(2) / FRAME + 64;
    let mut lzx =
        Section1 { data, dir: &dir, stream: None, frames_left: work };
    for (n, f) in dir.files.iter().enumerate() {
        if out.wants_members()
            && out.member(Member {
                name: Some(&f.name),
                size_in_container: 0,
                size_real: f.length,
                encrypted: false,
                position: u32::try_from(n).unwrap_or(u32::MAX),
            })
        {
            break;
        }
        if out.done() {
            break;
        }
        let b = out.sink.budget();
        let (max_file, bytes_left) = (b.max_file, b.bytes_left);
        // ClamAV ends the walk, clean, once the scan size is used up.
        if bytes_left == 0 {
            out.skip(Reason::ScanSizeLimit);
            break;
        }
        // What does not fit is cut, not left out: ClamAV's writer stops
        // writing at its limit and the part written is scanned.
        let cap = max_file.min(bytes_left);
        if f.length > cap {
            out.skip(if cap == max_file {
                Reason::FileSizeLimit
            } else {
                Reason::ScanSizeLimit
            });
        }
        let want = f.length.min(cap);
        let got = if f.section == 0 {
            stored(data, dir.sec0, f, want)
        } else {
            lzx.extract(f, want)
        };
        let bytes = match got {
            Ok(b) => b,
            Err((b, why)) => {
                out.skip(why);
                b
            }
        };
        if !bytes.is_empty() {
            out.push(String::from_utf8_lossy(&f.name).into_owned(), bytes);
        }
        if out.stopped {
            break;
        }
    }
    out
}

/// What came out of an extraction that failed, and why it failed.
type Partial = (Vec<u8>, Reason);

/// A section 0 file: copied in 512-byte runs, so a file cut short by
/// the end of the CHM yields its whole runs only.
fn stored(
    data: &[u8],
    sec0: u64,
    f: &Entry,
    want: u64,
) -> Result<Vec<u8>, Partial> {
    let Some(start) = sec0
        .checked_add(f.offset)
        .and_then(|s| usize::try_from(s).ok())
        .filter(|&s| s <= data.len())
    else {
        return Err((Vec::new(), DAMAGED));
    };
    let avail = (data.len() - start) as u64;
    let whole = avail >= f.length;
    let take = if whole { want } else { want.min(avail - avail % 512) };
    let bytes = data[start..start + take as usize].to_vec();
    if whole { Ok(bytes) } else { Err((bytes, DAMAGED)) }
}

/// The LZX decoder at some place in the compressed section.
struct Stream {
    dec: Lzxd,
    /// The frame the decoder started at (a reset point).
    first: u64,
    /// Where that frame's compressed bytes begin in the file.
    start: u64,
    /// Frames in a reset interval.
    interval: u64,
    /// Uncompressed length of the section.
    length: u64,
    /// The next frame to decode.
    next: u64,
    /// The frame decoded last: its number and bytes.
    last: Option<(u64, Vec<u8>)>,
}

/// The files of section 1, decoded on demand.
struct Section1<'d> {
    data: &'d [u8],
    dir: &'d Directory,
    stream: Option<Stream>,
    /// Frames this CHM may still decode, skipped ones included.
    frames_left: u64,
}

/// Parameters from the ControlData file, checked as libmspack does.
fn control(s: &Section1<'_>) -> Option<(WindowSize, u64)> {
    let c = s.dir.control.as_ref()?;
    s.dir.content.as_ref()?;
    if c.length != 0x1C {
        return None;
    }
    let d = system_file(s, c)?;
    if le32(d, 4)? != u32::from_le_bytes(*b"LZXC") {
        return None;
    }
    let (ri, ws) = (u64::from(le32(d, 0xC)?), u64::from(le32(d, 0x10)?));
    let (ri, ws) = match le32(d, 8)? {
        1 => (ri, ws),
        // In frames; libmspack multiplies in 32 bits.
        2 => ((ri * FRAME) & 0xFFFF_FFFF, (ws * FRAME) & 0xFFFF_FFFF),
        _ => return None,
    };
    let window = match ws {
        0x8000 => WindowSize::KB32,
        0x1_0000 => WindowSize::KB64,
        0x2_0000 => WindowSize::KB128,
        0x4_0000 => WindowSize::KB256,
        0x8_0000 => WindowSize::KB512,
        0x10_0000 => WindowSize::MB1,
        0x20_0000 => WindowSize::MB2,
        _ => return None,
    };
    // A negative interval (as C's int sees it) is no multiple of a frame.
    if ri == 0 || ri % FRAME != 0 || ri > i32::MAX as u64 {
        return None;
    }
    Some((window, ri))
}

/// A system file's bytes: it must be in section 0 and lie whole in the
/// file.
fn system_file<'d>(s: &Section1<'d>, e: &Entry) -> Option<&'d [u8]> {
    if e.section != 0 {
        return None;
    }
    let at = usize::try_from(s.dir.sec0.checked_add(e.offset)?).ok()?;
    s.data.get(at..at.checked_add(usize::try_from(e.length).ok()?)?)
}

/// The reset table: its bytes once checked, and the section's length.
fn reset_table<'d>(s: &Section1<'d>) -> Option<(&'d [u8], i64)> {
    let e = s.dir.reset_table.as_ref()?;
    if e.length < 0x28 || e.length > 1_000_000 {
        return None;
    }
    let t = system_file(s, e)?;
    if u64::from(le32(t, 0x20)?) != FRAME {
        return None;
    }
    Some((t, le64(t, 0x10)?))
}

/// Compressed offset of frame `entry` from the reset table, if it has one.
fn table_entry(t: &[u8], entry: u64) -> Option<u64> {
    let size = le32(t, 8)?;
    // libmspack computes the position in 32 bits.
    let pos = u32::try_from(entry)
        .ok()?
        .wrapping_mul(size)
        .wrapping_add(le32(t, 0xC)?);
    if entry >= u64::from(le32(t, 4)?)
        || i64::from(pos) > t.len() as i64 - i64::from(size)
    {
        return None;
    }
    match size {
        4 => le32(t, pos as usize).map(u64::from),
        8 => le64(t, pos as usize).and_then(|v| u64::try_from(v).ok()),
        _ => None,
    }
}

impl Section1<'_> {
    /// A decoder at the reset point before `offset`, as libmspack sets
    /// one up.
    fn restart(&self, offset: u64) -> Option<Stream> {
        let (window, ri) = control(self)?;
        let content = self.dir.content.as_ref()?;
        let per = ri / FRAME;
        let entry = offset / ri * per;
        let table = reset_table(self);
        let (first, at, length) = match table
            .and_then(|(t, len)| Some((table_entry(t, entry)?, len)))
        {
            Some((at, len)) => {
                // The stream is padded out to a whole reset interval.
                let ri = ri as i64;
                let len = len.checked_add(ri - 1)? & -ri;
                (entry, at, u64::try_from(len).ok()?)
            }
            None => {
                let span = self.dir.spaninfo.as_ref()?;
                if span.length != 8 {
                    return None;
                }
                let len = le64(system_file(self, span)?, 0)?;
                (0, 0, u64::try_from(len).ok().filter(|&l| l > 0)?)
            }
        };
        let start =
            self.dir.sec0.checked_add(content.offset)?.checked_add(at)?;
        Some(Stream {
            dec: Lzxd::new(window),
            first,
            start,
            interval: per,
            length,
            next: first,
            last: None,
        })
    }

    fn extract(&mut self, f: &Entry, want: u64) -> Result<Vec<u8>, Partial> {
        let reusable = self.stream.as_ref().is_some_and(|s| {
            let frame = f.offset / FRAME;
            s.next <= frame || s.last.as_ref().is_some_and(|l| l.0 == frame)
        });
        if !reusable {
            self.stream = self.restart(f.offset);
        }
        let Some(length) = self.stream.as_ref().map(|s| s.length) else {
            return Err((Vec::new(), DAMAGED));
        };
        if f.offset > length {
            return Err((Vec::new(), DAMAGED));
        }
        let end = f.offset.saturating_add(f.length).min(length);
        let mut bytes = Vec::new();
        let mut pos = f.offset;
        while (bytes.len() as u64) < want && pos < end {
            let frame = pos / FRAME;
            let got = match self.frame(frame) {
                Ok(b) => b,
                Err(why) => {
                    self.stream = None;
                    return Err((bytes, why));
                }
            };
            let from = (pos - frame * FRAME) as usize;
            let Some(rest) = got.get(from..).filter(|r| !r.is_empty()) else {
                return Err((bytes, DAMAGED));
            };
            let take = (rest.len() as u64)
                .min(end - pos)
                .min(want - bytes.len() as u64);
            bytes.extend_from_slice(&rest[..take as usize]);
            pos += take;
        }
        if f.offset.saturating_add(f.length) > length {
            return Err((bytes, DAMAGED));
        }
        Ok(bytes)
    }

    /// Frame `n`'s bytes, decoding forward to it.
    fn frame(&mut self, n: u64) -> Result<&[u8], Reason> {
        let data = self.data;
        let Some(s) = self.stream.as_mut() else { return Err(DAMAGED) };
        while s.last.as_ref().is_none_or(|l| l.0 != n) {
            if s.next > n {
                return Err(DAMAGED);
            }
            if self.frames_left == 0 {
                return Err(Reason::ScanSizeLimit);
            }
            self.frames_left -= 1;
            let j = s.next;
            let out_len = s.length.saturating_sub(j * FRAME).min(FRAME);
            let chunk = chunk(data, self.dir, s, j).ok_or(DAMAGED)?;
            if j != s.first && (j - s.first) % s.interval == 0 {
                s.dec.reset();
            }
            let dec = &mut s.dec;
            let decoded =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    dec.decompress_next(chunk, out_len as usize)
                        .map(<[u8]>::to_vec)
                }));
            let Ok(Ok(bytes)) = decoded else { return Err(DAMAGED) };
            s.last = Some((j, bytes));
            s.next = j + 1;
        }
        Ok(s.last.as_ref().map_or(&[][..], |l| &l.1))
    }
}

/// Frame `j`'s compressed bytes: from its reset table offset to the
/// next one's (or the end of the file when the table has no next).
fn chunk<'d>(
    data: &'d [u8],
    dir: &Directory,
    s: &Stream,
    j: u64,
) -> Option<&'d [u8]> {
    let content = dir.sec0.checked_add(dir.content.as_ref()?.offset)?;
    let table = dir.reset_table.as_ref().and_then(|e| {
        let at = usize::try_from(dir.sec0.checked_add(e.offset)?).ok()?;
        data.get(at..at.checked_add(usize::try_from(e.length).ok()?)?)
    });
    let from = if j == s.first {
        s.start
    } else {
        content.checked_add(table_entry(table?, j)?)?
    };
    let to = table
        .and_then(|t| table_entry(t, j + 1))
        .and_then(|o| content.checked_add(o))
        .filter(|&t| t > from)
        .map_or(data.len(), |t| usize::try_from(t).unwrap_or(data.len()));
    let from = usize::try_from(from).ok()?;
    data.get(from..to.min(data.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encints_end_at_a_clear_high_bit_and_at_nine_bytes() {
        let d = [0x81, 0x00, 0x05];
        let mut p = 0;
        assert_eq!(encint(&d, &mut p, 3), Some(128));
        assert_eq!(encint(&d, &mut p, 3), Some(5));
        assert_eq!(encint(&d, &mut p, 3), None);
        let long = [0xFF; 10];
        assert_eq!(encint(&long, &mut 0, 10), None);
    }

    #[test]
    fn reset_table_entries_are_bounded_by_the_table() {
        let mut t = vec![0u8; 0x28 + 16];
        t[4..8].copy_from_slice(&2u32.to_le_bytes());
        t[8..12].copy_from_slice(&8u32.to_le_bytes());
        t[12..16].copy_from_slice(&0x28u32.to_le_bytes());
        t[0x30..0x38].copy_from_slice(&77u64.to_le_bytes());
        assert_eq!(table_entry(&t, 0), Some(0));
        assert_eq!(table_entry(&t, 1), Some(77));
        assert_eq!(table_entry(&t, 2), None);
        t[4..8].copy_from_slice(&3u32.to_le_bytes());
        assert_eq!(table_entry(&t, 2), None, "past the table's bytes");
        assert_eq!(table_entry(&t, u64::MAX), None);
    }

    #[test]
    fn headers_libmspack_refuses_are_refused() {
        let mut h = vec![0u8; 0x60];
        h[..4].copy_from_slice(b"ITSF");
        h[0x18..0x38].copy_from_slice(&GUIDS);
        // Everything past the GUIDs missing.
        assert!(directory(&h).is_none());
        // The first GUID twice, as chmcmd writes it.
        let mut twice = h.clone();
        twice[0x28] = 0x10;
        twice.resize(0x1000, 0);
        assert!(directory(&twice).is_none());
        assert!(directory(b"ITSF").is_none());
    }
}
