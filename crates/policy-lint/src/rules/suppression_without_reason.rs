//! P401 `suppression-without-reason`: a `# policy: ignore[...]` comment that does not say why.

use super::rule::declare_rule;

declare_rule! {
    /// ## What it does
    /// Warns about a suppression comment (`# policy: ignore[CODE]` or
    /// `# policy: ignore-file[CODE]`) with nothing after the closing bracket. The suppression
    /// still applies; the warning asks for the reason.
    ///
    /// ## Why is this bad?
    /// A suppression turns a check off for good. Without a reason, the next reviewer cannot
    /// tell a considered exception from a silenced alarm, and nobody knows when it may go.
    ///
    /// ## Example
    /// ```yaml
    /// gateway:
    ///   admin:
    ///     listen: 0.0.0.0:41003 # policy: ignore[P309]
    /// ```
    ///
    /// ## Use instead
    /// ```yaml
    /// gateway:
    ///   admin:
    ///     listen: 0.0.0.0:41003 # policy: ignore[P309] the pod network is private (INFRA-112)
    /// ```
    pub static RULE = { code: "P401", name: "suppression-without-reason", severity: Warning, check: None };
}
