//! The HTTP exchange every real provider (`openai`, `anthropic`) shares: the outbound request (URL joining, forwarded and dropped headers,
//! credentials read from the environment at send time and never logged), the wait for the
//! response head within the target's timeout (-> 504) or its connection failure (-> 502), and
//! the response passed back with hop-by-hop headers removed.
//!
//! Its responsibility stops at bytes: it never looks inside a body, never buffers a stream
//! (an upstream's server-sent events go through frame by frame) and does not know which
//! provider it serves; what each provider adds (credential header, translation) is its own file.

use super::h1::Outgoing;
use super::outbound::{Outbound, UpstreamError};
use super::pool::Incoming;
use crate::http::{Body, BoxError};
use http_body_util::BodyExt;
use hyper::{Response, Uri, Version};
use policy_config::Target;
use policy_contract::headers;
use std::time::Duration;

/// Client headers never sent upstream besides the credentials
/// (`policy_contract::CREDENTIAL_HEADERS`: the client's credentials are for the gateway; the
/// upstream gets the target's key): hop-by-hop headers, which the client (`pool.rs`, `h1.rs`)
/// sets itself.
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
pub(super) const NOT_RETURNED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Most (base URL, path) pairs a thread keeps parsed; past it the list starts over.
const PARSED_URIS: usize = 64;

thread_local! {
    /// This thread's parsed upstream URIs, by base URL and path: a target's URI is parsed on
    /// its first request, not on every one. Its entries share their bytes with the URIs handed
    /// out, and only this thread counts them.
    static URIS: std::cell::RefCell<Vec<(String, String, Uri)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// [`upstream_url`] of `base` and `path`, parsed.
pub(super) fn upstream_uri(base: &str, path: &str) -> Uri {
    URIS.with_borrow_mut(|uris| {
        if let Some((_, _, uri)) = uris.iter().find(|(b, p, _)| b == base && p == path) {
            return uri.clone();
        }
        let uri: Uri = upstream_url(base, path)
            .parse()
            .expect("a target's base_url is an absolute URL (validated by lint)");
        if uris.len() == PARSED_URIS {
            uris.clear();
        }
        uris.push((base.to_string(), path.to_string(), uri.clone()));
        uri
    })
}

/// `base_url` + `path`, without doubling a `/v1` the base already ends with.
fn upstream_url(base: &str, path: &str) -> String {
    let base = base.trim_end_matches('/');
    match path.strip_prefix("/v1") {
        Some(rest) if base.ends_with("/v1") => format!("{base}{rest}"),
        _ => format!("{base}{path}"),
    }
}

/// The target's API key, from the variable `secret_key_ref.env` names; `None` when unset or
/// empty. A config whose target names a key that is `None` here is refused where it is
/// loaded (`candidate`), so no request goes without its key.
pub fn secret(target: &Target) -> Option<String> {
    let name = &target.secret_key_ref.as_ref()?.env;
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The upstream POST: the client's headers minus credentials and [`NOT_FORWARDED`] (and `accept-encoding`
/// unless `keep_encoding`: a translated body must arrive uncompressed), then `content-type`,
/// `x-request-id` and the provider's `extra` headers, each of which replaces the client's of
/// that name; written straight into the request's bytes (`h1.rs`).
pub(super) fn build(
    out: &Outbound<'_>,
    uri: Uri,
    body: &[u8],
    extra: &[(&'static str, String)],
    keep_encoding: bool,
) -> Outgoing {
    let mut req = Outgoing::post(uri, body.len());
    let ours = |n: &str| n == "content-type" || n == headers::REQUEST_ID || extra.iter().any(|(e, _)| *e == n);
    for (name, value) in out.headers {
        let n = name.as_str();
        if NOT_FORWARDED.contains(&n)
            || headers::is_credential(n)
            || (!keep_encoding && n == "accept-encoding")
            || ours(n)
        {
            continue;
        }
        req.header(n, value.as_bytes());
    }
    req.header("content-type", b"application/json");
    // Only what a header value may hold goes out: no line break smuggles a header in.
    // What `HeaderValue::from_str` accepts (visible ASCII, space and tab), checked in place.
    let valid = |v: &str| v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
    if valid(out.request_id) {
        req.header(headers::REQUEST_ID, out.request_id.as_bytes());
    }
    for (name, value) in extra {
        if valid(value) {
            req.header(name, value.as_bytes());
        }
    }
    req.finish(body)
}

/// Send `req` on this thread's connections (`pool.rs`) and wait for the response head within
/// the target's `timeout_ms`.
pub(super) async fn exchange(target: &Target, req: Outgoing) -> Result<Response<Incoming>, UpstreamError> {
    let failed = |reason: String| UpstreamError::Failed {
        target: target.id.clone(),
        reason,
    };
    match tokio::time::timeout(Duration::from_millis(target.timeout_ms), super::pool::request(req)).await {
        Err(_) => Err(UpstreamError::Timeout {
            target: target.id.clone(),
            ms: target.timeout_ms,
        }),
        // The cause chain holds what an operator needs ("Connection refused").
        Ok(Err(e)) => Err(failed(policy_contract::error_chain(&*e))),
        Ok(Ok(resp)) => Ok(resp),
    }
}

/// The upstream response as the client's: status, headers minus [`NOT_RETURNED`], and the
/// body streamed through untouched.
pub(super) fn pass_through(resp: Response<Incoming>) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    // Looked for before removed: most responses have none, and a look costs no hashing.
    if parts.headers.keys().any(|k| NOT_RETURNED.contains(&k.as_str())) {
        for name in NOT_RETURNED {
            parts.headers.remove(*name);
        }
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
