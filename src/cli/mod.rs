//! The command line: argument definitions (clap) and one file per subcommand; what they all
//! share (outcomes, errors, output, loading configs) is `common`'s.
//!
//! Each subcommand's `run` returns an [`Outcome`] or a [`CliError`]; only `main.rs` turns them
//! into an exit code (0 clean, 1 findings, 2 usage/I-O/internal), as docs/reference/exit-codes.md
//! documents.

pub mod admin_target;
pub mod args;
pub mod ci;
pub mod common;
pub mod demo;
pub mod diff;
pub mod docs;
pub mod explain;
pub mod fleet;
pub mod gateway;
pub mod lint;
pub mod live;
pub mod lsp;
pub mod replay;
pub mod schema;
pub mod shadow;
pub mod status_view;
pub mod test;

use clap::{Parser, Subcommand};
pub use common::{CliError, Outcome};

/// Lint, classify and replay API / LLM gateway policy configs.
#[derive(Debug, Parser)]
#[command(name = "policy", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do; each subcommand has its own file under `cli/`.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of `policy`; their doc comments are their `--help`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate configs against the schema and the semantic rules.
    Lint(lint::LintArgs),
    /// Classify a config change: what hot-reloads, what needs a restart, what weakens enforcement.
    Diff(diff::DiffArgs),
    /// Replay recorded traffic against two configs: which verdicts change before rollout.
    Replay(Box<replay::ReplayArgs>),
    /// Run policy tests: expected verdicts per request, rule coverage, JUnit.
    Test(test::TestArgs),
    /// A language server over stdio for editors: diagnostics, hover, completion, fixes.
    Lsp(lsp::LspArgs),
    /// Print the JSON Schema generated from the config model.
    Schema(schema::SchemaArgs),
    /// Print the documentation of a diagnostic code (e.g. `policy explain P304`).
    Explain(explain::ExplainArgs),
    /// What the GitHub Action runs: lint with annotations, classify changed configs, write
    /// `$GITHUB_OUTPUT` and `$GITHUB_STEP_SUMMARY`.
    Ci(ci::CiArgs),
    /// Operate one running gateway over its admin plane: status, reload, revert, restart.
    Gateway(gateway::GatewayArgs),
    /// Operate a fleet: the state of a group of gateways.
    Fleet(fleet::FleetArgs),
    /// Roll a config out over a group, batch by batch, gated on health, errors and the verdict
    /// mix, rolled back on a failed gate.
    Rollout(Box<fleet::RolloutArgs>),
    /// The whole story on the bundled fixtures: lint, policy tests, diff, offline replay, live replay.
    Demo(demo::DemoArgs),
    /// Write the reference pages generated from the code under `docs/reference/` (`--check`:
    /// only say which are stale). For contributors; hidden from `--help`.
    #[command(hide = true)]
    Docs(docs::DocsArgs),
}

/// Run the parsed command line.
pub fn run(cli: Cli) -> Result<Outcome, CliError> {
    match cli.command {
        Command::Lint(args) => lint::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Replay(args) => replay::run(*args),
        Command::Test(args) => test::run(args),
        Command::Lsp(args) => lsp::run(args),
        Command::Schema(args) => schema::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Ci(args) => ci::run(args),
        Command::Gateway(args) => gateway::run(args),
        Command::Fleet(args) => fleet::run(args),
        Command::Rollout(args) => fleet::rollout(*args),
        Command::Docs(args) => docs::run(args),
    }
}
