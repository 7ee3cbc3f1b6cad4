//! What the run reports, and how it is worked out from the samples: attribution of every
//! response to A or B by its config hash, verdict checks against the offline engine, drops by
//! kind, latency steady and near reloads, and the timeline behind the HTML report's plot.
//!
//! Pure computation over what `load` and `admin` recorded: no I/O.

use super::load::{Outcome, Sample, DROP_KINDS};
use super::options::{Options, Via};
use super::plan::Plan;
use hdrhistogram::Histogram;
use policy_contract::Verdict;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// One reload as the harness saw it.
#[derive(Debug, Clone, Serialize)]
pub struct ReloadEvent {
    /// 1-based.
    pub n: usize,
    /// `A` or `B`.
    pub to: &'static str,
    /// Seconds from the start of the run to the trigger.
    pub at_s: f64,
    /// Seconds from the start of the run to the confirmation (or the failure).
    pub done_s: f64,
    /// Whether the gateway confirmed the switch.
    pub ok: bool,
    /// The gateway's own measure of the pipeline, milliseconds.
    pub duration_ms: Option<f64>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How it was made: `restart` (a new process) or a hot reload (`admin`, reported as such
    /// whatever the trigger; the run's `reload_via` names the trigger).
    pub kind: Via,
    /// The process serving after it (restarts: the new one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Command mode: the reload command's exit status (`None`: killed at the switch timeout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_exit: Option<i32>,
    /// Command mode: milliseconds from the switch's start to the first response from the side
    /// (to the command's exit without an attribution header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed_ms: Option<f64>,
}

impl ReloadEvent {
    /// A switch to `to` begun at `at_s`, made `kind`'s way, not (yet) confirmed.
    pub(super) fn begun(to: &'static str, at_s: f64, kind: Via) -> ReloadEvent {
        ReloadEvent {
            n: 0,
            to,
            at_s,
            done_s: 0.0,
            ok: false,
            duration_ms: None,
            error: None,
            kind,
            pid: None,
            command_exit: None,
            observed_ms: None,
        }
    }
}

/// One gateway process as the responses saw it (`x-policy-instance`).
#[derive(Debug, Clone, Serialize)]
pub struct ProcessSummary {
    /// Its `x-policy-instance`.
    pub instance: String,
    /// The configs it answered with (`A`, `B`), in order of first appearance.
    pub configs: Vec<&'static str>,
    /// Responses it gave.
    pub responses: u64,
    /// Seconds from the start of the run to its first and last response's send.
    pub first_s: f64,
    /// See `first_s`.
    pub last_s: f64,
}

/// Percentiles, milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
    /// Number of samples.
    pub count: u64,
}

/// A count with its first example.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// What kind.
    pub kind: String,
    /// How many.
    pub count: u64,
    /// The first one seen.
    pub example: String,
}

/// One point of the latency-over-time plot: a time bucket.
#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    /// Start of the bucket, seconds from the start of the run.
    pub t: f64,
    /// Requests sent in it.
    pub requests: u64,
    /// Median latency, ms.
    pub p50: f64,
    /// 99th percentile, ms.
    pub p99: f64,
    /// Largest, ms.
    pub max: f64,
    /// Drops in it.
    pub dropped: u64,
    /// Those drops by kind (kinds with none left out).
    pub dropped_by_kind: BTreeMap<String, u64>,
}

/// The result of `policy replay --live` (schema/output/replay-live.schema.json, plus more).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `spawn` (a policy-gateway started for the run), `attach` (a running one, switched over
    /// its admin plane) or `command` (any gateway, switched by the operator's command).
    pub mode: &'static str,
    /// Requests sent.
    pub requests: u64,
    /// Transport errors, timeouts, truncated bodies and 5xx.
    pub dropped: u64,
    /// `dropped` by kind: every kind of [`DROP_KINDS`], zeros included.
    pub dropped_by_kind: BTreeMap<String, u64>,
    /// Answers whose status differs from the one the traffic recorded (`expect_status`, a
    /// HAR entry's response). It fails the run when the verdict checks do not run.
    pub status_changed: u64,
    /// Whether the verdict checks ran (both configs are policy configs); without them only
    /// drops, attribution, switches and statuses are checked.
    pub verdict_checks: bool,
    /// The response header responses are attributed by (`None`: not attributed).
    pub attribute_header: Option<String>,
    /// Command mode: every switch, with the command's exit status and how long it took to be
    /// observed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub switches: Vec<Switch>,
    /// Whether the run was cut short (Ctrl-C); such a run does not pass.
    pub interrupted: bool,
    /// Responses whose config hash is neither A's nor B's (or missing).
    pub unattributed: u64,
    /// Verdicts that differ from the offline engine's for the config that answered.
    pub mismatched: u64,
    /// 429s (excluded from the mismatch check).
    pub rate_limited: u64,
    /// Reloads attempted.
    pub reloads: usize,
    /// Reloads the gateway did not confirm.
    pub reload_failures: usize,
    /// Config hashes seen in responses, in order of first appearance.
    pub versions_seen: Vec<String>,
    /// Requests per second.
    pub throughput_rps: f64,
    /// Latency of every answered request.
    pub latency_ms: Latency,
    /// Latency of requests sent while a reload ran or within 50 ms after it.
    pub latency_near_reload_ms: Latency,
    /// Latency of the other requests.
    pub latency_steady_ms: Latency,
    /// The gateway's reload durations.
    pub reload_duration_ms: Latency,
    /// Drops by kind.
    pub errors: Vec<Finding>,
    /// Unattributed and mismatched responses by kind, with an example each.
    pub findings: Vec<Finding>,
    /// Responses per config.
    pub responses_by_config: BTreeMap<String, u64>,
    /// The gateway processes that answered, in order of first response. With restarts, each
    /// must have answered with one config only (else its responses count as unattributed).
    pub processes: Vec<ProcessSummary>,
    /// The two configs.
    pub configs: Vec<ConfigSummary>,
    /// Every reload.
    pub reload_events: Vec<ReloadEvent>,
    /// The config the gateway serves at the end.
    pub final_hash: Option<String>,
    /// The process serving at the end (after restarts, not the one the run started with).
    pub final_pid: Option<u32>,
    /// Its admin address at the end (a restart may move it).
    pub final_admin: Option<String>,
    /// Wall time of the load, seconds.
    pub duration_s: f64,
    /// Keep-alive connections the load used.
    pub concurrency: usize,
    /// How reloads were triggered.
    pub reload_via: Via,
    /// Whether dropped, unattributed, mismatched and reload failures are all zero (exit 0).
    pub passed: bool,
    /// Latency over time, for the plot.
    pub timeline: Vec<Bucket>,
}

/// One of the run's two configs, as the report names it.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigSummary {
    /// `A` or `B`.
    pub label: &'static str,
    /// Where it came from (the path as given).
    pub source: String,
    /// `pack.version` (empty for a file that is not a policy config).
    pub version: String,
    /// Its config hash (empty for a file that is not a policy config).
    pub hash: String,
    /// The value of the attribution header it answers with (given, or learned during the run;
    /// `None` when it never answered or responses are not attributed).
    pub id: Option<String>,
}

/// One switch of command mode, as the report lists it.
#[derive(Debug, Clone, Serialize)]
pub struct Switch {
    /// `old` (A) or `new` (B).
    pub side: &'static str,
    /// The reload command's exit status (`None`: killed at the switch timeout).
    pub command_exit: Option<i32>,
    /// Milliseconds from the switch's start until it was observed (`None`: it was not).
    pub observed_ms: Option<f64>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What counts as "near a reload": from the trigger to this long after its confirmation.
const NEAR_RELOAD: Duration = Duration::from_millis(50);
/// Width of a timeline bucket.
const BUCKET: Duration = Duration::from_millis(100);

pub(super) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")
}

fn latency(h: &Histogram<u64>) -> Latency {
    if h.is_empty() {
        return Latency::default();
    }
    let ms = |us: u64| (us as f64 / 1000.0 * 1000.0).round() / 1000.0;
    Latency {
        p50: ms(h.value_at_quantile(0.50)),
        p90: ms(h.value_at_quantile(0.90)),
        p99: ms(h.value_at_quantile(0.99)),
        max: ms(h.max()),
        count: h.len(),
    }
}

#[derive(Default)]
struct Tally {
    count: u64,
    example: String,
}

fn bump(map: &mut BTreeMap<String, Tally>, kind: String, example: impl FnOnce() -> String) {
    let t = map.entry(kind).or_default();
    if t.count == 0 {
        t.example = example();
    }
    t.count += 1;
}

fn findings(map: BTreeMap<String, Tally>) -> Vec<Finding> {
    map.into_iter()
        .map(|(kind, t)| Finding {
            kind,
            count: t.count,
            example: t.example,
        })
        .collect()
}

pub(super) fn analyse(
    plan: &Plan,
    opts: &Options,
    samples: Vec<Sample>,
    events: Vec<ReloadEvent>,
    elapsed: Duration,
    final_hash: Option<String>,
) -> Report {
    let ids = plan.attribution.as_ref().map(|a| a.ids.clone());
    analyse_with(plan, opts, samples, events, elapsed, final_hash, ids)
}

/// "r12 (a reused connection 3.214 s old, 4.1 ms after switch 3 to B)": where a drop happened.
fn drop_context(id: &str, s: &Sample, events: &[ReloadEvent]) -> String {
    let conn = if s.reused {
        format!("a reused connection {:.3} s old", s.conn_age_us as f64 / 1e6)
    } else {
        "a fresh connection".to_string()
    };
    let at_s = s.at_us as f64 / 1e6;
    let since = match events.iter().rev().find(|e| e.at_s <= at_s) {
        Some(e) => format!("{:.1} ms after switch {} to {}", (at_s - e.at_s) * 1000.0, e.n, e.to),
        None => "before the first switch".to_string(),
    };
    format!("{id} ({conn}, {since})")
}

/// [`analyse`] with the attribution values as they are known at the end of the run (command
/// mode learns them); `None` when responses are not attributed.
#[allow(clippy::too_many_arguments)]
pub(super) fn analyse_with(
    plan: &Plan,
    opts: &Options,
    mut samples: Vec<Sample>,
    events: Vec<ReloadEvent>,
    elapsed: Duration,
    final_hash: Option<String>,
    ids: Option<[Option<String>; 2]>,
) -> Report {
    samples.sort_by_key(|s| s.at_us);
    let mut dropped_by_kind: BTreeMap<String, u64> = DROP_KINDS.iter().map(|k| (k.to_string(), 0)).collect();
    let mut status_changed = 0;
    let (mut all, mut near, mut steady) = (histogram(), histogram(), histogram());
    let windows: Vec<(u64, u64)> = events
        .iter()
        .map(|e| {
            (
                (e.at_s * 1e6) as u64,
                (e.done_s * 1e6) as u64 + NEAR_RELOAD.as_micros() as u64,
            )
        })
        .collect();
    let (mut dropped, mut unattributed, mut mismatched, mut rate_limited) = (0, 0, 0, 0);
    let mut errors = BTreeMap::new();
    let mut other = BTreeMap::new();
    let mut versions_seen: Vec<String> = Vec::new();
    let mut by_config: BTreeMap<String, u64> = BTreeMap::new();
    let mut processes: Vec<ProcessSummary> = Vec::new();
    let bucket_us = BUCKET.as_micros() as u64;
    let buckets = (elapsed.as_micros() as u64 / bucket_us + 1) as usize;
    let mut timeline: Vec<(Histogram<u64>, BTreeMap<String, u64>)> =
        (0..buckets).map(|_| (histogram(), BTreeMap::new())).collect();
    for s in &samples {
        let slot = &mut timeline[((s.at_us / bucket_us) as usize).min(buckets - 1)];
        let req = &plan.requests[s.request as usize];
        match &s.outcome {
            Outcome::Error { kind, message } => {
                dropped += 1;
                *slot.1.entry(kind.to_string()).or_default() += 1;
                *dropped_by_kind.entry(kind.to_string()).or_default() += 1;
                bump(&mut errors, kind.to_string(), || {
                    format!("{}: {message}", drop_context(&req.id, s, &events))
                });
                continue;
            }
            Outcome::Response {
                status,
                verdict,
                attributed: hash,
                instance,
            } => {
                let _ = all.record(s.latency_us.max(1));
                let _ = slot.0.record(s.latency_us.max(1));
                if windows.iter().any(|(a, b)| s.at_us >= *a && s.at_us <= *b) {
                    let _ = near.record(s.latency_us.max(1));
                } else {
                    let _ = steady.record(s.latency_us.max(1));
                }
                if let Some(h) = hash {
                    if !versions_seen.contains(h) {
                        versions_seen.push(h.clone());
                    }
                }
                if *status >= 500 {
                    dropped += 1;
                    *slot.1.entry("status_5xx".into()).or_default() += 1;
                    *dropped_by_kind.entry("status_5xx".into()).or_default() += 1;
                    bump(&mut errors, "status_5xx".into(), || {
                        format!(
                            "{}: HTTP {status} from {}",
                            drop_context(&req.id, s, &events),
                            hash.as_deref().unwrap_or("no attributed config")
                        )
                    });
                    continue;
                }
                if req.expect_status.is_some_and(|e| e != *status) {
                    status_changed += 1;
                    bump(&mut other, "status_changed".into(), || {
                        format!(
                            "{}: HTTP {status}, recorded as {}",
                            req.id,
                            req.expect_status.unwrap_or_default()
                        )
                    });
                }
                let Some(ids) = &ids else {
                    // Not attributed: nothing more to check of this answer.
                    continue;
                };
                let side = ids.iter().position(|id| id.is_some() && id.as_ref() == hash.as_ref());
                let Some(side) = side else {
                    unattributed += 1;
                    let header = plan.attribution.as_ref().map_or("", |a| a.header.as_str());
                    let name = |i: usize| ids[i].as_deref().unwrap_or("never seen").to_string();
                    bump(&mut other, "unattributed".into(), || {
                        format!(
                            "{}: HTTP {status} with {header} {:?}, neither A ({}) nor B ({})",
                            req.id,
                            hash,
                            name(0),
                            name(1)
                        )
                    });
                    continue;
                };
                let label = plan.sides[side].label;
                let at_s = s.at_us as f64 / 1e6;
                let process = instance.as_deref().unwrap_or("");
                let i = match processes.iter().position(|p| p.instance == process) {
                    Some(i) => i,
                    None => {
                        processes.push(ProcessSummary {
                            instance: process.to_string(),
                            configs: Vec::new(),
                            responses: 0,
                            first_s: at_s,
                            last_s: at_s,
                        });
                        processes.len() - 1
                    }
                };
                let p = &mut processes[i];
                p.responses += 1;
                p.last_s = p.last_s.max(at_s);
                p.first_s = p.first_s.min(at_s);
                if !p.configs.contains(&label) {
                    p.configs.push(label);
                }
                // A restarted process runs one config for its whole life: a second config from
                // the same process (or a response naming no process) means it is not known
                // which process answered.
                if opts.via == Via::Restart && (process.is_empty() || p.configs.len() > 1) {
                    unattributed += 1;
                    bump(&mut other, "unattributed process".into(), || {
                        format!(
                            "{}: HTTP {status} from x-policy-instance {process:?}, which also answered with another config",
                            req.id
                        )
                    });
                    continue;
                }
                *by_config.entry(label.to_string()).or_default() += 1;
                if verdict == Verdict::RateLimited.as_str() {
                    rate_limited += 1;
                    continue;
                }
                if !plan.checks {
                    continue;
                }
                let expected = policy_contract::headers::verdict_value(req.expect[side]);
                if verdict != expected {
                    mismatched += 1;
                    bump(&mut other, format!("mismatched {expected}->{verdict}"), || {
                        format!(
                            "{}: config {} answered {verdict:?} (HTTP {status}); the engine predicts {expected}",
                            req.id, plan.sides[side].label
                        )
                    });
                }
            }
        }
    }
    let mut durations = histogram();
    for e in &events {
        if let Some(d) = e.duration_ms {
            let _ = durations.record(((d * 1000.0) as u64).max(1));
        }
    }
    let reload_failures = events.iter().filter(|e| !e.ok).count();
    let requests = samples.len() as u64;
    // A run in which nothing was answered proves nothing: it fails, whatever else is zero.
    let answered = requests - dropped;
    if answered == 0 {
        bump(&mut other, "no-evidence".into(), || {
            format!("no request was answered ({requests} sent): the run proves nothing")
        });
    }
    let statuses_fail = !plan.checks && status_changed > 0;
    let passed =
        answered > 0 && dropped == 0 && unattributed == 0 && mismatched == 0 && reload_failures == 0 && !statuses_fail;
    let switches = if opts.via == Via::Command {
        events
            .iter()
            .map(|e| Switch {
                side: if e.to == "A" { "old" } else { "new" },
                command_exit: e.command_exit,
                observed_ms: e.observed_ms.filter(|_| e.ok),
                error: e.error.clone(),
            })
            .collect()
    } else {
        Vec::new()
    };
    Report {
        mode: if opts.via == Via::Command { "command" } else { "attach" },
        requests,
        dropped,
        dropped_by_kind,
        status_changed,
        verdict_checks: plan.checks,
        attribute_header: plan.attribution.as_ref().map(|a| a.header.clone()),
        switches,
        interrupted: false,
        unattributed,
        mismatched,
        rate_limited,
        reloads: events.len(),
        reload_failures,
        versions_seen,
        throughput_rps: (requests as f64 / elapsed.as_secs_f64() * 10.0).round() / 10.0,
        latency_ms: latency(&all),
        latency_near_reload_ms: latency(&near),
        latency_steady_ms: latency(&steady),
        reload_duration_ms: latency(&durations),
        errors: findings(errors),
        findings: findings(other),
        responses_by_config: by_config,
        processes,
        configs: plan
            .sides
            .iter()
            .zip([0, 1])
            .map(|(s, i)| ConfigSummary {
                label: s.label,
                source: s.name.clone(),
                version: s.config.as_ref().map(|c| c.pack.version.clone()).unwrap_or_default(),
                hash: s.hash.clone(),
                id: ids.as_ref().and_then(|ids| ids[i].clone()),
            })
            .collect(),
        reload_events: events,
        final_hash,
        final_pid: None,
        final_admin: None,
        duration_s: elapsed.as_secs_f64(),
        concurrency: opts.concurrency,
        reload_via: opts.via,
        passed,
        timeline: timeline
            .into_iter()
            .enumerate()
            .map(|(i, (h, kinds))| {
                let l = latency(&h);
                let dropped = kinds.values().sum();
                Bucket {
                    t: i as f64 * BUCKET.as_secs_f64(),
                    requests: h.len() + dropped,
                    p50: l.p50,
                    p99: l.p99,
                    max: l.max,
                    dropped,
                    dropped_by_kind: kinds,
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::{Until, Via};
    use policy_config::Config;

    fn side(name: &str, text: &str) -> (String, String, Config) {
        let doc = policy_config::yaml::parse(text).expect("the demo config reads");
        let config: Config = serde_json::from_value(doc.value).expect("the demo config types");
        (name.to_string(), text.to_string(), config)
    }

    fn plan() -> Plan {
        let a = side("demo.yaml", include_str!("../../../../fixtures/gateway/demo.yaml"));
        let b = side(
            "demo-next.yaml",
            include_str!("../../../../fixtures/gateway/demo-next.yaml"),
        );
        let (traffic, _) = crate::traffic::parse(include_str!("../../../../fixtures/traffic/chat.jsonl"));
        Plan::new(a, b, &traffic).expect("a plan")
    }

    /// A run in which nothing was answered fails with its reason, though nothing was dropped,
    /// unattributed or mismatched: a gate needs evidence.
    #[test]
    fn a_run_with_no_answer_fails() {
        let opts = Options {
            concurrency: 1,
            rate: None,
            until: Until::Requests(0),
            reloads: 0,
            via: Via::Admin,
            timeout: Duration::from_secs(1),
            command: None,
        };
        let report = analyse(&plan(), &opts, Vec::new(), Vec::new(), Duration::from_secs(1), None);
        assert_eq!((report.requests, report.dropped, report.mismatched), (0, 0, 0));
        assert!(!report.passed);
        assert!(
            report.findings.iter().any(|f| f.kind == "no-evidence"),
            "{:?}",
            report.findings
        );
    }
}
