//! The gates a rollout wave must pass after its bake: every updated gateway healthy and
//! serving the expected hash; the batch's upstream error rate; and the verdict mix — each
//! verdict's share on the batch against the gateways not yet updated, over the same window,
//! less the shift an offline replay of recorded traffic predicts for the new config.
//!
//! Pure judgements over readings: no I/O.

use super::metrics::Counters;
use serde::Serialize;
use std::collections::BTreeMap;

/// Fewest decided responses a side of the verdict-mix comparison needs in the bake window:
/// below this a share moves by several points with one request, so the gate says it cannot
/// judge (and fails) rather than passing on noise.
pub const MIN_REQUESTS: u64 = 30;

/// One gate's reading.
#[derive(Debug, Clone, Serialize)]
pub struct Gate {
    /// `health`, `error_rate` or `verdict_mix`.
    pub name: &'static str,
    /// Whether the wave may go on.
    pub passed: bool,
    /// What was measured, in words.
    pub detail: String,
}

/// Every updated gateway is ready and serves `expected`: `(name, ready, hash served)`.
pub fn health(readings: &[(String, bool, Option<String>)], expected: &str) -> Gate {
    let bad: Vec<String> = readings
        .iter()
        .filter(|(_, ready, hash)| !*ready || hash.as_deref() != Some(expected))
        .map(|(name, ready, hash)| match (ready, hash) {
            (false, _) => format!("{name} not ready"),
            (true, h) => format!("{name} serves {}", h.as_deref().unwrap_or("nothing")),
        })
        .collect();
    Gate {
        name: "health",
        passed: bad.is_empty(),
        detail: if bad.is_empty() {
            format!("{} gateway(s) ready on {expected}", readings.len())
        } else {
            bad.join("; ")
        },
    }
}

/// The batch's 5xx responses (an upstream failure, an audit log failing closed,
/// anything) per response stay within `max`. A gateway that does not count them yet is read
/// by its upstream failures (502/504).
pub fn error_rate(batch: &Counters, max: f64) -> Gate {
    let responses = batch.responses();
    let errors = batch.server_errors.max(batch.upstream_errors);
    let rate = errors as f64 / responses.max(1) as f64;
    Gate {
        name: "error_rate",
        passed: rate <= max,
        detail: format!(
            "{errors} of {responses} responses were server errors (5xx: {:.2}%, at most {:.2}%)",
            rate * 100.0,
            max * 100.0
        ),
    }
}

/// Each verdict's share on `batch` differs from `control`'s by at most `max` beyond the shift
/// `predicted` for it (share under the new config minus under the old, from offline replay).
pub fn verdict_mix(batch: &Counters, control: &Counters, predicted: &BTreeMap<&'static str, f64>, max: f64) -> Gate {
    let (b, c) = (batch.decided(), control.decided());
    if b < MIN_REQUESTS || c < MIN_REQUESTS {
        return Gate {
            name: "verdict_mix",
            passed: false,
            detail: format!(
                "too few requests to judge: {b} on the batch and {c} on the control in the bake window (at least {MIN_REQUESTS} each); bake longer or roll out under traffic"
            ),
        };
    }
    let (bs, cs) = (batch.shares(), control.shares());
    let mut worst: Option<(&'static str, f64, f64, f64)> = None;
    let mut parts = Vec::new();
    for (verdict, share) in &bs {
        let control_share = cs.get(verdict).copied().unwrap_or(0.0);
        let expected = predicted.get(verdict).copied().unwrap_or(0.0);
        let excess = (share - control_share - expected).abs();
        parts.push(format!(
            "{verdict} {:.1}% vs {:.1}%",
            share * 100.0,
            control_share * 100.0
        ));
        if worst.is_none_or(|w| excess > w.1) {
            worst = Some((verdict, excess, *share, control_share));
        }
    }
    let (verdict, excess, _, _) = worst.unwrap_or(("allow", 0.0, 0.0, 0.0));
    Gate {
        name: "verdict_mix",
        passed: excess <= max,
        detail: format!(
            "batch vs control over {b} and {c} responses: {}; largest unpredicted shift {verdict} {:.1} points (at most {:.1})",
            parts.join(", "),
            excess * 100.0,
            max * 100.0
        ),
    }
}

/// The shadow stage's gates on the summed counts: `shadow_shift`, the share of requests the new
/// config would change, less the share the recorded traffic predicts when given, within `max`
/// either way; with `expect`, `shadow_transitions`: every transition seen is an expected one. Fewer
/// than [`MIN_REQUESTS`] fails rather than passing on no evidence.
pub fn shadow(
    requests: u64,
    changed: u64,
    transitions: &BTreeMap<String, u64>,
    predicted: Option<f64>,
    max: f64,
    expect: Option<&std::collections::BTreeSet<String>>,
) -> Vec<Gate> {
    if requests < MIN_REQUESTS {
        return vec![Gate {
            name: "shadow_shift",
            passed: false,
            detail: format!(
                "too few requests to judge: {requests} evaluated in the shadow (at least {MIN_REQUESTS}); shadow longer or under traffic"
            ),
        }];
    }
    let share = changed as f64 / requests as f64;
    let unpredicted = share - predicted.unwrap_or(0.0);
    let mut out = vec![Gate {
        name: "shadow_shift",
        // Both ways: a change far smaller than the traffic predicts is as unexplained as one
        // far larger (the new config may not do what it was written for).
        passed: unpredicted.abs() <= max,
        detail: match predicted {
            Some(p) => format!(
                "{changed} of {requests} requests would change ({:.1}%), {:.1}% predicted from the traffic: {:.1} points unpredicted (at most {:.1})",
                share * 100.0,
                p * 100.0,
                unpredicted * 100.0,
                max * 100.0
            ),
            None => format!(
                "{changed} of {requests} requests would change ({:.1}%, at most {:.1}%)",
                share * 100.0,
                max * 100.0
            ),
        },
    }];
    if let Some(expect) = expect {
        let unexpected: Vec<String> = transitions
            .iter()
            .filter(|(k, _)| !expect.contains(*k))
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect();
        out.push(Gate {
            name: "shadow_transitions",
            passed: unexpected.is_empty(),
            detail: if unexpected.is_empty() {
                "every transition is an expected one".to_string()
            } else {
                format!("unexpected: {}", unexpected.join(", "))
            },
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(allow: u64, block: u64) -> Counters {
        let mut c = Counters::default();
        c.by_verdict.insert("allow".into(), allow);
        c.by_verdict.insert("block".into(), block);
        c
    }

    #[test]
    fn a_blocking_batch_fails_and_a_predicted_shift_passes() {
        let none = BTreeMap::new();
        assert!(verdict_mix(&counters(90, 10), &counters(88, 12), &none, 0.2).passed);
        let bad = verdict_mix(&counters(5, 95), &counters(90, 10), &none, 0.2);
        assert!(!bad.passed && bad.detail.contains("block"), "{}", bad.detail);
        let predicted = BTreeMap::from([("block", 0.85), ("allow", -0.85)]);
        assert!(verdict_mix(&counters(5, 95), &counters(90, 10), &predicted, 0.2).passed);
        let thin = verdict_mix(&counters(3, 1), &counters(90, 10), &none, 0.2);
        assert!(!thin.passed && thin.detail.contains("too few"));
    }

    #[test]
    fn the_error_rate_counts_every_5xx_not_only_upstream_failures() {
        // An audit log failing closed answers 503: no upstream failed, yet the batch is broken.
        let mut c = counters(90, 0);
        c.by_verdict.insert("none".into(), 10);
        c.server_errors = 10;
        let g = error_rate(&c, 0.01);
        assert!(!g.passed, "{}", g.detail);
        assert!(
            g.detail.starts_with("10 of 100 responses were server errors"),
            "{}",
            g.detail
        );
        c.server_errors = 0;
        assert!(error_rate(&c, 0.01).passed);
    }
}
