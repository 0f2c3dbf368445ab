use super::script::{End, c_g, decompile, narrow};
use super::*;
use crate::unpack::tests::{budget, collect};

#[allow(dead_code)]
#[path = "../../../../../tests/src/autoit.rs"]
mod writer;

use writer::{Op, Packing, Resource, Token, Version, payload, tokens};

fn walk(data: &[u8]) -> (Vec<(String, Vec<u8>)>, Option<Reason>) {
    walk_with(data, budget())
}

fn walk_with(
    data: &[u8],
    b: crate::unpack::Budget,
) -> (Vec<(String, Vec<u8>)>, Option<Reason>) {
    let mut c = collect(b);
    let skipped = autoit(data, &mut c).skipped;
    (c.children, skipped)
}

const LOCAL: u32 = 28;
const FUNC: u32 = 32;
const ENDFUNC: u32 = 33;
const RETURN: u32 = 34;
const MSGBOX: u32 = 249;

/// `Func F($a)` / `Return $a * 2.5` / `EndFunc` / `Local $x = MsgBox(0,
/// "hi", F(0x100000000))`, and the text ClamAV writes for it.
fn sample_script() -> (Vec<u8>, &'static str) {
    use Token::*;
    let t = [
        Keyword(FUNC),
        Text(0x34, "F".into()),
        Op(0x47),
        Text(0x33, "A".into()),
        Op(0x48),
        EndOfLine,
        Keyword(RETURN),
        Text(0x33, "A".into()),
        Op(0x4c),
        Double(2.5),
        EndOfLine,
        Keyword(ENDFUNC),
        EndOfLine,
        Keyword(LOCAL),
        Text(0x33, "X".into()),
        Op(0x41),
        Function(MSGBOX),
        Op(0x47),
        Int(0),
        Op(0x40),
        Text(0x36, "hi".into()),
        Op(0x40),
        Text(0x34, "F".into()),
        Op(0x47),
        Int64(1 << 32),
        Op(0x48),
        Op(0x48),
        EndOfLine,
    ];
    (
        tokens(&t),
        "FUNC F( $A ) \nRETURN $A * 2.5 \nENDFUNC \nLOCAL $X = MSGBOX ( \
         0x00000000 , \"hi\" , F( 0x0000000100000000 ) ) \n",
    )
}

#[test]
fn ea05_script_and_files_come_out_with_their_names() {
    let script = b"; a script\r\nMsgBox(0, \"t\", \"marker\")\r\n".repeat(20);
    let file = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect::<Vec<_>>();
    let mut stored =
        Resource::file("C:\\in\\stored.bin", b"stored bytes".to_vec());
    stored.packing = Packing::Stored;
    let empty = Resource::file("C:\\in\\empty", Vec::new());
    let p = payload(
        Version::Ea05,
        &[
            Resource::script(Version::Ea05, script.clone()),
            empty,
            Resource::file("C:\\in\\data.bin", file.clone()),
            stored,
        ],
    );
    let (children, skipped) = walk(&p);
    assert_eq!(skipped, None);
    let want: Vec<(String, Vec<u8>)> = vec![
        ("C:\\build\\script.au3".into(), script),
        ("C:\\in\\data.bin".into(), file),
        ("C:\\in\\stored.bin".into(), b"stored bytes".to_vec()),
    ];
    assert_eq!(children, want);
}

#[test]
fn ea06_script_is_written_back_as_clamav_writes_it() {
    let (toks, text) = sample_script();
    let p = payload(
        Version::Ea06,
        &[
            Resource::script(Version::Ea06, toks),
            Resource::file("C:\\in\\a.txt", b"installed file".to_vec()),
        ],
    );
    let (children, skipped) = walk(&p);
    assert_eq!(skipped, None);
    assert_eq!(children.len(), 2);
    assert_eq!(children[0].0, "C:\\build\\script.au3");
    assert_eq!(String::from_utf8_lossy(&children[0].1), text);
    assert_eq!(
        children[1],
        ("C:\\in\\a.txt".into(), b"installed file".to_vec())
    );
}

/// ClamAV's own samples: the children hash as ClamAV 1.4.6 writes them
/// (`clamscan --leave-temps`: the scripts, and clam.exe).
#[test]
fn clamav_samples_give_what_clamav_extracts() {
    use md5::{Digest, Md5};
    for (file, script) in [
        ("clam.ea05.exe", ("144d97bc59d6944c6cf31e3fca78f432", 22502)),
        ("clam.ea06.exe", ("8903cae272bf36a778c2f361ba282d42", 11960)),
    ] {
        let path = format!("/usr/share/clamav-testfiles/{file}");
        let exe = std::fs::read(&path).unwrap_or_else(|e| {
            panic!("{path}: {e}: apt-get install clamav-testfiles")
        });
        let at = exe.windows(16).position(|w| w == writer::MARKER).unwrap();
        let (children, skipped) = walk(&exe[at..]);
        assert_eq!(skipped, None, "{file}");
        let got: Vec<(String, usize)> = children
            .iter()
            .map(|(_, d)| {
                (
                    Md5::digest(d)
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<String>(),
                    d.len(),
                )
            })
            .collect();
        let want = [
            (script.0.to_string(), script.1),
            ("aa15bcf478d165efd2065190eb473bcb".to_string(), 544),
        ];
        assert_eq!(got, want, "{file}");
        assert_eq!(children[1].0, "C:\\clam.exe");
    }
}

#[test]
fn damaged_resources_are_scanned_as_far_as_they_read() {
    let text =
        b"some script text, long enough to compress a little bit".repeat(30);
    for v in [Version::Ea05, Version::Ea06] {
        let first = Resource::file("C:\\a", b"first file".to_vec());
        let second = Resource::file("C:\\b", text.clone());
        let whole = payload(v, &[first.clone(), second]);
        // Cut inside the second resource's data: the first is scanned.
        let cut = &whole[..whole.len() - 40];
        let (children, skipped) = walk(cut);
        assert_eq!(children, vec![("C:\\a".into(), b"first file".to_vec())]);
        assert_eq!(skipped, Some(DAMAGED));
        // A stream that runs out: what it gave is scanned.
        let mut broken = Resource::file("C:\\c", text.clone());
        let mut ops: Vec<Op> =
            text[..100].iter().map(|&b| Op::Literal(b)).collect();
        ops.push(Op::Copy { distance: 50, len: 20 });
        broken.packing = Packing::Ops { claimed: 5000, ops };
        let (children, skipped) = walk(&payload(v, &[broken, first.clone()]));
        assert_eq!(skipped, Some(DAMAGED));
        assert_eq!(children.len(), 2);
        let got = &children[0].1;
        assert!(got.len() >= 120 && got.len() <= 122, "{}", got.len());
        assert_eq!(got[..100], text[..100]);
        assert_eq!(got[100..120], text[50..70]);
        // A copy from before the start ends the stream.
        let mut far = Resource::file("C:\\d", Vec::new());
        far.packing = Packing::Ops {
            claimed: 100,
            ops: vec![
                Op::Literal(b'x'),
                Op::Literal(b'y'),
                Op::Copy { distance: 9, len: 3 },
            ],
        };
        let (children, skipped) = walk(&payload(v, &[far, first.clone()]));
        assert_eq!(skipped, Some(DAMAGED));
        // Two bytes are too short to scan, as in ClamAV.
        assert_eq!(children, vec![("C:\\a".into(), b"first file".to_vec())]);
    }
}

#[test]
fn bombs_end_within_the_limits() {
    for v in [Version::Ea05, Version::Ea06] {
        // A stream claiming 4 GiB is not decoded at all.
        let mut huge = Resource::file("C:\\huge", Vec::new());
        huge.packing = Packing::Ops {
            claimed: u32::MAX,
            ops: vec![Op::Literal(b'a'); 10],
        };
        // Copies of one byte over and over up to the limit exactly, then
        // one of 100 MB: the loop ends at the claimed size.
        let mut long = Resource::file("C:\\long", Vec::new());
        let mut ops = vec![Op::Literal(b'z')];
        ops.extend([Op::Copy { distance: 1, len: 65535 }; 16]);
        ops.push(Op::Copy { distance: 1, len: 15 });
        ops.push(Op::Copy { distance: 1, len: 100_000_000 });
        long.packing = Packing::Ops { claimed: 1 << 20, ops };
        let start = std::time::Instant::now();
        let (children, skipped) = walk(&payload(v, &[huge, long]));
        assert!(start.elapsed().as_secs() < 5);
        assert_eq!(skipped, Some(Reason::FileSizeLimit));
        assert_eq!(children.len(), 1);
        assert_eq!(children[0].1.len(), 1 << 20);
        assert!(children[0].1.iter().all(|&b| b == b'z'));
        // Thousands of resources: no more children than MaxFiles.
        let many: Vec<Resource> = (0..3000)
            .map(|i| {
                Resource::file("C:\\m", format!("file number {i}").into())
            })
            .collect();
        let (children, skipped) = walk(&payload(v, &many));
        assert_eq!(children.len(), 100);
        assert_eq!(skipped, Some(Reason::FilesLimit));
    }
}

#[test]
fn tokens_cut_or_unknown_end_the_text_there() {
    use Token::*;
    // An unknown keyword: the lines before it are kept.
    let t = tokens(&[Keyword(ENDFUNC), EndOfLine, Keyword(45), EndOfLine]);
    assert_eq!(decompile(&t, 1 << 20), (b"ENDFUNC \n".to_vec(), End::Damaged));
    // An operand that ends the script exactly is refused (ClamAV wants a
    // byte more).
    let mut t = tokens(&[Keyword(ENDFUNC), EndOfLine, Int(7)]);
    t[..4].copy_from_slice(&2u32.to_le_bytes());
    assert_eq!(decompile(&t, 1 << 20), (b"ENDFUNC \n".to_vec(), End::Damaged));
    t.push(0x7f);
    assert_eq!(
        decompile(&t, 1 << 20),
        (b"ENDFUNC \n0x00000007 \n".to_vec(), End::Whole)
    );
    // A string longer than the script.
    let mut t = tokens(&[Text(0x36, "abc".into()), EndOfLine]);
    t[5..9].copy_from_slice(&0x4000_0000u32.to_le_bytes());
    assert_eq!(decompile(&t, 1 << 20).1, End::Damaged);
    // The line count reached: the rest is not read.
    let mut t =
        tokens(&[Keyword(ENDFUNC), EndOfLine, Keyword(ENDFUNC), EndOfLine]);
    t[..4].copy_from_slice(&1u32.to_le_bytes());
    assert_eq!(decompile(&t, 1 << 20), (b"ENDFUNC \n".to_vec(), End::Whole));
    // A text past the limit.
    let mut many = vec![Function(405); 1000];
    many.push(EndOfLine);
    let t = tokens(&many);
    assert_eq!(decompile(&t, 1000).1, End::TooLarge);
}

#[test]
fn numbers_print_as_c_prints_them() {
    for (v, s) in [
        (2.5, "2.5"),
        (0.1, "0.1"),
        (100000.0, "100000"),
        (1e6, "1e+06"),
        (1234565.0, "1.23456e+06"),
        (999999.5, "1e+06"),
        (0.0001, "0.0001"),
        (0.00001234, "1.234e-05"),
        (-2.5e-7, "-2.5e-07"),
        (1e300, "1e+300"),
        (-0.0, "-0"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
        (f64::NAN, "nan"),
        (1.23456789, "1.23457"),
    ] {
        assert_eq!(c_g(v), s, "{v}");
    }
}

#[test]
fn narrowing_follows_clamav_guess() {
    let mut b = *b"a\0b\0c\0";
    assert_eq!(narrow(&mut b), 3);
    assert_eq!(&b[..3], b"abc");
    let mut b = *b"\xff\xfea\0b\0";
    assert_eq!(narrow(&mut b), 2);
    assert_eq!(&b[..2], b"ab");
    // Not UTF-16 enough: left alone.
    let mut b = *b"abcdef";
    assert_eq!(narrow(&mut b), 6);
    assert_eq!(&b, b"abcdef");
}

#[test]
fn anything_else_is_left_alone() {
    for data in [
        &b""[..],
        &[0u8; 23],
        &writer::MARKER[..],
        b"0123456789012345AU3!EA07xxxxxxxxxxxxxxxxxxxxxxxx",
    ] {
        let (children, skipped) = walk(data);
        assert!(children.is_empty());
        assert_eq!(skipped, None);
    }
}
