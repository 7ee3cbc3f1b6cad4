//! The contract between `policy` and `policy-gateway`: everything that crosses the process
//! boundary, defined once, so that both crates compile against the same names and shapes.
//!
//! ```text
//! headers.rs  response header names, the verdict header's values, the credential headers
//! metrics.rs  the names of the metrics a client reads from `GET /metrics` (rollout gates)
//! serving.rs  the "serving …" log line a gateway prints when it is ready (format and parser)
//! traffic.rs  one line of recorded traffic (JSON Lines), written by --record, read by replay
//! time.rs     RFC 3339 timestamps in UTC with milliseconds, both ways
//! errors.rs   an error and its causes on one line, as both sides describe a failed exchange
//! admin.rs    the admin API: paths, request/response bodies, history operations, /health
//!             (liveness) and /health/ready (readiness, with each target's reachability)
//! ```
//!
//! A field renamed here is renamed for the gateway (which serialises these types) and for the
//! harness and the CLI (which deserialise them) at once. What the engine decides is
//! [`Verdict`](policy_engine::Verdict), re-exported here because its names travel in headers
//! and metric labels. Behaviour (how a reload runs, how load is driven) is not this module's:
//! it only fixes what each side may rely on.

#![deny(missing_docs)]

pub mod admin;
pub mod errors;
pub mod headers;
pub mod metrics;
pub mod serving;
pub mod time;
pub mod traffic;

pub use errors::error_chain;
pub use headers::CREDENTIAL_HEADERS;
pub use policy_engine::Verdict;
pub use serving::ServingLine;
