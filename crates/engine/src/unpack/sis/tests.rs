use super::*;
use crate::filetype::{FileType, detect};
use crate::unpack::Budget;
use crate::unpack::tests::{budget, collect};

#[allow(dead_code)]
#[path = "../../../../../tests/src/sis.rs"]
mod writer;

use writer::{File, Record, Sis, write, write9};

fn walk_with(b: Budget, d: &[u8]) -> (Vec<(String, Vec<u8>)>, Option<Reason>) {
    let mut c = collect(b);
    let skipped = sis(d, &mut c).skipped;
    (c.children, skipped)
}

fn walk(d: &[u8]) -> (Vec<(String, Vec<u8>)>, Option<Reason>) {
    walk_with(budget(), d)
}

fn bodies(c: &[(String, Vec<u8>)]) -> Vec<&[u8]> {
    c.iter().map(|(_, d)| d.as_slice()).collect()
}

/// Text that compresses well: so a zlib copy is far shorter.
fn text(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| b"abcd efgh\n"[(i + seed as usize) % 10]).collect()
}

fn one(copies: Vec<Vec<u8>>) -> Record {
    Record::File(File::new("C:\\build\\app.exe", copies))
}

#[test]
fn typed_by_the_epoc_uid_anywhere_from_byte_8_to_20() {
    let s = write(&Sis::new(vec![one(vec![b"payload".to_vec()])]));
    assert_eq!(detect(&s), FileType::Sis);
    assert_eq!(detect(&write9(b"x")), FileType::Sis);
    let mut shifted = vec![0u8; 40];
    shifted[20..24].copy_from_slice(&0x1000_0419u32.to_le_bytes());
    assert_eq!(detect(&shifted), FileType::Sis);
    let mut late = vec![0u8; 40];
    late[21..25].copy_from_slice(&0x1000_0419u32.to_le_bytes());
    assert_eq!(detect(&late), FileType::Binary);
}

#[test]
fn stored_and_compressed_files_every_language() {
    for stored in [true, false] {
        let mut s = Sis::new(vec![
            Record::Options(vec!["a".into(), "b".into()]),
            Record::If(b"cond".to_vec()),
            one(vec![text(0, 5000), text(1, 300), text(2, 7)]),
            Record::ElseIf(b"other-condition".to_vec()),
            Record::Else,
            one(vec![b"second en".to_vec(), vec![], b"second de".to_vec()]),
            Record::EndIf,
        ]);
        s.langs = vec![1, 2, 3];
        s.stored = stored;
        let (c, skipped) = walk(&write(&s));
        assert_eq!(skipped, None, "stored {stored}");
        let mut want: Vec<Vec<u8>> =
            vec![text(0, 5000), text(1, 300), text(2, 7)];
        want.push(b"second en".to_vec());
        // An empty copy is stored as nothing, but compressed it is a zlib
        // stream of nothing: ClamAV inflates and scans it.
        if !stored {
            want.push(vec![]);
        }
        want.push(b"second de".to_vec());
        assert!(bodies(&c) == want, "stored {stored}: {}", c.len());
        assert_eq!(c[0].0, "C:\\build\\app.exe");
    }
}

#[test]
fn null_files_and_unnamed_files() {
    let mut nul = File::new("C:\\x", vec![b"not extracted".to_vec()]);
    nul.kind = 4;
    let mut anon = File::new("", vec![b"anonymous".to_vec()]);
    anon.kind = 3;
    let s = Sis::new(vec![Record::File(nul), Record::File(anon)]);
    let (c, skipped) = walk(&write(&s));
    assert_eq!(skipped, None);
    assert_eq!(c, [("sis00".to_string(), b"anonymous".to_vec())]);
}

#[test]
fn compressed_output_must_fit_clamavs_buffer() {
    // 200 KB of one byte: zlib makes a few hundred bytes of it, so three
    // times the stored size is too small and the claim decides.
    let big = vec![b'z'; 200_000];
    let mut f = File::new("C:\\big", vec![big.clone()]);
    f.claimed = Some(200_000);
    let (c, _) = walk(&write(&Sis::new(vec![Record::File(f.clone())])));
    assert!(bodies(&c) == [big.as_slice()]);
    // A claim one byte short: zlib would run out of room, so nothing.
    f.claimed = Some(199_999);
    let (c, skipped) = walk(&write(&Sis::new(vec![Record::File(f.clone())])));
    assert!(c.is_empty());
    assert_eq!(skipped, Some(DAMAGED));
    // A claim under three times the stored size: three times it is.
    f.claimed = Some(1);
    let (c, _) = walk(&write(&Sis::new(vec![Record::File(f)])));
    assert!(c.is_empty());
    // Bytes zlib cannot shrink: three times the stored size is room.
    let mut x = 7u32;
    let small: Vec<u8> = (0..600)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    let mut g = File::new("C:\\small", vec![small.clone()]);
    g.claimed = Some(1);
    let (c, _) = walk(&write(&Sis::new(vec![Record::File(g)])));
    assert_eq!(bodies(&c), [small.as_slice()]);
}

#[test]
fn a_claim_past_the_limits_is_not_inflated() {
    let mut f = File::new("C:\\bomb", vec![vec![0u8; 3 << 20]]);
    f.claimed = Some(u32::MAX);
    let (c, skipped) = walk(&write(&Sis::new(vec![Record::File(f)])));
    assert!(c.is_empty());
    assert_eq!(skipped, Some(Reason::FileSizeLimit));
}

#[test]
fn damaged_checksum_and_stream_are_not_scanned() {
    let s = write(&Sis::new(vec![one(vec![text(0, 900)])]));
    // The adler-32 is the stream's last four bytes, before the name.
    let mut bad = s.clone();
    let z = memchr::memmem::find(&s, &[0x78, 0xda]).unwrap();
    bad[z + 2] ^= 0xff;
    let (c, skipped) = walk(&bad);
    assert!(c.is_empty());
    assert_eq!(skipped, Some(DAMAGED));
}

#[test]
fn pointers_into_the_header_or_past_the_end() {
    for p in [0, 83, u32::MAX - 2] {
        let mut f = File::new("C:\\p", vec![b"data data".to_vec()]);
        f.pointer = Some(p);
        let mut s =
            Sis::new(vec![Record::File(f), one(vec![b"later".to_vec()])]);
        s.stored = true;
        let (c, skipped) = walk(&write(&s));
        assert_eq!(bodies(&c), [&b"later"[..]], "{p}");
        assert_eq!(skipped, Some(DAMAGED));
    }
}

#[test]
fn truncated_and_overclaimed_record_streams() {
    let mut s = Sis::new(vec![one(vec![b"first file".to_vec()])]);
    s.stored = true;
    s.claimed_records = Some(u16::MAX);
    let full = write(&s);
    let (c, skipped) = walk(&full);
    assert_eq!(bodies(&c), [&b"first file"[..]]);
    assert_eq!(skipped, Some(DAMAGED));
    for cut in [0, 20, 83, 100, 110, 130] {
        let (c, skipped) = walk(&full[..cut.min(full.len())]);
        assert!(c.is_empty(), "{cut}");
        assert!(cut < 8 || skipped == Some(DAMAGED), "{cut}");
    }
}

#[test]
fn language_counts_clamav_refuses() {
    for n in [0usize, 100] {
        let mut s = Sis::new(vec![]);
        s.langs = vec![1; n];
        let (c, skipped) = walk(&write(&s));
        assert!(c.is_empty());
        assert_eq!(skipped, Some(DAMAGED), "{n}");
    }
    let mut s = Sis::new(vec![one(vec![b"99 languages"[..].to_vec(); 99])]);
    s.langs = vec![1; 99];
    s.stored = true;
    assert_eq!(walk(&write(&s)).0.len(), 99);
}

#[test]
fn sis9_is_left_to_the_raw_scan_as_clamav_leaves_it() {
    let (c, skipped) = walk(&write9(b"stored in a 9.x data unit"));
    assert!(c.is_empty());
    assert_eq!(skipped, None);
}

#[test]
fn max_files_ends_the_walk() {
    let mut s = Sis::new(vec![one(vec![text(0, 100)]); 10]);
    s.stored = true;
    let b = Budget { files_left: 3, ..budget() };
    let (c, skipped) = walk_with(b, &write(&s));
    assert_eq!(c.len(), 3);
    assert_eq!(skipped, Some(Reason::FilesLimit));
}

#[test]
fn options_step_wraps_at_32_bits_as_clamav_does() {
    // Options whose step (count × languages × 8) wraps to zero: the next
    // record is read right after the count.
    let mut s = Sis::new(vec![
        Record::Options(vec![]),
        one(vec![b"after options".to_vec()]),
    ]);
    s.stored = true;
    let mut d = write(&s);
    let pfiles = le32(&d, 52).unwrap() as usize;
    d[pfiles + 4..pfiles + 8].copy_from_slice(&(1u32 << 29).to_le_bytes());
    let (c, skipped) = walk(&d);
    assert_eq!(bodies(&c), [&b"after options"[..]]);
    assert_eq!(skipped, None);
}

#[test]
fn copies_sharing_one_bomb_inflate_within_the_scan_size() {
    // 99 languages, every copy the same 8 MiB of zeros claimed at 1 MiB:
    // each overflows its buffer, and is inflated once; a file after them
    // is still found.
    let mut f = File::new("C:\\bomb", vec![vec![0u8; 8 << 20]; 99]);
    f.claimed = Some(1 << 20);
    let mut s = Sis::new(vec![
        Record::File(f),
        Record::File(File::new("C:\\after", vec![b"after".repeat(9); 99])),
    ]);
    s.langs = vec![1; 99];
    let d = write(&s);
    let t = std::time::Instant::now();
    let mut c = collect(budget());
    let skipped = sis(&d, &mut c).skipped;
    assert_eq!(skipped, Some(DAMAGED));
    assert_eq!(c.children.len(), 99);
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn different_bombs_inflate_within_the_scan_size() {
    // Different streams defeat the memory of failures: together they
    // inflate no more than the 4 MiB the scan may still take in.
    let copies: Vec<Vec<u8>> = (0..99u8).map(|i| vec![i; 8 << 20]).collect();
    let mut f = File::new("C:\\bomb", copies);
    f.claimed = Some(1 << 20);
    let mut s = Sis::new(vec![Record::File(f)]);
    s.langs = vec![1; 99];
    let d = write(&s);
    let t = std::time::Instant::now();
    let mut c = collect(budget());
    let skipped = sis(&d, &mut c).skipped;
    assert!(c.children.is_empty());
    assert_eq!(skipped, Some(DAMAGED));
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
}
