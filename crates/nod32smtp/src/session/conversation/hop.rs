//! The next hop: opened when a transaction needs it, greeted with the
//! client's EHLO, STARTTLS towards it when configured, XFORWARD when
//! offered; STARTTLS towards the client; the session kept after QUIT.

use super::*;

/// Why a next-hop session is opened.
pub(super) enum Purpose {
    /// The client's EHLO, when nothing is known of the next hop yet.
    Ehlo,
    /// The client's first MAIL, passed on once the session is open.
    Mail { line: Vec<u8>, args: String },
}

/// Who waits for the next hop's reply to EHLO.
pub(super) enum Asker {
    /// The client's EHLO, to an open session.
    Client,
    /// A session being opened.
    Opening(Purpose),
}

/// Which EHLO of a next-hop session a reply is to.
pub(super) enum Stage {
    First,
    /// Again inside TLS (whose protocol and cipher suite are logged).
    Tls(Option<String>),
    /// On a new connection in clear, after TLS failed with `may`.
    Fallback,
}

/// What a [`Request::OpenHop`] is for.
pub(super) enum Opening {
    Session(Purpose),
    /// The clear session after TLS to the next hop failed.
    Fallback {
        line: Vec<u8>,
        asker: Asker,
    },
}

impl Conversation {
    pub(super) fn hop_reply(&mut self, then: Then, r: Reply) {
        match then {
            Then::Helo => {
                if let Some(h) = &mut self.hop {
                    h.plain();
                }
                self.say(&r.wire());
                self.ready();
            }
            Then::Ehlo { line, stage, asker } => {
                self.hop_ehlo_reply(line, stage, asker, r);
            }
            Then::StartTls { line, asker } => {
                if r.code == 220 {
                    self.request(
                        Request::HopTls,
                        Wait::HopTls { line, asker },
                    );
                } else {
                    let e = format!("STARTTLS refused: {}", r.code);
                    self.tls_failed(line, asker, &e);
                }
            }
            Then::OpenHelo(purpose) => {
                // No ESMTP after HELO, whatever a kept session had.
                if let Some(h) = &mut self.hop {
                    h.plain();
                }
                self.greeted(purpose, r);
            }
            Then::Replay { purpose, ehlo, rest } => {
                if !r.ok() {
                    self.log(
                        Level::Warning,
                        format!("the next hop refused XFORWARD: {}", r.code),
                    );
                }
                self.replay(purpose, ehlo, rest);
            }
            Then::KeepRset => {
                if r.ok() {
                    self.request(Request::Keep, Wait::Keep);
                } else {
                    self.quit_hop();
                }
            }
            _ => self.end(Ending::Done),
        }
    }

    /// XFORWARD (Postfix's content filter client says who the client
    /// was): taken only from `xforward_hosts`, passed on only to a next
    /// hop that offers it, else kept for the log line.
    pub(super) fn xforward(&mut self, line: Vec<u8>, args: String) {
        if !self.o.xforward_ok {
            if self.drained(&line) {
                self.say(b"550 5.7.0 Error: insufficient authorization\r\n");
                self.ready();
            }
            return;
        }
        if self.hop.is_some_and(|h| h.xforward) {
            return self.pass("XFORWARD".into(), line, args);
        }
        if !self.drained(&line) {
            return;
        }
        let ok = crate::one(250, "2.0.0 Ok");
        self.note("XFORWARD", &args, &ok);
        if self.hop.is_none() {
            if self.xforward.len() >= MAX_XFORWARD {
                self.say(b"503 5.5.1 Error: too many XFORWARD commands\r\n");
                return self.ready();
            }
            self.xforward.push(line);
        }
        self.say(&ok.wire());
        self.ready();
    }

    /// A next hop that refuses a new session (its greeting or EHLO): the
    /// client hears 421, never the next hop's 5xx, which would make it
    /// bounce a message that a retry could deliver.
    fn hop_refused(&mut self, what: &str, r: &Reply) {
        self.log(
            Level::Error,
            format!(
                "the next hop refused {what}: {} {}",
                r.code,
                r.lines.join(" / ")
            ),
        );
        self.say(UNAVAILABLE);
    }

    /// The next-hop session, kept from an earlier client or new, greeted
    /// with this client's EHLO (or HELO), in TLS when configured, and
    /// told what XFORWARD said; then `purpose` goes on. If it cannot be
    /// had, the session ends (the client is told).
    pub(super) fn open(&mut self, purpose: Purpose) {
        // A kept session the next hop has closed (or is closing, 421)
        // since is not given; one that closes just now costs the client
        // a 421, not a message.
        self.request(
            Request::OpenHop { reuse: true },
            Wait::Open(Opening::Session(purpose)),
        );
    }

    pub(super) fn opened(&mut self, o: Opening, x: Result<Opened, String>) {
        match (o, x) {
            (Opening::Session(p), Ok(Opened::Kept { tls })) => {
                self.hop = Some(Hop { tls, ..Hop::default() });
                self.greet(p);
            }
            (Opening::Session(p), Ok(Opened::New(greeting))) => {
                if greeting.ok() {
                    self.hop = Some(Hop::default());
                    self.greet(p);
                } else {
                    self.out.push(Action::CloseHop);
                    self.hop_refused("its greeting", &greeting);
                    self.finish();
                }
            }
            (Opening::Session(_), Err(e)) => {
                let text =
                    format!("next hop {} unavailable: {e}", self.o.next_hop);
                self.log(Level::Error, text);
                // The next client's EHLO asks again, and is told 421
                // while it is down (a health check sees it).
                self.out.push(Action::ForgetCaps);
                self.say(UNAVAILABLE);
                self.finish();
            }
            (Opening::Fallback { line, asker }, x) => {
                let tls = match x {
                    Ok(Opened::New(g)) if g.ok() => false,
                    Ok(Opened::Kept { tls }) => tls,
                    Ok(Opened::New(_)) => {
                        self.out.push(Action::CloseHop);
                        self.say(UNAVAILABLE);
                        return self.finish();
                    }
                    Err(_) => {
                        self.say(UNAVAILABLE);
                        return self.finish();
                    }
                };
                self.hop = Some(Hop { tls, ..Hop::default() });
                self.send(&line);
                let stage = Stage::Fallback;
                self.expect(Then::Ehlo { line, stage, asker });
            }
        }
    }

    /// The new session's HELO or EHLO: the client's own greeting.
    fn greet(&mut self, p: Purpose) {
        let (said_helo, arg) = match &self.helo {
            Some((h, a)) => (*h, a.clone()),
            None => (false, self.o.host.clone()),
        };
        // A client's HELO is still an EHLO to the next hop when TLS to it
        // is configured: only EHLO leads to STARTTLS, and with "encrypt"
        // or "verify" nothing may go in clear.
        if said_helo && self.o.hop_tls.is_none() {
            self.send(format!("HELO {arg}").as_bytes());
            self.expect(Then::OpenHelo(p));
        } else {
            self.hop_ehlo(
                format!("EHLO {arg}").into_bytes(),
                Asker::Opening(p),
            );
        }
    }

    /// A new session's greeting is answered: told what XFORWARD said,
    /// it serves `p`.
    fn greeted(&mut self, p: Purpose, r: Reply) {
        if !r.ok() {
            self.hop = None;
            self.out.push(Action::CloseHop);
            self.hop_refused("EHLO", &r);
            return self.finish();
        }
        let xs = std::mem::take(&mut self.xforward);
        self.replay(p, r, xs.into_iter());
    }

    fn replay(
        &mut self,
        purpose: Purpose,
        ehlo: Reply,
        mut rest: std::vec::IntoIter<Vec<u8>>,
    ) {
        if self.hop.is_some_and(|h| h.xforward)
            && let Some(x) = rest.next()
        {
            self.send(&x);
            return self.expect(Then::Replay { purpose, ehlo, rest });
        }
        match purpose {
            Purpose::Ehlo => self.ehlo_reply(ehlo),
            Purpose::Mail { line, args } => {
                self.pass_on("MAIL".into(), line, args);
            }
        }
    }

    /// EHLO to the open next hop, with STARTTLS when configured; its
    /// reply goes to `asker`, or the session ends (the client is told
    /// why).
    fn hop_ehlo(&mut self, line: Vec<u8>, asker: Asker) {
        self.send(&line);
        self.expect(Then::Ehlo { line, stage: Stage::First, asker });
    }

    fn hop_ehlo_reply(
        &mut self,
        line: Vec<u8>,
        stage: Stage,
        asker: Asker,
        r: Reply,
    ) {
        if let Some(h) = &mut self.hop {
            h.learn(&r);
        }
        let in_tls = self.hop.is_some_and(|h| h.tls);
        match stage {
            Stage::First => {
                if r.ok()
                    && !in_tls
                    && let Some(level) = self.o.hop_tls
                {
                    if offers(&r, "STARTTLS") {
                        self.send(b"STARTTLS");
                        return self.expect(Then::StartTls { line, asker });
                    }
                    if level != ServerTls::May {
                        self.log(
                            Level::Error,
                            "the next hop offers no STARTTLS and server_tls requires it".into(),
                        );
                        self.say(b"421 4.7.4 nod32smtp: the next hop offers no TLS, try again later\r\n");
                        return self.finish();
                    }
                }
            }
            Stage::Tls(Some(t)) => {
                self.log(Level::Detail, format!("TLS to the next hop: {t}"));
            }
            Stage::Tls(None) | Stage::Fallback => {}
        }
        if r.ok() {
            self.out.push(Action::RememberCaps(r.clone()));
        }
        match asker {
            Asker::Client => self.ehlo_reply(r),
            Asker::Opening(p) => self.greeted(p, r),
        }
    }

    pub(super) fn hop_tls(
        &mut self,
        line: Vec<u8>,
        asker: Asker,
        t: Option<String>,
    ) {
        self.hop = Some(Hop { tls: true, ..Hop::default() });
        self.send(&line);
        self.expect(Then::Ehlo { line, stage: Stage::Tls(t), asker });
    }

    /// STARTTLS to the next hop gave no TLS session: the old one is
    /// gone.
    pub(super) fn tls_failed(&mut self, line: Vec<u8>, asker: Asker, e: &str) {
        self.hop = None;
        self.out.push(Action::CloseHop);
        if self.o.hop_tls == Some(ServerTls::May) {
            // Opportunistic: as Postfix, go on in clear on a new session
            // rather than not at all.
            self.log(
                Level::Warning,
                format!("TLS to the next hop failed ({e}); going on without"),
            );
            self.request(
                Request::OpenHop { reuse: false },
                Wait::Open(Opening::Fallback { line, asker }),
            );
        } else {
            self.log(Level::Error, format!("TLS to the next hop failed: {e}"));
            self.say(b"421 4.7.5 nod32smtp: TLS to the next hop failed, try again later\r\n");
            self.finish();
        }
    }

    pub(super) fn ehlo(&mut self, line: Vec<u8>, arg: &str) {
        if !self.drained(&line) {
            return;
        }
        self.helo = Some((false, arg.to_string()));
        if self.hop.is_some() {
            self.hop_ehlo(line, Asker::Client);
        } else {
            // Known for this configuration only: a reload may name
            // another next hop.
            self.request(Request::Caps, Wait::Caps);
        }
    }

    pub(super) fn caps(&mut self, known: Option<Reply>) {
        match known {
            Some(r) => self.ehlo_reply(r),
            // Nothing known of the next hop yet: asked now, once.
            None => self.open(Purpose::Ehlo),
        }
    }

    /// The client's EHLO answered from the next hop's.
    fn ehlo_reply(&mut self, r: Reply) {
        if !r.ok() {
            if self.hop.is_some() {
                self.say(&r.wire());
            }
            return self.ready();
        }
        self.reset();
        // Our own name: the next hop's first line may echo another
        // client's EHLO.
        let mut lines = vec![self.o.host.clone()];
        for l in r.lines.iter().skip(1) {
            let kw =
                l.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
            if kw == "XFORWARD" && !self.o.xforward_ok {
                continue;
            }
            if PASSED.contains(&kw.as_str()) {
                if kw == "SIZE"
                    && let Some(n) = l
                        .split_whitespace()
                        .nth(1)
                        .and_then(|n| n.parse().ok())
                    && n > 0
                {
                    self.max_message = n;
                }
                lines.push(l.clone());
            }
        }
        // Chunks are joined here and sent on by DATA if the next hop
        // no longer has CHUNKING when the message leaves.
        self.chunking = offers(&r, "CHUNKING");
        if self.chunking {
            lines.push("CHUNKING".into());
        }
        if self.o.offer_tls && !self.client_tls {
            lines.push("STARTTLS".into());
        }
        self.say(&Reply { code: r.code, lines }.wire());
        self.ready();
    }

    pub(super) fn helo(&mut self, line: &[u8], arg: &str) {
        if !self.drained(line) {
            return;
        }
        self.reset();
        self.helo = Some((true, arg.to_string()));
        self.chunking = false;
        if self.hop.is_some() {
            self.send(line);
            self.expect(Then::Helo);
        } else {
            let hi = format!("250 {}\r\n", self.o.host);
            self.say(hi.as_bytes());
            self.ready();
        }
    }

    pub(super) fn starttls(&mut self, line: &[u8]) {
        if !self.drained(line) {
            return;
        }
        if !self.o.offer_tls {
            self.say(b"502 5.5.1 Error: command not implemented\r\n");
        } else if self.client_tls {
            self.say(b"554 5.5.1 Error: TLS already active\r\n");
        } else if line.len() > "STARTTLS".len() {
            self.say(b"501 5.5.4 Syntax: STARTTLS\r\n");
        } else {
            self.say(b"220 2.0.0 Ready to start TLS\r\n");
            self.flush_held();
            // Commands sent in clear behind STARTTLS would otherwise run
            // as if they came inside TLS (CVE-2011-0411): the driver
            // drops them.
            return self.request(Request::ClientTls, Wait::ClientTls);
        }
        self.ready();
    }

    pub(super) fn client_tls(&mut self, t: Option<String>) {
        if let Some(t) = t {
            let text = format!("TLS from [{}]: {t}", self.o.peer);
            self.log(Level::Detail, text);
        }
        self.client_tls = true;
        // RFC 3207 §4.2: everything known before TLS is forgotten.
        self.reset();
        self.xaddr.clear();
        self.xname.clear();
        self.xident.clear();
        self.helo = None;
        self.xforward.clear();
        self.ready();
    }

    pub(super) fn quit(&mut self, line: &[u8]) {
        if !self.drained(line) {
            return;
        }
        self.say(b"221 2.0.0 Bye\r\n");
        self.flush_held();
        // The next-hop session is kept for the next client.
        if self.hop.is_some() {
            self.send(b"RSET");
            self.expect(Then::KeepRset);
        } else {
            self.end(Ending::Done);
        }
    }

    pub(super) fn kept(&mut self, kept: bool) {
        if kept {
            self.hop = None;
            self.end(Ending::Done);
        } else {
            self.quit_hop();
        }
    }

    pub(super) fn quit_hop(&mut self) {
        self.send(b"QUIT");
        self.expect(Then::Quit);
    }
}

/// Extensions passed on to the client when the next hop offers them.
/// STARTTLS is nod32smtp's own on each side; CHUNKING is added when the
/// next hop has it.
const PASSED: &[&str] = &[
    "PIPELINING",
    "SIZE",
    "8BITMIME",
    "SMTPUTF8",
    "DSN",
    "ENHANCEDSTATUSCODES",
    "XFORWARD",
];

/// XFORWARD lines kept for a next hop not yet opened, at most (Postfix
/// sends two).
const MAX_XFORWARD: usize = 16;
