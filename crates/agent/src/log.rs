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
    /// Warnings and errors kept for the caller to print after its reply
    /// (an MDA's output is the MTA's bounce text, whose first line must
    /// be the status); lines of other levels are dropped.
    Held(Mutex<Vec<String>>),
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
            .field("syslog", &matches!(self.sink, Sink::Syslog(_)))
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
    pub fn syslog_or_hold(process: &str, facility: &str, level: u8) -> Logger {
        match syslog::unix(formatter(process, facility)) {
            Ok(l) => Logger {
                process: process.into(),
                level,
                sink: Sink::Syslog(Mutex::new(l)),
            },
            Err(e) => {
                let l = Logger {
                    process: process.into(),
                    level,
                    sink: Sink::Held(Mutex::new(Vec::new())),
                };
                l.log(Level::Warning, &format!("no syslog ({e})"));
                l
            }
        }
    }

    /// The held lines (see [`Logger::syslog_or_hold`]), formatted as
    /// stderr lines are.
    pub fn take_held(&self) -> Vec<String> {
        match &self.sink {
            Sink::Held(v) => std::mem::take(
                &mut *v.lock().unwrap_or_else(|p| p.into_inner()),
            ),
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
            Sink::Stderr => eprintln!("{}: {word}: {text}", self.process),
            Sink::Stamped => eprintln!(
                "{} {}: {word}: {text}",
                rfc3339(std::time::SystemTime::now()),
                self.process
            ),
            Sink::Held(v) => {
                if level <= Level::Warning {
                    v.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(format!("{}: {word}: {text}", self.process));
                }
            }
            Sink::Syslog(l) => {
                let mut l = l.lock().unwrap_or_else(|p| p.into_inner());
                // A full or missing syslog must not stop mail.
                let _ = match level {
                    Level::Error => l.err(text),
                    Level::Warning => l.warning(text),
                    Level::Summary => l.notice(text),
                    Level::Message => l.info(text),
                    Level::Detail | Level::Debug => l.debug(text),
                };
            }
        }
    }
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
            sink: Sink::Held(Mutex::new(Vec::new())),
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
