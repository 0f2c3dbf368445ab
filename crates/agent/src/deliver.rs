//! The one way into the policy for every agent: which policy a message
//! is handled under, a message too big to read, and a fault inside the
//! scan contained so that the agent can give the MTA its temporary
//! failure and the message stays queued.

use nod32_config::Policy;

use crate::handle::{Envelope, Outcome, handle, handle_oversize};
use crate::runtime::State;

/// The message as the agent holds it.
#[derive(Clone, Copy, Debug)]
pub enum Body<'a> {
    /// Read whole.
    Whole(&'a [u8]),
    /// Over the policy's `max_file_size` (see [`too_big`]): not read.
    TooBig(u64),
}

/// Whether a message of `size` bytes is over what `policy` reads into
/// memory: it is then handled as [`Body::TooBig`], unread.
pub fn too_big(policy: &Policy, size: u64) -> bool {
    size > policy.max_file_size
}

/// A fault inside the scan or the policy (a panic, contained): nothing
/// was decided, and the agent answers as for an internal error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the scan failed (internal error)")]
pub struct Fault;

/// The policy a message is handled under: its first recipient's (after
/// `user_config`), or the agent's own without recipients.
pub fn policy_of(st: &State, env: &Envelope) -> Policy {
    match env.recipients.first() {
        Some(r) => st.policy_for(r, &env.sender),
        None => st.policy().clone(),
    }
}

/// Handles one message under `policy` (from [`policy_of`]): scanned and
/// decided when read whole, decided by `action_on_notscanned` when too
/// big; a panic anywhere inside is a [`Fault`].
///
/// # Errors
/// [`Fault`] when the handling panicked.
pub fn deliver(
    st: &State,
    policy: &Policy,
    env: &Envelope,
    body: Body<'_>,
) -> Result<Outcome, Fault> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match body {
        Body::Whole(raw) => handle(st, policy, raw, env),
        Body::TooBig(size) => handle_oversize(st, policy, size, env),
    }))
    .map_err(|_| Fault)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handle::tests::{eicar, env, mixed, state};
    use crate::policy::Status;
    use crate::runtime::Which;
    use nod32_config::Action;

    #[test]
    fn a_whole_message_is_scanned_and_decided() {
        let st = state(Which::Smtp);
        let e = env();
        let p = policy_of(&st, &e);
        let raw = mixed(&eicar());
        let o = deliver(&st, &p, &e, Body::Whole(&raw)).unwrap();
        assert_eq!(o.decision.status, Some(Status::Infected));
        assert_eq!(o.decision.action, Action::Reject);
        assert_eq!(o.virus.as_deref(), Some("Eicar-Test-Signature"));
    }

    #[test]
    fn a_message_too_big_is_not_scanned() {
        let st = state(Which::Mda);
        let e = env();
        let p = Policy { max_file_size: 100, ..policy_of(&st, &e) };
        assert!(!too_big(&p, 100) && too_big(&p, 101));
        let o = deliver(&st, &p, &e, Body::TooBig(101)).unwrap();
        assert_eq!(o.decision.status, Some(Status::NotScanned));
        assert_eq!(o.virus, None);
        assert!(o.not_scanned.unwrap().contains("101 bytes"));
    }

    #[test]
    fn a_transaction_keeps_to_one_policy() {
        let mut st = state(Which::Smtp);
        assert!(!st.per_recipient());
        assert!(st.joins("s@x", "a@x", "b@x"));
        st.users = Some(
            nod32_config::UserConfig::from_str_named(
                "[white]\nav_enabled = false\n[\"vip@x\"]\nparent_id = \"white\"\n",
                "users.toml",
            )
            .unwrap(),
        );
        assert!(st.per_recipient());
        assert!(st.joins("s@x", "a@x", "b@x"));
        assert!(!st.joins("s@x", "vip@x", "b@x"));
        assert!(!st.joins("s@x", "b@x", "VIP@x"));
    }

    #[test]
    fn without_recipients_the_agents_own_policy_applies() {
        let st = state(Which::Smfi);
        let e = Envelope { recipients: Vec::new(), ..env() };
        assert_eq!(&policy_of(&st, &e), st.policy());
    }
}
