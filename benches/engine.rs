//! The engine: one ~1 KiB chat request through the full chain (prompt-injection, pii-detector,
//! content-filter, rate-limit, audit-logger) with 10, 50 and 1,000 content rules; and a
//! request that triggers a redaction. A shadow candidate's evaluation (demo-next.yaml beside
//! demo.yaml on recorded chat requests), alone and taking the active engine's matches. Offline
//! replay of 100,000 requests against two configs.
//!
//! `cargo bench --bench engine`.

// criterion's macros generate undocumented public items.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use policy_engine::{read_texts, Engine, Request, Shared};
use std::hint::black_box;

#[path = "support/mod.rs"]
mod support;

/// The binary's allocator, so the figures are the ones users get.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn engine(rules: usize) -> Engine {
    let config = policy_lint::load_config_str("bench.yaml", &support::chain_config(rules))
        .expect("valid")
        .0;
    Engine::compile(&config).expect("compiles")
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("engine");
    let req = Request {
        id: "r".into(),
        client_ip: Some("10.0.0.1".into()),
        body: support::chat_body_1k(0),
        ..Request::default()
    };
    for rules in [10, 50, 1000] {
        let e = engine(rules);
        g.bench_with_input(BenchmarkId::new("evaluate_1KiB_full_chain", rules), &e, |b, e| {
            b.iter(|| e.evaluate(black_box(&req), 0))
        });
    }
    let e = engine(50);
    let mut pii = req.clone();
    pii.body["messages"][1]["content"] = serde_json::Value::String(format!(
        "{} mail me at jane.roe@example.com",
        pii.body["messages"][1]["content"].as_str().unwrap()
    ));
    g.bench_function("evaluate_1KiB_with_redaction_50_rules", |b| {
        b.iter(|| e.evaluate(black_box(&pii), 0))
    });
    // Non-ASCII text takes the normalised view's slow path (NFKC, look-alikes).
    let mut intl = req.clone();
    intl.body["messages"][1]["content"] = serde_json::Value::String(format!(
        "Grüße aus Köln — «naïve» café ＦＵＬＬ … {}",
        pii.body["messages"][1]["content"].as_str().unwrap()
    ));
    g.bench_function("evaluate_1KiB_non_ascii_50_rules", |b| {
        b.iter(|| e.evaluate(black_box(&intl), 0))
    });
    g.finish();
    shadow(c);

    let old = policy_lint::load_config_str("old.yaml", include_str!("../fixtures/seed/tutorial-v0.1.0.yaml"))
        .unwrap()
        .0;
    let new = policy_lint::load_config_str("new.yaml", include_str!("../fixtures/seed/tutorial-v0.1.1.yaml"))
        .unwrap()
        .0;
    let traffic: Vec<_> = (0..100_000)
        .map(|i| policy_replay::traffic::Recorded {
            line: i + 1,
            ts: i as i64 * 10,
            method: "POST".into(),
            request: Request {
                id: format!("r{i}"),
                client_ip: Some(format!("10.0.{}.{}", i % 7, i % 13)),
                body: support::chat_body_1k(i),
                ..Request::default()
            },
            expect_status: None,
        })
        .collect();
    let mut g = c.benchmark_group("replay");
    g.sample_size(10);
    g.bench_function("offline_100k_requests_two_configs", |b| {
        b.iter(|| policy_replay::offline::replay(&old, &new, black_box(&traffic)).unwrap())
    });
    g.finish();
}

/// The candidate's cost per request on the first 50 chat requests of `chat.jsonl`: decided
/// alone (verdict only), or after the active engine with what it found shared.
fn shadow(c: &mut Criterion) {
    let compile =
        |name: &str, text: &str| Engine::compile(&policy_lint::load_config_str(name, text).unwrap().0).unwrap();
    let active = compile("demo.yaml", include_str!("../fixtures/gateway/demo.yaml"));
    let candidate = compile("demo-next.yaml", include_str!("../fixtures/gateway/demo-next.yaml"));
    let requests: Vec<Request> = include_str!("../fixtures/traffic/chat.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["path"] == "/v1/chat/completions")
        .take(50)
        .map(|v| Request {
            id: v["id"].as_str().unwrap().into(),
            body: v["body"].clone(),
            ..Request::default()
        })
        .filter(|r| read_texts(r).is_ok())
        .collect();
    let read: Vec<_> = requests.iter().map(|r| read_texts(r).unwrap()).collect();
    let mut g = c.benchmark_group("shadow");
    g.bench_function("candidate_alone_50_requests", |b| {
        b.iter(|| {
            for (r, t) in requests.iter().zip(&read) {
                black_box(candidate.evaluate_texts(r, t.clone(), 0, false));
            }
        })
    });
    // The active engine's evaluation is paid either way; what the candidate adds is the
    // difference between this and `active_alone_50_requests`.
    g.bench_function("active_alone_50_requests", |b| {
        b.iter(|| {
            for (r, t) in requests.iter().zip(&read) {
                black_box(active.evaluate_texts(r, t.clone(), 0, true));
            }
        })
    });
    g.bench_function("active_then_candidate_shared_50_requests", |b| {
        b.iter(|| {
            for (r, t) in requests.iter().zip(&read) {
                let mut shared = Shared::new();
                black_box(active.evaluate_shared(r, t.clone(), 0, true, &mut shared));
                black_box(candidate.evaluate_shared(r, t.clone(), 0, false, &mut shared));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
