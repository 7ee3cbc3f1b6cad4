//! Positions to byte offsets: where a diagnostic's line and column (characters) fall in the
//! source text, for fixes, suppressions, the schema mapper and the renderers.

use policy_config::yaml::{Pos, Span};

/// Maps line/column positions to byte offsets of one source text.
#[derive(Debug, Clone)]
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    /// Index `src`'s line starts.
    pub fn new(src: &str) -> LineIndex {
        // Counted first: a 50,000-line file would otherwise grow the vector a dozen times,
        // and each large reallocation lands on fresh pages the kernel must zero.
        let mut starts = Vec::with_capacity(memchr::memchr_iter(b'\n', src.as_bytes()).count() + 1);
        starts.push(0);
        starts.extend(memchr::memchr_iter(b'\n', src.as_bytes()).map(|i| i + 1));
        LineIndex { starts }
    }

    /// Byte offset of `pos` in `src` (clamped to the text; the line after the last one is the
    /// end of the text).
    pub fn offset(&self, src: &str, pos: Pos) -> usize {
        if pos.line as usize > self.starts.len() {
            return src.len();
        }
        let line = (pos.line.max(1) as usize - 1).min(self.starts.len() - 1);
        let start = self.starts[line];
        let end = self.starts.get(line + 1).copied().unwrap_or(src.len());
        let text = &src[start..end];
        start + text.char_indices().nth(pos.col as usize).map_or(text.len(), |(i, _)| i)
    }

    /// Byte range of `span` in `src`.
    pub fn range(&self, src: &str, span: Span) -> std::ops::Range<usize> {
        let a = self.offset(src, span.start);
        let b = self.offset(src, span.end).max(a);
        a..b
    }
}
