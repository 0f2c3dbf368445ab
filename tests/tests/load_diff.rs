//! The loader against the real `clamscan`: body signatures built at
//! random from every element of ClamAV's grammar (bytes, nibbles, `??`,
//! alternatives of one byte or several, `{n}`, `{n-m}` (reversed too),
//! `{-m}`, `*`, `[n-m]` and the `(B)`, `(L)`, `(W)` markers, at the ends
//! and inside) load in nod32cli exactly when clamscan loads them, as `.ndb`
//! lines and as `.ldb` subsignatures; and where both load them, both give
//! the same verdict on a file made to match.
//!
//! `NOD32_DIFF_SEED=N` runs one seed; by default four run.

use std::process::Command;

use nod32_tests::{Rng, bin, peer, run};

/// One element: its text, and bytes that it matches.
fn element(rng: &mut Rng) -> (String, Vec<u8>) {
    let byte = |rng: &mut Rng| b'a' + rng.range(0, 25) as u8;
    match rng.range(0, 18) {
        15 => {
            // A multi-byte alternative, of one length or not.
            let a: Vec<u8> = (0..2).map(|_| byte(rng)).collect();
            let n = if rng.chance(1, 2) { 2 } else { 1 };
            let b: Vec<u8> = (0..n).map(|_| byte(rng)).collect();
            let hex = |v: &[u8]| -> String {
                v.iter().map(|b| format!("{b:02x}")).collect()
            };
            (format!("({}|{})", hex(&a), hex(&b)), a)
        }
        // An inner marker is a byte of its class.
        16 => (rng.pick(&["(B)", "(W)"]).to_string(), b" ".to_vec()),
        17 => ("(L)".into(), b"\n".to_vec()),
        0..=6 => {
            let run: Vec<u8> =
                (0..rng.range(1, 3)).map(|_| byte(rng)).collect();
            (run.iter().map(|b| format!("{b:02x}")).collect(), run)
        }
        7 => {
            let b = byte(rng);
            (format!("{:x}?", b >> 4), vec![b])
        }
        8 => ("??".into(), vec![b'x']),
        9 => {
            let (a, b) = (byte(rng), byte(rng));
            (format!("({a:02x}|{b:02x})"), vec![a])
        }
        10 => {
            let n = rng.range(1, 4);
            (format!("{{{n}}}"), vec![b'x'; n as usize])
        }
        11 => {
            let (n, m) = (rng.range(0, 4), rng.range(0, 6));
            (format!("{{{n}-{m}}}"), vec![b'x'; n as usize])
        }
        12 => ("*".into(), b"xx".to_vec()),
        13 => {
            let n = rng.range(1, 3);
            (format!("[{n}-{}]", n + rng.range(0, 3)), vec![b'x'; n as usize])
        }
        _ => {
            let m = rng.range(1, 4);
            (format!("{{-{m}}}"), vec![b'x'; m as usize])
        }
    }
}

fn loads_with_clamscan(dir: &std::path::Path, file: &str) -> bool {
    let out = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "--disable-cache", "-d"])
        .arg(dir.join(file))
        .arg(dir.join("probe")));
    // 2: the database did not load.
    out.status.code() != Some(2)
}

fn loads_with_nod32(dir: &std::path::Path, file: &str) -> bool {
    let out = run(Command::new(bin("nod32cli"))
        .arg("compile")
        .arg(dir.join(file))
        .arg("-o")
        .arg(dir.join("m.nod")));
    out.status.success()
}

fn round(seed: u64) -> (usize, usize) {
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("probe"), b"nothing to see").unwrap();
    let (mut loaded, mut refused) = (0, 0);
    for i in 0..60 {
        let (mut hex, mut inst) = (String::new(), Vec::new());
        for _ in 0..rng.range(1, 6) {
            let (h, b) = element(&mut rng);
            hex += &h;
            inst.extend(b);
        }
        // A marker at either end tests the byte beside the match.
        let mut mark = || *rng.pick(&["(B)", "(L)", "(W)", "!(B)", ""]);
        let (first, last) = (mark(), mark());
        hex = format!("{first}{hex}{last}");
        let (file, line) = if rng.chance(1, 2) {
            ("s.ndb", format!("Load.{seed}.{i}:0:*:{hex}\n"))
        } else {
            (
                "s.ldb",
                format!("Load.{seed}.{i};Engine:51-255,Target:0;0;{hex}\n"),
            )
        };
        std::fs::write(d.join(file), &line).unwrap();
        let theirs = loads_with_clamscan(d, file);
        let ours = loads_with_nod32(d, file);
        assert_eq!(ours, theirs, "seed {seed}: {line}");
        if !theirs {
            refused += 1;
            std::fs::remove_file(d.join(file)).unwrap();
            continue;
        }
        loaded += 1;
        // Where both load it: the same verdict on bytes made to match.
        let target = d.join("target");
        let mut data = b"zz".to_vec();
        data.extend(&inst);
        data.extend(b"zz");
        std::fs::write(&target, &data).unwrap();
        let verdict = |cmd: &mut Command| {
            let out = run(cmd.arg("-d").arg(d.join(file)).arg(&target));
            String::from_utf8_lossy(&out.stdout).contains("FOUND")
        };
        let t = verdict(
            Command::new(peer("clamscan", "clamav"))
                .args(["--no-summary", "--disable-cache"]),
        );
        let o = verdict(Command::new(bin("nod32cli")).args([
            "--format",
            "clamscan",
            "--no-summary",
        ]));
        assert_eq!(o, t, "seed {seed}: {line} on {data:?}");
        std::fs::remove_file(d.join(file)).unwrap();
    }
    (loaded, refused)
}

#[test]
fn random_body_signatures_load_as_clamscan_loads_them() {
    let seeds: Vec<u64> = match std::env::var("NOD32_DIFF_SEED") {
        Ok(s) => vec![s.parse().expect("NOD32_DIFF_SEED")],
        Err(_) => (1..=4).collect(),
    };
    for seed in seeds {
        let (loaded, refused) = round(seed);
        println!(
            "seed {seed}: {loaded} loaded by both, {refused} refused by both"
        );
        assert!(loaded > 0 && refused > 0, "seed {seed}");
    }
}
