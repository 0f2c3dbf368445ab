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
use std::fs::File;
use std::io::{self, Seek, Write};
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
    usual(args).or_else(|| with_clap(args))
}

/// The shapes an MTA's command line has (nothing, or only `-c FILE`),
/// read as clap reads them without building clap's parser, which costs
/// as many instructions as the rest of the start.
fn usual(args: &[OsString]) -> Option<Opts> {
    match args {
        [] => Some(Opts::default()),
        [c, file]
            if (c == "-c" || c == "--config")
                && !file.is_empty()
                && !file.as_encoded_bytes().starts_with(b"-") =>
        {
            Some(Opts { config: Some(file.into()), ..Opts::default() })
        }
        _ => None,
    }
}

fn with_clap(args: &[OsString]) -> Option<Opts> {
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

/// A message up to this size stays in memory, from standard input to the
/// real agent's; a bigger one goes through an unlinked temp file.
const IN_MEMORY: u64 = 1 << 20;

/// The file `p` names, after symbolic links: (device, inode).
fn file_id(p: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

/// The real agent: `ARGV0.nod32` when installed under another name,
/// else `mda_path`; never nod32mda itself.
fn real_mda(argv0: &str, mda_path: &Path) -> anyhow::Result<PathBuf> {
    // One stat each, where resolving both paths took a readlink per
    // component; the same file under another name (a hard link) is
    // caught too.
    let me = file_id(Path::new("/proc/self/exe"));
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
        let Some(id) = file_id(&c) else { continue };
        if Some(id) == me {
            continue;
        }
        return Ok(c);
    }
    anyhow::bail!(
        "no real delivery agent: {} is missing or is nod32mda itself (set [mda].mda_path)",
        mda_path.display()
    )
}

/// The real agent's standard input: the message in a memfd (in memory,
/// seekable as the temp file is) when it is held in memory, else the
/// spool's temp file.
fn input_of(spool: Spool) -> io::Result<File> {
    if let Some(f) = spool.memory().and_then(|m| memfd(m).ok()) {
        return Ok(f);
    }
    spool.into_file()
}

fn memfd(bytes: &[u8]) -> io::Result<File> {
    let fd =
        rustix::fs::memfd_create("nod32mda", rustix::fs::MemfdFlags::CLOEXEC)?;
    let mut f = File::from(fd);
    f.write_all(bytes)?;
    f.rewind()?;
    Ok(f)
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

    // Held in memory up to IN_MEMORY, else in an unlinked private file:
    // bounded memory, and the real agent gets the very bytes we scanned.
    let mut spool = Spool::new(IN_MEMORY);
    let size = spool
        .fill_from(&mut io::stdin().lock())
        .unwrap_or_else(|e| fail(&format!("reading the message: {e}")));

    let deliver = |s: Spool| -> ! {
        let f =
            input_of(s).unwrap_or_else(|e| fail(&format!("spool file: {e}")));
        let e = Command::new(&real).args(&real_args).stdin(f).exec();
        fail(&format!("cannot run {}: {e}", real.display()))
    };

    if !cfg.mda.agent_enabled {
        deliver(spool);
    }
    let st = State::with_config(&config, cfg, Which::Mda, false)
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
    let mut read_back = Vec::new();
    let body = if too_big(&policy, size) {
        Body::TooBig(size)
    } else if let Some(m) = spool.memory() {
        Body::Whole(m)
    } else {
        read_back.reserve(size as usize);
        if let Err(e) = spool.read_into(&mut read_back) {
            fail(&format!("spool file: {e}"));
        }
        Body::Whole(&read_back)
    };
    let raw = match body {
        Body::Whole(raw) => raw,
        Body::TooBig(_) => &[],
    };
    let out = nod32_agent::deliver(&st, &policy, &env, body).unwrap_or_else(
        // A template read at its first use, and unreadable: the reason
        // the start would have given when templates were read there.
        |f| match st.templates.error() {
            Some(e) => fail(&e.to_string()),
            None => fail(&f.to_string()),
        },
    );

    match mda(out.decision.action, &st.config.mda, &out.why) {
        MdaOutcome::Deliver => match out.changed(raw) {
            None => deliver(spool),
            Some(m) => {
                let mut changed = Spool::new(IN_MEMORY);
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
    fn the_usual_shapes_read_as_clap_reads_them() {
        for args in [
            &[][..],
            &["-c", "/etc/nod32/nod32.toml"],
            &["--config", "n.toml"],
            &["-c", "a b.toml"],
            // Not the usual shapes: clap's answer, whatever it is.
            &["-c", "-x"],
            &["-c", "--"],
            &["-c", ""],
            &["-c"],
            &["-C", "x"],
            &["-c", "a", "-c", "b"],
            &["-c", "a", "--user", "bob"],
            &["--config=a"],
        ] {
            let a = os(args);
            let clap = format!("{:?}", with_clap(&a));
            assert_eq!(format!("{:?}", parse_own(&a)), clap, "{args:?}");
            if let Some(u) = usual(&a) {
                assert_eq!(format!("{:?}", Some(u)), clap, "{args:?}");
            }
        }
        assert!(usual(&os(&["-c", "x"])).is_some());
        assert!(usual(&os(&["-c", "-x"])).is_none());
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
        // Through a symbolic link, or under another name, still us.
        let link = d.path().join("link");
        std::os::unix::fs::symlink(&me, &link).unwrap();
        assert!(real_mda("nod32mda", &link).is_err());
        let hard = d.path().join("hard");
        if std::fs::hard_link(&me, &hard).is_ok() {
            assert!(real_mda("nod32mda", &hard).is_err());
        }
        assert!(real_mda("nod32mda", &d.path().join("none")).is_err());
    }

    #[test]
    fn a_message_in_memory_reaches_the_agent_from_memory() {
        use std::io::Read;
        let mut s = Spool::new(IN_MEMORY);
        s.fill_from(&mut &b"From a\nSubject: x\n\nbody\n"[..]).unwrap();
        let mut f = input_of(s).unwrap();
        let mut back = Vec::new();
        f.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"From a\nSubject: x\n\nbody\n");
        // Seekable, as the temp file is: an agent may read it twice.
        f.rewind().unwrap();
        assert_eq!(f.read(&mut [0u8; 4]).unwrap(), 4);
        let link = std::fs::read_link(format!(
            "/proc/self/fd/{}",
            std::os::fd::AsRawFd::as_raw_fd(&f)
        ))
        .unwrap();
        assert!(
            link.to_string_lossy().starts_with("/memfd:nod32mda"),
            "{link:?}"
        );
        // Over the limit: through the temp file, whole.
        let big: Vec<u8> = (0..IN_MEMORY + 10).map(|i| i as u8).collect();
        let mut s = Spool::new(IN_MEMORY);
        s.fill_from(&mut &big[..]).unwrap();
        assert!(!s.in_memory());
        let mut f = input_of(s).unwrap();
        back.clear();
        f.read_to_end(&mut back).unwrap();
        assert_eq!(back, big);
    }
}
