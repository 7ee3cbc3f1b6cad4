//! Policy test files (docs/reference/policy-test-format.md): their shape, and reading one into
//! checked [`Case`]s with every problem located by line and column like a lint finding (code P501).
//!
//! Owns the file format only. Running cases is `run`'s; which config they run against is the
//! caller's (`config:` relative to the file, or `--config`).

use policy_config::yaml::Document;
use policy_config::{pointer, PolicyKind};
use policy_engine::{Millis, Verdict};
use policy_lint::rules::invalid_test_file;
use policy_lint::{self as lint, Diagnostic, FileReport};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A test file as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    config: Option<String>,
    cases: Vec<RawCase>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    name: String,
    request: Option<Value>,
    path: Option<String>,
    client_ip: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    at: Option<RawAt>,
    expect: Option<RawExpect>,
    steps: Option<Vec<RawStep>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    request: Option<Value>,
    client_ip: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    at: Option<RawAt>,
    repeat: Option<u32>,
    expect: RawExpect,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawAt {
    Millis(u64),
    Text(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpect {
    verdict: String,
    policy: Option<String>,
    rule: Option<String>,
    redactions: Option<Vec<String>>,
    forwarded_contains: Option<OneOrMany>,
    forwarded_not_contains: Option<OneOrMany>,
    status: Option<u16>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// `at` must stay below a day: cases start a day apart (`run.rs`).
const MAX_AT: Millis = 86_400_000;

/// A read and checked test file.
#[derive(Debug, Clone)]
pub struct TestFile {
    /// The file as named.
    pub path: String,
    /// `config:` as written (relative to the file), if any.
    pub config: Option<String>,
    /// Its cases, in order.
    pub cases: Vec<Case>,
}

/// One case: one request, or a sequence (rate limits).
#[derive(Debug, Clone)]
pub struct Case {
    /// Its name.
    pub name: String,
    /// Where it starts (1-based line and column of its first key).
    pub line: u32,
    /// Column.
    pub column: u32,
    /// The requests in order, each with what it must produce.
    pub steps: Vec<Step>,
}

/// One request of a case and its expectation.
#[derive(Debug, Clone)]
pub struct Step {
    /// URL path (`/v1/chat/completions`, or `/v1/completions` for a `prompt` body).
    pub path: String,
    /// The JSON body.
    pub body: Value,
    /// Client address, for `rate-limit` keyed by `client_ip`.
    pub client_ip: Option<String>,
    /// Headers, names lowercased.
    pub headers: BTreeMap<String, String>,
    /// Milliseconds after the case started.
    pub at: Millis,
    /// How many times it is sent (at the same time).
    pub repeat: u32,
    /// What each send must produce.
    pub expect: Expect,
    /// Where the expectation is written.
    pub line: u32,
}

/// What a request must produce.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    /// The verdict.
    pub verdict: Verdict,
    /// The deciding policy.
    pub policy: Option<PolicyKind>,
    /// The deciding rule (detector id, PII type, content rule id).
    pub rule: Option<String>,
    /// The redaction kinds (PII types, content rule ids), as a set.
    pub redactions: Option<Vec<String>>,
    /// Texts the upstream must receive.
    pub forwarded_contains: Vec<String>,
    /// Texts the upstream must not receive.
    pub forwarded_not_contains: Vec<String>,
    /// The HTTP status the gateway answers with (200 forwarded, 403 block, 429 rate limited).
    pub status: Option<u16>,
}

/// Read and check a test file. A file that is not a test file comes back as a report of
/// located P1xx/P501 diagnostics.
pub fn read(path: &str, source: String) -> Result<TestFile, Box<FileReport>> {
    let source = Arc::new(source);
    let doc = lint::read_yaml(path, source.clone())?;
    let fail = |diagnostics: Vec<Diagnostic>| Box::new(FileReport::of(path, source.clone(), diagnostics));
    let raw: RawFile = match serde_path_to_error::deserialize(&doc.value) {
        Ok(raw) => raw,
        Err(e) => {
            let message = e.inner().to_string();
            let unknown = message.starts_with("unknown field");
            let help = if unknown {
                "a test file has `config` and `cases`; a case has `name`, `request` and `expect` (or `steps`), and may have `path`, `client_ip`, `headers`, `at`; `policy explain P501` shows the format".to_string()
            } else {
                "`policy explain P501` shows the test file format".to_string()
            };
            return Err(fail(vec![located(
                &doc,
                &pointer::of_serde_path(e.path()),
                unknown,
                message,
                help,
            )]));
        }
    };
    let mut problems = Vec::new();
    let mut cases = Vec::new();
    for (i, c) in raw.cases.into_iter().enumerate() {
        let at = format!("/cases/{i}");
        let head = doc.locate(&at).head;
        match case(c, &at, &doc) {
            Ok(steps) => cases.push(Case {
                name: steps.0,
                line: head.start.line,
                column: head.start.col + 1,
                steps: steps.1,
            }),
            Err((p, message, help)) => problems.push(located(&doc, &p, false, message, help)),
        }
    }
    if cases.is_empty() && problems.is_empty() {
        problems.push(located(
            &doc,
            "/cases",
            false,
            "the file has no cases".into(),
            "add at least one case under `cases:`".into(),
        ));
    }
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    Ok(TestFile {
        path: path.to_string(),
        config: raw.config,
        cases,
    })
}

type Problem = (String, String, String);

fn case(c: RawCase, at: &str, doc: &Document) -> Result<(String, Vec<Step>), Problem> {
    let line_of = |p: &str| doc.locate(p).head.start.line;
    let base_headers: BTreeMap<String, String> = c
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let mut steps = Vec::new();
    match (c.steps, c.expect) {
        (Some(_), Some(_)) => {
            return Err((
                format!("{at}/steps"),
                "a case has either `expect` (one request) or `steps` (a sequence), not both".into(),
                "move the expectation into the steps".into(),
            ))
        }
        (None, None) => {
            return Err((
                at.to_string(),
                format!("case `{}` has no `expect`", c.name),
                "add `expect: { verdict: allow }` (or block, redact, rate_limited), or `steps:`".into(),
            ))
        }
        (None, Some(e)) => {
            let body = c.request.ok_or_else(|| {
                (
                    at.to_string(),
                    format!("case `{}` has no `request`", c.name),
                    "add `request: { messages: [{ role: user, content: \"...\" }] }`".to_string(),
                )
            })?;
            steps.push(Step {
                path: path_for(&body, c.path.as_deref(), &format!("{at}/request"))?,
                body,
                client_ip: c.client_ip.clone(),
                headers: base_headers.clone(),
                at: millis(c.at.as_ref(), &format!("{at}/at"))?,
                repeat: 1,
                expect: expect(e, &format!("{at}/expect"))?,
                line: line_of(&format!("{at}/expect")),
            });
        }
        (Some(list), None) => {
            if list.is_empty() {
                return Err((
                    format!("{at}/steps"),
                    "`steps` is empty".into(),
                    "list the requests of the sequence".into(),
                ));
            }
            let mut last_at = millis(c.at.as_ref(), &format!("{at}/at"))?;
            for (j, s) in list.into_iter().enumerate() {
                let sp = format!("{at}/steps/{j}");
                let body = s.request.or_else(|| c.request.clone()).ok_or_else(|| {
                    (
                        sp.clone(),
                        "this step has no `request` and the case has none to repeat".to_string(),
                        "give the case a `request` (every step sends it) or this step its own".to_string(),
                    )
                })?;
                let step_at = match &s.at {
                    Some(a) => millis(Some(a), &format!("{sp}/at"))?,
                    None => last_at,
                };
                if step_at < last_at {
                    return Err((
                        format!("{sp}/at"),
                        "steps go forward in time: this `at` is before the previous step's".into(),
                        "order the steps by `at`".into(),
                    ));
                }
                last_at = step_at;
                let mut headers = base_headers.clone();
                for (k, v) in s.headers.unwrap_or_default() {
                    headers.insert(k.to_ascii_lowercase(), v);
                }
                steps.push(Step {
                    path: path_for(&body, c.path.as_deref(), &format!("{sp}/request"))?,
                    body,
                    client_ip: s.client_ip.or_else(|| c.client_ip.clone()),
                    headers,
                    at: step_at,
                    repeat: s.repeat.unwrap_or(1).max(1),
                    expect: expect(s.expect, &format!("{sp}/expect"))?,
                    line: line_of(&format!("{sp}/expect")),
                });
            }
        }
    }
    Ok((c.name, steps))
}

fn path_for(body: &Value, path: Option<&str>, at: &str) -> Result<String, Problem> {
    if !body.is_object() || (body.get("messages").is_none() && body.get("prompt").is_none()) {
        return Err((
            at.to_string(),
            "a request is a chat completion body (`messages`) or a legacy completion (`prompt`)".into(),
            "write `request: { model: gpt-4o-mini, messages: [{ role: user, content: \"...\" }] }`".into(),
        ));
    }
    Ok(path.map(str::to_string).unwrap_or_else(|| {
        if body.get("messages").is_some() {
            "/v1/chat/completions".into()
        } else {
            "/v1/completions".into()
        }
    }))
}

/// `at`: milliseconds, or a duration (`1.5s`, `250ms`, `2m`).
fn millis(at: Option<&RawAt>, p: &str) -> Result<Millis, Problem> {
    let bad = |t: &str| {
        (
            p.to_string(),
            format!("`{t}` is not a time offset"),
            "write milliseconds (`1500`) or a duration: `250ms`, `1.5s`, `2m`".to_string(),
        )
    };
    let day = |ms: Millis| {
        if ms < MAX_AT {
            Ok(ms)
        } else {
            Err((
                p.to_string(),
                format!("`at` is {ms} ms: a case lasts less than a day"),
                "cases start a day apart (so each starts with full rate-limit buckets); keep `at` under 24h"
                    .to_string(),
            ))
        }
    };
    match at {
        None => Ok(0),
        Some(RawAt::Millis(ms)) => day(Millis::try_from(*ms).unwrap_or(Millis::MAX)),
        Some(RawAt::Text(t)) => {
            let t = t.trim();
            let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
                (n, 1.0)
            } else if let Some(n) = t.strip_suffix('s') {
                (n, 1000.0)
            } else if let Some(n) = t.strip_suffix('m') {
                (n, 60_000.0)
            } else if let Some(n) = t.strip_suffix('h') {
                (n, 3_600_000.0)
            } else {
                return Err(bad(t));
            };
            let v: f64 = num.trim().parse().map_err(|_| bad(t))?;
            if !v.is_finite() || v < 0.0 {
                return Err(bad(t));
            }
            day((v * scale).round().min(Millis::MAX as f64) as Millis)
        }
    }
}

fn expect(e: RawExpect, p: &str) -> Result<Expect, Problem> {
    let verdict: Verdict = e.verdict.parse().map_err(|err: policy_engine::UnknownVerdict| {
        (
            format!("{p}/verdict"),
            err.to_string(),
            "write one of the verdicts".to_string(),
        )
    })?;
    let policy = match e.policy {
        None => None,
        Some(name) => Some(
            PolicyKind::ALL
                .into_iter()
                .find(|k| k.as_str() == name)
                .ok_or_else(|| {
                    let all: Vec<&str> = PolicyKind::ALL.iter().map(|k| k.as_str()).collect();
                    let hint = lint::rules::did_you_mean(&name, all.iter().copied())
                        .map(|s| format!("did you mean `{s}`? "))
                        .unwrap_or_default();
                    (
                        format!("{p}/policy"),
                        format!("unknown policy `{name}`"),
                        format!("{hint}policies: {}", all.join(", ")),
                    )
                })?,
        ),
    };
    if let Some(status) = e.status {
        if ![200, 403, 429].contains(&status) {
            return Err((
                format!("{p}/status"),
                format!("status {status} is not one the policy chain decides"),
                "the chain answers 200 (forwarded), 403 (block) or 429 (rate_limited)".into(),
            ));
        }
    }
    Ok(Expect {
        verdict,
        policy,
        rule: e.rule,
        redactions: e.redactions,
        forwarded_contains: e.forwarded_contains.map(OneOrMany::into_vec).unwrap_or_default(),
        forwarded_not_contains: e.forwarded_not_contains.map(OneOrMany::into_vec).unwrap_or_default(),
        status: e.status,
    })
}

fn located(doc: &Document, p: &str, key: bool, message: String, help: String) -> Diagnostic {
    let l = doc.locate(p);
    let span = if key { l.key.unwrap_or(l.value) } else { l.value };
    let rule = &invalid_test_file::RULE;
    Diagnostic {
        code: rule.code,
        name: rule.name,
        severity: rule.severity,
        message,
        pointer: p.to_string(),
        span,
        label: "here".into(),
        help,
        related: Vec::new(),
        fix: None,
    }
}
