//! Providers: where an allowed request goes. `openai` and `anthropic` proxy over HTTP(S) to
//! the target's `base_url`; `mock` answers locally in the OpenAI format.
//!
//! This module owns only the dispatch on `provider` ([`send`]) and re-exports what the rest
//! of the gateway names through it. What the providers share lives in leaf modules they and
//! this one import; each provider's wire format is its own file:
//!
//! ```text
//! outbound.rs   Outbound (the request ready to leave) and UpstreamError (-> 400/502/504)
//! wire.rs       the HTTP exchange every real provider shares: headers, timeouts, errors
//! pool.rs       each data thread's upstream connections, kept between requests
//! h1.rs         HTTP/1.1 on the wire: the request's bytes, the response head, body framing
//! openai.rs     pass-through to an OpenAI-compatible API
//! anthropic.rs  OpenAI <-> Messages API translation, including the streamed events
//! mock.rs       local answers for tests and demos
//! ```
//!
//! Nothing here buffers a stream: an upstream's server-sent events are passed frame by frame.
//! It does not decide anything about policy; the data plane hands it the final body.

mod anthropic;
pub(crate) mod h1;
mod mock;
mod openai;
mod outbound;
mod pool;
mod wire;

pub use outbound::{Outbound, UpstreamError};
pub use wire::secret;

use crate::http::Body;
use hyper::Response;
use policy_config::ProviderKind;
use serde_json::Value;

/// Send `out` to its target and return the response head with a streaming body.
pub async fn send(mut out: Outbound<'_>) -> Result<Response<Body>, UpstreamError> {
    if let Some(model) = &out.target.model {
        if let Some(m) = out.body.to_mut().as_object_mut() {
            m.insert("model".into(), Value::String(model.clone()));
        }
    }
    match out.target.provider {
        ProviderKind::Mock => Ok(mock::respond(&out).await),
        ProviderKind::Openai => openai::send(&out).await,
        ProviderKind::Anthropic => anthropic::send(&out).await,
    }
}
