//! P310 `plaintext-secret`: a value that looks like an API key or token.

use super::{Context, Finding};
use crate::config::yaml::escape;
use regex::Regex;
use serde_json::Value;
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

/// What each credential shape is called in messages.
const SHAPES: &[(&str, &str)] = &[
    (r"sk-ant-[A-Za-z0-9_-]{20,}", "an Anthropic API key"),
    (r"sk-[A-Za-z0-9_-]{20,}", "an OpenAI API key"),
    (r"\bAKIA[0-9A-Z]{16}\b", "an AWS access key id"),
    (r"\bgh[pousr]_[A-Za-z0-9]{36,}", "a GitHub token"),
    (r"\bgithub_pat_[A-Za-z0-9_]{22,}", "a GitHub token"),
    (r"\bxox[baprs]-[A-Za-z0-9-]{10,}", "a Slack token"),
    (r"\bAIza[0-9A-Za-z_-]{35}", "a Google API key"),
    (r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{20,}", "a bearer token"),
];

fn shapes() -> &'static [(Regex, &'static str)] {
    static S: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    S.get_or_init(|| SHAPES.iter().map(|(p, n)| (Regex::new(p).expect("constant pattern"), *n)).collect())
}

/// What kind of credential `text` contains, if any.
pub fn detect(text: &str) -> Option<&'static str> {
    shapes().iter().find(|(re, _)| re.is_match(text)).map(|(_, name)| *name)
}

fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    // Iterative walk: the document may be wide (10,000 rules) and is bounded in depth anyway.
    let mut todo = vec![(String::new(), &ctx.doc.value)];
    while let Some((pointer, v)) = todo.pop() {
        match v {
            Value::String(s) => {
                if let Some(kind) = detect(s) {
                    out.push(Finding::new(
                        pointer,
                        format!("this value looks like {kind} written in plain text"),
                        "plain-text secret",
                        "keep secrets out of the file: reference an environment variable with `secret_key_ref: { env: NAME }`, and rotate this key",
                    ));
                }
            }
            Value::Array(items) => todo.extend(items.iter().enumerate().map(|(i, x)| (format!("{pointer}/{i}"), x))),
            Value::Object(map) => todo.extend(map.iter().map(|(k, x)| (format!("{pointer}/{}", escape(k)), x))),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::detect;

    #[test]
    fn keys_are_found_patterns_are_not() {
        assert!(detect("sk-proj-abcdefghijklmnopqrstuvwxyz012345").is_some());
        assert!(detect("AKIAIOSFODNN7EXAMPLE").is_some());
        assert!(detect("sk-[A-Za-z0-9]{20,}").is_none());
        assert!(detect("AKIA[0-9A-Z]{16}").is_none());
        assert!(detect("Request blocked: potential prompt injection detected").is_none());
    }
}
