use super::*;

fn rec(kind: u16, body: &[u8]) -> Vec<u8> {
    let mut v = kind.to_le_bytes().to_vec();
    v.extend((body.len() as u16).to_le_bytes());
    v.extend(body);
    v
}

/// A FORMULA record at (row, col) with these tokens.
fn formula(row: u16, col: u16, tokens: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(row.to_le_bytes());
    b.extend(col.to_le_bytes());
    b.extend([15, 0]);
    b.extend([0; 8]);
    b.extend([0; 6]);
    b.extend((tokens.len() as u16).to_le_bytes());
    b.extend(tokens);
    rec(FORMULA, &b)
}

fn boundsheet(state: u8, kind: u8, name: &str) -> Vec<u8> {
    let mut b = vec![0, 0, 0, 0, state, kind, name.len() as u8, 0];
    b.extend(name.as_bytes());
    rec(BOUNDSHEET, &b)
}

/// The lines of the text after ClamAV's header.
fn lines(stream: &[u8]) -> Vec<String> {
    let d = disassemble(stream, 1 << 20);
    assert!(d.text.starts_with(HEADER));
    String::from_utf8_lossy(&d.text[HEADER.len()..])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn the_survey_finds_macro_sheets_and_drawing_groups() {
    let plain = [boundsheet(0, 0, "Sheet1"), rec(0x000a, b"")].concat();
    assert_eq!(survey(&plain), Survey::default());
    let macros = [plain.clone(), boundsheet(2, 1, "M")].concat();
    assert_eq!(survey(&macros), Survey { macros: true, drawings: false });
    // An empty drawing group is none; one byte is one.
    assert!(!survey(&rec(DRAWING_GROUP, b"")).drawings);
    assert!(survey(&rec(DRAWING_GROUP, b"x")).drawings);
    // Read past EOF records and into a record cut short, as ClamAV's
    // byte-by-byte walk reads.
    let cut = [rec(0x000a, b""), boundsheet(0, 1, "M")[..10].to_vec()];
    assert!(survey(&cut.concat()).macros);
    assert!(!survey(&boundsheet(0, 1, "M")[..9]).macros);
}

/// Each line as clamscan 1.4.6 writes it (checked against its
/// `--leave-temps` file), quirks included.
#[test]
fn records_are_written_as_clamscan_writes_them() {
    let mut exec = vec![0x17, 8, 1];
    exec.extend("calc.exe".encode_utf16().flat_map(u16::to_le_bytes));
    exec.extend([0x42, 1, 0x6e, 0]);
    // =CALL("Kernel", 1, -2): CALL is 0x96, whose low byte, read as a
    // signed char, makes 0xff96.
    let call = [
        &[0x17, 6, 0][..],
        b"Kernel",
        &[0x1e, 1, 0, 0x1e, 0xfe, 0xff, 0x42, 3, 0x96, 0],
    ]
    .concat();
    let stream = [
        rec(0x0809, &[0; 16]),
        boundsheet(0, 0, "Sheet1"),
        boundsheet(2, 1, "Macro1"),
        boundsheet(1, 6, "Module"),
        formula(0, 0, &exec),
        formula(1, 2, &call),
        formula(2, 0, &[0x21, 0x36, 0]),
        rec(STRING, b"\x05\x00\x00hello"),
        rec(0x1234, b"??"),
        rec(0x000a, b""),
    ]
    .concat();
    assert_eq!(
        lines(&stream),
        [
            "0809     16   BOF : Beginning of File",
            "0085     14   BOUNDSHEET : Sheet Information - worksheet or \
             dialog sheet, visible",
            "0085     14   BOUNDSHEET : Sheet Information - Excel 4.0 macro \
             sheet, very hidden",
            "0085     14   BOUNDSHEET : Sheet Information - Visual Basic \
             module, hidden",
            "0006     45   FORMULA : Cell Formula - R1C1 len=23  ptgStrcalc.exe \
             ptgFuncVarV args 1 func EXEC (0x006e) (null)",
            // The compressed string from its token byte, cut short by
            // three; the byte past the record is the EXEC record's (a
            // ptgFuncVarV too short to read).
            "0006     41   FORMULA : Cell Formula - R2C3 len=19  \
             ptgStr\x17\x06\0Ker ptgInt 1 ptgInt -2 ptgFuncVarV args 3 func \
             <unknown function> (0xff96) ptgFuncVarV",
            // The byte past this one is the CALL record's `K`.
            "0006     25   FORMULA : Cell Formula - R3C1 len=3  ptgFunc HALT \
             (0x0036) ptgAreaErrV",
            // From the sixth byte on, three past the record's end.
            "0207      8   STRING : String Value of a Formula - \"lo\"",
            "1234      2   <unknown>",
            "000a      0   EOF : End of File",
        ]
    );
}

#[test]
fn names_and_utf16_strings() {
    // A built-in name: Auto_Open.
    let mut auto = vec![0x20, 0, 0, 1, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    auto.extend([0, 1, 0x3a, 0, 0, 0, 0, 0, 0]);
    // A user name: cch is the fourth byte.
    let mut user = vec![0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    user.extend(b"\0Hello, more");
    let wide = |n: u16, s: &[u8]| {
        let mut b = n.to_le_bytes().to_vec();
        b.push(1);
        b.extend(s);
        rec(STRING, &b)
    };
    let utf16 = |s: &str| -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    };
    let stream = [
        rec(NAME, &auto),
        rec(NAME, &user),
        // The character count read as bytes: half the string.
        wide(4, &utf16("abcd")),
        // Nothing, an odd byte, a lone surrogate: iconv's refusal.
        wide(0, &utf16("abcd")),
        wide(3, &utf16("abcd")),
        wide(2, &[0x00, 0xd8, 0x41, 0]),
        wide(4, &utf16("é€")),
    ]
    .concat();
    assert_eq!(
        lines(&stream),
        [
            "0018     23   LABEL : Cell Value, String Constant - \
             built-in-name 1 auto_open",
            "0018     26   LABEL : Cell Value, String Constant - Hello",
            "0207     11   STRING : String Value of a Formula - ab",
            "0207     11   STRING : String Value of a Formula - <Failed to \
             decode UTF16LE string>",
            "0207     11   STRING : String Value of a Formula - <Failed to \
             decode UTF16LE string>",
            "0207      7   STRING : String Value of a Formula - <Failed to \
             decode UTF16LE string>",
            "0207      7   STRING : String Value of a Formula - é€",
        ]
    );
}

#[test]
fn references_numbers_and_attributes() {
    let mut t = vec![0x24, 4, 0, 1, 0]; // R5C2
    t.extend([0x44, 0x01, 0xc0, 2, 0]); // both relative
    t.extend([0x25, 0, 0, 2, 0, 0, 0, 1, 0]);
    t.extend([0x3a, 0, 0, 9, 0, 3, 0]);
    t.extend([0x39, 0, 0, 7, 0, 0, 0]);
    t.push(0x1f);
    t.extend((-1.5f64).to_le_bytes());
    t.extend([0x1d, 1, 0x19, 0x40, 1, 0, 0xaa, 0xbb, 0xcc, 0xdd]);
    t.extend([0x19, 0x08, 0, 0, 0x23, 0x80, 0, 0, 0, 0x16, 0x15]);
    assert_eq!(
        lines(&formula(0, 0, &t))[0],
        "0006     85   FORMULA : Cell Formula - R1C1 len=63  ptgRef R5C2 \
         ptgRefV R~1C~2 ptgArea R1C3:R1C2 ptgRef3d R10C4 ptgNameX NAMEIDX 7 \
         ptgNum -1.500000 ptgBool TRUE ptgAttr CHOOSE (2) ptgAttr ptgName \
         0xffffff80 ptgMissArg ptgParen"
    );
    let mut v = Vec::new();
    for (x, want) in [
        (1.5, "1.500000"),
        (0.0078125, "0.007812"),
        (-0.0, "-0.000000"),
        (1e20, "100000000000000000000.000000"),
        (1.0000005, "1.000001"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
        (f64::NAN, "nan"),
        (-f64::NAN, "-nan"),
    ] {
        v.clear();
        c_fixed(&mut v, x);
        assert_eq!(String::from_utf8_lossy(&v), want);
    }
}

/// Crafted lengths: a record longer than any BIFF8 record is passed
/// over (ClamAV scans nothing then), a stream cut inside a record ends
/// the text, and no token stream reads outside the record buffer.
#[test]
fn lying_lengths_are_bounded() {
    let mut long = 0x0006u16.to_le_bytes().to_vec();
    long.extend(0xffffu16.to_le_bytes());
    long.extend(vec![0x17; 0xffff]);
    let stream = [long, rec(0x000a, b""), rec(0x0006, &[0; 30])].concat();
    let cut = &stream[..stream.len() - 5];
    assert_eq!(
        lines(cut),
        [
            "0006  65535   FORMULA : Cell Formula",
            "000a      0   EOF : End of File",
            "0006     30   FORMULA : Cell Formula",
        ]
    );
    // Strings whose length byte is 128 or more, CHOOSE tables past the
    // end, every token at the end of a full-size record.
    for b in 0..=255u8 {
        for tail in [
            [0x17, b, 1, b],
            [0x17, b, 0, b],
            [0x19, 0x40, b, 0xff],
            [0x16, b, 0xff, 0xff],
            [0x16, 0x16, 0x16, b],
        ] {
            let mut t = vec![0x16; MAX_RECORD - 22 - tail.len()];
            t.extend(tail);
            let d = disassemble(&formula(1, 1, &t), 1 << 20);
            assert!(d.text.len() < 16 * MAX_RECORD);
            assert!(!lines(&formula(1, 1, &t))[0].ends_with("Formula"));
        }
    }
    // The text stops at the cap.
    let many = rec(0x000a, b"").repeat(1000);
    let d = disassemble(&many, 1000);
    assert!(d.truncated && d.text.len() == 1000);
}

fn art(ver: u16, inst: u16, kind: u16, body: &[u8]) -> Vec<u8> {
    let mut v = (ver | inst << 4).to_le_bytes().to_vec();
    v.extend(kind.to_le_bytes());
    v.extend((body.len() as u32).to_le_bytes());
    v.extend(body);
    v
}

#[test]
fn pictures_come_out_of_the_drawing_group() {
    let png = b"\x89PNG\r\n\x1a\nnod32 picture".to_vec();
    let jpeg = b"\xff\xd8\xff\xe0nod32 jpeg".to_vec();
    let blip = art(0, 0x6e0, 0xf01e, &[&[7u8; 17][..], &png].concat());
    let mut fbse = vec![6, 6];
    fbse.extend([7; 16]);
    fbse.extend([0, 0]);
    fbse.extend((blip.len() as u32).to_le_bytes());
    // cRef, foDelay, then a name of three bytes.
    fbse.extend([0; 8]);
    fbse.extend(b"\0\x03\0\0abc");
    fbse.extend(&blip);
    let loose = art(0, 0x46b, 0xf01d, &[&[7u8; 33][..], &jpeg].concat());
    let store =
        art(0xf, 2, 0xf001, &[art(2, 6, 0xf007, &fbse), loose].concat());
    let group =
        art(0xf, 0, 0xf000, &[art(0, 0, 0xf006, &[0; 24]), store].concat());
    assert_eq!(pictures(&group), [&png[..], &jpeg[..]]);
    // Split over a CONTINUE record, as Excel splits a long group.
    let (a, b) = group.split_at(40);
    let stream = [rec(DRAWING_GROUP, a), rec(CONTINUE, b)].concat();
    assert_eq!(disassemble(&stream, 1 << 20).drawing_group.unwrap(), group);
    // Not a drawing group; cut anywhere.
    assert!(pictures(&art(0xf, 0, 0xf002, &group[8..])).is_empty());
    for n in 0..group.len() {
        let _ = pictures(&group[..n]);
    }
}

/// A compound file with one workbook stream.
pub(crate) fn workbook(name: &str, stream: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut f =
        cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
    f.create_stream(name).unwrap().write_all(stream).unwrap();
    f.flush().unwrap();
    f.into_inner().into_inner()
}

fn macro_workbook() -> Vec<u8> {
    let mut exec = vec![0x17, 8, 0];
    exec.extend(b"calc.exe");
    exec.extend([0x42, 1, 0x6e, 0]);
    let stream = [
        boundsheet(0, 0, "Sheet1"),
        boundsheet(0, 1, "Macro1"),
        rec(0x000a, b""),
        formula(0, 0, &exec),
        rec(0x000a, b""),
    ]
    .concat();
    workbook("/Workbook", &stream)
}

#[test]
fn the_text_is_scanned_and_macros_alert_when_asked() {
    use crate::{Database, Options, Scanner, SignatureSet, Verdict};
    let hex = |s: &str| -> String {
        s.bytes().map(|b| format!("{b:02x}")).collect()
    };
    let mut sigs = SignatureSet::new();
    let ndb = format!(
        "Xlm.Exec:0:*:{}\nXlm.Ole2:2:*:{}\nXlm.Text:7:*:{}\n",
        hex("func EXEC (0x006e)"),
        hex("args 1 func EXEC"),
        hex("ptgfuncvarv args"),
    );
    sigs.load_bytes("t.ndb", ndb.as_bytes()).unwrap();
    let db = Database::from_signatures(&sigs).unwrap();
    let name = |v: Verdict| match v {
        Verdict::Infected { name, location } => format!("{name} @ {location}"),
        v => format!("{v:?}"),
    };
    let book = macro_workbook();
    assert_eq!(
        name(Scanner::new(&db).scan_bytes(&book).verdict),
        "Xlm.Exec @ Workbook (XLM disassembled)"
    );
    // Neither OLE2 (target 2) nor normalised-text (7) signatures run in
    // the text, which ClamAV scans as CL_TYPE_SCRIPT.
    let empty = Database::from_signatures(&SignatureSet::new()).unwrap();
    let mut o = Options::default();
    let plain = Scanner::new(&empty).options(o.clone());
    assert_eq!(plain.scan_bytes(&book).verdict, Verdict::Clean);
    o.heuristics.macros = true;
    let alerting = Scanner::new(&empty).options(o.clone());
    assert_eq!(
        name(alerting.scan_bytes(&book).verdict),
        "Heuristics.OLE2.ContainsMacros.XLM @ "
    );
    let mut only_others = SignatureSet::new();
    only_others
        .load_bytes(
            "t.ndb",
            ndb.lines().skip(1).collect::<Vec<_>>().join("\n").as_bytes(),
        )
        .unwrap();
    let others = Database::from_signatures(&only_others).unwrap();
    let s = Scanner::new(&others).options(o.clone());
    assert_eq!(
        name(s.scan_bytes(&book).verdict),
        "Heuristics.OLE2.ContainsMacros.XLM @ "
    );
    // A `Book` (BIFF5) stream alerts, but is not written out.
    let book5 = workbook("/Book", &book_stream(&book));
    let s = Scanner::new(&db).options(o.clone());
    assert_eq!(
        name(s.scan_bytes(&book5).verdict),
        "Heuristics.OLE2.ContainsMacros.XLM @ "
    );
    // No macro sheet, no alert, no text.
    let sheet = workbook(
        "/Workbook",
        &[boundsheet(0, 0, "Sheet1"), formula(0, 0, &[0x42, 1, 0x6e, 0])]
            .concat(),
    );
    assert_eq!(s.scan_bytes(&sheet).verdict, Verdict::Clean);
    // The heuristic master switch turns it off too.
    o.heuristics.enabled = false;
    let off = Scanner::new(&empty).options(o);
    assert_eq!(off.scan_bytes(&book).verdict, Verdict::Clean);
}

/// The workbook stream of a compound file made by [`workbook`].
fn book_stream(file: &[u8]) -> Vec<u8> {
    let mut f = cfb::CompoundFile::open(std::io::Cursor::new(file)).unwrap();
    read_stream(&mut f, "/Workbook").unwrap()
}
