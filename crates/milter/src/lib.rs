//! The milter protocol as Sendmail's libmilter and Postfix speak it
//! (versions 2 to 6), written here because the Rust milter crates are
//! GPL-3: a packet codec ([`codec`]) and one connection's state
//! ([`session`]), both without I/O of their own so they can be tested
//! and fuzzed byte by byte.
#![forbid(unsafe_code)]

pub mod codec;
pub mod session;

pub use codec::{Command, Malformed, Response};
pub use session::{Options, Session, Step};
