//! What the YAML reader refuses and why: its limits ([`MAX_DEPTH`], [`ALIAS_NODE_BUDGET`])
//! and its error type ([`YamlError`], classified by [`YamlErrorKind`]).
//!
//! Owns these definitions only. Enforcing the limits and producing the errors is the
//! `builder`'s job; turning an error into a lint diagnostic (code, label, help) is
//! `policy_lint`'s.

use super::spans::Span;

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
