use super::*;

fn load(name: &str, text: &str) -> Result<SignatureSet, LoadError> {
    let mut s = SignatureSet::new();
    s.load_bytes(name, text.as_bytes())?;
    Ok(s)
}

#[test]
fn hash_lines() {
    let s = load(
        "t.hdb",
        "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Hash\n\
         # comment\n\
         44d88612fea8a8f36de82e1278abb02f:*:Any-Size:73\n\
         44d88612fea8a8f36de82e1278abb02f:68:Future:999\n",
    )
    .unwrap();
    assert_eq!(s.hashes.len(), 2);
    assert_eq!(s.hashes[1].size, None);
    assert_eq!(s.stats.skipped_flevel, 1);
    let e = load("t.hdb", "abcd:1:X\n").unwrap_err();
    assert!(e.to_string().contains("t.hdb:1"), "{e}");
    assert!(load("t.hdb", "44d88612fea8a8f36de82e1278abb02f:*:X\n").is_err());
}

#[test]
fn ndb_lines() {
    let s = load(
        "t.ndb",
        "A:0:*:41424344\nB:4:10,5:41424344\nC:7:EOF-10:41424344\n\
         D:1:EP+0:41424344\nE:0:*:41424344:1:20\n\
         F:1:EP-4,8:41424344\nG:1:S2+16:41424344\nH:1:SL+0:41424344\n\
         I:1:SE1:41424344\nJ:6:*:41424344\nK:1:S64+0:41424344\n",
    )
    .unwrap();
    assert_eq!(s.ndbs.len(), 9);
    assert_eq!(s.ndbs[8].target, 6);
    assert_eq!(s.ndbs[1].offset, Offset::Abs { n: 10, shift: 5 });
    assert_eq!(s.ndbs[2].offset, Offset::EofMinus { n: 10, shift: 0 });
    assert_eq!(s.ndbs[3].offset, Offset::EpPlus { n: 0, shift: 0 });
    assert_eq!(s.ndbs[4].offset, Offset::EpMinus { n: 4, shift: 8 });
    assert_eq!(s.ndbs[5].offset, Offset::Section { x: 2, n: 16, shift: 0 });
    assert_eq!(s.ndbs[6].offset, Offset::LastSection { n: 0, shift: 0 });
    assert_eq!(s.ndbs[7].offset, Offset::WithinSection { x: 1, shift: 0 });
    // A section index beyond what the module stores.
    assert_eq!(s.stats.unsupported_total(), 1);
    assert!(load("t.ndb", "X:1:EPX:41424344\n").is_err());
    // As clamscan, a file whose pattern sits at an entry point or a
    // section of something not an executable is refused.
    for bad in [
        "X:0:EP+0:41424344",
        "X:3:SE1:41424344",
        "X:10:S1+2:4142",
        "X:0:VI:41424344",
    ] {
        let e = load("t.ndb", &format!("{bad}\n")).unwrap_err();
        assert!(e.to_string().contains("target type 1, 6 or 9"), "{e}");
    }
    assert!(load("t.ndb", "X:9:EP+0:41424344\n").is_ok());
    // Anything starting `VI` is a version-information offset for
    // clamscan, a shift ignored.
    let v = load("t.ndb", "V:1:VI:41424344\nW:1:VIx,3:41424344\n").unwrap();
    assert!(v.ndbs.iter().all(|n| n.offset == Offset::VersionInfo));
    assert!(load("t.ndb", "X:8:*:41424344\n").unwrap().ndbs.is_empty());
    assert_eq!(s.stats.skipped_flevel, 1);
    let e = load("x.ndb", "A:0:*:414243\nB:0:*:zz\n").unwrap_err();
    assert!(e.to_string().starts_with("invalid signature at x.ndb:2"), "{e}");
}

#[test]
fn ldb_lines() {
    let s = load(
        "t.ldb",
        "L1;Engine:51-255,Target:0;0&1;41424344;10:45464748::iw\n\
         L2;Target:0,FileSize:10-20;0>2;41424344\n\
         L3;Target:1,EntryPoint:1-2;0;41424344\n\
         L4;Target:0;0&1;41424344;0/abc(?=d)/\n\
         L5;Target:0;0&1;41424344;10,5:0/ab+c/gri::f\n",
    )
    .unwrap();
    assert_eq!(s.ldbs.len(), 4);
    assert!(
        matches!(&s.ldbs[3].subs[1], SubSig::Pcre(p) if p.global && p.rolling && p.source.starts_with("(?-u)(?i)"))
    );
    assert!(
        matches!(&s.ldbs[0].subs[1], SubSig::Body { mods, .. } if mods.wide)
    );
    assert_eq!(s.ldbs[1].filesize, Some((10, 20)));
    assert_eq!(s.ldbs[2].entry_point, Some((1, 2)));
    assert_eq!(s.stats.unsupported_total(), 1);
    assert!(load("t.ldb", "L;Target:0;0&3;41424344\n").is_err());
    // A type ClamAV does not know passes the signature over.
    let s = load(
        "t.ldb",
        "H1;Engine:81-255,Target:0,HandlerType:CL_TYPE_ZIP;0;41424344\n\
         H2;Engine:81-255,Target:0,HandlerType:CL_TYPE_NO;0;41424344\n\
         C1;Engine:81-255,Target:0,Container:CL_TYPE_NO;0;41424344\n",
    )
    .unwrap();
    assert_eq!(s.ldbs.len(), 1);
    assert_eq!(s.ldbs[0].name, "H1");
    assert_eq!(s.stats.unsupported_total(), 2);
}

#[test]
fn directories_are_read_as_libclamav_reads_them() {
    use super::cvd::tests::build_version;
    let d = tempfile::tempdir().unwrap();
    let put = |n: &str, b: &[u8]| std::fs::write(d.path().join(n), b);
    put(
        "daily.cvd",
        &build_version(&[("d.ndb", b"Old:0:*:41424344\n")], true, 5),
    )
    .unwrap();
    put(
        "daily.cld",
        &build_version(&[("d.ndb", b"New:0:*:41424344\n")], false, 6),
    )
    .unwrap();
    put("local.ndb", b"Local:0:*:45464748\nGone:0:*:45464749\n").unwrap();
    put("z.ign2", b"Gone\n").unwrap();
    put("third.cdb", b"Zip:CL_TYPE_ZIP:*:evil\\.exe:*:*:*:*:*:*\n").unwrap();
    put("x.ftm", b"4:1024:482b0004:HFS+:CL_TYPE_ANY:CL_TYPE_PART_HFSPLUS\n")
        .unwrap();
    put("daily.info", b"not read\n").unwrap();
    put("notes.txt", b"not read\n").unwrap();
    std::fs::create_dir(d.path().join("sub.ndb")).unwrap();
    let names = |s: &SignatureSet| -> Vec<String> {
        s.ndbs
            .iter()
            .filter(|n| !s.is_ignored(&n.name, &n.line_md5))
            .map(|n| n.name.clone())
            .collect()
    };
    let mut s = SignatureSet::new();
    s.load_path(d.path()).unwrap();
    // The newer daily only; the ignore list applies to local.ndb read
    // before it by name.
    assert_eq!(names(&s), ["New", "Local"]);
    assert_eq!(s.cdbs.len(), 1);
    let w = s.stats.unsupported_warning().unwrap();
    assert!(!w.contains("third.cdb") && w.contains(".ftm mode 4"), "{w}");
    assert!(!w.contains("daily.info") && !w.contains("notes"), "{w}");

    // In memory instead of both forms on disk.
    let v7 = build_version(&[("d.ndb", b"Seven:0:*:41424344\n")], true, 7);
    let mut s = SignatureSet::new();
    s.load_dir(d.path(), &[("daily.cvd".into(), &v7[..])]).unwrap();
    assert_eq!(names(&s), ["Seven", "Local"]);

    // Same version: the .cld.
    put(
        "daily.cvd",
        &build_version(&[("d.ndb", b"Cvd:0:*:41424344\n")], true, 6),
    )
    .unwrap();
    let mut s = SignatureSet::new();
    s.load_path(d.path()).unwrap();
    assert_eq!(names(&s), ["New", "Local"]);
    assert!(SignatureSet::is_database_file("a.YARA"));
    assert!(!SignatureSet::is_database_file("a.info"));
    assert!(!SignatureSet::is_database_file("ndb"));
}

/// Each file a set was read from is named once, a container with its
/// header's version and build time, with the signatures read from it;
/// files of kinds the engine does not read are not.
#[test]
fn sources_name_each_file_read() {
    use super::cvd::tests::build_version;
    let d = tempfile::tempdir().unwrap();
    let put = |n: &str, b: &[u8]| std::fs::write(d.path().join(n), b);
    put(
        "daily.cvd",
        &build_version(&[("d.ndb", b"Old:0:*:41424344\n")], true, 5),
    )
    .unwrap();
    put(
        "daily.cld",
        &build_version(
            &[
                ("d.ndb", b"New:0:*:41424344\n"),
                ("d.ldb", b"L;Target:0;0;41424344\n"),
                ("d.ftm", b"0:0:4d5a:PE:CL_TYPE_ANY:CL_TYPE_MSEXE\n"),
            ],
            false,
            6,
        ),
    )
    .unwrap();
    put("local.ndb", b"Local:0:*:45464748\nGone:0:*:45464749\n").unwrap();
    put("z.ign2", b"Gone\n").unwrap();
    put("third.cdb", b"Zip:CL_TYPE_ZIP:*:evil\\.exe:*:*:*:*:*:*\n").unwrap();
    put("x.ftm", b"0:0:4d5a:PE:CL_TYPE_ANY:CL_TYPE_MSEXE\n").unwrap();
    let brief = |s: &SignatureSet| -> Vec<(String, Option<u32>, u64)> {
        s.sources()
            .iter()
            .map(|x| (x.name.clone(), x.version, x.signatures))
            .collect()
    };
    let mut s = SignatureSet::new();
    s.load_path(d.path()).unwrap();
    assert_eq!(
        brief(&s),
        [
            ("z.ign2".to_string(), None, 0),
            ("daily.cld".to_string(), Some(6), 3),
            ("local.ndb".to_string(), None, 2),
            ("third.cdb".to_string(), None, 1),
            ("x.ftm".to_string(), None, 1),
        ]
    );
    assert_eq!(s.sources()[1].build_time, Some(1_795_000_000));
    // An updater's new version in memory is named as the file it
    // becomes.
    let v7 = build_version(&[("d.ndb", b"Seven:0:*:41424344\n")], true, 7);
    let mut s = SignatureSet::new();
    s.load_dir(d.path(), &[("daily.cvd".into(), &v7[..])]).unwrap();
    assert_eq!(brief(&s)[1], ("daily.cvd".to_string(), Some(7), 1));
    // A file named by its path is named by its file name.
    let mut s = SignatureSet::new();
    s.load_path(&d.path().join("local.ndb")).unwrap();
    assert_eq!(brief(&s), [("local.ndb".to_string(), None, 2)]);
}

/// ClamAV's category rule: the categories joined `.A.B.` must occur
/// in the name's `.Platform.Category.` part; without the `PUA.`
/// prefix or a category part, nothing is kept once categories are
/// given.
#[test]
fn pua_categories_as_clamav_reads_them() {
    let inc = |c: &[&str]| {
        PuaCategories::Include(c.iter().map(|s| s.to_string()).collect())
    };
    let exc = |c: &[&str]| {
        PuaCategories::Exclude(c.iter().map(|s| s.to_string()).collect())
    };
    assert!(inc(&["Tool"]).keeps("PUA.Win.Tool.Thing-1"));
    assert!(inc(&["Win"]).keeps("PUA.Win.Tool.Thing-1"));
    assert!(inc(&["Win.Tool"]).keeps("PUA.Win.Tool.Thing-1"));
    assert!(inc(&["Win", "Tool"]).keeps("PUA.Win.Tool.Thing-1"));
    assert!(!inc(&["Tool", "Win"]).keeps("PUA.Win.Tool.Thing-1"));
    assert!(!inc(&["Thing-1"]).keeps("PUA.Win.Tool.Thing-1"));
    assert!(!inc(&["Too"]).keeps("PUA.Win.Tool.Thing-1"));
    assert!(!exc(&["Tool"]).keeps("PUA.Win.Tool.Thing-1"));
    assert!(exc(&["Packed"]).keeps("PUA.Win.Tool.Thing-1"));
    let long = format!("PUA.Win.{}.X", "T".repeat(30));
    assert!(!inc(&["Win"]).keeps(&long) && !exc(&["Tool"]).keeps(&long));
    for odd in ["NotPua.Win.Tool.X", "PUA.Thing", "PUAX.Win.Tool.X"] {
        assert!(!inc(&["Win"]).keeps(odd), "{odd}");
        assert!(!exc(&["Win"]).keeps(odd), "{odd}");
        assert!(PuaCategories::All.keeps(odd), "{odd}");
    }
    // PUA files are read only when asked.
    let mut s = SignatureSet::new();
    s.load_bytes("p.ndu", b"PUA.Win.Tool.X:0:*:41424344\n").unwrap();
    assert!(s.ndbs.is_empty());
    assert_eq!(s.stats.pua_files_skipped, 1);
    let mut s = SignatureSet::new();
    s.detect_pua(exc(&["Tool"]));
    s.load_bytes(
        "p.ndu",
        b"PUA.Win.Tool.X:0:*:41424344\nPUA.Win.Packed.Y:0:*:45464748\n",
    )
    .unwrap();
    let names: Vec<&str> = s.ndbs.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["PUA.Win.Packed.Y"]);
    assert_eq!(s.stats.pua_excluded, 1);
}

#[test]
fn ignores() {
    let mut s = SignatureSet::new();
    s.load_bytes("x.ign2", b"Bad.Sig\n").unwrap();
    assert!(s.is_ignored("Bad.Sig", &[0; 16]));
    assert!(!s.is_ignored("Good.Sig", &[0; 16]));
}

/// A line `.ign2` disables that could not have been read is counted as
/// ignored, not as outside the functionality level.
#[test]
fn unreadable_ignored_lines_count_as_ignored() {
    let mut s = SignatureSet::new();
    s.load_bytes("x.ign2", b"Bad.Sig\nLater.Sig\n").unwrap();
    s.load_bytes(
        "x.ndb",
        b"Bad.Sig:0:*:zz\nGood.Sig:0:*:414243\nLater.Sig:0:*:414243:999\n",
    )
    .unwrap();
    // Ignored before its level is looked at, as clamscan does.
    assert_eq!(s.stats.ignored, 2);
    assert_eq!(s.stats.skipped_flevel, 0);
    assert_eq!(s.stats.body, 1);
    let row = &s.stats.table[&("ndb".to_string(), Some(0))];
    assert_eq!((row.loaded, row.outside_flevel), (1, 0));
}

/// clamscan counts a line's fields before it looks the name up in the
/// ignore lists: a wrong count fails the database even for an ignored
/// name.
#[test]
fn an_ignored_line_still_needs_its_fields() {
    let mut s = SignatureSet::new();
    s.load_bytes("x.ign2", b"Bad.Sig\n").unwrap();
    assert!(s.load_bytes("x.ndb", b"Bad.Sig:0:*\n").is_err());
    assert!(s.load_bytes("y.ndb", b"Bad.Sig:0:*:41:0:255:x\n").is_err());
    assert!(s.load_bytes("x.ldb", b"Bad.Sig;Target:0;0\n").is_err());
    s.load_bytes("z.ldb", b"Bad.Sig;Target:0;0;zz\n").unwrap();
    assert_eq!(s.stats.ignored, 1);
}

/// The reason a refused line gives, as `nod32cli` prints it after the
/// file and line.
fn why<T, E: std::fmt::Display>(r: Result<Line<T>, E>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(_) => panic!("accepted"),
    }
}

/// Why a line is counted instead of loaded, as the load's table and
/// warning name it.
fn unsupported<T, E: std::fmt::Debug>(r: Result<Line<T>, E>) -> String {
    match r {
        Ok(Line::Unsupported(r)) => r.to_string(),
        Err(e) => panic!("refused: {e:?}"),
        Ok(_) => panic!("not counted as unsupported"),
    }
}

const MD5: &str = "44d88612fea8a8f36de82e1278abb02f";

#[test]
fn hash_refusals_keep_their_texts() {
    for (line, text) in [
        ("a:b".to_string(), "expected HASH:SIZE:NAME[:MINFL[:MAXFL]]"),
        ("abcd:1:X".into(), "hash of 4 hex digits"),
        (format!("{}:1:X", "z".repeat(32)), "invalid hex in hash"),
        (
            format!("{MD5}:*:X"),
            "size '*' needs a functionality level of at least 73",
        ),
        (format!("{MD5}:big:X"), "invalid size 'big'"),
        (format!("{MD5}:1:"), "empty signature name"),
        (format!("{MD5}:1:X:abc"), "invalid functionality level 'abc'"),
        (format!("{MD5}:1:X:1:abc"), "invalid functionality level 'abc'"),
    ] {
        assert_eq!(why(parse_hash(&line)), text, "{line}");
    }
    assert_eq!(
        unsupported(parse_hash(&format!("{MD5}:5000000000:X"))),
        "hash of an object over 4 GiB"
    );
}

#[test]
fn ndb_refusals_keep_their_texts() {
    for (line, text) in [
        ("A:0:*", "expected NAME:TARGET:OFFSET:HEXSIG[:MINFL[:MAXFL]]"),
        (":0:*:41424344", "empty signature name"),
        ("A:x:*:41424344", "invalid target type 'x'"),
        ("A:0:*:41424344:x", "invalid functionality level 'x'"),
        ("A:1:EPX:41424344", "invalid PE-relative offset 'EPX'"),
        ("A:0:1x:41424344", "invalid number '1x'"),
        ("A:0:10,x:41424344", "invalid number 'x'"),
        ("A:0:99999999999:41424344", "number out of range '99999999999'"),
        ("A:0:*:4142zz", "invalid hex pair 'zz'"),
        (
            "A:0:*:4142",
            "a signature of fewer than three bytes and no wildcard (clamscan refuses it)",
        ),
        (
            "A:0:EP+0:41424344",
            "an offset from the entry point or a section needs target type 1, 6 or 9, not 0",
        ),
    ] {
        assert_eq!(why(parse_ndb(line)), text, "{line}");
    }
    for (line, text) in [
        ("A:8:*:41424344", "target type 8 (unused)"),
        ("A:13:*:41424344", "target type 13 (internal)"),
        ("A:99:*:41424344", "target type 99 (unknown)"),
        ("A:1:SE64:41424344", "section offset SE64 (index over 63)"),
        ("A:1:S64+0:41424344", "section offset S64 (index over 63)"),
        ("A:0:$1$:41424344", "macro offset ($n$)"),
    ] {
        assert_eq!(unsupported(parse_ndb(line)), text, "{line}");
    }
}

#[test]
fn ldb_refusals_keep_their_texts() {
    let many = format!("A;Target:0;0;{}", ["41424344"; 65].join(";"));
    for (line, text) in [
        ("A;Target:0;0", "expected NAME;TDB;EXPRESSION;SUBSIG0[;SUBSIG1...]"),
        (many.as_str(), "more than 64 subsignatures"),
        (";Target:0;0;41424344", "empty signature name"),
        (
            "A;Target;0;41424344",
            "target description 'Target' is not KEY:VALUE",
        ),
        ("A;Engine:x-999;0;41424344", "invalid number 'x'"),
        ("A;Target:x;0;41424344", "invalid number 'x'"),
        (
            "A;Target:0;0&1;41424344",
            "expression names subsignature 1, but there are 1",
        ),
        (
            "A;Target:0;0;41424344;45464748",
            "the expression names subsignatures up to 0, but there are 2 (clamscan refuses it)",
        ),
        ("A;Target:0;0;4142zz", "invalid hex pair 'zz'"),
        ("A;Target:0;0;41424344::q", "unknown modifier 'q'"),
        ("A;Target:0;0;EPX:41424344", "invalid PE-relative offset 'EPX'"),
        ("A;Target:0;0&1;41424344;0/abc/q", "unknown PCRE flag 'q'"),
        (
            "A;Target:0;0&1;41424344;0/abc/::w",
            "the wide modifier does not apply to PCRE subsignatures",
        ),
        (
            "A;Target:0;0&1;41424344;5/abc/",
            "expression names subsignature 5, but there are 2",
        ),
        (
            "A;Target:0,IconGroup1:x;0;41424344",
            "IconGroup1 and IconGroup2 need target type 1 (clamscan refuses them elsewhere)",
        ),
        (
            "A;Target:0;0;EP+0:41424344",
            "an offset from the entry point or a section needs target type 1, 6 or 9, not 0",
        ),
        (
            "A;Target:0,EntryPoint:1-2;0;41424344",
            "EntryPoint and NumberOfSections need target type 1, 6 or 9, not 0",
        ),
    ] {
        assert_eq!(why(parse_ldb(line)), text, "{line}");
    }
    for (line, text) in [
        ("A;Target:8;0;41424344", "target type 8 (unused)"),
        (
            "A;Target:0,Container:CL_TYPE_NO;0;41424344",
            "unknown type CL_TYPE_NO in Container",
        ),
        (
            "A;Target:0,Intermediates:CL_TYPE_ZIP>CL_TYPE_NO;0;41424344",
            "unknown type CL_TYPE_NO in Intermediates",
        ),
        (
            "A;Target:0,HandlerType:CL_TYPE_NO;0;41424344",
            "unknown type CL_TYPE_NO in HandlerType",
        ),
        ("A;Target:0,Foo:1;0;41424344", "unknown target description key Foo"),
        (
            "A;Target:0;0&1;41424344;fuzzy_img#af2ad01ed42993c7",
            "image fuzzy hash subsignature",
        ),
        ("A;Target:0;0&1;41424344;$1$", "macro subsignature"),
        ("A;Target:0;0&1;41424344;0(>>4#hb2#=0)", "byte-compare subsignature"),
        (
            "A;Target:0;0&1;41424344;0/(?<=a)b/",
            "PCRE subsignature the regex crate cannot run (backreferences, look-around...)",
        ),
        ("A;Target:1;0;SE64:41424344", "section offset SE64 (index over 63)"),
    ] {
        assert_eq!(unsupported(parse_ldb(line)), text, "{line}");
    }
}

/// The whole message of a refused line: file, line and reason.
#[test]
fn a_refused_line_names_file_line_and_reason() {
    let e = load("x.ndb", "A:0:*:41424344\nB:0:*:4142zz\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid signature at x.ndb:2: invalid hex pair 'zz'"
    );
    for (name, text, message) in [
        (
            "t.hdb",
            "abcd:1:X\n",
            "invalid signature at t.hdb:1: hash of 4 hex digits",
        ),
        (
            "t.mdb",
            "1:abcd:X\n",
            "invalid signature at t.mdb:1: hash of 4 hex digits",
        ),
        (
            "t.ldb",
            "A;Target:0;0&3;41424344\n",
            "invalid signature at t.ldb:1: expression names subsignature 3, but there are 1",
        ),
        (
            "t.cdb",
            "A:*:*\n",
            "invalid signature at t.cdb:1: a container metadata signature has 10 to 12 fields, not 3",
        ),
        (
            "t.pdb",
            "H:\n",
            "invalid signature at t.pdb:1: an empty pattern (clamscan refuses it too)",
        ),
        (
            "t.crb",
            "A;1;2\n",
            "invalid signature at t.crb:1: Invalid number of tokens: 3",
        ),
        (
            "t.ftm",
            "0:0:41\n",
            "invalid signature at t.ftm:1: a file-type magic line has 6 to 8 fields, not 3",
        ),
        (
            "t.idb",
            "N:G1:G2\n",
            "invalid signature at t.idb:1: expected NAME:GROUP1:GROUP2:HASH",
        ),
    ] {
        assert_eq!(
            load(name, text).unwrap_err().to_string(),
            message,
            "{name}"
        );
    }
}

/// The reason is held typed, for a caller to match on; it is not the
/// error's `source()`, since the message already holds it and
/// `nod32cli` prints a chain (`{:#}`) that would repeat it.
#[test]
fn a_refused_line_holds_its_reason_typed() {
    use crate::sig_error::{BodyError, NdbError};
    let e = load("x.ndb", "B:0:*:4142zz\n").unwrap_err();
    let LoadError::Malformed { reason, line: 1, .. } = &e else {
        panic!("{e:?}");
    };
    let body = BodyError::HexPair { hi: 'z', lo: 'z' };
    assert_eq!(*reason, SigError::Ndb(NdbError::Body(body)));
    assert!(std::error::Error::source(&e).is_none());
}
