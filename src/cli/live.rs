//! `policy replay --live`: its own flags (the `live options` group, each of which requires
//! `--live`), finding the gateway — attach to a running one (`--gateway URL --admin URL`) or
//! start one (`policy_replay::live::spawned`) — and printing and writing the report.
//!
//! The load, the reloads and the checks are `policy_replay::live`'s. `cli::replay` calls in
//! here; nothing here calls back.

use super::args::{duration, http_addr};
use super::common::{print, CliError, Outcome};
use policy_config::Config;
use policy_replay::live::{self, spawned, Endpoint, Options, Plan, Report, Until, Via};
use policy_replay::{html, offline, traffic};
use std::path::{Path, PathBuf};

/// The flags of live mode. Every one of them requires `--live`.
#[derive(Debug, clap::Args)]
#[group(id = "live-options", multiple = true, requires = "live")]
pub struct LiveArgs {
    /// Live: data plane of a running gateway, e.g. http://127.0.0.1:41002 (with --admin).
    /// Without both, a policy-gateway is started on free loopback ports and stopped at the end.
    #[arg(long, value_name = "URL")]
    pub gateway: Option<String>,
    /// Live: admin plane of the running gateway, e.g. http://127.0.0.1:41003.
    #[arg(long, value_name = "URL")]
    pub admin: Option<String>,
    /// Live: environment variable holding the admin bearer token.
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
    /// Live, spawn mode: the policy-gateway binary (default: next to this one).
    #[arg(long, value_name = "PATH")]
    pub gateway_bin: Option<PathBuf>,
    /// Live, spawn mode: answer every target with the mock provider (no key, no network).
    #[arg(long)]
    pub mock: bool,
    /// Live: keep-alive connections.
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub concurrency: usize,
    /// Live: requests per second over all connections (default: closed loop, as fast as answered).
    #[arg(long, value_name = "RPS")]
    pub rate: Option<f64>,
    /// Live: stop after N requests (instead of --duration).
    #[arg(long, value_name = "N")]
    pub requests: Option<u64>,
    /// Live: how long to run: 10s, 500ms, 2m.
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub duration: String,
    /// Live: how many times to switch configs (B, A, B, …), evenly spread over the run.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub reloads: usize,
    /// Live: how to switch: admin API, SIGHUP after rewriting the file, or the file rewrite
    /// alone (the gateway must run with --watch). File modes restore the file at the end.
    #[arg(long, default_value = "admin", value_parser = reload_via())]
    pub reload_via: Via,
    /// Live: a request not answered within this counts as dropped.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub timeout: String,
    /// Live: write an HTML report (latency over time with reload markers, the offline diff).
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// One config of the run: the name it was given as, the config and its text.
pub struct Input {
    /// The path as given.
    pub name: String,
    /// The config as linted.
    pub config: Config,
    /// The file's text, sent to an attached gateway as is.
    pub text: String,
}

/// Run the live replay as `args` asks; `json` selects the output format.
pub fn run(
    args: &LiveArgs,
    a: Input,
    b: Input,
    recorded: &[traffic::Recorded],
    json: bool,
) -> Result<Outcome, CliError> {
    let until = match (args.requests, &args.duration) {
        (Some(n), _) => Until::Requests(n),
        (None, d) => Until::Duration(duration("--duration", d)?),
    };
    let opts = Options {
        concurrency: args.concurrency.max(1),
        rate: args.rate,
        until,
        reloads: args.reloads,
        via: args.reload_via,
        timeout: duration("--timeout", &args.timeout)?,
    };
    let (report, plan) = match (&args.gateway, &args.admin) {
        (Some(g), Some(adm)) => {
            let token = match &args.token_env {
                Some(var) => Some(
                    std::env::var(var)
                        .map_err(|_| CliError::Usage(format!("--token-env {var}: the variable is not set")))?,
                ),
                None => None,
            };
            let ep = Endpoint {
                data: http_addr("--gateway", g)?,
                admin: http_addr("--admin", adm)?,
                token,
            };
            let plan = Plan::for_via(
                (a.name, a.text, a.config),
                (b.name, b.text, b.config),
                recorded,
                opts.via,
            )?;
            (live::run(&plan, &ep, &opts)?, plan)
        }
        (None, None) => {
            let bin = policy_replay::process::locate_binary(args.gateway_bin.as_deref())?;
            spawned::run_spawned(&bin, (a.name, a.config), (b.name, b.config), args.mock, recorded, &opts)?
        }
        _ => {
            return Err(CliError::Usage(
                "--gateway and --admin go together (a running gateway), or neither (spawn one)".into(),
            ))
        }
    };
    if let Some(path) = &args.report {
        let sides = plan.sides();
        let diff = offline::replay(&sides[0].config, &sides[1].config, recorded).ok();
        write_report(path, &html::render(&report, diff.as_ref()))?;
    }
    let out = if json {
        let mut v = serde_json::to_value(&report).expect("report serialises");
        if let Some(m) = v.as_object_mut() {
            m.remove("timeline");
        }
        format!("{v}\n")
    } else {
        human(&report, args.report.as_deref())
    };
    print(&out)?;
    Ok(if report.passed {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

/// Write the HTML report to `path`.
pub fn write_report(path: &Path, page: &str) -> Result<(), CliError> {
    std::fs::write(path, page).map_err(|source| CliError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// The human summary.
fn human(r: &Report, html: Option<&Path>) -> String {
    let mut out = format!(
        "policy replay --live: {}\n  {} requests in {:.1} s over {} connections: {:.0} req/s; {} reloads via {}\n",
        if r.passed { "PASS" } else { "FAIL" },
        r.requests,
        r.duration_s,
        r.concurrency,
        r.throughput_rps,
        r.reloads,
        r.reload_via.as_str()
    );
    out.push_str(&format!(
        "  dropped {} · unattributed {} · mismatched {} · reload failures {} · rate limited {} (not checked)\n",
        r.dropped, r.unattributed, r.mismatched, r.reload_failures, r.rate_limited
    ));
    for c in &r.configs {
        let label = c.label;
        out.push_str(&format!(
            "  {label} {} {} ({}): {} responses\n",
            c.version,
            c.hash,
            c.source,
            r.responses_by_config.get(label).copied().unwrap_or(0)
        ));
    }
    if r.processes.len() > 1 {
        let one = r.processes.iter().filter(|p| p.configs.len() == 1).count();
        out.push_str(&format!(
            "  {} gateway processes answered ({one} with a single config)\n",
            r.processes.len()
        ));
    }
    let l = &r.latency_ms;
    out.push_str(&format!(
        "  latency ms: p50 {} p90 {} p99 {} max {}; steady p99 {}, near reloads p99 {}\n",
        l.p50, l.p90, l.p99, l.max, r.latency_steady_ms.p99, r.latency_near_reload_ms.p99
    ));
    out.push_str(&format!(
        "  {} duration ms: p50 {} p99 {} max {}\n",
        if r.reload_via == Via::Restart {
            "restart"
        } else {
            "reload"
        },
        r.reload_duration_ms.p50,
        r.reload_duration_ms.p99,
        r.reload_duration_ms.max
    ));
    for f in r.errors.iter().chain(&r.findings) {
        out.push_str(&format!("  {} ×{}: {}\n", f.kind, f.count, f.example));
    }
    for e in r.reload_events.iter().filter(|e| !e.ok) {
        out.push_str(&format!(
            "  reload {} to {} failed: {}\n",
            e.n,
            e.to,
            e.error.as_deref().unwrap_or_default()
        ));
    }
    if let Some(p) = html {
        out.push_str(&format!("  report: {}\n", p.display()));
    }
    out
}

/// `--reload-via`'s values: the library's names for [`Via`], offered and checked by clap.
fn reload_via() -> impl clap::builder::TypedValueParser<Value = Via> {
    use clap::builder::{PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(Via::ALL.map(Via::as_str)).map(|name| Via::from_name(&name).expect("a listed value"))
}
