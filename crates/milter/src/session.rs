//! One milter connection's protocol state, without I/O: it takes parsed
//! commands, answers what needs an answer, collects the envelope, the
//! header and the body, and says when a message is complete.
//!
//! Like libmilter it is forgiving about order (a command out of place
//! is taken as it comes), since the MTA is trusted to drive it; what it
//! does not forgive is a malformed packet, which ends the connection.

use std::collections::HashMap;
use std::io;

use nod32_spool::{Spool, View};

use crate::codec::{Command, Response};

/// SMFIF_* action bits.
pub mod action {
    /// `h`, `i`
    pub const ADDHDRS: u32 = 0x001;
    /// `b`
    pub const CHGBODY: u32 = 0x002;
    /// `m`
    pub const CHGHDRS: u32 = 0x010;
    /// `q`
    pub const QUARANTINE: u32 = 0x020;
    /// Macro lists in the `O` reply.
    pub const SETSYMLIST: u32 = 0x100;
}

/// SMFIP_* protocol bits.
pub mod proto {
    /// Don't send HELO.
    pub const NOHELO: u32 = 0x0000_0002;
    /// Don't send unknown commands.
    pub const NOUNKNOWN: u32 = 0x0000_0100;
    /// Don't send DATA.
    pub const NODATA: u32 = 0x0000_0200;
    /// No reply to headers.
    pub const NR_HDR: u32 = 0x0000_0080;
    /// No reply to CONNECT.
    pub const NR_CONN: u32 = 0x0000_1000;
    /// No reply to HELO.
    pub const NR_HELO: u32 = 0x0000_2000;
    /// No reply to MAIL.
    pub const NR_MAIL: u32 = 0x0000_4000;
    /// No reply to RCPT.
    pub const NR_RCPT: u32 = 0x0000_8000;
    /// No reply to DATA.
    pub const NR_DATA: u32 = 0x0001_0000;
    /// No reply to unknown commands.
    pub const NR_UNKN: u32 = 0x0002_0000;
    /// No reply to end of headers.
    pub const NR_EOH: u32 = 0x0004_0000;
    /// No reply to body chunks.
    pub const NR_BODY: u32 = 0x0008_0000;
    /// Header values keep their leading space.
    pub const HDR_LEADSPC: u32 = 0x0010_0000;
}

/// The highest protocol version spoken.
pub const VERSION: u32 = 6;

/// What the session needs from the agent.
#[derive(Clone, Debug)]
pub struct Options {
    /// The SMFIF_* actions wanted (only those the MTA offers are taken).
    pub actions: u32,
    /// Body bytes kept in memory before spooling to a temp file.
    pub body_in_memory: usize,
    /// Each recipient is put to the agent ([`Step::Recipient`]) instead
    /// of taken without a reply.
    pub judge_recipients: bool,
}

/// What to do after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send these.
    Reply(Vec<Response>),
    /// Nothing to send.
    Nothing,
    /// The message is complete: scan it, answer with modifications and a
    /// final verdict, then call [`Session::end_message`].
    EndOfMessage,
    /// The MTA said goodbye.
    Close,
    /// A recipient, with [`Options::judge_recipients`]: the agent takes
    /// it ([`Session::add_recipient`]) and continues, or refuses it with
    /// a reply code.
    Recipient(String),
}

/// The message being received.
#[derive(Debug, Default)]
pub struct Message {
    /// MAIL FROM, without angle brackets.
    pub sender: String,
    /// RCPT TO, without angle brackets.
    pub recipients: Vec<String>,
    /// The message as the MTA will deliver it: header fields in CRLF
    /// form as they come, the blank line, the body. Headers count
    /// against the memory limit as the body does (130 MB of header
    /// fields are spooled, not held).
    pub data: Spool,
    /// The blank line after the header fields is in `data`.
    eoh: bool,
    /// Header bytes, the blank line included once it is there.
    header_len: u64,
    /// Why the message cannot be judged (it could not be spooled).
    pub fault: Option<String>,
}

impl Message {
    /// Its size so far, header fields included.
    pub fn len(&self) -> u64 {
        self.data.len()
    }

    /// Whether nothing has come.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The body's size.
    pub fn body_len(&self) -> u64 {
        self.data.len() - self.header_len
    }

    fn push(&mut self, b: &[u8], limit: usize) {
        if self.fault.is_none()
            && let Err(e) = self.data.push_within(b, limit)
        {
            self.fault = Some(format!("spooling the message: {e}"));
        }
    }

    fn end_of_header(&mut self, limit: usize) {
        if !self.eoh {
            self.eoh = true;
            self.push(b"\r\n", limit);
            self.header_len = self.data.len();
        }
    }
}

/// One connection.
#[derive(Debug)]
pub struct Session {
    opts: Options,
    /// Negotiated version (0 before `O`).
    pub version: u32,
    /// Negotiated SMFIF_* actions.
    pub actions: u32,
    /// Negotiated SMFIP_* bits.
    pub protocol: u32,
    /// The client's host name and address, from CONNECT.
    pub client: (String, String),
    /// The latest value of each macro.
    pub macros: HashMap<String, String>,
    /// The message in progress.
    pub msg: Message,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `<a@b>` → `a@b`.
fn address(b: &[u8]) -> String {
    let s = text(b);
    let s = s.trim();
    s.strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(s)
        .to_string()
}

impl Session {
    /// A new connection.
    pub fn new(opts: Options) -> Session {
        Session {
            opts,
            version: 0,
            actions: 0,
            protocol: 0,
            client: Default::default(),
            macros: HashMap::new(),
            msg: Message::default(),
        }
    }

    /// A macro's value, looked up as `x` and `{x}` (as libmilter does).
    pub fn macro_value(&self, name: &str) -> Option<&str> {
        let bare = name.trim_start_matches('{').trim_end_matches('}');
        self.macros
            .get(bare)
            .or_else(|| self.macros.get(&format!("{{{bare}}}")))
            .map(String::as_str)
    }

    fn reply_unless(&self, nr: u32) -> Step {
        if self.protocol & nr != 0 {
            Step::Nothing
        } else {
            Step::Reply(vec![Response::Continue])
        }
    }

    /// Negotiates: the version is the lower of ours and the MTA's; of
    /// the actions and protocol bits we want, those the MTA offers.
    fn negotiate(
        &mut self,
        version: u32,
        actions: u32,
        offered: u32,
    ) -> Response {
        self.version = version.min(VERSION);
        // Version-1 defaults when the MTA sends no masks.
        let actions = if actions == 0 { 0x0f } else { actions };
        let mut want = self.opts.actions;
        if self.version >= 6 {
            want |= action::SETSYMLIST;
        }
        self.actions = want & actions;
        let nr_rcpt =
            if self.opts.judge_recipients { 0 } else { proto::NR_RCPT };
        let wanted = nr_rcpt
            | proto::NOHELO
            | proto::NOUNKNOWN
            | proto::NODATA
            | proto::NR_HDR
            | proto::NR_CONN
            | proto::NR_MAIL
            | proto::NR_EOH
            | proto::NR_BODY
            | proto::HDR_LEADSPC;
        self.protocol = wanted & offered;
        let macros = if self.actions & action::SETSYMLIST != 0 {
            // The queue id is only known from DATA on in Postfix. The
            // short lists for connect and RCPT replace Postfix's longer
            // defaults, which we have no use for.
            vec![
                (0, "j".to_string()),
                (2, "i {auth_authen}".to_string()),
                (3, "i".to_string()),
                (5, "i {auth_authen}".to_string()),
            ]
        } else {
            Vec::new()
        };
        Response::OptNeg {
            version: self.version,
            actions: self.actions,
            protocol: self.protocol,
            macros,
        }
    }

    /// Takes one command. A message that cannot be spooled is noted in
    /// [`Message::fault`] and the rest of it dropped.
    pub fn command(&mut self, cmd: Command<'_>) -> Step {
        match cmd {
            Command::OptNeg { version, actions, protocol } => {
                Step::Reply(vec![self.negotiate(version, actions, protocol)])
            }
            Command::Macro { pairs, .. } => {
                for (k, v) in pairs {
                    self.macros.insert(text(k), text(v));
                }
                Step::Nothing
            }
            Command::Connect { host, addr, .. } => {
                self.client = (text(host), text(addr));
                self.reply_unless(proto::NR_CONN)
            }
            Command::Helo(_) => self.reply_unless(proto::NR_HELO),
            Command::Mail(args) => {
                self.msg = Message {
                    sender: args
                        .first()
                        .map(|a| address(a))
                        .unwrap_or_default(),
                    ..Message::default()
                };
                self.reply_unless(proto::NR_MAIL)
            }
            Command::Rcpt(args) => {
                let rcpt = args.first().map(|r| address(r));
                match rcpt {
                    Some(r) if self.opts.judge_recipients => {
                        return Step::Recipient(r);
                    }
                    Some(r) => self.msg.recipients.push(r),
                    None => {}
                }
                self.reply_unless(proto::NR_RCPT)
            }
            Command::Data => self.reply_unless(proto::NR_DATA),
            Command::Header { name, value } => {
                let limit = self.opts.body_in_memory;
                if !self.msg.eoh {
                    let mut field = Vec::with_capacity(
                        name.len() + value.len() + value.len() / 64 + 4,
                    );
                    field.extend_from_slice(name);
                    field.push(b':');
                    if self.protocol & proto::HDR_LEADSPC == 0 {
                        field.push(b' ');
                    }
                    push_crlf(&mut field, value);
                    field.extend_from_slice(b"\r\n");
                    self.msg.push(&field, limit);
                    self.msg.header_len = self.msg.data.len();
                }
                self.reply_unless(proto::NR_HDR)
            }
            Command::Eoh => {
                self.msg.end_of_header(self.opts.body_in_memory);
                self.reply_unless(proto::NR_EOH)
            }
            Command::Body(chunk) => {
                let limit = self.opts.body_in_memory;
                self.msg.end_of_header(limit);
                self.msg.push(chunk, limit);
                self.reply_unless(proto::NR_BODY)
            }
            Command::Eom => Step::EndOfMessage,
            Command::Abort => {
                self.end_message();
                Step::Nothing
            }
            Command::Quit => Step::Close,
            Command::QuitNc => {
                self.end_message();
                self.macros.clear();
                self.client = Default::default();
                Step::Nothing
            }
            Command::Unknown(_) => self.reply_unless(proto::NR_UNKN),
        }
    }

    /// Takes a recipient the agent was asked about.
    pub fn add_recipient(&mut self, rcpt: String) {
        self.msg.recipients.push(rcpt);
    }

    /// Forgets the message (after its verdict, or an abort); connection
    /// data stays.
    pub fn end_message(&mut self) {
        self.msg = Message::default();
        for k in ["i", "{auth_authen}", "auth_authen"] {
            self.macros.remove(k);
        }
    }

    /// The message as the MTA will deliver it (minus its own newest
    /// Received field, which Postfix does not show milters): header
    /// fields in CRLF form, a blank line, the body.
    ///
    /// Without a copy: the spool's memory, or its temp file mapped.
    ///
    /// # Errors
    /// A spooled body could not be written, or cannot be mapped.
    pub fn assemble(&mut self) -> io::Result<View<'_>> {
        self.msg.end_of_header(self.opts.body_in_memory);
        if let Some(f) = &self.msg.fault {
            return Err(io::Error::other(f.clone()));
        }
        self.msg.data.view()
    }
}

/// Appends `v` with every bare LF made CRLF (folded header lines come
/// joined by LF).
fn push_crlf(out: &mut Vec<u8>, v: &[u8]) {
    let mut prev = 0u8;
    for &b in v {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> Options {
        Options {
            actions: action::ADDHDRS
                | action::CHGHDRS
                | action::CHGBODY
                | action::QUARANTINE,
            body_in_memory: 16,
            judge_recipients: false,
        }
    }

    #[test]
    fn negotiation_takes_only_what_the_mta_offers() {
        // Postfix 3.7: version 6, all actions, all protocol bits.
        let mut s = Session::new(opts());
        let r = s.command(Command::OptNeg {
            version: 6,
            actions: 0x1ff,
            protocol: 0x1f_ffff,
        });
        let Step::Reply(r) = r else { panic!() };
        let Response::OptNeg { version, actions, protocol, macros } = &r[0]
        else {
            panic!()
        };
        assert_eq!(*version, 6);
        assert_eq!(*actions, 0x133);
        assert!(
            protocol & proto::NR_BODY != 0
                && protocol & proto::HDR_LEADSPC != 0
        );
        assert_eq!(macros[1], (2, "i {auth_authen}".to_string()));
        // Every event that needs no reply gets none.
        assert_eq!(
            s.command(Command::Connect {
                host: b"h",
                family: b'4',
                port: 1,
                addr: b"1.2.3.4"
            }),
            Step::Nothing
        );
        assert_eq!(s.command(Command::Body(b"x")), Step::Nothing);

        // An old MTA (version 2, no NR bits, fewer actions): we answer
        // version 2, ask nothing it lacks, and reply to every event.
        let mut s = Session::new(opts());
        let Step::Reply(r) = s.command(Command::OptNeg {
            version: 2,
            actions: 0x13,
            protocol: 0x7f,
        }) else {
            panic!()
        };
        assert_eq!(
            r[0],
            Response::OptNeg {
                version: 2,
                actions: 0x13,
                protocol: proto::NOHELO,
                macros: vec![]
            }
        );
        for c in [
            Command::Connect { host: b"h", family: b'U', port: 0, addr: b"" },
            Command::Helo(b"x"),
            Command::Mail(vec![b"<a@b>"]),
            Command::Rcpt(vec![b"<c@d>"]),
            Command::Header { name: b"Subject", value: b"x" },
            Command::Eoh,
            Command::Body(b"x"),
        ] {
            assert_eq!(s.command(c), Step::Reply(vec![Response::Continue]));
        }
        assert_eq!(s.command(Command::Eom), Step::EndOfMessage);
        // Version 1 defaults when the masks are zero.
        let mut s = Session::new(opts());
        s.command(Command::OptNeg { version: 2, actions: 0, protocol: 0 });
        assert_eq!((s.actions, s.protocol), (0x03, 0));
    }

    #[test]
    fn recipients_put_to_the_agent_get_a_reply() {
        let mut s = Session::new(Options { judge_recipients: true, ..opts() });
        let Step::Reply(r) = s.command(Command::OptNeg {
            version: 6,
            actions: 0x1ff,
            protocol: 0x1f_ffff,
        }) else {
            panic!()
        };
        let Response::OptNeg { protocol, .. } = r[0] else { panic!() };
        assert_eq!(protocol & proto::NR_RCPT, 0, "RCPT is answered");
        s.command(Command::Mail(vec![b"<a@b>"]));
        let step = s.command(Command::Rcpt(vec![b"<c@d>"]));
        assert_eq!(step, Step::Recipient("c@d".into()));
        s.add_recipient("c@d".into());
        assert_eq!(
            s.command(Command::Rcpt(vec![b"<e@f>"])),
            Step::Recipient("e@f".into())
        );
        assert_eq!(s.msg.recipients, ["c@d"]);
    }

    #[test]
    fn message_is_assembled_with_crlf_and_body_spooled() {
        let mut s = Session::new(opts());
        s.command(Command::OptNeg {
            version: 6,
            actions: 0x1ff,
            protocol: 0x1f_ffff,
        });
        s.command(Command::Mail(vec![b"<a@b>", b"SIZE=9"]));
        s.command(Command::Rcpt(vec![b"<c@d>"]));
        s.command(Command::Rcpt(vec![b"<e@f>"]));
        s.command(Command::Macro {
            stage: b'E',
            pairs: vec![(b"i", b"Q123")],
        });
        s.command(Command::Header { name: b"Subject", value: b" a\n\tb" });
        s.command(Command::Header { name: b"X", value: b" y" });
        // Past the 16-byte memory limit: spooled to a file.
        s.command(Command::Body(b"line one\r\nline "));
        s.command(Command::Body(b"two\r\n"));
        assert!(!s.msg.data.in_memory());
        assert_eq!(s.msg.body_len(), 20);
        assert_eq!(s.msg.sender, "a@b");
        assert_eq!(s.msg.recipients, ["c@d", "e@f"]);
        assert_eq!(s.macro_value("i"), Some("Q123"));
        assert_eq!(
            &*s.assemble().unwrap(),
            b"Subject: a\r\n\tb\r\nX: y\r\n\r\nline one\r\nline two\r\n"
        );
        // Abort: the message goes, the connection stays.
        s.command(Command::Abort);
        assert!(s.msg.recipients.is_empty() && s.msg.is_empty());
        assert_eq!(s.macro_value("i"), None);
        assert_eq!(s.version, 6);
        assert_eq!(s.command(Command::Quit), Step::Close);
    }
}
