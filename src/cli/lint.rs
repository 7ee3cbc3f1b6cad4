//! `policy lint`: expand the inputs (files, globs, `-`), lint each, render, decide the outcome.

use super::common::{print, CliError, Outcome};
use policy::lint::render::{self, human};
use policy::lint::{self as lint_mod, FileReport, Severity};
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
}

/// Output formats of `policy lint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// rustc-style reports with source snippets.
    Human,
    /// One JSON object (SPEC §2).
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

/// Expand paths and globs, keeping the order given and dropping repeats.
pub fn expand(args: &[String]) -> Result<Vec<Input>, CliError> {
    let mut inputs = Vec::new();
    for arg in args {
        if arg == "-" {
            inputs.push(Input::Stdin);
        } else if arg.contains(['*', '?', '[']) {
            let paths = glob::glob(arg).map_err(|e| CliError::Usage(format!("invalid glob `{arg}`: {e}")))?;
            let mut matched: Vec<PathBuf> = paths.filter_map(Result::ok).filter(|p| p.is_file()).collect();
            if matched.is_empty() {
                return Err(CliError::Usage(format!("`{arg}` matches no file")));
            }
            matched.sort();
            inputs.extend(matched.into_iter().map(Input::File));
        } else if std::path::Path::new(arg).is_dir() {
            // A folder means every YAML file below it, as ruff does for Python files.
            let mut found: Vec<PathBuf> = ["yaml", "yml"]
                .iter()
                .flat_map(|ext| {
                    glob::glob(&format!("{}/**/*.{ext}", glob::Pattern::escape(arg)))
                        .into_iter()
                        .flatten()
                })
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            if found.is_empty() {
                return Err(CliError::Usage(format!(
                    "`{arg}` is a folder with no .yaml or .yml file"
                )));
            }
            found.sort();
            inputs.extend(found.into_iter().map(Input::File));
        } else {
            inputs.push(Input::File(PathBuf::from(arg)));
        }
    }
    let mut seen = std::collections::HashSet::new();
    inputs.retain(|i| seen.insert(i.clone()));
    Ok(inputs)
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
    let inputs = expand(&all)?;
    let mut reports: Vec<FileReport> = Vec::with_capacity(inputs.len());
    let mut io_errors = Vec::new();
    for input in inputs {
        match input {
            Input::Stdin => {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|source| CliError::Io {
                        path: "<stdin>".into(),
                        source,
                    })?;
                reports.push(lint_mod::lint_source("<stdin>", text));
            }
            Input::File(path) => match lint_mod::lint_path(&path) {
                Ok(r) => reports.push(r),
                Err(e) => io_errors.push(e),
            },
        }
    }
    let text = match args.format {
        Format::Human => human::render(&reports, human::Style::detect()),
        Format::Json => render::json::render(&reports),
        Format::Github => render::github::render(&reports),
        Format::Sarif => render::sarif::render(&reports),
    };
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
