//! Lint for people (docs/guide/lint.md): suppressions with reasons, baselines keyed by value, fixes
//! that touch only their spans, and output through a pipe. Every test runs the real binary on real
//! files in a temporary folder.

use crate::util::{policy, policy_in, stdout};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// (code, line) of every diagnostic of the first file.
fn findings(v: &Value) -> Vec<(String, u64)> {
    v["files"][0]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["code"].as_str().unwrap().to_string(), d["line"].as_u64().unwrap()))
        .collect()
}

const SUPPRESSED: &str = "\
pack: { name: s, version: 1.0.0 }
gateway:
  admin:
    listen: 0.0.0.0:41003 # policy: ignore[P309] the pod network is private (INFRA-112)
providers:
  targets:
    # policy: ignore[P312]
    - { id: m, provider: openai, base_url: https://api.openai.com, mock: { latency_ms: 1 } }
policies:
  # policy: ignore[P302] nothing is duplicated here any more
  chain: [prompt-injection]
";

#[test]
fn a_reasoned_suppression_hides_its_finding_and_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cfg.yaml"), SUPPRESSED).unwrap();
    let out = policy_in(dir.path(), &["lint", "cfg.yaml", "--format", "json"]);
    let v = json(&out);
    // P309 on line 4 is hidden; the reasonless P312 still applies but warns (P401); the
    // comment for a duplicate that is gone suppresses nothing (P402).
    assert_eq!(findings(&v), [("P401".into(), 7), ("P402".into(), 10)]);
    assert_eq!(v["files"][0]["suppressed"], 2);
    assert_eq!(v["summary"]["suppressed"], 2);
    assert_eq!(v["summary"]["errors"], 0);
    assert_eq!(code(&out), 0, "suppressed findings and warnings do not fail");
    assert_eq!(
        code(&policy_in(dir.path(), &["lint", "cfg.yaml", "--deny-warnings"])),
        1
    );

    let all = policy_in(dir.path(), &["lint", "cfg.yaml", "--format", "json", "--no-suppress"]);
    let v = json(&all);
    assert_eq!(findings(&v), [("P309".into(), 4), ("P312".into(), 8)]);
    assert_eq!(v["summary"]["suppressed"], 0);
    assert_eq!(code(&all), 1);

    let human = String::from_utf8(policy_in(dir.path(), &["lint", "cfg.yaml"]).stdout).unwrap();
    assert!(human.contains("(2 suppressed)"), "{human}");
}

#[test]
fn file_suppressions_and_unknown_codes() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("# policy: ignore-file[P309, P3O9] one reviewed exception\n{SUPPRESSED}")
        .replace(" # policy: ignore[P309] the pod network is private (INFRA-112)", "");
    std::fs::write(dir.path().join("cfg.yaml"), text).unwrap();
    let v = json(&policy_in(dir.path(), &["lint", "cfg.yaml", "--format", "json"]));
    let d = &v["files"][0]["diagnostics"];
    let unknown = d
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["message"].as_str().unwrap().contains("P3O9"))
        .unwrap();
    assert_eq!(
        (unknown["code"].as_str(), unknown["line"].as_u64()),
        (Some("P402"), Some(1))
    );
    assert!(unknown["help"].as_str().unwrap().contains("did you mean `P309`?"));
    assert!(!d.as_array().unwrap().iter().any(|d| d["code"] == "P309"));
}

const BASELINED: &str = "\
# A config adopted with its findings: a baseline accepts them.
pack:
  name: legacy
  version: 1.0.0
gateway:
  admin:
    listen: 0.0.0.0:41003
providers:
  targets:
    - id: primary
      provider: openai
      base_url: https://api.openai.com
      secret_key_ref: { env: OPENAI_API_KEY }
policies:
  chain: [prompt-injection]
policy:
  pii-detector:
    action: redact
  content-filter:
    rules:
      - id: keys
        pattern: \"sk-[A-Za-z0-9{20,}\"
        action: block
";

#[test]
fn a_baseline_accepts_todays_findings_by_value_not_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg.yaml");
    std::fs::write(&cfg, BASELINED).unwrap();
    let lint = |extra: &[&str]| {
        let mut args = vec!["lint", "cfg.yaml", "--format", "json"];
        args.extend(extra);
        policy_in(dir.path(), &args)
    };
    assert_eq!(code(&lint(&[])), 1);

    let wrote = lint(&["--write-baseline", "baseline.json"]);
    assert_eq!(code(&wrote), 0, "{}", String::from_utf8_lossy(&wrote.stderr));
    let text = std::fs::read_to_string(dir.path().join("baseline.json")).unwrap();
    let b: Value = serde_json::from_str(&text).unwrap();
    let entries = b["files"]["cfg.yaml"].as_array().unwrap();
    let codes: Vec<&str> = entries.iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["P304", "P309", "P311", "P311"], "sorted by code, then pointer");
    assert!(!text.contains("sk-[A-Za-z"), "values are fingerprints, not text");
    // Written twice, the file is byte-identical: it diffs well in review.
    lint(&["--write-baseline", "baseline.json"]);
    assert_eq!(std::fs::read_to_string(dir.path().join("baseline.json")).unwrap(), text);

    let clean = lint(&["--baseline", "baseline.json"]);
    assert_eq!(code(&clean), 0);
    assert_eq!(json(&clean)["summary"]["baselined"], 4);

    // Twenty lines inserted at the top move every finding down: still clean.
    let shifted = format!("{}{BASELINED}", "# a comment line\n".repeat(20));
    std::fs::write(&cfg, &shifted).unwrap();
    let clean = lint(&["--baseline", "baseline.json"]);
    assert_eq!(code(&clean), 0, "{}", String::from_utf8_lossy(&clean.stdout));

    // One new error: only it is reported.
    let new = shifted.replace(
        "      - id: keys\n",
        "      - id: cards\n        pattern: \"4[0-9]{12\"\n        action: block\n      - id: keys\n",
    );
    std::fs::write(&cfg, &new).unwrap();
    let out = lint(&["--baseline", "baseline.json"]);
    assert_eq!(code(&out), 1);
    assert_eq!(findings(&json(&out)), [("P304".into(), 42)]);

    // The baselined bad regex fixed: its entry is reported stale, the run stays clean.
    let fixed = shifted.replace("sk-[A-Za-z0-9{20,}", "sk-[A-Za-z0-9]{20,}");
    std::fs::write(&cfg, &fixed).unwrap();
    let out = lint(&["--baseline", "baseline.json"]);
    assert_eq!(code(&out), 0);
    let v = json(&out);
    assert_eq!(v["files"][0]["stale"][0]["code"], "P304");
    assert_eq!(
        v["files"][0]["stale"][0]["pointer"],
        "/policy/content-filter/rules/0/pattern"
    );
    assert_eq!(v["summary"]["stale"], 1);
    let human =
        String::from_utf8(policy_in(dir.path(), &["lint", "cfg.yaml", "--baseline", "baseline.json"]).stdout).unwrap();
    assert!(
        human.contains("stale baseline entry: P304 at `/policy/content-filter/rules/0/pattern`"),
        "{human}"
    );

    // Paths are relative to the baseline's folder: the same baseline matches from a
    // subfolder, where the file is `../cfg.yaml`.
    std::fs::write(&cfg, &shifted).unwrap();
    let sub = dir.path().join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let from_sub = policy_in(
        &sub,
        &[
            "lint",
            "../cfg.yaml",
            "--baseline",
            "../baseline.json",
            "--format",
            "json",
        ],
    );
    assert_eq!(code(&from_sub), 0, "{}", String::from_utf8_lossy(&from_sub.stdout));

    // A file whose YAML cannot be read was not checked: nothing in the baseline is stale.
    std::fs::write(&cfg, format!("{shifted}oops: [\n")).unwrap();
    let v = json(&lint(&["--baseline", "baseline.json"]));
    assert_eq!(v["files"][0]["stale"], serde_json::json!([]), "{v}");
    assert_eq!(v["summary"]["stale"], 0);
}

#[test]
fn a_broken_baseline_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cfg.yaml"), BASELINED).unwrap();
    std::fs::write(
        dir.path().join("b.json"),
        "{\"version\": 1, \"files\": {\"cfg.yaml\": [{\"code\": 3}]}}",
    )
    .unwrap();
    let out = policy_in(dir.path(), &["lint", "cfg.yaml", "--baseline", "b.json"]);
    assert_eq!(code(&out), 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("b.json is not a policy lint baseline") && err.contains("line 1"),
        "{err}"
    );
    let out = policy_in(dir.path(), &["lint", "cfg.yaml", "--baseline", "missing.json"]);
    assert_eq!(code(&out), 2);
}

/// Comments, odd spacing, flow and block styles, quoting: all must survive a fix.
const UNFIXED: &str = "\
# Owned by the platform team.   Odd   spacing stays.
pack:
    name:   fixable        # a trailing comment
    verison: \"2.0.0\"
providers:
  targets:
    - {id: local,   provider: mock}
policies:
  chain:
    - prompt-injection     # first
    - content-filter
    - prompt-injection     # written twice by a bad merge
policy:
  content-filter:
    rules:
      - id: keys
        pattern: 'sk-[A-Za-z0-9]{20,}'
        action:    'redcat'   # typo
  pii-detector: {action: redact}
";

#[test]
fn fix_edits_only_the_offending_spans() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg.yaml");
    std::fs::write(&cfg, UNFIXED).unwrap();

    let diff = policy_in(dir.path(), &["lint", "cfg.yaml", "--diff"]);
    assert_eq!(code(&diff), 1, "fixes are available");
    let text = String::from_utf8(diff.stdout).unwrap();
    assert!(text.starts_with("--- a/cfg.yaml\n+++ b/cfg.yaml\n"), "{text}");
    assert!(
        text.contains("-    verison: \"2.0.0\"\n+    version: \"2.0.0\"\n"),
        "{text}"
    );
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), UNFIXED, "--diff writes nothing");

    let out = policy_in(dir.path(), &["lint", "cfg.yaml", "--fix", "--format", "json"]);
    let v = json(&out);
    assert_eq!(v["files"][0]["fixed"], 3);
    let after = std::fs::read_to_string(&cfg).unwrap();
    let expected = UNFIXED
        .replace("    verison: \"2.0.0\"", "    version: \"2.0.0\"")
        .replace("    - prompt-injection     # written twice by a bad merge\n", "")
        .replace("action:    'redcat'   # typo", "action:    redact   # typo");
    assert_eq!(after, expected, "only the three spans changed, byte for byte");
    // What is left is the unsafe one: adding pii-detector to the chain changes enforcement.
    assert_eq!(findings(&v), [("P311".into(), 18)]);
    let fix = &v["files"][0]["diagnostics"][0]["fix"];
    assert_eq!(fix["safe"], false);
    assert_eq!(code(&out), 0, "a warning is left");

    let out = policy_in(dir.path(), &["lint", "cfg.yaml", "--fix", "--unsafe-fixes"]);
    assert_eq!(code(&out), 0);
    let after = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        after.contains("    - content-filter\n    - pii-detector\npolicy:"),
        "{after}"
    );
    let v = json(&policy_in(
        dir.path(),
        &["lint", "cfg.yaml", "--format", "json", "--deny-warnings"],
    ));
    assert_eq!(findings(&v), []);
}

#[test]
fn flow_chains_lose_the_duplicate_and_its_comma() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg.yaml");
    let text = "pack: {name: f, version: 1.0.0}\nproviders: {targets: [{id: m, provider: mock}]}\npolicies:\n  chain: [prompt-injection,  content-filter , prompt-injection] # keep\n";
    std::fs::write(&cfg, text).unwrap();
    assert_eq!(code(&policy_in(dir.path(), &["lint", "cfg.yaml", "--fix"])), 0);
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        text.replace(" , prompt-injection]", "]")
    );
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_document_and_a_fix_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg.yaml");
    let text = "\u{feff}pack: {name: f, version: 1.0.0}\nproviders: {targets: [{id: m, provider: mock}]}\npolicies:\n  chain: [prompt-injection, prompt-injection]\n";
    std::fs::write(&cfg, text).unwrap();
    let v = json(&policy_in(dir.path(), &["lint", "cfg.yaml", "--format", "json"]));
    assert_eq!(
        findings(&v),
        [("P302".into(), 4)],
        "the mark is not read into the first key"
    );
    assert_eq!(code(&policy_in(dir.path(), &["lint", "cfg.yaml", "--fix"])), 0);
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        text.replace(", prompt-injection]", "]")
    );
}

#[test]
fn fix_refuses_standard_input_and_unsafe_fixes_need_fix() {
    let out = policy(&["lint", "--fix", "-"], Some("pack: {}\n"));
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--diff"));
    let out = policy(&["lint", "--unsafe-fixes", "fixtures/lint/pass/full.yaml"], None);
    assert_eq!(code(&out), 2);
}

#[test]
fn through_a_pipe_the_snippet_view_has_no_colour() {
    // `policy_in` unsets NO_COLOR: stdout being a pipe is what turns colour off.
    let out = policy_in(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &["lint", "fixtures/lint/fail/invalid-regex.yaml"],
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\u{1b}'), "no ANSI escapes: {text:?}");
    assert!(text.contains("╭─[fixtures/lint/fail/invalid-regex.yaml:"), "{text}");
    assert!(
        !text.contains("Begin snippet"),
        "the narratable form is only on request"
    );
    let narrated = policy(
        &["lint", "--format", "narrated", "fixtures/lint/fail/invalid-regex.yaml"],
        None,
    );
    assert!(stdout(&narrated, None).contains("Begin snippet"));
}

#[test]
fn concise_is_one_line_per_finding() {
    let out = policy(
        &[
            "lint",
            "--format",
            "concise",
            "fixtures/lint/fail/every-finding-in-one-run.yaml",
        ],
        None,
    );
    assert_eq!(code(&out), 1);
    let text = stdout(&out, None);
    let lines: Vec<&str> = text.lines().collect();
    let re = regex::Regex::new(r"^fixtures/lint/fail/every-finding-in-one-run\.yaml:\d+:\d+: P\d{3} \S.*$").unwrap();
    assert_eq!(lines.len(), 12, "{text}");
    for l in &lines[..11] {
        assert!(re.is_match(l), "{l}");
    }
    assert!(
        lines[11].starts_with("Found 10 errors and 1 warning in 1 file."),
        "{}",
        lines[11]
    );
}

#[test]
fn several_files_are_reported_in_the_order_given() {
    let files = [
        "fixtures/lint/fail/invalid-regex.yaml",
        "fixtures/lint/pass/full.yaml",
        "fixtures/lint/fail/duplicate-id.yaml",
        "fixtures/lint/fail/unknown-key.yaml",
    ];
    let mut args = vec!["lint", "--format", "json"];
    args.extend(files);
    let v: Value = serde_json::from_slice(&policy(&args, None).stdout).unwrap();
    let paths: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, files);
}

#[test]
fn a_suppression_after_a_quoted_value_is_a_comment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cfg.yaml"),
        "pack: { name: q, version: 1.0.0 }\ngateway:\n  admin:\n    listen: \"0.0.0.0:41003\"  # policy: ignore[P309] private network\nproviders: { targets: [{ id: m, provider: mock }] }\n",
    )
    .unwrap();
    let v = json(&policy_in(dir.path(), &["lint", "cfg.yaml", "--format", "json"]));
    assert_eq!(findings(&v), []);
    assert_eq!(v["summary"]["suppressed"], 1);
}

#[test]
fn identical_findings_need_and_get_one_baseline_entry_each() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("cfg.yaml"),
        "pack: { name: q, version: 1.0.0 }\n# policy: ignore[P309]\n# policy: ignore[P309]\nproviders: { targets: [{ id: m, provider: mock }] }\n",
    )
    .unwrap();
    let lint = |extra: &[&str]| {
        let mut args = vec!["lint", "cfg.yaml", "--deny-warnings"];
        args.extend(extra);
        policy_in(dir.path(), &args)
    };
    assert_eq!(code(&lint(&[])), 1, "two P401 and two P402 warnings");
    assert_eq!(code(&lint(&["--write-baseline", "b.json"])), 0);
    let out = lint(&["--baseline", "b.json", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(json(&out)["summary"]["baselined"], 4);
}

#[test]
fn diff_fails_on_errors_it_cannot_fix_and_folders_skip_test_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        "pack: { name: q, version: 1.0.0 }\nproviders: { targets: [] }\n",
    )
    .unwrap();
    let out = policy_in(dir.path(), &["lint", "bad.yaml", "--diff"]);
    assert_eq!(code(&out), 1, "no fix, but an error");
    assert!(out.stdout.is_empty());
    std::fs::remove_file(dir.path().join("bad.yaml")).unwrap();
    std::fs::write(
        dir.path().join("policy-config.yaml"),
        "pack: { name: q, version: 1.0.0 }\nproviders: { targets: [{ id: m, provider: mock }] }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("policy-config.policy-test.yaml"),
        "config: policy-config.yaml\ncases: []\n",
    )
    .unwrap();
    let out = policy_in(dir.path(), &["lint", ".", "--format", "json"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(json(&out)["summary"]["files"], 1);
}

#[test]
fn the_unsafe_chain_fix_lands_after_a_quoted_entry_not_in_its_comment() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfg.yaml");
    let text = "pack: { name: q, version: 1.0.0 }\nproviders: { targets: [{ id: m, provider: mock }] }\npolicies:\n  chain: [prompt-injection, \"content-filter\"]  # main\npolicy:\n  pii-detector: { action: redact }\n";
    std::fs::write(&cfg, text).unwrap();
    assert_eq!(
        code(&policy_in(dir.path(), &["lint", "cfg.yaml", "--fix", "--unsafe-fixes"])),
        0
    );
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        text.replace("\"content-filter\"]", "\"content-filter\", pii-detector]")
    );
}

#[test]
fn a_suppression_naming_no_code_is_a_warning_and_list_items_are_named_by_their_list() {
    let dir = tempfile::tempdir().unwrap();
    let text = "pack: { name: p, version: 1.0.0 } # policy: ignore because\nproviders:\n  targets: [{ id: m, provider: mock }]\npolicies:\n  chain: [pii-detector] # policy: ignore[] why\npolicy:\n  pii-detector: { detect: [email, emial] }\n";
    std::fs::write(dir.path().join("cfg.yaml"), text).unwrap();
    let v = json(&policy_in(dir.path(), &["lint", "cfg.yaml", "--format", "json"]));
    assert_eq!(
        findings(&v),
        [("P402".into(), 1), ("P402".into(), 5), ("P204".into(), 7)]
    );
    let messages: Vec<&str> = v["files"][0]["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["message"].as_str().unwrap())
        .collect();
    assert_eq!(messages[0], "this suppression names no code, so it suppresses nothing");
    assert_eq!(messages[2], "unknown `detect[1]` value `emial`");
}

#[test]
fn human_and_concise_give_the_same_column_on_a_line_with_non_ascii_text() {
    let dir = tempfile::tempdir().unwrap();
    let text = "pack: {description: \"héllo 😀\", name: p, version: 1.0.0, verison: 2}\nproviders:\n  targets: [{ id: m, provider: mock }]\npolicies:\n  chain: []\n";
    std::fs::write(dir.path().join("cfg.yaml"), text).unwrap();
    let concise = stdout(
        &policy_in(dir.path(), &["lint", "cfg.yaml", "--format", "concise"]),
        None,
    );
    assert!(concise.starts_with("cfg.yaml:1:57: P201"), "{concise}");
    let human = stdout(&policy_in(dir.path(), &["lint", "cfg.yaml"]), None);
    assert!(human.contains("[cfg.yaml:1:57]"), "{human}");
}

/// P201's help lists every key the place allows, marking those already written (the unused
/// ones alone read as the only keys allowed); a policy's settings written under `policies:`
/// (the chain) are sent to the top-level `policy:`, not told to be removed.
#[test]
fn unknown_key_help_lists_every_allowed_key_and_sends_policy_settings_to_policy() {
    let src = "pack: {name: a, version: 1.0.0}\nproviders:\n  targets:\n    - {id: m, provider: mock, zzzzzz: 1}\npolicies:\n  chain: [prompt-injection]\n  prompt-injection:\n    extra_patterns: ['x']\n";
    let report = policy_lint::lint_source("a.yaml", src);
    let help = |pointer: &str| {
        report
            .diagnostics
            .iter()
            .find(|d| d.code == "P201" && d.pointer == pointer)
            .map(|d| d.help.clone())
            .unwrap_or_else(|| panic!("no P201 at {pointer}: {:?}", report.diagnostics))
    };
    let target = help("/providers/targets/0/zzzzzz");
    for key in [
        "`id` (set)",
        "`provider` (set)",
        "`model`",
        "`base_url`",
        "`secret_key_ref`",
    ] {
        assert!(target.contains(key), "{key}: {target}");
    }
    let misplaced = help("/policies/prompt-injection");
    assert!(
        misplaced.contains("settings of `prompt-injection` go under the top-level `policy:`")
            && !misplaced.starts_with("remove"),
        "{misplaced}"
    );
}

/// A credential pasted into a config is never shown: not in a message (P206, P310 say what it
/// is), and not in a source snippet, which keeps its first characters and its length.
#[test]
fn no_output_format_shows_a_credential_from_the_file() {
    let key = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123456789";
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("leak.yaml");
    std::fs::write(
        &file,
        format!("pack: {{name: a, version: 1.0.0}}\nproviders:\n  targets:\n    - {{id: m, provider: mock, secret_key_ref: {key}}}\npolicies:\n  chain: [prompt-injection]\n"),
    )
    .unwrap();
    let path = file.to_str().unwrap();
    for format in ["human", "json", "concise", "github", "sarif"] {
        let out = policy(&["lint", "--format", format, path], None);
        assert_eq!(out.status.code(), Some(1), "{format}");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(&key[8..]), "{format} shows the key: {all}");
        if format == "human" {
            assert!(all.contains(&format!("sk-p{}", "*".repeat(key.len() - 4))), "{all}");
        }
    }
}

/// The safe fix for a policy's settings written under `policies:` moves them, as written, to
/// `policy:` (made when missing, joined when present), and the file then lints clean.
#[test]
fn misplaced_policy_settings_are_moved_to_policy_by_fix() {
    let head = "pack: {name: a, version: 1.0.0}\nproviders:\n  targets:\n    - {id: m, provider: mock}\npolicies:\n  chain: [prompt-injection, content-filter]\n  prompt-injection:\n    # ours\n    extra_patterns: ['(?i)secret plan']\n";
    let with_policy = format!(
        "{head}policy:\n    content-filter:\n        rules:\n            - {{id: r1, pattern: a, action: block}}\n"
    );
    for (src, expect) in [
        (
            head.to_string(),
            "policy:\n  prompt-injection:\n    # ours\n    extra_patterns: ['(?i)secret plan']\n",
        ),
        (
            with_policy.clone(),
            "    prompt-injection:\n      # ours\n      extra_patterns: ['(?i)secret plan']\n",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("policy-config.yaml");
        std::fs::write(&file, &src).unwrap();
        let out = policy(&["lint", "--fix", file.to_str().unwrap()], None);
        let fixed = std::fs::read_to_string(&file).unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}\n{fixed}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(fixed.contains(expect), "{fixed}");
        assert!(
            !fixed.split("policy:").next().unwrap().contains("extra_patterns"),
            "{fixed}"
        );
        let config = policy_lint::load_config(&file).unwrap().0;
        assert_eq!(
            config.policy.prompt_injection.unwrap().extra_patterns,
            vec!["(?i)secret plan".to_string()]
        );
    }
}
