//! `policy test`: expand the test files, read them, load and compile each config under test
//! once, run the cases, report, decide the exit code; and `--record-from`.
//!
//! Exit codes: 0 every case passed (and coverage is at least `--fail-under`); 1 a case failed,
//! coverage is below the threshold, or the config under test has lint errors (shown); 2 usage,
//! I/O, or a test file that is not a test file (its diagnostics shown like lint's).

use super::common::{print, read_traffic, CliError, Outcome};
use policy::policy_test::coverage::{self, Coverage};
use policy::policy_test::run::FileResult;
use policy::policy_test::{file, record, render, run};
use policy_engine::Engine;
use policy_lint::render::human as lint_human;
use policy_lint::{self as lint, LoadError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Arguments of `policy test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Test files, globs, or folders (every `*.policy-test.yaml` below them). Default: every
    /// `*.policy-test.yaml` below the current folder.
    #[arg(value_name = "PATH")]
    pub paths: Vec<String>,
    /// The config under test, for every file (overrides their `config:`).
    #[arg(long, value_name = "CFG")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Report which policies, content rules, injection patterns and PII types the cases hit.
    #[arg(long)]
    pub coverage: bool,
    /// Fail (exit 1) when the share of rules hit is below PCT percent (compared exactly).
    #[arg(long, value_name = "PCT", value_parser = percent)]
    pub fail_under: Option<f64>,
    /// Write a test file to stdout from recorded traffic: one case per distinct verdict,
    /// policy and rule, with today's decisions as expectations (needs `--config`).
    #[arg(long, value_name = "TRAFFIC", requires = "config", conflicts_with_all = ["paths", "fail_under"])]
    pub record_from: Option<PathBuf>,
}

fn percent(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("`{s}` is not a percentage"))?;
    if (0.0..=100.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0 and 100"))
    }
}

/// Output formats of `policy test`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A line per case, failures in full, totals (and coverage with `--coverage`).
    Human,
    /// One JSON object.
    Json,
    /// JUnit XML for CI test reporters.
    Junit,
    /// GitHub Actions annotations on each failing case's line.
    Github,
}

/// Every `*.policy-test.yaml` / `.yml` below `dir`, sorted.
pub fn find_test_files(dir: &Path) -> Vec<PathBuf> {
    super::lint::yaml_below(dir, "*.policy-test")
        .into_iter()
        .filter(|p| {
            !p.components()
                .any(|c| c.as_os_str() == "target" || c.as_os_str() == ".git")
        })
        .collect()
}

fn expand(args: &[String]) -> Result<Vec<PathBuf>, CliError> {
    if args.is_empty() {
        let found = find_test_files(Path::new("."));
        if found.is_empty() {
            return Err(CliError::Usage(
                "no test file: pass test files, or name them `*.policy-test.yaml` below this folder".into(),
            ));
        }
        return Ok(found);
    }
    let mut out = Vec::new();
    for arg in args {
        if arg.contains(['*', '?', '[']) {
            out.extend(super::lint::glob_files(arg)?);
        } else if Path::new(arg).is_dir() {
            let found = find_test_files(Path::new(arg));
            if found.is_empty() {
                return Err(CliError::Usage(format!("`{arg}` has no *.policy-test.yaml file")));
            }
            out.extend(found);
        } else {
            out.push(PathBuf::from(arg));
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.clone()));
    Ok(out)
}

/// A config under test, loaded and compiled once.
struct UnderTest {
    /// The path as the first test file named it: what reports show.
    name: String,
    config: policy_config::Config,
    engine: Engine,
}

/// What running some test files produced, for `policy test`, `policy ci` and `policy demo`.
pub struct Ran {
    /// Results per file.
    pub results: Vec<FileResult>,
    /// Coverage per config.
    pub coverage: Vec<Coverage>,
}

/// Why test files could not run: shown, then exit 1 (config errors) or 2 (broken test files).
pub enum NotRun {
    /// A test file is not a test file; its diagnostics.
    BrokenTests(Vec<lint::FileReport>),
    /// A config under test has lint errors.
    InvalidConfig(Vec<lint::FileReport>),
}

/// Read, load and run `files` (the config from `--config` or each file's `config:`).
pub fn run_files(files: &[PathBuf], config_override: Option<&Path>) -> Result<Result<Ran, NotRun>, CliError> {
    let mut tests = Vec::new();
    let mut broken = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
            path: path.display().to_string(),
            source,
        })?;
        match file::read(&path.display().to_string(), text) {
            Ok(t) => tests.push((path.clone(), t)),
            Err(report) => broken.push(*report),
        }
    }
    if !broken.is_empty() {
        return Ok(Err(NotRun::BrokenTests(broken)));
    }
    let mut configs: BTreeMap<PathBuf, UnderTest> = BTreeMap::new();
    let mut invalid = Vec::new();
    let mut tried: Vec<PathBuf> = Vec::new();
    let mut plan = Vec::new();
    for (path, t) in &tests {
        let cfg = match (config_override, &t.config) {
            (Some(c), _) => c.to_path_buf(),
            (None, Some(c)) => path.parent().unwrap_or(Path::new(".")).join(c),
            (None, None) => {
                return Err(CliError::Usage(format!(
                "{}: no config under test: add `config: policy-config.yaml` (relative to the file) or pass --config",
                path.display()
            )))
            }
        };
        // One config reached by two paths (`../cfg.yaml`, `cfg.yaml`) is one config under test.
        let key = std::fs::canonicalize(&cfg).unwrap_or_else(|_| cfg.clone());
        if !configs.contains_key(&key) && !tried.contains(&key) {
            tried.push(key.clone());
            match lint::load_config(&cfg) {
                Ok((config, _)) => {
                    let engine = Engine::compile(&config)?;
                    let name = cfg.display().to_string();
                    configs.insert(key.clone(), UnderTest { name, config, engine });
                }
                Err(LoadError::Invalid { report, .. }) => invalid.push(*report),
                Err(e) => return Err(CliError::Load(e)),
            }
        }
        plan.push((t, key));
    }
    if !invalid.is_empty() {
        return Ok(Err(NotRun::InvalidConfig(invalid)));
    }
    let results: Vec<FileResult> = plan
        .iter()
        .map(|(t, key)| run::run(t, &configs[key].name, &configs[key].engine))
        .collect();
    let coverage = configs
        .values()
        .map(|u| {
            let mine: Vec<&FileResult> = results.iter().filter(|r| r.config == u.name).collect();
            coverage::measure(&u.name, &u.config, &mine)
        })
        .collect();
    Ok(Ok(Ran { results, coverage }))
}

/// Show why the files did not run; the outcome to end with. A config under test with lint
/// errors is shown in the format asked for (a CI report then says why no case ran); a broken
/// test file is a usage error, on stderr.
fn report_not_run(not_run: NotRun, format: Format) -> Result<Outcome, CliError> {
    match not_run {
        NotRun::BrokenTests(reports) => {
            eprint!("{}", lint_human::render(&reports, lint_human::Style::detect_stderr()));
            Err(CliError::Usage(format!(
                "{} not a policy test file (see above)",
                if reports.len() == 1 {
                    format!("{} is", reports[0].path)
                } else {
                    format!("{} files are", reports.len())
                }
            )))
        }
        NotRun::InvalidConfig(reports) => {
            print(&match format {
                Format::Human => lint_human::render(&reports, lint_human::Style::detect()),
                Format::Json => lint::render::json::render(&reports),
                Format::Github => lint::render::github::render(&reports),
                Format::Junit => render::junit_not_run(&reports, &now_timestamp(), &hostname()),
            })?;
            eprintln!("policy test: the config under test has errors; no case ran");
            Ok(Outcome::Findings)
        }
    }
}

/// Run `policy test`.
pub fn run(args: TestArgs) -> Result<Outcome, CliError> {
    if let Some(traffic) = &args.record_from {
        return record_from(traffic, args.config.as_deref().expect("clap requires --config"));
    }
    let files = expand(&args.paths)?;
    let ran = match run_files(&files, args.config.as_deref())? {
        Ok(ran) => ran,
        Err(not_run) => return report_not_run(not_run, args.format),
    };
    let text = match args.format {
        Format::Human => render::human(&ran.results, &ran.coverage, args.coverage || args.fail_under.is_some()),
        Format::Json => render::json(&ran.results, &ran.coverage),
        Format::Junit => render::junit(&ran.results, &now_timestamp(), &hostname()),
        Format::Github => render::github(&ran.results),
    };
    print(&text)?;
    let failed: usize = ran.results.iter().map(FileResult::failed).sum();
    let (hit, rules) = ran.coverage.iter().fold((0, 0), |(h, r), c| (h + c.hit, r + c.rules));
    let under = args.fail_under.is_some_and(|pct| coverage::below(hit, rules, pct));
    if under {
        eprintln!(
            "policy test: coverage {:.1}% ({hit} of {rules} rules) is below --fail-under {}",
            coverage::percent(hit, rules),
            args.fail_under.unwrap_or_default()
        );
    }
    Ok(if failed > 0 || under {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

/// This machine's name, for the JUnit report.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map_or("localhost".into(), |h| h.trim().to_string())
}

/// `YYYY-MM-DDTHH:MM:SS` (UTC, no zone: what the Ant JUnit schema asks for).
fn now_timestamp() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let full = policy_contract::time::format_rfc3339(ms);
    full.get(..19).unwrap_or(&full).to_string()
}

fn record_from(traffic: &Path, config: &Path) -> Result<Outcome, CliError> {
    let (cfg, _) = match lint::load_config(config) {
        Ok(loaded) => loaded,
        Err(LoadError::Invalid { report, .. }) => {
            print(&lint_human::render(
                std::slice::from_ref(&report),
                lint_human::Style::detect(),
            ))?;
            return Ok(Outcome::Findings);
        }
        Err(e) => return Err(CliError::Load(e)),
    };
    let (requests, _) = read_traffic(traffic)?;
    if requests.is_empty() {
        return Err(CliError::Usage(format!(
            "{}: no request could be read",
            traffic.display()
        )));
    }
    // `config:` as an absolute path, so the file works wherever it is saved.
    let config_line = std::fs::canonicalize(config).unwrap_or_else(|_| config.to_path_buf());
    let yaml = record::record(
        &config_line.display().to_string(),
        &cfg,
        &requests,
        &traffic.display().to_string(),
    )
    .map_err(|e| CliError::Usage(e.to_string()))?;
    print(&yaml)?;
    Ok(Outcome::Clean)
}
