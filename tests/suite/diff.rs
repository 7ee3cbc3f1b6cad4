//! `policy diff`: every case under `fixtures/diff/<case>/{old,new}.yaml` states its expected
//! class (and restart pointers) on the first line of `new.yaml`:
//!
//! ```yaml
//! # expect: restart /gateway/listen
//! ```
//!
//! The plan is snapshotted as human text, JSON and Markdown. Then: `--fail-on`, invalid
//! inputs, `--base-ref` against a real git repository, and the properties of `classify`.

use crate::properties::valid_config;
use crate::util::{policy, root, stdout};
use policy_config::schema::{self, ListKind};
use policy_config::Config;
use policy_diff::{classify, render, Change, Op};
use policy_lint as lint;
use proptest::prelude::*;
use std::path::Path;

fn load(path: &Path) -> (Config, lint::FileReport) {
    lint::load_config(path).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()))
}

#[test]
fn fixture_cases_classify_as_expected() {
    let mut cases: Vec<_> = std::fs::read_dir(root().join("fixtures/diff"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 8);
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let (old, _) = load(&case.join("old.yaml"));
        let (new, new_report) = load(&case.join("new.yaml"));
        let first = new_report.source.lines().next().unwrap().to_string();
        let mut want = first
            .strip_prefix("# expect:")
            .expect("first line `# expect: CLASS [POINTERS]`")
            .split_whitespace();
        let plan = classify(&old, &new);
        assert_eq!(plan.class_name(), want.next().unwrap(), "{name}: {plan:#?}");
        assert_eq!(plan.restart_required(), want.collect::<Vec<_>>(), "{name}");
        let inputs = render::Inputs {
            old_name: "old.yaml",
            new_name: "new.yaml",
            new_doc: new_report.document.as_ref(),
        };
        insta::assert_snapshot!(format!("diff_{name}_human"), render::human(&plan, &inputs, false));
        insta::assert_snapshot!(
            format!("diff_{name}_json"),
            serde_json::to_string_pretty(&render::to_json(&plan)).unwrap()
        );
        insta::assert_snapshot!(format!("diff_{name}_markdown"), render::markdown(&plan, &inputs));
    }
}

#[test]
fn seed_tutorial_lists_chain_entry_block_and_version() {
    let out = policy(
        &[
            "diff",
            "--format",
            "json",
            "fixtures/diff/seed-tutorial/old.yaml",
            "fixtures/diff/seed-tutorial/new.yaml",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out, None)).unwrap();
    assert_eq!(v["class"], "hot");
    let pointers: Vec<&str> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(pointers, ["/pack/version", "/policies/chain/1", "/policy/pii-detector"]);
    assert_eq!(v["restart_required"], serde_json::json!([]));
}

#[test]
fn fail_on_restart_exits_1() {
    let case = "fixtures/diff/restart-gateway-listen";
    let old = format!("{case}/old.yaml");
    let new = format!("{case}/new.yaml");
    assert_eq!(policy(&["diff", &old, &new], None).status.code(), Some(0));
    assert_eq!(
        policy(&["diff", "--fail-on", "restart", &old, &new], None)
            .status
            .code(),
        Some(1)
    );
    let hot = [
        "fixtures/diff/seed-tutorial/old.yaml",
        "fixtures/diff/seed-tutorial/new.yaml",
    ];
    assert_eq!(
        policy(&["diff", "--fail-on", "restart", hot[0], hot[1]], None)
            .status
            .code(),
        Some(0)
    );
    assert_eq!(
        policy(&["diff", "--fail-on", "any", hot[0], hot[1]], None)
            .status
            .code(),
        Some(1)
    );
    let weak = ["fixtures/diff/weakening/old.yaml", "fixtures/diff/weakening/new.yaml"];
    assert_eq!(
        policy(&["diff", "--fail-on", "weakening", weak[0], weak[1]], None)
            .status
            .code(),
        Some(1)
    );
}

#[test]
fn invalid_input_shows_lint_diagnostics_and_exits_1() {
    let out = policy(
        &[
            "diff",
            "--format",
            "json",
            "fixtures/seed/tutorial-v0.1.0.yaml",
            "fixtures/lint/fail/invalid-regex.yaml",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out, None)).unwrap();
    assert_eq!(v["files"][0]["diagnostics"][0]["code"], "P304");
    assert_eq!(
        policy(&["diff", "fixtures/seed/tutorial-v0.1.0.yaml", "missing.yaml"], None)
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn base_ref_reads_the_old_config_from_git() {
    let dir = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| crate::util::git(dir.path(), args);
    git(&["init", "-q", "-b", "main"]);
    std::fs::create_dir(dir.path().join("conf")).unwrap();
    let file = dir.path().join("conf/policy-config.yaml");
    std::fs::copy(root().join("fixtures/diff/restart-gateway-listen/old.yaml"), &file).unwrap();
    git(&["add", "."]);
    git(&["commit", "-qm", "base"]);
    std::fs::copy(root().join("fixtures/diff/restart-gateway-listen/new.yaml"), &file).unwrap();
    let out = policy(
        &["diff", "--format", "json", "--base-ref", "main", file.to_str().unwrap()],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out, None)).unwrap();
    assert_eq!(v["restart_required"], serde_json::json!(["/gateway/listen"]));
    assert_eq!(
        policy(&["diff", "--base-ref", "no-such-rev", file.to_str().unwrap()], None)
            .status
            .code(),
        Some(2)
    );
}

/// A change's address with list indices of `by-id` lists replaced by the item's id, so that
/// `a -> b` and `b -> a` name the same item even when it sits at different positions.
fn address(c: &Change, old: &serde_json::Value, new: &serde_json::Value) -> String {
    let mut out = String::new();
    let mut parent = String::new();
    for token in c.pointer.split('/').skip(1) {
        let here = format!("{parent}/{token}");
        // Pointers are into the new config, except a removed item itself (old index).
        let doc = if c.op == Op::Remove && here == c.pointer {
            old
        } else {
            new
        };
        match schema::list_kind(&parent) {
            ListKind::ById => {
                let id = doc
                    .pointer(&here)
                    .and_then(|v| v.get("id"))
                    .and_then(|v| v.as_str())
                    .unwrap_or(token);
                out.push_str(&format!("/[{id}]"));
            }
            ListKind::Set | ListKind::OrderedSet => {
                out.push_str(&format!(
                    "/[{}]",
                    doc.pointer(&here).map(|v| v.to_string()).unwrap_or_default()
                ));
            }
            ListKind::Positional => out.push_str(&format!("/{token}")),
        }
        parent = here;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_config_does_not_differ_from_itself(a in valid_config()) {
        prop_assert!(classify(&a, &a).is_empty());
    }

    #[test]
    fn classify_is_symmetric_and_its_class_is_the_strongest(a in valid_config(), b in valid_config()) {
        let (va, vb) = (serde_json::to_value(&a).unwrap(), serde_json::to_value(&b).unwrap());
        let ab = classify(&a, &b);
        let ba = classify(&b, &a);
        let mut forward: Vec<_> = ab.changes.iter().map(|c| (address(c, &va, &vb), c.old.clone(), c.new.clone())).collect();
        let mut backward: Vec<_> = ba.changes.iter().map(|c| (address(c, &vb, &va), c.new.clone(), c.old.clone())).collect();
        forward.sort_by(|x, y| x.0.cmp(&y.0));
        backward.sort_by(|x, y| x.0.cmp(&y.0));
        prop_assert_eq!(forward, backward);
        prop_assert_eq!(ab.class(), ab.changes.iter().map(|c| c.class).max());
        prop_assert_eq!(ab.class(), ba.class());
        for c in &ab.changes {
            prop_assert_eq!(c.class, schema::reload_class(&c.pointer));
        }
    }
}

/// A key pasted into a config is not repeated by a diff of it, in any format.
#[test]
fn no_diff_format_shows_a_credential() {
    let key = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123456789";
    let dir = tempfile::tempdir().unwrap();
    let base = "pack: {name: a, version: 1.0.0}\nproviders:\n  targets: [{id: m, provider: mock}]\npolicies:\n  chain: [content-filter]\npolicy:\n  content-filter:\n    rules:\n      - {id: r1, pattern: a, action: block, message: MSG}\n";
    let old = dir.path().join("old.yaml");
    let new = dir.path().join("new.yaml");
    std::fs::write(&old, base.replace("MSG", "no")).unwrap();
    std::fs::write(&new, base.replace("MSG", &format!("'use {key}'"))).unwrap();
    for format in ["human", "json", "markdown", "github"] {
        let out = policy(
            &["diff", "--format", format, old.to_str().unwrap(), new.to_str().unwrap()],
            None,
        );
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(&key[8..]), "{format}: {all}");
    }
    // Lint refuses such a file before a diff is drawn; the renderers mask it all the same.
    let value = serde_json::json!({"message": format!("use {key}")});
    let shown = render::short(Some(&value));
    assert!(
        !shown.contains(&key[8..]) && shown.contains("not repeated here"),
        "{shown}"
    );
}
