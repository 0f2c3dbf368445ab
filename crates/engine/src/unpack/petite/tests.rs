use super::*;
use crate::unpack::tests::{budget, collect};

fn sample() -> Vec<u8> {
    std::fs::read("/usr/share/clamav-testfiles/clam-petite.exe")
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
    let u = petite(&pe, &mut c);
    assert!(u.skipped.is_none());
    assert!(c.children.is_empty());
}

/// ClamAV's own Petite sample: the file clamscan rebuilds from it (its
/// MD5 and size from `clamscan --leave-temps`) is the one made here.
#[test]
fn clamav_sample_rebuilt_as_clamav_rebuilds_it() {
    let pe = sample();
    let mut c = collect(budget());
    let u = petite(&pe, &mut c);
    assert!(u.skipped.is_none());
    assert_eq!(c.children.len(), 1);
    let file = &c.children[0].1;
    assert_eq!(file.len(), 6144);
    assert_eq!(md5(file), "8a2bf11929515746f3df244a4ac91c7c");
    // The entry point Petite had encrypted (ClamAV's debug: 0x1020).
    let exe = Exe::read(file).unwrap();
    assert_eq!(exe.vep, 0x1020);
}

/// Every prefix and many single-byte changes of the sample: no panic,
/// and nothing larger than the limits allow.
#[test]
fn damaged_samples_end_quietly() {
    let pe = sample();
    for cut in (0..pe.len()).step_by(7) {
        let mut c = collect(budget());
        petite(&pe[..cut], &mut c);
    }
    for at in (0x200..pe.len()).step_by(3) {
        for x in [0x01u8, 0x80, 0xff] {
            let mut d = pe.clone();
            d[at] ^= x;
            let mut c = collect(budget());
            petite(&d, &mut c);
            assert!(c.children.len() <= 1);
        }
    }
}

/// The bit stream reads each byte from its top bit and refills after
/// eight bits, never from the image's last byte.
#[test]
fn bits_come_from_the_top() {
    let image = [0b1010_0000u8, 0xff, 0];
    let mut b = Bits { at: 0, held: 0 };
    let got: Vec<u32> = (0..9).map(|_| b.next(&image).unwrap()).collect();
    assert_eq!(got, [1, 0, 1, 0, 0, 0, 0, 0, 1]);
    for _ in 0..7 {
        b.next(&image).unwrap();
    }
    assert!(b.next(&image).is_err());
}

/// A table whose moves cover the image again and again stops at the
/// work bound instead of running for minutes.
#[test]
fn repeated_moves_stop_at_the_work_bound() {
    let sections =
        [Section { rva: 0x1000, vsz: 0x10_0000, ..Section::default() }];
    let mut image = vec![0u8; 0x10_0000];
    // One move record after another: 64 KiB dwords each, in place.
    let words = 0x4000u32;
    for i in 0..0x1000usize {
        let at = 0x1b8 + 12 * i;
        let last = 0x1000 + 0x8_0000 + 4 * (words - 1);
        image[at..at + 4]
            .copy_from_slice(&(words | 0x8000_0000).to_le_bytes());
        image[at + 4..at + 8].copy_from_slice(&last.to_le_bytes());
        image[at + 8..at + 12].copy_from_slice(&last.to_le_bytes());
    }
    let len = image.len() as u64;
    let mut p = Petite {
        image,
        min: 0x1000,
        sections: &sections,
        version: Version::V22,
        work: WORK_BASE + WORK_PER_BYTE * len,
    };
    assert!(matches!(p.inflate(0x40_0000, 0x1000), Err(Stop::Work)));
}
