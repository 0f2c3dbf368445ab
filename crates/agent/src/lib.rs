//! What every nod32 agent shares: one configuration, one policy, and the
//! same treatment of a message whichever door it came in by.
//!
//! An agent (nod32mda, nod32smtp, nod32smfi) hands a message and its
//! envelope to [`Agent::handle`], which scans it, decides by the policy
//! ([`policy`]), cleans and marks it ([`mime`]), quarantines the original
//! ([`quarantine`]), notifies ([`notify`]) and logs one line ([`log`]).
//! The agent then turns the action into its protocol with one function
//! of [`protocol`].
#![deny(missing_docs)]

pub mod mime;
pub mod policy;
pub mod protocol;
pub mod template;
