//! The split run: the unprivileged child that talks to the servers and
//! hands over what passed, and the root parent that installs it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nod32_agent::log::{Level, Logger};
use nod32_config::Config;

use crate::RsaKey;
use crate::app::*;
use crate::cli::Cli;
use crate::fetch::{Client, Credentials, Secrets};
use crate::handover;
use crate::rebuild::*;
use crate::updater::*;

/// Why the root parent installs nothing of what the child handed over,
/// or could not store a file of it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PrivsepError {
    /// A file or directory beside the installed ones could not be made
    /// or written.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the system said.
        cause: std::io::Error,
    },
    /// A file ended before the length its header gives.
    #[error("{}: cut short", path.display())]
    CutShort {
        /// Where it was going.
        path: PathBuf,
    },
    /// A file received could not be renamed into place.
    #[error("storing {}: {cause}", path.display())]
    Store {
        /// Where it was going.
        path: PathBuf,
        /// What the system said.
        cause: std::io::Error,
    },
    /// The module received does not open or verify.
    #[error("the module received does not verify: {cause}")]
    Module {
        /// What the engine said.
        cause: nod32_engine::ModuleError,
    },
    /// No pipe to read the child from.
    #[error("no pipe")]
    NoPipe,
    /// What came down the pipe is not a message.
    #[error(transparent)]
    Handover(#[from] handover::HandoverError),
    /// A message after the one that ends the stream.
    #[error("more after the end")]
    AfterEnd,
    /// A database this configuration does not update.
    #[error("db {name}: not a database here")]
    NotADatabase {
        /// The file name sent.
        name: String,
    },
    /// A database sent twice.
    #[error("db {name}: twice")]
    Twice {
        /// The file name sent.
        name: String,
    },
    /// A database larger than any taken.
    #[error("db {name}: too large")]
    DbTooLarge {
        /// The file name sent.
        name: String,
    },
    /// A file for the mirror that is not one of its `.cdiff` files, one
    /// too many, or one too large.
    #[error("mirror {name}: not expected")]
    NotForMirror {
        /// The file name sent.
        name: String,
    },
    /// A module line with no module after it.
    #[error("module: no bytes")]
    NoModuleBytes,
    /// A module larger than any taken.
    #[error("module: too large")]
    ModuleTooLarge,
    /// A kind of message the child never sends.
    #[error("unknown kind {kind}")]
    UnknownKind {
        /// The kind sent.
        kind: String,
    },
}

impl PrivsepError {
    fn at(path: &Path) -> impl Fn(std::io::Error) -> PrivsepError + Copy {
        move |cause| PrivsepError::Io { path: path.to_path_buf(), cause }
    }
}

/// The directory inside `db_dir` that belongs to `[global] user`:
/// partial downloads and the servers' back-off. `db_dir` itself stays
/// root's, so that user can change nothing there but this directory's
/// contents, and what it hands over is written into place by root.
pub(crate) fn work_dir(
    db_dir: &Path,
    owner: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
) -> Result<PathBuf, PrivsepError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let work = db_dir.join(".work");
    let at = PrivsepError::at(&work);
    // Only root can have put anything else there (db_dir is root's).
    if std::fs::symlink_metadata(&work).is_ok_and(|m| !m.is_dir()) {
        std::fs::remove_file(&work).map_err(at)?;
    }
    if !work.is_dir() {
        std::fs::DirBuilder::new().mode(0o700).create(&work).map_err(at)?;
    }
    if let Some((uid, gid)) = owner
        && std::fs::symlink_metadata(&work)
            .is_ok_and(|m| (m.uid(), m.gid()) != (uid.as_raw(), gid.as_raw()))
    {
        // While it is still root's (no CAP_FOWNER needed).
        std::fs::set_permissions(
            &work,
            std::fs::Permissions::from_mode(0o700),
        )
        .map_err(at)?;
        std::os::unix::fs::lchown(
            &work,
            Some(uid.as_raw()),
            Some(gid.as_raw()),
        )
        .map_err(at)?;
    }
    Ok(work)
}

/// A file received from the child, in a temp file beside where it goes
/// until [`Pending::commit`]; removed if never committed.
pub(crate) struct Pending {
    pub(crate) tmp: PathBuf,
    pub(crate) dest: PathBuf,
    pub(crate) done: bool,
}

impl Pending {
    /// Copies `len` bytes from `r` into a temp file beside `dest`.
    pub(crate) fn receive(
        dest: &Path,
        r: &mut impl std::io::Read,
        len: u64,
    ) -> Result<Pending, PrivsepError> {
        use std::os::unix::fs::PermissionsExt;
        let dir = dest.parent().unwrap_or(Path::new("."));
        let name = dest.file_name().unwrap_or_default().to_string_lossy();
        let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
        let p = Pending { tmp, dest: dest.to_path_buf(), done: false };
        let at = PrivsepError::at(&p.tmp);
        let mut f = std::fs::File::create(&p.tmp).map_err(at)?;
        // Read by every agent, whatever the umask.
        f.set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(at)?;
        let n = std::io::copy(&mut std::io::Read::take(&mut *r, len), &mut f)
            .map_err(at)?;
        if n != len {
            return Err(PrivsepError::CutShort { path: dest.to_path_buf() });
        }
        f.sync_all().map_err(at)?;
        Ok(p)
    }

    /// Renames it into place (and syncs the directory).
    pub(crate) fn commit(mut self) -> Result<(), PrivsepError> {
        std::fs::rename(&self.tmp, &self.dest).map_err(|cause| {
            PrivsepError::Store { path: self.dest.clone(), cause }
        })?;
        self.done = true;
        if let Some(d) = self.dest.parent()
            && let Ok(d) = std::fs::File::open(d)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// What the child handed over.
#[derive(Default)]
pub(crate) struct Received {
    pub(crate) dbs: Vec<(String, Pending)>,
    pub(crate) mirror: Vec<Pending>,
    pub(crate) module: Option<(String, Pending)>,
    /// Why no module was built.
    pub(crate) unbuilt: Option<String>,
    pub(crate) parts: Vec<String>,
    pub(crate) code: Option<i32>,
    pub(crate) ended: bool,
}

/// Reads what the child sends, checking every name against what it may
/// send: the configured databases, their .cdiff files for the mirror,
/// the module. Files go into temp files beside their places.
pub(crate) fn receive(
    r: &mut impl std::io::BufRead,
    cfg: &Config,
) -> Result<Received, PrivsepError> {
    let u = &cfg.upd;
    let mut got = Received::default();
    let text_max = 1 << 16;
    while let Some(h) = handover::read_header(r)? {
        if got.ended {
            return Err(PrivsepError::AfterEnd);
        }
        let named_db = |ext: &[&str]| {
            u.databases
                .iter()
                .find(|db| ext.iter().any(|x| h.name == format!("{db}.{x}")))
        };
        match h.kind.as_str() {
            "db" => {
                let Some(db) = named_db(&["cvd", "cld"]) else {
                    return Err(PrivsepError::NotADatabase { name: h.name });
                };
                if got.dbs.iter().any(|(d, _)| d == db) {
                    return Err(PrivsepError::Twice { name: h.name });
                }
                // A .cld is an unpacked database, larger than its CVD.
                if h.len > u.max_download.saturating_mul(4) {
                    return Err(PrivsepError::DbTooLarge { name: h.name });
                }
                let p = Pending::receive(&u.db_dir.join(&h.name), r, h.len)?;
                got.dbs.push((db.clone(), p));
            }
            "mirror" => {
                let ok = u.mirror_enabled
                    && h.name.strip_suffix(".cdiff").is_some_and(|s| {
                        s.rsplit_once('-').is_some_and(|(db, v)| {
                            u.databases.iter().any(|d| d == db)
                                && v.parse::<u32>().is_ok()
                        })
                    });
                let many = got.mirror.len() as u64
                    >= u64::from(MAX_CDIFFS) * u.databases.len() as u64;
                if !ok || many || h.len > u.max_download {
                    return Err(PrivsepError::NotForMirror { name: h.name });
                }
                std::fs::create_dir_all(&u.mirror_dir)
                    .map_err(PrivsepError::at(&u.mirror_dir))?;
                got.mirror.push(Pending::receive(
                    &u.mirror_dir.join(&h.name),
                    r,
                    h.len,
                )?);
            }
            "module" => {
                let line = String::from_utf8_lossy(&handover::read_body(
                    r, &h, text_max,
                )?)
                .into_owned();
                let Some(next) = handover::read_header(r)?
                    .filter(|n| n.kind == "bytes" && got.module.is_none())
                else {
                    return Err(PrivsepError::NoModuleBytes);
                };
                if next.len > 1 << 32 {
                    return Err(PrivsepError::ModuleTooLarge);
                }
                let p = Pending::receive(&cfg.global.module, r, next.len)?;
                got.module = Some((line, p));
            }
            "unbuilt" | "part" | "code" => {
                let t = String::from_utf8_lossy(&handover::read_body(
                    r, &h, text_max,
                )?)
                .into_owned();
                match h.kind.as_str() {
                    "unbuilt" => got.unbuilt = Some(t),
                    "part" => got.parts.push(t),
                    _ => got.code = t.parse().ok(),
                }
            }
            "end" => got.ended = true,
            k => {
                return Err(PrivsepError::UnknownKind { kind: k.to_string() });
            }
        }
    }
    Ok(got)
}

/// `nod32upd fetch`: the child's side of a run. It takes the
/// configuration and the credentials from its parent on stdin, drops to
/// `[global] user`, and does everything that reads what the servers
/// send; what passes goes to stdout for the parent to install.
pub(crate) fn child(cli: &Cli, parent: i32) -> i32 {
    use std::io::Read;
    let mut input = Vec::new();
    if std::io::stdin().take(1 << 24).read_to_end(&mut input).is_err() {
        return exit::FAILED;
    }
    let mut given: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut r = &input[..];
    while let Ok(Some(h)) = handover::read_header(&mut r) {
        match handover::read_body(&mut r, &h, 1 << 24) {
            Ok(b) => given.insert(h.kind, b),
            Err(_) => return exit::FAILED,
        };
    }
    let text = |k: &str| {
        given.get(k).map(|b| String::from_utf8_lossy(b).into_owned())
    };
    let cfg = match Config::from_str_named(
        &text("config").unwrap_or_default(),
        &cli.config.to_string_lossy(),
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nod32upd: {e}");
            return exit::CONFIG;
        }
    };
    let g = &cfg.global;
    if let Err(e) = nod32_daemon::drop_privileges(&g.user, &g.group) {
        eprintln!("nod32upd: {e}");
        return exit::CONFIG;
    }
    // No other process of that user may look into this one (trace it,
    // read its memory or its pipes): it holds the credentials and the
    // bytes it verified.
    let _ = nix::sys::prctl::set_dumpable(false);
    // It ends with its parent (a killed run leaves no orphan writing on);
    // set after the uid change, which clears it.
    if nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .is_err()
        || nix::unistd::getppid().as_raw() != parent
    {
        return exit::FAILED;
    }
    let u = &cfg.upd;
    let p = &u.policy;
    let log = if cli.foreground {
        Logger::foreground("nod32upd", p.log_level)
    } else {
        Logger::syslog("nod32upd", &p.syslog_facility, p.log_level)
    };
    let key_of = |k: &Option<String>, dflt: fn() -> RsaKey| match k {
        None => Some(dflt()),
        Some(k) => RsaKey::parse(k),
    };
    let (Some(key), Some(cdiff_key), Some(info_key)) = (
        key_of(&u.cvd_key, RsaKey::clamav),
        key_of(&u.cdiff_key, crate::cdiff::clamav_key),
        key_of(&u.info_key, crate::clamav_info_key),
    ) else {
        return exit::CONFIG;
    };
    let Ok(client) =
        Client::new(u.timeout, u.max_download, u.proxy.as_deref())
    else {
        return exit::CONFIG;
    };
    let work = u.db_dir.join(".work");
    // An orphan of a killed run may still be dying: its lock goes with it.
    let lock = match std::fs::File::create(work.join(".lock")) {
        Ok(f) => f,
        Err(e) => {
            log.log(Level::Error, &format!("{}: {e}", work.display()));
            return exit::FAILED;
        }
    };
    let Ok(_lock) =
        nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
    else {
        return exit::FAILED;
    };
    remove_leftovers(&work, "");
    let secrets = Secrets {
        configured: u.username.as_ref().map(|user| Credentials {
            user: user.clone(),
            password: u.password.clone().unwrap_or_default(),
        }),
        auth_file: text("auth"),
        netrc: text("netrc"),
    };
    let mut code = exit::OK;
    let mut parts = Vec::new();
    let mut up = Updater {
        cfg: &cfg,
        log: &log,
        client,
        key,
        cdiff_key,
        info_key,
        listed: std::collections::HashMap::new(),
        servers: if cli.servers.is_empty() {
            u.servers.clone()
        } else {
            cli.servers.clone()
        },
        backoff: BackOff::load(work.join("backoff")),
        force: cli.force,
        work: work.clone(),
        secrets,
        staged: BTreeMap::new(),
        for_mirror: Vec::new(),
    };
    let mut outcomes = Vec::new();
    if !cli.compile_only {
        for db in &u.databases {
            outcomes.push((db, up.update(db)));
        }
        up.backoff.save();
    }
    let module = &cfg.global.module;
    // A signature file added, changed or removed beside the databases
    // (or in local_dir) counts as a change too.
    let changed =
        std::fs::read_to_string(sources_record(u)).ok() != Some(sources(u));
    let built = (!up.staged.is_empty()
        || cli.compile_only
        || changed
        || !module.exists())
    .then(|| build(&cfg, &up.staged, cli.force, &log));
    let refused = matches!(built, Some(Err(Unbuilt::Refused(_))));
    for (db, o) in outcomes {
        match o {
            Outcome::Current(v) => parts.push(format!("{db} {v} current")),
            Outcome::Updated { to, .. } if refused => {
                parts.push(format!("{db} {to} not installed"));
            }
            Outcome::Updated { from, to, how } => {
                parts.push(match from {
                    Some(f) => format!("{db} {f} -> {to} ({how})"),
                    None => format!("{db} {to} new ({how})"),
                });
            }
            Outcome::Failed(why) => {
                code = code.max(exit::FAILED);
                parts.push(format!("{db} not updated ({why})"));
            }
            Outcome::Refused(why) => {
                code = exit::REFUSED;
                parts.push(format!("{db} not updated ({why})"));
            }
            Outcome::Ahead { local, newest } => {
                code = code.max(exit::AHEAD);
                parts.push(format!(
                    "{db} {local} far above the servers' {newest}"
                ));
            }
        }
    }
    // The verified databases, their .cdiff files, then the module; none
    // of them when the module they make was refused: the next run finds
    // them not yet installed and says so again.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let sent = (|| -> std::io::Result<()> {
        if !refused {
            for (db, (ext, bytes)) in &up.staged {
                handover::write(
                    &mut out,
                    "db",
                    &format!("{db}.{ext}"),
                    bytes,
                )?;
            }
            for (name, bytes) in &up.for_mirror {
                handover::write(&mut out, "mirror", name, bytes)?;
            }
        }
        match &built {
            Some(Ok((bytes, line))) => {
                handover::write(&mut out, "module", "-", line.as_bytes())?;
                handover::write(&mut out, "bytes", "-", bytes)?;
            }
            Some(Err(Unbuilt::Failed(e))) => {
                log.log(
                    Level::Error,
                    &format!("{e}; the module stays as it was"),
                );
                code = code.max(exit::FAILED);
                handover::write(&mut out, "unbuilt", "-", e.as_bytes())?;
            }
            Some(Err(Unbuilt::Refused(e))) => {
                log.log(Level::Error, e);
                code = code.max(exit::MODULE_REFUSED);
                handover::write(&mut out, "unbuilt", "-", e.as_bytes())?;
            }
            None => {}
        }
        for part in &parts {
            handover::write(&mut out, "part", "-", part.as_bytes())?;
        }
        handover::write(&mut out, "code", "-", code.to_string().as_bytes())?;
        handover::write(&mut out, "end", "-", b"")?;
        std::io::Write::flush(&mut out)
    })();
    if sent.is_err() {
        return exit::FAILED;
    }
    code
}

/// What a mail administrator should hear about the credentials: a file
/// holding a password that every user can read (the configuration, with
/// `[upd] password` or a proxy's; the auth file or `~/.netrc`, when
/// they are what is used), and every `http://` server they would be
/// sent to in clear text (HTTP basic auth is only base64).
pub(crate) fn credential_warnings(
    cfg: &Config,
    config: &Path,
    secrets: &Secrets,
    netrc: Option<&Path>,
    servers: &[String],
) -> Vec<String> {
    use crate::fetch::{Source, proxy_has_password, readable_by_all};
    let u = &cfg.upd;
    let readable = |p: &Path, fix: &str| {
        readable_by_all(p).map(|m| {
            format!(
                "{}: holds a password and is readable by every user (mode {m:04o}); {fix}",
                p.display()
            )
        })
    };
    let mut out = Vec::new();
    if u.password.is_some()
        || u.proxy.as_deref().is_some_and(proxy_has_password)
    {
        out.extend(readable(
            config,
            &format!(
                "chown root:{0} and chmod 0640 it (the agents read it as {0}), or move the password into {1} with mode 0600",
                cfg.global.group,
                u.auth_file.display()
            ),
        ));
    }
    let used: Vec<Source> = servers
        .iter()
        .filter_map(|s| secrets.source_for(s).map(|(_, src)| src))
        .collect();
    if used.contains(&Source::AuthFile) {
        out.extend(readable(
            &u.auth_file,
            "chmod 0600 it (only root reads it)",
        ));
    }
    if used.contains(&Source::Netrc)
        && let Some(n) = netrc
    {
        out.extend(readable(n, "chmod 0600 it"));
    }
    for s in servers {
        if s.starts_with("http://") && secrets.for_url(s).is_some() {
            out.push(format!(
                "the credentials go in clear text to {s}: use https:// (HTTP basic auth is not encrypted)"
            ));
        }
    }
    out
}

/// The child: this executable again (`/proc/self/exe`, under the name
/// nod32upd for the multi-call binary), with the same options.
pub(crate) fn spawn_child(cli: &Cli) -> std::io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let mut c = Command::new("/proc/self/exe");
    c.arg0("nod32upd").arg("-c").arg(&cli.config);
    for (on, flag) in [
        (cli.foreground, "-f"),
        (cli.force, "--force"),
        (cli.compile_only, "--compile-only"),
    ] {
        if on {
            c.arg(flag);
        }
    }
    for s in &cli.servers {
        c.arg("--server").arg(s);
    }
    c.args(["fetch", "--parent", &std::process::id().to_string()]);
    // Relative paths in the configuration (user_config) are the file's.
    if let Some(d) = cli.config.parent().filter(|d| !d.as_os_str().is_empty())
    {
        c.current_dir(d);
    }
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
    c.spawn()
}
