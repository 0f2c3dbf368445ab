//! Mail links through the phishing check: the input as a message's HTML body, with domain, allow and URL-hash lists loaded and every phishing alert on.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| nod32_engine_fuzz::scan_links(data));
