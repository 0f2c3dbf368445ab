//! The two connections of a proxied session as one byte stream each,
//! whether TCP, a unix socket, or either after STARTTLS, and the TLS
//! set-ups built from `[smtp]`.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nod32_config::ServerTls;
use rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, ClientConnection, DigitallySignedStruct, ServerConfig,
    ServerConnection, SignatureScheme, StreamOwned,
};

/// A connection before any TLS, with the time limits a client's reads
/// are held to.
#[derive(Debug)]
pub struct Plain {
    sock: Sock,
    /// The limit on one read or write (`timeout`).
    idle: Duration,
    /// The read timeout set on the socket now.
    set: Duration,
    /// When the reads under way must be done.
    deadline: Option<Instant>,
    /// Bytes a second that move the deadline on (`min_data_rate`).
    rate: u64,
}

#[derive(Debug)]
enum Sock {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Plain {
    /// A TCP connection.
    pub fn tcp(s: TcpStream) -> Plain {
        Plain::of(Sock::Tcp(s))
    }

    /// A unix socket connection.
    pub fn unix(s: UnixStream) -> Plain {
        Plain::of(Sock::Unix(s))
    }

    fn of(sock: Sock) -> Plain {
        Plain {
            sock,
            idle: Duration::ZERO,
            set: Duration::ZERO,
            deadline: None,
            rate: 0,
        }
    }

    fn set_read(&self, t: Duration) -> io::Result<()> {
        match &self.sock {
            Sock::Tcp(s) => s.set_read_timeout(Some(t)),
            Sock::Unix(s) => s.set_read_timeout(Some(t)),
        }
    }

    /// Bounds every read and write by `t`.
    ///
    /// # Errors
    /// As the socket's setters.
    pub fn set_timeout(&mut self, t: Duration) -> io::Result<()> {
        self.set_read(t)?;
        match &self.sock {
            Sock::Tcp(s) => s.set_write_timeout(Some(t))?,
            Sock::Unix(s) => s.set_write_timeout(Some(t))?,
        }
        self.idle = t;
        self.set = t;
        Ok(())
    }

    /// Reads from now on must be done by `at` (none: only each read is
    /// bounded), which each byte read moves on by 1/`rate` s (0: never).
    /// So a client that sends a byte at a time cannot hold a session
    /// past its `timeout` (slowloris), nor DATA be slower than `rate`.
    pub fn set_deadline(&mut self, at: Option<Instant>, rate: u64) {
        self.deadline = at;
        self.rate = rate;
    }

    /// The peer for the log: its address, or "unix" for a unix socket.
    pub fn peer(&self) -> String {
        match &self.sock {
            Sock::Tcp(s) => {
                s.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default()
            }
            Sock::Unix(_) => "unix".into(),
        }
    }

    /// Whether it is a unix socket.
    pub fn is_unix(&self) -> bool {
        matches!(self.sock, Sock::Unix(_))
    }

    /// The peer's address; none for a unix socket.
    pub fn peer_ip(&self) -> Option<std::net::IpAddr> {
        match &self.sock {
            Sock::Tcp(s) => s.peer_addr().ok().map(|a| a.ip()),
            Sock::Unix(_) => None,
        }
    }
}

impl std::os::fd::AsFd for Plain {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match &self.sock {
            Sock::Tcp(s) => s.as_fd(),
            Sock::Unix(s) => s.as_fd(),
        }
    }
}

impl Read for Plain {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        if let Some(d) = self.deadline {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "time limit for the command or message exceeded",
                ));
            }
            // The socket's timeout follows the deadline down, and back
            // up to `timeout` when a new one is set; a syscall only when
            // it moves by more than a second (so a read may end up to a
            // second after the deadline).
            let want =
                if self.idle.is_zero() { left } else { left.min(self.idle) };
            let slack = Duration::from_secs(1);
            if want + slack < self.set || want > self.set + slack {
                self.set_read(want)?;
                self.set = want;
            }
        }
        let n = match &mut self.sock {
            Sock::Tcp(s) => s.read(b),
            Sock::Unix(s) => s.read(b),
        }?;
        if self.rate > 0
            && let Some(d) = &mut self.deadline
        {
            *d += Duration::from_secs_f64(n as f64 / self.rate as f64);
        }
        Ok(n)
    }
}

impl Write for Plain {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match &mut self.sock {
            Sock::Tcp(s) => s.write(b),
            Sock::Unix(s) => s.write(b),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A connection, in clear or in TLS.
#[derive(Debug)]
pub enum Stream {
    /// No TLS.
    Plain(Plain),
    /// STARTTLS from our client.
    Server(Box<StreamOwned<ServerConnection, Plain>>),
    /// STARTTLS towards the next hop.
    Client(Box<StreamOwned<ClientConnection, Plain>>),
    /// Taken away for a handshake; reads and writes fail.
    Gone,
}

impl Stream {
    /// The protocol and cipher suite, when in TLS.
    pub fn tls(&self) -> Option<String> {
        let (v, c) = match self {
            Stream::Plain(_) | Stream::Gone => return None,
            Stream::Server(s) => {
                (s.conn.protocol_version(), s.conn.negotiated_cipher_suite())
            }
            Stream::Client(s) => {
                (s.conn.protocol_version(), s.conn.negotiated_cipher_suite())
            }
        };
        Some(format!(
            "{} {}",
            v.map_or("?".into(), |v| format!("{v:?}")),
            c.map_or("?".into(), |c| format!("{:?}", c.suite()))
        ))
    }

    /// Whether an idle connection is still usable: nothing has come in
    /// since the last reply (a kept next-hop session that timed out has
    /// a 421 waiting, or has been closed).
    pub fn quiet(&self) -> bool {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let fd = match self {
            Stream::Plain(p) => p.as_fd(),
            Stream::Server(s) => s.sock.as_fd(),
            Stream::Client(s) => s.sock.as_fd(),
            Stream::Gone => return false,
        };
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        matches!(poll(&mut fds, PollTimeout::ZERO), Ok(0))
    }

    /// See [`Plain::set_deadline`].
    pub fn set_deadline(&mut self, at: Option<Instant>, rate: u64) {
        match self {
            Stream::Plain(p) => p.set_deadline(at, rate),
            Stream::Server(s) => s.sock.set_deadline(at, rate),
            Stream::Client(s) => s.sock.set_deadline(at, rate),
            Stream::Gone => {}
        }
    }

    /// Takes the connection for a STARTTLS handshake.
    ///
    /// # Errors
    /// It is in TLS already.
    pub fn into_plain(self) -> io::Result<Plain> {
        match self {
            Stream::Plain(p) => Ok(p),
            _ => Err(io::Error::other("STARTTLS inside TLS")),
        }
    }

    /// The server side of a handshake, on a connection that has just
    /// been sent "220 Ready to start TLS".
    ///
    /// # Errors
    /// The handshake failed (or timed out).
    pub fn accept(p: Plain, cfg: &Arc<ServerConfig>) -> io::Result<Stream> {
        let conn = ServerConnection::new(Arc::clone(cfg)).map_err(tls_err)?;
        let mut s = StreamOwned::new(conn, p);
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock)?;
        }
        Ok(Stream::Server(Box::new(s)))
    }

    /// The client side of a handshake after the next hop's 220 to
    /// STARTTLS.
    ///
    /// # Errors
    /// The handshake failed: the certificate did not verify, no shared
    /// protocol, or the connection broke.
    pub fn connect(
        p: Plain,
        cfg: &Arc<ClientConfig>,
        name: &str,
    ) -> io::Result<Stream> {
        let name = ServerName::try_from(name.to_string()).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidInput, e.to_string())
        })?;
        let conn =
            ClientConnection::new(Arc::clone(cfg), name).map_err(tls_err)?;
        let mut s = StreamOwned::new(conn, p);
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock)?;
        }
        Ok(Stream::Client(Box::new(s)))
    }
}

fn tls_err(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl Read for Stream {
    fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(b),
            Stream::Server(s) => s.read(b),
            Stream::Client(s) => s.read(b),
            Stream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(b),
            Stream::Server(s) => s.write(b),
            Stream::Client(s) => s.write(b),
            Stream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Server(s) => s.flush(),
            Stream::Client(s) => s.flush(),
            Stream::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

/// A TLS set-up that cannot be built from `[smtp]`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// A certificate, key or CA file cannot be read or is not PEM.
    #[error("{}: {cause}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// The cause, in the message already (not a `source`, so that
        /// a chain of causes does not print it twice).
        cause: rustls::pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("{}: no certificate in it", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The CA file holds no certificate rustls can use.
    #[error("{}: no usable CA certificate in it", path.display())]
    NoCaCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key does not fit the certificate, or is of a kind rustls
    /// does not take.
    #[error("{}: {cause}", cert.display())]
    Key {
        /// The certificate file.
        cert: PathBuf,
        /// What rustls said, in the message already.
        cause: rustls::Error,
    },
    /// The crypto provider offers no safe protocol version.
    #[error(transparent)]
    Protocol(rustls::Error),
}

impl TlsConfigError {
    fn pem(path: &Path) -> impl FnOnce(rustls::pki_types::pem::Error) -> Self {
        let path = path.to_path_buf();
        move |cause| TlsConfigError::Pem { path, cause }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The STARTTLS set-up offered to clients, from PEM files.
///
/// # Errors
/// A file cannot be read, holds no certificate or key, or the key does
/// not fit the certificate.
pub fn server_config(
    cert: &Path,
    key: &Path,
) -> Result<ServerConfig, TlsConfigError> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(cert)
            .and_then(|it| it.collect::<Result<_, _>>())
            .map_err(TlsConfigError::pem(cert))?;
    if chain.is_empty() {
        return Err(TlsConfigError::NoCertificate { path: cert.into() });
    }
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(TlsConfigError::pem(key))?;
    ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsConfigError::Protocol)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|cause| TlsConfigError::Key { cert: cert.into(), cause })
}

/// The set-up for STARTTLS to the next hop; `None` with `server_tls =
/// "none"`.
///
/// # Errors
/// With `verify`: the CA file cannot be read or holds no certificate.
pub fn client_config(
    level: ServerTls,
    ca_file: &Path,
) -> Result<Option<ClientConfig>, TlsConfigError> {
    let p = provider();
    let b = ClientConfig::builder_with_provider(Arc::clone(&p))
        .with_safe_default_protocol_versions()
        .map_err(TlsConfigError::Protocol)?;
    Ok(Some(match level {
        ServerTls::None => return Ok(None),
        // Opportunistic TLS, as Postfix's "may" and "encrypt": the
        // session is encrypted against a passive listener, and the
        // certificate is not judged (there is nothing to judge it by).
        ServerTls::May | ServerTls::Encrypt => b
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unjudged(p)))
            .with_no_client_auth(),
        ServerTls::Verify => {
            let mut roots = rustls::RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(ca_file)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(TlsConfigError::pem(ca_file))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(TlsConfigError::NoCaCertificate {
                    path: ca_file.into(),
                });
            }
            b.with_root_certificates(roots).with_no_client_auth()
        }
    }))
}

/// Takes any certificate, but still checks that the handshake was
/// signed by its key.
#[derive(Debug)]
struct Unjudged(Arc<CryptoProvider>);

impl ServerCertVerifier for Unjudged {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
