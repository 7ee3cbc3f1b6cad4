//! Shadow evaluation: a candidate config evaluated beside the active one on every data-plane
//! request. The active engine decides the response; the candidate's verdict is only counted
//! (exact counts by transition and by the rule that made the difference, a few examples) and
//! never reaches a response, a header, the audit record or the active config's rate-limit
//! buckets (the candidate is compiled on its own, with its own).
//!
//! The request's texts are read once for both engines (`policy_engine::read_texts`), so a
//! body the active engine refuses unread (400) is never counted, and the candidate cannot fail
//! where the active config did not.
//!
//! It lives beside the active config, not in it: a reload keeps it (later requests are
//! compared with the new active config), a zero-drop restart hands its text over, and
//! `--state-dir` keeps it across a crash.

use crate::candidate::{self, Rejection};
use crate::metrics::Metrics;
use crate::state::Gateway;
use policy_config::PolicyKind;
use policy_contract::admin::{self, Origin, ShadowExample, ShadowReport, ShadowRule, ShadowStarted};
use policy_contract::Verdict;
use policy_engine::{Decision, Engine, Request, Shared, Text};
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
    /// Requests evaluated: counted apart, so that an unchanged verdict takes no lock.
    requests: std::sync::atomic::AtomicU64,
    counts: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    /// One entry per (served, candidate, deciding policy, rule) seen, with its count: a few
    /// dozen at most, searched in place so that counting allocates only for a new one.
    changes: Vec<Change>,
    /// The first [`EXAMPLES`] changed requests of each transition.
    examples: Vec<ShadowExample>,
}

/// A kind of difference and how often it was seen.
struct Change {
    from: Verdict,
    /// `None`: the candidate failed (`error`).
    to: Option<Verdict>,
    policy: Option<PolicyKind>,
    rule: Option<String>,
    count: u64,
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
            requests: std::sync::atomic::AtomicU64::new(0),
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

    /// Evaluate `request` (its `texts` as read for the active engine) with the candidate and
    /// count it against `served`, the active config's decision. The candidate only decides a
    /// verdict: no body is rewritten for it.
    /// `shared`: what the active engine found, which the candidate takes where its patterns
    /// are the same.
    pub fn observe(
        &self,
        metrics: &Metrics,
        request: &Request,
        texts: Vec<Text>,
        received: i64,
        shared: &mut Shared,
        served: &Served<'_>,
    ) {
        // A candidate that fails (a bug in evaluating it) counts `error` and never reaches the
        // response.
        let evaluated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.engine.evaluate_shared(request, texts, received, false, shared)
        }));
        let candidate = evaluated.as_ref().ok();
        metrics.shadow(served.verdict, candidate.map(|d| d.verdict));
        self.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let to = candidate.map(|d| d.verdict);
        if to == Some(served.verdict) {
            return;
        }
        // The rule that made the difference: the candidate's when it decides something, else
        // the served one's (which the candidate no longer applies).
        let (policy, rule) = match candidate {
            Some(d) if d.verdict == Verdict::Allow => (served.policy, served.rule.map(String::as_str)),
            Some(d) => (d.policy, d.rule.as_deref()),
            None => (None, None),
        };
        let mut c = self.counts.lock().expect("shadow counts lock");
        let seen = c
            .changes
            .iter_mut()
            .find(|e| e.from == served.verdict && e.to == to && e.policy == policy && e.rule.as_deref() == rule);
        match seen {
            Some(e) => e.count += 1,
            None => c.changes.push(Change {
                from: served.verdict,
                to,
                policy,
                rule: rule.map(str::to_string),
                count: 1,
            }),
        }
        let (from, to) = (served.verdict.as_str(), to.map_or("error", Verdict::as_str));
        if c.examples.iter().filter(|e| e.from == from && e.to == to).count() < EXAMPLES {
            c.examples.push(ShadowExample {
                request_id: request.id.clone(),
                from: from.to_string(),
                to: to.to_string(),
                rule: if to == "error" {
                    "error".to_string()
                } else {
                    admin::rule_name(policy.map(PolicyKind::as_str), rule)
                },
            });
        }
    }

    /// The counts so far, against `active_hash`.
    pub fn report(&self, active_hash: &str) -> ShadowReport {
        let c = self.counts.lock().expect("shadow counts lock");
        let requests = self.requests.load(std::sync::atomic::Ordering::Relaxed);
        let mut transitions: BTreeMap<String, u64> = BTreeMap::new();
        let mut by_rule: BTreeMap<(String, &str, &str), u64> = BTreeMap::new();
        for e in &c.changes {
            let (from, to) = (e.from.as_str(), e.to.map_or("error", Verdict::as_str));
            *transitions.entry(format!("{from}->{to}")).or_default() += e.count;
            *by_rule
                .entry((
                    admin::rule_name(e.policy.map(PolicyKind::as_str), e.rule.as_deref()),
                    from,
                    to,
                ))
                .or_default() += e.count;
        }
        let mut examples = c.examples.clone();
        examples.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
        ShadowReport {
            active_hash: active_hash.to_string(),
            shadow_hash: self.hash.clone(),
            since: self.since.clone(),
            requests,
            changed: transitions.values().sum(),
            transitions,
            by_rule: by_rule
                .into_iter()
                .map(|((rule, from, to), count)| ShadowRule {
                    rule,
                    from: from.to_string(),
                    to: to.to_string(),
                    count,
                })
                .collect(),
            examples,
        }
    }
}

/// The served decision, as much of it as the shadow compares with.
pub struct Served<'a> {
    /// The verdict served.
    pub verdict: Verdict,
    /// The policy that decided it.
    pub policy: Option<PolicyKind>,
    /// The rule that decided it.
    pub rule: Option<&'a String>,
}

impl<'a> From<&'a Decision> for Served<'a> {
    fn from(d: &'a Decision) -> Served<'a> {
        Served {
            verdict: d.verdict,
            policy: d.policy,
            rule: d.rule.as_ref(),
        }
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
