//! nod32smtp as Postfix's after-queue content filter, next to its floor:
//! the same content_filter pointed straight at the re-injection listener
//! (the second pass through the queue, no filter process), and Postfix
//! with no filter, in the same run. smtp-source (20 sessions) submits;
//! a run ends when the queue is empty again, and everything re-injected
//! goes to discard(8), so what is measured is the queue's two passes and
//! the filter, not delivery.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::root;

/// nod32smtp's listener and the re-injection smtpd it hands mail to.
const PROXY: &str = "127.0.0.1:2559";
const REINJECT: &str = "127.0.0.1:2558";
const RCPT: &str = "nod32user@localhost";

/// (smtpd listener, its content_filter); each set up in the tests'
/// Postfix by `postfix.rs`.
pub(crate) const LISTENERS: &[(&str, &str)] = &[
    ("127.0.0.1:2555", "discard:bench"),
    ("127.0.0.1:2556", "nod32scan:[127.0.0.1]:2558"),
    ("127.0.0.1:2557", "nod32scan:[127.0.0.1]:2559"),
];

/// The re-injection listener's overrides (mail it takes is discarded).
pub(crate) fn reinjection() -> (&'static str, Vec<&'static str>) {
    (
        REINJECT,
        vec![
            "content_filter=discard:bench",
            "receive_override_options=no_unknown_recipient_checks,no_milters",
            "smtpd_authorized_xforward_hosts=127.0.0.0/8",
            "mynetworks=127.0.0.0/8",
            "smtpd_recipient_restrictions=permit_mynetworks,reject",
            "smtpd_error_sleep_time=0",
        ],
    )
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Messages in the instance's queue (every queue but the ones Postfix
/// keeps for later: nothing should be deferred here).
fn queued(spool: &Path) -> Result<(usize, usize)> {
    let count = |q: &str| -> usize {
        let mut n = 0;
        let mut dirs = vec![spool.join(q)];
        while let Some(d) = dirs.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else { continue };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    n += 1;
                }
            }
        }
        n
    };
    let live =
        ["maildrop", "incoming", "active"].iter().map(|q| count(q)).sum();
    Ok((live, count("deferred") + count("hold")))
}

/// Submits `n` messages of `len` bytes to `rcpt` and waits for the
/// queue to empty; messages per second from the first connection to the
/// empty queue.
pub(crate) fn round(
    spool: &Path,
    listener: &str,
    rcpt: &str,
    n: usize,
    len: usize,
) -> Result<f64> {
    let t = Instant::now();
    let out = Command::new("/usr/sbin/smtp-source")
        .args(["-s", "20", "-m", &n.to_string(), "-l", &len.to_string()])
        .args(["-f", "nod32admin@localhost", "-t", rcpt, listener])
        .output()
        .context("smtp-source")?;
    if !out.status.success() {
        bail!(
            "smtp-source to {listener} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    loop {
        let (live, stuck) = queued(spool)?;
        if stuck > 0 {
            bail!(
                "{stuck} messages deferred through {listener}: see the instance's maillog"
            );
        }
        if live == 0 {
            break;
        }
        if t.elapsed() > Duration::from_secs(600) {
            bail!("the queue did not empty after mail to {listener}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

pub(crate) fn run(module: &Path) -> Result<()> {
    let _postfix = crate::postfix::start()?;
    let spool = crate::postfix::dir().join("spool");
    let dir = root().join("target/bench-data/filter");
    std::fs::create_dir_all(&dir)?;
    let (port, server) = (
        PROXY.rsplit_once(':').map_or("", |p| p.1),
        REINJECT.rsplit_once(':').map_or("", |p| p.1),
    );
    let cfg = dir.join("nod32.toml");
    std::fs::write(
        &cfg,
        format!(
            "[global]\nmodule = \"{}\"\nuser = \"nobody\"\ngroup = \"nogroup\"\nlog_level = 2\n\
             [smtp]\nlisten_port = {port}\nserver_port = {server}\n",
            module.display()
        ),
    )?;
    let _proxy = Killed(
        Command::new(root().join("target/release/nod32smtp"))
            .env(super::UNIT_ENV.0, super::UNIT_ENV.1)
            .arg("-f")
            .arg("-c")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("nod32smtp")?,
    );
    let t = Instant::now();
    while std::net::TcpStream::connect(PROXY).is_err() {
        if t.elapsed() > Duration::from_secs(60) {
            bail!("nod32smtp did not listen on {PROXY}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let labels = [
        "no filter",
        "content_filter to re-injection (the floor)",
        "content_filter through nod32smtp",
    ];
    let (n, len) = (1000usize, 1024usize);
    for (l, _) in LISTENERS {
        round(&spool, l, RCPT, 40, len)?;
    }
    let mut all = vec![Vec::new(); LISTENERS.len()];
    for _ in 0..3 {
        for (i, (l, _)) in LISTENERS.iter().enumerate() {
            all[i].push(round(&spool, l, RCPT, n, len)?);
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
        "\n== After-queue content filter (smtp-source, 20 sessions, {n} x {} KB, until the queue is empty; median of 3 interleaved rounds) ==",
        len / 1024
    );
    for (label, r) in labels.iter().zip(&rates) {
        println!(
            "  {label:<44} {r:>8.0} msg/s {:>6.0}% of the floor",
            100.0 * r / rates[1]
        );
    }
    println!("goal: nod32smtp >= 95% of the floor");
    Ok(())
}
