//! The configs the areas start gateways with: free 127.0.0.1 ports, the mock provider or a real
//! loopback upstream. Shared by every area; knows nothing of the harness that runs them.

/// A config on free ports with the mock provider; `{version}`, `{latency}` and `{chain}` vary.
pub fn mock_config(version: &str, latency_ms: u64, chain: &str) -> String {
    format!(
        r#"pack: {{ name: test-pack, version: {version} }}
gateway:
  listen: 127.0.0.1:0
  admin: {{ listen: 127.0.0.1:0 }}
  limits: {{ max_body_bytes: 2048, request_timeout_ms: 800 }}
providers:
  targets:
    - id: mock
      provider: mock
      mock: {{ latency_ms: {latency_ms}, reply: "Hello from the mock." }}
policies:
  chain: [{chain}]
policy:
  audit-logger: {{ path: "{{dir}}/audit.jsonl" }}
"#
    )
}

/// Two configs on free ports that differ in a hot field and in verdicts: A redacts PII, B
/// blocks it (97 of the recorded chat requests change verdict), both under version numbers of
/// their own.
pub fn redact_then_block() -> (String, String) {
    let chain = "prompt-injection, pii-detector, content-filter";
    let a = mock_config("1.0.0", 0, chain);
    let b = mock_config("2.0.0", 0, chain) + "  pii-detector: { action: block }\n";
    (a, b)
}

/// The whole chain: blocks injections, redacts PII, writes the audit log.
pub const FULL_CHAIN: &str = "prompt-injection, pii-detector, audit-logger";

/// A config on free ports whose one target is a real upstream at `base_url` (OpenAI style, key
/// from `TEST_UPSTREAM_KEY`) with `timeout_ms`; the chain blocks injections and redacts PII.
pub fn upstream_config(base_url: &str, timeout_ms: u64) -> String {
    format!(
        r#"pack: {{ name: upstream-pack, version: 1.0.0 }}
gateway:
  listen: 127.0.0.1:0
  admin: {{ listen: 127.0.0.1:0 }}
providers:
  targets:
    - id: primary
      provider: openai
      model: gpt-4o-mini
      base_url: {base_url}
      secret_key_ref: {{ env: TEST_UPSTREAM_KEY }}
      timeout_ms: {timeout_ms}
policies:
  chain: [prompt-injection, pii-detector]
"#
    )
}
