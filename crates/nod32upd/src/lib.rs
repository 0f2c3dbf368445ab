//! nod32upd: keeps the ClamAV databases current and builds the loading
//! module the agents map. Each configured database is checked against
//! the servers in order (only its 512-byte header is fetched), a newer
//! one is downloaded whole, verified (MD5 and ClamAV's RSA signature),
//! test-loaded, and only then stored; the module is rebuilt into a temp
//! file and renamed over the old one. Anything that fails leaves the
//! databases and the module as they were.
//!
//! A run started as root splits in two: a child that drops to
//! `[global] user` talks to the servers and does every step that reads
//! what they send (download, verification, test load, module build),
//! and hands what passed to the root parent through a pipe; the parent
//! only writes it into the root-owned directories.
//!
//! The command is in `app`, the updates in `updater`, the split run in
//! `privsep`, the module build in `rebuild`, the mirror in `mirror`.
//! This file holds what is checked before anything downloaded may
//! replace a database: the CVD header, the MD5 of the body, and the
//! body's RSA signature (ClamAV's scheme, below); `fetch`, `cdiff`,
//! `manifest` and `handover` the HTTP side and the formats read, each
//! fuzzed and tested on its own.
#![forbid(unsafe_code)]

mod app;
pub mod cdiff;
mod cli;
pub mod fetch;
pub mod handover;
pub mod manifest;
mod mirror;
mod privsep;
mod rebuild;
mod updater;

pub use app::run;

use md5::{Digest, Md5};
use nod32_engine::CvdHeader;
use num_bigint::BigUint;

/// ClamAV's public key for CVD signatures (`CLI_NSTR`, `CLI_ESTR` in
/// libclamav's dsig.c): textbook RSA, 1024 bits.
pub const CLAMAV_N: &str = "118640995551645342603070001658453189751527774412027743746599405743243142607464144767361060640655844749760788890022283424922762488917565551002467771109669598189410434699034532232228621591089508178591428456220796841621637175567590476666928698770143328137383952820383197532047771780196576957695822641224262693037";
/// See [`CLAMAV_N`].
pub const CLAMAV_E: &str = "100001027";

/// An RSA public key as ClamAV uses it: decimal modulus and exponent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsaKey {
    n: BigUint,
    e: BigUint,
}

impl RsaKey {
    /// ClamAV's key, which signs the official `main`, `daily` and
    /// `bytecode` CVDs.
    pub fn clamav() -> RsaKey {
        RsaKey::parse(&format!("{CLAMAV_N}:{CLAMAV_E}"))
            .expect("ClamAV's key parses")
    }

    /// `MODULUS:EXPONENT`, both decimal (a private feed's own key).
    pub fn parse(s: &str) -> Option<RsaKey> {
        let (n, e) = s.trim().split_once(':')?;
        let n = BigUint::parse_bytes(n.trim().as_bytes(), 10)?;
        let e = BigUint::parse_bytes(e.trim().as_bytes(), 10)?;
        (n.bits() >= 512 && e > BigUint::from(1u8)).then_some(RsaKey { n, e })
    }
}

/// Lower-case hex, as digests are written in headers and manifests.
pub(crate) fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// ClamAV's signature alphabet: a-z A-Z 0-9 + / for 0..63.
fn digit(c: u8) -> Option<u32> {
    Some(u32::from(match c {
        b'a'..=b'z' => c - b'a',
        b'A'..=b'Z' => c - b'A' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    }))
}

/// Decodes a signature string: base-64 digits, least significant first.
pub fn decode_sig(s: &str) -> Option<BigUint> {
    // A 2048-bit signature is 342 digits; anything far longer is not one.
    if s.is_empty() || s.len() > 1024 {
        return None;
    }
    let mut v = BigUint::ZERO;
    for &c in s.as_bytes().iter().rev() {
        v <<= 6u32;
        v += digit(c)?;
    }
    Some(v)
}

/// Encodes a number as a signature string (for those who sign their own
/// feed; the inverse of [`decode_sig`]).
pub fn encode_sig(v: &BigUint) -> String {
    const A: &[u8; 64] =
        b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";
    let mut out = String::new();
    let mut v = v.clone();
    let mask = BigUint::from(63u8);
    while v > BigUint::ZERO {
        let d = (&v & &mask).to_u32_digits().first().copied().unwrap_or(0);
        out.push(A[d as usize] as char);
        v >>= 6u32;
    }
    out
}

/// Whether `dsig` is `key`'s signature of the MD5 given in hex: the
/// signature to the power e modulo n must be that MD5 as a number
/// (libclamav's `cli_versig`; libclamav writes the result from the left
/// into 16 bytes, so it refuses the 1 in 256 MD5s that start with a zero
/// byte, which a signer can therefore never have published).
pub fn verify_md5(md5_hex: &str, dsig: &str, key: &RsaKey) -> bool {
    if md5_hex.len() != 32 || !md5_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let Some(c) = decode_sig(dsig) else { return false };
    let Some(want) = BigUint::parse_bytes(md5_hex.as_bytes(), 16) else {
        return false;
    };
    c.modpow(&key.e, &key.n) == want
}

/// The first line of a database's `NAME.info` member: a copy of the
/// header as the signer wrote it (`ClamAV-VDB:time:version:sigs:flevel:
/// X:X:builder:stime`). Unlike the 512-byte header, it is signed: by
/// the CVD's signature (it is part of the body whose MD5 is signed) or
/// by the `.info`'s own DSIG line (a `.cld`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InfoHead {
    /// The member's name: `NAME.info`.
    pub name: String,
    /// The database version.
    pub version: u32,
    /// The signature count.
    pub sigs: u32,
    /// The functionality level.
    pub flevel: u32,
    /// The unix build time.
    pub stime: u64,
}

impl InfoHead {
    /// Parses the first line of the member `name`.
    ///
    /// # Errors
    /// The line is not a `ClamAV-VDB:` header.
    pub fn parse(name: &str, data: &[u8]) -> Result<InfoHead, InfoError> {
        let first = data.split(|&b| b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(first);
        let f: Vec<&str> = line.trim_end().split(':').collect();
        let num =
            |i: usize| f.get(i).and_then(|s| s.trim().parse::<u64>().ok());
        let small = |i: usize| num(i).and_then(|n| u32::try_from(n).ok());
        match (f.first(), small(2), small(3), small(4)) {
            (Some(&"ClamAV-VDB"), Some(version), Some(sigs), Some(flevel)) => {
                Ok(InfoHead {
                    name: name.to_string(),
                    version,
                    sigs,
                    flevel,
                    stime: num(8).unwrap_or(0),
                })
            }
            _ => Err(InfoError::NotHeader { name: name.to_string() }),
        }
    }

    /// The database this `.info` belongs to (`daily` for `daily.info`).
    pub fn db(&self) -> &str {
        self.name.strip_suffix(".info").unwrap_or(&self.name)
    }

    /// Whether `h` is the header this `.info` was signed with: the
    /// fields libclamav's `cli_cvdload` compares (else "Corrupted CVD
    /// header").
    pub fn agrees(&self, h: &CvdHeader) -> Result<(), Refused> {
        if h.version != self.version {
            return Err(Refused::Relabelled {
                header: h.version,
                info: self.name.clone(),
                signed: self.version,
            });
        }
        if (h.sigs, h.flevel, h.build_time)
            != (self.sigs, self.flevel, self.stime)
        {
            return Err(Refused::Header(format!(
                "its header's signature count, functionality level or build time is not its signed {}'s",
                self.name
            )));
        }
        Ok(())
    }
}

/// The `NAME.info` member of a database body (what follows the 512-byte
/// header: a gzipped tar, or a plain one starting with `COPYING`),
/// read as a stream that stops at that member, so a large database
/// costs no more than its first members (`.info` comes second, after
/// `COPYING`, in ClamAV's CVDs and in the `.cld`s ClamAV and nod32upd
/// write).
///
/// # Errors
/// The body is not a (gzipped) tar, or has no `.info` member.
pub fn info_of(body: impl std::io::Read) -> Result<InfoHead, InfoError> {
    use std::io::{BufRead, Read};
    let mut body = std::io::BufReader::new(body);
    let plain = body
        .fill_buf()
        .map_err(|cause| InfoError::Body { cause })?
        .starts_with(b"COPYING");
    let tarball: Box<dyn Read> = if plain {
        Box::new(body)
    } else {
        Box::new(flate2::bufread::GzDecoder::new(body))
    };
    let mut archive = tar::Archive::new(tarball);
    let tar = |cause| InfoError::Tar { cause };
    for entry in archive.entries().map_err(tar)? {
        let entry = entry.map_err(tar)?;
        let name = entry
            .path()
            .map_err(|cause| InfoError::MemberName { cause })?
            .to_string_lossy()
            .into_owned();
        if name.ends_with(".info") {
            // The header line is well under 1 KiB.
            let mut first = Vec::new();
            if let Err(cause) = entry.take(1024).read_to_end(&mut first) {
                return Err(InfoError::Member { name, cause });
            }
            return InfoHead::parse(&name, &first);
        }
    }
    Err(InfoError::NoInfo)
}

/// Why a database's `.info` member gave no version: the version a
/// database is is read there, never from its unsigned header alone.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InfoError {
    /// The body could not be read at all.
    #[error("body: {cause}")]
    Body {
        /// What the reader said (in the message, so not a `source()`
        /// that a chain printer would repeat).
        cause: std::io::Error,
    },
    /// The body is not a (gzipped) tar.
    #[error("tar body: {cause}")]
    Tar {
        /// What the tar reader said.
        cause: std::io::Error,
    },
    /// A member's name could not be read.
    #[error("tar member name: {cause}")]
    MemberName {
        /// What the tar reader said.
        cause: std::io::Error,
    },
    /// The `.info` member was found but could not be read.
    #[error("{name}: {cause}")]
    Member {
        /// The member's name.
        name: String,
        /// What the reader said.
        cause: std::io::Error,
    },
    /// The body has no `.info` member.
    #[error("no .info member")]
    NoInfo,
    /// Among a database's unpacked members, the named `.info` is absent.
    #[error("no {name}")]
    Absent {
        /// The member looked for (`daily.info`).
        name: String,
    },
    /// The `.info`'s first line is not a header.
    #[error("{name}: its first line is not a ClamAV-VDB header")]
    NotHeader {
        /// The member's name.
        name: String,
    },
}

/// Why a downloaded database was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not a CVD: no header, or a field that does not parse.
    Header(String),
    /// The body's MD5 is not the header's (truncated, damaged).
    Md5 {
        /// In the header.
        want: String,
        /// Of the body received.
        got: String,
    },
    /// No signature, or one that the key does not verify.
    Signature,
    /// The header's version is not the one the signed `.info` carries:
    /// the unsigned header was edited.
    Relabelled {
        /// In the header.
        header: u32,
        /// The `.info` member's name.
        info: String,
        /// In the `.info`.
        signed: u32,
    },
}

/// A container that cannot be read, as a refusal.
fn header(e: nod32_engine::CvdError) -> Refused {
    Refused::Header(e.to_string())
}

/// A `.info` that cannot be read, as a refusal (its text, since a
/// refusal is compared and cloned, which an I/O error cannot be).
fn info_refused(e: InfoError) -> Refused {
    Refused::Header(e.to_string())
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Header(e) => write!(f, "not a CVD: {e}"),
            Refused::Md5 { want, got } => write!(
                f,
                "body MD5 {got} is not the header's {want} (truncated or damaged)"
            ),
            Refused::Signature => {
                write!(f, "the digital signature does not verify")
            }
            Refused::Relabelled { header, info, signed } => write!(
                f,
                "its header says version {header} but its signed {info} says {signed} (relabelled)"
            ),
        }
    }
}

/// The header's digital-signature field (the 7th).
fn dsig_field(bytes: &[u8]) -> Option<String> {
    let head = bytes.get(..512)?;
    let text = String::from_utf8_lossy(head);
    let f = text.trim_end_matches(['\0', ' ']).split(':').nth(6)?;
    Some(f.trim().to_string())
}

/// A database that verified: its header, which agrees with its signed
/// `.info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The header.
    pub header: CvdHeader,
    /// The database the `.info` names (`daily` for `daily.info`).
    pub db: String,
}

/// Checks a whole `.cvd` as downloaded: header, MD5 of the body, the
/// signature of that MD5 by `key`, and then the header against the
/// `NAME.info` inside, which that signature covers: the signature says
/// nothing of the header itself, so a signed version 5 relabelled 11
/// would pass the first three.
///
/// # Errors
/// What is wrong with it; such a file must not be used.
pub fn verify_cvd(bytes: &[u8], key: &RsaKey) -> Result<Verified, Refused> {
    let h = nod32_engine::parse_cvd_header(bytes).map_err(header)?;
    let want = h
        .md5
        .clone()
        .ok_or_else(|| Refused::Header("no MD5 in the header".into()))?;
    let got = hex(&Md5::digest(&bytes[512..]));
    if got != want {
        return Err(Refused::Md5 { want, got });
    }
    let dsig = dsig_field(bytes).unwrap_or_default();
    if !verify_md5(&want, &dsig, key) {
        return Err(Refused::Signature);
    }
    let info = info_of(&bytes[512..]).map_err(info_refused)?;
    info.agrees(&h)?;
    Ok(Verified { db: info.db().to_string(), header: h })
}

/// ClamAV's key for the DSIG line of a database's `.info` member
/// (`INFO_NSTR`/`INFO_ESTR` in libclamav's readdb.c).
pub const CLAMAV_INFO_N: &str = "11088894983048545473659556106627194923928941791795047620591658697413581043322715912172496806525381055880964520618400224333320534660299233983755341740679502866829909679955734391392668378361221524205396631090105151641270857277080310734320951653700508941717419168723942507890702904702707587451621691050754307850383399865346487203798464178537392211402786481359824461197231102895415093770394216666324484593935762408468516826633192140826667923494822045805347809932848454845886971706424360558667862775876072059437703365380209101697738577515476935085469455279994113145977994084618328482151013142393373316337519977244732747977";
/// See [`CLAMAV_INFO_N`].
pub const CLAMAV_INFO_E: &str = "100002049";

/// The key that signs official `.info` members.
pub fn clamav_info_key() -> RsaKey {
    RsaKey::parse(&format!("{CLAMAV_INFO_N}:{CLAMAV_INFO_E}"))
        .expect("ClamAV's info key parses")
}

/// Checks a `.cld` as a server serves it (a freshclam-kept private
/// mirror): it has no signature of its own, so its `.info` member must
/// carry a DSIG line that `key` verifies over the lines before it, and
/// every other member must be listed there with its size and SHA-256
/// (libclamav's `cli_loadinfo` and the container check after it), and
/// the unsigned header must agree with the signed `.info`'s first line.
///
/// # Errors
/// What is wrong with it.
pub fn verify_cld(bytes: &[u8], key: &RsaKey) -> Result<Verified, Refused> {
    let h = nod32_engine::parse_cvd_header(bytes).map_err(header)?;
    if let Some(want) = &h.md5 {
        let got = hex(&Md5::digest(&bytes[512..]));
        if &got != want {
            return Err(Refused::Md5 { want: want.clone(), got });
        }
    }
    let files = cdiff::unpack(bytes).map_err(header)?;
    let (info_name, info) =
        files
            .iter()
            .find(|(n, _)| n.ends_with(".info"))
            .ok_or_else(|| Refused::Header("no .info member".into()))?;
    let at = info
        .windows(6)
        .position(|w| w == b"\nDSIG:")
        .ok_or(Refused::Signature)?
        + 1;
    let signed = &info[..at];
    let dsig = String::from_utf8_lossy(&info[at + 5..]);
    let dsig = dsig.lines().next().unwrap_or("").trim();
    let digest: [u8; 32] = sha2::Sha256::digest(signed).into();
    if !cdiff::verify_pss(&digest, dsig, key) {
        return Err(Refused::Signature);
    }
    let mut listed = std::collections::BTreeMap::new();
    for line in String::from_utf8_lossy(signed).lines().skip(1) {
        let f: Vec<&str> = line.split(':').collect();
        let [name, size, sha] = f[..] else {
            return Err(Refused::Header(format!(
                "{info_name}: bad line {line:?}"
            )));
        };
        listed.insert(
            name.to_string(),
            (size.to_string(), sha.to_ascii_lowercase()),
        );
    }
    for (name, data) in &files {
        if name == "COPYING" || name == info_name {
            continue;
        }
        let sha = hex(&sha2::Sha256::digest(data));
        match listed.get(name) {
            Some((size, want))
                if *size == data.len().to_string() && *want == sha => {}
            _ => {
                return Err(Refused::Header(format!(
                    "{name} is not as {info_name} lists it"
                )));
            }
        }
    }
    let head = InfoHead::parse(info_name, signed).map_err(info_refused)?;
    head.agrees(&h)?;
    Ok(Verified { db: head.db().to_string(), header: h })
}

/// Why a rebuilt module holding `new` (hash signatures, body patterns,
/// logical signatures) must not silently replace the running one
/// holding `running`: it has no body patterns (it would find nothing
/// but files it knows by their hash, as ClamAV's bytecode database
/// alone gives), or it holds fewer than half as many (a database left
/// out of `databases`, a feed that lost its signatures). Daily's own
/// churn drops far fewer.
pub fn shrinks(
    new: (usize, usize, usize),
    running: Option<(usize, usize, usize)>,
) -> Option<String> {
    let total = |(h, p, l): (usize, usize, usize)| h + p + l;
    let mut why = Vec::new();
    if new.1 == 0 {
        why.push(
            "it has no body signatures, so it would find only files it knows by their hash"
                .to_string(),
        );
    }
    if let Some(r) = running
        && total(new) * 2 < total(r)
    {
        why.push(format!(
            "it holds {} signatures (hashes, body patterns, logical), fewer than half of the {} the running module holds",
            total(new),
            total(r)
        ));
    }
    (!why.is_empty()).then(|| why.join(", and "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modules_that_detect_much_less_are_named() {
        // ClamAV's bytecode.cvd alone against the built-in module.
        let w = shrinks((2, 0, 0), Some((1, 2, 0))).unwrap();
        assert!(w.starts_with("it has no body signatures"), "{w}");
        assert!(!w.contains("half"), "{w}");
        // A first build has nothing to lose.
        assert!(shrinks((2, 0, 0), None).is_some());
        assert_eq!(shrinks((1, 1, 0), None), None);
        // Half is kept: fine; less: not.
        assert_eq!(shrinks((100, 50, 0), Some((200, 100, 0))), None);
        let w = shrinks((6, 6, 0), Some((305, 5, 0))).unwrap();
        assert!(w.contains("12 signatures"), "{w}");
        assert!(w.contains("fewer than half of the 310"), "{w}");
        let both = shrinks((3, 0, 0), Some((10, 10, 0))).unwrap();
        assert!(both.contains("body") && both.contains("half"), "{both}");
        // Growing is never a reason.
        assert_eq!(shrinks((10, 10, 10), Some((1, 1, 1))), None);
    }

    /// A toy key (p = 2^127 - 1, q = 2^521 - 1, both prime) for signing in
    /// tests: d is e's inverse modulo (p-1)(q-1).
    fn toy() -> (RsaKey, BigUint) {
        let one = BigUint::from(1u8);
        let p = (BigUint::from(1u8) << 127u32) - &one;
        let q = (BigUint::from(1u8) << 521u32) - &one;
        let n = &p * &q;
        let phi = (&p - &one) * (&q - &one);
        let e = BigUint::from(65537u32);
        let d = e.modinv(&phi).unwrap();
        (RsaKey { n, e }, d)
    }

    #[test]
    fn signature_strings_round_trip() {
        for v in [1u64, 63, 64, 4095, 1 << 40, u64::MAX] {
            let b = BigUint::from(v);
            assert_eq!(decode_sig(&encode_sig(&b)), Some(b));
        }
        // Least significant digit first: "ab" is 0 + 1*64.
        assert_eq!(decode_sig("ab"), Some(BigUint::from(64u8)));
        assert_eq!(decode_sig("a-b"), None);
        assert_eq!(decode_sig(""), None);
    }

    #[test]
    fn md5_signatures_verify_only_with_their_key() {
        let (key, d) = toy();
        let md5 = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
        let m = BigUint::parse_bytes(md5.as_bytes(), 16).unwrap();
        let sig = encode_sig(&m.modpow(&d, &key.n));
        assert!(verify_md5(md5, &sig, &key));
        assert!(verify_md5(&md5.to_uppercase(), &sig, &key));
        assert!(!verify_md5("1f1e2d3c4b5a69788796a5b4c3d2e1f0", &sig, &key));
        assert!(!verify_md5(md5, &sig, &RsaKey::clamav()));
        assert!(!verify_md5(md5, "x", &key));
        // An MD5 starting with a zero byte (libclamav would refuse it).
        let z = "00ee2d3c4b5a69788796a5b4c3d2e1f0";
        let m = BigUint::parse_bytes(z.as_bytes(), 16).unwrap();
        assert!(verify_md5(z, &encode_sig(&m.modpow(&d, &key.n)), &key));
        // A decoded value longer than 16 bytes never matches.
        let big = encode_sig(&(BigUint::from(1u8) << 200u32));
        assert!(!verify_md5(
            md5,
            &big,
            &RsaKey { n: key.n.clone(), e: BigUint::from(1u8) }
        ));
    }

    #[test]
    fn info_lines_are_compared_with_headers() {
        let line = b"ClamAV-VDB:20 Aug 2015 10-50 -0400:268:47:63:X:X:anvilleg:1440082241\nx:1:ab\n";
        let i = InfoHead::parse("bytecode.info", line).unwrap();
        assert_eq!(
            (i.version, i.sigs, i.flevel, i.stime),
            (268, 47, 63, 1440082241)
        );
        assert_eq!(i.db(), "bytecode");
        let mut h = CvdHeader {
            version: 268,
            sigs: 47,
            flevel: 63,
            md5: None,
            build_time: 1440082241,
        };
        assert_eq!(i.agrees(&h), Ok(()));
        h.version = u32::MAX;
        assert_eq!(
            i.agrees(&h).unwrap_err().to_string(),
            "its header says version 4294967295 but its signed bytecode.info says 268 (relabelled)"
        );
        h.version = 268;
        h.build_time += 1;
        assert!(matches!(i.agrees(&h), Err(Refused::Header(_))));
        assert!(
            InfoHead::parse("a.info", b"ClamAV-VDB:t:4294967296:1:1").is_err()
        );
        assert_eq!(
            InfoHead::parse("a.info", b"COPYING").unwrap_err().to_string(),
            "a.info: its first line is not a ClamAV-VDB header"
        );
        assert!(info_of(&b"not a tar"[..]).is_err());
    }

    #[test]
    fn keys_parse_from_decimal() {
        assert!(RsaKey::parse("12:3").is_none());
        let k = RsaKey::clamav();
        assert_eq!(k.n.bits(), 1024);
        assert_eq!(RsaKey::parse(&format!("{CLAMAV_N}:{CLAMAV_E}")), Some(k));
    }
}
