//! The reload pipeline, shared by every trigger (startup, SIGHUP, `POST /admin/reload`,
//! `--watch`) and by revert: read -> lint -> classify against the active config -> compile ->
//! swap -> record.
//!
//! Owns the only writes to `Gateway::active`. One operation at a time (`reload_lock`). A
//! rejected reload changes nothing but history, metrics and logs. Restart-class changes are
//! never applied: the new `Active` keeps the running values of those fields and lists their
//! pointers as pending restart, whatever the fields are (the plan's classes come from the
//! schema's `x-reload`, so a new restart-class field needs no code here). An address this
//! instance overrides (`--listen`, `--admin-listen`: [`Overrides`]) is not restart-class here:
//! the file's value is taken as it is (the config, and its hash, stay the file's) and nothing
//! is pending, because this instance binds the override whatever the file says.

use crate::journal::{log, now_ms};
use crate::state::{Active, Gateway, Overrides};
pub use policy::contract::admin::Trigger;
use policy::contract::admin::{Answer, Applied, OpKind, OpOutcome, Operation, Rejected};
use policy::diff::{classify, Plan};
use policy::engine::Engine;
use policy::lint::rules::invalid_listen_address::{is_loopback, parse as parse_listen};
use policy::lint::{self, FileReport};
use policy::schema::ReloadClass;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
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

/// A config that passed lint and compiled, not yet active.
pub struct Candidate {
    /// The config as it will run (restart-class fields held at their running values).
    pub active: Active,
    /// Hot changes against the active config.
    pub plan: Plan,
    /// Warnings from lint, rendered.
    pub warnings: Vec<Value>,
}

/// Why a candidate was refused.
pub struct Rejection {
    /// One line for logs and history.
    pub error: String,
    /// Lint diagnostics (SPEC §2 JSON shape), when lint refused it.
    pub diagnostics: Value,
    /// The diagnostics rendered for a terminal (the log).
    pub rendered: String,
}

/// SHA-256 hex of a config's bytes.
pub fn source_sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Lint and compile `bytes` into a candidate against `running` (`None` at startup), for an
/// instance with `overrides`. CPU-bound: call from a blocking thread.
pub fn prepare(
    label: &str,
    bytes: &[u8],
    running: Option<&Active>,
    overrides: &Overrides,
) -> Result<Candidate, Rejection> {
    let sha = source_sha(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let error = format!("{label} is not UTF-8 text (invalid byte at offset {})", e.valid_up_to());
            return Err(Rejection {
                rendered: error.clone(),
                error,
                diagnostics: Value::Null,
            });
        }
    };
    let report = lint::lint_source(label, text);
    let errors = report.count(lint::Severity::Error);
    let Some(config) = report.config.clone().filter(|_| errors == 0) else {
        return Err(rejected_by_lint(&report, errors));
    };
    let warnings = lint_json(&report);
    if let Some(error) = open_admin_without_token(&config, overrides) {
        return Err(Rejection::from(format!("{label}: {error}")));
    }
    let (config, pending, plan) = match running {
        None => (config, Vec::new(), Plan::default()),
        Some(run) => {
            let proposed = for_instance(classify(&run.config, &config), overrides);
            let pending: Vec<String> = proposed.restart_required().into_iter().map(String::from).collect();
            let effective = policy::diff::hold_restart_fields(&run.config, &config, &proposed);
            let plan = for_instance(classify(&run.config, &effective), overrides);
            (effective, pending, plan)
        }
    };
    let engine = match running {
        // Nothing the engine sees changed: keep it, and its rate-limit state.
        Some(run) if plan.is_empty() => Arc::clone(&run.engine),
        // Compiled after the running engine: its rate-limit buckets carry over when the
        // limits are unchanged.
        _ => Arc::new(
            Engine::compile_after(&config, running.map(|r| &*r.engine))
                .map_err(|e| Rejection::from(format!("{label}: {e}")))?,
        ),
    };
    let active = Active {
        audit: Active::audit_target(&config),
        version: config.pack.version.clone(),
        hash: engine.hash().to_string(),
        source_sha: sha,
        source: Arc::from(bytes),
        pending_restart: pending,
        generation: running.map_or(1, |r| r.generation + 1),
        engine,
        config,
    };
    Ok(Candidate {
        active,
        plan,
        warnings: warnings
            .get("diagnostics")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    })
}

/// `plan` as this instance sees it: a change at an address it overrides takes effect without
/// a restart (there is nothing to rebind), so it is hot here.
fn for_instance(mut plan: Plan, overrides: &Overrides) -> Plan {
    for c in &mut plan.changes {
        if overrides.covers(&c.pointer) {
            c.class = ReloadClass::Hot;
        }
    }
    plan
}

/// P309 (`admin-listener-without-token`) for the address this instance really binds: lint
/// sees only the file's `gateway.admin.listen`, so an `--admin-listen` open to the network is
/// checked here, at start and on every reload (a reload may drop `token_env`).
fn open_admin_without_token(config: &policy::config::Config, overrides: &Overrides) -> Option<String> {
    let addr = overrides.admin_listen.as_deref()?;
    let host = parse_listen(addr).ok()?;
    (config.gateway.admin.token_env.is_none() && !is_loopback(host)).then(|| {
        format!(
            "the admin plane listens on non-loopback `{addr}` (--admin-listen) without a token: set `gateway.admin.token_env`, or listen on 127.0.0.1"
        )
    })
}

fn rejected_by_lint(report: &FileReport, errors: usize) -> Rejection {
    let first = report
        .diagnostics
        .iter()
        .find(|d| d.severity == lint::Severity::Error)
        .map(|d| format!(": {} {} at line {}", d.code, d.message, d.line()))
        .unwrap_or_default();
    Rejection {
        error: format!("{} has {errors} error(s){first}", report.path),
        diagnostics: lint_json(report).get("diagnostics").cloned().unwrap_or(Value::Null),
        rendered: lint::render::human::render(std::slice::from_ref(report), lint::render::human::Style::Narratable),
    }
}

/// The SPEC §2 JSON of one file's diagnostics.
fn lint_json(report: &FileReport) -> Value {
    let all = lint::render::json::to_value(std::slice::from_ref(report));
    all.pointer("/files/0").cloned().unwrap_or(Value::Null)
}

/// Read the config file (a blocking read: configs are small and this runs on a blocking thread).
fn read_file(gw: &Gateway) -> Result<Vec<u8>, String> {
    std::fs::read(&gw.config_path).map_err(|e| format!("cannot read {}: {e}", gw.config_path.display()))
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
    let worker = {
        let gw = Arc::clone(gw);
        let running = Arc::clone(&running);
        let label = label.clone();
        tokio::task::spawn_blocking(move || {
            let bytes = match source {
                Source::File => read_file(&gw)?,
                Source::Text(b) => b,
            };
            if trigger == Trigger::Watch && source_sha(&bytes) == running.source_sha {
                return Ok(None);
            }
            prepare(&label, &bytes, Some(&running), &gw.overrides).map(Some)
        })
    };
    let prepared: Result<Option<Candidate>, Rejection> = match worker.await {
        Ok(r) => r,
        Err(e) => Err(Rejection::from(format!("reload worker failed: {e}"))),
    };
    let elapsed = || started.elapsed().as_secs_f64();
    match prepared {
        Ok(None) => Answer::Skipped {
            reason: "the file's bytes equal the active config's source".into(),
        },
        Err(rejection) => {
            let seconds = elapsed();
            gw.metrics
                .reload_failure
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            gw.metrics.observe_reload(seconds);
            let op = record(
                gw,
                Operation {
                    seq: 0,
                    op: OpKind::Reload,
                    trigger,
                    outcome: OpOutcome::Rejected,
                    at: String::new(),
                    from: Some(running.identity()),
                    to: None,
                    duration_ms: crate::state::millis(started.elapsed()),
                    changes: 0,
                    pending_restart: running.pending_restart.clone(),
                    error: Some(rejection.error.clone()),
                },
                &running,
                "policy_reload_failed",
            );
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
                diagnostics: Some(rejection.diagnostics),
                active: Some(running.identity()),
                operation: Some(op),
            }))
        }
        Ok(Some(candidate)) => {
            let unchanged = candidate.plan.is_empty() && candidate.active.pending_restart == running.pending_restart;
            let next = Arc::new(candidate.active);
            if !unchanged {
                gw.active.store(Arc::clone(&next));
                *gw.previous.lock().expect("previous lock") = Some(Arc::clone(&running));
                crate::state_dir::configs_changed(gw);
                gw.probes.targets_changed(&running, &next);
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
                changes: Some(policy::diff::render::to_json(&candidate.plan)["changes"].take()),
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

impl From<String> for Rejection {
    fn from(error: String) -> Rejection {
        Rejection {
            rendered: error.clone(),
            error,
            diagnostics: Value::Null,
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
        pending_restart: target.pending_restart.clone(),
        generation: running.generation + 1,
        audit: target.audit.clone(),
    });
    gw.active.store(Arc::clone(&next));
    *gw.previous.lock().expect("previous lock") = Some(Arc::clone(&running));
    crate::state_dir::configs_changed(gw);
    gw.probes.targets_changed(&running, &next);
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
    op.at = policy::replay::traffic::format_rfc3339(now_ms());
    let op = gw.history.lock().expect("history lock").push(op);
    crate::state_dir::history_changed(gw);
    if let Some(path) = config.audit_path() {
        let mut ev = json!({"event": event, "ts": op.at});
        if let (Value::Object(m), Ok(Value::Object(fields))) = (&mut ev, serde_json::to_value(&op)) {
            m.extend(fields);
        }
        gw.journal.append(path, &ev);
    }
    op
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy::config::Config;

    fn config(text: &str) -> Config {
        lint::load_config_str("t.yaml", text).expect("valid").0
    }

    const BASE: &str = "pack: { name: p, version: 1.0.0 }\nproviders: { targets: [ { id: m, provider: mock } ] }\n";

    #[test]
    fn restart_fields_keep_their_running_values_and_hot_ones_apply() {
        let running = config(&format!(
            "{BASE}gateway: {{ listen: 127.0.0.1:1 }}\ntelemetry: {{ service_name: a }}\n"
        ));
        let proposed = config(&format!(
            "{BASE}gateway: {{ listen: 127.0.0.1:2, worker_threads: 8, limits: {{ max_body_bytes: 10 }} }}\n"
        ));
        let plan = classify(&running, &proposed);
        let held = policy::diff::hold_restart_fields(&running, &proposed, &plan);
        assert_eq!(held.gateway.listen, "127.0.0.1:1");
        assert_eq!(held.gateway.worker_threads, running.gateway.worker_threads);
        assert_eq!(
            held.telemetry, running.telemetry,
            "a removed restart section is put back"
        );
        assert_eq!(held.gateway.limits.max_body_bytes, 10, "hot changes apply");
        let left = classify(&running, &held);
        assert!(left.restart_required().is_empty(), "{left:?}");
        assert_eq!(left.changes.len(), 1);
    }

    #[test]
    fn prepare_reports_pending_restart_and_rejects_errors() {
        let none = Overrides::default();
        let running = prepare("a.yaml", BASE.as_bytes(), None, &none).ok().unwrap().active;
        let next = format!("{BASE}gateway: {{ admin: {{ listen: 127.0.0.1:9 }} }}\n");
        let c = prepare("b.yaml", next.as_bytes(), Some(&running), &none).ok().unwrap();
        assert_eq!(c.active.pending_restart, ["/gateway/admin/listen"]);
        assert!(c.plan.is_empty());
        assert!(
            Arc::ptr_eq(&c.active.engine, &running.engine),
            "nothing the engine sees changed"
        );
        assert_eq!(c.active.hash, running.hash);
        let bad = prepare("c.yaml", b"pack: {}\n", Some(&running), &none).err().unwrap();
        assert!(bad.error.contains("c.yaml has"), "{}", bad.error);
        assert!(bad.diagnostics.as_array().is_some_and(|d| !d.is_empty()));
        let not_utf8 = prepare("d.yaml", b"pack: \xff\n", Some(&running), &none).err().unwrap();
        assert!(not_utf8.error.contains("not UTF-8"));
    }

    #[test]
    fn an_overridden_address_is_the_files_and_never_pending() {
        let instance = Overrides {
            listen: Some("127.0.0.1:7".into()),
            admin_listen: None,
        };
        let first = prepare("a.yaml", BASE.as_bytes(), None, &instance).ok().unwrap().active;
        let plain = prepare("a.yaml", BASE.as_bytes(), None, &Overrides::default())
            .ok()
            .unwrap()
            .active;
        assert_eq!(
            first.hash, plain.hash,
            "the hash is the file's, whatever the instance binds"
        );
        let moved = format!("{BASE}gateway: {{ listen: 127.0.0.1:9, admin: {{ listen: 127.0.0.1:8 }} }}\n");
        let c = prepare("b.yaml", moved.as_bytes(), Some(&first), &instance)
            .ok()
            .unwrap();
        assert_eq!(
            c.active.pending_restart,
            ["/gateway/admin/listen"],
            "only the address not overridden"
        );
        assert_eq!(
            c.active.config.gateway.listen, "127.0.0.1:9",
            "the file's value, as the file says"
        );
        let file = prepare("b.yaml", moved.as_bytes(), None, &Overrides::default())
            .ok()
            .unwrap()
            .active;
        let held = format!("{BASE}gateway: {{ listen: 127.0.0.1:9 }}\n");
        let expected = prepare("c.yaml", held.as_bytes(), None, &Overrides::default())
            .ok()
            .unwrap()
            .active;
        assert_ne!(c.active.hash, file.hash, "the admin address is held");
        assert_eq!(c.active.hash, expected.hash);
    }

    #[test]
    fn an_open_admin_override_needs_a_token() {
        let open = Overrides {
            listen: None,
            admin_listen: Some("0.0.0.0:41003".into()),
        };
        let refused = prepare("a.yaml", BASE.as_bytes(), None, &open).err().unwrap();
        assert!(refused.error.contains("--admin-listen"), "{}", refused.error);
        let with_token = format!("{BASE}gateway: {{ admin: {{ token_env: POLICY_ADMIN_TOKEN }} }}\n");
        assert!(prepare("b.yaml", with_token.as_bytes(), None, &open).is_ok());
    }
}
