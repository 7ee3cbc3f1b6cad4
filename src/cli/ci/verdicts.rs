//! `policy ci --traffic`: what a changed config does to recorded traffic, next to its base-ref
//! version. Owns rendering one file's offline replay for the job summary and the pull-request
//! comment: the transition table (with the rules behind each transition and whether `--expect`
//! allows it) and the first changed requests, by id only: a summary or a comment never shows
//! a request's text, not even an excerpt.
//!
//! The replay itself is `policy_replay::offline`'s, the same one `policy replay` runs.

use policy_contract::{admin, Verdict};
use policy_replay::offline::{Changed, Report, Side};
use std::collections::{BTreeMap, BTreeSet};

/// How many changed requests a file's section lists.
const FIRST: usize = 10;

/// The rule that made the difference: the new side's when it decides something, else the old
/// side's (the rule the new config no longer applies). Named as the shadow and `policy replay`
/// name it: `policy/rule`.
pub fn rule_of(c: &Changed) -> String {
    let side = if c.new.verdict == Verdict::Allow {
        &c.old
    } else {
        &c.new
    };
    name(side)
}

fn name(s: &Side) -> String {
    admin::rule_name(s.policy.map(|p| p.as_str()), s.rule.as_deref())
}

/// Whether `old->new` lets through what was stopped or rewritten before.
pub fn loosens(transition: &str) -> bool {
    matches!(
        transition.split_once("->"),
        Some(("block" | "redact" | "rate_limited", "allow")) | Some(("block", "redact"))
    )
}

/// The transitions of `report` that `allowed` (an `--expect` file) does not list; every one
/// when there is no such file.
pub fn unexpected<'r>(report: &'r Report, allowed: Option<&BTreeSet<String>>) -> Vec<&'r str> {
    report
        .transitions
        .keys()
        .filter(|t| allowed.is_none_or(|a| !a.contains(*t)))
        .map(String::as_str)
        .collect()
}

/// One changed file's section: `file` replayed on `traffic`.
pub fn markdown(file: &str, traffic: &str, report: &Report, allowed: Option<&BTreeSet<String>>) -> String {
    let mut out = format!("### Verdicts: `{file}` on `{traffic}`\n\n");
    if report.changed == 0 {
        out.push_str(&format!(
            "No verdict changes on the {} recorded request(s).\n\n",
            report.requests
        ));
        return out;
    }
    out.push_str(&format!(
        "{} of {} recorded request(s) change verdict.\n\n",
        report.changed, report.requests
    ));
    let mut rules: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for c in &report.changes {
        let t = format!("{}->{}", c.old.verdict.as_str(), c.new.verdict.as_str());
        *rules.entry(t).or_default().entry(rule_of(c)).or_default() += 1;
    }
    let head = if allowed.is_some() { " `--expect` |" } else { "" };
    out.push_str(&format!(
        "| Transition | Requests | Share | Rules |{head}\n|---|---|---|---|{}\n",
        if allowed.is_some() { "---|" } else { "" }
    ));
    for (t, n) in &report.transitions {
        let share = *n as f64 * 100.0 / report.requests.max(1) as f64;
        let by_rule: Vec<String> = rules
            .get(t)
            .into_iter()
            .flatten()
            .map(|(r, k)| format!("`{r}` {k}"))
            .collect();
        let mark = if loosens(t) { "⚠️ " } else { "" };
        let expect = match allowed {
            Some(a) if a.contains(t) => " allowed |",
            Some(_) => " ❌ not listed |",
            None => "",
        };
        out.push_str(&format!(
            "| {mark}`{t}` | {n} | {share:.1}% | {} |{expect}\n",
            by_rule.join(", ")
        ));
    }
    out.push_str("\nFirst changed requests (ids only):\n\n| Request | Before | After |\n|---|---|---|\n");
    for c in report.changes.iter().take(FIRST) {
        out.push_str(&format!(
            "| `{}` | {} ({}) | {} ({}) |\n",
            super::cell(&c.id).replace('`', "'"),
            c.old.verdict.as_str(),
            name(&c.old),
            c.new.verdict.as_str(),
            name(&c.new)
        ));
    }
    if report.changes.len() > FIRST {
        out.push_str(&format!(
            "\n… and {} more: `policy replay --traffic {traffic} --old <base version> --new {file}` lists them.\n",
            report.changes.len() - FIRST
        ));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loosening_is_toward_less_enforcement() {
        for t in ["block->allow", "redact->allow", "rate_limited->allow", "block->redact"] {
            assert!(loosens(t), "{t}");
        }
        for t in ["allow->block", "redact->block", "allow->redact", "block->rate_limited"] {
            assert!(!loosens(t), "{t}");
        }
    }
}
