//! The `providers:` section: the upstream targets a request can be sent to (OpenAI,
//! Anthropic, the local mock) and the routes that choose among them.
//! Shape only: see the `model` module docs for the annotations every field carries.

use super::defaults::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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

fn default_mock_reply() -> String {
    "This is a mock reply.".into()
}
