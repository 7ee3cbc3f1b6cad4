//! Reports of a `policy test` run: human (a line per case, failures in full), JSON, JUnit XML
//! (what GitHub, GitLab and Jenkins test reporters read) and GitHub annotations.
//!
//! Owns the wording and the shapes; the results and the coverage come finished from `run` and
//! `coverage`. Every format says the same counts.

use super::coverage::{percent, Coverage};
use super::run::FileResult;
use policy_lint::render::{github, plural};
use serde_json::json;

/// Totals over a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Totals {
    /// Test files.
    pub files: usize,
    /// Cases.
    pub cases: usize,
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed.
    pub failed: usize,
}

impl Totals {
    /// Count over `results`.
    pub fn of(results: &[FileResult]) -> Totals {
        let cases: usize = results.iter().map(|r| r.cases.len()).sum();
        let failed: usize = results.iter().map(FileResult::failed).sum();
        Totals {
            files: results.len(),
            cases,
            passed: cases - failed,
            failed,
        }
    }
}

fn coverage_totals(coverage: &[Coverage]) -> (usize, usize) {
    (
        coverage.iter().map(|c| c.hit).sum(),
        coverage.iter().map(|c| c.rules).sum(),
    )
}

/// One line per case, every failure in full with its file:line:col, the totals, and (with
/// `show_coverage`) what the cases hit and missed.
pub fn human(results: &[FileResult], coverage: &[Coverage], show_coverage: bool) -> String {
    let mut out = String::new();
    for r in results {
        out.push_str(&format!("{} (config {})\n", r.path, r.config));
        for c in &r.cases {
            let mark = if c.passed { "ok  " } else { "FAIL" };
            out.push_str(&format!("  {mark} {}\n", c.name));
        }
    }
    let failing: Vec<_> = results
        .iter()
        .flat_map(|r| r.cases.iter().filter(|c| !c.passed).map(move |c| (r, c)))
        .collect();
    if !failing.is_empty() {
        out.push_str("\nfailures:\n");
        for (r, c) in failing {
            out.push_str(&format!("\n{}:{}:{}: {}\n", r.path, c.line, c.column, c.name));
            for f in &c.failures {
                out.push_str(&format!("  - {f}\n"));
            }
        }
    }
    let t = Totals::of(results);
    out.push_str(&format!(
        "\n{}: {} passed, {} failed ({})\n",
        plural(t.cases, "case"),
        t.passed,
        t.failed,
        plural(t.files, "file"),
    ));
    if show_coverage {
        for c in coverage {
            out.push_str(&format!(
                "coverage of {}: {} of {} rules hit ({:.1}%)\n",
                c.config, c.hit, c.rules, c.percent
            ));
            let policies: Vec<String> = c
                .policies
                .iter()
                .map(|p| format!("{} {}", p.policy, if p.hit { "hit" } else { "NOT HIT" }))
                .collect();
            if !policies.is_empty() {
                out.push_str(&format!("  policies: {}\n", policies.join(", ")));
            }
            let missed: Vec<String> = c
                .items
                .iter()
                .filter(|i| !i.hit)
                .map(|i| format!("{}/{}", i.policy, i.rule.as_deref().unwrap_or_default()))
                .collect();
            if !missed.is_empty() {
                out.push_str(&format!("  not hit: {}\n", missed.join(", ")));
            }
        }
        if coverage.len() > 1 {
            let (hit, rules) = coverage_totals(coverage);
            out.push_str(&format!(
                "coverage in all: {hit} of {rules} rules hit ({:.1}%)\n",
                percent(hit, rules)
            ));
        }
    }
    out
}

/// One JSON object: files with their cases, the totals, the coverage.
pub fn json(results: &[FileResult], coverage: &[Coverage]) -> String {
    let (hit, rules) = coverage_totals(coverage);
    let v = json!({
        "files": results,
        "summary": Totals::of(results),
        "coverage": {
            "rules": rules,
            "hit": hit,
            "percent": percent(hit, rules),
            "configs": coverage,
        },
    });
    format!("{v}\n")
}

/// `s` as XML 1.0 text: the characters XML cannot hold at all (control characters but tab
/// and newline, U+FFFE and U+FFFF) are left out, the rest escaped.
fn xml(s: &str) -> String {
    s.chars()
        .filter(|c| (!c.is_control() || *c == '\n' || *c == '\t') && !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
        .collect::<String>()
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// JUnit XML: a `testsuite` per file, a `testcase` per case, a `failure` with every unmet
/// expectation. Holds the attributes both common JUnit schemas (Jenkins' and Ant's) ask for.
pub fn junit(results: &[FileResult], timestamp: &str, hostname: &str) -> String {
    let t = Totals::of(results);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"policy test\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"0.000\">\n",
        t.cases, t.failed
    ));
    for (i, r) in results.iter().enumerate() {
        out.push_str(&format!(
            "  <testsuite name=\"{}\" package=\"policy-test\" id=\"{i}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" time=\"0.000\" timestamp=\"{}\" hostname=\"{}\">\n",
            xml(&r.path),
            r.cases.len(),
            r.failed(),
            xml(timestamp),
            xml(hostname),
        ));
        out.push_str(&format!(
            "    <properties>\n      <property name=\"config\" value=\"{}\"/>\n    </properties>\n",
            xml(&r.config)
        ));
        for c in &r.cases {
            let classname = xml(&r.path);
            if c.passed {
                out.push_str(&format!(
                    "    <testcase name=\"{}\" classname=\"{classname}\" time=\"0.000\"/>\n",
                    xml(&c.name)
                ));
            } else {
                let first = c.failures.first().map(String::as_str).unwrap_or("failed");
                out.push_str(&format!(
                    "    <testcase name=\"{}\" classname=\"{classname}\" time=\"0.000\">\n      <failure message=\"{}\" type=\"expectation\">{}:{}:{}\n{}</failure>\n    </testcase>\n",
                    xml(&c.name),
                    xml(first),
                    xml(&r.path),
                    c.line,
                    c.column,
                    xml(&c.failures.join("\n")),
                ));
            }
        }
        out.push_str("    <system-out/>\n    <system-err/>\n  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// JUnit XML for a run in which no case ran because a config under test has lint errors: a
/// `testsuite` per config with one `testcase` that errs with its diagnostics, so a CI test
/// reporter shows why instead of finding no report.
pub fn junit_not_run(reports: &[policy_lint::FileReport], timestamp: &str, hostname: &str) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<testsuites name=\"policy test\" tests=\"{0}\" failures=\"0\" errors=\"{0}\" time=\"0.000\">\n",
        reports.len()
    ));
    for (i, r) in reports.iter().enumerate() {
        let errors = r.count(policy_lint::Severity::Error);
        out.push_str(&format!(
            "  <testsuite name=\"{path}\" package=\"policy-test\" id=\"{i}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" time=\"0.000\" timestamp=\"{}\" hostname=\"{}\">\n    <properties>\n      <property name=\"config\" value=\"{path}\"/>\n    </properties>\n    <testcase name=\"the config under test lints clean\" classname=\"{path}\" time=\"0.000\">\n      <error message=\"{errors} lint error(s): no case ran\" type=\"lint\">{}</error>\n    </testcase>\n    <system-out/>\n    <system-err/>\n  </testsuite>\n",
            xml(timestamp),
            xml(hostname),
            xml(&policy_lint::render::concise::render(std::slice::from_ref(r))),
            path = xml(&r.path),
        ));
    }
    out.push_str("</testsuites>\n");
    out
}

/// A GitHub `::error` annotation on each failing case's line, then the totals as a notice.
pub fn github(results: &[FileResult]) -> String {
    let mut out = String::new();
    for r in results {
        for c in r.cases.iter().filter(|c| !c.passed) {
            out.push_str(&format!(
                "::error file={},line={},col={},title={}::{}\n",
                github::property(&r.path),
                c.line,
                c.column,
                github::property(&format!("policy test: {}", c.name)),
                github::data(&c.failures.join("\n")),
            ));
        }
    }
    let t = Totals::of(results);
    out.push_str(&format!(
        "::notice title=policy test::{} cases: {} passed, {} failed\n",
        t.cases, t.passed, t.failed
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::xml;

    #[test]
    fn xml_leaves_out_what_xml_cannot_hold_and_escapes_the_rest() {
        assert_eq!(
            xml("a\u{1}b\u{1b}[31m\u{FFFE}\u{FFFF}c\td\n<&\"'>"),
            "ab[31mc\td\n&lt;&amp;&quot;&apos;&gt;"
        );
    }
}
