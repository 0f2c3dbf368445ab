//! LHA/LZH (delharc, behind the engine's size checks), through the whole
//! scan. The method id that types the input sits at offset 2, so an
//! input without one gets `-lh5-` there.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let typed = data.get(2..5) == Some(b"-lh") || data.get(2..5) == Some(b"-lz");
    if typed {
        nod32_engine_fuzz::scan(data);
    } else {
        let at = data.len().min(2);
        let mut input = data[..at].to_vec();
        input.extend_from_slice(b"-lh5-");
        input.extend_from_slice(&data[at..]);
        nod32_engine_fuzz::scan(&input);
    }
});
