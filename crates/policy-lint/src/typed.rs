//! The typed read's refusals of a file the schema accepted, located as the user's errors.
//!
//! JSON Schema counts `100.0` and `3e4` as integers, and the generated schema bounds no
//! integer by its Rust type, so a whole number written with a fraction or an exponent, or one
//! past its field's range, passes the schema and fails serde. This module reads the file again
//! with the path tracked and words the refusal (P203, P205) at the value. It judges nothing
//! else: a refusal with another cause is our bug, and the diagnostic says so.

use super::locate::make;
use super::rules::{self, rule::Finding};
use super::Diagnostic;
use policy_config::yaml::Document;
use policy_config::{pointer, Config};

/// The diagnostic for the typed read's refusal of `doc`.
pub(super) fn refusal(doc: &Document) -> Diagnostic {
    let (pointer, inner) = match serde_path_to_error::deserialize::<_, Config>(&doc.value) {
        Err(e) => (pointer::of_serde_path(e.path()), e.inner().to_string()),
        Ok(_) => (String::new(), "the typed read failed, then succeeded".to_string()),
    };
    let key = pointer::split_last(&pointer).map_or(String::new(), |(_, k)| k.into_owned());
    // A whole number past u64 was read as a float: too large, not written wrong.
    let huge = doc
        .value
        .pointer(&pointer)
        .and_then(serde_json::Value::as_f64)
        .is_some_and(|v| v.abs() >= u64::MAX as f64);
    let (rule, message, label, help) = if inner.starts_with("invalid type: floating point") && !huge {
        (
            &rules::wrong_type::RULE,
            format!("expected a whole number for `{key}`, found a number with a fraction or an exponent"),
            "a whole number written as a fraction",
            "write it as digits only, e.g. `100` rather than `100.0` or `1e2`".to_string(),
        )
    } else if inner.starts_with("invalid value: integer") || huge {
        (
            &rules::value_out_of_range::RULE,
            format!("`{key}` is too large for this field ({inner})"),
            "out of range",
            "use a smaller value".to_string(),
        )
    } else {
        (
            &rules::schema_violation::RULE,
            format!("internal: the schema accepted this file but the model did not: {inner}"),
            "here",
            "please report this as a bug of `policy`".to_string(),
        )
    };
    make(rule, doc, Finding::new(pointer, message, label, help))
}
