//! Live replay: recorded traffic as load against a real gateway while it is switched between
//! two configs, and the proof that nothing was dropped and every response came from exactly
//! one of them.
//!
//! ```text
//! options.rs   what a run is given: endpoint, load and reload settings, and its errors
//! plan.rs      the two sides as the gateway will run them, the requests and their predictions
//! load.rs      the load driver: keep-alive connections, closed loop or fixed rate, samples
//! admin.rs     the reloader's switch (admin, SIGHUP, file) over `crate::admin_client`
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
mod load;
mod options;
mod plan;
pub mod spawned;
pub mod steady;

pub use analysis::{Bucket, ConfigSummary, Finding, Latency, ProcessSummary, ReloadEvent, Report};
pub use options::{Endpoint, LiveError, Options, Until, Via};
pub use plan::{Plan, Side};

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Run the live replay. Blocking: builds its own runtime.
pub fn run(plan: &Plan, ep: &Endpoint, opts: &Options) -> Result<Report, LiveError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get().min(4)))
        .enable_all()
        .build()
        .map_err(|e| LiveError::Gateway(format!("cannot start the runtime: {e}")))?;
    rt.block_on(run_async(plan, ep, opts))
}

async fn run_async(plan: &Plan, ep: &Endpoint, opts: &Options) -> Result<Report, LiveError> {
    let mut ep = ep.clone();
    let mut status = admin::status(&ep).await?;
    let original = match opts.via {
        Via::Admin | Via::Restart => None,
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
    let workers = load::start(plan, ep.data, opts, start, &progress);
    // The reloader: evenly spread over the run, alternating B, A, B, …
    let events = Arc::new(Mutex::new(Vec::new()));
    let reloader = {
        let (events, progress) = (Arc::clone(&events), Arc::clone(&progress));
        let (mut ep, via, n, until) = (ep.clone(), opts.via, opts.reloads, opts.until);
        let sides = plan.sides.clone();
        let mut status = status.clone();
        tokio::spawn(async move {
            for i in 1..=n {
                let frac = i as f64 / (n + 1) as f64;
                loop {
                    let reached = match until {
                        Until::Duration(d) => start.elapsed().as_secs_f64() >= d.as_secs_f64() * frac,
                        Until::Requests(max) => progress.done.load(Ordering::Relaxed) as f64 >= max as f64 * frac,
                    };
                    if reached || progress.stop.load(Ordering::Relaxed) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                if progress.stop.load(Ordering::Relaxed) {
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
