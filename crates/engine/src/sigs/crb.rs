//! `.crb` certificate rules and `.cat` catalogs, read as clamscan 1.4
//! reads them.
//!
//! A `.crb` line is `Name;Trusted;Subject;Serial;Pubkey;Exponent;
//! CodeSign;TimeSign;CertSign;NotBefore;Comment[;MinFL[;MaxFL]]`. Two
//! habits of clamscan's reader are kept because they decide verdicts: an
//! empty serial makes every later rule of the same file ignore its serial
//! too, and an empty NotBefore repeats the previous line's.

use num_bigint::BigUint;

use super::*;
use crate::auth::{self, Cert};

/// A `.crb` line that clamscan refuses, in clamscan's own words (its
/// capitals included): users compare them with its log.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CrbError {
    /// How many `;`-separated fields there are, 14 meaning more.
    #[error("Invalid number of tokens: {0}")]
    Tokens(usize),
    /// A `MinFL` that is not digits.
    #[error("Invalid minimum feature level")]
    MinLevel,
    /// A `MaxFL` that is not digits.
    #[error("Invalid maximum feature level")]
    MaxLevel,
    /// A flag field (named as clamscan names it) that starts with
    /// neither `0` nor `1`.
    #[error("Invalid {0} specification. Expected 0 or 1")]
    Flag(&'static str),
    /// A SHA-1 field (subject, serial) that is not 40 characters.
    #[error("{0} is not the appropriate length for a SHA1 Hash")]
    HashLength(&'static str),
    /// A field (subject, serial, public key) that is not hex.
    #[error("Cannot convert {0} to binary string")]
    NotHex(&'static str),
}

fn hex20(s: &str, what: &'static str) -> Result<[u8; 20], CrbError> {
    if s.len() != 40 {
        return Err(CrbError::HashLength(what));
    }
    decode_hex(s).and_then(|v| v.try_into().ok()).ok_or(CrbError::NotHex(what))
}

/// glibc's `atoi`: leading blanks, a sign, the digits there are, read
/// as a `long` (saturating) and cut to an `int`.
fn atoi(s: &str) -> i32 {
    let t = s.trim_start_matches([' ', '\t', '\n', '\r', '\x0b', '\x0c']);
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let mut digits = t.bytes().take_while(u8::is_ascii_digit);
    let v = digits.try_fold(0i64, |a, d| {
        let d = i64::from(d - b'0');
        a.checked_mul(10)?.checked_add(if neg { -d } else { d })
    });
    let v = v.unwrap_or(if neg { i64::MIN } else { i64::MAX });
    v as i32
}

/// A flag field: its first character, `1` or `0`.
fn flag(s: &str, what: &'static str) -> Result<bool, CrbError> {
    match s.as_bytes().first() {
        Some(b'1') => Ok(true),
        Some(b'0') => Ok(false),
        _ => Err(CrbError::Flag(what)),
    }
}

/// State that carries from one line of a file to the next.
#[derive(Default)]
struct Carry {
    ignore_serial: bool,
    not_before: i64,
}

/// One line: `Ok(None)` for a line outside this functionality level.
fn rule(line: &str, carry: &mut Carry) -> Result<Option<Cert>, CrbError> {
    let f: Vec<&str> = line.splitn(15, ';').collect();
    if !(11..=13).contains(&f.len()) {
        return Err(CrbError::Tokens(f.len().min(14)));
    }
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if f.len() >= 12 {
        if !digits(f[11]) {
            return Err(CrbError::MinLevel);
        }
        // Compared unsigned, as clamscan compares them.
        if atoi(f[11]) as u32 > FLEVEL {
            return Ok(None);
        }
        if f.len() == 13 {
            if !digits(f[12]) {
                return Err(CrbError::MaxLevel);
            }
            if (atoi(f[12]) as u32) < FLEVEL {
                return Ok(None);
            }
        }
    }
    let mut c = Cert { blocked: !flag(f[1], "trust")?, ..Cert::default() };
    if f[3].is_empty() {
        carry.ignore_serial = true;
    } else {
        c.serial = hex20(f[3], "serial")?;
    }
    c.ignore_serial = carry.ignore_serial;
    c.subject = hex20(f[2], "subject")?;
    // OpenSSL's reading of hex: a sign, then as many digits as there are.
    let (neg, hex) = match f[4].strip_prefix('-') {
        Some(h) => (true, h),
        None => (false, f[4]),
    };
    let len = hex.bytes().take_while(u8::is_ascii_hexdigit).count();
    if len == 0 {
        return Err(CrbError::NotHex("public key"));
    }
    // A negative modulus is no certificate's: kept as 0, which only a
    // crafted certificate of all-zero modulus could equal.
    c.n = if neg {
        BigUint::default()
    } else {
        BigUint::parse_bytes(&hex.as_bytes()[..len], 16).unwrap_or_default()
    };
    // The exponent field is not read: every rule's is 65537.
    c.e = BigUint::from(65_537u32);
    c.code = flag(f[6], "code sign")?;
    c.time = flag(f[7], "time sign")?;
    c.cert_sign = flag(f[8], "cert sign")?;
    c.name = (!f[0].is_empty()).then(|| f[0].to_string());
    if !f[9].is_empty() {
        carry.not_before = i64::from(atoi(f[9]));
    }
    c.not_before = carry.not_before;
    c.not_after = i64::MAX;
    c.issuer = [0xca; 20];
    Ok(Some(c))
}

impl SignatureSet {
    /// Passes `.crb` and `.cat` files over, as clamscan's `--nocerts`
    /// does (a malformed one then does not fail the load); call before
    /// loading.
    pub fn without_certificates(&mut self) {
        self.no_certs = true;
    }
}

/// A file's place in libclamav's order for a database directory: ignore
/// lists, the daily container, `local.gdb`, `daily.cfg`, certificate
/// rules (which catalogs are checked against), then the rest.
pub(super) fn priority(path: &Path) -> u8 {
    let name =
        path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    match &*name {
        _ if lower.ends_with(".ign") || lower.ends_with(".ign2") => 0,
        "daily.cld" => 1,
        "daily.cvd" => 2,
        "local.gdb" => 3,
        "daily.cfg" => 4,
        _ if lower.ends_with(".crb") => 5,
        _ => 6,
    }
}

/// Reads a `.crb` file into the set's certificate store.
pub(super) fn load(
    set: &mut SignatureSet,
    name: &str,
    bytes: &[u8],
) -> Result<(), LoadError> {
    let mut carry = Carry::default();
    // clamscan reads with an 8 KiB buffer: a longer line is read as
    // several, each counted.
    let mut n = 0;
    for raw in bytes.split_inclusive(|&b| b == b'\n') {
        for piece in raw.chunks(8191) {
            n += 1;
            if piece.first() == Some(&b'#') {
                continue;
            }
            let text = String::from_utf8_lossy(piece);
            let line = text.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                continue;
            }
            let c = rule(line, &mut carry).map_err(|reason| {
                LoadError::Malformed {
                    path: name.to_string(),
                    line: n,
                    reason: reason.into(),
                }
            })?;
            match c {
                Some(c) => {
                    set.certs.add(c);
                    set.stats.certificates += 1;
                    set.row(name, None).loaded += 1;
                }
                None => set.skipped(name, None),
            }
        }
    }
    Ok(())
}

/// Reads a `.cat` catalog: when its signature is trusted by the rules
/// loaded before it, the hashes it lists join the allow-list as clamscan
/// keeps them (sized 2 for executables, 1 for cabinets). One that is not
/// trusted is named in the load's warning.
pub(super) fn load_catalog(
    set: &mut SignatureSet,
    name: &str,
    bytes: &[u8],
) -> Result<(), LoadError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let Some(hashes) = auth::load_catalog(bytes, &mut set.certs, now) else {
        set.stats.untrusted_catalogs.push(name.to_string());
        return Ok(());
    };
    for h in hashes {
        set.fps.push(HashSig {
            kind: if h.digest.len() == 20 {
                HashKind::Sha1
            } else {
                HashKind::Sha256
            },
            digest: h.digest,
            size: Some(if h.pe { 2 } else { 1 }),
            name: format!(
                "{}:catalog",
                name.rsplit('/').next().unwrap_or(name)
            ),
            line_md5: [0; 16],
            official: set.official,
        });
        set.stats.certificates += 1;
        set.row(name, None).loaded += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBJECT: &str = "13d581db50c1dc1bbc34be6e8da2de573b9e046c";
    const SERIAL: &str = "5b1cc755f6eabdeebadab0dd70927680049b812d";

    fn line(fields: &[&str]) -> String {
        fields.join(";")
    }

    #[test]
    fn fields_read_as_clamscan_reads_them() {
        let mut carry = Carry::default();
        let l = line(&[
            "T",
            "1x",
            SUBJECT,
            SERIAL,
            "00aBcD zz",
            "",
            "1",
            "0",
            "1",
            "",
            "c",
        ]);
        let c = rule(&l, &mut carry).unwrap().unwrap();
        assert!(!c.blocked && c.code && !c.time && c.cert_sign);
        assert_eq!(c.n, BigUint::from(0xabcdu32));
        assert_eq!(c.e, BigUint::from(65_537u32));
        assert_eq!(c.name.as_deref(), Some("T"));
        assert_eq!((c.not_before, c.issuer), (0, [0xca; 20]));
        // FL fields: a later engine's rule, an empty MaxFL (0).
        let fl = |min: &str, max: Option<&str>| {
            let mut f =
                vec!["T", "1", SUBJECT, SERIAL, "ab", "", "1", "0", "0"];
            f.extend(["", "c", min]);
            f.extend(max);
            rule(&line(&f), &mut Carry::default())
        };
        assert!(fl("0", None).unwrap().is_some());
        assert!(fl("", None).unwrap().is_some());
        assert!(fl("999", None).unwrap().is_none());
        assert!(fl("0", Some("")).unwrap().is_none());
        assert_eq!(fl("x", None).unwrap_err(), CrbError::MinLevel);
        // Unsigned: 2147483648 is a later level, 4294967295 no limit.
        assert!(fl("2147483648", None).unwrap().is_none());
        assert!(fl("0", Some("4294967295")).unwrap().is_some());
        assert_eq!(fl("0", Some("abc")).unwrap_err(), CrbError::MaxLevel);
    }

    #[test]
    fn an_empty_serial_and_not_before_carry_on() {
        let mut carry = Carry::default();
        let f = |serial: &str, nb: &str| {
            line(&["", "0", SUBJECT, serial, "ab", "", "0", "0", "0", nb, ""])
        };
        let a = rule(&f(SERIAL, "1796571535x"), &mut carry).unwrap().unwrap();
        assert!(!a.ignore_serial && a.not_before == 1_796_571_535);
        let b = rule(&f("", ""), &mut carry).unwrap().unwrap();
        assert!(b.ignore_serial && b.not_before == 1_796_571_535);
        assert!(b.blocked && b.name.is_none());
        let c = rule(&f(SERIAL, "4000000000"), &mut carry).unwrap().unwrap();
        assert!(c.ignore_serial && c.not_before < 0);
        // Past a long, glibc saturates: -1 once cut to an int.
        let d = rule(&f(SERIAL, "18446744075709551616"), &mut carry);
        assert_eq!(d.unwrap().unwrap().not_before, -1);
    }

    #[test]
    fn a_directory_loads_in_libclamav_order() {
        let mut names = [
            "main.cvd",
            "local.crb",
            "daily.cfg",
            "x.IGN2",
            "daily.cvd",
            "local.gdb",
            "bytecode.cvd",
            "daily.cld",
            "a.cat",
        ];
        names.sort_by_key(|n| (priority(Path::new(n)), *n));
        assert_eq!(
            names,
            [
                "x.IGN2",
                "daily.cld",
                "daily.cvd",
                "local.gdb",
                "daily.cfg",
                "local.crb",
                "a.cat",
                "bytecode.cvd",
                "main.cvd"
            ]
        );
    }

    #[test]
    fn malformed_lines_are_refused_with_clamscan_words() {
        let err = |fields: &[&str]| {
            rule(&line(fields), &mut Carry::default()).unwrap_err().to_string()
        };
        let ok = ["T", "1", SUBJECT, SERIAL, "ab", "", "1", "0", "0", "", "c"];
        assert_eq!(err(&ok[..10]), "Invalid number of tokens: 10");
        let mut long = ok.to_vec();
        long.extend(["1", "2", "3", "4"]);
        assert_eq!(err(&long), "Invalid number of tokens: 14");
        let with = |i: usize, v: &'static str| {
            let mut f = ok;
            f[i] = v;
            err(&f)
        };
        assert!(with(1, "2").contains("trust"));
        assert!(with(2, &SUBJECT[2..]).contains("subject is not"));
        assert!(
            with(3, "zz5b1cc755f6eabdeebadab0dd70927680049b81")
                .contains("serial")
        );
        assert!(with(4, "").contains("public key"));
        assert!(with(6, "").contains("code sign"));
        assert!(with(8, "x").contains("cert sign"));
    }

    /// clamscan's own words, kept whole: `nod32cli` prints them after
    /// the file and line.
    #[test]
    fn refusals_keep_their_texts() {
        let ok = ["T", "1", SUBJECT, SERIAL, "ab", "", "1", "0", "0", "", "c"];
        let why = |i: usize, v: &'static str| {
            let mut f = ok.to_vec();
            if i == f.len() {
                f.push(v);
            } else {
                f[i] = v;
            }
            rule(&line(&f), &mut Carry::default()).unwrap_err().to_string()
        };
        for (i, v, text) in [
            (11, "x", "Invalid minimum feature level"),
            (1, "2", "Invalid trust specification. Expected 0 or 1"),
            (
                3,
                "5b1c",
                "serial is not the appropriate length for a SHA1 Hash",
            ),
            (
                3,
                "zz1cc755f6eabdeebadab0dd70927680049b812d",
                "Cannot convert serial to binary string",
            ),
            (
                2,
                "13d5",
                "subject is not the appropriate length for a SHA1 Hash",
            ),
            (
                2,
                "zzd581db50c1dc1bbc34be6e8da2de573b9e046c",
                "Cannot convert subject to binary string",
            ),
            (4, "-", "Cannot convert public key to binary string"),
            (6, "", "Invalid code sign specification. Expected 0 or 1"),
            (7, "x", "Invalid time sign specification. Expected 0 or 1"),
            (8, "2", "Invalid cert sign specification. Expected 0 or 1"),
        ] {
            assert_eq!(why(i, v), text, "field {i}: {v}");
        }
        let mut max = ok.to_vec();
        max.extend(["0", "x"]);
        let e = rule(&line(&max), &mut Carry::default()).unwrap_err();
        assert_eq!(e.to_string(), "Invalid maximum feature level");
    }
}
