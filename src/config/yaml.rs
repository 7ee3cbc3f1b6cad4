//! YAML loading with positions: source text -> (`serde_json::Value`, span tree).
//!
//! This module owns the one YAML reader of the project. It walks the `saphyr-parser` event
//! stream itself (no recursion, so no stack overflow on hostile nesting) and builds two things
//! at once: the JSON value that schema validation and serde read, and a [`Node`] tree that
//! keeps the span of every key and value so any JSON pointer maps back to line:column.
//!
//! What it enforces while reading, because these are properties of the YAML and not of the
//! config: one document, YAML 1.2 core-schema scalars (`yes` is a string), no duplicate keys,
//! a nesting limit checked on the event stream, and a budget on alias expansion ("billion
//! laughs"). It does not know the config schema; `crate::lint` does.

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::collections::HashMap;

/// Deepest nesting of mappings and sequences accepted. The deepest path of a valid config is
/// 6 levels; 64 leaves room for anything hand-written while refusing hostile input before
/// any deep structure exists in memory.
pub const MAX_DEPTH: usize = 64;

/// Most nodes that alias expansion may create, summed over every alias of the document. A
/// 1 MB config has ~100k nodes; a billion-laughs file asks for 10^9 and is refused at the first
/// expansion past this budget, before it allocates.
pub const ALIAS_NODE_BUDGET: usize = 100_000;

/// Mappings with more entries than this get a key index, so locating keeps O(1) per step even
/// in a hostile file with 100,000 keys in one mapping; config mappings have about ten.
const WIDE_MAP: usize = 32;

/// A position in the source: 1-based line, 0-based column in characters, character index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 0-based column, in characters.
    pub col: u32,
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
    fn from_saphyr(s: saphyr_parser::Span) -> Span {
        Span {
            start: pos(s.start),
            end: pos(s.end),
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

fn pos(m: saphyr_parser::Marker) -> Pos {
    Pos {
        line: m.line() as u32,
        col: m.col() as u32,
    }
}

/// How a scalar was written: what a diagnostic needs to explain a type error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalarKind {
    /// Unquoted; its type came from the YAML 1.2 core schema.
    Plain,
    /// Single- or double-quoted, or a block scalar (`|`, `>`): always a string.
    Quoted,
}

/// One node of the span tree, parallel to the `Value` built beside it.
#[derive(Debug, Clone)]
pub struct Node {
    /// Where the node's value is written (for a collection: from its first to its last token).
    pub span: Span,
    /// What the node is.
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

/// One key/value pair of a mapping. Entry `i` of a [`NodeKind::Map`] belongs to entry `i`
/// of the JSON object beside it (an `IndexMap`), which holds the key text: keys are not
/// stored twice.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Where the key is written.
    pub key_span: Span,
    /// The value.
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
    /// The value's span.
    pub value: Span,
    /// The key's span, when the node is a mapping entry.
    pub key: Option<Span>,
    /// How the value was written, when it is a scalar.
    pub scalar: Option<ScalarKind>,
    /// The node's first line: for a mapping its first key, else the value. Where a
    /// diagnostic about a whole mapping points, so its label stays one line long.
    pub head: Span,
}

impl Document {
    /// The deepest node on the way to `pointer` (RFC 6901): the node itself when it exists,
    /// otherwise its nearest existing ancestor. Never fails: the root is the last resort.
    pub fn locate(&self, pointer: &str) -> Located {
        let mut node = &self.root;
        let mut value = &self.value;
        let mut key = None;
        if !pointer.is_empty() {
            for raw in pointer.split('/').skip(1) {
                let token = unescape(raw);
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

/// Unescape one pointer token (RFC 6901): `~1` is `/`, `~0` is `~`.
pub fn unescape(token: &str) -> Cow<'_, str> {
    if token.contains('~') {
        Cow::Owned(token.replace("~1", "/").replace("~0", "~"))
    } else {
        Cow::Borrowed(token)
    }
}

/// Escape one pointer token (RFC 6901).
pub fn escape(token: &str) -> Cow<'_, str> {
    if token.contains(['~', '/']) {
        Cow::Owned(token.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(token)
    }
}

/// Why a document could not be read. Each maps to one lint code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum YamlErrorKind {
    /// The text is not YAML (scanner or parser error).
    Syntax,
    /// A mapping has the same key twice.
    DuplicateKey,
    /// Alias expansion would exceed [`ALIAS_NODE_BUDGET`], or an alias names no anchor.
    AliasBudget,
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
    /// What went wrong.
    pub kind: YamlErrorKind,
    /// One line, lowercase start, no trailing period.
    pub message: String,
    /// Where.
    pub span: Span,
    /// The JSON pointer of the node being read when it happened (best effort).
    pub pointer: String,
    /// The earlier occurrence, for duplicate keys.
    pub related: Option<Span>,
}

enum Frame {
    Seq {
        start: Span,
        anchor: usize,
        values: Vec<Value>,
        nodes: Vec<Node>,
    },
    Map {
        start: Span,
        anchor: usize,
        map: Map<String, Value>,
        entries: Vec<Entry>,
        /// Key read, value not yet.
        pending: Option<(String, Span, bool)>,
        /// Keys that came from a `<<` merge, so an explicit key may override them once.
        merged: Vec<String>,
    },
}

struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Value, Node, usize)>,
    alias_nodes: usize,
    errors: Vec<YamlError>,
}

/// Inputs at least this large are scanned on a second thread while this one builds the tree:
/// scanning is ~2/3 of the cost, building ~1/3, so a 1 MB config reads in about the scan's
/// time. Below it, a thread costs more than it saves.
const PIPELINE_MIN_BYTES: usize = 256 * 1024;

/// Events handed between the threads at once: large enough that the channel costs nothing per
/// event, small enough that building starts early.
const BATCH: usize = 512;

type ParserItem<'a> = Result<(Event<'a>, saphyr_parser::Span), saphyr_parser::ScanError>;

/// Parse one YAML document. Duplicate keys are collected (all of them) and reading goes on;
/// any other error stops reading and is returned alone.
pub fn parse(src: &str) -> Result<Document, Vec<YamlError>> {
    if src.len() < PIPELINE_MIN_BYTES {
        return build(Parser::new_from_str(src));
    }
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<ParserItem<'_>>>(32);
        scope.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            for item in Parser::new_from_str(src) {
                let last = item.is_err();
                batch.push(item);
                if batch.len() == BATCH || last {
                    // A closed channel means the builder stopped at an error: stop scanning.
                    if tx
                        .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                        .is_err()
                        || last
                    {
                        return;
                    }
                }
            }
            let _ = tx.send(batch);
        });
        build(rx.into_iter().flatten())
    })
}

fn build<'a>(events: impl Iterator<Item = ParserItem<'a>>) -> Result<Document, Vec<YamlError>> {
    let mut b = Builder {
        stack: Vec::new(),
        anchors: HashMap::new(),
        alias_nodes: 0,
        errors: Vec::new(),
    };
    let mut root: Option<(Value, Node)> = None;
    let mut documents = 0usize;
    let mut last_span = Span::default();
    for event in events {
        let (event, span) = match event {
            Ok(ok) => ok,
            Err(e) => {
                let m = pos(*e.marker());
                let span = Span {
                    start: m,
                    end: Pos {
                        line: m.line,
                        col: m.col + 1,
                    },
                };
                // The scanner has its own flow-nesting guard; report it as what it is.
                if e.info().contains("unknown anchor") {
                    let message = "this alias names no anchor; define `&name` on a node before `*name` refers to it";
                    return Err(vec![b.error(YamlErrorKind::AliasBudget, message.into(), span)]);
                }
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
        last_span = span;
        let done = match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
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
                        map: Map::new(),
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
        if let Some(item) = done {
            if let Some(finished) = b.attach(item)? {
                root = Some(finished);
            }
        }
    }
    if !b.errors.is_empty() {
        return Err(b.errors);
    }
    let (value, root) = root.unwrap_or_else(|| {
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

impl Builder {
    fn pointer(&self) -> String {
        let mut p = String::new();
        for f in &self.stack {
            match f {
                Frame::Seq { values, .. } => {
                    p.push('/');
                    p.push_str(&values.len().to_string());
                }
                Frame::Map {
                    pending: Some((k, _, _)),
                    ..
                } => {
                    p.push('/');
                    p.push_str(&escape(k));
                }
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
        match tag {
            None => Ok(()),
            Some(t) if t.is_yaml_core_schema() && matches!(t.suffix.as_str(), "map" | "seq") => Ok(()),
            Some(t) => Err(vec![self.error(
                YamlErrorKind::Unsupported,
                format!("unsupported tag `{}{}`", show_handle(t), t.suffix),
                span,
            )]),
        }
    }

    fn scalar(
        &mut self,
        text: Cow<'_, str>,
        style: ScalarStyle,
        anchor: usize,
        tag: Option<&Tag>,
        span: Span,
    ) -> Result<(Value, Node, usize), Vec<YamlError>> {
        let plain = style == ScalarStyle::Plain;
        let value = match tag {
            None if plain => resolve_plain_owned(text),
            None => Value::String(text.into_owned()),
            Some(t) if t.is_yaml_core_schema() => match t.suffix.as_str() {
                "str" => Value::String(text.into_owned()),
                "null" | "bool" | "int" | "float" => {
                    let v = resolve_plain(&text);
                    let ok = match t.suffix.as_str() {
                        "null" => v.is_null(),
                        "bool" => v.is_boolean(),
                        "int" => v.is_i64() || v.is_u64(),
                        _ => v.is_number(),
                    };
                    if !ok {
                        return Err(vec![self.error(
                            YamlErrorKind::Unsupported,
                            format!("`{text}` is not a valid `!!{}`", t.suffix),
                            span,
                        )]);
                    }
                    v
                }
                other => {
                    return Err(vec![self.error(
                        YamlErrorKind::Unsupported,
                        format!("unsupported tag `!!{other}`"),
                        span,
                    )]);
                }
            },
            Some(t) => {
                return Err(vec![self.error(
                    YamlErrorKind::Unsupported,
                    format!("unsupported tag `{}{}`", show_handle(t), t.suffix),
                    span,
                )]);
            }
        };
        let kind = if plain && tag.is_none() {
            ScalarKind::Plain
        } else {
            ScalarKind::Quoted
        };
        let node = Node {
            span,
            kind: NodeKind::Scalar(kind),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, (value.clone(), node.clone(), 1));
        }
        Ok((value, node, 1))
    }

    fn alias(&mut self, id: usize, span: Span) -> Result<(Value, Node, usize), Vec<YamlError>> {
        let Some((value, node, count)) = self.anchors.get(&id) else {
            return Err(vec![self.error(
                YamlErrorKind::AliasBudget,
                "alias to an unknown anchor".into(),
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
        Ok((value.clone(), node, *count))
    }

    fn pop(&mut self, end: Span) -> (Value, Node, usize) {
        let frame = self.stack.pop().expect("parser emits balanced start/end events");
        let (value, node, anchor) = match frame {
            Frame::Seq {
                start,
                anchor,
                values,
                nodes,
            } => {
                let span = match nodes.last() {
                    // Block sequences end where the next token starts; end at the last item instead.
                    Some(last) if end.start.line > last.span.end.line => start.to(last.span),
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
                map,
                entries,
                ..
            } => {
                let span = match entries.last() {
                    // Block mappings end where the next token starts; end at the last value instead.
                    Some(last) if end.start.line > last.value.span.end.line => start.to(last.value.span),
                    _ => start.to(end),
                };
                let index = (entries.len() > WIDE_MAP).then(|| {
                    Box::new(
                        map.keys()
                            .enumerate()
                            .map(|(i, k)| (k.clone(), i))
                            .collect::<HashMap<_, _>>(),
                    )
                });
                (
                    Value::Object(map),
                    Node {
                        span,
                        kind: NodeKind::Map(entries, index),
                    },
                    anchor,
                )
            }
        };
        if anchor != 0 {
            let count = count_nodes(&node);
            self.anchors.insert(anchor, (value.clone(), node.clone(), count));
        }
        (value, node, 0)
    }

    /// Hand a finished node to its parent; returns it when it is the root.
    fn attach(&mut self, (value, node, _): (Value, Node, usize)) -> Result<Option<(Value, Node)>, Vec<YamlError>> {
        // Only computed when needed: building it for every node would cost O(depth) each.
        let pointer_here = |b: &Builder| b.pointer();
        let needs_pointer = match self.stack.last() {
            Some(Frame::Map {
                pending: Some((key, _, merge)),
                map,
                ..
            }) => *merge || map.contains_key(key),
            _ => false,
        };
        let pointer = if needs_pointer {
            pointer_here(self)
        } else {
            String::new()
        };
        let Some(top) = self.stack.last_mut() else {
            return Ok(Some((value, node)));
        };
        match top {
            Frame::Seq { values, nodes, .. } => {
                values.push(value);
                nodes.push(node);
            }
            Frame::Map {
                map,
                entries,
                pending,
                merged,
                ..
            } => match pending.take() {
                None => {
                    let key = match &value {
                        Value::String(s) => s.clone(),
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
                            if !map.contains_key(k) {
                                map.insert(k.clone(), v.clone());
                                entries.push(Entry {
                                    key_span: key_span.to(node.span),
                                    value: e.value.clone(),
                                });
                                merged.push(k.clone());
                            }
                        }
                    }
                }
                Some((key, key_span, false)) => {
                    // Entries stay index-aligned with the map: a key already present replaces
                    // its entry in place, as the map replaces its value.
                    // `contains_key` hashes; the scan for the index only runs on the rare repeat.
                    if map.contains_key(&key) {
                        let i = map.keys().position(|k| *k == key).expect("present");
                        if let Some(m) = merged.iter().position(|m| *m == key) {
                            merged.swap_remove(m);
                        } else {
                            self.errors.push(YamlError {
                                kind: YamlErrorKind::DuplicateKey,
                                message: format!("duplicate key `{key}`"),
                                span: key_span,
                                pointer: pointer.clone(),
                                related: Some(entries[i].key_span),
                            });
                        }
                        map.insert(key, value);
                        entries[i] = Entry { key_span, value: node };
                    } else {
                        map.insert(key, value);
                        entries.push(Entry { key_span, value: node });
                    }
                }
            },
        }
        Ok(None)
    }
}

fn show_handle(t: &Tag) -> &str {
    if t.is_yaml_core_schema() {
        "!!"
    } else {
        &t.handle
    }
}

fn count_nodes(node: &Node) -> usize {
    // Iterative: a node may be up to MAX_DEPTH deep, but an alias-built one can be wide.
    let mut count = 0;
    let mut todo = vec![node];
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

/// [`resolve_plain`], keeping the text's allocation when it becomes a string.
fn resolve_plain_owned(text: Cow<'_, str>) -> Value {
    match text.as_bytes().first() {
        // Most plain scalars are words: no number, bool or null starts with these.
        Some(b) if b.is_ascii_alphabetic() && !matches!(b, b't' | b'T' | b'f' | b'F' | b'n' | b'N') => {
            Value::String(text.into_owned())
        }
        _ => resolve_plain(&text),
    }
}

/// Resolve a plain scalar by the YAML 1.2 core schema: null, bool, int, float, else string.
/// `yes`, `on`, `0777` (octal in 1.1) are strings or decimal here, as YAML 1.2 says.
pub fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF" | ".nan" | ".NaN"
        | ".NAN" => {
            // JSON has no infinities; keep the text so the schema reports a clear type error.
            return Value::String(text.to_string());
        }
        _ => {}
    }
    let bytes = text.as_bytes();
    let first = bytes[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return Value::String(text.to_string());
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            if let Ok(n) = u64::from_str_radix(hex, 16) {
                return Value::Number(n.into());
            }
        }
        return Value::String(text.to_string());
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if !oct.is_empty() && oct.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            if let Ok(n) = u64::from_str_radix(oct, 8) {
                return Value::Number(n.into());
            }
        }
        return Value::String(text.to_string());
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.trim_start_matches('+').parse::<i64>() {
            return Value::Number(n.into());
        }
        if let Ok(n) = text.trim_start_matches('+').parse::<u64>() {
            return Value::Number(n.into());
        }
    }
    if is_core_float(digits) {
        if let Some(n) = text
            .trim_start_matches('+')
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
        {
            return Value::Number(n);
        }
    }
    Value::String(text.to_string())
}

/// `( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?` — the core schema's float.
fn is_core_float(s: &str) -> bool {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
                && !(int.is_empty() && frac.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|b| b.is_ascii_digit()),
    };
    let exp_ok = match exp {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
        }
    };
    mantissa_ok && exp_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn core_schema_scalars() {
        assert_eq!(resolve_plain("yes"), json!("yes"));
        assert_eq!(resolve_plain("on"), json!("on"));
        assert_eq!(resolve_plain("True"), json!(true));
        assert_eq!(resolve_plain("~"), Value::Null);
        assert_eq!(resolve_plain("0x1F"), json!(31));
        assert_eq!(resolve_plain("0o17"), json!(15));
        assert_eq!(resolve_plain("1.0"), json!(1.0));
        assert_eq!(resolve_plain("0.1.0"), json!("0.1.0"));
        assert_eq!(resolve_plain("1e3"), json!(1000.0));
        assert_eq!(resolve_plain("-12"), json!(-12));
        assert_eq!(resolve_plain("12:30"), json!("12:30"));
        assert_eq!(resolve_plain(".5"), json!(0.5));
        assert_eq!(resolve_plain("."), json!("."));
    }

    #[test]
    fn duplicate_keys_are_all_reported() {
        let errs = parse("a: 1\nb: 2\na: 3\nb: 4\n").unwrap_err();
        assert_eq!(errs.len(), 2);
        assert!(errs.iter().all(|e| e.kind == YamlErrorKind::DuplicateKey));
        assert_eq!(errs[0].span.start.line, 3);
        assert_eq!(errs[0].related.unwrap().start.line, 1);
    }

    #[test]
    fn merge_keys_copy_and_explicit_keys_override() {
        let doc = parse("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n").unwrap();
        assert_eq!(doc.value["c"], json!({"x": 1, "y": 3}));
    }

    #[test]
    fn locate_maps_pointers_to_spans() {
        let doc = parse("a:\n  - x: 1\n  - x: 2\n    y: [3, 4]\n").unwrap();
        let l = doc.locate("/a/1/y/1");
        assert_eq!((l.value.start.line, l.value.start.col), (4, 11));
        let l = doc.locate("/a/1/x");
        assert_eq!(l.key.unwrap().start.line, 3);
        // A missing node resolves to its nearest ancestor.
        let l = doc.locate("/a/1/zzz");
        assert_eq!(l.value.start.line, 3);
    }

    #[test]
    fn hostile_inputs_are_refused() {
        let deep = "[".repeat(10_000);
        assert_eq!(parse(&deep).unwrap_err()[0].kind, YamlErrorKind::TooDeep);
        let mut laughs =
            String::from("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        for (i, c) in "bcdefghij".chars().enumerate() {
            let p = (b'a' + i as u8) as char;
            laughs.push_str(&format!("{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"));
        }
        assert_eq!(parse(&laughs).unwrap_err()[0].kind, YamlErrorKind::AliasBudget);
    }
}
