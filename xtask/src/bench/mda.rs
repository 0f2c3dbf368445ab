//! nod32mda's per-message wall time, as an MTA pays it (one process per
//! delivery: start, map the module, read, scan, exec the real agent),
//! next to the peers an administrator would otherwise put there:
//! `clamdscan --stream` against a running clamd (one client process per
//! message, the scan in the daemon) and `clamscan` (one whole scanner per
//! message). Same 1.1 M-signature database for all three. Then the
//! rate Postfix delivers at with procmail as the agent: alone, after
//! `env` (one exec more: the floor of any wrapper) and behind nod32mda.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::Data;
use crate::{root, status};

const OURS_RUNS: usize = 300;
const CLAMDSCAN_RUNS: usize = 100;
const CLAMSCAN_RUNS: usize = 3;

/// clamd, stopped when dropped.
pub(crate) struct Clamd(pub(crate) Child);

impl Drop for Clamd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ping(sock: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(sock) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = [0u8; 5];
    s.write_all(b"zPING\0").is_ok()
        && s.read_exact(&mut buf).is_ok()
        && &buf == b"PONG\0"
}

pub(crate) fn start_clamd(dir: &Path, db: &Path) -> Result<(Clamd, PathBuf)> {
    let sock = dir.join("clamd.sock");
    let conf = dir.join("clamd.conf");
    // No clean-result cache: each real message is new to clamd, while
    // this benchmark sends the same one again and again.
    std::fs::write(
        &conf,
        format!(
            "LocalSocket {}\nFixStaleSocket yes\nDatabaseDirectory {}\n\
             Foreground yes\nLogFile {}\nTemporaryDirectory /tmp\n\
             MaxThreads 4\nDisableCache yes\nSelfCheck 0\n",
            sock.display(),
            db.display(),
            dir.join("clamd.log").display()
        ),
    )?;
    let client = dir.join("client.conf");
    std::fs::write(&client, format!("LocalSocket {}\n", sock.display()))?;
    let child = Command::new("/usr/sbin/clamd")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting clamd")?;
    let mut clamd = Clamd(child);
    let t = Instant::now();
    while !ping(&sock) {
        if let Some(st) = clamd.0.try_wait()? {
            bail!(
                "clamd exited ({st}) while loading; see {}",
                dir.join("clamd.log").display()
            );
        }
        if t.elapsed() > Duration::from_secs(300) {
            bail!("clamd did not answer PING within 300 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("bench: clamd ready in {:.2?}", t.elapsed());
    Ok((clamd, client))
}

/// Runs `cmd` with `input` on stdin and returns (wall time, exit code,
/// stdout).
fn once(cmd: &mut Command, input: &Path) -> Result<(Duration, i32, String)> {
    let stdin = std::fs::File::open(input)?;
    let t = Instant::now();
    let out = cmd
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output()
        .with_context(|| format!("{cmd:?}"))?;
    let wall = t.elapsed();
    Ok((
        wall,
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

struct Stats {
    p50: Duration,
    p90: Duration,
}

fn stats(mut v: Vec<Duration>) -> Stats {
    v.sort();
    Stats { p50: v[v.len() / 2], p90: v[v.len() * 9 / 10] }
}

/// Times `runs` runs of the command made by `make`, after checking the
/// clean and the infected message give `clean_code` and `infected_code`.
fn series(
    runs: usize,
    clean: &Path,
    infected: &Path,
    codes: (i32, i32),
    make: impl Fn(&Path) -> Command,
) -> Result<Stats> {
    let (_, c, out) = once(&mut make(clean), clean)?;
    if c != codes.0 {
        bail!("{:?} on the clean mail: exit {c}: {out}", make(clean));
    }
    let (_, c, out) = once(&mut make(infected), infected)?;
    if c != codes.1 || !out.contains("Bench.") {
        bail!("{:?} on the infected mail: exit {c}: {out}", make(infected));
    }
    let mut v = Vec::with_capacity(runs);
    for _ in 0..runs {
        v.push(once(&mut make(clean), clean)?.0);
    }
    Ok(stats(v))
}

/// Times `runs` runs of a command that reads nothing and must succeed.
fn series_plain(
    runs: usize,
    input: &Path,
    make: impl Fn() -> Command,
) -> Result<Stats> {
    let mut v = Vec::with_capacity(runs);
    for _ in 0..runs {
        let (t, c, _) = once(&mut make(), input)?;
        if c != 0 {
            bail!("{:?}: exit {c}", make());
        }
        v.push(t);
    }
    Ok(stats(v))
}

fn ensure_peers() -> Result<()> {
    if Path::new("/usr/sbin/clamd").exists()
        && Path::new("/usr/bin/clamdscan").exists()
    {
        return Ok(());
    }
    if !crate::is_root() {
        bail!(
            "this benchmark runs clamd and clamdscan: apt-get install clamav-daemon clamdscan"
        );
    }
    status(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(["clamav-daemon", "clamdscan"]),
    )
}

/// Postfix's local delivery through procmail: 1,000 messages of 1 KB
/// (smtp-source, 20 sessions) to a user whose mailbox_command is
/// procmail alone, `env procmail`, or nod32mda then procmail, each round
/// until the queue is empty.
fn through_postfix(module: &Path) -> Result<()> {
    if !Path::new("/usr/bin/procmail").exists() {
        bail!("the MDA rows deliver with procmail: apt-get install procmail");
    }
    let _postfix = crate::postfix::start()?;
    let spool = crate::postfix::dir().join("spool");
    status(
        Command::new("chmod")
            .args(["-R", "a+rX"])
            .arg(root().join("target/bench-data")),
    )?;
    std::fs::write(
        Path::new(crate::postfix::STATE).join("bench-mda.toml"),
        format!(
            "[global]\nmodule = \"{}\"\n[mda]\nmda_path = \"/usr/bin/procmail\"\n",
            module.display()
        ),
    )?;
    let users = crate::BENCH_MDA_USERS;
    for (u, _) in users {
        // Into Maildir, as the recipe: an mbox in /var/mail is
        // locked per delivery, and procmail sleeps 8 s when it finds the
        // lock taken, which would be all that is measured.
        let home = Path::new("/home").join(u);
        let _ = std::fs::remove_dir_all(home.join("Maildir"));
        let _ = std::fs::remove_file(Path::new("/var/mail").join(u));
        let rc = home.join(".procmailrc");
        std::fs::write(&rc, "DEFAULT=$HOME/Maildir/\n")?;
        status(Command::new("chown").arg(u).arg(&rc))?;
    }
    let rcpt = |u: &str| format!("{u}@localhost");
    let (n, len) = (1000usize, 1024usize);
    for (u, _) in users {
        super::filter::round(&spool, "127.0.0.1:2525", &rcpt(u), 40, len)?;
    }
    let mut all = vec![Vec::new(); users.len()];
    for _ in 0..3 {
        for (i, (u, _)) in users.iter().enumerate() {
            all[i].push(super::filter::round(
                &spool,
                "127.0.0.1:2525",
                &rcpt(u),
                n,
                len,
            )?);
        }
    }
    let rates: Vec<f64> = all
        .into_iter()
        .map(|mut v| {
            v.sort_by(f64::total_cmp);
            v[1]
        })
        .collect();
    println!(
        "\n== Postfix local delivery (smtp-source, 20 sessions, {n} x 1 KB, until the queue is empty; median of 3 interleaved rounds) =="
    );
    let labels =
        ["procmail", "env procmail (the floor)", "nod32mda, then procmail"];
    for (label, r) in labels.iter().zip(&rates) {
        println!(
            "  {label:<44} {r:>8.0} msg/s {:>6.0}% of the floor",
            100.0 * r / rates[1]
        );
    }
    println!("goal: nod32mda + procmail at the floor (100%)");
    Ok(())
}

pub(crate) fn run(data: &Data, module: &Path) -> Result<()> {
    ensure_peers()?;
    let dir = root().join("target/bench-data/mda");
    std::fs::create_dir_all(&dir)?;
    let mda = root().join("target/release/nod32mda");
    let cfg = dir.join("nod32.toml");
    // The real agent is /bin/true: what is timed is nod32mda's own work
    // plus one exec, as in a real delivery.
    std::fs::write(
        &cfg,
        format!(
            "[global]\nmodule = \"{}\"\n[mda]\nmda_path = \"/bin/true\"\n",
            module.display()
        ),
    )?;
    // A clean mail (100,000-byte attachment, 137 KB as base64) and one
    // with a planted body signature.
    let clean = data.corpus.join("m00000.eml");
    let infected = data.corpus.join("m00010.eml");
    let size = std::fs::metadata(&clean)?.len();

    let ours = series(OURS_RUNS, &clean, &infected, (0, 69), |_| {
        let mut c = Command::new(&mda);
        c.arg("--").arg("-c").arg(&cfg);
        c
    })?;

    // The floor: one extra exec in front of the agent and nothing read,
    // what `mailbox_command = /usr/bin/env procmail` costs.
    let floor = series_plain(OURS_RUNS, &clean, || {
        let mut c = Command::new("/usr/bin/env");
        c.arg("/bin/true");
        c
    })?;

    let (clamd, client) = start_clamd(&dir, &data.db)?;
    let clamdscan = series(CLAMDSCAN_RUNS, &clean, &infected, (0, 1), |_| {
        let mut c = Command::new("/usr/bin/clamdscan");
        c.arg("-c").arg(&client).args(["--no-summary", "--stream", "-"]);
        c
    })?;
    drop(clamd);

    let clamscan = series(CLAMSCAN_RUNS, &clean, &infected, (0, 1), |_| {
        let mut c = Command::new("/usr/bin/clamscan");
        c.arg("--no-summary").arg("-d").arg(&data.db).arg("-");
        c
    })?;

    println!(
        "\n== nod32mda per message (same run, same 1.1 M-signature database) =="
    );
    println!(
        "one {:.0} KB mail (100,000-byte attachment in base64), one process per message, stdin from a file; p50 of {OURS_RUNS} / {CLAMDSCAN_RUNS} / {CLAMSCAN_RUNS} runs",
        size as f64 / 1024.0
    );
    println!(
        "{:<44} {:>10} {:>10} {:>18}",
        "", "p50", "p90", "ratio to nod32mda"
    );
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
    let row = |label: &str, s: &Stats| {
        println!(
            "{label:<44} {:>10} {:>10} {:>17.1}x",
            ms(s.p50),
            ms(s.p90),
            s.p50.as_secs_f64() / ours.p50.as_secs_f64()
        );
    };
    row("nod32mda (scan, then exec /bin/true)", &ours);
    row("env /bin/true (one more exec: the floor)", &floor);
    row("clamdscan --stream (clamd running)", &clamdscan);
    row("clamscan (loads the database)", &clamscan);
    println!(
        "goals: nod32mda <= 5 ms per message and >= 8x faster than clamdscan --stream"
    );
    through_postfix(module)
}
