//! Table-driven: each fixture under `fixtures/lint/` and `fixtures/seed/` states what it
//! expects on its first line, ruff-style:
//!
//! ```yaml
//! # expect: clean
//! # expect: P304@12, P201@3      (code@line, every diagnostic, any order)
//! ```
//!
//! The test lints it, compares the (code, line) set with the expectation, checks every
//! diagnostic carries what the JSON output requires, and snapshots the human and JSON renderings.

use crate::util::{root, yaml_files};
use policy_lint::{self as lint, render};

fn expectation(src: &str, path: &str) -> Option<Vec<(String, u32)>> {
    let first = src.lines().next().unwrap_or_default();
    let spec = first
        .strip_prefix("# expect:")
        .unwrap_or_else(|| panic!("{path}: first line must be `# expect: ...`"))
        .trim();
    if spec == "clean" {
        return None;
    }
    let mut v: Vec<(String, u32)> = spec
        .split(',')
        .map(|item| {
            let (code, line) = item
                .trim()
                .split_once('@')
                .unwrap_or_else(|| panic!("{path}: `{item}` is not CODE@LINE"));
            (
                code.to_string(),
                line.parse().unwrap_or_else(|_| panic!("{path}: bad line in `{item}`")),
            )
        })
        .collect();
    v.sort();
    Some(v)
}

#[test]
fn fixtures_report_what_they_expect() {
    let mut files = yaml_files(&root().join("fixtures/lint"));
    files.extend(yaml_files(&root().join("fixtures/seed")));
    assert!(
        files.len() >= 20,
        "expected the fixture set, found {} files",
        files.len()
    );
    let mut failures = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(root()).unwrap().display().to_string();
        let src = std::fs::read_to_string(file).unwrap();
        let report = lint::lint_source(&rel, src.as_str());
        let mut got: Vec<(String, u32)> = report
            .diagnostics
            .iter()
            .map(|d| (d.code.to_string(), d.line()))
            .collect();
        got.sort();
        let want = expectation(&src, &rel).unwrap_or_default();
        if got != want {
            failures.push(format!("{rel}: expected {want:?}, got {got:?}"));
        }
        for d in &report.diagnostics {
            assert!(
                !d.help.is_empty() && !d.message.is_empty() && !d.label.is_empty(),
                "{rel}: {d:?}"
            );
            assert!(
                d.line() >= 1 && d.column() >= 1 && (d.end_line(), d.end_column()) >= (d.line(), d.column()),
                "{rel}: {d:?}"
            );
        }
        let name = rel.replace(['/', '.'], "_");
        let human = render::human::render(std::slice::from_ref(&report), render::human::Style::Plain);
        let json = serde_json::to_string_pretty(&render::json::to_value(std::slice::from_ref(&report))).unwrap();
        insta::assert_snapshot!(format!("{name}_human"), human);
        insta::assert_snapshot!(format!("{name}_json"), json);
    }
    assert!(
        failures.is_empty(),
        "fixtures whose diagnostics differ from their first line:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_rule_has_a_failing_fixture() {
    let mut seen = std::collections::BTreeSet::new();
    for file in yaml_files(&root().join("fixtures/lint/fail")) {
        let src = std::fs::read_to_string(&file).unwrap();
        for (code, _) in expectation(&src, &file.display().to_string()).unwrap_or_default() {
            seen.insert(code);
        }
    }
    let missing: Vec<&str> = lint::rules::RULES
        .iter()
        .map(|r| r.code)
        // P200 is the schema's catch-all; P5xx are test-file codes (tests/suite/policy_test.rs).
        .filter(|c| !seen.contains(*c) && *c != "P200" && !c.starts_with("P5"))
        .collect();
    assert!(missing.is_empty(), "codes without a failing fixture: {missing:?}");
}
