//! What each fuzz target checks, as plain functions: the `cargo fuzz` targets call them on
//! libFuzzer's inputs, and the test suite (`tests/suite/fuzz_corpus.rs`) calls them on every
//! committed corpus file, on stable Rust. Each panics when an invariant breaks, which is what
//! both a fuzzer and a test report.

use policy_config::yaml::fast_compare::{fast, saphyr};
use policy_engine::{extract_texts, Engine, Request, Text};
use policy_lint::{self as lint, render};
use policy_replay::traffic;
use std::sync::OnceLock;

/// The YAML reader and the whole linter on any text: no panic; where the fast reader takes a
/// document it reads the events and spans saphyr reads; every renderer handles the report; a
/// config lint accepts compiles.
pub fn lint_yaml(data: &[u8]) {
    let Ok(src) = std::str::from_utf8(data) else { return };
    if let Some(f) = fast(src) {
        assert_eq!(Some(f), saphyr(src), "the fast reader and saphyr disagree on {src:?}");
    }
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
