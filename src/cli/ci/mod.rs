//! `policy ci`: what the GitHub Action runs, usable in any CI. Lints the configs, writes the
//! annotations to stdout, and for every config changed since `--base-ref`, classifies the
//! change; counts and the reload class go to `$GITHUB_OUTPUT`, the full diagnostic list (the
//! annotations are capped by GitHub at 10 per type per step) and one diff table per changed
//! file to `$GITHUB_STEP_SUMMARY`.
//!
//! With `--traffic`, each changed config is also replayed offline against its base-ref version
//! (`verdicts`); with `--comment`, the report goes to one sticky comment on the pull request
//! (`comment`, through `github`).
//!
//! It reuses `lint`, `diff`, `replay` and their renderers; it only adds the file selection, the
//! git plumbing, the outputs and the comment.
//!
//! ```text
//! mod.rs       the command: select, lint, test, classify, replay, outputs, --fail-on
//! verdicts.rs  one changed file's replay as Markdown (transitions, rules, first request ids)
//! comment.rs   the sticky comment: its body (marker, lead line, collapsed sections, cut), the pull
//!              request it is for, and posting it
//! github.rs    the GitHub REST calls: list, create, update an issue comment
//! ```

mod comment;
mod github;
mod verdicts;

use super::common::{print, CliError, Outcome};
use super::lint::{expand, Input};
use comment::Section;
use policy::policy_test::render as test_render;
use policy_diff::{classify, render as diff_render};
use policy_lint::baseline::Baseline;
use policy_lint::{self as lint, render, FileReport, Severity};
use policy_replay::offline;
use std::collections::BTreeSet;
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
    /// When to exit 1; each level includes the ones before it: lint errors (or failing policy
    /// tests), a restart-required change, a change that weakens enforcement, a verdict change
    /// on --traffic that --expect does not allow. `never` only reports.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
    /// Recorded traffic (JSON Lines or HAR) to replay against every config changed since
    /// --base-ref and its base-ref version (without --base-ref, nothing changed: no replay).
    #[arg(long, value_name = "FILE")]
    pub traffic: Option<PathBuf>,
    /// The verdict transitions this change is meant to make, one `old->new` a line (`#`
    /// comments); with --fail-on verdict-change, any other fails.
    #[arg(long, value_name = "FILE", requires = "traffic")]
    pub expect: Option<PathBuf>,
    /// Post the report as one comment on the pull request, updated in place on every run
    /// ($GITHUB_API_URL, $GITHUB_TOKEN, $GITHUB_REPOSITORY, the pull request from
    /// $GITHUB_EVENT_PATH or $GITHUB_REF). A comment that cannot be posted is a warning.
    #[arg(long)]
    pub comment: bool,
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

/// `--fail-on` of `policy ci`: each level fails on what the ones before it fail on, and more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum FailOn {
    /// Never fail (report only).
    Never,
    /// Lint errors (and failing policy tests) fail.
    Error,
    /// ... and changes that need a gateway restart.
    Restart,
    /// ... and changes that weaken enforcement (`block` to `log`, a rule removed, ...).
    Weakening,
    /// ... and any verdict change on --traffic that --expect does not list.
    VerdictChange,
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
fn run_tests(configs: &[PathBuf], format: super::lint::Format, sections: &mut Vec<Section>) -> Result<usize, CliError> {
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
    let mut summary = String::new();
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
    sections.push(Section {
        title: "policy test".into(),
        body: summary,
    });
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

/// What the changed configs do, summed over the files.
#[derive(Default)]
struct Changes {
    files: Vec<String>,
    /// `file#pointer` of each restart-required change.
    restart: Vec<String>,
    /// Changes that weaken enforcement.
    weakening: usize,
    /// Requests of --traffic whose verdict changes, and out of how many replays' requests.
    flips: usize,
    replayed: usize,
    /// `file: old->new` for each transition --expect does not allow.
    unexpected: Vec<String>,
    /// Counts by transition, over every file.
    transitions: std::collections::BTreeMap<String, usize>,
}

/// Classify (and with --traffic, replay) every config changed since `base`.
fn changes(
    args: &CiArgs,
    base: &str,
    files: &[PathBuf],
    reports: &[FileReport],
    sections: &mut Vec<Section>,
) -> Result<Changes, CliError> {
    let traffic = match &args.traffic {
        Some(path) => Some((path.display().to_string(), super::common::read_traffic(path)?.0)),
        None => None,
    };
    let allowed: Option<BTreeSet<String>> = match &args.expect {
        Some(path) => Some(super::replay::read_expect(path)?),
        None => None,
    };
    let names = git(&["diff", "--name-only", "--relative", base, "--"])?;
    let changed_set: Vec<PathBuf> = names.lines().map(PathBuf::from).collect();
    let mut c = Changes::default();
    let mut diff_md = String::new();
    let mut replay_md = String::new();
    for (f, report) in files.iter().zip(reports) {
        let rel = f.strip_prefix("./").unwrap_or(f);
        if !changed_set.iter().any(|c| c == rel) {
            continue;
        }
        let new_name = rel.display().to_string();
        c.files.push(new_name.clone());
        let Ok(old_text) = git(&["show", &format!("{base}:./{}", rel.display())]) else {
            diff_md.push_str(&format!("### `{new_name}`: new file\n\n"));
            if let Some((t, _)) = &traffic {
                replay_md.push_str(&format!(
                    "### Verdicts: `{new_name}` on `{t}`\n\nA new file: there is no base version to replay against.\n\n"
                ));
            }
            continue;
        };
        let old = lint::lint_source(&format!("{new_name}@{base}"), old_text);
        let (Some(old_cfg), Some(new_cfg)) = (&old.config, &report.config) else {
            let which = if report.config.is_none() {
                "The new version"
            } else {
                "The base version"
            };
            diff_md.push_str(&format!(
                "### `{new_name}`: not classified\n\n{which} has errors; fix them to see the reload plan.\n\n"
            ));
            if let Some((t, _)) = &traffic {
                replay_md.push_str(&format!(
                    "### Verdicts: `{new_name}` on `{t}`\n\nNot replayed: {} has errors.\n\n",
                    which.to_lowercase()
                ));
            }
            continue;
        };
        let plan = classify(old_cfg, new_cfg);
        let inputs = diff_render::Inputs {
            old_name: &old.path,
            new_name: &new_name,
            new_doc: report.document.as_ref(),
        };
        diff_md.push_str(&diff_render::markdown(&plan, &inputs));
        diff_md.push('\n');
        print(&diff_render::github(&plan, &inputs))?;
        c.restart
            .extend(plan.restart_required().iter().map(|p| format!("{new_name}#{p}")));
        c.weakening += plan.weakening().count();
        if let Some((t, requests)) = &traffic {
            let r = offline::replay(old_cfg, new_cfg, requests)?;
            replay_md.push_str(&verdicts::markdown(&new_name, t, &r, allowed.as_ref()));
            c.flips += r.changed;
            c.replayed += r.requests;
            for (k, n) in &r.transitions {
                *c.transitions.entry(k.clone()).or_default() += n;
            }
            c.unexpected.extend(
                verdicts::unexpected(&r, allowed.as_ref())
                    .into_iter()
                    .map(|k| format!("{new_name}: {k}")),
            );
        }
    }
    if c.files.is_empty() {
        diff_md.push_str("No policy config changed.\n");
    }
    sections.push(Section {
        title: format!("policy diff against `{base}`"),
        body: diff_md,
    });
    if traffic.is_some() && !replay_md.is_empty() {
        sections.push(Section {
            title: "verdicts on recorded traffic".into(),
            body: replay_md,
        });
    }
    Ok(c)
}

/// The comment's first line: lint, reload class, weakening, verdict flips.
fn lead(errors: usize, warnings: usize, c: Option<&Changes>, replayed: bool) -> String {
    let lint = match (errors, warnings) {
        (0, 0) => "✅ clean".to_string(),
        (0, w) => format!("✅ no errors, {w} warning(s)"),
        (e, w) => format!("❌ {e} error(s), {w} warning(s)"),
    };
    let mut line = format!("**policy ci** · lint {lint}");
    match c {
        None => line.push_str(" · no base to diff against"),
        Some(c) if c.files.is_empty() => line.push_str(" · no policy config changed"),
        Some(c) => {
            line.push_str(if c.restart.is_empty() {
                " · reload: hot"
            } else {
                " · reload: **restart required**"
            });
            line.push_str(&match c.weakening {
                0 => " · weakening: none".to_string(),
                n => format!(" · ⚠️ weakening: **{n}**"),
            });
            if replayed {
                let t: Vec<String> = c.transitions.iter().map(|(k, n)| format!("{k} {n}")).collect();
                line.push_str(&match c.flips {
                    0 => format!(" · verdict flips: none of {} requests", c.replayed),
                    n => format!(
                        " · verdict flips: **{n}** of {} requests ({})",
                        c.replayed,
                        t.join(", ")
                    ),
                });
            }
        }
    }
    line
}

/// Run `policy ci`.
pub fn run(args: CiArgs) -> Result<Outcome, CliError> {
    if args.fail_on == FailOn::VerdictChange && args.traffic.is_none() {
        return Err(CliError::Usage(
            "--fail-on verdict-change needs --traffic FILE (and --base-ref): without recorded \
             traffic there is no evidence of what changes"
                .into(),
        ));
    }
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

    let mut lint_md = format!(
        "{} config file(s): {errors} error(s), {warnings} warning(s).\n\n",
        files.len()
    );
    if files.is_empty() {
        lint_md.push_str("No policy config matched the `files` patterns.\n\n");
    }
    let all: Vec<(&FileReport, &lint::Diagnostic)> = reports
        .iter()
        .flat_map(|r| r.diagnostics.iter().map(move |d| (r, d)))
        .collect();
    if !all.is_empty() {
        lint_md.push_str("| | Location | Code | Message | Help |\n|---|---|---|---|---|\n");
        for (r, d) in all {
            let icon = if d.severity == Severity::Error { "❌" } else { "⚠️" };
            lint_md.push_str(&format!(
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
        lint_md.push('\n');
    }
    let mut sections = vec![Section {
        title: "policy lint".into(),
        body: lint_md,
    }];
    let test_failures = run_tests(&files, args.format, &mut sections)?;
    let changed = match args.base_ref.as_deref() {
        Some(base) => Some(changes(&args, base, &files, &reports, &mut sections)?),
        None => None,
    };

    let summary: String = sections
        .iter()
        .map(|s| format!("## {}\n\n{}", s.title, s.body))
        .collect();
    append("GITHUB_STEP_SUMMARY", &summary)?;
    let c = changed.as_ref();
    let mut outputs = format!(
        "errors={errors}\nwarnings={warnings}\nrestart-required={}\nchanged-files={}\ntest-failures={test_failures}\nweakening={}\n",
        c.is_some_and(|c| !c.restart.is_empty()),
        c.map(|c| c.files.join(" ")).unwrap_or_default(),
        c.map_or(0, |c| c.weakening),
    );
    if args.traffic.is_some() {
        outputs.push_str(&format!("verdict-changes={}\n", c.map_or(0, |c| c.flips)));
    }
    append("GITHUB_OUTPUT", &outputs)?;
    if std::env::var_os("GITHUB_STEP_SUMMARY").is_none() {
        eprint!("{summary}");
    }
    if args.comment {
        let lead = lead(errors, warnings, c, args.traffic.is_some());
        comment::on_pull_request(&lead, &sections, args.format);
    }
    let level = args.fail_on;
    let fail = (level >= FailOn::Error && (errors > 0 || test_failures > 0))
        || (level >= FailOn::Restart && c.is_some_and(|c| !c.restart.is_empty()))
        || (level >= FailOn::Weakening && c.is_some_and(|c| c.weakening > 0))
        || (level >= FailOn::VerdictChange && c.is_some_and(|c| !c.unexpected.is_empty()));
    Ok(if fail { Outcome::Findings } else { Outcome::Clean })
}
