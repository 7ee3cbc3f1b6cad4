//! The span tree: where each part of a document is written, and lookups by JSON pointer.
//!
//! Owns positions ([`Pos`], [`Span`]), the [`Node`] tree that runs parallel to the document's
//! `serde_json::Value`, and [`Document::locate`], which maps a pointer to the spans of its node
//! (or of its nearest existing ancestor). It does not read YAML (`builder` grows the tree) and
//! does not judge what it points at (that is `policy_lint`'s job).

use crate::pointer;
use serde_json::Value;
use std::collections::HashMap;

/// Mappings with more entries than this get a key index, so reading and locating keep O(1)
/// per step even in a hostile file with 100,000 keys in one mapping; config mappings have
/// about ten, and scanning ten keys is cheaper than hashing one.
pub(super) const WIDE_MAP: usize = 32;

/// A position in the source, as diagnostics print it; ordered as the text runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 0-based column, in characters (not bytes).
    pub col: u32,
}

impl Pos {
    /// The span from here to `end`.
    pub fn to_span(self, end: Pos) -> Span {
        Span { start: self, end }
    }

    pub(super) fn from_saphyr(m: saphyr_parser::Marker) -> Pos {
        Pos {
            line: m.line() as u32,
            col: m.col() as u32,
        }
    }
}

/// A range of the source, start inclusive, end exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First character.
    pub start: Pos,
    /// One past the last character.
    pub end: Pos,
}

impl Span {
    pub(super) fn from_saphyr(s: saphyr_parser::Span) -> Span {
        Span {
            start: Pos::from_saphyr(s.start),
            end: Pos::from_saphyr(s.end),
        }
    }

    /// A span covering `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start,
            end: other.end,
        }
    }
}

/// How a scalar was written: what a diagnostic needs to explain a type error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    /// Unquoted; its type came from the YAML 1.2 core schema.
    Plain,
    /// Single- or double-quoted, a block scalar (`|`, `>`), or tagged: its type was chosen by
    /// the writer, not guessed from the text.
    Quoted,
}

/// One node of the span tree, parallel to the `Value` built beside it.
#[derive(Debug, Clone)]
pub struct Node {
    /// Where the node's value is written (for a collection: from its first to its last token).
    pub span: Span,
    /// Scalar, sequence or mapping, with the children's nodes.
    pub kind: NodeKind,
}

/// The shape of a [`Node`].
#[derive(Debug, Clone)]
pub enum NodeKind {
    /// A scalar, and how it was written.
    Scalar(ScalarKind),
    /// A sequence's items.
    Seq(Vec<Node>),
    /// A mapping's entries, in source order, and for a wide mapping an index from key to
    /// entry (a narrow one is scanned).
    Map(Vec<Entry>, Option<Box<HashMap<String, usize>>>),
}

/// A wide mapping's index from key to entry (see [`WIDE_MAP`]).
pub(super) type KeyIndex = HashMap<String, usize>;

impl NodeKind {
    /// The kind of a mapping, with the key index the builder made for it if it is wide.
    pub(super) fn map(entries: Vec<Entry>, index: Option<KeyIndex>) -> NodeKind {
        NodeKind::Map(entries, index.map(Box::new))
    }
}

impl Node {
    /// How many nodes this one is, itself included: what repeating it through an alias costs.
    pub(super) fn count(&self) -> usize {
        // Iterative: a node may be up to MAX_DEPTH deep, but an alias-built one can be wide.
        let mut count = 0;
        let mut todo = vec![self];
        while let Some(n) = todo.pop() {
            count += 1;
            match &n.kind {
                NodeKind::Scalar(_) => {}
                NodeKind::Seq(items) => todo.extend(items),
                NodeKind::Map(entries, _) => todo.extend(entries.iter().map(|e| &e.value)),
            }
        }
        count
    }
}

/// One key/value pair of a mapping. Entry `i` of a [`NodeKind::Map`] belongs to entry `i`
/// of the JSON object beside it (an `IndexMap`), which holds the key text: keys are not
/// stored twice.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Where the key is written (for a key copied by a `<<` merge: the whole `<<: ...` entry).
    pub key_span: Span,
    /// The value's node.
    pub value: Node,
}

/// A parsed document: its value and where each part of it is written.
#[derive(Debug, Clone)]
pub struct Document {
    /// The document as JSON, ready for schema validation and serde.
    pub value: Value,
    /// The span tree; `locate` maps pointers through it.
    pub root: Node,
}

/// Where a pointer's node is written.
#[derive(Debug, Clone, Copy)]
pub struct Located {
    /// Where the value is written.
    pub value: Span,
    /// Where the key is written, when the node is a mapping entry.
    pub key: Option<Span>,
    /// How the value was written, when it is a scalar.
    pub scalar: Option<ScalarKind>,
    /// The node's first line: for a mapping its first key, else the value. Where a
    /// diagnostic about a whole mapping points, so its label stays one line long.
    pub head: Span,
}

impl Document {
    /// The span of the scalar or key written around `pos`, if any (a `#` there is text, not a
    /// comment).
    pub fn scalar_at(&self, pos: Pos) -> Option<Span> {
        let at = (pos.line, pos.col);
        let contains = |s: &Span| (s.start.line, s.start.col) <= at && at < (s.end.line, s.end.col);
        let mut todo = vec![&self.root];
        while let Some(node) = todo.pop() {
            match &node.kind {
                NodeKind::Scalar(_) => {
                    if contains(&node.span) {
                        return Some(node.span);
                    }
                }
                // A collection's span runs from its first token to its last; an alias copy
                // keeps its anchor's spans, so nothing outside is pruned but the collection.
                NodeKind::Seq(items) => {
                    if contains(&node.span) {
                        todo.extend(items);
                    }
                }
                NodeKind::Map(entries, _) => {
                    if contains(&node.span) {
                        for e in entries {
                            if contains(&e.key_span) && e.key_span.start.line == e.key_span.end.line {
                                return Some(e.key_span);
                            }
                            todo.push(&e.value);
                        }
                    }
                }
            }
        }
        None
    }

    /// The deepest node on the way to `pointer` (RFC 6901): the node itself when it exists,
    /// otherwise its nearest existing ancestor. Never fails: the root is the last resort.
    pub fn locate(&self, pointer: &str) -> Located {
        let mut node = &self.root;
        let mut value = &self.value;
        let mut key = None;
        for token in pointer::tokens(pointer) {
            let next = match (&node.kind, value) {
                (NodeKind::Map(entries, index), Value::Object(map)) => {
                    let i = match index {
                        Some(index) => index.get(token.as_ref()).copied(),
                        None => map.keys().position(|k| *k == token),
                    };
                    i.and_then(|i| {
                        Some((
                            Some(entries.get(i)?.key_span),
                            &entries[i].value,
                            map.get(token.as_ref())?,
                        ))
                    })
                }
                (NodeKind::Seq(items), Value::Array(values)) => token
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| Some((None, items.get(i)?, values.get(i)?))),
                _ => None,
            };
            match next {
                Some((k, n, v)) => {
                    key = k;
                    node = n;
                    value = v;
                }
                None => break,
            }
        }
        let head = match &node.kind {
            NodeKind::Map(entries, _) => entries.first().map_or(node.span, |e| e.key_span),
            _ => node.span,
        };
        Located {
            value: node.span,
            key,
            head,
            scalar: match node.kind {
                NodeKind::Scalar(k) => Some(k),
                _ => None,
            },
        }
    }
}
