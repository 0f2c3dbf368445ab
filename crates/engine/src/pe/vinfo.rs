//! The version information of a PE (its `RT_VERSION` resources), for
//! `VI` offsets: a `VI` pattern matches only where one of the strings of
//! a `StringFileInfo` table starts (the key, in UTF-16), as ClamAV lists
//! those places.
//!
//! The walk follows ClamAV's reading rather than the loader's, because
//! that is what decides whether a signature matches: addresses map to the
//! file through sections aligned the way ClamAV aligns them, at most 16
//! version resources are read, one `VS_VERSION_INFO` each, one
//! `StringFileInfo` (a `VarFileInfo` before it is passed over), and a
//! string whose value is empty is not listed.

use goblin::pe::optional_header::OptionalHeader;
use goblin::pe::section_table::SectionTable;

/// A section as addresses map through it.
struct Mapped {
    rva: u64,
    raw: u64,
    size: u64,
}

/// Where relative virtual addresses lie in the file.
pub(super) struct AddressMap {
    sections: Vec<Mapped>,
    headers: u64,
    len: u64,
}

/// Rounds down to a multiple of `a` (none when `a` is 0).
fn align_down(v: u64, a: u64) -> u64 {
    v.checked_div(a).map_or(v, |q| q * a)
}

/// Rounds up to a multiple of `a` (none when `a` is 0).
fn align_up(v: u64, a: u64) -> u64 {
    if a == 0 { v } else { v.div_ceil(a) * a }
}

impl AddressMap {
    pub(super) fn new(
        len: usize,
        table: &[SectionTable],
        opt: &OptionalHeader,
    ) -> Self {
        let len = len as u64;
        let salign = u64::from(opt.windows_fields.section_alignment);
        let mut falign = u64::from(opt.windows_fields.file_alignment);
        // A section placed on a 512-byte boundary that the declared
        // alignment would move puts the whole file on 512-byte alignment.
        if falign != 0x200
            && table.iter().any(|s| {
                let raw = u64::from(s.pointer_to_raw_data);
                s.size_of_raw_data != 0
                    && falign != 0
                    && raw % falign != 0
                    && raw % 0x200 == 0
            })
        {
            falign = 0x200;
        }
        let sections = table
            .iter()
            .map(|s| {
                let uraw = u64::from(s.pointer_to_raw_data);
                let raw = align_down(uraw, falign);
                let mut size = align_up(u64::from(s.size_of_raw_data), falign);
                if size != 0 {
                    if raw >= len || uraw >= len {
                        size = 0;
                    } else if raw + size > len {
                        size = len - raw;
                    }
                }
                Mapped {
                    rva: align_down(u64::from(s.virtual_address), salign),
                    raw,
                    size,
                }
            })
            .collect();
        AddressMap {
            sections,
            headers: align_up(
                u64::from(opt.windows_fields.size_of_headers),
                salign,
            ),
            len,
        }
    }

    /// The file offset of `rva`: in the headers, or in the last section
    /// that holds it.
    pub(super) fn offset(&self, rva: u64) -> Option<u64> {
        if rva < self.headers {
            return (rva < self.len).then_some(rva);
        }
        self.sections
            .iter()
            .rev()
            .find(|s| s.size != 0 && s.rva <= rva && s.size > rva - s.rva)
            .map(|s| rva - s.rva + s.raw)
    }
}

pub(super) fn u16_at(d: &[u8], at: u64) -> Option<u32> {
    let at = usize::try_from(at).ok()?;
    Some(
        u16::from_le_bytes(d.get(at..at.checked_add(2)?)?.try_into().ok()?)
            .into(),
    )
}

pub(super) fn u32_at(d: &[u8], at: u64) -> Option<u32> {
    let at = usize::try_from(at).ok()?;
    Some(u32::from_le_bytes(d.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// The resource type of version information.
const RT_VERSION: u32 = 0x10;
/// ClamAV reads no more version resources than this.
const MAX_RESOURCES: usize = 16;

/// The addresses of the data entries of every `RT_VERSION` resource
/// (any name, any language), from the first directory entry of that type.
/// Addresses are 32-bit and wrap, as ClamAV adds them.
fn version_resources(data: &[u8], map: &AddressMap, root: u32) -> Vec<u64> {
    let mut out = Vec::new();
    let Some(dir) = map.offset(root.into()) else { return out };
    if dir + 16 > map.len {
        return out;
    }
    let (Some(named), Some(ids)) =
        (u16_at(data, dir + 12), u16_at(data, dir + 14))
    else {
        return out;
    };
    // Types are looked up by number: named entries come first.
    let mut entry = dir + 16 + 8 * u64::from(named);
    for _ in 0..ids {
        let (Some(ty), Some(to)) =
            (u32_at(data, entry), u32_at(data, entry + 4))
        else {
            return out;
        };
        if ty == RT_VERSION && to >> 31 == 1 {
            let Some((names, _)) = subdirectory(data, map, root, to) else {
                return out;
            };
            for to in names {
                if to >> 31 == 0 {
                    continue;
                }
                let Some((langs, whole)) = subdirectory(data, map, root, to)
                else {
                    return out;
                };
                for to in langs {
                    if to >> 31 == 0 {
                        out.push(root.wrapping_add(to).into());
                        if out.len() == MAX_RESOURCES {
                            return out;
                        }
                    }
                }
                if !whole {
                    return out;
                }
            }
            // Only the first entry of the type is read.
            return out;
        }
        entry += 8;
    }
    out
}

/// The offsets of the entries (named and numbered alike; the count is
/// 16 bits, as ClamAV adds it) of the directory `to` points at, and
/// whether all of them could be read: reading stops at the first that
/// cannot, and so does the whole walk.
fn subdirectory(
    data: &[u8],
    map: &AddressMap,
    root: u32,
    to: u32,
) -> Option<(Vec<u32>, bool)> {
    let dir = map.offset(root.wrapping_add(to & 0x7fff_ffff).into())?;
    if dir + 16 > map.len {
        return None;
    }
    let count = (u16_at(data, dir + 12)? + u16_at(data, dir + 14)?) & 0xffff;
    let mut out = Vec::new();
    for i in 0..u64::from(count) {
        match u32_at(data, dir + 16 + 8 * i + 4) {
            Some(to) => out.push(to),
            None => return Some((out, false)),
        }
    }
    Some((out, true))
}

/// UTF-16 keys, with their terminating NUL.
const VS_VERSION_INFO: &[u8] =
    b"V\0S\0_\0V\0E\0R\0S\0I\0O\0N\0_\0I\0N\0F\0O\0\0\0";
const VAR_FILE_INFO: &[u8] = b"V\0a\0r\0F\0i\0l\0e\0I\0n\0f\0o\0\0\0";
const STRING_FILE_INFO: &[u8] =
    b"S\0t\0r\0i\0n\0g\0F\0i\0l\0e\0I\0n\0f\0o\0\0\0";
/// A `VS_FIXEDFILEINFO`'s signature and size.
const FIXED_MAGIC: u32 = 0xfeef_04bd;
const FIXED_SIZE: u32 = 0x34;
/// Header (length, value length, type) of every block.
const HEAD: u32 = 6;

fn key_is(data: &[u8], at: u64, key: &[u8]) -> bool {
    usize::try_from(at + u64::from(HEAD))
        .ok()
        .is_some_and(|k| data.get(k..k + key.len()) == Some(key))
}

/// The file offsets of the string keys of one version resource whose data
/// entry is at `entry`.
fn strings(data: &[u8], map: &AddressMap, entry: u64, out: &mut Vec<u64>) {
    let Some(entry) = map.offset(entry) else { return };
    if entry + 16 > map.len {
        return;
    }
    let (Some(rva), Some(size)) =
        (u32_at(data, entry), u32_at(data, entry + 4))
    else {
        return;
    };
    let Some(mut at) = map.offset(u64::from(rva)) else { return };
    if at + u64::from(size) > map.len || size <= 4 {
        return;
    }
    let Some(word) = u32_at(data, at) else { return };
    let mut left = word & 0xffff;
    let top = HEAD + VS_VERSION_INFO.len() as u32 + 2 + FIXED_SIZE;
    if left > size
        || left <= top
        || word >> 16 != FIXED_SIZE
        || !key_is(data, at, VS_VERSION_INFO)
        || u32_at(data, at + 0x28) != Some(FIXED_MAGIC)
    {
        return;
    }
    at += u64::from(top);
    left -= top;
    let mut var_seen = false;
    while left > HEAD {
        let Some(block) = u32_at(data, at).map(|w| w & 0xffff) else { return };
        if block > left {
            return;
        }
        if !var_seen
            && block > HEAD + VAR_FILE_INFO.len() as u32
            && key_is(data, at, VAR_FILE_INFO)
        {
            // A VarFileInfo may come before the strings.
            at += u64::from(block);
            left -= block;
            var_seen = true;
            continue;
        }
        let skip = HEAD + STRING_FILE_INFO.len() as u32;
        if block <= skip || !key_is(data, at, STRING_FILE_INFO) {
            return;
        }
        tables(data, at + u64::from(skip), block - skip, out);
        return;
    }
}

/// The string tables of a `StringFileInfo` block.
fn tables(data: &[u8], mut at: u64, mut left: u32, out: &mut Vec<u64>) {
    /// Header, 8-character language key and padding.
    const TABLE_HEAD: u32 = 24;
    while left > HEAD {
        let Some(table) = u32_at(data, at).map(|w| w & 0xffff) else { return };
        if table > left || table <= TABLE_HEAD {
            return;
        }
        let (next, next_left) = (at + u64::from(table), left - table);
        let mut s_at = at + u64::from(TABLE_HEAD);
        let mut s_left = table - TABLE_HEAD;
        while s_left > HEAD {
            let Some(len) = u32_at(data, s_at).map(|w| w & 0xffff) else {
                return;
            };
            let len = (len + 3) & !3;
            // Room for a header, a one-character key and a value.
            if len > s_left || len <= HEAD + 2 + 8 {
                return;
            }
            // The key runs to its NUL character.
            let mut key = HEAD;
            while key + 1 < len {
                match (
                    u8_at(data, s_at + u64::from(key)),
                    u8_at(data, s_at + u64::from(key) + 1),
                ) {
                    (Some(0), Some(0)) => {
                        key += 2;
                        break;
                    }
                    (Some(_), Some(_)) => key += 2,
                    _ => return,
                }
            }
            let key = (key + 3) & !3;
            // A string whose value is empty (or missing) is not listed.
            if key < len && len - key > 2 {
                out.push(s_at + u64::from(HEAD));
            }
            s_at += u64::from(len);
            s_left -= len;
        }
        at = next;
        left = next_left;
    }
}

fn u8_at(d: &[u8], at: u64) -> Option<u8> {
    d.get(usize::try_from(at).ok()?).copied()
}

/// Where the version strings of a PE start, sorted, without repeats.
pub(super) fn offsets(
    data: &[u8],
    table: &[SectionTable],
    opt: &OptionalHeader,
) -> Vec<u64> {
    let Some(res) = opt.data_directories.get_resource_table() else {
        return Vec::new();
    };
    if res.size == 0 {
        return Vec::new();
    }
    let map = AddressMap::new(data.len(), table, opt);
    let root = res.virtual_address;
    let mut out = Vec::new();
    for entry in version_resources(data, &map, root) {
        strings(data, &map, entry, &mut out);
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use crate::pe::{Pe, parse, tests::tiny_pe};

    fn utf16z(s: &str) -> Vec<u8> {
        s.encode_utf16().chain([0]).flat_map(u16::to_le_bytes).collect()
    }

    fn pad4(v: &mut Vec<u8>) {
        while !v.len().is_multiple_of(4) {
            v.push(0);
        }
    }

    /// A version block: length, value length, type, key, value, children.
    fn block(
        key: &str,
        value: &[u8],
        value_len: u16,
        children: &[u8],
    ) -> Vec<u8> {
        let mut b = vec![0; 6];
        b.extend(utf16z(key));
        pad4(&mut b);
        b.extend(value);
        if !children.is_empty() {
            pad4(&mut b);
            b.extend(children);
        }
        let len = b.len() as u16;
        b[..2].copy_from_slice(&len.to_le_bytes());
        b[2..4].copy_from_slice(&value_len.to_le_bytes());
        b
    }

    /// tiny_pe with a resource directory in its .data section (RVA 0x2000
    /// at file offset 0x400) holding one version resource with `strings`.
    fn with_version(strings: &[Vec<u8>]) -> (Vec<u8>, usize) {
        let mut pe = tiny_pe();
        let mut table = Vec::new();
        for s in strings {
            table.extend(s);
            pad4(&mut table);
        }
        let table = block("040904B0", &[], 0, &table);
        let sfi = block("StringFileInfo", &[], 0, &table);
        let mut fixed = 0xfeef_04bdu32.to_le_bytes().to_vec();
        fixed.resize(0x34, 0);
        let vi = block("VS_VERSION_INFO", &fixed, 0x34, &sfi);
        let mut res = vec![0u8; 0x58];
        let le = |r: &mut Vec<u8>, at: usize, v: u32| {
            r[at..at + 4].copy_from_slice(&v.to_le_bytes())
        };
        // Type, name and language directories, one numbered entry each.
        for (dir, id, to) in [
            (0, 0x10, 0x8000_0018),
            (0x18, 1, 0x8000_0030),
            (0x30, 0x409, 0x48),
        ] {
            res[dir + 14] = 1;
            le(&mut res, dir + 16, id);
            le(&mut res, dir + 20, to);
        }
        le(&mut res, 0x48, 0x2058);
        le(&mut res, 0x4c, vi.len() as u32);
        res.extend(&vi);
        assert!(res.len() <= 0x200);
        pe[0x400..0x400 + res.len()].copy_from_slice(&res);
        // Data directory 2 (resources) in the optional header.
        let dirs = 0x98 + 96;
        pe[dirs + 16..dirs + 20].copy_from_slice(&0x2000u32.to_le_bytes());
        pe[dirs + 20..dirs + 24]
            .copy_from_slice(&(res.len() as u32).to_le_bytes());
        // Where the first string starts in the file.
        let first = 0x400 + 0x58 + 92 + 36 + 24;
        (pe, first)
    }

    fn offsets(pe: &[u8]) -> Vec<u64> {
        match parse(pe) {
            Pe::Valid(info) => info.vinfo,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn strings_of_the_version_information() {
        let s1 = block("Co", &utf16z("ab"), 3, &[]);
        let s2 = block("Name", &utf16z("v"), 2, &[]);
        let (pe, first) = with_version(&[s1.clone(), s2.clone()]);
        let second = first + s1.len().next_multiple_of(4);
        assert_eq!(offsets(&pe), [first as u64 + 6, second as u64 + 6]);

        // A string with an empty value is not listed; one too short to
        // hold a key and a value ends the walk.
        let empty = block("Empty", &[], 0, &[]);
        let short = block("K", &[], 0, &[]);
        let (pe, first) =
            with_version(&[empty.clone(), s1.clone(), short, s2]);
        let s1_at = first + empty.len().next_multiple_of(4);
        assert_eq!(offsets(&pe), [s1_at as u64 + 6]);

        // No resource directory: nothing.
        assert!(offsets(&tiny_pe()).is_empty());
        // A damaged key: nothing.
        let (mut pe, _) = with_version(&[block("Co", &utf16z("ab"), 3, &[])]);
        pe[0x400 + 0x58 + 6] = b'X';
        assert!(offsets(&pe).is_empty());
    }

    #[test]
    fn damaged_resources_never_panic() {
        let s1 = block("Co", &utf16z("ab"), 3, &[]);
        let (pe, _) = with_version(&[s1.clone(), s1]);
        // A small generator: every byte of the resource area and the
        // headers set to values that break sizes and addresses.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            let mut m = pe.clone();
            for _ in 0..4 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let at = if x & 1 == 0 {
                    0x400 + (x >> 8) as usize % 0x200
                } else {
                    0x80 + (x >> 8) as usize % 0x180
                };
                m[at] = [0, 0xff, 0x7f, 0x80, (x >> 32) as u8]
                    [(x >> 40) as usize % 5];
            }
            // Not through `parse`, which would contain a panic.
            let _ = crate::pe::headers(&m);
        }
    }
}
