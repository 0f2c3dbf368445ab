//! Why reading signature sources fails, and why one line is refused.
//!
//! [`LoadError`] lives here, with the reader, rather than in the crate's
//! `error` module: it holds the reasons each format's reader defines,
//! and the engine's modules form layers (`error` may not import `sigs`,
//! which imports it).

use std::path::PathBuf;

pub use super::body::{BodyError, ShapeError};
pub use super::cdb::{CdbError, EreError};
pub use super::crb::CrbError;
pub use super::expr::ExprError;
pub use super::ftm::FtmError;
pub use super::idb::IdbError;
pub use super::parse::{
    HashError, LdbError, NdbError, NumberError, OffsetError,
};
pub use super::phish::PhishError;

/// Reading ClamAV signature sources failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A file or directory could not be read.
    #[error("cannot read {}: {cause}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause (in the message, so not a `source()` that a chain
        /// printer would repeat).
        cause: std::io::Error,
    },
    /// A signature line is malformed.
    #[error("invalid signature at {path}:{line}: {reason}")]
    Malformed {
        /// The file (for container members `main.cvd/main.ndb`).
        path: String,
        /// The 1-based line number.
        line: usize,
        /// What is wrong (in the message, so not a `source()` that a
        /// chain printer such as `nod32cli`'s would repeat).
        reason: SigError,
    },
    /// A file's extension names no signature format the engine reads.
    #[error("{path}: not a ClamAV signature file (unknown extension)")]
    UnknownFormat {
        /// The file.
        path: String,
    },
    /// A CVD/CLD container is damaged.
    #[error("invalid database container {path}: {reason}")]
    Container {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// Why a signature line (or a whole file, for `.ftm` and `.idb`) is
/// refused, by the format read: the reason a [`LoadError::Malformed`]
/// holds. Each prints the text ClamAV users know, without file and line.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SigError {
    /// `.hdb`, `.hsb`, `.mdb`, `.fp`, `.sfp`.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// `.ndb`.
    #[error(transparent)]
    Ndb(#[from] NdbError),
    /// `.ldb`.
    #[error(transparent)]
    Ldb(#[from] LdbError),
    /// `.cdb`.
    #[error(transparent)]
    Cdb(#[from] CdbError),
    /// `.crb`.
    #[error(transparent)]
    Crb(#[from] CrbError),
    /// `.ftm`.
    #[error(transparent)]
    Ftm(#[from] FtmError),
    /// `.pdb`, `.gdb`, `.wdb`.
    #[error(transparent)]
    Phish(#[from] PhishError),
    /// `.idb`.
    #[error(transparent)]
    Idb(#[from] IdbError),
}

/// A `MinFL` or `MaxFL` field that is not a number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid functionality level '{0}'")]
pub struct LevelError(pub String);
