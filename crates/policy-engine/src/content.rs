//! The `content-filter` stage: the configured rules (id, pattern, action), each of which
//! blocks, redacts every match, or is only logged; and the index that finds the rules that may
//! match a text: one `RegexSet` for short lists, a case-insensitive Aho-Corasick prefilter on
//! the rules' literal prefixes for long ones.
//!
//! Owns compiling that block (lazily for long lists) and running it on the request's texts.
//! The rewrite itself is `redact`'s.

use super::compile::{self, compile_regex, compile_set, CompileError};
use super::decision::{action_name, Decision, Hit};
use super::normalize::Text;
use super::redact::{apply, non_overlapping, Span};
use super::shown::excerpt;
use policy_config::{Action, ContentFilter, PolicyKind};
use regex::{Regex, RegexSet};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::OnceLock;

#[derive(Debug)]
struct ContentRule {
    /// The rule's id, named in hits, redactions and block messages.
    id: String,
    /// The pattern as configured, compiled into `regex` when first needed.
    pattern: String,
    /// Compiled on first use in [`ContentIndex::Literals`] mode: compiling thousands of
    /// Unicode-aware patterns up front would take seconds on every reload.
    regex: OnceLock<Option<Arc<Regex>>>,
    action: Action,
    /// What a block answers the client; a default names the rule.
    message: Option<String>,
}

impl ContentRule {
    fn regex(&self) -> Option<&Regex> {
        // Syntax was checked by lint (P304); a pattern that still fails (a size limit) never
        // matches rather than taking the gateway down.
        self.regex.get_or_init(|| compile::regex(&self.pattern).ok()).as_deref()
    }
}

/// Rule lists up to this size are matched with one `RegexSet` (50 rules compile in ~12 ms,
/// 500 in ~240 ms, 8,000 not at all within the default size limit); longer lists use a
/// literal prefilter.
const SET_MAX_RULES: usize = 64;

/// How a content filter finds the rules that may match a text.
#[derive(Debug)]
enum ContentIndex {
    /// One set of every rule's pattern.
    Set(Arc<RegexSet>),
    /// Each rule's required literal prefixes in one case-insensitive Aho-Corasick automaton;
    /// a hit names candidate rules, whose own regexes then decide. Rules without a usable
    /// literal are always candidates.
    Literals {
        ac: aho_corasick::AhoCorasick,
        owners: Vec<Vec<usize>>,
        always: Vec<usize>,
    },
}

#[derive(Debug)]
pub(super) struct Content {
    index: ContentIndex,
    rules: Vec<ContentRule>,
}

/// Shortest literal worth prefiltering on, and the length literals are cut to (so `(?i)`
/// case variants and digit expansions collapse into one lowercase prefix).
const MIN_LITERAL: usize = 3;
const LITERAL_PREFIX: usize = 8;

impl ContentIndex {
    fn literals(patterns: &[&str]) -> Result<ContentIndex, CompileError> {
        use regex_syntax::hir::literal::{ExtractKind, Extractor};
        let mut by_literal: HashMap<Vec<u8>, Vec<usize>> = HashMap::new();
        let mut always = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            let hir = regex_syntax::parse(p).map_err(|e| CompileError::Regex {
                pointer: format!("/policy/content-filter/rules/{i}/pattern"),
                message: e.to_string(),
            })?;
            let seq = Extractor::new()
                .kind(ExtractKind::Prefix)
                .limit_total(64)
                .limit_literal_len(LITERAL_PREFIX)
                .extract(&hir);
            let lits: Option<Vec<Vec<u8>>> = seq.literals().map(|ls| {
                let mut v: Vec<Vec<u8>> = ls
                    .iter()
                    .map(|l| {
                        l.as_bytes()
                            .iter()
                            .take(LITERAL_PREFIX)
                            .map(u8::to_ascii_lowercase)
                            .collect()
                    })
                    .collect();
                v.sort();
                v.dedup();
                v
            });
            match lits {
                Some(ls) if !ls.is_empty() && ls.iter().all(|l| l.len() >= MIN_LITERAL) => {
                    for l in ls {
                        by_literal.entry(l).or_default().push(i);
                    }
                }
                _ => always.push(i),
            }
        }
        let (literals, owners): (Vec<Vec<u8>>, Vec<Vec<usize>>) = by_literal.into_iter().unzip();
        let ac = aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&literals)
            .map_err(|e| CompileError::Regex {
                pointer: "/policy/content-filter/rules".into(),
                message: e.to_string(),
            })?;
        Ok(ContentIndex::Literals { ac, owners, always })
    }

    /// Indices of the rules that match `text`, ascending.
    fn candidates(&self, text: &str, rules: &[ContentRule]) -> Vec<usize> {
        match self {
            ContentIndex::Set(set) => set.matches(text).into_iter().collect(),
            ContentIndex::Literals { ac, owners, always } => {
                let mut c: Vec<usize> = always.clone();
                for m in ac.find_overlapping_iter(text) {
                    c.extend(&owners[m.pattern().as_usize()]);
                }
                c.sort_unstable();
                c.dedup();
                c.retain(|&i| rules[i].regex().is_some_and(|re| re.is_match(text)));
                c
            }
        }
    }
}

impl Content {
    /// Compile the `content-filter` block (no rules when absent): short lists up front, long
    /// ones behind the literal prefilter with each rule compiled on first use.
    pub(super) fn compile(block: Option<&ContentFilter>) -> Result<Content, CompileError> {
        let cf = block.cloned().unwrap_or_default();
        let small = cf.rules.len() <= SET_MAX_RULES;
        let mut rules = Vec::with_capacity(cf.rules.len());
        for (i, r) in cf.rules.iter().enumerate() {
            let regex = OnceLock::new();
            if small {
                let compiled = compile_regex(format!("/policy/content-filter/rules/{i}/pattern"), &r.pattern)?;
                let _ = regex.set(Some(compiled));
            }
            rules.push(ContentRule {
                id: r.id.clone(),
                pattern: r.pattern.clone(),
                regex,
                action: r.action,
                message: r.message.clone(),
            });
        }
        let patterns: Vec<&str> = cf.rules.iter().map(|r| r.pattern.as_str()).collect();
        let index = if small {
            ContentIndex::Set(compile_set("/policy/content-filter/rules", &patterns)?)
        } else {
            ContentIndex::literals(&patterns)?
        };
        Ok(Content { index, rules })
    }

    /// This stage's patterns for the engine's gate, when the gate can stand in for it: with
    /// the literal prefilter (`None`) the stage always runs, its patterns being too many for
    /// the gate's set.
    pub(super) fn gate_patterns(&self) -> Option<&[String]> {
        match &self.index {
            ContentIndex::Set(set) => Some(set.patterns()),
            ContentIndex::Literals { .. } => None,
        }
    }

    /// Apply every matching rule to each text in rule order; `true` (stop the chain) at the
    /// first block. Sets `changed` when it redacted.
    pub(super) fn run(&self, texts: &mut [Text], d: &mut Decision, changed: &mut bool) -> bool {
        for text in texts.iter_mut() {
            let view = text.view();
            let matched = self.index.candidates(view, &self.rules);
            if matched.is_empty() {
                continue;
            }
            let mut spans: Vec<Span> = Vec::new();
            for i in matched {
                let rule = &self.rules[i];
                let Some(regex) = rule.regex() else { continue };
                let shown = format!("[{}]", rule.id);
                let first = regex
                    .find(view)
                    .map(|m| text.span(m.start(), m.end()))
                    .unwrap_or((0, 0));
                d.hits.push(Hit {
                    policy: PolicyKind::ContentFilter,
                    rule: rule.id.clone(),
                    action: action_name(rule.action),
                    field: text.field.clone(),
                    excerpt: if d.verdict_only {
                        String::new()
                    } else {
                        excerpt(text.original(), first.0, first.1, &shown)
                    },
                });
                match rule.action {
                    Action::Block => {
                        let message = rule
                            .message
                            .clone()
                            .unwrap_or_else(|| format!("Request blocked by content rule `{}`", rule.id));
                        return d.block(PolicyKind::ContentFilter, rule.id.clone(), message);
                    }
                    Action::Redact => spans.extend(regex.find_iter(view).filter(|m| !m.is_empty()).map(|m| {
                        let (s, e) = text.span(m.start(), m.end());
                        (s, e, rule.id.clone(), "[REDACTED]".to_string())
                    })),
                    Action::Log => {}
                }
            }
            if !spans.is_empty() {
                let kept = non_overlapping(spans);
                apply(text, &kept, PolicyKind::ContentFilter, d);
                *changed = true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::{chat, engine};
    use crate::Verdict;

    #[test]
    fn content_rules_block_and_redact() {
        let e = engine("pack: {name: a, version: 1.0.0}\nproviders: {targets: [{id: m, provider: mock}]}\npolicies: {chain: [content-filter]}\npolicy:\n  content-filter:\n    rules:\n      - {id: keys, pattern: 'sk-[A-Za-z0-9]{20,}', action: redact}\n      - {id: pw, pattern: '(?i)password', action: block, message: no}\n");
        let d = e.evaluate(&chat("key sk-AAAAAAAAAAAAAAAAAAAAAAAA here"), 0).unwrap();
        assert_eq!((d.verdict, d.rule.as_deref()), (Verdict::Redact, Some("keys")));
        let d = e.evaluate(&chat("my PASSWORD is x"), 0).unwrap();
        assert_eq!(
            (d.verdict, d.rule.as_deref(), d.message.as_deref()),
            (Verdict::Block, Some("pw"), Some("no"))
        );
    }

    /// Patterns of every shape the literal prefilter must handle: case-insensitive words,
    /// alternations, no literal at all, short literals, classes, anchors, Unicode.
    const SHAPES: &[&str] = &[
        "(?i)\\bsecret[0-9]{2,}",
        "foo|barbaz",
        "[0-9]{5}",
        "ab",
        "(?i)Straße",
        "^hello",
        "x+y?z",
        "(?i)(alpha|beta)-[a-z]+",
        "\\d{3}-\\d{4}",
        "token=[A-Za-z0-9]{8}",
    ];

    /// The rules and both indexes over them, built once for the whole proptest.
    fn prefilter_fixture() -> &'static (Vec<ContentRule>, ContentIndex, ContentIndex) {
        static F: OnceLock<(Vec<ContentRule>, ContentIndex, ContentIndex)> = OnceLock::new();
        F.get_or_init(|| {
            let patterns: Vec<String> = (0..SET_MAX_RULES * 2)
                .map(|i| SHAPES[i % SHAPES.len()].to_string())
                .collect();
            let refs: Vec<&str> = patterns.iter().map(String::as_str).collect();
            let rules = patterns
                .iter()
                .enumerate()
                .map(|(i, p)| ContentRule {
                    id: format!("r{i}"),
                    pattern: p.clone(),
                    regex: OnceLock::new(),
                    action: Action::Log,
                    message: None,
                })
                .collect();
            (
                rules,
                ContentIndex::Set(Arc::new(RegexSet::new(&refs).unwrap())),
                ContentIndex::literals(&refs).unwrap(),
            )
        })
    }

    proptest::proptest! {
        /// Above `SET_MAX_RULES` rules the literal prefilter decides exactly as the set would.
        #[test]
        fn literal_prefilter_agrees_with_the_set(text in "(?i)(secret12|foo|barbaz|12345|ab|strasse|STRASSE|hello|xyz|alpha-q|beta-zz|555-1234|token=AbCd1234|[ -~]){0,12}") {
            let (rules, set, lits) = prefilter_fixture();
            proptest::prop_assert_eq!(set.candidates(&text, rules), lits.candidates(&text, rules));
        }
    }
}
