//! The phishing URL lists written into the module: one record per line,
//! in load order, the pattern bytes in a data section.

use crate::module::phish::{LITERAL, REGEX};
use crate::sigs::SignatureSet;
use crate::sigs::phish::{List, Pattern};

pub(super) fn write(set: &SignatureSet) -> (Vec<u8>, Vec<u8>) {
    let (mut recs, mut data) = (Vec::new(), Vec::new());
    for s in &set.phish {
        let (kind, bytes): (u8, &[u8]) = match &s.pattern {
            Pattern::Regex(r) => (REGEX, r.as_bytes()),
            Pattern::Literal(l) => (LITERAL, l),
        };
        recs.push(u8::from(s.list == List::Allow));
        recs.push(kind);
        recs.extend([0, 0]);
        recs.extend((data.len() as u32).to_le_bytes());
        recs.extend((bytes.len() as u32).to_le_bytes());
        recs.extend(0u32.to_le_bytes());
        data.extend(bytes);
    }
    (recs, data)
}
