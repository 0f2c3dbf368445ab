//! The message itself: DATA and BDAT read into the spool, the scan, and
//! the message passed on (`Outbound`) or refused.

use super::*;
use crate::{Stuffer, one};

/// A message leaving for the next hop: by BDAT when it has CHUNKING (one
/// round trip less), else after DATA, dot-stuffed. Fed piece by piece,
/// it holds back up to a megabyte, and always the end.
pub(super) struct Outbound {
    bdat: bool,
    stuffer: Stuffer,
    /// In SMTP form, not yet written.
    out: Vec<u8>,
    /// A piece that came while a chunk's reply was awaited.
    next: Vec<u8>,
}

/// What is held back at most before it leaves (a chunk, with BDAT).
const PIECE: usize = 1 << 20;

impl Outbound {
    fn new(bdat: bool) -> Outbound {
        Outbound {
            bdat,
            stuffer: Stuffer::new(!bdat),
            out: Vec::with_capacity(PIECE + (1 << 17)),
            next: Vec::new(),
        }
    }
}

impl Conversation {
    pub(super) fn message_reply(&mut self, then: Then, r: Reply) {
        match then {
            Then::Verdict(answer) => self.delivered(answer),
            Then::Refused(answer) => self.refused(answer, r.ok()),
            Then::Data => {
                if r.ok() {
                    // A 2xx here is a reply out of step: never taken for
                    // the message's.
                    let e =
                        format!("the next hop answered DATA with {}", r.code);
                    self.undelivered(Some(e));
                } else if r.code != 354 {
                    self.delivered(r);
                } else {
                    self.request(
                        Request::Piece,
                        Wait::Piece(Outbound::new(false)),
                    );
                }
            }
            Then::Chunk(mut o) => {
                if !r.ok() {
                    return self.delivered(r);
                }
                let next = std::mem::take(&mut o.next);
                o.stuffer.push(&next, &mut o.out);
                self.request(Request::Piece, Wait::Piece(o));
            }
            _ => self.delivered(r),
        }
    }

    fn envelope(&self) -> Envelope {
        Envelope {
            sender: self.sender.clone().unwrap_or_default(),
            recipients: self.rcpts.clone(),
            client: if self.xaddr.is_empty() {
                format!("[{}]", self.o.peer)
            } else {
                format!("{}[{}]", self.xname, self.xaddr)
            },
            queue_id: self.xident.clone(),
            ..Envelope::default()
        }
    }

    pub(super) fn data(&mut self, line: &[u8]) {
        if !self.drained(line) {
            return;
        }
        if self.sender.is_none() {
            self.say(NEED_MAIL);
        } else if self.rcpts.is_empty() {
            self.say(b"554 5.5.1 Error: no valid recipients\r\n");
        } else if self.bdat.is_some() {
            self.say(b"503 5.5.1 Error: DATA after BDAT\r\n");
        } else {
            self.say(b"354 End data with <CR><LF>.<CR><LF>\r\n");
            self.flush_held();
            let max = self.max_message;
            return self.request(Request::Message { max }, Wait::Message);
        }
        self.ready();
    }

    pub(super) fn message(&mut self, m: Option<Spooled>) {
        match m {
            Some(s) => {
                self.spooled(s);
                self.deliver();
            }
            None => {
                // The driver's read emptied the spool as it went over.
                self.spooled(Spooled::default());
                self.reset();
                self.send(b"RSET");
                self.expect(Then::Rset(
                    b"552 5.3.4 Error: message too big\r\n",
                ));
            }
        }
    }

    fn spooled(&mut self, s: Spooled) {
        self.spooled = s.len;
        self.bare = s.bare_line_ends;
    }

    pub(super) fn bdat(&mut self, line: &[u8], args: &str) {
        if !self.drained(line) {
            return;
        }
        let mut args = args.split_ascii_whitespace();
        let size = args.next().and_then(|n| n.parse::<u64>().ok());
        let last = match args.next() {
            None => false,
            Some(l) if l.eq_ignore_ascii_case("LAST") => true,
            Some(_) => false,
        };
        let Some(size) = size.filter(|_| args.next().is_none()) else {
            // Without a size there is no telling where the next command
            // starts.
            self.say(b"501 5.5.4 Syntax: BDAT size [LAST]\r\n");
            return self.finish();
        };
        if size > self.max_message {
            // Larger than any message taken: refused at once, and the
            // session ends, as its chunk is not worth reading.
            self.say(b"552 5.3.4 Error: message too big\r\n");
            return self.finish();
        }
        let refusal = if !self.chunking {
            Some(one(502, "5.5.1 Error: command not implemented"))
        } else if self.sender.is_none() {
            Some(one(503, "5.5.1 Error: need MAIL command"))
        } else if self.rcpts.is_empty() {
            Some(one(554, "5.5.1 Error: no valid recipients"))
        } else if let Some(Some(r)) = &self.bdat {
            Some(r.clone())
        } else if self.spooled.saturating_add(size) > self.max_message {
            Some(one(552, "5.3.4 Error: message too big"))
        } else {
            None
        };
        let keep = refusal.is_none();
        self.request(
            Request::Chunk { size, keep },
            Wait::Chunk { refusal, last, size },
        );
    }

    pub(super) fn chunk(
        &mut self,
        refusal: Option<Reply>,
        last: bool,
        size: u64,
        s: Spooled,
    ) {
        self.spooled(s);
        if let Some(r) = refusal {
            if self.sender.is_some() && !self.rcpts.is_empty() {
                // The transaction stays failed until its last chunk.
                self.bdat = Some(Some(r.clone()));
                self.clear_spool();
            }
            self.say(&r.wire());
            if last && self.bdat.is_some() {
                self.reset();
                self.send(b"RSET");
                return self.expect(Then::Rset(b""));
            }
            return self.ready();
        }
        if !last {
            self.bdat = Some(None);
            let got = format!("250 2.0.0 {size} octets received\r\n");
            self.say(got.as_bytes());
            return self.ready();
        }
        self.deliver();
    }

    /// The message is in the spool: have it scanned.
    fn deliver(&mut self) {
        if self.bare && self.o.bare_newline == BareNewline::Reject {
            self.log(
                Level::Warning,
                format!(
                    "[{}] message with a bare CR or LF refused (bare_newline = reject)",
                    self.o.peer
                ),
            );
            self.reset();
            self.send(b"RSET");
            return self.expect(Then::Rset(
                b"550 5.5.2 nod32smtp: bare CR or LF in the message, refused\r\n",
            ));
        }
        let env = self.envelope();
        self.request(Request::Scan(env), Wait::Scan);
    }

    /// Sends the message on, or ends the next hop's transaction and
    /// answers for it.
    pub(super) fn scanned(&mut self, v: Verdict) {
        let answer = match v {
            Verdict::Send => {
                if self.hop.is_some_and(|h| h.chunking) {
                    let o = Outbound::new(true);
                    return self.request(Request::Piece, Wait::Piece(o));
                }
                self.send(b"DATA");
                return self.expect(Then::Data);
            }
            Verdict::Answer(r) => {
                one(r.code, &format!("{} {}", r.enhanced, r.text))
            }
            Verdict::Fault(fault) => {
                self.log(Level::Error, format!("{fault}; answering 451"));
                one(451, "4.3.0 nod32smtp: internal error, try again later")
            }
            Verdict::Unreadable(e) => {
                self.log(Level::Error, format!("spool: {e}; answering 451"));
                one(451, "4.3.0 nod32smtp: local error, try again later")
            }
        };
        self.send(b"RSET");
        self.expect(Then::Verdict(answer));
    }

    /// A piece of the message to send; empty: its end.
    pub(super) fn piece(&mut self, mut o: Outbound, p: &[u8]) {
        if p.is_empty() {
            o.stuffer.finish(&mut o.out);
            if o.bdat {
                let head = format!("BDAT {} LAST\r\n", o.out.len());
                self.out.push(Action::Hop(head.into_bytes()));
            } else {
                o.out.extend_from_slice(b".\r\n");
            }
            self.out.push(Action::Hop(o.out));
            return self.expect(Then::Last);
        }
        if o.out.len() >= PIECE {
            // More follows: what is there leaves now.
            let out = std::mem::replace(
                &mut o.out,
                Vec::with_capacity(PIECE + (1 << 17)),
            );
            if o.bdat {
                let head = format!("BDAT {}\r\n", out.len());
                self.out.push(Action::Hop(head.into_bytes()));
                self.out.push(Action::Hop(out));
                o.next = p.to_vec();
                return self.expect(Then::Chunk(o));
            }
            self.out.push(Action::Hop(out));
        }
        o.stuffer.push(p, &mut o.out);
        self.request(Request::Piece, Wait::Piece(o));
    }

    /// The reply to the message (the next hop's, or nod32smtp's own)
    /// is the client's.
    fn delivered(&mut self, r: Reply) {
        self.reset();
        if !r.ok() {
            // A refused DATA or BDAT chunk can leave the next hop's
            // transaction open; the client's next MAIL must not meet
            // "nested MAIL command".
            self.send(b"RSET");
            return self.expect(Then::Refused(r));
        }
        self.say(&r.wire());
        self.ready();
    }

    pub(super) fn refused(&mut self, r: Reply, rset_ok: bool) {
        if !rset_ok {
            // Its reply may still come: a later command would read it as
            // its own.
            self.hop = None;
            self.out.push(Action::CloseHop);
        }
        self.say(&r.wire());
        self.ready();
    }

    /// The next hop went away with the message: the client must not
    /// take silence for success.
    pub(super) fn undelivered(&mut self, error: Option<String>) {
        self.reset();
        self.say(LOST);
        self.fail(error);
    }
}
