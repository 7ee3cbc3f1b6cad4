//! The upstream HTTP/1.1 client of the calling thread: connections (plain or TLS) kept open
//! between requests and taken again by the next request to the same scheme and authority.
//!
//! Each data thread has its own pool (a thread-local), so a connection is driven by the thread
//! whose requests use it, and taking or returning one is a plain list operation: no lock, no
//! channel and no task per request. (hyper-util's pooled client, which this replaced, spawned a
//! task per request to wait for the connection to be free again; docs/design/performance.md.)
//!
//! Owns connecting (`TCP_NODELAY`, a connect timeout, TLS with the webpki roots), the request
//! line and `Host` of what goes out, the idle list and its limits, and the retry of a request
//! that an idle connection closed before it was written. What is sent, and how long to wait for
//! the answer, is `wire.rs`'s.

use crate::http::BoxError;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, HOST};
use hyper::http::uri::{Authority, PathAndQuery, Scheme};
use hyper::{Request, Response, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use std::cell::RefCell;
use std::time::{Duration, Instant};
use tower_service::Service;

/// A connection idle this long is not used again: below the 120 s most LLM APIs' load
/// balancers keep an idle connection, so a request never meets one the far end is closing.
/// It is let go the next time the thread looks for a connection to that upstream; until then
/// it stays open, or closes when the far end closes it.
const IDLE: Duration = Duration::from_secs(90);
/// Connect timeout, separate from the target's whole-request `timeout_ms`: a black-holed
/// address fails in seconds rather than holding a request for the full timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most connections a thread keeps per upstream. A burst past it is served on connections
/// that close when their request ends, so a spike leaves no lasting crowd of sockets.
const KEPT: usize = 512;

/// A connection of the pool, and when a request last went out on it.
struct Kept {
    sender: SendRequest<Full<Bytes>>,
    used: Instant,
}

/// One upstream (requests to the same scheme and authority share connections): its `Host`
/// value and kept connections.
struct Upstream {
    scheme: Scheme,
    authority: Authority,
    host: HeaderValue,
    kept: Vec<Kept>,
}

/// One thread's connector and connections, by upstream: a config has a handful of targets, so
/// a list searched in order beats hashing the authority on every request.
struct Pool {
    connector: HttpsConnector<HttpConnector>,
    upstreams: RefCell<Vec<Upstream>>,
}

thread_local! {
    static POOL: Pool = Pool::new();
}

impl Pool {
    fn new() -> Pool {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Pool {
            connector,
            upstreams: RefCell::new(Vec::new()),
        }
    }

    /// `uri`'s upstream: its index in the list (added if new) and its `Host` value.
    fn upstream(&self, uri: &Uri) -> Result<(usize, HeaderValue), BoxError> {
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return Err(format!("{uri} is not an absolute http(s) URL").into());
        };
        let mut upstreams = self.upstreams.borrow_mut();
        let at = upstreams
            .iter()
            .position(|u| u.authority == *authority && u.scheme == *scheme);
        let i = match at {
            Some(i) => i,
            None => {
                upstreams.push(Upstream {
                    scheme: scheme.clone(),
                    authority: authority.clone(),
                    host: host(uri)?,
                    kept: Vec::new(),
                });
                upstreams.len() - 1
            }
        };
        Ok((i, upstreams[i].host.clone()))
    }

    /// A connection to upstream `i` free for a request, if one is kept. Connections that
    /// closed, or sat idle past [`IDLE`], are let go on the way.
    fn take(&self, i: usize) -> Option<SendRequest<Full<Bytes>>> {
        let mut upstreams = self.upstreams.borrow_mut();
        let list = &mut upstreams[i].kept;
        // Newest first: the connection most recently used is the least likely to be closing.
        let mut at = list.len();
        while at > 0 {
            at -= 1;
            let k = &list[at];
            if k.sender.is_closed() {
                list.swap_remove(at);
            } else if k.sender.is_ready() {
                let k = list.swap_remove(at);
                if k.used.elapsed() < IDLE {
                    return Some(k.sender);
                }
            }
        }
        None
    }

    /// Keep `sender` for the next request to upstream `i`; it is free again once the response
    /// it carries has been read to the end.
    fn keep(&self, i: usize, sender: SendRequest<Full<Bytes>>) {
        let mut upstreams = self.upstreams.borrow_mut();
        let list = &mut upstreams[i].kept;
        if list.len() < KEPT {
            list.push(Kept {
                sender,
                used: Instant::now(),
            });
        }
    }
}

/// Send `req` (an absolute `http://` or `https://` URI) on one of this thread's connections to
/// its host, or a new one, and wait for the response head. The response body streams from the
/// connection; the connection serves the next request once that body has been read.
pub async fn request(mut req: Request<Full<Bytes>>) -> Result<Response<Incoming>, BoxError> {
    let uri = req.uri().clone();
    let (i, host) = POOL.with(|p| p.upstream(&uri))?;
    // On the wire: the path in the request line, the authority in `Host`.
    req.headers_mut().entry(HOST).or_insert(host);
    *req.uri_mut() = Uri::from(
        uri.path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/")),
    );
    loop {
        let (mut sender, fresh) = match POOL.with(|p| p.take(i)) {
            Some(sender) => (sender, false),
            // Boxed: connecting (TLS included) is a large future, and rare.
            None => (Box::pin(connect(&uri)).await?, true),
        };
        let sent = sender.try_send_request(req);
        POOL.with(|p| p.keep(i, sender));
        match sent.await {
            Ok(resp) => return Ok(resp),
            // A kept connection the far end closed before the request was written: the
            // request goes again, on the next kept connection or a new one. A new connection
            // that fails is an answer.
            Err(mut e) => match e.take_message() {
                Some(back) if !fresh => req = back,
                _ => return Err(e.into_error().into()),
            },
        }
    }
}

/// A new connection to `uri`'s host, its task started on this thread, ready for a request.
async fn connect(uri: &Uri) -> Result<SendRequest<Full<Bytes>>, BoxError> {
    let mut connector = POOL.with(|p| p.connector.clone());
    std::future::poll_fn(|cx| connector.poll_ready(cx)).await?;
    let io = connector.call(uri.clone()).await?;
    let (mut sender, conn) = http1::handshake(io).await?;
    tokio::spawn(async move {
        // Ends when the far end closes or every sender is dropped; an error here has
        // already reached the request it belongs to.
        let _ = conn.await;
    });
    sender.ready().await?;
    Ok(sender)
}

/// The `Host` of `uri`: its host, and its port when not the scheme's default.
fn host(uri: &Uri) -> Result<HeaderValue, BoxError> {
    let host = uri.host().unwrap_or_default();
    let default = match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    };
    let value = match uri.port_u16() {
        Some(port) if port != default => format!("{host}:{port}"),
        _ => host.to_string(),
    };
    Ok(HeaderValue::from_str(&value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_the_port_only_when_it_is_not_the_default() {
        let h = |u: &str| host(&u.parse().unwrap()).unwrap();
        assert_eq!(h("http://127.0.0.1:8080/v1/x"), "127.0.0.1:8080");
        assert_eq!(h("http://api.example.com:80/v1"), "api.example.com");
        assert_eq!(h("https://api.example.com/v1"), "api.example.com");
        assert_eq!(h("https://api.example.com:8443/v1"), "api.example.com:8443");
        assert_eq!(h("http://[::1]:9000/"), "[::1]:9000");
    }
}
