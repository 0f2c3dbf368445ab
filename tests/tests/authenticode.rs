//! Authenticode against the real `clamscan` 1.4.6: `.crb` certificate
//! trust and block rules and `.cat` catalogs on signed Windows
//! executables made here, at test time, from ClamAV's `clam.exe`
//! (clamav-testfiles).
//!
//! Certificates come from python3-cryptography (`mkcert.py`), signatures
//! from `osslsigncode sign` (only options osslsigncode 2.5, Debian 12's,
//! has; a legacy PKCS#9 countersignature from a one-shot timestamp
//! server on 127.0.0.1, `tsserver.py`), catalogs from `mkcat.py`, rule
//! lines from `crbline.py` (all in `tests/data/authenticode/`). Each case
//! is a database directory (`alert.ndb`, whose signature is in every one
//! of these files, plus the case's `.crb`, `.cat`, `.fp` files) and the
//! files scanned with it: nod32cli gives every file the verdict and the
//! name clamscan gives, with the same exit code, and that verdict is the
//! one expected, so that the test cannot pass with both sides ignoring
//! certificates (every file is `FOUND` without rules). A `.crb` with a
//! malformed line is refused by both.
//!
//! `NOD32_OSSLSIGNCODE=PATH` signs with another osslsigncode (to check
//! the test with 2.5 on a machine that has 2.9).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use md5::{Digest, Md5};
use nod32_tests::{bin, hex, parse_clamscan_exact, peer, run};

/// The signature every test file matches: `[CLAMAV]`, the name of
/// clam.exe's section.
const ALERT_NDB: &str = "Test.Alert.ClamMarker:1:*:5b434c414d41565d\n";
/// Its name as both print it.
const MARKER: &str = "Test.Alert.ClamMarker.UNOFFICIAL";
/// 2025-01-01T00:00:00Z, the notBefore of the valid certificates.
const NB_2025: i64 = 1_735_689_600;

/// `.crb` fields.
const NAME: usize = 0;
const TRUSTED: usize = 1;
const SUBJECT: usize = 2;
const SERIAL: usize = 3;
const PUBKEY: usize = 4;
const EXPONENT: usize = 5;
const CODESIGN: usize = 6;
const NOTBEFORE: usize = 9;

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/authenticode")
}

/// Debian's python3 with python3-cryptography (the one on PATH may be
/// another with another cryptography).
fn python() -> PathBuf {
    let py = Path::new("/usr/bin/python3");
    let lib =
        Path::new("/usr/lib/python3/dist-packages/cryptography/__init__.py");
    assert!(
        py.exists() && lib.exists(),
        "python3-cryptography is not installed: apt-get install \
         python3-cryptography (cargo xtask test installs it)"
    );
    py.to_path_buf()
}

/// ClamAV's 544-byte test PE, unsigned.
fn copy_clam_exe(to: &Path) {
    std::fs::copy("/usr/share/clamav-testfiles/clam.exe", to).unwrap_or_else(
        |e| {
            panic!(
                "clam.exe: {e}: apt-get install clamav-testfiles \
                 (cargo xtask test installs it)"
            )
        },
    );
}

fn osslsigncode() -> PathBuf {
    std::env::var_os("NOD32_OSSLSIGNCODE")
        .map(PathBuf::from)
        .unwrap_or_else(|| peer("osslsigncode", "osslsigncode"))
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The scratch directory where certificates, keys and signed files are
/// made, and the tools that make them.
struct Work {
    dir: PathBuf,
    py: PathBuf,
    ossl: PathBuf,
}

impl Work {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn python(&self, script: &str) -> Command {
        let mut c = Command::new(&self.py);
        // No __pycache__ in tests/data.
        c.env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(&self.dir)
            .arg(scripts().join(script));
        c
    }

    /// `OUT.crt` and `OUT.key`; dates are `YYYY-MM-DD`.
    fn cert(&self, out: &str, cn: &str, nb: &str, na: &str, extra: &[&str]) {
        let o =
            run(self.python("mkcert.py").args([out, cn, nb, na]).args(extra));
        check(&o, &format!("mkcert.py {out}"));
    }

    /// The `.crb` fields of a certificate (trust, code-sign only).
    fn fields(&self, cert: &str) -> Rule {
        let o = run(self.python("crbline.py").args([
            &format!("{cert}.crt"),
            cert,
            "1",
            "1",
            "0",
            "0",
        ]));
        check(&o, &format!("crbline.py {cert}"));
        let line = String::from_utf8(o.stdout).unwrap();
        let r = Rule(line.trim_end().split(';').map(String::from).collect());
        assert_eq!(r.0.len(), 11, "{line}");
        r
    }

    fn ossl(&self) -> Command {
        let mut c = Command::new(&self.ossl);
        // The timestamp server is on 127.0.0.1: never through a proxy.
        for v in ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"] {
            c.env_remove(v);
        }
        c.env_remove("ALL_PROXY").env_remove("all_proxy");
        c.env("no_proxy", "127.0.0.1").current_dir(&self.dir);
        c
    }

    /// `osslsigncode sign -certs SIGNER.crt -key SIGNER.key ARGS -in IN
    /// -out OUT`.
    fn sign_output(
        &self,
        signer: &str,
        input: &str,
        out: &str,
        args: &[&str],
    ) -> Output {
        run(self
            .ossl()
            .arg("sign")
            .args(["-certs", &format!("{signer}.crt")])
            .args(["-key", &format!("{signer}.key")])
            .args(args)
            .args(["-in", input, "-out", out]))
    }

    fn sign(&self, signer: &str, input: &str, out: &str, args: &[&str]) {
        let o = self.sign_output(signer, input, out, args);
        check(&o, &format!("osslsigncode sign {out}"));
    }

    /// [`Work::sign`] (SHA-256) with a legacy countersignature by `tsa`
    /// claiming the signing time `time` (UTCTime), from a server that
    /// answers one request and stops.
    fn sign_timestamped(
        &self,
        signer: &str,
        tsa: &str,
        time: &str,
        out: &str,
    ) {
        let mut server = self
            .python("tsserver.py")
            .args([tsa, time, "60"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting tsserver.py");
        let mut port = String::new();
        let _ =
            BufReader::new(server.stdout.take().unwrap()).read_line(&mut port);
        let url = format!("http://127.0.0.1:{}/", port.trim());
        let o = if port.trim().is_empty() {
            None
        } else {
            let args = ["-h", "sha2", "-t", &url];
            Some(self.sign_output(signer, "unsigned.exe", out, &args))
        };
        if !o.as_ref().is_some_and(|o| o.status.success()) {
            // It never asked: the server would wait for its timeout.
            let _ = server.kill();
        }
        let status = server.wait().unwrap();
        let o = o.unwrap_or_else(|| panic!("tsserver.py failed: {status}"));
        check(&o, &format!("osslsigncode sign -t {url} {out}"));
    }

    /// A copy of `from` changed by `f`.
    fn patch(&self, from: &str, to: &str, f: impl FnOnce(&mut Vec<u8>)) {
        let mut d = std::fs::read(self.path(from)).unwrap();
        f(&mut d);
        std::fs::write(self.path(to), d).unwrap();
    }
}

fn u32_at(d: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(d[at..at + 4].try_into().unwrap())
}

/// The offset of the optional header of a PE32.
fn optional_header(d: &[u8]) -> usize {
    let pe = u32_at(d, 0x3c) as usize;
    assert_eq!(&d[pe..pe + 4], b"PE\0\0");
    assert_eq!(&d[pe + 24..pe + 26], &[0x0b, 0x01], "PE32");
    pe + 24
}

/// The offset of the Certificate Table entry (data directory 4).
fn secdir(d: &[u8]) -> usize {
    optional_header(d) + 96 + 4 * 8
}

/// The offset of the first WIN_CERTIFICATE.
fn win_cert(d: &[u8]) -> usize {
    let at = u32_at(d, secdir(d)) as usize;
    assert!(at != 0 && at + u32_at(d, secdir(d) + 4) as usize == d.len());
    at
}

/// A `.crb` line as its tokens.
#[derive(Clone)]
struct Rule(Vec<String>);

impl Rule {
    fn set(mut self, field: usize, v: &str) -> Rule {
        self.0[field] = v.to_string();
        self
    }
    /// A trust rule named `name` with these code, time and cert flags
    /// (`"1;0;0"`).
    fn trust(&self, name: &str, flags: &str) -> Rule {
        let mut r = self.clone().set(NAME, name).set(TRUSTED, "1");
        for (i, f) in flags.split(';').enumerate() {
            r = r.set(CODESIGN + i, f);
        }
        r
    }
    /// A block rule named `name`.
    fn block(&self, name: &str) -> Rule {
        self.clone().set(NAME, name).set(TRUSTED, "0")
    }
    /// FL fields appended (12 or 13 tokens).
    fn fl(mut self, fields: &[&str]) -> Rule {
        self.0.extend(fields.iter().map(|s| s.to_string()));
        self
    }
    fn line(&self) -> String {
        self.0.join(";")
    }
}

/// An expected verdict: `None` is `OK`.
type Verdict = Option<String>;

struct Case {
    name: String,
    db: Vec<(String, Vec<u8>)>,
    args: Vec<String>,
    files: Vec<(String, Verdict)>,
}

fn case(name: &str) -> Case {
    Case {
        name: name.into(),
        db: Vec::new(),
        args: Vec::new(),
        files: Vec::new(),
    }
}

impl Case {
    /// `rules.crb` with these lines.
    fn crb(self, rules: &[&Rule]) -> Case {
        let text: String = rules.iter().map(|r| r.line() + "\n").collect();
        self.db("rules.crb", text)
    }
    fn db(mut self, file: &str, content: impl Into<Vec<u8>>) -> Case {
        self.db.push((file.into(), content.into()));
        self
    }
    fn arg(mut self, a: &str) -> Case {
        self.args.push(a.into());
        self
    }
    fn ok(mut self, files: &[&str]) -> Case {
        self.files.extend(files.iter().map(|f| (f.to_string(), None)));
        self
    }
    fn found(mut self, name: &str, files: &[&str]) -> Case {
        self.files.extend(
            files.iter().map(|f| (f.to_string(), Some(name.to_string()))),
        );
        self
    }
    /// `FOUND` with the `.ndb` signature.
    fn marked(self, files: &[&str]) -> Case {
        self.found(MARKER, files)
    }
}

fn show(v: &Verdict) -> String {
    v.as_deref().map_or("OK".into(), |n| format!("{n} FOUND"))
}

/// Both scanners on the files of `c` with its database; the
/// disagreements, each a line.
fn compare(w: &Work, dbs: &Path, i: usize, c: &Case) -> Vec<String> {
    let db = dbs.join(format!("{i:02}-{}", c.name));
    std::fs::create_dir(&db).unwrap();
    std::fs::write(db.join("alert.ndb"), ALERT_NDB).unwrap();
    for (f, content) in &c.db {
        std::fs::write(db.join(f), content).unwrap();
    }
    let files: Vec<PathBuf> = c.files.iter().map(|(f, _)| w.path(f)).collect();
    let mut names: Vec<&String> = c.files.iter().map(|(f, _)| f).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), files.len(), "{}: a file twice", c.name);
    let spawn = |cmd: &mut Command| {
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
    };
    let theirs = spawn(
        Command::new(peer("clamscan", "clamav"))
            .args(["--no-summary", "--disable-cache"])
            .args(&c.args)
            .arg("-d")
            .arg(&db)
            .args(&files),
    );
    let ours = spawn(
        Command::new(bin("nod32cli"))
            .args(["--format", "clamscan", "--no-summary"])
            .args(&c.args)
            .arg("-d")
            .arg(&db)
            .args(&files),
    );
    let (theirs, ours) =
        (theirs.wait_with_output().unwrap(), ours.wait_with_output().unwrap());
    let verdicts = |o: &Output| -> BTreeMap<String, Verdict> {
        parse_clamscan_exact(&String::from_utf8_lossy(&o.stdout))
            .into_iter()
            .collect()
    };
    let (tv, ov) = (verdicts(&theirs), verdicts(&ours));
    let mut bad = Vec::new();
    for ((f, want), path) in c.files.iter().zip(&files) {
        let key = path.to_str().unwrap();
        let (t, o) = (tv.get(key), ov.get(key));
        let fmt = |v: Option<&Verdict>| v.map_or("(no line)".into(), show);
        if t != Some(want) {
            bad.push(format!(
                "{}: {f}: clamscan says {}, the test expects {}",
                c.name,
                fmt(t),
                show(want)
            ));
        }
        if o != t {
            bad.push(format!(
                "{}: {f}: nod32cli says {}, clamscan {}",
                c.name,
                fmt(o),
                fmt(t)
            ));
        }
    }
    let want_rc = if c.files.iter().any(|(_, v)| v.is_some()) { 1 } else { 0 };
    if theirs.status.code() != Some(want_rc) {
        bad.push(format!(
            "{}: clamscan exits {:?}, expected {want_rc}: {}",
            c.name,
            theirs.status.code(),
            String::from_utf8_lossy(&theirs.stderr).trim()
        ));
    }
    if ours.status.code() != theirs.status.code() {
        bad.push(format!(
            "{}: nod32cli exits {:?}, clamscan {:?}: {}",
            c.name,
            ours.status.code(),
            theirs.status.code(),
            String::from_utf8_lossy(&ours.stderr).trim()
        ));
    }
    bad
}

/// Makes the certificates, the signed and patched files, the archives
/// and the catalogs.
fn make_files(w: &Work) {
    copy_clam_exe(&w.path("unsigned.exe"));
    let (nb, na) = ("2025-01-01", "2045-01-01");
    // A root (CA:TRUE, keyCertSign, codeSigning: `code cert`) and leaves
    // it issued (digitalSignature, codeSigning: `code`). The leaf's
    // serial has its top bit set: its INTEGER has a leading 00.
    w.cert("ca", "Test Root", nb, na, &[]);
    w.cert(
        "leaf",
        "Test Leaf",
        nb,
        na,
        &["--ca", "ca", "--serial", "0x9abcdef012345678"],
    );
    w.cert("leaf2", "Other Leaf", nb, na, &["--ca", "ca"]);
    w.cert(
        "expired",
        "Expired Leaf",
        "2020-01-01",
        "2021-01-01",
        &["--ca", "ca"],
    );
    // notAfter in 2051 is a GeneralizedTime, which clamscan reads as
    // 2020: the certificate is dropped.
    w.cert("gt2051", "GT2051 Leaf", nb, "2051-06-01", &["--ca", "ca"]);
    // timeStamping only: `time`.
    w.cert(
        "tsa",
        "Test TSA",
        "2019-01-01",
        "2040-01-01",
        &["--ca", "ca", "--eku-time"],
    );
    // No KeyUsage: `code cert`; no ExtendedKeyUsage: `code time`.
    w.cert("noku", "No KU Leaf", nb, na, &["--ca", "ca", "--no-ku"]);
    w.cert("noeku", "No EKU Leaf", nb, na, &["--ca", "ca", "--no-eku"]);
    // The leaf with its root in the signature.
    let chain = [w.path("leaf.crt"), w.path("ca.crt")]
        .iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect::<Vec<_>>()
        .concat();
    std::fs::write(w.path("chain.crt"), chain).unwrap();
    std::fs::copy(w.path("leaf.key"), w.path("chain.key")).unwrap();

    for (signer, input, out, args) in [
        ("leaf", "unsigned.exe", "signed.exe", &["-h", "sha2"][..]),
        ("chain", "unsigned.exe", "signed-chain.exe", &["-h", "sha2"]),
        ("leaf", "unsigned.exe", "signed-md5.exe", &["-h", "md5"]),
        ("leaf", "unsigned.exe", "signed-sha1.exe", &["-h", "sha1"]),
        ("leaf", "unsigned.exe", "signed-sha384.exe", &["-h", "sha384"]),
        ("leaf", "unsigned.exe", "signed-sha512.exe", &["-h", "sha512"]),
        ("leaf2", "unsigned.exe", "signed2.exe", &["-h", "sha2"]),
        // Outer signature by leaf2, nested one by leaf.
        ("leaf", "signed2.exe", "nested.exe", &["-nest", "-h", "sha1"]),
        ("expired", "unsigned.exe", "expired.exe", &["-h", "sha2"]),
        ("gt2051", "unsigned.exe", "gt2051.exe", &["-h", "sha2"]),
        ("noku", "unsigned.exe", "signed-noku.exe", &["-h", "sha2"]),
        ("noeku", "unsigned.exe", "signed-noeku.exe", &["-h", "sha2"]),
    ] {
        w.sign(signer, input, out, args);
    }
    // Countersigned at 2020-06-01 (inside the expired leaf's validity),
    // at 2023-06-01 (after it), and a valid leaf at 2026-06-01.
    for (signer, time, out) in [
        ("expired", "200601000000Z", "exp-ts.exe"),
        ("expired", "230601000000Z", "exp-ts-late.exe"),
        ("leaf", "260601000000Z", "ok-ts.exe"),
    ] {
        w.sign_timestamped(signer, "tsa", time, out);
    }

    // A DOS-stub byte: covered by the hash, not part of the marker.
    w.patch("signed.exe", "tampered.exe", |d| d[0x7e] ^= 0xff);
    w.patch("unsigned.exe", "unsigned-tampered.exe", |d| d[0x7e] ^= 0xff);
    w.patch("signed.exe", "appended.exe", |d| d.extend([0; 8]));
    for (to, pad) in [("padded.exe", 0u8), ("padded-junk.exe", 0xa5)] {
        w.patch("signed.exe", to, |d| {
            win_cert(d);
            let s = secdir(d) + 4;
            let size = u32_at(d, s) + 8;
            d[s..s + 4].copy_from_slice(&size.to_le_bytes());
            d.extend([pad; 8]);
        });
    }
    w.patch("signed.exe", "rev1.exe", |d| {
        let at = win_cert(d) + 4;
        d[at..at + 2].copy_from_slice(&0x0100u16.to_le_bytes());
    });
    w.patch("signed.exe", "type1.exe", |d| {
        let at = win_cert(d) + 6;
        d[at..at + 2].copy_from_slice(&1u16.to_le_bytes());
    });
    w.patch("signed.exe", "cksum.exe", |d| {
        let at = optional_header(d) + 64;
        for b in &mut d[at..at + 4] {
            *b ^= 0x11;
        }
    });
    // The SignerInfo's digestEncryptionAlgorithm (the last rsaEncryption
    // AlgorithmIdentifier: the certificates come before it) made
    // sha256WithRSAEncryption, which clamscan refuses there.
    w.patch("signed.exe", "sigalg.exe", |d| {
        let rsa =
            b"\x30\x0d\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01\x05\x00";
        let at = d.windows(rsa.len()).rposition(|w| w == rsa).unwrap();
        assert!(at > win_cert(d));
        d[at + 12] = 0x0b;
    });

    let zip = |out: &str, files: &[&str]| {
        let o = run(Command::new(peer("zip", "zip"))
            .current_dir(&w.dir)
            .args(["-q", "-X", out])
            .args(files));
        check(&o, &format!("zip {out}"));
    };
    zip("trust_plus_mal.zip", &["signed.exe", "unsigned.exe"]);
    zip("trust_only.zip", &["signed.exe"]);

    for (out, extra) in [("leaf.cat", None), ("leaf-sha1.cat", Some("--sha1"))]
    {
        let o = run(w
            .python("mkcat.py")
            .args([out, "leaf", "unsigned.exe"])
            .args(extra));
        check(&o, &format!("mkcat.py {out}"));
    }
}

/// Every case: the database and each file's expected verdict. Digits in
/// a name are a rule's Trusted;CodeSign;TimeSign;CertSign fields.
fn cases(w: &Work) -> Vec<Case> {
    let leaf = w.fields("leaf");
    let leaf2 = w.fields("leaf2");
    let ca = w.fields("ca");
    let expired = w.fields("expired");
    let gt2051 = w.fields("gt2051");
    let tsa = w.fields("tsa");
    let noku = w.fields("noku");
    let noeku = w.fields("noeku");

    let trust_leaf = leaf.trust("Test.Trust.Leaf", "1;0;0");
    let block_leaf = leaf.block("Test.Block.Leaf");
    let block = "Test.Block.Leaf";
    let cat = std::fs::read(w.path("leaf.cat")).unwrap();
    let cat1 = std::fs::read(w.path("leaf-sha1.cat")).unwrap();
    let signed = std::fs::read(w.path("signed.exe")).unwrap();
    let fp = format!(
        "{}:{}:Test.FP.Signed\n",
        hex(&Md5::digest(&signed)),
        signed.len()
    );
    let digests = [
        "signed-md5.exe",
        "signed-sha1.exe",
        "signed.exe",
        "signed-sha384.exe",
        "signed-sha512.exe",
    ];
    let everything = [
        "unsigned.exe",
        "signed.exe",
        "signed-chain.exe",
        "signed-md5.exe",
        "signed-sha1.exe",
        "signed-sha384.exe",
        "signed-sha512.exe",
        "signed2.exe",
        "nested.exe",
        "expired.exe",
        "gt2051.exe",
        "exp-ts.exe",
        "exp-ts-late.exe",
        "ok-ts.exe",
        "tampered.exe",
        "appended.exe",
        "padded.exe",
        "rev1.exe",
        "cksum.exe",
        "padded-junk.exe",
        "type1.exe",
        "unsigned-tampered.exe",
        "trust_only.zip",
        "trust_plus_mal.zip",
        "signed-noku.exe",
        "signed-noeku.exe",
        "sigalg.exe",
    ];
    let nb = |t: i64| t.to_string();
    let modulus_changed = {
        let mut m = leaf.0[PUBKEY].clone().into_bytes();
        let k = m.len() / 2;
        m[k] = if m[k] == b'0' { b'1' } else { b'0' };
        String::from_utf8(m).unwrap()
    };
    let wrong_serial = "ab".repeat(20);

    vec![
        // Without rules, every file is the signature's.
        case("no-rules").marked(&everything),
        // The leaf itself.
        case("trust-leaf")
            .crb(&[&trust_leaf])
            .ok(&[
                "signed-chain.exe",
                "cksum.exe",
                "padded.exe",
                "padded-junk.exe",
            ])
            .ok(&digests)
            .ok(&["trust_only.zip"])
            // The signature covers everything but the CheckSum, the
            // certificate table and its entry.
            .marked(&["unsigned.exe", "tampered.exe", "appended.exe"])
            // WIN_CERTIFICATE revision 0x0100, type 1.
            .marked(&["rev1.exe", "type1.exe"])
            // A trusted PE in a ZIP is only itself.
            .marked(&["trust_plus_mal.zip"])
            // Signed by another.
            .marked(&["signed2.exe"])
            // A SignerInfo whose digestEncryptionAlgorithm is not
            // rsaEncryption.
            .marked(&["sigalg.exe"]),
        case("block-leaf")
            .crb(&[&block_leaf])
            .found(
                block,
                &["signed.exe", "signed-chain.exe", "signed-sha1.exe"],
            )
            // A block fires on a tampered file's certificate.
            .found(block, &["tampered.exe", "trust_only.zip", "cksum.exe"])
            .found(block, &["sigalg.exe"])
            // Not when the table is not at the end of the file.
            .marked(&["appended.exe", "unsigned.exe", "signed2.exe"]),
        case("trust-and-block")
            .crb(&[&trust_leaf, &block_leaf])
            .found(block, &["signed.exe"]),
        case("block-and-trust")
            .crb(&[&block_leaf, &trust_leaf])
            .found(block, &["signed.exe"]),
        case("nocerts-trust")
            .arg("--nocerts")
            .crb(&[&trust_leaf])
            .marked(&["signed.exe"]),
        case("nocerts-block")
            .arg("--nocerts")
            .crb(&[&block_leaf])
            .marked(&["signed.exe"]),
        case("nocerts-catalog")
            .arg("--nocerts")
            .crb(&[&trust_leaf])
            .db("leaf.cat", cat.clone())
            .marked(&["unsigned.exe"]),
        // The root, embedded or not.
        case("trust-ca-1101")
            .crb(&[&ca.trust("Test.Trust.CA", "1;0;1")])
            // Any leaf of that root: `code` ones, a `code cert` one, and
            // a `code time` one (the root gives it only `code`).
            .ok(&["signed-chain.exe", "signed.exe", "signed2.exe"])
            .ok(&["signed-noku.exe", "signed-noeku.exe"])
            .marked(&["unsigned.exe", "tampered.exe"]),
        // A root that may not sign code passes no trust to a code
        // signer.
        case("trust-ca-1001")
            .crb(&[&ca.trust("Test.Trust.CA", "0;0;1")])
            .marked(&["signed-chain.exe", "signed.exe"]),
        case("trust-ca-1011")
            .crb(&[&ca.trust("Test.Trust.CA", "0;1;1")])
            .marked(&["signed-chain.exe", "signed.exe"]),
        // A block needs the certificate embedded.
        case("block-ca")
            .crb(&[&ca.block("Test.Block.CA")])
            .found("Test.Block.CA", &["signed-chain.exe"])
            .marked(&["signed.exe"]),
        // A trust rule's flags hold the certificate's: a leaf without
        // KeyUsage may sign certificates, one without ExtendedKeyUsage
        // may sign code and time stamps.
        case("trust-noku-1100")
            .crb(&[&noku.trust("Test.Trust.NoKU", "1;0;0")])
            .marked(&["signed-noku.exe"]),
        case("trust-noku-1101")
            .crb(&[&noku.trust("Test.Trust.NoKU", "1;0;1")])
            .ok(&["signed-noku.exe"]),
        case("trust-noeku-1100")
            .crb(&[&noeku.trust("Test.Trust.NoEKU", "1;0;0")])
            .marked(&["signed-noeku.exe"]),
        case("trust-noeku-1110")
            .crb(&[&noeku.trust("Test.Trust.NoEKU", "1;1;0")])
            .ok(&["signed-noeku.exe"]),
        // Flags do not matter to a block.
        case("block-noeku")
            .crb(&[&noeku.block("Test.Block.NoEKU")])
            .found("Test.Block.NoEKU", &["signed-noeku.exe"]),
        // Empty serial: any serial.
        case("trust-no-serial")
            .crb(&[&trust_leaf.clone().set(SERIAL, "")])
            .ok(&["signed.exe"]),
        case("block-no-serial")
            .crb(&[&block_leaf.clone().set(SERIAL, "")])
            .found(block, &["signed.exe"]),
        case("trust-wrong-serial")
            .crb(&[&trust_leaf.clone().set(SERIAL, &wrong_serial)])
            .marked(&["signed.exe"]),
        // A code signer needs a code-signing rule; more flags match too.
        case("trust-leaf-1000")
            .crb(&[&leaf.trust("Test.Trust.Leaf", "0;0;0")])
            .marked(&["signed.exe"]),
        case("trust-leaf-1111")
            .crb(&[&leaf.trust("Test.Trust.Leaf", "1;1;1")])
            .ok(&["signed.exe"]),
        // NotBefore: the certificate's own, one second later.
        case("notbefore-equal")
            .crb(&[&trust_leaf.clone().set(NOTBEFORE, &nb(NB_2025))])
            .ok(&["signed.exe"]),
        case("notbefore-plus-1")
            .crb(&[&trust_leaf.clone().set(NOTBEFORE, &nb(NB_2025 + 1))])
            .marked(&["signed.exe"]),
        // atoi: trailing garbage ignored; past i32 it wraps negative.
        case("notbefore-atoi")
            .crb(&[&trust_leaf.clone().set(NOTBEFORE, &format!("{NB_2025}x"))])
            .ok(&["signed.exe"]),
        case("notbefore-wraps")
            .crb(&[&trust_leaf.clone().set(NOTBEFORE, "4000000000")])
            .ok(&["signed.exe"]),
        // The modulus is a number; the exponent is ignored.
        case("modulus-changed")
            .crb(&[&trust_leaf.clone().set(PUBKEY, &modulus_changed)])
            .marked(&["signed.exe"]),
        case("block-modulus-changed")
            .crb(&[&block_leaf.clone().set(PUBKEY, &modulus_changed)])
            .marked(&["signed.exe"]),
        case("modulus-lower-case")
            .crb(&[&trust_leaf
                .clone()
                .set(PUBKEY, &leaf.0[PUBKEY].to_lowercase())])
            .ok(&["signed.exe"]),
        case("modulus-leading-zeros")
            .crb(&[&trust_leaf
                .clone()
                .set(PUBKEY, &format!("0000{}", leaf.0[PUBKEY]))])
            .ok(&["signed.exe"]),
        case("exponent-03")
            .crb(&[&trust_leaf.clone().set(EXPONENT, "03")])
            .ok(&["signed.exe"]),
        case("exponent-empty")
            .crb(&[&trust_leaf.clone().set(EXPONENT, "")])
            .ok(&["signed.exe"]),
        case("trusted-1x")
            .crb(&[&trust_leaf.clone().set(TRUSTED, "1x")])
            .ok(&["signed.exe"]),
        // Blocked and allowed by a whole-file MD5.
        case("fp-block")
            .crb(&[&block_leaf])
            .db("allow.fp", fp)
            .ok(&["signed.exe"])
            .found(block, &["signed-chain.exe"]),
        // Validity.
        case("expired")
            .crb(&[&expired.trust("Test.Trust.Expired", "1;1;1")])
            .marked(&["expired.exe"]),
        case("gt2051-trust")
            .crb(&[&gt2051.trust("Test.Trust.GT2051", "1;1;1")])
            .marked(&["gt2051.exe"]),
        case("gt2051-block")
            .crb(&[&gt2051.block("Test.Block.GT2051")])
            .marked(&["gt2051.exe"]),
        // Legacy countersignatures.
        case("countersig-trusted")
            .crb(&[
                &expired.trust("Test.Trust.Expired", "1;0;0"),
                &tsa.trust("Test.Trust.TSA", "0;1;0"),
            ])
            .ok(&["exp-ts.exe"])
            .marked(&["exp-ts-late.exe", "expired.exe"]),
        case("countersig-tsa-untrusted")
            .crb(&[&expired.trust("Test.Trust.Expired", "1;0;0")])
            .marked(&["exp-ts.exe"]),
        case("countersig-tsa-code-only")
            .crb(&[
                &expired.trust("Test.Trust.Expired", "1;0;0"),
                &tsa.trust("Test.Trust.TSA", "1;0;0"),
            ])
            .marked(&["exp-ts.exe"]),
        case("countersig-ca-1111")
            .crb(&[&ca.trust("Test.Trust.CA", "1;1;1")])
            .ok(&["exp-ts.exe", "signed.exe", "ok-ts.exe"])
            .marked(&["exp-ts-late.exe", "expired.exe"]),
        case("countersig-ca-1101")
            .crb(&[&ca.trust("Test.Trust.CA", "1;0;1")])
            .marked(&["exp-ts.exe", "ok-ts.exe"])
            .ok(&["signed.exe"]),
        case("valid-leaf-untrusted-countersig")
            .crb(&[&trust_leaf])
            .marked(&["ok-ts.exe"])
            .ok(&["signed.exe"]),
        case("valid-leaf-trusted-countersig")
            .crb(&[&trust_leaf, &tsa.trust("Test.Trust.TSA", "0;1;0")])
            .ok(&["ok-ts.exe"]),
        // Nested signatures count for nothing.
        case("nested-trust-outer")
            .crb(&[&leaf2.trust("Test.Trust.Leaf2", "1;0;0")])
            .ok(&["nested.exe", "signed2.exe"]),
        case("nested-trust-inner").crb(&[&trust_leaf]).marked(&["nested.exe"]),
        case("nested-block-inner").crb(&[&block_leaf]).marked(&["nested.exe"]),
        case("nested-block-outer")
            .crb(&[&leaf2.block("Test.Block.Leaf2")])
            .found("Test.Block.Leaf2", &["nested.exe"]),
        // Catalogs: the signer's trust rule comes first (a directory
        // loads .crb before .cat); the listed Authenticode hash is
        // trusted, signed by anyone or not.
        case("catalog-sha256")
            .crb(&[&trust_leaf])
            .db("leaf.cat", cat.clone())
            .ok(&["unsigned.exe", "signed2.exe"])
            .marked(&["unsigned-tampered.exe"]),
        case("catalog-sha1")
            .crb(&[&trust_leaf])
            .db("leaf-sha1.cat", cat1)
            .ok(&["unsigned.exe", "signed2.exe"])
            .marked(&["unsigned-tampered.exe"]),
        case("catalog-without-crb")
            .db("leaf.cat", cat.clone())
            .marked(&["unsigned.exe", "signed2.exe"]),
        case("catalog-signer-blocked")
            .crb(&[&trust_leaf, &block_leaf])
            .db("leaf.cat", cat)
            .marked(&["unsigned.exe", "signed2.exe"])
            .found(block, &["signed.exe"]),
        // .crb format.
        case("fl-min-0")
            .crb(&[&trust_leaf.clone().fl(&["0"])])
            .ok(&["signed.exe"]),
        case("fl-min-empty")
            .crb(&[&trust_leaf.clone().fl(&[""])])
            .ok(&["signed.exe"]),
        case("fl-min-999")
            .crb(&[&trust_leaf.clone().fl(&["999"])])
            .marked(&["signed.exe"]),
        case("fl-max-empty")
            .crb(&[&trust_leaf.clone().fl(&["", ""])])
            .marked(&["signed.exe"]),
        case("fl-max-100")
            .crb(&[&trust_leaf.clone().fl(&["0", "100"])])
            .marked(&["signed.exe"]),
        case("fl-max-999")
            .crb(&[&trust_leaf.clone().fl(&["0", "999"])])
            .ok(&["signed.exe"]),
        // An empty serial makes every later line of the file ignore its
        // serial.
        case("sticky-empty-serial")
            .crb(&[
                &leaf2.trust("Test.Trust.Leaf2", "1;0;0").set(SERIAL, ""),
                &trust_leaf.clone().set(SERIAL, &wrong_serial),
            ])
            .ok(&["signed.exe"]),
        // An empty NotBefore is the previous line's.
        case("notbefore-carried-over")
            .crb(&[
                &leaf2
                    .trust("Test.Trust.Leaf2", "1;0;0")
                    .set(NOTBEFORE, "2000000000"),
                &trust_leaf,
            ])
            .marked(&["signed.exe"]),
        // The first of two equal block rules names the alert...
        case("two-block-rules")
            .crb(&[&leaf.block("Block.First"), &leaf.block("Block.Second")])
            .found("Block.First", &["signed.exe"]),
        // ...but a later empty-serial one covers a serial one, not the
        // other way round: it is found first.
        case("block-serial-then-any")
            .crb(&[
                &leaf.block("Block.Serial"),
                &leaf.block("Block.NoSerial").set(SERIAL, ""),
            ])
            .found("Block.NoSerial", &["signed.exe"]),
        case("block-any-then-serial")
            .crb(&[
                &leaf.block("Block.NoSerial").set(SERIAL, ""),
                &leaf.block("Block.Serial"),
            ])
            .found("Block.NoSerial", &["signed.exe"]),
        case("block-unnamed")
            .crb(&[&leaf.block("")])
            .found("(unnamed CRB rule)", &["signed.exe"]),
        case("block-name-with-spaces")
            .crb(&[&leaf.block("My Block Rule")])
            .found("My Block Rule", &["signed.exe"]),
        // An .ign2 does not silence a block rule.
        case("ign2-block")
            .crb(&[&block_leaf])
            .db("ignore.ign2", format!("{block}\n"))
            .found(block, &["signed.exe"]),
        // Comments, blank lines, CRLF, no final newline.
        case("crlf-comments")
            .db(
                "rules.crb",
                format!("# trust\r\n\r\n{}\r\n# end", trust_leaf.line()),
            )
            .ok(&["signed.exe"]),
        // The suffix is matched without regard to case.
        case("upper-case-suffix")
            .db("RULES.CRB", trust_leaf.line() + "\n")
            .ok(&["signed.exe"]),
    ]
}

#[test]
fn verdicts_against_clamscan() {
    let t0 = std::time::Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let work = Work {
        dir: tmp.path().join("files"),
        py: python(),
        ossl: osslsigncode(),
    };
    std::fs::create_dir(&work.dir).unwrap();
    make_files(&work);
    let made = t0.elapsed();
    let cases = cases(&work);
    let dbs = tmp.path().join("db");
    std::fs::create_dir(&dbs).unwrap();
    let mut bad = Vec::new();
    let mut failed_cases = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let b = compare(&work, &dbs, i, c);
        if !b.is_empty() {
            failed_cases.push(c.name.clone());
        }
        bad.extend(b);
    }
    eprintln!(
        "{} cases, {} files scanned, {} failed; files made in {:.1} s, all in {:.1} s",
        cases.len(),
        cases.iter().map(|c| c.files.len()).sum::<usize>(),
        failed_cases.len(),
        made.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    if bad.is_empty() {
        return;
    }
    // Certificates and keys are new each run: keep what failed.
    let kept = tmp.keep();
    let mut msg = String::new();
    for b in &bad {
        let _ = writeln!(msg, "  {b}");
    }
    panic!(
        "{} of {} cases differ ({}); the files and databases are kept in \
         {}:\n{msg}",
        failed_cases.len(),
        cases.len(),
        failed_cases.join(", "),
        kept.display()
    );
}

/// clamscan or nod32cli (in clamscan's format) on `file` with `db`.
fn scan(program: &Path, db: &Path, file: &Path) -> Output {
    let mut c = Command::new(program);
    if program.ends_with("clamscan") {
        c.arg("--disable-cache");
    } else {
        c.args(["--format", "clamscan"]);
    }
    run(c.arg("--no-summary").arg("-d").arg(db).arg(file))
}

/// A `.crb` line that loads (no real certificate's).
fn good_line() -> String {
    format!(
        "Good;1;{};{};{};010001;1;0;0;;fine",
        "a1".repeat(20),
        "b2".repeat(20),
        "C3".repeat(256)
    )
}

#[test]
fn malformed_crb_lines_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let probe = dir.path().join("unsigned.exe");
    copy_clam_exe(&probe);
    let good: Vec<String> = good_line().split(';').map(String::from).collect();
    let with = |field: usize, v: &str| {
        let mut t = good.clone();
        t[field] = v.to_string();
        t.join(";")
    };
    let with_fl = |fl: &[&str]| {
        let mut t = good.clone();
        t.extend(fl.iter().map(|s| s.to_string()));
        t.join(";")
    };
    // Each is the third line of its file, after a comment and a good
    // line; clamscan's message is checked too.
    let lines = [
        (
            "comment-with-semicolon",
            good_line() + "; really",
            "Invalid minimum feature level",
        ),
        (
            "max-fl-abc",
            with_fl(&["0", "abc"]),
            "Invalid maximum feature level",
        ),
        ("min-fl-x", with_fl(&["x"]), "Invalid minimum feature level"),
        ("10-tokens", good[..10].join(";"), "Invalid number of tokens: 10"),
        (
            "14-tokens",
            with_fl(&["0", "999", "x"]),
            "Invalid number of tokens: 14",
        ),
        ("trust-empty", with(TRUSTED, ""), "Invalid trust specification"),
        (
            "trust-2",
            with(TRUSTED, "2"),
            "Invalid trust specification. Expected 0 or 1",
        ),
        (
            "subject-38-hex",
            with(SUBJECT, &"a1".repeat(19)),
            "subject is not the appropriate length for a SHA1 Hash",
        ),
        (
            "serial-39-hex",
            with(SERIAL, &"b2".repeat(20)[1..]),
            "serial is not the appropriate length for a SHA1 Hash",
        ),
        (
            "serial-not-hex",
            with(SERIAL, &format!("zz{}", "b2".repeat(19))),
            "Cannot convert serial to binary string",
        ),
        (
            "pubkey-empty",
            with(PUBKEY, ""),
            "Cannot convert public key to binary string",
        ),
        (
            "codesign-empty",
            with(CODESIGN, ""),
            "Invalid code sign specification. Expected 0 or 1",
        ),
        (
            "certsign-empty",
            with(CODESIGN + 2, ""),
            "Invalid cert sign specification. Expected 0 or 1",
        ),
        (
            "indented-comment",
            "  # not a comment".to_string(),
            "Invalid number of tokens: 1",
        ),
    ];
    let mut bad = Vec::new();
    // The good line alone loads (and matches nothing).
    let control = dir.path().join("control");
    std::fs::create_dir(&control).unwrap();
    std::fs::write(control.join("alert.ndb"), ALERT_NDB).unwrap();
    std::fs::write(control.join("control.crb"), good_line() + "\n").unwrap();
    for (who, out) in [
        ("clamscan", scan(&peer("clamscan", "clamav"), &control, &probe)),
        ("nod32cli", scan(&bin("nod32cli"), &control, &probe)),
    ] {
        let v = parse_clamscan_exact(&String::from_utf8_lossy(&out.stdout));
        if v.len() != 1 || v[0].1.as_deref() != Some(MARKER) {
            bad.push(format!("control: {who}: {out:?}"));
        }
    }
    for (name, line, message) in &lines {
        let db = dir.path().join(name);
        std::fs::create_dir(&db).unwrap();
        std::fs::write(db.join("alert.ndb"), ALERT_NDB).unwrap();
        let file = format!("{name}.crb");
        std::fs::write(
            db.join(&file),
            format!("# rules\n{}\n{line}\n", good_line()),
        )
        .unwrap();
        let theirs = scan(&peer("clamscan", "clamav"), &db, &probe);
        let ours = scan(&bin("nod32cli"), &db, &probe);
        let err = |o: &Output| String::from_utf8_lossy(&o.stderr).into_owned();
        let scanned = |o: &Output| {
            !parse_clamscan_exact(&String::from_utf8_lossy(&o.stdout))
                .is_empty()
        };
        let want = format!("cli_loadcrt: line 3: {message}");
        if theirs.status.code() != Some(2)
            || !err(&theirs).contains(&want)
            || scanned(&theirs)
        {
            bad.push(format!(
                "{name}: clamscan exits {:?} without `{want}`: {}",
                theirs.status.code(),
                err(&theirs).trim()
            ));
        }
        let named = err(&ours).contains(&file)
            && (err(&ours).contains("line 3")
                || err(&ours).contains(&format!("{file}:3")));
        if matches!(ours.status.code(), Some(0) | Some(1) | None)
            || !named
            || scanned(&ours)
        {
            bad.push(format!(
                "{name}: nod32cli exits {:?} (wanted a database error naming {file} and line 3): {}{}",
                ours.status.code(),
                String::from_utf8_lossy(&ours.stdout),
                err(&ours).trim()
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} lines:\n  {}",
        bad.len(),
        lines.len(),
        bad.join("\n  ")
    );
}

/// A copy of a trusted certificate with its exponent changed to 1 "signs"
/// anything without the key (the signature is the padded digest itself):
/// clamscan, which matches a certificate to a `.crb` rule by subject,
/// serial and modulus alone, trusts such a file; nod32cli scans it.
#[test]
fn a_copied_certificate_with_exponent_one_trusts_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let w = Work {
        dir: tmp.path().to_path_buf(),
        py: python(),
        ossl: osslsigncode(),
    };
    copy_clam_exe(&w.path("unsigned.exe"));
    let (nb, na) = ("2025-01-01", "2045-01-01");
    w.cert("ca", "Test Root", nb, na, &[]);
    w.cert("leaf", "Test Leaf", nb, na, &["--ca", "ca"]);
    let o =
        run(w.python("forge.py").args(["unsigned.exe", "forged.exe", "leaf"]));
    check(&o, "forge.py");
    let db = tmp.path().join("db");
    std::fs::create_dir(&db).unwrap();
    std::fs::write(db.join("alert.ndb"), ALERT_NDB).unwrap();
    let rule = w.fields("leaf").trust("Test.Trust.Leaf", "1;0;0");
    std::fs::write(db.join("rules.crb"), rule.line() + "\n").unwrap();
    let verdict = |program: &Path| {
        let out = scan(program, &db, &w.path("forged.exe"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        parse_clamscan_exact(&text).into_iter().next().map(|(_, v)| v)
    };
    // The forgery is one clamscan takes: else this test shows nothing.
    assert_eq!(verdict(&peer("clamscan", "clamav")), Some(None));
    assert_eq!(verdict(&bin("nod32cli")), Some(Some(MARKER.to_string())));
}

/// `nod32cli certs` prints, for each certificate of a signed file, the
/// `.crb` trust rule an administrator starts from: its subject, serial
/// and modulus are crbline.py's (sigtool's), and the rule printed for
/// the signer makes clamscan and nod32cli trust the file.
#[test]
fn certs_prints_the_rule_that_trusts_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let w = Work {
        dir: tmp.path().to_path_buf(),
        py: python(),
        ossl: osslsigncode(),
    };
    copy_clam_exe(&w.path("unsigned.exe"));
    let (nb, na) = ("2025-01-01", "2045-01-01");
    w.cert("ca", "Test Root", nb, na, &[]);
    w.cert("leaf", "Test Leaf", nb, na, &["--ca", "ca"]);
    w.sign("leaf", "unsigned.exe", "signed.exe", &[]);
    let out = run(Command::new(bin("nod32cli"))
        .arg("certs")
        .arg(w.path("signed.exe")));
    check(&out, "nod32cli certs");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let rule =
        lines[0].split_once(": ").unwrap().1.replacen("NAME", "Printed", 1);
    let f: Vec<&str> = rule.split(';').collect();
    let want = w.fields("leaf");
    assert_eq!(f[SUBJECT..=PUBKEY], want.0[SUBJECT..=PUBKEY], "{rule}");
    // A leaf for code signing only.
    assert_eq!(f[CODESIGN..CODESIGN + 3], ["1", "0", "0"], "{rule}");
    let db = tmp.path().join("db");
    std::fs::create_dir(&db).unwrap();
    std::fs::write(db.join("alert.ndb"), ALERT_NDB).unwrap();
    let verdict = |program: &Path| {
        let out = scan(program, &db, &w.path("signed.exe"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        parse_clamscan_exact(&text).into_iter().next().map(|(_, v)| v)
    };
    let marked = Some(Some(MARKER.to_string()));
    assert_eq!(verdict(&peer("clamscan", "clamav")), marked);
    assert_eq!(verdict(&bin("nod32cli")), marked);
    std::fs::write(db.join("rules.crb"), rule + "\n").unwrap();
    assert_eq!(verdict(&peer("clamscan", "clamav")), Some(None));
    assert_eq!(verdict(&bin("nod32cli")), Some(None));
    // An unsigned file has none.
    let out = run(Command::new(bin("nod32cli"))
        .arg("certs")
        .arg(w.path("unsigned.exe")));
    assert!(out.status.success() && out.stdout.is_empty());
}
