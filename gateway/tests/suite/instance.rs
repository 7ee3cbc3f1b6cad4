//! Instance addresses apart from the config (docs/guide/fleet.md): `--listen` and `--admin-listen`.
//! Two instances of one file on different addresses report the config's own hash and both serve;
//! a reload of a file that moves an overridden address leaves nothing pending; a zero-drop
//! restart keeps the overridden address, even when the file now names another.

use crate::configs::mock_config;
use crate::restart::Successors;
use crate::support::{self, Gateway, Opts};
use std::net::SocketAddr;

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

fn hash_of(text: &str) -> String {
    policy_engine::config_hash(&policy_lint::load_config_str("f.yaml", text).expect("valid").0)
}

/// A gateway on `config` (its `{dir}` is the gateway's own) with `--listen` and, when given,
/// `--admin-listen`.
fn start(config: &str, data: SocketAddr, admin: Option<SocketAddr>) -> Gateway {
    let mut args = vec!["--listen".to_string(), data.to_string()];
    if let Some(a) = admin {
        args.extend(["--admin-listen".to_string(), a.to_string()]);
    }
    Gateway::start_with(
        config,
        Opts {
            args,
            ..Opts::default()
        },
    )
}

/// Without `{dir}`, so every instance's file has the same bytes.
fn shared(version: &str) -> String {
    mock_config(version, 0, "prompt-injection, pii-detector").replace("{dir}/", "")
}

#[test]
fn two_instances_of_one_file_report_the_files_hash_and_both_serve() {
    let file = shared("1.0.0");
    let (d1, a1, d2, a2) = (free_addr(), free_addr(), free_addr(), free_addr());
    let one = start(&file, d1, Some(a1));
    let two = start(&file, d2, Some(a2));
    assert_eq!(
        (one.data, one.admin, two.data, two.admin),
        (d1, a1, d2, a2),
        "the serving lines"
    );
    let expected = hash_of(&file);
    for gw in [&one, &two] {
        let r = gw.chat("hello");
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.header("x-policy-config-hash"), Some(expected.as_str()));
        assert_eq!(gw.health()["config_hash"], expected.as_str());
        let status = gw.admin("GET", "/admin/status", None, "").json();
        assert_eq!(status["hash"], expected.as_str());
        assert_eq!(status["listen"], gw.data.to_string(), "the bound address");
        assert_eq!(status["admin_listen"], gw.admin.to_string());
        assert_eq!(status["pending_restart"], serde_json::json!([]));
    }
    // The config in effect is the file's, addresses included.
    let config = one.admin("GET", "/admin/config", None, "").json();
    assert_eq!(config["gateway"]["listen"], "127.0.0.1:0");
}

#[test]
fn a_reload_that_moves_an_overridden_address_leaves_nothing_pending() {
    let data = free_addr();
    let gw = start(&shared("1.0.0"), data, None);
    let moved = shared("1.0.1").replace("  listen: 127.0.0.1:0\n", &format!("  listen: {}\n", free_addr()));
    gw.write_config(&moved);
    let r = gw.admin("POST", "/admin/reload", None, "").json();
    assert_eq!(r["status"], "applied", "{r}");
    assert_eq!(r["pending_restart"], serde_json::json!([]), "{r}");
    assert_eq!(r["hash"], hash_of(&moved).as_str(), "the file's hash, address included");
    let status = gw.admin("GET", "/admin/status", None, "").json();
    assert_eq!(status["pending_restart"], serde_json::json!([]));
    assert_eq!(status["listen"], data.to_string());
    assert_eq!(gw.health()["pending_restart"], serde_json::json!([]));
    let r = gw.chat("hello");
    assert_eq!((r.status, r.header("x-policy-config-version")), (200, Some("1.0.1")));
    // The address it does not override is still restart-class here.
    let admin_moved = moved.replace("version: 1.0.1", "version: 1.0.2").replace(
        "admin: { listen: 127.0.0.1:0 }",
        &format!("admin: {{ listen: {} }}", free_addr()),
    );
    let r = gw.admin("POST", "/admin/reload", None, &admin_moved).json();
    assert_eq!(
        r["pending_restart"],
        serde_json::json!(["/gateway/admin/listen"]),
        "{r}"
    );
}

#[test]
fn a_restart_keeps_the_overridden_addresses() {
    let (data, admin) = (free_addr(), free_addr());
    let gw = start(&shared("1.0.0"), data, Some(admin));
    let successors = Successors::default();
    let before = gw.get("/health");
    // The file now names other addresses: the instance's own still win.
    let moved = shared("2.0.0")
        .replace("  listen: 127.0.0.1:0\n", &format!("  listen: {}\n", free_addr()))
        .replace(
            "admin: { listen: 127.0.0.1:0 }",
            &format!("admin: {{ listen: {} }}", free_addr()),
        );
    gw.write_config(&moved);
    let r = support::request(admin, "POST", "/admin/restart", &[], b"");
    let answer = r.json();
    if let Some(pid) = answer["pid"].as_u64() {
        successors.adopt(pid as u32);
    }
    assert_eq!(r.status, 200, "{answer}\n{}", gw.log());
    assert_eq!(answer["listen"], data.to_string());
    assert_eq!(answer["admin_listen"], admin.to_string());
    assert_ne!(answer["pid"].as_u64(), Some(gw.pid() as u64));
    // The data port answers, from the new process, with the file's hash.
    let after = support::request(data, "GET", "/health", &[], b"");
    assert_eq!(after.status, 200);
    assert_ne!(after.header("x-policy-instance"), before.header("x-policy-instance"));
    assert_eq!(after.json()["config_version"], "2.0.0");
    assert_eq!(after.json()["config_hash"], hash_of(&moved).as_str());
    let status = support::request(admin, "GET", "/admin/status", &[], b"").json();
    assert_eq!(status["listen"], data.to_string());
    assert_eq!(status["pending_restart"], serde_json::json!([]));
}

#[test]
fn an_open_admin_address_needs_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, shared("1.0.0")).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_policy-gateway"))
        .args(["--check", "--admin-listen", "0.0.0.0:41003", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--admin-listen"), "{stderr}");
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_policy-gateway"))
        .args(["--check", "--listen", "nowhere", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "a usage error");
}
