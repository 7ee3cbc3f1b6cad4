//! The JSON outputs of `policy` against their schemas under `schema/output/`
//! (docs/reference/json-output.md): `lint`, `diff`, `replay` and `test` run on fixtures, clean
//! and failing, and each output is validated with `jsonschema`; a failure lists every error with
//! its instance path. The outputs that need a running gateway (`gateway status`, `fleet status`,
//! `rollout`, `replay --live`) are validated where the gateway suite already produces them
//! (`gateway/tests/suite/output_schemas.rs` and its callers).
//!
//! Every file under `schema/output/` must be a valid draft 2020-12 schema with a description on
//! every property, and must be exercised: some test here or in the gateway suite calls
//! `assert_valid("NAME", …)` with it.

use crate::util::{policy, policy_in, root, yaml_files};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The folder of the output schemas.
fn schema_dir() -> PathBuf {
    root().join("schema/output")
}

/// `schema/output/NAME.schema.json`, parsed.
fn schema(name: &str) -> Value {
    let path = schema_dir().join(format!("{name}.schema.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Validate `instance` (the output of `what`) against `schema/output/NAME.schema.json`; on
/// failure, panic with every validation error, each at its instance path, and the output.
fn assert_valid(name: &str, what: &str, instance: &Value) {
    let schema = schema(name);
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("schema/output/{name}.schema.json is not a valid schema: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| {
            let at = e.instance_path().as_str().to_string();
            let at = if at.is_empty() { "(root)".to_string() } else { at };
            format!("  at {at}: {e}")
        })
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: the output does not match schema/output/{name}.schema.json ({} error(s)):\n{}\n\nthe output:\n{instance:#}",
        errors.len(),
        errors.join("\n")
    );
}

/// The one JSON value `out` printed on standard output.
fn json_of(out: &Output, what: &str) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: standard output is not one JSON value ({e}):\n{}\nstandard error:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Run `policy ARGS` in the repository root, check its exit code, return its JSON output.
fn run(args: &[&str], code: i32) -> Value {
    checked(policy(args, None), format!("policy {}", args.join(" ")), code)
}

/// Run `policy ARGS` in `dir`, check its exit code, return its JSON output.
fn run_in(dir: &Path, args: &[&str], code: i32) -> Value {
    checked(
        policy_in(dir, args),
        format!("policy {} (in a temporary folder)", args.join(" ")),
        code,
    )
}

/// `out`'s JSON, once its exit code is `code`.
fn checked(out: std::process::Output, what: String, code: i32) -> Value {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: exit code\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    json_of(&out, &what)
}

fn paths(files: &[PathBuf]) -> Vec<String> {
    files.iter().map(|p| p.display().to_string()).collect()
}

fn fixture(path: &str) -> String {
    root().join(path).display().to_string()
}

#[test]
fn lint_of_clean_files_matches_its_schema() {
    let files = paths(&yaml_files(&root().join("fixtures/lint/pass")));
    assert!(!files.is_empty());
    let mut args = vec!["lint", "--format", "json"];
    args.extend(files.iter().map(String::as_str));
    let v = run(&args, 0);
    assert_eq!(v["summary"]["errors"], 0, "{v:#}");
    assert_valid("lint", "policy lint --format json (clean files)", &v);
}

/// Every failing fixture in one run: every rule's diagnostic, fixes safe and unsafe, a
/// suppression.
#[test]
fn lint_of_failing_files_matches_its_schema() {
    let files = paths(&yaml_files(&root().join("fixtures/lint/fail")));
    let mut args = vec!["lint", "--format", "json"];
    args.extend(files.iter().map(String::as_str));
    let v = run(&args, 1);
    let s = &v["summary"];
    assert!(
        s["errors"].as_u64() > Some(0) && s["warnings"].as_u64() > Some(0),
        "{s}"
    );
    assert!(
        s["fixable"].as_u64() > Some(0) && s["unsafe_fixable"].as_u64() > Some(0),
        "the run shows both kinds of fix: {s}"
    );
    assert!(s["suppressed"].as_u64() > Some(0), "{s}");
    assert_valid("lint", "policy lint --format json (failing files)", &v);
}

/// A baseline with a stale entry, and `--fix`: the counts and entries only these fill in.
#[test]
fn lint_with_a_baseline_and_fixes_matches_its_schema() {
    let dir = tempfile::tempdir().unwrap();
    let fail = root().join("fixtures/lint/fail");
    for name in [
        "invalid-regex.yaml",
        "duplicate-chain-entry.yaml",
        "unknown-key-typo-nested.yaml",
    ] {
        std::fs::copy(fail.join(name), dir.path().join(name)).unwrap();
    }
    let out = policy_in(
        dir.path(),
        &[
            "lint",
            "--write-baseline",
            "baseline.json",
            "invalid-regex.yaml",
            "duplicate-chain-entry.yaml",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // The finding of one file goes away: its baseline entry is stale.
    std::fs::copy(
        root().join("fixtures/lint/pass/full.yaml"),
        dir.path().join("invalid-regex.yaml"),
    )
    .unwrap();
    let v = run_in(
        dir.path(),
        &[
            "lint",
            "--format",
            "json",
            "--baseline",
            "baseline.json",
            "invalid-regex.yaml",
            "duplicate-chain-entry.yaml",
        ],
        0,
    );
    assert_eq!(v["summary"]["stale"], 1, "{v:#}");
    assert_eq!(v["summary"]["baselined"], 1, "{v:#}");
    assert_valid("lint", "policy lint --format json --baseline (a stale entry)", &v);

    let v = run_in(
        dir.path(),
        &["lint", "--format", "json", "--fix", "unknown-key-typo-nested.yaml"],
        0,
    );
    assert_eq!(v["summary"]["fixed"], 1, "{v:#}");
    assert_valid("lint", "policy lint --format json --fix", &v);
}

/// Every `fixtures/diff/` case: hot, restart, weakening, reordered, nothing.
#[test]
fn diff_matches_its_schema() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures/diff"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(!cases.is_empty());
    let mut classes = std::collections::BTreeSet::new();
    for case in &cases {
        let (old, new) = (case.join("old.yaml"), case.join("new.yaml"));
        let (old, new) = (old.display().to_string(), new.display().to_string());
        let v = run(&["diff", "--format", "json", &old, &new], 0);
        classes.insert(v["class"].as_str().unwrap_or_default().to_string());
        assert_valid("diff", &format!("policy diff --format json ({})", case.display()), &v);
    }
    assert_eq!(
        classes.into_iter().collect::<Vec<_>>(),
        ["hot", "none", "restart"],
        "the cases cover every class"
    );
}

/// A config with lint errors: `diff` and `replay` print lint's object instead of their own.
#[test]
fn a_config_with_lint_errors_is_reported_in_the_lint_shape() {
    let bad = fixture("fixtures/lint/fail/invalid-regex.yaml");
    let good = fixture("fixtures/lint/pass/full.yaml");
    let v = run(&["diff", "--format", "json", &bad, &good], 1);
    assert_valid("lint", "policy diff --format json (an input with lint errors)", &v);
    let traffic = fixture("fixtures/traffic/chat.jsonl");
    let v = run(
        &[
            "replay",
            "--format",
            "json",
            "--traffic",
            &traffic,
            "--old",
            &good,
            "--new",
            &bad,
        ],
        1,
    );
    assert_valid("lint", "policy replay --format json (an input with lint errors)", &v);
}

/// Offline replay: JSON Lines, HAR, malformed lines skipped, `--expect`, a request refused
/// unread.
#[test]
fn replay_matches_its_schema() {
    let old = fixture("fixtures/gateway/demo.yaml");
    let new = fixture("fixtures/gateway/demo-next.yaml");
    let replay = |traffic: &str, extra: &[&str], code: i32| {
        let mut args: Vec<&str> = vec![
            "replay",
            "--format",
            "json",
            "--traffic",
            traffic,
            "--old",
            old.as_str(),
            "--new",
            new.as_str(),
        ];
        args.extend_from_slice(extra);
        let v = run(&args, code);
        assert_valid(
            "replay",
            &format!("policy replay --format json --traffic {traffic} {extra:?}"),
            &v,
        );
        v
    };
    let v = replay(&fixture("fixtures/traffic/chat.jsonl"), &[], 0);
    assert!(v["changed"].as_u64() > Some(0), "{v:#}");
    replay(&fixture("fixtures/traffic/sample.har"), &[], 0);

    let dir = tempfile::tempdir().unwrap();
    let expect = dir.path().join("expect.txt");
    std::fs::write(&expect, "# no transition is allowed\n").unwrap();
    let v = replay(
        &fixture("fixtures/traffic/malformed.jsonl"),
        &["--expect", expect.to_str().unwrap()],
        1,
    );
    assert!(!v["skipped"].as_array().unwrap().is_empty(), "{v:#}");
    assert!(!v["unexpected_transitions"].as_array().unwrap().is_empty(), "{v:#}");

    // A body whose `messages` is not a list is refused unread under both configs.
    let chat = std::fs::read_to_string(root().join("fixtures/traffic/chat.jsonl")).unwrap();
    let mut traffic: String = chat.lines().take(2).map(|l| format!("{l}\n")).collect();
    traffic.push_str(
        r#"{"id":"unreadable","ts":"2026-11-21T12:00:09.000Z","method":"POST","path":"/v1/chat/completions","client_ip":"10.0.0.7","headers":{"content-type":"application/json"},"body":{"model":"gpt-4o","messages":"hello"}}"#,
    );
    traffic.push('\n');
    let path = dir.path().join("refused.jsonl");
    std::fs::write(&path, traffic).unwrap();
    let v = replay(path.to_str().unwrap(), &[], 0);
    assert_eq!(v["refused"][0]["id"], "unreadable", "{v:#}");
}

/// `policy test`: a passing file, failing cases (another config), a request refused unread.
#[test]
fn test_matches_its_schema() {
    let demo = fixture("fixtures/gateway/demo.policy-test.yaml");
    let v = run(&["test", "--format", "json", &demo], 0);
    assert_eq!(v["summary"]["failed"], 0, "{v:#}");
    assert_valid("test", "policy test --format json (passing)", &v);

    let next = fixture("fixtures/gateway/demo-next.yaml");
    let evasions = fixture("fixtures/gateway/evasions.policy-test.yaml");
    let v = run(&["test", "--format", "json", "--config", &next, &demo, &evasions], 1);
    assert!(v["summary"]["failed"].as_u64() > Some(0), "{v:#}");
    assert_valid("test", "policy test --format json (failing)", &v);

    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::to_string(&fixture("fixtures/lint/pass/full.yaml")).unwrap();
    let file = dir.path().join("refused.policy-test.yaml");
    std::fs::write(
        &file,
        format!(
            "config: {config}\ncases:\n  - name: a string where the messages go is refused unread\n    request: {{ messages: \"hello\" }}\n    expect: {{ verdict: allow }}\n"
        ),
    )
    .unwrap();
    let v = run(&["test", "--format", "json", file.to_str().unwrap()], 1);
    assert_eq!(v["files"][0]["cases"][0]["actual"]["status"], 400, "{v:#}");
    assert_valid("test", "policy test --format json (a request refused unread)", &v);
}

/// The schema files themselves: JSON, valid draft 2020-12 schemas, `$id` by file name, a
/// description on every property they declare, and each one exercised by a test.
#[test]
fn every_output_schema_is_valid_documented_and_exercised() {
    let mut names: Vec<String> = std::fs::read_dir(schema_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(!names.is_empty());
    let sources = validation_sources();
    let mut problems = Vec::new();
    for file in &names {
        let Some(name) = file.strip_suffix(".schema.json") else {
            problems.push(format!("{file}: not a `NAME.schema.json` file"));
            continue;
        };
        let s = schema(name);
        if s["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
            problems.push(format!("{file}: `$schema` is not draft 2020-12: {}", s["$schema"]));
        }
        if s["$id"] != format!("policy-output-{name}.json").as_str() {
            problems.push(format!(
                "{file}: `$id` is not `policy-output-{name}.json`: {}",
                s["$id"]
            ));
        }
        if let Err(e) = jsonschema::meta::validate(&s) {
            problems.push(format!(
                "{file}: not a valid schema: {e} (at {})",
                e.instance_path().as_str()
            ));
        }
        if let Err(e) = jsonschema::validator_for(&s) {
            problems.push(format!("{file}: does not compile: {e}"));
        }
        for at in undescribed(&s) {
            problems.push(format!("{file}: property without a description at {at}"));
        }
        let call = format!("assert_valid(\"{name}\",");
        if !sources.iter().any(|(_, text)| text.contains(&call)) {
            problems.push(format!(
                "{file}: no test validates an output against it (no `assert_valid(\"{name}\", …)` in tests/suite/output_schemas.rs or gateway/tests/suite/)"
            ));
        }
    }
    assert!(problems.is_empty(), "schema/output/:\n{}", problems.join("\n"));
}

/// The test sources that call `assert_valid`, whitespace removed (so a call rustfmt wrapped
/// still reads `assert_valid("NAME",`).
fn validation_sources() -> Vec<(PathBuf, String)> {
    let mut files = vec![root().join("tests/suite/output_schemas.rs")];
    for e in std::fs::read_dir(root().join("gateway/tests/suite")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
    files
        .into_iter()
        .map(|p| {
            let text: String = std::fs::read_to_string(&p)
                .unwrap()
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            (p, text)
        })
        .collect()
}

/// JSON pointers of the properties `s` declares without a `description`. Subschemas that only
/// constrain (`if`, `then`, `else`, `not`) declare nothing and are skipped.
fn undescribed(s: &Value) -> Vec<String> {
    fn walk(v: &Value, at: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::Object(props)) = m.get("properties") {
                    for (k, p) in props {
                        if p.get("description").and_then(Value::as_str).is_none_or(str::is_empty) {
                            out.push(format!("{at}/properties/{k}"));
                        }
                    }
                }
                for (k, child) in m {
                    if !matches!(k.as_str(), "if" | "then" | "else" | "not") {
                        walk(child, &format!("{at}/{k}"), out);
                    }
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, &format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(s, "", &mut out);
    out
}

/// The enums of the schemas that name the code's fixed values hold exactly those values: a
/// verdict, a policy or a reload trigger added to the code fails here until its schema says so.
#[test]
fn schema_enums_match_the_code() {
    let names = |v: &Value| -> Vec<Option<String>> {
        v.as_array()
            .unwrap_or_else(|| panic!("not an enum: {v}"))
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect()
    };
    let verdicts: Vec<Option<String>> = policy_engine::Verdict::ALL
        .iter()
        .map(|v| Some(v.as_str().to_string()))
        .collect();
    let policies: Vec<Option<String>> = policy_config::PolicyKind::ALL
        .iter()
        .map(|p| Some(p.as_str().to_string()))
        .collect();
    let with_null = |mut v: Vec<Option<String>>| {
        v.push(None);
        v
    };
    let replay = schema("replay");
    let side = &replay["$defs"]["side"]["properties"];
    assert_eq!(names(&side["verdict"]["enum"]), verdicts, "replay: side.verdict");
    assert_eq!(names(&side["policy"]["enum"]), policies, "replay: side.policy");
    assert_eq!(
        names(&replay["$defs"]["unexercised"]["properties"]["policy"]["enum"]),
        policies,
        "replay: unexercised.policy"
    );
    assert_eq!(
        names(&replay["properties"]["verdicts"]["properties"]["old"]["propertyNames"]["enum"]),
        verdicts,
        "replay: verdicts.old"
    );
    let test = schema("test");
    let actual = &test["$defs"]["actual"]["properties"];
    assert_eq!(
        names(&actual["verdict"]["enum"]),
        with_null(verdicts.clone()),
        "test: actual.verdict"
    );
    assert_eq!(
        names(&actual["policy"]["enum"]),
        with_null(policies.clone()),
        "test: actual.policy"
    );
    let live = schema("replay-live");
    let via: Vec<Option<String>> = policy_replay::live::Via::ALL
        .iter()
        .chain([&policy_replay::live::Via::Command])
        .map(|v| Some(v.as_str().to_string()))
        .collect();
    assert_eq!(
        names(&live["properties"]["reload_via"]["enum"]),
        via,
        "replay-live: reload_via"
    );
    let kinds: Vec<Option<String>> = policy_replay::live::DROP_KINDS
        .iter()
        .map(|k| Some(k.to_string()))
        .collect();
    assert_eq!(
        names(&live["properties"]["dropped_by_kind"]["required"]),
        kinds,
        "replay-live: dropped_by_kind"
    );
    let rollout = schema("rollout");
    let shift: Vec<Option<String>> = rollout["properties"]["predicted_shift"]["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().map(str::to_string))
        .collect();
    assert_eq!(shift, verdicts, "rollout: predicted_shift");
}

/// A rollout's plan lists each gateway's changes as `policy diff --format json` does: one
/// definition of a change, written twice (each schema stands alone), kept equal.
#[test]
fn a_change_is_the_same_in_diff_and_rollout() {
    assert_eq!(
        schema("diff")["$defs"]["change"],
        schema("rollout")["$defs"]["change"],
        "schema/output/diff.schema.json and rollout.schema.json define `change` differently"
    );
}
