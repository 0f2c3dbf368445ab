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
use nod32_agent::service::Sem;
use nod32_agent::{Body, Envelope, Live, State, deliver, policy_of, too_big};
use nod32_config::{BareNewline, ServerTls};
use rustls::{ClientConfig, ServerConfig};

use crate::net::{self, Plain, Stream};
use crate::{
    Reply, Spool, Stuffer, angle, one, read_chunk, read_line, read_message,
    read_reply,
};

/// RFC 5321 §4.5.3.1.4 allows 512 octets for a command line; ESMTP
/// parameters make more common. Longer lines are refused, not read.
const MAX_COMMAND: usize = 4096;

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

/// What every session of one daemon shares.
pub struct Shared {
    /// The configuration and module, reloaded on SIGHUP.
    pub live: Live,
    connect: Connect,
    scans: Sem,
    active: Arc<AtomicUsize>,
    served: AtomicUsize,
    /// Next-hop sessions kept open between client sessions (after RSET),
    /// so a new client does not cost a new connection and greeting.
    spare: Mutex<Vec<Upstream>>,
    /// The next hop's last EHLO reply: what clients are offered without
    /// a next-hop session of their own until a transaction needs one.
    caps: Mutex<Option<(Arc<State>, Reply)>>,
    /// Next-hop sessions kept at most.
    spare_max: usize,
    tls: Mutex<Tls>,
}

/// The TLS set-ups of the configuration last seen; rebuilt after a
/// reload (a certificate renewed, then SIGHUP).
#[derive(Clone, Default)]
pub struct Tls {
    of: Option<Arc<State>>,
    offer: Option<Arc<ServerConfig>>,
    next_hop: Option<Arc<ClientConfig>>,
}

impl Tls {
    /// The TLS set-ups `st` asks for.
    ///
    /// # Errors
    /// A certificate, key or CA file is unusable.
    pub fn build(st: &State) -> Result<Tls, String> {
        let c = &st.config.smtp;
        let offer = match (&c.tls_cert_file, &c.tls_key_file) {
            (Some(cert), Some(key)) => {
                Some(Arc::new(net::server_config(cert, key)?))
            }
            _ => None,
        };
        let next_hop =
            net::client_config(c.server_tls, &c.server_tls_ca_file)?
                .map(Arc::new);
        Ok(Tls { of: None, offer, next_hop })
    }

    /// The set-ups built for `st` at start.
    ///
    /// # Errors
    /// As [`Tls::build`].
    pub fn of(st: &Arc<State>) -> Result<Tls, String> {
        Ok(Tls { of: Some(Arc::clone(st)), ..Tls::build(st)? })
    }

    /// Whether STARTTLS is offered to clients.
    pub fn offered(&self) -> bool {
        self.offer.is_some()
    }
}

impl Shared {
    /// State shared by the sessions: `scans` scans at once, `tls` as
    /// built at start, next-hop connections made by `connect`.
    pub fn new(
        live: Live,
        scans: usize,
        tls: Tls,
        connect: Connect,
    ) -> Shared {
        Shared {
            spare: Mutex::new(Vec::new()),
            caps: Mutex::new(None),
            spare_max: SPARE_MAX,
            live,
            connect,
            scans: Sem::new(scans),
            active: Arc::new(AtomicUsize::new(0)),
            served: AtomicUsize::new(0),
            tls: Mutex::new(tls),
        }
    }

    /// No next-hop session is kept for a later client (so that each
    /// session of a fuzz run starts alike).
    pub fn keep_no_spares(mut self) -> Shared {
        self.spare_max = 0;
        self
    }

    /// TCP to the configured next hop.
    pub fn tcp_next_hop() -> Connect {
        Box::new(|st: &State| {
            use std::net::ToSocketAddrs;
            let c = &st.config.smtp;
            // As Postfix's smtp_connect_timeout: a next hop that drops
            // packets costs the client 30 s, not the kernel's two minutes.
            let limit = c.timeout.min(Duration::from_secs(30));
            let mut last = io::Error::other("no address");
            for a in
                (c.server_addr.as_str(), c.server_port).to_socket_addrs()?
            {
                match std::net::TcpStream::connect_timeout(&a, limit) {
                    Ok(s) => {
                        s.set_nodelay(true)?;
                        return Ok(Plain::tcp(s));
                    }
                    Err(e) => last = e,
                }
            }
            Err(last)
        })
    }

    /// Sessions being served.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// Messages scanned so far.
    pub fn served(&self) -> usize {
        self.served.load(Ordering::Relaxed)
    }

    /// Counts a session from its accept to its end, however it ends.
    pub fn enter(&self) -> Active {
        self.active.fetch_add(1, Ordering::SeqCst);
        Active(Arc::clone(&self.active))
    }

    /// The TLS set-ups for `st`; when they cannot be built after a
    /// reload, the earlier ones stay (and the error is logged).
    fn tls(&self, st: &Arc<State>) -> Tls {
        let mut t = self.tls.lock().unwrap_or_else(|p| p.into_inner());
        if !t.of.as_ref().is_some_and(|o| Arc::ptr_eq(o, st)) {
            match Tls::build(st) {
                Ok(n) => *t = n,
                Err(e) => st.log.log(
                    Level::Error,
                    &format!("TLS set-up not reloaded, keeping the old: {e}"),
                ),
            }
            t.of = Some(Arc::clone(st));
        }
        t.clone()
    }
}

/// The next hop.
struct Upstream {
    r: BufReader<Stream>,
    /// Commands written but not yet sent.
    out: Vec<u8>,
    pipelining: bool,
    chunking: bool,
    xforward: bool,
}

impl Upstream {
    fn connect(
        sh: &Shared,
        st: &State,
        timeout: Duration,
    ) -> io::Result<(Upstream, Reply)> {
        let mut p = (sh.connect)(st)?;
        p.set_timeout(timeout)?;
        let mut u = Upstream {
            r: BufReader::with_capacity(1 << 16, Stream::Plain(p)),
            out: Vec::new(),
            pipelining: false,
            chunking: false,
            xforward: false,
        };
        let greeting = read_reply(&mut u.r)?;
        Ok((u, greeting))
    }

    fn queue(&mut self, line: &[u8]) {
        self.out.extend_from_slice(line);
        self.out.extend_from_slice(b"\r\n");
    }

    fn send(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            let s = self.r.get_mut();
            s.write_all(&self.out)?;
            s.flush()?;
            self.out.clear();
        }
        Ok(())
    }

    fn command(&mut self, line: &[u8]) -> io::Result<Reply> {
        self.queue(line);
        self.send()?;
        read_reply(&mut self.r)
    }

    /// EHLO, and what the reply says this next hop can do.
    fn ehlo(&mut self, line: &[u8]) -> io::Result<Reply> {
        let r = self.command(line)?;
        self.pipelining = r.ok() && offers(&r, "PIPELINING");
        self.chunking = r.ok() && offers(&r, "CHUNKING");
        self.xforward = r.ok() && offers(&r, "XFORWARD");
        Ok(r)
    }

    /// STARTTLS after EHLO; the session to go on with.
    fn starttls(
        mut self,
        cfg: &Arc<ClientConfig>,
        name: &str,
    ) -> Result<Upstream, String> {
        let r = self.command(b"STARTTLS").map_err(|e| e.to_string())?;
        if r.code != 220 {
            return Err(format!("STARTTLS refused: {}", r.code));
        }
        let plain =
            self.r.into_inner().into_plain().map_err(|e| e.to_string())?;
        let s =
            Stream::connect(plain, cfg, name).map_err(|e| e.to_string())?;
        Ok(Upstream {
            r: BufReader::with_capacity(1 << 16, s),
            out: Vec::new(),
            pipelining: false,
            chunking: false,
            xforward: false,
        })
    }

    /// Sends a message, by BDAT when the next hop has CHUNKING (one
    /// round trip less), else by DATA, dot-stuffed; the final reply, or
    /// the refusal of DATA or of a chunk.
    fn message(&mut self, src: &mut dyn Read) -> io::Result<Reply> {
        const PIECE: usize = 1 << 20;
        let bdat = self.chunking;
        if !bdat {
            let r = self.command(b"DATA")?;
            if r.ok() {
                // A 2xx here is a reply out of step: never taken for
                // the message's.
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the next hop answered DATA with {}", r.code),
                ));
            }
            if r.code != 354 {
                return Ok(r);
            }
        }
        let mut st = Stuffer::new(!bdat);
        let mut buf = vec![0u8; 1 << 16];
        let mut out = Vec::with_capacity(PIECE + (1 << 17));
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if out.len() >= PIECE {
                // More follows: what is there leaves now.
                if bdat {
                    let head = format!("BDAT {}\r\n", out.len());
                    self.r.get_mut().write_all(head.as_bytes())?;
                    self.r.get_mut().write_all(&out)?;
                    self.r.get_mut().flush()?;
                    let r = read_reply(&mut self.r)?;
                    if !r.ok() {
                        return Ok(r);
                    }
                } else {
                    self.r.get_mut().write_all(&out)?;
                }
                out.clear();
            }
            st.push(&buf[..n], &mut out);
        }
        st.finish(&mut out);
        let s = self.r.get_mut();
        if bdat {
            s.write_all(format!("BDAT {} LAST\r\n", out.len()).as_bytes())?;
            s.write_all(&out)?;
        } else {
            out.extend_from_slice(b".\r\n");
            s.write_all(&out)?;
        }
        s.flush()?;
        read_reply(&mut self.r)
    }
}

/// A command line's verb and what follows it. Only ASCII space and tab
/// separate them (a client's Unicode white space is no separator): the
/// verb of "\u{3000}MAIL" is no MAIL.
fn command(text: &str) -> (&str, &str) {
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

    /// XFORWARD (Postfix's content filter client says who the client
    /// was): taken only from `xforward_hosts`, passed on only to a next
    /// hop that offers it, else kept for the log line.
    fn xforward(&mut self, line: &[u8], args: String) -> io::Result<Next> {
        if !self.xforward_ok {
            self.drain()?;
            self.say(b"550 5.7.0 Error: insufficient authorization\r\n");
            return Ok(Next::Go);
        }
        if self.up.as_ref().is_some_and(|u| u.xforward) {
            return self.pass("XFORWARD", line, args);
        }
        self.drain()?;
        let ok = one(250, "2.0.0 Ok");
        self.note("XFORWARD", &args, &ok);
        if self.up.is_none() {
            if self.xforward.len() >= MAX_XFORWARD {
                self.say(b"503 5.5.1 Error: too many XFORWARD commands\r\n");
                return Ok(Next::Go);
            }
            self.xforward.push(line.to_vec());
        }
        self.say(&ok.wire());
        Ok(Next::Go)
    }

    /// A next hop that refuses a new session (its greeting or EHLO): the
    /// client hears 421, never the next hop's 5xx, which would make it
    /// bounce a message that a retry could deliver.
    fn hop_refused(&mut self, what: &str, r: &Reply) {
        self.st.log.log(
            Level::Error,
            &format!(
                "the next hop refused {what}: {} {}",
                r.code,
                r.lines.join(" / ")
            ),
        );
        self.say(UNAVAILABLE);
    }

    /// The next-hop session, kept from an earlier client or new, greeted
    /// with this client's EHLO (or HELO), in TLS when configured, and
    /// told what XFORWARD said; its reply to EHLO. `None`: the session
    /// ends (the client has been told).
    fn open_next_hop(&mut self) -> io::Result<Option<Reply>> {
        // A kept session the next hop has closed (or is closing, 421)
        // since is dropped; one that closes just now costs the client a
        // 421, not a message.
        let spare = {
            let mut kept =
                self.sh.spare.lock().unwrap_or_else(|p| p.into_inner());
            std::iter::from_fn(|| kept.pop()).find(|u| {
                u.out.is_empty()
                    && u.r.buffer().is_empty()
                    && u.r.get_ref().quiet()
            })
        };
        let up = match spare {
            Some(u) => u,
            None => {
                match Upstream::connect(
                    self.sh,
                    &self.st,
                    self.st.config.smtp.timeout,
                ) {
                    Ok((u, greeting)) if greeting.ok() => u,
                    Ok((_, greeting)) => {
                        self.hop_refused("its greeting", &greeting);
                        return Ok(None);
                    }
                    Err(e) => {
                        let s = &self.st.config.smtp;
                        self.st.log.log(
                            Level::Error,
                            &format!(
                                "next hop {}:{} unavailable: {e}",
                                s.server_addr, s.server_port
                            ),
                        );
                        // The next client's EHLO asks again, and is told
                        // 421 while it is down (a health check sees it).
                        *self
                            .sh
                            .caps
                            .lock()
                            .unwrap_or_else(|p| p.into_inner()) = None;
                        self.say(UNAVAILABLE);
                        return Ok(None);
                    }
                }
            }
        };
        self.up = Some(up);
        let (said_helo, arg) = match &self.helo {
            Some((h, a)) => (*h, a.clone()),
            None => (false, self.st.host.clone()),
        };
        // A client's HELO is still an EHLO to the next hop when TLS to it
        // is configured: only EHLO leads to STARTTLS, and with "encrypt"
        // or "verify" nothing may go in clear.
        let r = if said_helo && self.tls.next_hop.is_none() {
            let r = self
                .up()
                .command(format!("HELO {arg}").as_bytes())
                .inspect_err(|_| self.say(LOST))?;
            // No ESMTP after HELO, whatever a kept session had.
            let up = self.up();
            up.pipelining = false;
            up.chunking = false;
            up.xforward = false;
            r
        } else {
            match self.hop_ehlo(format!("EHLO {arg}").as_bytes())? {
                Some(r) => r,
                None => return Ok(None),
            }
        };
        if !r.ok() {
            self.up = None;
            self.hop_refused("EHLO", &r);
            return Ok(None);
        }
        for x in std::mem::take(&mut self.xforward) {
            if !self.up().xforward {
                break;
            }
            let xr = self.up().command(&x).inspect_err(|_| self.say(LOST))?;
            if !xr.ok() {
                self.st.log.log(
                    Level::Warning,
                    &format!("the next hop refused XFORWARD: {}", xr.code),
                );
            }
        }
        Ok(Some(r))
    }

    /// EHLO to the open next hop, with STARTTLS when configured; its
    /// reply, or `None` when the session must end (the client has been
    /// told why).
    fn hop_ehlo(&mut self, line: &[u8]) -> io::Result<Option<Reply>> {
        let first = self.up().ehlo(line);
        let mut r = match first {
            Ok(r) => r,
            Err(_) => {
                self.say(LOST);
                return Ok(None);
            }
        };
        let level = self.st.config.smtp.server_tls;
        let in_tls = matches!(self.up().r.get_ref(), Stream::Client(_));
        if r.ok()
            && !in_tls
            && let Some(cfg) = self.tls.next_hop.clone()
        {
            if offers(&r, "STARTTLS") {
                let name = self.st.config.smtp.server_tls_name.clone();
                let up = self.up.take().expect("next hop session");
                match up.starttls(&cfg, &name) {
                    Ok(u) => {
                        self.up = Some(u);
                        r = match self.up().ehlo(line) {
                            Ok(r) => r,
                            Err(_) => {
                                self.say(LOST);
                                return Ok(None);
                            }
                        };
                        if let Some(t) = self.up().r.get_ref().tls() {
                            self.st.log.log(
                                Level::Detail,
                                &format!("TLS to the next hop: {t}"),
                            );
                        }
                    }
                    Err(e) if level == ServerTls::May => {
                        // Opportunistic: as Postfix, go on in clear on
                        // a new session rather than not at all.
                        self.st.log.log(
                            Level::Warning,
                            &format!("TLS to the next hop failed ({e}); going on without"),
                        );
                        match Upstream::connect(
                            self.sh,
                            &self.st,
                            self.st.config.smtp.timeout,
                        ) {
                            Ok((u, g)) if g.ok() => self.up = Some(u),
                            _ => {
                                self.say(UNAVAILABLE);
                                return Ok(None);
                            }
                        }
                        r = match self.up().ehlo(line) {
                            Ok(r) => r,
                            Err(_) => {
                                self.say(LOST);
                                return Ok(None);
                            }
                        };
                    }
                    Err(e) => {
                        self.st.log.log(
                            Level::Error,
                            &format!("TLS to the next hop failed: {e}"),
                        );
                        self.say(b"421 4.7.5 nod32smtp: TLS to the next hop failed, try again later\r\n");
                        return Ok(None);
                    }
                }
            } else if level != ServerTls::May {
                self.st.log.log(
                    Level::Error,
                    "the next hop offers no STARTTLS and server_tls requires it",
                );
                self.say(b"421 4.7.4 nod32smtp: the next hop offers no TLS, try again later\r\n");
                return Ok(None);
            }
        }
        if r.ok() {
            *self.sh.caps.lock().unwrap_or_else(|p| p.into_inner()) = Some((
                Arc::clone(&self.st),
                Reply { code: r.code, lines: r.lines.clone() },
            ));
        }
        Ok(Some(r))
    }

    fn ehlo(&mut self, line: &[u8], arg: &str) -> io::Result<Next> {
        self.drain()?;
        self.helo = Some((false, arg.to_string()));
        // Known for this configuration only: a reload may name another
        // next hop.
        let cached = self
            .sh
            .caps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|(of, _)| Arc::ptr_eq(of, &self.st))
            .map(|(_, r)| Reply { code: r.code, lines: r.lines.clone() });
        let r = match (self.up.is_some(), cached) {
            (true, _) => self.hop_ehlo(line)?,
            (false, Some(r)) => Some(r),
            // Nothing known of the next hop yet: asked now, once.
            (false, None) => self.open_next_hop()?,
        };
        let Some(r) = r else { return Ok(Next::End) };
        if !r.ok() {
            if self.up.is_some() {
                self.say(&r.wire());
            }
            return Ok(Next::Go);
        }
        self.reset();
        // Our own name: the next hop's first line may echo another
        // client's EHLO.
        let mut lines = vec![self.st.host.clone()];
        for l in r.lines.iter().skip(1) {
            let kw =
                l.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
            if kw == "XFORWARD" && !self.xforward_ok {
                continue;
            }
            if PASSED.contains(&kw.as_str()) {
                if kw == "SIZE"
                    && let Some(n) = l
                        .split_whitespace()
                        .nth(1)
                        .and_then(|n| n.parse().ok())
                    && n > 0
                {
                    self.max_message = n;
                }
                lines.push(l.clone());
            }
        }
        // Chunks are joined here and sent on by DATA if the next hop
        // no longer has CHUNKING when the message leaves.
        self.chunking = offers(&r, "CHUNKING");
        if self.chunking {
            lines.push("CHUNKING".into());
        }
        if self.tls.offer.is_some()
            && matches!(self.c.get_ref(), Stream::Plain(_))
        {
            lines.push("STARTTLS".into());
        }
        self.say(&Reply { code: r.code, lines }.wire());
        Ok(Next::Go)
    }

    fn starttls(&mut self, line: &[u8]) -> io::Result<Next> {
        self.drain()?;
        let Some(cfg) = self.tls.offer.clone() else {
            self.say(b"502 5.5.1 Error: command not implemented\r\n");
            return Ok(Next::Go);
        };
        if !matches!(self.c.get_ref(), Stream::Plain(_)) {
            self.say(b"554 5.5.1 Error: TLS already active\r\n");
            return Ok(Next::Go);
        }
        if line.len() > "STARTTLS".len() {
            self.say(b"501 5.5.4 Syntax: STARTTLS\r\n");
            return Ok(Next::Go);
        }
        self.say(b"220 2.0.0 Ready to start TLS\r\n");
        self.flush()?;
        if !self.c.buffer().is_empty() {
            // Commands sent in clear behind STARTTLS would otherwise run
            // as if they came inside TLS (CVE-2011-0411): dropped.
            self.st.log.log(
                Level::Warning,
                &format!(
                    "[{}] sent commands behind STARTTLS; dropped",
                    self.peer
                ),
            );
        }
        let c = std::mem::replace(
            &mut self.c,
            BufReader::with_capacity(0, Stream::Gone),
        );
        let plain = c.into_inner().into_plain()?;
        let s = Stream::accept(plain, &cfg)?;
        if let Some(t) = s.tls() {
            self.st
                .log
                .log(Level::Detail, &format!("TLS from [{}]: {t}", self.peer));
        }
        self.c = BufReader::with_capacity(1 << 16, s);
        // RFC 3207 §4.2: everything known before TLS is forgotten.
        self.reset();
        self.xaddr.clear();
        self.xname.clear();
        self.xident.clear();
        self.helo = None;
        self.xforward.clear();
        Ok(Next::Go)
    }

    fn envelope(&self) -> Envelope {
        Envelope {
            sender: self.sender.clone().unwrap_or_default(),
            recipients: self.rcpts.clone(),
            client: if self.xaddr.is_empty() {
                format!("[{}]", self.peer)
            } else {
                format!("{}[{}]", self.xname, self.xaddr)
            },
            queue_id: self.xident.clone(),
            ..Envelope::default()
        }
    }

    fn data(&mut self) -> io::Result<Next> {
        self.drain()?;
        if self.sender.is_none() {
            self.say(b"503 5.5.1 Error: need MAIL command\r\n");
            return Ok(Next::Go);
        }
        if self.rcpts.is_empty() {
            self.say(b"554 5.5.1 Error: no valid recipients\r\n");
            return Ok(Next::Go);
        }
        if self.bdat.is_some() {
            self.say(b"503 5.5.1 Error: DATA after BDAT\r\n");
            return Ok(Next::Go);
        }
        self.say(b"354 End data with <CR><LF>.<CR><LF>\r\n");
        self.flush()?;
        self.limit(self.st.config.smtp.min_data_rate);
        match read_message(&mut self.c, self.max_message, &mut self.spool)? {
            Ok(()) => self.deliver(),
            Err(()) => {
                self.reset();
                self.up().command(b"RSET").inspect_err(|_| self.say(LOST))?;
                self.say(b"552 5.3.4 Error: message too big\r\n");
                Ok(Next::Go)
            }
        }
    }

    fn bdat(&mut self, args: &str) -> io::Result<Next> {
        self.drain()?;
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
            return Ok(Next::End);
        };
        if size > self.max_message {
            // Larger than any message taken: refused at once, and the
            // session ends, as its chunk is not worth reading.
            self.say(b"552 5.3.4 Error: message too big\r\n");
            return Ok(Next::End);
        }
        let refusal = if !self.chunking {
            Some(one(502, "5.5.1 Error: command not implemented"))
        } else if self.sender.is_none() {
            Some(one(503, "5.5.1 Error: need MAIL command"))
        } else if self.rcpts.is_empty() {
            Some(one(554, "5.5.1 Error: no valid recipients"))
        } else if let Some(Some(r)) = &self.bdat {
            Some(Reply { code: r.code, lines: r.lines.clone() })
        } else if self.spool.len().saturating_add(size) > self.max_message {
            Some(one(552, "5.3.4 Error: message too big"))
        } else {
            None
        };
        let keep = refusal.is_none();
        self.limit(self.st.config.smtp.min_data_rate);
        read_chunk(&mut self.c, size, &mut self.spool, keep)?;
        if let Some(r) = refusal {
            if self.sender.is_some() && !self.rcpts.is_empty() {
                // The transaction stays failed until its last chunk.
                self.bdat =
                    Some(Some(Reply { code: r.code, lines: r.lines.clone() }));
                self.spool.clear();
            }
            self.say(&r.wire());
            if last && self.bdat.is_some() {
                self.reset();
                self.up().command(b"RSET").inspect_err(|_| self.say(LOST))?;
            }
            return Ok(Next::Go);
        }
        if !last {
            self.bdat = Some(None);
            self.say(
                format!("250 2.0.0 {size} octets received\r\n").as_bytes(),
            );
            return Ok(Next::Go);
        }
        self.deliver()
    }

    /// The message is in the spool: scan it and send it on or refuse it.
    fn deliver(&mut self) -> io::Result<Next> {
        if self.spool.has_bare_line_ends()
            && self.st.config.smtp.bare_newline == BareNewline::Reject
        {
            self.st.log.log(
                Level::Warning,
                &format!(
                    "[{}] message with a bare CR or LF refused (bare_newline = reject)",
                    self.peer
                ),
            );
            self.reset();
            self.up().command(b"RSET").inspect_err(|_| self.say(LOST))?;
            self.say(b"550 5.5.2 nod32smtp: bare CR or LF in the message, refused\r\n");
            return Ok(Next::Go);
        }
        let env = self.envelope();
        let reply = self.message(env);
        self.reset();
        match reply {
            Ok(r) => {
                if !r.ok() {
                    // A refused DATA or BDAT chunk can leave the next
                    // hop's transaction open; the client's next MAIL
                    // must not meet "nested MAIL command".
                    if !self.up().command(b"RSET").is_ok_and(|r| r.ok()) {
                        // Its reply may still come: a later command
                        // would read it as its own.
                        self.up = None;
                    }
                }
                self.say(&r.wire());
                Ok(Next::Go)
            }
            Err(e) => {
                // The next hop went away with the message: the client
                // must not take silence for success.
                self.say(LOST);
                Err(e)
            }
        }
    }

    fn message(&mut self, env: Envelope) -> io::Result<Reply> {
        let st = Arc::clone(&self.st);
        let policy = policy_of(&st, &env);
        let size = self.spool.len();
        let out = {
            let _permit = self.sh.scans.acquire();
            let msg = if too_big(&policy, size) {
                None
            } else {
                match self.spool.read_all() {
                    Ok(m) => Some(m),
                    Err(e) => {
                        st.log.log(
                            Level::Error,
                            &format!("spool: {e}; answering 451"),
                        );
                        self.up().command(b"RSET")?;
                        return Ok(one(
                            451,
                            "4.3.0 nod32smtp: local error, try again later",
                        ));
                    }
                }
            };
            let body = match &msg {
                Some(m) => Body::Whole(m),
                None => Body::TooBig(size),
            };
            deliver(&st, &policy, &env, body)
        };
        self.sh.served.fetch_add(1, Ordering::Relaxed);
        let out = match out {
            Ok(out) => out,
            Err(fault) => {
                st.log.log(Level::Error, &format!("{fault}; answering 451"));
                self.up().command(b"RSET")?;
                return Ok(one(
                    451,
                    "4.3.0 nod32smtp: internal error, try again later",
                ));
            }
        };
        match smtp(out.decision.action, &out.why) {
            None => match &out.message {
                Some(changed) => self
                    .up
                    .as_mut()
                    .expect("next hop")
                    .message(&mut &changed[..]),
                None => {
                    let up = self.up.as_mut().expect("next hop");
                    let mut src = self.spool.reader()?;
                    up.message(&mut src)
                }
            },
            Some(r) => {
                self.up().command(b"RSET")?;
                Ok(one(r.code, &format!("{} {}", r.enhanced, r.text)))
            }
        }
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
                    self.pass(&verb, &line, args)?
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

/// A session counted in [`Shared::active`] until it is dropped, so that
/// a session that fails in any way still lets a stop go on.
pub struct Active(Arc<AtomicUsize>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
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
