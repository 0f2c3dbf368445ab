//! `cargo xtask bench count`: instructions per scan of the criterion
//! benchmark's two inputs (`crates/engine/examples/count.rs`), counted
//! by valgrind's cachegrind. On a shared machine two criterion runs of
//! the same binary can differ by 15%; instruction counts repeat to the
//! last digit, so a change's cost on the scan path shows even when
//! times cannot. `docs/BENCH.md` keeps the figures per commit.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, root, status};

/// Scans per count: the difference between N and 0 scans is the scans'
/// cost alone, the building of the database and inputs taken out.
const N: u64 = 3;

fn instructions(exe: &std::path::Path, input: &str, n: u64) -> Result<u64> {
    let out = Command::new("valgrind")
        .args([
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
        ])
        .arg(exe)
        .arg(input)
        .arg(n.to_string())
        .output()
        .context("valgrind: apt-get install valgrind")?;
    if !out.status.success() {
        bail!(
            "valgrind {input} {n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // "==PID== I   refs:      8,143,136,662"
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| {
            l.split_once("I   refs:").map(|(_, v)| v.trim().to_owned())
        })
        .map(|v| v.replace(',', ""))
        .context("no instruction count in valgrind's output")?
        .parse()
        .context("instruction count")
}

pub(crate) fn run() -> Result<()> {
    if Command::new("valgrind").arg("--version").output().is_err() {
        bail!("valgrind counts the instructions: apt-get install valgrind");
    }
    status(cargo().args([
        "build",
        "--release",
        "-p",
        "nod32-engine",
        "--example",
        "count",
    ]))?;
    let exe = root().join("target/release/examples/count");
    let rev = Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .current_dir(root())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    println!("instructions per scan at {rev} (cachegrind):");
    for (input, bytes) in [("binary", "1 MiB binary"), ("mail", "137 KB mail")]
    {
        let base = instructions(&exe, input, 0)?;
        let all = instructions(&exe, input, N)?;
        let per = all.saturating_sub(base) / N;
        println!("  scan {bytes}: {:.3} M", per as f64 / 1e6);
    }
    Ok(())
}
