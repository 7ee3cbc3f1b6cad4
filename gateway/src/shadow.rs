//! Shadow evaluation: a candidate config evaluated beside the active one on every data-plane
//! request. The active engine decides the response; the candidate's verdict is only counted
//! (exact counts by transition and by the rule that made the difference, a few examples) and
//! never reaches a response, a header, the audit record or the active config's rate-limit
//! buckets (the candidate is compiled on its own, with its own).
//!
//! It lives beside the active config, not in it: a reload keeps it (later requests are
//! compared with the new active config), a zero-drop restart hands its text over, and
//! `--state-dir` keeps it across a crash.

use crate::candidate::{self, Rejection};
use crate::metrics::Metrics;
use crate::state::Gateway;
use policy_contract::admin::{Origin, ShadowExample, ShadowReport, ShadowRule, ShadowStarted};
use policy_engine::{Decision, Engine, Request};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Examples kept per transition.
const EXAMPLES: usize = 5;

/// A candidate under shadow evaluation, with its counts.
pub struct Shadow {
    /// Compiled from the candidate alone: its rate-limit buckets are its own.
    engine: Engine,
    /// Its config hash.
    pub hash: String,
    /// The text it was read from: what a restart hands over and `--state-dir` keeps.
    pub source: Arc<[u8]>,
    /// When it started (RFC 3339).
    pub since: String,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    requests: u64,
    changed: u64,
    transitions: BTreeMap<String, u64>,
    by_rule: BTreeMap<(String, &'static str, &'static str), u64>,
    examples: BTreeMap<String, Vec<ShadowExample>>,
}

impl Shadow {
    /// Read, lint and compile `bytes` as a reload against the active config would (any lint
    /// error refuses it; restart-class fields are held), then compile the engine on its own.
    pub fn prepare(gw: &Gateway, bytes: &[u8], since: String) -> Result<Shadow, Rejection> {
        let active = gw.active.load();
        let c = candidate::prepare(
            "the shadow candidate",
            bytes,
            Some(&active),
            &gw.overrides,
            Origin::admin_body(since.clone()),
        )?;
        let engine = Engine::compile(&c.active.config).map_err(|e| {
            Rejection::new(
                crate::metrics::ReloadError::Compile,
                format!("the shadow candidate: {e}"),
            )
        })?;
        Ok(Shadow {
            hash: engine.hash().to_string(),
            engine,
            source: Arc::from(bytes),
            since,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// What `POST /admin/shadow` answers.
    pub fn started(&self) -> ShadowStarted {
        ShadowStarted {
            shadow_hash: self.hash.clone(),
            since: self.since.clone(),
        }
    }

    /// Evaluate `request` with the candidate and count it against `served`, the active
    /// config's decision. Never fails: a candidate that cannot evaluate counts `error`.
    pub fn observe(&self, metrics: &Metrics, request: &Request, received: i64, served: &Decision) {
        let from = served.verdict.as_str();
        let (to, rule) = match self.engine.evaluate(request, received) {
            Ok(d) => {
                let to = d.verdict.as_str();
                // The rule that made the difference: the candidate's when it decides
                // something, else the served one's (which the candidate no longer applies).
                let decider = if d.verdict == policy_contract::Verdict::Allow {
                    served
                } else {
                    &d
                };
                (to, rule_name(decider))
            }
            Err(_) => ("error", "error".to_string()),
        };
        metrics.shadow(from, to);
        let mut c = self.counts.lock().expect("shadow counts lock");
        c.requests += 1;
        if from == to {
            return;
        }
        c.changed += 1;
        let transition = format!("{from}->{to}");
        *c.transitions.entry(transition.clone()).or_default() += 1;
        *c.by_rule.entry((rule.clone(), from, to)).or_default() += 1;
        let examples = c.examples.entry(transition).or_default();
        if examples.len() < EXAMPLES {
            examples.push(ShadowExample {
                request_id: request.id.clone(),
                from: from.to_string(),
                to: to.to_string(),
                rule,
            });
        }
    }

    /// The counts so far, against `active_hash`.
    pub fn report(&self, active_hash: &str) -> ShadowReport {
        let c = self.counts.lock().expect("shadow counts lock");
        ShadowReport {
            active_hash: active_hash.to_string(),
            shadow_hash: self.hash.clone(),
            since: self.since.clone(),
            requests: c.requests,
            changed: c.changed,
            transitions: c.transitions.clone(),
            by_rule: c
                .by_rule
                .iter()
                .map(|((rule, from, to), count)| ShadowRule {
                    rule: rule.clone(),
                    from: from.to_string(),
                    to: to.to_string(),
                    count: *count,
                })
                .collect(),
            examples: c.examples.values().flatten().cloned().collect(),
        }
    }
}

/// `policy/rule`, as `policy replay` names a deciding rule.
fn rule_name(d: &Decision) -> String {
    match (d.policy, &d.rule) {
        (Some(p), Some(r)) => format!("{}/{r}", p.as_str()),
        (Some(p), None) => p.as_str().to_string(),
        (None, _) => "none".to_string(),
    }
}

/// Start (or replace) the shadow with `bytes`; persisted when there is a state dir.
pub fn start(gw: &Gateway, bytes: &[u8]) -> Result<ShadowStarted, Rejection> {
    let now = policy_contract::time::format_rfc3339(crate::journal::now_ms());
    let shadow = Shadow::prepare(gw, bytes, now)?;
    let started = shadow.started();
    gw.shadow.store(Some(Arc::new(shadow)));
    crate::persist::shadow_changed(gw);
    crate::journal::log(
        "INFO",
        &format!("shadow: evaluating {} beside the active config", started.shadow_hash),
    );
    Ok(started)
}

/// Stop the shadow: its final report, or `None` when there was none.
pub fn stop(gw: &Gateway) -> Option<ShadowReport> {
    let shadow = gw.shadow.swap(None)?;
    crate::persist::shadow_changed(gw);
    crate::journal::log("INFO", &format!("shadow: {} stopped", shadow.hash));
    Some(shadow.report(&gw.active.load().hash))
}
