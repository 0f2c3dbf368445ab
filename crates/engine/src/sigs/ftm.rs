//! File-type magic (`.ftm`): database lines that tell a file's type by
//! bytes at a fixed offset, as ClamAV 1.4 reads them.
//!
//! `MagicType:Offset:HexMagic:Description:RequiredType:DetectedType
//! [:MinFL[:MaxFL]]`
//!
//! - Mode 0 compares the bytes at `Offset` of the object's first KiB;
//!   the line loaded last is tried first, and the first that matches
//!   types the object. ClamAV lets a database's lines replace its own
//!   built-in table; here they are tried before the built-in typing,
//!   which still types whatever they do not (a small third-party `.ftm`
//!   would otherwise leave zips and mail untyped). A type this engine
//!   does not open (`CL_TYPE_RIFF`, `CL_TYPE_LNK`…) still ends the search:
//!   the object is scanned as plain data, as ClamAV scans it raw. So is
//!   `CL_TYPE_IGNORED`, which ClamAV does not scan at all: a magic number
//!   at the start is no reason to let a payload behind it through.
//! - Mode 1 is a body pattern that retypes text or marks an embedded
//!   file while the object is scanned, mode 4 a partition's magic:
//!   neither is used here (the built-in typing does the first, and
//!   types a partition as ClamAV's own two mode-4 lines do, HFS+ and
//!   HFSX); each line is counted as unsupported.
//!
//! A line ClamAV refuses (wrong field count, an unknown type name, an
//! offset, mode or level that is not a number, hex it cannot decode) is
//! an error, as is a file that defines no type at all. Numbers are read
//! as ClamAV reads them: digits only, an empty field being 0; a maximum
//! level is only looked at once the minimum has passed.

use super::error::LevelError;
use super::{LoadError, NdbError, SignatureSet, decode_hex};
use crate::filetype::CLAMAV_TYPES;

/// A `.ftm` line (or file) that ClamAV refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FtmError {
    /// A line of fewer than 6 fields or more than 8.
    #[error("a file-type magic line has 6 to 8 fields, not {0}")]
    Fields(usize),
    /// A functionality level that is not digits.
    #[error(transparent)]
    Level(#[from] LevelError),
    /// A required or detected type ClamAV does not know.
    #[error("unknown file type '{0}'")]
    FileType(String),
    /// A mode that is not digits.
    #[error("invalid magic type '{0}'")]
    MagicType(String),
    /// A mode 0 or 4 offset that is not digits.
    #[error("invalid offset '{0}'")]
    Offset(String),
    /// A mode 0 or 4 magic that is not hex bytes.
    #[error("invalid hex string '{0}'")]
    Hex(String),
    /// A mode 1 body pattern (read as an `.ndb` line would be).
    #[error(transparent)]
    Pattern(#[from] NdbError),
    /// A file that defines no type: ClamAV would be left with none.
    #[error(
        "no file type is defined (ClamAV refuses an empty file-type database)"
    )]
    NothingDefined,
}

/// One mode 0 line.
#[derive(Clone, Debug)]
pub(crate) struct FtmSig {
    /// Where in the object the bytes are compared.
    pub(crate) offset: u32,
    /// May be empty: it then matches every object that long.
    pub(crate) magic: Vec<u8>,
    /// The type it gives, as an index into [`CLAMAV_TYPES`].
    pub(crate) kind: u16,
}

/// What one line is.
enum FtmLine {
    Magic(FtmSig),
    /// Read as ClamAV reads it, but not used by this engine: why.
    Unsupported(&'static str),
    /// Outside this engine's functionality level.
    OutsideLevel,
    /// A mode ClamAV reads past without loading.
    UnknownMode,
}

/// Reads a `.ftm` file (or a container's member) into `set`.
pub(super) fn load(
    set: &mut SignatureSet,
    name: &str,
    bytes: &[u8],
) -> Result<(), LoadError> {
    let text = String::from_utf8_lossy(bytes);
    let mut defined = 0usize;
    let mut last = 0;
    for (i, raw) in text.lines().enumerate() {
        last = i + 1;
        // ClamAV skips comments only: an empty line is malformed.
        if raw.starts_with('#') {
            continue;
        }
        let line = raw.trim_end_matches('\r');
        let parsed = parse(line).map_err(|reason| LoadError::Malformed {
            path: name.to_string(),
            line: i + 1,
            reason: reason.into(),
        })?;
        match parsed {
            FtmLine::Magic(m) => {
                defined += 1;
                set.stats.file_types += 1;
                set.row(name, None).loaded += 1;
                set.magics.push(m);
            }
            FtmLine::Unsupported(why) => {
                defined += 1;
                set.unsupported_in(name, None, why);
                if line.starts_with("1:")
                    && let Some(t) = line.split(':').nth(5)
                {
                    set.ftm_types.push(t.to_string());
                }
            }
            FtmLine::OutsideLevel => set.skipped(name, None),
            FtmLine::UnknownMode => {}
        }
    }
    set.has_ftm |= defined > 0;
    if defined == 0 {
        return Err(LoadError::Malformed {
            path: name.to_string(),
            line: last,
            reason: FtmError::NothingDefined.into(),
        });
    }
    Ok(())
}

fn parse(line: &str) -> Result<FtmLine, FtmError> {
    let f: Vec<&str> = line.split(':').collect();
    if !(6..=8).contains(&f.len()) {
        return Err(FtmError::Fields(f.len()));
    }
    // ClamAV's cli_isnumber and atoi: digits only, "" is 0.
    let number = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let value = |s: &str| {
        s.parse::<u64>().unwrap_or(if s.is_empty() { 0 } else { u64::MAX })
    };
    if let Some(min) = f.get(6) {
        if !number(min) {
            return Err(LevelError(min.to_string()).into());
        }
        if value(min) > u64::from(super::FLEVEL) {
            return Ok(FtmLine::OutsideLevel);
        }
    }
    if let Some(max) = f.get(7) {
        if !number(max) {
            return Err(LevelError(max.to_string()).into());
        }
        if value(max) < u64::from(super::FLEVEL) {
            return Ok(FtmLine::OutsideLevel);
        }
    }
    for t in [f[4], f[5]] {
        if !CLAMAV_TYPES.contains(&t) {
            return Err(FtmError::FileType(t.to_string()));
        }
    }
    if !number(f[0]) {
        return Err(FtmError::MagicType(f[0].to_string()));
    }
    match value(f[0]) {
        mode @ (0 | 4) => {
            if !number(f[1]) {
                return Err(FtmError::Offset(f[1].to_string()));
            }
            let magic = decode_hex(f[2])
                .ok_or_else(|| FtmError::Hex(f[2].to_string()))?;
            if mode == 4 {
                return Ok(FtmLine::Unsupported(
                    "partition-table magic (.ftm mode 4)",
                ));
            }
            // No object typing looks at is anywhere near that far.
            let offset = u32::try_from(value(f[1])).unwrap_or(u32::MAX);
            let kind =
                CLAMAV_TYPES.iter().position(|t| *t == f[5]).unwrap_or(0)
                    as u16;
            Ok(FtmLine::Magic(FtmSig { offset, magic, kind }))
        }
        1 => {
            // Refused as the body pattern it is, or counted.
            super::parse_ndb(&format!("ftm:0:{}:{}", f[1], f[2]))?;
            Ok(FtmLine::Unsupported(
                "file-type pattern (.ftm mode 1): typing is built in",
            ))
        }
        _ => Ok(FtmLine::UnknownMode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Database, Scanner};

    fn load_one(text: &str) -> Result<SignatureSet, LoadError> {
        let mut set = SignatureSet::new();
        set.load_bytes("x.ftm", text.as_bytes())?;
        Ok(set)
    }

    fn type_of(k: u16) -> &'static str {
        CLAMAV_TYPES[usize::from(k)]
    }

    #[test]
    fn mode_0_lines_load_in_order() {
        let set = load_one(
            "# comment\n0:0:4e4f4433:NOD3:CL_TYPE_ANY:CL_TYPE_ZIP\n\
             0:8::Any:CL_TYPE_ANY:CL_TYPE_HTML:1:999\n\
             0:0:4E4F:Lnk:CL_TYPE_ANY:CL_TYPE_LNK\n",
        )
        .unwrap();
        assert_eq!(set.magics.len(), 3);
        assert_eq!(set.magics[0].magic, b"NOD3");
        assert_eq!(type_of(set.magics[0].kind), "CL_TYPE_ZIP");
        assert_eq!(set.magics[1].offset, 8);
        assert_eq!(type_of(set.magics[1].kind), "CL_TYPE_HTML");
        assert_eq!(type_of(set.magics[2].kind), "CL_TYPE_LNK");
        assert_eq!(set.stats.file_types, 3);
    }

    /// Numbers as clamscan 1.4 reads them: an empty mode, offset or
    /// minimum level is 0, an empty maximum level 0 too (so the line is
    /// for no level), and past a minimum above ours the maximum is not
    /// looked at. Checked with clamscan: each loads the database.
    #[test]
    fn numbers_are_read_as_clamav_reads_them() {
        let set = load_one(
            ":0:41424344:A:CL_TYPE_ANY:CL_TYPE_ZIP\n\
             0::41424345:B:CL_TYPE_ANY:CL_TYPE_ZIP\n\
             0:0:41424346:C:CL_TYPE_ANY:CL_TYPE_ZIP:\n\
             0:0:41424347:D:CL_TYPE_ANY:CL_TYPE_ZIP::\n\
             0:0:41424348:E:CL_TYPE_ANY:CL_TYPE_ZIP:999:x\n",
        )
        .unwrap();
        let magics: Vec<&[u8]> =
            set.magics.iter().map(|m| &m.magic[..]).collect();
        assert_eq!(magics, [b"ABCD", b"ABCE", b"ABCF"]);
        assert!(set.magics.iter().all(|m| m.offset == 0));
        assert_eq!(set.stats.skipped_flevel, 2);
    }

    /// Each of these clamscan 1.4 refuses too ("Malformed database").
    #[test]
    fn lines_clamav_refuses_are_errors() {
        for bad in [
            "0:0:4e4f4433:NOD3:CL_TYPE_ANY:CL_TYPE_ZIP\n\n",
            "x:0:4e4f4433:NOD3:CL_TYPE_ANY:CL_TYPE_ZIP\n",
            "0:0:4e4f4433:NOD3:CL_TYPE_ANY:CL_TYPE_FOO\n",
            "0:0:4e4f443:NOD3:CL_TYPE_ANY:CL_TYPE_ZIP\n",
            "0:*:4e4f4433:NOD3:CL_TYPE_ANY:CL_TYPE_ZIP\n",
            "0: 0:4e4f4433:NOD3:CL_TYPE_ANY:CL_TYPE_ZIP\n",
            "0:0:4e4f4433:NOD3:CL_TYPE_ANY:CL_TYPE_ZIP:1:x\n",
            "0:0:4e4f4433:NOD3:CL_TYPE_ANY:CL_TYPE_ZIP:x\n",
            "0:0:4e4f??33:NOD3:CL_TYPE_ANY:CL_TYPE_ZIP\n",
            "0:0:+f4f4433:NOD3:CL_TYPE_ANY:CL_TYPE_ZIP\n",
            "0:0:4e4f4433:NOD3:CL_TYPE_ANY\n",
            // Nothing defined: only a comment, an unknown mode, or a
            // line for a later functionality level.
            "# c\n",
            "3:0:4e4f4433:NOD3:CL_TYPE_ANY:CL_TYPE_ZIP\n",
            "0:0:4e4f4433:NOD3:CL_TYPE_ANY:CL_TYPE_ZIP:300\n",
        ] {
            assert!(
                matches!(load_one(bad), Err(LoadError::Malformed { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn modes_not_used_are_counted_and_named() {
        let set = load_one(
            "1:*:3c68746d6c3e:HTML:CL_TYPE_TEXT_ASCII:CL_TYPE_HTML\n\
             4:1024:482b0004:HFS+:CL_TYPE_ANY:CL_TYPE_PART_HFSPLUS\n",
        )
        .unwrap();
        assert!(set.magics.is_empty());
        assert_eq!(set.stats.unsupported.values().sum::<usize>(), 2);
        let w = set.stats.unsupported_warning().unwrap();
        assert!(w.contains("mode 1") && w.contains("mode 4"), "{w}");
        assert!(
            load_one("1:*:3c68746d{-1}:H:CL_TYPE_ANY:CL_TYPE_HTML\n").is_err()
        );
    }

    fn found(ftm: &str, data: &[u8]) -> Option<String> {
        let mut set = SignatureSet::new();
        set.load_bytes(
            "d.ndb",
            b"Html.Mark:3:*:6e6f646d61726b\nRaw.Payload:0:*:6e6f647061796c6f6164\n",
        )
        .unwrap();
        set.load_bytes("x.ftm", ftm.as_bytes()).unwrap();
        let db = Database::from_signatures(&set).unwrap();
        match Scanner::new(&db).scan_bytes(data).verdict {
            crate::Verdict::Infected { name, .. } => Some(name),
            _ => None,
        }
    }

    /// The first line that matches types the object, whatever the type:
    /// one this engine does not open ends the search too, and the object
    /// is scanned as plain data, as ClamAV scans it raw.
    #[test]
    fn a_type_not_opened_still_ends_the_search() {
        let page = b"QAB <p>some words nodmark more words</p>\n";
        let html = "0:0:514142:A:CL_TYPE_ANY:CL_TYPE_HTML\n";
        assert_eq!(found(html, page).as_deref(), Some("Html.Mark"));
        let lnk = format!("{html}0:0:5141:B:CL_TYPE_ANY:CL_TYPE_LNK\n");
        assert_eq!(found(&lnk, page), None);
        // Loaded first, the LNK line is tried last.
        let first = format!("0:0:5141:B:CL_TYPE_ANY:CL_TYPE_LNK\n{html}");
        assert_eq!(found(&first, page).as_deref(), Some("Html.Mark"));
        // ClamAV skips an object it types as ignored; here its bytes are
        // still scanned.
        let ignored = "0:0:494433:MP3:CL_TYPE_ANY:CL_TYPE_IGNORED\n";
        assert_eq!(
            found(ignored, b"ID3\x03\x00 nodpayload tail").as_deref(),
            Some("Raw.Payload")
        );
    }

    /// What a refused line says after the file and line.
    #[test]
    fn refusals_keep_their_texts() {
        let why = |l: &str| match parse(l) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{l} accepted"),
        };
        for (line, text) in [
            ("0:0:41", "a file-type magic line has 6 to 8 fields, not 3"),
            (
                "0:0:41:D:CL_TYPE_ANY:CL_TYPE_ZIP:x",
                "invalid functionality level 'x'",
            ),
            (
                "0:0:41:D:CL_TYPE_ANY:CL_TYPE_ZIP:1:y",
                "invalid functionality level 'y'",
            ),
            (
                "0:0:41:D:CL_TYPE_ANY:CL_TYPE_NO",
                "unknown file type 'CL_TYPE_NO'",
            ),
            ("x:0:41:D:CL_TYPE_ANY:CL_TYPE_ZIP", "invalid magic type 'x'"),
            ("0:*:41:D:CL_TYPE_ANY:CL_TYPE_ZIP", "invalid offset '*'"),
            ("0:0:4:D:CL_TYPE_ANY:CL_TYPE_ZIP", "invalid hex string '4'"),
            (
                "1:*:3c68746d{-1}:H:CL_TYPE_ANY:CL_TYPE_HTML",
                "a signature may not start or end with a gap",
            ),
        ] {
            assert_eq!(why(line), text, "{line}");
        }
        assert_eq!(
            load_one("# c\n").unwrap_err().to_string(),
            "invalid signature at x.ftm:1: no file type is defined (ClamAV \
             refuses an empty file-type database)"
        );
    }
}
