//! The one integration-test binary of `policy-gateway`: the real `policy-gateway` binary, real
//! sockets on 127.0.0.1, real signals, a real HTTP upstream on loopback.
//!
//! Modules (`cargo test -p policy-gateway <module>` runs one area):
//! - `support`       — harness: start the binary, loopback upstream, plain-socket HTTP client.
//! - `output_schemas` — `assert_valid`: a `policy` JSON output against its schema under
//!   `schema/output/` (gateway status, fleet status, rollout, live replay, where they are produced).
//! - `configs`       — the configs the areas start gateways with (`mock_config`,
//!   `upstream_config`, `FULL_CHAIN`).
//! - `proxy`         — data plane: headers, verdicts, real upstream (redaction, key, Anthropic,
//!   SSE), 502/504.
//! - `limits`        — 413, 400, 408, slow headers; others unaffected.
//! - `reload`        — bad reload rejected, revert, pending restart, in-flight pinning, watch.
//! - `admin`         — bearer token.
//! - `lifecycle`     — SIGTERM drains, SIGINT stops; audit log; `--record`.
//! - `openai_client` — the official OpenAI Python client against the gateway.
//! - `load`          — 32 connections for 10 s with 20 reloads: no error; RSS after 1,000 reloads.
//! - `live`          — `policy replay --live` (library and CLI) against the real binary, and proof
//!   that its checks fail when the gateway misbehaves.
//! - `restart`       — zero-drop restart: 10 under load (A/B differ in restart-class fields), a
//!   new process that cannot start, refusals, memory and descriptors over 100 restarts.
//! - `state`         — `--state-dir`: history and revert survive `kill -9`, corrupt and unusable
//!   state; `--check` exit codes.
//! - `systemd`       — sd_notify on `$NOTIFY_SOCKET`; the unit passes `systemd-analyze verify`.
//! - `operator`      — `policy gateway status|reload|revert` (the real `policy` binary): lint
//!   before sending, plan, revert, the operations history, refused token, closed port.
//! - `fleet`         — five gateways under load: `policy rollout` converges in waves, a blocking
//!   config is rolled back after the canary; preflight refusals; `policy fleet status` drift.
//! - `instance`      — `--listen`/`--admin-listen`: one file on two instances, one hash; a moved
//!   overridden address is not pending; a restart keeps the overrides; an open admin override.
//! - `health`        — `/health` liveness and `/health/ready` readiness from the target probe:
//!   closed port, mock, loopback listener, a reload probed at once.
//! - `faults`        — an audit log on a full disk (`/dev/full`, and a tmpfs that fills and
//!   empties where mounting is allowed): fail open, fail closed, recovery, no torn line.
//! - `chaos`         — `kill -9` at random points of 100 reload/restart cycles under load; killed
//!   and hung upstreams under load (502/504, no hang, others unaffected, descriptors back).
//! - `kubernetes`    — `--watch` under the kubelet's atomic-writer layout (`..data` symlink swaps);
//!   a watched folder that disappears and comes back.
//!
//! Tests wait for what the gateway reports (its serving line, `/admin/status`, history,
//! `/metrics`, a log line, the kernel's view of its connections) with a deadline
//! (`support::wait_until`), never for a while; a sleep left in a test is pacing or jitter that
//! is itself under test, and says so. Soak-sized runs (RSS over 1,000 reloads, 100 restarts,
//! 100 `kill -9` cycles, a rollout over five gateways) are `#[ignore = "soak: …"]`, so the
//! default `cargo test` stays quick; `.ci/test --soak` runs them (by hand:
//! `cargo test -p policy-gateway --test gateway -- --ignored`).

mod support;

#[path = "suite/output_schemas.rs"]
mod output_schemas;

#[path = "suite/configs.rs"]
mod configs;

#[path = "suite/proxy.rs"]
mod proxy;

#[path = "suite/limits.rs"]
mod limits;

#[path = "suite/reload.rs"]
mod reload;

#[path = "suite/admin.rs"]
mod admin;

#[path = "suite/lifecycle.rs"]
mod lifecycle;

#[path = "suite/openai_client.rs"]
mod openai_client;

#[path = "suite/load.rs"]
mod load;

#[path = "suite/live.rs"]
mod live;

#[path = "suite/command_mode.rs"]
mod command_mode;

#[path = "suite/shadow.rs"]
mod shadow;

#[path = "suite/restart.rs"]
mod restart;

#[path = "suite/state.rs"]
mod state;

#[path = "suite/systemd.rs"]
mod systemd;

#[path = "suite/operator.rs"]
mod operator;

#[path = "suite/fleet.rs"]
mod fleet;

#[path = "suite/instance.rs"]
mod instance;

#[path = "suite/health.rs"]
mod health;

#[path = "suite/kubernetes.rs"]
mod kubernetes;

#[path = "suite/faults.rs"]
mod faults;

#[path = "suite/chaos.rs"]
mod chaos;
