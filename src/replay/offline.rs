//! Offline replay: every recorded request evaluated under the old and the new config, and
//! what changed.
//!
//! Each config gets its own engine (its own rate-limit buckets) and sees the requests in
//! file order at their recorded `ts`, so the result is deterministic. The two evaluations run
//! on two threads. Also reported: rules added or changed in the new config that no recorded
//! request exercised — what this replay could not test.

use super::traffic::Recorded;
use crate::config::{Config, PolicyKind};
use crate::diff::{self, Op};
use crate::engine::{CompileError, Decision, Engine, Verdict};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// One side of a changed request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    /// The verdict.
    pub verdict: Verdict,
    /// The deciding policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyKind>,
    /// The deciding rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Text around what decided (PII and rule matches shown as markers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub excerpt: Option<String>,
}

impl Side {
    fn of(d: &Decision) -> Side {
        Side {
            verdict: d.verdict,
            policy: d.policy,
            rule: d.rule.clone(),
            excerpt: d.excerpt().map(str::to_string),
        }
    }
}

/// A request whose verdict differs between the configs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changed {
    /// Request id.
    pub id: String,
    /// Under the old config.
    pub old: Side,
    /// Under the new config.
    pub new: Side,
}

/// A rule added or changed in the new config that no request hit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Unexercised {
    /// Where the change is, in the new config.
    pub pointer: String,
    /// The policy.
    pub policy: PolicyKind,
    /// The rule (content rule id, PII type, `extra_patterns/N`), or `*` for the whole policy.
    pub rule: String,
}

/// The replay's findings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Requests evaluated.
    pub requests: usize,
    /// Requests whose verdict changed.
    pub changed: usize,
    /// Counts by `old->new` verdict.
    pub transitions: BTreeMap<String, usize>,
    /// Every changed request, in traffic order.
    pub changes: Vec<Changed>,
    /// Verdict counts under each config.
    pub verdicts: BTreeMap<&'static str, BTreeMap<&'static str, usize>>,
    /// New or changed rules that no request exercised.
    pub unexercised: Vec<Unexercised>,
}

/// Evaluate `traffic` under `old` and `new`.
pub fn replay(old: &Config, new: &Config, traffic: &[Recorded]) -> Result<Report, CompileError> {
    let (a, b) = (Engine::compile(old)?, Engine::compile(new)?);
    let run = |engine: &Engine| -> (Vec<Side>, HashSet<(PolicyKind, String)>) {
        let mut hits = HashSet::new();
        let sides = traffic
            .iter()
            .map(|r| {
                let d = engine.evaluate(&r.request, r.ts);
                for h in &d.hits {
                    hits.insert((h.policy, h.rule.clone()));
                }
                if d.verdict == Verdict::RateLimited {
                    hits.insert((PolicyKind::RateLimit, "*".into()));
                }
                Side::of(&d)
            })
            .collect();
        (sides, hits)
    };
    let ((old_sides, _), (new_sides, new_hits)) = std::thread::scope(|s| {
        let t = s.spawn(|| run(&a));
        let new = run(&b);
        (t.join().expect("replay thread"), new)
    });
    let mut transitions = BTreeMap::new();
    let mut changes = Vec::new();
    let mut verdicts: BTreeMap<&'static str, BTreeMap<&'static str, usize>> = BTreeMap::new();
    for ((r, o), n) in traffic.iter().zip(old_sides).zip(new_sides) {
        *verdicts
            .entry("old")
            .or_default()
            .entry(o.verdict.as_str())
            .or_default() += 1;
        *verdicts
            .entry("new")
            .or_default()
            .entry(n.verdict.as_str())
            .or_default() += 1;
        if o.verdict != n.verdict {
            *transitions
                .entry(format!("{}->{}", o.verdict.as_str(), n.verdict.as_str()))
                .or_default() += 1;
            changes.push(Changed {
                id: r.request.id.clone(),
                old: o,
                new: n,
            });
        }
    }
    Ok(Report {
        requests: traffic.len(),
        changed: changes.len(),
        transitions,
        changes,
        verdicts,
        unexercised: unexercised(old, new, &new_hits),
    })
}

/// The rules a change of `old -> new` added or modified, minus those hit under `new`.
fn unexercised(old: &Config, new: &Config, hits: &HashSet<(PolicyKind, String)>) -> Vec<Unexercised> {
    let plan = diff::classify(old, new);
    let hit_policy = |k: PolicyKind| hits.iter().any(|(p, _)| *p == k);
    let mut out = std::collections::BTreeSet::new();
    let rules = new
        .policy
        .content_filter
        .as_ref()
        .map(|c| c.rules.as_slice())
        .unwrap_or_default();
    for c in plan.changes.iter().filter(|c| c.op != Op::Remove) {
        let tokens: Vec<&str> = c.pointer.split('/').skip(1).collect();
        let mut add = |policy: PolicyKind, rule: String, exercised: bool| {
            if !exercised {
                out.insert(Unexercised {
                    pointer: c.pointer.clone(),
                    policy,
                    rule,
                });
            }
        };
        match tokens.as_slice() {
            ["policy", "content-filter", "rules", i, ..] => {
                if let Some(r) = i.parse::<usize>().ok().and_then(|i| rules.get(i)) {
                    let hit = hits.contains(&(PolicyKind::ContentFilter, r.id.clone()));
                    add(PolicyKind::ContentFilter, r.id.clone(), hit);
                }
            }
            ["policy", "content-filter"] => {
                for r in rules {
                    let hit = hits.contains(&(PolicyKind::ContentFilter, r.id.clone()));
                    add(PolicyKind::ContentFilter, r.id.clone(), hit);
                }
            }
            ["policy", "prompt-injection", "extra_patterns", i] => {
                let rule = format!("extra_patterns/{i}");
                let hit = hits.contains(&(PolicyKind::PromptInjection, rule.clone()));
                add(PolicyKind::PromptInjection, rule, hit);
            }
            ["policy", "pii-detector", "detect", _] => {
                if let Some(t) = c.new.as_ref().and_then(|v| v.as_str()) {
                    let hit = hits.contains(&(PolicyKind::PiiDetector, t.to_string()));
                    add(PolicyKind::PiiDetector, t.to_string(), hit);
                }
            }
            ["policy", kind, ..] | ["policies", "chain", kind] => {
                let kind = if tokens[0] == "policies" {
                    c.new.as_ref().and_then(|v| v.as_str()).unwrap_or(kind)
                } else {
                    kind
                };
                if let Some(k) = PolicyKind::ALL.iter().copied().find(|k| k.as_str() == kind) {
                    if k != PolicyKind::AuditLogger {
                        add(k, "*".into(), hit_policy(k));
                    }
                }
            }
            _ => {}
        }
    }
    out.into_iter().collect()
}
