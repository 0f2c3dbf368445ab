//! What every nod32 agent shares: one configuration, one policy, and the
//! same treatment of a message whichever door it came in by.
//!
//! An agent (nod32mda, nod32smtp, nod32smfi) hands a message and its
//! envelope to [`deliver()`] under the policy [`policy_of`] gives it;
//! that contains any fault and hands it to [`handle()`], which scans it, decides by the policy
//! ([`policy`]), cleans and marks it ([`mime`]), quarantines the original
//! ([`quarantine`]), notifies ([`notify`]) and logs one line ([`log`]).
//! The agent then turns the action into its protocol with one function
//! of [`protocol`].
#![deny(missing_docs)]

pub mod deliver;
pub mod edit;
pub mod escape;
pub mod handle;
pub mod log;
pub mod mime;
pub mod notify;
pub mod policy;
pub mod protocol;
pub mod quarantine;
pub mod release;
pub mod runtime;
pub mod template;

pub use deliver::{Body, Fault, deliver, policy_of, too_big};
pub use edit::{Edit, apply};
pub use handle::{Envelope, Outcome, handle};
pub use runtime::{Live, State, Which};
