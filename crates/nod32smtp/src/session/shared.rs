//! What every session of a listener shares: the configuration, TLS, the
//! scan semaphore, the pool of next-hop sessions, the counters.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nod32_agent::log::Level;
use nod32_agent::{Live, State};
use nod32_daemon::Sem;
use rustls::{ClientConfig, ServerConfig};

use super::Connect;
use super::upstream::Upstream;
use crate::Reply;
use crate::net::{self, Plain};

/// Next-hop sessions kept for reuse at most.
const SPARE_MAX: usize = 64;

/// What every session of one daemon shares.
pub struct Shared {
    /// The configuration and module, reloaded on SIGHUP.
    pub live: Live,
    pub(super) connect: Connect,
    pub(super) scans: Sem,
    pub(super) active: Arc<AtomicUsize>,
    pub(super) served: AtomicUsize,
    /// Next-hop sessions kept open between client sessions (after RSET),
    /// so a new client does not cost a new connection and greeting.
    pub(super) spare: Mutex<Vec<Upstream>>,
    /// The next hop's last EHLO reply: what clients are offered without
    /// a next-hop session of their own until a transaction needs one.
    pub(super) caps: Mutex<Option<(Arc<State>, Reply)>>,
    /// Next-hop sessions kept at most.
    pub(super) spare_max: usize,
    pub(super) tls: Mutex<Tls>,
}

/// The TLS set-ups of the configuration last seen; rebuilt after a
/// reload (a certificate renewed, then SIGHUP).
#[derive(Clone, Default)]
pub struct Tls {
    pub(super) of: Option<Arc<State>>,
    pub(super) offer: Option<Arc<ServerConfig>>,
    pub(super) next_hop: Option<Arc<ClientConfig>>,
}

impl Tls {
    /// The TLS set-ups `st` asks for.
    ///
    /// # Errors
    /// A certificate, key or CA file is unusable.
    pub fn build(st: &State) -> Result<Tls, net::TlsConfigError> {
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
    pub fn of(st: &Arc<State>) -> Result<Tls, net::TlsConfigError> {
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
    pub(super) fn tls(&self, st: &Arc<State>) -> Tls {
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

/// A session counted in [`Shared::active`] until it is dropped, so that
/// a session that fails in any way still lets a stop go on.
pub struct Active(Arc<AtomicUsize>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
