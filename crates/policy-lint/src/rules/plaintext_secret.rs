//! P310 `plaintext-secret`: a value that looks like an API key or token.

use super::rule::{declare_rule, Context, Finding};
use policy_config::pointer;
use regex::Regex;
use serde_json::Value;
use std::borrow::Cow;
use std::sync::OnceLock;

declare_rule! {
    /// ## What it does
    /// Scans every string of the file, wherever it is, for values shaped like credentials:
    /// OpenAI and Anthropic keys (`sk-…`), AWS access key ids (`AKIA…`), GitHub tokens
    /// (`ghp_…`, `github_pat_…`), Slack tokens (`xox…-`), Google API keys (`AIza…`) and bearer
    /// tokens. Regular expressions that *describe* keys (like `sk-[A-Za-z0-9]{20,}`) are not
    /// flagged. The message never repeats the secret.
    ///
    /// ## Why is this bad?
    /// A config lives in git: a key written into it is leaked to everyone with read access, to
    /// CI logs and to every fork, forever. Secrets belong in the environment.
    ///
    /// ## Example
    /// ```yaml
    /// secret_key_ref: sk-proj-abcdefghijklmnopqrstuvwxyz012345
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// secret_key_ref: { env: OPENAI_API_KEY }
    /// ```
    /// and rotate the leaked key: removing it from the file does not remove it from history.
    pub static RULE = { code: "P310", name: "plaintext-secret", severity: Error, check: Some(check) };
}

use policy_engine::detectors::{looks_random, CREDENTIALS as SHAPES};

/// The literal prefixes every shape starts with (`sk-`, `AKIA`, `ghp_`, …, `bearer` in any
/// case), read from the shapes themselves and searched for all at once, ASCII case ignored: a
/// string with none of them holds no credential. Building this takes microseconds; the regex
/// alternation behind it takes about a millisecond, so most lints never build it (a config
/// names its keys by environment variable).
fn prefixes() -> &'static aho_corasick::AhoCorasick {
    static PREFIXES: OnceLock<aho_corasick::AhoCorasick> = OnceLock::new();
    PREFIXES.get_or_init(|| {
        let mut literals: Vec<Vec<u8>> = Vec::new();
        for (p, _) in SHAPES {
            let hir = regex_syntax::Parser::new().parse(p).expect("constant pattern");
            let seq = regex_syntax::hir::literal::Extractor::new().extract(&hir);
            // A shape with no literal prefix would make the prefilter unsound: every shape has
            // one (the test below holds that).
            for lit in seq.literals().expect("every shape starts with a literal") {
                let lower = lit.as_bytes().to_ascii_lowercase();
                if !literals.contains(&lower) {
                    literals.push(lower);
                }
            }
        }
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(literals)
            .expect("a handful of short literals")
    })
}

/// One alternation of every shape, so each string is scanned once (the regex crate builds a
/// literal prefilter from the alternatives); built only when a string has a shape's prefix.
fn shapes() -> &'static Regex {
    static ANY: OnceLock<Regex> = OnceLock::new();
    ANY.get_or_init(|| {
        let any = SHAPES
            .iter()
            .map(|(p, _)| format!("(?:{p})"))
            .collect::<Vec<_>>()
            .join("|");
        Regex::new(&any).expect("constant pattern")
    })
}

/// The single shapes, which only name what matched: built on the first match, since most
/// files have none and building them costs about as much as the alternation.
fn each_shape() -> &'static [(Regex, &'static str)] {
    static EACH: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    EACH.get_or_init(|| {
        SHAPES
            .iter()
            .map(|(p, n)| (Regex::new(p).expect("constant pattern"), *n))
            .collect()
    })
}

/// Shortest credential any shape matches: shorter strings need no scan.
const MIN_SECRET_LEN: usize = 16;

/// What kind of credential `text` contains, if any.
pub fn detect(text: &str) -> Option<&'static str> {
    if text.len() < MIN_SECRET_LEN || !prefixes().is_match(text) || !shapes().is_match(text) {
        return None;
    }
    each_shape()
        .iter()
        .find_map(|(re, name)| re.find_iter(text).any(|m| looks_random(m.as_str())).then_some(*name))
}

/// `text` with every credential in it replaced by what kind it is: what a diagnostic's
/// message, label and help say about a value, so a key pasted where it does not belong (an
/// env variable's name, a provider, a default) is not printed, nor copied into a baseline.
/// `None` when there is none.
pub fn masked(text: &str) -> Option<String> {
    detect(text)?;
    let mut out = text.to_string();
    for (re, name) in each_shape() {
        out = re
            .replace_all(&out, |c: &regex::Captures<'_>| {
                if looks_random(&c[0]) {
                    format!("<{name}, not repeated here>")
                } else {
                    c[0].to_string()
                }
            })
            .into_owned();
    }
    Some(out)
}

/// How many characters of a credential a snippet keeps, as a key's owner recognises it.
const KEPT: usize = 4;

/// `source` with every credential in it masked for a snippet: its first [`KEPT`] characters
/// kept, every other character `*`, so the length (and every column after it) is unchanged.
/// `None` when there is none (the common case: only a string with a shape's prefix is scanned).
pub fn masked_source(source: &str) -> Option<String> {
    if !prefixes().is_match(source) || !shapes().is_match(source) {
        return None;
    }
    let mut out = source.to_string();
    let mut any = false;
    for (re, _) in each_shape() {
        let found: Vec<(usize, usize)> = re
            .find_iter(&out)
            .filter(|m| looks_random(m.as_str()))
            .map(|m| (m.start(), m.end()))
            .collect();
        for (a, b) in found {
            let kept: String = out[a..b].chars().take(KEPT).collect();
            // The shapes are ASCII but for the space after `bearer`, which is kept as written.
            let rest: String = out[a + kept.len()..b]
                .chars()
                .map(|c| if c.is_whitespace() { c } else { '*' })
                .collect();
            out.replace_range(a..b, &format!("{kept}{rest}"));
            any = true;
        }
    }
    any.then_some(out)
}

fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    /// One step of the path: a key, or an index (kept as a number until a pointer is needed).
    enum Step<'v> {
        Key(&'v str),
        Index(usize),
    }
    // Depth-first with the path kept as steps: a pointer string is only built for a match,
    // not for each of the ~100k nodes of a large config.
    fn walk<'v>(v: &'v Value, path: &mut Vec<Step<'v>>, out: &mut Vec<Finding>) {
        match v {
            Value::String(s) => {
                if let Some(kind) = detect(s) {
                    let pointer = pointer::join(path.iter().map(|step| match step {
                        Step::Key(k) => Cow::Borrowed(*k),
                        Step::Index(i) => Cow::Owned(i.to_string()),
                    }));
                    out.push(Finding::new(
                        pointer,
                        format!("this value looks like {kind} written in plain text"),
                        "plain-text secret",
                        "keep secrets out of the file: reference an environment variable with `secret_key_ref: { env: NAME }`, and rotate this key",
                    ));
                }
            }
            Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    path.push(Step::Index(i));
                    walk(x, path, out);
                    path.pop();
                }
            }
            Value::Object(map) => {
                for (k, x) in map {
                    path.push(Step::Key(k));
                    walk(x, path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }
    // Recursion is bounded: the reader refuses documents deeper than `yaml::MAX_DEPTH`.
    walk(&ctx.doc.value, &mut Vec::new(), out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_has_a_literal_prefix_the_prefilter_finds() {
        for (p, name) in SHAPES {
            let hir = regex_syntax::Parser::new().parse(p).unwrap();
            let seq = regex_syntax::hir::literal::Extractor::new().extract(&hir);
            assert!(
                seq.literals().is_some_and(|l| !l.is_empty()),
                "{name}: {p} has no literal prefix"
            );
        }
        for key in [
            "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
            "AKIAIOSFODNN7EXAMPLE",
            "Authorization: BeArEr abcdefghijklmnopqrstuvwxyz0123456789",
        ] {
            assert!(prefixes().is_match(key), "{key}");
            assert!(detect(key).is_some(), "{key}");
        }
        assert!(!prefixes().is_match("https://api.openai.com/v1 and OPENAI_API_KEY"));
    }

    #[test]
    fn keys_are_found_patterns_are_not() {
        assert!(detect("sk-proj-abcdefghijklmnopqrstuvwxyz012345").is_some());
        assert!(detect("AKIAIOSFODNN7EXAMPLE").is_some());
        assert!(detect("sk-[A-Za-z0-9]{20,}").is_none());
        assert!(detect("AKIA[0-9A-Z]{16}").is_none());
        assert!(detect("risk-assessment-gateway-prod").is_none());
        assert!(detect("sk-automation-assistant-production-eu").is_none());
        assert!(detect("sk-automation-assistant-production-2").is_none());
        assert!(detect("Authorization: Bearer abcdefghijklmnopqrstuvwxyz").is_none());
        assert!(detect("Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9").is_some());
        assert!(detect("Request blocked: potential prompt injection detected").is_none());
    }

    #[test]
    fn a_finding_about_a_pasted_key_does_not_repeat_it() {
        let src = "pack: { name: p, version: 1.0.0 }\nproviders:\n  default: sk-proj-Q7vX2mN9pL4kR8tY3wZ6bC1d\n  targets:\n    - id: o\n      provider: openai\n      secret_key_ref: { env: sk-proj-Q7vX2mN9pL4kR8tY3wZ6bC1d }\npolicies:\n  chain: []\n";
        let report = crate::lint_source("s.yaml", src);
        let codes: Vec<&str> = report.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, ["P305", "P310", "P206", "P310"]);
        for d in &report.diagnostics {
            for text in [&d.message, &d.label, &d.help] {
                assert!(!text.contains("Q7vX2mN9"), "{}: {text}", d.code);
            }
        }
        assert!(report.diagnostics[2]
            .message
            .contains("<an OpenAI API key, not repeated here>"));
        // Nothing to hide: the text stays as it is.
        assert_eq!(super::masked("found `OPENAI-KEY`"), None);
    }
}
