use super::*;
use crate::unpack::tests::{budget, collect};

const SAMPLE: &str = "/usr/share/clamav-testfiles/clam-aspack.exe";

fn sample() -> Vec<u8> {
    std::fs::read(SAMPLE).expect("apt-get install clamav-testfiles")
}

fn md5(d: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(d).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_plain_pe_is_left_alone() {
    let pe = crate::pe::tests::tiny_pe();
    let mut c = collect(budget());
    let u = aspack(&pe, &mut c);
    assert!(u.skipped.is_none());
    assert!(c.children.is_empty());
}

/// ClamAV's own ASPack sample: the file clamscan rebuilds from it (kept
/// with `--leave-temps`) is the one made here.
#[test]
fn clamav_sample_rebuilt_as_clamav_rebuilds_it() {
    let pe = sample();
    let mut c = collect(budget());
    let u = aspack(&pe, &mut c);
    assert!(u.skipped.is_none());
    assert_eq!(c.children.len(), 1);
    let file = &c.children[0].1;
    assert_eq!(file.len(), 17408);
    assert_eq!(md5(file), "4a4477a6d2d866b38806e9bfa5a6bb2e");
}

/// Every byte of the stub's section and of the packed data changed, and
/// the file cut at every 0x40 bytes: no panic, at most one child.
#[test]
fn damaged_samples_do_not_panic() {
    let pe = sample();
    let mut changed = 0;
    for at in (0x200..pe.len()).step_by(3) {
        for x in [0x01u8, 0x80, 0xff] {
            let mut bad = pe.clone();
            bad[at] ^= x;
            let mut c = collect(budget());
            let _ = aspack(&bad, &mut c);
            assert!(c.children.len() <= 1);
            changed += usize::from(c.children.is_empty());
        }
    }
    assert!(changed > 0);
    for len in (0..pe.len()).step_by(0x40) {
        let mut c = collect(budget());
        let _ = aspack(&pe[..len], &mut c);
    }
}

/// The decoding allowed all told: a block list naming more than four
/// images' worth stops with a time limit.
#[test]
fn decoding_stops_at_its_work_limit() {
    let pe = sample();
    let exe = Exe::read(&pe).unwrap();
    let stub = version(&pe, &exe).unwrap();
    assert_eq!(stub.blocks, 0x57c);
    let mut image = load(&pe, &exe.sections, 0x7000).unwrap();
    let ep = exe.vep - 1;
    let mut work = 0x100;
    let r = unpack(&mut image, stub, ep, &mut work);
    assert_eq!(r, Err(Some(Reason::Timeout)));
    let mut work = 0x1400;
    assert_eq!(unpack(&mut image.clone(), stub, ep, &mut work), Ok(()));
    assert_eq!(work, 0x1400 - 0x200 - 0x1a8 - 0x1000);
}

/// Code lengths that are no complete code, or longer than 17, make no
/// table; a complete one does.
#[test]
fn tables_want_a_complete_code() {
    use decode::tests::build;
    assert!(build(&[1, 1]));
    assert!(build(&[1, 2, 2, 0]));
    assert!(!build(&[1, 2]));
    assert!(!build(&[1, 1, 1]));
    assert!(!build(&[18, 1]));
    assert!(!build(&[0, 0]));
}
