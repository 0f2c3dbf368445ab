use std::io::{Cursor, Write};

use super::*;
use crate::unpack::tests::{budget, collect};
use crate::unpack::{Budget, ole2};

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    );
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn names(c: &crate::unpack::tests::Collect) -> Vec<&str> {
    c.children.iter().map(|x| x.0.as_str()).collect()
}

#[test]
fn inflating_stops_at_the_limits_in_steps() {
    let text = b"hello hwp ".repeat(100);
    let z = deflate(&text);
    assert_eq!(
        inflate_raw(&z, 1 << 20, 1 << 20),
        (text.clone(), Inflated::Whole)
    );
    // Input cut short: what came out, taken as the end (as zlib's
    // caller in ClamAV takes it).
    let (cut, end) = inflate_raw(&z[..z.len() / 2], 1 << 20, 1 << 20);
    assert_eq!(end, Inflated::Whole);
    assert!(text.starts_with(&cut));
    // Not deflate at all.
    assert_eq!(
        inflate_raw(b"\xff\xff\xff\xff", 1 << 20, 1 << 20).1,
        Inflated::Damaged
    );
    // A bomb: 64 MiB of zeros stops before the step passing the limit.
    let bomb = deflate(&vec![0u8; 64 << 20]);
    let (out, end) = inflate_raw(&bomb, 100_000, 1 << 30);
    assert_eq!(end, Inflated::Limit(Reason::FileSizeLimit));
    assert_eq!(out.len(), 12 * STEP);
    let (out, end) = inflate_raw(&bomb, 1 << 30, 20_000);
    assert_eq!(end, Inflated::Limit(Reason::ScanSizeLimit));
    assert_eq!(out.len(), 2 * STEP);
}

/// An HWP 5 document: its header's flags, and streams by path.
pub(crate) fn hwp5(flags: u32, streams: &[(&str, &[u8])]) -> Vec<u8> {
    let mut f = cfb::CompoundFile::create_with_version(
        cfb::Version::V3,
        Cursor::new(Vec::new()),
    )
    .unwrap();
    let mut header = b"HWP Document File".to_vec();
    header.resize(32, 0);
    header.extend(0x0500_0000u32.to_le_bytes());
    header.extend(flags.to_le_bytes());
    header.resize(256, 0);
    f.create_stream("/FileHeader").unwrap().write_all(&header).unwrap();
    for (path, data) in streams {
        let parent = &path[..path.rfind('/').unwrap()];
        if !parent.is_empty() {
            f.create_storage_all(parent).unwrap();
        }
        f.create_stream(path).unwrap().write_all(data).unwrap();
    }
    f.flush().unwrap();
    f.into_inner().into_inner()
}

#[test]
fn hwp5_compressed_streams_are_inflated_and_only_those() {
    let section = b"a paragraph of the body".repeat(20);
    let bin = b"an embedded picture's bytes".repeat(20);
    let preview = b"preview text, never compressed".repeat(5);
    let doc = hwp5(
        COMPRESSED,
        &[
            ("/DocInfo", &deflate(b"document information records")),
            ("/BodyText/Section0", &deflate(&section)),
            ("/BinData/BIN0001.jpg", &deflate(&bin)),
            ("/PrvText", &preview),
        ],
    );
    let mut c = collect(budget());
    ole2(&doc, &mut c);
    let got =
        |n: &str| c.children.iter().find(|x| x.0 == n).map(|x| x.1.clone());
    assert_eq!(got("BodyText/Section0"), Some(section));
    assert_eq!(got("BinData/BIN0001.jpg"), Some(bin));
    assert_eq!(got("DocInfo").unwrap(), b"document information records");
    assert_eq!(got("PrvText"), Some(preview));
    // The header itself is scanned as it is.
    assert!(got("FileHeader").unwrap().starts_with(b"HWP Document File"));
    assert_eq!(c.children.len(), 5, "{:?}", names(&c));
}

#[test]
fn hwp5_streams_stay_as_they_are_without_the_compressed_flag() {
    let z = deflate(&b"body".repeat(50));
    for flags in [0, COMPRESSED | PASSWORD] {
        let doc = hwp5(flags, &[("/BodyText/Section0", &z)]);
        let mut c = collect(budget());
        let skipped = ole2(&doc, &mut c).skipped;
        let s = c.children.iter().find(|x| x.0 == "BodyText/Section0");
        assert_eq!(s.unwrap().1, z, "flags {flags}");
        // Encrypted streams are scanned, but said not read.
        let locked = flags & PASSWORD != 0;
        assert_eq!(skipped, locked.then_some(Reason::Encrypted));
    }
    // Not HWP: no header signature.
    let mut f = cfb::CompoundFile::create_with_version(
        cfb::Version::V3,
        Cursor::new(Vec::new()),
    )
    .unwrap();
    f.create_stream("/FileHeader").unwrap().write_all(&[0u8; 64]).unwrap();
    f.create_stream("/Section0").unwrap().write_all(&z).unwrap();
    f.flush().unwrap();
    let doc = f.into_inner().into_inner();
    let mut c = collect(budget());
    ole2(&doc, &mut c);
    assert!(c.children.iter().any(|x| x.0 == "Section0" && x.1 == z));
}

#[test]
fn hwp5_damaged_and_bomb_streams() {
    let bomb = deflate(&vec![b'A'; 8 << 20]);
    let doc = hwp5(
        COMPRESSED,
        &[
            ("/BodyText/Section0", b"\xff\xff\xff\xffnot deflate"),
            ("/BinData/BIN0002.bmp", &bomb),
        ],
    );
    let mut c = collect(Budget {
        max_file: 1 << 20,
        bytes_left: 1 << 30,
        files_left: 100,
    });
    let skipped = ole2(&doc, &mut c).skipped;
    // Damage before any byte: nothing of it is scanned.
    assert!(!names(&c).contains(&"BodyText/Section0"));
    let b = c.children.iter().find(|x| x.0 == "BinData/BIN0002.bmp").unwrap();
    assert_eq!(b.1.len(), 128 * STEP);
    assert!(skipped.is_some());
}

#[test]
fn hwp_ole2_is_the_file_after_its_size() {
    let mut c = collect(budget());
    hwp_ole2(b"\x10\0\0\0\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", &mut c);
    assert_eq!(c.children[0].1, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest");
    assert_eq!(
        crate::filetype::detect(
            b"\x10\0\0\0\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest"
        ),
        crate::filetype::FileType::HwpOle2
    );
    // A GIF's magic is tried before it.
    assert_eq!(
        crate::filetype::detect(b"GIF8\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest"),
        crate::filetype::FileType::Gif
    );
}

pub(crate) const HWP3_MAGIC: &[u8] =
    b"HWP Document File V3.00 \x1a\x01\x02\x03\x04\x05";

/// An HWP 3 document body: no fonts or styles, one paragraph of
/// `text`, then the information blocks and their terminator.
pub(crate) fn hwp3_body(text: &[u8], blocks: &[(u32, &[u8])]) -> Vec<u8> {
    let mut b = vec![0u8; 16];
    let mut p = vec![0u8; PARA_LONG_FOR_TESTS];
    p[1..3].copy_from_slice(&(text.len() as u16 + 1).to_le_bytes());
    b.extend(p);
    for &c in text {
        b.extend([c, 0]);
    }
    b.extend([13, 0]);
    b.extend([0u8; 43]);
    for (id, data) in blocks {
        b.extend(id.to_le_bytes());
        b.extend((data.len() as u32).to_le_bytes());
        b.extend(*data);
    }
    b.extend([0u8; 8]);
    b
}

const PARA_LONG_FOR_TESTS: usize = 230;

pub(crate) fn hwp3_doc(compressed: bool, body: &[u8]) -> Vec<u8> {
    let mut d = HWP3_MAGIC.to_vec();
    let mut info = [0u8; 128];
    info[124] = compressed.into();
    d.extend(info);
    d.extend([0u8; 1008]);
    d.extend(if compressed { deflate(body) } else { body.to_vec() });
    d
}

#[test]
fn hwp3_blocks_and_body_are_children() {
    let mut image = vec![b'n'; 32];
    image.extend(b"the picture itself");
    let body = hwp3_body(
        b"Hello",
        &[
            (1, &image),
            (2, b"an OLE object here"),
            (0x77, b"unknown data block"),
        ],
    );
    for compressed in [false, true] {
        let doc = hwp3_doc(compressed, &body);
        assert_eq!(
            crate::filetype::detect(&doc),
            crate::filetype::FileType::Hwp3
        );
        let mut c = collect(budget());
        let r = hwp3(&doc, &mut c);
        assert_eq!(r.skipped, None);
        let got: Vec<(&str, &[u8])> =
            c.children.iter().map(|x| (x.0.as_str(), &x.1[..])).collect();
        assert_eq!(
            got,
            [
                ("image 1", &b"the picture itself"[..]),
                ("OLE object 2", b"an OLE object here"),
                ("information block 3", b"unknown data block"),
                ("document body", &body),
            ]
        );
    }
}

#[test]
fn hwp3_damage_and_lies_end_the_walk() {
    // A block claiming more than there is: no block, no body.
    let mut body = hwp3_body(b"Hi", &[]);
    let end = body.len() - 8;
    body.truncate(end);
    body.extend(2u32.to_le_bytes());
    body.extend(u32::MAX.to_le_bytes());
    body.extend(b"an OLE object here");
    let mut c = collect(budget());
    let skipped = hwp3(&hwp3_doc(false, &body), &mut c).skipped;
    assert!(c.children.is_empty());
    assert_eq!(skipped, Some(DAMAGED_FOR_TESTS));
    // A compressed body that inflates past MaxFileSize: what fits is
    // scanned, unparsed.
    let mut big = hwp3_body(b"Hi", &[]);
    big.extend(vec![0u8; 4 << 20]);
    let mut c = collect(budget());
    let r = hwp3(&hwp3_doc(true, &big), &mut c);
    assert_eq!(r.skipped, Some(Reason::FileSizeLimit));
    assert_eq!(c.children[0].1.len(), 128 * STEP);
    // Password: nothing read.
    let mut doc = hwp3_doc(false, &hwp3_body(b"Hi", &[(2, b"an OLE object")]));
    doc[30 + 96] = 1;
    let mut c = collect(budget());
    assert_eq!(hwp3(&doc, &mut c).skipped, Some(Reason::Encrypted));
    assert!(c.children.is_empty());
}

const DAMAGED_FOR_TESTS: Reason = Reason::Malformed { format: "HWP3" };

#[test]
fn hwp3_nesting_is_bounded() {
    // A paragraph whose footnote (17) holds a paragraph with a
    // footnote... deeper than ClamAV goes.
    let mut b = vec![0u8; 16];
    for _ in 0..40 {
        let mut p = vec![0u8; 43];
        p[0] = 1;
        p[1] = 1;
        b.extend(p);
        b.extend(17u16.to_le_bytes());
        b.extend([0u8; 20]);
    }
    b.extend(vec![0u8; 4096]);
    let mut c = collect(budget());
    let r = hwp3(&hwp3_doc(false, &b), &mut c);
    assert_eq!(r.skipped, Some(DAMAGED_FOR_TESTS));
    assert!(c.children.is_empty());
}

#[test]
fn hwpml_bindata_decoded_as_its_attributes_say() {
    let b64 = |d: &[u8]| crate::mime::base64_encode(d, Some("\n")) + "\n";
    let plain = b"first embedded object".repeat(3);
    let packed = b"second, deflated object".repeat(3);
    let doc = format!(
        "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<HWPML Version=\"2.8\">\
         <HEAD/><BODY><BINDATA Encoding=\"Base64\">{}</BINDATA></BODY>\
         <TAIL><BINDATASTORAGE>\
         <BINDATA Id=\"1\" Encoding=\"Base64\">{}</BINDATA>\
         <BINDATA Id=\"2\" Encoding=\"Base64\" Compress=\"true\">{}</BINDATA>\
         <BINDATA Id=\"3\" Encoding=\"Hex\">414243 &amp; more</BINDATA>\
         </BINDATASTORAGE><SCRIPTCODE><SCRIPTSOURCE>var x = 1;</SCRIPTSOURCE></SCRIPTCODE></TAIL></HWPML>",
        b64(b"in the body, ignored"),
        b64(&plain),
        b64(&deflate(&packed)),
    );
    assert_eq!(
        crate::filetype::detect(doc.as_bytes()),
        crate::filetype::FileType::XmlHwp
    );
    let mut c = collect(budget());
    hwpml(doc.as_bytes(), &mut c);
    let got: Vec<(&str, &[u8])> =
        c.children.iter().map(|x| (x.0.as_str(), &x.1[..])).collect();
    assert_eq!(
        got,
        [
            ("BINDATA 1", &plain[..]),
            ("BINDATA 2", &packed[..]),
            ("BINDATA 3", b"414243 & more"),
            ("BINDATA 4", b"var x = 1;"),
        ]
    );
}

#[test]
fn hwpml_data_that_does_not_inflate_ends_the_walk() {
    let doc = "\u{feff}<?xml version=\"1.0\"?><HWPML><TAIL><BINDATASTORAGE>\
               <BINDATA Id=\"1\" Compress=\"yes\">not deflate at all</BINDATA>\
               <BINDATA Id=\"2\">after it</BINDATA></BINDATASTORAGE></TAIL></HWPML>";
    let mut c = collect(budget());
    let skipped = hwpml(doc.as_bytes(), &mut c).skipped;
    assert!(c.children.is_empty());
    assert!(skipped.is_some());
}
