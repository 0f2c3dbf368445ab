//! From "the message as received" and "the message as it should leave"
//! to the milter modification packets that turn one into the other:
//! header changes (`m` change/delete, `i` insert at the top, `h` append)
//! and a body replacement (`b` packets, back to back).

use crate::codec::{CHUNK, Response};
use crate::session::action;

/// Header fields of a message: (name, value after the colon with its
/// leading space, folding as LF).
fn fields(msg: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    let (head, body) = split(msg);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if matches!(line[0], b' ' | b'\t') {
            if let Some(last) = out.last_mut() {
                last.1.push('\n');
                last.1.push_str(&String::from_utf8_lossy(line));
            }
            continue;
        }
        // An mbox "From " line is not a field.
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        out.push((
            String::from_utf8_lossy(&line[..colon]).trim_end().to_string(),
            String::from_utf8_lossy(&line[colon + 1..]).into_owned(),
        ));
    }
    (out, body)
}

/// Header block and body, split at the first empty line.
fn split(msg: &[u8]) -> (&[u8], &[u8]) {
    let mut i = 0;
    while i < msg.len() {
        let end = msg[i..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(msg.len(), |p| i + p + 1);
        let line = &msg[i..end];
        if line == b"\r\n" || line == b"\n" {
            return (&msg[..i], &msg[end..]);
        }
        i = end;
    }
    (msg, b"")
}

/// The packets that turn `old` into `new`. `leadspc`: the MTA keeps the
/// space after the colon in values (SMFIP_HDR_LEADSPC). `actions`: the
/// negotiated SMFIF_* bits.
///
/// # Errors
/// A change the MTA did not allow; the text names it.
pub fn edits(
    old: &[u8],
    new: &[u8],
    leadspc: bool,
    actions: u32,
) -> Result<Vec<Response>, String> {
    let (of, ob) = fields(old);
    let (nf, nb) = fields(new);
    let value = |v: &str| -> String {
        if leadspc {
            v.to_string()
        } else {
            v.strip_prefix(' ').unwrap_or(v).to_string()
        }
    };
    let need = |bit: u32, what: &str| -> Result<(), String> {
        if actions & bit == 0 {
            Err(format!("the MTA does not let the milter {what}"))
        } else {
            Ok(())
        }
    };
    let mut names: Vec<String> = Vec::new();
    for (n, _) in of.iter().chain(&nf) {
        if !names.iter().any(|x| x.eq_ignore_ascii_case(n)) {
            names.push(n.clone());
        }
    }
    let mut out = Vec::new();
    for name in &names {
        let o: Vec<&String> = of
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|f| &f.1)
            .collect();
        let n: Vec<(usize, &String)> = nf
            .iter()
            .enumerate()
            .filter(|(_, (k, _))| k.eq_ignore_ascii_case(name))
            .map(|(i, f)| (i, &f.1))
            .collect();
        let common = o.len().min(n.len());
        for i in 0..common {
            if o[i] != n[i].1 {
                need(action::CHGHDRS, "change headers")?;
                out.push(Response::ChgHeader(
                    i as u32 + 1,
                    name.clone(),
                    value(n[i].1),
                ));
            }
        }
        for i in (common..o.len()).rev() {
            need(action::CHGHDRS, "delete headers")?;
            out.push(Response::ChgHeader(
                i as u32 + 1,
                name.clone(),
                String::new(),
            ));
        }
        for &(pos, v) in &n[common..] {
            need(action::ADDHDRS, "add headers")?;
            out.push(if pos == 0 {
                Response::InsHeader(0, name.clone(), value(v))
            } else {
                Response::AddHeader(name.clone(), value(v))
            });
        }
    }
    if ob != nb {
        need(action::CHGBODY, "replace the body")?;
        if nb.is_empty() {
            out.push(Response::ReplBody(Vec::new()));
        }
        for c in nb.chunks(CHUNK) {
            out.push(Response::ReplBody(c.to_vec()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: u32 = action::ADDHDRS | action::CHGHDRS | action::CHGBODY;

    #[test]
    fn unchanged_message_needs_nothing() {
        let m = b"From: a\r\nSubject: x\r\n\r\nbody\r\n";
        assert!(edits(m, m, true, 0).unwrap().is_empty());
    }

    #[test]
    fn result_header_on_top_and_subject_tag() {
        let old = b"From: a\r\nSubject: hi\r\n\r\nbody\r\n";
        let new = b"X-NOD32Result: infected\r\nFrom: a\r\nSubject: [virus] hi\r\n\r\nbody\r\n";
        assert_eq!(
            edits(old, new, true, ALL).unwrap(),
            vec![
                Response::ChgHeader(1, "Subject".into(), " [virus] hi".into()),
                Response::InsHeader(
                    0,
                    "X-NOD32Result".into(),
                    " infected".into()
                ),
            ]
        );
        // Without HDR_LEADSPC the MTA adds the space itself.
        assert_eq!(
            edits(old, new, false, ALL).unwrap()[1],
            Response::InsHeader(0, "X-NOD32Result".into(), "infected".into())
        );
    }

    #[test]
    fn pre_set_result_headers_are_replaced_and_extra_ones_deleted() {
        let old = b"X-NOD32Result: clean\r\nFrom: a\r\nX-NOD32Result: clean\r\n\r\nb";
        let new = b"X-NOD32Result: infected\r\nFrom: a\r\n\r\nb";
        assert_eq!(
            edits(old, new, true, ALL).unwrap(),
            vec![
                Response::ChgHeader(
                    1,
                    "X-NOD32Result".into(),
                    " infected".into()
                ),
                Response::ChgHeader(2, "X-NOD32Result".into(), String::new()),
            ]
        );
    }

    #[test]
    fn body_replacement_in_chunks_and_permission_checked() {
        let old = b"Subject: x\r\n\r\nold\r\n";
        let mut new = b"Subject: x\r\n\r\n".to_vec();
        new.extend(std::iter::repeat_n(b'a', CHUNK + 10));
        let e = edits(old, &new, true, ALL).unwrap();
        assert_eq!(e.len(), 2);
        assert!(matches!(&e[0], Response::ReplBody(b) if b.len() == CHUNK));
        assert!(matches!(&e[1], Response::ReplBody(b) if b.len() == 10));
        assert_eq!(
            edits(old, &new, true, action::ADDHDRS).unwrap_err(),
            "the MTA does not let the milter replace the body"
        );
    }

    #[test]
    fn folded_values_keep_their_folding_as_lf() {
        let old = b"Subject: a\r\n b\r\n\r\n";
        let new = b"Subject: [v] a\r\n b\r\n\r\n";
        assert_eq!(
            edits(old, new, true, ALL).unwrap(),
            vec![Response::ChgHeader(
                1,
                "Subject".into(),
                " [v] a\n b".into()
            )]
        );
    }
}
