//! Serving a mirror: the databases published for other hosts, the
//! signed manifest, and the key tools (`keygen`, `sign`).

use std::path::{Path, PathBuf};

use nod32_config::Config;

use crate::app::*;
use crate::manifest;
use crate::updater::*;

/// Why the mirror could not be published.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MirrorError {
    /// A file or directory of the mirror could not be written.
    #[error("{}: {cause}", path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        cause: std::io::Error,
    },
    /// The signing key or the files to list could not be read.
    #[error(transparent)]
    Manifest(#[from] manifest::ManifestError),
}

impl MirrorError {
    fn at(path: PathBuf) -> impl FnOnce(std::io::Error) -> MirrorError {
        move |cause| MirrorError::Write { path, cause }
    }
}

/// Copies `src` to `dst` through a synced temp file and a rename, so a
/// web server serving `dst` never serves half a file.
pub(crate) fn copy_atomic(src: &Path, dst: &Path) -> std::io::Result<()> {
    replace(dst, |tmp| std::fs::copy(src, tmp).map(drop))
}

/// The first 512 bytes of a file (a CVD's header) and its size.
pub(crate) fn head_of(p: &Path) -> Option<(Vec<u8>, u64)> {
    let mut f = std::fs::File::open(p).ok()?;
    let mut head = vec![0; 512];
    std::io::Read::read_exact(&mut f, &mut head).ok()?;
    Some((head, f.metadata().ok()?.len()))
}

/// Makes `[upd] mirror_dir` a mirror for subordinate servers: the
/// verified CVDs as they were downloaded (still signed, so whoever
/// fetches them verifies them again) and `update.ver` listing them. Any
/// static web server can serve the directory (as `/nod_upd`); another
/// nod32upd then names it in its `servers`, and can be a mirror in turn.
pub(crate) fn publish(cfg: &Config) -> Result<String, MirrorError> {
    let u = &cfg.upd;
    let dir = &u.mirror_dir;
    std::fs::create_dir_all(dir).map_err(MirrorError::at(dir.clone()))?;
    remove_leftovers(dir, "");
    let mut ver = String::from(
        "# nod32upd mirror: the databases here and their versions\n",
    );
    let mut fresh = 0;
    for db in &u.databases {
        let src = u.db_dir.join(format!("{db}.cvd"));
        let dst = dir.join(format!("{db}.cvd"));
        // A .cld (built locally from .cdiff files) carries no signature
        // and is not served: the mirror keeps the last CVD and the
        // .cdiff files after it (copied as they were fetched).
        if let Some(src_head) = head_of(&src)
            && head_of(&dst) != Some(src_head)
        {
            copy_atomic(&src, &dst).map_err(MirrorError::at(dst.clone()))?;
            fresh += 1;
        }
        // Runs as root: only the 512-byte headers are read here (what
        // was installed had its header checked against its .info).
        let installed = ["cvd", "cld"]
            .iter()
            .filter_map(|x| head_of(&u.db_dir.join(format!("{db}.{x}"))))
            .filter_map(|(h, _)| nod32_engine::parse_cvd_header(&h).ok())
            .map(|h| h.version)
            .max();
        let (Some(version), Some((head, size))) = (installed, head_of(&dst))
        else {
            continue;
        };
        let Ok(h) = nod32_engine::parse_cvd_header(&head) else { continue };
        // `version` is the newest this mirror gives (with its .cdiff
        // files), `cvd` that of its CVD.
        ver.push_str(&format!(
            "[{db}]\nfile={db}.cvd\nversion={version}\ncvd={}\nsize={size}\nmd5={}\n",
            h.version,
            h.md5.unwrap_or_default()
        ));
    }
    let key = match &u.mirror_signing_key {
        Some(p) => Some(manifest::read_secret(p)?),
        None => None,
    };
    write_manifest(dir, ver, key.as_ref())?;
    Ok(format!(
        "mirror {} ({fresh} files refreshed{})",
        dir.display(),
        if key.is_some() { ", update.ver signed" } else { "" }
    ))
}

/// Writes `update.ver` (the database sections given, and the SHA-256 of
/// every .cvd and .cdiff in `dir`) and, with a key, `update.ver.sig`.
/// The signature is written first: a subordinate reading between the
/// two renames sees a mismatch and tries again next run, never an
/// unsigned manifest taken for signed.
pub(crate) fn write_manifest(
    dir: &Path,
    mut ver: String,
    key: Option<&ed25519_dalek::SigningKey>,
) -> Result<(), MirrorError> {
    ver.push_str(&manifest::files_section(dir)?);
    let at = |f: &str| MirrorError::at(dir.join(f));
    match key {
        Some(k) => {
            let sig = manifest::sign(k, ver.as_bytes());
            write_atomic(
                &dir.join("update.ver.sig"),
                format!("{sig}\n").as_bytes(),
            )
            .map_err(at("update.ver.sig"))?;
        }
        None => {
            let _ = std::fs::remove_file(dir.join("update.ver.sig"));
        }
    }
    write_atomic(&dir.join("update.ver"), ver.as_bytes())
        .map_err(at("update.ver"))
}

/// `nod32upd keygen FILE`: a new signing key in FILE (mode 0600, never
/// overwritten); its public key on stdout.
pub(crate) fn keygen(path: &Path) -> i32 {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let (secret, public) = match manifest::keygen() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("nod32upd: no random bytes: {e}");
            return exit::FAILED;
        }
    };
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| {
            writeln!(
                f,
                "# nod32upd signing key; public key {public}\n{secret}"
            )?;
            f.sync_all()
        });
    if let Err(e) = written {
        eprintln!("nod32upd: {}: {e}", path.display());
        return exit::FAILED;
    }
    println!("{public}");
    exit::OK
}

/// `nod32upd sign --key FILE DIR`: the signed manifest of a directory of
/// CVDs and .cdiff files (a private feed, or a mirror kept by other
/// means).
pub(crate) fn sign_dir(key: &Path, dir: &Path) -> i32 {
    let k = match manifest::read_secret(key) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("nod32upd: {e}");
            return exit::CONFIG;
        }
    };
    // Each database's newest version: its CVD's, or the last .cdiff's.
    let mut newest: std::collections::BTreeMap<String, u32> =
        std::collections::BTreeMap::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let v = if let Some(db) = name.strip_suffix(".cvd") {
            head_of(&e.path())
                .and_then(|(h, _)| nod32_engine::parse_cvd_header(&h).ok())
                .map(|h| (db.to_string(), h.version))
        } else {
            name.strip_suffix(".cdiff")
                .and_then(|s| s.rsplit_once('-'))
                .and_then(|(db, v)| Some((db.to_string(), v.parse().ok()?)))
        };
        if let Some((db, v)) = v {
            let n = newest.entry(db).or_insert(v);
            *n = (*n).max(v);
        }
    }
    let mut ver = String::from(
        "# nod32upd feed: the databases here and their versions\n",
    );
    for (db, v) in &newest {
        ver.push_str(&format!("[{db}]\nfile={db}.cvd\nversion={v}\n"));
    }
    match write_manifest(dir, ver, Some(&k)) {
        Ok(()) => {
            println!(
                "nod32upd: signed {} ({} databases)",
                dir.join("update.ver").display(),
                newest.len()
            );
            exit::OK
        }
        Err(e) => {
            eprintln!("nod32upd: {e}");
            exit::FAILED
        }
    }
}
