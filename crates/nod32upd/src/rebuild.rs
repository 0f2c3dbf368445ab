//! The module rebuilt from the database directories, and the record
//! of what it was built from.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use nod32_agent::log::{Level, Logger};
use nod32_config::Config;
use nod32_engine::SignatureSet;

/// Where the module is built from: `db_dir`, read as ClamAV reads its
/// `DatabaseDirectory` (the databases nod32upd keeps, and local and
/// third-party signature files beside them), then `local_dir`.
pub(crate) fn source_dirs(u: &nod32_config::Upd) -> Vec<&Path> {
    std::iter::once(u.db_dir.as_path()).chain(u.local_dir.as_deref()).collect()
}

/// Where the parent notes what the installed module was built from
/// ([`sources`]), so that a later run sees a signature file added,
/// changed or removed although no database changed.
pub(crate) fn sources_record(u: &nod32_config::Upd) -> PathBuf {
    u.db_dir.join(".nod32upd.sources")
}

/// The files the module is built from, each with its size and time of
/// change, but the configured databases, whose versions tell their
/// changes: one line each, or one for a directory that cannot be read.
pub(crate) fn sources(u: &nod32_config::Upd) -> String {
    // A new engine whose modules hold more than the old one wrote
    // rebuilds the module once, although no database changed.
    let mut out = format!("module format\t{}\n", nod32_engine::FORMAT_VERSION);
    for dir in source_dirs(u) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            out.push_str(&format!("{}\tunreadable\n", dir.display()));
            continue;
        };
        let mut lines: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                if !SignatureSet::is_database_file(&name) {
                    return None;
                }
                let ours = dir == u.db_dir
                    && u.databases.iter().any(|db| {
                        name == format!("{db}.cvd")
                            || name == format!("{db}.cld")
                    });
                let m = std::fs::metadata(e.path()).ok()?;
                if ours || !m.is_file() {
                    return None;
                }
                let t = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .unwrap_or_default();
                Some(format!(
                    "{}\t{}\t{}.{:09}\n",
                    e.path().display(),
                    m.len(),
                    t.as_secs(),
                    t.subsec_nanos()
                ))
            })
            .collect();
        lines.sort();
        out.extend(lines);
    }
    // A new engine's module format (after a package upgrade) and the
    // choice of PUA detection change the module as a new file would.
    out.push_str(&format!(
        "module format\t{}\n",
        nod32_engine::FORMAT_VERSION
    ));
    if let Some(c) = pua_categories(u) {
        out.push_str(&format!("pua\t{c:?}\n"));
    }
    out
}

/// `[upd] detect_pua`, `include_pua`, `exclude_pua`, as the engine takes
/// them.
pub(crate) fn pua_categories(
    u: &nod32_config::Upd,
) -> Option<nod32_engine::PuaCategories> {
    use nod32_engine::PuaCategories as C;
    if !u.include_pua.is_empty() {
        Some(C::Include(u.include_pua.clone()))
    } else if !u.exclude_pua.is_empty() {
        Some(C::Exclude(u.exclude_pua.clone()))
    } else {
        u.detect_pua.then_some(C::All)
    }
}

/// Why no module was handed over.
pub(crate) enum Unbuilt {
    /// It could not be built: a file unreadable or malformed, nothing
    /// to build from.
    Failed(String),
    /// It was built but would detect much less than the running one.
    Refused(String),
}

/// What a module holds, for comparing two: hash signatures, body
/// patterns (`.ndb` signatures and `.ldb` subsignatures), logical
/// signatures.
pub(crate) fn holds(m: &nod32_engine::Database) -> (usize, usize, usize) {
    (m.hash_count(), m.pattern_count(), m.logical_count())
}

/// Builds the module as `nod32cli compile DB_DIR [LOCAL_DIR]` builds
/// it once the databases `staged` this run are in place: its bytes and
/// a line for the log. Unless `force`, a module that would detect much
/// less than the running one ([`crate::shrinks`]) is refused.
pub(crate) fn build(
    cfg: &Config,
    staged: &BTreeMap<String, (&'static str, Vec<u8>)>,
    force: bool,
    log: &Logger,
) -> Result<(Vec<u8>, String), Unbuilt> {
    let u = &cfg.upd;
    let module = &cfg.global.module;
    let dirs = source_dirs(u);
    let shown: Vec<String> =
        dirs.iter().map(|d| d.display().to_string()).collect();
    let shown = shown.join(" and ");
    let instead: Vec<(String, &[u8])> = staged
        .iter()
        .map(|(db, (ext, b))| (format!("{db}.{ext}"), b.as_slice()))
        .collect();
    let mut set = SignatureSet::new();
    if let Some(c) = pua_categories(u) {
        set.detect_pua(c);
    }
    for (i, dir) in dirs.iter().enumerate() {
        let instead: &[(String, &[u8])] = if i == 0 { &instead } else { &[] };
        set.load_dir(dir, instead)
            .map_err(|e| Unbuilt::Failed(unreadable_as(cfg, e)))?;
    }
    let s = set.stats().clone();
    if s.hash + s.body + s.logical + s.container + s.allow == 0 {
        return Err(Unbuilt::Failed(format!(
            "no signatures in {shown} to build the module from"
        )));
    }
    if let Some(w) = s.unsupported_warning() {
        log.log(Level::Warning, &format!("module: {w}"));
    }
    let (bytes, _) = nod32_engine::compile(&set);
    drop(set);
    let new = nod32_engine::Database::from_bytes(bytes.clone())
        .map_err(|e| Unbuilt::Failed(format!("the module built: {e}")))?;
    let running = nod32_engine::Database::open(module).ok();
    if let Some(why) = crate::shrinks(holds(&new), running.as_ref().map(holds))
    {
        let (h, p, l) = holds(&new);
        let against = running.as_ref().map_or(String::new(), |r| {
            let (rh, rp, rl) = holds(r);
            format!(", against {rh}, {rp} and {rl} in the running one")
        });
        let what = format!(
            "the module rebuilt from {shown} ({h} hash, {p} body, {l} logical{against}): {why}"
        );
        if !force {
            return Err(Unbuilt::Refused(format!(
                "refused to replace the module {}: {what}; the module and the databases stay as they were (to take it all the same, run nod32upd --force once)",
                module.display()
            )));
        }
        log.log(Level::Warning, &format!("{what}; taken because of --force"));
    }
    let line = format!(
        "module {} rebuilt ({} bytes; {} hash, {} body, {} logical signatures)",
        module.display(),
        bytes.len(),
        s.hash,
        s.body,
        s.logical
    );
    Ok((bytes, line))
}

/// A load error, with the way out when the file is one the user the
/// build runs as may not read (a signature file root left 0600).
pub(crate) fn unreadable_as(
    cfg: &Config,
    e: nod32_engine::LoadError,
) -> String {
    let denied = matches!(
        &e,
        nod32_engine::LoadError::Io { cause, .. }
            if cause.kind() == std::io::ErrorKind::PermissionDenied
    );
    let uid = nix::unistd::getuid();
    if !denied || uid.is_root() {
        return e.to_string();
    }
    let me = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name);
    format!(
        "{e}: the module is built as {me} ([global] user), who cannot read it; make it readable by {me} (mode 0644, or group {} and 0640)",
        cfg.global.group
    )
}
