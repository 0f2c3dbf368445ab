//! Each agent's protocol for an action, as small pure functions: the
//! MDA's exit code, the SMTP proxy's reply, the milter's response.

use nod32_config::{Action, Mda, Mta};

use crate::policy::Status;

/// What nod32mda does with a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MdaOutcome {
    /// Hand the message to the real MDA (whose exit code is ours).
    Deliver,
    /// Exit with this code without delivering, printing `text` first
    /// (Postfix puts it in the DSN; a leading `5.7.1`/`4.3.0` sets its
    /// class).
    Exit {
        /// The exit code.
        code: i32,
        /// The one line printed on stdout.
        text: String,
    },
}

/// nod32mda: reject → `infected_return_code`, defer →
/// `tmpfail_return_code`, discard → success without delivery (99 under
/// qmail, so later `.qmail` lines do not deliver it either).
pub fn mda(action: Action, cfg: &Mda, why: &str) -> MdaOutcome {
    match action {
        Action::Accept => MdaOutcome::Deliver,
        Action::Discard => MdaOutcome::Exit {
            code: if cfg.mta == Mta::Qmail { 99 } else { 0 },
            text: String::new(),
        },
        Action::Reject => MdaOutcome::Exit {
            code: cfg.infected_return_code,
            text: format!("5.7.1 {why}"),
        },
        Action::Defer => MdaOutcome::Exit {
            code: cfg.tmpfail_return_code,
            text: format!("4.7.1 {why}"),
        },
    }
}

/// An SMTP reply the proxy gives to the final `.`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmtpReply {
    /// The three-digit code.
    pub code: u16,
    /// The RFC 3463 enhanced code.
    pub enhanced: &'static str,
    /// The text, one line.
    pub text: String,
}

/// nod32smtp: `None` relays the message and passes the next hop's reply
/// on; otherwise the proxy answers itself (discard: 250 and drop).
pub fn smtp(action: Action, why: &str) -> Option<SmtpReply> {
    let (code, enhanced) = match action {
        Action::Accept => return None,
        Action::Discard => (250, "2.0.0"),
        Action::Reject => (550, "5.7.1"),
        Action::Defer => (451, "4.7.1"),
    };
    let text = match action {
        Action::Discard => format!("Ok, discarded: {why}"),
        Action::Defer => format!("{why}, try again later"),
        _ => why.to_string(),
    };
    Some(SmtpReply { code, enhanced, text: one_line(&text) })
}

/// A milter's final answer at end of message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MilterReply {
    /// `c` SMFIR_CONTINUE: accept as (possibly) modified.
    Continue,
    /// `d` SMFIR_DISCARD: accept and drop.
    Discard,
    /// `y` SMFIR_REPLYCODE with `"NNN x.y.z text"`; the code's first
    /// digit (5 or 4) makes it a reject or a tempfail.
    Reply(String),
}

impl MilterReply {
    /// The response packet's command byte.
    pub fn command(&self) -> u8 {
        match self {
            MilterReply::Continue => b'c',
            MilterReply::Discard => b'd',
            MilterReply::Reply(_) => b'y',
        }
    }
}

/// nod32smfi: reject → `550 5.7.1`, defer → `451 4.7.1`, with `%`
/// doubled (Sendmail reads the text as a printf format).
pub fn milter(action: Action, why: &str) -> MilterReply {
    let reply = |code: &str, text: String| {
        MilterReply::Reply(format!(
            "{code} {}",
            one_line(&text).replace('%', "%%")
        ))
    };
    match action {
        Action::Accept => MilterReply::Continue,
        Action::Discard => MilterReply::Discard,
        Action::Reject => reply("550 5.7.1", why.to_string()),
        Action::Defer => reply("451 4.7.1", format!("{why}, try again later")),
    }
}

/// The reason given with a refusal: the virus's name, or the status.
pub fn why(status: Option<Status>, virus: Option<&str>) -> String {
    match (status, virus) {
        (Some(Status::Infected | Status::Deleted), Some(v)) => {
            format!("Virus found: {v}")
        }
        (Some(Status::NotScanned), _) => {
            "Message could not be scanned".to_string()
        }
        (Some(s), _) => format!("Message {}", s.as_str()),
        (None, _) => "Message refused by policy".to_string(),
    }
}

/// Printable ASCII only, no line breaks, at most 400 bytes: the text
/// goes into protocol lines and may hold attacker-chosen names.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '?' })
        .take(400)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mda_cfg(mta: Mta) -> Mda {
        let mut c = nod32_config::Config::default().mda;
        c.mta = mta;
        if mta == Mta::Qmail {
            c.infected_return_code = 100;
            c.tmpfail_return_code = 111;
        }
        c
    }

    #[test]
    fn mda_exit_codes() {
        for mta in [Mta::Postfix, Mta::Sendmail, Mta::Exim] {
            let c = mda_cfg(mta);
            assert_eq!(mda(Action::Accept, &c, "x"), MdaOutcome::Deliver);
            assert_eq!(
                mda(Action::Reject, &c, "Virus found: Eicar"),
                MdaOutcome::Exit {
                    code: 69,
                    text: "5.7.1 Virus found: Eicar".into()
                }
            );
            assert_eq!(
                mda(Action::Defer, &c, "x"),
                MdaOutcome::Exit { code: 75, text: "4.7.1 x".into() }
            );
            assert_eq!(
                mda(Action::Discard, &c, "x"),
                MdaOutcome::Exit { code: 0, text: String::new() }
            );
        }
        let q = mda_cfg(Mta::Qmail);
        assert_eq!(mda(Action::Accept, &q, "x"), MdaOutcome::Deliver);
        let code = |a| match mda(a, &q, "x") {
            MdaOutcome::Exit { code, .. } => code,
            MdaOutcome::Deliver => -1,
        };
        assert_eq!(code(Action::Reject), 100);
        assert_eq!(code(Action::Defer), 111);
        assert_eq!(code(Action::Discard), 99);
    }

    #[test]
    fn smtp_replies() {
        assert_eq!(smtp(Action::Accept, "x"), None);
        assert_eq!(
            smtp(Action::Reject, "Virus found: Eicar-Test-Signature"),
            Some(SmtpReply {
                code: 550,
                enhanced: "5.7.1",
                text: "Virus found: Eicar-Test-Signature".into()
            })
        );
        assert_eq!(
            smtp(Action::Defer, "Message could not be scanned"),
            Some(SmtpReply {
                code: 451,
                enhanced: "4.7.1",
                text: "Message could not be scanned, try again later".into()
            })
        );
        assert_eq!(
            smtp(Action::Discard, "Virus found: X"),
            Some(SmtpReply {
                code: 250,
                enhanced: "2.0.0",
                text: "Ok, discarded: Virus found: X".into()
            })
        );
        // A crafted name cannot break the reply line.
        let r = smtp(Action::Reject, "Virus found: a\r\n250 ok").unwrap();
        assert_eq!(r.text, "Virus found: a??250 ok");
    }

    #[test]
    fn milter_responses() {
        assert_eq!(milter(Action::Accept, "x"), MilterReply::Continue);
        assert_eq!(milter(Action::Accept, "x").command(), b'c');
        assert_eq!(milter(Action::Discard, "x"), MilterReply::Discard);
        assert_eq!(milter(Action::Discard, "x").command(), b'd');
        assert_eq!(
            milter(Action::Reject, "Virus found: 100%"),
            MilterReply::Reply("550 5.7.1 Virus found: 100%%".into())
        );
        assert_eq!(
            milter(Action::Defer, "Message could not be scanned"),
            MilterReply::Reply(
                "451 4.7.1 Message could not be scanned, try again later"
                    .into()
            )
        );
        assert_eq!(milter(Action::Defer, "x").command(), b'y');
    }

    #[test]
    fn reasons() {
        assert_eq!(
            why(Some(Status::Infected), Some("Eicar")),
            "Virus found: Eicar"
        );
        assert_eq!(
            why(Some(Status::NotScanned), None),
            "Message could not be scanned"
        );
        assert_eq!(why(None, None), "Message refused by policy");
    }

    /// Every verdict with every action, through the policy, to each
    /// agent's protocol.
    #[test]
    fn every_verdict_and_action_for_every_agent() {
        use crate::policy::after_scan;
        use nod32_config::{OnVerdict, Policy};
        let postfix = mda_cfg(Mta::Postfix);
        for status in [Status::Infected, Status::Deleted, Status::NotScanned] {
            for action in [
                Action::Accept,
                Action::Defer,
                Action::Discard,
                Action::Reject,
            ] {
                let on = OnVerdict::plain(action);
                let p = Policy {
                    action_on_infected: on,
                    action_on_uncleanable: on,
                    action_on_notscanned: on,
                    ..Policy::default()
                };
                let d = after_scan(&p, status);
                let w = why(d.status, Some("Eicar"));
                let want_why = if status == Status::NotScanned {
                    "Message could not be scanned"
                } else {
                    "Virus found: Eicar"
                };
                assert_eq!(w, want_why);
                let (code, smtp_code, milter_cmd) = match action {
                    Action::Accept => (None, None, b'c'),
                    Action::Defer => (Some(75), Some(451), b'y'),
                    Action::Discard => (Some(0), Some(250), b'd'),
                    Action::Reject => (Some(69), Some(550), b'y'),
                };
                let m = mda(d.action, &postfix, &w);
                match code {
                    None => assert_eq!(m, MdaOutcome::Deliver),
                    Some(c) => assert!(
                        matches!(m, MdaOutcome::Exit { code, .. } if code == c),
                        "{status:?} {action:?}: {m:?}"
                    ),
                }
                assert_eq!(smtp(d.action, &w).map(|r| r.code), smtp_code);
                let r = milter(d.action, &w);
                assert_eq!(r.command(), milter_cmd);
                if let MilterReply::Reply(text) = r {
                    assert!(
                        text.ends_with(want_why) || text.contains(want_why)
                    );
                }
            }
        }
    }
}
