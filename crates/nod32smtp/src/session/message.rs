//! The message itself: DATA and BDAT read into the spool, the scan
//! through `nod32_agent::deliver`, and the message passed on or refused.

use super::*;

impl Session<'_> {
    pub(super) fn envelope(&self) -> Envelope {
        Envelope {
            sender: self.sender.clone().unwrap_or_default(),
            recipients: self.rcpts.clone(),
            client: if self.xaddr.is_empty() {
                format!("[{}]", self.peer)
            } else {
                format!("{}[{}]", self.xname, self.xaddr)
            },
            queue_id: self.xident.clone(),
            ..Envelope::default()
        }
    }

    pub(super) fn data(&mut self) -> io::Result<Next> {
        self.drain()?;
        if self.sender.is_none() {
            self.say(b"503 5.5.1 Error: need MAIL command\r\n");
            return Ok(Next::Go);
        }
        if self.rcpts.is_empty() {
            self.say(b"554 5.5.1 Error: no valid recipients\r\n");
            return Ok(Next::Go);
        }
        if self.bdat.is_some() {
            self.say(b"503 5.5.1 Error: DATA after BDAT\r\n");
            return Ok(Next::Go);
        }
        self.say(b"354 End data with <CR><LF>.<CR><LF>\r\n");
        self.flush()?;
        self.limit(self.st.config.smtp.min_data_rate);
        match read_message(&mut self.c, self.max_message, &mut self.spool)? {
            Ok(()) => self.deliver(),
            Err(()) => {
                self.reset();
                self.up().command(b"RSET").inspect_err(|_| self.say(LOST))?;
                self.say(b"552 5.3.4 Error: message too big\r\n");
                Ok(Next::Go)
            }
        }
    }

    pub(super) fn bdat(&mut self, args: &str) -> io::Result<Next> {
        self.drain()?;
        let mut args = args.split_ascii_whitespace();
        let size = args.next().and_then(|n| n.parse::<u64>().ok());
        let last = match args.next() {
            None => false,
            Some(l) if l.eq_ignore_ascii_case("LAST") => true,
            Some(_) => false,
        };
        let Some(size) = size.filter(|_| args.next().is_none()) else {
            // Without a size there is no telling where the next command
            // starts.
            self.say(b"501 5.5.4 Syntax: BDAT size [LAST]\r\n");
            return Ok(Next::End);
        };
        if size > self.max_message {
            // Larger than any message taken: refused at once, and the
            // session ends, as its chunk is not worth reading.
            self.say(b"552 5.3.4 Error: message too big\r\n");
            return Ok(Next::End);
        }
        let refusal = if !self.chunking {
            Some(one(502, "5.5.1 Error: command not implemented"))
        } else if self.sender.is_none() {
            Some(one(503, "5.5.1 Error: need MAIL command"))
        } else if self.rcpts.is_empty() {
            Some(one(554, "5.5.1 Error: no valid recipients"))
        } else if let Some(Some(r)) = &self.bdat {
            Some(Reply { code: r.code, lines: r.lines.clone() })
        } else if self.spool.len().saturating_add(size) > self.max_message {
            Some(one(552, "5.3.4 Error: message too big"))
        } else {
            None
        };
        let keep = refusal.is_none();
        self.limit(self.st.config.smtp.min_data_rate);
        read_chunk(&mut self.c, size, &mut self.spool, keep)?;
        if let Some(r) = refusal {
            if self.sender.is_some() && !self.rcpts.is_empty() {
                // The transaction stays failed until its last chunk.
                self.bdat =
                    Some(Some(Reply { code: r.code, lines: r.lines.clone() }));
                self.spool.clear();
            }
            self.say(&r.wire());
            if last && self.bdat.is_some() {
                self.reset();
                self.up().command(b"RSET").inspect_err(|_| self.say(LOST))?;
            }
            return Ok(Next::Go);
        }
        if !last {
            self.bdat = Some(None);
            self.say(
                format!("250 2.0.0 {size} octets received\r\n").as_bytes(),
            );
            return Ok(Next::Go);
        }
        self.deliver()
    }

    /// The message is in the spool: scan it and send it on or refuse it.
    pub(super) fn deliver(&mut self) -> io::Result<Next> {
        if self.spool.has_bare_line_ends()
            && self.st.config.smtp.bare_newline == BareNewline::Reject
        {
            self.st.log.log(
                Level::Warning,
                &format!(
                    "[{}] message with a bare CR or LF refused (bare_newline = reject)",
                    self.peer
                ),
            );
            self.reset();
            self.up().command(b"RSET").inspect_err(|_| self.say(LOST))?;
            self.say(b"550 5.5.2 nod32smtp: bare CR or LF in the message, refused\r\n");
            return Ok(Next::Go);
        }
        let env = self.envelope();
        let reply = self.message(env);
        self.reset();
        match reply {
            Ok(r) => {
                if !r.ok() {
                    // A refused DATA or BDAT chunk can leave the next
                    // hop's transaction open; the client's next MAIL
                    // must not meet "nested MAIL command".
                    if !self.up().command(b"RSET").is_ok_and(|r| r.ok()) {
                        // Its reply may still come: a later command
                        // would read it as its own.
                        self.up = None;
                    }
                }
                self.say(&r.wire());
                Ok(Next::Go)
            }
            Err(e) => {
                // The next hop went away with the message: the client
                // must not take silence for success.
                self.say(LOST);
                Err(e)
            }
        }
    }

    pub(super) fn message(&mut self, env: Envelope) -> io::Result<Reply> {
        let st = Arc::clone(&self.st);
        let policy = policy_of(&st, &env);
        let size = self.spool.len();
        let (out, msg) = {
            let _permit = self.sh.scans.acquire();
            let msg = if too_big(&policy, size) {
                None
            } else {
                match self.spool.read_all() {
                    Ok(m) => Some(m),
                    Err(e) => {
                        st.log.log(
                            Level::Error,
                            &format!("spool: {e}; answering 451"),
                        );
                        self.up().command(b"RSET")?;
                        return Ok(one(
                            451,
                            "4.3.0 nod32smtp: local error, try again later",
                        ));
                    }
                }
            };
            let body = match &msg {
                Some(m) => Body::Whole(m),
                None => Body::TooBig(size),
            };
            (deliver(&st, &policy, &env, body), msg)
        };
        self.sh.served.fetch_add(1, Ordering::Relaxed);
        let out = match out {
            Ok(out) => out,
            Err(fault) => {
                st.log.log(Level::Error, &format!("{fault}; answering 451"));
                self.up().command(b"RSET")?;
                return Ok(one(
                    451,
                    "4.3.0 nod32smtp: internal error, try again later",
                ));
            }
        };
        match smtp(out.decision.action, &out.why) {
            None => match msg.and_then(|m| out.changed(&m)) {
                Some(changed) => self
                    .up
                    .as_mut()
                    .expect("next hop")
                    .message(&mut &changed[..]),
                None => {
                    let up = self.up.as_mut().expect("next hop");
                    let mut src = self.spool.reader()?;
                    up.message(&mut src)
                }
            },
            Some(r) => {
                self.up().command(b"RSET")?;
                Ok(one(r.code, &format!("{} {}", r.enhanced, r.text)))
            }
        }
    }
}
