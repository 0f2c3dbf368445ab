//! The MSI-based form. After the 14-byte `InstallShield\0` come a
//! 32-byte header (a file count, a dword, then six dwords that are zero
//! in every installer; ClamAV reads nothing when they are not) and, per
//! file, a 312-byte block and the file's bytes:
//!
//! | offset | size | field                                   |
//! |--------|------|-----------------------------------------|
//! | 0      | 260  | name, NUL-terminated (the last byte is) |
//! | 260    | 8    | two dwords (6 and 0)                    |
//! | 268    | 8    | size of the stored bytes                |
//! | 276    | 36   | nine dwords                             |
//!
//! The stored bytes are a zlib stream, each byte of which has had its
//! nibbles swapped and been XORed with the name (every fourth byte of the
//! name XORed with `EC CA 79 F8`), the name's byte at the byte's position
//! modulo 1024, then modulo the name's length.
//!
//! As ClamAV: the walk ends at a block that is not all there, at stored
//! bytes running past the end (or none), at an empty name and at a file
//! that inflates past MaxFileSize (which is not scanned); stored bytes
//! over MaxFileSize are passed over; a damaged stream is scanned as
//! far as it decoded, and the next block is then read where ClamAV's
//! 8 KiB reads had got to, not after the stream.

use flate2::Decompress;

use super::{Fed, cap, inflate, le32, le64};
use crate::unpack::Unpacked;
use crate::verdict::Reason;

const DAMAGED: Reason = Reason::Malformed { format: "InstallShield" };

/// `InstallShield\0`, before the header.
const MAGIC_LEN: usize = 14;
const HEADER_LEN: usize = 0x20;
const BLOCK_LEN: usize = 312;
const NAME_LEN: usize = 260;
const SIZE_AT: usize = 268;
const NAME_KEY: [u8; 4] = [0xec, 0xca, 0x79, 0xf8];
/// ClamAV reads (and deobfuscates) the stored bytes 8 KiB at a time.
const READ: usize = 8192;

pub(super) fn walk(data: &[u8], out: &mut Unpacked<'_>) {
    let Some(head) = data.get(MAGIC_LEN..MAGIC_LEN + HEADER_LEN) else {
        out.skip(DAMAGED);
        return;
    };
    if (8..HEADER_LEN).step_by(4).any(|o| le32(head, o) != Some(0)) {
        return;
    }
    let count = le32(head, 0).unwrap_or(0);
    let mut at = MAGIC_LEN + HEADER_LEN;
    // Each file uses up a block, so the count cannot outrun the data.
    for _ in 0..count {
        if out.done() {
            return;
        }
        let Some(block) = data.get(at..at.saturating_add(BLOCK_LEN)) else {
            out.skip(DAMAGED);
            return;
        };
        at += BLOCK_LEN;
        let name = &block[..NAME_LEN - 1];
        let name = &name[..memchr::memchr(0, name).unwrap_or(name.len())];
        let stored = le64(block, SIZE_AT).unwrap_or(0);
        let left = data.len() - at;
        let end = match usize::try_from(stored) {
            Ok(n) if n > 0 && n <= left => at + n,
            _ => {
                out.skip(DAMAGED);
                return;
            }
        };
        if stored > out.sink.budget().max_file {
            out.skip(Reason::FileSizeLimit);
            at = end;
            continue;
        }
        if name.is_empty() {
            out.skip(DAMAGED);
            return;
        }
        let key: Vec<u8> = name
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ NAME_KEY[i & 3])
            .collect();
        let (cap, limit) = cap(out);
        let (file, used, end) = decode(&data[at..end], &key, cap);
        at += used;
        match end {
            // ClamAV writes on past MaxFileSize, then refuses to scan
            // what it wrote, and that refusal ends its walk.
            Fed::Full => {
                out.skip(limit);
                return;
            }
            Fed::Bad | Fed::More => out.skip(DAMAGED),
            Fed::End => {}
        }
        if !file.is_empty() {
            out.push(String::from_utf8_lossy(name).into_owned(), file);
        }
    }
}

/// Deobfuscates and inflates one file's stored bytes; returns what came
/// out, how far ClamAV would have read, and how the stream ended
/// (`More`: it was cut short).
fn decode(stored: &[u8], key: &[u8], cap: usize) -> (Vec<u8>, usize, Fed) {
    let mut z = Decompress::new(true);
    let mut file = Vec::new();
    let mut piece = [0u8; READ];
    let mut index = 0usize;
    let mut pos = 0;
    for chunk in stored.chunks(READ) {
        for (p, &c) in piece.iter_mut().zip(chunk) {
            *p = c.rotate_left(4) ^ key[(index & 0x3ff) % key.len()];
            index += 1;
        }
        pos += chunk.len();
        match inflate(&mut z, &piece[..chunk.len()], &mut file, cap) {
            Fed::More => {}
            // ClamAV reads the rest of the stored bytes, to no effect.
            end @ (Fed::End | Fed::Full) => return (file, stored.len(), end),
            Fed::Bad => return (file, pos, Fed::Bad),
        }
    }
    (file, pos, Fed::More)
}
