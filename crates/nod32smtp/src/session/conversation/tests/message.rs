//! DATA and BDAT: the message spooled, its verdict, and what leaves for
//! the next hop.

use super::*;
use nod32_agent::protocol::SmtpReply;

/// A next hop without CHUNKING, taking 1000 bytes at most.
const SMALL: &str = "250-hop.test\r\n250-PIPELINING\r\n250 SIZE 1000\r\n";

/// With CHUNKING.
const CHUNKS: &str =
    "250-hop.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250 CHUNKING\r\n";

const SPOOLED: Spooled = Spooled { len: 30, bare_line_ends: false };

/// A transaction from a@example.org to b@example.net, its command
/// (DATA or BDAT) just read.
fn transaction(ehlo: &str, command: &str) -> Run {
    let mut r = Run::open(opts(), ehlo);
    r.pipelined(&["MAIL FROM:<a@example.org>", "RCPT TO:<b@example.net>"]);
    let s = r.line(command);
    assert_eq!(
        s.to_hop(),
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"
    );
    r.reply("250 2.1.0 Ok\r\n");
    r.reply("250 2.1.5 Ok\r\n");
    r
}

/// A message after DATA, spooled whole, and asked to be scanned.
fn spooled(ehlo: &str) -> Run {
    let mut r = transaction(ehlo, "DATA");
    assert_eq!(
        text(&r.step.to_client()),
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n\
         354 End data with <CR><LF>.<CR><LF>\r\n"
    );
    assert_eq!(r.step.then, Request::Message { max: 1000 });
    let s = r.on(Event::Message(Some(SPOOLED)));
    assert!(matches!(s.then, Request::Scan(_)), "{s:?}");
    r
}

#[test]
fn an_infected_message_is_refused_and_the_next_hop_reset() {
    let mut r = spooled(SMALL);
    let s = r.on(Event::Scanned(Verdict::Answer(SmtpReply {
        code: 550,
        enhanced: "5.7.1",
        text: "infected by Eicar-Test-Signature".into(),
    })));
    assert_eq!(s.actions, [Action::Hop(b"RSET\r\n".to_vec())]);
    // The transaction is over here too; the next hop's RSET again
    // makes sure of it there, as for any refusal.
    let s = r.reply("250 2.0.0 Ok\r\n");
    assert_eq!(
        s.actions,
        [Action::ClearSpool, Action::Hop(b"RSET\r\n".to_vec())]
    );
    r.reply("250 2.0.0 Ok\r\n");
    assert_eq!(r.step.actions, []);
    assert_eq!(
        text(&r.idle()),
        "550 5.7.1 infected by Eicar-Test-Signature\r\n"
    );
    // The session goes on.
    r.line("MAIL FROM:<c@example.org>");
    let s = r.on(Event::Idle);
    assert_eq!(s.to_hop(), b"MAIL FROM:<c@example.org>\r\n");
    r.reply("250 2.1.0 Ok\r\n");
    assert_eq!(text(&r.step.to_client()), "250 2.1.0 Ok\r\n");
}

#[test]
fn a_clean_message_leaves_stuffed_and_the_next_hops_250_is_the_clients() {
    let mut r = spooled(SMALL);
    assert_eq!(r.on(Event::Scanned(Verdict::Send)).to_hop(), b"DATA\r\n");
    assert_eq!(r.reply("354 go ahead\r\n").then, Request::Piece);
    let s = r.on(Event::Piece(b"Subject: x\r\n\r\n.dot\nbare\r"));
    assert_eq!(s, &Step { actions: vec![], then: Request::Piece });
    let s = r.on(Event::Piece(b"\nlast"));
    assert_eq!(s.then, Request::Piece);
    let s = r.on(Event::Piece(b""));
    assert_eq!(
        text(&s.to_hop()),
        "Subject: x\r\n\r\n..dot\r\nbare\r\nlast\r\n.\r\n"
    );
    let s = r.reply("250 2.0.0 Ok: queued as 4ABC\r\n");
    assert_eq!(s.actions, [Action::ClearSpool]);
    assert_eq!(text(&r.idle()), "250 2.0.0 Ok: queued as 4ABC\r\n");

    // To a next hop with CHUNKING: one BDAT LAST, no dots added.
    let mut r = spooled(CHUNKS);
    assert_eq!(r.on(Event::Scanned(Verdict::Send)).then, Request::Piece);
    r.on(Event::Piece(b".dot\nx"));
    let s = r.on(Event::Piece(b""));
    assert_eq!(text(&s.to_hop()), "BDAT 9 LAST\r\n.dot\r\nx\r\n");
    r.reply("250 2.0.0 Ok: queued as 4ABD\r\n");
    assert_eq!(text(&r.idle()), "250 2.0.0 Ok: queued as 4ABD\r\n");
}

#[test]
fn a_big_message_leaves_in_megabyte_chunks_and_a_refused_one_stops() {
    let piece = vec![b'x'; 64 << 10];
    for refuse in [false, true] {
        let mut r = spooled(CHUNKS);
        r.on(Event::Scanned(Verdict::Send));
        for _ in 0..16 {
            assert_eq!(r.on(Event::Piece(&piece)).actions, []);
        }
        // A megabyte is held: the next piece sends it.
        let s = r.on(Event::Piece(&piece));
        let mut want = b"BDAT 1048576\r\n".to_vec();
        want.extend_from_slice(&vec![b'x'; 1 << 20]);
        assert!(s.to_hop() == want, "{:?}", &s.to_hop()[..20]);
        assert_eq!(s.then, Request::Reply);
        if refuse {
            let s = r.reply("552 5.3.4 too big after all\r\n");
            assert_eq!(
                s.actions,
                [Action::ClearSpool, Action::Hop(b"RSET\r\n".to_vec())]
            );
            r.reply("250 2.0.0 Ok\r\n");
            assert_eq!(text(&r.idle()), "552 5.3.4 too big after all\r\n");
            continue;
        }
        assert_eq!(r.reply("250 2.0.0 chunk\r\n").then, Request::Piece);
        // The message's last line is ended.
        let s = r.on(Event::Piece(b""));
        let mut want = b"BDAT 65538 LAST\r\n".to_vec();
        want.extend_from_slice(&piece);
        want.extend_from_slice(b"\r\n");
        assert!(s.to_hop() == want, "{:?}", &s.to_hop()[..20]);
        r.reply("250 2.0.0 Ok: queued as 4ABE\r\n");
        assert_eq!(text(&r.idle()), "250 2.0.0 Ok: queued as 4ABE\r\n");
    }
}

#[test]
fn faults_and_a_next_hop_out_of_step_are_never_taken_for_success() {
    let mut r = spooled(SMALL);
    let s = r.on(Event::Scanned(Verdict::Fault("scan panicked".into())));
    assert_eq!(
        s.actions,
        [
            Action::Log(Level::Error, "scan panicked; answering 451".into()),
            Action::Hop(b"RSET\r\n".to_vec()),
        ]
    );
    r.reply("250 2.0.0 Ok\r\n");
    r.reply("250 2.0.0 Ok\r\n");
    assert_eq!(
        text(&r.idle()),
        "451 4.3.0 nod32smtp: internal error, try again later\r\n"
    );

    let mut r = spooled(SMALL);
    let s = r.on(Event::Scanned(Verdict::Unreadable("disk gone".into())));
    assert_eq!(
        s.actions[0],
        Action::Log(Level::Error, "spool: disk gone; answering 451".into())
    );
    r.reply("250 2.0.0 Ok\r\n");
    r.reply("250 2.0.0 Ok\r\n");
    assert_eq!(
        text(&r.idle()),
        "451 4.3.0 nod32smtp: local error, try again later\r\n"
    );

    // A 250 to DATA belongs to something else.
    let mut r = spooled(SMALL);
    r.on(Event::Scanned(Verdict::Send));
    let s = r.reply("250 2.0.0 Ok\r\n");
    assert_eq!(
        s.then,
        Request::End(Ending::Failed {
            words: LOST.to_vec(),
            error: Some("the next hop answered DATA with 250".into()),
        })
    );
    // A next hop that refuses DATA, then its RSET: closed.
    let mut r = spooled(SMALL);
    r.on(Event::Scanned(Verdict::Send));
    r.reply("554 5.5.1 no valid recipients\r\n");
    let s = r.reply("421 4.4.2 closing\r\n");
    assert_eq!(s.actions, [Action::CloseHop]);
    assert_eq!(text(&r.idle()), "554 5.5.1 no valid recipients\r\n");
    // Gone while the message leaves.
    let mut r = spooled(SMALL);
    r.on(Event::Scanned(Verdict::Send));
    r.reply("354 go ahead\r\n");
    let s = r.on(Event::HopFailed("broken pipe".into()));
    assert_eq!(s.to_client(), LOST);
}

#[test]
fn a_message_too_big_or_with_bare_line_ends_is_refused() {
    let mut r = transaction(SMALL, "DATA");
    let s = r.on(Event::Message(None));
    assert_eq!(s.actions, [Action::Hop(b"RSET\r\n".to_vec())]);
    r.reply("250 2.0.0 Ok\r\n");
    assert_eq!(text(&r.idle()), "552 5.3.4 Error: message too big\r\n");

    let o = Options { bare_newline: BareNewline::Reject, ..opts() };
    let mut r = Run::open(o, SMALL);
    r.pipelined(&["MAIL FROM:<a@example.org>", "RCPT TO:<b@example.net>"]);
    r.line("DATA");
    r.reply("250 2.1.0 Ok\r\n");
    r.reply("250 2.1.5 Ok\r\n");
    let bare = Spooled { len: 8, bare_line_ends: true };
    let s = r.on(Event::Message(Some(bare)));
    assert_eq!(
        s.actions,
        [
            Action::Log(
                Level::Warning,
                "[192.0.2.7] message with a bare CR or LF refused (bare_newline = reject)".into()
            ),
            Action::ClearSpool,
            Action::Hop(b"RSET\r\n".to_vec()),
        ]
    );
    r.reply("250 2.0.0 Ok\r\n");
    assert_eq!(
        text(&r.idle()),
        "550 5.5.2 nod32smtp: bare CR or LF in the message, refused\r\n"
    );
}

#[test]
fn bdat_chunks_are_joined_and_the_last_one_sends_the_message() {
    let mut r = transaction(CHUNKS, "BDAT 5");
    assert_eq!(r.step.then, Request::Chunk { size: 5, keep: true });
    r.on(Event::Chunk(Spooled { len: 5, bare_line_ends: false }));
    r.line("BDAT 3 LAST");
    assert_eq!(r.step.then, Request::Chunk { size: 3, keep: true });
    let s = r.on(Event::Chunk(Spooled { len: 8, bare_line_ends: false }));
    assert!(matches!(s.then, Request::Scan(_)));
    r.on(Event::Scanned(Verdict::Send));
    r.on(Event::Piece(b"a\r\nb\r\nc\r"));
    let s = r.on(Event::Piece(b""));
    assert_eq!(s.to_hop(), b"BDAT 9 LAST\r\na\r\nb\r\nc\r\n");
    r.reply("250 2.0.0 Ok: queued as 4ABF\r\n");
    assert_eq!(
        text(&r.idle()),
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 5 octets received\r\n\
         250 2.0.0 Ok: queued as 4ABF\r\n"
    );
}

#[test]
fn a_failed_chunk_fails_every_chunk_after_it_up_to_the_last() {
    let mut r = transaction(CHUNKS, "BDAT 600");
    r.on(Event::Chunk(Spooled { len: 600, bare_line_ends: false }));
    // Over SIZE 1000 together: read, dropped, refused.
    r.line("BDAT 500");
    assert_eq!(r.step.then, Request::Chunk { size: 500, keep: false });
    let s = r.on(Event::Chunk(Spooled { len: 600, bare_line_ends: false }));
    assert_eq!(s.actions, [Action::ClearSpool]);
    r.line("BDAT 1");
    assert_eq!(r.step.then, Request::Chunk { size: 1, keep: false });
    r.on(Event::Chunk(Spooled::default()));
    r.line("BDAT 1 LAST");
    let s = r.on(Event::Chunk(Spooled::default()));
    assert_eq!(s.to_hop(), b"RSET\r\n");
    r.reply("250 2.0.0 Ok\r\n");
    assert_eq!(
        text(&r.idle()),
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 600 octets received\r\n\
         552 5.3.4 Error: message too big\r\n\
         552 5.3.4 Error: message too big\r\n\
         552 5.3.4 Error: message too big\r\n"
    );
    // DATA after BDAT, BDAT without CHUNKING or without a size, and a
    // chunk larger than any message.
    let mut r = transaction(CHUNKS, "BDAT 2");
    r.on(Event::Chunk(Spooled { len: 2, bare_line_ends: false }));
    r.line("DATA");
    assert_eq!(
        text(&r.idle()),
        "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 2 octets received\r\n\
         503 5.5.1 Error: DATA after BDAT\r\n"
    );
    let mut r = transaction(SMALL, "BDAT 2 LAST");
    assert_eq!(r.step.then, Request::Chunk { size: 2, keep: false });
    r.on(Event::Chunk(Spooled::default()));
    r.reply("250 2.0.0 Ok\r\n");
    assert!(
        text(&r.idle())
            .ends_with("502 5.5.1 Error: command not implemented\r\n")
    );
    for (bad, said) in [
        ("BDAT", "501 5.5.4 Syntax: BDAT size [LAST]\r\n"),
        ("BDAT 1 LAST x", "501 5.5.4 Syntax: BDAT size [LAST]\r\n"),
        ("BDAT 1001", "552 5.3.4 Error: message too big\r\n"),
    ] {
        let mut r = Run::open(opts(), CHUNKS);
        let s = r.line(bad);
        assert_eq!(text(&s.to_client()), said, "{bad}");
        assert_eq!(s.then, Request::End(Ending::Done), "{bad}");
    }
}

#[test]
fn data_needs_a_sender_and_a_recipient() {
    let mut r = Run::open(opts(), SMALL);
    r.line("DATA");
    r.line("MAIL FROM:<a@example.org>");
    r.line("DATA");
    r.reply("250 2.1.0 Ok\r\n");
    assert_eq!(
        text(&r.idle()),
        "503 5.5.1 Error: need MAIL command\r\n250 2.1.0 Ok\r\n\
         554 5.5.1 Error: no valid recipients\r\n"
    );
}
