//! nod32smtp: a scanning SMTP proxy. An SMTP client (Postfix's
//! content_filter smtp client, an smtpd_proxy_filter smtpd, or a user's
//! mail program) talks to it as to an MTA; every command but DATA goes
//! to the next hop at once and its reply comes back, so each recipient
//! gets the next hop's own answer. The message itself is read whole,
//! scanned, and only then sent on: the client's 250 is the next hop's
//! 250 for the message, or nod32smtp's refusal (550 5.7.1 with the
//! virus's name), or, when anything goes wrong, 451 so the client keeps
//! the message and tries again.
#![forbid(unsafe_code)]

use std::io::{self, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nod32_agent::log::Level;
use nod32_agent::protocol::smtp;
use nod32_agent::service::{Sem, Workers};
use nod32_agent::{Envelope, Live, State, Which, handle};
use nod32smtp::{Reply, angle, one, read_line, read_message, read_reply};

const USAGE: &str = "usage: nod32smtp [-c FILE] [-f] [--check-config]

The NOD32 scanning SMTP proxy: listens on [smtp].listen_addr:listen_port,
relays each session to [smtp].server_addr:server_port and scans every
message before the next hop gets it.

  -c, --config FILE   configuration (default /etc/nod32/nod32.toml)
  -f, --foreground    log to stderr instead of syslog
  --check-config      check the configuration and exit
  -h, --help          this text
";

/// RFC 5321 §4.5.3.1.4 allows 512 octets for a command line; ESMTP
/// parameters make more common. Longer lines are refused, not read.
const MAX_COMMAND: usize = 4096;

/// How long a silent client or next hop is waited for (RFC 5321
/// §4.5.3.2 suggests 5 to 10 minutes).
const TIMEOUT: Duration = Duration::from_secs(600);

/// The largest message taken when the next hop announces no SIZE.
const DEFAULT_MAX_MESSAGE: u64 = 100 << 20;

/// Extensions passed on to the client when the next hop offers them.
const PASSED: &[&str] = &[
    "PIPELINING",
    "SIZE",
    "8BITMIME",
    "SMTPUTF8",
    "DSN",
    "ENHANCEDSTATUSCODES",
    "XFORWARD",
];

struct Shared {
    live: Live,
    scans: Sem,
    active: AtomicUsize,
    served: AtomicUsize,
    /// Next-hop sessions kept open between client sessions (after RSET),
    /// so a new client does not cost a new connection and greeting.
    spare: Mutex<Vec<Upstream>>,
}

/// The reply when the next hop goes away mid-session.
const LOST: &[u8] =
    b"421 4.4.2 nod32smtp: lost the next hop, try again later\r\n";

/// Next-hop sessions kept for reuse at most.
const SPARE_MAX: usize = 64;

/// The next hop.
struct Upstream {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Upstream {
    fn connect(host: &str, port: u16) -> io::Result<(Upstream, Reply)> {
        let s = TcpStream::connect((host, port))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(TIMEOUT))?;
        let mut u = Upstream { r: BufReader::new(s.try_clone()?), w: s };
        let greeting = read_reply(&mut u.r)?;
        Ok((u, greeting))
    }

    fn command(&mut self, line: &[u8]) -> io::Result<Reply> {
        let mut out = Vec::with_capacity(line.len() + 2);
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
        self.w.write_all(&out)?;
        read_reply(&mut self.r)
    }

    /// Sends a message with DATA, dot-stuffed, and returns the final
    /// reply (or the reply to DATA when it was not 354).
    fn data(&mut self, msg: &[u8]) -> io::Result<Reply> {
        let r = self.command(b"DATA")?;
        if r.code != 354 {
            return Ok(r);
        }
        let mut out = Vec::with_capacity(msg.len() + msg.len() / 50 + 8);
        let mut at_line_start = true;
        for line in msg.split_inclusive(|&b| b == b'\n') {
            if at_line_start && line.first() == Some(&b'.') {
                out.push(b'.');
            }
            // Every line leaves as CRLF.
            let body = line
                .strip_suffix(b"\n")
                .map_or(line, |l| l.strip_suffix(b"\r").unwrap_or(l));
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n");
            at_line_start = true;
            if out.len() > 1 << 20 {
                self.w.write_all(&out)?;
                out.clear();
            }
        }
        out.extend_from_slice(b".\r\n");
        self.w.write_all(&out)?;
        read_reply(&mut self.r)
    }
}

fn serve(sh: &Shared, client: TcpStream) -> io::Result<()> {
    let st = sh.live.get();
    let peer =
        client.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
    client.set_nodelay(true)?;
    client.set_read_timeout(Some(TIMEOUT))?;
    let mut w = client.try_clone()?;
    let mut r = BufReader::with_capacity(1 << 16, client);
    let cfg = &st.config.smtp;
    let (server, port) = (cfg.server_addr.clone(), cfg.server_port);
    let spare = sh.spare.lock().unwrap_or_else(|p| p.into_inner()).pop();
    // A kept session may have been closed by the next hop meanwhile: it
    // is proved before the client's first command.
    let mut reused = spare.is_some();
    let mut up = match spare {
        Some(u) => u,
        None => match Upstream::connect(&server, port) {
            Ok((u, greeting)) if greeting.ok() => u,
            Ok((_, greeting)) => {
                w.write_all(&greeting.wire())?;
                return Ok(());
            }
            Err(e) => {
                st.log.log(
                    Level::Error,
                    &format!("next hop {server}:{port} unavailable: {e}"),
                );
                w.write_all(b"421 4.3.0 nod32smtp: next hop unavailable, try again later\r\n")?;
                return Ok(());
            }
        },
    };
    w.write_all(format!("220 {} ESMTP nod32smtp\r\n", st.host).as_bytes())?;
    drop(st);
    let mut max_message = DEFAULT_MAX_MESSAGE;
    let mut sender: Option<String> = None;
    let mut rcpts: Vec<String> = Vec::new();
    let (mut xaddr, mut xname, mut xident) =
        (String::new(), String::new(), String::new());
    loop {
        let line = match read_line(&mut r, MAX_COMMAND)? {
            None => return Ok(()),
            Some(Err(())) => {
                w.write_all(b"500 5.5.2 Error: line too long\r\n")?;
                continue;
            }
            Some(Ok(l)) => l,
        };
        let text = String::from_utf8_lossy(&line).into_owned();
        let verb =
            text.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
        if reused {
            reused = false;
            // NOOP costs one round trip and proves the kept session.
            if !up.command(b"NOOP").is_ok_and(|r| r.ok()) {
                match Upstream::connect(&server, port) {
                    Ok((u, g)) if g.ok() => up = u,
                    _ => {
                        w.write_all(b"421 4.3.0 nod32smtp: next hop unavailable, try again later\r\n")?;
                        return Ok(());
                    }
                }
            }
        }
        let reply = match verb.as_str() {
            "EHLO" => {
                let r = relay(&mut up, &line, &mut w)?;
                if r.ok() {
                    let mut lines =
                        vec![r.lines.first().cloned().unwrap_or_default()];
                    for l in r.lines.iter().skip(1) {
                        let kw = l
                            .split_whitespace()
                            .next()
                            .unwrap_or("")
                            .to_ascii_uppercase();
                        if PASSED.contains(&kw.as_str()) {
                            if kw == "SIZE"
                                && let Some(n) = l
                                    .split_whitespace()
                                    .nth(1)
                                    .and_then(|n| n.parse().ok())
                                && n > 0
                            {
                                max_message = n;
                            }
                            lines.push(l.clone());
                        }
                    }
                    Reply { code: r.code, lines }
                } else {
                    r
                }
            }
            "HELO" | "RSET" | "XFORWARD" => {
                let r = relay(&mut up, &line, &mut w)?;
                if verb == "XFORWARD" && r.ok() {
                    // Postfix's content filter client says who the
                    // client was and the queue id the mail had.
                    for attr in text.split_whitespace().skip(1) {
                        match attr.split_once('=') {
                            Some(("ADDR", v)) => xaddr = v.to_string(),
                            Some(("NAME", v)) => xname = v.to_string(),
                            Some(("IDENT", v)) => xident = v.to_string(),
                            _ => {}
                        }
                    }
                }
                if verb == "RSET" {
                    sender = None;
                    rcpts.clear();
                }
                r
            }
            "MAIL" => {
                let r = relay(&mut up, &line, &mut w)?;
                if r.ok() {
                    sender = Some(angle(&text["MAIL".len()..]));
                    rcpts.clear();
                }
                r
            }
            "RCPT" => {
                let r = relay(&mut up, &line, &mut w)?;
                if r.ok() {
                    rcpts.push(angle(&text["RCPT".len()..]));
                }
                r
            }
            "DATA" => {
                if sender.is_none() {
                    one(503, "5.5.1 Error: need MAIL command")
                } else if rcpts.is_empty() {
                    one(554, "5.5.1 Error: no valid recipients")
                } else {
                    w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")?;
                    let reply = match read_message(&mut r, max_message)? {
                        Ok(msg) => message(
                            sh,
                            &mut up,
                            &msg,
                            Envelope {
                                sender: sender.clone().unwrap_or_default(),
                                recipients: rcpts.clone(),
                                client: if xaddr.is_empty() {
                                    format!("[{peer}]")
                                } else {
                                    format!("{xname}[{xaddr}]")
                                },
                                queue_id: xident.clone(),
                                ..Envelope::default()
                            },
                        )
                        // The next hop went away with the message: the
                        // client must not take silence for success.
                        .inspect_err(|_| {
                            let _ = w.write_all(LOST);
                        })?,
                        Err(()) => {
                            up.command(b"RSET")?;
                            one(552, "5.3.4 Error: message too big")
                        }
                    };
                    sender = None;
                    rcpts.clear();
                    reply
                }
            }
            "NOOP" => one(250, "2.0.0 Ok"),
            "QUIT" => {
                w.write_all(b"221 2.0.0 Bye\r\n")?;
                // Keep the next-hop session for the next client.
                if up.command(b"RSET").is_ok_and(|r| r.ok()) {
                    let mut spare =
                        sh.spare.lock().unwrap_or_else(|p| p.into_inner());
                    if spare.len() < SPARE_MAX {
                        spare.push(up);
                        return Ok(());
                    }
                }
                let _ = up.command(b"QUIT");
                return Ok(());
            }
            "VRFY" | "EXPN" | "BDAT" | "STARTTLS" | "AUTH" | "ETRN" => {
                one(502, "5.5.1 Error: command not implemented")
            }
            _ => one(500, "5.5.2 Error: command not recognized"),
        };
        w.write_all(&reply.wire())?;
    }
}

/// A command to the next hop; when the next hop is gone, the client is
/// told so (421) before the session ends.
fn relay(
    up: &mut Upstream,
    line: &[u8],
    w: &mut TcpStream,
) -> io::Result<Reply> {
    up.command(line).inspect_err(|_| {
        let _ = w.write_all(
            b"421 4.4.2 nod32smtp: lost the next hop, try again later\r\n",
        );
    })
}

/// Scans a message and sends it on or refuses it; the reply for the
/// client.
fn message(
    sh: &Shared,
    up: &mut Upstream,
    msg: &[u8],
    env: Envelope,
) -> io::Result<Reply> {
    let st = sh.live.get();
    let policy = match env.recipients.first() {
        Some(r) => st.policy_for(r, &env.sender),
        None => st.policy().clone(),
    };
    let out = {
        let _permit = sh.scans.acquire();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if msg.len() as u64 > policy.max_file_size {
                nod32_agent::handle::handle_oversize(
                    &st,
                    &policy,
                    msg.len() as u64,
                    &env,
                )
            } else {
                handle(&st, &policy, msg, &env)
            }
        }))
    };
    sh.served.fetch_add(1, Ordering::Relaxed);
    let Ok(out) = out else {
        st.log.log(
            Level::Error,
            "the scan failed (internal error); answering 451",
        );
        up.command(b"RSET")?;
        return Ok(one(
            451,
            "4.3.0 nod32smtp: internal error, try again later",
        ));
    };
    match smtp(out.decision.action, &out.why) {
        None => up.data(out.message.as_deref().unwrap_or(msg)),
        Some(r) => {
            up.command(b"RSET")?;
            Ok(one(r.code, &format!("{} {}", r.enhanced, r.text)))
        }
    }
}

struct Args {
    config: PathBuf,
    foreground: bool,
    check: bool,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        config: nod32_config::DEFAULT_PATH.into(),
        foreground: false,
        check: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        match x.as_str() {
            "-c" | "--config" => {
                a.config = it.next().ok_or("-c needs a file")?.into()
            }
            "-f" | "--foreground" => a.foreground = true,
            "--check-config" => a.check = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            o => return Err(format!("unknown option {o}\n{USAGE}")),
        }
    }
    Ok(a)
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("nod32smtp: {e}");
            std::process::exit(2);
        }
    };
    if a.check {
        match State::load(&a.config, Which::Smtp, true) {
            Ok(st) => {
                println!(
                    "nod32smtp: configuration OK: {} (listening on {}:{}, next hop {}:{})",
                    a.config.display(),
                    st.config.smtp.listen_addr,
                    st.config.smtp.listen_port,
                    st.config.smtp.server_addr,
                    st.config.smtp.server_port
                );
                return;
            }
            Err(e) => {
                eprintln!("nod32smtp: {e}");
                std::process::exit(10);
            }
        }
    }
    if let Err(e) = run(&a) {
        eprintln!("nod32smtp: {e}");
        std::process::exit(1);
    }
}

fn run(a: &Args) -> Result<(), String> {
    let live = Live::start(&a.config, Which::Smtp, a.foreground)?;
    let st = live.get();
    let (addr, port) =
        (st.config.smtp.listen_addr.clone(), st.config.smtp.listen_port);
    let listener = TcpListener::bind((addr.as_str(), port))
        .map_err(|e| format!("cannot listen on {addr}:{port}: {e}"))?;
    nod32_agent::runtime::drop_privileges(
        &st.config.global.user,
        &st.config.global.group,
    )?;
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&term))
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    st.log.log(
        Level::Summary,
        &format!(
            "listening on {addr}:{port}, next hop {}:{}",
            st.config.smtp.server_addr, st.config.smtp.server_port
        ),
    );
    drop(st);
    let sh = Arc::new(Shared {
        spare: Mutex::new(Vec::new()),
        live,
        scans: Sem::new(cores),
        active: AtomicUsize::new(0),
        served: AtomicUsize::new(0),
    });
    // Sessions with room for scanning deep archives inline.
    let workers = {
        let sh = Arc::clone(&sh);
        Workers::new(16 << 20, move |c: TcpStream| {
            if let Err(e) = serve(&sh, c) {
                sh.live
                    .get()
                    .log
                    .log(Level::Detail, &format!("session ended: {e}"));
            }
            sh.active.fetch_sub(1, Ordering::SeqCst);
        })
    };
    while !term.load(Ordering::SeqCst) {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(500u16)) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Ok(_) => {}
            Err(e) => return Err(format!("poll: {e}")),
        }
        let Ok((conn, _)) = listener.accept() else { continue };
        sh.active.fetch_add(1, Ordering::SeqCst);
        if workers.dispatch(conn).is_err() {
            sh.active.fetch_sub(1, Ordering::SeqCst);
        }
    }
    workers.close();
    drop(listener);
    // Let transactions in flight finish.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while sh.active.load(Ordering::SeqCst) > 0
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    sh.live.get().log.log(
        Level::Summary,
        &format!(
            "stopped after {} messages",
            sh.served.load(Ordering::Relaxed)
        ),
    );
    Ok(())
}
