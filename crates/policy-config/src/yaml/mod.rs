//! YAML loading with positions: source text -> (`serde_json::Value`, span tree).
//!
//! This module owns the one YAML reader of the project: [`parse`], its limits and its error
//! type. It walks the `saphyr-parser` event stream itself and builds two things at once: the
//! JSON value that schema validation and serde read, and a [`Node`] tree that keeps the span of
//! every key and value so any JSON pointer maps back to line:column.
//!
//! What it enforces while reading, because these are properties of the YAML and not of the
//! config: one document, YAML 1.2 core-schema scalars (`yes` is a string), no duplicate keys,
//! a nesting limit checked on the event stream, and a budget on alias expansion ("billion
//! laughs"). It does not know the config schema; `policy_lint` does.
//!
//! - `error`: the limits and [`YamlError`], what every other part reports with.
//! - `spans`: positions, the span tree, and [`Document::locate`].
//! - `builder`: events -> value + span tree, with every guard above.
//! - `pairs`: a mapping's keys and values while it is read, with a key index once wide.
//! - `pipeline`: a large input read on a second thread while this one builds (both readers).
//! - `scalars`: the YAML 1.2 core schema (scalar resolution, accepted tags).
//! - `fast/`: the event stream of the common plain subset of YAML without the general scanner
//!   (same events and spans); anything else falls back to `saphyr-parser`.
//!
//! Pointer tokens are escaped and split by `crate::pointer`; `escape` and `unescape`
//! are re-exported here for callers that still name them through this module.

mod builder;
mod error;
mod fast;
mod pairs;
mod pipeline;
mod scalars;
mod spans;

pub use crate::pointer::{escape, unescape};
pub use error::{YamlError, YamlErrorKind, ALIAS_NODE_BUDGET, MAX_DEPTH};
pub use spans::{Document, Entry, Located, Node, NodeKind, Pos, ScalarKind, Span};

/// The fast reader's and saphyr's event streams side by side, for the property tests.
#[doc(hidden)]
pub use fast::compare as fast_compare;

use builder::build;
use saphyr_parser::Parser;

/// Parse one YAML document. Duplicate keys are collected (all of them) and reading goes on;
/// any other error stops reading and is returned alone.
pub fn parse(src: &str) -> Result<Document, Vec<YamlError>> {
    if let Some(doc) = fast::read(src) {
        return Ok(doc);
    }
    parse_general(src)
}

/// [`parse`] with the general scanner only: what a file outside the fast path's subset gets,
/// and what the fast path is tested against.
pub fn parse_general(src: &str) -> Result<Document, Vec<YamlError>> {
    if src.len() < pipeline::MIN_BYTES {
        return build(Parser::new_from_str(src));
    }
    let whole = pipeline::build_beside(|sink| {
        for item in Parser::new_from_str(src) {
            // A scan error is the last event; a refused send means the builder stopped.
            let last = item.is_err();
            if !sink.send(pipeline::Piece::Event(item)) || last {
                break;
            }
        }
        true
    });
    whole.expect("the general reader reads every input whole")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
    fn core_tags_are_read_short_or_verbatim() {
        let doc = parse("a: !<tag:yaml.org,2002:str> 1\nb: !!int 2\nc: !<tag:yaml.org,2002:seq> [x]\n").unwrap();
        assert_eq!(doc.value, json!({"a": "1", "b": 2, "c": ["x"]}));
        let errs = parse("a: !<tag:example.com,2000:x> 1\n").unwrap_err();
        assert_eq!(errs[0].kind, YamlErrorKind::Unsupported);
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

    #[test]
    fn aliases_without_a_finished_anchor_are_unknown_anchors() {
        // Named by no anchor: the parser refuses it.
        let errs = parse("a: *nowhere\n").unwrap_err();
        assert_eq!(errs[0].kind, YamlErrorKind::UnknownAnchor);
        // Inside the node its anchor names: the builder refuses it.
        let errs = parse("a: &x\n  b: *x\n").unwrap_err();
        assert_eq!(errs[0].kind, YamlErrorKind::UnknownAnchor);
        assert_eq!(errs[0].pointer, "/a/b");
    }
}
