//! Zero-drop restart (SPEC §5): a new process takes over the listening sockets and runs the
//! new config in full, restart-class fields included, while not one connection is refused.
//!
//! The old process (triggered by SIGUSR2 or `POST /admin/restart`):
//! 1. lints and compiles the new config — errors end it here (422), nothing else happens;
//! 2. binds a private Unix socket and starts its own binary again with the same arguments
//!    plus `--upgrade-from SOCKET`;
//! 3. sends the new process a [`Handover`] with its listening sockets attached (SCM_RIGHTS:
//!    the same sockets, so connections queued in their backlogs are not lost — no
//!    `SO_REUSEPORT` overlap), its history and its revert target;
//! 4. waits for the new process's [`Ready`] (it has bound any changed address fresh, and
//!    serves); a process that exits or is not ready within [`READY_TIMEOUT`] is killed and
//!    the old one serves on (`policy_restart_failed`);
//! 5. only then stops accepting and drains (`serve.rs`, [`Stop::Handover`]), and exits.
//!
//! One restart at a time: a second is refused (409) while one runs. The new process's side
//! is [`receive`] and [`Upgrade::ready`], called from `main.rs` at startup.

use crate::journal::{log, now_ms};
use crate::reload::{self, Source};
use crate::state::{Active, Gateway, Stop};
use policy::contract::admin::{Answer, Applied, Identity, OpKind, OpOutcome, Operation, Rejected, Trigger};
use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage,
    SendFlags,
};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, IoSlice, IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The flag that makes a process the new side of a restart.
pub const UPGRADE_FLAG: &str = "--upgrade-from";

/// How long a new process may take from its start to serving: a config with thousands of
/// content rules compiles in a quarter of a second; a debug build on a loaded 2-core machine
/// starts in under one. Past this it is deemed hung and killed.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// Listening sockets handed over at most: the data plane and the admin plane.
const MAX_SOCKETS: usize = 2;

/// Which plane a listening socket serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plane {
    /// `gateway.listen`.
    Data,
    /// `gateway.admin.listen`.
    Admin,
}

/// A listening socket as the handover describes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Described {
    /// The plane it serves.
    pub plane: Plane,
    /// The address as configured (`127.0.0.1:0` stays `127.0.0.1:0`): `--listen` /
    /// `--admin-listen` when the instance overrides it (the next process has the same
    /// arguments, so it matches), else the config's.
    pub configured: String,
    /// The address it is bound to.
    pub bound: SocketAddr,
}

/// A listening socket of this process, kept (as a duplicate descriptor) for handing over.
#[derive(Debug)]
pub struct Listening {
    /// What it is.
    pub described: Described,
    /// A duplicate of the serve loop's descriptor: the same socket.
    pub fd: OwnedFd,
}

impl Listening {
    /// Keep `listener` (serving `plane`, configured as `configured`) for a later handover.
    pub fn of(plane: Plane, configured: &str, listener: &tokio::net::TcpListener) -> std::io::Result<Listening> {
        Ok(Listening {
            described: Described {
                plane,
                configured: configured.to_string(),
                bound: listener.local_addr()?,
            },
            fd: listener.as_fd().try_clone_to_owned()?,
        })
    }
}

/// What the old process tells the new one (JSON, after the sockets).
#[derive(Debug, Serialize, Deserialize)]
pub struct Handover {
    /// The config text to run (already linted and compiled once by the old process).
    pub config: String,
    /// Where it came from, for diagnostics (`--config`'s path or the admin body).
    pub label: String,
    /// The attached sockets, in order.
    pub sockets: Vec<Described>,
    /// The old process's history: the new one continues it.
    pub history: Vec<Operation>,
    /// The old process's active config text: the new process's revert target.
    pub revert_to: String,
    /// The old process's active config.
    pub from: Identity,
    /// What asked for the restart.
    pub trigger: Trigger,
    /// When the restart began (ms since the epoch): the restart's duration runs from here.
    pub started_ms: i64,
}

/// What the new process answers once it serves (one JSON line).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Ready {
    /// Its pid.
    pub pid: u32,
    /// Its `x-policy-instance`.
    pub instance: String,
    /// Its bound data-plane address.
    pub listen: SocketAddr,
    /// Its bound admin-plane address.
    pub admin_listen: SocketAddr,
    /// The config it runs.
    pub to: Identity,
    /// Its generation.
    pub generation: u64,
    /// The history entry it wrote for the restart.
    pub operation: Operation,
}

/// Run a zero-drop restart: the HTTP status and the answer for `POST /admin/restart`.
pub async fn restart(gw: &Arc<Gateway>, source: Source, trigger: Trigger) -> (u16, Answer) {
    if gw.restarting.swap(true, Ordering::SeqCst) {
        return (
            409,
            Answer::Rejected(Box::new(Rejected {
                error: "a restart is already running".into(),
                diagnostics: None,
                active: Some(gw.active.load().identity()),
                operation: None,
            })),
        );
    }
    let (code, answer) = run(gw, source, trigger).await;
    if code != 200 {
        gw.restarting.store(false, Ordering::SeqCst);
    }
    (code, answer)
}

async fn run(gw: &Arc<Gateway>, source: Source, trigger: Trigger) -> (u16, Answer) {
    let _one = gw.reload_lock.lock().await;
    let started = Instant::now();
    let started_ms = now_ms();
    let running = gw.active.load_full();
    let label = match &source {
        Source::File => gw.config_path.display().to_string(),
        Source::Text(_) => "<admin request body>".to_string(),
    };
    // 1. Validate and compile exactly as a start would, before anything else happens.
    let checked = {
        let (path, label, overrides) = (gw.config_path.clone(), label.clone(), gw.overrides.clone());
        tokio::task::spawn_blocking(move || -> Result<String, (String, Option<serde_json::Value>)> {
            let bytes = match source {
                Source::File => {
                    std::fs::read(&path).map_err(|e| (format!("cannot read {}: {e}", path.display()), None))?
                }
                Source::Text(b) => b,
            };
            reload::prepare(&label, &bytes, None, &overrides)
                .map_err(|r| (r.error, Some(r.diagnostics).filter(|d| !d.is_null())))?;
            // prepare accepted it, so it is UTF-8.
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        })
        .await
    };
    let text = match checked {
        Ok(Ok(text)) => text,
        Ok(Err((error, diagnostics))) => {
            let op = failed_op(gw, &running, trigger, started, OpOutcome::Rejected, &error);
            log(
                "ERROR",
                &format!(
                    "restart ({}) rejected, still serving {} {}: {error}",
                    trigger.as_str(),
                    running.version,
                    running.hash
                ),
            );
            return (
                422,
                Answer::Rejected(Box::new(Rejected {
                    error,
                    diagnostics,
                    active: Some(running.identity()),
                    operation: Some(op),
                })),
            );
        }
        Err(e) => {
            return fail(
                gw,
                &running,
                trigger,
                started,
                format!("restart worker failed: {e}"),
                None,
            )
        }
    };
    // 2.-4. Start the new process and hand the sockets over.
    let sockets: Vec<(Described, OwnedFd)> = {
        let kept = gw.listeners.lock().expect("listeners lock");
        let mut out = Vec::new();
        for l in kept.iter() {
            match l.fd.try_clone() {
                Ok(fd) => out.push((l.described.clone(), fd)),
                Err(e) => {
                    return fail(
                        gw,
                        &running,
                        trigger,
                        started,
                        format!("cannot duplicate a listening socket: {e}"),
                        None,
                    )
                }
            }
        }
        out
    };
    let handover = Handover {
        config: text,
        label,
        sockets: sockets.iter().map(|(d, _)| d.clone()).collect(),
        history: gw
            .history
            .lock()
            .expect("history lock")
            .entries
            .iter()
            .cloned()
            .collect(),
        revert_to: String::from_utf8_lossy(&running.source).into_owned(),
        from: running.identity(),
        trigger,
        started_ms,
    };
    let argv = gw.argv.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let fds: Vec<OwnedFd> = sockets.into_iter().map(|(_, fd)| fd).collect();
        start_successor(&argv, &handover, &fds)
    })
    .await;
    let ready = match outcome {
        Ok(Ok(r)) => r,
        Ok(Err((error, pid))) => return fail(gw, &running, trigger, started, error, pid),
        Err(e) => {
            return fail(
                gw,
                &running,
                trigger,
                started,
                format!("restart worker failed: {e}"),
                None,
            )
        }
    };
    // 5. The new process serves: stop accepting, drain, exit (main.rs watches the lifecycle).
    gw.listeners.lock().expect("listeners lock").clear();
    log(
        "INFO",
        &format!(
            "restart ({}): pid {} serves {} {} on http://{}, admin on http://{}; this process (pid {}) stops accepting and drains",
            trigger.as_str(),
            ready.pid,
            ready.to.version,
            ready.to.hash,
            ready.listen,
            ready.admin_listen,
            std::process::id()
        ),
    );
    let _ = gw.lifecycle.send(Stop::Handover);
    (
        200,
        Answer::Applied(Box::new(Applied {
            version: ready.to.version.clone(),
            hash: ready.to.hash.clone(),
            generation: ready.generation,
            previous: running.identity(),
            changes: None,
            pending_restart: Vec::new(),
            warnings: None,
            duration_ms: Some(crate::state::millis(started.elapsed())),
            operation: ready.operation,
            pid: Some(ready.pid),
            instance: Some(ready.instance),
            listen: Some(ready.listen.to_string()),
            admin_listen: Some(ready.admin_listen.to_string()),
        })),
    )
}

/// Record a restart that did not happen, in history and (as `policy_restart_failed`) in the
/// audit log.
fn failed_op(
    gw: &Gateway,
    running: &Active,
    trigger: Trigger,
    started: Instant,
    outcome: OpOutcome,
    error: &str,
) -> Operation {
    reload::record(
        gw,
        Operation {
            seq: 0,
            op: OpKind::Restart,
            trigger,
            outcome,
            at: String::new(),
            from: Some(running.identity()),
            to: None,
            duration_ms: crate::state::millis(started.elapsed()),
            changes: 0,
            pending_restart: running.pending_restart.clone(),
            error: Some(error.to_string()),
        },
        running,
        "policy_restart_failed",
    )
}

fn fail(
    gw: &Gateway,
    running: &Active,
    trigger: Trigger,
    started: Instant,
    error: String,
    pid: Option<u32>,
) -> (u16, Answer) {
    let error = match pid {
        Some(pid) => format!("the new process (pid {pid}) {error}; it was stopped and this one serves on"),
        None => format!("{error}; this process serves on"),
    };
    let op = failed_op(gw, running, trigger, started, OpOutcome::Failed, &error);
    log("ERROR", &format!("restart ({}) failed: {error}", trigger.as_str()));
    (
        500,
        Answer::Rejected(Box::new(Rejected {
            error,
            diagnostics: None,
            active: Some(running.identity()),
            operation: Some(op),
        })),
    )
}

/// Blocking: bind the handover socket, start the new process, hand over, wait for [`Ready`].
/// On failure the new process is killed; the error names why (and its pid, once started).
fn start_successor(
    argv: &[std::ffi::OsString],
    handover: &Handover,
    fds: &[OwnedFd],
) -> Result<Ready, (String, Option<u32>)> {
    let path = socket_path();
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).map_err(|e| (format!("cannot bind {}: {e}", path.display()), None))?;
    let _cleanup = RemoveOnDrop(path.clone());
    let exe = std::env::current_exe().map_err(|e| (format!("cannot find this binary: {e}"), None))?;
    let mut child = Command::new(&exe)
        .args(argv)
        .arg(UPGRADE_FLAG)
        .arg(&path)
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| (format!("cannot start {}: {e}", exe.display()), None))?;
    let pid = child.id();
    match handshake(&listener, &mut child, handover, fds) {
        Ok(ready) => Ok(ready),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err((e, Some(pid)))
        }
    }
}

fn handshake(
    listener: &UnixListener,
    child: &mut Child,
    handover: &Handover,
    fds: &[OwnedFd],
) -> Result<Ready, String> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let exited = |child: &mut Child| -> Option<String> {
        child
            .try_wait()
            .ok()
            .flatten()
            .map(|s| format!("exited ({s}) before it was ready"))
    };
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let stream = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if let Some(why) = exited(child) {
                    return Err(why);
                }
                if Instant::now() > deadline {
                    return Err(format!("did not connect within {READY_TIMEOUT:?}"));
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(format!("handover socket: {e}")),
        }
    };
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    let body = serde_json::to_vec(handover).expect("a handover serialises");
    let header = (body.len() as u64).to_le_bytes();
    let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(|f| f.as_fd()).collect();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_SOCKETS))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&borrowed)) {
        return Err("too many sockets to hand over".into());
    }
    let sent = sendmsg(&stream, &[IoSlice::new(&header)], &mut control, SendFlags::empty())
        .map_err(|e| format!("cannot send the sockets: {e}"))?;
    if sent != header.len() {
        return Err("the handover header was cut short".into());
    }
    (&stream)
        .write_all(&body)
        .map_err(|e| format!("cannot send the handover: {e}"))?;
    // Wait for the ready line, checking on the process while it starts.
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(&stream);
    let mut line = String::new();
    loop {
        match reader.read_line(&mut line) {
            Ok(0) => return Err(exited(child).unwrap_or_else(|| "closed the handover before it was ready".into())),
            Ok(_) if line.ends_with('\n') => break,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                if let Some(why) = exited(child) {
                    return Err(why);
                }
                if Instant::now() > deadline {
                    return Err(format!("was not ready within {READY_TIMEOUT:?}"));
                }
            }
            Err(e) => return Err(format!("handover socket: {e}")),
        }
    }
    serde_json::from_str(line.trim()).map_err(|e| format!("answered the handover with {line:?}: {e}"))
}

/// Where the handover socket lives: private to this process and this restart.
fn socket_path() -> PathBuf {
    std::env::temp_dir().join(format!(
        "policy-gateway-upgrade-{}-{}.sock",
        std::process::id(),
        now_ms()
    ))
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The new process's end of a restart: what it was handed, and the connection to say
/// [`Ready`] on.
pub struct Upgrade {
    /// What the old process sent.
    pub handover: Handover,
    /// The attached sockets, matched to `handover.sockets` by position.
    sockets: Vec<(Described, OwnedFd)>,
    stream: UnixStream,
}

/// Connect to the old process at `path` and receive the handover (blocking, at startup).
pub fn receive(path: &Path) -> Result<Upgrade, String> {
    let stream = UnixStream::connect(path).map_err(|e| format!("cannot connect to {}: {e}", path.display()))?;
    stream
        .set_read_timeout(Some(READY_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut header = [0u8; 8];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_SOCKETS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = recvmsg(
        &stream,
        &mut [IoSliceMut::new(&mut header)],
        &mut control,
        RecvFlags::CMSG_CLOEXEC,
    )
    .map_err(|e| format!("cannot receive the sockets: {e}"))?;
    if got.bytes != header.len() {
        return Err("the handover header was cut short".into());
    }
    let mut fds = Vec::new();
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(received) = msg {
            fds.extend(received);
        }
    }
    let mut body = vec![0u8; u64::from_le_bytes(header) as usize];
    (&stream)
        .read_exact(&mut body)
        .map_err(|e| format!("cannot read the handover: {e}"))?;
    let handover: Handover = serde_json::from_slice(&body).map_err(|e| format!("the handover is not valid: {e}"))?;
    if fds.len() != handover.sockets.len() {
        return Err(format!(
            "{} sockets described, {} received",
            handover.sockets.len(),
            fds.len()
        ));
    }
    let sockets = handover.sockets.iter().cloned().zip(fds).collect();
    Ok(Upgrade {
        handover,
        sockets,
        stream,
    })
}

impl Upgrade {
    /// The inherited socket for `plane` when the new config keeps its address (same text as
    /// configured before, or an address equal to the bound one); `None`: bind it fresh.
    pub fn take(&mut self, plane: Plane, configured: &str) -> Option<std::net::TcpListener> {
        let i = self.sockets.iter().position(|(d, _)| {
            d.plane == plane && (d.configured == configured || configured.parse::<SocketAddr>().ok() == Some(d.bound))
        })?;
        let (_, fd) = self.sockets.remove(i);
        Some(std::net::TcpListener::from(fd))
    }

    /// Tell the old process this one serves. Sockets not taken are closed here.
    pub fn ready(mut self, ready: &Ready) {
        self.sockets.clear();
        let mut line = serde_json::to_string(ready).expect("ready serialises");
        line.push('\n');
        if let Err(e) = self.stream.write_all(line.as_bytes()) {
            log(
                "WARN",
                &format!("restart: cannot tell the old process this one is ready: {e}"),
            );
        }
    }
}
