//! What every subcommand shares: how a command ends ([`Outcome`], [`CliError`]), writing to
//! stdout, loading the configs a command needs all valid, and running git.
//!
//! Subcommands import from here, never from `cli/mod.rs`, which only defines the command line
//! and dispatches; only `main.rs` turns an outcome or an error into an exit code.

use std::io::Write;

/// How a command ended, when it ran to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to report: exit 0.
    Clean,
    /// Findings (lint errors, a `--fail-on` hit) or a refusal (a gateway rejected a reload,
    /// nothing to revert): exit 1.
    Findings,
}

/// A command that could not do its job: exit 2 (a broken pipe excepted, see
/// [`CliError::BrokenPipe`]).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CliError {
    /// Bad arguments or an argument combination clap cannot express.
    #[error("{0}")]
    #[diagnostic(code(policy::usage))]
    Usage(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    #[diagnostic(code(policy::io))]
    Io {
        /// The file, as given on the command line.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A config could not be loaded at all.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Load(#[from] policy_lint::LoadError),
    /// A config linted clean but the engine could not compile it.
    #[error(transparent)]
    #[diagnostic(code(policy::compile))]
    Compile(#[from] policy_engine::CompileError),
    /// The live replay could not run (as opposed to: ran and found problems).
    #[error(transparent)]
    #[diagnostic(code(policy::live))]
    Live(#[from] policy_replay::live::LiveError),
    /// A running gateway's admin plane gave no usable answer: unreachable, the token refused
    /// (401), or not a policy-gateway.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Admin(#[from] policy_replay::admin_client::ClientError),
    /// A gateway process could not be found or started.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Process(#[from] policy_replay::process::ProcessError),
    /// Malformed traffic lines under `--strict`.
    #[error("{path}: {count} malformed line(s) and --strict")]
    #[diagnostic(code(policy::traffic))]
    Traffic {
        /// The traffic file.
        path: String,
        /// How many lines could not be read (each listed on stderr).
        count: usize,
    },
    /// A traffic file that cannot be read at all (a HAR file that does not parse).
    #[error("{path}: {reason}")]
    #[diagnostic(code(policy::traffic))]
    TrafficFile {
        /// The traffic file.
        path: String,
        /// Why nothing in it could be read.
        reason: String,
    },
    /// A traffic file of which no request could be read: a gate on it would pass on nothing.
    #[error("{path}: no request could be read ({why})")]
    #[diagnostic(code(policy::traffic), help("a traffic file is JSON Lines, one request a line with `ts`, `method`, `path` and `body`, or a HAR 1.2 file"))]
    NoRequests {
        /// The traffic file.
        path: String,
        /// Why: empty, or the first reasons lines were skipped.
        why: String,
    },
    /// `git` ran and failed.
    #[error("{context}: {stderr}")]
    #[diagnostic(code(policy::git))]
    Git {
        /// What was being read (`git show main:./a.yaml`).
        context: String,
        /// What git said.
        stderr: String,
    },
    /// A rollout could not start: a gateway is unreachable or refuses the token (nothing was
    /// touched).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Rollout(#[from] policy::fleet::rollout::RolloutError),
    /// Writing to stdout failed (not a broken pipe: that is [`CliError::BrokenPipe`]).
    #[error("cannot write output: {0}")]
    Output(std::io::Error),
    /// stdout was closed by its reader (`policy lint | head`): not a failure; `main.rs` ends
    /// quietly with exit 0.
    #[error("stdout closed")]
    BrokenPipe,
}

/// Configs loaded for a command that needs all of them valid (diff, replay).
pub enum Loaded {
    /// Every config linted without errors, in the order given.
    Valid(Vec<(policy_config::Config, policy_lint::FileReport)>),
    /// The reports of the configs with errors, for the command to print.
    Invalid(Vec<policy_lint::FileReport>),
}

/// Sort the results of `policy_lint::load_config` into [`Loaded`]. A config that could not be
/// read at all (I/O, encoding) ends the command with that error.
pub fn load_all(
    results: impl IntoIterator<Item = Result<(policy_config::Config, policy_lint::FileReport), policy_lint::LoadError>>,
) -> Result<Loaded, CliError> {
    let (mut valid, mut invalid) = (Vec::new(), Vec::new());
    for r in results {
        match r {
            Ok(loaded) => valid.push(loaded),
            Err(policy_lint::LoadError::Invalid { report, .. }) => invalid.push(*report),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(if invalid.is_empty() {
        Loaded::Valid(valid)
    } else {
        Loaded::Invalid(invalid)
    })
}

/// Read a traffic file (JSON Lines; HAR when it is named `*.har`): what could be read, and the
/// lines or entries that could not, each already reported on stderr.
pub fn read_traffic(
    path: &std::path::Path,
) -> Result<
    (
        Vec<policy_replay::traffic::Recorded>,
        Vec<policy_replay::traffic::TrafficError>,
    ),
    CliError,
> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| CliError::Io {
        path: name.clone(),
        source,
    })?;
    let har = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("har"));
    let (requests, skipped) = policy_replay::traffic::read(&bytes, har).map_err(|reason| CliError::TrafficFile {
        path: name.clone(),
        reason: reason.to_string(),
    })?;
    let unit = if har { "entry " } else { "" };
    for e in &skipped {
        eprintln!("{name}:{unit}{}: skipped: {}", e.line, e.error);
    }
    // Every reader of traffic is a gate or a recorder: with nothing read there is no evidence,
    // and "no verdict changed" would pass on nothing.
    if requests.is_empty() {
        let reasons = skipped
            .iter()
            .take(3)
            .map(|e| format!("{unit}{}: {}", e.line, e.error))
            .collect::<Vec<_>>();
        return Err(CliError::NoRequests {
            path: name,
            why: if reasons.is_empty() {
                "the file holds no request".into()
            } else {
                format!("{} line(s) skipped; first: {}", skipped.len(), reasons.join("; "))
            },
        });
    }
    Ok((requests, skipped))
}

/// Write `text` to stdout. A closed pipe (`policy lint | head`) comes back as
/// [`CliError::BrokenPipe`], which `main.rs` ends quietly.
pub fn print(text: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(CliError::BrokenPipe),
        Err(e) => Err(CliError::Output(e)),
    }
}

/// Run `git ARGS` in `dir`: its stdout, or [`CliError::Git`] with its stderr (an I/O error
/// when git cannot run at all). Shared by `diff --base-ref` and `ci`.
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
        return Err(CliError::Git {
            context: format!("git {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    String::from_utf8(out.stdout).map_err(|_| CliError::Git {
        context: format!("git {}", args.join(" ")),
        stderr: "its output is not UTF-8".into(),
    })
}

/// Print the lint reports of configs that were refused (`json`: lint's JSON object, else its
/// human rendering), as every command does before it gives up on them: exit 1.
pub fn print_refused(json: bool, invalid: &[policy_lint::FileReport]) -> Result<Outcome, CliError> {
    use policy_lint::render;
    let text = if json {
        render::json::render(invalid)
    } else {
        render::human::render(invalid, render::human::Style::detect())
    };
    print(&text)?;
    Ok(Outcome::Findings)
}
