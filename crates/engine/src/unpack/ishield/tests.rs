use std::io::Write;

use super::overlay::strtol;
use super::*;
use crate::unpack::Budget;
use crate::unpack::tests::{budget, collect};

const NAME_KEY: [u8; 4] = [0xec, 0xca, 0x79, 0xf8];

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e =
        flate2::write::ZlibEncoder::new(Vec::new(), Default::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e =
        flate2::write::DeflateEncoder::new(Vec::new(), Default::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// One MSI-form block and its stored bytes, from a zlib stream.
fn msi_file(name: &str, z: &[u8]) -> Vec<u8> {
    let key: Vec<u8> =
        name.bytes().enumerate().map(|(i, b)| b ^ NAME_KEY[i & 3]).collect();
    let mut block = vec![0u8; 312];
    block[..name.len()].copy_from_slice(name.as_bytes());
    put32(&mut block, 260, 6);
    block[268..276].copy_from_slice(&(z.len() as u64).to_le_bytes());
    put32(&mut block, 280, 1);
    block.extend(
        z.iter()
            .enumerate()
            .map(|(i, &c)| (c ^ key[(i & 0x3ff) % key.len()]).rotate_left(4)),
    );
    block
}

fn msi(files: &[Vec<u8>]) -> Vec<u8> {
    let mut o = b"InstallShield\0".to_vec();
    let mut head = vec![0u8; 0x20];
    put32(&mut head, 0, files.len() as u32);
    o.extend_from_slice(&head);
    files.iter().for_each(|f| o.extend_from_slice(f));
    o
}

fn strings(o: &mut Vec<u8>, name: &str, size: &str) {
    for s in [name, "Disk1\\x", "1.0", size] {
        o.extend_from_slice(s.as_bytes());
        o.push(0);
    }
}

fn overlay(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut o = Vec::new();
    for (name, data) in files {
        strings(&mut o, name, &data.len().to_string());
        o.extend_from_slice(data);
    }
    o.extend_from_slice(&[0; 8]);
    o
}

/// `data1.hdr` and `data1.cab` for files given as their chunks.
fn cabinet(files: &[(&str, Vec<Vec<u8>>, u64)]) -> (Vec<u8>, Vec<u8>) {
    let mut cab = b"ISc(".to_vec();
    let mut names = vec![4, 0, 0, 0, 0];
    let mut table = Vec::new();
    for (name, chunks, size) in files {
        let at = cab.len();
        for c in chunks {
            cab.extend_from_slice(&(c.len() as u16).to_le_bytes());
            cab.extend_from_slice(c);
        }
        let mut f = vec![0u8; 87];
        f[0] = 4;
        f[2..10].copy_from_slice(&size.to_le_bytes());
        f[10..18].copy_from_slice(&((cab.len() - at) as u64).to_le_bytes());
        f[18..26].copy_from_slice(&(at as u64).to_le_bytes());
        put32(&mut f, 58, names.len() as u32);
        f[85] = 1;
        names.extend_from_slice(name.as_bytes());
        names.push(0);
        table.push(f);
    }
    let mut hdr = vec![0u8; 0x20];
    hdr[..4].copy_from_slice(b"ISc(");
    put32(&mut hdr, 12, 0x20);
    let mut objects = vec![0u8; 74];
    put32(&mut objects, 12, 74);
    put32(&mut objects, 40, files.len() as u32);
    put32(&mut objects, 44, names.len() as u32);
    hdr.extend_from_slice(&objects);
    hdr.extend_from_slice(&names);
    table.iter().for_each(|f| hdr.extend_from_slice(f));
    (hdr, cab)
}

fn names(c: &crate::unpack::tests::Collect) -> Vec<&str> {
    c.children.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn msi_files_come_out_deobfuscated() {
    let big: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let data = msi(&[
        msi_file("clam.exe409.bmp", &zlib(&big)),
        msi_file("a", &zlib(b"second file")),
    ]);
    let mut c = collect(budget());
    let out = ishield_msi(&data, &mut c);
    assert_eq!(out.skipped, None);
    assert_eq!(names(&c), ["clam.exe409.bmp", "a"]);
    assert_eq!(c.children[0].1, big);
    assert_eq!(c.children[1].1, b"second file");
}

#[test]
fn msi_header_must_have_its_zero_dwords() {
    let mut data = msi(&[msi_file("a", &zlib(b"payload"))]);
    data[14 + 0x1c] = 1;
    let mut c = collect(budget());
    assert_eq!(ishield_msi(&data, &mut c).skipped, None);
    assert!(c.children.is_empty());
}

#[test]
fn msi_damaged_stream_is_scanned_as_far_as_it_goes() {
    let z = zlib(b"the start of a file that goes on");
    let mut z2 = z.clone();
    let n = z2.len();
    z2[n - 8..].fill(0xff);
    let data = msi(&[msi_file("a", &z2), msi_file("b", &zlib(b"next one"))]);
    let mut c = collect(budget());
    let out = ishield_msi(&data, &mut c);
    assert_eq!(
        out.skipped,
        Some(Reason::Malformed { format: "InstallShield" })
    );
    // The next block is read from where ClamAV's read had got to: the
    // end of this short stream, so "b" is still found.
    assert_eq!(names(&c), ["a", "b"]);
}

#[test]
fn msi_stored_bytes_past_the_end_end_the_walk() {
    let mut data = msi(&[msi_file("a", &zlib(b"payload"))]);
    data.truncate(data.len() - 1);
    let mut c = collect(budget());
    let out = ishield_msi(&data, &mut c);
    assert!(matches!(out.skipped, Some(Reason::Malformed { .. })));
    assert!(c.children.is_empty());
}

#[test]
fn msi_bomb_ends_the_walk_at_max_file() {
    let z = zlib(&vec![0u8; 64 << 20]);
    let data = msi(&[msi_file("bomb", &z), msi_file("b", &zlib(b"after it"))]);
    let b = Budget { max_file: 1 << 20, bytes_left: 1 << 30, files_left: 10 };
    let mut c = collect(b);
    let out = ishield_msi(&data, &mut c);
    assert_eq!(out.skipped, Some(Reason::FileSizeLimit));
    // As ClamAV, which refuses to scan the file it cut and stops there.
    assert!(c.children.is_empty());
}

#[test]
fn msi_stored_bytes_over_max_file_are_passed_over() {
    let z = zlib(&(0..5000u32).map(|i| (i * 13) as u8).collect::<Vec<_>>());
    let data = msi(&[msi_file("big", &z), msi_file("b", &zlib(b"small one"))]);
    let b = Budget { max_file: z.len() as u64 - 1, ..budget() };
    let mut c = collect(b);
    let out = ishield_msi(&data, &mut c);
    assert_eq!(out.skipped, Some(Reason::FileSizeLimit));
    assert_eq!(names(&c), ["b"]);
}

#[test]
fn overlay_files_are_read_until_the_run_ends() {
    let data = overlay(&[
        ("setup.ini", b"[Startup]\n"),
        ("layout.bin", b"\x01\x02\x03\x04\x05\x06"),
    ]);
    let mut c = collect(budget());
    ishield_overlay(&data, &mut c);
    assert_eq!(names(&c), ["setup.ini", "layout.bin"]);
    assert_eq!(c.children[1].1, b"\x01\x02\x03\x04\x05\x06");
}

#[test]
fn overlay_file_ending_at_the_end_is_not_read() {
    let mut data =
        overlay(&[("a.txt", b"first file"), ("b.txt", b"second file")]);
    data.truncate(data.len() - 8);
    let mut c = collect(budget());
    ishield_overlay(&data, &mut c);
    assert_eq!(names(&c), ["a.txt"]);
}

#[test]
fn overlay_sizes_are_read_as_strtol_reads_them() {
    for (size, read) in [
        (" +10", true),
        ("10", true),
        ("10x", false),
        ("", false),
        ("-1", false),
    ] {
        let mut o = Vec::new();
        strings(&mut o, "f.bin", size);
        o.extend_from_slice(b"0123456789 and more after it");
        let mut c = collect(budget());
        ishield_overlay(&o, &mut c);
        assert_eq!(c.children.len(), usize::from(read), "{size:?}");
    }
    assert_eq!(strtol(b"\t-12x"), Some((-12, 4)));
    assert_eq!(strtol(b"99999999999999999999"), Some((i64::MAX, 20)));
    assert_eq!(strtol(b"+"), None);
}

#[test]
fn cabinet_files_are_inflated_chunk_by_chunk() {
    let text: Vec<u8> = (0..100_000u32)
        .map(|i| b"abcdefgh\n"[(i.wrapping_mul(i) % 9) as usize])
        .collect();
    let chunks: Vec<Vec<u8>> = text.chunks(32_768).map(deflate).collect();
    let (hdr, cab) = cabinet(&[
        ("big.txt", chunks, text.len() as u64),
        ("small.txt", vec![deflate(b"a small file")], 12),
    ]);
    let data = overlay(&[
        ("data1.cab", &cab),
        ("data1.hdr", &hdr),
        ("setup.exe", b"MZ stub..."),
    ]);
    let mut c = collect(budget());
    let out = ishield_overlay(&data, &mut c);
    assert_eq!(out.skipped, None);
    assert_eq!(names(&c), ["setup.exe", "big.txt", "small.txt"]);
    assert_eq!(c.children[1].1, text);
}

#[test]
fn cabinet_that_does_not_inflate_is_scanned_as_its_parts() {
    let (hdr, cab) = cabinet(&[
        ("ok.txt", vec![deflate(b"this one is fine")], 16),
        ("bad.txt", vec![vec![0xff; 20]], 20),
    ]);
    let data = overlay(&[("data1.hdr", &hdr), ("DATA1.CAB", &cab)]);
    let mut c = collect(budget());
    let out = ishield_overlay(&data, &mut c);
    assert!(matches!(out.skipped, Some(Reason::Malformed { .. })));
    assert_eq!(names(&c), ["ok.txt", "data1.hdr", "data1.cab"]);
    assert_eq!(c.children[2].1, cab);
}

#[test]
fn cabinet_file_with_a_stray_byte_is_not_extracted() {
    let mut chunk = vec![];
    chunk.extend_from_slice(&deflate(b"chunk data here"));
    let (mut hdr, mut cab) = cabinet(&[("a.txt", vec![chunk], 15)]);
    cab.push(0);
    // Stored size one more: the stray byte is inside it.
    let f = hdr.len() - 87;
    let stored = u64::from_le_bytes(hdr[f + 10..f + 18].try_into().unwrap());
    hdr[f + 10..f + 18].copy_from_slice(&(stored + 1).to_le_bytes());
    let data = overlay(&[("data1.hdr", &hdr), ("data1.cab", &cab)]);
    let mut c = collect(budget());
    ishield_overlay(&data, &mut c);
    assert_eq!(names(&c), ["data1.hdr", "data1.cab"]);
}

#[test]
fn cabinet_bomb_stops_at_max_file() {
    let chunk = deflate(&vec![0u8; 60_000]);
    let chunks = vec![chunk; 2000];
    let (hdr, cab) = cabinet(&[("bomb", chunks, 1 << 40)]);
    let data = overlay(&[("data1.hdr", &hdr), ("data1.cab", &cab)]);
    let b = Budget { max_file: 1 << 20, bytes_left: 1 << 30, files_left: 10 };
    let mut c = collect(b);
    let out = ishield_overlay(&data, &mut c);
    assert_eq!(out.skipped, Some(Reason::FileSizeLimit));
    assert_eq!(c.children[0].1.len(), 1 << 20);
}

#[test]
fn cabinet_file_count_of_billions_ends() {
    let (mut hdr, cab) = cabinet(&[("a.txt", vec![deflate(b"aaaa aaaa")], 9)]);
    put32(&mut hdr, 0x20 + 40, u32::MAX);
    let data = overlay(&[("data1.hdr", &hdr), ("data1.cab", &cab)]);
    let mut c = collect(budget());
    ishield_overlay(&data, &mut c);
    assert_eq!(names(&c)[0], "a.txt");
}

#[test]
fn repeated_volume_test_is_clamavs() {
    // data2.cab first, then data1.cab: the second sits at index 1 with
    // number 1, so a third volume counts as a repeat and is scanned as
    // a plain file.
    let data = overlay(&[
        ("data2.cab", b"second volume"),
        ("data1.cab", b"first volume!"),
        ("data3.cab", b"third volume!"),
    ]);
    let mut c = collect(budget());
    ishield_overlay(&data, &mut c);
    // No header: the volumes kept aside are scanned as parts.
    assert_eq!(names(&c), ["data3.cab", "data2.cab", "data1.cab"]);
}

/// A PE32 of `n` sections of 0x200 bytes each, then `tail`.
fn pe(n: usize, tail: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 0x200 * (n + 1)];
    f[..2].copy_from_slice(b"MZ");
    put32(&mut f, 0x3c, 0x40);
    f[0x40..0x44].copy_from_slice(b"PE\0\0");
    f[0x44..0x46].copy_from_slice(&0x14cu16.to_le_bytes());
    f[0x46] = n as u8;
    f[0x54] = 0xe0;
    let opt = 0x58;
    f[opt..opt + 2].copy_from_slice(&0x10bu16.to_le_bytes());
    put32(&mut f, opt + 16, 0x1000);
    put32(&mut f, opt + 32, 0x1000);
    put32(&mut f, opt + 36, 0x200);
    put32(&mut f, opt + 56, 0x1000 * (n as u32 + 1));
    put32(&mut f, opt + 60, 0x200);
    put32(&mut f, opt + 92, 16);
    for i in 0..n {
        let s = opt + 0xe0 + 40 * i;
        put32(&mut f, s + 8, 0x200);
        put32(&mut f, s + 12, 0x1000 * (i as u32 + 1));
        put32(&mut f, s + 16, 0x200);
        put32(&mut f, s + 20, 0x200 * (i as u32 + 1));
    }
    f.extend_from_slice(tail);
    f
}

#[test]
fn overlay_starts_where_clamav_puts_it() {
    assert_eq!(pe::overlay_start(&pe(2, b"overlay")), Some(0x600));
    assert_eq!(pe::overlay_start(&pe(3, b"overlay")), Some(0x800));
    // One section: ClamAV sets no overlay start.
    assert_eq!(pe::overlay_start(&pe(1, b"overlay")), None);
    // Nothing after the sections.
    assert_eq!(pe::overlay_start(&pe(2, b"")), None);
    // PE32+ is not read.
    let mut p = pe(2, b"overlay");
    p[0x58..0x5a].copy_from_slice(&0x20bu16.to_le_bytes());
    assert_eq!(pe::overlay_start(&p), None);
    let file = pe(2, &overlay(&[("readme.txt", b"hello there")]));
    let mut c = collect(budget());
    ishield_pe(&file, &mut c);
    assert_eq!(names(&c), ["readme.txt"]);
}
