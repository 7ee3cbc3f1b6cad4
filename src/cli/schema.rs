//! `policy schema`: print (or write) the JSON Schema generated from the config model.

use super::common::{print, CliError, Outcome};

/// Arguments of `policy schema`.
#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// Write the schema to this file instead of standard output.
    #[arg(long, value_name = "PATH")]
    pub out: Option<std::path::PathBuf>,
}

/// Run `policy schema`.
pub fn run(args: SchemaArgs) -> Result<Outcome, CliError> {
    let text = policy_config::schema::schema_text();
    match args.out {
        Some(path) => std::fs::write(&path, text).map_err(|source| CliError::Io {
            path: path.display().to_string(),
            source,
        })?,
        None => print(&text)?,
    }
    Ok(Outcome::Clean)
}
