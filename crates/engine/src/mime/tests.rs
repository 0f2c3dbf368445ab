use super::decode::*;
use super::headers::*;
use super::*;

#[test]
fn message_id_is_read_from_the_header_and_shown_safely() {
    let id = |m: &[u8]| message_id(m);
    assert_eq!(
        id(b"From: a\nMessage-ID: <m1@example.org>\n\nbody"),
        Some("<m1@example.org>".into())
    );
    // Any case, white space before the colon, folded, a comment.
    assert_eq!(
        id(b"message-id :\r\n\t(x) <m2@example.org> (y)\r\n\r\n"),
        Some("<m2@example.org>".into())
    );
    // The first of two; none in the body.
    assert_eq!(
        id(b"Message-Id: <a@b>\nMessage-Id: <c@d>\n\n"),
        Some("<a@b>".into())
    );
    assert_eq!(id(b"From: a\n\nMessage-ID: <body@x>\n"), None);
    assert_eq!(id(b"Message-ID:   \nSubject: x\n\n"), None);
    assert_eq!(
        id(b"Message-ID: no-brackets@x\n\n"),
        Some("no-brackets@x".into())
    );
    // Nothing a terminal or a parser of `"...\"` fields would act on.
    assert_eq!(
        id(b"Message-ID: <a\"b\x1b[2J \\c\xc3\xa9@x>\n\n"),
        Some("<a?b?[2J??c??@x>".into())
    );
    let long = format!("Message-ID: <{}@x>\n\n", "a".repeat(10_000));
    assert_eq!(id(long.as_bytes()).map(|s| s.len()), Some(MAX_MESSAGE_ID));
    let folded = format!("Message-ID: <a\n{}\n\n", " b\n".repeat(100_000));
    assert_eq!(id(folded.as_bytes()).map(|s| s.len()), Some(MAX_MESSAGE_ID));
}

/// Vectors observed from clamscan 1.4.6 with `--leave-temps`.
#[test]
fn line_decoding_matches_clamav() {
    assert_eq!(line_decode(b"hello\nworld\n", false, true), b"hello\nworld\n");
    assert_eq!(line_decode(b"hello\nworld", false, true), b"hello\nworld\n");
    assert_eq!(line_decode(b"hel=3Dlo\n\n", true, true), b"hel=lo\n\n");
    assert_eq!(line_decode(b"abc=", true, true), b"abc");
    assert_eq!(
        line_decode(b"x=0D=0A\r\ny=20\r\n", true, true),
        b"x\r\n\ny \n"
    );
    assert_eq!(
        line_decode(b"abc=00def=0A=\nghi=3D\nline2\n", true, true),
        b"abc\0def\nghi=\nline2\n"
    );
}

#[test]
fn base64_lenient() {
    assert_eq!(base64_decode(b"QUJD\r\nREVG"), b"ABCDEF");
    assert_eq!(base64_decode(b"QU JD R A=="), b"ABCD");
    assert_eq!(base64_decode(b"QUJDRA="), b"ABCD");
    assert_eq!(base64_decode(b"QUI="), b"AB");
    assert_eq!(base64_decode(b""), b"");
    assert_eq!(base64_decode(b"!!!!"), b"");
    // Whether only the alphabet, line ends and padding were seen.
    assert!(base64_decode_plain(b"QUJD\r\nREVG\nQQ==").1);
    assert!(!base64_decode_plain(b"QU JD").1);
    assert!(!base64_decode_plain(b"QUJD\n--b--").1);
    assert!(!base64_junk(b"QUJD\r\nREVG\r\n\r\n"));
    assert!(!base64_junk(b"QU JD R A=="));
    assert!(base64_junk(b"QU!JD\r\nREVG"));
    assert!(base64_junk(b"QUJD\r\n\r\nREVG"));
}

fn leaf_bodies(raw: &[u8]) -> (Vec<Vec<u8>>, Repairs) {
    let m = parse(raw);
    let mut out = Vec::new();
    for l in m.root.leaves() {
        let whole = std::ptr::eq(l, &m.root);
        for &e in &l.encodings {
            out.push(decode_body(raw, l, e, whole));
        }
    }
    (out, m.repairs)
}

const HEAD: &str =
    "From: a\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n";

#[test]
fn well_formed_needs_no_repair() {
    let m = format!(
        "{HEAD}pre\r\n--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n--B\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nQUJD\r\n--B--\r\n"
    );
    let (b, r) = leaf_bodies(m.as_bytes());
    assert_eq!(b, vec![b"hi\n".to_vec(), b"ABC".to_vec()]);
    assert!(r.is_empty());
    // Offsets locate each part for the agents' splices.
    let p = parse(m.as_bytes());
    let att = &p.root.children[1];
    assert_eq!(&m.as_bytes()[att.body_start..att.end], b"QUJD");
}

#[test]
fn transfer_encodings_as_clamav_guesses_them() {
    use Encoding::*;
    assert_eq!(similarity("7bi", "7bit"), 85);
    assert_eq!(similarity("bas64", "base64"), 90);
    assert_eq!(similarity("BASE64", "base64"), 100);
    assert_eq!(similarity("b", "binary"), 28);
    let read = |v: &str| {
        let t = encoding_of(v);
        (t.readings, t.unencoded, t.clean)
    };
    assert_eq!(read("base64"), (vec![Base64], false, true));
    assert_eq!(read(""), (vec![Plain], true, false));
    assert_eq!(read("7bi"), (vec![Plain], true, false));
    assert_eq!(read("bas64"), (vec![Base64], false, false));
    assert_eq!(read("8bi"), (vec![Plain], false, false));
    assert_eq!(read("x-base64"), (vec![Base64], false, false));
    assert_eq!(
        read("quoted-printabel"),
        (vec![QuotedPrintable], false, false)
    );
    // Every token counts.
    assert_eq!(read("7bit base64"), (vec![Plain, Base64], true, false));
    // A name like none is decoded both ways.
    assert_eq!(read("gzip"), (vec![Base64, QuotedPrintable], false, false));
    // ClamAV's reading of a quoted name or one with parameters, and
    // the repaired one.
    assert_eq!(
        read("\"base64\""),
        (vec![Base64, QuotedPrintable], false, false)
    );
    assert_eq!(
        read("base64; x=y"),
        (vec![Base64, QuotedPrintable], false, false)
    );
    assert_eq!(read("bas\0e64"), (vec![Base64], false, false));
    // A field of very many names is read every way (each is not
    // guessed at).
    let many = "xquoted-printablex ".repeat(100_000);
    assert_eq!(read(&many).0, vec![Plain, Base64, QuotedPrintable]);
}

#[test]
fn broken_part_headers_are_still_read() {
    for (headers, repair) in [
        (" Content-Transfer-Encoding: base64\r\n\r\n", Repairs::HEADER_SYNTAX),
        (
            "Content-Type: x/y\rContent-Transfer-Encoding: base64\r\n\r\n",
            Repairs::LINE_END,
        ),
        ("Content-Transfer-Encoding: base64\r\n\r\r\n", Repairs::LINE_END),
        ("Content-Transfer-Encoding : base64\r\n\r\n", Repairs::HEADER_SYNTAX),
        ("Content-Transfer-Encoding: \"BASE64\"\r\n\r\n", Repairs::ENCODING),
        (
            "Content-Transfer-Encoding: 7bit\r\nContent-Transfer-Encoding: base64\r\n\r\n",
            Repairs::REPEATED_HEADER,
        ),
        (
            "Content-Transfer-Encoding: bas\0e64\r\n\r\n",
            Repairs::HEADER_SYNTAX,
        ),
        ("Content-Transfer-Encoding: base64\r\n \r\n", Repairs::HEADER_SYNTAX),
    ] {
        let m = format!("{HEAD}--B\r\n{headers}QUJD\r\n--B--\r\n");
        let (b, r) = leaf_bodies(m.as_bytes());
        assert!(b.iter().any(|x| x == b"ABC"), "{headers:?}: {b:?}");
        assert!(r.contains(repair), "{headers:?}: {r:?}");
    }
}

#[test]
fn boundaries_read_leniently() {
    // The inner boundary is the outer one and a suffix; a part hides
    // after the closing delimiter; the last one has none.
    let m = "From: a\nContent-Type: multipart/mixed; boundary=b\n\n--b\n\
             Content-Type: multipart/mixed; boundary=b-1\n\n--b-1\n\
             Content-Transfer-Encoding: base64\n\nQUJD\n--b-1--\n--b--\n\
             --b\nContent-Transfer-Encoding: base64\n\nREVG\n";
    let (b, r) = leaf_bodies(m.as_bytes());
    assert!(b.iter().any(|x| x == b"ABC"), "{b:?}");
    assert!(b.iter().any(|x| x == b"DEF"), "{b:?}");
    assert!(r.contains(Repairs::BOUNDARY));
    // RFC 2231 sections and a fold inside the parameter.
    let m = "From: a\nContent-Type: multipart/mixed;\n boundary*0=\"x\";\n\tboundary*1=\"y\"\n\n\
             --xy\nContent-Transfer-Encoding: base64\n\nQUJD\n--xy--\n";
    assert!(leaf_bodies(m.as_bytes()).0.iter().any(|x| x == b"ABC"));
    // Parameters as Thunderbird reads them, and a boundary given
    // twice.
    for ct in [
        "multipart/mixed; boundary=\"xy\" (comment)",
        "multipart/mixed, boundary=\"xy\"",
        "(c) multipart/mixed; boundary=xy",
        "multipart/mixed; boundary=\"zz\"; boundary*=''xy",
    ] {
        let m = format!(
            "From: a\nContent-Type: {ct}\n\n--xy\n\
             Content-Transfer-Encoding: base64\n\nQUJD\n--xy--\n"
        );
        let b = leaf_bodies(m.as_bytes()).0;
        assert!(b.iter().any(|x| x == b"ABC"), "{ct}: {b:?}");
    }
    // A line that only starts like a delimiter is no delimiter.
    let m = format!("{HEAD}--B\r\n\r\nQUJD\r\n--B!\r\nREVG\r\n--B--\r\n");
    assert_eq!(parse(m.as_bytes()).root.children.len(), 1);
    // A mailing list's footer after the close is no part.
    let m =
        format!("{HEAD}--B\r\n\r\nhi\r\n--B--\r\n\r\n___\r\nList footer\r\n");
    assert_eq!(parse(m.as_bytes()).root.children.len(), 1);
}

#[test]
fn hostile_shapes_stay_linear_and_bounded() {
    // No delimiter among two million dashes (none at a line start).
    let mut m =
        b"From: a\nContent-Type: multipart/mixed; boundary=-\n\nx".to_vec();
    m.resize(m.len() + 2_000_000, b'-');
    let t = std::time::Instant::now();
    let p = parse(&m);
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
    let mut n = 0;
    fn count(e: &Entity, n: &mut usize) {
        *n += 1;
        e.children.iter().for_each(|c| count(c, n));
    }
    count(&p.root, &mut n);
    assert!(n <= MAX_ENTITIES);
    let m = "--b\n".repeat(50_000);
    let m =
        format!("From: a\nContent-Type: multipart/mixed; boundary=b\n\n{m}");
    let p = parse(m.as_bytes());
    assert!(p.too_many);
}

/// From the SpamAssassin corpus: a message quoted in a text part,
/// after blank lines, and a body that starts with continuation lines.
#[test]
fn messages_with_ragged_starts() {
    fn at(m: &[u8]) -> &[u8] {
        &m[skip_orphan_lines(m, 0)..]
    }
    assert_eq!(at(b"\n\r\nSubject: x\n\nhi"), b"Subject: x\n\nhi");
    assert_eq!(at(b" =?GB2312?B?xx?=\n\n\tmore\nTo: a\n"), b"To: a\n");
}
