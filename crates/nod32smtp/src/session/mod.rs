//! nod32smtp's session: one client, its next hop, and the message read
//! whole, scanned and then sent on or refused. What is said on either
//! wire is decided by the sans-I/O [`Conversation`]; [`serve`] is the
//! driver around it, with the sockets, TLS, the spool and the scan. Kept
//! in the library so that fuzz targets can drive the conversation with
//! any events, and the whole session with any client bytes against a
//! scripted next hop.

use std::io;

use nod32_agent::State;

use crate::net::Plain;

mod conversation;
mod driver;
mod shared;
mod upstream;

pub use conversation::{
    Action, Conversation, Ending, Event, Joins, MAX_COMMAND, Opened, Options,
    Request, Spooled, Step, Verdict,
};
pub use driver::serve;
pub use shared::{Active, Shared, Tls};

/// How a next-hop connection is made: TCP to `server_addr` in the
/// daemon, a scripted peer in the fuzz target.
pub type Connect = Box<dyn Fn(&State) -> io::Result<Plain> + Send + Sync>;
