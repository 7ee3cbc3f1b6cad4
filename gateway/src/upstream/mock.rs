//! The `mock` provider: answers locally, in the OpenAI format of the request's path
//! (`chat.completion` or `text_completion`), after the target's `mock.latency_ms`, streamed
//! word by word when the request asks for `stream: true`. For tests and demos that must not
//! reach a real API.
//!
//! Owns the mock's reply shapes only; it never opens a connection and never fails.

use super::outbound::Outbound;
use crate::http::{channel, full, Body};
use bytes::Bytes;
use hyper::Response;
use serde_json::{json, Value};
use std::time::Duration;

/// The mock provider: waits `latency_ms`, then answers in the OpenAI format of `out.path`,
/// streamed word by word when the request asks for `stream: true`.
pub(super) async fn respond(out: &Outbound<'_>) -> Response<Body> {
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
    let prompt_tokens = policy_engine::extract_texts(&out.body)
        .unwrap_or_default()
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
            if tx.send(Ok(e)).await.is_err() {
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
