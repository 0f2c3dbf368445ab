//! Why (part of) an object was not scanned: shared by the container
//! walks, the heuristics and the scanner, below all of them.

/// Why (part of) an object was not scanned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// MaxScanSize reached.
    ScanSizeLimit,
    /// An object over MaxFileSize.
    FileSizeLimit,
    /// Containers nested deeper than MaxRecursion.
    DepthLimit,
    /// More members than MaxFiles.
    FilesLimit,
    /// MaxScanTime ran out, or a matcher pass used up its verification
    /// budget on crafted input.
    Timeout,
    /// Encrypted content.
    Encrypted,
    /// Damaged content of the named format.
    Malformed {
        /// The format.
        format: &'static str,
    },
}

impl Reason {
    /// ClamAV's heuristic name suffix for this limit.
    pub fn as_str(&self) -> &'static str {
        match self {
            Reason::ScanSizeLimit => "MaxScanSize",
            Reason::FileSizeLimit => "MaxFileSize",
            Reason::DepthLimit => "MaxRecursion",
            Reason::FilesLimit => "MaxFiles",
            Reason::Timeout => "MaxScanTime",
            Reason::Encrypted => "Encrypted",
            Reason::Malformed { .. } => "Malformed",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Malformed { format } => write!(f, "malformed {format}"),
            Reason::Encrypted => f.write_str("encrypted"),
            r => write!(f, "limit {} exceeded", r.as_str()),
        }
    }
}
