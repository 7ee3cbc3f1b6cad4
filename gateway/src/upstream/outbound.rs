//! What crosses between the data plane and a provider: the request ready to leave
//! ([`Outbound`]) and why no upstream response came back ([`UpstreamError`], with its HTTP
//! status and OpenAI-style error type).
//!
//! Owns these two types only. It does not send anything (`wire`), pick a provider (`mod.rs`'s
//! `send`) or translate a body (each provider's file).

use hyper::header::HeaderMap;
use hyper::StatusCode;
use policy_config::Target;
use serde_json::Value;
use std::borrow::Cow;

/// Why the upstream gave no response.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No response head within the target's `timeout_ms` (504).
    #[error("upstream {target} did not answer within {ms} ms")]
    Timeout {
        /// The target that did not answer, by `id`.
        target: String,
        /// Its `timeout_ms`, which elapsed.
        ms: u64,
    },
    /// Refused, reset, unreachable, TLS failure (502).
    #[error("upstream {target} failed: {reason}")]
    Failed {
        /// The target that failed, by `id`.
        target: String,
        /// The error and its cause chain, for the client and the operator.
        reason: String,
    },
    /// The request cannot be sent to this provider (400).
    #[error("{0}")]
    Unsupported(String),
}

impl UpstreamError {
    /// HTTP status for the client.
    pub fn status(&self) -> StatusCode {
        match self {
            UpstreamError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            UpstreamError::Failed { .. } => StatusCode::BAD_GATEWAY,
            UpstreamError::Unsupported(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// OpenAI-style error `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Timeout { .. } => "upstream_timeout",
            UpstreamError::Failed { .. } => "upstream_error",
            UpstreamError::Unsupported(_) => "invalid_request_error",
        }
    }
}

/// One allowed request, ready to leave.
pub struct Outbound<'a> {
    /// The routed target.
    pub target: &'a Target,
    /// `/v1/chat/completions` or `/v1/completions`.
    pub path: &'a str,
    /// The body after policy (redacted when the verdict was `redact`), borrowed from the
    /// decision; copied only when the target rewrites it (`model`).
    pub body: Cow<'a, Value>,
    /// The client's headers (credentials and hop-by-hop headers are not forwarded).
    pub headers: &'a HeaderMap,
    /// The gateway's request id, forwarded as `x-request-id`.
    pub request_id: &'a str,
}
