//! Inputs shared by the benches.

/// The head of the generated configs: the seed v0.1.1 up to `content-filter.rules:`.
const HEAD: &str = "pack:\n  name: bench\n  version: 1.0.0\nproviders:\n  targets:\n    - id: openai-primary\n      provider: openai\n      base_url: https://api.openai.com\n      secret_key_ref: { env: OPENAI_API_KEY }\npolicies:\n  chain: [prompt-injection, pii-detector, content-filter]\npolicy:\n  content-filter:\n    rules:\n";

/// `HEAD` plus content-filter rules, each with a distinct regex and `message(i)`, until
/// `enough(text, rules written)`.
fn generated(message: impl Fn(u64) -> String, enough: impl Fn(&str, u64) -> bool) -> String {
    let mut s = String::from(HEAD);
    let mut i = 0u64;
    let mut x = 0x2545_f491_4f6c_dd1du64;
    while !enough(&s, i) {
        // xorshift: distinct, reproducible words so no pattern is a repeat of another.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let word: String = (0..8).map(|k| (b'a' + ((x >> (k * 5)) % 26) as u8) as char).collect();
        let action = ["block", "redact", "log"][(x % 3) as usize];
        s.push_str(&format!(
            "      - id: rule-{i:05}\n        pattern: \"(?i)\\\\b{word}[0-9]{{2,8}}\\\\b\"\n        action: {action}\n        message: \"{}\"\n",
            message(i)
        ));
        i += 1;
    }
    s
}

/// A valid config of at least `bytes` bytes: the seed v0.1.1 plus content-filter rules.
#[allow(dead_code)] // each bench uses what it needs
pub fn big_config(bytes: usize) -> String {
    generated(|i| format!("blocked by rule {i}"), |s, _| s.len() >= bytes)
}

/// The config of the lint speed target: `rules` content-filter rules (10,000 make 1.5 MB), each
/// with a distinct regex and a message. `bench/lint-speed.sh` writes the same file.
#[allow(dead_code)] // each bench uses what it needs
pub fn rules_config(rules: usize) -> String {
    generated(
        |i| format!("blocked by content-filter rule {i} of pack"),
        |_, n| n >= rules as u64,
    )
}

/// A config with the full chain and `rules` content rules (distinct, realistic patterns).
#[allow(dead_code)] // each bench uses what it needs
pub fn chain_config(rules: usize) -> String {
    let mut s = String::from(
        "pack: {name: bench, version: 1.0.0}\nproviders:\n  targets: [{id: m, provider: mock}]\npolicies:\n  chain: [prompt-injection, pii-detector, content-filter, rate-limit, audit-logger]\npolicy:\n  prompt-injection:\n    extra_patterns: [\"(?i)reveal your system prompt\"]\n  rate-limit: {requests_per_minute: 100000000, burst: 100000000}\n  content-filter:\n    rules:\n",
    );
    for i in 0..rules {
        let action = ["log", "redact", "log"][i % 3];
        s.push_str(&format!(
            "      - {{id: rule-{i}, pattern: \"(?i)forbidden-term-{i}[a-z]*\", action: {action}}}\n"
        ));
    }
    s
}

/// A ~1 KiB chat request body with ordinary prose and numbers that are not PII.
#[allow(dead_code)] // each bench uses what it needs
pub fn chat_body_1k(i: usize) -> serde_json::Value {
    let prose = "Could you summarise the release notes for version 2.4.1 of our billing service? \
        The deploy on 2026-11-21 at 10:00 moved 1,250 invoices and took 42 minutes; the error \
        rate stayed under 0.3 percent. We want a short paragraph for the status page, written for \
        customers, that explains what changed, why the maintenance window was needed, and what \
        they should do if an invoice looks wrong. Keep it friendly and under 120 words. ";
    let mut text = String::new();
    while text.len() < 900 {
        text.push_str(prose);
    }
    text.truncate(900);
    serde_json::json!({"model": "gpt-4o-mini", "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": format!("{text} (ticket {i})")}
    ]})
}
