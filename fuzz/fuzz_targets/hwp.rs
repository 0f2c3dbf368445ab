//! HWP documents through the whole scan: HWP 3.x (its paragraph lists,
//! information blocks and deflated body), HWP 5 (an OLE2 file whose
//! `FileHeader` says its streams are deflated, and the OLE objects it
//! embeds behind a size) and HWPML. The first byte picks the form; for
//! HWP 5 the rest is NUL-separated parts: the header's flags, a body
//! section's raw deflate data as it is, and the contents of an embedded
//! object and of `DocInfo`, which the target deflates.
#![no_main]

use std::io::{Cursor, Write};

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&form, rest)) = data.split_first() else { return };
    match form % 3 {
        0 => nod32_engine_fuzz::scan_after(
            b"HWP Document File V3.00 \x1a\x01\x02\x03\x04\x05",
            rest,
        ),
        1 => nod32_engine_fuzz::scan(&hwp5(rest)),
        _ => nod32_engine_fuzz::scan_after(
            "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<HWPML>".as_bytes(),
            rest,
        ),
    }
});

fn deflate(d: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = z.write_all(d);
    z.finish().unwrap_or_default()
}

fn hwp5(rest: &[u8]) -> Vec<u8> {
    let mut parts = rest.splitn(4, |&b| b == 0);
    let flags = parts.next().and_then(|p| p.first()).copied().unwrap_or(1);
    let section = parts.next().unwrap_or_default();
    let object = deflate(parts.next().unwrap_or_default());
    let docinfo = deflate(parts.next().unwrap_or_default());
    let mut header = b"HWP Document File".to_vec();
    header.resize(32, 0);
    header.extend(0x0500_0300u32.to_le_bytes());
    header.extend(u32::from(flags).to_le_bytes());
    header.resize(256, 0);
    let Ok(mut f) = cfb::CompoundFile::create_with_version(cfb::Version::V3, Cursor::new(Vec::new())) else {
        return Vec::new();
    };
    let streams: [(&str, &[u8]); 4] = [
        ("/FileHeader", &header),
        ("/DocInfo", &docinfo),
        ("/BodyText/Section0", section),
        ("/BinData/BIN0001.OLE", &object),
    ];
    for (path, data) in streams {
        if let Some(i) = path.rfind('/').filter(|&i| i > 0) {
            let _ = f.create_storage_all(&path[..i]);
        }
        if let Ok(mut s) = f.create_stream(path) {
            let _ = s.write_all(data);
        }
    }
    let _ = f.flush();
    f.into_inner().into_inner()
}
