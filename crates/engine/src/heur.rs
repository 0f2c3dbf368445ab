//! Heuristic alerts: findings that are not signature matches, each named
//! like ClamAV's `Heuristics.*` where ClamAV has one, and each behind its
//! own switch so that an administrator can turn on only what suits the
//! site.
//!
//! A heuristic alert never stops the scan: a signature found anywhere in
//! the same input is reported instead (ClamAV's default, where
//! heuristics do not take precedence), and the first alert is reported
//! only when no signature matched.

use crate::verdict::Reason;

/// Which heuristics raise an alert. The defaults follow ClamAV's
/// (heuristics on, the noisy alerts off) and add the mail-specific ones
/// that have no legitimate use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heuristics {
    /// HeuristicAlerts: the master switch; off, no heuristic alerts at all.
    pub enabled: bool,
    /// AlertEncryptedArchive: `Heuristics.Encrypted.<Format>` for
    /// encrypted zip, 7z and RAR archives.
    pub encrypted_archive: bool,
    /// AlertEncryptedDoc: `Heuristics.Encrypted.PDF` (and OLE2) for
    /// encrypted documents.
    pub encrypted_doc: bool,
    /// AlertExceedsMax: `Heuristics.Limits.Exceeded.<Limit>` when a limit
    /// left something unscanned.
    pub exceeds_max: bool,
    /// AlertBrokenExecutables: `Heuristics.Broken.Executable` for PE files
    /// whose headers do not hold together.
    pub broken: bool,
    /// AlertOLE2Macros: `Heuristics.OLE2.ContainsMacros.VBA` for Office
    /// documents that carry VBA, `Heuristics.OLE2.ContainsMacros.XLM`
    /// for workbooks with an Excel 4.0 macro sheet.
    pub macros: bool,
    /// `Heuristics.Mail.Executable.<Kind>`: an attachment that is a
    /// program (PE, ELF, Mach-O, MSI, a script), whatever its name says.
    pub mail_executables: bool,
    /// `Heuristics.Mail.DoubleExtension` (`invoice.pdf.exe`) and
    /// `Heuristics.Mail.RightToLeftOverride` (U+202E turning
    /// `fdp.exe` into `exe.pdf` on screen) in attachment names.
    pub mail_name_tricks: bool,
    /// `Heuristics.Mail.TypeMismatch`: a program in an attachment whose
    /// declared type or name says document, image or text.
    pub mail_type_mismatch: bool,
    /// `Heuristics.Mail.Malformed.<What>`: mail whose MIME structure had
    /// to be repaired to be read (bare CR line ends, header syntax,
    /// disagreeing headers, encodings, boundaries), which mail clients
    /// may read differently. Off by default: such mail is scanned as
    /// repaired either way.
    pub mail_malformed: bool,
    /// PhishingScanURLs: the links of mail text parts checked against
    /// the phishing lists (`.pdb`, `.wdb`, `.gdb`) for
    /// `Heuristics.Phishing.*`. As in ClamAV, on by default and not
    /// under the master switch.
    pub phishing_scan_urls: bool,
    /// AlertPhishingSSLMismatch: an `https:` link shown over a plain one
    /// alerts (`Heuristics.Phishing.Email.SSL-Spoof`) on any domain, not
    /// only listed ones.
    pub phishing_ssl: bool,
    /// AlertPhishingCloak: a link hiding its host behind `%00` alerts
    /// (`Heuristics.Phishing.Email.Cloaked.Null`) on any domain.
    pub phishing_cloak: bool,
}

impl Default for Heuristics {
    fn default() -> Heuristics {
        Heuristics {
            enabled: true,
            encrypted_archive: false,
            encrypted_doc: false,
            exceeds_max: false,
            broken: false,
            macros: false,
            mail_executables: false,
            mail_name_tricks: true,
            mail_type_mismatch: true,
            mail_malformed: false,
            phishing_scan_urls: true,
            phishing_ssl: false,
            phishing_cloak: false,
        }
    }
}

/// One heuristic finding, before the switches decide whether it alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Heur {
    /// Encrypted content in an archive format.
    EncryptedArchive(&'static str),
    /// Encrypted document (PDF, OLE2).
    EncryptedDoc(&'static str),
    /// A zip whose entries share their data (the non-recursive bomb).
    ZipOverlapping,
    /// VBA in an OLE2 document.
    Macros,
    /// An Excel 4.0 macro sheet in an OLE2 workbook.
    XlmMacros,
    /// A PE whose headers do not hold together.
    BrokenExecutable,
    /// A mail attachment that is a program.
    MailExecutable(&'static str),
    /// `name.doc.exe`.
    DoubleExtension,
    /// U+202E in an attachment name.
    RightToLeftOverride,
    /// A program declared as something harmless.
    TypeMismatch,
    /// Mail whose MIME structure had to be repaired to be read.
    MailMalformed(&'static str),
    /// A PDF that writes a common name with `#xx` escapes.
    PdfObfuscatedName,
}

impl Heur {
    pub(crate) fn name(self) -> String {
        match self {
            Heur::EncryptedArchive(f) | Heur::EncryptedDoc(f) => {
                format!("Heuristics.Encrypted.{f}")
            }
            Heur::Macros => "Heuristics.OLE2.ContainsMacros.VBA".into(),
            Heur::XlmMacros => "Heuristics.OLE2.ContainsMacros.XLM".into(),
            Heur::BrokenExecutable => "Heuristics.Broken.Executable".into(),
            Heur::ZipOverlapping => "Heuristics.Zip.OverlappingFiles".into(),
            Heur::MailExecutable(k) => {
                format!("Heuristics.Mail.Executable.{k}")
            }
            Heur::DoubleExtension => "Heuristics.Mail.DoubleExtension".into(),
            Heur::RightToLeftOverride => {
                "Heuristics.Mail.RightToLeftOverride".into()
            }
            Heur::TypeMismatch => "Heuristics.Mail.TypeMismatch".into(),
            Heur::MailMalformed(what) => {
                format!("Heuristics.Mail.Malformed.{what}")
            }
            Heur::PdfObfuscatedName => {
                "Heuristics.PDF.ObfuscatedNameObject".into()
            }
        }
    }

    pub(crate) fn wanted(self, h: &Heuristics) -> bool {
        h.enabled
            && match self {
                Heur::EncryptedArchive(_) => h.encrypted_archive,
                Heur::EncryptedDoc(_) => h.encrypted_doc,
                Heur::Macros | Heur::XlmMacros => h.macros,
                Heur::BrokenExecutable => h.broken,
                // ClamAV reports it whenever heuristics are on.
                Heur::ZipOverlapping => true,
                Heur::MailExecutable(_) => h.mail_executables,
                Heur::DoubleExtension | Heur::RightToLeftOverride => {
                    h.mail_name_tricks
                }
                Heur::TypeMismatch => h.mail_type_mismatch,
                Heur::MailMalformed(_) => h.mail_malformed,
                // As ClamAV: whenever heuristics are on.
                Heur::PdfObfuscatedName => true,
            }
    }
}

/// The alert for a limit that left something unscanned, when
/// AlertExceedsMax is on.
pub(crate) fn exceeded(r: Reason, h: &Heuristics) -> Option<String> {
    let limit = matches!(
        r,
        Reason::ScanSizeLimit
            | Reason::FileSizeLimit
            | Reason::DepthLimit
            | Reason::FilesLimit
            | Reason::Timeout
    );
    (h.enabled && h.exceeds_max && limit)
        .then(|| format!("Heuristics.Limits.Exceeded.{}", r.as_str()))
}

/// Extensions Windows runs (or hands to a script host) on a double click.
const RUNNABLE: &[&str] = &[
    "exe", "scr", "com", "pif", "bat", "cmd", "vbs", "vbe", "js", "jse",
    "wsf", "wsh", "hta", "cpl", "msi", "msp", "lnk", "jar", "ps1", "reg",
];

/// Extensions of what people expect to open as a document, picture,
/// sound or archive: the bait in front of a runnable one.
const BAIT: &[&str] = &[
    "pdf", "doc", "docx", "xls", "xlsx", "ppt", "pptx", "odt", "rtf", "txt",
    "csv", "jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "mp3", "wav",
    "mp4", "avi", "mov", "zip", "rar", "7z", "htm", "html", "eml",
];

fn ext(name: &str) -> Option<&str> {
    let (stem, e) = name.rsplit_once('.')?;
    (!stem.is_empty()).then_some(e)
}

/// The name tricks in one attachment name.
pub(crate) fn name_tricks(name: &str) -> Option<Heur> {
    if name.contains('\u{202e}') {
        return Some(Heur::RightToLeftOverride);
    }
    let lower = name.trim().to_ascii_lowercase();
    let last = ext(&lower)?;
    if !RUNNABLE.contains(&last) {
        return None;
    }
    let stem = &lower[..lower.len() - last.len() - 1];
    // Blanks padding the bait out of the visible column count too.
    let stem = stem.trim_end_matches([' ', '_', '\u{a0}']);
    let bait = ext(stem)?;
    BAIT.contains(&bait).then_some(Heur::DoubleExtension)
}

/// What kind of program the bytes are, if any.
pub(crate) fn program_kind(data: &[u8]) -> Option<&'static str> {
    if data.starts_with(b"MZ") && crate::pe::pe_offset(data).is_some() {
        return Some("PE");
    }
    if data.starts_with(b"\x7fELF") {
        return Some("ELF");
    }
    let magic =
        data.get(..4).map(|m| u32::from_be_bytes(m.try_into().unwrap()));
    if matches!(magic, Some(0xfeedface | 0xfeedfacf | 0xcefaedfe | 0xcffaedfe))
    {
        return Some("MachO");
    }
    if data.starts_with(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1") && is_msi(data) {
        return Some("MSI");
    }
    if data.starts_with(b"#!/") || data.starts_with(b"#! /") {
        return Some("Script");
    }
    None
}

/// The root CLSID of Windows Installer packages (.msi).
pub(crate) const MSI_CLSID: &str = "000c1084-0000-0000-c000-000000000046";

/// True for an OLE2 file that is a Windows Installer package.
pub(crate) fn is_msi(data: &[u8]) -> bool {
    std::panic::catch_unwind(|| {
        cfb::CompoundFile::open(std::io::Cursor::new(data)).is_ok_and(|f| {
            f.root_entry().clsid().to_string().eq_ignore_ascii_case(MSI_CLSID)
        })
    })
    .unwrap_or(false)
}

/// Declared types and names that promise something that is not run.
pub(crate) fn declared_harmless(mimetype: &str, name: &str) -> bool {
    let t = mimetype.to_ascii_lowercase();
    let by_type = t.starts_with("text/")
        || t.starts_with("image/")
        || t.starts_with("audio/")
        || t.starts_with("video/")
        || t == "application/pdf"
        || t == "application/msword";
    let lower = name.trim().to_ascii_lowercase();
    let by_name = ext(&lower).is_some_and(|e| BAIT.contains(&e));
    by_type || by_name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_tricks_are_named() {
        assert_eq!(
            name_tricks("invoice.pdf.exe"),
            Some(Heur::DoubleExtension)
        );
        assert_eq!(
            name_tricks("Scan.JPG          .scr"),
            Some(Heur::DoubleExtension)
        );
        assert_eq!(
            name_tricks("photo\u{202e}gpj.exe"),
            Some(Heur::RightToLeftOverride)
        );
        for ok in [
            "setup.exe",
            "report.pdf",
            "archive.tar.gz",
            "v1.2.exe",
            ".pdf.exe",
            "notes.txt",
            "README",
        ] {
            assert_eq!(name_tricks(ok), None, "{ok}");
        }
    }

    #[test]
    fn programs_are_told_from_documents() {
        let mut pe = vec![0u8; 0x100];
        pe[..2].copy_from_slice(b"MZ");
        pe[0x3c] = 0x80;
        pe[0x80..0x84].copy_from_slice(b"PE\0\0");
        assert_eq!(program_kind(&pe), Some("PE"));
        // "MZ" text alone is not a program.
        assert_eq!(program_kind(b"MZ is a postcode prefix"), None);
        assert_eq!(program_kind(b"\x7fELF\x02\x01\x01"), Some("ELF"));
        assert_eq!(program_kind(b"\xcf\xfa\xed\xfe\x07"), Some("MachO"));
        assert_eq!(program_kind(b"#!/bin/sh\nrm -rf ~\n"), Some("Script"));
        assert_eq!(program_kind(b"%PDF-1.4"), None);
        assert!(declared_harmless("image/jpeg", "x"));
        assert!(declared_harmless("application/octet-stream", "cv.pdf"));
        assert!(!declared_harmless("application/octet-stream", "setup.exe"));
    }

    #[test]
    fn switches_gate_alerts() {
        let mut h = Heuristics::default();
        assert!(Heur::ZipOverlapping.wanted(&h));
        assert!(!Heur::EncryptedArchive("Zip").wanted(&h));
        assert_eq!(exceeded(Reason::FileSizeLimit, &h), None);
        h.exceeds_max = true;
        assert_eq!(
            exceeded(Reason::FileSizeLimit, &h).as_deref(),
            Some("Heuristics.Limits.Exceeded.MaxFileSize")
        );
        assert_eq!(exceeded(Reason::Encrypted, &h), None);
        h.enabled = false;
        assert!(!Heur::ZipOverlapping.wanted(&h));
        assert_eq!(exceeded(Reason::FileSizeLimit, &h), None);
    }
}
