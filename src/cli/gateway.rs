//! `policy gateway status|reload|revert|restart|shadow` (docs/guide/gateway.md): the operator's client of
//! one running gateway's admin plane, so nobody hand-writes curl and kill.
//!
//! This file owns the command line (which format; where the admin plane is and which token is
//! `admin_target`'s), the local lint before anything is sent, the plan shown before a reload, and how answers are
//! printed and end the command (0 done, 1 refused). The HTTP calls are `policy_replay::admin_client`'s;
//! reloads, reverts and restarts themselves are the gateway's — nothing here decides whether
//! a config may be applied beyond refusing to send one lint rejects.

use super::admin_target::{client, Format, Reach, TargetArgs};
use super::common::{load_all, print, print_refused, CliError, Loaded, Outcome};
use super::status_view::{human as status_human, json as status_json};
use policy_config::Config;
use policy_contract::admin::{Answer, Applied, HistoryEntry, OpKind, Rejected};
use policy_diff::{self as diff, render};
use policy_lint::{self as lint, render::human as lint_human, FileReport};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// Arguments of `policy gateway`.
#[derive(Debug, clap::Args)]
pub struct GatewayArgs {
    /// What to do with the gateway.
    #[command(subcommand)]
    pub command: GatewayCommand,
}

/// The subcommands of `policy gateway`.
#[derive(Debug, clap::Subcommand)]
pub enum GatewayCommand {
    /// Active version and hash, pid, uptime, pending restart; with --history the recorded
    /// operations.
    Status(StatusArgs),
    /// Lint FILE locally (errors: print them, send nothing, exit 1), show the plan against the
    /// running config, then reload the gateway with it. Without FILE the gateway re-reads its
    /// own file.
    Reload(TargetArgs),
    /// Back to the previous known-good config (a second revert undoes the first).
    Revert(TargetArgs),
    /// Zero-drop restart: a new process takes over the listeners and applies restart-class
    /// changes too. FILE is linted locally first, as for reload.
    Restart(TargetArgs),
    /// Shadow evaluation: a candidate config evaluated beside the active one on every live
    /// request, counted, never served.
    #[command(subcommand)]
    Shadow(super::shadow::ShadowCommand),
}

/// Arguments of `policy gateway status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// How to reach the gateway.
    #[command(flatten)]
    pub target: TargetArgs,
    /// List the recorded operations too (`operations_history`).
    #[arg(long)]
    pub history: bool,
    /// Only the operations of this kind (implies --history).
    #[arg(long, value_enum, value_name = "ACTION")]
    pub action: Option<Action>,
}

/// An operation kind to filter the history by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Action {
    /// The process started.
    Start,
    /// A new config was proposed.
    Reload,
    /// The previous config was put back.
    Revert,
    /// A new process took over.
    Restart,
}

impl Action {
    fn kind(self) -> OpKind {
        match self {
            Action::Start => OpKind::Start,
            Action::Reload => OpKind::Reload,
            Action::Revert => OpKind::Revert,
            Action::Restart => OpKind::Restart,
        }
    }
}

/// Run `policy gateway`.
pub fn run(args: GatewayArgs) -> Result<Outcome, CliError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Io {
            path: "<tokio runtime>".into(),
            source,
        })?;
    match args.command {
        GatewayCommand::Status(a) => rt.block_on(status(a)),
        GatewayCommand::Reload(t) => rt.block_on(reload(t)),
        GatewayCommand::Revert(t) => rt.block_on(revert(t)),
        GatewayCommand::Restart(t) => rt.block_on(restart(t)),
        GatewayCommand::Shadow(c) => rt.block_on(super::shadow::run(c)),
    }
}

/// A config given with `--config`, linted.
struct Local {
    config: Config,
    report: FileReport,
    text: String,
    path: PathBuf,
}

/// Lint `--config` if given. `Err(Outcome::Findings)` after printing the diagnostics exactly
/// as `policy lint` does, when it has errors.
fn lint_local(t: &TargetArgs) -> Result<Result<Option<Local>, Outcome>, CliError> {
    let Some(path) = &t.config else { return Ok(Ok(None)) };
    match load_all([lint::load_config(path)])? {
        Loaded::Valid(mut v) => {
            let (config, report) = v.pop().expect("one config");
            let text = report.source.as_str().to_string();
            Ok(Ok(Some(Local {
                config,
                report,
                text,
                path: path.clone(),
            })))
        }
        Loaded::Invalid(invalid) => Ok(Err(print_refused(t.format == Format::Json, &invalid)?)),
    }
}

/// `policy gateway status`.
async fn status(a: StatusArgs) -> Result<Outcome, CliError> {
    let client = client(&a.target, Reach::leniently(&a.target)?)?;
    let s = client.status().await?;
    let history: Option<Vec<HistoryEntry>> = if a.history || a.action.is_some() {
        let h = client.history().await?;
        Some(
            h.operations
                .iter()
                .filter(|op| a.action.is_none_or(|want| op.op == want.kind()))
                .map(HistoryEntry::from)
                .collect(),
        )
    } else {
        None
    };
    let out = match a.target.format {
        Format::Json => format!("{}\n", status_json(&s, history.as_deref())),
        Format::Human => status_human(&s, history.as_deref()),
    };
    print(&out)?;
    Ok(Outcome::Clean)
}

/// `policy gateway reload`.
async fn reload(t: TargetArgs) -> Result<Outcome, CliError> {
    let local = match lint_local(&t)? {
        Ok(l) => l,
        Err(refused) => return Ok(refused),
    };
    let client = client(&t, Reach::of(local.as_ref().map(|l| &l.config)))?;
    let before = client.status().await?;
    // Without --config the gateway re-reads its own file: say so when that is not what serves.
    if let (None, Some(origin)) = (&local, before.served_from_elsewhere()) {
        eprintln!(
            "warning: the gateway will re-read {}, but the active config came from {origin}: the file replaces it",
            before.config_path
        );
    }
    let mut out = String::new();
    let mut plan_json = Value::Null;
    if let Some(l) = &local {
        let running = client.config().await?;
        let plan = diff::classify(&running, &l.config);
        let old_name = format!("running {} on {}", before.version, client.admin);
        let new_name = l.path.display().to_string();
        match t.format {
            Format::Human => {
                let inputs = render::Inputs {
                    old_name: &old_name,
                    new_name: &new_name,
                    new_doc: l.report.document.as_ref(),
                };
                out.push_str(&render::human(&plan, &inputs, colour()));
                out.push('\n');
            }
            Format::Json => plan_json = render::to_json(&plan),
        }
    }
    let (code, answer) = client.reload(local.as_ref().map_or("", |l| l.text.as_str())).await?;
    let pack = local
        .as_ref()
        .map_or(before.pack.clone(), |l| l.config.pack.name.clone());
    finish(&t, out, plan_json, code, &answer, |a| match &answer {
        Answer::Unchanged(_) => format!("unchanged: {pack} already runs version {} ({})\n", a.version, a.hash),
        _ => format!(
            "reloaded {pack} to version {} ({}), {} change(s)\n",
            a.version, a.hash, a.operation.changes
        ),
    })
}

/// `policy gateway revert`.
async fn revert(t: TargetArgs) -> Result<Outcome, CliError> {
    let client = client(&t, Reach::leniently(&t)?)?;
    let before = client.status().await?;
    let (code, answer) = client.revert().await?;
    // The reverted-to config may name another pack: ask (the operation is done either way).
    let pack = client.status().await.map_or(before.pack, |s| s.pack);
    finish(&t, String::new(), Value::Null, code, &answer, |a| {
        format!(
            "reverted {pack} to version {} ({}), from {}\n",
            a.version, a.hash, a.previous.version
        )
    })
}

/// `policy gateway restart`.
async fn restart(t: TargetArgs) -> Result<Outcome, CliError> {
    let local = match lint_local(&t)? {
        Ok(l) => l,
        Err(refused) => return Ok(refused),
    };
    let client = client(&t, Reach::of(local.as_ref().map(|l| &l.config)))?;
    let before = client.status().await?;
    let (code, answer) = client.restart(local.as_ref().map_or("", |l| l.text.as_str())).await?;
    let pack = local
        .as_ref()
        .map_or(before.pack.clone(), |l| l.config.pack.name.clone());
    finish(&t, String::new(), Value::Null, code, &answer, |a| {
        let new_pid = a.pid.map_or("?".to_string(), |p| p.to_string());
        let mut line = format!(
            "restarted {pack} to version {} ({}): pid {} -> {new_pid}",
            a.version, a.hash, before.pid
        );
        if let Some(i) = &a.instance {
            line.push_str(&format!(", instance {} -> {i}", before.instance));
        }
        if let Some(admin) = a.admin_listen.as_deref().filter(|x| *x != before.admin_listen) {
            line.push_str(&format!("; admin plane now at {admin}"));
        }
        line.push('\n');
        line
    })
}

/// Print the gateway's answer (after `out`, the plan in human form) and decide: applied or
/// unchanged is done (0), anything else refused (1). `done` is the human line of success.
fn finish(
    t: &TargetArgs,
    mut out: String,
    plan: Value,
    code: u16,
    answer: &Answer,
    done: impl FnOnce(&Applied) -> String,
) -> Result<Outcome, CliError> {
    let outcome = if answer.applied().is_some() {
        Outcome::Clean
    } else {
        Outcome::Findings
    };
    match t.format {
        Format::Json => {
            let mut m = Map::new();
            if !plan.is_null() {
                m.insert("plan".into(), plan);
            }
            m.insert("http_status".into(), json!(code));
            m.insert("answer".into(), json!(answer));
            out = format!("{}\n", Value::Object(m));
        }
        Format::Human => match answer {
            Answer::Applied(a) | Answer::Unchanged(a) => {
                out.push_str(&done(a));
                if let Some(w) = a.warnings.as_ref().filter(|w| !w.is_empty()) {
                    out.push_str(&format!("  {} lint warning(s):\n", w.len()));
                    out.push_str(&diagnostic_lines(w));
                }
                if !a.pending_restart.is_empty() {
                    // Without `--config` a restart re-reads the gateway's own file:
                    // the text just sent is what must be named again.
                    let with = t
                        .config
                        .as_ref()
                        .map_or(String::new(), |p| format!(" --config {}", p.display()));
                    out.push_str(&format!(
                        "  pending restart (changed but not applied): {}\n  run `policy gateway restart{with}` to apply them\n",
                        a.pending_restart.join(", ")
                    ));
                }
            }
            Answer::Rejected(r) => out.push_str(&refusal(code, r)),
            Answer::Skipped { reason } => out.push_str(&format!("skipped: {reason}\n")),
        },
    }
    print(&out)?;
    Ok(outcome)
}

/// A refused operation, with the diagnostics the gateway's lint gave.
fn refusal(code: u16, r: &Rejected) -> String {
    let mut out = format!("refused (HTTP {code}): {}\n", r.error);
    if let Some(d) = r.diagnostics.as_ref().and_then(Value::as_array) {
        out.push_str(&diagnostic_lines(d));
    }
    if let Some(a) = &r.active {
        out.push_str(&format!("  still serving version {} ({})\n", a.version, a.hash));
    }
    out
}

/// Lint diagnostics (in their JSON shape, as the gateway sends them) one a line:
/// `error[P304] line 12:18 /pointer: message`.
fn diagnostic_lines(diags: &[Value]) -> String {
    let field = |d: &Value, k: &str| {
        d.get(k)
            .map_or(String::new(), |v| v.as_str().map_or(v.to_string(), str::to_string))
    };
    diags
        .iter()
        .map(|d| {
            format!(
                "  {}[{}] line {}:{} {}: {}\n",
                field(d, "severity"),
                field(d, "code"),
                field(d, "line"),
                field(d, "column"),
                field(d, "pointer"),
                field(d, "message")
            )
        })
        .collect()
}

fn colour() -> bool {
    lint_human::Style::detect() == lint_human::Style::Graphical
}
