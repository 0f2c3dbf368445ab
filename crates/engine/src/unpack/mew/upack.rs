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
    /// The decoder's saved state, followed by its counters.
    state: u64,
    /// Output start and end.
    start: u64,
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
    if (st.start as i64) > (st.end as i64) {
        return None;
    }
    decode(mem, st.state, st.start, st.end, st.shift, st.stream)?;
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
        let p = add(st.start, i);
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
    let size = st.end.wrapping_sub(st.start) as u32;
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

/// A VA in one of the stub's words as an offset into the buffer, the
/// three ways the unpacker forms such pointers: the 32-bit difference
/// (`rel`), both sides widened first (`wide`), or the word taken as
/// signed (`signed`). They differ only for addresses below the base,
/// which then fall outside the buffer at different places.
fn rel(va: u32, base: u32) -> u64 {
    u64::from(va.wrapping_sub(base))
}

fn wide(va: u32, base: u32) -> u64 {
    u64::from(va).wrapping_sub(u64::from(base))
}

fn signed(va: u32, base: u32) -> u64 {
    adds(0, va as i32).wrapping_sub(u64::from(base))
}

/// The byte at `at` if it is in the buffer with `room` bytes from it.
fn opcode(mem: &Mem, at: u64, room: u64) -> Option<u8> {
    if mem.has(at, room) { mem.get(at) } else { None }
}

/// Where the three-section stub keeps things, by the form of its entry
/// code. The entry code is `mov esi, info` then either `lodsd; push
/// eax` and a short jump to the loader (the older form) or `push dword
/// [esi]` and a near jump (the newer one). The loader sets `ch` to the
/// number of 256-counter blocks (`mov ch, n`) and jumps to the
/// decoder; `mov esi` (and in the newer form `mov edi`) in the loader
/// name the parameter words the decoder starts from.
struct ThreeForm {
    /// Bytes from the operand of `mov ch` to the jump to the decoder.
    to_decoder_jump: u64,
    /// Parameter words copied in front of the state.
    words: u64,
    /// After the words: where the output's end VA and the number of
    /// calls to turn back are.
    end_at: u64,
    calls_at: u64,
    /// Bytes from the call-fixing code (the near jump's target plus
    /// 27) to the byte calls are marked with (the operand of a `cmp
    /// al`), added after the 32-bit jump arithmetic.
    mark_at: u64,
}

/// From the near jump out of the decoder's head: 5 bytes of jump, 27
/// more to the `cmp al` of the call-fixing code.
const TO_CMP: u64 = 5 + 27;

const OLDER_THREE: ThreeForm = ThreeForm {
    to_decoder_jump: 8,
    words: 0x27,
    end_at: 0x34,
    calls_at: 4,
    mark_at: 0,
};

const NEWER_THREE: ThreeForm = ThreeForm {
    to_decoder_jump: 10,
    words: 0x16,
    end_at: 0x64,
    calls_at: 0x40,
    mark_at: 2,
};

/// The decoder's head comes in two builds: where its `jecxz` to the
/// call-fixing code is, how far past that jump's target the near jump
/// to the `cmp al, mark` is, and where `shr ebp, n` (the literal
/// context shift) is.
struct Head {
    jecxz: u64,
    fix_jump: u64,
    shr: u64,
}

const HEADS: [Head; 2] = [
    Head { jecxz: 42, fix_jump: 8, shr: 24 },
    Head { jecxz: 45, fix_jump: 7, shr: 26 },
];

/// The three-section stub: the info block `mov esi` names at the entry
/// point holds the program's entry VA and (older form) the VA the
/// decoder's state goes to; the rest is found by following the stub's
/// jumps.
fn setup_three(mem: &mut Mem, a: &Args<'_>) -> Option<Setup> {
    let (vma, ep, base) = (a.vma, u64::from(a.ep_off), a.base);
    let newer = a.ep[5] == 0xff && a.ep[6] == 0x36;
    let form = if newer { &NEWER_THREE } else { &OLDER_THREE };
    let info = rel(pe32::u32_at(a.ep, 1)?, vma);
    if !mem.has(info, 12) {
        return None;
    }
    let entry = mem.rd(info)?.wrapping_sub(vma);
    let (loader, blocks_op, mut head);
    if newer {
        if opcode(mem, ep + 7, 5)? != 0xe9 {
            return None;
        }
        loader = adds(ep, mem.rd(ep + 8)? as i32).wrapping_add(0xc);
        blocks_op = loader.wrapping_add(0x25);
    } else {
        if opcode(mem, ep + 0xa, 2)? != 0xeb {
            return None;
        }
        let disp = mem.get(ep + 0xb)?;
        loader = adds(ep, i32::from(disp as i8)).wrapping_add(0xc);
        // A second short jump leads to `mov ch`, ten bytes past its
        // target.
        let hop = loader.wrapping_add(0x1a);
        if opcode(mem, hop, 2)? != 0xeb {
            return None;
        }
        blocks_op = hop + 2 + u64::from(mem.get(hop + 1)?) + 0xa;
    }
    if opcode(mem, blocks_op, 2)? != 0xb5 {
        return None;
    }
    let blocks = u32::from(mem.get(blocks_op + 1)?);
    let jump = blocks_op + 1 + form.to_decoder_jump;
    if !mem.has(blocks_op + 1, form.to_decoder_jump + 5)
        || mem.get(jump)? != 0xe9
    {
        return None;
    }
    head = (jump + 5).wrapping_add(u64::from(mem.rd(jump + 1)?)) as u32;
    if !newer && mem.get(loader.wrapping_add(0x1b))? >= 0x80 {
        // ClamAV finds `mov ch` with the second short jump's
        // displacement unsigned but the decoder with it signed; a
        // backward hop puts the head 256 bytes earlier, and files are
        // accepted or refused by what is found there.
        head = head.wrapping_sub(0x100);
    }
    let (layout, jecxz) = HEADS
        .iter()
        .map(|h| (h, add(h.jecxz, head)))
        .find(|&(_, at)| opcode(mem, at, 2) == Some(0xe3))?;
    let target = jecxz + 2 + u64::from(mem.get(jecxz + 1)?);
    let fix = target + layout.fix_jump;
    if !mem.has(target, layout.fix_jump + 5) || mem.get(fix)? != 0xe9 {
        return None;
    }
    let rel32 = mem.rd(fix + 1)?;
    let mark =
        add(target, rel32.wrapping_add((layout.fix_jump + TO_CMP) as u32))
            .wrapping_add(form.mark_at);
    let shr = add(layout.shr, head);
    if !mem.has(shr, 3) || mem.get(shr)? != 0xc1 || mem.get(shr + 1)? != 0xed {
        return None;
    }
    let shift = u32::from(mem.get(shr + 2)?);
    if !(2..=8).contains(&shift) {
        return None;
    }
    let counters = blocks * 0x100;
    let (params, state_to) = if newer {
        // `mov esi, params` (a VA from the base, not past the image's
        // start) and `mov edi, state`.
        let movs = loader.wrapping_add(6);
        if opcode(mem, movs, 10)? != 0xbe || mem.get(movs + 5)? != 0xbf {
            return None;
        }
        let params_va = mem.rd(movs + 1)?;
        if params_va < base || params_va > vma {
            return None;
        }
        (rel(params_va, base), rel(mem.rd(movs + 6)?, vma))
    } else {
        let mov = loader.wrapping_add(7);
        if opcode(mem, mov, 5)? != 0xbe {
            return None;
        }
        (rel(mem.rd(mov + 1)?, vma), rel(mem.rd(info + 8)?, vma))
    };
    let words = form.words * 4;
    if !mem.has(state_to, words + 24 + 4 * u64::from(counters))
        || !mem.has(params, words + form.end_at + 4)
    {
        return None;
    }
    for k in (0..words).step_by(4) {
        let v = mem.rd(params + k)?;
        mem.wr(state_to + k, v)?;
    }
    let state = state_to + words;
    let after = params + words;
    // The state and counters may overlap the parameters: each word is
    // read before or after they are written, as the stub reads it.
    let older_calls = mem.rd(after + OLDER_THREE.calls_at)?;
    let stream = wide(mem.rd(state - 4)?, vma);
    init_counters(mem, state, counters)?;
    let start = if newer {
        wide(vma, base)
    } else {
        signed(mem.rd(after + 0xc)?, vma)
    };
    let end = signed(mem.rd(after + form.end_at)?, vma);
    let calls =
        if newer { mem.rd(after + form.calls_at)? } else { older_calls };
    Some(Setup {
        state,
        start,
        end,
        shift,
        stream,
        entry,
        calls: Count::Now(calls),
        mark,
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

/// Offsets from the entry point in the two-section stubs: the near jump
/// to the program, the operand of `mov ch` (256-counter blocks), the
/// literal context bits (8 less the shift), the byte calls are marked
/// with.
struct TwoForm {
    entry_jump: u64,
    blocks: u64,
    context_bits: u64,
    mark: u64,
}

/// Upack 1.1 and 1.2 (`mov esi; lodsd; mov edi, eax` at the entry).
const TWO_V11: TwoForm = TwoForm {
    entry_jump: 0x1a4,
    blocks: 0x1b,
    context_bits: 0x41,
    mark: 0x184,
};

/// Upack 0.39 with two sections (`pusha; call $+9`).
const TWO_V039: TwoForm = TwoForm {
    entry_jump: 0x217,
    blocks: 0x3a,
    context_bits: 0x5f,
    mark: 0x1c1,
};

/// The headers' words Upack 1.1/1.2 reads its parameters from: the
/// state's VA (less 4), the stream's, the output's start and end.
const V11_STATE: u64 = 0x148;
const V11_STREAM: u64 = 0x14c;
const V11_START: u64 = 0x150;
const V11_END: u64 = 0x130;
/// Where the number of calls to turn back is, from the entry point.
const V11_CALLS: u64 = 0x174;

/// The two-section stubs, read at fixed offsets from the entry point.
fn setup_two(mem: &mut Mem, a: &Args<'_>) -> Option<Setup> {
    let stub = u64::from(a.vma) + u64::from(a.ep_off);
    let v11 = a.ep[0] == 0xbe
        && a.ep[5] == 0xad
        && a.ep[6] == 0x8b
        && a.ep[7] == 0xf8;
    let form = if v11 { &TWO_V11 } else { &TWO_V039 };
    if !mem.has(stub, form.entry_jump + 4) {
        return None;
    }
    let after_jump = stub.wrapping_add(form.entry_jump + 4) as u32;
    let entry = after_jump.wrapping_add(mem.rd(stub + form.entry_jump)?);
    let blocks = u32::from(mem.get(stub + form.blocks)?);
    let shift =
        8u32.wrapping_sub(u32::from(mem.get(stub + form.context_bits)?));
    if !(2..=8).contains(&shift) {
        return None;
    }
    let counters = blocks * 0x100;
    let mark = stub + form.mark;
    if v11 {
        let state = signed(mem.rd(V11_STATE)?, a.base).wrapping_add(4);
        let stream = wide(mem.rd(V11_STREAM)?, a.base);
        if !mem.has(state, (6 + u64::from(counters)) * 4) {
            return None;
        }
        init_counters(mem, state, counters)?;
        return Some(Setup {
            state,
            start: signed(mem.rd(V11_START)?, a.base),
            end: signed(mem.rd(V11_END)?, a.base),
            shift,
            stream,
            entry,
            calls: Count::After(stub + V11_CALLS),
            mark,
        });
    }
    setup_two_v039(mem, stub, a.base, counters, entry, shift, mark)
}

/// Upack 0.39's two-section stub finds its parameter block through a
/// displacement 6 bytes into the code (which it then clears). The block
/// holds its own VA (so its distance from where it was meant to be,
/// `moved`), the VA its words are copied to, their count and the words.
/// At the copy: a count of words to skip, the output's start VA, the
/// parameters the decoder is given (its end VA at +0x24 from them, the
/// number of calls at +0x40); past the skipped words the counters'
/// first value, and 0x14 bytes on the state, whose word before holds
/// the stream's VA.
fn setup_two_v039(
    mem: &mut Mem,
    stub: u64,
    base: u32,
    counters: u32,
    entry: u32,
    shift: u32,
    mark: u64,
) -> Option<Setup> {
    let disp_at = stub + 6;
    let back = mem.rd(disp_at)?;
    mem.wr(disp_at, 0)?;
    if back == 0 {
        return None;
    }
    let block = (stub + 4).wrapping_sub(u64::from(back.wrapping_sub(2)));
    if !mem.has(block, 12) {
        return None;
    }
    let moved = block.wrapping_sub(signed(mem.rd(block)?, base)) as u32;
    let copy = signed(mem.rd(block + 4)?, base);
    let n = mem.rd(block + 8)? as i32;
    if n < 0 {
        return None;
    }
    if (u64::from(counters) + n as u64) * 4 > u64::from(u32::MAX) {
        return None;
    }
    // The sizes wrap as the 32-bit products they are in the stub.
    let words_len = n.wrapping_mul(4) as i64 as u64;
    let with_counters =
        n.wrapping_add(counters as i32).wrapping_mul(4) as i64 as u64;
    let words = block + 12;
    if !mem.has(words, words_len) || !mem.has(copy, with_counters) {
        return None;
    }
    let mut to = copy;
    for k in 0..n as u64 {
        let v = mem.rd(words + 4 * k)?;
        mem.wr(to, v)?;
        to += 4;
    }
    if !mem.has(copy, 8) {
        return None;
    }
    let skip = match mem.rd(copy)? {
        0 => 1u64 << 32,
        k => u64::from(k),
    };
    let out_va = copy + 4;
    let fill_at = out_va.wrapping_add(skip.wrapping_mul(u64::from(moved) + 4));
    if !mem.has(fill_at, 4) {
        return None;
    }
    let fill = mem.rd(fill_at)?;
    for _ in 0..counters {
        mem.wr(to, fill)?;
        to += 4;
    }
    let fixup = fill_at.wrapping_add(4 + 0x10);
    if !mem.has(fixup, 4) {
        return None;
    }
    let v = mem.rd(fixup)?.wrapping_add(moved);
    mem.wr(fixup, v)?;
    let state = fixup + 4;
    let start = wide(mem.rd(out_va)?, base);
    let params = out_va + 4;
    if !mem.has(state.wrapping_sub(4), 28)
        || !mem.has(params.wrapping_add(0x24), 4)
        || !mem.has(params.wrapping_add(0x40), 4)
    {
        return None;
    }
    let stream = signed(mem.rd(state - 4)?, base);
    let end = signed(mem.rd(params + 0x24)?, base);
    // Range and low are stored the other way round.
    let (x, y) = (mem.rd(state)?, mem.rd(state + 4)?);
    mem.wr(state, y)?;
    mem.wr(state + 4, x)?;
    Some(Setup {
        state,
        start,
        end,
        shift,
        stream,
        entry,
        calls: Count::After(params + 0x40),
        mark,
    })
}
