//! What a conversation is fed, and what it answers with.

use nod32_agent::Envelope;
use nod32_agent::log::Level;
use nod32_agent::protocol::SmtpReply;
use nod32_config::{BareNewline, ServerTls};

use crate::Reply;

/// Whether recipient `rcpt` may join a transaction from `sender` whose
/// first recipient is `first` (`State::joins`).
pub type Joins = Box<dyn Fn(&str, &str, &str) -> bool + Send + Sync>;

/// What a conversation knows of its configuration and its client.
pub struct Options {
    /// nod32smtp's name: the greeting, the first line of the EHLO reply,
    /// the HELO reply, and what a next hop is greeted with before the
    /// client greeted.
    pub host: String,
    /// The client's address for the log and the envelope ("unix" for a
    /// unix socket).
    pub peer: String,
    /// The next hop, `address:port`, for the log.
    pub next_hop: String,
    /// Whether this client's XFORWARD is taken (`xforward_hosts`).
    pub xforward_ok: bool,
    /// Whether STARTTLS is offered to the client.
    pub offer_tls: bool,
    /// STARTTLS to the next hop, at `server_tls`'s level; `None` when no
    /// TLS set-up for it was built.
    pub hop_tls: Option<ServerTls>,
    /// What a message with a bare CR or LF gets.
    pub bare_newline: BareNewline,
    /// With a `user_config`: which recipients share a transaction.
    pub joins: Option<Joins>,
}

/// What happened: the answer to the last [`Request`], or a failure.
#[derive(Debug)]
pub enum Event<'a> {
    /// No whole command line is waiting from the client: what it is owed
    /// must be written before its next line is awaited.
    Idle,
    /// A command line, without its line end (so without a LF).
    Line(&'a [u8]),
    /// A command line longer than [`MAX_COMMAND`](super::MAX_COMMAND),
    /// read and dropped.
    LineTooLong,
    /// The client closed its side.
    ClientClosed,
    /// Reading from or writing to the client failed; what the driver was
    /// doing is abandoned.
    ClientFailed {
        /// The client was too slow, or did not read its replies.
        timed_out: bool,
        /// A write of the last step failed: what it wrote to the client
        /// is still owed.
        writing: bool,
    },
    /// The message after 354 is in the spool; `None`: it was larger than
    /// allowed, read to its end and dropped.
    Message(Option<Spooled>),
    /// The BDAT chunk was read (and spooled when asked).
    Chunk(Spooled),
    /// The next hop's reply.
    Reply(Reply),
    /// The next hop's connection failed, or the message being sent to it
    /// could not be read: why.
    HopFailed(String),
    /// A next-hop session to use.
    HopOpened(Opened),
    /// No next hop could be reached: why.
    HopUnavailable(String),
    /// TLS to the next hop is up: its protocol and cipher suite.
    HopTls(Option<String>),
    /// The TLS handshake with the next hop failed: why.
    HopTlsFailed(String),
    /// TLS with the client is up: its protocol and cipher suite.
    ClientTls(Option<String>),
    /// The next hop's last EHLO reply, when one is known for this
    /// configuration.
    Caps(Option<Reply>),
    /// What the scan says of the message.
    Scanned(Verdict),
    /// The next bytes of the message to send; empty: no more.
    Piece(&'a [u8]),
    /// Whether the next-hop session was taken for a later client.
    Kept(bool),
}

/// The spool after a read into it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spooled {
    /// Its size.
    pub len: u64,
    /// Whether a CR or LF stands alone in it.
    pub bare_line_ends: bool,
}

/// A next-hop session given for [`Request::OpenHop`].
#[derive(Debug)]
pub enum Opened {
    /// One an earlier client left, already greeted; `tls`: in TLS.
    Kept {
        /// It is in TLS.
        tls: bool,
    },
    /// A new connection, and the next hop's greeting on it.
    New(Reply),
}

/// The scan's word on the message.
#[derive(Debug)]
pub enum Verdict {
    /// Send it on: the driver hands out its bytes ([`Request::Piece`]),
    /// those of the outcome's changed message when there is one.
    Send,
    /// nod32smtp answers itself (`protocol::smtp`): refused, deferred or
    /// discarded.
    Answer(SmtpReply),
    /// The agent failed: why.
    Fault(String),
    /// The spool could not be read back: why.
    Unreadable(String),
}

/// What to do now, then what to wait for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Done in order; when one fails, the rest is dropped and the failure
    /// is the next event.
    pub actions: Vec<Action>,
    /// What the next event answers.
    pub then: Request,
}

impl Step {
    /// Everything this step writes to the client, an ending's last words
    /// included.
    pub fn to_client(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for a in &self.actions {
            if let Action::Client(b) = a {
                out.extend_from_slice(b);
            }
        }
        if let Request::End(Ending::Failed { words, .. }) = &self.then {
            out.extend_from_slice(words);
        }
        out
    }

    /// Everything this step writes to the next hop.
    pub fn to_hop(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for a in &self.actions {
            if let Action::Hop(b) = a {
                out.extend_from_slice(b);
            }
        }
        out
    }
}

/// Something to do without waiting for an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write to the client (its replies, held until it waits for them).
    Client(Vec<u8>),
    /// Write to the next hop.
    Hop(Vec<u8>),
    /// Close the next-hop connection: what it will say next is unknown.
    CloseHop,
    /// Empty the spool: its transaction is over.
    ClearSpool,
    /// The next hop's EHLO reply, for clients greeted before they need a
    /// session of their own ([`Request::Caps`]).
    RememberCaps(Reply),
    /// Forget it: the next hop is down, and the next EHLO asks it again
    /// (and is told 421 while it is down, as a health check should be).
    ForgetCaps,
    /// A log line.
    Log(Level, String),
}

/// The one thing the conversation waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// The client's next command line ([`Event::Line`], or
    /// [`Event::LineTooLong`], [`Event::ClientClosed`]); when none is
    /// waiting, [`Event::Idle`] first.
    Command,
    /// The message after 354, read into the spool up to `max` bytes
    /// ([`Event::Message`]).
    Message {
        /// Larger is dropped.
        max: u64,
    },
    /// A BDAT chunk of `size` bytes, read into the spool when `keep`, else
    /// read and dropped ([`Event::Chunk`]).
    Chunk {
        /// Its size.
        size: u64,
        /// Spool it.
        keep: bool,
    },
    /// The next hop's next reply ([`Event::Reply`], or
    /// [`Event::HopFailed`]).
    Reply,
    /// A next-hop session: one kept from an earlier client when `reuse`
    /// and one is still quiet, else a new connection with its greeting
    /// ([`Event::HopOpened`], or [`Event::HopUnavailable`]).
    OpenHop {
        /// A kept session will do.
        reuse: bool,
    },
    /// The TLS handshake with the next hop, which said 220 to STARTTLS
    /// ([`Event::HopTls`], or [`Event::HopTlsFailed`]).
    HopTls,
    /// The TLS handshake with the client, which was told 220
    /// ([`Event::ClientTls`], or [`Event::ClientFailed`]).
    ClientTls,
    /// The next hop's last EHLO reply known for this configuration
    /// ([`Event::Caps`]).
    Caps,
    /// Scan the spooled message sent by this envelope
    /// ([`Event::Scanned`]).
    Scan(Envelope),
    /// The next piece of the message to send ([`Event::Piece`], or
    /// [`Event::HopFailed`]).
    Piece,
    /// Keep the next-hop session, just RSET, for a later client
    /// ([`Event::Kept`]).
    Keep,
    /// The session is over: nothing more is read; the next hop, unless
    /// kept, is closed.
    End(Ending),
}

/// How a session ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// As it should: the client quit or went, or was told why not.
    Done,
    /// On a failure: `words` go to the client if it still listens (a
    /// failure to write them is of no matter).
    Failed {
        /// What the client is still owed, a 421 last.
        words: Vec<u8>,
        /// How the next hop broke the protocol; `None`: the failure the
        /// driver reported last.
        error: Option<String>,
    },
}
