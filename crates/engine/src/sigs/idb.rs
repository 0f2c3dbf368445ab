//! Icon signatures (`.idb`): `NAME:GROUP1:GROUP2:HASH`, the 124 hex
//! digits of an icon's metrics (`pe::icon`). An entry alerts on nothing
//! by itself; a logical signature of target 1 names its groups in
//! `IconGroup1`/`IconGroup2` and matches only on an executable one of
//! whose icons matches an entry of those groups.
//!
//! Lines are read as ClamAV 1.4 reads them, and what it refuses is an
//! error naming file and line: a field count other than four (an empty
//! line too), a hash of another length, a non-hex digit, a size other
//! than 16, 24 or 32, a value out of its range, more than 256 names in
//! either group list. A comment is a line starting with `#`.
//!
//! One difference: ClamAV keeps only the last `.idb` file it loads (each
//! replaces the icon signatures before it, in directory order); here the
//! entries of every file are kept.

use super::{LoadError, SignatureSet};
use crate::pe::icon::{Area, Metrics};

/// An `.idb` line (or file) that ClamAV refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdbError {
    /// A file with nothing in it, not even a comment.
    #[error("empty icon database")]
    Empty,
    /// A line of other than four fields.
    #[error("expected NAME:GROUP1:GROUP2:HASH")]
    Fields,
    /// A hash of another length.
    #[error("an icon hash is 124 hex digits")]
    HashLength,
    /// A hash that is not hex.
    #[error("an icon hash is hex digits only")]
    HashHex,
    /// A size ClamAV does not compare.
    #[error("an icon is 16, 24 or 32 pixels")]
    Side(u32),
    /// A value of the hash's part (`color`, `gray`, `bright`, `dark`,
    /// `edge`, `noedge`, `spread`) out of its range.
    #[error("bad {0} data")]
    Data(&'static str),
    /// More group names than a module's byte indexes.
    #[error("more than 256 icon groups")]
    TooManyGroups,
}

/// One entry: its metrics and the indices of its two group names.
#[derive(Clone, Debug)]
pub(crate) struct IdbSig {
    pub(crate) groups: [u8; 2],
    pub(crate) metrics: Metrics,
}

/// Reads an `.idb` file (or a container's member) into `set`.
pub(super) fn load(
    set: &mut SignatureSet,
    name: &str,
    bytes: &[u8],
) -> Result<(), LoadError> {
    let text = String::from_utf8_lossy(bytes);
    let bad = |line: usize, reason: IdbError| LoadError::Malformed {
        path: name.to_string(),
        line,
        reason: reason.into(),
    };
    if text.is_empty() {
        return Err(bad(0, IdbError::Empty));
    }
    for (i, raw) in text.lines().enumerate() {
        if raw.starts_with('#') {
            continue;
        }
        let line = raw.trim_end_matches(['\r', '\n']);
        let f: Vec<&str> = line.splitn(5, ':').collect();
        if f.len() != 4 {
            return Err(bad(i + 1, IdbError::Fields));
        }
        if f[3].len() != 124 {
            return Err(bad(i + 1, IdbError::HashLength));
        }
        if set.is_ignored(f[0], &super::md5_of(line)) {
            set.stats.ignored += 1;
            continue;
        }
        let metrics = parse_hash(f[3]).map_err(|r| bad(i + 1, r))?;
        let mut group = |k: usize| {
            let list = &mut set.icon_groups[k];
            match list.iter().position(|g| g == f[1 + k]) {
                Some(at) => at,
                None => {
                    list.push(f[1 + k].to_string());
                    list.len() - 1
                }
            }
        };
        let (g1, g2) = (group(0), group(1));
        if g1 > 255 || g2 > 255 {
            return Err(bad(i + 1, IdbError::TooManyGroups));
        }
        set.stats.icons += 1;
        set.row(name, None).loaded += 1;
        set.icons.push(IdbSig { groups: [g1 as u8, g2 as u8], metrics });
    }
    Ok(())
}

/// The metrics an `.idb` hash holds, checked as ClamAV checks them.
pub(crate) fn parse_hash(hash: &str) -> Result<Metrics, IdbError> {
    let digits: Vec<u32> = hash
        .chars()
        .map(|c| c.to_digit(16))
        .collect::<Option<_>>()
        .ok_or(IdbError::HashHex)?;
    let mut at = 0;
    let mut take = |n: usize| {
        let v = digits[at..at + n].iter().fold(0, |v, d| v * 16 + d);
        at += n;
        v
    };
    let side = take(2);
    if !matches!(side, 16 | 24 | 32) {
        return Err(IdbError::Side(side));
    }
    let lim = side - side / 8;
    let mut areas = |avg_digits: usize, max_avg: u32, what| {
        let mut out = [Area::default(); 3];
        for a in &mut out {
            *a = Area { avg: take(avg_digits), x: take(2), y: take(2) };
            if a.avg > max_avg || a.x > lim || a.y > lim {
                return Err(IdbError::Data(what));
            }
        }
        Ok(out)
    };
    let color = areas(3, 4072, "color")?;
    let gray = areas(3, 4072, "gray")?;
    let bright = areas(2, 255, "bright")?;
    let dark = areas(2, 255, "dark")?;
    let edge = areas(2, 255, "edge")?;
    let noedge = areas(2, 255, "noedge")?;
    let (rsum, gsum, bsum, ccount) = (take(2), take(2), take(2), take(2));
    if rsum + gsum + bsum > 103 || ccount > 100 {
        return Err(IdbError::Data("spread"));
    }
    Ok(Metrics {
        side,
        color,
        gray,
        bright,
        dark,
        edge,
        noedge,
        rsum,
        gsum,
        bsum,
        ccount,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ClamAV's own icon signature for a 16-pixel black-and-white icon.
    const SIG00: &str = "100620a0b05b0307055060b0350a0b0480307051060b8407008402058308058000008104098109096d020b6b0a046306031800001f040035080000000000";

    #[test]
    fn hashes_read_back_as_written() {
        let m = parse_hash(SIG00).unwrap();
        assert_eq!(m.side, 16);
        assert_eq!(m.color[0], Area { avg: 0x62, x: 0x0a, y: 0x0b });
        assert_eq!(m.hex(), SIG00);
    }

    #[test]
    fn lines_clamav_refuses_are_errors() {
        let line = |h: &str| format!("N:G1:G2:{h}\n");
        let load = |text: String| {
            let mut set = SignatureSet::new();
            load(&mut set, "x.idb", text.as_bytes()).map(|_| set)
        };
        let set =
            load(format!("# note\n{}{}", line(SIG00), line(SIG00))).unwrap();
        assert_eq!(set.icons.len(), 2);
        assert_eq!(set.icon_groups[0], ["G1"]);
        let mut wrong = SIG00.to_string();
        for (at, with, why) in [
            (0, "20", "ok"),
            (0, "11", "an icon is 16, 24 or 32 pixels"),
            (2, "ff", "bad color data"),
            (116, "ff", "bad spread data"),
            (5, "g", "hex digits only"),
        ] {
            wrong.replace_range(at..at + with.len(), with);
            let r = load(line(&wrong));
            if why == "ok" {
                assert!(r.is_ok(), "{wrong}");
            } else {
                assert!(r.unwrap_err().to_string().contains(why), "{why}");
            }
            wrong = SIG00.to_string();
        }
        for bad in ["", "\n", "N:G1:G2\n", "N:G1:G2:H:X\n"] {
            assert!(load(bad.to_string()).is_err(), "{bad:?}");
        }
        assert!(load(line(&SIG00[..123])).is_err());
        let many: String =
            (0..257).map(|i| format!("N:G{i}:G:{SIG00}\n")).collect();
        assert!(load(many).unwrap_err().to_string().contains("256"));
    }

    /// What a refused file says: file, line and reason.
    #[test]
    fn refusals_keep_their_texts() {
        let why = |text: &str| {
            let mut set = SignatureSet::new();
            load(&mut set, "x.idb", text.as_bytes()).unwrap_err().to_string()
        };
        assert_eq!(
            why(""),
            "invalid signature at x.idb:0: empty icon database"
        );
        let with = |at: usize, put: &str| {
            let mut h = SIG00.to_string();
            h.replace_range(at..at + put.len(), put);
            format!("N:G1:G2:{h}\n")
        };
        let many: String =
            (0..257).map(|i| format!("N:G{i}:G:{SIG00}\n")).collect();
        for (text, reason) in [
            ("N:G1:G2\n".to_string(), "expected NAME:GROUP1:GROUP2:HASH"),
            (
                format!("N:G1:G2:{}\n", &SIG00[1..]),
                "an icon hash is 124 hex digits",
            ),
            (with(5, "g"), "an icon hash is hex digits only"),
            (with(0, "11"), "an icon is 16, 24 or 32 pixels"),
            (with(2, "ff"), "bad color data"),
            (with(23, "ff"), "bad gray data"),
            (with(46, "ff"), "bad bright data"),
            (with(64, "ff"), "bad dark data"),
            (with(82, "ff"), "bad edge data"),
            (with(100, "ff"), "bad noedge data"),
            (with(116, "ff"), "bad spread data"),
        ] {
            assert_eq!(
                why(&text),
                format!("invalid signature at x.idb:1: {reason}"),
                "{text}"
            );
        }
        assert_eq!(
            why(&many),
            "invalid signature at x.idb:257: more than 256 icon groups"
        );
    }
}
