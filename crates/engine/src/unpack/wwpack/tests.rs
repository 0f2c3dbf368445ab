use super::*;
use crate::unpack::tests::{budget, collect};

fn sample() -> Vec<u8> {
    std::fs::read("/usr/share/clamav-testfiles/clam-wwpack.exe")
        .expect("apt-get install clamav-testfiles")
}

fn md5(d: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(d).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_plain_pe_is_left_alone() {
    let pe = crate::pe::tests::tiny_pe();
    let mut c = collect(budget());
    let u = wwpack(&pe, &mut c);
    assert!(u.skipped.is_none());
    assert!(c.children.is_empty());
}

/// ClamAV's own WWPack sample: the file clamscan writes from it (its
/// MD5 and size from `clamscan --leave-temps`) is the one made here.
#[test]
fn clamav_sample_unpacked_as_clamav_unpacks_it() {
    let pe = sample();
    let mut c = collect(budget());
    let u = wwpack(&pe, &mut c);
    assert!(u.skipped.is_none());
    assert_eq!(c.children.len(), 1);
    let file = &c.children[0].1;
    assert_eq!(file.len(), 20480);
    assert_eq!(md5(file), "7b8cd3dd6a198ec191afce0206665d2d");
}

/// Every prefix and many single-byte changes of the sample: no panic.
#[test]
fn damaged_samples_end_quietly() {
    let pe = sample();
    for cut in (0..pe.len()).step_by(7) {
        let mut c = collect(budget());
        wwpack(&pe[..cut], &mut c);
    }
    for at in (0x200..pe.len()).step_by(3) {
        for x in [0x01u8, 0x80, 0xff] {
            let mut d = pe.clone();
            d[at] ^= x;
            let mut c = collect(budget());
            wwpack(&d, &mut c);
            assert!(c.children.len() <= 1);
        }
    }
}

/// Bits are taken from the top of little-endian words; a read across
/// two words joins them.
#[test]
fn bits_cross_words() {
    let input = [0x00, 0x00, 0x00, 0xa0, 0xff, 0xff, 0xff, 0xff];
    let mut b = Bits { input: &input, at: 0, word: 0, left: 32 };
    b.word = b.refill().unwrap();
    assert_eq!(b.take(3).unwrap(), 0b101);
    assert_eq!(b.take(15).unwrap(), 0);
    assert_eq!(b.take(15).unwrap(), 0b1);
    assert_eq!(b.left, 31);
    assert!(b.take(15).is_ok());
    assert!(b.take(15).is_ok());
    // The next word is missing.
    assert_eq!(b.take(2), Err(Stop::Failed));
}

/// The end mark: a two-byte copy at distance 0x1ff (flag 1, kind 3,
/// width 9).
#[test]
fn a_block_ends_at_its_mark() {
    // Bits: 0 (literal 'A'), then 1, 11, 11 and nine ones; then
    // padding.
    let bits: u32 = 0b011_1111_1111_1111 << (32 - 15);
    let mut input = bits.to_le_bytes().to_vec();
    input.push(b'A');
    input.extend_from_slice(&[0; 4]);
    let mut image = vec![0u8; 8];
    let mut work = 1000;
    decode(&mut image, 2, &input, &mut work).unwrap();
    assert_eq!(image[2], b'A');
}

/// Copies reaching before the image or past its end fail.
#[test]
fn copies_stay_inside() {
    let mut image = vec![0u8; 8];
    let mut to = 2;
    assert!(copy_back(&mut image, &mut to, 3, 2).is_err());
    assert!(copy_back(&mut image, &mut to, 1, 7).is_err());
    assert!(copy_back(&mut image, &mut to, 1, 6).is_ok());
    assert_eq!(to, 8);
}
