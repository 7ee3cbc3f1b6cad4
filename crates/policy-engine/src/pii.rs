//! The `pii-detector` stage: the configured PII types (`detect`), found by their built-in
//! patterns and checked by their validators (Luhn for cards, ...), then blocked, redacted
//! behind a marker, or only logged.
//!
//! Owns compiling that block, finding the PII in each text and choosing the marker. The
//! patterns and validators live in `detectors`; the rewrite itself is `redact`'s.

use super::compile::{self, compile_set, CompileError};
use super::decision::{action_name, Decision, Hit};
use super::detectors::{pii_label, pii_matches, pii_pattern};
use super::digest::hex;
use super::normalize::Text;
use super::redact::{apply, non_overlapping, Span};
use super::shared::{Fingerprint, Found, Shared};
use super::shown::excerpt;
use policy_config::{Action, MarkerFormat, PiiDetector, PiiType, PolicyKind};
use regex::{Regex, RegexSet};
use sha2::{Digest, Sha256};
use std::sync::Arc;

#[derive(Debug)]
pub(super) struct Pii {
    /// One pattern per detected type, to tell in one pass which types may be present.
    set: Arc<RegexSet>,
    /// Each type with its pattern (same order as `set`), to find every occurrence.
    types: Vec<(PiiType, Arc<Regex>)>,
    action: Action,
    marker: MarkerFormat,
    /// The identity of `set`'s patterns, under which its matches are shared.
    fingerprint: Fingerprint,
}

impl Pii {
    /// Compile the `pii-detector` block (its defaults when absent); a type listed twice counts
    /// once.
    pub(super) fn compile(block: Option<&PiiDetector>) -> Result<Pii, CompileError> {
        let pii = block.cloned().unwrap_or_default();
        let mut detect = pii.detect.clone();
        detect.sort();
        detect.dedup();
        let patterns: Vec<&str> = detect.iter().map(|t| pii_pattern(*t)).collect();
        Ok(Pii {
            fingerprint: Fingerprint::of("pii-detector", patterns.iter().copied()),
            set: compile_set("/policy/pii-detector/detect", &patterns)?,
            types: detect
                .iter()
                .map(|t| {
                    (
                        *t,
                        compile::regex(pii_pattern(*t)).expect("the built-in patterns compile"),
                    )
                })
                .collect(),
            action: pii.action,
            marker: pii.redaction.marker_format,
        })
    }

    /// This stage's patterns, for the engine's gate: a text none of them matches is skipped.
    pub(super) fn gate_patterns(&self) -> &[String] {
        self.set.patterns()
    }

    /// Find the valid PII in each text and act on it; `true` (stop the chain) when it blocks.
    /// Sets `changed` when it redacted.
    pub(super) fn run(&self, texts: &mut [Text], d: &mut Decision, changed: &mut bool, shared: &mut Shared) -> bool {
        for (n, text) in texts.iter_mut().enumerate() {
            let view = text.view();
            let found = shared.find(self.fingerprint, n, text.pristine(), || {
                let mut found = Vec::new();
                for i in self.set.matches(view).iter() {
                    let (t, re) = &self.types[i];
                    found.extend(pii_matches(*t, re, view).iter().map(|m| (i, m.start(), m.end())));
                }
                Found::Pii(found)
            });
            let Found::Pii(found) = &*found else { continue };
            let mut spans: Vec<Span> = Vec::with_capacity(found.len());
            for &(i, start, end) in found {
                let t = self.types[i].0;
                let (s, e) = text.span(start, end);
                spans.push((
                    s,
                    e,
                    t.as_str().to_string(),
                    marker(self.marker, pii_label(t), &view[start..end]),
                ));
            }
            if spans.is_empty() {
                continue;
            }
            let kept = non_overlapping(spans);
            for (s, e, kind, shown) in &kept {
                d.hits.push(Hit {
                    policy: PolicyKind::PiiDetector,
                    rule: kind.clone(),
                    action: action_name(self.action),
                    field: text.field.clone(),
                    excerpt: if d.verdict_only {
                        String::new()
                    } else {
                        excerpt(text.original(), *s, *e, shown)
                    },
                });
            }
            match self.action {
                Action::Block => {
                    let kind = kept[0].2.clone();
                    let message = format!("Request blocked: it contains PII ({kind})");
                    return d.block(PolicyKind::PiiDetector, kind, message);
                }
                Action::Redact => {
                    apply(text, &kept, PolicyKind::PiiDetector, d);
                    *changed = true;
                }
                Action::Log => {}
            }
        }
        false
    }
}

/// What replaces a PII match of type `label` under `format`.
fn marker(format: MarkerFormat, label: &str, original: &str) -> String {
    match format {
        MarkerFormat::Label => format!("[{label}]"),
        MarkerFormat::Mask => "****".to_string(),
        MarkerFormat::Hash => format!("[{label}:{}]", &hex(&Sha256::digest(original.as_bytes()))[..6]),
    }
}
