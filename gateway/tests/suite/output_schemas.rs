//! The `policy` outputs that need a running gateway (`gateway status`, `fleet status`,
//! `rollout`, `replay --live`) against their schemas under `schema/output/`
//! (docs/reference/json-output.md). The areas that produce those outputs call [`assert_valid`]
//! on them; the root crate's `tests/suite/output_schemas.rs` validates the other outputs and
//! checks that every schema there is used by some `assert_valid("NAME", …)` call.

use serde_json::Value;
use std::path::PathBuf;

/// Validate `instance` (the output of `what`) against `schema/output/NAME.schema.json`; on
/// failure, panic with every validation error, each at its instance path, and the output.
pub fn assert_valid(name: &str, what: &str, instance: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../schema/output")
        .join(format!("{name}.schema.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let schema: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let validator = jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("schema/output/{name}.schema.json is not a valid schema: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| {
            let at = e.instance_path().as_str().to_string();
            let at = if at.is_empty() { "(root)".to_string() } else { at };
            format!("  at {at}: {e}")
        })
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: the output does not match schema/output/{name}.schema.json ({} error(s)):\n{}\n\nthe output:\n{instance:#}",
        errors.len(),
        errors.join("\n")
    );
}
