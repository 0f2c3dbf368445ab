//! Scripts in pages through ClamAV's JavaScript normaliser: the input
//! is the body of a `<script>` (its end tag, more scripts, packers and
//! nested `eval`s as it likes).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut page = b"<html><script>".to_vec();
    page.extend_from_slice(data);
    let _ = nod32_engine::html_forms(&page);
});
