//! `policy fleet status` and `policy rollout` (docs/guide/fleet.md): the CLI over `policy::fleet`.
//! Reads the inventory, prints a group's state or runs a rollout with progress on stderr, and maps
//! the outcome to their exit codes (0 rolled out / consistent, 1 a gate failed or drift,
//! 2 could not run).

use super::args::duration;
use super::common::{print, read_traffic, CliError, Outcome};
use policy::fleet::rollout::{self, Options};
use policy::fleet::status::group_status;
use policy::fleet::Inventory;
use policy_lint as lint;
use policy_lint::render::human as lint_human;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Output format of the fleet commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table, and progress lines on stderr.
    Human,
    /// One JSON object.
    Json,
}

/// Arguments of `policy fleet`.
#[derive(Debug, clap::Args)]
pub struct FleetArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: FleetCommand,
}

/// Subcommands of `policy fleet`.
#[derive(Debug, clap::Subcommand)]
pub enum FleetCommand {
    /// Per gateway of a group: reachable, health, version, hash, pending restart; drift when
    /// the group serves more than one hash (exit 1).
    Status(StatusArgs),
}

/// Arguments of `policy fleet status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The inventory file.
    #[arg(long, value_name = "FILE")]
    pub inventory: PathBuf,
    /// One group (default: every group).
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// Arguments of `policy rollout`.
#[derive(Debug, clap::Args)]
pub struct RolloutArgs {
    /// The inventory file.
    #[arg(long, value_name = "FILE")]
    pub inventory: PathBuf,
    /// The group to roll out to.
    #[arg(long, value_name = "NAME")]
    pub group: String,
    /// The new config (default: the group's `config`, relative to the inventory).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Gateways per wave; the first wave is the canary.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,
    /// How long each wave's traffic is watched before its gates are read: 30s, 2m.
    #[arg(long, default_value = "30s", value_name = "DURATION")]
    pub bake: String,
    /// On a failed gate, put every updated gateway back on its previous config (else halt).
    #[arg(long)]
    pub rollback_on_error: bool,
    /// Largest change of a verdict's share, batch vs the gateways not yet updated, beyond what
    /// `--traffic` predicts (0.2 = 20 points).
    #[arg(long, default_value_t = 0.2, value_name = "X", value_parser = share)]
    pub max_verdict_shift: f64,
    /// Largest share of server errors (5xx) among a batch's responses.
    #[arg(long, default_value_t = 0.01, value_name = "X", value_parser = share)]
    pub max_error_rate: f64,
    /// Recorded traffic: the verdict shift its offline replay predicts is allowed.
    #[arg(long, value_name = "FILE")]
    pub traffic: Option<PathBuf>,
    /// Print the plan (per gateway: hot or restart, the changes, the predicted shift) and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Before the first wave, have every gateway of the group evaluate the new config beside
    /// its own on live traffic for this long (shadow evaluation: nothing of it is served), then
    /// gate on the summed counts: the share of changed requests against --max-verdict-shift
    /// (less the share --traffic predicts), every transition against --expect. A failed shadow
    /// gate halts the rollout with no gateway changed.
    #[arg(long, value_name = "DURATION")]
    pub shadow: Option<String>,
    /// With --shadow: the transitions the shadow may show, one `old->new` a line (`#`
    /// comments), as `policy replay --expect` reads them.
    #[arg(long, value_name = "FILE", requires = "shadow")]
    pub expect: Option<PathBuf>,
    /// Also append every update, gate reading and rollback to FILE as JSON Lines.
    #[arg(long, value_name = "FILE")]
    pub audit: Option<PathBuf>,
    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| CliError::Io {
            path: "<tokio runtime>".into(),
            source,
        })
}

fn inventory(path: &std::path::Path) -> Result<Inventory, CliError> {
    Inventory::load(path).map_err(|e| CliError::Usage(e.to_string()))
}

/// Run `policy fleet`.
pub fn run(args: FleetArgs) -> Result<Outcome, CliError> {
    let FleetCommand::Status(a) = args.command;
    let inv = inventory(&a.inventory)?;
    let name = a.inventory.display().to_string();
    let groups: Vec<String> = match &a.group {
        Some(g) => {
            inv.group(&name, g).map_err(|e| CliError::Usage(e.to_string()))?;
            vec![g.clone()]
        }
        None => inv.groups.keys().cloned().collect(),
    };
    let rt = runtime()?;
    let statuses: Vec<_> = groups
        .iter()
        .map(|g| rt.block_on(group_status(g, &inv.groups[g])))
        .collect();
    let out = match a.format {
        Format::Json => {
            let v = if statuses.len() == 1 {
                serde_json::to_value(&statuses[0])
            } else {
                serde_json::to_value(&statuses)
            };
            format!("{}\n", v.expect("status serialises"))
        }
        Format::Human => {
            let mut out = String::new();
            for s in &statuses {
                out.push_str(&format!(
                    "group {}: {} gateway(s), {}{}\n",
                    s.group,
                    s.gateways.len(),
                    if s.drift { "DRIFT: " } else { "" },
                    match s.hashes.len() {
                        0 => "no hash read".to_string(),
                        1 => format!("all on {}", s.hashes[0]),
                        n => format!("{n} different configs"),
                    }
                ));
                for g in &s.gateways {
                    let state = match (&g.error, g.healthy) {
                        (Some(e), _) => format!("unreachable: {e}"),
                        (None, true) => "ready".into(),
                        (None, false) => "not ready".into(),
                    };
                    out.push_str(&format!(
                        "  {:<16} {:<10} {:<8} {:<20} pending {:<3} {}\n",
                        g.name,
                        g.version.as_deref().unwrap_or("-"),
                        g.pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                        g.hash.as_deref().map(|h| &h[..h.len().min(19)]).unwrap_or("-"),
                        g.pending_restart.len(),
                        state
                    ));
                }
            }
            out
        }
    };
    print(&out)?;
    let consistent = statuses.iter().all(|s| !s.drift && s.healthy);
    Ok(if consistent { Outcome::Clean } else { Outcome::Findings })
}

/// A threshold given as a share: a number from 0 to 1 (NaN, a negative share or one above 1
/// would turn a gate off or make it fail everything, after the canary was touched).
fn share(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        Ok(_) => Err(format!("`{s}` is not a share from 0 to 1 (0.2 = 20 points)")),
        Err(e) => Err(format!("`{s}`: {e}")),
    }
}

/// Run `policy rollout`.
pub fn rollout(args: RolloutArgs) -> Result<Outcome, CliError> {
    let inv = inventory(&args.inventory)?;
    let inv_name = args.inventory.display().to_string();
    let group = inv
        .group(&inv_name, &args.group)
        .map_err(|e| CliError::Usage(e.to_string()))?
        .clone();
    let file = match (&args.file, &group.config) {
        (Some(f), _) => f.clone(),
        (None, Some(c)) => args.inventory.parent().unwrap_or(std::path::Path::new(".")).join(c),
        (None, None) => {
            return Err(CliError::Usage(format!(
                "group `{}` names no `config`: pass --file NEW",
                args.group
            )))
        }
    };
    // Lint first: a config with errors touches nothing.
    let (new, report) = match lint::load_config(&file) {
        Ok(loaded) => loaded,
        Err(lint::LoadError::Invalid { report, .. }) => {
            let text = match args.format {
                Format::Json => lint::render::json::render(std::slice::from_ref(&report)),
                Format::Human => lint_human::render(std::slice::from_ref(&report), lint_human::Style::detect()),
            };
            print(&text)?;
            return Ok(Outcome::Findings);
        }
        Err(e) => return Err(e.into()),
    };
    let traffic = match &args.traffic {
        Some(path) => Some(read_traffic(path)?.0),
        None => None,
    };
    let opts = Options {
        batch_size: args.batch_size as usize,
        bake: duration("--bake", &args.bake)?,
        rollback_on_error: args.rollback_on_error,
        max_verdict_shift: args.max_verdict_shift,
        max_error_rate: args.max_error_rate,
        traffic,
        dry_run: args.dry_run,
        shadow: args.shadow.as_deref().map(|d| duration("--shadow", d)).transpose()?,
        expect: args.expect.as_deref().map(super::replay::read_expect).transpose()?,
    };
    let audit_file = match &args.audit {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| CliError::Io {
                    path: path.display().to_string(),
                    source,
                })?,
        ),
        None => None,
    };
    let audit_file = std::sync::Mutex::new(audit_file);
    let audit = |mut event: serde_json::Value| {
        if let Some(f) = audit_file.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            event["ts"] = serde_json::Value::String(policy_contract::time::format_rfc3339(now_ms()));
            let _ = writeln!(f, "{event}");
        }
    };
    let progress = |line: &str| eprintln!("{line}");
    let interrupt = Arc::new(AtomicBool::new(false));
    let rt = runtime()?;
    let flag = Arc::clone(&interrupt);
    // Listened for from here on, not from whenever the task below first runs: a Ctrl-C in
    // between would otherwise end the process in the middle of an update.
    let ctrl_c = {
        let _in = rt.enter();
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
    };
    rt.spawn(async move {
        if let Ok(mut ctrl_c) = ctrl_c {
            ctrl_c.recv().await;
            eprintln!("interrupted: finishing the current gateway's update, then stopping");
            flag.store(true, Ordering::SeqCst);
        }
    });
    let text = report.source.to_string();
    let result = rt.block_on(rollout::run(
        &args.group,
        &group,
        &file.display().to_string(),
        &text,
        &new,
        &opts,
        &progress,
        &audit,
        &interrupt,
    ));
    let r = result?;
    let out = match args.format {
        Format::Json => format!("{}\n", serde_json::to_value(&r).expect("report serialises")),
        Format::Human => human(&r),
    };
    print(&out)?;
    Ok(match r.outcome {
        "completed" | "dry_run" => Outcome::Clean,
        _ => Outcome::Findings,
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn human(r: &rollout::Report) -> String {
    let mut out = format!(
        "policy rollout {} -> group {}: {} ({})\n",
        r.file, r.group, r.outcome, r.hash
    );
    for p in &r.plan {
        let n = p.changes.as_array().map_or(0, Vec::len);
        out.push_str(&format!("  plan  {:<16} {:<8} {n} change(s)\n", p.name, p.class));
    }
    if let Some(shift) = &r.predicted_shift {
        let parts: Vec<String> = shift.iter().map(|(k, v)| format!("{k} {:+.1}", v * 100.0)).collect();
        out.push_str(&format!("  predicted shift (points): {}\n", parts.join(", ")));
    }
    if let Some(sh) = &r.shadow {
        out.push_str(&format!(
            "  shadow {:.0} s on {} gateway(s): {} — {} of {} requests would change\n",
            sh.duration_s,
            sh.gateways.len(),
            if sh.passed { "passed" } else { "FAILED" },
            sh.changed,
            sh.requests
        ));
        for (k, n) in &sh.transitions {
            out.push_str(&format!("    {k:<24} {n:>6}\n"));
        }
        for g in &sh.gates {
            let verdict = if g.passed { "pass" } else { "FAIL" };
            out.push_str(&format!("    {:<18} {verdict} {}\n", g.name, g.detail));
        }
        if let Some(e) = &sh.error {
            out.push_str(&format!("    {e}\n"));
        }
    }
    for (i, w) in r.waves.iter().enumerate() {
        out.push_str(&format!(
            "  wave {} [{}]: {} in {:.1} s\n",
            i + 1,
            w.gateways.join(", "),
            if w.passed { "passed" } else { "FAILED" },
            w.duration_ms as f64 / 1000.0
        ));
        for g in &w.gates {
            out.push_str(&format!(
                "    {:<12} {} {}\n",
                g.name,
                if g.passed { "pass" } else { "FAIL" },
                g.detail
            ));
        }
        if let Some(e) = &w.error {
            out.push_str(&format!("    {e}\n"));
        }
    }
    if let Some(rb) = &r.rollback {
        out.push_str(&format!(
            "  rolled back {} in {} ms ({})\n",
            rb.gateways.join(", "),
            rb.breach_to_whole_ms,
            if rb.complete {
                "every gateway confirmed by hash"
            } else {
                "INCOMPLETE"
            }
        ));
        for e in &rb.errors {
            out.push_str(&format!("    {e}\n"));
        }
    }
    if let Some(i) = &r.interrupted {
        out.push_str(&format!("  {i}\n"));
    }
    out
}
