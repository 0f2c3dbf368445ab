use super::*;
use crate::compile::{compile, install};
use crate::sigs::SignatureSet;

#[test]
fn pcre_subsignatures() {
    let d = db(&[(
        "p.ldb",
        "P1;Target:0;0&1;41424344;0/x[0-9]+y/\n\
         P2;Target:0;0&1>1;45464748;0/z\\d/g\n\
         P3;Target:0;0&1;494a4b4c;0:0/IJKL..!/\n\
         P4;Target:0;0&1;4d4e4f50;2,3:0/q/e\n",
    )]);
    let name = |data: &[u8]| {
        let obj = ObjectInfo {
            ancestors: &[],
            size: data.len() as u64,
            container: "CL_TYPE_ANY",
        };
        let mut h = d.pass(data, T_ANY, Eof::Data);
        d.eval_logical(&mut h, T_ANY, &obj, data)
            .map(|n| d.name(n).to_string())
    };
    assert_eq!(name(b"ABCD x123y").as_deref(), Some("P1"));
    assert_eq!(name(b"ABCD xy"), None);
    assert_eq!(name(b"x1y only"), None);
    assert_eq!(name(b"EFGH z1 z2").as_deref(), Some("P2"));
    assert_eq!(name(b"EFGH z1").as_deref(), None);
    // Anchored at offset 0.
    assert_eq!(name(b"IJKL..!").as_deref(), Some("P3"));
    assert_eq!(name(b" IJKL..!"), None);
    // Encompassed to bytes 2..5.
    assert_eq!(name(b"xxqxMNOP").as_deref(), Some("P4"));
    assert_eq!(name(b"xxxxqMNOP").as_deref(), Some("P4"));
    assert_eq!(name(b"xxxxxqMNOP"), None);
}

fn db(files: &[(&str, &str)]) -> Database {
    let mut s = SignatureSet::new();
    for (n, t) in files {
        s.load_bytes(n, t.as_bytes()).unwrap();
    }
    Database::from_signatures(&s).unwrap()
}

#[test]
fn assert_send_sync() {
    fn ok<T: Send + Sync>() {}
    ok::<Database>();
}

#[test]
fn finds_ndb_with_offsets() {
    let d = db(&[(
        "t.ndb",
        "Any:0:*:41424344\nAbs:0:2,1:45464748\nEof:0:EOF-4:494a4b4c\nShort:0:*:5a5a??5a\n",
    )]);
    let name = |data: &[u8]| {
        d.pass(data, T_ANY, Eof::Data).ndb.map(|n| d.name(n).to_string())
    };
    assert_eq!(name(b"xxABCDxx").as_deref(), Some("Any"));
    assert_eq!(name(b"xxxEFGH").as_deref(), Some("Abs"));
    assert_eq!(name(b"xxxxEFGH"), None);
    assert_eq!(name(b"EFGH"), None);
    assert_eq!(name(b"zzIJKL").as_deref(), Some("Eof"));
    assert_eq!(name(b"IJKLz"), None);
    assert_eq!(name(b"ZZ.Z").as_deref(), Some("Short"));
    assert_eq!(name(b"ZZ.Y"), None);
}

#[test]
fn passes_the_module_can_skip() {
    let bin = db(&[("b.ndb", "B:0:*:00ff00ff41\n")]);
    assert!(!bin.text_pass && !bin.mail_target);
    let text = db(&[("t.ndb", "T:0:*:68656c6c6f\nM:4:*:00ff00ff41\n")]);
    assert!(text.text_pass && text.mail_target);
    let ldb = db(&[("l.ldb", "L;Target:7;0=0;00ff00ff41\n")]);
    assert!(ldb.text_pass);
}

/// Observed with clamscan 1.4.6 with these very files: duplicate
/// hashes report the last name, duplicate body patterns the first
/// (for wildcard patterns that follows ClamAV's memory pool, and two
/// such lines alone report the second: `compile/mod.rs`).
#[test]
fn duplicate_signatures_report_the_name_clamav_does() {
    let d = db(&[
        (
            "a.hdb",
            "0123456789abcdef0123456789abcdef:16:First.Hash\n0123456789abcdef0123456789abcdef:16:Second.Hash\n",
        ),
        (
            "a.ndb",
            "First.Ndb:0:*:41424344\nSecond.Ndb:0:*:41424344\nFirst.Wild:0:*:4546??4748\nSecond.Wild:0:*:4546??4748\n",
        ),
    ]);
    let h: Vec<u8> = (0..16)
        .map(|i| [0x01u8, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef][i % 8])
        .collect();
    assert_eq!(
        d.hash_lookup(0, 16, &h, false).map(|n| d.name(n)),
        Some("Second.Hash")
    );
    let name = |data: &[u8]| {
        d.pass(data, T_ANY, Eof::Data).ndb.map(|n| d.name(n).to_string())
    };
    assert_eq!(name(b"xxABCDxx").as_deref(), Some("First.Ndb"));
    assert_eq!(name(b"xxEFzGHxx").as_deref(), Some("First.Wild"));
}

#[test]
fn targets_are_respected() {
    let d = db(&[("t.ndb", "Mail:4:*:41424344\n")]);
    assert!(d.pass(b"ABCD", T_ANY, Eof::Data).ndb.is_none());
    assert!(d.pass(b"ABCD", T_ANY | T_MAIL, Eof::Data).ndb.is_some());
}

#[test]
fn hashes_by_size_then_wildcard() {
    let d = db(&[
        ("t.hdb", "44d88612fea8a8f36de82e1278abb02f:68:E68\n"),
        ("w.hsb", "0000000000000000000000000000000000000000:*:W:73\n"),
    ]);
    let md5 = hex("44d88612fea8a8f36de82e1278abb02f");
    assert!(d.hash_wanted(0, 68, false));
    assert!(!d.hash_wanted(0, 69, false));
    assert!(d.hash_wanted(1, 12345, false));
    assert_eq!(
        d.hash_lookup(0, 68, &md5, false).map(|n| d.name(n)),
        Some("E68")
    );
    assert_eq!(d.hash_lookup(0, 67, &md5, false), None);
    assert_eq!(
        d.hash_lookup(1, 5, &[0; 20], false).map(|n| d.name(n)),
        Some("W")
    );
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn logical_counts() {
    let d = db(&[("t.ldb", "L;Target:0;0>1&1;41424344;45464748::i\n")]);
    let obj = ObjectInfo { size: 0, container: "CL_TYPE_ANY", ancestors: &[] };
    let mut h = d.pass(b"ABCD efgh ABCD", T_ANY, Eof::Data);
    assert!(d.eval_logical(&mut h, T_ANY, &obj, b"").is_some());
    let mut h = d.pass(b"ABCD efgh", T_ANY, Eof::Data);
    assert!(d.eval_logical(&mut h, T_ANY, &obj, b"").is_none());
}

/// The databases a module was built from, as `--version`, the logs
/// and the result header name them, survive compile, write and open.
#[test]
fn sources_survive_compile_write_and_open() {
    use crate::sigs::cvd::tests::build_version;
    let d = tempfile::tempdir().unwrap();
    let cvd = build_version(
        &[
            ("daily.ndb", b"A:0:*:41424344\nB:0:*:45464748\n"),
            ("daily.hdb", b"44d88612fea8a8f36de82e1278abb02f:68:E\n"),
            ("daily.info", b"not signatures\n"),
        ],
        true,
        27000,
    );
    std::fs::write(d.path().join("daily.cvd"), cvd).unwrap();
    std::fs::write(d.path().join("local.ndb"), "L:0:*:494a4b4c\n").unwrap();
    let mut set = SignatureSet::new();
    set.load_path(d.path()).unwrap();
    let out = d.path().join("nod32.000");
    install(&set, &out).unwrap();
    let db = Database::open(&out).unwrap();
    let daily = Source {
        name: "daily.cvd".into(),
        version: Some(27000),
        build_time: Some(1_795_000_000),
        signatures: 3,
    };
    let local = Source {
        name: "local.ndb".into(),
        version: None,
        build_time: None,
        signatures: 1,
    };
    assert_eq!(db.sources(), vec![daily, local]);
    assert_eq!(db.sources(), set.sources());
    assert_eq!(db.format_version(), FORMAT_VERSION);
    let shown: Vec<String> =
        db.sources().iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["daily 27000 (2026-11-18)", "local.ndb"]);
    // The built-in module says what it holds too.
    let names: Vec<String> =
        Database::builtin().sources().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["default.ndb", "default.hdb"]);
}

/// A module an earlier version wrote (format 2, no list of sources)
/// still opens, so that agents keep running after an upgrade until
/// nod32upd rebuilds it; it just names no databases.
#[test]
fn a_format_2_module_opens_without_sources() {
    let mut set = SignatureSet::new();
    set.load_bytes("local.ndb", b"L:0:*:494a4b4c\n").unwrap();
    let db = Database::from_signatures(&set).unwrap();
    let sections: Vec<(u32, Vec<u8>)> = (1..sec::COUNT as u32)
        .filter(|&id| id != sec::SOURCES && db.ranges[id as usize].1 > 0)
        .map(|id| (id, db.sec(id).to_vec()))
        .collect();
    let old =
        Database::from_bytes(crate::compile::write(&sections, 2)).unwrap();
    assert_eq!(old.format_version(), 2);
    assert!(old.sources().is_empty());
    assert_eq!(old.pattern_count(), 1);
    let v1 = crate::compile::write(&sections, 1);
    assert!(matches!(
        Database::from_bytes(v1),
        Err(ModuleError::Version { found: 1, .. })
    ));
}

/// Whatever the bytes of the list, reading it never panics.
#[test]
fn damaged_sources_are_read_without_panic() {
    let mut set = SignatureSet::new();
    set.load_bytes("local.ndb", b"L:0:*:494a4b4c\n").unwrap();
    set.load_bytes("other.hdb", b"44d88612fea8a8f36de82e1278abb02f:68:E\n")
        .unwrap();
    let (bytes, _) = compile(&set);
    let db = Database::from_bytes(bytes.clone()).unwrap();
    let (off, len) = db.ranges[sec::SOURCES as usize];
    assert!(len > 0);
    for i in off..off + len {
        for x in [0x01, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= x;
            if let Ok(d) = Database::from_bytes(b) {
                let _ = d.sources();
            }
        }
    }
}

#[test]
fn rejects_damage() {
    let (bytes, _) = compile(&SignatureSet::new());
    assert!(Database::from_bytes(bytes.clone()).is_ok());
    assert!(Database::from_bytes(bytes[..bytes.len() - 1].to_vec()).is_err());
    let mut bad = bytes.clone();
    bad[0] = b'X';
    assert!(Database::from_bytes(bad).is_err());
    let mut v = bytes.clone();
    v[8] = FORMAT_VERSION as u8 + 1;
    assert!(matches!(
        Database::from_bytes(v),
        Err(ModuleError::Version { .. })
    ));
    // The middle of the file is the (empty) anchor bitmap.
    let mut body = bytes.clone();
    let mid = body.len() / 2;
    body[mid] ^= 0xff;
    let d = Database::from_bytes(body).unwrap();
    assert!(matches!(d.verify_checksum(), Err(ModuleError::Checksum)));
}

/// A pass through the AVX2 blocks finds what the scalar loop finds: the
/// same first `.ndb` (so the same name), every logical subsignature in
/// the same order, the same budget left; on dense matches from a
/// four-letter alphabet, with 4- and 2-byte anchors, absolute, `EOF-n`
/// and ranged offsets, and lengths around the block sizes (the
/// reviewer of stop 43 wrote the first version). Three kinds of module:
/// every anchor made of text bytes, none (base64 runs stepped over), and
/// both (probed in full); the data mixes the
/// patterns' letters with runs of base64 text and random bytes.
#[test]
fn the_vector_filter_finds_what_the_scalar_loop_finds() {
    let mut seed = 0x1234_5678_9abc_def1_u64;
    let mut rnd = |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    };
    let b64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/\r\n";
    let (mut ndb_hits, mut ldb_hits, mut stepped) = (0, 0, 0);
    for round in 0..30u64 {
        // Round kinds: letters only; every third byte not text, so that
        // no window of a pattern is all text but some end in a text run;
        // a mix of both.
        let kind = round % 3;
        let letters = [0x41u8, 0x42, 0x43, 0x44];
        let others = [0x2du8, 0x00, 0xe0, 0x20];
        let pick = |j: usize, rnd: &mut dyn FnMut(u64) -> u64| -> u8 {
            let other = match kind {
                0 => false,
                1 => j % 3 == 2,
                _ => rnd(3) == 0,
            };
            if other {
                others[rnd(4) as usize]
            } else {
                letters[rnd(4) as usize]
            }
        };
        let hex = |n: usize, rnd: &mut dyn FnMut(u64) -> u64| -> String {
            (0..n).map(|j| format!("{:02x}", pick(j, rnd))).collect()
        };
        let hex2 = |rnd: &mut dyn FnMut(u64) -> u64| -> String {
            (1..3).map(|j| format!("{:02x}", pick(j, rnd))).collect()
        };
        let mut ndb = String::new();
        let mut ldb = String::new();
        for k in 0..60 {
            let n = 4 + rnd(5) as usize;
            let body = hex(n, &mut rnd);
            let off = match rnd(4) {
                0 => "*".to_string(),
                1 => rnd(40).to_string(),
                2 => format!("EOF-{}", rnd(40)),
                _ => format!("{},{}", rnd(20), rnd(20)),
            };
            ndb.push_str(&format!("N{round}_{k}:0:{off}:{body}\n"));
        }
        for k in 0..20 {
            // Two literal bytes, a wildcard, one more: a 2-byte anchor.
            let (a, b) = (hex2(&mut rnd), hex(1, &mut rnd));
            ndb.push_str(&format!("S{round}_{k}:0:*:{a}??{b}\n"));
        }
        for k in 0..20 {
            let (h1, h2) = (hex(4, &mut rnd), hex(5, &mut rnd));
            ldb.push_str(&format!("L{round}_{k};Target:0;0&1;{h1};{h2}\n"));
        }
        // A database `.ftm` naming no embedded type leaves out the
        // built-in embedded patterns (two of which anchor on text), so
        // that kind 1 modules have no text anchor at all.
        let ftm = "0:0:7f454c46:ELF:CL_TYPE_ANY:CL_TYPE_ELF\n";
        let d = db(&[("r.ndb", &ndb), ("r.ldb", &ldb), ("r.ftm", ftm)]);
        assert_eq!(d.step_text, kind == 1, "{round}");
        stepped += usize::from(d.step_text);
        for _ in 0..400 {
            let len = rnd(600) as usize;
            let mut data = Vec::with_capacity(len);
            while data.len() < len {
                let run = 1 + rnd(80) as usize;
                let what = rnd(8);
                for j in 0..run {
                    data.push(match what {
                        0..=2 => b64[rnd(b64.len() as u64) as usize],
                        3 => rnd(256) as u8,
                        _ => pick(j, &mut rnd),
                    });
                }
            }
            data.truncate(len);
            let run = |scalar: bool| {
                super::filter::SCALAR_ONLY.with(|c| c.set(scalar));
                let h = d.pass(&data, T_ANY, Eof::Data);
                super::filter::SCALAR_ONLY.with(|c| c.set(false));
                (h.ndb, h.lsub, h.types, h.steps_left)
            };
            let vector = run(false);
            ndb_hits += usize::from(vector.0.is_some());
            ldb_hits += usize::from(!vector.1.is_empty());
            assert_eq!(vector, run(true), "round {round}, {len} bytes");
        }
    }
    // Enough matches that the comparison means something.
    assert!(ndb_hits > 5000 && ldb_hits > 1000, "{ndb_hits} {ldb_hits}");
    assert_eq!(stepped, 10);
}

/// A module says whether an anchor is made only of text bytes; with
/// none, base64 runs are stepped over and a pattern right after them is
/// still found; a module that says nothing (an older compiler's) finds
/// the same.
#[test]
fn modules_say_whether_text_is_stepped_over() {
    let ftm = ("r.ftm", "0:0:7f454c46:ELF:CL_TYPE_ANY:CL_TYPE_ELF\n");
    let text = db(&[("t.ndb", "T:0:*:5a6d39764c6d4a6863673d3d\n"), ftm]);
    assert!(!text.step_text);
    let mut set = SignatureSet::new();
    set.load_bytes("b.ndb", b"B:0:*:41c142c143\n").unwrap();
    set.load_bytes(ftm.0, ftm.1.as_bytes()).unwrap();
    let (bytes, _) = compile(&set);
    let d = Database::from_bytes(bytes.clone()).unwrap();
    assert!(d.step_text);
    let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n";
    let mut data = line.repeat(40);
    data.extend(b"A\xc1B\xc1C");
    data.extend(line.repeat(40));
    let hit = |d: &Database| d.pass(&data, T_ANY, Eof::Data).ndb;
    let want = hit(&d);
    assert!(want.is_some());
    let (off, _) = d.ranges[sec::PARAMS as usize];
    let mut old = bytes.clone();
    old[off + 8] &= !(PARAM_TEXT_KNOWN as u8);
    let o = Database::from_bytes(old).unwrap();
    assert!(!o.step_text);
    assert_eq!(hit(&o), want);
}

/// The name a pass over `data` reports, for the targets in `mask`.
fn first(d: &Database, data: &[u8], mask: u16) -> Option<String> {
    d.pass(data, mask, Eof::Data).ndb.map(|n| d.name(n).to_string())
}

/// Two matches: the name is clamscan's whatever the anchors. Each case
/// below was run through clamscan 1.4.6 with the same lines and bytes.
/// (Not here: two wildcard patterns in one trie node at one place, whose
/// order in clamscan follows where its memory pool put them;
/// `compile/order.rs` takes load order.)
#[test]
fn names_come_in_clamscan_order() {
    let case = |lines: &str, data: &[u8], mask: u16, want: &str| {
        let d = db(&[("r.ndb", lines)]);
        assert_eq!(first(&d, data, mask).as_deref(), Some(want), "{lines}");
    };
    // Plain strings: found where their bucket is, the first free one
    // along the string; `One` moves one byte on.
    case(
        "Two:0:*:41424344c1\nOne:0:*:41424344\n",
        b"xxABCD\xc1xx",
        T_ANY,
        "Two",
    );
    // The earlier start, though its anchor may come later.
    case(
        "Q:0:*:41424344c1\nP:0:*:0000000041424344\n",
        b"\0\0\0\0ABCD\xc1\xc2\xc3\xc4",
        T_ANY,
        "P",
    );
    // A shorter string in a taken bucket: the newest comes first.
    case("B:0:*:41424344\nA:0:*:414243\n", b"xABCDx", T_ANY, "A");
    case("X:0:*:4142434445\nZ:0:*:414243\n", b"xABCDEx", T_ANY, "Z");
    // Three identical plain strings share a bucket: the newest first.
    case("A:0:*:414243\nB:0:*:414243\nC:0:*:414243\n", b"xABCx", T_ANY, "C");
    // Identical longer ones: the second moves on, the first is found.
    case("A:0:*:41424344\nB:0:*:41424344\n", b"xABCDx", T_ANY, "A");
    // Wildcard patterns are found where their trie bytes end: X starts
    // first, but its first fixed run of three is further on.
    let xy = b"-AXYqZBCDE-";
    case("X:0:*:41????????42434445\nY:0:*:5859??5a\n", xy, T_ANY, "Y");
    case("Y:0:*:5859??5a\nX:0:*:41????????42434445\n", xy, T_ANY, "Y");
    // Plain strings before wildcard patterns, in either load order.
    let both = b"xxABCD\xc1\xc2\xc3\xc4xx";
    case("W:0:*:414243??c1\nS:0:*:c1c2c3c4\n", both, T_ANY, "S");
    case("S:0:*:c1c2c3c4\nW:0:*:414243??c1\n", both, T_ANY, "S");
    // The object's target before the generic signatures.
    let elf = [&b"\x7fELF"[..], &[0; 60], b"GENERIC TARGETED"].concat();
    case(
        "G:0:*:47454e45524943\nT:6:*:54415247455445\n",
        &elf,
        T_ANY | T_ELF,
        "T",
    );
    // But chunk by chunk: a match 128 KiB on waits for the next chunk.
    let far = |gap: usize| {
        [&b"xxABCD\xc1xx"[..], &vec![0; gap], b"\xc1\xc2\xc3\xc4"].concat()
    };
    let lines = "W:0:*:414243??c1\nS:0:*:c1c2c3c4\n";
    case(lines, &far(200_000), T_ANY, "W");
    case(lines, &far(100_000), T_ANY, "S");
    // Both in the second chunk: plain strings first again.
    let second = [&vec![0; 140_000][..], &far(60_000)].concat();
    case(lines, &second, T_ANY, "S");
    // The generic chunks overlap by at least clamscan's 32-byte built-in
    // patterns: W at 262115 waits for the third chunk, P is in the second.
    let pad = |n: usize| vec![0x80u8; n];
    let w =
        [&pad(262_115)[..], b"WWqWW", &pad(30), b"PPP", &pad(200)].concat();
    case("W:0:*:5757??5757\nP:0:*:505050\n", &w, T_ANY, "P");
    // A logical signature's 100-byte subsignature widens the overlap: W,
    // ending at 262060, is in the second chunk without it, the third
    // with it (where P, a plain string, comes first).
    let w =
        [&pad(262_055)[..], b"WWqWW", &pad(140), b"PPP", &pad(200)].concat();
    let lines = "W:0:*:5757??5757\nP:0:*:505050\n";
    case(lines, &w, T_ANY, "W");
    let ldb = format!("L;Target:0;0;{}\n", "aa".repeat(100));
    let d = db(&[("r.ndb", lines), ("l.ldb", &ldb)]);
    assert_eq!(first(&d, &w, T_ANY).as_deref(), Some("P"));
}

/// The cases the reviewer of the order found, each run through clamscan
/// 1.4.6: part numbers, alternatives of different lengths, `{n}`.
#[test]
fn trie_ties_and_lengths_come_in_clamscan_order() {
    let case = |lines: &str, data: &[u8], want: &str| {
        let d = db(&[("r.ndb", lines)]);
        assert_eq!(first(&d, data, T_ANY).as_deref(), Some(want), "{lines}");
    };
    let pad = |n: usize| vec![0x80u8; n];
    // In one trie node a single part comes before any part of several,
    // and a second part before a third.
    let f = [&pad(20)[..], b"MMM", &pad(10), b"XYZqA", &pad(20)].concat();
    case("M:0:*:4d4d4d*58595a\nS:0:*:58595a??41\n", &f, "S");
    let f = [
        &pad(20)[..],
        b"NNN",
        &pad(3),
        b"MMM\x80OOO",
        &pad(10),
        b"XYZ",
        &pad(20),
    ]
    .concat();
    case("M3:0:*:4e4e4e*4f4f4f*58595a\nM2:0:*:4d4d4d*58595a\n", &f, "M2");
    // The trie bytes are where the alternative chosen puts them: A is
    // found at Z, after B's XY.
    let f = [&pad(20)[..], b"BCXYZ", &pad(20)].concat();
    case("A:0:*:(41|4243)58595a\nB:0:*:5859(5a|5b)\n", &f, "B");
    case("B:0:*:5859(5a|5b)\nA:0:*:(41|4243)58595a\n", &f, "B");
    let f = [&pad(20)[..], b"MMM", &pad(5), b"XYZBCq", &pad(20)].concat();
    case("C:0:*:595a42??\nM:0:*:4d4d4d*58595a(41|4243)\n", &f, "M");
    // The first `{n}` is n wildcard bytes in the part, not a gap: G is
    // found at MMM.
    let f = [&pad(20)[..], b"MMM\x80\x80XYZq", &pad(20)].concat();
    case("T:0:*:58595a??\nG:0:*:4d4d4d{2}58595a\n", &f, "G");
    // Leading zeros move the trie bytes on ("\0AB", found at B), past
    // Y's "\0A"; in either load order.
    let elf =
        |body: &[u8]| [&b"\x7fELF"[..], &pad(60), body, &pad(20)].concat();
    let d = db(&[("r.ndb", "Z:6:*:000000414243\nY:6:*:0041(42|43)\n")]);
    let f = elf(b"\0\0\0ABC");
    assert_eq!(first(&d, &f, T_ANY | T_ELF).as_deref(), Some("Y"));
    // A run of three zeros gives way to an earlier two bytes that are
    // not zeros: R is found at its AB, before Q's "C\0".
    let f = [&pad(20)[..], b"xABC\0\0\0", &pad(20)].concat();
    case("R:0:*:??4142??000000\nQ:0:*:4300??00\n", &f, "R");
    case("Q:0:*:4300??00\nR:0:*:??4142??000000\n", &f, "R");
}

/// A module written before format 10 has no order table: it reports
/// the first match in the order of its anchors. Those move off text
/// now (`One` can only anchor on "ABCD", `Two` anchors on "BCD\xc1"),
/// and the order table keeps clamscan's name.
#[test]
fn modules_without_the_order_report_the_first_found() {
    let lines = "Two:0:*:41424344c1\nOne:0:*:41424344\n";
    let mut d = db(&[("r.ndb", lines)]);
    let data = b"xxABCD\xc1xx";
    assert_eq!(first(&d, data, T_ANY).as_deref(), Some("Two"));
    d.ranges[sec::ORDER as usize] = (0, 0);
    assert_eq!(first(&d, data, T_ANY).as_deref(), Some("One"));
}

/// A module whose only text anchor is a 2-byte one: base64 runs are
/// probed for it, not stepped over (the reviewer of stop 44 wrote this).
#[test]
fn two_byte_text_anchors_stop_the_stepping() {
    let d = db(&[
        ("r.ndb", "Two:0:*:4142??43\nBin:0:*:c1c2c3c4c5\n"),
        ("r.ftm", "0:0:7f454c46:ELF:CL_TYPE_ANY:CL_TYPE_ELF\n"),
    ]);
    assert!(!d.step_text);
    let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\n";
    let mut data = line.repeat(8);
    data.extend(b"ABxC");
    data.extend(line.repeat(8));
    let run = |scalar: bool| {
        super::filter::SCALAR_ONLY.with(|c| c.set(scalar));
        let h = d.pass(&data, T_ANY, Eof::Data);
        super::filter::SCALAR_ONLY.with(|c| c.set(false));
        h.ndb
    };
    assert!(run(false).is_some());
    assert_eq!(run(false), run(true));
}

/// A compiled module's filter goes through the vector code wherever the
/// CPU has it: nothing in its sizes makes the blocks fall back to the
/// scalar loop unseen (the reviewer of stop 44 found a wrong size
/// would have).
#[cfg(target_arch = "x86_64")]
#[test]
fn compiled_modules_take_the_vector_path() {
    let d = db(&[("r.ndb", "B:0:*:c1c2c3c4\n")]);
    let vector = cfg!(all(target_arch = "x86_64", nod32_vector))
        && std::arch::is_x86_feature_detected!("avx2");
    assert_eq!(d.probe().is_vector(), vector);
}
