//! What ClamAV undoes in a script once it is read: `unescape` of a
//! literal, `eval` of a literal, Dean Edwards' packer and
//! scriptasylum's `dF` encoder. Their output is lexed as more script
//! and takes the place of the call (or, for `dF`, goes to the end).

use std::collections::VecDeque;

use super::lex::{hex, push_utf8};
use super::{Names, Script, Tok};

/// `unescape(…)`: `%uXXXX` as UTF-8, `%XX` as the byte, NUL as 1.
pub(super) fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut k = 0;
    while k < s.len() {
        let mut c = s[k];
        if c == b'%' {
            let at = |j: usize| s.get(k + j).copied().and_then(hex);
            if s.get(k + 1) == Some(&b'u')
                && k + 5 < s.len()
                && let (Some(a), Some(b), Some(d), Some(e)) =
                    (at(2), at(3), at(4), at(5))
            {
                let u = (a as u16) << 12
                    | (b as u16) << 8
                    | (d as u16) << 4
                    | e as u16;
                push_utf8(&mut out, u);
                k += 6;
                continue;
            }
            if k + 2 < s.len()
                && let (Some(hi), Some(lo)) = (at(1), at(2))
            {
                c = hi << 4 | lo;
                k += 2;
            }
        }
        out.push(if c == 0 { 1 } else { c });
        k += 1;
    }
    out
}

/// `unescape ( "…" x` becomes the decoded literal, whatever `x` is (it
/// is meant to be the `)`), as ClamAV folds it before the decoders.
pub(super) fn unescape_literals(tokens: &mut Vec<Tok>, names: &Names) {
    let is_call = |t: &[Tok]| {
        matches!(t, [Tok::Ident(n), Tok::Word("("), Tok::Str(_), _, ..]
            if &*names.texts[*n as usize] == b"unescape")
    };
    if !tokens.windows(4).any(is_call) {
        return;
    }
    let old = std::mem::take(tokens);
    let mut i = 0;
    while i < old.len() {
        if is_call(&old[i..]) {
            if let Tok::Str(s) = &old[i + 2] {
                tokens.push(Tok::Str(unescape(s)));
            }
            i += 4;
        } else {
            tokens.push(old[i].clone());
            i += 1;
        }
    }
}

/// What a decoder found: the text to lex, the tokens it replaces
/// (counted from the decoders' position), and whether the new tokens go
/// at the end of the script instead.
struct Found {
    text: Vec<u8>,
    begin: usize,
    end: usize,
    append: bool,
}

impl Script {
    fn spend(&mut self, n: usize) -> bool {
        match self.budget.checked_sub(n) {
            Some(b) => {
                self.budget = b;
                true
            }
            None => {
                self.budget = 0;
                false
            }
        }
    }

    /// ClamAV's pass over the tokens: each decoder that recognises its
    /// call at the position replaces it with the tokens of what it
    /// decodes, which the pass then reads on (so nested layers unfold).
    pub(super) fn run_decoders(&mut self) {
        // The tokens before the position, and from it on.
        let mut done: Vec<Tok> = Vec::with_capacity(self.tokens.len());
        let mut rest: VecDeque<Tok> = std::mem::take(&mut self.tokens).into();
        while !rest.is_empty() {
            if self.budget == 0 {
                done.extend(rest.drain(..));
                break;
            }
            self.budget -= 1;
            let mut at = 0;
            let mut found = None;
            // A function's end marker is a `function` token to ClamAV:
            // it is taken for the start of a packer too.
            if matches!(rest[0], Tok::Function(_) | Tok::FunctionEnd)
                && 13 < rest.len()
            {
                at = 1;
                let mut name = None;
                if let Tok::Ident(n) = rest[1] {
                    name = Some(n);
                    at = 2;
                }
                if packer_parameters(self, &rest, at) {
                    found = self.packer(&rest, at, name);
                }
            } else if rest.len() > 2 && rest[1] == Tok::Word("(") {
                if self.is_ident(&rest[0], b"dF") {
                    found = self.df(&mut rest);
                } else if self.is_ident(&rest[0], b"eval") {
                    found = self.eval(&mut rest);
                }
            }
            if let Some(f) = found.filter(|f| f.end > f.begin) {
                self.replace(&mut rest, f);
            }
            if let Some(t) = rest.get(at) {
                let t = t.clone();
                self.enter(&t);
            }
            let n = (at + 1).min(rest.len());
            done.extend(rest.drain(..n));
        }
        self.tokens = done;
    }

    /// Lexes a decoder's text as more script (in the scope the pass
    /// stands in) and puts its tokens in place.
    fn replace(&mut self, rest: &mut VecDeque<Tok>, f: Found) {
        let mut end = f.end;
        if rest.get(end) == Some(&Tok::Word(";")) {
            end += 1;
        }
        if !self.spend(f.text.len()) {
            return;
        }
        let outer = std::mem::take(&mut self.tokens);
        self.lex(&f.text);
        let new = std::mem::replace(&mut self.tokens, outer);
        if f.begin >= rest.len() || end > rest.len() {
            // ClamAV refuses the range; a `dF`'s tokens still go on.
            if f.append {
                rest.extend(new);
            }
            return;
        }
        if !self.spend(f.begin + end) {
            return;
        }
        let before: Vec<Tok> = rest.drain(..f.begin).collect();
        rest.drain(..end - f.begin);
        if f.append {
            rest.extend(new);
        } else {
            for t in new.into_iter().rev() {
                rest.push_front(t);
            }
        }
        for t in before.into_iter().rev() {
            rest.push_front(t);
        }
    }

    /// `eval ( "…" )`: the literal is lexed in place of the call.
    fn eval(&mut self, rest: &mut VecDeque<Tok>) -> Option<Found> {
        if rest.len() < 4 || rest[3] != Tok::Word(")") {
            return None;
        }
        let text = match &mut rest[2] {
            Tok::Str(s) => std::mem::take(s),
            Tok::Member(n) => self.names.text(*n).to_vec(),
            _ => return None,
        };
        Some(Found { text, begin: 0, end: 4, append: false })
    }

    /// `dF ( "…" x`: scriptasylum's encoder. The literal's last digit
    /// is a shift; the rest is unescaped, shifted down, unescaped again.
    /// The result goes to the end of the script.
    fn df(&mut self, rest: &mut VecDeque<Tok>) -> Option<Found> {
        let Tok::Str(s) = &rest[2] else { return None };
        let (&last, body) = s.split_last()?;
        let shift = last.wrapping_sub(b'0');
        let mut once = unescape(body);
        for b in &mut once {
            *b = b.wrapping_sub(shift);
        }
        // A byte shifted to NUL ends the C string.
        if let Some(z) = memchr::memchr(0, &once) {
            once.truncate(z);
        }
        let text = unescape(&once);
        Some(Found { text, begin: 0, end: 4, append: true })
    }

    /// A `function(p,a,c,…)` at `at`: its call's arguments unpacked.
    /// Named, every later call `name(…)` is unpacked, one after the
    /// other; anonymous, the call that follows its body.
    fn packer(
        &mut self,
        rest: &VecDeque<Tok>,
        at: usize,
        name: Option<u32>,
    ) -> Option<Found> {
        // The end of the function's body.
        let mut i = at;
        let mut nesting = 1u32;
        while i < rest.len() {
            match rest[i] {
                Tok::Function(_) => nesting += 1,
                Tok::FunctionEnd => nesting -= 1,
                _ => {}
            }
            if nesting == 0 {
                break;
            }
            i += 1;
        }
        if !self.spend(i - at) || nesting != 0 {
            return None;
        }
        let mut text = Vec::new();
        let mut span: Option<(usize, usize)> = None;
        match name {
            Some(n) => {
                while i + 2 < rest.len() {
                    if !self.spend(1) {
                        return None;
                    }
                    if rest[i] == Tok::Ident(n)
                        && rest[i + 1] == Tok::Word("(")
                    {
                        i += 2;
                        let (params, next) = arguments(rest, i);
                        if !self.spend(next - i) {
                            return None;
                        }
                        i = next;
                        if let Some(params) = params {
                            self.unpack(rest, &params, &mut text);
                            let first = span.map_or(params[0], |s| s.0);
                            span = Some((first, params[5]));
                        }
                    }
                    i += 1;
                }
            }
            None => {
                while i < rest.len() && rest[i] != Tok::Word("(") {
                    i += 1;
                }
                i += 1;
                if !self.spend(i - at) || i >= rest.len() {
                    return None;
                }
                let (params, next) = arguments(rest, i);
                if !self.spend(next - i) {
                    return None;
                }
                if let Some(params) = params {
                    self.unpack(rest, &params, &mut text);
                    span = Some((params[0], params[5]));
                }
            }
        }
        let (begin, last) = span?;
        let mut end = last + 1;
        if end + 2 < rest.len()
            && rest[end] == Tok::Word("{")
            && rest[end + 1] == Tok::Word("}")
            && rest[end + 2] == Tok::Word(")")
        {
            end += 3;
        } else if end < rest.len() {
            end += 1;
        }
        Some(Found { text, begin, end, append: false })
    }

    /// One call's arguments decoded onto `out`: the words of `p` (read
    /// in base `a`) looked up in `k`'s `|`-separated list.
    fn unpack(
        &mut self,
        rest: &VecDeque<Tok>,
        params: &[usize; 6],
        out: &mut Vec<u8>,
    ) {
        let p = self.text(&rest[params[0]]).map(<[u8]>::to_vec);
        let a = match rest[params[1]] {
            Tok::Int(v) => v,
            _ => -1,
        };
        let k = match &rest[params[3]] {
            Tok::Str(s) => Some(s.clone()),
            Tok::Member(n) => Some(self.names.text(*n).to_vec()),
            _ => None,
        };
        let (Some(p), Some(k)) = (p, k) else { return };
        let words: Vec<&[u8]> = k.split(|&c| c == b'|').collect();
        let mut j = 0;
        while j < p.len() {
            if !self.spend(1) {
                return;
            }
            let c = p[j];
            if !c.is_ascii_alphanumeric() {
                if c == b'\\' && matches!(p.get(j + 1), Some(b'\'' | b'"')) {
                    j += 1;
                } else {
                    out.push(c);
                    j += 1;
                }
                continue;
            }
            let start = j;
            let mut val: u32 = 0;
            while j < p.len() && p[j].is_ascii_alphanumeric() {
                let v = p[j] as u32;
                let x = if v >= b'a' as u32 {
                    10 + v - b'a' as u32
                } else if v >= b'A' as u32 {
                    36 + v - b'A' as u32
                } else {
                    v - b'0' as u32
                };
                val =
                    (val as i64).wrapping_mul(a).wrapping_add(x as i64) as u32;
                j += 1;
            }
            match words.get(val as usize).filter(|w| !w.is_empty()) {
                Some(w) => {
                    if !self.spend(w.len()) {
                        return;
                    }
                    out.extend_from_slice(w);
                }
                None => out.extend_from_slice(&p[start..j]),
            }
        }
    }
}

/// Whether the tokens at `at` open a parameter list `(p,a,c,`: all
/// ClamAV looks at of `(p,a,c,k,e,r)` and `(p,a,c,k,e,d)`.
fn packer_parameters(s: &Script, rest: &VecDeque<Tok>, at: usize) -> bool {
    if rest.get(at) != Some(&Tok::Word("(")) {
        return false;
    }
    let mut i = at + 1;
    for name in [b"p", b"a", b"c"] {
        if !rest.get(i).is_some_and(|t| s.is_ident(t, name)) {
            return false;
        }
        if rest.get(i + 1) != Some(&Tok::Word(",")) {
            return false;
        }
        i += 2;
    }
    true
}

/// A call's six arguments from `i`: each the token after the previous
/// comma (the last after the fifth, up to a `)`), ClamAV's way. The
/// positions (if all six were there) and where the scan stopped.
type Args = (Option<[usize; 6]>, usize);

fn arguments(rest: &VecDeque<Tok>, mut i: usize) -> Args {
    let mut params = [0usize; 6];
    let mut j = 0;
    while j < 6 && i < rest.len() {
        params[j] = i;
        i += 1;
        let stop = if j < 5 { Tok::Word(",") } else { Tok::Word(")") };
        while i < rest.len() && rest[i] != stop {
            i += 1;
        }
        i += 1;
        j += 1;
    }
    ((j == 6).then_some(params), i)
}
