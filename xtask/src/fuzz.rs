//! The fuzz tasks: a short smoke run of every target (part of `test`),
//! long runs added to the ledger in `docs/`, and the table made from it.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{ensure_cargo_tool, root, run_quiet, status};

/// A milter conversation as Postfix 3.7 starts it, to seed the fuzzer.
fn milter_conversation() -> Vec<u8> {
    let mut v = Vec::new();
    let mut p = |code: u8, data: &[u8]| {
        v.extend_from_slice(&((data.len() + 1) as u32).to_be_bytes());
        v.push(code);
        v.extend_from_slice(data);
    };
    p(b'O', &[0, 0, 0, 6, 0, 0, 1, 0xff, 0, 0x1f, 0xff, 0xff]);
    p(b'D', b"Cj\0localhost\0{daemon_name}\0localhost\0");
    p(b'C', b"localhost\x004\x30\x39127.0.0.1\0");
    p(b'M', b"<a@example.org>\0SIZE=100\0");
    p(b'R', b"<b@example.org>\0");
    p(b'D', b"Ni\0ABCDEF\0");
    p(b'L', b"Subject\0 hello\n there\0");
    p(b'L', b"Content-Type\0 multipart/mixed; boundary=\"z\"\0");
    p(b'N', b"");
    p(b'B', b"--z\r\nContent-Type: text/plain\r\n\r\nhi\r\n--z--\r\n");
    p(b'E', b"");
    p(b'A', b"");
    p(b'K', b"");
    p(b'Q', b"");
    v
}

pub(crate) fn smoke(args: &[String]) -> Result<()> {
    let secs: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(20);
    fuzz(secs, &[], false)
}

/// Long runs that add up over sessions: each run's seconds and the
/// corpus it left go to a ledger in `docs/`, summed per target by
/// docs/FUZZING.md's table.
pub(crate) fn long(args: &[String]) -> Result<()> {
    let Some(secs) = args.first().and_then(|s| s.parse().ok()) else {
        bail!("usage: cargo xtask fuzz SECS [TARGET..]");
    };
    fuzz(secs, &args[1..], true)
}

fn fuzz(secs: u64, only: &[String], ledger: bool) -> Result<()> {
    ensure_cargo_tool("fuzz")?;
    let dir = root().join("fuzz");
    let list = Command::new("cargo")
        .args(["fuzz", "list"])
        .current_dir(&dir)
        .output()?;
    let targets = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(str::to_string)
        .collect::<Vec<_>>();
    if targets.is_empty() {
        bail!("no fuzz targets found in {}", dir.display());
    }
    if let Some(t) = only.iter().find(|t| !targets.contains(t)) {
        bail!("no fuzz target {t}: {}", targets.join(" "));
    }
    for t in targets {
        if !only.is_empty() && !only.contains(&t) {
            continue;
        }
        // Seed the corpora with real containers so the fuzzer starts deep.
        let corpus = dir.join("corpus").join(&t);
        std::fs::create_dir_all(&corpus)?;
        if t == "scan" {
            for f in [
                "clam.mail",
                "clam.zip",
                "clam.tar.gz",
                "clam.exe.mbox.uu",
                "clam.exe.mbox.base64",
                "clam.exe.bz2",
            ] {
                let src = Path::new("/usr/share/clamav-testfiles").join(f);
                if src.exists() {
                    std::fs::copy(&src, corpus.join(f))?;
                }
            }
        }
        // The unpacker targets take what follows the format's magic.
        for (target, file, after) in [
            ("szdd", "clam.exe.szdd", 10),
            ("cpio", "clam.newc.cpio", 6),
            ("binhex", "clam.exe.binhex", 0),
            ("sevenz", "clam.7z", 6),
            ("cab", "clam.cab", 8),
            ("tnef", "clam.tnef", 6),
            ("ole2", "clam.ppt", 8),
            ("ole2", "clam.ole.doc", 8),
            ("rtf", "clam.exe.rtf", 6),
            ("pdf", "clam.pdf", 5),
            ("arj", "clam.arj", 2),
            ("sis", "clam.sis", 12),
            ("pe", "clam.exe", 2),
            ("pe", "clam-upx.exe", 2),
            ("pe", "clam-mew.exe", 2),
            ("upx", "clam-upx.exe", 2),
            // Executables with icon groups, for the icon reader.
            ("pe", "clam-nsis.exe", 2),
            ("pe", "clam.ea05.exe", 2),
            ("zip", "clam.zip", 4),
            ("zip", "clam.d64.zip", 4),
            ("zip", "clam.impl.zip", 4),
            ("gzip", "clam.tar.gz", 4),
            ("bzip2", "clam.exe.bz2", 4),
            ("uu", "clam.exe.mbox.uu", 0),
            ("mail", "clam.mail", 0),
        ] {
            if t != target {
                continue;
            }
            let src = Path::new("/usr/share/clamav-testfiles").join(file);
            let data = std::fs::read(&src)
                .with_context(|| format!("seeding from {}", src.display()))?;
            let from = if target == "binhex" {
                data.iter().position(|&b| b == b':').map_or(0, |p| p + 1)
            } else {
                after
            };
            std::fs::write(corpus.join(file), &data[from.min(data.len())..])?;
        }
        // Seeds kept in the tree where clamav-testfiles has none: made by
        // the real tools (jlha's LHA archives, genisoimage's ISO without
        // its system area, OneNote objects written by hand, InstallShield
        // overlays by the tests' writer) or with test certificates (Authenticode
        // signatures and a catalog the target's rules trust).
        let seeds = dir.join("seeds").join(&t);
        if seeds.is_dir() {
            for e in std::fs::read_dir(&seeds)? {
                let e = e?;
                std::fs::copy(e.path(), corpus.join(e.file_name()))?;
            }
        }
        if t == "phish" {
            // Link shapes the check treats differently, to start from.
            for (i, page) in [
                "<a href=\"http://evil.example/x\">http://www.paypal.com/</a>",
                "<a href=\"http://www.paypal.com%00@evil.example/\" title=\"x\">Log in at www.<b>paypal</b>.com</a>",
                "<form action=\"http://a.b.co.uk/\"><a href=\"https://www.paypal.com/\"><img src=\"http://malware-test.example.com/x\"></a></form>",
                "visit http://malware-test.example.com/a/../b?c=%2541 now",
            ]
            .iter()
            .enumerate()
            {
                std::fs::write(corpus.join(format!("seed{i}.html")), page)?;
            }
        }
        if t == "rar" {
            // No RAR in clamav-testfiles: one archive per family, made by
            // rars's writer, after the 6-byte magic the target adds.
            for (name, v) in [
                ("rar29", rars::ArchiveVersion::Rar29),
                ("rar50", rars::ArchiveVersion::Rar50),
            ] {
                let mut b = rars::builder::Builder::new(v).solid(true);
                b.add_bytes(
                    b"a.txt".to_vec(),
                    b"seed text\n".repeat(50),
                    None,
                    None,
                )?;
                b.add_bytes(
                    b"b.bin".to_vec(),
                    (0..=255u8).collect(),
                    None,
                    None,
                )?;
                let bytes = b.to_bytes()?;
                std::fs::write(
                    corpus.join(name),
                    &bytes[6.min(bytes.len())..],
                )?;
            }
        }
        if t == "mail_edit" {
            for f in ["clean.eml", "marked.eml"] {
                let src = root().join("tests/data/samples").join(f);
                std::fs::copy(&src, corpus.join(f))
                    .with_context(|| format!("seeding {}", src.display()))?;
            }
            let src = Path::new("/usr/share/clamav-testfiles/clam.mail");
            if src.exists() {
                std::fs::copy(src, corpus.join("clam.mail"))?;
            }
        }
        if t == "milter" {
            std::fs::write(corpus.join("postfix"), milter_conversation())?;
        }
        if t == "mime" {
            // The evasion test's malformed-MIME mutants.
            let pairs =
                nod32_tests::mutants::pairs(1, 300, &nod32_tests::eicar());
            for (i, (m, _)) in pairs.iter().enumerate() {
                std::fs::write(
                    corpus.join(format!("mutant{i:03}")),
                    &m.bytes,
                )?;
            }
        }
        if t == "smtp" {
            std::fs::write(
                corpus.join("session"),
                b"EHLO client.example\r\nMAIL FROM:<a@b> SIZE=10 BODY=8BITMIME\r\n\
                  RCPT TO:<c@d> NOTIFY=NEVER\r\nDATA\r\nSubject: x\r\n\r\n\
                  ..stuffed\r\n.\r\nQUIT\r\n",
            )?;
            std::fs::write(
                corpus.join("replies"),
                b"220 mx ESMTP\r\n250-mx\r\n250-PIPELINING\r\n250 SIZE 1000\r\n",
            )?;
        }
        if t == "smtp_session" {
            std::fs::write(
                corpus.join("data"),
                b"EHLO client.example\r\nXFORWARD NAME=c.example ADDR=192.0.2.1\r\n\
                  MAIL FROM:<a@b> SIZE=10\r\nRCPT TO:<c@d>\r\nDATA\r\n\
                  Subject: x\r\n\r\n..stuffed\r\nbare\rcr\r\n.\r\nRSET\r\nQUIT\r\n",
            )?;
            std::fs::write(
                corpus.join("bdat"),
                b"EHLO client.example\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n\
                  BDAT 12\r\nSubject: x\r\nBDAT 7 LAST\r\n\r\nbody\rQUIT\r\n",
            )?;
            std::fs::write(
                corpus.join("eicar"),
                [
                    &b"HELO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n\r\n"[..],
                    &nod32_tests::eicar(),
                    b"\r\n.\r\nQUIT\r\n",
                ]
                .concat(),
            )?;
        }
        if t == "upd" {
            let mut cvd = b"ClamAV-VDB:28 Nov 2026 23-46 +0000:5:2:216:\
                c4ff4554d52f334430e62a091c11533e:dKq3bFz9:nod32test:1795909582"
                .to_vec();
            cvd.resize(512, b' ');
            cvd.extend_from_slice(b"COPYING\0");
            std::fs::write(corpus.join("cvd"), cvd)?;
            std::fs::write(
                corpus.join("script"),
                b"OPEN daily.ndb\nXCHG 1 A C:0:*:43\nDEL 2 B\nADD D:0:*:44\nCLOSE\n\
                  MOVE daily.ndb daily.hdb 1 C 1 C\nUNLINK daily.hdb\n",
            )?;
            std::fs::write(
                corpus.join("netrc"),
                b"machine mirror.example login u password p\ndefault login d\n",
            )?;
        }
        if t == "signatures" {
            std::fs::write(
                corpus.join("ndb"),
                b"\x00A:0:*:41424344??(45|46){2-4}4748*494a\n",
            )?;
            std::fs::write(corpus.join("ldb"), b"\x01L;Engine:81-255,Target:0;(0|1)>1,2&2;41414141::iw;4242(43|44)45;10:46464646::f\n")?;
            std::fs::write(
                corpus.join("hdb"),
                b"\x0244d88612fea8a8f36de82e1278abb02f:68:E\n",
            )?;
        }
        // The lenient MIME walk promises bounded time and memory on any
        // input: an input that takes longer or more is a failure.
        let bounds: &[&str] = if t == "mime" {
            &["-timeout=10", "-rss_limit_mb=512"]
        } else {
            &[]
        };
        status(
            Command::new("cargo")
                .current_dir(&dir)
                .args(["fuzz", "run", "--sanitizer", "none", &t])
                .arg(&corpus)
                .arg("--")
                .arg(format!("-max_total_time={secs}"))
                .args(bounds),
        )?;
        if ledger {
            let files = std::fs::read_dir(&corpus)?.count();
            let date = run_quiet(Command::new("date").args(["-u", "+%F"]))?;
            let date = String::from_utf8_lossy(&date.stdout);
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(root().join("docs/fuzz-ledger.tsv"))?;
            use std::io::Write;
            writeln!(f, "{}\t{t}\t{secs}\t{files}", date.trim())?;
            drop(f);
            table()?;
        }
    }
    Ok(())
}

/// Sums docs/fuzz-ledger.tsv per target into the table between the
/// markers of docs/FUZZING.md: every target, its runs, total time and
/// the corpus its last run left.
pub(crate) fn table() -> Result<()> {
    let ledger = std::fs::read_to_string(root().join("docs/fuzz-ledger.tsv"))?;
    let list = Command::new("cargo")
        .args(["fuzz", "list"])
        .current_dir(root().join("fuzz"))
        .output()?;
    let mut rows: std::collections::BTreeMap<String, (u32, u64, String)> =
        String::from_utf8_lossy(&list.stdout)
            .lines()
            .map(|t| (t.to_string(), (0, 0, "-".to_string())))
            .collect();
    for l in ledger.lines().skip(1) {
        let f: Vec<&str> = l.split('\t').collect();
        if let [_, t, secs, files] = f[..] {
            let r = rows.entry(t.to_string()).or_insert((0, 0, String::new()));
            r.0 += 1;
            r.1 += secs.parse::<u64>().unwrap_or(0);
            r.2 = files.to_string();
        }
    }
    let mut table = String::from(
        "| target | runs | total | corpus (files) |\n|---|---:|---:|---:|\n",
    );
    for (t, (runs, secs, files)) in &rows {
        table.push_str(&format!(
            "| `{t}` | {runs} | {} min | {files} |\n",
            secs / 60
        ));
    }
    let path = root().join("docs/FUZZING.md");
    let doc = std::fs::read_to_string(&path)?;
    let (Some(a), Some(b)) =
        (doc.find("<!-- ledger -->\n"), doc.find("<!-- /ledger -->"))
    else {
        bail!("docs/FUZZING.md has no <!-- ledger --> markers");
    };
    let a = a + "<!-- ledger -->\n".len();
    std::fs::write(&path, format!("{}{table}{}", &doc[..a], &doc[b..]))?;
    Ok(())
}
