//! The quarantine: original messages kept in `quarantine_dir`, each as
//! `ID.eml` with a `ID.json` sidecar (time, verdict, envelope).
//!
//! Files are 0600 in a 0700 directory; IDs are made of the time and
//! random bytes, never of anything the sender chose, and an ID given on
//! a command line is checked before it becomes a path.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What is known of a quarantined message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// The quarantine ID.
    pub id: String,
    /// When it was stored, in seconds since 1970.
    pub time: u64,
    /// The agent that stored it.
    pub agent: String,
    /// The envelope sender (empty: the null sender).
    pub sender: String,
    /// The envelope recipients.
    pub recipients: Vec<String>,
    /// The MTA's queue id, when known.
    pub queue_id: String,
    /// The Message-ID header.
    pub message_id: String,
    /// The Subject header, decoded.
    pub subject: String,
    /// The status (infected, deleted, not scanned).
    pub status: String,
    /// The first virus found.
    pub virus: String,
    /// The action taken on the message.
    pub action: String,
    /// The original's size in bytes.
    pub size: u64,
}

/// A quarantine directory.
#[derive(Clone, Debug)]
pub struct Quarantine {
    dir: PathBuf,
}

/// An ID as made by [`Quarantine::store`]: hex digits and dashes.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

fn random_u64() -> io::Result<u64> {
    let mut b = [0u8; 8];
    File::open("/dev/urandom")?.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn write_new(path: &Path, data: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

fn not_found(id: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("no message '{id}' in quarantine"),
    )
}

impl Quarantine {
    /// The quarantine in `dir` (created on first store).
    pub fn new(dir: impl Into<PathBuf>) -> Quarantine {
        Quarantine { dir: dir.into() }
    }

    /// Keeps `raw` with `meta`; returns the new ID. Both files are on
    /// disk (fsynced) when this returns, so the caller may then drop
    /// the message.
    ///
    /// # Errors
    /// Any file system error; the caller must not discard the message.
    pub fn store(&self, raw: &[u8], meta: &Meta) -> io::Result<String> {
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.dir)?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        // Time first, so that IDs sort in the order they were made.
        let id = format!(
            "{:010x}{:08x}-{:016x}",
            now.as_secs(),
            now.subsec_nanos(),
            random_u64()?
        );
        let mut meta = meta.clone();
        meta.id = id.clone();
        meta.time = now.as_secs();
        meta.size = raw.len() as u64;
        // The message first: a sidecar never names a missing file.
        write_new(&self.dir.join(format!("{id}.eml")), raw)?;
        let json =
            serde_json::to_vec_pretty(&meta).map_err(io::Error::other)?;
        write_new(&self.dir.join(format!("{id}.json")), &json)?;
        File::open(&self.dir)?.sync_all()?;
        Ok(id)
    }

    /// Every quarantined message, oldest first.
    ///
    /// # Errors
    /// The directory cannot be read (a missing one is empty).
    pub fn list(&self) -> io::Result<Vec<Meta>> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Vec::new());
            }
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for e in entries {
            let name = e?.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json"))
            else {
                continue;
            };
            if let Ok(m) = self.meta(id) {
                out.push(m);
            }
        }
        out.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
        Ok(out)
    }

    /// The sidecar of `id`.
    ///
    /// # Errors
    /// A malformed or unknown ID, or an unreadable sidecar.
    pub fn meta(&self, id: &str) -> io::Result<Meta> {
        if !valid_id(id) {
            return Err(not_found(id));
        }
        let text =
            fs::read(self.dir.join(format!("{id}.json"))).map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    not_found(id)
                } else {
                    e
                }
            })?;
        serde_json::from_slice(&text).map_err(io::Error::other)
    }

    /// The path of the original message of `id`.
    ///
    /// # Errors
    /// As [`Quarantine::meta`].
    pub fn message_path(&self, id: &str) -> io::Result<PathBuf> {
        self.meta(id)?;
        Ok(self.dir.join(format!("{id}.eml")))
    }

    /// Removes `id` for good.
    ///
    /// # Errors
    /// As [`Quarantine::meta`], or the files cannot be removed.
    pub fn delete(&self, id: &str) -> io::Result<()> {
        self.meta(id)?;
        match fs::remove_file(self.dir.join(format!("{id}.eml"))) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        fs::remove_file(self.dir.join(format!("{id}.json")))
    }

    /// Sends `id` on to its recipients (or `to`, when given) through a
    /// `sendmail -i` compatible program, then removes it from the
    /// quarantine. Released mail is not scanned again by sendmail's
    /// path unless the MTA filters its local submissions.
    ///
    /// # Errors
    /// As [`Quarantine::meta`], or sendmail failed; the message then
    /// stays in quarantine.
    pub fn release(
        &self,
        id: &str,
        sendmail: &Path,
        to: Option<&[String]>,
    ) -> io::Result<Meta> {
        let meta = self.meta(id)?;
        let raw = fs::read(self.dir.join(format!("{id}.eml")))?;
        let rcpts = to.unwrap_or(&meta.recipients);
        crate::notify::sendmail(sendmail, &meta.sender, rcpts, &raw)
            .map_err(io::Error::other)?;
        self.delete(id)?;
        Ok(meta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn meta() -> Meta {
        Meta {
            agent: "nod32smtp".into(),
            sender: "../../etc/passwd".into(),
            recipients: vec!["alice@example.net".into()],
            status: "infected".into(),
            virus: "Eicar-Test-Signature".into(),
            action: "discard".into(),
            ..Meta::default()
        }
    }

    #[test]
    fn store_list_show_delete() {
        let d = tempfile::tempdir().unwrap();
        let q = Quarantine::new(d.path().join("q"));
        assert!(q.list().unwrap().is_empty());
        let raw = b"Subject: x\n\n\xff\x00binary\n";
        let a = q.store(raw, &meta()).unwrap();
        let b = q.store(b"Subject: y\n\nb\n", &meta()).unwrap();
        assert_ne!(a, b);
        assert!(valid_id(&a), "{a}");
        let list = q.list().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].virus, "Eicar-Test-Signature");
        assert_eq!(
            list[0].size as usize,
            raw.len().min(list[0].size as usize)
        );
        let m = q.meta(&a).unwrap();
        assert_eq!(m.id, a);
        assert_eq!(m.size, raw.len() as u64);
        assert_eq!(fs::read(q.message_path(&a).unwrap()).unwrap(), raw);
        for f in [format!("{a}.eml"), format!("{a}.json")] {
            let mode = fs::metadata(d.path().join("q").join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let dmode =
            fs::metadata(d.path().join("q")).unwrap().permissions().mode();
        assert_eq!(dmode & 0o777, 0o700);
        q.delete(&a).unwrap();
        assert_eq!(q.list().unwrap().len(), 1);
        assert_eq!(q.meta(&a).unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn ids_are_not_paths() {
        let d = tempfile::tempdir().unwrap();
        let q = Quarantine::new(d.path());
        for bad in ["../x", "/etc/passwd", "", "a b", "abc.json"] {
            assert_eq!(
                q.meta(bad).unwrap_err().kind(),
                io::ErrorKind::NotFound,
                "{bad}"
            );
        }
    }
}
