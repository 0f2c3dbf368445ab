//! FSG-packed PE32 files (FSG 2.0, 1.33 and 1.31), unpacked as ClamAV's
//! `cli_scanpe` unpacks them and rebuilt into a PE scanned as a new
//! file (one child).
//!
//! FSG shares UPX's layout: a section with memory and no data (where
//! the program is unpacked) followed by one with both (the packed data
//! and FSG's stub). The version is told by the first instruction at the
//! entry point: `xchg [addr], esp` for 2.0, whose fake stack gives the
//! source, destination, and a table holding the original entry point;
//! `mov esi, addr` (1.33) or `mov ebx/edi/esi` (1.31) pointing into the
//! headers' padding, where a table lists the start of each original
//! section. The data is one stream (2.0) or one per section (1.3x) of
//! FSG's LZ77 with bit-coded lengths; the sections are sorted by
//! address and rebuilt ([`pe32::rebuild`]). Data that unpacks but cannot
//! be rebuilt is scanned as it is, as ClamAV scans it.
//!
//! Where ClamAV gives up on the whole file (sizes that do not add up or
//! past the limits, data it cannot read), the executable phase ends
//! there too: no later unpacker tries the file.

use super::pe32::{self, Exe, Piece, u32_at};
use super::{Sink, Unpacked};

/// ClamAV reads 4 KiB at the entry point and goes no further than its
/// unpackers with fewer than this many.
const MIN_EP: usize = 168;

/// One section to rebuild: its address, and where its bytes are in the
/// unpacked data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Sect {
    rva: u32,
    raw: u32,
    rsz: u32,
}

/// What a version's stub says: the packed stream, the sections'
/// addresses (1.3x) and the entry point.
struct Plan {
    /// Offset of the stream in the packed section.
    from: usize,
    /// The first section's address; for 1.3x the others' after it.
    rvas: Vec<u32>,
    /// Each section a stream of its own (1.3x) or one stream (2.0).
    per_section: bool,
    ep: u32,
}

pub(crate) fn fsg<'s>(pe: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let Some(exe) = Exe::read(pe) else { return out };
    // A section with memory and no data, followed by one with both.
    let Some(i) = exe.sections.windows(2).position(|w| {
        w[0].rsz == 0 && w[0].vsz != 0 && w[1].rsz != 0 && w[1].vsz != 0
    }) else {
        return out;
    };
    let Some(ep) = pe.get(exe.ep as usize..).filter(|d| d.len() >= MIN_EP)
    else {
        return out;
    };
    let (s0, s1) = (exe.sections[i], exe.sections[i + 1]);
    let base = exe.image_base;
    let at = |o: usize| u32_at(ep, o).unwrap_or(0);
    let plan = if ep[0] == 0x87 && ep[1] == 0x25 {
        v200(pe, &exe, i, &mut out)
    } else if ep[0] == 0xbe && at(1).wrapping_sub(base) < exe.min {
        v133(pe, &exe, i, ep, &mut out)
    } else if ep[0] == 0xbb
        && at(1).wrapping_sub(base) < exe.min
        && ep[5] == 0xbf
        && ep[10] == 0xbe
        && exe.vep >= s1.rva
        && exe.vep - s1.rva > s1.rva.wrapping_sub(0xe0)
    {
        v131(pe, &exe, i, ep, &mut out)
    } else {
        None
    };
    let Some(plan) = plan else { return out };
    let ssize = s1.rsz as usize;
    let dsize = s0.vsz as usize;
    let Some(src) = pe.get(s1.raw as usize..s1.raw as usize + ssize) else {
        // Unreadable section data ends ClamAV's PE scan.
        out.ends_executable = true;
        return out;
    };
    let Some(src) = src.get(plan.from..) else { return out };
    let mut dest = vec![0u8; dsize];
    let sects = if plan.per_section {
        let mut sects = Vec::with_capacity(plan.rvas.len());
        let (mut s, mut d) = (0, 0);
        for &rva in &plan.rvas {
            let Some((ns, nd)) = unfsg(src, s, &mut dest, d) else {
                return out;
            };
            sects.push(Sect { rva, raw: d as u32, rsz: (nd - d) as u32 });
            (s, d) = (ns, nd);
        }
        sects
    } else {
        if unfsg(src, 0, &mut dest, 0).is_none() {
            return out;
        }
        vec![Sect { rva: plan.rvas[0], raw: 0, rsz: dsize as u32 }]
    };
    let rebuilt = if plan.per_section {
        layout(sects, dsize as u32)
            .and_then(|p| pe32::rebuild(&dest, &p, base, plan.ep, (0, 0), 0))
    } else {
        let p = Piece {
            rva: plan.rvas[0],
            vsz: dsize as u32,
            raw: 0,
            rsz: dsize as u32,
        };
        pe32::rebuild(&dest, &[p], base, plan.ep, (0, 0), 0)
    };
    match rebuilt {
        Some(file) => out.push("fsg-unpacked".into(), file),
        // Unpacked but not rebuilt: ClamAV scans the data itself.
        None => out.push("fsg-unpacked".into(), dest),
    }
    out
}

/// The sections in address order (equal addresses keep their order,
/// as in ClamAV's exchange sort), each as large in memory as the gap to
/// the next, the last what is left of `dsize`. `None` where ClamAV's
/// rebuild gives up for their number.
fn layout(mut s: Vec<Sect>, dsize: u32) -> Option<Vec<Piece>> {
    if s.len() > pe32::MAX_SECTIONS {
        return None;
    }
    s.sort_by_key(|x| x.rva);
    let mut last = dsize;
    let mut pieces = Vec::with_capacity(s.len());
    for (k, x) in s.iter().enumerate() {
        let vsz = match s.get(k + 1) {
            Some(n) => {
                last = last.wrapping_sub(n.rva.wrapping_sub(x.rva));
                n.rva.wrapping_sub(x.rva)
            }
            None => last,
        };
        pieces.push(Piece { rva: x.rva, vsz, raw: x.raw, rsz: x.rsz });
    }
    Some(pieces)
}

/// `len` bytes at `at` lie within `whole` bytes at `start`, neither
/// empty (ClamAV's bounds test).
fn inside(start: u64, whole: u64, at: u64, len: u64) -> bool {
    whole > 0 && len > 0 && at >= start && at + len <= start + whole
}

/// Ends the executable phase (ClamAV returns from its PE scan here)
/// and gives up.
fn end<T>(out: &mut Unpacked<'_>) -> Option<T> {
    out.ends_executable = true;
    None
}

/// The sizes ClamAV checks first: past the limits or not adding up,
/// its PE scan ends.
fn sizes(exe: &Exe, i: usize, out: &mut Unpacked<'_>) -> Option<()> {
    let (ssize, dsize) = (exe.sections[i + 1].rsz, exe.sections[i].vsz);
    if !out.room(u64::from(dsize.max(ssize)))
        || ssize <= 0x19
        || dsize <= ssize
    {
        return end(out);
    }
    Some(())
}

/// FSG 2.0: `xchg [addr], esp` swaps in a stack of the unpacker's
/// registers, inside the packed section.
fn v200(
    pe: &[u8],
    exe: &Exe,
    i: usize,
    out: &mut Unpacked<'_>,
) -> Option<Plan> {
    let (s0, s1) = (exe.sections[i], exe.sections[i + 1]);
    let base = exe.image_base;
    sizes(exe, i, out)?;
    let (rva, rsz) = (u64::from(s1.rva), u64::from(s1.rsz));
    let ep = pe.get(exe.ep as usize..)?;
    let in_src = |v: u32, n: u64| {
        let v = u64::from(v);
        (v >= rva && inside(rva, rsz, v, n)).then(|| (v - rva) as usize)
    };
    let esp = u32_at(ep, 2)?.wrapping_sub(base);
    let at = in_src(esp, 4)?;
    let Some(src) = pe.get(s1.raw as usize..s1.raw as usize + s1.rsz as usize)
    else {
        return end(out);
    };
    let esp = u32_at(src, at)?.wrapping_sub(base);
    let at = in_src(esp, 32)?;
    let r = |o: usize| u32_at(src, at + o).map(|v| v.wrapping_sub(base));
    let (edi, esi, ebx) = (r(0)?, r(4)?, r(16)?);
    if edi != s0.rva || esi < s1.rva || esi - s1.rva >= s1.rsz {
        return None;
    }
    let table = in_src(ebx, 16)?;
    let oep = u32_at(src, table + 12)?.wrapping_sub(base);
    Some(Plan {
        from: (esi - s1.rva) as usize,
        rvas: vec![edi],
        per_section: false,
        ep: oep,
    })
}

/// The table in the headers' padding that `mov esi/ebx, addr` points
/// at: its offset in the file and its length up to the packed section.
fn support(
    pe: &[u8],
    exe: &Exe,
    i: usize,
    addr: u32,
    out: &mut Unpacked<'_>,
) -> Option<(usize, usize)> {
    let rva = addr.wrapping_sub(exe.image_base);
    // Only the headers map here (ClamAV's `cli_rawaddr` with no
    // sections).
    if rva >= exe.hdr_size || rva as usize >= pe.len() {
        return None;
    }
    let gp = exe.sections[i + 1].raw.wrapping_sub(rva);
    // Past the limits, or nothing to read (ClamAV's map refuses zero
    // bytes), or past the end: ClamAV's PE scan ends.
    if !out.room(u64::from(gp))
        || gp == 0
        || pe.get(rva as usize..rva as usize + gp as usize).is_none()
    {
        return end(out);
    }
    Some((rva as usize, gp as usize))
}

/// FSG 1.33: the table holds the unpacker's `ebx`, `edi`, `esi`, then
/// each further section's address + 1, then zero.
fn v133(
    pe: &[u8],
    exe: &Exe,
    i: usize,
    ep: &[u8],
    out: &mut Unpacked<'_>,
) -> Option<Plan> {
    let (s0, s1) = (exe.sections[i], exe.sections[i + 1]);
    let base = exe.image_base;
    sizes(exe, i, out)?;
    let (t, gp) = support(pe, exe, i, u32_at(ep, 1)?, out)?;
    let r = |o: usize| u32_at(pe, t + o);
    let edi = r(4)?.wrapping_sub(base);
    let esi = r(8)?.wrapping_sub(base);
    if esi < s1.rva || esi - s1.rva >= s1.rsz || edi != s0.rva {
        return None;
    }
    let mut rvas = vec![edi];
    let mut k = 12usize;
    // `gp - 4` is unsigned in ClamAV: a table shorter than four bytes
    // reads on until a zero.
    let end = gp.wrapping_sub(4);
    while k < end {
        let v = r(k)?;
        if v == 0 {
            break;
        }
        let rva = v.wrapping_sub(base.wrapping_add(1));
        rvas.push(rva);
        if rva < s0.rva || rva - s0.rva >= s0.vsz {
            break;
        }
        k += 4;
    }
    if k >= end || r(k)? != 0 {
        return None;
    }
    let oep = exe.vep.wrapping_add(167).wrapping_add(u32_at(ep, 163)?);
    Some(Plan {
        from: (esi - s1.rva) as usize,
        rvas,
        per_section: true,
        ep: oep,
    })
}

/// FSG 1.31: `mov ebx, table; mov edi, dest; mov esi, source`; the
/// table holds 16-bit page numbers + 2 of the further sections, then 1
/// or 2.
fn v131(
    pe: &[u8],
    exe: &Exe,
    i: usize,
    ep: &[u8],
    out: &mut Unpacked<'_>,
) -> Option<Plan> {
    let (s0, s1) = (exe.sections[i], exe.sections[i + 1]);
    let base = exe.image_base;
    let esi = u32_at(ep, 11)?.wrapping_sub(base);
    let edi = u32_at(ep, 6)?.wrapping_sub(base);
    let rva = u32_at(ep, 1)?.wrapping_sub(base);
    if rva >= exe.hdr_size || rva as usize >= pe.len() {
        return None;
    }
    // ClamAV compares with the section's file offset here.
    if esi < s1.rva || esi - s1.rva >= s1.raw || edi != s0.rva {
        return None;
    }
    sizes(exe, i, out)?;
    let (t, gp) = support(pe, exe, i, u32_at(ep, 1)?, out)?;
    // ClamAV reads the table as signed bytes.
    let word = |k: usize| -> Option<u32> {
        let lo = i32::from(*pe.get(t + k)? as i8);
        let hi = i32::from(*pe.get(t + k + 1)? as i8);
        Some((lo | (hi << 8)) as u32)
    };
    let page = |w: u32| (w.wrapping_sub(2) << 12).wrapping_sub(base);
    let mut rvas = vec![edi];
    let mut k = 0usize;
    let end = gp.wrapping_sub(2);
    while k < end {
        let w = word(k)?;
        if w == 1 || w == 2 {
            break;
        }
        let rva = page(w);
        rvas.push(rva);
        if rva < s0.rva || rva - s0.rva >= s0.vsz {
            break;
        }
        k += 2;
    }
    if k >= gp.wrapping_sub(10) || u32_at(pe, t + k + 6)? != 2 {
        return None;
    }
    let gp = 0xda + if ep[16] == 0xe8 { 6 } else { 0 };
    let at = s1.raw as usize + gp + 2 + (exe.vep - s1.rva) as usize;
    // Read from ClamAV's map of the file: zeros past its end.
    let mut jump = [0u8; 4];
    for (k, b) in jump.iter_mut().enumerate() {
        *b = pe.get(at + k).copied().unwrap_or(0);
    }
    let oep = exe
        .vep
        .wrapping_add(gp as u32 + 6)
        .wrapping_add(u32::from_le_bytes(jump));
    Some(Plan {
        from: (esi - s1.rva) as usize,
        rvas,
        per_section: true,
        ep: oep,
    })
}

/// One bit of FSG's bit stream, refilled from `src` a byte at a time
/// (never from its last byte, as in ClamAV).
fn bit(src: &[u8], s: &mut usize, tag: &mut u8) -> Option<u32> {
    let mut old = *tag;
    *tag = tag.wrapping_mul(2);
    if old & 0x7f == 0 {
        if *s + 1 >= src.len() {
            return None;
        }
        old = src[*s];
        *tag = old.wrapping_mul(2).wrapping_add(1);
        *s += 1;
    }
    Some(u32::from(old >> 7))
}

/// A number in FSG's gamma code: bits after a leading 1, each followed
/// by a flag saying whether another comes.
fn gamma(src: &[u8], s: &mut usize, tag: &mut u8) -> Option<u32> {
    let mut v = 1u32;
    loop {
        v = v.wrapping_mul(2).wrapping_add(bit(src, s, tag)?);
        if bit(src, s, tag)? == 0 {
            return Some(v);
        }
    }
}

/// Unpacks one stream from `src[s0..]` into `dest[d0..]`; returns where
/// both ended. Back-references reach only into this stream's output.
fn unfsg(
    src: &[u8],
    s0: usize,
    dest: &mut [u8],
    d0: usize,
) -> Option<(usize, usize)> {
    let src = src.get(s0..).filter(|s| !s.is_empty())?;
    let dest_all = dest;
    let dest = dest_all.get_mut(d0..).filter(|d| !d.is_empty())?;
    let mut tag = 0x80u8;
    let (mut s, mut d) = (1usize, 1usize);
    dest[0] = src[0];
    let mut last = 0u32;
    // 1 unless the last token was a match of two bytes or more: the
    // distance's high part is coded one larger then.
    let mut after_literal = 1u32;
    loop {
        if bit(src, &mut s, &mut tag)? == 0 {
            // A literal.
            *dest.get_mut(d)? = *src.get(s)?;
            (s, d) = (s + 1, d + 1);
            after_literal = 1;
            continue;
        }
        let (len, dist);
        if bit(src, &mut s, &mut tag)? == 1 {
            if bit(src, &mut s, &mut tag)? == 1 {
                // A byte from up to 15 back, or a zero.
                let mut v = 0x10u32;
                while v < 0x100 {
                    v = v * 2 + bit(src, &mut s, &mut tag)?;
                }
                after_literal = 1;
                let v = v & 0xff;
                if v == 0 {
                    *dest.get_mut(d)? = 0;
                    d += 1;
                    continue;
                }
                (len, dist) = (1, v);
            } else {
                // A short match: 7 bits of distance and one of length;
                // distance zero ends the stream.
                let b = u32::from(*src.get(s)?);
                s += 1;
                if b >> 1 == 0 {
                    break;
                }
                (len, dist) = ((b & 1) + 2, b >> 1);
                last = dist;
                after_literal = 0;
            }
        } else {
            let high =
                gamma(src, &mut s, &mut tag)?.wrapping_sub(1 + after_literal);
            if high == 0 {
                // The last distance again.
                (len, dist) = (gamma(src, &mut s, &mut tag)?, last);
            } else {
                let b = u32::from(*src.get(s)?);
                s += 1;
                let v = b.wrapping_add(high.wrapping_sub(1) << 8);
                let mut n = gamma(src, &mut s, &mut tag)?;
                n = n
                    .wrapping_add(u32::from(v >= 0x7d00))
                    .wrapping_add(u32::from(v >= 0x500))
                    .wrapping_add(if v <= 0x7f { 2 } else { 0 });
                (len, dist) = (n, v);
                last = v;
            }
            after_literal = 0;
        }
        let (len, dist) = (len as usize, dist as usize);
        let n = dest.len() as u64;
        if !inside(0, n, d as u64, len as u64)
            || d < dist
            || !inside(0, n, (d - dist) as u64, len as u64)
        {
            return None;
        }
        for k in d..d + len {
            dest[k] = dest[k - dist];
        }
        d += len;
    }
    Some((s0 + s, d0 + d))
}

#[cfg(test)]
mod tests;
