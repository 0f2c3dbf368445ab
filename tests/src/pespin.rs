//! A writer of PESpin 1.1's layout as ClamAV's unpacker reads it: the
//! program's sections, then a loader section whose entry point has
//! PESpin's code and, at PESpin's fixed offsets, the constants, keys and
//! bitmaps of its layers, each layer encrypted so that peeling them in
//! PESpin's order gives the plain values back. No real loader code is
//! written (ClamAV runs none): clamscan unpacking these files is the
//! check that the layout is PESpin's.
//!
//! Compressed sections hold a stream of the aPLib variant PESpin and FSG
//! use, written with [`Stream`].

/// A section of the program.
pub struct Part {
    /// Its bytes in the file: a [`Stream`] when `compressed`.
    pub bytes: Vec<u8>,
    /// Its size in memory.
    pub vsz: u32,
    pub compressed: bool,
}

/// What to write.
pub struct Spin {
    pub parts: Vec<Part>,
    /// Every section XORed with the key made from the file's checksum.
    pub xor: bool,
    /// Every section through the polymorphic decryptor.
    pub poly: bool,
    /// A section (not compressed as a whole) whose bytes from an offset
    /// on are a stream: PESpin's compressed resources.
    pub resource: Option<(usize, u32)>,
}

const LOADER: usize = 0x3400;

/// The polymorphic decryptor's code: `add al, 0x3d; xor al, cl;
/// rol al, 3; dec al`, padded with `nop`s and a two-byte `jmp`, then
/// `stosb`.
fn poly_code() -> [u8; 0x25] {
    let mut c = [0x90u8; 0x25];
    let ops = [0x04, 0x3d, 0x32, 0xc1, 0xc0, 0xc0, 0x03, 0xfe, 0xc8, 0xeb, 0];
    c[..ops.len()].copy_from_slice(&ops);
    c[0x24] = 0xaa;
    c
}

/// The inverse of [`poly_code`] for the byte at `cl` (the count left).
fn poly_encrypt(d: &mut [u8]) {
    let n = d.len();
    for (i, b) in d.iter_mut().enumerate() {
        let cl = (n - i) as u8;
        *b = (b.wrapping_add(1).rotate_right(3) ^ cl).wrapping_sub(0x3d);
    }
}

fn shift_xor(d: &mut [u8], mut key: u32, taps: u32, on_one: bool) {
    for b in d {
        let out = key & 1 == 1;
        key >>= 1;
        if out == on_one {
            key ^= taps;
        }
        *b ^= key as u8;
    }
}

fn checksum(d: &[u8]) -> u32 {
    let (mut a, mut b) = (u32::MAX, u32::MAX);
    for &x in d {
        a = ((a ^ (u32::from(x) << 8)) >> 3) & 0x1fff_ffff;
        for _ in 0..4 {
            a = ((a ^ ((b >> 8) & 0xff)).wrapping_add(0x7801_a108) ^ b)
                .rotate_right(b & 31);
            std::mem::swap(&mut a, &mut b);
        }
    }
    b
}

fn put(d: &mut [u8], at: usize, v: u32) {
    d[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn up(v: usize, a: usize) -> usize {
    v.div_ceil(a) * a
}

/// The PESpin-protected file.
pub fn pack(spin: &Spin) -> Vec<u8> {
    let n = spin.parts.len() + 1;
    let mut file = vec![0u8; 0x400];
    file[..2].copy_from_slice(b"MZ");
    put(&mut file, 0x3c, 0x80);
    let pe = 0x80;
    file[pe..pe + 4].copy_from_slice(b"PE\0\0");
    file[pe + 4..pe + 6].copy_from_slice(&0x14cu16.to_le_bytes());
    file[pe + 6..pe + 8].copy_from_slice(&(n as u16).to_le_bytes());
    file[pe + 20..pe + 22].copy_from_slice(&0xe0u16.to_le_bytes());
    file[pe + 22..pe + 24].copy_from_slice(&0x10fu16.to_le_bytes());
    let opt = pe + 24;
    file[opt..opt + 2].copy_from_slice(&0x10bu16.to_le_bytes());
    put(&mut file, opt + 28, 0x40_0000);
    put(&mut file, opt + 32, 0x1000);
    put(&mut file, opt + 36, 0x200);
    file[opt + 40..opt + 42].copy_from_slice(&4u16.to_le_bytes());
    file[opt + 48..opt + 50].copy_from_slice(&4u16.to_le_bytes());
    put(&mut file, opt + 60, 0x400);
    file[opt + 68..opt + 70].copy_from_slice(&2u16.to_le_bytes());
    put(&mut file, opt + 92, 16);
    let table = opt + 0xe0;

    // The section table: the program's, then the loader.
    let mut rva = 0x1000usize;
    let mut raw = 0x400usize;
    let mut places = Vec::new();
    let sizes = spin
        .parts
        .iter()
        .map(|p| (p.bytes.len(), p.vsz as usize))
        .chain([(LOADER, 0x4000)]);
    for (i, (rsz, vsz)) in sizes.enumerate() {
        let h = table + 40 * i;
        file[h..h + 5].copy_from_slice(b".spin");
        put(&mut file, h + 8, vsz as u32);
        put(&mut file, h + 12, rva as u32);
        put(&mut file, h + 16, up(rsz, 0x200) as u32);
        put(&mut file, h + 20, raw as u32);
        put(&mut file, h + 36, 0xe000_0060);
        places.push((rva, raw, up(rsz, 0x200)));
        rva += up(vsz, 0x1000);
        raw += up(rsz, 0x200);
    }
    let (loader_rva, loader_raw, _) = places[n - 1];
    put(&mut file, opt + 16, loader_rva as u32);
    put(&mut file, opt + 56, rva as u32);
    file.resize(raw, 0);

    // The program's sections: compressed streams as they are, then the
    // polymorphic layer, then the XOR layer over whole raw sizes.
    let all = (1u32 << spin.parts.len()) - 1;
    let grown = spin
        .parts
        .iter()
        .enumerate()
        .filter(|(_, p)| p.compressed)
        .fold(0, |m, (i, _)| m | 1 << i);
    for (p, &(_, raw, rsz)) in spin.parts.iter().zip(&places) {
        file[raw..raw + p.bytes.len()].copy_from_slice(&p.bytes);
        if spin.poly {
            poly_encrypt(&mut file[raw..raw + rsz]);
        }
    }
    // The checksum covers the headers only, which do not change after.
    let sum = checksum(&file[..0x400]);
    let key3 = 0x1357_9bdf_u32;
    if spin.xor {
        for &(_, raw, rsz) in &places[..n - 1] {
            shift_xor(&mut file[raw..raw + rsz], key3, 0xed43_af31, false);
        }
    }

    // The loader, plain.
    let ssize = file.len();
    let mut l = vec![0u8; LOADER];
    l[..4].copy_from_slice(&[0x60, 0x90, 0x90, 0x90]);
    l[4..14].copy_from_slice(b"\xe8\x00\x00\x00\x00\x8b\x1c\x24\x83\xc3");
    l[0xdb] = 0xbb;
    let key8 = 0x91u8;
    l[0xdc] = key8;
    l[0xe0] = 0xb9;
    put(&mut l, 0xe1, 0x11fe);
    l[0x1e0] = 0xb8;
    let key2 = 0x47b3_f060;
    put(&mut l, 0x26eb, key2);
    put(&mut l, 0x26f0, 0x5a0);
    put(&mut l, 0x429, (ssize - 0x400) as u32);
    put(&mut l, 0x3217, key3.wrapping_add(sum));
    put(&mut l, 0x3207, if spin.xor { all } else { 0 });
    put(&mut l, 0x644, 0x180);
    let key4 = 0x43a8_06db;
    put(&mut l, 0x650, key4);
    put(&mut l, 0x28dd, 0x1a1);
    l[0x28ec..0x28ec + 0x25].copy_from_slice(&poly_code());
    put(&mut l, 0x6f1, if spin.poly { all } else { 0 });
    l[0x755..0x755 + 0x25].copy_from_slice(&poly_code());
    put(&mut l, 0x3061, grown);
    if let Some((j, off)) = spin.resource {
        put(&mut l, 0x2fee, places[j].0 as u32 + off);
    }
    // Encrypted from the innermost layer out.
    poly_encrypt(&mut l[0x6d4..0x6d4 + 0x1a1]);
    shift_xor(&mut l[0x28d3..0x28d3 + 0x180], key4, 0xed43_af32, true);
    shift_xor(&mut l[0x2d5..0x2d5 + 0x5a0], key2, 0x8c32_8834, true);
    let mut k = key8;
    for b in l[0x1fe5..0x1fe5 + 0x11fe].iter_mut().rev() {
        *b ^= k;
        k = k.wrapping_sub(1);
    }
    file[loader_raw..loader_raw + LOADER].copy_from_slice(&l);
    file
}

/// A stream of PESpin's aPLib variant, item by item.
pub struct Stream {
    out: Vec<u8>,
    tag: usize,
    left: u8,
}

impl Stream {
    /// A stream whose first byte (always a literal) is `first`.
    pub fn new(first: u8) -> Stream {
        Stream { out: vec![first], tag: 0, left: 0 }
    }

    fn bit(&mut self, b: bool) {
        if self.left == 0 {
            self.tag = self.out.len();
            self.out.push(0);
            self.left = 8;
        }
        self.left -= 1;
        if b {
            self.out[self.tag] |= 1 << self.left;
        }
    }

    fn gamma(&mut self, v: u32) {
        assert!(v >= 2);
        let top = 31 - v.leading_zeros();
        for i in (0..top).rev() {
            self.bit(v >> i & 1 == 1);
            self.bit(i != 0);
        }
    }

    pub fn literal(&mut self, b: u8) {
        self.bit(false);
        self.out.push(b);
    }

    pub fn literals(&mut self, d: &[u8]) {
        for &b in d {
            self.literal(b);
        }
    }

    /// A match of 2 or 3 bytes at distance 1 to 127.
    pub fn short(&mut self, dist: u8, len: u8) {
        for b in [true, true, false] {
            self.bit(b);
        }
        self.out.push(dist << 1 | (len - 2));
    }

    /// A match of `len` bytes at the last distance: only right after a
    /// literal.
    pub fn repeat(&mut self, len: u32) {
        self.bit(true);
        self.bit(false);
        self.gamma(2);
        self.gamma(len);
    }

    /// The end marker; the stream's bytes.
    pub fn end(mut self) -> Vec<u8> {
        for b in [true, true, false] {
            self.bit(b);
        }
        self.out.push(0);
        self.out
    }

    /// The bytes so far, with no end marker.
    pub fn unended(self) -> Vec<u8> {
        self.out
    }
}

/// `data` as a stream of literals.
pub fn compress(data: &[u8]) -> Vec<u8> {
    let mut s = Stream::new(data[0]);
    s.literals(&data[1..]);
    s.end()
}
