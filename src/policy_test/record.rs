//! `policy test --record-from TRAFFIC`: a starting test file from recorded traffic.
//!
//! Evaluates the traffic in order at its recorded times (as offline replay does), keeps the
//! first request of each distinct (verdict, policy, rule), and writes it as a case whose
//! expectation is today's decision. Texts are masked first: every PII match the built-in
//! detectors find is replaced by a synthetic value of the same type and shape
//! (`jane.doe@example.com`; a test card number with the original's spaces), so the file carries
//! no one's data but still trips the same detector; every other character is recorded as is.
//! A masked request is decided again; if masking changed the decision, the case is left out
//! with a comment saying so. `rate_limited` requests are left out too: a single request cannot
//! reproduce a quota (write a `steps` case for it).

use policy_config::{Config, PiiType};
use policy_engine::detectors::{pii_valid, pii_values};
use policy_engine::{CompileError, Decision, Engine, Verdict};
use policy_replay::traffic::Recorded;
use serde_json::Value;

/// A value of type `t` that its detector accepts, that belongs to no one, and that is written
/// like `found`: a phone number, card number or SSN keeps its `+`, spaces and dashes, only its
/// digits change (`+1 415-555-0134` becomes `+1 415-555-0100`); an e-mail address, an IPv4
/// address or an API key is replaced whole.
fn synthetic(t: PiiType, found: &str) -> String {
    match t {
        PiiType::Email => "jane.doe@example.com".into(),
        PiiType::Ipv4 => "192.0.2.10".into(),
        PiiType::ApiKey => "sk-TEST0000aaaaBBBBcccc1111dddd".into(),
        PiiType::Phone => digits_like(found, "14155550100"),
        PiiType::Ssn => digits_like(found, "219099999"),
        PiiType::CreditCard => {
            // A test number: 4, then 1s, then whichever last digit the detector takes (Luhn).
            let n = found.chars().filter(|c| c.is_numeric()).count();
            let body = format!("4{}", "1".repeat(n.saturating_sub(2)));
            (0..10)
                .map(|last| digits_like(found, &format!("{body}{last}")))
                .find(|c| pii_valid(t, c))
                .unwrap_or_else(|| digits_like(found, &body))
        }
    }
}

/// `found` with its digits (of any script) replaced, in order, by the last digits of
/// `template` (left-padded with zeros when `found` has more); everything else as written.
fn digits_like(found: &str, template: &str) -> String {
    let n = found.chars().filter(|c| c.is_numeric()).count();
    let template: Vec<char> = template.chars().collect();
    let fill: Vec<char> = if n <= template.len() {
        template[template.len() - n..].to_vec()
    } else {
        std::iter::repeat_n('0', n - template.len()).chain(template).collect()
    };
    let mut fill = fill.into_iter();
    found
        .chars()
        .map(|c| if c.is_numeric() { fill.next().unwrap_or('0') } else { c })
        .collect()
}

/// `body` with every PII match in its texts replaced by a synthetic value. Matches are found
/// on the text as recorded, all detectors at once, and replaced where they are: nothing else
/// of the text changes, and a synthetic value is never matched again.
fn mask(body: &Value) -> Value {
    let Ok(mut texts) = policy_engine::extract_texts(body) else {
        return body.clone();
    };
    for (_, text) in texts.iter_mut() {
        let mut masked = String::with_capacity(text.len());
        let mut at = 0;
        // By position; of two at one place, the longer; one that overlaps a kept one is left.
        for (a, b, t) in pii_values(text) {
            if a < at {
                continue;
            }
            masked.push_str(&text[at..a]);
            masked.push_str(&synthetic(t, &text[a..b]));
            at = b;
        }
        masked.push_str(&text[at..]);
        *text = masked;
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
        let body = mask(&r.request.body);
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

#[cfg(test)]
mod tests {
    use super::*;
    use policy_engine::detectors::pii_pattern;
    use regex::Regex;

    /// A recorded text keeps every character that is not personal data, and personal data
    /// keeps its shape: `+1 415-555-0134` used to become `++14155550100`.
    #[test]
    fn masking_keeps_the_text_around_and_the_shape_of_what_it_replaces() {
        let detectors: Vec<(PiiType, Regex)> = PiiType::all()
            .into_iter()
            .map(|t| (t, Regex::new(pii_pattern(t)).unwrap()))
            .collect();
        let text = "Call +1 415-555-0134 (SSN 123-45-6789), card 4000 0566 5566 5556, mail a@acme.com!";
        let body = serde_json::json!({"messages": [{"role": "user", "content": text}]});
        let masked = mask(&body)["messages"][0]["content"].as_str().unwrap().to_string();
        for raw in ["415-555-0134", "123-45-6789", "4000 0566 5566 5556", "a@acme.com"] {
            assert!(!masked.contains(raw), "{raw} in {masked}");
        }
        assert!(masked.starts_with("Call +1 ") && !masked.contains("++"), "{masked}");
        let shape = |s: &str| {
            s.chars()
                .map(|c| if c.is_ascii_digit() { '9' } else { c })
                .collect::<String>()
        };
        let without_mail = |s: &str| s.split(", mail").next().unwrap().to_string();
        assert_eq!(shape(&without_mail(&masked)), shape(&without_mail(text)), "{masked}");
        assert!(masked.ends_with(", mail jane.doe@example.com!"), "{masked}");
        // What is left is still what its detector takes.
        for (t, re) in &detectors {
            for m in re.find_iter(&masked) {
                if [PiiType::CreditCard, PiiType::Ssn].contains(t) {
                    assert!(pii_valid(*t, m.as_str()), "{t:?} {}", m.as_str());
                }
            }
        }
    }
}
