//! `policy gateway shadow start --config B | status | stop`: a candidate config evaluated by a
//! running gateway beside its active one, on live traffic, served by nobody
//! (docs/guide/gateway.md). The counts are the gateway's (`/admin/shadow`); this file sends the
//! candidate after a local lint, renders the report the way `policy replay` renders its
//! transitions, and with `status --traffic FILE` puts the offline prediction beside them.

use super::admin_target::{client, Format, Reach, TargetArgs};
use super::common::{load_all, print, print_refused, read_traffic, CliError, Loaded, Outcome};
use policy_contract::admin::{ShadowReport, ShadowStarted};
use policy_lint as lint;
use serde_json::Value;
use std::path::PathBuf;

/// The subcommands of `policy gateway shadow`.
#[derive(Debug, clap::Subcommand)]
pub enum ShadowCommand {
    /// Lint --config locally (errors: print them, send nothing, exit 1), then have the gateway
    /// evaluate it beside the active config on every request (replacing a running shadow and
    /// its counts).
    Start(TargetArgs),
    /// What the candidate would have decided so far: requests, changed verdicts by transition
    /// and by rule, examples.
    Status(StatusArgs),
    /// Stop the shadow and print its final report.
    Stop(TargetArgs),
}

/// Arguments of `policy gateway shadow status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// How to reach the gateway (with --traffic, --config is the candidate).
    #[command(flatten)]
    pub target: TargetArgs,
    /// Recorded traffic: put the offline prediction for it (active config against --config)
    /// beside the live counts.
    #[arg(long, value_name = "FILE", requires = "config")]
    pub traffic: Option<PathBuf>,
}

/// Run `policy gateway shadow`.
pub async fn run(command: ShadowCommand) -> Result<Outcome, CliError> {
    match command {
        ShadowCommand::Start(t) => start(t).await,
        ShadowCommand::Status(a) => status(a).await,
        ShadowCommand::Stop(t) => {
            let c = client(&t, Reach::leniently(&t)?)?;
            let (code, body) = c.shadow("DELETE", "").await?;
            answer(&t, code, body, None, "stopped")
        }
    }
}

async fn start(t: TargetArgs) -> Result<Outcome, CliError> {
    let Some(path) = &t.config else {
        return Err(CliError::Usage(
            "policy gateway shadow start needs the candidate: --config FILE".into(),
        ));
    };
    let text = match load_all([lint::load_config(path)])? {
        Loaded::Valid(mut v) => v.pop().expect("one config").1.source.as_str().to_string(),
        Loaded::Invalid(invalid) => return print_refused(t.format == Format::Json, &invalid),
    };
    let c = client(&t, Reach::leniently(&t)?)?;
    let (code, body) = c.shadow("POST", &text).await?;
    if code == 200 {
        let started: ShadowStarted = serde_json::from_value(body.clone()).map_err(|e| bad_answer(&e))?;
        let out = match t.format {
            Format::Json => format!("{body}\n"),
            Format::Human => format!(
                "shadow: {} ({}) is evaluated beside the active config since {}; nothing of it is served\n",
                started.shadow_hash,
                path.display(),
                started.since
            ),
        };
        print(&out)?;
        return Ok(Outcome::Clean);
    }
    refused(&t, code, &body)
}

async fn status(a: StatusArgs) -> Result<Outcome, CliError> {
    let c = client(&a.target, Reach::leniently(&a.target)?)?;
    let predicted = match &a.traffic {
        Some(file) => {
            let candidate = match load_all([lint::load_config(a.target.config.as_deref().expect("clap requires it"))])?
            {
                Loaded::Valid(mut v) => v.pop().expect("one config").0,
                Loaded::Invalid(_) => {
                    return Err(CliError::Usage(
                        "--config does not lint: `policy lint` it, or give the candidate the shadow runs".into(),
                    ))
                }
            };
            let active = c.config().await?;
            let (requests, _) = read_traffic(file)?;
            let report = policy_replay::offline::replay(&active, &candidate, &requests)
                .map_err(|e| CliError::Usage(format!("the offline prediction: {e}")))?;
            Some((file.display().to_string(), report))
        }
        None => None,
    };
    let (code, body) = c.shadow("GET", "").await?;
    answer(&a.target, code, body, predicted.as_ref(), "running")
}

/// Print a report (200) or why there is none.
fn answer(
    t: &TargetArgs,
    code: u16,
    body: Value,
    predicted: Option<&(String, policy_replay::offline::Report)>,
    state: &str,
) -> Result<Outcome, CliError> {
    match code {
        200 => {
            let report: ShadowReport = serde_json::from_value(body.clone()).map_err(|e| bad_answer(&e))?;
            let out = match t.format {
                Format::Json => format!("{body}\n"),
                Format::Human => human(&report, predicted, state),
            };
            print(&out)?;
            Ok(Outcome::Clean)
        }
        404 => Err(CliError::Usage(
            "the gateway runs no shadow: `policy gateway shadow start --config FILE` starts one".into(),
        )),
        _ => refused(t, code, &body),
    }
}

fn refused(t: &TargetArgs, code: u16, body: &Value) -> Result<Outcome, CliError> {
    let out = match t.format {
        Format::Json => format!("{body}\n"),
        Format::Human => format!(
            "shadow refused (HTTP {code}): {}\n",
            body.get("error")
                .map(|e| e.as_str().map_or_else(|| e.to_string(), str::to_string))
                .unwrap_or_else(|| body.to_string())
        ),
    };
    print(&out)?;
    Ok(Outcome::Findings)
}

fn bad_answer(e: &serde_json::Error) -> CliError {
    CliError::Usage(format!(
        "the gateway's /admin/shadow answer is not what policy expects: {e}"
    ))
}

/// The report, with the transition table `policy replay` prints.
fn human(r: &ShadowReport, predicted: Option<&(String, policy_replay::offline::Report)>, state: &str) -> String {
    let mut out = format!(
        "policy gateway shadow ({state}): {} beside {}, since {}\n\nChanged: {} of {} requests\n",
        r.shadow_hash, r.active_hash, r.since, r.changed, r.requests
    );
    let share = |n: u64, of: u64| if of == 0 { 0.0 } else { n as f64 * 100.0 / of as f64 };
    if let Some((file, p)) = predicted {
        out.push_str(&format!(
            "  {:<24} {:>8} {:>7}   {:>8} {:>7}  (offline, {file}: {} requests)\n",
            "transition", "live", "share", "offline", "share", p.requests
        ));
        let mut keys: std::collections::BTreeSet<&str> = r.transitions.keys().map(String::as_str).collect();
        keys.extend(p.transitions.keys().map(String::as_str));
        for k in keys {
            let live = r.transitions.get(k).copied().unwrap_or(0);
            let off = p.transitions.get(k).copied().unwrap_or(0) as u64;
            out.push_str(&format!(
                "  {k:<24} {live:>8} {:>6.1}%   {off:>8} {:>6.1}%\n",
                share(live, r.requests),
                share(off, p.requests as u64)
            ));
        }
    } else {
        for (k, n) in &r.transitions {
            out.push_str(&format!("  {k:<24} {n:>4}\n"));
        }
    }
    if !r.by_rule.is_empty() {
        out.push_str("\nBy rule:\n");
        for b in &r.by_rule {
            out.push_str(&format!(
                "  {:<32} {:<16} {:>4}\n",
                b.rule,
                format!("{}->{}", b.from, b.to),
                b.count
            ));
        }
    }
    if !r.examples.is_empty() {
        out.push_str("\nExamples:\n");
        for e in &r.examples {
            out.push_str(&format!("  {:<24} {}->{}  ({})\n", e.request_id, e.from, e.to, e.rule));
        }
    }
    out
}
