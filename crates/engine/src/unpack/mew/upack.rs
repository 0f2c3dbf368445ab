//! Upack-packed PE32 executables (0.39 with two or three sections, 1.1
//! and 1.2, and two variants ClamAV knows from samples). The image is
//! laid out as the stub lays it out: the headers and first section's
//! data at the start (moved to the third section's place for the
//! three-section layout), the second section's data at its address. The
//! stub's code is then followed from the entry point to the decoder's
//! parameters (context bits, table sizes, where the counters and the
//! stream are), Upack's LZMA variant decodes in place, and the calls
//! and jumps it turned absolute are turned back as the stub would.

use super::super::pe32::{self, Exe, Piece};
use super::super::{Sink, Unpacked};
use super::upack_lzma::decode;
use super::{Mem, add, adds, empty_section, ep_bytes};

/// The ways Upack lays out its stub, as ClamAV tells them apart.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Version {
    V039,
    V0151477,
    V0297729,
}

pub(crate) fn upack<'s>(pe: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let Some(exe) = Exe::read(pe) else { return out };
    let opt_size = pe32::u16_at(pe, exe.e_lfanew as usize + 20).unwrap_or(0);
    let three = opt_size == 0x148;
    let found = empty_section(&exe).is_some();
    let ep = ep_bytes(pe, &exe);
    if ep.len() < 168 || !(found || three) {
        return out;
    }
    let base = exe.image_base;
    let esi = pe32::u32_at(ep, 1).unwrap_or(0);
    let n = exe.sections.len();
    let mov_esi = ep[0] == 0xbe;
    let shape = if three {
        n == 3
            && mov_esi
            && esi.wrapping_sub(base) > exe.min
            && ((ep[5] == 0xad && ep[6] == 0x50)
                || (ep[5] == 0xff && ep[6] == 0x36))
    } else {
        n == 2
            && ((ep[0] == 0x60
                && ep[1] == 0xe8
                && pe32::u32_at(ep, 2) == Some(9))
                || (mov_esi
                    && esi.wrapping_sub(base) < exe.min
                    && (esi as i32) > (base as i32)
                    && ep[5] == 0xad
                    && ep[6] == 0x8b
                    && ep[7] == 0xf8))
    };
    if !shape {
        return out;
    }
    let s = &exe.sections;
    let (c, ssize, off, vma) = if three {
        (
            s[2].vsz,
            s[0].ursz.wrapping_add(s[0].uraw),
            s[0].rva,
            base.wrapping_add(s[0].rva),
        )
    } else {
        (s[1].rva, s[1].uraw, 0, s[1].rva.wrapping_sub(s[1].uraw))
    };
    let dsize = s[0].vsz.wrapping_add(s[1].vsz).wrapping_add(c);
    if !out.room(u64::from(dsize.max(ssize).max(s[1].ursz))) {
        return out;
    }
    let within = |size: u32, at: u32, n: u32| {
        let (size, at, n) = (u64::from(size), u64::from(at), u64::from(n));
        size > 0 && n > 0 && n <= size && at + n <= size && at < size
    };
    if !within(dsize, s[1].rva.wrapping_sub(off), s[1].ursz)
        || (three && !within(dsize, s[2].rva.wrapping_sub(s[0].rva), ssize))
        || ssize > dsize
        || u64::from(dsize) > pe32::MAX_ALLOCATION
    {
        return out;
    }
    let Some(head) = pe.get(..ssize as usize) else { return out };
    let mut mem = Mem { b: vec![0u8; dsize as usize] };
    mem.b[..head.len()].copy_from_slice(head);
    if three {
        // Moved, not cleared: the start keeps what it had.
        let to = s[2].rva.wrapping_sub(s[0].rva) as usize;
        mem.b.copy_within(..head.len(), to);
    }
    let at = s[1].rva.wrapping_sub(off) as usize;
    let Some(data) =
        pe.get(s[1].uraw as usize..(s[1].uraw + s[1].ursz) as usize)
    else {
        return out;
    };
    mem.b[at..at + data.len()].copy_from_slice(data);
    let args = Args { three, ep, vma, ep_off: exe.ep, base, va: s[0].rva };
    if let Some(file) = unupack(&mut mem, &args) {
        out.push("Upack-unpacked".into(), file);
    }
    out
}

/// What `cli_scanpe` hands Upack's unpacker.
struct Args<'a> {
    three: bool,
    /// The bytes at the entry point.
    ep: &'a [u8],
    vma: u32,
    /// The entry point's file offset.
    ep_off: u32,
    base: u32,
    /// The first section's RVA.
    va: u32,
}

/// Where the stub leaves the decoder.
struct Setup {
    /// Counters and the saved state.
    ebx: u64,
    /// Output start and end.
    edi: u64,
    end: u64,
    shift: u32,
    /// The stream.
    stream: u64,
    /// The entry point of the unpacked program.
    entry: u32,
    /// Calls to turn back, and where the byte they are marked with is.
    calls: Count,
    mark: u64,
}

/// The number of calls to fix, read before or after decoding.
enum Count {
    Now(u32),
    After(u64),
}

fn byte(mem: &Mem, at: u64) -> Option<u8> {
    mem.get(at)
}

fn unupack(mem: &mut Mem, a: &Args<'_>) -> Option<Vec<u8>> {
    let st = if a.three { setup_three(mem, a)? } else { setup_two(mem, a)? };
    if (st.edi as i64) > (st.end as i64) {
        return None;
    }
    decode(mem, st.ebx, st.edi, st.end, st.shift, st.stream)?;
    let mut left = match st.calls {
        Count::Now(n) => n,
        Count::After(at) => mem.rd(at)?,
    };
    if !mem.has(st.mark, 1) {
        return None;
    }
    let mark = byte(mem, st.mark)?;
    let mut i: u32 = 0;
    while left != 0 {
        let p = add(st.edi, i);
        if !mem.has(p, 1) {
            return None;
        }
        if matches!(byte(mem, p)?, 0xe8 | 0xe9) {
            let adr = p.wrapping_add(1);
            i = i.wrapping_add(1);
            if !mem.has(adr, 4) {
                return None;
            }
            let v = mem.rd(adr)?;
            if v as u8 != mark {
                continue;
            }
            let fixed =
                (v & 0xffff_ff00).swap_bytes().wrapping_sub(i).wrapping_sub(4);
            mem.wr(adr, fixed)?;
            i = i.wrapping_add(4);
            left -= 1;
        } else {
            i = i.wrapping_add(1);
        }
    }
    let size = st.end.wrapping_sub(st.edi) as u32;
    let dsize = mem.b.len() as u64;
    let from = if a.three {
        if u64::from(size) > dsize {
            return None;
        }
        0
    } else {
        if u64::from(a.va.wrapping_add(size)) > dsize {
            return None;
        }
        a.va as usize
    };
    let image = mem.b.get(from..)?;
    let piece = Piece { rva: a.va, vsz: size, raw: 0, rsz: size };
    pe32::rebuild(image, &[piece], a.base, st.entry, (0, 0), 0)
}

/// The three-section layouts: the stub's data is found through the
/// `mov esi` at the entry point, its code through its jumps.
fn setup_three(mem: &mut Mem, a: &Args<'_>) -> Option<Setup> {
    let (vma, ep, base) = (a.vma, u64::from(a.ep_off), a.base);
    let mut ver = if a.ep[5] == 0xff && a.ep[6] == 0x36 {
        Version::V0297729
    } else {
        Version::V039
    };
    let mut esi = u64::from(pe32::u32_at(a.ep, 1)?.wrapping_sub(vma));
    if !mem.has(esi, 12) {
        return None;
    }
    let entry = mem.rd(esi)?.wrapping_sub(vma);
    esi += 8;
    let mut edi = 0;
    let (mut al, lngjmp);
    if ver == Version::V039 {
        edi = u64::from(mem.rd(esi)?.wrapping_sub(vma));
        if !mem.has(ep + 0xa, 2) || byte(mem, ep + 0xa)? != 0xeb {
            return None;
        }
        esi =
            adds(ep, i32::from(byte(mem, ep + 0xb)? as i8)).wrapping_add(0xc);
        al = esi.wrapping_add(0x1a);
        if !mem.has(al, 2) || byte(mem, al)? != 0xeb {
            return None;
        }
        al += 1;
        al += u64::from(byte(mem, al)?) + 1 + 0xa;
        lngjmp = 8;
    } else {
        if !mem.has(ep + 7, 5) || byte(mem, ep + 7)? != 0xe9 {
            return None;
        }
        esi =
            adds(ep.wrapping_add(0), mem.rd(ep + 8)? as i32).wrapping_add(0xc);
        al = esi.wrapping_add(0x25);
        lngjmp = 10;
    }
    if !mem.has(al, 2) || byte(mem, al)? != 0xb5 {
        return None;
    }
    al += 1;
    let count = u32::from(byte(mem, al)?);
    if !mem.has(al, lngjmp + 5) || byte(mem, al + lngjmp)? != 0xe9 {
        return None;
    }
    let jmp = mem.rd(al + lngjmp + 1)?;
    let head = if ver == Version::V039 {
        let d = i64::from(byte(mem, esi.wrapping_add(0x1b))? as i8);
        (i64::from(jmp) + esi as i64 + d + 0x34) as u32
    } else {
        (i64::from(jmp) + esi as i64 + 0x35) as u32
    };
    // The `jecxz` 43 or 46 bytes into the decoder.
    let (mut aljump, mut shroff) = (8u64, 24u64);
    al = add(42, head);
    if !mem.has(al, 2) || byte(mem, al)? != 0xe3 {
        al = add(45, head);
        if !mem.has(al, 2) || byte(mem, al)? != 0xe3 {
            return None;
        }
        if ver != Version::V0297729 {
            ver = Version::V0151477;
        }
        aljump = 7;
        shroff = 26;
    }
    al += 1;
    al += u64::from(byte(mem, al)?) + 1;
    if !mem.has(al, aljump + 5) || byte(mem, al + aljump)? != 0xe9 {
        return None;
    }
    let rel = mem.rd(al + aljump + 1)?;
    al = add(al, rel.wrapping_add(aljump as u32 + 32));
    if ver == Version::V0297729 {
        al = al.wrapping_add(2);
    }
    let shr = add(shroff, head);
    if !mem.has(shr, 3)
        || byte(mem, shr)? != 0xc1
        || byte(mem, shr + 1)? != 0xed
    {
        return None;
    }
    let shift = u32::from(byte(mem, shr + 2)?);
    let count = count * 0x100;
    if !(2..=8).contains(&shift) {
        return None;
    }
    if ver == Version::V0297729 {
        if !mem.has(esi.wrapping_add(6), 10)
            || byte(mem, esi + 6)? != 0xbe
            || byte(mem, esi + 11)? != 0xbf
        {
            return None;
        }
        let v = mem.rd(esi + 7)?;
        if v < base || v > vma {
            return None;
        }
        edi = u64::from(mem.rd(esi + 12)?.wrapping_sub(vma));
        esi = u64::from(v.wrapping_sub(base));
    } else {
        if !mem.has(esi.wrapping_add(7), 5) || byte(mem, esi + 7)? != 0xbe {
            return None;
        }
        esi = u64::from(mem.rd(esi + 8)?.wrapping_sub(vma));
    }
    let (words, tail) = if ver == Version::V0297729 {
        (0x16u64, 0x64u64)
    } else {
        (0x27, 0x34)
    };
    if !mem.has(edi, words * 4 + 24 + 4 * u64::from(count))
        || !mem.has(esi, words * 4 + tail + 4)
    {
        return None;
    }
    for _ in 0..words {
        let v = mem.rd(esi)?;
        mem.wr(edi, v)?;
        esi += 4;
        edi += 4;
    }
    let mut calls = mem.rd(esi + 4)?;
    let stream = u64::from(mem.rd(edi - 4)?).wrapping_sub(u64::from(vma));
    let ebx = edi;
    init_counters(mem, edi, count)?;
    let mut start =
        adds(0, mem.rd(esi + 0xc)? as i32).wrapping_sub(u64::from(vma));
    if ver == Version::V0297729 {
        start = u64::from(vma).wrapping_sub(u64::from(base));
    }
    let end;
    if ver == Version::V0297729 {
        end = adds(0, mem.rd(esi + 0x64)? as i32).wrapping_sub(u64::from(vma));
        calls = mem.rd(esi + 0x40)?;
    } else {
        end = adds(0, mem.rd(esi + 0x34)? as i32).wrapping_sub(u64::from(vma));
    }
    Some(Setup {
        ebx,
        edi: start,
        end,
        shift,
        stream,
        entry,
        calls: Count::Now(calls),
        mark: al,
    })
}

/// The decoder's saved state (range, low, four distances) and its
/// counters, as the stub sets them.
fn init_counters(mem: &mut Mem, at: u64, count: u32) -> Option<()> {
    let mut p = at;
    for v in [u32::MAX, 0, 1, 1, 1, 1] {
        mem.wr(p, v)?;
        p += 4;
    }
    for _ in 0..count {
        mem.wr(p, 0x400)?;
        p += 4;
    }
    Some(())
}

/// The two-section layouts: the stub follows the entry point at fixed
/// offsets.
fn setup_two(mem: &mut Mem, a: &Args<'_>) -> Option<Setup> {
    let base = u64::from(a.base);
    let mut esi = u64::from(a.vma) + u64::from(a.ep_off);
    let v11 = a.ep[0] == 0xbe
        && a.ep[5] == 0xad
        && a.ep[6] == 0x8b
        && a.ep[7] == 0xf8;
    let (jmp, rep, ctx, al) = if v11 {
        (0x1a4u64, 0x1bu64, 0x41u64, esi + 0x184)
    } else {
        (0x217, 0x3a, 0x5f, esi + 0x1c1)
    };
    if !mem.has(esi, jmp + 4) {
        return None;
    }
    let rel = mem.rd(esi + jmp)?;
    let entry = (esi.wrapping_add(jmp + 4) as u32).wrapping_add(rel);
    let count = u32::from(byte(mem, esi + rep)?);
    let shift = 8u32.wrapping_sub(u32::from(byte(mem, esi + ctx)?));
    if !(2..=8).contains(&shift) {
        return None;
    }
    let count = count * 0x100;
    let (ebx, edi, end, stream, calls);
    if !v11 {
        esi += 4;
        let n = mem.rd(esi + 2)?;
        mem.wr(esi + 2, 0)?;
        if n == 0 {
            return None;
        }
        esi = esi.wrapping_sub(u64::from(n.wrapping_sub(2)));
        if !mem.has(esi, 12) {
            return None;
        }
        let delta = esi
            .wrapping_sub(adds(0, mem.rd(esi)? as i32).wrapping_sub(base))
            as u32;
        esi += 4;
        let save2 = adds(0, mem.rd(esi)? as i32).wrapping_sub(base);
        let mut edi_ = save2;
        esi += 4;
        let j = mem.rd(esi)? as i32;
        if j < 0 {
            return None;
        }
        esi += 4;
        if (u64::from(count) + j as u64) * 4 > u64::from(u32::MAX) {
            return None;
        }
        let j4 = j.wrapping_mul(4) as i64 as u64;
        let jc4 = j.wrapping_add(count as i32).wrapping_mul(4) as i64 as u64;
        if !mem.has(esi, j4) || !mem.has(edi_, jc4) {
            return None;
        }
        for _ in 0..j {
            let v = mem.rd(esi)?;
            mem.wr(edi_, v)?;
            edi_ += 4;
            esi += 4;
        }
        if !mem.has(save2, 8) {
            return None;
        }
        let loops = mem.rd(save2)?;
        let save2 = save2 + 4;
        let loops = if loops == 0 { 1u64 << 32 } else { u64::from(loops) };
        esi = save2.wrapping_add(loops.wrapping_mul(u64::from(delta) + 4));
        if !mem.has(esi, 4) {
            return None;
        }
        let fill = mem.rd(esi)?;
        esi += 4;
        for _ in 0..count {
            mem.wr(edi_, fill)?;
            edi_ += 4;
        }
        if !mem.has(esi.wrapping_add(0x10), 4) {
            return None;
        }
        let v = mem.rd(esi + 0x10)?.wrapping_add(delta);
        mem.wr(esi + 0x10, v)?;
        ebx = esi + 0x14;
        esi = save2;
        let out = u64::from(mem.rd(esi)?).wrapping_sub(base);
        esi += 4;
        if !mem.has(ebx.wrapping_sub(4), 28)
            || !mem.has(esi.wrapping_add(0x24), 4)
            || !mem.has(esi.wrapping_add(0x40), 4)
        {
            return None;
        }
        stream = adds(0, mem.rd(ebx - 4)? as i32).wrapping_sub(base);
        edi = out;
        end = adds(0, mem.rd(esi + 0x24)? as i32).wrapping_sub(base);
        let (x, y) = (mem.rd(ebx)?, mem.rd(ebx + 4)?);
        mem.wr(ebx, y)?;
        mem.wr(ebx + 4, x)?;
        calls = Count::After(esi + 0x40);
    } else {
        let t = mem.rd(0x148)?;
        let save_edi = adds(0, t as i32).wrapping_sub(base);
        stream = u64::from(mem.rd(0x14c)?).wrapping_sub(base);
        ebx = save_edi.wrapping_add(4);
        if !mem.has(ebx, (6 + u64::from(count)) * 4) {
            return None;
        }
        init_counters(mem, ebx, count)?;
        edi = adds(0, mem.rd(0x150)? as i32).wrapping_sub(base);
        end = adds(0, mem.rd(0x130)? as i32).wrapping_sub(base);
        calls = Count::After(u64::from(a.vma) + u64::from(a.ep_off) + 0x174);
    }
    Some(Setup { ebx, edi, end, shift, stream, entry, calls, mark: al })
}
