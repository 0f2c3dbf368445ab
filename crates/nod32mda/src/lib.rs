//! nod32mda: the MTA hands it each message instead of the local delivery
//! agent; it scans the message, applies the policy and hands clean (or
//! marked) mail to the real agent, with the same arguments, on stdin.
//!
//! `nod32mda [REAL_MDA_ARGS...] [-- OPTIONS...]`, or installed in the
//! real agent's place (`procmail` renamed to `procmail.nod32`, nod32mda
//! linked as `procmail`).
//!
//! Whatever goes wrong before the real agent has the message ends in the
//! MTA's temporary-failure code, so the message stays queued.
#![forbid(unsafe_code)]

mod cli;

use std::ffi::OsString;
use std::io::{self, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};

use clap::{CommandFactory, Parser};
use nod32_agent::protocol::{MdaOutcome, mda};
use nod32_agent::{Body, Envelope, State, Which, policy_of, too_big};
use nod32_spool::Spool;

/// The code every failure ends in; 75 until the configuration says.
static TMPFAIL: AtomicI32 = AtomicI32::new(75);

type Opts = cli::Cli;

/// Our options, or None when `args` are not all ours.
fn parse_own(args: &[OsString]) -> Option<Opts> {
    let argv = std::iter::once(OsString::from("nod32mda"))
        .chain(args.iter().cloned());
    Opts::try_parse_from(argv).ok()
}

/// Splits at the last `--` after which everything is one of our
/// options; otherwise every argument is the real agent's.
fn split_args(args: &[OsString]) -> (Vec<OsString>, Opts) {
    if let Some(i) = args.iter().rposition(|a| a == "--")
        && let Some(o) = parse_own(&args[i + 1..])
    {
        return (args[..i].to_vec(), o);
    }
    // Alone, these are a person asking, never an MTA delivering.
    if let [a] = args
        && ["-h", "--help", "-V", "--version"].iter().any(|h| a == *h)
    {
        return (
            Vec::new(),
            parse_own(std::slice::from_ref(a)).unwrap_or_default(),
        );
    }
    (args.to_vec(), Opts::default())
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        return Some(PathBuf::from(name));
    }
    let path = std::env::var_os("PATH")
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
}

/// The real agent: `ARGV0.nod32` when installed under another name,
/// else `mda_path`; never nod32mda itself.
fn real_mda(argv0: &str, mda_path: &Path) -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe().and_then(|p| p.canonicalize()).ok();
    let base =
        Path::new(argv0).file_name().and_then(|n| n.to_str()).unwrap_or("");
    let mut candidates = Vec::new();
    if base != "nod32mda"
        && let Some(p) = find_in_path(argv0)
    {
        let mut renamed = p.into_os_string();
        renamed.push(".nod32");
        candidates.push(PathBuf::from(renamed));
    }
    candidates.push(mda_path.to_path_buf());
    for c in candidates {
        let Ok(real) = c.canonicalize() else { continue };
        if Some(&real) == me.as_ref() {
            continue;
        }
        return Ok(c);
    }
    anyhow::bail!(
        "no real delivery agent: {} is missing or is nod32mda itself (set [mda].mda_path)",
        mda_path.display()
    )
}

fn fail(text: &str) -> ! {
    // Postfix reads a leading 4.x.x as "defer", whatever the code says.
    println!("4.3.0 nod32mda: {text}");
    let _ = io::stdout().flush();
    std::process::exit(TMPFAIL.load(Ordering::SeqCst))
}

pub fn run() {
    // A panic anywhere ends in the temporary-failure code, so the MTA
    // keeps the message. Not from a panic hook: the engine contains the
    // panics of some third-party parsers (and reports them as damage),
    // and those must not end the delivery.
    if std::panic::catch_unwind(deliver_or_refuse).is_err() {
        fail("internal error (see standard error)");
    }
}

fn deliver_or_refuse() {
    let all: Vec<OsString> = std::env::args_os().collect();
    let argv0 =
        all.first().and_then(|a| a.to_str()).unwrap_or("nod32mda").to_string();
    let (real_args, opts) = split_args(&all[1..]);
    if opts.help {
        print!("{}", Opts::command().render_long_help());
        return;
    }
    // Installed in the real agent's place, nod32mda has no argv of its
    // own: the environment is the only way to name another file.
    let config = opts
        .config
        .clone()
        .or_else(|| std::env::var_os("NOD32_CONFIG").map(PathBuf::from))
        .unwrap_or_else(|| nod32_config::DEFAULT_PATH.into());
    if opts.version {
        println!("nod32mda {}", env!("CARGO_PKG_VERSION"));
        if let Some(line) =
            nod32_agent::runtime::version_line(&config, Which::Mda)
        {
            println!("{line}");
        }
        return;
    }
    let cfg = match nod32_config::Config::load_or_default(&config) {
        Ok(c) => c,
        Err(e) => fail(&e.to_string()),
    };
    TMPFAIL.store(cfg.mda.tmpfail_return_code, Ordering::SeqCst);
    if opts.check_config {
        match State::load(&config, Which::Mda, true) {
            Ok(_) => {
                println!("nod32mda: configuration OK: {}", config.display());
                return;
            }
            Err(e) => {
                eprintln!("nod32mda: {e}");
                std::process::exit(10);
            }
        }
    }
    let real = real_mda(&argv0, &cfg.mda.mda_path)
        .unwrap_or_else(|e| fail(&e.to_string()));

    // Spool stdin to an unlinked private file: bounded memory, and the
    // real agent gets the very bytes we scanned.
    let mut spool = Spool::new(0);
    let size = spool
        .fill_from(&mut io::stdin().lock())
        .unwrap_or_else(|e| fail(&format!("reading the message: {e}")));

    let deliver = |s: Spool| -> ! {
        let f = s
            .into_file()
            .unwrap_or_else(|e| fail(&format!("spool file: {e}")));
        let e = Command::new(&real).args(&real_args).stdin(f).exec();
        fail(&format!("cannot run {}: {e}", real.display()))
    };

    if !cfg.mda.agent_enabled {
        deliver(spool);
    }
    let st = State::load(&config, Which::Mda, false)
        .unwrap_or_else(|e| fail(&e.to_string()));
    let sender = opts
        .sender
        .or_else(|| std::env::var("SENDER").ok())
        .unwrap_or_default();
    let mut recipients = opts.recipients;
    if recipients.is_empty() {
        if let Ok(r) = std::env::var("RECIPIENT") {
            recipients.push(r);
        } else if let Some(u) = opts.user {
            recipients.push(u);
        }
    }
    let env = Envelope { sender, recipients, ..Envelope::default() };
    let policy = policy_of(&st, &env);
    let mut raw = Vec::new();
    let body = if too_big(&policy, size) {
        Body::TooBig(size)
    } else {
        raw.reserve(size as usize);
        if let Err(e) = spool.read_into(&mut raw) {
            fail(&format!("spool file: {e}"));
        }
        Body::Whole(&raw)
    };
    let out = nod32_agent::deliver(&st, &policy, &env, body)
        .unwrap_or_else(|f| fail(&f.to_string()));

    match mda(out.decision.action, &st.config.mda, &out.why) {
        MdaOutcome::Deliver => match out.changed(&raw) {
            None => deliver(spool),
            Some(m) => {
                let mut changed = Spool::new(0);
                if let Err(e) = changed.push(&m) {
                    fail(&format!("spool file: {e}"));
                }
                deliver(changed)
            }
        },
        MdaOutcome::Exit { code, text } => {
            // Postfix takes a leading "5.7.1"/"4.7.1" as the status; our
            // own warnings may follow it.
            if !text.is_empty() {
                println!("{text}");
            }
            for l in st.log.take_held() {
                println!("{l}");
            }
            let _ = io::stdout().flush();
            std::process::exit(code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn arguments_split_at_the_last_own_double_dash() {
        let (real, o) = split_args(&os(&[
            "-f",
            "s@x",
            "-a",
            "ext",
            "--",
            "-c",
            "/etc/n.toml",
            "--recipient",
            "r@y",
        ]));
        assert_eq!(real, os(&["-f", "s@x", "-a", "ext"]));
        assert_eq!(o.config, Some(PathBuf::from("/etc/n.toml")));
        assert_eq!(o.recipients, vec!["r@y".to_string()]);
        // A `--` of the real agent's, followed by its own arguments.
        let (real, o) = split_args(&os(&["-d", "--", "bob"]));
        assert_eq!(real, os(&["-d", "--", "bob"]));
        assert!(o.config.is_none());
        let (real, _) =
            split_args(&os(&["a", "--", "x", "--", "--user", "bob"]));
        assert_eq!(real, os(&["a", "--", "x"]));
        let (real, o) = split_args(&os(&[]));
        assert!(real.is_empty() && !o.help);
    }

    #[test]
    fn the_real_agent_is_never_ourselves() {
        let d = tempfile::tempdir().unwrap();
        let me = std::env::current_exe().unwrap();
        let e = real_mda("nod32mda", &me).unwrap_err().to_string();
        assert!(e.starts_with("no real delivery agent"), "{e}");
        let real = d.path().join("procmail.nod32");
        std::fs::write(&real, "").unwrap();
        let argv0 = d.path().join("procmail");
        assert_eq!(real_mda(argv0.to_str().unwrap(), &me).unwrap(), real);
        assert_eq!(
            real_mda("nod32mda", Path::new("/bin/sh")).unwrap(),
            PathBuf::from("/bin/sh")
        );
    }
}
