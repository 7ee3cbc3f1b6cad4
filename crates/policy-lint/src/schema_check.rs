//! JSON Schema validation of a parsed document, with every error mapped to its YAML node and
//! worded for a person.
//!
//! Owns: the one compiled validator (built once per process from `policy_config::schema`), and the
//! translation of `jsonschema` errors into P2xx diagnostics (plus P301 for the chain, whose
//! allowed values are the schema's enum). It does not decide what is valid; the schema does.

use super::diagnostic::Diagnostic;
use super::fix::{written_span, Fix};
use super::line_index::LineIndex;
use super::locate::make;
use super::rules::rule::{did_you_mean, unique_candidate, At, Finding, Rule};
use super::rules::{
    malformed_value, missing_key, schema_violation, unknown_key, unknown_policy_in_chain, unknown_value,
    value_out_of_range, wrong_type,
};
use jsonschema::error::{TypeKind, ValidationErrorKind};
use policy_config::pointer;
use policy_config::schema;
use policy_config::yaml::{Document, ScalarKind};
use policy_config::PolicyKind;
use serde_json::Value;
use std::sync::OnceLock;

static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();

/// The draft the validator reads the schema with. The schema declares 2020-12, and every
/// keyword it uses (`$ref` without constraining siblings, `$defs` reached by pointer, `type`,
/// `properties`, `additionalProperties`, `required`, `items` as one schema, `enum`, `const`,
/// `oneOf`, `pattern`, the length, count and range bounds) means the same in Draft 7, whose
/// meta-schema jsonschema compiles in half the time (~1.4 ms against ~2.6 ms, once per
/// process: most of linting a small file). `tests::the_schema_means_the_same_in_draft_7`
/// fails when the generated schema uses anything else.
const DRAFT: jsonschema::Draft = jsonschema::Draft::Draft7;

/// The compiled validator, built on first use (`super::warm_up` may have built it already).
pub(super) fn validator() -> &'static jsonschema::Validator {
    VALIDATOR.get_or_init(|| {
        jsonschema::options()
            .with_draft(DRAFT)
            // Formats are annotations in 2020-12; the generated schema relies on none.
            .should_validate_formats(false)
            .build(schema::schema())
            .expect("the generated schema is a valid JSON Schema (tested)")
    })
}

/// All schema errors of `doc`, located and worded.
pub(super) fn check(doc: &Document, src: &str, lines: &LineIndex) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for err in validator().iter_errors(&doc.value) {
        let pointer = err.instance_path().as_str().to_string();
        let instance = err.instance();
        for (rule, finding) in explain(doc, src, lines, &pointer, err.kind(), instance) {
            out.push(make(rule, doc, finding));
        }
    }
    out
}

fn explain(
    doc: &Document,
    src: &str,
    lines: &LineIndex,
    pointer: &str,
    kind: &ValidationErrorKind,
    instance: &Value,
) -> Vec<(&'static Rule, Finding)> {
    let (parent, key) = pointer::split_last(pointer).unwrap_or_default();
    let key = key.as_ref();
    // A list item is named by its list (`detect[1]`), not by its bare index.
    let in_list = pointer::split_last(parent).filter(|_| key.parse::<usize>().is_ok());
    let field = match in_list {
        _ if key.is_empty() => "the document".to_string(),
        Some((_, list)) => format!("`{list}[{key}]`"),
        None => format!("`{key}`"),
    };
    let expected = schema::property(parent, key)
        .and_then(|p| p.get("x-expected"))
        .and_then(Value::as_str);
    let describe = || {
        schema::property(parent, key)
            .and_then(|p| p.get("description"))
            .and_then(Value::as_str)
            .map(first_sentence)
    };
    let text = || {
        let l = doc.locate(pointer);
        src.get(lines.range(src, l.value)).unwrap_or("").trim().to_string()
    };
    match kind {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            // A key already written is no suggestion: taking it would make a duplicate.
            let absent = |k: &&str| instance.get(*k).is_none();
            let allowed: Vec<&str> = schema::allowed_keys(pointer).into_iter().filter(absent).collect();
            // A rename is safe when the key has one close candidate that no other unknown key
            // of this mapping would also be renamed to.
            let renames: Vec<Option<&str>> = unexpected
                .iter()
                .map(|k| unique_candidate(k, allowed.iter().copied()))
                .collect();
            let lone = |c: &str| renames.iter().filter(|r| **r == Some(c)).count() == 1;
            unexpected
                .iter()
                .zip(&renames)
                .map(|(k, rename)| {
                    let child = pointer::child(pointer, k);
                    let key_span = doc.locate(&child).key;
                    let written = key_span.and_then(|span| written_span(src, lines, span, k));
                    let fix = match (rename, written) {
                        (Some(to), Some(span)) if lone(to) => {
                            Some(Fix::safe(format!("rename `{k}` to `{to}`"), span, *to))
                        }
                        _ => None,
                    };
                    let suggestion = did_you_mean(k, allowed.iter().copied());
                    // A policy's settings written in the chain's mapping: they belong under
                    // the top-level `policy:`, and removing them would throw them away.
                    let misplaced = pointer == "/policies" && PolicyKind::from_name(k).is_some();
                    let fix = match fix {
                        None if misplaced => move_to_policy(doc, src, lines, k),
                        fix => fix,
                    };
                    let help = match suggestion {
                        _ if misplaced => format!(
                            "settings of `{k}` go under the top-level `policy:` (`policies:` holds only the `chain`): move `{k}:` and what is below it there"
                        ),
                        Some(s) => format!("did you mean `{s}`?"),
                        // Every key the place allows, those already written marked: a list of
                        // the unused ones alone read as the only keys allowed.
                        None => format!("remove it; {} allows: {}", where_(pointer), list_marked(pointer, instance)),
                    };
                    let label = match suggestion {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "unknown key".into(),
                    };
                    (
                        &unknown_key::RULE,
                        Finding::new(child, format!("unknown key `{k}` in {}", where_(pointer)), label, help)
                            .at(At::Key)
                            .fix(fix),
                    )
                })
                .collect()
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let doc_line = schema::property(pointer, name)
                .and_then(|p| p.get("description"))
                .and_then(Value::as_str)
                .map(first_sentence)
                .unwrap_or_default();
            let mut f = Finding::new(
                pointer,
                format!("missing required key `{name}` in {}", where_(pointer)),
                format!("`{name}` is missing here"),
                format!("add `{name}:` to {}. {doc_line}", where_(pointer))
                    .trim_end()
                    .to_string(),
            );
            // Point at the first key of the mapping: its line is the mapping's, and the label
            // stays one line long even for a large mapping.
            f.at = At::Head;
            vec![(&missing_key::RULE, f)]
        }
        ValidationErrorKind::Type { kind } => {
            let want = match kind {
                TypeKind::Single(t) => type_name(&t.to_string()),
                TypeKind::Multiple(ts) => ts
                    .iter()
                    .map(|t| type_name(&t.to_string()))
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            let want = expected.map(str::to_string).unwrap_or(want);
            let found = value_kind(instance);
            let loc = doc.locate(pointer);
            let plain = loc.scalar == Some(ScalarKind::Plain);
            let t = text();
            let mut at = At::Value;
            let (message, help) = match instance {
                Value::Number(_) | Value::Bool(_) if plain && wants_string(kind) => (
                    format!("expected {want} for {field}; `{t}` was read as {found}"),
                    match pattern_example(parent, key, &t) {
                        // Quoting alone would trade this error for a malformed-value one.
                        Some(example) => format!("write {want}, quoted: {key}: \"{example}\""),
                        None => format!("quote it: {key}: \"{t}\""),
                    },
                ),
                Value::Number(n) if n.is_f64() && wants(kind, "integer") => (
                    format!("`{t}` is not a whole number; {field} takes {want}"),
                    format!(
                        "write a whole number, like {key}: {}",
                        n.as_f64().unwrap_or_default().round()
                    ),
                ),
                Value::String(s) if wants(kind, "boolean") && is_yaml11_bool(s) => (
                    format!("expected true or false for {field}; `{s}` is a string in YAML 1.2"),
                    format!("write `{key}: {}`", if is_yaml11_true(s) { "true" } else { "false" }),
                ),
                Value::Null if pointer.is_empty() => (
                    "the file is empty".to_string(),
                    "a config needs at least `pack:` (name, version) and `providers:` (targets); `policy explain P202` shows an example".to_string(),
                ),
                Value::Null => {
                    // An empty value has no text to underline: point at its key.
                    at = At::Key;
                    (
                        format!("expected {want} for {field}, found nothing"),
                        format!("give {field} a value, or remove the key to use the default"),
                    )
                }
                Value::String(_) if wants(kind, "array") => (
                    format!("expected a list for {field}, found {found}"),
                    format!("write a list: `{key}: [{t}]`"),
                ),
                _ => (
                    format!("expected {want} for {field}, found {found}"),
                    describe()
                        .map(|d| format!("{field}: {d}"))
                        .unwrap_or_else(|| format!("write {want} here")),
                ),
            };
            vec![(
                &wrong_type::RULE,
                Finding::new(pointer, message, format!("expected {want}"), help).at(at),
            )]
        }
        ValidationErrorKind::Enum { options } => {
            let options: Vec<&str> = options
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let got = instance
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| instance.to_string());
            let suggestion = did_you_mean(&got, options.iter().copied());
            let in_chain = parent == "/policies/chain";
            let rule = if in_chain {
                &unknown_policy_in_chain::RULE
            } else {
                &unknown_value::RULE
            };
            let what = if in_chain {
                "policy kind".to_string()
            } else {
                format!("{field} value")
            };
            let label = match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("unknown {what}"),
            };
            let help = match suggestion {
                Some(s) => format!("did you mean `{s}`? Allowed: {}", list(&options)),
                None => format!("allowed: {}", list(&options)),
            };
            // A chain entry renamed to a kind the chain already lists would be a duplicate.
            let taken = |c: &str| {
                in_chain
                    && doc
                        .value
                        .pointer(parent)
                        .and_then(Value::as_array)
                        .is_some_and(|a| a.iter().any(|v| v == c))
            };
            let written = written_span(src, lines, doc.locate(pointer).value, &got).filter(|_| instance.is_string());
            let fix = unique_candidate(&got, options.iter().copied())
                .filter(|to| !taken(to))
                .zip(written)
                .map(|(to, span)| Fix::safe(format!("replace `{got}` with `{to}`"), span, to));
            vec![(
                rule,
                Finding::new(pointer, format!("unknown {what} `{got}`"), label, help).fix(fix),
            )]
        }
        ValidationErrorKind::Pattern { .. } => {
            let want = expected.unwrap_or("a value of the documented form");
            let got = instance.as_str().unwrap_or_default();
            vec![(
                &malformed_value::RULE,
                Finding::new(
                    pointer,
                    format!("{field} must be {want}, found `{got}`"),
                    format!("expected {want}"),
                    describe()
                        .map(|d| format!("{field}: {d}"))
                        .unwrap_or_else(|| format!("write {want}")),
                ),
            )]
        }
        ValidationErrorKind::Minimum { limit } | ValidationErrorKind::ExclusiveMinimum { limit } => {
            range(pointer, &field, instance, &format!("at least {limit}"), describe())
        }
        ValidationErrorKind::Maximum { limit } | ValidationErrorKind::ExclusiveMaximum { limit } => {
            range(pointer, &field, instance, &format!("at most {limit}"), describe())
        }
        ValidationErrorKind::MinItems { limit } => range(
            pointer,
            &field,
            instance,
            &format!("a list of at least {limit} item(s)"),
            describe(),
        ),
        ValidationErrorKind::MaxItems { limit } => range(
            pointer,
            &field,
            instance,
            &format!("a list of at most {limit} item(s)"),
            describe(),
        ),
        ValidationErrorKind::MinLength { limit } => range(
            pointer,
            &field,
            instance,
            &format!("at least {limit} character(s) long"),
            describe(),
        ),
        ValidationErrorKind::MaxLength { limit } => range(
            pointer,
            &field,
            instance,
            &format!("at most {limit} characters long"),
            describe(),
        ),
        other => vec![(
            &schema_violation::RULE,
            Finding::new(
                pointer,
                format!("{field} does not match the schema: {}", other_message(other)),
                "here",
                describe()
                    .map(|d| format!("{field}: {d}"))
                    .unwrap_or_else(|| "see `policy schema`".into()),
            ),
        )],
    }
}

/// When the field has a `pattern` that `text` would not match even quoted, the example of
/// its `x-expected` wording (the last `` `...` `` in it).
fn pattern_example(parent: &str, key: &str, text: &str) -> Option<String> {
    let prop = schema::resolve(schema::property(parent, key)?);
    let pattern = prop.get("pattern").and_then(Value::as_str)?;
    if regex::Regex::new(pattern).ok()?.is_match(text) {
        return None;
    }
    let expected = schema::property(parent, key)?.get("x-expected")?.as_str()?;
    let mut parts = expected.rsplit('`');
    parts.next()?;
    parts.next().map(str::to_string)
}

fn range(
    pointer: &str,
    field: &str,
    instance: &Value,
    bound: &str,
    describe: Option<String>,
) -> Vec<(&'static Rule, Finding)> {
    let shown = match instance {
        Value::Array(a) => format!("{} item(s)", a.len()),
        Value::String(s) => format!("`{s}`"),
        v => format!("`{v}`"),
    };
    vec![(
        &value_out_of_range::RULE,
        Finding::new(
            pointer,
            format!("{field} must be {bound}, found {shown}"),
            format!("must be {bound}"),
            describe
                .map(|d| format!("{field}: {d}"))
                .unwrap_or_else(|| format!("use a value {bound}")),
        ),
    )]
}

fn other_message(kind: &ValidationErrorKind) -> String {
    format!("{kind:?}").chars().take(200).collect()
}

/// "`pack`", "`providers.targets[0]`" or "the top level": where a pointer is, for messages.
fn where_(pointer: &str) -> String {
    if pointer.is_empty() {
        return "the top level".into();
    }
    let mut s = String::new();
    for t in pointer::tokens(pointer) {
        if t.parse::<usize>().is_ok() {
            s.push_str(&format!("[{t}]"));
        } else {
            if !s.is_empty() {
                s.push('.');
            }
            s.push_str(&t);
        }
    }
    format!("`{s}`")
}

/// The safe fix for a policy's settings written under `policies:` (the chain's mapping): move
/// the `kind:` entry, as written, to the top-level `policy:` mapping (made if missing). Only in
/// block style, where whole lines move: not when `policy:` already has that kind, is written in
/// flow style, or anything but the entry shares its lines.
fn move_to_policy(doc: &Document, src: &str, lines: &LineIndex, kind: &str) -> Option<Fix> {
    use policy_config::yaml::{Pos, Span};
    let line_start = |line: u32| Pos { line, col: 0 };
    let entry = doc.locate(&pointer::child("/policies", kind));
    let key = entry.key?;
    let end = entry.value.end.max(key.end);
    // The entry starts its line and nothing after it shares its last line but a comment.
    let before = src.get(lines.range(
        src,
        Span {
            start: line_start(key.start.line),
            end: key.start,
        },
    ))?;
    let after = src.get(lines.range(
        src,
        Span {
            start: end,
            end: line_start(end.line + 1),
        },
    ))?;
    if !before.trim().is_empty() || !(after.trim().is_empty() || after.trim_start().starts_with('#')) {
        return None;
    }
    let moved = Span {
        start: line_start(key.start.line),
        end: line_start(end.line + 1),
    };
    let text = src.get(lines.range(src, moved))?;
    let indent = key.start.col as usize;
    let reindent = |to: usize| -> Option<String> {
        let mut out = String::new();
        for line in text.split_inclusive('\n') {
            let blank = line.trim().is_empty();
            let lead = line.len() - line.trim_start_matches(' ').len();
            if !blank && lead < indent {
                return None;
            }
            if blank {
                out.push_str(line);
            } else {
                out.push_str(&" ".repeat(to));
                out.push_str(&line[indent..]);
            }
        }
        if !out.ends_with('\n') {
            out.push('\n');
        }
        Some(out)
    };
    let insert = match doc.value.get("policy") {
        // No `policy:` yet: it is made at the end of the file.
        None => {
            let body = reindent(indent.max(2))?;
            let newline = if src.is_empty() || src.ends_with('\n') {
                ""
            } else {
                "\n"
            };
            let tail = &src[src.rfind('\n').map_or(0, |i| i + 1)..];
            let eof = Pos {
                line: src.matches('\n').count() as u32 + 1,
                col: tail.chars().count() as u32,
            };
            (Span { start: eof, end: eof }, format!("{newline}policy:\n{body}"))
        }
        Some(Value::Object(kinds)) if !kinds.contains_key(kind) => {
            // After the last line of a block mapping, at its entries' indentation.
            let block = doc.locate("/policy");
            let first = doc.locate(&pointer::child("/policy", kinds.keys().next()?)).key?;
            if block.key.is_none_or(|k| k.start.line == first.start.line) {
                return None; // `policy: { ... }`: flow style
            }
            let at = line_start(block.value.end.line + 1);
            let body = reindent(first.start.col as usize)?;
            (Span { start: at, end: at }, body)
        }
        _ => return None,
    };
    if insert.0.start.line > moved.start.line && insert.0.start.line < moved.end.line {
        return None;
    }
    Some(Fix {
        safe: true,
        message: format!("move the settings of `{kind}` to the top-level `policy:`"),
        edits: vec![
            crate::fix::Edit {
                span: moved,
                content: String::new(),
            },
            crate::fix::Edit {
                span: insert.0,
                content: insert.1,
            },
        ],
    })
}

/// Every key `pointer`'s mapping allows, the ones `instance` already has marked `(set)`.
fn list_marked(pointer: &str, instance: &Value) -> String {
    schema::allowed_keys(pointer)
        .into_iter()
        .map(|k| match instance.get(k) {
            Some(_) => format!("`{k}` (set)"),
            None => format!("`{k}`"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn list(items: &[&str]) -> String {
    items.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
}

/// The first sentence of a field description: up to the first `. ` that is not part of an
/// abbreviation like "e.g." (the descriptions are ours, so this is all it must handle).
fn first_sentence(d: &str) -> String {
    let one_line = d.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut from = 0;
    while let Some(i) = one_line[from..].find(". ").map(|i| i + from) {
        let before = &one_line[..i];
        if !(before.ends_with("e.g") || before.ends_with("i.e")) {
            return one_line[..=i].to_string();
        }
        from = i + 2;
    }
    one_line
}

fn type_name(t: &str) -> String {
    match t {
        "object" => "a mapping".into(),
        "array" => "a list".into(),
        "string" => "a string".into(),
        "integer" => "a whole number".into(),
        "number" => "a number".into(),
        "boolean" => "true or false".into(),
        "null" => "nothing".into(),
        other => other.into(),
    }
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a number",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn wants(kind: &TypeKind, t: &str) -> bool {
    match kind {
        TypeKind::Single(x) => x.to_string() == t,
        TypeKind::Multiple(xs) => xs.iter().any(|x| x.to_string() == t),
    }
}

fn wants_string(kind: &TypeKind) -> bool {
    wants(kind, "string")
}

fn is_yaml11_bool(s: &str) -> bool {
    matches!(s.to_ascii_lowercase().as_str(), "yes" | "no" | "on" | "off" | "y" | "n")
}

fn is_yaml11_true(s: &str) -> bool {
    matches!(s.to_ascii_lowercase().as_str(), "yes" | "on" | "y")
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// The keywords whose meaning Draft 7 and 2020-12 share (for `items`: as one schema), and
    /// the annotations both ignore.
    const SHARED: &[&str] = &[
        "$schema",
        "$id",
        "$ref",
        "$defs",
        "type",
        "properties",
        "additionalProperties",
        "required",
        "items",
        "enum",
        "const",
        "oneOf",
        "pattern",
        "format",
        "minLength",
        "maxLength",
        "minItems",
        "minimum",
        "maximum",
        "title",
        "description",
        "default",
    ];

    /// The validator reads the schema as Draft 7 (see [`super::DRAFT`]): that is only the
    /// schema's own meaning while the schema stays inside what the two drafts share.
    #[test]
    fn the_schema_means_the_same_in_draft_7() {
        fn walk(v: &Value, at: &str) {
            match v {
                Value::Object(map) => {
                    if map.contains_key("$ref") {
                        let constraining: Vec<_> = map
                            .keys()
                            .filter(|k| !["$ref", "description", "title", "default"].contains(&k.as_str()))
                            .filter(|k| !k.starts_with("x-"))
                            .collect();
                        // Draft 7 ignores a `$ref`'s siblings; 2020-12 applies them.
                        assert!(constraining.is_empty(), "{at}: `$ref` beside {constraining:?}");
                    }
                    for (k, x) in map {
                        let here = format!("{at}/{k}");
                        if k.starts_with("x-") || k == "default" {
                            continue;
                        }
                        assert!(
                            SHARED.contains(&k.as_str()),
                            "{here}: `{k}` is not read alike by both drafts"
                        );
                        assert!(!(k == "items" && x.is_array()), "{here}: a tuple `items`");
                        match k.as_str() {
                            // Maps of names to schemas: the names are not keywords.
                            "properties" | "$defs" => {
                                for (name, s) in x.as_object().expect("an object") {
                                    walk(s, &format!("{here}/{name}"));
                                }
                            }
                            "enum" | "const" | "required" => {}
                            _ => walk(x, &here),
                        }
                    }
                }
                Value::Array(items) => {
                    for (i, x) in items.iter().enumerate() {
                        walk(x, &format!("{at}/{i}"));
                    }
                }
                _ => {}
            }
        }
        walk(policy_config::schema::schema(), "");
    }
}
