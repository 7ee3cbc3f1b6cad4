//! What the language server answers: diagnostics from a lint report, hover from the schema,
//! completion of keys and enum values from the schema, and the lint fixes as code actions.
//!
//! Everything here is a function of the text and a [`FileReport`]; nothing is re-checked:
//! diagnostics are `policy lint`'s, converted to LSP positions.

use super::position::{from_lsp, line_of, parent_pointer, range};
use policy_config::pointer;
use policy_config::schema;
use policy_lint::{FileReport, Severity};
use serde_json::{json, Value};

/// `textDocument/publishDiagnostics` params for `report` of `text`.
pub fn diagnostics(uri: &str, version: Option<i64>, text: &str, report: &FileReport) -> Value {
    let items: Vec<Value> = report
        .diagnostics
        .iter()
        .map(|d| {
            json!({
                "range": range(text, d.span),
                "severity": if d.severity == Severity::Error { 1 } else { 2 },
                "code": d.code,
                "source": "policy",
                "message": d.message,
                "data": {"help": d.help, "pointer": d.pointer},
            })
        })
        .collect();
    let mut params = json!({"uri": uri, "diagnostics": items});
    if let Some(v) = version {
        params["version"] = json!(v);
    }
    params
}

/// The key under the cursor on its line, and the column it starts at.
fn key_at(line: &str, col: usize) -> Option<(String, usize)> {
    let (before_colon, _) = line.split_once(':')?;
    let start = before_colon.len() - before_colon.trim_start_matches([' ', '-']).len();
    let key = before_colon[start..].trim().trim_matches(['"', '\'']);
    let chars_start = line[..start].chars().count();
    let chars_end = chars_start + before_colon[start..].chars().count();
    (!key.is_empty() && col >= chars_start && col <= chars_end).then(|| (key.to_string(), chars_start))
}

/// Hover on a key: its schema description, reload class and default.
pub fn hover(text: &str, position: &Value) -> Value {
    let (line_no, col) = from_lsp(text, position);
    let line = line_of(text, line_no);
    let Some((key, key_col)) = key_at(line, col) else {
        return Value::Null;
    };
    let parent = parent_pointer(text, line_no, key_col);
    let Some(prop) = schema::property(&parent, &key) else {
        return Value::Null;
    };
    let node = schema::resolve(prop);
    let description = prop
        .get("description")
        .or_else(|| node.get("description"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut md = format!("**`{key}`** ({})\n\n{description}", pointer::child(&parent, &key));
    if let Some(d) = prop.get("default").or_else(|| node.get("default")) {
        md.push_str(&format!("\n\nDefault: `{d}`"));
    }
    if let Some(values) = node.get("enum").and_then(Value::as_array) {
        let v: Vec<String> = values
            .iter()
            .filter_map(Value::as_str)
            .map(|s| format!("`{s}`"))
            .collect();
        md.push_str(&format!("\n\nOne of: {}", v.join(", ")));
    }
    let reload = schema::reload_class(&pointer::child(&parent, &key));
    md.push_str(&format!("\n\nReload: {}", reload.as_str()));
    json!({"contents": {"kind": "markdown", "value": md}})
}

fn enum_values(pointer: &str) -> Vec<String> {
    let Some(node) = schema::node_at(pointer) else {
        return Vec::new();
    };
    let node = schema::resolve(node);
    if let Some(values) = node.get("enum").and_then(Value::as_array) {
        return values.iter().filter_map(Value::as_str).map(str::to_string).collect();
    }
    if node.get("type").and_then(Value::as_str) == Some("boolean") {
        return vec!["true".into(), "false".into()];
    }
    Vec::new()
}

/// Completion at the cursor: after `key: ` the values the schema allows there (enum values,
/// booleans); at a key's place the keys the mapping allows and does not have yet.
pub fn completion(text: &str, position: &Value) -> Value {
    let (line_no, col) = from_lsp(text, position);
    let line = line_of(text, line_no);
    let before: String = line.chars().take(col).collect();
    let items: Vec<Value> = if let Some((head, typed)) = before.rsplit_once(": ").filter(|(h, _)| !h.contains('#')) {
        // A value: `key: <cursor>`.
        let key_start = head.len() - head.trim_start_matches([' ', '-']).len();
        let key = head[key_start..].trim().trim_matches(['"', '\'']);
        let parent = parent_pointer(text, line_no, head[..key_start].chars().count());
        let pointer = pointer::child(&parent, key);
        let typed = typed.trim();
        enum_values(&pointer)
            .into_iter()
            .filter(|v| v.starts_with(typed))
            .map(|v| json!({"label": v, "kind": 12, "detail": format!("allowed at {pointer}")}))
            .collect()
    } else if before
        .trim_start_matches([' ', '-'])
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        // A key: what the enclosing mapping allows.
        let indent = before.len() - before.trim_start_matches([' ', '-']).len();
        let typed = &before[indent..];
        let parent = parent_pointer(text, line_no, before[..indent].chars().count());
        let present: Vec<String> = text
            .lines()
            .filter_map(|l| {
                l.split_once(':')
                    .map(|(k, _)| k.trim().trim_start_matches("- ").to_string())
            })
            .collect();
        schema::allowed_keys(&parent)
            .into_iter()
            .filter(|k| k.starts_with(typed))
            .map(|k| {
                let doc = schema::property(&parent, k)
                    .and_then(|p| p.get("description"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                json!({
                    "label": k,
                    "kind": 10,
                    "insertText": format!("{k}: "),
                    "documentation": doc,
                    "sortText": if present.iter().any(|p| p == k) { format!("z{k}") } else { format!("a{k}") },
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    json!({"isIncomplete": false, "items": items})
}

fn overlaps(a: &Value, b: &Value) -> bool {
    let pos = |v: &Value| (v["line"].as_u64().unwrap_or(0), v["character"].as_u64().unwrap_or(0));
    pos(&a["start"]) <= pos(&b["end"]) && pos(&b["start"]) <= pos(&a["end"])
}

/// Code actions for the range: every fix of a diagnostic there, safe ones preferred.
pub fn code_actions(uri: &str, text: &str, report: &FileReport, wanted: &Value) -> Value {
    let actions: Vec<Value> = report
        .diagnostics
        .iter()
        .filter_map(|d| Some((d, d.fix.as_ref()?)))
        .filter(|(d, _)| overlaps(&range(text, d.span), wanted))
        .map(|(d, f)| {
            let edits: Vec<Value> = f
                .edits
                .iter()
                .map(|e| json!({"range": {"start": super::position::to_lsp(text, e.span.start), "end": super::position::to_lsp(text, e.span.end)}, "newText": e.content}))
                .collect();
            json!({
                "title": if f.safe { f.message.clone() } else { format!("{} (unsafe: changes what the gateway does)", f.message) },
                "kind": "quickfix",
                "isPreferred": f.safe,
                "diagnostics": [{"range": range(text, d.span), "code": d.code, "message": d.message, "source": "policy"}],
                "edit": {"changes": {uri: edits}},
            })
        })
        .collect();
    Value::Array(actions)
}
