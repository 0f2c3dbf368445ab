//! nod32smtp's readers on whatever a client or a next hop may send:
//! command lines (bounded), the message after DATA (bounded, unstuffed),
//! replies. Never a panic, never more memory than the bounds allow.
#![no_main]

use std::io::BufReader;

use libfuzzer_sys::fuzz_target;
use nod32smtp::{read_line, read_message, read_reply};

fuzz_target!(|data: &[u8]| {
    // As a client stream, in small reads.
    let mut r = BufReader::with_capacity(7, data);
    let mut lines = 0;
    while let Ok(Some(line)) = read_line(&mut r, 64) {
        if let Ok(l) = &line {
            assert!(l.len() <= 64);
            if l.eq_ignore_ascii_case(b"DATA") {
                match read_message(&mut r, 256) {
                    Ok(Ok(m)) => assert!(m.len() <= 256 + 7),
                    Ok(Err(())) => {}
                    Err(_) => break,
                }
            }
        }
        lines += 1;
        assert!(lines <= data.len() + 1);
    }
    // As a next hop's replies.
    let mut r = BufReader::new(data);
    while let Ok(reply) = read_reply(&mut r) {
        assert!((0..1000).contains(&reply.code));
    }
});
