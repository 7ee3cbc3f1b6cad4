//! `--format json`: one JSON object, exactly the shape of SPEC §2.

use super::Summary;
use crate::lint::FileReport;
use serde_json::{json, Value};

/// The SPEC §2 object for `reports`.
pub fn to_value(reports: &[FileReport]) -> Value {
    let files: Vec<Value> = reports
        .iter()
        .map(|r| {
            let diagnostics: Vec<Value> = r
                .diagnostics
                .iter()
                .map(|d| {
                    json!({
                        "code": d.code,
                        "severity": d.severity.as_str(),
                        "message": d.message,
                        "pointer": d.pointer,
                        "line": d.line(),
                        "column": d.column(),
                        "end_line": d.end_line(),
                        "end_column": d.end_column(),
                        "help": d.help,
                    })
                })
                .collect();
            json!({"path": r.path, "diagnostics": diagnostics})
        })
        .collect();
    json!({"files": files, "summary": Summary::of(reports)})
}

/// `to_value` as one line of text with a trailing newline.
pub fn render(reports: &[FileReport]) -> String {
    let mut s = to_value(reports).to_string();
    s.push('\n');
    s
}
