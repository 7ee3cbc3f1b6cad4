//! `policy`: lint, classify and replay the policy config of an API / LLM gateway, and drive
//! the reference gateway (`policy-gateway`, in `../gateway`) that runs it.
//!
//! # Architecture
//!
//! ```text
//! config/          the one config model and its loading
//!   model/         serde + schemars types of SPEC §1, one file per section; doc comments are
//!                  the user docs; `x-reload`, `x-diff` and `x-enforce` annotations per field
//!   yaml/          the YAML reader: fast/ (the plain subset without the general scanner),
//!                  pipeline (a large input read on a second thread, either reader), builder
//!                  (events -> serde_json::Value + span tree, depth and alias guards), pairs (a
//!                  mapping while it is read), spans (lookup by pointer), scalars (YAML 1.2)
//!   pointer.rs     JSON pointer tokens: escape, unescape, join, split
//! schema.rs        schema generation, and the per-pointer facts read back from it: reload
//!                  class, allowed keys, how a change weakens enforcement, what a rule is
//! lint/            load or diagnose: schema errors mapped to nodes (schema_check), the typed
//!                  read's refusals located (typed), one semantic rule per file (rules/),
//!                  output formats (render/)
//! diff/            classify(old, new) -> Plan: every change with its reload class and its
//!                  weakening mark (shared with the gateway's reload pipeline), renderings
//! engine/          compile(config) -> Engine; evaluate(request, now) -> Decision, or Unreadable
//!                  for a body it refuses (400); one file per
//!                  stage (injection, pii, content, rate_limit), decision types, text,
//!                  normalize (the view patterns match) and its chars tables, redact
//! contract/        what crosses the process boundary between `policy` and `policy-gateway`:
//!                  header names, verdict values, credential headers, the serving line, the
//!                  admin API's bodies and history operations, health and readiness
//! admin_client.rs  the admin-plane client of a running gateway (status, history, config,
//!                  reload, revert, restart) and why a call got no usable answer
//! process.rs       a policy-gateway child process: start, wait for its serving line, signal,
//!                  stop on drop
//! replay/          traffic formats (SPEC §4 JSONL, HAR), the offline comparison, the live
//!                  harness (live/: plan, load, the reloader's switch, analysis, spawn mode)
//!                  and its HTML report
//! fleet/           SPEC §6: the inventory, a group's status and drift, and the rollout (waves,
//!                  bake, gates on health, errors and verdict mix, rollback)
//! lsp/             `policy lsp`: a language server (diagnostics from lint, hover and completion
//!                  from the schema, lint fixes as code actions), over stdio
//! policy_test/     SPEC §8: test files (file), running and judging cases (run), rule
//!                  coverage, reports (render: human, JSON, JUnit, GitHub), `--record-from`
//! ```
//!
//! The command line is not part of this library: `src/main.rs` declares `cli/` (one file per
//! subcommand, `common.rs` for what they share) and is the only place that turns an outcome or
//! an error into an exit code.
//!
//! # What depends on what
//!
//! `config` depends on nothing else here, and every other module reads it. Text becomes a
//! typed `Config` only through `lint::load_config` (YAML -> schema -> serde -> rules), so every
//! later stage — diff, engine, replay, the gateway — starts from a config lint accepted and
//! reads scalars identically. Beyond that, the edges are:
//!
//! - `schema` -> `config` (it generates from the types and answers questions about them);
//! - `lint` -> `schema`, and `lint` -> `engine::detectors` (P310 flags a plaintext secret with
//!   the same credential shapes the PII detector uses);
//! - `diff` -> `schema` (classes and weakening from annotations), and `diff` -> `lint::render`
//!   (its GitHub output reuses the workflow-command escaping);
//! - `contract` -> `engine` (`Verdict` is the engine's, re-exported as part of the contract);
//! - `process` -> `contract` (the serving line);
//! - `admin_client` -> `contract` (the admin API's paths and bodies), `config` (`GET /admin/config`);
//! - `replay` -> `engine`, `diff` (what the gateway will run), `contract`, `process`, `admin_client`;
//! - `fleet` -> `admin_client` (every gateway of a group), `diff` (hot or restart), `replay::offline`
//!   (the predicted verdict shift), `engine` (the expected hash), `contract`;
//! - `lsp` -> `lint` (diagnostics and fixes), `schema` (hover, completion);
//! - `policy_test` -> `engine` (the decisions), `lint` (the test file's YAML reading and its
//!   located diagnostics), `replay::traffic` (`--record-from`).
//!
//! No module imports one that imports it back; `../gateway` uses this library and is never
//! used by it.

#![deny(missing_docs)]

pub mod admin_client;
pub mod config;
pub mod contract;
pub mod diff;
pub mod engine;
pub mod fleet;
pub mod lint;
pub mod lsp;
pub mod policy_test;
pub mod process;
pub mod replay;
pub mod schema;
