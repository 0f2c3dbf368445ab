//! OneNote sections (`.one`): the files a notebook carries (the lure of
//! 2023's mail campaigns: a script or program behind a "double-click to
//! view" picture). Both packagings begin with the same file type GUID.
//!
//! A web export (OneNote for the web, SharePoint) is a package store
//! file, read in `fsshttpb`. In desktop OneNote's 2007 and 2010 formats
//! each file is a FileDataStoreObject (MS-ONESTORE 2.6.13): its GUID, a
//! length, twelve bytes, then the file's bytes, found by that GUID as
//! ClamAV finds them when its section parser cannot read a file; a web
//! export that cannot be read to its end is searched the same way, as
//! ClamAV falls back to it then.

mod fsshttpb;

use super::{Sink, Unpacked};
use crate::verdict::Reason;

/// `{BDE316E7-2665-4511-A4C4-8D4D0B7A9EAC}` as stored.
const FILE_DATA: [u8; 16] = [
    0xe7, 0x16, 0xe3, 0xbd, 0x65, 0x26, 0x11, 0x45, 0xa4, 0xc4, 0x8d, 0x4d,
    0x0b, 0x7a, 0x9e, 0xac,
];

/// GUID, length (8), unused (4), reserved (8).
const HEADER: usize = 36;

pub(crate) fn onenote<'s>(
    data: &[u8],
    sink: &'s mut dyn Sink,
) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    if !fsshttpb::is_package(data) {
        file_data_objects(data, &[], &mut out);
        return out;
    }
    let found = fsshttpb::files(data);
    let mut taken = Vec::with_capacity(found.files.len());
    for (n, file) in found.files.into_iter().enumerate() {
        if out.done() {
            return out;
        }
        // Each file is a slice of `data`: where it lies, for the search.
        if let Some(start) =
            (file.as_ptr() as usize).checked_sub(data.as_ptr() as usize)
        {
            taken.push(start..start.saturating_add(file.len()));
        }
        if out.room(file.len() as u64) {
            out.push_slice(format!("embedded file {}", n + 1), file.to_vec());
        }
    }
    if found.damaged {
        out.skip(Reason::Malformed { format: "OneNote" });
    }
    // ClamAV searches by GUID whenever its notebook parser, stricter
    // than this reader, fails (on any section that is not a whole
    // notebook): so the search runs here after every web export, for
    // the bytes the package did not already give.
    file_data_objects(data, &taken, &mut out);
    out
}

/// The FileDataStoreObjects found by their GUID, but for those inside
/// the `taken` ranges of `data`.
fn file_data_objects(
    data: &[u8],
    taken: &[std::ops::Range<usize>],
    out: &mut Unpacked<'_>,
) {
    let finder = memchr::memmem::Finder::new(&FILE_DATA);
    let max_file = out.sink.budget().max_file;
    let mut at = 0;
    let mut n = 0;
    while let Some(i) = finder.find(&data[at..]).map(|i| at + i) {
        if out.done() {
            break;
        }
        // ClamAV reads the low half of the 64-bit length; so does this,
        // so that the same bytes are taken for the file.
        let Some(len) = data.get(i + 16..i + 20) else { break };
        let len =
            u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let Some(file) = data.get(i + HEADER..).and_then(|d| d.get(..len))
        else {
            out.skip(Reason::Malformed { format: "OneNote" });
            break;
        };
        n += 1;
        let start = i + HEADER;
        if taken.iter().any(|r| r.start <= start && start + len <= r.end) {
            at = start + len;
            continue;
        }
        if len as u64 > max_file {
            out.skip(Reason::FileSizeLimit);
        } else {
            out.push_slice(format!("file {n}"), file.to_vec());
        }
        at = i + HEADER + len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(data: &[u8]) -> Vec<u8> {
        let mut o = FILE_DATA.to_vec();
        o.extend((data.len() as u64).to_le_bytes());
        o.extend([0u8; 12]);
        o.extend(data);
        o
    }

    #[test]
    fn file_data_objects_are_children_and_a_cut_one_is_reported() {
        let mut one = vec![0x55u8; 64];
        one.extend(object(b"first file"));
        one.extend([0u8; 8]);
        one.extend(object(b"second"));
        let mut c =
            crate::unpack::tests::collect(crate::unpack::tests::budget());
        let skipped = onenote(&one, &mut c).skipped;
        let kids: Vec<_> = c.children.iter().map(|x| x.1.clone()).collect();
        assert_eq!(kids, vec![b"first file".to_vec(), b"second".to_vec()]);
        assert_eq!(skipped, None);
        let mut c =
            crate::unpack::tests::collect(crate::unpack::tests::budget());
        let skipped = onenote(&one[..one.len() - 2], &mut c).skipped;
        assert_eq!(c.children.len(), 1);
        assert_eq!(skipped, Some(Reason::Malformed { format: "OneNote" }));
    }
}
