//! The generated schema: committed copy current, every field classified, SPEC's restart paths.

use crate::util::root;
use policy::schema::{self, ReloadClass};
use serde_json::Value;

#[test]
fn committed_schema_is_current() {
    let path = root().join(schema::COMMITTED_PATH);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == schema::schema_text(),
        "{} is stale or missing; regenerate it with:\n    {}",
        schema::COMMITTED_PATH,
        schema::REGENERATE_COMMAND
    );
}

/// A field added to the model without `x-reload` fails here, so nothing ships unclassified.
#[test]
fn every_property_has_reload_class() {
    let s = schema::schema();
    let mut objects: Vec<(String, &Value)> = vec![("(root)".into(), s)];
    for (name, def) in s["$defs"].as_object().unwrap() {
        objects.push((name.clone(), def));
    }
    let mut missing = Vec::new();
    for (name, obj) in objects {
        for (key, prop) in obj.get("properties").and_then(Value::as_object).into_iter().flatten() {
            match prop.get("x-reload").and_then(Value::as_str) {
                Some("hot" | "restart") => {}
                other => missing.push(format!("{name}.{key}: {other:?}")),
            }
        }
    }
    assert!(missing.is_empty(), "properties without a valid x-reload: {missing:?}");
}

#[test]
fn reload_classes_match_spec() {
    let restart = [
        "/gateway/listen",
        "/gateway/worker_threads",
        "/gateway/admin/listen",
        "/telemetry",
        "/telemetry/service_name",
    ];
    for p in restart {
        assert_eq!(schema::reload_class(p), ReloadClass::Restart, "{p}");
    }
    for p in [
        "/pack/name",
        "/gateway/admin/token_env",
        "/gateway/limits/request_timeout_ms",
        "/providers/targets/2/base_url",
        "/routes/0/match/model",
        "/policy/rate-limit/burst",
    ] {
        assert_eq!(schema::reload_class(p), ReloadClass::Hot, "{p}");
    }
}

#[test]
fn schema_documents_every_field() {
    let s = schema::schema();
    let mut undocumented = Vec::new();
    for (name, def) in s["$defs"].as_object().unwrap() {
        for (key, prop) in def.get("properties").and_then(Value::as_object).into_iter().flatten() {
            if prop
                .get("description")
                .and_then(Value::as_str)
                .is_none_or(|d| !d.contains("Reload:"))
            {
                undocumented.push(format!("{name}.{key}"));
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "fields whose description does not state the reload class: {undocumented:?}"
    );
}
