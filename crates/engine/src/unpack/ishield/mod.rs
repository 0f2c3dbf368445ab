//! InstallShield installers, read as ClamAV 1.4 reads them (its
//! `ishield.c`). Two unrelated layouts share the name:
//!
//! - **MSI based** (`msi.rs`): the string `InstallShield\0` followed by a
//!   file count and, per file, a 312-byte block (a 260-byte name, the
//!   compressed size) and the file's zlib stream, each byte of which is
//!   nibble-swapped and XORed with the name (itself XORed with a fixed
//!   four-byte key). ClamAV finds it anywhere inside a PE by a type
//!   pattern and reads from the match on.
//! - **Overlay** (`overlay.rs`): after the last section of a PE, a run of
//!   files each preceded by four NUL-terminated strings (name, path,
//!   version, decimal size), stored as they are. Among them `data1.hdr`
//!   (an `ISc(` cabinet header) and `dataN.cab` volumes: the header lists
//!   the files, each cut from a volume as a series of raw deflate chunks
//!   with a two-byte length before each.
//!
//! Every file is handed to the sink as it is decoded. The overlay's start
//! is ClamAV's (`pe.rs`): [`ishield_pe`] takes the whole PE and finds it,
//! [`ishield_overlay`] takes the overlay's bytes.

mod cab;
mod msi;
mod overlay;
mod pe;

use flate2::{Decompress, FlushDecompress, Status};

use super::{Sink, Unpacked};
use crate::verdict::Reason;

/// The MSI-based form: `data` starts at the `InstallShield\0` match
/// (ClamAV's `CL_TYPE_ISHIELD_MSI` type pattern found inside a PE).
pub(crate) fn ishield_msi<'s>(
    data: &[u8],
    sink: &'s mut dyn Sink,
) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    msi::walk(data, &mut out);
    out
}

/// The overlay form: `overlay` is a PE's bytes from ClamAV's overlay
/// start to the end of the file (see [`ishield_pe`] for that start).
pub(crate) fn ishield_overlay<'s>(
    overlay: &[u8],
    sink: &'s mut dyn Sink,
) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    overlay::walk(overlay, &mut out);
    out
}

/// The overlay form given the whole PE: ClamAV's `cli_scanpe` reads an
/// overlay only of a PE32 (not PE32+) whose headers it accepts and whose
/// overlay is not empty; otherwise nothing is read.
pub(crate) fn ishield_pe<'s>(
    pe: &[u8],
    sink: &'s mut dyn Sink,
) -> Unpacked<'s> {
    match pe::overlay_start(pe) {
        Some(start) => ishield_overlay(&pe[start..], sink),
        None => Unpacked::new(sink),
    }
}

fn le16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn le32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn le64(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

/// How many bytes one decoded file may have, and why it stops there.
fn cap(out: &mut Unpacked<'_>) -> (usize, Reason) {
    let b = out.sink.budget();
    let (cap, why) = if b.max_file <= b.bytes_left {
        (b.max_file, Reason::FileSizeLimit)
    } else {
        (b.bytes_left, Reason::ScanSizeLimit)
    };
    (usize::try_from(cap).unwrap_or(usize::MAX), why)
}

/// How a piece of input fed to [`inflate`] ended.
#[derive(Debug, PartialEq, Eq)]
enum Fed {
    /// All of it was used; the stream goes on.
    More,
    /// The stream ended.
    End,
    /// The output reached the cap with more to come.
    Full,
    /// The stream is damaged.
    Bad,
}

/// Inflates `input` onto `out`, never past `cap` bytes in all.
fn inflate(
    z: &mut Decompress,
    mut input: &[u8],
    out: &mut Vec<u8>,
    cap: usize,
) -> Fed {
    let mut buf = [0u8; 32 * 1024];
    loop {
        let (in0, out0) = (z.total_in(), z.total_out());
        let res = z.decompress(input, &mut buf, FlushDecompress::None);
        let used = usize::try_from(z.total_in() - in0).unwrap_or(usize::MAX);
        let made = usize::try_from(z.total_out() - out0).unwrap_or(0);
        input = input.get(used..).unwrap_or(&[]);
        let made = made.min(buf.len());
        let room = cap.saturating_sub(out.len());
        out.extend_from_slice(&buf[..made.min(room)]);
        if made > room {
            return Fed::Full;
        }
        match res {
            Err(_) => return Fed::Bad,
            Ok(Status::StreamEnd) => return Fed::End,
            Ok(_) => {}
        }
        // A full buffer may hide more output; otherwise more input is
        // needed (or none will help).
        if made < buf.len() && (input.is_empty() || used == 0) {
            return Fed::More;
        }
    }
}

#[cfg(test)]
mod tests;
