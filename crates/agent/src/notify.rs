//! Notifications of infected mail to the administrator, the sender and
//! the recipients, sent through a `sendmail -i` compatible program.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long sendmail may take before it is killed and the send counts
/// as failed.
const SENDMAIL_TIMEOUT: Duration = Duration::from_secs(60);

/// RFC 5321's limit on a path (256 octets) without its brackets.
const MAX_ADDRESS: usize = 254;

/// Why an envelope address may not go into a notification header or
/// onto sendmail's command line, if it may not. The envelope comes from
/// the SMTP client: a CR or LF would start a header of its own (`\r\nBcc:
/// …`), an ESC reaches whoever reads the header or the log, a leading
/// '-' is an option to a sendmail that does not honour `--`, and `<`,
/// `>`, `,`, `;`, `(`, `)`, `"`, `\` or white space split or end an
/// address in a header. Such an address is refused, not repaired: a
/// repaired address is someone else's.
pub fn address_problem(addr: &str) -> Option<&'static str> {
    if addr.is_empty() {
        Some("an empty address")
    } else if addr.len() > MAX_ADDRESS {
        Some("longer than the 254 bytes SMTP allows")
    } else if addr.chars().any(crate::escape::hidden) {
        Some("a control character in the address")
    } else if addr.starts_with('-') {
        Some("begins with '-', which sendmail would read as an option")
    } else if addr.chars().any(char::is_whitespace) {
        Some("white space in the address")
    } else if addr.contains(['<', '>', ',', ';', '(', ')', '"', '\\']) {
        Some("a character that splits or ends an address in a header")
    } else {
        None
    }
}

/// A notification that was not sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// There was no one to send it to.
    #[error("no recipients")]
    NoRecipients,
    /// An address fails [`address_problem`]. The address is kept as it
    /// came and escaped only when shown.
    #[error("refusing {who} <{}>: {why}", crate::escape::field(addr))]
    Refused {
        /// `sender` or `recipient`.
        who: &'static str,
        /// The address.
        addr: String,
        /// What [`address_problem`] said.
        why: &'static str,
    },
    /// sendmail could not be started.
    #[error("{}: {cause}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The cause, in the message already (not a `source`, so that
        /// a chain of causes does not print it twice).
        cause: std::io::Error,
    },
    /// sendmail was started without the pipe to its stdin.
    #[error("sendmail has no stdin")]
    NoStdin,
    /// sendmail took too long and was killed.
    #[error("{} did not finish in {secs}s", program.display())]
    Timeout {
        /// The program.
        program: PathBuf,
        /// The limit it was held to.
        secs: u64,
    },
    /// Waiting for sendmail failed.
    #[error(transparent)]
    Wait(std::io::Error),
    /// sendmail exited with a failure.
    #[error("{} failed ({status}): {stderr}", program.display())]
    Failed {
        /// The program.
        program: PathBuf,
        /// How it exited.
        status: ExitStatus,
        /// What it wrote to stderr, trimmed.
        stderr: String,
    },
    /// The message could not be written to sendmail.
    #[error("writing to {}: {cause}", program.display())]
    Write {
        /// The program.
        program: PathBuf,
        /// The cause, in the message already.
        cause: std::io::Error,
    },
}

/// `Err` naming `addr` and its problem, as `who`.
fn check(who: &'static str, addr: &str) -> Result<(), NotifyError> {
    match address_problem(addr) {
        Some(why) => {
            Err(NotifyError::Refused { who, addr: addr.to_owned(), why })
        }
        None => Ok(()),
    }
}

/// Hands `msg` to `sendmail -i -f FROM -- RCPT...` and waits for it.
/// FROM may be empty (the null sender); every address is checked with
/// [`address_problem`] first, and sendmail is not started for a bad one.
///
/// # Errors
/// A refused address; sendmail could not start, failed, or took over a
/// minute.
pub fn sendmail(
    program: &Path,
    from: &str,
    rcpts: &[String],
    msg: &[u8],
) -> Result<(), NotifyError> {
    if rcpts.is_empty() {
        return Err(NotifyError::NoRecipients);
    }
    if !from.is_empty() {
        check("sender", from)?;
    }
    for r in rcpts {
        check("recipient", r)?;
    }
    let mut child = Command::new(program)
        .arg("-i")
        .arg("-f")
        .arg(from)
        .arg("--")
        .args(rcpts)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|cause| NotifyError::Spawn {
            program: program.to_path_buf(),
            cause,
        })?;
    let mut stdin = child.stdin.take().ok_or(NotifyError::NoStdin)?;
    let body = msg.to_vec();
    // A writer thread, so that a sendmail that stops reading cannot
    // hold us past the timeout.
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let t0 = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if t0.elapsed() > SENDMAIL_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(NotifyError::Timeout {
                    program: program.to_path_buf(),
                    secs: SENDMAIL_TIMEOUT.as_secs(),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(NotifyError::Wait(e)),
        }
    };
    let wrote = writer.join().unwrap_or(Ok(()));
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut err);
    }
    if !status.success() {
        return Err(NotifyError::Failed {
            program: program.to_path_buf(),
            status,
            stderr: err.trim().to_owned(),
        });
    }
    wrote.map_err(|cause| NotifyError::Write {
        program: program.to_path_buf(),
        cause,
    })
}

/// Whether a notification may go to `sender`: never to the null sender
/// or a mailer daemon, and only when the address passes `check`.
pub fn sender_may_be_told(sender: &str, check: &regex::Regex) -> bool {
    let s = sender.trim_matches(|c| c == '<' || c == '>');
    let local = s.split('@').next().unwrap_or("").to_ascii_lowercase();
    !s.is_empty()
        && local != "mailer-daemon"
        && !s.starts_with('-')
        && check.is_match(s)
}

/// Year, month (1-12) and day of `days` since 1970-01-01 (Howard
/// Hinnant's civil_from_days).
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// The time as RFC 5322 wants it, in UTC.
pub fn rfc5322_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
        "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        WD[days.rem_euclid(7) as usize],
        d,
        MON[(m - 1) as usize],
        y,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// An RFC 2047 encoded-word for a header value that is not ASCII.
fn encode_word(s: &str) -> String {
    if s.is_ascii() {
        return s.to_string();
    }
    let mut out = String::from("=?utf-8?q?");
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() {
            out.push(b as char);
        } else if b == b' ' {
            out.push('_');
        } else {
            out.push_str(&format!("={b:02X}"));
        }
    }
    out.push_str("?=");
    out
}

/// Builds a notification from an expanded template: the template's own
/// header lines (e.g. `Subject:`) come first, up to a blank line; the
/// rest is the body. From, To, Date, Message-ID, MIME headers and
/// `Auto-Submitted: auto-generated` (RFC 3834: no auto-replies to it)
/// are added.
///
/// # Errors
/// `from` or an address of `to` fails [`address_problem`]: it would
/// go into the header as it is.
pub fn compose(
    expanded: &str,
    from: &str,
    to: &[String],
    host: &str,
) -> Result<Vec<u8>, NotifyError> {
    check("sender", from)?;
    for t in to {
        check("recipient", t)?;
    }
    let text = expanded.replace("\r\n", "\n");
    let (head, body) = match text.split_once("\n\n") {
        Some((h, b))
            if h.lines().all(|l| {
                l.split_once(':').is_some_and(|(n, _)| {
                    !n.is_empty() && n.bytes().all(|c| c.is_ascii_graphic())
                })
            }) =>
        {
            (h.to_string(), b.to_string())
        }
        _ => (String::new(), text.clone()),
    };
    let mut out = String::new();
    for line in head.lines() {
        let (name, value) = line.split_once(':').unwrap_or((line, ""));
        out.push_str(&format!("{name}: {}\n", encode_word(value.trim())));
    }
    let now = SystemTime::now();
    let nanos = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    out.push_str(&format!(
        "From: {from}\nTo: {}\nDate: {}\nMessage-ID: <nod32.{nanos:x}.{}@{host}>\n\
         MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\
         Content-Transfer-Encoding: 8bit\nAuto-Submitted: auto-generated\n\n",
        to.join(", "),
        rfc5322_date(now),
        std::process::id(),
    ));
    out.push_str(&body);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out.into_bytes())
}

/// `name` as a full address: a bare local part gets `@host`.
pub fn qualify(name: &str, host: &str) -> String {
    if name.contains('@') {
        name.to_string()
    } else {
        format!("{name}@{host}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(
            rfc5322_date(UNIX_EPOCH),
            "Thu, 01 Jan 1970 00:00:00 +0000"
        );
        let t = UNIX_EPOCH + Duration::from_secs(1_795_896_000);
        assert_eq!(rfc5322_date(t), "Sat, 28 Nov 2026 20:00:00 +0000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc5322_date(leap), "Tue, 29 Feb 2000 00:00:00 +0000");
    }

    #[test]
    fn who_may_be_told() {
        let re =
            regex::Regex::new(nod32_config::DEFAULT_SENDER_CHECK).unwrap();
        assert!(sender_may_be_told("bob@example.org", &re));
        assert!(sender_may_be_told("<bob@example.org>", &re));
        for no in [
            "",
            "<>",
            "MAILER-DAEMON@example.org",
            "bob",
            "bob@localhost",
            "-oQ/tmp@x.org",
            "a b@example.org",
        ] {
            assert!(!sender_may_be_told(no, &re), "{no}");
        }
        let strict = regex::Regex::new(r"@example\.org$").unwrap();
        assert!(!sender_may_be_told("bob@example.com", &strict));
    }

    #[test]
    fn composed_message() {
        let m = compose(
            "Subject: [NOD32] Virus in \u{e9}t\u{e9}\n\nBody line\n",
            "postmaster@mx.example.net",
            &["admin@example.net".into()],
            "mx.example.net",
        )
        .unwrap();
        let p = mailparse::parse_mail(&m).unwrap();
        let h = |n: &str| {
            p.headers.iter().find(|h| h.get_key() == n).unwrap().get_value()
        };
        assert_eq!(h("Subject"), "[NOD32] Virus in \u{e9}t\u{e9}");
        assert_eq!(h("To"), "admin@example.net");
        assert_eq!(h("Auto-Submitted"), "auto-generated");
        assert!(h("Message-ID").ends_with("@mx.example.net>"));
        assert_eq!(p.get_body().unwrap(), "Body line\n");
        // A template without headers is all body.
        let b =
            compose("Just text\n", "a@b.c", &["x@y.z".into()], "h").unwrap();
        assert!(String::from_utf8(b).unwrap().ends_with("\n\nJust text\n"));
    }

    /// Addresses from the envelope never reach sendmail's command line
    /// when a header or sendmail could misread them: the program is not
    /// even started (/nonexistent would fail differently).
    #[test]
    fn sendmail_refuses_addresses_it_could_misread() {
        let none = Path::new("/nonexistent");
        for (from, rcpt, says) in [
            (
                "a@b.c",
                "x@y.z\r\nBcc: v@w.x",
                "recipient <x@y.z\\r\\nBcc: v@w.x>: a control character",
            ),
            ("a@b.c", "x\x1b]0;t\x07@y.z", "a control character"),
            ("a@b.c", "-oQ/tmp/q@y.z", "begins with '-'"),
            ("a@b.c", "x\0@y.z", "a control character"),
            ("-oQ/tmp@b.c", "x@y.z", "sender <-oQ/tmp@b.c>: begins with '-'"),
            ("a\n@b.c", "x@y.z", "sender <a\\n@b.c>: a control character"),
        ] {
            let e = sendmail(none, from, &[rcpt.to_string()], b"x")
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("refusing ") && e.contains(says),
                "{rcpt}: {e}"
            );
        }
    }

    #[test]
    fn which_addresses_are_refused() {
        for ok in [
            "bob@example.org",
            "alice",
            "user+tag@sub.example.net",
            "root@[192.0.2.1]",
            "j\u{f6}rg@b\u{fc}cher.example",
            &format!("{}@example.org", "a".repeat(242)),
        ] {
            assert_eq!(address_problem(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("a\rb@c.d", "control"),
            ("a@c.d\n", "control"),
            ("a\u{7f}@c.d", "control"),
            ("a\u{9b}@c.d", "control"),
            ("a\u{202e}@c.d", "control"),
            ("-f@c.d", "'-'"),
            ("a b@c.d", "white space"),
            ("a\u{a0}b@c.d", "white space"),
            ("a@c.d, v@w.x", "white space"),
            ("a@c.d,v@w.x", "splits"),
            ("<a@c.d>", "splits"),
            ("\"a\"@c.d", "splits"),
            (&format!("{}@example.org", "a".repeat(243)), "254"),
        ] {
            let got = address_problem(bad).unwrap_or("accepted");
            assert!(got.contains(why), "{bad:?}: {got}");
        }
    }

    #[test]
    fn no_header_of_a_bad_address() {
        let e = compose("x\n", "a@b.c", &["x@y.z\nBcc: v@w.x".into()], "h")
            .unwrap_err()
            .to_string();
        assert!(e.contains("recipient <x@y.z\\nBcc: v@w.x>"), "{e}");
        assert!(compose("x\n", "-a@b.c", &["x@y.z".into()], "h").is_err());
    }

    #[test]
    fn sendmail_failures_are_reported() {
        let e = sendmail(
            Path::new("/bin/false"),
            "a@b.c",
            &["x@y.z".into()],
            b"x",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("/bin/false failed"), "{e}");
        let e = sendmail(
            Path::new("/nonexistent"),
            "a@b.c",
            &["x@y.z".into()],
            b"x",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("/nonexistent: "), "{e}");
        assert!(sendmail(Path::new("/bin/true"), "a@b.c", &[], b"x").is_err());
    }
}
