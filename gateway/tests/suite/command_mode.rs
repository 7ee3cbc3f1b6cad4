//! `policy replay --live` in command mode: the harness drives a gateway through the operator's
//! own reload command. Against policy-gateway switched by `kill -HUP` it sees every check pass;
//! against real nginx (`nginx -s reload`, a version header in each config) it attributes every
//! answer and counts each failure by kind; a reload command that does nothing, fails or hangs
//! fails the run and says which switches were never observed; the gateway's config file is put
//! back on every way out, Ctrl-C included.

use crate::configs::{mock_config, redact_then_block};
use crate::support::{closed_port, eventually, policy_bin, Gateway};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const TRAFFIC: &str = "../fixtures/traffic/chat.jsonl";

fn traffic() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(TRAFFIC)
}

fn replay(args: &[&str]) -> Output {
    Command::new(policy_bin())
        .args(["replay", "--live", "--format", "json", "--traffic"])
        .arg(traffic())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("policy runs")
}

/// `policy replay --live` in command mode: OLD and NEW against the data plane at `data`,
/// switched by `cmd`, with `rest` (load, timeouts, --config-path) after.
fn command_mode(old: &Path, new: &Path, data: std::net::SocketAddr, cmd: &str, rest: &[&str]) -> Output {
    let (old, new, data) = (old.to_str().unwrap(), new.to_str().unwrap(), format!("http://{data}"));
    let head = ["--old", old, "--new", new, "--gateway", &data, "--reload-cmd", cmd];
    replay(&[&head[..], rest].concat())
}

fn report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// policy-gateway, switched between two policy configs by SIGHUP after the file is replaced:
/// the verdict checks run as in attach mode, and nothing is dropped, unattributed or mismatched.
#[test]
fn policy_gateway_switched_by_sighup_passes_every_check() {
    let (a, b) = redact_then_block();
    let gw = Gateway::start(&a);
    let (old, new) = (gw.path("a.yaml"), gw.path("b.yaml"));
    std::fs::write(&old, &a).unwrap();
    std::fs::write(&new, &b).unwrap();
    let before = std::fs::read(&gw.config).unwrap();
    let out = command_mode(
        &old,
        &new,
        gw.data,
        &format!("kill -HUP {}", gw.pid()),
        &[
            "--config-path",
            gw.config.to_str().unwrap(),
            "--duration",
            "3s",
            "--reloads",
            "6",
            "--concurrency",
            "8",
        ],
    );
    let r = report(&out);
    crate::output_schemas::assert_valid("replay-live", "command mode against policy-gateway", &r);
    assert_eq!(out.status.code(), Some(0), "{r:#}\n{}", gw.log());
    assert_eq!(r["mode"], "command");
    assert_eq!(r["verdict_checks"], true);
    for k in ["dropped", "unattributed", "mismatched", "reload_failures"] {
        assert_eq!(r[k], 0, "{k}: {r:#}");
    }
    let switches = r["switches"].as_array().unwrap();
    assert_eq!(switches.len(), 6);
    assert!(
        switches
            .iter()
            .all(|s| s["command_exit"] == 0 && s["observed_ms"].is_number()),
        "{switches:#?}"
    );
    assert!(r["responses_by_config"]["B"].as_u64().unwrap() > 0, "{r:#}");
    assert_eq!(
        std::fs::read(&gw.config).unwrap(),
        before,
        "the config file is put back"
    );
}

/// A reload command that does nothing: the run fails, and every switch is a reload failure
/// that says it was never observed ("accepted but not applied").
#[test]
fn a_reload_command_that_does_nothing_fails_every_switch() {
    let (a, b) = redact_then_block();
    let gw = Gateway::start(&a);
    std::fs::write(gw.path("b.yaml"), &b).unwrap();
    let out = command_mode(
        &gw.config,
        &gw.path("b.yaml"),
        gw.data,
        "true",
        &[
            "--switch-timeout",
            "300ms",
            "--duration",
            "2s",
            "--reloads",
            "4",
            "--concurrency",
            "4",
        ],
    );
    let r = report(&out);
    assert_eq!(out.status.code(), Some(1), "{r:#}");
    assert_eq!(r["reload_failures"], 4, "{r:#}");
    let errors: Vec<&str> = r["switches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["error"].as_str().unwrap_or_default())
        .collect();
    assert!(errors[0].contains("accepted but not applied"), "{errors:#?}");
    assert!(
        errors
            .iter()
            .all(|e| e.contains("not applied") || e.contains("never left")),
        "{errors:#?}"
    );
}

/// A reload command that fails, and one that hangs: each switch is a reload failure with the
/// command's stderr, or killed at the switch timeout, and the run ends on time.
#[test]
fn a_failing_or_hanging_reload_command_is_a_reload_failure() {
    let (a, b) = redact_then_block();
    let gw = Gateway::start(&a);
    std::fs::write(gw.path("b.yaml"), &b).unwrap();
    let run = |cmd: &str| {
        let rest = [
            "--switch-timeout",
            "300ms",
            "--duration",
            "1s",
            "--reloads",
            "2",
            "--concurrency",
            "2",
        ];
        command_mode(&gw.config, &gw.path("b.yaml"), gw.data, cmd, &rest)
    };
    let out = run("echo 'no such site: b' >&2; exit 3");
    let r = report(&out);
    assert_eq!(out.status.code(), Some(1));
    let s = &r["switches"][0];
    assert_eq!(s["command_exit"], 3, "{r:#}");
    assert!(s["error"].as_str().unwrap().contains("no such site: b"), "{s}");

    let started = std::time::Instant::now();
    let out = run("sleep 30");
    let r = report(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(r["switches"][0]["command_exit"].is_null(), "{r:#}");
    assert!(r["switches"][0]["error"].as_str().unwrap().contains("killed"), "{r:#}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the hanging command held the run"
    );
}

/// Ctrl-C in the middle of a run: the report is still printed, the run does not pass, the
/// gateway's config file is what it was, and the gateway is reloaded onto it.
#[test]
fn ctrl_c_puts_the_config_file_back() {
    let (a, b) = redact_then_block();
    let gw = Gateway::start(&a);
    std::fs::write(gw.path("a.yaml"), &a).unwrap();
    std::fs::write(gw.path("b.yaml"), &b).unwrap();
    let before = std::fs::read(&gw.config).unwrap();
    let hash_before = gw.admin("GET", "/admin/status", None, "").json()["hash"].clone();
    let child = Command::new(policy_bin())
        .args(["replay", "--live", "--format", "json", "--traffic"])
        .arg(traffic())
        .args(["--old", gw.path("a.yaml").to_str().unwrap()])
        .args(["--new", gw.path("b.yaml").to_str().unwrap()])
        .args(["--gateway", &format!("http://{}", gw.data)])
        .args(["--config-path", gw.config.to_str().unwrap()])
        .args(["--reload-cmd", &format!("kill -HUP {}", gw.pid())])
        .args(["--duration", "60s", "--reloads", "100", "--concurrency", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the first switch wrote B into the file, then interrupt.
    assert!(
        eventually(Duration::from_secs(10), || std::fs::read(&gw.config).unwrap() != before),
        "the first switch never came"
    );
    policy_replay::process::send_signal(child.id(), policy_replay::process::Signal::INT).unwrap();
    // Bounded without a timer of its own: the run ends by itself after --duration.
    let out = child.wait_with_output().unwrap();
    let r = report(&out);
    assert_eq!(r["interrupted"], true, "{r:#}");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read(&gw.config).unwrap(),
        before,
        "the config file is put back"
    );
    // And the gateway was reloaded onto it: it serves the config it started with again.
    let serving = || gw.admin("GET", "/admin/status", None, "").json()["hash"].clone();
    assert!(
        eventually(Duration::from_secs(10), || serving() == hash_before),
        "serves {} after the run, {hash_before} before\n{}",
        serving(),
        gw.log()
    );
}

/// nginx in front of policy-gateway, run in the foreground so this test holds its pid.
struct Nginx {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// The config of one side: `version` in an `x-config-version` header on every answer.
    fn config(dir: &Path, port: u16, upstream: std::net::SocketAddr, version: &str) -> String {
        let d = dir.display();
        format!(
            "daemon off;\nworker_processes 2;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
             upstream up {{ server {upstream}; keepalive 16; }}\n\
             server {{\n    listen 127.0.0.1:{port};\n    keepalive_requests 100000;\n    location / {{\n      proxy_pass http://up;\n      proxy_http_version 1.1;\n      proxy_set_header Connection \"\";\n      add_header x-config-version {version} always;\n    }}\n  }}\n}}\n"
        )
    }

    fn start(upstream: std::net::SocketAddr) -> Option<Nginx> {
        let Ok(found) = Command::new("nginx").arg("-v").output() else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI needs nginx (apt-get install nginx): .ci/test installs it as root"
            );
            eprintln!("nginx is not installed: skipped");
            return None;
        };
        assert!(found.status.success());
        let dir = tempfile::tempdir().unwrap();
        let port = closed_port();
        for (name, version) in [("a.conf", "a"), ("b.conf", "b")] {
            std::fs::write(
                dir.path().join(name),
                Nginx::config(dir.path(), port, upstream, version),
            )
            .unwrap();
        }
        std::fs::copy(dir.path().join("a.conf"), dir.path().join("nginx.conf")).unwrap();
        let child = Command::new("nginx")
            .args(["-p"])
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let up = eventually(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() && dir.path().join("nginx.pid").exists()
        });
        assert!(
            up,
            "nginx did not start: {}",
            std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
        );
        Some(Nginx { child, port, dir })
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // The master we started, by its pid: it stops its workers.
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::QUIT);
        if !eventually(Duration::from_secs(10), || {
            self.child.try_wait().ok().flatten().is_some()
        }) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Real nginx reloaded with `nginx -s reload` under load: every answer is attributed to a or b
/// by its header, every switch is observed, the verdict checks are skipped (nginx configs are
/// not policy configs) and every drop is counted under one of the documented kinds.
#[test]
fn nginx_reloaded_under_load_is_attributed_and_its_drops_classified() {
    let gw = Gateway::start(&mock_config("1.0.0", 0, "pii-detector"));
    let Some(nginx) = Nginx::start(gw.data) else { return };
    let d = nginx.dir.path();
    let conf = d.join("nginx.conf");
    let before = std::fs::read(&conf).unwrap();
    let cmd = format!("nginx -p {} -c {} -s reload", d.display(), conf.display());
    let data = std::net::SocketAddr::from(([127, 0, 0, 1], nginx.port));
    let rest = [
        "--config-path",
        conf.to_str().unwrap(),
        "--attribute-header",
        "x-config-version",
        "--duration",
        "3s",
        "--reloads",
        "6",
        "--concurrency",
        "8",
    ];
    let out = command_mode(&d.join("a.conf"), &d.join("b.conf"), data, &cmd, &rest);
    let r = report(&out);
    crate::output_schemas::assert_valid("replay-live", "command mode against nginx", &r);
    assert_eq!(r["mode"], "command");
    assert_eq!(r["verdict_checks"], false);
    assert_eq!(r["reload_failures"], 0, "{r:#}");
    assert_eq!(r["unattributed"], 0, "{r:#}");
    let ids: Vec<&str> = r["configs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "b"], "learned from the header");
    let kinds = r["dropped_by_kind"].as_object().unwrap();
    let by_kind: u64 = kinds.values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(
        by_kind,
        r["dropped"].as_u64().unwrap(),
        "every drop has a kind: {kinds:?}"
    );
    let passed = r["passed"].as_bool().unwrap();
    assert_eq!(out.status.code(), Some(if passed { 0 } else { 1 }), "{r:#}");
    assert_eq!(passed, r["dropped"] == 0, "{r:#}");
    assert_eq!(std::fs::read(&conf).unwrap(), before, "nginx.conf is put back");
}
