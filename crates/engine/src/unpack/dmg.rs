//! Apple disk images (`.dmg`, UDIF), read as ClamAV reads them: the
//! `koly` trailer in the last 512 bytes places an XML property list,
//! which is itself scanned; each `mish` block of its `resource-fork` /
//! `blkx` entries lists the stripes of one partition (zeros, stored,
//! ADC, zlib or bzip2), which are put together in sector order and
//! scanned as that partition (an HFS+ volume in one is then read by
//! `hfsplus`, a FAT volume by `fat.rs`, anything else as data). A mish
//! whose stripes point past the property list, or whose partition is
//! over the size limit, ends the walk, as in ClamAV.

use std::io::Read;

use super::xml::{Event, Reader};
use super::{Sink, Unpacked};
use crate::filetype::is_dmg;
use crate::mime::base64_decode;
use crate::verdict::Reason;

const DAMAGED: Reason = Reason::Malformed { format: "DMG" };

const SECTOR: u64 = 512;

/// The mish header before its stripe records, and one record.
const MISH: usize = 204;
const STRIPE: usize = 40;

/// Mish blocks read at most.
const MAX_MISH: usize = 1000;

fn be32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

fn be64(d: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(d[at..at + 8].try_into().unwrap_or_default())
}

pub(crate) fn dmg<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    if !is_dmg(data) {
        return out;
    }
    let koly = &data[data.len() - 512..];
    let (xml_at, xml_len) = (be64(koly, 0xd8), be64(koly, 0xe0));
    let len = data.len() as u64;
    if xml_len == 0 || xml_at > len || xml_len > len - xml_at {
        out.skip(DAMAGED);
        return out;
    }
    let plist = &data[xml_at as usize..(xml_at + xml_len) as usize];
    out.push("toc.xml".into(), plist.to_vec());
    for (n, mish) in mish_blocks(plist).into_iter().enumerate() {
        if out.done() || !partition(data, xml_at, &mish, n, &mut out) {
            return out;
        }
    }
    out
}

/// The decoded `Data` of each dictionary in the `blkx` list of the
/// `resource-fork` dictionary, when it is a mish block holding as many
/// stripe records as it says.
fn mish_blocks(plist: &[u8]) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    // Where the walk is: the key just read, and the depths at which the
    // resource fork's and the blkx list's elements were opened.
    let mut depth = 0usize;
    let mut key: Option<&[u8]> = None;
    let mut in_key = false;
    let mut fork: Option<usize> = None;
    let mut blkx: Option<usize> = None;
    let mut in_data = false;
    let mut text = Vec::new();
    for ev in Reader::new(plist) {
        match ev {
            Event::Start { name, .. } => {
                depth += 1;
                in_key = name == b"key";
                if in_key {
                    continue;
                }
                match (key.take(), fork, blkx) {
                    (Some(b"resource-fork"), None, _) if name == b"dict" => {
                        fork = Some(depth)
                    }
                    (Some(b"blkx"), Some(_), None)
                        if name == b"array" || name == b"dict" =>
                    {
                        blkx = Some(depth)
                    }
                    (Some(b"Data"), Some(_), Some(_)) if name == b"data" => {
                        in_data = true;
                        text.clear();
                    }
                    _ => {}
                }
            }
            Event::Text(t) => {
                if in_key {
                    key = Some(t.trim_ascii());
                } else if in_data {
                    text.extend_from_slice(t);
                }
            }
            Event::End { name } => {
                if in_data && name == b"data" {
                    in_data = false;
                    let mish = base64_decode(&text);
                    if mish.len() >= MISH
                        && mish.starts_with(b"mish")
                        && (mish.len() - MISH) / STRIPE
                            >= be32(&mish, 200) as usize
                    {
                        found.push(mish);
                        if found.len() >= MAX_MISH {
                            break;
                        }
                    }
                }
                in_key = false;
                if blkx == Some(depth) {
                    blkx = None;
                } else if fork == Some(depth) {
                    fork = None;
                }
                depth = depth.saturating_sub(1);
            }
        }
    }
    found
}

/// One stripe record.
struct Stripe {
    kind: u32,
    start: u64,
    count: u64,
    offset: u64,
    length: u64,
}

/// Puts one mish's partition together and scans it; false when the walk
/// ends here.
fn partition(
    data: &[u8],
    xml_at: u64,
    mish: &[u8],
    n: usize,
    out: &mut Unpacked<'_>,
) -> bool {
    let count = be32(mish, 200) as usize;
    let mut stripes: Vec<Stripe> = mish[MISH..]
        .chunks_exact(STRIPE)
        .take(count)
        .map(|s| Stripe {
            kind: be32(s, 0),
            start: be64(s, 8),
            count: be64(s, 16),
            offset: be64(s, 24),
            length: be64(s, 32),
        })
        .collect();
    let mut total = 0u64;
    let mut has_data = false;
    for s in &stripes {
        // Stripes hold data before the property list.
        if s.offset > xml_at || s.length > xml_at - s.offset {
            out.skip(DAMAGED);
            return false;
        }
        match s.kind {
            1 | 0x8000_0004..=0x8000_0006 => has_data = true,
            0 | 2 => {}
            _ => continue,
        }
        let Some(t) = total.checked_add(s.count) else {
            out.skip(DAMAGED);
            return false;
        };
        total = t;
    }
    if !has_data || total == 0 {
        return true;
    }
    // Checked before a byte is written: the sectors the partition claims.
    if !out.room(total.saturating_mul(SECTOR)) {
        return false;
    }
    let max = out.sink.budget().max_file;
    stripes.sort_by_key(|s| s.start);
    let mut image = Vec::new();
    for s in &stripes {
        // Only the kinds written have their sectors counted in `total`.
        let want = s.count.saturating_mul(SECTOR);
        let src = &data[s.offset as usize..(s.offset + s.length) as usize];
        // A stored stripe copies its bytes whatever sectors it claims:
        // many pointing at one large extent must not add up past the
        // limit.
        if s.kind == 1 && (image.len() + src.len()) as u64 > max {
            out.skip(Reason::FileSizeLimit);
            return false;
        }
        let ok = match s.kind {
            0 | 2 => {
                image.resize(image.len() + want as usize, 0);
                true
            }
            1 => {
                image.extend_from_slice(src);
                true
            }
            0x8000_0004 => adc(src, want, &mut image),
            0x8000_0005 => {
                src.is_empty()
                    || bounded(
                        flate2::read::ZlibDecoder::new(src),
                        want,
                        &mut image,
                    )
            }
            0x8000_0006 => {
                bounded(bzip2::read::BzDecoder::new(src), want, &mut image)
            }
            _ => true,
        };
        if !ok {
            // ClamAV scans no partition one of whose stripes failed.
            out.skip(DAMAGED);
            return false;
        }
    }
    out.push_partition(format!("partition {n}"), image);
    true
}

/// Decodes a stripe into `out`: false when it does not decode or holds
/// more than its sectors.
fn bounded(r: impl Read, want: u64, out: &mut Vec<u8>) -> bool {
    let before = out.len();
    match r.take(want + 1).read_to_end(out) {
        Ok(_) => (out.len() - before) as u64 <= want,
        Err(_) => false,
    }
}

/// Apple Data Compression: runs of literals and copies from up to 64 KiB
/// back, until the input or the stripe's sectors run out.
fn adc(src: &[u8], want: u64, out: &mut Vec<u8>) -> bool {
    let base = out.len();
    let mut i = 0;
    while i < src.len() {
        let b = src[i];
        let (len, back, used) = if b & 0x80 != 0 {
            let n = usize::from(b & 0x7f) + 1;
            let Some(lit) = src.get(i + 1..i + 1 + n) else { return false };
            out.extend_from_slice(lit);
            i += 1 + n;
            if (out.len() - base) as u64 > want {
                return false;
            }
            continue;
        } else if b & 0x40 != 0 {
            let Some(o) = src.get(i + 1..i + 3) else { return false };
            (
                usize::from(b & 0x3f) + 4,
                usize::from(u16::from_be_bytes([o[0], o[1]])) + 1,
                3,
            )
        } else {
            let Some(&o) = src.get(i + 1) else { return false };
            (
                usize::from((b >> 2) & 0x0f) + 3,
                (usize::from(b & 3) << 8 | usize::from(o)) + 1,
                2,
            )
        };
        if back > out.len() - base || (out.len() - base + len) as u64 > want {
            return false;
        }
        // Copies may overlap what they write: byte by byte.
        for _ in 0..len {
            out.push(out[out.len() - back]);
        }
        i += used;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unpack::tests::{budget, collect};

    /// An image of `fork` whose one mish lists `stripes` (kind, start,
    /// count, offset, length).
    fn image(fork: &[u8], stripes: &[(u32, u64, u64, u64, u64)]) -> Vec<u8> {
        let mut mish = b"mish".to_vec();
        mish.resize(200, 0);
        mish.extend_from_slice(&(stripes.len() as u32).to_be_bytes());
        for &(kind, start, count, offset, length) in stripes {
            mish.extend_from_slice(&kind.to_be_bytes());
            mish.extend_from_slice(&[0; 4]);
            for v in [start, count, offset, length] {
                mish.extend_from_slice(&v.to_be_bytes());
            }
        }
        let plist = format!(
            "<plist><dict><key>resource-fork</key><dict><key>blkx</key>\
<array><dict><key>Data</key><data>{}</data></dict></array></dict></dict></plist>",
            crate::mime::base64_encode(&mish, None)
        );
        let mut koly = vec![0u8; 512];
        koly[..4].copy_from_slice(b"koly");
        koly[0xd8..0xe0].copy_from_slice(&(fork.len() as u64).to_be_bytes());
        koly[0xe0..0xe8].copy_from_slice(&(plist.len() as u64).to_be_bytes());
        [fork, plist.as_bytes(), &koly].concat()
    }

    #[test]
    fn stripes_are_put_in_sector_order() {
        let fork = [vec![b'b'; 512], vec![b'a'; 512]].concat();
        let img = image(
            &fork,
            &[(1, 1, 1, 0, 512), (2, 2, 1, 0, 0), (1, 0, 1, 512, 512)],
        );
        let mut sink = collect(budget());
        assert_eq!(dmg(&img, &mut sink).skipped, None);
        assert_eq!(sink.children.len(), 2);
        let part = &sink.children[1].1;
        assert_eq!(
            part,
            &[vec![b'a'; 512], vec![b'b'; 512], vec![0; 512]].concat()
        );
    }

    #[test]
    fn stripes_past_the_list_and_huge_partitions_end_the_walk() {
        let img = image(&[1; 512], &[(1, 0, 1, 400, 512)]);
        let mut sink = collect(budget());
        assert_eq!(dmg(&img, &mut sink).skipped, Some(DAMAGED));
        assert_eq!(sink.children.len(), 1, "the property list alone");
        // A billion zero sectors claimed: over MaxFileSize before any
        // byte is written.
        let img =
            image(&[1; 512], &[(1, 0, 1, 0, 512), (2, 1, 1 << 30, 0, 0)]);
        let mut sink = collect(budget());
        assert_eq!(dmg(&img, &mut sink).skipped, Some(Reason::FileSizeLimit));
    }

    #[test]
    fn adc_literals_and_overlapping_copies() {
        let mut out = Vec::new();
        // "abc", then 6 bytes from 3 back (two-byte form), then 4 from 1
        // back (three-byte form).
        let src = [0x82, b'a', b'b', b'c', (3 << 2), 2, 0x40, 0, 0];
        assert!(adc(&src, 100, &mut out));
        assert_eq!(out, b"abcabcabccccc");
        assert!(
            !adc(&[0x00, 5], 100, &mut Vec::new()),
            "a copy before the start"
        );
        assert!(!adc(&src, 8, &mut Vec::new()), "more than the sectors");
    }
}
