//! The config model: the Rust types of `policy-config.yaml` (SPEC §1).
//!
//! This file owns the *shape* of a config and nothing else: field names, defaults, value
//! constraints, and each field's reload class. The doc comment of every field is its user
//! documentation: it becomes the `description` of the generated JSON Schema, so it states
//! units, default and reload class. The reload class is declared with
//! `#[schemars(extend("x-reload" = ...))]` on every field, and `crate::schema` reads it back
//! from the generated schema; a field without one fails `tests/` (see `every_property_has_reload_class`).
//! Lists also declare how `policy diff` compares them, as `x-diff`: `by-id` (items matched by
//! their `id`, reorders reported), `set` (order carries no meaning), `ordered-set` (unique
//! items whose order matters: additions, removals and reorders). Other lists compare by position.
//!
//! Every enforcement-bearing field declares what it means for enforcement as `x-enforce`, an
//! object read back by `crate::schema::enforcement`; `policy diff` (which changes weaken
//! enforcement) and offline replay (which rules no request exercised) only interpret it, so a
//! new field carries its meaning here or fails `tests/` (see `enforcement_is_declared`).
//! - `weakens`: how a change weakens enforcement. `remove-item` (removing an item of this list),
//!   `lower-action` (the action changes to a weaker one; the enum lists its values strongest
//!   first), `switch-off` (changed to `false`), `raise-limit` (a number is raised), `never`
//!   (bears on enforcement, but no change to it is judged weakening).
//! - `says`: the reviewer's wording of the weakening, with `{old}`, `{new}` and `{old.KEY}`
//!   standing for the values (strings unquoted, `?` when absent).
//! - `rule`: what offline replay counts as exercised. `policy` (the settings block of the policy
//!   its key names: a change inside it is the whole policy, `*`), `policy-of-items` (the same,
//!   but adding the block adds each item of its rule lists), `inert-policy` (the block of a
//!   policy that never decides a verdict: nothing to exercise), `item-names-policy` (each item
//!   names a policy: adding one adds that whole policy), `item-by-id`, `item-by-index`
//!   (`KEY/INDEX`), `item-by-value` (each item of this list is a rule, named so).
//!
//! Loading (YAML with spans), validation and semantic rules live elsewhere
//! (`crate::config::yaml`, `crate::lint`); nothing here does I/O.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One `policy-config.yaml` document: the whole policy pack a gateway runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "policy-config", extend("x-reload" = "hot"))]
pub struct Config {
    /// Identity of the policy pack: name, version, on/off switch. Required. Reload: hot.
    #[schemars(extend("x-reload" = "hot"))]
    pub pack: Pack,

    /// Process-level settings of the gateway. Optional; every field has a default.
    /// Reload: hot, except `listen`, `worker_threads` and `admin.listen` (restart).
    #[serde(default)]
    #[schemars(extend("x-reload" = "hot"))]
    pub gateway: Gateway,

    /// Upstream targets requests are forwarded to. Required, at least one target. Reload: hot.
    #[schemars(extend("x-reload" = "hot"))]
    pub providers: Providers,

    /// Routing table: the first route whose `match.model` glob matches the request's `model`
    /// picks the target; no match goes to `providers.default`. Default: empty. Reload: hot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-reload" = "hot"))]
    pub routes: Vec<Route>,

    /// Which policies run, in which order. Default: an empty chain (every request is allowed).
    /// Reload: hot.
    #[serde(default)]
    #[schemars(extend("x-reload" = "hot"))]
    pub policies: Policies,

    /// Settings of each policy kind. A kind in the chain without a block here runs with its
    /// defaults; a block for a kind that is not in the chain has no effect (lint warning P311).
    /// Reload: hot.
    #[serde(default)]
    #[schemars(extend("x-reload" = "hot"))]
    pub policy: PolicyBlocks,

    /// Telemetry of the gateway process. Optional. Reload: restart (the whole section).
    #[serde(default)]
    #[schemars(extend("x-reload" = "restart"))]
    pub telemetry: Telemetry,
}

/// Identity of a policy pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pack {
    /// Name of the pack: lowercase letters, digits and `-`, starting with a letter or digit.
    /// Required. Reload: hot.
    #[schemars(
        regex(pattern = r"^[a-z0-9][a-z0-9-]*$"),
        length(max = 128),
        extend("x-reload" = "hot", "x-expected" = "a name of lowercase letters, digits and '-', like `local-dev`")
    )]
    pub name: String,

    /// Version of the pack, a semantic version like `1.4.0` (quote it if YAML would read it as a
    /// number). Sent as `x-policy-config-version` on every response. Required. Reload: hot.
    #[schemars(
        regex(pattern = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"),
        extend("x-reload" = "hot", "x-expected" = "a semver version like `1.0.0`")
    )]
    pub version: String,

    /// Master switch. `false` lets every request pass with verdict `allow`. Default: `true`.
    /// Reload: hot.
    #[serde(default = "default_true")]
    #[schemars(extend(
        "x-reload" = "hot",
        "x-enforce" = {"weakens": "switch-off", "says": "the pack is disabled: every request is allowed"}
    ))]
    pub enabled: bool,

    /// Free text for humans. Optional. Reload: hot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-reload" = "hot"))]
    pub description: Option<String>,
}

/// Process-level settings of the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    /// Address of the data plane, `host:port`. Default: `0.0.0.0:41002`. Reload: restart
    /// (a bound socket cannot move).
    #[serde(default = "default_listen")]
    #[schemars(extend("x-reload" = "restart", "x-expected" = "a socket address `host:port`, like `0.0.0.0:41002`"))]
    pub listen: String,

    /// Number of tokio worker threads, 1 to 1024. Default: 2. Reload: restart (the runtime is
    /// built once at start).
    #[serde(default = "default_worker_threads")]
    #[schemars(range(min = 1, max = 1024), extend("x-reload" = "restart"))]
    pub worker_threads: u32,

    /// The admin plane: reload, revert, status, history, metrics. Reload: hot, except `listen`.
    #[serde(default)]
    #[schemars(extend("x-reload" = "hot"))]
    pub admin: Admin,

    /// Request limits of the data plane. Reload: hot.
    #[serde(default)]
    #[schemars(extend("x-reload" = "hot"))]
    pub limits: Limits,
}

/// The admin listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// Address of the admin plane, `host:port`. Default: `127.0.0.1:41003`. Reload: restart.
    #[serde(default = "default_admin_listen")]
    #[schemars(extend("x-reload" = "restart", "x-expected" = "a socket address `host:port`, like `127.0.0.1:41003`"))]
    pub listen: String,

    /// Name of the environment variable holding the admin bearer token (never the token itself).
    /// Required when `listen` is not a loopback address. Optional otherwise. Reload: hot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"),
        extend("x-reload" = "hot", "x-expected" = "an environment variable name, like `POLICY_ADMIN_TOKEN`")
    )]
    pub token_env: Option<String>,
}

/// Limits applied to every data-plane request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted request body, in bytes; larger bodies get HTTP 413.
    /// Default: 1048576 (1 MiB). Reload: hot.
    #[serde(default = "default_max_body_bytes")]
    #[schemars(range(min = 1), extend("x-reload" = "hot", "x-enforce" = {"weakens": "never"}))]
    pub max_body_bytes: u64,

    /// Time budget of one request, in milliseconds, from admission to the last byte.
    /// Default: 30000. Reload: hot.
    #[serde(default = "default_timeout_ms")]
    #[schemars(range(min = 1), extend("x-reload" = "hot", "x-enforce" = {"weakens": "never"}))]
    pub request_timeout_ms: u64,
}

/// The upstream targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Providers {
    /// Upstream targets; at least one. Ids must be unique. Reload: hot.
    #[schemars(length(min = 1), extend("x-reload" = "hot", "x-diff" = "by-id"))]
    pub targets: Vec<Target>,

    /// Id of the target used when no route matches. Default: the first target. Reload: hot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-reload" = "hot"))]
    pub default: Option<String>,
}

/// One upstream a request can be forwarded to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// Unique id of the target, referenced by `providers.default` and `routes[].target`.
    /// Required. Reload: hot.
    #[schemars(length(min = 1), extend("x-reload" = "hot"))]
    pub id: String,

    /// Wire protocol of the upstream. Required. Reload: hot.
    #[schemars(extend("x-reload" = "hot"))]
    pub provider: ProviderKind,

    /// Model name sent upstream. Optional: without it the request's own `model` is kept.
    /// Reload: hot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-reload" = "hot"))]
    pub model: Option<String>,

    /// Base URL of the upstream API, `http://` or `https://`. Required unless `provider` is
    /// `mock`. Reload: hot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-reload" = "hot", "x-expected" = "an http(s) URL, like `https://api.openai.com`"))]
    pub base_url: Option<String>,

    /// Where the API key comes from: always an environment variable reference, never the key.
    /// Optional. Reload: hot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-reload" = "hot"))]
    pub secret_key_ref: Option<SecretRef>,

    /// Upstream timeout, in milliseconds; a slower upstream gets HTTP 504. Default: 30000.
    /// Reload: hot.
    #[serde(default = "default_timeout_ms")]
    #[schemars(range(min = 1), extend("x-reload" = "hot"))]
    pub timeout_ms: u64,

    /// Behaviour of the local mock upstream. Only for `provider: mock`. Reload: hot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-reload" = "hot"))]
    pub mock: Option<MockSettings>,
}

/// Wire protocol of an upstream: `openai` (OpenAI chat/completions API), `anthropic`
/// (Anthropic messages API) or `mock` (answers locally in the OpenAI format; for demos and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)] // documented above: per-variant docs would turn the schema's `enum` into a `oneOf`
pub enum ProviderKind {
    Openai,
    Anthropic,
    Mock,
}

/// A reference to a secret held in the environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// Name of the environment variable that holds the secret. Required. Reload: hot.
    #[schemars(
        regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"),
        extend("x-reload" = "hot", "x-expected" = "an environment variable name, like `OPENAI_API_KEY`")
    )]
    pub env: String,
}

/// Behaviour of the `mock` provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MockSettings {
    /// Delay before the mock answers, in milliseconds. Default: 0. Reload: hot.
    #[serde(default)]
    #[schemars(extend("x-reload" = "hot"))]
    pub latency_ms: u64,

    /// Text of the assistant reply. Default: `This is a mock reply.` Reload: hot.
    #[serde(default = "default_mock_reply")]
    #[schemars(extend("x-reload" = "hot"))]
    pub reply: String,
}

impl Default for MockSettings {
    fn default() -> Self {
        MockSettings {
            latency_ms: 0,
            reply: default_mock_reply(),
        }
    }
}

/// One routing rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// What the request must look like for this route to apply. Required. Reload: hot.
    #[serde(rename = "match")]
    #[schemars(extend("x-reload" = "hot"))]
    pub match_: RouteMatch,

    /// Id of the target the request goes to. Required. Reload: hot.
    #[schemars(extend("x-reload" = "hot"))]
    pub target: String,
}

/// Conditions of a route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteMatch {
    /// Glob over the request's `model` (`*` any run of characters, `?` one character), like
    /// `gpt-4o*`. Required. Reload: hot.
    #[schemars(length(min = 1), extend("x-reload" = "hot"))]
    pub model: String,
}

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
    /// Every kind, in the order SPEC §1 lists them.
    pub const ALL: [PolicyKind; 5] = [
        PolicyKind::PromptInjection,
        PolicyKind::PiiDetector,
        PolicyKind::ContentFilter,
        PolicyKind::RateLimit,
        PolicyKind::AuditLogger,
    ];

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

impl PolicyBlocks {
    /// Whether a block is written for `kind`.
    pub fn is_configured(&self, kind: PolicyKind) -> bool {
        match kind {
            PolicyKind::PromptInjection => self.prompt_injection.is_some(),
            PolicyKind::PiiDetector => self.pii_detector.is_some(),
            PolicyKind::ContentFilter => self.content_filter.is_some(),
            PolicyKind::RateLimit => self.rate_limit.is_some(),
            PolicyKind::AuditLogger => self.audit_logger.is_some(),
        }
    }
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

    /// Whether the response metadata lists what was redacted (types and counts, never the
    /// values). Default: `true`. Reload: hot.
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

    /// Days audit events are kept. Default: 30. Reload: hot.
    #[serde(default = "default_retention_days")]
    #[schemars(range(min = 1), extend("x-reload" = "hot"))]
    pub retention_days: u32,

    /// Whether request bodies are written into audit events. Default: `false`. Reload: hot.
    #[serde(default)]
    #[schemars(extend("x-reload" = "hot"))]
    pub include_bodies: bool,
}

impl Default for AuditLogger {
    fn default() -> Self {
        AuditLogger {
            path: default_audit_path(),
            retention_days: default_retention_days(),
            include_bodies: false,
        }
    }
}

/// Telemetry of the gateway process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Telemetry {
    /// Service name reported in logs and metrics. Default: `policy-gateway`. Reload: restart.
    #[serde(default = "default_service_name")]
    #[schemars(length(min = 1), extend("x-reload" = "restart"))]
    pub service_name: String,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry {
            service_name: default_service_name(),
        }
    }
}

impl Default for Gateway {
    fn default() -> Self {
        Gateway {
            listen: default_listen(),
            worker_threads: default_worker_threads(),
            admin: Admin::default(),
            limits: Limits::default(),
        }
    }
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            listen: default_admin_listen(),
            token_env: None,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: default_max_body_bytes(),
            request_timeout_ms: default_timeout_ms(),
        }
    }
}

// Defaults are functions because serde's `default = "..."` takes a path; each is SPEC §1's value.
fn default_true() -> bool {
    true
}
fn default_listen() -> String {
    "0.0.0.0:41002".into()
}
fn default_admin_listen() -> String {
    "127.0.0.1:41003".into()
}
fn default_worker_threads() -> u32 {
    2
}
/// 1 MiB: large enough for long chat histories, small enough to bound memory per request.
fn default_max_body_bytes() -> u64 {
    1_048_576
}
fn default_timeout_ms() -> u64 {
    30_000
}
fn default_mock_reply() -> String {
    "This is a mock reply.".into()
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
fn default_service_name() -> String {
    "policy-gateway".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `as_str` is written by hand for speed; it must say what serde says.
    #[test]
    fn names_match_serde() {
        for k in PolicyKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        for t in PiiType::all() {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }
}
