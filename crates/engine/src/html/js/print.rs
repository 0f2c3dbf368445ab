//! A normalised script written out as ClamAV writes it to its
//! `javascript` file.

use std::io::Write;

use super::{Script, Tok};

/// ClamAV writes through a buffer of this size, and looks for the
/// closing `</script>` in what the buffer holds.
const WINDOW: usize = 65536;

/// Steps the renaming may take walking up scopes, in all; then each
/// name is looked up in its own scope only (a crafted script of deep
/// functions would otherwise take quadratic time).
const LOOKUP_STEPS: usize = 1 << 24;

struct Out<'a> {
    out: &'a mut Vec<u8>,
    /// What ClamAV's buffer holds.
    window: usize,
}

impl Out<'_> {
    /// One byte as ClamAV's single-byte write puts it.
    fn byte(&mut self, c: u8) {
        if self.window >= WINDOW {
            self.window = 0;
        }
        self.out.push(c);
        self.window += 1;
    }

    /// Text lowered, white space as spaces, up to a NUL.
    fn text(&mut self, s: &[u8]) {
        for &c in s {
            if c == 0 {
                break;
            }
            self.out.push(if matches!(c, b'\t'..=b'\r' | b' ') {
                b' '
            } else {
                c.to_ascii_lowercase()
            });
            self.window += 1;
            if self.window == WINDOW {
                self.window = 0;
            }
        }
    }

    /// A space when the previous token and this one would run together.
    fn space(&mut self, last: u8, first: u8) {
        if last.is_ascii_alphanumeric() && first.is_ascii_alphanumeric() {
            self.byte(b' ');
        }
    }
}

/// C's `%g`: six significant digits, trailing zeros dropped, an
/// exponent of at least two digits outside 1e-4 ..= 1e6.
pub(super) fn format_g(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.into();
    }
    if v.is_nan() {
        return "nan".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let sci = format!("{v:.5e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        trim(&format!("{v:.*}", (5 - exp) as usize))
    }
}

pub(super) fn write(s: &Script, out: &mut Vec<u8>) {
    let separate = !out.is_empty();
    let mut w = Out { out, window: 0 };
    if separate {
        w.byte(b'\n');
    }
    w.text(b"<script>");
    let mut current = 0u32;
    let mut last = 0u8;
    let mut steps = LOOKUP_STEPS;
    let mut num = Vec::with_capacity(24);
    for t in &s.tokens {
        match t {
            Tok::Function(n) => current = *n,
            Tok::FunctionEnd => {
                if let Some(p) = s.scopes[current as usize].parent {
                    current = p;
                }
                continue;
            }
            _ => {}
        }
        num.clear();
        last = match t {
            Tok::Str(v) => {
                w.byte(b'"');
                w.text(v);
                w.byte(b'"');
                b'"'
            }
            Tok::Int(v) => {
                w.space(last, b'0');
                let _ = write!(num, "{v}");
                w.text(&num);
                b'0'
            }
            Tok::Float(v) => {
                w.space(last, b'0');
                w.text(format_g(*v).as_bytes());
                b'0'
            }
            Tok::Ident(n) => {
                w.space(last, b'a');
                match s.lookup(current, *n, &mut steps) {
                    Some(id) => {
                        let _ = write!(num, "n{id:03}");
                        w.text(&num);
                    }
                    None => w.text(s.names.text(*n)),
                }
                b'a'
            }
            Tok::Function(_) => {
                w.space(last, b'a');
                w.text(b"function");
                b'a'
            }
            Tok::FunctionEnd => continue,
            Tok::Member(n) => word(&mut w, last, s.names.text(*n)),
            Tok::Word(x) => word(&mut w, last, x.as_bytes()),
        };
    }
    if !(w.window >= 9 && w.out.ends_with(b"</script>")) {
        w.text(b"</script>");
    }
}

fn word(w: &mut Out<'_>, last: u8, s: &[u8]) -> u8 {
    w.space(last, s.first().copied().unwrap_or(0));
    w.text(s);
    s.last().copied().unwrap_or(0)
}

impl Script {
    /// The number a name has where it is used: declared in this scope
    /// or the nearest enclosing one.
    fn lookup(&self, scope: u32, sym: u32, steps: &mut usize) -> Option<u64> {
        let mut at = Some(scope);
        while let Some(s) = at {
            let sc = &self.scopes[s as usize];
            if let Some(&Some(id)) = sc.ids.get(&sym) {
                return Some(id);
            }
            if *steps == 0 {
                return None;
            }
            *steps -= 1;
            at = sc.parent;
        }
        None
    }
}
