//! Why a signature line is refused: the reasons shared by several
//! formats.

/// A `MinFL` or `MaxFL` field that is not a number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid functionality level '{0}'")]
pub struct LevelError(pub String);
