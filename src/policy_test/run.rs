//! Running a test file's cases with the engine the gateway and replay use, and judging each
//! decision against its expectation.
//!
//! Owns the clock of a run and the comparison. Cases run in order on one compiled engine; case
//! `k` starts `k` days after a fixed epoch, so every rate-limit bucket is full again when a case
//! starts (a day refills any quota) and each case sees only its own steps. Nothing about the
//! verdicts is re-implemented: `Engine::evaluate` decides, this module only compares.

use super::file::{Case, Expect, Step, TestFile};
use policy_engine::{extract_texts, Decision, Engine, Millis, Request, Verdict};
use serde::Serialize;

/// 2026-01-01T00:00:00Z: where the clock of a run starts.
const EPOCH: Millis = 1_767_225_600_000;
/// Time between the starts of two cases.
const CASE_GAP: Millis = 86_400_000;

/// What one case produced.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// Where it is written.
    pub line: u32,
    /// Column.
    pub column: u32,
    /// Whether every step met its expectation.
    pub passed: bool,
    /// What did not hold, one sentence each, with the step and the decision that broke it.
    pub failures: Vec<String>,
    /// The last decision, as the report shows it.
    pub actual: Actual,
    /// Every decision, for coverage (not serialised).
    #[serde(skip)]
    pub decisions: Vec<Decision>,
}

/// A decision as reports show it: never the protected text itself.
#[derive(Debug, Clone, Serialize)]
pub struct Actual {
    /// The verdict; `None` when the request was refused unread (400).
    pub verdict: Option<Verdict>,
    /// The deciding policy.
    pub policy: Option<String>,
    /// The deciding rule.
    pub rule: Option<String>,
    /// Redacted kinds, in order.
    pub redactions: Vec<String>,
    /// The HTTP status the gateway would answer with.
    pub status: u16,
    /// Every match, `policy/rule: excerpt` with the match shown as its marker.
    pub hits: Vec<String>,
}

/// The results of one file, in case order.
#[derive(Debug, Clone, Serialize)]
pub struct FileResult {
    /// The test file.
    pub path: String,
    /// The config the cases ran against.
    pub config: String,
    /// One per case.
    pub cases: Vec<CaseResult>,
}

impl FileResult {
    /// How many cases failed.
    pub fn failed(&self) -> usize {
        self.cases.iter().filter(|c| !c.passed).count()
    }
}

/// The status the gateway answers a decision with (the upstream's own status aside).
pub fn status(v: Verdict) -> u16 {
    match v {
        Verdict::Allow | Verdict::Redact => 200,
        Verdict::Block => 403,
        Verdict::RateLimited => 429,
    }
}

/// Run every case of `file` against `engine` (compiled from the config named `config`).
pub fn run(file: &TestFile, config: &str, engine: &Engine) -> FileResult {
    let cases = file
        .cases
        .iter()
        .enumerate()
        .map(|(k, case)| run_case(case, engine, EPOCH + k as Millis * CASE_GAP))
        .collect();
    FileResult {
        path: file.path.clone(),
        config: config.to_string(),
        cases,
    }
}

fn run_case(case: &Case, engine: &Engine, start: Millis) -> CaseResult {
    let mut failures = Vec::new();
    let mut decisions = Vec::new();
    let sequence = case.steps.len() > 1 || case.steps.iter().any(|s| s.repeat > 1);
    let mut sent = 0;
    let mut refused = None;
    for (j, step) in case.steps.iter().enumerate() {
        for r in 0..step.repeat {
            sent += 1;
            let req = request(step, &case.name, sent);
            let decided = engine.evaluate(&req, start + step.at);
            let which = if sequence {
                let rep = if step.repeat > 1 {
                    format!(", send {} of {}", r + 1, step.repeat)
                } else {
                    String::new()
                };
                format!("step {} (line {}, at {} ms{rep}): ", j + 1, step.line, step.at)
            } else {
                String::new()
            };
            match decided {
                Ok(d) => {
                    for f in judge(&step.expect, &d, &req) {
                        failures.push(format!("{which}{f}"));
                    }
                    decisions.push(d);
                    refused = None;
                }
                Err(e) => {
                    failures.push(format!(
                        "{which}the gateway refuses this request with 400 before any policy runs: {e}"
                    ));
                    refused = Some(e);
                }
            }
        }
    }
    let last = decisions.last().cloned();
    CaseResult {
        name: case.name.clone(),
        line: case.line,
        column: case.column,
        passed: failures.is_empty(),
        failures,
        actual: match (refused, last) {
            (None, Some(d)) => actual(&d),
            (refused, _) => Actual {
                verdict: None,
                policy: None,
                rule: None,
                redactions: Vec::new(),
                status: if refused.is_some() { 400 } else { 200 },
                hits: Vec::new(),
            },
        },
        decisions,
    }
}

fn request(step: &Step, name: &str, n: usize) -> Request {
    Request {
        id: format!("{name}#{n}"),
        path: step.path.clone(),
        client_ip: step.client_ip.clone(),
        headers: step.headers.clone(),
        body: step.body.clone(),
    }
}

/// A decision as reports show it.
pub fn actual(d: &Decision) -> Actual {
    Actual {
        verdict: Some(d.verdict),
        policy: d.policy.map(|p| p.to_string()),
        rule: d.rule.clone(),
        redactions: d.redactions.iter().map(|r| r.kind.clone()).collect(),
        status: status(d.verdict),
        hits: d
            .hits
            .iter()
            .map(|h| format!("{}/{} ({}) in {}: {}", h.policy, h.rule, h.action, h.field, h.excerpt))
            .collect(),
    }
}

/// What of `e` does not hold for `d`, one sentence each.
fn judge(e: &Expect, d: &Decision, req: &Request) -> Vec<String> {
    let mut out = Vec::new();
    let decided = match (&d.policy, &d.rule) {
        (Some(p), Some(r)) => format!("{p} / {r}"),
        (Some(p), None) => p.to_string(),
        _ => "no policy matched".to_string(),
    };
    if e.verdict != d.verdict {
        out.push(format!("expected verdict {}, got {} ({decided})", e.verdict, d.verdict));
    }
    if let Some(p) = e.policy {
        if d.policy != Some(p) {
            out.push(format!("expected policy {p} to decide, got {decided}"));
        }
    }
    if let Some(rule) = &e.rule {
        if d.rule.as_deref() != Some(rule.as_str()) {
            out.push(format!("expected rule `{rule}` to decide, got {decided}"));
        }
    }
    if let Some(want) = &e.redactions {
        let mut want: Vec<&str> = want.iter().map(String::as_str).collect();
        let mut got: Vec<&str> = d.redactions.iter().map(|r| r.kind.as_str()).collect();
        want.sort_unstable();
        want.dedup();
        got.sort_unstable();
        got.dedup();
        if want != got {
            out.push(format!(
                "expected redactions [{}], got [{}]",
                want.join(", "),
                got.join(", ")
            ));
        }
    }
    if let Some(s) = e.status {
        if s != status(d.verdict) {
            out.push(format!(
                "expected status {s}, got {} ({})",
                status(d.verdict),
                d.verdict
            ));
        }
    }
    if !e.forwarded_contains.is_empty() || !e.forwarded_not_contains.is_empty() {
        let forwarded = matches!(d.verdict, Verdict::Allow | Verdict::Redact).then(|| {
            let body = d.body.as_ref().unwrap_or(&req.body);
            extract_texts(body)
                .unwrap_or_default()
                .into_iter()
                .map(|(_, t)| t)
                .collect::<Vec<_>>()
                .join("\n")
        });
        for want in &e.forwarded_contains {
            match &forwarded {
                None => out.push(format!(
                    "expected the upstream to receive `{want}`, but nothing was forwarded ({}, {decided})",
                    d.verdict
                )),
                Some(text) if !text.contains(want.as_str()) => out.push(format!(
                    "expected the upstream to receive `{want}`; it receives: {}",
                    shorten(text)
                )),
                _ => {}
            }
        }
        for unwanted in &e.forwarded_not_contains {
            if let Some(text) = &forwarded {
                if text.contains(unwanted.as_str()) {
                    out.push(format!(
                        "expected the upstream not to receive `{unwanted}`, but it does ({decided})"
                    ));
                }
            }
        }
    }
    if !out.is_empty() && !d.hits.is_empty() {
        let hits: Vec<String> = actual(d).hits;
        out.push(format!("matches: {}", hits.join("; ")));
    }
    out
}

fn shorten(text: &str) -> String {
    let one_line = text.replace('\n', " ⏎ ");
    if one_line.chars().count() > 160 {
        format!("\"{}…\"", one_line.chars().take(160).collect::<String>())
    } else {
        format!("\"{one_line}\"")
    }
}
