//! A small FSG 2.0 packer for tests: the layout ClamAV's unpacker
//! reads (an empty section for the program, then one holding the packed
//! stream and the unpacker's fake stack, the entry point's `xchg
//! [addr], esp` pointing at it), the stream made of literals and
//! runs of one byte.

fn put(f: &mut [u8], at: usize, v: u32) {
    f[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// FSG's bit stream: bits MSB first in tag bytes, each tag placed where
/// the decoder first needs one of its bits.
struct Bits {
    out: Vec<u8>,
    tag: usize,
    used: u32,
}

impl Bits {
    fn bit(&mut self, b: bool) {
        if self.used == 8 {
            self.tag = self.out.len();
            self.out.push(0);
            self.used = 0;
        }
        if b {
            self.out[self.tag] |= 0x80 >> self.used;
        }
        self.used += 1;
    }
}

/// `data` as FSG's stream: literals, and for repeats of the byte before
/// short matches at distance 1 of 2 or 3 bytes; then the end mark.
pub fn stream(data: &[u8]) -> Vec<u8> {
    let mut b = Bits { out: vec![data[0]], tag: 0, used: 8 };
    let mut i = 1;
    while i < data.len() {
        let n = data[i..]
            .iter()
            .take(3)
            .take_while(|&&x| x == data[i - 1])
            .count();
        if n >= 2 {
            let len = if n >= 3 { 3 } else { 2 };
            // 1, 1, 0: a short match; its byte: distance 1, length bit.
            for x in [true, true, false] {
                b.bit(x);
            }
            b.out.push((1 << 1) | (len - 2) as u8);
            i += len;
        } else {
            b.bit(false);
            b.out.push(data[i]);
            i += 1;
        }
    }
    for x in [true, true, false] {
        b.bit(x);
    }
    b.out.push(0);
    b.out
}

/// Where [`pack`] put things, for tests that damage them.
pub struct Layout {
    /// File offset of the packed section and of the stub's data in it.
    pub section: usize,
    pub stub: usize,
    /// File offset of the empty section's header.
    pub empty_header: usize,
}

const BASE: u32 = 0x40_0000;

/// A PE with FSG's two sections: `FSG0` at 0x1000 with `dsize` bytes
/// of memory and no data, `FSG1` after it holding `data` at file offset
/// 0x200 and `stub` at `at` in it, where the entry point is. Returns
/// the file and FSG1's address.
fn two_sections(
    data: &[u8],
    dsize: u32,
    stub: &[u8],
    at: usize,
) -> (Vec<u8>, u32) {
    two_sections_at(data, dsize, 0x1000 + dsize, stub, at)
}

/// [`two_sections`] with `FSG1` at `s1_rva`.
fn two_sections_at(
    data: &[u8],
    dsize: u32,
    s1_rva: u32,
    stub: &[u8],
    at: usize,
) -> (Vec<u8>, u32) {
    let rsz = (at + stub.len().max(0x400)).next_multiple_of(0x200);
    let mut f = vec![0u8; 0x200 + rsz];
    f[..2].copy_from_slice(b"MZ");
    f[0x3c] = 0x80;
    f[0x80..0x84].copy_from_slice(b"PE\0\0");
    f[0x84..0x86].copy_from_slice(&0x14cu16.to_le_bytes());
    f[0x86..0x88].copy_from_slice(&2u16.to_le_bytes());
    f[0x94..0x96].copy_from_slice(&0xe0u16.to_le_bytes());
    f[0x96..0x98].copy_from_slice(&0x102u16.to_le_bytes());
    let opt = 0x98;
    f[opt..opt + 2].copy_from_slice(&0x10bu16.to_le_bytes());
    put(&mut f, opt + 16, s1_rva + at as u32);
    put(&mut f, opt + 28, BASE);
    put(&mut f, opt + 32, 0x1000);
    put(&mut f, opt + 36, 0x200);
    f[opt + 40..opt + 42].copy_from_slice(&4u16.to_le_bytes());
    f[opt + 48..opt + 50].copy_from_slice(&4u16.to_le_bytes());
    put(&mut f, opt + 56, (s1_rva + rsz as u32).next_multiple_of(0x1000));
    put(&mut f, opt + 60, 0x200);
    f[opt + 68..opt + 70].copy_from_slice(&2u16.to_le_bytes());
    put(&mut f, opt + 92, 16);
    let t = opt + 0xe0;
    f[t..t + 4].copy_from_slice(b"FSG0");
    put(&mut f, t + 8, dsize);
    put(&mut f, t + 12, 0x1000);
    put(&mut f, t + 36, 0xe000_0080);
    f[t + 40..t + 44].copy_from_slice(b"FSG1");
    put(&mut f, t + 40 + 8, rsz as u32);
    put(&mut f, t + 40 + 12, s1_rva);
    put(&mut f, t + 40 + 16, rsz as u32);
    put(&mut f, t + 40 + 20, 0x200);
    put(&mut f, t + 40 + 36, 0xe000_0040);
    f[0x200..0x200 + data.len()].copy_from_slice(data);
    f[0x200 + at..0x200 + at + stub.len()].copy_from_slice(stub);
    (f, s1_rva)
}

/// `payload` packed as FSG 2.0 packs a program whose image is the
/// payload at 0x1000 and whose entry point is `oep`; the memory of the
/// empty section twice the payload's size.
pub fn pack(payload: &[u8], oep: u32) -> (Vec<u8>, Layout) {
    pack_stream(&stream(payload), payload.len(), oep)
}

/// [`pack`] with a stream of the caller's.
pub fn pack_stream(stream: &[u8], size: usize, oep: u32) -> (Vec<u8>, Layout) {
    let dsize = (size as u32 * 2).next_multiple_of(0x1000);
    let at = stream.len().next_multiple_of(16);
    // The stub's data: the fake stack at +0, the entry point at +0x40,
    // the slot `xchg` reads at +0x80, the table at +0x100.
    let (mut f, s1_rva) = two_sections(stream, dsize, &[0; 0x400], at);
    let s1 = 0x200;
    let va = |off: usize| BASE + s1_rva + off as u32;
    let ep = s1 + at + 0x40;
    put(&mut f, 0x98 + 16, s1_rva + at as u32 + 0x40);
    // xchg [slot], esp; the slot holds the fake stack's address, the
    // stack edi (destination), esi (source) and ebx (a table whose
    // fourth entry is the original entry point).
    f[ep..ep + 2].copy_from_slice(&[0x87, 0x25]);
    put(&mut f, ep + 2, va(at + 0x80));
    put(&mut f, s1 + at + 0x80, va(at));
    put(&mut f, s1 + at, BASE + 0x1000);
    put(&mut f, s1 + at + 4, va(0));
    put(&mut f, s1 + at + 16, va(at + 0x100));
    put(&mut f, s1 + at + 0x10c, BASE + oep);
    (f, Layout { section: s1, stub: s1 + at, empty_header: 0x98 + 0xe0 })
}

/// Where FSG 1.33's table goes: after the section table, in the
/// headers' padding.
const TABLE: u32 = 0x1d0;

/// `sections` (address, bytes; the first at 0x1000) packed as FSG 1.33
/// packs them: one stream each, in the order given, the table in the
/// headers' padding after the section table listing the first's address as the
/// unpacker's `edi`, the stream's as its `esi`, then each further
/// section's address + 1 and a zero; the entry point's `mov esi, table`
/// and, 163 bytes in, the jump to `oep`.
pub fn pack_133(sections: &[(u32, &[u8])], oep: u32) -> Vec<u8> {
    assert_eq!(sections[0].0, 0x1000);
    let mut data = Vec::new();
    for (_, bytes) in sections {
        data.extend_from_slice(&stream(bytes));
    }
    let end =
        sections.iter().map(|(rva, b)| rva + b.len() as u32).max().unwrap();
    let dsize = (end - 0x1000 + data.len() as u32).next_multiple_of(0x1000);
    let at = data.len().next_multiple_of(16);
    let mut stub = vec![0x90u8; 0x200];
    stub[0] = 0xbe;
    stub[1..5].copy_from_slice(&(BASE + TABLE).to_le_bytes());
    let (mut f, s1_rva) = two_sections(&data, dsize, &stub, at);
    let vep = s1_rva + at as u32;
    put(&mut f, 0x200 + at + 163, oep.wrapping_sub(vep + 167));
    let table = TABLE as usize;
    put(&mut f, table + 4, BASE + 0x1000);
    put(&mut f, table + 8, BASE + s1_rva);
    for (k, (rva, _)) in sections[1..].iter().enumerate() {
        put(&mut f, table + 12 + 4 * k, BASE + rva + 1);
    }
    assert!(table + 16 + 4 * sections.len() <= 0x200, "table fits");
    f
}

/// `sections` packed in FSG 1.31's layout as ClamAV reads it: `mov ebx,
/// table; mov edi, first; mov esi, stream` at the entry point, the table
/// of 16-bit page numbers + 2 in the headers' padding ended by a 1 whose
/// dword six bytes on is 2, and the jump to `oep` 0xda (or 0xe0 with a
/// call at +16) bytes in. ClamAV wants the entry point further into the
/// packed section than the section's address less 0xe0, so the packed
/// section (at 0x2000) overlaps the empty one's memory. `words` replaces
/// the table's page numbers when given.
pub fn pack_131(
    sections: &[(u32, &[u8])],
    oep: u32,
    call: bool,
    words: Option<&[u16]>,
) -> Vec<u8> {
    assert_eq!(sections[0].0, 0x1000);
    let mut data = Vec::new();
    for (_, bytes) in sections {
        data.extend_from_slice(&stream(bytes));
    }
    let dsize = 0x10000u32;
    let s1_rva = 0x2000u32;
    let at = 0x1f40usize;
    assert!(data.len() < at, "streams fit before the stub");
    let mut stub = vec![0x90u8; 0x200];
    stub[0] = 0xbb;
    stub[1..5].copy_from_slice(&(BASE + TABLE).to_le_bytes());
    stub[5] = 0xbf;
    stub[6..10].copy_from_slice(&(BASE + 0x1000).to_le_bytes());
    stub[10] = 0xbe;
    stub[11..15].copy_from_slice(&(BASE + s1_rva).to_le_bytes());
    if call {
        stub[16] = 0xe8;
    }
    let gp = if call { 0xe0 } else { 0xda };
    let (mut f, _) = two_sections_at(&data, dsize, s1_rva, &stub, at);
    let vep = s1_rva + at as u32;
    put(&mut f, 0x98 + 16, vep);
    put(&mut f, 0x200 + at + gp + 2, oep.wrapping_sub(vep + gp as u32 + 6));
    let table = TABLE as usize;
    let own: Vec<u16> = sections[1..]
        .iter()
        .map(|(rva, _)| (((BASE + rva) >> 12) + 2) as u16)
        .collect();
    let words = words.unwrap_or(&own);
    for (k, w) in words.iter().enumerate() {
        f[table + 2 * k..table + 2 * k + 2].copy_from_slice(&w.to_le_bytes());
    }
    let k = table + 2 * words.len();
    f[k..k + 2].copy_from_slice(&1u16.to_le_bytes());
    put(&mut f, k + 6, 2);
    assert!(k + 10 < 0x200, "table fits");
    f
}
