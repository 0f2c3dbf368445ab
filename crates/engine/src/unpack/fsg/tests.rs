use super::*;
use crate::unpack::tests::{budget, collect};

/// FSG's stream for `data`: literals only (a 0 bit before each byte,
/// the bits in tag bytes placed where the decoder first needs them),
/// then the end mark (bits 1, 1, 0 and a zero byte).
fn literals(data: &[u8]) -> Vec<u8> {
    let mut out = vec![data[0]];
    let mut tag = (0usize, 8u32);
    let mut put = |out: &mut Vec<u8>, b: bool| {
        if tag.1 == 8 {
            tag = (out.len(), 0);
            out.push(0);
        }
        if b {
            out[tag.0] |= 0x80 >> tag.1;
        }
        tag.1 += 1;
    };
    for &b in &data[1..] {
        put(&mut out, false);
        out.push(b);
    }
    for b in [true, true, false] {
        put(&mut out, b);
    }
    out.push(0);
    out
}

fn put(f: &mut [u8], at: usize, v: u32) {
    f[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// A PE packed the way FSG 2.0 packs: an empty section for the program
/// at 0x1000, the stream and the unpacker's fake stack in the next.
fn packed_200(payload: &[u8], oep: u32) -> Vec<u8> {
    let base = 0x40_0000u32;
    let stream = literals(payload);
    let dsize = (payload.len() as u32 * 2).next_multiple_of(0x1000);
    let s1_rva = 0x1000 + dsize;
    // The stub's data after the stream: the stack at +0, the entry point
    // at +0x40, the table at +0x100.
    let at = stream.len().next_multiple_of(16);
    let rsz = (at + 0x400).next_multiple_of(0x200);
    let mut f = vec![0u8; 0x200 + rsz];
    f[..2].copy_from_slice(b"MZ");
    f[0x3c] = 0x80;
    f[0x80..0x84].copy_from_slice(b"PE\0\0");
    f[0x84..0x86].copy_from_slice(&0x14cu16.to_le_bytes());
    f[0x86..0x88].copy_from_slice(&2u16.to_le_bytes());
    f[0x94..0x96].copy_from_slice(&0xe0u16.to_le_bytes());
    let opt = 0x98;
    f[opt..opt + 2].copy_from_slice(&0x10bu16.to_le_bytes());
    put(&mut f, opt + 16, s1_rva + at as u32 + 0x40);
    put(&mut f, opt + 28, base);
    put(&mut f, opt + 32, 0x1000);
    put(&mut f, opt + 36, 0x200);
    put(&mut f, opt + 56, s1_rva + 0x1000);
    put(&mut f, opt + 60, 0x200);
    put(&mut f, opt + 92, 16);
    let t = opt + 0xe0;
    put(&mut f, t + 8, dsize);
    put(&mut f, t + 12, 0x1000);
    put(&mut f, t + 40 + 8, rsz as u32);
    put(&mut f, t + 40 + 12, s1_rva);
    put(&mut f, t + 40 + 16, rsz as u32);
    put(&mut f, t + 40 + 20, 0x200);
    let s1 = 0x200;
    f[s1..s1 + stream.len()].copy_from_slice(&stream);
    let va = |off: usize| base + s1_rva + off as u32;
    // xchg [esp_slot], esp
    let ep = s1 + at + 0x40;
    f[ep..ep + 2].copy_from_slice(&[0x87, 0x25]);
    put(&mut f, ep + 2, va(at + 0x80));
    put(&mut f, s1 + at + 0x80, va(at));
    put(&mut f, s1 + at, base + 0x1000);
    put(&mut f, s1 + at + 4, va(0));
    put(&mut f, s1 + at + 16, va(at + 0x100));
    put(&mut f, s1 + at + 0x10c, base + oep);
    f
}

#[test]
fn a_stream_of_literals_and_matches() {
    // 'a'; a short match of 3 at distance 1; the end.
    let src = [b'a', 0b1101_1000, 0x03, 0x00];
    let mut dest = [0u8; 8];
    assert_eq!(unfsg(&src, 0, &mut dest, 0), Some((4, 4)));
    assert_eq!(&dest[..4], b"aaaa");
    // A distance past the start of the output.
    let src = [b'a', 0b1101_1000, 0x05, 0x00];
    assert_eq!(unfsg(&src, 0, &mut dest, 0), None);
    // More output than room.
    let src = [b'a', 0b1101_1000, 0x03, 0x00];
    assert_eq!(unfsg(&src, 0, &mut [0u8; 3], 0), None);
    // Cut before the end mark.
    let data = b"literal bytes only";
    let s = literals(data);
    let mut dest = [0u8; 64];
    assert_eq!(unfsg(&s, 0, &mut dest, 0), Some((s.len(), data.len())));
    assert_eq!(&dest[..data.len()], data);
    assert_eq!(unfsg(&s[..s.len() - 1], 0, &mut dest, 0), None);
}

#[test]
fn fsg_200_unpacked_and_rebuilt() {
    let payload: Vec<u8> =
        (0..0x900u32).map(|i| (i * 13 % 251) as u8).collect();
    let f = packed_200(&payload, 0x1234);
    let mut c = collect(budget());
    fsg(&f, &mut c);
    assert_eq!(c.children.len(), 1);
    let pe = &c.children[0].1;
    let exe = Exe::read(pe).unwrap();
    assert_eq!(exe.vep, 0x1234);
    assert_eq!(exe.sections.len(), 1);
    let s = exe.sections[0];
    assert_eq!((s.rva, s.uvsz), (0x1000, 0x2000));
    assert_eq!(&pe[s.raw as usize..][..payload.len()], &payload[..]);
}

#[test]
fn broken_fsg_200_is_left_alone() {
    let payload = vec![0x41u8; 0x900];
    let mut f = packed_200(&payload, 0x1234);
    // The fake stack's destination not the empty section.
    let at = literals(&payload).len().next_multiple_of(16);
    put(&mut f, 0x200 + at, 0x40_2000);
    let mut c = collect(budget());
    fsg(&f, &mut c);
    assert!(c.children.is_empty());
    // A plain PE.
    let pe = crate::pe::tests::tiny_pe();
    fsg(&pe, &mut c);
    assert!(c.children.is_empty());
}

#[test]
fn sections_sorted_by_address() {
    let s = vec![
        Sect { rva: 0x3000, raw: 0, rsz: 0x10 },
        Sect { rva: 0x1000, raw: 0x10, rsz: 0x20 },
        Sect { rva: 0x2000, raw: 0x30, rsz: 0x30 },
    ];
    let p = layout(s, 0x5000).unwrap();
    let got: Vec<_> = p.iter().map(|p| (p.rva, p.vsz, p.raw)).collect();
    assert_eq!(
        got,
        [(0x1000, 0x1000, 0x10), (0x2000, 0x1000, 0x30), (0x3000, 0x3000, 0)]
    );
    assert!(layout(vec![Sect::default(); 97], 0x1000).is_none());
    // Equal addresses keep the table's order (their data differ), the
    // first of them given no memory.
    let s = vec![
        Sect { rva: 0x2000, raw: 0, rsz: 0x10 },
        Sect { rva: 0x1000, raw: 0x10, rsz: 0x20 },
        Sect { rva: 0x2000, raw: 0x30, rsz: 0x30 },
    ];
    let got: Vec<_> = layout(s, 0x5000)
        .unwrap()
        .iter()
        .map(|p| (p.rva, p.vsz, p.raw))
        .collect();
    assert_eq!(
        got,
        [(0x1000, 0x1000, 0x10), (0x2000, 0, 0), (0x2000, 0x4000, 0x30)]
    );
}
