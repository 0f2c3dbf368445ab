//! Logical expressions of `.ldb` signatures.
//!
//! ClamAV's parser has a few quirks that decide what an expression means,
//! so this one follows its rules rather than usual precedence:
//! - outside parentheses the *first* `&` or `|` splits the expression, so
//!   `0&1|2` means `0&(1|2)`;
//! - a whole parenthesised block is split at the *last* operator directly
//!   inside it, and may carry a count modifier `(…)>X,Y`;
//! - a leaf `N` is true when subsignature N matched; `N=X`, `N>X`, `N<X`
//!   compare its match count (`N=0` is negation).
//!
//! A block's count is the sum of the counts of its true leaves, and `,Y`
//! asks that at least Y distinct subsignatures contributed.

/// A parsed logical expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    /// A subsignature, optionally compared with its match count.
    Leaf { id: u8, cmp: Option<(u8, u32)> },
    /// `&` or `|`, optionally with a block count modifier.
    Op {
        and: bool,
        left: Box<Node>,
        right: Box<Node>,
        blk: Option<(u8, u32, u32)>,
    },
}

const MAX_DEPTH: u32 = 64;

/// A logical expression (an `.ldb` signature's, or a PCRE
/// subsignature's trigger) that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExprError {
    /// A subsignature past the line's last.
    #[error("expression names subsignature {id}, but there are {count}")]
    NoSuchSubsig {
        /// The index named.
        id: u8,
        /// How many subsignatures the line has.
        count: usize,
    },
    /// Deeper than the module's evaluator goes.
    #[error("expression nested too deeply")]
    TooDeep,
    /// Nothing where an operand should be.
    #[error("empty expression")]
    Empty,
    /// A `)` that closes nothing.
    #[error("missing opening parenthesis")]
    MissingOpen,
    /// A `(` that nothing closes.
    #[error("missing closing parenthesis")]
    MissingClose,
    /// A count comparison (`>`, `<`, `=`, or a block's `,`) without its
    /// number.
    #[error("missing number after '{0}'")]
    MissingNumber(char),
    /// A lone `(`.
    #[error("unbalanced parentheses")]
    Unbalanced,
    /// An operand that is not a subsignature index.
    #[error("cannot parse '{0}'")]
    NotAnIndex(String),
    /// An index past 255 (a line has at most 64).
    #[error("subsignature index too large")]
    IndexTooLarge(u32),
    /// A `)` after an index.
    #[error("unexpected ')'")]
    UnexpectedClose,
    /// An operator with nothing before it.
    #[error("missing left argument")]
    MissingLeft,
    /// An operator with nothing after it.
    #[error("missing right argument")]
    MissingRight,
}

impl Node {
    /// The highest subsignature the expression names.
    pub(crate) fn max_id(&self) -> u8 {
        let mut max = 0;
        self.walk(&mut |id| max = max.max(id));
        max
    }
}

/// Parses an expression; `max_id` is the number of subsignatures.
pub(crate) fn parse(expr: &str, nsubs: usize) -> Result<Node, ExprError> {
    let node = parse_at(expr.as_bytes(), 0)?;
    let mut bad = None;
    node.walk(&mut |id| {
        if id as usize >= nsubs {
            bad = Some(id);
        }
    });
    match bad {
        Some(id) => Err(ExprError::NoSuchSubsig { id, count: nsubs }),
        None => Ok(node),
    }
}

fn num_prefix(s: &[u8]) -> Option<(u32, usize)> {
    let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
    if n == 0 {
        return None;
    }
    let v = std::str::from_utf8(&s[..n]).ok()?.parse().ok()?;
    Some((v, n))
}

fn parse_at(e: &[u8], depth: u32) -> Result<Node, ExprError> {
    if depth > MAX_DEPTH {
        return Err(ExprError::TooDeep);
    }
    if e.is_empty() {
        return Err(ExprError::Empty);
    }
    let (mut pth, mut op, mut op1) = (0u32, None, None);
    let (mut modc, mut modoff) = (0u8, 0usize);
    let mut blkend = 0usize;
    let mut blk: Option<(u8, u32, u32)> = None;
    let mut i = 0;
    while i < e.len() {
        match e[i] {
            b'(' => pth += 1,
            b')' => {
                pth = pth.checked_sub(1).ok_or(ExprError::MissingOpen)?;
                modc = b')';
                modoff = i;
            }
            c @ (b'>' | b'<' | b'=') => {
                modc = c;
                modoff = i;
            }
            c @ (b'&' | b'|') => {
                if pth == 0 {
                    op = Some((c, i));
                } else if pth == 1 {
                    op1 = Some((c, i));
                }
            }
            _ => {}
        }
        if op.is_some() {
            break;
        }
        if op1.is_some() && pth == 0 {
            blkend = i;
            blk = None;
            if let Some(&c @ (b'>' | b'<' | b'=')) = e.get(i + 1) {
                let rest = e.get(i + 2..).unwrap_or_default();
                let (v1, n1) = num_prefix(rest)
                    .ok_or(ExprError::MissingNumber(c as char))?;
                let mut v2 = 0;
                if rest.get(n1) == Some(&b',') {
                    v2 = num_prefix(&rest[n1 + 1..])
                        .ok_or(ExprError::MissingNumber(','))?
                        .0;
                }
                blk = Some((c, v1, v2));
                i += 2;
                while i + 1 < e.len()
                    && (e[i + 1].is_ascii_digit() || e[i + 1] == b',')
                {
                    i += 1;
                }
            }
            if i + 1 == e.len() {
                break;
            }
            blk = None;
        }
        i += 1;
    }
    if pth != 0 {
        return Err(ExprError::MissingClose);
    }
    let (c, off, lstart, rend) = match (op, op1) {
        (None, None) => {
            if e[0] == b'(' {
                if e.len() < 2 {
                    return Err(ExprError::Unbalanced);
                }
                return parse_at(&e[1..e.len() - 1], depth + 1);
            }
            let (id, _) = num_prefix(e).ok_or_else(|| {
                ExprError::NotAnIndex(String::from_utf8_lossy(e).into_owned())
            })?;
            let id =
                u8::try_from(id).map_err(|_| ExprError::IndexTooLarge(id))?;
            let cmp = match modc {
                0 => None,
                b')' => return Err(ExprError::UnexpectedClose),
                c => {
                    let (v, _) = num_prefix(&e[modoff + 1..])
                        .ok_or(ExprError::MissingNumber(c as char))?;
                    Some((c, v))
                }
            };
            return Ok(Node::Leaf { id, cmp });
        }
        (Some((c, off)), _) => (c, off, 0, e.len()),
        (None, Some((c, off))) => (c, off, 1, blkend),
    };
    if off == 0 || off < lstart {
        return Err(ExprError::MissingLeft);
    }
    if off + 1 >= e.len() || off + 1 > rend {
        return Err(ExprError::MissingRight);
    }
    let left = parse_at(&e[lstart..off], depth + 1)?;
    let right = parse_at(&e[off + 1..rend], depth + 1)?;
    let blk = if op.is_some() { None } else { blk };
    Ok(Node::Op {
        and: c == b'&',
        left: Box::new(left),
        right: Box::new(right),
        blk,
    })
}

impl Node {
    fn walk(&self, f: &mut impl FnMut(u8)) {
        match self {
            Node::Leaf { id, .. } => f(*id),
            Node::Op { left, right, .. } => {
                left.walk(f);
                right.walk(f);
            }
        }
    }

    /// Serialises the tree in prefix order for the loading module:
    /// leaf = `0 id cmp v:u32`, op = `1|2 blk v1:u32 v2:u32 left right`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Node::Leaf { id, cmp } => {
                let (c, v) = cmp.unwrap_or((0, 0));
                out.extend([0, *id, c]);
                out.extend(v.to_le_bytes());
            }
            Node::Op { and, left, right, blk } => {
                let (c, v1, v2) = blk.unwrap_or((0, 0, 0));
                out.extend([if *and { 1 } else { 2 }, c]);
                out.extend(v1.to_le_bytes());
                out.extend(v2.to_le_bytes());
                left.encode(out);
                right.encode(out);
            }
        }
    }
}

fn cmp_holds(c: u8, val: u32, v: u32) -> bool {
    match c {
        b'=' => val == v,
        b'<' => val < v,
        b'>' => val > v,
        _ => false,
    }
}

/// Evaluates an encoded expression over per-subsignature match counts.
/// A malformed encoding evaluates to false.
pub(crate) fn eval(code: &[u8], counts: &[u32]) -> bool {
    let mut pc = 0;
    eval_at(code, &mut pc, counts, 0).is_some_and(|(ok, _, _)| ok)
}

fn rd32(c: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(c.get(at..at + 4)?.try_into().ok()?))
}

fn eval_at(
    c: &[u8],
    pc: &mut usize,
    counts: &[u32],
    depth: u32,
) -> Option<(bool, u32, u64)> {
    if depth > MAX_DEPTH {
        return None;
    }
    match *c.get(*pc)? {
        0 => {
            let id = *c.get(*pc + 1)?;
            let cmp = *c.get(*pc + 2)?;
            let v = rd32(c, *pc + 3)?;
            *pc += 7;
            let val = counts.get(id as usize).copied().unwrap_or(0);
            let bit = 1u64.checked_shl(id as u32).unwrap_or(0);
            if cmp != 0 {
                let ok = cmp_holds(cmp, val, v);
                return Some((
                    ok,
                    if ok { val } else { 0 },
                    if ok { bit } else { 0 },
                ));
            }
            Some((val > 0, val, if val > 0 { bit } else { 0 }))
        }
        op @ (1 | 2) => {
            let blk = *c.get(*pc + 1)?;
            let v1 = rd32(c, *pc + 2)?;
            let v2 = rd32(c, *pc + 6)?;
            *pc += 10;
            let (l, lc, li) = eval_at(c, pc, counts, depth + 1)?;
            let (r, rc, ri) = eval_at(c, pc, counts, depth + 1)?;
            let ok = if op == 1 { l && r } else { l || r };
            let (tc, ti) =
                if ok { (lc.saturating_add(rc), li | ri) } else { (0, 0) };
            if blk == 0 {
                return Some((ok, tc, ti));
            }
            let mut pass = cmp_holds(blk, tc, v1);
            if pass && v2 != 0 && ti.count_ones() < v2 {
                pass = false;
            }
            Some((pass, if pass { tc } else { 0 }, if pass { ti } else { 0 }))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(e: &str, counts: &[u32]) -> bool {
        let n = parse(e, counts.len()).unwrap();
        let mut code = Vec::new();
        n.encode(&mut code);
        eval(&code, counts)
    }

    #[test]
    fn basic_logic() {
        assert!(ev("0&1", &[1, 1]));
        assert!(!ev("0&1", &[1, 0]));
        assert!(ev("0|1", &[0, 1]));
        assert!(ev("(0|1)&2", &[0, 1, 1]));
        assert!(!ev("(0|1)&2", &[1, 1, 0]));
    }

    #[test]
    fn clamav_split_rule() {
        // `0&1|2` is `0&(1|2)`.
        assert!(!ev("0&1|2", &[0, 0, 1]));
        assert!(ev("0&1|2", &[1, 0, 1]));
    }

    #[test]
    fn counts() {
        assert!(ev("0>2", &[3]));
        assert!(!ev("0>2", &[2]));
        assert!(ev("0=0", &[0]));
        assert!(ev("0<2&1", &[1, 1]));
        assert!(ev("(0|1)>3", &[2, 2]));
        assert!(ev("(0|1)>3", &[4, 0]));
        assert!(ev("(0|1|2)>1,2", &[1, 1, 0]));
        assert!(!ev("(0|1|2)>1,2", &[5, 0, 0]));
        assert!(ev("((0|1)>1,2)&2", &[1, 1, 1]));
    }

    #[test]
    fn errors() {
        for bad in ["", "(0", "0)", "0&", "&0", "0>", "9", "(0|1)>"] {
            assert!(parse(bad, 3).is_err(), "{bad} accepted");
        }
    }

    /// What a refused expression says after the file and line.
    #[test]
    fn refusals_keep_their_texts() {
        let why = |e: &str| parse(e, 3).unwrap_err().to_string();
        let deep = format!("{}0{}", "(".repeat(70), ")".repeat(70));
        for (e, text) in [
            ("0&5", "expression names subsignature 5, but there are 3"),
            (deep.as_str(), "expression nested too deeply"),
            ("", "empty expression"),
            ("0)", "missing opening parenthesis"),
            ("(0", "missing closing parenthesis"),
            ("0>", "missing number after '>'"),
            ("(0|1)>", "missing number after '>'"),
            ("(0|1)>1,", "missing number after ','"),
            ("x", "cannot parse 'x'"),
            ("300", "subsignature index too large"),
            ("0(1)", "unexpected ')'"),
            ("&0", "missing left argument"),
            ("0&", "missing right argument"),
        ] {
            assert_eq!(why(e), text, "{e}");
        }
    }
}
