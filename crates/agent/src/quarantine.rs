//! The quarantine: original messages kept in `quarantine_dir`, each as
//! `ID.eml` with a `ID.json` sidecar (time, verdict, envelope).
//!
//! Files are 0600 in a 0700 directory; IDs are made of the time and
//! random bytes, never of anything the sender chose, and an ID given on
//! a command line is checked before it becomes a path.
//!
//! Reading is done by root (`nod32cli quarantine`) in a directory the
//! service account writes, so everything read is opened relative to the
//! directory, without following links, and checked on the descriptor
//! that was opened: the directory must belong to a trusted owner and be
//! writable by no one else, and an entry must be a regular file with
//! one link, owned by a trusted owner. Trusted are root, the user
//! reading and the service user (`[global].user`, see
//! [`Quarantine::trust_user`]). Anything else (a link to `/etc/shadow`,
//! a hard link, a FIFO, another user's file) is refused, never read,
//! mailed or removed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag};

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
    /// Who may own the directory and its entries.
    owners: Vec<u32>,
}

/// A sidecar is a few hundred bytes; this much is not one.
const MAX_SIDECAR: u64 = 16 << 20;

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

fn errno(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// What a file type is called in a refusal.
fn type_name(mode: u32) -> &'static str {
    let t = mode & SFlag::S_IFMT.bits();
    [
        (SFlag::S_IFLNK, "a symbolic link"),
        (SFlag::S_IFDIR, "a directory"),
        (SFlag::S_IFIFO, "a FIFO"),
        (SFlag::S_IFSOCK, "a socket"),
        (SFlag::S_IFCHR, "a character device"),
        (SFlag::S_IFBLK, "a block device"),
    ]
    .into_iter()
    .find(|(f, _)| f.bits() == t)
    .map_or("of an unknown type", |(_, n)| n)
}

impl Quarantine {
    /// The quarantine in `dir` (created on first store). Root and the
    /// user running this may own what is read from it.
    pub fn new(dir: impl Into<PathBuf>) -> Quarantine {
        Quarantine { dir: dir.into(), owners: vec![0] }
            .trust_uid(nix::unistd::geteuid().as_raw())
    }

    /// Also trusts `name`'s files: the service user (`[global].user`),
    /// which writes the quarantine. An unknown user adds no one.
    pub fn trust_user(self, name: &str) -> Quarantine {
        match nix::unistd::User::from_name(name) {
            Ok(Some(u)) => self.trust_uid(u.uid.as_raw()),
            _ => self,
        }
    }

    /// Also trusts the files of `uid`.
    pub fn trust_uid(mut self, uid: u32) -> Quarantine {
        if !self.owners.contains(&uid) {
            self.owners.push(uid);
        }
        self
    }

    /// The trusted owners by name, for messages (looked up only then).
    fn owner_names(&self) -> String {
        let names: Vec<String> = self
            .owners
            .iter()
            .map(|&u| {
                nix::unistd::User::from_uid(u.into())
                    .ok()
                    .flatten()
                    .map_or_else(|| format!("uid {u}"), |u| u.name)
            })
            .collect();
        names.join(" or ")
    }

    /// The rule a refused entry broke, for its message.
    fn rule(&self) -> String {
        format!(
            "the quarantine holds only regular files with one link, owned by {}",
            self.owner_names()
        )
    }

    fn refuse(&self, name: &str, why: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "refusing {}: {why} ({}); look at it and remove it by hand",
                self.dir.join(name).display(),
                self.rule()
            ),
        )
    }

    fn trusted(&self, uid: u32) -> bool {
        self.owners.contains(&uid)
    }

    /// The directory, opened and checked: owned by a trusted user and
    /// writable by no one else, or its entries could be anyone's.
    fn open_dir(&self) -> io::Result<OwnedFd> {
        let fd = nix::fcntl::open(
            &self.dir,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            io::Error::new(
                errno(e).kind(),
                format!("{}: {}", self.dir.display(), errno(e)),
            )
        })?;
        let st = nix::sys::stat::fstat(&fd).map_err(errno)?;
        let why = if !self.trusted(st.st_uid) {
            format!("owned by uid {}", st.st_uid)
        } else if st.st_mode & 0o022 != 0 {
            format!("writable by its group or others (mode {:o})", {
                st.st_mode & 0o7777
            })
        } else {
            return Ok(fd);
        };
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "refusing the quarantine {}: {why} (it must belong to {} and be writable by its owner only)",
                self.dir.display(),
                self.owner_names()
            ),
        ))
    }

    /// Opens the entry `name` of `dir` for reading if it is one the
    /// quarantine could have stored; the checks are made on the open
    /// descriptor, so a name swapped after the look gains nothing.
    fn open_entry(&self, dir: &OwnedFd, name: &str) -> io::Result<File> {
        // A look first, so that a FIFO or a device is never opened.
        match nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
        {
            Err(e) => return Err(errno(e)),
            Ok(st)
                if st.st_mode & SFlag::S_IFMT.bits()
                    == SFlag::S_IFLNK.bits() =>
            {
                return Err(self.refuse(name, "a symbolic link"));
            }
            Ok(st)
                if st.st_mode & SFlag::S_IFMT.bits()
                    != SFlag::S_IFREG.bits() =>
            {
                let t = type_name(st.st_mode);
                return Err(
                    self.refuse(name, &format!("not a regular file ({t})"))
                );
            }
            Ok(_) => {}
        }
        let fd = nix::fcntl::openat(
            dir,
            name,
            OFlag::O_RDONLY
                | OFlag::O_NOFOLLOW
                | OFlag::O_NONBLOCK
                | OFlag::O_NOCTTY
                | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::ELOOP => self.refuse(name, "a symbolic link"),
            e => errno(e),
        })?;
        let f = File::from(fd);
        let m = f.metadata()?;
        let why = if !m.file_type().is_file() {
            format!("not a regular file ({})", type_name(m.mode()))
        } else if m.nlink() != 1 {
            format!("a file with {} links", m.nlink())
        } else if !self.trusted(m.uid()) {
            format!("owned by uid {}", m.uid())
        } else {
            return Ok(f);
        };
        Err(self.refuse(name, &why))
    }

    /// The sidecar of `id` in the opened directory.
    fn meta_in(&self, dir: &OwnedFd, id: &str) -> io::Result<Meta> {
        if !valid_id(id) {
            return Err(not_found(id));
        }
        let f = self.open_entry(dir, &format!("{id}.json")).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound { not_found(id) } else { e }
        })?;
        let mut text = Vec::new();
        f.take(MAX_SIDECAR + 1).read_to_end(&mut text)?;
        if text.len() as u64 > MAX_SIDECAR {
            return Err(
                self.refuse(&format!("{id}.json"), "too big for a sidecar")
            );
        }
        let mut meta: Meta = serde_json::from_slice(&text).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: {e}",
                    self.dir.join(format!("{id}.json")).display()
                ),
            )
        })?;
        // The name was checked; what the file says was not.
        meta.id = id.to_string();
        Ok(meta)
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

    /// Every quarantined message, oldest first; entries that cannot be
    /// read or are refused are left out (see [`Quarantine::list_checked`]).
    ///
    /// # Errors
    /// The directory cannot be read or is refused (a missing one is
    /// empty).
    pub fn list(&self) -> io::Result<Vec<Meta>> {
        self.list_checked().map(|(m, _)| m)
    }

    /// As [`Quarantine::list`], with the reason each left-out sidecar
    /// was not listed.
    ///
    /// # Errors
    /// As [`Quarantine::list`].
    pub fn list_checked(&self) -> io::Result<(Vec<Meta>, Vec<io::Error>)> {
        let dir = match self.open_dir() {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok((Vec::new(), Vec::new()));
            }
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        let mut problems = Vec::new();
        for e in fs::read_dir(&self.dir)? {
            let name = e?.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".json"))
            else {
                continue;
            };
            if !valid_id(id) {
                continue;
            }
            match self.meta_in(&dir, id) {
                Ok(m) => out.push(m),
                Err(e) => problems.push(e),
            }
        }
        out.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
        Ok((out, problems))
    }

    /// The sidecar of `id`.
    ///
    /// # Errors
    /// A malformed or unknown ID, a refused or unreadable sidecar.
    pub fn meta(&self, id: &str) -> io::Result<Meta> {
        if !valid_id(id) {
            return Err(not_found(id));
        }
        self.meta_in(&self.open_dir()?, id)
    }

    /// The sidecar and the original message of `id`, exactly as stored.
    ///
    /// # Errors
    /// As [`Quarantine::meta`], or the message is refused or unreadable.
    pub fn message(&self, id: &str) -> io::Result<(Meta, Vec<u8>)> {
        if !valid_id(id) {
            return Err(not_found(id));
        }
        let dir = self.open_dir()?;
        let meta = self.meta_in(&dir, id)?;
        let mut raw = Vec::new();
        self.open_entry(&dir, &format!("{id}.eml"))?.read_to_end(&mut raw)?;
        Ok((meta, raw))
    }

    /// Removes `id` for good. Both entries are checked first; a refused
    /// one keeps both.
    ///
    /// # Errors
    /// As [`Quarantine::meta`], the message is refused, or the files
    /// cannot be removed.
    pub fn delete(&self, id: &str) -> io::Result<()> {
        if !valid_id(id) {
            return Err(not_found(id));
        }
        let dir = self.open_dir()?;
        self.meta_in(&dir, id)?;
        let eml = format!("{id}.eml");
        let has_eml = match self.open_entry(&dir, &eml) {
            Ok(_) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        // unlinkat removes the name in this directory, never what a
        // link put there since the check would point to.
        let unlink = |name: &str| {
            nix::unistd::unlinkat(
                &dir,
                name,
                nix::unistd::UnlinkatFlags::NoRemoveDir,
            )
            .map_err(errno)
        };
        if has_eml {
            unlink(&eml)?;
        }
        unlink(&format!("{id}.json"))
    }

    /// Sends `id` on to its recipients (or `to`, when given) through a
    /// `sendmail -i` compatible program, then removes it from the
    /// quarantine. With `key`, the message carries a release signed for
    /// those recipients ([`crate::release`]), which the agents on its way
    /// (a milter on the MTA's local submissions, the content filter,
    /// nod32mda) pass on unscanned rather than refuse it again and
    /// bounce it to its sender.
    ///
    /// # Errors
    /// As [`Quarantine::message`], or sendmail failed (its exit status:
    /// the MTA did not take the message); the message then stays in
    /// quarantine.
    pub fn release(
        &self,
        id: &str,
        sendmail: &Path,
        to: Option<&[String]>,
        key: Option<&ed25519_dalek::SigningKey>,
    ) -> io::Result<Meta> {
        let (meta, raw) = self.message(id)?;
        let rcpts = to.unwrap_or(&meta.recipients);
        let raw = undelivered(&raw);
        let raw = match key {
            Some(k) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                crate::release::sign(k, id, rcpts, raw, now)
            }
            None => raw.to_vec(),
        };
        crate::notify::sendmail(sendmail, &meta.sender, rcpts, &raw).map_err(
            |e| io::Error::other(format!("{e}; {id} stays in quarantine")),
        )?;
        self.delete(id)?;
        Ok(meta)
    }
}

/// `raw` without what a delivery added on top: a copy kept by nod32mda
/// starts with the mbox "From " line and the delivering MTA's
/// `Return-Path:`, `X-Original-To:` and `Delivered-To:` (Postfix's
/// local(8)), by the last of which the MTA would take the message, sent
/// again to the same recipient, for a loop.
fn undelivered(raw: &[u8]) -> &[u8] {
    let mut rest = raw;
    if rest.starts_with(b"From ") {
        rest = memchr::memchr(b'\n', rest).map_or(&[], |i| &rest[i + 1..]);
    }
    loop {
        let name_end = rest.iter().position(|&b| b == b':');
        let added = name_end.is_some_and(|n| {
            let name = &rest[..n];
            name.eq_ignore_ascii_case(b"Return-Path")
                || name.eq_ignore_ascii_case(b"X-Original-To")
                || name.eq_ignore_ascii_case(b"Delivered-To")
        });
        if !added {
            return rest;
        }
        // The field and its continuation lines.
        let mut end = 0;
        loop {
            end += memchr::memchr(b'\n', &rest[end..])
                .map_or(rest.len() - end, |i| i + 1);
            if !matches!(rest.get(end), Some(b' ' | b'\t')) {
                break;
            }
        }
        rest = &rest[end..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_delivered_copy_loses_what_the_delivery_added() {
        let raw = b"From bob@example.org Sat Dec  5 21:00:00 2026\n\
            Return-Path: <bob@example.org>\nX-Original-To: alice@example.net\n\
            Delivered-To: alice@example.net\n\
            Delivered-To: alias@example.net\nReceived: by mx\n\
            Delivered-To: kept@example.net\nSubject: x\n\nbody\n";
        assert_eq!(
            undelivered(raw),
            b"Received: by mx\nDelivered-To: kept@example.net\nSubject: x\n\nbody\n"
        );
        assert_eq!(
            undelivered(b"Subject: x\r\n\r\nb\r\n"),
            b"Subject: x\r\n\r\nb\r\n"
        );
        assert_eq!(undelivered(b"Return-Path: <a>\n"), b"");
    }

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
        assert_eq!(q.message(&a).unwrap().1, raw);
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

    /// A quarantine with one stored message whose `.eml` (or `.json`)
    /// is then replaced by `plant`, and a secret beside it that the
    /// service account could not read.
    fn planted(
        which: &str,
        plant: impl Fn(&Path, &Path),
    ) -> (tempfile::TempDir, Quarantine, String, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let secret = d.path().join("secret");
        fs::write(&secret, "the secret\n").unwrap();
        let q = Quarantine::new(d.path().join("q"));
        let id = q.store(b"Subject: x\n\nx\n", &meta()).unwrap();
        let entry = d.path().join("q").join(format!("{id}.{which}"));
        fs::remove_file(&entry).unwrap();
        plant(&secret, &entry);
        (d, q, id, secret)
    }

    /// Puts something at the entry's name (the second path), perhaps
    /// pointing to the secret (the first).
    type Plant = dyn Fn(&Path, &Path);

    fn symlink(target: &Path, at: &Path) {
        std::os::unix::fs::symlink(target, at).unwrap();
    }

    /// `release` of a planted entry, in a thread: on a FIFO it could
    /// block for ever, which must fail the test, not hang it.
    fn release_within(q: &Quarantine, id: &str) -> io::Result<Meta> {
        let (tx, rx) = std::sync::mpsc::channel();
        let (q, id) = (q.clone(), id.to_string());
        std::thread::spawn(move || {
            let _ =
                tx.send(q.release(&id, Path::new("/bin/true"), None, None));
        });
        rx.recv_timeout(std::time::Duration::from_secs(10))
            .expect("release blocked on the planted entry")
    }

    #[test]
    fn links_fifos_and_strangers_are_not_messages() {
        let cases: [(&str, &str, &Plant); 5] = [
            ("eml", "symbolic link", &symlink),
            ("json", "symbolic link", &symlink),
            ("eml", "2 links", &|s, e| fs::hard_link(s, e).unwrap()),
            ("eml", "not a regular file (a FIFO)", &|_, e| {
                nix::unistd::mkfifo(e, nix::sys::stat::Mode::S_IRWXU).unwrap()
            }),
            ("eml", "owned by uid 4242", &|s, e| {
                fs::copy(s, e).unwrap();
                nix::unistd::chown(e, Some(4242.into()), None).unwrap();
            }),
        ];
        for (which, says, plant) in cases {
            let (d, q, id, secret) = planted(which, plant);
            let e = release_within(&q, &id).unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.contains(&format!("{id}.{which}")) && msg.contains(says),
                "release of {which} ({says}): {msg}"
            );
            let e = q.delete(&id).unwrap_err().to_string();
            assert!(e.contains(says), "delete of {which} ({says}): {e}");
            assert!(
                fs::symlink_metadata(
                    d.path().join("q").join(format!("{id}.{which}"))
                )
                .is_ok()
            );
            assert_eq!(fs::read_to_string(&secret).unwrap(), "the secret\n");
        }
    }

    #[test]
    fn the_service_users_files_and_a_directory_only_it_writes() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("q");
        let id = Quarantine::new(&dir).store(b"x\n", &meta()).unwrap();
        for x in ["eml", "json"] {
            let p = dir.join(format!("{id}.{x}"));
            nix::unistd::chown(&p, Some(4242.into()), None).unwrap();
        }
        // Not trusted: listed as a problem, not shown.
        let (list, problems) = Quarantine::new(&dir).list_checked().unwrap();
        assert!(list.is_empty());
        assert!(problems[0].to_string().contains("owned by uid 4242"));
        // The service user's: read.
        let q = Quarantine::new(&dir).trust_uid(4242);
        assert_eq!(q.message(&id).unwrap().1, b"x\n");
        assert_eq!(q.list().unwrap().len(), 1);
        // A directory others may write, or of an untrusted owner.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o733)).unwrap();
        let e = q.meta(&id).unwrap_err().to_string();
        assert!(e.contains("writable by its group or others"), "{e}");
        assert!(q.list().is_err());
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
        nix::unistd::chown(&dir, Some(4343.into()), None).unwrap();
        let e = q.delete(&id).unwrap_err().to_string();
        assert!(e.contains("owned by uid 4343"), "{e}");
        nix::unistd::chown(&dir, Some(4242.into()), None).unwrap();
        q.delete(&id).unwrap();
        assert!(fs::read_dir(&dir).unwrap().next().is_none());
        // A missing quarantine is an empty one.
        assert!(
            Quarantine::new(d.path().join("none")).list().unwrap().is_empty()
        );
    }

    #[test]
    fn a_sidecar_names_its_own_id() {
        let d = tempfile::tempdir().unwrap();
        let q = Quarantine::new(d.path());
        let id = q.store(b"x\n", &meta()).unwrap();
        let p = d.path().join(format!("{id}.json"));
        let text = fs::read_to_string(&p).unwrap().replace(&id, r"\u001b[2J");
        fs::write(&p, text).unwrap();
        assert_eq!(q.meta(&id).unwrap().id, id);
        assert_eq!(q.list().unwrap()[0].id, id);
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
