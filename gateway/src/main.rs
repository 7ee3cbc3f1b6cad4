//! `policy-gateway --config FILE [--listen ADDR] [--admin-listen ADDR] [--watch] [--record FILE]
//! [--state-dir DIR]`: the reference gateway. `policy-gateway --check --config FILE` validates
//! FILE and exits.
//!
//! ```text
//! args.rs               the command line: flags, --help, --version (lexopt)
//! main.rs               startup, the lifecycle (signals -> actions, in one place: `run`)
//! state.rs              `Gateway`: the shared state, with the active config in an `ArcSwap`;
//!                       `Overrides`: the instance's --listen/--admin-listen, applied where it binds
//! reload.rs             the pipeline every trigger shares: read -> prepare -> swap -> record; revert
//! candidate.rs          `prepare`: lint -> classify -> compile a text into the `Active` it would run as
//! data.rs               data plane: /v1/chat/completions, /v1/completions, /health, /health/ready;
//!                       400 for bodies the engine cannot read, 503 under audit on_failure: closed
//! probe.rs              each target's reachability: a background TCP connect every few seconds
//!                       (its results live in `Gateway::probes`; it does not read the state itself)
//! upstream/mod.rs       provider dispatch; wire.rs: headers, timeouts, failures
//! upstream/pool.rs      each data thread's upstream HTTP(S) client: connections kept between
//!                       requests, the response body that returns its connection
//! upstream/h1.rs        HTTP/1.1 on the wire: request bytes, response head, body framing (the
//!                       body decoder is the server's too)
//! upstream/openai.rs    openai: pass-through with a bearer key
//! upstream/anthropic.rs anthropic: Messages API translation, both ways, streams included
//! upstream/mock.rs      mock: local OpenAI-format answers
//! admin.rs              admin plane: reload, revert, restart, status, history, config, metrics;
//!                       bearer auth
//! workers.rs            the data plane's threads: one single-threaded runtime each, pinned to
//!                       CPUs on request, connections handed round-robin, each thread's copy of
//!                       "the drain ran out"
//! serve.rs              the accept loop and the end of connections: drain (drain_timeout_ms), cut,
//!                       hand over
//! server.rs             HTTP/1.1 server of both planes: request heads and bodies read, responses
//!                       written, keep-alive, a client's hang-up, closing when the plane stops
//! restart.rs            zero-drop restart, the old process's side: validate, hand over, record
//! handover.rs           the handover protocol: sockets over SCM_RIGHTS, start the successor, ready
//! shadow.rs             shadow evaluation: a candidate evaluated beside the active config, counted
//! metrics.rs            the /metrics counters and their Prometheus rendering; reload error types
//! http.rs               shared HTTP pieces: body type, JSON and error responses, 405, bounded reads,
//!                       the SSE wrapper that ends open streams with an error event after a drain
//! watch.rs              --watch: directory watch, debounced, re-armed when the directory is replaced
//! journal.rs            audit log and --record writer (one thread, whole lines), audit write state
//!                       (AuditState), operator log
//! persist.rs            what the gateway keeps in --state-dir: restore at start, write after changes
//! state_dir.rs          --state-dir's files: operations and config texts, written atomically
//! notify.rs             sd_notify: READY/RELOADING/STOPPING to systemd when $NOTIFY_SOCKET is set
//! check.rs              --check: validate and compile as a reload would, exit 0/1/2
//! ```
//!
//! Exit codes: 0 after SIGTERM (drained), SIGINT, or a restart handed over to a new process;
//! 1 when the config at start has errors; 2 for usage, I/O and bind errors, an unusable
//! `--state-dir`, and a target's key variable unset in the environment. `--check`: 0 valid, 1 errors, 2 unreadable.

mod admin;
mod args;
mod candidate;
mod check;
mod data;
mod handover;
mod http;
mod journal;
mod metrics;
mod notify;
mod persist;
mod probe;
mod reload;
mod restart;
mod serve;
mod server;
mod shadow;
mod state;
mod state_dir;
mod upstream;
mod watch;
mod workers;

use args::{Args, Parsed};
use handover::{Listening, Plane};
use journal::{log, Journal};
use metrics::Metrics;
use policy_contract::admin::{OpKind, OpOutcome, Operation};
use policy_contract::ServingLine;
use reload::Trigger;
use serve::{serve, Threads};
use state::{Gateway, History, Stop};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::watch as signal_watch;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `path` (made absolute) as a config's origin, read now.
pub fn file_origin(path: &std::path::Path) -> policy_contract::admin::Origin {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    policy_contract::admin::Origin::file(
        path.display().to_string(),
        policy_contract::time::format_rfc3339(journal::now_ms()),
    )
}

fn main() -> ExitCode {
    let args = match args::parse() {
        Ok(Parsed::Run(args)) => args,
        Ok(Parsed::Print(text)) => {
            print!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("policy-gateway: {e}\n\nUsage: policy-gateway --config <FILE> [OPTIONS]\nFor more information, try '--help'.");
            return ExitCode::from(2);
        }
    };
    if args.check {
        return check::run(&args.config, &args.overrides());
    }
    // The new side of a restart runs the config the old process validated and hands over.
    let upgrade = match &args.upgrade_from {
        Some(path) => match handover::receive(path) {
            Ok(u) => Some(u),
            Err(e) => {
                eprintln!("policy-gateway: restart handover failed: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let (bytes, label) = match &upgrade {
        Some(u) => (u.handover.config.clone().into_bytes(), u.handover.label.clone()),
        None => match std::fs::read(&args.config) {
            Ok(b) => (b, args.config.display().to_string()),
            Err(e) => {
                eprintln!("policy-gateway: cannot read {}: {e}", args.config.display());
                return ExitCode::from(2);
            }
        },
    };
    let overrides = args.overrides();
    let origin = upgrade
        .as_ref()
        .and_then(|u| u.handover.origin.clone())
        .unwrap_or_else(|| file_origin(&args.config));
    let first = match candidate::prepare(&label, &bytes, None, &overrides, origin) {
        Ok(c) => c,
        Err(r) => {
            eprintln!("{}\npolicy-gateway: not starting: {}", r.rendered.trim_end(), r.error);
            return ExitCode::from(r.exit_code());
        }
    };
    let state = match args.state_dir.as_deref().map(state_dir::StateDir::open).transpose() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("policy-gateway: not starting: {e}");
            return ExitCode::from(2);
        }
    };
    let restored = state
        .as_ref()
        .map(|s| persist::restore(s, &first.active, &overrides))
        .unwrap_or_default();
    let threads = first.active.config.gateway.worker_threads.max(1) as usize;
    // The data plane has threads of its own (`workers.rs`); this runtime runs the accept loops,
    // the admin plane, signals, reloads and probes.
    let drain_expired = tokio::sync::watch::Sender::new(false);
    let pin = if first.active.config.gateway.pin_workers {
        match workers::cpus() {
            Ok(cpus) => {
                let pin = workers::placement(threads, &cpus);
                let on: Vec<String> = pin.iter().map(usize::to_string).collect();
                log(
                    "INFO",
                    &format!("data threads pinned (gateway.pin_workers) to CPUs {}", on.join(", ")),
                );
                pin
            }
            Err(e) => {
                eprintln!("policy-gateway: not starting: gateway.pin_workers is on and the CPUs this process may use cannot be read: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        Vec::new()
    };
    let workers = match workers::Workers::start(threads, &pin, &drain_expired) {
        Ok(w) => Arc::new(w),
        Err(e) => {
            eprintln!("policy-gateway: cannot start the data plane's threads: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
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
    runtime.block_on(run(args, first, upgrade, state, restored, workers, drain_expired))
}

/// The listener for `plane` at `addr`: the one a restart handed over when the address is
/// unchanged, else bound fresh. `overridden`: `addr` came from `--listen`/`--admin-listen`.
async fn listen(
    upgrade: &mut Option<handover::Upgrade>,
    plane: Plane,
    addr: &str,
    overridden: bool,
) -> Result<TcpListener, ExitCode> {
    let what = match (plane, overridden) {
        (Plane::Data, false) => "gateway.listen",
        (Plane::Data, true) => "--listen",
        (Plane::Admin, false) => "gateway.admin.listen",
        (Plane::Admin, true) => "--admin-listen",
    };
    if let Some(inherited) = upgrade.as_mut().and_then(|u| u.take(plane, addr)) {
        return inherited
            .set_nonblocking(true)
            .and_then(|()| TcpListener::from_std(inherited))
            .map_err(|e| {
                eprintln!("policy-gateway: cannot use the inherited socket for {addr} ({what}): {e}");
                ExitCode::from(2)
            });
    }
    TcpListener::bind(addr).await.map_err(|e| {
        eprintln!("policy-gateway: cannot listen on {addr} ({what}): {e}");
        ExitCode::from(2)
    })
}

async fn run(
    args: Args,
    first: candidate::Candidate,
    mut upgrade: Option<handover::Upgrade>,
    state: Option<state_dir::StateDir>,
    restored: persist::Restored,
    workers: Arc<workers::Workers>,
    drain_expired: tokio::sync::watch::Sender<bool>,
) -> ExitCode {
    let started = Instant::now();
    // The one place the addresses are read: an instance's override wins over the config.
    let overrides = args.overrides();
    let (data_addr, admin_addr) = (
        overrides.data(&first.active.config).to_string(),
        overrides.admin(&first.active.config).to_string(),
    );
    let data_listener = match listen(&mut upgrade, Plane::Data, &data_addr, overrides.listen.is_some()).await {
        Ok(l) => l,
        Err(code) => return code,
    };
    let admin_listener = match listen(
        &mut upgrade,
        Plane::Admin,
        &admin_addr,
        overrides.admin_listen.is_some(),
    )
    .await
    {
        Ok(l) => l,
        Err(code) => return code,
    };
    let kept = [
        Listening::of(Plane::Data, &data_addr, &data_listener),
        Listening::of(Plane::Admin, &admin_addr, &admin_listener),
    ];
    let listeners = match kept.into_iter().collect::<Result<Vec<_>, _>>() {
        Ok(l) => l,
        Err(e) => {
            eprintln!("policy-gateway: cannot keep the listening sockets for a restart: {e}");
            return ExitCode::from(2);
        }
    };
    let local = |l: &TcpListener| l.local_addr().expect("a bound socket has an address");
    let journal = Journal::start();
    let active = Arc::new(first.active);
    let (lifecycle, _) = signal_watch::channel(Stop::Running);
    // After a restart the old process's history is the freshest; else the state dir's.
    let history = match &upgrade {
        Some(u) => History::resume(u.handover.history.clone()),
        None => restored.history,
    };
    // Hex digits only: always a valid header value.
    let instance = format!("{:x}{:04x}", journal::now_ms(), std::process::id() & 0xffff);
    let gw = Arc::new(Gateway {
        active: arc_swap::ArcSwap::new(Arc::clone(&active)),
        shadow: arc_swap::ArcSwapOption::empty(),
        previous: Mutex::new(restored.previous.map(Arc::new)),
        reload_lock: tokio::sync::Mutex::new(()),
        config_path: args.config.clone(),
        history: Mutex::new(history),
        metrics: Metrics::default(),
        journal,
        record: args.record.clone(),
        listen: local(&data_listener),
        admin_listen: local(&admin_listener),
        overrides,
        probes: probe::Probes::default(),
        started,
        next_id: std::sync::atomic::AtomicU64::new(1),
        instance_header: hyper::header::HeaderValue::from_str(&instance).expect("hex digits"),
        instance,
        lifecycle,
        accepting: tokio::sync::watch::Sender::new(0),
        drain_expired,
        listeners: Mutex::new(listeners),
        restarting: std::sync::atomic::AtomicBool::new(false),
        argv: std::env::args_os().skip(1).fold(Vec::new(), |mut kept, arg| {
            // Leave out `--upgrade-from SOCKET` (and `--upgrade-from=SOCKET`): a restart adds its own.
            let skip_value = kept
                .last()
                .is_some_and(|l: &std::ffi::OsString| l == handover::UPGRADE_FLAG);
            if skip_value {
                kept.pop();
            } else if !arg
                .to_string_lossy()
                .starts_with(&format!("{}=", handover::UPGRADE_FLAG))
            {
                kept.push(arg);
            }
            kept
        }),
        state,
    });
    let (op, trigger, from, duration_ms) = match &upgrade {
        Some(u) => (
            OpKind::Restart,
            u.handover.trigger,
            Some(u.handover.from.clone()),
            (journal::now_ms() - u.handover.started_ms).max(0) as f64,
        ),
        None => (OpKind::Start, Trigger::Startup, None, state::millis(started.elapsed())),
    };
    let first_op = reload::record(
        &gw,
        Operation {
            seq: 0,
            op,
            trigger,
            outcome: OpOutcome::Applied,
            at: String::new(),
            from,
            to: Some(active.identity()),
            duration_ms,
            changes: 0,
            pending_restart: Vec::new(),
            error: None,
        },
        &active,
        if upgrade.is_some() {
            "policy_restart"
        } else {
            "policy_reload"
        },
    );
    if let Some(u) = &upgrade {
        // The old process's config is this one's revert target, as a reload would leave it.
        // Prepared against the running config, as a reload to it would be: its restart-class
        // fields are held at this process's values and reported as pending after a revert.
        match candidate::prepare(
            "the config before the restart",
            u.handover.revert_to.as_bytes(),
            Some(&active),
            &gw.overrides,
            u.handover
                .revert_origin
                .clone()
                .unwrap_or_else(|| file_origin(&gw.config_path)),
        ) {
            Ok(c) => *gw.previous.lock().expect("previous lock") = Some(Arc::new(c.active)),
            Err(r) => log("WARN", &format!("restart: no revert target: {}", r.error)),
        }
    }
    persist::configs_changed(&gw);
    // A shadow candidate the old process ran (a restart), or the state dir kept (a crash).
    let shadow = match &upgrade {
        Some(u) => u.handover.shadow.clone().map(String::into_bytes),
        None => gw.state.as_ref().and_then(|s| s.read_config(state_dir::SHADOW_FILE)),
    };
    if let Some(text) = shadow {
        if let Err(r) = shadow::start(&gw, &text) {
            log(
                "WARN",
                &format!("shadow: the candidate kept from before is not resumed: {}", r.error),
            );
            persist::shadow_changed(&gw);
        }
    }
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
    // Armed before the serving line: a change written once the line is out is never missed.
    if args.watch {
        if let Err(e) = watch::start(Arc::clone(&gw)) {
            log("ERROR", &format!("cannot watch {}: {e}", args.config.display()));
            return ExitCode::from(2);
        }
    }

    // Whoever started this process waits for this line (`policy_replay::process`). Both listeners
    // are bound (and the config watched), so a connection made from now on waits in the
    // backlog until it is served, and a change to the file from now on is seen.
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

    // Never on the request path: `/health` reads what this task last found.
    let probing = Arc::clone(&gw);
    tokio::spawn(async move {
        probe::run(&probing.probes, || {
            probing.active.load().config.providers.targets.clone()
        })
        .await;
    });
    // The data plane's hold on the state, for the process's whole life: one reference that is
    // never given back, so requests borrow the state instead of counting references to it.
    let data_gw: &'static Gateway = Box::leak(Box::new(Arc::clone(&gw)));
    let data = tokio::spawn(serve(
        data_listener,
        data_gw,
        data::handle,
        gw.lifecycle.subscribe(),
        Threads::Workers(workers),
    ));
    let admin = tokio::spawn(serve(
        admin_listener,
        Arc::clone(&gw),
        admin::handle,
        gw.lifecycle.subscribe(),
        Threads::Here,
    ));
    if let Some(u) = upgrade {
        // Both planes serve: the old process may stop accepting now.
        u.ready(&handover::Ready {
            pid: std::process::id(),
            instance: gw.instance.clone(),
            listen: gw.listen,
            admin_listen: gw.admin_listen,
            to: first_op.to.clone().expect("a restart names its config"),
            generation: gw.active.load().generation,
            operation: first_op,
        });
    }

    // The lifecycle, in one place: SIGHUP reloads, SIGUSR2 restarts without dropping a
    // connection, SIGTERM drains, SIGINT stops fast; a restart that handed over ends it too.
    use tokio::signal::unix::{signal, SignalKind};
    let (mut hup, mut usr2, mut term, mut int) = match (
        signal(SignalKind::hangup()),
        signal(SignalKind::user_defined2()),
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(h), Ok(u), Ok(t), Ok(i)) => (h, u, t, i),
        _ => {
            log("ERROR", "cannot install signal handlers");
            return ExitCode::from(2);
        }
    };
    let mut life = gw.lifecycle.subscribe();
    let stop = loop {
        tokio::select! {
            _ = hup.recv() => {
                let gw = Arc::clone(&gw);
                tokio::spawn(async move { reload::reload(&gw, reload::Source::File, Trigger::Sighup).await });
            }
            _ = usr2.recv() => {
                let gw = Arc::clone(&gw);
                tokio::spawn(async move { restart::restart(&gw, reload::Source::File, Trigger::Sigusr2).await });
            }
            _ = term.recv() => break Stop::Drain,
            _ = int.recv() => break Stop::Fast,
            Ok(()) = life.changed() => {
                if *life.borrow() == Stop::Handover {
                    break Stop::Handover;
                }
            }
        }
    };
    notify::stopping();
    let in_flight = gw.metrics.in_flight();
    match stop {
        Stop::Drain => log("INFO", &format!("SIGTERM: draining {in_flight} in-flight request(s)")),
        Stop::Handover => log(
            "INFO",
            &format!("handed over: draining {in_flight} in-flight request(s)"),
        ),
        _ => log(
            "INFO",
            &format!("SIGINT: stopping now ({in_flight} in-flight request(s) cut)"),
        ),
    }
    let _ = gw.lifecycle.send(stop);
    // The copies kept for a restart's handover hold the listening sockets open: with them,
    // the kernel would go on queueing connections nobody accepts (reset at exit) instead of
    // refusing them, so clients could not fail over to another instance.
    gw.listeners.lock().expect("listeners lock").clear();
    if matches!(stop, Stop::Drain | Stop::Handover) {
        let _ = data.await;
        let _ = admin.await;
    }
    // Everything queued so far reaches the disk before the process exits.
    gw.journal.flush();
    log("INFO", "stopped");
    ExitCode::SUCCESS
}
