//! `policy replay --live`: the gateway side of the live replay. Either attaches to a running
//! gateway (`--gateway URL --admin URL`) or starts `policy-gateway` itself on free loopback
//! ports with a temporary copy of A, and stops it (by its pid) at the end.
//!
//! The load, the reloads and the checks are `replay::live`'s; this module only finds the
//! gateway, prints and writes the report.

use super::replay::{Format, ReplayArgs};
use super::{print, CliError, Outcome};
use crate::config::{Config, MockSettings, ProviderKind};
use crate::replay::live::{self, Endpoint, Options, Plan, Report, Until, Via};
use crate::replay::{html, offline, traffic};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a spawned gateway may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Parse `10s`, `500ms`, `2m` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or((s, "s"), |i| s.split_at(i));
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 10s, 500ms or 2m"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}` (use ms, s or m)")),
    };
    if !secs.is_finite() || secs <= 0.0 {
        return Err(format!("`{s}` must be a positive duration"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A `policy-gateway` this command started; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Spawned {
    child: Child,
    dir: PathBuf,
    /// Its stderr so far, for error messages.
    pub log: Arc<Mutex<String>>,
    /// Where it listens.
    pub endpoint: Endpoint,
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What a spawned gateway runs: `c` on free loopback ports, admin without a token (it is
/// local to this run), and with `mock`, every target answered by the mock provider.
pub fn for_spawn(mut c: Config, mock: bool) -> Config {
    c.gateway.listen = "127.0.0.1:0".into();
    c.gateway.admin.listen = "127.0.0.1:0".into();
    c.gateway.admin.token_env = None;
    if mock {
        for t in &mut c.providers.targets {
            t.provider = ProviderKind::Mock;
            t.base_url = None;
            t.secret_key_ref = None;
            t.mock.get_or_insert_with(MockSettings::default);
        }
    }
    c
}

/// The `policy-gateway` to start: `explicit`, else the one next to this binary.
pub fn gateway_binary(explicit: Option<&Path>) -> Result<PathBuf, CliError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let exe = std::env::current_exe().map_err(|e| CliError::Usage(format!("cannot locate this binary: {e}")))?;
    let beside = exe.with_file_name("policy-gateway");
    if beside.exists() {
        return Ok(beside);
    }
    Err(CliError::Usage(format!(
        "policy-gateway is not next to {}: build it (`cargo build --release --workspace`) or pass --gateway-bin, or attach to a running gateway with --gateway URL --admin URL",
        exe.display()
    )))
}

/// Start `bin` on `config_text` (written to a fresh temporary directory, also its working
/// directory), with `--watch` when asked.
pub fn spawn(bin: &Path, config_text: &str, watch: bool) -> Result<Spawned, CliError> {
    let dir = std::env::temp_dir().join(format!(
        "policy-replay-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let io = |source: std::io::Error| CliError::Io {
        path: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(io)?;
    let path = dir.join("policy-config.yaml");
    std::fs::write(&path, config_text).map_err(io)?;
    let mut cmd = Command::new(bin);
    cmd.arg("--config")
        .arg(&path)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if watch {
        cmd.arg("--watch");
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| CliError::Usage(format!("cannot start {}: {e}", bin.display())))?;
    let log = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().expect("piped");
    let sink = Arc::clone(&log);
    // Drained for the child's whole life, so its log can never block it.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let mut l = sink.lock().unwrap_or_else(|p| p.into_inner());
            l.push_str(&line);
            l.push('\n');
        }
    });
    let mut spawned = Spawned {
        child,
        dir,
        log,
        endpoint: Endpoint {
            data: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: None,
        },
    };
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let text = spawned.log.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some((data, admin)) = serving_addresses(&text) {
            spawned.endpoint.data = data;
            spawned.endpoint.admin = admin;
            return Ok(spawned);
        }
        if let Ok(Some(status)) = spawned.child.try_wait() {
            return Err(CliError::Usage(format!(
                "policy-gateway exited ({status}) before serving:\n{text}"
            )));
        }
        if Instant::now() > deadline {
            return Err(CliError::Usage(format!(
                "policy-gateway did not start within {START_TIMEOUT:?}:\n{text}"
            )));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The addresses in the gateway's `serving … on http://DATA, admin on http://ADMIN` log
/// line (the gateway's tests read it the same way).
pub fn serving_addresses(log: &str) -> Option<(SocketAddr, SocketAddr)> {
    let line = log.lines().find(|l| l.contains(" serving "))?;
    let mut addrs = line
        .split("http://")
        .skip(1)
        .map(|s| s.split([',', ' ']).next().unwrap_or_default().parse::<SocketAddr>());
    Some((addrs.next()?.ok()?, addrs.next()?.ok()?))
}

fn url_addr(flag: &str, url: &str) -> Result<SocketAddr, CliError> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        CliError::Usage(format!(
            "{flag} {url}: only http:// gateways can be driven (the load runs on loopback)"
        ))
    })?;
    let host = rest.split('/').next().unwrap_or_default();
    use std::net::ToSocketAddrs;
    host.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| CliError::Usage(format!("{flag} {url}: not a host:port")))
}

/// Start a gateway on `a` (see [`for_spawn`]), run the live replay against it, stop it.
pub fn run_spawned(
    bin: &Path,
    a: (String, Config),
    b: (String, Config),
    mock: bool,
    recorded: &[traffic::Recorded],
    opts: &Options,
) -> Result<(Report, Plan), CliError> {
    let (ca, cb) = (for_spawn(a.1, mock), for_spawn(b.1, mock));
    // JSON is YAML: the canonical config, written as the gateway will read it.
    let text = |c: &Config| serde_json::to_string_pretty(c).expect("a Config serialises");
    let (ta, tb) = (text(&ca), text(&cb));
    let spawned = spawn(bin, &ta, opts.via == Via::File)?;
    let plan = Plan::new((a.0, ta, ca), (b.0, tb, cb), recorded).map_err(|e| CliError::Usage(e.to_string()))?;
    let report = live::run(&plan, &spawned.endpoint, opts).map_err(|e| {
        let log = spawned.log.lock().unwrap_or_else(|p| p.into_inner()).clone();
        CliError::Usage(format!("{e}\npolicy-gateway's log:\n{log}"))
    })?;
    Ok((report, plan))
}

/// Run the live replay as `args` asks.
pub fn run(
    args: &ReplayArgs,
    a: (Config, String),
    b: (Config, String),
    recorded: &[traffic::Recorded],
) -> Result<Outcome, CliError> {
    let until = match (args.requests, &args.duration) {
        (Some(n), _) => Until::Requests(n),
        (None, d) => Until::Duration(parse_duration(d).map_err(CliError::Usage)?),
    };
    let opts = Options {
        concurrency: args.concurrency.max(1),
        rate: args.rate,
        until,
        reloads: args.reloads,
        via: args.reload_via,
        timeout: parse_duration(&args.timeout).map_err(CliError::Usage)?,
    };
    let names = (args.old.display().to_string(), args.new.display().to_string());
    let (report, plan, _spawned) = match (&args.gateway, &args.admin) {
        (Some(g), Some(adm)) => {
            let token = match &args.token_env {
                Some(var) => Some(
                    std::env::var(var)
                        .map_err(|_| CliError::Usage(format!("--token-env {var}: the variable is not set")))?,
                ),
                None => None,
            };
            let ep = Endpoint {
                data: url_addr("--gateway", g)?,
                admin: url_addr("--admin", adm)?,
                token,
            };
            let plan = Plan::new((names.0, a.1, a.0), (names.1, b.1, b.0), recorded)
                .map_err(|e| CliError::Usage(e.to_string()))?;
            let report = live::run(&plan, &ep, &opts).map_err(|e| CliError::Usage(e.to_string()))?;
            (report, plan, None)
        }
        (None, None) => {
            let bin = gateway_binary(args.gateway_bin.as_deref())?;
            let (report, plan) = run_spawned(&bin, (names.0, a.0), (names.1, b.0), args.mock, recorded, &opts)?;
            (report, plan, None::<()>)
        }
        _ => {
            return Err(CliError::Usage(
                "--gateway and --admin go together (a running gateway), or neither (spawn one)".into(),
            ))
        }
    };
    if let Some(path) = &args.report {
        let diff = offline::replay(&plan.sides()[0].config, &plan.sides()[1].config, recorded).ok();
        std::fs::write(path, html::render(&report, diff.as_ref())).map_err(|source| CliError::Io {
            path: path.display().to_string(),
            source,
        })?;
    }
    let out = match args.format {
        Format::Json => {
            let mut v = serde_json::to_value(&report).expect("report serialises");
            if let Some(m) = v.as_object_mut() {
                m.remove("timeline");
            }
            format!("{v}\n")
        }
        Format::Human => human(&report, args.report.as_deref()),
    };
    print(&out)?;
    Ok(if report.passed {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

/// The human summary.
pub fn human(r: &Report, html: Option<&Path>) -> String {
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
        let label = c["label"].as_str().unwrap_or_default();
        out.push_str(&format!(
            "  {label} {} {} ({}): {} responses\n",
            c["version"].as_str().unwrap_or_default(),
            c["hash"].as_str().unwrap_or_default(),
            c["source"].as_str().unwrap_or_default(),
            r.responses_by_config.get(label).copied().unwrap_or(0)
        ));
    }
    let l = &r.latency_ms;
    out.push_str(&format!(
        "  latency ms: p50 {} p90 {} p99 {} max {}; steady p99 {}, near reloads p99 {}\n",
        l.p50, l.p90, l.p99, l.max, r.latency_steady_ms.p99, r.latency_near_reload_ms.p99
    ));
    out.push_str(&format!(
        "  reload duration ms: p50 {} p99 {} max {}\n",
        r.reload_duration_ms.p50, r.reload_duration_ms.p99, r.reload_duration_ms.max
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
