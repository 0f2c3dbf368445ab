//! The nod32 scan engine: reads ClamAV's open signature formats, compiles
//! them into one loading module that every binary maps and uses in place,
//! and scans files and mail against it.
//!
//! ```
//! use nod32_engine::{Database, Scanner, SignatureSet, Verdict};
//!
//! let mut sigs = SignatureSet::new();
//! sigs.load_bytes("local.ndb", b"Test.Sig:0:*:48656c6c6f\n").unwrap();
//! let module = nod32_engine::compile(&sigs).0; // what `nod32cli compile` writes
//! let db = Database::from_bytes(module).unwrap();
//! let report = Scanner::new(&db).scan_bytes(b"... Hello ...");
//! assert!(matches!(report.verdict, Verdict::Infected { ref name, .. } if name == "Test.Sig"));
//! ```
//!
//! Hostile scanned data never makes the engine return an error or panic:
//! it yields a [`Verdict`], `Uncheckable` with a [`Reason`] when something
//! could not be looked at. Errors are for bad signature sources and bad
//! module files.
#![deny(missing_docs)]

mod auth;
mod compile;
mod error;
mod exe;
mod filetype;
mod heur;
mod html;
mod matcher;
pub mod mime;
mod module;
mod pe;
mod phish;
mod scan;
mod sigs;
mod unpack;
mod verdict;

pub use compile::{CompileStats, compile, install};
pub use error::{InstallError, ModuleError, ScanError};
pub use heur::Heuristics;
pub use module::{Database, FORMAT_VERSION};
pub use scan::{
    Infection, Limits, MailboxMessage, Options, Report, Scanner, Verdict,
};
pub use sigs::cvd::{
    CvdError, CvdHeader, members as cvd_members,
    parse_header as parse_cvd_header,
};
pub use sigs::{
    FLEVEL, KindRow, LoadError, LoadStats, PuaCategories, SignatureSet, Source,
};
pub use verdict::Reason;

/// The scan's stages one at a time, for the per-stage benchmarks
/// (`benches/stages.rs`), so that a regression shows where it happens.
/// Not an API: nothing outside the benchmarks may call these.
#[doc(hidden)]
pub mod stages {
    use crate::module::{Database, Eof, T_ANY};

    /// The matcher's pass over `data` for signatures of any target: the
    /// logical subsignature hits it recorded (to keep the work alive).
    pub fn matcher(db: &Database, data: &[u8]) -> usize {
        let hits = db.pass_pe(data, T_ANY, Eof::Data, None);
        hits.lsub.len() + usize::from(hits.ndb.is_some())
    }

    /// A base64 body decoded as the MIME walk decodes it.
    pub fn base64(input: &[u8]) -> Vec<u8> {
        crate::mime::base64_decode(input)
    }

    /// The MD5 a hash signature of an object is looked up by.
    pub fn md5(data: &[u8]) -> [u8; 16] {
        use md5::Digest;
        md5::Md5::digest(data).into()
    }

    /// A message's MIME structure walked to its leaves, without
    /// decoding them: how many there are.
    pub fn mime_walk(raw: &[u8]) -> usize {
        crate::mime::parse(raw).root.leaves().len()
    }
}

/// Why a signature line is refused: the [`SigError`](sig_error::SigError)
/// a [`LoadError::Malformed`] holds, and the reason of each format it
/// wraps. Each prints the text clamscan users know, without file and
/// line.
pub mod sig_error {
    pub use crate::sigs::error::{
        BodyError, CdbError, CrbError, EreError, ExprError, FtmError,
        HashError, IdbError, LdbError, LevelError, NdbError, NumberError,
        OffsetError, PhishError, ShapeError, SigError,
    };
}

const BUILTIN_NDB: &str = include_str!("../builtin/default.ndb");
const BUILTIN_HDB: &str = include_str!("../builtin/default.hdb");

impl Database {
    /// The small built-in default module: EICAR and the project's own test
    /// signatures. Used when no module is configured, so that a fresh
    /// installation can show it works.
    pub fn builtin() -> Database {
        Database::from_signatures(&builtin_signatures())
            .expect("built-in module is valid")
    }
}

/// The hash of each icon of a Windows executable that `.idb` signatures
/// would compare, as an `.idb` line writes it (the part after the
/// name and the two group names), in the order ClamAV compares them:
/// the icons of the first icon group. Empty for other files and DLLs.
pub fn icon_hashes(data: &[u8]) -> Vec<String> {
    pe::icon::icons(data).iter().map(|m| m.hex()).collect()
}

/// An HTML page's forms as ClamAV normalises them for its HTML (target
/// type 3) signatures, what `sigtool --html-normalise` writes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HtmlForms {
    /// `nocomment.html`: the page lowered, comments and white space out.
    pub nocomment: Vec<u8>,
    /// `notags.html`: its text.
    pub notags: Vec<u8>,
    /// `javascript`: its scripts normalised; empty when it has none
    /// (ClamAV then writes no file).
    pub javascript: Vec<u8>,
}

/// The forms a page is scanned in as HTML, for writing signatures.
pub fn html_forms(page: &[u8]) -> HtmlForms {
    let n = html::normalize(page);
    HtmlForms {
        nocomment: n.nocomment,
        notags: n.notags,
        javascript: n.javascript,
    }
}

/// A certificate of a Windows executable's Authenticode signature, with
/// what a `.crb` rule for it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignerCertificate {
    /// SHA-1 of the subject name's value, hex (the rule's Subject).
    pub subject: String,
    /// SHA-1 of the serial number's value, hex (Serial).
    pub serial: String,
    /// SHA-1 of the issuer name's value, hex.
    pub issuer: String,
    /// The RSA modulus, upper-case hex (Pubkey).
    pub modulus: String,
    /// Code signing (CodeSign), as the check reads the key usages: a
    /// trust rule's flags must include this one's.
    pub code: bool,
    /// Time stamping (TimeSign).
    pub time: bool,
    /// Certificate signing (CertSign).
    pub cert_sign: bool,
    /// Start of validity, Unix seconds, as the check reads it.
    pub not_before: i64,
    /// End of validity (a year from 2050 on reads as its century twice).
    pub not_after: i64,
}

/// The certificates of an executable's Authenticode signature that the
/// `.crb` check can use (RSA keys, readable), in the order written; empty
/// for an unsigned file. This is what an administrator writes a `.crb`
/// rule from (`nod32cli certs`).
pub fn signer_certificates(data: &[u8]) -> Vec<SignerCertificate> {
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect();
    auth::certificates(data)
        .into_iter()
        .map(|c| {
            let mut modulus = format!("{:X}", c.n);
            if modulus.len() % 2 == 1 {
                modulus.insert(0, '0');
            }
            SignerCertificate {
                subject: hex(&c.subject),
                serial: hex(&c.serial),
                issuer: hex(&c.issuer),
                modulus,
                code: c.code,
                time: c.time,
                cert_sign: c.cert_sign,
                not_before: c.not_before,
                not_after: c.not_after,
            }
        })
        .collect()
}

/// The built-in signatures, e.g. to write them out as a module file with
/// [`compile`].
pub fn builtin_signatures() -> SignatureSet {
    let mut s = SignatureSet::new();
    s.load_bytes("builtin/default.ndb", BUILTIN_NDB.as_bytes())
        .expect("built-in signatures parse");
    s.load_bytes("builtin/default.hdb", BUILTIN_HDB.as_bytes())
        .expect("built-in signatures parse");
    s
}
