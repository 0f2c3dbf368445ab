//! `cargo xtask bench`: nod32cli next to clamscan on one generated
//! database (100,000 body signatures with wildcards, 1,000,000 MD5 hashes)
//! and two generated mail corpora (≥200 MB of plain attachments; 400
//! mails whose attachments nest zip, tar.gz and zip), in the same run:
//! module load time, corpus throughput, peak memory, and their ratios;
//! then nod32mda's per-message time next to clamdscan and clamscan
//! (`mda.rs`; `cargo xtask bench mda` runs only that part), Postfix's
//! throughput with nod32smfi, clamav-milter or no milter (`smfi.rs`,
//! `cargo xtask bench smfi`), nod32smtp as Postfix's content filter
//! (`filter.rs`, `cargo xtask bench filter`) and its relay rate
//! (`smtp.rs`, `cargo xtask bench smtp`), each next to its floor, the
//! cheapest thing that could stand in its place (`cargo xtask bench
//! floors` runs those four). `cargo xtask bench count` counts the engine's instructions
//! per scan instead (`count.rs`).
//!
//! The data is generated once under `target/bench-data` (seeded, so every
//! run sees the same bytes).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use nod32_tests::Rng;

use crate::{cargo, root, status};

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

const NDB: usize = 100_000;
const HDB: usize = 1_000_000;
const MAILS: usize = 2_000;

mod count;
pub(crate) mod filter;
mod mda;
pub(crate) mod smfi;
mod smtp;

/// A process's private memory in KiB (Private_Clean + Private_Dirty of
/// every mapping; pages only this process has touched count), and how
/// much of it is file-backed and clean: the mapped module and the
/// executable's own text, which are page cache that every process
/// mapping them shares. The footprint goal is the first less the second.
pub(crate) fn private_kib(pid: u32) -> Result<(u64, u64)> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps"))
        .with_context(|| format!("reading /proc/{pid}/smaps"))?;
    let (mut all, mut file_clean, mut is_file) = (0, 0, false);
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or_default();
        if first.contains('-') && !first.ends_with(':') {
            // A mapping's header: its path is the sixth field.
            is_file = words.nth(4).is_some_and(|p| p.starts_with('/'));
        } else if first == "Private_Clean:" || first == "Private_Dirty:" {
            let kib: u64 =
                words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            all += kib;
            if is_file && first == "Private_Clean:" {
                file_clean += kib;
            }
        }
    }
    Ok((all, file_clean))
}

/// Environment of the agents as their systemd units run them.
pub(crate) const UNIT_ENV: (&str, &str) = ("MALLOC_ARENA_MAX", "2");

/// One line of the footprint table; returns the process's own memory.
pub(crate) fn print_footprint(label: &str, pid: u32) -> Result<u64> {
    let (all, file_clean) = private_kib(pid)?;
    let own = all - file_clean;
    println!(
        "  {label:<42} {:>7.1} MiB private, {:>7.1} MiB of it mapped files (module, text): {:>6.1} MiB its own",
        all as f64 / 1024.0,
        file_clean as f64 / 1024.0,
        own as f64 / 1024.0
    );
    Ok(own)
}

pub(crate) struct Data {
    pub(crate) db: PathBuf,
    pub(crate) corpus: PathBuf,
    empty: PathBuf,
    planted: usize,
}

fn generate(dir: &Path) -> Result<Data> {
    let db = dir.join("db");
    let corpus = dir.join("corpus");
    let empty = dir.join("empty.txt");
    let stamp = dir.join("complete-v2");
    let planted = MAILS / 20;
    if stamp.exists() {
        return Ok(Data { db, corpus, empty, planted });
    }
    eprintln!(
        "bench: generating {NDB} ndb + {HDB} hdb signatures and {MAILS} mails in {}",
        dir.display()
    );
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(&db)?;
    std::fs::create_dir_all(&corpus)?;
    std::fs::write(&empty, b"")?;
    let mut rng = Rng::new(7);
    // Patterns: 16 random bytes; every tenth with a wildcard form.
    let mut ndb = String::with_capacity(NDB * 60);
    let mut patterns = Vec::with_capacity(NDB);
    for i in 0..NDB {
        let mut p = [0u8; 16];
        rng.fill(&mut p);
        let (text, inst) = match i % 10 {
            0 => (format!("{}??{}", hex(&p[..8]), hex(&p[9..])), p.to_vec()),
            3 => (
                format!("{}{{2-4}}{}", hex(&p[..8]), hex(&p[8..])),
                [&p[..8], b"zz", &p[8..]].concat(),
            ),
            6 => (
                format!(
                    "{}({:02x}|{:02x}){}",
                    hex(&p[..7]),
                    p[7],
                    p[7] ^ 1,
                    hex(&p[8..])
                ),
                p.to_vec(),
            ),
            9 => (
                format!("{}*{}", hex(&p[..8]), hex(&p[8..])),
                [&p[..8], b"middle", &p[8..]].concat(),
            ),
            _ => (hex(&p), p.to_vec()),
        };
        ndb.push_str(&format!("Bench.Ndb.{i}:0:*:{text}\n"));
        patterns.push(inst);
    }
    std::fs::write(db.join("bench.ndb"), ndb)?;
    // Attachments are 100,000 bytes: hashes of that size make every
    // attachment hashed, as a real daily.cvd's size spread would often do.
    let mut hdb = String::with_capacity(HDB * 60);
    let mut planted_hash = Vec::new();
    for i in 0..HDB {
        let mut h = [0u8; 16];
        rng.fill(&mut h);
        let size = if i % 1000 == 0 {
            100_000
        } else {
            100 + rng.range(0, 10_000_000 - 1)
        };
        hdb.push_str(&format!("{}:{size}:Bench.Hdb.{i}\n", hex(&h)));
    }
    // Every 20th mail carries a planted body pattern (odd ones) or an
    // attachment whose hash is in the database (even ones).
    let mut att = vec![0u8; 100_000];
    for m in 0..MAILS {
        rng.fill(&mut att);
        if m % 40 == 10 {
            let p = &patterns[(rng.range(0, NDB as u64 - 1)) as usize];
            let at = 1000 + rng.range(0, 90_000 - 1) as usize;
            att[at..at + p.len()].copy_from_slice(p);
        } else if m % 40 == 30 {
            planted_hash.push(md5_hex(&att));
        }
        let mut mail = format!(
            "Received: from client{m}.example.org (client{m}.example.org [192.0.2.1])\r\n\tby mx.example.net with ESMTP id Q{m}\r\n\
             From: Sender {m} <sender{m}@example.org>\r\nTo: rcpt@example.net\r\nSubject: report {m}\r\n\
             Message-ID: <{m}@example.org>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"=_b{m}\"\r\n\r\n--=_b{m}\r\n\
             Content-Type: text/plain; charset=us-ascii\r\n\r\nPlease find the report attached.\r\nRegards\r\n\r\n--=_b{m}\r\n\
             Content-Type: application/octet-stream; name=\"report{m}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\
             Content-Disposition: attachment; filename=\"report{m}.bin\"\r\n\r\n"
        );
        mail.push_str(&nod32_tests::base64_lines(&att, "\r\n"));
        mail.push_str(&format!("\r\n--=_b{m}--\r\n"));
        std::fs::write(corpus.join(format!("m{m:05}.eml")), mail)?;
    }
    for (j, h) in planted_hash.iter().enumerate() {
        hdb.push_str(&format!("{h}:100000:Bench.Planted.{j}\n"));
    }
    std::fs::write(db.join("bench.hdb"), hdb)?;
    std::fs::write(&stamp, b"")?;
    Ok(Data { db, corpus, empty, planted })
}

/// Mails whose attachment nests archives four deep (zip > tar.gz > zip >
/// member, as a real "project files" attachment would), every tenth with
/// one of the database's body patterns planted in the innermost member.
/// Returns the corpus directory and the number planted.
const NESTED: usize = 400;

fn nested_corpus(dir: &Path) -> Result<(PathBuf, usize)> {
    let out = dir.join("nested");
    let stamp = dir.join("nested-v1");
    let planted = NESTED / 10;
    if stamp.exists() {
        return Ok((out, planted));
    }
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out)?;
    // Plain (wildcard-free) patterns of the generated database.
    let ndb = std::fs::read_to_string(dir.join("db/bench.ndb"))?;
    let patterns: Vec<Vec<u8>> = ndb
        .lines()
        .take(5000)
        .filter_map(|l| l.rsplit(':').next())
        .filter(|h| h.len() == 32 && h.bytes().all(|c| c.is_ascii_hexdigit()))
        .map(|h| {
            (0..16)
                .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
                .collect()
        })
        .collect();
    let mut rng = Rng::new(11);
    let zip_of = |files: &[(&str, &[u8])]| -> Result<Vec<u8>> {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data) in files {
            z.start_file(
                *name,
                zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated),
            )?;
            z.write_all(data)?;
        }
        Ok(z.finish()?.into_inner())
    };
    for m in 0..NESTED {
        let mut payload = rng.bytes(30_000);
        // Text compresses as real documents do; random bytes do not.
        let notes = format!("build notes for item {m}\n").repeat(400);
        if m % 10 == 5 {
            let p =
                &patterns[rng.range(0, patterns.len() as u64 - 1) as usize];
            let at = rng.range(100, 29_000) as usize;
            payload[at..at + p.len()].copy_from_slice(p);
        }
        let inner = zip_of(&[
            ("payload.bin", &payload),
            ("notes.txt", notes.as_bytes()),
        ])?;
        let mut tar = tar::Builder::new(Vec::new());
        for (name, data) in
            [("inner.zip", &inner[..]), ("readme.txt", notes.as_bytes())]
        {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, name, data)?;
        }
        let mut gz = flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        );
        gz.write_all(&tar.into_inner()?)?;
        let tgz = gz.finish()?;
        let outer = zip_of(&[
            ("bundle.tar.gz", &tgz),
            ("cover.txt", b"see bundle\n"),
        ])?;
        let mut mail = format!(
            "From: Builder {m} <build{m}@example.org>\r\nTo: team@example.net\r\nSubject: build {m}\r\n\
             Message-ID: <n{m}@example.org>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"=_n{m}\"\r\n\r\n--=_n{m}\r\n\
             Content-Type: text/plain\r\n\r\nThe build is attached.\r\n\r\n--=_n{m}\r\n\
             Content-Type: application/zip; name=\"build{m}.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        );
        mail.push_str(&nod32_tests::base64_lines(&outer, "\r\n"));
        mail.push_str(&format!("\r\n--=_n{m}--\r\n"));
        std::fs::write(out.join(format!("n{m:04}.eml")), mail)?;
    }
    std::fs::write(&stamp, b"")?;
    Ok((out, planted))
}

/// The nested-archive corpus, nod32cli next to clamscan; `Err` when
/// their detections differ from each other or from what was planted.
fn nested_run(
    cli: &Path,
    clamscan: &Path,
    module: &Path,
    db: &Path,
) -> Result<Result<()>> {
    // Nested archives: every attachment unpacked four levels deep.
    let (nested, nested_planted) =
        nested_corpus(&root().join("target/bench-data"))?;
    let nested_mb = std::fs::read_dir(&nested)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum::<u64>() as f64
        / 1e6;
    let scan_nested = |threads: Option<&str>| {
        let mut c = Command::new(cli);
        c.args(["--format", "clamscan", "--no-summary", "-i", "--db"])
            .arg(module);
        if let Some(t) = threads {
            c.args(["--threads", t]);
        }
        measure(c.arg(&nested))
    };
    scan_nested(None)?;
    let n1 = scan_nested(Some("1"))?;
    let nall = scan_nested(None)?;
    let ntheirs = measure(
        Command::new(clamscan)
            .args(["--no-summary", "-i", "-d"])
            .arg(db)
            .arg(&nested),
    )?;
    println!(
        "\nnested corpus: {NESTED} mails, {nested_mb:.1} MB, each a zip > tar.gz > zip > member; {nested_planted} planted"
    );
    rate_rows(
        "nested ",
        nested_mb,
        [("1 thread", &n1), ("all cores", &nall)],
        &ntheirs,
    );
    println!(
        "{:<40} {:>12} {:>12}",
        "nested: infected mails reported", nall.infected, ntheirs.infected
    );
    Ok(
        if nall.infected != ntheirs.infected || nall.infected != nested_planted
        {
            Err(anyhow::anyhow!(
                "nested detections differ: nod32cli {}, clamscan {}, planted {}",
                nall.infected,
                ntheirs.infected,
                nested_planted
            ))
        } else {
            Ok(())
        },
    )
}

fn md5_hex(d: &[u8]) -> String {
    let mut c = Command::new("md5sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("md5sum");
    c.stdin.take().expect("stdin").write_all(d).expect("write");
    let o = c.wait_with_output().expect("md5sum");
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

struct Run {
    wall: Duration,
    peak_rss_kb: u64,
    peak_anon_kb: u64,
    infected: usize,
}

fn kb(status: &str, key: &str) -> u64 {
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Runs a command to completion, sampling its memory from /proc on a
/// second thread so that the wall time is not rounded to the sampling
/// period.
fn measure(cmd: &mut Command) -> Result<Run> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let t = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("{cmd:?}"))?;
    let pid = child.id();
    let out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || -> String {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut { out }, &mut s);
        s
    });
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let (mut rss, mut anon) = (0, 0);
            while !done.load(Ordering::Relaxed) {
                if let Ok(st) =
                    std::fs::read_to_string(format!("/proc/{pid}/status"))
                {
                    rss = rss.max(kb(&st, "VmHWM:"));
                    // Private memory besides mapped files: anonymous pages.
                    anon = anon.max(kb(&st, "RssAnon:"));
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            (rss, anon)
        })
    };
    child.wait()?;
    let wall = t.elapsed();
    done.store(true, Ordering::Relaxed);
    let (rss, anon) = sampler.join().unwrap_or((0, 0));
    let stdout = reader.join().unwrap_or_default();
    let infected = stdout.lines().filter(|l| l.ends_with(" FOUND")).count();
    Ok(Run { wall, peak_rss_kb: rss, peak_anon_kb: anon, infected })
}

/// One line of the comparison table: ours, theirs, and their ratio.
fn row(label: &str, ours: String, theirs: String, ratio: f64) {
    println!("{label:<40} {ours:>12} {theirs:>12} {ratio:>7.1}x");
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Wall time and throughput over a corpus of `mb` MB, for each of our
/// runs next to clamscan's.
fn rate_rows(prefix: &str, mb: f64, ours: [(&str, &Run); 2], theirs: &Run) {
    let rate = |r: &Run| mb / secs(r.wall);
    let what = if prefix.is_empty() { "corpus " } else { prefix };
    for (label, r) in ours {
        row(
            &format!("{what}wall time, {label}"),
            format!("{:.2?}", r.wall),
            format!("{:.2?}", theirs.wall),
            secs(theirs.wall) / secs(r.wall),
        );
        row(
            &format!("{prefix}throughput MB/s, {label}"),
            format!("{:.1}", rate(r)),
            format!("{:.2}", rate(theirs)),
            rate(r) / rate(theirs),
        );
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// `cargo xtask bench [mda]`: everything, or only nod32mda's
/// per-message time.
pub(crate) fn run(args: &[String]) -> Result<()> {
    if args.first().map(String::as_str) == Some("count") {
        return count::run();
    }
    let clamscan = Path::new("/usr/bin/clamscan");
    if !clamscan.exists() {
        bail!(
            "clamscan is the peer of this benchmark: apt-get install clamav"
        );
    }
    status(cargo().args([
        "build",
        "--release",
        "-p",
        "nod32cli",
        "-p",
        "nod32mda",
        "-p",
        "nod32smfi",
        "-p",
        "nod32smtp",
    ]))?;
    let cli = root().join("target/release/nod32cli");
    let data = generate(&root().join("target/bench-data"))?;
    let module = root().join("target/bench-data/nod32.000");

    let t = Instant::now();
    status(
        Command::new(&cli).arg("compile").arg(&data.db).arg("-o").arg(&module),
    )?;
    let compile_time = t.elapsed();
    let module_size = std::fs::metadata(&module)?.len();
    match args.first().map(String::as_str) {
        Some("mda") => return mda::run(&data, &module),
        Some("smfi") => return smfi::run(&data, &module),
        Some("smtp") => return smtp::run(&module),
        // Each integration next to the cheapest thing that could stand in
        // its place, measured in the same run.
        Some("filter") => return filter::run(&module),
        Some("floors") => {
            mda::run(&data, &module)?;
            smfi::run(&data, &module)?;
            filter::run(&module)?;
            return smtp::run(&module);
        }
        Some("nested") => {
            return nested_run(&cli, clamscan, &module, &data.db)?;
        }
        _ => {}
    }

    // Module load: in-process open (what every binary does per start),
    // and a whole process scanning an empty file, next to clamscan's.
    let mut opens = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        let db = nod32_engine::Database::open(&module)?;
        opens.push(t.elapsed());
        drop(db);
    }
    let open = median(opens);
    let mut ours_start = Vec::new();
    for _ in 0..20 {
        ours_start.push(
            measure(
                Command::new(&cli)
                    .arg("--db")
                    .arg(&module)
                    .arg("--no-summary")
                    .arg(&data.empty),
            )?
            .wall,
        );
    }
    let mut theirs_start = Vec::new();
    for _ in 0..3 {
        theirs_start.push(
            measure(
                Command::new(clamscan)
                    .arg("--no-summary")
                    .arg("-d")
                    .arg(&data.db)
                    .arg(&data.empty),
            )?
            .wall,
        );
    }
    let (ours_start, theirs_start) =
        (median(ours_start), median(theirs_start));

    // Warm the page cache with the corpus and the module, so that no run
    // pays for the disk and every run sees the same state.
    measure(
        Command::new(&cli)
            .args(["--no-summary", "-i", "--db"])
            .arg(&module)
            .arg(&data.corpus),
    )?;
    let corpus_bytes: u64 = std::fs::read_dir(&data.corpus)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let mb = corpus_bytes as f64 / 1e6;
    let ours1 = measure(
        Command::new(&cli)
            .args([
                "--format",
                "clamscan",
                "--no-summary",
                "-i",
                "--threads",
                "1",
                "--db",
            ])
            .arg(&module)
            .arg(&data.corpus),
    )?;
    let ours = measure(
        Command::new(&cli)
            .args(["--format", "clamscan", "--no-summary", "-i", "--db"])
            .arg(&module)
            .arg(&data.corpus),
    )?;
    let theirs = measure(
        Command::new(clamscan)
            .args(["--no-summary", "-i", "-d"])
            .arg(&data.db)
            .arg(&data.corpus),
    )?;

    println!(
        "\n== cargo xtask bench (same run, same database, same corpus) =="
    );
    println!(
        "database: {NDB} ndb (10% with wildcards) + {HDB} hdb; module {:.1} MB, compiled in {:.2?}",
        module_size as f64 / 1e6,
        compile_time
    );
    println!(
        "corpus: {MAILS} mails, {mb:.1} MB; {} carry a planted signature",
        data.planted
    );
    println!(
        "{:<40} {:>12} {:>12} {:>8}",
        "", "nod32cli", "clamscan", "ratio"
    );
    row(
        "module load, whole process (empty file)",
        format!("{ours_start:.1?}"),
        format!("{theirs_start:.2?}"),
        secs(theirs_start) / secs(ours_start),
    );
    println!(
        "{:<40} {:>12} {:>12}",
        "module open in process (median)",
        format!("{open:.1?}"),
        "-"
    );
    rate_rows("", mb, [("1 thread", &ours1), ("all cores", &ours)], &theirs);
    let to_mb = |kb: u64| kb as f64 / 1024.0;
    row(
        "peak RSS (MB)",
        format!("{:.1}", to_mb(ours.peak_rss_kb)),
        format!("{:.1}", to_mb(theirs.peak_rss_kb)),
        to_mb(theirs.peak_rss_kb) / to_mb(ours.peak_rss_kb.max(1)),
    );
    row(
        "private memory, anonymous (MB)",
        format!("{:.1}", to_mb(ours.peak_anon_kb)),
        format!("{:.1}", to_mb(theirs.peak_anon_kb)),
        to_mb(theirs.peak_anon_kb) / to_mb(ours.peak_anon_kb.max(1)),
    );
    println!(
        "{:<40} {:>12} {:>12}",
        "infected mails reported", ours.infected, theirs.infected
    );
    println!(
        "goals: load <= 5 ms, throughput >= 200x clamscan, private memory <= 8 MB besides the module"
    );

    let nested = nested_run(&cli, clamscan, &module, &data.db)?;

    // The engine alone, in process (criterion), for profiling.
    status(cargo().args([
        "bench",
        "-p",
        "nod32-engine",
        "--bench",
        "engine",
        "--",
        "--warm-up-time",
        "1",
        "--measurement-time",
        "4",
    ]))?;
    mda::run(&data, &module)?;
    smfi::run(&data, &module)?;
    smtp::run(&module)?;
    nested?;
    if ours.infected != theirs.infected || ours.infected != data.planted {
        bail!(
            "detections differ: nod32cli {}, clamscan {}, planted {}",
            ours.infected,
            theirs.infected,
            data.planted
        );
    }
    Ok(())
}
