use super::*;
use crate::unpack::tests::{budget, collect};

#[test]
fn a_plain_pe_is_left_alone() {
    let pe = crate::pe::tests::tiny_pe();
    let mut c = collect(budget());
    let u = upx(&pe, &mut c);
    assert!(u.skipped.is_none());
    assert!(c.children.is_empty());
}

/// ClamAV's own UPX sample: the file clamscan rebuilds from it (its MD5
/// read from `clamscan --debug`) is the one made here.
#[test]
fn clamav_sample_rebuilt_as_clamav_rebuilds_it() {
    use md5::Digest;
    let Ok(pe) = std::fs::read("/usr/share/clamav-testfiles/clam-upx.exe")
    else {
        panic!("apt-get install clamav-testfiles");
    };
    let mut c = collect(budget());
    let u = upx(&pe, &mut c);
    assert!(u.skipped.is_none());
    assert_eq!(c.children.len(), 1);
    let file = &c.children[0].1;
    assert_eq!(file.len(), 20480);
    let md5: String =
        md5::Md5::digest(file).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(md5, "3b03bc19b1f39587a0650c7b6fe35d38");
}
