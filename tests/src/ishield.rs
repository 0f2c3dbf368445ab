//! A small writer of InstallShield installers in the two forms ClamAV
//! reads (no InstallShield builder is packaged in Debian): the MSI-based
//! form (`InstallShield\0`, a header, per file a 312-byte block and its
//! obfuscated zlib stream) and the overlay form (files after a PE's last
//! section, each behind four NUL-terminated strings), whose `data1.hdr`
//! and `data1.cab` make an `ISc(` cabinet of deflated chunks. Written
//! from the layouts described in the engine's `unpack/ishield`; the
//! tests check each file with clamscan, which reads it independently.

use std::io::Write;

/// A PE32 of two sections (code with a `ret` at the entry point, data),
/// with `overlay` after the second: the overlay starts at 0x600.
pub fn pe_with_overlay(overlay: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 0x600];
    f[..2].copy_from_slice(b"MZ");
    put32(&mut f, 0x3c, 0x40);
    f[0x40..0x44].copy_from_slice(b"PE\0\0");
    let coff = 0x44;
    put16(&mut f, coff, 0x14c); // i386
    put16(&mut f, coff + 2, 2); // sections
    put16(&mut f, coff + 16, 0xe0); // optional header size
    put16(&mut f, coff + 18, 0x0102); // executable, 32-bit
    let opt = coff + 20;
    put16(&mut f, opt, 0x10b); // PE32
    put32(&mut f, opt + 4, 0x200); // size of code
    put32(&mut f, opt + 16, 0x1000); // entry point
    put32(&mut f, opt + 20, 0x1000); // base of code
    put32(&mut f, opt + 28, 0x40_0000); // image base
    put32(&mut f, opt + 32, 0x1000); // section alignment
    put32(&mut f, opt + 36, 0x200); // file alignment
    put16(&mut f, opt + 40, 4); // OS version
    put16(&mut f, opt + 48, 4); // subsystem version
    put32(&mut f, opt + 56, 0x3000); // size of image
    put32(&mut f, opt + 60, 0x200); // size of headers
    put16(&mut f, opt + 68, 2); // GUI
    put32(&mut f, opt + 72, 0x10_0000); // stack reserve
    put32(&mut f, opt + 76, 0x1000); // stack commit
    put32(&mut f, opt + 80, 0x10_0000); // heap reserve
    put32(&mut f, opt + 84, 0x1000); // heap commit
    put32(&mut f, opt + 92, 16); // data directories
    let table = opt + 0xe0;
    for (i, (name, chr)) in
        [(b".text\0\0\0", 0x6000_0020u32), (b".data\0\0\0", 0xc000_0040)]
            .iter()
            .enumerate()
    {
        let s = table + 40 * i;
        f[s..s + 8].copy_from_slice(*name);
        put32(&mut f, s + 8, 0x200); // virtual size
        put32(&mut f, s + 12, 0x1000 * (i as u32 + 1)); // address
        put32(&mut f, s + 16, 0x200); // raw size
        put32(&mut f, s + 20, 0x200 * (i as u32 + 1)); // raw offset
        put32(&mut f, s + 36, *chr);
    }
    f[0x200] = 0xc3;
    f.extend_from_slice(overlay);
    f
}

/// The overlay form: each file behind its name, `Disk1\` path, version
/// and decimal size, then some zero bytes (ClamAV does not read a file
/// that ends exactly where the overlay does).
pub fn overlay(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut o = Vec::new();
    for (name, data) in files {
        for s in [
            name,
            &*format!("Disk1\\{name}"),
            "0.0.0.0",
            &data.len().to_string(),
        ] {
            o.extend_from_slice(s.as_bytes());
            o.push(0);
        }
        o.extend_from_slice(data);
    }
    o.extend_from_slice(&[0; 16]);
    o
}

/// An `ISc(` cabinet of one volume: `data1.hdr` and `data1.cab`, each
/// file deflated in chunks of `chunk` bytes, each chunk behind its
/// 16-bit length.
pub fn cabinet(files: &[(&str, &[u8])], chunk: usize) -> (Vec<u8>, Vec<u8>) {
    const DATA_OFF: usize = 0x200;
    const OBJECTS: usize = 74;
    const FILE: usize = 87;
    // The volume: its own `ISc(` header, then each file's chunks.
    let mut cab = vec![0u8; 0x200];
    cab[..4].copy_from_slice(b"ISc(");
    let mut streams = Vec::new();
    for (_, data) in files {
        let at = cab.len();
        for piece in data.chunks(chunk.max(1)) {
            let mut e = flate2::write::DeflateEncoder::new(
                Vec::new(),
                flate2::Compression::default(),
            );
            e.write_all(piece).unwrap();
            let z = e.finish().unwrap();
            cab.extend_from_slice(&(z.len() as u16).to_le_bytes());
            cab.extend_from_slice(&z);
        }
        streams.push((at, cab.len() - at));
    }
    // The header: the object table at DATA_OFF, then the directory table
    // (one directory, the root) with the names after it, then the files.
    let mut names = vec![0u8; 4];
    names.extend_from_slice(b"\0");
    let mut name_at = Vec::new();
    for (name, _) in files {
        name_at.push(OBJECTS + names.len());
        names.extend_from_slice(name.as_bytes());
        names.push(0);
    }
    put32(&mut names, 0, 4); // the root's name: the empty string at 4
    let mut hdr = vec![0u8; DATA_OFF];
    hdr[..4].copy_from_slice(b"ISc(");
    put32(&mut hdr, 4, 0x0100_9500);
    put32(&mut hdr, 12, DATA_OFF as u32);
    let mut objects = vec![0u8; OBJECTS];
    put32(&mut objects, 12, OBJECTS as u32); // directories, from DATA_OFF
    put32(&mut objects, 28, 1); // one directory
    put32(&mut objects, 36, 4);
    put32(&mut objects, 40, files.len() as u32);
    put32(&mut objects, 44, names.len() as u32); // files follow the names
    hdr.extend_from_slice(&objects);
    hdr.extend_from_slice(&names);
    for (((_, data), (at, len)), name) in
        files.iter().zip(&streams).zip(&name_at)
    {
        let mut f = vec![0u8; FILE];
        put16(&mut f, 0, 4); // in a volume
        f[2..10].copy_from_slice(&(data.len() as u64).to_le_bytes());
        f[10..18].copy_from_slice(&(*len as u64).to_le_bytes());
        f[18..26].copy_from_slice(&(*at as u64).to_le_bytes());
        use md5::Digest;
        f[26..42].copy_from_slice(&md5::Md5::digest(data));
        put32(&mut f, 58, (*name - OBJECTS) as u32);
        put16(&mut f, 85, 1); // data1.cab
        hdr.extend_from_slice(&f);
    }
    let size = (hdr.len() - DATA_OFF) as u32;
    put32(&mut hdr, 16, size);
    (hdr, cab)
}

/// The key the names are XORed with before they obfuscate the data.
const NAME_KEY: [u8; 4] = [0xec, 0xca, 0x79, 0xf8];

/// The MSI-based form: `InstallShield\0`, the header, and per file its
/// block and its zlib stream, obfuscated with its name.
pub fn msi_form(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut o = b"InstallShield\0".to_vec();
    let mut head = vec![0u8; 0x20];
    put32(&mut head, 0, files.len() as u32);
    o.extend_from_slice(&head);
    for (name, data) in files {
        assert!(!name.is_empty() && name.len() < 260);
        let mut e = flate2::write::ZlibEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        );
        e.write_all(data).unwrap();
        let z = e.finish().unwrap();
        let key: Vec<u8> = name
            .bytes()
            .enumerate()
            .map(|(i, b)| b ^ NAME_KEY[i & 3])
            .collect();
        let stored: Vec<u8> = z
            .iter()
            .enumerate()
            .map(|(i, &c)| (c ^ key[(i & 0x3ff) % key.len()]).rotate_left(4))
            .collect();
        let mut block = vec![0u8; 312];
        block[..name.len()].copy_from_slice(name.as_bytes());
        put32(&mut block, 260, 6);
        block[268..276].copy_from_slice(&(stored.len() as u64).to_le_bytes());
        put32(&mut block, 280, 1);
        o.extend_from_slice(&block);
        o.extend_from_slice(&stored);
    }
    o
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
