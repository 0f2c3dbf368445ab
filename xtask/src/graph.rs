//! `cargo xtask graph`: which workspace crate depends on which (normal
//! dependencies), read from `cargo tree`, so that anyone can check that
//! the engine is at the bottom and the binaries on top.

use std::collections::BTreeMap;

use anyhow::{Result, bail};

use crate::cargo;

/// Each workspace crate with the workspace crates it depends on.
pub(crate) fn workspace() -> Result<BTreeMap<String, Vec<String>>> {
    let out = cargo()
        .args([
            "tree",
            "--workspace",
            "--edges",
            "normal",
            "--depth",
            "1",
            "--prefix",
            "depth",
            "--no-dedupe",
        ])
        .output()?;
    if !out.status.success() {
        bail!("cargo tree: {}", String::from_utf8_lossy(&out.stderr));
    }
    let root = crate::root();
    let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // `0name vX.Y.Z (/path)`: a path inside the workspace marks one
        // of its crates.
        let local = line.contains(&format!("({}", root.display()));
        let (depth, rest) = line
            .split_at(line.find(|c: char| !c.is_ascii_digit()).unwrap_or(0));
        let name =
            rest.split_whitespace().next().unwrap_or_default().to_string();
        match depth {
            "0" => {
                graph.entry(name.clone()).or_default();
                current = Some(name);
            }
            "1" if local => {
                if let Some(c) = &current {
                    graph.entry(c.clone()).or_default().push(name);
                }
            }
            _ => {}
        }
    }
    Ok(graph)
}

pub(crate) fn print() -> Result<()> {
    for (krate, deps) in workspace()? {
        println!(
            "{krate} -> {}",
            if deps.is_empty() { "(none)".into() } else { deps.join(", ") }
        );
    }
    Ok(())
}
