//! `/health` (liveness) and `/health/ready` (readiness) with each target's reachability from
//! the background probe: a target at a closed loopback port is unreachable and the gateway is
//! not ready (503) yet alive (200); the mock is always reachable; a target at a real loopback
//! listener is reachable; a reload that changes the targets is probed at once.

use crate::configs::{mock_config, upstream_config};
use crate::support::{closed_port, eventually, Gateway, Upstream};
use policy_contract::admin::Health;
use std::time::Duration;

fn health(gw: &Gateway, path: &str) -> (u16, Health) {
    let r = gw.get(path);
    (
        r.status,
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body)),
    )
}

#[test]
fn a_target_at_a_closed_port_is_unreachable_and_the_gateway_alive_but_not_ready() {
    let gw = Gateway::start(&upstream_config(&format!("http://127.0.0.1:{}", closed_port()), 1000));
    assert!(
        eventually(Duration::from_secs(10), || health(&gw, "/health").1.targets[0]
            .checked_at
            .is_some()),
        "{}",
        gw.log()
    );
    let (code, ready) = health(&gw, "/health/ready");
    assert_eq!(code, 503);
    assert!(!ready.ready);
    let t = &ready.targets[0];
    assert_eq!(
        (t.id.as_str(), t.provider.as_str(), t.reachable),
        ("primary", "openai", false)
    );
    assert!(
        t.error.as_deref().is_some_and(|e| e.contains("cannot connect")),
        "{t:?}"
    );
    let (code, live) = health(&gw, "/health");
    assert_eq!(code, 200);
    assert_eq!(live.status, "ok");
    assert!(!live.ready);
}

#[test]
fn the_mock_is_always_reachable() {
    let gw = Gateway::start(&mock_config("1.0.0", 0, "prompt-injection"));
    let (code, h) = health(&gw, "/health/ready");
    assert_eq!(code, 200);
    assert!(h.ready);
    assert_eq!(h.targets.len(), 1);
    assert_eq!((h.targets[0].provider.as_str(), h.targets[0].reachable), ("mock", true));
    assert_eq!(gw.get("/health/ready").header("x-policy-verdict"), Some("none"));
    // HEAD, as load balancers probe: the status and headers, no body.
    use std::io::{Read, Write};
    let mut raw = std::net::TcpStream::connect(gw.data).unwrap();
    raw.write_all(b"HEAD /health/ready HTTP/1.1\r\nhost: gw\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n"), "no body: {answer}");
    assert_eq!(
        gw.admin("POST", "/health/ready", None, "").status,
        404,
        "data plane only"
    );
}

#[test]
fn a_target_at_a_listener_is_reachable_and_a_reload_is_probed_at_once() {
    let upstream = Upstream::start();
    let gw = Gateway::start(&upstream_config(&format!("http://{}", upstream.addr), 1000));
    assert!(
        eventually(Duration::from_secs(10), || health(&gw, "/health/ready").0 == 200),
        "{}",
        gw.log()
    );
    let (_, h) = health(&gw, "/health");
    assert!(
        h.ready && h.targets[0].reachable && h.targets[0].checked_at.is_some(),
        "{h:?}"
    );
    // Probing sends nothing: the upstream saw no request.
    assert!(upstream.seen.lock().unwrap().is_empty());
    // A reload to a closed port is probed now, not at the next 5 s round.
    let closed = upstream_config(&format!("http://127.0.0.1:{}", closed_port()), 1000)
        .replace("version: 1.0.0", "version: 1.0.1");
    let r = gw.admin("POST", "/admin/reload", None, &closed);
    assert_eq!(r.json()["status"], "applied", "{r:?}");
    assert!(
        eventually(Duration::from_secs(3), || health(&gw, "/health/ready").0 == 503),
        "{}",
        gw.log()
    );
}
