//! The lenient MIME walk on hostile mail, seeded from the malformed-MIME
//! mutants of the evasion test: every part it finds lies inside its
//! parent and the message, the tree stays within its bounds, no decoding
//! grows past its body, and the whole scan (every mail heuristic on)
//! gives a verdict. Time and memory are held by libFuzzer's -timeout and
//! -rss_limit_mb, which cargo xtask fuzz-smoke sets for this target.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nod32_engine::mime::{self, Entity};

fn check(e: &Entity, from: usize, to: usize, n: &mut usize) {
    *n += 1;
    assert!(
        from <= e.start
            && e.start <= e.body_start
            && e.body_start <= e.end
            && e.end <= to
    );
    let mut at = e.body_start;
    for c in &e.children {
        assert!(c.start >= at, "parts in order, not overlapping");
        check(c, e.body_start, e.end, n);
        at = c.end;
    }
}

fuzz_target!(|data: &[u8]| {
    let mail = mime::parse(data);
    let mut n = 0;
    check(&mail.root, 0, data.len(), &mut n);
    assert!(n <= mime::MAX_ENTITIES);
    for leaf in mail.root.leaves() {
        let whole = std::ptr::eq(leaf, &mail.root);
        for &e in &leaf.encodings {
            let d = mime::decode_body(data, leaf, e, whole);
            assert!(d.len() <= leaf.end - leaf.body_start + 1);
        }
    }
    nod32_engine_fuzz::scan_mail(data);
});
