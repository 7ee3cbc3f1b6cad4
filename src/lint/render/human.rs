//! `--format human`: rustc-style reports through miette, a source snippet per diagnostic.
//!
//! Graphical (Unicode, coloured) on a terminal; miette's narratable form when stdout is not a
//! terminal or `NO_COLOR` is set, so logs and screen readers get plain text with every
//! position spelled out.

use super::Summary;
use crate::lint::{Diagnostic, FileReport, LineIndex, Severity};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, NarratableReportHandler, SourceSpan};
use std::fmt;
use std::sync::Arc;

/// How to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Unicode boxes and colour.
    Graphical,
    /// Plain text with positions in words.
    Narratable,
}

impl Style {
    /// Graphical on a terminal without `NO_COLOR`, narratable otherwise.
    pub fn detect() -> Style {
        use std::io::IsTerminal;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        if !no_color && std::io::stdout().is_terminal() {
            Style::Graphical
        } else {
            Style::Narratable
        }
    }
}

struct Report<'a> {
    d: &'a Diagnostic,
    source: NamedSource<Arc<String>>,
    labels: Vec<LabeledSpan>,
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.d.message)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.d.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(format!("{}({})", self.d.code, self.d.name)))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(&self.d.help))
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
}

/// Render every diagnostic of `reports`, then a summary line.
pub fn render(reports: &[FileReport], style: Style) -> String {
    let mut out = String::new();
    for r in reports {
        let lines = LineIndex::new(&r.source);
        for d in &r.diagnostics {
            let span = |s| {
                let range = lines.range(&r.source, s);
                SourceSpan::new(range.start.into(), range.len())
            };
            let mut labels = vec![LabeledSpan::new_primary_with_span(Some(d.label.clone()), span(d.span))];
            labels.extend(
                d.related
                    .iter()
                    .map(|(s, l)| LabeledSpan::new_with_span(Some(l.clone()), span(*s))),
            );
            let report = Report {
                d,
                source: NamedSource::new(&r.path, r.source.clone()).with_language("yaml"),
                labels,
            };
            let result = match style {
                Style::Graphical => GraphicalReportHandler::new_themed(GraphicalTheme::unicode())
                    .with_width(100)
                    .render_report(&mut out, &report),
                Style::Narratable => NarratableReportHandler::new().render_report(&mut out, &report),
            };
            if result.is_err() {
                out.push_str(&format!(
                    "{}:{}:{}: {} {}: {}\n",
                    r.path,
                    d.line(),
                    d.column(),
                    d.severity.as_str(),
                    d.code,
                    d.message
                ));
            }
            out.push('\n');
        }
    }
    out.push_str(&summary_line(Summary::of(reports)));
    out.push('\n');
    out
}

fn summary_line(s: Summary) -> String {
    let files = if s.files == 1 {
        "1 file".to_string()
    } else {
        format!("{} files", s.files)
    };
    match (s.errors, s.warnings) {
        (0, 0) => format!("All checks passed ({files})."),
        (e, w) => format!("Found {} and {} in {files}.", plural(e, "error"), plural(w, "warning")),
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}
