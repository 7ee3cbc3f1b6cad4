//! The YAML 1.2 core schema: which tags the reader accepts and what a scalar's text means.
//!
//! Owns the resolution of one scalar (text, style, tag) into a JSON value: an unquoted `yes`
//! is a string and `0777` is decimal, as YAML 1.2 says, not YAML 1.1. A refusal is returned as
//! a one-line message; turning it into a located [`super::error::YamlError`] is the builder's
//! job, and so is everything about collections except checking their tag.

use super::spans::ScalarKind;
use saphyr_parser::{ScalarStyle, Tag};
use serde_json::{Number, Value};
use std::borrow::Cow;

/// The value of a scalar and how it was written, or why its tag is refused.
pub(super) fn resolve(
    text: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<&Tag>,
) -> Result<(Value, ScalarKind), String> {
    let Some(t) = tag else {
        return Ok(resolve_untagged(text, style));
    };
    let value = match core(t) {
        Some("str") => Value::String(text.into_owned()),
        Some(name @ ("null" | "bool" | "int" | "float")) => {
            let v = resolve_plain(&text);
            let ok = match name {
                "null" => v.is_null(),
                "bool" => v.is_boolean(),
                "int" => v.is_i64() || v.is_u64(),
                _ => v.is_number(),
            };
            if !ok {
                return Err(format!("`{text}` is not a valid `!!{name}`"));
            }
            v
        }
        Some(other) => return Err(format!("unsupported tag `!!{other}`")),
        None => return Err(unsupported(t)),
    };
    // Tagged: the writer chose the type.
    Ok((value, ScalarKind::Quoted))
}

/// The value of an untagged scalar and how it was written: [`resolve`] without a tag, which
/// cannot fail (a large file's scalars are resolved with this on the scanning thread).
pub(super) fn resolve_untagged(text: Cow<'_, str>, style: ScalarStyle) -> (Value, ScalarKind) {
    if style == ScalarStyle::Plain {
        (resolve_plain_owned(text), ScalarKind::Plain)
    } else {
        (Value::String(text.into_owned()), ScalarKind::Quoted)
    }
}

/// Why the tag of a mapping or a sequence is refused: only `!!map` and `!!seq` are accepted.
pub(super) fn check_collection_tag(tag: Option<&Tag>) -> Result<(), String> {
    match tag {
        None => Ok(()),
        Some(t) if matches!(core(t), Some("map" | "seq")) => Ok(()),
        Some(t) => Err(unsupported(t)),
    }
}

/// The core schema's name for `t` (`str`, `int`, `map`, …), written `!!str` or verbatim as
/// `!<tag:yaml.org,2002:str>`; `None` for any other tag.
fn core(t: &Tag) -> Option<&str> {
    const CORE: &str = "tag:yaml.org,2002:";
    if t.is_yaml_core_schema() {
        return Some(t.suffix.as_str());
    }
    match t.handle.as_str() {
        "" | "!" => t.suffix.strip_prefix(CORE),
        _ => None,
    }
}

/// The message for a tag outside the core schema, with the tag as it was written.
fn unsupported(t: &Tag) -> String {
    let handle = if t.is_yaml_core_schema() { "!!" } else { &t.handle };
    format!("unsupported tag `{handle}{}`", t.suffix)
}

/// [`resolve_plain`], keeping the text's allocation when it becomes a string.
fn resolve_plain_owned(text: Cow<'_, str>) -> Value {
    match text.as_bytes().first() {
        // Most plain scalars are words: no number, bool or null starts with these.
        Some(b) if b.is_ascii_alphabetic() && !matches!(b, b't' | b'T' | b'f' | b'F' | b'n' | b'N') => {
            Value::String(text.into_owned())
        }
        _ => resolve_plain(&text),
    }
}

/// Resolve a plain scalar by the YAML 1.2 core schema: null, bool, int, float, else string.
/// `yes`, `on`, `0777` (octal in 1.1) are strings or decimal here, as YAML 1.2 says.
fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF" | ".nan" | ".NaN"
        | ".NAN" => {
            // JSON has no infinities; keep the text so the schema reports a clear type error.
            return Value::String(text.to_string());
        }
        _ => {}
    }
    let bytes = text.as_bytes();
    let first = bytes[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return Value::String(text.to_string());
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            if let Ok(n) = u64::from_str_radix(hex, 16) {
                return Value::Number(n.into());
            }
        }
        return Value::String(text.to_string());
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if !oct.is_empty() && oct.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            if let Ok(n) = u64::from_str_radix(oct, 8) {
                return Value::Number(n.into());
            }
        }
        return Value::String(text.to_string());
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = text.trim_start_matches('+').parse::<i64>() {
            return Value::Number(n.into());
        }
        if let Ok(n) = text.trim_start_matches('+').parse::<u64>() {
            return Value::Number(n.into());
        }
    }
    if is_core_float(digits) {
        if let Some(n) = text
            .trim_start_matches('+')
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
        {
            return Value::Number(n);
        }
    }
    Value::String(text.to_string())
}

/// `( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )?` — the core schema's float.
fn is_core_float(s: &str) -> bool {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((int, frac)) => {
            int.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
                && !(int.is_empty() && frac.is_empty())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|b| b.is_ascii_digit()),
    };
    let exp_ok = match exp {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
        }
    };
    mantissa_ok && exp_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn core_schema_scalars() {
        assert_eq!(resolve_plain("yes"), json!("yes"));
        assert_eq!(resolve_plain("on"), json!("on"));
        assert_eq!(resolve_plain("True"), json!(true));
        assert_eq!(resolve_plain("~"), Value::Null);
        assert_eq!(resolve_plain("0x1F"), json!(31));
        assert_eq!(resolve_plain("0o17"), json!(15));
        assert_eq!(resolve_plain("1.0"), json!(1.0));
        assert_eq!(resolve_plain("0.1.0"), json!("0.1.0"));
        assert_eq!(resolve_plain("1e3"), json!(1000.0));
        assert_eq!(resolve_plain("-12"), json!(-12));
        assert_eq!(resolve_plain("12:30"), json!("12:30"));
        assert_eq!(resolve_plain(".5"), json!(0.5));
        assert_eq!(resolve_plain("."), json!("."));
    }
}
