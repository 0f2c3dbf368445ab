//! Why a body pattern is refused.

use super::shape::ShapeError;

/// The widest `[n-m]` jump ClamAV takes.
pub(super) const MAX_JUMP: u32 = 32;

/// A body pattern (an `.ndb` body, an `.ldb` subsignature) that does not
/// follow the hex grammar, or that ClamAV's loader would refuse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    /// Nothing between the separators.
    #[error("empty body signature")]
    Empty,
    /// A `{`, `[` or `(` that nothing closes.
    #[error("unterminated '{0}'")]
    Unterminated(char),
    /// A `[n-m]` jump whose upper bound is past what ClamAV takes.
    #[error("[n-m] range wider than {}", MAX_JUMP)]
    JumpTooWide {
        /// The jump's upper bound.
        max: u32,
    },
    /// `!` negates a group only.
    #[error("'!' must be followed by '('")]
    BangWithoutGroup,
    /// A pattern that ends half-way through a byte.
    #[error("odd number of hex digits")]
    OddDigits,
    /// Two characters read as a byte that are neither hex nor `?`.
    #[error("invalid hex pair '{hi}{lo}'")]
    HexPair {
        /// The first character.
        hi: char,
        /// The second character.
        lo: char,
    },
    /// A bound of a gap or jump that is not a decimal number.
    #[error("invalid number '{0}'")]
    Number(String),
    /// A bound of a gap or jump past 32 bits.
    #[error("number too large '{0}'")]
    NumberTooLarge(String),
    /// A `[n-m]` jump, or a range in a group, with n > m (a `{n-m}` gap
    /// so reversed loads, as in ClamAV, and never matches).
    #[error("range {min}-{max} is reversed")]
    ReversedRange {
        /// n.
        min: u32,
        /// m.
        max: u32,
    },
    /// A `{` inside a group that nothing closes.
    #[error("unterminated '{{' in group")]
    GroupUnterminated,
    /// A group holds fixed-length gaps only, as ClamAV expands them.
    #[error("only {{n}} with n < 128 inside a group")]
    GroupGap {
        /// The gap's lower bound.
        min: u32,
        /// The gap's upper bound.
        max: u32,
    },
    /// An alternative of a group that ends half-way through a byte.
    #[error("odd number of hex digits in group")]
    GroupOddDigits,
    /// `(41||42)`, `(|41)`.
    #[error("empty alternative")]
    EmptyAlternative,
    /// A group that is neither a marker nor a choice.
    #[error("a group needs at least two alternatives")]
    OneAlternative,
    /// A negated group must match a known number of bytes.
    #[error("negated alternatives must all have one length")]
    NegatedLengths,
    /// A subsignature modifier (`::i`, `::w`, `::f`, `::a`) ClamAV does
    /// not know.
    #[error("unknown modifier '{0}'")]
    UnknownModifier(char),
    /// The pattern reads, but ClamAV's loader refuses it.
    #[error(transparent)]
    Shape(#[from] ShapeError),
}
