//! Suppression comments (docs/guide/lint.md): reading them from the source and applying them to a
//! file's diagnostics.
//!
//! `# policy: ignore[P310,P311] reason` suppresses those codes on its own line and the line
//! below; `# policy: ignore-file[P311] reason` in the whole file. Codes may be given by name
//! (`ignore[policy-not-in-chain]`). A suppression without a reason still applies but is a
//! P401 warning; a code that suppressed nothing (or is no code at all) is a P402 warning. YAML
//! reading errors (P1xx) are never suppressed: with one, nothing else was checked, so the
//! comments are left alone. Owns the comment syntax and the matching; counting and rendering
//! are the report's and the renderers'.

use super::diagnostic::Diagnostic;
use super::fix::quoted_token;
use super::line_index::LineIndex;
use super::rules::{did_you_mean, suppression_without_reason, unused_suppression, Rule, RULES};
use policy_config::yaml::{Document, Pos, Span};

/// One suppression comment.
#[derive(Debug, Clone)]
struct Directive {
    /// 1-based line of the comment.
    line: u32,
    /// `ignore-file` rather than `ignore`.
    whole_file: bool,
    /// The codes as written, where, and the rule each names (`None`: no such code).
    codes: Vec<(String, Span, Option<&'static Rule>)>,
    /// Where the whole comment is written.
    span: Span,
    /// Whether a reason follows the brackets.
    has_reason: bool,
}

/// A file's diagnostics after its suppressions.
#[derive(Debug, Default)]
pub struct Suppressed {
    /// What is still reported, P401/P402 warnings included.
    pub kept: Vec<Diagnostic>,
    /// What the comments hid.
    pub hidden: Vec<Diagnostic>,
}

/// Apply the suppression comments of `src` to `diagnostics`. `doc` is the document when the
/// file was YAML (it tells comments from `#` inside strings).
pub fn apply(src: &str, lines: &LineIndex, doc: Option<&Document>, diagnostics: Vec<Diagnostic>) -> Suppressed {
    let Some(doc) = doc else {
        return Suppressed {
            kept: diagnostics,
            hidden: Vec::new(),
        };
    };
    let directives = read(src, lines, doc);
    if directives.is_empty() {
        return Suppressed {
            kept: diagnostics,
            hidden: Vec::new(),
        };
    }
    let mut used = vec![Vec::<bool>::new(); directives.len()];
    for (u, d) in used.iter_mut().zip(&directives) {
        *u = vec![false; d.codes.len()];
    }
    let mut out = Suppressed::default();
    for diag in diagnostics {
        let line = diag.line();
        let mut hidden = false;
        for (di, d) in directives.iter().enumerate() {
            if !(d.whole_file || line == d.line || line == d.line + 1) {
                continue;
            }
            for (ci, (_, _, rule)) in d.codes.iter().enumerate() {
                if rule.is_some_and(|r| r.code == diag.code) {
                    used[di][ci] = true;
                    hidden = true;
                }
            }
        }
        if hidden {
            out.hidden.push(diag);
        } else {
            out.kept.push(diag);
        }
    }
    for (d, used) in directives.iter().zip(&used) {
        if d.codes.is_empty() {
            out.kept.push(warning(
                &unused_suppression::RULE,
                "this suppression names no code, so it suppresses nothing".into(),
                d.span,
                "no code".into(),
                "name the codes it is for in brackets, e.g. `# policy: ignore[P309] the pod network is private`".into(),
            ));
        }
        if !d.has_reason {
            out.kept.push(warning(
                &suppression_without_reason::RULE,
                "this suppression gives no reason".into(),
                d.span,
                "no reason".into(),
                "say why after the brackets, e.g. `# policy: ignore[P309] the pod network is private`".into(),
            ));
        }
        for ((written, span, rule), used) in d.codes.iter().zip(used) {
            if *used {
                continue;
            }
            let (message, help) = match rule {
                None => {
                    let codes = RULES.iter().map(|r| r.code);
                    let names = RULES.iter().map(|r| r.name);
                    let hint = did_you_mean(written, codes.chain(names))
                        .map(|s| format!("did you mean `{s}`? "))
                        .unwrap_or_default();
                    (
                        format!("`{written}` is not a code of `policy lint`"),
                        format!("{hint}`policy explain CODE` lists what each code means"),
                    )
                }
                Some(r) if r.code.starts_with("P1") => (
                    format!("{} cannot be suppressed: the file must be readable YAML", r.code),
                    "fix the YAML; nothing else is checked while it does not read".into(),
                ),
                Some(r) => (
                    format!("nothing to suppress: no {} ({}) finding {}", r.code, r.name, scope(d)),
                    "remove this code from the comment (the finding it was for is gone)".into(),
                ),
            };
            out.kept.push(warning(
                &unused_suppression::RULE,
                message,
                *span,
                "unused".into(),
                help,
            ));
        }
    }
    out
}

fn scope(d: &Directive) -> &'static str {
    if d.whole_file {
        "in this file"
    } else {
        "on this line or the next"
    }
}

fn warning(rule: &'static Rule, message: String, span: Span, label: String, help: String) -> Diagnostic {
    Diagnostic {
        code: rule.code,
        name: rule.name,
        severity: rule.severity,
        message,
        pointer: String::new(),
        span,
        label,
        help,
        related: Vec::new(),
        fix: None,
    }
}

/// Every suppression comment of `src`. Cheap when there is none: one substring search.
fn read(src: &str, lines: &LineIndex, doc: &Document) -> Vec<Directive> {
    let mut out = Vec::new();
    let finder = memchr::memmem::Finder::new("policy:");
    let (mut from, mut counted, mut line_no) = (0, 0, 1u32);
    while let Some(i) = finder.find(&src.as_bytes()[from..]) {
        let at = from + i;
        let line_start = src[..at].rfind('\n').map_or(0, |n| n + 1);
        let line_end = src[at..].find('\n').map_or(src.len(), |n| at + n);
        from = line_end.max(at + 1);
        // Lines counted from where the last count stopped: linear in the file, however many
        // `policy:` it holds.
        line_no += memchr::memchr_iter(b'\n', &src.as_bytes()[counted..line_start]).count() as u32;
        counted = line_start;
        if let Some(d) = parse_line(&src[line_start..line_end], line_no) {
            let hash = Pos {
                line: line_no,
                col: d.span.start.col,
            };
            if !in_text(src, lines, doc, hash) {
                out.push(d);
            }
        }
    }
    out
}

/// Whether `pos` is inside a scalar or key as written. saphyr's span of a quoted scalar runs
/// on over the comment after it, so a quoted one counts only up to its closing quote.
fn in_text(src: &str, lines: &LineIndex, doc: &Document, pos: Pos) -> bool {
    let Some(span) = doc.scalar_at(pos) else {
        return false;
    };
    let text = src.get(lines.range(src, span)).unwrap_or_default();
    if !text.starts_with(['"', '\'']) || span.start.line != span.end.line {
        return true;
    }
    quoted_token(text).is_none_or(|token| pos.col < span.start.col + token.chars().count() as u32)
}

/// The directive on `line` (its text), if the line has one in a comment.
fn parse_line(line: &str, line_no: u32) -> Option<Directive> {
    let chars = |byte: usize| line[..byte].chars().count() as u32;
    let pos = |byte: usize| Pos {
        line: line_no,
        col: chars(byte),
    };
    // The comment: a `#` at the line start or after a space, followed by `policy:`.
    let mut search = 0;
    let hash = loop {
        let h = search + line[search..].find('#')?;
        let after_space = h == 0 || line[..h].ends_with([' ', '\t']);
        if after_space && line[h + 1..].trim_start().starts_with("policy:") {
            break h;
        }
        search = h + 1;
    };
    let rest = line[hash + 1..].trim_start().strip_prefix("policy:")?.trim_start();
    let (whole_file, after) = if let Some(r) = rest.strip_prefix("ignore-file") {
        (true, r)
    } else {
        (false, rest.strip_prefix("ignore")?)
    };
    let open = line.len() - after.len();
    let span = pos(hash).to_span(pos(line.trim_end().len()));
    let Some(inner) = after.strip_prefix('[') else {
        // `# policy: ignore because …`: it names no code, so it suppresses nothing (`apply`
        // says so). `# policy: ignored …` is not a directive.
        let bare = after.is_empty() || after.starts_with([' ', '\t']);
        return bare.then_some(Directive {
            line: line_no,
            whole_file,
            codes: Vec::new(),
            span,
            has_reason: true,
        });
    };
    let close = inner.find(']')?;
    let list_at = open + 1;
    let mut codes = Vec::new();
    let mut offset = 0;
    for part in inner[..close].split(',') {
        let code = part.trim();
        let start = list_at + offset + (part.len() - part.trim_start().len());
        offset += part.len() + 1;
        if code.is_empty() {
            continue;
        }
        let rule = super::rules::find(code);
        codes.push((code.to_string(), pos(start).to_span(pos(start + code.len())), rule));
    }
    let reason = inner[close + 1..].trim().trim_start_matches(['-', ':', '—']).trim();
    Some(Directive {
        line: line_no,
        whole_file,
        codes,
        span,
        has_reason: !reason.is_empty(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_are_read_from_comments_only() {
        let d = parse_line("  listen: x # policy: ignore[P309, P311] private network", 3).unwrap();
        assert!(!d.whole_file && d.has_reason);
        let codes: Vec<_> = d
            .codes
            .iter()
            .map(|(c, s, r)| (c.as_str(), s.start.col, r.is_some()))
            .collect();
        assert_eq!(codes, [("P309", 29, true), ("P311", 35, true)]);
        let d = parse_line("# policy: ignore-file[policy-not-in-chain]", 1).unwrap();
        assert!(d.whole_file && !d.has_reason);
        assert_eq!(d.codes[0].2.unwrap().code, "P311");
        assert!(parse_line("  pattern: a#policy: ignore[P304] x", 1).is_none());
        // Naming no code is a directive that suppresses nothing; `ignored` is just a word.
        assert!(parse_line("  a: 1 # policy: ignore[] reason", 1).is_some_and(|d| d.codes.is_empty()));
        assert!(parse_line("  a: 1 # policy: ignore because", 1).is_some_and(|d| d.codes.is_empty()));
        assert!(parse_line("  a: 1 # policy: ignored by hand", 1).is_none());
        assert!(parse_line("  # policy: ignored[P304] x", 1).is_none());
        assert!(parse_line("  # a note about policy: nothing", 1).is_none());
    }
}
