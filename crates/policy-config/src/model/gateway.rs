//! The `gateway:` and `telemetry:` sections: where the gateway listens, its admin plane,
//! request limits and worker threads — mostly restart-class — and its telemetry identity.
//! Shape only: see the `model` module docs for the annotations every field carries.

use super::defaults::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Process-level settings of the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    /// Address of the data plane, `host:port`. Default: `0.0.0.0:41002`. Reload: restart
    /// (a bound socket cannot move).
    #[serde(default = "default_listen")]
    #[schemars(extend("x-reload" = "restart", "x-expected" = "a socket address `host:port`, like `0.0.0.0:41002`"))]
    pub listen: String,

    /// Number of data-plane threads, 1 to 1024. Each serves the connections handed to it
    /// (round-robin) on a runtime of its own, with its own upstream connections. Default: 2.
    /// Reload: restart (the threads start once).
    #[serde(default = "default_worker_threads")]
    #[schemars(range(min = 1, max = 1024), extend("x-reload" = "restart"))]
    pub worker_threads: u32,

    /// Pin each data-plane thread to a CPU of its own, taken in turn from the CPUs the process
    /// may run on (as nginx's `worker_cpu_affinity auto` does): a thread and its connections
    /// then stay in one CPU's caches and are not moved between CPUs under load, which keeps
    /// the latency tail short. Leave it off where other busy processes share the CPUs the
    /// gateway may use. Default: false. Reload: restart (the threads start once).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(extend("x-reload" = "restart"))]
    pub pin_workers: bool,

    /// The admin plane: reload, revert, status, history, metrics. Reload: hot, except `listen`.
    #[serde(default)]
    #[schemars(extend("x-reload" = "hot"))]
    pub admin: Admin,

    /// Request limits of the data plane. Reload: hot.
    #[serde(default)]
    #[schemars(extend("x-reload" = "hot"))]
    pub limits: Limits,
}

/// The admin listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// Address of the admin plane, `host:port`. Default: `127.0.0.1:41003`. Reload: restart.
    #[serde(default = "default_admin_listen")]
    #[schemars(extend("x-reload" = "restart", "x-expected" = "a socket address `host:port`, like `127.0.0.1:41003`"))]
    pub listen: String,

    /// Name of the environment variable holding the admin bearer token (never the token itself).
    /// Required when `listen` is not a loopback address. Optional otherwise. Reload: hot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[A-Za-z_][A-Za-z0-9_]*$"),
        extend("x-reload" = "hot", "x-expected" = "an environment variable name, like `POLICY_ADMIN_TOKEN`")
    )]
    pub token_env: Option<String>,
}

/// Limits applied to every data-plane request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest accepted request body, in bytes; larger bodies get HTTP 413.
    /// Default: 1048576 (1 MiB). Reload: hot.
    #[serde(default = "default_max_body_bytes")]
    #[schemars(range(min = 1), extend("x-reload" = "hot", "x-enforce" = {"weakens": "never"}))]
    pub max_body_bytes: u64,

    /// Time budget of one request, in milliseconds, from admission to the last byte.
    /// Default: 30000. Reload: hot.
    #[serde(default = "default_timeout_ms")]
    #[schemars(range(min = 1), extend("x-reload" = "hot", "x-enforce" = {"weakens": "never"}))]
    pub request_timeout_ms: u64,

    /// After SIGTERM, how long requests in flight (streams included) get to finish, in
    /// milliseconds; a stream still open then ends with an SSE `error` event naming the
    /// shutdown, never a silent cut. Keep it below the supervisor's stop timeout (systemd
    /// `TimeoutStopSec`, Kubernetes `terminationGracePeriodSeconds`). Default: 60000.
    /// Reload: hot.
    #[serde(default = "default_drain_timeout_ms")]
    #[schemars(range(min = 1), extend("x-reload" = "hot", "x-enforce" = {"weakens": "never"}))]
    pub drain_timeout_ms: u64,
}

/// Telemetry of the gateway process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Telemetry {
    /// Service name: the `service` label of `gateway_service_info` on `/metrics` and the
    /// `service` field of every request's audit event. Default: `policy-gateway`. Reload:
    /// restart.
    #[serde(default = "default_service_name")]
    #[schemars(length(min = 1), extend("x-reload" = "restart"))]
    pub service_name: String,
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry {
            service_name: default_service_name(),
        }
    }
}

impl Default for Gateway {
    fn default() -> Self {
        Gateway {
            listen: default_listen(),
            worker_threads: default_worker_threads(),
            pin_workers: false,
            admin: Admin::default(),
            limits: Limits::default(),
        }
    }
}

impl Default for Admin {
    fn default() -> Self {
        Admin {
            listen: default_admin_listen(),
            token_env: None,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: default_max_body_bytes(),
            request_timeout_ms: default_timeout_ms(),
            drain_timeout_ms: default_drain_timeout_ms(),
        }
    }
}

fn default_listen() -> String {
    "0.0.0.0:41002".into()
}

fn default_admin_listen() -> String {
    "127.0.0.1:41003".into()
}

fn default_worker_threads() -> u32 {
    2
}

fn default_max_body_bytes() -> u64 {
    1_048_576
}

fn default_service_name() -> String {
    "policy-gateway".into()
}
