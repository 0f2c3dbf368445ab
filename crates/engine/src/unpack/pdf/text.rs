//! PDF's own lexical tricks: names written with `#xx` escapes
//! (`/Fl#61teDecode` is `/FlateDecode` to a reader, and to nothing that
//! looks for the plain name), and JavaScript kept in `/JS` strings, not
//! streams: a literal `( … )` with backslash escapes, or a hex `< … >`
//! string no byte search sees through.

use std::borrow::Cow;

/// Names a PDF writer has no reason to escape: one of them escaped is an
/// attempt to hide it (ClamAV's list for `Heuristics.PDF.ObfuscatedNameObject`).
const COMMON: &[&[u8]] = &[
    b"ASCIIHexDecode",
    b"ASCII85Decode",
    b"A85",
    b"AHx",
    b"EmbeddedFile",
    b"FlateDecode",
    b"Fl",
    b"Image",
    b"LZWDecode",
    b"LZW",
    b"RunLengthDecode",
    b"RL",
    b"CCITTFaxDecode",
    b"CCF",
    b"JBIG2Decode",
    b"DCTDecode",
    b"DCT",
    b"JPXDecode",
    b"Crypt",
    b"Standard",
    b"Sig",
    b"V",
    b"R",
    b"Linearized",
    b"Filter",
    b"JavaScript",
    b"Length",
    b"S",
    b"Type",
    b"OpenAction",
    b"Launch",
    b"Page",
    b"Contents",
];

/// Bytes that end a name (PDF's white space and delimiters).
pub(super) fn ends_name(b: u8) -> bool {
    b"\0\t\n\x0c\r ()<>[]{}/%".contains(&b)
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|v| v as u8)
}

/// The name token starting at `d[at]` (the `/`), unescaped, and where it
/// ends.
fn name_at(d: &[u8], at: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut i = at + 1;
    while i < d.len() && !ends_name(d[i]) {
        match (
            d[i],
            d.get(i + 1).copied().and_then(hex_digit),
            d.get(i + 2).copied().and_then(hex_digit),
        ) {
            (b'#', Some(h), Some(l)) => {
                out.push(h << 4 | l);
                i += 3;
            }
            (b, ..) => {
                out.push(b);
                i += 1;
            }
        }
    }
    (out, i)
}

/// Each name with an escape in it, unescaped, with the range of its
/// token. Found from the `#` bytes, which are rare outside such names,
/// so a document without any costs one `memchr` pass.
fn escaped_names(
    d: &[u8],
) -> impl Iterator<Item = (Vec<u8>, std::ops::Range<usize>)> + '_ {
    let mut last_end = 0;
    memchr::memchr_iter(b'#', d).filter_map(move |h| {
        if h < last_end {
            return None;
        }
        // Back over the name's own bytes to its `/` (names are short:
        // a long run of regular bytes is no name).
        let start = d[h.saturating_sub(128)..h]
            .iter()
            .rposition(|&b| ends_name(b))
            .map(|p| h.saturating_sub(128) + p)?;
        if d[start] != b'/' {
            return None;
        }
        let (name, end) = name_at(d, start);
        last_end = end;
        Some((name, start..end))
    })
}

/// Whether a commonly used name is written with escapes.
pub(super) fn obfuscated_common_name(d: &[u8]) -> bool {
    escaped_names(d).any(|(n, _)| COMMON.contains(&n.as_slice()))
}

/// `d` with every name's escapes undone, so that dictionary keys and
/// filter names read as a PDF reader reads them.
pub(super) fn unescape_names(d: &[u8]) -> Cow<'_, [u8]> {
    let mut out: Option<Vec<u8>> = None;
    let mut at = 0;
    for (name, r) in escaped_names(d) {
        let o = out.get_or_insert_with(|| Vec::with_capacity(d.len()));
        o.extend_from_slice(&d[at..r.start]);
        o.push(b'/');
        o.extend_from_slice(&name);
        at = r.end;
    }
    match out {
        Some(mut o) => {
            o.extend_from_slice(&d[at..]);
            Cow::Owned(o)
        }
        None => Cow::Borrowed(d),
    }
}

/// Each `/JS` string value of `d`, decoded, with where its key is (the
/// key written plainly or escaped), in file order. A value that is a
/// reference (`12 0 R`) names an object whose stream is scanned as a
/// stream. Strings do not overlap (a key inside the string before it is
/// part of that string), a hex string ends at the first byte that is no
/// hex digit, and a literal one at the end of its object at the latest,
/// so that the whole costs one pass however the strings are cut.
pub(super) fn scripts(d: &[u8]) -> Vec<(usize, Vec<u8>)> {
    let plain = memchr::memmem::find_iter(d, b"/JS")
        .filter(|&i| d.get(i + 3).is_none_or(|&b| ends_name(b)))
        .map(|i| (i, i + 3));
    let escaped = escaped_names(d)
        .filter(|(n, _)| n == b"JS")
        .map(|(_, r)| (r.start, r.end));
    let mut keys: Vec<(usize, usize)> = plain.chain(escaped).collect();
    keys.sort_unstable();
    let endobj = memchr::memmem::Finder::new(b"endobj");
    let mut object_end: Option<usize> = None;
    let mut consumed = 0;
    let mut out = Vec::new();
    for (key, end) in keys {
        if key < consumed {
            continue;
        }
        let start = end + (d[end..].len() - d[end..].trim_ascii_start().len());
        let value = &d[start..];
        let (js, used) = match value {
            [b'<', b'<', ..] => continue,
            [b'<', rest @ ..] => hex_string(rest),
            [b'(', rest @ ..] => {
                if object_end.is_none_or(|e| e < start) {
                    object_end = Some(
                        endobj
                            .find(&d[start..])
                            .map_or(d.len(), |p| start + p),
                    );
                }
                let limit = object_end.unwrap_or(d.len()) - start;
                literal(&rest[..limit.saturating_sub(1).min(rest.len())])
            }
            _ => continue,
        };
        consumed = start + 1 + used;
        if !js.is_empty() {
            out.push((key, js));
        }
    }
    out
}

/// A hex string's bytes, up to its `>` or the first byte that belongs in
/// no hex string (white space ignored, an odd last digit taken as
/// followed by 0), and how many bytes it took.
pub(super) fn hex_string(d: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut half: Option<u8> = None;
    let mut used = d.len();
    for (i, &c) in d.iter().enumerate() {
        if c == b'>' {
            used = i + 1;
            break;
        }
        let Some(v) = hex_digit(c) else {
            if c.is_ascii_whitespace() {
                continue;
            }
            used = i;
            break;
        };
        match half.take() {
            Some(h) => out.push(h << 4 | v),
            None => half = Some(v),
        }
    }
    if let Some(h) = half {
        out.push(h << 4);
    }
    (out, used)
}

/// A literal string's bytes, up to the `)` that balances its `(`, with
/// its escapes undone, and how many bytes it took.
pub(super) fn literal(d: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut depth = 0u32;
    let mut i = 0;
    while i < d.len() {
        let c = d[i];
        i += 1;
        match c {
            b'(' => {
                depth += 1;
                out.push(c);
            }
            b')' if depth == 0 => break,
            b')' => {
                depth -= 1;
                out.push(c);
            }
            b'\\' => {
                let Some(&e) = d.get(i) else { break };
                i += 1;
                match e {
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    b'b' => out.push(8),
                    b'f' => out.push(12),
                    b'0'..=b'7' => {
                        let mut v = u32::from(e - b'0');
                        for _ in 0..2 {
                            match d.get(i) {
                                Some(&o @ b'0'..=b'7') => {
                                    v = v * 8 + u32::from(o - b'0');
                                    i += 1;
                                }
                                _ => break,
                            }
                        }
                        out.push(v as u8);
                    }
                    // A backslash at the end of a line joins the lines.
                    b'\r' => {
                        if d.get(i) == Some(&b'\n') {
                            i += 1;
                        }
                    }
                    b'\n' => {}
                    other => out.push(other),
                }
            }
            // An end of line in the string is a line feed, however written.
            b'\r' => {
                if d.get(i) == Some(&b'\n') {
                    i += 1;
                }
                out.push(b'\n');
            }
            _ => out.push(c),
        }
    }
    (out, i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_scripts(d: &[u8]) -> Vec<Vec<u8>> {
        scripts(d).into_iter().map(|(_, js)| js).collect()
    }

    #[test]
    fn unclosed_strings_cost_one_pass() {
        let d = b"/JS<".repeat(100_000);
        let t = std::time::Instant::now();
        assert!(all_scripts(&d).is_empty());
        let d = b"/JS(".repeat(100_000);
        assert_eq!(all_scripts(&d).len(), 1);
        assert!(t.elapsed() < std::time::Duration::from_secs(5));
        // A literal ends with its object at the latest.
        let d = b"1 0 obj << /JS (open endobj 2 0 obj << /JS (two) >> endobj";
        assert_eq!(all_scripts(d), vec![b"open ".to_vec(), b"two".to_vec()]);
    }

    #[test]
    fn names_are_unescaped_and_common_ones_noticed() {
        let d = b"<< /F#69lter /Fl#61teDecode /Length 5 /My#20Name 1 >>";
        assert_eq!(
            &unescape_names(d)[..],
            b"<< /Filter /FlateDecode /Length 5 /My Name 1 >>"
        );
        assert!(obfuscated_common_name(d));
        // An escaped name nobody needs to hide, a # in a string.
        assert!(!obfuscated_common_name(
            b"<< /My#20Name 1 /URI (http://x/#top) >>"
        ));
        assert!(matches!(
            unescape_names(b"<< /Filter /FlateDecode >>"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn js_strings_literal_hex_and_escaped_key() {
        let d = b"<< /S /JavaScript /JS (app.alert\\(\"a\\051\"\\);\\\nx\r\ny (z)) >>\n\
                  << /JS <61 70 70 2> /JSX (no) >> << /J#53 (esc) >> << /JS 12 0 R >> << /JS <<>> >>";
        assert_eq!(
            all_scripts(d),
            vec![
                b"app.alert(\"a)\");x\ny (z)".to_vec(),
                b"app ".to_vec(),
                b"esc".to_vec(),
            ]
        );
    }
}
