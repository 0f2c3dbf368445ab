//! Malformed MIME cannot hide a payload: mails carrying EICAR in a
//! base64, quoted-printable or uuencoded attachment, each broken by one
//! or more of the tricks in `nod32_tests::mutants`, scanned by clamscan
//! and nod32cli with the same database. Every mutant clamscan finds,
//! nod32cli must find under the same name, and the near-miss twin of
//! each (same tricks, payload one byte off) must stay clean.
//!
//! The seed is new each run and printed; `NOD32_MUTANT_SEED=N` repeats
//! one, `NOD32_MUTANTS=N` changes how many pairs are made (default
//! 1,000).

use std::collections::BTreeMap;
use std::process::Command;

use md5::{Digest, Md5};
use nod32_tests::mutants::{self, TRICKS};
use nod32_tests::{bin, eicar, hex, parse_clamscan, peer, run};

fn seed() -> u64 {
    match std::env::var("NOD32_MUTANT_SEED") {
        Ok(s) => s.parse().expect("NOD32_MUTANT_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    }
}

#[test]
fn every_mutant_clamscan_finds_is_found_and_twins_stay_clean() {
    let seed = seed();
    let n: usize = std::env::var("NOD32_MUTANTS")
        .ok()
        .map(|s| s.parse().expect("NOD32_MUTANTS is a number"))
        .unwrap_or(1000);
    println!(
        "mutant seed {seed} (NOD32_MUTANT_SEED={seed} repeats it), {n} pairs"
    );
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let files = dir.path().join("files");
    std::fs::create_dir_all(&db).unwrap();
    std::fs::create_dir_all(&files).unwrap();
    let e = eicar();
    // Anchored at the start of an object, as ClamAV's own EICAR body
    // signature was: only a part decoded from its first byte matches.
    std::fs::write(
        db.join("evasion.ndb"),
        format!("Eicar-Test-Signature:0:0:{}\n", hex(&e)),
    )
    .unwrap();
    std::fs::write(
        db.join("evasion.hdb"),
        format!(
            "{}:{}:Eicar-Test-Signature\n",
            hex(&Md5::digest(&e)),
            e.len()
        ),
    )
    .unwrap();

    let pairs = mutants::pairs(seed, n, &e);
    for (i, (m, t)) in pairs.iter().enumerate() {
        std::fs::write(files.join(format!("m{i:05}.eml")), &m.bytes).unwrap();
        std::fs::write(files.join(format!("t{i:05}.eml")), &t.bytes).unwrap();
    }

    let clam = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "--disable-cache", "-d"])
        .arg(&db)
        .arg(&files));
    assert!(
        matches!(clam.status.code(), Some(0 | 1)),
        "clamscan failed: {}",
        String::from_utf8_lossy(&clam.stderr)
    );
    let ours = run(Command::new(bin("nod32cli"))
        .args(["--format", "clamscan", "--no-summary"])
        .arg("--db")
        .arg(db.join("evasion.ndb"))
        .arg("--db")
        .arg(db.join("evasion.hdb"))
        .arg(&files));
    assert!(
        matches!(ours.status.code(), Some(0 | 1)),
        "nod32cli failed: {}\n{}",
        String::from_utf8_lossy(&ours.stderr),
        String::from_utf8_lossy(&ours.stdout)
    );
    let verdicts = |out: &[u8]| -> BTreeMap<String, Option<String>> {
        parse_clamscan(&String::from_utf8_lossy(out))
            .into_iter()
            .map(|(p, v)| {
                let name = p.rsplit('/').next().unwrap_or(&p).to_string();
                (name, v)
            })
            .collect()
    };
    let (theirs, mine) = (verdicts(&clam.stdout), verdicts(&ours.stdout));
    // Not scanned is not OK: nod32cli prints no OK line for it, so such
    // a file is missing from `mine`.
    let mut bad = Vec::new();
    let mut per_trick: BTreeMap<&str, (u32, u32, u32)> = BTreeMap::new();
    let (mut clam_found, mut we_found) = (0, 0);
    for (i, (m, _)) in pairs.iter().enumerate() {
        let (mf, tf) = (format!("m{i:05}.eml"), format!("t{i:05}.eml"));
        let what = format!(
            "{mf} ({} {}, tricks: {})",
            m.shape,
            m.encoding,
            m.tricks.join(", ")
        );
        let clam_m = theirs.get(&mf).cloned().flatten();
        let ours_m = mine.get(&mf).cloned().flatten();
        for tr in &m.tricks {
            let e = per_trick.entry(tr).or_default();
            e.0 += 1;
            e.1 += u32::from(clam_m.is_some());
            e.2 += u32::from(ours_m.is_some());
        }
        clam_found += u32::from(clam_m.is_some());
        we_found += u32::from(ours_m.is_some());
        if let Some(name) = &clam_m
            && ours_m.as_ref() != Some(name)
        {
            bad.push(format!(
                "{what}: clamscan finds {name}, nod32cli says {}",
                match (mine.get(&mf), &ours_m) {
                    (_, Some(n)) => n.to_string(),
                    (Some(None), None) => "OK".into(),
                    _ => "not scanned".into(),
                }
            ));
        }
        match mine.get(&tf) {
            Some(None) => {}
            Some(Some(name)) => bad.push(format!(
                "{tf}, twin of {what}: nod32cli finds {name} in the near miss"
            )),
            None => bad.push(format!(
                "{tf}, twin of {what}: nod32cli did not scan it fully"
            )),
        }
    }
    println!("{n} mutants: clamscan finds {clam_found}, nod32cli {we_found}");
    println!(
        "{:<30} {:>8} {:>9} {:>9}",
        "trick", "mutants", "clamscan", "nod32cli"
    );
    for t in TRICKS {
        let (a, b, c) = per_trick.get(t).copied().unwrap_or_default();
        println!("{t:<30} {a:>8} {b:>9} {c:>9}");
    }
    if !bad.is_empty() {
        let keep = std::env::temp_dir().join(format!("nod32-mutants-{seed}"));
        let _ = std::fs::remove_dir_all(&keep);
        let _ =
            Command::new("cp").arg("-r").arg(dir.path()).arg(&keep).status();
        println!("kept in {}", keep.display());
    }
    assert!(
        bad.is_empty(),
        "seed {seed}: {} failure(s):\n{}",
        bad.len(),
        bad.join("\n")
    );
    // The generator must produce what it claims: most mutants are
    // readable, so the oracle finds most of them.
    assert!(
        clam_found as usize * 2 > n,
        "clamscan found only {clam_found} of {n}: the generator is broken"
    );
}
