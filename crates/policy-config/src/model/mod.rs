//! The config model: the Rust types of `policy-config.yaml` (docs/reference/config.md).
//!
//! This file owns the *shape* of a config and nothing else: field names, defaults, value
//! constraints, and each field's reload class. The doc comment of every field is its user
//! documentation: it becomes the `description` of the generated JSON Schema, so it states
//! units, default and reload class. The reload class is declared with
//! `#[schemars(extend("x-reload" = ...))]` on every field, and `policy_config::schema` reads it back
//! from the generated schema; a field without one fails `tests/` (see `every_property_has_reload_class`).
//! Lists also declare how `policy diff` compares them, as `x-diff`: `by-id` (items matched by
//! their `id`, reorders reported), `set` (order carries no meaning), `ordered-set` (unique
//! items whose order matters: additions, removals and reorders). Other lists compare by position.
//!
//! Every enforcement-bearing field declares what it means for enforcement as `x-enforce`, an
//! object read back by `policy_config::schema::enforcement`; `policy diff` (which changes weaken
//! enforcement) and offline replay (which rules no request exercised) only interpret it, so a
//! new field carries its meaning here or fails `tests/` (see `enforcement_is_declared`).
//! - `weakens`: how a change weakens enforcement. `remove-item` (removing an item of this list),
//!   `lower-action` (the action changes to a weaker one; the enum lists its values strongest
//!   first), `switch-off` (changed to `false`), `raise-limit` (a number is raised), `never`
//!   (bears on enforcement, but no change to it is judged weakening).
//! - `says`: the reviewer's wording of the weakening, with `{old}`, `{new}` and `{old.KEY}`
//!   standing for the values (strings unquoted, `?` when absent).
//! - `rule`: what offline replay counts as exercised. `policy` (the settings block of the policy
//!   its key names: a change inside it is the whole policy, `*`), `policy-of-items` (the same,
//!   but adding the block adds each item of its rule lists), `inert-policy` (the block of a
//!   policy that never decides a verdict: nothing to exercise), `item-names-policy` (each item
//!   names a policy: adding one adds that whole policy), `item-by-id`, `item-by-index`
//!   (`KEY/INDEX`), `item-by-value` (each item of this list is a rule, named so).
//!
//! Loading (YAML with spans), validation and semantic rules live elsewhere
//! (`crate::yaml`, `policy_lint`); nothing here does I/O.
//!
//! ```text
//! mod.rs        the document root (`Config`) and `pack:`
//! gateway.rs    `gateway:` (listeners, admin, limits) and `telemetry:`
//! providers.rs  `providers:` targets and routes
//! policies.rs   `policies:` chain and the `policy:` blocks
//! ```

mod defaults;
mod gateway;
mod policies;
mod providers;

use defaults::*;
pub use gateway::*;
pub use policies::*;
pub use providers::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One `policy-config.yaml` document: the whole policy pack a gateway runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "policy-config", extend("x-reload" = "hot"))]
pub struct Config {
    /// Identity of the policy pack: name, version, on/off switch. Required. Reload: hot.
    #[schemars(extend("x-reload" = "hot"))]
    pub pack: Pack,

    /// Process-level settings of the gateway. Optional; every field has a default.
    /// Reload: hot, except `listen`, `worker_threads`, `pin_workers` and `admin.listen` (restart).
    #[serde(default)]
    #[schemars(extend("x-reload" = "hot"))]
    pub gateway: Gateway,

    /// Upstream targets requests are forwarded to. Required, at least one target. Reload: hot.
    #[schemars(extend("x-reload" = "hot"))]
    pub providers: Providers,

    /// Routing table: the first route whose `match.model` glob matches the request's `model`
    /// picks the target; no match goes to `providers.default`. Default: empty. Reload: hot.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-reload" = "hot"))]
    pub routes: Vec<Route>,

    /// Which policies run, in which order. Default: an empty chain (every request is allowed).
    /// Reload: hot.
    #[serde(default)]
    #[schemars(extend("x-reload" = "hot"))]
    pub policies: Policies,

    /// Settings of each policy kind. A kind in the chain without a block here runs with its
    /// defaults; a block for a kind that is not in the chain has no effect (lint warning P311).
    /// Reload: hot.
    #[serde(default)]
    #[schemars(extend("x-reload" = "hot"))]
    pub policy: PolicyBlocks,

    /// Telemetry of the gateway process. Optional. Reload: restart (the whole section).
    #[serde(default)]
    #[schemars(extend("x-reload" = "restart"))]
    pub telemetry: Telemetry,
}

/// Identity of a policy pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pack {
    /// Name of the pack: lowercase letters, digits and `-`, starting with a letter or digit.
    /// Required. Reload: hot.
    #[schemars(
        regex(pattern = r"^[a-z0-9][a-z0-9-]*$"),
        length(max = 128),
        extend("x-reload" = "hot", "x-expected" = "a name of lowercase letters, digits and '-', like `local-dev`")
    )]
    pub name: String,

    /// Version of the pack, a semantic version like `1.4.0` (quote it if YAML would read it as a
    /// number). Sent as `x-policy-config-version` on every response. Required. Reload: hot.
    #[schemars(
        regex(pattern = r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"),
        extend("x-reload" = "hot", "x-expected" = "a semver version like `1.0.0`")
    )]
    pub version: String,

    /// Master switch. `false` lets every request pass with verdict `allow`. Default: `true`.
    /// Reload: hot.
    #[serde(default = "default_true")]
    #[schemars(extend(
        "x-reload" = "hot",
        "x-enforce" = {"weakens": "switch-off", "says": "the pack is disabled: every request is allowed"}
    ))]
    pub enabled: bool,

    /// Free text for humans. Optional. Reload: hot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("x-reload" = "hot"))]
    pub description: Option<String>,
}

// Defaults are functions because serde's `default = "..."` takes a path; each returns the
// field's documented default.
#[cfg(test)]
mod tests {
    use super::*;

    /// `as_str` is written by hand for speed; it must say what serde says.
    #[test]
    fn names_match_serde() {
        for k in PolicyKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
        for t in PiiType::all() {
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }
}
