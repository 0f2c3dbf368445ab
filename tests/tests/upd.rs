//! nod32upd against a real web server (Debian's nginx on 127.0.0.1)
//! serving databases that ClamAV's own sigtool built, signed with a test
//! key the way ClamAV signs its CVDs: first download, nothing new, a
//! newer version, and every way a download can go wrong, each time
//! checking that the database and the module that were there stay.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};
use nod32_tests::{bin, peer, run};
use num_bigint::BigUint;

/// A toy RSA key from two Mersenne primes: (n, e, d).
fn key(p: u32, q: u32) -> (BigUint, BigUint, BigUint) {
    let one = BigUint::from(1u8);
    let p = (BigUint::from(1u8) << p) - &one;
    let q = (BigUint::from(1u8) << q) - &one;
    let n = &p * &q;
    let e = BigUint::from(65537u32);
    let d = e.modinv(&((&p - &one) * (&q - &one))).unwrap();
    (n, e, d)
}

fn feed_key() -> (BigUint, BigUint, BigUint) {
    key(127, 521)
}

fn other_key() -> (BigUint, BigUint, BigUint) {
    key(89, 607)
}

/// Signature files for `daily`, version `v`: the marker sigs up to `v`.
fn sources(v: u32) -> Vec<(String, String)> {
    sources_with(v, 0)
}

/// As [`sources`], with `filler` more hash signatures (for a database
/// that takes a while to build).
fn sources_with(v: u32, filler: u32) -> Vec<(String, String)> {
    let mut hdb = String::new();
    for i in 0..filler {
        let md5: String = Md5::digest(format!("filler {i}"))
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        hdb.push_str(&format!(
            "{md5}:{}:Nod32.Test.Filler{i}:73\n",
            100 + i % 5000
        ));
    }
    let mut ndb = String::new();
    for i in 1..=v {
        let sample = marker(i);
        let md5: String =
            Md5::digest(&sample).iter().map(|b| format!("{b:02x}")).collect();
        hdb.push_str(&format!(
            "{md5}:{}:Nod32.Test.Upd{i}:73\n",
            sample.len()
        ));
        let hex: String = format!("nod32-body-marker-{i}-")
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect();
        ndb.push_str(&format!("Nod32.Test.UpdBody{i}:0:*:{hex}\n"));
    }
    vec![("daily.hdb".into(), hdb), ("daily.ndb".into(), ndb)]
}

/// The file the `i`th hash signature names.
fn marker(i: u32) -> Vec<u8> {
    format!("nod32upd test sample number {i}\n").into_bytes()
}

/// `daily` version `v` built by sigtool (unsigned), then signed by `k`
/// in ClamAV's way: the header's MD5, as a number, to the power d.
fn cvd(v: u32, k: &(BigUint, BigUint, BigUint)) -> Vec<u8> {
    cvd_with(v, 0, k)
}

fn cvd_with(v: u32, filler: u32, k: &(BigUint, BigUint, BigUint)) -> Vec<u8> {
    sign_cvd(&built(v, filler), k)
}

/// `daily` version `v` as sigtool builds it, unsigned.
fn built(v: u32, filler: u32) -> Vec<u8> {
    built_as(v, filler, u64::from(v))
}

/// As [`built`], the signatures of version `v` in a database that
/// sigtool numbers `label` (header and daily.info alike).
fn built_as(v: u32, filler: u32, label: u64) -> Vec<u8> {
    let d = tempfile::tempdir().unwrap();
    for (name, text) in sources_with(v, filler) {
        std::fs::write(d.path().join(name), text).unwrap();
    }
    std::fs::write(d.path().join("COPYING"), "test signatures\n").unwrap();
    let mut c = Command::new(peer("sigtool", "clamav"))
        .current_dir(d.path())
        .args(["--build=daily", "--unsigned", "--no-cdiff"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    c.stdin
        .take()
        .unwrap()
        .write_all(format!("{label}\nnod32test\n").as_bytes())
        .unwrap();
    let out = c.wait_with_output().unwrap();
    std::fs::read(d.path().join("daily")).unwrap_or_else(|e| {
        panic!(
            "sigtool built nothing ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A built database signed by `k` in ClamAV's way: the header's MD5, as
/// a number, to the power d.
fn sign_cvd(built: &[u8], k: &(BigUint, BigUint, BigUint)) -> Vec<u8> {
    let head = String::from_utf8_lossy(&built[..512]).trim_end().to_string();
    let mut f: Vec<String> = head.split(':').map(str::to_string).collect();
    assert_eq!(f[0], "ClamAV-VDB");
    let m = BigUint::parse_bytes(f[5].as_bytes(), 16).unwrap();
    f[6] = nod32upd::encode_sig(&m.modpow(&k.2, &k.0));
    let mut out = f.join(":").into_bytes();
    assert!(out.len() <= 512);
    out.resize(512, b' ');
    out.extend_from_slice(&built[512..]);
    out
}

/// nginx on 127.0.0.1:`port` serving `root`, with a basic-auth area
/// (`/auth/`, user nod32 password s3cret), a 403 area and a 429 area.
struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, so the master takes its workers (and their listening
        // socket) with it; SIGKILL would leave them serving.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

impl Nginx {
    fn start(port: u16) -> Nginx {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(
            dir.path(),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let root = dir.path().join("root");
        for d in ["", "auth", "blocked", "limit", "other", "slow"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let hash = run(Command::new(peer("openssl", "openssl"))
            .args(["passwd", "-apr1", "s3cret"]));
        let hash = String::from_utf8_lossy(&hash.stdout).trim().to_string();
        std::fs::write(dir.path().join("htpasswd"), format!("nod32:{hash}\n"))
            .unwrap();
        let p = dir.path().display();
        std::fs::write(
            dir.path().join("nginx.conf"),
            format!(
                "worker_processes 1;\ndaemon off;\npid {p}/nginx.pid;\nerror_log {p}/error.log;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{\n access_log {p}/access.log;\n\
                  server {{\n  listen 127.0.0.1:{port};\n  root {p}/root;\n\
                   location /auth/ {{ auth_basic \"nod32\"; auth_basic_user_file {p}/htpasswd; }}\n\
                   location /blocked/ {{ return 403; }}\n\
                   location /limit/ {{ add_header Retry-After 120 always; return 429; }}\n\
                   location /slow/ {{ limit_rate 64k; }}\n\
                  }}\n}}\n"
            ),
        )
        .unwrap();
        let child = Command::new(peer("nginx", "nginx-light"))
            .args(["-p", &p.to_string(), "-c"])
            .arg(dir.path().join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t0 = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(20),
                "nginx did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx { child, dir, port }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    fn requests(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("access.log"))
            .unwrap_or_default()
            .lines()
            .count()
    }
}

/// A nod32upd set-up: config, database directory, module.
struct Upd {
    dir: tempfile::TempDir,
}

impl Upd {
    /// Databases signed with the test key ([`feed_key`]).
    fn new(servers: &[String], extra: &str) -> Upd {
        let k = feed_key();
        Upd::with_key(
            servers,
            &format!("cvd_key = \"{}:{}\"\n{extra}", k.0, k.1),
        )
    }

    /// As [`Upd::new`], with ClamAV's own CVD key unless `extra` names
    /// one; `extra` may also name the `databases` (else daily).
    fn with_key(servers: &[String], extra: &str) -> Upd {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // Downloads run as [global] user, which must reach db_dir.
        std::fs::set_permissions(
            dir.path(),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let list: Vec<String> =
            servers.iter().map(|s| format!("\"{s}\"")).collect();
        let unless = |key: &str, line: &str| {
            if extra.contains(&format!("{key} =")) {
                String::new()
            } else {
                line.to_string()
            }
        };
        std::fs::write(
            dir.path().join("nod32.toml"),
            format!(
                "[global]\nmodule = \"{d}/nod32.000\"\nuser = \"nobody\"\ngroup = \"nogroup\"\n\
                 [upd]\nservers = [{}]\n{databases}\
                 db_dir = \"{d}/db\"\n{timeout}auth_file = \"{d}/nod32.auth\"\n{extra}",
                list.join(", "),
                databases = unless("databases", "databases = [\"daily\"]\n"),
                timeout = unless("timeout", "timeout = \"20s\"\n"),
                d = dir.path().display()
            ),
        )
        .unwrap();
        Upd { dir }
    }

    fn run(&self, args: &[&str]) -> (i32, String) {
        self.run_env(args, &[])
    }

    /// As [`Upd::run`], with these environment variables.
    fn run_env(&self, args: &[&str], env: &[(&str, &Path)]) -> (i32, String) {
        let o: Output = run(Command::new(bin("nod32upd"))
            .args(["-f", "-c"])
            .arg(self.dir.path().join("nod32.toml"))
            .args(args)
            .envs(env.iter().copied()));
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn module(&self) -> PathBuf {
        self.dir.path().join("nod32.000")
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("db/daily.cvd")
    }

    /// What the installed module finds in `file`.
    fn verdict(&self, file: &Path) -> String {
        let o = run(Command::new(bin("nod32cli"))
            .args(["--format", "clamscan", "--no-summary", "--db"])
            .arg(self.module())
            .arg(file));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }
}

/// What clamscan finds in `file` with the signature files of version `v`.
/// clamscan cannot load our test-signed CVD (it trusts only ClamAV's
/// key), so it gets the same signatures as files; it then tags names
/// ".UNOFFICIAL", which it does not for a signed CVD's: the tag is
/// dropped.
fn clamscan(v: u32, file: &Path) -> String {
    let d = tempfile::tempdir().unwrap();
    for (name, text) in sources(v) {
        std::fs::write(d.path().join(name), text).unwrap();
    }
    let o = run(Command::new(peer("clamscan", "clamav"))
        .args(["--no-summary", "-d"])
        .arg(d.path())
        .arg(file));
    String::from_utf8_lossy(&o.stdout)
        .trim()
        .replace(".UNOFFICIAL FOUND", " FOUND")
}

#[test]
fn first_download_nothing_new_then_a_newer_version() {
    let web = Nginx::start(2580);
    std::fs::write(web.root().join("daily.cvd"), cvd(5, &feed_key())).unwrap();
    let upd = Upd::new(&[web.url("")], "");
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("update: daily 5 new ("), "{log}");
    assert_eq!(
        std::fs::read(upd.db()).unwrap(),
        std::fs::read(web.root().join("daily.cvd")).unwrap()
    );

    // The module finds what clamscan finds with the same signatures.
    let samples = tempfile::tempdir().unwrap();
    for i in 1..=6 {
        std::fs::write(samples.path().join(format!("s{i}")), marker(i))
            .unwrap();
        std::fs::write(
            samples.path().join(format!("b{i}")),
            format!("xx nod32-body-marker-{i}- yy"),
        )
        .unwrap();
    }
    for i in 1..=5 {
        for f in [format!("s{i}"), format!("b{i}")] {
            let f = samples.path().join(f);
            let ours = upd.verdict(&f);
            assert!(ours.ends_with(" FOUND"), "{ours}");
            assert_eq!(ours, clamscan(5, &f));
        }
    }
    let s6 = samples.path().join("s6");
    assert_eq!(upd.verdict(&s6), format!("{}: OK", s6.display()));

    // Nothing new: only the header (and update.ver) is asked for, the
    // module stays.
    let before = std::fs::metadata(upd.module()).unwrap().modified().unwrap();
    let n = web.requests();
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("update: daily 5 current"), "{log}");
    // The CVD's header and the server's update.ver.
    assert_eq!(web.requests(), n + 2);
    assert_eq!(
        std::fs::metadata(upd.module()).unwrap().modified().unwrap(),
        before
    );

    // Version 6: downloaded, and its new signature is in the module.
    std::fs::write(web.root().join("daily.cvd"), cvd(6, &feed_key())).unwrap();
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("update: daily 5 -> 6 ("), "{log}");
    assert!(log.contains("module ") && log.contains(" rebuilt ("), "{log}");
    assert_eq!(upd.verdict(&s6), clamscan(6, &s6));
    assert!(
        upd.verdict(&s6).ends_with("Nod32.Test.Upd6.UNOFFICIAL FOUND")
            || upd.verdict(&s6).ends_with("Nod32.Test.Upd6 FOUND")
    );

    // --compile-only rebuilds from the disk without asking anyone.
    let n = web.requests();
    let (code, log) = upd.run(&["--compile-only"]);
    assert_eq!(code, 0, "{log}");
    assert_eq!(web.requests(), n);
}

/// Every refused or failed download leaves the database and the module
/// byte for byte as they were.
#[test]
fn bad_downloads_change_nothing() {
    let web = Nginx::start(2581);
    let good = cvd(5, &feed_key());
    std::fs::write(web.root().join("daily.cvd"), &good).unwrap();
    let upd = Upd::new(&[web.url("")], "");
    assert_eq!(upd.run(&[]).0, 0);
    let db = std::fs::read(upd.db()).unwrap();
    let module = std::fs::read(upd.module()).unwrap();
    let unchanged = |what: &str| {
        assert_eq!(
            std::fs::read(upd.db()).unwrap(),
            db,
            "{what}: database changed"
        );
        assert_eq!(
            std::fs::read(upd.module()).unwrap(),
            module,
            "{what}: module changed"
        );
    };
    let serve = |bytes: &[u8]| {
        std::fs::write(web.root().join("daily.cvd"), bytes).unwrap()
    };

    let v6 = cvd(6, &feed_key());
    // Signed with another key.
    serve(&cvd(6, &other_key()));
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 107, "{log}");
    assert!(
        log.contains("refused: the digital signature does not verify"),
        "{log}"
    );
    unchanged("wrong key");
    // One byte of the body flipped.
    let mut flipped = v6.clone();
    let i = flipped.len() - 40;
    flipped[i] ^= 0x20;
    serve(&flipped);
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 107, "{log}");
    assert!(log.contains("truncated or damaged"), "{log}");
    unchanged("flipped byte");
    // Truncated.
    serve(&v6[..v6.len() / 2]);
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 107, "{log}");
    unchanged("truncated");
    // Not a CVD at all.
    serve(b"<html>mirror maintenance</html>");
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 107, "{log}");
    unchanged("html");
    // Older than what is there.
    serve(&cvd(4, &feed_key()));
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("is older than the local 5; kept 5"), "{log}");
    unchanged("older");
    // Missing, server down.
    std::fs::remove_file(web.root().join("daily.cvd")).unwrap();
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("not found (404)"), "{log}");
    unchanged("404");
    let down = Upd::new(&["http://127.0.0.1:2589/".to_string()], "");
    let (code, log) = down.run(&[]);
    assert_eq!(code, 1, "{log}");
    assert!(!down.module().exists() && !down.db().exists());
    // A newer one after all that goes in.
    serve(&v6);
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("daily 5 -> 6"), "{log}");
}

/// 403 and 429 (with Retry-After) make nod32upd leave the server alone
/// across runs and go to the next; servers are tried in order; basic
/// auth comes from the auth file.
#[test]
fn back_off_order_and_credentials() {
    let web = Nginx::start(2582);
    let good = cvd(5, &feed_key());
    for d in ["auth", "other"] {
        std::fs::write(web.root().join(d).join("daily.cvd"), &good).unwrap();
    }
    let upd = Upd::new(
        &[
            web.url("blocked"),
            web.url("limit"),
            "http://127.0.0.1:2589".to_string(),
            web.url("other"),
        ],
        "",
    );
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("/blocked/daily.cvd: the server asks to wait 86400 s"),
        "{log}"
    );
    assert!(
        log.contains("/limit/daily.cvd: the server asks to wait 120 s"),
        "{log}"
    );
    assert!(log.contains("daily 5 new"), "{log}");
    // Next run: the two are not asked again.
    let n = web.requests();
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("daily 5 current"), "{log}");
    // Only the last server's header and update.ver.
    assert_eq!(web.requests(), n + 2, "{log}");

    // Basic auth: refused without, taken with the auth file.
    let a = Upd::new(&[web.url("auth")], "");
    let (code, log) = a.run(&[]);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("credentials refused (401)"), "{log}");
    std::fs::write(
        a.dir.path().join("nod32.auth"),
        "username = nod32\npassword = wrong\n",
    )
    .unwrap();
    assert_eq!(a.run(&[]).0, 1);
    std::fs::write(
        a.dir.path().join("nod32.auth"),
        "username = nod32\npassword = s3cret\n",
    )
    .unwrap();
    let (code, log) = a.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("daily 5 new"), "{log}");
}

/// Two runs never overlap: the second ends at once with exit status 3.
#[test]
fn one_run_at_a_time() {
    let upd = Upd::new(&["http://127.0.0.1:2589".to_string()], "");
    std::fs::create_dir_all(upd.dir.path().join("db")).unwrap();
    let f = std::fs::File::create(upd.dir.path().join("db/.nod32upd.lock"))
        .unwrap();
    let _held = nix::fcntl::Flock::lock(
        f,
        nix::fcntl::FlockArg::LockExclusiveNonblock,
    )
    .unwrap();
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 3, "{log}");
    assert!(log.contains("another nod32upd is running"), "{log}");
}

/// The module and the database in `upd` are whole and verify.
fn intact(upd: &Upd) {
    let m =
        nod32_engine::Database::open(&upd.module()).expect("the module opens");
    m.verify_checksum().expect("the module's checksum holds");
    let k = feed_key();
    let key = nod32upd::RsaKey::parse(&format!("{}:{}", k.0, k.1)).unwrap();
    let db = std::fs::read(upd.db()).expect("the database is there");
    nod32upd::verify_cvd(&db, &key).expect("the database verifies");
}

/// SIGKILL at random points of 100 runs (download, verification, store,
/// module build): after each, the database and the module that are
/// there verify; the run after the last kill completes.
#[test]
fn killed_at_random_points_leaves_a_good_module() {
    let web = Nginx::start(2585);
    let a = cvd_with(7, 20_000, &feed_key());
    let b = cvd_with(8, 20_000, &feed_key());
    std::fs::write(web.root().join("daily.cvd"), &a).unwrap();
    let upd = Upd::new(&[web.url("")], "");
    assert_eq!(upd.run(&[]).0, 0);
    intact(&upd);
    // How long a whole run (download, verify, store, build) takes.
    let t0 = Instant::now();
    assert_eq!(upd.run(&["--force"]).0, 0);
    let whole = t0.elapsed().as_micros() as u64;
    let mut rng = nod32_tests::Rng::new(6);
    let mut killed = 0;
    for i in 0..100 {
        std::fs::write(
            web.root().join("daily.cvd"),
            if i % 2 == 0 { &b } else { &a },
        )
        .unwrap();
        let mut c = Command::new(bin("nod32upd"))
            .args(["-f", "--force", "-c"])
            .arg(upd.dir.path().join("nod32.toml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.range(0, whole)));
        if c.try_wait().unwrap().is_none() {
            killed += 1;
        }
        let _ = c.kill();
        let _ = c.wait();
        intact(&upd);
    }
    assert!(killed >= 50, "only {killed} of 100 runs were cut short");
    let (code, log) = upd.run(&["--force"]);
    assert_eq!(code, 0, "{log}");
    intact(&upd);
    // No temp files left behind by the killed runs.
    let left: Vec<String> = std::fs::read_dir(upd.dir.path().join("db"))
        .unwrap()
        .chain(std::fs::read_dir(upd.dir.path()).unwrap())
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A full disk (a 1 MB tmpfs this test mounts, then filled): the new
/// database cannot be stored, the old one and the module stay; with
/// room again, the update goes through.
#[test]
fn disk_full_keeps_the_old() {
    let web = Nginx::start(2586);
    std::fs::write(web.root().join("daily.cvd"), cvd(5, &feed_key())).unwrap();
    let upd = Upd::new(&[web.url("")], "");
    let db_dir = upd.dir.path().join("db");
    std::fs::create_dir_all(&db_dir).unwrap();
    let mounted = run(Command::new("mount").args([
        "-t",
        "tmpfs",
        "-o",
        "size=1m",
        "nod32-test",
        &db_dir.display().to_string(),
    ]));
    assert!(
        mounted.status.success(),
        "mount: {}",
        String::from_utf8_lossy(&mounted.stderr)
    );
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Unmount(db_dir.clone());
    assert_eq!(upd.run(&[]).0, 0);
    let db = std::fs::read(upd.db()).unwrap();
    let module = std::fs::read(upd.module()).unwrap();
    // Fill what is left.
    let mut filler = std::fs::File::create(db_dir.join("filler")).unwrap();
    use std::io::Write;
    while filler.write_all(&[0; 4096]).is_ok() {}
    drop(filler);
    std::fs::write(web.root().join("daily.cvd"), cvd(6, &feed_key())).unwrap();
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains("No space left on device"), "{log}");
    assert_eq!(std::fs::read(upd.db()).unwrap(), db);
    assert_eq!(std::fs::read(upd.module()).unwrap(), module);
    intact(&upd);
    std::fs::remove_file(db_dir.join("filler")).unwrap();
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("daily 5 -> 6"), "{log}");
}

/// nod32smtp relaying smtp-source's 10,000 messages to smtp-sink while
/// nod32upd replaces the module under it: not one temporary failure,
/// every message arrives, and the next message meets the new signature.
#[test]
fn a_running_proxy_takes_the_new_module_without_a_failure() {
    use std::os::unix::fs::PermissionsExt;
    let web = Nginx::start(2587);
    std::fs::write(web.root().join("daily.cvd"), cvd(5, &feed_key())).unwrap();
    let upd = Upd::new(&[web.url("")], "");
    std::fs::set_permissions(
        upd.dir.path(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    assert_eq!(upd.run(&[]).0, 0);

    let dump = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        dump.path(),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    let mut sink = Command::new(peer("smtp-sink", "postfix"))
        .args([
            "-u",
            "nobody",
            "-d",
            &format!("{}/%M.", dump.path().display()),
            "127.0.0.1:2584",
            "16",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pdir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        pdir.path(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let cfg = pdir.path().join("nod32.toml");
    std::fs::write(
        &cfg,
        format!(
            "[global]\nmodule = \"{}\"\nuser = \"nobody\"\ngroup = \"nogroup\"\n\
             [smtp]\nlisten_port = 2583\nserver_port = 2584\n",
            upd.module().display()
        ),
    )
    .unwrap();
    let log_path = pdir.path().join("log");
    let mut proxy = Command::new(bin("nod32smtp"))
        .args(["-f", "-c"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let t0 = Instant::now();
    while !log().contains("listening on")
        || std::net::TcpStream::connect("127.0.0.1:2584").is_err()
    {
        assert!(t0.elapsed() < Duration::from_secs(20), "{}", log());
        std::thread::sleep(Duration::from_millis(20));
    }
    let source = Command::new(peer("smtp-source", "postfix"))
        .args([
            "-s",
            "10",
            "-m",
            "10000",
            "-l",
            "2048",
            "-f",
            "a@example.org",
            "-t",
            "b@example.net",
            "127.0.0.1:2583",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut source = source;
    let count = || std::fs::read_dir(dump.path()).unwrap().count();
    let t0 = Instant::now();
    while count() < 500 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the load did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(web.root().join("daily.cvd"), cvd(6, &feed_key())).unwrap();
    let (code, ulog) = upd.run(&[]);
    assert_eq!(code, 0, "{ulog}");
    assert!(
        source.try_wait().unwrap().is_none(),
        "the load ended before the module was replaced"
    );
    let out = source.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "smtp-source: {said}"
    );
    let t0 = Instant::now();
    while count() < 10_000 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "{} of 10,000 arrived",
            count()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The next session (a second on, the module is looked at once a
    // second) meets version 6's body signature.
    std::thread::sleep(Duration::from_millis(1100));
    let s = std::net::TcpStream::connect("127.0.0.1:2583").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut r = std::io::BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    use std::io::{BufRead, Write};
    let mut last = String::new();
    r.read_line(&mut last).unwrap();
    assert!(last.starts_with("220 "), "{last}");
    for line in [
        "EHLO t",
        "MAIL FROM:<a@example.org>",
        "RCPT TO:<b@example.net>",
        "DATA",
        "Subject: x\r\n\r\nxx nod32-body-marker-6- yy\r\n.",
    ] {
        w.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        loop {
            last.clear();
            r.read_line(&mut last).unwrap();
            if last.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
    }
    let _ = (proxy.kill(), proxy.wait(), sink.kill(), sink.wait());
    assert!(
        last.starts_with("550 5.7.1 Virus found: Nod32.Test.UpdBody6"),
        "{last}\n{}",
        log()
    );
    // The reload came while messages were still flowing.
    let text = log();
    let at = text
        .find("the loading module was replaced; reloading")
        .expect("no reload logged");
    assert!(
        text[at..].matches("status=clean").count() > 100,
        "the reload came after the load"
    );
}

/// A chain of two mirrors: A fetches from the origin and mirrors into a
/// directory nginx serves as /a/nod_upd; B fetches from A's mirror and
/// mirrors in turn; C fetches from B's. All three modules give the
/// verdicts clamscan gives with version 5, then 6 (a whole CVD), then 7
/// (a .cdiff, passed down the chain, update.ver saying there is one).
#[test]
fn a_chain_of_two_mirrors() {
    let web = Nginx::start(2588);
    let origin = web.root().join("other");
    let (fk, ck) = (feed_key(), openssl_key());
    let b: Vec<Vec<u8>> = (5..=7).map(|v| built(v, 0)).collect();
    std::fs::write(origin.join("daily.cvd"), sign_cvd(&b[0], &fk)).unwrap();
    let conf = |name: &str| {
        let mut c = format!("cdiff_key = \"{}:{}\"\n", ck.0, ck.1);
        if !name.is_empty() {
            c.push_str(&format!(
                "mirror_enabled = true\nmirror_dir = \"{}\"\n",
                web.root().join(name).join("nod_upd").display()
            ));
        }
        c
    };
    let a = Upd::new(&[web.url("other")], &conf("a"));
    let b_ = Upd::new(&[web.url("a/nod_upd")], &conf("b"));
    let c = Upd::new(&[web.url("b/nod_upd")], &conf(""));
    let samples = tempfile::tempdir().unwrap();
    for i in 1..=7 {
        std::fs::write(samples.path().join(format!("s{i}")), marker(i))
            .unwrap();
    }
    for v in [5, 6, 7] {
        let how = match v {
            5 => "daily 5 new (",
            6 => "daily 5 -> 6 (",
            _ => "daily 6 -> 7 (1 cdiffs, ",
        };
        if v == 6 {
            // A whole new CVD.
            std::fs::write(origin.join("daily.cvd"), sign_cvd(&b[1], &fk))
                .unwrap();
        }
        if v == 7 {
            // A .cdiff beside the new CVD: every hop takes the .cdiff.
            std::fs::write(origin.join("daily.cvd"), sign_cvd(&b[2], &fk))
                .unwrap();
            std::fs::write(
                origin.join("daily-7.cdiff"),
                cdiff(&b[1], &b[2], 7, &ck),
            )
            .unwrap();
        }
        for (name, u) in [("A", &a), ("B", &b_), ("C", &c)] {
            let (code, log) = u.run(&[]);
            assert_eq!(code, 0, "{name}: {log}");
            assert!(log.contains(how), "{name}: {log}");
            for i in 1..=7 {
                let f = samples.path().join(format!("s{i}"));
                assert_eq!(u.verdict(&f), clamscan(v, &f), "{name} v{v} s{i}");
            }
        }
        let ver =
            std::fs::read_to_string(web.root().join("b/nod_upd/update.ver"))
                .unwrap();
        assert!(
            ver.contains(&format!("[daily]\nfile=daily.cvd\nversion={v}\n")),
            "{ver}"
        );
    }
    // The mirrors serve the origin's files, signatures and all: the
    // version 6 CVD and the .cdiff to 7.
    assert_eq!(
        std::fs::read(web.root().join("b/nod_upd/daily.cvd")).unwrap(),
        sign_cvd(&b[1], &fk)
    );
    assert_eq!(
        std::fs::read(web.root().join("b/nod_upd/daily-7.cdiff")).unwrap(),
        std::fs::read(origin.join("daily-7.cdiff")).unwrap()
    );
}

/// A 2048-bit RSA key made by openssl: (n, e, d), for signing .cdiff
/// files as ClamAV's signing service does.
fn openssl_key() -> (BigUint, BigUint, BigUint) {
    let d = tempfile::tempdir().unwrap();
    let pem = d.path().join("k.pem");
    let o = run(Command::new(peer("openssl", "openssl"))
        .args(["genrsa", "-out"])
        .arg(&pem)
        .arg("2048"));
    assert!(o.status.success());
    let o = run(Command::new(peer("openssl", "openssl"))
        .args(["rsa", "-text", "-noout", "-in"])
        .arg(&pem));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let block = |name: &str| {
        let start = text.find(&format!("{name}:")).unwrap() + name.len() + 1;
        let hex: String = text[start..]
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with(' '))
            .collect::<String>()
            .chars()
            .filter(|c| c.is_ascii_hexdigit())
            .collect();
        BigUint::parse_bytes(hex.as_bytes(), 16).unwrap()
    };
    (block("modulus"), BigUint::from(65537u32), block("privateExponent"))
}

/// `daily-{v}.cdiff` taking `old` to `new` (both as sigtool built
/// them): sigtool --diff writes the script, which is gzipped and signed
/// the way ClamAV's own .cdiff files are.
fn cdiff(
    old: &[u8],
    new: &[u8],
    v: u32,
    k: &(BigUint, BigUint, BigUint),
) -> Vec<u8> {
    cdiff_edited(old, new, v, k, |s| s)
}

/// As [`cdiff`], with sigtool's script passed through `edit` before it
/// is packed and signed.
fn cdiff_edited(
    old: &[u8],
    new: &[u8],
    v: u32,
    k: &(BigUint, BigUint, BigUint),
    edit: impl Fn(String) -> String,
) -> Vec<u8> {
    use sha2::Digest;
    use std::io::Write;
    let d = tempfile::tempdir().unwrap();
    for (dir, b) in [("old", old), ("new", new)] {
        std::fs::create_dir(d.path().join(dir)).unwrap();
        std::fs::write(d.path().join(dir).join("daily.cud"), b).unwrap();
    }
    let o = run(Command::new(peer("sigtool", "clamav"))
        .current_dir(d.path())
        .arg("--diff=old/daily.cud")
        .arg("new/daily.cud"));
    let script = std::fs::read(d.path().join(format!("new/daily-{v}.script")))
        .unwrap_or_else(|e| {
            panic!("no script ({e}): {}", String::from_utf8_lossy(&o.stderr))
        });
    let script = edit(String::from_utf8(script).unwrap()).into_bytes();
    let mut out = format!("ClamAV-Diff:{v}:{}:", script.len()).into_bytes();
    let mut gz = flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    );
    gz.write_all(&script).unwrap();
    out.extend_from_slice(&gz.finish().unwrap());
    let digest: [u8; 32] = sha2::Sha256::digest(&out).into();
    let sig = nod32upd::cdiff::sign_pss(&digest, &[v as u8; 32], &k.0, &k.2);
    out.push(b':');
    out.extend_from_slice(sig.as_bytes());
    out
}

/// Incremental updates: from version 5, a server with the version 7 CVD
/// and daily-6/7.cdiff (as a cvdupdate mirror keeps them) is brought in
/// by the two .cdiff files alone (the CVD's header is all that is
/// fetched of it), into a .cld whose module gives clamscan's verdicts
/// for version 7. A .cdiff whose signature fails is refused and the
/// whole CVD fetched instead.
#[test]
fn incremental_cdiff_updates() {
    let web = Nginx::start(2579);
    let (fk, ck) = (feed_key(), openssl_key());
    let b: Vec<Vec<u8>> = (5..=8).map(|v| built(v, 0)).collect();
    std::fs::write(web.root().join("daily.cvd"), sign_cvd(&b[0], &fk))
        .unwrap();
    let upd = Upd::new(
        &[web.url("")],
        &format!("cdiff_key = \"{}:{}\"\n", ck.0, ck.1),
    );
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    std::fs::write(web.root().join("daily.cvd"), sign_cvd(&b[2], &fk))
        .unwrap();
    for v in [6, 7] {
        let i = (v - 5) as usize;
        std::fs::write(
            web.root().join(format!("daily-{v}.cdiff")),
            cdiff(&b[i - 1], &b[i], v, &ck),
        )
        .unwrap();
    }
    let before = web.requests();
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("daily 5 -> 7 (2 cdiffs, "), "{log}");
    let dir = upd.dir.path().join("db");
    assert!(dir.join("daily.cld").exists() && !dir.join("daily.cvd").exists());
    let access =
        std::fs::read_to_string(web.dir.path().join("access.log")).unwrap();
    let this_run: Vec<&str> = access.lines().skip(before).collect();
    assert!(
        this_run
            .iter()
            .filter(|l| l.contains("GET /daily.cvd "))
            .all(|l| l.contains("\" 206 ")),
        "the whole CVD was fetched: {this_run:#?}"
    );
    let samples = tempfile::tempdir().unwrap();
    for i in 1..=8 {
        let f = samples.path().join(format!("s{i}"));
        std::fs::write(&f, marker(i)).unwrap();
        assert_eq!(upd.verdict(&f), clamscan(7, &f), "s{i}");
    }
    // Nothing new now.
    assert!(upd.run(&[]).1.contains("daily 7 current"));

    // Version 8: its .cdiff damaged in transit (one byte of the gzip).
    std::fs::write(web.root().join("daily.cvd"), sign_cvd(&b[3], &fk))
        .unwrap();
    let mut bad = cdiff(&b[2], &b[3], 8, &ck);
    bad[30] ^= 1;
    std::fs::write(web.root().join("daily-8.cdiff"), bad).unwrap();
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains(
            "daily-8.cdiff: refused: the digital signature does not verify"
        ),
        "{log}"
    );
    assert!(
        log.contains("fetching the whole CVD")
            && log.contains("daily 7 -> 8 ("),
        "{log}"
    );
    assert!(dir.join("daily.cvd").exists() && !dir.join("daily.cld").exists());
    let f = samples.path().join("s8");
    assert_eq!(upd.verdict(&f), clamscan(8, &f));
}

/// Signed manifests: `nod32upd keygen` makes a key; mirror A signs its
/// update.ver with it; B, which names the public key, takes A's files;
/// a manifest changed after signing, a file other than the one listed,
/// or another key's manifest are refused (status 107, nothing taken);
/// `nod32upd sign` signs a private feed's directory the same way.
#[test]
fn signed_update_ver_between_mirrors() {
    use std::os::unix::fs::PermissionsExt;
    let web = Nginx::start(2577);
    let origin = web.root().join("other");
    std::fs::write(origin.join("daily.cvd"), cvd(5, &feed_key())).unwrap();
    let keys = tempfile::tempdir().unwrap();
    let keygen = |f: &str| {
        let o = run(Command::new(bin("nod32upd"))
            .arg("keygen")
            .arg(keys.path().join(f)));
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).trim().to_string(),
        )
    };
    let (ok, public) = keygen("mirror.key");
    assert!(ok && public.len() == 64, "{public}");
    let secret = keys.path().join("mirror.key");
    let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // A key is never overwritten.
    assert!(!keygen("mirror.key").0);
    let served = web.root().join("a/nod_upd");
    let a = Upd::new(
        &[web.url("other")],
        &format!(
            "mirror_enabled = true\nmirror_dir = \"{}\"\nmirror_signing_key = \"{}\"\n",
            served.display(),
            secret.display()
        ),
    );
    let (code, log) = a.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("update.ver signed"), "{log}");
    let trusting = |public: &str| {
        Upd::new(
            &[web.url("a/nod_upd")],
            &format!("mirror_public_key = \"{public}\"\n"),
        )
    };
    let (code, log) = trusting(&public).run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("daily 5 new"), "{log}");

    // The manifest changed after signing.
    let ver = std::fs::read_to_string(served.join("update.ver")).unwrap();
    std::fs::write(
        served.join("update.ver"),
        ver.replace("version=5", "version=6"),
    )
    .unwrap();
    let c = trusting(&public);
    let (code, log) = c.run(&[]);
    assert_eq!(code, 107, "{log}");
    assert!(
        log.contains("update.ver: refused: its signature does not verify"),
        "{log}"
    );
    assert!(!c.db().exists() && !c.module().exists());
    std::fs::write(served.join("update.ver"), &ver).unwrap();
    // Another validly signed CVD of the same version, not the one listed.
    let listed = std::fs::read(served.join("daily.cvd")).unwrap();
    std::fs::write(served.join("daily.cvd"), cvd_with(5, 3, &feed_key()))
        .unwrap();
    let (code, log) = c.run(&[]);
    assert_eq!(code, 107, "{log}");
    assert!(log.contains("not the file the signed update.ver lists"), "{log}");
    assert!(!c.db().exists());
    std::fs::write(served.join("daily.cvd"), &listed).unwrap();
    // Another key.
    let (_, other) = keygen("other.key");
    let (code, log) = trusting(&other).run(&[]);
    assert_eq!(code, 107, "{log}");

    // A private feed: a directory signed with `nod32upd sign`.
    let feed = web.root().join("feed");
    std::fs::create_dir_all(&feed).unwrap();
    std::fs::write(feed.join("daily.cvd"), cvd(5, &feed_key())).unwrap();
    let o = run(Command::new(bin("nod32upd"))
        .args(["sign", "--key"])
        .arg(&secret)
        .arg(&feed));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let f = Upd::new(
        &[web.url("feed")],
        &format!("mirror_public_key = \"{public}\"\n"),
    );
    let (code, log) = f.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("daily 5 new"), "{log}");
}

/// A download cut short (here by the timeout, against a server that
/// sends 64 KB/s) keeps what came; the next run asks only for the rest
/// (one 206 answer of exactly the missing bytes) and the result
/// verifies. A kept part of another file is dropped, not spliced.
#[test]
fn an_interrupted_download_resumes() {
    let web = Nginx::start(2576);
    let big = cvd_with(7, 20_000, &feed_key());
    assert!(big.len() > 300_000, "{}", big.len());
    for d in ["", "slow"] {
        std::fs::write(web.root().join(d).join("daily.cvd"), &big).unwrap();
    }
    let upd = Upd::new(&[web.url("slow")], "timeout = \"2s\"\n");
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 1, "{log}");
    // Kept in the directory of the user downloads run as.
    let part = upd.dir.path().join("db/.work/.daily.cvd.part");
    let kept = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    assert!(
        kept > 512 && kept < big.len() as u64,
        "kept {kept} of {}",
        big.len()
    );
    assert!(!upd.db().exists());
    let n = web.requests();
    let (code, log) = upd.run(&["--server", &web.url("")]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("daily 7 new"), "{log}");
    assert_eq!(std::fs::read(upd.db()).unwrap(), big);
    assert!(!part.exists());
    let access =
        std::fs::read_to_string(web.dir.path().join("access.log")).unwrap();
    let rest = access
        .lines()
        .skip(n)
        .find(|l| l.contains("GET /daily.cvd ") && !l.contains("\" 206 512 "))
        .unwrap_or_else(|| panic!("{access}"))
        .to_string();
    assert!(
        rest.contains(&format!("\" 206 {} ", big.len() as u64 - kept)),
        "{rest}"
    );

    // A part of another version of the file: dropped, the whole new
    // file fetched.
    let other = Upd::new(&[web.url("")], "");
    std::fs::create_dir_all(other.dir.path().join("db/.work")).unwrap();
    let v5 = cvd(5, &feed_key());
    std::fs::write(
        other.dir.path().join("db/.work/.daily.cvd.part"),
        &v5[..v5.len() / 2],
    )
    .unwrap();
    let (code, log) = other.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert_eq!(std::fs::read(other.db()).unwrap(), big);
}

/// Through an HTTP proxy (Debian's tinyproxy on 127.0.0.1, with basic
/// auth): the databases come through it (its log shows the tunnel);
/// with a wrong proxy password, nothing comes and nothing changes.
#[test]
fn through_an_http_proxy() {
    use std::os::unix::fs::PermissionsExt;
    let web = Nginx::start(2574);
    std::fs::write(web.root().join("daily.cvd"), cvd(5, &feed_key())).unwrap();
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o777))
        .unwrap();
    let p = d.path().display();
    std::fs::write(
        d.path().join("tinyproxy.conf"),
        format!(
            "User nobody\nGroup nogroup\nPort 2573\nListen 127.0.0.1\nTimeout 30\n\
             MaxClients 8\nLogFile \"{p}/tinyproxy.log\"\nLogLevel Info\n\
             BasicAuth nod32 pr0xy\nAllow 127.0.0.1\n"
        ),
    )
    .unwrap();
    struct Proxy(Child);
    impl Drop for Proxy {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _proxy = Proxy(
        Command::new(peer("tinyproxy", "tinyproxy"))
            .arg("-d")
            .arg("-c")
            .arg(d.path().join("tinyproxy.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let t0 = Instant::now();
    while std::net::TcpStream::connect("127.0.0.1:2573").is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "tinyproxy did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let wrong = Upd::new(
        &[web.url("")],
        "proxy = \"http://nod32:wrong@127.0.0.1:2573\"\n",
    );
    let (code, log) = wrong.run(&[]);
    assert_eq!(code, 1, "{log}");
    assert!(!wrong.db().exists());
    let n = web.requests();
    let upd = Upd::new(
        &[web.url("")],
        "proxy = \"http://nod32:pr0xy@127.0.0.1:2573\"\n",
    );
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("daily 5 new"), "{log}");
    assert!(web.requests() > n);
    let plog = std::fs::read_to_string(d.path().join("tinyproxy.log"))
        .unwrap_or_default();
    // ureq tunnels through the proxy (CONNECT), for http:// as https://.
    assert!(
        plog.contains("Request (file descriptor 5): CONNECT 127.0.0.1:2574")
            || plog.contains(": CONNECT 127.0.0.1:2574 HTTP/1.1"),
        "{plog}"
    );
}

/// A server with .cld files instead of CVDs (a private mirror freshclam
/// keeps): the .cld's .info member must carry a DSIG line the info key
/// verifies, and list every member with its size and SHA-256. Signed
/// and whole: taken, and its module gives clamscan's verdicts; a member
/// changed after signing, or no DSIG at all: refused, nothing taken.
#[test]
fn cld_files_from_a_private_mirror() {
    use sha2::Digest;
    let web = Nginx::start(2572);
    let ik = openssl_key();
    let dir = web.root().join("other");
    let signed_cld = |files: &std::collections::BTreeMap<String, Vec<u8>>,
                      sign: bool| {
        let mut files = files.clone();
        let info = files.get_mut("daily.info").unwrap();
        if sign {
            let digest: [u8; 32] = sha2::Sha256::digest(&info[..]).into();
            let sig =
                nod32upd::cdiff::sign_pss(&digest, &[9; 32], &ik.0, &ik.2);
            info.extend_from_slice(format!("DSIG:{sig}\n").as_bytes());
        }
        nod32upd::cdiff::build_cld("daily", 6, &files)
    };
    let files = nod32upd::cdiff::unpack(&built(6, 0)).unwrap();
    std::fs::write(dir.join("daily.cld"), signed_cld(&files, true)).unwrap();
    let conf = format!("info_key = \"{}:{}\"\n", ik.0, ik.1);
    let upd = Upd::new(&[web.url("other")], &conf);
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("daily 6 new"), "{log}");
    assert!(upd.dir.path().join("db/daily.cld").exists());
    for i in 1..=7 {
        let f = upd.dir.path().join(format!("s{i}"));
        std::fs::write(&f, marker(i)).unwrap();
        assert_eq!(upd.verdict(&f), clamscan(6, &f), "s{i}");
    }

    // A member changed after the .info was signed.
    let mut changed = files.clone();
    changed.get_mut("daily.hdb").unwrap().extend_from_slice(
        b"44d88612fea8a8f36de82e1278abb02f:68:Planted:73\n",
    );
    std::fs::write(dir.join("daily.cld"), signed_cld(&changed, true)).unwrap();
    let other = Upd::new(&[web.url("other")], &conf);
    let (code, log) = other.run(&[]);
    assert_eq!(code, 107, "{log}");
    assert!(log.contains("daily.hdb is not as daily.info lists it"), "{log}");
    assert!(!other.dir.path().join("db/daily.cld").exists());
    // No DSIG line at all.
    std::fs::write(dir.join("daily.cld"), signed_cld(&files, false)).unwrap();
    let (code, log) = other.run(&[]);
    assert_eq!(code, 107, "{log}");
    assert!(log.contains("the digital signature does not verify"), "{log}");
    // Signed and whole, its header relabelled: the DSIG covers the
    // .info's version line, not the header.
    std::fs::write(
        dir.join("daily.cld"),
        relabel(&signed_cld(&files, true), 9),
    )
    .unwrap();
    let (code, log) = other.run(&[]);
    assert_eq!(code, 107, "{log}");
    assert!(
        log.contains("refused: its header says version 9 but its signed daily.info says 6"),
        "{log}"
    );
    assert!(!other.dir.path().join("db/daily.cld").exists());
}

/// A .cdiff's version is in its signed header; the script it carries
/// must bring the database's daily.info to that version too. One signed
/// as daily-6 whose script writes version 7 into daily.info is not
/// taken: the whole version 6 CVD is fetched instead.
#[test]
fn a_cdiff_must_make_the_version_it_names() {
    let web = Nginx::start(2569);
    let (fk, ck) = (feed_key(), openssl_key());
    let b: Vec<Vec<u8>> = (5..=6).map(|v| built(v, 0)).collect();
    std::fs::write(web.root().join("daily.cvd"), sign_cvd(&b[0], &fk))
        .unwrap();
    let upd = Upd::new(
        &[web.url("")],
        &format!("cdiff_key = \"{}:{}\"\n", ck.0, ck.1),
    );
    assert_eq!(upd.run(&[]).0, 0);
    std::fs::write(web.root().join("daily.cvd"), sign_cvd(&b[1], &fk))
        .unwrap();
    let lying = cdiff_edited(&b[0], &b[1], 6, &ck, |s| {
        let at = s.find("OPEN daily.info\nXCHG 1 ").unwrap();
        let end = at + s[at..].find(":6:").unwrap();
        format!("{}:7:{}", &s[..end], &s[end + 3..])
    });
    std::fs::write(web.root().join("daily-6.cdiff"), lying).unwrap();
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("daily-6.cdiff: it makes daily.info version 7, not 6"),
        "{log}"
    );
    assert!(
        log.contains("fetching the whole CVD")
            && log.contains("daily 5 -> 6 ("),
        "{log}"
    );
    let dir = upd.dir.path().join("db");
    assert!(dir.join("daily.cvd").exists() && !dir.join("daily.cld").exists());
}

/// ClamAV's own bytecode.cvd, version 268, as ClamAV signed it (`sigtool
/// -i` says "Verification OK"), from the shared data beside the
/// repository (ClamAV's file, so not copied into ours).
const CLAMAV_BYTECODE: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/bytecode-268.cvd");

/// `db` with its header's version field (the third) made `v`. The
/// signature covers the MD5 of the body only, so the result still
/// passes the MD5 and RSA checks.
fn relabel(db: &[u8], v: u64) -> Vec<u8> {
    let head = String::from_utf8_lossy(&db[..512]).trim_end().to_string();
    let mut f: Vec<String> = head.split(':').map(str::to_string).collect();
    f[2] = v.to_string();
    let mut out = f.join(":").into_bytes();
    assert!(out.len() <= 512);
    out.resize(512, b' ');
    out.extend_from_slice(&db[512..]);
    out
}

/// A mirror relabels ClamAV's genuinely signed bytecode.cvd: 268 becomes
/// 269 or 1000 (a newer version that would drop 268's signatures for
/// older ones; the signed bytecode.info inside says 268), then
/// 4294967295 (after which every real version would look older; no
/// version that high is taken). Each is refused with status 107, the
/// database and the module stay byte for byte, and the real 268 is
/// still current afterwards. A copy relabelled before this check
/// existed is found by its .info and replaced. (A local.ndb beside it
/// gives the module the body signature without which a module built
/// from bytecode.cvd alone is refused.)
#[test]
fn a_relabelled_version_is_refused() {
    let web = Nginx::start(2571);
    let real = std::fs::read(CLAMAV_BYTECODE)
        .unwrap_or_else(|e| panic!("{CLAMAV_BYTECODE}: {e}"));
    let serve =
        |b: &[u8]| std::fs::write(web.root().join("bytecode.cvd"), b).unwrap();
    serve(&real);
    let upd = Upd::with_key(&[web.url("")], "databases = [\"bytecode\"]\n");
    std::fs::create_dir_all(upd.dir.path().join("db")).unwrap();
    std::fs::write(
        upd.dir.path().join("db/local.ndb"),
        "Nod32.Test.Local:0:*:6e6f6433322d6c6f63616c\n",
    )
    .unwrap();
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("update: bytecode 268 new ("), "{log}");
    let db_path = upd.dir.path().join("db/bytecode.cvd");
    assert_eq!(std::fs::read(&db_path).unwrap(), real);
    let module = std::fs::read(upd.module()).unwrap();
    for v in [269, 1000, u64::from(u32::MAX)] {
        serve(&relabel(&real, v));
        let (code, log) = upd.run(&[]);
        assert_eq!(code, 107, "relabelled {v}: {log}");
        // 4294967295 does not get as far as the download.
        let why = if v > 0x7fff_ffff {
            format!("refused: version {v} is beyond the largest taken")
        } else {
            format!(
                "refused: its header says version {v} but its signed bytecode.info says 268"
            )
        };
        assert!(log.contains(&why), "{log}");
        assert_eq!(std::fs::read(&db_path).unwrap(), real, "relabelled {v}");
        assert_eq!(std::fs::read(upd.module()).unwrap(), module);
    }
    serve(&real);
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("update: bytecode 268 current"), "{log}");

    // What a run before this check could have left: 268 labelled
    // 4294967295, which every real version looks older than.
    std::fs::write(&db_path, relabel(&real, u64::from(u32::MAX))).unwrap();
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("bytecode.cvd: its header says version 4294967295 but its signed bytecode.info says 268"),
        "{log}"
    );
    assert!(log.contains("bytecode 4294967295 -> 268 ("), "{log}");
    assert_eq!(std::fs::read(&db_path).unwrap(), real);
}

/// ClamAV's signed bytecode.cvd served as daily.cvd: the signature holds,
/// but the signed .info inside is bytecode.info. Refused (107), nothing
/// installed: it would have replaced the daily signatures with the
/// bytecode ones.
#[test]
fn another_database_under_its_name_is_refused() {
    let web = Nginx::start(2570);
    std::fs::copy(CLAMAV_BYTECODE, web.root().join("daily.cvd")).unwrap();
    let upd = Upd::with_key(&[web.url("")], "");
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 107, "{log}");
    assert!(
        log.contains(
            "refused: its signed .info is bytecode.info, not daily.info"
        ),
        "{log}"
    );
    assert!(!upd.db().exists() && !upd.module().exists());
}

/// How far a version may jump: from 5, a CVD signed with the feed's key
/// as version 1005 is taken (1000 versions at once), one signed as 1006
/// is refused (107, nothing changes) unless the server's update.ver,
/// signed with mirror_public_key, lists it, or with --force. A version
/// above 2147483647 is refused even as a first install: nothing newer
/// could ever follow it.
#[test]
fn version_jumps_are_bounded() {
    let web = Nginx::start(2568);
    let fk = feed_key();
    let v5 = cvd(5, &fk);
    let serve = |dir: &str, b: &[u8]| {
        std::fs::write(web.root().join(dir).join("daily.cvd"), b).unwrap()
    };
    let installed_5 = |extra: &str, dir: &str| {
        serve(dir, &v5);
        let u = Upd::new(&[web.url(dir)], extra);
        let (code, log) = u.run(&[]);
        assert_eq!(code, 0, "{log}");
        u
    };
    let upd = installed_5("", "");
    let module = std::fs::read(upd.module()).unwrap();
    serve("", &sign_cvd(&built_as(6, 0, 1005), &fk));
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("daily 5 -> 1005 ("), "{log}");

    let upd = installed_5("", "");
    let far = sign_cvd(&built_as(6, 0, 1006), &fk);
    serve("", &far);
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 107, "{log}");
    assert!(
        log.contains("version 1006 is 1001 versions above the installed 5"),
        "{log}"
    );
    assert_eq!(std::fs::read(upd.db()).unwrap(), v5);
    assert_eq!(std::fs::read(upd.module()).unwrap(), module);
    let (code, log) = upd.run(&["--force"]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("daily 5 -> 1006 ("), "{log}");

    // A feed whose signed update.ver lists the version.
    let keys = tempfile::tempdir().unwrap();
    let o = run(Command::new(bin("nod32upd"))
        .arg("keygen")
        .arg(keys.path().join("k")));
    let public = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let sign = || {
        let o = run(Command::new(bin("nod32upd"))
            .args(["sign", "--key"])
            .arg(keys.path().join("k"))
            .arg(web.root().join("other")));
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    std::fs::write(web.root().join("other/daily.cvd"), &v5).unwrap();
    sign();
    let signed =
        installed_5(&format!("mirror_public_key = \"{public}\"\n"), "other");
    serve("other", &far);
    sign();
    let (code, log) = signed.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("daily 5 -> 1006 ("), "{log}");

    // Beyond 2^31 - 1, even with nothing installed.
    serve("", &sign_cvd(&built_as(5, 0, 2_147_483_648), &fk));
    let first = Upd::new(&[web.url("")], "");
    let (code, log) = first.run(&[]);
    assert_eq!(code, 107, "{log}");
    assert!(
        log.contains(
            "version 2147483648 is beyond the largest taken, 2147483647"
        ),
        "{log}"
    );
    assert!(!first.db().exists() && !first.module().exists());
}

/// A frozen state is never silent: installed as version 3000 (signed,
/// from a feed that numbered it so), against servers whose newest is 6
/// nod32upd does not say "current" with status 0 (it would never take
/// a real version again) but logs the gap as an error with status 4;
/// --force takes the servers' version.
#[test]
fn an_installed_version_far_above_the_servers_is_not_current() {
    let web = Nginx::start(2567);
    let fk = feed_key();
    std::fs::write(
        web.root().join("daily.cvd"),
        sign_cvd(&built_as(5, 0, 3000), &fk),
    )
    .unwrap();
    let upd = Upd::new(&[web.url("")], "");
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("daily 3000 new"), "{log}");
    std::fs::write(web.root().join("daily.cvd"), cvd(6, &fk)).unwrap();
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 4, "{log}");
    assert!(
        log.contains("daily: the installed version 3000 is 2994 versions above the newest any server has (6)"),
        "{log}"
    );
    assert!(!log.contains("daily 3000 current"), "{log}");
    // A server a version or two behind is only a lagging mirror.
    std::fs::write(
        web.root().join("daily.cvd"),
        sign_cvd(&built_as(5, 0, 2999), &fk),
    )
    .unwrap();
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("is older than the local 3000; kept 3000"), "{log}");
    std::fs::write(web.root().join("daily.cvd"), cvd(6, &fk)).unwrap();
    let (code, log) = upd.run(&["--force"]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("daily 3000 -> 6 ("), "{log}");
}

/// The processes under `root` (itself included).
fn process_tree(root: u32) -> Vec<u32> {
    let mut tree = vec![root];
    let mut grew = true;
    while grew {
        grew = false;
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>()
            else {
                continue;
            };
            let stat = std::fs::read_to_string(e.path().join("stat"))
                .unwrap_or_default();
            // pid (comm) state ppid ...: comm may hold spaces.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid.is_some_and(|p| tree.contains(&p)) && !tree.contains(&pid)
            {
                tree.push(pid);
                grew = true;
            }
        }
    }
    tree
}

/// The process under `root` with a connection to 127.0.0.1:`port` open.
fn connected_to(root: u32, port: u16) -> Option<u32> {
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    // Socket inodes of established connections to the port.
    let want = format!("0100007F:{port:04X}");
    let inodes: Vec<String> = tcp
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(2) == Some(&want.as_str()) && f.get(3) == Some(&"01"))
                .then(|| format!("socket:[{}]", f[9]))
        })
        .collect();
    process_tree(root).into_iter().find(|pid| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .any(|l| inodes.contains(&l.to_string_lossy().into_owned()))
    })
}

/// A `/proc/PID/status` line's fields (`Uid:`, `Gid:`, `Groups:`).
fn status_ids(pid: u32, key: &str) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.split_whitespace().filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_default()
}

/// What a network peer sends is fetched and parsed as [global] user, not
/// root: during a download from a slow server (64 KB/s), the process
/// holding the connection runs as nobody (real, effective, saved and
/// file-system ids; group nogroup and no other), and the part of the
/// file it writes is nobody's. The database directory stays root's, and
/// the database and the module land there all the same, root's too.
#[test]
fn downloads_run_as_the_service_user() {
    use std::os::unix::fs::MetadataExt;
    let web = Nginx::start(2566);
    let big = cvd_with(7, 20_000, &feed_key());
    std::fs::write(web.root().join("slow/daily.cvd"), &big).unwrap();
    let upd = Upd::new(&[web.url("slow")], "");
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let nogroup = nix::unistd::Group::from_name("nogroup").unwrap().unwrap();
    let (uid, gid) = (nobody.uid.as_raw(), nogroup.gid.as_raw());
    let log_path = upd.dir.path().join("log");
    let mut c = Command::new(bin("nod32upd"))
        .args(["-f", "-c"])
        .arg(upd.dir.path().join("nod32.toml"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let pid = loop {
        if let Some(p) = connected_to(c.id(), web.port) {
            break p;
        }
        assert!(
            c.try_wait().unwrap().is_none(),
            "it ended before a download was seen: {}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        assert!(t0.elapsed() < Duration::from_secs(20), "no download seen");
        std::thread::sleep(Duration::from_millis(10));
    };
    let ids = (
        status_ids(pid, "Uid:"),
        status_ids(pid, "Gid:"),
        status_ids(pid, "Groups:"),
    );
    // What it writes while downloading.
    let parts: Vec<(PathBuf, u32)> = {
        let mut found = Vec::new();
        let t0 = Instant::now();
        while found.is_empty() && t0.elapsed() < Duration::from_secs(5) {
            found = nod32_tests::files_under(&upd.dir.path().join("db"))
                .into_iter()
                .filter(|p| p.to_string_lossy().ends_with(".part"))
                .filter_map(|p| {
                    let m = std::fs::metadata(&p).ok()?;
                    Some((p, m.uid()))
                })
                .collect();
            std::thread::sleep(Duration::from_millis(10));
        }
        found
    };
    let status = c.wait().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(
        ids,
        (vec![uid; 4], vec![gid; 4], vec![gid]),
        "the process downloading (pid {pid}; nod32upd is {}) has these (uids, gids, groups)\n{log}",
        c.id()
    );
    assert!(!parts.is_empty(), "no part file seen\n{log}");
    for (p, owner) in &parts {
        assert_eq!(*owner, uid, "{}", p.display());
    }
    assert_eq!(status.code(), Some(0), "{log}");
    assert!(log.contains("daily 7 new"), "{log}");
    let db_dir = std::fs::metadata(upd.dir.path().join("db")).unwrap();
    assert_eq!((db_dir.uid(), db_dir.mode() & 0o777), (0, 0o755));
    assert_eq!(std::fs::read(upd.db()).unwrap(), big);
    assert_eq!(std::fs::metadata(upd.db()).unwrap().uid(), 0);
    assert_eq!(std::fs::metadata(upd.module()).unwrap().uid(), 0);
    intact(&upd);
}

/// Credentials are not left where any user can read them, nor sent in
/// clear text, without a word: a configuration holding [upd] password,
/// an auth file or a ~/.netrc with one, readable by every user (mode
/// 0644, as a plain `cp` or editor leaves them), are each named in a
/// warning, and so is every http:// server the credentials would go to
/// in clear text. The update itself goes through; with the modes
/// tightened the file warnings end.
#[test]
fn credentials_in_readable_files_and_over_http_are_warned() {
    use std::os::unix::fs::PermissionsExt;
    let web = Nginx::start(2565);
    std::fs::write(web.root().join("auth/daily.cvd"), cvd(5, &feed_key()))
        .unwrap();
    let server = web.url("auth");
    let mode = |p: &Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m))
            .unwrap()
    };
    let clear =
        format!("the credentials go in clear text to {server}: use https://");

    // In the configuration.
    let upd = Upd::new(
        std::slice::from_ref(&server),
        "username = \"nod32\"\npassword = \"s3cret\"\n",
    );
    let config = upd.dir.path().join("nod32.toml");
    mode(&config, 0o644);
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    let readable = format!(
        "{}: holds a password and is readable by every user (mode 0644)",
        config.display()
    );
    assert!(log.contains(&readable), "{log}");
    assert!(log.contains(&clear), "{log}");
    mode(&config, 0o640);
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains("readable by every user"), "{log}");
    assert!(log.contains(&clear), "{log}");

    // In the auth file.
    let a = Upd::new(std::slice::from_ref(&server), "");
    let auth = a.dir.path().join("nod32.auth");
    std::fs::write(&auth, "username = nod32\npassword = s3cret\n").unwrap();
    mode(&auth, 0o644);
    mode(&a.dir.path().join("nod32.toml"), 0o644);
    let (code, log) = a.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains(&format!(
            "{}: holds a password and is readable by every user (mode 0644)",
            auth.display()
        )),
        "{log}"
    );
    // The configuration holds none.
    assert_eq!(log.matches("readable by every user").count(), 1, "{log}");
    mode(&auth, 0o600);
    let (_, log) = a.run(&[]);
    assert!(!log.contains("readable by every user"), "{log}");

    // In ~/.netrc.
    let n = Upd::new(std::slice::from_ref(&server), "");
    let home = tempfile::tempdir().unwrap();
    let netrc = home.path().join(".netrc");
    std::fs::write(&netrc, "machine 127.0.0.1 login nod32 password s3cret\n")
        .unwrap();
    mode(&netrc, 0o644);
    let (code, log) = n.run_env(&[], &[("HOME", home.path())]);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains(&format!(
            "{}: holds a password and is readable by every user (mode 0644)",
            netrc.display()
        )),
        "{log}"
    );
    assert!(log.contains(&clear), "{log}");

    // No credentials, nothing to say.
    let none = Upd::new(&[web.url("")], "");
    std::fs::write(web.root().join("daily.cvd"), cvd(5, &feed_key())).unwrap();
    let (code, log) = none.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains("clear text") && !log.contains("readable"), "{log}");
}

/// The engine's built-in signatures (EICAR, the project's test marker)
/// compiled to `upd`'s module, as the packages install it before the
/// first update.
fn install_builtin_module(upd: &Upd) {
    let b = concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/engine/builtin");
    let o = run(Command::new(bin("nod32cli"))
        .arg("compile")
        .arg(format!("{b}/default.ndb"))
        .arg(format!("{b}/default.hdb"))
        .arg("-o")
        .arg(upd.module()));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// An update never silently leaves a module that detects much less than
/// the running one. With `databases = ["bytecode"]` (ClamAV's real
/// bytecode.cvd: two hash signatures, the rest bytecode this engine does
/// not run) the rebuilt module would hold no body signature, and EICAR,
/// found by the installed built-in module, would pass as clean; a daily
/// that drops most of its signatures would lose most of what the
/// running module finds. Each is refused with status 5 and an error
/// saying why, on every run, leaving the module and the databases byte
/// for byte; --force takes it.
#[test]
fn a_rebuild_that_would_detect_much_less_is_refused() {
    let web = Nginx::start(2575);
    std::fs::copy(CLAMAV_BYTECODE, web.root().join("bytecode.cvd"))
        .unwrap_or_else(|e| panic!("{CLAMAV_BYTECODE}: {e}"));
    let upd = Upd::with_key(&[web.url("")], "databases = [\"bytecode\"]\n");
    install_builtin_module(&upd);
    let module = std::fs::read(upd.module()).unwrap();
    let samples = tempfile::tempdir().unwrap();
    let eicar = samples.path().join("eicar.com");
    std::fs::write(&eicar, nod32_tests::eicar()).unwrap();
    let found =
        format!("{}: Eicar-Test-Signature.UNOFFICIAL FOUND", eicar.display());
    assert_eq!(upd.verdict(&eicar), found);
    let bytecode = upd.dir.path().join("db/bytecode.cvd");
    for _ in 0..2 {
        let (code, log) = upd.run(&[]);
        assert_eq!(code, 5, "{log}");
        assert!(log.contains("refused to replace the module"), "{log}");
        assert!(log.contains("it has no body signatures"), "{log}");
        assert!(log.contains("nod32upd --force"), "{log}");
        assert!(log.contains("bytecode 268 not installed"), "{log}");
        assert_eq!(std::fs::read(upd.module()).unwrap(), module);
        assert!(!bytecode.exists());
        assert_eq!(upd.verdict(&eicar), found);
    }
    let (code, log) = upd.run(&["--force"]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("taken because of --force"), "{log}");
    assert!(log.contains("update: bytecode 268 new ("), "{log}");
    assert_eq!(
        std::fs::read(&bytecode).unwrap(),
        std::fs::read(CLAMAV_BYTECODE).unwrap()
    );
    assert_eq!(upd.verdict(&eicar), format!("{}: OK", eicar.display()));

    // Version 6 of daily without version 5's 300 other signatures.
    let fk = feed_key();
    std::fs::write(web.root().join("daily.cvd"), cvd_with(5, 300, &fk))
        .unwrap();
    let daily = Upd::new(&[web.url("")], "");
    let (code, log) = daily.run(&[]);
    assert_eq!(code, 0, "{log}");
    let module = std::fs::read(daily.module()).unwrap();
    let db = std::fs::read(daily.db()).unwrap();
    std::fs::write(web.root().join("daily.cvd"), cvd(6, &fk)).unwrap();
    let (code, log) = daily.run(&[]);
    assert_eq!(code, 5, "{log}");
    assert!(log.contains("refused to replace the module"), "{log}");
    assert!(log.contains("fewer than half"), "{log}");
    assert!(log.contains("daily 6 not installed"), "{log}");
    assert_eq!(std::fs::read(daily.module()).unwrap(), module);
    assert_eq!(std::fs::read(daily.db()).unwrap(), db);
    let (code, log) = daily.run(&["--force"]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("daily 5 -> 6 ("), "{log}");
    assert_eq!(
        std::fs::read(daily.db()).unwrap(),
        std::fs::read(web.root().join("daily.cvd")).unwrap()
    );
}

/// What clamscan finds in `file` with the database directories `dirs`
/// (the ".UNOFFICIAL" it adds to signatures outside signed CVDs
/// dropped, as nod32cli names them without it).
fn clamscan_dirs(dirs: &[&Path], file: &Path) -> String {
    let mut c = Command::new(peer("clamscan", "clamav"));
    c.arg("--no-summary");
    for d in dirs {
        c.arg("-d").arg(d);
    }
    let o = run(c.arg(file));
    assert!(
        o.status.code().is_some_and(|c| c < 2),
        "clamscan: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Names of unofficial databases end `.UNOFFICIAL` in both.
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// `nod32cli compile DIRS -o FILE`: the module's bytes.
fn compiled(dirs: &[&Path]) -> Vec<u8> {
    let out = tempfile::tempdir().unwrap();
    let m = out.path().join("m");
    let o = run(Command::new(bin("nod32cli"))
        .arg("compile")
        .args(dirs)
        .arg("-o")
        .arg(&m));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    std::fs::read(m).unwrap()
}

/// Local and third-party signatures are part of the updated module:
/// db_dir is a database directory as ClamAV's DatabaseDirectory (a
/// local.ndb, a local.ign2, a third-party .ldb and .cdb beside ClamAV's
/// signed bytecode.cvd, which nod32upd fetches), and `[upd] local_dir`
/// another. After the update the installed module finds what `clamscan
/// -d` finds with the same directories, `nod32cli compile` of the same
/// directories gives the same module byte for byte, and the .cdb finds
/// the zip it names a member of. A file added to or
/// removed from local_dir makes the next run rebuild the module
/// although no database changed; one the service user cannot read is
/// named, and nothing changes.
#[test]
fn local_and_third_party_signatures_are_in_the_module() {
    use nod32_tests::hex;
    use std::os::unix::fs::PermissionsExt;
    let web = Nginx::start(2578);
    std::fs::copy(CLAMAV_BYTECODE, web.root().join("bytecode.cvd"))
        .unwrap_or_else(|e| panic!("{CLAMAV_BYTECODE}: {e}"));
    let upd = Upd::with_key(&[web.url("")], "databases = [\"bytecode\"]\n");
    let db = upd.dir.path().join("db");
    std::fs::create_dir_all(&db).unwrap();
    let put = |p: PathBuf, text: String| std::fs::write(p, text).unwrap();
    put(
        db.join("local.ndb"),
        format!(
            "Nod32.Test.Local:0:*:{}\nNod32.Test.LocalIgnored:0:*:{}\n",
            hex(b"nod32-local-marker"),
            hex(b"nod32-ignored-marker")
        ),
    );
    put(db.join("local.ign2"), "Nod32.Test.LocalIgnored\n".into());
    put(
        db.join("thirdparty.ldb"),
        format!(
            "Nod32.Test.ThirdParty;Engine:51-255,Target:0;0&1;{};{}\n",
            hex(b"third-party-part-a"),
            hex(b"third-party-part-b")
        ),
    );
    put(
        db.join("thirdparty.cdb"),
        "Nod32.Test.ThirdPartyZip:CL_TYPE_ZIP:*:evil\\.exe:*:*:*:*:*:*\n"
            .into(),
    );
    let samples = tempfile::tempdir().unwrap();
    let sample = |name: &str, text: &str| {
        let p = samples.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let local = sample("local", "xx nod32-local-marker yy\n");
    let ignored = sample("ignored", "xx nod32-ignored-marker yy\n");
    let third = sample("third", "third-party-part-b, third-party-part-a\n");
    let half = sample("half", "third-party-part-a alone\n");
    let hashed = sample("hashed", "a file a local .hdb names\n");
    sample("evil.exe", "a member the .cdb names\n");
    let zipped = samples.path().join("evil.zip");
    let made = std::process::Command::new("zip")
        .args(["-q", "evil.zip", "evil.exe"])
        .current_dir(samples.path())
        .status()
        .unwrap();
    assert!(made.success());

    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("update: bytecode 268 new ("), "{log}");
    for f in [&local, &ignored, &third, &half, &hashed, &zipped] {
        assert_eq!(upd.verdict(f), clamscan_dirs(&[&db], f));
    }
    for f in [&local, &third, &zipped] {
        assert!(upd.verdict(f).ends_with(" FOUND"), "{}", upd.verdict(f));
    }
    assert!(!log.contains("thirdparty.cdb"), "{log}");
    assert_eq!(compiled(&[&db]), std::fs::read(upd.module()).unwrap());

    // local_dir: a .hdb there, then gone; no database changes meanwhile.
    let extra = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        extra.path(),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let config = upd.dir.path().join("nod32.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("local_dir = \"{}\"\n", extra.path().display()));
    std::fs::write(&config, text).unwrap();
    let md5 = hex(&Md5::digest(std::fs::read(&hashed).unwrap()));
    let len = std::fs::metadata(&hashed).unwrap().len();
    put(
        extra.path().join("mine.hdb"),
        format!("{md5}:{len}:Nod32.Test.LocalHash\n"),
    );
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("bytecode 268 current"), "{log}");
    assert!(log.contains(" rebuilt ("), "{log}");
    for f in [&local, &third, &hashed] {
        assert_eq!(upd.verdict(f), clamscan_dirs(&[&db, extra.path()], f));
        assert!(upd.verdict(f).ends_with(" FOUND"), "{}", upd.verdict(f));
    }
    assert_eq!(
        compiled(&[&db, extra.path()]),
        std::fs::read(upd.module()).unwrap()
    );
    // Nothing changed: nothing rebuilt.
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(!log.contains(" rebuilt ("), "{log}");
    std::fs::remove_file(extra.path().join("mine.hdb")).unwrap();
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains(" rebuilt ("), "{log}");
    assert_eq!(upd.verdict(&hashed), format!("{}: OK", hashed.display()));

    // Root's alone: the build, as [global] user, cannot read it.
    let module = std::fs::read(upd.module()).unwrap();
    let secret = extra.path().join("secret.ndb");
    put(secret.clone(), "Nod32.Test.Secret:0:*:0102030405\n".into());
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600))
        .unwrap();
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 1, "{log}");
    assert!(log.contains(&secret.display().to_string()), "{log}");
    assert!(log.contains("nobody"), "{log}");
    assert_eq!(std::fs::read(upd.module()).unwrap(), module);
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644))
        .unwrap();
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains(" rebuilt ("), "{log}");
}

/// `[upd] agent_enabled = false`: a run says updates are off and asks no
/// server; --check-config warns of it, and of a list without servers.
#[test]
fn a_disabled_updater_does_nothing_and_says_so() {
    let web = Nginx::start(2589);
    std::fs::write(web.root().join("daily.cvd"), cvd(5, &feed_key())).unwrap();
    let upd = Upd::new(&[web.url("")], "agent_enabled = false\n");
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("updates are off"), "{log}");
    assert_eq!(web.requests(), 0, "{log}");
    assert!(!upd.db().exists());
    let (code, log) = upd.run(&["--check-config"]);
    assert_eq!(code, 0, "{log}");
    assert!(
        log.contains("agent_enabled = false: a run does nothing"),
        "{log}"
    );
    let none = Upd::new(&[], "");
    let (_, log) = none.run(&["--check-config"]);
    assert!(log.contains("no update servers"), "{log}");
}

/// A mirror of whole CVDs without .cdiff files (a private one, kept by
/// copying): a newer version is fetched whole with no warning, as
/// nothing is wrong.
#[test]
fn a_mirror_without_cdiff_files_is_no_warning() {
    let web = Nginx::start(2590);
    std::fs::write(web.root().join("daily.cvd"), cvd(5, &feed_key())).unwrap();
    let upd = Upd::new(&[web.url("")], "");
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    std::fs::write(web.root().join("daily.cvd"), cvd(6, &feed_key())).unwrap();
    let (code, log) = upd.run(&[]);
    assert_eq!(code, 0, "{log}");
    assert!(log.contains("daily 5 -> 6"), "{log}");
    assert!(!log.contains("warning"), "{log}");
}
