//! `--format concise`: `path:line:col: CODE message`, one finding a line, as compilers print
//! them for editors' problem matchers and grep; then the summary line.

use super::{stale_lines, summary_line, Summary};
use crate::FileReport;

/// One line per diagnostic of `reports`, then stale baseline entries and the summary.
pub fn render(reports: &[FileReport]) -> String {
    let mut out = String::new();
    for r in reports {
        for d in &r.diagnostics {
            out.push_str(&format!(
                "{}:{}:{}: {} {}\n",
                r.path,
                d.line(),
                d.column(),
                d.code,
                d.message
            ));
        }
    }
    out.push_str(&stale_lines(reports));
    out.push_str(&summary_line(Summary::of(reports)));
    out.push('\n');
    out
}
