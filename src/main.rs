//! The `policy` binary: parse the command line, run it, map the outcome to an exit code.
//!
//! Exit codes (docs/reference/exit-codes.md): 0 clean, 1 findings, 2 usage, I/O or internal error.

mod cli;

use clap::Parser;
use cli::{Cli, Outcome};
use std::process::ExitCode;

/// mimalloc: a config is ~100k small allocations (nodes, keys, scalars); glibc malloc spends a
/// quarter of a 1 MB lint in malloc/free, mimalloc about a tenth of that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match cli::run(cli) {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        // The reader went away (`policy lint | head`): what it wanted was written.
        Err(cli::CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            ExitCode::from(2)
        }
    }
}
