//! The texts of a request body that policies read: found by [`extract_texts`], written back
//! by [`with_texts`] once a policy rewrote them.
//!
//! Owns which JSON fields count as text (SPEC §1: `messages[].content`, its text parts,
//! legacy `prompt`). It knows nothing about policies: what is matched or redacted in a text is
//! the stages' business.

use serde_json::Value;

/// Every text of a request body, with its pointer: chat `messages[].content` (a string, or
/// the `text` of content parts) and legacy `prompt` (a string or a list of strings).
pub fn extract_texts(body: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(messages) = body.get("messages").and_then(Value::as_array) {
        for (i, m) in messages.iter().enumerate() {
            match m.get("content") {
                Some(Value::String(s)) => out.push((format!("/messages/{i}/content"), s.clone())),
                Some(Value::Array(parts)) => {
                    for (j, p) in parts.iter().enumerate() {
                        if let Some(Value::String(s)) = p.get("text") {
                            out.push((format!("/messages/{i}/content/{j}/text"), s.clone()));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    match body.get("prompt") {
        Some(Value::String(s)) => out.push(("/prompt".into(), s.clone())),
        Some(Value::Array(items)) => {
            for (i, p) in items.iter().enumerate() {
                if let Value::String(s) = p {
                    out.push((format!("/prompt/{i}"), s.clone()));
                }
            }
        }
        _ => {}
    }
    out
}

/// A copy of `body` with each text of `texts` (pointer, text, as [`extract_texts`] gave them)
/// put back at its pointer.
pub fn with_texts(body: &Value, texts: Vec<(String, String)>) -> Value {
    let mut body = body.clone();
    for (pointer, text) in texts {
        if let Some(slot) = body.pointer_mut(&pointer) {
            *slot = Value::String(text);
        }
    }
    body
}
