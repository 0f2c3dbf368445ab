//! Postfix throughput with nod32smfi as its milter, next to Postfix
//! with no milter, with a libmilter milter that does nothing (the floor:
//! what any milter costs Postfix here, built at bench time from Debian's
//! `libmilter-dev`) and with clamav-milter + clamd on the same database:
//! smtp-source (20 sessions) into smtpd listeners that differ only in
//! their milter and hand every accepted message to discard(8), so what
//! is measured is SMTP in + milter, not delivery.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::Data;
use super::mda::start_clamd;
use crate::{root, status};

/// (smtpd listener, its milter): set up by `cargo xtask install-peers`,
/// each handing what it accepts to discard(8).
pub(crate) const LISTENERS: &[(&str, &str)] = &[
    ("127.0.0.1:2531", ""),
    ("127.0.0.1:2532", "unix:/var/lib/nod32-test/bench-smfi.sock"),
    ("127.0.0.1:2533", "inet:127.0.0.1:2534"),
    ("127.0.0.1:2535", "unix:/var/lib/nod32-test/bench-clamav-milter.sock"),
    ("127.0.0.1:2536", "inet:127.0.0.1:2537"),
    ("127.0.0.1:2538", "unix:/var/lib/nod32-test/bench-smfi-noscan.sock"),
    ("127.0.0.1:2539", "unix:/var/lib/nod32-test/bench-noop-milter.sock"),
];

/// The floor: a libmilter milter that accepts every message at its end,
/// registering nothing else.
const NOOP_MILTER: &str = r#"#include <libmilter/mfapi.h>
#include <sys/stat.h>

static sfsistat eom(SMFICTX *ctx) { (void)ctx; return SMFIS_ACCEPT; }

int main(int argc, char **argv) {
    struct smfiDesc desc = {
        .xxfi_name = "noop",
        .xxfi_version = SMFI_VERSION,
        .xxfi_eom = eom,
    };
    if (argc != 2) return 2;
    umask(0111); /* Postfix's smtpd connects as postfix */
    if (smfi_setconn(argv[1]) == MI_FAILURE) return 1;
    if (smfi_register(desc) == MI_FAILURE) return 1;
    if (smfi_opensocket(1) == MI_FAILURE) return 1;
    return smfi_main() == MI_SUCCESS ? 0 : 1;
}
"#;

/// Builds and starts [`NOOP_MILTER`] on `sock`.
fn start_noop_milter(dir: &Path, sock: &str) -> Result<Killed> {
    let src = dir.join("noop-milter.c");
    let exe = dir.join("noop-milter");
    std::fs::write(&src, NOOP_MILTER)?;
    status(
        Command::new("cc")
            .args(["-O2", "-o"])
            .arg(&exe)
            .arg(&src)
            .args(["-lmilter", "-lpthread"]),
    )
    .context("building the no-op milter (apt-get install libmilter-dev)")?;
    let child = Command::new(&exe)
        .arg(sock)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the no-op milter")?;
    let k = Killed(child);
    wait_for(sock, "the no-op milter")?;
    Ok(k)
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(addr: &str, what: &str) -> Result<()> {
    let t = Instant::now();
    loop {
        let up = match addr.strip_prefix("unix:") {
            Some(p) => std::os::unix::net::UnixStream::connect(p).is_ok(),
            None => {
                std::net::TcpStream::connect(addr.trim_start_matches("inet:"))
                    .is_ok()
            }
        };
        if up {
            return Ok(());
        }
        if t.elapsed() > Duration::from_secs(120) {
            bail!("{what} did not come up on {addr}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn start_nod32smfi(
    dir: &Path,
    module: &Path,
    sock: &str,
    extra: &str,
) -> Result<Killed> {
    let name = sock.rsplit(['/', ':']).next().unwrap_or("x").to_string();
    let cfg = dir.join(format!("smfi-{name}.toml"));
    let endpoint = match sock.strip_prefix("inet:") {
        Some(a) => {
            let (h, p) = a.rsplit_once(':').context("inet address")?;
            format!("inet:{p}@{h}")
        }
        None => sock.trim_start_matches("unix:").to_string(),
    };
    std::fs::write(
        &cfg,
        format!(
            "[global]\nmodule = \"{}\"\nuser = \"nobody\"\ngroup = \"nogroup\"\nlog_level = 2\n\
             [smfi]\nsmfi_sock_path = \"{endpoint}\"\nsmfi_sock_mode = \"0666\"\n{extra}",
            module.display()
        ),
    )?;
    let child = Command::new(root().join("target/release/nod32smfi"))
        .env(super::UNIT_ENV.0, super::UNIT_ENV.1)
        .arg("-f")
        .arg("-c")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting nod32smfi")?;
    let k = Killed(child);
    wait_for(sock, "nod32smfi")?;
    Ok(k)
}

fn start_clamav_milter(
    dir: &Path,
    clamd_conf: &Path,
    sock: &str,
) -> Result<Killed> {
    let name = if sock.starts_with("unix:") { "unix" } else { "tcp" };
    let cfg = dir.join(format!("clamav-milter-{name}.conf"));
    let clamd_sock = std::fs::read_to_string(clamd_conf)?
        .lines()
        .find_map(|l| l.strip_prefix("LocalSocket ").map(str::to_string))
        .context("clamd socket")?;
    let milter_sock = match sock.strip_prefix("inet:") {
        Some(a) => {
            let (h, p) = a.rsplit_once(':').context("inet address")?;
            format!("inet:{p}@{h}")
        }
        None => sock.to_string(),
    };
    std::fs::write(
        &cfg,
        format!(
            "MilterSocket {milter_sock}\nMilterSocketMode 666\nFixStaleSocket true\nUser root\n\
             Foreground true\nClamdSocket unix:{clamd_sock}\nOnClean Accept\nOnInfected Reject\n\
             OnFail Defer\nAddHeader Replace\nLogFile {}\nMaxFileSize 25M\nTemporaryDirectory /tmp\n",
            dir.join(format!("clamav-milter-{name}.log")).display()
        ),
    )?;
    let child = Command::new("/usr/sbin/clamav-milter")
        .arg("-c")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting clamav-milter")?;
    let k = Killed(child);
    wait_for(sock, "clamav-milter")?;
    Ok(k)
}

/// smtp-source: `n` messages of `len` bytes over 20 sessions; returns
/// messages per second.
fn source(listener: &str, n: usize, len: usize) -> Result<f64> {
    let t = Instant::now();
    let out = Command::new("/usr/sbin/smtp-source")
        .args(["-s", "20", "-m", &n.to_string(), "-l", &len.to_string()])
        .args([
            "-f",
            "nod32admin@localhost",
            "-t",
            "nod32user@localhost",
            listener,
        ])
        .output()
        .context("smtp-source")?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "smtp-source to {listener} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(n as f64 / secs)
}

/// clamav-milter is the peer (smtp-source fails on any non-2xx reply,
/// so a completed run means every message was taken).
fn ensure_peers() -> Result<()> {
    let missing: Vec<&str> = [
        ("/usr/sbin/clamav-milter", "clamav-milter"),
        ("/usr/include/libmilter/mfapi.h", "libmilter-dev"),
    ]
    .into_iter()
    .filter(|(p, _)| !Path::new(p).exists())
    .map(|(_, pkg)| pkg)
    .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !crate::is_root() {
        bail!(
            "this benchmark runs clamav-milter and a libmilter milter: apt-get install {}",
            missing.join(" ")
        );
    }
    status(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing),
    )
}

pub(crate) fn run(data: &Data, module: &Path) -> Result<()> {
    ensure_peers()?;
    let _postfix = crate::postfix::start()?;
    let dir: PathBuf = root().join("target/bench-data/smfi");
    std::fs::create_dir_all(&dir)?;
    // nobody must read the module.
    status(
        Command::new("chmod")
            .args(["-R", "a+rX"])
            .arg(root().join("target/bench-data")),
    )?;
    let (clamd, clamd_conf) = start_clamd(&dir, &data.db)?;
    let ours_unix = start_nod32smfi(&dir, module, LISTENERS[1].1, "")?;
    let ours_tcp = start_nod32smfi(&dir, module, LISTENERS[2].1, "")?;
    // The protocol alone: what any milter costs Postfix here.
    let _ours_noscan = start_nod32smfi(
        &dir,
        module,
        LISTENERS[5].1,
        "action_on_processed = \"accept\"\n",
    )?;
    let _noop = start_noop_milter(&dir, LISTENERS[6].1)?;
    let clam_unix = start_clamav_milter(&dir, &clamd_conf, LISTENERS[3].1)?;
    let _clam_tcp = start_clamav_milter(&dir, &clamd_conf, LISTENERS[4].1)?;

    let labels = [
        "no milter",
        "nod32smfi, unix socket",
        "nod32smfi, TCP",
        "clamav-milter + clamd, unix socket",
        "clamav-milter + clamd, TCP",
        "nod32smfi, scanning off (protocol only)",
        "libmilter no-op milter (the floor)",
    ];
    let mut rows = Vec::new();
    for (len, n) in [(1024usize, 2000usize), (102_400, 500)] {
        // Warm-up: every path once.
        for (l, _) in LISTENERS {
            source(l, 40, len)?;
        }
        // Three rounds, interleaved; the median of each.
        let mut all = vec![Vec::new(); LISTENERS.len()];
        for _ in 0..3 {
            for (i, (l, _)) in LISTENERS.iter().enumerate() {
                all[i].push(source(l, n, len)?);
            }
        }
        let rates: Vec<f64> = all
            .into_iter()
            .map(|mut v| {
                v.sort_by(f64::total_cmp);
                v[1]
            })
            .collect();
        rows.push((len, n, rates));
    }
    // Memory after all that mail, before anything stops.
    println!(
        "\n== Footprint after the runs above (goal: each of ours <= 8 MiB besides the mapped module; private memory in mapped files is page cache any process shares) =="
    );
    let ours =
        super::print_footprint("nod32smfi (unix socket)", ours_unix.0.id())?;
    super::print_footprint("nod32smfi (TCP)", ours_tcp.0.id())?;
    let peer = super::print_footprint(
        "clamav-milter (unix socket)",
        clam_unix.0.id(),
    )? + super::print_footprint(
        "clamd (holds clamav-milter's signatures)",
        clamd.0.id(),
    )?;
    println!(
        "  nod32smfi needs {:.0}% of the memory of clamav-milter + clamd",
        100.0 * ours as f64 / peer.max(1) as f64
    );
    drop(clamd);
    println!(
        "\n== Postfix throughput with each milter (smtp-source, 20 sessions, same run, same 1.1 M-signature database) =="
    );
    for (len, n, rates) in &rows {
        println!("{n} messages of {} KB:", len / 1024);
        for (label, r) in labels.iter().zip(rates) {
            println!(
                "  {label:<38} {r:>8.0} msg/s {:>6.0}% of no milter {:>6.0}% of the floor",
                100.0 * r / rates[0],
                100.0 * r / rates[6]
            );
        }
    }
    println!(
        "goal: nod32smfi >= 95% of no milter (clamav-milter reached about 55% on a unix socket, 30% over TCP here)"
    );
    Ok(())
}
