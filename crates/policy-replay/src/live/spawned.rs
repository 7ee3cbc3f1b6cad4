//! Spawn mode: a `policy-gateway` started for one run, on free loopback ports, from a
//! temporary copy of config A, and stopped (SIGTERM, by its own pid) when the run ends.
//!
//! Used by `policy replay --live` without `--gateway`, and by `policy demo`. The process
//! handling itself is `crate::process`'s; this module decides what the gateway runs.

use super::options::{Endpoint, LiveError, Options, Via};
use super::{Plan, Report};
use crate::process::{GatewayProcess, Launch};
use crate::traffic::Recorded;
use policy_config::{Config, MockSettings, ProviderKind};
use std::path::{Path, PathBuf};

/// What a spawned gateway runs: `c` on free loopback ports, admin without a token (it is
/// local to this run), and with `mock`, every target answered by the mock provider.
pub(crate) fn config_for_spawn(mut c: Config, mock: bool) -> Config {
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

/// A gateway started for a run, with the directory holding its config (its working
/// directory too, so relative audit paths land there). Both go when this is dropped: the
/// process first (fields drop in order), then the directory.
pub struct Spawned {
    /// The running gateway.
    pub process: GatewayProcess,
    /// Removes the directory on drop.
    _dir: TempDir,
}

impl Spawned {
    /// Where the gateway listens (no token: spawn mode's admin plane is local to the run).
    pub fn endpoint(&self) -> Endpoint {
        let s = self.process.serving();
        Endpoint {
            data: s.data,
            admin: s.admin,
            token: None,
        }
    }
}

/// A fresh directory under the system's temp dir, removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Start `bin` on `config_text` (written to a fresh temporary directory), with `--watch` when
/// asked.
pub fn spawn(bin: &Path, config_text: &str, watch: bool) -> Result<Spawned, LiveError> {
    let dir = TempDir(std::env::temp_dir().join(format!(
        "policy-replay-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    )));
    let io = |e: std::io::Error| LiveError::Setup(format!("{}: {e}", dir.0.display()));
    std::fs::create_dir_all(&dir.0).map_err(io)?;
    let path = dir.0.join("policy-config.yaml");
    std::fs::write(&path, config_text).map_err(io)?;
    let mut launch = Launch::new(bin, &path).current_dir(&dir.0);
    if watch {
        launch = launch.args(["--watch"]);
    }
    Ok(Spawned {
        process: launch.spawn()?,
        _dir: dir,
    })
}

/// Start a gateway on `a` (see [`config_for_spawn`]), run the live replay against it, stop it.
/// `a` and `b` are (name, config) pairs.
pub fn run_spawned(
    bin: &Path,
    a: (String, Config),
    b: (String, Config),
    mock: bool,
    recorded: &[Recorded],
    opts: &Options,
) -> Result<(Report, Plan), LiveError> {
    let (ca, cb) = (config_for_spawn(a.1, mock), config_for_spawn(b.1, mock));
    // JSON is YAML: the canonical config, written as the gateway will read it.
    let text = |c: &Config| serde_json::to_string_pretty(c).expect("a Config serialises");
    let (ta, tb) = (text(&ca), text(&cb));
    let spawned = spawn(bin, &ta, opts.via == Via::File)?;
    let plan = Plan::for_via((a.0, ta, ca), (b.0, tb, cb), recorded, opts.via)?;
    let report = super::run(&plan, &spawned.endpoint(), opts);
    // After restarts the gateway serving is a successor of the one started here: stop it too.
    let successor = match &report {
        Ok(r) => r.final_pid,
        Err(_) => None,
    };
    if let Some(pid) = successor.filter(|p| *p != spawned.process.pid()) {
        crate::process::stop_pid(pid, crate::process::STOP_GRACE);
    }
    let mut report =
        report.map_err(|e| LiveError::Gateway(format!("{e}\npolicy-gateway's log:\n{}", spawned.process.log())))?;
    report.mode = "spawn";
    Ok((report, plan))
}
