//! Live replay: recorded traffic as load against a real gateway while it is switched between
//! two configs, and the proof that nothing was dropped and every response came from exactly
//! one of them.
//!
//! Owns the load driver (keep-alive HTTP/1.1 connections on tokio + hyper, closed loop or a
//! fixed rate), the reloader (admin API, SIGHUP or a file rewrite for `--watch`), and the
//! checks. Expectations come from the library, not from the gateway: each config's hash is
//! `engine::config_hash` of what the gateway will run (`diff::hold_restart_fields` for the
//! second config), and each request's verdict under each config is the offline engine's. The
//! gateway process itself (spawned or attached) is the caller's business (`cli::replay`).

use super::traffic::{Recorded, UNRECORDED_HEADERS};
use crate::config::{Config, PolicyKind};
use crate::diff;
use crate::engine::{config_hash, Engine, Verdict};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One of the two configs.
#[derive(Debug, Clone)]
pub struct Side {
    /// `A` or `B`.
    pub label: &'static str,
    /// Where it came from (for people).
    pub name: String,
    /// The text sent or written when switching to it.
    pub text: String,
    /// The config as the gateway will run it.
    pub config: Config,
    /// `sha256:…` the gateway will report for it.
    pub hash: String,
}

/// How the reloader switches configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// `POST /admin/reload` with the config as the body.
    Admin,
    /// Rewrite the gateway's config file, then SIGHUP its process.
    Sighup,
    /// Rewrite the gateway's config file and let `--watch` notice.
    File,
}

impl Via {
    /// `admin`, `sighup` or `file`.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Admin => "admin",
            Via::Sighup => "sighup",
            Via::File => "file",
        }
    }
}

/// When the load stops.
#[derive(Debug, Clone, Copy)]
pub enum Until {
    /// After this many requests.
    Requests(u64),
    /// After this long.
    Duration(Duration),
}

/// Where the gateway is.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Data plane.
    pub data: SocketAddr,
    /// Admin plane.
    pub admin: SocketAddr,
    /// Bearer token for the admin plane.
    pub token: Option<String>,
}

/// Load and reload settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Keep-alive connections.
    pub concurrency: usize,
    /// Requests per second over all connections; `None` = closed loop (as fast as answered).
    pub rate: Option<f64>,
    /// When to stop.
    pub until: Until,
    /// Switches, alternating B, A, B, …, spread evenly over the run.
    pub reloads: usize,
    /// How to switch.
    pub via: Via,
    /// A request not answered within this is a drop (`timeout`).
    pub timeout: Duration,
}

/// Why the live replay could not run (as opposed to ran and found problems).
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The configs are not usable for a live proof.
    #[error("{0}")]
    Setup(String),
    /// The gateway could not be reached or prepared.
    #[error("{0}")]
    Gateway(String),
}

/// A prepared request.
struct Prepared {
    id: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Bytes,
    /// Expected verdict under A and under B (rate limits aside).
    expect: [Verdict; 2],
}

/// Everything the run needs, computed before the first request.
pub struct Plan {
    sides: [Side; 2],
    /// Shared with the load tasks as is.
    requests: Arc<Vec<Prepared>>,
}

impl Plan {
    /// Build the plan: configs `a` and `b` (as loaded), and the traffic to cycle through.
    pub fn new(
        a: (String, String, Config),
        b: (String, String, Config),
        traffic: &[Recorded],
    ) -> Result<Plan, LiveError> {
        if traffic.is_empty() {
            return Err(LiveError::Setup("the traffic file has no usable request".into()));
        }
        let b_runs = diff::hold_restart_fields(&a.2, &b.2, &diff::classify(&a.2, &b.2));
        let sides = [
            Side {
                label: "A",
                name: a.0,
                text: a.1,
                hash: config_hash(&a.2),
                config: a.2,
            },
            Side {
                label: "B",
                name: b.0,
                text: b.1,
                hash: config_hash(&b_runs),
                config: b_runs,
            },
        ];
        if sides[0].hash == sides[1].hash {
            return Err(LiveError::Setup(format!(
                "{} and {} run as the same config ({}): responses could not be attributed; pick two configs that differ in a hot-reloadable field",
                sides[0].name, sides[1].name, sides[0].hash
            )));
        }
        // Rate limits depend on timing the harness does not control: they are counted apart,
        // and predictions are made without them.
        let engine = |c: &Config| {
            let mut c = c.clone();
            c.policies.chain.retain(|k| *k != PolicyKind::RateLimit);
            Engine::compile(&c).map_err(|e| LiveError::Setup(e.to_string()))
        };
        let engines = [engine(&sides[0].config)?, engine(&sides[1].config)?];
        let requests = traffic
            .iter()
            .map(|r| {
                let predict = |e: &Engine| e.evaluate(&r.request, r.ts).verdict;
                Prepared {
                    id: r.request.id.clone(),
                    path: r.request.path.clone(),
                    headers: r
                        .request
                        .headers
                        .iter()
                        .filter(|(k, _)| {
                            !UNRECORDED_HEADERS.contains(&k.as_str())
                                && !matches!(
                                    k.as_str(),
                                    "host" | "content-length" | "connection" | "transfer-encoding" | "keep-alive"
                                )
                        })
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    body: Bytes::from(serde_json::to_vec(&r.request.body).expect("JSON serialises")),
                    expect: [predict(&engines[0]), predict(&engines[1])],
                }
            })
            .collect();
        Ok(Plan {
            sides,
            requests: Arc::new(requests),
        })
    }

    /// The two configs.
    pub fn sides(&self) -> &[Side; 2] {
        &self.sides
    }
}

/// What happened to one request.
#[derive(Debug, Clone)]
enum Outcome {
    Response {
        status: u16,
        verdict: String,
        hash: Option<String>,
    },
    Error {
        kind: &'static str,
        message: String,
    },
}

#[derive(Debug, Clone)]
struct Sample {
    /// Microseconds from the start of the run to the send.
    at_us: u64,
    latency_us: u64,
    request: u32,
    outcome: Outcome,
}

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
}

/// The result (SPEC §2 `policy replay --live --format json`, plus more).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Requests sent.
    pub requests: u64,
    /// Transport errors, timeouts, truncated bodies and 5xx.
    pub dropped: u64,
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
    /// The two configs: label, source, version, hash.
    pub configs: Vec<Value>,
    /// Every reload.
    pub reload_events: Vec<ReloadEvent>,
    /// The config the gateway serves at the end.
    pub final_hash: Option<String>,
    /// Wall time of the load, seconds.
    pub duration_s: f64,
    /// Connections.
    pub concurrency: usize,
    /// How reloads were triggered.
    pub reload_via: Via,
    /// The four checks are zero.
    pub passed: bool,
    /// Latency over time, for the plot.
    pub timeline: Vec<Bucket>,
}

/// What counts as "near a reload": from the trigger to this long after its confirmation.
const NEAR_RELOAD: Duration = Duration::from_millis(50);
/// Width of a timeline bucket.
const BUCKET: Duration = Duration::from_millis(100);
/// How long a SIGHUP or file reload may take to show up in `/admin/status`.
const CONFIRM_WITHIN: Duration = Duration::from_secs(10);

/// What `/admin/status` says.
#[derive(Debug, Clone)]
pub struct Status {
    /// Active hash.
    pub hash: String,
    /// Process id.
    pub pid: Option<u32>,
    /// Absolute path of the config file.
    pub config_path: Option<PathBuf>,
}

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
    let status = admin_status(ep).await?;
    let original = match opts.via {
        Via::Admin => None,
        _ => {
            let path = status.config_path.clone().ok_or_else(|| {
                LiveError::Gateway("the gateway's /admin/status names no config_path; use --reload-via admin".into())
            })?;
            let bytes = std::fs::read(&path)
                .map_err(|e| LiveError::Gateway(format!("cannot read the gateway's config {}: {e}", path.display())))?;
            Some((path, bytes))
        }
    };
    if status.hash != plan.sides[0].hash {
        // Put the gateway on A first (not counted as one of the run's reloads).
        let first = switch(ep, opts.via, &status, &plan.sides[0], Instant::now()).await;
        if !first.ok {
            return Err(LiveError::Gateway(format!(
                "the gateway serves {} and switching it to A ({}) failed: {}; if it was started with different listen/admin/worker_threads/telemetry settings than A, start it with A",
                status.hash,
                plan.sides[0].hash,
                first.error.unwrap_or_default()
            )));
        }
    }
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let per_conn_interval = opts
        .rate
        .map(|r| Duration::from_secs_f64(opts.concurrency as f64 / r.max(0.001)));
    let mut workers = Vec::new();
    for _ in 0..opts.concurrency {
        let (stop, sent, done, reqs) = (
            Arc::clone(&stop),
            Arc::clone(&sent),
            Arc::clone(&done),
            Arc::clone(&plan.requests),
        );
        let (data, until, timeout) = (ep.data, opts.until, opts.timeout);
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut conn: Option<SendRequest<Full<Bytes>>> = None;
            let mut ticker = per_conn_interval.map(|d| {
                let mut t = tokio::time::interval(d);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
            loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if let Some(t) = ticker.as_mut() {
                    t.tick().await;
                }
                let n = sent.fetch_add(1, Ordering::Relaxed);
                match until {
                    Until::Requests(max) if n >= max => break,
                    Until::Duration(d) if start.elapsed() >= d => break,
                    _ => {}
                }
                let idx = (n % reqs.len() as u64) as usize;
                let Prepared {
                    path, headers, body, ..
                } = &reqs[idx];
                let at = start.elapsed();
                let outcome =
                    tokio::time::timeout(timeout, exchange(&mut conn, data, path, headers, body.clone())).await;
                let latency = start.elapsed() - at;
                let outcome = outcome.unwrap_or_else(|_| {
                    conn = None;
                    Outcome::Error {
                        kind: "timeout",
                        message: format!("no complete response within {timeout:?}"),
                    }
                });
                samples.push(Sample {
                    at_us: at.as_micros() as u64,
                    latency_us: latency.as_micros() as u64,
                    request: idx as u32,
                    outcome,
                });
                done.fetch_add(1, Ordering::Relaxed);
            }
            samples
        }));
    }
    // The reloader: evenly spread over the run, alternating B, A, B, …
    let events = Arc::new(Mutex::new(Vec::new()));
    let reloader = {
        let (events, done, stop) = (Arc::clone(&events), Arc::clone(&done), Arc::clone(&stop));
        let (ep, via, n, until) = (ep.clone(), opts.via, opts.reloads, opts.until);
        let sides = plan.sides.clone();
        let status = status.clone();
        tokio::spawn(async move {
            for i in 1..=n {
                let frac = i as f64 / (n + 1) as f64;
                loop {
                    let reached = match until {
                        Until::Duration(d) => start.elapsed().as_secs_f64() >= d.as_secs_f64() * frac,
                        Until::Requests(max) => done.load(Ordering::Relaxed) as f64 >= max as f64 * frac,
                    };
                    if reached || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let side = &sides[i % 2];
                let mut ev = switch(&ep, via, &status, side, start).await;
                ev.n = i;
                events.lock().expect("events lock").push(ev);
            }
        })
    };
    let mut samples = Vec::new();
    for w in workers {
        samples.extend(w.await.unwrap_or_default());
    }
    stop.store(true, Ordering::Relaxed);
    let _ = reloader.await;
    let elapsed = start.elapsed();
    let final_hash = admin_status(ep).await.ok().map(|s| s.hash);
    if let Some((path, bytes)) = original {
        let _ = write_atomically(&path, &bytes);
    }
    let events = events.lock().expect("events lock").clone();
    Ok(analyse(plan, opts, samples, events, elapsed, final_hash))
}

async fn exchange(
    conn: &mut Option<SendRequest<Full<Bytes>>>,
    data: SocketAddr,
    path: &str,
    headers: &[(String, String)],
    body: Bytes,
) -> Outcome {
    if conn.as_ref().is_none_or(|c| c.is_closed()) {
        match connect(data).await {
            Ok(c) => *conn = Some(c),
            Err(message) => {
                return Outcome::Error {
                    kind: "connect",
                    message,
                }
            }
        }
    }
    let sender = conn.as_mut().expect("connected above");
    if sender.ready().await.is_err() {
        *conn = None;
        return Outcome::Error {
            kind: "closed",
            message: "the connection closed before the request could be sent".into(),
        };
    }
    let mut req = hyper::Request::builder()
        .method(hyper::Method::POST)
        .uri(path)
        .header(hyper::header::HOST, data.to_string())
        .header(hyper::header::CONTENT_TYPE, "application/json");
    for (k, v) in headers {
        if k != "content-type" {
            req = req.header(k.as_str(), v.as_str());
        }
    }
    let Ok(req) = req.body(Full::new(body)) else {
        return Outcome::Error {
            kind: "request",
            message: format!("the recorded request to {path} has an invalid header"),
        };
    };
    let resp = match sender.send_request(req).await {
        Ok(r) => r,
        Err(e) => {
            *conn = None;
            return Outcome::Error {
                kind: classify_error(&e),
                message: chain(&e),
            };
        }
    };
    let status = resp.status().as_u16();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let verdict = header("x-policy-verdict").unwrap_or_default();
    let hash = header("x-policy-config-hash");
    if let Err(e) = resp.into_body().collect().await {
        *conn = None;
        return Outcome::Error {
            kind: "truncated",
            message: format!("the response body broke off: {}", chain(&e)),
        };
    }
    Outcome::Response { status, verdict, hash }
}

fn classify_error(e: &hyper::Error) -> &'static str {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return match io.kind() {
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => "reset",
                std::io::ErrorKind::BrokenPipe => "closed",
                _ => "io",
            };
        }
        source = s.source();
    }
    if e.is_incomplete_message() || e.is_canceled() {
        "closed"
    } else {
        "http"
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(x) = source {
        s = format!("{s}: {x}");
        source = x.source();
    }
    s
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake with {addr}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One admin call on a fresh connection: status and body.
async fn admin_call(ep: &Endpoint, method: &str, path: &str, body: Bytes) -> Result<(u16, Value), LiveError> {
    let mut conn = connect(ep.admin)
        .await
        .map_err(|e| LiveError::Gateway(format!("admin plane: {e}")))?;
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, ep.admin.to_string());
    if let Some(t) = &ep.token {
        req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let req = req.body(Full::new(body)).expect("static request parts");
    let resp = conn
        .send_request(req)
        .await
        .map_err(|e| LiveError::Gateway(format!("admin {path}: {}", chain(&e))))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| LiveError::Gateway(format!("admin {path}: {e}")))?
        .to_bytes();
    let value =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    if status == 401 {
        return Err(LiveError::Gateway(format!(
            "admin {path}: 401 unauthorized: pass the admin token's variable with --token-env"
        )));
    }
    Ok((status, value))
}

/// `GET /admin/status`.
pub async fn admin_status(ep: &Endpoint) -> Result<Status, LiveError> {
    let (code, v) = admin_call(ep, "GET", "/admin/status", Bytes::new()).await?;
    let hash = v.get("hash").and_then(Value::as_str);
    match (code, hash) {
        (200, Some(h)) => Ok(Status {
            hash: h.to_string(),
            pid: v.get("pid").and_then(Value::as_u64).map(|p| p as u32),
            config_path: v.get("config_path").and_then(Value::as_str).map(PathBuf::from),
        }),
        _ => Err(LiveError::Gateway(format!(
            "{} did not answer /admin/status as policy-gateway does (HTTP {code}): {v}",
            ep.admin
        ))),
    }
}

fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.policy-replay.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Switch the gateway to `side` and wait for its confirmation.
async fn switch(ep: &Endpoint, via: Via, status: &Status, side: &Side, start: Instant) -> ReloadEvent {
    let at = start.elapsed();
    let mut ev = ReloadEvent {
        n: 0,
        to: side.label,
        at_s: at.as_secs_f64(),
        done_s: 0.0,
        ok: false,
        duration_ms: None,
        error: None,
    };
    let result: Result<Option<f64>, String> = async {
        if via == Via::Admin {
            let (code, v) = admin_call(ep, "POST", "/admin/reload", Bytes::from(side.text.clone()))
                .await
                .map_err(|e| e.to_string())?;
            let outcome = v.get("status").and_then(Value::as_str).unwrap_or_default();
            let hash = v.get("hash").and_then(Value::as_str).unwrap_or_default();
            if code != 200 || hash != side.hash {
                return Err(format!(
                    "HTTP {code}, status {outcome:?}, serving {hash:?} (expected {}): {}",
                    side.hash,
                    v.get("error").and_then(Value::as_str).unwrap_or_default()
                ));
            }
            return Ok(v.get("duration_ms").and_then(Value::as_f64));
        }
        let path = status.config_path.as_ref().ok_or("no config_path")?;
        write_atomically(path, side.text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        if via == Via::Sighup {
            let pid = status.pid.ok_or("the gateway's /admin/status names no pid")?;
            let ok = std::process::Command::new("kill")
                .args(["-HUP", &pid.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Err(format!("kill -HUP {pid} failed"));
            }
        }
        let deadline = Instant::now() + CONFIRM_WITHIN;
        loop {
            let now = admin_status(ep).await.map_err(|e| e.to_string())?;
            if now.hash == side.hash {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the gateway still serves {} {CONFIRM_WITHIN:?} after the switch to {} ({})",
                    now.hash, side.label, side.hash
                ));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let (_, history) = admin_call(ep, "GET", "/admin/history", Bytes::new())
            .await
            .map_err(|e| e.to_string())?;
        Ok(history
            .get("operations")
            .and_then(Value::as_array)
            .and_then(|ops| ops.iter().rev().find(|o| o["to"]["hash"] == side.hash.as_str()))
            .and_then(|o| o.get("duration_ms"))
            .and_then(Value::as_f64))
    }
    .await;
    ev.done_s = start.elapsed().as_secs_f64();
    match result {
        Ok(d) => {
            ev.ok = true;
            ev.duration_ms = d;
        }
        Err(e) => ev.error = Some(e),
    }
    ev
}

fn histogram() -> Histogram<u64> {
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

fn analyse(
    plan: &Plan,
    opts: &Options,
    mut samples: Vec<Sample>,
    events: Vec<ReloadEvent>,
    elapsed: Duration,
    final_hash: Option<String>,
) -> Report {
    samples.sort_by_key(|s| s.at_us);
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
    let bucket_us = BUCKET.as_micros() as u64;
    let buckets = (elapsed.as_micros() as u64 / bucket_us + 1) as usize;
    let mut timeline: Vec<(Histogram<u64>, u64)> = (0..buckets).map(|_| (histogram(), 0)).collect();
    for s in &samples {
        let slot = &mut timeline[((s.at_us / bucket_us) as usize).min(buckets - 1)];
        let req = &plan.requests[s.request as usize];
        match &s.outcome {
            Outcome::Error { kind, message } => {
                dropped += 1;
                slot.1 += 1;
                bump(&mut errors, kind.to_string(), || format!("{}: {message}", req.id));
                continue;
            }
            Outcome::Response {
                status, verdict, hash, ..
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
                    slot.1 += 1;
                    bump(&mut errors, format!("status_{status}"), || {
                        format!(
                            "{}: HTTP {status} from {}",
                            req.id,
                            hash.as_deref().unwrap_or("no config")
                        )
                    });
                    continue;
                }
                let side = plan.sides.iter().position(|x| Some(&x.hash) == hash.as_ref());
                let Some(side) = side else {
                    unattributed += 1;
                    bump(&mut other, "unattributed".into(), || {
                        format!(
                            "{}: HTTP {status} with x-policy-config-hash {:?}, neither A ({}) nor B ({})",
                            req.id, hash, plan.sides[0].hash, plan.sides[1].hash
                        )
                    });
                    continue;
                };
                *by_config.entry(plan.sides[side].label.to_string()).or_default() += 1;
                if verdict == "rate_limited" {
                    rate_limited += 1;
                    continue;
                }
                let expected = req.expect[side].as_str();
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
    let passed = dropped == 0 && unattributed == 0 && mismatched == 0 && reload_failures == 0;
    Report {
        requests,
        dropped,
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
        configs: plan
            .sides
            .iter()
            .map(|s| json!({"label": s.label, "source": s.name, "version": s.config.pack.version, "hash": s.hash}))
            .collect(),
        reload_events: events,
        final_hash,
        duration_s: elapsed.as_secs_f64(),
        concurrency: opts.concurrency,
        reload_via: opts.via,
        passed,
        timeline: timeline
            .into_iter()
            .enumerate()
            .map(|(i, (h, dropped))| {
                let l = latency(&h);
                Bucket {
                    t: i as f64 * BUCKET.as_secs_f64(),
                    requests: h.len() + dropped,
                    p50: l.p50,
                    p99: l.p99,
                    max: l.max,
                    dropped,
                }
            })
            .collect(),
    }
}
