use super::*;
use crate::unpack::tests::{budget, collect};

fn md5(d: &[u8]) -> String {
    use md5::Digest;
    md5::Md5::digest(d).iter().map(|b| format!("{b:02x}")).collect()
}

fn sample(name: &str) -> Vec<u8> {
    let path = format!("/usr/share/clamav-testfiles/{name}");
    std::fs::read(&path)
        .unwrap_or_else(|_| panic!("{path}: apt-get install clamav-testfiles"))
}

#[test]
fn a_plain_pe_is_left_alone() {
    let pe = crate::pe::tests::tiny_pe();
    let mut c = collect(budget());
    assert!(mew(&pe, &mut c).skipped.is_none());
    assert!(upack(&pe, &mut c).skipped.is_none());
    assert!(c.children.is_empty());
}

/// ClamAV's own MEW sample: the file clamscan rebuilds from it (kept
/// with `--leave-temps`) is the one made here.
#[test]
fn clamav_mew_sample_rebuilt_as_clamav_rebuilds_it() {
    let pe = sample("clam-mew.exe");
    let mut c = collect(budget());
    let u = mew(&pe, &mut c);
    assert!(u.skipped.is_none());
    assert_eq!(c.children.len(), 1);
    let file = &c.children[0].1;
    assert_eq!(file.len(), 21504);
    assert_eq!(md5(file), "eb55c7b07f6c22b7c09ea52a8eeaddec");
}

#[test]
fn clamav_upack_sample_rebuilt_as_clamav_rebuilds_it() {
    let pe = sample("clam-upack.exe");
    let mut c = collect(budget());
    let u = upack(&pe, &mut c);
    assert!(u.skipped.is_none());
    assert_eq!(c.children.len(), 1);
    let file = &c.children[0].1;
    assert_eq!(file.len(), 17408);
    assert_eq!(md5(file), "de4f18d10798acf90ab81dc899dffb14");
}

#[test]
fn each_sample_is_only_its_own_packer() {
    let mut c = collect(budget());
    let _ = upack(&sample("clam-mew.exe"), &mut c);
    let _ = mew(&sample("clam-upack.exe"), &mut c);
    assert!(c.children.is_empty());
}
