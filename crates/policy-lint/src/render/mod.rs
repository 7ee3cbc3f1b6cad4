//! Output formats of `policy lint`: one file per format. Each takes the finished reports and
//! writes text; none of them decides anything about the config or the exit code.

pub mod concise;
pub mod github;
pub mod human;
pub mod json;
pub mod sarif;

use super::{FileReport, Severity};

/// Totals over all reports, for summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Files linted.
    pub files: usize,
    /// Errors in all files.
    pub errors: usize,
    /// Warnings in all files.
    pub warnings: usize,
    /// Findings hidden by `# policy: ignore` comments.
    pub suppressed: usize,
    /// Findings the baseline accepted.
    pub baselined: usize,
    /// Baseline entries that matched nothing.
    pub stale: usize,
    /// Fixes applied (`--fix`).
    pub fixed: usize,
    /// Findings `--fix` would resolve.
    pub fixable: usize,
    /// Findings only `--fix --unsafe-fixes` would resolve.
    pub unsafe_fixable: usize,
}

impl Summary {
    /// Count over `reports`.
    pub fn of(reports: &[FileReport]) -> Summary {
        Summary {
            files: reports.len(),
            errors: reports.iter().map(|r| r.count(Severity::Error)).sum(),
            warnings: reports.iter().map(|r| r.count(Severity::Warning)).sum(),
            suppressed: reports.iter().map(|r| r.suppressed.len()).sum(),
            baselined: reports.iter().map(|r| r.baselined.len()).sum(),
            stale: reports.iter().map(|r| r.stale.len()).sum(),
            fixed: reports.iter().map(|r| r.fixed).sum(),
            fixable: fixes(reports, true),
            unsafe_fixable: fixes(reports, false),
        }
    }
}

fn fixes(reports: &[FileReport], safe: bool) -> usize {
    let all = reports.iter().flat_map(|r| &r.diagnostics);
    all.filter(|d| d.fix.as_ref().is_some_and(|f| f.safe == safe)).count()
}

/// The closing line of the human and concise formats: totals, what was hidden, what `--fix`
/// can do.
pub(crate) fn summary_line(s: Summary) -> String {
    let files = plural(s.files, "file");
    let mut notes = Vec::new();
    if s.fixed > 0 {
        notes.push(format!("{} fixed", s.fixed));
    }
    if s.suppressed > 0 {
        notes.push(format!("{} suppressed", s.suppressed));
    }
    if s.baselined > 0 {
        notes.push(format!("{} in the baseline", s.baselined));
    }
    if s.stale > 0 {
        notes.push(plural(s.stale, "stale baseline entry"));
    }
    let mut line = match (s.errors, s.warnings) {
        (0, 0) => {
            notes.insert(0, files);
            format!("All checks passed ({})", notes.join(", "))
        }
        (e, w) => {
            let mut l = format!("Found {} and {} in {files}", plural(e, "error"), plural(w, "warning"));
            if !notes.is_empty() {
                l.push_str(&format!(" ({})", notes.join(", ")));
            }
            l
        }
    };
    line.push('.');
    match (s.fixable, s.unsafe_fixable) {
        (0, 0) => {}
        (n, 0) => line.push_str(&format!(" {n} fixable with `--fix`.")),
        (0, u) => line.push_str(&format!(" {u} fixable with `--fix --unsafe-fixes`.")),
        (n, u) => line.push_str(&format!(" {n} fixable with `--fix` ({u} more with `--unsafe-fixes`).")),
    }
    line
}

/// `1 error`, `2 errors`, `2 fixes`, `2 entries`.
pub fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else if let Some(stem) = what.strip_suffix('y') {
        format!("{n} {stem}ies")
    } else if what.ends_with(['x', 's']) {
        format!("{n} {what}es")
    } else {
        format!("{n} {what}s")
    }
}

/// One line per stale baseline entry, for the text formats.
pub(crate) fn stale_lines(reports: &[FileReport]) -> String {
    let mut out = String::new();
    for r in reports {
        for e in &r.stale {
            out.push_str(&format!(
                "{}: stale baseline entry: {} at `{}` matches nothing now (was: {}); remove it, or write the baseline again\n",
                r.path, e.code, e.pointer, e.message
            ));
        }
    }
    out
}

/// The "What it does" paragraph of a rule doc, on one line: the rule's short description.
pub(crate) fn short_description(doc: &str) -> String {
    let after = doc.split("## What it does").nth(1).unwrap_or(doc);
    let para = after.trim_start().split("\n\n").next().unwrap_or_default();
    para.split_whitespace().collect::<Vec<_>>().join(" ")
}
