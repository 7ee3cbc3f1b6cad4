//! Turning a rule's [`Finding`] (a JSON pointer and which part of the node) into a located
//! [`Diagnostic`] carrying the rule's code, name and severity.
//!
//! Owns the mapping of `At` to a source span, shared by `lint_source` (`mod.rs`) and the schema
//! mapper (`schema_check.rs`). It decides nothing about what is wrong: rules and the schema
//! mapper do; locating a pointer in the document is `config::yaml`'s.

use super::diagnostic::Diagnostic;
use super::rules::rule::{At, Finding, Rule};
use policy_config::yaml::{Document, Span};

/// Locate a rule's finding and give it the rule's code, name and severity.
pub(super) fn make(rule: &'static Rule, doc: &Document, f: Finding) -> Diagnostic {
    let loc = doc.locate(&f.pointer);
    let span = match f.at {
        At::Key => loc.key.unwrap_or(loc.value),
        At::Value => loc.value,
        At::Head => loc.head,
        At::Inner(a, b) => inner_span(loc.value, a, b),
    };
    let related = f
        .related
        .into_iter()
        .map(|(p, label)| {
            let l = doc.locate(&p);
            (l.value, label)
        })
        .collect();
    Diagnostic {
        code: rule.code,
        name: rule.name,
        severity: rule.severity,
        message: masked(f.message),
        pointer: f.pointer,
        span,
        label: masked(f.label),
        help: masked(f.help),
        related,
        fix: f.fix,
    }
}

/// `text`, or with the credentials in it replaced (P310's shapes): a finding about a value
/// may quote it, and a secret written where it does not belong must not be printed again.
fn masked(text: String) -> String {
    super::rules::plaintext_secret::masked(&text).unwrap_or(text)
}

/// Characters `a..b` of a single-line scalar written at `value` (quotes skipped when the span
/// covers them). Falls back to the whole value when the scalar spans several lines.
fn inner_span(value: Span, a: usize, b: usize) -> Span {
    if value.start.line != value.end.line {
        return value;
    }
    let mut s = value;
    s.start.col += a as u32;
    s.end.col = s.start.col + (b.saturating_sub(a)).max(1) as u32;
    s.end.col = s.end.col.min(value.end.col.max(s.start.col + 1));
    s
}
