//! Office Open XML and HWP zips told apart as ClamAV tells them, by
//! the names of their first entries.

use super::{FileType, MAGIC_WINDOW};

/// Names a zip's first entries start with, for ClamAV's second look at
/// a zip: Office Open XML and HWP parts (a type at once) or names that
/// make one likely (the whole central directory is then searched).
const OOXML_NAMES: &[(&[u8], Option<FileType>)] = &[
    (b"xl/", Some(FileType::OoxmlXl)),
    (b"ppt/", Some(FileType::OoxmlPpt)),
    (b"word/", Some(FileType::OoxmlWord)),
    (b"BinData", None),
    (b"mimetype", None),
    (b"Contents", None),
    (b"docProps/", None),
    (b"customXml/", None),
    (b"version.xml", None),
    (b"settings.xml", None),
    (b"_.rels/.rels", None),
    (b"[ContentTypes].xml", None),
    (b"[Content_Types].xml", None),
    (b"Preview/PrvText.txt", None),
    (b"Contents/content.hpf", Some(FileType::OoxmlHwp)),
    (b"META-INF/container.xml", None),
];

const LOCAL_HEADER: usize = 30;
const LONGEST_NAME: usize = 22;

/// The Office type of a zip, as ClamAV reads it: the names of the first
/// three local headers found (searched in windows of the file, at most
/// 32 looks), and when one of them makes Office likely, the first entry
/// of the central directory under `xl/`, `ppt/` or `word/`.
pub(super) fn ooxml(data: &[u8]) -> Option<FileType> {
    let first = data.len().min(MAGIC_WINDOW);
    if first <= 2 * (LOCAL_HEADER + 5) {
        return None;
    }
    // The window looked at: its start in `data` and length; where in it
    // the next search starts, if it goes on in this window.
    let (mut win, mut len) = (0usize, first);
    let mut next_off = first;
    let mut from = Some(0usize);
    let (mut headers, mut likely) = (0, false);
    for _ in 0..32 {
        let mut at = None;
        if let Some(f) = from {
            let w = &data[win + f..win + len];
            if let Some(p) = memchr::memmem::find(w, b"PK\x03\x04") {
                let name = f + p + LOCAL_HEADER;
                if len > name + LONGEST_NAME {
                    let n = &data[win + name..];
                    for (prefix, t) in OOXML_NAMES {
                        if n.starts_with(prefix) {
                            if t.is_some() {
                                return *t;
                            }
                            likely = true;
                        }
                    }
                    headers += 1;
                    if headers > 2 {
                        return likely
                            .then(|| ooxml_directory(data))
                            .flatten();
                    }
                    at = Some(name);
                }
            }
        }
        from = at;
        if from.is_none() {
            if data.len() - next_off <= LOCAL_HEADER {
                return None;
            }
            // The next window overlaps this one by a header and a name.
            win = next_off.saturating_sub(LOCAL_HEADER + LONGEST_NAME + 1);
            len = (data.len() - win).min(MAGIC_WINDOW + 4);
            next_off = win + len;
            from = Some(0);
        }
    }
    None
}

/// The first central directory entry (from the last end record) named
/// under `xl/`, `ppt/` or `word/` (or `Contents/content.hpf`), by type.
fn ooxml_directory(data: &[u8]) -> Option<FileType> {
    const CENTRAL: usize = 46;
    let le16 = |at: usize| -> Option<usize> {
        Some(u16::from_le_bytes(data.get(at..at + 2)?.try_into().ok()?).into())
    };
    let le32 = |at: usize| -> Option<usize> {
        Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?)
            as usize)
    };
    if data.len() < CENTRAL {
        return None;
    }
    let mut dir = None;
    for end in (1..=data.len() - 22).rev() {
        if data.len() - end < 20 {
            continue;
        }
        if &data[end..end + 4] == b"PK\x05\x06" {
            let start = le32(end + 16)?;
            if start.checked_add(CENTRAL).is_some_and(|e| e <= data.len()) {
                dir = Some(start);
                break;
            }
        }
    }
    let mut at = dir.filter(|&d| d > 0)?;
    // ClamAV's requests in order; the last one a name meets wins.
    let requests: [(&[u8], bool, FileType); 4] = [
        (b"xl/", false, FileType::OoxmlXl),
        (b"ppt/", false, FileType::OoxmlPpt),
        (b"word/", false, FileType::OoxmlWord),
        (b"Contents/content.hpf", true, FileType::OoxmlHwp),
    ];
    for _ in 0..100_000 {
        if data.get(at..at + 4)? != b"PK\x01\x02" {
            return None;
        }
        let name_len = le16(at + 28)?;
        let next = at + CENTRAL + name_len + le16(at + 30)? + le16(at + 32)?;
        let name = data.get(at + CENTRAL..at + CENTRAL + name_len)?;
        let name = name.split(|&b| b == 0).next().unwrap_or_default();
        let hit = requests.iter().rfind(|(p, exact, _)| {
            if *exact { name == *p } else { name.starts_with(p) }
        });
        if let Some((_, _, t)) = hit {
            return Some(*t);
        }
        at = next;
    }
    None
}
