//! Zip archives: every entry described (central directory, then local
//! header) before any is extracted, then extracted one by one.

use super::*;

pub(crate) fn zip<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    // ClamAV reads every entry's description, in the central directory
    // and in its local header, before it extracts any, and from the raw
    // bytes: a damaged archive is still described.
    if out.wants_members() && zip_members(data, &mut out) {
        return out;
    }
    let mut z = match ::zip::ZipArchive::new(std::io::Cursor::new(data)) {
        Ok(z) => z,
        Err(_) => {
            out.skip(Reason::Malformed { format: "zip" });
            return out;
        }
    };
    if overlapping_entries(&mut z) > MAX_OVERLAPPING_ENTRIES {
        // A few shared ranges occur in real archives made by odd tools;
        // many are the non-recursive zip bomb (every entry inflating the
        // same data). Nothing is extracted from it.
        out.alert(Heur::ZipOverlapping);
        out.skip(Reason::Malformed { format: "zip" });
        return out;
    }
    for i in 0..z.len() {
        if out.done() {
            break;
        }
        match z.by_index(i) {
            Ok(f) if f.is_dir() => {}
            Ok(f) if f.size() > out.sink.budget().max_file => {
                // Skipped on its declared size, as ClamAV does, so that a
                // 4 GB member of a 42.zip is never inflated at all.
                out.skip(Reason::FileSizeLimit);
            }
            Ok(f) => {
                let name = f
                    .name()
                    .map(|n| n.into_owned())
                    .unwrap_or_else(|_| format!("member {}", i + 1));
                out.push_reader(name, f);
            }
            Err(::zip::result::ZipError::UnsupportedArchive(m))
                if m.contains("ncrypt") || m.contains("assword") =>
            {
                out.encrypted("Zip")
            }
            Err(::zip::result::ZipError::InvalidPassword) => {
                out.encrypted("Zip")
            }
            Err(_) => out.skip(Reason::Malformed { format: "zip" }),
        }
    }
    out
}

/// The one entry whose local header starts `data`: what ClamAV extracts
/// where the raw scan of another file meets a zip header (a
/// self-extracting archive, or an archive appended to a file), each
/// header found giving its entry.
pub(crate) fn zip_entry<'s>(
    data: &[u8],
    sink: &'s mut dyn Sink,
) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let u16_at = |at: usize| {
        data.get(at..at + 2).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        data.get(at..at + 4)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    const LOCAL: usize = 30;
    let (name_len, extra) = (usize::from(u16_at(26)), usize::from(u16_at(28)));
    let left = data.len().saturating_sub(LOCAL);
    if data.len() < LOCAL || left <= name_len {
        return out;
    }
    let (csize, encrypted) = (u32_at(18), u16_at(6) & 1 != 0);
    // Described to container rules as ClamAV describes it: entry 0.
    if out.wants_members() {
        let name = &data[LOCAL..LOCAL + name_len];
        let member = Member {
            name: Some(&name[..name.len().min(255)]),
            size_in_container: u64::from(csize),
            size_real: u64::from(u32_at(22)),
            encrypted,
            position: 0,
        };
        if out.member(member) {
            return out;
        }
    }
    // ClamAV extracts neither an encrypted entry (it does not report it
    // either: a header found by chance says nothing of the file) nor one
    // whose data runs past the end.
    let body = left - name_len;
    if encrypted || body <= extra || (body - extra) < csize as usize {
        return out;
    }
    let mut cursor = std::io::Cursor::new(data);
    match ::zip::read::read_zipfile_from_stream(&mut cursor) {
        Ok(Some(f)) if f.is_dir() => {}
        Ok(Some(f)) if f.size() > out.sink.budget().max_file => {
            out.skip(Reason::FileSizeLimit);
        }
        Ok(Some(f)) => {
            let name =
                f.name().map_or_else(|_| "entry".to_string(), String::from);
            out.push_reader(name, f);
        }
        Ok(None) | Err(_) => {}
    }
    out
}

/// Where the local headers the central directory lists start, sorted.
pub(crate) fn zip_listed(data: &[u8]) -> Vec<usize> {
    let Ok(mut z) = ::zip::ZipArchive::new(std::io::Cursor::new(data)) else {
        return Vec::new();
    };
    let mut v: Vec<usize> = (0..z.len())
        .filter_map(|i| {
            usize::try_from(z.by_index_raw(i).ok()?.header_start()).ok()
        })
        .collect();
    v.sort_unstable();
    v
}

/// Each entry as the central directory describes it, then as its local
/// header does (the two may disagree in a crafted archive, and either
/// may meet a rule), numbered from 1 in directory order, directories
/// included, read from the raw bytes as ClamAV reads them (names cut at
/// 255 bytes, sizes as stored), at most MaxFiles of them; without a
/// central directory, the local headers one after another. True once a
/// rule matched.
pub(super) fn zip_members(data: &[u8], out: &mut Unpacked<'_>) -> bool {
    const LOCAL: usize = 30;
    const CENTRAL: usize = 46;
    let max = out.sink.budget().files_left;
    let len = data.len();
    let u16_at = |at: usize| {
        data.get(at..at + 2).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        data.get(at..at + 4)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let cut = |n: &[u8]| n[..n.len().min(255)].to_vec();
    // A local header at `at`: its description, and where the next one
    // would start; `None` where ClamAV reads none.
    let local = |at: usize, position: u32, out: &mut Unpacked<'_>| {
        let h = data.get(at..at.checked_add(LOCAL)?)?;
        if &h[..4] != b"PK\x03\x04" {
            return None;
        }
        let name_len = usize::from(u16_at(at + 26));
        if len - at - LOCAL <= name_len {
            return None;
        }
        let name = cut(&data[at + LOCAL..at + LOCAL + name_len]);
        let found = out.member(Member {
            name: Some(&name),
            size_in_container: u64::from(u32_at(at + 18)),
            size_real: u64::from(u32_at(at + 22)),
            encrypted: u16_at(at + 6) & 1 != 0,
            position,
        });
        let next = (at + LOCAL + name_len)
            .saturating_add(usize::from(u16_at(at + 28)))
            .saturating_add(u32_at(at + 18) as usize);
        Some((found, next))
    };
    // The end of central directory record, searched backwards; ClamAV
    // takes the first whose directory offset lies inside the file.
    let eocd = len.checked_sub(22).and_then(|last| {
        memchr::memmem::rfind_iter(&data[..last + 4], b"PK\x05\x06")
            .filter(|&at| at > 0 && at + 20 <= len)
            .map(|at| u32_at(at + 16) as usize)
            .find(|&cd| cd.checked_add(CENTRAL).is_some_and(|e| e <= len))
    });
    let mut position = 0u32;
    match eocd.filter(|&cd| cd != 0) {
        Some(mut at) => loop {
            if position >= max {
                break;
            }
            let Some(h) = data.get(at..at + CENTRAL) else { break };
            if &h[..4] != b"PK\x01\x02" {
                break;
            }
            let (name_len, extra, comment) = (
                usize::from(u16_at(at + 28)),
                usize::from(u16_at(at + 30)),
                usize::from(u16_at(at + 32)),
            );
            let offset = u32_at(at + 42) as usize;
            at += CENTRAL;
            if len - at <= name_len {
                break;
            }
            position += 1;
            let name = cut(&data[at..at + name_len]);
            at += name_len;
            if out.member(Member {
                name: Some(&name),
                size_in_container: u64::from(u32_at(at - name_len - 26)),
                size_real: u64::from(u32_at(at - name_len - 22)),
                encrypted: u16_at(at - name_len - 38) & 1 != 0,
                position,
            }) {
                return true;
            }
            let last = len - at <= extra || len - at - extra < comment;
            at = at.saturating_add(extra).saturating_add(comment);
            if offset < len.saturating_sub(LOCAL)
                && let Some((true, _)) = local(offset, position, out)
            {
                return true;
            }
            if last {
                break;
            }
        },
        None => {
            let mut at = 0;
            while position < max {
                let Some((found, next)) = local(at, position + 1, out) else {
                    break;
                };
                if found {
                    return true;
                }
                position += 1;
                if next <= at {
                    break;
                }
                at = next;
            }
        }
    }
    false
}

/// ClamAV's tolerance for entries whose data overlaps another's.
pub(super) const MAX_OVERLAPPING_ENTRIES: usize = 5;

/// How many entries start inside the data of the entry before them
/// (ordered by where their local headers are).
pub(super) fn overlapping_entries(
    z: &mut ::zip::ZipArchive<std::io::Cursor<&[u8]>>,
) -> usize {
    let mut spans: Vec<(u64, u64)> = (0..z.len())
        .filter_map(|i| {
            let f = z.by_index_raw(i).ok()?;
            let start = f.header_start();
            let data = f.data_start().unwrap_or(start + 30);
            Some((start, data.saturating_add(f.compressed_size())))
        })
        .collect();
    spans.sort_unstable();
    spans.windows(2).filter(|w| w[1].0 < w[0].1).count()
}
