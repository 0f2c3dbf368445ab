//! Running as a service: the loaded state (configuration, module,
//! templates, per-user file, logger), its reload on SIGHUP without
//! dropping work in flight, and the drop to an unprivileged user.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use nod32_config::{Config, ConfigError, Policy, UserConfig};
use nod32_engine::{Database, ModuleError};

use crate::log::{Level, Logger};
use crate::template::{TemplateError, TemplateSet};

/// Why an agent cannot start, or reload, with its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The configuration or the `user_config` file is unusable (it
    /// names itself).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The loading module cannot be opened.
    #[error("{}: {cause}", path.display())]
    Module {
        /// The module's file.
        path: PathBuf,
        /// What the engine said, in the message already.
        cause: ModuleError,
    },
    /// A template cannot be read.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// The SIGHUP handler cannot be installed.
    #[error("cannot handle SIGHUP: {0}")]
    Sighup(std::io::Error),
}

/// Which agent is running: its config section and its name in logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// nod32mda, `[mda]`.
    Mda,
    /// nod32smtp, `[smtp]`.
    Smtp,
    /// nod32smfi, `[smfi]`.
    Smfi,
    /// nod32cli, `[cli]`.
    Cli,
    /// nod32upd, `[upd]`.
    Upd,
}

impl Which {
    /// The program name, as in syslog.
    pub fn name(self) -> &'static str {
        match self {
            Which::Mda => "nod32mda",
            Which::Smtp => "nod32smtp",
            Which::Smfi => "nod32smfi",
            Which::Cli => "nod32cli",
            Which::Upd => "nod32upd",
        }
    }

    /// The agent's policy: its section on top of `[global]`.
    pub fn policy(self, c: &Config) -> &Policy {
        match self {
            Which::Mda => &c.mda.policy,
            Which::Smtp => &c.smtp.policy,
            Which::Smfi => &c.smfi.policy,
            Which::Cli => &c.cli.policy,
            Which::Upd => &c.upd.policy,
        }
    }

    /// Whether the agent passes mail on and so may change it (clean,
    /// mark); nod32cli only reads copies.
    pub fn may_modify(self) -> bool {
        matches!(self, Which::Mda | Which::Smtp | Which::Smfi)
    }
}

/// Everything an agent reads at start and again on SIGHUP.
#[derive(Debug)]
pub struct State {
    /// The agent.
    pub which: Which,
    /// The configuration.
    pub config: Config,
    /// The mapped loading module.
    pub db: Database,
    /// Footer, notice and notification templates.
    pub templates: TemplateSet,
    /// The agent's `user_config`, if set.
    pub users: Option<UserConfig>,
    /// Where log lines go.
    pub log: Logger,
    /// This host's name, for templates and Message-IDs.
    pub host: String,
    /// Where the public key that quarantine releases are signed with
    /// lives (`release.pub` beside the configuration). Read when a
    /// message carries a release, not at start: the key is made at the
    /// first release, usually long after the services started.
    pub release_pub: Option<std::path::PathBuf>,
}

/// This machine's host name.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl State {
    /// Reads the configuration at `path` (the built-in defaults when it
    /// is the default path and absent), maps the module (for nod32cli
    /// only, the built-in one with a warning when none is installed),
    /// reads templates and the per-user file. `foreground` logs to stderr instead of syslog.
    ///
    /// # Errors
    /// Any of them is unusable; the message names the file.
    pub fn load(
        path: &Path,
        which: Which,
        foreground: bool,
    ) -> Result<State, RuntimeError> {
        State::with_config(
            path,
            Config::load_or_default(path)?,
            which,
            foreground,
        )
    }

    /// [`State::load`] with the configuration read from `path` already
    /// (nod32mda reads it before anything else, for its exit codes).
    /// nod32mda delivering (not `foreground`) reads its templates when a
    /// message needs one, not at start (see [`TemplateSet`]), and opens
    /// syslog at its first line.
    ///
    /// # Errors
    /// As [`State::load`].
    pub fn with_config(
        path: &Path,
        config: Config,
        which: Which,
        foreground: bool,
    ) -> Result<State, RuntimeError> {
        let policy = which.policy(&config).clone();
        let log = if foreground && which == Which::Cli {
            Logger::stderr(which.name(), policy.log_level)
        } else if foreground {
            Logger::foreground(which.name(), policy.log_level)
        } else if which == Which::Mda {
            // Its output is the MTA's bounce text: nothing may come
            // before the status line.
            Logger::syslog_or_hold(
                which.name(),
                &policy.syslog_facility,
                policy.log_level,
            )
        } else {
            Logger::syslog(
                which.name(),
                &policy.syslog_facility,
                policy.log_level,
            )
        };
        let module = &config.global.module;
        // A service must not pass mail with a test-only module: without
        // its module it fails, and mail stays queued. nod32cli, run by
        // hand, falls back with a warning.
        let db = if module.exists() || which != Which::Cli {
            Database::open(module).map_err(|cause| RuntimeError::Module {
                path: module.clone(),
                cause,
            })?
        } else {
            log.log(
                Level::Warning,
                &format!(
                    "no loading module at {}; using the built-in default \
                     module (EICAR and test signatures only)",
                    module.display()
                ),
            );
            Database::builtin()
        };
        let templates = if which == Which::Mda && !foreground {
            TemplateSet::lazy(&policy.template_dir)
        } else {
            TemplateSet::load(&policy.template_dir)?
        };
        let users = match &policy.user_config {
            Some(p) => Some(UserConfig::load(p)?),
            None => None,
        };
        Ok(State {
            which,
            config,
            db,
            templates,
            users,
            log,
            host: hostname(),
            release_pub: Some(crate::release::public_path(path)),
        })
    }

    /// The agent's own policy.
    pub fn policy(&self) -> &Policy {
        self.which.policy(&self.config)
    }

    /// The policy for one recipient and sender, after `user_config`.
    pub fn policy_for(&self, rcpt: &str, sender: &str) -> Policy {
        let base = self.policy();
        match &self.users {
            Some(u) => u.policy_for(
                base,
                Some(rcpt),
                (!sender.is_empty()).then_some(sender),
            ),
            None => base.clone(),
        }
    }

    /// Whether recipients can have policies of their own (a
    /// `user_config` is set).
    pub fn per_recipient(&self) -> bool {
        self.users.is_some()
    }

    /// Whether recipient `rcpt` may join a transaction whose first
    /// recipient is `first`: only under the same policy. An agent that
    /// can say so at RCPT time (nod32smtp, nod32smfi) refuses the others
    /// for now, and the client sends them in a transaction of their
    /// own; otherwise the first recipient's policy would decide for all
    /// (a white-listed address first would let a virus through to
    /// everyone after it).
    pub fn joins(&self, sender: &str, first: &str, rcpt: &str) -> bool {
        !self.per_recipient()
            || self.policy_for(first, sender) == self.policy_for(rcpt, sender)
    }

    /// The envelope's recipients grouped by the policy that applies to
    /// them, in first-seen order; an agent handles each group alone when
    /// there is more than one.
    pub fn policies(
        &self,
        sender: &str,
        recipients: &[String],
    ) -> Vec<(Policy, Vec<String>)> {
        let mut out: Vec<(Policy, Vec<String>)> = Vec::new();
        for r in recipients {
            let p = self.policy_for(r, sender);
            match out.iter_mut().find(|(q, _)| *q == p) {
                Some((_, rs)) => rs.push(r.clone()),
                None => out.push((p, vec![r.clone()])),
            }
        }
        if out.is_empty() {
            out.push((self.policy().clone(), Vec::new()));
        }
        out
    }
}

/// The current [`State`], replaced on SIGHUP. Work in flight keeps the
/// `Arc` it started with, so a reload never changes a message halfway.
#[derive(Debug)]
pub struct Live {
    path: PathBuf,
    which: Which,
    foreground: bool,
    current: RwLock<Arc<State>>,
    hup: Arc<AtomicBool>,
    /// When the module file was last looked at, and what it was then.
    watch: Mutex<(Instant, Option<FileId>)>,
}

/// What tells a replaced file from the one loaded: nod32upd renames a
/// new module over the old, which gives it a new inode.
type FileId = (u64, u64, i64, i64, u64);

fn file_id(p: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(p).ok()?;
    Some((m.dev(), m.ino(), m.mtime(), m.mtime_nsec(), m.len()))
}

/// How often a long-running agent looks whether its module was replaced.
const MODULE_CHECK: Duration = Duration::from_secs(1);

impl Live {
    /// Loads the state and starts listening for SIGHUP.
    ///
    /// # Errors
    /// As [`State::load`], or the signal handler cannot be installed.
    pub fn start(
        path: &Path,
        which: Which,
        foreground: bool,
    ) -> Result<Live, RuntimeError> {
        let state = State::load(path, which, foreground)?;
        let hup = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(
            signal_hook::consts::SIGHUP,
            Arc::clone(&hup),
        )
        .map_err(RuntimeError::Sighup)?;
        let id = file_id(&state.config.global.module);
        Ok(Live {
            path: path.to_path_buf(),
            which,
            foreground,
            current: RwLock::new(Arc::new(state)),
            hup,
            watch: Mutex::new((Instant::now(), id)),
        })
    }

    /// The state to use for the next piece of work, reloaded first if a
    /// SIGHUP came or the module file was replaced (nod32upd; looked at
    /// once a second at most). A reload that fails keeps the old state
    /// and logs why. A service also calls it while idle (its accept
    /// loop, twice a second), so a reload happens, and is logged, at
    /// once rather than at the next connection.
    pub fn get(&self) -> Arc<State> {
        if self.hup.swap(false, Ordering::SeqCst) {
            self.reload();
        } else if self.module_replaced() {
            self.get_current().log.log(
                Level::Summary,
                "the loading module was replaced; reloading",
            );
            self.reload();
        }
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Whether the module file is another than the one last seen (a
    /// removed module is not a reason to reload: the mapped one stays).
    fn module_replaced(&self) -> bool {
        let mut w = self.watch.lock().unwrap_or_else(|p| p.into_inner());
        if w.0.elapsed() < MODULE_CHECK {
            return false;
        }
        w.0 = Instant::now();
        let id = file_id(&self.get_current().config.global.module);
        if id.is_some() && id != w.1 {
            w.1 = id;
            return true;
        }
        false
    }

    /// Reloads now.
    pub fn reload(&self) {
        // Taken before loading: a module replaced while this reload reads
        // the old one is then seen as new next time.
        let old_path = self.get_current().config.global.module.clone();
        let before = file_id(&old_path);
        match State::load(&self.path, self.which, self.foreground) {
            Ok(s) => {
                s.log.log(
                    Level::Summary,
                    &format!(
                        "reloaded {}: {}",
                        self.path.display(),
                        module_summary(&s)
                    ),
                );
                self.watch.lock().unwrap_or_else(|p| p.into_inner()).1 =
                    if s.config.global.module == old_path {
                        before
                    } else {
                        file_id(&s.config.global.module)
                    };
                *self.current.write().unwrap_or_else(|p| p.into_inner()) =
                    Arc::new(s);
            }
            Err(e) => {
                self.get_current().log.log(
                    Level::Error,
                    &format!(
                        "reload failed, keeping the running configuration: {e}"
                    ),
                );
            }
        }
    }

    fn get_current(&self) -> Arc<State> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The module a state scans with, for the start and reload lines: its
/// file, the databases it was built from and what is in it.
pub fn module_summary(st: &State) -> String {
    // Container metadata rules and icons are named only where a set
    // brings them.
    let mut rules = match st.db.container_rule_count() {
        0 => String::new(),
        n => format!(", {n} container metadata signatures"),
    };
    if let n @ 1.. = st.db.icon_count() {
        rules += &format!(", {n} icon signatures");
    }
    format!(
        "module {}: {} ({} patterns, {} hashes, {} logical signatures{rules})",
        st.config.global.module.display(),
        databases(&st.db, LOG_NAMED),
        st.db.pattern_count(),
        st.db.hash_count(),
        st.db.logical_count(),
    )
}

/// How many files a log line names (a third-party feed can bring
/// dozens); `--version` names every one.
const LOG_NAMED: usize = 20;

/// The databases `db` was built from, as ClamAV names them: `daily 27000
/// (2026-12-05), main 62 (2021-09-16), local.ndb`; after `at_most`, how
/// many more.
pub fn databases(db: &Database, at_most: usize) -> String {
    let sources = db.sources();
    if sources.is_empty() {
        // Format 3 added the list.
        return if db.format_version() < 3 {
            // Read for compatibility; nod32upd or nod32cli compile
            // writes the list.
            "databases not recorded (a module built by an earlier version; \
             rebuild it to see them)"
                .into()
        } else {
            "no signature files".into()
        };
    }
    let mut named: Vec<String> =
        sources.iter().take(at_most).map(ToString::to_string).collect();
    if sources.len() > at_most {
        named.push(format!("and {} more", sources.len() - at_most));
    }
    named.join(", ")
}

/// The second line of `--version`, as clamscan's `ClamAV
/// 1.4.5/27000/...`: `module PATH: daily 27000 (2026-12-05), local.ndb;
/// 123456 signatures`. `None` when the configuration at `config` or its
/// module cannot be read (a service has nothing to scan with then);
/// nod32cli, which scans with its built-in module when none is
/// installed, names that one.
pub fn version_line(config: &Path, which: Which) -> Option<String> {
    let config = Config::load_or_default(config).ok()?;
    let module = &config.global.module;
    let (shown, db) = if module.exists() || which != Which::Cli {
        (module.display().to_string(), Database::open(module).ok()?)
    } else {
        ("built-in".to_string(), Database::builtin())
    };
    let total: u64 = db.sources().iter().map(|s| s.signatures).sum();
    let count = if db.sources().is_empty() {
        String::new()
    } else {
        format!("; {total} signatures")
    };
    Some(format!("module {shown}: {}{count}", databases(&db, usize::MAX)))
}

/// Prints [`version_line`] for the configuration `args` (a program's
/// arguments after its name) name, else the default one: what each
/// binary adds to clap's `--version`.
pub fn print_module_version(which: Which, args: &[std::ffi::OsString]) {
    let config =
        config_arg(args).unwrap_or_else(|| nod32_config::DEFAULT_PATH.into());
    if let Some(line) = version_line(&config, which) {
        println!("{line}");
    }
}

/// The configuration file named by `-c FILE`, `-cFILE`, `--config FILE`
/// or `--config=FILE` among a program's arguments (before a `--`): for
/// `--version`, which clap answers before it has parsed the rest.
pub fn config_arg(args: &[std::ffi::OsString]) -> Option<PathBuf> {
    let mut found = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let Some(s) = a.to_str() else { continue };
        if s == "--" {
            break;
        }
        if s == "-c" || s == "--config" {
            found = it.next().map(PathBuf::from);
        } else if let Some(v) = s.strip_prefix("--config=") {
            found = Some(PathBuf::from(v));
        } else if let Some(v) = s.strip_prefix("-c") {
            found = Some(PathBuf::from(v.strip_prefix('=').unwrap_or(v)));
        }
    }
    found
}

/// What `header_versions` writes as `X-Virus-Scanned`: the agent and its
/// version, then the versioned databases (`nod32smtp 0.1.0; daily 27000
/// (2026-12-05), main 62 (2021-09-16), 1 other file`). Files without a
/// version are only counted: their names (`customer-x.ndb`) are the
/// site's business, not every recipient's.
pub fn scanned_by(st: &State) -> String {
    let sources = st.db.sources();
    let mut parts: Vec<String> = Vec::new();
    let versioned: Vec<_> =
        sources.iter().filter(|s| s.version.is_some()).collect();
    parts.extend(versioned.iter().take(HEADER_NAMED).map(|s| s.to_string()));
    if versioned.len() > HEADER_NAMED {
        parts.push(format!(
            "{} more databases",
            versioned.len() - HEADER_NAMED
        ));
    }
    match sources.len() - versioned.len() {
        0 => {}
        1 => parts.push("1 other file".into()),
        n => parts.push(format!("{n} other files")),
    }
    if sources.is_empty() {
        parts.push(databases(&st.db, 0));
    }
    format!(
        "{} {}; {}",
        st.which.name(),
        env!("CARGO_PKG_VERSION"),
        parts.join(", ")
    )
}

/// Databases named in a header at most, which keeps its line short.
const HEADER_NAMED: usize = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_need_their_module() {
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().join("nod32.toml");
        std::fs::write(
            &cfg,
            format!(
                "[global]\nmodule = \"{}/none.000\"\n",
                d.path().display()
            ),
        )
        .unwrap();
        let e = State::load(&cfg, Which::Mda, true).unwrap_err().to_string();
        assert!(e.contains("none.000") && e.contains("No such file"), "{e}");
        assert!(State::load(&cfg, Which::Cli, true).is_ok());
    }

    /// The start and reload lines, and `--version`, name the databases
    /// the module was built from and their versions.
    #[test]
    fn the_module_is_named_with_its_databases() {
        let d = tempfile::tempdir().unwrap();
        let module = d.path().join("nod32.000");
        let mut sigs = nod32_engine::builtin_signatures();
        let cvd = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/bytecode-268.cvd"
        ))
        .unwrap();
        sigs.load_bytes("bytecode.cvd", &cvd).unwrap();
        for i in 0..25 {
            sigs.load_bytes(&format!("x{i:02}.ndb"), b"").unwrap();
        }
        let bytes = nod32_engine::compile(&sigs).0;
        std::fs::write(&module, &bytes).unwrap();
        let cfg = d.path().join("nod32.toml");
        std::fs::write(
            &cfg,
            format!("[global]\nmodule = \"{}\"\n", module.display()),
        )
        .unwrap();
        let st = State::load(&cfg, Which::Smtp, true).unwrap();
        assert_eq!(
            module_summary(&st),
            format!(
                "module {}: default.ndb, default.hdb, bytecode 268 \
                 (2015-08-20), x00.ndb, x01.ndb, x02.ndb, x03.ndb, x04.ndb, \
                 x05.ndb, x06.ndb, x07.ndb, x08.ndb, x09.ndb, x10.ndb, \
                 x11.ndb, x12.ndb, x13.ndb, x14.ndb, x15.ndb, x16.ndb, \
                 and 8 more (2 patterns, 3 hashes, 0 logical signatures)",
                module.display()
            )
        );
        let line = version_line(&cfg, Which::Smtp).unwrap();
        assert!(line.ends_with(", x24.ndb; 5 signatures"), "{line}");
        // A module an earlier version wrote (format 2: no list, here an
        // empty one) says so.
        let mut old = bytes;
        let rd = |b: &[u8], at: usize| {
            u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
        };
        let toc = rd(&old, 32);
        for i in 0..rd(&old, 28) {
            if rd(&old, toc + i * 24) == 28 {
                old[toc + i * 24 + 16..toc + i * 24 + 24].fill(0);
            }
        }
        old[8..12].copy_from_slice(&2u32.to_le_bytes());
        old[12..16].fill(0);
        let crc = crc32(&old[..64]);
        old[12..16].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(&module, &old).unwrap();
        let st = State::load(&cfg, Which::Smtp, true).unwrap();
        assert!(
            module_summary(&st).contains(": databases not recorded (a module built by an earlier version; rebuild it to see them) (2 patterns"),
            "{}",
            module_summary(&st)
        );
        // No module: a service says nothing more, nod32cli names its own.
        std::fs::remove_file(&module).unwrap();
        assert_eq!(version_line(&cfg, Which::Smtp), None);
        assert!(
            version_line(&cfg, Which::Cli)
                .unwrap()
                .starts_with("module built-in: default.ndb, default.hdb; ")
        );
    }

    /// CRC-32 (IEEE), as the module header's.
    fn crc32(data: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
            }
        }
        !c
    }

    #[test]
    fn config_is_found_among_the_arguments() {
        let args = |a: &[&str]| -> Vec<std::ffi::OsString> {
            a.iter().map(Into::into).collect()
        };
        for (a, want) in [
            (&["-c", "a.toml", "--version"][..], Some("a.toml")),
            (&["--config", "b.toml", "-V"], Some("b.toml")),
            (&["--config=c.toml", "-V"], Some("c.toml")),
            (&["-cd.toml", "-V"], Some("d.toml")),
            (&["-V"], None),
            (&["--", "-c", "e.toml"], None),
        ] {
            assert_eq!(config_arg(&args(a)), want.map(PathBuf::from), "{a:?}");
        }
    }

    #[test]
    fn sighup_reloads_and_work_in_flight_keeps_its_state() {
        let d = tempfile::tempdir().unwrap();
        let cfg = d.path().join("nod32.toml");
        let module = d.path().join("nod32.000");
        let sigs = nod32_engine::builtin_signatures();
        std::fs::write(&module, nod32_engine::compile(&sigs).0).unwrap();
        let write = |action: &str| {
            std::fs::write(
                &cfg,
                format!(
                    "[global]\nmodule = \"{}\"\ntemplate_dir = \"{}\"\n\
                     [smtp]\naction_on_infected = \"{action}\"\n",
                    module.display(),
                    d.path().display()
                ),
            )
            .unwrap()
        };
        write("reject");
        let live = Live::start(&cfg, Which::Smtp, true).unwrap();
        let in_flight = live.get();
        write("discard");
        // Nothing changes before the signal.
        assert_eq!(
            live.get().policy().action_on_infected.action,
            nod32_config::Action::Reject
        );
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGHUP).unwrap();
        let after = live.get();
        assert_eq!(
            after.policy().action_on_infected.action,
            nod32_config::Action::Discard
        );
        assert_eq!(
            in_flight.policy().action_on_infected.action,
            nod32_config::Action::Reject
        );
        // A broken file is refused and the running state stays.
        std::fs::write(&cfg, "[smtp]\nbogus = 1\n").unwrap();
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGHUP).unwrap();
        assert_eq!(
            live.get().policy().action_on_infected.action,
            nod32_config::Action::Discard
        );
    }
}
