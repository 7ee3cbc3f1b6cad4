//! P304 `invalid-regex`: a pattern that does not compile.

use super::rule::{declare_rule, At, Context, Finding};
use policy_config::yaml::{Document, ScalarKind};

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
    // Checked as they are found: collecting 10,000 patterns first would only grow a vector.
    // The pointer is written out only for a finding.
    let mut check_one = |pointer: &dyn Fn() -> String, pattern: &str| {
        if let Err(e) = syntax_check(pattern) {
            let pointer = pointer();
            let at = inner_at(ctx.doc, &pointer, pattern, e.span);
            out.push(Finding::new(pointer, format!("invalid regex: {}", e.kind), e.kind.clone(), e.help).at(at));
        }
    };
    for i in ctx.indices("/policy/prompt-injection/extra_patterns") {
        let pointer = || format!("/policy/prompt-injection/extra_patterns/{i}");
        let p = ctx.get(format_args!("/policy/prompt-injection/extra_patterns/{i}"), |c| {
            c.policy.prompt_injection.as_ref()?.extra_patterns.get(i)
        });
        if let Some(p) = p {
            check_one(&pointer, &p);
        }
    }
    for i in ctx.indices("/policy/content-filter/rules") {
        let pointer = || format!("/policy/content-filter/rules/{i}/pattern");
        let p = ctx.get(format_args!("/policy/content-filter/rules/{i}/pattern"), |c| {
            c.policy.content_filter.as_ref()?.rules.get(i).map(|r| &r.pattern)
        });
        if let Some(p) = p {
            check_one(&pointer, &p);
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
pub(crate) fn syntax_check(pattern: &str) -> Result<(), RegexError> {
    if has_large_repetition(pattern) {
        // Only counted repetitions can blow the compiled size past the regex crate's limit;
        // those few patterns are compiled for real so lint and the gateway agree.
        if let Err(regex::Error::CompiledTooBig(limit)) = regex::Regex::new(pattern) {
            return Err(RegexError {
                kind: format!("the compiled regex exceeds the size limit of {limit} bytes"),
                span: (0, pattern.chars().count()),
                help: "reduce counted repetitions like `{1000}` (or `\\w{n}`, which repeats a large Unicode class), or split the rule".into(),
            });
        }
    }
    if surely_valid(pattern) {
        return Ok(());
    }
    let err = match regex_syntax::ParserBuilder::new().build().parse(pattern) {
        Ok(_) => return Ok(()),
        Err(e) => e,
    };
    let (kind, span) = match &err {
        regex_syntax::Error::Parse(e) => (e.kind().to_string(), *e.span()),
        regex_syntax::Error::Translate(e) => (e.kind().to_string(), *e.span()),
        other => (
            other.to_string(),
            regex_syntax::ast::Span::splat(regex_syntax::ast::Position::new(0, 1, 1)),
        ),
    };
    let chars = |byte: usize| pattern[..byte.min(pattern.len())].chars().count();
    let help =
        if pattern.contains("(?=") || pattern.contains("(?!") || pattern.contains("(?<") && !pattern.contains("(?<n") {
            "Rust regex has no look-around; match the text itself, or split it into two rules".to_string()
        } else if kind.contains("backreference") {
            "Rust regex has no back-references; match each alternative explicitly".to_string()
        } else {
            match &err {
                regex_syntax::Error::Parse(e) => how_to_fix(e.kind()).to_string(),
                _ => "write it in the regex crate's syntax (https://docs.rs/regex/latest/regex/#syntax)".to_string(),
            }
        };
    Err(RegexError {
        kind,
        span: (chars(span.start.offset), chars(span.end.offset)),
        help,
    })
}

/// What to do about a syntax error of this kind: the help line P304 prints under the
/// message (which already says what is wrong).
fn how_to_fix(kind: &regex_syntax::ast::ErrorKind) -> &'static str {
    use regex_syntax::ast::ErrorKind as K;
    match kind {
        K::GroupUnclosed => "close the group with `)`, or write `\\(` to match a parenthesis",
        K::GroupUnopened => "remove this `)`, or write `\\)` to match a parenthesis",
        K::ClassUnclosed => "close the class with `]`, or write `\\[` to match a bracket",
        K::ClassRangeInvalid => "write the range from low to high, like `[a-z]` or `[0-9]`",
        K::ClassRangeLiteral => "a range goes between two characters; write `\\-` to match a dash",
        K::ClassEscapeInvalid => "this escape cannot be one end of a range; list the characters instead",
        K::RepetitionMissing => {
            "a quantifier (`*`, `+`, `?`, `{n}`) repeats what comes before it; write `\\*`, `\\+`, `\\?` or `\\{` to match the character"
        }
        K::RepetitionCountUnclosed => "close the count with `}`, like `{2,5}`, or write `\\{` to match a brace",
        K::RepetitionCountInvalid => "write the smaller count first, like `{2,5}`",
        K::RepetitionCountDecimalEmpty => "write a number inside the braces, like `{3}` or `{2,5}`",
        K::EscapeUnrecognized => "this escape means nothing here; write the character itself, or `\\\\` to match a backslash",
        K::EscapeUnexpectedEof => "a pattern cannot end with a lone `\\`; write `\\\\` to match a backslash",
        K::EscapeHexEmpty | K::EscapeHexInvalid | K::EscapeHexInvalidDigit => {
            "write a hex escape as `\\x41`, `\\x{1F600}` or `\\u{00E9}`"
        }
        K::FlagUnrecognized => "the regex crate knows the flags `i`, `m`, `s`, `U`, `u`, `x` and `R`, like `(?i)`",
        K::FlagDuplicate { .. } | K::FlagRepeatedNegation { .. } => "write each flag once, like `(?i)` or `(?-i)`",
        K::FlagUnexpectedEof | K::FlagDanglingNegation => "end the flags with `)` or `:`, like `(?i)` or `(?i:abc)`",
        K::GroupNameEmpty | K::GroupNameInvalid | K::GroupNameUnexpectedEof => {
            "name a group with letters, digits and `_`, like `(?P<word>...)`"
        }
        K::GroupNameDuplicate { .. } => "give each named group its own name",
        K::NestLimitExceeded(_) => "nest fewer groups, or split the rule",
        K::UnsupportedLookAround => "Rust regex has no look-around; match the text itself, or split it into two rules",
        K::UnsupportedBackreference => "Rust regex has no back-references; match each alternative explicitly",
        _ => "write it in the regex crate's syntax (https://docs.rs/regex/latest/regex/#syntax)",
    }
}

/// Whether `p` has a counted repetition of 100 or more (`{100}`, `{2,500}`: some `{...}`
/// holds a number three digits long), or a count applied to something already counted
/// (`\w{99}{99}`, `(\w{20}){20}`: the sizes multiply). Loose: a hit only costs a compile.
fn has_large_repetition(p: &str) -> bool {
    let b = p.as_bytes();
    memchr::memchr_iter(b'{', b).any(|open| {
        let rest = &b[open + 1..];
        let counts = &rest[..memchr::memchr(b'}', rest).unwrap_or(rest.len())];
        let stacked = open > 0 && matches!(b[open - 1], b'}' | b')') && b[..open - 1].contains(&b'{');
        stacked || counts.split(|c| !c.is_ascii_digit()).any(|digits| digits.len() >= 3)
    })
}

/// A conservative recogniser for the common subset of regex syntax: literals, `.`, simple
/// classes, `\d\w\s`-style escapes, groups, alternation, quantifiers and `(?imsU)` flags.
/// `true` means regex-syntax accepts the pattern too (a proptest holds it to that); `false`
/// means "ask regex-syntax", which is exact but costs ~10 µs a pattern — too slow for a
/// 10,000-rule config under the 100 ms budget.
pub(crate) fn surely_valid(p: &str) -> bool {
    let b = p.as_bytes();
    let mut i = 0;
    let mut depth = 0u32;
    // Whether the previous item may take a quantifier.
    let mut repeatable = false;
    while i < b.len() {
        match b[i] {
            b'(' => {
                if b.get(i + 1) == Some(&b'?') {
                    let mut j = i + 2;
                    while j < b.len() && matches!(b[j], b'i' | b'm' | b's' | b'U') {
                        j += 1;
                    }
                    match b.get(j) {
                        // `(?i)`: a flag setter, not an item.
                        Some(b')') if j > i + 2 => {
                            i = j + 1;
                            repeatable = false;
                            continue;
                        }
                        Some(b':') => {
                            i = j + 1;
                        }
                        _ => return false,
                    }
                } else {
                    i += 1;
                }
                depth += 1;
                if depth > 32 {
                    return false;
                }
                repeatable = false;
                continue;
            }
            b')' => {
                if depth == 0 {
                    return false;
                }
                depth -= 1;
                repeatable = true;
            }
            b'|' => repeatable = false,
            b'*' | b'+' | b'?' => {
                if !repeatable {
                    return false;
                }
                if b.get(i + 1) == Some(&b'?') {
                    i += 1;
                }
                repeatable = false;
            }
            b'{' => {
                if !repeatable {
                    return false;
                }
                let Some(end) = b[i..].iter().position(|&c| c == b'}') else {
                    return false;
                };
                let body = &p[i + 1..i + end];
                let (lo, hi) = match body.split_once(',') {
                    Some((lo, hi)) => (lo, Some(hi)),
                    None => (body, None),
                };
                let num = |s: &str| {
                    (!s.is_empty() && s.len() <= 4 && s.bytes().all(|c| c.is_ascii_digit()))
                        .then(|| s.parse::<u32>().ok())
                        .flatten()
                };
                let Some(lo) = num(lo) else { return false };
                match hi {
                    None | Some("") => {}
                    Some(hi) => match num(hi) {
                        Some(hi) if hi >= lo => {}
                        _ => return false,
                    },
                }
                i += end;
                if b.get(i + 1) == Some(&b'?') {
                    i += 1;
                }
                repeatable = false;
            }
            b'[' => {
                let Some(len) = simple_class(&b[i..]) else { return false };
                i += len;
                repeatable = true;
                continue;
            }
            b'\\' => {
                match b.get(i + 1) {
                    Some(b'd' | b'D' | b'w' | b'W' | b's' | b'S' | b'n' | b't' | b'r') => repeatable = true,
                    Some(b'b' | b'B' | b'A' | b'z') => repeatable = false,
                    Some(&c) if is_meta(c) => repeatable = true,
                    _ => return false,
                }
                i += 1;
            }
            b'^' | b'$' => repeatable = false,
            b']' | b'}' => return false,
            _ => repeatable = true,
        }
        i += 1;
    }
    depth == 0
}

/// Characters that regex-syntax lets (and sometimes makes) you escape.
fn is_meta(c: u8) -> bool {
    matches!(
        c,
        b'\\'
            | b'.'
            | b'+'
            | b'*'
            | b'?'
            | b'('
            | b')'
            | b'|'
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'^'
            | b'$'
            | b'#'
            | b'&'
            | b'-'
            | b'~'
    )
}

/// Length of a simple class `[...]` at the start of `b`: literals, ascending ranges of
/// literals, `\d\w\s` (not negated forms inside a negated class, which could make it empty),
/// escaped meta characters, `-` first or last. `None` for anything else.
fn simple_class(b: &[u8]) -> Option<usize> {
    let mut i = 1;
    let negated = b.get(1) == Some(&b'^');
    if negated {
        i += 1;
    }
    let start = i;
    let mut prev_literal: Option<u8> = None;
    loop {
        let c = *b.get(i)?;
        match c {
            b']' if i > start => return Some(i + 1),
            b'[' | b']' => return None,
            b'&' | b'~' if b.get(i + 1) == Some(&c) => return None,
            b'-' => {
                let last = b.get(i + 1) == Some(&b']');
                if i == start || last {
                    prev_literal = None;
                } else {
                    let lo = prev_literal?;
                    let hi = *b.get(i + 1)?;
                    if !hi.is_ascii() || matches!(hi, b'\\' | b'[' | b']' | b'-') || hi < lo {
                        return None;
                    }
                    i += 1;
                    prev_literal = None;
                }
            }
            b'\\' => {
                let e = *b.get(i + 1)?;
                match e {
                    b'd' | b'w' | b's' => prev_literal = None,
                    b'D' | b'W' | b'S' if !negated => prev_literal = None,
                    _ if is_meta(e) => prev_literal = Some(e),
                    _ => return None,
                }
                i += 1;
            }
            c if c.is_ascii() => prev_literal = Some(c),
            _ => return None,
        }
        i += 1;
    }
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
    fn large_repetitions_are_found_by_their_digits() {
        for (p, large) in [
            ("a{100}", true),
            ("a{2,500}", true),
            ("(?i)\\bword[0-9]{2,8}\\b", false),
            ("a{99}b{7}", false),
            ("x{y}123", false),
            ("\\w{99}{99}", true),
            ("(\\w{20}){20}", true),
            ("(ab){2}", false),
            ("a{", false),
            ("{", false),
        ] {
            assert_eq!(has_large_repetition(p), large, "{p}");
        }
    }

    #[test]
    fn common_patterns_take_the_fast_path() {
        for p in [
            "(?i)reveal your system prompt",
            "sk-[A-Za-z0-9]{20,}",
            "AKIA[0-9A-Z]{16}",
            "(?i)\\bpassword\\s*[:=]\\s*\\S+",
            "^ghp_[A-Za-z0-9_-]{36}$",
            "a|b|(c+?)",
        ] {
            assert!(surely_valid(p), "{p}");
        }
        for p in ["(", "a**", "[z-a]", "x{3,2}", "\\1", "[]", "(?P<n>x)"] {
            assert!(!surely_valid(p), "{p}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(20_000))]
        /// The fast path never accepts what the regex crate's parser rejects.
        #[test]
        fn fast_path_is_sound(p in "[a-c0-9()\\[\\]{}*+?|^$.\\\\,:dswbDSWBimsU&~#-]{0,16}") {
            if surely_valid(&p) {
                proptest::prop_assert!(regex_syntax::ParserBuilder::new().build().parse(&p).is_ok(), "fast path accepted {:?}", p);
            }
        }
    }

    #[test]
    fn rust_syntax_is_the_reference() {
        assert!(syntax_check("(?i)reveal your system prompt").is_ok());
        assert!(syntax_check("sk-[A-Za-z0-9]{20,}").is_ok());
        let e = syntax_check("sk-[A-Za-z0-9{20,}").unwrap_err();
        assert!(e.kind.contains("unclosed character class"), "{}", e.kind);
        assert!(syntax_check("foo(?=bar)").unwrap_err().help.contains("look-around"));
        // The help says how to fix it, not what the message already said.
        for (pattern, fix) in [
            ("(foo", "close the group with `)`"),
            ("foo)", "remove this `)`"),
            ("[a-", "close the class with `]`"),
            ("*a", "write `\\*`"),
            ("a{5,2}", "smaller count first"),
            ("(?q)a", "flags"),
        ] {
            let e = syntax_check(pattern).unwrap_err();
            assert!(e.help.contains(fix), "{pattern}: {}", e.help);
            assert!(!e.help.contains(&e.kind), "{pattern}: {}", e.help);
        }
        assert!(syntax_check(r"\w{500}{500}").unwrap_err().kind.contains("size limit"));
        // The upper bound counts too: the gateway could not compile this one either.
        assert!(syntax_check(r"\w{2,5000}").unwrap_err().kind.contains("size limit"));
        // So do counts applied to counts, none of them large alone.
        assert!(syntax_check(r"\w{99}{99}").unwrap_err().kind.contains("size limit"));
        assert!(syntax_check("[a-z]{100,200}").is_ok());
    }
}
