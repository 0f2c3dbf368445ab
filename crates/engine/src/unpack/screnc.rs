//! Files made by Microsoft's Script Encoder (`.jse`, `.vbe`: a `#@~^`
//! block, CL_TYPE_SCRENC), decoded so that the script is scanned as the
//! interpreter runs it, as ClamAV does: the decoded script, wrapped in
//! `<script>`, is scanned as a page. The decoder is `html/screnc.rs`'s;
//! how far a damaged block is read, and what of the input follows the
//! script, are ClamAV's: the input is read in its HTML reader's chunks
//! (`html::reader_chunks`), and the rest of the chunk the block ends in
//! follows it.

use super::{Sink, Unpacked};
use crate::html::reader_chunks;
use crate::html::screnc::{Decoder, after_block, length};

pub(crate) fn screnc<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    if let Some(script) = decode_file(data) {
        out.push("screnc.html".to_string(), script);
    }
    out
}

/// ClamAV's decoding of a file holding an encoded script: the chunk with
/// the first `#@~^` and those after it, decoded, between `<script>` and
/// `</script>`; `None` when there is no block.
fn decode_file(data: &[u8]) -> Option<Vec<u8>> {
    let mut chunks = reader_chunks(data)
        .skip_while(|c| memchr::memmem::find(c, b"#@~^").is_none());
    let mut chunk = chunks.next()?;
    let mut pos = memchr::memmem::find(&chunk, b"#@~^")? + 4;
    // The eight characters of the length field, across chunks.
    let mut field = [0u8; 8];
    for byte in &mut field {
        if pos >= chunk.len() {
            chunk = chunks.next()?;
            pos = 0;
        }
        *byte = chunk[pos];
        pos += 1;
    }
    let field: [u8; 6] = field[..6].try_into().ok()?;
    let mut decoder = Decoder { left: length(&field), pos: 0 };
    let mut out = b"<script>".to_vec();
    while decoder.left > 0 {
        let piece = &chunk[pos..];
        let (decoded, used) = decoder.decode(piece);
        out.extend_from_slice(&decoded);
        if decoder.left == 0 {
            // The rest of the chunk follows the script.
            out.extend_from_slice(after_block(&piece[used..]));
            break;
        }
        match chunks.next() {
            Some(c) => (chunk, pos) = (c, 0),
            None => break,
        }
    }
    out.extend_from_slice(b"</script>");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::screnc::encode;

    #[test]
    fn a_known_block_decodes() {
        // The Script Encoder's output for `MsgBox "Hello"` (VBScript), as
        // published with Didier Stevens' decoder.
        let vbe = b"#@~^DgAAAA==\\ko$K6,JC\x7fV^GJqAQAAA==^#~@";
        assert_eq!(
            decode_file(vbe).unwrap(),
            b"<script>MsgBox \"Hello\"</script>"
        );
    }

    #[test]
    fn every_character_and_escape_round_trips() {
        let script: Vec<u8> =
            (b' '..=b'~').chain(*b"\t<>@\r\n").cycle().take(500).collect();
        let mut file = b"junk before\n".to_vec();
        file.extend(encode(&script));
        file.extend(b" and after");
        let mut want = b"<script>".to_vec();
        want.extend(&script);
        want.extend(b" and after</script>");
        assert_eq!(decode_file(&file).unwrap(), want);
    }

    #[test]
    fn damaged_blocks_end_with_the_input() {
        assert_eq!(decode_file(b"no block here"), None);
        assert_eq!(decode_file(b"#@~^DgA"), None);
        // A length far beyond the input: what there is, then the end.
        let mut file = b"#@~^////////".to_vec();
        file.extend(&encode(b"var x = 1;")[12..]);
        let d = decode_file(&file).unwrap();
        assert!(d.starts_with(b"<script>var x = 1;"), "{d:?}");
        assert!(d.ends_with(b"</script>"));
        // Blocks split across the reader's chunks, NULs dropped.
        let script = b"WScript.Echo(1); ".repeat(1000);
        let mut file = encode(&script);
        file.insert(100, 0);
        let d = decode_file(&file).unwrap();
        assert_eq!(&d[8..8 + script.len()], &script[..]);
    }
}
