//! The load driver: keep-alive HTTP/1.1 connections (tokio + hyper) that cycle through the
//! plan's requests, closed loop or on a fixed schedule, and record what happened to each one:
//! the answer, or the kind of failure as the client saw it, with the age of the connection it
//! used. Nothing is retried.
//!
//! It only sends and observes: whether an answer is right is `analysis`'s business, and
//! switching configs is `admin`'s or `command`'s. What it observes of the attribution header
//! goes into [`Sightings`] as it happens, which is how command mode sees a switch take effect.

use super::options::{Options, Until};
use super::plan::{Plan, Prepared};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use policy_contract::error_chain;
use policy_contract::headers;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What happened to one request.
#[derive(Debug, Clone)]
pub(super) enum Outcome {
    /// An HTTP response came back whole.
    Response {
        /// Its status code.
        status: u16,
        /// Its `x-policy-verdict` (empty from a gateway that does not send one).
        verdict: String,
        /// The value of the attribution header (`x-policy-config-hash` unless told otherwise).
        attributed: Option<String>,
        /// Its `x-policy-instance`: the process that answered.
        instance: Option<String>,
    },
    /// No whole response: a drop.
    Error {
        /// One of [`DROP_KINDS`] (bar `status_5xx`, which is a response), or `request` for a
        /// recorded request that cannot be sent at all.
        kind: &'static str,
        /// What the client library said.
        message: String,
    },
}

/// The kinds a dropped request is counted by: a connect refused or failed; a reused keep-alive
/// connection closed or reset before any response byte (the classic reload race); the same on
/// a fresh connection; a body cut short; no answer in time; a 5xx answer.
pub const DROP_KINDS: [&str; 6] = [
    "connect",
    "reset_reused",
    "reset_new",
    "truncated",
    "timeout",
    "status_5xx",
];

/// One request as sent and answered.
#[derive(Debug, Clone)]
pub(super) struct Sample {
    /// Microseconds from the start of the run to the send: the scheduled send with `--rate`
    /// (so a stalled gateway's queue counts in the latency), the actual send otherwise.
    pub(super) at_us: u64,
    /// Microseconds from `at_us` to the whole response (or the failure).
    pub(super) latency_us: u64,
    /// Index into the plan's requests.
    pub(super) request: u32,
    /// What came back.
    pub(super) outcome: Outcome,
    /// Whether the connection had answered a request before this one.
    pub(super) reused: bool,
    /// Microseconds the connection had been open when this request was sent.
    pub(super) conn_age_us: u64,
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

/// Each value of the attribution header seen so far: when it was first and last received
/// (microseconds from the start of the run), and how often.
#[derive(Debug, Default)]
pub(super) struct Sightings {
    seen: Mutex<HashMap<String, Seen>>,
}

/// One value's sightings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Seen {
    /// First received.
    pub(super) first_us: u64,
    /// Last received.
    pub(super) last_us: u64,
    /// Responses that carried it.
    pub(super) count: u64,
    /// First received since the last [`Sightings::mark`] (the start of a switch).
    pub(super) since_mark: Option<u64>,
}

impl Sightings {
    fn record(&self, value: &str, at_us: u64) {
        let mut seen = self.seen.lock().expect("sightings lock");
        match seen.get_mut(value) {
            Some(s) => {
                s.last_us = s.last_us.max(at_us);
                s.count += 1;
                s.since_mark.get_or_insert(at_us);
            }
            None => {
                seen.insert(
                    value.to_string(),
                    Seen {
                        first_us: at_us,
                        last_us: at_us,
                        count: 1,
                        since_mark: Some(at_us),
                    },
                );
            }
        }
    }

    /// A switch begins: from now on, `since_mark` is the first sighting after this.
    pub(super) fn mark(&self) {
        for s in self.seen.lock().expect("sightings lock").values_mut() {
            s.since_mark = None;
        }
    }

    /// Every value seen, with its sightings.
    pub(super) fn snapshot(&self) -> Vec<(String, Seen)> {
        let seen = self.seen.lock().expect("sightings lock");
        seen.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
}

/// One keep-alive connection and what the failure classification needs to know of it.
#[derive(Default)]
pub(super) struct Conn {
    sender: Option<SendRequest<Full<Bytes>>>,
    opened: Option<Instant>,
    answered: u64,
}

impl Conn {
    fn drop_connection(&mut self) {
        *self = Conn::default();
    }
}

/// Start `opts.concurrency` connections against `data`; each returns its samples when the run
/// ends (`opts.until`, or `progress.stop`). `header` is the attribution header, whose values go
/// to `sightings` as they are received.
pub(super) fn start(
    plan: &Plan,
    data: SocketAddr,
    opts: &Options,
    start: Instant,
    progress: &Arc<Progress>,
    sightings: &Arc<Sightings>,
) -> Vec<tokio::task::JoinHandle<Vec<Sample>>> {
    // With `--rate`, request `n` is due at `n / rate` seconds into the run, whichever
    // connection sends it (open loop, latency from the due time).
    let spacing = opts.rate.map(|r| Duration::from_secs_f64(1.0 / r.max(0.001)));
    let header = plan.attribution.as_ref().map(|a| a.header.clone());
    let mut workers = Vec::new();
    for _ in 0..opts.concurrency {
        let (progress, sightings, reqs) = (Arc::clone(progress), Arc::clone(sightings), Arc::clone(&plan.requests));
        let (until, timeout, header) = (opts.until, opts.timeout, header.clone());
        workers.push(tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut conn = Conn::default();
            loop {
                if progress.stop.load(Ordering::Relaxed) {
                    break;
                }
                let n = progress.sent.fetch_add(1, Ordering::Relaxed);
                let due = spacing.map(|s| s.mul_f64(n as f64));
                match until {
                    Until::Requests(max) if n >= max => break,
                    Until::Duration(d) if due.unwrap_or_else(|| start.elapsed()) >= d => break,
                    _ => {}
                }
                if let Some(due) = due {
                    tokio::time::sleep_until((start + due).into()).await;
                    if progress.stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                let idx = (n % reqs.len() as u64) as usize;
                let at = due.unwrap_or_else(|| start.elapsed());
                let reused = conn.sender.is_some() && conn.answered > 0;
                let conn_age_us = conn.opened.map_or(0, |o| o.elapsed().as_micros() as u64);
                let Prepared {
                    path, headers, body, ..
                } = &reqs[idx];
                let sent = (path.as_str(), headers.as_slice(), body);
                let outcome = tokio::time::timeout(timeout, exchange(&mut conn, data, sent, header.as_deref())).await;
                let done = start.elapsed();
                let outcome = outcome.unwrap_or_else(|_| {
                    conn.drop_connection();
                    Outcome::Error {
                        kind: "timeout",
                        message: format!("no complete response within {timeout:?}"),
                    }
                });
                if let Outcome::Response {
                    attributed: Some(v), ..
                } = &outcome
                {
                    sightings.record(v, done.as_micros() as u64);
                }
                samples.push(Sample {
                    at_us: at.as_micros() as u64,
                    latency_us: done.saturating_sub(at).as_micros() as u64,
                    request: idx as u32,
                    outcome,
                    reused,
                    conn_age_us,
                });
                progress.done.fetch_add(1, Ordering::Relaxed);
            }
            samples
        }));
    }
    workers
}

/// Send one recorded request on `conn` (connecting first when it has none) and read the whole
/// answer; `header` names the attribution header to read.
pub(super) async fn exchange(
    conn: &mut Conn,
    data: SocketAddr,
    (path, recorded, body): (&str, &[(String, String)], &Bytes),
    header: Option<&str>,
) -> Outcome {
    if conn.sender.as_ref().is_none_or(|c| c.is_closed()) {
        // None yet, or the server closed an idle one, noticed before sending: no byte of the
        // request went out on it, so it goes on a new connection and nothing is dropped.
        conn.drop_connection();
        match connect(data).await {
            Ok(c) => {
                conn.sender = Some(c);
                conn.opened = Some(Instant::now());
            }
            Err(message) => {
                return Outcome::Error {
                    kind: "connect",
                    message,
                }
            }
        }
    }
    let reused = conn.answered > 0;
    let reset = if reused { "reset_reused" } else { "reset_new" };
    let sender = conn.sender.as_mut().expect("connected above");
    if sender.ready().await.is_err() {
        conn.drop_connection();
        return Outcome::Error {
            kind: reset,
            message: "the connection closed before the request could be sent".into(),
        };
    }
    let mut request = hyper::Request::builder()
        .method(hyper::Method::POST)
        .uri(path)
        .header(hyper::header::HOST, data.to_string())
        .header(hyper::header::CONTENT_TYPE, "application/json");
    for (k, v) in recorded {
        if k != "content-type" {
            request = request.header(k.as_str(), v.as_str());
        }
    }
    let Ok(request) = request.body(Full::new(body.clone())) else {
        return Outcome::Error {
            kind: "request",
            message: format!("the recorded request to {path} has an invalid header"),
        };
    };
    let resp = match sender.send_request(request).await {
        Ok(r) => r,
        Err(e) => {
            conn.drop_connection();
            return Outcome::Error {
                kind: reset,
                message: error_chain(&e),
            };
        }
    };
    let status = resp.status().as_u16();
    let value = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let verdict = value(headers::VERDICT).unwrap_or_default();
    let attributed = header.and_then(value);
    let instance = value(headers::INSTANCE);
    if let Err(e) = resp.into_body().collect().await {
        conn.drop_connection();
        return Outcome::Error {
            kind: "truncated",
            message: format!("the response body broke off: {}", error_chain(&e)),
        };
    }
    conn.answered += 1;
    Outcome::Response {
        status,
        verdict,
        attributed,
        instance,
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

#[cfg(test)]
mod tests {
    //! The failure classification against a scripted server on 127.0.0.1 that closes a reused
    //! connection before answering, closes a fresh one, cuts a body short, or refuses.
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

    /// Read one request (head and a `content-length` body) from `s`; `false` at end of stream.
    fn read_request(s: &mut std::net::TcpStream) -> bool {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            match s.read(&mut byte) {
                Ok(1) => buf.push(byte[0]),
                _ => return false,
            }
        }
        let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).is_ok()
    }

    /// A server that runs `script` on its first connection, in a thread.
    fn scripted(script: impl FnOnce(std::net::TcpStream) + Send + 'static) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((s, _)) = l.accept() {
                script(s);
            }
        });
        addr
    }

    /// One runtime for the test: a connection's driver task lives on it between requests.
    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn send_on(rt: &tokio::runtime::Runtime, conn: &mut Conn, addr: SocketAddr) -> Outcome {
        let body = Bytes::from_static(b"{}");
        rt.block_on(exchange(conn, addr, ("/v1/chat/completions", &[], &body), None))
    }

    fn send(conn: &mut Conn, addr: SocketAddr) -> Outcome {
        send_on(&runtime(), conn, addr)
    }

    fn kind(o: &Outcome) -> &str {
        match o {
            Outcome::Error { kind, .. } => kind,
            Outcome::Response { .. } => "response",
        }
    }

    #[test]
    fn a_reused_connection_closed_before_the_answer_is_reset_reused() {
        let addr = scripted(|mut s| {
            assert!(read_request(&mut s));
            s.write_all(OK).unwrap();
            // The next request is read, and the connection closed without an answer: what a
            // proxy's old worker does when a reload ends it.
            read_request(&mut s);
        });
        let (rt, mut conn) = (runtime(), Conn::default());
        assert_eq!(kind(&send_on(&rt, &mut conn, addr)), "response");
        assert_eq!(kind(&send_on(&rt, &mut conn, addr)), "reset_reused");
    }

    #[test]
    fn a_fresh_connection_closed_before_the_answer_is_reset_new() {
        let addr = scripted(|mut s| {
            read_request(&mut s);
        });
        assert_eq!(kind(&send(&mut Conn::default(), addr)), "reset_new");
    }

    #[test]
    fn a_body_cut_short_is_truncated() {
        let addr = scripted(|mut s| {
            assert!(read_request(&mut s));
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this")
                .unwrap();
        });
        assert_eq!(kind(&send(&mut Conn::default(), addr)), "truncated");
    }

    #[test]
    fn a_refused_connect_is_connect_and_a_503_is_an_answer() {
        let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        assert_eq!(kind(&send(&mut Conn::default(), closed)), "connect");
        let addr = scripted(|mut s| {
            assert!(read_request(&mut s));
            s.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
        });
        // A 5xx is a whole answer here; the analysis counts it as `status_5xx`.
        match send(&mut Conn::default(), addr) {
            Outcome::Response { status, .. } => assert_eq!(status, 503),
            other => panic!("{other:?}"),
        }
    }
}
