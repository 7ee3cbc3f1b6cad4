//! Header names and values of the data plane (docs/reference/headers.md), and the headers that
//! carry credentials.
//!
//! The gateway writes these on every response; the live harness and the tests read them. The
//! credential list is the one place that says which request headers are secrets: the gateway
//! never forwards them upstream nor records them, and the harness never replays them.

use policy_engine::Verdict;

/// The policy verdict of the request (`allow`, `redact`, `block`, `rate_limited`), or
/// [`NO_VERDICT`] when the response was made before the policy chain ran.
pub const VERDICT: &str = "x-policy-verdict";
/// `pack.version` of the config that answered.
pub const CONFIG_VERSION: &str = "x-policy-config-version";
/// `sha256:` + hex of the canonical config that answered: how responses are attributed.
pub const CONFIG_HASH: &str = "x-policy-config-hash";
/// The request's id: the client's own when it sent one, else one the gateway made.
pub const REQUEST_ID: &str = "x-request-id";

/// What `pii-detector` redacted in the request, when its `redaction.include_metadata` is on
/// (the default): each PII type and how many of it, never a value, like `email=2, phone=1`.
/// Absent when nothing was redacted by it, or the setting is off.
pub const REDACTIONS: &str = "x-policy-redactions";

/// Which gateway process answered: stable for the life of a process, different after a
/// zero-drop restart, so a harness can attribute every response to one process.
pub const INSTANCE: &str = "x-policy-instance";

/// [`VERDICT`]'s value when no policy decision was made (400, 404, 408, 413 before the chain).
pub const NO_VERDICT: &str = "none";

/// The value of [`VERDICT`] for a response: the verdict's name, or [`NO_VERDICT`].
pub fn verdict_value(verdict: Option<Verdict>) -> &'static str {
    verdict.map_or(NO_VERDICT, Verdict::as_str)
}

/// Every value [`VERDICT`] can take, in a fixed order: each verdict of [`Verdict::ALL`], then
/// [`NO_VERDICT`]. Metric labels and report tables iterate this.
pub fn verdict_values() -> impl Iterator<Item = Option<Verdict>> {
    Verdict::ALL.into_iter().map(Some).chain(std::iter::once(None))
}

/// Request headers that carry credentials (lowercase). The client's credentials are for the
/// gateway: they are never forwarded upstream, written to `--record` files, or replayed.
pub const CREDENTIAL_HEADERS: [&str; 5] = ["authorization", "proxy-authorization", "x-api-key", "api-key", "cookie"];

/// Whether `name` (any case) is one of [`CREDENTIAL_HEADERS`].
pub fn is_credential(name: &str) -> bool {
    CREDENTIAL_HEADERS.iter().any(|c| c.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verdict_has_a_distinct_header_value() {
        let values: Vec<&str> = verdict_values().map(verdict_value).collect();
        assert_eq!(values, ["allow", "redact", "block", "rate_limited", "none"]);
    }

    #[test]
    fn credentials_match_in_any_case() {
        assert!(is_credential("Authorization") && is_credential("x-api-key"));
        assert!(!is_credential("content-type"));
    }
}
