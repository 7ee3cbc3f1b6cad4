//! The `openai` provider: the request goes to `base_url` + the client's path as it is (after
//! policy), with the target's key as `Authorization: Bearer`, and the response, streamed or
//! not, comes back untouched.
//!
//! Owns only the OpenAI-specific part of the request (the bearer credential). Headers,
//! timeouts and failures are `upstream/wire.rs`'s; no translation happens here.

use super::outbound::{Outbound, UpstreamError};
use super::wire::{build, exchange, pass_through, secret, upstream_uri};
use crate::http::Body;
use hyper::Response;

/// Proxy `out` to an OpenAI-compatible API.
pub(super) async fn send(out: &Outbound<'_>) -> Result<Response<Body>, UpstreamError> {
    let base = out.target.base_url.as_deref().unwrap_or_default();
    let uri = upstream_uri(base, out.path);
    let extra: Vec<(&'static str, String)> = secret(out.target)
        .map(|k| vec![("authorization", format!("Bearer {k}"))])
        .unwrap_or_default();
    let body = serde_json::to_vec(&out.body).expect("a JSON value serialises");
    let req = build(out, uri, &body, &extra, true);
    Ok(pass_through(exchange(out.target, req).await?))
}
