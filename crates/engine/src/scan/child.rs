//! The scanner as the [`Sink`] of a container walk: each child scanned
//! as soon as it is decoded, container metadata rules checked on each
//! member before it is.

use super::*;

/// Scans each child of a container as the unpacker decodes it.
pub(super) struct ChildScan<'a, 'db, 'l> {
    pub(super) scanner: &'a Scanner<'db>,
    pub(super) ctx: &'a mut Ctx,
    pub(super) parent: &'a Layer<'l>,
    pub(super) kind: FileType,
    pub(super) depth: u32,
    /// Children handed over so far (in the current mailbox message).
    pub(super) next: usize,
    /// The first finding; with `each_message`, of the first infected
    /// message.
    pub(super) found: Option<Found>,
    /// The mailbox message being walked, from 1; 0 outside one.
    pub(super) message: usize,
    /// A finding in that message, named by it when it ends.
    pub(super) in_message: Option<Found>,
    /// Scan on after an infected message and list each in
    /// `ctx.infections`.
    pub(super) each_message: bool,
    /// With `each_message`, the first alert of all, while each message
    /// gets its own chance to alert in `ctx.alert`.
    pub(super) first_alert: Option<String>,
    /// The input message's leaf the children come from (`Sink::part`);
    /// only the input's own walk keeps it.
    pub(super) part: Option<std::ops::Range<usize>>,
}

impl ChildScan<'_, '_, '_> {
    /// Scans one child; a `partition` is typed as ClamAV types one.
    fn scan_child(
        &mut self,
        name: String,
        data: Vec<u8>,
        place: Place,
    ) -> bool {
        let index = self.next;
        self.next += 1;
        // ClamAV matches OLE2 (target 2) signatures in each VBA module
        // it decompresses, one module at a time.
        let targets = if self.kind == FileType::Ole2
            && name.starts_with("VBA module ")
        {
            T_OLE2
        } else {
            0
        };
        let had_alert = self.ctx.alert.is_some();
        let f = self.scanner.object(
            self.ctx,
            &data,
            Some(self.parent),
            self.depth + 1,
            targets,
            place,
        );
        self.alert_part(had_alert);
        match f {
            Some(mut f) => {
                // Labelled only when something is found: a clean part
                // costs no string.
                f.path.insert(0, child_label(self.kind, index, &name));
                if self.depth == 0 {
                    f.part = self.part.clone();
                }
                if self.message > 0 {
                    self.in_message = Some(f);
                } else {
                    self.found = Some(f);
                }
                true
            }
            None => false,
        }
    }

    /// Notes the input message's leaf an alert raised just now (none
    /// before, `had` says) was raised in, so that a cleaner may cut it.
    fn alert_part(&mut self, had: bool) {
        if self.depth == 0 && !had && self.ctx.alert.is_some() {
            self.ctx.alert_part = self.part.clone();
        }
    }
}

impl Sink for ChildScan<'_, '_, '_> {
    fn budget(&mut self) -> &mut Budget {
        &mut self.ctx.budget
    }

    fn alert(&mut self, h: Heur) {
        if self.wants(h) {
            self.ctx.alert = Some(h.name());
            self.alert_part(false);
        }
    }

    fn wants(&self, h: Heur) -> bool {
        self.ctx.alert.is_none() && h.wanted(&self.scanner.options.heuristics)
    }

    fn wants_members(&self) -> bool {
        self.scanner.db.has_container_rules()
    }

    fn wants_links(&self) -> bool {
        let h = &self.scanner.options.heuristics;
        self.ctx.alert.is_none()
            && h.phishing_scan_urls
            && (h.phishing_ssl
                || h.phishing_cloak
                || self.scanner.db.has_phishing_lists())
    }

    fn links(&mut self, text: &[u8]) {
        let lists = self.scanner.db.phish_lists();
        // ClamAV keeps a part as lines, each with its line end: a tag
        // that ends the part is still read.
        let links = if text.ends_with(b"\n") {
            crate::html::links(text)
        } else {
            crate::html::links(&[text, b"\n"].concat())
        };
        if links.is_empty() {
            return;
        }
        if let Some(p) = crate::phish::check(
            lists,
            &links,
            &self.scanner.options.heuristics,
        ) && self.ctx.alert.is_none()
        {
            self.ctx.alert = Some(p.name().to_string());
            self.alert_part(false);
        }
    }

    fn member(&mut self, m: &Member<'_>) -> bool {
        let db = self.scanner.db;
        let mut unwanted = None;
        let strong = db.container_rule(
            self.kind.clamav_name(),
            self.parent.data.len() as u64,
            m,
            &mut unwanted,
        );
        let Some(n) = strong.or(unwanted) else { return false };
        // An allow-listed container clears the rule's hit, as any other.
        if self.scanner.allowed(self.parent) {
            return false;
        }
        if let Some(u) = unwanted
            && self.ctx.alert.is_none()
        {
            self.ctx.alert = Some(self.scanner.sig_name(u));
        }
        if strong.is_none() {
            return false;
        }
        let name = String::from_utf8_lossy(m.name.unwrap_or_default());
        let f = Found {
            name: self.scanner.sig_name(n),
            path: vec![child_label(self.kind, self.next, &name)],
            part: self.part.clone(),
        };
        if self.message > 0 {
            self.in_message = Some(f);
        } else {
            self.found = Some(f);
        }
        true
    }

    fn child(&mut self, name: String, data: Vec<u8>) -> bool {
        self.scan_child(name, data, Place::Whole)
    }

    fn partition(&mut self, name: String, data: Vec<u8>) -> bool {
        self.scan_child(name, data, Place::Partition)
    }

    fn slice(&mut self, name: String, data: Vec<u8>) -> bool {
        self.scan_child(name, data, Place::Slice)
    }

    fn part(&mut self, bytes: std::ops::Range<usize>) {
        if self.depth == 0 {
            self.part = Some(bytes);
        }
    }

    fn script(&mut self, name: String, data: Vec<u8>) -> bool {
        let index = self.next;
        self.next += 1;
        let f = self.scanner.script(self.ctx, &data, self.parent);
        match f {
            Some(mut f) => {
                f.path.insert(0, child_label(self.kind, index, &name));
                if self.depth == 0 {
                    f.part = self.part.clone();
                }
                self.found = Some(f);
                true
            }
            None => false,
        }
    }

    fn message_start(&mut self, number: usize) {
        self.message = number;
        self.next = 0;
        if self.each_message
            && let Some(a) = self.ctx.alert.take()
        {
            self.first_alert.get_or_insert(a);
        }
    }

    fn message_end(&mut self, message: &[u8], stopped: bool) -> bool {
        let number = std::mem::take(&mut self.message);
        let alert =
            if self.each_message { self.ctx.alert.take() } else { None };
        let found = self.in_message.take();
        if found.is_none() && alert.is_none() {
            return stopped && !self.each_message;
        }
        // Only now is the message's header read, for its Message-ID.
        let m =
            MailboxMessage { number, id: crate::mime::message_id(message) };
        let label = m.to_string();
        match found {
            Some(mut f) => {
                f.path[0] = format!("{label}, {}", f.path[0]);
                if self.each_message {
                    self.ctx.infections.push(Infection {
                        name: f.name.clone(),
                        location: f.path.join("/"),
                        message: Some(m),
                        part: f.part.clone(),
                    });
                }
                self.found.get_or_insert(f);
            }
            // A heuristic alert (no signature): the message is listed
            // with it, as the input would be.
            None => {
                if let Some(a) = &alert {
                    self.ctx.infections.push(Infection {
                        name: a.clone(),
                        location: label,
                        message: Some(m),
                        part: None,
                    });
                }
            }
        }
        if let Some(a) = alert {
            self.first_alert.get_or_insert(a);
        }
        stopped && !self.each_message
    }
}

impl Scanner<'_> {
    /// A text an unpacker wrote, scanned as ClamAV scans the text it
    /// writes itself (`cli_scan_desc` with `CL_TYPE_SCRIPT`): generic
    /// signatures over its bytes, its hashes and logical signatures, as
    /// a child of `parent`; not typed, normalised or opened.
    fn script(
        &self,
        ctx: &mut Ctx,
        data: &[u8],
        parent: &Layer<'_>,
    ) -> Option<Found> {
        if data.len() <= 5 {
            return None;
        }
        if Instant::now() > ctx.deadline {
            ctx.skipped.get_or_insert(Reason::Timeout);
            return None;
        }
        ctx.objects += 1;
        ctx.bytes += data.len() as u64;
        let layer = Layer { data, kind: FileType::Text, parent: Some(parent) };
        self.raw(ctx, data, T_ANY, Eof::Data, &layer, true)
    }
}
