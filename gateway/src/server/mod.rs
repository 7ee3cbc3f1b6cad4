//! The gateway's HTTP/1.1 server, both planes': one connection's requests read, handed to the
//! plane's handler one at a time, and their responses written.
//!
//! A request head is parsed with `httparse` into an `http::Request` whose header values share
//! one copy of the head. Its body ([`Incoming`]) is read from the connection as the handler
//! polls it, framed by `content-length` or chunked (`upstream/h1.rs`'s decoder; the bytes
//! that arrived with the head are its first), with `100 Continue` sent first when the client
//! asked for it. A response goes out as one write of head and body when the body is whole
//! (`content-length`), or chunk by chunk, each written as it comes, when it streams. The
//! connection is kept for the next request unless the client, the response (`connection:
//! close`) or an unread body says otherwise.
//!
//! What hyper's server did, as the data plane needs it and no more: no upgrades, no HTTP/2.
//! A head that does not arrive within the plane's `request_timeout_ms` closes the connection;
//! a malformed head is answered `400` (`431` when too large) and closed. An idle connection
//! closes when its plane stops ([`Closing`]); a busy one finishes its response first.
//!
//! Owns the bytes and the connection's life, not what a request means (`data.rs`,
//! `admin.rs`) nor when the plane stops (`serve.rs`).

mod head;

use crate::http::{Body, BoxError};
use crate::upstream::h1::{chunked_last, declared_length, keeps_alive, lists, Decoder, Framing};
use bytes::{BufMut, Bytes, BytesMut};
use head::{parse_head, Head, Refused};
use http_body_util::BodyExt;
use hyper::body::{Body as _, Frame, SizeHint};
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, DATE, TRANSFER_ENCODING};
use hyper::{Method, Request, Response, StatusCode, Version};
use std::future::Future;
use std::io::{self, Write as _};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::watch;

/// How much a read asks for at a time.
const READ: usize = 8 * 1024;
/// A whole body larger than this is written in pieces rather than gathered into one write.
const GATHER: usize = 256 * 1024;
/// A connection's write buffer is let go after a response that grew it past this.
const KEPT_OUT: usize = 64 * 1024;
/// How long a connection closed before its request body was read goes on reading it.
const LINGER: Duration = Duration::from_secs(2);

/// The plane is stopping (`true`): idle connections close now, busy ones after their response.
pub type Closing = watch::Receiver<bool>;

/// A connection, shared by its loop and the body of the request it is serving.
struct Connection {
    stream: TcpStream,
    /// Whether the current request's body was read to its end with nothing past it: only
    /// then can the connection take another request.
    read_to_end: AtomicBool,
}

/// A request body as the client sends it, read from the connection as it is polled.
pub struct Incoming {
    conn: Arc<Connection>,
    buf: BytesMut,
    decoder: Decoder,
    /// How much of `100 Continue` is still to be written before the first read of the body
    /// (the client asked for it): sent only when the handler reads the body, so a request
    /// answered without it (a 413, a 401) never has its body sent.
    to_continue: usize,
}

/// The interim answer to `expect: 100-continue`.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

impl hyper::body::Body for Incoming {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            if let Some(piece) = this.decoder.next_frame(&mut this.buf) {
                if this.decoder.done() {
                    this.end();
                }
                return Poll::Ready(piece);
            }
            // A length-delimited body reads no further than its end: what follows is the next
            // request's, and stays on the connection.
            let want = this
                .decoder
                .remaining()
                .map_or(READ, |n| usize::try_from(n).unwrap_or(READ).min(READ));
            while this.to_continue > 0 {
                ready!(this.conn.stream.poll_write_ready(cx))?;
                match this
                    .conn
                    .stream
                    .try_write(&CONTINUE[CONTINUE.len() - this.to_continue..])
                {
                    Ok(n) => this.to_continue -= n.min(this.to_continue),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Poll::Ready(Some(Err(e))),
                }
            }
            this.buf.reserve(want);
            match ready!(poll_read(&this.conn.stream, cx, &mut this.buf, want)) {
                Ok(0) => {
                    return Poll::Ready(Some(Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the client closed the connection before the end of the request body",
                    ))))
                }
                Ok(_) => {}
                Err(e) => return Poll::Ready(Some(Err(e))),
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

impl Incoming {
    /// The body is complete. Bytes read past it (a chunked body's reads are not bounded)
    /// would be the next request's: the connection then closes after this response.
    fn end(&mut self) {
        self.conn.read_to_end.store(self.buf.is_empty(), Ordering::Relaxed);
    }
}

/// Read what is there into `buf`, at most `want` bytes; `Pending` until something is.
fn poll_read(stream: &TcpStream, cx: &mut Context<'_>, buf: &mut BytesMut, want: usize) -> Poll<io::Result<usize>> {
    loop {
        ready!(stream.poll_read_ready(cx))?;
        match stream.try_read_buf(&mut (&mut *buf).limit(want)) {
            Ok(read) => return Poll::Ready(Ok(read)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}

/// Ready once the client has closed its end of the connection, watched only after the
/// request's body has been read to its end (before that, the body's reads see the close).
/// Bytes of a next request waiting are not a close; they stay for the next head.
fn hung_up(conn: &Connection, cx: &mut Context<'_>) -> Poll<()> {
    if !conn.read_to_end.load(Ordering::Relaxed) {
        // Polled again whenever the handler makes progress, as the body's reads do.
        return Poll::Pending;
    }
    closed(&conn.stream, cx)
}

/// Ready once the client has closed its end of the connection (or it failed).
fn closed(stream: &TcpStream, cx: &mut Context<'_>) -> Poll<()> {
    let mut byte = [0u8; 1];
    match stream.poll_peek(cx, &mut tokio::io::ReadBuf::new(&mut byte)) {
        Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => Poll::Ready(()),
        Poll::Ready(Ok(_)) | Poll::Pending => Poll::Pending,
    }
}

/// Write all of `bytes`.
async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        stream.writable().await?;
        match stream.try_write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

thread_local! {
    /// This thread's `date` header and the second it is for: formatted once a second.
    static DATE_VALUE: std::cell::RefCell<(u64, HeaderValue)> =
        const { std::cell::RefCell::new((u64::MAX, HeaderValue::from_static(""))) };
}

/// The `date` header for now (RFC 9110 §6.6.1: every response from a server with a clock).
fn date() -> HeaderValue {
    let now = std::time::SystemTime::now();
    let second = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE_VALUE.with_borrow_mut(|(at, value)| {
        if *at != second {
            let text = httpdate::fmt_http_date(now);
            *value = HeaderValue::from_str(&text).expect("an HTTP date is a header value");
            *at = second;
        }
        value.clone()
    })
}

/// Serve the requests of one connection with `handler` until the client or the server closes
/// it, a head does not arrive within `head_timeout`, or `closing` turns true while it is idle.
pub async fn serve_connection<H, F>(stream: TcpStream, handler: H, mut closing: Closing, head_timeout: Duration)
where
    H: Fn(Request<Incoming>) -> F,
    F: Future<Output = Response<Body>>,
{
    let conn = Arc::new(Connection {
        stream,
        read_to_end: AtomicBool::new(false),
    });
    let stream = &conn.stream;
    let mut buf = BytesMut::with_capacity(READ);
    let mut out: Vec<u8> = Vec::with_capacity(1024);
    let deadline = tokio::time::sleep(head_timeout);
    tokio::pin!(deadline);
    loop {
        // A head, within `head_timeout` of starting to wait for it.
        let mut timing = false;
        let head = loop {
            if !buf.is_empty() {
                match parse_head(&mut buf) {
                    Ok(Some(head)) => break head,
                    Ok(None) => {}
                    Err(refused) => {
                        let (status, reason) = match refused {
                            Refused::Malformed => (400, "Bad Request"),
                            Refused::TooLarge => (431, "Request Header Fields Too Large"),
                        };
                        let answer =
                            format!("HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                        if write_all(stream, answer.as_bytes()).await.is_ok() {
                            // What the client still sends must not reset the answer away.
                            linger(stream).await;
                        }
                        return;
                    }
                }
            }
            if buf.is_empty() && *closing.borrow() {
                return;
            }
            if !timing {
                deadline.as_mut().reset(tokio::time::Instant::now() + head_timeout);
                timing = true;
            }
            buf.reserve(READ);
            let idle = buf.is_empty();
            let read = std::future::poll_fn(|cx| poll_read(stream, cx, &mut buf, READ));
            tokio::select! {
                biased;
                read = read => match read {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                },
                changed = closing.changed(), if idle => {
                    // The sender gone is the plane gone: close as for a stop.
                    if changed.is_err() || *closing.borrow() {
                        return;
                    }
                }
                () = &mut deadline => return,
            }
        };
        let Head {
            request,
            framing,
            keep_alive,
            expect_continue,
        } = head;
        let head_only = request.method() == Method::HEAD;
        let version = request.version();
        // The body's first bytes are those that came with the head; a length-delimited body
        // takes no more than its own, so a pipelined request stays on the connection.
        let first = match framing {
            Framing::Length(n) => buf.split_to(buf.len().min(usize::try_from(n).unwrap_or(usize::MAX))),
            _ => buf.split(),
        };
        let decoder = Decoder::new(framing);
        let body_done = decoder.done();
        conn.read_to_end.store(body_done, Ordering::Relaxed);
        let body = Incoming {
            conn: Arc::clone(&conn),
            to_continue: if expect_continue && !body_done && first.is_empty() {
                CONTINUE.len()
            } else {
                0
            },
            buf: first,
            decoder,
        };
        // A client that goes away before its answer (its end of the connection closed once
        // its body was read) ends the request: the handler is dropped, and with it the
        // upstream call, as hyper's server did. Not watched while a pipelined request waits:
        // a client may send its requests, close its sending side, and read the answers.
        let watch_hang_up = buf.is_empty();
        let handling = handler(request.map(|()| body));
        let hung_up = std::future::poll_fn(|cx| hung_up(&conn, cx));
        let response = tokio::select! {
            biased;
            response = handling => response,
            () = hung_up, if watch_hang_up => return,
        };
        // An unread body leaves the connection mid-request: it cannot take another.
        let unread = !conn.read_to_end.load(Ordering::Relaxed);
        let watch_hang_up = watch_hang_up && !unread;
        let says_close = lists(response.headers(), &CONNECTION, "close");
        let mut keep = keep_alive && !says_close && !unread;
        let written = write_response(stream, &mut out, response, version, head_only, watch_hang_up, &mut keep).await;
        if out.capacity() > KEPT_OUT {
            out = Vec::with_capacity(1024);
        }
        match written {
            Ok(()) if keep => {}
            Ok(()) if unread => return linger(stream).await,
            _ => return,
        }
    }
}

/// Close a connection whose client may still be sending the body it was answered before
/// reading (a `413`): the write side first, then what still arrives is read and dropped for a
/// while, so the client reads its answer rather than a reset (as nginx's lingering close).
async fn linger(stream: &TcpStream) {
    let _ = rustix::net::shutdown(stream, rustix::net::Shutdown::Write);
    let mut sink = BytesMut::with_capacity(READ);
    let drain = async {
        loop {
            sink.clear();
            match std::future::poll_fn(|cx| poll_read(stream, cx, &mut sink, READ)).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// Write `response`: its head, then its body whole (`content-length`) or chunk by chunk.
/// `keep` turns false when the body's end can only be told by closing the connection. A
/// body that yields other than the length its head announced ends the connection, its
/// framing never out of step. While a stream waits for its next piece, a client that goes
/// away (`watch_hang_up`) ends it.
#[allow(clippy::too_many_arguments)]
async fn write_response(
    stream: &TcpStream,
    out: &mut Vec<u8>,
    response: Response<Body>,
    version: Version,
    head_only: bool,
    watch_hang_up: bool,
    keep: &mut bool,
) -> Result<(), BoxError> {
    let (parts, mut body) = response.into_parts();
    let status = parts.status;
    let bodiless = status.is_informational() || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED;
    let exact = body.size_hint().exact();
    let unknown = exact.is_none() && !bodiless;
    let chunked = unknown && version == Version::HTTP_11;
    if unknown && !chunked {
        // An HTTP/1.0 client reads a body of unknown length to the connection's end.
        *keep = false;
    }
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    let mut has_date = false;
    for (name, value) in &parts.headers {
        // The framing is this server's to write.
        if name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == CONNECTION {
            continue;
        }
        has_date |= name == DATE;
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !has_date {
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(date().as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !*keep {
        out.extend_from_slice(b"connection: close\r\n");
    } else if version == Version::HTTP_10 {
        // HTTP/1.0 closes unless told otherwise.
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    if let Some(n) = exact.filter(|_| !bodiless) {
        out.extend_from_slice(b"content-length: ");
        out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if head_only || bodiless {
        write_all(stream, out).await?;
        return Ok(());
    }
    if let Some(mut left) = exact {
        // Gathered with the head into one write while it is small; else written as it comes.
        let short = || -> BoxError { "the response body did not match its content-length".into() };
        while let Some(frame) = body.frame().await {
            let Ok(data) = frame?.into_data() else { continue };
            let take = usize::try_from(left).unwrap_or(usize::MAX).min(data.len());
            left -= take as u64;
            if out.len() + take <= GATHER {
                out.extend_from_slice(&data[..take]);
            } else {
                write_all(stream, out).await?;
                out.clear();
                write_all(stream, &data[..take]).await?;
            }
            if take < data.len() {
                write_all(stream, out).await?;
                return Err(short());
            }
        }
        if !out.is_empty() {
            write_all(stream, out).await?;
        }
        return if left == 0 { Ok(()) } else { Err(short()) };
    }
    if !chunked {
        // HTTP/1.0 and a body of unknown length: its end is the connection's.
        write_all(stream, out).await?;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                write_all(stream, &data).await?;
            }
        }
        return Ok(());
    }
    // A stream: the head at once, then each piece as it comes, so an event is never held back.
    write_all(stream, out).await?;
    loop {
        let next = tokio::select! {
            biased;
            next = body.frame() => next,
            () = std::future::poll_fn(|cx| closed(stream, cx)), if watch_hang_up => {
                return Err("the client went away during the stream".into());
            }
        };
        let Some(frame) = next else { break };
        let Ok(data) = frame?.into_data() else { continue };
        if data.is_empty() {
            continue;
        }
        out.clear();
        let _ = write!(out, "{:x}\r\n", data.len());
        out.extend_from_slice(&data);
        out.extend_from_slice(b"\r\n");
        write_all(stream, out).await?;
    }
    write_all(stream, b"0\r\n\r\n").await?;
    Ok(())
}
