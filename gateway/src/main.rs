//! `policy-gateway --config FILE [--watch] [--record FILE] [--state-dir DIR]`: the reference
//! gateway. `policy-gateway --check --config FILE` validates FILE and exits.
//!
//! ```text
//! main.rs               arguments, startup, the lifecycle (signals -> actions, in one place: `run`)
//! state.rs              `Gateway`: the shared state, with the active config in an `ArcSwap`
//! reload.rs             the pipeline every trigger shares: read -> lint -> classify -> compile -> swap
//! data.rs               data plane: /v1/chat/completions, /v1/completions, /health
//! upstream/mod.rs       provider dispatch, the pooled HTTP(S) client, headers, timeouts, failures
//! upstream/openai.rs    openai: pass-through with a bearer key
//! upstream/anthropic.rs anthropic: Messages API translation, both ways, streams included
//! upstream/mock.rs      mock: local OpenAI-format answers
//! admin.rs              admin plane: reload, revert, status, history, metrics; bearer auth
//! metrics.rs            the /metrics counters and their Prometheus rendering
//! http.rs               shared HTTP pieces: body type, JSON and error responses, 405, bounded reads
//! watch.rs              --watch: directory watch, debounced
//! journal.rs            audit log and --record writer (one thread, whole lines), operator log
//! state_dir.rs          --state-dir: history and the revert target on disk, written atomically
//! notify.rs             sd_notify: READY/RELOADING/STOPPING to systemd when $NOTIFY_SOCKET is set
//! check.rs              --check: validate and compile as a reload would, exit 0/1/2
//! ```
//!
//! Exit codes: 0 after SIGTERM (drained) or SIGINT; 1 when the config at start has errors;
//! 2 for usage, I/O and bind errors and an unusable `--state-dir`. `--check`: 0 valid, 1 errors,
//! 2 unreadable.

mod admin;
mod check;
mod data;
mod http;
mod journal;
mod metrics;
mod notify;
mod reload;
mod state;
mod state_dir;
mod upstream;
mod watch;

use clap::Parser;
use http::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use journal::{log, Journal};
use metrics::Metrics;
use policy::contract::admin::{OpKind, OpOutcome, Operation};
use policy::contract::ServingLine;
use reload::Trigger;
use state::Gateway;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch as signal_watch;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The reference gateway for `policy`: proxies OpenAI-style requests through the policy chain
/// and hot-reloads its config atomically (SIGHUP, POST /admin/reload, --watch).
#[derive(Debug, Parser)]
#[command(name = "policy-gateway", version)]
struct Args {
    /// The policy config (SPEC §1).
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
    /// Reload when the config file changes (directory watch, debounced, identical bytes skipped).
    #[arg(long)]
    watch: bool,
    /// Append every data-plane request to FILE as JSON Lines (SPEC §4; never credentials).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Keep the operation history and the revert target in DIR (created if missing), written
    /// atomically, so both survive a restart, a crash or `kill -9`.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Validate and compile --config as a reload would, print the verdict and exit: 0 valid,
    /// 1 errors, 2 unreadable. Binds nothing.
    #[arg(long)]
    check: bool,
}

/// How the process is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Serving.
    Running,
    /// SIGTERM: stop accepting, finish in-flight requests, exit 0.
    Drain,
    /// SIGINT: stop now (in-flight requests are cut), exit 0.
    Fast,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.check {
        return check::run(&args.config);
    }
    let bytes = match std::fs::read(&args.config) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("policy-gateway: cannot read {}: {e}", args.config.display());
            return ExitCode::from(2);
        }
    };
    let label = args.config.display().to_string();
    let first = match reload::prepare(&label, &bytes, None) {
        Ok(c) => c,
        Err(r) => {
            eprintln!("{}\npolicy-gateway: not starting: {}", r.rendered.trim_end(), r.error);
            return ExitCode::from(1);
        }
    };
    let state = match args.state_dir.as_deref().map(state_dir::StateDir::open).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("policy-gateway: not starting: {e}");
            return ExitCode::from(2);
        }
    };
    let restored = state.as_ref().map(|s| s.restore(&first.active)).unwrap_or_default();
    let threads = first.active.config.gateway.worker_threads.max(1) as usize;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        // Blocking work is the reload pipeline only, one at a time: one thread keeps its
        // allocations in one heap instead of spreading them over a pool of idle threads.
        .max_blocking_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("policy-gateway: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(run(args, first, state, restored))
}

async fn bind(what: &str, addr: &str) -> Result<TcpListener, ExitCode> {
    TcpListener::bind(addr).await.map_err(|e| {
        eprintln!("policy-gateway: cannot listen on {addr} ({what}): {e}");
        ExitCode::from(2)
    })
}

async fn run(
    args: Args,
    first: reload::Candidate,
    state: Option<state_dir::StateDir>,
    restored: state_dir::Restored,
) -> ExitCode {
    let started = Instant::now();
    let gwc = &first.active.config.gateway;
    let data_listener = match bind("gateway.listen", &gwc.listen).await {
        Ok(l) => l,
        Err(code) => return code,
    };
    let admin_listener = match bind("gateway.admin.listen", &gwc.admin.listen).await {
        Ok(l) => l,
        Err(code) => return code,
    };
    let local = |l: &TcpListener| l.local_addr().expect("a bound socket has an address");
    let journal = Journal::start();
    let active = Arc::new(first.active);
    let gw = Arc::new(Gateway {
        active: arc_swap::ArcSwap::new(Arc::clone(&active)),
        previous: Mutex::new(restored.previous.map(Arc::new)),
        reload_lock: tokio::sync::Mutex::new(()),
        config_path: args.config.clone(),
        history: Mutex::new(restored.history),
        metrics: Metrics::default(),
        journal,
        record: args.record.clone(),
        client: upstream::client(),
        listen: local(&data_listener),
        admin_listen: local(&admin_listener),
        started,
        next_id: std::sync::atomic::AtomicU64::new(1),
        instance: format!("{:x}{:04x}", journal::now_ms(), std::process::id() & 0xffff),
        state,
    });
    state_dir::configs_changed(&gw);
    reload::record(
        &gw,
        Operation {
            seq: 0,
            op: OpKind::Start,
            trigger: Trigger::Startup,
            outcome: OpOutcome::Applied,
            at: String::new(),
            from: None,
            to: Some(active.identity()),
            duration_ms: state::millis(started.elapsed()),
            changes: 0,
            pending_restart: Vec::new(),
            error: None,
        },
        &active,
        "policy_reload",
    );
    if let Some(name) = &active.config.gateway.admin.token_env {
        if std::env::var(name).map_or(true, |v| v.is_empty()) {
            log(
                "WARN",
                &format!("gateway.admin.token_env names {name}, which is not set: every admin request will get 401"),
            );
        }
    }
    for w in &first.warnings {
        if let Some(m) = w.get("message").and_then(|m| m.as_str()) {
            log("WARN", &format!("config: {m}"));
        }
    }
    // Whoever started this process waits for this line (`policy::process`). Both listeners
    // are bound, so a connection made from now on waits in the backlog until it is served.
    let serving = ServingLine {
        pack: active.config.pack.name.clone(),
        version: active.version.clone(),
        hash: active.hash.clone(),
        data: gw.listen,
        admin: gw.admin_listen,
    };
    log("INFO", &serving.to_string());
    notify::ready();
    drop(active);

    let _watcher = if args.watch {
        match watch::start(Arc::clone(&gw)) {
            Ok(w) => Some(w),
            Err(e) => {
                log("ERROR", &format!("cannot watch {}: {e}", args.config.display()));
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };

    let (stop_tx, stop_rx) = signal_watch::channel(Stop::Running);
    let data = tokio::spawn(serve(data_listener, Arc::clone(&gw), data::handle, stop_rx.clone()));
    let admin = tokio::spawn(serve(admin_listener, Arc::clone(&gw), admin::handle, stop_rx));

    // The lifecycle, in one place: SIGHUP reloads, SIGTERM drains, SIGINT stops fast.
    use tokio::signal::unix::{signal, SignalKind};
    let (mut hup, mut term, mut int) = match (
        signal(SignalKind::hangup()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(h), Ok(t), Ok(i)) => (h, t, i),
        _ => {
            log("ERROR", "cannot install signal handlers");
            return ExitCode::from(2);
        }
    };
    let stop = loop {
        tokio::select! {
            _ = hup.recv() => {
                let gw = Arc::clone(&gw);
                tokio::spawn(async move { reload::reload(&gw, reload::Source::File, Trigger::Sighup).await });
            }
            _ = term.recv() => break Stop::Drain,
            _ = int.recv() => break Stop::Fast,
        }
    };
    notify::stopping();
    let in_flight = gw.metrics.in_flight.load(std::sync::atomic::Ordering::Relaxed);
    match stop {
        Stop::Drain => log("INFO", &format!("SIGTERM: draining {in_flight} in-flight request(s)")),
        _ => log(
            "INFO",
            &format!("SIGINT: stopping now ({in_flight} in-flight request(s) cut)"),
        ),
    }
    let _ = stop_tx.send(stop);
    if stop == Stop::Drain {
        let _ = data.await;
        let _ = admin.await;
    }
    // Everything queued so far reaches the disk before the process exits.
    gw.journal.flush();
    log("INFO", "stopped");
    ExitCode::SUCCESS
}

/// Longest a SIGTERM drain waits for in-flight requests: long enough for a slow completion
/// (the default upstream timeout is 30 s), bounded so a stuck stream cannot block shutdown.
const DRAIN_LIMIT: Duration = Duration::from_secs(60);

/// Accept connections on `listener` and serve them with `handler` until told to stop.
async fn serve<H, F>(listener: TcpListener, gw: Arc<Gateway>, handler: H, mut stop: signal_watch::Receiver<Stop>)
where
    H: Fn(Arc<Gateway>, Request<Incoming>, SocketAddr) -> F + Copy + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors or similar: back off instead of spinning.
                        log("WARN", &format!("accept failed: {e}"));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let header_timeout = Duration::from_millis(gw.active.load().config.gateway.limits.request_timeout_ms);
                let gw = Arc::clone(&gw);
                let service = hyper::service::service_fn(move |req| {
                    let gw = Arc::clone(&gw);
                    async move { Ok::<_, std::convert::Infallible>(handler(gw, req, peer).await) }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    let drain = *stop.borrow() == Stop::Drain;
    if drain && tokio::time::timeout(DRAIN_LIMIT, graceful.shutdown()).await.is_err() {
        log(
            "WARN",
            &format!("drain: requests still running after {DRAIN_LIMIT:?}; stopping anyway"),
        );
    }
}
