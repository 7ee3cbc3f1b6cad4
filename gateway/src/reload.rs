//! The reload pipeline, shared by every trigger (startup, SIGHUP, `POST /admin/reload`,
//! `--watch`) and by revert: read -> prepare (lint, classify against the active config,
//! compile: `candidate.rs`) -> swap -> record.
//!
//! Owns the only writes to `Gateway::active`. One operation at a time (`reload_lock`). A
//! rejected reload changes nothing but history, metrics and logs. What a text becomes, and
//! which of its changes wait for a restart, is decided in `candidate.rs`; persisting history
//! and the configs to `--state-dir` is `persist.rs`'s.

use crate::candidate::{self, Candidate, Rejection};
use crate::journal::{log, now_ms};
use crate::metrics::ReloadError;
use crate::persist;
use crate::state::{Active, Gateway};
pub use policy_contract::admin::Trigger;
use policy_contract::admin::{Answer, Applied, OpKind, OpOutcome, Operation, Origin, Rejected};
use policy_diff::classify;
use policy_engine::Engine;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

/// Where the new config comes from.
#[derive(Debug)]
pub enum Source {
    /// Re-read `--config`.
    File,
    /// A YAML body posted to `/admin/reload`.
    Text(Vec<u8>),
}
/// Where `source`'s text comes from, stamped now: `--config` (absolute), or the admin body.
pub fn origin(gw: &Gateway, source: &Source) -> Origin {
    match source {
        Source::File => crate::file_origin(&gw.config_path),
        Source::Text(_) => Origin::admin_body(policy_contract::time::format_rfc3339(now_ms())),
    }
}

/// Read the config file (a blocking read: configs are small and this runs on a blocking thread).
fn read_file(gw: &Gateway) -> Result<Vec<u8>, Rejection> {
    std::fs::read(&gw.config_path).map_err(|e| {
        Rejection::new(
            ReloadError::Read,
            format!("cannot read {}: {e}", gw.config_path.display()),
        )
    })
}

/// Run the pipeline once. Never panics on any input; never leaves `active` half-changed.
pub async fn reload(gw: &Arc<Gateway>, source: Source, trigger: Trigger) -> Answer {
    let _one = gw.reload_lock.lock().await;
    // RELOADING=1 to systemd now, READY=1 when this returns, whatever the outcome.
    let _notified = crate::notify::Reloading::begin();
    let started = Instant::now();
    let running = gw.active.load_full();
    let label = match &source {
        Source::File => gw.config_path.display().to_string(),
        Source::Text(_) => "<admin request body>".to_string(),
    };
    let origin = origin(gw, &source);
    if matches!(source, Source::File) && running.origin.path != origin.path {
        // SIGHUP, --watch or an empty reload re-read `--config`; what serves came from
        // elsewhere (`policy gateway reload --config OTHER` posts its file as a body).
        log(
            "WARN",
            &format!(
                "reload ({}): re-reading {}, but the active config came from {}: the file replaces it",
                trigger.as_str(),
                gw.config_path.display(),
                running.origin
            ),
        );
    }
    let worker = {
        let gw = Arc::clone(gw);
        let running = Arc::clone(&running);
        let label = label.clone();
        tokio::task::spawn_blocking(move || {
            let bytes = match source {
                Source::File => read_file(&gw)?,
                Source::Text(b) => b,
            };
            if trigger == Trigger::Watch && candidate::source_sha(&bytes) == running.source_sha {
                return Ok(None);
            }
            candidate::prepare(&label, &bytes, Some(&running), &gw.overrides, origin).map(Some)
        })
    };
    let prepared: Result<Option<Candidate>, Rejection> = match worker.await {
        Ok(r) => r,
        Err(e) => Err(Rejection::new(ReloadError::Io, format!("reload worker failed: {e}"))),
    };
    let elapsed = || started.elapsed().as_secs_f64();
    match prepared {
        Ok(None) => {
            // Counted, so a skip can be told from a change the watch never saw.
            gw.metrics
                .watch_skipped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Answer::Skipped {
                reason: "the file's bytes equal the active config's source".into(),
            }
        }
        Err(rejection) => {
            let seconds = elapsed();
            gw.metrics
                .reload_failure
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            gw.metrics.reload_error(rejection.kind);
            gw.metrics.observe_reload(seconds);
            let refused = running.refused(OpKind::Reload, trigger, OpOutcome::Rejected, started, &rejection.error);
            let op = record(gw, refused, &running, "policy_reload_failed");
            log(
                "ERROR",
                &format!(
                    "reload ({}) rejected, still serving {} {}: {}\n{}",
                    trigger.as_str(),
                    running.version,
                    running.hash,
                    rejection.error,
                    rejection.rendered.trim_end()
                ),
            );
            Answer::Rejected(Box::new(Rejected {
                error: rejection.error,
                diagnostics: Some(*rejection.diagnostics),
                active: Some(running.identity()),
                operation: Some(op),
            }))
        }
        Ok(Some(candidate)) => {
            let unchanged = candidate.plan.is_empty() && candidate.active.pending_restart == running.pending_restart;
            if candidate
                .active
                .pending_restart
                .iter()
                .any(|p| !running.pending_restart.contains(p))
            {
                // A change the operator made did not take effect: it waits for a restart.
                gw.metrics.reload_error(ReloadError::RestartClass);
            }
            let next = Arc::new(candidate.active);
            if !unchanged {
                gw.active.store(Arc::clone(&next));
                // The revert target is the last config that served differently. A reload that
                // changed only restart-class fields (held, now pending) serves what ran before:
                // making that the target would turn the next revert into a no-op and lose the
                // config before it.
                if !candidate.plan.is_empty() {
                    *gw.previous.lock().expect("previous lock") = Some(Arc::clone(&running));
                }
                persist::configs_changed(gw);
                gw.probes
                    .targets_changed(&running.config.providers.targets, &next.config.providers.targets);
            }
            let seconds = elapsed();
            gw.metrics
                .reload_success
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            gw.metrics.observe_reload(seconds);
            let now = if unchanged { &running } else { &next };
            let outcome = if unchanged {
                OpOutcome::Unchanged
            } else {
                OpOutcome::Applied
            };
            let op = record(
                gw,
                Operation {
                    seq: 0,
                    op: OpKind::Reload,
                    trigger,
                    outcome,
                    at: String::new(),
                    from: Some(running.identity()),
                    to: Some(now.identity()),
                    duration_ms: crate::state::millis(started.elapsed()),
                    changes: candidate.plan.changes.len(),
                    pending_restart: now.pending_restart.clone(),
                    error: None,
                },
                now,
                "policy_reload",
            );
            log(
                "INFO",
                &format!(
                    "reload ({}) {}: {} {} -> {} {} ({} change(s), {:.1} ms)",
                    trigger.as_str(),
                    outcome.as_str(),
                    running.version,
                    running.hash,
                    now.version,
                    now.hash,
                    candidate.plan.changes.len(),
                    seconds * 1e3
                ),
            );
            if !now.pending_restart.is_empty() {
                log(
                    "WARN",
                    &format!("some changes require restart: [{}]", now.pending_restart.join(", ")),
                );
            }
            let body = Box::new(Applied {
                version: now.version.clone(),
                hash: now.hash.clone(),
                generation: now.generation,
                previous: running.identity(),
                changes: Some(policy_diff::render::to_json(&candidate.plan)["changes"].take()),
                pending_restart: now.pending_restart.clone(),
                warnings: Some(candidate.warnings),
                duration_ms: Some(crate::state::millis(started.elapsed())),
                operation: op,
                pid: None,
                instance: None,
                listen: None,
                admin_listen: None,
            });
            if unchanged {
                Answer::Unchanged(body)
            } else {
                Answer::Applied(body)
            }
        }
    }
}
/// Swap back to the config before the active one. The swapped-out config becomes the revert
/// target, so a second revert undoes the first (as `kubectl rollout undo` does).
pub async fn revert(gw: &Arc<Gateway>) -> Answer {
    let _one = gw.reload_lock.lock().await;
    let started = Instant::now();
    let running = gw.active.load_full();
    let Some(target) = gw.previous.lock().expect("previous lock").clone() else {
        return Answer::Rejected(Box::new(Rejected {
            error: "nothing to revert to: no config was replaced since start".into(),
            diagnostics: None,
            active: None,
            operation: None,
        }));
    };
    // The stored engine's rate-limit buckets are those of the time it was replaced. The
    // engine is chosen as `prepare` chooses it for a reload to the same config: the running
    // one when nothing it sees changed, else compiled after the running one, so the buckets
    // carry over exactly when the limits are unchanged.
    let plan = classify(&running.config, &target.config);
    let engine = if plan.is_empty() {
        Arc::clone(&running.engine)
    } else {
        let (config, active) = (target.config.clone(), Arc::clone(&running.engine));
        let compiled = tokio::task::spawn_blocking(move || Engine::compile_after(&config, Some(&active))).await;
        match compiled {
            Ok(Ok(engine)) => Arc::new(engine),
            Ok(Err(e)) => return revert_failed(format!("the previous config no longer compiles: {e}")),
            Err(e) => return revert_failed(format!("revert worker failed: {e}")),
        }
    };
    let next = Arc::new(Active {
        config: target.config.clone(),
        engine,
        version: target.version.clone(),
        hash: target.hash.clone(),
        source_sha: target.source_sha.clone(),
        source: Arc::clone(&target.source),
        origin: target.origin.clone(),
        pending_restart: target.pending_restart.clone(),
        generation: running.generation + 1,
        audit: target.audit.clone(),
        headers: target.headers.clone(),
    });
    gw.active.store(Arc::clone(&next));
    *gw.previous.lock().expect("previous lock") = Some(Arc::clone(&running));
    persist::configs_changed(gw);
    gw.probes
        .targets_changed(&running.config.providers.targets, &next.config.providers.targets);
    gw.metrics.reverts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let op = record(
        gw,
        Operation {
            seq: 0,
            op: OpKind::Revert,
            trigger: Trigger::Admin,
            outcome: OpOutcome::Applied,
            at: String::new(),
            from: Some(running.identity()),
            to: Some(next.identity()),
            duration_ms: crate::state::millis(started.elapsed()),
            changes: plan.changes.len(),
            pending_restart: next.pending_restart.clone(),
            error: None,
        },
        &next,
        "policy_revert",
    );
    log(
        "INFO",
        &format!(
            "revert: {} {} -> {} {}",
            running.version, running.hash, next.version, next.hash
        ),
    );
    Answer::Applied(Box::new(Applied {
        version: next.version.clone(),
        hash: next.hash.clone(),
        generation: next.generation,
        previous: running.identity(),
        changes: None,
        pending_restart: next.pending_restart.clone(),
        warnings: None,
        duration_ms: None,
        operation: op,
        pid: None,
        instance: None,
        listen: None,
        admin_listen: None,
    }))
}

/// A revert that could not be applied: nothing changed.
fn revert_failed(error: String) -> Answer {
    log("ERROR", &format!("revert rejected: {error}"));
    Answer::Rejected(Box::new(Rejected {
        error,
        diagnostics: None,
        active: None,
        operation: None,
    }))
}

/// Put `op` in history and, when `config` audits, in its audit log as `event`.
pub fn record(gw: &Gateway, mut op: Operation, config: &Active, event: &str) -> Operation {
    op.at = policy_contract::time::format_rfc3339(now_ms());
    let op = gw.history.lock().expect("history lock").push(op);
    persist::history_changed(gw);
    if let Some(path) = config.audit_path() {
        let mut ev = json!({"event": event, "ts": op.at});
        if let (Value::Object(m), Ok(Value::Object(fields))) = (&mut ev, serde_json::to_value(&op)) {
            m.extend(fields);
        }
        gw.journal.audit(path, config.audit_keep_days(), &ev);
    }
    op
}
