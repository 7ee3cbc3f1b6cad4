//! The reloader's one move: switch the gateway to a side (admin API, SIGHUP after rewriting
//! the file, the rewrite alone for `--watch`, or a zero-drop restart) and wait for the gateway
//! to confirm it.
//!
//! The admin calls themselves are [`crate::admin_client`]'s (shared with `policy gateway`); this
//! module only turns their errors into the harness's [`LiveError`] and decides what confirms
//! a switch.

use super::analysis::ReloadEvent;
use super::options::{Endpoint, LiveError, Via};
use super::plan::Side;
use crate::admin_client::{AdminClient, ClientError};
use crate::process::{send_signal, Signal};
use policy_contract::admin::{Answer, History, Status};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a SIGHUP or file reload may take to show up in `/admin/status`.
const CONFIRM_WITHIN: Duration = Duration::from_secs(10);

fn client(ep: &Endpoint) -> AdminClient {
    AdminClient::new(ep.admin, ep.token.clone())
}

fn gateway_error(e: ClientError) -> LiveError {
    LiveError::Gateway(e.to_string())
}

/// `GET /admin/status`.
pub async fn status(ep: &Endpoint) -> Result<Status, LiveError> {
    client(ep).status().await.map_err(gateway_error)
}

/// `GET /admin/history`.
pub async fn history(ep: &Endpoint) -> Result<History, LiveError> {
    client(ep).history().await.map_err(gateway_error)
}

/// `POST /admin/reload` with `text` as the body: the status code and the gateway's answer.
pub async fn reload(ep: &Endpoint, text: &str) -> Result<(u16, Answer), LiveError> {
    client(ep).reload(text).await.map_err(gateway_error)
}

/// Replace `path` the way editors do (temp file, then rename), so a watcher never reads half.
/// A symlink is followed (its target is replaced, the link stays), and the file keeps its
/// permissions.
pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.policy-replay.tmp"));
    std::fs::write(&tmp, bytes)?;
    if let Ok(meta) = std::fs::metadata(&path) {
        std::fs::set_permissions(&tmp, meta.permissions())?;
    }
    std::fs::rename(&tmp, &path)
}

/// `POST /admin/restart` with `text` as the body: the status code and the gateway's answer.
pub async fn restart(ep: &Endpoint, text: &str) -> Result<(u16, Answer), LiveError> {
    client(ep).restart(text).await.map_err(gateway_error)
}

/// A zero-drop restart onto `side`, checked: the new process serves the side's hash in full
/// (nothing pending) under a new pid. `ep` and `status` follow the new process (its admin
/// address may have moved).
async fn restart_onto(ep: &mut Endpoint, status: &mut Status, side: &Side) -> Result<Option<f64>, String> {
    let (code, answer) = restart(ep, &side.text).await.map_err(|e| e.to_string())?;
    let Some(a) = answer.applied().filter(|_| code == 200) else {
        let why = match &answer {
            Answer::Rejected(r) => r.error.clone(),
            other => format!("status {:?}", other.status()),
        };
        return Err(format!("restart to {}: HTTP {code}: {why}", side.label));
    };
    if let Some(admin) = a.admin_listen.as_deref().and_then(|s| s.parse().ok()) {
        ep.admin = admin;
    }
    let pid = a.pid.unwrap_or_default();
    let problem = if a.hash != side.hash {
        Some(format!("serves {} (expected {})", a.hash, side.hash))
    } else if !a.pending_restart.is_empty() {
        Some(format!("still has pending restart fields {:?}", a.pending_restart))
    } else if pid == status.pid {
        Some(format!("the pid did not change ({pid})"))
    } else {
        None
    };
    status.pid = pid;
    match problem {
        Some(p) => Err(format!("restart to {}: {p}", side.label)),
        None => Ok(a.duration_ms),
    }
}

/// Switch the gateway to `side` and wait for its confirmation. `status` is what the gateway
/// said before the run (its pid and config path); a restart moves `ep` and `status` to the new
/// process.
pub(super) async fn switch(
    ep: &mut Endpoint,
    via: Via,
    status: &mut Status,
    side: &Side,
    start: Instant,
) -> ReloadEvent {
    let at = start.elapsed();
    let kind = if via == Via::Restart { Via::Restart } else { Via::Admin };
    let mut ev = ReloadEvent::begun(side.label, at.as_secs_f64(), kind);
    if via == Via::Restart {
        let result = restart_onto(ep, status, side).await;
        ev.done_s = start.elapsed().as_secs_f64();
        ev.pid = Some(status.pid);
        match result {
            Ok(d) => {
                ev.ok = true;
                ev.duration_ms = d;
            }
            Err(e) => ev.error = Some(e),
        }
        return ev;
    }
    let ep = &*ep;
    let status = &*status;
    let result: Result<Option<f64>, String> = async {
        if via == Via::Admin {
            let (code, answer) = reload(ep, &side.text).await.map_err(|e| e.to_string())?;
            return match answer.applied() {
                Some(a) if code == 200 && a.hash == side.hash => Ok(a.duration_ms),
                Some(a) => Err(format!(
                    "HTTP {code}, status {:?}, serving {:?} (expected {})",
                    answer.status(),
                    a.hash,
                    side.hash
                )),
                None => Err(format!(
                    "HTTP {code}, status {:?} (expected {}): {}",
                    answer.status(),
                    side.hash,
                    match &answer {
                        Answer::Rejected(r) => r.error.as_str(),
                        _ => "",
                    }
                )),
            };
        }
        let path = Path::new(&status.config_path);
        write_atomically(path, side.text.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        if via == Via::Sighup {
            send_signal(status.pid, Signal::HUP).map_err(|e| e.to_string())?;
        }
        let deadline = Instant::now() + CONFIRM_WITHIN;
        loop {
            let now = self::status(ep).await.map_err(|e| e.to_string())?;
            if now.hash == side.hash {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the gateway still serves {} {CONFIRM_WITHIN:?} after the switch to {} ({})",
                    now.hash, side.label, side.hash
                ));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let history = history(ep).await.map_err(|e| e.to_string())?;
        Ok(history
            .operations
            .iter()
            .rev()
            .find(|o| o.to.as_ref().is_some_and(|t| t.hash == side.hash))
            .map(|o| o.duration_ms))
    }
    .await;
    ev.done_s = start.elapsed().as_secs_f64();
    match result {
        Ok(d) => {
            ev.ok = true;
            ev.duration_ms = d;
        }
        Err(e) => ev.error = Some(e),
    }
    ev
}
