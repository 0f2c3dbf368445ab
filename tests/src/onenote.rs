//! OneNote sections as OneNote for the web and SharePoint export them
//! (MS-ONESTORE 2.8: a header, then one MS-FSSHTTPB data element
//! package), written from the specifications, as no Debian tool writes
//! OneNote. The stream objects first (MS-FSSHTTPB 2.2.1); then, in
//! [`notebook`], a whole section as a OneNote reader walks it: the
//! storage manifest's header cell and data root, the section and its
//! page series (MS-ONE 2.2), one page in an object space of its own,
//! an outline whose element holds the embedded files.

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
        _ => {
            let mut o = vec![0x80];
            o.extend(n.to_le_bytes());
            o
        }
    };
    o.extend([g; 16]);
    o
}

pub fn serial(g: u8) -> Vec<u8> {
    let mut o = vec![0x80];
    o.extend([g; 16]);
    o.extend(1u64.to_le_bytes());
    o
}

pub fn start(kind: u16, compound: bool, body: &[u8]) -> Vec<u8> {
    let c = u64::from(compound) << 2;
    let len = body.len() as u64;
    let mut o = if kind < 64 && len < 128 {
        ((len << 9 | u64::from(kind) << 3 | c) as u16).to_le_bytes().to_vec()
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

pub fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

pub fn element(id: u8, ty: u64, inner: &[u8]) -> Vec<u8> {
    let head = cat(&[exguid(id, 1), serial(id), compact(ty)]);
    cat(&[start(1, true, &head), inner.to_vec(), end8(1)])
}

pub fn cell(a: u8, b: u8) -> Vec<u8> {
    cat(&[exguid(a, 1), exguid(b, 1)])
}

/// Storage index (2.2.1.12.2): the manifest, the one cell, its
/// revision.
pub fn storage_index(id: u8, manifest: u8, cell_map: u8, rev: u8) -> Vec<u8> {
    element(
        id,
        0x01,
        &cat(&[
            start(0x11, false, &cat(&[exguid(manifest, 1), serial(manifest)])),
            start(
                0x0e,
                false,
                &cat(&[
                    cell(0x70, 0x71),
                    exguid(cell_map, 1),
                    serial(cell_map),
                ]),
            ),
            start(
                0x0d,
                false,
                &cat(&[exguid(rev, 1), exguid(rev, 1), serial(rev)]),
            ),
        ]),
    )
}

/// Storage manifest (2.2.1.12.3): the section's schema and its root.
pub fn storage_manifest(id: u8) -> Vec<u8> {
    let schema = [
        0xb4, 0x7c, 0x93, 0x1f, 0x6f, 0xb2, 0x5f, 0x44, 0xb9, 0xf8, 0x17,
        0xe2, 0x01, 0x60, 0xe4, 0x61,
    ];
    element(
        id,
        0x02,
        &cat(&[
            start(0x0c, false, &schema),
            start(0x07, false, &cat(&[exguid(0x72, 2), cell(0x70, 0x71)])),
        ]),
    )
}

pub fn cell_manifest(id: u8, rev: u8) -> Vec<u8> {
    element(id, 0x03, &start(0x0b, false, &exguid(rev, 1)))
}

/// Revision manifest (2.2.1.12.5): its ID, its base, its root object,
/// the object groups it holds.
pub fn revision(id: u8, base: u8, root: u32, groups: &[u8]) -> Vec<u8> {
    let base = if base == 0 { vec![0] } else { exguid(base, 1) };
    let mut inner = start(0x1a, false, &cat(&[exguid(id, 1), base]));
    inner.extend(start(
        0x0a,
        false,
        &cat(&[exguid(0x73, 1), exguid(0x42, root)]),
    ));
    for &g in groups {
        inner.extend(start(0x19, false, &exguid(g, 1)));
    }
    element(id, 0x04, &inner)
}

pub fn blob(id: u8, data: &[u8]) -> Vec<u8> {
    element(
        id,
        0x0a,
        &start(2, false, &cat(&[compact(data.len() as u64), data.to_vec()])),
    )
}

/// An object group (2.2.1.12.6) of file data objects: (object number,
/// JCID, BLOB data element).
pub fn group(id: u8, objects: &[(u32, u32, u8)]) -> Vec<u8> {
    let mut decl = start(0x1d, true, &[]);
    let mut data = start(0x1e, true, &[]);
    for &(n, jcid, blob) in objects {
        let counts = cat(&[compact(0), compact(0)]);
        decl.extend(start(
            0x18,
            false,
            &cat(&[exguid(0x42, n), compact(4), compact(4), counts.clone()]),
        ));
        decl.extend(start(
            0x05,
            false,
            &cat(&[exguid(0x42, n), exguid(blob, 1), compact(2), counts]),
        ));
        let jcid = cat(&[vec![0, 0], compact(4), jcid.to_le_bytes().to_vec()]);
        data.extend(start(0x16, false, &jcid));
        data.extend(start(0x1c, false, &cat(&[vec![0, 0], exguid(blob, 1)])));
    }
    decl.extend(end8(0x1d));
    data.extend(end8(0x1e));
    element(id, 0x05, &cat(&[decl, data]))
}

/// The file: header (2.8.1), packaging start, the package, ends.
pub fn section(elements: &[Vec<u8>]) -> Vec<u8> {
    let mut o = vec![
        0xe4, 0x52, 0x5c, 0x7b, 0x8c, 0xd8, 0xa7, 0x4d, 0xae, 0xb1, 0x53,
        0x78, 0xd0, 0x29, 0x96, 0xd3,
    ];
    // guidFile and guidLegacyFileVersion: the same, as readers check.
    o.extend([0x5a; 16]);
    o.extend([0x5a; 16]);
    o.extend([
        0x2f, 0xe9, 0x8d, 0x63, 0xd4, 0xa6, 0xc1, 0x4b, 0x9a, 0x36, 0xb3,
        0xfc, 0x25, 0x11, 0xa5, 0xb7,
    ]);
    o.extend([0; 4]);
    let index = cat(&[exguid(0x60, 1), vec![0x5c; 16]]);
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

/// A whole section: the manifests, then `elements`.
pub fn web_export(elements: Vec<Vec<u8>>, group_ids: &[u8]) -> Vec<u8> {
    let mut e = vec![
        storage_index(0x60, 0x61, 0x62, 0x63),
        storage_manifest(0x61),
        cell_manifest(0x62, 0x63),
        revision(0x63, 0, 1, group_ids),
    ];
    e.extend(elements);
    section(&e)
}

/// A GUID as stored: its first three fields little-endian.
pub fn guid(text: &str) -> [u8; 16] {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let mut b = [0u8; 16];
    for (i, x) in b.iter_mut().enumerate() {
        *x = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    b[..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    b
}

/// An extended GUID of a given GUID.
pub fn exguid_of(g: [u8; 16], n: u32) -> Vec<u8> {
    let mut o = exguid(0, n);
    let at = o.len() - 16;
    o[at..].copy_from_slice(&g);
    o
}

/// MS-ONE property IDs (with their MS-ONESTORE value types) and JCIDs.
pub mod one {
    pub const ENTITY_GUID: u32 = 0x1C00_1C30;
    pub const ELEMENT_CHILD_NODES: u32 = 0x2400_1C20;
    pub const CONTENT_CHILD_NODES: u32 = 0x2400_1C1F;
    pub const CREATION_TIMESTAMP64: u32 = 0x1800_1C65;
    pub const CREATION_TIME32: u32 = 0x1400_1D09;
    pub const LAST_MODIFIED: u32 = 0x1400_1D7A;
    pub const SCHEMA_READ: u32 = 0x1400_1D82;
    pub const SCHEMA_WRITE: u32 = 0x1400_348B;
    pub const SECTION_NAME: u32 = 0x1C00_349B;
    pub const CHILD_SPACES: u32 = 0x2C00_1D63;
    pub const CACHED_TITLE: u32 = 0x1C00_1CF3;
    pub const CHILD_LEVEL: u32 = 0x0C00_1C03;
    pub const INDENTS: u32 = 0x1C00_1C12;
    pub const AUTHOR_ORIGINAL: u32 = 0x2000_1D78;
    pub const AUTHOR_RECENT: u32 = 0x2000_1D79;
    pub const FILE_CONTAINER: u32 = 0x2000_1D9B;
    pub const FILE_NAME: u32 = 0x1C00_1D9C;
    pub const FILE_IDENTITY: u32 = 0x1C00_1D94;
    pub const FILE_ANCESTOR: u32 = 0x1C00_1D95;
    pub const FILE_NAME_CRC: u32 = 0x1400_1D93;

    pub const SECTION_NODE: u32 = 0x0006_0007;
    pub const SECTION_METADATA: u32 = 0x0002_0031;
    pub const PAGE_SERIES: u32 = 0x0006_0008;
    pub const PAGE_MANIFEST: u32 = 0x0006_0037;
    pub const PAGE_METADATA: u32 = 0x0002_0030;
    pub const PAGE_NODE: u32 = 0x0006_000B;
    pub const OUTLINE: u32 = 0x0006_000C;
    pub const OUTLINE_ELEMENT: u32 = 0x0006_000D;
    pub const EMBEDDED_FILE_NODE: u32 = 0x0006_0035;
    pub const EMBEDDED_FILE: u32 = 0x0008_0036;
    pub const PICTURE: u32 = 0x0008_0039;
}

/// One property's value (MS-ONESTORE 2.6.6 types by the ID's bits).
pub enum Value {
    U8(u8),
    U32(u32),
    U64(u64),
    Bytes(Vec<u8>),
    /// References to objects, by object number (type 0x8 for one, 0x9
    /// for an array, as the ID says).
    Objects(Vec<u32>),
    /// References to object spaces, as cell IDs.
    Spaces(Vec<Vec<u8>>),
}

/// One object of an object group: its number (extended GUID `0x42`,
/// n), JCID, properties and the BLOB holding its file data, if any.
pub struct Object {
    pub n: u32,
    pub jcid: u32,
    pub props: Vec<(u32, Value)>,
    pub blob: Option<u8>,
}

/// UTF-16LE, as MS-ONE's strings are.
pub fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

impl Object {
    pub fn new(n: u32, jcid: u32, props: Vec<(u32, Value)>) -> Object {
        Object { n, jcid, props, blob: None }
    }

    /// The ObjectSpaceObjectPropSet (MS-ONESTORE 2.6.7) of partition
    /// 1, and the object and cell references its data carries, in the
    /// order the property set's OID and OSID streams name them.
    fn prop_set(&self) -> (Vec<u8>, Vec<u32>, Vec<Vec<u8>>) {
        let (mut oids, mut osids) = (Vec::new(), Vec::new());
        let (mut ids, mut data) = (Vec::new(), Vec::new());
        for (id, v) in &self.props {
            ids.extend(id.to_le_bytes());
            match v {
                Value::U8(x) => data.push(*x),
                Value::U32(x) => data.extend(x.to_le_bytes()),
                Value::U64(x) => data.extend(x.to_le_bytes()),
                Value::Bytes(b) => {
                    data.extend((b.len() as u32).to_le_bytes());
                    data.extend(b);
                }
                Value::Objects(refs) => {
                    if id >> 26 == 0x9 {
                        data.extend((refs.len() as u32).to_le_bytes());
                    }
                    oids.extend(refs);
                }
                Value::Spaces(cells) => {
                    data.extend((cells.len() as u32).to_le_bytes());
                    osids.extend(cells.iter().cloned());
                }
            }
        }
        // Each reference its own compact ID, so that the reader's
        // mapping of compact IDs to references is one to one.
        let compact = |i: usize| ((i as u32 + 1) << 8 | 1).to_le_bytes();
        let mut o = Vec::new();
        let no_osids = u32::from(osids.is_empty()) << 31;
        o.extend((oids.len() as u32 | no_osids).to_le_bytes());
        for i in 0..oids.len() {
            o.extend(compact(i));
        }
        if !osids.is_empty() {
            o.extend((osids.len() as u32).to_le_bytes());
            for i in 0..osids.len() {
                o.extend(compact(100 + i));
            }
        }
        o.extend((self.props.len() as u16).to_le_bytes());
        o.extend(ids);
        o.extend(data);
        (o, oids, osids)
    }
}

fn array(items: &[Vec<u8>]) -> Vec<u8> {
    cat(&[compact(items.len() as u64), items.concat()])
}

/// An object group (MS-FSSHTTPB 2.2.1.12.6) of whole objects: each with
/// partition 4 (its JCID), 1 (its property set) and, for file data
/// objects, 2 (its BLOB).
pub fn object_group(id: u8, objects: &[Object]) -> Vec<u8> {
    let mut decl = start(0x1d, true, &[]);
    let mut data = start(0x1e, true, &[]);
    let no_refs = cat(&[compact(0), compact(0)]);
    for o in objects {
        let oid = exguid(0x42, o.n);
        let jcid = o.jcid.to_le_bytes().to_vec();
        decl.extend(start(
            0x18,
            false,
            &cat(&[oid.clone(), compact(4), compact(4), no_refs.clone()]),
        ));
        data.extend(start(
            0x16,
            false,
            &cat(&[no_refs.clone(), compact(4), jcid]),
        ));
        let (props, oids, osids) = o.prop_set();
        decl.extend(start(
            0x18,
            false,
            &cat(&[
                oid.clone(),
                compact(1),
                compact(props.len() as u64),
                compact(oids.len() as u64),
                compact(osids.len() as u64),
            ]),
        ));
        let refs: Vec<Vec<u8>> =
            oids.iter().map(|&n| exguid(0x42, n)).collect();
        data.extend(start(
            0x16,
            false,
            &cat(&[
                array(&refs),
                array(&osids),
                compact(props.len() as u64),
                props,
            ]),
        ));
        if let Some(blob) = o.blob {
            decl.extend(start(
                0x05,
                false,
                &cat(&[oid, exguid(blob, 1), compact(2), no_refs.clone()]),
            ));
            data.extend(start(
                0x1c,
                false,
                &cat(&[no_refs.clone(), exguid(blob, 1)]),
            ));
        }
    }
    decl.extend(end8(0x1d));
    data.extend(end8(0x1e));
    element(id, 0x05, &cat(&[decl, data]))
}

/// A cell: its context and object space (extended GUIDs of GUIDs
/// `ctx`, `space`).
pub fn cell_of(ctx: u8, space: u8) -> Vec<u8> {
    cell(ctx, space)
}

/// A storage index of several cells (cell, cell manifest) and
/// revisions (revision ID = revision manifest ID).
pub fn storage_index_of(
    id: u8,
    manifest: u8,
    cells: &[(Vec<u8>, u8)],
    revisions: &[u8],
) -> Vec<u8> {
    let mut inner =
        start(0x11, false, &cat(&[exguid(manifest, 1), serial(manifest)]));
    for (c, m) in cells {
        inner.extend(start(
            0x0e,
            false,
            &cat(&[c.clone(), exguid(*m, 1), serial(*m)]),
        ));
    }
    for &r in revisions {
        inner.extend(start(
            0x0d,
            false,
            &cat(&[exguid(r, 1), exguid(r, 1), serial(r)]),
        ));
    }
    element(id, 0x01, &inner)
}

/// A revision manifest with its roots by role (1 content, 2 metadata)
/// and object number, and the object groups it holds.
pub fn revision_of(id: u8, roots: &[(u32, u32)], groups: &[u8]) -> Vec<u8> {
    let role = guid("4A3717F8-1C14-49E7-9526-81D942DE1741");
    let mut inner = start(0x1a, false, &cat(&[exguid(id, 1), vec![0]]));
    for &(r, n) in roots {
        inner.extend(start(
            0x0a,
            false,
            &cat(&[exguid_of(role, r), exguid(0x42, n)]),
        ));
    }
    for &g in groups {
        inner.extend(start(0x19, false, &exguid(g, 1)));
    }
    element(id, 0x04, &inner)
}

/// An embedded file for [`notebook`]: its name, its bytes.
pub struct Attachment<'a> {
    pub name: &'a str,
    pub data: &'a [u8],
}

/// A OneNote section a OneNote reader walks to its embedded files: the
/// header cell (file identity), the data root (section node, metadata,
/// one page series) and the page's own object space (manifest,
/// metadata, page, one outline, one outline element whose contents are
/// the `files`). `extra` goes into the page's object group besides
/// (e.g. a picture's container, or file data objects the page does not
/// reach), with `extra_blobs` (element number, bytes) before it.
pub fn notebook(
    files: &[Attachment<'_>],
    extra: Vec<Object>,
    extra_blobs: &[(u8, &[u8])],
) -> Vec<u8> {
    use Value::*;
    use one::*;
    let entity = |b: u8| Bytes(vec![b; 16]);
    // Cells: header (0x70, 0x75), data root (0x70, 0x71), page (0x70, 0x74).
    let (header, root, page) =
        (cell(0x70, 0x75), cell(0x70, 0x71), cell(0x70, 0x74));
    let header_obj = Object::new(
        1,
        0x0002_0001,
        vec![
            (FILE_IDENTITY, entity(0x11)),
            (FILE_ANCESTOR, entity(0x12)),
            (FILE_NAME_CRC, U32(0x1234_5678)),
        ],
    );
    let root_objects = vec![
        Object::new(
            10,
            SECTION_NODE,
            vec![
                (ENTITY_GUID, entity(0x21)),
                (ELEMENT_CHILD_NODES, Objects(vec![12])),
                (CREATION_TIMESTAMP64, U64(1)),
            ],
        ),
        Object::new(
            11,
            SECTION_METADATA,
            vec![
                (SCHEMA_READ, U32(0x1b)),
                (SCHEMA_WRITE, U32(0x1b)),
                (SECTION_NAME, Bytes(utf16("nod32"))),
            ],
        ),
        Object::new(
            12,
            PAGE_SERIES,
            vec![
                (ENTITY_GUID, entity(0x22)),
                (CHILD_SPACES, Spaces(vec![page.clone()])),
            ],
        ),
    ];
    let first_file = 30;
    let mut page_objects = vec![
        Object::new(
            20,
            PAGE_MANIFEST,
            vec![(CONTENT_CHILD_NODES, Objects(vec![22]))],
        ),
        Object::new(
            21,
            PAGE_METADATA,
            vec![
                (ENTITY_GUID, entity(0x23)),
                (CACHED_TITLE, Bytes(utf16("page"))),
                (CREATION_TIMESTAMP64, U64(1)),
            ],
        ),
        Object::new(
            22,
            PAGE_NODE,
            vec![(ELEMENT_CHILD_NODES, Objects(vec![23]))],
        ),
        Object::new(
            23,
            OUTLINE,
            vec![
                (LAST_MODIFIED, U32(1)),
                (ELEMENT_CHILD_NODES, Objects(vec![24])),
                (CHILD_LEVEL, U8(1)),
                (INDENTS, Bytes(vec![0; 4])),
            ],
        ),
        Object::new(
            24,
            OUTLINE_ELEMENT,
            vec![
                (CREATION_TIME32, U32(1)),
                (LAST_MODIFIED, U32(1)),
                (CHILD_LEVEL, U8(1)),
                (
                    CONTENT_CHILD_NODES,
                    Objects(
                        (0..files.len() as u32)
                            .map(|i| first_file + 2 * i)
                            .collect(),
                    ),
                ),
                // Authors are references only; nothing reads them.
                (AUTHOR_ORIGINAL, Objects(vec![99])),
                (AUTHOR_RECENT, Objects(vec![99])),
            ],
        ),
    ];
    let mut blobs = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let n = first_file + 2 * i as u32;
        page_objects.push(Object::new(
            n,
            EMBEDDED_FILE_NODE,
            vec![
                (LAST_MODIFIED, U32(1)),
                (FILE_CONTAINER, Objects(vec![n + 1])),
                (FILE_NAME, Bytes(utf16(f.name))),
            ],
        ));
        let blob_id = 0x50 + i as u8;
        let mut container = Object::new(n + 1, EMBEDDED_FILE, vec![]);
        container.blob = Some(blob_id);
        page_objects.push(container);
        blobs.push(blob(blob_id, f.data));
    }
    for (id, d) in extra_blobs {
        blobs.push(blob(*id, d));
    }
    page_objects.extend(extra);
    let header_root = guid("1A5A319C-C26B-41AA-B9C5-9BD8C44E07D4");
    let data_root = guid("84DEFAB9-AAA3-4A0D-A3A8-520C77AC7073");
    let schema = guid("1F937CB4-B26F-445F-B9F8-17E20160E461");
    let mut manifest = start(0x0c, false, &schema);
    manifest.extend(start(
        0x07,
        false,
        &cat(&[exguid_of(header_root, 1), header.clone()]),
    ));
    manifest.extend(start(
        0x07,
        false,
        &cat(&[exguid_of(data_root, 2), root.clone()]),
    ));
    let mut e = vec![
        storage_index_of(
            0x60,
            0x61,
            &[(header, 0x62), (root, 0x64), (page, 0x66)],
            &[0x63, 0x65, 0x67],
        ),
        element(0x61, 0x02, &manifest),
        cell_manifest(0x62, 0x63),
        cell_manifest(0x64, 0x65),
        cell_manifest(0x66, 0x67),
        object_group(0x30, &[header_obj]),
        revision_of(0x63, &[], &[0x30]),
        object_group(0x31, &root_objects),
        revision_of(0x65, &[(1, 10), (2, 11)], &[0x31]),
    ];
    e.extend(blobs);
    e.extend([
        object_group(0x32, &page_objects),
        revision_of(0x67, &[(1, 20), (2, 21)], &[0x32]),
    ]);
    section(&e)
}
