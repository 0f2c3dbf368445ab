//! Text from mail shown to a person. A subject (an RFC 2047 word can
//! hold any byte), an envelope address or a message body may carry what
//! a terminal acts on: ESC sequences that set the title, clear the
//! screen, hide text or answer back, a CR that writes over a line, C1
//! CSI (U+009B), bidirectional overrides that reorder what is shown.
//! These become visible escapes (`\x1b`, `\r`, `\u{9b}`); everything
//! else, non-ASCII text included, is left as it is. A backslash is not
//! escaped: the output is for reading, not for parsing back.

use std::borrow::Cow;
use std::fmt::Write;

/// Whether a terminal would act on `c` or reorder the text around it:
/// C0 controls, DEL, C1 controls, the bidirectional formatting
/// characters and the line and paragraph separators.
pub(crate) fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

fn push_escape(out: &mut String, c: char) {
    match c {
        '\t' => out.push_str("\\t"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c if c.is_ascii() => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// One field (a subject, an address, a virus name) as one line of
/// visible text: every control, tab and line end included, escaped.
pub fn field(s: &str) -> Cow<'_, str> {
    if !s.chars().any(hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if hidden(c) {
            push_escape(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A whole message as visible text, its lines kept: LF, tab and a CR
/// before LF are printed as they are, other controls escaped, and bytes
/// that are not UTF-8 (8-bit charsets; a lone 0x9B is CSI to an 8-bit
/// terminal) shown as `\xHH`.
pub fn text(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len() + b.len() / 16);
    for chunk in b.utf8_chunks() {
        let mut chars = chunk.valid().chars().peekable();
        while let Some(c) = chars.next() {
            let kept = match c {
                '\n' | '\t' => true,
                '\r' => chars.peek() == Some(&'\n'),
                c => !hidden(c),
            };
            if kept {
                out.push(c);
            } else {
                push_escape(&mut out, c);
            }
        }
        for &byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

/// JSON text (as serde_json writes it) with the characters JSON lets
/// through raw but a terminal acts on (DEL, C1, bidirectional
/// controls) written as `\u` escapes: still valid JSON with the same
/// values, since outside strings JSON text is plain ASCII.
pub fn json(s: &str) -> Cow<'_, str> {
    if !s.chars().any(hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        // serde_json escapes C0 itself; the rest fit in one \u.
        if hidden(c) && (c as u32) >= 0x20 {
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_become_one_visible_line() {
        assert!(matches!(field("plain \u{e9}t\u{e9} text"), Cow::Borrowed(_)));
        assert_eq!(
            field("invoice\x1b]0;pwned\x07\x1b[2J\u{9b}31m"),
            "invoice\\x1b]0;pwned\\x07\\x1b[2J\\u{9b}31m"
        );
        assert_eq!(field("a\r\nb\tc\0d\x7f"), "a\\r\\nb\\tc\\x00d\\x7f");
        assert_eq!(field("abc\u{202e}fdp.exe"), "abc\\u{202e}fdp.exe");
        assert_eq!(field("C:\\temp"), "C:\\temp");
    }

    #[test]
    fn messages_keep_their_lines() {
        let raw = b"Subject: x\r\n\r\n\x1b[8mhidden\x1b[0m over\rwritten\r\n\
                    \tcaf\xc3\xa9 latin1 caf\xe9 csi \x9b end\rx\r";
        assert_eq!(
            text(raw),
            "Subject: x\r\n\r\n\\x1b[8mhidden\\x1b[0m over\\rwritten\r\n\
             \tcaf\u{e9} latin1 caf\\xe9 csi \\x9b end\\rx\\r"
        );
        // Nothing a terminal acts on is left but line ends and tabs.
        let all: Vec<u8> = (0..=255).collect();
        let t = text(&all);
        assert!(
            t.chars().all(|c| !c.is_control() || c == '\n' || c == '\t'),
            "{t:?}"
        );
    }

    #[test]
    fn json_stays_json() {
        let v = serde_json::json!({"s": "a\x1b\u{7f}\u{9b}\u{202e}b"});
        let s = serde_json::to_string(&v).unwrap();
        let e = json(&s);
        assert!(e.chars().all(|c| !hidden(c)), "{e}");
        assert_eq!(e, r#"{"s":"a\u001b\u007f\u009b\u202eb"}"#);
        let back: serde_json::Value = serde_json::from_str(&e).unwrap();
        assert_eq!(back, v);
    }
}
