//! The EGG reader on archives written here from the format.

use super::*;
use crate::unpack::tests::{budget, collect};
use std::io::Write;

fn field(magic: u32, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut f = magic.to_le_bytes().to_vec();
    f.push(flags);
    f.extend((body.len() as u16).to_le_bytes());
    f.extend(body);
    f
}

/// A file header with its name, Windows attribute and (when
/// `encrypted`) a KeyBase encryption field, then its blocks.
fn file(
    name: &str,
    attribute: u8,
    encrypted: bool,
    blocks: &[Vec<u8>],
) -> Vec<u8> {
    let mut f = FILE.to_le_bytes().to_vec();
    f.extend(7u32.to_le_bytes());
    f.extend(0u64.to_le_bytes());
    f.extend(field(NAME, 0, name.as_bytes()));
    let mut info = 0u64.to_le_bytes().to_vec();
    info.push(attribute);
    f.extend(field(WINDOWS, 0, &info));
    if encrypted {
        // Its size counts its own seven header bytes.
        let mut e = ENCRYPT.to_le_bytes().to_vec();
        e.push(0);
        e.extend(24u16.to_le_bytes());
        e.push(0);
        e.extend([0x55; 16]);
        f.extend(e);
    }
    f.extend(END.to_le_bytes());
    for b in blocks {
        f.extend(b);
    }
    f
}

fn block(method: u8, packed: &[u8], size: u32) -> Vec<u8> {
    let mut b = BLOCK.to_le_bytes().to_vec();
    b.extend([method, 0]);
    b.extend(size.to_le_bytes());
    b.extend((packed.len() as u32).to_le_bytes());
    b.extend(0u32.to_le_bytes());
    b.extend(END.to_le_bytes());
    b.extend(packed);
    b
}

fn archive(fields: &[Vec<u8>], records: &[Vec<u8>]) -> Vec<u8> {
    let mut a = b"EGGA\x00\x01\x01\x02\x03\x04\0\0\0\0".to_vec();
    for f in fields {
        a.extend(f);
    }
    a.extend(END.to_le_bytes());
    for r in records {
        a.extend(r);
    }
    a.extend(END.to_le_bytes());
    a
}

fn deflate(d: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    );
    e.write_all(d).unwrap();
    e.finish().unwrap()
}

fn bzip2(d: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(
        Vec::new(),
        bzip2::Compression::default(),
    );
    e.write_all(d).unwrap();
    e.finish().unwrap()
}

fn children(a: &[u8]) -> (Vec<(String, Vec<u8>)>, Option<Reason>) {
    let mut c = collect(budget());
    let skipped = egg(a, &mut c).skipped;
    (c.children, skipped)
}

#[test]
fn every_method_blocks_a_directory_and_a_comment() {
    let text = b"an EGG member, long enough to be scanned ".repeat(300);
    let n = text.len() as u32;
    let half = text.len() / 2;
    let comment = field(COMMENT, 0, b"the archive's comment\0after");
    let a = archive(
        &[],
        &[
            file("dir", 0x40, false, &[]),
            file("stored.txt", 0x20, false, &[block(0, &text, n)]),
            file("deflated.txt", 0x20, false, &[block(1, &deflate(&text), n)]),
            file("bzip2.txt", 0x20, false, &[block(2, &bzip2(&text), n)]),
            file(
                "two blocks",
                0x20,
                false,
                &[
                    block(1, &deflate(&text[..half]), half as u32),
                    block(0, &text[half..], (text.len() - half) as u32),
                ],
            ),
            comment,
        ],
    );
    let (c, skipped) = children(&a);
    let names: Vec<_> = c.iter().map(|x| x.0.as_str()).collect();
    assert_eq!(
        names,
        ["comment", "stored.txt", "deflated.txt", "bzip2.txt", "two blocks"]
    );
    assert_eq!(c[0].1, b"the archive's comment");
    assert!(c[1..].iter().all(|x| x.1 == text));
    assert_eq!(skipped, None);
}

#[test]
fn what_clamav_does_not_decode() {
    let text = b"not decoded by ClamAV".to_vec();
    let n = text.len() as u32;
    // AZO, LZMA, a stored block whose sizes differ; an encrypted
    // member ends the walk when the alert is wanted (as here).
    let a = archive(
        &[],
        &[
            file("azo", 0x20, false, &[block(3, &text, n)]),
            file("lzma", 0x20, false, &[block(4, &text, n)]),
            file("odd", 0x20, false, &[block(0, &text, n + 1)]),
            file("secret", 0x20, true, &[block(0, &text, n)]),
            file("after", 0x20, false, &[block(0, &text, n)]),
        ],
    );
    let mut c = collect(budget());
    assert_eq!(egg(&a, &mut c).skipped, Some(DAMAGED));
    assert!(c.children.is_empty());
    assert_eq!(c.alerts, [Heur::EncryptedArchive("EGG")]);
    // A solid archive: described, nothing extracted.
    let solid = archive(
        &[field(SOLID, 0, &[])],
        &[file("in solid", 0x20, false, &[]), block(0, &text, n)],
    );
    assert_eq!(children(&solid), (vec![], Some(DAMAGED)));
}

#[test]
fn an_index_that_fails_extracts_nothing() {
    let text = b"readable, but the archive does not open".to_vec();
    let n = text.len() as u32;
    let good = archive(&[], &[file("a", 0x20, false, &[block(0, &text, n)])]);
    assert_eq!(children(&good).0.len(), 1);
    // Junk after the files, a block cut short, a block without its
    // end mark: ClamAV's index fails and nothing is scanned.
    let mut junk = good[..good.len() - 4].to_vec();
    junk.extend(b"JUNK");
    let cut = good[..good.len() - 10].to_vec();
    let mut unmarked = good.clone();
    let at = unmarked.len() - 4 - text.len() - 4;
    unmarked[at] ^= 0xff;
    for bad in [junk, cut, unmarked] {
        assert_eq!(children(&bad), (vec![], Some(DAMAGED)));
    }
    // Without its end mark, the archive still opens.
    assert_eq!(children(&good[..good.len() - 4]).0.len(), 1);
}

#[test]
fn clamav_offsets_for_odd_fields() {
    // A relative name's parent id is passed over twice: the next
    // four bytes are never read as a field.
    let mut f = FILE.to_le_bytes().to_vec();
    f.extend(7u32.to_le_bytes());
    f.extend(0u64.to_le_bytes());
    f.extend(field(NAME, RELATIVE, b"\x01\0\0\0rel.txt"));
    f.extend(b"skip");
    f.extend(END.to_le_bytes());
    f.extend(block(0, b"relative", 8));
    let (c, _) = children(&archive(&[], &[f]));
    assert_eq!(c, [("rel.txt".to_string(), b"relative".to_vec())]);
    // A member without a name ends the walk.
    let mut f = FILE.to_le_bytes().to_vec();
    f.extend([0; 12]);
    f.extend(END.to_le_bytes());
    let a = archive(
        &[],
        &[f, block(0, b"x", 1), file("b", 0x20, false, &[block(0, b"y", 1)])],
    );
    assert_eq!(children(&a), (vec![], Some(DAMAGED)));
    assert_eq!(trim_partial_utf8("é".as_bytes()), "é".as_bytes());
    assert_eq!(trim_partial_utf8(b"ab\xc3"), b"ab");
    assert_eq!(trim_partial_utf8(b"ab\xe2\x82"), b"ab");
}

#[test]
fn claims_and_bombs_stay_within_the_limits() {
    // A member claiming 4 GB in two blocks is skipped on its claim.
    let claim = file(
        "huge",
        0x20,
        false,
        &[block(0, b"x", u32::MAX), block(0, b"y", u32::MAX)],
    );
    assert_eq!(
        children(&archive(&[], &[claim])),
        (vec![], Some(Reason::ScanSizeLimit))
    );
    // One that lies: decoded only to the file limit.
    let zeros = vec![0u8; 4 << 20];
    let bomb = file("bomb", 0x20, false, &[block(1, &deflate(&zeros), 1)]);
    let mut b = budget();
    b.max_file = 1 << 20;
    let mut c = collect(b);
    assert_eq!(
        egg(&archive(&[], &[bomb]), &mut c).skipped,
        Some(Reason::FileSizeLimit)
    );
    assert_eq!(c.children[0].1.len(), 1 << 20);
    // Many members: the walk ends at the files limit.
    let one = file("m", 0x20, false, &[block(0, b"member", 6)]);
    let many = archive(&[], &vec![one; 10_000]);
    let mut c = collect(budget());
    assert_eq!(egg(&many, &mut c).skipped, Some(Reason::FilesLimit));
    assert_eq!(c.children.len(), 100);
    // Members of five bytes or less count against no limit, as in ClamAV.
    let tiny = file("t", 0x20, false, &[block(0, b"t", 1)]);
    let many = archive(&[], &vec![tiny; 10_000]);
    let mut c = collect(budget());
    assert_eq!(egg(&many, &mut c).skipped, None);
    assert_eq!(c.children.len(), 10_000);
}
