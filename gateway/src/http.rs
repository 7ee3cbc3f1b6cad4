//! HTTP building blocks both planes and the providers share: the response body type, bodies
//! (whole or fed through a channel), JSON and OpenAI-shaped error responses, the 405 answer,
//! and reading a body under a size limit.
//!
//! Owns the shapes, not the decisions: which status a situation deserves, which limit applies
//! and what a message says are the caller's (`data.rs`, `admin.rs`, `upstream/`). Nothing here
//! reads the gateway's state.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Frame;
use hyper::header::HeaderValue;
use hyper::{Method, Response, StatusCode};
use serde_json::{json, Map, Value};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Errors a response body may carry.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Every response body the gateway sends: full, streamed from upstream, or generated.
pub type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// A body sent in one piece (errors, JSON answers, translated replies).
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).map_err(|never| match never {}).boxed()
}

/// A streamed body fed through a channel (mock streams, translated streams).
struct ChannelBody {
    rx: mpsc::Receiver<Result<Bytes, BoxError>>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

/// A body whose frames are what the sender sends; it ends when the sender is dropped, an
/// `Err` aborts it (the client sees a cut stream, not a complete one), and a failed send means
/// the client went away.
pub fn channel() -> (mpsc::Sender<Result<Bytes, BoxError>>, Body) {
    let (tx, rx) = mpsc::channel(16);
    (tx, BodyExt::boxed(ChannelBody { rx }))
}

/// Longest run of server-sent event bytes held back waiting for the event's end.
const MAX_PARTIAL_EVENT: usize = 64 * 1024;

/// Where the last complete server-sent event of `bytes` ends (after its blank line), or 0.
fn events_end(bytes: &[u8]) -> usize {
    bytes
        .windows(2)
        .rposition(|w| w == b"\n\n")
        .map(|i| i + 2)
        .max(bytes.windows(3).rposition(|w| w == b"\n\r\n").map(|i| i + 3))
        .unwrap_or(0)
}

/// `body`, a server-sent event stream, passed through event by event until `expired` turns
/// true; then what `closing` makes (only then) is sent and the body ends. For streams still open when a drain's time
/// is up: the client reads why the stream ended, after the last whole event (a half-sent event
/// is held back, never cut), instead of a connection closed mid-event. An upstream failure
/// still aborts the body, and a client that goes away ends the task and the upstream request.
/// `held` lives as long as the stream does (the in-flight count of the request).
pub fn until_expired(
    mut body: Body,
    mut expired: tokio::sync::watch::Receiver<bool>,
    closing: impl FnOnce() -> Bytes + Send + 'static,
    held: impl Send + 'static,
) -> Body {
    let (tx, out) = channel();
    tokio::spawn(async move {
        let _held = held;
        let mut partial = bytes::BytesMut::new();
        loop {
            tokio::select! {
                frame = body.frame() => match frame {
                    Some(Ok(f)) => {
                        let Ok(data) = f.into_data() else { continue };
                        partial.extend_from_slice(&data);
                        let whole = if partial.len() > MAX_PARTIAL_EVENT { partial.len() } else { events_end(&partial) };
                        if whole > 0 && tx.send(Ok(partial.split_to(whole).freeze())).await.is_err() {
                            return;
                        }
                    }
                    Some(Err(e)) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                    None => {
                        if !partial.is_empty() {
                            let _ = tx.send(Ok(partial.freeze())).await;
                        }
                        return;
                    }
                },
                expired = async { expired.wait_for(|e| *e).await.is_ok() } => {
                    if expired {
                        let _ = tx.send(Ok(closing())).await;
                    }
                    return;
                }
                () = tx.closed() => return,
            }
        }
    });
    out
}

/// `body` as `application/json`, newline-terminated.
pub fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response<Body> {
    let mut text = serde_json::to_string(body).expect("admin and data bodies serialise");
    text.push('\n');
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(full(text))
        .expect("static parts are valid")
}

/// An OpenAI-style error: `{"error": {"message", "type", "code", "param", ...extra}}`.
pub fn error(status: StatusCode, kind: &str, code: &str, message: &str, extra: Map<String, Value>) -> Response<Body> {
    let mut e = json!({"message": message, "type": kind, "param": null, "code": code});
    if let Value::Object(m) = &mut e {
        m.extend(extra);
    }
    json_response(status, &json!({ "error": e }))
}

/// 405 with `allow`, for a known path asked with the wrong method (both planes).
pub fn method_not_allowed(method: &Method, path: &str, allow: &'static str) -> Response<Body> {
    let mut resp = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request_error",
        "method_not_allowed",
        &format!("{method} {path} is not allowed; use {allow}"),
        Map::new(),
    );
    resp.headers_mut()
        .insert(hyper::header::ALLOW, HeaderValue::from_static(allow));
    resp
}

/// Read a whole body, giving up once it passes `limit` bytes (the error is then an
/// [`http_body_util::LengthLimitError`]). Time limits are the caller's.
pub async fn read_limited<B>(body: B, limit: usize) -> Result<Bytes, BoxError>
where
    B: hyper::body::Body,
    B::Error: Into<BoxError>,
{
    Ok(http_body_util::Limited::new(body, limit).collect().await?.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::events_end;

    #[test]
    fn events_end_after_their_blank_line() {
        assert_eq!(events_end(b"data: a\n\ndata: b"), 9);
        assert_eq!(events_end(b"data: a\r\n\r\n"), 11);
        assert_eq!(events_end(b"data: a\n"), 0);
        assert_eq!(events_end(b"data: a\n\ndata: b\n\n"), 18);
    }
}
