//! `policy lint`: expand the inputs (files, globs, `-`), lint each, render, decide the outcome.

use super::common::{print, CliError, Outcome};
use policy_lint::baseline::Baseline;
use policy_lint::render::{self, human};
use policy_lint::{self as lint_mod, fix, FileReport, LoadError, Options, Severity};
use std::io::Read;
use std::path::PathBuf;

/// Arguments of `policy lint`.
#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// A config file to lint (repeatable).
    #[arg(long = "file", short = 'f', value_name = "FILE")]
    pub files: Vec<String>,
    /// Config files, globs (`configs/**/*.yaml`), or `-` for standard input.
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Exit 1 on warnings too.
    #[arg(long)]
    pub deny_warnings: bool,
    /// Ignore `# policy: ignore[...]` comments: show every finding.
    #[arg(long)]
    pub no_suppress: bool,
    /// Report only findings not recorded in this baseline file (stale entries are listed).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Record today's findings in this baseline file, then exit 0.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["baseline", "fix", "diff"])]
    pub write_baseline: Option<PathBuf>,
    /// Apply the safe fixes in place (only the offending spans change), then lint again.
    #[arg(long)]
    pub fix: bool,
    /// Print the fixes as a unified diff instead of writing them; exit 1 if there are any.
    #[arg(long, conflicts_with = "fix")]
    pub diff: bool,
    /// With `--fix` or `--diff`, apply unsafe fixes too (they change what the gateway does).
    #[arg(long)]
    pub unsafe_fixes: bool,
}

/// Output formats of `policy lint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// rustc-style reports with source snippets (colour only on a terminal).
    Human,
    /// `path:line:col: CODE message`, one finding a line.
    Concise,
    /// Plain text with every position in words, for screen readers.
    Narrated,
    /// One JSON object.
    Json,
    /// GitHub Actions annotations.
    Github,
    /// SARIF 2.1.0 for code scanning.
    Sarif,
}

/// One input to lint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Input {
    /// Standard input.
    Stdin,
    /// A file path, as given or matched by a glob.
    File(PathBuf),
}

/// Whether `p` is a policy test file (`*.policy-test.yaml`), which a folder or the CI's
/// default patterns must not lint as a config.
pub fn is_test_file(p: &std::path::Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".policy-test.yaml") || n.ends_with(".policy-test.yml"))
}

/// The files `pattern` matches, sorted; a pattern that matches none is a usage error.
pub fn glob_files(pattern: &str) -> Result<Vec<PathBuf>, CliError> {
    let paths = glob::glob(pattern).map_err(|e| CliError::Usage(format!("invalid glob `{pattern}`: {e}")))?;
    let mut matched: Vec<PathBuf> = paths.filter_map(Result::ok).filter(|p| p.is_file()).collect();
    if matched.is_empty() {
        return Err(CliError::Usage(format!("`{pattern}` matches no file")));
    }
    matched.sort();
    Ok(matched)
}

/// Every `NAME.yaml` / `NAME.yml` file below `dir` whose NAME matches the glob `name`, sorted.
/// Hidden folders (`.git`, `.venv`) are skipped and symlinked folders are not followed, so a
/// link back up the tree cannot list one file many times; a symlinked file is listed.
pub fn yaml_below(dir: &std::path::Path, name: &str) -> Vec<PathBuf> {
    let patterns: Vec<glob::Pattern> = ["yaml", "yml"]
        .iter()
        .filter_map(|ext| glob::Pattern::new(&format!("{name}.{ext}")).ok())
        .collect();
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(folder) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let (path, file_name) = (entry.path(), entry.file_name());
            let file_name = file_name.to_string_lossy();
            match entry.file_type() {
                Ok(t) if t.is_dir() && !file_name.starts_with('.') => todo.push(path),
                Ok(t) if t.is_dir() => {}
                Ok(_) if path.is_file() && patterns.iter().any(|p| p.matches(&file_name)) => found.push(path),
                _ => {}
            }
        }
    }
    found.sort();
    found
}

/// Expand paths and globs, keeping the order given and dropping repeats.
pub fn expand(args: &[String]) -> Result<Vec<Input>, CliError> {
    let mut inputs = Vec::new();
    for arg in args {
        if arg == "-" {
            inputs.push(Input::Stdin);
        } else if arg.contains(['*', '?', '[']) && !std::path::Path::new(arg).is_file() {
            // A file that exists is that file, even when its name has glob characters in it.
            inputs.extend(glob_files(arg)?.into_iter().map(Input::File));
        } else if std::path::Path::new(arg).is_dir() {
            // A folder means every YAML file below it, as ruff does for Python files.
            let found: Vec<PathBuf> = yaml_below(std::path::Path::new(arg), "*")
                .into_iter()
                .filter(|p| !is_test_file(p))
                .collect();
            if found.is_empty() {
                return Err(CliError::Usage(format!(
                    "`{arg}` is a folder with no .yaml or .yml file"
                )));
            }
            inputs.extend(found.into_iter().map(Input::File));
        } else {
            inputs.push(Input::File(PathBuf::from(arg)));
        }
    }
    // One file named twice (`x.yaml ./x.yaml`, or through a glob and by name) is linted, and
    // fixed, once.
    let mut seen = std::collections::HashSet::new();
    inputs.retain(|i| {
        seen.insert(match i {
            Input::File(p) => Input::File(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())),
            Input::Stdin => Input::Stdin,
        })
    });
    Ok(inputs)
}

/// `reports` in `format`.
pub fn render(format: Format, reports: &[FileReport]) -> String {
    match format {
        Format::Human => human::render(reports, human::Style::detect()),
        Format::Narrated => human::render(reports, human::Style::Narratable),
        Format::Concise => render::concise::render(reports),
        Format::Json => render::json::render(reports),
        Format::Github => render::github::render(reports),
        Format::Sarif => render::sarif::render(reports),
    }
}

/// Lint every input: standard input first, files in parallel when there are several, reports
/// in the order given. Unreadable files are returned apart (reported after the rest).
fn lint_all(inputs: Vec<Input>, options: &Options) -> Result<(Vec<FileReport>, Vec<LoadError>), CliError> {
    let mut stdin_text = None;
    if inputs.contains(&Input::Stdin) {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|source| CliError::Io {
                path: "<stdin>".into(),
                source,
            })?;
        stdin_text = Some(text);
    }
    let one = |input: &Input| -> Result<FileReport, LoadError> {
        match input {
            Input::Stdin => Ok(lint_mod::lint_source_with(
                "<stdin>",
                stdin_text.clone().unwrap_or_default(),
                options,
            )),
            Input::File(path) => lint_mod::lint_path_with(path, options),
        }
    };
    // One file needs no count of cores (reading it costs a few system calls).
    let threads = match inputs.len() {
        0 | 1 => 1,
        n => std::thread::available_parallelism().map_or(1, |c| c.get()).min(n),
    };
    let results: Vec<Result<FileReport, LoadError>> = if threads <= 1 {
        inputs.iter().map(one).collect()
    } else {
        let chunk = inputs.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = inputs
                .chunks(chunk)
                .map(|part| scope.spawn(move || part.iter().map(one).collect::<Vec<_>>()))
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
        })
    };
    let mut reports = Vec::with_capacity(results.len());
    let mut errors = Vec::new();
    for r in results {
        match r {
            Ok(report) => reports.push(report),
            Err(e) => errors.push(e),
        }
    }
    Ok((reports, errors))
}

/// Run `policy lint`.
pub fn run(args: LintArgs) -> Result<Outcome, CliError> {
    let mut all: Vec<String> = args.files.clone();
    all.extend(args.paths.iter().cloned());
    if all.is_empty() {
        if std::path::Path::new("policy-config.yaml").is_file() {
            all.push("policy-config.yaml".into());
        } else {
            return Err(CliError::Usage(
                "no config to lint: pass `--file policy-config.yaml`, paths, globs, or `-` for stdin".into(),
            ));
        }
    }
    if args.unsafe_fixes && !(args.fix || args.diff) {
        return Err(CliError::Usage("`--unsafe-fixes` goes with `--fix` or `--diff`".into()));
    }
    let inputs = expand(&all)?;
    if args.fix && inputs.contains(&Input::Stdin) {
        return Err(CliError::Usage(
            "`--fix` writes files and standard input is not one; use `--diff` to see the fixes".into(),
        ));
    }
    let baseline = match &args.baseline {
        Some(path) => Some(Baseline::load(path).map_err(|e| CliError::Usage(e.to_string()))?),
        None => None,
    };
    let options = Options {
        suppress: !args.no_suppress,
    };
    // Detached: if every file fails to read, the process may end before it does.
    std::thread::spawn(lint_mod::warm_up);
    let (mut reports, io_errors) = lint_all(inputs, &options)?;
    let mut diffs = String::new();
    if args.fix || args.diff {
        for report in &mut reports {
            let fixed = fix::fix_source(&report.path, &report.source, &options, args.unsafe_fixes);
            if fixed.applied == 0 {
                continue;
            }
            if args.diff {
                diffs.push_str(&unified_diff(&report.path, &report.source, &fixed.source));
            } else {
                // Lint reads past a byte-order mark; the fixed file keeps the one it had.
                let bom = std::fs::read(&report.path).is_ok_and(|b| b.starts_with("\u{feff}".as_bytes()));
                let text = if bom {
                    format!("\u{feff}{}", fixed.source)
                } else {
                    fixed.source.clone()
                };
                std::fs::write(&report.path, text).map_err(|source| CliError::Io {
                    path: report.path.clone(),
                    source,
                })?;
            }
            let mut after = fixed.report;
            after.fixed = fixed.applied;
            if args.fix {
                *report = after;
            } else {
                report.fixed = fixed.applied;
            }
        }
    }
    if let Some(path) = &args.write_baseline {
        let old = if path.is_file() {
            Baseline::load(path).map_err(|e| CliError::Usage(e.to_string()))?
        } else {
            Baseline::at(path)
        };
        let written = old.record(&reports);
        std::fs::write(path, written.to_text()).map_err(|source| CliError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let entries: usize = reports
            .iter()
            .filter_map(|r| written.files.get(&written.key(&r.path)))
            .map(Vec::len)
            .sum();
        eprintln!(
            "wrote {}: {} for {} (every later `--baseline` run reports only what is new)",
            path.display(),
            render::plural(entries, "finding"),
            render::plural(reports.len(), "file"),
        );
        return io_errors
            .into_iter()
            .next_back()
            .map_or(Ok(Outcome::Clean), |e| Err(CliError::Load(e)));
    }
    if let Some(b) = &baseline {
        for r in &mut reports {
            b.apply(r);
        }
    }
    if args.diff {
        print(&diffs)?;
        let would: usize = reports.iter().map(|r| r.fixed).sum();
        let files = reports.iter().filter(|r| r.fixed > 0).count();
        eprintln!(
            "{} would be applied to {}; nothing was written",
            render::plural(would, "fix"),
            render::plural(files, "file")
        );
        if let Some(e) = io_errors.into_iter().next_back() {
            return Err(CliError::Load(e));
        }
        let errors: usize = reports.iter().map(|r| r.count(Severity::Error)).sum();
        let warnings: usize = reports.iter().map(|r| r.count(Severity::Warning)).sum();
        let findings = would > 0 || errors > 0 || (args.deny_warnings && warnings > 0);
        return Ok(if findings { Outcome::Findings } else { Outcome::Clean });
    }
    let text = render(args.format, &reports);
    if !reports.is_empty() {
        print(&text)?;
    }
    if let Some(e) = io_errors.into_iter().next_back() {
        // Report every readable file first, then fail with the I/O error (exit 2).
        return Err(CliError::Load(e));
    }
    let errors: usize = reports.iter().map(|r| r.count(Severity::Error)).sum();
    let warnings: usize = reports.iter().map(|r| r.count(Severity::Warning)).sum();
    // The process ends right after this; freeing a 1 MB config's trees node by node costs more
    // (~15 ms) than the rest of the output, and the OS reclaims it at exit anyway.
    std::mem::forget(reports);
    Ok(if errors > 0 || (args.deny_warnings && warnings > 0) {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

/// A unified diff of `old` -> `new` for `path`, empty when they are equal.
pub fn unified_diff(path: &str, old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}
