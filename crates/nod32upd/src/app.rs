//! The command: its checks of the configuration, the lock, and the run
//! that hands the download to an unprivileged child and installs what
//! it hands back.

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use nod32_agent::log::{Level, Logger};
use nod32_config::Config;

use crate::RsaKey;
use crate::fetch::{Client, Credentials, Secrets};
use crate::handover;
use crate::manifest;
use crate::mirror::*;
use crate::privsep::*;
use crate::rebuild::*;
use crate::updater::*;

/// Exit codes.
pub(crate) mod exit {
    /// Every database is current (updated or already up to date).
    pub const OK: i32 = 0;
    /// Some database could not be checked or fetched (servers down,
    /// missing, refusing): the old one stays.
    pub const FAILED: i32 = 1;
    /// Wrong usage.
    pub const USAGE: i32 = 2;
    /// Another nod32upd holds the lock.
    pub const LOCKED: i32 = 3;
    /// The installed version of some database is far above the newest
    /// any server has: nothing real would be taken again (see
    /// `--force`).
    pub const AHEAD: i32 = 4;
    /// The module rebuilt would detect much less than the running one
    /// (or nothing in file bodies): neither it nor the databases it came
    /// from were installed (see `--force`).
    pub const MODULE_REFUSED: i32 = 5;
    /// The configuration is wrong.
    pub const CONFIG: i32 = 10;
    /// A download failed verification (the manual's error 107): the old
    /// database stays.
    pub const REFUSED: i32 = 107;
}

use crate::cli::{Cli, Command};

/// The largest version taken. Every database ClamAV publishes is far
/// below it, and a number near `u32::MAX` can only serve to make every
/// later real version look older; 2^31 - 1 is also the most that tools
/// reading versions as a signed int take.
pub(crate) const MAX_VERSION: u32 = 0x7fff_ffff;
/// How many versions a whole CVD or `.cld` may go past the installed one
/// at once (about three years of daily at ClamAV's rate). A `.cdiff`
/// chain is signed step by step, and a signed `update.ver` may vouch
/// for more.
pub(crate) const MAX_JUMP: u32 = 1000;
/// The most `.cdiff` files fetched to catch up, as freshclam.
pub(crate) const MAX_CDIFFS: u32 = 100;
/// How far the newest version the servers have may lag behind the
/// installed one and still count as "current" (a mirror a few versions
/// late); beyond, the installed version is what is wrong.
pub(crate) const MAX_LAG: u32 = 10;

pub fn run() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            if e.kind() == clap::error::ErrorKind::DisplayVersion {
                nod32_agent::runtime::print_module_version(
                    nod32_agent::Which::Upd,
                    &std::env::args_os().skip(1).collect::<Vec<_>>(),
                );
            }
            std::process::exit(code);
        }
    };
    std::process::exit(match &cli.command {
        Some(Command::Keygen { file }) => keygen(file),
        Some(Command::Sign { key, dir }) => sign_dir(key, dir),
        Some(Command::Fetch { parent }) => child(&cli, *parent),
        None => update(&cli),
    });
}

pub(crate) fn update(cli: &Cli) -> i32 {
    let cfg = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nod32upd: {e}");
            return exit::CONFIG;
        }
    };
    let u = &cfg.upd;
    // Checked here, where a mistake can be told; the child only uses them.
    for (name, k) in [
        ("info_key", &u.info_key),
        ("cdiff_key", &u.cdiff_key),
        ("cvd_key", &u.cvd_key),
    ] {
        if k.as_deref().is_some_and(|k| RsaKey::parse(k).is_none()) {
            eprintln!(
                "nod32upd: {}: upd.{name}: not a usable RSA key",
                cli.config.display()
            );
            return exit::CONFIG;
        }
    }
    if let Err(e) = Client::new(u.timeout, u.max_download, u.proxy.as_deref())
    {
        eprintln!("nod32upd: {}: upd.proxy: {e}", cli.config.display());
        return exit::CONFIG;
    }
    if let Some(pk) = &u.mirror_public_key
        && !manifest::public_key_ok(pk)
    {
        eprintln!(
            "nod32upd: {}: upd.mirror_public_key: not an ed25519 public key",
            cli.config.display()
        );
        return exit::CONFIG;
    }
    if let Some(p) = &u.mirror_signing_key
        && let Err(e) = manifest::read_secret(p)
    {
        eprintln!(
            "nod32upd: {}: upd.mirror_signing_key: {e}",
            cli.config.display()
        );
        return exit::CONFIG;
    }
    let servers =
        if cli.servers.is_empty() { &u.servers } else { &cli.servers };
    let configured = u.username.as_ref().map(|user| Credentials {
        user: user.clone(),
        password: u.password.clone().unwrap_or_default(),
    });
    let netrc =
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".netrc"));
    let secrets = Secrets::read(configured, &u.auth_file, netrc.as_deref());
    let warnings = credential_warnings(
        &cfg,
        &cli.config,
        &secrets,
        netrc.as_deref(),
        servers,
    );
    if cli.check_config {
        for w in &warnings {
            eprintln!("nod32upd: warning: {w}");
        }
        if u.servers.is_empty() {
            eprintln!(
                "nod32upd: warning: no update servers ([upd] servers): a run fetches nothing"
            );
        }
        if !u.agent_enabled {
            eprintln!(
                "nod32upd: warning: [upd] agent_enabled = false: a run does nothing"
            );
        }
        println!(
            "nod32upd: configuration OK: {} ({} servers, databases {}, kept in {}{})",
            cli.config.display(),
            u.servers.len(),
            u.databases.join(", "),
            u.db_dir.display(),
            u.local_dir.as_ref().map_or(String::new(), |d| format!(
                "; local signatures also from {}",
                d.display()
            ))
        );
        return exit::OK;
    }
    let p = &u.policy;
    let log = if cli.foreground {
        Logger::foreground("nod32upd", p.log_level)
    } else {
        Logger::syslog("nod32upd", &p.syslog_facility, p.log_level)
    };
    for w in &warnings {
        log.log(Level::Warning, w);
    }
    if !u.agent_enabled && !cli.compile_only {
        log.log(
            Level::Summary,
            &format!(
                "updates are off ([upd] agent_enabled = false in {}); nothing done",
                cli.config.display()
            ),
        );
        return exit::OK;
    }
    // Whom the child runs as: [global] user, when there is root to drop.
    let owner = if nix::unistd::getuid().is_root() {
        match nod32_daemon::resolve(&cfg.global.user, &cfg.global.group) {
            Ok((user, gid)) => Some((user.uid, gid)),
            Err(e) => {
                log.log(
                    Level::Error,
                    &format!("{}: {e}", cli.config.display()),
                );
                return exit::CONFIG;
            }
        }
    } else {
        None
    };
    if let Err(e) = std::fs::create_dir_all(&u.db_dir) {
        log.log(
            Level::Error,
            &format!("cannot make {}: {e}", u.db_dir.display()),
        );
        return exit::FAILED;
    }
    let lock = match std::fs::File::create(u.db_dir.join(".nod32upd.lock")) {
        Ok(f) => f,
        Err(e) => {
            log.log(
                Level::Error,
                &format!("cannot lock {}: {e}", u.db_dir.display()),
            );
            return exit::FAILED;
        }
    };
    let _lock = match nix::fcntl::Flock::lock(
        lock,
        nix::fcntl::FlockArg::LockExclusiveNonblock,
    ) {
        Ok(l) => l,
        Err(_) => {
            log.log(
                Level::Error,
                "another nod32upd is running; this one ends",
            );
            return exit::LOCKED;
        }
    };
    let t0 = Instant::now();
    let module = cfg.global.module.clone();
    remove_leftovers(&u.db_dir, "");
    if let (Some(dir), Some(name)) = (module.parent(), module.file_name()) {
        remove_leftovers(dir, &name.to_string_lossy());
    }
    // Kept in db_dir by earlier versions; now the work directory's.
    for db in &u.databases {
        for x in ["cvd", "cld"] {
            let _ =
                std::fs::remove_file(u.db_dir.join(format!(".{db}.{x}.part")));
        }
    }
    let _ = std::fs::remove_file(u.db_dir.join(".nod32upd.backoff"));
    if !cli.compile_only && cli.servers.is_empty() && u.servers.is_empty() {
        log.log(
            Level::Error,
            "no update servers: set [upd] servers or --server",
        );
        return exit::FAILED;
    }
    if let Err(e) = work_dir(&u.db_dir, owner) {
        log.log(Level::Error, &e.to_string());
        return exit::FAILED;
    }
    let config_text = match std::fs::read(&cli.config) {
        Ok(t) => t,
        Err(e) => {
            log.log(Level::Error, &format!("{}: {e}", cli.config.display()));
            return exit::CONFIG;
        }
    };
    // What the module is about to be built from, noted once it is
    // installed: a file changed meanwhile differs from it next run.
    let sources_before = sources(u);
    let mut child = match spawn_child(cli) {
        Ok(c) => c,
        Err(e) => {
            log.log(Level::Error, &format!("cannot start the download: {e}"));
            return exit::FAILED;
        }
    };
    // The child reads all of its input before it writes anything.
    if let Some(mut stdin) = child.stdin.take() {
        let mut fed = handover::write(&mut stdin, "config", "-", &config_text);
        for (kind, t) in
            [("auth", &secrets.auth_file), ("netrc", &secrets.netrc)]
        {
            if let (Ok(()), Some(t)) = (&fed, t) {
                fed = handover::write(&mut stdin, kind, "-", t.as_bytes());
            }
        }
        drop(stdin);
    }
    let received = match child.stdout.take() {
        Some(out) => receive(&mut std::io::BufReader::new(out), &cfg),
        None => Err(PrivsepError::NoPipe),
    };
    if received.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().ok().and_then(|s| s.code());
    let got = match received {
        Ok(g) if g.ended => g,
        Ok(_) => {
            // It said why itself; nothing it sent is used.
            return match status {
                Some(c) if c != exit::OK => c,
                _ => exit::FAILED,
            };
        }
        Err(e) => {
            log.log(
                Level::Error,
                &format!("the download process handed over something else: {e}; nothing installed"),
            );
            return exit::FAILED;
        }
    };
    let mut code = got.code.unwrap_or(exit::FAILED);
    let mut parts = got.parts;
    // The module first: killed between the two, the next run finds the
    // databases not yet updated and does it again.
    let module_part = match (got.module, got.unbuilt) {
        (Some((line, p)), _) => {
            let checked = nod32_engine::Database::open(&p.tmp)
                .and_then(|d| d.verify_checksum())
                .map_err(|cause| PrivsepError::Module { cause })
                .and_then(|()| p.commit());
            match checked {
                Ok(()) => {
                    // Lost, the next run only rebuilds once more.
                    let _ = write_atomic(
                        &sources_record(u),
                        sources_before.as_bytes(),
                    );
                    Some(line)
                }
                Err(e) => {
                    log.log(
                        Level::Error,
                        &format!("{e}; the module stays as it was"),
                    );
                    code = code.max(exit::FAILED);
                    Some("module not rebuilt".into())
                }
            }
        }
        (None, Some(_)) => Some("module not rebuilt".into()),
        (None, None) => None,
    };
    for (db, p) in got.dbs {
        let stored = p.dest.clone();
        match p.commit() {
            Ok(()) => {
                // Only one form of a database is loaded.
                for x in ["cvd", "cld"] {
                    let other = u.db_dir.join(format!("{db}.{x}"));
                    if other != stored {
                        let _ = std::fs::remove_file(other);
                    }
                }
            }
            Err(e) => {
                log.log(Level::Error, &e.to_string());
                parts.push(format!("{db} not stored ({e})"));
                code = code.max(exit::FAILED);
            }
        }
    }
    for p in got.mirror {
        if let Err(e) = p.commit() {
            log.log(Level::Warning, &format!("mirror: {e}"));
        }
    }
    if u.mirror_enabled && !cli.compile_only {
        match publish(&cfg) {
            Ok(line) => parts.push(line),
            Err(e) => {
                log.log(Level::Error, &format!("mirror: {e}"));
                parts.push("mirror not refreshed".into());
                code = code.max(exit::FAILED);
            }
        }
    }
    parts.extend(module_part);
    log.log(
        if code == exit::OK { Level::Summary } else { Level::Error },
        &format!(
            "update: {}; {:.1} s",
            parts.join(", "),
            t0.elapsed().as_secs_f64()
        ),
    );
    code
}
