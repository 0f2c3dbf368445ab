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
