//! Containers: gzip, bzip2, tar and the `data:` URIs of HTML here; mail
//! (and mbox and uuencoded files) in `mail`, zip in `zip`, 7z, xz, RAR,
//! ARJ and cab in `archives`, LHA in `lha`, ALZ in `alz`, compiled AutoIt scripts in `autoit`, EGG in `egg`, CHM help files in `chm`, Symbian installers in `sis`, UDF in `udf`, MBR, GPT and APM disks in `disk`, FAT volumes in `fat`, HFS+ volumes in `hfsplus`, XAR in `xar` (its table read by `xml`), Apple disk images in `dmg`, NSIS installers in `nsis`, ISO 9660 images in `iso`, OneNote in `onenote`, InstallShield installers in `ishield`, SZDD, cpio, BinHex and TNEF in `legacy`,
//! OLE2 and RTF in `office` (Excel 4.0 macro sheets in `office/xlm`), HWP documents in `hwp`, PDF in `pdf`, Flash and fat Mach-O in
//! `media`, scripts made by the Script Encoder in `screnc`, UPX-packed executables in `upx`, FSG-packed ones in `fsg`, MEW- and Upack-packed ones in `mew`, Petite-packed ones in `petite`, WWPack32-packed ones in `wwpack`, PESpin-protected ones in `pespin`, yoda's Crypter in `yc`. Each takes bytes and hands every child to a [`Sink`] as soon
//! as it is decoded, so a container costs the memory of one member at
//! a time, never of all of them; nothing is written to disk.
//!
//! A damaged container yields what could be read plus a reason, so the
//! scan goes on with what is there and the verdict can say "not scanned".

use std::io::Read;

use crate::heur::{self, Heur};
use crate::mime::{self, base64_decode};
use crate::sigs::cdb::Member;
use crate::verdict::Reason;

mod alz;
mod archives;
mod aspack;
mod autoit;
mod chm;
mod disk;
mod dmg;
mod egg;
mod fat;
mod fsg;
mod hfsplus;
mod hwp;
mod ishield;
mod iso;
mod legacy;
mod lha;
mod mail;
mod media;
mod mew;
mod nsis;
mod office;
mod onenote;
mod pdf;
mod pe32;
mod pespin;
mod petite;
mod screnc;
mod sis;
mod udf;
mod upx;
mod wwpack;
mod xar;
mod xml;
mod yc;
mod zip;
pub(crate) use alz::alz;
pub(crate) use archives::{arj, cab, rar, sevenz, xz};
pub(crate) use aspack::aspack;
pub(crate) use autoit::autoit;
pub(crate) use chm::chm;
pub(crate) use disk::{apm, fat, gpt, mbr};
pub(crate) use dmg::dmg;
pub(crate) use egg::egg;
pub(crate) use fsg::fsg;
pub(crate) use hfsplus::hfsplus;
pub(crate) use hwp::{hwp_ole2, hwp3, hwpml};
pub(crate) use ishield::{ishield_msi, ishield_pe};
pub(crate) use iso::iso9660;
pub(crate) use legacy::{binhex, cpio, szdd, tnef};
pub(crate) use lha::lha;
pub(crate) use mail::{mail, mail_within, uuencoded};
pub(crate) use media::{macho_fat, swf};
pub(crate) use mew::{mew, upack};
pub(crate) use nsis::nsis;
pub(crate) use office::{ole2, rtf};
pub(crate) use onenote::onenote;
pub(crate) use pdf::pdf;
pub(crate) use pespin::pespin;
pub(crate) use petite::petite;
pub(crate) use screnc::screnc;
pub(crate) use sis::sis;
pub(crate) use udf::udf;
pub(crate) use upx::upx;
pub(crate) use wwpack::wwpack;
pub(crate) use xar::xar;
pub(crate) use yc::yc;
pub(crate) use zip::{zip, zip_entry, zip_listed};

/// Where children go: the scanner, which scans each one before the next
/// is decoded.
pub(crate) trait Sink {
    /// The limits children are counted against.
    fn budget(&mut self) -> &mut Budget;
    /// Scans one child; `true` stops the walk (something was found).
    fn child(&mut self, name: String, data: Vec<u8>) -> bool;
    /// Scans a text the walk wrote itself as ClamAV scans such a text
    /// (its `CL_TYPE_SCRIPT`): the generic signatures, hashes and
    /// logical signatures over its bytes, nothing typed or normalised;
    /// `true` stops the walk.
    fn script(&mut self, name: String, data: Vec<u8>) -> bool {
        self.child(name, data)
    }
    /// Scans a partition of a disk: typed first as ClamAV types a
    /// partition (an HFS+ volume by its header), then as any child;
    /// `true` stops the walk.
    fn partition(&mut self, name: String, data: Vec<u8>) -> bool {
        self.child(name, data)
    }
    /// Scans a child as ClamAV scans a slice of its parent's bytes or a
    /// buffer a parser filled (not a file it wrote): typed and matched
    /// as any child, but not searched for files inside it, as ClamAV's
    /// raw scan looks for those only in an object of its own;
    /// `true` stops the walk.
    fn slice(&mut self, name: String, data: Vec<u8>) -> bool {
        self.child(name, data)
    }
    /// A heuristic finding; the scanner's switches decide if it alerts.
    fn alert(&mut self, h: Heur);
    /// Whether `h` would alert: a finding that costs work to make is
    /// looked for only then.
    fn wants(&self, h: Heur) -> bool;
    /// Whether [`Sink::member`] looks at anything: when not, a walk need
    /// not describe its members.
    fn wants_members(&self) -> bool {
        false
    }
    /// What the container says of a member before it is extracted, for
    /// container metadata rules; `true` stops the walk (one matched).
    fn member(&mut self, _m: &Member<'_>) -> bool {
        false
    }
    /// Whether [`Sink::links`] looks at anything: the text parts of mail
    /// are parsed for their links only then.
    fn wants_links(&self) -> bool {
        false
    }
    /// A mail text part whose links ClamAV checks for phishing.
    fn links(&mut self, _text: &[u8]) {}
    /// Message `number` (from 1) of an mbox holding several begins: the
    /// children up to [`Sink::message_end`] are its parts.
    fn message_start(&mut self, _number: usize) {}
    /// The children from here on come from the input message's MIME leaf
    /// at these bytes of the input (its headers and body), until the
    /// next: what is found in them is found in that part, which a
    /// cleaner may cut.
    fn part(&mut self, _bytes: std::ops::Range<usize>) {}
    /// The message begun last, `message` (its bytes, for its headers),
    /// has been walked; `stopped` says whether the sink asked to stop in
    /// it. Returns whether the walk of the mailbox stops: a sink that
    /// reports each infected message goes on to the next.
    fn message_end(&mut self, _message: &[u8], stopped: bool) -> bool {
        stopped
    }
}

/// What a container may still produce.
pub(crate) struct Budget {
    /// Largest child, in bytes (MaxFileSize).
    pub(crate) max_file: u64,
    /// Bytes all children of this scan may still add up to (MaxScanSize).
    pub(crate) bytes_left: u64,
    /// Children this scan may still produce (MaxFiles).
    pub(crate) files_left: u32,
}

/// One container's walk: the sink, the first reason something was left
/// out, and whether the sink asked to stop.
pub(crate) struct Unpacked<'s> {
    sink: &'s mut dyn Sink,
    pub(crate) skipped: Option<Reason>,
    pub(crate) stopped: bool,
    /// An executable's reader gave up where ClamAV ends the whole PE
    /// scan (a size check failed): no later reader may try the file.
    pub(crate) ends_executable: bool,
    /// Messages a mail walk may still open inside this one (forwarded
    /// ones, each of which may be read several ways).
    messages_left: u32,
}

impl<'s> Unpacked<'s> {
    fn new(sink: &'s mut dyn Sink) -> Unpacked<'s> {
        Unpacked {
            sink,
            skipped: None,
            stopped: false,
            ends_executable: false,
            messages_left: 1000,
        }
    }

    /// True once the walk should end: something was found, or no more
    /// members may be extracted (which is recorded as the reason).
    fn done(&mut self) -> bool {
        if !self.stopped && self.sink.budget().files_left == 0 {
            self.skip(Reason::FilesLimit);
            self.stopped = true;
        }
        self.stopped
    }

    fn skip(&mut self, r: Reason) {
        self.skipped.get_or_insert(r);
    }

    fn alert(&mut self, h: Heur) {
        self.sink.alert(h);
    }

    fn wants_members(&self) -> bool {
        self.sink.wants_members()
    }

    /// Describes a member to the sink; true once the walk should end.
    fn member(&mut self, m: Member<'_>) -> bool {
        if !self.stopped {
            self.stopped = self.sink.member(&m);
        }
        self.stopped
    }

    /// Encrypted content of an archive format: not scanned, and
    /// `Heuristics.Encrypted.<format>` when that alert is on.
    fn encrypted(&mut self, format: &'static str) {
        self.skip(Reason::Encrypted);
        self.alert(Heur::EncryptedArchive(format));
    }

    /// Whether a child of `len` bytes may still be extracted, checked
    /// before it is copied (a crafted container may point many members
    /// at the same bytes); the reason is recorded when not.
    fn room(&mut self, len: u64) -> bool {
        if len <= 5 {
            return true;
        }
        let b = self.sink.budget();
        let reason = if b.files_left == 0 {
            Reason::FilesLimit
        } else if len > b.max_file {
            Reason::FileSizeLimit
        } else if len > b.bytes_left {
            Reason::ScanSizeLimit
        } else {
            return true;
        };
        self.skip(reason);
        false
    }

    /// Reads one child through the budget.
    fn push_reader(&mut self, name: String, r: impl Read) {
        self.push_reader_as(name, r, As::Child);
    }

    /// Reads a member ClamAV scans as a slice or buffer (see
    /// [`Sink::slice`]) through the budget.
    fn push_reader_slice(&mut self, name: String, r: impl Read) {
        self.push_reader_as(name, r, As::Slice);
    }

    fn push_reader_as(&mut self, name: String, mut r: impl Read, how: As) {
        let budget = self.sink.budget();
        if budget.files_left == 0 {
            self.skip(Reason::FilesLimit);
            return;
        }
        let (cap, max_file) =
            (budget.max_file.min(budget.bytes_left), budget.max_file);
        let mut data = Vec::new();
        let res = r.by_ref().take(cap).read_to_end(&mut data);
        if let Err(_e) = res {
            self.skip(Reason::Malformed { format: "compressed data" });
        }
        // One more byte tells a child that is exactly `cap` from a longer one.
        if data.len() as u64 == cap && r.read(&mut [0u8]).is_ok_and(|n| n > 0)
        {
            self.skip(if cap == max_file {
                Reason::FileSizeLimit
            } else {
                Reason::ScanSizeLimit
            });
        }
        self.push_as(name, data, how);
    }

    fn push(&mut self, name: String, data: Vec<u8>) {
        self.push_as(name, data, As::Child);
    }

    /// A text the walk wrote: see [`Sink::script`].
    fn push_script(&mut self, name: String, data: Vec<u8>) {
        self.push_as(name, data, As::Script);
    }

    /// A disk's partition: see [`Sink::partition`].
    fn push_partition(&mut self, name: String, data: Vec<u8>) {
        self.push_as(name, data, As::Partition);
    }

    /// A member ClamAV scans as a slice or buffer: see [`Sink::slice`].
    fn push_slice(&mut self, name: String, data: Vec<u8>) {
        self.push_as(name, data, As::Slice);
    }

    fn push_as(&mut self, name: String, data: Vec<u8>, how: As) {
        if self.stopped {
            return;
        }
        // ClamAV passes over objects of five bytes or less before it counts
        // them against MaxFiles (the scan ignores them too): a crafted
        // archive of a million one-byte members must not use up the limit
        // before its payload.
        if data.len() <= 5 {
            self.stopped = self.sink.child(name, data);
            return;
        }
        let budget = self.sink.budget();
        if budget.files_left == 0 {
            self.skip(Reason::FilesLimit);
            return;
        }
        if data.len() as u64 > budget.max_file {
            self.skip(Reason::FileSizeLimit);
            return;
        }
        if data.len() as u64 > budget.bytes_left {
            self.skip(Reason::ScanSizeLimit);
            return;
        }
        budget.files_left -= 1;
        budget.bytes_left -= data.len() as u64;
        self.stopped = match how {
            As::Child => self.sink.child(name, data),
            As::Script => self.sink.script(name, data),
            As::Partition => self.sink.partition(name, data),
            As::Slice => self.sink.slice(name, data),
        };
    }
}

/// How the sink is handed a child.
#[derive(Clone, Copy)]
enum As {
    Child,
    Script,
    Partition,
    Slice,
}

pub(crate) fn gzip<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let d = flate2::read::MultiGzDecoder::new(data);
    let name = d
        .header()
        .and_then(|h| h.filename())
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_else(|| "gunzipped".into());
    out.push_reader(name, d);
    out
}

pub(crate) fn bzip2<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    out.push_reader(
        "bunzipped".into(),
        bzip2::read::MultiBzDecoder::new(data),
    );
    out
}

pub(crate) fn tar<'s>(data: &[u8], sink: &'s mut dyn Sink) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let mut a = tar::Archive::new(data);
    let entries = match a.entries() {
        Ok(e) => e,
        Err(_) => {
            out.skip(Reason::Malformed { format: "tar" });
            return out;
        }
    };
    let mut tar_position = 0u32;
    for e in entries {
        if out.done() {
            break;
        }
        let e = match e {
            Ok(e) => e,
            Err(_) => {
                out.skip(Reason::Malformed { format: "tar" });
                break;
            }
        };
        // ClamAV numbers from 1 and describes only what it would extract:
        // regular files, contiguous files and GNU multivolume parts, and
        // types it does not know; the name is the header's first 100
        // bytes, without the ustar prefix.
        let t = e.header().as_bytes()[156];
        if !b"123456VKLNAEIgxX".contains(&t) {
            tar_position = tar_position.saturating_add(1);
            if out.wants_members() {
                let h = e.header().as_bytes();
                let name = &h[..100];
                let name = &name[..memchr::memchr(0, name).unwrap_or(100)];
                let size = e.header().size().unwrap_or(0);
                if out.member(Member {
                    name: Some(name),
                    size_in_container: size,
                    size_real: size,
                    encrypted: false,
                    position: tar_position,
                }) {
                    break;
                }
            }
        }
        if !e.header().entry_type().is_file() {
            continue;
        }
        let name = e
            .path()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push_reader(name, e);
    }
    out
}

/// The objects an HTML page carries in RFC 2397 `data:` URIs with base64
/// (`<a href="data:application/octet-stream;base64,TVq...">`): each is
/// a child, as ClamAV's HTML normaliser decodes them.
pub(crate) fn html_data_uris<'s>(
    data: &[u8],
    sink: &'s mut dyn Sink,
) -> Unpacked<'s> {
    let mut out = Unpacked::new(sink);
    let finder = memchr::memmem::Finder::new(b"data:");
    let lower = data.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = finder.find(&lower[from..]).map(|i| from + i) {
        if out.done() {
            break;
        }
        from = i + 5;
        // The media type and parameters: up to the comma, on one line.
        let Some(comma) = lower[from..]
            .iter()
            .take(256)
            .position(|&b| b == b',' || b == b'"' || b == b'\'' || b == b'>')
            .filter(|&p| lower[from + p] == b',')
        else {
            continue;
        };
        let header = &lower[from..from + comma];
        if !header.ends_with(b";base64") {
            continue;
        }
        let body_at = from + comma + 1;
        let end = data[body_at..]
            .iter()
            .position(|&b| matches!(b, b'"' | b'\'' | b'>' | b'<' | b')'))
            .map_or(data.len(), |p| body_at + p);
        let decoded = base64_decode(&data[body_at..end]);
        if !decoded.is_empty() {
            out.push(
                format!(
                    "data URI {}",
                    String::from_utf8_lossy(&header[..header.len() - 7])
                ),
                decoded,
            );
        }
        from = end;
    }
    out
}

#[cfg(test)]
mod tests;
