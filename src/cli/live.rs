//! `policy replay --live`: its own flags (the `live options` group, each of which requires
//! `--live`), finding the gateway — attach to a running one (`--gateway URL --admin URL`),
//! start one (`policy_replay::live::spawned`), or drive any gateway with the operator's reload
//! command (`--gateway URL --reload-cmd CMD`, command mode) — and printing and writing the
//! report.
//!
//! The load, the reloads and the checks are `policy_replay::live`'s. `cli::replay` calls in
//! here; nothing here calls back.

use super::args::{duration, http_addr};
use super::common::{print, CliError, Outcome};
use policy_config::Config;
use policy_replay::live::{self, spawned, Attribution, CommandMode, Endpoint, Options, Plan, Report, Side, Until, Via};
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
    /// Live, command mode (any gateway, with --gateway): run this with `sh -c` for each switch,
    /// with POLICY_SIDE (old or new) and POLICY_CONFIG_PATH set, e.g. 'nginx -s reload'. OLD and
    /// NEW are then the gateway's own config files, in any format.
    #[arg(long, value_name = "CMD", conflicts_with_all = ["admin", "token_env", "gateway_bin", "mock", "reload_via"])]
    pub reload_cmd: Option<String>,
    /// Live, command mode: the gateway's config file; each switch replaces it (by rename) with
    /// OLD's or NEW's bytes before the command runs, and it is put back at the end.
    #[arg(long, value_name = "PATH", requires = "reload_cmd")]
    pub config_path: Option<PathBuf>,
    /// Live, command mode: the response header that says which config answered (default for
    /// policy configs: x-policy-config-hash). A switch counts once a response carries the new
    /// side's value.
    #[arg(long, value_name = "NAME", requires = "reload_cmd")]
    pub attribute_header: Option<String>,
    /// Live, command mode: the header's value for OLD (default: learned, the value answering
    /// before the first switch).
    #[arg(long, value_name = "V", requires = "attribute_header")]
    pub old_id: Option<String>,
    /// Live, command mode: the header's value for NEW (default: learned, the first other
    /// value after the first switch).
    #[arg(long, value_name = "V", requires = "attribute_header")]
    pub new_id: Option<String>,
    /// Live, command mode: a switch not observed within this, or a command still running,
    /// is a reload failure.
    #[arg(long, default_value = "10s", value_name = "DURATION", requires = "reload_cmd")]
    pub switch_timeout: String,
}

/// One side of command mode: the file as given, its bytes, and the policy config it is, when
/// it is one.
pub struct CommandInput {
    /// The path as given.
    pub name: String,
    /// The file's bytes, written to `--config-path` on a switch.
    pub bytes: Vec<u8>,
    /// The config, when the file is a policy config that lints clean.
    pub config: Option<Config>,
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
    let opts = options(args)?;
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
    finish(args, &report, &plan, recorded, json)
}

/// The load and switch settings the flags give.
fn options(args: &LiveArgs) -> Result<Options, CliError> {
    let until = match (args.requests, &args.duration) {
        (Some(n), _) => Until::Requests(n),
        (None, d) => Until::Duration(duration("--duration", d)?),
    };
    if args.rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        return Err(CliError::Usage(
            "--rate: requests per second must be a positive number".into(),
        ));
    }
    let command = match &args.reload_cmd {
        Some(cmd) => Some(CommandMode {
            cmd: cmd.clone(),
            config_path: args.config_path.clone(),
            switch_timeout: duration("--switch-timeout", &args.switch_timeout)?,
        }),
        None => None,
    };
    Ok(Options {
        concurrency: args.concurrency.max(1),
        rate: args.rate,
        until,
        reloads: args.reloads,
        via: if command.is_some() {
            Via::Command
        } else {
            args.reload_via
        },
        timeout: duration("--timeout", &args.timeout)?,
        command,
    })
}

/// Command mode: any gateway at `--gateway`, switched by `--reload-cmd`.
pub fn run_command(
    args: &LiveArgs,
    a: CommandInput,
    b: CommandInput,
    recorded: &[traffic::Recorded],
    json: bool,
) -> Result<Outcome, CliError> {
    let opts = options(args)?;
    let Some(gateway) = &args.gateway else {
        return Err(CliError::Usage(
            "--reload-cmd drives a running gateway: give its data plane with --gateway URL".into(),
        ));
    };
    let data = http_addr("--gateway", gateway)?;
    if let Some(path) = &args.config_path {
        if !path.is_file() {
            return Err(CliError::Usage(format!(
                "--config-path {}: no such file (the gateway's config file, replaced on each switch and put back at the end)",
                path.display()
            )));
        }
    }
    let attribution = args.attribute_header.as_ref().map(|h| Attribution {
        header: h.to_ascii_lowercase(),
        ids: [args.old_id.clone(), args.new_id.clone()],
    });
    let plan = Plan::for_command(
        (a.name, a.bytes, a.config),
        (b.name, b.bytes, b.config),
        recorded,
        attribution,
    )?;
    let report = live::run_command(&plan, data, &opts)?;
    finish(args, &report, &plan, recorded, json)
}

/// Write the HTML report if asked, print the summary, and say how the run ended.
fn finish(
    args: &LiveArgs,
    report: &Report,
    plan: &Plan,
    recorded: &[traffic::Recorded],
    json: bool,
) -> Result<Outcome, CliError> {
    if let Some(path) = &args.report {
        let diff = match plan.sides() {
            [Side { config: Some(a), .. }, Side { config: Some(b), .. }] => offline::replay(a, b, recorded).ok(),
            _ => None,
        };
        write_report(path, &html::render(report, diff.as_ref()))?;
    }
    let out = if json {
        let mut v = serde_json::to_value(report).expect("report serialises");
        if let Some(m) = v.as_object_mut() {
            m.remove("timeline");
        }
        format!("{v}\n")
    } else {
        human(report, args.report.as_deref())
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
    if r.interrupted {
        out.push_str("  interrupted (Ctrl-C): the run was cut short and does not pass\n");
    }
    let mismatched = if r.verdict_checks {
        format!("mismatched {}", r.mismatched)
    } else {
        "verdict checks skipped (OLD and NEW are not both policy configs)".to_string()
    };
    let unattributed = match &r.attribute_header {
        Some(_) => format!("unattributed {}", r.unattributed),
        None => "attribution skipped (no --attribute-header)".to_string(),
    };
    out.push_str(&format!(
        "  dropped {} · {unattributed} · {mismatched} · reload failures {} · rate limited {} (not checked)\n",
        r.dropped, r.reload_failures, r.rate_limited
    ));
    if r.dropped > 0 {
        let kinds: Vec<String> = r
            .dropped_by_kind
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        out.push_str(&format!("  dropped by kind: {}\n", kinds.join(" · ")));
    }
    if r.status_changed > 0 {
        out.push_str(&format!(
            "  status changed {} (against the status the traffic recorded{})\n",
            r.status_changed,
            if r.verdict_checks {
                "; not a failure when the verdicts are checked"
            } else {
                ""
            }
        ));
    }
    for c in &r.configs {
        let label = c.label;
        let who = match (&c.id, c.hash.is_empty()) {
            (Some(id), _) if r.attribute_header.as_deref() != Some(policy_contract::headers::CONFIG_HASH) => {
                format!("{} {id:?}", r.attribute_header.as_deref().unwrap_or_default())
            }
            (_, false) => format!("{} {}", c.version, c.hash),
            (None, true) => "never observed".to_string(),
            (Some(id), true) => id.clone(),
        };
        out.push_str(&format!(
            "  {label} {who} ({}): {} responses\n",
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
        match r.reload_via {
            Via::Restart => "restart",
            Via::Command => "reload command",
            _ => "reload",
        },
        r.reload_duration_ms.p50,
        r.reload_duration_ms.p99,
        r.reload_duration_ms.max
    ));
    for f in r.errors.iter().chain(&r.findings) {
        out.push_str(&format!("  {} ×{}: {}\n", f.kind, f.count, f.example));
    }
    if let Some(obs) = observed(r) {
        out.push_str(&format!(
            "  switches observed after ms: p50 {} p99 {} max {}\n",
            obs.0, obs.1, obs.2
        ));
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

/// Command mode: p50, p99 and max of the time switches took to be observed, milliseconds.
fn observed(r: &Report) -> Option<(f64, f64, f64)> {
    let mut ms: Vec<f64> = r.switches.iter().filter_map(|s| s.observed_ms).collect();
    if ms.is_empty() {
        return None;
    }
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1];
    Some((at(0.5), at(0.99), ms[ms.len() - 1]))
}

/// `--reload-via`'s values: the library's names for [`Via`], offered and checked by clap.
fn reload_via() -> impl clap::builder::TypedValueParser<Value = Via> {
    use clap::builder::{PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(Via::ALL.map(Via::as_str)).map(|name| Via::from_name(&name).expect("a listed value"))
}
