//! The builder: `saphyr-parser` events -> (`serde_json::Value`, span tree), with the guards.
//!
//! Owns the walk over the event stream (an explicit stack of open collections, no recursion,
//! so hostile nesting cannot overflow the stack) and everything the reader refuses while
//! building: a second document, duplicate keys, nesting past [`MAX_DEPTH`], aliases past
//! [`ALIAS_NODE_BUDGET`] or to an anchor with no finished node, non-scalar keys, and `<<`
//! merges of anything but mappings. What a scalar's text means is `scalars`' job; looking
//! nodes up afterwards is `spans`'. Scanning is the readers' job, and
//! the thread it may run on `pipeline`'s (which may hand over scalars already resolved:
//! `feed_resolved`).

use super::error::{YamlError, YamlErrorKind, ALIAS_NODE_BUDGET, MAX_DEPTH};
use super::pairs::Pairs;
use super::scalars::{check_collection_tag, resolve};
use super::spans::{Document, Entry, Node, NodeKind, Pos, ScalarKind, Span};
use crate::pointer;
use saphyr_parser::{Event, ScalarStyle, Tag};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashMap;

/// One item of the parser's output, as `parse` hands it over (possibly from another thread).
pub(super) type ParserItem<'a> = Result<(Event<'a>, saphyr_parser::Span), saphyr_parser::ScanError>;

/// A collection whose end event has not come yet.
enum Frame {
    Seq {
        /// The start token's span; the node's span runs from here.
        start: Span,
        /// The anchor id to register the finished node under (0: none).
        anchor: usize,
        values: Vec<Value>,
        nodes: Vec<Node>,
    },
    Map {
        /// The start token's span; the node's span runs from here.
        start: Span,
        /// The anchor id to register the finished node under (0: none).
        anchor: usize,
        /// The keys and values so far; `entries` are their nodes, index for index.
        pairs: Pairs,
        entries: Vec<Entry>,
        /// Key read, value not yet: the key, where it is written, and whether it is a `<<`.
        pending: Option<(String, Span, bool)>,
        /// Keys that came from a `<<` merge, so an explicit key may override them once.
        merged: Vec<String>,
    },
}

#[derive(Default)]
struct Builder {
    /// The open collections, outermost first.
    stack: Vec<Frame>,
    /// Finished anchored nodes by the parser's anchor id, with their node count (what each
    /// alias to them costs from the budget).
    anchors: HashMap<usize, (Value, Node, usize)>,
    /// Nodes created by alias expansion so far, against [`ALIAS_NODE_BUDGET`].
    alias_nodes: usize,
    /// Duplicate keys found so far: the only errors after which reading goes on.
    errors: Vec<YamlError>,
}

/// Build one document from the parser's events. Duplicate keys are collected (all of them)
/// and reading goes on; any other error stops reading and is returned alone.
pub(super) fn build<'a>(events: impl Iterator<Item = ParserItem<'a>>) -> Result<Document, Vec<YamlError>> {
    let mut b = Build::default();
    for event in events {
        b.feed(event)?;
    }
    b.finish()
}

/// A document being built, fed one event at a time (the pipeline feeds it batch by batch, so
/// a large file's events are never all buffered).
#[derive(Default)]
pub(super) struct Build {
    b: Builder,
    root: Option<(Value, Node)>,
    documents: usize,
    last_span: Span,
}

impl Build {
    /// Take one event.
    pub(super) fn feed(&mut self, event: ParserItem<'_>) -> Result<(), Vec<YamlError>> {
        let b = &mut self.b;
        let (event, span) = match event {
            Ok(ok) => ok,
            Err(e) => {
                let m = Pos::from_saphyr(*e.marker());
                let span = Span {
                    start: m,
                    end: Pos {
                        line: m.line,
                        col: m.col + 1,
                    },
                };
                // The parser resolves alias names itself: an alias to a name no anchor has
                // declared yet stops it here, not in `alias`.
                if e.info().contains("unknown anchor") {
                    let message = "this alias names no anchor; define `&name` on a node before `*name` refers to it";
                    return Err(vec![b.error(YamlErrorKind::UnknownAnchor, message.into(), span)]);
                }
                // The scanner has its own flow-nesting guard; report it as what it is.
                if e.info().contains("recursion limit") {
                    return Err(vec![b.error(
                        YamlErrorKind::TooDeep,
                        format!("nesting deeper than the parser's limit ({})", e.info()),
                        span,
                    )]);
                }
                return Err(vec![b.error(YamlErrorKind::Syntax, e.info().to_string(), span)]);
            }
        };
        let span = Span::from_saphyr(span);
        self.last_span = span;
        let done = match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(vec![b.error(
                        YamlErrorKind::MultipleDocuments,
                        "a second YAML document starts here; a policy config is exactly one document".into(),
                        span,
                    )]);
                }
                None
            }
            Event::Scalar(text, style, anchor, tag) => Some(b.scalar(text, style, anchor, tag.as_deref(), span)?),
            Event::Alias(id) => Some(b.alias(id, span)?),
            Event::SequenceStart(anchor, tag) => {
                b.check_tag(tag.as_deref(), span)?;
                b.push(
                    Frame::Seq {
                        start: span,
                        anchor,
                        values: Vec::new(),
                        nodes: Vec::new(),
                    },
                    span,
                )?;
                None
            }
            Event::MappingStart(anchor, tag) => {
                b.check_tag(tag.as_deref(), span)?;
                b.push(
                    Frame::Map {
                        start: span,
                        anchor,
                        pairs: Pairs::default(),
                        entries: Vec::new(),
                        pending: None,
                        merged: Vec::new(),
                    },
                    span,
                )?;
                None
            }
            Event::SequenceEnd | Event::MappingEnd => Some(b.pop(span)),
            _ => None,
        };
        match done {
            Some(item) => self.done(item),
            None => Ok(()),
        }
    }

    /// Take an untagged, unanchored scalar that its reader resolved already (the pipeline's
    /// scanning thread does): what [`feed`](Self::feed) does with its event, minus that.
    pub(super) fn feed_resolved(
        &mut self,
        value: Value,
        kind: ScalarKind,
        span: saphyr_parser::Span,
    ) -> Result<(), Vec<YamlError>> {
        let span = Span::from_saphyr(span);
        self.last_span = span;
        let node = Node {
            span,
            kind: NodeKind::Scalar(kind),
        };
        self.done((value, node))
    }

    /// A finished node: into its parent, or it is the root.
    fn done(&mut self, item: (Value, Node)) -> Result<(), Vec<YamlError>> {
        if let Some(finished) = self.b.attach(item)? {
            self.root = Some(finished);
        }
        Ok(())
    }

    /// The document, once every event was fed.
    pub(super) fn finish(self) -> Result<Document, Vec<YamlError>> {
        if !self.b.errors.is_empty() {
            return Err(self.b.errors);
        }
        let last_span = self.last_span;
        let (value, root) = self.root.unwrap_or_else(|| {
            // An empty file is a document whose value is null.
            (
                Value::Null,
                Node {
                    span: Span {
                        start: Pos { line: 1, col: 0 },
                        end: last_span.end,
                    },
                    kind: NodeKind::Scalar(ScalarKind::Plain),
                },
            )
        });
        Ok(Document { value, root })
    }
}

impl Builder {
    /// The pointer of the node being read: O(depth), so only built for an error.
    fn pointer(&self) -> String {
        let mut p = String::new();
        for f in &self.stack {
            match f {
                Frame::Seq { values, .. } => pointer::push(&mut p, &values.len().to_string()),
                Frame::Map {
                    pending: Some((k, _, _)),
                    ..
                } => pointer::push(&mut p, k),
                Frame::Map { .. } => {}
            }
        }
        p
    }

    fn error(&self, kind: YamlErrorKind, message: String, span: Span) -> YamlError {
        YamlError {
            kind,
            message,
            span,
            pointer: self.pointer(),
            related: None,
        }
    }

    fn push(&mut self, frame: Frame, span: Span) -> Result<(), Vec<YamlError>> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(vec![self.error(
                YamlErrorKind::TooDeep,
                format!("nesting deeper than {MAX_DEPTH} levels"),
                span,
            )]);
        }
        if let Some(Frame::Map { pending: None, .. }) = self.stack.last() {
            return Err(vec![self.error(
                YamlErrorKind::Unsupported,
                "a mapping key must be a scalar, not a mapping or a sequence".into(),
                span,
            )]);
        }
        self.stack.push(frame);
        Ok(())
    }

    fn check_tag(&self, tag: Option<&Tag>, span: Span) -> Result<(), Vec<YamlError>> {
        check_collection_tag(tag).map_err(|m| vec![self.error(YamlErrorKind::Unsupported, m, span)])
    }

    fn scalar(
        &mut self,
        text: Cow<'_, str>,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<&Tag>,
        span: Span,
    ) -> Result<(Value, Node), Vec<YamlError>> {
        let (value, kind) =
            resolve(text, style, tag).map_err(|m| vec![self.error(YamlErrorKind::Unsupported, m, span)])?;
        let node = Node {
            span,
            kind: NodeKind::Scalar(kind),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, (value.clone(), node.clone(), 1));
        }
        Ok((value, node))
    }

    fn alias(&mut self, id: usize, span: Span) -> Result<(Value, Node), Vec<YamlError>> {
        let Some((value, node, count)) = self.anchors.get(&id) else {
            // The parser knows the name, so its anchor is on a node still open: the alias is
            // inside the node it would repeat.
            return Err(vec![self.error(
                YamlErrorKind::UnknownAnchor,
                "this alias is inside the node its anchor names; an alias can only repeat a node that ends before it"
                    .into(),
                span,
            )]);
        };
        self.alias_nodes += count;
        if self.alias_nodes > ALIAS_NODE_BUDGET {
            return Err(vec![self.error(
                YamlErrorKind::AliasBudget,
                format!("aliases expand to more than {ALIAS_NODE_BUDGET} nodes"),
                span,
            )]);
        }
        // The alias stands where it is written; what it expands to keeps the anchor's spans,
        // so an error inside points at the definition, as rustc does for macros.
        let mut node = node.clone();
        node.span = span;
        Ok((value.clone(), node))
    }

    fn pop(&mut self, end: Span) -> (Value, Node) {
        // A flow collection's start event spans its `[` or `{`; a block one's is empty.
        let is_flow = |start: Span| start.start != start.end;
        // saphyr's span of a closing `]` or `}` runs on to the next token, over spaces and a
        // comment; the collection itself ends just after the bracket.
        let closing = |end: Span| Pos {
            line: end.start.line,
            col: end.start.col + 1,
        };
        let frame = self.stack.pop().expect("parser emits balanced start/end events");
        let (value, node, anchor) = match frame {
            Frame::Seq {
                start,
                anchor,
                values,
                nodes,
            } => {
                // An item taken from an alias keeps its anchor's (earlier) span: the furthest
                // end, not the last item's, is where the sequence ends.
                let last = nodes.iter().map(|n| n.span.end).max();
                let span = match last {
                    _ if is_flow(start) => start.start.to_span(closing(end)),
                    // Block sequences end where the next token starts; end at the last item instead.
                    Some(last) if end.start.line > last.line => start.start.to_span(last.max(start.start)),
                    _ => start.to(end),
                };
                (
                    Value::Array(values),
                    Node {
                        span,
                        kind: NodeKind::Seq(nodes),
                    },
                    anchor,
                )
            }
            Frame::Map {
                start,
                anchor,
                pairs,
                entries,
                ..
            } => {
                // Entries copied by a `<<` merge, and values taken from an alias, keep their
                // anchor's (earlier) spans: the furthest end is where the mapping ends.
                let last = entries.iter().flat_map(|e| [e.key_span.end, e.value.span.end]).max();
                let span = match last {
                    _ if is_flow(start) => start.start.to_span(closing(end)),
                    // Block mappings end where the next token starts; end at the last value instead.
                    Some(last) if end.start.line > last.line => start.start.to_span(last.max(start.start)),
                    _ => start.to(end),
                };
                let (map, index) = pairs.finish();
                (
                    Value::Object(map),
                    Node {
                        span,
                        kind: NodeKind::map(entries, index),
                    },
                    anchor,
                )
            }
        };
        if anchor != 0 {
            let count = node.count();
            self.anchors.insert(anchor, (value.clone(), node.clone(), count));
        }
        (value, node)
    }

    /// Hand a finished node to its parent; returns it when it is the root.
    fn attach(&mut self, (value, node): (Value, Node)) -> Result<Option<(Value, Node)>, Vec<YamlError>> {
        // The key's earlier position, if it repeats, and the pointer: only made when needed,
        // since building it for every node would cost O(depth) each.
        let (repeat, pointer) = match self.stack.last() {
            Some(Frame::Map {
                pending: Some((key, _, merge)),
                pairs,
                ..
            }) => {
                let repeat = if *merge { None } else { pairs.position(key) };
                let pointer = if *merge || repeat.is_some() {
                    self.pointer()
                } else {
                    String::new()
                };
                (repeat, pointer)
            }
            _ => (None, String::new()),
        };
        let Some(top) = self.stack.last_mut() else {
            return Ok(Some((value, node)));
        };
        match top {
            Frame::Seq { values, nodes, .. } => {
                // A long list (10,000 rules) grows fourfold rather than twofold: every large
                // reallocation lands on fresh pages the kernel must zero, so fewer is faster.
                if values.len() == values.capacity() && values.len() >= 64 {
                    values.reserve(values.len() * 3);
                    nodes.reserve(values.len() * 3);
                }
                values.push(value);
                nodes.push(node);
            }
            Frame::Map {
                pairs,
                entries,
                pending,
                merged,
                ..
            } => match pending.take() {
                None => {
                    let key = match value {
                        Value::String(s) => s,
                        Value::Null => "null".into(),
                        other => other.to_string(),
                    };
                    let is_merge = key == "<<" && matches!(node.kind, NodeKind::Scalar(ScalarKind::Plain));
                    *pending = Some((key, node.span, is_merge));
                }
                Some((_, key_span, true)) => {
                    // `<<: *base` or `<<: [*a, *b]`: keys not yet present are copied in; earlier
                    // sources win, and explicit keys written later override merged ones.
                    let sources: Vec<(&Value, &Node)> = match (&value, &node.kind) {
                        (Value::Object(_), NodeKind::Map(..)) => vec![(&value, &node)],
                        (Value::Array(vs), NodeKind::Seq(ns)) if vs.iter().all(Value::is_object) => {
                            vs.iter().zip(ns).collect()
                        }
                        _ => {
                            return Err(vec![YamlError {
                                kind: YamlErrorKind::Unsupported,
                                message: "a merge key `<<` takes a mapping or a list of mappings".into(),
                                span: node.span,
                                pointer,
                                related: None,
                            }]);
                        }
                    };
                    for (v, n) in sources {
                        let (Value::Object(src), NodeKind::Map(src_entries, _)) = (v, &n.kind) else {
                            continue;
                        };
                        for (e, (k, v)) in src_entries.iter().zip(src) {
                            if pairs.position(k).is_none() {
                                pairs.add(k.clone(), v.clone());
                                entries.push(Entry {
                                    key_span: key_span.to(node.span),
                                    value: e.value.clone(),
                                });
                                merged.push(k.clone());
                            }
                        }
                    }
                }
                Some((key, key_span, false)) => match repeat {
                    // Entries stay index-aligned with the pairs: a key already present
                    // replaces its entry in place, as a map replaces its value.
                    Some(i) => {
                        if let Some(m) = merged.iter().position(|m| *m == key) {
                            merged.swap_remove(m);
                        } else {
                            self.errors.push(YamlError {
                                kind: YamlErrorKind::DuplicateKey,
                                message: format!("duplicate key `{key}`"),
                                span: key_span,
                                pointer,
                                related: Some(entries[i].key_span),
                            });
                        }
                        pairs.replace(i, value);
                        entries[i] = Entry { key_span, value: node };
                    }
                    None => {
                        pairs.add(key, value);
                        entries.push(Entry { key_span, value: node });
                    }
                },
            },
        }
        Ok(None)
    }
}
