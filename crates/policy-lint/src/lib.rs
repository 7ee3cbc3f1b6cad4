//! `policy-lint` (`policy lint`): read a config, check it against the schema and the semantic rules, and
//! produce located diagnostics.
//!
//! Pipeline for one file: YAML (`policy_config::yaml`, P1xx) -> JSON Schema (`schema_check`, P2xx)
//! -> typed `Config` via serde -> semantic rules (`rules`, P3xx). A YAML error stops the file;
//! schema errors are all reported; every semantic rule then runs on every part of the file
//! the schema did not flag (`rules::Context`), so one run reports every finding. A file of
//! 256 KB or more uses two threads: the schema check runs beside the typed read and the rules
//! (which assume nothing is broken, and run again if the schema disagrees), and the rules are
//! shared between two workers. Rendering is `render`'s job; exit codes are the binary's.
//!
//! ```text
//! mod.rs           lint_source / lint_path / load_config: the pipeline above
//! diagnostic.rs    Diagnostic, Severity: what every check produces
//! line_index.rs    LineIndex: line and column to byte offsets
//! locate.rs        a rule's Finding -> located Diagnostic
//! schema_check.rs  JSON Schema validation, errors mapped to P2xx diagnostics
//! typed.rs         what the typed read refuses that the schema let through, located
//! rules/           the rule registry, one file per code
//! suppress.rs      `# policy: ignore[...]` comments, applied to a file's diagnostics
//! baseline.rs      accepted findings keyed by code, pointer and value; matching, stale entries
//! fix.rs           fixes and their edits, applying them, the fix-and-lint-again loop
//! render/          output formats
//! ```

#![deny(missing_docs)]

pub mod baseline;
pub mod diagnostic;
pub mod fix;
mod line_index;
mod locate;
pub mod render;
pub mod rules;
mod schema_check;
pub mod suppress;
mod typed;

pub use diagnostic::{Diagnostic, Severity};
pub use line_index::LineIndex;
use locate::make;
use policy_config::yaml::{self, Document, YamlErrorKind};
use policy_config::Config;
use rules::rule::{Context, Rule};
use serde::Deserialize;
use std::sync::Arc;

/// The result of linting one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// The path as given (or `<stdin>`).
    pub path: String,
    /// The source text (shared with renderers, never copied: a hostile 50 MB file must not
    /// cost 100 MB).
    pub source: Arc<String>,
    /// Findings, sorted by position (without those suppressed or in the baseline).
    pub diagnostics: Vec<Diagnostic>,
    /// Findings a `# policy: ignore` comment hid.
    pub suppressed: Vec<Diagnostic>,
    /// Findings the baseline accepted (`lint --baseline`).
    pub baselined: Vec<Diagnostic>,
    /// Baseline entries for this file that matched no finding.
    pub stale: Vec<baseline::Entry>,
    /// Fixes applied to the file before this report (`lint --fix`).
    pub fixed: usize,
    /// The typed config, when the file has no errors.
    pub config: Option<Config>,
    /// The document as read, when it was YAML: later stages locate their findings with it.
    pub document: Option<Document>,
}

impl FileReport {
    /// A report of `diagnostics` alone: nothing suppressed, baselined or fixed, no config.
    pub fn of(path: &str, source: Arc<String>, diagnostics: Vec<Diagnostic>) -> FileReport {
        FileReport {
            path: path.to_string(),
            source,
            diagnostics,
            suppressed: Vec::new(),
            baselined: Vec::new(),
            stale: Vec::new(),
            fixed: 0,
            config: None,
            document: None,
        }
    }

    /// Number of diagnostics of `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == severity).count()
    }
}

/// How to lint.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Honour `# policy: ignore` comments (`--no-suppress` turns this off).
    pub suppress: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options { suppress: true }
    }
}

/// Lint one config given as text, with the default options. Never panics on any input.
pub fn lint_source(path: &str, source: impl Into<String>) -> FileReport {
    lint_source_with(path, source, &Options::default())
}

/// Lint one config given as text. Never panics on any input.
pub fn lint_source_with(path: &str, source: impl Into<String>, options: &Options) -> FileReport {
    let mut source: String = source.into();
    // A UTF-8 byte-order mark is not part of the document (YAML 1.2 §5.2): without this, the
    // first key would read `\u{feff}pack`. Writers that keep the mark (`--fix`) put it back.
    if source.starts_with('\u{feff}') {
        source.drain(..'\u{feff}'.len_utf8());
    }
    let source = Arc::new(source);
    // One line index for the schema mapper, the rules' fixes and the suppression comments.
    let lines = LineIndex::new(&source);
    let mut diagnostics = Vec::new();
    let mut config = None;
    let mut document = None;
    match yaml::parse(&source) {
        Err(errors) => diagnostics.extend(errors.into_iter().map(|e| yaml_diagnostic(point_at_tab(e, &source)))),
        Ok(doc) => {
            let workers = if source.len() >= PARALLEL_MIN_BYTES { 2 } else { 1 };
            let checked = check(&doc, &source, &lines, workers);
            let typed = match checked.typed {
                Some(Ok(c)) => Some(c),
                Some(Err(_)) => {
                    diagnostics.push(typed::refusal(&doc));
                    None
                }
                None => None,
            };
            let mut broken: Vec<String> = checked.schema_errors.iter().map(|d| d.pointer.clone()).collect();
            broken.extend(diagnostics.iter().map(|d| d.pointer.clone()));
            broken.sort_unstable();
            diagnostics.extend(checked.schema_errors);
            // The rules' findings on a file the schema and the model accepted (nothing broken)
            // were made while the schema ran; otherwise they run now, told what is broken.
            match checked.rule_findings {
                Some(found) => diagnostics.extend(found),
                None => {
                    let ctx = Context::new(&source, &lines, &doc, typed.as_ref(), &broken);
                    diagnostics.extend(run_rules(&ctx, workers));
                }
            }
            config = typed;
            document = Some(doc);
        }
    }
    let mut suppressed = Vec::new();
    if options.suppress {
        let s = suppress::apply(&source, &lines, document.as_ref(), diagnostics);
        diagnostics = s.kept;
        suppressed = s.hidden;
    }
    if diagnostics.iter().any(|d| d.severity == Severity::Error) {
        config = None;
    }
    sort(&mut diagnostics);
    sort(&mut suppressed);
    FileReport {
        path: path.to_string(),
        source,
        diagnostics,
        suppressed,
        baselined: Vec::new(),
        stale: Vec::new(),
        fixed: 0,
        config,
        document,
    }
}

/// Files at least this large are checked on two threads (see [`check`]); below it, threads
/// cost more than they save, and several files are linted in parallel anyway.
const PARALLEL_MIN_BYTES: usize = 256 * 1024;

/// What [`check`] found before the rules that need to know what is broken.
struct Checked {
    /// The schema's findings.
    schema_errors: Vec<Diagnostic>,
    /// The typed config, read only when the schema found nothing.
    typed: Option<Result<Config, serde_json::Error>>,
    /// Every rule's findings on a file the schema and the model both accepted, when they were
    /// made alongside the schema check.
    rule_findings: Option<Vec<Diagnostic>>,
}

/// Check `doc` against the schema and read the typed config. With one worker, in that order.
/// With two, the schema check runs on a thread of its own while this one reads the config and
/// runs the rules on the assumption that nothing is broken, the common case; when the schema
/// finds something, those findings are dropped and the caller runs the rules again knowing it.
fn check(doc: &Document, source: &str, lines: &LineIndex, workers: usize) -> Checked {
    if workers <= 1 {
        let schema_errors = schema_check::check(doc, source, lines);
        let typed = schema_errors.is_empty().then(|| Config::deserialize(&doc.value));
        return Checked {
            schema_errors,
            typed,
            rule_findings: None,
        };
    }
    let (schema_errors, typed, rule_findings) = std::thread::scope(|scope| {
        let schema = scope.spawn(|| schema_check::check(doc, source, lines));
        let typed = Config::deserialize(&doc.value);
        let found = typed
            .as_ref()
            .ok()
            .map(|config| run_rules(&Context::new(source, lines, doc, Some(config), &[]), workers));
        let schema_errors = schema.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (schema_errors, typed, found)
    });
    let accepted = schema_errors.is_empty();
    Checked {
        schema_errors,
        typed: accepted.then_some(typed),
        rule_findings: rule_findings.filter(|_| accepted),
    }
}

/// Every semantic rule's findings on `ctx`, located, in rule order. With more than one worker
/// the rules are shared out as each worker becomes free.
fn run_rules(ctx: &Context<'_>, workers: usize) -> Vec<Diagnostic> {
    let checks: Vec<_> = rules::RULES
        .iter()
        .filter_map(|rule| rule.check.map(|check| (*rule, check)))
        .collect();
    let one = |i: usize| {
        let (rule, check) = checks[i];
        let mut findings = Vec::new();
        check(ctx, &mut findings);
        findings.into_iter().map(|f| make(rule, ctx.doc, f)).collect::<Vec<_>>()
    };
    if workers <= 1 {
        return (0..checks.len()).flat_map(one).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if i >= checks.len() {
                return done;
            }
            done.push((i, one(i)));
        }
    };
    let mut done = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..workers).map(|_| scope.spawn(work)).collect();
        let mut done = work();
        for h in helpers {
            done.extend(h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)));
        }
        done
    });
    done.sort_unstable_by_key(|(i, _)| *i);
    done.into_iter().flat_map(|(_, found)| found).collect()
}

/// Build what every lint needs once per process and takes milliseconds to make: the schema
/// validator (~2 ms, most of it jsonschema compiling the meta-schema it checks ours against).
/// The CLI runs this on a thread of its own while the first file is read and parsed. It is a
/// `OnceLock`, so a lint that needs it before it is ready waits for it: the result never
/// depends on whether this ran.
pub fn warm_up() {
    schema_check::validator();
}

/// Sort by position, then code; drop exact repeats.
fn sort(diagnostics: &mut Vec<Diagnostic>) {
    diagnostics.sort_by(|a, b| {
        (a.span.start.line, a.span.start.col, a.code).cmp(&(b.span.start.line, b.span.start.col, b.code))
    });
    diagnostics.dedup();
}

/// Read `source` as YAML with the linter's reader and limits, for files that are not configs
/// (policy test files): the document, or a report of its P1xx diagnostics.
pub fn read_yaml(path: &str, source: Arc<String>) -> Result<Document, Box<FileReport>> {
    yaml::parse(&source).map_err(|errors| {
        let diagnostics = errors
            .into_iter()
            .map(|e| yaml_diagnostic(point_at_tab(e, &source)))
            .collect();
        Box::new(FileReport::of(path, source.clone(), diagnostics))
    })
}

fn yaml_diagnostic(e: yaml::YamlError) -> Diagnostic {
    use rules::{
        alias_expansion_limit, duplicate_key, multiple_documents, nesting_too_deep, unsupported_yaml, yaml_syntax_error,
    };
    let (rule, label, help): (&'static Rule, &str, String) = match e.kind {
        YamlErrorKind::Syntax => {
            let (label, help) = syntax_help(&e.message);
            (&yaml_syntax_error::RULE, label, help)
        }
        YamlErrorKind::DuplicateKey => (
            &duplicate_key::RULE,
            "written again here",
            "remove one of the two entries; YAML parsers disagree on which one wins".into(),
        ),
        YamlErrorKind::UnknownAnchor => (
            &alias_expansion_limit::RULE,
            "unknown alias",
            "define the anchor (`key: &name value`) on a node that ends before this alias, or check the spelling of the name".into(),
        ),
        YamlErrorKind::AliasBudget => (
            &alias_expansion_limit::RULE,
            "expansion stops here",
            format!(
                "a config needs few aliases; write the repeated part out, or keep aliases under {} nodes in all",
                yaml::ALIAS_NODE_BUDGET
            ),
        ),
        YamlErrorKind::TooDeep => (
            &nesting_too_deep::RULE,
            "too deep",
            format!(
                "no valid config nests more than a few levels; the limit is {}",
                yaml::MAX_DEPTH
            ),
        ),
        YamlErrorKind::MultipleDocuments => (
            &multiple_documents::RULE,
            "second document",
            "keep one config per file; remove the `---` and what follows, or split it into two files".into(),
        ),
        YamlErrorKind::Unsupported => (
            &unsupported_yaml::RULE,
            "not supported",
            "use plain scalars, mappings and sequences; keys must be strings".into(),
        ),
    };
    Diagnostic {
        code: rule.code,
        name: rule.name,
        severity: rule.severity,
        message: e.message,
        pointer: e.pointer,
        span: e.span,
        label: label.into(),
        help,
        related: e
            .related
            .map(|s| (s, "first written here".to_string()))
            .into_iter()
            .collect(),
        fix: None,
    }
}

/// The scanner reports a tab error one character after the tab; move it onto the tab.
fn point_at_tab(mut e: yaml::YamlError, src: &str) -> yaml::YamlError {
    if e.message.contains("tab") && e.span.start.col > 0 {
        let line = src
            .lines()
            .nth(e.span.start.line.saturating_sub(1) as usize)
            .unwrap_or_default();
        if line.chars().nth(e.span.start.col as usize - 1) == Some('\t') {
            e.span.start.col -= 1;
            e.span.end.col = e.span.start.col + 1;
        }
    }
    e
}

/// A help line for the scanner's messages whose usual cause is known.
fn syntax_help(message: &str) -> (&'static str, String) {
    if message.contains("mapping values are not allowed") {
        (
            "a `: ` inside an unquoted value",
            "quote the whole value when it contains `: `, e.g. message: \"Request blocked: potential prompt injection\"".into(),
        )
    } else if message.contains("tab") {
        (
            "tab character",
            "YAML indentation must use spaces; replace the tab with spaces".into(),
        )
    } else if message.contains("did not find expected") || message.contains("block") {
        (
            "unexpected here",
            "check the indentation: every key of a mapping starts in the same column, every list item too".into(),
        )
    } else if message.contains("end of stream") || message.contains("quote") {
        ("unexpected end", "a quote, bracket or brace is not closed".into())
    } else {
        (
            "here",
            "fix the YAML syntax at this position; a value with special characters (`: `, ` #`, `{`, `[`) needs quotes"
                .into(),
        )
    }
}

/// Read a file and lint it. An unreadable file is an I/O error for the caller (exit 2), not a
/// diagnostic.
pub fn lint_path(path: &std::path::Path) -> Result<FileReport, LoadError> {
    lint_path_with(path, &Options::default())
}

/// [`lint_path`] with `options`.
pub fn lint_path_with(path: &std::path::Path, options: &Options) -> Result<FileReport, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|e| LoadError::NotUtf8 {
        path: path.display().to_string(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    Ok(lint_source_with(&path.display().to_string(), text, options))
}

/// Why a config could not be read at all.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    #[diagnostic(code(policy::io))]
    Io {
        /// The file as the caller named it: the context the OS error lacks.
        path: String,
        /// Why the OS refused the read.
        source: std::io::Error,
    },
    /// The file is not UTF-8.
    #[error("{path} is not UTF-8 text (invalid byte at offset {offset})")]
    #[diagnostic(
        code(policy::encoding),
        help("YAML configs must be UTF-8; convert the file, e.g. with iconv")
    )]
    NotUtf8 {
        /// The file as the caller named it.
        path: String,
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The file was read but has errors.
    #[error("{path} has {errors} error(s)")]
    #[diagnostic(code(policy::invalid_config))]
    Invalid {
        /// The file as the caller named it.
        path: String,
        /// How many error-severity diagnostics the report holds (warnings do not count).
        errors: usize,
        /// The full report, for rendering.
        report: Box<FileReport>,
    },
}

/// Read, lint and type a config: the one "load or diagnose" entry point of every stage after
/// lint (diff, engine, replay, demo, the gateway's reload). Warnings do not fail it; errors
/// do, as [`LoadError::Invalid`] with the report attached for rendering. The report returned
/// with the config keeps the source, warnings and document, but not a second copy of the config.
pub fn load_config(path: &std::path::Path) -> Result<(Config, FileReport), LoadError> {
    let report = lint_path(path)?;
    config_of(report)
}

/// Lint text and type it, as [`load_config`] does for a file.
pub fn load_config_str(path: &str, source: &str) -> Result<(Config, FileReport), LoadError> {
    config_of(lint_source(path, source))
}

fn config_of(mut report: FileReport) -> Result<(Config, FileReport), LoadError> {
    match report.config.take() {
        Some(c) => Ok((c, report)),
        None => {
            if report.count(Severity::Error) == 0 {
                // Only suppressed errors are left, and they are what keeps the file from being
                // a config (a schema error cannot be waved through): show them.
                report.diagnostics.append(&mut report.suppressed);
                sort(&mut report.diagnostics);
            }
            Err(LoadError::Invalid {
                path: report.path.clone(),
                errors: report.count(Severity::Error),
                report: Box::new(report),
            })
        }
    }
}
