//! PE awareness against clamscan: on the seventeen Windows executables
//! of clamav-testfiles (plain, packed, installers), signatures anchored
//! at the entry point (`EP+n`, `EP-n`), at a section (`Sx+n`, `SL+n`,
//! `SEx`), of target type 1, and `.mdb` section hashes, all built here
//! from each file's own headers, give nod32cli the verdicts clamscan
//! gives. A PE whose section data lies beyond the end of the file is
//! `Heuristics.Broken.Executable` for both when asked.

use std::path::{Path, PathBuf};
use std::process::Command;

use nod32_tests::{bin, hex, parse_clamscan, peer, run};

const DIR: &str = "/usr/share/clamav-testfiles";

struct Section {
    raw: usize,
    size: usize,
}

struct Pe {
    ep: usize,
    sections: Vec<Section>,
}

fn u16_at(d: &[u8], at: usize) -> usize {
    u16::from_le_bytes([d[at], d[at + 1]]) as usize
}

fn u32_at(d: &[u8], at: usize) -> usize {
    u32::from_le_bytes(d[at..at + 4].try_into().unwrap()) as usize
}

/// The PE headers, read the way the PE/COFF specification lays them out
/// (independently of the engine's reader), with raw offsets rounded down
/// and sizes up to FileAlignment and clipped to the file.
fn headers(d: &[u8]) -> Pe {
    let pe = u32_at(d, 0x3c);
    assert_eq!(&d[pe..pe + 4], b"PE\0\0");
    let count = u16_at(d, pe + 6);
    let opt = pe + 24;
    let sections_at = opt + u16_at(d, pe + 20);
    let ep_rva = u32_at(d, opt + 16);
    let falign = u32_at(d, opt + 36);
    let mut out = Pe { ep: 0, sections: Vec::new() };
    let mut ep = None;
    for i in 0..count {
        let s = sections_at + i * 40;
        let (vsize, va) = (u32_at(d, s + 8), u32_at(d, s + 12));
        let (mut size, mut raw) = (u32_at(d, s + 16), u32_at(d, s + 20));
        if falign.is_power_of_two() && falign >= 0x200 {
            raw &= !(falign - 1);
            size = size.div_ceil(falign) * falign;
        }
        let size = size.min(d.len().saturating_sub(raw));
        if ep_rva >= va && ep_rva < va + vsize.max(u32_at(d, s + 16)) {
            ep.get_or_insert(raw + ep_rva - va);
        }
        out.sections.push(Section { raw, size });
    }
    out.ep = ep.unwrap_or(ep_rva);
    out
}

fn md5_hex(d: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex(&Md5::digest(d))
}

/// One database per offset kind, so that each run asks one question.
#[test]
fn pe_relative_signatures_agree_with_clamscan() {
    let files: Vec<PathBuf> = std::fs::read_dir(DIR)
        .unwrap_or_else(|_| {
            panic!("{DIR} missing: apt-get install clamav-testfiles")
        })
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "exe"))
        .collect();
    assert!(files.len() >= 17, "{files:?}");
    let kinds = ["ep", "ep-minus", "s0", "sl", "se", "mdb"];
    // Bytes shared by several files (padding, a packer's common stub)
    // would make a signature match where it was not taken from: each
    // kind keeps only patterns unique among the files.
    let mut seen: Vec<std::collections::HashMap<String, usize>> =
        vec![Default::default(); kinds.len()];
    let mut add = |k: usize, i: usize, line: String, key: String| {
        *seen[k].entry(key.clone()).or_default() += 1;
        (k, i, line, key)
    };
    let mut lines = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let d = std::fs::read(f).unwrap();
        let pe = headers(&d);
        let at = |o: usize| hex(&d[o.min(d.len())..(o + 12).min(d.len())]);
        let n = |k: &str| format!("Test.{k}.{i}");
        let b = at(pe.ep);
        lines.push(add(0, i, format!("{}:1:EP+0:{b}\n", n("EP")), b));
        if pe.ep >= 3 {
            let b = at(pe.ep - 2);
            lines.push(add(1, i, format!("{}:1:EP-3,2:{b}\n", n("EPm")), b));
        }
        if let Some(s0) = pe.sections.first().filter(|s| s.size >= 32) {
            let b = at(s0.raw + 16);
            lines.push(add(2, i, format!("{}:1:S0+16:{b}\n", n("S0")), b));
        }
        if let Some(last) = pe.sections.last().filter(|s| s.size >= 12) {
            let b = at(last.raw);
            lines.push(add(3, i, format!("{}:1:SL+0:{b}\n", n("SL")), b));
        }
        if let Some((idx, s)) =
            pe.sections.iter().enumerate().find(|(_, s)| s.size >= 64)
        {
            let b = at(s.raw + s.size / 2);
            lines.push(add(4, i, format!("{}:1:SE{idx}:{b}\n", n("SE")), b));
            let md5 = md5_hex(&d[s.raw..s.raw + s.size]);
            let line = format!("{}:{md5}:{}\n", s.size, n("MDB"));
            lines.push(add(5, i, line, md5));
        }
    }
    let mut dbs: Vec<(String, String)> =
        kinds.iter().map(|k| (k.to_string(), String::new())).collect();
    for (k, _, line, key) in &lines {
        if seen[*k][key] == 1 && !key.chars().all(|c| c == '0') {
            dbs[*k].1 += line;
        }
    }
    let (mut agree, mut found, mut unpacked) = (0, 0, 0);
    for (kind, sigs) in &dbs {
        let dir = tempfile::tempdir().unwrap();
        let ext = if kind == "mdb" { "mdb" } else { "ndb" };
        std::fs::write(dir.path().join(format!("pe.{ext}")), sigs).unwrap();
        let (t, o) = scan_both(dir.path(), &files, &[]);
        for ((f, theirs), (_, ours)) in t.iter().zip(&o) {
            let name = Path::new(f).file_name().unwrap().to_string_lossy();
            let i = files.iter().position(|x| x == Path::new(f)).unwrap();
            let own = |n: &str| {
                n.starts_with("Test.") && n.ends_with(&format!(".{i}"))
            };
            println!(
                "{kind:<9} {name:<22} clamscan {:<14} nod32cli {}",
                theirs.as_deref().unwrap_or("OK"),
                ours.as_deref().unwrap_or("OK")
            );
            match theirs {
                // Another file's signature: clamscan unpacked the packer
                // (UPX, MEW, FSG, ...) and found the original program's
                // bytes there, before the file's own (children first).
                // Executable unpackers are not in the engine yet, so we
                // find the file's own signature or nothing.
                Some(t) if !own(t) => {
                    assert!(
                        ours.as_deref().is_none_or(own) || ours == theirs,
                        "{kind} on {name}"
                    );
                    unpacked += 1;
                }
                _ => {
                    assert_eq!(theirs, ours, "{kind} on {name}");
                    agree += 1;
                    found += usize::from(theirs.is_some());
                }
            }
        }
    }
    println!(
        "{unpacked} found by clamscan only after unpacking the packer (not yet)"
    );
    println!("{agree} verdicts agree, {found} of them detections");
    // The signatures come from the files themselves: most must hit.
    assert!(found * 10 >= agree * 8, "{found} of {agree}");
}

/// (file, detection name) per file, as parse_clamscan gives them.
type Verdicts = Vec<(String, Option<String>)>;

fn scan_both(
    db: &Path,
    files: &[PathBuf],
    extra: &[&str],
) -> (Verdicts, Verdicts) {
    let theirs = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "-d"])
        .arg(db)
        .args(extra)
        .args(files));
    let ours = run(Command::new(bin("nod32cli"))
        .args(["--format", "clamscan", "--no-summary", "-d"])
        .arg(db)
        .args(extra)
        .args(files));
    let t = parse_clamscan(&String::from_utf8_lossy(&theirs.stdout));
    let o = parse_clamscan(&String::from_utf8_lossy(&ours.stdout));
    assert_eq!(t.len(), files.len(), "clamscan: {t:?}");
    assert_eq!(o.len(), files.len(), "nod32cli: {o:?}");
    (t, o)
}

/// The version strings clamscan reads in `file` itself (not in the
/// executables it extracts from it): its debug output names each with its
/// offset and bytes (`VersionInfo (OFF): ... - VI:HEX`, the key and the
/// value in UTF-16).
fn version_strings(db: &Path, file: &Path) -> Vec<String> {
    let data = std::fs::read(file).unwrap();
    let out = run(Command::new(peer("clamscan", "clamav"))
        .args(["--debug", "--no-summary", "-d"])
        .arg(db)
        .arg(file));
    let mut v: Vec<String> = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| {
            let (_, rest) = l.split_once("VersionInfo (")?;
            let (off, _) = rest.split_once(')')?;
            let off = usize::from_str_radix(off, 16).ok()?;
            let (_, h) = l.rsplit_once(" - VI:")?;
            let at = data.get(off..off + h.len() / 2)?;
            (hex(at) == h).then(|| h.to_string())
        })
        .collect();
    v.dedup();
    v
}

/// `VI` offsets: a signature made of a version string clamscan lists in
/// a Windows executable of clamav-testfiles matches there for both, in an
/// `.ndb` and as a logical subsignature; the same bytes less the first
/// character (not where a string starts) match for neither.
#[test]
fn version_info_signatures_agree_with_clamscan() {
    let files: Vec<PathBuf> = std::fs::read_dir(DIR)
        .unwrap_or_else(|_| {
            panic!("{DIR} missing: apt-get install clamav-testfiles")
        })
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "exe"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("x.ndb"), "Nothing.Here:0:*:0011223344556677\n")
        .unwrap();
    let strings: Vec<Vec<String>> =
        files.iter().map(|f| version_strings(&empty, f)).collect();
    // Files may share strings (an installer's variants): a signature is
    // named by its string, and either file may be named by it.
    let mut ids: Vec<&str> =
        strings.iter().flatten().map(|s| s.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let id = |h: &str| ids.binary_search(&h).unwrap();
    let total: usize = strings.iter().map(Vec::len).sum();
    assert!(total >= 40, "version strings found by clamscan: {strings:?}");
    let rounds = strings.iter().map(Vec::len).max().unwrap();
    let mut dbs = Vec::new();
    for j in 0..rounds {
        let mut ndb = std::collections::BTreeSet::new();
        let mut shifted = std::collections::BTreeSet::new();
        for h in strings.iter().filter_map(|v| v.get(j)) {
            let k = id(h);
            ndb.insert(format!("Test.VI.{k}:1:VI:{h}\n"));
            shifted.insert(format!("Test.VIx.{k}:1:VI:{}\n", &h[4..]));
        }
        dbs.push((
            format!("round {j}"),
            "ndb",
            ndb.into_iter().collect::<String>(),
            true,
        ));
        dbs.push((
            format!("round {j}, shifted"),
            "ndb",
            shifted.into_iter().collect::<String>(),
            false,
        ));
    }
    let mut ldb = std::collections::BTreeSet::new();
    for h in strings.iter().filter_map(|v| v.last()) {
        let k = id(h);
        ldb.insert(format!("Test.VIl.{k};Engine:81-255,Target:1;0;VI:{h}\n"));
    }
    let ldb: String = ldb.into_iter().collect();
    let expected = strings.iter().map(Vec::len).sum::<usize>()
        + strings.iter().filter(|v| !v.is_empty()).count();
    dbs.push(("logical".into(), "ldb", ldb, true));
    let mut found = 0;
    for (what, ext, sigs, hit) in &dbs {
        let db = dir.path().join(what.replace([' ', ','], "_"));
        std::fs::create_dir(&db).unwrap();
        std::fs::write(db.join(format!("vi.{ext}")), sigs).unwrap();
        let (t, o) = scan_both(&db, &files, &[]);
        for ((f, theirs), (_, ours)) in t.iter().zip(&o) {
            let name = Path::new(f).file_name().unwrap().to_string_lossy();
            println!(
                "{what:<18} {name:<22} clamscan {:<16} nod32cli {}",
                theirs.as_deref().unwrap_or("OK"),
                ours.as_deref().unwrap_or("OK")
            );
            assert_eq!(theirs, ours, "{what} on {name}");
            if theirs.is_some() {
                assert!(hit, "{what}: {theirs:?} on {name}");
                found += 1;
            }
        }
    }
    // At least each file's own string in each round (a file may also
    // hold another file's string of a round where it has none).
    assert!(found >= expected, "{found} detections, {expected} strings");
}

#[test]
fn broken_executables_alert_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let clam = std::fs::read(Path::new(DIR).join("clam.exe")).unwrap();
    let pe = u32_at(&clam, 0x3c);
    let sections_at = pe + 24 + u16_at(&clam, pe + 20);
    let mut broken = clam.clone();
    // The first section's data pointer far past the end of the file.
    broken[sections_at + 20..sections_at + 24]
        .copy_from_slice(&0x0100_0000u32.to_le_bytes());
    let bad = dir.path().join("broken.exe");
    std::fs::write(&bad, &broken).unwrap();
    let good = dir.path().join("intact.exe");
    std::fs::write(&good, &clam).unwrap();
    let db = dir.path().join("db");
    std::fs::create_dir(&db).unwrap();
    std::fs::write(db.join("x.ndb"), "Nothing.Here:0:*:0011223344556677\n")
        .unwrap();
    let files = [bad.clone(), good.clone()];
    let (t, o) = scan_both(&db, &files, &["--alert-broken"]);
    println!("clamscan {t:?}\nnod32cli {o:?}");
    assert_eq!(t[0].1.as_deref(), Some("Heuristics.Broken.Executable"));
    assert_eq!(t, o);
    // Off by default, as in clamscan.
    let (t, o) = scan_both(&db, &files, &[]);
    assert_eq!(t[0].1, None);
    assert_eq!(t, o);
}

/// The EntryPoint and NumberOfSections conditions of logical signatures,
/// on clam.exe and a UPX-packed copy, as clamscan reads them.
#[test]
fn logical_entry_point_and_section_count_conditions() {
    let files: Vec<PathBuf> = ["clam.exe", "clam-upx.exe", "clam-petite.exe"]
        .iter()
        .map(|f| Path::new(DIR).join(f))
        .collect();
    let tags = ["ok", "range", "ep-off", "ns-off"];
    let mut ldbs = vec![String::new(); tags.len()];
    for (i, f) in files.iter().enumerate() {
        let d = std::fs::read(f).unwrap();
        let pe = headers(&d);
        let n = pe.sections.len();
        let ep = pe.ep;
        // ClamAV takes these as ranges only.
        let conds = [
            format!("EntryPoint:{ep}-{ep},NumberOfSections:{n}-{n}"),
            format!("EntryPoint:{}-{}", ep - 1, ep + 1),
            format!("EntryPoint:{}-{}", ep + 1, ep + 9),
            format!("NumberOfSections:{}-{}", n + 1, n + 5),
        ];
        for (k, cond) in conds.iter().enumerate() {
            ldbs[k] += &format!(
                "Test.{}.{i};Engine:51-255,Target:1,{cond};0;4d5a\n",
                tags[k]
            );
        }
    }
    for (k, ldb) in ldbs.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.ldb"), ldb).unwrap();
        let (t, o) = scan_both(dir.path(), &files, &[]);
        println!("{}: clamscan {t:?}\n    nod32cli {o:?}", tags[k]);
        assert_eq!(t, o, "{}", tags[k]);
        for (f, v) in &t {
            let i = files.iter().position(|x| x == Path::new(f)).unwrap();
            let own = format!("Test.{}.{i}", tags[k]);
            // A file meets its own conditions exactly when they are true
            // (another file's section count may fit it, as clamscan says).
            assert_eq!(
                v.as_deref() == Some(own.as_str()),
                k < 2,
                "{f}: {v:?}"
            );
        }
    }
}
