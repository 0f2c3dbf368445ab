//! The conversation driven event by event, without a socket: what each
//! side is sent, byte for byte.

use super::*;
use crate::read_reply;

mod message;

fn opts() -> Options {
    Options {
        host: "proxy.test".into(),
        peer: "192.0.2.7".into(),
        next_hop: "127.0.0.1:2543".into(),
        xforward_ok: false,
        offer_tls: false,
        hop_tls: None,
        bare_newline: BareNewline::Normalize,
        joins: None,
    }
}

fn reply(wire: &str) -> Reply {
    read_reply(&mut wire.as_bytes()).unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What a next hop says to EHLO: much that is not passed on.
const HOP_EHLO: &str = "250-hop.test greets client.test\r\n\
    250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n\
    250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n\
    250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n\
    250-XFORWARD NAME ADDR PROTO HELO\r\n250 CHUNKING\r\n";

/// A conversation and its last step.
struct Run {
    c: Conversation,
    step: Step,
}

impl Run {
    /// Greeted: the client has had the 220.
    fn new(o: Options) -> Run {
        let mut c = Conversation::new(o);
        let step = c.start();
        assert_eq!(step, Step { actions: vec![], then: Request::Command });
        let mut r = Run { c, step };
        assert_eq!(text(&r.idle()), "220 proxy.test ESMTP nod32smtp\r\n");
        r
    }

    /// Greeted, then EHLO answered from a next-hop session opened for
    /// it, which said `ehlo`; the client has its reply.
    fn open(o: Options, ehlo: &str) -> Run {
        let mut r = Run::new(o);
        assert_eq!(r.line("EHLO client.test").then, Request::Caps);
        assert_eq!(
            r.on(Event::Caps(None)).then,
            Request::OpenHop { reuse: true }
        );
        r.new_hop("220 hop.test ESMTP\r\n");
        assert_eq!(text(&r.step.to_hop()), "EHLO client.test\r\n");
        assert_eq!(r.step.then, Request::Reply);
        r.reply(ehlo);
        assert_eq!(r.step.actions, [Action::RememberCaps(reply(ehlo))]);
        assert!(r.idle().starts_with(b"250"));
        r
    }

    fn on(&mut self, ev: Event<'_>) -> &Step {
        self.step = self.c.on(ev);
        &self.step
    }

    fn line(&mut self, l: &str) -> &Step {
        self.on(Event::Line(l.as_bytes()))
    }

    fn reply(&mut self, wire: &str) -> &Step {
        self.on(Event::Reply(reply(wire)))
    }

    fn new_hop(&mut self, greeting: &str) -> &Step {
        self.on(Event::HopOpened(Opened::New(reply(greeting))))
    }

    /// What the client is sent once it waits.
    fn idle(&mut self) -> Vec<u8> {
        let out = self.on(Event::Idle).to_client();
        assert_eq!(self.step.then, Request::Command);
        out
    }

    /// Lines the client pipelined: nothing is said until it waits.
    fn pipelined(&mut self, lines: &[&str]) {
        for l in lines {
            let s = self.line(l);
            assert_eq!(s.actions, [], "{l}");
            assert_eq!(s.then, Request::Command, "{l}");
        }
    }
}

#[test]
fn the_greeting_waits_for_the_client() {
    let mut c = Conversation::new(opts());
    assert_eq!(c.start().then, Request::Command);
    let s = c.on(Event::Idle);
    assert_eq!(
        s.actions,
        [Action::Client(b"220 proxy.test ESMTP nod32smtp\r\n".to_vec())]
    );
    // Nothing more is owed.
    assert_eq!(c.on(Event::Idle).actions, []);
    // A client that leaves at once.
    let s = c.on(Event::ClientClosed);
    assert_eq!(s, Step { actions: vec![], then: Request::End(Ending::Done) });
}

#[test]
fn ehlo_passes_on_what_the_client_may_use_of_the_next_hops_extensions() {
    let mut r = Run::new(Options { offer_tls: true, ..opts() });
    r.line("EHLO client.test");
    r.on(Event::Caps(None));
    r.new_hop("220 hop.test ESMTP\r\n");
    assert_eq!(r.step.to_hop(), b"EHLO client.test\r\n");
    r.reply(HOP_EHLO);
    // Our name first; no AUTH, VRFY, ETRN; XFORWARD only to those
    // allowed it; the next hop's STARTTLS is not the client's.
    assert_eq!(
        text(&r.idle()),
        "250-proxy.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
         250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n\
         250-SMTPUTF8\r\n250-CHUNKING\r\n250 STARTTLS\r\n"
    );

    // The next hop's reply known: no session opened for EHLO.
    let mut r = Run::new(Options { xforward_ok: true, ..opts() });
    assert_eq!(r.line("ehlo other.test").then, Request::Caps);
    let s = r.on(Event::Caps(Some(reply(HOP_EHLO))));
    assert_eq!(s.actions, []);
    assert_eq!(
        text(&r.idle()),
        "250-proxy.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n\
         250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n\
         250-SMTPUTF8\r\n250-XFORWARD NAME ADDR PROTO HELO\r\n\
         250 CHUNKING\r\n"
    );
    // HELO is answered here.
    r.line("HELO other.test");
    assert_eq!(text(&r.idle()), "250 proxy.test\r\n");
}

#[test]
fn a_helo_client_gets_a_helo_next_hop_without_pipelining() {
    let mut r = Run::new(opts());
    r.line("HELO old.test");
    assert_eq!(text(&r.idle()), "250 proxy.test\r\n");
    assert_eq!(
        r.line("MAIL FROM:<a@example.org>").then,
        Request::OpenHop { reuse: true }
    );
    // A kept session in TLS, greeted as this client greeted.
    r.on(Event::HopOpened(Opened::Kept { tls: true }));
    assert_eq!(r.step.to_hop(), b"HELO old.test\r\n");
    // Not pipelined: MAIL waits for its reply.
    r.reply("250 hop.test\r\n");
    assert_eq!(r.step.to_hop(), b"MAIL FROM:<a@example.org>\r\n");
    assert_eq!(r.step.then, Request::Reply);
    r.reply("250 2.1.0 Ok\r\n");
    assert_eq!(text(&r.idle()), "250 2.1.0 Ok\r\n");
}

#[test]
fn pipelined_commands_go_together_and_each_gets_the_next_hops_answer() {
    let mut r = Run::open(opts(), HOP_EHLO);
    r.pipelined(&[
        "MAIL FROM:<a@example.org> SIZE=100",
        "RCPT TO:<b@example.net>",
        "RCPT TO:<nobody@example.net>",
        "RCPT TO:<c@example.net>",
    ]);
    // DATA needs the replies first.
    let s = r.line("DATA");
    assert_eq!(
        text(&s.to_hop()),
        "MAIL FROM:<a@example.org> SIZE=100\r\nRCPT TO:<b@example.net>\r\n\
         RCPT TO:<nobody@example.net>\r\nRCPT TO:<c@example.net>\r\n"
    );
    for rp in ["250 2.1.0 Ok\r\n", "250 2.1.5 Ok\r\n"] {
        assert_eq!(
            r.reply(rp),
            &Step { actions: vec![], then: Request::Reply }
        );
    }
    r.reply("550 5.1.1 <nobody@example.net>: Recipient address rejected\r\n");
    let s = r.reply("250 2.1.5 Ok\r\n");
    assert_eq!(
        text(&s.to_client()),
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n\
         550 5.1.1 <nobody@example.net>: Recipient address rejected\r\n\
         250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
    );
    assert_eq!(s.then, Request::Message { max: 10_240_000 });
    let s =
        r.on(Event::Message(Some(Spooled { len: 9, bare_line_ends: false })));
    assert_eq!(
        s.then,
        Request::Scan(Envelope {
            sender: "a@example.org".into(),
            recipients: vec!["b@example.net".into(), "c@example.net".into()],
            client: "[192.0.2.7]".into(),
            ..Envelope::default()
        })
    );
}

#[test]
fn rset_is_answered_here_before_mail_and_pipelined_after() {
    let mut r = Run::open(opts(), HOP_EHLO);
    r.line("RSET");
    assert_eq!(r.step.actions, []);
    r.line("NOOP");
    assert_eq!(r.step.to_hop(), b"RSET\r\n");
    r.reply("250 2.0.0 Ok\r\n");
    assert_eq!(text(&r.idle()), "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n");
    // No session yet: RSET, RCPT are answered here.
    let mut r = Run::new(opts());
    r.pipelined(&["RSET", "RCPT TO:<b@example.net>", "NOOP", "VRFY x", "FOO"]);
    assert_eq!(
        text(&r.idle()),
        "250 2.0.0 Ok\r\n503 5.5.1 Error: need MAIL command\r\n\
         250 2.0.0 Ok\r\n502 5.5.1 Error: command not implemented\r\n\
         500 5.5.2 Error: command not recognized\r\n"
    );
}

#[test]
fn quit_keeps_the_next_hop_for_another_client_or_quits_it() {
    for kept in [true, false] {
        let mut r = Run::open(opts(), HOP_EHLO);
        let s = r.line("QUIT");
        assert_eq!(
            s.actions,
            [
                Action::Client(b"221 2.0.0 Bye\r\n".to_vec()),
                Action::Hop(b"RSET\r\n".to_vec())
            ]
        );
        assert_eq!(r.reply("250 2.0.0 Ok\r\n").then, Request::Keep);
        let s = r.on(Event::Kept(kept));
        if kept {
            assert_eq!(s.then, Request::End(Ending::Done));
            continue;
        }
        assert_eq!(s.to_hop(), b"QUIT\r\n");
        assert_eq!(
            r.reply("221 2.0.0 Bye\r\n").then,
            Request::End(Ending::Done)
        );
    }
    // Without a next hop: said and done.
    let mut r = Run::new(opts());
    let s = r.line("quit");
    assert_eq!(s.to_client(), b"221 2.0.0 Bye\r\n");
    assert_eq!(s.then, Request::End(Ending::Done));
}

#[test]
fn starttls_is_offered_once_and_forgets_what_came_before() {
    let mut r = Run::new(opts());
    r.line("STARTTLS");
    assert_eq!(
        text(&r.idle()),
        "502 5.5.1 Error: command not implemented\r\n"
    );

    let mut r =
        Run::new(Options { offer_tls: true, xforward_ok: true, ..opts() });
    r.pipelined(&["XFORWARD ADDR=198.51.100.1", "STARTTLS now"]);
    assert_eq!(
        text(&r.idle()),
        "250 2.0.0 Ok\r\n501 5.5.4 Syntax: STARTTLS\r\n"
    );
    let s = r.line("STARTTLS");
    assert_eq!(s.to_client(), b"220 2.0.0 Ready to start TLS\r\n");
    assert_eq!(s.then, Request::ClientTls);
    let s = r.on(Event::ClientTls(Some("TLSv1_3 AES".into())));
    assert_eq!(
        s.actions,
        [Action::Log(
            Level::Detail,
            "TLS from [192.0.2.7]: TLSv1_3 AES".into()
        )]
    );
    r.line("EHLO client.test");
    r.on(Event::Caps(Some(reply(HOP_EHLO))));
    r.line("STARTTLS");
    let out = text(&r.idle());
    assert!(!out.contains("250 STARTTLS") && !out.contains("250-STARTTLS"));
    assert!(out.ends_with("554 5.5.1 Error: TLS already active\r\n"), "{out}");
    // The XFORWARD before TLS is forgotten: not replayed to the next hop.
    r.line("MAIL FROM:<a@example.org>");
    r.new_hop("220 hop.test\r\n");
    r.reply(HOP_EHLO);
    assert_eq!(r.step.actions, [Action::RememberCaps(reply(HOP_EHLO))]);
    assert_eq!(r.step.then, Request::Command);
}

#[test]
fn starttls_to_the_next_hop_or_no_session() {
    // Required, and offered.
    let o = Options { hop_tls: Some(ServerTls::Encrypt), ..opts() };
    let mut r = Run::new(o);
    r.line("EHLO client.test");
    r.on(Event::Caps(None));
    r.new_hop("220 hop.test\r\n");
    assert_eq!(r.reply(HOP_EHLO).to_hop(), b"STARTTLS\r\n");
    assert_eq!(r.reply("220 2.0.0 Ready\r\n").then, Request::HopTls);
    let s = r.on(Event::HopTls(Some("TLSv1_3 AES".into())));
    assert_eq!(s.to_hop(), b"EHLO client.test\r\n");
    let s = r.reply(HOP_EHLO);
    assert_eq!(
        s.actions,
        [
            Action::Log(
                Level::Detail,
                "TLS to the next hop: TLSv1_3 AES".into()
            ),
            Action::RememberCaps(reply(HOP_EHLO)),
        ]
    );
    assert!(r.idle().starts_with(b"250-proxy.test\r\n"));

    // Required, and not offered.
    let mut r =
        Run::new(Options { hop_tls: Some(ServerTls::Verify), ..opts() });
    r.line("EHLO client.test");
    r.on(Event::Caps(None));
    r.new_hop("220 hop.test\r\n");
    let s = r.reply("250-hop.test\r\n250 PIPELINING\r\n");
    assert_eq!(
        s.actions,
        [
            Action::Log(
                Level::Error,
                "the next hop offers no STARTTLS and server_tls requires it".into()
            ),
            Action::Client(
                b"421 4.7.4 nod32smtp: the next hop offers no TLS, try again later\r\n"
                    .to_vec()
            ),
        ]
    );
    assert_eq!(s.then, Request::End(Ending::Done));

    // "may", refused: a new session in clear.
    let mut r = Run::new(Options { hop_tls: Some(ServerTls::May), ..opts() });
    r.line("EHLO client.test");
    r.on(Event::Caps(None));
    r.new_hop("220 hop.test\r\n");
    r.reply(HOP_EHLO);
    let s = r.reply("454 4.7.0 TLS not available\r\n");
    assert_eq!(
        s.actions,
        [
            Action::CloseHop,
            Action::Log(
                Level::Warning,
                "TLS to the next hop failed (STARTTLS refused: 454); going on without"
                    .into()
            ),
        ]
    );
    assert_eq!(s.then, Request::OpenHop { reuse: false });
    assert_eq!(
        r.new_hop("220 hop.test\r\n").to_hop(),
        b"EHLO client.test\r\n"
    );
    r.reply(HOP_EHLO);
    assert_eq!(r.step.actions, [Action::RememberCaps(reply(HOP_EHLO))]);

    // "encrypt", the handshake fails.
    let mut r =
        Run::new(Options { hop_tls: Some(ServerTls::Encrypt), ..opts() });
    r.line("EHLO client.test");
    r.on(Event::Caps(None));
    r.new_hop("220 hop.test\r\n");
    r.reply(HOP_EHLO);
    r.reply("220 Ready\r\n");
    let s = r.on(Event::HopTlsFailed("bad certificate".into()));
    assert_eq!(
        text(&s.to_client()),
        "421 4.7.5 nod32smtp: TLS to the next hop failed, try again later\r\n"
    );
    assert_eq!(s.then, Request::End(Ending::Done));
}

#[test]
fn an_unreachable_or_refusing_next_hop_gets_the_client_a_421() {
    let mut r = Run::new(opts());
    r.line("EHLO client.test");
    r.on(Event::Caps(None));
    let s = r.on(Event::HopUnavailable("Connection refused".into()));
    assert_eq!(
        s,
        &Step {
            actions: vec![
                Action::Log(
                    Level::Error,
                    "next hop 127.0.0.1:2543 unavailable: Connection refused"
                        .into()
                ),
                Action::ForgetCaps,
                Action::Client(
                    b"421 4.3.0 nod32smtp: next hop unavailable, try again later\r\n"
                        .to_vec()
                ),
            ],
            then: Request::End(Ending::Done),
        }
    );
    // Its greeting, then its EHLO refused: never its 5xx.
    for (greeting, ehlo, log) in [
        ("554 5.3.2 busy\r\n", "", "its greeting: 554 5.3.2 busy"),
        ("220 hop\r\n", "550-no\r\n550 go away\r\n", "EHLO: 550 no / go away"),
    ] {
        let mut r = Run::new(opts());
        r.line("EHLO client.test");
        r.on(Event::Caps(None));
        let mut s = r.new_hop(greeting).clone();
        if !ehlo.is_empty() {
            s = r.reply(ehlo).clone();
        }
        let refused = format!("the next hop refused {log}");
        assert_eq!(
            s.actions,
            [
                Action::CloseHop,
                Action::Log(Level::Error, refused),
                Action::Client(UNAVAILABLE.to_vec()),
            ]
        );
        assert_eq!(s.then, Request::End(Ending::Done));
    }
}

#[test]
fn bad_lines_are_refused_and_the_session_goes_on() {
    let mut r = Run::new(opts());
    r.on(Event::LineTooLong);
    r.on(Event::Line(b"NOOP\rRSET"));
    r.on(Event::Line(b"MAIL FROM:<a@b>\0"));
    r.on(Event::Line(b"\xe3\x80\x80MAIL FROM:<a@b>"));
    assert_eq!(
        text(&r.idle()),
        "500 5.5.2 Error: line too long\r\n\
         500 5.5.2 Error: bare CR or NUL in a command\r\n\
         500 5.5.2 Error: bare CR or NUL in a command\r\n\
         500 5.5.2 Error: command not recognized\r\n"
    );
}

#[test]
fn a_client_too_slow_is_told_421_once() {
    let mut r = Run::new(opts());
    r.line("NOOP");
    let s =
        r.on(Event::ClientFailed { timed_out: true, writing: false }).clone();
    assert_eq!(
        s.then,
        Request::End(Ending::Failed {
            words: b"250 2.0.0 Ok\r\n421 4.4.2 nod32smtp: timeout exceeded, closing\r\n"
                .to_vec(),
            error: None,
        })
    );
    // Over: nothing more is done.
    assert_eq!(r.on(Event::Idle), &s);
    assert_eq!(
        r.on(Event::ClientFailed { timed_out: true, writing: true }),
        &s
    );

    // A write that failed is owed again; a 421 in it is enough.
    let mut r = Run::open(opts(), HOP_EHLO);
    r.line("QUIT");
    let s = r.on(Event::ClientFailed { timed_out: true, writing: true });
    let words =
        b"221 2.0.0 Bye\r\n421 4.4.2 nod32smtp: timeout exceeded, closing\r\n";
    assert_eq!(s.to_client(), words);
    let mut r = Run::new(opts());
    r.line("EHLO client.test");
    r.on(Event::Caps(None));
    r.on(Event::HopUnavailable("timed out".into()));
    // Its plain ending becomes a failed one when the 421 cannot be
    // written (and it is tried again).
    let s = r.on(Event::ClientFailed { timed_out: true, writing: true });
    assert_eq!(s.to_client(), UNAVAILABLE);
    assert!(matches!(s.then, Request::End(Ending::Failed { .. })));
    // A client that is not slow but gone hears nothing more.
    let mut r = Run::new(opts());
    let s = r.on(Event::ClientFailed { timed_out: false, writing: false });
    assert_eq!(s.to_client(), b"");
}

#[test]
fn a_next_hop_lost_mid_session_gets_the_client_a_421() {
    let mut r = Run::open(opts(), HOP_EHLO);
    r.pipelined(&["MAIL FROM:<a@example.org>", "RCPT TO:<b@example.net>"]);
    r.on(Event::Idle);
    r.reply("250 2.1.0 Ok\r\n");
    let s = r.on(Event::HopFailed("connection reset".into()));
    assert_eq!(
        s.then,
        Request::End(Ending::Failed {
            words: b"250 2.1.0 Ok\r\n421 4.4.2 nod32smtp: lost the next hop, try again later\r\n"
                .to_vec(),
            error: None,
        })
    );
}

#[test]
fn an_event_that_answers_nothing_changes_nothing() {
    let mut r = Run::open(opts(), HOP_EHLO);
    r.line("HELO again.test");
    assert_eq!(r.step.then, Request::Reply);
    for ev in [
        Event::Idle,
        Event::Line(b"QUIT"),
        Event::Kept(true),
        Event::Piece(b"x"),
        Event::Scanned(Verdict::Send),
    ] {
        assert_eq!(r.on(ev), &Step { actions: vec![], then: Request::Reply });
    }
    r.reply("250 hop.test\r\n");
    assert_eq!(text(&r.idle()), "250 hop.test\r\n");
}

#[test]
fn xforward_is_taken_from_those_allowed_and_replayed_to_the_next_hop() {
    let mut r = Run::new(opts());
    r.line("XFORWARD ADDR=198.51.100.1");
    assert_eq!(
        text(&r.idle()),
        "550 5.7.0 Error: insufficient authorization\r\n"
    );
    let mut r = Run::new(Options { xforward_ok: true, ..opts() });
    r.line("EHLO client.test");
    r.on(Event::Caps(Some(reply(HOP_EHLO))));
    assert!(r.idle().starts_with(b"250-proxy.test\r\n"));
    r.pipelined(&[
        "XFORWARD NAME=mx.example.org ADDR=198.51.100.1",
        "XFORWARD IDENT=4ABC",
    ]);
    let s = r.line("MAIL FROM:<a@example.org>");
    assert_eq!(s.then, Request::OpenHop { reuse: true });
    r.new_hop("220 hop.test\r\n");
    r.reply(HOP_EHLO);
    assert_eq!(
        r.step.to_hop(),
        b"XFORWARD NAME=mx.example.org ADDR=198.51.100.1\r\n"
    );
    r.reply("250 2.0.0 Ok\r\n");
    assert_eq!(r.step.to_hop(), b"XFORWARD IDENT=4ABC\r\n");
    r.reply("550 5.7.1 no\r\n");
    assert_eq!(
        r.step.actions,
        [Action::Log(
            Level::Warning,
            "the next hop refused XFORWARD: 550".into()
        )]
    );
    // MAIL is pipelined now; the XFORWARD replies are not the client's.
    r.pipelined(&["RCPT TO:<b@example.net>"]);
    r.line("DATA");
    assert_eq!(
        r.step.to_hop(),
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"
    );
    r.reply("250 2.1.0 Ok\r\n");
    r.reply("250 2.1.5 Ok\r\n");
    assert_eq!(
        text(&r.step.to_client()),
        "250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n\
         354 End data with <CR><LF>.<CR><LF>\r\n"
    );
    let Request::Scan(env) = r
        .on(Event::Message(Some(Spooled { len: 3, bare_line_ends: false })))
        .then
        .clone()
    else {
        panic!("{:?}", r.step)
    };
    assert_eq!(env.client, "mx.example.org[198.51.100.1]");
    assert_eq!(env.queue_id, "4ABC");
}

#[test]
fn a_recipient_of_another_policy_waits_for_a_transaction_of_its_own() {
    let same_domain: Joins = Box::new(|_: &str, first: &str, rcpt: &str| {
        first.split('@').nth(1) == rcpt.split('@').nth(1)
    });
    let mut r =
        Run::open(Options { joins: Some(same_domain), ..opts() }, HOP_EHLO);
    r.line("MAIL FROM:<a@example.org>");
    assert_eq!(r.step.actions, []);
    // Who is in is known from the replies before.
    assert_eq!(
        r.line("RCPT TO:<b@example.net>").to_hop(),
        b"MAIL FROM:<a@example.org>\r\n"
    );
    r.reply("250 2.1.0 Ok\r\n");
    assert_eq!(r.step.actions, []);
    r.line("RCPT TO:<c@example.com>");
    assert_eq!(r.step.to_hop(), b"RCPT TO:<b@example.net>\r\n");
    r.reply("250 2.1.5 Ok\r\n");
    r.line("RCPT TO:<d@example.net>");
    r.line("DATA");
    assert_eq!(r.step.to_hop(), b"RCPT TO:<d@example.net>\r\n");
    r.reply("250 2.1.5 Ok\r\n");
    assert_eq!(
        text(&r.step.to_client()),
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n\
         452 4.5.3 nod32smtp: filtered under another policy than the \
         recipients before it; send it in a transaction of its own\r\n\
         250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
    );
}
