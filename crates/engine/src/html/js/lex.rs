//! The script's tokens as ClamAV's JavaScript normaliser cuts them.
//!
//! The script reaches the lexer in pieces (ClamAV's reads of the page),
//! and a token may run from one piece into the next: the lexer keeps its
//! state in between. Its rules are ClamAV's, not the language's: no
//! regular expression literals (`/` is an operator), a `//` comment ends
//! at the first space, numbers are decimal digits with at most one dot
//! (`0x1F` is `0` then `x1F`), escapes in a string are decoded piece by
//! piece.

/// What a piece of input yields.
#[derive(Debug, PartialEq)]
pub(super) enum Lex {
    /// A keyword, an operator or punctuation, as written.
    Word(&'static str),
    /// `function`.
    Function,
    /// An identifier: its text is in [`Lexer::text`].
    Ident,
    /// A string literal, its escapes decoded: in [`Lexer::text`].
    Str,
    Int(i64),
    Float(f64),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum State {
    Initial,
    BlockComment,
    LineComment,
    Number,
    Double,
    Single,
    Ident,
}

pub(super) struct Lexer {
    pub(super) state: State,
    /// The token being read (a string's decoded bytes, a number's or an
    /// identifier's characters).
    pub(super) text: Vec<u8>,
    /// Where the previous call started in this piece, and in which
    /// state: a call that starts there again skips a byte.
    last: Option<(usize, State)>,
}

/// The operators ClamAV knows, longest first where one is the start of
/// another.
const OPERATORS: [&str; 39] = [
    ">>>=", "===", "!==", ">>>", "<<=", ">>=", "==", "!=", "<=", ">=", "<<",
    ">>", "||", "&&", "++", "--", "*=", "/=", "%=", "+=", "-=", "&=", "^=",
    "|=", "=", "+", "&", ":", "/", "!", ">", "<", "-", "*", "|", "%", "?",
    "~", "^",
];

const KEYWORDS: [&str; 57] = [
    "break",
    "case",
    "catch",
    "continue",
    "default",
    "delete",
    "do",
    "else",
    "finally",
    "for",
    "function",
    "if",
    "in",
    "instanceof",
    "new",
    "return",
    "switch",
    "this",
    "throw",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "abstract",
    "boolean",
    "byte",
    "char",
    "class",
    "const",
    "debugger",
    "double",
    "enum",
    "export",
    "extends",
    "final",
    "float",
    "goto",
    "implements",
    "import",
    "int",
    "interface",
    "long",
    "native",
    "package",
    "private",
    "protected",
    "public",
    "short",
    "static",
    "super",
    "synchronized",
    "throws",
    "transient",
    "volatile",
    "null",
];

/// `true` and `false` are words too.
const LITERALS: [&str; 2] = ["true", "false"];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Space,
    Slash,
    Operator,
    Double,
    Single,
    Digit,
    IdStart,
    Punct(&'static str),
    Nothing,
}

fn class(c: u8) -> Class {
    match c {
        b'\t' | b'\n' | 0x0b | b'\r' | b' ' => Class::Space,
        b'/' => Class::Slash,
        b'!' | b'%' | b'&' | b'*' | b'+' | b'-' | b':' | b'<' | b'='
        | b'>' | b'?' | b'^' | b'|' | b'~' => Class::Operator,
        b'"' => Class::Double,
        b'\'' => Class::Single,
        b'0'..=b'9' => Class::Digit,
        b'$' | b'_' | b'\\' | b'a'..=b'z' | b'A'..=b'Z' => Class::IdStart,
        b'(' => Class::Punct("("),
        b')' => Class::Punct(")"),
        b'[' => Class::Punct("["),
        b']' => Class::Punct("]"),
        b'{' => Class::Punct("{"),
        b'}' => Class::Punct("}"),
        b',' => Class::Punct(","),
        b'.' => Class::Punct("."),
        b';' => Class::Punct(";"),
        _ => Class::Nothing,
    }
}

fn is_id(c: u8) -> bool {
    matches!(c, b'$' | b'_' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

fn keyword(w: &[u8]) -> Option<Lex> {
    if w == b"function" {
        return Some(Lex::Function);
    }
    KEYWORDS
        .iter()
        .chain(LITERALS.iter())
        .find(|k| k.as_bytes() == w)
        .map(|k| Lex::Word(k))
}

pub(super) fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// A UTF-16 code unit as ClamAV writes it: UTF-8, NUL as byte 1.
pub(super) fn push_utf8(out: &mut Vec<u8>, u: u16) {
    match u {
        0 => out.push(1),
        1..=0x7f => out.push(u as u8),
        0x80..=0x7ff => {
            out.extend([0xc0 | (u >> 6) as u8, 0x80 | (u & 0x3f) as u8])
        }
        _ => out.extend([
            0xe0 | (u >> 12) as u8,
            0x80 | ((u >> 6) & 0x3f) as u8,
            0x80 | (u & 0x3f) as u8,
        ]),
    }
}

/// The escapes of a piece of string literal decoded onto `out`, as
/// ClamAV decodes them: a `\x` or `\u` missing digits at the end of the
/// piece leaves its backslash, a digit that is not hex turns the whole
/// value into all ones, NUL becomes byte 1.
fn push_unescaped(out: &mut Vec<u8>, s: &[u8]) {
    let nib = |c: u8| hex(c).unwrap_or(0) as u16;
    let mut i = 0;
    while i < s.len() {
        let mut c = s[i];
        if c == b'\\' && i + 1 < s.len() {
            i += 1;
            match s[i] {
                b'0' => c = 0,
                b'b' => c = 8,
                b't' => c = 9,
                b'n' => c = 10,
                b'v' => c = 11,
                b'f' => c = 12,
                b'r' => c = 13,
                b'x' => {
                    if i + 2 < s.len() {
                        c = match hex(s[i + 2]) {
                            Some(lo) => (nib(s[i + 1]) as u8 * 16) | lo,
                            None => 0xff,
                        };
                    }
                    i += 2;
                }
                b'u' => {
                    if i + 4 < s.len() {
                        let u = match hex(s[i + 4]) {
                            Some(lo) => {
                                nib(s[i + 1]) << 12
                                    | nib(s[i + 2]) << 8
                                    | nib(s[i + 3]) << 4
                                    | lo as u16
                            }
                            None => 0xffff,
                        };
                        push_utf8(out, u);
                        i += 5;
                        continue;
                    }
                }
                other => c = other,
            }
        }
        out.push(if c == 0 { 1 } else { c });
        i += 1;
    }
}

/// `atoi`: the leading digits' value saturated to 64 bits, then cut
/// to 32.
fn atoi(text: &[u8]) -> i64 {
    let mut v: i64 = 0;
    for &d in text.iter().take_while(|c| c.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add((d - b'0') as i64);
    }
    v as i32 as i64
}

/// `atof` of what the lexer gathered: the longest prefix that is a
/// decimal number.
fn atof(text: &[u8]) -> f64 {
    let digits = |from: usize| {
        text[from..].iter().take_while(|c| c.is_ascii_digit()).count()
    };
    let mut end = digits(0);
    let int_end = end;
    let mut frac = (end, end);
    if text.get(end) == Some(&b'.') {
        frac = (end + 1, end + 1 + digits(end + 1));
        end = frac.1;
    }
    let mut s = String::with_capacity(end + 8);
    s.extend(text[..int_end].iter().map(|&c| c as char));
    if frac.1 > frac.0 {
        s.push('.');
        s.extend(text[frac.0..frac.1].iter().map(|&c| c as char));
    }
    if matches!(text.get(end), Some(b'e' | b'E')) {
        let mut at = end + 1;
        let neg = match text.get(at) {
            Some(b'-') => {
                at += 1;
                true
            }
            Some(b'+') => {
                at += 1;
                false
            }
            _ => false,
        };
        let n = digits(at);
        if n > 0 {
            s.push_str(if neg { "e-" } else { "e" });
            // Exponents past any double's range mean the same thing.
            let exp = &text[at..at + n];
            let exp = &exp[exp.iter().position(|&c| c != b'0').unwrap_or(n)..];
            if exp.len() > 6 {
                s.push_str("999999");
            } else if exp.is_empty() {
                s.push('0');
            } else {
                s.extend(exp.iter().map(|&c| c as char));
            }
        }
    }
    if s.is_empty() {
        return 0.0;
    }
    s.parse().unwrap_or(0.0)
}

impl Lexer {
    pub(super) fn new() -> Lexer {
        Lexer { state: State::Initial, text: Vec::new(), last: None }
    }

    /// A new piece begins.
    pub(super) fn start(&mut self) {
        self.last = None;
    }

    /// The next token of `input` from `*pos`, or `None` at its end (a
    /// token cut by the end waits for the next piece).
    pub(super) fn next(
        &mut self,
        input: &[u8],
        pos: &mut usize,
    ) -> Option<Lex> {
        if self.last == Some((*pos, self.state)) {
            *pos += 1;
        }
        self.last = Some((*pos, self.state));
        while *pos < input.len() {
            match self.state {
                State::Initial => {
                    self.text.clear();
                    let c = input[*pos];
                    *pos += 1;
                    match class(c) {
                        Class::Space | Class::Nothing => {}
                        Class::Slash => match input.get(*pos) {
                            Some(b'*') => {
                                self.state = State::BlockComment;
                                *pos += 1;
                            }
                            Some(b'/') => {
                                self.state = State::LineComment;
                                *pos += 1;
                            }
                            _ => {
                                *pos -= 1;
                                return Some(operator(input, pos));
                            }
                        },
                        Class::Operator => {
                            *pos -= 1;
                            return Some(operator(input, pos));
                        }
                        Class::Double => return self.string(input, pos, b'"'),
                        Class::Single => {
                            return self.string(input, pos, b'\'');
                        }
                        Class::Digit => {
                            *pos -= 1;
                            return self.number(input, pos);
                        }
                        Class::IdStart => {
                            *pos -= 1;
                            return self.ident(input, pos);
                        }
                        Class::Punct(p) => return Some(Lex::Word(p)),
                    }
                }
                State::Double => return self.string(input, pos, b'"'),
                State::Single => return self.string(input, pos, b'\''),
                State::Ident => return self.ident(input, pos),
                State::Number => return self.number(input, pos),
                State::BlockComment => {
                    while *pos + 1 < input.len() {
                        if input[*pos] == b'*' && input[*pos + 1] == b'/' {
                            self.state = State::Initial;
                            *pos += 1;
                            break;
                        }
                        *pos += 1;
                    }
                    // The byte after the loop is passed over, even the
                    // `*` of a `*/` that the piece cuts.
                    *pos += 1;
                }
                State::LineComment => {
                    // ClamAV's page reader turned line ends into spaces:
                    // a space ends the comment.
                    let rest = &input[*pos..];
                    *pos += rest
                        .iter()
                        .position(|&c| c == b'\n' || c == b' ')
                        .unwrap_or(rest.len());
                    self.state = State::Initial;
                }
            }
        }
        None
    }

    fn string(&mut self, input: &[u8], pos: &mut usize, q: u8) -> Option<Lex> {
        let start = *pos;
        let mut from = start;
        let end = loop {
            match memchr::memchr(q, &input[from..]) {
                // A quote after a backslash does not end it (even when
                // the backslash is itself escaped).
                Some(k)
                    if from + k > start && input[from + k - 1] == b'\\' =>
                {
                    from += k + 1;
                }
                Some(k) => break Some(from + k),
                None => break None,
            }
        };
        push_unescaped(
            &mut self.text,
            &input[start..end.unwrap_or(input.len())],
        );
        match end {
            Some(e) => {
                *pos = e + 1;
                self.state = State::Initial;
                Some(Lex::Str)
            }
            None => {
                *pos = input.len();
                self.state =
                    if q == b'"' { State::Double } else { State::Single };
                None
            }
        }
    }

    fn number(&mut self, input: &[u8], pos: &mut usize) -> Option<Lex> {
        // ClamAV forgets the dot of a number cut by the end of a piece.
        let mut float = false;
        while *pos < input.len() {
            let c = input[*pos];
            *pos += 1;
            if c.is_ascii_digit() {
                self.text.push(c);
                continue;
            }
            if c == b'.' && !float {
                float = true;
                self.text.push(c);
                continue;
            }
            if (c == b'e' || c == b'E') && float {
                self.text.push(c);
                if *pos < input.len() {
                    let d = input[*pos];
                    *pos += 1;
                    if d == b'+' || d == b'-' || d.is_ascii_digit() {
                        self.text.push(d);
                        continue;
                    }
                }
            }
            *pos -= 1;
            self.state = State::Initial;
            return Some(if float {
                Lex::Float(atof(&self.text))
            } else {
                Lex::Int(atoi(&self.text))
            });
        }
        self.state = State::Number;
        None
    }

    fn ident(&mut self, input: &[u8], pos: &mut usize) -> Option<Lex> {
        self.state = State::Initial;
        while *pos < input.len() {
            let c = input[*pos];
            *pos += 1;
            if is_id(c) {
                self.text.push(c);
                continue;
            }
            if c == b'\\' {
                // `\u` keeps the backslash (and drops the `u`); any other
                // byte after it ends the identifier, the backslash lost
                // (and that byte too when it ends the piece).
                if *pos < input.len() {
                    let next = input[*pos];
                    *pos += 1;
                    if next == b'u' {
                        self.text.push(c);
                        continue;
                    }
                }
                if *pos == input.len() {
                    *pos += 1;
                }
            }
            *pos -= 1;
            return Some(keyword(&self.text).unwrap_or(Lex::Ident));
        }
        self.state = State::Ident;
        None
    }
}

/// The longest operator at `*pos`.
fn operator(input: &[u8], pos: &mut usize) -> Lex {
    let rest = &input[*pos..];
    let op = OPERATORS
        .iter()
        .find(|op| rest.starts_with(op.as_bytes()))
        .copied()
        .unwrap_or("");
    *pos += op.len().max(1);
    Lex::Word(op)
}
