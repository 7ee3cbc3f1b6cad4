//! P204 `unknown-value`: a value outside the allowed set.

use super::rule::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports a value that is not one of the values a field allows (an action, a provider, a
    /// PII type, a marker format), with the closest allowed value as a suggestion.
    ///
    /// ## Why is this bad?
    /// The gateway cannot guess what `action: redcat` means; it would refuse the whole config.
    ///
    /// ## Example
    /// ```yaml
    /// pii-detector:
    ///   action: redcat
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// pii-detector:
    ///   action: redact
    /// ```
    pub static RULE = { code: "P204", name: "unknown-value", severity: Error, check: None };
}
