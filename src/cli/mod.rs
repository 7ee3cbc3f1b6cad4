//! The command line: argument definitions (clap) and one file per subcommand.
//!
//! Each subcommand's `run` returns an [`Outcome`] or a [`CliError`]; only `main.rs` turns them
//! into an exit code (0 clean, 1 findings, 2 usage/I-O/internal), as SPEC §2 fixes.

pub mod ci;
pub mod demo;
pub mod diff;
pub mod explain;
pub mod lint;
pub mod live;
pub mod replay;
pub mod schema;

use clap::{Parser, Subcommand};
use std::io::Write;

/// Lint, classify and replay API / LLM gateway policy configs.
#[derive(Debug, Parser)]
#[command(name = "policy", version, about, propagate_version = true)]
pub struct Cli {
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate configs against the schema and the semantic rules.
    Lint(lint::LintArgs),
    /// Classify a config change: what hot-reloads, what needs a restart, what weakens enforcement.
    Diff(diff::DiffArgs),
    /// Replay recorded traffic against two configs: which verdicts change before rollout.
    Replay(Box<replay::ReplayArgs>),
    /// Print the JSON Schema generated from the config model.
    Schema(schema::SchemaArgs),
    /// Print the documentation of a diagnostic code (e.g. `policy explain P304`).
    Explain(explain::ExplainArgs),
    /// What the GitHub Action runs: lint with annotations, classify changed configs, write
    /// `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY`.
    Ci(ci::CiArgs),
    /// The whole story on the bundled fixtures: lint, diff, offline replay, live replay.
    Demo(demo::DemoArgs),
}

/// How a command ended, when it ran to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to report: exit 0.
    Clean,
    /// Findings (lint errors, a `--fail-on` hit): exit 1.
    Findings,
}

/// A command that could not do its job: exit 2.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CliError {
    /// Bad arguments.
    #[error("{0}")]
    #[diagnostic(code(policy::usage))]
    Usage(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    #[diagnostic(code(policy::io))]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A config could not be loaded at all.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Load(#[from] crate::lint::LoadError),
    /// Writing to stdout failed (not a broken pipe: that ends quietly).
    #[error("cannot write output: {0}")]
    Output(std::io::Error),
}

/// Run the parsed command line.
pub fn run(cli: Cli) -> Result<Outcome, CliError> {
    match cli.command {
        Command::Lint(args) => lint::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Replay(args) => replay::run(*args),
        Command::Schema(args) => schema::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Ci(args) => ci::run(args),
    }
}

/// Write `text` to stdout. A closed pipe (`policy lint | head`) is not an error.
pub fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(CliError::Output(e)),
    }
}

/// Run `git ARGS` in `dir`: its stdout, or its stderr as the error (an I/O error when git
/// cannot run at all). Shared by `diff --base-ref` and `ci`.
pub(crate) fn git(dir: &std::path::Path, args: &[&str]) -> Result<String, CliError> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|source| CliError::Io {
            path: "git".into(),
            source,
        })?;
    if !out.status.success() {
        return Err(CliError::Usage(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    String::from_utf8(out.stdout).map_err(|_| CliError::Usage(format!("git {}: output is not UTF-8", args.join(" "))))
}
