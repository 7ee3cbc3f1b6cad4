//! The `policy` binary as users and CI call it: exit codes, formats, inputs, `explain`, `schema`.

use crate::util::{policy, stdout};
use serde_json::Value;

const SEED: &str = "fixtures/seed/tutorial-v0.1.0.yaml";
const BAD: &str = "pack:\n  name: x\n  version: 1.0.0\nprovider: {}\n";

fn code(out: &std::process::Output) -> i32 {
    out.status.code().expect("exited")
}

#[test]
fn exit_codes_are_the_documented_ones() {
    assert_eq!(code(&policy(&["lint", "--file", SEED], None)), 0);
    assert_eq!(code(&policy(&["lint", "-"], Some(BAD))), 1);
    assert_eq!(code(&policy(&["lint", "--file", "no/such/file.yaml"], None)), 2);
    assert_eq!(code(&policy(&["lint", "--format", "xml", SEED], None)), 2);
    assert_eq!(code(&policy(&["lint", "no/such/*.yaml"], None)), 2);
    let warn_only =
        "pack: {name: x, version: 1.0.0}\nproviders: {targets: [{id: m, provider: mock}]}\npolicy: {rate-limit: {}}\n";
    assert_eq!(code(&policy(&["lint", "-"], Some(warn_only))), 0);
    assert_eq!(code(&policy(&["lint", "--deny-warnings", "-"], Some(warn_only))), 1);
}

#[test]
fn an_unreadable_file_does_not_hide_the_others() {
    let out = policy(&["lint", "--format", "json", SEED, "missing.yaml"], None);
    assert_eq!(code(&out), 2);
    let v: Value = serde_json::from_str(&stdout(&out, None)).unwrap();
    assert_eq!(v["summary"]["files"], 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.yaml"));
}

#[test]
fn a_folder_means_its_yaml_files() {
    let out = policy(&["lint", "--format", "json", "fixtures/seed"], None);
    assert_eq!(code(&out), 0);
    let v: Value = serde_json::from_str(&stdout(&out, None)).unwrap();
    assert_eq!(v["summary"]["files"], 2);
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(code(&policy(&["lint", empty.path().to_str().unwrap()], None)), 2);

    // Hidden folders are skipped and a symlinked folder is not followed (a link back up the
    // tree listed one file forty times); a file named like a glob is that file.
    let dir = tempfile::tempdir().unwrap();
    let seed = std::fs::read_to_string("fixtures/seed/tutorial-v0.1.0.yaml").unwrap();
    for sub in ["d/.git", "d/sub"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    for file in ["d/a.yaml", "d/.git/x.yaml", "d/sub/b.yml", "[x].yaml"] {
        std::fs::write(dir.path().join(file), &seed).unwrap();
    }
    std::os::unix::fs::symlink("..", dir.path().join("d/sub/up")).unwrap();
    let out = policy(
        &["lint", "--format", "json", dir.path().join("d").to_str().unwrap()],
        None,
    );
    let v: Value = serde_json::from_str(&stdout(&out, None)).unwrap();
    assert_eq!(v["summary"]["files"], 2, "{v}");
    let out = policy(&["lint", dir.path().join("[x].yaml").to_str().unwrap()], None);
    assert_eq!(code(&out), 0, "{out:?}");
    // One file named twice is linted once.
    let a = dir.path().join("d/a.yaml");
    let again = dir.path().join("d/./a.yaml");
    let out = policy(
        &["lint", "--format", "json", a.to_str().unwrap(), again.to_str().unwrap()],
        None,
    );
    let v: Value = serde_json::from_str(&stdout(&out, None)).unwrap();
    assert_eq!(v["summary"]["files"], 1, "{v}");
}

#[test]
fn an_empty_file_says_so() {
    let out = policy(&["lint", "--format", "json", "-"], Some(""));
    let v: Value = serde_json::from_str(&stdout(&out, None)).unwrap();
    assert_eq!(v["files"][0]["diagnostics"][0]["message"], "the file is empty");
}

#[test]
fn json_has_the_documented_shape() {
    let out = policy(&["lint", "--format", "json", "-"], Some(BAD));
    let v: Value = serde_json::from_str(&stdout(&out, None)).unwrap();
    let d = &v["files"][0]["diagnostics"][0];
    let mut keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "code",
            "column",
            "end_column",
            "end_line",
            "fix",
            "help",
            "line",
            "message",
            "pointer",
            "severity"
        ]
    );
    assert_eq!(v["files"][0]["path"], "<stdin>");
    assert_eq!(
        v["summary"],
        serde_json::json!({"files": 1, "errors": 2, "warnings": 0, "suppressed": 0, "baselined": 0,
            "stale": 0, "fixed": 0, "fixable": 1, "unsafe_fixable": 0})
    );
}

#[test]
fn globs_expand_and_files_repeat_once() {
    let out = policy(
        &["lint", "--format", "json", "fixtures/seed/*.yaml", "--file", SEED],
        None,
    );
    assert_eq!(code(&out), 0);
    let v: Value = serde_json::from_str(&stdout(&out, None)).unwrap();
    assert_eq!(v["summary"]["files"], 2);
}

#[test]
fn github_annotations_carry_positions() {
    let out = policy(
        &["lint", "--format", "github", "-"],
        Some("pack:\n  name: x\n  versoin: 1.0.0\n"),
    );
    let text = stdout(&out, None);
    let line = text
        .lines()
        .find(|l| l.contains("P201"))
        .expect("unknown-key annotation");
    assert!(
        line.starts_with("::error file=<stdin>,line=3,col=3,endLine=3,endColumn=10,title=P201::"),
        "{line}"
    );
}

#[test]
fn sarif_is_2_1_0_with_rules_and_regions() {
    let out = policy(&["lint", "--format", "sarif", "-"], Some(BAD));
    let v: Value = serde_json::from_str(&stdout(&out, None)).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(rules.len() >= 20);
    for r in run["results"].as_array().unwrap() {
        let index = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[index]["id"], r["ruleId"]);
        let region = &r["locations"][0]["physicalLocation"]["region"];
        assert!(region["startLine"].as_u64().unwrap() >= 1 && region["startColumn"].as_u64().unwrap() >= 1);
    }
}

#[test]
fn explain_prints_rule_docs() {
    let out = policy(&["explain", "P304"], None);
    assert_eq!(code(&out), 0);
    let text = stdout(&out, None);
    assert!(
        text.starts_with("# P304 invalid-regex (error)") && text.contains("## Why is this bad?"),
        "{text}"
    );
    assert_eq!(code(&policy(&["explain", "invalid-regex"], None)), 0);
    let unknown = policy(&["explain", "P999"], None);
    assert_eq!(code(&unknown), 2);
    assert_eq!(code(&policy(&["explain"], None)), 0);
}

#[test]
fn schema_command_prints_the_committed_schema() {
    let out = policy(&["schema"], None);
    assert_eq!(code(&out), 0);
    assert_eq!(stdout(&out, None), policy_config::schema::schema_text());
}

#[test]
fn human_output_names_file_line_and_code() {
    let out = policy(&["lint", "-"], Some(BAD));
    let text = stdout(&out, None);
    assert!(text.contains("P201(unknown-key)"), "{text}");
    assert!(text.contains("[<stdin>:4:"), "{text}");
    assert!(
        text.trim_end()
            .ends_with("Found 2 errors and 0 warnings in 1 file. 1 fixable with `--fix`."),
        "{text}"
    );
}

#[test]
fn live_only_flags_without_live_are_a_usage_error() {
    let base = [
        "replay",
        "--traffic",
        "fixtures/traffic/chat.jsonl",
        "--old",
        "fixtures/gateway/demo.yaml",
        "--new",
        "fixtures/gateway/demo-next.yaml",
    ];
    assert_eq!(code(&policy(&base, None)), 0, "offline replay with the defaults");
    for extra in [
        &["--concurrency", "4"][..],
        &["--reload-via", "sighup"],
        &["--mock"],
        &["--duration", "1s"],
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let out = policy(&args, None);
        assert_eq!(code(&out), 2, "{extra:?} without --live");
        assert!(String::from_utf8_lossy(&out.stderr).contains("--live"), "{extra:?}");
    }
}

#[test]
fn an_expect_file_with_an_unknown_verdict_names_the_valid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let expect = dir.path().join("expect.txt");
    std::fs::write(&expect, "allow->redact\nallow->deny\n").unwrap();
    let out = policy(
        &[
            "replay",
            "--traffic",
            "fixtures/traffic/chat.jsonl",
            "--old",
            "fixtures/gateway/demo.yaml",
            "--new",
            "fixtures/gateway/demo-next.yaml",
            "--expect",
            expect.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code(&out), 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(":2:") && err.contains("allow, redact, block, rate_limited"),
        "{err}"
    );
}
