//! Providers: where an allowed request goes. `openai` and `anthropic` proxy over HTTP(S) to
//! the target's `base_url`; `mock` answers locally in the OpenAI format.
//!
//! This module owns what every provider shares: the dispatch on `provider` ([`send`]), the one
//! pooled HTTP(S) [`Client`], the outbound request (URL joining, forwarded and dropped headers,
//! credentials read from the environment at send time and never logged), timeouts (-> 504)
//! and connection failures (-> 502). Each provider's wire format is its own file:
//!
//! ```text
//! openai.rs     pass-through to an OpenAI-compatible API
//! anthropic.rs  OpenAI <-> Messages API translation, including the streamed events
//! mock.rs       local answers for tests and demos
//! ```
//!
//! Nothing here buffers a stream: an upstream's server-sent events are passed frame by frame.
//! It does not decide anything about policy; the data plane hands it the final body.

mod anthropic;
mod mock;
mod openai;

use crate::http::{Body, BoxError};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use policy::config::{ProviderKind, Target};
use policy::contract::headers;
use serde_json::Value;
use std::time::Duration;

/// The shared HTTP/1.1 client (plain and TLS), pooled per upstream.
pub type Client = hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Idle upstream connections are kept this long: below the 120 s most LLM APIs' load
/// balancers use, so the pool never reuses a connection the far end is closing.
const POOL_IDLE: Duration = Duration::from_secs(90);
/// Connect timeout, separate from the target's whole-request `timeout_ms`: a black-holed
/// address fails in seconds rather than holding a request for the full timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The process's one upstream client, built at start: plain HTTP and TLS (webpki roots),
/// `TCP_NODELAY`, idle connections pooled for [`POOL_IDLE`].
pub fn client() -> Client {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE)
        .build(https)
}

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
    /// The body after policy (redacted when the verdict was `redact`).
    pub body: Value,
    /// The client's headers (credentials and hop-by-hop headers are not forwarded).
    pub headers: &'a HeaderMap,
    /// The gateway's request id, forwarded as `x-request-id`.
    pub request_id: &'a str,
}

/// Send `out` to its target and return the response head with a streaming body.
pub async fn send(client: &Client, mut out: Outbound<'_>) -> Result<Response<Body>, UpstreamError> {
    if let Some(model) = &out.target.model {
        if let Some(m) = out.body.as_object_mut() {
            m.insert("model".into(), Value::String(model.clone()));
        }
    }
    match out.target.provider {
        ProviderKind::Mock => Ok(mock::respond(&out).await),
        ProviderKind::Openai => openai::send(client, &out).await,
        ProviderKind::Anthropic => anthropic::send(client, &out).await,
    }
}

/// Client headers never sent upstream besides the credentials
/// (`policy::contract::CREDENTIAL_HEADERS`: the client's credentials are for the gateway; the
/// upstream gets the target's key): hop-by-hop headers, which hyper sets itself.
const NOT_FORWARDED: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Upstream response headers not passed back: hop-by-hop (hyper frames the response itself).
const NOT_RETURNED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// `base_url` + `path`, without doubling a `/v1` the base already ends with.
fn upstream_url(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    match path.strip_prefix("/v1") {
        Some(rest) if base.ends_with("/v1") => format!("{base}{rest}"),
        _ => format!("{base}{path}"),
    }
}

/// The target's API key, from the variable `secret_key_ref.env` names; `None` when unset or
/// empty (the request then goes without one).
fn secret(target: &Target) -> Option<String> {
    let name = &target.secret_key_ref.as_ref()?.env;
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The upstream POST: the client's headers minus credentials and [`NOT_FORWARDED`] (and `accept-encoding`
/// unless `keep_encoding`: a translated body must arrive uncompressed), then `content-type`,
/// `x-request-id` and the provider's `extra` headers.
fn build(
    out: &Outbound<'_>,
    url: &str,
    body: Vec<u8>,
    extra: &[(&'static str, String)],
    keep_encoding: bool,
) -> Request<Full<Bytes>> {
    let mut req = Request::builder()
        .method(hyper::Method::POST)
        .uri(url)
        .version(Version::HTTP_11)
        .body(Full::new(Bytes::from(body)))
        .expect("method, URI (validated by lint) and body are valid");
    let h = req.headers_mut();
    for (name, value) in out.headers {
        let n = name.as_str();
        if NOT_FORWARDED.contains(&n) || headers::is_credential(n) || (!keep_encoding && n == "accept-encoding") {
            continue;
        }
        h.append(name.clone(), value.clone());
    }
    h.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(out.request_id) {
        h.insert(HeaderName::from_static(headers::REQUEST_ID), v);
    }
    for (name, value) in extra {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
    req
}

/// Send `req` and wait for the response head within the target's `timeout_ms`.
async fn exchange(
    client: &Client,
    target: &Target,
    req: Request<Full<Bytes>>,
) -> Result<Response<Incoming>, UpstreamError> {
    let failed = |reason: String| UpstreamError::Failed {
        target: target.id.clone(),
        reason,
    };
    match tokio::time::timeout(Duration::from_millis(target.timeout_ms), client.request(req)).await {
        Err(_) => Err(UpstreamError::Timeout {
            target: target.id.clone(),
            ms: target.timeout_ms,
        }),
        Ok(Err(e)) => {
            // The legacy client's Display says only "client error (Connect)": the cause chain
            // holds what an operator needs ("Connection refused").
            let mut reason = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                reason = format!("{reason}: {s}");
                source = s.source();
            }
            Err(failed(reason))
        }
        Ok(Ok(resp)) => Ok(resp),
    }
}

/// The upstream response as the client's: status, headers minus [`NOT_RETURNED`], and the
/// body streamed through untouched.
fn pass_through(resp: Response<Incoming>) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    for name in NOT_RETURNED {
        parts.headers.remove(*name);
    }
    parts.version = Version::HTTP_11;
    Response::from_parts(parts, body.map_err(|e| Box::new(e) as BoxError).boxed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_do_not_double_v1() {
        assert_eq!(
            upstream_url("https://api.openai.com", "/v1/chat/completions"),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            upstream_url("https://api.openai.com/v1/", "/v1/chat/completions"),
            "https://api.openai.com/v1/chat/completions"
        );
        assert_eq!(
            upstream_url("http://127.0.0.1:9/proxy", "/v1/completions"),
            "http://127.0.0.1:9/proxy/v1/completions"
        );
    }
}
