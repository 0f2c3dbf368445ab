//! The project's own signed manifests: `update.ver` lists what a mirror
//! or a private feed serves (each database's newest version, and the
//! SHA-256 of every file), and `update.ver.sig` is its ed25519
//! signature. Subordinates that name the feed's public key
//! (`[upd] mirror_public_key`) take nothing the manifest does not list
//! with that hash. `nod32upd keygen` makes a key pair, `nod32upd sign`
//! writes and signs the manifest of a directory.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::hex;

/// Why a key file or a directory to list could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The secret-key file or the directory could not be read.
    #[error("{}: {cause}", path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// What the system said (in the message, so not a `source()`
        /// that a chain printer would repeat).
        cause: std::io::Error,
    },
    /// A file of the directory could not be read.
    #[error("{name}: {cause}")]
    File {
        /// Its name in the directory (as the manifest lists it).
        name: String,
        /// What the system said.
        cause: std::io::Error,
    },
    /// The secret-key file holds no key.
    #[error("{}: no secret key (64 hex digits) in it", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
    },
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let s = s.trim();
    if s.len() != 2 * N || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// A new key pair: the secret (32 random bytes from the kernel) and the
/// public key, both in hex.
///
/// # Errors
/// The kernel's random source cannot be read.
pub fn keygen() -> std::io::Result<(String, String)> {
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut seed)?;
    let sk = SigningKey::from_bytes(&seed);
    Ok((hex(&seed), hex(sk.verifying_key().as_bytes())))
}

/// The signing key in a secret-key file (its hex on the first line that
/// is not a comment).
///
/// # Errors
/// The file cannot be read or holds no key.
pub fn read_secret(path: &Path) -> Result<SigningKey, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|cause| {
        ManifestError::Read { path: path.to_path_buf(), cause }
    })?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    unhex::<32>(line)
        .map(|b| SigningKey::from_bytes(&b))
        .ok_or_else(|| ManifestError::NoKey { path: path.to_path_buf() })
}

/// The public key (hex) of a signing key.
pub fn public_of(sk: &SigningKey) -> String {
    hex(sk.verifying_key().as_bytes())
}

/// Whether a public key in hex is usable.
pub fn public_key_ok(s: &str) -> bool {
    unhex::<32>(s).is_some_and(|b| VerifyingKey::from_bytes(&b).is_ok())
}

/// The signature (hex) of `msg`.
pub fn sign(sk: &SigningKey, msg: &[u8]) -> String {
    hex(&sk.sign(msg).to_bytes())
}

/// Whether `sig` (hex) is `public`'s (hex) signature of `msg`, checked
/// strictly (no malleable or small-order forms).
pub fn verify(public: &str, msg: &[u8], sig: &str) -> bool {
    let (Some(pk), Some(sig)) = (unhex::<32>(public), unhex::<64>(sig)) else {
        return false;
    };
    let Ok(pk) = VerifyingKey::from_bytes(&pk) else { return false };
    pk.verify_strict(msg, &Signature::from_bytes(&sig)).is_ok()
}

/// A manifest: each database's newest version, and each file's SHA-256.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Database name → newest version served.
    pub versions: BTreeMap<String, u32>,
    /// File name → SHA-256 (hex).
    pub files: BTreeMap<String, String>,
}

impl Manifest {
    /// Reads `update.ver`: `[NAME]` sections with `version=`, and a
    /// `[files]` section of `FILE=SHA256` lines.
    pub fn parse(text: &str) -> Manifest {
        let mut m = Manifest::default();
        let mut section = String::new();
        for line in text.lines() {
            let line = line.trim();
            if let Some(s) =
                line.strip_prefix('[').and_then(|l| l.strip_suffix(']'))
            {
                section = s.to_string();
            } else if let Some((k, v)) = line.split_once('=') {
                if section == "files" {
                    m.files.insert(
                        k.trim().to_string(),
                        v.trim().to_ascii_lowercase(),
                    );
                } else if k.trim() == "version"
                    && let Ok(v) = v.trim().parse()
                {
                    m.versions.insert(section.clone(), v);
                }
            }
        }
        m
    }

    /// Whether `bytes` are what the manifest lists as `file`.
    pub fn lists(&self, file: &str, bytes: &[u8]) -> bool {
        self.files.get(file).is_some_and(|h| *h == hex(&Sha256::digest(bytes)))
    }
}

/// The `[files]` section for the `.cvd` and `.cdiff` files in `dir`.
///
/// # Errors
/// A file cannot be read.
pub fn files_section(dir: &Path) -> Result<String, ManifestError> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|cause| ManifestError::Read {
            path: dir.to_path_buf(),
            cause,
        })?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            !n.starts_with('.')
                && (n.ends_with(".cvd") || n.ends_with(".cdiff"))
        })
        .collect();
    names.sort();
    let mut out = String::from("[files]\n");
    for n in names {
        let at = |cause| ManifestError::File { name: n.clone(), cause };
        let mut f = std::fs::File::open(dir.join(&n)).map_err(at)?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let k = f.read(&mut buf).map_err(at)?;
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
        }
        out.push_str(&format!("{n}={}\n", hex(&h.finalize())));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let (secret, public) = keygen().unwrap();
        let sk = SigningKey::from_bytes(&unhex::<32>(&secret).unwrap());
        assert_eq!(public_of(&sk), public);
        assert!(public_key_ok(&public));
        let sig = sign(&sk, b"[daily]\nversion=7\n");
        assert!(verify(&public, b"[daily]\nversion=7\n", &sig));
        assert!(!verify(&public, b"[daily]\nversion=8\n", &sig));
        let (_, other) = keygen().unwrap();
        assert!(!verify(&other, b"[daily]\nversion=7\n", &sig));
        assert!(!verify(&public, b"x", "zz"));
    }

    #[test]
    fn manifests_parse() {
        let m = Manifest::parse(
            "# x\n[daily]\nfile=daily.cvd\nversion=7\ncvd=6\n[main]\nversion=62\n[files]\ndaily.cvd=AB12\n",
        );
        assert_eq!(m.versions["daily"], 7);
        assert_eq!(m.versions["main"], 62);
        assert_eq!(m.files["daily.cvd"], "ab12");
        assert!(!m.lists("daily.cvd", b"x"));
        assert!(!m.lists("other", b"x"));
    }
}
