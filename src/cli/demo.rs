//! `policy demo`: the whole story on the bundled fixtures, in a few lines and under a minute:
//! lint A and B, run A's policy tests, classify the change, replay recorded traffic offline,
//! then the live replay
//! against a `policy-gateway` started on loopback (mock provider: no key, no network).
//!
//! The fixtures are compiled in, so it runs from any directory; only the gateway binary must
//! sit next to `policy` (`cargo build --release --workspace`).

use super::args::duration;
use super::common::{print, CliError, Outcome};
use super::live::write_report;
use policy_diff::classify;
use policy_lint::{self as lint, Severity};
use policy_replay::live::{spawned, Options, Until, Via};
use policy_replay::{offline, traffic};
use std::path::PathBuf;
use std::time::Duration;

const A: (&str, &str) = (
    "fixtures/gateway/demo.yaml",
    include_str!("../../fixtures/gateway/demo.yaml"),
);
const B: (&str, &str) = (
    "fixtures/gateway/demo-next.yaml",
    include_str!("../../fixtures/gateway/demo-next.yaml"),
);
const TESTS: (&str, &str) = (
    "fixtures/gateway/demo.policy-test.yaml",
    include_str!("../../fixtures/gateway/demo.policy-test.yaml"),
);
const TRAFFIC: (&str, &str) = (
    "fixtures/traffic/chat.jsonl",
    include_str!("../../fixtures/traffic/chat.jsonl"),
);

/// Arguments of `policy demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// How long the live replay runs.
    #[arg(long, default_value = "5s", value_name = "DURATION")]
    pub duration: String,
    /// The policy-gateway binary (default: next to this one).
    #[arg(long, value_name = "PATH")]
    pub gateway_bin: Option<PathBuf>,
    /// Also write the live replay's HTML report here.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

/// Run the demo.
pub fn run(args: DemoArgs) -> Result<Outcome, CliError> {
    let mut configs = Vec::new();
    for (name, text) in [A, B] {
        // The bundled fixtures lint clean (a test says so); if not, the error shows why.
        let (config, report) = lint::load_config_str(name, text)?;
        let w = report.count(Severity::Warning);
        print(&format!("1. lint    {name}: 0 errors, {w} warnings\n"))?;
        configs.push(config);
    }
    let tests = policy::policy_test::file::read(TESTS.0, TESTS.1.to_string()).map_err(|r| {
        CliError::Usage(format!(
            "{}: {} problem(s) in the bundled test file",
            TESTS.0,
            r.diagnostics.len()
        ))
    })?;
    let engine = policy_engine::Engine::compile(&configs[0])?;
    let tested = policy::policy_test::run::run(&tests, A.0, &engine);
    let cov = policy::policy_test::coverage::measure(A.0, &configs[0], &[&tested]);
    print(&format!(
        "2. test    {}: {} of {} cases pass, {} of {} rules of A hit ({:.1}%)\n",
        TESTS.0,
        tested.cases.len() - tested.failed(),
        tested.cases.len(),
        cov.hit,
        cov.rules,
        cov.percent
    ))?;
    let plan = classify(&configs[0], &configs[1]);
    print(&format!(
        "3. diff    {} change(s), class {}: {}\n",
        plan.changes.len(),
        plan.class_name(),
        if plan.restart_required().is_empty() {
            "the gateway can hot-reload it"
        } else {
            "needs a restart"
        }
    ))?;
    let (recorded, _) = traffic::parse(TRAFFIC.1);
    let offline = offline::replay(&configs[0], &configs[1], &recorded)?;
    let transitions: Vec<String> = offline.transitions.iter().map(|(t, n)| format!("{t} ×{n}")).collect();
    print(&format!(
        "4. replay  {} recorded requests ({}): {} change verdict{}\n",
        offline.requests,
        TRAFFIC.0,
        offline.changed,
        if transitions.is_empty() {
            String::new()
        } else {
            format!(" ({})", transitions.join(", "))
        }
    ))?;
    let bin = policy_replay::process::locate_binary(args.gateway_bin.as_deref())?;
    let opts = Options {
        concurrency: 16,
        rate: None,
        until: Until::Duration(duration("--duration", &args.duration)?),
        reloads: 20,
        via: Via::Admin,
        timeout: Duration::from_secs(10),
        command: None,
    };
    let (a, b) = (configs.remove(0), configs.remove(0));
    let (report, _) = spawned::run_spawned(&bin, (A.0.into(), a), (B.0.into(), b), true, &recorded, &opts)?;
    if let Some(path) = &args.report {
        write_report(path, &policy_replay::html::render(&report, Some(&offline)))?;
    }
    print(&format!(
        "5. live    {} requests on {} connections while the gateway switched A<->B {} times: {} dropped, {} unattributed, {} mismatched, {} failed reloads\n",
        report.requests,
        report.concurrency,
        report.reloads,
        report.dropped,
        report.unattributed,
        report.mismatched,
        report.reload_failures
    ))?;
    print(&format!(
        "          {:.0} req/s, p99 {} ms (near reloads {} ms), reload p50 {} ms\n{}\n",
        report.throughput_rps,
        report.latency_ms.p99,
        report.latency_near_reload_ms.p99,
        report.reload_duration_ms.p50,
        if report.passed {
            "PASS: every request answered, each by exactly one config, with the verdict the engine predicts."
        } else {
            "FAIL: see `policy replay --live` for the details."
        }
    ))?;
    Ok(if report.passed && tested.failed() == 0 {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}
