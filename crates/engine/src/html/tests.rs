use super::*;

#[test]
fn the_page_clamscan_normalised() {
    // clamscan 1.4 --leave-temps on this page wrote these two files.
    let page = b"<HTML><Head><TITLE>Hello   World</TITLE>\n<script language=\"javascript\">\n  var x = \"AbC\";  document.write(x);\n</script>\n</HEAD>\n<body bgcolor=#ffffff><!-- a comment -->\n<P>Some &amp; Text&nbsp;here &#65;&#x42;\n<a href=\"http://Example.COM/Path\">Link   Text</a>\n<IMG SRC = \"x.gif\"   ALT='q'>\n</body></html>\n";
    let n = normalize(page);
    assert_eq!(
        String::from_utf8_lossy(&n.nocomment),
        String::from_utf8_lossy(b"<html><head><title>hello world</title><script language=\"javascript\">varx=\"abc\";document.write(x);</script></head><body bgcolor=#ffffff><p>some & text\xa0here ab <a href=\"http://example.com/path\">link text</a><img src=\"x.gif\" alt=\"q\"></body></html>")
    );
    assert_eq!(
        String::from_utf8_lossy(&n.notags),
        " hello world some text here http://Example.COM/Path link text x.gif "
    );
}

/// Compared with clamscan 1.4.6's `nocomment.html` for this input.
#[test]
fn control_and_eight_bit_bytes() {
    let html = b"<html><body>\nLine One\n  Two\tTab  X\r\nY\x01Z\xe9\xccQ<!-- hidden -->After &amp; &lt;b&gt; &#65;</body></html>\n";
    assert_eq!(
        normalize(html).nocomment,
        b"<html><body>line one two tab x y\x01z\xe9\xccqafter & <b> a</body></html>"
    );
}

/// As clamscan 1.4.6 reads them (checked with its phishing verdicts).
#[test]
fn eight_bit_bytes_in_values_wait_for_the_next_ascii_one() {
    let page = b"<p><a href=\"http://x.example/\xe9\">a</a> <a href=\"http://www.paypal\xe3\x80\x82com/\">b</a></p>\n";
    let l = links(page);
    assert_eq!(l[0].value, b"http://x.example/");
    // The held byte comes out before the next value's first ASCII
    // byte; a CJK full stop is a dot.
    assert_eq!(l[1].value, b"\xe9http://www.paypal.com/");
}

#[test]
fn an_encoded_block_is_decoded_where_it_stands() {
    // clamscan 1.4's nocomment.html of this page, from --leave-temps.
    let script =
        b"var nod32screncmarker = \"x\";\r\nWScript.Echo(\"<b>@</b>\");\n";
    let mut page =
        b"<html><body><p>page</p>\n<script language=\"JScript.Encode\">"
            .to_vec();
    page.extend(super::screnc::encode(script));
    page.extend(b"</script>\n</body></html>\n");
    assert_eq!(
        String::from_utf8_lossy(&normalize(&page).nocomment),
        "<html><body><p>page</p><script language=\"jscript.encode\"><script language=\"javascript\">\
         varnod32screncmarker=\"x\";wscript.echo(\"<b>@</b>\");</script></body></html>"
    );
    // Thousands of tiny blocks: bounded, the rest read as text.
    let mut many = Vec::new();
    for _ in 0..5000 {
        many.extend(b"<script language=jscript.encode>");
        many.extend(super::screnc::encode(b"x=1;"));
        many.extend(b"</script>");
    }
    let t = std::time::Instant::now();
    let n = normalize(&many);
    assert!(n.nocomment.len() > 5000);
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn reads_are_cut_as_clamav_cuts_them() {
    let text: Vec<u8> = (0..20_000u32)
        .map(|i| if i % 50 == 49 { b' ' } else { b'a' + (i % 26) as u8 })
        .collect();
    let joined: Vec<u8> =
        reader_chunks(&text).flat_map(|c| c.into_owned()).collect();
    assert_eq!(joined, text);
    assert!(reader_chunks(&text).all(|c| c.len() <= CHUNK));
    // In UTF-16BE a cut gives back the bytes it drops as if they had no
    // NULs between them, so some text is never read: ClamAV's reads.
    let wide: Vec<u8> = text.iter().flat_map(|&b| [0, b]).collect();
    let chunks: Vec<Vec<u8>> =
        reader_chunks(&wide).map(|c| c.into_owned()).collect();
    let read: usize = chunks.iter().map(Vec::len).sum();
    assert!(read < text.len(), "{read}");
    assert!(chunks.iter().all(|c| !c.contains(&0)));
}
