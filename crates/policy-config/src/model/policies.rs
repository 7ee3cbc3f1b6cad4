//! The `policies:` chain and the `policy:` blocks that configure each policy in it:
//! prompt-injection, pii-detector, content-filter, rate-limit, audit-logger, with their actions.
//! Shape only: see the `model` module docs for the annotations every field carries.

use super::defaults::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The policy chain.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Policies {
    /// Policy kinds in order of evaluation; each kind at most once. Default: empty.
    /// Reload: hot.
    #[serde(default)]
    #[schemars(extend(
        "x-reload" = "hot",
        "x-diff" = "ordered-set",
        "x-enforce" = {"weakens": "remove-item", "says": "policy `{old}` no longer runs", "rule": "item-names-policy"}
    ))]
    pub chain: Vec<PolicyKind>,
}

/// A policy kind: `prompt-injection`, `pii-detector`, `content-filter`, `rate-limit` or
/// `audit-logger`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(missing_docs)] // documented above: per-variant docs would turn the schema's `enum` into a `oneOf`
pub enum PolicyKind {
    PromptInjection,
    PiiDetector,
    ContentFilter,
    RateLimit,
    AuditLogger,
}

impl PolicyKind {
    /// Every kind, in the order the config reference lists them.
    pub const ALL: [PolicyKind; 5] = [
        PolicyKind::PromptInjection,
        PolicyKind::PiiDetector,
        PolicyKind::ContentFilter,
        PolicyKind::RateLimit,
        PolicyKind::AuditLogger,
    ];

    /// The kind named `name` in YAML.
    pub fn from_name(name: &str) -> Option<PolicyKind> {
        PolicyKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The name used in YAML (`prompt-injection`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::PromptInjection => "prompt-injection",
            PolicyKind::PiiDetector => "pii-detector",
            PolicyKind::ContentFilter => "content-filter",
            PolicyKind::RateLimit => "rate-limit",
            PolicyKind::AuditLogger => "audit-logger",
        }
    }
}

impl std::fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Settings of each policy kind, keyed by kind.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PolicyBlocks {
    /// Settings of `prompt-injection`. Optional. Reload: hot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-reload" = "hot", "x-enforce" = {"rule": "policy"}))]
    pub prompt_injection: Option<PromptInjection>,

    /// Settings of `pii-detector`. Optional. Reload: hot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-reload" = "hot", "x-enforce" = {"rule": "policy"}))]
    pub pii_detector: Option<PiiDetector>,

    /// Settings of `content-filter`. Optional. Reload: hot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-reload" = "hot", "x-enforce" = {"rule": "policy-of-items"}))]
    pub content_filter: Option<ContentFilter>,

    /// Settings of `rate-limit`. Optional. Reload: hot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-reload" = "hot", "x-enforce" = {"rule": "policy"}))]
    pub rate_limit: Option<RateLimit>,

    /// Settings of `audit-logger`. Optional. Reload: hot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-reload" = "hot", "x-enforce" = {"rule": "inert-policy"}))]
    pub audit_logger: Option<AuditLogger>,
}

/// What a policy does on a match: `block` stops the chain (HTTP 403), `redact` replaces the
/// matched text before later policies and the upstream see it, `log` records a finding and
/// changes nothing. The values are listed strongest first: `policy diff` reads that order from
/// the schema to tell a weakened action (`x-enforce: lower-action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // documented above: per-variant docs would turn the schema's `enum` into a `oneOf`
pub enum Action {
    Block,
    Redact,
    Log,
}

/// What `prompt-injection` does on a match: `block` (HTTP 403) or `log` (record only). Listed
/// strongest first, like [`Action`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // documented above: per-variant docs would turn the schema's `enum` into a `oneOf`
pub enum BlockOrLog {
    Block,
    Log,
}

/// Settings of the `prompt-injection` policy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PromptInjection {
    /// What happens on a detected injection. Default: block with the default message.
    /// Reload: hot.
    #[serde(default)]
    #[schemars(extend("x-reload" = "hot"))]
    pub response: InjectionResponse,

    /// Extra regular expressions (Rust `regex` syntax, e.g. `(?i)` for case-insensitive) that
    /// count as injections, on top of the built-in detectors. Default: none. Reload: hot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend(
        "x-reload" = "hot",
        "x-diff" = "set",
        "x-enforce" = {"weakens": "remove-item", "says": "an injection pattern is removed", "rule": "item-by-index"}
    ))]
    pub extra_patterns: Vec<String>,
}

/// The response of `prompt-injection` to a match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InjectionResponse {
    /// `block` (HTTP 403) or `log`. Default: `block`. Reload: hot.
    #[serde(default = "default_block")]
    #[schemars(extend(
        "x-reload" = "hot",
        "x-enforce" = {"weakens": "lower-action", "says": "action goes from `{old}` to `{new}`"}
    ))]
    pub action: BlockOrLog,

    /// Message of the 403 error body. Default: `Request blocked: potential prompt injection
    /// detected`. Reload: hot.
    #[serde(default = "default_injection_message")]
    #[schemars(extend("x-reload" = "hot"))]
    pub message: String,
}

impl Default for InjectionResponse {
    fn default() -> Self {
        InjectionResponse {
            action: default_block(),
            message: default_injection_message(),
        }
    }
}

/// Settings of the `pii-detector` policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PiiDetector {
    /// What happens when PII is found: `redact`, `block` or `log`. Default: `redact`.
    /// Reload: hot.
    #[serde(default = "default_redact")]
    #[schemars(extend(
        "x-reload" = "hot",
        "x-enforce" = {"weakens": "lower-action", "says": "action goes from `{old}` to `{new}`"}
    ))]
    pub action: Action,

    /// PII types to detect. Default: all of them. Reload: hot.
    #[serde(default = "PiiType::all")]
    #[schemars(extend(
        "x-reload" = "hot",
        "x-diff" = "set",
        "x-enforce" = {"weakens": "remove-item", "says": "PII type `{old}` is no longer detected", "rule": "item-by-value"}
    ))]
    pub detect: Vec<PiiType>,

    /// How redacted text is marked. Reload: hot.
    #[serde(default)]
    #[schemars(extend("x-reload" = "hot"))]
    pub redaction: Redaction,
}

impl Default for PiiDetector {
    fn default() -> Self {
        PiiDetector {
            action: default_redact(),
            detect: PiiType::all(),
            redaction: Redaction::default(),
        }
    }
}

/// A PII type: `email`, `phone` (E.164 and North-American formats), `credit_card` (13-19
/// digits, Luhn-valid), `ssn` (US), `ipv4`, `api_key` (`sk-…`, `AKIA…`, `ghp_…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)] // documented above: per-variant docs would turn the schema's `enum` into a `oneOf`
pub enum PiiType {
    Email,
    Phone,
    CreditCard,
    Ssn,
    Ipv4,
    ApiKey,
}

impl PiiType {
    /// The name used in YAML (`credit_card`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            PiiType::Email => "email",
            PiiType::Phone => "phone",
            PiiType::CreditCard => "credit_card",
            PiiType::Ssn => "ssn",
            PiiType::Ipv4 => "ipv4",
            PiiType::ApiKey => "api_key",
        }
    }

    /// Every PII type: the default of `detect`.
    pub fn all() -> Vec<PiiType> {
        vec![
            PiiType::Email,
            PiiType::Phone,
            PiiType::CreditCard,
            PiiType::Ssn,
            PiiType::Ipv4,
            PiiType::ApiKey,
        ]
    }
}

/// How redactions are written into the text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Redaction {
    /// `label` writes `[EMAIL]`, `mask` writes `****`, `hash` writes `[EMAIL:1a2b3c]`.
    /// Default: `label`. Reload: hot.
    #[serde(default = "default_marker_format")]
    #[schemars(extend("x-reload" = "hot"))]
    pub marker_format: MarkerFormat,

    /// Whether a response lists what was redacted in its `x-policy-redactions` header: each
    /// PII type and how many of it (`email=2, phone=1`), never the values. Default: `true`.
    /// Reload: hot.
    #[serde(default = "default_true")]
    #[schemars(extend("x-reload" = "hot"))]
    pub include_metadata: bool,
}

impl Default for Redaction {
    fn default() -> Self {
        Redaction {
            marker_format: default_marker_format(),
            include_metadata: true,
        }
    }
}

/// Marker written in place of redacted text: `label` (`[EMAIL]`), `mask` (`****`) or `hash`
/// (`[EMAIL:1a2b3c]`, a short digest so equal values stay correlatable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // documented above: per-variant docs would turn the schema's `enum` into a `oneOf`
pub enum MarkerFormat {
    Label,
    Mask,
    Hash,
}

/// Settings of the `content-filter` policy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContentFilter {
    /// Rules, each a regular expression with an action. Ids must be unique. Default: none.
    /// Reload: hot.
    #[serde(default)]
    #[schemars(extend(
        "x-reload" = "hot",
        "x-diff" = "by-id",
        "x-enforce" = {"weakens": "remove-item", "says": "content rule `{old.id}` is removed", "rule": "item-by-id"}
    ))]
    pub rules: Vec<ContentRule>,
}

/// One content-filter rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContentRule {
    /// Unique id of the rule, named in verdicts and audit events. Required. Reload: hot.
    #[schemars(length(min = 1), extend("x-reload" = "hot"))]
    pub id: String,

    /// Regular expression in Rust `regex` syntax (no look-around or back-references; `(?i)`
    /// for case-insensitive). Must compile. Required. Reload: hot.
    #[schemars(extend("x-reload" = "hot", "x-enforce" = {"weakens": "never"}))]
    pub pattern: String,

    /// What happens on a match: `redact`, `block` or `log`. Required. Reload: hot.
    #[schemars(extend(
        "x-reload" = "hot",
        "x-enforce" = {"weakens": "lower-action", "says": "action goes from `{old}` to `{new}`"}
    ))]
    pub action: Action,

    /// Message of the 403 error body when the rule blocks. Optional. Reload: hot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-reload" = "hot"))]
    pub message: Option<String>,
}

/// Settings of the `rate-limit` policy: a token bucket per key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained rate, in requests per minute per key. Default: 600. Reload: hot.
    #[serde(default = "default_rpm")]
    #[schemars(
        range(min = 1),
        extend(
            "x-reload" = "hot",
            "x-enforce" = {"weakens": "raise-limit", "says": "the rate limit is raised from {old} to {new}"}
        )
    )]
    pub requests_per_minute: u32,

    /// Bucket size: requests a key may send at once above the sustained rate. Default: 100.
    /// Reload: hot.
    #[serde(default = "default_burst")]
    #[schemars(
        range(min = 1),
        extend(
            "x-reload" = "hot",
            "x-enforce" = {"weakens": "raise-limit", "says": "the rate limit is raised from {old} to {new}"}
        )
    )]
    pub burst: u32,

    /// What a bucket is kept per: `client_ip`, `header:<name>` (e.g. `header:x-api-key`) or
    /// `target`. Default: `client_ip`. Reload: hot.
    #[serde(default = "default_rate_key")]
    #[schemars(
        regex(pattern = r"^(client_ip|target|header:[A-Za-z0-9!#$%&'*+.^_`|~-]+)$"),
        extend("x-reload" = "hot", "x-expected" = "`client_ip`, `target` or `header:<name>`")
    )]
    pub key: String,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            requests_per_minute: default_rpm(),
            burst: default_burst(),
            key: default_rate_key(),
        }
    }
}

/// Settings of the `audit-logger` policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditLogger {
    /// File the gateway appends JSON Lines audit events to. Default: `./audit.jsonl`.
    /// Reload: hot.
    #[serde(default = "default_audit_path")]
    #[schemars(length(min = 1), extend("x-reload" = "hot"))]
    pub path: String,

    /// Days audit events are kept: the log is rotated at the first event of each UTC day to
    /// `PATH.YYYY-MM-DD` (the day it holds), and rotated files of days more than this many
    /// days before today are deleted. Default: 30. Reload: hot.
    #[serde(default = "default_retention_days")]
    #[schemars(range(min = 1), extend("x-reload" = "hot"))]
    pub retention_days: u32,

    /// Whether request bodies are written into audit events. Default: `false`. Reload: hot.
    #[serde(default)]
    #[schemars(extend("x-reload" = "hot"))]
    pub include_bodies: bool,

    /// What the gateway does while audit events cannot be written (a full disk, a file it
    /// may not write): `open` keeps serving, `closed` answers 503 until writes succeed again.
    /// Both count `gateway_audit_write_errors_total` and show the state in `/health`.
    /// Default: `open`, so an audit disk cannot take the API down; choose `closed` where no
    /// request may be served unaudited. Reload: hot.
    #[serde(default)]
    #[schemars(extend("x-reload" = "hot"))]
    pub on_failure: AuditFailure,
}

/// `audit-logger.on_failure`: serve or refuse while audit writes fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditFailure {
    /// Keep serving; the failure is counted, shown and logged.
    #[default]
    Open,
    /// Answer 503 to every request until an audit write succeeds again.
    Closed,
}

impl AuditFailure {
    /// `open` or `closed`, as in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditFailure::Open => "open",
            AuditFailure::Closed => "closed",
        }
    }
}

impl Default for AuditLogger {
    fn default() -> Self {
        AuditLogger {
            path: default_audit_path(),
            retention_days: default_retention_days(),
            include_bodies: false,
            on_failure: AuditFailure::Open,
        }
    }
}

fn default_block() -> BlockOrLog {
    BlockOrLog::Block
}

fn default_injection_message() -> String {
    "Request blocked: potential prompt injection detected".into()
}

fn default_redact() -> Action {
    Action::Redact
}

fn default_marker_format() -> MarkerFormat {
    MarkerFormat::Label
}

fn default_rpm() -> u32 {
    600
}

fn default_burst() -> u32 {
    100
}

fn default_rate_key() -> String {
    "client_ip".into()
}

fn default_audit_path() -> String {
    "./audit.jsonl".into()
}

fn default_retention_days() -> u32 {
    30
}
