//! What the engine-scan fuzz targets share: the built-in database, small
//! limits, and a panic hook that lets the engine contain the panics of
//! third-party parsers (it reports them as damaged input).

use std::sync::OnceLock;

use nod32_engine::{Database, Limits, Options, Scanner};

fn db() -> &'static Database {
    static D: OnceLock<Database> = OnceLock::new();
    D.get_or_init(|| {
        contain_panics();
        Database::builtin()
    })
}

/// Lets the engine contain third-party parsers' panics, as it does in
/// the agents: libfuzzer-sys's hook would abort on a contained panic
/// before it is caught. A panic that escapes the engine still aborts:
/// libfuzzer-sys catches it at the target's edge.
pub fn contain_panics() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        std::panic::set_hook(Box::new(|info| {
            eprintln!("panic (contained or not): {info}")
        }))
    });
}

/// Scans `data` whole. Every input gets a verdict, never a panic.
pub fn scan(data: &[u8]) {
    let limits = Limits {
        max_file_size: 1 << 20,
        max_scan_size: 4 << 20,
        max_files: 64,
        ..Limits::default()
    };
    let _ = Scanner::new(db()).limits(limits).scan_bytes(data);
}

/// Scans `data` behind a format's `magic`, so the fuzzer spends its
/// time inside that format's unpacker (whose children are typed and
/// scanned too).
pub fn scan_after(magic: &[u8], data: &[u8]) {
    let mut input = magic.to_vec();
    input.extend_from_slice(data);
    scan(&input);
}

/// A database whose signatures need a PE's headers (entry point, section
/// offsets, a section hash), so that every MZ input goes through the PE
/// reader; with every heuristic on.
fn pe_db() -> &'static Database {
    static D: OnceLock<Database> = OnceLock::new();
    D.get_or_init(|| {
        let _ = db();
        let mut s = nod32_engine::builtin_signatures();
        s.load_bytes(
            "pe.ndb",
            b"Fuzz.Ep:1:EP+0:e8ff????????\nFuzz.Ep2:1:EP-4,8:0000\n\
              Fuzz.Sec:1:S1+0:4d5a90\nFuzz.Last:1:SL+2,4:ffff\nFuzz.Within:1:SE0:c3c3c3\n",
        )
        .expect("fuzz PE signatures");
        s.load_bytes(
            "pe.mdb",
            b"512:aa15bcf478d165efd2065190eb473bcb:Fuzz.Section\n",
        )
        .expect("fuzz section hash");
        // An icon rule every PE meets but for its icon, so that the
        // icons of every input are read, decoded and compared.
        s.load_bytes(
            "pe.idb",
            b"I:G:G:100620a0b05b0307055060b0350a0b0480307051060b8407008402058308058000008104098109096d020b6b0a046306031800001f040035080000000000\n",
        )
        .expect("fuzz icon signature");
        s.load_bytes("pe.ldb", b"Fuzz.Icon;Engine:51-255,Target:1,IconGroup1:G;0;4d5a\n")
            .expect("fuzz icon rule");
        Database::from_signatures(&s).expect("fuzz PE module")
    })
}

/// Scans `data` behind "MZ" with [`pe_db`].
pub fn scan_pe(data: &[u8]) {
    let mut input = b"MZ".to_vec();
    input.extend_from_slice(data);
    let mut o = Options::default();
    let h = &mut o.heuristics;
    (h.broken, h.macros, h.encrypted_archive, h.encrypted_doc) =
        (true, true, true, true);
    let limits = Limits { max_file_size: 1 << 20, ..Limits::default() };
    let _ = Scanner::new(pe_db()).limits(limits).options(o).scan_bytes(&input);
}

/// The built-in database with phishing lists (domains, allowed links, a
/// URL hash), so that mail links go through the whole phishing check.
fn phish_db() -> &'static Database {
    static D: OnceLock<Database> = OnceLock::new();
    D.get_or_init(|| {
        let _ = db();
        let mut s = nod32_engine::builtin_signatures();
        s.load_bytes("f.pdb", b"H:paypal.com\nR:.+\\.ebay\\.com([/?].*)?:17-\n")
            .expect("fuzz domain list");
        s.load_bytes("f.wdb", b"M:evil.example:www.paypal.com\nX:.+\\.a\\.com:.+\\.b\\.com\n")
            .expect("fuzz allow list");
        let hash = "4d8bef53100a92ef3b9490dc234c6c4a6d0f45bf73cb13b166188cd802c1a080";
        s.load_bytes("f.gdb", format!("S:F:{hash}\n").as_bytes())
            .expect("fuzz URL hash");
        Database::from_signatures(&s).expect("fuzz phishing module")
    })
}

/// Scans `data` as mail with every mail heuristic on, the repair alert
/// and every phishing check among them.
pub fn scan_mail(data: &[u8]) {
    let mut o = Options::default();
    let h = &mut o.heuristics;
    (h.mail_executables, h.mail_malformed, h.exceeds_max) = (true, true, true);
    (h.phishing_ssl, h.phishing_cloak) = (true, true);
    let limits = Limits {
        max_file_size: 1 << 20,
        max_scan_size: 4 << 20,
        max_files: 64,
        ..Limits::default()
    };
    let _ = Scanner::new(phish_db()).limits(limits).options(o).scan_bytes(data);
}

/// `data` as the HTML body of a message, through the phishing check of
/// its links (with [`scan_mail`]'s lists and switches).
pub fn scan_links(data: &[u8]) {
    let mut m = b"From: a@b\nContent-Type: text/html\n\n".to_vec();
    m.extend_from_slice(data);
    scan_mail(&m);
}

/// Trust rules for the certificates of the `authenticode` target's
/// seeds (a leaf and its CA, an expired leaf with its time-stamping
/// authority, a catalog signer), so that mutated signatures get as far
/// as chain building, RSA and countersignatures.
fn auth_rules() -> &'static nod32_engine::SignatureSet {
    static S: OnceLock<nod32_engine::SignatureSet> = OnceLock::new();
    S.get_or_init(|| {
        let mut s = nod32_engine::SignatureSet::new();
        s.load_bytes("seeds.crb", include_bytes!("../seeds/authenticode-rules.crb"))
            .expect("fuzz certificate rules");
        s.load_bytes("f.ndb", b"Fuzz.Pe:1:*:4d5a\n").expect("fuzz PE rule");
        s
    })
}

fn auth_db() -> &'static Database {
    static D: OnceLock<Database> = OnceLock::new();
    D.get_or_init(|| {
        let _ = db();
        Database::from_signatures(auth_rules()).expect("fuzz certificate module")
    })
}

/// `data` as an Authenticode signature: the certificate table of a small
/// PE (checked against [`auth_rules`]), and as a `.cat` catalog.
pub fn authenticode(data: &[u8]) {
    let mut pe = vec![0u8; 0x400];
    pe[..2].copy_from_slice(b"MZ");
    pe[0x3c] = 0x80;
    pe[0x80..0x84].copy_from_slice(b"PE\0\0");
    let put = |pe: &mut Vec<u8>, at: usize, v: &[u8]| pe[at..at + v.len()].copy_from_slice(v);
    put(&mut pe, 0x84, &0x14cu16.to_le_bytes());
    put(&mut pe, 0x86, &1u16.to_le_bytes());
    put(&mut pe, 0x94, &0xe0u16.to_le_bytes());
    put(&mut pe, 0x96, &0x0102u16.to_le_bytes());
    let opt = 0x98;
    put(&mut pe, opt, &0x10bu16.to_le_bytes());
    put(&mut pe, opt + 16, &0x1000u32.to_le_bytes());
    put(&mut pe, opt + 28, &0x400000u32.to_le_bytes());
    put(&mut pe, opt + 32, &0x1000u32.to_le_bytes());
    put(&mut pe, opt + 36, &0x200u32.to_le_bytes());
    put(&mut pe, opt + 56, &0x2000u32.to_le_bytes());
    put(&mut pe, opt + 60, &0x200u32.to_le_bytes());
    put(&mut pe, opt + 92, &16u32.to_le_bytes());
    let sec = opt + 0xe0;
    put(&mut pe, sec, b".text\0\0\0");
    for (i, v) in [0x200u32, 0x1000, 0x200, 0x200].iter().enumerate() {
        put(&mut pe, sec + 8 + i * 4, &v.to_le_bytes());
    }
    let table = pe.len() as u32;
    let size = 8 + data.len() as u32;
    put(&mut pe, opt + 128, &table.to_le_bytes());
    put(&mut pe, opt + 132, &size.to_le_bytes());
    pe.extend(size.to_le_bytes());
    pe.extend([0, 2, 2, 0]);
    pe.extend_from_slice(data);
    let _ = Scanner::new(auth_db()).scan_bytes(&pe);
    let mut s = auth_rules().clone();
    let _ = s.load_bytes("fuzz.cat", data);
}

/// Scans `data` as the `Workbook` stream of a compound file, after a
/// BOUNDSHEET record naming a macro sheet, so that every input is
/// disassembled as ClamAV's XLM text (and its drawing group's
/// pictures taken out), with the macro alert on.
pub fn scan_workbook(data: &[u8]) {
    const SECTOR: usize = 512;
    // One FAT sector maps 128 sectors: the FAT, the directory, the rest
    // for the stream.
    let mut stream = b"\x85\x00\x0e\x00\0\0\0\0\0\x01\x06\0Macro1".to_vec();
    stream.extend_from_slice(&data[..data.len().min(125 * SECTOR - 64)]);
    // 4096 bytes at least, so that the stream is in regular sectors.
    let size = stream.len().max(4096);
    stream.resize(size.div_ceil(SECTOR) * SECTOR, 0);
    let sectors = stream.len() / SECTOR;
    let le = |v: u32| v.to_le_bytes();
    let (free, end, fat) = (0xffff_ffffu32, 0xffff_fffeu32, 0xffff_fffdu32);
    let mut file = Vec::new();
    file.extend(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1");
    file.extend([0; 16]);
    file.extend([0x3e, 0, 3, 0, 0xfe, 0xff, 9, 0, 6, 0]);
    file.extend([0; 6]);
    for v in [0, 1, 1, 0, 4096, end, 0, end, 0, 0] {
        file.extend(le(v));
    }
    for _ in 0..109 {
        file.extend(le(free));
    }
    file.truncate(SECTOR);
    let mut table = vec![fat, end];
    table.extend((0..sectors as u32).map(|i| {
        if i + 1 == sectors as u32 { end } else { 3 + i }
    }));
    table.resize(SECTOR / 4, free);
    file.extend(table.into_iter().flat_map(le));
    let entry = |name: &str, kind: u8, child: u32, start: u32, len: u32| {
        let mut e: Vec<u8> =
            name.encode_utf16().chain([0]).flat_map(u16::to_le_bytes).collect();
        let name_len = if name.is_empty() { 0 } else { e.len() as u16 };
        e.resize(64, 0);
        e.extend(name_len.to_le_bytes());
        e.extend([kind, 1]);
        e.extend(le(free));
        e.extend(le(free));
        e.extend(le(child));
        e.extend([0; 36]);
        e.extend(le(start));
        e.extend(le(len));
        e.extend([0; 4]);
        e
    };
    file.extend(entry("Root Entry", 5, 1, end, 0));
    file.extend(entry("Workbook", 2, free, 2, size as u32));
    file.extend(entry("", 0, free, 0, 0));
    file.extend(entry("", 0, free, 0, 0));
    file.extend(&stream);
    let mut o = Options::default();
    o.heuristics.macros = true;
    let limits = Limits {
        max_file_size: 1 << 20,
        max_scan_size: 4 << 20,
        max_files: 64,
        ..Limits::default()
    };
    let _ = Scanner::new(db()).options(o).limits(limits).scan_bytes(&file);
}

/// Scans `data` as the overlay of a small PE32 (two sections, the
/// overlay at 0x600), where ClamAV looks for an InstallShield setup; an
/// `InstallShield` string in it is found by the embedded-type pass too.
pub fn scan_overlay(data: &[u8]) {
    static PE: OnceLock<Vec<u8>> = OnceLock::new();
    let pe = PE.get_or_init(|| {
        let mut f = vec![0u8; 0x600];
        let mut put = |at: usize, v: u32| f[at..at + 4].copy_from_slice(&v.to_le_bytes());
        put(0x3c, 0x40);
        put(0x40, u32::from_le_bytes(*b"PE\0\0"));
        put(0x44, 0x0002_014c); // i386, two sections
        put(0x54, 0x0102_00e0); // optional header size, characteristics
        let opt = 0x58;
        for (at, v) in [(0, 0x10b), (16, 0x1000), (28, 0x40_0000), (32, 0x1000), (36, 0x200),
            (56, 0x3000), (60, 0x200), (68, 2), (92, 16)] {
            put(opt + at, v);
        }
        for i in 0..2u32 {
            let s = opt + 0xe0 + 40 * i as usize;
            put(s + 8, 0x200);
            put(s + 12, 0x1000 * (i + 1));
            put(s + 16, 0x200);
            put(s + 20, 0x200 * (i + 1));
        }
        f[..2].copy_from_slice(b"MZ");
        f[0x200] = 0xc3;
        f
    });
    let mut input = pe.clone();
    input.extend_from_slice(data);
    scan(&input);
}
