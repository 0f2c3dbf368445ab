//! ClamAV's typing of Hancom Office documents that have no leading
//! magic of their own: an OLE2 file behind a size, and HWPML.

const OLE2_MAGIC: &[u8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1";

/// ClamAV's HWP embedded OLE2 (OLE2 magic at offset 4), whose line
/// comes late in its built-in list and so is tried before most others:
/// only the magics of the lines after it win over it.
pub(super) fn is_hwp_ole2(head: &[u8]) -> bool {
    const TRIED_FIRST: &[&[u8]] = &[
        b"{\\rt",
        b"\xca\xfe\xba\xbe",
        b"CWS",
        b"EGGA",
        b"\x89PNG",
        b"GIF",
        b"\xff\xd8\xff",
        b"II\x2a\x00",
        b"MM",
    ];
    head.get(4..12) == Some(OLE2_MAGIC)
        && !TRIED_FIRST.iter().any(|m| head.starts_with(m))
}

/// ClamAV's HWPML typing pattern: a UTF-8 byte order mark, an XML 1.0
/// declaration, then `<HWPML` anywhere after it in the first KiB (`data`).
/// Past it, clamscan's raw scan matches the pattern too, but acts only
/// on types matched past offset 0: such a document stays text.
pub(super) fn is_hwpml(data: &[u8]) -> bool {
    const DECL: &[u8] = b"\xef\xbb\xbf<?xml version=\"1.0\"";
    data.starts_with(DECL)
        && memchr::memmem::find(&data[DECL.len()..], b"<HWPML").is_some()
}
