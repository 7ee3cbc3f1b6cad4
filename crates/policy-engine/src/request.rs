//! What the engine is asked: one [`Request`], and the clock ([`Millis`]) it is decided at.
//!
//! Owns the engine's input types only. Building a `Request` is the caller's (the gateway from
//! HTTP, replay from recorded traffic); reading it is the stages'.

use serde_json::Value;
use std::collections::BTreeMap;

/// Milliseconds since the Unix epoch: the engine's clock.
pub type Millis = i64;

/// One request, as the engine sees it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    /// Request id (recorded, or assigned by the gateway).
    pub id: String,
    /// URL path, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Client address, for `rate-limit` keyed by `client_ip`.
    pub client_ip: Option<String>,
    /// Headers, names lowercased, for `rate-limit` keyed by `header:<name>`.
    pub headers: BTreeMap<String, String>,
    /// The JSON body as the client sent it: its `model` picks the route, its texts are what
    /// the policies read.
    pub body: Value,
}
