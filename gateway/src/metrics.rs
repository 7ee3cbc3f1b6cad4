//! The counters behind `/metrics` and their Prometheus text exposition.
//!
//! Owns the metric names, help texts, label values and histogram buckets. The hot path only
//! bumps atomics here ([`Metrics::count`], the in-flight gauge); rendering reads them without a
//! lock, so a scrape never stalls a request. It does not serve HTTP (`admin.rs` does) and does
//! not decide when a reload counts as a success (`reload.rs` does).

use policy_contract::{headers, metrics as metric, Verdict};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicU8, Ordering};

/// Upper bounds of the reload-duration histogram, in seconds: reloads take milliseconds, a
/// config with thousands of rules a few hundred.
pub const RELOAD_BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// Number of `verdict` labels of `gateway_requests_total`: every verdict, and `none` for
/// responses made before the policy chain ran (400, 404, 408, 413).
const VERDICT_LABELS: usize = Verdict::ALL.len() + 1;

/// What `/metrics` says about the config in effect (its gauges are read at scrape time).
#[derive(Debug, Clone, Copy)]
pub struct ActiveInfo<'a> {
    /// `pack.version`, the `version` label of `gateway_config_info`.
    pub version: &'a str,
    /// The config hash, the `hash` label.
    pub hash: &'a str,
    /// The `generation` label.
    pub generation: u64,
    /// `gateway_config_pending_restart`: changed restart-class fields not applied.
    pub pending_restart: usize,
    /// `telemetry.service_name`, the `service` label of `gateway_service_info`.
    pub service: &'a str,
}

/// Shards of the per-request counters: more than the data threads a 2- to 16-core machine
/// runs, so each thread usually has one of its own.
const SHARDS: usize = 16;

/// The counters every data-plane request updates, in a cache line of their own: each thread
/// counts in its shard and `/metrics` adds the shards up, so two threads never write to the
/// same line on every request (on 2 cores that cost more than the counting).
#[derive(Debug, Default)]
#[repr(align(128))]
struct PerRequest {
    /// Responses by verdict, in the order of `policy_contract::headers::verdict_values`.
    requests: [AtomicU64; VERDICT_LABELS],
    /// Data-plane responses with a 5xx status, whatever the cause.
    server_errors: AtomicU64,
    /// Requests begun minus requests ended in this shard (one may end on another thread's
    /// shard: only the sum is a count).
    in_flight: AtomicI64,
}

thread_local! {
    /// The calling thread's shard, given out in turn as threads first count.
    static SHARD: usize = {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS
    };
}

/// Counters behind `/metrics`, updated lock-free on the hot path.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Reloads that were applied (or changed nothing).
    pub reload_success: AtomicU64,
    /// Reloads that were rejected.
    pub reload_failure: AtomicU64,
    /// Reverts applied through `/admin/revert`.
    pub reverts: AtomicU64,
    /// Reload durations: one count per bucket of [`RELOAD_BUCKETS`], then +Inf.
    pub reload_buckets: [AtomicU64; RELOAD_BUCKETS.len() + 1],
    /// Sum of reload durations, microseconds.
    pub reload_micros: AtomicU64,
    /// What every data-plane request counts, one shard per thread (see [`PerRequest`]).
    per_request: [PerRequest; SHARDS],
    /// Upstream failures answered with 502/504.
    pub upstream_errors: AtomicU64,
    /// Failed reloads and watch errors, by [`ReloadError`].
    pub reload_errors: [AtomicU64; ReloadError::ALL.len()],
    /// [`WatchState`], as its `u8`: exported only once `--watch` has set it.
    pub watcher: AtomicU8,
    /// Watch events after which the file held the active config's bytes, so nothing was
    /// reloaded (`gateway_config_watch_skipped_total`, exported with `--watch`): the positive
    /// sign that a change was seen and considered, where history and the reload counters stay
    /// still (a kubelet resync republishes identical content every minute or so).
    pub watch_skipped: AtomicU64,
    /// Requests a shadow candidate evaluated (`gateway_shadow_requests_total`).
    pub shadow_requests: AtomicU64,
    /// Shadow evaluations by served and candidate verdict (`gateway_shadow_transitions_total`),
    /// indexed by the verdicts' places in `Verdict::ALL`.
    pub shadow_transitions: [[AtomicU64; Verdict::ALL.len()]; Verdict::ALL.len()],
    /// Shadow evaluations that failed (`to="error"`), by served verdict.
    pub shadow_errors: [AtomicU64; Verdict::ALL.len()],
}

/// `gateway_config_watcher_running`'s source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum WatchState {
    /// No `--watch`: the metric is not exported (the default).
    Off = 0,
    /// The config's directory is watched (1).
    Running = 1,
    /// `--watch`, but the directory cannot be watched now (0).
    Stopped = 2,
}

impl Metrics {
    /// Set the watcher state; returns the one it replaces.
    pub fn set_watcher(&self, w: WatchState) -> WatchState {
        match self.watcher.swap(w as u8, Ordering::Relaxed) {
            1 => WatchState::Running,
            2 => WatchState::Stopped,
            _ => WatchState::Off,
        }
    }
}

/// Why a reload failed, or the watch broke: the `error_type` of
/// `gateway_config_reload_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadError {
    /// The file could not be read, or is not UTF-8.
    Read,
    /// Lint found errors (or the gateway's own refusals, an open admin without a token).
    Lint,
    /// The engine could not compile it (a regex over the size limit).
    Compile,
    /// A target's key variable (`secret_key_ref.env`) is unset or empty in the gateway's
    /// environment: the provider would be called without its key.
    Environment,
    /// The reload changed restart-class fields, which were not applied (pending restart).
    RestartClass,
    /// The watch failed, or its directory disappeared; a reload worker that died.
    Io,
}

impl ReloadError {
    /// Every error type, in label order.
    pub const ALL: [ReloadError; 6] = [
        ReloadError::Read,
        ReloadError::Lint,
        ReloadError::Compile,
        ReloadError::Environment,
        ReloadError::RestartClass,
        ReloadError::Io,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ReloadError::Read => "read",
            ReloadError::Lint => "lint",
            ReloadError::Compile => "compile",
            ReloadError::Environment => "environment",
            ReloadError::RestartClass => "restart-class",
            ReloadError::Io => "io",
        }
    }
}

impl Metrics {
    fn shard(&self) -> &PerRequest {
        &self.per_request[SHARD.with(|s| *s)]
    }

    /// Count one data-plane response under its verdict (`None`: answered before the chain
    /// ran), and as a server error when its status is 5xx.
    pub fn count(&self, verdict: Option<Verdict>, server_error: bool) {
        let i = headers::verdict_values()
            .position(|v| v == verdict)
            .expect("verdict_values lists every verdict and none");
        let shard = self.shard();
        shard.requests[i].fetch_add(1, Ordering::Relaxed);
        if server_error {
            shard.server_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A data-plane request begins (`1`) or ends (`-1`).
    pub fn in_flight_add(&self, n: i64) {
        self.shard().in_flight.fetch_add(n, Ordering::Relaxed);
    }

    /// Data-plane requests being handled now: what a SIGTERM drain waits for.
    pub fn in_flight(&self) -> i64 {
        self.per_request
            .iter()
            .map(|s| s.in_flight.load(Ordering::Relaxed))
            .sum()
    }

    /// Responses under verdict `i` (in the order of `verdict_values`), all shards.
    fn requests(&self, i: usize) -> u64 {
        self.per_request
            .iter()
            .map(|s| s.requests[i].load(Ordering::Relaxed))
            .sum()
    }

    /// Count one reload error.
    pub fn reload_error(&self, kind: ReloadError) {
        let i = ReloadError::ALL
            .iter()
            .position(|k| *k == kind)
            .expect("ALL lists every kind");
        self.reload_errors[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Every response counted so far.
    pub fn served(&self) -> u64 {
        (0..VERDICT_LABELS).map(|i| self.requests(i)).sum()
    }

    /// Record one reload's duration.
    pub fn observe_reload(&self, seconds: f64) {
        let i = RELOAD_BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(RELOAD_BUCKETS.len());
        self.reload_buckets[i].fetch_add(1, Ordering::Relaxed);
        self.reload_micros.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition, with `active` describing the config in effect.
    /// Count one shadow evaluation: the served verdict and the candidate's.
    /// `to` is `None` when the candidate failed to evaluate (`to="error"`).
    pub fn shadow(&self, from: Verdict, to: Option<Verdict>) {
        self.shadow_requests.fetch_add(1, Ordering::Relaxed);
        let place = |v: Verdict| Verdict::ALL.iter().position(|x| *x == v).unwrap_or(0);
        match to {
            Some(to) => self.shadow_transitions[place(from)][place(to)].fetch_add(1, Ordering::Relaxed),
            None => self.shadow_errors[place(from)].fetch_add(1, Ordering::Relaxed),
        };
    }

    pub fn render(&self, active: &ActiveInfo<'_>, audit: &crate::journal::AuditState, uptime_s: f64) -> String {
        use std::fmt::Write;
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let o = &mut out;
        header(
            o,
            "gateway_config_reload_total",
            "counter",
            "Config reloads by outcome.",
        );
        let _ = writeln!(
            o,
            "gateway_config_reload_total{{status=\"success\"}} {}",
            get(&self.reload_success)
        );
        let _ = writeln!(
            o,
            "gateway_config_reload_total{{status=\"failure\"}} {}",
            get(&self.reload_failure)
        );
        header(
            o,
            "gateway_config_reload_errors_total",
            "counter",
            "Failed reloads and watch errors by cause (read, lint, compile, restart-class, io).",
        );
        for (i, kind) in ReloadError::ALL.iter().enumerate() {
            let _ = writeln!(
                o,
                "gateway_config_reload_errors_total{{error_type=\"{}\"}} {}",
                kind.as_str(),
                get(&self.reload_errors[i])
            );
        }
        let watcher = self.watcher.load(Ordering::Relaxed);
        if watcher != WatchState::Off as u8 {
            let watching = u8::from(watcher == WatchState::Running as u8);
            header(
                o,
                "gateway_config_watcher_running",
                "gauge",
                "1 while --watch watches the config's directory, 0 while it cannot (alert on 0).",
            );
            let _ = writeln!(o, "gateway_config_watcher_running {watching}");
            header(
                o,
                "gateway_config_watch_skipped_total",
                "counter",
                "Watch events after which the file's bytes equalled the active config's source (nothing reloaded).",
            );
            let _ = writeln!(o, "gateway_config_watch_skipped_total {}", get(&self.watch_skipped));
        }
        header(
            o,
            "gateway_config_reload_duration_seconds",
            "histogram",
            "Wall time of the reload pipeline (read, lint, compile, classify, swap).",
        );
        let mut cumulative = 0;
        for (i, le) in RELOAD_BUCKETS.iter().enumerate() {
            cumulative += get(&self.reload_buckets[i]);
            let _ = writeln!(
                o,
                "gateway_config_reload_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        cumulative += get(&self.reload_buckets[RELOAD_BUCKETS.len()]);
        let _ = writeln!(
            o,
            "gateway_config_reload_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(
            o,
            "gateway_config_reload_duration_seconds_sum {}",
            get(&self.reload_micros) as f64 / 1e6
        );
        let _ = writeln!(o, "gateway_config_reload_duration_seconds_count {cumulative}");
        header(
            o,
            "gateway_config_revert_total",
            "counter",
            "Reverts to the previous config.",
        );
        let _ = writeln!(o, "gateway_config_revert_total {}", get(&self.reverts));
        header(
            o,
            "gateway_service_info",
            "gauge",
            "Always 1, labelled with `telemetry.service_name` (what dashboards group this process by).",
        );
        let _ = writeln!(o, "gateway_service_info{{service=\"{}\"}} 1", label(active.service));
        header(
            o,
            "gateway_config_info",
            "gauge",
            "The active config: always 1, labelled with its identity.",
        );
        let _ = writeln!(
            o,
            "gateway_config_info{{version=\"{}\",hash=\"{}\",generation=\"{}\"}} 1",
            label(active.version),
            active.hash,
            active.generation
        );
        header(
            o,
            "gateway_config_pending_restart",
            "gauge",
            "Number of changed restart-class fields not applied (0: the process runs what its source says).",
        );
        let _ = writeln!(o, "gateway_config_pending_restart {}", active.pending_restart);
        header(
            o,
            metric::REQUESTS,
            "counter",
            "Data-plane responses by policy verdict.",
        );
        for (i, v) in headers::verdict_values().enumerate() {
            let _ = writeln!(
                o,
                "{}{{verdict=\"{}\"}} {}",
                metric::REQUESTS,
                headers::verdict_value(v),
                self.requests(i)
            );
        }
        header(
            o,
            metric::UPSTREAM_ERRORS,
            "counter",
            "Upstream failures answered with 502 or 504.",
        );
        let _ = writeln!(o, "{} {}", metric::UPSTREAM_ERRORS, get(&self.upstream_errors));
        header(
            o,
            metric::SERVER_ERRORS,
            "counter",
            "Data-plane responses with a 5xx status, whatever the cause.",
        );
        let server_errors: u64 = self.per_request.iter().map(|s| get(&s.server_errors)).sum();
        let _ = writeln!(o, "{} {}", metric::SERVER_ERRORS, server_errors);
        header(
            o,
            "gateway_audit_write_errors_total",
            "counter",
            "Audit events that could not be written (a full disk, a file the gateway may not write).",
        );
        let _ = writeln!(o, "gateway_audit_write_errors_total {}", audit.errors());
        header(
            o,
            "gateway_audit_writing",
            "gauge",
            "1 while audit events are written, 0 from a failed write until one succeeds.",
        );
        let _ = writeln!(o, "gateway_audit_writing {}", u8::from(audit.writing()));
        header(
            o,
            "gateway_in_flight_requests",
            "gauge",
            "Data-plane requests being handled.",
        );
        let _ = writeln!(o, "gateway_in_flight_requests {}", self.in_flight());
        header(
            o,
            "gateway_uptime_seconds",
            "gauge",
            "Seconds since the process started.",
        );
        let _ = writeln!(o, "gateway_uptime_seconds {uptime_s:.3}");
        header(
            o,
            "gateway_shadow_requests_total",
            "counter",
            "Requests a shadow candidate evaluated beside the active config (never served).",
        );
        let _ = writeln!(o, "gateway_shadow_requests_total {}", get(&self.shadow_requests));
        header(
            o,
            "gateway_shadow_transitions_total",
            "counter",
            "Shadow evaluations by the served verdict (from) and the candidate's (to).",
        );
        for (i, from) in Verdict::ALL.iter().enumerate() {
            for (j, to) in Verdict::ALL.iter().enumerate() {
                let n = get(&self.shadow_transitions[i][j]);
                if n > 0 {
                    let _ = writeln!(
                        o,
                        "gateway_shadow_transitions_total{{from=\"{}\",to=\"{}\"}} {n}",
                        from.as_str(),
                        to.as_str()
                    );
                }
            }
            let n = get(&self.shadow_errors[i]);
            if n > 0 {
                let _ = writeln!(
                    o,
                    "gateway_shadow_transitions_total{{from=\"{}\",to=\"error\"}} {n}",
                    from.as_str()
                );
            }
        }
        out
    }
}

/// The `# HELP` and `# TYPE` lines that open each metric family.
fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    use std::fmt::Write;
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Escape a Prometheus label value.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
