//! The load driver: keep-alive HTTP/1.1 connections (tokio + hyper) that cycle through the
//! plan's requests, closed loop or at a fixed rate, and record what happened to each one.
//!
//! It only sends and observes: whether an answer is right is `analysis`'s business, and
//! switching configs is `admin`'s.

use super::options::{Options, Until};
use super::plan::{Plan, Prepared};
use crate::admin_client::error_chain;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use policy_contract::headers;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What happened to one request.
#[derive(Debug, Clone)]
pub(super) enum Outcome {
    /// An HTTP response came back whole.
    Response {
        /// Its status code.
        status: u16,
        /// Its `x-policy-verdict`.
        verdict: String,
        /// Its `x-policy-config-hash`, if any.
        hash: Option<String>,
        /// Its `x-policy-instance`: the process that answered.
        instance: Option<String>,
    },
    /// No whole response: a drop.
    Error {
        /// `connect`, `reset`, `closed`, `timeout`, `truncated`, …
        kind: &'static str,
        /// What the client library said.
        message: String,
    },
}

/// One request as sent and answered.
#[derive(Debug, Clone)]
pub(super) struct Sample {
    /// Microseconds from the start of the run to the send.
    pub(super) at_us: u64,
    /// Microseconds from the send to the whole response (or the failure).
    pub(super) latency_us: u64,
    /// Index into the plan's requests.
    pub(super) request: u32,
    /// What came back.
    pub(super) outcome: Outcome,
}

/// Counters shared by the connections and the reloader.
#[derive(Debug, Default)]
pub(super) struct Progress {
    /// Set when the load must end (the reloader stops too).
    pub(super) stop: AtomicBool,
    /// Requests started; the next request's number.
    pub(super) sent: AtomicU64,
    /// Requests finished, whatever their outcome (the reloader paces itself on it).
    pub(super) done: AtomicU64,
}

/// Start `opts.concurrency` connections against `data`; each returns its samples when the run
/// ends (`opts.until`, or `progress.stop`).
pub(super) fn start(
    plan: &Plan,
    data: SocketAddr,
    opts: &Options,
    start: Instant,
    progress: &Arc<Progress>,
) -> Vec<tokio::task::JoinHandle<Vec<Sample>>> {
    let per_conn_interval = opts
        .rate
        .map(|r| Duration::from_secs_f64(opts.concurrency as f64 / r.max(0.001)));
    let mut workers = Vec::new();
    for _ in 0..opts.concurrency {
        let (progress, reqs) = (Arc::clone(progress), Arc::clone(&plan.requests));
        let (until, timeout) = (opts.until, opts.timeout);
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut conn: Option<SendRequest<Full<Bytes>>> = None;
            let mut ticker = per_conn_interval.map(|d| {
                let mut t = tokio::time::interval(d);
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                t
            });
            loop {
                if progress.stop.load(Ordering::Relaxed) {
                    break;
                }
                if let Some(t) = ticker.as_mut() {
                    t.tick().await;
                }
                let n = progress.sent.fetch_add(1, Ordering::Relaxed);
                match until {
                    Until::Requests(max) if n >= max => break,
                    Until::Duration(d) if start.elapsed() >= d => break,
                    _ => {}
                }
                let idx = (n % reqs.len() as u64) as usize;
                let Prepared {
                    path,
                    headers: sent_headers,
                    body,
                    ..
                } = &reqs[idx];
                let at = start.elapsed();
                let outcome =
                    tokio::time::timeout(timeout, exchange(&mut conn, data, path, sent_headers, body.clone())).await;
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
                progress.done.fetch_add(1, Ordering::Relaxed);
            }
            samples
        }));
    }
    workers
}

pub(super) async fn exchange(
    conn: &mut Option<SendRequest<Full<Bytes>>>,
    data: SocketAddr,
    path: &str,
    recorded: &[(String, String)],
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
    for (k, v) in recorded {
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
                message: error_chain(&e),
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
    let verdict = header(headers::VERDICT).unwrap_or_default();
    let hash = header(headers::CONFIG_HASH);
    let instance = header(headers::INSTANCE);
    if let Err(e) = resp.into_body().collect().await {
        *conn = None;
        return Outcome::Error {
            kind: "truncated",
            message: format!("the response body broke off: {}", error_chain(&e)),
        };
    }
    Outcome::Response {
        status,
        verdict,
        hash,
        instance,
    }
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
