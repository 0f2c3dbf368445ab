use super::*;

/// A writer of the stream objects a web export is made of.
mod w {
    pub fn compact(v: u64) -> Vec<u8> {
        if v == 0 {
            return vec![0];
        }
        for width in 1..8u32 {
            if v < 1 << (7 * width) {
                let x = (v << width) | 1 << (width - 1);
                return x.to_le_bytes()[..width as usize].to_vec();
            }
        }
        let mut o = vec![0x80];
        o.extend(v.to_le_bytes());
        o
    }

    pub fn exguid(g: u8, n: u32) -> Vec<u8> {
        let mut o = match n {
            0..32 => vec![(n << 3 | 4) as u8],
            32..1024 => ((n << 6 | 0x20) as u16).to_le_bytes().to_vec(),
            1024..0x20000 => (n << 7 | 0x40).to_le_bytes()[..3].to_vec(),
            _ => {
                let mut o = vec![0x80];
                o.extend(n.to_le_bytes());
                o
            }
        };
        o.extend([g; 16]);
        o
    }

    pub fn start(kind: u16, compound: bool, body: &[u8]) -> Vec<u8> {
        let c = u64::from(compound) << 2;
        let len = body.len() as u64;
        let mut o = if kind < 64 && len < 128 {
            ((len << 9 | u64::from(kind) << 3 | c) as u16)
                .to_le_bytes()
                .to_vec()
        } else {
            let v = len.min(0x7fff) << 17 | u64::from(kind) << 3 | c | 2;
            let mut o = (v as u32).to_le_bytes().to_vec();
            if len >= 0x7fff {
                o.extend(compact(len));
            }
            o
        };
        o.extend(body);
        o
    }

    pub fn end8(kind: u16) -> Vec<u8> {
        vec![(kind << 2 | 1) as u8]
    }

    pub fn element(id: u8, ty: u64, inner: &[u8]) -> Vec<u8> {
        let mut head = exguid(id, 1);
        head.push(0x80);
        head.extend([id; 16]);
        head.extend(1u64.to_le_bytes());
        head.extend(compact(ty));
        let mut o = start(1, true, &head);
        o.extend(inner);
        o.extend(end8(1));
        o
    }

    pub fn blob(id: u8, data: &[u8]) -> Vec<u8> {
        let mut item = compact(data.len() as u64);
        item.extend(data);
        element(id, 0x0a, &start(2, false, &item))
    }

    /// An object group of file data objects: (object number, JCID, BLOB
    /// data element).
    pub fn group(id: u8, objects: &[(u32, u32, u8)]) -> Vec<u8> {
        let mut decl = start(0x1d, true, &[]);
        let mut data = start(0x1e, true, &[]);
        for &(n, jcid, blob) in objects {
            let mut d = exguid(0x42, n);
            d.extend(compact(4));
            d.extend(compact(4));
            d.extend([0, 0]);
            decl.extend(start(0x18, false, &d));
            let mut d = exguid(0x42, n);
            d.extend(exguid(blob, 1));
            d.extend(compact(2));
            d.extend([0, 0]);
            decl.extend(start(0x05, false, &d));
            let mut d = vec![0, 0];
            d.extend(compact(4));
            d.extend(jcid.to_le_bytes());
            data.extend(start(0x16, false, &d));
            let mut d = vec![0, 0];
            d.extend(exguid(blob, 1));
            data.extend(start(0x1c, false, &d));
        }
        decl.extend(end8(0x1d));
        data.extend(end8(0x1e));
        decl.extend(data);
        element(id, 0x05, &decl)
    }

    pub fn package(elements: &[Vec<u8>]) -> Vec<u8> {
        let mut o = vec![
            0xe4, 0x52, 0x5c, 0x7b, 0x8c, 0xd8, 0xa7, 0x4d, 0xae, 0xb1, 0x53,
            0x78, 0xd0, 0x29, 0x96, 0xd3,
        ];
        o.extend([7; 32]);
        o.extend(super::PACKAGE);
        o.extend([0; 4]);
        let mut index = exguid(9, 1);
        index.extend([8; 16]);
        let v = (index.len() as u32) << 17 | 0x7a << 3 | 4 | 2;
        o.extend(v.to_le_bytes());
        o.extend(index);
        o.extend(start(0x15, true, &[0]));
        for e in elements {
            o.extend(e);
        }
        o.extend(end8(0x15));
        o.extend(((0x7a << 2 | 3) as u16).to_le_bytes());
        o
    }
}

fn files_of(d: &[u8]) -> (Vec<Vec<u8>>, bool) {
    let f = files(d);
    (f.files.iter().map(|x| x.to_vec()).collect(), f.damaged)
}

#[test]
fn compact_integers_and_extended_guids_of_every_width() {
    for v in [0, 1, 127, 128, 16383, 16384, 1 << 40, u64::MAX] {
        assert_eq!(Cursor { d: &w::compact(v), at: 0 }.compact(), Some(v));
    }
    for n in [0, 31, 32, 1023, 1024, 0x1ffff, 0x20000, u32::MAX] {
        let e = w::exguid(3, n);
        assert_eq!(Cursor { d: &e, at: 0 }.exguid(), Some(ExGuid([3; 16], n)));
    }
}

#[test]
fn embedded_files_are_found_and_pictures_left() {
    let one = w::package(&[
        w::blob(0x10, b"the attachment"),
        w::blob(0x11, b"\x89PNG a picture"),
        w::group(0x20, &[(1, 0x0008_0039, 0x11), (2, EMBEDDED_FILE, 0x10)]),
        w::blob(0x12, b"a later one"),
        w::group(0x21, &[(3, EMBEDDED_FILE, 0x12), (2, EMBEDDED_FILE, 0x10)]),
    ]);
    assert!(is_package(&one));
    let (got, damaged) = files_of(&one);
    assert_eq!(got, vec![b"the attachment".to_vec(), b"a later one".to_vec()]);
    assert!(!damaged);
}

#[test]
fn a_cut_package_keeps_what_came_before() {
    let one = w::package(&[
        w::blob(0x10, b"first"),
        w::group(0x20, &[(1, EMBEDDED_FILE, 0x10)]),
        w::blob(0x11, &[b'x'; 300]),
        w::group(0x21, &[(2, EMBEDDED_FILE, 0x11)]),
    ]);
    let at = one.windows(3).position(|x| x == b"xxx").unwrap() + 10;
    let (got, damaged) = files_of(&one[..at]);
    assert_eq!(got, vec![b"first".to_vec()]);
    assert!(damaged);
    // Every cut ends cleanly.
    for n in 0..one.len() {
        let _ = files_of(&one[..n]);
    }
}

#[test]
fn a_reference_to_a_missing_blob_is_damage() {
    let one = w::package(&[w::group(0x20, &[(1, EMBEDDED_FILE, 0x33)])]);
    let (got, damaged) = files_of(&one);
    assert!(got.is_empty());
    assert!(damaged);
}

#[test]
fn crafted_lengths_and_nesting_end_as_damage() {
    // A BLOB claiming an exabyte, a stream object header claiming more
    // than the file, ends that match no start, nesting past the bound.
    let mut huge = w::compact(1 << 60);
    huge.extend(b"short");
    let cases = [
        w::package(&[w::element(0x10, 0x0a, &w::start(2, false, &huge))]),
        w::package(&[w::start(0x01, true, &[0xff; 3])]),
        w::package(&[w::end8(0x1e)]),
        w::package(&[[0x0cu8, 0x56].repeat(40)]),
    ];
    for one in cases {
        let (got, damaged) = files_of(&one);
        assert!(got.is_empty());
        assert!(damaged);
    }
    let mut big = w::package(&[]);
    let v: u32 = 0x7fff << 17 | 0x15 << 3 | 4 | 2;
    big.truncate(HEADER + 4 + 17 + 16);
    big.extend(v.to_le_bytes());
    big.extend(w::compact(u64::MAX));
    assert!(files_of(&big).1);
}

/// ClamAV's notebook parser fails on anything short of a whole notebook
/// and then searches by GUID: a FileDataStoreObject beside a package
/// that reads well is still a child; one inside a BLOB already given is
/// not given twice.
#[test]
fn file_data_objects_beside_a_package_are_found_once() {
    let object = |payload: &[u8]| {
        let mut o = super::super::FILE_DATA.to_vec();
        o.extend((payload.len() as u64).to_le_bytes());
        o.extend([0u8; 12]);
        o.extend(payload);
        o
    };
    let mut one = w::package(&[
        w::blob(0x10, &object(b"inside a blob")),
        w::group(0x20, &[(1, EMBEDDED_FILE, 0x10)]),
    ]);
    one.extend(object(b"after the package"));
    let mut c = crate::unpack::tests::collect(crate::unpack::tests::budget());
    let skipped = super::super::onenote(&one, &mut c).skipped;
    assert_eq!(skipped, None);
    let children: Vec<&[u8]> =
        c.children.iter().map(|(_, d)| d.as_slice()).collect();
    assert_eq!(children.len(), 2, "{children:?}");
    assert!(children[0].ends_with(b"inside a blob"));
    assert_eq!(children[1], b"after the package");
}
