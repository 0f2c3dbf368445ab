//! The next hop: opened when a transaction needs it, greeted with the
//! client's EHLO, STARTTLS towards the client, XFORWARD when offered.

use super::*;

impl Session<'_> {
    /// XFORWARD (Postfix's content filter client says who the client
    /// was): taken only from `xforward_hosts`, passed on only to a next
    /// hop that offers it, else kept for the log line.
    pub(super) fn xforward(
        &mut self,
        line: &[u8],
        args: String,
    ) -> io::Result<Next> {
        if !self.xforward_ok {
            self.drain()?;
            self.say(b"550 5.7.0 Error: insufficient authorization\r\n");
            return Ok(Next::Go);
        }
        if self.up.as_ref().is_some_and(|u| u.xforward) {
            return self.pass("XFORWARD", line, args);
        }
        self.drain()?;
        let ok = one(250, "2.0.0 Ok");
        self.note("XFORWARD", &args, &ok);
        if self.up.is_none() {
            if self.xforward.len() >= MAX_XFORWARD {
                self.say(b"503 5.5.1 Error: too many XFORWARD commands\r\n");
                return Ok(Next::Go);
            }
            self.xforward.push(line.to_vec());
        }
        self.say(&ok.wire());
        Ok(Next::Go)
    }

    /// A next hop that refuses a new session (its greeting or EHLO): the
    /// client hears 421, never the next hop's 5xx, which would make it
    /// bounce a message that a retry could deliver.
    pub(super) fn hop_refused(&mut self, what: &str, r: &Reply) {
        self.st.log.log(
            Level::Error,
            &format!(
                "the next hop refused {what}: {} {}",
                r.code,
                r.lines.join(" / ")
            ),
        );
        self.say(UNAVAILABLE);
    }

    /// The next-hop session, kept from an earlier client or new, greeted
    /// with this client's EHLO (or HELO), in TLS when configured, and
    /// told what XFORWARD said; its reply to EHLO. `None`: the session
    /// ends (the client has been told).
    pub(super) fn open_next_hop(&mut self) -> io::Result<Option<Reply>> {
        // A kept session the next hop has closed (or is closing, 421)
        // since is dropped; one that closes just now costs the client a
        // 421, not a message.
        let spare = {
            let mut kept =
                self.sh.spare.lock().unwrap_or_else(|p| p.into_inner());
            std::iter::from_fn(|| kept.pop()).find(|u| {
                u.out.is_empty()
                    && u.r.buffer().is_empty()
                    && u.r.get_ref().quiet()
            })
        };
        let up = match spare {
            Some(u) => u,
            None => {
                match Upstream::connect(
                    self.sh,
                    &self.st,
                    self.st.config.smtp.timeout,
                ) {
                    Ok((u, greeting)) if greeting.ok() => u,
                    Ok((_, greeting)) => {
                        self.hop_refused("its greeting", &greeting);
                        return Ok(None);
                    }
                    Err(e) => {
                        let s = &self.st.config.smtp;
                        self.st.log.log(
                            Level::Error,
                            &format!(
                                "next hop {}:{} unavailable: {e}",
                                s.server_addr, s.server_port
                            ),
                        );
                        // The next client's EHLO asks again, and is told
                        // 421 while it is down (a health check sees it).
                        *self
                            .sh
                            .caps
                            .lock()
                            .unwrap_or_else(|p| p.into_inner()) = None;
                        self.say(UNAVAILABLE);
                        return Ok(None);
                    }
                }
            }
        };
        self.up = Some(up);
        let (said_helo, arg) = match &self.helo {
            Some((h, a)) => (*h, a.clone()),
            None => (false, self.st.host.clone()),
        };
        // A client's HELO is still an EHLO to the next hop when TLS to it
        // is configured: only EHLO leads to STARTTLS, and with "encrypt"
        // or "verify" nothing may go in clear.
        let r = if said_helo && self.tls.next_hop.is_none() {
            let r = self
                .up()
                .command(format!("HELO {arg}").as_bytes())
                .inspect_err(|_| self.say(LOST))?;
            // No ESMTP after HELO, whatever a kept session had.
            let up = self.up();
            up.pipelining = false;
            up.chunking = false;
            up.xforward = false;
            r
        } else {
            match self.hop_ehlo(format!("EHLO {arg}").as_bytes())? {
                Some(r) => r,
                None => return Ok(None),
            }
        };
        if !r.ok() {
            self.up = None;
            self.hop_refused("EHLO", &r);
            return Ok(None);
        }
        for x in std::mem::take(&mut self.xforward) {
            if !self.up().xforward {
                break;
            }
            let xr = self.up().command(&x).inspect_err(|_| self.say(LOST))?;
            if !xr.ok() {
                self.st.log.log(
                    Level::Warning,
                    &format!("the next hop refused XFORWARD: {}", xr.code),
                );
            }
        }
        Ok(Some(r))
    }

    /// EHLO to the open next hop, with STARTTLS when configured; its
    /// reply, or `None` when the session must end (the client has been
    /// told why).
    pub(super) fn hop_ehlo(
        &mut self,
        line: &[u8],
    ) -> io::Result<Option<Reply>> {
        let first = self.up().ehlo(line);
        let mut r = match first {
            Ok(r) => r,
            Err(_) => {
                self.say(LOST);
                return Ok(None);
            }
        };
        let level = self.st.config.smtp.server_tls;
        let in_tls = matches!(self.up().r.get_ref(), Stream::Client(_));
        if r.ok()
            && !in_tls
            && let Some(cfg) = self.tls.next_hop.clone()
        {
            if offers(&r, "STARTTLS") {
                let name = self.st.config.smtp.server_tls_name.clone();
                let up = self.up.take().expect("next hop session");
                match up.starttls(&cfg, &name) {
                    Ok(u) => {
                        self.up = Some(u);
                        r = match self.up().ehlo(line) {
                            Ok(r) => r,
                            Err(_) => {
                                self.say(LOST);
                                return Ok(None);
                            }
                        };
                        if let Some(t) = self.up().r.get_ref().tls() {
                            self.st.log.log(
                                Level::Detail,
                                &format!("TLS to the next hop: {t}"),
                            );
                        }
                    }
                    Err(e) if level == ServerTls::May => {
                        // Opportunistic: as Postfix, go on in clear on
                        // a new session rather than not at all.
                        self.st.log.log(
                            Level::Warning,
                            &format!("TLS to the next hop failed ({e}); going on without"),
                        );
                        match Upstream::connect(
                            self.sh,
                            &self.st,
                            self.st.config.smtp.timeout,
                        ) {
                            Ok((u, g)) if g.ok() => self.up = Some(u),
                            _ => {
                                self.say(UNAVAILABLE);
                                return Ok(None);
                            }
                        }
                        r = match self.up().ehlo(line) {
                            Ok(r) => r,
                            Err(_) => {
                                self.say(LOST);
                                return Ok(None);
                            }
                        };
                    }
                    Err(e) => {
                        self.st.log.log(
                            Level::Error,
                            &format!("TLS to the next hop failed: {e}"),
                        );
                        self.say(b"421 4.7.5 nod32smtp: TLS to the next hop failed, try again later\r\n");
                        return Ok(None);
                    }
                }
            } else if level != ServerTls::May {
                self.st.log.log(
                    Level::Error,
                    "the next hop offers no STARTTLS and server_tls requires it",
                );
                self.say(b"421 4.7.4 nod32smtp: the next hop offers no TLS, try again later\r\n");
                return Ok(None);
            }
        }
        if r.ok() {
            *self.sh.caps.lock().unwrap_or_else(|p| p.into_inner()) = Some((
                Arc::clone(&self.st),
                Reply { code: r.code, lines: r.lines.clone() },
            ));
        }
        Ok(Some(r))
    }

    pub(super) fn ehlo(&mut self, line: &[u8], arg: &str) -> io::Result<Next> {
        self.drain()?;
        self.helo = Some((false, arg.to_string()));
        // Known for this configuration only: a reload may name another
        // next hop.
        let cached = self
            .sh
            .caps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|(of, _)| Arc::ptr_eq(of, &self.st))
            .map(|(_, r)| Reply { code: r.code, lines: r.lines.clone() });
        let r = match (self.up.is_some(), cached) {
            (true, _) => self.hop_ehlo(line)?,
            (false, Some(r)) => Some(r),
            // Nothing known of the next hop yet: asked now, once.
            (false, None) => self.open_next_hop()?,
        };
        let Some(r) = r else { return Ok(Next::End) };
        if !r.ok() {
            if self.up.is_some() {
                self.say(&r.wire());
            }
            return Ok(Next::Go);
        }
        self.reset();
        // Our own name: the next hop's first line may echo another
        // client's EHLO.
        let mut lines = vec![self.st.host.clone()];
        for l in r.lines.iter().skip(1) {
            let kw =
                l.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
            if kw == "XFORWARD" && !self.xforward_ok {
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
        if self.tls.offer.is_some()
            && matches!(self.c.get_ref(), Stream::Plain(_))
        {
            lines.push("STARTTLS".into());
        }
        self.say(&Reply { code: r.code, lines }.wire());
        Ok(Next::Go)
    }

    pub(super) fn starttls(&mut self, line: &[u8]) -> io::Result<Next> {
        self.drain()?;
        let Some(cfg) = self.tls.offer.clone() else {
            self.say(b"502 5.5.1 Error: command not implemented\r\n");
            return Ok(Next::Go);
        };
        if !matches!(self.c.get_ref(), Stream::Plain(_)) {
            self.say(b"554 5.5.1 Error: TLS already active\r\n");
            return Ok(Next::Go);
        }
        if line.len() > "STARTTLS".len() {
            self.say(b"501 5.5.4 Syntax: STARTTLS\r\n");
            return Ok(Next::Go);
        }
        self.say(b"220 2.0.0 Ready to start TLS\r\n");
        self.flush()?;
        if !self.c.buffer().is_empty() {
            // Commands sent in clear behind STARTTLS would otherwise run
            // as if they came inside TLS (CVE-2011-0411): dropped.
            self.st.log.log(
                Level::Warning,
                &format!(
                    "[{}] sent commands behind STARTTLS; dropped",
                    self.peer
                ),
            );
        }
        let c = std::mem::replace(
            &mut self.c,
            BufReader::with_capacity(0, Stream::Gone),
        );
        let plain = c.into_inner().into_plain()?;
        let s = Stream::accept(plain, &cfg)?;
        if let Some(t) = s.tls() {
            self.st
                .log
                .log(Level::Detail, &format!("TLS from [{}]: {t}", self.peer));
        }
        self.c = BufReader::with_capacity(1 << 16, s);
        // RFC 3207 §4.2: everything known before TLS is forgotten.
        self.reset();
        self.xaddr.clear();
        self.xname.clear();
        self.xident.clear();
        self.helo = None;
        self.xforward.clear();
        Ok(Next::Go)
    }
}
