//! P102 `duplicate-key`: a mapping has the same key twice.

use super::rule::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports a key written twice in the same mapping, at the second occurrence, and shows the
    /// first.
    ///
    /// ## Why is this bad?
    /// YAML forbids it, yet many parsers (serde_yaml, PyYAML) silently keep the last value, so
    /// the gateway may run a different setting than the one a reviewer read.
    ///
    /// ## Example
    /// ```yaml
    /// rate-limit:
    ///   requests_per_minute: 600
    ///   requests_per_minute: 6000
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// rate-limit:
    ///   requests_per_minute: 600
    /// ```
    pub static RULE = { code: "P102", name: "duplicate-key", severity: Error, check: None };
}
