//! XAR archives (the engine's own reader and its XML table reader),
//! through the whole scan. The input is the table of contents as text,
//! a NUL, then the heap: the target compresses the table and writes the
//! header, so that the fuzzer mutates the XML itself.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let cut = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (toc, heap) = (&data[..cut], data.get(cut + 1..).unwrap_or_default());
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = z.write_all(toc);
    let packed = z.finish().unwrap_or_default();
    let mut x = b"xar!\x00\x1c\x00\x01".to_vec();
    x.extend_from_slice(&(packed.len() as u64).to_be_bytes());
    x.extend_from_slice(&(toc.len() as u64).to_be_bytes());
    x.extend_from_slice(&1u32.to_be_bytes());
    x.extend_from_slice(&packed);
    x.extend_from_slice(heap);
    nod32_engine_fuzz::scan(&x);
});
