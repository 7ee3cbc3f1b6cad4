//! `policy test --record-from TRAFFIC`: a starting test file from recorded traffic.
//!
//! Evaluates the traffic in order at its recorded times (as offline replay does), keeps the
//! first request of each distinct (verdict, policy, rule), and writes it as a case whose
//! expectation is today's decision. Texts are masked first: every PII match the built-in
//! detectors find is replaced by a synthetic value of the same type (`jane.doe@example.com`,
//! a test card number), so the file carries no one's data but still trips the same detector.
//! A masked request is decided again; if masking changed the decision, the case is left out
//! with a comment saying so. `rate_limited` requests are left out too: a single request cannot
//! reproduce a quota (write a `steps` case for it).

use policy_config::{Config, PiiType};
use policy_engine::detectors::{pii_pattern, pii_valid};
use policy_engine::{CompileError, Decision, Engine, Verdict};
use policy_replay::traffic::Recorded;
use regex::Regex;
use serde_json::Value;

/// A value of type `t` that its detector accepts and that belongs to no one.
fn synthetic(t: PiiType) -> &'static str {
    match t {
        PiiType::Email => "jane.doe@example.com",
        PiiType::Phone => "+14155550100",
        PiiType::CreditCard => "4111 1111 1111 1111",
        PiiType::Ssn => "219-09-9999",
        PiiType::Ipv4 => "192.0.2.10",
        PiiType::ApiKey => "sk-TEST0000aaaaBBBBcccc1111dddd",
    }
}

/// `body` with every PII match in its texts replaced by a synthetic value.
fn mask(body: &Value, detectors: &[(PiiType, Regex)]) -> Value {
    let Ok(mut texts) = policy_engine::extract_texts(body) else {
        return body.clone();
    };
    for (_, text) in texts.iter_mut() {
        for (t, re) in detectors {
            let masked = re.replace_all(text, |c: &regex::Captures<'_>| {
                let m = &c[0];
                if pii_valid(*t, m) {
                    synthetic(*t).to_string()
                } else {
                    m.to_string()
                }
            });
            *text = masked.into_owned();
        }
    }
    policy_engine::with_texts(body, texts)
}

fn key(d: &Decision) -> (Verdict, Option<String>, Option<String>) {
    (d.verdict, d.policy.map(|p| p.to_string()), d.rule.clone())
}

/// The test file, as YAML text. `config_line` is what `config:` says.
pub fn record(config_line: &str, config: &Config, traffic: &[Recorded], source: &str) -> Result<String, CompileError> {
    let engine = Engine::compile(config)?;
    // A second engine decides the masked requests, so their rate-limit buckets are their own.
    let check = Engine::compile(config)?;
    let detectors: Vec<(PiiType, Regex)> = PiiType::all()
        .into_iter()
        .filter_map(|t| Regex::new(pii_pattern(t)).ok().map(|re| (t, re)))
        .collect();
    let mut seen = Vec::new();
    let mut cases = String::new();
    let mut left_out = String::new();
    for (n, r) in traffic.iter().enumerate() {
        let id = if r.request.id.is_empty() {
            format!("line {}", r.line)
        } else {
            r.request.id.clone()
        };
        let d = match engine.evaluate(&r.request, r.ts) {
            Ok(d) => d,
            Err(e) => {
                left_out.push_str(&format!("# left out: {id}: the gateway refuses it with 400 ({e})\n"));
                continue;
            }
        };
        let k = key(&d);
        if seen.contains(&k) {
            continue;
        }
        seen.push(k.clone());
        let what = match (&k.1, &k.2) {
            (Some(p), Some(rule)) => format!("{} by {p}/{rule}", k.0),
            _ => k.0.to_string(),
        };
        if d.verdict == Verdict::RateLimited {
            left_out.push_str(&format!(
                "# left out: {what} ({id}): a single request cannot reproduce a quota; write a `steps` case\n"
            ));
            continue;
        }
        let body = mask(&r.request.body, &detectors);
        let mut masked = r.request.clone();
        masked.body = body.clone();
        // Far from the recorded times, so the check engine's buckets are full.
        let again = check.evaluate(&masked, r.ts + (n as i64 + 1) * 86_400_000);
        if again.as_ref().map(key).ok() != Some(k.clone()) {
            let instead = again.map_or_else(|_| "refused".to_string(), |a| a.verdict.to_string());
            left_out.push_str(&format!(
                "# left out: {what} ({id}): with its personal data masked it is decided {instead} instead\n"
            ));
            continue;
        }
        let mut expect = vec![format!("verdict: {}", d.verdict)];
        if let Some(p) = &k.1 {
            expect.push(format!("policy: {p}"));
        }
        if let Some(rule) = &k.2 {
            expect.push(format!("rule: {}", Value::String(rule.clone())));
        }
        if d.verdict == Verdict::Redact {
            let mut kinds: Vec<String> = d.redactions.iter().map(|r| r.kind.clone()).collect();
            kinds.sort();
            kinds.dedup();
            let kinds: Vec<String> = kinds.into_iter().map(|k| Value::String(k).to_string()).collect();
            expect.push(format!("redactions: [{}]", kinds.join(", ")));
        }
        cases.push_str(&format!("  - name: {}\n", Value::String(format!("{what} ({id})"))));
        if let Some(ip) = &r.request.client_ip {
            cases.push_str(&format!("    client_ip: {}\n", Value::String(ip.clone())));
        }
        if r.request.path != "/v1/chat/completions" && r.request.path != "/v1/completions" {
            cases.push_str(&format!("    path: {}\n", Value::String(r.request.path.clone())));
        }
        cases.push_str(&format!("    request: {body}\n"));
        cases.push_str(&format!("    expect: {{ {} }}\n", expect.join(", ")));
    }
    Ok(format!(
        "# Generated by `policy test --record-from {source}`: one case per distinct (verdict,\n\
         # policy, rule) in the traffic, with today's decisions as expectations and personal data\n\
         # replaced by synthetic values. `config` is resolved from this file's folder when relative.\n\
         config: {}\n{left_out}cases:\n{cases}",
        Value::String(config_line.to_string())
    ))
}
