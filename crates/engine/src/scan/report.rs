//! What a scan reports: the verdict, each infection and where it is,
//! and the counters.

use super::Verdict;

/// One thing found by a scan, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Infection {
    /// The signature or heuristic name.
    pub name: String,
    /// Where, as in [`Verdict::Infected`]: in a mailbox of several
    /// messages, `message 3 <id@example.org>, part 1 "e.com"`.
    pub location: String,
    /// The mailbox message it was found in, when the input is an mbox of
    /// several messages scanned with [`super::Scanner::each_message`].
    pub message: Option<MailboxMessage>,
    /// The bytes of the input (a message) that hold the MIME leaf it was
    /// found in, its headers and body: [`crate::mime::Entity`]'s
    /// `start..end` as [`crate::mime::parse`] reads the message. `None`
    /// when it was found in the message as a whole (or the input is no
    /// message): then no part can be cut to clean it.
    pub part: Option<std::ops::Range<usize>>,
}

/// A message of a mailbox, as a report names it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MailboxMessage {
    /// Its place in the mailbox, from 1.
    pub number: usize,
    /// Its Message-ID as `<id>`, printable ASCII only (any other byte,
    /// `"` and `\` show as `?`); `None` without one.
    pub id: Option<String>,
}

impl std::fmt::Display for MailboxMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "message {}", self.number)?;
        match &self.id {
            Some(id) => write!(f, " {id}"),
            None => Ok(()),
        }
    }
}

/// The outcome of one scan with its counters.
#[derive(Clone, Debug)]
pub struct Report {
    /// The verdict.
    pub verdict: Verdict,
    /// What was found: with [`super::Scanner::each_message`], one entry per
    /// infected message of a mailbox of several messages, in mailbox
    /// order (after the verdict's, should the mailbox's own bytes have
    /// matched); otherwise the verdict's alone. Empty when not infected.
    pub infections: Vec<Infection>,
    /// Objects scanned (the input and every extracted member).
    pub objects: u64,
    /// Bytes scanned, extracted data included.
    pub bytes: u64,
}
