//! The links of a page as ClamAV's phishing check lists them, gathered
//! while the page is normalised.

use super::STR_LEN;

/// One link of a page as ClamAV's mail reader lists them for its
/// phishing check: the tag it came from (`href`, `href_title`, `form`,
/// `src`, `dynsrc`, `iframe`, `area`), the URL, and what goes with it
/// (the text of an `<a>`, the action of the enclosing form, the link
/// around an image).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub(crate) tag: &'static str,
    pub(crate) value: Vec<u8>,
    pub(crate) contents: Option<Vec<u8>>,
}

#[derive(Default)]
pub(super) struct Links {
    pub(super) list: Vec<Link>,
    /// The `<a>` whose text is being read.
    pub(super) in_a: Option<usize>,
    /// Where in the current chunk its next run of text starts.
    pub(super) begin: Option<usize>,
    pub(super) text: Vec<u8>,
    pub(super) form_action: Option<Vec<u8>>,
}

impl Links {
    /// The text of an `<a>` grows by raw page bytes (entities are not
    /// decoded), with the full stops of CJK scripts read as `.`; a
    /// multi-byte character still open when the run ends is dropped, as
    /// ClamAV drops it.
    pub(super) fn append(text: &mut Vec<u8>, raw: &[u8]) {
        let mut mb: u32 = 0;
        for &c in raw {
            if text.len() >= STR_LEN {
                break;
            }
            if mb != 0 && (c < 0x80 || mb >= 0x10000) {
                if matches!(mb, 0xE38082 | 0xEFBC8E | 0xEFB992)
                    || (mb == 0xA1 && matches!(c, b'C' | b'D' | b'O'))
                {
                    text.push(b'.');
                    if mb == 0xA1 {
                        mb = 0;
                        continue;
                    }
                } else {
                    let (c0, c1, c2) =
                        ((mb >> 16) as u8, (mb >> 8) as u8, mb as u8);
                    if c0 != 0 && text.len() + 1 < STR_LEN {
                        text.push(c0);
                    }
                    if (c0 != 0 || c1 != 0) && text.len() + 1 < STR_LEN {
                        text.push(c1);
                    }
                    if text.len() + 1 < STR_LEN {
                        text.push(c2);
                    }
                }
                mb = 0;
            }
            if c >= 0x80 {
                mb = mb << 8 | c as u32;
            } else if text.len() < STR_LEN {
                text.push(if c == b'\n' { b' ' } else { c });
            }
        }
    }

    pub(super) fn fresh(raw: &[u8]) -> Vec<u8> {
        let mut t = Vec::new();
        Links::append(&mut t, raw);
        t
    }

    /// The text of the open `<a>` is complete.
    pub(super) fn close_a(&mut self) {
        if let Some(k) = self.in_a.take() {
            self.list[k].contents = Some(std::mem::take(&mut self.text));
        }
    }

    pub(super) fn run_to(&mut self, chunk: &[u8], end: usize) {
        if self.in_a.is_some()
            && let Some(b) = self.begin
            && b < end
        {
            Links::append(&mut self.text, &chunk[b..end]);
        }
    }
}

/// A value as ClamAV keeps it: one that starts with a quote loses its
/// first and last byte, whatever the last one is.
pub(super) fn unquote(v: &[u8]) -> Vec<u8> {
    match v.strip_prefix(b"\"") {
        Some(inner) => inner[..inner.len().saturating_sub(1)].to_vec(),
        None => v.to_vec(),
    }
}
