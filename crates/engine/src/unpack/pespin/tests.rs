use super::*;
use crate::unpack::tests::{budget, collect};
use crate::verdict::Reason;

fn md5(d: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(d).iter().map(|b| format!("{b:02x}")).collect()
}

fn sample() -> Vec<u8> {
    std::fs::read("/usr/share/clamav-testfiles/clam-pespin.exe")
        .expect("apt-get install clamav-testfiles")
}

#[test]
fn a_plain_pe_is_left_alone() {
    let pe = crate::pe::tests::tiny_pe();
    let mut c = collect(budget());
    let u = pespin(&pe, &mut c);
    assert!(u.skipped.is_none());
    assert!(c.children.is_empty());
}

/// ClamAV's own sample: the file clamscan rebuilds from it (its MD5
/// and size from `clamscan --leave-temps`) is the one made here.
#[test]
fn clamav_sample_rebuilt_as_clamav_rebuilds_it() {
    let pe = sample();
    let mut c = collect(budget());
    let u = pespin(&pe, &mut c);
    assert!(u.skipped.is_none());
    assert_eq!(c.children.len(), 1);
    let file = &c.children[0].1;
    assert_eq!(file.len(), 6656);
    assert_eq!(md5(file), "ea58113cd88ec4715020f5189529d35b");
}

/// The sample's compressed section claiming 1.75 GiB of memory: the
/// limit is recorded, nothing allocated.
#[test]
fn a_huge_compressed_section_is_a_limit() {
    let mut pe = sample();
    let h = 0xc8 + 24 + 0xe0 + 3 * 40;
    pe[h + 8..h + 12].copy_from_slice(&0x7000_0000u32.to_le_bytes());
    let mut c = collect(budget());
    let u = pespin(&pe, &mut c);
    assert_eq!(u.skipped, Some(Reason::FileSizeLimit));
    assert!(c.children.is_empty());
}

/// Damaged samples: truncated anywhere, or any byte of the loader's
/// first page changed, end without a child or a panic.
#[test]
fn damaged_samples_end_quietly() {
    let pe = sample();
    for cut in (0..pe.len()).step_by(0x80) {
        let mut c = collect(budget());
        let _ = pespin(&pe[..cut], &mut c);
        assert!(c.children.is_empty(), "cut at {cut:#x}");
    }
    for at in (0xc87..0x1c87).step_by(7) {
        let mut d = pe.clone();
        d[at] ^= 0xff;
        let mut c = collect(budget());
        let _ = pespin(&d, &mut c);
    }
}

/// Bits MSB first in tag bytes taken when needed, as the decoder reads
/// them.
struct Bits {
    out: Vec<u8>,
    tag: usize,
    left: u8,
}

impl Bits {
    fn new(first: u8) -> Bits {
        Bits { out: vec![first], tag: 0, left: 0 }
    }
    fn bits(&mut self, bits: &[u8]) -> &mut Bits {
        for &b in bits {
            if self.left == 0 {
                self.tag = self.out.len();
                self.out.push(0);
                self.left = 8;
            }
            self.left -= 1;
            self.out[self.tag] |= b << self.left;
        }
        self
    }
    fn byte(&mut self, b: u8) -> &mut Bits {
        self.out.push(b);
        self
    }
}

fn decode(src: &[u8], size: usize) -> Option<Vec<u8>> {
    let mut d = vec![0u8; size];
    aplib::decode(src, &mut d)?;
    Some(d)
}

#[test]
fn aplib_literals_matches_and_end() {
    let mut s = Bits::new(b'a');
    s.bits(&[0]).byte(b'b');
    // 110: two bytes from distance 2, then three from distance 1.
    s.bits(&[1, 1, 0]).byte(2 << 1);
    s.bits(&[1, 1, 0]).byte(1 << 1 | 1);
    // 111 + 0001: one byte from distance 1.
    s.bits(&[1, 1, 1, 0, 0, 0, 1]);
    // 111 + 0000: a zero byte.
    s.bits(&[1, 1, 1, 0, 0, 0, 0]);
    s.bits(&[0]).byte(b'c');
    // 10, gamma 2 after a literal: the last distance (1) again, gamma 3.
    s.bits(&[1, 0, 0, 0, 1, 0]);
    s.bits(&[1, 1, 0]).byte(0);
    let d = decode(&s.out, 16).unwrap();
    assert_eq!(&d, b"ababbbbb\0cccc\0\0\0");
}

#[test]
fn aplib_long_matches() {
    // 10, gamma 4 after a literal: offset high byte 1, low byte 0x00:
    // distance 0x100, gamma 2 for 2 bytes (nothing added at this
    // distance).
    let mut s = Bits::new(7);
    for i in 1..=0x100u32 {
        s.bits(&[0]).byte(i as u8);
    }
    s.bits(&[1, 0, 0, 1, 0, 0]).byte(0).bits(&[0, 0]);
    s.bits(&[1, 1, 0]).byte(0);
    let d = decode(&s.out, 0x103).unwrap();
    assert_eq!(d[0x101..0x103], [1, 2]);
}

#[test]
fn aplib_refuses_what_clamav_refuses() {
    // A match before the output's start.
    let mut s = Bits::new(b'a');
    s.bits(&[1, 1, 0]).byte(5 << 1);
    s.bits(&[1, 1, 0]).byte(0);
    assert!(decode(&s.out, 16).is_none());
    // Output past the section's memory.
    let mut s = Bits::new(b'a');
    s.bits(&[0]).byte(b'b').bits(&[0]).byte(b'c');
    s.bits(&[1, 1, 0]).byte(0);
    assert!(decode(&s.out, 2).is_none());
    assert!(decode(&s.out, 3).is_some());
    // No end: the stream runs out.
    let mut s = Bits::new(b'a');
    s.bits(&[0]).byte(b'b');
    assert!(decode(&s.out, 16).is_none());
    // A tag byte is never the stream's last byte.
    assert!(decode(&[b'a', 0x00], 16).is_none());
    assert!(decode(&[], 16).is_none());
    assert!(decode(&[1], 0).is_none());
}

#[test]
fn poly_code_as_clamav_emulates_it() {
    let mut code = [0x90u8; 0x25];
    let ops = [0x04, 0x3d, 0x32, 0xc1, 0xc0, 0xc0, 0x03, 0xfe, 0xc8, 0xeb, 0];
    code[..ops.len()].copy_from_slice(&ops);
    code[0x24] = 0xaa;
    let p = poly::Poly::read(&code).unwrap();
    let al = 0x12u8;
    let want = ((al.wrapping_add(0x3d)) ^ 0x07).rotate_left(3).wrapping_sub(1);
    assert_eq!(p.run(al, 7), want);
    // No `stosb` at the end, code running past it, an unknown opcode.
    let mut bad = code;
    bad[0x24] = 0x90;
    assert!(poly::Poly::read(&bad).is_none());
    let mut bad = code;
    bad[0x22] = 0xc0;
    assert!(poly::Poly::read(&bad).is_none());
    let mut bad = code;
    bad[0] = 0xcc;
    assert!(poly::Poly::read(&bad).is_none());
    assert!(poly::Poly::read(&code[..0x20]).is_none());
}

/// Bytes decrypted over the code change it for the bytes after.
#[test]
fn poly_code_overwritten_midway_is_read_again() {
    let mut buf = vec![0x90u8; 0x40];
    buf[0x24] = 0xaa;
    // `inc al` over the code's own `nop`s makes them 0x91, an opcode
    // ClamAV refuses, for the bytes after.
    buf[0] = 0xfe;
    buf[1] = 0xc0;
    buf[0x30] = 0x8f;
    let mut b = buf.clone();
    assert!(poly::decrypt(&mut b, 0x30, 1, 0).is_some());
    assert_eq!(b[0x30], 0x90);
    b = buf.clone();
    assert!(poly::decrypt(&mut b, 2, 1, 0).is_some());
    assert_eq!(b[2], 0x91);
    b = buf.clone();
    assert!(poly::decrypt(&mut b, 2, 2, 0).is_none());
}
