//! The diagnostic: what every check produces and every output format renders.
//!
//! A diagnostic is resolved: it has its source position already (1-based line and column in
//! characters) besides the JSON pointer, so renderers never re-locate anything.

use super::fix::Fix;
use policy_config::yaml::{Pos, Span};
use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Reported; fails the run only under `--deny-warnings`.
    Warning,
    /// The config must not ship: exit code 1.
    Error,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One finding, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Stable code (`P304`), documented by `policy explain`.
    pub code: &'static str,
    /// Rule name (`invalid-regex`).
    pub name: &'static str,
    /// Error or warning.
    pub severity: Severity,
    /// One line saying what is wrong.
    pub message: String,
    /// JSON pointer (RFC 6901) of the offending node; `""` is the document.
    pub pointer: String,
    /// Where in the source: the node itself (for an unknown key: the key).
    pub span: Span,
    /// Short text shown under the snippet at `span`.
    pub label: String,
    /// What to do about it. Never empty.
    pub help: String,
    /// Other places worth showing (a duplicate's first occurrence), with their labels.
    pub related: Vec<(Span, String)>,
    /// How to resolve it automatically, when there is a way.
    pub fix: Option<Fix>,
}

impl Diagnostic {
    /// 1-based line of the start.
    pub fn line(&self) -> u32 {
        self.span.start.line.max(1)
    }
    /// 1-based column (in characters) of the start.
    pub fn column(&self) -> u32 {
        self.span.start.col + 1
    }
    /// 1-based line of the end.
    pub fn end_line(&self) -> u32 {
        self.span.end.line.max(self.line())
    }
    /// 1-based column (in characters) just past the end.
    pub fn end_column(&self) -> u32 {
        if self.span.end == self.span.start || self.span.end.line < self.span.start.line {
            self.column() + 1
        } else {
            self.span.end.col + 1
        }
    }
}

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
