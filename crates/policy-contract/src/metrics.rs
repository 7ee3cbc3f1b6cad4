//! The metric names a `policy` client reads from a gateway's `GET /metrics` (the rollout's
//! gates): defined once, for the gateway that writes them and the fleet code that parses them.

/// Data-plane responses by policy decision, labelled `verdict`.
pub const REQUESTS: &str = "gateway_requests_total";

/// Upstream failures answered with 502 or 504.
pub const UPSTREAM_ERRORS: &str = "gateway_upstream_errors_total";

/// Data-plane responses with a 5xx status, whatever the cause (an upstream failure, an audit
/// log that fails closed, a shutdown): what a rollout's error-rate gate counts.
pub const SERVER_ERRORS: &str = "gateway_server_errors_total";
