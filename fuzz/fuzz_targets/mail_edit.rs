//! The agent's in-place mail edits on hostile messages: structure,
//! part removal, footers, the result header, the subject tag and the
//! DKIM header scan. Never a panic; the header always lands on top.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nod32_agent::mime;

fuzz_target!(|data: &[u8]| {
    let _ = mime::dkim_signed_headers(data);
    let _ = mime::subject(data);
    let _ = mime::message_id(data);
    let tagged = mime::tag_subject(data, "[virus X]");
    assert!(tagged.len() >= data.len());
    let marked = mime::set_header(data, "X-NOD32Result", "deleted");
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
    let _ = m.replace_parts(&cut);
    for p in &leaves {
        let _ = m.decoded(p);
    }
    let _ = mime::add_footer(&m, "-- \nfooter", "<p>footer</p>", true);
});
