//! The I/O around a [`Conversation`]: the client's socket (and its TLS),
//! the next hop's, the spool, the pool of kept next-hop sessions and the
//! scan. It does what each step says, in order, then waits for what the
//! step asks and hands the outcome back; what a step does not say, it
//! does not do.

use std::io::{self, BufReader, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use nod32_agent::log::Level;
use nod32_agent::protocol::smtp;
use nod32_agent::{Body, Envelope, State, deliver, policy_of, too_big};

use super::conversation::{
    Action, Conversation, Ending, Event, Joins, MAX_COMMAND, Opened, Options,
    Request, Spooled, Step, Verdict,
};
use super::upstream::Upstream;
use super::{Shared, Tls};
use crate::net::{Plain, Stream};
use crate::{Spool, read_chunk, read_line, read_message};

/// Serves one client until it quits or goes.
///
/// # Errors
/// The client or the next hop failed mid-session (the client has been
/// told, 421, if it still listens).
pub fn serve(sh: &Shared, mut client: Plain) -> io::Result<()> {
    let st = sh.live.get();
    let c = &st.config.smtp;
    client.set_timeout(c.timeout)?;
    let peer = client.peer();
    // A TCP client whose address cannot be read is not authorized.
    let xforward_ok = client.is_unix()
        || client
            .peer_ip()
            .is_some_and(|ip| c.xforward_hosts.iter().any(|n| n.contains(ip)));
    let tls = sh.tls(&st);
    let joins = st.per_recipient().then(|| {
        let st = Arc::clone(&st);
        Box::new(move |sender: &str, first: &str, rcpt: &str| {
            st.joins(sender, first, rcpt)
        }) as Joins
    });
    let o = Options {
        host: st.host.clone(),
        peer: peer.clone(),
        next_hop: format!("{}:{}", c.server_addr, c.server_port),
        xforward_ok,
        offer_tls: tls.offer.is_some(),
        hop_tls: tls.next_hop.as_ref().map(|_| c.server_tls),
        bare_newline: c.bare_newline,
        joins,
    };
    let mut d = Driver {
        sh,
        peer,
        c: BufReader::with_capacity(1 << 16, Stream::Plain(client)),
        up: None,
        spool: Spool::new(c.body_in_memory).watching_line_ends(),
        changed: None,
        sent: 0,
        error: None,
        tls,
        st: Arc::clone(&st),
    };
    d.run(Conversation::new(o))
}

struct Driver<'a> {
    sh: &'a Shared,
    peer: String,
    st: Arc<State>,
    tls: Tls,
    c: BufReader<Stream>,
    up: Option<Upstream>,
    spool: Spool,
    /// The message as the outcome changed it, sent instead of the
    /// spool's.
    changed: Option<Vec<u8>>,
    /// Of the message being sent, the bytes handed out.
    sent: u64,
    /// The last failure, the session's error if it ends on it.
    error: Option<io::Error>,
}

impl Driver<'_> {
    fn run(&mut self, mut conv: Conversation) -> io::Result<()> {
        let mut step = conv.start();
        // Whether the conversation was told that no line is waiting
        // since it last asked for one.
        let mut told_idle = false;
        let mut piece = vec![0u8; 1 << 16];
        loop {
            let line;
            let ev = match self.act(step) {
                Err(failed) => failed,
                Ok(Request::End(e)) => return self.end(e),
                Ok(Request::Command) => {
                    if !told_idle && !self.c.buffer().contains(&b'\n') {
                        told_idle = true;
                        Event::Idle
                    } else {
                        told_idle = false;
                        // A command arrives whole within `timeout`,
                        // however slowly its bytes trickle in.
                        self.limit(0);
                        match read_line(&mut self.c, MAX_COMMAND) {
                            Ok(None) => Event::ClientClosed,
                            Ok(Some(Err(()))) => Event::LineTooLong,
                            Ok(Some(Ok(l))) => {
                                line = l;
                                Event::Line(&line)
                            }
                            Err(e) => self.client_failed(e, false),
                        }
                    }
                }
                Ok(Request::Piece) => match self.piece(&mut piece) {
                    Ok(n) => Event::Piece(&piece[..n]),
                    Err(e) => self.hop_failed(e),
                },
                Ok(Request::Message { max }) => self.message(max),
                Ok(Request::Chunk { size, keep }) => self.chunk(size, keep),
                Ok(Request::Reply) => {
                    let r = match &mut self.up {
                        Some(u) => u.reply(),
                        None => Err(io::ErrorKind::NotConnected.into()),
                    };
                    match r {
                        Ok(r) => Event::Reply(r),
                        Err(e) => self.hop_failed(e),
                    }
                }
                Ok(Request::OpenHop { reuse }) => self.open(reuse),
                Ok(Request::HopTls) => self.hop_tls(),
                Ok(Request::ClientTls) => self.client_tls(),
                Ok(Request::Caps) => Event::Caps(
                    self.sh
                        .caps
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .as_ref()
                        .filter(|(of, _)| Arc::ptr_eq(of, &self.st))
                        .map(|(_, r)| r.clone()),
                ),
                Ok(Request::Scan(env)) => Event::Scanned(self.scan(&env)),
                Ok(Request::Keep) => Event::Kept(self.keep()),
            };
            step = conv.on(ev);
        }
    }

    /// Does a step's actions; its request, or the failure that cut it
    /// short.
    fn act(&mut self, step: Step) -> Result<Request, Event<'static>> {
        for a in step.actions {
            match a {
                Action::Client(b) => {
                    let s = self.c.get_mut();
                    if let Err(e) = s.write_all(&b).and_then(|()| s.flush()) {
                        return Err(self.client_failed(e, true));
                    }
                }
                Action::Hop(b) => {
                    let r = match &mut self.up {
                        Some(u) => u.write(&b),
                        None => Err(io::ErrorKind::NotConnected.into()),
                    };
                    if let Err(e) = r {
                        return Err(self.hop_failed(e));
                    }
                }
                Action::CloseHop => self.up = None,
                Action::ClearSpool => {
                    self.spool.clear();
                    self.changed = None;
                }
                Action::RememberCaps(r) => {
                    *self.sh.caps.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some((Arc::clone(&self.st), r));
                }
                Action::ForgetCaps => {
                    *self.sh.caps.lock().unwrap_or_else(|p| p.into_inner()) =
                        None;
                }
                Action::Log(level, text) => self.st.log.log(level, &text),
            }
        }
        Ok(step.then)
    }

    /// The message after 354, up to `max` bytes.
    fn message(&mut self, max: u64) -> Event<'static> {
        self.limit(self.st.config.smtp.min_data_rate);
        match read_message(&mut self.c, max, &mut self.spool) {
            Ok(Ok(())) => Event::Message(Some(self.spooled())),
            Ok(Err(())) => Event::Message(None),
            Err(e) => self.client_failed(e, false),
        }
    }

    fn chunk(&mut self, size: u64, keep: bool) -> Event<'static> {
        self.limit(self.st.config.smtp.min_data_rate);
        match read_chunk(&mut self.c, size, &mut self.spool, keep) {
            Ok(()) => Event::Chunk(self.spooled()),
            Err(e) => self.client_failed(e, false),
        }
    }

    fn spooled(&self) -> Spooled {
        Spooled {
            len: self.spool.len(),
            bare_line_ends: self.spool.has_bare_line_ends(),
        }
    }

    /// `writing`: the failure is a write's, of the step's actions.
    fn client_failed(
        &mut self,
        e: io::Error,
        writing: bool,
    ) -> Event<'static> {
        let timed_out = matches!(
            e.kind(),
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
        );
        self.error = Some(e);
        Event::ClientFailed { timed_out, writing }
    }

    fn hop_failed(&mut self, e: io::Error) -> Event<'static> {
        let why = e.to_string();
        self.error = Some(e);
        Event::HopFailed(why)
    }

    fn end(&mut self, e: Ending) -> io::Result<()> {
        match e {
            Ending::Done => Ok(()),
            Ending::Failed { words, error } => {
                // Whatever the failure, the client hears of it (421) if
                // it still listens.
                let _ = self.c.get_mut().write_all(&words);
                Err(match error {
                    Some(e) => io::Error::new(io::ErrorKind::InvalidData, e),
                    None => self.error.take().unwrap_or_else(|| {
                        io::Error::other("the session failed")
                    }),
                })
            }
        }
    }

    /// What the client sends next must arrive within `timeout`, moved on
    /// by 1/`rate` s for each byte (0: not moved).
    fn limit(&mut self, rate: u64) {
        let t = self.st.config.smtp.timeout;
        let at = Instant::now().checked_add(t);
        self.c.get_mut().set_deadline(at, rate);
    }

    fn open(&mut self, reuse: bool) -> Event<'static> {
        if reuse {
            let spare = {
                let mut kept =
                    self.sh.spare.lock().unwrap_or_else(|p| p.into_inner());
                std::iter::from_fn(|| kept.pop()).find(Upstream::quiet)
            };
            if let Some(u) = spare {
                let tls = u.in_tls();
                self.up = Some(u);
                return Event::HopOpened(Opened::Kept { tls });
            }
        }
        let timeout = self.st.config.smtp.timeout;
        match Upstream::connect(self.sh, &self.st, timeout) {
            Ok((u, greeting)) => {
                self.up = Some(u);
                Event::HopOpened(Opened::New(greeting))
            }
            Err(e) => Event::HopUnavailable(e.to_string()),
        }
    }

    fn hop_tls(&mut self) -> Event<'static> {
        let (Some(up), Some(cfg)) =
            (self.up.take(), self.tls.next_hop.clone())
        else {
            return Event::HopTlsFailed("no next-hop session in clear".into());
        };
        let name = &self.st.config.smtp.server_tls_name;
        match up.starttls(&cfg, name) {
            Ok(u) => {
                let t = u.tls();
                self.up = Some(u);
                Event::HopTls(t)
            }
            Err(e) => Event::HopTlsFailed(e.to_string()),
        }
    }

    fn client_tls(&mut self) -> Event<'static> {
        let Some(cfg) = self.tls.offer.clone() else {
            return self
                .client_failed(io::Error::other("no TLS offered"), false);
        };
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
        let s = c
            .into_inner()
            .into_plain()
            .and_then(|plain| Stream::accept(plain, &cfg));
        match s {
            Ok(s) => {
                let t = s.tls();
                self.c = BufReader::with_capacity(1 << 16, s);
                Event::ClientTls(t)
            }
            Err(e) => self.client_failed(e, false),
        }
    }

    /// Scans the spooled message under the scan semaphore.
    fn scan(&mut self, env: &Envelope) -> Verdict {
        let st = Arc::clone(&self.st);
        let policy = policy_of(&st, env);
        let size = self.spool.len();
        self.changed = None;
        self.sent = 0;
        let (out, msg) = {
            let _permit = self.sh.scans.acquire();
            let msg = if too_big(&policy, size) {
                None
            } else {
                match self.spool.view() {
                    Ok(m) => Some(m),
                    Err(e) => return Verdict::Unreadable(e.to_string()),
                }
            };
            let body = match &msg {
                Some(m) => Body::Whole(m),
                None => Body::TooBig(size),
            };
            (deliver(&st, &policy, env, body), msg)
        };
        self.sh.served.fetch_add(1, Ordering::Relaxed);
        let out = match out {
            Ok(out) => out,
            Err(fault) => return Verdict::Fault(fault.to_string()),
        };
        match smtp(out.decision.action, &out.why) {
            None => {
                self.changed = msg.and_then(|m| out.changed(&m));
                Verdict::Send
            }
            Some(r) => Verdict::Answer(r),
        }
    }

    /// The next piece of the message being sent, into `buf`; 0 at its
    /// end.
    fn piece(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &self.changed {
            Some(m) => {
                let rest = m.get(self.sent as usize..).unwrap_or_default();
                let n = rest.len().min(buf.len());
                buf[..n].copy_from_slice(&rest[..n]);
                n
            }
            None => self.spool.read_at(self.sent, buf)?,
        };
        self.sent += n as u64;
        if n == 0 {
            self.changed = None;
            self.sent = 0;
        }
        Ok(n)
    }

    /// The next-hop session, just RSET, goes to the pool when there is
    /// room.
    fn keep(&mut self) -> bool {
        let Some(up) = self.up.take() else { return false };
        let mut spare =
            self.sh.spare.lock().unwrap_or_else(|p| p.into_inner());
        if spare.len() < self.sh.spare_max {
            spare.push(up);
            return true;
        }
        drop(spare);
        self.up = Some(up);
        false
    }
}
