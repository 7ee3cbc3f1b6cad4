//! What the engine reports for one request: [`Verdict`], [`Decision`] and its [`Redaction`]s
//! and [`Hit`]s, plus the helpers every stage uses to fill them in (a block, a hit's excerpt).
//!
//! Owns the result types and their wire names (`allow`, `redact`, `block`, `rate_limited`).
//! It decides nothing: the stages set these fields, and the gateway and replay read them.

use policy_config::{Action, PolicyKind};
use serde::Serialize;
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// What the engine decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Forwarded unchanged.
    Allow,
    /// Forwarded with some text redacted.
    Redact,
    /// Refused with HTTP 403.
    Block,
    /// Refused with HTTP 429.
    RateLimited,
}

impl Verdict {
    /// Every verdict, in declaration order: the one list that CLI values, metric labels and
    /// report columns are built from, so a new verdict cannot be left out of them.
    pub const ALL: [Verdict; 4] = [Verdict::Allow, Verdict::Redact, Verdict::Block, Verdict::RateLimited];

    /// `allow`, `redact`, `block`, `rate_limited`: the name in headers, metrics, reports and
    /// the serialised form.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Redact => "redact",
            Verdict::Block => "block",
            Verdict::RateLimited => "rate_limited",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown verdict `{given}`: expected one of {}", Verdict::ALL.map(Verdict::as_str).join(", "))]
pub struct UnknownVerdict {
    /// The string as it was given.
    pub given: String,
}

impl FromStr for Verdict {
    type Err = UnknownVerdict;

    /// The inverse of [`Verdict::as_str`] (exact, lowercase names only).
    fn from_str(s: &str) -> Result<Verdict, UnknownVerdict> {
        Verdict::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVerdict { given: s.to_string() })
    }
}

/// One redaction made in the request's text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Redaction {
    /// The policy that redacted.
    pub policy: PolicyKind,
    /// PII type (`email`) or content rule id.
    pub kind: String,
    /// JSON pointer of the text in the body (`/messages/0/content`).
    pub field: String,
    /// Byte range in the text as it was when the policy ran.
    pub start: usize,
    /// End of that range (exclusive).
    pub end: usize,
    /// The marker now in the text in place of the match.
    pub replacement: String,
}

/// A match of a policy: what decided, redacted, or was only logged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// The policy that matched.
    pub policy: PolicyKind,
    /// Built-in detector id, PII type, content rule id, or `extra_patterns/N`.
    pub rule: String,
    /// The action the policy took for it.
    pub action: &'static str,
    /// JSON pointer of the text that matched.
    pub field: String,
    /// The text around the match; PII and rule matches are shown as their marker, not as the
    /// matched text, so reports do not spread what the policy protects.
    pub excerpt: String,
}

/// The engine's decision for one request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    /// What happens to the request: forwarded (as sent or redacted) or refused (403, 429).
    pub verdict: Verdict,
    /// The deciding policy: the one that blocked or rate-limited, or the first that redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyKind>,
    /// The deciding rule (detector id, PII type, content rule id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// For `block` and `rate_limited`: what the client is told (the policy's configured
    /// message, or a default naming the cause).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Redactions, in the order they were made.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub redactions: Vec<Redaction>,
    /// Every match of every policy that ran, including `log` findings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hits: Vec<Hit>,
    /// The rewritten body, when something was redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// For `rate_limited`: when a token is next available, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// Index of the target the request routes to.
    pub target: usize,
    /// Only the verdict, policy and rule are wanted (a shadow evaluation): hits carry no
    /// excerpt, whose masking scan is the costly part of a hit.
    #[serde(skip)]
    pub(crate) verdict_only: bool,
}

impl Decision {
    /// An `allow` with nothing found yet, routed to `target`: where evaluation starts.
    pub(super) fn new(target: usize) -> Decision {
        Decision {
            verdict: Verdict::Allow,
            policy: None,
            rule: None,
            message: None,
            redactions: Vec::new(),
            hits: Vec::new(),
            body: None,
            retry_after_ms: None,
            target,
            verdict_only: false,
        }
    }

    /// The excerpt of the deciding hit, if any.
    pub fn excerpt(&self) -> Option<&str> {
        let rule = self.rule.as_deref()?;
        self.hits
            .iter()
            .find(|h| Some(h.policy) == self.policy && h.rule == rule)
            .map(|h| h.excerpt.as_str())
    }

    /// Make this a `block` by `policy` and `rule`; returns `true`, the "stop the chain" of a
    /// stage's `run`.
    pub(super) fn block(&mut self, policy: PolicyKind, rule: String, message: String) -> bool {
        self.verdict = Verdict::Block;
        self.policy = Some(policy);
        self.rule = Some(rule);
        self.message = Some(message);
        true
    }
}

/// The name a hit records for a configured action.
pub(super) fn action_name(a: Action) -> &'static str {
    match a {
        Action::Block => "block",
        Action::Redact => "redact",
        Action::Log => "log",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verdict_round_trips_through_its_name() {
        for v in Verdict::ALL {
            assert_eq!(v.as_str().parse::<Verdict>(), Ok(v));
            assert_eq!(v.to_string(), v.as_str());
            assert_eq!(serde_json::to_value(v).unwrap(), v.as_str(), "serde uses the same name");
        }
        // Exhaustive: a new variant does not compile here until it has a place in `ALL`.
        let position = |v: Verdict| match v {
            Verdict::Allow => 0,
            Verdict::Redact => 1,
            Verdict::Block => 2,
            Verdict::RateLimited => 3,
        };
        for (i, v) in Verdict::ALL.into_iter().enumerate() {
            assert_eq!(position(v), i, "ALL is in declaration order");
        }
    }

    #[test]
    fn an_unknown_verdict_lists_the_valid_ones() {
        let e = "rate-limited".parse::<Verdict>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown verdict `rate-limited`: expected one of allow, redact, block, rate_limited"
        );
    }
}
