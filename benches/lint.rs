//! Lint throughput: a generated ~1 MB config (about 8,000 content-filter rules with distinct
//! regexes), the YAML reader alone on it, and a batch of 200 small files (the seed configs).
//!
//! `cargo bench --bench lint`. Whole-process figures come from `perf stat` / hyperfine on the
//! release binary; see the README.

// criterion's macros generate undocumented public items.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

/// The binary's allocator, so the figures are the ones users get.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A valid config of at least `bytes` bytes: the seed v0.1.1 plus content-filter rules.
pub fn big_config(bytes: usize) -> String {
    let mut s = String::from(
        "pack:\n  name: bench\n  version: 1.0.0\nproviders:\n  targets:\n    - id: openai-primary\n      provider: openai\n      base_url: https://api.openai.com\n      secret_key_ref: { env: OPENAI_API_KEY }\npolicies:\n  chain: [prompt-injection, pii-detector, content-filter]\npolicy:\n  content-filter:\n    rules:\n",
    );
    let mut i = 0u64;
    let mut x = 0x2545_f491_4f6c_dd1du64;
    while s.len() < bytes {
        // xorshift: distinct, reproducible words so no pattern is a repeat of another.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let word: String = (0..8).map(|k| (b'a' + ((x >> (k * 5)) % 26) as u8) as char).collect();
        let action = ["block", "redact", "log"][(x % 3) as usize];
        s.push_str(&format!(
            "      - id: rule-{i:05}\n        pattern: \"(?i)\\\\b{word}[0-9]{{2,8}}\\\\b\"\n        action: {action}\n        message: \"blocked by rule {i}\"\n"
        ));
        i += 1;
    }
    s
}

fn bench(c: &mut Criterion) {
    let big = big_config(1 << 20);
    let report = policy::lint::lint_source("big.yaml", big.as_str());
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics.first());

    let mut g = c.benchmark_group("lint");
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.sample_size(20);
    g.bench_function("1MB_config", |b| {
        b.iter(|| policy::lint::lint_source("big.yaml", black_box(big.as_str())))
    });
    g.bench_function("1MB_yaml_read_only", |b| {
        b.iter(|| policy::config::yaml::parse(black_box(&big)))
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
                black_box(policy::lint::lint_source("small.yaml", seeds[i % 2]));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
