//! CVD/CLD/CUD containers: a 512-byte `ClamAV-VDB:` header, then a tar
//! archive (gzip-compressed in a `.cvd`, plain in most `.cld`s).
//!
//! The header's MD5 of the body is checked here; the RSA signature is the
//! updater's business (it decides what may replace a database).

use std::io::Read;

use md5::{Digest, Md5};

use super::SignatureSet;
use crate::LoadError;

/// The parsed header fields this engine uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CvdHeader {
    /// Database version (the daily counter).
    pub version: u32,
    /// Number of signatures the builder counted.
    pub sigs: u32,
    /// Minimum functionality level required.
    pub flevel: u32,
    /// MD5 of the body in hex, when present.
    pub md5: Option<String>,
    /// Unix build time.
    pub build_time: u64,
}

/// Why bytes are not a database container.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CvdError {
    /// Fewer than 512 bytes.
    #[error("shorter than the 512-byte header")]
    Short,
    /// The header does not start `ClamAV-VDB:` with its fields.
    #[error("no ClamAV-VDB header")]
    NoHeader,
    /// A numeric header field (version, signatures, level) is not one.
    #[error("header field {0} is not a number")]
    Field(usize),
    /// The body is not a (gzipped) tar archive.
    #[error("{part}: {cause}")]
    Body {
        /// Which part: `gzip body`, `tar body`, `tar member NAME`.
        part: String,
        /// What reading it said.
        cause: std::io::Error,
    },
}

/// Largest body accepted: official daily/main are well under this.
const MAX_UNPACKED: u64 = 1 << 30;

/// Parses the 512-byte header.
///
/// # Errors
/// A short file or a header without the `ClamAV-VDB` magic.
pub fn parse_header(bytes: &[u8]) -> Result<CvdHeader, CvdError> {
    let head = bytes.get(..512).ok_or(CvdError::Short)?;
    let text = String::from_utf8_lossy(head);
    let f: Vec<&str> = text.trim_end_matches(['\0', ' ']).split(':').collect();
    if f.first() != Some(&"ClamAV-VDB") || f.len() < 6 {
        return Err(CvdError::NoHeader);
    }
    let num = |i: usize| -> Result<u32, CvdError> {
        f.get(i).and_then(|s| s.trim().parse().ok()).ok_or(CvdError::Field(i))
    };
    let md5 =
        f.get(5).filter(|s| s.len() == 32).map(|s| s.to_ascii_lowercase());
    let build_time = f.get(8).and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    Ok(CvdHeader {
        version: num(2)?,
        sigs: num(3)?,
        flevel: num(4)?,
        md5,
        build_time,
    })
}

/// The members (name, content) of a CVD/CLD/CUD, in archive order: the
/// body after the 512-byte header, gunzipped unless it is a plain tar
/// (which starts with its first member, `COPYING`). The header's MD5 is
/// not checked here (see [`load`] and the updater).
///
/// # Errors
/// No header, or a body that is not a (gzipped) tar.
pub fn members(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, CvdError> {
    let failed = |part: &str| {
        let part = part.to_string();
        move |cause| CvdError::Body { part, cause }
    };
    parse_header(bytes)?;
    let body = &bytes[512..];
    let mut tarball = Vec::new();
    if body.starts_with(b"COPYING") {
        tarball.extend_from_slice(body);
    } else {
        flate2::read::GzDecoder::new(body)
            .take(MAX_UNPACKED)
            .read_to_end(&mut tarball)
            .map_err(failed("gzip body"))?;
    }
    let mut archive = tar::Archive::new(tarball.as_slice());
    let entries = archive.entries().map_err(failed("tar body"))?;
    let mut members = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(failed("tar body"))?;
        let member = entry
            .path()
            .map_err(failed("tar member name"))?
            .to_string_lossy()
            .into_owned();
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .map_err(failed(&format!("tar member {member}")))?;
        members.push((member, data));
    }
    Ok(members)
}

pub(crate) fn load(
    set: &mut SignatureSet,
    name: &str,
    bytes: &[u8],
) -> Result<(), LoadError> {
    let bad = |reason: String| LoadError::Container {
        path: name.to_string(),
        reason,
    };
    let header = parse_header(bytes).map_err(|e| bad(e.to_string()))?;
    let body = &bytes[512..];
    if let Some(want) = &header.md5 {
        let got: String =
            Md5::digest(body).iter().map(|b| format!("{b:02x}")).collect();
        if &got != want {
            return Err(bad(format!(
                "body MD5 {got} does not match the header's {want}"
            )));
        }
    }
    let mut members = members(bytes).map_err(|e| bad(e.to_string()))?;
    // Ignore lists first, as for a directory.
    members
        .sort_by_key(|(m, _)| !(m.ends_with(".ign") || m.ends_with(".ign2")));
    let stem = name.rsplit('/').next().unwrap_or(name);
    for (member, data) in members {
        if super::kind_of(&member).is_none() || member.ends_with(".info") {
            continue;
        }
        set.load_file(&format!("{stem}/{member}"), &data)?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn build(files: &[(&str, &[u8])], gzip: bool) -> Vec<u8> {
        build_version(files, gzip, 42)
    }

    /// A container of `files` whose header says `version`.
    pub(crate) fn build_version(
        files: &[(&str, &[u8])],
        gzip: bool,
        version: u32,
    ) -> Vec<u8> {
        let mut tarball = Vec::new();
        {
            let mut b = tar::Builder::new(&mut tarball);
            for (name, data) in
                [("COPYING", &b"licence"[..])].iter().chain(files)
            {
                let mut h = tar::Header::new_gnu();
                h.set_size(data.len() as u64);
                h.set_mode(0o644);
                h.set_cksum();
                b.append_data(&mut h, name, *data).unwrap();
            }
            b.finish().unwrap();
        }
        let body = if gzip {
            let mut e = flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::fast(),
            );
            std::io::Write::write_all(&mut e, &tarball).unwrap();
            e.finish().unwrap()
        } else {
            tarball
        };
        let md5: String =
            Md5::digest(&body).iter().map(|b| format!("{b:02x}")).collect();
        let mut head =
            format!("ClamAV-VDB:28 Nov 2026 10-00 +0000:{version}:2:90:{md5}:x:test:1795000000")
                .into_bytes();
        head.resize(512, b' ');
        head.extend(body);
        head
    }

    #[test]
    fn reads_members_and_checks_md5() {
        for gzip in [true, false] {
            let cvd = build(
                &[
                    ("t.ndb", b"A:0:*:41424344\n"),
                    ("t.hdb", b"44d88612fea8a8f36de82e1278abb02f:68:E\n"),
                ],
                gzip,
            );
            let h = parse_header(&cvd).unwrap();
            assert_eq!((h.version, h.sigs, h.flevel), (42, 2, 90));
            let mut s = SignatureSet::new();
            s.load_bytes("daily.cvd", &cvd).unwrap();
            assert_eq!((s.ndbs.len(), s.hashes.len()), (1, 1));
            let mut broken = cvd.clone();
            let last = broken.len() - 1;
            broken[last] ^= 1;
            let e = SignatureSet::new()
                .load_bytes("daily.cvd", &broken)
                .unwrap_err();
            assert!(e.to_string().contains("MD5"), "{e}");
        }
        assert!(parse_header(b"junk").is_err());
    }
}
