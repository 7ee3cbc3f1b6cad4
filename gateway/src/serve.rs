//! The accept loop of one listener and the life of its connections: serve until the
//! lifecycle ([`Stop`]) changes, then stop accepting and end the connections as asked —
//! drained (SIGTERM), cut (SIGINT), or handed over to the next process (zero-drop restart).
//!
//! It does not decide when to stop (`main.rs` maps signals, `restart.rs` decides a handover)
//! and does not handle requests (`data.rs`, `admin.rs`).

use crate::http::Body;
use crate::journal::log;
use crate::server::Incoming;
use crate::state::{Gateway, Stop};
use crate::workers::Workers;
use hyper::header::{HeaderValue, CONNECTION};
use hyper::{Request, Response};
use std::future::Future;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Once a drain's time is up, how long streams get to send their closing `error` event.
const CLOSING_GRACE: Duration = Duration::from_secs(1);

/// After a handover or SIGTERM, how long connections get to come back with one more request
/// (answered with `connection: close`) before the idle ones are closed: a busy keep-alive
/// client sends within milliseconds; closing an idle connection is the one moment a client's
/// new request can meet a closing socket, so it is put off as long as a client plausibly
/// stays idle.
const HANDOVER_IDLE_GRACE: Duration = Duration::from_secs(2);

/// A listener's open connections: how many, and a wake-up when the last one closes.
#[derive(Default)]
struct Connections {
    open: AtomicUsize,
    all_closed: tokio::sync::Notify,
}

impl Connections {
    fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    /// Until no connection is open.
    async fn closed(&self) {
        loop {
            let notified = self.all_closed.notified();
            tokio::pin!(notified);
            // Registered before the count is read, so a close in between is not missed.
            notified.as_mut().enable();
            if self.open() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One open connection in a listener's count, taken out when dropped.
struct Open(Arc<Connections>);

impl Open {
    fn count(connections: &Arc<Connections>) -> Open {
        connections.open.fetch_add(1, Ordering::AcqRel);
        Open(Arc::clone(connections))
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        if self.0.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.all_closed.notify_waiters();
        }
    }
}

/// Where a plane's connections are served: on the runtime that accepts them (the admin plane),
/// or handed to the data plane's worker threads.
pub enum Threads {
    /// The accepting runtime.
    Here,
    /// The worker threads, round-robin.
    Workers(Arc<Workers>),
}

/// Accept connections on `listener` and serve them with `handler` on `threads` until the
/// lifecycle leaves [`Stop::Running`]. `G` is how a request holds the state: an `Arc`, or the
/// data plane's `&'static` (no reference count written per request). The handler gets the
/// client's address as text.
pub async fn serve<G, H, F>(listener: TcpListener, gw: G, handler: H, mut stop: watch::Receiver<Stop>, threads: Threads)
where
    G: Deref<Target = Gateway> + Clone + Send + Sync + 'static,
    H: Fn(G, Request<Incoming>, Arc<str>) -> F + Copy + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    // One "closing" signal per thread that serves connections: an idle connection waits on
    // its signal, so a thread's connections share one of their own rather than one lock every
    // thread takes.
    let serving = match &threads {
        Threads::Here => 1,
        Threads::Workers(workers) => workers.len(),
    };
    let closers: Vec<watch::Sender<bool>> = (0..serving).map(|_| watch::channel(false).0).collect();
    let connections = Arc::new(Connections::default());
    gw.accepting.send_modify(|n| *n += 1);
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
                // The connection's own: a request clones it (a count no other thread writes)
                // and reads the shared version without a lock while nothing changes.
                let (gw, lifecycle) = (gw.clone(), Arc::new(stop.clone()));
                // The client's address as the requests name it (an IPv4-mapped IPv6 address as
                // IPv4), written once per connection.
                let client: Arc<str> = peer.ip().to_canonical().to_string().into();
                let service = move |req: Request<Incoming>| {
                    let (gw, lifecycle, client) = (gw.clone(), Arc::clone(&lifecycle), Arc::clone(&client));
                    async move {
                        let mut resp = handler(gw, req, client).await;
                        let stopping = !matches!(lifecycle.has_changed(), Ok(false))
                            && matches!(*lifecycle.borrow(), Stop::Handover | Stop::Drain);
                        if stopping {
                            // The connection closes after a response that says so; the client
                            // reconnects, and the next process (or another instance) accepts.
                            resp.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
                        }
                        resp
                    }
                };
                let thread = match &threads {
                    Threads::Here => 0,
                    Threads::Workers(workers) => workers.next(),
                };
                // Subscribed and counted from here, so a drain that starts before the
                // connection reaches its thread still closes it and waits for it.
                let closing = closers[thread].subscribe();
                // Counted until dropped, however the connection ends: served, never handed to
                // its thread, or unwound by a panic.
                let counted = Open::count(&connections);
                let conn = move |stream: tokio::net::TcpStream| -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
                    Box::pin(async move {
                        let _counted = counted;
                        crate::server::serve_connection(stream, service, closing, header_timeout).await;
                    })
                };
                match &threads {
                    Threads::Here => {
                        tokio::spawn(conn(stream));
                    }
                    Threads::Workers(workers) => {
                        // The stream moves to the worker's runtime: registered there, not here.
                        let _ = stream.into_std().map(|stream| {
                            workers.spawn(thread, Box::new(move || match tokio::net::TcpStream::from_std(stream) {
                                Ok(stream) => conn(stream),
                                Err(_) => Box::pin(std::future::ready(())),
                            }))
                        });
                    }
                }
            }
            _ = stop.changed() => break,
        }
    }
    drop(listener);
    gw.accepting.send_modify(|n| *n = n.saturating_sub(1));
    let how = *stop.borrow();
    let stopped = Instant::now();
    // `gateway.limits.drain_timeout_ms`: long enough for a slow completion, bounded so a stuck
    // stream cannot block shutdown. A SIGTERM's drain counts from the signal, the idle grace
    // included; a handover's from the end of the grace (the next process serves meanwhile).
    let limit = Duration::from_millis(gw.active.load().config.gateway.limits.drain_timeout_ms);
    if matches!(how, Stop::Handover | Stop::Drain) {
        let grace = match how {
            Stop::Drain => HANDOVER_IDLE_GRACE.min(limit),
            _ => HANDOVER_IDLE_GRACE,
        };
        let _ = tokio::time::timeout(grace, connections.closed()).await;
    }
    if matches!(how, Stop::Drain | Stop::Handover) {
        let left = match how {
            Stop::Drain => limit.saturating_sub(stopped.elapsed()),
            _ => limit,
        };
        // Every thread's connections are told at once: the idle ones close now, the busy
        // ones after their response. Done when all have closed.
        for closer in &closers {
            closer.send_replace(true);
        }
        let shutdown = connections.closed();
        tokio::pin!(shutdown);
        if tokio::time::timeout(left, &mut shutdown).await.is_err() {
            let open = connections.open();
            log(
                "WARN",
                &format!(
                    "drain: {open} connection(s) still open after gateway.limits.drain_timeout_ms ({limit:?}); \
                     ending their streams with an error event"
                ),
            );
            gw.drain_expired.send_replace(true);
            let _ = tokio::time::timeout(CLOSING_GRACE, shutdown).await;
        }
    }
}
