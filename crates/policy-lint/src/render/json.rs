//! `--format json`: one JSON object (schema/output/lint.schema.json), plus per diagnostic its `fix`
//! (`null`, or `safe`, `message` and `edits` with 1-based positions), per file the counts of
//! suppressed and baselined findings, stale baseline entries and fixes applied, and those
//! totals in the summary.

use super::Summary;
use crate::FileReport;
use serde_json::{json, Value};

/// The `--format json` object for `reports`.
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
                        "fix": d.fix.as_ref().map(|f| json!({
                            "safe": f.safe,
                            "message": f.message,
                            "edits": f.edits.iter().map(|e| json!({
                                "line": e.span.start.line,
                                "column": e.span.start.col + 1,
                                "end_line": e.span.end.line,
                                "end_column": e.span.end.col + 1,
                                "content": e.content,
                            })).collect::<Vec<_>>(),
                        })),
                    })
                })
                .collect();
            let stale: Vec<Value> = r
                .stale
                .iter()
                .map(|e| json!({"code": e.code, "pointer": e.pointer, "value": e.value, "message": e.message}))
                .collect();
            json!({
                "path": r.path,
                "diagnostics": diagnostics,
                "suppressed": r.suppressed.len(),
                "baselined": r.baselined.len(),
                "stale": stale,
                "fixed": r.fixed,
            })
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
