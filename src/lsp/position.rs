//! Positions between the linter and LSP: our 1-based lines and character columns, LSP's
//! 0-based lines and UTF-16 code units; and the structure around a cursor in text that may
//! not parse yet (the JSON pointer of the mapping a line belongs to, by indentation).

use policy_config::yaml::{Pos, Span};
use serde_json::{json, Value};

/// The text of 0-based line `line` of `text` (without its newline).
pub fn line_of(text: &str, line: usize) -> &str {
    text.split('\n').nth(line).unwrap_or("").trim_end_matches('\r')
}

/// LSP position of `pos` in `text`.
pub fn to_lsp(text: &str, pos: Pos) -> Value {
    let line = pos.line.max(1) as usize - 1;
    let units: usize = line_of(text, line)
        .chars()
        .take(pos.col as usize)
        .map(char::len_utf16)
        .sum();
    json!({"line": line, "character": units})
}

/// LSP range of `span` in `text`.
pub fn range(text: &str, span: Span) -> Value {
    let end = if span.end == span.start || span.end.line < span.start.line {
        Pos {
            line: span.start.line,
            col: span.start.col + 1,
        }
    } else {
        span.end
    };
    json!({"start": to_lsp(text, span.start), "end": to_lsp(text, end)})
}

/// The 0-based line and character column of an LSP position in `text`.
pub fn from_lsp(text: &str, position: &Value) -> (usize, usize) {
    let line = position["line"].as_u64().unwrap_or(0) as usize;
    let mut units = position["character"].as_u64().unwrap_or(0) as usize;
    let mut col = 0;
    for c in line_of(text, line).chars() {
        if units < c.len_utf16() {
            break;
        }
        units -= c.len_utf16();
        col += 1;
    }
    (line, col)
}

/// A line's shape: indentation, whether it is a `- ` item, and its key if it has one.
struct Shape<'a> {
    /// Column of the dash, or of the first character.
    indent: usize,
    dash: bool,
    /// Column where the key (or the item's content) starts.
    key_col: usize,
    key: Option<&'a str>,
}

fn shape(line: &str) -> Option<Shape<'_>> {
    let trimmed = line.trim_start_matches(' ');
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return None;
    }
    let indent = line.len() - trimmed.len();
    let (dash, rest) = match trimmed.strip_prefix("- ") {
        Some(r) => (true, r.trim_start_matches(' ')),
        None => (trimmed == "-", trimmed),
    };
    let key_col = line.len() - rest.len();
    let key = rest
        .split_once(':')
        .map(|(k, _)| k.trim().trim_matches(['"', '\'']))
        .filter(|k| !k.is_empty() && !k.contains(' ') && !k.starts_with(['{', '[', '#']));
    Some(Shape {
        indent,
        dash,
        key_col,
        key,
    })
}

/// The JSON pointer of the mapping whose keys start at column `col` on 0-based line `line`,
/// read from the lines above by indentation (list items count as index 0: enough for the
/// schema, which describes every item alike).
pub fn parent_pointer(text: &str, line: usize, col: usize) -> String {
    let mut tokens: Vec<String> = Vec::new();
    // A parent key sits left of `key_target`, a parent item's dash left of `dash_target`; an
    // item's dash may stand in its parent key's column (an indentless list).
    let (mut key_target, mut dash_target) = (col, col);
    if let Some(s) = shape(line_of(text, line)) {
        if s.dash && s.key_col == col {
            tokens.push("0".into());
            (key_target, dash_target) = (s.indent + 1, s.indent);
        }
    }
    for l in (0..line).rev() {
        if key_target == 0 {
            break;
        }
        let Some(s) = shape(line_of(text, l)) else { continue };
        if s.dash && s.indent < dash_target {
            tokens.push("0".into());
            (key_target, dash_target) = (s.indent + 1, s.indent);
        } else if !s.dash && s.indent < key_target {
            if let Some(k) = s.key {
                tokens.push(k.to_string());
                (key_target, dash_target) = (s.indent, s.indent);
            }
        }
    }
    tokens.reverse();
    policy_config::pointer::join(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_columns_count_surrogate_pairs() {
        let text = "a: \"😀x\"\n";
        let p = Pos { line: 1, col: 5 };
        assert_eq!(to_lsp(text, p), json!({"line": 0, "character": 6}));
        assert_eq!(from_lsp(text, &json!({"line": 0, "character": 6})), (0, 5));
    }

    #[test]
    fn parents_come_from_indentation() {
        let text = "policy:\n  content-filter:\n    rules:\n      - id: x\n        action: \n";
        assert_eq!(parent_pointer(text, 4, 8), "/policy/content-filter/rules/0");
        assert_eq!(parent_pointer(text, 3, 8), "/policy/content-filter/rules/0");
        let text = "a:\n  - k: 1\n    j: 2\n  - k: 3\n    j: 4\n";
        assert_eq!(parent_pointer(text, 4, 4), "/a/0");
        let text = "policies:\n  chain:\n  - prompt-injection\n";
        assert_eq!(parent_pointer(text, 1, 2), "/policies");
        assert_eq!(parent_pointer(text, 0, 0), "");
    }
}
