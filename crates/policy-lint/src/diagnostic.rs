//! The diagnostic: what every check produces and every output format renders.
//!
//! A diagnostic is resolved: it has its source position already (1-based line and column in
//! characters) besides the JSON pointer, so renderers never re-locate anything.

use super::fix::Fix;
use policy_config::yaml::Span;
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
