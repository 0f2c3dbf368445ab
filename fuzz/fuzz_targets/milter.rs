//! The milter codec and session on a hostile packet stream, as an MTA
//! (or anything that reaches the socket) could send it: packets of any
//! length and command byte, in any order. Never a panic; a malformed
//! packet only ends the stream; every message that completes is
//! assembled and the result header's packets made for it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nod32_milter::codec::{self, Response};
use nod32_milter::{Options, Session, Step};

fuzz_target!(|data: &[u8]| {
    let mut r = data;
    let mut buf = Vec::new();
    // Recipients put to the agent, which takes every other one.
    let judge = data.first().is_some_and(|b| b & 1 == 1);
    let opts = Options { actions: 0x33, body_in_memory: 512, judge_recipients: judge };
    let mut s = Session::new(opts);
    let mut n = 0;
    let mut out = Vec::new();
    while let Ok(Some(code)) = codec::read_packet(&mut r, &mut buf) {
        let Ok(cmd) = codec::parse(code, &buf) else { break };
        match s.command(cmd) {
            Step::Reply(rs) => {
                for x in rs {
                    x.encode(&mut out);
                }
            }
            Step::Close => break,
            Step::Nothing => {}
            Step::Recipient(r) => {
                n += 1;
                let reply = if n % 2 == 0 {
                    s.add_recipient(r);
                    Response::Continue
                } else {
                    Response::ReplyCode("452 4.5.3 another policy".into())
                };
                reply.encode(&mut out);
            }
            Step::EndOfMessage => {
                let m = s.assemble().expect("assembling a message");
                let marks = nod32_agent::mime::set_header(&m, "X-NOD32Result", "clean");
                let e = nod32smfi::edits::packets(&marks, true, 0x33)
                    .expect("headers may be changed and added");
                assert!(matches!(e.last(), Some(Response::InsHeader(0, ..))));
                s.end_message();
            }
        }
    }
});
