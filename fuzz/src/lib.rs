//! What each fuzz target checks, as plain functions: the `cargo fuzz` targets call them on
//! libFuzzer's inputs, and the test suite (`tests/suite/fuzz_corpus.rs`) calls them on every
//! committed corpus file, on stable Rust. Each panics when an invariant breaks, which is what
//! both a fuzzer and a test report.

use policy_config::yaml::{self, Node, NodeKind, Pos, ScalarKind, Span};
use policy_engine::{extract_texts, Engine, Request, Text};
use policy_lint::{self as lint, render};
use policy_replay::traffic;
use std::sync::OnceLock;

/// The YAML reader and the whole linter on any text: no panic; the span tree holds to the
/// source ([`yaml_spans`]); every renderer handles the report; a config lint accepts compiles.
pub fn lint_yaml(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else { return };
    yaml_spans(src);
    let report = lint::lint_source("fuzz.yaml", src);
    let reports = std::slice::from_ref(&report);
    let _ = render::human::render(reports, render::human::Style::Plain);
    let _ = render::json::render(reports);
    let _ = render::concise::render(reports);
    let _ = render::github::render(reports);
    if let Some(config) = report
        .config
        .as_ref()
        .filter(|_| report.count(lint::Severity::Error) == 0)
    {
        let _ = Engine::compile(config);
    }
}

/// The byte offset of `pos` (1-based line, 0-based column in characters) in `src`, if `src`
/// has that place: a span is only meaningful if both its ends do.
pub fn offset(src: &str, pos: Pos) -> Option<usize> {
    let mut start = 0;
    for _ in 1..pos.line {
        match src[start..].find('\n') {
            Some(end) => start += end + 1,
            // The line after the last one, at its start: the end of a text with no final newline.
            None if pos.col == 0 => return Some(src.len()),
            None => return None,
        }
    }
    let line = &src[start..src[start..].find('\n').map_or(src.len(), |e| start + e)];
    let col = pos.col as usize;
    let within = line.char_indices().map(|(i, _)| i).chain([line.len()]).nth(col)?;
    Some(start + within)
}

/// The source text a span covers.
pub fn slice(src: &str, span: Span) -> &str {
    let (Some(a), Some(b)) = (offset(src, span.start), offset(src, span.end)) else {
        panic!("span {span:?} lies outside the source {src:?}");
    };
    assert!(a <= b, "span {span:?} ends before it starts in {src:?}");
    &src[a..b]
}

/// Whatever YAML reads, its span tree holds to the source: every span lies inside the text,
/// start before end; a one-line scalar's span, read again on its own, is that scalar (so the
/// span covers exactly its source); every key's span is its key; and the value, written out
/// as JSON (which is YAML), reads back to itself.
pub fn yaml_spans(src: &str) {
    let Ok(doc) = yaml::parse(src) else { return };
    fn walk(src: &str, node: &Node, value: &serde_json::Value) {
        let text = slice(src, node.span);
        match (&node.kind, value) {
            (NodeKind::Scalar(kind), _) => {
                let quoted = text.starts_with(['\'', '"']);
                // A tag or a block indicator lies outside the scalar's span: only plain and
                // quoted scalars on one line are read again alone.
                // An alias (`*name`) spans its own text but reads as its anchor's value.
                let alias = text.starts_with('*');
                if !text.contains('\n') && (quoted || *kind == ScalarKind::Plain) && !text.is_empty() && !alias {
                    let again = yaml::parse(&format!("- {text}\n")).unwrap_or_else(|e| {
                        panic!("the scalar at {:?}, {text:?}, does not read alone: {e:?}", node.span)
                    });
                    assert_eq!(
                        &again.value[0], value,
                        "the scalar at {:?} is {text:?} in {src:?}",
                        node.span
                    );
                }
            }
            (NodeKind::Seq(items), serde_json::Value::Array(values)) => {
                for (n, v) in items.iter().zip(values) {
                    walk(src, n, v);
                }
            }
            (NodeKind::Map(entries, _), serde_json::Value::Object(values)) => {
                for (e, (k, v)) in entries.iter().zip(values) {
                    let key = slice(src, e.key_span);
                    if !key.starts_with("<<") && !key.contains('\n') {
                        // Read again where it stood, as a key: a plain key may end in `:`
                        // (`a:: b`), which anywhere else would start a map.
                        let again = yaml::parse(&format!("{key}: 0\n"));
                        let read = match again
                            .as_ref()
                            .map(|d| d.value.as_object().and_then(|m| m.keys().next()))
                        {
                            Ok(Some(read)) => read.clone(),
                            Ok(None) => panic!("the key at {:?}, {key:?}, does not read alone as a key", e.key_span),
                            Err(err) => panic!("the key at {:?}, {key:?}, does not read alone: {err:?}", e.key_span),
                        };
                        assert_eq!(&read, k, "the key at {:?} in {src:?}", e.key_span);
                    }
                    walk(src, &e.value, v);
                }
            }
            (kind, v) => panic!("the span tree's {kind:?} stands beside {v}"),
        }
    }
    walk(src, &doc.root, &doc.value);
    let json = serde_json::to_string(&doc.value).expect("a value prints");
    let again = yaml::parse(&json).unwrap_or_else(|e| panic!("{json} does not read back: {e:?}"));
    assert_eq!(
        again.value, doc.value,
        "the value of {src:?} does not round-trip through {json}"
    );
}

/// The traffic readers (JSON Lines and HAR) on any text: no panic, and every timestamp they
/// accept prints and reads back to itself.
pub fn traffic(data: &[u8]) {
    let as_read = [traffic::read(data, false), traffic::read(data, true)];
    let as_text = std::str::from_utf8(data).map(traffic::parse);
    for (records, _) in as_read.into_iter().flatten().chain(as_text) {
        for r in records {
            let printed = policy_contract::time::format_rfc3339(r.ts);
            assert_eq!(policy_contract::time::parse_rfc3339(&printed), Some(r.ts), "{printed}");
        }
    }
}

/// The demo config's engine, compiled once.
fn demo() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let src = include_str!("../../fixtures/gateway/demo.yaml");
        let (config, _) = lint::load_config_str("demo.yaml", src).expect("the demo config lints clean");
        Engine::compile(&config).expect("the demo config compiles")
    })
}

/// Request evaluation on any JSON body: no panic; a body is refused or decided; every
/// redaction is a non-empty range of one of its texts; what is forwarded is readable
/// again; and each text's normalised view maps back inside the text, in order.
pub fn evaluate(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let req = Request {
        id: "fuzz".into(),
        path: "/v1/chat/completions".into(),
        client_ip: Some("10.0.0.1".into()),
        body,
        ..Request::default()
    };
    let Ok(texts) = extract_texts(&req.body) else {
        assert!(demo().evaluate(&req, 0).is_err(), "an unreadable body was decided");
        return;
    };
    for (field, text) in &texts {
        let t = Text::new(field.clone(), text.clone());
        let mut last = 0;
        for (i, c) in t.view().char_indices() {
            let (a, b) = t.span(i, i + c.len_utf8());
            assert!(a <= b && b <= text.len(), "{a}..{b} outside {} bytes", text.len());
            assert!(text.is_char_boundary(a) && text.is_char_boundary(b));
            assert!(a >= last, "spans go backwards in {text:?}");
            last = a;
        }
    }
    let d = demo().evaluate(&req, 0).expect("a readable body is decided");
    for r in &d.redactions {
        assert!(r.start < r.end, "an empty redaction: {r:?}");
        assert!(
            texts.iter().any(|(f, _)| *f == r.field),
            "a redaction of no text: {r:?}"
        );
    }
    if let Some(forwarded) = &d.body {
        extract_texts(forwarded).expect("a redacted body is still readable");
    }
}
