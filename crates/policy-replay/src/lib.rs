//! `policy-replay`: recorded traffic against two configs, offline and live, and the clients
//! of a running gateway the live harness and the CLI share.
//!
//! ```text
//! traffic.rs       the recorded formats (JSON Lines, HAR 1.2): whole files, malformed lines
//! offline.rs       every request under both configs with the one engine: what changes
//! live/            the live harness: plan, load, the reloader's switch, analysis, spawn mode
//! html.rs          the live run's HTML report
//! process.rs       a policy-gateway child process: start, wait for its serving line, signal,
//!                  stop on drop
//! admin_client.rs  the admin-plane client of a running gateway (status, history, config,
//!                  reload, revert, restart) and why a call got no usable answer
//! ```

#![deny(missing_docs)]

pub mod admin_client;
pub mod html;
pub mod live;
pub mod offline;
pub mod process;
pub mod traffic;
