//! Providers: where an allowed request goes. `openai` and `anthropic` proxy over HTTP(S) to
//! the target's `base_url`; `mock` answers locally in the OpenAI format.
//!
//! Owns the upstream wire: URLs, credentials (read from the environment at send time, never
//! logged), the Anthropic <-> OpenAI translation, timeouts (-> 504) and connection failures
//! (-> 502). It never buffers a stream: an upstream's server-sent events are passed frame by
//! frame. It does not decide anything about policy; the data plane hands it the final body.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use policy::config::{ProviderKind, Target};
use serde_json::{json, Value};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;

/// Errors a response body may carry.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Every response body the gateway sends: full, streamed from upstream, or generated.
pub type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;
/// The shared HTTP/1.1 client (plain and TLS), pooled per upstream.
pub type Client = hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Idle upstream connections are kept this long: below the 120 s most LLM APIs' load
/// balancers use, so the pool never reuses a connection the far end is closing.
const POOL_IDLE: Duration = Duration::from_secs(90);
/// Connect timeout, separate from the target's whole-request `timeout_ms`: a black-holed
/// address fails in seconds rather than holding a request for the full timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest non-streamed Anthropic response the translation reads (replies are kilobytes).
const MAX_TRANSLATED_BYTES: usize = 64 << 20;

/// Build the client.
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

/// A body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// A streamed body fed through a channel (mock streams, translated streams).
struct ChannelBody {
    rx: mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

fn channel() -> (mpsc::Sender<Bytes>, Body) {
    let (tx, rx) = mpsc::channel(16);
    (tx, BodyExt::boxed(ChannelBody { rx }))
}

/// Why the upstream gave no response.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// No response head within the target's `timeout_ms` (504).
    #[error("upstream {target} did not answer within {ms} ms")]
    Timeout {
        /// Target id.
        target: String,
        /// The timeout.
        ms: u64,
    },
    /// Refused, reset, unreachable, TLS failure (502).
    #[error("upstream {target} failed: {reason}")]
    Failed {
        /// Target id.
        target: String,
        /// What went wrong.
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
        ProviderKind::Mock => Ok(mock(&out).await),
        ProviderKind::Openai => openai(client, &out).await,
        ProviderKind::Anthropic => anthropic(client, &out).await,
    }
}

/// Client headers never sent upstream: hop-by-hop headers, and credentials (the client's
/// credentials are for the gateway; the upstream gets the target's key).
const NOT_FORWARDED: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "authorization",
    "x-api-key",
    "api-key",
    "cookie",
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
pub fn upstream_url(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    match path.strip_prefix("/v1") {
        Some(rest) if base.ends_with("/v1") => format!("{base}{rest}"),
        _ => format!("{base}{path}"),
    }
}

fn secret(target: &Target) -> Option<String> {
    let name = &target.secret_key_ref.as_ref()?.env;
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

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
        if NOT_FORWARDED.contains(&n) || (!keep_encoding && n == "accept-encoding") {
            continue;
        }
        h.append(name.clone(), value.clone());
    }
    h.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Ok(v) = HeaderValue::from_str(out.request_id) {
        h.insert(HeaderName::from_static("x-request-id"), v);
    }
    for (name, value) in extra {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
    req
}

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

fn pass_through(resp: Response<Incoming>) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    for name in NOT_RETURNED {
        parts.headers.remove(*name);
    }
    parts.version = Version::HTTP_11;
    Response::from_parts(parts, body.map_err(|e| Box::new(e) as BoxError).boxed())
}

async fn openai(client: &Client, out: &Outbound<'_>) -> Result<Response<Body>, UpstreamError> {
    let base = out.target.base_url.as_deref().unwrap_or_default();
    let url = upstream_url(base, out.path);
    let extra: Vec<(&'static str, String)> = secret(out.target)
        .map(|k| vec![("authorization", format!("Bearer {k}"))])
        .unwrap_or_default();
    let body = serde_json::to_vec(&out.body).expect("a JSON value serialises");
    let req = build(out, &url, body, &extra, true);
    Ok(pass_through(exchange(client, out.target, req).await?))
}

/// The Anthropic API version the translation is written against.
const ANTHROPIC_VERSION: &str = "2023-06-01";
/// `max_tokens` is required by the Messages API and optional in OpenAI's.
const DEFAULT_MAX_TOKENS: u64 = 4096;

/// An OpenAI chat completion request as an Anthropic Messages request.
pub fn to_anthropic(body: &Value) -> Value {
    let text_of = |content: &Value| match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    let mut system = Vec::new();
    let mut messages = Vec::new();
    for m in body.get("messages").and_then(Value::as_array).into_iter().flatten() {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("user");
        let text = text_of(m.get("content").unwrap_or(&Value::Null));
        match role {
            "system" | "developer" => system.push(text),
            "assistant" => messages.push(json!({"role": "assistant", "content": text})),
            _ => messages.push(json!({"role": "user", "content": text})),
        }
    }
    let mut out = json!({
        "model": body.get("model").cloned().unwrap_or(Value::Null),
        "messages": messages,
        "max_tokens": body.get("max_completion_tokens").or_else(|| body.get("max_tokens"))
            .and_then(Value::as_u64).unwrap_or(DEFAULT_MAX_TOKENS),
    });
    let m = out.as_object_mut().expect("built as an object");
    if !system.is_empty() {
        m.insert("system".into(), Value::String(system.join("\n\n")));
    }
    for key in ["temperature", "top_p", "stream"] {
        if let Some(v) = body.get(key) {
            m.insert(key.into(), v.clone());
        }
    }
    match body.get("stop") {
        Some(Value::String(s)) => {
            m.insert("stop_sequences".into(), json!([s]));
        }
        Some(Value::Array(a)) => {
            m.insert("stop_sequences".into(), Value::Array(a.clone()));
        }
        _ => {}
    }
    out
}

fn finish_reason(stop: Option<&str>) -> &'static str {
    match stop {
        Some("max_tokens") => "length",
        Some("tool_use") => "tool_calls",
        _ => "stop",
    }
}

/// An Anthropic Messages response as an OpenAI chat completion.
pub fn from_anthropic(resp: &Value, created: i64) -> Value {
    let text: String = resp
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect();
    let usage = resp.get("usage");
    let n = |k: &str| usage.and_then(|u| u.get(k)).and_then(Value::as_u64).unwrap_or(0);
    json!({
        "id": resp.get("id").cloned().unwrap_or(Value::Null),
        "object": "chat.completion",
        "created": created,
        "model": resp.get("model").cloned().unwrap_or(Value::Null),
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "finish_reason": finish_reason(resp.get("stop_reason").and_then(Value::as_str)),
        }],
        "usage": {"prompt_tokens": n("input_tokens"), "completion_tokens": n("output_tokens"),
                  "total_tokens": n("input_tokens") + n("output_tokens")},
    })
}

/// Turns Anthropic's server-sent events into OpenAI `chat.completion.chunk` events, one
/// upstream event at a time.
#[derive(Default)]
pub struct StreamTranslator {
    /// Bytes of an event not complete yet (a frame may end inside a UTF-8 character).
    pending: Vec<u8>,
    id: String,
    model: String,
    created: i64,
}

impl StreamTranslator {
    /// A translator stamping chunks with `created`.
    pub fn new(created: i64) -> StreamTranslator {
        StreamTranslator {
            created,
            ..StreamTranslator::default()
        }
    }

    /// Feed upstream bytes; returns the OpenAI SSE bytes they complete.
    pub fn feed(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        while let Some(end) = self.pending.windows(2).position(|w| w == b"\n\n") {
            let raw: Vec<u8> = self.pending.drain(..end + 2).collect();
            let event = String::from_utf8_lossy(&raw);
            for line in event.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    if let Ok(v) = serde_json::from_str::<Value>(data.trim()) {
                        out.push_str(&self.translate(&v));
                    }
                }
            }
        }
        out
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> String {
        let c = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        format!("data: {c}\n\n")
    }

    fn translate(&mut self, v: &Value) -> String {
        match v.get("type").and_then(Value::as_str) {
            Some("message_start") => {
                let msg = v.get("message");
                let s = |k: &str| {
                    msg.and_then(|m| m.get(k))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                self.id = s("id");
                self.model = s("model");
                self.chunk(json!({"role": "assistant", "content": ""}), None)
            }
            Some("content_block_delta") => match v.pointer("/delta/text").and_then(Value::as_str) {
                Some(text) => self.chunk(json!({"content": text}), None),
                None => String::new(),
            },
            Some("message_delta") => {
                let stop = v.pointer("/delta/stop_reason").and_then(Value::as_str);
                self.chunk(json!({}), Some(finish_reason(stop)))
            }
            Some("message_stop") => "data: [DONE]\n\n".to_string(),
            Some("error") => format!("data: {}\n\n", json!({"error": v.get("error")})),
            _ => String::new(),
        }
    }
}

async fn anthropic(client: &Client, out: &Outbound<'_>) -> Result<Response<Body>, UpstreamError> {
    if out.path != "/v1/chat/completions" {
        return Err(UpstreamError::Unsupported(format!(
            "target {} is an anthropic target: only /v1/chat/completions can be translated to its Messages API",
            out.target.id
        )));
    }
    let base = out.target.base_url.as_deref().unwrap_or_default();
    let url = upstream_url(base, "/v1/messages");
    let mut extra = vec![("anthropic-version", ANTHROPIC_VERSION.to_string())];
    if let Some(k) = secret(out.target) {
        extra.push(("x-api-key", k));
    }
    let body = serde_json::to_vec(&to_anthropic(&out.body)).expect("a JSON value serialises");
    let req = build(out, &url, body, &extra, false);
    let resp = exchange(client, out.target, req).await?;
    let created = crate::journal::now_ms() / 1000;
    if !resp.status().is_success() {
        return Ok(pass_through(resp));
    }
    let stream = out.body.get("stream").and_then(Value::as_bool) == Some(true);
    let (mut parts, mut incoming) = resp.into_parts();
    for name in NOT_RETURNED.iter().chain(&["content-length", "content-type"]) {
        parts.headers.remove(*name);
    }
    if stream {
        parts.headers.insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        let (tx, body) = channel();
        tokio::spawn(async move {
            let mut tr = StreamTranslator::new(created);
            while let Some(Ok(frame)) = incoming.frame().await {
                if let Some(data) = frame.data_ref() {
                    let text = tr.feed(data);
                    if !text.is_empty() && tx.send(Bytes::from(text)).await.is_err() {
                        return; // the client went away
                    }
                }
            }
        });
        return Ok(Response::from_parts(parts, body));
    }
    let bytes = http_body_util::Limited::new(incoming, MAX_TRANSLATED_BYTES)
        .collect()
        .await
        .map_err(|e| UpstreamError::Failed {
            target: out.target.id.clone(),
            reason: format!("reading the response: {e}"),
        })?
        .to_bytes();
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| UpstreamError::Failed {
        target: out.target.id.clone(),
        reason: format!("the response is not JSON: {e}"),
    })?;
    parts.headers.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(Response::from_parts(
        parts,
        full(from_anthropic(&value, created).to_string()),
    ))
}

/// The mock provider: waits `latency_ms`, then answers in the OpenAI format of `out.path`,
/// streamed word by word when the request asks for `stream: true`.
async fn mock(out: &Outbound<'_>) -> Response<Body> {
    let settings = out.target.mock.clone().unwrap_or_default();
    if settings.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(settings.latency_ms)).await;
    }
    let created = crate::journal::now_ms() / 1000;
    let model = out
        .body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("mock")
        .to_string();
    let chat = out.path == "/v1/chat/completions";
    let id = format!("{}-{}", if chat { "chatcmpl" } else { "cmpl" }, out.request_id);
    let prompt_tokens = policy::engine::extract_texts(&out.body)
        .iter()
        .map(|(_, t)| t.split_whitespace().count())
        .sum::<usize>();
    let reply = settings.reply;
    let completion_tokens = reply.split_whitespace().count();
    let usage = json!({"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                       "total_tokens": prompt_tokens + completion_tokens});
    if out.body.get("stream").and_then(Value::as_bool) != Some(true) {
        let body = if chat {
            json!({"id": id, "object": "chat.completion", "created": created, "model": model,
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                                "logprobs": null, "finish_reason": "stop"}],
                   "usage": usage})
        } else {
            json!({"id": id, "object": "text_completion", "created": created, "model": model,
                   "choices": [{"index": 0, "text": reply, "logprobs": null, "finish_reason": "stop"}],
                   "usage": usage})
        };
        return Response::builder()
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(full(body.to_string()))
            .expect("static parts are valid");
    }
    let (tx, body) = channel();
    tokio::spawn(async move {
        let chunk = |delta: Value, finish: Value| {
            let c = if chat {
                json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                       "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]})
            } else {
                let text = delta.get("content").cloned().unwrap_or(json!(""));
                json!({"id": id, "object": "text_completion", "created": created, "model": model,
                       "choices": [{"index": 0, "text": text, "logprobs": null, "finish_reason": finish}]})
            };
            Bytes::from(format!("data: {c}\n\n"))
        };
        let mut events = Vec::new();
        if chat {
            events.push(chunk(json!({"role": "assistant", "content": ""}), Value::Null));
        }
        let words: Vec<&str> = reply.split_inclusive(' ').collect();
        for w in words {
            events.push(chunk(json!({"content": w}), Value::Null));
        }
        events.push(chunk(json!({}), json!("stop")));
        events.push(Bytes::from_static(b"data: [DONE]\n\n"));
        for e in events {
            if tx.send(e).await.is_err() {
                return;
            }
        }
    });
    Response::builder()
        .header(hyper::header::CONTENT_TYPE, "text/event-stream")
        .header(hyper::header::CACHE_CONTROL, "no-cache")
        .body(body)
        .expect("static parts are valid")
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

    #[test]
    fn anthropic_request_and_response() {
        let req = json!({"model": "claude-x", "stop": "END", "temperature": 0.2, "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]}]});
        let a = to_anthropic(&req);
        assert_eq!(a["system"], "be brief");
        assert_eq!(a["messages"], json!([{"role": "user", "content": "hi"}]));
        assert_eq!(a["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(a["stop_sequences"], json!(["END"]));
        let resp = json!({"id": "msg_1", "model": "claude-x", "stop_reason": "max_tokens",
            "content": [{"type": "text", "text": "Hello"}], "usage": {"input_tokens": 3, "output_tokens": 1}});
        let o = from_anthropic(&resp, 7);
        assert_eq!(o["choices"][0]["message"]["content"], "Hello");
        assert_eq!(o["choices"][0]["finish_reason"], "length");
        assert_eq!(o["usage"]["total_tokens"], 4);
    }

    #[test]
    fn anthropic_stream_split_anywhere() {
        let upstream = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\"}}\n\n\
            event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n\
            event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"}}\n\n\
            event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        for split in [1, 7, 50, upstream.len()] {
            let mut t = StreamTranslator::new(1);
            let mut out = String::new();
            for part in upstream.as_bytes().chunks(split) {
                out.push_str(&t.feed(part));
            }
            let events: Vec<&str> = out.split("\n\n").filter(|e| !e.is_empty()).collect();
            assert_eq!(events.len(), 4, "{out}");
            assert!(events[1].contains("\"content\":\"Hi\""));
            assert!(events[2].contains("\"finish_reason\":\"stop\""));
            assert_eq!(events[3], "data: [DONE]");
        }
    }
}
