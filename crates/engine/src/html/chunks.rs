//! How ClamAV's HTML reader cuts a page into the pieces its normaliser
//! reads: where they fall shows in the normalised output.

use std::borrow::Cow;

use super::is_space;

/// The most ClamAV's normaliser reads at once.
pub(super) const CHUNK: usize = 8191;

/// ClamAV's reads of a page (its HTML reader's): at most 8191 bytes
/// that are not NUL (NULs never reach the normaliser; where there are
/// some, the read goes on past them), cut back to just after the last
/// white space when the next byte is not white space (a NUL is not).
/// The cut moves the reader back by the bytes given up, NULs not
/// counted, so that after a cut among NULs some input is never read:
/// ClamAV's way, kept because where the reads fall shows in the output.
pub(crate) fn reader_chunks(
    data: &[u8],
) -> impl Iterator<Item = Cow<'_, [u8]>> {
    let mut off = 0;
    std::iter::from_fn(move || {
        if off >= data.len() {
            return None;
        }
        let window = &data[off..data.len().min(off + CHUNK)];
        let (mut chunk, next): (Cow<'_, [u8]>, usize) =
            match memchr::memchr(0, window) {
                None => (Cow::Borrowed(window), off + window.len()),
                Some(p) => {
                    let mut c = window[..p].to_vec();
                    let mut at = off + p;
                    while at < data.len() && c.len() < CHUNK {
                        if data[at] != 0 {
                            c.push(data[at]);
                        }
                        at += 1;
                    }
                    (Cow::Owned(c), at)
                }
            };
        off = next;
        if next < data.len() && !is_space(data[next]) {
            let back =
                chunk.iter().rposition(|&b| is_space(b)).map_or(0, |p| p + 1);
            if back > 1 && back < chunk.len() {
                off -= chunk.len() - back;
                match &mut chunk {
                    Cow::Borrowed(b) => *b = &b[..back],
                    Cow::Owned(o) => o.truncate(back),
                }
            }
        }
        Some(chunk)
    })
}
