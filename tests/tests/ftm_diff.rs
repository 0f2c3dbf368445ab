//! Differential test of a database's own file-type magic (`.ftm`)
//! against the real `clamscan`: random magic lines (offsets, types,
//! overlapping lines where the one loaded last must win, an empty magic)
//! type carriers made of that magic and an HTML page, a zip made by the
//! real `zip` tool, or a mail; each type shows in the verdict (an HTML
//! signature fires only on HTML, a payload only once a zip or mail is
//! opened). Decoys carry the same content with the magic changed.
//!
//! clamscan drops its built-in typing when a database brings an `.ftm`,
//! so no object here needs a type the random lines do not give.
//!
//! `NOD32_DIFF_SEED=N` runs one seed; by default eight seeds run.

use std::path::Path;
use std::process::Command;

use nod32_tests::{
    Rng, base64_lines, bin, hex, parse_clamscan_exact, peer, run,
};

/// Lowercase letters and spaces: text with no marker of any format.
fn words(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            if rng.chance(1, 6) { b' ' } else { b'a' + rng.range(0, 26) as u8 }
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Type {
    Html,
    Zip,
    Mail,
}

impl Type {
    fn clamav(self) -> &'static str {
        match self {
            Type::Html => "CL_TYPE_HTML",
            Type::Zip => "CL_TYPE_ZIP",
            Type::Mail => "CL_TYPE_MAIL",
        }
    }
}

struct Magic {
    offset: usize,
    bytes: Vec<u8>,
    kind: Type,
}

/// `content` with `magic` at its offset (filler before it).
fn carrier(rng: &mut Rng, m: &Magic, content: &[u8]) -> Vec<u8> {
    let mut out = words(rng, m.offset);
    out.extend(&m.bytes);
    out.extend(content);
    out
}

fn zip_of(dir: &Path, name: &str, data: &[u8], prefix: &[u8]) -> Vec<u8> {
    let work = dir.join(format!("work-{name}"));
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("inner.txt"), data).unwrap();
    let zip = work.join("a.zip");
    let made = run(Command::new("zip")
        .args(["-q", "-9"])
        .arg(&zip)
        .arg("inner.txt")
        .current_dir(&work));
    assert!(made.status.success(), "zip failed");
    // The magic goes in front; `zip -A` then fixes the offsets as for a
    // self-extracting archive.
    let mut whole = prefix.to_vec();
    whole.extend(std::fs::read(&zip).unwrap());
    std::fs::write(&zip, &whole).unwrap();
    let fixed = run(Command::new("zip").arg("-q").arg("-A").arg(&zip));
    assert!(fixed.status.success(), "zip -A failed");
    std::fs::read(&zip).unwrap()
}

fn mail_rest(rng: &mut Rng, payload: &[u8]) -> Vec<u8> {
    let boundary = format!("b{}", rng.range(1000, 9999));
    format!(
        " v\nSubject: s\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"{boundary}\"\n\n\
         --{boundary}\nContent-Type: text/plain\n\nsee attached\n\
         --{boundary}\nContent-Type: application/octet-stream\n\
         Content-Transfer-Encoding: base64\n\
         Content-Disposition: attachment; filename=\"a.bin\"\n\n{}\
         --{boundary}--\n",
        base64_lines(payload, "\n")
    )
    .into_bytes()
}

/// Writes the database and the objects of one seed; returns the number
/// of magic lines and of objects.
fn generate(seed: u64, root: &Path) -> (usize, usize) {
    let mut rng = Rng::new(seed);
    let (db, files) = (root.join("db"), root.join("files"));
    std::fs::create_dir_all(&db).unwrap();
    std::fs::create_dir_all(&files).unwrap();
    let mut magics: Vec<Magic> = Vec::new();
    for _ in 0..rng.range(4, 8) {
        let kind = *rng.pick(&[Type::Html, Type::Zip, Type::Mail]);
        // Mail is read from its first line: the magic is a header name.
        let (offset, bytes) = if kind == Type::Mail {
            (
                0,
                format!(
                    "X{}:",
                    String::from_utf8(words(&mut rng, 4))
                        .unwrap()
                        .replace(' ', "q")
                )
                .into_bytes(),
            )
        } else {
            let mut b = vec![b'Q'];
            let len = rng.range(2, 6) as usize;
            b.extend(words(&mut rng, len));
            (rng.range(0, 48) as usize, b)
        };
        magics.push(Magic { offset, bytes, kind });
    }
    // A later line with an earlier zip line's magic, as HTML: the later
    // wins in both (were it the zip line, a page would be typed a zip
    // and found damaged).
    if let Some(z) = magics.iter().position(|m| m.kind == Type::Zip)
        && rng.chance(2, 3)
    {
        let (offset, bytes) = (magics[z].offset, magics[z].bytes.clone());
        magics.push(Magic { offset, bytes, kind: Type::Html });
    }
    let mut ftm = String::from("# generated\n");
    for (i, m) in magics.iter().enumerate() {
        ftm += &format!(
            "0:{}:{}:Magic {i}:CL_TYPE_ANY:{}\n",
            m.offset,
            hex(&m.bytes),
            m.kind.clamav()
        );
    }
    // An empty magic far in types every object at least that long that
    // no other line types, as HTML; loaded first, it is tried last.
    if rng.chance(1, 3) {
        ftm = format!(
            "0:{}::Anything long:CL_TYPE_ANY:CL_TYPE_HTML\n{ftm}",
            rng.range(600, 1024)
        );
    }
    // A mode a later functionality level defines: skipped by both.
    ftm += "0:0:51:Later:CL_TYPE_ANY:CL_TYPE_ZIP:999\n";
    std::fs::write(db.join("x.ftm"), &ftm).unwrap();

    let mut ndb = String::new();
    let mut n = 0;
    for (i, m) in magics.iter().enumerate() {
        let mark = format!("nodmark{seed}x{i}");
        // HTML signature: fires on the normalised page only.
        ndb += &format!("Ftm.Html.{i}:3:*:{}\n", hex(mark.as_bytes()));
        // Payload signature: fires once a zip or mail is opened.
        let payload = format!("nodpayload{seed}x{i}");
        ndb += &format!("Ftm.Payload.{i}:0:*:{}\n", hex(payload.as_bytes()));
        let inner = payload.repeat(40).into_bytes();
        let html = {
            let mut h = b" <p>".to_vec();
            h.extend(words(&mut rng, 30));
            h.extend(format!(" {mark} ").as_bytes());
            let len = rng.range(10, 1200) as usize;
            h.extend(words(&mut rng, len));
            h
        };
        // The type the object gets: that of the last line with this
        // magic.
        let kind = magics
            .iter()
            .rev()
            .find(|o| o.offset == m.offset && o.bytes == m.bytes)
            .map_or(m.kind, |o| o.kind);
        // Objects behind this line's magic: the page, the payload in a
        // zip and in a mail, each where its type shows. A zip gets only
        // a zip: anything else typed a zip is "not scanned" here, clean
        // for clamscan.
        let prefix = carrier(&mut rng, m, b"");
        let zip = zip_of(root, &format!("{i}"), &inner, &prefix);
        let mut objects = vec![];
        if kind != Type::Zip {
            objects.push(carrier(&mut rng, m, &html));
        }
        objects.push(zip);
        if m.offset == 0 && kind != Type::Zip {
            let rest = mail_rest(&mut rng, &inner);
            objects.push(carrier(&mut rng, m, &rest));
        }
        for (j, o) in objects.into_iter().enumerate() {
            let mut decoy = o.clone();
            decoy[m.offset] ^= 0x20;
            std::fs::write(files.join(format!("m{i}-{j}")), &o).unwrap();
            // A mail without its magic would look like mail to built-in
            // typing, which clamscan has none of beside an .ftm.
            if !o.ends_with(b"--\n") {
                std::fs::write(files.join(format!("m{i}-{j}-decoy")), decoy)
                    .unwrap();
                n += 1;
            }
            n += 1;
        }
    }
    std::fs::write(db.join("d.ndb"), ndb).unwrap();
    (magics.len(), n)
}

fn diff_one(seed: u64) -> Vec<String> {
    let root = tempfile::tempdir().unwrap();
    let (lines, objects) = generate(seed, root.path());
    let (db, files) = (root.path().join("db"), root.path().join("files"));
    let clam = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "--disable-cache", "-d"])
        .arg(&db)
        .arg(&files));
    assert!(
        matches!(clam.status.code(), Some(0 | 1)),
        "clamscan failed (seed {seed}): {}",
        String::from_utf8_lossy(&clam.stderr)
    );
    let ours = run(Command::new(bin("nod32cli"))
        .args(["--format", "clamscan", "--no-summary", "-d"])
        .arg(&db)
        .arg(&files));
    assert!(
        matches!(ours.status.code(), Some(0 | 1)),
        "nod32cli failed (seed {seed}): {}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let theirs = parse_clamscan_exact(&String::from_utf8_lossy(&clam.stdout));
    let mine = parse_clamscan_exact(&String::from_utf8_lossy(&ours.stdout));
    let odd = |out: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(out)
            .lines()
            .filter(|l| !l.ends_with(": OK") && !l.ends_with(" FOUND"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(
        (theirs.len(), mine.len()),
        (objects, objects),
        "seed {seed}: both report every object; other lines: clamscan \
         {:?}, nod32cli {:?}",
        odd(&clam.stdout),
        odd(&ours.stdout)
    );
    let found = theirs.iter().filter(|t| t.1.is_some()).count();
    // Each line's own kind of object is found by the signature its type
    // opens: the test sees typing, not only raw matches.
    assert!(
        found >= lines,
        "seed {seed}: {found} of {objects} found, for {lines} magic lines"
    );
    println!("seed {seed}: {objects} objects, {found} found by clamscan");
    let mut bad = Vec::new();
    for (t, o) in theirs.iter().zip(&mine) {
        assert_eq!(t.0, o.0);
        if t.1 != o.1 {
            bad.push(format!(
                "seed {seed}: {}: clamscan {:?}, nod32cli {:?}",
                t.0, t.1, o.1
            ));
        }
    }
    if !bad.is_empty() {
        let keep = std::env::temp_dir().join(format!("nod32-ftm-{seed}"));
        let _ = std::fs::remove_dir_all(&keep);
        let _ =
            Command::new("cp").arg("-r").arg(root.path()).arg(&keep).status();
        println!("kept in {}", keep.display());
    }
    bad
}

#[test]
fn database_file_types_agree_with_clamscan() {
    let seeds: Vec<u64> = match std::env::var("NOD32_DIFF_SEED") {
        Ok(s) => vec![s.parse().expect("NOD32_DIFF_SEED is a number")],
        Err(_) => (1..=8).collect(),
    };
    let mut all = Vec::new();
    for s in seeds {
        all.extend(diff_one(s));
    }
    assert!(
        all.is_empty(),
        "{} disagreement(s):\n{}",
        all.len(),
        all.join("\n")
    );
}
