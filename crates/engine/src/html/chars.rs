//! Character references and multi-byte characters, written out as
//! ClamAV's normaliser writes them.

use super::{Norm, St};

impl Norm {
    /// A byte decoded from an entity: into the page and, inside an
    /// attribute value, into the value.
    pub(super) fn out_ref(&mut self, b: u8) {
        self.o2.push(b);
        if self.next == St::TagArgVal {
            self.push_val(b);
        }
    }

    /// A numeric character reference: ASCII lowered, others as UTF-16LE
    /// code units (ClamAV's own normal form for them).
    pub(super) fn out_code(&mut self, v: u64) {
        if v < 0x80 {
            self.o2.push((v as u8).to_ascii_lowercase());
        } else if let Some(ch) = u32::try_from(v).ok().and_then(char::from_u32)
        {
            let mut units = [0u16; 2];
            for u in ch.encode_utf16(&mut units) {
                if *u < 0x100 {
                    self.o2.push(*u as u8);
                } else {
                    self.o2.extend(u.to_le_bytes());
                }
            }
        }
    }

    pub(super) fn flush_mbchar(&mut self) {
        let m = self.mbchar;
        self.mbchar = 0;
        if matches!(m, 0xE38082 | 0xEFBC8E | 0xEFB992) {
            // Full stops of CJK scripts read as '.'.
            self.o2.push(b'.');
            self.text.push(b'.');
            return;
        }
        let (c0, c1, c2) = ((m >> 16) as u8, (m >> 8) as u8, m as u8);
        if c0 != 0 {
            self.o2.push(c0);
            self.text.push(c0);
        }
        if c0 != 0 || c1 != 0 {
            self.o2.push(c1);
            self.text.push(c1);
        }
        self.o2.push(c2);
        // ClamAV writes the middle byte again here, not the last one;
        // kept, since signatures are written against its output.
        self.text.push(c1);
    }

    /// Writes the held multi-byte character of a value before `next`:
    /// the full stops of CJK scripts as `.`. True when `next` went with
    /// it (a `0xA1` lead byte and `C`, `D` or `O`).
    pub(super) fn flush_mbchar2(&mut self, next: u8) -> bool {
        let m = std::mem::take(&mut self.mbchar2);
        if matches!(m, 0xE38082 | 0xEFBC8E | 0xEFB992)
            || (m == 0xA1 && matches!(next, b'C' | b'D' | b'O'))
        {
            self.o2.push(b'.');
            self.push_val(b'.');
            return m == 0xA1;
        }
        let (c0, c1, c2) = ((m >> 16) as u8, (m >> 8) as u8, m as u8);
        for (b, keep) in [(c0, c0 != 0), (c1, c0 != 0 || c1 != 0), (c2, true)]
        {
            if keep {
                self.o2.push(b);
                self.push_val(b);
            }
        }
        false
    }
}

/// The named character references ClamAV converts, as bytes.
pub(super) fn entity(name: &[u8]) -> Option<Vec<u8>> {
    let lower = name.to_ascii_lowercase();
    let c: u32 = match &lower[..] {
        b"amp" => '&' as u32,
        b"lt" => '<' as u32,
        b"gt" => '>' as u32,
        b"quot" => '"' as u32,
        b"apos" => '\'' as u32,
        b"nbsp" => 0xa0,
        b"copy" => 0xa9,
        b"reg" => 0xae,
        _ => return None,
    };
    Some(if c < 0x100 { vec![c as u8] } else { c.to_le_bytes()[..2].to_vec() })
}
