//! A small packer writing UPX's layout for Windows executables, for the
//! UPX tests (UPX itself is not packaged in Debian 12).
//!
//! The packed file has UPX's two sections: `UPX0`, memory only, where
//! the image is unpacked, and `UPX1`, holding the compressed stream and
//! the stub at the entry point; UPX's `UPX!` pack header (version,
//! format, method, sizes, Adler-32 checksums) sits at the end of the
//! headers. The stream is the image of the original sections, then
//! UPX's import list (here one DLL with one name) and the original PE
//! header with its section table, as UPX stores them to restore the
//! file.
//!
//! The stub is not code that runs: it has the shape scanners look for,
//! `pusha; mov esi, UPX1` at the entry point, the decompressor's first
//! bytes where UPX's are, and `lea edi, [esi + imports]` where UPX's
//! stub of that method has it. The streams are real: NRV2B, NRV2D and
//! NRV2E written by the greedy encoder below, LZMA by lzma-rust2.
//! clamscan unpacking the result is the independent check.

/// The compression method, with the stub that announces it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Nrv2b,
    Nrv2d,
    Nrv2e,
    /// LZMA with lc=3, lp=0, pb=2, written into the stub's code.
    Lzma,
    /// LZMA with other properties, which the stub stores.
    LzmaProps,
}

/// Bytes of UPX's NRV decompressors that scanners recognise, from 0x69
/// past the entry point.
const NRV2B_CODE: &[u8] = b"\x11\xdb\x11\xc9\x01\xdb\x75\x07\x8b\x1e\x83\xee\xfc\x11\xdb\x11\xc9\x11\xc9\x75\x20\x41\x01\xdb";
const NRV2D_CODE: &[u8] = b"\x83\xf0\xff\x74\x78\xd1\xf8\x89\xc5\xeb\x0b\x01\xdb\x75\x07\x8b\x1e\x83\xee\xfc\x11\xdb\x11\xc9";
const NRV2E_CODE: &[u8] = b"\xeb\x52\x31\xc9\x83\xe8\x03\x72\x11\xc1\xe0\x08\x8a\x06\x46\x83\xf0\xff\x74\x75\xd1\xf8\x89\xc5";
/// `push esi; add ebx, 4; push ebx; push eax; mov dword [ebx], ...`
/// and what follows the properties in UPX's LZMA stub.
const LZMA_HEAD: &[u8] = b"\x56\x83\xc3\x04\x53\x50\xc7\x03";
const LZMA_TAIL: &[u8] = b"\x90\x90\x90\x55\x57\x56\x53\x83";

fn u16_at(d: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(d[at..at + 2].try_into().unwrap())
}

fn u32_at(d: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(d[at..at + 4].try_into().unwrap())
}

fn put32(d: &mut [u8], at: usize, v: u32) {
    d[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn align(v: usize, a: usize) -> usize {
    v.div_ceil(a) * a
}

fn adler32(d: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in d {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    (b << 16) | a
}

/// Packs the PE32 or PE32+ executable `exe`.
pub fn pack(exe: &[u8], method: Method) -> Vec<u8> {
    let pe = u32_at(exe, 0x3c) as usize;
    assert_eq!(&exe[pe..pe + 4], b"PE\0\0", "not a PE");
    let count = usize::from(u16_at(exe, pe + 6));
    let opt_size = usize::from(u16_at(exe, pe + 20));
    let opt = pe + 24;
    let wide = u16_at(exe, opt) == 0x20b;
    let image_base =
        if wide { u32_at(exe, opt + 24) } else { u32_at(exe, opt + 28) };
    let salign = u32_at(exe, opt + 32) as usize;
    assert_eq!(salign, 0x1000, "section alignment");
    let image_size = u32_at(exe, opt + 56) as usize;
    let table = opt + opt_size;
    let first = (0..count)
        .map(|i| u32_at(exe, table + 40 * i + 12) as usize)
        .min()
        .unwrap();

    // What the stream holds: the image, the imports, the header.
    let image_len = image_size - first;
    let mut payload = vec![0u8; image_len];
    for i in 0..count {
        let s = table + 40 * i;
        let (vs, va) =
            (u32_at(exe, s + 8) as usize, u32_at(exe, s + 12) as usize);
        let (size, ptr) =
            (u32_at(exe, s + 16) as usize, u32_at(exe, s + 20) as usize);
        let n = size.min(align(vs, salign)).min(exe.len().saturating_sub(ptr));
        payload[va - first..va - first + n]
            .copy_from_slice(&exe[ptr..ptr + n]);
    }
    let imports = payload.len() as u32;
    // One DLL: its name's and its address table's offsets, then its
    // names (a type byte before each), an empty one ending them.
    payload.extend(0x10u32.to_le_bytes());
    payload.extend(0x20u32.to_le_bytes());
    payload.extend(b"\x01ExitProcess\0\x01puts\0\0");
    payload.extend(0u32.to_le_bytes());
    payload.extend_from_slice(&exe[pe..table + 40 * count]);

    let stream = match method {
        Method::Nrv2b => nrv_encode(Nrv::B, &payload),
        Method::Nrv2d => nrv_encode(Nrv::D, &payload),
        Method::Nrv2e => nrv_encode(Nrv::E, &payload),
        Method::Lzma => lzma_encode(&payload, 3, 0, 2),
        Method::LzmaProps => lzma_encode(&payload, 2, 1, 1),
    };

    // The layout: headers to 0x400, then UPX1's data.
    let vs0 = align(image_len, salign);
    let (rva0, rva1) = (first as u32, (first + vs0) as u32);
    let stub_at = align(stream.len(), 16);
    let stub = stub(
        method,
        image_base.wrapping_add(rva1),
        rva0,
        rva1,
        imports,
        payload.len() as u32,
    );
    let raw1 = align(stub_at + stub.len(), 0x200);
    let vs1 = align(raw1.max(payload.len() - image_len + salign), salign);
    let mut out = vec![0u8; 0x400 + raw1];
    out[0x400..0x400 + stream.len()].copy_from_slice(&stream);
    out[0x400 + stub_at..0x400 + stub_at + stub.len()].copy_from_slice(&stub);

    // MZ header pointing at the PE header at 0x80.
    out[..2].copy_from_slice(b"MZ");
    put32(&mut out, 0x3c, 0x80);
    let h = 0x80;
    out[h..h + 24].copy_from_slice(&exe[pe..pe + 24]);
    out[h + 6..h + 8].copy_from_slice(&2u16.to_le_bytes());
    out[h + 24..h + 24 + opt_size].copy_from_slice(&exe[opt..opt + opt_size]);
    let o = h + 24;
    put32(&mut out, o + 16, rva1 + stub_at as u32); // entry point
    put32(&mut out, o + 56, rva1 + vs1 as u32); // SizeOfImage
    put32(&mut out, o + 60, 0x400); // SizeOfHeaders
    put32(&mut out, o + 64, 0); // CheckSum
    // No data directories: the imports are in the stream.
    let dirs = if wide { 112 } else { 96 };
    out[o + dirs..o + opt_size].fill(0);
    let t = o + opt_size;
    for (i, (name, va, vs, size, ptr, chr)) in [
        (b"UPX0\0\0\0\0", rva0, vs0, 0, 0, 0xe000_0080u32),
        (b"UPX1\0\0\0\0", rva1, vs1, raw1, 0x400, 0xe000_0040),
    ]
    .into_iter()
    .enumerate()
    {
        let s = t + 40 * i;
        out[s..s + 8].copy_from_slice(name);
        put32(&mut out, s + 8, vs as u32);
        put32(&mut out, s + 12, va);
        put32(&mut out, s + 16, size as u32);
        put32(&mut out, s + 20, ptr);
        put32(&mut out, s + 36, chr);
    }
    // UPX's version string and pack header close the headers.
    let ph = 0x400 - 32;
    out[ph - 5..ph].copy_from_slice(b"4.22\0");
    out[ph..ph + 4].copy_from_slice(b"UPX!");
    let code = match method {
        Method::Nrv2b => 2,
        Method::Nrv2d => 5,
        Method::Nrv2e => 8,
        Method::Lzma | Method::LzmaProps => 14,
    };
    out[ph + 4..ph + 8].copy_from_slice(&[
        13,
        if wide { 36 } else { 9 },
        code,
        8,
    ]);
    put32(&mut out, ph + 8, adler32(&payload));
    put32(&mut out, ph + 12, adler32(&stream));
    put32(&mut out, ph + 16, payload.len() as u32);
    put32(&mut out, ph + 20, stream.len() as u32);
    put32(&mut out, ph + 24, exe.len() as u32);
    let sum: u32 = out[ph + 4..ph + 31].iter().map(|&b| u32::from(b)).sum();
    out[ph + 31] = (sum % 251) as u8;
    out
}

/// The code at the entry point.
fn stub(
    method: Method,
    esi: u32,
    rva0: u32,
    rva1: u32,
    imports: u32,
    unpacked: u32,
) -> Vec<u8> {
    let lzma = matches!(method, Method::Lzma | Method::LzmaProps);
    let mut s = vec![0x90u8; if lzma { 0xb40 } else { 0x140 }];
    // pusha; mov esi, UPX1; lea edi, [esi + (UPX0 - UPX1)]; push edi;
    // or ebp, -1; jmp short.
    s[0] = 0x60;
    s[1] = 0xbe;
    put32(&mut s, 2, esi);
    s[6..8].copy_from_slice(&[0x8d, 0xbe]);
    put32(&mut s, 8, rva0.wrapping_sub(rva1));
    s[12..18].copy_from_slice(&[0x57, 0x83, 0xcd, 0xff, 0xeb, 0x10]);
    let lea = match method {
        Method::Nrv2b => {
            s[0x69..0x69 + 24].copy_from_slice(NRV2B_CODE);
            0x108
        }
        Method::Nrv2d => {
            s[0x69..0x69 + 24].copy_from_slice(NRV2D_CODE);
            0x11c
        }
        Method::Nrv2e => {
            s[0x69..0x69 + 24].copy_from_slice(NRV2E_CODE);
            0x128
        }
        Method::Lzma => {
            put32(&mut s, 0x21, unpacked);
            s[0x2f..0x37].copy_from_slice(LZMA_HEAD);
            s[0x37..0x3b].copy_from_slice(&[3, 0, 2, 0]);
            s[0x3b..0x43].copy_from_slice(&[
                0x90, 0x90, 0x90, 0x90, 0x90, 0x55, 0x57, 0x56,
            ]);
            0xb16
        }
        Method::LzmaProps => {
            put32(&mut s, 0x2b, unpacked);
            s[0x39..0x41].copy_from_slice(LZMA_HEAD);
            s[0x41..0x45].copy_from_slice(&[2, 1, 1, 0]);
            s[0x45..0x4d].copy_from_slice(LZMA_TAIL);
            0xb16
        }
    };
    // lea edi, [esi + imports], at the place UPX's stub has it.
    s[lea - 2..lea].copy_from_slice(&[0x8d, 0xbe]);
    put32(&mut s, lea, imports);
    s
}

/// Raw LZMA after UPX's two bytes of properties.
fn lzma_encode(data: &[u8], lc: u32, lp: u32, pb: u32) -> Vec<u8> {
    use std::io::Write;
    let mut opts = lzma_rust2::LzmaOptions::with_preset(6);
    (opts.lc, opts.lp, opts.pb) = (lc, lp, pb);
    opts.dict_size = 1 << 20;
    let mut out = vec![(((lc + lp) << 3) | pb) as u8, ((lp << 4) | lc) as u8];
    let mut w = lzma_rust2::LzmaWriter::new_no_header(&mut out, &opts, false)
        .expect("LZMA writer");
    w.write_all(data).expect("LZMA");
    w.finish().expect("LZMA end");
    out
}

/// The three NRV2 formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nrv {
    B,
    D,
    E,
}

/// Control bits in 32-bit little-endian words, each placed where its
/// first bit is needed, between the literal and offset bytes.
struct BitWriter {
    out: Vec<u8>,
    slot: usize,
    used: u32,
}

impl BitWriter {
    fn bit(&mut self, b: u32) {
        if self.used == 32 {
            self.slot = self.out.len();
            self.out.extend([0; 4]);
            self.used = 0;
        }
        let w = u32_at(&self.out, self.slot) | (b << (31 - self.used));
        put32(&mut self.out, self.slot, w);
        self.used += 1;
    }

    /// Bits that take NRV2B's prefix to `x` before its stop bit.
    fn walk_b(&mut self, x: u32) {
        if x >> 1 != 1 {
            self.walk_b(x >> 1);
            self.bit(0);
        }
        self.bit(x & 1);
    }

    /// NRV2B's prefix (offsets, and long lengths in every format).
    fn gamma_b(&mut self, v: u32) {
        self.walk_b(v);
        self.bit(1);
    }

    /// Bits that take NRV2D/2E's offset prefix to `x` before its stop.
    fn walk_de(&mut self, x: u32) {
        let t = x >> 1;
        if t != 1 {
            self.walk_de((t >> 1) + 1);
            self.bit(0);
            self.bit(t & 1);
        }
        self.bit(x & 1);
    }

    fn gamma_de(&mut self, v: u32) {
        self.walk_de(v);
        self.bit(1);
    }
}

/// Compresses `data` in an NRV2 format: greedy matches of 3 bytes or
/// more from hash chains, the last offset reused when it fits.
pub fn nrv_encode(kind: Nrv, data: &[u8]) -> Vec<u8> {
    let mut w = BitWriter { out: Vec::new(), slot: 0, used: 32 };
    let far = if kind == Nrv::B { 0xd00 } else { 0x500 };
    let mut heads: std::collections::HashMap<[u8; 3], Vec<usize>> =
        std::collections::HashMap::new();
    let mut last = 0usize;
    let mut i = 0;
    while i < data.len() {
        let mut best = (0usize, 0usize);
        if i + 3 <= data.len() {
            let key: [u8; 3] = data[i..i + 3].try_into().unwrap();
            if let Some(list) = heads.get(&key) {
                for &p in list.iter().rev().take(32) {
                    let n = data[p..]
                        .iter()
                        .zip(&data[i..])
                        .take(0x1_0000)
                        .take_while(|(a, b)| a == b)
                        .count();
                    if n > best.1 || (n == best.1 && i - p == last) {
                        best = (i - p, n);
                    }
                }
            }
        }
        let (d, len) = best;
        if len < 3 {
            w.bit(1);
            w.out.push(data[i]);
            advance(&mut heads, data, i, 1);
            i += 1;
            continue;
        }
        w.bit(0);
        let is_far = u32::from(d > far);
        match kind {
            Nrv::B => {
                if d == last {
                    w.gamma_b(2);
                } else {
                    let x = (d - 1) as u32;
                    w.gamma_b((x >> 8) + 3);
                    w.out.push(x as u8);
                }
                let code = len as u32 - 1 - is_far;
                if code <= 3 {
                    w.bit(code >> 1);
                    w.bit(code & 1);
                } else {
                    w.bit(0);
                    w.bit(0);
                    w.gamma_b(code - 2);
                }
            }
            Nrv::D | Nrv::E => {
                // The first length bit rides in the offset's low bit;
                // the rest are bits, then a prefix for long matches.
                let (first, bits, gamma) = if kind == Nrv::D {
                    let code = len as u32 - 1 - is_far;
                    if code <= 3 {
                        (code >> 1, vec![code & 1], None)
                    } else {
                        (0, vec![0], Some(code - 2))
                    }
                } else {
                    let code = len as u32 - 2 - is_far;
                    if code <= 1 {
                        (1, vec![code], None)
                    } else if code <= 3 {
                        (0, vec![1, code - 2], None)
                    } else {
                        (0, vec![0], Some(code - 2))
                    }
                };
                if d == last {
                    w.gamma_de(2);
                    w.bit(first);
                } else {
                    let x = (2 * d - 1) as u32 - first;
                    w.gamma_de((x >> 8) + 3);
                    w.out.push(x as u8);
                }
                for b in bits {
                    w.bit(b);
                }
                if let Some(g) = gamma {
                    w.gamma_b(g);
                }
            }
        }
        last = d;
        advance(&mut heads, data, i, len);
        i += len;
    }
    // The end: an offset of all ones.
    w.bit(0);
    match kind {
        Nrv::B => w.gamma_b(0x100_0002),
        Nrv::D | Nrv::E => w.gamma_de(0x100_0002),
    }
    w.out.push(0xff);
    w.out
}

fn advance(
    heads: &mut std::collections::HashMap<[u8; 3], Vec<usize>>,
    data: &[u8],
    from: usize,
    n: usize,
) {
    for p in from..from + n {
        if p + 3 <= data.len() {
            heads
                .entry(data[p..p + 3].try_into().unwrap())
                .or_default()
                .push(p);
        }
    }
}

/// An NRV2B stream that never ends: one literal, then `runs` matches of
/// `len` bytes each at distance 1 (the offset every stream starts with),
/// for the bomb tests: it makes `runs * len + 1` bytes and then runs out.
pub fn nrv2b_runs(runs: usize, len: u32) -> Vec<u8> {
    let mut w = BitWriter { out: Vec::new(), slot: 0, used: 32 };
    w.bit(1);
    w.out.push(b'A');
    for _ in 0..runs {
        w.bit(0);
        w.gamma_b(2);
        w.bit(0);
        w.bit(0);
        w.gamma_b(len - 1);
    }
    w.out
}

/// Replaces the stream of a file [`pack`] made by `stream`, and claims
/// `image` bytes for UPX0.
pub fn restream(packed: &[u8], stream: &[u8], image: u32) -> Vec<u8> {
    let mut out = packed.to_vec();
    let t = 0x80 + 24 + usize::from(u16_at(packed, 0x80 + 20));
    put32(&mut out, t + 8, image);
    let raw1 = u32_at(packed, t + 40 + 16) as usize;
    let end = (0x400 + stream.len()).min(0x400 + raw1);
    out[0x400..end].copy_from_slice(&stream[..end - 0x400]);
    out
}
