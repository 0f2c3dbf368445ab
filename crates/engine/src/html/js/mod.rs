//! Scripts as ClamAV's JavaScript normaliser rewrites them into the
//! `javascript` file it scans beside a page's other forms (target type
//! 3, then as text):
//!
//! - tokens written back with no white space but where two words would
//!   run together, everything lowered;
//! - strings decoded (escapes, and `unescape("%u…")` of a literal),
//!   always double-quoted, literals joined by `+` folded into one;
//! - numbers as C prints them (`%ld` of `atoi`, `%g` of `atof`);
//! - names declared by `var`, function names and parameters renamed
//!   `n000`, `n001`… in declaration order, by ClamAV's own idea of
//!   scopes (a function's name is its own scope's);
//! - `eval("…")` replaced by the tokens of its string, Dean Edwards'
//!   packer (`function(p,a,c,k,e,d)` with its call) and scriptasylum's
//!   `dF("…")` undone.
//!
//! Written from the behaviour of ClamAV 1.4's `js-norm.c`, its quirks
//! included, since signatures are written against its output; checked
//! by tests/js.rs against the files clamscan leaves with
//! `--leave-temps`. Unlike ClamAV, the decoders stop after a budget of
//! work proportional to the script, so that crafted scripts (packers
//! that unpack into themselves, thousands of far calls) stay bounded.

mod decode;
mod lex;
mod print;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use lex::{Lex, Lexer, State};

/// A token as kept until the script is written.
#[derive(Clone, Debug, PartialEq)]
enum Tok {
    /// An identifier that may be renamed (its name's number).
    Ident(u32),
    /// A name after `.`, written as it is.
    Member(u32),
    Str(Vec<u8>),
    Int(i64),
    Float(f64),
    /// `function`, opening this scope.
    Function(u32),
    /// Where a function's scope closes (after its `}`); not written.
    FunctionEnd,
    /// Keywords, operators, punctuation.
    Word(&'static str),
}

/// Where a scope's declarations stand.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fsm {
    Base,
    InsideVar,
    InsideInitializer,
    WaitFunctionName,
    WaitParameterList,
    InsideFunctionDecl,
}

struct Scope {
    parent: Option<u32>,
    /// Names used here: their number if declared here, `None` if only
    /// used.
    ids: HashMap<u32, Option<u64>>,
    fsm: Fsm,
    after_dot: bool,
    brackets: u32,
    blocks: u32,
}

impl Scope {
    fn new(parent: Option<u32>, fsm: Fsm) -> Scope {
        Scope {
            parent,
            ids: HashMap::new(),
            fsm,
            after_dot: false,
            brackets: 0,
            blocks: 0,
        }
    }
}

/// The identifiers' texts, each kept once.
#[derive(Default)]
struct Names {
    index: HashMap<Box<[u8]>, u32>,
    texts: Vec<Box<[u8]>>,
}

impl Names {
    fn intern(&mut self, text: &[u8]) -> u32 {
        if let Some(&n) = self.index.get(text) {
            return n;
        }
        let n = self.texts.len() as u32;
        self.texts.push(text.into());
        self.index.insert(text.into(), n);
        n
    }

    fn text(&self, n: u32) -> &[u8] {
        &self.texts[n as usize]
    }
}

/// One script being normalised: fed the pieces ClamAV's page reader
/// gives it, then written out.
pub(crate) struct Script {
    lexer: Lexer,
    tokens: Vec<Tok>,
    scopes: Vec<Scope>,
    current: u32,
    names: Names,
    next_id: u64,
    /// What the decoders may still do (tokens scanned, bytes decoded).
    budget: usize,
}

/// Work the decoders may do per byte of script, and at least.
const BUDGET_PER_BYTE: usize = 64;
const BUDGET_MIN: usize = 1 << 20;

impl Script {
    pub(crate) fn new() -> Script {
        Script {
            lexer: Lexer::new(),
            tokens: Vec::new(),
            scopes: vec![Scope::new(None, Fsm::Base)],
            current: 0,
            names: Names::default(),
            next_id: 0,
            budget: BUDGET_MIN,
        }
    }

    /// A piece of the script, as the page reader cut it.
    pub(crate) fn feed(&mut self, piece: &[u8]) {
        self.budget = self
            .budget
            .saturating_add(piece.len().saturating_mul(BUDGET_PER_BYTE));
        self.tokens.reserve(piece.len() / 4);
        self.lex(piece);
    }

    fn lex(&mut self, input: &[u8]) {
        self.lexer.start();
        let mut pos = 0;
        while let Some(lex) = self.lexer.next(input, &mut pos) {
            self.take(lex);
        }
    }

    /// The script's end: what is open is closed, the decoders run, and
    /// the script is appended to `out` (after a line feed when `out`
    /// already holds one).
    pub(crate) fn finish(mut self, out: &mut Vec<u8>) {
        match self.lexer.state {
            State::Double => self.lex(b"\""),
            State::Single => self.lex(b"'"),
            _ => {}
        }
        let mut open = 0usize;
        for t in &self.tokens {
            match t {
                Tok::Word("(") => open += 1,
                Tok::Word(")") => open = open.saturating_sub(1),
                _ => {}
            }
        }
        self.tokens.extend(std::iter::repeat_n(Tok::Word(")"), open));
        decode::unescape_literals(&mut self.tokens, &self.names);
        self.run_decoders();
        print::write(&self, out);
    }

    fn declare(&mut self, sym: u32) {
        let id = self.next_id;
        self.next_id += 1;
        self.scopes[self.current as usize].ids.insert(sym, Some(id));
    }

    /// A token from the lexer, into the list and the scopes.
    fn take(&mut self, lex: Lex) {
        let cur = self.current as usize;
        let dot = lex == Lex::Word(".");
        let tok = match lex {
            Lex::Word(w) => {
                if w == "}" && self.close_block() {
                    Tok::FunctionEnd
                } else {
                    self.structure(w);
                    Tok::Word(w)
                }
            }
            Lex::Function => {
                let n = self.scopes.len() as u32;
                self.scopes.push(Scope::new(
                    Some(self.current),
                    Fsm::WaitFunctionName,
                ));
                self.current = n;
                Tok::Function(n)
            }
            Lex::Ident => {
                let sym = self.names.intern(&self.lexer.text);
                let s = &mut self.scopes[cur];
                if s.after_dot {
                    Tok::Member(sym)
                } else {
                    match s.fsm {
                        Fsm::Base
                        | Fsm::InsideInitializer
                        | Fsm::WaitParameterList => {
                            s.ids.entry(sym).or_insert(None);
                        }
                        Fsm::InsideVar | Fsm::InsideFunctionDecl => {
                            s.fsm = Fsm::InsideInitializer;
                            s.brackets = 0;
                            self.declare(sym);
                        }
                        Fsm::WaitFunctionName => {
                            s.fsm = Fsm::WaitParameterList;
                            self.declare(sym);
                        }
                    }
                    Tok::Ident(sym)
                }
            }
            Lex::Str => {
                let n = self.tokens.len();
                if n > 1
                    && self.tokens[n - 1] == Tok::Word("+")
                    && matches!(self.tokens[n - 2], Tok::Str(_))
                {
                    // "a" + "b" is "ab"; the scope's last token stays
                    // the `+`.
                    self.tokens.pop();
                    if let Some(Tok::Str(s)) = self.tokens.last_mut() {
                        s.extend_from_slice(&self.lexer.text);
                    }
                    return;
                }
                Tok::Str(std::mem::take(&mut self.lexer.text))
            }
            Lex::Int(v) => Tok::Int(v),
            Lex::Float(v) => Tok::Float(v),
        };
        self.tokens.push(tok);
        self.scopes[self.current as usize].after_dot = dot;
    }

    /// A `}`: true when it closes the current function's scope (the `}`
    /// itself is then already in the list).
    fn close_block(&mut self) -> bool {
        let s = &mut self.scopes[self.current as usize];
        s.blocks = s.blocks.saturating_sub(1);
        if s.blocks > 0 {
            return false;
        }
        let Some(parent) = s.parent else { return false };
        self.tokens.push(Tok::Word("}"));
        self.current = parent;
        true
    }

    /// What punctuation and `var` do to the current scope.
    fn structure(&mut self, w: &str) {
        let s = &mut self.scopes[self.current as usize];
        let top = s.brackets == 0 && s.blocks == 0;
        match w {
            "var" => s.fsm = Fsm::InsideVar,
            "(" => {
                if matches!(
                    s.fsm,
                    Fsm::WaitFunctionName | Fsm::WaitParameterList
                ) {
                    s.fsm = Fsm::InsideFunctionDecl;
                }
            }
            ")" if s.fsm == Fsm::WaitParameterList => s.fsm = Fsm::Base,
            "{" => {
                if matches!(
                    s.fsm,
                    Fsm::WaitFunctionName
                        | Fsm::WaitParameterList
                        | Fsm::InsideFunctionDecl
                ) {
                    s.fsm = Fsm::Base;
                }
                s.blocks += 1;
            }
            "[" => s.brackets += 1,
            "]" => s.brackets = s.brackets.saturating_sub(1),
            "," if s.fsm == Fsm::InsideInitializer && top => {
                s.fsm = Fsm::InsideVar;
            }
            ";" if top => s.fsm = Fsm::Base,
            _ => {}
        }
    }

    /// Where the writer or the decoders stand after `t`: in the scope a
    /// `function` opens, or back in the parent after its end.
    fn enter(&mut self, t: &Tok) {
        match t {
            Tok::Function(s) => self.current = *s,
            Tok::FunctionEnd => {
                if let Some(p) = self.scopes[self.current as usize].parent {
                    self.current = p;
                }
            }
            _ => {}
        }
    }

    /// The text ClamAV reads as a token's C string: a literal's bytes,
    /// a name, a word.
    fn text<'a>(&'a self, t: &'a Tok) -> Option<&'a [u8]> {
        match t {
            Tok::Str(s) => Some(s),
            Tok::Ident(n) | Tok::Member(n) => Some(self.names.text(*n)),
            Tok::Word(w) => Some(w.as_bytes()),
            _ => None,
        }
    }

    fn is_ident(&self, t: &Tok, name: &[u8]) -> bool {
        matches!(t, Tok::Ident(n) if self.names.text(*n) == name)
    }
}
