//! UPX's LZMA streams: raw LZMA (no header; UPX's own two bytes before
//! it are skipped by the caller) with the properties the stub holds, the
//! dictionary and the output both the size the stub gives.
//!
//! As ClamAV's decoder is driven: input that ends early leaves what was
//! decoded (the rest of the image stays as it was), an end marker before
//! the size is a normal end, and a stream the range decoder finds
//! corrupt fails the attempt.

use std::io::{ErrorKind, Read};

use lzma_rust2::LzmaReader;

/// Decodes `input` into `dest[..size]`; `None` when ClamAV's decoder
/// would report a data error.
pub(super) fn decode(
    input: &[u8],
    dest: &mut [u8],
    size: u32,
    props: u32,
) -> Option<()> {
    let (lc, lp, pb) =
        (props & 0xff, (props >> 8) & 0xff, (props >> 16) & 0xff);
    if lc >= 9 || lp >= 5 || pb >= 5 {
        return None;
    }
    if size == 0 {
        // ClamAV then reads a size from the stream and decodes nothing.
        return Some(());
    }
    let size = (size as usize).min(dest.len());
    // The size is given to the reader as unknown: an end marker before
    // it is accepted that way, and the caller stops at the size.
    let r = LzmaReader::new(
        input,
        u64::MAX,
        lc,
        lp,
        pb,
        (size as u32).max(4096),
        None,
    );
    let mut r = match r {
        Ok(r) => r,
        Err(e) => return (e.kind() == ErrorKind::UnexpectedEof).then_some(()),
    };
    r.set_defer_errors(true);
    let mut got = 0;
    while got < size {
        match r.read(&mut dest[got..size]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    Some(())
}
