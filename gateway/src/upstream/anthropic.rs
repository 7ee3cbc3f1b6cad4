//! The `anthropic` provider: an OpenAI chat completion request translated to Anthropic's
//! Messages API (`POST {base_url}/v1/messages`, `x-api-key`, `anthropic-version`), and its
//! answer translated back to a `chat.completion`, or, when streamed, its server-sent events
//! to `chat.completion.chunk` events one upstream event at a time ([`StreamTranslator`]).
//!
//! Owns the translation both ways and nothing else: headers, timeouts and connection failures
//! are `upstream/wire.rs`'s. Only `/v1/chat/completions` is translated (400 otherwise); an
//! upstream error status is passed back untranslated, so the client sees Anthropic's message.

use super::outbound::{Outbound, UpstreamError};
use super::wire::{build, exchange, pass_through, secret, upstream_uri, NOT_RETURNED};
use crate::http::{channel, full, read_limited, Body};
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::header::HeaderValue;
use hyper::Response;
use serde_json::{json, Value};

/// The Anthropic API version the translation is written against.
const ANTHROPIC_VERSION: &str = "2023-06-01";
/// `max_tokens` is required by the Messages API and optional in OpenAI's.
const DEFAULT_MAX_TOKENS: u64 = 4096;
/// Largest non-streamed Anthropic response the translation reads (replies are kilobytes).
const MAX_TRANSLATED_BYTES: usize = 64 << 20;

/// An OpenAI chat completion request as an Anthropic Messages request.
fn to_anthropic(body: &Value) -> Value {
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

/// OpenAI's `finish_reason` for an Anthropic `stop_reason`.
fn finish_reason(stop: Option<&str>) -> &'static str {
    match stop {
        Some("max_tokens") => "length",
        Some("tool_use") => "tool_calls",
        _ => "stop",
    }
}

/// An Anthropic Messages response as an OpenAI chat completion.
fn from_anthropic(resp: &Value, created: i64) -> Value {
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
struct StreamTranslator {
    /// Bytes of an event not complete yet (a frame may end inside a UTF-8 character).
    pending: Vec<u8>,
    /// The message id from `message_start`, repeated on every chunk.
    id: String,
    /// The model from `message_start`, repeated on every chunk.
    model: String,
    /// The `created` stamp of every chunk, Unix seconds.
    created: i64,
}

impl StreamTranslator {
    /// A translator stamping chunks with `created`.
    fn new(created: i64) -> StreamTranslator {
        StreamTranslator {
            created,
            ..StreamTranslator::default()
        }
    }

    /// Feed upstream bytes; returns the OpenAI SSE bytes they complete.
    fn feed(&mut self, bytes: &[u8]) -> String {
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

    /// One `chat.completion.chunk` event.
    fn chunk(&self, delta: Value, finish: Option<&str>) -> String {
        let c = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        format!("data: {c}\n\n")
    }

    /// The OpenAI events for one Anthropic event (none for pings and block boundaries).
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

/// Send `out` to the Messages API and translate the answer.
pub(super) async fn send(out: &Outbound<'_>) -> Result<Response<Body>, UpstreamError> {
    if out.path != "/v1/chat/completions" {
        return Err(UpstreamError::Unsupported(format!(
            "target {} is an anthropic target: only /v1/chat/completions can be translated to its Messages API",
            out.target.id
        )));
    }
    let base = out.target.base_url.as_deref().unwrap_or_default();
    let uri = upstream_uri(base, "/v1/messages");
    let mut extra = vec![("anthropic-version", ANTHROPIC_VERSION.to_string())];
    if let Some(k) = secret(out.target) {
        extra.push(("x-api-key", k));
    }
    let body = serde_json::to_vec(&to_anthropic(&out.body)).expect("a JSON value serialises");
    let req = build(out, uri, &body, &extra, false);
    let resp = exchange(out.target, req).await?;
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
            while let Some(frame) = incoming.frame().await {
                let frame = match frame {
                    Ok(f) => f,
                    Err(e) => {
                        // The client sees a cut stream, not a complete one.
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                };
                if let Some(data) = frame.data_ref() {
                    let text = tr.feed(data);
                    if !text.is_empty() && tx.send(Ok(Bytes::from(text))).await.is_err() {
                        return; // the client went away
                    }
                }
            }
        });
        return Ok(Response::from_parts(parts, body));
    }
    let bytes = read_limited(incoming, MAX_TRANSLATED_BYTES)
        .await
        .map_err(|e| UpstreamError::Failed {
            target: out.target.id.clone(),
            reason: format!("reading the response: {e}"),
        })?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
