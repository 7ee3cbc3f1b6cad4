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
    rx: mpsc::Receiver<Bytes>,
}

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.rx.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

/// A body whose frames are what the sender sends; it ends when the sender is dropped, and a
/// failed send means the client went away.
pub fn channel() -> (mpsc::Sender<Bytes>, Body) {
    let (tx, rx) = mpsc::channel(16);
    (tx, BodyExt::boxed(ChannelBody { rx }))
}

/// `body`, passed through frame by frame until `expired` turns true; then `closing` is sent
/// and the body ends. For server-sent event streams still open when a drain's time is up: the
/// client reads why the stream ended instead of a connection cut mid-event.
pub fn until_expired(mut body: Body, mut expired: tokio::sync::watch::Receiver<bool>, closing: Bytes) -> Body {
    let (tx, out) = channel();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                frame = body.frame() => match frame {
                    Some(Ok(f)) => {
                        if let Ok(data) = f.into_data() {
                            if tx.send(data).await.is_err() {
                                return;
                            }
                        }
                    }
                    // The upstream's own end or failure: the stream ends as it did before.
                    _ => return,
                },
                expired = async { expired.wait_for(|e| *e).await.is_ok() } => {
                    if expired {
                        let _ = tx.send(closing).await;
                    }
                    return;
                }
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
