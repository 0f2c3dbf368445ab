use super::*;

/// The script as ClamAV writes it, fed in one piece.
fn norm(script: &[u8]) -> Vec<u8> {
    let mut s = Script::new();
    s.feed(script);
    let mut out = Vec::new();
    s.finish(&mut out);
    out
}

#[test]
fn clamscan_wrote_this() {
    // clamscan 1.4.6 --leave-temps, the page's first script.
    let got = norm(b"var x = \"AbC\" + \"dEf\"; function Foo(a, b) { var c = a + b; return c * 1.50; } // this is comment\ny = unescape(\"%u0041%42\"); eval(\"var q=1;\"); z = 0x1F + 3e5 + 1.5e3 + 12345678901;\n</script>");
    assert_eq!(
        String::from_utf8_lossy(&got),
        "<script>var n000=\"abcdef\";function n001(n002,n003){var n004=n002+n003;return n004*1.5;}this is comment y=\"ab\";var n005=1;z=0 x1f+3 e5+1500+-539222987;</script>"
    );
}

/// The script fed in the pieces given, as ClamAV's reads cut it.
fn norm_pieces(pieces: &[&[u8]]) -> String {
    let mut s = Script::new();
    for p in pieces {
        s.feed(p);
    }
    let mut out = Vec::new();
    s.finish(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn names_are_renamed_by_scope() {
    assert_eq!(
        norm_pieces(&[b"function f(a){var b=a} a=1; var x; x.x = x "]),
        "<script>function n000(n001){var n002=n001}a=1;var n003;n003.x=n003</script>"
    );
    // A name used before its `var` in the same scope is renamed too;
    // a function's name belongs to its own scope.
    assert_eq!(
        norm_pieces(&[b"y=x; var x; f(); function f(){}"]),
        "<script>y=n000;var n000;f();function n001(){}</script>"
    );
}

#[test]
fn tokens_cut_between_pieces_are_read_as_clamscan_reads_them() {
    // An escape cut by the piece's end keeps its backslash and loses
    // the digit before the cut.
    assert_eq!(
        norm_pieces(&[b"s='ab\\x4", b"1'"]),
        "<script>s=\"ab\\1\"</script>"
    );
    // A number cut after its dot is read on as an integer.
    assert_eq!(norm_pieces(&[b"x=1.", b"5;"]), "<script>x=1;</script>");
    // The `*` of a `*/` that ends a piece is passed over.
    assert_eq!(norm_pieces(&[b"/* a *", b"/ b */ c "]), "<script>c</script>");
    // An identifier at the script's very end is never written.
    assert_eq!(norm_pieces(&[b"a = b"]), "<script>a=</script>");
}

#[test]
fn numbers_print_as_c_prints_them() {
    for (v, s) in [
        (1.5, "1.5"),
        (1e6, "1e+06"),
        (100000.0, "100000"),
        (0.0001, "0.0001"),
        (1e-5, "1e-05"),
        (123456789.0, "1.23457e+08"),
        (0.5, "0.5"),
        (f64::INFINITY, "inf"),
        (0.0, "0"),
    ] {
        assert_eq!(print::format_g(v), s);
    }
    assert_eq!(
        norm_pieces(&[b"a=[3000000000,99999999999999999999,1.e2,2.5e-3] "]),
        "<script>a=[-1294967296,-1,100,0.0025]</script>"
    );
}

#[test]
fn unescape_decodes_as_clamav() {
    assert_eq!(
        decode::unescape(b"%u0041%41%zz%4%00%u00e9"),
        b"AA%zz%4\x01\xc3\xa9"
    );
    assert_eq!(
        norm_pieces(&[b"x=unescape('%u0041'+'%42');y=unescape(z) "]),
        "<script>x=\"ab\";y=unescape(z)</script>"
    );
}

#[test]
fn decoders_unfold_eval_and_packers() {
    assert_eq!(
        norm_pieces(&[b"eval('var q=1;') "]),
        "<script>var n000=1;</script>"
    );
    let packed = b"eval(function(p,a,c,k,e,d){return p}('0 1=2',10,3,'var|x|5'.split('|'),0,{})) ";
    assert_eq!(
        norm_pieces(&[packed]),
        "<script>eval(function(n000,n001,n002,n003,n004,n005){return n000}(var n006=))</script>"
    );
}

#[test]
fn crafted_scripts_stay_bounded() {
    // A packer whose every word is a long one: quadratic without the
    // budget.
    let mut s = b"eval(function(p,a,c,k,e,d){}('".to_vec();
    s.extend(b"0 ".repeat(200_000));
    s.extend(b"',10,1,'");
    s.extend(b"A".repeat(200_000));
    s.extend(b"'.split('|'),0,{})) ");
    let out = norm_pieces(&[&s]);
    assert!(out.len() < 256 << 20, "{}", out.len());
    // Deep functions, each using a name declared at the top.
    let mut d = b"var top;".to_vec();
    d.extend(b"function(){top;".repeat(50_000));
    let out = norm_pieces(&[&d]);
    assert!(out.contains("n000"));
    // Thousands of evals in a row: as in ClamAV, the token after each
    // one undone is passed over, so every other one stays.
    let e = b"eval('a');".repeat(50_000);
    assert_eq!(norm_pieces(&[&e]).matches("eval").count(), 25_000);
}
