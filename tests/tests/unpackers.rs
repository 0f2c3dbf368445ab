//! Containers made by the real tools at run time, each holding EICAR
//! (built at run time) next to a clean file: nod32cli finds it where
//! clamscan does, with the same name, and a hash signature of the clean
//! member proves that the member itself was extracted.
#![forbid(unsafe_code)]

use std::path::Path;
use std::process::Command;

use nod32_tests::{bin, eicar, parse_clamscan, peer, run};

/// The verdicts of nod32cli and clamscan on `files` with the database
/// directory `db`.
fn both(
    db: &Path,
    files: &[std::path::PathBuf],
) -> Vec<(String, Option<String>, Option<String>)> {
    both_with(db, files, &[])
}

/// [`both`], each tool given the options `opts`.
fn both_with(
    db: &Path,
    files: &[std::path::PathBuf],
    opts: &[&str],
) -> Vec<(String, Option<String>, Option<String>)> {
    let theirs = run(Command::new(peer("clamscan", "clamav"))
        .args(opts)
        .args(["--no-summary", "-d"])
        .arg(db)
        .args(files));
    let ours = run(Command::new(bin("nod32cli"))
        .args(opts)
        .args(["--format", "clamscan", "--no-summary", "-d"])
        .arg(db)
        .args(files));
    let theirs = parse_clamscan(&String::from_utf8_lossy(&theirs.stdout));
    let ours = parse_clamscan(&String::from_utf8_lossy(&ours.stdout));
    assert_eq!(theirs.len(), files.len(), "clamscan: {theirs:?}");
    assert_eq!(ours.len(), files.len(), "nod32cli: {ours:?}");
    // In the order of `files`.
    files
        .iter()
        .map(|f| {
            let f = f.display().to_string();
            let pick = |v: &[(String, Option<String>)]| {
                v.iter().find(|x| x.0 == f).and_then(|x| x.1.clone())
            };
            (f.clone(), pick(&theirs), pick(&ours))
        })
        .collect()
}

#[test]
fn cpio_in_every_layout_made_by_cpio() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("readme.txt"), b"a clean member\n").unwrap();
    std::fs::write(src.join("eicar.com"), eicar()).unwrap();
    let marker = b"nod32 cpio member marker 1234567890\n";
    std::fs::write(src.join("marker.bin"), marker).unwrap();
    let mut archives = Vec::new();
    for format in ["odc", "newc", "crc", "bin"] {
        let out = dir.path().join(format!("t.{format}.cpio"));
        let made = nod32_tests::run_with_input(
            Command::new(peer("cpio", "cpio"))
                .args(["-o", "--quiet", "-H", format])
                .current_dir(&src),
            b"readme.txt\nmarker.bin\neicar.com\n",
        );
        assert!(made.status.success(), "cpio -H {format}");
        std::fs::write(&out, made.stdout).unwrap();
        archives.push(out);
    }
    // EICAR by the built-in-like body signature...
    let db = tempfile::tempdir().unwrap();
    std::fs::write(
        db.path().join("e.ndb"),
        format!("Local.Eicar.Test:0:*:{}\n", nod32_tests::hex(&eicar()[..40])),
    )
    .unwrap();
    for (f, t, o) in both(db.path(), &archives) {
        assert!(t.is_some(), "clamscan misses {f}");
        assert_eq!(t, o, "{f}");
    }
    // ...and the marker member by its MD5, which only the extracted
    // member has.
    let db = tempfile::tempdir().unwrap();
    let md5 = {
        use md5::Digest;
        nod32_tests::hex(&md5::Md5::digest(marker))
    };
    std::fs::write(
        db.path().join("m.hdb"),
        format!("{md5}:{}:Local.Cpio.Member\n", marker.len()),
    )
    .unwrap();
    for (f, t, o) in both(db.path(), &archives) {
        assert_eq!(t.as_deref(), Some("Local.Cpio.Member"), "clamscan on {f}");
        assert_eq!(t, o, "{f}");
    }
}

/// Runs a tool that writes an archive; fails the test with its output.
fn make(cmd: &mut Command) {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// 7z (LZMA2, LZMA, PPMd, solid and not; BZip2 and Deflate, which
/// clamscan cannot open), xz and
/// cabinets (stored, MSZIP) made by 7z, xz and gcab: EICAR found as
/// clamscan finds it, and a clean member's MD5 found inside each, which
/// only extraction can give.
#[test]
fn sevenz_xz_and_cab_made_by_their_tools() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let marker = b"nod32 archive member marker 0987654321\n".repeat(50);
    std::fs::write(src.join("marker.bin"), &marker).unwrap();
    std::fs::write(src.join("eicar.com"), eicar()).unwrap();
    std::fs::write(src.join("readme.txt"), b"clean text\n".repeat(200))
        .unwrap();
    let seven = peer("7z", "p7zip-full");
    let mut archives = Vec::new();
    for (name, method) in [
        ("lzma2", "-m0=LZMA2"),
        ("lzma", "-m0=LZMA"),
        ("bzip2", "-m0=BZip2"),
        ("deflate", "-m0=Deflate"),
        ("ppmd", "-m0=PPMd"),
        ("notsolid", "-ms=off"),
    ] {
        let out = dir.path().join(format!("t.{name}.7z"));
        make(
            Command::new(&seven)
                .args(["a", "-bd", "-y", method])
                .arg(&out)
                .args(["marker.bin", "readme.txt", "eicar.com"])
                .current_dir(&src),
        );
        archives.push(out);
    }
    for f in ["marker.bin", "eicar.com"] {
        let out = dir.path().join(format!("{f}.xz"));
        make(
            Command::new(peer("xz", "xz-utils"))
                .args(["-k", "-c"])
                .arg(src.join(f))
                .stdout(std::fs::File::create(&out).unwrap()),
        );
        archives.push(out);
    }
    for (name, args) in [("stored", &["-c"][..]), ("mszip", &["-c", "-z"][..])]
    {
        let out = dir.path().join(format!("t.{name}.cab"));
        make(
            Command::new(peer("gcab", "gcab"))
                .args(args)
                .arg(&out)
                .args(["marker.bin", "readme.txt", "eicar.com"])
                .current_dir(&src),
        );
        archives.push(out);
    }
    let db = tempfile::tempdir().unwrap();
    let md5 = {
        use md5::Digest;
        nod32_tests::hex(&md5::Md5::digest(&marker))
    };
    std::fs::write(
        db.path().join("m.hdb"),
        format!("{md5}:{}:Local.Archive.Member\n", marker.len()),
    )
    .unwrap();
    std::fs::write(
        db.path().join("e.ndb"),
        format!("Local.Eicar.Test:0:*:{}\n", nod32_tests::hex(&eicar()[..40])),
    )
    .unwrap();
    for (f, t, o) in both(db.path(), &archives) {
        // ClamAV's 7z reader has no BZip2 or Deflate method: it passes
        // those archives as clean; we open them.
        if f.ends_with(".bzip2.7z") || f.ends_with(".deflate.7z") {
            assert!(t.is_none(), "clamscan now opens {f}: compare names");
            assert!(o.is_some(), "{f} not found");
            continue;
        }
        assert!(t.is_some(), "clamscan misses {f}");
        assert_eq!(t, o, "{f}");
    }
    // The member alone: found only by extracting it.
    std::fs::remove_file(src.join("eicar.com")).unwrap();
    std::fs::remove_file(db.path().join("e.ndb")).unwrap();
    let only = dir.path().join("only.7z");
    make(
        Command::new(&seven)
            .args(["a", "-bd", "-y"])
            .arg(&only)
            .arg("marker.bin")
            .current_dir(&src),
    );
    let cab = dir.path().join("only.cab");
    make(
        Command::new(peer("gcab", "gcab"))
            .args(["-c", "-z"])
            .arg(&cab)
            .arg("marker.bin")
            .current_dir(&src),
    );
    for (f, t, o) in
        both(db.path(), &[only, cab, dir.path().join("marker.bin.xz")])
    {
        assert_eq!(
            t.as_deref(),
            Some("Local.Archive.Member"),
            "clamscan on {f}"
        );
        assert_eq!(t, o, "{f}");
    }
}

/// A 7z whose contents and names are encrypted (7z -p -mhe): not
/// scanned, said so (exit 3 in NOD32's codes), never clean.
#[test]
fn encrypted_7z_is_not_scanned() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("eicar.com"), eicar()).unwrap();
    let out = dir.path().join("secret.7z");
    make(
        Command::new(peer("7z", "p7zip-full"))
            .args(["a", "-bd", "-y", "-psecret", "-mhe=on"])
            .arg(&out)
            .arg("eicar.com")
            .current_dir(dir.path()),
    );
    let r = run(Command::new(bin("nod32cli")).arg(&out));
    let said = String::from_utf8_lossy(&r.stdout);
    assert_eq!(r.status.code(), Some(3), "{said}");
    assert!(said.to_lowercase().contains("encrypt"), "{said}");
}

/// Encrypted zip (zip -P), 7z (7z -p) and 7z with encrypted names (-mhe):
/// with --alert-encrypted both scanners name them
/// Heuristics.Encrypted.Zip / .7Zip; without it neither alerts.
#[test]
fn encrypted_archives_alert_like_clamscan() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("a.txt"), b"quarterly figures\n".repeat(20))
        .unwrap();
    make(
        Command::new(peer("zip", "zip"))
            .args(["-q", "-P", "secret", "e.zip", "a.txt"])
            .current_dir(d),
    );
    for (name, extra) in [("e.7z", None), ("eh.7z", Some("-mhe=on"))] {
        let mut c = Command::new(peer("7z", "p7zip-full"));
        c.args(["a", "-bd", "-y", "-psecret"]);
        if let Some(x) = extra {
            c.arg(x);
        }
        make(c.args([name, "a.txt"]).current_dir(d));
    }
    let files: Vec<std::path::PathBuf> =
        ["e.zip", "e.7z", "eh.7z"].iter().map(|f| d.join(f)).collect();
    let db = tempfile::tempdir().unwrap();
    std::fs::write(db.path().join("x.ndb"), "Nothing:0:*:0102030405060708\n")
        .unwrap();
    let with = |alert: bool| {
        let args: &[&str] = if alert { &["--alert-encrypted"] } else { &[] };
        let t = run(Command::new(peer("clamscan", "clamav"))
            .args(["--no-summary", "-d"])
            .arg(db.path())
            .args(args)
            .args(&files));
        let o = run(Command::new(bin("nod32cli"))
            .args(["--format", "clamscan", "--no-summary", "-d"])
            .arg(db.path())
            .args(args)
            .args(&files));
        (
            parse_clamscan(&String::from_utf8_lossy(&t.stdout)),
            parse_clamscan(&String::from_utf8_lossy(&o.stdout)),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            o.status.code(),
        )
    };
    let (t, o, _, _) = with(true);
    println!("clamscan {t:?}\nnod32cli {o:?}");
    assert_eq!(t, o);
    let name = |f: &str| {
        t.iter().find(|x| x.0.ends_with(f)).and_then(|x| x.1.clone())
    };
    assert_eq!(name("/e.zip").as_deref(), Some("Heuristics.Encrypted.Zip"));
    assert_eq!(name("/e.7z").as_deref(), Some("Heuristics.Encrypted.7Zip"));
    assert_eq!(name("/eh.7z").as_deref(), Some("Heuristics.Encrypted.7Zip"));
    // Without the alert clamscan says OK; nod32cli says it could not
    // look, and exits 2 as for an error.
    let (t, _, out, code) = with(false);
    assert!(t.iter().all(|x| x.1.is_none()));
    for f in &files {
        let line = format!("{}: Not scanned (encrypted) ERROR", f.display());
        assert!(out.lines().any(|l| l == line), "{line:?} in {out}");
    }
    assert_eq!(code, Some(2));
}

/// ARJ archives made by arj with each of its methods (0 stored to 4
/// fastest): clamscan's verdicts, and the marker member's hash found
/// inside (extraction). A garbled (password) archive is not scanned; with
/// --alert-encrypted we name it Heuristics.Encrypted.ARJ where clamscan,
/// which has no such alert for ARJ, says OK (pinned here).
#[test]
fn arj_archives_made_by_arj() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let marker = b"nod32 arj member marker 24680\n".repeat(60);
    std::fs::write(d.join("marker.bin"), &marker).unwrap();
    std::fs::write(d.join("eicar.com"), eicar()).unwrap();
    std::fs::write(d.join("readme.txt"), b"clean words\n".repeat(300))
        .unwrap();
    let arj = peer("arj", "arj");
    let mut with_eicar = Vec::new();
    let mut only_marker = Vec::new();
    for m in 0..=4 {
        for (list, files) in [
            (&mut with_eicar, &["readme.txt", "eicar.com"][..]),
            (&mut only_marker, &["readme.txt", "marker.bin"][..]),
        ] {
            let out = d.join(format!("t{m}.{}.arj", files[1]));
            make(
                Command::new(&arj)
                    .args(["a", &format!("-m{m}"), "-y"])
                    .arg(&out)
                    .args(files)
                    .current_dir(d),
            );
            list.push(out);
        }
    }
    let db = tempfile::tempdir().unwrap();
    std::fs::write(
        db.path().join("e.ndb"),
        format!("Local.Eicar.Test:0:*:{}\n", nod32_tests::hex(&eicar()[..40])),
    )
    .unwrap();
    for (f, t, o) in both(db.path(), &with_eicar) {
        assert!(t.is_some(), "clamscan misses {f}");
        assert_eq!(t, o, "{f}");
    }
    std::fs::remove_file(db.path().join("e.ndb")).unwrap();
    let md5 = {
        use md5::Digest;
        nod32_tests::hex(&md5::Md5::digest(&marker))
    };
    std::fs::write(
        db.path().join("m.hdb"),
        format!("{md5}:{}:Local.Arj.Member\n", marker.len()),
    )
    .unwrap();
    for (f, t, o) in both(db.path(), &only_marker) {
        assert_eq!(t.as_deref(), Some("Local.Arj.Member"), "clamscan on {f}");
        assert_eq!(t, o, "{f}");
    }
    let garbled = d.join("secret.arj");
    make(
        Command::new(&arj)
            .args(["a", "-y", "-gsecret"])
            .arg(&garbled)
            .arg("marker.bin")
            .current_dir(d),
    );
    let t = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "--alert-encrypted", "-d"])
        .arg(db.path())
        .arg(&garbled));
    assert!(String::from_utf8_lossy(&t.stdout).trim().ends_with(": OK"));
    let o = run(Command::new(bin("nod32cli"))
        .args([
            "--format",
            "clamscan",
            "--no-summary",
            "--alert-encrypted",
            "-d",
        ])
        .arg(db.path())
        .arg(&garbled));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("Heuristics.Encrypted.ARJ FOUND"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let plain = run(Command::new(bin("nod32cli"))
        .arg("-d")
        .arg(db.path())
        .arg(&garbled));
    assert_eq!(plain.status.code(), Some(3), "not scanned, said so");
}

/// RAR in its three families (1.5-4.x as RAR 2.9, RAR 5, RAR 7), solid
/// and not, stored and compressed. No free RAR writer is packaged in
/// Debian main, and Debian's clamscan has no UnRAR (libclamunrar is
/// non-free), so the archives come from the rars crate's writer and
/// libarchive (bsdtar) is the independent reader that checks they are
/// real RAR: wherever it can read one (all but solid RAR 4) it must give
/// back the very members. nod32cli finds EICAR in each, and a clean member
/// by its MD5 alone (extraction, not a raw match).
#[test]
fn rar_archives_of_every_family() {
    use rars::ArchiveVersion as V;
    let dir = tempfile::tempdir().unwrap();
    let marker = b"nod32 rar member marker 1234567890\n".repeat(80);
    let text = b"plain words for the compressor\n".repeat(300);
    let bsdtar = peer("bsdtar", "libarchive-tools");
    let mut with_eicar = Vec::new();
    let mut only_marker = Vec::new();
    let mut verified = 0;
    for (label, version) in
        [("rar29", V::Rar29), ("rar50", V::Rar50), ("rar70", V::Rar70)]
    {
        for (mode, solid, store) in [
            ("solid", true, false),
            ("plain", false, false),
            ("stored", false, true),
        ] {
            for eicar_too in [true, false] {
                let mut b = rars::builder::Builder::new(version)
                    .solid(solid)
                    .store(store);
                b.add_bytes(b"readme.txt".to_vec(), text.clone(), None, None)
                    .unwrap();
                b.add_bytes(
                    b"marker.bin".to_vec(),
                    marker.clone(),
                    None,
                    None,
                )
                .unwrap();
                if eicar_too {
                    b.add_bytes(b"eicar.com".to_vec(), eicar(), None, None)
                        .unwrap();
                }
                let kind = if eicar_too { "e" } else { "m" };
                let f = dir.path().join(format!("{kind}.{label}.{mode}.rar"));
                std::fs::write(&f, b.to_bytes().unwrap()).unwrap();
                let out = dir.path().join(format!("x.{kind}.{label}.{mode}"));
                std::fs::create_dir(&out).unwrap();
                let x = run(Command::new(&bsdtar)
                    .arg("-xf")
                    .arg(&f)
                    .arg("-C")
                    .arg(&out));
                if x.status.success() {
                    assert_eq!(
                        std::fs::read(out.join("marker.bin")).unwrap(),
                        marker
                    );
                    assert_eq!(
                        std::fs::read(out.join("readme.txt")).unwrap(),
                        text
                    );
                    verified += 1;
                } else {
                    assert!(
                        solid && label == "rar29",
                        "libarchive cannot read {f:?}: {}",
                        String::from_utf8_lossy(&x.stderr)
                    );
                }
                if eicar_too {
                    with_eicar.push(f);
                } else {
                    only_marker.push(f);
                }
            }
        }
    }
    assert_eq!(
        verified, 16,
        "every archive but solid RAR 4 read back by libarchive"
    );
    let md5 = {
        use md5::Digest;
        nod32_tests::hex(&md5::Md5::digest(&marker))
    };
    let db = tempfile::tempdir().unwrap();
    std::fs::write(
        db.path().join("t.ndb"),
        format!("Local.Eicar.Test:0:*:{}\n", nod32_tests::hex(&eicar()[..40])),
    )
    .unwrap();
    std::fs::write(
        db.path().join("m.hdb"),
        format!("{md5}:{}:Local.Rar.Member\n", marker.len()),
    )
    .unwrap();
    let scan = |files: &[std::path::PathBuf]| {
        let o = run(Command::new(bin("nod32cli"))
            .args(["--format", "clamscan", "--no-summary", "-d"])
            .arg(db.path())
            .args(files));
        parse_clamscan(&String::from_utf8_lossy(&o.stdout))
    };
    for (f, v) in scan(&with_eicar) {
        println!("{f}: {v:?}");
        // The marker comes first in the archive: its hash names it.
        assert_eq!(v.as_deref(), Some("Local.Rar.Member"), "{f}");
    }
    std::fs::write(db.path().join("m.hdb"), "").unwrap();
    for (f, v) in scan(&with_eicar) {
        assert_eq!(v.as_deref(), Some("Local.Eicar.Test"), "{f}");
    }
    std::fs::remove_file(db.path().join("t.ndb")).unwrap();
    std::fs::write(
        db.path().join("m.hdb"),
        format!("{md5}:{}:Local.Rar.Member\n", marker.len()),
    )
    .unwrap();
    for (f, v) in scan(&only_marker) {
        assert_eq!(v.as_deref(), Some("Local.Rar.Member"), "{f}");
    }
}

/// LHA archives made by jlha (LHa for Java) with each method it writes
/// (`-lh0-` stored, `-lh5-`, `-lh6-`, `-lh7-`) and each header level (0,
/// 1, 2): EICAR found as clamscan finds it, and a clean member's MD5
/// found inside each, which only extraction can give.
#[test]
fn lha_archives_made_by_jlha() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    let marker = b"nod32 lha member marker 13579\n".repeat(80);
    std::fs::write(src.join("marker.bin"), &marker).unwrap();
    std::fs::write(src.join("eicar.com"), eicar()).unwrap();
    let jlha = peer("jlha", "jlha-utils");
    let mut archives = Vec::new();
    for method in ["z", "o5", "o6", "o7"] {
        for level in ["0", "1", "2"] {
            let out = dir.path().join(format!("t-{method}-{level}.lzh"));
            make(
                Command::new(&jlha)
                    // The level before the method: jlha reads the
                    // digits after `o` as the method's.
                    .arg(format!("a{level}{method}q"))
                    .arg(&out)
                    .args(["marker.bin", "eicar.com"])
                    .current_dir(&src),
            );
            archives.push(out);
        }
    }
    // Each method and level as written in the archive, so that a tool
    // that quietly wrote another one cannot pass for it.
    for a in &archives {
        let bytes = std::fs::read(a).unwrap();
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        let level = name.split(['-', '.']).nth(2).unwrap();
        assert_eq!(bytes[20].to_string(), level, "{name}: header level");
        let want: &[u8] = match name.split('-').nth(1) {
            Some("z") => b"-lh0-",
            Some("o5") => b"-lh5-",
            Some("o6") => b"-lh6-",
            _ => b"-lh7-",
        };
        assert!(bytes.windows(5).any(|w| w == want), "{name}");
    }
    let db = tempfile::tempdir().unwrap();
    let md5 = |d: &[u8]| {
        use md5::Digest;
        nod32_tests::hex(&md5::Md5::digest(d))
    };
    std::fs::write(
        db.path().join("l.hdb"),
        format!(
            "{}:{}:Local.Lha.Member\n{}:{}:Eicar-Test-Signature\n",
            md5(&marker),
            marker.len(),
            md5(&eicar()),
            eicar().len()
        ),
    )
    .unwrap();
    let sigs = std::fs::read_to_string(db.path().join("l.hdb")).unwrap();
    for (f, t, o) in both(db.path(), &archives) {
        assert!(t.is_some(), "clamscan misses {f}");
        assert_eq!(t, o, "{f}");
    }
    // Each member on its own: the marker alone, then EICAR alone.
    for (keep, name) in [(0, "Local.Lha.Member"), (1, "Eicar-Test-Signature")]
    {
        let one = tempfile::tempdir().unwrap();
        let line = sigs.lines().nth(keep).unwrap();
        std::fs::write(one.path().join("one.hdb"), format!("{line}\n"))
            .unwrap();
        for (f, t, o) in both(one.path(), &archives) {
            assert_eq!(t.as_deref(), Some(name), "clamscan on {f}");
            assert_eq!(t, o, "{f}");
        }
    }
}

/// ISO 9660 images made by genisoimage: plain, with Joliet names, with
/// Rock Ridge, and a UDF bridge image; a file in a subdirectory. EICAR
/// and a clean member's MD5 are found in each as clamscan finds them,
/// which only extraction can give.
#[test]
fn iso_images_made_by_genisoimage() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("deep/er")).unwrap();
    let marker = b"nod32 iso member marker 24680\n".repeat(100);
    std::fs::write(src.join("deep/er/marker.bin"), &marker).unwrap();
    std::fs::write(src.join("deep/eicar.com"), eicar()).unwrap();
    std::fs::write(src.join("readme.txt"), b"clean\n").unwrap();
    let mkisofs = peer("genisoimage", "genisoimage");
    let mut images = Vec::new();
    for (name, opts) in [
        ("plain", &[][..]),
        ("joliet", &["-J"][..]),
        ("rockridge", &["-R"][..]),
        ("udf-bridge", &["-J", "-R", "-udf"][..]),
    ] {
        let out = dir.path().join(format!("{name}.iso"));
        make(
            Command::new(&mkisofs)
                .arg("-quiet")
                .args(opts)
                .arg("-o")
                .arg(&out)
                .arg(&src),
        );
        images.push(out);
    }
    // The system area is free: `MZ` or a GIF header there must not hide
    // the image.
    for (name, head) in [("mz", &b"MZ\x90\x00"[..]), ("gif", b"GIF89a")] {
        let mut img = std::fs::read(&images[1]).unwrap();
        img[..head.len()].copy_from_slice(head);
        let out = dir.path().join(format!("{name}-system-area.iso"));
        std::fs::write(&out, img).unwrap();
        images.push(out);
    }
    let md5 = |d: &[u8]| {
        use md5::Digest;
        nod32_tests::hex(&md5::Md5::digest(d))
    };
    for (sig, name) in [
        (format!("{}:{}", md5(&marker), marker.len()), "Local.Iso.Member"),
        (
            format!("{}:{}", md5(&eicar()), eicar().len()),
            "Eicar-Test-Signature",
        ),
    ] {
        let db = tempfile::tempdir().unwrap();
        std::fs::write(db.path().join("i.hdb"), format!("{sig}:{name}\n"))
            .unwrap();
        for (f, t, o) in both(db.path(), &images) {
            assert_eq!(t.as_deref(), Some(name), "clamscan on {f}");
            assert_eq!(t, o, "{f}");
        }
    }
}

/// OneNote sections as a lure carries them: files in FileDataStoreObjects
/// (MS-ONESTORE 2.6.13) after the section's header, written here (no
/// Debian tool writes OneNote). EICAR and a clean member's MD5 are found
/// as clamscan finds them; a section whose last object is cut short is
/// still scanned as far as it goes, in both.
#[test]
fn onenote_sections_carry_their_files() {
    const MAGIC: [u8; 16] = [
        0xe4, 0x52, 0x5c, 0x7b, 0x8c, 0xd8, 0xa7, 0x4d, 0xae, 0xb1, 0x53,
        0x78, 0xd0, 0x29, 0x96, 0xd3,
    ];
    const FILE_DATA: [u8; 16] = [
        0xe7, 0x16, 0xe3, 0xbd, 0x65, 0x26, 0x11, 0x45, 0xa4, 0xc4, 0x8d,
        0x4d, 0x0b, 0x7a, 0x9e, 0xac,
    ];
    let object = |d: &[u8]| {
        let mut o = FILE_DATA.to_vec();
        o.extend((d.len() as u64).to_le_bytes());
        o.extend([0u8; 12]);
        o.extend(d);
        o.resize(o.len().next_multiple_of(8), 0);
        o
    };
    let marker = b"nod32 onenote member marker 97531\n".repeat(30);
    let dir = tempfile::tempdir().unwrap();
    let mut section = MAGIC.to_vec();
    section.resize(1024, 0);
    section.extend(object(&marker));
    section.extend(object(&eicar()));
    let whole = dir.path().join("lure.one");
    std::fs::write(&whole, &section).unwrap();
    let mut cut = MAGIC.to_vec();
    cut.resize(1024, 0);
    cut.extend(object(&marker));
    cut.extend(&object(&eicar())[..60]);
    let cut_file = dir.path().join("cut.one");
    std::fs::write(&cut_file, &cut).unwrap();
    let md5 = |d: &[u8]| {
        use md5::Digest;
        nod32_tests::hex(&md5::Md5::digest(d))
    };
    for (sig, name, files) in [
        (
            format!("{}:{}", md5(&marker), marker.len()),
            "Local.OneNote.Member",
            vec![whole.clone(), cut_file.clone()],
        ),
        (
            format!("{}:{}", md5(&eicar()), eicar().len()),
            "Eicar-Test-Signature",
            vec![whole.clone()],
        ),
    ] {
        let db = tempfile::tempdir().unwrap();
        std::fs::write(db.path().join("o.hdb"), format!("{sig}:{name}\n"))
            .unwrap();
        for (f, t, o) in both(db.path(), &files) {
            assert_eq!(t.as_deref(), Some(name), "clamscan on {f}");
            assert_eq!(t, o, "{f}");
        }
    }
}

/// An OOXML workbook encrypted as Excel encrypts it when no password is
/// given (`VelvetSweatshop`, ECMA-376 Standard Encryption, AES-128),
/// written by `tests/data/office/encrypt.py` (no Debian tool writes this
/// form): the package is decrypted and its members scanned, as clamscan
/// does; with another password it stays encrypted (not scanned, and
/// `Heuristics.Encrypted.OLE2` when asked for).
#[test]
fn office_packages_encrypted_with_the_default_password() {
    let dir = tempfile::tempdir().unwrap();
    let marker = b"nod32 velvet package member marker 24680\n".repeat(20);
    let book = dir.path().join("book.xlsx");
    {
        use std::io::Write;
        let mut z = zip::ZipWriter::new(std::fs::File::create(&book).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        z.start_file("[Content_Types].xml", opts).unwrap();
        z.write_all(b"<Types/>").unwrap();
        z.start_file("xl/embeddings/oleObject1.bin", opts).unwrap();
        z.write_all(&marker).unwrap();
        z.start_file("xl/media/eicar.com", opts).unwrap();
        z.write_all(&eicar()).unwrap();
        z.finish().unwrap();
    }
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/office/encrypt.py");
    let python = Path::new("/usr/bin/python3");
    assert!(
        Path::new("/usr/lib/python3/dist-packages/cryptography/__init__.py")
            .exists(),
        "python3-cryptography is not installed: apt-get install \
         python3-cryptography (cargo xtask test installs it)"
    );
    let mut files = Vec::new();
    for password in ["VelvetSweatshop", "secret"] {
        let out = dir.path().join(format!("{password}.xls"));
        let made = run(Command::new(python)
            .arg(&script)
            .arg(password)
            .arg(&book)
            .arg(&out));
        assert!(made.status.success(), "{made:?}");
        let bytes = std::fs::read(&out).unwrap();
        assert!(!bytes.windows(20).any(|w| w == &marker[..20]), "encrypted");
        files.push(out);
    }
    let md5 = |d: &[u8]| {
        use md5::Digest;
        nod32_tests::hex(&md5::Md5::digest(d))
    };
    let db = tempfile::tempdir().unwrap();
    std::fs::write(
        db.path().join("o.hdb"),
        format!("{}:{}:Local.Velvet.Member\n", md5(&marker), marker.len()),
    )
    .unwrap();
    let theirs = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "-d"])
        .arg(db.path())
        .args(&files));
    let ours = run(Command::new(bin("nod32cli"))
        .args(["--format", "clamscan", "--no-summary", "-d"])
        .arg(db.path())
        .args(&files));
    let theirs = parse_clamscan(&String::from_utf8_lossy(&theirs.stdout));
    let text = String::from_utf8_lossy(&ours.stdout);
    let ours = parse_clamscan(&text);
    let found = Some("Local.Velvet.Member".to_string());
    let velvet = files[0].display().to_string();
    let secret = files[1].display().to_string();
    assert_eq!(
        theirs,
        vec![(velvet.clone(), found.clone()), (secret.clone(), None)]
    );
    assert_eq!(ours, vec![(velvet, found)], "{text}");
    assert!(
        text.contains(&format!("{secret}: Not scanned (encrypted)")),
        "{text}"
    );

    // EICAR in the same package: the usual name, from both.
    let eicar_db = tempfile::tempdir().unwrap();
    std::fs::write(
        eicar_db.path().join("e.hdb"),
        format!("{}:{}:Eicar-Test-Signature\n", md5(&eicar()), eicar().len()),
    )
    .unwrap();
    for (f, t, o) in both(eicar_db.path(), &files[..1]) {
        assert_eq!(
            t.as_deref(),
            Some("Eicar-Test-Signature"),
            "clamscan on {f}"
        );
        assert_eq!(t, o, "{f}");
    }

    // Another password: the alert clamscan gives on request, ours too.
    let alert = run(Command::new(bin("nod32cli"))
        .args([
            "--format",
            "clamscan",
            "--no-summary",
            "--alert-encrypted-doc",
            "-d",
        ])
        .arg(db.path())
        .arg(&files[1]));
    assert!(
        String::from_utf8_lossy(&alert.stdout)
            .contains("Heuristics.Encrypted.OLE2 FOUND"),
        "{alert:?}"
    );
}

/// One ALZ local file header and its data; `width` is the byte width of
/// the two size fields (the descriptor's high nibble), `encrypted` adds
/// the 12-byte check ALZip writes before encrypted data.
fn alz_entry(
    name: &str,
    directory: bool,
    width: u8,
    encrypted: bool,
    method: u8,
    packed: &[u8],
    size: u64,
) -> Vec<u8> {
    let mut e = 0x015a_4c42u32.to_le_bytes().to_vec();
    e.extend((name.len() as u16).to_le_bytes());
    e.push(if directory { 0x10 } else { 0x20 });
    e.extend(0x5a21_3c4du32.to_le_bytes()); // a DOS time
    e.push(width << 4 | u8::from(encrypted));
    e.push(0);
    if width > 0 {
        e.extend([method, 0]);
        e.extend(0u32.to_le_bytes()); // CRC, unchecked by either reader
        e.extend(&(packed.len() as u64).to_le_bytes()[..usize::from(width)]);
        e.extend(&size.to_le_bytes()[..usize::from(width)]);
    }
    e.extend(name.as_bytes());
    if encrypted {
        e.extend([0x55; 12]);
    }
    e.extend(packed);
    e
}

/// ALZ archives (ALZip's format; no Debian tool writes it, so the test
/// writes it from the format: ALZ file header, local headers, the
/// central directory and end records) with stored, deflated and bzip2'd
/// members, every size width, a directory and an encrypted member:
/// nod32cli finds EICAR and the marker member where clamscan does.
#[test]
fn alz_archives_of_every_method_and_width() {
    use std::io::Write;
    let deflate = |d: &[u8]| {
        let mut e = flate2::write::DeflateEncoder::new(
            Vec::new(),
            flate2::Compression::best(),
        );
        e.write_all(d).unwrap();
        e.finish().unwrap()
    };
    let bzip2 = |d: &[u8]| {
        let mut e = bzip2::write::BzEncoder::new(
            Vec::new(),
            bzip2::Compression::best(),
        );
        e.write_all(d).unwrap();
        e.finish().unwrap()
    };
    let marker = b"nod32 alz member marker 1357924680\n".repeat(40);
    let small = b"nod32 alz small member 97531\n".to_vec();
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    type Packer<'a> = &'a dyn Fn(&[u8]) -> Vec<u8>;
    let methods: [(&str, u8, Packer<'_>); 3] = [
        ("stored", 0, &|d: &[u8]| d.to_vec()),
        ("bzip2", 1, &bzip2),
        ("deflate", 2, &deflate),
    ];
    for (label, method, pack) in methods {
        for width in [1u8, 2, 4, 8] {
            // A one-byte size field holds a small member only.
            let payload = if width == 1 { &small } else { &marker };
            let packed = pack(payload);
            if packed.len() > 255 && width == 1 {
                continue;
            }
            let mut a = b"ALZ\x01\x0a\x00\x00\x00".to_vec();
            a.extend(alz_entry("docs/", true, 0, false, 0, &[], 0));
            a.extend(alz_entry(
                "docs/readme.txt",
                false,
                width,
                false,
                method,
                &packed,
                payload.len() as u64,
            ));
            let ep = pack(&eicar());
            a.extend(alz_entry(
                "docs/secret.com",
                false,
                2,
                true,
                method,
                &ep,
                68,
            ));
            a.extend(alz_entry("eicar.com", false, 4, false, method, &ep, 68));
            a.extend(0x015a_4c43u32.to_le_bytes());
            a.extend([0u8; 12]);
            a.extend(0x025a_4c43u32.to_le_bytes());
            a.extend([0u8; 4]);
            let f = dir.path().join(format!("{label}-w{width}.alz"));
            std::fs::write(&f, a).unwrap();
            files.push((f, payload.clone()));
        }
    }
    assert_eq!(files.len(), 12, "every method at every width");
    let md5 = |d: &[u8]| {
        use md5::Digest;
        nod32_tests::hex(&md5::Md5::digest(d))
    };
    let paths: Vec<_> = files.iter().map(|(f, _)| f.clone()).collect();
    let db = tempfile::tempdir().unwrap();
    std::fs::write(
        db.path().join("a.hdb"),
        format!(
            "{}:{}:Local.Alz.Member\n{}:{}:Local.Alz.Small\n",
            md5(&marker),
            marker.len(),
            md5(&small),
            small.len()
        ),
    )
    .unwrap();
    for (f, t, o) in both(db.path(), &paths) {
        let want = if f.contains("-w1") {
            "Local.Alz.Small"
        } else {
            "Local.Alz.Member"
        };
        assert_eq!(t.as_deref(), Some(want), "clamscan on {f}");
        assert_eq!(t, o, "{f}");
    }
    let eicar_db = tempfile::tempdir().unwrap();
    std::fs::write(
        eicar_db.path().join("e.hdb"),
        format!("{}:{}:Eicar-Test-Signature\n", md5(&eicar()), eicar().len()),
    )
    .unwrap();
    for (f, t, o) in both(eicar_db.path(), &paths) {
        assert_eq!(
            t.as_deref(),
            Some("Eicar-Test-Signature"),
            "clamscan on {f}"
        );
        assert_eq!(t, o, "{f}");
    }
}

/// UDF images without ISO 9660 descriptors, as lures are made to slip
/// past ISO readers: genisoimage's UDF bridge with its ISO descriptors
/// wiped leaves a real UDF 1.02 file system. nod32cli finds EICAR and the
/// marker (deep in directories, under a long Unicode name) in it and in
/// the bridge; clamscan finds them in the bridge only (its UDF reader
/// walks one writer's layout, not this one), so its word is taken for
/// the bridge and the plain ISO, and the UDF-only image must give the
/// same names.
#[test]
fn udf_images_without_iso_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("Rechnungen/2026/Dezember")).unwrap();
    let marker = b"nod32 udf member marker 97531\n".repeat(200);
    std::fs::write(
        src.join("Rechnungen/2026/Dezember/Übersicht für Kunden.pdf.exe"),
        &marker,
    )
    .unwrap();
    std::fs::write(src.join("Rechnungen/eicar.com"), eicar()).unwrap();
    for i in 0..40 {
        std::fs::write(
            src.join(format!("Rechnungen/clean-{i:02}.txt")),
            format!("clean {i}\n"),
        )
        .unwrap();
    }
    let bridge = dir.path().join("bridge.iso");
    make(
        Command::new(peer("genisoimage", "genisoimage"))
            .args([
                "-quiet",
                "-J",
                "-R",
                "-udf",
                "-input-charset",
                "utf-8",
                "-o",
            ])
            .arg(&bridge)
            .arg(&src),
    );
    let mut img = std::fs::read(&bridge).unwrap();
    let mut wiped = 0;
    for s in 16..32 {
        let at = s * 2048;
        if img.get(at + 1..at + 6) == Some(b"CD001") {
            img[at..at + 2048].fill(0);
            wiped += 1;
        }
    }
    assert!(wiped >= 2, "the bridge had ISO descriptors");
    let udf_only = dir.path().join("udf-only.img");
    std::fs::write(&udf_only, &img).unwrap();
    let md5 = |d: &[u8]| {
        use md5::Digest;
        nod32_tests::hex(&md5::Md5::digest(d))
    };
    for (sig, name) in [
        (format!("{}:{}", md5(&marker), marker.len()), "Local.Udf.Member"),
        (
            format!("{}:{}", md5(&eicar()), eicar().len()),
            "Eicar-Test-Signature",
        ),
    ] {
        let db = tempfile::tempdir().unwrap();
        std::fs::write(db.path().join("u.hdb"), format!("{sig}:{name}\n"))
            .unwrap();
        let verdicts = both(db.path(), &[bridge.clone(), udf_only.clone()]);
        let (bridge_v, udf_v) = (&verdicts[0], &verdicts[1]);
        assert_eq!(
            bridge_v.1.as_deref(),
            Some(name),
            "clamscan on the bridge"
        );
        assert_eq!(bridge_v.2, bridge_v.1, "nod32cli on the bridge");
        assert_eq!(udf_v.1, None, "clamscan on the UDF-only image");
        assert_eq!(
            udf_v.2.as_deref(),
            Some(name),
            "nod32cli on the UDF-only image"
        );
    }
}

/// FAT12, FAT16 and FAT32 volumes made by mkfs.fat and filled by mcopy
/// (subdirectories, a long name), and disks partitioned by sfdisk and
/// parted: an MBR disk whose second FAT volume is a logical partition, a
/// GPT disk, an Apple partition map.
/// ClamAV has no FAT reader: it finds what a raw scan of the image shows
/// (a body signature) and the partitions and boot sector it cuts out
/// (their hashes), and nod32cli must agree on all of that; a member's
/// hash only nod32cli finds, in every image, under the member's long
/// name and the partition it is in.
#[test]
fn fat_images_and_partitioned_disks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let marker = b"nod32 fat member marker 4711\n".repeat(300);
    let long = "Rechnung Dezember 2026.pdf.exe";
    std::fs::write(d.join(long), &marker).unwrap();
    std::fs::write(d.join("eicar.com"), eicar()).unwrap();
    let mcopy = |img: &Path, sector: u64, file: &str, to: &str| {
        make(
            Command::new(peer("mcopy", "mtools"))
                .current_dir(d)
                .arg("-i")
                .arg(format!("{}@@{}", img.display(), sector * 512))
                .args([file, to]),
        );
    };
    // Volumes as files of their own: FAT width, size in KiB.
    let mut volumes = Vec::new();
    for (fat, kib) in [("12", "1440"), ("16", "20480"), ("32", "40960")] {
        let img = d.join(format!("fat{fat}.img"));
        make(
            Command::new(peer("mkfs.fat", "dosfstools"))
                .args(["-F", fat, "-C"])
                .arg(&img)
                .arg(kib),
        );
        make(
            Command::new(peer("mmd", "mtools"))
                .arg("-i")
                .arg(&img)
                .args(["::/Rechnungen", "::/Rechnungen/2026"]),
        );
        for i in 0..30 {
            let name = format!("clean-{i:02}.txt");
            std::fs::write(d.join(&name), format!("clean {i}\n")).unwrap();
            mcopy(&img, 0, &name, "::/Rechnungen/");
        }
        mcopy(&img, 0, long, "::/Rechnungen/2026/");
        mcopy(&img, 0, "eicar.com", "::/");
        volumes.push(img);
    }
    // 16 MiB disks, a FAT volume in the first partition (EICAR) and one
    // in the second (the marker): on the MBR disk, that one is a logical
    // partition inside an extended one. sfdisk writes the MBR and GPT
    // tables, parted the Apple partition map.
    let disk =
        |name: &str, table: &dyn Fn(&Path), volumes: [(u64, &str); 2]| {
            let img = d.join(name);
            std::fs::File::create(&img).unwrap().set_len(16 << 20).unwrap();
            table(&img);
            // Start sector and size in KiB of each volume.
            for (start, kib) in volumes {
                make(
                    Command::new(peer("mkfs.fat", "dosfstools"))
                        .args(["--offset", &start.to_string()])
                        .arg(&img)
                        .arg(kib),
                );
            }
            mcopy(&img, volumes[0].0, "eicar.com", "::/");
            mcopy(&img, volumes[1].0, long, "::/");
            img
        };
    let sfdisk = |table: &'static str| {
        move |img: &Path| {
            let out = nod32_tests::run_with_input(
                Command::new(peer("sfdisk", "fdisk")).arg("-q").arg(img),
                table.as_bytes(),
            );
            assert!(
                out.status.success(),
                "sfdisk: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    let mbr = disk(
        "mbr-disk.img",
        &sfdisk("label: dos\n2048,4096,1\n6144,,5\n8192,16384,6\n"),
        [(2048, "2048"), (8192, "8192")],
    );
    let gpt = disk(
        "gpt-disk.img",
        &sfdisk("label: gpt\n2048,4096\n8192,16384\n"),
        [(2048, "2048"), (8192, "8192")],
    );
    let apm = disk(
        "apm-disk.img",
        &|img: &Path| {
            make(
                Command::new(peer("parted", "parted"))
                    .arg("-s")
                    .arg(img)
                    .args([
                        "mklabel", "mac", "mkpart", "p1", "fat32", "1MiB",
                        "5MiB", "mkpart", "p2", "fat32", "5MiB", "13MiB",
                    ]),
            )
        },
        [(2048, "4096"), (10240, "8192")],
    );
    let md5 = |b: &[u8]| {
        use md5::Digest;
        nod32_tests::hex(&md5::Md5::digest(b))
    };
    let mut all = volumes.clone();
    all.extend([mbr.clone(), gpt.clone(), apm.clone()]);
    // The FAT32 volume is over nod32cli's 25 MB default.
    let opts = ["--max-filesize=100M", "--max-scansize=400M"];
    let scan = |file: &str, line: &str| {
        let db = tempfile::tempdir().unwrap();
        std::fs::write(db.path().join(file), format!("{line}\n")).unwrap();
        both_with(db.path(), &all, &opts)
    };
    // A body signature: the raw image shows it to both.
    let body = format!(
        "Local.Fat.Body:0:*:{}",
        nod32_tests::hex(b"nod32 fat member marker 4711")
    );
    for (f, theirs, ours) in scan("f.ndb", &body) {
        assert_eq!(
            theirs.as_deref(),
            Some("Local.Fat.Body"),
            "clamscan on {f}"
        );
        assert_eq!(ours, theirs, "nod32cli on {f}");
    }
    // The hashes of a partition and of the boot sector: both tools cut
    // them out of the disks.
    let bytes = std::fs::read(&mbr).unwrap();
    let boot = &bytes[..512];
    // mkfs.fat gives each volume its own serial number: a line for each.
    let part1 = |img: &Path, end: usize| {
        let p = std::fs::read(img).unwrap()[2048 * 512..end * 512].to_vec();
        format!("{}:{}:Local.Disk.Partition", md5(&p), p.len())
    };
    for (line, name, on_gpt) in [
        (
            format!(
                "{}\n{}\n{}",
                part1(&mbr, 6144),
                part1(&gpt, 6144),
                part1(&apm, 10240)
            ),
            "Local.Disk.Partition",
            true,
        ),
        (
            format!("{}:512:Local.Disk.Boot", md5(boot)),
            "Local.Disk.Boot",
            false,
        ),
    ] {
        let v = scan("f.hdb", &line);
        for (f, theirs, ours) in v {
            if f.ends_with("mbr-disk.img")
                || (on_gpt
                    && (f.ends_with("gpt-disk.img")
                        || f.ends_with("apm-disk.img")))
            {
                assert_eq!(theirs.as_deref(), Some(name), "clamscan on {f}");
            }
            assert_eq!(ours, theirs, "nod32cli on {f}");
        }
    }
    // A member's hash: only a FAT reader finds it, and says where.
    let member = format!("{}:{}:Local.Fat.Member", md5(&marker), marker.len());
    for (f, theirs, ours) in scan("f.hdb", &member) {
        assert_eq!(theirs, None, "clamscan has no FAT reader: {f}");
        assert_eq!(
            ours.as_deref(),
            Some("Local.Fat.Member"),
            "nod32cli on {f}"
        );
    }
    let db = tempfile::tempdir().unwrap();
    std::fs::write(db.path().join("f.hdb"), format!("{member}\n")).unwrap();
    let out = run(Command::new(bin("nod32cli"))
        .args(opts)
        .args(["--no-summary", "-d"])
        .arg(db.path())
        .args(&all));
    let text = String::from_utf8_lossy(&out.stdout);
    for (img, at) in [
        ("fat12.img", format!("Rechnungen/2026/{long}")),
        ("fat32.img", format!("Rechnungen/2026/{long}")),
        ("mbr-disk.img", format!("partition 5/{long}")),
        ("gpt-disk.img", format!("partition 2/{long}")),
        ("apm-disk.img", format!("partition 3 p2/{long}")),
    ] {
        assert!(
            text.lines()
                .any(|l| l.contains(img)
                    && l.contains(&format!("info=\"{at}\""))),
            "{img}: {text}"
        );
    }
}

/// XAR archives made by bsdtar with each of its compressions (none,
/// gzip, bzip2, lzma, xz): EICAR, a member deep in a directory and the
/// table of contents itself (which ClamAV scans as a child) are found by
/// nod32cli where and as clamscan finds them.
#[test]
fn xar_archives_made_by_bsdtar() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("Payload/Contents")).unwrap();
    let marker = b"nod32 xar member marker 2468\n".repeat(150);
    std::fs::write(src.join("Payload/Contents/Installer Helper"), &marker)
        .unwrap();
    std::fs::write(src.join("eicar.com"), eicar()).unwrap();
    std::fs::write(src.join("README"), "clean\n").unwrap();
    let mut files = Vec::new();
    for c in ["none", "gzip", "bzip2", "lzma", "xz"] {
        let x = dir.path().join(format!("{c}.xar"));
        make(
            Command::new(peer("bsdtar", "libarchive-tools"))
                .args(["-cf"])
                .arg(&x)
                .args(["--format", "xar", "--options"])
                .arg(format!("xar:compression={c}"))
                .arg("-C")
                .arg(&src)
                .arg("."),
        );
        files.push(x);
    }
    let md5 = |d: &[u8]| {
        use md5::Digest;
        nod32_tests::hex(&md5::Md5::digest(d))
    };
    // The table of contents as the archive holds it, inflated: one line
    // per archive (its times differ).
    let tocs: Vec<String> = files
        .iter()
        .map(|f| {
            use std::io::Read;
            let x = std::fs::read(f).unwrap();
            let len = u64::from_be_bytes(x[8..16].try_into().unwrap());
            let mut toc = Vec::new();
            flate2::read::ZlibDecoder::new(&x[28..28 + len as usize])
                .read_to_end(&mut toc)
                .unwrap();
            format!("{}:{}:Local.Xar.Toc", md5(&toc), toc.len())
        })
        .collect();
    for (sig, name) in [
        (
            format!("{}:{}:Local.Xar.Member", md5(&marker), marker.len()),
            "Local.Xar.Member",
        ),
        (
            format!(
                "{}:{}:Eicar-Test-Signature",
                md5(&eicar()),
                eicar().len()
            ),
            "Eicar-Test-Signature",
        ),
        (tocs.join("\n"), "Local.Xar.Toc"),
    ] {
        let db = tempfile::tempdir().unwrap();
        std::fs::write(db.path().join("x.hdb"), format!("{sig}\n")).unwrap();
        for (f, theirs, ours) in both(db.path(), &files) {
            assert_eq!(theirs.as_deref(), Some(name), "clamscan on {f}");
            assert_eq!(ours, theirs, "nod32cli on {f}");
        }
    }
}

/// A UDIF disk image (`.dmg`) as hdiutil writes one, made from the
/// format by this test around a FAT volume from mkfs.fat and mcopy: the
/// volume cut into 64-sector stripes, zlib, bzip2, stored and ADC in
/// turn, runs of zeros as zero stripes, described by a mish block in the
/// property list's `resource-fork` / `blkx`. dmg2img (an independent
/// reader) must give the volume back byte for byte; then clamscan and
/// nod32cli agree on the partition's hash, the property list's and a
/// body signature in a member, and nod32cli alone (with its FAT reader)
/// finds the member's own hash.
#[test]
fn dmg_images_with_every_stripe_kind() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let marker = b"nod32 dmg member marker 1357\n".repeat(200);
    std::fs::write(d.join("Installer.app.exe"), &marker).unwrap();
    std::fs::write(d.join("eicar.com"), eicar()).unwrap();
    let vol = d.join("vol.img");
    make(
        Command::new(peer("mkfs.fat", "dosfstools"))
            .args(["-F", "12", "-C"])
            .arg(&vol)
            .arg("1440"),
    );
    for f in ["Installer.app.exe", "eicar.com"] {
        make(
            Command::new(peer("mcopy", "mtools"))
                .current_dir(d)
                .arg("-i")
                .arg(&vol)
                .args([f, "::/"]),
        );
    }
    let volume = std::fs::read(&vol).unwrap();
    let sectors = volume.len() as u64 / 512;

    // The data fork, and one stripe record per 64 sectors.
    let mut fork = Vec::new();
    let mut stripes = Vec::new();
    for (i, chunk) in volume.chunks(64 * 512).enumerate() {
        let start = (i * 64) as u64;
        let count = chunk.len() as u64 / 512;
        let (kind, bytes): (u32, Vec<u8>) = if chunk.iter().all(|&b| b == 0) {
            (2, Vec::new())
        } else {
            match i % 4 {
                0 => {
                    let mut z = flate2::write::ZlibEncoder::new(
                        Vec::new(),
                        flate2::Compression::default(),
                    );
                    z.write_all(chunk).unwrap();
                    (0x8000_0005, z.finish().unwrap())
                }
                1 => {
                    let mut b = Vec::new();
                    bzip2::read::BzEncoder::new(
                        chunk,
                        bzip2::Compression::default(),
                    )
                    .read_to_end(&mut b)
                    .unwrap();
                    (0x8000_0006, b)
                }
                2 => (1, chunk.to_vec()),
                // ADC, literal runs only: each run a header byte 0x80 | (n - 1).
                _ => (
                    0x8000_0004,
                    chunk
                        .chunks(128)
                        .flat_map(|run| {
                            std::iter::once(0x80 | (run.len() as u8 - 1))
                                .chain(run.iter().copied())
                        })
                        .collect(),
                ),
            }
        };
        stripes.push((
            kind,
            start,
            count,
            fork.len() as u64,
            bytes.len() as u64,
        ));
        fork.extend_from_slice(&bytes);
    }
    stripes.push((0xffff_ffff, sectors, 0, fork.len() as u64, 0));
    let mut mish = b"mish".to_vec();
    mish.extend_from_slice(&1u32.to_be_bytes());
    mish.extend_from_slice(&0u64.to_be_bytes());
    mish.extend_from_slice(&sectors.to_be_bytes());
    mish.extend_from_slice(&0u64.to_be_bytes());
    mish.extend_from_slice(&0x208u32.to_be_bytes());
    mish.extend_from_slice(&0u32.to_be_bytes());
    mish.resize(200, 0);
    mish.extend_from_slice(&(stripes.len() as u32).to_be_bytes());
    for (kind, start, count, offset, length) in &stripes {
        mish.extend_from_slice(&kind.to_be_bytes());
        mish.extend_from_slice(&0u32.to_be_bytes());
        for v in [start, count, offset, length] {
            mish.extend_from_slice(&v.to_be_bytes());
        }
    }
    let b64 = nod32_tests::base64_lines(&mish, "");
    let wrapped: Vec<String> = b64
        .as_bytes()
        .chunks(52)
        .map(|l| format!("\t\t\t\t{}", String::from_utf8_lossy(l)))
        .collect();
    let plist = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \
\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
<plist version=\"1.0\">\n<dict>\n\t<key>resource-fork</key>\n\t<dict>\n\
\t\t<key>blkx</key>\n\t\t<array>\n\t\t\t<dict>\n\
\t\t\t\t<key>Attributes</key>\n\t\t\t\t<string>0x0050</string>\n\
\t\t\t\t<key>CFName</key>\n\t\t\t\t<string>whole disk (DOS_FAT_12 : 0)</string>\n\
\t\t\t\t<key>Data</key>\n\t\t\t\t<data>\n{}\n\t\t\t\t</data>\n\
\t\t\t\t<key>ID</key>\n\t\t\t\t<string>0</string>\n\
\t\t\t\t<key>Name</key>\n\t\t\t\t<string>whole disk (DOS_FAT_12 : 0)</string>\n\
\t\t\t</dict>\n\t\t</array>\n\t</dict>\n</dict>\n</plist>\n",
        wrapped.join("\n")
    );
    let mut koly = vec![0u8; 512];
    koly[..4].copy_from_slice(b"koly");
    koly[4..8].copy_from_slice(&4u32.to_be_bytes());
    koly[8..12].copy_from_slice(&512u32.to_be_bytes());
    koly[12..16].copy_from_slice(&1u32.to_be_bytes());
    koly[0x20..0x28].copy_from_slice(&(fork.len() as u64).to_be_bytes());
    koly[0x38..0x3c].copy_from_slice(&1u32.to_be_bytes());
    koly[0x3c..0x40].copy_from_slice(&1u32.to_be_bytes());
    koly[0xd8..0xe0].copy_from_slice(&(fork.len() as u64).to_be_bytes());
    koly[0xe0..0xe8].copy_from_slice(&(plist.len() as u64).to_be_bytes());
    koly[0x1e8..0x1ec].copy_from_slice(&1u32.to_be_bytes());
    koly[0x1ec..0x1f4].copy_from_slice(&sectors.to_be_bytes());
    let dmg = d.join("Installer.dmg");
    std::fs::write(&dmg, [&fork[..], plist.as_bytes(), &koly].concat())
        .unwrap();

    // An independent reader gives the volume back.
    let back = d.join("back.img");
    make(
        Command::new(peer("dmg2img", "dmg2img"))
            .arg("-s")
            .arg(&dmg)
            .arg(&back),
    );
    assert!(std::fs::read(&back).unwrap() == volume, "dmg2img's copy differs");

    let md5 = |b: &[u8]| {
        use md5::Digest;
        nod32_tests::hex(&md5::Md5::digest(b))
    };
    let files = [dmg.clone()];
    for (file, line, name) in [
        (
            "d.ndb",
            format!(
                "Local.Dmg.Body:0:*:{}",
                nod32_tests::hex(b"dmg member marker 1357")
            ),
            "Local.Dmg.Body",
        ),
        (
            "d.hdb",
            format!("{}:{}:Local.Dmg.Partition", md5(&volume), volume.len()),
            "Local.Dmg.Partition",
        ),
        (
            "d.hdb",
            format!(
                "{}:{}:Local.Dmg.Plist",
                md5(plist.as_bytes()),
                plist.len()
            ),
            "Local.Dmg.Plist",
        ),
    ] {
        let db = tempfile::tempdir().unwrap();
        std::fs::write(db.path().join(file), format!("{line}\n")).unwrap();
        let v = both(db.path(), &files);
        assert_eq!(v[0].1.as_deref(), Some(name), "clamscan");
        assert_eq!(v[0].2, v[0].1, "nod32cli");
    }
    let db = tempfile::tempdir().unwrap();
    std::fs::write(
        db.path().join("d.hdb"),
        format!("{}:{}:Local.Dmg.Member\n", md5(&marker), marker.len()),
    )
    .unwrap();
    let v = both(db.path(), &files);
    assert_eq!(v[0].1, None, "clamscan has no FAT reader");
    assert_eq!(v[0].2.as_deref(), Some("Local.Dmg.Member"), "nod32cli");
}

/// Writes EGG archives from the format (ESTsoft's; no Debian tool writes
/// it): the archive header and its extra fields, then per member a file
/// header with its name, Windows information and (when `encrypted`) a
/// KeyBase encryption field, each header closed by the end mark, then
/// the member's blocks.
mod egg {
    pub const END: u32 = 0x08E2_8222;

    pub fn field(magic: u32, flags: u8, body: &[u8]) -> Vec<u8> {
        let mut f = magic.to_le_bytes().to_vec();
        f.push(flags);
        f.extend((body.len() as u16).to_le_bytes());
        f.extend(body);
        f
    }

    /// A compressed block: 0 stored, 1 deflate, 2 bzip2, 4 LZMA.
    pub fn block(method: u8, packed: &[u8], size: u32) -> Vec<u8> {
        let mut b = 0x02B5_0C13u32.to_le_bytes().to_vec();
        b.extend([method, 0]);
        b.extend(size.to_le_bytes());
        b.extend((packed.len() as u32).to_le_bytes());
        b.extend(0u32.to_le_bytes()); // CRC, unchecked by either reader
        b.extend(END.to_le_bytes());
        b.extend(packed);
        b
    }

    pub fn file(
        name: &str,
        directory: bool,
        encrypted: bool,
        blocks: &[Vec<u8>],
    ) -> Vec<u8> {
        let mut f = 0x0A85_90E3u32.to_le_bytes().to_vec();
        f.extend(1u32.to_le_bytes());
        let length: u32 = blocks
            .iter()
            .map(|b| u32::from_le_bytes(b[6..10].try_into().unwrap()))
            .fold(0, u32::wrapping_add);
        f.extend(u64::from(length).to_le_bytes());
        f.extend(field(0x0A85_91AC, 0, name.as_bytes()));
        let mut info = 0x01d9_0000_0000_0000u64.to_le_bytes().to_vec();
        info.push(if directory { 0x40 } else { 0x20 });
        f.extend(field(0x2C86_950B, 0, &info));
        if encrypted {
            // ALZip counts the field's own seven header bytes in its size.
            let mut e = 0x08D1_470Fu32.to_le_bytes().to_vec();
            e.push(0);
            e.extend(24u16.to_le_bytes());
            e.push(0); // KeyBase (ZIP 2.0's XOR)
            e.extend([0x55; 16]);
            f.extend(e);
        }
        f.extend(END.to_le_bytes());
        for b in blocks {
            f.extend(b);
        }
        f
    }

    pub fn archive(fields: &[Vec<u8>], records: &[Vec<u8>]) -> Vec<u8> {
        let mut a = b"EGGA".to_vec();
        a.extend(0x0100u16.to_le_bytes());
        a.extend(0x2468_ace0u32.to_le_bytes());
        a.extend(0u32.to_le_bytes());
        for f in fields {
            a.extend(f);
        }
        a.extend(END.to_le_bytes());
        for r in records {
            a.extend(r);
        }
        a.extend(END.to_le_bytes());
        a
    }

    /// The split-archive field of a first volume with a next one.
    pub fn split() -> Vec<u8> {
        let ids: Vec<u8> =
            [0u32, 2].iter().flat_map(|i| i.to_le_bytes()).collect();
        field(0x24F5_A262, 0, &ids)
    }

    pub fn solid() -> Vec<u8> {
        field(0x24E5_A060, 0, &[])
    }

    pub fn comment(text: &[u8]) -> Vec<u8> {
        field(0x04C6_3672, 0, text)
    }
}

/// `archive` as the one attachment of a mail, in base64.
fn attached(name: &str, archive: &[u8]) -> Vec<u8> {
    format!(
        "From: a@example.com\nTo: b@example.com\nSubject: {name}\n\
         MIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"egg\"\n\n--egg\n\
         Content-Type: text/plain\n\nSee attached.\n--egg\n\
         Content-Type: application/octet-stream; name=\"{name}\"\n\
         Content-Transfer-Encoding: base64\n\n{}\n--egg--\n",
        nod32_tests::base64(archive)
    )
    .into_bytes()
}

/// What clamscan and nod32cli print after each file's name (`OK`,
/// `<name> FOUND`, `Not scanned (...) ERROR`), by file, with `args`.
fn said(
    db: &Path,
    args: &[&str],
    files: &[std::path::PathBuf],
) -> Vec<(String, String, String)> {
    let lines = |out: std::process::Output| {
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut v: Vec<(String, String)> = text
            .lines()
            .filter_map(|l| l.rsplit_once(": "))
            .map(|(f, v)| (f.to_string(), v.replace(".UNOFFICIAL", "")))
            .collect();
        v.sort();
        v
    };
    let theirs = lines(run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary"])
        .args(args)
        .arg("-d")
        .arg(db)
        .args(files)));
    let ours = lines(run(Command::new(bin("nod32cli"))
        .args(["--format", "clamscan", "--no-summary"])
        .args(args)
        .arg("-d")
        .arg(db)
        .args(files)));
    assert_eq!(theirs.len(), files.len(), "clamscan: {theirs:?}");
    assert_eq!(ours.len(), files.len(), "nod32cli: {ours:?}");
    theirs.into_iter().zip(ours).map(|((f, t), (_, o))| (f, t, o)).collect()
}

/// EGG archives (stored, deflate, bzip2 members; a directory, a UTF-8
/// name, an encrypted member, a split first volume, an archive comment;
/// and what ClamAV does not extract: solid archives, LZMA blocks, an
/// archive whose index fails): nod32cli finds the marker member and
/// EICAR where clamscan does, plain and attached to a mail, and with
/// --alert-encrypted both name the encrypted ones Heuristics.Encrypted.EGG.
#[test]
fn egg_archives_of_every_method() {
    use egg::{archive, block, comment, file, solid, split};
    use std::io::Write;
    let deflate = |d: &[u8]| {
        let mut e = flate2::write::DeflateEncoder::new(
            Vec::new(),
            flate2::Compression::best(),
        );
        e.write_all(d).unwrap();
        e.finish().unwrap()
    };
    let bzip2 = |d: &[u8]| {
        let mut e = bzip2::write::BzEncoder::new(
            Vec::new(),
            bzip2::Compression::best(),
        );
        e.write_all(d).unwrap();
        e.finish().unwrap()
    };
    let marker = b"nod32 egg member marker 8642097531\n".repeat(300);
    let m = marker.len() as u32;
    let e = eicar();
    let dir = tempfile::tempdir().unwrap();
    // (file name, archive, what clamscan must say with the marker's and
    // EICAR's hashes as signatures)
    let mut cases: Vec<(String, Vec<u8>, Option<&str>)> = Vec::new();
    type Packer<'a> = &'a dyn Fn(&[u8]) -> Vec<u8>;
    let methods: [(&str, u8, Packer<'_>); 3] = [
        ("stored", 0, &|d: &[u8]| d.to_vec()),
        ("deflate", 1, &deflate),
        ("bzip2", 2, &bzip2),
    ];
    for (label, method, pack) in methods {
        let members = [
            file("문서", true, false, &[]),
            file(
                "문서/읽어보기.txt",
                false,
                false,
                &[block(method, &pack(&marker), m)],
            ),
            file("secret.com", false, true, &[block(method, &pack(&e), 68)]),
        ];
        cases.push((
            format!("{label}.egg"),
            archive(&[], &members),
            Some("Local.Egg.Member"),
        ));
        let mut with_eicar = members.to_vec();
        with_eicar.remove(1);
        with_eicar.push(file(
            "eicar.com",
            false,
            false,
            &[block(method, &pack(&e), 68)],
        ));
        cases.push((
            format!("{label}-eicar.egg"),
            archive(&[], &with_eicar),
            Some("Eicar-Test-Signature"),
        ));
    }
    // A member in two blocks of two methods, in a split archive's first
    // volume; the archive comment (scanned to its first NUL).
    let half = marker.len() / 2;
    cases.push((
        "split.egg".into(),
        archive(
            &[split()],
            &[file(
                "two-blocks.txt",
                false,
                false,
                &[
                    block(1, &deflate(&marker[..half]), half as u32),
                    block(2, &bzip2(&marker[half..]), m - half as u32),
                ],
            )],
        ),
        Some("Local.Egg.Member"),
    ));
    cases.push((
        "comment.egg".into(),
        archive(
            &[],
            &[
                file("a.txt", false, false, &[block(0, b"a", 1)]),
                comment(&[&e[..], b"\0after"].concat()),
            ],
        ),
        Some("Eicar-Test-Signature"),
    ));
    // Not extracted by ClamAV: a solid archive, an LZMA block, junk where
    // the end mark should be (its index fails, so nothing is read).
    cases.push((
        "solid.egg".into(),
        archive(
            &[solid()],
            &[
                file("eicar.com", false, false, &[]),
                block(1, &deflate(&e), 68),
            ],
        ),
        None,
    ));
    cases.push((
        "lzma.egg".into(),
        archive(&[], &[file("m.txt", false, false, &[block(4, &marker, m)])]),
        None,
    ));
    let mut junk = archive(
        &[],
        &[file("m.txt", false, false, &[block(1, &deflate(&marker), m)])],
    );
    junk.truncate(junk.len() - 4);
    junk.extend(b"JUNK");
    cases.push(("junk.egg".into(), junk, None));
    let mut files = Vec::new();
    for (name, a, _) in &cases {
        let plain = dir.path().join(name);
        std::fs::write(&plain, a).unwrap();
        let mail = dir.path().join(format!("{name}.eml"));
        std::fs::write(&mail, attached(name, a)).unwrap();
        files.push(plain);
        files.push(mail);
    }
    let md5 = |d: &[u8]| {
        use md5::Digest;
        nod32_tests::hex(&md5::Md5::digest(d))
    };
    let db = tempfile::tempdir().unwrap();
    std::fs::write(
        db.path().join("a.hdb"),
        format!(
            "{}:{}:Local.Egg.Member\n{}:68:Eicar-Test-Signature\n",
            md5(&marker),
            marker.len(),
            md5(&e)
        ),
    )
    .unwrap();
    // Where ClamAV extracts nothing it says OK and nod32cli says it
    // could not look.
    for (f, t, o) in said(db.path(), &[], &files) {
        let case = cases
            .iter()
            .find(|c| {
                f.ends_with(&c.0) || f.ends_with(&format!("{}.eml", c.0))
            })
            .unwrap();
        match case.2 {
            Some(name) => {
                assert_eq!(t, format!("{name} FOUND"), "clamscan on {f}");
                assert_eq!(t, o, "{f}");
            }
            None => {
                assert_eq!(t, "OK", "clamscan on {f}");
                assert_eq!(o, "Not scanned (malformed EGG) ERROR", "{f}");
            }
        }
    }
    // With --alert-encrypted, clamscan's walk ends at the encrypted
    // member: the archives naming it before EICAR are
    // Heuristics.Encrypted.EGG for both, the split one (without it) is
    // not.
    let alerted: Vec<_> = files
        .iter()
        .filter(|f| {
            let f = f.to_string_lossy();
            f.contains("-eicar.egg") || f.contains("split.egg")
        })
        .cloned()
        .collect();
    for (f, t, o) in said(db.path(), &["--alert-encrypted"], &alerted) {
        let want = if f.contains("split") {
            "Local.Egg.Member FOUND"
        } else {
            "Heuristics.Encrypted.EGG FOUND"
        };
        assert_eq!(t, want, "clamscan on {f}");
        assert_eq!(t, o, "{f}");
    }
}

/// Hostile EGG archives: members claiming 4 GB (two blocks of 4 GiB
/// each, stored in a few bytes), a deflate block that inflates to 64 MiB
/// while claiming one byte, and 300,000 tiny entries: each gets its
/// verdict within seconds, the marker member behind the claims still
/// found, as clamscan finds it.
#[test]
fn egg_bombs_end_within_the_limits() {
    use egg::{archive, block, file};
    use std::io::Write;
    let marker = b"nod32 egg bomb marker 1122334455\n".repeat(30);
    let m = marker.len() as u32;
    let dir = tempfile::tempdir().unwrap();
    let claim = archive(
        &[],
        &[
            file(
                "huge.bin",
                false,
                false,
                &[block(0, b"x", u32::MAX), block(0, b"y", u32::MAX)],
            ),
            file("marker.txt", false, false, &[block(0, &marker, m)]),
        ],
    );
    let mut z = flate2::write::DeflateEncoder::new(
        Vec::new(),
        flate2::Compression::best(),
    );
    z.write_all(&vec![0u8; 64 << 20]).unwrap();
    let liar = archive(
        &[],
        &[
            file(
                "zeros.bin",
                false,
                false,
                &[block(1, &z.finish().unwrap(), 1)],
            ),
            file("marker.txt", false, false, &[block(0, &marker, m)]),
        ],
    );
    // Six bytes each: ClamAV ignores (and does not count) objects of
    // five bytes or less.
    let tiny = file("t", false, false, &[block(0, b"tiny!!", 6)]);
    let mut many: Vec<Vec<u8>> = vec![tiny; 300_000];
    many.push(file("marker.txt", false, false, &[block(0, &marker, m)]));
    let many = archive(&[], &many);
    let files: Vec<_> =
        [("claim.egg", claim), ("liar.egg", liar), ("many.egg", many)]
            .into_iter()
            .map(|(n, a)| {
                let p = dir.path().join(n);
                std::fs::write(&p, a).unwrap();
                p
            })
            .collect();
    let md5 = {
        use md5::Digest;
        nod32_tests::hex(&md5::Md5::digest(&marker))
    };
    let db = tempfile::tempdir().unwrap();
    std::fs::write(
        db.path().join("b.hdb"),
        format!("{md5}:{}:Local.Egg.Bomb\n", marker.len()),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let verdicts = said(db.path(), &[], &files);
    println!("{verdicts:?} in {:?}", started.elapsed());
    for (f, t, o) in verdicts {
        if f.ends_with("many.egg") {
            // Past MaxFiles: neither reaches the marker.
            assert_eq!(t, "OK", "clamscan on {f}");
            assert_eq!(o, "Not scanned (limit MaxFiles exceeded) ERROR");
        } else {
            assert_eq!(t, "Local.Egg.Bomb FOUND", "clamscan on {f}");
            assert_eq!(t, o, "{f}");
        }
    }
    // With --alert-exceeds-max both name the limit.
    let exceeded = said(db.path(), &["--alert-exceeds-max"], &files[2..]);
    assert_eq!(exceeded[0].1, exceeded[0].2);
    assert!(exceeded[0].1.contains("Exceeded.MaxFiles"), "{exceeded:?}");
    // nod32cli alone, timed: the claims and the bomb cost nothing.
    for f in &files {
        let t = std::time::Instant::now();
        run(Command::new(bin("nod32cli"))
            .args(["--format", "clamscan", "--no-summary", "-d"])
            .arg(db.path())
            .arg(f));
        assert!(t.elapsed().as_secs() < 20, "{f:?} took {:?}", t.elapsed());
    }
}

/// clamscan's first line of the text it writes of a workbook.
const XLM_HEADER: &str = "-- BIFF content extracted and disassembled from \
CL_TYPE_MSXL .xls file because a XLM macro was found in the document\n";

/// Excel 4.0 macro sheets in BIFF8 workbooks written by
/// `tests/data/xlm/write.py` (no Debian tool writes them): the text
/// nod32cli scans is clamscan's `--leave-temps` file byte for byte (an
/// MD5 signature of it found), signatures cut from it are found with
/// the same names, `Heuristics.OLE2.ContainsMacros.XLM` is raised with
/// --alert-macros only, a workbook without a macro sheet raises
/// nothing, and all of it holds for the workbook attached to a mail.
///
/// clamscan 1.4.6 writes its text through a stdio buffer it does not
/// flush before scanning the file, so it scans its header line and the
/// text's whole 4 KiB pages written by then, and not the rest (the last
/// bytes, up to 4 KiB, and all of a short text); we scan all of it. The
/// test holds that difference: a signature from the first page is found
/// by both, one from the last lines by nod32cli only.
#[test]
fn xlm_macro_sheets_disassembled_as_clamscan_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("data/xlm/write.py");
    let marker = "nod32 xlm marker 97531";
    let kinds = ["macro", "hidden", "picture", "plain", "big", "cut", "book"];
    let file = |k: &str| d.join(format!("{k}.xls"));
    for k in kinds {
        let made = run(Command::new("/usr/bin/python3")
            .arg(&script)
            .arg(k)
            .arg(file(k))
            .arg(marker));
        assert!(made.status.success(), "{made:?}");
    }
    // An independent reader of the container: 7-Zip lists the stream.
    let listed = run(Command::new(peer("7z", "p7zip-full"))
        .args(["l", "-slt"])
        .arg(file("macro")));
    let listed = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.contains("Path = Workbook"), "{listed}");

    // (a) The text, byte for byte: clamscan's file of a short text is
    // the whole text (its last write lands over the header).
    let hex = |s: &[u8]| nod32_tests::hex(s);
    let md5 = |d: &[u8]| {
        use md5::Digest;
        hex(&md5::Md5::digest(d))
    };
    let mut hdb = String::new();
    let none = tempfile::tempdir().unwrap();
    std::fs::write(none.path().join("n.ndb"), "Local.None:0:*:6e6f6e6f6e6f\n")
        .unwrap();
    for k in ["macro", "hidden", "picture"] {
        let temps = tempfile::tempdir().unwrap();
        run(Command::new(peer("clamscan", "clamav"))
            .args(["--no-summary", "--leave-temps", "--tempdir"])
            .arg(temps.path())
            .arg("-d")
            .arg(none.path())
            .arg(file(k)));
        let kept = walk_files(temps.path())
            .into_iter()
            .find(|p| {
                p.file_name().is_some_and(|n| {
                    n.to_string_lossy().starts_with("xlm_macros")
                })
            })
            .unwrap_or_else(|| panic!("clamscan wrote no text of {k}"));
        let text =
            [XLM_HEADER.as_bytes(), &std::fs::read(kept).unwrap()].concat();
        assert!(text.len() < 4096 + XLM_HEADER.len(), "{k}: a short text");
        hdb += &format!("{}:{}:Local.Xlm.Text.{k}\n", md5(&text), text.len());
    }
    let db = tempfile::tempdir().unwrap();
    std::fs::write(db.path().join("t.hdb"), &hdb).unwrap();
    for k in ["macro", "hidden", "picture"] {
        let o = run(Command::new(bin("nod32cli"))
            .args(["--format", "clamscan", "--no-summary", "-d"])
            .arg(db.path())
            .arg(file(k)));
        let o = parse_clamscan(&String::from_utf8_lossy(&o.stdout));
        assert_eq!(o[0].1.as_deref(), Some(&*format!("Local.Xlm.Text.{k}")));
    }

    // (b) Signatures cut from the text: the header line, a formula of
    // the first page, a formula of the last lines, the same formula for
    // OLE2 (target 2, which the text, a CL_TYPE_SCRIPT to ClamAV, never
    // meets).
    let ndb = [
        ("Local.Xlm.Header", 0, "BIFF content extracted and disassembled"),
        ("Local.Xlm.FirstPage", 0, "R21C2 len=17  ptgStr"),
        ("Local.Xlm.LastLines", 0, "ptgFunc HALT (0x0036)"),
        ("Local.Xlm.Ole2", 2, "R21C2 len=17  ptgStr"),
    ];
    let sig = |i: usize| {
        let (n, t, s) = ndb[i];
        format!("{n}:{t}:*:{}\n", hex(s.as_bytes()))
    };
    let db_with = |lines: &[usize]| {
        let db = tempfile::tempdir().unwrap();
        let text: String = lines.iter().map(|&i| sig(i)).collect();
        std::fs::write(db.path().join("x.ndb"), text).unwrap();
        db
    };
    let names = |db: &tempfile::TempDir, args: &[&str], k: &[&str]| {
        let files: Vec<_> = k.iter().map(|k| file(k)).collect();
        both_with(db.path(), &files, args)
            .into_iter()
            .map(|(_, t, o)| (t, o))
            .collect::<Vec<_>>()
    };
    let s = |x: &str| Some(x.to_string());
    let header = db_with(&[0]);
    for (k, (t, o)) in ["macro", "hidden", "picture", "big"].iter().zip(names(
        &header,
        &[],
        &["macro", "hidden", "picture", "big"],
    )) {
        assert_eq!(t, s("Local.Xlm.Header"), "clamscan on {k}");
        assert_eq!(o, t, "{k}");
    }
    let pages = db_with(&[1, 3]);
    assert_eq!(
        names(&pages, &[], &["big"]),
        [(s("Local.Xlm.FirstPage"), s("Local.Xlm.FirstPage"))]
    );
    let ole2 = db_with(&[3]);
    assert_eq!(names(&ole2, &[], &["big"]), [(None, None)]);
    // The difference: what clamscan leaves unscanned.
    let last = db_with(&[2]);
    assert_eq!(
        names(&last, &[], &["big", "macro"]),
        [(None, s("Local.Xlm.LastLines")), (None, s("Local.Xlm.LastLines"))]
    );

    // (c) The heuristic with --alert-macros, nothing without; a `Book`
    // stream (BIFF5's name) alerts but is not disassembled; (d) a plain
    // workbook raises nothing, a picture alone makes no alert.
    let alert = s("Heuristics.OLE2.ContainsMacros.XLM");
    let all = ["macro", "hidden", "big", "book", "plain", "picture"];
    for (k, (t, o)) in all.iter().zip(names(&ole2, &["--alert-macros"], &all))
    {
        let want = if ["plain", "picture"].contains(k) {
            None
        } else {
            alert.clone()
        };
        assert_eq!(t, want, "clamscan on {k}");
        assert_eq!(o, t, "{k}");
    }
    for (k, (t, o)) in all.iter().zip(names(&ole2, &[], &all)) {
        assert_eq!((t, o), (None, None), "{k}");
    }
    let everything = db_with(&[0, 1, 2, 3]);
    assert_eq!(
        names(&everything, &["--alert-macros"], &["plain", "book"]),
        [(None, None), (alert.clone(), alert.clone())]
    );
    // A stream cut inside its last record: clamscan scans no text at
    // all; we scan it as far as it reads.
    assert_eq!(
        names(&header, &["--alert-macros"], &["cut"]),
        [(alert.clone(), s("Local.Xlm.Header"))]
    );

    // The picture of the drawing group is a child, as in clamscan.
    let png = {
        let out =
            run(Command::new("/usr/bin/python3").arg("-c").arg(format!(
                "import importlib.util,sys\n\
             s=importlib.util.spec_from_file_location('w','{}')\n\
             w=importlib.util.module_from_spec(s);s.loader.exec_module(w)\n\
             sys.stdout.buffer.write(w.png('{marker}'))",
                script.display()
            )));
        out.stdout
    };
    assert!(png.starts_with(b"\x89PNG"));
    let pic = tempfile::tempdir().unwrap();
    std::fs::write(
        pic.path().join("p.hdb"),
        format!("{}:{}:Local.Xlm.Picture\n", md5(&png), png.len()),
    )
    .unwrap();
    assert_eq!(
        names(&pic, &[], &["picture"]),
        [(s("Local.Xlm.Picture"), s("Local.Xlm.Picture"))]
    );

    // Attached to a mail.
    for k in ["big", "macro"] {
        let mail = format!(
            "From: a@example.org\nTo: b@example.org\nSubject: book\n\
             MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n\
             --b\nContent-Type: text/plain\n\nsee attached\n\
             --b\nContent-Type: application/vnd.ms-excel; name={k}.xls\n\
             Content-Transfer-Encoding: base64\n\n{}--b--\n",
            nod32_tests::base64(&std::fs::read(file(k)).unwrap())
        );
        std::fs::write(d.join(format!("{k}.eml")), mail).unwrap();
    }
    let mails = [d.join("big.eml"), d.join("macro.eml")];
    let found = both_with(pages.path(), &mails[..1], &[]);
    assert_eq!(
        (found[0].1.clone(), found[0].2.clone()),
        (s("Local.Xlm.FirstPage"), s("Local.Xlm.FirstPage"))
    );
    let found = both_with(ole2.path(), &mails[1..], &["--alert-macros"]);
    assert_eq!(
        (found[0].1.clone(), found[0].2.clone()),
        (alert.clone(), alert)
    );
}

/// Every file under `dir`.
fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}
