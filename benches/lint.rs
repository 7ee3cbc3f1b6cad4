//! Lint throughput: the speed target's 1.5 MB config (10,000 content-filter rules with distinct
//! regexes), a generated ~1 MB one, the YAML reader alone on both, a seed config (a few KB, what
//! users write), and a batch of 200 small files (the seed configs).
//!
//! `cargo bench --bench lint`. Whole-process figures come from `perf stat` / hyperfine on the
//! release binary; see the README.

// criterion's macros generate undocumented public items.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

#[path = "support/mod.rs"]
mod support;
use support::{big_config, rules_config};

/// The binary's allocator, so the figures are the ones users get.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(c: &mut Criterion) {
    let big = big_config(1 << 20);
    let report = policy_lint::lint_source("big.yaml", big.as_str());
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics.first());

    let target = rules_config(10_000);
    let mut g = c.benchmark_group("lint");
    g.throughput(Throughput::Bytes(target.len() as u64));
    g.sample_size(20);
    g.bench_function("1.5MB_config_10k_rules", |b| {
        b.iter(|| policy_lint::lint_source("big.yaml", black_box(target.as_str())))
    });
    g.bench_function("1.5MB_yaml_read", |b| {
        b.iter(|| policy_config::yaml::parse(black_box(&target)))
    });
    g.finish();

    let mut g = c.benchmark_group("lint");
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.sample_size(20);
    g.bench_function("1MB_config", |b| {
        b.iter(|| policy_lint::lint_source("big.yaml", black_box(big.as_str())))
    });
    g.bench_function("1MB_yaml_read_only", |b| {
        b.iter(|| policy_config::yaml::parse(black_box(&big)))
    });
    g.finish();

    let seeds = [
        include_str!("../fixtures/seed/tutorial-v0.1.0.yaml"),
        include_str!("../fixtures/seed/tutorial-v0.1.1.yaml"),
    ];
    let mut g = c.benchmark_group("lint");
    g.throughput(Throughput::Elements(200));
    g.bench_function("200_small_files", |b| {
        b.iter(|| {
            for i in 0..200 {
                black_box(policy_lint::lint_source("small.yaml", seeds[i % 2]));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
