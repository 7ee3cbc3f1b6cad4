//! What a rule is and what it works with: [`Rule`], the [`Context`] a semantic check sees, the
//! [`Finding`] it reports and where it points ([`At`]); [`declare_rule!`] that every rule file
//! declares its rule with; and [`did_you_mean`], the typo suggestion rules and the schema
//! mapper share.
//!
//! Owns these types and helpers only. Which rules exist is the registry's (`mod.rs`, `RULES`);
//! what each flags is its own file's; locating a finding in the source is `lint::locate`'s.

use crate::config::yaml::Document;
use crate::config::Config;
use crate::lint::diagnostic::Severity;

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
        pub static $name: $crate::lint::rules::rule::Rule = $crate::lint::rules::rule::Rule {
            code: $code,
            name: $rname,
            severity: $crate::lint::diagnostic::Severity::$sev,
            doc: concat!($($doc, "\n"),*),
            check: $check,
        };
    };
}
pub(crate) use declare_rule;

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
