//! EGG archives (ESTsoft's successor to ALZ): an archive header, then
//! file headers, each with its extra fields (name, Windows or POSIX
//! information, encryption) and followed by its blocks of stored,
//! deflated or bzip2'd data, then archive comments; every header ends
//! with the same end mark.
//!
//! Read as ClamAV reads them. It indexes the whole archive before it
//! extracts anything, and where the index fails (a header cut short, a
//! record it does not know at the top level, a block without its end
//! mark) nothing is extracted at all; so the walk here goes over the
//! bytes once to see whether they open, then again to extract, keeping
//! no index. Archive comments are scanned before the members. Solid
//! archives are described but not extracted, AZO and LZMA blocks not
//! decoded, and encrypted members passed over (with
//! `Heuristics.Encrypted.EGG` when that alert is on, which also ends the
//! walk there, as in ClamAV). A member's size is the sum of its blocks'
//! declared sizes and is checked against the limits before any block
//! is decoded, so a 4 GB claim costs nothing.
//!
//! The offsets follow ClamAV's, quirks included, since they decide what
//! it reads next: a name field's locale and parent-id words are counted
//! twice, an encryption field's size covers its own header, and a
//! Windows or POSIX field is read at its fixed size whatever its size
//! field says, then passed over by that size.

use super::{Member, Sink, Unpacked};
use crate::heur::Heur;
use crate::verdict::Reason;

const ARCHIVE: u32 = 0x4147_4745;
const END: u32 = 0x08E2_8222;
const FILE: u32 = 0x0A85_90E3;
const BLOCK: u32 = 0x02B5_0C13;
const ENCRYPT: u32 = 0x08D1_470F;
const WINDOWS: u32 = 0x2C86_950B;
const POSIX: u32 = 0x1EE9_22E5;
const NAME: u32 = 0x0A85_91AC;
const COMMENT: u32 = 0x04C6_3672;
const SPLIT: u32 = 0x24F5_A262;
const SOLID: u32 = 0x24E5_A060;

/// A name or comment in a code page rather than UTF-8.
const CODEPAGE: u8 = 0x08;
/// A name carrying its parent's id.
const RELATIVE: u8 = 0x10;
/// An encrypted comment.
const ENCRYPTED: u8 = 0x04;

/// ClamAV's directory tests: Windows attribute 0x40, and a POSIX mode
/// bit that ClamAV writes in hex where the octal 040000 was meant.
const WINDOWS_DIRECTORY: u8 = 0x40;
const POSIX_DIRECTORY: u32 = 0x40000;

/// The output window of ClamAV's decoders (glibc's BUFSIZ).
const WINDOW: usize = 8192;

const DAMAGED: Reason = Reason::Malformed { format: "EGG" };

pub(crate) fn egg<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let Some(solid) = opens(data) else {
        out.skip(DAMAGED);
        return out;
    };
    comments(data, &mut out);
    if !out.stopped {
        members(data, solid, &mut out);
    }
    out
}

/// Whether the archive opens for ClamAV, and if so whether it is solid.
fn opens(data: &[u8]) -> Option<bool> {
    let mut r = Reader::open(data)?;
    while r.next()?.is_some() {}
    Some(r.solid)
}

/// The archive comments, each scanned as ClamAV scans it: up to its
/// first NUL.
fn comments(data: &[u8], out: &mut Unpacked<'_>) {
    let Some(mut r) = Reader::open(data) else { return };
    while let Some(Some(item)) = r.next() {
        if let Item::Comment(Some(text)) = item
            && !text.is_empty()
        {
            if out.done() {
                return;
            }
            out.push_slice("comment".into(), text.to_vec());
        }
    }
}

/// Each member with the blocks that follow it (in a solid archive the
/// blocks belong to none).
fn members(data: &[u8], solid: bool, out: &mut Unpacked<'_>) {
    let Some(mut r) = Reader::open(data) else { return };
    let mut current: Option<(Entry<'_>, Vec<Block<'_>>)> = None;
    let mut position = 0u32;
    loop {
        let item = r.next().flatten();
        match item {
            Some(Item::Block(b)) => {
                if let Some((_, blocks)) = current.as_mut().filter(|_| !solid)
                {
                    blocks.push(b);
                }
            }
            Some(Item::Comment(_)) => {}
            Some(Item::File(_)) | None => {
                if let Some((e, blocks)) = current.take()
                    && !member(&e, &blocks, solid, &mut position, out)
                {
                    return;
                }
                match item {
                    Some(Item::File(e)) => current = Some((e, Vec::new())),
                    _ => return,
                }
            }
        }
    }
}

/// One member, in ClamAV's order: described, then the limits, then
/// extracted. False once the walk ends.
fn member(
    e: &Entry<'_>,
    blocks: &[Block<'_>],
    solid: bool,
    position: &mut u32,
    out: &mut Unpacked<'_>,
) -> bool {
    // ClamAV stops at the first member without a name.
    let Some(name) = &e.name else {
        out.skip(DAMAGED);
        return false;
    };
    let name = name.text();
    *position = position.saturating_add(1);
    let (packed, size) = if solid {
        (0, e.length)
    } else {
        blocks.iter().fold((0u64, 0u64), |(p, s), b| {
            (p + b.data.len() as u64, s + u64::from(b.size))
        })
    };
    if out.wants_members()
        && out.member(Member {
            name: Some(&name),
            size_in_container: packed,
            size_real: size,
            encrypted: e.encrypted,
            position: *position,
        })
    {
        return false;
    }
    // With the alert on, ClamAV's walk ends at the first encrypted member.
    let alerted = e.encrypted && out.sink.wants(Heur::EncryptedArchive("EGG"));
    if alerted {
        out.encrypted("EGG");
    }
    if out.done() {
        return false;
    }
    let budget = out.sink.budget();
    let (max_file, bytes_left) = (budget.max_file, budget.bytes_left);
    if e.is_directory() {
    } else if size > bytes_left {
        out.skip(Reason::ScanSizeLimit);
    } else if size > max_file {
        out.skip(Reason::FileSizeLimit);
    } else if e.encrypted {
        if !alerted {
            out.encrypted("EGG");
        }
    } else if solid {
        // ClamAV has no reader for solid archives' shared blocks.
        out.skip(DAMAGED);
    } else {
        let cap = max_file.min(bytes_left);
        let cap = usize::try_from(cap).unwrap_or(usize::MAX);
        match extract(blocks, cap) {
            None => out.skip(DAMAGED),
            Some((mut data, damaged)) => {
                if damaged {
                    out.skip(DAMAGED);
                }
                if data.len() > cap {
                    data.truncate(cap);
                    out.skip(if cap as u64 == max_file {
                        Reason::FileSizeLimit
                    } else {
                        Reason::ScanSizeLimit
                    });
                }
                if !data.is_empty() {
                    out.push_slice(
                        String::from_utf8_lossy(&name).into_owned(),
                        data,
                    );
                }
            }
        }
    }
    !alerted && !out.stopped
}

/// A member's data, its blocks one after another, and whether a decoder
/// met damage after writing something (ClamAV scans what it wrote);
/// `None` where ClamAV gives up on the member (a method it does not
/// decode, a block whose decoder fails before writing anything). Stops
/// once past `cap`.
fn extract(blocks: &[Block<'_>], cap: usize) -> Option<(Vec<u8>, bool)> {
    let (mut data, mut damaged) = (Vec::new(), false);
    for b in blocks {
        match b.method {
            // A stored block whose two sizes differ is left out.
            0 if b.data.len() as u64 == u64::from(b.size) => {
                data.extend_from_slice(b.data);
            }
            0 => {}
            1 => {
                let mut z = flate2::Decompress::new(false);
                let hurt = decode(b.data, &mut data, cap, |i, o| {
                    let (i0, o0) = (z.total_in(), z.total_out());
                    let r = z.decompress(i, o, flate2::FlushDecompress::None);
                    let said = match r {
                        Ok(flate2::Status::Ok) => Said::Going,
                        Ok(flate2::Status::StreamEnd) => Said::Ended,
                        _ => Said::Failed,
                    };
                    (
                        (z.total_in() - i0) as usize,
                        (z.total_out() - o0) as usize,
                        said,
                    )
                })?;
                damaged |= hurt;
            }
            2 => {
                let mut z = bzip2::Decompress::new(false);
                let hurt = decode(b.data, &mut data, cap, |i, o| {
                    let (i0, o0) = (z.total_in(), z.total_out());
                    let r = z.decompress(i, o);
                    let said = match r {
                        Ok(bzip2::Status::Ok) => Said::Going,
                        Ok(bzip2::Status::StreamEnd) => Said::Ended,
                        _ => Said::Failed,
                    };
                    (
                        (z.total_in() - i0) as usize,
                        (z.total_out() - o0) as usize,
                        said,
                    )
                })?;
                damaged |= hurt;
            }
            // AZO (3), LZMA (4; ClamAV's decoder is there but not called)
            // and the unknown.
            _ => return None,
        }
        if data.len() > cap {
            break;
        }
    }
    Some((data, damaged))
}

/// What a decoder said of one call.
#[derive(PartialEq)]
enum Said {
    Going,
    Ended,
    Failed,
}

/// One block through a decoder, as ClamAV drives zlib and libbzip2: the
/// output in 8 KiB windows, on while the decoder says OK and input
/// remains, what was written kept after an error; `None` when the first
/// call fails (or ends) having written nothing, else whether the data
/// was damaged. `step` takes the input left and the window left and
/// says how much of each it used and what the decoder said.
fn decode(
    input: &[u8],
    data: &mut Vec<u8>,
    cap: usize,
    mut step: impl FnMut(&[u8], &mut [u8]) -> (usize, usize, Said),
) -> Option<bool> {
    let mut window = vec![0u8; WINDOW];
    let (mut used, mut filled, mut said) = step(input, &mut window);
    if said != Said::Going && filled == 0 {
        return None;
    }
    while said == Said::Going && used < input.len() {
        if filled == WINDOW {
            data.extend_from_slice(&window);
            filled = 0;
            if data.len() > cap {
                return Some(false);
            }
        }
        let (i, o, s) = step(&input[used..], &mut window[filled..]);
        // A decoder that moves neither way would be asked forever.
        if i == 0 && o == 0 {
            break;
        }
        (used, filled, said) = (used + i, filled + o, s);
    }
    data.extend_from_slice(&window[..filled]);
    Some(said == Said::Failed)
}

/// A member's headers, as far as ClamAV reads them.
struct Entry<'a> {
    name: Option<Name<'a>>,
    length: u64,
    encrypted: bool,
    windows: Option<u8>,
    posix: Option<u32>,
}

impl Entry<'_> {
    fn is_directory(&self) -> bool {
        self.posix.is_some_and(|m| m & POSIX_DIRECTORY != 0)
            || self.windows.is_some_and(|a| a & WINDOWS_DIRECTORY != 0)
    }
}

/// A member's name field: its bytes, and the code page when not UTF-8.
struct Name<'a> {
    bytes: &'a [u8],
    codepage: Option<u16>,
}

impl Name<'_> {
    /// The name as ClamAV keeps it: up to its first NUL; in code page 0
    /// (UTF-8 again) without a last character cut short. Other code
    /// pages (949 Korean, 932 Japanese) are left as bytes.
    fn text(&self) -> Vec<u8> {
        match self.codepage {
            Some(0) => until_nul(trim_partial_utf8(self.bytes)).to_vec(),
            _ => until_nul(self.bytes).to_vec(),
        }
    }
}

fn until_nul(b: &[u8]) -> &[u8] {
    &b[..memchr::memchr(0, b).unwrap_or(b.len())]
}

/// `b` without a last UTF-8 character whose lead byte announces more
/// bytes than follow it, as ClamAV's code page 0 conversion cuts it.
fn trim_partial_utf8(b: &[u8]) -> &[u8] {
    let Some(&last) = b.last() else { return b };
    if last & 0x80 == 0 {
        return b;
    }
    let mut start = b.len() - 1;
    while start > 0 && b[start] & 0xC0 == 0x80 {
        start -= 1;
    }
    let count = b.len() - start;
    let announced = b[start].leading_ones() as usize;
    if count == announced { b } else { &b[..start] }
}

/// A block's header and data.
struct Block<'a> {
    method: u8,
    size: u32,
    data: &'a [u8],
}

/// A top-level record.
enum Item<'a> {
    File(Entry<'a>),
    Block(Block<'a>),
    /// An archive comment's text; `None` when ClamAV does not read it.
    Comment(Option<&'a [u8]>),
}

/// Reads the records at a position that moves on as ClamAV's does.
struct Reader<'a> {
    d: &'a [u8],
    at: usize,
    solid: bool,
}

fn le16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

impl<'a> Reader<'a> {
    /// `n` bytes at `at`; none for an empty request, as ClamAV's maps.
    fn get(&self, at: usize, n: usize) -> Option<&'a [u8]> {
        if n == 0 {
            return None;
        }
        self.d.get(at..at.checked_add(n)?)
    }

    fn skip(&mut self, n: u32) {
        self.at = self.at.saturating_add(n as usize);
    }

    /// The archive header and its extra fields (split, solid, global
    /// encryption); `None` when the archive does not open.
    fn open(d: &'a [u8]) -> Option<Reader<'a>> {
        let h = d.get(..14)?;
        if le32(h) != ARCHIVE {
            return None;
        }
        let mut r = Reader { d, at: 14, solid: false };
        let (mut split, mut encrypted) = (false, false);
        while r.d.len() > r.at {
            if le32(r.get(r.at, 4)?) == END {
                r.at += 4;
                break;
            }
            // A field ClamAV cannot read ends the header where it stood.
            if r.archive_field(&mut split, &mut encrypted).is_none() {
                break;
            }
        }
        Some(r)
    }

    /// An extra field's magic, flags and size, the position moved past
    /// each as it is read.
    fn field(&mut self) -> Option<(u32, u8, u32)> {
        let h = self.get(self.at, 5)?;
        self.at += 5;
        let size = if h[4] & 1 != 0 {
            let s = le32(self.get(self.at, 4)?);
            self.at += 4;
            s
        } else {
            let s = le16(self.get(self.at, 2)?);
            self.at += 2;
            u32::from(s)
        };
        Some((le32(h), h[4], size))
    }

    fn archive_field(
        &mut self,
        split: &mut bool,
        encrypted: &mut bool,
    ) -> Option<()> {
        let (magic, _, mut size) = self.field()?;
        match magic {
            SOLID if self.solid => return None,
            SOLID => self.solid = true,
            SPLIT if *split => return None,
            SPLIT => {
                *split = true;
                if size == 8 {
                    self.get(self.at, 8)?;
                }
            }
            ENCRYPT if *encrypted => return None,
            ENCRYPT => {
                size = size.wrapping_sub(7);
                encryption(self.get(self.at, size as usize)?)?;
                *encrypted = true;
            }
            _ => {}
        }
        self.skip(size);
        Some(())
    }

    /// The next top-level record; `Some(None)` at the end of the archive
    /// (its end mark, or fewer than four bytes left), `None` where
    /// ClamAV's index fails.
    fn next(&mut self) -> Option<Option<Item<'a>>> {
        let Some(m) = self.get(self.at, 4) else { return Some(None) };
        Some(Some(match le32(m) {
            END => {
                self.at = self.d.len();
                return Some(None);
            }
            FILE => Item::File(self.file()?),
            BLOCK => Item::Block(self.block()?),
            COMMENT => {
                let (_, flags, size) = self.field()?;
                let text = self.get(self.at, size as usize)?;
                self.skip(size);
                Item::Comment(comment(flags, text))
            }
            _ => return None,
        }))
    }

    fn file(&mut self) -> Option<Entry<'a>> {
        let h = self.get(self.at, 16)?;
        self.at += 16;
        let mut e = Entry {
            name: None,
            length: u64::from_le_bytes(h[8..16].try_into().ok()?),
            encrypted: false,
            windows: None,
            posix: None,
        };
        while self.d.len() > self.at {
            if le32(self.get(self.at, 4)?) == END {
                self.at += 4;
                break;
            }
            if self.file_field(&mut e).is_none() {
                break;
            }
        }
        Some(e)
    }

    fn file_field(&mut self, e: &mut Entry<'a>) -> Option<()> {
        let (magic, flags, mut size) = self.field()?;
        match magic {
            NAME if e.name.is_some() => return None,
            NAME => {
                let body = self.get(self.at, size as usize)?;
                let mut from = 0;
                let mut codepage = None;
                if flags & CODEPAGE != 0 {
                    codepage = Some(le16(body.get(..2)?));
                    from += 2;
                    self.at += 2;
                }
                if flags & RELATIVE != 0 {
                    body.get(from..from + 4)?;
                    from += 4;
                    self.at += 4;
                }
                if from == body.len() {
                    return None;
                }
                e.name = Some(Name { bytes: &body[from..], codepage });
            }
            COMMENT => {
                self.get(self.at, size as usize)?;
            }
            ENCRYPT if e.encrypted => return None,
            ENCRYPT => {
                size = size.wrapping_sub(7);
                encryption(self.get(self.at, size as usize)?)?;
                e.encrypted = true;
            }
            WINDOWS if e.windows.is_some() => return None,
            WINDOWS => e.windows = Some(self.get(self.at, 9)?[8]),
            POSIX if e.posix.is_some() => return None,
            POSIX => e.posix = Some(le32(self.get(self.at, 20)?)),
            _ => {}
        }
        self.skip(size);
        Some(())
    }

    fn block(&mut self) -> Option<Block<'a>> {
        let h = self.get(self.at, 18)?;
        self.at += 18;
        if le32(self.get(self.at, 4)?) != END {
            return None;
        }
        self.at += 4;
        let packed = le32(&h[10..]);
        let data = self.get(self.at, packed as usize)?;
        self.skip(packed);
        Some(Block { method: h[4], size: le32(&h[6..]), data })
    }
}

/// Whether an encryption field (after its size's own header) holds what
/// its method needs: KeyBase exactly its 16 bytes, AES or LEA at least
/// their header and footer.
fn encryption(b: &[u8]) -> Option<()> {
    let rest = b.len() - 1;
    let fits = match b[0] {
        0x00 => rest == 16,
        0x01 | 0x10 => rest >= 20,
        0x02 | 0x20 => rest >= 28,
        _ => false,
    };
    fits.then_some(())
}

/// An archive comment as ClamAV scans it: none when encrypted, else up to
/// its first NUL (in code page 0 without a cut last character).
fn comment(flags: u8, text: &[u8]) -> Option<&[u8]> {
    if flags & ENCRYPTED != 0 {
        return None;
    }
    if flags & CODEPAGE != 0 {
        return Some(until_nul(trim_partial_utf8(text)));
    }
    Some(until_nul(text))
}

#[cfg(test)]
mod tests;
