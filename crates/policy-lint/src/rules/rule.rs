//! What a rule is and what it works with: [`Rule`], the [`Context`] a semantic check sees, the
//! [`Finding`] it reports and where it points ([`At`]); [`declare_rule!`] that every rule file
//! declares its rule with; and [`did_you_mean`], the typo suggestion rules and the schema
//! mapper share.
//!
//! Owns these types and helpers only. Which rules exist is the registry's (`mod.rs`, `RULES`);
//! what each flags is its own file's; locating a finding in the source is `lint::locate`'s.

use crate::diagnostic::Severity;
use crate::fix::Fix;
use crate::line_index::LineIndex;
use policy_config::yaml::Document;
use policy_config::Config;
use serde::de::DeserializeOwned;
use std::borrow::Cow;

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

/// What a semantic rule sees: the document, and typed parts of it.
///
/// A rule asks for the smallest part it needs ([`Context::get`]); a part is given only when it
/// is present and neither it nor anything under it has a schema error. So every rule checks
/// every sound part of a file whatever fails elsewhere, stays silent about broken parts (the
/// schema already reported them), and never reports what the schema said. (On a large file
/// the rules first run beside the schema check, on the assumption that nothing is broken; those
/// findings are kept only if the schema agrees, so what a rule reports never depends on it.)
pub struct Context<'a> {
    /// The source text: for fixes, which edit it.
    pub src: &'a str,
    /// Line starts of `src`, for turning spans into byte ranges.
    pub lines: &'a LineIndex,
    /// The document as read, with spans.
    pub doc: &'a Document,
    /// The typed config, when the whole document passed the schema (or, in the speculative run
    /// above, when it was typed before the schema's answer): parts are read from it.
    pub config: Option<&'a Config>,
    /// Pointers of the schema's findings, sorted.
    broken: &'a [String],
}

impl<'a> Context<'a> {
    /// A context over `doc`; `broken` are the pointers of schema findings, sorted.
    pub fn new(
        src: &'a str,
        lines: &'a LineIndex,
        doc: &'a Document,
        config: Option<&'a Config>,
        broken: &'a [String],
    ) -> Context<'a> {
        debug_assert!(broken.windows(2).all(|w| w[0] <= w[1]));
        Context {
            src,
            lines,
            doc,
            config,
            broken,
        }
    }

    /// Whether no schema finding lies at `pointer` or under it.
    pub(crate) fn sound(&self, pointer: &str) -> bool {
        let from = self.broken.partition_point(|b| b.as_str() < pointer);
        !self.broken[from..]
            .iter()
            .take_while(|b| b.starts_with(pointer))
            .any(|b| b.len() == pointer.len() || b.as_bytes()[pointer.len()] == b'/')
    }

    /// Whether the document has a node at `pointer`.
    pub fn present(&self, pointer: &str) -> bool {
        self.doc.value.pointer(pointer).is_some()
    }

    /// Indices of the items of the sequence at `pointer` (none when it is absent or not a
    /// sequence).
    pub fn indices(&self, pointer: &str) -> std::ops::Range<usize> {
        0..self
            .doc
            .value
            .pointer(pointer)
            .and_then(|v| v.as_array())
            .map_or(0, Vec::len)
    }

    /// The part at `pointer`, typed: from the typed config when the file is valid (`typed`
    /// names the same part there), else deserialized from the document when the node is
    /// present and sound. `None` when it is absent in the document (in a valid file, a default
    /// may stand there) or broken.
    ///
    /// `pointer` is only written out when the document is read, so a rule looping over
    /// 10,000 items of a valid file can pass `format_args!` and build no string.
    pub fn get<T>(
        &self,
        pointer: impl std::fmt::Display,
        typed: impl FnOnce(&'a Config) -> Option<&'a T>,
    ) -> Option<Cow<'a, T>>
    where
        T: Clone + DeserializeOwned,
    {
        if let Some(config) = self.config {
            return typed(config).map(Cow::Borrowed);
        }
        let pointer = pointer.to_string();
        if !self.sound(&pointer) {
            return None;
        }
        let value = self.doc.value.pointer(&pointer)?;
        T::deserialize(value).ok().map(Cow::Owned)
    }
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
    /// How to resolve it automatically, when there is a way.
    pub fix: Option<Fix>,
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
            fix: None,
        }
    }
    /// Offer `fix`.
    pub fn fix(mut self, fix: Option<Fix>) -> Finding {
        self.fix = fix;
        self
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
        pub static $name: $crate::rules::rule::Rule = $crate::rules::rule::Rule {
            code: $code,
            name: $rname,
            severity: $crate::diagnostic::Severity::$sev,
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
            super::similarity::jaro_winkler(&w, &norm(c))
        };
        if score >= 0.8 && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

/// The one candidate close to `word`, when exactly one is: what a safe fix may take. Two
/// close candidates (`log` for `lgo`, or `block`?) leave the choice to the writer.
pub(crate) fn unique_candidate<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    let best = did_you_mean(word, candidates.iter().copied())?;
    let norm = |s: &str| s.to_ascii_lowercase().replace('-', "_");
    if norm(best) == norm(word) {
        return Some(best);
    }
    let close = candidates
        .iter()
        .filter(|c| super::similarity::jaro_winkler(&norm(word), &norm(c)) >= 0.8)
        .count();
    (close == 1).then_some(best)
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

    #[test]
    fn unique_candidate_needs_exactly_one_close_word() {
        assert_eq!(unique_candidate("redcat", ["block", "redact", "log"]), Some("redact"));
        assert_eq!(unique_candidate("rule-a", ["rule-b", "rule-c"]), None);
        assert_eq!(unique_candidate("zzz", ["block"]), None);
    }
}
