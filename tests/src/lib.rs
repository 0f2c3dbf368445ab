//! Helpers shared by the end-to-end tests under `tests/tests/`.
//!
//! The tests run the real binaries (built by `cargo xtask test` before
//! `cargo test`) against real peers: `clamscan` as the oracle for signature
//! semantics, amavisd-new as a client of `nod32cli`. A missing peer is a
//! failure, never a skip.
#![forbid(unsafe_code)]

pub mod autoit;
pub mod fsg;
pub mod hfsplus;
pub mod ishield;
pub mod mutants;
pub mod onenote;
pub mod pespin;
pub mod sis;
pub mod upx;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The path of a workspace binary next to the test executable.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let dir = exe.parent().and_then(Path::parent).expect("target directory");
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is missing: build the workspace first (cargo xtask test does)",
        p.display()
    );
    p
}

/// Finds a peer program or fails the test with how to install it.
pub fn peer(name: &str, package: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "peer `{name}` is not installed: apt-get install {package} (cargo xtask test installs it)"
    );
}

/// Runs a command and returns its output, failing the test if it cannot
/// start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Runs a command with `input` on its standard input and returns its
/// output (both streams captured), failing the test if it cannot start.
pub fn run_with_input(cmd: &mut Command, input: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut c = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    c.stdin.take().expect("stdin").write_all(input).unwrap();
    c.wait_with_output().unwrap()
}

/// swaks sending `msg` (the whole message, header included) to
/// `server` from `from` to `to` (comma-separated), with `extra` options.
pub fn swaks(
    server: &str,
    from: &str,
    to: &str,
    msg: &[u8],
    extra: &[&str],
) -> Output {
    run_with_input(
        Command::new(peer("swaks", "swaks"))
            .args(["--server", server, "--from", from, "--to", to])
            .args(["--data", "-", "--suppress-data"])
            .args(extra),
        msg,
    )
}

/// The tests' own Postfix instance, which `cargo xtask test` makes
/// afresh for each run (xtask/src/postfix.rs; `cargo xtask postfix
/// start` for single tests): `$NOD32_TEST_POSTFIX`, or
/// `nod32-test-postfix` in the temporary directory. The machine's
/// `/etc/postfix` is never used.
pub fn postfix_dir() -> PathBuf {
    std::env::var_os("NOD32_TEST_POSTFIX")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("nod32-test-postfix"))
}

/// The instance's configuration directory (its `MAIL_CONFIG`).
pub fn postfix_config() -> PathBuf {
    postfix_dir().join("etc")
}

/// The instance's log file.
pub fn postfix_log() -> PathBuf {
    postfix_dir().join("maillog")
}

/// A Postfix command (`postqueue`, `postsuper`, `postconf`, `postfix`...)
/// that acts on the tests' instance.
pub fn postfix_cmd(name: &str) -> Command {
    let mut c = Command::new(peer(name, "postfix"));
    c.env("MAIL_CONFIG", postfix_config());
    c
}

/// The tests' Postfix on 127.0.0.1 (smtpd on 2525, Maildir delivery to
/// the users `nod32admin`, `nod32user`...); returns a sendmail that submits
/// to it (run as root: the instance is not registered in the system's
/// main.cf, which postdrop asks of other users). Fails the test when the
/// instance is not running.
pub fn postfix() -> PathBuf {
    let st = run(postfix_cmd("postfix").arg("status"));
    assert!(
        st.status.success(),
        "the tests' Postfix is not running in {}: `cargo xtask test` makes it, \
         `cargo xtask postfix start` (as root) for single tests\n{}",
        postfix_dir().display(),
        String::from_utf8_lossy(&st.stderr)
    );
    postfix_dir().join("sendmail")
}

/// Waits (at most 60 s) for a message holding `token` in a test user's
/// Maildir and returns it; fails with the end of Postfix's log.
pub fn wait_for_mail(user: &str, token: &str) -> Vec<u8> {
    let t0 = std::time::Instant::now();
    let dirs = ["new", "cur"].map(|d| format!("/home/{user}/Maildir/{d}"));
    while t0.elapsed() < std::time::Duration::from_secs(60) {
        for d in &dirs {
            let Ok(entries) = std::fs::read_dir(d) else { continue };
            for e in entries.flatten() {
                if let Ok(m) = std::fs::read(e.path())
                    && m.windows(token.len()).any(|w| w == token.as_bytes())
                {
                    return m;
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(postfix_log()).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(20).collect();
    panic!(
        "no mail with {token} reached {user} in 60 s; {} ends:\n{}",
        postfix_log().display(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    );
}

/// Waits (at most 120 s) until every one of `tokens` is in some message
/// of `user`'s Maildir, reading each message once per pass.
pub fn wait_for_all_mail(user: &str, tokens: &[String]) {
    let t0 = std::time::Instant::now();
    let mut missing: Vec<&String> = tokens.iter().collect();
    while !missing.is_empty() {
        for d in ["new", "cur"] {
            let dir = format!("/home/{user}/Maildir/{d}");
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                // The tokens are in the header (or, for a bounce, in the
                // returned header near its start): the first 256 KB.
                let Ok(f) = std::fs::File::open(e.path()) else { continue };
                let mut m = Vec::new();
                let _ = std::io::Read::read_to_end(
                    &mut std::io::Read::take(f, 256 << 10),
                    &mut m,
                );
                missing.retain(|t| {
                    memchr::memmem::find(&m, t.as_bytes()).is_none()
                });
            }
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(120),
            "{} of {} messages never reached {user}: {:?}",
            missing.len(),
            tokens.len(),
            &missing[..missing.len().min(5)]
        );
        if !missing.is_empty() {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

/// A scratch directory every user can read (the services drop to nobody;
/// nod32mda runs as each recipient) holding the built-in signatures as a
/// module; returns it and the module's path.
pub fn module_dir() -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("a scratch directory");
    std::fs::set_permissions(
        dir.path(),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod 755");
    let module = dir.path().join("nod32.000");
    let sigs = nod32_engine::builtin_signatures();
    std::fs::write(&module, nod32_engine::compile(&sigs).0)
        .expect("writing the module");
    (dir, module)
}

/// A token no other test run uses, to find one's own mail.
pub fn token(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{prefix}{:x}{n:x}", std::process::id())
}

/// The EICAR test string, assembled at run time so that no file in the
/// repository carries it.
pub fn eicar() -> Vec<u8> {
    let mut v = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$".to_vec();
    v.extend_from_slice(b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*");
    v
}

/// A small deterministic generator (xorshift64*), so failures reproduce
/// from the printed seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeds the generator (0 is replaced by a fixed odd value).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
    /// True with probability `num/den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.next_u64() % den < num
    }
    /// A random byte.
    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }
    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.byte()).collect()
    }
    /// Picks an element.
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.next_u64() as usize % v.len()]
    }
}

/// Base64 (RFC 4648) in lines of 76 characters, as mail carries it.
pub fn base64(d: &[u8]) -> String {
    base64_lines(d, "\n")
}

/// Base64 in lines of 76 characters ending in `eol`.
pub fn base64_lines(d: &[u8], eol: &str) -> String {
    const T: &[u8] =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(d.len() / 3 * 4 + d.len() / 57 + 4);
    for (i, c) in d.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            s.push_str(eol);
        }
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for k in 0..4 {
            s.push(if k <= c.len() {
                T[(n >> (18 - 6 * k) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    s
}

/// Lowercase hex.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Parses `PATH: NAME FOUND` / `PATH: OK` lines (clamscan's format, also
/// `nod32cli --format clamscan`) into (path, Some(name) | None); the
/// `.UNOFFICIAL` suffix clamscan adds to custom signatures is removed.
pub fn parse_clamscan(stdout: &str) -> Vec<(String, Option<String>)> {
    let mut v = parse_clamscan_exact(stdout);
    for (_, name) in &mut v {
        if let Some(n) =
            name.as_mut().and_then(|n| n.strip_suffix(".UNOFFICIAL"))
        {
            *name = Some(n.to_string());
        }
    }
    v
}

/// [`parse_clamscan`] keeping the `.UNOFFICIAL` that names a signature
/// of a database other than an official ClamAV container.
pub fn parse_clamscan_exact(stdout: &str) -> Vec<(String, Option<String>)> {
    let mut v = Vec::new();
    for line in stdout.lines() {
        if let Some(p) = line.strip_suffix(": OK") {
            v.push((p.to_string(), None));
        } else if let Some(rest) = line.strip_suffix(" FOUND")
            && let Some((p, name)) = rest.rsplit_once(": ")
        {
            v.push((p.to_string(), Some(name.to_string())));
        }
    }
    v.sort();
    v
}

/// Sends messages over one SMTP session to the test Postfix on
/// 127.0.0.1:2525 and returns the queue id Postfix gave each.
pub fn smtp_send(from: &str, to: &str, msgs: &[Vec<u8>]) -> Vec<String> {
    smtp_send_to("127.0.0.1:2525", from, to, msgs)
}

/// [`smtp_send`] to another listener of the test Postfix.
pub fn smtp_send_to(
    addr: &str,
    from: &str,
    to: &str,
    msgs: &[Vec<u8>],
) -> Vec<String> {
    use std::io::{BufRead, BufReader, Write};
    let s = std::net::TcpStream::connect(addr)
        .unwrap_or_else(|e| panic!("connect to Postfix on {addr}: {e}"));
    s.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = std::io::BufWriter::new(s);
    let mut reply = |w: &mut std::io::BufWriter<std::net::TcpStream>,
                     cmd: &str,
                     want: &str|
     -> String {
        if !cmd.is_empty() {
            w.write_all(cmd.as_bytes()).unwrap();
            w.write_all(b"\r\n").unwrap();
        }
        w.flush().unwrap();
        let mut all = String::new();
        loop {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            assert!(!l.is_empty(), "Postfix closed the session after {cmd}");
            all.push_str(&l);
            if l.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
        assert!(all.starts_with(want), "{cmd} -> {all}");
        all
    };
    reply(&mut w, "", "220");
    reply(&mut w, "EHLO nod32-tests.localhost", "250");
    let mut ids = Vec::new();
    for m in msgs {
        reply(&mut w, &format!("MAIL FROM:<{from}>"), "250");
        reply(&mut w, &format!("RCPT TO:<{to}>"), "250");
        reply(&mut w, "DATA", "354");
        // CRLF lines, dot-stuffed.
        for line in m.split_inclusive(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.first() == Some(&b'.') {
                w.write_all(b".").unwrap();
            }
            w.write_all(line).unwrap();
            w.write_all(b"\r\n").unwrap();
        }
        let r = reply(&mut w, ".", "250");
        let id = r.trim_end().rsplit(' ').next().unwrap().to_string();
        ids.push(id);
    }
    reply(&mut w, "QUIT", "221");
    ids
}

/// Every delivery status Postfix logged for `queue_id` to `rcpt`, oldest
/// first (a deferred message gets one per attempt).
pub fn postfix_statuses(queue_id: &str, rcpt: &str) -> Vec<String> {
    let log = std::fs::read_to_string(postfix_log()).unwrap_or_default();
    let key = format!(" {queue_id}: to=<{rcpt}>");
    log.lines()
        .filter(|l| l.contains(&key) && l.contains(" status="))
        .map(str::to_string)
        .collect()
}

/// The last delivery status Postfix logged to `rcpt` for each of
/// `queue_ids` (`None`: none yet), reading the log once.
pub fn postfix_last_statuses(
    queue_ids: &[String],
    rcpt: &str,
) -> Vec<Option<String>> {
    let log = std::fs::read_to_string(postfix_log()).unwrap_or_default();
    let index: std::collections::HashMap<&str, usize> =
        queue_ids.iter().enumerate().map(|(i, q)| (q.as_str(), i)).collect();
    let key = format!(": to=<{rcpt}>");
    let mut last = vec![None; queue_ids.len()];
    for l in log.lines() {
        if !l.contains(" status=") || !l.contains(&key) {
            continue;
        }
        // "... postfix/local[N]: QUEUEID: to=<...>"
        let Some(q) = l.split(": ").nth(1) else { continue };
        if let Some(&i) = index.get(q) {
            last[i] = Some(l.to_string());
        }
    }
    last
}

/// The word after `status=` in a Postfix log line.
pub fn status_of(line: &str) -> &str {
    line.split(" status=")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .unwrap_or("")
}

/// Whether `queue_id` is still in Postfix's queue.
pub fn in_queue(queue_id: &str) -> bool {
    let q = run(postfix_cmd("postqueue").arg("-j"));
    String::from_utf8_lossy(&q.stdout)
        .contains(&format!("\"queue_id\": \"{queue_id}\""))
}

/// The code block that follows `<!-- recipe: NAME -->` in docs/GUIDE.md,
/// so that the tests run what the document tells administrators.
pub fn mda_recipe(name: &str) -> String {
    doc_recipe("GUIDE.md", name)
}

/// The code block that follows `<!-- recipe: NAME -->` in docs/DOC.
pub fn doc_recipe(doc: &str, name: &str) -> String {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs").join(doc);
    let text = std::fs::read_to_string(&doc).unwrap();
    let marker = format!("<!-- recipe: {name} -->\n```\n");
    let start = text
        .find(&marker)
        .unwrap_or_else(|| panic!("{} has no recipe {name}", doc.display()))
        + marker.len();
    let len = text[start..].find("```").unwrap();
    text[start..start + len].to_string()
}

/// Runs a command under GNU time and returns its output with its peak
/// resident memory in KiB (the kernel's own account, from wait4).
pub fn run_measured(cmd: &Command) -> (Output, u64) {
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut timed = Command::new(peer("time", "time"));
    timed.arg("-f").arg("%M").arg("-o").arg(report.path());
    timed.arg(cmd.get_program()).args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let out = run(&mut timed);
    let kib = std::fs::read_to_string(report.path())
        .unwrap()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("GNU time gave no figure for {cmd:?}"));
    (out, kib)
}

/// Every file under `dir`, recursively, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", d.display()));
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}
