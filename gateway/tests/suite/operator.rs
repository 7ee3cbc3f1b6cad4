//! `policy gateway status|reload|revert`, the real `policy` binary against the real
//! gateway on loopback: a config lint refuses is never sent, a good one serves, revert brings
//! the previous back, the history has its documented shape, and a refused token or a closed port
//! end the command with exit 2 and a message that says what to do.

use crate::configs::{mock_config, FULL_CHAIN};
use crate::output_schemas::assert_valid;
use crate::support::{Gateway, Opts};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;

/// The `policy` binary beside `policy-gateway`, checked once to know `policy gateway`.
fn policy_bin() -> PathBuf {
    let bin = crate::support::policy_bin();
    let help = std::process::Command::new(&bin)
        .args(["gateway", "--help"])
        .output()
        .unwrap();
    assert!(
        help.status.success(),
        "{} has no `gateway` subcommand: it is stale, rebuild it with `cargo build -p policy`",
        bin.display()
    );
    bin
}

/// Run `policy ARGS` with `env` set (and the admin token variable unset unless given).
fn policy(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = std::process::Command::new(policy_bin());
    cmd.args(args).env_remove("POLICY_ADMIN_TOKEN").env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("policy runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// stderr with the report's wrapping undone (no whitespace, no gutter), for `contains`.
fn flat_stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr)
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '|')
        .collect()
}

fn flat(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

fn history_len(gw: &Gateway) -> usize {
    gw.admin("GET", "/admin/history", None, "").json()["operations"]
        .as_array()
        .unwrap()
        .len()
}

fn served_version(gw: &Gateway) -> String {
    gw.chat("Hello")
        .header("x-policy-config-version")
        .unwrap_or_default()
        .to_string()
}

#[test]
fn reload_lints_first_and_revert_brings_the_previous_back() {
    let gw = Gateway::start(&mock_config("1.0.0", 0, FULL_CHAIN));
    let admin = format!("http://{}", gw.admin);
    let dir = gw.dir.path().display().to_string();
    let write = |name: &str, text: String| {
        let path = gw.path(name);
        std::fs::write(&path, text.replace("{dir}", &dir)).unwrap();
        path.display().to_string()
    };

    // Nothing was replaced yet: revert is refused.
    let o = policy(&["gateway", "revert", "--admin", &admin], &[]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(stdout(&o).contains("nothing to revert to"), "{}", stdout(&o));

    // A config lint refuses is printed as `policy lint` prints it, and never sent.
    let broken = write(
        "broken.yaml",
        mock_config("2.0.0", 0, FULL_CHAIN) + "unknown_section: 1\n",
    );
    let o = policy(&["gateway", "reload", "--config", &broken, "--admin", &admin], &[]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let lint = policy(&["lint", &broken], &[]);
    assert_eq!(
        stdout(&o),
        stdout(&lint),
        "the diagnostics exactly as `policy lint` prints them"
    );
    assert_eq!(history_len(&gw), 1, "nothing was sent: only the start is recorded");
    let o = policy(
        &[
            "gateway", "reload", "--config", &broken, "--admin", &admin, "--format", "json",
        ],
        &[],
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["errors"], 1, "{v}");
    assert_valid(
        "lint",
        "policy gateway reload --format json (a config with lint errors)",
        &v,
    );

    // A good one: the plan, then the gateway's answer; the new version serves.
    let good = write("good.yaml", mock_config("2.0.0", 0, FULL_CHAIN));
    let o = policy(&["gateway", "reload", "--config", &good, "--admin", &admin], &[]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let out = stdout(&o);
    assert!(
        out.contains("/pack/version") && out.contains("[hot]"),
        "the plan: {out}"
    );
    assert!(out.contains("reloaded test-pack to version 2.0.0 (sha256:"), "{out}");
    assert_eq!(served_version(&gw), "2.0.0");

    // Revert brings 1.0.0 back; a second revert undoes the first.
    let o = policy(&["gateway", "revert", "--admin", &admin], &[]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(
        stdout(&o).contains("reverted test-pack to version 1.0.0"),
        "{}",
        stdout(&o)
    );
    assert_eq!(served_version(&gw), "1.0.0");
    let o = policy(&["gateway", "revert", "--admin", &admin], &[]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(served_version(&gw), "2.0.0");

    // The documented history shape, one entry per operation.
    let o = policy(
        &["gateway", "status", "--history", "--format", "json", "--admin", &admin],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_valid("gateway-status", "policy gateway status --history --format json", &v);
    assert_eq!(v["version"], "2.0.0");
    assert!(v["hash"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(v["pid"], gw.pid());
    assert_eq!(v["pending_restart"], serde_json::json!([]));
    let ops = v["operations_history"].as_array().unwrap();
    let actions: Vec<&str> = ops.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["start", "reload", "revert", "revert"]);
    for e in ops {
        let keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "action",
                "outcome",
                "trigger",
                "from_version",
                "target_version",
                "hash",
                "at",
                "duration_ms",
                "error"
            ]
        );
        assert_eq!(e["outcome"], "succeeded");
    }
    assert_eq!(ops[1]["from_version"], "1.0.0");
    assert_eq!(ops[1]["target_version"], "2.0.0");
    assert_eq!(ops[1]["trigger"], "admin");

    let o = policy(
        &[
            "gateway", "status", "--action", "revert", "--format", "json", "--admin", &admin,
        ],
        &[],
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_valid(
        "gateway-status",
        "policy gateway status --action revert --format json",
        &v,
    );
    assert_eq!(v["operations_history"].as_array().unwrap().len(), 2, "{v}");

    let o = policy(&["gateway", "status", "--history", "--admin", &admin], &[]);
    let out = stdout(&o);
    assert!(
        out.contains("version          2.0.0") && out.contains("pack             test-pack"),
        "{out}"
    );
    assert_eq!(out.lines().filter(|l| l.contains(" succeeded ")).count(), 4, "{out}");
}

#[test]
fn a_refused_token_or_a_closed_port_is_exit_2_with_what_to_do() {
    let config = mock_config("1.0.0", 0, FULL_CHAIN).replace(
        "admin: { listen: 127.0.0.1:0 }",
        "admin: { listen: 127.0.0.1:0, token_env: POLICY_ADMIN_TOKEN }",
    );
    let gw = Gateway::start_with(
        &config,
        Opts {
            env: vec![("POLICY_ADMIN_TOKEN", "correct-horse")],
            ..Opts::default()
        },
    );
    let admin = format!("http://{}", gw.admin);
    let args = [
        "gateway",
        "status",
        "--admin",
        &admin,
        "--token-env",
        "POLICY_ADMIN_TOKEN",
    ];

    let o = policy(&args, &[("POLICY_ADMIN_TOKEN", "wrong")]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = flat_stderr(&o);
    assert!(err.contains("401") && err.contains("--token-env"), "{err}");

    let o = policy(&args, &[]);
    assert_eq!(o.status.code(), Some(2), "the variable unset: a usage error, {o:?}");
    assert!(flat_stderr(&o).contains(&flat("POLICY_ADMIN_TOKEN: the variable is not set")));

    let o = policy(&args, &[("POLICY_ADMIN_TOKEN", "correct-horse")]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");

    // The token variable defaults to the config's token_env.
    let file = gw.path("with-token.yaml");
    std::fs::write(&file, &config).unwrap();
    let o = policy(
        &[
            "gateway",
            "status",
            "--admin",
            &admin,
            "--config",
            file.to_str().unwrap(),
        ],
        &[("POLICY_ADMIN_TOKEN", "correct-horse")],
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");

    // A closed port: bind a free one, then let it go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let o = policy(&["gateway", "status", "--admin", &format!("http://{closed}")], &[]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    let err = flat_stderr(&o);
    assert!(
        err.contains(&closed.to_string()) && err.contains("unreachable"),
        "{err}"
    );
}

#[test]
fn status_and_revert_reach_the_gateway_through_a_file_with_lint_errors() {
    let gw = Gateway::start(&mock_config("1.0.0", 0, FULL_CHAIN));
    let dir = gw.dir.path().display().to_string();
    let named = mock_config("1.0.0", 0, FULL_CHAIN)
        .replace(
            "admin: { listen: 127.0.0.1:0 }",
            &format!("admin: {{ listen: \"{}\" }}", gw.admin),
        )
        .replace("{dir}", &dir);
    // A broken push is when status and revert are needed most: the file's admin address
    // still reaches the gateway, with a warning.
    let broken = gw.path("broken.yaml");
    std::fs::write(&broken, named.clone() + "unknown_section: 1\n").unwrap();
    let broken = broken.display().to_string();
    let o = policy(&["gateway", "status", "--config", &broken], &[]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(stdout(&o).contains("version          1.0.0"), "{}", stdout(&o));
    assert!(flat_stderr(&o).contains(&flat("1 lint error(s)")), "{o:?}");
    let o = policy(&["gateway", "revert", "--config", &broken], &[]);
    assert_eq!(o.status.code(), Some(1), "reached, and nothing to revert to: {o:?}");
    assert!(stdout(&o).contains("nothing to revert to"), "{}", stdout(&o));
    // Reload still lints first and sends nothing.
    let o = policy(&["gateway", "reload", "--config", &broken], &[]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert_eq!(history_len(&gw), 1);

    // A change that waits for a restart names the file the restart must be given: without
    // it, the gateway re-reads its own file.
    let threads = gw.path("threads.yaml");
    std::fs::write(&threads, named.replace("gateway:\n", "gateway:\n  worker_threads: 3\n")).unwrap();
    let threads = threads.display().to_string();
    let o = policy(&["gateway", "reload", "--config", &threads], &[]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert!(
        stdout(&o).contains(&format!(
            "run `policy gateway restart --config {threads}` to apply them"
        )),
        "{}",
        stdout(&o)
    );
}

/// `status` names where the active config came from: after `reload --config OTHER` (posted as
/// a body) it no longer names the `--config` file as if that served (it did, and a later SIGHUP
/// or plain `reload` silently went back to the file). A plain `reload` then warns before it
/// sends, and the gateway warns when it re-reads a file that is not what serves.
#[test]
fn status_names_the_active_configs_source_and_a_plain_reload_warns_when_it_differs() {
    let gw = Gateway::start(&mock_config("1.0.0", 0, FULL_CHAIN));
    let admin = format!("http://{}", gw.admin);
    let status = || -> Value {
        let o = policy(&["gateway", "status", "--format", "json", "--admin", &admin], &[]);
        assert_eq!(o.status.code(), Some(0), "{o:?}");
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_valid("gateway-status", "policy gateway status --format json", &v);
        v
    };
    let s = status();
    assert_eq!(s["source"]["kind"], "file", "{s}");
    assert_eq!(s["source"]["path"], s["config_path"], "{s}");

    let other = gw.path("dev-v2.yaml");
    std::fs::write(&other, mock_config("2.0.0", 0, FULL_CHAIN)).unwrap();
    let o = policy(
        &[
            "gateway",
            "reload",
            "--config",
            other.to_str().unwrap(),
            "--admin",
            &admin,
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let s = status();
    assert_eq!(s["source"]["kind"], "admin-body", "{s}");
    assert!(s["source"]["at"].as_str().is_some_and(|at| at.ends_with('Z')), "{s}");
    let human = policy(&["gateway", "status", "--admin", &admin], &[]);
    let human = stdout(&human);
    assert!(
        human.contains("serving from")
            && human.contains("posted to the admin API")
            && human.contains("not the config file"),
        "{human}"
    );

    // A plain reload re-reads the gateway's own file (1.0.0): the CLI and the gateway say so.
    let o = policy(&["gateway", "reload", "--admin", &admin], &[]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("warning: the gateway will re-read") && stderr.contains("the file replaces it"),
        "{stderr}"
    );
    assert_eq!(served_version(&gw), "1.0.0");
    crate::support::wait_until(
        std::time::Duration::from_secs(10),
        "the gateway's re-read warning",
        || {
            gw.log()
                .contains("but the active config came from a body posted to the admin API")
        },
    );
    let s = status();
    assert_eq!(
        (s["source"]["kind"].as_str(), s["version"].as_str()),
        (Some("file"), Some("1.0.0")),
        "{s}"
    );
}
