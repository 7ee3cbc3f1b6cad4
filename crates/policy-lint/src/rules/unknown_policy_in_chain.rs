//! P301 `unknown-policy-in-chain`: the chain names a policy kind that does not exist.

use super::rule::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports an entry of `policies.chain` that is not a policy kind (`prompt-injection`,
    /// `pii-detector`, `content-filter`, `rate-limit`, `audit-logger`), with the closest kind as
    /// a suggestion. The allowed kinds come from the schema's enum, so this is found during
    /// schema validation.
    ///
    /// ## Why is this bad?
    /// A misspelt policy would not run: the requests it should stop would pass.
    ///
    /// ## Example
    /// ```yaml
    /// policies:
    ///   chain: [promt-injection, audit-logger]
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// policies:
    ///   chain: [prompt-injection, audit-logger]
    /// ```
    pub static RULE = { code: "P301", name: "unknown-policy-in-chain", severity: Error, check: None };
}
