//! A fleet on loopback: five real gateways in one inventory group under steady load from the
//! project's own driver (`replay::live::steady`).
//! `policy rollout` of a good config converges in three waves; a config that lints clean but
//! blocks almost everything is caught by the verdict-mix gate on the first batch and rolled
//! back, with no response from the bad config outside that batch; an unreachable gateway or a
//! wrong token stops the rollout before anything is touched; Ctrl-C finishes the current batch and
//! reports where the fleet stands; `policy fleet status` shows drift.

use crate::output_schemas::assert_valid;
use crate::support::{completions, wait_until, Gateway, Opts};
use policy_replay::live::steady::Steady;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

const TRAFFIC: &str = include_str!("../../../fixtures/traffic/chat.jsonl");

/// One config for the whole group (no per-instance path in it, so every gateway's hash is the
/// same); `extra` is appended to the `policy:` section.
fn fleet_config(version: &str, extra: &str) -> String {
    format!(
        "pack: {{ name: fleet, version: {version} }}\ngateway:\n  listen: 127.0.0.1:0\n  admin: {{ listen: 127.0.0.1:0, token_env: FLEET_ADMIN_TOKEN }}\nproviders:\n  targets:\n    - {{ id: mock, provider: mock }}\npolicies:\n  chain: [prompt-injection, pii-detector, content-filter]\npolicy:\n  content-filter:\n    rules:\n      - {{ id: no-export, pattern: 'bulk export', action: block }}\n{extra}"
    )
}

const TOKEN: &str = "fleet-test-token";

struct Fleet {
    gateways: Vec<Gateway>,
    dir: tempfile::TempDir,
    inventory: PathBuf,
}

fn start_fleet(n: usize) -> Fleet {
    let config = fleet_config("1.0.0", "");
    let gateways: Vec<Gateway> = (0..n)
        .map(|_| {
            Gateway::start_with(
                &config,
                Opts {
                    env: vec![("FLEET_ADMIN_TOKEN", TOKEN)],
                    args: vec![],
                },
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory.yaml");
    write_inventory(&inventory, &gateways, "FLEET_ADMIN_TOKEN");
    Fleet {
        gateways,
        dir,
        inventory,
    }
}

fn write_inventory(path: &Path, gateways: &[Gateway], token_env: &str) {
    let mut text = String::from("groups:\n  production:\n    gateways:\n");
    for (i, g) in gateways.iter().enumerate() {
        text.push_str(&format!(
            "      - {{ name: gw-{:02}, admin: \"http://{}\", token_env: {token_env} }}\n",
            i + 1,
            g.admin
        ));
    }
    std::fs::write(path, text).unwrap();
}

fn policy(args: &[&str], envs: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(crate::support::policy_bin());
    cmd.args(args).env("NO_COLOR", "1");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Steady load on every gateway from the project's own load driver (`replay::live::steady`):
/// two keep-alive connections each, recorded requests round robin.
fn load(fleet: &Fleet) -> Steady {
    let (traffic, _) = policy_replay::traffic::parse(TRAFFIC);
    let addrs = fleet.gateways.iter().map(|g| g.data).collect();
    let steady = Steady::start(addrs, &traffic, 2, Duration::from_secs(120)).unwrap();
    // A rollout gates on what the gateways answer meanwhile: the load must be flowing, on
    // every one of them, before it starts.
    for (i, g) in fleet.gateways.iter().enumerate() {
        wait_until(
            Duration::from_secs(10),
            &format!("gw-{:02} to answer {LOAD_FLOWING} completions of the load", i + 1),
            || completions(&g.admin("GET", "/metrics", Some(TOKEN), "").body) >= LOAD_FLOWING,
        );
    }
    steady
}

/// Completions each gateway answers before a test goes on under load: a few rounds of both
/// connections, so the load runs and is not merely connecting.
const LOAD_FLOWING: f64 = 20.0;

fn hashes(fleet: &Fleet) -> Vec<String> {
    fleet
        .gateways
        .iter()
        .map(|g| g.health()["config_hash"].as_str().unwrap().to_string())
        .collect()
}

#[test]
#[ignore = "soak: run by `.ci/test --soak`"]
fn a_good_config_converges_in_three_waves_and_a_blocking_one_is_rolled_back() {
    let fleet = start_fleet(5);
    let before = hashes(&fleet);
    assert_eq!(before.iter().collect::<BTreeSet<_>>().len(), 1, "one file, one hash");
    let inv = fleet.inventory.display().to_string();
    let env = [("FLEET_ADMIN_TOKEN", TOKEN)];
    let load = load(&fleet);

    // The dry run plans and touches nothing.
    let good = fleet.dir.path().join("good.yaml");
    std::fs::write(&good, fleet_config("2.0.0", "")).unwrap();
    let good_s = good.display().to_string();
    let traffic = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/traffic/chat.jsonl");
    let (code, out, err) = policy(
        &[
            "rollout",
            "--inventory",
            &inv,
            "--group",
            "production",
            "--file",
            &good_s,
            "--dry-run",
            "--traffic",
            traffic,
            "--format",
            "json",
        ],
        &env,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_valid("rollout", "policy rollout --dry-run --traffic FILE --format json", &r);
    assert_eq!(r["outcome"], "dry_run");
    assert!(
        r["plan"].as_array().unwrap().iter().all(|p| p["class"] == "hot"),
        "{r:#}"
    );
    assert!(r["predicted_shift"].is_object(), "{r:#}");
    assert_eq!(hashes(&fleet), before, "a dry run touches nothing");

    // A good config: three waves of 2, 2, 1.
    let good = fleet.dir.path().join("good.yaml");
    std::fs::write(&good, fleet_config("2.0.0", "")).unwrap();
    let good_s = good.display().to_string();
    let args = [
        "rollout",
        "--inventory",
        &inv,
        "--group",
        "production",
        "--file",
        &good_s,
    ];
    let (code, out, err) = policy(
        &[&args[..], &["--batch-size", "2", "--bake", "2s", "--format", "json"]].concat(),
        &env,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_valid("rollout", "policy rollout --format json (completed in three waves)", &r);
    assert_eq!(r["outcome"], "completed");
    assert_eq!(r["waves"].as_array().unwrap().len(), 3, "{r:#}");
    for w in r["waves"].as_array().unwrap() {
        let names: Vec<&str> = w["gates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["health", "error_rate", "verdict_mix"], "{w}");
        assert_eq!(w["passed"], true, "{w}");
    }
    let good_hash = r["hash"].as_str().unwrap().to_string();
    assert!(hashes(&fleet).iter().all(|h| *h == good_hash));

    // A config that lints clean but blocks nearly everything: caught on the canary.
    let bad = fleet.dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        fleet_config("3.0.0", "      - { id: everything, pattern: '.', action: block }\n"),
    )
    .unwrap();
    let (code, _, _) = policy(&["lint", bad.to_str().unwrap()], &[]);
    assert_eq!(code, 0, "the bad config lints clean");
    let bad_s = bad.display().to_string();
    let args = [
        "rollout",
        "--inventory",
        &inv,
        "--group",
        "production",
        "--file",
        &bad_s,
    ];
    let (code, out, err) = policy(
        &[
            &args[..],
            &[
                "--batch-size",
                "1",
                "--bake",
                "2s",
                "--rollback-on-error",
                "--max-verdict-shift",
                "0.2",
                "--format",
                "json",
            ],
        ]
        .concat(),
        &env,
    );
    let seen: Vec<(usize, String)> = load
        .finish()
        .into_iter()
        .filter_map(|a| Some((a.target, a.hash?)))
        .collect();
    assert_eq!(code, 1, "{out}\n{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_valid(
        "rollout",
        "policy rollout --rollback-on-error --format json (rolled back)",
        &r,
    );
    assert_eq!(r["outcome"], "rolled_back", "{r:#}");
    assert_eq!(r["waves"].as_array().unwrap().len(), 1);
    let mix = &r["waves"][0]["gates"][2];
    assert_eq!(
        (mix["name"].as_str(), mix["passed"].as_bool()),
        (Some("verdict_mix"), Some(false)),
        "{mix}"
    );
    assert_eq!(r["rollback"]["complete"], true);
    eprintln!("breach to whole fleet: {} ms", r["rollback"]["breach_to_whole_ms"]);
    assert!(
        hashes(&fleet).iter().all(|h| *h == good_hash),
        "every gateway back on its previous hash"
    );
    let bad_hash = r["hash"].as_str().unwrap();
    let outside: Vec<_> = seen.iter().filter(|(g, h)| *g != 0 && h == bad_hash).collect();
    assert!(
        outside.is_empty(),
        "responses with the bad config outside the first batch: {}",
        outside.len()
    );
    assert!(
        seen.iter().any(|(g, h)| *g == 0 && h == bad_hash),
        "the canary did serve it"
    );
    drop(fleet);
}

#[test]
fn an_unreachable_gateway_or_a_wrong_token_stops_before_anything_is_touched() {
    let fleet = start_fleet(2);
    let before = hashes(&fleet);
    let good = fleet.dir.path().join("good.yaml");
    std::fs::write(&good, fleet_config("2.0.0", "")).unwrap();
    let (inv, good_s) = (fleet.inventory.display().to_string(), good.display().to_string());
    let args = [
        "rollout",
        "--inventory",
        &inv,
        "--group",
        "production",
        "--file",
        &good_s,
        "--bake",
        "1s",
    ];
    let (code, _, err) = policy(&args, &[("FLEET_ADMIN_TOKEN", "wrong")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("gw-01") && err.contains("401"), "{err}");
    // The second gateway's admin plane is closed.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let text = std::fs::read_to_string(&fleet.inventory)
        .unwrap()
        .replace(&fleet.gateways[1].admin.to_string(), &closed.to_string());
    std::fs::write(&fleet.inventory, text).unwrap();
    let (code, _, err) = policy(&args, &[("FLEET_ADMIN_TOKEN", TOKEN)]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("gw-02") && err.contains("unreachable"), "{err}");
    let flat = err
        .split_whitespace()
        .filter(|w| *w != "|" && *w != "│")
        .collect::<Vec<_>>()
        .join(" ");
    assert!(flat.contains("nothing was changed"), "{err}");
    assert_eq!(hashes(&fleet), before, "nothing was touched");
}

#[test]
fn fleet_status_shows_drift_when_one_gateway_was_reloaded_by_hand() {
    let fleet = start_fleet(3);
    let inv = fleet.inventory.display().to_string();
    let env = [("FLEET_ADMIN_TOKEN", TOKEN)];
    let (code, out, err) = policy(&["fleet", "status", "--inventory", &inv, "--format", "json"], &env);
    assert_eq!(code, 0, "{out}\n{err}");
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_valid("fleet-status", "policy fleet status --format json", &s);
    assert_eq!(s["drift"], false);
    let r = fleet.gateways[1].admin("POST", "/admin/reload", Some(TOKEN), &fleet_config("9.9.9", ""));
    assert_eq!(r.status, 200, "{}", r.body);
    let (code, out, _) = policy(
        &[
            "fleet",
            "status",
            "--inventory",
            &inv,
            "--group",
            "production",
            "--format",
            "json",
        ],
        &env,
    );
    assert_eq!(code, 1);
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_valid(
        "fleet-status",
        "policy fleet status --group production --format json (drift)",
        &s,
    );
    assert_eq!(s["drift"], true);
    assert_eq!(s["hashes"].as_array().unwrap().len(), 2);
    assert_eq!(s["gateways"][1]["version"], "9.9.9");
    let (_, human, _) = policy(&["fleet", "status", "--inventory", &inv], &env);
    assert!(human.contains("DRIFT"), "{human}");
}

#[test]
fn ctrl_c_finishes_the_current_batch_and_says_where_the_fleet_stands() {
    let fleet = start_fleet(2);
    let before = hashes(&fleet);
    let good = fleet.dir.path().join("good.yaml");
    std::fs::write(&good, fleet_config("2.0.0", "")).unwrap();
    let child = std::process::Command::new(crate::support::policy_bin())
        .args([
            "rollout",
            "--inventory",
            fleet.inventory.to_str().unwrap(),
            "--group",
            "production",
        ])
        .args([
            "--file",
            good.to_str().unwrap(),
            "--batch-size",
            "1",
            "--bake",
            "20s",
            "--format",
            "json",
        ])
        .env("FLEET_ADMIN_TOKEN", TOKEN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the canary serves the new config (the rollout is baking), then interrupt.
    assert!(crate::support::eventually(Duration::from_secs(20), || hashes(&fleet)
        [0]
        != before[0]));
    policy_replay::process::send_signal(child.id(), policy_replay::process::Signal::INT).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_str(&stdout).unwrap();
    assert_valid("rollout", "policy rollout --format json (interrupted)", &r);
    assert_eq!(r["outcome"], "halted");
    assert!(
        r["interrupted"]
            .as_str()
            .unwrap()
            .contains("1 of 2 gateways serve the new config"),
        "{r:#}"
    );
    let now = hashes(&fleet);
    assert_eq!((now[0] == r["hash"], now[1] == before[1]), (true, true), "{now:?}");
}

/// A group whose first wave is the whole group (here, one gateway) has no gateway left to
/// compare with: its own verdict mix on the old config, over one bake before the update, is
/// the control, so a good config completes. One gateway listed twice is refused before
/// anything is touched: it would be compared with itself.
#[test]
fn a_one_gateway_group_is_gated_against_its_own_mix_and_a_gateway_listed_twice_is_refused() {
    let fleet = start_fleet(1);
    let inv = fleet.inventory.display().to_string();
    let env = [("FLEET_ADMIN_TOKEN", TOKEN)];
    let _load = load(&fleet);
    let good = fleet.dir.path().join("good.yaml");
    std::fs::write(&good, fleet_config("2.0.0", "")).unwrap();
    let good_s = good.display().to_string();
    let rollout = |inventory: &str| {
        policy(
            &[
                "rollout",
                "--inventory",
                inventory,
                "--group",
                "production",
                "--file",
                &good_s,
                "--bake",
                "2s",
                "--rollback-on-error",
                "--format",
                "json",
            ],
            &env,
        )
    };
    // Listed twice, under two spellings of one address.
    let twice = fleet.dir.path().join("twice.yaml");
    let admin = fleet.gateways[0].admin;
    std::fs::write(
        &twice,
        format!(
            "groups:\n  production:\n    gateways:\n      - {{ name: a, admin: \"http://{admin}\", token_env: FLEET_ADMIN_TOKEN }}\n      - {{ name: b, admin: \"http://localhost:{}\", token_env: FLEET_ADMIN_TOKEN }}\n",
            admin.port()
        ),
    )
    .unwrap();
    let (code, out, err) = rollout(twice.to_str().unwrap());
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("the same gateway as `a`"), "{err}");
    assert_eq!(fleet.gateways[0].health()["config_version"], "1.0.0", "nothing touched");

    let (code, out, err) = rollout(&inv);
    assert_eq!(code, 0, "{out}\n{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_valid("rollout", "policy rollout --format json (a one-gateway group)", &r);
    assert_eq!(r["outcome"], "completed", "{r:#}");
    assert!(
        err.contains("watching its verdict mix on the old config first"),
        "{err}"
    );
}

/// An address an instance overrides on its command line is not the file's to change,
/// so a new file that names other addresses is a hot change for it, not a restart.
#[test]
fn a_new_address_is_no_restart_for_an_instance_that_overrides_it() {
    let config = fleet_config("1.0.0", "");
    let gw = Gateway::start_with(
        &config,
        Opts {
            env: vec![("FLEET_ADMIN_TOKEN", TOKEN)],
            args: vec![
                "--listen".into(),
                "127.0.0.1:0".into(),
                "--admin-listen".into(),
                "127.0.0.1:0".into(),
            ],
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("inventory.yaml");
    write_inventory(&inventory, std::slice::from_ref(&gw), "FLEET_ADMIN_TOKEN");
    let status = gw.admin("GET", "/admin/status", Some(TOKEN), "").json();
    assert_eq!(
        status["overridden"],
        serde_json::json!(["/gateway/listen", "/gateway/admin/listen"])
    );
    let moved = dir.path().join("moved.yaml");
    std::fs::write(
        &moved,
        fleet_config("2.0.0", "")
            .replace("  listen: 127.0.0.1:0\n", "  listen: 127.0.0.1:47999\n")
            .replace("admin: { listen: 127.0.0.1:0,", "admin: { listen: 127.0.0.1:47998,"),
    )
    .unwrap();
    let (code, out, err) = policy(
        &[
            "rollout",
            "--inventory",
            inventory.to_str().unwrap(),
            "--group",
            "production",
            "--file",
            moved.to_str().unwrap(),
            "--dry-run",
            "--format",
            "json",
        ],
        &[("FLEET_ADMIN_TOKEN", TOKEN)],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_valid(
        "rollout",
        "policy rollout --dry-run --format json (an instance that overrides its addresses)",
        &r,
    );
    assert_eq!(r["plan"][0]["class"], "hot", "{r:#}");
}

/// A new config that changes the admin token's variable would lock the rollout out of the
/// gateway it just updated (it could neither gate nor roll it back): refused before anything
/// is touched.
#[test]
fn a_new_admin_token_variable_is_refused_before_anything_is_touched() {
    let fleet = start_fleet(1);
    let rotated = fleet.dir.path().join("rotated.yaml");
    std::fs::write(
        &rotated,
        fleet_config("2.0.0", "").replace("token_env: FLEET_ADMIN_TOKEN", "token_env: ROTATED_TOKEN"),
    )
    .unwrap();
    let (code, out, err) = policy(
        &[
            "rollout",
            "--inventory",
            fleet.inventory.to_str().unwrap(),
            "--group",
            "production",
            "--file",
            rotated.to_str().unwrap(),
            "--bake",
            "1s",
        ],
        &[("FLEET_ADMIN_TOKEN", TOKEN)],
    );
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(err.contains("gateway.admin.token_env"), "{err}");
    assert_eq!(fleet.gateways[0].health()["config_version"], "1.0.0", "nothing touched");
}

/// `--shadow`: a candidate that blocks everything is evaluated on every gateway beside the
/// running config, on live traffic, and halts the rollout in the shadow stage: every gateway
/// stays on its old hash, the shadow is stopped everywhere, and no response of the load came
/// from the candidate.
#[test]
fn a_shadow_stage_halts_a_rollout_before_any_gateway_serves_the_new_config() {
    let fleet = start_fleet(3);
    let before = hashes(&fleet);
    let inv = fleet.inventory.display().to_string();
    let env = [("FLEET_ADMIN_TOKEN", TOKEN)];
    let load = load(&fleet);
    let bad = fleet.dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        fleet_config("9.9.9", "      - { id: everything, pattern: '.', action: block }\n"),
    )
    .unwrap();
    let bad_s = bad.display().to_string();
    let (code, out, err) = policy(
        &[
            "rollout",
            "--inventory",
            &inv,
            "--group",
            "production",
            "--file",
            &bad_s,
            "--shadow",
            "2s",
            "--format",
            "json",
        ],
        &env,
    );
    let answered = load.finish();
    assert_eq!(code, 1, "{out}\n{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_valid("rollout", "policy rollout --shadow (halted in the shadow stage)", &r);
    assert_eq!(r["outcome"], "halted", "{r:#}");
    assert!(r["waves"].as_array().unwrap().is_empty(), "{r:#}");
    let shadow = &r["shadow"];
    assert_eq!(shadow["passed"], false, "{shadow:#}");
    assert_eq!(shadow["gateways"].as_array().unwrap().len(), 3);
    assert!(shadow["changed"].as_u64().unwrap() > 0, "{shadow:#}");
    assert_eq!(shadow["gates"][0]["name"], "shadow_shift");
    assert_eq!(hashes(&fleet), before, "no gateway serves the new config");
    for g in &fleet.gateways {
        assert_eq!(
            g.admin("GET", "/admin/shadow", Some(TOKEN), "").status,
            404,
            "stopped everywhere"
        );
    }
    let old = &before[0];
    assert!(!answered.is_empty());
    for a in answered.iter().filter(|a| a.status != 0) {
        assert_eq!(
            a.hash.as_deref(),
            Some(old.as_str()),
            "every answer came from the old config"
        );
    }
}
