//! nod32upd: keeps the ClamAV databases current and builds the loading
//! module the agents map. Each configured database is checked against
//! the servers in order (only its 512-byte header is fetched), a newer
//! one is downloaded whole, verified (MD5 and ClamAV's RSA signature),
//! test-loaded, and only then stored; the module is rebuilt into a temp
//! file and renamed over the old one. Anything that fails leaves the
//! databases and the module as they were.
//!
//! A run started as root splits in two: a child that drops to
//! `[global] user` talks to the servers and does every step that reads
//! what they send (download, verification, test load, module build),
//! and hands what passed to the root parent through a pipe; the parent
//! only writes it into the root-owned directories.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use nod32_agent::log::{Level, Logger};
use nod32_config::Config;
use nod32_engine::SignatureSet;
use nod32upd::fetch::{Client, Credentials, Got, Secrets};
use nod32upd::handover;
use nod32upd::manifest::{self, Manifest};
use nod32upd::{RsaKey, verify_cld, verify_cvd};

/// Exit codes.
mod exit {
    /// Every database is current (updated or already up to date).
    pub const OK: i32 = 0;
    /// Some database could not be checked or fetched (servers down,
    /// missing, refusing): the old one stays.
    pub const FAILED: i32 = 1;
    /// Wrong usage.
    pub const USAGE: i32 = 2;
    /// Another nod32upd holds the lock.
    pub const LOCKED: i32 = 3;
    /// The installed version of some database is far above the newest
    /// any server has: nothing real would be taken again (see
    /// `--force`).
    pub const AHEAD: i32 = 4;
    /// The module rebuilt would detect much less than the running one
    /// (or nothing in file bodies): neither it nor the databases it came
    /// from were installed (see `--force`).
    pub const MODULE_REFUSED: i32 = 5;
    /// The configuration is wrong.
    pub const CONFIG: i32 = 10;
    /// A download failed verification (the manual's error 107): the old
    /// database stays.
    pub const REFUSED: i32 = 107;
}

mod cli;
use cli::{Cli, Command};

/// The largest version taken. Every database ClamAV publishes is far
/// below it, and a number near `u32::MAX` can only serve to make every
/// later real version look older; 2^31 - 1 is also the most that tools
/// reading versions as a signed int take.
const MAX_VERSION: u32 = 0x7fff_ffff;
/// How many versions a whole CVD or `.cld` may go past the installed one
/// at once (about three years of daily at ClamAV's rate). A `.cdiff`
/// chain is signed step by step, and a signed `update.ver` may vouch
/// for more.
const MAX_JUMP: u32 = 1000;
/// The most `.cdiff` files fetched to catch up, as freshclam.
const MAX_CDIFFS: u32 = 100;
/// How far the newest version the servers have may lag behind the
/// installed one and still count as "current" (a mirror a few versions
/// late); beyond, the installed version is what is wrong.
const MAX_LAG: u32 = 10;

pub fn main() {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
            let _ = e.print();
            if e.kind() == clap::error::ErrorKind::DisplayVersion {
                nod32_agent::runtime::print_module_version(
                    nod32_agent::Which::Upd,
                    &std::env::args_os().skip(1).collect::<Vec<_>>(),
                );
            }
            std::process::exit(code);
        }
    };
    std::process::exit(match &cli.command {
        Some(Command::Keygen { file }) => keygen(file),
        Some(Command::Sign { key, dir }) => sign_dir(key, dir),
        Some(Command::Fetch { parent }) => child(&cli, *parent),
        None => run(&cli),
    });
}

/// An installed copy of a database.
struct Local {
    path: PathBuf,
    /// What its header says.
    labelled: u32,
    /// What its signed `.info` says: the version it is. The two differ
    /// only in a copy relabelled before nod32upd compared them.
    version: u32,
}

/// What the incremental update says when a server has not even the first
/// .cdiff: a mirror of whole CVDs, which is no fault.
const NO_CDIFFS: &str = "no .cdiff files";

/// The newest local copy of `db` (`.cvd` or `.cld`). Its version is
/// read from its `.info` (a stream that stops there: the second member),
/// not only its header, which no signature covers.
fn local_copy(dir: &Path, db: &str) -> Option<Local> {
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
            let version = nod32upd::info_of(std::io::BufReader::new(f))
                .map_or(h.version, |i| i.version);
            Some(Local { path, labelled: h.version, version })
        })
        .max_by_key(|l| l.version)
}

/// The members of the local copy of `db` whose signed `.info` says
/// `version`, the base a `.cdiff` chain starts from.
fn local_members(
    dir: &Path,
    db: &str,
    version: u32,
) -> Option<BTreeMap<String, Vec<u8>>> {
    ["cvd", "cld"].iter().find_map(|x| {
        let bytes = std::fs::read(dir.join(format!("{db}.{x}"))).ok()?;
        let files = nod32upd::cdiff::unpack(&bytes).ok()?;
        (info_version(&files, db).ok()? == version).then_some(files)
    })
}

/// The version `NAME.info` among unpacked members carries.
fn info_version(
    files: &BTreeMap<String, Vec<u8>>,
    db: &str,
) -> Result<u32, String> {
    let name = format!("{db}.info");
    let data = files.get(&name).ok_or_else(|| format!("no {name}"))?;
    nod32upd::InfoHead::parse(&name, data).map(|i| i.version)
}

/// Servers that asked to be left alone (403, 429), until when, kept in
/// the database directory between runs.
struct BackOff {
    path: PathBuf,
    until: Vec<(String, u64)>,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl BackOff {
    fn load(path: PathBuf) -> BackOff {
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

    fn blocked(&self, server: &str) -> Option<u64> {
        self.until
            .iter()
            .find(|(s, t)| s == server && *t > now())
            .map(|(_, t)| t - now())
    }

    fn set(&mut self, server: &str, d: Duration) {
        self.until.retain(|(s, _)| s != server);
        self.until.push((server.to_string(), now() + d.as_secs()));
    }

    fn save(&self) {
        let text: String =
            self.until.iter().map(|(s, t)| format!("{s} {t}\n")).collect();
        let _ = write_atomic(&self.path, text.as_bytes());
    }
}

/// Writes `path` through a synced temp file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    replace(path, |tmp| std::fs::write(tmp, bytes))
}

/// Puts a new `path` in place: `fill` writes a temp file beside it, which
/// is synced and renamed over `path` (and the directory synced), so no
/// reader (an agent, a web server) ever sees half a file; on failure the
/// temp file goes and `path` stays as it was.
fn replace(
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
fn remove_leftovers(dir: &Path, prefix: &str) {
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
enum Outcome {
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

struct Updater<'a> {
    cfg: &'a Config,
    log: &'a Logger,
    client: Client,
    key: RsaKey,
    cdiff_key: RsaKey,
    info_key: RsaKey,
    /// Each server's update.ver, fetched once a run.
    listed:
        std::collections::HashMap<String, Result<Option<Manifest>, String>>,
    servers: Vec<String>,
    backoff: BackOff,
    force: bool,
    /// `[global] user`'s directory: partial downloads, the back-off.
    work: PathBuf,
    /// Credentials, as the privileged parent read them.
    secrets: Secrets,
    /// The databases verified this run (extension and bytes), for the
    /// parent to install.
    staged: BTreeMap<String, (&'static str, Vec<u8>)>,
    /// The `.cdiff` files fetched, for the mirror.
    for_mirror: Vec<(String, Vec<u8>)>,
}

impl Updater<'_> {
    fn creds(&self, url: &str) -> Option<Credentials> {
        self.secrets.for_url(url)
    }

    /// The whole file at `url`, resuming what an earlier run left in
    /// `part` (and leaving there what this one gets, if it breaks off).
    fn download(
        &mut self,
        server: &str,
        url: &str,
        part: &Path,
    ) -> Result<Vec<u8>, String> {
        let creds = self.creds(url);
        let got = self.client.download(url, creds.as_ref(), part);
        self.body_or_why(server, url, got)?;
        std::fs::read(part).map_err(|e| format!("{}: {e}", part.display()))
    }

    /// The body, or the reason there is none (logged; a back-off noted).
    fn body_or_why(
        &mut self,
        server: &str,
        url: &str,
        got: Result<Got, String>,
    ) -> Result<Vec<u8>, String> {
        let why = match got {
            Ok(Got::Body(b)) => return Ok(b),
            Ok(Got::Missing) => format!("{url}: not found (404)"),
            Ok(Got::Unauthorized) => {
                format!(
                    "{url}: credentials refused (401); see [upd] username or {}",
                    self.cfg.upd.auth_file.display()
                )
            }
            Ok(Got::BackOff(d)) => {
                self.backoff.set(server, d);
                format!(
                    "{url}: the server asks to wait {} s; not asking it again before then",
                    d.as_secs()
                )
            }
            Ok(Got::Status(s)) => format!("{url}: HTTP status {s}"),
            Err(e) => e,
        };
        self.log.log(Level::Warning, &why);
        Err(why)
    }

    /// A server's `update.ver` (a nod32upd mirror's or a private
    /// feed's), fetched once a run: `None` when it has none. With
    /// `mirror_public_key` set, the manifest and its signature are
    /// required and must verify, else the server is refused.
    fn manifest(&mut self, server: &str) -> Result<Option<Manifest>, String> {
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
            (Some(_), None) => Err(format!(
                "{base}/update.ver: missing, and mirror_public_key requires a signed one"
            )),
            (Some(pk), Some(t)) => {
                let sig = fetch(self, "update.ver.sig").unwrap_or_default();
                if manifest::verify(
                    pk,
                    &t,
                    String::from_utf8_lossy(&sig).trim(),
                ) {
                    Ok(Some(Manifest::parse(&String::from_utf8_lossy(&t))))
                } else {
                    Err(format!(
                        "{base}/update.ver: refused: its signature does not verify with mirror_public_key"
                    ))
                }
            }
        };
        if let Err(e) = &r {
            self.log.log(Level::Error, e);
        }
        self.listed.insert(server.to_string(), r.clone());
        r
    }

    /// With `mirror_public_key`, a file must be what the signed
    /// manifest lists.
    fn as_listed(
        &self,
        man: Option<&Manifest>,
        name: &str,
        url: &str,
        body: &[u8],
    ) -> Result<(), String> {
        if self.cfg.upd.mirror_public_key.is_none()
            || man.is_some_and(|m| m.lists(name, body))
        {
            return Ok(());
        }
        let why = format!(
            "{url}: refused: not the file the signed update.ver lists"
        );
        self.log.log(Level::Error, &why);
        Err(why)
    }

    /// Brings `db` from `from` to `to` with the server's `.cdiff` files;
    /// the `.cld` and the bytes fetched.
    fn incremental(
        &mut self,
        server: &str,
        man: Option<&Manifest>,
        db: &str,
        from: u32,
        to: u32,
    ) -> Result<(Vec<u8>, usize), String> {
        let dir = self.cfg.upd.db_dir.clone();
        // The base: what this run verified, else the installed copy.
        let staged = self.staged.get(db).and_then(|(_, b)| {
            nod32upd::cdiff::unpack(b)
                .ok()
                .filter(|f| info_version(f, db) == Ok(from))
        });
        let mut files = staged
            .or_else(|| local_members(&dir, db, from))
            .ok_or_else(|| format!("no local {db} of version {from}"))?;
        let mut fetched = 0;
        for v in from + 1..=to {
            let name = format!("{db}-{v}.cdiff");
            let url = format!("{}/{name}", server.trim_end_matches('/'));
            let creds = self.creds(&url);
            let got = self.client.get(&url, creds.as_ref(), None);
            if v == from + 1 && matches!(got, Ok(Got::Missing)) {
                // None at all: a mirror of whole CVDs, nothing wrong.
                return Err(NO_CDIFFS.into());
            }
            let body = self.body_or_why(server, &url, got)?;
            self.as_listed(man, &name, &url, &body)?;
            let c = nod32upd::cdiff::verify_cdiff(&body, &self.cdiff_key)
                .map_err(|r| {
                    let why = format!("{url}: refused: {r}");
                    self.log.log(Level::Error, &why);
                    why
                })?;
            if c.version != v {
                return Err(format!(
                    "{url}: it is for version {}, not {v}",
                    c.version
                ));
            }
            nod32upd::cdiff::apply(&c.script, &mut files)
                .map_err(|e| format!("{url}: {e}"))?;
            // The version in the .cdiff's header is signed, and so is
            // the .info it edits: the two must agree, as a CVD's header
            // and .info must.
            let made = info_version(&files, db)
                .map_err(|e| format!("{url}: {e} after its script"))?;
            if made != v {
                let why = format!(
                    "{url}: it makes {db}.info version {made}, not {v}"
                );
                self.log.log(Level::Error, &why);
                return Err(why);
            }
            fetched += body.len();
            if self.cfg.upd.mirror_enabled {
                self.for_mirror.push((name, body));
            }
        }
        Ok((nod32upd::cdiff::build_cld(db, to, &files), fetched))
    }

    /// Test-loads a new database (`ext` cvd or cld) and keeps it for
    /// the parent to install.
    fn store(
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
    fn out_of_bounds(
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

    fn update(&mut self, db: &str) -> Outcome {
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
                    last = Outcome::Refused(why);
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
                    last = Outcome::Failed(e);
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
                    Err(e) if e == NO_CDIFFS => self.log.log(
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
                        last = Outcome::Failed(e);
                        continue;
                    }
                }
            };
            // Whatever comes of it, these bytes are not resumed again.
            let _ = std::fs::remove_file(&part);
            if let Err(why) =
                self.as_listed(man, &format!("{db}.{ext}"), &url, &body)
            {
                last = Outcome::Refused(why);
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

/// Copies `src` to `dst` through a synced temp file and a rename, so a
/// web server serving `dst` never serves half a file.
fn copy_atomic(src: &Path, dst: &Path) -> std::io::Result<()> {
    replace(dst, |tmp| std::fs::copy(src, tmp).map(drop))
}

/// The first 512 bytes of a file (a CVD's header) and its size.
fn head_of(p: &Path) -> Option<(Vec<u8>, u64)> {
    let mut f = std::fs::File::open(p).ok()?;
    let mut head = vec![0; 512];
    std::io::Read::read_exact(&mut f, &mut head).ok()?;
    Some((head, f.metadata().ok()?.len()))
}

/// Makes `[upd] mirror_dir` a mirror for subordinate servers: the
/// verified CVDs as they were downloaded (still signed, so whoever
/// fetches them verifies them again) and `update.ver` listing them. Any
/// static web server can serve the directory (as `/nod_upd`); another
/// nod32upd then names it in its `servers`, and can be a mirror in turn.
fn publish(cfg: &Config) -> Result<String, String> {
    let u = &cfg.upd;
    let dir = &u.mirror_dir;
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    remove_leftovers(dir, "");
    let mut ver = String::from(
        "# nod32upd mirror: the databases here and their versions\n",
    );
    let mut fresh = 0;
    for db in &u.databases {
        let src = u.db_dir.join(format!("{db}.cvd"));
        let dst = dir.join(format!("{db}.cvd"));
        // A .cld (built locally from .cdiff files) carries no signature
        // and is not served: the mirror keeps the last CVD and the
        // .cdiff files after it (copied as they were fetched).
        if let Some(src_head) = head_of(&src)
            && head_of(&dst) != Some(src_head)
        {
            copy_atomic(&src, &dst)
                .map_err(|e| format!("{}: {e}", dst.display()))?;
            fresh += 1;
        }
        // Runs as root: only the 512-byte headers are read here (what
        // was installed had its header checked against its .info).
        let installed = ["cvd", "cld"]
            .iter()
            .filter_map(|x| head_of(&u.db_dir.join(format!("{db}.{x}"))))
            .filter_map(|(h, _)| nod32_engine::parse_cvd_header(&h).ok())
            .map(|h| h.version)
            .max();
        let (Some(version), Some((head, size))) = (installed, head_of(&dst))
        else {
            continue;
        };
        let Ok(h) = nod32_engine::parse_cvd_header(&head) else { continue };
        // `version` is the newest this mirror gives (with its .cdiff
        // files), `cvd` that of its CVD.
        ver.push_str(&format!(
            "[{db}]\nfile={db}.cvd\nversion={version}\ncvd={}\nsize={size}\nmd5={}\n",
            h.version,
            h.md5.unwrap_or_default()
        ));
    }
    let key = match &u.mirror_signing_key {
        Some(p) => Some(manifest::read_secret(p)?),
        None => None,
    };
    write_manifest(dir, ver, key.as_ref())?;
    Ok(format!(
        "mirror {} ({fresh} files refreshed{})",
        dir.display(),
        if key.is_some() { ", update.ver signed" } else { "" }
    ))
}

/// Writes `update.ver` (the database sections given, and the SHA-256 of
/// every .cvd and .cdiff in `dir`) and, with a key, `update.ver.sig`.
/// The signature is written first: a subordinate reading between the
/// two renames sees a mismatch and tries again next run, never an
/// unsigned manifest taken for signed.
fn write_manifest(
    dir: &Path,
    mut ver: String,
    key: Option<&ed25519_dalek::SigningKey>,
) -> Result<(), String> {
    ver.push_str(&manifest::files_section(dir)?);
    let at =
        |f: &str, e: std::io::Error| format!("{}: {e}", dir.join(f).display());
    match key {
        Some(k) => {
            let sig = manifest::sign(k, ver.as_bytes());
            write_atomic(
                &dir.join("update.ver.sig"),
                format!("{sig}\n").as_bytes(),
            )
            .map_err(|e| at("update.ver.sig", e))?;
        }
        None => {
            let _ = std::fs::remove_file(dir.join("update.ver.sig"));
        }
    }
    write_atomic(&dir.join("update.ver"), ver.as_bytes())
        .map_err(|e| at("update.ver", e))
}

/// `nod32upd keygen FILE`: a new signing key in FILE (mode 0600, never
/// overwritten); its public key on stdout.
fn keygen(path: &Path) -> i32 {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let (secret, public) = match manifest::keygen() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("nod32upd: no random bytes: {e}");
            return exit::FAILED;
        }
    };
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| {
            writeln!(
                f,
                "# nod32upd signing key; public key {public}\n{secret}"
            )?;
            f.sync_all()
        });
    if let Err(e) = written {
        eprintln!("nod32upd: {}: {e}", path.display());
        return exit::FAILED;
    }
    println!("{public}");
    exit::OK
}

/// `nod32upd sign --key FILE DIR`: the signed manifest of a directory of
/// CVDs and .cdiff files (a private feed, or a mirror kept by other
/// means).
fn sign_dir(key: &Path, dir: &Path) -> i32 {
    let k = match manifest::read_secret(key) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("nod32upd: {e}");
            return exit::CONFIG;
        }
    };
    // Each database's newest version: its CVD's, or the last .cdiff's.
    let mut newest: std::collections::BTreeMap<String, u32> =
        std::collections::BTreeMap::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let v = if let Some(db) = name.strip_suffix(".cvd") {
            head_of(&e.path())
                .and_then(|(h, _)| nod32_engine::parse_cvd_header(&h).ok())
                .map(|h| (db.to_string(), h.version))
        } else {
            name.strip_suffix(".cdiff")
                .and_then(|s| s.rsplit_once('-'))
                .and_then(|(db, v)| Some((db.to_string(), v.parse().ok()?)))
        };
        if let Some((db, v)) = v {
            let n = newest.entry(db).or_insert(v);
            *n = (*n).max(v);
        }
    }
    let mut ver = String::from(
        "# nod32upd feed: the databases here and their versions\n",
    );
    for (db, v) in &newest {
        ver.push_str(&format!("[{db}]\nfile={db}.cvd\nversion={v}\n"));
    }
    match write_manifest(dir, ver, Some(&k)) {
        Ok(()) => {
            println!(
                "nod32upd: signed {} ({} databases)",
                dir.join("update.ver").display(),
                newest.len()
            );
            exit::OK
        }
        Err(e) => {
            eprintln!("nod32upd: {e}");
            exit::FAILED
        }
    }
}

/// Where the module is built from: `db_dir`, read as ClamAV reads its
/// `DatabaseDirectory` (the databases nod32upd keeps, and local and
/// third-party signature files beside them), then `local_dir`.
fn source_dirs(u: &nod32_config::Upd) -> Vec<&Path> {
    std::iter::once(u.db_dir.as_path()).chain(u.local_dir.as_deref()).collect()
}

/// Where the parent notes what the installed module was built from
/// ([`sources`]), so that a later run sees a signature file added,
/// changed or removed although no database changed.
fn sources_record(u: &nod32_config::Upd) -> PathBuf {
    u.db_dir.join(".nod32upd.sources")
}

/// The files the module is built from, each with its size and time of
/// change, but the configured databases, whose versions tell their
/// changes: one line each, or one for a directory that cannot be read.
fn sources(u: &nod32_config::Upd) -> String {
    let mut out = String::new();
    for dir in source_dirs(u) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            out.push_str(&format!("{}\tunreadable\n", dir.display()));
            continue;
        };
        let mut lines: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                if !SignatureSet::is_database_file(&name) {
                    return None;
                }
                let ours = dir == u.db_dir
                    && u.databases.iter().any(|db| {
                        name == format!("{db}.cvd")
                            || name == format!("{db}.cld")
                    });
                let m = std::fs::metadata(e.path()).ok()?;
                if ours || !m.is_file() {
                    return None;
                }
                let t = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                    .unwrap_or_default();
                Some(format!(
                    "{}\t{}\t{}.{:09}\n",
                    e.path().display(),
                    m.len(),
                    t.as_secs(),
                    t.subsec_nanos()
                ))
            })
            .collect();
        lines.sort();
        out.extend(lines);
    }
    // A new engine's module format (after a package upgrade) and the
    // choice of PUA detection change the module as a new file would.
    out.push_str(&format!(
        "module format\t{}\n",
        nod32_engine::FORMAT_VERSION
    ));
    if let Some(c) = pua_categories(u) {
        out.push_str(&format!("pua\t{c:?}\n"));
    }
    out
}

/// `[upd] detect_pua`, `include_pua`, `exclude_pua`, as the engine takes
/// them.
fn pua_categories(
    u: &nod32_config::Upd,
) -> Option<nod32_engine::PuaCategories> {
    use nod32_engine::PuaCategories as C;
    if !u.include_pua.is_empty() {
        Some(C::Include(u.include_pua.clone()))
    } else if !u.exclude_pua.is_empty() {
        Some(C::Exclude(u.exclude_pua.clone()))
    } else {
        u.detect_pua.then_some(C::All)
    }
}

/// Why no module was handed over.
enum Unbuilt {
    /// It could not be built: a file unreadable or malformed, nothing
    /// to build from.
    Failed(String),
    /// It was built but would detect much less than the running one.
    Refused(String),
}

/// What a module holds, for comparing two: hash signatures, body
/// patterns (`.ndb` signatures and `.ldb` subsignatures), logical
/// signatures.
fn holds(m: &nod32_engine::Database) -> (usize, usize, usize) {
    (m.hash_count(), m.pattern_count(), m.logical_count())
}

/// Builds the module as `nod32cli compile DB_DIR [LOCAL_DIR]` builds
/// it once the databases `staged` this run are in place: its bytes and
/// a line for the log. Unless `force`, a module that would detect much
/// less than the running one ([`nod32upd::shrinks`]) is refused.
fn build(
    cfg: &Config,
    staged: &BTreeMap<String, (&'static str, Vec<u8>)>,
    force: bool,
    log: &Logger,
) -> Result<(Vec<u8>, String), Unbuilt> {
    let u = &cfg.upd;
    let module = &cfg.global.module;
    let dirs = source_dirs(u);
    let shown: Vec<String> =
        dirs.iter().map(|d| d.display().to_string()).collect();
    let shown = shown.join(" and ");
    let instead: Vec<(String, &[u8])> = staged
        .iter()
        .map(|(db, (ext, b))| (format!("{db}.{ext}"), b.as_slice()))
        .collect();
    let mut set = SignatureSet::new();
    if let Some(c) = pua_categories(u) {
        set.detect_pua(c);
    }
    for (i, dir) in dirs.iter().enumerate() {
        let instead: &[(String, &[u8])] = if i == 0 { &instead } else { &[] };
        set.load_dir(dir, instead)
            .map_err(|e| Unbuilt::Failed(unreadable_as(cfg, e)))?;
    }
    let s = set.stats().clone();
    if s.hash + s.body + s.logical + s.container + s.allow == 0 {
        return Err(Unbuilt::Failed(format!(
            "no signatures in {shown} to build the module from"
        )));
    }
    if let Some(w) = s.unsupported_warning() {
        log.log(Level::Warning, &format!("module: {w}"));
    }
    let (bytes, _) = nod32_engine::compile(&set);
    drop(set);
    let new = nod32_engine::Database::from_bytes(bytes.clone())
        .map_err(|e| Unbuilt::Failed(format!("the module built: {e}")))?;
    let running = nod32_engine::Database::open(module).ok();
    if let Some(why) =
        nod32upd::shrinks(holds(&new), running.as_ref().map(holds))
    {
        let (h, p, l) = holds(&new);
        let against = running.as_ref().map_or(String::new(), |r| {
            let (rh, rp, rl) = holds(r);
            format!(", against {rh}, {rp} and {rl} in the running one")
        });
        let what = format!(
            "the module rebuilt from {shown} ({h} hash, {p} body, {l} logical{against}): {why}"
        );
        if !force {
            return Err(Unbuilt::Refused(format!(
                "refused to replace the module {}: {what}; the module and the databases stay as they were (to take it all the same, run nod32upd --force once)",
                module.display()
            )));
        }
        log.log(Level::Warning, &format!("{what}; taken because of --force"));
    }
    let line = format!(
        "module {} rebuilt ({} bytes; {} hash, {} body, {} logical signatures)",
        module.display(),
        bytes.len(),
        s.hash,
        s.body,
        s.logical
    );
    Ok((bytes, line))
}

/// A load error, with the way out when the file is one the user the
/// build runs as may not read (a signature file root left 0600).
fn unreadable_as(cfg: &Config, e: nod32_engine::LoadError) -> String {
    let denied = matches!(
        &e,
        nod32_engine::LoadError::Io { source, .. }
            if source.kind() == std::io::ErrorKind::PermissionDenied
    );
    let uid = nix::unistd::getuid();
    if !denied || uid.is_root() {
        return e.to_string();
    }
    let me = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name);
    format!(
        "{e}: the module is built as {me} ([global] user), who cannot read it; make it readable by {me} (mode 0644, or group {} and 0640)",
        cfg.global.group
    )
}

/// The directory inside `db_dir` that belongs to `[global] user`:
/// partial downloads and the servers' back-off. `db_dir` itself stays
/// root's, so that user can change nothing there but this directory's
/// contents, and what it hands over is written into place by root.
fn work_dir(
    db_dir: &Path,
    owner: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
) -> Result<PathBuf, String> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    let work = db_dir.join(".work");
    let at = |e: std::io::Error| format!("{}: {e}", work.display());
    // Only root can have put anything else there (db_dir is root's).
    if std::fs::symlink_metadata(&work).is_ok_and(|m| !m.is_dir()) {
        std::fs::remove_file(&work).map_err(at)?;
    }
    if !work.is_dir() {
        std::fs::DirBuilder::new().mode(0o700).create(&work).map_err(at)?;
    }
    if let Some((uid, gid)) = owner
        && std::fs::symlink_metadata(&work)
            .is_ok_and(|m| (m.uid(), m.gid()) != (uid.as_raw(), gid.as_raw()))
    {
        // While it is still root's (no CAP_FOWNER needed).
        std::fs::set_permissions(
            &work,
            std::fs::Permissions::from_mode(0o700),
        )
        .map_err(at)?;
        std::os::unix::fs::lchown(
            &work,
            Some(uid.as_raw()),
            Some(gid.as_raw()),
        )
        .map_err(at)?;
    }
    Ok(work)
}

/// A file received from the child, in a temp file beside where it goes
/// until [`Pending::commit`]; removed if never committed.
struct Pending {
    tmp: PathBuf,
    dest: PathBuf,
    done: bool,
}

impl Pending {
    /// Copies `len` bytes from `r` into a temp file beside `dest`.
    fn receive(
        dest: &Path,
        r: &mut impl std::io::Read,
        len: u64,
    ) -> Result<Pending, String> {
        use std::os::unix::fs::PermissionsExt;
        let dir = dest.parent().unwrap_or(Path::new("."));
        let name = dest.file_name().unwrap_or_default().to_string_lossy();
        let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
        let p = Pending { tmp, dest: dest.to_path_buf(), done: false };
        let at = |e: std::io::Error| format!("{}: {e}", p.tmp.display());
        let mut f = std::fs::File::create(&p.tmp).map_err(at)?;
        // Read by every agent, whatever the umask.
        f.set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(at)?;
        let n = std::io::copy(&mut std::io::Read::take(&mut *r, len), &mut f)
            .map_err(at)?;
        if n != len {
            return Err(format!("{}: cut short", dest.display()));
        }
        f.sync_all().map_err(at)?;
        Ok(p)
    }

    /// Renames it into place (and syncs the directory).
    fn commit(mut self) -> Result<(), String> {
        std::fs::rename(&self.tmp, &self.dest)
            .map_err(|e| format!("storing {}: {e}", self.dest.display()))?;
        self.done = true;
        if let Some(d) = self.dest.parent()
            && let Ok(d) = std::fs::File::open(d)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// What the child handed over.
#[derive(Default)]
struct Received {
    dbs: Vec<(String, Pending)>,
    mirror: Vec<Pending>,
    module: Option<(String, Pending)>,
    /// Why no module was built.
    unbuilt: Option<String>,
    parts: Vec<String>,
    code: Option<i32>,
    ended: bool,
}

/// Reads what the child sends, checking every name against what it may
/// send: the configured databases, their .cdiff files for the mirror,
/// the module. Files go into temp files beside their places.
fn receive(
    r: &mut impl std::io::BufRead,
    cfg: &Config,
) -> Result<Received, String> {
    let u = &cfg.upd;
    let mut got = Received::default();
    let text_max = 1 << 16;
    while let Some(h) = handover::read_header(r)? {
        if got.ended {
            return Err("more after the end".into());
        }
        let named_db = |ext: &[&str]| {
            u.databases
                .iter()
                .find(|db| ext.iter().any(|x| h.name == format!("{db}.{x}")))
        };
        match h.kind.as_str() {
            "db" => {
                let Some(db) = named_db(&["cvd", "cld"]) else {
                    return Err(format!("db {}: not a database here", h.name));
                };
                if got.dbs.iter().any(|(d, _)| d == db) {
                    return Err(format!("db {}: twice", h.name));
                }
                // A .cld is an unpacked database, larger than its CVD.
                if h.len > u.max_download.saturating_mul(4) {
                    return Err(format!("db {}: too large", h.name));
                }
                let p = Pending::receive(&u.db_dir.join(&h.name), r, h.len)?;
                got.dbs.push((db.clone(), p));
            }
            "mirror" => {
                let ok = u.mirror_enabled
                    && h.name.strip_suffix(".cdiff").is_some_and(|s| {
                        s.rsplit_once('-').is_some_and(|(db, v)| {
                            u.databases.iter().any(|d| d == db)
                                && v.parse::<u32>().is_ok()
                        })
                    });
                let many = got.mirror.len() as u64
                    >= u64::from(MAX_CDIFFS) * u.databases.len() as u64;
                if !ok || many || h.len > u.max_download {
                    return Err(format!("mirror {}: not expected", h.name));
                }
                std::fs::create_dir_all(&u.mirror_dir)
                    .map_err(|e| format!("{}: {e}", u.mirror_dir.display()))?;
                got.mirror.push(Pending::receive(
                    &u.mirror_dir.join(&h.name),
                    r,
                    h.len,
                )?);
            }
            "module" => {
                let line = String::from_utf8_lossy(&handover::read_body(
                    r, &h, text_max,
                )?)
                .into_owned();
                let Some(next) = handover::read_header(r)?
                    .filter(|n| n.kind == "bytes" && got.module.is_none())
                else {
                    return Err("module: no bytes".into());
                };
                if next.len > 1 << 32 {
                    return Err("module: too large".into());
                }
                let p = Pending::receive(&cfg.global.module, r, next.len)?;
                got.module = Some((line, p));
            }
            "unbuilt" | "part" | "code" => {
                let t = String::from_utf8_lossy(&handover::read_body(
                    r, &h, text_max,
                )?)
                .into_owned();
                match h.kind.as_str() {
                    "unbuilt" => got.unbuilt = Some(t),
                    "part" => got.parts.push(t),
                    _ => got.code = t.parse().ok(),
                }
            }
            "end" => got.ended = true,
            k => return Err(format!("unknown kind {k}")),
        }
    }
    Ok(got)
}

/// `nod32upd fetch`: the child's side of a run. It takes the
/// configuration and the credentials from its parent on stdin, drops to
/// `[global] user`, and does everything that reads what the servers
/// send; what passes goes to stdout for the parent to install.
fn child(cli: &Cli, parent: i32) -> i32 {
    use std::io::Read;
    let mut input = Vec::new();
    if std::io::stdin().take(1 << 24).read_to_end(&mut input).is_err() {
        return exit::FAILED;
    }
    let mut given: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut r = &input[..];
    while let Ok(Some(h)) = handover::read_header(&mut r) {
        match handover::read_body(&mut r, &h, 1 << 24) {
            Ok(b) => given.insert(h.kind, b),
            Err(_) => return exit::FAILED,
        };
    }
    let text = |k: &str| {
        given.get(k).map(|b| String::from_utf8_lossy(b).into_owned())
    };
    let cfg = match Config::from_str_named(
        &text("config").unwrap_or_default(),
        &cli.config.to_string_lossy(),
    ) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nod32upd: {e}");
            return exit::CONFIG;
        }
    };
    let g = &cfg.global;
    if let Err(e) = nod32_agent::runtime::drop_privileges(&g.user, &g.group) {
        eprintln!("nod32upd: {e}");
        return exit::CONFIG;
    }
    // No other process of that user may look into this one (trace it,
    // read its memory or its pipes): it holds the credentials and the
    // bytes it verified.
    let _ = nix::sys::prctl::set_dumpable(false);
    // It ends with its parent (a killed run leaves no orphan writing on);
    // set after the uid change, which clears it.
    if nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
        .is_err()
        || nix::unistd::getppid().as_raw() != parent
    {
        return exit::FAILED;
    }
    let u = &cfg.upd;
    let p = &u.policy;
    let log = if cli.foreground {
        Logger::foreground("nod32upd", p.log_level)
    } else {
        Logger::syslog("nod32upd", &p.syslog_facility, p.log_level)
    };
    let key_of = |k: &Option<String>, dflt: fn() -> RsaKey| match k {
        None => Some(dflt()),
        Some(k) => RsaKey::parse(k),
    };
    let (Some(key), Some(cdiff_key), Some(info_key)) = (
        key_of(&u.cvd_key, RsaKey::clamav),
        key_of(&u.cdiff_key, nod32upd::cdiff::clamav_key),
        key_of(&u.info_key, nod32upd::clamav_info_key),
    ) else {
        return exit::CONFIG;
    };
    let Ok(client) =
        Client::new(u.timeout, u.max_download, u.proxy.as_deref())
    else {
        return exit::CONFIG;
    };
    let work = u.db_dir.join(".work");
    // An orphan of a killed run may still be dying: its lock goes with it.
    let lock = match std::fs::File::create(work.join(".lock")) {
        Ok(f) => f,
        Err(e) => {
            log.log(Level::Error, &format!("{}: {e}", work.display()));
            return exit::FAILED;
        }
    };
    let Ok(_lock) =
        nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
    else {
        return exit::FAILED;
    };
    remove_leftovers(&work, "");
    let secrets = Secrets {
        configured: u.username.as_ref().map(|user| Credentials {
            user: user.clone(),
            password: u.password.clone().unwrap_or_default(),
        }),
        auth_file: text("auth"),
        netrc: text("netrc"),
    };
    let mut code = exit::OK;
    let mut parts = Vec::new();
    let mut up = Updater {
        cfg: &cfg,
        log: &log,
        client,
        key,
        cdiff_key,
        info_key,
        listed: std::collections::HashMap::new(),
        servers: if cli.servers.is_empty() {
            u.servers.clone()
        } else {
            cli.servers.clone()
        },
        backoff: BackOff::load(work.join("backoff")),
        force: cli.force,
        work: work.clone(),
        secrets,
        staged: BTreeMap::new(),
        for_mirror: Vec::new(),
    };
    let mut outcomes = Vec::new();
    if !cli.compile_only {
        for db in &u.databases {
            outcomes.push((db, up.update(db)));
        }
        up.backoff.save();
    }
    let module = &cfg.global.module;
    // A signature file added, changed or removed beside the databases
    // (or in local_dir) counts as a change too.
    let changed =
        std::fs::read_to_string(sources_record(u)).ok() != Some(sources(u));
    let built = (!up.staged.is_empty()
        || cli.compile_only
        || changed
        || !module.exists())
    .then(|| build(&cfg, &up.staged, cli.force, &log));
    let refused = matches!(built, Some(Err(Unbuilt::Refused(_))));
    for (db, o) in outcomes {
        match o {
            Outcome::Current(v) => parts.push(format!("{db} {v} current")),
            Outcome::Updated { to, .. } if refused => {
                parts.push(format!("{db} {to} not installed"));
            }
            Outcome::Updated { from, to, how } => {
                parts.push(match from {
                    Some(f) => format!("{db} {f} -> {to} ({how})"),
                    None => format!("{db} {to} new ({how})"),
                });
            }
            Outcome::Failed(why) => {
                code = code.max(exit::FAILED);
                parts.push(format!("{db} not updated ({why})"));
            }
            Outcome::Refused(why) => {
                code = exit::REFUSED;
                parts.push(format!("{db} not updated ({why})"));
            }
            Outcome::Ahead { local, newest } => {
                code = code.max(exit::AHEAD);
                parts.push(format!(
                    "{db} {local} far above the servers' {newest}"
                ));
            }
        }
    }
    // The verified databases, their .cdiff files, then the module; none
    // of them when the module they make was refused: the next run finds
    // them not yet installed and says so again.
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let sent = (|| -> std::io::Result<()> {
        if !refused {
            for (db, (ext, bytes)) in &up.staged {
                handover::write(
                    &mut out,
                    "db",
                    &format!("{db}.{ext}"),
                    bytes,
                )?;
            }
            for (name, bytes) in &up.for_mirror {
                handover::write(&mut out, "mirror", name, bytes)?;
            }
        }
        match &built {
            Some(Ok((bytes, line))) => {
                handover::write(&mut out, "module", "-", line.as_bytes())?;
                handover::write(&mut out, "bytes", "-", bytes)?;
            }
            Some(Err(Unbuilt::Failed(e))) => {
                log.log(
                    Level::Error,
                    &format!("{e}; the module stays as it was"),
                );
                code = code.max(exit::FAILED);
                handover::write(&mut out, "unbuilt", "-", e.as_bytes())?;
            }
            Some(Err(Unbuilt::Refused(e))) => {
                log.log(Level::Error, e);
                code = code.max(exit::MODULE_REFUSED);
                handover::write(&mut out, "unbuilt", "-", e.as_bytes())?;
            }
            None => {}
        }
        for part in &parts {
            handover::write(&mut out, "part", "-", part.as_bytes())?;
        }
        handover::write(&mut out, "code", "-", code.to_string().as_bytes())?;
        handover::write(&mut out, "end", "-", b"")?;
        std::io::Write::flush(&mut out)
    })();
    if sent.is_err() {
        return exit::FAILED;
    }
    code
}

/// What a mail administrator should hear about the credentials: a file
/// holding a password that every user can read (the configuration, with
/// `[upd] password` or a proxy's; the auth file or `~/.netrc`, when
/// they are what is used), and every `http://` server they would be
/// sent to in clear text (HTTP basic auth is only base64).
fn credential_warnings(
    cfg: &Config,
    config: &Path,
    secrets: &Secrets,
    netrc: Option<&Path>,
    servers: &[String],
) -> Vec<String> {
    use nod32upd::fetch::{Source, proxy_has_password, readable_by_all};
    let u = &cfg.upd;
    let readable = |p: &Path, fix: &str| {
        readable_by_all(p).map(|m| {
            format!(
                "{}: holds a password and is readable by every user (mode {m:04o}); {fix}",
                p.display()
            )
        })
    };
    let mut out = Vec::new();
    if u.password.is_some()
        || u.proxy.as_deref().is_some_and(proxy_has_password)
    {
        out.extend(readable(
            config,
            &format!(
                "chown root:{0} and chmod 0640 it (the agents read it as {0}), or move the password into {1} with mode 0600",
                cfg.global.group,
                u.auth_file.display()
            ),
        ));
    }
    let used: Vec<Source> = servers
        .iter()
        .filter_map(|s| secrets.source_for(s).map(|(_, src)| src))
        .collect();
    if used.contains(&Source::AuthFile) {
        out.extend(readable(
            &u.auth_file,
            "chmod 0600 it (only root reads it)",
        ));
    }
    if used.contains(&Source::Netrc)
        && let Some(n) = netrc
    {
        out.extend(readable(n, "chmod 0600 it"));
    }
    for s in servers {
        if s.starts_with("http://") && secrets.for_url(s).is_some() {
            out.push(format!(
                "the credentials go in clear text to {s}: use https:// (HTTP basic auth is not encrypted)"
            ));
        }
    }
    out
}

/// The child: this executable again (`/proc/self/exe`, under the name
/// nod32upd for the multi-call binary), with the same options.
fn spawn_child(cli: &Cli) -> std::io::Result<std::process::Child> {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let mut c = Command::new("/proc/self/exe");
    c.arg0("nod32upd").arg("-c").arg(&cli.config);
    for (on, flag) in [
        (cli.foreground, "-f"),
        (cli.force, "--force"),
        (cli.compile_only, "--compile-only"),
    ] {
        if on {
            c.arg(flag);
        }
    }
    for s in &cli.servers {
        c.arg("--server").arg(s);
    }
    c.args(["fetch", "--parent", &std::process::id().to_string()]);
    // Relative paths in the configuration (user_config) are the file's.
    if let Some(d) = cli.config.parent().filter(|d| !d.as_os_str().is_empty())
    {
        c.current_dir(d);
    }
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit());
    c.spawn()
}

fn run(cli: &Cli) -> i32 {
    let cfg = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nod32upd: {e}");
            return exit::CONFIG;
        }
    };
    let u = &cfg.upd;
    // Checked here, where a mistake can be told; the child only uses them.
    for (name, k) in [
        ("info_key", &u.info_key),
        ("cdiff_key", &u.cdiff_key),
        ("cvd_key", &u.cvd_key),
    ] {
        if k.as_deref().is_some_and(|k| RsaKey::parse(k).is_none()) {
            eprintln!(
                "nod32upd: {}: upd.{name}: not a usable RSA key",
                cli.config.display()
            );
            return exit::CONFIG;
        }
    }
    if let Err(e) = Client::new(u.timeout, u.max_download, u.proxy.as_deref())
    {
        eprintln!("nod32upd: {}: upd.proxy: {e}", cli.config.display());
        return exit::CONFIG;
    }
    if let Some(pk) = &u.mirror_public_key
        && !manifest::public_key_ok(pk)
    {
        eprintln!(
            "nod32upd: {}: upd.mirror_public_key: not an ed25519 public key",
            cli.config.display()
        );
        return exit::CONFIG;
    }
    if let Some(p) = &u.mirror_signing_key
        && let Err(e) = manifest::read_secret(p)
    {
        eprintln!(
            "nod32upd: {}: upd.mirror_signing_key: {e}",
            cli.config.display()
        );
        return exit::CONFIG;
    }
    let servers =
        if cli.servers.is_empty() { &u.servers } else { &cli.servers };
    let configured = u.username.as_ref().map(|user| Credentials {
        user: user.clone(),
        password: u.password.clone().unwrap_or_default(),
    });
    let netrc =
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".netrc"));
    let secrets = Secrets::read(configured, &u.auth_file, netrc.as_deref());
    let warnings = credential_warnings(
        &cfg,
        &cli.config,
        &secrets,
        netrc.as_deref(),
        servers,
    );
    if cli.check_config {
        for w in &warnings {
            eprintln!("nod32upd: warning: {w}");
        }
        if u.servers.is_empty() {
            eprintln!(
                "nod32upd: warning: no update servers ([upd] servers): a run fetches nothing"
            );
        }
        if !u.agent_enabled {
            eprintln!(
                "nod32upd: warning: [upd] agent_enabled = false: a run does nothing"
            );
        }
        println!(
            "nod32upd: configuration OK: {} ({} servers, databases {}, kept in {}{})",
            cli.config.display(),
            u.servers.len(),
            u.databases.join(", "),
            u.db_dir.display(),
            u.local_dir.as_ref().map_or(String::new(), |d| format!(
                "; local signatures also from {}",
                d.display()
            ))
        );
        return exit::OK;
    }
    let p = &u.policy;
    let log = if cli.foreground {
        Logger::foreground("nod32upd", p.log_level)
    } else {
        Logger::syslog("nod32upd", &p.syslog_facility, p.log_level)
    };
    for w in &warnings {
        log.log(Level::Warning, w);
    }
    if !u.agent_enabled && !cli.compile_only {
        log.log(
            Level::Summary,
            &format!(
                "updates are off ([upd] agent_enabled = false in {}); nothing done",
                cli.config.display()
            ),
        );
        return exit::OK;
    }
    // Whom the child runs as: [global] user, when there is root to drop.
    let owner = if nix::unistd::getuid().is_root() {
        match nod32_agent::runtime::resolve(
            &cfg.global.user,
            &cfg.global.group,
        ) {
            Ok((user, gid)) => Some((user.uid, gid)),
            Err(e) => {
                log.log(
                    Level::Error,
                    &format!("{}: {e}", cli.config.display()),
                );
                return exit::CONFIG;
            }
        }
    } else {
        None
    };
    if let Err(e) = std::fs::create_dir_all(&u.db_dir) {
        log.log(
            Level::Error,
            &format!("cannot make {}: {e}", u.db_dir.display()),
        );
        return exit::FAILED;
    }
    let lock = match std::fs::File::create(u.db_dir.join(".nod32upd.lock")) {
        Ok(f) => f,
        Err(e) => {
            log.log(
                Level::Error,
                &format!("cannot lock {}: {e}", u.db_dir.display()),
            );
            return exit::FAILED;
        }
    };
    let _lock = match nix::fcntl::Flock::lock(
        lock,
        nix::fcntl::FlockArg::LockExclusiveNonblock,
    ) {
        Ok(l) => l,
        Err(_) => {
            log.log(
                Level::Error,
                "another nod32upd is running; this one ends",
            );
            return exit::LOCKED;
        }
    };
    let t0 = Instant::now();
    let module = cfg.global.module.clone();
    remove_leftovers(&u.db_dir, "");
    if let (Some(dir), Some(name)) = (module.parent(), module.file_name()) {
        remove_leftovers(dir, &name.to_string_lossy());
    }
    // Kept in db_dir by earlier versions; now the work directory's.
    for db in &u.databases {
        for x in ["cvd", "cld"] {
            let _ =
                std::fs::remove_file(u.db_dir.join(format!(".{db}.{x}.part")));
        }
    }
    let _ = std::fs::remove_file(u.db_dir.join(".nod32upd.backoff"));
    if !cli.compile_only && cli.servers.is_empty() && u.servers.is_empty() {
        log.log(
            Level::Error,
            "no update servers: set [upd] servers or --server",
        );
        return exit::FAILED;
    }
    if let Err(e) = work_dir(&u.db_dir, owner) {
        log.log(Level::Error, &e);
        return exit::FAILED;
    }
    let config_text = match std::fs::read(&cli.config) {
        Ok(t) => t,
        Err(e) => {
            log.log(Level::Error, &format!("{}: {e}", cli.config.display()));
            return exit::CONFIG;
        }
    };
    // What the module is about to be built from, noted once it is
    // installed: a file changed meanwhile differs from it next run.
    let sources_before = sources(u);
    let mut child = match spawn_child(cli) {
        Ok(c) => c,
        Err(e) => {
            log.log(Level::Error, &format!("cannot start the download: {e}"));
            return exit::FAILED;
        }
    };
    // The child reads all of its input before it writes anything.
    if let Some(mut stdin) = child.stdin.take() {
        let mut fed = handover::write(&mut stdin, "config", "-", &config_text);
        for (kind, t) in
            [("auth", &secrets.auth_file), ("netrc", &secrets.netrc)]
        {
            if let (Ok(()), Some(t)) = (&fed, t) {
                fed = handover::write(&mut stdin, kind, "-", t.as_bytes());
            }
        }
        drop(stdin);
    }
    let received = match child.stdout.take() {
        Some(out) => receive(&mut std::io::BufReader::new(out), &cfg),
        None => Err("no pipe".into()),
    };
    if received.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().ok().and_then(|s| s.code());
    let got = match received {
        Ok(g) if g.ended => g,
        Ok(_) => {
            // It said why itself; nothing it sent is used.
            return match status {
                Some(c) if c != exit::OK => c,
                _ => exit::FAILED,
            };
        }
        Err(e) => {
            log.log(
                Level::Error,
                &format!("the download process handed over something else: {e}; nothing installed"),
            );
            return exit::FAILED;
        }
    };
    let mut code = got.code.unwrap_or(exit::FAILED);
    let mut parts = got.parts;
    // The module first: killed between the two, the next run finds the
    // databases not yet updated and does it again.
    let module_part = match (got.module, got.unbuilt) {
        (Some((line, p)), _) => {
            let checked = nod32_engine::Database::open(&p.tmp)
                .and_then(|d| d.verify_checksum())
                .map_err(|e| {
                    format!("the module received does not verify: {e}")
                })
                .and_then(|()| p.commit());
            match checked {
                Ok(()) => {
                    // Lost, the next run only rebuilds once more.
                    let _ = write_atomic(
                        &sources_record(u),
                        sources_before.as_bytes(),
                    );
                    Some(line)
                }
                Err(e) => {
                    log.log(
                        Level::Error,
                        &format!("{e}; the module stays as it was"),
                    );
                    code = code.max(exit::FAILED);
                    Some("module not rebuilt".into())
                }
            }
        }
        (None, Some(_)) => Some("module not rebuilt".into()),
        (None, None) => None,
    };
    for (db, p) in got.dbs {
        let stored = p.dest.clone();
        match p.commit() {
            Ok(()) => {
                // Only one form of a database is loaded.
                for x in ["cvd", "cld"] {
                    let other = u.db_dir.join(format!("{db}.{x}"));
                    if other != stored {
                        let _ = std::fs::remove_file(other);
                    }
                }
            }
            Err(e) => {
                log.log(Level::Error, &e);
                parts.push(format!("{db} not stored ({e})"));
                code = code.max(exit::FAILED);
            }
        }
    }
    for p in got.mirror {
        if let Err(e) = p.commit() {
            log.log(Level::Warning, &format!("mirror: {e}"));
        }
    }
    if u.mirror_enabled && !cli.compile_only {
        match publish(&cfg) {
            Ok(line) => parts.push(line),
            Err(e) => {
                log.log(Level::Error, &format!("mirror: {e}"));
                parts.push("mirror not refreshed".into());
                code = code.max(exit::FAILED);
            }
        }
    }
    parts.extend(module_part);
    log.log(
        if code == exit::OK { Level::Summary } else { Level::Error },
        &format!(
            "update: {}; {:.1} s",
            parts.join(", "),
            t0.elapsed().as_secs_f64()
        ),
    );
    code
}
