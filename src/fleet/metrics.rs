//! The counters a rollout gate reads from a gateway's `/metrics` (Prometheus text): responses
//! by verdict (`gateway_requests_total{verdict}`), upstream failures answered with 502/504
//! (`gateway_upstream_errors_total`) and every 5xx response (`gateway_server_errors_total`);
//! the names are `policy_contract::metrics`'. Counters belong to a process, so a delta is only
//! taken between two readings of the same `x-policy-instance`.

use policy_contract::headers::{verdict_value, verdict_values};
use policy_contract::metrics as metric;
use std::collections::BTreeMap;

/// One reading of a gateway's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Responses by `verdict` label (`allow`, `redact`, `block`, `rate_limited`, `none`).
    pub by_verdict: BTreeMap<String, u64>,
    /// Upstream failures answered with 502 or 504.
    pub upstream_errors: u64,
    /// Responses with a 5xx status, whatever the cause.
    pub server_errors: u64,
}

impl Counters {
    /// Read the counters out of a Prometheus text exposition; unknown lines are ignored.
    pub fn parse(text: &str) -> Counters {
        let mut c = Counters::default();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.trim().parse::<f64>() else {
                continue;
            };
            if let Some(labels) = name.strip_prefix(metric::REQUESTS).and_then(|n| n.strip_prefix('{')) {
                if let Some(v) = labels.strip_prefix("verdict=\"").and_then(|l| l.split('"').next()) {
                    c.by_verdict.insert(v.to_string(), value as u64);
                }
            } else if name == metric::UPSTREAM_ERRORS {
                c.upstream_errors = value as u64;
            } else if name == metric::SERVER_ERRORS {
                c.server_errors = value as u64;
            }
        }
        c
    }

    /// What happened between `earlier` and `self` (same process).
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters {
            by_verdict: self
                .by_verdict
                .iter()
                .map(|(k, v)| (k.clone(), v.saturating_sub(*earlier.by_verdict.get(k).unwrap_or(&0))))
                .collect(),
            upstream_errors: self.upstream_errors.saturating_sub(earlier.upstream_errors),
            server_errors: self.server_errors.saturating_sub(earlier.server_errors),
        }
    }

    /// Add `other` (another gateway's delta) to these.
    pub fn add(&mut self, other: &Counters) {
        for (k, v) in &other.by_verdict {
            *self.by_verdict.entry(k.clone()).or_default() += v;
        }
        self.upstream_errors += other.upstream_errors;
        self.server_errors += other.server_errors;
    }

    /// Responses the policy chain decided (the verdicts, `none` left out).
    pub fn decided(&self) -> u64 {
        verdict_values()
            .flatten()
            .map(|v| self.by_verdict.get(v.as_str()).copied().unwrap_or(0))
            .sum()
    }

    /// Every response counted, `none` included.
    pub fn responses(&self) -> u64 {
        verdict_values()
            .map(|v| self.by_verdict.get(verdict_value(v)).copied().unwrap_or(0))
            .sum()
    }

    /// Each verdict's share of the decided responses (0 when there are none).
    pub fn shares(&self) -> BTreeMap<&'static str, f64> {
        let total = self.decided().max(1) as f64;
        verdict_values()
            .flatten()
            .map(|v| {
                (
                    v.as_str(),
                    self.by_verdict.get(v.as_str()).copied().unwrap_or(0) as f64 / total,
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_gateway_exposition() {
        let text = "# HELP gateway_requests_total x\n# TYPE gateway_requests_total counter\ngateway_requests_total{verdict=\"allow\"} 30\ngateway_requests_total{verdict=\"block\"} 10\ngateway_requests_total{verdict=\"none\"} 5\ngateway_upstream_errors_total 2\ngateway_server_errors_total 7\n";
        let c = Counters::parse(text);
        assert_eq!(
            (c.decided(), c.responses(), c.upstream_errors, c.server_errors),
            (40, 45, 2, 7)
        );
        assert_eq!(c.shares()["block"], 0.25);
        let later = Counters::parse(&text.replace("} 30", "} 50"));
        assert_eq!(later.since(&c).decided(), 20);
    }
}
