use super::*;
use crate::unpack::tests::{budget, collect};

/// Where the parts of [`crypted`] are.
const TEXT: usize = 0x200;
const TEXT_LEN: usize = 0x180;
const YC: usize = 0x400;
const YC_LEN: usize = 0xc00;
const STAGE1: u32 = 0x900;
const OEP: u32 = 0x1234;

fn put(f: &mut [u8], at: usize, v: &[u8]) {
    f[at..at + v.len()].copy_from_slice(v);
}

/// A 0x30-byte decryptor: `code`, then no-ops.
fn decryptor(code: &[u8]) -> [u8; 0x30] {
    let mut d = [0x90; 0x30];
    d[..code.len()].copy_from_slice(code);
    d
}

/// A two-section PE as yC 1.3 leaves it: `.text` (0x180 bytes of
/// `plain`) encrypted by a second stage of `add al, cl`, which the first
/// stage's `xor al, 0x5a` encrypts in turn; the loader 0x60 into the
/// `yC` section after it.
fn crypted(plain: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; YC + YC_LEN];
    put(&mut f, 0, b"MZ");
    f[0x3c] = 0x80;
    let pe = 0x80;
    put(&mut f, pe, b"PE\0\0");
    put(&mut f, pe + 4, &0x14cu16.to_le_bytes());
    put(&mut f, pe + 6, &2u16.to_le_bytes());
    put(&mut f, pe + 20, &0xe0u16.to_le_bytes());
    let opt = pe + 24;
    put(&mut f, opt, &0x10bu16.to_le_bytes());
    put(&mut f, opt + 16, &0x2060u32.to_le_bytes());
    put(&mut f, opt + 28, &0x40_0000u32.to_le_bytes());
    put(&mut f, opt + 32, &0x1000u32.to_le_bytes());
    put(&mut f, opt + 36, &0x200u32.to_le_bytes());
    put(&mut f, opt + 56, &0x3000u32.to_le_bytes());
    put(&mut f, opt + 60, &0x200u32.to_le_bytes());
    put(&mut f, opt + 92, &16u32.to_le_bytes());
    put(&mut f, opt + 0x68, &[0x11; 8]);
    let table = opt + 0xe0;
    for (i, (name, rva, size, raw)) in [
        (&b".text\0\0\0"[..], 0x1000u32, TEXT_LEN as u32, TEXT as u32),
        (b"yC\0\0\0\0\0\0", 0x2000, YC_LEN as u32, YC as u32),
    ]
    .into_iter()
    .enumerate()
    {
        let s = table + 40 * i;
        put(&mut f, s, name);
        put(&mut f, s + 8, &0x1000u32.to_le_bytes());
        put(&mut f, s + 12, &rva.to_le_bytes());
        put(&mut f, s + 16, &size.to_le_bytes());
        put(&mut f, s + 20, &raw.to_le_bytes());
    }
    // .text, as `add al, cl` with cl counting down from its length
    // turns it back.
    for (i, &b) in plain.iter().enumerate() {
        f[TEXT + i] = b.wrapping_sub((TEXT_LEN - i) as u8);
    }
    let ep = YC + 0x60;
    let x = 0x1000u32;
    put(&mut f, ep, b"\x55\x8b\xec\x53\x56\x57\x60\xe8\0\0\0\0\x5d\x81\xed");
    put(&mut f, ep + 0xf, &x.to_le_bytes());
    f[ep + 0x13] = 0xb9;
    put(&mut f, ep + 0x14, &(STAGE1 + 0x77).to_le_bytes());
    put(&mut f, ep + 0x18, &[0x81, 0xe9]);
    put(&mut f, ep + 0x1a, &0x77u32.to_le_bytes());
    put(&mut f, ep + 0x1e, b"\x8b\xd5\x81\xc2");
    put(&mut f, ep + 0x22, &(x + 0x5a).to_le_bytes());
    put(
        &mut f,
        ep + 0x26,
        b"\x8d\x3a\x8b\xf7\x33\xc0\xeb\x04\x90\xeb\x01\xc2\xac",
    );
    put(&mut f, YC + 0x93, &decryptor(&[0x34, 0x5a]));
    put(&mut f, YC + 0xc3, b"\xaa\xe2\xcc");
    let second = decryptor(&[0x02, 0xc1]).map(|b| b ^ 0x5a);
    put(&mut f, YC + 0x457, &second);
    put(&mut f, YC + 0xa0f, &OEP.to_le_bytes());
    f
}

fn plain() -> Vec<u8> {
    (0..TEXT_LEN).map(|i| (i * 7 + 3) as u8).collect()
}

#[test]
fn the_loader_is_recognised() {
    let f = crypted(&plain());
    let exe = Exe::read(&f).unwrap();
    assert_eq!(detect(&f, &exe), Some(Loader { ecx: STAGE1, offset: 0 }));
    // Without the `stosb; loop` that ends the first stage: not yC.
    let mut g = f.clone();
    g[YC + 0xc3] = 0x90;
    assert_eq!(detect(&g, &exe), None);
    // A first stage outside 0x800..0x2000.
    let mut g = f.clone();
    put(&mut g, YC + 0x60 + 0x1a, &(STAGE1 + 0x77 - 0x800).to_le_bytes());
    assert_eq!(detect(&g, &exe), None);
    // The entry point elsewhere in the section.
    let mut g = f;
    put(&mut g, 0x80 + 24 + 16, &0x2064u32.to_le_bytes());
    assert_eq!(detect(&g, &Exe::read(&g).unwrap()), None);
}

#[test]
fn sections_decrypted_and_header_patched() {
    let plain = plain();
    let f = crypted(&plain);
    let mut c = collect(budget());
    let u = yc(&f, &mut c);
    assert!(u.skipped.is_none());
    assert!(c.alerts.is_empty());
    assert_eq!(c.children.len(), 1);
    let (name, d) = &c.children[0];
    assert_eq!(name, "yc-unpacked");
    // Cut before yC's section.
    assert_eq!(d.len(), YC);
    assert_eq!(&d[TEXT..TEXT + TEXT_LEN], &plain[..]);
    let opt = 0x80 + 24;
    assert_eq!(u16_at(d, 0x80 + 6), Some(1));
    assert_eq!(u32_at(d, opt + 16), Some(OEP));
    assert_eq!(u32_at(d, opt + 56), Some(0x2000));
    assert_eq!(&d[opt + 0x68..opt + 0x70], &[0; 8]);
}

#[test]
fn resources_and_yc_sections_stay_as_they_are() {
    let mut f = crypted(&plain());
    put(&mut f, 0x80 + 24 + 0xe0, b".rsrc\0\0\0");
    let before = f[TEXT..TEXT + TEXT_LEN].to_vec();
    let mut c = collect(budget());
    yc(&f, &mut c);
    assert_eq!(&c.children[0].1[TEXT..TEXT + TEXT_LEN], &before[..]);
}

#[test]
fn the_emulator_follows_each_instruction() {
    // sub al, 5; sub al, cl; xor al, 0x10; xor al, cl; dec al;
    // add al, 0x10; add al, cl; rol al, 6; ror al, 5; ror al, cl;
    // rol al, cl (ClamAV steps one byte further after those two); jmp
    // over a byte ClamAV does not know; clc; stc.
    let code = [
        0x2c, 0x05, 0x2a, 0xc1, 0x34, 0x10, 0x32, 0xc1, 0xfe, 0xc8, 0x04,
        0x10, 0x02, 0xc1, 0xc0, 0xc0, 0x06, 0xc0, 0xc8, 0x05, 0xd2, 0xc8,
        0x90, 0xd2, 0xc0, 0x90, 0xeb, 0x01, 0xcc, 0xf8, 0xf9,
    ];
    let mut buf = decryptor(&code).to_vec();
    buf.extend_from_slice(&[0x00, 0x7f, 0xff]);
    let mut jumps = 10;
    emulate(&mut buf, 0, 0x30, 3, 3, &mut jumps).unwrap();
    let model = |mut al: u8, cl: u8| {
        al = al.wrapping_sub(5).wrapping_sub(cl) ^ 0x10 ^ cl;
        al = al.wrapping_sub(1).wrapping_add(0x10).wrapping_add(cl);
        al = al.rotate_left(6).rotate_right(5);
        al.rotate_right(u32::from(cl & 7)).rotate_left(u32::from(cl & 7))
    };
    assert_eq!(&buf[0x30..], &[model(0, 3), model(0x7f, 2), model(0xff, 1)]);
    assert_eq!(jumps, 7);
}

#[test]
fn decryptor_faults() {
    let mut jumps = 1000;
    // An instruction outside the set.
    let mut buf = decryptor(&[0xcc]).to_vec();
    buf.push(0);
    assert_eq!(emulate(&mut buf, 0, 0x30, 1, 1, &mut jumps), Err(Fail::Other));
    // A jump to itself, until the jumps run out.
    let mut buf = decryptor(&[0xeb, 0xfe]).to_vec();
    buf.push(0);
    assert_eq!(emulate(&mut buf, 0, 0x30, 1, 1, &mut jumps), Err(Fail::Other));
    assert_eq!(jumps, 0);
    // A decryptor jumping past the end of the file.
    let mut buf = vec![0xeb, 0x10, 0x90, 0x90];
    let mut jumps = 1000;
    assert_eq!(emulate(&mut buf, 0, 0, 1, 1, &mut jumps), Err(Fail::Bounds));
}

#[test]
fn a_plain_pe_is_left_alone() {
    let pe = crate::pe::tests::tiny_pe();
    let mut c = collect(budget());
    yc(&pe, &mut c);
    assert!(c.children.is_empty() && c.alerts.is_empty());
}

/// ClamAV's sample: the file clamscan writes (its MD5 from the file
/// `--leave-temps` keeps) is the one made here.
#[test]
fn clamav_sample_decrypted_as_clamav_decrypts_it() {
    use md5::Digest;
    let Ok(pe) = std::fs::read("/usr/share/clamav-testfiles/clam-yc.exe")
    else {
        panic!("apt-get install clamav-testfiles");
    };
    let mut c = collect(budget());
    yc(&pe, &mut c);
    assert_eq!(c.children.len(), 1);
    let file = &c.children[0].1;
    assert_eq!(file.len(), 3072);
    let md5: String =
        md5::Md5::digest(file).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(md5, "8822fca1f7b0cb5506f15f8088956197");
}
