//! The anchor filter and tables the matcher probes (`module/pass.rs`,
//! `module/filter.rs`).

use crate::module::{filter_probe, slot_of};
use crate::sigs::body;

/// The anchor filter over the 4-byte anchors and their open-addressing
/// table: its two sizes (bits) and both sections.
pub(super) fn anchor_filter(
    mut anchors4: Vec<(u32, u32)>,
) -> (u32, u32, Vec<u8>, Vec<u8>) {
    // The anchor filter: 32 to 64 bits per anchor (512 KB for 100k
    // anchors stays in L2; measured faster than a sparser 2 MB one).
    anchors4.sort_unstable();
    anchors4.dedup();
    let n4 = anchors4.len().max(1);
    let k = (n4 * 32).next_power_of_two().trailing_zeros().clamp(16, 24);
    // (anchor, pattern) pairs in an open-addressing table at most half
    // full: a filter hit costs one cache miss, not an index and a list.
    let b = (n4 * 2).next_power_of_two().trailing_zeros().clamp(8, 24);
    let mut bitmap4 = vec![0u8; 1 << (k - 3)];
    let slots = 1usize << b;
    let mut table = vec![(0u32, u32::MAX); slots];
    for &(w, p) in &anchors4 {
        let (word, bits) = filter_probe(w, k - 6);
        for (i, x) in bits.to_le_bytes().iter().enumerate() {
            bitmap4[word * 8 + i] |= x;
        }
        let mut at = slot_of(w, b);
        while table[at].1 != u32::MAX {
            at = (at + 1) & (slots - 1);
        }
        table[at] = (w, p);
    }
    let entries4: Vec<u8> = table
        .iter()
        .flat_map(|(w, p)| w.to_le_bytes().into_iter().chain(p.to_le_bytes()))
        .collect();
    (k, b, bitmap4, entries4)
}

/// Whether some anchor is made only of text bytes: when none is, the
/// matcher steps over base64 text (`module/filter.rs`).
pub(super) fn text_anchored(
    anchors4: &[(u32, u32)],
    anchors2: &[(u16, u32)],
) -> bool {
    let text = |b: &[u8]| b.iter().all(|&b| body::text_byte(b));
    anchors4.iter().any(|(w, _)| text(&w.to_le_bytes()))
        || anchors2.iter().any(|(v, _)| text(&v.to_le_bytes()))
}

/// The 2-byte anchors: a bitmap, an index by anchor, the patterns.
pub(super) fn anchor_index2(
    mut anchors2: Vec<(u16, u32)>,
) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    anchors2.sort_unstable();
    anchors2.dedup();
    let (mut bitmap2, mut index2, mut entries2) =
        (Vec::new(), Vec::new(), Vec::new());
    if !anchors2.is_empty() {
        bitmap2 = vec![0u8; 8192];
        let mut idx = vec![0u32; 65537];
        for &(v, p) in &anchors2 {
            bitmap2[v as usize >> 3] |= 1 << (v & 7);
            idx[v as usize + 1] += 1;
            entries2.extend(p.to_le_bytes());
        }
        for i in 1..idx.len() {
            idx[i] += idx[i - 1];
        }
        index2 = idx.iter().flat_map(|v| v.to_le_bytes()).collect();
    }
    (bitmap2, index2, entries2)
}
