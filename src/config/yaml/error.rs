//! What the YAML reader refuses and why: its limits ([`MAX_DEPTH`], [`ALIAS_NODE_BUDGET`])
//! and its error type ([`YamlError`], classified by [`YamlErrorKind`]).
//!
//! Owns these definitions, and what a scanner error becomes in them. Enforcing the limits
//! and producing the errors is the `builder`'s job; turning an error into a lint diagnostic
//! (code, label, help) is `crate::lint`'s.

use super::spans::{Pos, Span};

/// Deepest nesting of mappings and sequences accepted. The deepest path of a valid config is
/// 6 levels; 64 leaves room for anything hand-written while refusing hostile input before
/// any deep structure exists in memory.
pub const MAX_DEPTH: usize = 64;

/// Most nodes that alias expansion may create, summed over every alias of the document. A
/// 1 MB config has ~100k nodes; a billion-laughs file asks for 10^9 and is refused at the first
/// expansion past this budget, before it allocates.
pub const ALIAS_NODE_BUDGET: usize = 100_000;

/// Why a document could not be read. Each maps to one lint code, and the lint's label and help
/// are chosen from it (never from the message text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YamlErrorKind {
    /// The text is not YAML (scanner or parser error).
    Syntax,
    /// A mapping has the same key twice.
    DuplicateKey,
    /// Alias expansion would exceed [`ALIAS_NODE_BUDGET`].
    AliasBudget,
    /// An alias names no anchor defined before it, or the anchor of a node it is inside.
    UnknownAnchor,
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep,
    /// More than one document in the stream.
    MultipleDocuments,
    /// A key that is a mapping or a sequence, or a tag this reader does not support.
    Unsupported,
}

/// A problem found while reading the YAML.
#[derive(Debug, Clone)]
pub struct YamlError {
    /// Which rule the problem breaks: lint picks its code, label and help from it.
    pub kind: YamlErrorKind,
    /// One line, lowercase start, no trailing period.
    pub message: String,
    /// The token the problem is at: where the diagnostic's label points.
    pub span: Span,
    /// The JSON pointer of the node being read when it happened (best effort).
    pub pointer: String,
    /// The earlier occurrence, for duplicate keys.
    pub related: Option<Span>,
}

/// What the scanner's error `e` is, in this reader's terms: its kind, message and span (the
/// character it stopped at). The builder adds the pointer.
pub(super) fn scan_error(e: &saphyr_parser::ScanError) -> (YamlErrorKind, String, Span) {
    let start = Pos::from_saphyr(*e.marker());
    let end = Pos {
        line: start.line,
        col: start.col + 1,
    };
    let span = start.to_span(end);
    // The parser resolves alias names itself: an alias to a name no anchor has declared yet
    // stops it here, not in the builder.
    if e.info().contains("unknown anchor") {
        let message = "this alias names no anchor; define `&name` on a node before `*name` refers to it";
        return (YamlErrorKind::UnknownAnchor, message.into(), span);
    }
    // The scanner has its own flow-nesting guard; report it as what it is.
    if e.info().contains("recursion limit") {
        let message = format!("nesting deeper than the parser's limit ({})", e.info());
        return (YamlErrorKind::TooDeep, message, span);
    }
    (YamlErrorKind::Syntax, e.info().to_string(), span)
}
