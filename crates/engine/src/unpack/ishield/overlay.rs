//! The overlay form: from the overlay's start, files one after another,
//! each preceded by four NUL-terminated strings of at most 2047 bytes
//! (name, path such as `Disk1\setup.exe`, version, size in decimal).
//!
//! As ClamAV reads it: the run ends at the first string with no NUL in
//! its 2048 bytes, at a size that is not a plain decimal number (leading
//! blanks and a sign are allowed, as `strtol` allows them), or at a file
//! whose strings and bytes would reach the end of the overlay (a file
//! that ends exactly there is not read). Each file is described to the
//! container metadata rules. `data1.hdr` and `dataN.cab` (N from 1 to
//! 65535, any case) are put aside for the cabinet (`cab.rs`); the others
//! are scanned as they are. The cabinet's files are then extracted; if
//! the header cannot be read, or a file could not be extracted, the
//! header and the volumes are scanned as they are instead.

use super::cab::{self, Cabinet, Volume};
use crate::sigs::cdb::Member;
use crate::unpack::Unpacked;

/// The longest string ClamAV looks for a NUL in.
const STRING_MAX: usize = 2048;

pub(super) fn walk(data: &[u8], out: &mut Unpacked<'_>) {
    let mut at = 0usize;
    let mut left = data.len();
    let mut position = 0u32;
    let mut c = Cabinet::default();
    while !out.done() {
        let Some(file) = entry(data, at, left) else { break };
        if out.wants_members()
            && out.member(Member {
                name: Some(file.name),
                size_in_container: file.size as u64,
                size_real: file.size as u64,
                encrypted: false,
                position,
            })
        {
            return;
        }
        position = position.saturating_add(1);
        left -= file.data - at + file.size;
        at = file.data + file.size;
        let bytes = &data[file.data..at];
        if put_aside(&mut c, file.name, file.data, file.size) {
            continue;
        }
        if !bytes.is_empty() {
            out.push(
                String::from_utf8_lossy(file.name).into_owned(),
                bytes.to_vec(),
            );
        }
    }
    if !out.stopped && (!c.volumes.is_empty() || c.header.is_some()) {
        cab::extract(data, &c, out);
    }
}

/// One file of the run: its name, where its bytes start, their length.
struct Entry<'a> {
    name: &'a [u8],
    data: usize,
    size: usize,
}

/// The file whose strings start at `at`, if ClamAV reads one there;
/// `left` is what ClamAV still counts as the overlay's size.
fn entry(data: &[u8], at: usize, left: usize) -> Option<Entry<'_>> {
    let name = string(data, at)?;
    let mut next = at + name.len() + 1;
    for _ in 0..2 {
        next += string(data, next)?.len() + 1;
    }
    let size = string(data, next)?;
    next += size.len() + 1;
    let size = match strtol(size) {
        Some((v, end)) if end == size.len() && (0..i64::MAX).contains(&v) => {
            usize::try_from(v).ok()?
        }
        _ => return None,
    };
    let header = next - at;
    if size >= left || header >= left - size {
        return None;
    }
    Some(Entry { name, data: next, size })
}

/// The NUL-terminated string at `at`, if its NUL is within 2048 bytes.
fn string(data: &[u8], at: usize) -> Option<&[u8]> {
    let rest = data.get(at..)?;
    let window = &rest[..rest.len().min(STRING_MAX)];
    memchr::memchr(0, window).map(|n| &window[..n])
}

/// `strtol(s, &end, 10)` as C's: blanks, a sign, then digits; the value
/// (clamped to the `i64` range, as `long` is) and where the digits end,
/// or `None` when there are none.
pub(super) fn strtol(s: &[u8]) -> Option<(i64, usize)> {
    let mut i =
        s.iter().take_while(|b| b" \t\n\x0b\x0c\r".contains(b)).count();
    let negative = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = s.get(i..)?.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let mut v: i64 = 0;
    for &d in &s[i..i + digits] {
        let d = i64::from(d - b'0');
        v = if negative {
            v.saturating_mul(10).saturating_sub(d)
        } else {
            v.saturating_mul(10).saturating_add(d)
        };
    }
    Some((v, i + digits))
}

/// Keeps `data1.hdr` and `dataN.cab` for the cabinet; false for any
/// other file (and for a second header, or a volume ClamAV takes for a
/// repeat), which is scanned as it is.
fn put_aside(c: &mut Cabinet, name: &[u8], at: usize, size: usize) -> bool {
    if name.len() < 4 || !name[..4].eq_ignore_ascii_case(b"data") {
        return false;
    }
    let rest = &name[4..];
    if rest.eq_ignore_ascii_case(b"1.hdr") && c.header.is_none() {
        c.header = Some((at, size));
        return true;
    }
    let Some((number, end)) = strtol(rest) else { return false };
    if !(1..65536).contains(&number)
        || !rest[end..].eq_ignore_ascii_case(b".cab")
    {
        return false;
    }
    // ClamAV's test for a repeated volume compares each volume's number
    // with its place in the list, not with the new number: a volume is
    // "repeated" once some volume sits at the index of its own number.
    if c.volumes.iter().enumerate().any(|(i, v)| v.number as usize == i) {
        return false;
    }
    c.volumes.push(Volume { number: number as u16, at, size });
    true
}
