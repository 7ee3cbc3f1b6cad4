//! Zero-drop restart: ten restarts under 32 keep-alive connections alternating A and B (B
//! changes `worker_threads`, `telemetry` and the admin listener) lose no request and every
//! response comes from one config and one process; a new process that cannot start is
//! reported and the old one serves on; a broken config and a second concurrent restart are
//! refused; resident memory and descriptors of the serving process stay flat over 100
//! restarts.

use crate::configs::mock_config;
use crate::support::{self, Gateway};
use policy_contract::admin::{History, OpKind, OpOutcome};
use policy_replay::live::{self, Endpoint, Options, Plan, Until, Via};
use policy_replay::process::{is_running, stop_pid, STOP_GRACE};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

const TRAFFIC: &str = include_str!("../../../fixtures/traffic/chat.jsonl");

/// Stops the processes a restart left serving (they are not this test's children) when the
/// test ends, however it ends.
#[derive(Default)]
pub struct Successors(Mutex<Vec<u32>>);

impl Successors {
    pub fn adopt(&self, pid: u32) {
        self.0.lock().unwrap().push(pid);
    }
}

impl Drop for Successors {
    fn drop(&mut self) {
        for pid in self.0.lock().unwrap().drain(..) {
            if is_running(pid) {
                stop_pid(pid, STOP_GRACE);
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A, and B that differs from it in restart-class fields only (and its version, so responses
/// can be attributed): worker threads, telemetry and the admin listener.
fn a_and_b(gw_dir: &std::path::Path, admin_port: u16) -> (String, String) {
    let a = mock_config("1.0.0", 0, "prompt-injection, pii-detector").replace("{dir}", &gw_dir.display().to_string());
    let b = a.replace("version: 1.0.0", "version: 2.0.0").replace(
        "  admin: { listen: 127.0.0.1:0 }\n",
        &format!("  admin: {{ listen: 127.0.0.1:{admin_port} }}\n  worker_threads: 3\n"),
    ) + "telemetry: { service_name: restarted-gateway }\n";
    (a, b)
}

fn side(text: &str, name: &str) -> (String, String, policy_config::Config) {
    let config = policy_lint::load_config_str(name, text).expect("a valid config").0;
    (name.to_string(), text.to_string(), config)
}

fn admin_json(admin: SocketAddr, method: &str, path: &str, body: &str) -> (u16, Value) {
    let r = support::request(admin, method, path, &[], body.as_bytes());
    (r.status, r.json())
}

#[test]
fn ten_restarts_under_load_drop_nothing_and_each_response_has_one_config_and_one_process() {
    let gw = Gateway::start(&mock_config("1.0.0", 0, "prompt-injection, pii-detector"));
    let successors = Successors::default();
    let (a, b) = a_and_b(gw.dir.path(), free_port());
    let (traffic, _) = policy_replay::traffic::parse(TRAFFIC);
    let plan = Plan::for_via(side(&a, "a.yaml"), side(&b, "b.yaml"), &traffic, Via::Restart).unwrap();
    let options = Options {
        concurrency: 32,
        rate: None,
        until: Until::Duration(Duration::from_secs(12)),
        reloads: 10,
        via: Via::Restart,
        timeout: Duration::from_secs(10),
        command: None,
    };
    let ep = Endpoint {
        data: gw.data,
        admin: gw.admin,
        token: None,
    };
    let report = live::run(&plan, &ep, &options);
    if let Some(pid) = report.as_ref().ok().and_then(|r| r.final_pid) {
        successors.adopt(pid);
    }
    let r = report.unwrap();
    assert!(r.passed, "{r:#?}\n{}", gw.log());
    assert_eq!(
        (r.dropped, r.unattributed, r.mismatched, r.reload_failures),
        (0, 0, 0, 0)
    );
    assert_eq!(r.reload_events.len(), 10);
    let mut pids: Vec<u32> = r.reload_events.iter().filter_map(|e| e.pid).collect();
    pids.push(gw.pid() as u32);
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 11, "every restart changed the pid: {:?}", r.reload_events);
    assert!(r.processes.len() >= 10, "{:?}", r.processes);
    assert!(r.processes.iter().all(|p| p.configs.len() == 1), "{:?}", r.processes);
    assert!(r.requests > 1000, "{} requests", r.requests);
    // The last process inherited the history: all ten restarts, each applied.
    let admin: SocketAddr = r.final_admin.as_deref().unwrap().parse().unwrap();
    let (_, history) = admin_json(admin, "GET", "/admin/history", "");
    let history: History = serde_json::from_value(history).unwrap();
    let restarts: Vec<_> = history.operations.iter().filter(|o| o.op == OpKind::Restart).collect();
    assert_eq!(restarts.len(), 10, "{history:#?}");
    assert!(restarts
        .iter()
        .all(|o| o.outcome == OpOutcome::Applied && o.pending_restart.is_empty()));
    let (_, status) = admin_json(admin, "GET", "/admin/status", "");
    assert_eq!(status["pending_restart"], serde_json::json!([]));
    assert_eq!(status["version"], "1.0.0", "ten restarts from A end on A");
}

#[test]
fn a_new_process_that_cannot_start_is_reported_and_the_old_one_serves_on() {
    let gw = Gateway::start(&mock_config("1.0.0", 0, "prompt-injection"));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let b = mock_config("2.0.0", 0, "prompt-injection")
        .replace("listen: 127.0.0.1:0\n", &format!("listen: 127.0.0.1:{port}\n"));
    let (code, answer) = admin_json(gw.admin, "POST", "/admin/restart", &b);
    assert_eq!(code, 500, "{answer}");
    assert_eq!(answer["status"], "rejected");
    assert_eq!(answer["operation"]["outcome"], "failed");
    assert!(
        answer["error"].as_str().unwrap().contains("this one serves on"),
        "{answer}"
    );
    let h = gw.health();
    assert_eq!(h["config_version"], "1.0.0");
    let (_, status) = admin_json(gw.admin, "GET", "/admin/status", "");
    assert_eq!(status["pid"], gw.pid());
    assert!(gw.log().contains("Address already in use"), "{}", gw.log());
    // The failed attempt released the restart: a good one goes through.
    let successors = Successors::default();
    let (code, answer) = admin_json(
        gw.admin,
        "POST",
        "/admin/restart",
        &mock_config("3.0.0", 0, "prompt-injection"),
    );
    if let Some(pid) = answer["pid"].as_u64() {
        successors.adopt(pid as u32);
    }
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["version"], "3.0.0");
    drop(taken);
}

#[test]
fn a_broken_config_or_a_second_restart_is_refused() {
    let gw = Gateway::start(&mock_config("1.0.0", 0, "prompt-injection"));
    let (code, answer) = admin_json(gw.admin, "POST", "/admin/restart", "pack: {}\n");
    assert_eq!(code, 422, "{answer}");
    assert!(
        answer["diagnostics"].as_array().is_some_and(|d| !d.is_empty()),
        "{answer}"
    );
    let successors = Successors::default();
    let admin = gw.admin;
    // The refused one above logged its start too.
    let started = || gw.log().matches("restart (admin) started").count();
    let before = started();
    // 600 patterns no engine in this process has compiled: about 0.3 s to compile in a debug
    // build, in each of the two processes, so the first restart is still running when the
    // second request arrives.
    let mut slow = mock_config("2.0.0", 0, "prompt-injection");
    slow.push_str("  prompt-injection:\n    extra_patterns:\n");
    for i in 0..600 {
        slow.push_str(&format!("      - '(?i)\\bslow pattern {i} [a-z]{{3,9}}\\b'\n"));
    }
    let first = std::thread::spawn(move || admin_json(admin, "POST", "/admin/restart", &slow));
    // The first restart has taken the one-at-a-time flag once it logs its start; it then
    // lints, compiles and starts a process before it hands the admin listener over, so the
    // second request reaches this process while it runs.
    support::wait_until(Duration::from_secs(10), "the first restart to start", || {
        started() > before
    });
    let (second, body) = admin_json(
        gw.admin,
        "POST",
        "/admin/restart",
        &mock_config("3.0.0", 0, "prompt-injection"),
    );
    let (code, answer) = first.join().unwrap();
    if let Some(pid) = answer["pid"].as_u64() {
        successors.adopt(pid as u32);
    }
    assert_eq!(code, 200, "{answer}");
    assert_eq!(second, 409, "{body}");
    assert_eq!(body["error"], "a restart is already running");
}

#[test]
fn a_change_that_only_waits_for_a_restart_keeps_the_revert_target() {
    let gw = Gateway::start(&mock_config("1.0.0", 0, "prompt-injection"));
    let successors = Successors::default();
    let revert_to = || admin_json(gw.admin, "GET", "/admin/status", "").1["revert_to"]["version"].clone();
    let two = mock_config("2.0.0", 0, "prompt-injection");
    assert_eq!(admin_json(gw.admin, "POST", "/admin/reload", &two).0, 200);
    assert_eq!(revert_to(), "1.0.0");
    // Only a restart-class field changes: it waits, what serves is unchanged, and a revert must
    // still reach 1.0.0 (it used to target 2.0.0 itself, a revert that changed nothing).
    let threads = two.replace("gateway:\n", "gateway:\n  worker_threads: 3\n");
    let (code, answer) = admin_json(gw.admin, "POST", "/admin/reload", &threads);
    assert_eq!(code, 200, "{answer}");
    assert_eq!(
        answer["pending_restart"],
        serde_json::json!(["/gateway/worker_threads"])
    );
    assert_eq!(revert_to(), "1.0.0");
    // The restart that applies it changes nothing that serves either: the new process
    // inherits the same target.
    let (code, answer) = admin_json(gw.admin, "POST", "/admin/restart", &threads);
    if let Some(pid) = answer["pid"].as_u64() {
        successors.adopt(pid as u32);
    }
    assert_eq!(code, 200, "{answer}");
    assert_eq!(revert_to(), "1.0.0");
    let (code, answer) = admin_json(gw.admin, "POST", "/admin/revert", "");
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["version"], "1.0.0");
}

/// Resident size (KiB) and open descriptors of `pid`, counted once it holds no connection
/// (one the test just closed may still be open on its side).
fn footprint(pid: u32) -> (u64, usize) {
    let fds = support::settled_fds(pid);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    (rss, fds)
}

#[test]
#[ignore = "soak: run by `.ci/test --soak`"]
fn memory_and_descriptors_stay_flat_over_100_restarts() {
    let gw = Gateway::start(&mock_config("1.0.0", 0, "prompt-injection"));
    let successors = Successors::default();
    let mut admin = gw.admin;
    let mut pid = gw.pid() as u32;
    let mut samples = Vec::new();
    for i in 1..=100 {
        let version = if i % 2 == 1 { "2.0.0" } else { "1.0.0" };
        let (code, answer) = admin_json(
            admin,
            "POST",
            "/admin/restart",
            &mock_config(version, 0, "prompt-injection"),
        );
        assert_eq!(code, 200, "restart {i}: {answer}");
        let next = answer["pid"].as_u64().unwrap() as u32;
        successors.adopt(next);
        assert_ne!(next, pid);
        // Wait for the old process to finish its drain, so it holds no shared socket (the
        // first one is this test's child: it stays a zombie, which `is_running` counts as ended).
        support::wait_until(
            Duration::from_secs(10),
            &format!("pid {pid} to drain and exit after restart {i}"),
            || !is_running(pid),
        );
        pid = next;
        admin = answer["admin_listen"].as_str().unwrap().parse().unwrap();
        assert_eq!(support::request(gw.data, "GET", "/health", &[], b"").status, 200);
        if i == 10 || i == 100 {
            samples.push(footprint(pid));
        }
    }
    let ((rss10, fds10), (rss100, fds100)) = (samples[0], samples[1]);
    eprintln!(
        "serving process after restart 10: {rss10} KiB, {fds10} fds; after restart 100: {rss100} KiB, {fds100} fds"
    );
    assert_eq!(fds100, fds10, "no descriptor is inherited and kept");
    assert!(rss100 * 10 <= rss10 * 13, "RSS {rss10} -> {rss100} KiB");
}

#[test]
fn the_cli_proves_restarts_and_its_report_marks_them() {
    let gateway_bin = std::path::PathBuf::from(env!("CARGO_BIN_EXE_policy-gateway"));
    let policy_bin = crate::support::policy_bin();
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    let out = std::process::Command::new(&policy_bin)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args([
            "replay",
            "--live",
            "--mock",
            "--format",
            "json",
            "--reload-via",
            "restart",
        ])
        .args(["--duration", "6s", "--reloads", "4", "--concurrency", "8"])
        .args(["--traffic", "fixtures/traffic/chat.jsonl"])
        .args([
            "--old",
            "fixtures/gateway/demo.yaml",
            "--new",
            "fixtures/gateway/demo-next.yaml",
        ])
        .arg("--gateway-bin")
        .arg(&gateway_bin)
        .arg("--report")
        .arg(&html)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_str(&stdout).unwrap();
    crate::output_schemas::assert_valid(
        "replay-live",
        "policy replay --live --mock --reload-via restart --format json",
        &r,
    );
    assert_eq!(r["reload_via"], "restart");
    assert_eq!(r["reload_failures"], 0);
    let events = r["reload_events"].as_array().unwrap();
    assert!(
        events.iter().all(|e| e["kind"] == "restart" && e["pid"].is_u64()),
        "{r}"
    );
    let pids: std::collections::BTreeSet<u64> = events.iter().filter_map(|e| e["pid"].as_u64()).collect();
    assert_eq!(pids.len(), 4, "every restart started a new process: {r}");
    // The first process and one per restart; the last one answers only if it became ready
    // before the load ended (the last restart is triggered at 4/5 of the run, and a restart
    // under a loaded CI machine can take most of a second).
    let processes = r["processes"].as_array().unwrap();
    assert!((4..=5).contains(&processes.len()), "{r}");
    assert!(
        processes.iter().all(|p| p["configs"].as_array().unwrap().len() == 1),
        "{r}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert_eq!(
        page.matches(r#"<line class="restart""#).count(),
        4,
        "restarts are drawn apart"
    );
    assert!(page.contains("<h2>Processes</h2>"));
    // The run stopped the process its restarts left serving.
    let last = r["final_pid"].as_u64().unwrap() as u32;
    assert!(
        support::eventually(Duration::from_secs(10), || !is_running(last)),
        "pid {last} still runs"
    );
}
