//! Output formats of `policy lint`: one file per format. Each takes the finished reports and
//! writes text; none of them decides anything about the config or the exit code.

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
}

impl Summary {
    /// Count over `reports`.
    pub fn of(reports: &[FileReport]) -> Summary {
        Summary {
            files: reports.len(),
            errors: reports.iter().map(|r| r.count(Severity::Error)).sum(),
            warnings: reports.iter().map(|r| r.count(Severity::Warning)).sum(),
        }
    }
}

/// The "What it does" paragraph of a rule doc, on one line: the rule's short description.
pub fn short_description(doc: &str) -> String {
    let after = doc.split("## What it does").nth(1).unwrap_or(doc);
    let para = after.trim_start().split("\n\n").next().unwrap_or_default();
    para.split_whitespace().collect::<Vec<_>>().join(" ")
}
