//! Coverage: which parts of the config under test the cases exercised.
//!
//! The measured parts are the rules of the chain's policies: every content-filter rule, every
//! prompt-injection pattern (the built-in detectors and `extra_patterns`), every PII type in
//! `detect`. The chain's policies are listed too (hit when any of their rules matched, and
//! `rate-limit` when a case was rate limited), but only rules count towards the percentage;
//! `audit-logger` acts in the gateway, not the engine, and is not measured. A rule counts as hit
//! when any decision of any case matched it, whatever the action (`log` included).
//! `--fail-under` compares the exact fraction: 99.6 % is not 100 %.

use super::run::FileResult;
use policy_config::{Config, PolicyKind};
use policy_engine::detectors::INJECTIONS;
use serde::Serialize;
use std::collections::BTreeSet;

/// Coverage of one config.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// The config.
    pub config: String,
    /// Rules measured.
    pub rules: usize,
    /// Rules hit.
    pub hit: usize,
    /// `hit / rules` in percent, rounded down to one decimal (100.0 only when every rule is hit).
    pub percent: f64,
    /// The chain's policies.
    pub policies: Vec<Item>,
    /// Every rule.
    pub items: Vec<Item>,
}

/// A policy or rule and whether the cases hit it.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// The policy.
    pub policy: String,
    /// The rule (absent for a policy line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Whether a case hit it.
    pub hit: bool,
}

/// Coverage of `config` by the results of every file that ran against it.
pub fn measure(name: &str, config: &Config, results: &[&FileResult]) -> Coverage {
    let mut seen: BTreeSet<(PolicyKind, String)> = BTreeSet::new();
    let mut policies_seen: BTreeSet<PolicyKind> = BTreeSet::new();
    for d in results.iter().flat_map(|r| &r.cases).flat_map(|c| &c.decisions) {
        for h in &d.hits {
            seen.insert((h.policy, h.rule.clone()));
            policies_seen.insert(h.policy);
        }
        for r in &d.redactions {
            seen.insert((r.policy, r.kind.clone()));
            policies_seen.insert(r.policy);
        }
        if let (Some(p), Some(rule)) = (d.policy, &d.rule) {
            seen.insert((p, rule.clone()));
            policies_seen.insert(p);
        }
    }
    let mut items = Vec::new();
    let mut policies = Vec::new();
    for &kind in &config.policies.chain {
        if kind == PolicyKind::AuditLogger || policies.iter().any(|p: &Item| p.policy == kind.as_str()) {
            continue;
        }
        policies.push(Item {
            policy: kind.to_string(),
            rule: None,
            hit: policies_seen.contains(&kind),
        });
        let rules: Vec<String> = match kind {
            PolicyKind::PromptInjection => {
                let extra = config
                    .policy
                    .prompt_injection
                    .as_ref()
                    .map_or(0, |p| p.extra_patterns.len());
                INJECTIONS
                    .iter()
                    .map(|(id, _)| id.to_string())
                    .chain((0..extra).map(|i| format!("extra_patterns/{i}")))
                    .collect()
            }
            PolicyKind::PiiDetector => config
                .policy
                .pii_detector
                .clone()
                .unwrap_or_default()
                .detect
                .iter()
                .map(|t| t.as_str().to_string())
                .collect(),
            PolicyKind::ContentFilter => config
                .policy
                .content_filter
                .as_ref()
                .map(|c| c.rules.iter().map(|r| r.id.clone()).collect())
                .unwrap_or_default(),
            PolicyKind::RateLimit | PolicyKind::AuditLogger => Vec::new(),
        };
        for rule in rules {
            let hit = seen.contains(&(kind, rule.clone()));
            items.push(Item {
                policy: kind.to_string(),
                rule: Some(rule),
                hit,
            });
        }
    }
    let rules = items.len();
    let hit = items.iter().filter(|i| i.hit).count();
    Coverage {
        config: name.to_string(),
        rules,
        hit,
        percent: percent(hit, rules),
        policies,
        items,
    }
}

/// `hit / total` in percent, rounded down to one decimal; 100.0 when there is nothing to hit.
pub fn percent(hit: usize, total: usize) -> f64 {
    if total == 0 {
        return 100.0;
    }
    (hit as u128 * 1000 / total as u128) as f64 / 10.0
}

/// Whether `hit / total` is below `threshold` percent, compared exactly (no rounding).
pub fn below(hit: usize, total: usize, threshold: f64) -> bool {
    total > 0 && (hit as f64) * 100.0 < threshold * total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_never_round_up() {
        assert_eq!(percent(9, 10), 90.0);
        assert_eq!(percent(996, 1000), 99.6);
        assert_eq!(percent(9999, 10000), 99.9);
        assert!(below(9, 10, 95.0));
        assert!(!below(9, 10, 90.0));
        assert!(below(996, 1000, 100.0));
        assert!(!below(0, 0, 100.0));
    }
}
