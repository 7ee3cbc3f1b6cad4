//! Fixes: the edits that resolve a diagnostic, and applying them to a file.
//!
//! Owns [`Fix`] and [`Edit`] (what a rule or the schema mapper attaches to a finding), applying
//! a set of fixes to a source text without overlaps ([`apply`]), and the fix loop
//! ([`fix_source`]): lint, apply, lint the result again, until nothing more applies. Which
//! finding has which fix is the rule's business; writing files and printing diffs is the
//! binary's.
//!
//! A fix is *safe* when it only does what the text evidently meant (a misspelt key or value
//! with exactly one close candidate, a chain entry written twice); anything that changes what
//! the gateway would do beyond that is *unsafe* and applied only on request. Edits replace
//! exact spans, so comments, order and formatting elsewhere survive byte for byte.

use super::line_index::LineIndex;
use super::{lint_source_with, FileReport, Options};
use policy_config::yaml::Span;

/// A way to resolve one diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    /// Whether `--fix` applies it (`false`: only with `--unsafe-fixes`).
    pub safe: bool,
    /// What it does, in one line ("replace `verison` with `version`").
    pub message: String,
    /// Its edits, non-overlapping.
    pub edits: Vec<Edit>,
}

/// Replace the text at `span` with `content` (empty: delete; empty span: insert).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The text replaced.
    pub span: Span,
    /// The new text.
    pub content: String,
}

impl Fix {
    /// A safe fix of one edit.
    pub fn safe(message: impl Into<String>, span: Span, content: impl Into<String>) -> Fix {
        Fix {
            safe: true,
            message: message.into(),
            edits: vec![Edit {
                span,
                content: content.into(),
            }],
        }
    }

    /// The same fix, marked unsafe.
    pub(crate) fn unsafe_(mut self) -> Fix {
        self.safe = false;
        self
    }
}

/// Apply `fixes` to `src`, skipping any whose edits overlap an edit already taken (it is
/// offered again on the next round). Returns the new text and how many fixes were applied.
pub fn apply<'a>(src: &str, fixes: impl IntoIterator<Item = &'a Fix>) -> (String, usize) {
    let lines = LineIndex::new(src);
    let mut taken: Vec<(std::ops::Range<usize>, &str)> = Vec::new();
    let mut applied = 0;
    for fix in fixes {
        let ranges: Vec<_> = fix
            .edits
            .iter()
            .map(|e| (lines.range(src, e.span), e.content.as_str()))
            .collect();
        let overlaps = |r: &std::ops::Range<usize>| {
            taken.iter().any(|(t, _)| {
                r.start < t.end && t.start < r.end || (r.start == t.start && (r.is_empty() || t.is_empty()))
            })
        };
        if ranges.iter().any(|(r, _)| overlaps(r)) {
            continue;
        }
        taken.extend(ranges);
        applied += 1;
    }
    taken.sort_by_key(|(r, _)| (r.start, r.end));
    let mut out = String::with_capacity(src.len());
    let mut at = 0;
    for (r, content) in taken {
        out.push_str(&src[at..r.start]);
        out.push_str(content);
        at = r.end;
    }
    out.push_str(&src[at..]);
    (out, applied)
}

/// Where `word` is written at `span`, bare or in quotes (the quotes included): only there may
/// a fix replace it. `None` when the text there is something else (a key copied by a `<<`
/// merge, a value reached through an alias, an escape sequence). The scanner's span of a
/// quoted scalar may run on over a trailing comment; the result ends at the closing quote.
pub(crate) fn written_span(src: &str, lines: &LineIndex, span: Span, word: &str) -> Option<Span> {
    let text = src.get(lines.range(src, span))?;
    if text == word {
        return Some(span);
    }
    let token = quoted_token(text)?;
    if span.start.line != span.end.line || token[1..token.len() - 1] != *word || word.contains('\\') {
        return None;
    }
    let mut exact = span;
    exact.end.col = span.start.col + token.chars().count() as u32;
    Some(exact)
}

/// The one-line quoted scalar `text` starts with, quotes included (`\"` escapes in double
/// quotes, `''` in single ones); `None` when `text` does not start with a quote or the quote
/// does not close on the line. saphyr's span of a quoted scalar runs on over the blanks and
/// comment after it; this is where the scalar really ends.
pub(crate) fn quoted_token(text: &str) -> Option<&str> {
    let q = text.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\n' {
            return None;
        } else if q == '"' && c == '\\' {
            chars.next();
        } else if c == q {
            if q == '\'' && chars.peek().is_some_and(|(_, n)| *n == '\'') {
                chars.next();
            } else {
                return Some(&text[..=i]);
            }
        }
    }
    None
}

/// How a sequence is written, seen from one of its items at `item`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeqStyle {
    /// `- item` lines; the text before the item on its line (indent and dash).
    Block,
    /// `[a, b]`.
    Flow,
}

/// The style of the sequence whose item is written at `item`, and the text before it on its
/// line (for a block sequence, what a new item's line starts with).
pub(crate) fn seq_style<'s>(src: &'s str, lines: &LineIndex, item: Span) -> (SeqStyle, &'s str) {
    let line_start = lines.offset(
        src,
        policy_config::yaml::Pos {
            line: item.start.line,
            col: 0,
        },
    );
    let prefix = &src[line_start..lines.offset(src, item.start)];
    if prefix.trim() == "-" {
        (SeqStyle::Block, prefix)
    } else {
        (SeqStyle::Flow, prefix)
    }
}

/// The span of the line(s) `span` is written on, newline included: what deleting a block
/// sequence item removes. `None` when anything but the item, its dash and a comment shares
/// those lines.
pub(crate) fn whole_lines(src: &str, lines: &LineIndex, span: Span) -> Option<Span> {
    use policy_config::yaml::Pos;
    let (style, _) = seq_style(src, lines, span);
    let after = &src[lines.offset(src, span.end)
        ..lines.offset(
            src,
            Pos {
                line: span.end.line + 1,
                col: 0,
            },
        )];
    let after = after.trim();
    if style != SeqStyle::Block || !(after.is_empty() || after.starts_with('#')) {
        return None;
    }
    Some(Span {
        start: Pos {
            line: span.start.line,
            col: 0,
        },
        end: Pos {
            line: span.end.line + 1,
            col: 0,
        },
    })
}

/// The outcome of fixing one file.
#[derive(Debug)]
pub struct Fixed {
    /// The text after every applicable fix.
    pub source: String,
    /// Fixes applied, over all rounds.
    pub applied: usize,
    /// The fixed text linted again: what is left.
    pub report: FileReport,
}

/// Rounds of fixing at most: a fix may reveal another (a key renamed, then its value checked),
/// but never endlessly.
const MAX_ROUNDS: usize = 10;

/// Lint `src`, apply its safe fixes (and unsafe ones when `unsafe_fixes`), lint again, and
/// repeat until no fix applies. Suppressed findings are not fixed.
pub fn fix_source(path: &str, src: &str, options: &Options, unsafe_fixes: bool) -> Fixed {
    let mut source = src.to_string();
    let mut applied = 0;
    let mut report = lint_source_with(path, source.as_str(), options);
    for _ in 0..MAX_ROUNDS {
        let fixes = report
            .diagnostics
            .iter()
            .filter_map(|d| d.fix.as_ref())
            .filter(|f| f.safe || unsafe_fixes);
        let (next, n) = apply(&source, fixes);
        if n == 0 || next == source {
            break;
        }
        applied += n;
        source = next;
        report = lint_source_with(path, source.as_str(), options);
    }
    Fixed {
        source,
        applied,
        report,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use policy_config::yaml::Pos;

    fn span(l1: u32, c1: u32, l2: u32, c2: u32) -> Span {
        Span {
            start: Pos { line: l1, col: c1 },
            end: Pos { line: l2, col: c2 },
        }
    }

    #[test]
    fn edits_replace_only_their_spans_and_overlaps_wait() {
        let src = "a: 1 # keep\nbb: 2\n";
        let f1 = Fix::safe("x", span(1, 0, 1, 1), "alpha");
        let f2 = Fix::safe("y", span(2, 0, 2, 2), "b");
        let clash = Fix::safe("z", span(1, 0, 1, 1), "other");
        let (out, n) = apply(src, [&f1, &clash, &f2]);
        assert_eq!(out, "alpha: 1 # keep\nb: 2\n");
        assert_eq!(n, 2);
    }

    #[test]
    fn quoted_tokens_end_at_their_closing_quote() {
        assert_eq!(quoted_token("\"a\\\"b\"  # c"), Some("\"a\\\"b\""));
        assert_eq!(quoted_token("'it''s' # c"), Some("'it''s'"));
        assert_eq!(quoted_token("\"open"), None);
        assert_eq!(quoted_token("plain"), None);
    }

    #[test]
    fn a_line_can_be_deleted_up_to_the_end_of_the_file() {
        let src = "a:\n  - x\n  - y";
        let f = Fix::safe("del", span(3, 0, 4, 0), "");
        assert_eq!(apply(src, [&f]).0, "a:\n  - x\n");
    }
}
