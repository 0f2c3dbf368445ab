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
//!   would otherwise leave zips and mail untyped).
//! - Mode 1 is a body pattern that retypes text or marks an embedded
//!   file while the object is scanned, mode 4 a partition table's
//!   magic: neither is used here (the built-in typing does the first,
//!   issue 27 the second); each line is counted as unsupported.
//!
//! A line ClamAV refuses (wrong field count, an unknown type name, an
//! offset or mode that is not a number, hex of odd length) is an error,
//! as is a file that defines no type at all.

use super::{LoadError, SignatureSet, decode_hex, flevel_ok};
use crate::filetype::{CLAMAV_TYPES, FileType};

/// One mode 0 line.
#[derive(Clone, Debug)]
pub(crate) struct FtmSig {
    /// Where in the object the bytes are compared.
    pub(crate) offset: u32,
    /// May be empty: it then matches every object that long.
    pub(crate) magic: Vec<u8>,
    pub(crate) kind: FileType,
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
            reason,
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
                set.unsupported_in(name, None, why.to_string());
            }
            FtmLine::OutsideLevel => set.skipped(name, None),
            FtmLine::UnknownMode => {}
        }
    }
    if defined == 0 {
        return Err(LoadError::Malformed {
            path: name.to_string(),
            line: last,
            reason: "no file type is defined (ClamAV refuses an empty \
                     file-type database)"
                .into(),
        });
    }
    Ok(())
}

fn parse(line: &str) -> Result<FtmLine, String> {
    let f: Vec<&str> = line.split(':').collect();
    if !(6..=8).contains(&f.len()) {
        return Err(format!(
            "a file-type magic line has 6 to 8 fields, not {}",
            f.len()
        ));
    }
    let number =
        |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    for level in f.iter().skip(6) {
        if !number(level) {
            return Err(format!("invalid functionality level '{level}'"));
        }
    }
    if !flevel_ok(f.get(6).copied(), f.get(7).copied())? {
        return Ok(FtmLine::OutsideLevel);
    }
    for t in [f[4], f[5]] {
        if !CLAMAV_TYPES.contains(&t) {
            return Err(format!("unknown file type '{t}'"));
        }
    }
    let detected = f[5];
    if !number(f[0]) {
        return Err(format!("invalid magic type '{}'", f[0]));
    }
    let mode: u64 = f[0].parse().unwrap_or(u64::MAX);
    match mode {
        0 | 4 => {
            if !number(f[1]) {
                return Err(format!("invalid offset '{}'", f[1]));
            }
            let magic = decode_hex(f[2])
                .ok_or_else(|| format!("invalid hex string '{}'", f[2]))?;
            if mode == 4 {
                return Ok(FtmLine::Unsupported(
                    "partition-table magic (.ftm mode 4)",
                ));
            }
            // No object typing looks at is anywhere near that far.
            let offset = f[1].parse().unwrap_or(u32::MAX);
            Ok(match FileType::from_clamav_name(detected) {
                Some(kind) => FtmLine::Magic(FtmSig { offset, magic, kind }),
                None => FtmLine::Unsupported(
                    "file-type magic (.ftm) for a type not opened here",
                ),
            })
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

    fn load_one(text: &str) -> Result<SignatureSet, LoadError> {
        let mut set = SignatureSet::new();
        set.load_bytes("x.ftm", text.as_bytes())?;
        Ok(set)
    }

    #[test]
    fn mode_0_lines_load_in_order() {
        let set = load_one(
            "# comment\n0:0:4e4f4433:NOD3:CL_TYPE_ANY:CL_TYPE_ZIP\n\
             0:8::Any:CL_TYPE_ANY:CL_TYPE_HTML:1:999\n",
        )
        .unwrap();
        assert_eq!(set.magics.len(), 2);
        assert_eq!(set.magics[0].magic, b"NOD3");
        assert_eq!(set.magics[0].kind, FileType::Zip);
        assert_eq!(
            (set.magics[1].offset, set.magics[1].kind),
            (8, FileType::Html)
        );
        assert_eq!(set.stats.file_types, 2);
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
             4:1024:482b0004:HFS+:CL_TYPE_ANY:CL_TYPE_PART_HFSPLUS\n\
             0:0:4c0000000114020000000000c000000000000046:LNK:CL_TYPE_ANY:CL_TYPE_LNK\n",
        )
        .unwrap();
        assert!(set.magics.is_empty());
        assert_eq!(set.stats.unsupported.values().sum::<usize>(), 3);
        let w = set.stats.unsupported_warning().unwrap();
        assert!(w.contains("mode 1") && w.contains("mode 4"), "{w}");
        assert!(
            load_one("1:*:3c68746d{-1}:H:CL_TYPE_ANY:CL_TYPE_HTML\n").is_err()
        );
    }
}
