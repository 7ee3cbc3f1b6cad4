//! Applying redactions: from the matches a stage wants redacted to the rewritten text and the
//! [`Redaction`]s recorded in the decision.
//!
//! Owns overlap resolution and the rewrite of the original text (spans are mapped back from
//! the normalised view by the stages). What to redact and what marker replaces it are
//! the stages' (`pii`, `content`); putting the texts back into the body is `text`'s.

use super::decision::{Decision, Redaction};
use super::normalize::Text;
use policy_config::PolicyKind;

/// A match to redact: byte range, kind (PII type or rule id), replacement.
pub(super) type Span = (usize, usize, String, String);

/// `spans` sorted by start, the longest first where two start together, and every span that
/// overlaps an earlier kept one dropped: what [`apply`] needs.
pub(super) fn non_overlapping(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    let mut kept: Vec<Span> = Vec::with_capacity(spans.len());
    for s in spans {
        if kept.last().is_none_or(|k| s.0 >= k.1) {
            kept.push(s);
        }
    }
    kept
}

/// Replace `spans` (sorted, non-overlapping byte ranges of the original text) in `text`,
/// recording each redaction.
pub(super) fn apply(text: &mut Text, spans: &[Span], policy: PolicyKind, d: &mut Decision) {
    let original = text.original();
    let mut out = String::with_capacity(original.len());
    let mut at = 0;
    for (s, e, kind, replacement) in spans {
        out.push_str(&original[at..*s]);
        out.push_str(replacement);
        d.redactions.push(Redaction {
            policy,
            kind: kind.clone(),
            field: text.field.clone(),
            start: *s,
            end: *e,
            replacement: replacement.clone(),
        });
        at = *e;
    }
    out.push_str(&original[at..]);
    text.replace(out);
}
