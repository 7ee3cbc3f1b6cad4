//! The admin API (docs/reference/admin-api.md): its paths, the bodies it answers with, the history
//! of operations, and the data plane's `/health` (liveness) and `/health/ready` (readiness).
//!
//! The gateway builds these values and serialises them; the live harness (and every other
//! client in this crate) deserialises them. Fields are read by name on both sides through these
//! types only, never with `value.get("…")`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST`: empty body re-reads the config file, a YAML body loads that text.
pub const RELOAD: &str = "/admin/reload";
/// `POST`: back to the config before the active one.
pub const REVERT: &str = "/admin/revert";
/// `POST`: zero-drop restart (docs/operator/restart.md); empty body re-reads the config file, a
/// YAML body starts the new process on that text.
pub const RESTART: &str = "/admin/restart";
/// `GET`: the config in effect, as canonical JSON (what `policy gateway reload` diffs against).
pub const CONFIG: &str = "/admin/config";
/// `GET`: [`Status`].
pub const STATUS: &str = "/admin/status";
/// `GET`: [`History`].
pub const HISTORY: &str = "/admin/history";
/// `GET`: Prometheus text exposition.
pub const METRICS: &str = "/metrics";
/// Shadow evaluation of a candidate config: `POST` (the candidate's YAML) starts or replaces
/// it, `GET` reports what it would have decided, `DELETE` stops it with the final report.
pub const SHADOW: &str = "/admin/shadow";
/// `GET` on the data plane: liveness. 200 with [`Health`] while the process serves, whatever
/// its targets' state.
pub const HEALTH: &str = "/health";
/// `GET` on the data plane: readiness. The same [`Health`] body, 200 when [`Health::ready`]
/// (a config is loaded and at least one target is reachable), else 503.
pub const HEALTH_READY: &str = "/health/ready";

/// The JSON Schemas of the admin API's answers, generated from these types: the file name each
/// is published as under `schema/output/`, and the schema. `policy docs` writes them; a test
/// validates real answers of a running gateway against them.
pub fn schemas() -> Vec<(String, Value)> {
    fn one<T: schemars::JsonSchema>(name: &str, title: &str) -> (String, Value) {
        let mut v = schemars::schema_for!(T).to_value();
        if let Some(o) = v.as_object_mut() {
            o.insert("$id".into(), Value::String(format!("policy-output-{name}.json")));
            o.insert("title".into(), Value::String(title.into()));
        }
        describe_tags(&mut v);
        (format!("{name}.schema.json"), v)
    }
    vec![
        one::<Status>("admin-status", "GET /admin/status"),
        one::<History>("admin-history", "GET /admin/history"),
        one::<Answer>("admin-answer", "POST /admin/reload, /admin/revert, /admin/restart"),
        one::<Health>("health", "GET /health, GET /health/ready"),
        one::<ShadowStarted>("admin-shadow-started", "POST /admin/shadow"),
        one::<ShadowReport>("admin-shadow", "GET /admin/shadow, DELETE /admin/shadow"),
    ]
}

/// An internally tagged enum's tag property (`"status": {"const": "applied"}`) has no doc
/// comment to carry: it says which answer this is.
fn describe_tags(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.get("const").is_some_and(Value::is_string) && !o.contains_key("description") {
                let kind = o["const"].as_str().unwrap_or_default().to_string();
                o.insert(
                    "description".into(),
                    Value::String(format!("`{kind}`: which answer this is.")),
                );
            }
            o.values_mut().for_each(describe_tags);
        }
        Value::Array(a) => a.iter_mut().for_each(describe_tags),
        _ => {}
    }
}

/// Where the text of a config came from, and when it was loaded: what `status` names as the
/// active config's source, so an operator knows what a SIGHUP or a reload without a body would
/// re-read instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Origin {
    /// A file, or a body posted to `/admin/reload` or `/admin/restart`.
    pub kind: OriginKind,
    /// The file's absolute path, for `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// When the gateway read it (RFC 3339, UTC).
    pub at: String,
}

/// The kinds of [`Origin`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OriginKind {
    /// Read from a file: `--config` at start, on SIGHUP, `--watch` or a reload without a body;
    /// or a config kept in `--state-dir`.
    File,
    /// Posted as the body of `/admin/reload` or `/admin/restart` (`policy gateway reload
    /// --config FILE` sends the file this way).
    AdminBody,
}

impl Origin {
    /// Read from `path` at `at`.
    pub fn file(path: impl Into<String>, at: String) -> Origin {
        Origin {
            kind: OriginKind::File,
            path: Some(path.into()),
            at,
        }
    }

    /// Posted to the admin API at `at`.
    pub fn admin_body(at: String) -> Origin {
        Origin {
            kind: OriginKind::AdminBody,
            path: None,
            at,
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.kind, &self.path) {
            (OriginKind::File, Some(path)) => write!(f, "the file {path}, read at {}", self.at),
            (OriginKind::File, None) => write!(f, "a file, read at {}", self.at),
            (OriginKind::AdminBody, _) => write!(f, "a body posted to the admin API at {}", self.at),
        }
    }
}

/// A config as operators name it: its version and its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Identity {
    /// `pack.version`.
    pub version: String,
    /// `sha256:` + hex of the canonical config.
    pub hash: String,
}

/// What an operation did to the active config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OpKind {
    /// The process started with a config.
    Start,
    /// A new config was proposed (file, admin body).
    Reload,
    /// The config before the active one was put back.
    Revert,
    /// A new process took over the listeners and runs the config in full.
    Restart,
}

impl OpKind {
    /// `start`, `reload`, `revert` or `restart`.
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Start => "start",
            OpKind::Reload => "reload",
            OpKind::Revert => "revert",
            OpKind::Restart => "restart",
        }
    }
}

/// What started an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// Process start.
    Startup,
    /// SIGHUP.
    Sighup,
    /// The admin API.
    Admin,
    /// `--watch` saw the file change.
    Watch,
    /// SIGUSR2: zero-drop restart.
    Sigusr2,
}

impl Trigger {
    /// The name used in history, logs and audit events.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Startup => "startup",
            Trigger::Sighup => "sighup",
            Trigger::Admin => "admin",
            Trigger::Watch => "watch",
            Trigger::Sigusr2 => "sigusr2",
        }
    }
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OpOutcome {
    /// A new config is active.
    Applied,
    /// The proposed config equals the active one: nothing was swapped.
    Unchanged,
    /// The proposed config was refused; the active one serves on.
    Rejected,
    /// The config was valid but the operation could not complete (a restart whose new process
    /// did not start or did not become ready); the active one serves on.
    Failed,
}

impl OpOutcome {
    /// `applied`, `unchanged` or `rejected`.
    pub fn as_str(self) -> &'static str {
        match self {
            OpOutcome::Applied => "applied",
            OpOutcome::Unchanged => "unchanged",
            OpOutcome::Rejected => "rejected",
            OpOutcome::Failed => "failed",
        }
    }
}

/// One start, reload or revert, as history keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Operation {
    /// Position in the history, from 1.
    pub seq: u64,
    /// What was attempted.
    pub op: OpKind,
    /// Who asked for it.
    pub trigger: Trigger,
    /// How it ended.
    pub outcome: OpOutcome,
    /// When it finished (RFC 3339, UTC).
    pub at: String,
    /// The active config before (`null` for a start).
    pub from: Option<Identity>,
    /// The active config after (`null` when rejected).
    pub to: Option<Identity>,
    /// Wall time of the whole pipeline, milliseconds.
    pub duration_ms: f64,
    /// Number of hot changes applied.
    pub changes: usize,
    /// Restart-class pointers whose new values are not applied.
    pub pending_restart: Vec<String>,
    /// Why it was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /admin/history`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct History {
    /// Oldest first, bounded (the gateway keeps the most recent ones).
    pub operations: Vec<Operation>,
}

/// One operation as `policy gateway status --history` prints it (`operations_history` in the
/// status, the shape of the `kt` workflow operators know).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct HistoryEntry {
    /// `start`, `reload`, `revert` or `restart`.
    pub action: OpKind,
    /// `succeeded`, `failed` or `unchanged`.
    pub outcome: String,
    /// What started it.
    pub trigger: Trigger,
    /// Version before (`null` for a start).
    pub from_version: Option<String>,
    /// Version after (the proposed one is unknown when it was refused: `null`).
    pub target_version: Option<String>,
    /// Hash after (or the hash still serving when refused).
    pub hash: Option<String>,
    /// When it finished (RFC 3339, UTC).
    pub at: String,
    /// Wall time, milliseconds.
    pub duration_ms: f64,
    /// Why it failed.
    pub error: Option<String>,
}

impl From<&Operation> for HistoryEntry {
    fn from(op: &Operation) -> HistoryEntry {
        let outcome = match op.outcome {
            OpOutcome::Applied => "succeeded",
            OpOutcome::Unchanged => "unchanged",
            OpOutcome::Rejected | OpOutcome::Failed => "failed",
        };
        HistoryEntry {
            action: op.op,
            outcome: outcome.into(),
            trigger: op.trigger,
            from_version: op.from.as_ref().map(|i| i.version.clone()),
            target_version: op.to.as_ref().map(|i| i.version.clone()),
            hash: op.to.as_ref().or(op.from.as_ref()).map(|i| i.hash.clone()),
            at: op.at.clone(),
            duration_ms: op.duration_ms,
            error: op.error.clone(),
        }
    }
}

/// `GET /admin/status`.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Status {
    /// Always `serving` while the process answers.
    pub status: String,
    /// `pack.name` of the active config.
    pub pack: String,
    /// `pack.version` of the active config.
    pub version: String,
    /// Hash of the active config.
    pub hash: String,
    /// 1 for the startup config, +1 per applied reload or revert.
    pub generation: u64,
    /// SHA-256 hex of the text the active config was loaded from.
    pub source_sha256: String,
    /// Absolute path of the `--config` file (what SIGHUP and an empty reload re-read).
    pub config_path: String,
    /// Where the active config's text came from: `config_path`, another file, or a body posted
    /// to the admin API (absent from gateways that predate it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Origin>,
    /// The gateway's process id (what SIGHUP is sent to).
    pub pid: u32,
    /// Restart-class pointers changed in the source but not applied.
    pub pending_restart: Vec<String>,
    /// The latest reload, whatever its outcome.
    pub last_reload: Option<Operation>,
    /// What `POST /admin/revert` would restore.
    pub revert_to: Option<Identity>,
    /// Seconds since the process started.
    pub uptime_seconds: f64,
    /// Data-plane responses so far.
    pub requests_served: u64,
    /// Data-plane requests being handled now.
    pub in_flight: i64,
    /// This process's `x-policy-instance`.
    pub instance: String,
    /// `--state-dir`, where history and the revert target survive restarts (absent: in memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<String>,
    /// The bound data-plane address (`--listen` when the instance overrides it, else the
    /// config's `gateway.listen`; the real port when that says 0).
    pub listen: String,
    /// The bound admin-plane address (`--admin-listen`, else `gateway.admin.listen`).
    pub admin_listen: String,
    /// The config pointers this instance overrides on its command line (`/gateway/listen` for
    /// `--listen`, `/gateway/admin/listen` for `--admin-listen`): a file that changes them
    /// changes nothing this instance runs, so it is not restart-class here (docs/guide/fleet.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overridden: Vec<String>,
    /// The audit log's state, when the chain has `audit-logger`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditHealth>,
}

impl Status {
    /// Where the active config came from, when that is not `config_path` (what a SIGHUP or a
    /// reload without a body would re-read instead).
    pub fn served_from_elsewhere(&self) -> Option<&Origin> {
        self.source
            .as_ref()
            .filter(|o| o.path.as_deref() != Some(self.config_path.as_str()))
    }
}

/// The body of a successful reload or revert (`applied` or `unchanged`).
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Applied {
    /// `pack.version` now active.
    pub version: String,
    /// Hash now active.
    pub hash: String,
    /// Generation now active.
    pub generation: u64,
    /// The config active before.
    pub previous: Identity,
    /// The hot changes applied, as `policy diff --format json` lists them (reload only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<Value>,
    /// Restart-class pointers not applied.
    pub pending_restart: Vec<String>,
    /// Lint warnings of the new config, as `policy lint --format json` has them (reload only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warnings: Option<Vec<Value>>,
    /// Wall time of the pipeline, milliseconds (reload only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    /// The history entry written for it.
    pub operation: Operation,
    /// The process now serving (restart only: the new one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Its `x-policy-instance` (restart only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Its bound data-plane address (restart only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// Its bound admin-plane address (restart only: it changes when the config moves it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_listen: Option<String>,
}

/// The body of a refused reload or revert.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Rejected {
    /// One line saying why.
    pub error: String,
    /// Lint diagnostics, in the lint JSON shape, when lint refused the config (`null` otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Value>,
    /// The config that keeps serving.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<Identity>,
    /// The history entry written for it (none when nothing was attempted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
}

/// `POST /admin/reload` and `POST /admin/revert`: 200 with `applied` or `unchanged`, 422
/// (reload) or 409 (revert) with `rejected`. `skipped` is internal to `--watch` (same bytes as
/// the active config) and never sent over HTTP.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Answer {
    /// A new config is active.
    Applied(Box<Applied>),
    /// The proposed config equals the active one.
    Unchanged(Box<Applied>),
    /// Refused; the active config serves on.
    Rejected(Box<Rejected>),
    /// Not attempted: the file's bytes equal the active config's source.
    Skipped {
        /// Why nothing was attempted.
        reason: String,
    },
}

impl Answer {
    /// `applied`, `unchanged`, `rejected` or `skipped`.
    pub fn status(&self) -> &'static str {
        match self {
            Answer::Applied(_) => "applied",
            Answer::Unchanged(_) => "unchanged",
            Answer::Rejected(_) => "rejected",
            Answer::Skipped { .. } => "skipped",
        }
    }

    /// The config active after the operation, when it succeeded.
    pub fn applied(&self) -> Option<&Applied> {
        match self {
            Answer::Applied(a) | Answer::Unchanged(a) => Some(a),
            _ => None,
        }
    }
}

/// `GET /health` and `GET /health/ready` on the data plane.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Health {
    /// `ok` while the process serves.
    pub status: String,
    /// `pack.version` of the active config.
    pub config_version: String,
    /// Hash of the active config.
    pub config_hash: String,
    /// Generation of the active config.
    pub generation: u64,
    /// Restart-class pointers changed in the source but not applied.
    pub pending_restart: Vec<String>,
    /// Seconds since the process started.
    pub uptime_seconds: f64,
    /// Data-plane responses so far.
    pub requests_served: u64,
    /// Whether this gateway can serve traffic: a config is loaded and at least one of its
    /// targets is reachable (what `/health/ready` answers 200 for). Absent from gateways that
    /// predate it: read as `false`.
    #[serde(default)]
    pub ready: bool,
    /// Every target of the active config, in config order, with its last probed reachability.
    #[serde(default)]
    pub targets: Vec<TargetHealth>,
    /// The audit log's state, when the chain has `audit-logger`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditHealth>,
}

/// Whether audit events are being written (`/health`, `/admin/status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct AuditHealth {
    /// `audit-logger.path`.
    pub path: String,
    /// `audit-logger.on_failure`: `open` or `closed`.
    pub on_failure: String,
    /// `false` from a failed write until one succeeds; while `false` and `closed`, requests
    /// are answered 503.
    pub writing: bool,
    /// Audit events that could not be written since the process started.
    pub write_errors: u64,
    /// The last write error (`No space left on device (os error 28)`), while not writing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One target's reachability as `/health` reports it. A background probe TCP-connects to each
/// non-mock target's `base_url` host and port every few seconds (1 s timeout, no bytes sent);
/// a `mock` target answers locally and is always reachable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct TargetHealth {
    /// `providers.targets[].id`.
    pub id: String,
    /// Its `provider`: `openai`, `anthropic` or `mock`.
    pub provider: String,
    /// Whether the last probe connected (`false` until the first probe of this target and
    /// address has finished).
    pub reachable: bool,
    /// When the last probe finished (RFC 3339, UTC); absent for a mock and before the first
    /// probe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<String>,
    /// Why it is not reachable (refused, timed out, unresolvable, not probed yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_carry_their_status_as_a_tag() {
        let a = Answer::Skipped { reason: "same".into() };
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v, serde_json::json!({"status": "skipped", "reason": "same"}));
        let r: Answer =
            serde_json::from_value(serde_json::json!({"status": "rejected", "error": "x", "diagnostics": null}))
                .unwrap();
        assert_eq!(r.status(), "rejected");
    }

    #[test]
    fn health_from_a_gateway_without_targets_still_reads() {
        let old = serde_json::json!({"status": "ok", "config_version": "1", "config_hash": "sha256:x",
            "generation": 1, "pending_restart": [], "uptime_seconds": 1.0, "requests_served": 0});
        let h: Health = serde_json::from_value(old).unwrap();
        assert!(!h.ready && h.targets.is_empty());
    }
}

/// The answer to `POST /admin/shadow`: the candidate now evaluated beside the active config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ShadowStarted {
    /// The candidate's config hash (restart-class fields held at the running values).
    pub shadow_hash: String,
    /// When it started (RFC 3339, UTC); its counts run from here.
    pub since: String,
}

/// `GET /admin/shadow` and the answer to `DELETE /admin/shadow`: what the candidate would have
/// decided on every data-plane request since it started, against the verdict that was served.
/// Counts are exact; examples are capped and hold no message text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ShadowReport {
    /// The config that served the requests (now).
    pub active_hash: String,
    /// The candidate's config hash.
    pub shadow_hash: String,
    /// When the shadow started (RFC 3339, UTC).
    pub since: String,
    /// Requests evaluated by both.
    pub requests: u64,
    /// Requests whose candidate verdict differs from the served one.
    pub changed: u64,
    /// `served->candidate` (e.g. `allow->block`, `redact->error`) and how many; changed
    /// requests only.
    pub transitions: std::collections::BTreeMap<String, u64>,
    /// The rule that made each difference: the candidate's deciding rule, or the served one's
    /// when the candidate allows.
    pub by_rule: Vec<ShadowRule>,
    /// At most 5 examples per transition, the first seen.
    pub examples: Vec<ShadowExample>,
}

/// How a deciding rule is named wherever verdicts are compared (the shadow's report, the
/// pull request's replay summary): `policy/rule` (`pii-detector/email`), the policy alone when
/// it names no rule, `none` when no policy decided.
pub fn rule_name(policy: Option<&str>, rule: Option<&str>) -> String {
    match (policy, rule) {
        (Some(p), Some(r)) => format!("{p}/{r}"),
        (Some(p), None) => p.to_string(),
        (None, _) => "none".to_string(),
    }
}

/// One rule's share of the differences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ShadowRule {
    /// `policy/rule`, e.g. `content-filter/bulk-export`, `pii-detector/email`.
    pub rule: String,
    /// The served verdict.
    pub from: String,
    /// The candidate's verdict.
    pub to: String,
    /// How many requests.
    pub count: u64,
}

/// One changed request, without its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct ShadowExample {
    /// The request's id (`x-request-id`).
    pub request_id: String,
    /// The served verdict.
    pub from: String,
    /// The candidate's verdict.
    pub to: String,
    /// The rule that made the difference.
    pub rule: String,
}
