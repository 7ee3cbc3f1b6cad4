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
}

impl Via {
    /// Every way, in the order `--reload-via` lists them.
    pub const ALL: [Via; 4] = [Via::Admin, Via::Sighup, Via::File, Via::Restart];

    /// The way named `name` (`admin`, `sighup`, `file` or `restart`).
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
