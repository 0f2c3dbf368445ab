//! The policy's edits as milter modification packets: the MTA changes
//! its own copy of the message (`m` change or delete, `i` insert at the
//! top, `h` append, `b` body replacement in packets back to back).

use nod32_agent::Edit;
use nod32_milter::codec::{CHUNK, Response};
use nod32_milter::session::action;

/// A change to the message that the MTA did not allow at option
/// negotiation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the MTA does not let the milter {what}")]
pub struct NotAllowed {
    /// What the change would have done (`add headers`).
    pub what: &'static str,
}

/// The packets for `edits`, in their order. `leadspc`: the MTA keeps the
/// space after the colon in values (SMFIP_HDR_LEADSPC). `actions`: the
/// negotiated SMFIF_* bits.
///
/// # Errors
/// An edit the MTA did not allow; the text names it.
pub fn packets(
    edits: &[Edit],
    leadspc: bool,
    actions: u32,
) -> Result<Vec<Response>, NotAllowed> {
    let need = |bit: u32, what: &'static str| {
        if actions & bit == 0 { Err(NotAllowed { what }) } else { Ok(()) }
    };
    // Milter values fold with a bare LF, whatever the message's own line
    // ending; the MTA writes its own.
    let value = |v: &[u8]| -> String {
        let v = String::from_utf8_lossy(v).replace("\r\n", "\n");
        match v.strip_prefix(' ') {
            Some(rest) if !leadspc => rest.to_string(),
            _ => v,
        }
    };
    // Body packets add up to one new body: only the last replacement
    // may go (each is the whole body).
    let last_body =
        edits.iter().rposition(|e| matches!(e, Edit::ReplaceBody(_)));
    let mut out = Vec::new();
    for (i, e) in edits.iter().enumerate() {
        match e {
            Edit::InsertHeader { name, value: v } => {
                need(action::ADDHDRS, "add headers")?;
                out.push(Response::InsHeader(0, name.clone(), value(v)));
            }
            Edit::AppendHeader { name, value: v } => {
                need(action::ADDHDRS, "add headers")?;
                out.push(Response::AddHeader(name.clone(), value(v)));
            }
            Edit::ChangeHeader { name, index, value: v } => {
                need(action::CHGHDRS, "change headers")?;
                out.push(Response::ChgHeader(*index, name.clone(), value(v)));
            }
            Edit::DeleteHeader { name, index } => {
                need(action::CHGHDRS, "delete headers")?;
                out.push(Response::ChgHeader(
                    *index,
                    name.clone(),
                    String::new(),
                ));
            }
            Edit::ReplaceBody(_) if Some(i) != last_body => {}
            Edit::ReplaceBody(b) => {
                need(action::CHGBODY, "replace the body")?;
                if b.is_empty() {
                    out.push(Response::ReplBody(Vec::new()));
                }
                out.extend(
                    b.chunks(CHUNK).map(|c| Response::ReplBody(c.to_vec())),
                );
            }
            // Edits this milter does not know yet are refused rather
            // than dropped: a cleaning left out would pass a virus.
            _ => return Err(NotAllowed { what: "make an unknown change" }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nod32_agent::mime::{set_header, tag_subject};

    const ALL: u32 = action::ADDHDRS | action::CHGHDRS | action::CHGBODY;

    #[test]
    fn result_header_on_top_old_ones_deleted_subject_tagged() {
        let raw = b"X-NOD32Result: clean\r\nFrom: a\r\nSubject: hi\r\n\tthere\r\nX-NOD32Result: clean\r\n\r\nb";
        let mut e = vec![tag_subject(raw, "[virus]").unwrap()];
        e.extend(set_header(raw, "X-NOD32Result", "infected"));
        assert_eq!(
            packets(&e, true, ALL).unwrap(),
            vec![
                Response::ChgHeader(
                    1,
                    "Subject".into(),
                    " [virus] hi\n\tthere".into()
                ),
                Response::ChgHeader(2, "X-NOD32Result".into(), String::new()),
                Response::ChgHeader(1, "X-NOD32Result".into(), String::new()),
                Response::InsHeader(
                    0,
                    "X-NOD32Result".into(),
                    " infected".into()
                ),
            ]
        );
        // Without HDR_LEADSPC the MTA adds the space itself.
        assert_eq!(
            packets(&e, false, ALL).unwrap()[3],
            Response::InsHeader(0, "X-NOD32Result".into(), "infected".into())
        );
    }

    #[test]
    fn body_replacement_in_chunks_and_permission_checked() {
        let body = vec![b'a'; CHUNK + 10];
        let e = [Edit::ReplaceBody(body)];
        let p = packets(&e, true, ALL).unwrap();
        assert_eq!(p.len(), 2);
        assert!(matches!(&p[0], Response::ReplBody(b) if b.len() == CHUNK));
        assert!(matches!(&p[1], Response::ReplBody(b) if b.len() == 10));
        assert_eq!(
            packets(&e, true, action::ADDHDRS).unwrap_err().to_string(),
            "the MTA does not let the milter replace the body"
        );
        assert_eq!(
            packets(&[Edit::ReplaceBody(Vec::new())], true, ALL).unwrap(),
            vec![Response::ReplBody(Vec::new())]
        );
        // Cleaned, then a footer on the cleaned body: one body goes.
        let two = [
            Edit::ReplaceBody(b"cleaned".to_vec()),
            Edit::ReplaceBody(b"cleaned + footer".to_vec()),
        ];
        assert_eq!(
            packets(&two, true, ALL).unwrap(),
            vec![Response::ReplBody(b"cleaned + footer".to_vec())]
        );
    }
}
