//! Incremental updates: ClamAV's `.cdiff` patches, checked and applied
//! to the unpacked database, and the `.cld` built from the result.
//!
//! A `.cdiff` is `ClamAV-Diff:VERSION:SCRIPT_LENGTH:`, a gzip stream of
//! the script, then `:` and a signature of the SHA-256 of everything
//! before that colon (RSA-PSS with SHA-256 and a 32-byte salt, on a
//! 2048-bit key; libclamav's `cli_versig2`). The script edits the text
//! members of the database: `OPEN f`, `ADD line`, `DEL n word`, `XCHG n
//! word line`, `CLOSE`, `MOVE src dst n1 w1 n2 w2`, `UNLINK f`.

use std::collections::BTreeMap;
use std::io::Read;

use num_bigint::BigUint;
use sha2::{Digest, Sha256};

use crate::{Refused, RsaKey, decode_sig};

/// ClamAV's key for `.cdiff` signatures (`CLI_NSTRPSS`/`CLI_ESTRPSS`).
pub const CLAMAV_PSS_N: &str = "14783905874077467090262228516557917570254599638376203532031989214105552847269687489771975792123442185817287694951949800908791527542017115600501303394778618535864845235700041590056318230102449612217458549016089313306591388590790796515819654102320725712300822356348724011232654837503241736177907784198700834440681124727060540035754699658105895050096576226753008596881698828185652424901921668758326578462003247906470982092298106789657211905488986281078346361469524484829559560886227198091995498440676639639830463593211386055065360288422394053998134458623712540683294034953818412458362198117811990006021989844180721010947";
/// See [`CLAMAV_PSS_N`].
pub const CLAMAV_PSS_E: &str = "100002053";

/// The key that signs the official `.cdiff` files.
pub fn clamav_key() -> RsaKey {
    RsaKey::parse(&format!("{CLAMAV_PSS_N}:{CLAMAV_PSS_E}"))
        .expect("ClamAV's cdiff key parses")
}

const PAD: usize = 256;
const HASH: usize = 32;
const BLOCK: usize = PAD - HASH - 1;

/// MGF1 with SHA-256.
fn mgf1(seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + HASH);
    let mut i = 0u32;
    while out.len() < len {
        let mut h = Sha256::new();
        h.update(seed);
        h.update(i.to_be_bytes());
        out.extend_from_slice(&h.finalize());
        i += 1;
    }
    out.truncate(len);
    out
}

/// Whether `dsig` signs `digest` (a SHA-256) under `key`, as
/// `cli_versig2` checks it.
pub fn verify_pss(digest: &[u8; 32], dsig: &str, key: &RsaKey) -> bool {
    let Some(c) = decode_sig(dsig) else { return false };
    let m = c.modpow(&key.e, &key.n).to_bytes_be();
    if m.len() > PAD {
        return false;
    }
    // The encoded message is 256 bytes, its top bit clear; a leading
    // zero byte (1 in 128) is lost in the number and put back here.
    // (libclamav writes the number from the left and so refuses those.)
    let mut em = vec![0u8; PAD - m.len()];
    em.extend_from_slice(&m);
    if em[PAD - 1] != 0xbc {
        return false;
    }
    let (masked, rest) = em.split_at(BLOCK);
    let h = &rest[..HASH];
    let mut db = mgf1(h, BLOCK);
    for (d, m) in db.iter_mut().zip(masked) {
        *d ^= m;
    }
    db[0] &= 0x7f;
    let Some(one) = db.iter().position(|&b| b == 1) else { return false };
    let salt = &db[one + 1..];
    if salt.len() != 32 {
        return false;
    }
    let mut m = Sha256::new();
    m.update([0u8; 8]);
    m.update(digest);
    m.update(salt);
    m.finalize().as_slice() == h
}

/// A verified `.cdiff`.
#[derive(Debug, PartialEq, Eq)]
pub struct Cdiff {
    /// The database version it makes.
    pub version: u32,
    /// The script.
    pub script: Vec<u8>,
}

/// The largest script taken (official daily cdiffs are a few hundred
/// kilobytes).
const MAX_SCRIPT: u64 = 64 << 20;

/// Checks a `.cdiff`'s signature and unpacks its script.
///
/// # Errors
/// It is not a cdiff, its signature does not verify with `key`, or its
/// script is damaged.
pub fn verify_cdiff(bytes: &[u8], key: &RsaKey) -> Result<Cdiff, Refused> {
    let bad = |s: &str| Refused::Header(s.to_string());
    let colon = bytes
        .iter()
        .rposition(|&b| b == b':')
        .ok_or_else(|| bad("no signature"))?;
    let (signed, dsig) = (&bytes[..colon], &bytes[colon + 1..]);
    let dsig =
        std::str::from_utf8(dsig).map_err(|_| Refused::Signature)?.trim();
    let digest: [u8; 32] = Sha256::digest(signed).into();
    if !verify_pss(&digest, dsig, key) {
        return Err(Refused::Signature);
    }
    let rest = signed
        .strip_prefix(b"ClamAV-Diff:")
        .ok_or_else(|| bad("no ClamAV-Diff header"))?;
    let mut parts = rest.splitn(3, |&b| b == b':');
    let num = |p: Option<&[u8]>| -> Option<u64> {
        std::str::from_utf8(p?).ok()?.trim().parse().ok()
    };
    let version =
        num(parts.next()).ok_or_else(|| bad("bad version in the header"))?;
    let len = num(parts.next())
        .ok_or_else(|| bad("bad script length in the header"))?;
    let gz = parts.next().ok_or_else(|| bad("no script"))?;
    if len > MAX_SCRIPT {
        return Err(bad("script too long"));
    }
    let mut script = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .take(len)
        .read_to_end(&mut script)
        .map_err(|e| Refused::Header(format!("script: {e}")))?;
    if script.len() as u64 != len {
        return Err(bad("script shorter than its header says"));
    }
    Ok(Cdiff {
        version: u32::try_from(version).map_err(|_| bad("bad version"))?,
        script,
    })
}

fn word(line: &[u8]) -> &[u8] {
    line.split(|&b| b == b' ').next().unwrap_or(b"")
}

fn lines(b: &[u8]) -> Vec<Vec<u8>> {
    b.split_inclusive(|&c| c == b'\n')
        .map(|l| l.strip_suffix(b"\n").unwrap_or(l).to_vec())
        .collect()
}

fn join(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for l in lines {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out
}

fn name_ok(n: &str) -> bool {
    !n.is_empty()
        && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        && n != "."
        && n != ".."
}

/// The file a script has open: its name, its edits by line number (the
/// word the line must start with, and its replacement or none), and the
/// lines to add at its end.
type Open =
    (String, BTreeMap<usize, (Vec<u8>, Option<Vec<u8>>)>, Vec<Vec<u8>>);

/// Why a script could not be run: the members it was run on are then
/// unusable, and the caller falls back to the whole CVD.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CdiffError {
    /// A command that does not parse or whose lines do not match.
    #[error("script line {line}: {fault}")]
    Line {
        /// The 1-based line of the script.
        line: usize,
        /// What is wrong with it.
        fault: ScriptFault,
    },
    /// The script ends without closing the file it opened.
    #[error("the script ends with {file} open")]
    EndsOpen {
        /// The file still open.
        file: String,
    },
}

/// What is wrong with one line of a script.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScriptFault {
    /// `OPEN` while another file is open.
    #[error("{0} is still open")]
    StillOpen(String),
    /// A file name that could leave the database (a path, `..`).
    #[error("bad file name {0:?}")]
    BadName(String),
    /// `ADD` with no file open.
    #[error("ADD without OPEN")]
    AddWithoutOpen,
    /// `DEL` or `XCHG` with no file open.
    #[error("edit without OPEN")]
    EditWithoutOpen,
    /// An edit's line number is not a positive number.
    #[error("bad line number")]
    BadLineNumber,
    /// An edit without the word its line must start with.
    #[error("no original word")]
    NoOriginalWord,
    /// `XCHG` without its replacement.
    #[error("XCHG without a new line")]
    NoNewLine,
    /// `CLOSE` with no file open.
    #[error("CLOSE without OPEN")]
    CloseWithoutOpen,
    /// An edited line does not start with the word given: the script
    /// is for another version.
    #[error("{file} line {line} does not start with {word:?}")]
    Mismatch {
        /// The file open.
        file: String,
        /// The 1-based line in it.
        line: usize,
        /// The word the script expected.
        word: String,
    },
    /// An edit names a line beyond the file's end.
    #[error("{file} has no line {line}")]
    NoLine {
        /// The file open.
        file: String,
        /// The last line the script edits.
        line: usize,
    },
    /// `MOVE` while a file is open.
    #[error("MOVE with a file open")]
    MoveWhileOpen,
    /// `MOVE` with other than six arguments.
    #[error("MOVE needs six arguments")]
    MoveArguments,
    /// `MOVE` line numbers that are not positive numbers.
    #[error("bad MOVE line numbers")]
    MoveLineNumbers,
    /// `MOVE` with a bad file name or a range that ends before it starts.
    #[error("bad MOVE")]
    BadMove,
    /// `MOVE` from a file the database does not have.
    #[error("no file {0}")]
    NoFile(String),
    /// The lines `MOVE` names do not start with the words given.
    #[error("{file} lines {from}-{to} do not match")]
    MoveMismatch {
        /// The source file.
        file: String,
        /// The first line moved.
        from: usize,
        /// The last line moved.
        to: usize,
    },
    /// `UNLINK` of a file the database does not have, or while one is
    /// open.
    #[error("cannot unlink {0}")]
    Unlink(String),
    /// A command the script language does not have.
    #[error("unknown command {0:?}")]
    Unknown(String),
}

/// Runs a script on a database's members (name → content).
///
/// # Errors
/// A command that does not parse or whose line does not match (the
/// script is for another version): the members are then unusable and
/// the caller falls back to the whole CVD.
pub fn apply(
    script: &[u8],
    files: &mut BTreeMap<String, Vec<u8>>,
) -> Result<(), CdiffError> {
    let mut open: Option<Open> = None;
    for (n, raw) in script.split(|&b| b == b'\n').enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let at = |fault| CdiffError::Line { line: n + 1, fault };
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        let (cmd, arg) = match line.iter().position(|&b| b == b' ') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &b""[..]),
        };
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        match cmd {
            b"OPEN" => {
                if let Some((f, ..)) = &open {
                    return Err(at(ScriptFault::StillOpen(f.clone())));
                }
                let f = text(arg);
                if !name_ok(&f) {
                    return Err(at(ScriptFault::BadName(f)));
                }
                open = Some((f, BTreeMap::new(), Vec::new()));
            }
            b"ADD" => {
                let (_, _, adds) =
                    open.as_mut().ok_or(at(ScriptFault::AddWithoutOpen))?;
                adds.push(arg.to_vec());
            }
            b"DEL" | b"XCHG" => {
                let (_, edits, _) =
                    open.as_mut().ok_or(at(ScriptFault::EditWithoutOpen))?;
                let mut p = arg.splitn(3, |&b| b == b' ');
                let no: usize = std::str::from_utf8(p.next().unwrap_or(b""))
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .filter(|n| *n > 0)
                    .ok_or(at(ScriptFault::BadLineNumber))?;
                let orig =
                    p.next().ok_or(at(ScriptFault::NoOriginalWord))?.to_vec();
                let new = if cmd == b"XCHG" {
                    Some(p.next().ok_or(at(ScriptFault::NoNewLine))?.to_vec())
                } else {
                    None
                };
                edits.insert(no, (orig, new));
            }
            b"CLOSE" => {
                let (f, edits, adds) =
                    open.take().ok_or(at(ScriptFault::CloseWithoutOpen))?;
                let old = files.get(&f).map(|b| lines(b)).unwrap_or_default();
                let mut out = Vec::with_capacity(old.len() + adds.len());
                let mut done = 0;
                for (i, l) in old.into_iter().enumerate() {
                    match edits.get(&(i + 1)) {
                        None => out.push(l),
                        Some((orig, new)) => {
                            done += 1;
                            if !l.starts_with(orig) {
                                return Err(at(ScriptFault::Mismatch {
                                    file: f,
                                    line: i + 1,
                                    word: text(orig),
                                }));
                            }
                            if let Some(n) = new {
                                out.push(n.clone());
                            }
                        }
                    }
                }
                if done != edits.len() {
                    let last = edits.keys().next_back().copied().unwrap_or(0);
                    return Err(at(ScriptFault::NoLine {
                        file: f,
                        line: last,
                    }));
                }
                out.extend(adds);
                files.insert(f, join(&out));
            }
            b"MOVE" => {
                if open.is_some() {
                    return Err(at(ScriptFault::MoveWhileOpen));
                }
                let p: Vec<&[u8]> = arg.split(|&b| b == b' ').collect();
                let [src, dst, n1, w1, n2, w2] = p[..] else {
                    return Err(at(ScriptFault::MoveArguments));
                };
                let num = |b: &[u8]| {
                    std::str::from_utf8(b)
                        .ok()
                        .and_then(|s| s.parse::<usize>().ok())
                        .filter(|n| *n > 0)
                };
                let (Some(n1), Some(n2)) = (num(n1), num(n2)) else {
                    return Err(at(ScriptFault::MoveLineNumbers));
                };
                let (src, dst) = (text(src), text(dst));
                if !name_ok(&src) || !name_ok(&dst) || n2 < n1 {
                    return Err(at(ScriptFault::BadMove));
                }
                let from = files
                    .get(&src)
                    .map(|b| lines(b))
                    .ok_or_else(|| at(ScriptFault::NoFile(src.clone())))?;
                if from.len() < n2
                    || !from[n1 - 1].starts_with(w1)
                    || !from[n2 - 1].starts_with(w2)
                {
                    return Err(at(ScriptFault::MoveMismatch {
                        file: src,
                        from: n1,
                        to: n2,
                    }));
                }
                let moved = &from[n1 - 1..n2];
                let mut to =
                    files.get(&dst).map(|b| lines(b)).unwrap_or_default();
                to.extend(moved.iter().cloned());
                let mut kept = from[..n1 - 1].to_vec();
                kept.extend(from[n2..].iter().cloned());
                files.insert(dst, join(&to));
                files.insert(src, join(&kept));
            }
            b"UNLINK" => {
                let f = text(arg);
                if open.is_some() || files.remove(&f).is_none() {
                    return Err(at(ScriptFault::Unlink(f)));
                }
            }
            _ => {
                return Err(at(ScriptFault::Unknown(text(word(line)))));
            }
        }
    }
    match open {
        Some((f, ..)) => Err(CdiffError::EndsOpen { file: f }),
        None => Ok(()),
    }
}

/// The members of a `.cvd` or `.cld`, by name.
///
/// # Errors
/// Not a database container.
pub fn unpack(
    bytes: &[u8],
) -> Result<BTreeMap<String, Vec<u8>>, nod32_engine::CvdError> {
    Ok(nod32_engine::cvd_members(bytes)?.into_iter().collect())
}

/// A `.cld` from members: COPYING, then `NAME.info`, then the rest, as
/// ClamAV's freshclam writes them (so a reader finds the `.info` after
/// the first member), behind a header that is the `.info`'s first line
/// with the MD5 of the body, so that header and `.info` agree as every
/// loader checks. Without a `.info`, the header says `version`.
pub fn build_cld(
    db: &str,
    version: u32,
    files: &BTreeMap<String, Vec<u8>>,
) -> Vec<u8> {
    let info_name = format!("{db}.info");
    let mut b = tar::Builder::new(Vec::new());
    let first = ["COPYING", info_name.as_str()];
    let order =
        first.iter().copied().filter(|k| files.contains_key(*k)).chain(
            files.keys().map(String::as_str).filter(|k| !first.contains(k)),
        );
    for name in order {
        let data = &files[name];
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        let _ = b.append_data(&mut h, name, data.as_slice());
    }
    let body = b.into_inner().unwrap_or_default();
    let md5 = crate::hex(&md5::Md5::digest(&body));
    let line = files
        .get(&info_name)
        .and_then(|i| i.split(|&b| b == b'\n').next())
        .map(|l| String::from_utf8_lossy(l).trim_end().to_string())
        .filter(|l| crate::InfoHead::parse(&info_name, l.as_bytes()).is_ok());
    let mut head = match line {
        Some(l) => {
            let mut f: Vec<&str> = l.split(':').collect();
            f.resize(f.len().max(9), "");
            f[5] = &md5;
            f.join(":")
        }
        None => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            format!("ClamAV-VDB:nod32upd:{version}:0:0:{md5}:X:nod32upd:{now}")
        }
    }
    .into_bytes();
    head.resize(512, b' ');
    head.extend_from_slice(&body);
    head
}

/// Signs for tests and private feeds: EMSA-PSS of `digest` under the
/// private exponent `d` of a 2048-bit key (modulus `n`).
pub fn sign_pss(
    digest: &[u8; 32],
    salt: &[u8; 32],
    n: &BigUint,
    d: &BigUint,
) -> String {
    let mut m = Sha256::new();
    m.update([0u8; 8]);
    m.update(digest);
    m.update(salt);
    let h = m.finalize();
    let mut db = vec![0u8; BLOCK - 33];
    db.push(1);
    db.extend_from_slice(salt);
    let mask = mgf1(&h, BLOCK);
    for (x, m) in db.iter_mut().zip(mask) {
        *x ^= m;
    }
    db[0] &= 0x7f;
    let mut em = db;
    em.extend_from_slice(&h);
    em.push(0xbc);
    crate::encode_sig(&BigUint::from_bytes_be(&em).modpow(d, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply_str(
        script: &str,
        files: &[(&str, &str)],
    ) -> Result<BTreeMap<String, String>, CdiffError> {
        let mut m: BTreeMap<String, Vec<u8>> = files
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect();
        apply(script.as_bytes(), &mut m)?;
        Ok(m.into_iter()
            .map(|(k, v)| (k, String::from_utf8(v).unwrap()))
            .collect())
    }

    #[test]
    fn scripts_edit_as_sigtool_writes_them() {
        let out = apply_str(
            "OPEN daily.ndb\nXCHG 1 A A2:0:*:41\nDEL 2 B\nADD C:0:*:43\nCLOSE\n# comment\n\nMOVE daily.ndb daily.ldb 1 A2 1 A2\nOPEN new.hdb\nADD x\nCLOSE\n",
            &[("daily.ndb", "A:0:*:40\nB:0:*:42\nD:0:*:44\n"), ("daily.ldb", "L\n")],
        )
        .unwrap();
        assert_eq!(out["daily.ndb"], "D:0:*:44\nC:0:*:43\n");
        assert_eq!(out["daily.ldb"], "L\nA2:0:*:41\n");
        assert_eq!(out["new.hdb"], "x\n");
        // Lines that do not match: the script is for another version.
        assert!(
            apply_str("OPEN a\nDEL 1 Z\nCLOSE\n", &[("a", "A\n")]).is_err()
        );
        assert!(
            apply_str("OPEN a\nDEL 5 A\nCLOSE\n", &[("a", "A\n")]).is_err()
        );
        assert!(apply_str("OPEN ../etc/passwd\nCLOSE\n", &[]).is_err());
        assert!(apply_str("OPEN a\nADD x\n", &[]).is_err());
        assert!(apply_str("UNLINK a\nUNLINK a\n", &[("a", "")]).is_err());
        assert!(apply_str("FROB x\n", &[]).is_err());
        // The texts end up in the log and the run's summary.
        let why = |script: &str, files: &[(&str, &str)]| {
            apply_str(script, files).unwrap_err().to_string()
        };
        assert_eq!(
            why("OPEN a\nDEL 1 Z\nCLOSE\n", &[("a", "A\n")]),
            "script line 3: a line 1 does not start with \"Z\""
        );
        assert_eq!(why("OPEN a\nADD x\n", &[]), "the script ends with a open");
        assert_eq!(
            why("OPEN ../x\n", &[]),
            "script line 1: bad file name \"../x\""
        );
    }

    #[test]
    fn pss_signatures_verify_only_with_their_key() {
        // A round trip needs a 2048-bit private key (tests/tests/upd.rs
        // makes one with openssl); here, made-up signatures never verify.
        let digest = [7u8; 32];
        assert!(!verify_pss(&digest, "abc", &clamav_key()));
        assert!(!verify_pss(&digest, "", &clamav_key()));
        // ClamAV's PSS modulus is 617 digits, 2047 bits.
        assert_eq!(clamav_key().n.bits(), 2047);
    }

    #[test]
    fn cld_round_trip() {
        let mut files = BTreeMap::new();
        files.insert("daily.ndb".to_string(), b"A:0:*:41\n".to_vec());
        // Sorts before daily.info, which must still come second.
        files.insert("daily.hdb".to_string(), b"h\n".to_vec());
        files.insert("COPYING".to_string(), b"c\n".to_vec());
        files.insert(
            "daily.info".to_string(),
            b"ClamAV-VDB:x:7:12:216:X:X:b:1\n".to_vec(),
        );
        let cld = build_cld("daily", 8, &files);
        let h = nod32_engine::parse_cvd_header(&cld).unwrap();
        // The header is the .info's, which comes right after COPYING.
        assert_eq!(
            (h.version, h.sigs, h.flevel, h.build_time),
            (7, 12, 216, 1)
        );
        assert!(cld[512..].starts_with(b"COPYING"));
        let info = crate::info_of(&cld[512..]).unwrap();
        assert_eq!((info.name.as_str(), info.version), ("daily.info", 7));
        info.agrees(&h).unwrap();
        assert_eq!(unpack(&cld).unwrap(), files);
        let order: Vec<String> = nod32_engine::cvd_members(&cld)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(order, ["COPYING", "daily.info", "daily.hdb", "daily.ndb"]);
        // Without a .info, the version given.
        files.remove("daily.info");
        let h = nod32_engine::parse_cvd_header(&build_cld("daily", 8, &files))
            .unwrap();
        assert_eq!(h.version, 8);
    }
}
