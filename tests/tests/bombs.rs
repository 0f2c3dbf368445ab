//! Decompression bombs and hostile archives, built here at run time: each
//! gets a verdict within the configured scan time, with at most 64 MiB of
//! memory beyond what nod32cli uses to scan a small clean file (and
//! beyond the input itself), under the shipped limits (max_file_size 25M,
//! max_scan_size 100M, max_recursion 17).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nod32_tests::{Rng, bin, eicar, peer, run, run_measured};

const EXTRA_KIB: u64 = 64 << 10;
/// The configured MaxScanTime of these runs; every verdict must come
/// within it.
const SCAN_TIME: u64 = 60;

struct Scan {
    line: String,
    code: i32,
    peak_kib: u64,
    took: Duration,
}

fn scan(file: &Path, extra: &[&str]) -> Scan {
    let mut cmd = Command::new(bin("nod32cli"));
    cmd.args(["--format", "clamscan", "--no-summary", "--threads", "1"])
        .args(["--max-scantime", &SCAN_TIME.to_string()])
        .args(extra)
        .arg(file);
    let t = Instant::now();
    let (out, peak_kib) = run_measured(&cmd);
    let took = t.elapsed();
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.code().is_some(),
        "{}: killed by a signal; stderr: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    Scan { line, code: out.status.code().unwrap(), peak_kib, took }
}

/// What scanning a small clean file costs: the executable, the module
/// and the scanner's own buffers.
fn baseline(dir: &Path) -> u64 {
    let f = dir.join("clean.txt");
    std::fs::write(&f, b"nothing to see here\n".repeat(50)).unwrap();
    (0..3).map(|_| scan(&f, &[]).peak_kib).max().unwrap()
}

fn check(name: &str, s: &Scan, base: u64, input: u64, want: &str) {
    println!(
        "{name:<34} {:>6} ms  peak {:>7} KiB (+{:>6} KiB)  exit {}  {}",
        s.took.as_millis(),
        s.peak_kib,
        s.peak_kib.saturating_sub(base),
        s.code,
        s.line
    );
    assert!(
        s.line.ends_with(want),
        "{name}: expected a line ending in {want:?}, got {:?}",
        s.line
    );
    assert!(
        s.peak_kib <= base + input / 1024 + EXTRA_KIB,
        "{name}: {} KiB at peak, baseline {base} KiB, input {} KiB",
        s.peak_kib,
        input / 1024
    );
    assert!(s.took < Duration::from_secs(SCAN_TIME), "{name}: {:?}", s.took);
    assert!(matches!(s.code, 0..=2), "{name}: exit {}", s.code);
}

fn zip_dir(dir: &Path, out: &Path, files: &[PathBuf]) {
    let _ = std::fs::remove_file(out);
    let st = run(Command::new(peer("zip", "zip"))
        // -9: an archive of identical deflate streams shrinks again, as
        // in 42.zip, so that each level stays small.
        .args(["-q", "-9", "-j"])
        .arg(out)
        .args(files)
        .current_dir(dir));
    assert!(
        st.status.success(),
        "zip: {:?} {} {}",
        st.status,
        String::from_utf8_lossy(&st.stdout),
        String::from_utf8_lossy(&st.stderr)
    );
}

/// 42.zip's shape: 16 archives of 16 archives ... of one big member.
fn nested_16(dir: &Path, leaf: &Path, levels: usize) -> PathBuf {
    let dir = &dir.join(leaf.file_stem().unwrap());
    let mut current = leaf.to_path_buf();
    for level in 0..levels {
        let ldir = dir.join(format!("l{level}"));
        std::fs::create_dir_all(&ldir).unwrap();
        let files: Vec<PathBuf> = (0..16)
            .map(|i| {
                let ext = if level == 0 { "bin" } else { "zip" };
                let p = ldir.join(format!("{i:x}.{ext}"));
                // Links, so that sixteen sparse leaves take no disk.
                std::fs::hard_link(&current, &p).unwrap();
                p
            })
            .collect();
        let out = dir.join(format!("level{}.zip", level + 1));
        zip_dir(&ldir, &out, &files);
        current = out;
    }
    current
}

fn zeros(path: &Path, len: u64) {
    let f = std::fs::File::create(path).unwrap();
    // Sparse: the tools read zeros without the disk holding them.
    f.set_len(len).unwrap();
}

#[test]
fn decompression_bombs_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = baseline(d);
    println!("baseline (small clean file): {base} KiB");

    // 42.zip-style, with members far over max_file_size: skipped on their
    // declared size, never inflated.
    zeros(&d.join("big.bin"), 64 << 20);
    let z42 = nested_16(d, &d.join("big.bin"), 4);
    let s = scan(&z42, &[]);
    // Not scanned, and said so (clamscan would say OK).
    check(
        "42.zip-style, 16^4 64 MiB leaves",
        &s,
        base,
        0,
        "Not scanned (limit MaxFileSize exceeded) ERROR",
    );
    assert!(s.took < Duration::from_secs(20));

    // The same shape with members just under max_file_size: inflated one
    // after another until max_scan_size says stop.
    zeros(&d.join("mid.bin"), 24 << 20);
    let zmid = nested_16(d, &d.join("mid.bin"), 3);
    let s = scan(&zmid, &[]);
    check(
        "42.zip-style, 16^3 24 MiB leaves",
        &s,
        base,
        0,
        "Not scanned (limit MaxScanSize exceeded) ERROR",
    );
    // The limit is visible to whoever asks for it.
    let s = scan(&zmid, &["--alert-exceeds-max"]);
    check(
        "  with --alert-exceeds-max",
        &s,
        base,
        0,
        "Heuristics.Limits.Exceeded.MaxScanSize FOUND",
    );

    // A gzip stream of 200 MiB of zeros whose trailer claims 4 GiB.
    let gz = d.join("four-gb.gz");
    {
        let mut e = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        let block = vec![0u8; 1 << 20];
        for _ in 0..200 {
            e.write_all(&block).unwrap();
        }
        e.finish().unwrap();
    }
    let mut bytes = std::fs::read(&gz).unwrap();
    let n = bytes.len();
    bytes[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    std::fs::write(&gz, &bytes).unwrap();
    let s = scan(&gz, &[]);
    check(
        "gzip declaring 4 GiB",
        &s,
        base,
        0,
        "Not scanned (limit MaxFileSize exceeded) ERROR",
    );

    // The non-recursive zip bomb: 1,000 entries that all inflate the
    // same 20 MiB of zeros.
    let overlap = d.join("overlap.zip");
    std::fs::write(&overlap, overlapping_zip(1000, 20 << 20)).unwrap();
    let unzip =
        run(Command::new(peer("unzip", "unzip")).arg("-t").arg(&overlap));
    assert!(
        String::from_utf8_lossy(&unzip.stdout).contains("overlapped")
            || String::from_utf8_lossy(&unzip.stderr).contains("overlapped"),
        "Info-ZIP's unzip sees the bomb: {}",
        String::from_utf8_lossy(&unzip.stderr)
    );
    let theirs = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "-d"])
        .arg(d.join("clean.txt"))
        .arg(&overlap));
    println!("clamscan: {}", String::from_utf8_lossy(&theirs.stdout).trim());
    let s = scan(&overlap, &[]);
    check(
        "overlapping zip entries",
        &s,
        base,
        0,
        "Heuristics.Zip.OverlappingFiles FOUND",
    );
    assert!(
        String::from_utf8_lossy(&theirs.stdout)
            .contains("Heuristics.Zip.OverlappingFiles"),
        "clamscan names it the same"
    );
}

/// David Fifield's non-recursive zip bomb: `entries` files whose data
/// all ends in one shared deflate stream of `len` zeros; each file's data
/// starts with a stored block quoting the next file's local header, so
/// every entry overlaps the next.
fn overlapping_zip(entries: usize, len: usize) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(
        Vec::new(),
        flate2::Compression::best(),
    );
    e.write_all(&vec![0u8; len]).unwrap();
    let kernel = e.finish().unwrap();
    let mut kcrc = flate2::Crc::new();
    kcrc.update(&vec![0u8; len]);
    let le16 = |z: &mut Vec<u8>, v: u16| z.extend(v.to_le_bytes());
    let le32 = |z: &mut Vec<u8>, v: u32| z.extend(v.to_le_bytes());
    // (name, crc, compressed size, size), last entry first.
    let mut meta: Vec<(String, u32, u32, u32)> = Vec::new();
    let mut headers: Vec<Vec<u8>> = Vec::new();
    let (mut crc, mut csize, mut usize_) = (kcrc, kernel.len(), len);
    for i in (0..entries).rev() {
        let name = format!("{i:04}.bin");
        let mut h = Vec::new();
        le32(&mut h, 0x0403_4b50);
        for v in [20, 0, 8, 0, 0] {
            le16(&mut h, v);
        }
        for v in [crc.sum(), csize as u32, usize_ as u32] {
            le32(&mut h, v);
        }
        le16(&mut h, name.len() as u16);
        le16(&mut h, 0);
        h.extend(name.as_bytes());
        meta.push((name, crc.sum(), csize as u32, usize_ as u32));
        // The previous entry inflates this header, then the rest.
        let mut quoted = flate2::Crc::new();
        quoted.update(&h);
        quoted.combine(&crc);
        crc = quoted;
        csize += 5 + h.len();
        usize_ += h.len();
        headers.push(h);
    }
    headers.reverse();
    meta.reverse();
    let mut z = Vec::new();
    let mut offsets = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        offsets.push(z.len() as u32);
        z.extend(h);
        if let Some(next) = headers.get(i + 1) {
            // A stored, non-final deflate block holding the next header.
            z.push(0);
            le16(&mut z, next.len() as u16);
            le16(&mut z, !(next.len() as u16));
        }
    }
    z.extend(&kernel);
    let cd_at = z.len();
    for ((name, crc, csize, size), off) in meta.iter().zip(&offsets) {
        le32(&mut z, 0x0201_4b50);
        for v in [20, 20, 0, 8, 0, 0] {
            le16(&mut z, v);
        }
        for v in [*crc, *csize, *size] {
            le32(&mut z, v);
        }
        for v in [name.len() as u16, 0, 0, 0, 0] {
            le16(&mut z, v);
        }
        le32(&mut z, 0);
        le32(&mut z, *off);
        z.extend(name.as_bytes());
    }
    let cd_len = z.len() - cd_at;
    le32(&mut z, 0x0605_4b50);
    for v in [0, 0, entries as u16, entries as u16] {
        le16(&mut z, v);
    }
    le32(&mut z, cd_len as u32);
    le32(&mut z, cd_at as u32);
    le16(&mut z, 0);
    z
}

/// A payload wrapped `depth` times in gzip (stored blocks: the point is
/// the nesting, not the ratio).
fn nested_gzip(payload: &[u8], depth: usize) -> Vec<u8> {
    let mut data = payload.to_vec();
    for _ in 0..depth {
        let mut e = flate2::write::GzEncoder::new(
            Vec::with_capacity(data.len() + 64),
            flate2::Compression::none(),
        );
        e.write_all(&data).unwrap();
        data = e.finish().unwrap();
    }
    data
}

#[test]
fn ten_thousand_levels_of_nesting() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = baseline(d);
    let payload = eicar();

    let f = d.join("deep.gz");
    std::fs::write(&f, nested_gzip(&payload, 10_000)).unwrap();
    let x = ["--alert-exceeds-max"];
    let s = scan(&f, &x);
    check(
        "gzip nested 10,000 deep",
        &s,
        base,
        0,
        "Heuristics.Limits.Exceeded.MaxRecursion FOUND",
    );
    // Within max_recursion, the same payload is found.
    let f2 = d.join("shallow.gz");
    std::fs::write(&f2, nested_gzip(&payload, 10)).unwrap();
    check(
        "gzip nested 10 deep",
        &scan(&f2, &[]),
        base,
        0,
        "Eicar-Test-Signature.UNOFFICIAL FOUND",
    );

    // Mail: message/rfc822 inside message/rfc822, 10,000 times; and
    // multipart inside multipart, 10,000 times.
    let mut mail = String::new();
    for i in 0..10_000 {
        mail.push_str(&format!(
            "From: a@b.example\nSubject: level {i}\nContent-Type: message/rfc822\n\n"
        ));
    }
    mail.push_str("From: a@b.example\nSubject: bottom\n\n");
    mail.push_str(std::str::from_utf8(&eicar()).unwrap());
    mail.push('\n');
    let f = d.join("rfc822.eml");
    std::fs::write(&f, &mail).unwrap();
    check(
        "message/rfc822 nested 10,000 deep",
        &scan(&f, &x),
        base,
        0,
        "Heuristics.Limits.Exceeded.MaxRecursion FOUND",
    );

    let mut mp = String::from("From: a@b.example\nSubject: deep\n");
    for i in 0..10_000 {
        mp.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n"
        ));
    }
    mp.push_str("Content-Type: text/plain\n\nbottom\n");
    let f = d.join("multipart.eml");
    std::fs::write(&f, &mp).unwrap();
    check(
        "multipart nested 10,000 deep",
        &scan(&f, &x),
        base,
        0,
        "Heuristics.Limits.Exceeded.MaxRecursion FOUND",
    );
}

#[test]
fn a_100_mb_header_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = baseline(d);
    let mut m = b"From: a@b.example\nSubject: ".to_vec();
    m.resize(m.len() + 100_000_000, b'A');
    m.extend(b"\nContent-Type: text/plain\n\nhello\n");
    let f = d.join("long-header.eml");
    std::fs::write(&f, &m).unwrap();
    // Under the shipped limits the message is over max_file_size and not
    // read at all.
    check(
        "100 MB header line (25M limit)",
        &scan(&f, &["--alert-exceeds-max"]),
        base,
        0,
        "Heuristics.Limits.Exceeded.MaxFileSize FOUND",
    );
    // With room for it, it is parsed: the input is held once, the parser
    // adds no copy of the line.
    let roomy = ["--max-filesize", "200M", "--max-scansize", "400M"];
    let s = scan(&f, &roomy);
    check("100 MB header line, parsed", &s, base, m.len() as u64, "OK");
}

/// Every format the engine opens, made by its real tool (or taken from
/// clamav-testfiles where no tool is packaged), cut short and corrupted
/// at many points: each file gets a verdict line and nod32cli exits
/// normally.
#[test]
fn truncated_and_corrupt_archives_of_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = baseline(d);
    let src = d.join("src");
    std::fs::create_dir(&src).unwrap();
    let mut rng = Rng::new(42);
    std::fs::write(src.join("eicar.com"), eicar()).unwrap();
    std::fs::write(src.join("noise.bin"), rng.bytes(300_000)).unwrap();
    std::fs::write(src.join("text.txt"), b"some words\n".repeat(20_000))
        .unwrap();
    let members = ["eicar.com", "noise.bin", "text.txt"];
    let sh = |script: &str| {
        let o =
            run(Command::new("sh").arg("-c").arg(script).current_dir(&src));
        assert!(
            o.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    let m = members.join(" ");
    sh(&format!("zip -q ../a.zip {m}"));
    sh(&format!("7z a -bd -y ../a.7z {m} >/dev/null"));
    sh(&format!("tar czf ../a.tar.gz {m}"));
    sh(&format!("tar cjf ../a.tar.bz2 {m}"));
    sh(&format!("tar cJf ../a.tar.xz {m}"));
    sh(&format!("tar cf ../a.tar {m}"));
    sh(&format!("ls {m} | cpio -o -H newc --quiet > ../a.cpio"));
    sh(&format!("gcab -c -z ../a.cab {m}"));
    sh(&format!("arj a -y ../a.arj {m} >/dev/null"));
    sh(
        "gzip -c text.txt > ../a.gz && bzip2 -c text.txt > ../a.bz2 && xz -c text.txt > ../a.xz",
    );
    // RAR from rars's writer (see unpackers.rs: no free RAR tool).
    for (name, v) in [
        ("a.rar29.rar", rars::ArchiveVersion::Rar29),
        ("a.rar50.rar", rars::ArchiveVersion::Rar50),
    ] {
        let mut b = rars::builder::Builder::new(v).solid(true);
        for m in members {
            b.add_bytes(
                m.as_bytes().to_vec(),
                std::fs::read(src.join(m)).unwrap(),
                None,
                None,
            )
            .unwrap();
        }
        std::fs::write(d.join(name), b.to_bytes().unwrap()).unwrap();
    }
    let testfiles = Path::new("/usr/share/clamav-testfiles");
    let mut inputs: Vec<PathBuf> = [
        "a.zip",
        "a.7z",
        "a.tar.gz",
        "a.tar.bz2",
        "a.tar.xz",
        "a.tar",
        "a.cpio",
        "a.cab",
        "a.gz",
        "a.bz2",
        "a.xz",
        "a.rar29.rar",
        "a.rar50.rar",
        "a.arj",
    ]
    .iter()
    .map(|f| d.join(f))
    .collect();
    for f in [
        "clam.exe.szdd",
        "clam.exe.binhex",
        "clam.tnef",
        "clam.mail",
        "clam.exe.html",
        "clam.exe.mbox.uu",
        "clam.bin-be.cpio",
        "clam.odc.cpio",
        "clam.impl.zip",
        "clam.d64.zip",
        "clam.ole.doc",
        "clam.ppt",
        "clam.pdf",
        "clam.exe.rtf",
    ] {
        let p = testfiles.join(f);
        assert!(
            p.exists(),
            "{} missing: apt-get install clamav-testfiles",
            p.display()
        );
        inputs.push(p);
    }
    let out = d.join("hostile");
    std::fs::create_dir(&out).unwrap();
    let mut n = 0;
    for p in &inputs {
        let data = std::fs::read(p).unwrap();
        let stem = p.file_name().unwrap().to_string_lossy().to_string();
        for k in 1..=12u64 {
            // Cut at spread-out points, the header's end among them.
            let cut = (data.len() as u64 * k / 13) as usize;
            std::fs::write(out.join(format!("{stem}.cut{k}")), &data[..cut])
                .unwrap();
            let mut bad = data.clone();
            for _ in 0..k {
                let at = rng.range(0, bad.len() as u64 - 1) as usize;
                bad[at] = rng.byte();
            }
            std::fs::write(out.join(format!("{stem}.flip{k}")), &bad).unwrap();
            n += 2;
        }
    }
    let mut cmd = Command::new(bin("nod32cli"));
    cmd.args(["--format", "clamscan", "--no-summary", "--threads", "1"])
        .args(["--max-scantime", &SCAN_TIME.to_string()])
        .arg(&out);
    let t = Instant::now();
    let (o, peak) = run_measured(&cmd);
    let took = t.elapsed();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let found = lines.iter().filter(|l| l.ends_with(" FOUND")).count();
    println!(
        "{n} damaged files in {} ms, peak {peak} KiB (+{} KiB): {found} still found EICAR-bearing members, {} not",
        took.as_millis(),
        peak.saturating_sub(base),
        lines.len() - found
    );
    assert!(
        o.status.code().is_some_and(|c| matches!(c, 0..=2)),
        "{:?}",
        o.status
    );
    assert_eq!(lines.len(), n, "one verdict per file");
    assert!(peak <= base + EXTRA_KIB, "{peak} KiB at peak, baseline {base}");
}
