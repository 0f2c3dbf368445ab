//! Symbian installers (`.sis`), read as ClamAV 1.4 reads them.
//!
//! The EPOC layout (Symbian before 9.0, third UID `0x10000419`): after
//! the four UIDs a fixed header gives the language count, the record
//! count, the flags (bit 3: files stored, else zlib) and where the
//! language table and the file records are. The records are a stream
//! of little-endian words walked from the records pointer: a file record
//! carries one copy per declared language (length, offset, original
//! length each) and every copy is a child; option, `#if` and `#elsif`
//! records are stepped over by the sizes they give, as ClamAV steps.
//! A compressed copy must inflate to its end within three times its
//! stored length (when it claims no more) or its claimed length, as
//! ClamAV's one-shot `uncompress` must, or it is not scanned.
//!
//! SIS 9.x files (first UID `0x10201A7A`) are typed the same way only by
//! chance, and ClamAV's 9.x walk looks for its first field where the UID
//! is, so it never extracts a file: neither does this reader (a stored
//! file is still seen by the raw scan of the installer's own bytes).

use super::{Sink, Unpacked};
use crate::verdict::Reason;

const DAMAGED: Reason = Reason::Malformed { format: "SIS" };

/// The third UID of an EPOC installer.
const UID_EPOC: u32 = 0x1000_0419;

/// The four UIDs and the fixed header: no pointer may point inside.
const HEADER_END: u64 = 16 + 68;

/// ClamAV knows 100 language codes (0 to 99) and wants fewer declared.
const LANGUAGES: u16 = 100;

/// A file record of this type has no data.
const FILE_NULL: u32 = 4;

/// ClamAV reads at most this many bytes of a UTF-16 name.
const NAME_BYTES: u32 = 400;

fn le16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn le32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// The record stream: little-endian words from a position that may run
/// past the end (a step over a record is not checked until the next read).
struct Words<'a> {
    data: &'a [u8],
    at: u64,
}

impl Words<'_> {
    fn word(&mut self) -> Option<u32> {
        let at = usize::try_from(self.at).ok()?;
        let w = le32(self.data, at)?;
        self.at += 4;
        Some(w)
    }

    fn step(&mut self, n: u64) {
        self.at = self.at.saturating_add(n);
    }
}

/// `len` bytes of UTF-16LE at `ptr`, their low bytes up to the first NUL
/// (ClamAV keeps every other byte of the first 400).
fn name(data: &[u8], ptr: u32, len: u32) -> Option<String> {
    let len = len.min(NAME_BYTES) as usize;
    if len == 0 {
        return None;
    }
    let at = ptr as usize;
    let raw = data.get(at..at.checked_add(len)?)?;
    let low: Vec<u8> =
        raw.iter().step_by(2).copied().take_while(|&b| b != 0).collect();
    Some(String::from_utf8_lossy(&low).into_owned())
}

/// Whether a child of `len` bytes is within the limits, as ClamAV's
/// limit check asks before it allocates; nothing is recorded (a failed
/// first guess at an output size is no reason to report anything).
fn fits(out: &mut Unpacked<'_>, len: u64) -> bool {
    let b = out.sink.budget();
    b.files_left > 0 && len <= b.max_file && len <= b.bytes_left
}

/// A zlib stream inflated to its end in at most `cap` bytes; `None` when
/// it is damaged, cut short, fails its checksum or needs more room, as
/// zlib's `uncompress` fails then. Every byte made, kept or not, is taken
/// from `work`, and no more than it holds is made.
fn inflate(src: &[u8], cap: u64, work: &mut u64) -> Option<Vec<u8>> {
    use flate2::{Decompress, FlushDecompress, Status};
    const CHUNK: usize = 64 * 1024;
    let mut z = Decompress::new(true);
    let mut out = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let left = cap.min(*work).saturating_sub(out.len() as u64);
        let room = usize::try_from(left).unwrap_or(CHUNK).min(CHUNK);
        let (in_before, out_before) = (z.total_in(), z.total_out());
        let input = src.get(usize::try_from(in_before).ok()?..)?;
        let status = z
            .decompress(input, &mut buf[..room], FlushDecompress::Finish)
            .ok()?;
        let made = usize::try_from(z.total_out() - out_before).ok()?;
        out.extend_from_slice(buf.get(..made)?);
        *work = work.saturating_sub(made as u64);
        if status == Status::StreamEnd {
            return Some(out);
        }
        if made == 0 && z.total_in() == in_before {
            return None;
        }
    }
}

/// The fixed header's fields this reader uses.
struct Header {
    langs: u16,
    files: u16,
    stored: bool,
    records: u32,
}

fn header(data: &[u8]) -> Option<Header> {
    // ClamAV reads the whole fixed header or nothing.
    if (data.len() as u64) < HEADER_END {
        return None;
    }
    Some(Header {
        langs: le16(data, 18)?,
        files: le16(data, 20)?,
        stored: le16(data, 36)? & 0x0008 != 0,
        records: le32(data, 52)?,
    })
}

/// Symbian installers: each file of each language, in record order.
pub(crate) fn sis<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    if le32(data, 8) != Some(UID_EPOC) {
        // SIS 9.x, or typed by the UID pattern at another offset: ClamAV
        // extracts nothing (see the module's doc).
        return out;
    }
    let Some(h) = header(data) else {
        out.skip(DAMAGED);
        return out;
    };
    if h.langs == 0 || h.langs >= LANGUAGES {
        out.skip(DAMAGED);
        return out;
    }
    // The language table must be there, though only its size is used.
    let plangs = le32(data, 48).unwrap_or(0) as usize;
    let table = plangs.checked_add(2 * usize::from(h.langs));
    if table.is_none_or(|end| end > data.len()) {
        out.skip(DAMAGED);
        return out;
    }
    if u64::from(h.records) < HEADER_END {
        out.skip(DAMAGED);
        return out;
    }
    let mut w = Words { data, at: u64::from(h.records) };
    // Inflating is the one cost a file's size does not bound: copies may
    // share one bomb, each inflated until it overflows its buffer. What
    // all of them may inflate is what the scan may still take in.
    let work = out.sink.budget().bytes_left;
    let mut walk = Walk {
        data,
        stored: h.stored,
        langs: h.langs,
        made: 0,
        work,
        failed: Vec::new(),
    };
    for _ in 0..h.files {
        if out.done() {
            break;
        }
        let Some(kind) = w.word() else {
            out.skip(DAMAGED);
            break;
        };
        let langs = u32::from(h.langs);
        let step = match kind {
            // A language-dependent file record: ClamAV steps over one
            // byte a language and reads on from there.
            1 => langs,
            0 => match walk.file(&mut w, &mut out) {
                Some(()) => 8,
                None => {
                    if !out.stopped {
                        out.skip(DAMAGED);
                    }
                    break;
                }
            },
            // Options: a count, then a name pointer and length per option
            // and language (the product kept to 32 bits, as ClamAV's).
            2 => match w.word() {
                Some(n) => n.wrapping_mul(langs * 8),
                None => {
                    out.skip(DAMAGED);
                    break;
                }
            },
            // `#if` and `#elsif`: the size of the condition.
            3 | 4 => match w.word() {
                Some(n) => n,
                None => {
                    out.skip(DAMAGED);
                    break;
                }
            },
            // `#else`, `#endif` and unknown records: nothing to step over.
            _ => 0,
        };
        if out.stopped {
            break;
        }
        w.step(u64::from(step));
    }
    out
}

/// The walk's state across records.
struct Walk<'a> {
    data: &'a [u8],
    stored: bool,
    langs: u16,
    /// Copies handed to the scan so far: ClamAV names each `sisNN`.
    made: u32,
    /// Bytes the walk may still inflate.
    work: u64,
    /// Compressed copies that failed to inflate: (CRC-32, length, room).
    failed: Vec<(u32, u32, u32)>,
}

/// Failed copies remembered, at most.
const MAX_FAILED: usize = 1024;

impl Walk<'_> {
    /// One file record, from its type on; `None` when the stream ended
    /// inside it (or the scan stopped).
    fn file(
        &mut self,
        w: &mut Words<'_>,
        out: &mut Unpacked<'_>,
    ) -> Option<()> {
        let kind = w.word()?;
        let _options = w.word()?;
        let (src_len, src_ptr) = (w.word()?, w.word()?);
        let _dest = (w.word()?, w.word()?);
        let n = usize::from(self.langs);
        let mut copies = vec![(0u32, 0u32, 0u32); n];
        for c in copies.iter_mut() {
            c.0 = w.word()?;
        }
        for c in copies.iter_mut() {
            c.1 = w.word()?;
        }
        for c in copies.iter_mut() {
            c.2 = w.word()?;
        }
        if kind == FILE_NULL {
            return Some(());
        }
        let source = name(self.data, src_ptr, src_len);
        for (len, ptr, full) in copies {
            if out.done() {
                return None;
            }
            self.copy(len, ptr, full, source.as_deref(), out);
            if out.stopped {
                return None;
            }
        }
        Some(())
    }

    /// One language's copy of a file.
    fn copy(
        &mut self,
        len: u32,
        ptr: u32,
        full: u32,
        source: Option<&str>,
        out: &mut Unpacked<'_>,
    ) {
        if len == 0 {
            return;
        }
        if u64::from(ptr) < HEADER_END {
            out.skip(DAMAGED);
            return;
        }
        if !out.room(u64::from(len)) {
            return;
        }
        let at = ptr as usize;
        let Some(bytes) = at
            .checked_add(len as usize)
            .and_then(|end| self.data.get(at..end))
        else {
            out.skip(DAMAGED);
            return;
        };
        let child = if self.stored {
            bytes.to_vec()
        } else {
            // ClamAV's output buffer: three times the stored size when
            // the claimed size is no more, else the claimed size, each
            // only within the limits.
            let thrice = len.wrapping_mul(3);
            let cap = if full <= thrice && fits(out, u64::from(thrice)) {
                thrice
            } else if out.room(u64::from(full)) {
                full
            } else {
                return;
            };
            // Copies of one bomb fail alike: each is inflated once.
            let key = {
                let mut c = flate2::Crc::new();
                c.update(bytes);
                (c.sum(), len, cap)
            };
            if self.failed.contains(&key) {
                out.skip(DAMAGED);
                return;
            }
            match inflate(bytes, u64::from(cap), &mut self.work) {
                Some(d) => d,
                None if self.work == 0 => {
                    // The walk goes on; each later copy fails at once the
                    // same way.
                    out.skip(Reason::ScanSizeLimit);
                    return;
                }
                None => {
                    if self.failed.len() < MAX_FAILED {
                        self.failed.push(key);
                    }
                    out.skip(DAMAGED);
                    return;
                }
            }
        };
        let name = match source {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => format!("sis{:02}", self.made),
        };
        self.made += 1;
        out.push(name, child);
    }
}

#[cfg(test)]
mod tests;
