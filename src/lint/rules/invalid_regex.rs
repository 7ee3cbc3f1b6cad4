//! P304 `invalid-regex`: a pattern that does not compile.

use super::{At, Context, Finding};
use crate::config::yaml::{Document, ScalarKind};

declare_rule! {
    /// ## What it does
    /// Compiles every regular expression of the config (`content-filter` rule patterns and
    /// `prompt-injection.extra_patterns`) with the Rust `regex` syntax the gateway uses, and
    /// reports the first error of each, pointing inside the pattern where the parser stopped.
    ///
    /// ## Why is this bad?
    /// A pattern that does not compile makes the gateway refuse the config at reload. Rust's
    /// syntax differs from PCRE and JavaScript: no look-around (`(?=`, `(?!`, `(?<=`), no
    /// back-references (`\1`); `(?i)` flags work.
    ///
    /// ## Example
    /// ```yaml
    /// rules:
    ///   - id: keys
    ///     pattern: "sk-[A-Za-z0-9{20,}"
    ///     action: redact
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// rules:
    ///   - id: keys
    ///     pattern: "sk-[A-Za-z0-9]{20,}"
    ///     action: redact
    /// ```
    pub static RULE = { code: "P304", name: "invalid-regex", severity: Error, check: Some(check) };
}

fn check(ctx: &Context<'_>, out: &mut Vec<Finding>) {
    let Some(config) = ctx.config else { return };
    let mut patterns = Vec::new();
    if let Some(pi) = &config.policy.prompt_injection {
        for (i, p) in pi.extra_patterns.iter().enumerate() {
            patterns.push((format!("/policy/prompt-injection/extra_patterns/{i}"), p.as_str()));
        }
    }
    if let Some(cf) = &config.policy.content_filter {
        for (i, r) in cf.rules.iter().enumerate() {
            patterns.push((format!("/policy/content-filter/rules/{i}/pattern"), r.pattern.as_str()));
        }
    }
    for (pointer, pattern) in patterns {
        if let Err(e) = syntax_check(pattern) {
            let at = inner_at(ctx.doc, &pointer, pattern, e.span);
            out.push(
                Finding::new(pointer, format!("invalid regex: {}", e.kind), e.kind.clone(), e.help).at(at),
            );
        }
    }
}

/// A regex syntax error: what, where in the pattern (characters), and a help line.
pub struct RegexError {
    /// The error kind, as the regex crate words it.
    pub kind: String,
    /// Character range of the error inside the pattern.
    pub span: (usize, usize),
    /// Help for the user.
    pub help: String,
}

/// Check a pattern with the same parser the `regex` crate compiles with. Parsing (rather
/// than compiling) keeps a 10,000-rule config fast to lint; the engine compiles later and
/// only size limits, not syntax, can fail there.
pub fn syntax_check(pattern: &str) -> Result<(), RegexError> {
    let err = match regex_syntax::ParserBuilder::new().build().parse(pattern) {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    let (kind, span) = match &err {
        regex_syntax::Error::Parse(e) => (e.kind().to_string(), *e.span()),
        regex_syntax::Error::Translate(e) => (e.kind().to_string(), *e.span()),
        other => (other.to_string(), regex_syntax::ast::Span::splat(regex_syntax::ast::Position::new(0, 1, 1))),
    };
    let chars = |byte: usize| pattern[..byte.min(pattern.len())].chars().count();
    let help = if pattern.contains("(?=") || pattern.contains("(?!") || pattern.contains("(?<") && !pattern.contains("(?<n") {
        "Rust regex has no look-around; match the text itself, or split it into two rules".to_string()
    } else if kind.contains("backreference") {
        "Rust regex has no back-references; match each alternative explicitly".to_string()
    } else {
        format!("the regex crate reads this pattern as: {}", err.to_string().lines().last().unwrap_or_default().trim_start_matches("error: "))
    };
    Err(RegexError { kind, span: (chars(span.start.offset), chars(span.end.offset)), help })
}

/// Point inside the scalar when its source text is the pattern itself (plain, or quoted
/// without escapes); otherwise at the whole value.
fn inner_at(doc: &Document, pointer: &str, pattern: &str, (a, b): (usize, usize)) -> At {
    let loc = doc.locate(pointer);
    let width = (loc.value.end.col as usize).saturating_sub(loc.value.start.col as usize);
    let len = pattern.chars().count();
    if loc.value.start.line != loc.value.end.line {
        return At::Value;
    }
    match loc.scalar {
        Some(ScalarKind::Plain) if width == len => At::Inner(a, b),
        Some(ScalarKind::Quoted) if width == len + 2 && !pattern.contains(['\\', '"', '\'']) => At::Inner(a + 1, b + 1),
        _ => At::Value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_syntax_is_the_reference() {
        assert!(syntax_check("(?i)reveal your system prompt").is_ok());
        assert!(syntax_check("sk-[A-Za-z0-9]{20,}").is_ok());
        let e = syntax_check("sk-[A-Za-z0-9{20,}").unwrap_err();
        assert!(e.kind.contains("unclosed character class"), "{}", e.kind);
        assert!(syntax_check("foo(?=bar)").unwrap_err().help.contains("look-around"));
    }
}
