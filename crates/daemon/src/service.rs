//! What the long-running agents (nod32smtp, nod32smfi) share to serve
//! many connections: a semaphore that keeps scans at one per core, and
//! connection threads that serve one connection after another instead of
//! a thread started and ended per connection, and the listening socket
//! (unix or TCP) they take connections from.

use std::io;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SendError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// A listening socket or pid file that could not be set up: what, and
/// what the system said.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {cause}")]
pub struct SetupError {
    /// What was being done (`cannot listen on HOST:PORT`, `chmod PATH`).
    pub what: String,
    /// What the system said.
    pub cause: io::Error,
}

impl SetupError {
    fn at(what: String) -> impl FnOnce(io::Error) -> SetupError {
        move |cause| SetupError { what, cause }
    }
}

/// The services' start-up reports errors as text.
impl From<SetupError> for String {
    fn from(e: SetupError) -> String {
        e.to_string()
    }
}

/// Where a service takes its connections.
#[derive(Debug)]
pub enum Listener {
    /// A unix socket, removed again when dropped if this process made it.
    Unix(UnixListener, Option<PathBuf>),
    /// TCP.
    Tcp(TcpListener),
}

/// A connection taken by a [`Listener`].
#[derive(Debug)]
pub enum Accepted {
    /// From a unix socket.
    Unix(UnixStream),
    /// From TCP, with Nagle off: it would hold each small reply until
    /// the peer's ACK.
    Tcp(TcpStream),
}

impl Listener {
    /// Listens on a unix socket with `mode` (group `group` when running
    /// as root, for the MTA's user to be in), replacing a socket an
    /// earlier run left that nobody answers.
    ///
    /// # Errors
    /// The socket cannot be made or given its mode or group.
    pub fn unix(
        p: &Path,
        mode: u32,
        group: &str,
    ) -> Result<Listener, SetupError> {
        if let Ok(m) = std::fs::symlink_metadata(p) {
            use std::os::unix::fs::FileTypeExt;
            if m.file_type().is_socket() && UnixStream::connect(p).is_err() {
                let _ = std::fs::remove_file(p);
            }
        }
        let l = UnixListener::bind(p).map_err(SetupError::at(format!(
            "cannot listen on {}",
            p.display()
        )))?;
        let l = Listener::Unix(l, Some(p.to_path_buf()));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
            .map_err(SetupError::at(format!("chmod {}", p.display())))?;
        if nix::unistd::getuid().is_root()
            && let Ok(Some(g)) = nix::unistd::Group::from_name(group)
        {
            nix::unistd::chown(p, None, Some(g.gid)).map_err(|e| {
                SetupError {
                    what: format!("chgrp {}", p.display()),
                    cause: e.into(),
                }
            })?;
        }
        Ok(l)
    }

    /// The socket systemd passed (socket activation: `LISTEN_FDS`), if
    /// any; its address is the `.socket` unit's, not the configuration's.
    ///
    /// # Errors
    /// What was passed is not a listening stream socket.
    pub fn inherited() -> Result<Option<Listener>, SetupError> {
        let mut fds = listenfd::ListenFd::from_env();
        if fds.len() == 0 {
            return Ok(None);
        }
        if let Ok(Some(l)) = fds.take_tcp_listener(0) {
            return Ok(Some(Listener::Tcp(l)));
        }
        match fds.take_unix_listener(0) {
            Ok(Some(l)) => Ok(Some(Listener::Unix(l, None))),
            Ok(None) => Ok(None),
            Err(e) => {
                Err(SetupError::at("the socket systemd passed".into())(e))
            }
        }
    }

    /// Where it listens, for the log.
    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => {
                l.local_addr().map_or("?".into(), |a| a.to_string())
            }
            Listener::Unix(l, _) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
                .unwrap_or_else(|| "unix socket".into()),
        }
    }

    /// Listens on TCP.
    ///
    /// # Errors
    /// The address is taken or not ours.
    pub fn tcp(host: &str, port: u16) -> Result<Listener, SetupError> {
        TcpListener::bind((host, port))
            .map(Listener::Tcp)
            .map_err(SetupError::at(format!("cannot listen on {host}:{port}")))
    }

    /// Waits up to `t` for a connection; `None` when none came (or a
    /// signal interrupted the wait).
    ///
    /// # Errors
    /// The listening socket failed.
    pub fn accept(&self, t: Duration) -> io::Result<Option<Accepted>> {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        let fd = match self {
            Listener::Unix(l, _) => l.as_fd(),
            Listener::Tcp(l) => l.as_fd(),
        };
        let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
        let ms = PollTimeout::try_from(t).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, ms) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => return Ok(None),
            Ok(_) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(Some(match self {
            Listener::Unix(l, _) => Accepted::Unix(l.accept()?.0),
            Listener::Tcp(l) => {
                let s = l.accept()?.0;
                s.set_nodelay(true)?;
                Accepted::Tcp(s)
            }
        }))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, Some(p)) = self {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// A counting semaphore.
#[derive(Debug)]
pub struct Sem {
    free: Mutex<usize>,
    cv: Condvar,
}

/// One unit of a [`Sem`], given back when dropped.
#[derive(Debug)]
pub struct Permit<'a>(&'a Sem);

impl Sem {
    /// `n` units.
    pub fn new(n: usize) -> Sem {
        Sem { free: Mutex::new(n), cv: Condvar::new() }
    }

    /// Waits for a unit.
    pub fn acquire(&self) -> Permit<'_> {
        let mut f = self.free.lock().unwrap_or_else(|p| p.into_inner());
        while *f == 0 {
            f = self.cv.wait(f).unwrap_or_else(|p| p.into_inner());
        }
        *f -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.0.cv.notify_one();
    }
}

/// A connection thread with nothing to do waits this long for the next
/// connection before it ends.
const IDLE_THREAD: Duration = Duration::from_secs(60);

/// Connection threads, reused: a new connection goes to a thread that
/// is waiting for one, else to a new thread.
pub struct Workers<C> {
    idle: AtomicUsize,
    tx: Mutex<Option<mpsc::Sender<C>>>,
    rx: Mutex<mpsc::Receiver<C>>,
    stack: usize,
    serve: Box<dyn Fn(C) + Send + Sync>,
}

impl<C: Send + 'static> Workers<C> {
    /// Threads with `stack` bytes of stack, each running `serve` on one
    /// connection after another.
    pub fn new(
        stack: usize,
        serve: impl Fn(C) + Send + Sync + 'static,
    ) -> Arc<Workers<C>> {
        let (tx, rx) = mpsc::channel();
        Arc::new(Workers {
            idle: AtomicUsize::new(0),
            tx: Mutex::new(Some(tx)),
            rx: Mutex::new(rx),
            stack,
            serve: Box::new(serve),
        })
    }

    /// Takes one waiting thread, if there is one.
    fn claim_idle(&self) -> bool {
        self.idle
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                n.checked_sub(1)
            })
            .is_ok()
    }

    /// Has `conn` served.
    ///
    /// # Errors
    /// No thread could be started for it.
    pub fn dispatch(self: &Arc<Self>, conn: C) -> std::io::Result<()> {
        let conn = if self.claim_idle() {
            let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
            match tx.as_ref().map(|t| t.send(conn)) {
                Some(Ok(())) => return Ok(()),
                Some(Err(SendError(c))) => c,
                None => return Ok(()),
            }
        } else {
            conn
        };
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .stack_size(self.stack)
            .spawn(move || me.thread(conn))
            .map(|_| ())
    }

    /// Lets waiting threads end (at shutdown).
    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    fn thread(&self, first: C) {
        let mut next = Some(first);
        loop {
            if let Some(c) = next.take() {
                (self.serve)(c);
            }
            self.idle.fetch_add(1, Ordering::SeqCst);
            let rx = self.rx.lock().unwrap_or_else(|p| p.into_inner());
            match rx.recv_timeout(IDLE_THREAD) {
                Ok(c) => next = Some(c),
                Err(RecvTimeoutError::Disconnected) => return,
                Err(RecvTimeoutError::Timeout) => {
                    // Leave, unless dispatch counted on us just now.
                    if self.claim_idle() {
                        return;
                    }
                    match rx.recv() {
                        Ok(c) => next = Some(c),
                        Err(_) => return,
                    }
                }
            }
        }
    }
}

/// Set in the background copy a service starts of itself (`--daemon`).
const DETACHED: &str = "NOD32_DETACHED";

/// `--daemon`: runs the service as a copy of itself in the background,
/// in a session of its own, with nothing on its standard streams, and
/// returns the exit status for this (foreground) process once the copy
/// has written `pid_file` (0) or ended (its status: the reason went to
/// the system log). `None` in the copy itself, which goes on to serve.
///
/// For init systems without supervision (sysvinit's start-stop-daemon,
/// BSD-style rc scripts); systemd, runit and s6 run the service in the
/// foreground instead.
pub fn detach(pid_file: &Path) -> Option<i32> {
    if std::env::var_os(DETACHED).is_some() {
        // The copy: its own session, away from the terminal that
        // started it, whose hangup would otherwise reach it.
        let _ = nix::unistd::setsid();
        return None;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!(
                "cannot find this program to start it in the background: {e}"
            );
            return Some(10);
        }
    };
    let _ = std::fs::remove_file(pid_file);
    // The name it was started by goes along: the packages' multi-call
    // executable picks the program by it, and current_exe() is the
    // executable itself, not the link.
    let mut args = std::env::args_os();
    let name = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    let mut child = match std::os::unix::process::CommandExt::arg0(
        &mut std::process::Command::new(&exe),
        name,
    )
    .args(args)
    .env(DETACHED, "1")
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .current_dir("/")
    .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot start in the background: {e}");
            return Some(10);
        }
    };
    let t0 = std::time::Instant::now();
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            eprintln!(
                "did not start ({st}); the system log says why (or run it with -f)"
            );
            return Some(st.code().unwrap_or(10));
        }
        let written = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        if written == Some(child.id()) {
            return Some(0);
        }
        if t0.elapsed() > Duration::from_secs(60) {
            eprintln!("not ready after 60 s; left running as {}", child.id());
            return Some(10);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A pid file, written when the service is ready and removed when it
/// stops.
pub struct PidFile(Option<std::path::PathBuf>);

impl PidFile {
    /// Writes this process's id to `path` (none: nothing), replacing what
    /// was there. Written before the service drops its privileges; the
    /// file is then given to `owner`, so that it can be removed at the
    /// end when its directory is the service user's (`/run/nod32`).
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn write(
        path: Option<&Path>,
        owner: Option<nix::unistd::Uid>,
    ) -> Result<PidFile, SetupError> {
        let Some(p) = path else { return Ok(PidFile(None)) };
        let tmp = p.with_extension("pid.tmp");
        std::fs::write(&tmp, format!("{}\n", std::process::id()))
            .and_then(|()| std::fs::rename(&tmp, p))
            .map_err(SetupError::at(format!("pid file {}", p.display())))?;
        if let Some(u) = owner {
            let _ = nix::unistd::chown(p, Some(u), None);
        }
        Ok(PidFile(Some(p.to_path_buf())))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_are_reused_and_every_connection_served() {
        let served = Arc::new(AtomicUsize::new(0));
        let threads = Arc::new(Mutex::new(std::collections::HashSet::new()));
        let w = {
            let served = Arc::clone(&served);
            let threads = Arc::clone(&threads);
            Workers::new(64 << 10, move |n: usize| {
                threads.lock().unwrap().insert(std::thread::current().id());
                served.fetch_add(n, Ordering::SeqCst);
            })
        };
        for _ in 0..200 {
            w.dispatch(1).unwrap();
            // Let the thread get back to waiting, as between connections.
            let t0 = std::time::Instant::now();
            while w.idle.load(Ordering::SeqCst) == 0
                && t0.elapsed() < Duration::from_secs(5)
            {
                std::thread::yield_now();
            }
        }
        let t0 = std::time::Instant::now();
        while served.load(Ordering::SeqCst) < 200 {
            assert!(t0.elapsed() < Duration::from_secs(10));
            std::thread::yield_now();
        }
        assert!(threads.lock().unwrap().len() < 10);
        w.close();
    }

    #[test]
    fn the_semaphore_bounds_holders() {
        let s = Sem::new(2);
        let a = s.acquire();
        let _b = s.acquire();
        assert_eq!(*s.free.lock().unwrap(), 0);
        drop(a);
        assert_eq!(*s.free.lock().unwrap(), 1);
    }
}
