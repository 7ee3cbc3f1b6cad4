//! `--format github`: GitHub Actions workflow commands, one annotation per diagnostic.
//!
//! `::error file=F,line=L,col=C,endLine=L2,endColumn=C2,title=CODE::message`. GitHub shows at
//! most 10 annotations of each type per step, so the action also writes the full list to the
//! step summary; this format only writes the commands.

use crate::{FileReport, Severity};

/// The workflow commands for `reports`.
pub fn render(reports: &[FileReport]) -> String {
    let mut out = String::new();
    for r in reports {
        for d in &r.diagnostics {
            let level = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            };
            out.push_str(&format!(
                "::{level} file={},line={},col={},endLine={},endColumn={},title={}::{}\n",
                property(&r.path),
                d.line(),
                d.column(),
                d.end_line(),
                d.end_column(),
                property(d.code),
                data(&format!("{} ({}) [{}]\n{}", d.message, d.name, d.pointer, d.help)),
            ));
        }
    }
    out
}

/// Escape the message part of a workflow command.
pub fn data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escape a property value of a workflow command (`file=`, `title=`).
pub fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}
