//! One run's updates, database by database: the installed copies,
//! the servers' back-off, and the updater that fetches, verifies and
//! test-loads what is newer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nod32_agent::log::{Level, Logger};
use nod32_config::Config;
use nod32_engine::SignatureSet;

use crate::app::*;
use crate::fetch::{Client, Credentials, FetchError, Got, Secrets};
use crate::manifest::{self, Manifest};
use crate::mirror::*;
use crate::{RsaKey, verify_cld, verify_cvd};

mod error;
pub(crate) use error::{ManifestRefused, UpdateError};

/// An installed copy of a database.
pub(crate) struct Local {
    pub(crate) path: PathBuf,
    /// What its header says.
    pub(crate) labelled: u32,
    /// What its signed `.info` says: the version it is. The two differ
    /// only in a copy relabelled before nod32upd compared them.
    pub(crate) version: u32,
}

/// The newest local copy of `db` (`.cvd` or `.cld`). Its version is
/// read from its `.info` (a stream that stops there: the second member),
/// not only its header, which no signature covers.
pub(crate) fn local_copy(dir: &Path, db: &str) -> Option<Local> {
    ["cvd", "cld"]
        .iter()
        .filter_map(|ext| {
            let path = dir.join(format!("{db}.{ext}"));
            let mut f = std::fs::File::open(&path).ok()?;
            let mut head = vec![0; 512];
            std::io::Read::read_exact(&mut f, &mut head).ok()?;
            let h = nod32_engine::parse_cvd_header(&head).ok()?;
            // A copy without a readable .info (ClamAV's all have one)
            // has only its header to go by.
            let version = crate::info_of(std::io::BufReader::new(f))
                .map_or(h.version, |i| i.version);
            Some(Local { path, labelled: h.version, version })
        })
        .max_by_key(|l| l.version)
}

/// The members of the local copy of `db` whose signed `.info` says
/// `version`, the base a `.cdiff` chain starts from.
pub(crate) fn local_members(
    dir: &Path,
    db: &str,
    version: u32,
) -> Option<BTreeMap<String, Vec<u8>>> {
    ["cvd", "cld"].iter().find_map(|x| {
        let bytes = std::fs::read(dir.join(format!("{db}.{x}"))).ok()?;
        let files = crate::cdiff::unpack(&bytes).ok()?;
        (info_version(&files, db).ok()? == version).then_some(files)
    })
}

/// The version `NAME.info` among unpacked members carries.
pub(crate) fn info_version(
    files: &BTreeMap<String, Vec<u8>>,
    db: &str,
) -> Result<u32, crate::InfoError> {
    let name = format!("{db}.info");
    let Some(data) = files.get(&name) else {
        return Err(crate::InfoError::Absent { name });
    };
    crate::InfoHead::parse(&name, data).map(|i| i.version)
}

/// Servers that asked to be left alone (403, 429), until when, kept in
/// the database directory between runs.
pub(crate) struct BackOff {
    pub(crate) path: PathBuf,
    pub(crate) until: Vec<(String, u64)>,
}

pub(crate) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl BackOff {
    pub(crate) fn load(path: PathBuf) -> BackOff {
        let until = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (s, t) = l.rsplit_once(' ')?;
                Some((s.to_string(), t.parse().ok()?))
            })
            .filter(|(_, t)| *t > now())
            .collect();
        BackOff { path, until }
    }

    pub(crate) fn blocked(&self, server: &str) -> Option<u64> {
        self.until
            .iter()
            .find(|(s, t)| s == server && *t > now())
            .map(|(_, t)| t - now())
    }

    pub(crate) fn set(&mut self, server: &str, d: Duration) {
        self.until.retain(|(s, _)| s != server);
        self.until.push((server.to_string(), now() + d.as_secs()));
    }

    pub(crate) fn save(&self) {
        let text: String =
            self.until.iter().map(|(s, t)| format!("{s} {t}\n")).collect();
        let _ = write_atomic(&self.path, text.as_bytes());
    }
}

/// Writes `path` through a synced temp file and a rename.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace(path, |tmp| std::fs::write(tmp, bytes))
}

/// Puts a new `path` in place: `fill` writes a temp file beside it, which
/// is synced and renamed over `path` (and the directory synced), so no
/// reader (an agent, a web server) ever sees half a file; on failure the
/// temp file goes and `path` stays as it was.
pub(crate) fn replace(
    path: &Path,
    fill: impl FnOnce(&Path) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
        std::process::id()
    ));
    let r = (|| {
        fill(&tmp)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// Removes the temp files a killed run left (`.NAME.tmpPID` whose
/// process is gone) in `dir`, those starting with `.{prefix}`.
pub(crate) fn remove_leftovers(dir: &Path, prefix: &str) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix('.') else { continue };
        if !rest.starts_with(prefix) {
            continue;
        }
        let Some((_, pid)) = rest.rsplit_once(".tmp") else { continue };
        if pid
            .parse::<u32>()
            .is_ok_and(|p| !Path::new(&format!("/proc/{p}")).exists())
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// What became of one database.
pub(crate) enum Outcome {
    Current(u32),
    Updated {
        from: Option<u32>,
        to: u32,
        how: String,
    },
    Failed(String),
    Refused(String),
    /// The installed version, far above the newest the servers have.
    Ahead {
        local: u32,
        newest: u32,
    },
}

pub(crate) struct Updater<'a> {
    pub(crate) cfg: &'a Config,
    pub(crate) log: &'a Logger,
    pub(crate) client: Client,
    pub(crate) key: RsaKey,
    pub(crate) cdiff_key: RsaKey,
    pub(crate) info_key: RsaKey,
    /// Each server's update.ver, fetched once a run.
    pub(crate) listed: std::collections::HashMap<
        String,
        Result<Option<Manifest>, ManifestRefused>,
    >,
    pub(crate) servers: Vec<String>,
    pub(crate) backoff: BackOff,
    pub(crate) force: bool,
    /// `[global] user`'s directory: partial downloads, the back-off.
    pub(crate) work: PathBuf,
    /// Credentials, as the privileged parent read them.
    pub(crate) secrets: Secrets,
    /// The databases verified this run (extension and bytes), for the
    /// parent to install.
    pub(crate) staged: BTreeMap<String, (&'static str, Vec<u8>)>,
    /// The `.cdiff` files fetched, for the mirror.
    pub(crate) for_mirror: Vec<(String, Vec<u8>)>,
}

impl Updater<'_> {
    pub(crate) fn creds(&self, url: &str) -> Option<Credentials> {
        self.secrets.for_url(url)
    }

    /// The whole file at `url`, resuming what an earlier run left in
    /// `part` (and leaving there what this one gets, if it breaks off).
    pub(crate) fn download(
        &mut self,
        server: &str,
        url: &str,
        part: &Path,
    ) -> Result<Vec<u8>, UpdateError> {
        let creds = self.creds(url);
        let got = self.client.download(url, creds.as_ref(), part);
        self.body_or_why(server, url, got)?;
        std::fs::read(part).map_err(|cause| UpdateError::Part {
            path: part.to_path_buf(),
            cause,
        })
    }

    /// The body, or the reason there is none (logged; a back-off noted).
    pub(crate) fn body_or_why(
        &mut self,
        server: &str,
        url: &str,
        got: Result<Got, FetchError>,
    ) -> Result<Vec<u8>, UpdateError> {
        let url = url.to_string();
        let why = match got {
            Ok(Got::Body(b)) => return Ok(b),
            Ok(Got::Missing) => UpdateError::NotFound { url },
            Ok(Got::Unauthorized) => UpdateError::Unauthorized {
                url,
                auth_file: self.cfg.upd.auth_file.clone(),
            },
            Ok(Got::BackOff(wait)) => {
                self.backoff.set(server, wait);
                UpdateError::BackOff { url, wait }
            }
            Ok(Got::Status(status)) => UpdateError::Status { url, status },
            Err(e) => e.into(),
        };
        self.log.log(Level::Warning, &why.to_string());
        Err(why)
    }

    /// A server's `update.ver` (a nod32upd mirror's or a private
    /// feed's), fetched once a run: `None` when it has none. With
    /// `mirror_public_key` set, the manifest and its signature are
    /// required and must verify, else the server is refused.
    pub(crate) fn manifest(
        &mut self,
        server: &str,
    ) -> Result<Option<Manifest>, ManifestRefused> {
        if let Some(m) = self.listed.get(server) {
            return m.clone();
        }
        let base = server.trim_end_matches('/');
        let fetch = |me: &mut Self, name: &str| -> Option<Vec<u8>> {
            let url = format!("{base}/{name}");
            let creds = me.creds(&url);
            match me.client.get(&url, creds.as_ref(), None) {
                Ok(Got::Body(b)) if b.len() < 1 << 20 => Some(b),
                _ => None,
            }
        };
        let text = fetch(self, "update.ver");
        let r = match (&self.cfg.upd.mirror_public_key, text) {
            (None, t) => {
                Ok(t.map(|t| Manifest::parse(&String::from_utf8_lossy(&t))))
            }
            (Some(_), None) => {
                Err(ManifestRefused::Missing { base: base.to_string() })
            }
            (Some(pk), Some(t)) => {
                let sig = fetch(self, "update.ver.sig").unwrap_or_default();
                if manifest::verify(
                    pk,
                    &t,
                    String::from_utf8_lossy(&sig).trim(),
                ) {
                    Ok(Some(Manifest::parse(&String::from_utf8_lossy(&t))))
                } else {
                    Err(ManifestRefused::Signature { base: base.to_string() })
                }
            }
        };
        if let Err(e) = &r {
            self.log.log(Level::Error, &e.to_string());
        }
        self.listed.insert(server.to_string(), r.clone());
        r
    }

    /// With `mirror_public_key`, a file must be what the signed
    /// manifest lists.
    pub(crate) fn as_listed(
        &self,
        man: Option<&Manifest>,
        name: &str,
        url: &str,
        body: &[u8],
    ) -> Result<(), UpdateError> {
        if self.cfg.upd.mirror_public_key.is_none()
            || man.is_some_and(|m| m.lists(name, body))
        {
            return Ok(());
        }
        let why = UpdateError::NotListed { url: url.to_string() };
        self.log.log(Level::Error, &why.to_string());
        Err(why)
    }

    /// Brings `db` from `from` to `to` with the server's `.cdiff` files;
    /// the `.cld` and the bytes fetched.
    pub(crate) fn incremental(
        &mut self,
        server: &str,
        man: Option<&Manifest>,
        db: &str,
        from: u32,
        to: u32,
    ) -> Result<(Vec<u8>, usize), UpdateError> {
        let dir = self.cfg.upd.db_dir.clone();
        // The base: what this run verified, else the installed copy.
        let staged = self.staged.get(db).and_then(|(_, b)| {
            crate::cdiff::unpack(b)
                .ok()
                .filter(|f| info_version(f, db).ok() == Some(from))
        });
        let mut files =
            staged.or_else(|| local_members(&dir, db, from)).ok_or_else(
                || UpdateError::NoBase { db: db.to_string(), version: from },
            )?;
        let mut fetched = 0;
        for v in from + 1..=to {
            let name = format!("{db}-{v}.cdiff");
            let url = format!("{}/{name}", server.trim_end_matches('/'));
            let creds = self.creds(&url);
            let got = self.client.get(&url, creds.as_ref(), None);
            if v == from + 1 && matches!(got, Ok(Got::Missing)) {
                // None at all: a mirror of whole CVDs, nothing wrong.
                return Err(UpdateError::NoCdiffs);
            }
            let body = self.body_or_why(server, &url, got)?;
            self.as_listed(man, &name, &url, &body)?;
            let c = crate::cdiff::verify_cdiff(&body, &self.cdiff_key)
                .map_err(|why| {
                    let why = UpdateError::Refused { url: url.clone(), why };
                    self.log.log(Level::Error, &why.to_string());
                    why
                })?;
            if c.version != v {
                return Err(UpdateError::OtherVersion {
                    url,
                    got: c.version,
                    want: v,
                });
            }
            crate::cdiff::apply(&c.script, &mut files).map_err(|cause| {
                UpdateError::Script { url: url.clone(), cause }
            })?;
            // The version in the .cdiff's header is signed, and so is
            // the .info it edits: the two must agree, as a CVD's header
            // and .info must.
            let made = info_version(&files, db).map_err(|cause| {
                UpdateError::NoInfo { url: url.clone(), cause }
            })?;
            if made != v {
                let why = UpdateError::Makes {
                    url,
                    db: db.to_string(),
                    made,
                    want: v,
                };
                self.log.log(Level::Error, &why.to_string());
                return Err(why);
            }
            fetched += body.len();
            if self.cfg.upd.mirror_enabled {
                self.for_mirror.push((name, body));
            }
        }
        Ok((crate::cdiff::build_cld(db, to, &files), fetched))
    }

    /// Test-loads a new database (`ext` cvd or cld) and keeps it for
    /// the parent to install.
    pub(crate) fn store(
        &mut self,
        db: &str,
        ext: &'static str,
        bytes: &[u8],
        what: &str,
    ) -> Result<(), Outcome> {
        // As freshclam's TestDatabases: what cannot be loaded does not
        // replace what can.
        let mut test = SignatureSet::new();
        if let Err(e) = test.load_bytes(&format!("{db}.{ext}"), bytes) {
            let why = format!("{what}: refused: it does not load: {e}");
            self.log.log(Level::Error, &why);
            return Err(Outcome::Refused(why));
        }
        self.staged.insert(db.to_string(), (ext, bytes.to_vec()));
        Ok(())
    }

    /// Why version `v` of `db` may not replace the installed `local`:
    /// beyond [`MAX_VERSION`], or more than [`MAX_JUMP`] ahead when
    /// neither `--force` nor the signed `update.ver` says it is right.
    pub(crate) fn out_of_bounds(
        &self,
        man: Option<&Manifest>,
        db: &str,
        local: Option<u32>,
        v: u32,
    ) -> Option<String> {
        if v > MAX_VERSION {
            return Some(format!(
                "version {v} is beyond the largest taken, {MAX_VERSION}"
            ));
        }
        let vouched = self.cfg.upd.mirror_public_key.is_some()
            && man
                .and_then(|m| m.versions.get(db))
                .is_some_and(|&listed| listed >= v);
        match local {
            Some(l) if v - l.min(v) > MAX_JUMP && !vouched && !self.force => {
                Some(format!(
                    "version {v} is {} versions above the installed {l}, more than {MAX_JUMP} at once with no .cdiff files and no signed update.ver listing it (if it is right, run nod32upd --force once)",
                    v - l
                ))
            }
            _ => None,
        }
    }

    pub(crate) fn update(&mut self, db: &str) -> Outcome {
        let dir = self.cfg.upd.db_dir.clone();
        let installed = local_copy(&dir, db);
        // A copy whose header is not its .info's (taken before the two
        // were compared) is replaced by the real one of whatever version
        // it truly is.
        let relabelled =
            installed.as_ref().filter(|l| l.labelled != l.version);
        if let Some(l) = relabelled {
            self.log.log(
                Level::Error,
                &format!(
                    "{}: its header says version {} but its signed {db}.info says {}: relabelled; it will be replaced",
                    l.path.display(),
                    l.labelled,
                    l.version
                ),
            );
        }
        let relabelled = relabelled.is_some();
        let local = installed.as_ref().map(|l| l.version);
        let shown = installed.as_ref().map(|l| l.labelled);
        // The newest version among servers behind the installed one.
        let mut behind: Option<u32> = None;
        let mut last = Outcome::Failed("no server to ask".into());
        for server in self.servers.clone() {
            if let Some(left) = self.backoff.blocked(&server) {
                last = Outcome::Failed(format!(
                    "{server} backed off for {left} s more"
                ));
                continue;
            }
            let man = match self.manifest(&server) {
                Ok(m) => m,
                Err(why) => {
                    last = Outcome::Refused(why.to_string());
                    continue;
                }
            };
            let man = man.as_ref();
            // A CVD, or, where a server has none, a .cld (a private
            // mirror kept by freshclam).
            let mut ext = "cvd";
            let mut url = format!("{}/{db}.cvd", server.trim_end_matches('/'));
            let creds = self.creds(&url);
            let mut got = self.client.get(&url, creds.as_ref(), Some(512));
            if matches!(got, Ok(Got::Missing)) {
                let cld = format!("{}/{db}.cld", server.trim_end_matches('/'));
                let other = self.client.get(&cld, creds.as_ref(), Some(512));
                if !matches!(other, Ok(Got::Missing)) {
                    (ext, url, got) = ("cld", cld, other);
                }
            }
            let head = match self.body_or_why(&server, &url, got) {
                Ok(h) => h,
                Err(e) => {
                    last = Outcome::Failed(e.to_string());
                    continue;
                }
            };
            let cvd_version = match nod32_engine::parse_cvd_header(&head) {
                Ok(h) => h.version,
                Err(e) => {
                    let why = format!("{url}: not a CVD: {e}");
                    self.log.log(Level::Error, &why);
                    last = Outcome::Refused(why);
                    continue;
                }
            };
            if cvd_version > MAX_VERSION {
                let why = format!(
                    "{url}: refused: version {cvd_version} is beyond the largest taken, {MAX_VERSION}"
                );
                self.log.log(Level::Error, &why);
                last = Outcome::Refused(why);
                continue;
            }
            let remote = cvd_version.max(
                man.and_then(|m| m.versions.get(db).copied()).unwrap_or(0),
            );
            match local {
                Some(l) if remote == l && !self.force && !relabelled => {
                    return Outcome::Current(l);
                }
                Some(l) if remote < l && !self.force => {
                    let why = format!(
                        "{url}: version {remote} is older than the local {l}; kept {l}"
                    );
                    self.log.log(Level::Warning, &why);
                    behind = behind.max(Some(remote));
                    last = Outcome::Current(l);
                    continue;
                }
                _ => {}
            }
            // Small steps first: .cdiff files from the local version.
            if let Some(l) = local
                && remote > l
                && remote - l <= MAX_CDIFFS
                && !self.force
            {
                match self.incremental(&server, man, db, l, remote) {
                    Ok((cld, fetched)) => {
                        return match self.store(db, "cld", &cld, &url) {
                            Ok(()) => Outcome::Updated {
                                from: shown,
                                to: remote,
                                how: format!("{} cdiffs, {fetched} bytes", remote - l),
                            },
                            Err(o) => o,
                        };
                    }
                    Err(UpdateError::NoCdiffs) => self.log.log(
                        Level::Detail,
                        &format!("{db}: {server} has no .cdiff files; fetching the whole CVD"),
                    ),
                    Err(e) => self.log.log(
                        Level::Warning,
                        &format!("{db}: no incremental update from {server} ({e}); fetching the whole CVD"),
                    ),
                }
            }
            if local.is_some_and(|l| {
                cvd_version < l || (cvd_version == l && !relabelled)
            }) && !self.force
            {
                last = Outcome::Failed(format!(
                    "{server} has no usable .cdiff files beyond {cvd_version}"
                ));
                continue;
            }
            if let Some(why) = self.out_of_bounds(man, db, local, cvd_version)
            {
                let why = format!("{url}: refused: {why}");
                self.log.log(Level::Error, &why);
                last = Outcome::Refused(why);
                continue;
            }
            // What an earlier run got of this very file is kept, and only
            // the rest asked for; a part of another file is no use.
            let part = self.work.join(format!(".{db}.{ext}.part"));
            if head_of(&part).map(|(h, _)| h).as_deref() != head.get(..512) {
                let _ = std::fs::remove_file(&part);
            }
            // A server that ignores Range sent the whole file already.
            let body = if head.len() > 512 {
                head
            } else {
                match self.download(&server, &url, &part) {
                    Ok(b) => b,
                    Err(e) => {
                        last = Outcome::Failed(e.to_string());
                        continue;
                    }
                }
            };
            // Whatever comes of it, these bytes are not resumed again.
            let _ = std::fs::remove_file(&part);
            if let Err(why) =
                self.as_listed(man, &format!("{db}.{ext}"), &url, &body)
            {
                last = Outcome::Refused(why.to_string());
                continue;
            }
            let verified = if ext == "cld" {
                verify_cld(&body, &self.info_key)
            } else {
                verify_cvd(&body, &self.key)
            };
            let h = match verified {
                Ok(v) if v.db == db => v.header,
                Ok(v) => {
                    let why = format!(
                        "{url}: refused: its signed .info is {}.info, not {db}.info",
                        v.db
                    );
                    self.log.log(Level::Error, &why);
                    last = Outcome::Refused(why);
                    continue;
                }
                Err(r) => {
                    let why = format!("{url}: refused: {r}");
                    self.log.log(Level::Error, &why);
                    last = Outcome::Refused(why);
                    continue;
                }
            };
            if local.is_some_and(|l| h.version < l) && !self.force {
                let why = format!(
                    "{url}: version {} is older than the local one; kept",
                    h.version
                );
                self.log.log(Level::Warning, &why);
                continue;
            }
            // The file fetched may not be the one whose header was asked
            // for first.
            if let Some(why) = self.out_of_bounds(man, db, local, h.version) {
                let why = format!("{url}: refused: {why}");
                self.log.log(Level::Error, &why);
                last = Outcome::Refused(why);
                continue;
            }
            if let Err(o) = self.store(db, ext, &body, &url) {
                last = o;
                continue;
            }
            let mut to = h.version;
            let mut how = format!("{} bytes", body.len());
            // A mirror's update.ver may list .cdiff files beyond its CVD.
            if remote > to
                && remote - to <= MAX_CDIFFS
                && let Ok((cld, fetched)) =
                    self.incremental(&server, man, db, to, remote)
                && self.store(db, "cld", &cld, &url).is_ok()
            {
                how = format!(
                    "{how} and {} cdiffs, {fetched} bytes",
                    remote - to
                );
                to = remote;
            }
            return Outcome::Updated { from: shown, to, how };
        }
        // Every server that answered is behind: a lagging mirror, or an
        // installed version no real one will ever pass (a feed that
        // numbered a database wrongly, a copy installed by hand), which
        // must not pass for "current".
        if let (Some(local), Some(newest)) = (local, behind)
            && local - newest > MAX_LAG
        {
            self.log.log(
                Level::Error,
                &format!(
                    "{db}: the installed version {local} is {} versions above the newest any server has ({newest}); no update will be taken until one passes it. If the servers are right, run nod32upd --force once",
                    local - newest
                ),
            );
            return Outcome::Ahead { local, newest };
        }
        last
    }
}
