//! The rule registry: every diagnostic code, its name, severity and documentation.
//!
//! One file per code. A file declares its rule with [`declare_rule!`]; the rule's doc comment
//! is its user documentation (`policy explain CODE`) with the headings *What it does*, *Why is
//! this bad?*, *Example* and *Use instead*. Codes are grouped: `P1xx` YAML reading, `P2xx`
//! schema, `P3xx` semantic rules. Codes found while reading or validating (P1xx, P2xx, and
//! P301) have no `check`: the reader and the schema mapper emit them and take their code from
//! here. Codes are stable: never reuse or renumber one.

use super::diagnostic::Severity;
use crate::config::yaml::Document;
use crate::config::Config;

/// A rule: code, name, default severity, documentation and (for semantic rules) its check.
#[derive(Debug)]
pub struct Rule {
    /// Stable code, `P` and three digits.
    pub code: &'static str,
    /// What it flags, kebab-case (`invalid-regex`).
    pub name: &'static str,
    /// Default severity.
    pub severity: Severity,
    /// Markdown documentation, from the rule's doc comment.
    pub doc: &'static str,
    /// The check, for semantic rules; `None` for codes emitted by the reader or schema mapper.
    pub check: Option<fn(&Context<'_>, &mut Vec<Finding>)>,
}

/// What a semantic rule sees.
pub struct Context<'a> {
    /// The document as read, with spans.
    pub doc: &'a Document,
    /// The typed config, when the document passed the schema.
    pub config: Option<&'a Config>,
}

/// Which part of a mapping entry a finding points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// The value.
    Value,
    /// The key (unknown keys, misplaced blocks).
    Key,
    /// The node's first line (for a mapping: its first key).
    Head,
    /// Characters `start..end` inside a scalar value whose source text equals its value.
    Inner(usize, usize),
}

/// A finding of a semantic rule, before it is located and given its code.
#[derive(Debug, Clone)]
pub struct Finding {
    /// JSON pointer of the offending node.
    pub pointer: String,
    /// Which part of it.
    pub at: At,
    /// One line: what is wrong.
    pub message: String,
    /// Short label under the snippet.
    pub label: String,
    /// What to do.
    pub help: String,
    /// Other nodes worth showing, by pointer, with labels.
    pub related: Vec<(String, String)>,
}

impl Finding {
    /// A finding at the value of `pointer`.
    pub fn new(
        pointer: impl Into<String>,
        message: impl Into<String>,
        label: impl Into<String>,
        help: impl Into<String>,
    ) -> Finding {
        Finding {
            pointer: pointer.into(),
            at: At::Value,
            message: message.into(),
            label: label.into(),
            help: help.into(),
            related: Vec::new(),
        }
    }
    /// Point at the key instead of the value.
    pub fn at(mut self, at: At) -> Finding {
        self.at = at;
        self
    }
    /// Also show `pointer` with `label`.
    pub fn related(mut self, pointer: impl Into<String>, label: impl Into<String>) -> Finding {
        self.related.push((pointer.into(), label.into()));
        self
    }
}

/// Declare a rule: its doc comment becomes [`Rule::doc`].
macro_rules! declare_rule {
    (
        $(#[doc = $doc:literal])*
        pub static $name:ident = {
            code: $code:literal,
            name: $rname:literal,
            severity: $sev:ident,
            check: $check:expr $(,)?
        };
    ) => {
        $(#[doc = $doc])*
        pub static $name: $crate::lint::rules::Rule = $crate::lint::rules::Rule {
            code: $code,
            name: $rname,
            severity: $crate::lint::diagnostic::Severity::$sev,
            doc: concat!($($doc, "\n"),*),
            check: $check,
        };
    };
}

pub mod admin_listener_without_token;
pub mod alias_expansion_limit;
pub mod duplicate_chain_entry;
pub mod duplicate_id;
pub mod duplicate_key;
pub mod invalid_base_url;
pub mod invalid_listen_address;
pub mod invalid_regex;
pub mod malformed_value;
pub mod missing_base_url;
pub mod missing_key;
pub mod mock_settings_on_real_provider;
pub mod multiple_documents;
pub mod nesting_too_deep;
pub mod plaintext_secret;
pub mod policy_not_in_chain;
pub mod schema_violation;
pub mod unknown_key;
pub mod unknown_policy_in_chain;
pub mod unknown_target_reference;
pub mod unknown_value;
pub mod unsupported_yaml;
pub mod value_out_of_range;
pub mod wrong_type;
pub mod yaml_syntax_error;

/// Every rule, in code order.
pub static RULES: &[&Rule] = &[
    &yaml_syntax_error::RULE,
    &duplicate_key::RULE,
    &alias_expansion_limit::RULE,
    &nesting_too_deep::RULE,
    &multiple_documents::RULE,
    &unsupported_yaml::RULE,
    &schema_violation::RULE,
    &unknown_key::RULE,
    &missing_key::RULE,
    &wrong_type::RULE,
    &unknown_value::RULE,
    &value_out_of_range::RULE,
    &malformed_value::RULE,
    &unknown_policy_in_chain::RULE,
    &duplicate_chain_entry::RULE,
    &duplicate_id::RULE,
    &invalid_regex::RULE,
    &unknown_target_reference::RULE,
    &invalid_base_url::RULE,
    &missing_base_url::RULE,
    &invalid_listen_address::RULE,
    &admin_listener_without_token::RULE,
    &plaintext_secret::RULE,
    &policy_not_in_chain::RULE,
    &mock_settings_on_real_provider::RULE,
];

/// The rule with `code` (case-insensitive) or `name`.
pub fn find(code_or_name: &str) -> Option<&'static Rule> {
    RULES
        .iter()
        .copied()
        .find(|r| r.code.eq_ignore_ascii_case(code_or_name) || r.name == code_or_name)
}

/// The closest of `candidates` to `word`, when close enough to be a likely typo. Case and
/// `-`/`_` confusion count as exact.
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    let w = norm(word);
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = if norm(c) == w {
            2.0
        } else {
            strsim::jaro_winkler(&w, &norm(c))
        };
        if score >= 0.8 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_sorted_and_documented() {
        for pair in RULES.windows(2) {
            assert!(pair[0].code < pair[1].code, "{} then {}", pair[0].code, pair[1].code);
        }
        for r in RULES {
            assert!(r.code.len() == 4 && r.code.starts_with('P'), "{}", r.code);
            for heading in ["## What it does", "## Why is this bad?", "## Example"] {
                assert!(r.doc.contains(heading), "{} lacks {heading}", r.code);
            }
            assert!(!r.name.starts_with("no-"), "{}", r.name);
        }
    }

    #[test]
    fn did_you_mean_finds_typos() {
        assert_eq!(
            did_you_mean("promt-injection", ["prompt-injection", "pii-detector"]),
            Some("prompt-injection")
        );
        assert_eq!(
            did_you_mean("max-body-bytes", ["max_body_bytes", "request_timeout_ms"]),
            Some("max_body_bytes")
        );
        assert_eq!(did_you_mean("zzz", ["prompt-injection"]), None);
    }
}
