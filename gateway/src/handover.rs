//! The handover protocol of a zero-drop restart (docs/operator/restart.md), both ends: what the old
//! process sends the new one ([`Handover`], with the listening sockets attached by SCM_RIGHTS: the
//! same sockets, so connections queued in their backlogs are not lost — no `SO_REUSEPORT`
//! overlap) and what the new one answers once it serves ([`Ready`]).
//!
//! The old process's end is [`start_successor`]: bind a private Unix socket, start this binary
//! again with the same arguments plus [`UPGRADE_FLAG`] SOCKET, hand over, wait for [`Ready`]
//! within [`READY_TIMEOUT`] (else kill it). The new process's end is [`receive`] and
//! [`Upgrade::ready`], called from `main.rs` at startup. [`Listening`] is how a process keeps
//! its sockets for a later handover (`Gateway::listeners`).
//!
//! It knows nothing of the gateway's state: deciding to restart, validating the config,
//! recording the outcome and draining afterwards are `restart.rs`'s and `serve.rs`'s.

use crate::journal::{log, now_ms};
use policy_contract::admin::{Identity, Operation, Origin, Trigger};
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
    /// Where `config` came from (absent from a gateway that predates it).
    #[serde(default)]
    pub origin: Option<Origin>,
    /// Where `revert_to` came from (absent from a gateway that predates it).
    #[serde(default)]
    pub revert_origin: Option<Origin>,
    /// The shadow candidate's text, when one runs: the new process shadows it too.
    #[serde(default)]
    pub shadow: Option<String>,
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
/// Blocking: bind the handover socket, start the new process, hand over, wait for [`Ready`].
/// On failure the new process is killed; the error names why (and its pid, once started).
pub fn start_successor(
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
