//! Files inside files, made by the real tools: self-extracting archives
//! (`zip -A` on a Windows executable and on Info-ZIP's own `unzipsfx`,
//! 7-Zip's console SFX module, ARJ's `-je`), a cabinet, a RAR archive
//! and a second executable appended to an executable built by MinGW, a
//! zip after a text, a PDF written by qpdf after a text and an executable. Each holds a marker whose MD5 is the database's
//! only signature, so each detection is an extraction: nod32cli finds
//! the marker wherever clamscan does, and nowhere clamscan does not.
//! The embedded-type patterns met by chance in random data, or more
//! than ClamAV's ten of them before the archive, change nothing.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use nod32_tests::{Rng, bin, hex, parse_clamscan, peer, run};

fn md5(d: &[u8]) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(d))
}

fn cat(out: &Path, parts: &[&Path]) {
    let mut all = Vec::new();
    for p in parts {
        all.extend(std::fs::read(p).unwrap());
    }
    std::fs::write(out, all).unwrap();
}

fn tool(cmd: &mut Command) {
    let out = run(cmd);
    assert!(out.status.success(), "{cmd:?}: {out:?}");
}

/// A Windows executable: `main` linked with MinGW's runtime (whose code
/// holds ten `MZ`…`PE` pairs ClamAV counts as embedded executables), or
/// a bare entry point without it.
fn exe(dir: &Path, name: &str, runtime: bool, text: &str) -> PathBuf {
    let c = dir.join(format!("{name}.c"));
    let exe = dir.join(format!("{name}.exe"));
    let gcc = peer("x86_64-w64-mingw32-gcc", "gcc-mingw-w64-x86-64");
    if runtime {
        std::fs::write(
            &c,
            format!("#include <stdio.h>\nint main(void){{puts(\"{text}\");return 0;}}\n"),
        )
        .unwrap();
        tool(Command::new(gcc).args(["-O2", "-s", "-o"]).arg(&exe).arg(&c));
    } else {
        std::fs::write(
            &c,
            format!(
                "const char *t = \"{text}\";\nvoid start(void){{ for(;;); }}\n"
            ),
        )
        .unwrap();
        tool(
            Command::new(gcc)
                .args(["-nostdlib", "-e", "start", "-s", "-O2", "-o"])
                .arg(&exe)
                .arg(&c),
        );
    }
    exe
}

struct Case {
    file: PathBuf,
    /// The signature expected, or none.
    found: Option<&'static str>,
    /// Debian's clamscan has no UnRAR (libclamunrar is non-free): it
    /// finds nothing in a RAR archive, where a clamscan with it does.
    no_unrar: bool,
}

#[test]
fn embedded_archives_and_executables_found_where_clamscan_finds_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |n: &str| d.join(n);
    let mut rng = Rng::new(0xe3b);
    let marker = rng.bytes(3000);
    std::fs::write(p("marker.bin"), &marker).unwrap();
    let plain = exe(d, "plain", false, "outer");
    let crt = exe(d, "crt", true, "outer with runtime");
    let inner = exe(d, "inner", false, "the inner program");
    let inner_bytes = std::fs::read(&inner).unwrap();
    let db = p("db.hdb");
    std::fs::write(
        &db,
        format!(
            "{}:3000:Local.Marker\n{}:{}:Local.Inner\n",
            md5(&marker),
            md5(&inner_bytes),
            inner_bytes.len()
        ),
    )
    .unwrap();

    let zip = peer("zip", "zip");
    tool(
        Command::new(&zip)
            .arg("-q")
            .arg(p("m.zip"))
            .arg("marker.bin")
            .current_dir(d),
    );
    let mut cases = Vec::new();

    // zip -A fixes the offsets of an archive behind a stub.
    cat(&p("zipsfx.exe"), &[&plain, &p("m.zip")]);
    tool(Command::new(&zip).args(["-q", "-A"]).arg(p("zipsfx.exe")));
    cases.push(Case {
        file: p("zipsfx.exe"),
        found: Some("Local.Marker"),
        no_unrar: false,
    });
    cat(&p("zipsfx.elf"), &[&peer("unzipsfx", "unzip"), &p("m.zip")]);
    tool(Command::new(&zip).args(["-q", "-A"]).arg(p("zipsfx.elf")));
    cases.push(Case {
        file: p("zipsfx.elf"),
        found: Some("Local.Marker"),
        no_unrar: false,
    });
    std::fs::write(p("note.txt"), "a note before the archive\n").unwrap();
    cat(&p("zip-after-text.txt"), &[&p("note.txt"), &p("m.zip")]);
    cases.push(Case {
        file: p("zip-after-text.txt"),
        found: Some("Local.Marker"),
        no_unrar: false,
    });

    // 7-Zip's console SFX module is a Windows executable.
    tool(
        Command::new(peer("7z", "p7zip-full"))
            .args(["a", "-bd", "-sfx7zCon.sfx"])
            .arg(p("7zsfx.exe"))
            .arg("marker.bin")
            .current_dir(d),
    );
    cases.push(Case {
        file: p("7zsfx.exe"),
        found: Some("Local.Marker"),
        no_unrar: false,
    });

    // ARJ's self-extractor for Linux.
    tool(
        Command::new(peer("arj", "arj"))
            .args(["a", "-je", "-y", "arjsfx", "marker.bin"])
            .current_dir(d),
    );
    cases.push(Case {
        file: p("arjsfx"),
        found: Some("Local.Marker"),
        no_unrar: false,
    });

    tool(
        Command::new(peer("gcab", "gcab"))
            .arg("-c")
            .arg(p("m.cab"))
            .arg("marker.bin")
            .current_dir(d),
    );
    cat(&p("cab-appended.exe"), &[&plain, &p("m.cab")]);
    cases.push(Case {
        file: p("cab-appended.exe"),
        found: Some("Local.Marker"),
        no_unrar: false,
    });
    // Past the runtime's ten pairs, ClamAV records nothing more.
    cat(&p("cab-after-runtime.exe"), &[&crt, &p("m.cab")]);
    cases.push(Case {
        file: p("cab-after-runtime.exe"),
        found: None,
        no_unrar: false,
    });

    // RAR 2.9 archives carry the header ClamAV looks for; RAR 5's
    // differs, and ClamAV finds no RAR 5 archive inside a file. bsdtar
    // checks that each archive is one.
    for (name, v, found) in [
        (
            "rar29-appended.exe",
            rars::ArchiveVersion::Rar29,
            Some("Local.Marker"),
        ),
        ("rar50-appended.exe", rars::ArchiveVersion::Rar50, None),
    ] {
        let mut b = rars::builder::Builder::new(v);
        b.add_bytes(b"marker.bin".to_vec(), marker.clone(), None, None)
            .unwrap();
        let archive = b.to_bytes().unwrap();
        std::fs::write(p("m.rar"), &archive).unwrap();
        let listed = run(Command::new(peer("bsdtar", "libarchive-tools"))
            .arg("-tf")
            .arg(p("m.rar")));
        assert_eq!(
            String::from_utf8_lossy(&listed.stdout).trim(),
            "marker.bin",
            "bsdtar -tf on the archive of {name}"
        );
        let mut rar = std::fs::read(&plain).unwrap();
        rar.extend(archive);
        std::fs::write(p(name), rar).unwrap();
        cases.push(Case { file: p(name), found, no_unrar: true });
    }

    cat(&p("exe-in-exe.exe"), &[&plain, &inner]);
    cases.push(Case {
        file: p("exe-in-exe.exe"),
        found: Some("Local.Inner"),
        no_unrar: false,
    });
    cat(&p("exe-after-runtime.exe"), &[&crt, &inner]);
    cases.push(Case {
        file: p("exe-after-runtime.exe"),
        found: None,
        no_unrar: false,
    });

    // ClamAV's matcher counts `MZ`…`PE` pairs its own way: one `MZ`
    // before nine PE signatures is one executable (the cabinet after it
    // is found); nine `MZ`s before one pair are nine (it is not).
    let cab = std::fs::read(p("m.cab")).unwrap();
    let mut one_mz = vec![0x11u8; 400];
    one_mz[..2].copy_from_slice(b"MZ");
    for k in 0..9 {
        one_mz[100 + k * 20..][..4].copy_from_slice(b"PE\0\0");
    }
    let mut nine_mz = vec![0x11u8; 2000];
    for k in 0..8 {
        nine_mz[k * 100..][..2].copy_from_slice(b"MZ");
    }
    nine_mz[1500..1502].copy_from_slice(b"MZ");
    nine_mz[1600..1604].copy_from_slice(b"PE\0\0");
    for (name, pad, found) in [
        ("one-mz-nine-pe.exe", one_mz, Some("Local.Marker")),
        ("nine-mz-one-pe.exe", nine_mz, None),
    ] {
        let mut f = std::fs::read(&plain).unwrap();
        f.extend(pad);
        f.extend(&cab);
        std::fs::write(p(name), f).unwrap();
        cases.push(Case { file: p(name), found, no_unrar: false });
    }

    // A PDF after a text and after an executable, its stream the
    // marker: qpdf writes the document (streams left uncompressed).
    // Near a file's start, its header types the whole file as a PDF;
    // after an executable, ClamAV's matcher does not record it (the PDF
    // type ranks below the self-extracting ones it keeps), and its
    // embedded-PDF walk never runs.
    let mut pdf = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\n\
endobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n3 0 obj\n"
        .to_vec();
    pdf.extend(format!("<< /Length {} >>\nstream\n", marker.len()).as_bytes());
    pdf.extend(&marker);
    pdf.extend(b"\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n");
    std::fs::write(p("hand.pdf"), pdf).unwrap();
    // (It rebuilds the missing cross-reference table, exit status 3.)
    let made = run(Command::new(peer("qpdf", "qpdf"))
        .args(["--compress-streams=n", "--preserve-unreferenced"])
        .arg(p("hand.pdf"))
        .arg(p("m.pdf")));
    assert!(matches!(made.status.code(), Some(0 | 3)), "qpdf: {made:?}");
    cat(&p("pdf-after-text.txt"), &[&p("note.txt"), &p("m.pdf")]);
    cat(&p("pdf-appended.exe"), &[&plain, &p("m.pdf")]);
    for (name, found) in [
        ("pdf-after-text.txt", Some("Local.Marker")),
        ("pdf-appended.exe", None),
    ] {
        cases.push(Case { file: p(name), found, no_unrar: false });
    }

    // Every pattern met in random data: nothing found, nothing refused.
    let mut noise = rng.bytes(65536);
    noise[0] = 0;
    for (i, pat) in [
        &b"PK\x03\x04"[..],
        b"Rar!\x1a\x07\x00",
        b"7z\xbc\xaf\x27\x1c",
        b"MSCF\0\0\0\0",
    ]
    .iter()
    .enumerate()
    {
        noise[1000 + i * 5000..][..pat.len()].copy_from_slice(pat);
    }
    std::fs::write(p("noise.bin"), noise).unwrap();
    cases.push(Case { file: p("noise.bin"), found: None, no_unrar: false });

    let files: Vec<&PathBuf> = cases.iter().map(|c| &c.file).collect();
    let theirs = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "-d"])
        .arg(&db)
        .args(&files));
    let ours = run(Command::new(bin("nod32cli"))
        .args(["--format", "clamscan", "-d"])
        .arg(&db)
        .args(&files));
    let text = String::from_utf8_lossy(&ours.stdout);
    assert!(text.contains("Not scanned: 0"), "{text}");
    let theirs = parse_clamscan(&String::from_utf8_lossy(&theirs.stdout));
    let ours = parse_clamscan(&text);
    for c in &cases {
        let f = c.file.to_string_lossy().into_owned();
        let verdict = |list: &[(String, Option<String>)]| {
            list.iter()
                .find(|(n, _)| *n == f)
                .unwrap_or_else(|| panic!("{f} not reported"))
                .1
                .clone()
        };
        let (t, o) = (verdict(&theirs), verdict(&ours));
        let want = c.found.map(String::from);
        if c.no_unrar {
            assert_eq!(t, None, "Debian's clamscan, without UnRAR, on {f}");
        } else {
            assert_eq!(t, want, "clamscan on {f}");
        }
        assert_eq!(o, want, "nod32cli on {f}");
    }
}

/// ClamAV looks for files inside an object only when the object is a
/// file of its own: a member it scans as a slice of its parent's bytes
/// (cpio) or as a buffer its parser filled (LHA, OneNote) is not
/// searched, while what it writes out (zip, 7z, tar, ISO 9660 members)
/// is. A text with a zip after it, packed by each tool: where the
/// parent's own bytes hold the member as it is (the newer cpio formats,
/// a OneNote section), the parent's search finds the zip instead; the
/// old binary cpio is not searched at all, and LHA compresses it. clamscan runs once per file, as its cache of clean
/// files would otherwise carry one file's verdict on the member over to
/// the next.
#[test]
fn members_scanned_as_slices_or_buffers_are_not_searched() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = |n: &str| d.join(n);
    let mut rng = Rng::new(0x51ce);
    let marker = rng.bytes(3000);
    std::fs::write(p("marker.bin"), &marker).unwrap();
    let db = p("db.hdb");
    std::fs::write(&db, format!("{}:3000:Local.Marker\n", md5(&marker)))
        .unwrap();
    tool(
        Command::new(peer("zip", "zip"))
            .args(["-q", "m.zip", "marker.bin"])
            .current_dir(d),
    );
    let inner = p("in");
    std::fs::create_dir(&inner).unwrap();
    let mut zat = b"a note before the archive\n".to_vec();
    zat.extend(std::fs::read(p("m.zip")).unwrap());
    std::fs::write(inner.join("zat.txt"), &zat).unwrap();

    let mut cases: Vec<(String, Option<&str>)> = Vec::new();
    let cpio = peer("cpio", "cpio");
    for (format, found) in [
        ("bin", None),
        ("odc", Some("Local.Marker")),
        ("newc", Some("Local.Marker")),
    ] {
        let name = format!("m-{format}.cpio");
        let out = std::fs::File::create(p(&name)).unwrap();
        let mut child = Command::new(&cpio)
            .args(["-o", "--quiet", "-H", format])
            .current_dir(&inner)
            .stdin(std::process::Stdio::piped())
            .stdout(out)
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), b"zat.txt\n")
            .unwrap();
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success(), "cpio -H {format}");
        cases.push((name, found));
    }
    tool(
        Command::new(peer("jlha", "jlha-utils"))
            .arg("a")
            .arg(p("m.lzh"))
            .arg("zat.txt")
            .current_dir(&inner),
    );
    cases.push(("m.lzh".into(), None));
    tool(
        Command::new(peer("zip", "zip"))
            .arg("-q")
            .arg(p("m2.zip"))
            .arg("zat.txt")
            .current_dir(&inner),
    );
    cases.push(("m2.zip".into(), Some("Local.Marker")));
    tool(
        Command::new(peer("7z", "p7zip-full"))
            .args(["a", "-bd"])
            .arg(p("m.7z"))
            .arg("zat.txt")
            .current_dir(&inner),
    );
    cases.push(("m.7z".into(), Some("Local.Marker")));
    tool(
        Command::new(peer("tar", "tar"))
            .arg("cf")
            .arg(p("m.tar"))
            .arg("zat.txt")
            .current_dir(&inner),
    );
    cases.push(("m.tar".into(), Some("Local.Marker")));
    tool(
        Command::new(peer("genisoimage", "genisoimage"))
            .arg("-quiet")
            .arg("-o")
            .arg(p("m.iso"))
            .arg("zat.txt")
            .current_dir(&inner),
    );
    cases.push(("m.iso".into(), Some("Local.Marker")));
    let one = nod32_tests::onenote::notebook(
        &[nod32_tests::onenote::Attachment { name: "zat.txt", data: &zat }],
        Vec::new(),
        &[],
    );
    std::fs::write(p("m.one"), one).unwrap();
    cases.push(("m.one".into(), Some("Local.Marker")));

    let files: Vec<PathBuf> = cases.iter().map(|c| p(&c.0)).collect();
    let ours = run(Command::new(bin("nod32cli"))
        .args(["--format", "clamscan", "-d"])
        .arg(&db)
        .args(&files));
    let text = String::from_utf8_lossy(&ours.stdout);
    assert!(text.contains("Not scanned: 0"), "{text}");
    let ours = parse_clamscan(&text);
    for ((name, want), f) in cases.iter().zip(&files) {
        let theirs = run(Command::new(peer("clamscan", "clamav"))
            .args(["--no-summary", "-d"])
            .arg(&db)
            .arg(f));
        let theirs = parse_clamscan(&String::from_utf8_lossy(&theirs.stdout));
        let f = f.to_string_lossy().into_owned();
        let verdict = |list: &[(String, Option<String>)]| {
            list.iter()
                .find(|(n, _)| *n == f)
                .unwrap_or_else(|| panic!("{f} not reported"))
                .1
                .clone()
        };
        let want = want.map(String::from);
        assert_eq!(verdict(&theirs), want, "clamscan on {name}");
        assert_eq!(verdict(&ours), want, "nod32cli on {name}");
    }
}
