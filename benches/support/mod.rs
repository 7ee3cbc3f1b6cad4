//! Inputs shared by the benches.

/// A valid config of at least `bytes` bytes: the seed v0.1.1 plus content-filter rules.
#[allow(dead_code)] // each bench uses what it needs
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
