//! Where the page's scripts go to the JavaScript normaliser: what
//! ClamAV's page reader hands its script parser, piece by piece.

use super::{Norm, js};

impl Norm {
    /// The end of a read: ClamAV hands the open script what it read of
    /// it in this chunk.
    pub(super) fn script_chunk_end(&mut self, chunk: &[u8]) {
        let Some(script) = &mut self.js else { return };
        let piece = &chunk[self.js_begin.take().unwrap_or(0)..];
        if self.js_pending.is_empty() {
            script.feed(piece);
        } else {
            self.js_pending.extend_from_slice(piece);
            script.feed(&self.js_pending);
            self.js_pending.clear();
        }
    }

    /// A `<script>` starts a script where the page goes on after it (if
    /// none is open); a `</script>` ends the open one, which reads up to
    /// here, its own end tag included, as ClamAV's does.
    pub(super) fn script_tag(&mut self, chunk: &[u8], at: usize) {
        if self.tag == b"script" && self.js.is_none() {
            self.js = Some(js::Script::new());
            self.js_begin = Some(at);
            self.js_pending.clear();
        } else if self.tag == b"/script"
            && let Some(mut script) = self.js.take()
        {
            self.js_pending.extend_from_slice(
                &chunk[self.js_begin.take().unwrap_or(0)..at],
            );
            script.feed(&self.js_pending);
            self.js_pending.clear();
            script.finish(&mut self.javascript);
        }
    }

    /// An encoded block is decoded from `at` on: ClamAV decodes it in
    /// place, so the script reads what came before (its marker and
    /// length field turned into a `//` comment ended by a line feed),
    /// then the decoded text, in one piece.
    pub(super) fn script_before_block(&mut self, chunk: &[u8], at: usize) {
        if self.js.is_none() {
            return;
        }
        let begin = self.js_begin.take().unwrap_or(0).min(at);
        let from = self.js_pending.len();
        self.js_pending.extend_from_slice(&chunk[begin..at]);
        // An ASP page's marker was overwritten already (`asp_mark`).
        if at >= begin + 12
            && (chunk[at - 12..].starts_with(b"#@~^")
                || chunk[at - 12..].starts_with(b"//~^"))
        {
            let p = &mut self.js_pending[from..];
            let n = p.len();
            p[n - 12] = b'/';
            p[n - 11] = b'/';
            p[n - 1] = b'\n';
        }
    }
}
