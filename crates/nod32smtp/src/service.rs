//! The service around the sessions: configuration, listeners, the
//! worker pool, signals and reload.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::cli::Cli;
use crate::net::Plain;
use crate::session::{Shared, Tls, serve};
use clap::Parser;
use nod32_agent::log::Level;
use nod32_agent::service::{Accepted, Listener, Workers};
use nod32_agent::{Live, State, Which};
use nod32_config::Endpoint;

fn endpoints(st: &State) -> String {
    let s = &st.config.smtp;
    let listen = match s.listen() {
        Endpoint::Unix(p) => p.display().to_string(),
        Endpoint::Tcp(h, p) => format!("{h}:{p}"),
    };
    format!("{listen}, next hop {}:{}", s.server_addr, s.server_port)
}

pub fn run() {
    let a = match Cli::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            if e.kind() == clap::error::ErrorKind::DisplayVersion {
                nod32_agent::runtime::print_module_version(
                    nod32_agent::Which::Smtp,
                    &std::env::args_os().skip(1).collect::<Vec<_>>(),
                );
            }
            std::process::exit(if e.use_stderr() { 2 } else { 0 });
        }
    };
    if a.check_config {
        match State::load(&a.config, Which::Smtp, true)
            .and_then(|st| Tls::build(&st).map(|_| st))
        {
            Ok(st) => {
                println!(
                    "nod32smtp: configuration OK: {} (listening on {})",
                    a.config.display(),
                    endpoints(&st)
                );
                return;
            }
            Err(e) => {
                eprintln!("nod32smtp: {e}");
                std::process::exit(10);
            }
        }
    }
    if a.daemon
        && let Some(pid_file) = &a.pid_file
        && let Some(status) = nod32_agent::service::detach(pid_file)
    {
        if status != 0 {
            eprintln!("nod32smtp: not started");
        }
        std::process::exit(status);
    }
    if let Err(e) = start(&a) {
        eprintln!("nod32smtp: {e}");
        // As the man page says: the configuration, or the socket.
        std::process::exit(10);
    }
}

fn start(a: &Cli) -> Result<(), String> {
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
    let owner = nod32_agent::runtime::resolve(
        &st.config.global.user,
        &st.config.global.group,
    )
    .ok()
    .map(|(u, _)| u.uid);
    let _pid_file =
        nod32_agent::service::PidFile::write(a.pid_file.as_deref(), owner)?;
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
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while sh.active() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    sh.live.get().log.log(
        Level::Summary,
        &format!("stopped after {} messages", sh.served()),
    );
    Ok(())
}
