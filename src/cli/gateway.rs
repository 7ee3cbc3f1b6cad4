//! `policy gateway status|reload|revert|restart` (SPEC §5): the operator's client of one
//! running gateway's admin plane, so nobody hand-writes curl and kill.
//!
//! This file owns the command line (where the admin plane is, which token, which format), the
//! local lint before anything is sent, the plan shown before a reload, and how answers are
//! printed and end the command (0 done, 1 refused). The HTTP calls are `policy::admin_client`'s;
//! reloads, reverts and restarts themselves are the gateway's — nothing here decides whether
//! a config may be applied beyond refusing to send one lint rejects.

use super::args::http_addr;
use super::common::{load_all, print, CliError, Loaded, Outcome};
use super::status_view::{human as status_human, json as status_json};
use policy::admin_client::AdminClient;
use policy::config::Config;
use policy::contract::admin::{Answer, Applied, HistoryEntry, OpKind, Rejected};
use policy::diff::{self, render};
use policy::lint::{self, render::human as lint_human, FileReport, LoadError};
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where a gateway's admin plane is when neither `--admin` nor a config says: the default of
/// `gateway.admin.listen`, on loopback.
pub const DEFAULT_ADMIN: &str = "http://127.0.0.1:41003";

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
}

/// How to reach the gateway; every subcommand takes these.
#[derive(Debug, clap::Args)]
pub struct TargetArgs {
    /// The config: reload and restart send it (after a local lint); every subcommand derives
    /// the admin address and the token variable from it when --admin / --token-env are absent.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The admin plane, e.g. http://127.0.0.1:41003 (default: the config's
    /// `gateway.admin.listen`, else http://127.0.0.1:41003).
    #[arg(long, value_name = "URL")]
    pub admin: Option<String>,
    /// The environment variable holding the admin bearer token (default: the config's
    /// `gateway.admin.token_env`; none: no token).
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
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

/// Output formats of `policy gateway`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Lines for people.
    Human,
    /// One JSON object (SPEC §5).
    Json,
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
        Loaded::Invalid(invalid) => {
            let text = match t.format {
                Format::Json => lint::render::json::render(&invalid),
                Format::Human => lint_human::render(&invalid, lint_human::Style::detect()),
            };
            print(&text)?;
            Ok(Err(Outcome::Findings))
        }
    }
}

/// The admin address `gateway.admin.listen` implies for a client: a wildcard host means this
/// machine's loopback; port 0 (a free port picked at start) cannot be known in advance.
pub fn admin_from_listen(listen: &str) -> Result<SocketAddr, String> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, ToSocketAddrs};
    let mut addr = listen
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("gateway.admin.listen `{listen}` is not a host:port"))?;
    if addr.port() == 0 {
        return Err(format!(
            "gateway.admin.listen `{listen}` is a free port picked at start: pass the bound address with --admin (policy gateway status prints it)"
        ));
    }
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    Ok(addr)
}

/// The admin address: `--admin`, else the config's `gateway.admin.listen`, else
/// [`DEFAULT_ADMIN`].
pub fn admin_addr(flag: Option<&str>, listen: Option<&str>) -> Result<SocketAddr, CliError> {
    match (flag, listen) {
        (Some(url), _) => http_addr("--admin", url),
        (None, Some(listen)) => {
            admin_from_listen(listen).map_err(|e| CliError::Usage(format!("cannot derive --admin from --config: {e}")))
        }
        (None, None) => http_addr("--admin", DEFAULT_ADMIN),
    }
}

/// What `--config` says about reaching the gateway.
#[derive(Default)]
struct Reach {
    /// `gateway.admin.listen`.
    listen: Option<String>,
    /// `gateway.admin.token_env`.
    token_env: Option<String>,
}

impl Reach {
    fn of(config: Option<&Config>) -> Reach {
        config.map_or_else(Reach::default, |c| Reach {
            listen: Some(c.gateway.admin.listen.clone()),
            token_env: c.gateway.admin.token_env.clone(),
        })
    }

    /// For `status` and `revert`, which send no config: `--config`'s admin settings even when
    /// the file has lint errors, read from its YAML (a broken push is when an operator needs
    /// status and revert most), with a warning on stderr.
    fn leniently(t: &TargetArgs) -> Result<Reach, CliError> {
        let Some(path) = &t.config else {
            return Ok(Reach::default());
        };
        match lint::load_config(path) {
            Ok((config, _)) => Ok(Reach::of(Some(&config))),
            Err(LoadError::Invalid { errors, report, .. }) => {
                let Some(doc) = report.document.as_ref() else {
                    if t.admin.is_some() {
                        return Ok(Reach::default());
                    }
                    return Err(CliError::Usage(format!(
                        "{} is not valid YAML, so the admin address cannot be read from it: pass --admin",
                        path.display()
                    )));
                };
                let at = |p: &str| doc.value.pointer(p).and_then(Value::as_str).map(String::from);
                eprintln!(
                    "warning: {} has {errors} lint error(s); the gateway is reached with its `gateway.admin` settings all the same",
                    path.display()
                );
                Ok(Reach {
                    listen: at("/gateway/admin/listen"),
                    token_env: at("/gateway/admin/token_env"),
                })
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The client for `t`: the address, and the token from `--token-env` or the config's
/// `token_env` (named but unset: a usage error, sending nothing).
fn client(t: &TargetArgs, reach: Reach) -> Result<AdminClient, CliError> {
    let admin = admin_addr(t.admin.as_deref(), reach.listen.as_deref())?;
    let var = t.token_env.clone().or(reach.token_env);
    let token = match var {
        Some(var) => match std::env::var(&var) {
            Ok(v) if !v.is_empty() => Some(v),
            _ => {
                return Err(CliError::Usage(format!(
                    "--token-env {var}: the variable is not set (it holds the admin bearer token)"
                )))
            }
        },
        None => None,
    };
    Ok(AdminClient::new(admin, token))
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

/// SPEC §5's object: `version`, `hash`, `pid`, `pending_restart` first, then what else the
/// status says, then `operations_history` when asked for.
/// `policy gateway reload`.
async fn reload(t: TargetArgs) -> Result<Outcome, CliError> {
    let local = match lint_local(&t)? {
        Ok(l) => l,
        Err(refused) => return Ok(refused),
    };
    let client = client(&t, Reach::of(local.as_ref().map(|l| &l.config)))?;
    let before = client.status().await?;
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
                    // Without `--config` a restart re-reads the gateway's own file (SPEC §5):
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

/// SPEC §2 diagnostics (as the gateway sends them) one a line: `error[P304] line 12:18
/// /pointer: message`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_address_comes_from_the_flag_then_the_config_then_the_default() {
        let config = |listen: &str| {
            let text = format!(
                "pack: {{ name: p, version: 1.0.0 }}\ngateway:\n  admin: {{ listen: \"{listen}\", token_env: T }}\nproviders:\n  targets: [{{ id: m, provider: mock }}]\npolicies:\n  chain: []\n"
            );
            lint::load_config_str("c.yaml", &text).expect("a valid config").0
        };
        let listen = |c: &Config| Reach::of(Some(c)).listen;
        let c = config("127.0.0.1:5000");
        assert_eq!(
            admin_addr(None, listen(&c).as_deref()).unwrap(),
            "127.0.0.1:5000".parse().unwrap()
        );
        assert_eq!(
            admin_addr(Some("http://127.0.0.1:6000"), listen(&c).as_deref()).unwrap(),
            "127.0.0.1:6000".parse().unwrap()
        );
        assert_eq!(admin_addr(None, None).unwrap(), "127.0.0.1:41003".parse().unwrap());
        // A wildcard listener is reached on loopback.
        assert_eq!(
            admin_addr(None, listen(&config("0.0.0.0:7000")).as_deref()).unwrap(),
            "127.0.0.1:7000".parse().unwrap()
        );
        assert_eq!(admin_from_listen("[::]:7000").unwrap(), "[::1]:7000".parse().unwrap());
        // Port 0 is picked at start: no address can be derived.
        assert!(
            matches!(admin_addr(None, listen(&config("127.0.0.1:0")).as_deref()), Err(CliError::Usage(m)) if m.contains("--admin"))
        );
        assert!(matches!(admin_addr(Some("https://x:1"), None), Err(CliError::Usage(_))));
    }
}
