//! HTTP/1.1 as the upstream exchange speaks it, without I/O: the request written as one
//! buffer, the response head parsed (`httparse`), and the response body's framing decoded
//! (RFC 9112 §6.3: no body, `content-length`, `transfer-encoding: chunked`, or to the end of
//! the connection) from whatever bytes have arrived, each piece handed on as soon as it is
//! there, so a stream is never held back.
//!
//! Owns the wire format only. Connections, reading and writing them, and keeping them between
//! requests are `pool.rs`'s; what the request says is `wire.rs`'s. The body decoder also reads
//! the clients' request bodies (`server.rs`): framing is the same both ways.

use bytes::{Buf, Bytes, BytesMut};
use hyper::body::{Frame, SizeHint};
use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use hyper::{StatusCode, Uri, Version};

/// Largest response head accepted (status line and headers), as hyper's default.
pub const MAX_HEAD: usize = 64 * 1024;
/// Most headers a response head may have.
const MAX_HEADERS: usize = 100;
/// Headers the gateway adds to a response it passes on (its policy headers), room for which
/// is made when the head is read.
const ADDED_HEADERS: usize = 8;
/// Longest chunk-size line or trailer line accepted.
const MAX_LINE: usize = 4096;

/// The port `uri`'s scheme implies: 443 for `https`, 80 otherwise.
pub fn default_port(uri: &Uri) -> u16 {
    if uri.scheme_str() == Some("https") {
        443
    } else {
        80
    }
}

/// A `POST` as it goes on the wire, written in one buffer as it is built: request line
/// (origin form) and `host` ([`Outgoing::post`]), the headers ([`Outgoing::header`]), then
/// `content-length` and the body ([`Outgoing::finish`]). Nothing is copied twice and no
/// header map is built in between.
pub struct Outgoing {
    uri: Uri,
    bytes: Vec<u8>,
}

impl Outgoing {
    /// A `POST` to `uri` (absolute), with room for a body of about `body` bytes.
    pub fn post(uri: Uri, body: usize) -> Outgoing {
        let mut bytes = Vec::with_capacity(512 + body);
        bytes.extend_from_slice(b"POST ");
        bytes.extend_from_slice(uri.path_and_query().map_or("/", |p| p.as_str()).as_bytes());
        bytes.extend_from_slice(b" HTTP/1.1\r\nhost: ");
        if let Some(authority) = uri.authority() {
            bytes.extend_from_slice(authority.host().as_bytes());
            if let Some(port) = authority.port_u16().filter(|p| *p != default_port(&uri)) {
                bytes.push(b':');
                bytes.extend_from_slice(itoa::Buffer::new().format(port).as_bytes());
            }
        }
        bytes.extend_from_slice(b"\r\n");
        Outgoing { uri, bytes }
    }

    /// Add a header. `name` is lowercase, `value` a valid header value (a `HeaderValue`'s
    /// bytes, or checked by the caller).
    pub fn header(&mut self, name: &str, value: &[u8]) {
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.extend_from_slice(b": ");
        self.bytes.extend_from_slice(value);
        self.bytes.extend_from_slice(b"\r\n");
    }

    /// End the head with `content-length`, and add the body.
    pub fn finish(mut self, body: &[u8]) -> Outgoing {
        self.bytes.extend_from_slice(b"content-length: ");
        self.bytes
            .extend_from_slice(itoa::Buffer::new().format(body.len()).as_bytes());
        self.bytes.extend_from_slice(b"\r\n\r\n");
        self.bytes.extend_from_slice(body);
        self
    }

    /// Where it goes.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// The bytes to send.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// A response head, and what it says of the connection and the body after it.
#[derive(Debug)]
pub struct Head {
    /// The status.
    pub status: StatusCode,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The headers, as sent.
    pub headers: HeaderMap,
    /// How the body is delimited.
    pub framing: Framing,
    /// Whether the connection may carry another request once the body has been read.
    pub reusable: bool,
}

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body: 204, 304.
    Empty,
    /// `content-length` bytes.
    Length(u64),
    /// `transfer-encoding: chunked`.
    Chunked,
    /// Everything until the upstream closes the connection.
    Close,
}

/// Why a response could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Malformed {
    /// `httparse` refused the head.
    #[error("the upstream's response head is not HTTP/1.1: {0}")]
    Head(#[from] httparse::Error),
    /// The head grew past [`MAX_HEAD`].
    #[error("the upstream's response head is larger than {MAX_HEAD} bytes")]
    HeadTooLarge,
    /// A header the gateway must understand has a value it cannot.
    #[error("the upstream's response has an invalid {0} header")]
    Header(&'static str),
    /// `101 Switching Protocols` to a request that asked for no upgrade.
    #[error("the upstream switched protocols unasked")]
    Upgrade,
    /// The chunked body is not chunked encoding.
    #[error("the upstream's chunked body is malformed: {0}")]
    Chunk(&'static str),
}

/// The response head at the start of `buf`, and its length; `None` while it is incomplete.
/// Informational (1xx) heads before it are skipped.
pub fn parse_head(buf: &mut BytesMut) -> Result<Option<Head>, Malformed> {
    loop {
        // Left uninitialised: filling 100 slots before every parse cost more than the parse.
        let mut slots = [const { std::mem::MaybeUninit::uninit() }; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut []);
        let len =
            match httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut resp, buf, &mut slots)? {
                httparse::Status::Partial if buf.len() > MAX_HEAD => return Err(Malformed::HeadTooLarge),
                httparse::Status::Partial => return Ok(None),
                httparse::Status::Complete(len) => len,
            };
        let code = resp.code.unwrap_or_default();
        if code == 101 {
            return Err(Malformed::Upgrade);
        }
        if (100..200).contains(&code) {
            buf.advance(len);
            continue;
        }
        let status = StatusCode::from_u16(code).map_err(|_| Malformed::Header("status"))?;
        let version = if resp.version == Some(0) {
            Version::HTTP_10
        } else {
            Version::HTTP_11
        };
        // One copy of the head, which every value shares, rather than one per value; room for
        // the headers the gateway adds to the response it passes on.
        let copy = Bytes::copy_from_slice(&buf[..len]);
        let mut headers = HeaderMap::with_capacity(resp.headers.len() + ADDED_HEADERS);
        for h in resp.headers.iter() {
            let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| Malformed::Header("header name"))?;
            let value = match (h.value.as_ptr() as usize).checked_sub(buf.as_ptr() as usize) {
                Some(at) if at + h.value.len() <= len => {
                    HeaderValue::from_maybe_shared(copy.slice(at..at + h.value.len()))
                }
                // Not in the head (an empty value may point anywhere): copied on its own.
                _ => HeaderValue::from_bytes(h.value),
            }
            .map_err(|_| Malformed::Header("header value"))?;
            headers.append(name, value);
        }
        buf.advance(len);
        let framing = framing(status, &headers)?;
        let reusable = framing != Framing::Close && keeps_alive(version, &headers);
        return Ok(Some(Head {
            status,
            version,
            headers,
            framing,
            reusable,
        }));
    }
}

/// RFC 9112 §6.3, for the response to a POST.
fn framing(status: StatusCode, headers: &HeaderMap) -> Result<Framing, Malformed> {
    if status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
        return Ok(Framing::Empty);
    }
    if let Some(chunked) = chunked_last(headers) {
        let chunked = chunked.map_err(|()| Malformed::Header("transfer-encoding"))?;
        return Ok(if chunked { Framing::Chunked } else { Framing::Close });
    }
    Ok(
        match declared_length(headers).map_err(|()| Malformed::Header("content-length"))? {
            Some(0) => Framing::Empty,
            Some(n) => Framing::Length(n),
            None => Framing::Close,
        },
    )
}

/// Whether a `transfer-encoding` ends in `chunked` (its last value's last coding); `None`
/// without one, `Err` when it is not text.
pub fn chunked_last(headers: &HeaderMap) -> Option<Result<bool, ()>> {
    let last = headers.get_all(TRANSFER_ENCODING).iter().next_back()?;
    Some(last.to_str().map_err(|_| ()).map(|v| {
        v.rsplit(',')
            .next()
            .is_some_and(|c| c.trim().eq_ignore_ascii_case("chunked"))
    }))
}

/// The length every `content-length` value states; `None` without one, `Err` when one is not
/// a length or two disagree.
pub fn declared_length(headers: &HeaderMap) -> Result<Option<u64>, ()> {
    let mut length = None;
    for v in headers.get_all(CONTENT_LENGTH) {
        for part in v.to_str().map_err(|_| ())?.split(',') {
            let n = content_length(part).ok_or(())?;
            if length.is_some_and(|l| l != n) {
                return Err(());
            }
            length = Some(n);
        }
    }
    Ok(length)
}

/// One `content-length` value: decimal digits only (RFC 9110 §8.6; a sign or anything else
/// read leniently is how two parsers of one message come to disagree), spaces around allowed.
pub fn content_length(value: &str) -> Option<u64> {
    let digits = value.trim_matches([' ', '\t']);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether a `name` header lists `token` (comma-separated, any case).
pub fn lists(headers: &HeaderMap, name: &HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// HTTP/1.1 keeps the connection unless it says `close`; HTTP/1.0 only if it says `keep-alive`.
pub fn keeps_alive(version: Version, headers: &HeaderMap) -> bool {
    let says = |token: &str| lists(headers, &CONNECTION, token);
    match version {
        Version::HTTP_10 => says("keep-alive") && !says("close"),
        _ => !says("close"),
    }
}

/// Where a body's decoding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Bytes of a `content-length` body left.
    Length(u64),
    /// Waiting for a chunk-size line.
    Size,
    /// Bytes of the current chunk left.
    Chunk(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// Trailer lines, up to the empty one.
    Trailers,
    /// Until the connection closes.
    UntilClose,
    /// The body is complete.
    Done,
}

/// What [`Decoder::decode`] found in the bytes read so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    /// A piece of the body.
    Data(Bytes),
    /// Nothing yet: read more.
    More,
    /// The body is complete.
    End,
}

/// Decodes one response body from the bytes read so far, as they arrive.
#[derive(Debug)]
pub struct Decoder {
    state: State,
}

impl Decoder {
    /// A decoder for a body framed as `framing`.
    pub fn new(framing: Framing) -> Decoder {
        let state = match framing {
            Framing::Empty | Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Length(n),
            Framing::Chunked => State::Size,
            Framing::Close => State::UntilClose,
        };
        Decoder { state }
    }

    /// Whether the body is complete.
    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// The connection ended: whether that completes the body (one delimited by the end).
    pub fn closed(&mut self) -> bool {
        if self.state == State::UntilClose {
            self.state = State::Done;
        }
        self.done()
    }

    /// The exact length still to come, when the framing says it.
    pub fn remaining(&self) -> Option<u64> {
        match self.state {
            State::Length(n) => Some(n),
            State::Done => Some(0),
            _ => None,
        }
    }

    /// [`Decoder::remaining`] as a body's size hint: exact when known.
    pub fn size_hint(&self) -> SizeHint {
        match self.remaining() {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }

    /// The next piece of the body from `buf` (consumed from its front).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, Malformed> {
        loop {
            match self.state {
                State::Done => return Ok(Decoded::End),
                State::Length(n) | State::Chunk(n) => {
                    if buf.is_empty() {
                        return Ok(Decoded::More);
                    }
                    let take = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
                    let left = n - take as u64;
                    self.state = match (self.state, left) {
                        (State::Length(_), 0) => State::Done,
                        (State::Length(_), _) => State::Length(left),
                        (_, 0) => State::ChunkEnd,
                        (_, _) => State::Chunk(left),
                    };
                    return Ok(Decoded::Data(buf.split_to(take).freeze()));
                }
                State::UntilClose => {
                    if buf.is_empty() {
                        return Ok(Decoded::More);
                    }
                    return Ok(Decoded::Data(buf.split().freeze()));
                }
                State::ChunkEnd => {
                    if buf.len() < 2 {
                        return Ok(Decoded::More);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(Malformed::Chunk("a chunk's data is not followed by CRLF"));
                    }
                    buf.advance(2);
                    self.state = State::Size;
                }
                State::Size => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Decoded::More);
                    };
                    // RFC 9112 §7.1: hex digits, then optional whitespace and extensions. A sign,
                    // leading whitespace or a bare LF is refused: read leniently, they let two
                    // parsers of one body see different chunks.
                    if line.contains(&b'\n') || line.contains(&b'\r') {
                        return Err(Malformed::Chunk("a bare line break in a chunk-size line"));
                    }
                    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
                    let rest = line[digits..].iter().find(|&&b| b != b' ' && b != b'\t');
                    if digits == 0 || digits > 16 || !matches!(rest, None | Some(b';')) {
                        return Err(Malformed::Chunk("the chunk size is not hex"));
                    }
                    let size = std::str::from_utf8(&line[..digits])
                        .ok()
                        .and_then(|d| u64::from_str_radix(d, 16).ok())
                        .ok_or(Malformed::Chunk("the chunk size is not hex"))?;
                    self.state = if size == 0 { State::Trailers } else { State::Chunk(size) };
                }
                State::Trailers => {
                    let Some(line) = take_line(buf)? else {
                        return Ok(Decoded::More);
                    };
                    if line.is_empty() {
                        self.state = State::Done;
                    }
                }
            }
        }
    }
}

impl Decoder {
    /// The next piece of the body as a reader hands it on: `Some` of a piece, of the end
    /// (`None`) or of the error; `None` when more bytes must be read first.
    #[allow(clippy::type_complexity)]
    pub fn next_frame(&mut self, buf: &mut BytesMut) -> Option<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.decode(buf) {
            Err(e) => Some(Some(Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))),
            Ok(Decoded::Data(data)) => Some(Some(Ok(Frame::data(data)))),
            Ok(Decoded::End) => Some(None),
            Ok(Decoded::More) => None,
        }
    }
}

/// Each file of the fuzz corpus `name` (`fuzz/corpus/<name>`) run through `check`: what the
/// fuzzer found, held by the tests.
#[cfg(test)]
pub fn replay_corpus(name: &str, check: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(name);
    let mut n = 0;
    for f in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        check(&std::fs::read(f.unwrap().path()).unwrap());
        n += 1;
    }
    assert!(n > 0, "{} has no corpus", dir.display());
}

/// The line at the front of `buf` without its CRLF, consumed; `None` until the CRLF arrives.
fn take_line(buf: &mut BytesMut) -> Result<Option<BytesMut>, Malformed> {
    match buf.windows(2).position(|w| w == b"\r\n") {
        Some(end) => {
            let line = buf.split_to(end);
            buf.advance(2);
            Ok(Some(line))
        }
        None if buf.len() > MAX_LINE => Err(Malformed::Chunk("a line is longer than 4096 bytes")),
        None => Ok(None),
    }
}

/// What a fuzzer holds the reading of a response to (`fuzz/fuzz_targets/upstream_response.rs`
/// compiles this file in; the corpus is replayed by a test below): whatever bytes an upstream
/// sends, reading them panics nowhere, and gives the same head, body and error whether they
/// arrive at once, one byte at a time or seven at a time.
#[allow(dead_code)] // the fuzz target's and the corpus test's
pub fn check(data: &[u8]) {
    let whole = read(data, data.len().max(1));
    assert_eq!(
        whole,
        read(data, 1),
        "one byte at a time reads otherwise than all at once: {data:?}"
    );
    assert_eq!(
        whole,
        read(data, 7),
        "seven bytes at a time read otherwise than all at once: {data:?}"
    );
}

/// What [`check`] reads of a response.
#[allow(dead_code)]
#[derive(Debug, PartialEq, Eq)]
struct Read {
    status: u16,
    reusable: bool,
    body: Vec<u8>,
    ended: bool,
}

/// The response in `data` fed `step` bytes at a time; `Err` with what was malformed; `Ok(None)`
/// for a head that never completed.
#[allow(dead_code)]
fn read(data: &[u8], step: usize) -> Result<Option<Read>, String> {
    let mut chunks = data.chunks(step);
    let mut buf = BytesMut::new();
    let head = loop {
        if let Some(head) = parse_head(&mut buf).map_err(|e| e.to_string())? {
            break head;
        }
        match chunks.next() {
            Some(c) => buf.extend_from_slice(c),
            None => return Ok(None),
        }
    };
    let mut decoder = Decoder::new(head.framing);
    let mut body = Vec::new();
    let ended = loop {
        match decoder.decode(&mut buf).map_err(|e| e.to_string())? {
            Decoded::Data(d) => {
                assert!(!d.is_empty(), "an empty piece of body");
                body.extend_from_slice(&d);
            }
            Decoded::End => break true,
            Decoded::More => match chunks.next() {
                Some(c) => buf.extend_from_slice(c),
                None => break decoder.closed(),
            },
        }
    };
    assert!(body.len() <= data.len(), "more body than bytes");
    Ok(Some(Read {
        status: head.status.as_u16(),
        reusable: head.reusable,
        body,
        ended,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fuzz_corpus_holds() {
        replay_corpus("upstream_response", check);
    }

    fn head(text: &str) -> Result<Option<Head>, Malformed> {
        parse_head(&mut BytesMut::from(text))
    }

    #[test]
    fn a_request_is_one_buffer_with_host_and_length() {
        let written = |url: &str| {
            let mut out = Outgoing::post(url.parse().unwrap(), 2);
            out.header("content-type", b"application/json");
            String::from_utf8(out.finish(b"{}").bytes().to_vec()).unwrap()
        };
        assert_eq!(
            written("http://up.example:8080/v1/chat/completions?x=1"),
            "POST /v1/chat/completions?x=1 HTTP/1.1\r\nhost: up.example:8080\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
        );
        let host = |url: &str| written(url).lines().nth(1).unwrap().to_string();
        assert_eq!(
            host("http://api.example.com:80/v1"),
            "host: api.example.com",
            "the default port is left out"
        );
        assert_eq!(host("https://api.example.com/v1"), "host: api.example.com");
        assert_eq!(host("https://api.example.com:8443/v1"), "host: api.example.com:8443");
        assert_eq!(host("http://[::1]:9000/"), "host: [::1]:9000");
        assert!(
            written("http://h").starts_with("POST / HTTP/1.1\r\n"),
            "an empty path is /"
        );
    }

    #[test]
    fn framing_follows_the_head() {
        let f = |t: &str| head(t).unwrap().unwrap();
        assert_eq!(
            f("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n").framing,
            Framing::Length(5)
        );
        assert_eq!(
            f("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").framing,
            Framing::Empty
        );
        assert_eq!(f("HTTP/1.1 204 No Content\r\n\r\n").framing, Framing::Empty);
        let chunked = f("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\ncontent-length: 3\r\n\r\n");
        assert_eq!(
            chunked.framing,
            Framing::Chunked,
            "transfer-encoding wins over content-length"
        );
        assert!(chunked.reusable);
        let close = f("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((close.framing, close.reusable), (Framing::Close, false));
        assert!(!f("HTTP/1.1 200 OK\r\nConnection: Close\r\ncontent-length: 1\r\n\r\n").reusable);
        assert!(!f("HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n").reusable);
        assert!(f("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 1\r\n\r\n").reusable);
        let informational = f("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 201 Created\r\ncontent-length: 1\r\n\r\n");
        assert_eq!(informational.status, 201);
        assert!(
            head("HTTP/1.1 200 OK\r\ncontent-length: 1").unwrap().is_none(),
            "incomplete"
        );
    }

    #[test]
    fn malformed_heads_are_errors_that_say_what() {
        let e = |t: &str| head(t).unwrap_err().to_string();
        assert!(e("HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n").contains("content-length"));
        assert!(e("HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n").contains("content-length"));
        assert!(e("HTTP/1.1 101 Switching Protocols\r\n\r\n").contains("switched"));
        assert!(e("SMTP ready\r\n\r\n").contains("not HTTP/1.1"));
        let big = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD + 1));
        assert!(e(&big).contains("larger than"));
    }

    #[test]
    fn bodies_decode_the_same_however_the_bytes_arrive() {
        let chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\ntrailer: x\r\n\r\n";
        let length = b"HTTP/1.1 200 OK\r\ncontent-length: 16\r\n\r\nhello 0123456789";
        let close = b"HTTP/1.1 200 OK\r\n\r\nhello 0123456789";
        for wire in [&chunked[..], &length[..], &close[..]] {
            for step in 1..=wire.len() {
                let read = read(wire, step).unwrap().unwrap();
                assert_eq!(
                    (read.body.as_slice(), read.ended),
                    (&b"hello 0123456789"[..], true),
                    "step {step}"
                );
            }
        }
    }

    #[test]
    fn a_chunked_body_ends_at_its_last_chunk_and_leaves_what_follows() {
        let mut buf = BytesMut::from("3\r\nabc\r\n0\r\n\r\nHTTP/1.1 200");
        let mut d = Decoder::new(Framing::Chunked);
        assert_eq!(d.decode(&mut buf).unwrap(), Decoded::Data(Bytes::from_static(b"abc")));
        assert_eq!(d.decode(&mut buf).unwrap(), Decoded::End);
        assert!(d.done());
        assert_eq!(&buf[..], b"HTTP/1.1 200");
    }

    #[test]
    fn malformed_chunks_are_errors() {
        let bad = |t: &str| {
            let mut d = Decoder::new(Framing::Chunked);
            let mut buf = BytesMut::from(t);
            loop {
                match d.decode(&mut buf) {
                    Err(e) => return e.to_string(),
                    Ok(Decoded::Data(_)) => continue,
                    Ok(other) => panic!("{t:?} decoded to {other:?}"),
                }
            }
        };
        assert!(bad("zz\r\n").contains("not hex"));
        assert!(bad("3\r\nabcXY").contains("CRLF"));
        assert!(bad(&"1".repeat(MAX_LINE + 1)).contains("longer"));
        // What a lenient reader would take, and another reader not: refused.
        for size in ["+5", " 5", "5x", "0x5", "11111111111111111"] {
            assert!(
                bad(&format!("{size}\r\nhello\r\n0\r\n\r\n")).contains("not hex"),
                "{size:?}"
            );
        }
        assert!(bad("5;\nXXXXX\r\nhello\r\n0\r\n\r\n").contains("bare line break"));
        // Whitespace and extensions after the size are the grammar's.
        let mut d = Decoder::new(Framing::Chunked);
        let mut buf = BytesMut::from("5 \t;name=value\r\nhello\r\n0\r\n\r\n");
        assert_eq!(d.decode(&mut buf).unwrap(), Decoded::Data(Bytes::from_static(b"hello")));
        assert_eq!(d.decode(&mut buf).unwrap(), Decoded::End);
    }

    #[test]
    fn a_length_is_digits_only() {
        assert_eq!(content_length("42"), Some(42));
        assert_eq!(content_length(" 42\t"), Some(42));
        for bad in ["+42", "-1", "4 2", "0x2a", "", "99999999999999999999"] {
            assert_eq!(content_length(bad), None, "{bad:?}");
        }
    }
}
