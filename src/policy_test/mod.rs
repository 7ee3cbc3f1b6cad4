//! `policy test` (docs/guide/policy-test.md): table-driven cases run against a config with the
//! engine the gateway and replay use, judged against expected verdicts, with rule coverage.
//!
//! ```text
//! file.rs      the test file format, read into checked cases (P501 diagnostics otherwise)
//! run.rs       running a file's cases on one engine, with a deterministic clock; judging
//! coverage.rs  which chain policies, content rules, injection patterns and PII types were hit
//! render.rs    human, JSON, JUnit XML and GitHub annotation reports
//! record.rs    a starting test file from recorded traffic (`--record-from`)
//! ```
//!
//! Which files, which config, exit codes: the binary's (`cli/test.rs`).

pub mod coverage;
pub mod file;
pub mod record;
pub mod render;
pub mod run;
