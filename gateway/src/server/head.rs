//! A request head as the server reads it: `httparse` into an `http::Request` whose path and
//! header values share one copy of the head, with what the head says of the body's framing
//! (RFC 9112 §6: chunked, a length, or none), of keeping the connection, and of
//! `100-continue`. Bytes in, no I/O.
//!
//! Owns the parsing only; reading the connection and answering a refused head are `mod.rs`'s.
//! A fuzz target (`request_head`) compiles this file in; see [`check`].

use super::{chunked_last, declared_length, keeps_alive, lists, Framing};
use bytes::{Buf, Bytes, BytesMut};
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING};
use hyper::{Method, Request, Uri, Version};

/// Largest request head accepted (request line and headers), as hyper's default.
pub const MAX_HEAD: usize = 64 * 1024;
/// Most headers a request may have.
const MAX_HEADERS: usize = 100;

/// A request head, parsed.
pub struct Head {
    /// Method, target, version and headers; the body is read after.
    pub request: Request<()>,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the connection may carry another request after this one.
    pub keep_alive: bool,
    /// `expect: 100-continue`: the client waits for a `100 Continue` before its body.
    pub expect_continue: bool,
}

/// Why a head was refused, and with which status.
pub enum Refused {
    /// Not HTTP/1.x, or a header the server must understand is invalid.
    Malformed,
    /// Larger than [`MAX_HEAD`], or more than [`MAX_HEADERS`] headers.
    TooLarge,
}

/// The request head at the front of `buf` (consumed); `None` while it is incomplete.
pub fn parse_head(buf: &mut BytesMut) -> Result<Option<Head>, Refused> {
    let mut slots = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    // Only the first MAX_HEAD bytes can hold a head: what is refused, and why, does not depend
    // on how many bytes arrived beyond them.
    let window = &buf[..buf.len().min(MAX_HEAD)];
    let len = match httparse::ParserConfig::default().parse_request_with_uninit_headers(&mut req, window, &mut slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Err(Refused::TooLarge),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(Refused::TooLarge),
        Err(_) => return Err(Refused::Malformed),
    };
    // One copy of the head, which the path and every header value share.
    let copy = Bytes::copy_from_slice(&buf[..len]);
    let base = buf.as_ptr() as usize;
    let shared = |part: &[u8]| match (part.as_ptr() as usize).checked_sub(base) {
        Some(at) if at + part.len() <= len => copy.slice(at..at + part.len()),
        _ => Bytes::copy_from_slice(part),
    };
    let method = Method::from_bytes(req.method.unwrap_or_default().as_bytes()).map_err(|_| Refused::Malformed)?;
    let uri =
        Uri::from_maybe_shared(shared(req.path.unwrap_or_default().as_bytes())).map_err(|_| Refused::Malformed)?;
    let version = if req.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let mut headers = HeaderMap::with_capacity(req.headers.len());
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| Refused::Malformed)?;
        let value = HeaderValue::from_maybe_shared(shared(h.value)).map_err(|_| Refused::Malformed)?;
        headers.append(name, value);
    }
    buf.advance(len);
    // RFC 9112 §6.3: chunked (last) wins over a length; any other transfer coding is refused,
    // and so is any transfer coding from an HTTP/1.0 client, which cannot send one (§6.1).
    let framing = match chunked_last(&headers) {
        Some(_) if version == Version::HTTP_10 => return Err(Refused::Malformed),
        Some(Ok(true)) => Framing::Chunked,
        Some(_) => return Err(Refused::Malformed),
        None => Framing::Length(declared_length(&headers).map_err(|()| Refused::Malformed)?.unwrap_or(0)),
    };
    // Both framings at once may be a smuggling attempt: answered, then closed (RFC 9112 §6.1).
    let both = headers.contains_key(TRANSFER_ENCODING) && headers.contains_key(CONTENT_LENGTH);
    let keep_alive = !both && keeps_alive(version, &headers);
    let expect_continue = version == Version::HTTP_11 && lists(&headers, &EXPECT, "100-continue");
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    Ok(Some(Head {
        request,
        framing,
        keep_alive,
        expect_continue,
    }))
}

/// What a fuzzer holds the parsing of a head to (`fuzz/fuzz_targets/request_head.rs`):
/// whatever bytes a client sends, parsing panics nowhere, and a head reads the same whether
/// its bytes arrive at once or one at a time (each arrival parsed anew, as the server does).
#[allow(dead_code)] // the fuzz target's and the tests'
pub fn check(data: &[u8]) {
    let whole = read(data, data.len().max(1));
    assert_eq!(
        whole,
        read(data, 1),
        "one byte at a time reads otherwise than all at once: {data:?}"
    );
}

/// The first head in `data` fed `step` bytes at a time: its parts as text, or why it was
/// refused, or `None` when it never completed; and how many bytes were left after it.
#[allow(dead_code)]
fn read(data: &[u8], step: usize) -> (Option<Result<String, &'static str>>, usize) {
    let mut buf = BytesMut::new();
    let mut fed = 0;
    for chunk in data.chunks(step) {
        buf.extend_from_slice(chunk);
        fed += chunk.len();
        match parse_head(&mut buf) {
            Ok(None) => continue,
            Ok(Some(h)) => {
                let parts = format!(
                    "{} {} {:?} {:?} {:?} keep={} continue={}",
                    h.request.method(),
                    h.request.uri(),
                    h.request.version(),
                    h.request.headers(),
                    h.framing,
                    h.keep_alive,
                    h.expect_continue
                );
                return (Some(Ok(parts)), buf.len() + data.len() - fed);
            }
            Err(Refused::Malformed) => return (Some(Err("malformed")), 0),
            Err(Refused::TooLarge) => return (Some(Err("too large")), 0),
        }
    }
    (None, buf.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fuzz_corpus_holds() {
        crate::upstream::h1::replay_corpus("request_head", check);
    }

    fn head(text: &str) -> Result<Option<Head>, Refused> {
        parse_head(&mut BytesMut::from(text))
    }

    #[test]
    fn heads_frame_their_bodies() {
        let h = head("POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 12\r\n\r\n")
            .ok()
            .flatten()
            .unwrap();
        assert_eq!(h.framing, Framing::Length(12));
        assert!(h.keep_alive && !h.expect_continue);
        assert_eq!(h.request.uri().path(), "/v1/chat/completions");
        let h = head(
            "POST / HTTP/1.1\r\ntransfer-encoding: gzip, chunked\r\ncontent-length: 3\r\nexpect: 100-continue\r\n\r\n",
        )
        .ok()
        .flatten()
        .unwrap();
        assert_eq!(h.framing, Framing::Chunked);
        assert!(h.expect_continue);
        let h = head("GET /health HTTP/1.0\r\n\r\n").ok().flatten().unwrap();
        assert!(!h.keep_alive);
        assert_eq!(h.framing, Framing::Length(0));
        let h = head("GET /health HTTP/1.0\r\nconnection: keep-alive\r\n\r\n")
            .ok()
            .flatten()
            .unwrap();
        assert!(h.keep_alive);
        assert!(head("GET / HTTP/1.1\r\nconnection: close\r\n\r\n")
            .ok()
            .flatten()
            .is_some_and(|h| !h.keep_alive));
    }

    #[test]
    fn incomplete_heads_wait_and_bad_ones_are_refused() {
        assert!(matches!(head("POST / HTTP/1.1\r\nhost: x\r\n"), Ok(None)));
        assert!(matches!(head("BAD\r\n\r\n"), Err(Refused::Malformed)));
        assert!(matches!(
            head("POST / HTTP/1.1\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n"),
            Err(Refused::Malformed)
        ));
        assert!(matches!(
            head("POST / HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n"),
            Err(Refused::Malformed)
        ));
        for bad in ["+5", "-5", "0x5", "5 5", ""] {
            let text = format!("POST / HTTP/1.1\r\ncontent-length: {bad}\r\n\r\n");
            assert!(matches!(head(&text), Err(Refused::Malformed)), "{bad:?}");
        }
        assert!(matches!(
            head("POST / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n"),
            Err(Refused::Malformed)
        ));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: v\r\n")).collect();
        assert!(matches!(
            head(&format!("GET / HTTP/1.1\r\n{many}\r\n")),
            Err(Refused::TooLarge)
        ));
        let long = format!("GET / HTTP/1.1\r\nx: {}", "v".repeat(MAX_HEAD + 1));
        assert!(matches!(head(&long), Err(Refused::TooLarge)));
    }

    #[test]
    fn heads_read_the_same_however_they_arrive() {
        for data in [
            &b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}"[..],
            b"GET /health HTTP/1.0\r\nconnection: keep-alive\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
            b"GET / HTTP/1.1\r\nbad header\r\n\r\n",
            b"GET / HTTP/1.1\r\ncontent-length: x\r\n\r\n",
            b"\r\n\r\n",
            b"",
        ] {
            check(data);
        }
    }

    #[test]
    fn a_pipelined_request_stays_after_the_head() {
        let mut buf = BytesMut::from("GET /health HTTP/1.1\r\n\r\nGET /health/ready HTTP/1.1\r\n\r\n");
        let first = parse_head(&mut buf).ok().flatten().unwrap();
        assert_eq!(first.request.uri().path(), "/health");
        let second = parse_head(&mut buf).ok().flatten().unwrap();
        assert_eq!(second.request.uri().path(), "/health/ready");
        assert!(buf.is_empty());
    }
}
