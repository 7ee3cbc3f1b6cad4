//! `policy`: lint, classify and replay the policy config of an API / LLM gateway.
//!
//! # Architecture
//!
//! ```text
//! config/        the one config model (serde + schemars types) and YAML loading with spans
//!   model.rs     Rust types of SPEC §1; doc comments = user docs; `x-reload` on every field
//!   pointer.rs   JSON pointer tokens: escape, unescape, join, split (shared by all stages)
//!   yaml/        the YAML reader: builder.rs (saphyr-parser events -> serde_json::Value +
//!                span tree, depth/alias guards), spans.rs (span tree, lookup by pointer),
//!                scalars.rs (YAML 1.2 core-schema scalars and tags)
//! schema.rs      schema generation, and per-pointer facts read back from it (reload class, keys)
//! lint/          diagnostics: schema errors mapped to nodes, one semantic rule per file,
//!                output formats (human via miette, json, github, sarif)
//! diff/          classify(old, new) -> Plan: every change with its reload class (shared with
//!                the gateway's reload pipeline)
//! engine/        compile(config) -> Engine; evaluate(request, now) -> Decision (shared with
//!                offline replay and the gateway)
//! replay/        traffic formats (SPEC §4 JSONL, HAR), the offline comparison, the live
//!                harness (load + reloads against a real gateway, attribution checks) and
//!                its HTML report
//! cli/           one file per subcommand (lint, diff, replay + live, schema, explain, ci,
//!                demo); `main.rs` only parses, runs and maps to an exit code
//!
//! ../gateway/    `policy-gateway`, a separate crate built on this library (never the reverse)
//! ```
//!
//! Data flows one way: text -> `config::yaml` -> `lint` (schema + rules) -> typed `Config`.
//! Every later stage (diff, engine, replay, the gateway) starts from a `Config` that `lint`
//! accepted, so they all read scalars identically.

#![deny(missing_docs)]

pub mod config;
pub mod contract;
pub mod diff;
pub mod engine;
pub mod lint;
pub mod process;
pub mod replay;
pub mod schema;
