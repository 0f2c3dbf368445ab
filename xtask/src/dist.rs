//! `cargo xtask dist`: the release build, man pages and shell
//! completions rendered from the binaries' own clap definitions (the
//! same text as `--help`), nod32.toml(5) from the shipped, commented
//! configuration, the Debian package (cargo-deb) and a generic tarball
//! with an install script. Prints the installed footprint.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::CommandFactory;

use crate::{cargo, root, status};

// The binaries' command lines, compiled here from their own sources so
// that what the man page says is what the binary parses.
#[allow(dead_code)]
#[path = "../../crates/nod32cli/src/cli.rs"]
mod cli_nod32cli;
#[allow(dead_code)]
#[path = "../../crates/nod32mda/src/cli.rs"]
mod cli_nod32mda;
#[allow(dead_code)]
#[path = "../../crates/nod32smfi/src/cli.rs"]
mod cli_nod32smfi;
#[allow(dead_code)]
#[path = "../../crates/nod32smtp/src/cli.rs"]
mod cli_nod32smtp;
#[allow(dead_code)]
#[path = "../../crates/nod32upd/src/cli.rs"]
mod cli_nod32upd;

/// Each binary and its man section.
pub(crate) const BINARIES: &[(&str, &str)] = &[
    ("nod32cli", "1"),
    ("nod32mda", "1"),
    ("nod32smfi", "8"),
    ("nod32smtp", "8"),
    ("nod32upd", "8"),
];

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn command(name: &str) -> clap::Command {
    match name {
        "nod32cli" => cli_nod32cli::Cli::command(),
        "nod32mda" => cli_nod32mda::Cli::command(),
        "nod32smfi" => cli_nod32smfi::Cli::command(),
        "nod32smtp" => cli_nod32smtp::Cli::command(),
        "nod32upd" => cli_nod32upd::Cli::command(),
        _ => unreachable!("{name} is not one of ours"),
    }
}

pub(crate) fn run(args: &[String]) -> Result<()> {
    let root = root();
    let dist = root.join("target/dist");
    // The package ships the five as one multi-call executable
    // (crates/multicall): the engine, std and clap once instead of five
    // times.
    status(cargo().args(["build", "--release", "-p", "nod32-multicall"]))?;

    // Generated files sit with the build's output, where cargo-deb looks
    // for what is built (any other path under target/ it warns about).
    let gen_dir = root.join("target/release/gen");
    if gen_dir.exists() {
        std::fs::remove_dir_all(&gen_dir)?;
    }
    generate(&gen_dir)?;

    crate::ensure_cargo_tool("deb")?;
    let mut deb = cargo();
    deb.args([
        "deb",
        "-p",
        "nod32-multicall",
        "--no-build",
        "--output",
        dist.to_str().context("target path")?,
    ]);
    eprintln!("xtask: running {deb:?}");
    let out = deb.output().context("running cargo deb")?;
    let said = String::from_utf8_lossy(&out.stderr);
    eprint!("{said}");
    if !out.status.success() {
        bail!("cargo deb failed with {}", out.status);
    }
    // A warning from cargo-deb is a packaging mistake (an asset it did
    // not find where it was meant to be).
    if said.lines().any(|l| l.starts_with("warning:")) {
        bail!("cargo deb warned: fix the package metadata");
    }
    let deb = dist.join(format!("nod32_{VERSION}-1_amd64.deb"));
    if !deb.exists() {
        bail!("cargo deb did not write {}", deb.display());
    }
    let tarball = tarball(&root, &dist)?;
    if args.iter().any(|a| a == "--rpm") {
        rpm(&dist)?;
    }

    // The footprint, as the original's "5 MB of disk" was counted.
    let n = std::fs::metadata(root.join("target/release/nod32"))?.len();
    eprintln!(
        "xtask dist: the five binaries (one multi-call executable) {:.1} MiB stripped; goal <= 10 MiB",
        n as f64 / (1 << 20) as f64
    );
    let size = Command::new("dpkg-deb")
        .args(["-f", deb.to_str().unwrap(), "Installed-Size"])
        .output()
        .context("dpkg-deb")?;
    eprintln!(
        "xtask dist: {} (Installed-Size {} KiB)\nxtask dist: {}",
        deb.display(),
        String::from_utf8_lossy(&size.stdout).trim(),
        tarball.display()
    );
    Ok(())
}

/// The .rpm, with cargo-generate-rpm (installed on first use; it takes
/// minutes to build, so only `dist --rpm` asks for it).
fn rpm(dist: &Path) -> Result<()> {
    crate::ensure_cargo_tool("generate-rpm")?;
    status(cargo().args([
        "generate-rpm",
        "-p",
        "crates/multicall",
        "--auto-req",
        "builtin",
        "-o",
        dist.to_str().context("target path")?,
    ]))
}

/// Text whose lines in capitals ("EXIT STATUS") head sections, as roff:
/// each a `.SH` with its lines kept as written.
fn roff_sections(text: &str) -> String {
    let mut out = String::new();
    let mut open = false;
    for line in text.lines() {
        let heading = !line.trim().is_empty()
            && !line.starts_with(' ')
            && line.chars().all(|c| c.is_ascii_uppercase() || c == ' ');
        if heading {
            if open {
                out.push_str(".fi\n");
            }
            out.push_str(&format!(".SH \"{line}\"\n.nf\n"));
            open = true;
        } else if open {
            let l = line.replace('\\', "\\e");
            if l.starts_with('.') || l.starts_with('\'') {
                out.push_str("\\&");
            }
            out.push_str(&l);
            out.push('\n');
        }
    }
    if open {
        out.push_str(".fi\n");
    }
    out
}

/// Man pages into DIR/man, completions into DIR/{bash,zsh,fish}.
fn generate(dir: &Path) -> Result<()> {
    use clap_complete::Shell;
    for d in ["man", "bash", "zsh", "fish"] {
        std::fs::create_dir_all(dir.join(d))?;
    }
    for (name, section) in BINARIES {
        let cmd = command(name);
        let mut page = Vec::new();
        let man = clap_mangen::Man::new(cmd.clone())
            .section(*section)
            .source(format!("nod32 {VERSION}"))
            .manual("NOD32 for Linux Mail Servers");
        // clap_mangen puts after_long_help under one "EXTRA" heading;
        // its own headings (SIGNALS, EXIT STATUS, FILES, SEE ALSO) are
        // made sections of their own instead.
        man.render_title(&mut page)?;
        man.render_name_section(&mut page)?;
        man.render_synopsis_section(&mut page)?;
        man.render_description_section(&mut page)?;
        man.render_options_section(&mut page)?;
        if let Some(extra) = cmd.get_after_long_help() {
            page.extend_from_slice(
                roff_sections(&extra.to_string()).as_bytes(),
            );
        }
        man.render_version_section(&mut page)?;
        write_man(&dir.join(format!("man/{name}.{section}.gz")), &page)?;
        for (shell, sub, file) in [
            (Shell::Bash, "bash", name.to_string()),
            (Shell::Zsh, "zsh", format!("_{name}")),
            (Shell::Fish, "fish", format!("{name}.fish")),
        ] {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd.clone(), *name, &mut out);
            std::fs::write(dir.join(sub).join(file), out)?;
        }
    }
    let conf = std::fs::read_to_string(root().join("config/nod32.toml"))?;
    write_man(
        &dir.join("man/nod32.toml.5.gz"),
        config_man_page(&conf).as_bytes(),
    )?;
    Ok(())
}

/// A man page gzipped as Debian policy wants it (best compression, no
/// timestamp): cargo-deb compresses only pages it does not take for build
/// output, and these sit with the build's output.
fn write_man(path: &Path, page: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(std::fs::File::create(path)?, flate2::Compression::best());
    gz.write_all(page)?;
    gz.finish()?;
    Ok(())
}

/// roff text: backslashes and leading control characters made literal.
fn roff(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-").replace('"', "\\(dq");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// nod32.toml(5) from the shipped configuration: its opening comment is
/// the description, every key is listed with its default and the
/// comment above it, section by section.
pub(crate) fn config_man_page(conf: &str) -> String {
    let mut m = String::new();
    let _ = writeln!(
        m,
        ".TH NOD32.TOML 5 \"\" \"nod32 {VERSION}\" \"NOD32 for Linux Mail Servers\"\n\
         .SH NAME\nnod32.toml \\- configuration of the nod32 mail antivirus\n\
         .SH SYNOPSIS\n/etc/nod32/nod32.toml\n.SH DESCRIPTION"
    );
    // Comment lines waiting for what they describe, and a run of keys
    // that share the comment above them.
    let mut text: Vec<String> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    let mut key_text: Vec<String> = Vec::new();
    let mut in_keys = false;
    let flush = |m: &mut String,
                 text: &mut Vec<String>,
                 keys: &mut Vec<String>,
                 key_text: &mut Vec<String>| {
        for (i, k) in keys.iter().enumerate() {
            let _ =
                writeln!(m, "{}\n.B {k}", if i == 0 { ".TP" } else { ".TQ" });
        }
        if !keys.is_empty() {
            let _ = writeln!(m, "{}", key_text.join("\n"));
        }
        keys.clear();
        key_text.clear();
        if !text.is_empty() {
            let _ = writeln!(m, ".PP\n{}", text.join("\n"));
            text.clear();
        }
    };
    let mut lines = conf.lines().peekable();
    // The first line names the file; the synopsis says that already.
    if lines.peek().is_some_and(|l| l.starts_with("# /etc/nod32")) {
        lines.next();
    }
    for line in lines {
        let t = line.trim();
        if let Some(section) =
            t.strip_prefix('[').and_then(|s| s.strip_suffix(']'))
        {
            flush(&mut m, &mut text, &mut keys, &mut key_text);
            if !in_keys {
                let _ = writeln!(m, ".SH KEYS");
                in_keys = true;
            }
            let _ = writeln!(m, ".SS [{section}]");
            continue;
        }
        if t.is_empty() {
            flush(&mut m, &mut text, &mut keys, &mut key_text);
            continue;
        }
        let key = t.trim_start_matches('#').trim_start();
        let is_key = key.split_once(" = ").is_some_and(|(k, _)| {
            !k.is_empty()
                && k.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'
                })
        });
        if is_key && in_keys {
            if keys.is_empty() {
                key_text = std::mem::take(&mut text);
            } else if !text.is_empty() {
                flush(&mut m, &mut Vec::new(), &mut keys, &mut key_text);
                key_text = std::mem::take(&mut text);
            }
            let example = if t.starts_with('#') {
                " (an example; not set by default)"
            } else {
                ""
            };
            keys.push(format!("{}{example}", roff(key)));
            continue;
        }
        let Some(c) = t.strip_prefix('#') else { continue };
        let c = c.trim();
        if let Some(h) = c.strip_prefix("---") {
            flush(&mut m, &mut text, &mut keys, &mut key_text);
            let h = h.trim_matches(|c| c == '-' || c == ' ');
            let _ = writeln!(m, ".PP\n.I {}", roff(h));
        } else if !c.is_empty() {
            if !keys.is_empty() {
                flush(&mut m, &mut Vec::new(), &mut keys, &mut key_text);
            }
            // An indented line is a command: its own line.
            if line.trim_start_matches('#').starts_with("   ") {
                text.push(format!(".IP\n.B {}\n.PP", roff(c)));
            } else {
                text.push(roff(c));
            }
        }
    }
    flush(&mut m, &mut text, &mut keys, &mut key_text);
    let _ = writeln!(
        m,
        ".SH FILES\n/etc/nod32/nod32.toml, /etc/nod32/templates/, /etc/nod32/nod32.auth\n\
         .SH SEE ALSO\n.BR nod32cli (1),\n.BR nod32mda (1),\n.BR nod32smfi (8),\n\
         .BR nod32smtp (8),\n.BR nod32upd (8),\n/usr/share/doc/nod32/GUIDE.md"
    );
    m
}

/// A generic tarball: the package's tree under nod32-VERSION/ and an
/// install.sh that puts it in place and does what postinst does.
fn tarball(root: &Path, dist: &Path) -> Result<PathBuf> {
    let name = format!("nod32-{VERSION}-x86_64-linux");
    let stage = dist.join(&name);
    if stage.exists() {
        std::fs::remove_dir_all(&stage)?;
    }
    // The .deb's data is the reference layout: extract it.
    std::fs::create_dir_all(stage.join("root"))?;
    let deb = dist.join(format!("nod32_{VERSION}-1_amd64.deb"));
    status(
        Command::new("dpkg-deb").arg("-x").arg(&deb).arg(stage.join("root")),
    )?;
    std::fs::copy(
        root.join("packaging/install.sh"),
        stage.join("install.sh"),
    )?;
    let tgz = dist.join(format!("{name}.tar.gz"));
    status(
        Command::new("tar")
            .arg("-C")
            .arg(dist)
            .args(["--owner=0", "--group=0", "-czf"])
            .arg(&tgz)
            .arg(&name),
    )?;
    Ok(tgz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_page_lists_every_key_of_the_shipped_file() {
        let conf =
            std::fs::read_to_string(root().join("config/nod32.toml")).unwrap();
        let page = config_man_page(&conf);
        for l in
            conf.lines().filter(|l| !l.starts_with('#') && l.contains(" = "))
        {
            let key = l.split(" = ").next().unwrap();
            assert!(
                page.contains(&format!(".B {}", roff(key))),
                "{key} missing"
            );
        }
        assert!(page.contains(".SS [smfi]") && page.contains(".SH KEYS"));
    }
}
