//! nod32smtp's readers on whatever a client or a next hop may send:
//! command lines (bounded), the message after DATA (bounded, unstuffed),
//! replies. Never a panic, never more memory than the bounds allow.
#![no_main]

use std::io::BufReader;

use libfuzzer_sys::fuzz_target;
use nod32smtp::{
    Spool, Stuffer, read_chunk, read_line, read_message, read_reply,
};

fuzz_target!(|data: &[u8]| {
    // As a client stream, in small reads.
    let mut r = BufReader::with_capacity(7, data);
    let mut lines = 0;
    while let Ok(Some(line)) = read_line(&mut r, 64) {
        if let Ok(l) = &line {
            assert!(l.len() <= 64);
            if l.eq_ignore_ascii_case(b"DATA") {
                // A memory limit of 32 so that the temp file is used too.
                let mut spool = Spool::new(32).watching_line_ends();
                match read_message(&mut r, 256, &mut spool) {
                    Ok(Ok(())) => {
                        let m = spool.read_all().unwrap();
                        assert!(m.len() <= 256);
                        // Stuffed again, it reads back as it was, in CRLF
                        // lines (what BDAT would send).
                        let form = |dots: bool| {
                            let mut out = Vec::new();
                            let mut st = Stuffer::new(dots);
                            for piece in m.chunks(5) {
                                st.push(piece, &mut out);
                            }
                            st.finish(&mut out);
                            out
                        };
                        let mut wire = form(true);
                        wire.extend_from_slice(b".\r\n");
                        let mut again = Spool::new(1 << 20).watching_line_ends();
                        let mut w = BufReader::new(&wire[..]);
                        read_message(&mut w, 1 << 20, &mut again)
                            .unwrap()
                            .unwrap();
                        let back = again.read_all().unwrap();
                        assert_eq!(back, form(false));
                    }
                    Ok(Err(())) => {}
                    Err(_) => break,
                }
            } else if let Some(n) = l
                .strip_prefix(b"BDAT ")
                .and_then(|n| std::str::from_utf8(n).ok())
                .and_then(|n| n.parse::<u64>().ok())
            {
                let mut spool = Spool::new(32).watching_line_ends();
                if read_chunk(&mut r, n, &mut spool, n < 300).is_err() {
                    break;
                }
                assert!(spool.len() <= n);
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
