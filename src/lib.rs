//! `policy`: lint, classify and replay the policy config of an API / LLM gateway, and drive
//! the reference gateway (`policy-gateway`, in `gateway/`) that runs it.
//!
//! # Architecture
//!
//! The workspace is layered; each crate depends only on those above it in this list, and the
//! compiler holds it to that.
//!
//! ```text
//! crates/policy-config    the one config model (serde + schemars), the YAML reader with
//!                         spans, JSON pointers, the generated schema and what it says of each
//!                         field (reload class, weakening), listen addresses
//! crates/policy-engine    compile(config) -> Engine; evaluate(request, now) -> Decision
//! crates/policy-contract  what policy and policy-gateway both speak: headers, verdicts, the
//!                         admin API's bodies, the serving line, recorded traffic, timestamps
//! crates/policy-lint      load or diagnose: schema errors located, one semantic rule per
//!                         file, suppressions, baselines, fixes, output formats
//! crates/policy-diff      classify(old, new) -> Plan: every change with its reload class and
//!                         weakening mark (shared with the gateway's reload), renderings
//! crates/policy-replay    traffic formats, offline replay, the live harness and its report,
//!                         a gateway child process, the admin-plane client
//! gateway/                policy-gateway: config, engine, contract, lint, diff; nothing of
//!                         the CLI
//! src/ (this crate)       the `policy` binary (main.rs, cli/: one file per subcommand) and
//!                         what only it runs: fleet/, policy_test/, lsp/
//! ```
//!
//! This library holds the parts of the CLI that are more than argument handling:
//!
//! ```text
//! fleet/        the inventory, a group's status and drift, and the rollout (waves, bake,
//!               gates on health, errors and verdict mix, rollback)
//! lsp/          `policy lsp`: a language server (diagnostics from lint, hover and completion
//!               from the schema, lint fixes as code actions), over stdio
//! policy_test/  test files (file), running and judging cases (run), rule coverage, reports
//!               (render: human, JSON, JUnit, GitHub), `--record-from`
//! ```
//!
//! Text becomes a typed `Config` only through `policy_lint::load_config` (YAML -> schema ->
//! serde -> rules), so every later stage — diff, engine, replay, the gateway — starts from a
//! config lint accepted and reads scalars identically. `src/main.rs` is the only place that
//! turns an outcome or an error into an exit code.

#![deny(missing_docs)]

pub mod fleet;
pub mod lsp;
pub mod policy_test;
