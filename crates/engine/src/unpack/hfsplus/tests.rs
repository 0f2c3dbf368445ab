use super::*;
use crate::unpack::tests::{budget, collect};

#[allow(dead_code)]
#[path = "../../../../../tests/src/hfsplus.rs"]
mod writer;

use writer::{Compress, File, Options, image};

fn walk(img: &[u8]) -> (Vec<(String, Vec<u8>)>, Option<Reason>) {
    let mut c = collect(budget());
    let skipped = hfsplus(img, &mut c).skipped;
    (c.children, skipped)
}

fn small() -> Options {
    Options { block: 512, ..Options::default() }
}

/// Bytes that do not compress, so that a compressed file needs its
/// resource fork.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

#[test]
fn files_come_out_under_their_paths_with_both_forks() {
    let mut docs = File::new("Docs/2026/Rechnung.pdf", b"invoice body, plain");
    docs.rsrc = b"a resource fork".to_vec();
    let files = [File::new("readme.txt", b"hello, world\n"), docs];
    for o in [small(), Options { hfsx: true, ..Options::default() }] {
        let (got, skipped) = walk(&image(&files, &o));
        assert_eq!(skipped, None);
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "readme.txt",
                "Docs/2026/Rechnung.pdf",
                "Docs/2026/Rechnung.pdf/..namedfork/rsrc"
            ]
        );
        assert_eq!(got[1].1, b"invoice body, plain");
        assert_eq!(got[2].1, b"a resource fork");
    }
}

#[test]
fn fragmented_forks_are_followed_into_the_overflow_tree() {
    let data = noise(40 * 512 + 77, 7);
    for pieces in [3, 8, 9, 20] {
        let mut f = File::new("frag.bin", &data);
        f.pieces = pieces;
        let (got, skipped) = walk(&image(&[f], &small()));
        assert_eq!(skipped, None, "{pieces} pieces");
        assert_eq!(got.len(), 1);
        assert!(got[0].1 == data, "{pieces} pieces");
    }
}

#[test]
fn compressed_files_are_decompressed() {
    let text = b"compressible text, ".repeat(200);
    let big = noise(150_000, 3);
    let mut inline = File::new("inline.txt", &text);
    inline.compress = Compress::Inline;
    let mut rsrc = File::new("big.bin", &big);
    rsrc.compress = Compress::Resource;
    let mut stored = File::new("stored.bin", b"stored as it is");
    stored.compress = Compress::Stored;
    let (got, skipped) = walk(&image(&[inline, rsrc, stored], &small()));
    assert_eq!(skipped, None);
    assert_eq!(got[0].0, "big.bin");
    assert!(got[0].1 == big);
    // The resource fork itself is scanned too, as ClamAV does.
    assert_eq!(got[1].0, "big.bin/..namedfork/rsrc");
    assert_eq!(got[2], ("inline.txt".to_string(), text));
    assert_eq!(
        got[3],
        ("stored.bin".to_string(), b"stored as it is".to_vec())
    );
}

#[test]
fn a_leaf_chain_that_loops_ends_at_the_first_node_read_again() {
    let files: Vec<File> = (0..12)
        .map(|i| {
            File::new(&format!("f{i:02}"), format!("content {i}").as_bytes())
        })
        .collect();
    let o = Options { per_leaf: 3, loop_leaves: true, ..small() };
    let (got, skipped) = walk(&image(&files, &o));
    assert_eq!(got.len(), 12);
    assert_eq!(skipped, Some(DAMAGED));
    // A leaf that links to itself, as ClamAV checks.
    let o = Options { loop_leaves: true, ..small() };
    let (got, skipped) = walk(&image(&files[..1], &o));
    assert_eq!((got.len(), skipped), (1, Some(DAMAGED)));
}

#[test]
fn huge_claims_and_stray_extents_cost_nothing_and_the_walk_goes_on() {
    let mut huge = File::new("a-huge", b"small really");
    huge.claim = Some(4 << 30);
    let mut billions = File::new("b-billions", b"x");
    billions.claim = Some(1000);
    billions.extents = Some(vec![(3, u32::MAX - 2)]);
    let mut outside = File::new("c-outside", b"y");
    outside.claim = Some(1000);
    outside.extents = Some(vec![(0x00ff_ffff, 4)]);
    let last = File::new("d-last", b"still read");
    let (got, skipped) =
        walk(&image(&[huge, billions, outside, last], &small()));
    assert_eq!(skipped, Some(Reason::FileSizeLimit));
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["d-last"]);
}

#[test]
fn a_fork_cut_by_the_image_end_is_scanned_as_far_as_it_goes() {
    let data = noise(20 * 512, 9);
    let img = image(&[File::new("cut.bin", &data)], &small());
    // The data is written last, before the free block and the copy of
    // the header: cut in its middle.
    let at = memchr::memmem::find(&img, &data[..64]).unwrap();
    let (got, skipped) = walk(&img[..at + 5000]);
    assert_eq!(skipped, Some(DAMAGED));
    assert!(got[0].1 == data[..5000]);
}

#[test]
fn broken_headers_leave_the_volume_unread() {
    let img = image(&[File::new("a", b"content a")], &small());
    assert_eq!(walk(&img).0.len(), 1);
    for (at, byte) in [(1024 + 43, 0x33u8), (1025, b'X')] {
        let mut bad = img.clone();
        bad[at] = byte;
        assert_eq!(walk(&bad), (Vec::new(), Some(DAMAGED)));
    }
    assert_eq!(walk(&img[..1500]), (Vec::new(), Some(DAMAGED)));
}

#[test]
fn a_compressed_length_over_the_limit_is_not_inflated() {
    let mut f = File::new("bomb", &vec![0u8; 3 << 20]);
    f.compress = Compress::Inline;
    let (got, skipped) = walk(&image(&[f], &small()));
    assert!(got.is_empty());
    assert_eq!(skipped, Some(Reason::FileSizeLimit));
}

/// Runs whose positions stopped growing (they saturate on a damaged
/// tree) can end before the offset asked for: such a run gives nothing
/// and the read goes on, or fails, without an overflow (CI's fuzz smoke
/// of stop 44 found `run_at + run_len - want` underflowing).
#[test]
fn a_run_ending_before_the_offset_is_passed_over() {
    let data: Vec<u8> = (0..=255u8).cycle().take(8 * 512).collect();
    let v = Volume {
        data: &data,
        block: 512,
        blocks: 8,
        overflow: HashMap::new(),
        catalog: None,
        attributes: None,
    };
    // An empty run at 0, then blocks 2..4 holding file bytes 0..1024.
    let runs = [(0, 1, 0), (0, 2, 2)];
    assert_eq!(
        v.fork_bytes(&runs, 1024, 100, 4),
        Some(data[1124..1128].to_vec())
    );
    // Both runs said to start at 0 with one block each, the second
    // reached with `at` past the first's end.
    let runs = [(0, 1, 1), (0, 3, 1)];
    assert_eq!(v.fork_bytes(&runs, 2048, 600, 4), None);
    // A block size whose product overflows: refused, not wrapped.
    let huge = Volume { block: u64::MAX / 2, ..v };
    assert_eq!(huge.fork_bytes(&[(0, 1, 4)], 4096, 0, 4), None);
}
