//! `policy diff OLD NEW` (or `--base-ref REV NEW`): lint both, classify, render, decide.

use super::common::{load_all, print, CliError, Loaded, Outcome};
use policy_diff::{self as diff, render};
use policy_lint as lint;
use policy_lint::render::human as lint_human;
use std::path::{Path, PathBuf};

/// Arguments of `policy diff`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The old config, then the new one. With `--base-ref`, only the new one.
    #[arg(value_name = "FILE", num_args = 1..=2, required = true)]
    pub files: Vec<PathBuf>,
    /// Take the old config from this git revision of the new file's path (e.g. `origin/main`).
    #[arg(long, value_name = "REV")]
    pub base_ref: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Exit 1 when the plan has a change of this kind.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub fail_on: Option<FailOn>,
}

/// Output formats of `policy diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A terraform-plan-like listing.
    Human,
    /// One JSON object.
    Json,
    /// A Markdown table for pull requests and step summaries.
    Markdown,
    /// GitHub Actions annotations.
    Github,
}

/// What makes `policy diff` exit 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// A change that needs a restart.
    Restart,
    /// A change that weakens enforcement.
    Weakening,
    /// Any change at all.
    Any,
}

/// Run `policy diff`.
pub fn run(args: DiffArgs) -> Result<Outcome, CliError> {
    let (old_name, old, new_path) = match (&args.base_ref, args.files.as_slice()) {
        (Some(rev), [new]) => {
            let text = git_show(rev, new)?;
            let name = format!("{rev}:{}", new.display());
            let old = lint::load_config_str(&name, &text);
            (name, old, new.clone())
        }
        (Some(_), _) => return Err(CliError::Usage("with --base-ref, give only the new config".into())),
        (None, [old, new]) => (old.display().to_string(), lint::load_config(old), new.clone()),
        (None, _) => {
            return Err(CliError::Usage(
                "give the old and the new config: `policy diff OLD NEW`".into(),
            ))
        }
    };
    let ((old, _), (new, new_report)) = match load_all([old, lint::load_config(&new_path)])? {
        Loaded::Valid(mut both) => {
            let new = both.pop().expect("two configs");
            (both.pop().expect("two configs"), new)
        }
        Loaded::Invalid(invalid) => {
            // Both inputs must be valid configs before a plan means anything: show why not.
            let text = match args.format {
                Format::Json => lint::render::json::render(&invalid),
                Format::Github => lint::render::github::render(&invalid),
                Format::Human | Format::Markdown => lint_human::render(&invalid, lint_human::Style::detect()),
            };
            print(&text)?;
            return Ok(Outcome::Findings);
        }
    };
    let plan = diff::classify(&old, &new);
    let new_name = new_path.display().to_string();
    let inputs = render::Inputs {
        old_name: &old_name,
        new_name: &new_name,
        new_doc: new_report.document.as_ref(),
    };
    let text = match args.format {
        Format::Human => render::human(&plan, &inputs, colour()),
        Format::Json => format!("{}\n", render::to_json(&plan)),
        Format::Markdown => render::markdown(&plan, &inputs),
        Format::Github => render::github(&plan, &inputs),
    };
    print(&text)?;
    let hit = match args.fail_on {
        None => false,
        Some(FailOn::Restart) => !plan.restart_required().is_empty(),
        Some(FailOn::Weakening) => plan.weakening().next().is_some(),
        Some(FailOn::Any) => !plan.is_empty(),
    };
    Ok(if hit { Outcome::Findings } else { Outcome::Clean })
}

fn colour() -> bool {
    lint_human::Style::detect() == lint_human::Style::Graphical
}

/// The content of `path` at revision `rev`, via `git show REV:./NAME` run in the file's folder.
fn git_show(rev: &str, path: &Path) -> Result<String, CliError> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| CliError::Usage(format!("{} is not a file", path.display())))?;
    super::common::git(dir, &["show", &format!("{rev}:./{}", name.to_string_lossy())]).map_err(|e| match e {
        CliError::Git { stderr, .. } => CliError::Git {
            context: format!("cannot read {} at {rev}", path.display()),
            stderr,
        },
        other => other,
    })
}
