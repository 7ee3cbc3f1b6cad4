//! Shadow evaluation (`/admin/shadow`) against the real binary: the live counts equal, request
//! for request, what offline replay predicts for the same traffic; responses carry the served
//! verdict and nothing of the shadow; a reload keeps the shadow, a restart hands it over, a
//! crash with `--state-dir` keeps it; a candidate that does not lint is refused and changes
//! nothing.

use crate::configs::{mock_config, redact_then_block};
use crate::support::{eventually, policy_bin, request, Gateway, Opts};
use policy_contract::headers;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const TRAFFIC: &str = "../fixtures/traffic/chat.jsonl";

/// Send every request of the traffic file to the data plane, each with its recorded id as
/// `x-request-id`; the responses' status and verdict headers.
fn send_traffic(gw: &Gateway) -> Vec<(String, crate::support::Resp)> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(TRAFFIC)).unwrap();
    let (records, errors) = policy_replay::traffic::parse(&text);
    assert!(errors.is_empty());
    records
        .iter()
        .map(|r| {
            let body = serde_json::to_vec(&r.request.body).unwrap();
            let mut hs: Vec<(&str, &str)> = vec![("content-type", "application/json"), ("x-request-id", &r.request.id)];
            for (k, v) in &r.request.headers {
                if !matches!(k.as_str(), "content-type" | "content-length" | "host" | "x-request-id") {
                    hs.push((k, v));
                }
            }
            (
                r.request.id.clone(),
                request(gw.data, "POST", &r.request.path, &hs, &body),
            )
        })
        .collect()
}

fn offline(a: &Path, b: &Path) -> Value {
    let out = std::process::Command::new(policy_bin())
        .args(["replay", "--format", "json", "--traffic"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(TRAFFIC))
        .arg("--old")
        .arg(a)
        .arg("--new")
        .arg(b)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn live_shadow_counts_equal_the_offline_prediction_and_nothing_of_it_is_served() {
    let (a, b) = redact_then_block();
    let gw = Gateway::start(&a);
    std::fs::write(gw.path("a.yaml"), &a).unwrap();
    std::fs::write(gw.path("b.yaml"), &b).unwrap();
    assert_eq!(gw.admin("GET", "/admin/shadow", None, "").status, 404);
    let r = gw.admin("POST", "/admin/shadow", None, &b);
    assert_eq!(r.status, 200, "{r:?}");
    crate::output_schemas::assert_valid("admin-shadow-started", "POST /admin/shadow", &r.json());
    let shadow_hash = r.json()["shadow_hash"].as_str().unwrap().to_string();
    let answers = send_traffic(&gw);
    let predicted = offline(&gw.path("a.yaml"), &gw.path("b.yaml"));
    // The candidate is evaluated beside each response, not before it: wait for the last one.
    let shadowed = || gw.admin("GET", "/admin/shadow", None, "").json();
    assert!(
        eventually(Duration::from_secs(10), || shadowed()["requests"]
            == predicted["requests"]),
        "{:#}",
        shadowed()
    );
    let report = shadowed();
    crate::output_schemas::assert_valid("admin-shadow", "GET /admin/shadow", &report);
    assert!(
        predicted["refused"].as_array().is_none_or(|r| r.is_empty()),
        "{predicted:#}"
    );
    // Exact, request for request.
    assert!(report["changed"].as_u64().unwrap() > 0, "{report:#}");
    assert_eq!(report["requests"], predicted["requests"], "{report:#}");
    assert_eq!(report["changed"], predicted["changed"], "{report:#}");
    assert_eq!(report["transitions"], predicted["transitions"], "{report:#}");
    let changed: std::collections::BTreeSet<&str> = predicted["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    for e in report["examples"].as_array().unwrap() {
        assert!(changed.contains(e["request_id"].as_str().unwrap()), "{e}");
    }
    let by_rule: u64 = report["by_rule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    assert_eq!(by_rule, report["changed"].as_u64().unwrap());
    // Served: A's verdicts and hash on every response, nothing of the shadow anywhere.
    let served: std::collections::BTreeMap<&str, &str> = predicted["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["old"]["verdict"].as_str().unwrap()))
        .collect();
    let active_hash = gw.admin("GET", "/admin/status", None, "").json()["hash"].clone();
    for (id, resp) in &answers {
        assert_eq!(resp.header(headers::CONFIG_HASH), active_hash.as_str(), "{id}");
        if let Some(v) = served.get(id.as_str()) {
            assert_eq!(
                resp.header(headers::VERDICT),
                Some(*v),
                "{id}: the served verdict is A's"
            );
        }
        let all = format!("{:?}{}", resp.headers, resp.body);
        assert!(!all.contains(&shadow_hash) && !all.contains("shadow"), "{id}: {all}");
    }
    let metrics = gw.admin("GET", "/metrics", None, "").body;
    assert!(
        metrics.contains(&format!("gateway_shadow_requests_total {}", report["requests"])),
        "{metrics}"
    );
    // DELETE answers the final report and stops it.
    let stopped = gw.admin("DELETE", "/admin/shadow", None, "");
    assert_eq!(stopped.status, 200);
    assert_eq!(stopped.json()["requests"], report["requests"]);
    assert_eq!(gw.admin("GET", "/admin/shadow", None, "").status, 404);
}

#[test]
fn a_candidate_that_does_not_lint_is_refused_and_changes_nothing() {
    let (a, b) = redact_then_block();
    let gw = Gateway::start(&a);
    assert_eq!(gw.admin("POST", "/admin/shadow", None, &b).status, 200);
    let before = gw.admin("GET", "/admin/shadow", None, "").json()["shadow_hash"].clone();
    let r = gw.admin("POST", "/admin/shadow", None, "pack: [broken");
    assert_eq!(r.status, 422, "{r:?}");
    assert_eq!(r.json()["diagnostics"][0]["code"], "P101", "{r:?}");
    crate::output_schemas::assert_valid("admin-answer", "a refused POST /admin/shadow", &r.json());
    assert_eq!(gw.admin("GET", "/admin/shadow", None, "").json()["shadow_hash"], before);
}

#[test]
fn a_reload_keeps_the_shadow_and_a_restart_hands_it_over() {
    let (a, b) = redact_then_block();
    let gw = Gateway::start(&a);
    let started = gw.admin("POST", "/admin/shadow", None, &b).json();
    gw.chat("Hello");
    let reloaded = mock_config("1.0.1", 0, "prompt-injection, pii-detector, content-filter");
    assert_eq!(gw.admin("POST", "/admin/reload", None, &reloaded).status, 200);
    gw.chat("Hello");
    let shadowed = || gw.admin("GET", "/admin/shadow", None, "").json();
    assert!(
        eventually(Duration::from_secs(10), || shadowed()["requests"] == 2),
        "{:#}",
        shadowed()
    );
    let report = shadowed();
    assert_eq!(report["shadow_hash"], started["shadow_hash"]);
    let active = gw.admin("GET", "/admin/status", None, "").json()["hash"].clone();
    assert_eq!(report["active_hash"], active, "compared with the new active config");
    // A zero-drop restart: the new process shadows the same candidate.
    let successors = crate::restart::Successors::default();
    let r = gw.admin("POST", "/admin/restart", None, "");
    if let Some(pid) = r.json()["pid"].as_u64() {
        successors.adopt(pid as u32);
    }
    assert_eq!(r.status, 200, "{r:?}\n{}", gw.log());
    let admin: std::net::SocketAddr = r.json()["admin_listen"].as_str().unwrap().parse().unwrap();
    let after = request(admin, "GET", "/admin/shadow", &[], b"");
    assert_eq!(after.status, 200, "{after:?}");
    assert_eq!(after.json()["shadow_hash"], started["shadow_hash"]);
}

#[test]
fn the_state_dir_keeps_the_shadow_across_a_crash() {
    let (a, b) = redact_then_block();
    let state = tempfile::tempdir().unwrap();
    let opts = || Opts {
        args: vec!["--state-dir".into(), state.path().display().to_string()],
        ..Opts::default()
    };
    let gw = Gateway::start_with(&a, opts());
    let started = gw.admin("POST", "/admin/shadow", None, &b).json();
    gw.signal(rustix::process::Signal::KILL);
    drop(gw);
    let gw = Gateway::start_with(&a, opts());
    let report = gw.admin("GET", "/admin/shadow", None, "").json();
    assert_eq!(report["shadow_hash"], started["shadow_hash"], "{}", gw.log());
    // Stopped, it is gone from the state dir too.
    assert_eq!(gw.admin("DELETE", "/admin/shadow", None, "").status, 200);
    assert!(!state.path().join("shadow.yaml").exists());
}
