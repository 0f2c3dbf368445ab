//! nod32smfi: the milter. The MTA (Postfix's smtpd_milters, Sendmail's
//! INPUT_MAIL_FILTER) connects on a unix socket or TCP, sends each
//! message's envelope, header and body, and at end of message gets the
//! verdict: continue (perhaps with header and body changes), discard,
//! hold, or a 550/451 reply naming the virus.
//!
//! Each connection has a thread of its own (from the daemon crate's
//! `Workers`) that talks the protocol and scans; a semaphore keeps scans
//! to one per core, so that many connections never mean many scans at
//! once. While a big message is scanned, a second small thread sends
//! "progress" packets so the MTA keeps waiting.
#![forbid(unsafe_code)]

mod cli;
pub mod edits;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use cli::Cli;
use nod32_agent::log::Level;
use nod32_agent::protocol::{MilterReply, milter};
use nod32_agent::{
    Body, Envelope, Live, Outcome, State, Which, deliver, policy_of, too_big,
};
use nod32_config::{Endpoint, OnError};
use nod32_daemon::{Accepted, Listener, PidFile, Sem, Workers};
use nod32_milter::codec::{self, Response};
use nod32_milter::session::action;
use nod32_milter::{Session, Step};

/// How often a progress packet goes out while a scan runs.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Messages up to this size are scanned on their connection's thread.
const INLINE_MAX: u64 = 1 << 20;

/// Connection threads: room for scanning deep archives inline.
const CONN_STACK: usize = 16 << 20;

/// A connection from the MTA, over either kind of socket.
enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Conn {
    fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.set_read_timeout(Some(t)),
            Conn::Tcp(s) => s.set_read_timeout(Some(t)),
        }
    }
}

// Reading and writing through `&Conn`: one descriptor per connection
// (a clone would double the descriptors thousands of connections need).
impl Read for &Conn {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match *self {
            Conn::Unix(s) => (&*s).read(b),
            Conn::Tcp(s) => {
                let n = (&*s).read(b)?;
                // The MTA sends packets we never answer (NR_*) in small
                // writes; with Nagle on its side, each waits for our ACK,
                // which Linux delays by up to 40 ms unless told not to
                // (and the setting wears off, so again after each read).
                let _ = socket2::SockRef::from(s).set_tcp_quickack(true);
                Ok(n)
            }
        }
    }
}

impl Write for &Conn {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match *self {
            Conn::Unix(s) => (&*s).write(b),
            Conn::Tcp(s) => (&*s).write(b),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match *self {
            Conn::Unix(s) => (&*s).flush(),
            Conn::Tcp(s) => (&*s).flush(),
        }
    }
}

/// The milter's listening socket: systemd's (socket activation), else
/// `smfi_sock_path`.
fn bind(st: &State) -> Result<Listener, nod32_daemon::SetupError> {
    if let Some(l) = Listener::inherited()? {
        return Ok(l);
    }
    let smfi = &st.config.smfi;
    match &smfi.smfi_sock_path {
        Endpoint::Unix(p) => {
            Listener::unix(p, smfi.smfi_sock_mode, &st.config.global.group)
        }
        Endpoint::Tcp(host, port) => Listener::tcp(host, *port),
    }
}

/// Waits up to `t` for a connection.
fn accept(l: &Listener, t: Duration) -> io::Result<Option<Conn>> {
    Ok(l.accept(t)?.map(|c| match c {
        Accepted::Unix(s) => Conn::Unix(s),
        Accepted::Tcp(s) => {
            let _ = socket2::SockRef::from(&s).set_tcp_quickack(true);
            Conn::Tcp(s)
        }
    }))
}

/// Connections being served, for max_connections and a clean stop.
#[derive(Default)]
struct Active {
    n: Mutex<usize>,
    cv: Condvar,
}

/// Uncounts a connection when it ends, however it ends (a panic
/// included), so that a stop never waits for a connection gone.
struct Leave<'a>(&'a Active);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        *self.0.n.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        self.0.cv.notify_all();
    }
}

struct Shared {
    live: Live,
    scans: Sem,
    active: Active,
    dry_run_flag: bool,
    served: AtomicUsize,
}

fn on_error(st: &State, why: &str) -> Vec<Response> {
    st.log.log(Level::Error, &format!("{why}; answering with on_error"));
    match st.config.smfi.on_error {
        OnError::Tempfail => vec![Response::ReplyCode(
            "451 4.3.0 nod32smfi: internal error, try again later".into(),
        )],
        OnError::Accept => vec![Response::Continue],
        OnError::Reject => vec![Response::ReplyCode(
            "550 5.7.1 nod32smfi: message could not be checked".into(),
        )],
    }
}

/// Scans the message on this thread (one scan per core at most,
/// whatever the number of connections) and answers; a big one has
/// progress packets sent to the MTA meanwhile.
fn end_of_message(
    sh: &Shared,
    s: &mut Session,
    w: &mut &Conn,
) -> io::Result<Vec<Response>> {
    let st = sh.live.get();
    if let Some(f) = s.msg.fault.clone() {
        return Ok(on_error(&st, &f));
    }
    let env = Envelope {
        sender: s.msg.sender.clone(),
        recipients: s.msg.recipients.clone(),
        queue_id: s.macro_value("i").unwrap_or_default().to_string(),
        client: match &s.client {
            (h, a) if h.is_empty() && a.is_empty() => String::new(),
            (h, a) => format!("{h}[{a}]"),
        },
        auth_user: s
            .macro_value("auth_authen")
            .unwrap_or_default()
            .to_string(),
    };
    let policy = policy_of(&st, &env);
    let size = s.msg.len();
    let raw = if too_big(&policy, size) {
        None
    } else {
        match s.assemble() {
            Ok(r) => Some(r),
            Err(e) => {
                return Ok(on_error(
                    &st,
                    &format!("reading the spooled body: {e}"),
                ));
            }
        }
    };
    let scan = || {
        let body = match &raw {
            Some(raw) => Body::Whole(raw),
            None => Body::TooBig(size),
        };
        let _permit = sh.scans.acquire();
        deliver(&st, &policy, &env, body).ok()
    };
    // A small message is scanned in well under the progress interval:
    // no second thread, no context switches.
    let out =
        if size <= INLINE_MAX { scan() } else { with_progress(w, scan)? };
    // The view borrows the session, which `finish` goes on with.
    drop(raw);
    finish(sh, &st, s, &env, out)
}

/// Runs `work` on this thread while a small one sends the MTA a
/// progress packet every [`PROGRESS_EVERY`] (also while `work` waits
/// for its turn to scan), so that the MTA's timeout does not end a long
/// scan.
fn with_progress<T>(w: &Conn, work: impl FnOnce() -> T) -> io::Result<T> {
    let (done, ticks) = mpsc::channel::<()>();
    std::thread::scope(|sc| {
        let ticker = std::thread::Builder::new()
            .name("progress".into())
            .stack_size(64 << 10)
            .spawn_scoped(sc, move || -> io::Result<()> {
                let mut w = w;
                loop {
                    match ticks.recv_timeout(PROGRESS_EVERY) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {
                            codec::write_all(&mut w, &[Response::Progress])?;
                        }
                        _ => return Ok(()),
                    }
                }
            })?;
        let out = work();
        drop(done);
        // A write that failed means the MTA has gone: its answer would
        // go nowhere either.
        ticker.join().unwrap_or(Ok(()))?;
        Ok(out)
    })
}

/// The answer to the MTA from a scan's outcome.
fn finish(
    sh: &Shared,
    st: &State,
    s: &Session,
    env: &Envelope,
    out: Option<Outcome>,
) -> io::Result<Vec<Response>> {
    let Some(out) = out else {
        return Ok(on_error(st, "the scan failed (internal error)"));
    };
    let action = out.decision.action;
    let held = out.held;
    let dry_run = sh.dry_run_flag || st.config.smfi.dry_run;
    let mut rs = Vec::new();
    if held && !dry_run {
        st.log.log(
            Level::Message,
            &format!(
                "queue_id={} held in the MTA's hold queue: {}",
                if env.queue_id.is_empty() { "-" } else { &env.queue_id },
                out.why
            ),
        );
        rs.push(Response::Quarantine(format!("nod32smfi: {}", out.why)));
    }
    {
        match milter(action, &out.why) {
            MilterReply::Continue => {
                if !out.edits.is_empty() {
                    let leadspc = s.protocol
                        & nod32_milter::session::proto::HDR_LEADSPC
                        != 0;
                    match edits::packets(&out.edits, leadspc, s.actions) {
                        Ok(e) => rs.extend(e),
                        // Without its cleaning the message still carries
                        // the virus: it must not pass.
                        Err(e) if !out.removed.is_empty() => {
                            return Ok(on_error(
                                st,
                                &format!("cannot clean: {e}"),
                            ));
                        }
                        Err(e) => st
                            .log
                            .log(Level::Warning, &format!("not marked: {e}")),
                    }
                }
                rs.push(Response::Continue);
            }
            MilterReply::Discard => rs.push(Response::Discard),
            MilterReply::Reply(text) => rs.push(Response::ReplyCode(text)),
        }
    }
    if dry_run {
        st.log.log(
            Level::Message,
            &format!(
                "dry run: queue_id={} would answer {}",
                if env.queue_id.is_empty() { "-" } else { &env.queue_id },
                describe(&rs)
            ),
        );
        return Ok(vec![Response::Continue]);
    }
    Ok(rs)
}

fn describe(rs: &[Response]) -> String {
    rs.iter()
        .map(|r| match r {
            Response::ReplyCode(t) => format!("\"{t}\""),
            Response::Quarantine(t) => format!("hold (\"{t}\")"),
            Response::Continue => "continue".into(),
            Response::Discard => "discard".into(),
            Response::ReplBody(_) => "replace-body".into(),
            Response::ChgHeader(_, n, v) if v.is_empty() => {
                format!("delete-header {n}")
            }
            Response::ChgHeader(_, n, _) => format!("change-header {n}"),
            Response::InsHeader(_, n, _) | Response::AddHeader(n, _) => {
                format!("add-header {n}")
            }
            r => format!("{:?}", r.code() as char),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A recipient under another policy than the message's first is refused
/// for now ("too many recipients"): the client sends it in a transaction
/// of its own (see `State::joins`).
fn recipient(sh: &Shared, s: &mut Session, rcpt: String) -> Response {
    let st = sh.live.get();
    match s.msg.recipients.first() {
        Some(first) if !st.joins(&s.msg.sender, first, &rcpt) => {
            Response::ReplyCode(
                "452 4.5.3 nod32smfi: filtered under another policy than the recipients before it; send it in a transaction of its own".into(),
            )
        }
        _ => {
            s.add_recipient(rcpt);
            Response::Continue
        }
    }
}

fn serve(sh: &Shared, conn: Conn) {
    let st = sh.live.get();
    let _ = conn.set_read_timeout(st.config.smfi.timeout);
    let opts = nod32_milter::Options {
        actions: action::ADDHDRS
            | action::CHGHDRS
            | action::CHGBODY
            | action::QUARANTINE,
        body_in_memory: usize::try_from(st.config.smfi.body_in_memory)
            .unwrap_or(usize::MAX),
        // With per-recipient policies, each recipient is checked as it
        // comes (one round trip more per recipient).
        judge_recipients: st.per_recipient(),
    };
    drop(st);
    let mut w = &conn;
    let mut r = io::BufReader::with_capacity(1 << 16, &conn);
    let mut s = Session::new(opts);
    let mut buf = Vec::new();
    loop {
        let code = match codec::read_packet(&mut r, &mut buf) {
            Ok(Some(c)) => c,
            Ok(None) => return,
            Err(e) => {
                let st = sh.live.get();
                let level = if e.kind() == io::ErrorKind::InvalidData {
                    Level::Warning
                } else {
                    Level::Detail
                };
                st.log.log(level, &format!("connection closed: {e}"));
                return;
            }
        };
        let cmd = match codec::parse(code, &buf) {
            Ok(c) => c,
            Err(e) => {
                sh.live.get().log.log(
                    Level::Warning,
                    &format!("{e} from the MTA; closing the connection"),
                );
                return;
            }
        };
        let res = match s.command(cmd) {
            Step::Reply(rs) => codec::write_all(&mut w, &rs),
            Step::Nothing => Ok(()),
            Step::Close => return,
            Step::Recipient(rcpt) => {
                let r = recipient(sh, &mut s, rcpt);
                codec::write_all(&mut w, &[r])
            }
            Step::EndOfMessage => {
                let rs = end_of_message(sh, &mut s, &mut w);
                s.end_message();
                sh.served.fetch_add(1, Ordering::Relaxed);
                rs.and_then(|rs| codec::write_all(&mut w, &rs))
            }
        };
        if res.is_err() {
            return;
        }
    }
}

pub fn run() {
    let a: Cli = nod32_daemon::parse_args(Which::Smfi);
    if a.check_config {
        nod32_daemon::check_config(Which::Smfi, &a.config, |st| {
            Ok(st.config.smfi.smfi_sock_path.to_string())
        });
    }
    nod32_daemon::background(Which::Smfi, a.daemon, a.pid_file.as_deref());
    if let Err(e) = start(&a) {
        eprintln!("nod32smfi: {e}");
        // As the man page says: the configuration, or the socket.
        std::process::exit(nod32_daemon::EXIT_CONFIG);
    }
}

fn start(a: &Cli) -> anyhow::Result<()> {
    let live = Live::start(&a.config, Which::Smfi, a.foreground)?;
    let st = live.get();
    let listener = bind(&st)?;
    let owner =
        nod32_daemon::resolve(&st.config.global.user, &st.config.global.group)
            .ok()
            .map(|(u, _)| u.uid);
    let _pid_file = PidFile::write(a.pid_file.as_deref(), owner)?;
    nod32_daemon::drop_privileges(
        &st.config.global.user,
        &st.config.global.group,
    )?;
    let term = nod32_daemon::stop_flag()?;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let max = st.config.smfi.max_connections as usize;
    // A connection takes a descriptor, and one more while its body is
    // spooled: raise the soft limit as far as the hard one allows.
    {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
            if soft < hard {
                let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
            }
            let have =
                getrlimit(Resource::RLIMIT_NOFILE).map_or(soft, |l| l.0);
            let need = 2 * max as u64 + 64;
            if have < need {
                st.log.log(
                    Level::Warning,
                    &format!(
                        "open files limited to {have}; max_connections = {max} needs about {need} (raise LimitNOFILE)"
                    ),
                );
            }
        }
    }
    st.log.log(
        Level::Summary,
        &format!(
            "listening on {}, {cores} scans at once{}; {}",
            listener.describe(),
            if a.dry_run || st.config.smfi.dry_run { ", dry run" } else { "" },
            nod32_agent::runtime::module_summary(&st)
        ),
    );
    if !st.config.smfi.agent_enabled {
        st.log.log(
            Level::Warning,
            "[smfi] agent_enabled = false: mail passes through unscanned",
        );
    }
    drop(st);
    let sh = Arc::new(Shared {
        live,
        scans: Sem::new(cores),
        active: Active::default(),
        dry_run_flag: a.dry_run,
        served: AtomicUsize::new(0),
    });
    let workers = {
        let sh = Arc::clone(&sh);
        Workers::new(CONN_STACK, move |c: Conn| {
            let _counted = Leave(&sh.active);
            serve(&sh, c);
        })
    };
    while !term.load(Ordering::SeqCst) {
        // A SIGHUP or a new module is taken (and logged) now, not at
        // the next connection.
        drop(sh.live.get());
        {
            // At the limit, wait for a connection to end.
            let mut n = sh.active.n.lock().unwrap_or_else(|p| p.into_inner());
            while *n >= max && !term.load(Ordering::SeqCst) {
                n = sh
                    .active
                    .cv
                    .wait_timeout(n, Duration::from_millis(500))
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
            }
        }
        let conn = match accept(&listener, Duration::from_millis(500)) {
            Ok(Some(c)) => c,
            Ok(None) => continue,
            Err(e) => {
                sh.live.get().log.log(Level::Warning, &format!("accept: {e}"));
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        *sh.active.n.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        if let Err(e) = workers.dispatch(conn) {
            *sh.active.n.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
            sh.live.get().log.log(
                Level::Error,
                &format!("cannot start a connection thread: {e}"),
            );
        }
    }
    workers.close();
    // Stop accepting; let the MTA finish the messages in flight.
    drop(listener);
    let st = sh.live.get();
    st.log.log(Level::Summary, "stopping: waiting for open connections");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut n = sh.active.n.lock().unwrap_or_else(|p| p.into_inner());
    while *n > 0 && std::time::Instant::now() < deadline {
        n = sh
            .active
            .cv
            .wait_timeout(n, Duration::from_millis(200))
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
    st.log.log(
        Level::Summary,
        &format!(
            "stopped after {} messages ({} connections still open)",
            sh.served.load(Ordering::Relaxed),
            *n
        ),
    );
    Ok(())
}
