//! The upstream HTTP/1.1 client of the calling thread: connections (plain or TLS) kept open
//! between requests and taken again by the next request to the same scheme and authority.
//!
//! Each data thread has its own pool (a thread-local), and a request is written and its answer
//! read by the task that serves the client: taking or returning a connection is a plain list
//! operation, and no lock, channel or other task stands between a request and its upstream.
//! (hyper's client, which this replaced, drove each connection from a task of its own and
//! handed every request and response across a channel: about a tenth of the gateway's CPU
//! per request on its bench; docs/design/performance.md.)
//!
//! Owns connecting (`TCP_NODELAY`, a connect timeout, TLS with the webpki roots), the idle
//! list and its limits, noticing that an idle connection was closed, the retry of a request
//! that a kept connection could not take, the answer an upstream sent before the request was
//! all written, and the response body that returns its connection once read to the end. The bytes on the wire are `h1.rs`'s; what is sent, and how long to
//! wait for the answer, is `wire.rs`'s.

use super::h1::{self, Decoder, Head, Outgoing};
use crate::http::BoxError;
use bytes::{Bytes, BytesMut};
use hyper::body::{Frame, SizeHint};
use hyper::http::uri::Scheme;
use hyper::{Response, Uri};
use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{self, pki_types::ServerName};

/// A connection idle this long is not used again: below the 120 s most LLM APIs' load
/// balancers keep an idle connection, so a request never meets one the far end is closing.
/// It is let go the next time the thread looks for a connection to that upstream.
const IDLE: Duration = Duration::from_secs(90);
/// Connect timeout (TCP and TLS), separate from the target's whole-request `timeout_ms`: a
/// black-holed address fails in seconds rather than holding a request for the full timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Most connections a thread keeps per upstream. A burst past it is served on connections
/// that close when their request ends, so a spike leaves no lasting crowd of sockets.
const KEPT: usize = 512;
/// How much a read asks for at a time.
const READ: usize = 8 * 1024;

/// A connection to an upstream.
enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }

    /// Whether an idle connection can take a request. An idle HTTP/1.1 connection with
    /// something to read was closed by the far end (or sent what nobody asked for), so it is
    /// not used. Costs no system call unless the socket was seen readable.
    fn open(&self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match self.tcp().poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            // Readiness is sticky until a read finds nothing: look once.
            Poll::Ready(Ok(())) => {
                matches!(self.tcp().try_read(&mut [0u8; 1]), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// A connection of the pool, its read buffer (kept with it, so a request reuses the memory
/// the last one read into), and when a request last went out on it.
struct Kept {
    stream: Stream,
    buf: BytesMut,
    used: Instant,
}

/// Where one upstream is, as connecting needs it.
#[derive(Clone)]
struct Address {
    tls: bool,
    /// Host (without IPv6 brackets) and port, for connecting.
    host: String,
    port: u16,
}

/// One upstream (requests to the same scheme and authority share connections): its address
/// and its kept connections.
struct Upstream {
    scheme: Scheme,
    authority: hyper::http::uri::Authority,
    address: Address,
    kept: Vec<Kept>,
}

thread_local! {
    /// This thread's upstreams: a config has a handful of targets, so a list searched in order
    /// beats hashing the authority on every request.
    static POOL: RefCell<Vec<Upstream>> = const { RefCell::new(Vec::new()) };
}

/// `uri`'s upstream in this thread's pool, added if new: its index.
fn upstream(uri: &Uri) -> Result<usize, BoxError> {
    let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
        return Err(format!("{uri} is not an absolute http(s) URL").into());
    };
    POOL.with_borrow_mut(|pool| {
        if let Some(i) = pool
            .iter()
            .position(|u| u.authority == *authority && u.scheme == *scheme)
        {
            return Ok(i);
        }
        let tls = match scheme.as_str() {
            "https" => true,
            "http" => false,
            other => return Err(format!("{uri}: the scheme {other} is not http or https").into()),
        };
        let port = authority.port_u16().unwrap_or(h1::default_port(uri));
        pool.push(Upstream {
            scheme: scheme.clone(),
            authority: authority.clone(),
            address: Address {
                tls,
                host: authority
                    .host()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
                port,
            },
            kept: Vec::new(),
        });
        Ok(pool.len() - 1)
    })
}

/// A connection to upstream `i` free for a request, and its read buffer, if one is kept.
/// Connections that closed, or sat idle past [`IDLE`], are let go on the way.
fn take(i: usize) -> Option<(Stream, BytesMut)> {
    POOL.with_borrow_mut(|pool| {
        let list = &mut pool[i].kept;
        // Newest first: the connection most recently used is the least likely to be closing.
        while let Some(k) = list.pop() {
            if k.used.elapsed() < IDLE && k.stream.open() {
                return Some((k.stream, k.buf));
            }
        }
        None
    })
}

/// Keep `stream` (and its emptied read buffer) for the next request to upstream `i`.
fn keep(i: usize, stream: Stream, buf: BytesMut) {
    POOL.with_borrow_mut(|pool| {
        let list = &mut pool[i].kept;
        if list.len() < KEPT {
            list.push(Kept {
                stream,
                buf,
                used: Instant::now(),
            });
        }
    });
}

/// Send `req` (an absolute `http://` or `https://` URI) on one of this thread's connections to
/// its host, or a new one, and wait for the response head. The response body streams from the
/// connection, which goes back to the pool once the body has been read to its end.
pub async fn request(req: Outgoing) -> Result<Response<Incoming>, BoxError> {
    let i = upstream(req.uri())?;
    let bytes = req.bytes();
    let (mut stream, mut buf) = loop {
        match take(i) {
            Some((mut kept, buf)) => {
                // A kept connection that cannot take the request (closed meanwhile): the next
                // one, or a new one, gets it. Nothing of it reached the upstream.
                if send(&mut kept, bytes).await.is_ok() {
                    break (kept, buf);
                }
            }
            None => {
                let address = POOL.with_borrow(|pool| pool[i].address.clone());
                // Boxed: connecting (TLS included) is a large future, and rare.
                let mut fresh = Box::pin(connect(&address)).await?;
                if let Err(e) = send(&mut fresh, bytes).await {
                    // An upstream may answer before it has read the whole body (a 413 for a
                    // body too large) and close: that answer, already received, is the
                    // response, and the connection is not used again. Without one, the
                    // write's error is what went wrong.
                    let mut buf = BytesMut::new();
                    return match read_head(&mut fresh, &mut buf).await {
                        Ok(head) => Ok(response(
                            Head {
                                reusable: false,
                                ..head
                            },
                            fresh,
                            buf,
                            i,
                        )),
                        Err(_) => Err(format!("writing the request: {e}").into()),
                    };
                }
                break (fresh, BytesMut::new());
            }
        }
    };
    let head = read_head(&mut stream, &mut buf).await?;
    Ok(response(head, stream, buf, i))
}

/// Read from `stream` into `buf` until a response head is complete.
async fn read_head(stream: &mut Stream, buf: &mut BytesMut) -> Result<Head, BoxError> {
    buf.reserve(READ);
    loop {
        if stream.read_buf(buf).await? == 0 {
            return Err("the upstream closed the connection before its response head".into());
        }
        if let Some(head) = h1::parse_head(buf)? {
            return Ok(head);
        }
    }
}

async fn send(stream: &mut Stream, bytes: &[u8]) -> io::Result<()> {
    stream.write_all(bytes).await?;
    stream.flush().await
}

/// The response of `head`, its body read from `buf` and then `stream`.
fn response(head: Head, stream: Stream, buf: BytesMut, upstream: usize) -> Response<Incoming> {
    let mut body = Incoming {
        stream: Some(stream),
        buf,
        decoder: Decoder::new(head.framing),
        reusable: head.reusable,
        upstream,
        thread: std::thread::current().id(),
    };
    // A response with no body (204, 304, `content-length: 0`) is complete already: nothing
    // will poll its body, so its connection goes back now.
    if body.decoder.done() {
        body.finish();
    }
    let mut resp = Response::new(body);
    *resp.status_mut() = head.status;
    *resp.version_mut() = head.version;
    *resp.headers_mut() = head.headers;
    resp
}

/// A response body as it arrives from the upstream. Read to its end, its connection goes back
/// to the pool (when the response allows); dropped before, the connection is closed. A
/// malformed body is an `InvalidData` error.
pub struct Incoming {
    /// `None` once the body has ended or failed.
    stream: Option<Stream>,
    buf: BytesMut,
    decoder: Decoder,
    reusable: bool,
    /// The upstream's place in the pool of `thread`, the thread that sent the request.
    upstream: usize,
    thread: std::thread::ThreadId,
}

impl Incoming {
    /// The body is complete: the connection goes back to the pool if nothing unasked-for
    /// followed the body, the upstream keeps it open, and this is the thread whose pool it
    /// came from (a body read to its end elsewhere closes its connection instead).
    fn finish(&mut self) {
        if let Some(stream) = self.stream.take() {
            if self.reusable && self.buf.is_empty() && std::thread::current().id() == self.thread {
                keep(self.upstream, stream, std::mem::take(&mut self.buf));
            }
        }
    }
}

impl hyper::body::Body for Incoming {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            if let Some(piece) = this.decoder.next_frame(&mut this.buf) {
                if matches!(piece, Some(Err(_))) {
                    this.stream = None;
                } else if this.decoder.done() {
                    this.finish();
                }
                return Poll::Ready(piece);
            }
            let Some(stream) = this.stream.as_mut() else {
                return Poll::Ready(None);
            };
            this.buf.reserve(READ);
            match pin!(stream.read_buf(&mut this.buf)).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    this.stream = None;
                    // Only a body delimited by the connection's end may end so.
                    if this.decoder.closed() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the upstream closed the connection before the end of the response body",
                    ))));
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => {
                    this.stream = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.decoder.done()
    }

    fn size_hint(&self) -> SizeHint {
        self.decoder.size_hint()
    }
}

/// The TLS settings of every upstream connection: the webpki roots, HTTP/1.1 by ALPN.
fn tls() -> Arc<rustls::ClientConfig> {
    static TLS: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    Arc::clone(TLS.get_or_init(|| {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let mut config =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }))
}

/// A new connection to `address`, TLS done when it is an `https` one.
async fn connect(address: &Address) -> Result<Stream, BoxError> {
    let within = |what: &'static str| {
        move |_| -> BoxError { format!("{what} did not finish within {} s", CONNECT_TIMEOUT.as_secs()).into() }
    };
    let target = format!("{}:{}", address.host, address.port);
    let tcp = tokio::time::timeout(
        CONNECT_TIMEOUT,
        TcpStream::connect((address.host.as_str(), address.port)),
    )
    .await
    .map_err(within("connecting"))?
    .map_err(|e| format!("cannot connect to {target}: {e}"))?;
    tcp.set_nodelay(true)?;
    if !address.tls {
        return Ok(Stream::Plain(tcp));
    }
    let name = ServerName::try_from(address.host.clone()).map_err(|e| format!("{}: {e}", address.host))?;
    let tls = tokio::time::timeout(
        CONNECT_TIMEOUT,
        tokio_rustls::TlsConnector::from(tls()).connect(name, tcp),
    )
    .await
    .map_err(within("the TLS handshake"))?
    .map_err(|e| format!("TLS with {target}: {e}"))?;
    Ok(Stream::Tls(Box::new(tls)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upstream_is_its_scheme_and_authority_and_connects_to_its_host_and_port() {
        let address = |u: &str| {
            let i = upstream(&u.parse().unwrap()).unwrap();
            POOL.with_borrow(|pool| {
                (
                    i,
                    pool[i].address.host.clone(),
                    pool[i].address.port,
                    pool[i].address.tls,
                )
            })
        };
        let (a, host, port, tls) = address("http://127.0.0.1:8080/v1/x");
        assert_eq!((host.as_str(), port, tls), ("127.0.0.1", 8080, false));
        assert_eq!(address("http://127.0.0.1:8080/other").0, a, "the same upstream");
        assert_ne!(
            address("https://127.0.0.1:8080/v1").0,
            a,
            "another scheme, another upstream"
        );
        let (_, host, port, tls) = address("https://api.example.com/v1");
        assert_eq!((host.as_str(), port, tls), ("api.example.com", 443, true));
        let (_, host, port, _) = address("http://[::1]:9000/");
        assert_eq!((host.as_str(), port), ("::1", 9000));
        assert!(upstream(&"/relative".parse().unwrap()).is_err());
        assert!(upstream(&"ftp://example.com/".parse().unwrap()).is_err());
    }

    /// Nothing polls the body of a 204, so its connection must go back when the head is read;
    /// one the upstream then closes is not taken again.
    #[tokio::test]
    async fn a_response_without_a_body_returns_its_connection_at_once() {
        use hyper::body::Body as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let i = upstream(&format!("http://{addr}/").parse().unwrap()).unwrap();
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut buf = BytesMut::from("HTTP/1.1 204 No Content\r\n\r\n");
        let head = h1::parse_head(&mut buf).unwrap().unwrap();
        let resp = response(head, Stream::Plain(tcp), buf, i);
        assert!(resp.body().is_end_stream());
        let (stream, buf) = take(i).expect("the connection was kept");
        keep(i, stream, buf);
        drop(server);
        // The close reaches the runtime as readiness; until it does, the connection looks open.
        let closed = async {
            loop {
                match take(i) {
                    None => return,
                    Some((stream, buf)) => keep(i, stream, buf),
                }
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(5), closed)
            .await
            .expect("a connection the upstream closed is let go");
    }
}
