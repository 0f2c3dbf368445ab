//! The SMTP client side towards the next hop.

use super::*;

/// Why STARTTLS to the next hop did not give a TLS session.
#[derive(Debug, thiserror::Error)]
pub(super) enum StartTlsError {
    /// The connection broke or the handshake failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The next hop answered STARTTLS with another code than 220.
    #[error("STARTTLS refused: {0}")]
    Refused(u16),
}

/// The next hop.
pub(super) struct Upstream {
    pub(super) r: BufReader<Stream>,
    /// Commands written but not yet sent.
    pub(super) out: Vec<u8>,
    pub(super) pipelining: bool,
    pub(super) chunking: bool,
    pub(super) xforward: bool,
}

impl Upstream {
    pub(super) fn connect(
        sh: &Shared,
        st: &State,
        timeout: Duration,
    ) -> io::Result<(Upstream, Reply)> {
        let mut p = (sh.connect)(st)?;
        p.set_timeout(timeout)?;
        let mut u = Upstream {
            r: BufReader::with_capacity(1 << 16, Stream::Plain(p)),
            out: Vec::new(),
            pipelining: false,
            chunking: false,
            xforward: false,
        };
        let greeting = read_reply(&mut u.r)?;
        Ok((u, greeting))
    }

    pub(super) fn queue(&mut self, line: &[u8]) {
        self.out.extend_from_slice(line);
        self.out.extend_from_slice(b"\r\n");
    }

    pub(super) fn send(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            let s = self.r.get_mut();
            s.write_all(&self.out)?;
            s.flush()?;
            self.out.clear();
        }
        Ok(())
    }

    pub(super) fn command(&mut self, line: &[u8]) -> io::Result<Reply> {
        self.queue(line);
        self.send()?;
        read_reply(&mut self.r)
    }

    /// EHLO, and what the reply says this next hop can do.
    pub(super) fn ehlo(&mut self, line: &[u8]) -> io::Result<Reply> {
        let r = self.command(line)?;
        self.pipelining = r.ok() && offers(&r, "PIPELINING");
        self.chunking = r.ok() && offers(&r, "CHUNKING");
        self.xforward = r.ok() && offers(&r, "XFORWARD");
        Ok(r)
    }

    /// STARTTLS after EHLO; the session to go on with.
    pub(super) fn starttls(
        mut self,
        cfg: &Arc<ClientConfig>,
        name: &str,
    ) -> Result<Upstream, StartTlsError> {
        let r = self.command(b"STARTTLS")?;
        if r.code != 220 {
            return Err(StartTlsError::Refused(r.code));
        }
        let plain = self.r.into_inner().into_plain()?;
        let s = Stream::connect(plain, cfg, name)?;
        Ok(Upstream {
            r: BufReader::with_capacity(1 << 16, s),
            out: Vec::new(),
            pipelining: false,
            chunking: false,
            xforward: false,
        })
    }

    /// Sends a message, by BDAT when the next hop has CHUNKING (one
    /// round trip less), else by DATA, dot-stuffed; the final reply, or
    /// the refusal of DATA or of a chunk.
    pub(super) fn message(&mut self, src: &mut dyn Read) -> io::Result<Reply> {
        const PIECE: usize = 1 << 20;
        let bdat = self.chunking;
        if !bdat {
            let r = self.command(b"DATA")?;
            if r.ok() {
                // A 2xx here is a reply out of step: never taken for
                // the message's.
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the next hop answered DATA with {}", r.code),
                ));
            }
            if r.code != 354 {
                return Ok(r);
            }
        }
        let mut st = Stuffer::new(!bdat);
        let mut buf = vec![0u8; 1 << 16];
        let mut out = Vec::with_capacity(PIECE + (1 << 17));
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if out.len() >= PIECE {
                // More follows: what is there leaves now.
                if bdat {
                    let head = format!("BDAT {}\r\n", out.len());
                    self.r.get_mut().write_all(head.as_bytes())?;
                    self.r.get_mut().write_all(&out)?;
                    self.r.get_mut().flush()?;
                    let r = read_reply(&mut self.r)?;
                    if !r.ok() {
                        return Ok(r);
                    }
                } else {
                    self.r.get_mut().write_all(&out)?;
                }
                out.clear();
            }
            st.push(&buf[..n], &mut out);
        }
        st.finish(&mut out);
        let s = self.r.get_mut();
        if bdat {
            s.write_all(format!("BDAT {} LAST\r\n", out.len()).as_bytes())?;
            s.write_all(&out)?;
        } else {
            out.extend_from_slice(b".\r\n");
            s.write_all(&out)?;
        }
        s.flush()?;
        read_reply(&mut self.r)
    }
}

/// A command line's verb and what follows it. Only ASCII space and tab
/// separate them (a client's Unicode white space is no separator): the
/// verb of "\u{3000}MAIL" is no MAIL.
pub(super) fn command(text: &str) -> (&str, &str) {
    let t = text.trim_start_matches([' ', '\t']);
    match t.find([' ', '\t']) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, ""),
    }
}

/// Whether an EHLO reply lists `ext`.
pub(super) fn offers(r: &Reply, ext: &str) -> bool {
    r.lines.iter().skip(1).any(|l| {
        l.split_whitespace()
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case(ext))
    })
}
