use std::io::{Read, Write};

use super::bzip2::Bunzip;
use super::streams::Decoder;
use super::*;
use crate::unpack::Budget;
use crate::unpack::tests::{budget, collect};

/// Pseudo-random bytes that do not compress.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        })
        .collect()
}

fn deflate(d: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(
        Vec::new(),
        flate2::Compression::best(),
    );
    e.write_all(d).unwrap();
    e.finish().unwrap()
}

fn bits_of(d: &[u8]) -> Vec<bool> {
    d.iter().flat_map(|b| (0..8).rev().map(move |i| b >> i & 1 == 1)).collect()
}

/// The coded body of stock bzip2's one block for `d`: after the `BZh9`
/// header and the block's magic, CRC and randomised bit, up to the end
/// magic.
fn block_body(d: &[u8]) -> Vec<bool> {
    let mut e = ::bzip2::write::BzEncoder::new(
        Vec::new(),
        ::bzip2::Compression::best(),
    );
    e.write_all(d).unwrap();
    let bits = bits_of(&e.finish().unwrap());
    let magic = bits_of(&0x1772_4538_5090u64.to_be_bytes()[2..]);
    // The end magic and combined CRC, then at most seven bits of padding.
    let end = (bits.len() - 87..=bits.len() - 80)
        .rev()
        .find(|&at| bits[at..at + 48] == magic[..])
        .expect("the end magic");
    bits[32 + 81..end].to_vec()
}

/// NSIS's bzip2 of `parts`, one block each.
fn nsis_bzip2(parts: &[&[u8]]) -> Vec<u8> {
    let mut bits = Vec::new();
    for p in parts {
        bits.extend(bits_of(&[0x31]));
        bits.extend(block_body(p));
    }
    bits.extend(bits_of(&[0x17]));
    bits.chunks(8)
        .map(|c| {
            c.iter()
                .enumerate()
                .fold(0u8, |b, (i, &x)| b | (u8::from(x) << (7 - i)))
        })
        .collect()
}

/// NSIS's LZMA: properties, dictionary size, the stream with its end
/// marker.
fn lzma(d: &[u8]) -> Vec<u8> {
    let mut o = lzma_rust2::LzmaOptions::with_preset(6);
    o.dict_size = 1 << 23;
    let mut w =
        lzma_rust2::LzmaWriter::new_use_header(Vec::new(), &o, None).unwrap();
    w.write_all(d).unwrap();
    let v = w.finish().unwrap();
    // The .lzma header's 8-byte size is not in NSIS's.
    [&v[..5], &v[13..]].concat()
}

fn compress(m: Method, d: &[u8]) -> Vec<u8> {
    match m {
        Method::Zlib => deflate(d),
        // Blocks of 30,000 bytes, so that damage leaves some whole.
        Method::Bzip2 => nsis_bzip2(&d.chunks(30_000).collect::<Vec<_>>()),
        Method::Lzma => lzma(d),
    }
}

/// An archive from its body: the first header before it, a CRC after.
fn archive(body: &[u8]) -> Vec<u8> {
    let mut v = 0u32.to_le_bytes().to_vec();
    v.extend_from_slice(MAGIC);
    v.extend_from_slice(&100u32.to_le_bytes());
    v.extend_from_slice(
        &((FIRST_HEADER + body.len() + 4) as u32).to_le_bytes(),
    );
    v.extend_from_slice(body);
    v.extend_from_slice(&0xdead_beefu32.to_le_bytes());
    v
}

/// Blocks, each compressed (or stored where `m` is `None`).
fn non_solid(m: Option<Method>, items: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    for it in items {
        match m {
            Some(m) => {
                let c = compress(m, it);
                body.extend_from_slice(
                    &(c.len() as u32 | 0x8000_0000).to_le_bytes(),
                );
                body.extend_from_slice(&c);
            }
            None => {
                body.extend_from_slice(&(it.len() as u32).to_le_bytes());
                body.extend_from_slice(it);
            }
        }
    }
    archive(&body)
}

fn members(items: &[&[u8]]) -> Vec<u8> {
    let mut plain = Vec::new();
    for it in items {
        plain.extend_from_slice(&(it.len() as u32).to_le_bytes());
        plain.extend_from_slice(it);
    }
    plain
}

fn solid(m: Method, items: &[&[u8]]) -> Vec<u8> {
    archive(&compress(m, &members(items)))
}

fn walk(data: &[u8], b: Budget) -> (Vec<(String, Vec<u8>)>, Option<Reason>) {
    let mut c = collect(b);
    let skipped = nsis(data, &mut c).skipped;
    (c.children, skipped)
}

const METHODS: [Method; 3] = [Method::Zlib, Method::Bzip2, Method::Lzma];

#[test]
fn bzip2_blocks_and_runs_decode() {
    let runs: Vec<u8> = (0..3000u32)
        .flat_map(|i| std::iter::repeat_n((i % 7) as u8, (i % 300) as usize))
        .collect();
    let text = b"four aaaa five bbbbb and a run of 300 zzz".repeat(50);
    let random = noise(70_000, 9);
    let stream = nsis_bzip2(&[&runs, &text, &random]);
    let mut d = Bunzip::new(&stream);
    let mut got = Vec::new();
    d.read_to_end(&mut got).unwrap();
    assert!(d.ended());
    assert_eq!(d.input_left(), 0);
    assert_eq!(got, [&runs[..], &text, &random].concat());
}

#[test]
fn bzip2_damage_is_an_error_after_what_was_read() {
    let first = noise(5000, 1);
    let mut stream = nsis_bzip2(&[&first, &noise(5000, 2)]);
    let cut = stream.len() - 40;
    stream.truncate(cut);
    let mut got = Vec::new();
    assert!(Bunzip::new(&stream).read_to_end(&mut got).is_err());
    assert_eq!(got, first);
    // A stream without the block byte.
    let mut got = Vec::new();
    assert!(Bunzip::new(b"BZh91AY&SY").read_to_end(&mut got).is_err());
    assert!(got.is_empty());
}

#[test]
fn layout_as_clamav_guesses_it() {
    for m in METHODS {
        let items: [&[u8]; 2] = [b"the script header", b"a file"];
        let l = Layout::read(&solid(m, &items)).unwrap();
        assert!(l.solid, "{m:?}");
        assert_eq!(l.method, m);
        let l = Layout::read(&non_solid(Some(m), &items)).unwrap();
        assert!(!l.solid, "{m:?}");
        assert_eq!(l.method, m);
    }
    // Blocks vote: two deflate blocks outvote one LZMA block.
    let mut body = Vec::new();
    for c in [deflate(b"one"), lzma(b"two"), deflate(b"three")] {
        body.extend_from_slice(&(c.len() as u32 | 0x8000_0000).to_le_bytes());
        body.extend_from_slice(&c);
    }
    let l = Layout::read(&archive(&body)).unwrap();
    assert_eq!((l.solid, l.method), (false, Method::Zlib));
    // Not NSIS, or an archive shorter than its own header.
    assert!(Layout::read(b"\0\0\0\0not an installer at all.....").is_none());
    let mut short = archive(b"");
    short[0x18..0x1c].copy_from_slice(&8u32.to_le_bytes());
    assert!(Layout::read(&short).is_none());
}

#[test]
fn every_block_and_member_is_given() {
    let header = noise(3000, 3);
    let eicar = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    // Deflate's members are read only up to 32 KiB before the end.
    let tail = noise(40_000, 4);
    let items: [&[u8]; 4] = [&header, eicar, b"", &tail];
    let want = vec![
        ("headers".to_string(), header.clone()),
        ("content.001".to_string(), eicar.to_vec()),
        ("content.003".to_string(), tail.clone()),
    ];
    for m in METHODS {
        let (got, skipped) = walk(&solid(m, &items), budget());
        assert_eq!(got, want, "solid {m:?}");
        assert_eq!(skipped, None);
        let (got, skipped) = walk(&non_solid(Some(m), &items), budget());
        assert_eq!(got, want, "blocks {m:?}");
        assert_eq!(skipped, None);
    }
    let (got, _) = walk(&non_solid(None, &items), budget());
    assert_eq!(got, want);
}

#[test]
fn solid_deflate_stops_32k_before_its_end_as_clamav_does() {
    let header = noise(3000, 5);
    let file = noise(20_000, 6);
    let (got, skipped) =
        walk(&solid(Method::Zlib, &[&header, &file]), budget());
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["headers"]);
    assert_eq!(skipped, None);
    // The other methods read on to the end.
    for m in [Method::Bzip2, Method::Lzma] {
        let (got, _) = walk(&solid(m, &[&header, &file]), budget());
        assert_eq!(got.len(), 2, "{m:?}");
    }
    // Without a CRC, NSIS's bzip2 leaves its last block: every member
    // that starts in it.
    let mut a = solid(Method::Bzip2, &[&header, &file]);
    a.truncate(a.len() - 4);
    let len = a.len() as u32;
    a[0x18..0x1c].copy_from_slice(&len.to_le_bytes());
    let (got, _) = walk(&a, budget());
    assert_eq!(got.len(), 1);
}

#[test]
fn damaged_streams_give_what_they_read() {
    let header = noise(2000, 7);
    let file = noise(50_000, 8);
    for m in METHODS {
        let mut a = solid(m, &[&header, &file, &noise(40_000, 9)]);
        let cut = a.len() - 45_000;
        a.truncate(cut);
        let (got, skipped) = walk(&a, budget());
        assert_eq!(got.len(), 2, "{m:?}");
        assert_eq!(got[0].1, header);
        assert!(got[1].1.len() > 1000 && file.starts_with(&got[1].1), "{m:?}");
        assert_eq!(skipped, Some(DAMAGED), "{m:?}");
        // A block whose stream is cut short: what it holds.
        let mut c = compress(m, &file);
        c.truncate(c.len() - 20_000);
        let mut body = (header.len() as u32).to_le_bytes().to_vec();
        body.extend_from_slice(&header);
        body.extend_from_slice(&(c.len() as u32 | 0x8000_0000).to_le_bytes());
        body.extend_from_slice(&c);
        let (got, skipped) = walk(&archive(&body), budget());
        assert_eq!(got.len(), 2, "{m:?}");
        assert!(got[1].1.len() > 1000 && file.starts_with(&got[1].1), "{m:?}");
        assert_eq!(skipped, Some(DAMAGED), "{m:?}");
    }
}

#[test]
fn claimed_gigabytes_and_endless_streams_end_within_limits() {
    let small =
        || Budget { max_file: 1 << 16, bytes_left: 1 << 18, files_left: 50 };
    // A solid member claiming 4 GiB ends the walk (ClamAV's limit check).
    let mut plain = members(&[b"header!"]);
    plain.extend_from_slice(&u32::MAX.to_le_bytes());
    // Past deflate's look-ahead, so that the claim is read.
    plain.extend_from_slice(&noise(40_000, 11));
    for m in METHODS {
        let (got, skipped) = walk(&archive(&compress(m, &plain)), small());
        assert_eq!(got.len(), 1, "{m:?}");
        assert_eq!(skipped, Some(Reason::FileSizeLimit));
    }
    // Sixteen MiB of zeros: empty members for ever.
    let zeros = vec![0u8; 16 << 20];
    for m in [Method::Zlib, Method::Bzip2] {
        let a = archive(&compress(
            m,
            &[&members(&[b"header!"])[..], &zeros].concat(),
        ));
        let (got, skipped) = walk(&a, small());
        assert_eq!(got.len(), 1);
        assert_eq!(skipped, Some(Reason::ScanSizeLimit), "{m:?}");
    }
    // A block inflating to 16 MiB: read up to the limit.
    let a = non_solid(Some(Method::Zlib), &[b"header!", &zeros]);
    let (got, skipped) = walk(&a, small());
    assert_eq!(got[1].1.len(), 1 << 16);
    assert_eq!(skipped, Some(Reason::FileSizeLimit));
}

#[test]
fn deflate_reader_tells_its_input_left() {
    let d = deflate(&noise(100_000, 10));
    let input = [&d[..], &[1, 2, 3, 4]].concat();
    let mut z = Decoder::new(Method::Zlib, &input, ZLIB_AHEAD);
    assert!(!z.exhausted());
    let mut buf = vec![0; 60_000];
    z.read_exact(&mut buf).unwrap();
    assert!(!z.exhausted());
    z.read_exact(&mut buf[..10_000]).unwrap();
    // 30,000 bytes are left to read: all decoded already.
    assert!(z.exhausted());
}
