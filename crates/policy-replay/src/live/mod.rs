//! Live replay: recorded traffic as load against a real gateway while it is switched between
//! two configs, and the proof that nothing was dropped and every response came from exactly
//! one of them.
//!
//! ```text
//! options.rs   what a run is given: endpoint, load and reload settings, and its errors
//! plan.rs      the two sides as the gateway will run them, the requests and their predictions
//! load.rs      the load driver: keep-alive connections, closed loop or fixed rate, samples
//! admin.rs     the reloader's switch (admin, SIGHUP, file) over `crate::admin_client`
//! command.rs   command mode's switch: the operator's reload command, observed by attribution
//! analysis.rs  the report: attribution, verdict checks, drops, latency, timeline
//! spawned.rs   spawn mode: a policy-gateway started for the run on free loopback ports
//! steady.rs    steady background load on several gateways (what a fleet rollout runs under)
//! ```
//!
//! Expectations come from the library, not from the gateway: each config's hash is
//! `engine::config_hash` of what the gateway will run (`diff::hold_restart_fields` for the
//! second config), and each request's verdict under each config is the offline engine's.
//! Attaching to a running gateway or starting one is the caller's choice (`spawned`).

pub mod admin;
mod analysis;
mod command;
mod load;
mod options;
mod plan;
pub mod spawned;
pub mod steady;

pub use analysis::{Bucket, ConfigSummary, Finding, Latency, ProcessSummary, ReloadEvent, Report, Switch};
pub use load::DROP_KINDS;
pub use options::{Attribution, CommandMode, Endpoint, LiveError, Options, Until, Via};
pub use plan::{Plan, Side};

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Run the live replay. Blocking: builds its own runtime.
pub fn run(plan: &Plan, ep: &Endpoint, opts: &Options) -> Result<Report, LiveError> {
    runtime()?.block_on(run_async(plan, ep, opts))
}

/// Run the live replay in command mode against the data plane at `data` (`opts.command` says
/// how to switch). Blocking: builds its own runtime. Ctrl-C ends the load early; the report is
/// still made, and the gateway's config file is put back on every way out.
pub fn run_command(plan: &Plan, data: std::net::SocketAddr, opts: &Options) -> Result<Report, LiveError> {
    runtime()?.block_on(run_command_async(plan, data, opts))
}

fn runtime() -> Result<tokio::runtime::Runtime, LiveError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get().min(4)))
        .enable_all()
        .build()
        .map_err(|e| LiveError::Gateway(format!("cannot start the runtime: {e}")))
}

/// Wait until switch `i` of `n` is due (evenly spread over the run); `false` when the run
/// ended first.
async fn due(i: usize, n: usize, until: Until, start: Instant, progress: &load::Progress) -> bool {
    let frac = i as f64 / (n + 1) as f64;
    loop {
        if progress.stop.load(Ordering::Relaxed) {
            return false;
        }
        let reached = match until {
            Until::Duration(d) => start.elapsed().as_secs_f64() >= d.as_secs_f64() * frac,
            Until::Requests(max) => progress.done.load(Ordering::Relaxed) as f64 >= max as f64 * frac,
        };
        if reached {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Run the reload command once more (`POLICY_SIDE=original`) after the file was put back; a
/// failure is said on stderr.
async fn reload_onto_original(mode: &CommandMode) {
    let (exit, stderr) = command::run(mode, "original", mode.switch_timeout).await;
    if exit != Some(0) {
        eprintln!(
            "policy replay --live: the config file is back as it was, but reloading the gateway onto it failed ({}): {}",
            exit.map_or("killed at the switch timeout".to_string(), |c| format!("exit {c}")),
            stderr.trim()
        );
    }
}

/// After A was put in place before the run: when A's attribution value is known, probe with the
/// first recorded request until the gateway answers as A (the load must not start on the
/// config it ran before).
async fn confirm_a(plan: &Plan, data: std::net::SocketAddr, within: Duration) -> Result<(), LiveError> {
    let Some((header, id)) = plan
        .attribution
        .as_ref()
        .and_then(|a| Some((a.header.as_str(), a.ids[0].as_deref()?)))
    else {
        return Ok(());
    };
    let req = &plan.requests[0];
    let sent = (req.path.as_str(), req.headers.as_slice(), &req.body);
    let deadline = Instant::now() + within;
    let mut conn = load::Conn::default();
    let mut last = None;
    while Instant::now() < deadline {
        if let load::Outcome::Response { attributed, .. } = load::exchange(&mut conn, data, sent, Some(header)).await {
            if attributed.as_deref() == Some(id) {
                return Ok(());
            }
            last = attributed;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(LiveError::Gateway(format!(
        "A ({}) was put in place and the reload command ran before the run, but within {within:?} the gateway still answered with {}, not {header}: {id}",
        plan.sides[0].name,
        match last {
            Some(v) => format!("{header}: {v}"),
            None => format!("no {header} header"),
        }
    )))
}

async fn run_command_async(plan: &Plan, data: std::net::SocketAddr, opts: &Options) -> Result<Report, LiveError> {
    let mode = opts
        .command
        .clone()
        .ok_or_else(|| LiveError::Setup("command mode without a reload command".into()))?;
    let restore = command::Restore::take(&mode).map_err(LiveError::Setup)?;
    let mode_for_restore = mode.clone();
    let progress = Arc::new(load::Progress::default());
    let sightings = Arc::new(load::Sightings::default());
    let mut observer = command::Observer {
        ids: plan.attribution.as_ref().map(|a| a.ids.clone()),
        sightings: Arc::clone(&sightings),
        on: 0,
    };
    let interrupted = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let (progress, interrupted) = (Arc::clone(&progress), Arc::clone(&interrupted));
        // Ctrl-C, or a SIGTERM from a CI runner or a supervisor: end the load, so that the file
        // is put back and the report made. Listened for from here on, before the first switch
        // writes the file, not from whenever the task below first runs.
        use tokio::signal::unix::{signal, SignalKind};
        let (mut int, mut term) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()));
        async fn received(s: &mut std::io::Result<tokio::signal::unix::Signal>) {
            match s {
                Ok(s) => drop(s.recv().await),
                Err(_) => std::future::pending::<()>().await,
            }
        }
        tokio::spawn(async move {
            tokio::select! {
                () = received(&mut int) => {}
                () = received(&mut term) => {}
            }
            interrupted.store(true, Ordering::Relaxed);
            progress.stop.store(true, Ordering::Relaxed);
        });
    }
    // The file in place is not A: put A in place first (not one of the run's switches).
    if restore.as_ref().is_some_and(|r| r.differs_from(&plan.sides[0].bytes)) {
        // No load runs yet to observe it by: the command's exit status is all there is.
        let mut blind = command::Observer {
            ids: None,
            sightings: Arc::clone(&sightings),
            on: 1,
        };
        let first = command::switch(&mode, &plan.sides, 0, &mut blind, Instant::now(), &progress.stop).await;
        let ready = match first.ok {
            true => confirm_a(plan, data, mode.switch_timeout).await,
            false => Err(LiveError::Gateway(format!(
                "switching the gateway to A ({}) before the run failed: {}",
                plan.sides[0].name,
                first.error.unwrap_or_default()
            ))),
        };
        if let Err(e) = ready {
            // Put the file back and the gateway onto it before giving up.
            drop(restore);
            reload_onto_original(&mode_for_restore).await;
            return Err(e);
        }
    }
    let start = Instant::now();
    let workers = load::start(plan, data, opts, start, &progress, &sightings);
    let reloader = {
        let progress = Arc::clone(&progress);
        let (n, until, sides) = (opts.reloads, opts.until, plan.sides.clone());
        tokio::spawn(async move {
            let mut events = Vec::new();
            for i in 1..=n {
                if !due(i, n, until, start, &progress).await {
                    break;
                }
                let mut ev = command::switch(&mode, &sides, i % 2, &mut observer, start, &progress.stop).await;
                ev.n = i;
                events.push(ev);
            }
            (events, observer.ids, observer.on)
        })
    };
    let mut samples = Vec::new();
    for w in workers {
        samples.extend(w.await.unwrap_or_default());
    }
    progress.stop.store(true, Ordering::Relaxed);
    let (events, ids, on) = reloader.await.unwrap_or((Vec::new(), None, 0));
    // The file goes back as it was; when the gateway was left on a side that is not that file,
    // or where it is is not known (a switch failed), it is reloaded onto it
    // (POLICY_SIDE=original), so that it serves what its file says.
    let unsure = events.iter().any(|e| !e.ok);
    let reload_back = restore
        .as_ref()
        .is_some_and(|r| unsure || r.differs_from(&plan.sides[on].bytes));
    drop(restore);
    if reload_back {
        reload_onto_original(&mode_for_restore).await;
    }
    let elapsed = start.elapsed();
    let mut report = analysis::analyse_with(plan, opts, samples, events, elapsed, None, ids);
    if interrupted.load(Ordering::Relaxed) {
        report.interrupted = true;
        report.passed = false;
    }
    Ok(report)
}

async fn run_async(plan: &Plan, ep: &Endpoint, opts: &Options) -> Result<Report, LiveError> {
    let mut ep = ep.clone();
    let mut status = admin::status(&ep).await?;
    let original = match opts.via {
        Via::Admin | Via::Restart | Via::Command => None,
        Via::Sighup | Via::File => {
            let path = std::path::PathBuf::from(&status.config_path);
            let bytes = std::fs::read(&path)
                .map_err(|e| LiveError::Gateway(format!("cannot read the gateway's config {}: {e}", path.display())))?;
            Some((path, bytes))
        }
    };
    if status.hash != plan.sides[0].hash {
        // Put the gateway on A first (not counted as one of the run's reloads).
        let serving = status.hash.clone();
        let first = admin::switch(&mut ep, opts.via, &mut status, &plan.sides[0], Instant::now()).await;
        if !first.ok {
            return Err(LiveError::Gateway(format!(
                "the gateway serves {} and switching it to A ({}) failed: {}; if it was started with different listen/admin/worker_threads/telemetry settings than A, start it with A",
                serving,
                plan.sides[0].hash,
                first.error.unwrap_or_default()
            )));
        }
    }
    let start = Instant::now();
    let progress = Arc::new(load::Progress::default());
    let sightings = Arc::new(load::Sightings::default());
    let workers = load::start(plan, ep.data, opts, start, &progress, &sightings);
    // The reloader: evenly spread over the run, alternating B, A, B, …
    let events = Arc::new(Mutex::new(Vec::new()));
    let reloader = {
        let (events, progress) = (Arc::clone(&events), Arc::clone(&progress));
        let (mut ep, via, n, until) = (ep.clone(), opts.via, opts.reloads, opts.until);
        let sides = plan.sides.clone();
        let mut status = status.clone();
        tokio::spawn(async move {
            for i in 1..=n {
                if !due(i, n, until, start, &progress).await {
                    break;
                }
                let side = &sides[i % 2];
                let mut ev = admin::switch(&mut ep, via, &mut status, side, start).await;
                ev.n = i;
                events.lock().expect("events lock").push(ev);
            }
            // Where the gateway is now: a restart may have moved its admin plane.
            ep
        })
    };
    let mut samples = Vec::new();
    for w in workers {
        samples.extend(w.await.unwrap_or_default());
    }
    progress.stop.store(true, Ordering::Relaxed);
    if let Ok(moved) = reloader.await {
        ep = moved;
    }
    let elapsed = start.elapsed();
    let last = admin::status(&ep).await.ok();
    let final_hash = last.as_ref().map(|s| s.hash.clone());
    let final_pid = last.as_ref().map(|s| s.pid);
    if let Some((path, bytes)) = original {
        let _ = admin::write_atomically(&path, &bytes);
    }
    let events = events.lock().expect("events lock").clone();
    let mut report = analysis::analyse(plan, opts, samples, events, elapsed, final_hash);
    report.final_pid = final_pid;
    report.final_admin = Some(ep.admin.to_string());
    Ok(report)
}
