//! `--format human`: rustc-style reports through miette, a source snippet per diagnostic.
//!
//! The same snippet view everywhere, as rustc and ruff print it: coloured on a terminal, without
//! colour (no ANSI escapes) when stdout is not a terminal or `NO_COLOR` is set. miette's
//! narratable form, every position spelled out in words for screen readers, only on request
//! (`--format narrated`).

use super::{stale_lines, summary_line, Summary};
use crate::{Diagnostic, FileReport, LineIndex, Severity};
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, NarratableReportHandler, SourceSpan};
use std::fmt;
use std::sync::Arc;

/// How to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Snippets with Unicode boxes and colour.
    Graphical,
    /// The same snippets without colour.
    Plain,
    /// Plain text with positions in words, for screen readers.
    Narratable,
}

impl Style {
    /// Graphical on a terminal without `NO_COLOR`, plain otherwise (for stdout).
    pub fn detect() -> Style {
        use std::io::IsTerminal;
        Style::choose(std::io::stdout().is_terminal())
    }

    /// [`Style::detect`] for text written to stderr.
    pub fn detect_stderr() -> Style {
        use std::io::IsTerminal;
        Style::choose(std::io::stderr().is_terminal())
    }

    fn choose(terminal: bool) -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        if !no_color && terminal {
            Style::Graphical
        } else {
            Style::Plain
        }
    }
}

struct Report<'a> {
    d: &'a Diagnostic,
    source: CharColumns,
    labels: Vec<LabeledSpan>,
}

/// The file as miette reads it, with the column of a span counted in characters: miette
/// counts bytes, so the `[file:line:col]` of a line with `é` in it disagreed with the JSON,
/// concise and SARIF positions (and with editors).
struct CharColumns(NamedSource<Arc<String>>);

impl miette::SourceCode for CharColumns {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let read = self.0.read_span(span, before, after)?;
        let text = self.0.inner().as_str();
        let Some(head) = text.get(..span.offset()) else {
            return Ok(read);
        };
        let column = head.len() - head.rfind('\n').map_or(0, |i| i + 1);
        let column = head[head.len() - column..].chars().count();
        let mut contents = miette::MietteSpanContents::new_named(
            read.name().unwrap_or_default().to_string(),
            read.data(),
            *read.span(),
            read.line(),
            column,
            read.line_count(),
        );
        if let Some(language) = read.language() {
            contents = contents.with_language(language);
        }
        Ok(Box::new(contents))
    }
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
        Some(match &self.d.fix {
            None => Box::new(&self.d.help),
            Some(f) => {
                let how = if f.safe { "--fix" } else { "--fix --unsafe-fixes" };
                Box::new(format!("{}\nfix: {} (`policy lint {how}`)", self.d.help, f.message))
            }
        })
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
        // A snippet never shows a credential: masked in place, its length kept, so every
        // span computed on the source still points at the same characters.
        let source = match crate::rules::plaintext_secret::masked_source(&r.source) {
            Some(masked) => std::sync::Arc::new(masked),
            None => r.source.clone(),
        };
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
                source: CharColumns(NamedSource::new(&r.path, source.clone()).with_language("yaml")),
                labels,
            };
            let result = match style {
                Style::Graphical => GraphicalReportHandler::new_themed(GraphicalTheme::unicode())
                    .with_width(100)
                    .render_report(&mut out, &report),
                Style::Plain => GraphicalReportHandler::new_themed(GraphicalTheme::unicode_nocolor())
                    .with_links(false)
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
    out.push_str(&stale_lines(reports));
    out.push_str(&summary_line(Summary::of(reports)));
    out.push('\n');
    out
}
