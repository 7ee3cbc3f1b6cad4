//! P202 `missing-key`: a required key is absent.

use super::rule::declare_rule;

declare_rule! {
    /// ## What it does
    /// Reports a mapping that lacks a required key, pointing at the mapping (its first line),
    /// and says what the key is for.
    ///
    /// ## Why is this bad?
    /// Required keys have no safe default: a pack without a version cannot be told apart in the
    /// reload history, a target without an id cannot be routed to.
    ///
    /// ## Example
    /// ```yaml
    /// pack:
    ///   name: local-dev
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// pack:
    ///   name: local-dev
    ///   version: 0.1.0
    /// ```
    pub static RULE = { code: "P202", name: "missing-key", severity: Error, check: None };
}
