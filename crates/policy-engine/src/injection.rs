//! The `prompt-injection` stage: the built-in detectors plus `extra_patterns`, compiled into
//! one `RegexSet`; the first match in a text blocks (or is only logged).
//!
//! Owns compiling that block and running it on the request's texts. The patterns themselves
//! live in `detectors`; this stage never rewrites text.

use super::compile::{self, compile_regex, compile_set, CompileError};
use super::decision::{Decision, Hit};
use super::detectors::INJECTIONS;
use super::normalize::Text;
use super::shared::{Fingerprint, Found, Shared};
use super::shown::excerpt;
use policy_config::{BlockOrLog, PolicyKind, PromptInjection};
use regex::{Regex, RegexSet};
use std::sync::Arc;

#[derive(Debug)]
pub(super) struct Injection {
    /// Every pattern, built-in first, to tell in one pass whether and which ones match.
    set: Arc<RegexSet>,
    /// The same patterns one by one, to find where the first matching one matched.
    regexes: Vec<Arc<Regex>>,
    /// The rule id of each pattern: a detector id or `extra_patterns/N`.
    ids: Vec<String>,
    action: BlockOrLog,
    /// What a block answers the client.
    message: String,
    /// The identity of `set`'s patterns, under which its matches are shared.
    fingerprint: Fingerprint,
}

impl Injection {
    /// Compile the `prompt-injection` block (its defaults when absent).
    pub(super) fn compile(block: Option<&PromptInjection>) -> Result<Injection, CompileError> {
        let pi = block.cloned().unwrap_or_default();
        let mut ids: Vec<String> = INJECTIONS.iter().map(|(id, _)| id.to_string()).collect();
        let mut patterns: Vec<&str> = INJECTIONS.iter().map(|(_, p)| *p).collect();
        let mut regexes = INJECTIONS
            .iter()
            .map(|(_, p)| compile::regex(p))
            .collect::<Result<Vec<_>, _>>()
            .expect("the built-in patterns compile");
        for (i, p) in pi.extra_patterns.iter().enumerate() {
            regexes.push(compile_regex(
                format!("/policy/prompt-injection/extra_patterns/{i}"),
                p,
            )?);
            ids.push(format!("extra_patterns/{i}"));
            patterns.push(p);
        }
        Ok(Injection {
            fingerprint: Fingerprint::of("prompt-injection", patterns.iter().copied()),
            set: compile_set("/policy/prompt-injection/extra_patterns", &patterns)?,
            regexes,
            ids,
            action: pi.response.action,
            message: pi.response.message,
        })
    }

    /// This stage's patterns, for the engine's gate: a text none of them matches is skipped.
    pub(super) fn gate_patterns(&self) -> &[String] {
        self.set.patterns()
    }

    /// Record the first match in each text's view; `true` (stop the chain) when it blocks.
    pub(super) fn run(&self, texts: &[Text], d: &mut Decision, shared: &mut Shared) -> bool {
        for (i, text) in texts.iter().enumerate() {
            let view = text.view();
            let found = shared.find(self.fingerprint, i, text.pristine(), || {
                let first = self.set.matches(view).iter().next();
                Found::Injection(first.map(|k| (k, self.regexes[k].find(view).map(|m| (m.start(), m.end())))))
            });
            let Found::Injection(Some((first, at))) = *found else {
                continue;
            };
            let (s, e) = at.map_or((0, 0), |(s, e)| text.span(s, e));
            let action = match self.action {
                BlockOrLog::Block => "block",
                BlockOrLog::Log => "log",
            };
            let original = text.original();
            let shown = format!("«{}»", &original[s..e]);
            d.hits.push(Hit {
                policy: PolicyKind::PromptInjection,
                rule: self.ids[first].clone(),
                action,
                field: text.field.clone(),
                excerpt: if d.verdict_only {
                    String::new()
                } else {
                    excerpt(original, s, e, &shown)
                },
            });
            if self.action == BlockOrLog::Block {
                return d.block(
                    PolicyKind::PromptInjection,
                    self.ids[first].clone(),
                    self.message.clone(),
                );
            }
        }
        false
    }
}
