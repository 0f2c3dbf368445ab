//! One client's SMTP conversation through nod32smtp with the next hop,
//! as a state machine without I/O (as `nod32_milter::Session` is for the
//! milter protocol). It is fed what happened ([`Event`]: a command line,
//! a reply of the next hop, the message in the spool, a verdict, a
//! failure) and answers with a [`Step`]: what to write to either side
//! and what else to do now ([`Action`]), then the one thing to wait for
//! ([`Request`]), whose outcome is the next event. Every reply's code and
//! text, the order of the lines on both wires, what is pipelined, and
//! when the client is written to are decided here; the driver
//! (`super::driver`) holds the sockets, the TLS streams, the spool, the
//! pool of kept next-hop sessions and the scan. So the conversation can
//! be tested event by event, and fuzzed, without a socket.
//!
//! The message is read whole into the spool (after DATA, or chunk by
//! chunk after BDAT), scanned, and only then sent on: the driver hands
//! its bytes back piece by piece ([`Request::Piece`]) and
//! `message::Outbound` puts them in SMTP form. Streaming it instead
//! needs no other shape: the pieces would be the message as it arrives,
//! handed to an `Outbound` opened at DATA, which holds back only the end
//! (the lone dot, or BDAT LAST) until the verdict; on a refusal the next
//! hop's session, then mid-message, would be closed instead of RSET.

use std::collections::VecDeque;

use nod32_agent::Envelope;
use nod32_agent::log::Level;
use nod32_config::{BareNewline, ServerTls};

use crate::{Reply, angle};

mod events;
mod hop;
mod message;
#[cfg(test)]
mod tests;

pub use events::{
    Action, Ending, Event, Joins, Opened, Options, Request, Spooled, Step,
    Verdict,
};
use message::Outbound;

/// RFC 5321 §4.5.3.1.4 allows 512 octets for a command line; ESMTP
/// parameters make more common. Longer lines are refused, not read.
pub const MAX_COMMAND: usize = 4096;

/// The largest message taken when the next hop announces no SIZE.
const DEFAULT_MAX_MESSAGE: u64 = 100 << 20;

/// Commands sent to a pipelining next hop without waiting for their
/// replies (RFC 2920 §3.1; XFORWARD as Postfix's own client sends it).
const PIPELINED: &[&str] = &["MAIL", "RCPT", "RSET", "XFORWARD"];

/// To a recipient under another policy than the transaction's: "too
/// many recipients", which clients answer by sending the rest in
/// another transaction.
const OTHER_POLICY: &[u8] = b"452 4.5.3 nod32smtp: filtered under another policy than the recipients before it; send it in a transaction of its own\r\n";

/// Pipelined commands in flight to the next hop at most, so that
/// neither side fills its socket buffer waiting for the other.
const MAX_IN_FLIGHT: usize = 100;

/// Replies held for the client at most before they are written.
const MAX_HELD: usize = 64 << 10;

/// The reply when the next hop goes away mid-session.
const LOST: &[u8] =
    b"421 4.4.2 nod32smtp: lost the next hop, try again later\r\n";

const UNAVAILABLE: &[u8] =
    b"421 4.3.0 nod32smtp: next hop unavailable, try again later\r\n";

const TIMEOUT: &[u8] = b"421 4.4.2 nod32smtp: timeout exceeded, closing\r\n";

const OK: &[u8] = b"250 2.0.0 Ok\r\n";

const NEED_MAIL: &[u8] = b"503 5.5.1 Error: need MAIL command\r\n";

/// What is known of the next-hop session.
#[derive(Clone, Copy, Debug, Default)]
struct Hop {
    pipelining: bool,
    chunking: bool,
    xforward: bool,
    tls: bool,
}

impl Hop {
    /// What its reply to EHLO says it can do.
    fn learn(&mut self, r: &Reply) {
        self.pipelining = r.ok() && offers(r, "PIPELINING");
        self.chunking = r.ok() && offers(r, "CHUNKING");
        self.xforward = r.ok() && offers(r, "XFORWARD");
    }

    /// No ESMTP after HELO.
    fn plain(&mut self) {
        *self = Hop { tls: self.tls, ..Hop::default() };
    }
}

/// What the pending request's answer goes on with.
enum Wait {
    Command,
    Reply(Then),
    Open(hop::Opening),
    /// The client's EHLO, for the next hop's known reply.
    Caps,
    HopTls {
        line: Vec<u8>,
        asker: hop::Asker,
    },
    ClientTls,
    Message,
    Chunk {
        refusal: Option<Reply>,
        last: bool,
        size: u64,
    },
    Scan,
    Piece(Outbound),
    Keep,
    Ended,
}

/// What a reply of the next hop is to.
enum Then {
    /// A pipelined command's ([`Conversation::in_flight`]).
    Drain,
    /// A command passed on alone: its reply is the client's.
    Pass {
        verb: String,
        args: String,
    },
    Helo,
    Ehlo {
        line: Vec<u8>,
        stage: hop::Stage,
        asker: hop::Asker,
    },
    StartTls {
        line: Vec<u8>,
        asker: hop::Asker,
    },
    OpenHelo(hop::Purpose),
    Replay {
        purpose: hop::Purpose,
        ehlo: Reply,
        rest: std::vec::IntoIter<Vec<u8>>,
    },
    /// A RSET that ends a failed transaction, then this to the client.
    Rset(&'static [u8]),
    /// The RSET after a verdict, then this reply to the message.
    Verdict(Reply),
    /// The RSET after the message was refused, whose reply this is.
    Refused(Reply),
    Data,
    Chunk(Outbound),
    Last,
    KeepRset,
    Quit,
}

/// What a drain of the pipelined replies was for.
enum Deferred {
    /// A command, taken again from the start.
    Line(Vec<u8>),
    TooLong,
    /// Write what is held, then end or read on.
    Flush {
        end: bool,
    },
    Ready,
}

/// One client session and, once a transaction needs one, its next hop.
pub struct Conversation {
    o: Options,
    /// Replies not yet written to the client (it pipelines).
    held: Vec<u8>,
    /// What the last step wrote to the client, owed again if the write
    /// fails.
    unwritten: Vec<u8>,
    /// Commands for the next hop, not yet written (pipelined).
    queued: Vec<u8>,
    hop: Option<Hop>,
    /// Pipelined commands sent to the next hop, replies not yet read.
    in_flight: VecDeque<(String, String)>,
    /// The client's last greeting (whether it was HELO, and its
    /// argument), said again to a next hop opened later.
    helo: Option<(bool, String)>,
    /// XFORWARD lines for a next hop not yet opened.
    xforward: Vec<Vec<u8>>,
    /// Whether CHUNKING was offered to the client.
    chunking: bool,
    client_tls: bool,
    max_message: u64,
    sender: Option<String>,
    rcpts: Vec<String>,
    xaddr: String,
    xname: String,
    xident: String,
    /// The spool's size, as last told.
    spooled: u64,
    bare: bool,
    /// A BDAT transaction: `None` while fine, or the reply every further
    /// chunk gets after one failed.
    bdat: Option<Option<Reply>>,
    wait: Wait,
    /// What to do once the pipelined replies are in.
    deferred: Option<Deferred>,
    /// The request standing, given again for an event that does not
    /// answer it.
    pending: Request,
    /// This step's request, once made.
    then: Option<Request>,
    out: Vec<Action>,
}

impl Conversation {
    /// A session whose client has just connected; [`Conversation::start`]
    /// gives its first step.
    pub fn new(o: Options) -> Conversation {
        Conversation {
            held: format!("220 {} ESMTP nod32smtp\r\n", o.host).into_bytes(),
            o,
            unwritten: Vec::new(),
            queued: Vec::new(),
            hop: None,
            in_flight: VecDeque::new(),
            helo: None,
            xforward: Vec::new(),
            chunking: false,
            client_tls: false,
            max_message: DEFAULT_MAX_MESSAGE,
            sender: None,
            rcpts: Vec::new(),
            xaddr: String::new(),
            xname: String::new(),
            xident: String::new(),
            spooled: 0,
            bare: false,
            bdat: None,
            wait: Wait::Command,
            deferred: None,
            pending: Request::Command,
            then: None,
            out: Vec::new(),
        }
    }

    /// The first step: the greeting is held until the client waits.
    pub fn start(&mut self) -> Step {
        Step { actions: Vec::new(), then: self.pending.clone() }
    }

    /// Takes what happened; what to do next. An event that answers
    /// neither the standing request nor is a failure changes nothing:
    /// the request stands.
    pub fn on(&mut self, ev: Event<'_>) -> Step {
        // The words of an ending that fails are written come what may;
        // the replies before a plain ending are not.
        let rewrite = matches!(ev, Event::ClientFailed { writing: true, .. })
            && self.pending == Request::End(Ending::Done);
        if matches!(self.wait, Wait::Ended) && !rewrite {
            return Step { actions: Vec::new(), then: self.pending.clone() };
        }
        let unwritten = std::mem::take(&mut self.unwritten);
        if let Event::ClientFailed { timed_out, writing } = ev {
            let owed = if writing { unwritten } else { Vec::new() };
            self.client_failed(owed, timed_out);
        } else {
            let wait = std::mem::replace(&mut self.wait, Wait::Ended);
            if let Err(wait) = self.answer(wait, ev) {
                self.wait = wait;
                self.then = Some(self.pending.clone());
            }
        }
        debug_assert!(self.then.is_some(), "a step without a request");
        let then = self.then.take().unwrap_or_else(|| self.pending.clone());
        Step { actions: std::mem::take(&mut self.out), then }
    }

    /// `Err`: the event does not answer what `wait` waits for.
    fn answer(&mut self, wait: Wait, ev: Event<'_>) -> Result<(), Wait> {
        match (wait, ev) {
            (Wait::Command, Event::Idle) => {
                // The client waits for its replies before it sends more.
                self.drain_then(Deferred::Flush { end: false });
            }
            (Wait::Command, Event::Line(l)) => self.command(l.to_vec()),
            (Wait::Command, Event::LineTooLong) => {
                self.drain_then(Deferred::TooLong);
            }
            (Wait::Command, Event::ClientClosed) => {
                self.drain_then(Deferred::Flush { end: true });
            }
            (Wait::Reply(then), Event::Reply(r)) => self.reply(then, r),
            (Wait::Reply(then), Event::HopFailed(e)) => {
                self.hop_failed(then, e);
            }
            (Wait::Open(o), Event::HopOpened(x)) => self.opened(o, Ok(x)),
            (Wait::Open(o), Event::HopUnavailable(e)) => {
                self.opened(o, Err(e));
            }
            (Wait::Caps, Event::Caps(c)) => self.caps(c),
            (Wait::HopTls { line, asker }, Event::HopTls(t)) => {
                self.hop_tls(line, asker, t);
            }
            (Wait::HopTls { line, asker }, Event::HopTlsFailed(e)) => {
                self.tls_failed(line, asker, &e);
            }
            (Wait::ClientTls, Event::ClientTls(t)) => self.client_tls(t),
            (Wait::Message, Event::Message(m)) => self.message(m),
            (Wait::Chunk { refusal, last, size }, Event::Chunk(s)) => {
                self.chunk(refusal, last, size, s);
            }
            (Wait::Scan, Event::Scanned(v)) => self.scanned(v),
            (Wait::Piece(o), Event::Piece(p)) => self.piece(o, p),
            (Wait::Piece(_), Event::HopFailed(_)) => self.undelivered(None),
            (Wait::Keep, Event::Kept(k)) => self.kept(k),
            (w, _) => return Err(w),
        }
        Ok(())
    }

    fn reply(&mut self, then: Then, r: Reply) {
        match then {
            Then::Drain => {
                if let Some((verb, args)) = self.in_flight.pop_front() {
                    self.note(&verb, &args, &r);
                    self.say(&r.wire());
                }
                if self.in_flight.is_empty() {
                    let d = self.deferred.take().unwrap_or(Deferred::Ready);
                    self.resume(d);
                } else {
                    self.expect(Then::Drain);
                }
            }
            Then::Pass { verb, args } => {
                self.note(&verb, &args, &r);
                self.say(&r.wire());
                self.ready();
            }
            Then::Rset(words) => {
                self.say(words);
                self.ready();
            }
            Then::Helo
            | Then::Ehlo { .. }
            | Then::StartTls { .. }
            | Then::OpenHelo(_)
            | Then::Replay { .. }
            | Then::KeepRset
            | Then::Quit => self.hop_reply(then, r),
            Then::Verdict(_)
            | Then::Refused(_)
            | Then::Data
            | Then::Chunk(_)
            | Then::Last => self.message_reply(then, r),
        }
    }

    fn hop_failed(&mut self, then: Then, e: String) {
        match then {
            Then::Ehlo { .. } => {
                self.say(LOST);
                self.finish();
            }
            Then::StartTls { line, asker } => {
                self.tls_failed(line, asker, &e);
            }
            Then::Refused(r) => self.refused(r, false),
            Then::Verdict(_) | Then::Data | Then::Chunk(_) | Then::Last => {
                self.undelivered(None);
            }
            Then::KeepRset => self.quit_hop(),
            Then::Quit => self.end(Ending::Done),
            Then::Drain
            | Then::Pass { .. }
            | Then::Helo
            | Then::OpenHelo(_)
            | Then::Replay { .. }
            | Then::Rset(_) => {
                self.in_flight.clear();
                self.lost();
            }
        }
    }

    fn say(&mut self, b: &[u8]) {
        self.held.extend_from_slice(b);
    }

    fn request(&mut self, r: Request, w: Wait) {
        self.pending = r.clone();
        self.then = Some(r);
        self.wait = w;
    }

    /// Waits for the next hop's reply.
    fn expect(&mut self, then: Then) {
        self.request(Request::Reply, Wait::Reply(then));
    }

    /// A command for the next hop, written with the pipelined ones
    /// before it.
    fn send(&mut self, line: &[u8]) {
        self.queue(line);
        self.send_queued();
    }

    fn queue(&mut self, line: &[u8]) {
        self.queued.extend_from_slice(line);
        self.queued.extend_from_slice(b"\r\n");
    }

    fn send_queued(&mut self) {
        if !self.queued.is_empty() {
            self.out.push(Action::Hop(std::mem::take(&mut self.queued)));
        }
    }

    /// Writes the held replies.
    fn flush_held(&mut self) {
        if !self.held.is_empty() {
            let b = std::mem::take(&mut self.held);
            self.unwritten.extend_from_slice(&b);
            self.out.push(Action::Client(b));
        }
    }

    /// Whether no pipelined reply is outstanding; if one is, they are
    /// read first, and `line` taken again after.
    fn drained(&mut self, line: &[u8]) -> bool {
        if self.in_flight.is_empty() {
            return true;
        }
        self.drain_then(Deferred::Line(line.to_vec()));
        false
    }

    /// Reads the next hop's replies to the pipelined commands (each
    /// held for the client in turn), then goes on with `d`.
    fn drain_then(&mut self, d: Deferred) {
        if self.in_flight.is_empty() {
            return self.resume(d);
        }
        self.deferred = Some(d);
        self.send_queued();
        self.expect(Then::Drain);
    }

    fn resume(&mut self, d: Deferred) {
        match d {
            Deferred::Line(l) => self.command(l),
            Deferred::TooLong => {
                self.say(b"500 5.5.2 Error: line too long\r\n");
                self.ready();
            }
            Deferred::Flush { end } => {
                self.flush_held();
                if end {
                    self.end(Ending::Done);
                } else {
                    self.request(Request::Command, Wait::Command);
                }
            }
            Deferred::Ready => self.ready(),
        }
    }

    /// On to the next command, once what is held for the client is
    /// written if it has grown big.
    fn ready(&mut self) {
        if self.held.len() > MAX_HELD {
            self.drain_then(Deferred::Flush { end: false });
        } else {
            self.request(Request::Command, Wait::Command);
        }
    }

    /// The session ends once the client has what it is owed.
    fn finish(&mut self) {
        self.drain_then(Deferred::Flush { end: true });
    }

    fn end(&mut self, e: Ending) {
        self.request(Request::End(e), Wait::Ended);
    }

    /// The next hop went away: the client hears 421.
    fn lost(&mut self) {
        self.say(LOST);
        self.fail(None);
    }

    fn fail(&mut self, error: Option<String>) {
        let words = std::mem::take(&mut self.held);
        self.end(Ending::Failed { words, error });
    }

    fn client_failed(&mut self, mut words: Vec<u8>, timed_out: bool) {
        words.append(&mut self.held);
        if timed_out && !words.windows(4).any(|w| w == b"421 ") {
            words.extend_from_slice(TIMEOUT);
        }
        self.end(Ending::Failed { words, error: None });
    }

    /// What a reply to a passed-on command (`args`: what follows its
    /// verb) means for the transaction.
    fn note(&mut self, verb: &str, args: &str, r: &Reply) {
        if !r.ok() {
            return;
        }
        match verb {
            "MAIL" => {
                self.sender = Some(angle(args));
                self.rcpts.clear();
            }
            "RCPT" => self.rcpts.push(angle(args)),
            "RSET" => self.reset(),
            "XFORWARD" => {
                // Postfix's content filter client says who the client
                // was and the queue id the mail had.
                for attr in args.split_ascii_whitespace() {
                    match attr.split_once('=') {
                        Some(("ADDR", v)) => self.xaddr = v.to_string(),
                        Some(("NAME", v)) => self.xname = v.to_string(),
                        Some(("IDENT", v)) => self.xident = v.to_string(),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    fn reset(&mut self) {
        self.sender = None;
        self.rcpts.clear();
        self.clear_spool();
        self.bdat = None;
    }

    fn clear_spool(&mut self) {
        // An empty spool is as new: nothing to tell the driver.
        if self.spooled > 0 {
            self.out.push(Action::ClearSpool);
        }
        self.spooled = 0;
        self.bare = false;
    }

    fn log(&mut self, level: Level, text: String) {
        self.out.push(Action::Log(level, text));
    }

    /// One command line from the client.
    fn command(&mut self, line: Vec<u8>) {
        if line.iter().any(|&b| matches!(b, b'\r' | b'\n' | 0)) {
            // A next hop could read a bare CR as a line end, and so a
            // command nod32smtp never saw; a NUL ends a C string. (A LF
            // never comes from the driver, which splits lines there.)
            if self.drained(&line) {
                self.say(b"500 5.5.2 Error: bare CR or NUL in a command\r\n");
                self.ready();
            }
            return;
        }
        // What goes on to the next hop starts with the verb, as it was
        // read here.
        let lead = line.iter().take_while(|&&b| b == b' ' || b == b'\t');
        let line = line[lead.count()..].to_vec();
        let text = String::from_utf8_lossy(&line).into_owned();
        let (verb, args) = split(&text);
        let verb = verb.to_ascii_uppercase();
        let args = args.to_string();
        match verb.as_str() {
            "EHLO" => self.ehlo(line, args.trim()),
            "HELO" => self.helo(&line, args.trim()),
            "MAIL" | "RCPT" | "RSET" => self.transaction(verb, line, args),
            "XFORWARD" => self.xforward(line, args),
            "DATA" => self.data(&line),
            "BDAT" => self.bdat(&line, &args),
            "STARTTLS" => self.starttls(&line),
            "QUIT" => self.quit(&line),
            _ => {
                if !self.drained(&line) {
                    return;
                }
                self.say(match verb.as_str() {
                    "NOOP" => OK,
                    "VRFY" | "EXPN" | "AUTH" | "ETRN" => {
                        b"502 5.5.1 Error: command not implemented\r\n"
                    }
                    _ => b"500 5.5.2 Error: command not recognized\r\n",
                });
                self.ready();
            }
        }
    }

    /// MAIL, RCPT, RSET: for the next hop, but a recipient of another
    /// policy than the transaction's is refused here.
    fn transaction(&mut self, verb: String, line: Vec<u8>, args: String) {
        if verb == "RSET" {
            self.clear_spool();
            self.bdat = None;
        }
        if verb == "RCPT" && self.hop.is_some() && self.o.joins.is_some() {
            // The replies to MAIL and the RCPTs before say who is in.
            if !self.drained(&line) {
                return;
            }
            let sender = self.sender.clone().unwrap_or_default();
            let rcpt = angle(&args);
            let other = match (&self.o.joins, self.rcpts.first()) {
                (Some(joins), Some(first)) => !joins(&sender, first, &rcpt),
                _ => false,
            };
            if other {
                self.say(OTHER_POLICY);
                return self.ready();
            }
        }
        self.pass(verb, line, args);
    }

    /// A command for the next hop, answered at once (or queued when both
    /// sides pipeline it). MAIL opens the next-hop session; before it,
    /// RCPT and RSET are answered here.
    fn pass(&mut self, verb: String, line: Vec<u8>, args: String) {
        if self.hop.is_none() {
            if verb == "MAIL" {
                return self.open(hop::Purpose::Mail { line, args });
            }
            if !self.drained(&line) {
                return;
            }
            if verb == "RSET" {
                self.reset();
                self.say(OK);
            } else {
                self.say(NEED_MAIL);
            }
            return self.ready();
        }
        self.pass_on(verb, line, args);
    }

    /// [`Conversation::pass`] with the next-hop session open.
    fn pass_on(&mut self, verb: String, line: Vec<u8>, args: String) {
        let pipelining = self.hop.is_some_and(|h| h.pipelining);
        if pipelining && PIPELINED.contains(&verb.as_str()) {
            self.queue(&line);
            self.in_flight.push_back((verb, args));
            if self.in_flight.len() >= MAX_IN_FLIGHT {
                self.drain_then(Deferred::Ready);
            } else {
                self.ready();
            }
            return;
        }
        if self.drained(&line) {
            self.send(&line);
            self.expect(Then::Pass { verb, args });
        }
    }
}

/// A command line's verb and what follows it. Only ASCII space and tab
/// separate them (a client's Unicode white space is no separator): the
/// verb of "\u{3000}MAIL" is no MAIL.
fn split(text: &str) -> (&str, &str) {
    let t = text.trim_start_matches([' ', '\t']);
    match t.find([' ', '\t']) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, ""),
    }
}

/// Whether an EHLO reply lists `ext`.
fn offers(r: &Reply, ext: &str) -> bool {
    r.lines.iter().skip(1).any(|l| {
        l.split_whitespace()
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case(ext))
    })
}
