//! The service around the sessions: configuration, listeners, the
//! worker pool, signals and reload.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::cli::Cli;
use crate::net::Plain;
use crate::session::{Shared, Tls, serve};
use nod32_agent::log::Level;
use nod32_agent::{Live, State, Which};
use nod32_config::Endpoint;
use nod32_daemon::{Accepted, Listener, PidFile, Workers};

fn endpoints(st: &State) -> String {
    let s = &st.config.smtp;
    let listen = match s.listen() {
        Endpoint::Unix(p) => p.display().to_string(),
        Endpoint::Tcp(h, p) => format!("{h}:{p}"),
    };
    format!("{listen}, next hop {}:{}", s.server_addr, s.server_port)
}

pub fn run() {
    let a: Cli = nod32_daemon::parse_args(Which::Smtp);
    if a.check_config {
        nod32_daemon::check_config(Which::Smtp, &a.config, |st| {
            Tls::build(st).map(|_| endpoints(st)).map_err(Into::into)
        });
    }
    nod32_daemon::background(Which::Smtp, a.daemon, a.pid_file.as_deref());
    if let Err(e) = start(&a) {
        eprintln!("nod32smtp: {e}");
        // As the man page says: the configuration, or the socket.
        std::process::exit(nod32_daemon::EXIT_CONFIG);
    }
}

fn start(a: &Cli) -> anyhow::Result<()> {
    let live = Live::start(&a.config, Which::Smtp, a.foreground)?;
    let st = live.get();
    // Keys are read while still root; a reload re-reads them as the
    // service user, so they should be readable by its group.
    let tls = Tls::of(&st)?;
    let s = &st.config.smtp;
    let listener = match Listener::inherited()? {
        Some(l) => l,
        None => match s.listen() {
            Endpoint::Unix(p) => Listener::unix(
                &p,
                s.listen_sock_mode,
                &st.config.global.group,
            )?,
            Endpoint::Tcp(h, p) => Listener::tcp(&h, p)?,
        },
    };
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
    st.log.log(
        Level::Summary,
        &format!(
            "listening on {}, next hop {}:{}{}; {}",
            listener.describe(),
            s.server_addr,
            s.server_port,
            if tls.offered() { ", STARTTLS offered" } else { "" },
            nod32_agent::runtime::module_summary(&st)
        ),
    );
    if !st.config.smtp.agent_enabled {
        st.log.log(
            Level::Warning,
            "[smtp] agent_enabled = false: mail passes through unscanned",
        );
    }
    drop(st);
    let sh = Arc::new(Shared::new(live, cores, tls, Shared::tcp_next_hop()));
    // Sessions with room for scanning deep archives inline.
    let workers = {
        let sh = Arc::clone(&sh);
        Workers::new(16 << 20, move |(c, active): (Plain, _)| {
            let _active = active;
            if let Err(e) = serve(&sh, c) {
                sh.live
                    .get()
                    .log
                    .log(Level::Detail, &format!("session ended: {e}"));
            }
        })
    };
    while !term.load(Ordering::SeqCst) {
        // A SIGHUP or a new module is taken (and logged) now, not at
        // the next connection.
        drop(sh.live.get());
        let mut conn = match listener.accept(Duration::from_millis(500)) {
            Ok(Some(Accepted::Tcp(s))) => Plain::tcp(s),
            Ok(Some(Accepted::Unix(s))) => Plain::unix(s),
            Ok(None) | Err(_) => continue,
        };
        let max = sh.live.get().config.smtp.max_connections as usize;
        if sh.active() >= max {
            // Told at once, without a thread: the client tries later or
            // another MX. A fresh socket's buffer takes the line.
            let _ = conn.set_timeout(Duration::from_secs(1));
            let _ = std::io::Write::write_all(
                &mut conn,
                b"421 4.3.2 nod32smtp: too many connections, try again later\r\n",
            );
            continue;
        }
        // A connection that finds no thread is dropped with its count.
        let _ = workers.dispatch((conn, sh.enter()));
    }
    workers.close();
    drop(listener);
    // Let transactions in flight finish.
    nod32_daemon::drain(|| sh.active(), Duration::from_secs(60));
    sh.live.get().log.log(
        Level::Summary,
        &format!("stopped after {} messages", sh.served()),
    );
    Ok(())
}
