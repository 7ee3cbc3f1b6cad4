//! What a live run is given — where the gateway is, how much load, how to switch configs —
//! and why a run could not happen at all. Plain data: every other part of the harness reads it.

use serde::Serialize;
use std::net::SocketAddr;
use std::time::Duration;

/// How the reloader switches configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// `POST /admin/reload` with the config as the body.
    Admin,
    /// Rewrite the gateway's config file, then SIGHUP its process.
    Sighup,
    /// Rewrite the gateway's config file and let `--watch` notice.
    File,
    /// `POST /admin/restart` with the config as the body: a zero-drop restart, a new process
    /// each time (the second config runs in full, restart-class fields included).
    Restart,
    /// Command mode: the operator's `--reload-cmd` after the side's file replaced
    /// `--config-path`; any gateway. Chosen by `--reload-cmd`, not by `--reload-via`.
    Command,
}

impl Via {
    /// Every way `--reload-via` names, in its order (command mode is chosen by `--reload-cmd`).
    pub const ALL: [Via; 4] = [Via::Admin, Via::Sighup, Via::File, Via::Restart];

    /// The way `--reload-via` names `name` (`admin`, `sighup`, `file` or `restart`).
    pub fn from_name(name: &str) -> Option<Via> {
        Via::ALL.into_iter().find(|v| v.as_str() == name)
    }

    /// `admin`, `sighup`, `file` or `restart`.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Admin => "admin",
            Via::Sighup => "sighup",
            Via::File => "file",
            Via::Restart => "restart",
            Via::Command => "command",
        }
    }
}

/// When the load stops.
#[derive(Debug, Clone, Copy)]
pub enum Until {
    /// After this many requests.
    Requests(u64),
    /// After this long.
    Duration(Duration),
}

/// Where the gateway is.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Data plane.
    pub data: SocketAddr,
    /// Admin plane.
    pub admin: SocketAddr,
    /// Bearer token for the admin plane.
    pub token: Option<String>,
}

/// Load and reload settings.
#[derive(Debug, Clone)]
pub struct Options {
    /// Keep-alive connections.
    pub concurrency: usize,
    /// Requests per second over all connections; `None` = closed loop (as fast as answered).
    pub rate: Option<f64>,
    /// When to stop.
    pub until: Until,
    /// Switches, alternating B, A, B, …, spread evenly over the run.
    pub reloads: usize,
    /// How to switch.
    pub via: Via,
    /// A request not answered within this is a drop (`timeout`).
    pub timeout: Duration,
    /// Command mode's settings; `None` in spawn and attach modes.
    pub command: Option<CommandMode>,
}

/// Command mode: how the operator's gateway is switched, and how long a switch may take to be
/// observed.
#[derive(Debug, Clone)]
pub struct CommandMode {
    /// Run with `sh -c` for each switch, with `POLICY_SIDE` (`old` or `new`) and
    /// `POLICY_CONFIG_PATH` in its environment.
    pub cmd: String,
    /// The gateway's config file: replaced (by rename) with the side's bytes before the command
    /// runs, and put back at the end.
    pub config_path: Option<std::path::PathBuf>,
    /// A switch not observed within this (or a command still running) is a reload failure.
    pub switch_timeout: Duration,
}

/// How a response is attributed to A or B: a response header, and the value each side answers
/// with (learned during the run where not given: the value answering before the first switch is
/// A's, the first other value after it is B's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    /// The header, lower case.
    pub header: String,
    /// A's value and B's value.
    pub ids: [Option<String>; 2],
}

/// Why the live replay could not run (as opposed to ran and found problems).
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The configs are not usable for a live proof.
    #[error("{0}")]
    Setup(String),
    /// The gateway could not be reached or prepared.
    #[error("{0}")]
    Gateway(String),
    /// The gateway process could not be started (spawn mode).
    #[error(transparent)]
    Process(#[from] crate::process::ProcessError),
}
