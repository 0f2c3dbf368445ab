//! Archives read through kept crates: 7z (sevenz-rust2), xz
//! (lzma-rust2) and Microsoft cabinets (cab, with lzxd for LZX). Each
//! decoder's dictionary is bounded, members go through the budget one at
//! a time, and a member cut at a limit ends the walk rather than being
//! decompressed to its end for nothing.

use std::io::{Cursor, Read};

use super::{Sink, Unpacked};
use crate::sigs::cdb::Member;
use crate::verdict::Reason;

/// The most a decoder may allocate for its dictionary or model, in KiB:
/// an archive that asks for more is reported, not opened.
const DICT_LIMIT_KB: u32 = 64 * 1024;

impl Unpacked<'_> {
    /// Pushes one member and says whether the walk should stop: the
    /// sink found something, or the member hit a size limit.
    fn push_member(&mut self, name: String, r: impl Read) -> bool {
        let before = self.skipped;
        self.push_reader(name, r);
        let limited = before.is_none()
            && matches!(
                self.skipped,
                Some(Reason::FileSizeLimit | Reason::ScanSizeLimit)
            );
        self.stopped || limited
    }
}

/// An .xz stream (several concatenated are read as one, as xz does).
pub(crate) fn xz<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let r = lzma_rust2::XzReader::new_mem_limit(data, true, DICT_LIMIT_KB);
    out.push_reader("unxz".into(), r);
    out
}

fn sevenz_reason(e: &sevenz_rust2::Error) -> Reason {
    use sevenz_rust2::Error as E;
    match e {
        E::PasswordRequired | E::MaybeBadPassword(_) => Reason::Encrypted,
        E::UnsupportedCompressionMethod(m)
            if m.to_ascii_lowercase().contains("aes") =>
        {
            Reason::Encrypted
        }
        _ => Reason::Malformed { format: "7z" },
    }
}

fn sevenz_failed(out: &mut Unpacked<'_>, e: &sevenz_rust2::Error) {
    match sevenz_reason(e) {
        Reason::Encrypted => out.encrypted("7Zip"),
        r => out.skip(r),
    }
}

/// A 7z archive: each file member in order, solid blocks decoded once.
pub(crate) fn sevenz<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    use sevenz_rust2::{ArchiveReader, EntryDecision, Password};
    let mut out = Unpacked::new(sink);
    let mut reader = match ArchiveReader::new_with_memory_limit(
        Cursor::new(data),
        Password::empty(),
        DICT_LIMIT_KB as usize,
    ) {
        Ok(r) => r,
        Err(e) => {
            sevenz_failed(&mut out, &e);
            return out;
        }
    };
    // The scanner runs its own threads; a decoder must not add more.
    reader.set_thread_count(1);
    let wants_members = out.wants_members();
    // ClamAV numbers 7z entries by their index in the archive's file list
    // (from 0, directories included), which is not the order the reader
    // decodes them in; the reader hands out references into that list.
    let files = &reader.archive().files;
    let (base, count) = (files.as_ptr() as usize, files.len());
    let index_of = |entry: &sevenz_rust2::ArchiveEntry| {
        let size = std::mem::size_of::<sevenz_rust2::ArchiveEntry>().max(1);
        let at = (entry as *const sevenz_rust2::ArchiveEntry as usize)
            .wrapping_sub(base)
            / size;
        u32::try_from(at).ok().filter(|&i| (i as usize) < count)
    };
    let mut decoded = 0u32;
    let mut described = vec![false; count];
    let res = reader.for_each_entries_with_decision(|entry, r| {
        let at = index_of(entry).unwrap_or(decoded);
        decoded = decoded.saturating_add(1);
        if let Some(d) = described.get_mut(at as usize) {
            *d = true;
        }
        if out.done() {
            return Ok(EntryDecision::Stop);
        }
        if entry.is_directory {
            return Ok(EntryDecision::Continue);
        }
        // ClamAV keeps the low byte of each UTF-16 unit of the name and
        // says nothing of the packed size.
        if wants_members {
            let name = sevenz_name(entry);
            if out.member(sevenz_member(entry, &name, at, false)) {
                return Ok(EntryDecision::Stop);
            }
        }
        if !entry.has_stream {
            return Ok(EntryDecision::Continue);
        }
        Ok(if out.push_member(entry.name.clone(), r) {
            EntryDecision::Stop
        } else {
            EntryDecision::Continue
        })
    });
    // What could not be decoded (a password, a damaged block) is still
    // described, as ClamAV describes a member whose extraction failed:
    // encrypted once one was, for every later one.
    if wants_members && !out.stopped {
        let archive = reader.archive();
        let mut encrypted = false;
        for (at, entry) in archive.files.iter().enumerate() {
            if entry.is_directory || described[at] {
                continue;
            }
            encrypted |= archive.is_file_encrypted(at);
            let at = u32::try_from(at).unwrap_or(u32::MAX);
            let name = sevenz_name(entry);
            if out.member(sevenz_member(entry, &name, at, encrypted)) {
                return out;
            }
        }
    }
    if let Err(e) = res {
        sevenz_failed(&mut out, &e);
    }
    out
}

/// A 7z entry's name as ClamAV gives it: the low byte of each UTF-16
/// unit.
fn sevenz_name(entry: &sevenz_rust2::ArchiveEntry) -> Vec<u8> {
    entry.name.encode_utf16().map(|u| u as u8).collect()
}

/// A 7z entry as ClamAV describes it, with no packed size.
fn sevenz_member<'n>(
    entry: &sevenz_rust2::ArchiveEntry,
    name: &'n [u8],
    position: u32,
    encrypted: bool,
) -> Member<'n> {
    Member {
        name: Some(name),
        size_in_container: 0,
        size_real: entry.size,
        encrypted,
        position,
    }
}

/// The names of a cabinet's files whose bytes lie outside their folder's
/// data (the sum of its CFDATA blocks' uncompressed sizes), from our own
/// walk of the headers: the cab crate indexes past its block list for
/// such a file (found by fuzzing cab 0.6), so they are never asked for.
/// None when the headers themselves do not hold together.
fn cab_files_out_of_range(data: &[u8]) -> Option<Vec<String>> {
    let u8_at = |at: usize| data.get(at).copied();
    let u16_at = |at: usize| {
        Some(u16::from_le_bytes(data.get(at..at + 2)?.try_into().ok()?))
    };
    let u32_at = |at: usize| {
        Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
    };
    let cstr_end =
        |at: usize| Some(at + memchr::memchr(0, data.get(at..)?)? + 1);
    let files_at = u32_at(16)? as usize;
    let folders = usize::from(u16_at(26)?);
    let files = usize::from(u16_at(28)?);
    let flags = u16_at(30)?;
    let mut at = 36;
    let (mut folder_reserve, mut data_reserve) = (0, 0);
    if flags & 4 != 0 {
        let header_reserve = usize::from(u16_at(36)?);
        folder_reserve = usize::from(u8_at(38)?);
        data_reserve = usize::from(u8_at(39)?);
        at = 40 + header_reserve;
    }
    for flag in [1, 2] {
        if flags & flag != 0 {
            at = cstr_end(cstr_end(at)?)?;
        }
    }
    let mut totals = Vec::with_capacity(folders.min(4096));
    for _ in 0..folders {
        let (start, blocks) = (u32_at(at)? as usize, u16_at(at + 4)?);
        at += 8 + folder_reserve;
        let (mut total, mut b) = (0u64, start);
        for _ in 0..blocks {
            let Some(cb_data) = u16_at(b + 4) else { break };
            let Some(cb_uncomp) = u16_at(b + 6) else { break };
            total += u64::from(cb_uncomp);
            b += 8 + data_reserve + usize::from(cb_data);
        }
        totals.push(total);
    }
    let mut bad = Vec::new();
    let mut f = files_at;
    for _ in 0..files {
        let size = u64::from(u32_at(f)?);
        let offset = u64::from(u32_at(f + 4)?);
        let folder = usize::from(u16_at(f + 8)?);
        let end = cstr_end(f + 16)?;
        let name =
            String::from_utf8_lossy(&data[f + 16..end - 1]).into_owned();
        if totals.get(folder).is_some_and(|&t| offset + size > t) {
            bad.push(name);
        }
        f = end;
    }
    Some(bad)
}

/// A cabinet: every file of every folder (MSZIP, LZX or stored;
/// Quantum is reported as not scanned).
///
/// The cab crate (0.6) panics on some damaged cabinets (fuzzing found
/// an index past its block list, then a length underflow in its reader),
/// so its work runs inside `catch_unwind`: a panic there is a damaged
/// cabinet, reported as not scanned, never a crash of the agent.
pub(crate) fn cab<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let walked =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cab_walk(data, &mut out);
        }));
    if walked.is_err() {
        out.skip(Reason::Malformed { format: "cab" });
    }
    out
}

fn cab_walk(data: &[u8], out: &mut Unpacked<'_>) {
    let Some(out_of_range) = cab_files_out_of_range(data) else {
        out.skip(Reason::Malformed { format: "cab" });
        return;
    };
    let mut c = match cab::Cabinet::new(Cursor::new(data)) {
        Ok(c) => c,
        Err(_) => {
            out.skip(Reason::Malformed { format: "cab" });
            return;
        }
    };
    let names: Vec<(String, u32)> = c
        .folder_entries()
        .flat_map(|f| {
            f.file_entries()
                .map(|e| (e.name().to_string(), e.uncompressed_size()))
                .collect::<Vec<_>>()
        })
        .collect();
    // ClamAV numbers cabinet files from 0 and knows no packed size.
    for (position, (name, size)) in names.into_iter().enumerate() {
        if out.done() {
            break;
        }
        if out.wants_members()
            && out.member(Member {
                name: Some(name.as_bytes()),
                size_in_container: 0,
                size_real: u64::from(size),
                encrypted: false,
                position: u32::try_from(position).unwrap_or(u32::MAX),
            })
        {
            break;
        }
        if out_of_range.contains(&name) {
            out.skip(Reason::Malformed { format: "cab" });
            continue;
        }
        match c.read_file(&name) {
            Ok(r) => {
                if out.push_member(name, r) {
                    break;
                }
            }
            Err(_) => out.skip(Reason::Malformed { format: "cab" }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{budget, collect};
    use super::*;

    fn garbage(magic: &[u8]) -> Vec<u8> {
        let mut input = magic.to_vec();
        input.extend_from_slice(&[0x55; 300]);
        input
    }

    #[test]
    fn cab_file_beyond_its_folder_is_not_read() {
        // What the fuzzer found: cab 0.6 indexes past its block list.
        let crash =
            include_bytes!("../../tests/data/cab-file-beyond-folder.cab");
        let mut c = collect(budget());
        let u = cab(crash, &mut c);
        assert_eq!(u.skipped, Some(Reason::Malformed { format: "cab" }));
    }

    #[test]
    fn garbage_after_the_magic_is_malformed() {
        let mut c = collect(budget());
        assert!(
            sevenz(&garbage(b"7z\xbc\xaf\x27\x1c\0\x04"), &mut c)
                .skipped
                .is_some()
        );
        let mut c = collect(budget());
        assert!(cab(&garbage(b"MSCF\0\0\0\0"), &mut c).skipped.is_some());
        let mut c = collect(budget());
        assert!(xz(&garbage(b"\xfd7zXZ\0"), &mut c).skipped.is_some());
    }
}

/// A member's bytes as the RAR decoder writes them, shared with the walk
/// that scans them once the decoder moves on.
#[derive(Clone, Default)]
struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A RAR archive (1.3 to 7, solid or not) through the pure-Rust `rars`
/// reader, without its encryption feature: encrypted members are
/// reported as not scanned. Each member is scanned when the decoder has
/// finished it and asks for the next.
pub(crate) fn rar<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    use rars::{ArchiveReadOptions, ArchiveReader, ExtractionDecision};
    let mut out = Unpacked::new(sink);
    let budget = out.sink.budget();
    let (max_file, bytes_left) = (budget.max_file, budget.bytes_left);
    let options = || {
        ArchiveReadOptions::new()
            .with_max_header_count(100_000)
            .with_max_header_bytes(16 << 20)
            .with_rar50_dictionary_size_limit(u64::from(DICT_LIMIT_KB) << 10)
            .with_max_reader_workspace_bytes(
                2 * (u64::from(DICT_LIMIT_KB) << 10),
            )
            .with_max_member_output_bytes(max_file)
            .with_max_total_output_bytes(bytes_left)
    };
    let read = std::panic::catch_unwind(|| {
        ArchiveReader::read_with_options(data, options())
    });
    let archive = match read {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            rar_failed(&mut out, &e);
            return out;
        }
        Err(_) => {
            out.skip(Reason::Malformed { format: "RAR" });
            return out;
        }
    };
    let mut pending: Option<(String, Shared)> = None;
    // ClamAV numbers RAR headers from 1, directories included, and gets
    // names from unrar with `/` between directories.
    let mut position = 0u32;
    let rar5 = data.starts_with(b"Rar!\x1a\x07\x01\x00");
    let result =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            archive.extract_with_control(options(), |m| {
                if let Some((name, buf)) = pending.take() {
                    out.push(name, buf.0.take());
                }
                if out.done() {
                    return Ok(ExtractionDecision::Stop);
                }
                let meta = &m.meta;
                position = position.saturating_add(1);
                if out.wants_members() {
                    let name: Vec<u8> = meta
                        .name
                        .iter()
                        .map(|&b| match b {
                            b'\\' if rar5 => b'_',
                            b'\\' => b'/',
                            b => b,
                        })
                        .collect();
                    let described = Member {
                        name: Some(&name),
                        size_in_container: meta.packed_size,
                        size_real: meta.unpacked_size,
                        encrypted: meta.is_encrypted,
                        position,
                    };
                    if out.member(described) {
                        return Ok(ExtractionDecision::Stop);
                    }
                }
                // A solid archive cannot skip: what is left out is decoded
                // into nothing, so the next member still decodes.
                let skip = || {
                    if m.is_solid() {
                        ExtractionDecision::Extract(Box::new(std::io::sink()))
                    } else {
                        ExtractionDecision::Skip
                    }
                };
                if meta.is_directory || meta.is_redirection {
                    return Ok(skip());
                }
                if meta.is_encrypted {
                    out.encrypted("RAR");
                    return Ok(skip());
                }
                if meta.unpacked_size > max_file {
                    out.skip(Reason::FileSizeLimit);
                    return Ok(skip());
                }
                let buf = Shared::default();
                pending = Some((
                    String::from_utf8_lossy(&meta.name).into_owned(),
                    buf.clone(),
                ));
                Ok(ExtractionDecision::Extract(Box::new(buf)))
            })
        }));
    if let Some((name, buf)) = pending.take() {
        out.push(name, buf.0.take());
    }
    match result {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => rar_failed(&mut out, &e),
        Err(_) => out.skip(Reason::Malformed { format: "RAR" }),
    }
    out
}

fn rar_failed(out: &mut Unpacked<'_>, e: &rars::Error) {
    match e.kind() {
        rars::ErrorKind::ResourceLimit => out.skip(Reason::ScanSizeLimit),
        rars::ErrorKind::PasswordRequired | rars::ErrorKind::BadPassword => {
            out.encrypted("RAR")
        }
        // Built without its encryption feature, the reader calls an
        // encrypted archive (or encrypted headers) a disabled feature.
        rars::ErrorKind::UnsupportedFeature
            if e.to_string().contains("encryption") =>
        {
            out.encrypted("RAR")
        }
        _ => out.skip(Reason::Malformed { format: "RAR" }),
    }
}

/// An ARJ archive (methods 0 to 4) through `unarj-rs`. Its reader sizes
/// buffers from the headers, so sizes are checked against the input and
/// MaxFileSize before a member is read; garbled (password) members are
/// not scanned.
pub(crate) fn arj<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    use unarj_rs::arj_archive::ArjArchieve;
    use unarj_rs::local_file_header::FileType as Kind;
    let mut out = Unpacked::new(sink);
    let max_file = out.sink.budget().max_file;
    let walk = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        || -> std::io::Result<()> {
            let mut a = ArjArchieve::new(Cursor::new(data))?;
            // ClamAV numbers ARJ headers from 1, whatever their type.
            let mut position = 0u32;
            while !out.done() {
                let Some(h) = a.get_next_entry()? else { break };
                position = position.saturating_add(1);
                if out.wants_members()
                    && out.member(Member {
                        name: Some(h.name.as_bytes()),
                        size_in_container: u64::from(h.compressed_size),
                        size_real: u64::from(h.original_size),
                        encrypted: h.is_garbled(),
                        position,
                    })
                {
                    break;
                }
                if h.compressed_size as usize > data.len() {
                    out.skip(Reason::Malformed { format: "ARJ" });
                    break;
                }
                if !matches!(h.file_type, Kind::Binary | Kind::Text7Bit) {
                    a.skip(&h)?;
                    continue;
                }
                if h.is_garbled() {
                    out.encrypted("ARJ");
                    a.skip(&h)?;
                    continue;
                }
                if u64::from(h.original_size) > max_file {
                    out.skip(Reason::FileSizeLimit);
                    a.skip(&h)?;
                    continue;
                }
                match a.read(&h) {
                    Ok(member) => out.push(h.name.clone(), member),
                    Err(_) => out.skip(Reason::Malformed { format: "ARJ" }),
                }
            }
            Ok(())
        },
    ));
    if !matches!(walk, Ok(Ok(()))) {
        out.skip(Reason::Malformed { format: "ARJ" });
    }
    out
}
