//! `policy-config`: the one config model and what every other crate reads from it.
//!
//! ```text
//! model/      serde + schemars types, one file per section; doc comments are the user docs;
//!             `x-reload`, `x-diff` and `x-enforce` annotations per field
//! yaml/       the YAML reader: saphyr's events -> serde_json::Value + span tree (builder),
//!             depth and alias guards, mappings while they are read (pairs), lookup by pointer
//!             (spans), YAML 1.2 core scalars (scalars)
//! schema.rs   the JSON Schema generated from the types, and the per-pointer facts read back
//!             from it: reload class, allowed keys, how a change weakens enforcement
//! pointer.rs  JSON pointer tokens: escape, unescape, join, split
//! address.rs  listen addresses (`host:port`): parse and loopback, for lint and the gateway
//! ```
//!
//! This crate depends on no other crate of the workspace, and it never reports to a user:
//! turning a loaded document into a checked `Config` with diagnostics is `policy_lint`'s job.

#![deny(missing_docs)]

pub mod address;
pub mod model;
pub mod pointer;
pub mod schema;
pub mod yaml;

pub use model::*;
