//! The pull request's story: `policy ci --traffic` replays recorded traffic against each
//! changed config's base-ref version (the summary's transition table, the outputs, `--fail-on
//! weakening` and `verdict-change` with `--expect`), and `--comment` keeps one sticky comment on
//! the pull request, through a stand-in for GitHub's REST API that checks every request against
//! GitHub's published REST description (`@octokit/openapi`).

use crate::action::{run_action, tool};
use crate::util::{git, root};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A repository whose `base` tag has `deploy/policy-config.yaml` (the gateway demo) and the
/// recorded chat traffic, and whose head edits the config with `edit`.
fn repo(edit: impl Fn(&str) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q"]);
    std::fs::create_dir_all(d.join("deploy")).unwrap();
    let demo = std::fs::read_to_string(root().join("fixtures/gateway/demo.yaml")).unwrap();
    std::fs::write(d.join("deploy/policy-config.yaml"), &demo).unwrap();
    std::fs::copy(root().join("fixtures/traffic/chat.jsonl"), d.join("traffic.jsonl")).unwrap();
    git(d, &["add", "."]);
    git(d, &["commit", "-qm", "base"]);
    git(d, &["tag", "base"]);
    let head = edit(&demo);
    assert_ne!(head, demo, "the edit changes the config");
    std::fs::write(d.join("deploy/policy-config.yaml"), head).unwrap();
    git(d, &["commit", "-qam", "head"]);
    dir
}

/// PII now blocks instead of being redacted: a change that only strengthens.
fn strengthen(demo: &str) -> String {
    demo.replace(
        "  pii-detector:\n    action: redact",
        "  pii-detector:\n    action: block",
    )
}

/// Prompt injections are only logged now: a change that weakens.
fn weaken(demo: &str) -> String {
    demo.replace("response: { action: block,", "response: { action: log,")
}

#[test]
fn the_summary_shows_the_transitions_and_fail_on_verdict_change_heeds_expect() {
    let repo = repo(strengthen);
    let d = repo.path();
    let base = [("BASE_REF", "base"), ("TRAFFIC", "traffic.jsonl")];
    let run = |extra: &[(&str, &str)]| {
        let env: Vec<(&str, &str)> = base.iter().chain(extra).copied().collect();
        run_action(d, &env)
    };
    let r = run(&[]);
    assert_eq!(r.out.status.code(), Some(0), "fail-on error: a clean config passes");
    // The transitions this change makes on the recorded traffic, from `policy replay` itself.
    let replay = Command::new(env!("CARGO_BIN_EXE_policy"))
        .args(["replay", "--traffic", "traffic.jsonl", "--format", "json", "--new"])
        .arg("deploy/policy-config.yaml")
        .arg("--old")
        .arg(root().join("fixtures/gateway/demo.yaml"))
        .current_dir(d)
        .output()
        .unwrap();
    let replay: serde_json::Value = serde_json::from_slice(&replay.stdout).unwrap();
    let transitions = replay["transitions"].as_object().unwrap();
    assert_eq!(transitions.keys().collect::<Vec<_>>(), ["redact->block"]);
    let flips = replay["changed"].as_u64().unwrap();
    assert!(flips > 0);
    assert!(
        r.outputs.contains(&format!("weakening=0\nverdict-changes={flips}\n")),
        "{}",
        r.outputs
    );
    assert!(
        r.summary.contains(&format!("| `redact->block` | {flips} |")),
        "{}",
        r.summary
    );
    assert!(
        r.summary.contains("`pii-detector/email`"),
        "the rules behind it:\n{}",
        r.summary
    );
    // Request ids, never the text of a request.
    let first = replay["changes"][0]["id"].as_str().unwrap();
    assert!(r.summary.contains(&format!("| `{first}` | redact (pii-detector/")));
    for line in std::fs::read_to_string(d.join("traffic.jsonl")).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        for m in v["body"]["messages"].as_array().into_iter().flatten() {
            let text = m["content"].as_str().unwrap_or_default();
            if text.len() > 12 {
                assert!(!r.summary.contains(text), "the summary shows a request's text: {text}");
            }
        }
    }

    // verdict-change: every transition must be listed in --expect.
    let r = run(&[("FAIL_ON", "verdict-change")]);
    assert_eq!(r.out.status.code(), Some(1), "no --expect: any transition fails");
    std::fs::write(d.join("expect.txt"), "# PII blocks now\nallow->block\n").unwrap();
    let r = run(&[("FAIL_ON", "verdict-change"), ("EXPECT", "expect.txt")]);
    assert_eq!(r.out.status.code(), Some(1), "redact->block is not listed");
    assert!(r.summary.contains("❌ not listed"), "{}", r.summary);
    std::fs::write(d.join("expect.txt"), "# PII blocks now\nredact -> block\n").unwrap();
    let r = run(&[("FAIL_ON", "verdict-change"), ("EXPECT", "expect.txt")]);
    assert_eq!(
        r.out.status.code(),
        Some(0),
        "every transition is listed\n{}",
        String::from_utf8_lossy(&r.out.stderr)
    );
    assert_eq!(
        run(&[("FAIL_ON", "weakening")]).out.status.code(),
        Some(0),
        "a change that only strengthens passes fail-on weakening"
    );
}

#[test]
fn fail_on_weakening_fails_on_block_to_log() {
    let repo = repo(weaken);
    let base = [("BASE_REF", "base"), ("TRAFFIC", "traffic.jsonl")];
    let r = run_action(repo.path(), &[base[0], base[1], ("FAIL_ON", "weakening")]);
    assert_eq!(r.out.status.code(), Some(1), "{}", r.summary);
    assert!(r.outputs.contains("weakening=1\n"), "{}", r.outputs);
    // Blocked injections are let through now: a loosening transition, marked.
    assert!(r.summary.contains("| ⚠️ `block->allow` |"), "{}", r.summary);
    let r = run_action(repo.path(), &[base[0], base[1], ("FAIL_ON", "restart")]);
    assert_eq!(r.out.status.code(), Some(0), "the levels below weakening pass");
}

#[test]
fn without_a_base_there_is_nothing_to_replay() {
    // A push to main: the action passes no base-ref, but its traffic input stays set.
    let repo = repo(strengthen);
    let r = run_action(
        repo.path(),
        &[("TRAFFIC", "traffic.jsonl"), ("FAIL_ON", "verdict-change")],
    );
    assert_eq!(
        r.out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.out.stderr)
    );
    assert!(r.outputs.contains("verdict-changes=0\n"), "{}", r.outputs);
}

#[test]
fn fail_on_verdict_change_without_traffic_is_refused() {
    let repo = repo(strengthen);
    let r = run_action(repo.path(), &[("BASE_REF", "base"), ("FAIL_ON", "verdict-change")]);
    assert_eq!(r.out.status.code(), Some(2), "no evidence is not a pass");
    assert!(String::from_utf8_lossy(&r.out.stderr).contains("needs --traffic"));
}

/// GitHub's REST description, installed by `.ci/test` (npm package `@octokit/openapi`).
fn rest_description() -> Option<PathBuf> {
    let path = root().join("target/tools/npm/node_modules/@octokit/openapi/generated/api.github.com.deref.json");
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI needs {} (.ci/test installs the npm package @octokit/openapi)",
        path.display()
    );
    eprintln!("SKIPPED: {} is missing (.ci/test installs it)", path.display());
    None
}

/// The stand-in API, on 127.0.0.1; stopped (by its pid) when dropped.
struct StandIn {
    child: Child,
    url: String,
    log: PathBuf,
}

impl StandIn {
    fn start(spec: &Path, dir: &Path, forbid: bool) -> StandIn {
        let log = dir.join(if forbid { "api-403.jsonl" } else { "api.jsonl" });
        let mut cmd = Command::new("python3");
        cmd.arg(root().join("tests/schemas/github_api_standin.py"))
            .arg(spec)
            .arg(&log)
            .stdout(Stdio::piped());
        if forbid {
            cmd.arg("--forbid");
        }
        let mut child = cmd.spawn().expect("python3 runs the stand-in");
        // Its first line is the port, printed once it listens.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the stand-in said {line:?}"));
        StandIn {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// The requests it served: one JSON object each.
    fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn one_sticky_comment_is_created_then_updated_and_a_403_only_warns() {
    // The stand-in validates requests with the `jsonschema` module that check-jsonschema brings.
    if tool("check-jsonschema", &["--version"]).is_none() {
        return;
    }
    let Some(spec) = rest_description() else { return };
    let repo = repo(strengthen);
    let d = repo.path();
    let event = d.join("event.json");
    std::fs::write(&event, r#"{"pull_request": {"number": 7}}"#).unwrap();
    let api = StandIn::start(&spec, d, false);
    let env = |api: &StandIn| {
        vec![
            ("BASE_REF", "base".to_string()),
            ("TRAFFIC", "traffic.jsonl".to_string()),
            ("COMMENT", "true".to_string()),
            ("GITHUB_API_URL", api.url.clone()),
            ("GITHUB_TOKEN", "test-token-not-a-secret".to_string()),
            ("GITHUB_REPOSITORY", "octo/gateway-config".to_string()),
            ("GITHUB_EVENT_PATH", event.display().to_string()),
        ]
    };
    let run = |api: &StandIn| {
        let env = env(api);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run_action(d, &env)
    };

    let first = run(&api);
    assert_eq!(
        first.out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&first.out.stderr)
    );
    let second = run(&api);
    assert_eq!(second.out.status.code(), Some(0));
    let served = api.requests();
    let ops: Vec<(&str, &str)> = served
        .iter()
        .map(|r| (r["operation"].as_str().unwrap_or("none"), r["path"].as_str().unwrap()))
        .collect();
    for r in &served {
        assert_eq!(r["violations"], serde_json::json!([]), "{r}");
    }
    assert_eq!(
        ops,
        [
            (
                "issues/list-comments",
                "/repos/octo/gateway-config/issues/7/comments?per_page=100&page=1"
            ),
            ("issues/create-comment", "/repos/octo/gateway-config/issues/7/comments"),
            (
                "issues/list-comments",
                "/repos/octo/gateway-config/issues/7/comments?per_page=100&page=1"
            ),
            (
                "issues/update-comment",
                &*format!("/repos/octo/gateway-config/issues/comments/{}", served[1]["comment_id"])
            ),
        ],
        "first run creates, second updates the same comment"
    );
    assert_eq!(served[1]["status"], 201);
    assert_eq!(served[3]["status"], 200);
    assert_eq!(served[1]["comment_id"], served[3]["comment_id"]);
    for r in [&served[1], &served[3]] {
        assert!(r["body_length"].as_u64().unwrap() < 65_000);
    }
    drop(api);

    // A token that may not write: a warning, and the step's result is what it was.
    let api = StandIn::start(&spec, d, true);
    let r = run(&api);
    assert_eq!(r.out.status.code(), Some(0), "a failed comment never fails the step");
    let stdout = String::from_utf8_lossy(&r.out.stdout);
    assert!(
        stdout.contains("::warning title=policy ci::could not comment on the pull request: POST")
            && stdout.contains("HTTP 403: Resource not accessible by integration"),
        "{stdout}"
    );
    let env = env(&api);
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.push(("FAIL_ON", "verdict-change"));
    assert_eq!(
        run_action(d, &env).out.status.code(),
        Some(1),
        "nor passes a failing one"
    );
}

#[test]
fn a_long_report_is_cut_under_the_comment_limit() {
    if tool("check-jsonschema", &["--version"]).is_none() {
        return;
    }
    let Some(spec) = rest_description() else { return };
    // 3,000 configs with a warning each (P309: an admin plane on 0.0.0.0 without a token) make
    // a lint table far past 65,536 characters.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    git(d, &["init", "-q"]);
    let warned = std::fs::read_to_string(root().join("fixtures/gateway/demo.yaml"))
        .unwrap()
        .replace("listen: 127.0.0.1:41003", "listen: 0.0.0.0:41003");
    for i in 0..3000 {
        std::fs::write(d.join(format!("c{i}.policy.yaml")), &warned).unwrap();
    }
    std::fs::write(d.join("event.json"), r#"{"pull_request": {"number": 9}}"#).unwrap();
    let api = StandIn::start(&spec, d, false);
    let r = run_action(
        d,
        &[
            ("COMMENT", "true"),
            ("GITHUB_API_URL", &api.url),
            ("GITHUB_TOKEN", "test-token-not-a-secret"),
            ("GITHUB_REPOSITORY", "octo/gateway-config"),
            ("GITHUB_EVENT_PATH", "event.json"),
            ("FAIL_ON", "never"),
        ],
    );
    assert_eq!(
        r.out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&r.out.stderr)
    );
    assert!(r.summary.len() > 65_536, "the summary is whole: {}", r.summary.len());
    let served = api.requests();
    let created = served
        .iter()
        .find(|r| r["operation"] == "issues/create-comment")
        .unwrap();
    assert_eq!(created["violations"], serde_json::json!([]));
    let length = created["body_length"].as_u64().unwrap();
    assert!((60_000..65_000).contains(&length), "{length}");
}
