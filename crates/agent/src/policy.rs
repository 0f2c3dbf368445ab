//! The handle-object policy: from a verdict to an action.
//!
//! `action_on_processed` comes first: anything but `scan` acts at once and
//! the message is not scanned (`av_enabled = false` passes it unscanned).
//! With `scan`, the message's status picks the action:
//!
//! | status | when | action |
//! |---|---|---|
//! | clean | nothing found | accept |
//! | infected | a signature matched and clean_mode did not remove it | `action_on_infected` |
//! | deleted | clean_mode removed every infected part | `action_on_uncleanable` |
//! | not scanned | limits, encryption, damage, errors; nothing found | `action_on_notscanned` |
//!
//! An infection outranks anything not scanned: a message with a virus and
//! an encrypted archive is infected.

use nod32_config::{Action, Policy, Processed};

/// The result of scanning a whole message, as marked in its header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// Nothing found.
    Clean,
    /// Infected, and still so.
    Infected,
    /// The infected parts were removed (clean_mode).
    Deleted,
    /// Some content could not be checked, nothing was found.
    NotScanned,
}

impl Status {
    /// The word of the `X-NOD32Result` header and the logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Clean => "clean",
            Status::Infected => "infected",
            Status::Deleted => "deleted",
            Status::NotScanned => "not scanned",
        }
    }
}

/// What the policy says to do with one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The scan's status; `None` when the policy acted without scanning.
    pub status: Option<Status>,
    /// What the agent does with the message.
    pub action: Action,
    /// Keep the original in quarantine first.
    pub quarantine: bool,
}

/// The first stage: `Some` when the message is not to be scanned.
pub fn before_scan(p: &Policy) -> Option<Decision> {
    let action = match p.action_on_processed {
        Processed::Act(a) => a,
        Processed::Scan if !p.av_enabled => Action::Accept,
        Processed::Scan => return None,
    };
    Some(Decision { status: None, action, quarantine: false })
}

/// The second stage: the action for a scanned message's status.
pub fn after_scan(p: &Policy, status: Status) -> Decision {
    let on = match status {
        Status::Clean => {
            return Decision {
                status: Some(status),
                action: Action::Accept,
                quarantine: false,
            };
        }
        Status::Infected => p.action_on_infected,
        Status::Deleted => p.action_on_uncleanable,
        Status::NotScanned => p.action_on_notscanned,
    };
    Decision {
        status: Some(status),
        action: on.action,
        quarantine: on.quarantine,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nod32_config::OnVerdict;

    const ACTIONS: [Action; 4] =
        [Action::Accept, Action::Defer, Action::Discard, Action::Reject];

    #[test]
    fn first_stage() {
        let mut p = Policy::default();
        assert_eq!(before_scan(&p), None);
        for a in ACTIONS {
            p.action_on_processed = Processed::Act(a);
            assert_eq!(
                before_scan(&p),
                Some(Decision { status: None, action: a, quarantine: false })
            );
        }
        p.action_on_processed = Processed::Scan;
        p.av_enabled = false;
        assert_eq!(before_scan(&p).map(|d| d.action), Some(Action::Accept));
    }

    #[test]
    fn every_status_with_every_action() {
        for a in ACTIONS {
            for q in [false, true] {
                let on = OnVerdict { action: a, quarantine: q };
                let p = Policy {
                    action_on_infected: on,
                    action_on_uncleanable: on,
                    action_on_notscanned: on,
                    ..Policy::default()
                };
                for s in
                    [Status::Infected, Status::Deleted, Status::NotScanned]
                {
                    assert_eq!(
                        after_scan(&p, s),
                        Decision { status: Some(s), action: a, quarantine: q }
                    );
                }
                // Clean mail is accepted whatever the verdict actions say.
                assert_eq!(
                    after_scan(&p, Status::Clean),
                    Decision {
                        status: Some(Status::Clean),
                        action: Action::Accept,
                        quarantine: false
                    }
                );
            }
        }
    }

    #[test]
    fn each_status_reads_its_own_key() {
        let p = Policy {
            action_on_infected: OnVerdict::plain(Action::Reject),
            action_on_uncleanable: OnVerdict::plain(Action::Discard),
            action_on_notscanned: OnVerdict::plain(Action::Defer),
            ..Policy::default()
        };
        assert_eq!(after_scan(&p, Status::Infected).action, Action::Reject);
        assert_eq!(after_scan(&p, Status::Deleted).action, Action::Discard);
        assert_eq!(after_scan(&p, Status::NotScanned).action, Action::Defer);
        assert_eq!(Status::NotScanned.as_str(), "not scanned");
    }
}
