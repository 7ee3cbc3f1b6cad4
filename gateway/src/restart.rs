//! Zero-drop restart (docs/operator/restart.md): a new process takes over the listening sockets and
//! runs the new config in full, restart-class fields included, while not one connection is refused.
//!
//! The old process (triggered by SIGUSR2 or `POST /admin/restart`):
//! 1. lints and compiles the new config — errors end it here (422), nothing else happens;
//! 2. binds a private Unix socket and starts its own binary again with the same arguments
//!    plus `--upgrade-from SOCKET`;
//! 3. sends the new process a [`Handover`](crate::handover::Handover) with its listening
//!    sockets attached (SCM_RIGHTS: the same sockets, so connections queued in their backlogs
//!    are not lost — no `SO_REUSEPORT` overlap), its history and its revert target;
//! 4. waits for the new process's [`Ready`](crate::handover::Ready) (it has bound any changed
//!    address fresh, and serves); a process that exits or is not ready within
//!    [`READY_TIMEOUT`](crate::handover::READY_TIMEOUT) is killed and the old one serves on
//!    (`policy_restart_failed`);
//! 5. only then stops accepting and drains (`serve.rs`, [`Stop::Handover`]), and exits.
//!
//! One restart at a time: a second is refused (409) while one runs. The new process's side
//! is [`receive`](crate::handover::receive) and
//! [`Upgrade::ready`](crate::handover::Upgrade::ready), called from `main.rs` at startup.
//!
//! This module is the old process's side: validate, record, decide. The protocol itself —
//! the messages, the sockets, starting the new process — is `handover.rs`.

use crate::candidate;
use crate::handover::{start_successor, Described, Handover};
use crate::journal::{log, now_ms};
use crate::reload::{self, Source};
use crate::state::{Active, Gateway, Stop};
use policy_contract::admin::{Answer, Applied, OpKind, OpOutcome, Operation, Rejected, Trigger};
use std::os::fd::OwnedFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// The revert target the new process inherits: the running config, unless the new one differs
/// from it only in restart-class fields (`policy gateway restart` after a reload that left
/// them pending). Then the running config serves what the new one will, and the target stays
/// the one before it, as a reload that changes nothing it serves leaves it.
fn revert_target(gw: &Gateway, running: &Arc<Active>, next: &Active) -> Arc<Active> {
    let plan = policy_diff::classify(&running.config, &next.config);
    let serves_the_same = plan
        .changes
        .iter()
        .all(|c| c.class == policy_config::schema::ReloadClass::Restart);
    let previous = gw.previous.lock().expect("previous lock").clone();
    match previous {
        Some(previous) if serves_the_same => previous,
        _ => Arc::clone(running),
    }
}

/// Run a zero-drop restart: the HTTP status and the answer for `POST /admin/restart`.
pub async fn restart(gw: &Arc<Gateway>, source: Source, trigger: Trigger) -> (u16, Answer) {
    if gw.restarting.swap(true, Ordering::SeqCst) {
        return (
            409,
            Answer::Rejected(Box::new(Rejected {
                error: "a restart is already running".into(),
                diagnostics: None,
                active: Some(gw.active.load().identity()),
                operation: None,
            })),
        );
    }
    // Logged once this restart holds the one-at-a-time flag, before its lint, compile and
    // new process: from here until it fails or hands over, another restart is refused.
    log(
        "INFO",
        &format!(
            "restart ({}) started: checking the new config; this process serves until the new one is ready",
            trigger.as_str()
        ),
    );
    let (code, answer) = run(gw, source, trigger).await;
    if code != 200 {
        gw.restarting.store(false, Ordering::SeqCst);
    }
    (code, answer)
}

async fn run(gw: &Arc<Gateway>, source: Source, trigger: Trigger) -> (u16, Answer) {
    let _one = gw.reload_lock.lock().await;
    let started = Instant::now();
    let started_ms = now_ms();
    let running = gw.active.load_full();
    let label = match &source {
        Source::File => gw.config_path.display().to_string(),
        Source::Text(_) => "<admin request body>".to_string(),
    };
    let origin = crate::reload::origin(gw, &source);
    // 1. Validate and compile exactly as a start would, before anything else happens.
    let checked = {
        let (path, label, overrides) = (gw.config_path.clone(), label.clone(), gw.overrides.clone());
        tokio::task::spawn_blocking(
            move || -> Result<(String, Active), (String, Option<serde_json::Value>)> {
                let bytes = match source {
                    Source::File => {
                        std::fs::read(&path).map_err(|e| (format!("cannot read {}: {e}", path.display()), None))?
                    }
                    Source::Text(b) => b,
                };
                let candidate = candidate::prepare(&label, &bytes, None, &overrides, origin)
                    .map_err(|r| (r.error, Some(*r.diagnostics).filter(|d| !d.is_null())))?;
                // prepare accepted it, so it is UTF-8.
                Ok((String::from_utf8_lossy(&bytes).into_owned(), candidate.active))
            },
        )
        .await
    };
    // A blocking worker that panicked or was cancelled: the restart did not happen.
    let worker_failed = |e: tokio::task::JoinError| {
        fail(
            gw,
            &running,
            trigger,
            started,
            format!("restart worker failed: {e}"),
            None,
        )
    };
    let (text, next) = match checked {
        Ok(Ok(checked)) => checked,
        Ok(Err((error, diagnostics))) => {
            let op = failed_op(gw, &running, trigger, started, OpOutcome::Rejected, &error);
            log(
                "ERROR",
                &format!(
                    "restart ({}) rejected, still serving {} {}: {error}",
                    trigger.as_str(),
                    running.version,
                    running.hash
                ),
            );
            return (
                422,
                Answer::Rejected(Box::new(Rejected {
                    error,
                    diagnostics,
                    active: Some(running.identity()),
                    operation: Some(op),
                })),
            );
        }
        Err(e) => return worker_failed(e),
    };
    // 2.-4. Start the new process and hand the sockets over.
    let (described, fds): (Vec<Described>, Vec<OwnedFd>) = {
        let kept = gw.listeners.lock().expect("listeners lock");
        let duplicated: std::io::Result<Vec<OwnedFd>> = kept.iter().map(|l| l.fd.try_clone()).collect();
        match duplicated {
            Ok(fds) => (kept.iter().map(|l| l.described.clone()).collect(), fds),
            Err(e) => {
                drop(kept);
                let error = format!("cannot duplicate a listening socket: {e}");
                return fail(gw, &running, trigger, started, error, None);
            }
        }
    };
    let target = revert_target(gw, &running, &next);
    let handover = Handover {
        origin: Some(next.origin.clone()),
        revert_origin: Some(target.origin.clone()),
        config: text,
        label,
        sockets: described,
        history: gw
            .history
            .lock()
            .expect("history lock")
            .entries
            .iter()
            .cloned()
            .collect(),
        revert_to: String::from_utf8_lossy(&target.source).into_owned(),
        from: running.identity(),
        trigger,
        started_ms,
        shadow: gw
            .shadow
            .load()
            .as_deref()
            .map(|s| String::from_utf8_lossy(&s.source).into_owned()),
    };
    let argv = gw.argv.clone();
    let outcome = tokio::task::spawn_blocking(move || start_successor(&argv, &handover, &fds)).await;
    let ready = match outcome {
        Ok(Ok(r)) => r,
        Ok(Err((error, pid))) => return fail(gw, &running, trigger, started, error, pid),
        Err(e) => return worker_failed(e),
    };
    // 5. The new process serves: stop accepting, drain, exit (main.rs watches the lifecycle).
    gw.listeners.lock().expect("listeners lock").clear();
    log(
        "INFO",
        &format!(
            "restart ({}): pid {} serves {} {} on http://{}, admin on http://{}; this process (pid {}) stops accepting and drains",
            trigger.as_str(),
            ready.pid,
            ready.to.version,
            ready.to.hash,
            ready.listen,
            ready.admin_listen,
            std::process::id()
        ),
    );
    let _ = gw.lifecycle.send(Stop::Handover);
    // Answer only once no serve loop accepts any more: a client that connects after reading
    // this answer reaches the new process, never this one.
    let mut accepting = gw.accepting.subscribe();
    if tokio::time::timeout(std::time::Duration::from_secs(2), accepting.wait_for(|n| *n == 0))
        .await
        .is_err()
    {
        log("WARN", "restart: a serve loop still accepted 2 s after the handover");
    }
    (
        200,
        Answer::Applied(Box::new(Applied {
            version: ready.to.version.clone(),
            hash: ready.to.hash.clone(),
            generation: ready.generation,
            previous: running.identity(),
            changes: None,
            pending_restart: Vec::new(),
            warnings: None,
            duration_ms: Some(crate::state::millis(started.elapsed())),
            operation: ready.operation,
            pid: Some(ready.pid),
            instance: Some(ready.instance),
            listen: Some(ready.listen.to_string()),
            admin_listen: Some(ready.admin_listen.to_string()),
        })),
    )
}

/// Record a restart that did not happen, in history and (as `policy_restart_failed`) in the
/// audit log.
fn failed_op(
    gw: &Gateway,
    running: &Active,
    trigger: Trigger,
    started: Instant,
    outcome: OpOutcome,
    error: &str,
) -> Operation {
    let refused = running.refused(OpKind::Restart, trigger, outcome, started, error);
    reload::record(gw, refused, running, "policy_restart_failed")
}

fn fail(
    gw: &Gateway,
    running: &Active,
    trigger: Trigger,
    started: Instant,
    error: String,
    pid: Option<u32>,
) -> (u16, Answer) {
    let error = match pid {
        Some(pid) => format!("the new process (pid {pid}) {error}; it was stopped and this one serves on"),
        None => format!("{error}; this process serves on"),
    };
    let op = failed_op(gw, running, trigger, started, OpOutcome::Failed, &error);
    log("ERROR", &format!("restart ({}) failed: {error}", trigger.as_str()));
    (
        500,
        Answer::Rejected(Box::new(Rejected {
            error,
            diagnostics: None,
            active: Some(running.identity()),
            operation: Some(op),
        })),
    )
}
