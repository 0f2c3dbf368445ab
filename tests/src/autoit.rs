//! A small writer of compiled AutoIt resources for the tests (no AutoIt
//! compiler is packaged in Debian), after the layout AutoIt writes and
//! ClamAV (`libclamav/autoit.c`) reads: the 16-byte subtype marker,
//! `AU3!EA05` or `AU3!EA06`, 16 key bytes, then resources, each the
//! encrypted tag `FILE`, two encrypted strings behind masked lengths, a
//! compression flag, masked sizes and checksum, two file times and the
//! encrypted data. Compressed data is `EA05`/`EA06`, a big-endian size
//! and an LZ77 bit stream made by a greedy matcher here. EA06 scripts
//! are tokens (see [`Token`]).
//!
//! The ciphers are written from their definitions (MT19937 for EA05, a
//! RanRot generator for EA06), apart from the engine's; clamscan reading
//! what this writes is what shows both right.
//!
//! The engine's unit tests include this file too: it needs std alone.

/// The subtype marker AutoIt puts before `AU3!EA0x`.
pub const MARKER: [u8; 16] = [
    0xa3, 0x48, 0x4b, 0xbe, 0x98, 0x6c, 0x4a, 0xa9, 0x99, 0x4c, 0x53, 0x0a,
    0x86, 0xd6, 0x48, 0x7d,
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Version {
    Ea05,
    Ea06,
}

/// One step of a compressed stream.
#[derive(Clone, Copy, Debug)]
pub enum Op {
    Literal(u8),
    /// `len` bytes from `distance` back (1 to 32767; 0 is accepted by
    /// the readers too).
    Copy {
        distance: u16,
        len: u32,
    },
}

/// How a resource's data is stored.
#[derive(Clone, Debug)]
pub enum Packing {
    Stored,
    /// Compressed by the greedy matcher.
    Compressed,
    /// These steps, and this size in the stream's header.
    Ops {
        claimed: u32,
        ops: Vec<Op>,
    },
}

#[derive(Clone, Debug)]
pub struct Resource {
    /// The first string: `>>>AUTOIT SCRIPT<<<` (EA06's script),
    /// `>AUTOIT SCRIPT<` (EA05's), or an installed file's source path.
    pub kind: String,
    /// The path it was compiled from.
    pub name: String,
    /// The content (for EA06's script, its tokens).
    pub data: Vec<u8>,
    pub packing: Packing,
}

impl Resource {
    /// The script of `v`: text for EA05, tokens for EA06.
    pub fn script(v: Version, data: Vec<u8>) -> Resource {
        let kind = match v {
            Version::Ea05 => ">AUTOIT SCRIPT<",
            Version::Ea06 => ">>>AUTOIT SCRIPT<<<",
        };
        Resource {
            kind: kind.into(),
            name: "C:\\build\\script.au3".into(),
            data,
            packing: Packing::Compressed,
        }
    }

    /// A file put in by `FileInstall("source", ...)`.
    pub fn file(source: &str, data: Vec<u8>) -> Resource {
        Resource {
            kind: source.into(),
            name: source.into(),
            data,
            packing: Packing::Compressed,
        }
    }
}

/// Bytes of `r` after the marker's key: its tag, strings, header, data.
fn resource(v: Version, data_seed: u32, r: &Resource) -> Vec<u8> {
    let (tag_seed, masks, seeds, size_mask, sum_mask) = match v {
        Version::Ea05 => {
            (0x16fa, [0x29bc, 0x29ac], [0xa25e, 0xf25e], 0x45aa, 0xc3d2)
        }
        Version::Ea06 => {
            (0x18ee, [0xadbc, 0xf820], [0xb33f, 0xf479], 0x87bc, 0xa685)
        }
    };
    let mut out = b"FILE".to_vec();
    encrypt(v, &mut out, tag_seed);
    for (i, s) in [&r.kind, &r.name].into_iter().enumerate() {
        let (len, mut bytes) = match v {
            Version::Ea05 => (s.len() as u32, s.as_bytes().to_vec()),
            Version::Ea06 => {
                let units: Vec<u16> = s.encode_utf16().collect();
                (
                    units.len() as u32,
                    units.iter().flat_map(|u| u.to_le_bytes()).collect(),
                )
            }
        };
        encrypt(v, &mut bytes, len.wrapping_add(seeds[i]));
        out.extend((len ^ masks[i]).to_le_bytes());
        out.extend(bytes);
    }
    let (flag, mut body) = match &r.packing {
        Packing::Stored => (0u8, r.data.clone()),
        // AutoIt stores an empty file as nothing at all.
        Packing::Compressed if r.data.is_empty() => (1, Vec::new()),
        Packing::Compressed => (1, compress(v, &r.data)),
        Packing::Ops { claimed, ops } => (1, stream(v, *claimed, ops)),
    };
    out.push(flag);
    out.extend((body.len() as u32 ^ size_mask).to_le_bytes());
    out.extend((r.data.len() as u32 ^ size_mask).to_le_bytes());
    out.extend((adler32(&r.data) ^ sum_mask).to_le_bytes());
    // Creation and last write times (FILETIME), unread by the readers.
    out.extend(0x01d0_0000_0000_0000u64.to_le_bytes());
    out.extend(0x01d0_0000_0000_0000u64.to_le_bytes());
    encrypt(v, &mut body, data_seed);
    out.extend(body);
    out
}

/// The resources, from the marker on: what the type pattern matches.
pub fn payload(v: Version, resources: &[Resource]) -> Vec<u8> {
    let mut out = MARKER.to_vec();
    out.extend(match v {
        Version::Ea05 => b"AU3!EA05",
        Version::Ea06 => b"AU3!EA06",
    });
    // EA05 keys its data with these bytes' sum; EA06 ignores them.
    let key: Vec<u8> =
        (0..16u8).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect();
    let seed = match v {
        Version::Ea05 => {
            0x22af + key.iter().map(|&b| u32::from(b)).sum::<u32>()
        }
        Version::Ea06 => 0x2477,
    };
    out.extend(&key);
    for r in resources {
        out.extend(resource(v, seed, r));
    }
    // What follows the last resource in AutoIt's files: no tag.
    out.extend(b"AU3!EA06");
    out
}

/// A host executable with `payload` appended, as AutoIt appends its
/// script to its interpreter.
pub fn executable(host: &[u8], payload: &[u8]) -> Vec<u8> {
    [host, payload].concat()
}

/// Adler-32, the checksum AutoIt stores.
fn adler32(d: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in d {
        a = (a + u32::from(x)) % 65521;
        b = (b + a) % 65521;
    }
    b << 16 | a
}

/// The cipher of `v` keyed by `seed` over `buf` (its own inverse).
pub fn encrypt(v: Version, buf: &mut [u8], seed: u32) {
    match v {
        Version::Ea05 => {
            // MT19937 from its definition; each byte is an output >> 1.
            let mut mt = [0u32; 624];
            mt[0] = seed;
            for i in 1..624 {
                mt[i] = 1_812_433_253u32
                    .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                    .wrapping_add(i as u32);
            }
            let mut idx = 624;
            for b in buf {
                if idx == 624 {
                    for k in 0..624 {
                        let y = (mt[k] & 0x8000_0000)
                            | (mt[(k + 1) % 624] & 0x7fff_ffff);
                        mt[k] = mt[(k + 397) % 624]
                            ^ (y >> 1)
                            ^ if y & 1 == 1 { 0x9908_b0df } else { 0 };
                    }
                    idx = 0;
                }
                let mut y = mt[idx];
                idx += 1;
                y ^= y >> 11;
                y ^= (y << 7) & 0x9d2c_5680;
                y ^= (y << 15) & 0xefc6_0000;
                y ^= y >> 18;
                *b ^= (y >> 1) as u8;
            }
        }
        Version::Ea06 => {
            // RanRot: 17 words, two taps moving down from 0 and 10.
            let mut w = [0u32; 17];
            let mut s = seed & 0xffff;
            for x in &mut w {
                s = 1u32.wrapping_sub(s.wrapping_mul(1_403_630_843));
                *x = s;
            }
            let (mut p, mut q) = (0usize, 10usize);
            let mut next = || {
                let r = w[p].rotate_left(9).wrapping_add(w[q].rotate_left(13));
                w[p] = r;
                p = (p + 16) % 17;
                q = (q + 16) % 17;
                r
            };
            for _ in 0..9 {
                next();
            }
            for b in buf {
                next();
                // The output as a fraction of 2^32, times 256.
                let f = f64::from(next()) / 4_294_967_296.0;
                *b ^= (f * 256.0) as u8;
            }
        }
    }
}

/// Packs bits most significant first into 16-bit big-endian words.
struct BitWriter {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl BitWriter {
    fn put(&mut self, value: u32, bits: u32) {
        for i in (0..bits).rev() {
            self.acc = self.acc << 1 | (value >> i & 1);
            self.n += 1;
            if self.n == 16 {
                self.out.extend((self.acc as u16).to_be_bytes());
                self.acc = 0;
                self.n = 0;
            }
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.put(0, 16 - self.n);
        }
        self.out
    }
}

/// A stream of `v` with these steps, claiming `claimed` bytes.
pub fn stream(v: Version, claimed: u32, ops: &[Op]) -> Vec<u8> {
    let copy_bit = u32::from(v == Version::Ea05);
    let mut w = BitWriter { out: Vec::new(), acc: 0, n: 0 };
    for op in ops {
        match *op {
            Op::Literal(b) => {
                w.put(copy_bit ^ 1, 1);
                w.put(u32::from(b), 8);
            }
            Op::Copy { distance, len } => {
                assert!(len >= 3);
                w.put(copy_bit, 1);
                w.put(u32::from(distance), 15);
                // 2, 3, 5 and 8 bits, each all ones to go on, then bytes
                // of 255 until one is less.
                let mut rest = len - 3;
                for width in [2u32, 3, 5] {
                    let full = (1 << width) - 1;
                    if rest < full {
                        w.put(rest, width);
                        rest = u32::MAX;
                        break;
                    }
                    w.put(full, width);
                    rest -= full;
                }
                if rest != u32::MAX {
                    loop {
                        let b = rest.min(255);
                        w.put(b, 8);
                        if b < 255 {
                            break;
                        }
                        rest -= 255;
                    }
                }
            }
        }
    }
    let mut out = match v {
        Version::Ea05 => b"EA05".to_vec(),
        Version::Ea06 => b"EA06".to_vec(),
    };
    out.extend(claimed.to_be_bytes());
    out.extend(w.finish());
    out
}

/// `data` compressed: the longest of the last few earlier matches of 3
/// bytes or more within the 15-bit window, else a literal.
pub fn compress(v: Version, data: &[u8]) -> Vec<u8> {
    let mut seen: std::collections::HashMap<&[u8], Vec<usize>> =
        std::collections::HashMap::new();
    let mut ops = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let mut best = (0usize, 0usize);
        if let Some(starts) = data.get(i..i + 3).and_then(|k| seen.get(k)) {
            for &s in starts.iter().rev().take(16) {
                if i - s > 32767 {
                    break;
                }
                let mut l = 0;
                while i + l < data.len()
                    && data[s + l] == data[i + l]
                    && l < 4096
                {
                    l += 1;
                }
                if l > best.1 {
                    best = (i - s, l);
                }
            }
        }
        let step = if best.1 >= 3 {
            ops.push(Op::Copy { distance: best.0 as u16, len: best.1 as u32 });
            best.1
        } else {
            ops.push(Op::Literal(data[i]));
            1
        };
        for k in i..i + step {
            if let Some(key) = data.get(k..k + 3) {
                seen.entry(key).or_default().push(k);
            }
        }
        i += step;
    }
    stream(v, data.len() as u32, &ops)
}

/// One token of an EA06 script.
#[derive(Clone, Debug)]
pub enum Token {
    Keyword(u32),
    Function(u32),
    Int(u32),
    Int64(u64),
    Double(f64),
    /// A string-like token: opcode 0x30 to 0x37 (0x33 a `$variable`,
    /// 0x34 a user function's name, 0x36 a quoted string) and its text.
    Text(u8, String),
    /// An operator, opcode 0x40 to 0x58.
    Op(u8),
    EndOfLine,
}

/// The tokens as EA06 stores them: the line count, then each token.
pub fn tokens(toks: &[Token]) -> Vec<u8> {
    let lines =
        toks.iter().filter(|t| matches!(t, Token::EndOfLine)).count() as u32;
    let mut out = lines.to_le_bytes().to_vec();
    for t in toks {
        match t {
            Token::Keyword(n) => {
                out.push(0);
                out.extend(n.to_le_bytes());
            }
            Token::Function(n) => {
                out.push(1);
                out.extend(n.to_le_bytes());
            }
            Token::Int(n) => {
                out.push(5);
                out.extend(n.to_le_bytes());
            }
            Token::Int64(n) => {
                out.push(0x10);
                out.extend(n.to_le_bytes());
            }
            Token::Double(x) => {
                out.push(0x20);
                out.extend(x.to_le_bytes());
            }
            Token::Text(op, s) => {
                out.push(*op);
                let units: Vec<u16> = s.encode_utf16().collect();
                let n = units.len() as u32;
                out.extend(n.to_le_bytes());
                for u in units {
                    // Each unit masked with the length.
                    out.extend((u ^ n as u16).to_le_bytes());
                }
            }
            Token::Op(op) => out.push(*op),
            Token::EndOfLine => out.push(0x7f),
        }
    }
    out
}
