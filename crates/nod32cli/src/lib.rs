//! `nod32cli`: the command-line scanner.
//!
//! It scans files, directories, mailboxes and standard input against a
//! loading module, and is a drop-in for the `nod32cli` entries of
//! amavisd-new's `@av_scanners` (`--subdir {}` and the longer v2.52
//! argument list): each infected object, and each infected message of a
//! mailbox, is printed on a line containing `virus="NAME"`, and the exit
//! status follows NOD32's codes.
#![forbid(unsafe_code)]

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use nod32_engine::{
    Database, Infection, Limits, Options, Reason, Report, Scanner,
    SignatureSet, Verdict,
};

/// NOD32's exit codes, which amavisd-new reads as [0,3] clean, [1,2]
/// infected.
pub mod exit {
    /// Nothing found, everything scanned.
    pub const CLEAN: u8 = 0;
    /// Something infected was found.
    pub const INFECTED: u8 = 1;
    /// Something infected was found and cleaned (deleted).
    pub const CLEANED: u8 = 2;
    /// Nothing found, but some objects could not be scanned.
    pub const NOT_SCANNED: u8 = 3;
    /// An internal error (bad database, bad arguments).
    pub const ERROR: u8 = 10;
}

pub mod cli;
mod tools;
use cli::{Action, Cli, Command, Format, Pua, QuarantineOp, ScanArgs};

/// Parses arguments and runs; returns the process exit status.
pub fn main_with_args(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> u8 {
    // `--unsafe` is NOD32's spelling; clap cannot name a field `unsafe`.
    let args: Vec<std::ffi::OsString> = args
        .into_iter()
        .map(|a| if a == "--unsafe" { "--unsafe-apps".into() } else { a })
        .collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            if e.kind() == clap::error::ErrorKind::DisplayVersion {
                // After clap's line, which signatures a scan would use.
                nod32_agent::runtime::print_module_version(
                    nod32_agent::Which::Cli,
                    args.get(1..).unwrap_or_default(),
                );
            }
            return if e.use_stderr() { exit::ERROR } else { 0 };
        }
    };
    let format = cli.scan.format;
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("nod32cli: {e:#}");
            if format == Format::Clamscan { 2 } else { exit::ERROR }
        }
    }
}

fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Some(Command::Compile { sources, output, pua }) => {
            compile(&sources, &output, &pua)
        }
        Some(Command::Quarantine { config, op }) => quarantine(&config, op),
        Some(Command::Icons { files }) => tools::icons(&files),
        Some(Command::Certs { files }) => tools::certs(&files),
        Some(Command::HtmlNormalise { file, dir }) => {
            tools::html_normalise(&file, &dir)
        }
        None => scan(cli.scan),
    }
}

fn quarantine(config: &Path, op: QuarantineOp) -> Result<u8> {
    use nod32_agent::escape;
    use nod32_agent::quarantine::Quarantine;
    let c = nod32_config::Config::load_or_default(config)?;
    // Run as root over a directory the service user writes: its files
    // and root's are the only ones read (see nod32_agent::quarantine).
    let q =
        Quarantine::new(&c.global.quarantine_dir).trust_user(&c.global.user);
    let dir = c.global.quarantine_dir.display();
    match op {
        QuarantineOp::List { json } => {
            let (list, problems) =
                q.list_checked().with_context(|| format!("reading {dir}"))?;
            for p in problems {
                eprintln!("nod32cli: warning: not listed: {p}");
            }
            if json {
                let text = serde_json::to_string_pretty(&list)?;
                println!("{}", escape::json(&text));
                return Ok(exit::CLEAN);
            }
            for m in &list {
                let time = nod32_agent::notify::rfc5322_date(
                    std::time::UNIX_EPOCH
                        + std::time::Duration::from_secs(m.time),
                );
                println!(
                    "{}  {}  {}  {}  <{}>  {}",
                    m.id,
                    time,
                    escape::field(&m.status),
                    if m.virus.is_empty() {
                        "-".into()
                    } else {
                        escape::field(&m.virus)
                    },
                    escape::field(&m.sender),
                    escape::field(&m.recipients.join(","))
                );
            }
            eprintln!("nod32cli: {} message(s) in {dir}", list.len());
        }
        QuarantineOp::Show { id, raw: exact } => {
            let (m, raw) = q.message(&id)?;
            let mut out = std::io::stdout().lock();
            if exact {
                out.write_all(&raw)?;
                return Ok(exit::CLEAN);
            }
            for (k, v) in [
                ("ID", m.id.clone()),
                (
                    "Time",
                    nod32_agent::notify::rfc5322_date(
                        std::time::UNIX_EPOCH
                            + std::time::Duration::from_secs(m.time),
                    ),
                ),
                ("Agent", m.agent.clone()),
                ("Status", m.status.clone()),
                ("Virus", m.virus.clone()),
                ("Action", m.action.clone()),
                ("Sender", format!("<{}>", m.sender)),
                ("Recipients", m.recipients.join(", ")),
                ("Queue-ID", m.queue_id.clone()),
                ("Message-ID", m.message_id.clone()),
                ("Subject", m.subject.clone()),
                ("Size", m.size.to_string()),
            ] {
                writeln!(out, "{k}: {}", escape::field(&v))?;
            }
            writeln!(out)?;
            out.write_all(escape::text(&raw).as_bytes())?;
        }
        QuarantineOp::Release { id, to } => {
            let sendmail = &c.cli.policy.sendmail_path;
            let to = (!to.is_empty()).then_some(to.as_slice());
            // Signed, so that the MTA's own filters (nod32smfi on its
            // local submissions, nod32mda) pass it rather than refuse it
            // again and bounce it to its sender.
            let key = nod32_agent::release::signing_key(config)
                .map_err(anyhow::Error::msg)?;
            let m = q.release(&id, sendmail, to, Some(&key))?;
            println!(
                "nod32cli: released {id} to {}",
                to.map_or(m.recipients.join(", "), |t| t.join(", "))
            );
        }
        QuarantineOp::Delete { ids } => {
            for id in ids {
                q.delete(&id)?;
                println!("nod32cli: deleted {id}");
            }
        }
    }
    Ok(exit::CLEAN)
}

fn load_sources(
    sources: &[PathBuf],
    pua: &Pua,
    certs: bool,
) -> Result<SignatureSet> {
    let mut set = SignatureSet::new();
    if let Some(c) = pua.categories() {
        set.detect_pua(c);
    }
    if !certs {
        set.without_certificates();
    }
    for s in sources {
        set.load_path(s)
            .with_context(|| format!("loading {}", s.display()))?;
    }
    if let Some(w) = set.stats().unsupported_warning() {
        eprintln!("nod32cli: warning: {w}");
    }
    Ok(set)
}

fn compile(sources: &[PathBuf], output: &Path, pua: &Pua) -> Result<u8> {
    let t = Instant::now();
    let set = load_sources(sources, pua, true)?;
    let (len, stats) = nod32_engine::install(&set, output)?;
    let s = set.stats();
    eprintln!(
        "nod32cli: wrote {} ({} bytes): {} hash, {} body, {} logical, {} icon, {} container metadata signatures, {} phishing list entries, {} allow-list entries, \
         {} ignored, {} outside functionality level {}, {} unsupported; {} patterns slow (no anchor) in {:.2?}",
        output.display(),
        len,
        s.hash,
        s.body,
        s.logical,
        s.icons,
        s.container,
        s.phishing,
        s.allow,
        stats.ignored + s.ignored,
        s.skipped_flevel,
        nod32_engine::FLEVEL,
        s.unsupported_total(),
        stats.unanchored,
        t.elapsed()
    );
    eprint!("{}", kind_table(s));
    if s.pua_files_skipped > 0 {
        eprintln!(
            "nod32cli: {} PUA file(s) not read (potentially unwanted applications: --detect-pua reads them)",
            s.pua_files_skipped
        );
    }
    if s.pua_excluded > 0 {
        eprintln!(
            "nod32cli: {} PUA signature(s) outside the categories chosen",
            s.pua_excluded
        );
    }
    Ok(exit::CLEAN)
}

/// Signatures per kind and target: loaded, skipped for another
/// functionality level, and unsupported with the reasons.
fn kind_table(s: &nod32_engine::LoadStats) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "{:<8} {:>6} {:>9} {:>10} {:>11}  why unsupported\n",
        "kind", "target", "loaded", "other FL", "unsupported"
    );
    let mut total = (0, 0, 0);
    for ((kind, target), row) in &s.table {
        let unsupported: usize = row.unsupported.values().sum();
        let why: Vec<String> =
            row.unsupported.iter().map(|(r, n)| format!("{n} {r}")).collect();
        let _ = writeln!(
            out,
            "{:<8} {:>6} {:>9} {:>10} {:>11}  {}",
            format!(".{kind}"),
            target.map_or("-".to_string(), |t| t.to_string()),
            row.loaded,
            row.outside_flevel,
            unsupported,
            why.join(", ")
        );
        total.0 += row.loaded;
        total.1 += row.outside_flevel;
        total.2 += unsupported;
    }
    let _ = writeln!(
        out,
        "{:<8} {:>6} {:>9} {:>10} {:>11}",
        "all", "", total.0, total.1, total.2
    );
    out
}

fn open_db(
    paths: &[PathBuf],
    module: &Path,
    pua: &Pua,
    certs: bool,
) -> Result<Database> {
    if paths.is_empty() {
        if module.exists() {
            return Database::open(module)
                .with_context(|| format!("opening {}", module.display()));
        }
        eprintln!(
            "nod32cli: warning: no loading module at {}; using the built-in \
             default module (EICAR and test signatures only)",
            module.display()
        );
        return Ok(Database::builtin());
    }
    if let [one] = paths
        && one.is_file()
        && is_module(one)
    {
        return Database::open(one)
            .with_context(|| format!("opening {}", one.display()));
    }
    let set = load_sources(paths, pua, certs)?;
    Database::from_signatures(&set).context("compiling the signatures")
}

fn is_module(p: &Path) -> bool {
    let mut magic = [0u8; 8];
    std::fs::File::open(p).and_then(|mut f| f.read_exact(&mut magic)).is_ok()
        && &magic == b"NOD32MOD"
}

/// One scanned path.
struct Outcome {
    path: String,
    result: Result<Report, String>,
    action: Option<&'static str>,
}

/// Lists the files under `path`. A symlink named on the command line is
/// followed; symlinked directories met while walking are not (loops, and
/// escapes from the tree being scanned).
fn collect(
    path: &Path,
    top: bool,
    out: &mut Vec<PathBuf>,
    errors: &mut Vec<(PathBuf, String)>,
) {
    let meta = match if top {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    } {
        Ok(m) => m,
        Err(e) => {
            errors.push((path.to_path_buf(), e.to_string()));
            return;
        }
    };
    if meta.is_dir() {
        match std::fs::read_dir(path) {
            Ok(rd) => {
                let mut entries: Vec<PathBuf> =
                    rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
                entries.sort();
                for e in entries {
                    // Directory symlinks are not followed (loops, escapes).
                    if std::fs::symlink_metadata(&e)
                        .is_ok_and(|m| m.file_type().is_symlink())
                        && e.is_dir()
                    {
                        continue;
                    }
                    collect(&e, false, out, errors);
                }
            }
            Err(e) => errors.push((path.to_path_buf(), e.to_string())),
        }
    } else if meta.is_file() || meta.file_type().is_symlink() {
        out.push(path.to_path_buf());
    }
}

fn check_config(path: &Path) -> Result<u8> {
    let c = nod32_config::Config::load_or_default(path)?;
    // Templates are read at start by the services: a broken one is a
    // configuration error too.
    for p in [
        &c.global.policy,
        &c.mda.policy,
        &c.smtp.policy,
        &c.smfi.policy,
        &c.cli.policy,
    ] {
        nod32_agent::template::Templates::load(&p.template_dir)
            .map_err(anyhow::Error::msg)?;
    }
    println!(
        "nod32cli: configuration OK: {} (module {})",
        if path.exists() {
            path.display().to_string()
        } else {
            "built-in defaults".into()
        },
        c.global.module.display()
    );
    Ok(exit::CLEAN)
}

fn scan(args: ScanArgs) -> Result<u8> {
    if args.check_config {
        return check_config(&args.config);
    }
    if args.paths.is_empty() {
        bail!("nothing to scan: give files, directories or - (see --help)");
    }
    if args.action_on_notscanned != Action::Accept {
        bail!(
            "--action-on-notscanned: only 'accept' is possible for objects that were not scanned"
        );
    }
    let t0 = Instant::now();
    let config = nod32_config::Config::load_or_default(&args.config)?;
    let policy = &config.cli.policy;
    let db =
        open_db(&args.db, &config.global.module, &args.pua, !args.nocerts)?;
    // [global]/[cli] first, then the command line.
    let mut limits = Limits {
        max_scan_size: policy.max_scan_size,
        max_file_size: policy.max_file_size,
        max_recursion: policy.max_recursion,
        max_files: policy.max_files,
        max_scan_time: policy.max_scan_time,
    };
    if let Some(v) = args.max_filesize {
        limits.max_file_size = v;
    }
    if let Some(v) = args.max_scansize {
        limits.max_scan_size = v;
    }
    if let Some(v) = args.max_recursion {
        limits.max_recursion = v;
    }
    if let Some(v) = args.max_files {
        limits.max_files = v;
    }
    if let Some(v) = args.max_scantime {
        limits.max_scan_time = Duration::from_secs(v);
    }
    let mut heuristics = policy.heuristics.clone();
    heuristics.encrypted_archive |=
        args.alert_encrypted || args.alert_encrypted_archive;
    heuristics.encrypted_doc |=
        args.alert_encrypted || args.alert_encrypted_doc;
    heuristics.exceeds_max |= args.alert_exceeds_max;
    heuristics.broken |= args.alert_broken;
    heuristics.macros |= args.alert_macros;
    heuristics.mail_executables |= args.alert_mail_executables;
    heuristics.mail_malformed |= args.alert_mail_malformed;
    heuristics.phishing_ssl |= args.alert_phishing_ssl;
    heuristics.phishing_cloak |= args.alert_phishing_cloak;
    if args.no_phishing_scan_urls {
        heuristics.phishing_scan_urls = false;
    }
    if args.no_heuristic_alerts {
        heuristics.enabled = false;
    }
    let options = Options {
        archives: policy.scan_archives && !args.no_archives,
        mail: policy.scan_mail && !args.no_mail,
        heuristics,
        certs: !args.nocerts,
    };
    let stdin_cap = limits.max_file_size.saturating_add(1);
    // clamscan's format has one line per file, so it stops at the first
    // infected message as clamscan does, and names signatures of
    // unofficial databases as it does.
    let scanner = Scanner::new(&db)
        .limits(limits)
        .options(options)
        .each_message(args.format != Format::Clamscan)
        .unofficial_suffix(args.format == Format::Clamscan);

    let mut outcomes = Vec::new();
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in &args.paths {
        if p.as_os_str() == "-" {
            let mut data = Vec::new();
            let r = std::io::stdin()
                .take(stdin_cap)
                .read_to_end(&mut data)
                .map(|_| scanner.scan_bytes(&data))
                .map_err(|e| e.to_string());
            outcomes.push(Outcome {
                path: "stdin".into(),
                result: r,
                action: None,
            });
        } else {
            collect(p, true, &mut files, &mut errors);
        }
    }
    for (p, e) in errors {
        outcomes.push(Outcome {
            path: p.display().to_string(),
            result: Err(e),
            action: None,
        });
    }

    let progress = (!args.no_progress
        && std::io::stderr().is_terminal()
        && files.len() > 1)
        .then(|| indicatif::ProgressBar::new(files.len() as u64));
    let threads = args
        .threads
        .unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        })
        .clamp(1, 64);
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(files.len()));
    std::thread::scope(|s| {
        for _ in 0..threads.min(files.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    let r = scanner.scan_path(path).map_err(|e| e.to_string());
                    if let Some(pb) = &progress {
                        pb.inc(1);
                    }
                    results
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((i, r));
                }
            });
        }
    });
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|(i, _)| *i);
    for (i, r) in results {
        let path = &files[i];
        let action = match &r {
            Ok(rep) if rep.verdict.is_infected() => {
                apply_action(path, args.action_on_infected)?
            }
            _ => None,
        };
        outcomes.push(Outcome {
            path: path.display().to_string(),
            result: r,
            action,
        });
    }

    let elapsed = t0.elapsed();
    report(&args, &db, &outcomes, elapsed)
}

fn apply_action(path: &Path, action: Action) -> Result<Option<&'static str>> {
    match action {
        Action::Accept => Ok(None),
        Action::Clean | Action::Delete => {
            std::fs::remove_file(path)
                .with_context(|| format!("deleting {}", path.display()))?;
            Ok(Some("deleted"))
        }
    }
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn report(
    args: &ScanArgs,
    db: &Database,
    outcomes: &[Outcome],
    elapsed: Duration,
) -> Result<u8> {
    let (mut infected, mut cleaned, mut not_scanned, mut errors, mut bytes) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    // Infected messages of mailboxes, each also in one infected file.
    let mut infected_messages = 0u64;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut json = Vec::new();
    for o in outcomes {
        match &o.result {
            Ok(r) => {
                bytes += r.bytes;
                match &r.verdict {
                    Verdict::Infected { name, location } => {
                        infected += 1;
                        if o.action.is_some() {
                            cleaned += 1;
                        }
                        let action = o.action.unwrap_or("retained");
                        infected_messages +=
                            r.infections
                                .iter()
                                .filter(|i| i.message.is_some())
                                .count() as u64;
                        match args.format {
                            // One line per infected message of a mailbox
                            // (amavisd-new takes every virus="..." of
                            // the output), one for any other file.
                            Format::Nod32 => {
                                for i in &r.infections {
                                    writeln!(
                                        out,
                                        "name=\"{}\", virus=\"{}\", action=\"{}\", info=\"{}\"",
                                        quote(&o.path),
                                        quote(&i.name),
                                        action,
                                        quote(&i.location)
                                    )?;
                                }
                            }
                            Format::Clamscan => writeln!(out, "{}: {} FOUND", o.path, name)?,
                            Format::Json => json.push(format!(
                                "{{\"path\":{},\"verdict\":\"infected\",\"virus\":{},\"location\":{},\"action\":\"{}\",\"infections\":[{}]}}",
                                js(&o.path),
                                js(name),
                                js(location),
                                action,
                                r.infections.iter().map(infection_json).collect::<Vec<_>>().join(",")
                            )),
                        }
                    }
                    Verdict::Uncheckable { reason } => {
                        not_scanned += 1;
                        print_plain(
                            args,
                            &mut out,
                            &mut json,
                            &o.path,
                            Some(reason),
                        )?;
                    }
                    Verdict::Clean => {
                        print_plain(args, &mut out, &mut json, &o.path, None)?
                    }
                }
            }
            Err(e) => {
                errors += 1;
                not_scanned += 1;
                match args.format {
                    Format::Json => json.push(format!(
                        "{{\"path\":{},\"verdict\":\"error\",\"error\":{}}}",
                        js(&o.path),
                        js(e)
                    )),
                    Format::Clamscan => eprintln!("{}: {} ERROR", o.path, e),
                    Format::Nod32 => writeln!(
                        out,
                        "name=\"{}\", virus=\"\", action=\"\", info=\"not scanned: {}\"",
                        quote(&o.path),
                        quote(e)
                    )?,
                }
            }
        }
    }
    let secs = elapsed.as_secs_f64();
    let mb = bytes as f64 / 1_048_576.0;
    let rate = if secs > 0.0 { mb / secs } else { 0.0 };
    let known =
        db.hash_count() + db.pattern_count() + db.container_rule_count();
    match args.format {
        Format::Json => {
            writeln!(
                out,
                "{{\"results\":[{}],\"summary\":{{\"known_signatures\":{},\"objects\":{},\"infected\":{},\
                 \"infected_messages\":{},\"cleaned\":{},\"not_scanned\":{},\"errors\":{},\"bytes\":{},\"time_s\":{:.3},\"mb_per_s\":{:.2}}}}}",
                json.join(","),
                known,
                outcomes.len(),
                infected,
                infected_messages,
                cleaned,
                not_scanned,
                errors,
                bytes,
                secs,
                rate
            )?;
        }
        _ if args.no_summary => {}
        _ => {
            writeln!(out, "\n----------- SCAN SUMMARY -----------")?;
            writeln!(out, "Known viruses: {known}")?;
            writeln!(
                out,
                "Engine version: nod32 {}",
                env!("CARGO_PKG_VERSION")
            )?;
            writeln!(out, "Scanned files: {}", outcomes.len())?;
            writeln!(out, "Infected files: {infected}")?;
            // Only after a mailbox of several messages: the line says how
            // many of its messages the infected files above hold.
            if infected_messages > 0 {
                writeln!(out, "Infected messages: {infected_messages}")?;
            }
            writeln!(out, "Not scanned: {not_scanned}")?;
            writeln!(out, "Data scanned: {mb:.2} MB")?;
            writeln!(out, "Time: {secs:.3} sec")?;
            writeln!(out, "Throughput: {rate:.2} MB/s")?;
        }
    }
    out.flush()?;
    Ok(match args.format {
        Format::Clamscan
            if (errors > 0 || not_scanned > 0) && infected == 0 =>
        {
            2
        }
        Format::Clamscan if infected > 0 => 1,
        Format::Clamscan => 0,
        _ if infected > 0 && cleaned == infected => exit::CLEANED,
        _ if infected > 0 => exit::INFECTED,
        _ if not_scanned > 0 => exit::NOT_SCANNED,
        _ => exit::CLEAN,
    })
}

fn print_plain(
    args: &ScanArgs,
    out: &mut impl Write,
    json: &mut Vec<String>,
    path: &str,
    reason: Option<&Reason>,
) -> Result<()> {
    match (args.format, reason) {
        (Format::Json, None) => json
            .push(format!("{{\"path\":{},\"verdict\":\"clean\"}}", js(path))),
        (Format::Json, Some(r)) => json.push(format!(
            "{{\"path\":{},\"verdict\":\"not_scanned\",\"reason\":{}}}",
            js(path),
            js(&r.to_string())
        )),
        (Format::Clamscan, None) if args.infected_only => {}
        (Format::Clamscan, None) => writeln!(out, "{path}: OK")?,
        // clamscan says OK for what its limits, encryption or damage
        // left unscanned; a scanner that was not able to look must not.
        // An error line, as clamscan writes one for a file it could not
        // scan, with the reason.
        (Format::Clamscan, Some(r)) => {
            writeln!(out, "{path}: Not scanned ({r}) ERROR")?
        }
        (Format::Nod32, Some(r)) => writeln!(
            out,
            "name=\"{}\", virus=\"\", action=\"\", info=\"not scanned: {}\"",
            quote(path),
            quote(&r.to_string())
        )?,
        (Format::Nod32, None) => {}
    }
    Ok(())
}

/// One entry of a JSON result's `infections`: `message` and
/// `message_id` are null outside a mailbox of several messages.
fn infection_json(i: &Infection) -> String {
    let (number, id) = match &i.message {
        Some(m) => (
            m.number.to_string(),
            m.id.as_deref().map_or_else(|| "null".into(), js),
        ),
        None => ("null".into(), "null".into()),
    };
    format!(
        "{{\"virus\":{},\"location\":{},\"message\":{number},\"message_id\":{id}}}",
        js(&i.name),
        js(&i.location)
    )
}

fn js(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}
