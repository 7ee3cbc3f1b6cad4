//! The generated schema: committed copy current, every field classified (reload class, and
//! `x-enforce` on every enforcement-bearing field), the documented restart paths.

use crate::util::root;
use policy_config::schema::{self, Enforcement, ReloadClass, RuleUnit, Weakens};
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
fn reload_classes_are_the_documented_ones() {
    let restart = [
        "/gateway/listen",
        "/gateway/worker_threads",
        "/gateway/pin_workers",
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

/// Every property of the schema, walked from the root through `$ref`s, properties and list
/// items: its path (list items as `[]`), key, schema before and after `$ref` resolution.
fn walk_properties() -> Vec<(String, String, &'static Value, &'static Value)> {
    fn visit(
        path: &str,
        node: &'static Value,
        depth: usize,
        out: &mut Vec<(String, String, &'static Value, &'static Value)>,
    ) {
        assert!(depth < 32, "the schema nests too deep at {path}");
        let node = schema::resolve(node);
        for (key, prop) in node.get("properties").and_then(Value::as_object).into_iter().flatten() {
            let here = format!("{path}/{key}");
            out.push((here.clone(), key.clone(), prop, schema::resolve(prop)));
            visit(&here, prop, depth + 1, out);
        }
        if let Some(items) = node.get("items").filter(|i| i.is_object()) {
            visit(&format!("{path}/[]"), items, depth + 1, out);
        }
    }
    let mut out = Vec::new();
    visit("", schema::schema(), 0, &mut out);
    out
}

fn enum_values(node: &Value) -> Vec<&Value> {
    node.get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect()
}

/// A property that carries an action, a pattern, a list of detectors or policies, a traffic
/// limit or a policy's settings fails here without a valid `x-enforce`, so `policy diff`'s
/// weakening marks and offline replay's unexercised rules cannot miss it. The properties are
/// found from the generated schema's structure, not from a list of field names.
#[test]
fn enforcement_is_declared() {
    let s = schema::schema();
    let actions = enum_values(&s["$defs"]["Action"]);
    let kinds = enum_values(&s["$defs"]["PolicyKind"]);
    assert!(
        !actions.is_empty() && !kinds.is_empty(),
        "the Action and PolicyKind enums moved"
    );
    let props = walk_properties();
    // The walk reaches every object type of the schema.
    for (name, def) in s["$defs"].as_object().unwrap() {
        if def.get("properties").is_some() {
            assert!(
                props.iter().any(|(_, _, _, r)| {
                    std::ptr::eq(*r, def) || r.get("items").is_some_and(|i| std::ptr::eq(schema::resolve(i), def))
                }),
                "walk missed $defs/{name}"
            );
        }
    }
    let mut missing = Vec::new();
    let mut invalid = Vec::new();
    for (path, key, prop, resolved) in &props {
        let ty = resolved.get("type").and_then(Value::as_str);
        let items = resolved.get("items").map(schema::resolve);
        let regex = |n: &Value| n.get("format").and_then(Value::as_str) == Some("regex");
        let mut bears = Vec::new();
        let values = enum_values(resolved);
        if (!values.is_empty() && values.iter().all(|v| actions.contains(v)))
            || key == "action"
            || key.ends_with("_action")
        {
            bears.push("an action");
        }
        if ty == Some("string") && (regex(resolved) || key == "pattern" || key.ends_with("_pattern")) {
            bears.push("a pattern");
        }
        if ty == Some("array") && (items.is_some_and(regex) || key == "patterns" || key.ends_with("_patterns")) {
            bears.push("a pattern list");
        }
        if items.is_some_and(|i| !enum_values(i).is_empty()) {
            bears.push("a list of detectors or policies");
        }
        let numeric = matches!(ty, Some("integer" | "number"));
        if numeric && path.split('/').any(|t| t == "rate-limit" || t == "limits") {
            bears.push("a traffic limit");
        }
        if kinds.iter().any(|k| k.as_str() == Some(key.as_str())) {
            bears.push("a policy's settings");
        }
        let declared = prop.get("x-enforce").map(Enforcement::parse);
        match &declared {
            None if !bears.is_empty() => missing.push(format!("{path} ({})", bears.join(", "))),
            Some(Err(e)) => invalid.push(format!("{path}: {e}")),
            _ => {}
        }
        // What the annotation says must fit the field it sits on.
        let Some(Ok(e)) = declared else { continue };
        let fits = match e.weakens {
            Some(Weakens::RemoveItem) => ty == Some("array"),
            Some(Weakens::LowerAction) => values.len() > 1,
            Some(Weakens::SwitchOff) => ty == Some("boolean"),
            Some(Weakens::RaiseLimit) => numeric,
            Some(Weakens::Never) | None => true,
        } && match e.rule {
            Some(u) if u.is_policy_block() => kinds.iter().any(|k| k.as_str() == Some(key.as_str())),
            Some(RuleUnit::ItemNamesPolicy) => items.is_some_and(|i| enum_values(i) == kinds),
            Some(_) => ty == Some("array"),
            None => true,
        };
        if !fits {
            invalid.push(format!("{path}: {e:?} does not fit a {ty:?} field"));
        }
        if bears.contains(&"a policy's settings") && !e.rule.is_some_and(RuleUnit::is_policy_block) {
            invalid.push(format!("{path}: a policy's settings without a policy-block `rule`"));
        }
    }
    assert!(
        missing.is_empty() && invalid.is_empty(),
        "enforcement-bearing properties without x-enforce: {missing:#?}\ninvalid x-enforce: {invalid:#?}"
    );
}

/// The interpreters find what the annotations declare: the seed weakenings, and the rule a
/// replay would name for each kind of rule list.
#[test]
fn enforcement_lookups() {
    let e = schema::enforcement("/policy/content-filter/rules").unwrap();
    assert_eq!(
        (e.weakens, e.rule),
        (Some(Weakens::RemoveItem), Some(RuleUnit::ItemById))
    );
    let old = serde_json::json!({"id": "r9", "pattern": "x"});
    assert_eq!(e.wording(Some(&old), None).unwrap(), "content rule `r9` is removed");
    let e = schema::enforcement("/policy/rate-limit/burst").unwrap();
    assert_eq!(
        e.wording(Some(&Value::from(1)), Some(&Value::from(2))).unwrap(),
        "the rate limit is raised from 1 to 2"
    );
    assert_eq!(
        schema::enforcement("/policy/content-filter/rules/0"),
        None,
        "a list item is no property"
    );
    assert_eq!(
        schema::policy_block("audit-logger").and_then(|(_, e)| e.rule),
        Some(RuleUnit::InertPolicy)
    );
    assert_eq!(
        schema::policy_block("pii-detector").map(|(p, _)| p).as_deref(),
        Some("/policy/pii-detector")
    );
    assert_eq!(
        schema::enum_rank("/policy/pii-detector/action", &Value::from("block")),
        Some(0)
    );
}

/// Every setting has an effect: each leaf of the config model is held to one test that sets it
/// to something other than its default and fails if the gateway, the engine or the CLI ignored
/// it. Purely descriptive fields are listed apart, with why. A new field fails here until it is
/// given its test (or reviewed as descriptive); a test renamed or removed fails here too.
#[test]
fn every_leaf_of_the_config_has_a_test_of_its_effect() {
    const DESCRIPTIVE: &[(&str, &str)] = &[("/pack/description", "free text for people; nothing reads it")];
    const PROXY: &str = "gateway/tests/suite/proxy.rs";
    const ENGINE: &str = "crates/policy-engine/src/lib.rs";
    const SETTINGS: &str = "default_target_include_bodies_and_worker_threads_have_their_effect";
    const LIMITS: (&str, &str) = (
        "gateway/tests/suite/limits.rs",
        "oversized_malformed_and_slow_requests_fail_alone",
    );
    const UPSTREAM: (&str, &str) = (
        PROXY,
        "forwards_the_redacted_body_with_the_target_key_to_a_real_upstream",
    );
    const HEADERS: (&str, &str) = (PROXY, "every_response_carries_the_policy_headers");
    const INJECTION: (&str, &str) = (ENGINE, "prompt_injection_settings_have_their_effect");
    const PII: (&str, &str) = (ENGINE, "pii_detector_settings_have_their_effect");
    const CONTENT: (&str, &str) = ("crates/policy-engine/src/content.rs", "content_rules_block_and_redact");
    const RATE: (&str, &str) = (
        "crates/policy-engine/src/rate_limit.rs",
        "rate_limit_uses_the_given_clock",
    );
    const FAULTS: (&str, &str) = (
        "gateway/tests/suite/faults.rs",
        "audit_on_a_full_disk_fails_open_or_closed_and_recovers",
    );
    const METADATA: (&str, &str) = (PROXY, "include_metadata_and_service_name_have_their_effect");
    let tested: &[(&str, (&str, &str))] = &[
        (
            "/pack/name",
            (
                "gateway/tests/suite/state.rs",
                "check_exits_0_1_2_for_a_good_a_broken_and_a_missing_file",
            ),
        ),
        ("/pack/version", HEADERS),
        (
            "/pack/enabled",
            ("tests/suite/replay.rs", "a_disabled_pack_allows_everything"),
        ),
        (
            "/gateway/listen",
            (
                "gateway/tests/suite/restart.rs",
                "a_new_process_that_cannot_start_is_reported_and_the_old_one_serves_on",
            ),
        ),
        ("/gateway/worker_threads", (PROXY, SETTINGS)),
        (
            "/gateway/pin_workers",
            (PROXY, "pin_workers_puts_each_data_thread_on_a_cpu_of_its_own_in_turn"),
        ),
        (
            "/gateway/admin/listen",
            (
                "gateway/tests/suite/operator.rs",
                "status_and_revert_reach_the_gateway_through_a_file_with_lint_errors",
            ),
        ),
        (
            "/gateway/admin/token_env",
            ("gateway/tests/suite/admin.rs", "the_admin_plane_wants_the_bearer_token"),
        ),
        ("/gateway/limits/max_body_bytes", LIMITS),
        ("/gateway/limits/request_timeout_ms", LIMITS),
        (
            "/gateway/limits/drain_timeout_ms",
            (
                "gateway/tests/suite/lifecycle.rs",
                "a_request_the_drain_timeout_overtakes_is_answered_503",
            ),
        ),
        (
            "/providers/targets/0/id",
            (
                "gateway/tests/suite/health.rs",
                "a_target_at_a_closed_port_is_unreachable_and_the_gateway_alive_but_not_ready",
            ),
        ),
        (
            "/providers/targets/0/provider",
            (PROXY, "translates_to_the_anthropic_messages_api"),
        ),
        ("/providers/targets/0/model", UPSTREAM),
        ("/providers/targets/0/base_url", UPSTREAM),
        ("/providers/targets/0/secret_key_ref/env", UPSTREAM),
        (
            "/providers/targets/0/timeout_ms",
            (PROXY, "refused_upstream_is_502_and_slow_upstream_is_504"),
        ),
        (
            "/providers/targets/0/mock/latency_ms",
            ("gateway/tests/suite/lifecycle.rs", "sigint_stops_fast"),
        ),
        ("/providers/targets/0/mock/reply", HEADERS),
        ("/providers/default", (PROXY, SETTINGS)),
        ("/routes/0/match/model", (PROXY, SETTINGS)),
        ("/routes/0/target", (PROXY, SETTINGS)),
        ("/policies/chain/0", HEADERS),
        ("/policy/prompt-injection/response/action", INJECTION),
        ("/policy/prompt-injection/response/message", INJECTION),
        ("/policy/prompt-injection/extra_patterns/0", INJECTION),
        (
            "/policy/pii-detector/action",
            (
                "tests/suite/policy_test.rs",
                "a_redact_expectation_passes_on_a_redacting_config_and_fails_on_a_blocking_one",
            ),
        ),
        ("/policy/pii-detector/detect/0", PII),
        ("/policy/pii-detector/redaction/marker_format", PII),
        ("/policy/pii-detector/redaction/include_metadata", METADATA),
        ("/policy/content-filter/rules/0/id", CONTENT),
        ("/policy/content-filter/rules/0/pattern", CONTENT),
        ("/policy/content-filter/rules/0/action", CONTENT),
        ("/policy/content-filter/rules/0/message", CONTENT),
        ("/policy/rate-limit/requests_per_minute", RATE),
        ("/policy/rate-limit/burst", RATE),
        (
            "/policy/rate-limit/key",
            (ENGINE, "a_rate_limit_keyed_by_header_counts_each_value_apart"),
        ),
        ("/policy/audit-logger/path", FAULTS),
        (
            "/policy/audit-logger/retention_days",
            (
                "gateway/src/journal.rs",
                "the_configs_retention_days_is_what_rotation_keeps",
            ),
        ),
        ("/policy/audit-logger/include_bodies", (PROXY, SETTINGS)),
        ("/policy/audit-logger/on_failure", FAULTS),
        ("/telemetry/service_name", METADATA),
    ];
    // The leaves: properties whose schema has no properties and no item schema of its own.
    let leaves: std::collections::BTreeSet<String> = policy_config::schema::properties()
        .into_iter()
        .filter(|(_, _, node)| {
            let node = policy_config::schema::resolve(node);
            node.get("properties").is_none()
                && !node.get("items").is_some_and(|i| {
                    let i = policy_config::schema::resolve(i);
                    i.get("properties").is_some()
                })
        })
        .map(|(pointer, ..)| pointer)
        .collect();
    let listed: std::collections::BTreeSet<String> = tested
        .iter()
        .map(|(p, _)| p.to_string())
        .chain(DESCRIPTIVE.iter().map(|(p, _)| p.to_string()))
        .collect();
    // A list of scalars is one leaf, written with its item (`/chain/0`).
    let normalised: std::collections::BTreeSet<String> = leaves
        .iter()
        .map(|p| {
            if listed.contains(&format!("{p}/0")) {
                format!("{p}/0")
            } else {
                p.clone()
            }
        })
        .collect();
    let untested: Vec<_> = normalised.difference(&listed).collect();
    let unknown: Vec<_> = listed.difference(&normalised).collect();
    assert!(
        untested.is_empty(),
        "fields with no test of their effect (add one, or review as descriptive): {untested:?}"
    );
    assert!(unknown.is_empty(), "listed but not in the model: {unknown:?}");
    for (pointer, (file, test)) in tested {
        let text = std::fs::read_to_string(crate::util::root().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            text.contains(&format!("fn {test}(")),
            "{pointer}: no test `{test}` in {file}"
        );
    }
}
