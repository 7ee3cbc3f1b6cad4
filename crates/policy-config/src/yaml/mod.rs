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
//! - `exact`: saphyr's spans of quoted scalars and implicit nulls, made exact.
//! - `builder`: events -> value + span tree, with every guard above.
//! - `pairs`: a mapping's keys and values while it is read, with a key index once wide.
//! - `pipeline`: a large input scanned on a second thread while this one builds.
//! - `scalars`: the YAML 1.2 core schema (scalar resolution, accepted tags).
//!
//! There is one scanner, `saphyr-parser`, for every file, every size and every caller (lint,
//! the LSP, the gateway's reload): what the gateway enforces is what any YAML 1.2 tool reads
//! from the same text.
//!
//! Pointer tokens are escaped and split by `crate::pointer`; `escape` and `unescape`
//! are re-exported here for callers that still name them through this module.

mod builder;
mod error;
mod exact;
mod pairs;
mod pipeline;
mod scalars;
mod spans;

pub use crate::pointer::{escape, unescape};
pub use error::{YamlError, YamlErrorKind, ALIAS_NODE_BUDGET, MAX_DEPTH};
pub use spans::{Document, Entry, Located, Node, NodeKind, Pos, ScalarKind, Span};

use builder::build;
use exact::Exact;
use saphyr_parser::Parser;

/// Parse one YAML document. Duplicate keys are collected (all of them) and reading goes on;
/// any other error stops reading and is returned alone.
pub fn parse(src: &str) -> Result<Document, Vec<YamlError>> {
    let mut exact = Exact::new(src);
    let events = Parser::new_from_str(src).map(move |item| exact.correct(item));
    if src.len() < pipeline::MIN_BYTES {
        return build(events);
    }
    pipeline::build_beside(|sink| {
        for item in events {
            // A scan error is the last event; a refused send means the builder stopped.
            let last = item.is_err();
            if !sink.send(pipeline::Piece::resolving(item)) || last {
                break;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A file past [`pipeline::MIN_BYTES`] read on two threads builds exactly what one thread
    /// builds: every value and every span, including after an error near the end.
    #[test]
    fn the_pipelined_read_builds_what_one_thread_builds() {
        let mut src = String::from("policy:\n  content-filter:\n    rules:\n");
        for i in 0..3_000 {
            src.push_str(&format!(
                "      # rule {i}\n      - id: rule-{i:05}\n        pattern: \"(?i)\\\\bword{i}\"\n        tags: [a, 'b', {i}]\n        action: {}\n",
                ["block", "redact", "log"][i % 3]
            ));
        }
        let with_anchor = src.replace("action: log\n", "action: &a log\n");
        let broken = format!("{src}  - [unclosed\n");
        for text in [&src, &with_anchor, &format!("{src}after: 1\n"), &broken] {
            assert!(text.len() > pipeline::MIN_BYTES);
            let mut exact = Exact::new(text);
            let one = build(Parser::new_from_str(text).map(|item| exact.correct(item)));
            let two = parse(text);
            match (one, two) {
                (Ok(one), Ok(two)) => {
                    assert_eq!(one.value, two.value);
                    // Every span of the tree, not a sample.
                    assert_eq!(format!("{:?}", one.root), format!("{:?}", two.root));
                }
                (Err(one), Err(two)) => assert_eq!(format!("{one:?}"), format!("{two:?}")),
                (one, two) => panic!("one thread: {:?}, two: {:?}", one.is_ok(), two.is_ok()),
            }
        }
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
