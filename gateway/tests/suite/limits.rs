//! Request limits: an oversized body gets 413, malformed JSON 400, a slow body 408 and a slow
//! header a closed connection, and each fails alone while other clients keep being served.

use crate::configs::{mock_config, FULL_CHAIN};
use crate::support::{self, Gateway};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

#[test]
fn oversized_malformed_and_slow_requests_fail_alone() {
    let gw = Gateway::start(&mock_config("1.0.0", 0, FULL_CHAIN));
    // Slow clients first, holding their connections while others are served.
    let mut slow_head = std::net::TcpStream::connect(gw.data).unwrap();
    slow_head
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    let mut slow_body = std::net::TcpStream::connect(gw.data).unwrap();
    slow_body
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"model\":")
        .unwrap();

    let big = format!(
        r#"{{"model":"m","messages":[{{"role":"user","content":"{}"}}]}}"#,
        "x".repeat(4096)
    );
    let r = support::request(gw.data, "POST", "/v1/chat/completions", &[], big.as_bytes());
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(r.json()["error"]["code"], "request_too_large");
    let r = support::request(gw.data, "POST", "/v1/chat/completions", &[], b"{\"model\": ");
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not valid JSON"));
    let r = support::request(gw.data, "POST", "/v1/chat/completions", &[], b"[1, 2]");
    assert_eq!(r.status, 400);
    assert_eq!(gw.chat("still fine").status, 200);

    // request_timeout_ms is 800: the slow body gets 408, the slow head a closed connection.
    slow_body.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut raw = Vec::new();
    let _ = slow_body.read_to_end(&mut raw);
    assert_eq!(
        support::parse_response(&raw).status,
        408,
        "{}",
        String::from_utf8_lossy(&raw)
    );
    slow_head.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let start = Instant::now();
    let mut raw = Vec::new();
    let closed = slow_head.read_to_end(&mut raw).is_ok();
    assert!(
        closed && start.elapsed() < Duration::from_secs(4),
        "the header-read timeout closes the connection"
    );
    assert_eq!(gw.chat("and still fine").status, 200);
}

/// `rate-limit.key: header:<name>`: each value of the header has its bucket, a request without
/// it shares the empty value's, and the other headers a client sends change nothing (the
/// gateway hands the engine only the header it reads).
#[test]
fn a_rate_limit_keyed_by_a_header_counts_each_value_apart() {
    let gw = Gateway::start(
        "pack: { name: t, version: 1.0.0 }\n\
         gateway: { listen: 127.0.0.1:0, admin: { listen: 127.0.0.1:0 } }\n\
         providers: { targets: [{ id: m, provider: mock }] }\n\
         policies: { chain: [rate-limit] }\n\
         policy: { rate-limit: { requests_per_minute: 1, burst: 1, key: 'header:X-Tenant' } }\n",
    );
    let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let post =
        |headers: &[(&str, &str)]| support::request(gw.data, "POST", "/v1/chat/completions", headers, body).status;
    assert_eq!(post(&[("x-tenant", "a"), ("user-agent", "one")]), 200);
    assert_eq!(
        post(&[("x-tenant", "a"), ("user-agent", "two")]),
        429,
        "a's bucket is empty"
    );
    assert_eq!(post(&[("X-Tenant", "b")]), 200, "b has a bucket of its own");
    assert_eq!(post(&[]), 200, "no header: the empty value's bucket");
    assert_eq!(post(&[("user-agent", "three")]), 429);
}

/// A client that goes away before its answer ends its request: the handler, and the upstream
/// call it waits on, are dropped at once, not when the upstream would have answered (here a
/// mock that takes 30 s), so an abandoned completion stops costing tokens.
#[test]
fn a_client_that_goes_away_ends_its_request() {
    let gw = Gateway::start(&mock_config("1.0.0", 30_000, "prompt-injection"));
    let in_flight = || support::metric(gw.admin, "gateway_in_flight_requests");
    let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let mut client = std::net::TcpStream::connect(gw.data).unwrap();
    write!(
        client,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    client.write_all(body).unwrap();
    assert!(
        support::eventually(Duration::from_secs(10), || in_flight() == 1.0),
        "{}",
        gw.log()
    );
    drop(client);
    assert!(
        support::eventually(Duration::from_secs(10), || in_flight() == 0.0),
        "the request outlived its client:\n{}",
        gw.log()
    );
    assert_eq!(gw.get("/health").status, 200);
}

/// A client whose declared body is over `max_body_bytes` is answered 413 before its body is
/// read, and can still send it all and read the answer: the gateway reads and drops the rest
/// before it closes, rather than resetting a connection the client is still writing to.
#[test]
fn a_body_answered_before_it_was_read_does_not_reset_its_sender() {
    let gw = Gateway::start(&mock_config("1.0.0", 0, "prompt-injection"));
    let body = vec![b'x'; 4 << 20];
    let mut client = std::net::TcpStream::connect(gw.data).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        client,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    client
        .write_all(&body)
        .unwrap_or_else(|e| panic!("the body could not be sent: {e}\n{}", gw.log()));
    let mut raw = Vec::new();
    client.read_to_end(&mut raw).unwrap();
    let r = support::parse_response(&raw);
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(r.header("connection"), Some("close"));
}

/// `expect: 100-continue`: a body the gateway will read is asked for with `100 Continue`; one
/// it refuses on its declared length is answered 413 at once, and never asked for.
#[test]
fn continue_is_sent_only_for_a_body_that_will_be_read() {
    let gw = Gateway::start(&mock_config("1.0.0", 0, "prompt-injection"));
    let send_head = |length: usize| {
        let mut c = std::net::TcpStream::connect(gw.data).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            c,
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\nconnection: close\r\ncontent-length: {length}\r\n\r\n"
        )
        .unwrap();
        c
    };
    let mut refused = send_head(1 << 20);
    let mut raw = Vec::new();
    refused.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 413 "), "{text}");

    let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let mut asked = send_head(body.len());
    let mut interim = [0u8; 25];
    asked.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    asked.write_all(body).unwrap();
    let mut raw = Vec::new();
    asked.read_to_end(&mut raw).unwrap();
    assert_eq!(
        support::parse_response(&raw).status,
        200,
        "{}",
        String::from_utf8_lossy(&raw)
    );
}

/// Pipelined requests, then the client closes its sending side: each request is answered,
/// in order, before the connection closes (a closed sending side with requests still to
/// answer is not a client that went away).
#[test]
fn pipelined_requests_are_answered_in_order_after_a_half_close() {
    let gw = Gateway::start(&mock_config("1.0.0", 0, "prompt-injection"));
    let mut c = std::net::TcpStream::connect(gw.data).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let mut sent = Vec::new();
    for id in ["one", "two"] {
        write!(
            sent,
            "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-request-id: {id}\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        sent.extend_from_slice(body);
    }
    sent.extend_from_slice(b"GET /health HTTP/1.1\r\nhost: x\r\nx-request-id: three\r\n\r\n");
    c.write_all(&sent).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let ids: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("x-request-id: ")).collect();
    assert_eq!(ids, ["one", "two", "three"], "{text}");
    assert_eq!(text.matches("HTTP/1.1 200 ").count(), 3, "{text}");
}
