//! `--format sarif`: SARIF 2.1.0, as GitHub code scanning's `upload-sarif` accepts it.
//!
//! Every rule of the registry is listed under `tool.driver.rules` (with its documentation as
//! help), and each diagnostic is a `result` pointing at its region.

use super::short_description;
use crate::rules::RULES;
use crate::{FileReport, Severity};
use serde_json::{json, Value};

/// The SARIF log for `reports`.
pub fn to_value(reports: &[FileReport]) -> Value {
    let rules: Vec<Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.code,
                "name": r.name,
                "shortDescription": {"text": short_description(r.doc)},
                "fullDescription": {"text": short_description(r.doc)},
                "help": {"text": r.doc, "markdown": r.doc},
                "defaultConfiguration": {"level": level(r.severity)},
                "properties": {"tags": ["policy-config"]},
            })
        })
        .collect();
    let mut results = Vec::new();
    for r in reports {
        for d in &r.diagnostics {
            let index = RULES.iter().position(|x| x.code == d.code).unwrap_or(0);
            results.push(json!({
                "ruleId": d.code,
                "ruleIndex": index,
                "level": level(d.severity),
                "message": {"text": format!("{} ({})", d.message, d.help)},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri(&r.path)},
                        "region": {
                            "startLine": d.line(),
                            "startColumn": d.column(),
                            "endLine": d.end_line(),
                            "endColumn": d.end_column(),
                        }
                    },
                    "logicalLocations": [{"fullyQualifiedName": d.pointer, "kind": "member"}],
                }],
                "partialFingerprints": {"policyDiagnostic/v1": format!("{}:{}:{}", d.code, r.path, d.pointer)},
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "policy",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/policy-dev/policy",
                "rules": rules,
            }},
            "results": results,
        }]
    })
}

/// `to_value`, pretty-printed.
pub fn render(reports: &[FileReport]) -> String {
    let mut s = serde_json::to_string_pretty(&to_value(reports)).expect("JSON value");
    s.push('\n');
    s
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// The artifact URI of a path as given: relative paths stay relative (what code scanning
/// resolves against the checkout), absolute ones become `file://` URIs (SARIF1004).
fn uri(path: &str) -> String {
    let p = path.replace('\\', "/");
    let encoded: String = p
        .chars()
        .map(|c| match c {
            ' ' => "%20".to_string(),
            '%' => "%25".to_string(),
            '#' => "%23".to_string(),
            '?' => "%3F".to_string(),
            c => c.to_string(),
        })
        .collect();
    if encoded.starts_with('/') {
        format!("file://{encoded}")
    } else {
        encoded.strip_prefix("./").unwrap_or(&encoded).to_string()
    }
}
