//! nod32smtp's throughput: smtp-source (20 sessions) → nod32smtp →
//! smtp-sink, next to smtp-source → smtp-sink directly and through
//! HAProxy in TCP mode (the floor: the cheapest relay that stands where
//! the proxy stands, copying bytes and reading none), in the same run,
//! with the 1.1 M-signature module.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::root;

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_port(addr: &str) -> Result<()> {
    let t = Instant::now();
    while std::net::TcpStream::connect(addr).is_err() {
        if t.elapsed() > Duration::from_secs(60) {
            bail!("nothing listening on {addr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn source(to: &str, n: usize, len: usize) -> Result<f64> {
    let t = Instant::now();
    let out = Command::new("/usr/sbin/smtp-source")
        .args(["-s", "20", "-m", &n.to_string(), "-l", &len.to_string()])
        .args(["-f", "a@example.org", "-t", "b@example.org", to])
        .output()
        .context("smtp-source")?;
    if !out.status.success() {
        bail!("smtp-source to {to}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

pub(crate) fn run(module: &Path) -> Result<()> {
    let dir = root().join("target/bench-data/smtp");
    std::fs::create_dir_all(&dir)?;
    let sink = Killed(
        Command::new("/usr/sbin/smtp-sink")
            .args(["-c", "-u", "nobody", "127.0.0.1:2599", "256"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("smtp-sink (package postfix)")?,
    );
    wait_port("127.0.0.1:2599")?;
    let cfg = dir.join("nod32.toml");
    std::fs::write(
        &cfg,
        format!(
            "[global]\nmodule = \"{}\"\nuser = \"nobody\"\ngroup = \"nogroup\"\nlog_level = 2\n\
             [smtp]\nlisten_port = 2598\nserver_port = 2599\n",
            module.display()
        ),
    )?;
    let proxy = Killed(
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
    wait_port("127.0.0.1:2598")?;
    let haproxy = haproxy(&dir)?;
    wait_port("127.0.0.1:2597")?;
    let mut rows = Vec::new();
    for (len, n) in [(1024usize, 2000usize), (102_400, 500)] {
        for to in ["127.0.0.1:2599", "127.0.0.1:2597", "127.0.0.1:2598"] {
            source(to, 40, len)?;
        }
        let (mut direct, mut floor, mut ours) =
            (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..3 {
            direct.push(source("127.0.0.1:2599", n, len)?);
            floor.push(source("127.0.0.1:2597", n, len)?);
            ours.push(source("127.0.0.1:2598", n, len)?);
        }
        for v in [&mut direct, &mut floor, &mut ours] {
            v.sort_by(f64::total_cmp);
        }
        rows.push((len, n, direct[1], floor[1], ours[1]));
    }
    drop(haproxy);
    println!(
        "\n== nod32smtp footprint after the runs below (goal: <= 8 MiB besides the mapped module) =="
    );
    super::print_footprint("nod32smtp", proxy.0.id())?;
    drop(proxy);
    drop(sink);
    println!(
        "\n== nod32smtp throughput (smtp-source, 20 sessions, median of 3 interleaved rounds, 1.1 M-signature module) =="
    );
    for (len, n, direct, floor, ours) in rows {
        println!(
            "{n} messages of {} KB: smtp-sink directly {direct:.0} msg/s, through HAProxy (TCP) {floor:.0}, through nod32smtp {ours:.0}: {:.0}% of the HAProxy floor ({:.0}% of direct)",
            len / 1024,
            100.0 * ours / floor,
            100.0 * ours / direct
        );
    }
    println!("goal: >= 90% of the HAProxy floor at 1 KB and at 100 KB");
    Ok(())
}

/// HAProxy relaying 127.0.0.1:2597 to smtp-sink in TCP mode, as a
/// plain TCP relay in front of an MX would be set up.
fn haproxy(dir: &Path) -> Result<Killed> {
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(
        &cfg,
        "global\n  maxconn 256\n\
         defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n\
         listen relay\n  bind 127.0.0.1:2597\n  server sink 127.0.0.1:2599\n",
    )?;
    let child = Command::new("/usr/sbin/haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("haproxy is the relay floor: apt-get install haproxy")?;
    Ok(Killed(child))
}
