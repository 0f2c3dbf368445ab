//! HFS+ volumes written by the test's own writer (`nod32_tests::hfsplus`,
//! from TN1150: Debian packages no HFS+ formatter), checked by 7-Zip,
//! an independent reader, then scanned by nod32cli and clamscan with the
//! same database, alone and as a partition of an Apple partition map,
//! GPT, MBR disk or a DMG: ClamAV reads HFS+ only as a partition.
//! Where the two differ on purpose (a fork in the extents overflow tree,
//! a walk that goes on past a broken or oversized file, the catalog's
//! last leaves, files whose mode is not a regular file's, a stored
//! decmpfs file), a test says so.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nod32_tests::hfsplus::{Compress, File, Options, image};
use nod32_tests::{bin, eicar, hex, parse_clamscan, peer, run};

fn md5(b: &[u8]) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(b))
}

fn hdb(name: &str, b: &[u8]) -> String {
    format!("{}:{}:{name}", md5(b), b.len())
}

/// Text no compressor shrinks much, distinct per `seed`.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            b'a' + (x % 26) as u8
        })
        .collect()
}

fn make(cmd: &mut Command) {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The verdicts of clamscan and nod32cli on `files` with `db_lines` in
/// a database file named `db_file`, in the order of `files`.
fn verdicts(
    db_file: &str,
    db_lines: &str,
    files: &[PathBuf],
) -> Vec<(String, Option<String>, Option<String>)> {
    let db = tempfile::tempdir().unwrap();
    std::fs::write(db.path().join(db_file), format!("{db_lines}\n")).unwrap();
    let theirs = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "-d"])
        .arg(db.path())
        .args(files));
    let ours = run(Command::new(bin("nod32cli"))
        .args(["--format", "clamscan", "--no-summary", "-d"])
        .arg(db.path())
        .args(files));
    let theirs = parse_clamscan(&String::from_utf8_lossy(&theirs.stdout));
    let ours = parse_clamscan(&String::from_utf8_lossy(&ours.stdout));
    assert_eq!(theirs.len(), files.len(), "clamscan: {theirs:?}");
    assert_eq!(ours.len(), files.len(), "nod32cli: {ours:?}");
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

/// `volume` as partition 2 of an Apple partition map disk made by
/// parted, from 1 MiB on.
fn in_apm(dir: &Path, name: &str, volume: &[u8]) -> PathBuf {
    let img = dir.join(name);
    let mib = volume.len().div_ceil(1 << 20) + 2;
    std::fs::File::create(&img).unwrap().set_len((mib << 20) as u64).unwrap();
    make(Command::new(peer("parted", "parted")).arg("-s").arg(&img).args([
        "mklabel",
        "mac",
        "mkpart",
        "vol",
        "hfs+",
        "1MiB",
        &format!("{}MiB", mib - 1),
    ]));
    let mut disk = std::fs::read(&img).unwrap();
    disk[1 << 20..(1 << 20) + volume.len()].copy_from_slice(volume);
    std::fs::write(&img, disk).unwrap();
    img
}

/// `volume` as the first partition of a disk sfdisk partitions.
fn in_sfdisk(dir: &Path, name: &str, table: &str, volume: &[u8]) -> PathBuf {
    let img = dir.join(name);
    std::fs::File::create(&img).unwrap().set_len(8 << 20).unwrap();
    let out = nod32_tests::run_with_input(
        Command::new(peer("sfdisk", "fdisk")).arg("-q").arg(&img),
        table.as_bytes(),
    );
    assert!(
        out.status.success(),
        "sfdisk: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut disk = std::fs::read(&img).unwrap();
    disk[1 << 20..(1 << 20) + volume.len()].copy_from_slice(volume);
    std::fs::write(&img, disk).unwrap();
    img
}

/// `volume` as the one partition of a UDIF disk image, in one stored
/// stripe.
fn dmg(volume: &[u8]) -> Vec<u8> {
    let sectors = volume.len() as u64 / 512;
    let mut mish = b"mish".to_vec();
    mish.extend(1u32.to_be_bytes());
    mish.extend(0u64.to_be_bytes());
    mish.extend(sectors.to_be_bytes());
    mish.extend(0u64.to_be_bytes());
    mish.extend(0x208u32.to_be_bytes());
    mish.extend(0u32.to_be_bytes());
    mish.resize(200, 0);
    mish.extend(2u32.to_be_bytes());
    for (kind, start, count, offset, length) in [
        (1u32, 0, sectors, 0, volume.len() as u64),
        (0xffff_ffff, sectors, 0, volume.len() as u64, 0),
    ] {
        mish.extend(kind.to_be_bytes());
        mish.extend(0u32.to_be_bytes());
        for v in [start, count, offset, length] {
            mish.extend(v.to_be_bytes());
        }
    }
    let plist = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n<dict>\n\
         <key>resource-fork</key>\n<dict>\n<key>blkx</key>\n<array>\n<dict>\n\
         <key>Attributes</key>\n<string>0x0050</string>\n\
         <key>CFName</key>\n<string>disk image (Apple_HFS : 1)</string>\n\
         <key>Data</key>\n<data>\n{}\n</data>\n<key>ID</key>\n<string>0</string>\n\
         <key>Name</key>\n<string>disk image (Apple_HFS : 1)</string>\n\
         </dict>\n</array>\n</dict>\n</dict>\n</plist>\n",
        nod32_tests::base64_lines(&mish, "")
    );
    let mut koly = vec![0u8; 512];
    koly[..4].copy_from_slice(b"koly");
    koly[4..8].copy_from_slice(&4u32.to_be_bytes());
    koly[8..12].copy_from_slice(&512u32.to_be_bytes());
    koly[12..16].copy_from_slice(&1u32.to_be_bytes());
    koly[0x20..0x28].copy_from_slice(&(volume.len() as u64).to_be_bytes());
    koly[0x38..0x3c].copy_from_slice(&1u32.to_be_bytes());
    koly[0x3c..0x40].copy_from_slice(&1u32.to_be_bytes());
    koly[0xd8..0xe0].copy_from_slice(&(volume.len() as u64).to_be_bytes());
    koly[0xe0..0xe8].copy_from_slice(&(plist.len() as u64).to_be_bytes());
    koly[0x1e8..0x1ec].copy_from_slice(&1u32.to_be_bytes());
    koly[0x1ec..0x1f4].copy_from_slice(&sectors.to_be_bytes());
    [volume, plist.as_bytes(), &koly].concat()
}

/// What 7-Zip lists in an image: (path under the volume's folder, size)
/// of each file, alternate streams included.
fn seven_zip_list(img: &Path) -> Vec<(String, u64)> {
    let out = run(Command::new(peer("7z", "p7zip-full"))
        .args(["l", "-slt", "-sns"])
        .arg(img));
    assert!(
        out.status.success(),
        "7z l: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut v = Vec::new();
    for block in text.split("\n\n") {
        let field = |k: &str| {
            block.lines().find_map(|l| l.strip_prefix(k)).map(str::to_string)
        };
        if let (Some(path), Some(size), Some(folder)) =
            (field("Path = "), field("Size = "), field("Folder = "))
            && folder == "-"
        {
            v.push((path, size.parse().unwrap()));
        }
    }
    v.sort();
    v
}

/// The files of the volume that goes with the checks: EICAR, a marker
/// (hash signature), one found by a body signature, one with a resource
/// fork, one compressed in its attribute and one in its resource fork,
/// deep in folders.
struct Plain {
    files: Vec<File>,
    marker: Vec<u8>,
    rsrc: Vec<u8>,
    inline: Vec<u8>,
    resource: Vec<u8>,
}

fn plain() -> Plain {
    let marker = b"nod32 hfs+ member marker 2468\n".repeat(40);
    let rsrc = b"resource fork marker 97531\n".repeat(30);
    let inline = b"inline decmpfs marker 1122 ".repeat(100);
    let resource = noise(150_000, 77);
    let mut with_rsrc =
        File::new("Library/Fonts/Helvetica.dfont", b"font data");
    with_rsrc.rsrc = rsrc.clone();
    let mut c_inline = File::new("Applications/Notes.txt", &inline);
    c_inline.compress = Compress::Inline;
    let mut c_rsrc =
        File::new("Applications/Setup.app/Contents/MacOS/Setup", &resource);
    c_rsrc.compress = Compress::Resource;
    let files = vec![
        File::new("Rechnung Dezember.pdf.app", &marker),
        File::new("eicar.com", &eicar()),
        File::new("readme.txt", b"a body: nod32 hfs+ body marker 8642\n"),
        with_rsrc,
        c_inline,
        c_rsrc,
    ];
    Plain { files, marker, rsrc, inline, resource }
}

#[test]
fn volumes_agree_with_7zip_and_clamscan() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = plain();
    let hfs = image(&p.files, &Options::default());
    let hfsx = image(
        &p.files,
        &Options { hfsx: true, block: 512, ..Options::default() },
    );
    for (name, vol) in [("plain.hfs", &hfs), ("plain.hfsx", &hfsx)] {
        let f = d.join(name);
        std::fs::write(&f, vol).unwrap();
        // 7-Zip lists and extracts the same files.
        let listed = seven_zip_list(&f);
        let mut want: Vec<(String, u64)> = p
            .files
            .iter()
            .map(|x| (format!("Untitled/{}", x.path), x.data.len() as u64))
            .collect();
        want.push((
            "Untitled/Library/Fonts/Helvetica.dfont:rsrc".into(),
            p.rsrc.len() as u64,
        ));
        want.sort();
        assert_eq!(listed, want, "{name}");
        let out = d.join(format!("{name}.out"));
        make(
            Command::new(peer("7z", "p7zip-full"))
                .args(["x", "-y", "-sns"])
                .arg(format!("-o{}", out.display()))
                .arg(&f),
        );
        for x in &p.files {
            let got =
                std::fs::read(out.join("Untitled").join(&x.path)).unwrap();
            assert!(got == x.data, "7z's {} in {name} differs", x.path);
        }
        let fork = out.join("Untitled/Library/Fonts/Helvetica.dfont:rsrc");
        assert!(std::fs::read(fork).unwrap() == p.rsrc, "7z's resource fork");
    }

    // The volume alone, and as a partition of each kind of disk: each
    // its own volume name, since ClamAV does not scan again what it
    // found clean once (the volume alone, say) in the same run.
    let named = |name: &str, hfsx: bool| {
        let o = Options { name: name.into(), hfsx, ..Options::default() };
        image(&p.files, &o)
    };
    let alone = d.join("alone.hfs");
    std::fs::write(&alone, &hfs).unwrap();
    let apm = in_apm(d, "apm.img", &named("APM", false));
    let apm_x = in_apm(d, "apm-hfsx.img", &named("APMX", true));
    let gpt = in_sfdisk(
        d,
        "gpt.img",
        "label: gpt\n2048,12288\n",
        &named("GPT", false),
    );
    let mbr = in_sfdisk(
        d,
        "mbr.img",
        "label: dos\n2048,12288,af\n",
        &named("MBR", false),
    );
    let dmg_path = d.join("Setup.dmg");
    let setup = named("Setup", false);
    std::fs::write(&dmg_path, dmg(&setup)).unwrap();
    let back = d.join("back.img");
    make(
        Command::new(peer("dmg2img", "dmg2img"))
            .arg("-s")
            .arg(&dmg_path)
            .arg(&back),
    );
    assert!(std::fs::read(&back).unwrap() == setup, "dmg2img's copy differs");
    let disks = [apm, apm_x, gpt, mbr, dmg_path];
    let all: Vec<PathBuf> =
        std::iter::once(alone.clone()).chain(disks.iter().cloned()).collect();

    // EICAR and a body signature: the raw bytes show them to both.
    let body =
        format!("Local.Hfs.Body:0:*:{}", hex(b"nod32 hfs+ body marker 8642"));
    for (f, theirs, ours) in verdicts("h.ndb", &body, &all) {
        assert_eq!(
            theirs.as_deref(),
            Some("Local.Hfs.Body"),
            "clamscan on {f}"
        );
        assert_eq!(ours, theirs, "nod32cli on {f}");
    }
    let sig = format!("Local.Eicar.Test:0:*:{}", hex(&eicar()[..40]));
    for (f, theirs, ours) in verdicts("h.ndb", &sig, &all) {
        assert_eq!(
            theirs.as_deref(),
            Some("Local.Eicar.Test"),
            "clamscan on {f}"
        );
        assert_eq!(ours, theirs, "nod32cli on {f}");
    }
    // The members' hashes (a file, a resource fork, the content of the
    // two compressed files): only read where ClamAV types a partition.
    for (sig, bytes) in [
        ("Local.Hfs.Eicar", &eicar()),
        ("Local.Hfs.Member", &p.marker),
        ("Local.Hfs.Rsrc", &p.rsrc),
        ("Local.Hfs.Inline", &p.inline),
        ("Local.Hfs.Resource", &p.resource),
    ] {
        for (f, theirs, ours) in verdicts("h.hdb", &hdb(sig, bytes), &all) {
            let want = if f == alone.display().to_string() {
                None
            } else {
                Some(sig)
            };
            assert_eq!(theirs.as_deref(), want, "clamscan on {f}");
            assert_eq!(ours, theirs, "nod32cli on {f}");
        }
    }
    // The member is named by its path in the volume.
    let db = tempfile::tempdir().unwrap();
    std::fs::write(
        db.path().join("h.hdb"),
        hdb("Local.Hfs.Member", &p.marker) + "\n",
    )
    .unwrap();
    let out = run(Command::new(bin("nod32cli"))
        .args(["--no-summary", "-d"])
        .arg(db.path())
        .args(&disks));
    let text = String::from_utf8_lossy(&out.stdout);
    for (img, at) in [
        ("apm.img", "partition 2 vol/Rechnung Dezember.pdf.app"),
        ("gpt.img", "partition 1/Rechnung Dezember.pdf.app"),
        ("Setup.dmg", "partition 0/Rechnung Dezember.pdf.app"),
    ] {
        assert!(
            text.lines()
                .any(|l| l.contains(img)
                    && l.contains(&format!("info=\"{at}\""))),
            "{img}: {text}"
        );
    }
}

/// Volumes where nod32cli reads on and clamscan stops, each a file
/// before a marker (or the file itself the marker), each on an Apple
/// partition map disk; and crafted volumes both end quickly.
#[test]
fn where_clamscan_stops_nod32cli_reads_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let marker = |case: &str| {
        format!("nod32 hfs+ marker of case {case}\n").repeat(20).into_bytes()
    };
    let mut cases: Vec<(&str, Vec<File>, Options, bool)> = Vec::new();
    let small = Options { block: 512, ..Options::default() };
    // A fork in twelve extents: ClamAV reads no extents overflow tree
    // and ends the volume there.
    let mut frag = File::new("a-frag", &noise(60_000, 11));
    frag.pieces = 12;
    cases.push((
        "frag",
        vec![frag, File::new("z-marker", &marker("frag"))],
        small.clone(),
        false,
    ));
    // A 4 GB claim: ClamAV's size limit ends the volume.
    let mut huge = File::new("a-huge", b"small");
    huge.claim = Some(4 << 30);
    cases.push((
        "huge",
        vec![huge, File::new("z-marker", &marker("huge"))],
        small.clone(),
        false,
    ));
    // Billions of blocks, and an extent past the volume's end: a bad
    // extent to ClamAV, which ends the volume.
    let mut billions = File::new("a-billions", b"x");
    billions.claim = Some(1 << 20);
    billions.extents = Some(vec![(3, u32::MAX - 3)]);
    cases.push((
        "billions",
        vec![billions, File::new("z-marker", &marker("billions"))],
        small.clone(),
        false,
    ));
    let mut outside = File::new("a-outside", b"x");
    outside.claim = Some(4096);
    outside.extents = Some(vec![(0x00ff_ffff, 8)]);
    cases.push((
        "outside",
        vec![outside, File::new("z-marker", &marker("outside"))],
        small.clone(),
        false,
    ));
    // A file record whose mode says no regular file.
    let mut nomode = File::new("z-marker", &marker("nomode"));
    nomode.mode = 0;
    cases.push(("nomode", vec![nomode], small.clone(), false));
    // Content stored in the decmpfs attribute: ClamAV writes it out but
    // scans it only after a zlib file of the same volume.
    let mut stored = File::new("z-marker", &marker("stored"));
    stored.compress = Compress::Stored;
    cases.push(("stored", vec![stored], small.clone(), false));
    // A catalog of more than 1000 leaf nodes: ClamAV reads 1000. The
    // marker's folder comes last, so its record comes after the files'
    // threads.
    let mut many: Vec<File> =
        (0..520).map(|i| File::new(&format!("f{i:04}"), b"")).collect();
    many.push(File::new("zdir/z-marker", &marker("leaves")));
    cases.push((
        "leaves",
        many,
        Options { per_leaf: 1, ..small.clone() },
        false,
    ));
    // Leaves whose links loop: both find what is in them, and end.
    cases.push((
        "loop",
        (0..12)
            .map(|i| {
                File::new(&format!("f{i:02}"), format!("file {i}").as_bytes())
            })
            .chain([File::new("z-marker", &marker("loop"))])
            .collect(),
        Options { per_leaf: 3, loop_leaves: true, ..small.clone() },
        true,
    ));

    let mut files = Vec::new();
    let mut lines = Vec::new();
    for (case, content, o, _) in &cases {
        let o = Options { name: case.to_string(), ..o.clone() };
        files.push(in_apm(d, &format!("{case}.img"), &image(content, &o)));
        lines.push(hdb(&format!("Local.Hfs.{case}"), &marker(case)));
    }
    lines.push(hdb("Local.Hfs.frag.file", &cases[0].1[0].data));
    let v = verdicts("h.hdb", &lines.join("\n"), &files);
    for ((f, theirs, ours), (case, _, _, agree)) in v.into_iter().zip(&cases) {
        let want = format!("Local.Hfs.{case}");
        let want = if *case == "frag" {
            "Local.Hfs.frag.file".to_string()
        } else {
            want
        };
        assert_eq!(ours.as_deref(), Some(want.as_str()), "nod32cli on {f}");
        if *agree {
            assert_eq!(theirs, ours, "clamscan on {f}");
        } else {
            assert_eq!(theirs, None, "clamscan on {f}");
        }
    }
    // nod32cli alone, on every crafted volume with nothing to find: no
    // slower than on as many bytes of noise (a disk costs a raw pass
    // over itself and one over its partition).
    let db = tempfile::tempdir().unwrap();
    std::fs::write(
        db.path().join("h.ndb"),
        "Local.Nothing:0:*:6e6f7468696e672068657265\n",
    )
    .unwrap();
    let timed = |files: &[PathBuf]| {
        let start = Instant::now();
        let out = run(Command::new(bin("nod32cli"))
            .args(["--no-summary", "-d"])
            .arg(db.path())
            .args(files));
        assert!(!String::from_utf8_lossy(&out.stdout).contains("FOUND"));
        start.elapsed()
    };
    let plain: Vec<PathBuf> = files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let len = std::fs::metadata(f).unwrap().len() as usize;
            let p = d.join(format!("noise-{i}"));
            std::fs::write(&p, noise(len, i as u32 + 1)).unwrap();
            p
        })
        .collect();
    let (crafted, noise) = (timed(&files), timed(&plain));
    assert!(
        crafted < 4 * noise + Duration::from_secs(5),
        "{crafted:?} against {noise:?}"
    );
}
