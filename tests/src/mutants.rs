//! Malformed-MIME mutants: valid mails carrying a payload in a base64,
//! quoted-printable or uuencoded attachment, each broken by one or more
//! of the tricks an attacker uses to make a scanner read a message
//! differently from the recipient's client.
//!
//! A mutant is made twice from the same random state, once with the
//! payload and once with a near-miss twin of it, so that the same
//! mutations can be checked for what is found and what stays clean. The
//! tricks applied are named, for the failure message.

use crate::{Rng, base64_lines};

/// The tricks, by the names the failure messages use.
pub const TRICKS: &[&str] = &[
    "leading-white-space-header",
    "cr-cr-lf-blank-line",
    "lf-cr-lf-blank-line",
    "bare-cr-line-end",
    "white-space-before-colon",
    "quoted-encoding",
    "upper-case-encoding",
    "misspelt-encoding",
    "multipart-without-subtype",
    "multipart-without-boundary",
    "continuation-without-white-space",
    "blank-line-in-headers",
    "encoding-with-parameters",
    "repeated-content-type",
    "repeated-transfer-encoding",
    "part-after-closing-delimiter",
    "missing-closing-delimiter",
    "prefix-boundaries",
    "rfc2231-boundary",
    "folded-parameters",
    "base64-junk",
    "base64-blank-lines",
    "malformed-inner-message",
    "nul-bytes",
    "long-header-line",
    "mixed-line-ends",
];

/// One generated mail.
#[derive(Clone, Debug)]
pub struct Mutant {
    /// The message.
    pub bytes: Vec<u8>,
    /// The tricks applied, in order.
    pub tricks: Vec<&'static str>,
    /// How the payload is encoded: `base64`, `quoted-printable`,
    /// `x-uuencode` or `uuencode-in-text`.
    pub encoding: &'static str,
    /// The message's shape: `multipart`, `nested`, `single` or `rfc822`.
    pub shape: &'static str,
}

#[derive(Clone, Debug)]
struct Header {
    name: String,
    value: String,
}

#[derive(Clone, Debug)]
enum Body {
    Leaf(Vec<u8>),
    Multi {
        boundary: String,
        parts: Vec<Part>,
        /// Index of the first part written after the closing delimiter.
        after_close: Option<usize>,
        close: bool,
    },
    Message(Box<Part>),
}

#[derive(Clone, Debug)]
struct Part {
    headers: Vec<Header>,
    body: Body,
    /// White space before the first header line.
    lead_ws: Option<&'static str>,
    /// What ends the header block instead of an empty line.
    blank: Option<&'static str>,
    /// Index of a header line ended by a bare CR.
    bare_cr: Option<usize>,
    /// Whether this part holds the payload.
    payload: bool,
}

impl Part {
    fn new(headers: &[(&str, &str)], body: Body) -> Part {
        Part {
            headers: headers
                .iter()
                .map(|(n, v)| Header {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
            body,
            lead_ws: None,
            blank: None,
            bare_cr: None,
            payload: false,
        }
    }

    fn header_mut(&mut self, name: &str) -> Option<&mut Header> {
        self.headers
            .iter_mut()
            .find(|h| h.name.trim().eq_ignore_ascii_case(name))
    }

    /// Every part of the tree, depth first, with the path to it.
    fn paths(&self, at: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        out.push(at.clone());
        match &self.body {
            Body::Multi { parts, .. } => {
                for (i, p) in parts.iter().enumerate() {
                    at.push(i);
                    p.paths(at, out);
                    at.pop();
                }
            }
            Body::Message(inner) => {
                at.push(usize::MAX);
                inner.paths(at, out);
                at.pop();
            }
            Body::Leaf(_) => {}
        }
    }

    fn at(&mut self, path: &[usize]) -> &mut Part {
        match path.split_first() {
            None => self,
            Some((&i, rest)) => match &mut self.body {
                Body::Multi { parts, .. } => parts[i].at(rest),
                Body::Message(inner) => inner.at(rest),
                Body::Leaf(_) => unreachable!("a path into a leaf"),
            },
        }
    }
}

fn boundary(rng: &mut Rng) -> String {
    let chars =
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut s = String::from("=_b");
    for _ in 0..rng.range(8, 24) {
        s.push(*rng.pick(chars) as char);
    }
    s
}

fn text_part(rng: &mut Rng) -> Part {
    let words =
        ["Hello", "please", "find", "the", "invoice", "attached", "regards"];
    let mut t = String::new();
    for _ in 0..rng.range(3, 30) {
        let w: &&str = rng.pick(&words);
        t.push_str(w);
        t.push(' ');
    }
    t.push('\n');
    Part::new(
        &[("Content-Type", "text/plain; charset=us-ascii")],
        Body::Leaf(t.into_bytes()),
    )
}

/// Quoted-printable in which the payload's first bytes and a random
/// share of the rest are escaped and lines are broken softly, so that
/// the raw message never holds the payload's bytes in a row.
fn qp(rng: &mut Rng, d: &[u8], eol: &str) -> String {
    let mut s = String::new();
    let mut col = 0;
    for (i, &b) in d.iter().enumerate() {
        let esc =
            i < 2 || b == b'=' || !(33..=126).contains(&b) || rng.chance(1, 4);
        let piece =
            if esc { format!("={b:02X}") } else { (b as char).to_string() };
        if col + piece.len() > 70 || (col > 8 && rng.chance(1, 12)) {
            s.push('=');
            s.push_str(eol);
            col = 0;
        }
        col += piece.len();
        s.push_str(&piece);
    }
    s.push_str(eol);
    s
}

fn uuencode(name: &str, d: &[u8], eol: &str) -> String {
    let enc = |v: u8| if v == 0 { '`' } else { (v + 32) as char };
    let mut s = format!("begin 644 {name}{eol}");
    for line in d.chunks(45) {
        s.push(enc(line.len() as u8));
        for g in line.chunks(3) {
            let b = |i: usize| g.get(i).copied().unwrap_or(0);
            s.push(enc(b(0) >> 2));
            s.push(enc((b(0) << 4 | b(1) >> 4) & 63));
            s.push(enc((b(1) << 2 | b(2) >> 6) & 63));
            s.push(enc(b(2) & 63));
        }
        s.push_str(eol);
    }
    s.push('`');
    s.push_str(eol);
    s.push_str("end");
    s.push_str(eol);
    s
}

/// The part carrying the payload, in one of the encodings.
fn payload_part(
    rng: &mut Rng,
    payload: &[u8],
    eol: &str,
) -> (Part, &'static str) {
    let name = format!("file{}.bin", rng.range(1, 999));
    let ct = format!("application/octet-stream; name=\"{name}\"");
    let cd = format!("attachment; filename=\"{name}\"");
    let (enc, body) = match rng.range(0, 5) {
        0 | 1 => ("base64", base64_lines(payload, eol) + eol),
        2 => ("quoted-printable", qp(rng, payload, eol)),
        3 => ("x-uuencode", uuencode(&name, payload, eol)),
        _ => {
            let mut t = format!("Here it is:{eol}{eol}");
            t.push_str(&uuencode(&name, payload, eol));
            let p = Part::new(
                &[("Content-Type", "text/plain; charset=us-ascii")],
                Body::Leaf(t.into_bytes()),
            );
            return (Part { payload: true, ..p }, "uuencode-in-text");
        }
    };
    let p = Part::new(
        &[
            ("Content-Type", &ct),
            ("Content-Disposition", &cd),
            ("Content-Transfer-Encoding", enc),
        ],
        Body::Leaf(body.into_bytes()),
    );
    (Part { payload: true, ..p }, enc)
}

fn multipart(rng: &mut Rng, parts: Vec<Part>) -> Part {
    let b = boundary(rng);
    let sub = *rng.pick(&["mixed", "mixed", "related", "alternative"]);
    Part::new(
        &[("Content-Type", &format!("multipart/{sub}; boundary=\"{b}\""))],
        Body::Multi { boundary: b, parts, after_close: None, close: true },
    )
}

fn top_headers(rng: &mut Rng) -> Vec<Header> {
    let n = rng.range(1, 99999);
    [
        ("From", "Alice <alice@example.org>".to_string()),
        ("To", "bob@example.net".to_string()),
        ("Subject", format!("Invoice {n}")),
        ("Date", "Sat, 05 Dec 2026 10:00:00 +0000".to_string()),
        ("Message-ID", format!("<m{n}@example.org>")),
        ("MIME-Version", "1.0".to_string()),
    ]
    .into_iter()
    .map(|(n, v)| Header { name: n.to_string(), value: v })
    .collect()
}

/// A well-formed message of one of the shapes, with the payload in it.
fn message(
    rng: &mut Rng,
    payload: &[u8],
    eol: &str,
    inner: bool,
) -> (Part, &'static str, &'static str) {
    let (pp, enc) = payload_part(rng, payload, eol);
    let shapes: &[&'static str] = if inner {
        &["multipart", "nested", "single"]
    } else {
        &["multipart", "nested", "single", "rfc822"]
    };
    let shape = *rng.pick(shapes);
    let mut root = match shape {
        "multipart" => {
            let mut parts = vec![text_part(rng), pp];
            if rng.chance(1, 3) {
                parts.push(text_part(rng));
            }
            multipart(rng, parts)
        }
        "nested" => {
            let t = text_part(rng);
            let inner = multipart(rng, vec![pp, t]);
            let t = text_part(rng);
            multipart(rng, vec![t, inner])
        }
        "single" => pp,
        _ => {
            let (m, _, _) = message(rng, payload, eol, true);
            let mut wrapped = Part::new(
                &[
                    ("Content-Type", "message/rfc822"),
                    ("Content-Disposition", "attachment"),
                ],
                Body::Message(Box::new(m)),
            );
            wrapped.payload = false;
            let t = text_part(rng);
            multipart(rng, vec![t, wrapped])
        }
    };
    let mut h = top_headers(rng);
    h.append(&mut root.headers);
    root.headers = h;
    (root, enc, shape)
}

fn payload_path(root: &mut Part) -> Vec<usize> {
    let mut all = Vec::new();
    root.paths(&mut Vec::new(), &mut all);
    all.into_iter().find(|p| root.at(p).payload).expect("the payload part")
}

/// Paths of the parts that are multiparts on the way to the payload.
fn multipart_ancestors(root: &mut Part, to: &[usize]) -> Vec<Vec<usize>> {
    (0..to.len())
        .map(|n| to[..n].to_vec())
        .filter(|p| matches!(root.at(p).body, Body::Multi { .. }))
        .collect()
}

/// The parts on the way to the payload, itself included.
fn on_path(to: &[usize]) -> Vec<Vec<usize>> {
    (0..=to.len()).map(|n| to[..n].to_vec()).collect()
}

fn junk_lines(rng: &mut Rng, body: &[u8], blank: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() * 2);
    for line in body.split_inclusive(|&b| b == b'\n') {
        if blank && rng.chance(1, 2) {
            let eol: &[u8] =
                if line.ends_with(b"\r\n") { b"\r\n" } else { b"\n" };
            out.extend_from_slice(eol);
        }
        for &c in line {
            if !blank && c != b'\r' && c != b'\n' && rng.chance(1, 10) {
                out.push(*rng.pick(b"!#$%&*.,;:?~^ \t"));
            }
            out.push(c);
        }
    }
    out
}

/// Applies one trick; `false` when it does not fit this message.
fn apply(
    rng: &mut Rng,
    root: &mut Part,
    trick: &'static str,
    eol: &str,
    enc: &str,
    shape: &str,
) -> bool {
    // In an rfc822 shape, the inner message is as good a place as the
    // outer one.
    let pay = payload_path(root);
    let path = on_path(&pay);
    match trick {
        "leading-white-space-header" => {
            // A part of a multipart: the first line after the delimiter.
            let cands: Vec<_> = path
                .iter()
                .filter(|p| p.last().is_some_and(|&i| i != usize::MAX))
                .cloned()
                .collect();
            if cands.is_empty() {
                return false;
            }
            let p = rng.pick(&cands).clone();
            root.at(&p).lead_ws = Some(*rng.pick(&[" ", "\t"]));
        }
        "cr-cr-lf-blank-line" | "lf-cr-lf-blank-line" => {
            let p = rng.pick(&path).clone();
            root.at(&p).blank = Some(if trick == "cr-cr-lf-blank-line" {
                "\r\r\n"
            } else {
                "\n\r\n"
            });
        }
        "bare-cr-line-end" => {
            let p = rng.pick(&path).clone();
            let part = root.at(&p);
            if part.headers.len() < 2 {
                return false;
            }
            part.bare_cr =
                Some(rng.range(0, part.headers.len() as u64 - 2) as usize);
        }
        "white-space-before-colon" => {
            let p = rng.pick(&path).clone();
            let part = root.at(&p);
            let ws = *rng.pick(&[" ", "\t", "  "]);
            let names = ["content-type", "content-transfer-encoding"];
            let hs: Vec<usize> = (0..part.headers.len())
                .filter(|&i| {
                    names.contains(
                        &part.headers[i]
                            .name
                            .trim()
                            .to_ascii_lowercase()
                            .as_str(),
                    )
                })
                .collect();
            if hs.is_empty() {
                return false;
            }
            let i = *rng.pick(&hs);
            part.headers[i].name.push_str(ws);
        }
        "quoted-encoding"
        | "upper-case-encoding"
        | "encoding-with-parameters" => {
            if !matches!(enc, "base64" | "quoted-printable" | "x-uuencode") {
                return false;
            }
            let Some(h) =
                root.at(&pay).header_mut("content-transfer-encoding")
            else {
                return false;
            };
            h.value = match trick {
                "quoted-encoding" => format!("\"{}\"", h.value),
                "upper-case-encoding" => h.value.to_ascii_uppercase(),
                _ => format!(
                    "{}{}",
                    h.value,
                    rng.pick(&[
                        "; x=y",
                        " (attachment)",
                        ";charset=binary",
                        " ;"
                    ])
                ),
            };
        }
        "multipart-without-subtype" => {
            // `multipart; boundary=...`: no type to a strict reader.
            let anc = multipart_ancestors(root, &pay);
            if anc.is_empty() {
                return false;
            }
            let a = rng.pick(&anc).clone();
            let Some(h) = root.at(&a).header_mut("content-type") else {
                return false;
            };
            let Some((t, rest)) = h.value.split_once(';') else {
                return false;
            };
            if !t.trim().starts_with("multipart/") {
                return false;
            }
            h.value = format!("multipart;{rest}");
        }
        "multipart-without-boundary" | "continuation-without-white-space" => {
            // No boundary (or one the body does not hold): the parts are
            // text then, found by their headers as a bounce is. Or the
            // parameters on a line of their own, not indented.
            let anc = multipart_ancestors(root, &pay);
            if anc.is_empty() {
                return false;
            }
            let a = rng.pick(&anc).clone();
            let Some(h) = root.at(&a).header_mut("content-type") else {
                return false;
            };
            let Some((t, rest)) = h.value.split_once(';') else {
                return false;
            };
            h.value = if trick == "continuation-without-white-space" {
                format!("{t};\n{}", rest.trim_start())
            } else if rng.chance(1, 2) {
                t.to_string()
            } else {
                format!("{t}; boundary=\"not-in-this-body\"")
            };
        }
        "blank-line-in-headers" => {
            // A blank line before the transfer encoding, as broken
            // encoders write parts.
            let part = root.at(&pay);
            let Some(i) = part.headers.iter().position(|h| {
                h.name.trim().eq_ignore_ascii_case("content-transfer-encoding")
            }) else {
                return false;
            };
            if i == 0 {
                return false;
            }
            part.headers[i].name.insert(0, '\n');
        }
        "misspelt-encoding" => {
            // A name ClamAV guesses (similar enough to a known one), one
            // it does not know (then it decodes both ways), or the
            // encoding after another token.
            let Some(h) =
                root.at(&pay).header_mut("content-transfer-encoding")
            else {
                return false;
            };
            h.value = match enc {
                "base64" => *rng.pick(&[
                    "bas64",
                    "base46",
                    "x-base64",
                    "base-64",
                    "7bit base64",
                    "binary base64",
                    "gzip",
                    "b",
                ]),
                "quoted-printable" => *rng.pick(&[
                    "quoted-printabel",
                    "quotedprintable",
                    "x-quoted-printable",
                    "7bit quoted-printable",
                    "gzip",
                ]),
                _ => return false,
            }
            .to_string();
        }
        "repeated-content-type" => {
            let p = rng.pick(&path).clone();
            let part = root.at(&p);
            let Some(i) = part.headers.iter().position(|h| {
                h.name.trim().eq_ignore_ascii_case("content-type")
            }) else {
                return false;
            };
            let decoy = Header {
                name: "Content-Type".into(),
                value: rng
                    .pick(&[
                        "text/plain",
                        "text/plain; charset=us-ascii",
                        "image/gif",
                    ])
                    .to_string(),
            };
            let at = if rng.chance(1, 2) { i } else { i + 1 };
            part.headers.insert(at, decoy);
        }
        "repeated-transfer-encoding" => {
            let part = root.at(&pay);
            let Some(i) = part.headers.iter().position(|h| {
                h.name.trim().eq_ignore_ascii_case("content-transfer-encoding")
            }) else {
                return false;
            };
            let decoy = Header {
                name: "Content-Transfer-Encoding".into(),
                value: rng.pick(&["7bit", "8bit", "binary"]).to_string(),
            };
            let at = if rng.chance(1, 2) { i } else { i + 1 };
            part.headers.insert(at, decoy);
        }
        "part-after-closing-delimiter" | "missing-closing-delimiter" => {
            let anc = multipart_ancestors(root, &pay);
            if anc.is_empty() {
                return false;
            }
            let a = rng.pick(&anc).clone();
            let child = pay[a.len()];
            if let Body::Multi { after_close, close, .. } =
                &mut root.at(&a).body
            {
                if trick == "missing-closing-delimiter" {
                    *close = false;
                } else {
                    *after_close = Some(child);
                }
            }
        }
        "prefix-boundaries" => {
            if shape != "nested" {
                return false;
            }
            // The outer multipart is the root, the inner its part 1.
            let outer = match &root.body {
                Body::Multi { boundary, .. } => boundary.clone(),
                _ => return false,
            };
            let inner_part = root.at(&[1]);
            let new = if rng.chance(1, 2) {
                format!("{outer}{}", rng.pick(&["-1", "_x", "0", "--"]))
            } else {
                // The inner one is the shorter: the outer's boundary
                // lines start with the inner's.
                outer[..outer.len() - 2].to_string()
            };
            if let Body::Multi { boundary, .. } = &mut inner_part.body {
                *boundary = new.clone();
            }
            if let Some(h) = inner_part.header_mut("content-type") {
                h.value = format!("multipart/mixed; boundary=\"{new}\"");
            }
        }
        "rfc2231-boundary" | "folded-parameters" => {
            let anc = multipart_ancestors(root, &pay);
            if anc.is_empty() {
                return false;
            }
            let a = rng.pick(&anc).clone();
            let part = root.at(&a);
            let b = match &part.body {
                Body::Multi { boundary, .. } => boundary.clone(),
                _ => return false,
            };
            let Some(h) = part.header_mut("content-type") else {
                return false;
            };
            let (ty, _) = h.value.split_once(';').unwrap_or((&h.value, ""));
            let ty = ty.to_string();
            h.value = if trick == "rfc2231-boundary" {
                if rng.chance(1, 2) {
                    let cut = b.len() / 2;
                    format!(
                        "{ty}; boundary*0=\"{}\"; boundary*1=\"{}\"",
                        &b[..cut],
                        &b[cut..]
                    )
                } else {
                    format!(
                        "{ty}; boundary*=us-ascii'en'{}",
                        b.replace('=', "%3D")
                    )
                }
            } else {
                let fold = format!("{eol}{}", rng.pick(&[" ", "\t", "  "]));
                match rng.range(0, 2) {
                    0 => format!("{ty};{fold}boundary=\"{b}\""),
                    1 => format!(
                        "{ty};{fold}charset=us-ascii;{fold}boundary=\"{b}\""
                    ),
                    _ => format!("{ty};{fold}boundary={fold}\"{b}\""),
                }
            };
        }
        "base64-junk" | "base64-blank-lines" => {
            if enc != "base64" {
                return false;
            }
            if let Body::Leaf(b) = &mut root.at(&pay).body {
                *b = junk_lines(rng, b, trick == "base64-blank-lines");
            }
        }
        "malformed-inner-message" => {
            // Only the shape: the other tricks may land inside it.
            return shape == "rfc822";
        }
        "nul-bytes" => {
            let p = rng.pick(&path).clone();
            let part = root.at(&p);
            match rng.range(0, 2) {
                0 => {
                    let i =
                        rng.range(0, part.headers.len() as u64 - 1) as usize;
                    part.headers[i].value.push('\0');
                }
                1 => part.headers.insert(
                    0,
                    Header { name: "X-Nul".into(), value: "a\0b\0c".into() },
                ),
                _ => {
                    // In a sibling text body.
                    let mut all = Vec::new();
                    root.paths(&mut Vec::new(), &mut all);
                    let texts: Vec<_> = all
                        .into_iter()
                        .filter(|q| {
                            let p = root.at(q);
                            !p.payload && matches!(p.body, Body::Leaf(_))
                        })
                        .collect();
                    if texts.is_empty() {
                        return false;
                    }
                    let q = rng.pick(&texts).clone();
                    if let Body::Leaf(b) = &mut root.at(&q).body {
                        b.splice(0..0, b"\0\0text\0".iter().copied());
                    }
                }
            }
        }
        "long-header-line" => {
            let p = rng.pick(&path).clone();
            let part = root.at(&p);
            let n = rng.range(100_000, 120_000) as usize;
            let v: String =
                (0..n).map(|i| if i % 7 == 6 { ' ' } else { 'x' }).collect();
            let at = rng.range(0, part.headers.len() as u64) as usize;
            part.headers
                .insert(at, Header { name: "X-Long".into(), value: v });
        }
        "mixed-line-ends" => {
            // Rendering decides; nothing to change in the tree.
        }
        _ => unreachable!("unknown trick {trick}"),
    }
    let _ = eol;
    true
}

/// Writes a part. `mixed`: each line end is LF or CRLF at random.
fn render(rng: &mut Rng, p: &Part, eol: &str, mixed: bool, out: &mut Vec<u8>) {
    let nl = |rng: &mut Rng| -> &'static str {
        if mixed {
            if rng.chance(1, 2) { "\r\n" } else { "\n" }
        } else if eol == "\r\n" {
            "\r\n"
        } else {
            "\n"
        }
    };
    if let Some(ws) = p.lead_ws {
        out.extend_from_slice(ws.as_bytes());
    }
    for (i, h) in p.headers.iter().enumerate() {
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(h.value.as_bytes());
        let last = i + 1 == p.headers.len();
        if p.bare_cr == Some(i) {
            out.push(b'\r');
        } else if !(last && p.blank == Some("\n\r\n")) {
            out.extend_from_slice(nl(rng).as_bytes());
        }
    }
    match p.blank {
        Some(b) => out.extend_from_slice(b.as_bytes()),
        None => out.extend_from_slice(nl(rng).as_bytes()),
    }
    match &p.body {
        Body::Leaf(b) => out.extend_from_slice(b),
        Body::Message(inner) => render(rng, inner, eol, mixed, out),
        Body::Multi { boundary, parts, after_close, close } => {
            out.extend_from_slice(
                b"This is a multi-part message in MIME format.",
            );
            out.extend_from_slice(nl(rng).as_bytes());
            let close_at = after_close.unwrap_or(parts.len());
            for (i, part) in parts.iter().enumerate() {
                if i == close_at {
                    out.extend_from_slice(
                        format!("--{boundary}--").as_bytes(),
                    );
                    out.extend_from_slice(nl(rng).as_bytes());
                    out.extend_from_slice(b"epilogue");
                    out.extend_from_slice(nl(rng).as_bytes());
                }
                if !out.ends_with(b"\n") {
                    out.extend_from_slice(nl(rng).as_bytes());
                }
                out.extend_from_slice(format!("--{boundary}").as_bytes());
                out.extend_from_slice(nl(rng).as_bytes());
                render(rng, part, eol, mixed, out);
            }
            if *close && after_close.is_none() {
                if !out.ends_with(b"\n") {
                    out.extend_from_slice(nl(rng).as_bytes());
                }
                out.extend_from_slice(format!("--{boundary}--").as_bytes());
                out.extend_from_slice(nl(rng).as_bytes());
            }
        }
    }
}

/// One mutant with `payload`; the same `rng` state with another payload
/// gives the same mutations (the twin).
pub fn mutant(rng: &mut Rng, payload: &[u8]) -> Mutant {
    let eol = if rng.chance(2, 3) { "\r\n" } else { "\n" };
    let (mut root, encoding, shape) = message(rng, payload, eol, false);
    let want = rng.range(1, 3);
    let mut tricks = Vec::new();
    let mut tries = 0;
    while (tricks.len() as u64) < want && tries < 20 {
        tries += 1;
        let t = *rng.pick(TRICKS);
        if tricks.contains(&t) {
            continue;
        }
        if apply(rng, &mut root, t, eol, encoding, shape) {
            tricks.push(t);
        }
    }
    let mut bytes = Vec::new();
    let mixed = tricks.contains(&"mixed-line-ends");
    render(rng, &root, eol, mixed, &mut bytes);
    Mutant { bytes, tricks, encoding, shape }
}

/// The payload's near-miss twin: one byte changed at its start, so that
/// no signature anchored there or hashing it matches.
pub fn near_miss(payload: &[u8]) -> Vec<u8> {
    let mut v = payload.to_vec();
    if let Some(b) = v.first_mut() {
        *b ^= 0x01;
    }
    v
}

/// `n` pairs of (mutant with `payload`, its near-miss twin).
pub fn pairs(seed: u64, n: usize, payload: &[u8]) -> Vec<(Mutant, Mutant)> {
    let mut rng = Rng::new(seed);
    let twin = near_miss(payload);
    (0..n)
        .map(|_| {
            let mut r2 = rng.clone();
            let m = mutant(&mut rng, payload);
            let t = mutant(&mut r2, &twin);
            (m, t)
        })
        .collect()
}

/// The evasion issue's examples, each a message with `payload` in a
/// base64 attachment whose MIME part is broken one way that mail
/// clients (and clamscan) still read: its first header line indented,
/// `\r\r\n` or `\n\r\n` as the blank line ending its headers, a bare CR
/// ending a header line. `tag` goes into each Subject and Message-ID.
pub fn examples(tag: &str, payload: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let b64 = base64_lines(payload, "\r\n");
    let part = |headers: &str| format!("--BB\r\n{headers}{b64}\r\n--BB--\r\n");
    [
        (
            "leading-white-space-header",
            part(" Content-Type: application/octet-stream; name=\"e.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"),
        ),
        (
            "cr-cr-lf-blank-line",
            part("Content-Type: application/octet-stream; name=\"e.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\r\n"),
        ),
        (
            "lf-cr-lf-blank-line",
            part("Content-Type: application/octet-stream; name=\"e.bin\"\r\nContent-Transfer-Encoding: base64\n\r\n"),
        ),
        (
            "bare-cr-line-end",
            part("Content-Type: application/octet-stream; name=\"e.bin\"\rContent-Transfer-Encoding: base64\r\n\r\n"),
        ),
    ]
    .into_iter()
    .map(|(trick, body)| {
        let m = format!(
            "From: nod32admin@localhost\r\nTo: someone@localhost\r\n\
             Subject: {tag} {trick}\r\nMessage-ID: <{tag}-{trick}@example.org>\r\n\
             Date: Sat, 05 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n\
             --BB\r\nContent-Type: text/plain\r\n\r\nThe invoice.\r\n{body}"
        );
        (trick, m.into_bytes())
    })
    .collect()
}
