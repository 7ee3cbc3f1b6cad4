//! `classify` on two ~1 MB configs (about 8,000 content rules each) that differ in a few
//! hundred places: an inserted rule, changed actions, a removed rule, a restart field.
//!
//! `cargo bench --bench diff`.

// criterion's macros generate undocumented public items.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;

#[path = "support/mod.rs"]
mod support;

/// The binary's allocator, so the figures are the ones users get.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(c: &mut Criterion) {
    let old_text = support::big_config(1 << 20);
    let mut new_text =
        old_text
            .replacen("action: log", "action: block", 300)
            .replacen("version: 1.0.0", "version: 1.1.0", 1);
    new_text = new_text.replacen(
        "      - id: rule-00010\n",
        "      - id: inserted\n        pattern: \"x+\"\n        action: log\n      - id: rule-00010\n",
        1,
    );
    new_text.push_str("gateway:\n  listen: 0.0.0.0:8080\n");
    let old = policy_lint::load_config_str("old.yaml", old_text.as_str())
        .expect("valid")
        .0;
    let new = policy_lint::load_config_str("new.yaml", new_text.as_str())
        .expect("valid")
        .0;
    let plan = policy_diff::classify(&old, &new);
    assert!(
        plan.changes.len() > 300 && plan.class_name() == "restart",
        "{}",
        plan.changes.len()
    );
    let mut g = c.benchmark_group("diff");
    g.sample_size(20);
    g.bench_function("classify_two_1MB_configs", |b| {
        b.iter(|| policy_diff::classify(black_box(&old), black_box(&new)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
