//! Releases from quarantine that the agents let through unscanned.
//!
//! `nod32cli quarantine release` hands the message back to the MTA,
//! whose filters (a milter on `non_smtpd_milters`, the content filter,
//! nod32mda at delivery) would scan it again, refuse it and bounce the
//! virus to its (often forged) sender. So the release carries a header
//! signed with a key only root holds, naming the quarantine ID, the
//! recipients and the time, over a digest of the body; an agent that
//! can verify it with the public key passes the message on unscanned to
//! those recipients, for five days. The public key is world-readable
//! (nod32mda runs as any local user); the secret key is root's.
//!
//! The keys live beside the configuration file: `release.key` (secret,
//! 0600, made at the first release) and `release.pub`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

/// The header a release carries.
pub const HEADER: &str = "X-NOD32-Released";

/// How long a release is honoured: an MTA keeps a message five days
/// (Postfix's `maximal_queue_lifetime`) before it gives up.
pub const VALID_SECS: u64 = 5 * 24 * 3600;

/// The secret key's file beside `config`.
pub fn secret_path(config: &Path) -> PathBuf {
    config.with_file_name("release.key")
}

/// The public key's file beside `config`.
pub fn public_path(config: &Path) -> PathBuf {
    config.with_file_name("release.pub")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
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

/// The release keys cannot be read or made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// A key file (or `/dev/urandom`, for a new key) cannot be read or
    /// written.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause, in the message already (not a `source`, so that
        /// a chain of causes does not print it twice).
        cause: std::io::Error,
    },
    /// The secret key file holds something else than a key.
    #[error("{}: no secret key (64 hex digits)", path.display())]
    NotAKey {
        /// The file.
        path: PathBuf,
    },
}

impl ReleaseError {
    fn at(path: &Path) -> impl FnOnce(std::io::Error) -> ReleaseError {
        let path = path.to_path_buf();
        move |cause| ReleaseError::Io { path, cause }
    }
}

/// The secret key beside `config`, made (with its public key) when there
/// is none yet.
///
/// # Errors
/// The files cannot be read or written, or hold no key.
pub fn signing_key(config: &Path) -> Result<SigningKey, ReleaseError> {
    let sec = secret_path(config);
    let pubf = public_path(config);
    match std::fs::read_to_string(&sec) {
        Ok(text) => {
            let sk = unhex::<32>(&text)
                .map(|b| SigningKey::from_bytes(&b))
                .ok_or_else(|| ReleaseError::NotAKey { path: sec.clone() })?;
            if !pubf.exists() {
                write_public(&pubf, &sk)?;
            }
            Ok(sk)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            let urandom = Path::new("/dev/urandom");
            std::fs::File::open(urandom)
                .and_then(|mut f| f.read_exact(&mut seed))
                .map_err(ReleaseError::at(urandom))?;
            let sk = SigningKey::from_bytes(&seed);
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&sec)
                .map_err(ReleaseError::at(&sec))?;
            writeln!(f, "{}", hex(&seed)).map_err(ReleaseError::at(&sec))?;
            write_public(&pubf, &sk)?;
            Ok(sk)
        }
        Err(e) => Err(ReleaseError::at(&sec)(e)),
    }
}

fn write_public(path: &Path, sk: &SigningKey) -> Result<(), ReleaseError> {
    use std::os::unix::fs::PermissionsExt;
    let text = format!("{}\n", hex(sk.verifying_key().as_bytes()));
    std::fs::write(path, text)
        .and_then(|()| {
            std::fs::set_permissions(
                path,
                std::fs::Permissions::from_mode(0o644),
            )
        })
        .map_err(ReleaseError::at(path))
}

/// The public key beside `config`, if there is a usable one.
pub fn verifying_key(config: &Path) -> Option<VerifyingKey> {
    read_public(&public_path(config))
}

/// The public key in the file `path`.
pub fn read_public(path: &Path) -> Option<VerifyingKey> {
    let text = std::fs::read_to_string(path).ok()?;
    VerifyingKey::from_bytes(&unhex::<32>(&text)?).ok()
}

/// Whether the message's header has a release field (whatever it
/// holds): only then is the key read and the release checked.
pub fn carries_header(msg: &[u8]) -> bool {
    let head = &msg[..msg.len() - body_of(msg).len()];
    head.split(|&b| b == b'\n').any(|l| {
        l.len() > HEADER.len()
            && l[..HEADER.len()].eq_ignore_ascii_case(HEADER.as_bytes())
            && l[HEADER.len()..].trim_ascii_start().starts_with(b":")
    })
}

/// The body (after the first empty line), its line ends made LF and
/// its trailing empty lines dropped, so that an MTA's CR LF or LF form
/// of it digests alike.
fn body_digest(msg: &[u8]) -> [u8; 32] {
    let body = body_of(msg);
    let mut h = Sha256::new();
    let mut pending_newlines = 0usize;
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            pending_newlines += 1;
            continue;
        }
        for _ in 0..pending_newlines {
            h.update(b"\n");
        }
        pending_newlines = 1;
        h.update(line);
    }
    h.finalize().into()
}

/// The bytes after the header block's empty line (none when there is no
/// such line).
fn body_of(msg: &[u8]) -> &[u8] {
    let mut i = 0;
    while i < msg.len() {
        let end =
            memchr::memchr(b'\n', &msg[i..]).map_or(msg.len(), |e| i + e);
        let line = &msg[i..end];
        if line.is_empty() || line == b"\r" {
            return msg.get(end + 1..).unwrap_or_default();
        }
        i = end + 1;
    }
    &[]
}

fn signed_text(id: &str, t: u64, rcpts: &[String], digest: &[u8]) -> Vec<u8> {
    let mut r: Vec<String> =
        rcpts.iter().map(|a| a.to_ascii_lowercase()).collect();
    r.sort();
    r.dedup();
    let mut out =
        format!("nod32-release\0{id}\0{t}\0{}\0", r.join(",")).into_bytes();
    out.extend_from_slice(digest);
    out
}

/// `msg` with a release header on top for `rcpts`, signed with `sk` at
/// `now` (seconds since the epoch).
pub fn sign(
    sk: &SigningKey,
    id: &str,
    rcpts: &[String],
    msg: &[u8],
    now: u64,
) -> Vec<u8> {
    let sig = sk.sign(&signed_text(id, now, rcpts, &body_digest(msg)));
    let mut out = format!(
        "{HEADER}: id={id}; t={now}; to={}; sig={}\r\n",
        rcpts.join(","),
        hex(&sig.to_bytes())
    )
    .into_bytes();
    if !msg.contains(&b'\r') {
        // The header's line end as the message's own.
        out.truncate(out.len() - 2);
        out.push(b'\n');
    }
    // An mbox "From " line (a copy nod32mda kept) stays first: a header
    // before it would end the header block there.
    let from_line = if msg.starts_with(b"From ") {
        memchr::memchr(b'\n', msg).map_or(msg.len(), |i| i + 1)
    } else {
        0
    };
    let mut whole = msg[..from_line].to_vec();
    whole.append(&mut out);
    whole.extend_from_slice(&msg[from_line..]);
    whole
}

/// The quarantine ID of a release that `key` verifies in `msg`'s header,
/// made at most [`VALID_SECS`] before `now`, for every one of `rcpts`.
pub fn verify(
    key: &VerifyingKey,
    msg: &[u8],
    rcpts: &[String],
    now: u64,
) -> Option<String> {
    if rcpts.is_empty() {
        return None;
    }
    // The body's digest only for a header worth checking: every message
    // an agent scans comes through here.
    let mut digest = None;
    let head = &msg[..msg.len() - body_of(msg).len()];
    let text = String::from_utf8_lossy(head);
    text.lines()
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim().eq_ignore_ascii_case(HEADER).then_some(value)
        })
        .find_map(|value| {
            let (mut id, mut t, mut to, mut sig) = (None, None, None, None);
            for part in value.split(';') {
                match part.trim().split_once('=') {
                    Some(("id", v)) => id = Some(v.trim()),
                    Some(("t", v)) => t = v.trim().parse::<u64>().ok(),
                    Some(("to", v)) => to = Some(v.trim()),
                    Some(("sig", v)) => sig = unhex::<64>(v),
                    _ => {}
                }
            }
            let (id, t, to, sig) = (id?, t?, to?, sig?);
            if t > now + 3600 || now.saturating_sub(t) > VALID_SECS {
                return None;
            }
            let signed: Vec<String> =
                to.split(',').map(|a| a.trim().to_string()).collect();
            let all = rcpts
                .iter()
                .all(|r| signed.iter().any(|s| s.eq_ignore_ascii_case(r)));
            if !all {
                return None;
            }
            let digest = digest.get_or_insert_with(|| body_digest(msg));
            key.verify(
                &signed_text(id, t, &signed, &digest[..]),
                &Signature::from_bytes(&sig),
            )
            .ok()
            .map(|()| id.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn rcpts(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_release_verifies_for_its_recipients_in_any_line_form() {
        let msg = b"From: a@b\r\nSubject: x\r\n\r\nbody line\r\n.dot\r\n\r\n";
        let to = rcpts(&["alice@example.net", "bob@example.net"]);
        let out = sign(&key(), "ID1", &to, msg, NOW);
        let vk = key().verifying_key();
        assert_eq!(verify(&vk, &out, &to, NOW + 10).as_deref(), Some("ID1"));
        // One of them, upper case, later, the MTA adding headers and
        // turning CR LF into LF.
        let mut seen = b"Received: by mx\n".to_vec();
        seen.extend(
            String::from_utf8_lossy(&out).replace("\r\n", "\n").bytes(),
        );
        let one = rcpts(&["BOB@example.net"]);
        assert_eq!(
            verify(&vk, &seen, &one, NOW + VALID_SECS).as_deref(),
            Some("ID1")
        );
    }

    #[test]
    fn an_mbox_from_line_stays_first() {
        let msg = b"From bob@example.org Sat Dec  5 21:00:00 2026\nSubject: x\n\nbody\n";
        let to = rcpts(&["alice@example.net"]);
        let out = sign(&key(), "ID1", &to, msg, NOW);
        assert!(out.starts_with(b"From bob@example.org Sat"));
        let second = out.split(|&b| b == b'\n').nth(1).unwrap();
        assert!(second.starts_with(b"X-NOD32-Released: id=ID1; "));
        let vk = key().verifying_key();
        assert_eq!(verify(&vk, &out, &to, NOW).as_deref(), Some("ID1"));
    }

    #[test]
    fn forged_stale_or_redirected_releases_do_not_verify() {
        let msg = b"Subject: x\n\nbody\n";
        let to = rcpts(&["alice@example.net"]);
        let out = sign(&key(), "ID1", &to, msg, NOW);
        let vk = key().verifying_key();
        let other = SigningKey::from_bytes(&[8u8; 32]).verifying_key();
        assert_eq!(verify(&other, &out, &to, NOW), None);
        assert_eq!(verify(&vk, &out, &to, NOW + VALID_SECS + 1), None);
        assert_eq!(verify(&vk, &out, &rcpts(&["eve@example.net"]), NOW), None);
        assert_eq!(verify(&vk, &out, &rcpts(&[]), NOW), None);
        // Another body under the same header.
        let mut swapped = out.clone();
        swapped.truncate(out.len() - 5);
        swapped.extend_from_slice(b"evil\n");
        assert_eq!(verify(&vk, &swapped, &to, NOW), None);
        // A header moved into the body does not count.
        let mut inner = b"Subject: y\n\n".to_vec();
        inner.extend_from_slice(&out);
        assert_eq!(verify(&vk, &inner, &to, NOW), None);
    }

    #[test]
    fn only_a_release_field_in_the_header_counts() {
        assert!(carries_header(
            b"Subject: a\r\nX-NOD32-Released: id=1\r\n\r\nb"
        ));
        assert!(carries_header(b"x-nod32-released : id=1\n\nb"));
        assert!(!carries_header(b"Subject: a\n\nX-NOD32-Released: id=1\n"));
        assert!(!carries_header(b"X-NOD32-Released-By: x\n\nb"));
        assert!(!carries_header(b"Subject: X-NOD32-Released: x\n\nb"));
    }

    #[test]
    fn keys_are_made_once_beside_the_configuration() {
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().join("nod32.toml");
        assert!(verifying_key(&cfg).is_none());
        let sk = signing_key(&cfg).unwrap();
        let again = signing_key(&cfg).unwrap();
        assert_eq!(sk.to_bytes(), again.to_bytes());
        assert_eq!(verifying_key(&cfg).unwrap(), sk.verifying_key());
        use std::os::unix::fs::PermissionsExt;
        let mode =
            std::fs::metadata(secret_path(&cfg)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
