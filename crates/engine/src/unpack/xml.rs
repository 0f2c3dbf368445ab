//! A small pull reader for the XML that containers describe themselves
//! in (a XAR table of contents): elements, their attributes and text, as
//! events in document order. Comments, processing instructions and
//! declarations are passed over, CDATA is text; it checks no
//! well-formedness, so a damaged document is read as far as it goes.

/// One event of the document.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event<'a> {
    /// `<name ...>` or `<name .../>` (then an `End` follows at once):
    /// the local name (any `prefix:` dropped) and the raw attributes.
    Start {
        name: &'a [u8],
        attrs: &'a [u8],
    },
    End {
        name: &'a [u8],
    },
    /// Character data, references not yet decoded.
    Text(&'a [u8]),
}

pub(crate) struct Reader<'a> {
    doc: &'a [u8],
    at: usize,
    /// The end of an empty element, owed after its start.
    pending_end: Option<&'a [u8]>,
}

fn local(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

impl<'a> Reader<'a> {
    pub(crate) fn new(doc: &'a [u8]) -> Reader<'a> {
        Reader { doc, at: 0, pending_end: None }
    }

    /// The whole text up to `until` after the current position, and the
    /// position after it.
    fn upto(&self, from: usize, until: &[u8]) -> (usize, usize) {
        match memchr::memmem::find(&self.doc[from..], until) {
            Some(i) => (from + i, from + i + until.len()),
            None => (self.doc.len(), self.doc.len()),
        }
    }

    /// The document's text from the end of the element just started to
    /// the start of its own end tag (its inner XML), moving past it.
    pub(crate) fn inner(&mut self, name: &[u8]) -> &'a [u8] {
        let start = self.at;
        let mut depth = 0usize;
        while let Some((ev, before)) = self.next_at() {
            match ev {
                Event::Start { name: n, .. } if n == name => depth += 1,
                Event::End { name: n } if n == name => {
                    if depth == 0 {
                        return &self.doc[start..before];
                    }
                    depth -= 1;
                }
                _ => {}
            }
        }
        &self.doc[start..]
    }

    /// The next event and where it began.
    fn next_at(&mut self) -> Option<(Event<'a>, usize)> {
        if let Some(name) = self.pending_end.take() {
            return Some((Event::End { name }, self.at));
        }
        loop {
            let d = self.doc;
            let start = self.at;
            if start >= d.len() {
                return None;
            }
            if d[start] != b'<' {
                let end = memchr::memchr(b'<', &d[start..])
                    .map_or(d.len(), |i| start + i);
                self.at = end;
                return Some((Event::Text(&d[start..end]), start));
            }
            let rest = &d[start..];
            if rest.starts_with(b"<!--") {
                self.at = self.upto(start + 4, b"-->").1;
                continue;
            }
            if rest.starts_with(b"<![CDATA[") {
                let (end, after) = self.upto(start + 9, b"]]>");
                self.at = after;
                return Some((Event::Text(&d[start + 9..end]), start));
            }
            if rest.starts_with(b"<?") {
                self.at = self.upto(start + 2, b"?>").1;
                continue;
            }
            if rest.starts_with(b"<!") {
                self.at = self.upto(start + 2, b">").1;
                continue;
            }
            let (end, after) = self.upto(start + 1, b">");
            self.at = after;
            let tag = &d[start + 1..end];
            if let Some(name) = tag.strip_prefix(b"/") {
                let name = name.split(u8::is_ascii_whitespace).next()?;
                return Some((Event::End { name: local(name) }, start));
            }
            let (tag, empty) = match tag.strip_suffix(b"/") {
                Some(t) => (t, true),
                None => (tag, false),
            };
            let split = tag
                .iter()
                .position(u8::is_ascii_whitespace)
                .unwrap_or(tag.len());
            let name = local(&tag[..split]);
            if empty {
                self.pending_end = Some(name);
            }
            return Some((Event::Start { name, attrs: &tag[split..] }, start));
        }
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Event<'a>;

    fn next(&mut self) -> Option<Event<'a>> {
        self.next_at().map(|(e, _)| e)
    }
}

/// The value of attribute `name` in raw attributes, references left.
pub(crate) fn attr<'a>(attrs: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let mut rest = attrs;
    loop {
        let eq = memchr::memchr(b'=', rest)?;
        let key = rest[..eq].trim_ascii();
        let after = rest[eq + 1..].trim_ascii_start();
        let quote = *after.first()?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let len = memchr::memchr(quote, &after[1..])?;
        let value = &after[1..1 + len];
        if local(key) == name {
            return Some(value);
        }
        rest = &after[2 + len..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_in_document_order() {
        let doc = b"<?xml version=\"1.0\"?><!-- c --><x:a k='v' m=\"w\">t<b/>\
<![CDATA[<raw>]]></x:a>";
        let ev: Vec<Event<'_>> = Reader::new(doc).collect();
        assert_eq!(
            ev,
            [
                Event::Start { name: b"a", attrs: b" k='v' m=\"w\"" },
                Event::Text(b"t"),
                Event::Start { name: b"b", attrs: b"" },
                Event::End { name: b"b" },
                Event::Text(b"<raw>"),
                Event::End { name: b"a" },
            ]
        );
        assert_eq!(attr(b" k='v' m=\"w\"", b"m"), Some(&b"w"[..]));
        assert_eq!(attr(b" k='v'", b"z"), None);
    }

    #[test]
    fn inner_xml_spans_nested_elements_of_the_same_name() {
        let doc = b"<s><s>a</s><t/></s>after";
        let mut r = Reader::new(doc);
        assert!(matches!(r.next(), Some(Event::Start { name: b"s", .. })));
        assert_eq!(r.inner(b"s"), b"<s>a</s><t/>");
        assert_eq!(r.next(), Some(Event::Text(b"after")));
        // Cut documents end.
        let mut r = Reader::new(b"<a b='");
        assert!(r.next().is_some());
        assert_eq!(r.next(), None);
    }
}
