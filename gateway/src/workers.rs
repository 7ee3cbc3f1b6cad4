//! The data plane's threads: `gateway.worker_threads` threads, each running a single-threaded
//! runtime that serves the connections the accept loop hands it (round-robin), with an
//! upstream client of its own. A connection and everything its requests wait on (the upstream
//! connection, timers) stay on one thread, so a request never wakes another thread: on the
//! gateway bench that is a fifth more requests per CPU second than one multi-threaded
//! runtime's work stealing (docs/design/performance.md).
//!
//! Owns the threads, the hand-off of a connection to one of them, and each thread's upstream
//! client. What a connection does is `serve.rs`'s; the accept loop and the control plane (admin,
//! signals, reloads) run on the main runtime.

use crate::upstream::{self, Client};
use std::cell::OnceCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc;

/// Work for a worker: called on its thread, inside its runtime, to build the future it runs
/// (a connection's stream must be registered with the runtime that polls it).
pub type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// The worker threads, as the accept loop sees them.
pub struct Workers {
    senders: Vec<mpsc::UnboundedSender<Job>>,
    next: AtomicUsize,
}

impl Workers {
    /// Start `n` worker threads (at least one).
    pub fn start(n: usize) -> std::io::Result<Workers> {
        let mut senders = Vec::new();
        for i in 0..n.max(1) {
            let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            std::thread::Builder::new().name(format!("data-{i}")).spawn(move || {
                runtime.block_on(async move {
                    while let Some(job) = rx.recv().await {
                        tokio::spawn(job());
                    }
                });
            })?;
            senders.push(tx);
        }
        Ok(Workers {
            senders,
            next: AtomicUsize::new(0),
        })
    }

    /// Run `job` on the next worker, round-robin. `false` when the workers are gone (the
    /// process is ending).
    pub fn spawn(&self, job: Job) -> bool {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.senders.len();
        self.senders[i].send(job).is_ok()
    }
}

thread_local! {
    /// This thread's upstream client: its pooled connections are driven by this thread's
    /// runtime, so a request and its upstream connection never wait on each other across
    /// threads.
    static CLIENT: OnceCell<Client> = const { OnceCell::new() };
}

/// The upstream client of the calling thread (a cheap handle to its pool).
pub fn client() -> Client {
    CLIENT.with(|c| c.get_or_init(upstream::client).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_go_round_robin_and_run_on_their_worker() {
        let workers = Workers::start(2).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..4 {
            let tx = tx.clone();
            assert!(workers.spawn(Box::new(move || {
                Box::pin(async move {
                    let name = std::thread::current().name().unwrap().to_string();
                    tx.send(name).unwrap();
                })
            })));
        }
        let mut names: Vec<String> = (0..4).map(|_| rx.recv().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["data-0", "data-0", "data-1", "data-1"]);
    }
}
