//! Text in wide encodings, typed as ClamAV types it: HTML in UTF-16
//! (or UCS-4) that no other typing found.

use super::{FileType, looks_like_html};

/// HTML written in UTF-16 (or UCS-4), as ClamAV's typing finds it when
/// nothing else matched: first with its byte pairs folded its way
/// ([`utf16_to_ascii`]; then the page is [`FileType::HtmlUtf16`]), then,
/// for a text whose first bytes say its encoding (a byte order mark, or
/// `<?` in a wide form), converted to see its tags (ClamAV's conversion
/// is looser, but the tags it looks for are ASCII, which both keep;
/// then it is plain HTML, whose normaliser drops the NUL bytes).
pub(super) fn unicode_html(head: &[u8]) -> Option<FileType> {
    if head.len() >= 2 && looks_like_html(&utf16_to_ascii(head)) {
        return Some(FileType::HtmlUtf16);
    }
    let text = wide_text(head)?;
    looks_like_html(&text).then_some(FileType::Html)
}

/// ClamAV's folding of UTF-16 into bytes: each pair `lo, hi` becomes
/// `hi << 4 + lo` (mod 256), which is the character itself for ASCII in
/// little-endian order and noise otherwise; an odd last byte is dropped.
pub(crate) fn utf16_to_ascii(d: &[u8]) -> Vec<u8> {
    d.chunks_exact(2).map(|p| (p[1] << 4).wrapping_add(p[0])).collect()
}

/// Text in a wide encoding its first four bytes name, converted (ASCII
/// stays ASCII, the rest becomes UTF-8).
fn wide_text(h: &[u8]) -> Option<Vec<u8>> {
    #[derive(Clone, Copy)]
    enum Wide {
        Utf16 { be: bool },
        Ucs4 { be: bool },
    }
    let (enc, skip) = match h.get(..4)? {
        [0, 0, 0xfe, 0xff] => (Wide::Ucs4 { be: true }, 4),
        [0xff, 0xfe, 0, 0] => (Wide::Ucs4 { be: false }, 4),
        [0, 0, 0, 0x3c] => (Wide::Ucs4 { be: true }, 0),
        [0x3c, 0, 0, 0] => (Wide::Ucs4 { be: false }, 0),
        // UCS-4 in ClamAV's "unusual" byte orders: not read.
        [0xfe, 0xff, 0, 0] | [0, 0, 0xff, 0xfe] => return None,
        [0xff, 0xfe, ..] => (Wide::Utf16 { be: false }, 2),
        [0xfe, 0xff, ..] => (Wide::Utf16 { be: true }, 2),
        [0, 0x3c, 0, 0x3f] => (Wide::Utf16 { be: true }, 0),
        [0x3c, 0, 0x3f, 0] => (Wide::Utf16 { be: false }, 0),
        _ => return None,
    };
    let body = &h[skip..];
    let chars: String = match enc {
        Wide::Utf16 { be } => {
            char::decode_utf16(body.chunks_exact(2).map(|p| {
                if be {
                    u16::from_be_bytes([p[0], p[1]])
                } else {
                    u16::from_le_bytes([p[0], p[1]])
                }
            }))
            .filter_map(Result::ok)
            .collect()
        }
        Wide::Ucs4 { be } => body
            .chunks_exact(4)
            .filter_map(|p| {
                let b = [p[0], p[1], p[2], p[3]];
                char::from_u32(if be {
                    u32::from_be_bytes(b)
                } else {
                    u32::from_le_bytes(b)
                })
            })
            .collect(),
    };
    Some(chars.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filetype::detect;

    #[test]
    fn html_in_wide_encodings() {
        let page = "<html><body>caf\u{e9}</body></html>";
        let le: Vec<u8> =
            page.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> =
            page.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let bom = |b: &[u8], d: &[u8]| [b, d].concat();
        assert_eq!(detect(&le), FileType::HtmlUtf16);
        assert_eq!(detect(&bom(&[0xff, 0xfe], &le)), FileType::HtmlUtf16);
        // Big-endian folds into noise; its mark says how to read it.
        assert_eq!(detect(&bom(&[0xfe, 0xff], &be)), FileType::Html);
        assert_eq!(detect(&be), FileType::Text);
        let ucs4: Vec<u8> =
            page.chars().flat_map(|c| (c as u32).to_be_bytes()).collect();
        assert_eq!(detect(&bom(&[0, 0, 0xfe, 0xff], &ucs4)), FileType::Html);
        assert_eq!(utf16_to_ascii(b"<\0a\0\xe9\0x"), b"<a\xe9");
        // UTF-16 text that is no page stays text.
        let words: Vec<u8> =
            "plain words".encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(detect(&words), FileType::Text);
    }
}
