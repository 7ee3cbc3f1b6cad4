//! The gateway's shared state: one [`Gateway`] value behind an `Arc`, holding the active
//! config in an `ArcSwap`.
//!
//! Owns what every part reads: the active config, the one kept for revert, history, the
//! metrics counters (defined and rendered in `metrics.rs`) and the journal. It does not decide
//! anything: the reload pipeline (`reload.rs`) is the only writer of `active`, and request
//! handlers only ever `load` it once, at admission.

use crate::journal::Journal;
use crate::metrics::Metrics;
use arc_swap::ArcSwap;
use policy_config::{Config, PolicyKind};
use policy_contract::admin::{Identity, OpKind, OpOutcome, Operation, Origin, Trigger};
use policy_engine::Engine;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One applied config: what a request pins at admission. Freed when the last request that
/// pinned it finishes and no reload or revert holds it.
#[derive(Debug)]
pub struct Active {
    /// The config in effect: the file's values, except restart-class fields, which keep the
    /// values the process started with.
    pub config: Config,
    /// Compiled from `config`. Shared with the next `Active` when a reload changes nothing the
    /// engine sees (e.g. only a pending restart field), so rate-limit state carries over.
    pub engine: Arc<Engine>,
    /// `pack.version`.
    pub version: String,
    /// `sha256:` + hex of the canonical `config` (the `x-policy-config-hash` header).
    pub hash: String,
    /// SHA-256 of the text it was loaded from: `--watch` skips a file whose bytes it already
    /// serves.
    pub source_sha: String,
    /// The text it was loaded from: what `--state-dir` keeps of it (`state_dir.rs`).
    pub source: Arc<[u8]>,
    /// Where that text came from and when (`/admin/status`'s `source`).
    pub origin: Origin,
    /// Restart-class pointers whose value in the source differs from the running process.
    pub pending_restart: Vec<String>,
    /// 1 for the startup config, +1 per applied reload or revert.
    pub generation: u64,
    /// Where audit events go: `audit-logger.path` when `audit-logger` is in the chain.
    /// Derived once per config ([`Active::audit_target`]): every request reads it.
    pub audit: Option<PathBuf>,
    /// `version` and `hash` as the response headers every request carries, built once.
    pub headers: ConfigHeaders,
}

/// The `x-policy-config-version` and `x-policy-config-hash` values of a config.
#[derive(Debug, Clone)]
pub struct ConfigHeaders {
    /// `pack.version`; `None` when it cannot be a header value.
    pub version: Option<hyper::header::HeaderValue>,
    /// The config hash.
    pub hash: Option<hyper::header::HeaderValue>,
}

impl ConfigHeaders {
    /// The header values of `version` and `hash`.
    pub fn of(version: &str, hash: &str) -> ConfigHeaders {
        ConfigHeaders {
            version: hyper::header::HeaderValue::from_str(version).ok(),
            hash: hyper::header::HeaderValue::from_str(hash).ok(),
        }
    }
}

impl Active {
    /// Where `config`'s audit events go, when `audit-logger` is in its chain.
    pub fn audit_target(config: &Config) -> Option<PathBuf> {
        if !config.policies.chain.contains(&PolicyKind::AuditLogger) {
            return None;
        }
        let path = match &config.policy.audit_logger {
            Some(a) => a.path.clone(),
            None => policy_config::AuditLogger::default().path,
        };
        Some(PathBuf::from(path))
    }

    /// How operators name this config: version and hash.
    pub fn identity(&self) -> Identity {
        Identity {
            version: self.version.clone(),
            hash: self.hash.clone(),
        }
    }

    /// The history entry of an operation that left this (running) config in place: a rejected
    /// reload, a rejected or failed restart. Its sequence number and time are set when recorded.
    pub fn refused(
        &self,
        op: OpKind,
        trigger: Trigger,
        outcome: OpOutcome,
        started: Instant,
        error: &str,
    ) -> Operation {
        Operation {
            seq: 0,
            op,
            trigger,
            outcome,
            at: String::new(),
            from: Some(self.identity()),
            to: None,
            duration_ms: millis(started.elapsed()),
            changes: 0,
            pending_restart: self.pending_restart.clone(),
            error: Some(error.to_string()),
        }
    }

    /// Where this config's audit events go, if anywhere.
    pub fn audit_path(&self) -> Option<&std::path::Path> {
        self.audit.as_deref()
    }

    /// What `/health` and `/admin/status` say of the audit log, when the chain has one.
    pub fn audit_health(&self, state: &crate::journal::AuditState) -> Option<policy_contract::admin::AuditHealth> {
        Some(policy_contract::admin::AuditHealth {
            path: self.audit_path()?.display().to_string(),
            on_failure: self.audit_on_failure().as_str().to_string(),
            writing: state.writing(),
            write_errors: state.errors(),
            error: state.error(),
        })
    }

    /// `audit-logger.on_failure` (its default when the block is absent).
    pub fn audit_on_failure(&self) -> policy_config::AuditFailure {
        self.config
            .policy
            .audit_logger
            .as_ref()
            .map_or_else(Default::default, |a| a.on_failure)
    }

    /// `audit-logger.retention_days`: how many days of rotated audit files are kept.
    pub fn audit_keep_days(&self) -> u32 {
        self.config.policy.audit_logger.as_ref().map_or_else(
            || policy_config::AuditLogger::default().retention_days,
            |a| a.retention_days,
        )
    }

    /// Whether request bodies go into audit events.
    pub fn audit_bodies(&self) -> bool {
        self.config
            .policy
            .audit_logger
            .as_ref()
            .is_some_and(|a| a.include_bodies)
    }
}

/// Everything shared between listeners, signal handlers and the reload pipeline.
pub struct Gateway {
    /// The config requests are admitted under.
    pub active: ArcSwap<Active>,
    /// A candidate evaluated beside the active config on every request, never served
    /// (`/admin/shadow`).
    pub shadow: arc_swap::ArcSwapOption<crate::shadow::Shadow>,
    /// The config before the active one: what `/admin/revert` restores.
    pub previous: Mutex<Option<Arc<Active>>>,
    /// One reload (or revert) at a time, whatever triggered it.
    pub reload_lock: tokio::sync::Mutex<()>,
    /// The file given with `--config`.
    pub config_path: PathBuf,
    /// Reload, revert and start operations, newest last.
    pub history: Mutex<History>,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
    /// Audit log and recording writer.
    pub journal: Journal,
    /// Where `--record` appends every data-plane request, when given.
    pub record: Option<PathBuf>,
    /// Where the data plane listens (bound at start; restart-class).
    pub listen: std::net::SocketAddr,
    /// Where the admin plane listens (bound at start; restart-class).
    pub admin_listen: std::net::SocketAddr,
    /// `--listen` / `--admin-listen`: this instance's addresses in place of the config's. Read
    /// by every `candidate::prepare`, so a file that moves an overridden address is not a
    /// restart-class change here.
    pub overrides: Overrides,
    /// Each target's reachability, kept by the background probe (`probe.rs`); `/health` reads it.
    pub probes: crate::probe::Probes,
    /// Process start: the origin of `uptime_seconds` and the uptime gauge.
    pub started: Instant,
    /// Source of request ids (`x-request-id` when the client sends none).
    pub next_id: AtomicU64,
    /// This process's `x-policy-instance`: unique per process (start time and pid), so it
    /// also prefixes request ids to keep them unique across restarts.
    pub instance: String,
    /// [`Gateway::instance`] as a header value, built once: every response carries it.
    pub instance_header: hyper::header::HeaderValue,
    /// Where the process is in its life; the serve loops and `main` watch it, and a
    /// zero-drop restart moves it to [`Stop::Handover`].
    pub lifecycle: tokio::sync::watch::Sender<Stop>,
    /// How many serve loops are accepting connections: a restart waits for none before it
    /// answers, so no connection made after its answer reaches this process.
    pub accepting: tokio::sync::watch::Sender<usize>,
    /// Set when a drain's `gateway.limits.drain_timeout_ms` has passed: streams still open
    /// end with an SSE `error` event instead of being cut.
    pub drain_expired: tokio::sync::watch::Sender<bool>,
    /// The listening sockets as a restart hands them over (duplicates of the serve loops'
    /// descriptors); emptied once handed over, so an address the next process does not take
    /// stops being served when this process stops accepting.
    pub listeners: Mutex<Vec<crate::handover::Listening>>,
    /// Set while a zero-drop restart runs: a second one is refused (409).
    pub restarting: std::sync::atomic::AtomicBool,
    /// This process's command line after the program name, `--upgrade-from` left out: what a
    /// restart starts the next process with.
    pub argv: Vec<std::ffi::OsString>,
    /// `--state-dir`: where history and the revert target are kept across restarts (`None`:
    /// in memory only).
    pub state: Option<crate::state_dir::StateDir>,
}

/// Addresses this instance listens on in place of the config's (`--listen`,
/// `--admin-listen`; docs/guide/fleet.md). They are instance settings, not part of the config: the
/// config keeps the file's values (so its hash is the same on every instance running the file), and
/// only binding — at start and when a zero-drop restart matches inherited sockets — reads
/// them. The next process of a restart gets the same arguments, hence the same overrides.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`: the data plane's address instead of `gateway.listen`.
    pub listen: Option<String>,
    /// `--admin-listen`: the admin plane's address instead of `gateway.admin.listen`.
    pub admin_listen: Option<String>,
}

impl Overrides {
    /// Where this instance binds the data plane of `config`.
    pub fn data<'a>(&'a self, config: &'a Config) -> &'a str {
        self.listen.as_deref().unwrap_or(&config.gateway.listen)
    }

    /// Where this instance binds the admin plane of `config`.
    pub fn admin<'a>(&'a self, config: &'a Config) -> &'a str {
        self.admin_listen.as_deref().unwrap_or(&config.gateway.admin.listen)
    }

    /// Whether the config's value at `pointer` is replaced by an override here, so that
    /// changing it in the file changes nothing this instance runs.
    pub fn covers(&self, pointer: &str) -> bool {
        self.pointers().any(|p| p == pointer)
    }

    /// The config pointers overridden here (what `GET /admin/status` lists as `overridden`).
    pub fn pointers(&self) -> impl Iterator<Item = &'static str> + '_ {
        [
            ("/gateway/listen", &self.listen),
            ("/gateway/admin/listen", &self.admin_listen),
        ]
        .into_iter()
        .filter_map(|(pointer, set)| set.is_some().then_some(pointer))
    }
}

/// How the process is asked to stop, as its serve loops see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Serving.
    Running,
    /// SIGTERM: stop accepting, finish in-flight requests, exit 0.
    Drain,
    /// SIGINT: stop now (in-flight requests are cut), exit 0.
    Fast,
    /// A new process serves the listeners: stop accepting, answer each connection's next
    /// request with `connection: close` so clients reconnect (to the new process) without a
    /// refused or reset request, then drain and exit 0.
    Handover,
}

impl Gateway {
    /// A fresh request id, `<instance>-<n>`, as the header value it is sent as. Each thread
    /// takes its numbers from the shared counter [`ID_BLOCK`] at a time, so a request writes
    /// no memory another thread writes; numbers are unique, not in order across threads.
    pub fn request_id(&self) -> hyper::header::HeaderValue {
        let me = self as *const Gateway as usize;
        let n = IDS.with(|ids| {
            let (owner, next, end) = ids.get();
            let (next, end) = if owner == me && next < end {
                (next, end)
            } else {
                let start = self.next_id.fetch_add(ID_BLOCK, Ordering::Relaxed);
                (start, start + ID_BLOCK)
            };
            ids.set((me, next + 1, end));
            next
        });
        let mut digits = itoa::Buffer::new();
        let n = digits.format(n);
        // Exactly its length, so the header value takes the bytes over without a copy.
        let mut id = Vec::with_capacity(self.instance.len() + 1 + n.len());
        id.extend_from_slice(self.instance.as_bytes());
        id.push(b'-');
        id.extend_from_slice(n.as_bytes());
        hyper::header::HeaderValue::from_maybe_shared(bytes::Bytes::from(id)).expect("hex digits, a dash and digits")
    }
}

/// How many request ids a thread takes from the shared counter at once.
const ID_BLOCK: u64 = 1024;

thread_local! {
    /// This thread's block of request ids: the gateway it was taken from, the next, the end.
    static IDS: std::cell::Cell<(usize, u64, u64)> = const { std::cell::Cell::new((0, 0, 0)) };
}

/// How many operations `/admin/history` keeps: enough for a day of busy CI-driven reloads,
/// bounded so a reload loop cannot grow memory.
pub const HISTORY_LIMIT: usize = 256;

/// The operations log behind `/admin/history`.
#[derive(Debug, Default)]
pub struct History {
    /// Newest last, at most [`HISTORY_LIMIT`].
    pub entries: VecDeque<Operation>,
    next: u64,
}

impl History {
    /// History that goes on from `operations` (oldest first, as a state dir keeps them):
    /// the next operation gets the sequence number after the highest one there.
    pub fn resume(operations: Vec<Operation>) -> History {
        let next = operations.iter().map(|o| o.seq).max().unwrap_or(0);
        let skip = operations.len().saturating_sub(HISTORY_LIMIT);
        History {
            entries: operations.into_iter().skip(skip).collect(),
            next,
        }
    }

    /// Record `op`, giving it the next sequence number.
    pub fn push(&mut self, mut op: Operation) -> Operation {
        self.next += 1;
        op.seq = self.next;
        if self.entries.len() == HISTORY_LIMIT {
            self.entries.pop_front();
        }
        self.entries.push_back(op.clone());
        op
    }

    /// The last reload (applied, unchanged or rejected).
    pub fn last_reload(&self) -> Option<&Operation> {
        self.entries.iter().rev().find(|o| o.op == OpKind::Reload)
    }
}

/// A duration in milliseconds, rounded to microseconds (what JSON readers want to see).
pub fn millis(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_goes_on_from_the_stored_operations() {
        use policy_contract::admin::{OpOutcome, Trigger};
        let op = |seq| Operation {
            seq,
            op: OpKind::Reload,
            trigger: Trigger::Admin,
            outcome: OpOutcome::Applied,
            at: String::new(),
            from: None,
            to: None,
            duration_ms: 0.0,
            changes: 0,
            pending_restart: Vec::new(),
            error: None,
        };
        let mut h = History::resume(vec![op(7), op(8)]);
        assert_eq!(h.push(op(0)).seq, 9);
        let many: Vec<Operation> = (1..=300).map(op).collect();
        let h = History::resume(many);
        assert_eq!(h.entries.len(), HISTORY_LIMIT);
        assert_eq!(h.entries.back().map(|o| o.seq), Some(300));
    }
}
