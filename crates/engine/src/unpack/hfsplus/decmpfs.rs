//! Files compressed by the file system (`ditto --hfsCompression`, the
//! system's own files): a `com.apple.decmpfs` attribute holds a header
//! (`cmpf`, the method, the length) and, for method 3, the zlib stream
//! or the stored bytes themselves; for method 4 the resource fork holds
//! a `cmpf` resource: a table of blocks, each a zlib stream or stored
//! bytes behind a 0xff mark, each giving 64 KiB of the file. ClamAV 1.4
//! reads these two methods; LZVN and LZFSE (7, 8, 11, 12) are left, the
//! resource fork then scanned as it is.

use std::collections::HashMap;
use std::io::Read;

use super::{DAMAGED, Fork, RESOURCE, Volume, be16, be32};
use crate::unpack::Unpacked;
use crate::verdict::Reason;

const NAME: &str = "com.apple.decmpfs";

/// The attribute record type that holds its data inline.
const INLINE: u32 = 0x10;

/// What one block of the resource's table gives at most.
const BLOCK: u64 = 64 * 1024;

/// Each file's decmpfs attribute, by file: the attributes tree's inline
/// records of that name (key: length, pad, file, first block, name
/// length, name; then type, two reserved words, length, data).
pub(super) fn attributes(
    v: &Volume<'_>,
    tree: &super::Tree,
) -> HashMap<u32, Vec<u8>> {
    let name: Vec<u8> =
        NAME.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
    let mut found = HashMap::new();
    tree.leaves(v, |r| {
        let units = usize::from(be16(r, 12));
        let at = 14 + 2 * units;
        if r.get(14..at) == Some(&name[..]) && be32(r, at) == INLINE {
            let len = be32(r, at + 12) as usize;
            if let Some(d) = r.get(at + 16..).and_then(|d| d.get(..len)) {
                found.insert(be32(r, 4), d.to_vec());
            }
        }
        true
    });
    found
}

/// The content of file `id`, compressed as its attribute `attr` says,
/// as far as it could be decompressed; None when the method is not one
/// read here or the attribute is no decmpfs header.
pub(super) fn content(
    v: &Volume<'_>,
    attr: &[u8],
    id: u32,
    rsrc: &Fork,
    out: &mut Unpacked<'_>,
) -> Option<Vec<u8>> {
    let head = attr.get(..16)?;
    // Apple writes the header little-endian; ClamAV takes it either way.
    let (method, size) = match &head[..4] {
        b"fpmc" => (
            u32::from_le_bytes(head[4..8].try_into().ok()?),
            u64::from_le_bytes(head[8..16].try_into().ok()?),
        ),
        b"cmpf" => (be32(head, 4), super::be64(head, 8)),
        _ => {
            out.skip(DAMAGED);
            return None;
        }
    };
    if method != 3 && method != 4 {
        return None;
    }
    let b = out.sink.budget();
    if size > b.max_file {
        out.skip(Reason::FileSizeLimit);
        return None;
    }
    if size > b.bytes_left {
        out.skip(Reason::ScanSizeLimit);
        return None;
    }
    let mut file = Vec::new();
    let whole = if method == 3 {
        unpack(&attr[16..], size, &mut file)
    } else {
        let fork = v.fork(rsrc, id, RESOURCE, out)?;
        resource(&fork, size, &mut file)
    };
    if !whole || (file.len() as u64) < size {
        out.skip(DAMAGED);
    }
    Some(file)
}

/// One compressed piece into `file`, up to `size` in all: a zlib stream,
/// or stored bytes behind a mark whose low nibble is 0xf. False when
/// the stream is damaged.
fn unpack(piece: &[u8], size: u64, file: &mut Vec<u8>) -> bool {
    let Some(&mark) = piece.first() else { return false };
    let room = size.saturating_sub(file.len() as u64);
    if mark & 0x0f == 0x0f {
        let stored = &piece[1..];
        file.extend_from_slice(&stored[..stored.len().min(room as usize)]);
        return true;
    }
    let mut z = flate2::read::ZlibDecoder::new(piece).take(room);
    z.read_to_end(file).is_ok()
}

/// The blocks of the `cmpf` resource of a resource fork into `file`.
fn resource(fork: &[u8], size: u64, file: &mut Vec<u8>) -> bool {
    let Some(data) = cmpf(fork) else { return false };
    let count = u32::from_le_bytes(match data.get(..4) {
        Some(b) => [b[0], b[1], b[2], b[3]],
        None => return false,
    }) as usize;
    // A table longer than the resource is damage, not a reason to loop.
    if count > data.len() / 8 {
        return false;
    }
    let le = |at: usize| {
        data.get(at..at + 4)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    for i in 0..count {
        if file.len() as u64 >= size {
            break;
        }
        let (at, len) = (le(4 + 8 * i) as usize, le(8 + 8 * i) as usize);
        let Some(piece) = at.checked_add(len).and_then(|e| data.get(at..e))
        else {
            return false;
        };
        let before = file.len() as u64;
        let cap = size.min(before + BLOCK);
        if !unpack(piece, cap, file) {
            return false;
        }
    }
    true
}

/// The data of the first `cmpf` resource of a resource fork (its header:
/// data and map offsets; the map's type list and reference lists).
fn cmpf(fork: &[u8]) -> Option<&[u8]> {
    let data_at = be32(fork, 0) as usize;
    let map = fork.get(be32(fork, 4) as usize..)?;
    let types = map.get(usize::from(be16(map, 24))..)?;
    let count = usize::from(be16(types, 0)).checked_add(1)?;
    let t = (0..count)
        .find(|i| types.get(2 + 8 * i..6 + 8 * i) == Some(b"cmpf"))?;
    let refs = types.get(usize::from(be16(types, 8 + 8 * t))..)?;
    // A reference: ID, name offset, attributes, then the 24-bit offset
    // of the resource's length and bytes in the data.
    let off = (be32(refs, 4) & 0x00ff_ffff) as usize;
    let at = data_at.checked_add(off)?;
    let len = be32(fork, at) as usize;
    fork.get(at.checked_add(4)?..)?.get(..len)
}
