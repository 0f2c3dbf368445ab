//! nod32smtp's session: one client, its next hop, and the message read
//! whole, scanned and then sent on or refused. Kept in the library so
//! that a fuzz target can drive it with any client bytes against a
//! scripted next hop.

use std::collections::VecDeque;
use std::io::{self, BufReader, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nod32_agent::log::Level;
use nod32_agent::protocol::smtp;
use nod32_agent::{Body, Envelope, Live, State, deliver, policy_of, too_big};
use nod32_config::{BareNewline, ServerTls};
use nod32_daemon::Sem;
use rustls::{ClientConfig, ServerConfig};

use crate::net::{self, Plain, Stream};
use crate::{
    Reply, Spool, Stuffer, angle, one, read_chunk, read_line, read_message,
    read_reply,
};

mod conversation;
mod hop;
mod message;
mod shared;
mod upstream;

pub use conversation::{
    Action, Conversation, Ending, Event, Joins, MAX_COMMAND, Opened, Options,
    Request, Spooled, Step, Verdict,
};
pub use shared::{Active, Shared, Tls};
use upstream::*;

/// The largest message taken when the next hop announces no SIZE.
const DEFAULT_MAX_MESSAGE: u64 = 100 << 20;

/// Extensions passed on to the client when the next hop offers them.
/// STARTTLS is nod32smtp's own on each side; CHUNKING is added when the
/// next hop has it.
const PASSED: &[&str] = &[
    "PIPELINING",
    "SIZE",
    "8BITMIME",
    "SMTPUTF8",
    "DSN",
    "ENHANCEDSTATUSCODES",
    "XFORWARD",
];

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

/// XFORWARD lines kept for a next hop not yet opened, at most (Postfix
/// sends two).
const MAX_XFORWARD: usize = 16;

/// Next-hop sessions kept for reuse at most.
const SPARE_MAX: usize = 64;

/// How a next-hop connection is made: TCP to `server_addr` in the
/// daemon, a scripted peer in the fuzz target.
pub type Connect = Box<dyn Fn(&State) -> io::Result<Plain> + Send + Sync>;

/// One client session and, once a transaction needs one, its next hop.
struct Session<'a> {
    sh: &'a Shared,
    st: Arc<State>,
    tls: Tls,
    c: BufReader<Stream>,
    /// Replies not yet written to the client (it pipelines).
    held: Vec<u8>,
    up: Option<Upstream>,
    /// Pipelined commands sent to the next hop, replies not yet read.
    in_flight: VecDeque<(String, String)>,
    peer: String,
    /// The client's last greeting (whether it was HELO, and its
    /// argument), said again to a next hop opened later.
    helo: Option<(bool, String)>,
    /// Whether this client's XFORWARD is taken (`xforward_hosts`).
    xforward_ok: bool,
    /// XFORWARD lines for a next hop not yet opened.
    xforward: Vec<Vec<u8>>,
    /// Whether CHUNKING was offered to the client.
    chunking: bool,
    max_message: u64,
    sender: Option<String>,
    rcpts: Vec<String>,
    xaddr: String,
    xname: String,
    xident: String,
    spool: Spool,
    /// A BDAT transaction: `None` while fine, or the reply every further
    /// chunk gets after one failed.
    bdat: Option<Option<Reply>>,
}

/// How a session goes on after a command.
enum Next {
    Go,
    End,
}

impl Session<'_> {
    fn up(&mut self) -> &mut Upstream {
        self.up.as_mut().expect("next hop session")
    }

    fn say(&mut self, b: &[u8]) {
        self.held.extend_from_slice(b);
    }

    /// Writes the held replies, after the next hop's for what was sent
    /// to it.
    fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        if !self.held.is_empty() {
            let s = self.c.get_mut();
            s.write_all(&self.held)?;
            s.flush()?;
            self.held.clear();
        }
        Ok(())
    }

    /// Reads the next hop's replies to the pipelined commands.
    fn drain(&mut self) -> io::Result<()> {
        if self.in_flight.is_empty() {
            return Ok(());
        }
        self.up().send().inspect_err(|_| self.say(LOST))?;
        while let Some((verb, args)) = self.in_flight.pop_front() {
            let r = read_reply(&mut self.up().r).inspect_err(|_| {
                self.in_flight.clear();
                self.say(LOST);
            })?;
            self.note(&verb, &args, &r);
            self.say(&r.wire());
        }
        Ok(())
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

    /// Whether recipient `args` falls under another policy than the
    /// transaction's first recipient (see `State::joins`).
    fn other_policy(&mut self, args: &str) -> io::Result<bool> {
        if self.up.is_none() || !self.st.per_recipient() {
            return Ok(false);
        }
        // The replies to MAIL and the RCPTs before say who is in.
        self.drain()?;
        let sender = self.sender.clone().unwrap_or_default();
        Ok(self
            .rcpts
            .first()
            .is_some_and(|first| !self.st.joins(&sender, first, &angle(args))))
    }

    fn reset(&mut self) {
        self.sender = None;
        self.rcpts.clear();
        self.spool.clear();
        self.bdat = None;
    }

    /// A command for the next hop, answered at once (or queued when
    /// both sides pipeline it). MAIL opens the next-hop session; before
    /// it, RCPT and RSET are answered here.
    fn pass(
        &mut self,
        verb: &str,
        line: &[u8],
        args: String,
    ) -> io::Result<Next> {
        if self.up.is_none() {
            match verb {
                "MAIL" => {
                    if !self.open_next_hop()?.is_some_and(|r| r.ok()) {
                        return Ok(Next::End);
                    }
                }
                "RSET" => {
                    self.drain()?;
                    self.reset();
                    self.say(b"250 2.0.0 Ok\r\n");
                    return Ok(Next::Go);
                }
                _ => {
                    self.drain()?;
                    self.say(b"503 5.5.1 Error: need MAIL command\r\n");
                    return Ok(Next::Go);
                }
            }
        }
        let up = self.up();
        if up.pipelining && PIPELINED.contains(&verb) {
            up.queue(line);
            self.in_flight.push_back((verb.to_string(), args));
            if self.in_flight.len() >= MAX_IN_FLIGHT {
                self.drain()?;
            }
            return Ok(Next::Go);
        }
        self.drain()?;
        let r = self.up().command(line).inspect_err(|_| self.say(LOST))?;
        self.note(verb, &args, &r);
        self.say(&r.wire());
        Ok(Next::Go)
    }

    /// What the client sends next must arrive within `timeout`, moved on
    /// by 1/`rate` s for each byte (0: not moved).
    fn limit(&mut self, rate: u64) {
        let t = self.st.config.smtp.timeout;
        let at = std::time::Instant::now().checked_add(t);
        self.c.get_mut().set_deadline(at, rate);
    }

    /// Serves commands until the client quits or goes.
    fn run(&mut self) -> io::Result<()> {
        loop {
            if !self.c.buffer().contains(&b'\n') || self.held.len() > MAX_HELD
            {
                // The client waits for its replies before it sends more.
                self.flush()?;
            }
            // A command arrives whole within `timeout`, however slowly
            // its bytes trickle in.
            self.limit(0);
            let line = match read_line(&mut self.c, MAX_COMMAND)? {
                None => return self.flush(),
                Some(Err(())) => {
                    self.drain()?;
                    self.say(b"500 5.5.2 Error: line too long\r\n");
                    continue;
                }
                Some(Ok(l)) => l,
            };
            if line.iter().any(|&b| b == b'\r' || b == 0) {
                // A next hop could read a bare CR as a line end, and so
                // a command nod32smtp never saw; a NUL ends a C string.
                self.drain()?;
                self.say(b"500 5.5.2 Error: bare CR or NUL in a command\r\n");
                continue;
            }
            // What goes on to the next hop starts with the verb, as it
            // was read here.
            let lead = line.iter().take_while(|&&b| b == b' ' || b == b'\t');
            let line = line[lead.count()..].to_vec();
            let text = String::from_utf8_lossy(&line).into_owned();
            let (verb, args) = command(&text);
            let verb = verb.to_ascii_uppercase();
            let args = args.to_string();
            let next = match verb.as_str() {
                "EHLO" => self.ehlo(&line, args.trim())?,
                "HELO" => {
                    self.drain()?;
                    self.reset();
                    self.helo = Some((true, args.trim().to_string()));
                    self.chunking = false;
                    if self.up.is_some() {
                        let r = self
                            .up()
                            .command(&line)
                            .inspect_err(|_| self.say(LOST))?;
                        let up = self.up();
                        up.pipelining = false;
                        up.chunking = false;
                        up.xforward = false;
                        self.say(&r.wire());
                    } else {
                        let hi = format!("250 {}\r\n", self.st.host);
                        self.say(hi.as_bytes());
                    }
                    Next::Go
                }
                "MAIL" | "RCPT" | "RSET" => {
                    if verb == "RSET" {
                        self.spool.clear();
                        self.bdat = None;
                    }
                    if verb == "RCPT" && self.other_policy(&args)? {
                        self.say(OTHER_POLICY);
                        Next::Go
                    } else {
                        self.pass(&verb, &line, args)?
                    }
                }
                "XFORWARD" => self.xforward(&line, args)?,
                "DATA" => self.data()?,
                "BDAT" => self.bdat(&args)?,
                "STARTTLS" => self.starttls(&line)?,
                "NOOP" => {
                    self.drain()?;
                    self.say(b"250 2.0.0 Ok\r\n");
                    Next::Go
                }
                "QUIT" => {
                    self.drain()?;
                    self.say(b"221 2.0.0 Bye\r\n");
                    self.flush()?;
                    self.keep_next_hop();
                    return Ok(());
                }
                "VRFY" | "EXPN" | "AUTH" | "ETRN" => {
                    self.drain()?;
                    self.say(b"502 5.5.1 Error: command not implemented\r\n");
                    Next::Go
                }
                _ => {
                    self.drain()?;
                    self.say(b"500 5.5.2 Error: command not recognized\r\n");
                    Next::Go
                }
            };
            if let Next::End = next {
                return self.flush();
            }
        }
    }

    /// After QUIT: the next-hop session is kept for the next client.
    fn keep_next_hop(&mut self) {
        let Some(mut up) = self.up.take() else { return };
        if up.command(b"RSET").is_ok_and(|r| r.ok()) {
            let mut spare =
                self.sh.spare.lock().unwrap_or_else(|p| p.into_inner());
            if spare.len() < self.sh.spare_max {
                spare.push(up);
                return;
            }
        }
        let _ = up.command(b"QUIT");
    }
}

/// Serves one client until it quits or goes.
///
/// # Errors
/// The client or the next hop failed mid-session (the client has been
/// told, 421, if it still listens).
pub fn serve(sh: &Shared, mut client: Plain) -> io::Result<()> {
    let st = sh.live.get();
    let timeout = st.config.smtp.timeout;
    client.set_timeout(timeout)?;
    let peer = client.peer();
    // A TCP client whose address cannot be read is not authorized.
    let xforward_ok = client.is_unix()
        || client.peer_ip().is_some_and(|ip| {
            st.config.smtp.xforward_hosts.iter().any(|n| n.contains(ip))
        });
    let c = BufReader::with_capacity(1 << 16, Stream::Plain(client));
    let tls = sh.tls(&st);
    let mut s = Session {
        sh,
        tls,
        c,
        held: format!("220 {} ESMTP nod32smtp\r\n", st.host).into_bytes(),
        up: None,
        in_flight: VecDeque::new(),
        peer,
        helo: None,
        xforward_ok,
        xforward: Vec::new(),
        chunking: false,
        max_message: DEFAULT_MAX_MESSAGE,
        sender: None,
        rcpts: Vec::new(),
        xaddr: String::new(),
        xname: String::new(),
        xident: String::new(),
        spool: Spool::new(st.config.smtp.body_in_memory).watching_line_ends(),
        bdat: None,
        st,
    };
    let r = s.run();
    if let Err(e) = &r {
        if matches!(
            e.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        ) && !s.held.windows(4).any(|w| w == b"421 ")
        {
            s.say(b"421 4.4.2 nod32smtp: timeout exceeded, closing\r\n");
        }
        // Whatever the failure, the client hears of it (421) if it
        // still listens.
        let _ = s.c.get_mut().write_all(&s.held);
    }
    r
}
