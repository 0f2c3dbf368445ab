//! Why a file was not taken from a server, and why a server's manifest
//! was refused.

use std::path::PathBuf;
use std::time::Duration;

use crate::Refused;
use crate::fetch::FetchError;

/// Why a file was not taken from a server (logged where it happens; the
/// text also goes into the run's summary).
#[derive(Debug, thiserror::Error)]
pub(crate) enum UpdateError {
    /// The request came to no answer.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// 404.
    #[error("{url}: not found (404)")]
    NotFound { url: String },
    /// 401: the credentials, and where to set them.
    #[error(
        "{url}: credentials refused (401); see [upd] username or {}",
        auth_file.display()
    )]
    Unauthorized { url: String, auth_file: PathBuf },
    /// 403 or 429: the server is not asked again for `wait`.
    #[error(
        "{url}: the server asks to wait {} s; not asking it again before then",
        wait.as_secs()
    )]
    BackOff { url: String, wait: Duration },
    /// Any other status.
    #[error("{url}: HTTP status {status}")]
    Status { url: String, status: u16 },
    /// The download's partial file could not be read back.
    #[error("{}: {cause}", path.display())]
    Part { path: PathBuf, cause: std::io::Error },
    /// With `mirror_public_key`, a file the signed manifest does not
    /// list with its hash.
    #[error("{url}: refused: not the file the signed update.ver lists")]
    NotListed { url: String },
    /// No installed copy of the version a `.cdiff` chain starts from.
    #[error("no local {db} of version {version}")]
    NoBase { db: String, version: u32 },
    /// A server without even the first `.cdiff`: a mirror of whole CVDs,
    /// which is no fault.
    #[error("no .cdiff files")]
    NoCdiffs,
    /// A `.cdiff` that does not verify.
    #[error("{url}: refused: {why}")]
    Refused { url: String, why: Refused },
    /// A `.cdiff` whose signed header is for another version.
    #[error("{url}: it is for version {got}, not {want}")]
    OtherVersion { url: String, got: u32, want: u32 },
    /// A `.cdiff` whose script does not run on the members.
    #[error("{url}: {cause}")]
    Script { url: String, cause: crate::cdiff::CdiffError },
    /// A `.cdiff` whose script leaves no readable `.info`.
    #[error("{url}: {cause} after its script")]
    NoInfo { url: String, cause: crate::InfoError },
    /// A `.cdiff` whose script makes a `.info` of another version than
    /// its signed header.
    #[error("{url}: it makes {db}.info version {made}, not {want}")]
    Makes { url: String, db: String, made: u32, want: u32 },
}

/// Why a server's `update.ver` is not taken with `mirror_public_key`
/// set. Kept for the whole run (each server's manifest is fetched once),
/// hence `Clone`, which [`UpdateError`] cannot be.
#[derive(Clone, Debug, thiserror::Error)]
pub(crate) enum ManifestRefused {
    /// The server has none.
    #[error(
        "{base}/update.ver: missing, and mirror_public_key requires a signed one"
    )]
    Missing { base: String },
    /// Its signature is missing or does not verify.
    #[error(
        "{base}/update.ver: refused: its signature does not verify with mirror_public_key"
    )]
    Signature { base: String },
}
