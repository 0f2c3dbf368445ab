//! File typing by content, as ClamAV types an object before choosing how
//! to scan it: leading magic bytes first, then text-or-binary.
//!
//! The type decides the container walk and which target-type signatures
//! run (mail signatures on mail, normalised-text signatures on text), so
//! agreeing with ClamAV here is what keeps verdicts identical.

mod disk;
pub(crate) mod embedded;
mod hwp;
mod names;
mod ooxml;
mod unicode;
use hwp::{is_hwp_ole2, is_hwpml};
use ooxml::ooxml;
use unicode::unicode_html;
pub(crate) use unicode::utf16_to_ascii;

pub(crate) use disk::{
    fat_boot, gpt_sector, is_apm, is_dmg, is_hfsplus, is_udf, iso_descriptor,
    iso_primary, mbr_entry, mbr_ok,
};
pub(crate) use names::CLAMAV_TYPES;

/// What an object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileType {
    Mail,
    /// Mail that starts with `MIME-Version:` (ClamAV's MHTML type):
    /// opened as mail, but mail-target signatures do not apply to it.
    Mhtml,
    Zip,
    Gzip,
    Bzip2,
    PosixTar,
    OldTar,
    /// ASCII, UTF-8 or UTF-16 text: also scanned normalised.
    Text,
    Html,
    /// HTML in UTF-16 as ClamAV tells it (its bytes, paired up its way,
    /// read as HTML): scanned raw, and its pairs folded into the page
    /// that is scanned as HTML.
    HtmlUtf16,
    Binary,
    /// A script made by Microsoft's Script Encoder (`#@~^`): `.jse`,
    /// `.vbe`.
    ScrEnc,
    /// A file starting `begin `: uuencoded data.
    Uuencoded,
    /// 7-Zip archive.
    SevenZ,
    /// ARJ archive.
    Arj,
    /// LHA/LZH archive.
    Lha,
    /// ALZ archive (ESTsoft ALZip).
    Alz,
    /// EGG archive (ESTsoft ALZip's newer format).
    Egg,
    /// ISO 9660 disk image.
    Iso9660,
    /// UDF image without ISO 9660 descriptors (a bridge is `Iso9660`).
    Udf,
    /// A disk image whose first sector passes ClamAV's master boot record
    /// test (a FAT volume's boot sector often does).
    Mbr,
    /// A disk image partitioned with a GUID partition table.
    Gpt,
    /// A disk image partitioned with an Apple partition map.
    Apm,
    /// A FAT volume whose boot sector is no master boot record: binary
    /// data to ClamAV, opened here.
    Fat,
    /// An HFS+ or HFSX volume: typed so only as a partition, as in
    /// ClamAV (`CL_TYPE_PART_HFSPLUS`).
    HfsPlus,
    /// XAR archive (macOS packages).
    Xar,
    /// Apple disk image (UDIF, its `koly` trailer at the end).
    Dmg,
    /// OneNote section.
    OneNote,
    /// BinHex 4.0 text.
    BinHex,
    /// cpio, new ASCII format with checksums.
    CpioCrc,
    /// cpio, new ASCII format.
    CpioNewc,
    /// cpio, old ASCII format.
    CpioOdc,
    /// cpio, old binary format.
    CpioOld,
    /// ELF executable.
    Elf,
    /// GIF image.
    Gif,
    /// Other images (BMP, JPEG 2000).
    Graphics,
    /// Java class file.
    Java,
    /// JPEG image.
    Jpeg,
    /// Mach-O executable.
    MachO,
    /// Mach-O universal (fat) binary.
    MachOUniversal,
    /// Microsoft cabinet.
    Cab,
    /// Compiled HTML help.
    Chm,
    /// Symbian installer (typed by its EPOC UID near the start).
    Sis,
    /// DOS/Windows executable (MZ).
    Pe,
    /// OLE2 compound file (Office, MSI).
    Ole2,
    /// SZDD-compressed file (MS compress).
    Szdd,
    /// PDF document.
    Pdf,
    /// PNG image.
    Png,
    /// RAR archive.
    Rar,
    /// Rich Text Format.
    Rtf,
    /// Flash (uncompressed, zlib or LZMA).
    Swf,
    /// TIFF image.
    Tiff,
    /// TNEF (winmail.dat).
    Tnef,
    /// xz stream.
    Xz,
    /// Office Open XML word processing document (a zip).
    OoxmlWord,
    /// Office Open XML spreadsheet (a zip).
    OoxmlXl,
    /// Office Open XML presentation (a zip).
    OoxmlPpt,
    /// Hancom Office (HWP) OOXML document (a zip).
    OoxmlHwp,
    /// Hancom Office HWP 3.x document (its own format).
    Hwp3,
    /// An OLE2 file behind a 4-byte size, as HWP 5 embeds OLE objects.
    HwpOle2,
    /// HWPML: a Hancom Office document as one XML file.
    XmlHwp,
    /// An MSI-based InstallShield setup inside an executable, from its
    /// `InstallShield` string on (never typed from an object's start).
    IshieldMsi,
    /// The resources of a compiled AutoIt script, from the `AU3!EA0x`
    /// marker on: found inside executables by the embedded-type pass.
    AutoIt,
}

/// Header names that make ClamAV read an object as mail when it starts
/// with them.
const MAIL_STARTS: &[&[u8]] = &[
    b">From ",
    b"Date: ",
    b"Delivered-To: ",
    b"Delivery-date: ",
    b"Envelope-to: ",
    b"For: ",
    b"From ",
    b"From: ",
    b"Hi. This is the qmail-send",
    b"Message-ID: ",
    b"Message-Id: ",
    b"Received: ",
    b"Return-Path: ",
    b"Return-path: ",
    b"Subject: ",
    b"To: ",
    b"X-Apparently-To: ",
    b"X-EVS",
    b"X-Envelope-From: ",
    b"X-Original-To: ",
    b"X-Real-To: ",
    b"X-Sieve: ",
    b"X-Symantec-",
    b"X-UIDL: ",
    b"v:\nReceived: ",
    b"v:\r\nReceived: ",
    b"Received-SPF: ",
];

/// Other leading magic numbers: formats that must not be taken for text.
const MAGICS: &[(&[u8], FileType)] = &[
    (b"PK\x03\x04", FileType::Zip),
    (b"PK00PK\x03\x04", FileType::Zip),
    (b"\x1f\x8b", FileType::Gzip),
    (b"MZ", FileType::Pe),
    (b"\x7fELF", FileType::Elf),
    (b"%PDF-", FileType::Pdf),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", FileType::Ole2),
    (b"Rar!", FileType::Rar),
    (b"\x60\xea", FileType::Arj),
    (b"7z\xbc\xaf\x27\x1c", FileType::SevenZ),
    (b"BZh", FileType::Bzip2),
    (b"\xfd7zXZ\x00", FileType::Xz),
    (b"MSCF\0\0\0\0", FileType::Cab),
    (b"ITSF", FileType::Chm),
    (
        b"\xe4\x52\x5c\x7b\x8c\xd8\xa7\x4d\xae\xb1\x53\x78\xd0\x29\x96\xd3",
        FileType::OneNote,
    ),
    (b"SZDD", FileType::Szdd),
    (b"xar!", FileType::Xar),
    (b"begin ", FileType::Uuencoded),
    (b"{\\rt", FileType::Rtf),
    (b"\x78\x9f\x3e\x22", FileType::Tnef),
    (b"070701", FileType::CpioNewc),
    (b"070702", FileType::CpioCrc),
    (b"070707", FileType::CpioOdc),
    (b"\xc7\x71", FileType::CpioOld),
    (b"\x71\xc7", FileType::CpioOld),
    (b"\x89PNG", FileType::Png),
    (b"GIF", FileType::Gif),
    (b"\xff\xd8\xff", FileType::Jpeg),
    (b"II\x2a\x00", FileType::Tiff),
    // ClamAV's TIFF magic for big-endian files is these two bytes alone.
    (b"MM", FileType::Tiff),
    (b"BM", FileType::Graphics),
    (b"\x00\x00\x00\x0cjP  \x0d\x0a\x87\x0a", FileType::Graphics),
    (b"\xce\xfa\xed\xfe", FileType::MachO),
    (b"\xcf\xfa\xed\xfe", FileType::MachO),
    (b"\xfe\xed\xfa\xce", FileType::MachO),
    (b"\xfe\xed\xfa\xcf", FileType::MachO),
    (b"FWS", FileType::Swf),
    (b"CWS", FileType::Swf),
    (b"ZWS", FileType::Swf),
    (b"(This file must be converted with BinHex 4.0)", FileType::BinHex),
    (b"#@~^", FileType::ScrEnc),
    (b"ALZ\x01", FileType::Alz),
    (b"EGGA", FileType::Egg),
    (b"HWP Document File V3.00 \x1a\x01\x02\x03\x04\x05", FileType::Hwp3),
];

/// How much of an object typing looks at, as in ClamAV.
const MAGIC_WINDOW: usize = 1024;

/// Types an object by its first bytes.
#[cfg(test)]
pub(crate) fn detect(data: &[u8]) -> FileType {
    detect_with(data, None)
}

/// What a database's file-type magic (`.ftm`) says of an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Magic {
    /// A type this engine tells apart.
    Typed(FileType),
    /// A type it does not open (or one ClamAV ignores): plain data.
    Unopened,
}

/// Types an object, `db` being what the database's own magic says of it:
/// that comes first, as in ClamAV, where a zip is still looked at for
/// Office, binary data for tar, and text for what it holds.
pub(crate) fn detect_with(data: &[u8], db: Option<Magic>) -> FileType {
    let head = &data[..data.len().min(MAGIC_WINDOW)];
    match db {
        Some(Magic::Typed(FileType::Zip)) => {
            return ooxml(data).unwrap_or(FileType::Zip);
        }
        Some(Magic::Typed(FileType::Text)) => return by_content(data),
        Some(Magic::Typed(FileType::Binary)) => {
            return tar_kind(data)
                .or(iso_primary(data).map(|_| FileType::Iso9660))
                .or(is_udf(data).then_some(FileType::Udf))
                .or(gpt_sector(data).map(|_| FileType::Gpt))
                .or(disk::is_dmg(data).then_some(FileType::Dmg))
                .or(unicode_html(head))
                .or(disk::disk_image(data))
                .or(is_autoit(head).then_some(FileType::AutoIt))
                .unwrap_or(FileType::Binary);
        }
        Some(Magic::Typed(t)) => return t,
        Some(Magic::Unopened) => return FileType::Binary,
        None => {}
    }
    if is_hwp_ole2(head) {
        return FileType::HwpOle2;
    }
    if MAIL_STARTS.iter().any(|m| head.starts_with(m)) {
        return FileType::Mail;
    }
    // Before the leading magics: an image's system area is free, and
    // `MZ` or `GIF89a` there must not hide the files behind it.
    if iso_primary(data).is_some() {
        return FileType::Iso9660;
    }
    if is_udf(data) {
        return FileType::Udf;
    }
    for (m, t) in MAGICS {
        if head.starts_with(m) {
            // A disk image's data fork often starts with bzip2's magic:
            // ClamAV finds its trailer in a bzip2 object too (and in no
            // other typed one, a zip least of all).
            if *t == FileType::Bzip2 && disk::is_dmg(data) {
                return FileType::Dmg;
            }
            if *t == FileType::Zip
                && let Some(office) = ooxml(data)
            {
                return office;
            }
            return *t;
        }
    }
    if gpt_sector(data).is_some() {
        return FileType::Gpt;
    }
    // A UDIF trailer, when no leading magic typed the data fork.
    if disk::is_dmg(data) {
        return FileType::Dmg;
    }
    if is_apm(data) {
        return FileType::Apm;
    }
    // The one archive whose magic is not at the start: its method id
    // follows the header's size and checksum bytes.
    if is_lha(head) {
        return FileType::Lha;
    }
    match by_content(data) {
        FileType::Binary if is_autoit(head) => FileType::AutoIt,
        t => t,
    }
}

/// Compiled AutoIt resources from their first byte: ClamAV types data
/// in which its AutoIt pattern is met as `CL_TYPE_AUTOIT` and reads it
/// from offset 23, so only a file that starts with the pattern yields
/// anything.
fn is_autoit(head: &[u8]) -> bool {
    const MARKER: [u8; 16] = [
        0xa3, 0x48, 0x4b, 0xbe, 0x98, 0x6c, 0x4a, 0xa9, 0x99, 0x4c, 0x53,
        0x0a, 0x86, 0xd6, 0x48, 0x7d,
    ];
    head.starts_with(&MARKER)
        && head.get(16..23) == Some(b"AU3!EA0")
        && matches!(head.get(23), Some(b'5' | b'6'))
}

/// ClamAV's type magic: a method id at offset 2 (`-lh5-`, `-lzs-`,
/// `-pm0-`...).
pub(crate) fn is_lha(head: &[u8]) -> bool {
    let Some(m) = head.get(2..7) else { return false };
    match m {
        [b'-', b'l', b'h', c, b'-'] => b"01234567dx".contains(c),
        [b'-', b'l', b'z', c, b'-'] => b"s45".contains(c),
        [b'-', b'p', b'm', b'0', b'-'] => true,
        _ => false,
    }
}

/// The typing of objects no leading magic types: tar headers, then
/// what ClamAV's patterns find in the first KiB.
fn by_content(data: &[u8]) -> FileType {
    let head = &data[..data.len().min(MAGIC_WINDOW)];
    if let Some(t) = tar_kind(data) {
        return t;
    }
    let text = is_text(head);
    if looks_like_mhtml(head) {
        return FileType::Mhtml;
    }
    // Its type outranks mail's and HTML's in ClamAV's typing patterns.
    if is_hwpml(head) {
        return FileType::XmlHwp;
    }
    if looks_like_mail(head) {
        return FileType::Mail;
    }
    if looks_like_html(head) {
        return FileType::Html;
    }
    // ClamAV's typing patterns compete by type, in this order: mail and
    // HTML (above), a Java class, `%PDF-N.` (or lower case) anywhere in
    // the first KiB, a universal binary. After `CAFEBABE` a big-endian
    // count: fewer than 32 architectures, or a class version 32 to 63.
    let cafebabe = match head.get(..8) {
        Some(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, n]) => Some(n >> 4),
        _ => None,
    };
    if matches!(cafebabe, Some(2 | 3)) {
        return FileType::Java;
    }
    if [&b"%PDF-"[..], b"%pdf-"].iter().any(|m| {
        memchr::memmem::find_iter(head, m)
            .any(|i| head.get(i + 6) == Some(&b'.'))
    }) {
        return FileType::Pdf;
    }
    // ClamAV's SIS type outranks a universal binary's, not the above.
    if is_sis(head) {
        return FileType::Sis;
    }
    if matches!(cafebabe, Some(0 | 1)) {
        return FileType::MachOUniversal;
    }
    if let Some(t) = unicode_html(head) {
        return t;
    }
    if text {
        FileType::Text
    } else {
        disk::disk_image(data).unwrap_or(FileType::Binary)
    }
}

/// ClamAV's SIS pattern: the EPOC installer UID `0x10000419` starting
/// anywhere from byte 8 to byte 20.
fn is_sis(head: &[u8]) -> bool {
    const UID: [u8; 4] = [0x19, 0x04, 0x00, 0x10];
    (8..=20).any(|i| head.get(i..i + 4) == Some(&UID[..]))
}

fn tar_kind(data: &[u8]) -> Option<FileType> {
    let h = data.get(..512)?;
    // The header checksum counts its own field as spaces.
    let field = std::str::from_utf8(&h[148..156]).ok()?;
    let want = u32::from_str_radix(
        field.trim_matches(|c: char| c == ' ' || c == '\0'),
        8,
    )
    .ok()?;
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, &b)| if (148..156).contains(&i) { 32 } else { b as u32 })
        .sum();
    if sum != want {
        return None;
    }
    Some(if &h[257..262] == b"ustar" {
        FileType::PosixTar
    } else {
        FileType::OldTar
    })
}

/// ClamAV's text classes: printable ASCII plus BEL BS HT LF FF CR ESC,
/// Latin-1 and the extended ranges (0x7f and most controls are binary).
fn is_text_byte(b: u8) -> bool {
    matches!(b, 7..=10 | 12 | 13 | 27 | 0x20..=0x7e | 0x80..=0xff)
}

fn is_text(head: &[u8]) -> bool {
    if head.iter().all(|&b| is_text_byte(b)) {
        return true;
    }
    is_utf16(head)
}

fn is_utf16(h: &[u8]) -> bool {
    if h.len() < 2 {
        return false;
    }
    let (be, bom) = match (h[0], h[1]) {
        (0xff, 0xfe) => (false, true),
        (0xfe, 0xff) => (true, true),
        _ => (true, false),
    };
    let mut bad = 0;
    let mut i = 2;
    while i + 1 < h.len() {
        let c = if be {
            (h[i] as u32) << 8 | h[i + 1] as u32
        } else {
            (h[i + 1] as u32) << 8 | h[i] as u32
        };
        if c == 0xfffe {
            return false;
        }
        if c < 128 && !(is_text_byte(c as u8) && c != 0x7f) {
            if !bom {
                return false;
            }
            bad += 1;
        }
        i += 2;
    }
    !(bom && bad >= h.len() / 2)
}

/// Finds `pat` where its uppercase letters match either case and every
/// other byte matches exactly, as ClamAV's typing patterns are written
/// (`(46|66)726f6d3a20` is `From: ` with either `F` or `f`).
fn find_loose(h: &[u8], pat: &[u8]) -> Option<usize> {
    let (first, rest) = pat.split_first()?;
    let eq = |have: u8, want: u8| {
        if want.is_ascii_uppercase() {
            have.to_ascii_uppercase() == want
        } else {
            have == want
        }
    };
    (0..h.len()).filter(|&i| eq(h[i], *first)).find(|&i| {
        h.get(i + 1..i + pat.len())
            .is_some_and(|w| w.iter().zip(rest).all(|(a, b)| eq(*a, *b)))
    })
}

/// ClamAV also takes text (or data) for mail when, within its first
/// kilobyte, a line starting `From: `, `MIME-Version: `, `Message-Id: `
/// or `Received: ` is followed by a `Content-Type: ` (or `MIME-Version: `)
/// line, or `Delivered-To:` is followed within 256 bytes by `Received:`.
fn looks_like_mail(h: &[u8]) -> bool {
    let pairs: &[(&[u8], &[u8])] = &[
        (b"\nFrom: ", b"\nMIME-Version: "),
        (b"\nFrom: ", b"\nContent-Type: "),
        (b"\nMIME-Version: ", b"\nContent-Type: "),
        (b"\nMessage-Id: ", b"\nContent-Type: "),
        (b"\nReceived: ", b"\nContent-Type: "),
    ];
    let newline_led = memchr::memchr(b'\n', h).is_some();
    (newline_led
        && pairs.iter().any(|(a, b)| {
            find_loose(h, a)
                .is_some_and(|i| find_loose(&h[i + a.len()..], b).is_some())
        }))
        || memchr::memmem::find_iter(h, b"Delivered-To:").any(|i| {
            let after = &h[i + 13..];
            memchr::memmem::find(
                &after[..after.len().min(256 + 9)],
                b"Received:",
            )
            .is_some()
        })
}

/// ClamAV's "MHTML" type (which it scans as mail): `MIME-Version: ` at
/// the very start, a `Content-Type: ` line within a kilobyte.
fn looks_like_mhtml(h: &[u8]) -> bool {
    const MV: &[u8] = b"MIME-Version: ";
    h.len() > MV.len()
        && find_loose(&h[..MV.len()], MV) == Some(0)
        && find_loose(
            &h[MV.len()..h.len().min(MV.len() + 1024 + 15)],
            b"\nContent-Type: ",
        )
        .is_some()
}

/// ClamAV's MHTML marker anywhere in a text object: a line starting
/// `MIME-Version: ` and, within a kilobyte after it, one starting
/// `Content-Type: ` (the first letters of each word in either case).
pub(crate) fn has_mhtml_marker(data: &[u8]) -> bool {
    line_starts(data, b"MIME-V", b"ersion: ").any(|i| {
        let after = i + "MIME-Version: ".len();
        let window = &data[after..data.len().min(after + 1024 + 15)];
        line_starts(window, b"CONTENT-T", b"ype: ").next().is_some()
    })
}

/// Offsets of the lines of `data` (after an LF) that start with `word`
/// (its letters in either case) and then `rest`. Line starts are rare in
/// binary that passes for text, where a substring search would stop at
/// every other byte.
fn line_starts<'a>(
    data: &'a [u8],
    word: &'a [u8],
    rest: &'a [u8],
) -> impl Iterator<Item = usize> + 'a {
    memchr::memchr_iter(b'\n', data).map(|i| i + 1).filter(move |&i| {
        let w = &data[i..];
        w.len() >= word.len() + rest.len()
            && w.iter().zip(word).all(|(a, b)| a.to_ascii_uppercase() == *b)
            && w[word.len()..].starts_with(rest)
    })
}

/// ClamAV's HTML markers anywhere in a text object (its raw scan matches
/// them over the whole file, not only the first KiB typing looks at).
pub(crate) fn has_html_markers(data: &[u8]) -> bool {
    looks_like_html(data)
}

fn looks_like_html(h: &[u8]) -> bool {
    const TAGS: &[&[u8]] = &[
        b"<HEAD>", b"<HTML>", b"<Head>", b"<Html>", b"<IFRAME", b"<IMG",
        b"<Img", b"<OBJECT", b"<Object", b"<SCRIPT", b"<Script", b"<TABLE",
        b"<head>", b"<html>", b"<iframe", b"<img", b"<object", b"<script",
        b"<table",
    ];
    if h.starts_with(b"<%@ LANGUAGE =") {
        return true;
    }
    // One pass over the '<'s (this runs on every text object, whole): a
    // marker tag, or an anchor with an href anywhere after it.
    let mut anchor_seen = false;
    for i in memchr::memchr_iter(b'<', h) {
        let at = &h[i..];
        if TAGS.iter().any(|t| at.starts_with(t)) {
            return true;
        }
        if !anchor_seen && (at.starts_with(b"<a ") || at.starts_with(b"<A ")) {
            anchor_seen = true;
            let href = at[3..].windows(4).any(|w| {
                matches!(w[0], b'h' | b'H')
                    && matches!(w[1], b'r' | b'R')
                    && (&w[2..] == b"EF" || &w[2..] == b"ef")
            });
            if href {
                return true;
            }
        }
    }
    false
}

/// ClamAV's text normalisation for target-type 7 signatures: ASCII letters
/// lowered, runs of white space made one space, control characters and
/// bytes over 0x7f dropped.
pub(crate) fn normalize_text(data: &[u8]) -> Vec<u8> {
    // What each byte becomes: 0 = dropped, b' ' = white space (runs
    // collapse), anything else is copied.
    static MAP: [u8; 256] = {
        let mut t = [0u8; 256];
        let mut c = 0x21;
        while c <= 0x7f {
            t[c] = (c as u8).to_ascii_lowercase();
            c += 1;
        }
        let ws = [b'\t', b'\n', 0x0b, 0x0c, b'\r', b' '];
        let mut i = 0;
        while i < ws.len() {
            t[ws[i] as usize] = b' ';
            i += 1;
        }
        t
    };
    // Branch-free: every byte is written, and the length only advances
    // over bytes that stay (white space only after something else).
    let mut out = vec![0u8; data.len()];
    let mut n = 0;
    let mut after_space = false;
    for &c in data {
        let m = MAP[c as usize];
        let ws = m == b' ';
        if let Some(slot) = out.get_mut(n) {
            *slot = m;
        }
        n += usize::from(m != 0 && !(ws && after_space));
        after_space = ws || (after_space && m == 0);
    }
    out.truncate(n);
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn mhtml_marker_anywhere() {
        let mut t = b"X-Long: ".to_vec();
        t.resize(200_000, b'x');
        t.extend_from_slice(b"\nmime-Version: 1.0\nSubject: a\nContent-type: text/plain\n\nhi\n");
        assert!(has_mhtml_marker(&t));
        let far = [
            &b"\nMIME-Version: 1.0\n"[..],
            &[b'a'; 1100],
            b"\nContent-Type: x\n",
        ]
        .concat();
        assert!(!has_mhtml_marker(&far));
        assert!(!has_mhtml_marker(b"MIME-Version: 1.0\nContent-Type: x\n"));
    }
    use super::*;

    #[test]
    fn types() {
        assert_eq!(detect(b"Received: from x\r\n"), FileType::Mail);
        // ClamAV's MHTML: MIME-Version first, then Content-Type.
        assert_eq!(
            detect(b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nx"),
            FileType::Mhtml
        );
        assert_eq!(
            detect(b"MIME-Version:1.0\r\nContent-Type: text/plain\r\n\r\nx"),
            FileType::Text
        );
        assert_eq!(
            detect(b"X-Mailer: a\nFrom: b\nContent-Type: text/plain\n\nhi"),
            FileType::Mail
        );
        assert_eq!(detect(b"PK\x03\x04rest"), FileType::Zip);
        assert_eq!(detect(b"\x1f\x8b\x08"), FileType::Gzip);
        assert_eq!(detect(b"plain words\n"), FileType::Text);
        assert_eq!(detect(b"ab\x00\x01bin"), FileType::Binary);
        assert_eq!(detect(b"x <HTML> y"), FileType::Html);
        assert_eq!(detect(b"x <a target=x href=y>"), FileType::Html);
        assert_eq!(detect(b"x <Html y"), FileType::Text);
    }

    #[test]
    fn normalisation() {
        assert_eq!(
            normalize_text(b"Hello  \r\n\tWorld\x01\xff!"),
            b"hello world!"
        );
    }
}
