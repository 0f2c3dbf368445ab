//! nod32smtp's conversation, the sans-I/O state machine of a session,
//! fed any sequence of events: command lines, next-hop replies and
//! sessions, spool states, verdicts, message pieces and failures, mostly
//! as a driver answers what is asked, sometimes out of place. Never a
//! panic; an event that answers nothing changes nothing; the next hop is
//! never sent a bare CR or LF; the client is only sent whole reply lines;
//! a scan is asked only for a transaction with a recipient; the spool is
//! cleared only when it holds something; nothing happens after the end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nod32_agent::protocol::SmtpReply;
use nod32_config::{BareNewline, ServerTls};
use nod32smtp::Reply;
use nod32smtp::session::{
    Action, Conversation, Ending, Event, Joins, Opened, Options, Request, Spooled, Step,
    Verdict,
};

/// The input, taken as needed; zeros once it runs out.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = (self.byte() as usize % (max + 1)).min(self.0.len());
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        b.to_vec()
    }

    fn pick<'a>(&mut self, of: &[&'a str]) -> &'a str {
        of[self.byte() as usize % of.len()]
    }
}

const VERBS: &[&str] = &[
    "EHLO", "HELO", "MAIL", "RCPT", "RSET", "DATA", "BDAT", "NOOP", "QUIT", "STARTTLS",
    "XFORWARD", "VRFY", "ehlo", "mail", "rcpt", " MAIL", "\tRCPT", "FOO",
];

const ARGS: &[&str] = &[
    "", " client.test", " FROM:<a@example.org>", " FROM:<> SIZE=10", " TO:<b@example.net>",
    " TO:<c@example.com>", " TO:<d@example.net> NOTIFY=NEVER", " 5", " 0 LAST", " 3 LAST",
    " 1000000", " x", " 2 LAST x", " NAME=mx.test ADDR=192.0.2.1", " IDENT=4ABC", " now",
];

const EXTENSIONS: &[&str] = &[
    "PIPELINING", "CHUNKING", "STARTTLS", "XFORWARD NAME ADDR IDENT", "SIZE 1000", "SIZE 0",
    "SIZE x", "8BITMIME", "AUTH PLAIN", "DSN", "SMTPUTF8", "ENHANCEDSTATUSCODES", "VRFY",
];

const CODES: &[u16] = &[220, 221, 250, 250, 250, 354, 421, 450, 452, 454, 500, 503, 550, 552, 554];

fn reply(inp: &mut Input) -> Reply {
    let b = inp.byte();
    let code = if b == 255 { 100 + inp.byte() as u16 * 3 } else { CODES[b as usize % CODES.len()] };
    let mut lines = vec!["hop.test says".to_string()];
    for _ in 0..inp.byte() % 5 {
        lines.push(inp.pick(EXTENSIONS).to_string());
    }
    Reply { code, lines }
}

fn tls_name(inp: &mut Input) -> Option<String> {
    (inp.byte() % 4 != 0).then(|| "TLSv1_3 TLS13_AES_128_GCM_SHA256".to_string())
}

/// The driver's answer to `r`, given `spooled` in the spool.
fn answer<'a>(r: &Request, inp: &mut Input, spooled: u64, buf: &'a mut Vec<u8>) -> Event<'a> {
    let b = inp.byte();
    let fail = b % 16 == 15;
    match r {
        Request::Command => match b % 8 {
            0 => Event::Idle,
            1 if b % 64 == 1 => Event::LineTooLong,
            1 => Event::ClientClosed,
            _ if fail => Event::ClientFailed { timed_out: b & 16 != 0, writing: b & 32 != 0 },
            2 => {
                // Raw bytes: a line never holds a LF (the driver splits
                // lines there).
                *buf = inp.bytes(40);
                buf.retain(|&c| c != b'\n');
                Event::Line(buf)
            }
            _ => {
                *buf = format!("{}{}", inp.pick(VERBS), inp.pick(ARGS)).into_bytes();
                Event::Line(buf)
            }
        },
        Request::Reply if fail => Event::HopFailed("reset".into()),
        Request::Reply => Event::Reply(reply(inp)),
        Request::OpenHop { .. } => match b % 4 {
            0 => Event::HopUnavailable("refused".into()),
            1 => Event::HopOpened(Opened::Kept { tls: b & 16 != 0 }),
            _ => Event::HopOpened(Opened::New(reply(inp))),
        },
        Request::HopTls if fail => Event::HopTlsFailed("bad certificate".into()),
        Request::HopTls => Event::HopTls(tls_name(inp)),
        Request::ClientTls if fail => Event::ClientFailed { timed_out: true, writing: false },
        Request::ClientTls => Event::ClientTls(tls_name(inp)),
        Request::Caps => Event::Caps((b % 2 == 0).then(|| reply(inp))),
        Request::Message { max } => match b % 4 {
            0 => Event::Message(None),
            _ if fail => Event::ClientFailed { timed_out: b & 16 != 0, writing: false },
            _ => Event::Message(Some(Spooled {
                len: u64::from(inp.byte()) % (max + 1),
                bare_line_ends: b & 16 != 0,
            })),
        },
        Request::Chunk { .. } if fail => Event::ClientFailed { timed_out: false, writing: false },
        Request::Chunk { size, keep } => Event::Chunk(Spooled {
            len: if *keep { spooled.saturating_add(*size) } else { spooled },
            bare_line_ends: b & 16 != 0,
        }),
        Request::Scan(_) => Event::Scanned(match b % 5 {
            0 => Verdict::Answer(SmtpReply {
                code: 550,
                enhanced: "5.7.1",
                text: "infected".into(),
            }),
            1 => Verdict::Answer(SmtpReply {
                code: 250,
                enhanced: "2.0.0",
                text: "Ok, discarded".into(),
            }),
            2 => Verdict::Fault("panicked".into()),
            3 => Verdict::Unreadable("gone".into()),
            _ => Verdict::Send,
        }),
        Request::Piece if fail => Event::HopFailed("broken pipe".into()),
        Request::Piece => {
            *buf = inp.bytes(64);
            Event::Piece(buf)
        }
        Request::Keep => Event::Kept(b % 2 == 0),
        Request::End(_) => Event::Idle,
    }
}

/// Events that answer none of the requests they are fed to here.
fn out_of_place(r: &Request, b: u8) -> Option<Event<'static>> {
    let ev = match b % 6 {
        0 => Event::Kept(true),
        1 => Event::Piece(b"x"),
        2 => Event::Scanned(Verdict::Send),
        3 => Event::Caps(None),
        4 => Event::Idle,
        _ => Event::HopTls(None),
    };
    let answers = matches!(
        (r, &ev),
        (Request::Keep, Event::Kept(_))
            | (Request::Piece, Event::Piece(_))
            | (Request::Scan(_), Event::Scanned(_))
            | (Request::Caps, Event::Caps(_))
            | (Request::Command, Event::Idle)
            | (Request::HopTls, Event::HopTls(_))
    );
    (!answers).then_some(ev)
}

/// Whole reply lines: a code, a separator, a text, CR LF.
fn replies(b: &[u8]) -> bool {
    b.split_inclusive(|&c| c == b'\n').all(|l| {
        l.len() >= 6
            && l[..3].iter().all(u8::is_ascii_digit)
            && (l[3] == b' ' || l[3] == b'-')
            && l.ends_with(b"\r\n")
            && !l[..l.len() - 2].contains(&b'\r')
    })
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input(data);
    let o = inp.byte();
    let same_domain: Joins = Box::new(|_: &str, first: &str, rcpt: &str| {
        first.split('@').nth(1) == rcpt.split('@').nth(1)
    });
    let mut c = Conversation::new(Options {
        host: "proxy.test".into(),
        peer: "192.0.2.7".into(),
        next_hop: "127.0.0.1:25".into(),
        xforward_ok: o & 1 != 0,
        offer_tls: o & 2 != 0,
        hop_tls: [None, Some(ServerTls::May), Some(ServerTls::Encrypt), Some(ServerTls::Verify)]
            [usize::from(o >> 2) % 4],
        bare_newline: if o & 16 != 0 { BareNewline::Reject } else { BareNewline::Normalize },
        joins: (o & 32 != 0).then_some(same_domain),
    });
    let mut step = c.start();
    let mut spooled = 0u64;
    // The last byte sent to the next hop was a CR.
    let mut cr = false;
    let mut buf = Vec::new();
    for _ in 0..data.len() * 2 + 8 {
        for a in &step.actions {
            match a {
                Action::Client(b) => assert!(replies(b), "{:?}", String::from_utf8_lossy(b)),
                Action::Hop(b) => {
                    for &x in b {
                        assert!(cr == (x == b'\n'), "a bare CR or LF for the next hop");
                        cr = x == b'\r';
                    }
                }
                Action::ClearSpool => {
                    assert!(spooled > 0, "an empty spool cleared");
                    spooled = 0;
                }
                _ => {}
            }
        }
        match &step.then {
            Request::End(e) => {
                if let Ending::Failed { words, .. } = e {
                    assert!(words.is_empty() || replies(words));
                }
                // Over: nothing more is done.
                let again = c.on(Event::Line(b"QUIT"));
                assert_eq!(again, Step { actions: vec![], then: step.then.clone() });
                return;
            }
            Request::Scan(env) => assert!(!env.recipients.is_empty()),
            Request::Message { max } => assert!(*max > 0),
            _ => {}
        }
        let b = inp.byte();
        if b % 32 == 31
            && let Some(ev) = out_of_place(&step.then, b / 32)
        {
            let again = c.on(ev);
            assert_eq!(again.actions, []);
            assert_eq!(again.then, step.then);
            // The step's actions are done already.
            step = again;
            continue;
        }
        let ev = answer(&step.then, &mut inp, spooled, &mut buf);
        match &ev {
            Event::Message(m) => spooled = m.map_or(0, |s| s.len),
            Event::Chunk(s) => spooled = s.len,
            _ => {}
        }
        let failed = matches!(ev, Event::ClientFailed { .. });
        step = c.on(ev);
        // A client that failed is never waited for again.
        assert!(!failed || matches!(step.then, Request::End(_)));
    }
});
