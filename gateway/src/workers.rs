//! The data plane's threads: `gateway.worker_threads` threads, each running a single-threaded
//! runtime that serves the connections the accept loop hands it (round-robin); each has its
//! own upstream connections (`upstream/pool.rs`). A connection and everything its requests
//! wait on (the upstream connection, timers, the end of a drain) stay on one thread, so a
//! request never wakes another thread and never touches another thread's memory: on the
//! gateway bench that is a fifth more requests per CPU second than one multi-threaded
//! runtime's work stealing (docs/design/performance.md).
//!
//! Owns the threads, their CPUs when `gateway.pin_workers` is on ([`cpus`]), the hand-off of a
//! connection to one of them, and each thread's copy of "the drain ran out" ([`drain_expired`]). What a connection does is `serve.rs`'s; the accept
//! loop and the control plane (admin, signals, reloads) run on the main runtime.

use std::cell::OnceCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{mpsc, watch};

/// Work for a worker: called on its thread, inside its runtime, to build the future it runs
/// (a connection's stream must be registered with the runtime that polls it).
pub type Job = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

/// The worker threads, as the accept loop sees them.
pub struct Workers {
    senders: Vec<mpsc::UnboundedSender<Job>>,
    next: AtomicUsize,
}

thread_local! {
    /// On a worker thread: the process's `drain_expired`, relayed into a channel of this
    /// thread's own. Every request waits on it, so the waiting stays in this thread's memory
    /// instead of a lock and counters every thread writes to.
    static DRAIN_EXPIRED: OnceCell<watch::Receiver<bool>> = const { OnceCell::new() };
}

impl Workers {
    /// Start `n` worker threads (at least one), thread `i` pinned to CPU `pin[i]` where `pin`
    /// has one ([`placement`]). Each relays `drain_expired` (`true` once a drain has run out of
    /// time) to its own requests.
    pub fn start(n: usize, pin: &[usize], drain_expired: &watch::Sender<bool>) -> std::io::Result<Workers> {
        let mut senders = Vec::new();
        for i in 0..n.max(1) {
            let cpu = pin.get(i).copied();
            let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
            let mut expired = drain_expired.subscribe();
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            std::thread::Builder::new().name(format!("data-{i}")).spawn(move || {
                if let Some(cpu) = cpu {
                    if let Err(e) = pin_to(cpu) {
                        crate::journal::log("WARN", &format!("data-{i} not pinned to CPU {cpu}: {e}"));
                    }
                }
                runtime.block_on(async move {
                    let (relay, local) = watch::channel(false);
                    DRAIN_EXPIRED
                        .with(|d| d.set(local))
                        .expect("set once, at the thread's start");
                    tokio::spawn(async move {
                        if expired.wait_for(|e| *e).await.is_ok() {
                            relay.send_replace(true);
                        }
                        // Kept open: a request that asks later still reads `true`.
                        std::future::pending::<()>().await;
                    });
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

    /// How many worker threads there are.
    pub fn len(&self) -> usize {
        self.senders.len()
    }

    /// The worker the next connection goes to, round-robin.
    pub fn next(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.senders.len()
    }

    /// Run `job` on worker `i` (from [`Workers::next`]). `false` when the workers are gone (the
    /// process is ending).
    pub fn spawn(&self, i: usize, job: Job) -> bool {
        self.senders[i].send(job).is_ok()
    }
}

/// The CPUs this process may run on (its affinity mask, which a cgroup cpuset or `taskset`
/// narrows), in order: where `gateway.pin_workers` puts the threads.
#[cfg(target_os = "linux")]
pub fn cpus() -> std::io::Result<Vec<usize>> {
    use rustix::thread::{sched_getaffinity, CpuSet};
    let set = sched_getaffinity(None)?;
    let cpus: Vec<usize> = (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect();
    if cpus.is_empty() {
        return Err(std::io::Error::other("the affinity mask lists no CPU"));
    }
    Ok(cpus)
}

/// Pinning is Linux's (`sched_setaffinity`); elsewhere the setting is refused at start.
#[cfg(not(target_os = "linux"))]
pub fn cpus() -> std::io::Result<Vec<usize>> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "gateway.pin_workers needs Linux",
    ))
}

/// The CPU of each of `n` threads: `cpus` (from [`cpus`]) taken in turn, starting again from
/// the first when there are more threads than CPUs.
pub fn placement(n: usize, cpus: &[usize]) -> Vec<usize> {
    cpus.iter().copied().cycle().take(n).collect()
}

/// Keep the calling thread on `cpu`.
#[cfg(target_os = "linux")]
fn pin_to(cpu: usize) -> std::io::Result<()> {
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu);
    Ok(rustix::thread::sched_setaffinity(None, &set)?)
}

#[cfg(not(target_os = "linux"))]
fn pin_to(_cpu: usize) -> std::io::Result<()> {
    cpus().map(|_| ())
}

/// The calling worker thread's copy of the process's `drain_expired`; `None` off the worker
/// threads.
pub fn drain_expired() -> Option<watch::Receiver<bool>> {
    DRAIN_EXPIRED.with(|d| d.get().cloned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{channel, Receiver, Sender};

    /// Hand `jobs` jobs to the workers, round-robin, each built by `job` around a sender for
    /// what it reports from its thread; the receiving end.
    fn spawn_each<T, F>(workers: &Workers, jobs: usize, job: impl Fn(Sender<T>) -> F) -> Receiver<T>
    where
        T: Send + 'static,
        F: Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = channel();
        for _ in 0..jobs {
            let run = job(tx.clone());
            assert!(workers.spawn(workers.next(), Box::new(move || Box::pin(run))));
        }
        rx
    }

    #[test]
    fn jobs_go_round_robin_and_run_on_their_worker() {
        let workers = Workers::start(2, &[], &watch::Sender::new(false)).unwrap();
        let rx = spawn_each(&workers, 4, |tx| async move {
            tx.send(std::thread::current().name().unwrap().to_string()).unwrap();
        });
        let mut names: Vec<String> = (0..4).map(|_| rx.recv().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["data-0", "data-0", "data-1", "data-1"]);
    }

    #[test]
    fn each_worker_sees_the_drain_run_out() {
        let expired = watch::Sender::new(false);
        let workers = Workers::start(2, &[], &expired).unwrap();
        let rx = spawn_each(&workers, 2, |tx| async move {
            let mut local = drain_expired().expect("a worker thread has its copy");
            tx.send("waiting").unwrap();
            local.wait_for(|e| *e).await.unwrap();
            tx.send("expired").unwrap();
        });
        assert_eq!([rx.recv().unwrap(), rx.recv().unwrap()], ["waiting", "waiting"]);
        expired.send_replace(true);
        assert_eq!([rx.recv().unwrap(), rx.recv().unwrap()], ["expired", "expired"]);
        assert!(drain_expired().is_none(), "not a worker thread");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn pinned_workers_run_on_their_cpus_in_turn() {
        let allowed = cpus().unwrap();
        let workers = Workers::start(3, &placement(3, &allowed), &watch::Sender::new(false)).unwrap();
        let rx = spawn_each(&workers, 3, |tx| async move {
            let name = std::thread::current().name().unwrap().to_string();
            tx.send((name, cpus().unwrap())).unwrap();
        });
        let mut seen: Vec<(String, Vec<usize>)> = (0..3).map(|_| rx.recv().unwrap()).collect();
        seen.sort();
        for (i, (name, mask)) in seen.iter().enumerate() {
            assert_eq!(name, &format!("data-{i}"));
            assert_eq!(mask, &[allowed[i % allowed.len()]], "{name}'s affinity");
        }
    }
}
