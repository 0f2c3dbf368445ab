//! Error types of the engine.
//!
//! Hostile *scanned* data never produces one of these: it yields a
//! [`Verdict`](crate::Verdict). Errors are for bad signature sources, bad
//! module files and I/O. [`LoadError`](crate::LoadError), for signature
//! sources, is defined with their reader, beside the reasons it holds.

use std::path::PathBuf;

/// Opening or validating a compiled loading module failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModuleError {
    /// The file could not be opened or mapped.
    #[error("cannot open module {}: {cause}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause (in the message, so not a `source()` that a chain
        /// printer would repeat).
        cause: std::io::Error,
    },
    /// The bytes are not a loading module this engine understands.
    #[error("invalid module: {reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
    },
    /// The module was written by another format version.
    #[error(
        "module format version {found} is not supported (this engine reads {expected})"
    )]
    Version {
        /// The version in the file.
        found: u32,
        /// The version this engine reads.
        expected: u32,
    },
    /// The payload checksum does not match: the file is damaged.
    #[error("module checksum mismatch: the file is damaged")]
    Checksum,
}

impl ModuleError {
    pub(crate) fn invalid(reason: impl Into<String>) -> ModuleError {
        ModuleError::Invalid { reason: reason.into() }
    }
}

/// Scanning a path failed before any verdict could be given.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// The object could not be read.
    #[error("cannot read {}: {cause}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause (in the message, so not a `source()` that a chain
        /// printer would repeat).
        cause: std::io::Error,
    },
}

/// Installing a compiled module failed; the old module is untouched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InstallError {
    /// The temporary file beside the module could not be written.
    #[error("writing {}: {cause}", path.display())]
    Write {
        /// The temporary file.
        path: PathBuf,
        /// The cause (in the message, so not a `source()` that a chain
        /// printer would repeat).
        cause: std::io::Error,
    },
    /// What was written does not open or verify.
    #[error("the module written to {} does not verify: {cause}", path.display())]
    Verify {
        /// The temporary file.
        path: PathBuf,
        /// The cause (in the message, so not a `source()` that a chain
        /// printer would repeat).
        cause: ModuleError,
    },
    /// The temporary file could not replace the module.
    #[error("renaming {} to {}: {cause}", from.display(), to.display())]
    Rename {
        /// The temporary file.
        from: PathBuf,
        /// The module.
        to: PathBuf,
        /// The cause (in the message, so not a `source()` that a chain
        /// printer would repeat).
        cause: std::io::Error,
    },
}
