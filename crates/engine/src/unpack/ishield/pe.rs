//! Where ClamAV's `cli_peheader` puts a PE's overlay, which is not quite
//! "after the section that ends last in the file":
//!
//! - sections are aligned first: raw offsets down and raw sizes up to
//!   FileAlignment (taken as 0x200 when a section with data is not
//!   aligned to it but is to 0x200), virtual addresses down to
//!   SectionAlignment; an alignment of 0 leaves values as they are;
//! - a section with data that starts at or past the end of the file is
//!   dropped (the only one: the file is broken), one that runs past the
//!   end is cut there; a field with its top bit set breaks the file;
//! - the overlay starts after the section whose virtual address plus
//!   *raw* size (in 32 bits) is the highest so far, but the first section
//!   never sets it: with one section, or when the first is highest, there
//!   is no overlay (0), and ClamAV reads none.
//!
//! Only PE32: `cli_scanpe` stops before the overlay for PE32+. The rest
//! of what makes ClamAV refuse the headers is `crate::pe`'s.

use super::{le16, le32};
use crate::pe::{self, Pe};

const SECTION_LEN: usize = 40;

/// The overlay's offset, if ClamAV reads an overlay in `data`.
pub(super) fn overlay_start(data: &[u8]) -> Option<usize> {
    if !matches!(pe::parse(data), Pe::Valid(_)) {
        return None;
    }
    let at = pe::pe_offset(data)?;
    let count = usize::from(le16(data, at + 6)?);
    let opt = at + 24;
    if le16(data, opt)? != 0x10b {
        return None;
    }
    let salign = le32(data, opt + 32)?;
    let mut falign = le32(data, opt + 36)?;
    let table = opt + usize::from(le16(data, at + 20)?);
    let table = data.get(table..table.checked_add(count * SECTION_LEN)?)?;
    let fsize = u32::try_from(data.len()).ok()?;
    let field = |s: &[u8], at| le32(s, at).unwrap_or(0);
    let sections: Vec<&[u8]> = table.chunks_exact(SECTION_LEN).collect();
    if falign != 0x200
        && sections.iter().any(|s| {
            let raw = field(s, 20);
            falign != 0
                && field(s, 16) != 0
                && !raw.is_multiple_of(falign)
                && raw.is_multiple_of(0x200)
        })
    {
        falign = 0x200;
    }
    // An alignment of 0 leaves a value as it is.
    let down = |v: u32, a: u32| v.checked_div(a).map_or(v, |q| q * a);
    let up = |v: u32, a: u32| {
        v.checked_div(a).map_or(v, |q| {
            (q + u32::from(!v.is_multiple_of(a))).wrapping_mul(a)
        })
    };
    let mut kept = sections.len();
    let mut first = true;
    let (mut max, mut start) = (0u32, 0u32);
    for s in &sections {
        let (uvsz, urva, mut ursz, uraw) =
            (field(s, 8), field(s, 12), field(s, 16), field(s, 20));
        let rva = down(urva, salign);
        let raw = down(uraw, falign);
        let mut rsz = up(ursz, falign);
        if rsz != 0 {
            if raw >= fsize || uraw >= fsize {
                if kept == 1 {
                    return None;
                }
                kept -= 1;
                continue;
            }
            if u64::from(raw) + u64::from(rsz) > u64::from(fsize) {
                rsz = fsize - raw;
            }
            if u64::from(uraw) + u64::from(ursz) > u64::from(fsize) {
                ursz = fsize - uraw;
            }
        }
        if (urva | uvsz | ursz) >> 31 != 0 || (rsz != 0 && uraw >> 31 != 0) {
            return None;
        }
        let end = rva.wrapping_add(rsz);
        if first {
            max = end;
            first = false;
        } else if end > max {
            max = end;
            start = raw.wrapping_add(rsz);
        }
    }
    let start = usize::try_from(start).ok()?;
    (start > 0 && start < data.len()).then_some(start)
}
