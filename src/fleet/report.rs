//! What a rollout reports (`policy rollout --format json`, schema/output/rollout.schema.json): the
//! plan, every wave with its gate readings, each gateway's hash before and after, and the rollback.
//! Plain data, built by `rollout.rs`, printed by the CLI.

use super::gates::Gate;
use serde::Serialize;
use std::collections::BTreeMap;

/// A change to one gateway, as planned.
#[derive(Debug, Clone, Serialize)]
pub struct Planned {
    /// Its inventory name.
    pub name: String,
    /// `hot`, `restart` or `none` (already on the new config).
    pub class: &'static str,
    /// The changes, as `policy diff --format json` lists them.
    pub changes: serde_json::Value,
    /// The hash it serves now.
    pub before: String,
}

/// One wave.
#[derive(Debug, Clone, Serialize)]
pub struct Wave {
    /// Its gateways.
    pub gateways: Vec<String>,
    /// The gate readings (empty when the update itself failed or the run was interrupted).
    pub gates: Vec<Gate>,
    /// Whether the wave may be followed by the next.
    pub passed: bool,
    /// From the first update to the last gate, milliseconds.
    pub duration_ms: u64,
    /// Why it did not pass, when no gate says (an update failed, an interruption).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Where one gateway started and ended.
#[derive(Debug, Clone, Serialize)]
pub struct GatewayOutcome {
    /// Its inventory name.
    pub name: String,
    /// The hash it served before.
    pub before: String,
    /// The hash it serves at the end.
    pub after: Option<String>,
}

/// The rollback, when there was one.
#[derive(Debug, Clone, Serialize)]
pub struct Rollback {
    /// Gateways put back.
    pub gateways: Vec<String>,
    /// Whether each is confirmed (by hash) on its previous config.
    pub complete: bool,
    /// From the failed gate's reading to the last gateway confirmed, milliseconds.
    pub breach_to_whole_ms: u64,
    /// What failed while rolling back.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// The report (the documented JSON, plus the plan and the rollback).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The group.
    pub group: String,
    /// The new config file.
    pub file: String,
    /// Its hash: what every gateway should serve at the end.
    pub hash: String,
    /// `completed`, `rolled_back`, `halted` or `dry_run`.
    pub outcome: &'static str,
    /// The plan per gateway.
    pub plan: Vec<Planned>,
    /// The predicted share shift per verdict (new minus old), from `traffic`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicted_shift: Option<BTreeMap<&'static str, f64>>,
    /// The waves run.
    pub waves: Vec<Wave>,
    /// Each gateway's hash before and after.
    pub gateways: Vec<GatewayOutcome>,
    /// The rollback, if one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
    /// Set when Ctrl-C stopped the rollout: where the fleet stands.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interrupted: Option<String>,
    /// The shadow stage, when `--shadow` ran one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow: Option<ShadowStage>,
}

/// The shadow stage: the new config evaluated beside the running one on every gateway, never
/// served, its counts summed and gated before any wave.
#[derive(Debug, Clone, Serialize)]
pub struct ShadowStage {
    /// How long the shadow ran, seconds.
    pub duration_s: f64,
    /// Each gateway's final shadow report.
    pub gateways: Vec<ShadowGateway>,
    /// Requests evaluated by both, over every gateway.
    pub requests: u64,
    /// Of them, those whose verdict the new config would change.
    pub changed: u64,
    /// The changed requests by transition (`old->new`), over every gateway.
    pub transitions: BTreeMap<String, u64>,
    /// The gates read on the sums.
    pub gates: Vec<Gate>,
    /// Whether the waves may start.
    pub passed: bool,
    /// Why the stage could not be read (a gateway refused the shadow, or could not be reached).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One gateway's shadow report.
#[derive(Debug, Clone, Serialize)]
pub struct ShadowGateway {
    /// Its inventory name.
    pub name: String,
    /// What `DELETE /admin/shadow` answered.
    pub report: policy_contract::admin::ShadowReport,
}
