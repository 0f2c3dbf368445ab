use super::*;

#[test]
fn parses_every_form() {
    let e = parse("deadbeef??caa??f{2-4}babe*0102{-3}0304{5-}0506").unwrap();
    assert_eq!(e[0], Elem::Byte(0xde));
    assert_eq!(e[4], Elem::Any);
    assert_eq!(e[6], Elem::Nibble { value: 0xa0, mask: 0xf0 });
    assert_eq!(e[7], Elem::Nibble { value: 0x0f, mask: 0x0f });
    assert_eq!(e[8], Elem::Gap { min: 2, max: 4 });
    assert!(e.contains(&Elem::Gap { min: 0, max: UNBOUNDED }));
    assert!(e.contains(&Elem::Gap { min: 0, max: 3 }));
    assert!(e.contains(&Elem::Gap { min: 5, max: UNBOUNDED }));
}

#[test]
fn groups() {
    let e = parse("aabb(01|02|03)!(04|05)(1122|3344)!(5566|7788)").unwrap();
    assert!(matches!(e[2], Elem::Set { negate: false, .. }));
    assert!(matches!(e[3], Elem::Set { negate: true, .. }));
    assert!(matches!(e[4], Elem::Alt { negate: false, .. }));
    assert!(matches!(e[5], Elem::Alt { negate: true, .. }));
    assert_eq!(e[4].fixed_len(), Some(2));
    let g = parse("aabb(11|2233|4?{2}55)ccdd").unwrap();
    assert_eq!(g[2].fixed_len(), None);
    assert!(parse("aabb!(11|2233)").is_err());
}

#[test]
fn fixed_gaps_may_end_a_signature_as_in_clamav() {
    // The first `{n}` ranges (1 to 127) are wildcard bytes.
    assert!(parse("5068{4}").is_ok());
    assert!(parse("{3}5a5a5a5a").is_ok());
    assert!(parse("{2}7171{5}").is_ok());
    assert!(parse("aabb{2-3}ccdd{4}").is_err());
    assert!(parse("aabb{200}").is_err());
    assert!(parse("aabb{1-4}").is_err());
    assert!(parse("{4}").is_err());
    // An upper bound of 0 is none.
    assert_eq!(
        parse("aabb{0}ccdd").unwrap()[2],
        Elem::Gap { min: 0, max: UNBOUNDED }
    );
    assert_eq!(
        parse("aabb{3-0}ccdd").unwrap()[2],
        Elem::Gap { min: 3, max: UNBOUNDED }
    );
}

#[test]
fn fixed_gap_compiles_like_wildcards() {
    let e = parse("aabb{3}ccdd").unwrap();
    assert_eq!(e[2].fixed_len(), Some(3));
    assert_eq!(
        compile(&e, false),
        compile(&parse("aabb??????ccdd").unwrap(), false)
    );
    // Widening keeps the gap at three bytes, as ClamAV does.
    let w =
        apply_modifiers(&e, Modifiers { wide: true, ..Default::default() });
    assert!(w[0].contains(&Elem::Gap { min: 3, max: 3 }));
}

#[test]
fn each_part_needs_two_fixed_bytes_in_a_row() {
    for ok in ["4142*??4344", "41[1-3]4243", "(41|42)??4344", "4142{3}"] {
        assert!(parse_signature(ok, false).is_ok(), "{ok}");
    }
    for (wide, ok) in [(true, "41??42"), (true, "4142*43")] {
        assert!(parse_signature(ok, wide).is_ok(), "{ok}::w");
    }
    for ok in ["4142(B)43", "4142(B)", "!(B)4142", "{1}[1-4]677a"] {
        assert!(parse_signature(ok, false).is_ok(), "{ok}");
    }
    for bad in
        ["4142*43", "41??42", "(41|42)(43|44)", "41[0-2]42", "4142*4?44"]
    {
        assert!(parse_signature(bad, false).is_err(), "{bad}");
        assert!(parse(bad).is_ok(), "{bad}");
    }
}

/// Found by the `signatures` fuzz target: a `}` before the first `{`.
#[test]
fn a_closing_brace_first_is_an_error_not_a_panic() {
    assert!(parse_signature("?E!(20|70)!(21|7}{2}7k4", false).is_err());
    assert!(parse_signature("41}42{2}4344", false).is_err());
    // A brace that holds another: its count is not a small number.
    let huge = format!("4{{{}4{{{}}}4142", "0".repeat(20), "1".repeat(17));
    let _ = parse_signature(&huge, false);
    let _ = parse_signature("4{10000000000000000}[1-2]4142", false);
    // The fuzz target's find, whole: it asked for 2e16 bytes.
    let _ = parse_signature(
        "4{0000000000000000000000004{000000000000000000000000004{000000008}-{0000000000003{000000000000000000000000008}-{0000000000000000000006{000000008}-{0010000000000000008}-{.o",
        false,
    );
}

#[test]
fn a_reversed_range_loads_and_never_matches() {
    let e = parse("aabb{4-2}cc").unwrap();
    assert!(never_matches(&e));
    assert!(!never_matches(&parse("aabb{2-4}cc").unwrap()));
}

#[test]
fn rejects_malformed() {
    for bad in [
        "",
        "a",
        "zz",
        "*aabb",
        "aabb*",
        "aabb{",
        "aabb{4-2}",
        "aa(bb",
        "aabb**ccdd",
        "aabb[1-40]cc",
    ] {
        assert!(parse(bad).is_err(), "{bad} accepted");
    }
}

#[test]
fn anchor_prefers_four_rare_bytes() {
    let e = parse("00000000c1c2c3c4").unwrap();
    let a = choose_anchor(&e, false).unwrap();
    assert_eq!(a.offset, 4);
    assert_eq!(a.variants, vec![[0xc1, 0xc2, 0xc3, 0xc4]]);
    // Text bytes cost about one common byte: base64 bodies are stepped
    // over when no anchor is all text.
    let e = parse("0000000041424344").unwrap();
    let a = choose_anchor(&e, false).unwrap();
    assert_eq!((a.offset, a.variants.clone()), (3, vec![*b"\0ABC"]));
    let e = parse("41424344452d").unwrap();
    let a = choose_anchor(&e, false).unwrap();
    assert_eq!((a.offset, a.variants.clone()), (2, vec![*b"CDE-"]));
    let e = parse("4142434445").unwrap();
    assert_eq!(choose_anchor(&e, false).unwrap().variants, vec![*b"ABCD"]);
    let short = parse("4142??43").unwrap();
    let a = choose_anchor(&short, false).unwrap();
    assert_eq!((a.offset, a.width), (0, 2));
    let nc = choose_anchor(&parse("61626364").unwrap(), true).unwrap();
    assert_eq!(nc.variants.len(), 16);
    assert!(choose_anchor(&parse("41??42").unwrap(), false).is_none());
}

#[test]
fn normalised_text_reachability() {
    assert!(can_match_normalized(
        &parse("68656c6c6f20776f726c64").unwrap(),
        false
    ));
    assert!(!can_match_normalized(&parse("48656c6c6f").unwrap(), false));
    assert!(can_match_normalized(&parse("48656c6c6f").unwrap(), true));
    assert!(!can_match_normalized(&parse("41ff??42").unwrap(), false));
    assert!(can_match_normalized(&parse("61(ff|62)63").unwrap(), false));
}

#[test]
fn wide_and_fullword() {
    let m = Modifiers::parse("wa").unwrap();
    let v = apply_modifiers(&parse("4142").unwrap(), m);
    assert_eq!(v.len(), 2);
    assert_eq!(v[0], parse("41004200").unwrap());
    let f = apply_modifiers(
        &parse("4142").unwrap(),
        Modifiers { fullword: true, ..Default::default() },
    );
    assert!(matches!(f[0][0], Elem::Mark { kind: MarkKind::Word, .. }));
}

/// What clamscan 1.4.6 loaded and refused of these (its prefilter).
#[test]
fn the_prefilter_refuses_what_clamscan_refuses() {
    let loads = |s: &str| parse_signature(s, false).is_ok();
    for ok in [
        "(4243|4445)464748",
        "4142(4243|4445)4647",
        "4142(B)4344",
        "(B)41424344",
        "41(42|43)(B)4445",
        "41??(4243|4445)464748",
        "(B)(4243|4445)464748",
        "(4243|4445)(B)4647",
        "41[1-2]4243(B)44",
        "4142(W)43",
    ] {
        assert!(loads(ok), "{ok}");
    }
    for refused in [
        "41(4243|4445)4647",
        "41(B)4243",
        "(42|43)(4243|4445)464748",
        "41(L)4243",
        "41[1-2]42(B)4344",
        "41(4243|44)4546",
        "4142*43(L)4445",
        "!(B){4}(6c69|68)6d7470",
    ] {
        assert!(!loads(refused), "{refused}");
    }
}

/// The reason a refused pattern gives: `nod32cli` prints it after the
/// file and line, so each text stays as users have seen it.
#[test]
fn refusals_keep_their_texts() {
    let why = |hex: &str| match parse_signature(hex, false) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("{hex} accepted"),
    };
    for (hex, text) in [
        ("", "empty body signature"),
        ("4142{", "unterminated '{'"),
        ("4142(4344", "unterminated '('"),
        ("41[1-40]42", "[n-m] range wider than 32"),
        ("4142!4344", "'!' must be followed by '('"),
        ("41424", "odd number of hex digits"),
        ("4142zz", "invalid hex pair 'zz'"),
        ("4142(41|zz)4344", "invalid hex pair 'zz'"),
        ("4142{x}4344", "invalid number 'x'"),
        ("4142{99999999999}4344", "number too large '99999999999'"),
        ("41[3-1]42", "range 3-1 is reversed"),
        ("4142(41|{x)4344", "unterminated '{' in group"),
        ("4142(41|{2-3})4344", "only {n} with n < 128 inside a group"),
        ("4142(41|424)4344", "odd number of hex digits in group"),
        ("4142(41||42)4344", "empty alternative"),
        ("4142(41)4344", "a group needs at least two alternatives"),
        (
            "4142!(41|4243)4344",
            "negated alternatives must all have one length",
        ),
        (
            "4142[1-2]4344",
            "'4142[1-2]4344': a [n-m] jump needs a single byte at the start or the end of the signature beside it (clamscan refuses it)",
        ),
        ("*4142", "a signature may not start or end with a gap"),
        ("{2}", "a signature of wildcards only"),
        ("4142*{2-3}4344", "two gaps in a row"),
        (
            "4142*43",
            "each part of a signature needs two fixed bytes in a row (clamscan refuses it)",
        ),
        (
            "41(4243|4445)4647",
            "clamscan's prefilter needs two neighbouring bytes, not both ??, before the first multi-byte alternative or inner marker of a part (clamscan refuses it)",
        ),
    ] {
        assert_eq!(why(hex), text, "{hex}");
    }
    let modifier = Modifiers::parse("iq").map(|_| ()).unwrap_err();
    assert_eq!(modifier.to_string(), "unknown modifier 'q'");
}
