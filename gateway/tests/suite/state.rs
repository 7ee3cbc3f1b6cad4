//! What survives the process: with `--state-dir`, history and the revert target outlive
//! `kill -9`; a corrupt state file is a warning, not a failed start; an unusable directory is
//! a start error (exit 2). And `--check`: exit 0/1/2 without binding anything.

use crate::configs::{mock_config, FULL_CHAIN};
use crate::support::{Gateway, Opts};
use policy_replay::process::Signal;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A config whose text does not depend on the gateway's temp dir (its audit log is relative
/// to the working directory), so two gateways can start on identical bytes.
fn config(version: &str) -> String {
    mock_config(version, 0, FULL_CHAIN).replace("{dir}/", "")
}

fn with_state_dir(dir: &Path) -> Opts<'static> {
    Opts {
        args: vec!["--state-dir".into(), dir.display().to_string()],
        ..Opts::default()
    }
}

fn operations(gw: &Gateway) -> Vec<Value> {
    gw.admin("GET", "/admin/history", None, "").json()["operations"]
        .as_array()
        .cloned()
        .unwrap()
}

fn column<'a>(ops: &'a [Value], pointer: &str) -> Vec<&'a Value> {
    ops.iter().map(|o| o.pointer(pointer).unwrap_or(&Value::Null)).collect()
}

#[test]
fn history_and_revert_survive_kill_9() {
    let state = tempfile::tempdir().unwrap();
    let mut first = Gateway::start_with(&config("1.0.0"), with_state_dir(state.path()));
    for v in ["2.0.0", "3.0.0", "4.0.0"] {
        first.write_config(&config(v));
        let r = first.admin("POST", "/admin/reload", None, "");
        assert_eq!((r.status, r.json()["status"].clone()), (200, "applied".into()), "{r:?}");
    }
    first.signal(Signal::KILL);
    first.wait_exit(Duration::from_secs(10)).expect("killed");

    // The file the next process starts with is the one that was serving: revert goes to the
    // config before the last reload.
    let second = Gateway::start_with(&config("4.0.0"), with_state_dir(state.path()));
    let ops = operations(&second);
    assert_eq!(
        column(&ops, "/op"),
        ["start", "reload", "reload", "reload", "start"],
        "{ops:#?}"
    );
    assert_eq!(column(&ops, "/seq"), [1, 2, 3, 4, 5]);
    assert_eq!(
        column(&ops, "/to/version"),
        ["1.0.0", "2.0.0", "3.0.0", "4.0.0", "4.0.0"]
    );
    let status = second.admin("GET", "/admin/status", None, "").json();
    let absolute = std::path::absolute(state.path()).unwrap();
    assert_eq!(status["state_dir"], absolute.display().to_string());
    assert_eq!(status["revert_to"]["version"], "3.0.0", "{status:#}");
    let r = second.admin("POST", "/admin/revert", None, "");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(second.health()["config_version"], "3.0.0");
    assert_eq!(second.chat("hi").header("x-policy-config-version"), Some("3.0.0"));
    let ops = operations(&second);
    assert_eq!((&ops[5]["op"], &ops[5]["seq"]), (&"revert".into(), &6.into()));
    drop(second);

    // A start on a different file: the config that was serving (3.0.0, after the revert) is
    // what revert goes back to.
    let third = Gateway::start_with(&config("5.0.0"), with_state_dir(state.path()));
    let status = third.admin("GET", "/admin/status", None, "").json();
    assert_eq!(status["revert_to"]["version"], "3.0.0", "{status:#}");
    assert_eq!(operations(&third).last().unwrap()["seq"], 7);
    assert_eq!(third.admin("POST", "/admin/revert", None, "").status, 200);
    assert_eq!(third.health()["config_version"], "3.0.0");
}

#[test]
fn a_corrupt_state_file_is_a_warning_naming_it() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("history.json"), "{\"operations\": [{\"seq\": 1, tor").unwrap();
    std::fs::write(state.path().join("active.yaml"), "pack: [unclosed").unwrap();
    let gw = Gateway::start_with(&config("1.0.0"), with_state_dir(state.path()));
    let log = gw.log();
    let history = state.path().join("history.json").display().to_string();
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains(&history) && l.contains("corrupt")),
        "{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("active.yaml") && l.contains("nothing to revert to")),
        "{log}"
    );
    let ops = operations(&gw);
    assert_eq!(column(&ops, "/op"), ["start"]);
    assert_eq!(column(&ops, "/seq"), [1]);
    assert!(
        state.path().join("history.json.corrupt").exists(),
        "kept for a post-mortem"
    );
    let stored: Value =
        serde_json::from_str(&std::fs::read_to_string(state.path().join("history.json")).unwrap()).unwrap();
    assert_eq!(stored["operations"].as_array().unwrap().len(), 1, "rewritten whole");
    assert_eq!(gw.admin("POST", "/admin/revert", None, "").status, 409);
}

fn gateway_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_policy-gateway"))
}

#[test]
fn an_unusable_state_dir_is_a_start_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, config("1.0.0")).unwrap();
    std::fs::write(dir.path().join("file"), "").unwrap();
    let out = gateway_bin()
        .arg("--config")
        .arg(&cfg)
        .arg("--state-dir")
        .arg(dir.path().join("file/state"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--state-dir") && stderr.contains("file/state"),
        "{stderr}"
    );
}

#[test]
fn check_exits_0_1_2_for_a_good_a_broken_and_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let (good, broken) = (dir.path().join("good.yaml"), dir.path().join("broken.yaml"));
    std::fs::write(&good, config("1.2.3")).unwrap();
    std::fs::write(&broken, mock_config("1.0.0", 0, "prompt-injection, pii-detectr")).unwrap();
    let check = |file: &Path| gateway_bin().arg("--check").arg("--config").arg(file).output().unwrap();

    let out = check(&good);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let prefix = format!("{}: ok (pack test-pack 1.2.3, hash sha256:", good.display());
    assert!(
        stdout.starts_with(&prefix) && stdout.trim_end().ends_with(')'),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 1);

    let out = check(&broken);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("P301") && stderr.contains("check failed"), "{stderr}");
    assert!(out.stdout.is_empty());

    let out = check(&dir.path().join("missing.yaml"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot read") && stderr.contains("missing.yaml"),
        "{stderr}"
    );
}
