//! Files past the size where linting goes parallel (256 KB: the YAML is scanned on one thread
//! while another builds it, and the schema check runs beside the rules) get the answers a
//! small file gets: every finding, wherever it is. (That the two-thread read builds the
//! document the one-thread read builds is `policy_config::yaml`'s own test.)

use policy_lint as lint;

/// A config of `n` content rules, about 130 bytes each (plain, single- and double-quoted
/// scalars, flow lists, comments, numbers, booleans); `edit` may rewrite any rule's text.
fn config(n: usize, edit: impl Fn(usize, String) -> String) -> String {
    let mut s = String::from(
        "pack:\n  name: large\n  version: 1.0.0\nproviders:\n  targets:\n    - id: primary\n      provider: openai\n      base_url: https://api.openai.com\n      secret_key_ref: { env: OPENAI_API_KEY }\n      timeout_ms: 30000\npolicies:\n  chain: [prompt-injection, content-filter]   # order matters\npolicy:\n  prompt-injection:\n    extra_patterns: ['ignore (all|previous) instructions']\n  content-filter:\n    rules:\n",
    );
    for i in 0..n {
        let action = ["block", "redact", "log"][i % 3];
        let rule = format!(
            "      # rule {i}\n      - id: rule-{i:05}\n        pattern: \"(?i)\\\\bword{i}[0-9]{{2,8}}\\\\b\"\n        action: {action}\n        message: 'blocked by rule {i}'\n"
        );
        s.push_str(&edit(i, rule));
    }
    s
}

/// The 3,000-rule config with `from` replaced by `to` in rule `at` alone.
fn config_editing(at: usize, from: &str, to: &str) -> String {
    config(3_000, |i, r| if i == at { r.replace(from, to) } else { r })
}

fn findings(src: &str) -> Vec<(&'static str, u32)> {
    lint::lint_source("large.yaml", src)
        .diagnostics
        .iter()
        .map(|d| (d.code, d.span.start.line))
        .collect()
}

/// The line `needle` is on (1-based).
fn line_of(src: &str, needle: &str) -> u32 {
    let at = src.find(needle).expect("needle in source");
    src[..at].matches('\n').count() as u32 + 1
}

#[test]
fn a_valid_large_file_lints_clean() {
    assert_eq!(findings(&config(3_000, |_, r| r)), []);
}

#[test]
fn a_rule_finding_on_a_large_file_the_schema_accepts_is_reported() {
    // Found while the schema check runs beside the rules.
    let src = config(3_000, |i, r| match i {
        2_500 => r.replace("[0-9]{2,8}", "[0-9"),
        2_900 => r.replace("rule-02900", "rule-00005"),
        _ => r,
    });
    assert_eq!(
        findings(&src),
        [
            ("P304", line_of(&src, "word2500[0-9")),
            (
                "P303",
                line_of(&src, "rule-00005\n        pattern: \"(?i)\\\\bword2900")
            )
        ]
    );
}

#[test]
fn a_large_file_with_schema_errors_still_gets_every_rule_finding() {
    // The schema error makes the rules run again, told what is broken.
    let src = config(3_000, |i, r| match i {
        10 => r.replace("action: ", "acton: "),
        2_500 => r.replace("[0-9]{2,8}", "[0-9"),
        2_900 => r.replace("rule-02900", "rule-00005"),
        _ => r,
    });
    let mut got = findings(&src);
    got.sort();
    let mut want = vec![
        ("P201", line_of(&src, "acton: ")),
        ("P202", line_of(&src, "- id: rule-00010")),
        ("P304", line_of(&src, "word2500[0-9")),
        (
            "P303",
            line_of(&src, "rule-00005\n        pattern: \"(?i)\\\\bword2900"),
        ),
    ];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn a_duplicate_key_deep_in_a_large_file_is_reported_where_it_is() {
    let src = config_editing(2_000, "message: ", "message: first\n        message: ");
    let dup = line_of(&src, "message: first") + 1;
    assert_eq!(findings(&src), [("P102", dup)]);
}

#[test]
fn a_syntax_error_at_the_end_of_a_large_file_is_reported_where_it_is() {
    // The general reader, on its own thread, stops at the error; the builder reports it.
    let src = config_editing(2_999, "message: 'blocked", "message: \"blocked");
    let got = findings(&src);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "P101");
    assert!(got[0].1 >= line_of(&src, "message: \"blocked"), "{got:?}");
}
