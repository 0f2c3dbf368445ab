//! `nod32.toml`: the one configuration every nod32 binary reads.
//!
//! NOD32LMS's model and key names, in TOML: a `[global]` section and one
//! section per agent (`[mda]`, `[smtp]`, `[smfi]`, `[cli]`, `[upd]`). The
//! scanning and policy keys may be set in `[global]` and overridden in an
//! agent's section. Reading is two-staged, as ripgrep does it: the TOML is
//! parsed, then every key is checked and turned into a typed value, and an
//! error names the file, the key and why. Each section is a struct that
//! derives serde's `Deserialize`, its keys its fields.
//!
//! ```
//! let cfg = nod32_config::Config::from_str_named(
//!     "[global]\naction_on_infected = \"reject\"\n[smtp]\naction_on_infected = \"defer\"\n",
//!     "nod32.toml",
//! ).unwrap();
//! // [smtp] overrides [global]; the other agents keep the global value.
//! assert_eq!(cfg.smtp.policy.action_on_infected.action, nod32_config::Action::Defer);
//! assert_eq!(cfg.mda.policy.action_on_infected.action, nod32_config::Action::Reject);
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::path::PathBuf;

mod de;
mod keys;
mod load;
mod policy;
mod sections;
mod user;

use keys::*;
use load::*;
pub use load::{parse_duration, parse_size};
pub use policy::*;
pub use sections::*;
pub use user::UserConfig;

/// Where the binaries look for the configuration unless `-c` says.
pub const DEFAULT_PATH: &str = "/etc/nod32/nod32.toml";

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause, in the message already (not a `source`, so that
        /// a chain of causes does not print it twice).
        cause: std::io::Error,
    },
    /// The file is not valid TOML.
    #[error("{file}: {reason}")]
    Syntax {
        /// The file.
        file: String,
        /// The parser's message, with line and column.
        reason: String,
    },
    /// A key is unknown or its value is wrong.
    #[error("{file}: {key}: {reason}")]
    Key {
        /// The file.
        file: String,
        /// `section.key`.
        key: String,
        /// What is wrong.
        reason: String,
    },
}

#[cfg(test)]
mod tests;
