//! The connection to the next hop: opened, written, read, and put in
//! TLS after its 220 to STARTTLS. What is said on it is the
//! conversation's.

use std::io::{self, BufReader, Write};
use std::sync::Arc;
use std::time::Duration;

use nod32_agent::State;
use rustls::ClientConfig;

use super::Shared;
use crate::net::Stream;
use crate::{Reply, read_reply};

/// A next-hop connection.
pub(super) struct Upstream {
    r: BufReader<Stream>,
}

impl Upstream {
    /// A new connection, and the next hop's greeting on it.
    pub(super) fn connect(
        sh: &Shared,
        st: &State,
        timeout: Duration,
    ) -> io::Result<(Upstream, Reply)> {
        let mut p = (sh.connect)(st)?;
        p.set_timeout(timeout)?;
        let mut u = Upstream {
            r: BufReader::with_capacity(1 << 16, Stream::Plain(p)),
        };
        let greeting = read_reply(&mut u.r)?;
        Ok((u, greeting))
    }

    pub(super) fn write(&mut self, b: &[u8]) -> io::Result<()> {
        let s = self.r.get_mut();
        s.write_all(b)?;
        s.flush()
    }

    pub(super) fn reply(&mut self) -> io::Result<Reply> {
        read_reply(&mut self.r)
    }

    /// The handshake after the next hop's 220 to STARTTLS; the session
    /// to go on with.
    pub(super) fn starttls(
        self,
        cfg: &Arc<ClientConfig>,
        name: &str,
    ) -> io::Result<Upstream> {
        let plain = self.r.into_inner().into_plain()?;
        let s = Stream::connect(plain, cfg, name)?;
        Ok(Upstream { r: BufReader::with_capacity(1 << 16, s) })
    }

    /// The protocol and cipher suite, when in TLS.
    pub(super) fn tls(&self) -> Option<String> {
        self.r.get_ref().tls()
    }

    pub(super) fn in_tls(&self) -> bool {
        matches!(self.r.get_ref(), Stream::Client(_))
    }

    /// Whether a kept session is still usable: the next hop has said
    /// nothing since (one that timed out has a 421 waiting, or has
    /// closed).
    pub(super) fn quiet(&self) -> bool {
        self.r.buffer().is_empty() && self.r.get_ref().quiet()
    }
}
