//! `policy ci`: what the GitHub Action runs, usable in any CI. Lints the configs, writes the
//! annotations to stdout, and for every config changed since `--base-ref`, classifies the
//! change; counts and the reload class go to `$GITHUB_OUTPUT`, the full diagnostic list (the
//! annotations are capped by GitHub at 10 per type per step) and one diff table per changed
//! file to `$GITHUB_STEP_SUMMARY`.
//!
//! It reuses `lint`, `diff` and their renderers; it only adds the file selection, the git
//! plumbing and the outputs.

use super::common::{print, CliError, Outcome};
use super::lint::{expand, Input};
use policy::policy_test::render as test_render;
use policy_diff::{classify, render as diff_render};
use policy_lint::baseline::Baseline;
use policy_lint::{self as lint, render, FileReport, Severity};
use std::io::Write;
use std::path::PathBuf;

/// Configs a repository usually keeps policies in; narrow or widen them with PATHS.
pub const DEFAULT_FILES: &[&str] = &[
    "**/policy-config*.yaml",
    "**/policy-config*.yml",
    "**/*.policy.yaml",
    "**/*.policy.yml",
];

/// Arguments of `policy ci`.
#[derive(Debug, clap::Args)]
pub struct CiArgs {
    /// Config files and globs (default: policy-config*.y{a,}ml and *.policy.y{a,}ml anywhere).
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,
    /// Classify every config changed since this revision (e.g. the pull request's base).
    #[arg(long, value_name = "REV")]
    pub base_ref: Option<String>,
    /// When to exit 1: lint errors, lint errors or a restart-required change, or never.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
    /// Format of the lint output on stdout.
    #[arg(long, value_enum, default_value_t = super::lint::Format::Github)]
    pub format: super::lint::Format,
    /// Also write SARIF 2.1.0 here (for github/codeql-action/upload-sarif).
    #[arg(long, value_name = "FILE")]
    pub sarif_file: Option<PathBuf>,
    /// Report only lint findings not in this baseline (`policy lint --write-baseline`).
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
}

/// `--fail-on` of `policy ci`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// Lint errors fail.
    Error,
    /// Lint errors, and changes that need a gateway restart, fail.
    Restart,
    /// Never fail (report only).
    Never,
}

fn select(paths: &[String]) -> Result<Vec<PathBuf>, CliError> {
    let defaults: Vec<String> = DEFAULT_FILES.iter().map(|s| s.to_string()).collect();
    let wanted = if paths.is_empty() { &defaults } else { paths };
    let mut files = Vec::new();
    for p in wanted {
        // A pattern that matches nothing is not an error here: a repository may use only some.
        if p.contains(['*', '?', '[']) && glob::glob(p).map_or(true, |mut g| g.next().is_none()) {
            continue;
        }
        for input in expand(std::slice::from_ref(p))? {
            if let Input::File(f) = input {
                let hidden = f.components().any(|c| {
                    let s = c.as_os_str().to_string_lossy();
                    s == "target" || s == "node_modules" || (s.starts_with('.') && s != "." && s != "..")
                });
                if !hidden && !super::lint::is_test_file(&f) && !files.contains(&f) {
                    files.push(f);
                }
            }
        }
    }
    Ok(files)
}

/// Run the `*.policy-test.yaml` files in the folders of the linted configs; add their results
/// to the summary and their failures as annotations. Returns how many cases failed (a test
/// file that cannot be read, or whose config has errors, counts as one).
fn run_tests(configs: &[PathBuf], format: super::lint::Format, summary: &mut String) -> Result<usize, CliError> {
    let mut tests: Vec<PathBuf> = Vec::new();
    for dir in configs.iter().map(|c| c.parent().unwrap_or(std::path::Path::new("."))) {
        for ext in ["yaml", "yml"] {
            let pattern = format!(
                "{}/*.policy-test.{ext}",
                glob::Pattern::escape(&dir.display().to_string())
            );
            for t in glob::glob(&pattern).into_iter().flatten().filter_map(Result::ok) {
                if !tests.contains(&t) {
                    tests.push(t);
                }
            }
        }
    }
    if tests.is_empty() {
        return Ok(0);
    }
    tests.sort();
    summary.push_str("## policy test\n\n");
    let failures = match super::test::run_files(&tests, None)? {
        Ok(ran) => {
            let t = test_render::Totals::of(&ran.results);
            summary.push_str(&format!(
                "{} test file(s), {} case(s): {} passed, {} failed.\n\n",
                t.files, t.cases, t.passed, t.failed
            ));
            if t.failed > 0 {
                summary.push_str("| | Case | Location | What did not hold |\n|---|---|---|---|\n");
                for r in &ran.results {
                    for c in r.cases.iter().filter(|c| !c.passed) {
                        summary.push_str(&format!(
                            "| ❌ | {} | `{}:{}:{}` | {} |\n",
                            cell(&c.name),
                            r.path,
                            c.line,
                            c.column,
                            cell(&c.failures.join("; "))
                        ));
                    }
                }
                summary.push('\n');
            }
            if format == super::lint::Format::Github {
                print(&test_render::github(&ran.results))?;
            }
            t.failed
        }
        Err(super::test::NotRun::BrokenTests(reports)) => {
            summary.push_str("These are not policy test files (P501):\n\n");
            for r in &reports {
                for d in &r.diagnostics {
                    summary.push_str(&format!(
                        "- `{}:{}:{}` {}\n",
                        r.path,
                        d.line(),
                        d.column(),
                        cell(&d.message)
                    ));
                }
            }
            summary.push('\n');
            // One document on stdout for json and sarif: the test files' problems go to stderr.
            match format {
                super::lint::Format::Json | super::lint::Format::Sarif => {
                    eprint!("{}", super::lint::render(super::lint::Format::Concise, &reports))
                }
                _ => print(&super::lint::render(format, &reports))?,
            }
            reports.len()
        }
        Err(super::test::NotRun::InvalidConfig(reports)) => {
            summary.push_str("No case ran: the config under test has errors (listed above).\n\n");
            reports.len()
        }
    };
    Ok(failures)
}

fn git(args: &[&str]) -> Result<String, CliError> {
    super::common::git(std::path::Path::new("."), args)
}

fn append(var: &str, text: &str) -> Result<(), CliError> {
    let Some(path) = std::env::var_os(var) else {
        return Ok(());
    };
    let io = |source| CliError::Io {
        path: PathBuf::from(&path).display().to_string(),
        source,
    };
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(io)
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// Run `policy ci`.
pub fn run(args: CiArgs) -> Result<Outcome, CliError> {
    let files = select(&args.paths)?;
    let mut reports: Vec<FileReport> = Vec::new();
    let baseline = match &args.baseline {
        Some(path) => Some(Baseline::load(path).map_err(|e| CliError::Usage(e.to_string()))?),
        None => None,
    };
    for f in &files {
        let mut report = lint::lint_path(f)?;
        if let Some(b) = &baseline {
            b.apply(&mut report);
        }
        reports.push(report);
    }
    let text = super::lint::render(args.format, &reports);
    print(&text)?;
    if let Some(path) = &args.sarif_file {
        std::fs::write(path, render::sarif::render(&reports)).map_err(|source| CliError::Io {
            path: path.display().to_string(),
            source,
        })?;
    }
    let errors: usize = reports.iter().map(|r| r.count(Severity::Error)).sum();
    let warnings: usize = reports.iter().map(|r| r.count(Severity::Warning)).sum();

    let mut summary = format!(
        "## policy lint\n\n{} config file(s): {errors} error(s), {warnings} warning(s).\n\n",
        files.len()
    );
    if files.is_empty() {
        summary.push_str("No policy config matched the `files` patterns.\n\n");
    }
    let all: Vec<(&FileReport, &lint::Diagnostic)> = reports
        .iter()
        .flat_map(|r| r.diagnostics.iter().map(move |d| (r, d)))
        .collect();
    if !all.is_empty() {
        summary.push_str("| | Location | Code | Message | Help |\n|---|---|---|---|---|\n");
        for (r, d) in all {
            let icon = if d.severity == Severity::Error { "❌" } else { "⚠️" };
            summary.push_str(&format!(
                "| {icon} | `{}:{}:{}` | {} {} | {} | {} |\n",
                r.path,
                d.line(),
                d.column(),
                d.code,
                d.name,
                cell(&d.message),
                cell(&d.help)
            ));
        }
        summary.push('\n');
    }

    let test_failures = run_tests(&files, args.format, &mut summary)?;

    let mut changed: Vec<String> = Vec::new();
    let mut restart: Vec<String> = Vec::new();
    if let Some(base) = args.base_ref.as_deref() {
        let names = git(&["diff", "--name-only", "--relative", base, "--"])?;
        let changed_set: Vec<PathBuf> = names.lines().map(PathBuf::from).collect();
        summary.push_str(&format!("## policy diff against `{base}`\n\n"));
        for (f, report) in files.iter().zip(&reports) {
            let rel = f.strip_prefix("./").unwrap_or(f);
            if !changed_set.iter().any(|c| c == rel) {
                continue;
            }
            changed.push(rel.display().to_string());
            let Ok(old_text) = git(&["show", &format!("{base}:./{}", rel.display())]) else {
                summary.push_str(&format!("### `{}`: new file\n\n", rel.display()));
                continue;
            };
            let old = lint::lint_source(&format!("{}@{base}", rel.display()), old_text);
            let (Some(old_cfg), Some(new_cfg)) = (&old.config, &report.config) else {
                summary.push_str(&format!(
                    "### `{}`: not classified\n\n{} has errors; fix them to see the reload plan.\n\n",
                    rel.display(),
                    if report.config.is_none() {
                        "The new version"
                    } else {
                        "The base version"
                    }
                ));
                continue;
            };
            let plan = classify(old_cfg, new_cfg);
            let new_name = rel.display().to_string();
            let inputs = diff_render::Inputs {
                old_name: &old.path,
                new_name: &new_name,
                new_doc: report.document.as_ref(),
            };
            summary.push_str(&diff_render::markdown(&plan, &inputs));
            summary.push('\n');
            print(&diff_render::github(&plan, &inputs))?;
            restart.extend(plan.restart_required().iter().map(|p| format!("{new_name}#{p}")));
        }
        if changed.is_empty() {
            summary.push_str("No policy config changed.\n");
        }
    }
    append("GITHUB_STEP_SUMMARY", &summary)?;
    append(
        "GITHUB_OUTPUT",
        &format!(
            "errors={errors}\nwarnings={warnings}\nrestart-required={}\nchanged-files={}\ntest-failures={test_failures}\n",
            !restart.is_empty(),
            changed.join(" ")
        ),
    )?;
    if std::env::var_os("GITHUB_STEP_SUMMARY").is_none() {
        eprint!("{summary}");
    }
    let fail = match args.fail_on {
        FailOn::Error => errors > 0 || test_failures > 0,
        FailOn::Restart => errors > 0 || test_failures > 0 || !restart.is_empty(),
        FailOn::Never => false,
    };
    Ok(if fail { Outcome::Findings } else { Outcome::Clean })
}
