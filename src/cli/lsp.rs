//! `policy lsp`: run the language server (`policy::lsp`) over stdin/stdout for an editor.

use super::common::{CliError, Outcome};

/// Arguments of `policy lsp`.
#[derive(Debug, clap::Args)]
pub struct LspArgs {
    /// Accepted for editors that pass it; stdio is the only transport.
    #[arg(long)]
    pub stdio: bool,
}

/// Run `policy lsp` until the editor says `exit`.
pub fn run(_args: LspArgs) -> Result<Outcome, CliError> {
    policy::lsp::run_stdio().map_err(|e| CliError::Usage(e.to_string()))?;
    Ok(Outcome::Clean)
}
