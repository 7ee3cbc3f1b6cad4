//! `policy rollout` (docs/guide/fleet.md): move a group onto a new config batch by batch.
//!
//! 1. Preflight: every gateway reachable with its token, its running config read, and no
//!    process listed twice — any failure stops here, before anything is touched.
//! 2. Plan: each gateway's change classified (`hot` reload, or `restart` when restart-class
//!    fields change: the zero-drop restart), and with recorded traffic the verdict shift the
//!    offline engine predicts. `--dry-run` stops here.
//! 3. With `shadow`, the shadow stage: every gateway evaluates the new config beside its own
//!    on live traffic for that long (`/admin/shadow`), serving nothing of it; the summed
//!    counts are gated (`gates::shadow`) and the shadow stopped everywhere before any wave. A
//!    failed shadow gate halts the rollout with every gateway untouched.
//! 4. Waves of `batch_size` gateways, in inventory order: update, confirm the new hash, bake,
//!    then gate (`gates.rs`) against the gateways not yet updated (or the last ones seen; when
//!    the first wave is the whole group, against its own mix over one bake before the update).
//!    A failed gate rolls every updated gateway back to the exact
//!    config it ran before (its canonical JSON, confirmed by hash) with `rollback_on_error`,
//!    or halts.
//!
//! Interruption (the CLI's Ctrl-C) is honoured between steps: the current gateway's update
//! finishes, the batch is not gated, and the report says where the fleet stands.

use super::gates;
use super::inventory::{GatewayEntry, Group};
use super::metrics::Counters;
pub use super::report::{GatewayOutcome, Planned, Report, Rollback, ShadowGateway, ShadowStage, Wave};
use super::status::{self, Observed};
use policy_config::Config;
use policy_diff as diff;
use policy_engine::config_hash;
use policy_replay::admin_client::AdminClient;
use policy_replay::{offline, traffic::Recorded};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How the rollout is run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Gateways per wave (the first wave is the canary).
    pub batch_size: usize,
    /// How long a wave's traffic is watched before its gates are read.
    pub bake: Duration,
    /// On a failed gate, put every updated gateway back (else halt where it stands).
    pub rollback_on_error: bool,
    /// Largest unpredicted change of a verdict's share, batch vs control (0.2 = 20 points).
    pub max_verdict_shift: f64,
    /// Largest share of upstream errors on the batch.
    pub max_error_rate: f64,
    /// Recorded traffic: the verdict shift it predicts is allowed.
    pub traffic: Option<Vec<Recorded>>,
    /// Plan only.
    pub dry_run: bool,
    /// Shadow the new config on every gateway this long before the first wave, and gate on it.
    pub shadow: Option<Duration>,
    /// The transitions (`old->new`) the shadow stage accepts; `None`: any.
    pub expect: Option<std::collections::BTreeSet<String>>,
}

/// Why a rollout could not run at all (nothing was touched).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RolloutError {
    /// A gateway cannot be reached, or refuses the token.
    #[error("gateway {gateway}: {reason}; nothing was changed")]
    #[diagnostic(code(policy::rollout::preflight))]
    Preflight {
        /// The gateway's inventory name.
        gateway: String,
        /// Why.
        reason: String,
    },
    /// The new config cannot be compiled for the prediction.
    #[error("{0}")]
    #[diagnostic(code(policy::rollout::setup))]
    Setup(String),
}

/// A gateway as the rollout tracks it.
struct Target {
    entry: GatewayEntry,
    client: AdminClient,
    before_hash: String,
    /// The running config as canonical JSON: what a rollback reloads (or restarts onto).
    before_text: String,
    class: &'static str,
    updated: bool,
}

/// Run the rollout of `new` (its text `new_text`, named `file`) over `group`. `progress`
/// receives one line per step; `interrupt` is polled between steps; `audit` receives one JSON
/// event per update, gate reading and rollback.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    group_name: &str,
    group: &Group,
    file: &str,
    new_text: &str,
    new: &Config,
    opts: &Options,
    progress: &(dyn Fn(&str) + Sync),
    audit: &(dyn Fn(serde_json::Value) + Sync),
    interrupt: &AtomicBool,
) -> Result<Report, RolloutError> {
    let expected = config_hash(new);
    // 1. Preflight: nothing is touched unless every gateway answers.
    let mut targets = Vec::new();
    let mut instances: Vec<(String, String)> = Vec::new();
    for entry in &group.gateways {
        let fail = |reason: String| RolloutError::Preflight {
            gateway: entry.name.clone(),
            reason,
        };
        let (admin, token) = entry.endpoint().map_err(|e| fail(e.to_string()))?;
        let client = AdminClient::new(admin, token);
        let status = client.status().await.map_err(|e| fail(e.to_string()))?;
        // Two entries for one process (two spellings of its address) would let the canary be
        // compared with itself.
        if let Some((same, _)) = instances.iter().find(|(_, i)| *i == status.instance) {
            return Err(fail(format!(
                "it is the same gateway as `{same}` (instance {}): list each gateway once",
                status.instance
            )));
        }
        instances.push((entry.name.clone(), status.instance.clone()));
        let running = client.config().await.map_err(|e| fail(e.to_string()))?;
        if running.gateway.admin.token_env != new.gateway.admin.token_env {
            let name = |t: &Option<String>| t.as_deref().map_or("none".to_string(), |v| format!("`{v}`"));
            return Err(fail(format!(
                "the new config changes `gateway.admin.token_env` from {} to {}: once updated, the gateway would want a token this rollout does not hold, and could be neither gated nor rolled back; change the admin token outside a rollout",
                name(&running.gateway.admin.token_env),
                name(&new.gateway.admin.token_env)
            )));
        }
        // An address this instance overrides on its command line is not the file's to change
        // (docs/guide/fleet.md): a new value there is no restart for it, as the gateway plans it.
        let plan = diff::classify(&running, new).for_instance(|p| status.overridden.iter().any(|o| o == p));
        let class = if status.hash == expected {
            "none"
        } else if plan.restart_required().is_empty() {
            "hot"
        } else {
            "restart"
        };
        targets.push((
            Target {
                entry: entry.clone(),
                client,
                before_hash: status.hash.clone(),
                before_text: serde_json::to_string_pretty(&running).expect("a config serialises"),
                class,
                updated: false,
            },
            plan,
            running,
        ));
    }
    let offline_report = match (&opts.traffic, targets.first()) {
        (Some(traffic), Some((_, _, running))) => {
            Some(offline::replay(running, new, traffic).map_err(|e| RolloutError::Setup(e.to_string()))?)
        }
        _ => None,
    };
    // The share of requests whose verdict the recorded traffic predicts to change.
    let predicted_changed = offline_report
        .as_ref()
        .map(|r| r.changed as f64 / r.requests.max(1) as f64);
    let predicted_shift = match &offline_report {
        Some(r) => {
            let shares = |side: &str| -> BTreeMap<&'static str, f64> {
                let counts = r.verdicts.get(side).cloned().unwrap_or_default();
                let total = counts.values().sum::<usize>().max(1) as f64;
                policy_contract::Verdict::ALL
                    .iter()
                    .map(|v| (v.as_str(), counts.get(v.as_str()).copied().unwrap_or(0) as f64 / total))
                    .collect()
            };
            let (old, new_s) = (shares("old"), shares("new"));
            Some(
                new_s
                    .iter()
                    .map(|(k, v)| (*k, v - old.get(k).copied().unwrap_or(0.0)))
                    .collect(),
            )
        }
        _ => None,
    };
    let plan: Vec<Planned> = targets
        .iter()
        .map(|(t, p, _)| Planned {
            name: t.entry.name.clone(),
            class: t.class,
            changes: diff::render::to_json(p)["changes"].clone(),
            before: t.before_hash.clone(),
        })
        .collect();
    let mut targets: Vec<Target> = targets.into_iter().map(|(t, _, _)| t).collect();
    let mut report = Report {
        group: group_name.to_string(),
        file: file.to_string(),
        hash: expected.clone(),
        outcome: "dry_run",
        plan,
        predicted_shift,
        waves: Vec::new(),
        gateways: Vec::new(),
        rollback: None,
        interrupted: None,
        shadow: None,
    };
    if opts.dry_run {
        report.gateways = outcomes(&targets).await;
        return Ok(report);
    }
    if let Some(how_long) = opts.shadow {
        let stage = shadow_stage(
            &targets,
            new_text,
            how_long,
            predicted_changed,
            opts,
            progress,
            interrupt,
        )
        .await;
        audit(
            serde_json::json!({"event": "rollout_shadow", "passed": stage.passed, "gates": &stage.gates, "error": &stage.error}),
        );
        let passed = stage.passed;
        report.shadow = Some(stage);
        if !passed || interrupt.load(Ordering::SeqCst) {
            report.outcome = "halted";
            if interrupt.load(Ordering::SeqCst) {
                report.interrupted = Some(
                    "interrupted in the shadow stage: the shadow is stopped everywhere and no gateway was changed"
                        .into(),
                );
            }
            report.gateways = outcomes(&targets).await;
            return Ok(report);
        }
    }
    let predicted = report.predicted_shift.clone().unwrap_or_default();
    let batch = opts.batch_size.max(1);
    let mut last_control: Option<Counters> = None;
    let mut failed = false;
    let waves = targets.len().div_ceil(batch);
    for w in 0..waves {
        if interrupt.load(Ordering::SeqCst) {
            break;
        }
        let range = w * batch..((w + 1) * batch).min(targets.len());
        let started = Instant::now();
        let names: Vec<String> = targets[range.clone()].iter().map(|t| t.entry.name.clone()).collect();
        progress(&format!("wave {}/{waves}: {}", w + 1, names.join(", ")));
        let mut wave = Wave {
            gateways: names,
            gates: Vec::new(),
            passed: false,
            duration_ms: 0,
            error: None,
        };
        // With no gateway outside the first wave (one gateway, or a batch the size of the
        // group) there will never be a control: the wave's own verdict mix on the old config,
        // over one bake before it is updated, stands in for it.
        if w == 0 && range.end == targets.len() && !interrupt.load(Ordering::SeqCst) {
            progress("  no gateway stays outside this wave: watching its verdict mix on the old config first");
            let before = read_counters(&targets).await;
            bake(opts.bake, progress, interrupt).await;
            let after = read_counters(&targets).await;
            let mut old_mix = Counters::default();
            for (a, b) in before.iter().zip(&after) {
                if let (Some(a), Some(b)) = (a, b) {
                    old_mix.add(&between(a, b));
                }
            }
            last_control = Some(old_mix);
        }
        // Update the batch.
        for t in &mut targets[range.clone()] {
            let result = update(t, new_text, &expected).await;
            audit(
                serde_json::json!({"event": "rollout_update", "gateway": t.entry.name, "class": t.class, "ok": result.is_ok(), "error": result.as_ref().err()}),
            );
            match result {
                Ok(()) => progress(&format!("  {} on {} ({})", t.entry.name, short(&expected), t.class)),
                Err(e) => {
                    wave.error = Some(format!("{}: {e}", t.entry.name));
                    break;
                }
            }
        }
        if wave.error.is_none() && interrupt.load(Ordering::SeqCst) {
            wave.error = Some("interrupted before the bake: the batch is updated but was not gated".into());
        }
        if wave.error.is_none() {
            // Bake: read every gateway, wait, read again.
            let before = read_counters(&targets).await;
            bake(opts.bake, progress, interrupt).await;
            let after = read_counters(&targets).await;
            let (mut batch_delta, mut control_delta) = (Counters::default(), Counters::default());
            let mut control_seen = false;
            let mut health_readings = Vec::new();
            for (i, t) in targets.iter().enumerate() {
                let (Some(a), Some(b)) = (&before[i], &after[i]) else {
                    if range.contains(&i) {
                        health_readings.push((t.entry.name.clone(), false, None));
                    }
                    continue;
                };
                let delta = between(a, b);
                if range.contains(&i) {
                    batch_delta.add(&delta);
                    health_readings.push((t.entry.name.clone(), b.ready, Some(b.status.hash.clone())));
                } else if !t.updated {
                    control_delta.add(&delta);
                    control_seen = true;
                }
            }
            let control = if control_seen {
                last_control = Some(control_delta.clone());
                control_delta
            } else {
                last_control.clone().unwrap_or_default()
            };
            wave.gates = vec![
                gates::health(&health_readings, &expected),
                gates::error_rate(&batch_delta, opts.max_error_rate),
                gates::verdict_mix(&batch_delta, &control, &predicted, opts.max_verdict_shift),
            ];
            for g in &wave.gates {
                progress(&format!(
                    "  gate {}: {} — {}",
                    g.name,
                    if g.passed { "pass" } else { "FAIL" },
                    g.detail
                ));
                audit(serde_json::json!({"event": "rollout_gate", "wave": w + 1, "gate": g}));
            }
            wave.passed = wave.gates.iter().all(|g| g.passed);
        }
        wave.duration_ms = started.elapsed().as_millis() as u64;
        let passed = wave.passed;
        let interrupted_here = wave.error.as_deref().is_some_and(|e| e.starts_with("interrupted"));
        report.waves.push(wave);
        if interrupted_here {
            break;
        }
        if !passed {
            failed = true;
            break;
        }
    }
    let breach = Instant::now();
    if interrupt.load(Ordering::SeqCst) {
        let on_new = targets.iter().filter(|t| t.updated).count();
        report.interrupted = Some(format!(
            "interrupted: {on_new} of {} gateways serve the new config, the others their previous one; rerun to continue or roll back",
            targets.len()
        ));
        report.outcome = "halted";
    } else if failed && opts.rollback_on_error {
        progress("rolling back every updated gateway");
        let mut rb = Rollback {
            gateways: Vec::new(),
            complete: true,
            breach_to_whole_ms: 0,
            errors: Vec::new(),
        };
        for t in targets.iter_mut().filter(|t| t.updated).rev() {
            rb.gateways.push(t.entry.name.clone());
            let text = t.before_text.clone();
            let hash = t.before_hash.clone();
            let result = update(t, &text, &hash).await;
            audit(
                serde_json::json!({"event": "rollout_rollback", "gateway": t.entry.name, "ok": result.is_ok(), "error": result.as_ref().err()}),
            );
            match result {
                Ok(()) => {
                    t.updated = false;
                    progress(&format!("  {} back on {}", t.entry.name, short(&hash)));
                }
                Err(e) => {
                    rb.complete = false;
                    rb.errors.push(format!("{}: {e}", t.entry.name));
                }
            }
        }
        rb.gateways.reverse();
        rb.breach_to_whole_ms = breach.elapsed().as_millis() as u64;
        // A rollback that could not put every gateway back leaves the fleet where it stands.
        report.outcome = if rb.complete { "rolled_back" } else { "halted" };
        report.rollback = Some(rb);
    } else if failed {
        report.outcome = "halted";
    } else {
        report.outcome = "completed";
    }
    report.gateways = outcomes(&targets).await;
    Ok(report)
}

/// Put `t` on `text` (expected to hash to `hash`): a hot reload, or a zero-drop restart when
/// restart-class fields change (then the admin plane may move: follow it). Confirmed by hash.
async fn update(t: &mut Target, text: &str, hash: &str) -> Result<(), String> {
    let status = t.client.status().await.map_err(|e| e.to_string())?;
    if status.hash == hash {
        // Already there (a gateway on the new config before the rollout, or one put back).
        t.updated = hash != t.before_hash;
        return Ok(());
    }
    let (code, answer) = if t.class == "restart" {
        t.client.restart(text).await
    } else {
        t.client.reload(text).await
    }
    .map_err(|e| e.to_string())?;
    let Some(applied) = answer.applied().filter(|_| code == 200) else {
        return Err(match answer {
            policy_contract::admin::Answer::Rejected(r) => format!("HTTP {code}: {}", r.error),
            other => format!("HTTP {code}: {}", other.status()),
        });
    };
    if let Some(admin) = applied
        .admin_listen
        .as_deref()
        .and_then(|a| a.parse::<SocketAddr>().ok())
    {
        // A restart may move the admin plane; keep the host the inventory reached it at.
        let mut moved = admin;
        if moved.ip().is_unspecified() {
            moved.set_ip(t.client.admin.ip());
        }
        t.client.admin = moved;
    }
    if applied.hash != hash {
        return Err(format!(
            "serves {} after the update, expected {hash} (restart-class fields held back?)",
            applied.hash
        ));
    }
    t.updated = hash != t.before_hash;
    Ok(())
}

/// The shadow stage: start the new config as a shadow on every gateway, wait `how_long`,
/// stop it everywhere (the final reports), and gate on the summed counts. Every shadow started
/// is stopped, whatever happens.
#[allow(clippy::too_many_arguments)]
async fn shadow_stage(
    targets: &[Target],
    new_text: &str,
    how_long: Duration,
    predicted_changed: Option<f64>,
    opts: &Options,
    progress: &(dyn Fn(&str) + Sync),
    interrupt: &AtomicBool,
) -> ShadowStage {
    let mut stage = ShadowStage {
        duration_s: how_long.as_secs_f64(),
        gateways: Vec::new(),
        requests: 0,
        changed: 0,
        transitions: BTreeMap::new(),
        gates: Vec::new(),
        passed: false,
        error: None,
    };
    progress(&format!(
        "shadow: every gateway evaluates the new config beside its own for {how_long:?}; nothing of it is served"
    ));
    // Every gateway a POST was sent to gets a DELETE, whatever its answer: a POST whose
    // answer was lost may still have started the shadow there.
    let mut started = Vec::new();
    for t in targets {
        let sent = t.client.shadow("POST", new_text).await;
        started.push(t);
        match sent {
            Ok((200, _)) => {}
            Ok((code, body)) => {
                let why = body.get("error").map_or_else(|| body.to_string(), |e| e.to_string());
                stage.error = Some(format!("{}: the shadow was refused (HTTP {code}): {why}", t.entry.name));
                break;
            }
            Err(e) => {
                stage.error = Some(format!("{}: {e}", t.entry.name));
                break;
            }
        }
    }
    if stage.error.is_none() {
        bake(how_long, progress, interrupt).await;
    }
    for t in started {
        let failed = match t.client.shadow("DELETE", "").await {
            Ok((200, body)) => match serde_json::from_value::<policy_contract::admin::ShadowReport>(body) {
                Ok(r) => {
                    stage.requests += r.requests;
                    stage.changed += r.changed;
                    for (k, n) in &r.transitions {
                        *stage.transitions.entry(k.clone()).or_default() += n;
                    }
                    progress(&format!(
                        "  {}: {} of {} requests would change",
                        t.entry.name, r.changed, r.requests
                    ));
                    stage.gateways.push(ShadowGateway {
                        name: t.entry.name.clone(),
                        report: r,
                    });
                    None
                }
                Err(e) => Some(format!("{}: the shadow report: {e}", t.entry.name)),
            },
            // Nothing ran there (the POST was refused): nothing to stop.
            Ok((404, _)) => None,
            Ok((code, _)) => Some(format!("{}: stopping the shadow: HTTP {code}", t.entry.name)),
            Err(e) => Some(format!("{}: stopping the shadow: {e}", t.entry.name)),
        };
        if stage.error.is_none() {
            stage.error = failed;
        }
    }
    if stage.error.is_none() && !interrupt.load(Ordering::SeqCst) {
        stage.gates = gates::shadow(
            stage.requests,
            stage.changed,
            &stage.transitions,
            predicted_changed,
            opts.max_verdict_shift,
            opts.expect.as_ref(),
        );
        for g in &stage.gates {
            let verdict = if g.passed { "pass" } else { "FAIL" };
            progress(&format!("  gate {}: {verdict} — {}", g.name, g.detail));
        }
        stage.passed = stage.gates.iter().all(|g| g.passed);
    }
    stage
}

/// Wait `how_long`, a progress line a second, or until interrupted.
async fn bake(how_long: Duration, progress: &(dyn Fn(&str) + Sync), interrupt: &AtomicBool) {
    let mut left = how_long;
    while !left.is_zero() && !interrupt.load(Ordering::SeqCst) {
        let step = left.min(Duration::from_secs(1));
        progress(&format!("  baking: {:.0} s left", left.as_secs_f64()));
        tokio::time::sleep(step).await;
        left = left.saturating_sub(step);
    }
}

/// What a gateway counted between two readings. Counters belong to a process: no delta
/// across a restart.
fn between(a: &Observed, b: &Observed) -> Counters {
    if a.status.instance == b.status.instance {
        b.counters.since(&a.counters)
    } else {
        Counters::default()
    }
}

/// Every gateway's reading, `None` for one that did not answer in time.
async fn read_counters(targets: &[Target]) -> Vec<Option<Observed>> {
    let mut out = Vec::new();
    for t in targets {
        let reading = tokio::time::timeout(status::GATEWAY_TIMEOUT * 2, status::observe(&t.client)).await;
        out.push(reading.ok().and_then(Result::ok));
    }
    out
}

async fn outcomes(targets: &[Target]) -> Vec<GatewayOutcome> {
    let mut out = Vec::new();
    for t in targets {
        out.push(GatewayOutcome {
            name: t.entry.name.clone(),
            before: t.before_hash.clone(),
            after: t.client.status().await.ok().map(|s| s.hash),
        });
    }
    out
}

/// `sha256:0123456789ab`: enough of a hash for progress lines.
fn short(hash: &str) -> &str {
    &hash[..hash.len().min(19)]
}
