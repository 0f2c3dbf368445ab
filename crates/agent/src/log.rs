//! Logging: syslog with a configurable facility, or stderr in the
//! foreground, at six levels of detail (`log_level`).

use std::sync::Mutex;

use syslog::{Formatter3164, LoggerBackend};

/// The six levels of `log_level`; a message is logged when its level is
/// at most the configured one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// 1: errors.
    Error = 1,
    /// 2: warnings.
    Warning = 2,
    /// 3: summaries (start, stop, reload, counts).
    Summary = 3,
    /// 4: one line per message.
    Message = 4,
    /// 5: partial detail (each part, each notification).
    Detail = 5,
    /// 6: full debug.
    Debug = 6,
}

enum Sink {
    Syslog(Mutex<syslog::Logger<LoggerBackend, Formatter3164>>),
    Stderr,
    /// stderr, each line after its time (RFC 3339, UTC): a service in
    /// the foreground whose output goes to a file or a supervisor that
    /// adds none.
    Stamped,
    /// Syslog, else held lines, decided at the first line written: a
    /// process that handles one message opens no socket when it logs
    /// nothing.
    SyslogOrHold(Mutex<Lazy>),
}

/// [`Sink::SyslogOrHold`] before and after its first line.
enum Lazy {
    /// The facility, and the socket when not the system's (tests).
    Unopened(String, Option<std::path::PathBuf>),
    Syslog(syslog::Logger<LoggerBackend, Formatter3164>),
    /// No syslog: warnings and errors kept for the caller to print after
    /// its reply (an MDA's output is the MTA's bounce text, whose first
    /// line must be the status); lines of other levels are dropped.
    Held(Vec<String>),
}

/// A syslog socket that could not be reached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// What the syslog crate said.
    #[error(transparent)]
    Syslog(#[from] syslog::Error),
}

/// Where an agent's log lines go.
pub struct Logger {
    process: String,
    level: u8,
    sink: Sink,
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logger")
            .field("process", &self.process)
            .field("level", &self.level)
            .field(
                "syslog",
                &match &self.sink {
                    Sink::Syslog(_) => true,
                    Sink::SyslogOrHold(l) => matches!(
                        *l.lock().unwrap_or_else(|p| p.into_inner()),
                        Lazy::Syslog(_)
                    ),
                    _ => false,
                },
            )
            .finish()
    }
}

/// `t` as `2026-12-05T21:10:00.123Z`.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = crate::notify::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

fn formatter(process: &str, facility: &str) -> Formatter3164 {
    Formatter3164 {
        facility: facility.parse().unwrap_or(syslog::Facility::LOG_MAIL),
        hostname: None,
        process: process.to_string(),
        pid: std::process::id(),
    }
}

impl Logger {
    /// Lines to stderr, as `PROCESS: LEVEL: text`.
    pub fn stderr(process: &str, level: u8) -> Logger {
        Logger { process: process.into(), level, sink: Sink::Stderr }
    }

    /// Lines to stderr for a service run in the foreground: each after
    /// its time (`2026-12-05T21:10:00.123Z nod32smtp: info: …`), unless
    /// stderr is systemd's journal (`JOURNAL_STREAM`), which keeps its
    /// own.
    pub fn foreground(process: &str, level: u8) -> Logger {
        let sink = if std::env::var_os("JOURNAL_STREAM").is_some() {
            Sink::Stderr
        } else {
            Sink::Stamped
        };
        Logger { process: process.into(), level, sink }
    }

    /// Lines to the local syslog (`/dev/log`) with `facility`; stderr
    /// when no syslog socket is there (a warning says so).
    pub fn syslog(process: &str, facility: &str, level: u8) -> Logger {
        match syslog::unix(formatter(process, facility)) {
            Ok(l) => Logger {
                process: process.into(),
                level,
                sink: Sink::Syslog(Mutex::new(l)),
            },
            Err(e) => {
                let l = Logger::stderr(process, level);
                l.log(
                    Level::Warning,
                    &format!("no syslog ({e}); logging to stderr"),
                );
                l
            }
        }
    }

    /// Lines to the local syslog; when there is none, warnings and
    /// errors are held for [`Logger::take_held`] and the rest dropped.
    /// The socket is opened at the first line written (or at
    /// [`Logger::take_held`]), once.
    pub fn syslog_or_hold(process: &str, facility: &str, level: u8) -> Logger {
        Logger {
            process: process.into(),
            level,
            sink: Sink::SyslogOrHold(Mutex::new(Lazy::Unopened(
                facility.into(),
                None,
            ))),
        }
    }

    /// Opens [`Sink::SyslogOrHold`]'s socket if it is not yet: syslog,
    /// or held lines that start with the warning that there is none.
    fn open(&self, lazy: &mut Lazy) {
        let Lazy::Unopened(facility, path) = lazy else { return };
        let f = formatter(&self.process, facility);
        let opened = match path {
            None => syslog::unix(f),
            Some(p) => syslog::unix_custom(f, p),
        };
        *lazy = match opened {
            Ok(l) => Lazy::Syslog(l),
            Err(e) => {
                let mut held = Vec::new();
                if self.enabled(Level::Warning) {
                    held.push(
                        self.line("warning", &format!("no syslog ({e})")),
                    );
                }
                Lazy::Held(held)
            }
        };
    }

    /// A line as stderr and held lines show it.
    fn line(&self, word: &str, text: &str) -> String {
        format!("{}: {word}: {text}", self.process)
    }

    /// The held lines (see [`Logger::syslog_or_hold`]), formatted as
    /// stderr lines are.
    pub fn take_held(&self) -> Vec<String> {
        match &self.sink {
            Sink::SyslogOrHold(l) => {
                let mut l = l.lock().unwrap_or_else(|p| p.into_inner());
                // Nothing logged yet: whether syslog is there is still
                // news for the reply.
                self.open(&mut l);
                match &mut *l {
                    Lazy::Held(v) => std::mem::take(v),
                    _ => Vec::new(),
                }
            }
            _ => Vec::new(),
        }
    }

    /// Lines to the syslog socket at `path`.
    ///
    /// # Errors
    /// The socket cannot be reached.
    pub fn syslog_at(
        path: &std::path::Path,
        process: &str,
        facility: &str,
        level: u8,
    ) -> Result<Logger, LogError> {
        let l = syslog::unix_custom(formatter(process, facility), path)?;
        Ok(Logger {
            process: process.into(),
            level,
            sink: Sink::Syslog(Mutex::new(l)),
        })
    }

    /// Whether lines of `level` are written.
    pub fn enabled(&self, level: Level) -> bool {
        level as u8 <= self.level
    }

    /// Writes `text` if `level` is enabled.
    pub fn log(&self, level: Level, text: &str) {
        if !self.enabled(level) {
            return;
        }
        let word = match level {
            Level::Error => "error",
            Level::Warning => "warning",
            Level::Summary | Level::Message => "info",
            Level::Detail | Level::Debug => "debug",
        };
        match &self.sink {
            Sink::Stderr => eprintln!("{}", self.line(word, text)),
            Sink::Stamped => eprintln!(
                "{} {}: {word}: {text}",
                rfc3339(std::time::SystemTime::now()),
                self.process
            ),
            Sink::Syslog(l) => to_syslog(
                &mut l.lock().unwrap_or_else(|p| p.into_inner()),
                level,
                text,
            ),
            Sink::SyslogOrHold(l) => {
                let mut l = l.lock().unwrap_or_else(|p| p.into_inner());
                self.open(&mut l);
                match &mut *l {
                    Lazy::Syslog(s) => to_syslog(s, level, text),
                    Lazy::Held(v) if level <= Level::Warning => {
                        v.push(self.line(word, text));
                    }
                    _ => {}
                }
            }
        }
    }
}

fn to_syslog(
    l: &mut syslog::Logger<LoggerBackend, Formatter3164>,
    level: Level,
    text: &str,
) {
    // A full or missing syslog must not stop mail.
    let _ = match level {
        Level::Error => l.err(text),
        Level::Warning => l.warning(text),
        Level::Summary => l.notice(text),
        Level::Message => l.info(text),
        Level::Detail | Level::Debug => l.debug(text),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixDatagram;

    #[test]
    fn times_are_rfc3339_in_utc() {
        use std::time::{Duration, UNIX_EPOCH};
        let t = UNIX_EPOCH + Duration::from_millis(1_796_505_000_123);
        assert_eq!(rfc3339(t), "2026-12-05T21:10:00.123Z");
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn held_lines_are_warnings_and_errors_only() {
        let l = Logger {
            process: "nod32mda".into(),
            level: 6,
            sink: Sink::SyslogOrHold(Mutex::new(Lazy::Held(Vec::new()))),
        };
        l.log(Level::Message, "queue_id=- status=infected");
        l.log(Level::Warning, "no syslog");
        l.log(Level::Error, "boom");
        assert_eq!(
            l.take_held(),
            ["nod32mda: warning: no syslog", "nod32mda: error: boom"]
        );
        assert!(l.take_held().is_empty());
    }

    fn lazy(path: &std::path::Path, level: u8) -> Logger {
        Logger {
            process: "nod32mda".into(),
            level,
            sink: Sink::SyslogOrHold(Mutex::new(Lazy::Unopened(
                "local3".into(),
                Some(path.into()),
            ))),
        }
    }

    #[test]
    fn syslog_is_opened_at_the_first_line() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("log");
        let l = lazy(&path, 4);
        // No socket yet: one bound now still gets the lines.
        assert!(format!("{l:?}").contains("syslog: false"));
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        l.log(Level::Detail, "not shown at level 4");
        assert!(format!("{l:?}").contains("syslog: false"));
        l.log(Level::Message, "queue_id=- status=clean");
        assert!(format!("{l:?}").contains("syslog: true"));
        l.log(Level::Warning, "second");
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).unwrap();
        let line = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(line.starts_with("<158>"), "{line}");
        assert!(line.ends_with("]: queue_id=- status=clean"), "{line}");
        let n = sock.recv(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).ends_with("]: second"));
        assert!(l.take_held().is_empty());
    }

    #[test]
    fn without_syslog_the_warning_is_held_even_when_nothing_was_logged() {
        let d = tempfile::tempdir().unwrap();
        let none = d.path().join("none");
        // Logged late: the warning comes first, then the line.
        let l = lazy(&none, 4);
        l.log(Level::Message, "dropped");
        l.log(Level::Error, "boom");
        let held = l.take_held();
        assert_eq!(held.len(), 2, "{held:?}");
        assert!(held[0].starts_with("nod32mda: warning: no syslog ("));
        assert_eq!(held[1], "nod32mda: error: boom");
        assert!(l.take_held().is_empty());
        // Nothing logged: the reply still says there is no syslog.
        let quiet = lazy(&none, 2);
        let held = quiet.take_held();
        assert_eq!(held.len(), 1);
        assert!(held[0].starts_with("nod32mda: warning: no syslog ("));
        // Below warnings, as before, not even that.
        assert!(lazy(&none, 1).take_held().is_empty());
    }

    #[test]
    fn levels_and_facility_reach_syslog() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("log");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let l = Logger::syslog_at(&path, "nod32smtp", "local3", 4).unwrap();
        l.log(Level::Message, "queue_id=ABC verdict=clean");
        l.log(Level::Detail, "not shown at level 4");
        l.log(Level::Error, "boom");
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).unwrap();
        let line = String::from_utf8_lossy(&buf[..n]).to_string();
        // local3 = 19, info = 6: 19 * 8 + 6.
        assert!(line.starts_with("<158>"), "{line}");
        assert!(
            line.contains(&format!(
                "nod32smtp[{}]: queue_id=ABC verdict=clean",
                std::process::id()
            )),
            "{line}"
        );
        let n = sock.recv(&mut buf).unwrap();
        let line = String::from_utf8_lossy(&buf[..n]).to_string();
        // local3, err = 3.
        assert!(line.starts_with("<155>") && line.ends_with("boom"), "{line}");
        assert!(l.enabled(Level::Message) && !l.enabled(Level::Detail));
    }
}
