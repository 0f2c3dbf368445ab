//! HTML as ClamAV's normaliser rewrites it before scanning, so that body
//! signatures of target type 3 (and generic ones) see the same bytes:
//!
//! - `nocomment`: the page lowered, comments dropped, white space
//!   collapsed (removed inside scripts), tag attributes rewritten as
//!   ` name="value"`, character references decoded, `data:` URI payloads
//!   left out (they are scanned as children);
//! - `notags`: the text between tags, lowered, one space where tags and
//!   white space were, plus the targets of `<a href>` and `<img src>`.
//!
//! - `javascript`: each `<script>` (any language) up to and with its
//!   `</script>`, through ClamAV's JavaScript normaliser (`js/`), in the
//!   pieces of its reads (`scripts.rs`).
//!
//! Written from the behaviour of ClamAV 1.x's `htmlnorm.c`, checked by
//! tests/html.rs and tests/js.rs against the files clamscan leaves with
//! `--leave-temps`. Script-encoded blocks (`<script
//! language="JScript.Encode">#@~^…`) are decoded where they stand
//! (`screnc.rs`), and the decoded script read on as the page's; so are
//! those of ASP pages (`<%@ language="VBScript.Encode" %>`), found
//! as ClamAV finds them, once per read.

mod chars;
mod chunks;
mod js;
mod links;
pub(crate) mod screnc;
mod scripts;

#[cfg(test)]
use chunks::CHUNK;
pub(crate) use chunks::reader_chunks;

use chars::entity;
pub(crate) use links::Link;
use links::{Links, unquote};

/// The normalised forms of a page.
pub(crate) struct Normalized {
    pub(crate) nocomment: Vec<u8>,
    pub(crate) notags: Vec<u8>,
    /// Its scripts, each normalised (`<script>…</script>`, a line feed
    /// between two); empty when the page has none.
    pub(crate) javascript: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum St {
    Norm,
    SkipWs,
    TrimWs,
    Tag,
    TagArg,
    TagArgEqual,
    TagArgVal,
    Comment,
    ProcessTag,
    CharRef,
    EntityDecode,
    CharRefDecode,
    EightBit,
    DataUri,
    /// After `<script language="jscript.encode">`: looking for `#@~^`.
    JsDecode,
    /// The block's length field.
    JsLength,
    /// The block's encoded characters.
    JsDecrypt,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    No,
    Single,
    Double,
}

/// ClamAV keeps tag names, attribute names and values to this length.
const STR_LEN: usize = 1024;

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

struct Norm {
    o2: Vec<u8>,
    text: Vec<u8>,
    state: St,
    next: St,
    in_script: bool,
    space_written: bool,
    tag: Vec<u8>,
    arg: Vec<u8>,
    val: Vec<u8>,
    args: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    quoted: Quote,
    entity: Vec<u8>,
    value: u64,
    hex: bool,
    mbchar: u32,
    /// A multi-byte character of an attribute value: ClamAV writes it
    /// out only when an ASCII byte of a value follows, in this value or
    /// in any later one, and never forgets it in between.
    mbchar2: u32,
    /// Collecting the page's links for the phishing check.
    links: Option<Links>,
    /// An encoded script block being decoded (it may span chunks).
    screnc: Option<screnc::Decoder>,
    /// After an ASP page's `<%@ language=…encode %>`: each read is
    /// searched for a block (ClamAV's `look_for_screnc`).
    asp: bool,
    /// That tag was just read: search the rest of this read.
    asp_search: bool,
    /// A block found in this read: where its length field starts.
    asp_jump: Option<usize>,
    /// Scripts are normalised (not when only links are wanted).
    js_on: bool,
    /// The script being read, where it starts in the buffer being read
    /// (else at its start), and what of it came before an encoded block.
    js: Option<js::Script>,
    js_begin: Option<usize>,
    js_pending: Vec<u8>,
    javascript: Vec<u8>,
}

/// The links of a page, in page order, for the phishing check.
pub(crate) fn links(data: &[u8]) -> Vec<Link> {
    let mut n = Norm::new(data.len());
    n.links = Some(Links::default());
    n.feed(data);
    let mut l = n.links.unwrap_or_default();
    // An `<a>` still open at the end keeps the text read so far.
    l.close_a();
    l.list
}

pub(crate) fn normalize(data: &[u8]) -> Normalized {
    let mut n = Norm::new(data.len());
    n.js_on = true;
    n.feed(data);
    if let Some(script) = n.js.take() {
        // A script still open at the end of the page is written as far
        // as it goes.
        script.finish(&mut n.javascript);
    }
    Normalized { nocomment: n.o2, notags: n.text, javascript: n.javascript }
}

impl Norm {
    fn new(len: usize) -> Norm {
        Norm {
            o2: Vec::with_capacity(len),
            text: Vec::with_capacity(len / 2),
            state: St::Norm,
            next: St::Norm,
            in_script: false,
            space_written: false,
            tag: Vec::new(),
            arg: Vec::new(),
            val: Vec::new(),
            args: Vec::new(),
            quoted: Quote::No,
            entity: Vec::new(),
            value: 0,
            hex: false,
            mbchar: 0,
            mbchar2: 0,
            links: None,
            screnc: None,
            asp: false,
            asp_search: false,
            asp_jump: None,
            js_on: false,
            js: None,
            js_begin: None,
            js_pending: Vec::new(),
            javascript: Vec::new(),
        }
    }

    fn feed(&mut self, data: &[u8]) {
        for chunk in reader_chunks(data) {
            // ClamAV's normaliser skips the white space each chunk starts
            // with.
            let start = chunk
                .iter()
                .position(|&b| !is_space(b))
                .unwrap_or(chunk.len());
            if let Some(l) = &mut self.links
                && l.begin.is_some()
            {
                // An `<a>`'s text goes on from the start of the next chunk,
                // white space included.
                l.begin = Some(0);
            }
            if self.screnc.is_some() {
                // A block of encoded script goes on in this chunk.
                self.goto(St::JsDecrypt, St::Norm);
            } else if self.asp
                && let Some(marked) = self.asp_mark(&chunk, start)
            {
                self.run(&marked, start);
                continue;
            }
            self.run(&chunk, start);
        }
    }

    fn goto(&mut self, state: St, next: St) {
        self.state = state;
        self.next = next;
    }

    fn text_space(&mut self) {
        if !self.space_written && !self.in_script {
            self.text.push(b' ');
            self.space_written = true;
        }
    }

    fn push_val(&mut self, c: u8) {
        if self.val.len() < STR_LEN {
            self.val.push(c);
        }
    }

    fn run(&mut self, chunk: &[u8], start: usize) {
        let mut next = self.run_in(chunk, start);
        while let Some((buf, at)) = next {
            next = self.run_in(&buf, at);
        }
    }

    /// Runs the states over `chunk` from `start`. ClamAV rewrites its
    /// buffer as it reads: an encoded script block is decoded where it
    /// stands, an ASP page's block marker is overwritten. What is
    /// returned (the buffer as rewritten, and where to go on in it) is
    /// read on in place of the rest of `chunk`.
    fn run_in(
        &mut self,
        chunk: &[u8],
        start: usize,
    ) -> Option<(Vec<u8>, usize)> {
        let mut i = start;
        while i < chunk.len() {
            let mut c = chunk[i];
            if c == b'\r' {
                i += 1;
                continue;
            }
            if c == b'\n' {
                c = b' ';
            }
            match self.state {
                St::SkipWs => {
                    if is_space(c) {
                        i += 1;
                    } else {
                        self.state = self.next;
                    }
                }
                St::TrimWs => {
                    if is_space(c) {
                        i += 1;
                    } else {
                        if !self.in_script {
                            self.o2.push(b' ');
                        }
                        self.state = self.next;
                    }
                }
                St::EightBit => {
                    if c < 0x80 || self.mbchar >= 0x10000 {
                        self.flush_mbchar();
                        self.state = self.next;
                    } else {
                        self.mbchar = self.mbchar << 8 | c as u32;
                        i += 1;
                    }
                }
                St::Norm => {
                    if c == b'<' {
                        if let Some(l) = &mut self.links {
                            l.run_to(chunk, i);
                            l.begin = None;
                        }
                        self.o2.push(b'<');
                        self.text_space();
                        i += 1;
                        self.tag.clear();
                        self.goto(St::SkipWs, St::Tag);
                    } else if is_space(c) {
                        self.text_space();
                        self.goto(St::TrimWs, St::Norm);
                    } else if c == b'&' {
                        self.text_space();
                        i += 1;
                        self.goto(St::CharRef, St::Norm);
                    } else if c >= 0x80 {
                        self.mbchar = c as u32;
                        i += 1;
                        self.goto(St::EightBit, St::Norm);
                    } else {
                        let mut l = c.to_ascii_lowercase();
                        if self.in_script && l == b'\'' {
                            l = b'"';
                        }
                        self.o2.push(l);
                        if !self.in_script {
                            if c < 0x20 {
                                self.text_space();
                            } else {
                                self.text.push(l);
                                self.space_written = false;
                            }
                        }
                        i += 1;
                    }
                }
                St::Tag => {
                    if self.tag.is_empty() && c == b'!' {
                        if self.in_script {
                            self.o2.push(b'!');
                        } else {
                            // The '<' already written goes with the comment.
                            self.o2.pop();
                        }
                        i += 1;
                        self.goto(St::Comment, St::Norm);
                    } else if c == b'>' {
                        self.o2.push(b'>');
                        i += 1;
                        self.goto(St::SkipWs, St::ProcessTag);
                    } else if !is_space(c) {
                        let l = c.to_ascii_lowercase();
                        self.o2.push(l);
                        // In a script only "</script" is a tag.
                        if self.in_script && self.tag.is_empty() && c != b'/' {
                            self.state = St::Norm;
                        }
                        if self.tag.len() < STR_LEN {
                            self.tag.push(l);
                        }
                        i += 1;
                    } else {
                        self.arg.clear();
                        let after = if self.in_script {
                            St::ProcessTag
                        } else {
                            St::TagArg
                        };
                        self.goto(St::SkipWs, after);
                    }
                }
                St::TagArg => {
                    if c == b'=' {
                        i += 1;
                        self.start_value();
                    } else if is_space(c) {
                        i += 1;
                        self.goto(St::SkipWs, St::TagArgEqual);
                    } else if c == b'>' {
                        self.o2.push(b'>');
                        self.end_bare_arg();
                        i += 1;
                        self.state = St::ProcessTag;
                    } else {
                        if self.arg.is_empty() {
                            self.o2.push(b' ');
                        }
                        let l = c.to_ascii_lowercase();
                        self.o2.push(l);
                        if self.arg.len() < STR_LEN {
                            self.arg.push(l);
                        }
                        i += 1;
                    }
                }
                St::TagArgEqual => {
                    if c == b'=' {
                        i += 1;
                        self.start_value();
                    } else {
                        self.end_bare_arg();
                        self.state = St::TagArg;
                    }
                }
                St::TagArgVal => {
                    if self.val == b"data:" || self.val == b"\"data:" {
                        // RFC 2397 data: the payload is a child of its own
                        // (unpack::html_data_uris), not part of the page.
                        self.o2.pop();
                        if self.quoted != Quote::No {
                            self.o2.push(b'"');
                        }
                        self.val.clear();
                        self.state = St::DataUri;
                        continue;
                    }
                    if c == b'&' {
                        i += 1;
                        self.goto(St::CharRef, St::TagArgVal);
                    } else if c == b'\'' || c == b'"' {
                        // ClamAV tracks a backslash escape here, but checks
                        // it against the byte after the quote, so a quote
                        // is never escaped; neither is it here.
                        let kind = if c == b'\'' {
                            Quote::Single
                        } else {
                            Quote::Double
                        };
                        self.o2.push(b'"');
                        self.push_val(b'"');
                        i += 1;
                        if self.val.len() == 1 {
                            self.quoted = kind;
                        } else if self.quoted == kind {
                            self.end_value();
                            self.goto(St::SkipWs, St::TagArg);
                        }
                    } else if is_space(c) || c == b'>' {
                        if self.quoted == Quote::No {
                            self.end_value();
                            self.goto(St::SkipWs, St::TagArg);
                        } else {
                            self.o2.push(c);
                            self.push_val(if c == b'>' { b'>' } else { b' ' });
                            // A quoted value that spans white space is
                            // unquoted from there on, as in ClamAV.
                            self.quoted = Quote::No;
                            i += 1;
                            self.goto(St::SkipWs, St::TagArgVal);
                        }
                    } else {
                        if self.mbchar2 != 0
                            && (c < 0x80 || self.mbchar2 >= 0x10000)
                            && self.flush_mbchar2(c)
                        {
                            i += 1;
                            continue;
                        }
                        if c >= 0x80 {
                            // Held until an ASCII byte of a value, this one
                            // or a later one, as ClamAV holds it.
                            self.mbchar2 = self.mbchar2 << 8 | c as u32;
                        } else {
                            self.o2.push(c.to_ascii_lowercase());
                            self.push_val(c);
                        }
                        i += 1;
                    }
                }
                St::DataUri => {
                    let end = match self.quoted {
                        Quote::Single => c == b'\'',
                        Quote::Double => c == b'"',
                        Quote::No => is_space(c) || c == b'>',
                    };
                    i += 1;
                    if end {
                        self.quoted = Quote::No;
                        self.arg.clear();
                        self.goto(St::SkipWs, St::TagArg);
                    }
                }
                St::Comment => {
                    if self.in_script && !is_space(c) {
                        let l = c.to_ascii_lowercase();
                        self.o2.push(if l == b'\'' { b'"' } else { l });
                    }
                    if c == b'>' {
                        self.goto(St::SkipWs, St::Norm);
                    }
                    i += 1;
                }
                St::ProcessTag => {
                    if self.js_on {
                        self.script_tag(chunk, i);
                    }
                    if self.links.is_some() {
                        self.collect_links(i);
                    }
                    let next = self.process_tag();
                    self.goto(St::SkipWs, next);
                    if std::mem::take(&mut self.asp_search)
                        && let Some(marked) = self.asp_mark(chunk, i)
                    {
                        return Some((marked, i));
                    }
                }
                St::JsDecode => i = self.js_decode(chunk, i, c),
                St::JsLength => i = self.js_length(chunk, i),
                St::JsDecrypt => {
                    if let Some(decoded) = self.js_decrypt(chunk, i, c) {
                        self.script_before_block(chunk, i);
                        return Some((decoded, 0));
                    }
                }
                St::CharRef => {
                    if c == b'#' {
                        self.value = 0;
                        self.hex = false;
                        i += 1;
                        self.state = St::CharRefDecode;
                    } else {
                        self.entity.clear();
                        self.state = St::EntityDecode;
                    }
                }
                St::EntityDecode => {
                    if c == b';' {
                        let name = std::mem::take(&mut self.entity);
                        match entity(&name) {
                            Some(bytes) => {
                                for b in bytes {
                                    self.out_ref(b);
                                }
                            }
                            None => {
                                self.out_ref(b'&');
                                for b in name {
                                    self.out_ref(b.to_ascii_lowercase());
                                }
                                self.out_ref(b';');
                            }
                        }
                        i += 1;
                        self.state = self.next;
                    } else if (c.is_ascii_alphanumeric()
                        || matches!(c, b'_' | b':' | b'-'))
                        && self.entity.len() < STR_LEN
                    {
                        self.entity.push(c);
                        i += 1;
                    } else {
                        // Not a reference: written as it was.
                        let name = std::mem::take(&mut self.entity);
                        self.out_ref(b'&');
                        for b in name {
                            self.out_ref(b.to_ascii_lowercase());
                        }
                        self.state = self.next;
                    }
                }
                St::CharRefDecode => {
                    if self.value == 0 && (c == b'x' || c == b'X') && !self.hex
                    {
                        self.hex = true;
                        i += 1;
                    } else if c == b';' {
                        if self.next == St::TagArgVal {
                            self.push_val(self.value as u8);
                        }
                        self.out_code(self.value);
                        i += 1;
                        self.state = self.next;
                    } else if c.is_ascii_digit()
                        || (self.hex && c.is_ascii_hexdigit())
                    {
                        let digit =
                            (c as char).to_digit(16).unwrap_or(0) as u64;
                        let base = if self.hex { 16 } else { 10 };
                        match self
                            .value
                            .checked_mul(base)
                            .and_then(|v| v.checked_add(digit))
                        {
                            Some(v) if v <= i32::MAX as u64 * 16 => {
                                self.value = v;
                                i += 1;
                            }
                            _ => {
                                self.o2.push(self.value as u8);
                                i += 1;
                                self.state = self.next;
                            }
                        }
                    } else {
                        self.o2.push(self.value as u8);
                        self.state = self.next;
                    }
                }
            }
        }
        if let Some(l) = &mut self.links {
            l.run_to(chunk, chunk.len());
        }
        self.script_chunk_end(chunk);
        self.asp_resume(chunk)
    }

    /// `=` after an attribute name: its value follows.
    fn start_value(&mut self) {
        self.o2.push(b'=');
        self.quoted = Quote::No;
        self.val.clear();
        self.goto(St::SkipWs, St::TagArgVal);
    }

    /// An attribute name with no value.
    fn end_bare_arg(&mut self) {
        if !self.arg.is_empty() {
            self.args.push((std::mem::take(&mut self.arg), None));
        }
    }

    fn end_value(&mut self) {
        let arg = std::mem::take(&mut self.arg);
        let val = std::mem::take(&mut self.val);
        self.args.push((arg, Some(val)));
        self.quoted = Quote::No;
    }

    /// The links a tag adds, `at` being where the page goes on after it.
    fn collect_links(&mut self, at: usize) {
        let Some(l) = &mut self.links else { return };
        let tag = &self.tag[..];
        let arg = |name: &[u8]| {
            self.args
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.as_deref())
                .map(unquote)
        };
        if tag.starts_with(b"/") {
            if l.in_a.is_some() {
                if tag == b"/a" {
                    l.close_a();
                }
                l.begin = Some(at);
            }
            if tag == b"/form" {
                l.form_action = None;
            }
            return;
        }
        if matches!(tag, b"script" | b"style" | b"%@") {
            return;
        }
        if l.in_a.is_some() && l.begin.is_none() {
            l.begin = Some(at);
        }
        // A listed URL is quoted once more: ClamAV adds it to its list
        // with the same unquoting.
        let push = |l: &mut Links, tag: &'static str, v: &[u8], c| {
            l.list.push(Link { tag, value: unquote(v), contents: c });
        };
        match tag {
            b"a" => {
                let Some(href) = arg(b"href").filter(|h| !h.is_empty()) else {
                    return;
                };
                if l.in_a.is_some() && l.begin.is_some() {
                    // A new `<a>` ends the one still open.
                    l.close_a();
                }
                if let Some(title) = arg(b"title") {
                    push(l, "href_title", &title, Some(Links::fresh(&href)));
                }
                if let Some(action) = l.form_action.clone() {
                    push(l, "form", &href, Some(Links::fresh(&action)));
                }
                push(l, "href", &href, None);
                l.in_a = Some(l.list.len() - 1);
                l.begin = Some(at);
                l.text.clear();
            }
            b"form" => {
                if let Some(action) = arg(b"action") {
                    l.form_action = Some(action);
                }
            }
            b"img" | b"iframe" | b"area" => {
                let attrs: &[(&[u8], &'static str)] = match tag {
                    b"img" => &[(b"src", "src"), (b"dynsrc", "dynsrc")],
                    b"iframe" => &[(b"src", "iframe")],
                    _ => &[(b"href", "area")],
                };
                for &(name, kind) in attrs {
                    let Some(v) = arg(name).filter(|v| !v.is_empty()) else {
                        continue;
                    };
                    let around = l.in_a.map(|k| l.list[k].value.clone());
                    push(l, kind, &v, around);
                    if let Some(action) = l.form_action.clone() {
                        // ClamAV builds this entry in the buffer that holds
                        // the open `<a>`'s text: what was read of it is lost.
                        l.text.clear();
                        push(l, "form", &v, Some(Links::fresh(&action)));
                    }
                }
            }
            _ => {}
        }
    }

    /// Acts on the tag just read; returns the state after the white space
    /// that follows it.
    fn process_tag(&mut self) -> St {
        let args = std::mem::take(&mut self.args);
        let tag = &self.tag[..];
        if tag.starts_with(b"/") {
            if tag == b"/script" || tag == b"/style" {
                self.in_script = false;
            }
        } else if tag == b"script" || tag == b"style" {
            // Style sheets are read like scripts (clamscan 1.4 leaves
            // their white space and their text out the same way).
            self.in_script = true;
            if tag == b"script" && self.encoded_script_tag(&args) {
                return St::JsDecode;
            }
        } else if tag == b"%@" {
            self.asp_tag(&args);
        } else if tag == b"a" || tag == b"img" {
            let key: &[u8] = if tag == b"a" { b"href" } else { b"src" };
            let value = args
                .iter()
                .find(|(k, _)| k == key)
                .and_then(|(_, v)| v.as_deref())
                .map(|v| match v.strip_prefix(b"\"") {
                    // Quotes come off a quoted value only.
                    Some(inner) => {
                        inner.strip_suffix(b"\"").unwrap_or(inner).to_vec()
                    }
                    None => v.to_vec(),
                });
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                self.text.extend(v);
                self.text.push(b' ');
                self.space_written = true;
            }
        }
        St::Norm
    }
}

#[cfg(test)]
mod tests;
