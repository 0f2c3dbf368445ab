//! The start and stop every service goes through: its arguments, a
//! configuration check that exits, SIGTERM and SIGINT as a stop flag,
//! and the drain of connections in flight.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use nod32_agent::{State, Which};

/// Why the stop signals cannot be set up ([`stop_flag`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The SIGTERM or SIGINT handler cannot be installed.
    #[error("signal handler: {0}")]
    SignalHandler(std::io::Error),
}

/// The exit status of a configuration (or socket) a service cannot
/// start with, as the man pages say.
pub const EXIT_CONFIG: i32 = 10;

/// The command line as `T` reads it; on a mistake, `--help` or
/// `--version` (which also names the module and its databases), prints
/// and exits as clap would.
pub fn parse_args<T: clap::Parser>(which: Which) -> T {
    match T::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            if e.kind() == clap::error::ErrorKind::DisplayVersion {
                nod32_agent::runtime::print_module_version(
                    which,
                    &std::env::args_os().skip(1).collect::<Vec<_>>(),
                );
            }
            std::process::exit(if e.use_stderr() { 2 } else { 0 });
        }
    }
}

/// `--check-config`: loads the configuration and the module as the
/// service would, runs `more` (what else the service needs, such as TLS
/// keys; it says where the service listens), prints the verdict and
/// exits: 0 when the service could start, [`EXIT_CONFIG`] if not.
///
/// `more`'s error is only printed, and each service has its own kind:
/// a boxed error takes any of them without a type to name.
pub fn check_config(
    which: Which,
    config: &Path,
    more: impl FnOnce(&State) -> Result<String, Box<dyn std::error::Error>>,
) -> ! {
    let name = which.name();
    match State::load(config, which, true)
        .map_err(Into::into)
        .and_then(|st| more(&st))
    {
        Ok(listening) => {
            println!(
                "{name}: configuration OK: {} (listening on {listening})",
                config.display()
            );
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            std::process::exit(EXIT_CONFIG)
        }
    }
}

/// With `--daemon` and a pid file, goes to the background: the starting
/// process exits here with the copy's start-up status, the copy returns.
pub fn background(which: Which, daemon: bool, pid_file: Option<&Path>) {
    if daemon
        && let Some(pid_file) = pid_file
        && let Some(status) = crate::service::detach(pid_file)
    {
        if status != 0 {
            eprintln!("{}: not started", which.name());
        }
        std::process::exit(status);
    }
}

/// A flag SIGTERM and SIGINT set: the accept loop's cue to stop.
///
/// # Errors
/// The handlers cannot be installed.
pub fn stop_flag() -> Result<Arc<AtomicBool>, StartError> {
    let term = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&term))
            .map_err(StartError::SignalHandler)?;
    }
    Ok(term)
}

/// Waits, up to `within`, for the connections in flight (`active`) to
/// finish their transactions.
pub fn drain(active: impl Fn() -> usize, within: Duration) {
    let deadline = Instant::now() + within;
    while active() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn drain_waits_for_the_last_connection_and_no_longer() {
        let left = Arc::new(AtomicUsize::new(2));
        let l = Arc::clone(&left);
        let t = std::thread::spawn(move || {
            for _ in 0..2 {
                std::thread::sleep(Duration::from_millis(60));
                l.fetch_sub(1, Ordering::SeqCst);
            }
        });
        let t0 = Instant::now();
        drain(|| left.load(Ordering::SeqCst), Duration::from_secs(10));
        assert_eq!(left.load(Ordering::SeqCst), 0);
        assert!(t0.elapsed() < Duration::from_secs(5));
        t.join().unwrap();
        let t0 = Instant::now();
        drain(|| 1, Duration::from_millis(120));
        assert!(t0.elapsed() >= Duration::from_millis(120));
    }
}
