//! The one integration-test binary of `policy`.
//!
//! Modules:
//! - `util`          — run the `policy` binary, normalise temp paths in output.
//! - `lint_fixtures` — every file under `fixtures/lint/`: the codes and lines its first comment
//!   line expects, and insta snapshots of its human and JSON output.
//! - `lint_workflow` — suppressions, baselines, `--fix`/`--diff`, output through a pipe, the
//!   concise format, several files at once.
//! - `policy_test`   — `policy test`: failures, redact vs block, rate-limit sequences,
//!   coverage and `--fail-under`, JUnit against `tests/schemas/junit.xsd`, `--record-from`.
//! - `schema`        — the committed schema is current; every field has a reload class; every
//!   enforcement-bearing field (action, pattern, detector list, limit, policy block) has `x-enforce`.
//! - `output_schemas` — the JSON outputs of `lint`, `diff`, `replay` and `test` against their
//!   schemas under `schema/output/`; every schema there valid, documented and exercised.
//! - `cli`           — exit codes, formats, stdin, globs, `explain`.
//! - `properties`    — proptest: generated valid configs lint clean and round-trip; arbitrary
//!   bytes never panic the linter; every node of the YAML span tree spans exactly its text.
//! - `hostile`       — billion laughs and deep nesting are refused quickly.
//! - `large_files`   — past the parallel threshold (read on two threads, schema beside the
//!   rules) a file gets the document and the findings a small one gets.
//! - `diff`          — `fixtures/diff/` cases and their snapshots, `--fail-on`, `--base-ref`,
//!   and the properties of `classify` (empty on itself, symmetric, class = strongest).
//! - `docs`          — README and `docs/`: generated pages current, every code documented,
//!   links resolve, every console block prints what it shows, the example config lints clean.
//! - `replay`        — engine verdicts on the traffic fixtures, offline replay, engine proptests.
//! - `action`        — the GitHub Action's script in a simulated environment; `action.yml` and
//!   `.pre-commit-hooks.yaml` against their schemas.
//! - `pull_request`  — `policy ci --traffic` (transitions in the summary, `--fail-on weakening`
//!   and `verdict-change` with `--expect`) and `--comment` against a stand-in for GitHub's REST
//!   API checked against GitHub's published description: created, updated, cut, a 403 warns.
//! - `wheel`         — the CLI's wheel installs with pip and runs; the pre-commit hooks install
//!   it with no cargo on PATH and pip pointed at local folders; one version everywhere;
//!   `cargo binstall`'s metadata names the release archives.
//! - `lsp`           — `policy lsp` over stdio: diagnostics, didChange, hover, completion,
//!   code actions, shutdown; a large file's first diagnostics.
//! - `release`       — the Action's download-and-verify script against releases served from
//!   127.0.0.1: good, tampered, missing, `latest`.
//! - `fuzz_corpus`   — every committed `fuzz/corpus/` input through its fuzz target's checks.
//! - `kubernetes`    — `deploy/kubernetes/` renders (kubectl kustomize), validates
//!   (kubernetes-validate --strict) and ships a config that lints clean.

#[path = "suite/util.rs"]
mod util;

#[path = "suite/lint_fixtures.rs"]
mod lint_fixtures;

#[path = "suite/lint_workflow.rs"]
mod lint_workflow;

#[path = "suite/policy_test.rs"]
mod policy_test;

#[path = "suite/schema.rs"]
mod schema;

#[path = "suite/output_schemas.rs"]
mod output_schemas;

#[path = "suite/cli.rs"]
mod cli;

#[path = "suite/properties.rs"]
mod properties;

#[path = "suite/hostile.rs"]
mod hostile;

#[path = "suite/large_files.rs"]
mod large_files;

#[path = "suite/diff.rs"]
mod diff;

#[path = "suite/docs.rs"]
mod docs;

#[path = "suite/replay.rs"]
mod replay;

#[path = "suite/action.rs"]
mod action;

#[path = "suite/pull_request.rs"]
mod pull_request;

#[path = "suite/wheel.rs"]
mod wheel;

#[path = "suite/lsp.rs"]
mod lsp;

#[path = "suite/release.rs"]
mod release;

#[path = "suite/kubernetes.rs"]
mod kubernetes;

#[path = "suite/fuzz_corpus.rs"]
mod fuzz_corpus;
