//! Templates for footers, removal notices and notifications, with
//! `%name%` variables.
//!
//! Variables: `%virus%`, `%sender%`, `%recipients%`, `%subject%`,
//! `%attachment%`, `%queue_id%`, `%action%`, `%status%`, `%host%`,
//! `%date%`; `%%` is a percent sign. Values come from the message, so
//! they are cut to one line of printable text (no header or command can
//! be smuggled in) and, in HTML, escaped.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// A template directory that cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// A template file exists but cannot be read (or is not UTF-8).
    #[error("{}: {cause}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause, in the message already (not a `source`, so that
        /// a chain of causes does not print it twice).
        cause: std::io::Error,
    },
}

/// The values a template may use.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    /// The first virus found.
    pub virus: String,
    /// The envelope sender.
    pub sender: String,
    /// The envelope recipients.
    pub recipients: Vec<String>,
    /// The Subject: header, decoded.
    pub subject: String,
    /// The infected attachments' names, comma-separated.
    pub attachment: String,
    /// The MTA's queue id (or the Message-ID when there is none).
    pub queue_id: String,
    /// The action taken.
    pub action: String,
    /// The message's status (clean, infected, deleted, not scanned).
    pub status: String,
    /// This host's name.
    pub host: String,
    /// The time, RFC 5322 style.
    pub date: String,
}

impl Vars {
    fn get(&self, name: &str) -> Option<String> {
        Some(match name {
            "virus" => self.virus.clone(),
            "sender" => {
                if self.sender.is_empty() {
                    "<>".to_string()
                } else {
                    self.sender.clone()
                }
            }
            "recipients" => self.recipients.join(", "),
            "subject" => self.subject.clone(),
            "attachment" => self.attachment.clone(),
            "queue_id" => self.queue_id.clone(),
            "action" => self.action.clone(),
            "status" => self.status.clone(),
            "host" => self.host.clone(),
            "date" => self.date.clone(),
            _ => return None,
        })
    }
}

/// One line of printable text, at most 500 characters.
pub fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).take(500).collect()
}

fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn expand_with(t: &str, vars: &Vars, html: bool) -> String {
    let mut out = String::with_capacity(t.len() + 64);
    let mut rest = t;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('%') {
            out.push('%');
            rest = r;
            continue;
        }
        let name_end = after
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_end];
        match (after[name_end..].starts_with('%'), vars.get(name)) {
            (true, Some(v)) => {
                let v = sanitize(&v);
                out.push_str(&if html { html_escape(&v) } else { v });
                rest = &after[name_end + 1..];
            }
            // Not a variable: the percent sign stays as written.
            _ => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Expands `%name%` variables in a text template.
pub fn expand(template: &str, vars: &Vars) -> String {
    expand_with(template, vars, false)
}

/// Expands `%name%` variables in an HTML template, escaping the values.
pub fn expand_html(template: &str, vars: &Vars) -> String {
    expand_with(template, vars, true)
}

/// The built-in text of each template, used when `template_dir` has no
/// file of that name.
pub const BUILTIN: &[(&str, &str)] = &[
    ("footer.txt", include_str!("../../../config/templates/footer.txt")),
    ("footer.html", include_str!("../../../config/templates/footer.html")),
    ("notice.txt", include_str!("../../../config/templates/notice.txt")),
    (
        "notify_admin.txt",
        include_str!("../../../config/templates/notify_admin.txt"),
    ),
    (
        "notify_sender.txt",
        include_str!("../../../config/templates/notify_sender.txt"),
    ),
    (
        "notify_recipients.txt",
        include_str!("../../../config/templates/notify_recipients.txt"),
    ),
];

/// The templates an agent uses, read once at start and on reload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Templates {
    /// Text footer (`footer.txt`).
    pub footer_txt: String,
    /// HTML footer (`footer.html`).
    pub footer_html: String,
    /// What replaces a removed attachment (`notice.txt`).
    pub notice: String,
    /// Notification to the administrator (`notify_admin.txt`).
    pub notify_admin: String,
    /// Notification to the sender (`notify_sender.txt`).
    pub notify_sender: String,
    /// Notification to the recipients (`notify_recipients.txt`).
    pub notify_recipients: String,
}

impl Default for Templates {
    fn default() -> Templates {
        let b = |name: &str| {
            BUILTIN
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| t.to_string())
                .unwrap_or_default()
        };
        Templates {
            footer_txt: b("footer.txt"),
            footer_html: b("footer.html"),
            notice: b("notice.txt"),
            notify_admin: b("notify_admin.txt"),
            notify_sender: b("notify_sender.txt"),
            notify_recipients: b("notify_recipients.txt"),
        }
    }
}

impl Templates {
    /// Reads `dir`; a file that is not there keeps its built-in text.
    ///
    /// # Errors
    /// A file that exists but cannot be read, or is not UTF-8, names
    /// itself in the error.
    pub fn load(dir: &Path) -> Result<Templates, TemplateError> {
        let mut t = Templates::default();
        let slots: [(&str, &mut String); 6] = [
            ("footer.txt", &mut t.footer_txt),
            ("footer.html", &mut t.footer_html),
            ("notice.txt", &mut t.notice),
            ("notify_admin.txt", &mut t.notify_admin),
            ("notify_sender.txt", &mut t.notify_sender),
            ("notify_recipients.txt", &mut t.notify_recipients),
        ];
        for (name, slot) in slots {
            let path = dir.join(name);
            match std::fs::read_to_string(&path) {
                Ok(s) => *slot = s,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(cause) => return Err(TemplateError::Read { path, cause }),
            }
        }
        Ok(t)
    }
}

/// The templates as an agent holds them: read at start (a service, which
/// must find an unreadable file before it takes mail), or at their first
/// use (nod32mda, which handles one message, and most messages need
/// none: a clean message needs one only for a footer).
#[derive(Debug)]
pub struct TemplateSet {
    /// Where they are read from, when not read yet.
    dir: PathBuf,
    read: OnceLock<Result<Templates, TemplateError>>,
}

/// What [`TemplateSet::get`] unwinds with when its templates cannot be
/// read; [`TemplateSet::error`] says why.
#[derive(Debug)]
pub struct Unreadable;

impl From<Templates> for TemplateSet {
    fn from(t: Templates) -> TemplateSet {
        TemplateSet { dir: PathBuf::new(), read: OnceLock::from(Ok(t)) }
    }
}

impl TemplateSet {
    /// Reads `dir` now ([`Templates::load`]).
    ///
    /// # Errors
    /// As [`Templates::load`].
    pub fn load(dir: &Path) -> Result<TemplateSet, TemplateError> {
        Templates::load(dir).map(TemplateSet::from)
    }

    /// Reads `dir` at the first [`TemplateSet::get`].
    pub fn lazy(dir: &Path) -> TemplateSet {
        TemplateSet { dir: dir.to_path_buf(), read: OnceLock::new() }
    }

    /// The templates, read first if they were not.
    ///
    /// # Panics
    /// When they are read here and cannot be, this unwinds with
    /// [`Unreadable`] (without the panic hook, so nothing is printed):
    /// the message cannot be handled as configured. The caller runs the
    /// handling inside `catch_unwind` (as [`crate::deliver()`] does) and
    /// gives [`TemplateSet::error`] as the reason, as the agent would
    /// have at start.
    pub fn get(&self) -> &Templates {
        match self.read.get_or_init(|| Templates::load(&self.dir)) {
            Ok(t) => t,
            Err(_) => std::panic::resume_unwind(Box::new(Unreadable)),
        }
    }

    /// Why the templates could not be read, once [`TemplateSet::get`]
    /// tried.
    pub fn error(&self) -> Option<&TemplateError> {
        self.read.get().and_then(|r| r.as_ref().err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        Vars {
            virus: "Eicar-Test-Signature".into(),
            sender: "bob@example.org".into(),
            recipients: vec!["alice@example.net".into(), "carol@x.y".into()],
            subject: "Quarterly report".into(),
            attachment: "report.zip".into(),
            queue_id: "4XyZ1".into(),
            action: "reject".into(),
            status: "infected".into(),
            host: "mx1.example.net".into(),
            date: "Sat, 28 Nov 2026 20:00:00 +0000".into(),
        }
    }

    #[test]
    fn every_variable() {
        let v = vars();
        for (name, want) in [
            ("virus", "Eicar-Test-Signature"),
            ("sender", "bob@example.org"),
            ("recipients", "alice@example.net, carol@x.y"),
            ("subject", "Quarterly report"),
            ("attachment", "report.zip"),
            ("queue_id", "4XyZ1"),
            ("action", "reject"),
            ("status", "infected"),
            ("host", "mx1.example.net"),
            ("date", "Sat, 28 Nov 2026 20:00:00 +0000"),
        ] {
            assert_eq!(
                expand(&format!("<%{name}%>"), &v),
                format!("<{want}>")
            );
        }
        let null = Vars { sender: String::new(), ..vars() };
        assert_eq!(expand("%sender%", &null), "<>");
    }

    #[test]
    fn percent_signs_and_unknown_names_stay() {
        let v = vars();
        assert_eq!(expand("100%% sure", &v), "100% sure");
        assert_eq!(
            expand("50% off %nope% %virus", &v),
            "50% off %nope% %virus"
        );
        assert_eq!(
            expand("%virus%%status%", &v),
            "Eicar-Test-Signatureinfected"
        );
    }

    #[test]
    fn values_cannot_add_lines_or_markup() {
        let v = Vars {
            subject: "hi\r\nBcc: victim@example.com".into(),
            attachment: "<script>x.exe".into(),
            ..vars()
        };
        assert_eq!(
            expand("Subject: %subject%", &v),
            "Subject: hi  Bcc: victim@example.com"
        );
        assert_eq!(
            expand_html("<b>%attachment%</b>", &v),
            "<b>&lt;script&gt;x.exe</b>"
        );
    }

    #[test]
    fn files_override_builtins() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("footer.txt"), "custom %host%\n")
            .unwrap();
        let t = Templates::load(d.path()).unwrap();
        assert_eq!(t.footer_txt, "custom %host%\n");
        assert_eq!(t.notice, Templates::default().notice);
        let missing = Templates::load(&d.path().join("none")).unwrap();
        assert_eq!(missing, Templates::default());
        std::fs::write(d.path().join("notice.txt"), b"\xff\xfe").unwrap();
        let e = Templates::load(d.path()).unwrap_err().to_string();
        assert!(e.contains("notice.txt"), "{e}");
    }

    #[test]
    fn lazy_templates_are_read_at_first_use() {
        let d = tempfile::tempdir().unwrap();
        let lazy = TemplateSet::lazy(d.path());
        // Written after the set was made: read at first use, not before.
        std::fs::write(d.path().join("footer.txt"), "late\n").unwrap();
        assert_eq!(lazy.get().footer_txt, "late\n");
        std::fs::write(d.path().join("footer.txt"), "later\n").unwrap();
        assert_eq!(lazy.get().footer_txt, "late\n");
        assert!(lazy.error().is_none());
        // Read now, a bad file is an error at once.
        std::fs::write(d.path().join("notice.txt"), b"\xff").unwrap();
        assert!(TemplateSet::load(d.path()).is_err());
        // Read later, it ends the handling without a word on stderr, and
        // the error is the one a load at start would have given.
        let lazy = TemplateSet::lazy(d.path());
        assert!(lazy.error().is_none());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            lazy.get().notice.clone()
        }));
        assert!(r.unwrap_err().downcast_ref::<Unreadable>().is_some());
        assert_eq!(
            lazy.error().unwrap().to_string(),
            Templates::load(d.path()).unwrap_err().to_string()
        );
    }
}
