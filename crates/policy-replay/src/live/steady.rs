//! Steady background load on several gateways at once, with the load driver's own keep-alive
//! connections: recorded requests cycled round robin, each response's status and config hash
//! kept per gateway. What a fleet rollout is watched under (its verdict-mix gate needs live
//! traffic); it checks nothing itself.

use super::load::{exchange, Conn, Outcome};
use super::options::LiveError;
use super::plan::wire;
use crate::traffic::Recorded;
use bytes::Bytes;
use policy_contract::headers;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Longest one request may take before it counts as failed (status 0).
const TIMEOUT: Duration = Duration::from_secs(10);

/// A request as sent: path, replayed headers, body.
type Wire = (String, Vec<(String, String)>, Bytes);

/// One answer (or failure) seen by the background load.
#[derive(Debug, Clone)]
pub struct Answered {
    /// Index of the gateway in the list given to [`Steady::start`].
    pub target: usize,
    /// HTTP status; 0 when no whole response came back.
    pub status: u16,
    /// `x-policy-config-hash` of the response.
    pub hash: Option<String>,
}

/// Background load running on its own thread until [`Steady::finish`] (or `limit`).
pub struct Steady {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<Answered>>>,
}

impl Steady {
    /// Start `per_target` keep-alive connections to each of `targets`, cycling through
    /// `traffic`, for at most `limit`.
    pub fn start(
        targets: Vec<SocketAddr>,
        traffic: &[Recorded],
        per_target: usize,
        limit: Duration,
    ) -> Result<Steady, LiveError> {
        if traffic.is_empty() {
            return Err(LiveError::Setup("the traffic has no usable request".into()));
        }
        let requests: Arc<Vec<Wire>> = Arc::new(traffic.iter().map(wire).collect());
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| LiveError::Setup(format!("cannot start the runtime: {e}")))?;
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                let deadline = tokio::time::Instant::now() + limit;
                let mut tasks = Vec::new();
                for (t, addr) in targets.into_iter().enumerate() {
                    for c in 0..per_target.max(1) {
                        let (requests, stop) = (Arc::clone(&requests), Arc::clone(&flag));
                        tasks.push(tokio::spawn(async move {
                            let mut seen = Vec::new();
                            let mut conn = Conn::default();
                            let mut i = c;
                            while !stop.load(Ordering::Relaxed) && tokio::time::Instant::now() < deadline {
                                let (path, headers, body) = &requests[i % requests.len()];
                                i += 1;
                                let outcome = tokio::time::timeout(
                                    TIMEOUT,
                                    exchange(
                                        &mut conn,
                                        addr,
                                        (path.as_str(), headers.as_slice(), body),
                                        Some(headers::CONFIG_HASH),
                                    ),
                                )
                                .await;
                                let (status, hash) = match outcome {
                                    Ok(Outcome::Response { status, attributed, .. }) => (status, attributed),
                                    _ => {
                                        conn = Conn::default();
                                        (0, None)
                                    }
                                };
                                seen.push(Answered {
                                    target: t,
                                    status,
                                    hash,
                                });
                            }
                            seen
                        }));
                    }
                }
                let mut all = Vec::new();
                for task in tasks {
                    all.extend(task.await.unwrap_or_default());
                }
                all
            })
        });
        Ok(Steady {
            stop,
            thread: Some(thread),
        })
    }

    /// Stop the load and return every answer seen.
    pub fn finish(mut self) -> Vec<Answered> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

impl Drop for Steady {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
