//! Operating a fleet (docs/guide/fleet.md): the inventory that names the gateways, what each one
//! says about itself, and the rollout that moves a group onto a new config batch by batch, gated on
//! health, errors and the verdict mix, rolled back when a gate fails.
//!
//! ```text
//! inventory.rs  the inventory file: groups of gateways (name, admin URL, token variable)
//! metrics.rs    reading the counters a gate needs from a gateway's Prometheus text
//! status.rs     one gateway's state (status, health, metrics), read concurrently for a group
//! gates.rs      the gates: health and hash, error rate, verdict mix against a control
//! rollout.rs    preflight, plan, waves, bake, gates, rollback
//! report.rs     the JSON report: plan, waves with gate readings, before/after, rollback
//! ```
//!
//! Talks to gateways only through `policy_replay::admin_client` (the admin plane) and their `/health`; what to
//! print and which exit code follows is the CLI's business.

pub mod gates;
pub mod inventory;
pub mod metrics;
pub mod report;
pub mod rollout;
pub mod status;

pub use inventory::{GatewayEntry, Group, Inventory};
