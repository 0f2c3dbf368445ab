//! The agent's in-place mail edits on hostile messages: structure,
//! part removal, footers, the result header, the subject tag and the
//! DKIM header scan, each applied as the agents apply them. Never a
//! panic; the header always lands on top.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nod32_agent::{apply, mime};

fuzz_target!(|data: &[u8]| {
    let _ = mime::dkim_signed_headers(data);
    let _ = mime::subject(data);
    let _ = mime::message_id(data);
    if let Some(e) = mime::tag_subject(data, "[virus X]") {
        let tagged = apply(data, &[e]);
        assert!(tagged.len() > data.len());
        assert_eq!(mime::tag_subject(&tagged, "[virus X]"), None);
    }
    let marked = apply(data, &mime::set_header(data, "X-NOD32Result", "deleted"));
    let from_line = data.starts_with(b"From ");
    assert!(from_line || marked.starts_with(b"X-NOD32Result: deleted"));
    let m = mime::Message::parse(data);
    let leaves = m.root.leaves();
    let cut: Vec<_> = leaves
        .iter()
        .step_by(2)
        .filter(|p| p.start != m.root.start)
        .map(|p| (*p, "removed".to_string()))
        .collect();
    if let Some(e) = m.replace_parts(&cut) {
        let _ = apply(data, &[e]);
    }
    for p in &leaves {
        let _ = m.decoded(p);
    }
    if let Some(e) = mime::add_footer(&m, "-- \nfooter", "<p>footer</p>", true) {
        let _ = apply(data, &[e]);
    }
});
